//! Acts out the scenario's `[[faults]]` during a run, and writes down what
//! happened in words for the reports. Time-based faults fire on a timer,
//! sales-based ones as batches arrive; a frozen worker is resumed or killed
//! here; a restart or a proxy fault goes through the target or the proxy.
//!
//! Every declared fault ends the run either applied (it took effect, with
//! the evidence in the log) or not applied, with the reason: a run whose
//! fault did not happen has not tested what it declared (INCONCLUSIVE).

mod instances;

use std::time::{Duration, Instant};

use super::failover;
use super::fleet::Fleet;
use super::proxy::Proxy;
use super::service::Services;
use super::target::Target;
use crate::keys::Segments;
use crate::protocol::{Sig, ToWorker};
use crate::record::FaultEvent;
use crate::scenario::{
    FailoverMode, Fault, FaultAction, FaultTarget, FaultTime, Scenario, Topology,
};
use crate::util::interrupt::Interrupt;
use crate::verdict::Inconclusive;

/// What a frozen worker is waiting for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Resume(Duration),
    Kill,
}

/// Where a declared fault stands.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Pending,
    /// Sent to the workers; waiting for one to freeze. Since `at`.
    Armed(Duration),
    Applied,
    NotApplied(String),
    /// Not applied because the user stopped the run first: logged, but no
    /// reason for INCONCLUSIVE (the run exits 130 as interrupted).
    Interrupted(String),
    /// A failover under way since then: its next step is in `later`.
    InProgress(Duration),
}

/// Something scheduled for later.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Later {
    Resume(usize),
    /// A paused `[service]` instance resumes.
    ResumeInstance(usize),
    /// A restarted instance starts again, for this fault.
    StartInstance(usize, usize),
    EndLatency,
    Failover(usize, failover::Step),
}

pub struct Faults {
    started: Instant,
    /// Names this run's lock-holder claims (unique per run).
    run_id: String,
    declared: Vec<Fault>,
    status: Vec<Status>,
    /// Per worker: the pause fault it is frozen for right now.
    paused: Vec<Option<usize>>,
    /// Per worker: when it was last resumed, so its silence before is
    /// not held against it.
    resumed_at: Vec<Option<Instant>>,
    later: Vec<(Instant, Later)>,
    pub killed: Vec<bool>,
    /// Purchases under way in killed workers: in doubt.
    pub killed_in_flight: u64,
    /// A restart left the stock missing or reset.
    pub reset: bool,
    pub log: Vec<FaultEvent>,
    /// The embedded sentinels' `down-after` and `failover-timeout`.
    sentinel_timing: Option<(Duration, Duration)>,
    /// When the last failover began, for the audit's explanation.
    pub failover_at: Option<Duration>,
    /// Per `[service]` instance: the pause fault it is stopped for, and
    /// the held reply to let go when it resumes.
    instance_paused: Vec<Option<(usize, Option<tokio::sync::oneshot::Sender<()>>)>>,
}

impl Faults {
    pub fn new(scenario: &Scenario, workers: usize, started: Instant, run_id: &str) -> Faults {
        let faults = &scenario.faults;
        let sentinel_timing = match &scenario.redis.topology {
            Topology::Sentinel(s) => Some((s.down_after, s.failover_timeout)),
            Topology::Standalone | Topology::Cluster(_) => None,
        };
        Faults {
            started,
            run_id: run_id.to_owned(),
            declared: faults.to_vec(),
            status: vec![Status::Pending; faults.len()],
            paused: vec![None; workers],
            resumed_at: vec![None; workers],
            later: Vec::new(),
            killed: vec![false; workers],
            killed_in_flight: 0,
            reset: false,
            log: Vec::new(),
            sentinel_timing,
            failover_at: None,
            instance_paused: (0..scenario.service.as_ref().map_or(0, |s| s.instances))
                .map(|_| None)
                .collect(),
        }
    }

    fn note(&mut self, fault: usize, applied: bool, what: String) {
        self.note_at(self.started.elapsed(), fault, applied, what);
    }

