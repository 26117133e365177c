//! Acts out the scenario's `[[faults]]` during a run, and writes down what
//! happened in words for the reports. Time-based faults fire on a timer,
//! sales-based ones as batches arrive; a frozen worker is resumed or killed
//! here; a restart or a proxy fault goes through the target or the proxy.

use std::time::{Duration, Instant};

use super::fleet::Fleet;
use super::proxy::Proxy;
use super::target::Target;
use crate::keys::Keys;
use crate::protocol::ToWorker;
use crate::scenario::{Fault, FaultAction, FaultTarget, FaultTime};

/// One line of the fault log: when, which fault, what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultEvent {
    pub at: Duration,
    pub fault: &'static str,
    pub what: String,
}

/// What a worker that said `Frozen` is waiting for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Resume(Duration),
    Kill,
}

/// Something scheduled for later.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Later {
    Resume(usize),
    EndLatency,
}

pub struct Faults {
    started: Instant,
    pending: Vec<Fault>,
    /// Workers asked to freeze, and what happens to them when they do.
    fates: Vec<Option<Fate>>,
    later: Vec<(Instant, Later)>,
    pub killed: Vec<bool>,
    /// Purchases under way in killed workers: in doubt.
    pub killed_in_flight: u64,
    /// A restart left the stock missing or reset.
    pub reset: bool,
    pub log: Vec<FaultEvent>,
}

impl Faults {
    pub fn new(faults: &[Fault], workers: usize, started: Instant) -> Faults {
        Faults {
            started,
            pending: faults.to_vec(),
            fates: vec![None; workers],
            later: Vec::new(),
            killed: vec![false; workers],
            killed_in_flight: 0,
            reset: false,
            log: Vec::new(),
        }
    }

    fn note(&mut self, fault: &'static str, what: String) {
        self.note_at(self.started.elapsed(), fault, what);
    }

    fn note_at(&mut self, at: Duration, fault: &'static str, what: String) {
        self.log.push(FaultEvent { at, fault, what });
    }

    /// When the next timed fault or resumption is due.
    pub fn next_due(&self) -> Option<Instant> {
        let timed = self.pending.iter().filter_map(|f| match f.at {
            FaultTime::After(d) => Some(self.started + d),
            FaultTime::AfterSales(_) => None,
        });
        timed.chain(self.later.iter().map(|(at, _)| *at)).min()
    }

    /// Fires whatever is due at this time or sales count.
    pub async fn fire_due(&mut self, sold: u64, ctx: &mut FaultContext<'_>) -> anyhow::Result<()> {
        let now = Instant::now();
        let (due, rest): (Vec<Fault>, Vec<Fault>) =
            self.pending.drain(..).partition(|f| match f.at {
                FaultTime::After(d) => self.started + d <= now,
                FaultTime::AfterSales(n) => sold >= n,
            });
        self.pending = rest;
        for fault in due {
            self.start(fault.action, ctx).await?;
        }
        let (ready, wait): (Vec<_>, Vec<_>) = self.later.drain(..).partition(|(at, _)| *at <= now);
        self.later = wait;
        for (_, later) in ready {
            self.finish(later, ctx);
        }
        Ok(())
    }

    async fn start(
        &mut self,
        action: FaultAction,
        ctx: &mut FaultContext<'_>,
    ) -> anyhow::Result<()> {
        match action {
            FaultAction::Pause { target, duration } => {
                self.freeze(target, Fate::Resume(duration), ctx).await
            }
            FaultAction::Kill { target } => self.freeze(target, Fate::Kill, ctx).await,
            FaultAction::RedisRestart { downtime } => self.restart(downtime, ctx).await?,
            FaultAction::Latency {
                delay,
                jitter,
                duration,
            } => {
                if let Some(proxy) = ctx.proxy {
                    proxy.set_latency(delay, jitter);
                    self.later
                        .push((Instant::now() + duration, Later::EndLatency));
                    self.note("latency", format!("every packet between workers and Redis delayed {delay:?} ± {jitter:?} for {duration:?}"));
                }
            }
            FaultAction::Disconnect => {
                if let Some(proxy) = ctx.proxy {
                    proxy.disconnect_all();
                    self.note(
                        "disconnect",
                        "dropped every connection between workers and Redis at once".to_owned(),
                    );
                }
            }
        }
        Ok(())
    }