    fn note_at(&mut self, at: Duration, fault: usize, applied: bool, what: String) {
        self.log.push(FaultEvent {
            at,
            declared: fault + 1,
            fault: self.declared[fault].action.name(),
            applied,
            what,
            subject: None,
        });
    }

    fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.declared.len()).filter(|&i| self.status[i] == Status::Pending)
    }

    /// When the next timed fault or resumption is due.
    pub fn next_due(&self) -> Option<Instant> {
        let timed = self.pending().filter_map(|i| match self.declared[i].at {
            FaultTime::After(d) => Some(self.started + d),
            FaultTime::AfterSales(_) => None,
        });
        let timed: Vec<Instant> = timed.collect();
        timed
            .into_iter()
            .chain(self.later.iter().map(|(at, _)| *at))
            .min()
    }

    /// Fires whatever is due at this time or sales count.
    pub async fn fire_due(&mut self, sold: u64, ctx: &mut FaultContext<'_>) -> anyhow::Result<()> {
        let now = Instant::now();
        let due: Vec<usize> = self
            .pending()
            .filter(|&i| match self.declared[i].at {
                FaultTime::After(d) => self.started + d <= now,
                FaultTime::AfterSales(n) => sold >= n,
            })
            .collect();
        for fault in due {
            self.start(fault, ctx).await?;
        }
        let (ready, wait): (Vec<_>, Vec<_>) = self.later.drain(..).partition(|(at, _)| *at <= now);
        self.later = wait;
        for (_, later) in ready {
            self.finish(later, ctx).await;
        }
        Ok(())
    }

    async fn start(&mut self, fault: usize, ctx: &mut FaultContext<'_>) -> anyhow::Result<()> {
        match self.declared[fault].action {
            FaultAction::Pause { .. } | FaultAction::Kill { .. } | FaultAction::Restart { .. }
                if ctx.services.is_some() =>
            {
                self.on_instance(fault, ctx).await;
            }
            FaultAction::Restart { .. } => {
                self.not_applied(fault, "no service instance was started");
            }
            FaultAction::Pause { target, .. } | FaultAction::Kill { target } => {
                self.freeze(fault, target, ctx).await;
            }
            FaultAction::RedisRestart { downtime } => self.restart(fault, downtime, ctx).await?,
            FaultAction::Latency {
                delay,
                jitter,
                duration,
            } => self.latency(fault, (delay, jitter, duration), &ctx.proxies()),
            FaultAction::Disconnect => self.disconnect(fault, &ctx.proxies()),
            FaultAction::Failover { mode, segment } => {
                self.failover(fault, mode, segment as usize, ctx).await
            }
        }
        Ok(())
    }

    async fn failover(
        &mut self,
        fault: usize,
        mode: FailoverMode,
        segment: usize,
        ctx: &mut FaultContext<'_>,
    ) {
        if let Some(cluster) = &ctx.target.cluster_set {
            let at = self.started.elapsed();
            self.failover_at = Some(at);
            self.status[fault] = Status::InProgress(at);
            let next = failover::cluster_start(cluster, ctx.segments, segment, mode).await;
            return self.failover_went(fault, next);
        }
        let (Some(set), Some((down_after, timeout))) =
            (&ctx.target.sentinel_set, self.sentinel_timing)
        else {
            return self.not_applied(fault, "no embedded Sentinel set to fail over");
        };
        let at = self.started.elapsed();
        self.failover_at = Some(at);
        self.status[fault] = Status::InProgress(at);
        let next = match mode {
            FailoverMode::Crash { lag } => failover::cut(set, ctx.segments, lag).await,
            FailoverMode::Graceful => failover::switchover(set, timeout).await,
            // Sentinel needs down-after to see the primary gone, then up
            // to failover-timeout to promote a replica.
            FailoverMode::Partition => failover::partition(set, down_after + timeout).await,
        };
        self.failover_went(fault, next);
    }

    async fn failover_step(
        &mut self,
        fault: usize,
        step: failover::Step,
        ctx: &mut FaultContext<'_>,
    ) {
        if let Some(cluster) = ctx.target.cluster_set.as_mut() {
            let next = match step {
                failover::Step::ClusterKill { .. } => {
                    failover::cluster_kill(cluster, ctx.segments, step).await
                }
                _ => failover::cluster_promotion(cluster, step).await,
            };
            return self.failover_went(fault, next);
        }
        let (Some(set), Some((down_after, timeout))) =
            (ctx.target.sentinel_set.as_mut(), self.sentinel_timing)
        else {
            return;
        };
        let next = match step {
            failover::Step::Kill {
                primary,
                stock_at_cut,
            } => {
                let deadline = down_after + timeout;
                failover::kill(set, ctx.segments, (primary, stock_at_cut), deadline).await
            }
            failover::Step::Promotion { .. } => failover::promotion(set, step).await,
            failover::Step::Demotion { .. } => failover::demotion(set, step).await,
            failover::Step::ClusterKill { .. } | failover::Step::ClusterPromotion { .. } => {
                return;
            }
        };
        self.failover_went(fault, next);
    }

    fn failover_went(&mut self, fault: usize, next: failover::Next) {
        match next {
            failover::Next::Went(what, then) => {
                if !what.is_empty() {
                    self.note(fault, true, what);
                }
                if let Some((at, step)) = then {
                    self.later.push((at, Later::Failover(fault, step)));
                }
            }
            failover::Next::Done(what) => {
                self.status[fault] = Status::Applied;
                self.note(fault, true, what);
            }
            failover::Next::Failed(why) => self.not_applied(fault, &why),
        }
    }

    fn latency(
        &mut self,
        fault: usize,
        (delay, jitter, duration): (Duration, Duration, Duration),
        proxies: &[&Proxy],
    ) {
        if proxies.is_empty() {
            return self.not_applied(fault, "no fault proxy between the load and Redis");
        }
        let open: usize = proxies.iter().map(|p| p.set_latency(delay, jitter)).sum();
        if open == 0 {
            return self.not_applied(fault, "no connection was open through the proxy");
        }
        self.later
            .push((Instant::now() + duration, Later::EndLatency));
        self.status[fault] = Status::Applied;
        self.note(fault, true, format!("every packet of {open} connection(s) between {} and Redis delayed {delay:?} ± {jitter:?} for {duration:?}", self.who_talks()));
    }

    /// Who reaches Redis through the proxies: workers, or instances.
    fn who_talks(&self) -> &'static str {
        match self.instance_paused.is_empty() {
            true => "workers",
            false => "service instances",
        }
    }

    fn disconnect(&mut self, fault: usize, proxies: &[&Proxy]) {
        if proxies.is_empty() {
            return self.not_applied(fault, "no fault proxy between the load and Redis");
        }
        let dropped: usize = proxies.iter().map(|p| p.disconnect_all()).sum();
        if dropped == 0 {
            return self.not_applied(fault, "no connection was open to drop");
        }
        self.status[fault] = Status::Applied;
        self.note(
            fault,
            true,
            format!(
                "dropped all {dropped} connection(s) between {} and Redis at once",
                self.who_talks()
            ),
        );
    }

    fn not_applied(&mut self, fault: usize, why: &str) {
        self.status[fault] = Status::NotApplied(why.to_owned());
        self.note(fault, false, format!("did not take effect: {why}"));
    }

    /// Asks workers to freeze: a chosen one at once, or, for the lock
    /// holder, every worker, the first critical section after now winning.
    async fn freeze(&mut self, fault: usize, target: FaultTarget, ctx: &mut FaultContext<'_>) {
        let alive: Vec<usize> = (0..self.killed.len())
            .filter(|&i| !self.killed[i] && self.paused[i].is_none())
            .collect();
        let chosen = match target {
            FaultTarget::LockHolder => {
                return self.arm_lock_holder(fault, &alive, ctx.fleet).await;
            }
            FaultTarget::Worker(w) => alive.iter().copied().find(|&i| i == w as usize),
            // Validation allows `busy` only with a [service].
            FaultTarget::Random | FaultTarget::Busy => fastrand::choice(&alive).copied(),
        };
        let Some(index) = chosen else {
            return self.not_applied(fault, "the worker it targets is not running");
        };
        self.status[fault] = Status::Armed(self.started.elapsed());
        let who = ctx.fleet.who(index);
        self.note(
            fault,
            false,
            format!("worker {index} ({who}) told to freeze"),
        );
        let message = ToWorker::Freeze {
            fault: fault as u32,
            claim: None,
        };
        ctx.fleet.send(index, &message).await;
    }

    async fn arm_lock_holder(&mut self, fault: usize, alive: &[usize], fleet: &mut Fleet) {
        if alive.is_empty() {
            return self.not_applied(fault, "no worker was running");
        }
        self.status[fault] = Status::Armed(self.started.elapsed());
        self.note(fault, false, format!(
            "armed in {} worker(s): the first client to enter its critical section (holding the lock, between reading and writing the stock) freezes",
            alive.len()
        ));
        let message = ToWorker::Freeze {
            fault: fault as u32,
            claim: Some(claim_name(&self.run_id, fault)),
        };
        for &index in alive {
            fleet.send(index, &message).await;
        }
    }

    /// A worker froze itself for `fault`: resume it later, or kill it now.
    /// Only the first worker to freeze for a fault is its victim: a later
    /// one (the claim freed by a killed winner, a message that crossed a
    /// disarm) is let go at once, and the others are told to stop trying.
    pub async fn frozen(&mut self, index: usize, fault: u32, in_flight: u32, fleet: &mut Fleet) {
        let who = fleet.who(index);
        let fate = match self.declared.get(fault as usize).map(|f| f.action) {
            Some(FaultAction::Pause { duration, .. }) => Fate::Resume(duration),
            Some(FaultAction::Kill { .. }) => Fate::Kill,
            _ => return fleet.signal(index, Sig::Cont),
        };
        if self.killed[index] || !matches!(self.status[fault as usize], Status::Armed(_)) {
            return fleet.signal(index, Sig::Cont);
        }
        fleet.broadcast(&ToWorker::Disarm { fault }).await;
        let fault = fault as usize;
        self.status[fault] = Status::Applied;
        match fate {
            Fate::Resume(duration) => {
                self.paused[index] = Some(fault);
                self.later
                    .push((Instant::now() + duration, Later::Resume(index)));
                self.note(fault, true, format!("worker {index} ({who}) stopped (SIGSTOP) with {in_flight} purchase(s) under way, for {duration:?}"));
            }
            Fate::Kill => {
                fleet.signal(index, Sig::Kill);
                self.killed[index] = true;
                self.killed_in_flight += u64::from(in_flight);
                self.note(fault, true, format!("worker {index} ({who}) killed (SIGKILL) with {in_flight} purchase(s) under way: those are in doubt"));
            }
        }
    }

    async fn finish(&mut self, later: Later, ctx: &mut FaultContext<'_>) {
        match later {
            Later::Failover(fault, step) => self.failover_step(fault, step, ctx).await,
            Later::Resume(index) => self.resume(index, ctx.fleet),
            Later::ResumeInstance(index) => {
                if let Some(services) = ctx.services.as_deref_mut() {
                    self.resume_instance(index, services);
                }
            }
            Later::StartInstance(index, fault) => {
                if let Some(services) = ctx.services.as_deref_mut() {
                    self.start_instance(index, fault, services, ctx.interrupt)
                        .await;
                }
            }
            Later::EndLatency => {
                let proxies = ctx.proxies();
                if !proxies.is_empty() {
                    for proxy in proxies {
                        proxy.set_latency(Duration::ZERO, Duration::ZERO);
                    }
                    let fault = self.last_of("latency");
                    self.note(fault, true, "latency window over".to_owned());
                }
            }
        }
    }

    fn resume(&mut self, index: usize, fleet: &Fleet) {
        fleet.signal(index, Sig::Cont);
        self.resumed_at[index] = Some(Instant::now());
        if let Some(fault) = self.paused[index].take() {
            self.note(fault, true, format!("worker {index} resumed (SIGCONT)"));
        }
    }

    /// Whether a restarted instance is still to be started again.
    pub fn restarting(&self) -> bool {
        self.later
            .iter()
            .any(|(_, later)| matches!(later, Later::StartInstance(..)))
    }

    /// Interrupted: every paused worker is resumed now, so it can stop.
    pub fn resume_all_now(&mut self, fleet: &Fleet) {
        let resumes: Vec<usize> = std::mem::take(&mut self.later)
            .into_iter()
            .filter_map(|(at, later)| match later {
                Later::Resume(index) => Some(index),
                other => {
                    self.later.push((at, other));
                    None
                }
            })
            .collect();
        for index in resumes {
            self.resume(index, fleet);
        }
    }

    /// Whether a worker's silence is expected: it is paused by a fault, or
    /// was resumed less than `limit` ago.
    pub fn excused(&self, index: usize, limit: Duration) -> bool {
        self.paused[index].is_some()
            || self.resumed_at[index].is_some_and(|at| at.elapsed() < limit)
    }

    /// Kills a worker the harness gave up on (silent too long, or a second
    /// Ctrl-C); its `clients` purchases may have been under way: in doubt.
    /// `(clients, unreported)`: purchases that may have been under way,
    /// and that may have finished since its last batch (as many as its
    /// largest batch held): all in doubt.
    pub fn give_up_on(
        &mut self,
        index: usize,
        (clients, unreported): (u32, u64),
        why: &str,
        fleet: &Fleet,
    ) {
        fleet.signal(index, Sig::Kill);
        self.killed[index] = true;
        self.killed_in_flight += u64::from(clients) + unreported;
        let who = fleet.who(index);
        self.harness(format!("worker {index} ({who}) killed (SIGKILL): {why}; up to {clients} purchase(s) under way, and up to {unreported} finished but not yet reported, are in doubt"));
    }

    /// A worker lost with its host: as killed, its purchases that may have
    /// been under way or finished unreported are in doubt.
    pub fn lost(&mut self, index: usize, (clients, unreported): (u32, u64)) {
        if !self.killed[index] {
            self.killed[index] = true;
            self.killed_in_flight += u64::from(clients) + unreported;
        }
        self.paused[index] = None;
    }

    /// Logs what the harness itself did or saw (not a declared fault).
    pub fn harness(&mut self, what: String) {
        self.log.push(FaultEvent {
            at: self.started.elapsed(),
            declared: 0,
            fault: "harness",
            applied: true,
            what,
            subject: None,
        });
    }

    /// The latest applied fault of this kind, for its follow-up lines.
    fn last_of(&self, name: &str) -> usize {
        (0..self.declared.len())
            .rev()
            .find(|&i| self.declared[i].action.name() == name && self.status[i] == Status::Applied)
            .unwrap_or(0)
    }

    async fn restart(
        &mut self,
        fault: usize,
        downtime: Duration,
        ctx: &mut FaultContext<'_>,
    ) -> anyhow::Result<()> {
        let at = self.started.elapsed();
        let before = ctx.target.stock(ctx.segments).await.ok().flatten();
        ctx.target.crash()?;
        let cut = tokio::select! {
            () = tokio::time::sleep(downtime) => "",
            () = ctx.interrupt.wait() => " (downtime cut short: interrupted)",
        };
        ctx.target.revive().await?;
        let after = ctx.target.stock(ctx.segments).await?;
        self.reset |= after.is_none();
        self.status[fault] = Status::Applied;
        let show = |s: Option<i64>| s.map_or("gone".to_owned(), |s| s.to_string());
        self.note_at(at, fault, true, format!(
            "redis-server crashed (SIGKILL) and restarted after {downtime:?}{cut}: stock {} before, {} after{}",
            show(before),
            show(after),
            if after.is_none() { " (reset: no persistence)" } else { "" }
        ));
        Ok(())
    }

    /// At the end: resumes every paused worker, so none stays stopped past
    /// the run, and marks every fault that never took effect, with why.
    pub fn finish_run(
        &mut self,
        fleet: &Fleet,
        services: Option<&mut Services>,
        sold: u64,
        interrupted: bool,
    ) {
        self.resume_instances(services);
        for (_, later) in std::mem::take(&mut self.later) {
            match later {
                Later::Resume(index) => fleet.signal(index, Sig::Cont),
                // The crash happened, the coming back did not: the restart
                // was not tested whole.
                Later::StartInstance(index, fault) => {
                    let why = format!("the load ended before instance {index} was started again");
                    self.not_applied(fault, &why);
                }
                _ => {}
            }
        }
        let ended = self.started.elapsed();
        for fault in 0..self.declared.len() {
            let why = match &self.status[fault] {
                Status::Pending => self.never_due(fault, ended, sold),
                Status::Armed(at) => self.never_frozen(fault, *at),
                Status::InProgress(at) => format!(
                    "the run ended before the failover begun at {:.3} s completed",
                    at.as_secs_f64()
                ),
                Status::Applied | Status::NotApplied(_) | Status::Interrupted(_) => continue,
            };
            if interrupted {
                let why = format!("{why} (the run was interrupted)");
                self.note(fault, false, format!("did not take effect: {why}"));
                self.status[fault] = Status::Interrupted(why);
            } else {
                self.not_applied(fault, &why);
            }
        }
    }

    fn never_due(&self, fault: usize, ended: Duration, sold: u64) -> String {
        match self.declared[fault].at {
            FaultTime::After(d) => format!(
                "the run ended at {:.3} s, before its time {:.3} s",
                ended.as_secs_f64(),
                d.as_secs_f64()
            ),
            FaultTime::AfterSales(n) => {
                format!("the run ended after {sold} units sold, before the {n} it waits for")
            }
        }
    }

    fn never_frozen(&self, fault: usize, at: Duration) -> String {
        match self.declared[fault].action {
            FaultAction::Pause {
                target: FaultTarget::LockHolder,
                ..
            }
            | FaultAction::Kill {
                target: FaultTarget::LockHolder,
            } if !self.instance_paused.is_empty() => format!(
                "no instance touched the stock key while holding the lock after it was armed at {:.3} s",
                at.as_secs_f64()
            ),
            FaultAction::Pause {
                target: FaultTarget::LockHolder,
                ..
            }
            | FaultAction::Kill {
                target: FaultTarget::LockHolder,
            } => format!(
                "no client entered a critical section after it was armed at {:.3} s",
                at.as_secs_f64()
            ),
            _ => format!(
                "the worker told to freeze at {:.3} s never did",
                at.as_secs_f64()
            ),
        }
    }

    /// Every declared fault that did not take effect, for the verdict.
    pub fn not_taken(&self) -> Vec<Inconclusive> {
        (0..self.declared.len())
            .filter_map(|i| match &self.status[i] {
                Status::NotApplied(why) => Some(Inconclusive::FaultNotApplied {
                    fault: format!("#{} {}", i + 1, self.declared[i].action.name()),
                    why: why.clone(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// What a fault acts on.
pub struct FaultContext<'a> {
    pub fleet: &'a mut Fleet,
    pub target: &'a mut Target,
    pub segments: &'a Segments,
    pub proxy: Option<&'a Proxy>,
    /// Ends a restart's downtime early.
    pub interrupt: &'a mut Interrupt,
    /// `[service]`: its instances.
    pub services: Option<&'a mut Services>,
    /// `[service]`: purchases under way per instance, as last reported.
    pub instance_load: Vec<u32>,
}

impl FaultContext<'_> {
    /// Every fault proxy: the workers', or each instance's.
    fn proxies(&self) -> Vec<&Proxy> {
        let instances = self.services.iter().flat_map(|s| s.proxies());
        self.proxy.into_iter().chain(instances).collect()
    }
}

/// The abstract socket a `lock-holder` fault's winner binds: short (the
/// kernel allows 107 bytes, a run id may be longer) and unique to the run.
fn claim_name(run_id: &str, fault: usize) -> String {
    let hash = run_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "seckill-bench-{hash:016x}-{}-fault-{fault}",
        std::process::id()
    )
}