    /// Asks a worker to freeze itself; it answers `Frozen` when it did.
    async fn freeze(&mut self, target: FaultTarget, fate: Fate, ctx: &mut FaultContext<'_>) {
        let alive: Vec<usize> = (0..self.killed.len())
            .filter(|&i| !self.killed[i] && self.fates[i].is_none())
            .collect();
        let Some(index) = (match target {
            FaultTarget::Worker(w) => alive.iter().copied().find(|&i| i == w as usize),
            FaultTarget::Random | FaultTarget::LockHolder => fastrand::choice(&alive).copied(),
        }) else {
            return;
        };
        self.fates[index] = Some(fate);
        let at_critical_section = target == FaultTarget::LockHolder;
        let fault = if fate == Fate::Kill { "kill" } else { "pause" };
        let when = if at_critical_section {
            " in its next critical section (holding the lock, between reading and writing the stock)"
        } else {
            ""
        };
        let pid = ctx.fleet.pids[index];
        self.note(
            fault,
            format!("worker {index} (pid {pid}) told to freeze{when}"),
        );
        let message = ToWorker::Freeze {
            at_critical_section,
        };
        ctx.fleet.send(index, &message).await;
    }

    /// A worker froze itself: resume it later, or kill it now.
    pub fn frozen(&mut self, index: usize, in_flight: u32, fleet: &Fleet) {
        let pid = fleet.pids[index];
        match self.fates[index].take() {
            Some(Fate::Resume(duration)) => {
                self.later
                    .push((Instant::now() + duration, Later::Resume(index)));
                self.note("pause", format!("worker {index} (pid {pid}) stopped (SIGSTOP) with {in_flight} purchase(s) under way, for {duration:?}"));
            }
            Some(Fate::Kill) => {
                signal(pid, libc::SIGKILL);
                self.killed[index] = true;
                self.killed_in_flight += u64::from(in_flight);
                self.note("kill", format!("worker {index} (pid {pid}) killed (SIGKILL) with {in_flight} purchase(s) under way: those are in doubt"));
            }
            None => signal(pid, libc::SIGCONT),
        }
    }

    fn finish(&mut self, later: Later, ctx: &mut FaultContext<'_>) {
        match later {
            Later::Resume(index) => {
                signal(ctx.fleet.pids[index], libc::SIGCONT);
                self.note("pause", format!("worker {index} resumed (SIGCONT)"));
            }
            Later::EndLatency => {
                if let Some(proxy) = ctx.proxy {
                    proxy.set_latency(Duration::ZERO, Duration::ZERO);
                    self.note("latency", "latency window over".to_owned());
                }
            }
        }
    }

    async fn restart(
        &mut self,
        downtime: Duration,
        ctx: &mut FaultContext<'_>,
    ) -> anyhow::Result<()> {
        let at = self.started.elapsed();
        let before = ctx.target.stock(ctx.keys).await.ok().flatten();
        ctx.target.restart(downtime).await?;
        let after = ctx.target.stock(ctx.keys).await?;
        self.reset |= after.is_none();
        let show = |s: Option<i64>| s.map_or("gone".to_owned(), |s| s.to_string());
        self.note_at(at, "redis-restart", format!(
            "redis-server crashed (SIGKILL) and restarted after {downtime:?}: stock {} before, {} after{}",
            show(before),
            show(after),
            if after.is_none() { " (reset: no persistence)" } else { "" }
        ));
        Ok(())
    }

    /// Resumes every paused worker, so none stays stopped past the run.
    pub fn release_all(&mut self, fleet: &Fleet) {
        for (at, later) in std::mem::take(&mut self.later) {
            if let Later::Resume(index) = later {
                let _ = at;
                signal(fleet.pids[index], libc::SIGCONT);
            }
        }
    }
}

/// What a fault acts on.
pub struct FaultContext<'a> {
    pub fleet: &'a mut Fleet,
    pub target: &'a mut Target,
    pub keys: &'a Keys,
    pub proxy: Option<&'a Proxy>,
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}
