//! Faults on `[service]` instances: `pause` (SIGSTOP the instance's
//! process group, SIGCONT later), `kill` (SIGKILL, for good), `restart`
//! (stop it, start it again on its port after `duration`), aimed at an
//! index, a random instance, the busiest one, or the one caught holding
//! the lock by the proxy's watch (see `coordinator::tap`).

use std::time::Instant;

use std::time::Duration;

use super::{FaultContext, Faults, Later, Status};

/// After a paused instance resumed at the end: no Redis traffic from the
/// instances for this long means they are done, waited for at most
/// `SETTLE_MAX`.
const SETTLE_QUIET: Duration = Duration::from_millis(200);
const SETTLE_MAX: Duration = Duration::from_secs(3);
use crate::coordinator::service::Services;
use crate::coordinator::tap::Caught;
use crate::record::Subject;
use crate::scenario::{FaultAction, FaultTarget, RestartMode};
use crate::util::interrupt::Interrupt;

impl Faults {
    /// Starts a pause, kill or restart on an instance.
    pub(super) async fn on_instance(&mut self, fault: usize, ctx: &mut FaultContext<'_>) {
        let Some(services) = ctx.services.as_deref_mut() else {
            return self.not_applied(fault, "no service instance was started");
        };
        let target = match self.declared[fault].action {
            FaultAction::Pause { target, .. }
            | FaultAction::Kill { target }
            | FaultAction::Restart { target, .. } => target,
            _ => return,
        };
        let running = services.running();
        let load = &ctx.instance_load;
        let in_flight = |i: usize| load.get(i).copied().unwrap_or(0);
        let chosen = match target {
            FaultTarget::LockHolder => {
                let Some(taps) = services.taps.as_ref() else {
                    return self.not_applied(fault, "no watch on the instances' Redis connections");
                };
                if running.is_empty() {
                    return self.not_applied(fault, "no instance was running");
                }
                taps.arm(fault);
                self.status[fault] = Status::Armed(self.started.elapsed());
                return self.note(fault, false, format!(
                    "armed on {} instance(s): the first to read the stock key while it holds the lock (or, if no instance ever takes the lock, the first to touch the stock key) has that reply held back and is frozen",
                    running.len()
                ));
            }
            FaultTarget::Worker(i) => running.iter().copied().find(|&r| r == i as usize),
            FaultTarget::Random => fastrand::choice(&running).copied(),
            FaultTarget::Busy => running.iter().copied().max_by_key(|&i| (in_flight(i), i)),
        };
        let Some(index) = chosen else {
            return self.not_applied(fault, "the instance it targets is not running");
        };
        let subject = Subject {
            instance: index,
            pid: services.pid(index).unwrap_or(0),
            in_flight: in_flight(index),
        };
        self.act(fault, subject, services, None).await;
    }

    /// The watch caught an instance in its critical section for `fault`.
    pub async fn caught(&mut self, caught: Caught, services: &mut Services, load: &[u32]) {
        let fault = caught.fault;
        if !matches!(self.status.get(fault), Some(Status::Armed(_))) {
            return;
        }
        let Some(taps) = services.taps.as_ref() else {
            return;
        };
        if !services.running().contains(&caught.instance) {
            // Already stopped (another fault's pause, a kill): let its
            // reply go and wait for another instance's critical section.
            let _ = caught.release.send(());
            return taps.arm(fault);
        }
        taps.disarm();
        let subject = Subject {
            instance: caught.instance,
            pid: services.pid(caught.instance).unwrap_or(0),
            in_flight: load.get(caught.instance).copied().unwrap_or(0),
        };
        let why = match caught.holding {
            true => format!(
                "caught in its critical section: holding the lock, its {} on the stock key answered and the reply held back",
                caught.command
            ),
            false => format!(
                "caught at its {} on the stock key (no instance ever took the lock), the reply held back",
                caught.command
            ),
        };
        self.note_for(fault, true, subject, why);
        self.act(fault, subject, services, Some(caught.release))
            .await;
    }

    /// Pauses, kills or restarts the instance; `release` lets its held
    /// reply go (when the pause ends, or at once otherwise).
    async fn act(
        &mut self,
        fault: usize,
        subject: Subject,
        services: &mut Services,
        release: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let index = subject.instance;
        let (pid, n) = (subject.pid, subject.in_flight);
        self.status[fault] = Status::Applied;
        match self.declared[fault].action {
            FaultAction::Pause { duration, .. } => {
                services.pause(index);
                self.instance_paused[index] = Some((fault, release));
                self.later
                    .push((Instant::now() + duration, Later::ResumeInstance(index)));
                self.note_for(fault, true, subject, format!(
                    "instance {index} (pid {pid}) stopped (SIGSTOP, its whole process group) with {n} purchase(s) under way as last reported, for {duration:?}"
                ));
            }
            FaultAction::Kill { .. } => {
                services.kill(index, true);
                drop(release);
                self.note_for(fault, true, subject, format!(
                    "instance {index} (pid {pid}) killed (SIGKILL, its whole process group) with {n} purchase(s) under way as last reported: their requests get no reply, so they are in doubt"
                ));
            }
            FaultAction::Restart { mode, duration, .. } => {
                let how = services.stop_one(index, mode).await;
                drop(release);
                self.later.push((
                    Instant::now() + duration,
                    Later::StartInstance(index, fault),
                ));
                let lost = match mode {
                    RestartMode::Crash => "their requests get no reply, so they are in doubt",
                    RestartMode::Graceful => "it may finish them before it exits",
                };
                self.note_for(fault, true, subject, format!(
                    "instance {index} (pid {pid}) stopped ({}: {how}) with {n} purchase(s) under way as last reported ({lost}); starts again in {duration:?}",
                    mode.name()
                ));
            }
            _ => {}
        }
    }

    /// A pause's end: the held reply goes, then the group resumes.
    pub(super) fn resume_instance(&mut self, index: usize, services: &mut Services) {
        let Some((fault, release)) = self.instance_paused[index].take() else {
            return;
        };
        if let Some(release) = release {
            let _ = release.send(());
        }
        services.resume(index);
        self.note(fault, true, format!("instance {index} resumed (SIGCONT)"));
    }

    /// A restart's second half: the instance starts again on its port
    /// (unless the user interrupts the run first).
    pub(super) async fn start_instance(
        &mut self,
        index: usize,
        fault: usize,
        services: &mut Services,
        interrupt: &mut Interrupt,
    ) {
        let began = Instant::now();
        let started = tokio::select! {
            started = services.start_again(index) => started,
            () = interrupt.wait() => {
                let why = format!("instance {index} was not started again: the run was interrupted");
                self.status[fault] = Status::Interrupted(why.clone());
                return self.note(fault, false, why);
            }
        };
        match started {
            Ok(()) => {
                let pid = services.pid(index).unwrap_or(0);
                self.note(
                    fault,
                    true,
                    format!(
                        "instance {index} started again (pid {pid}), ready after {:.0?}",
                        began.elapsed()
                    ),
                );
            }
            Err(e) => {
                let why = format!("instance {index} did not start again: {e:#}");
                eprintln!("{why}");
                self.status[fault] = Status::NotApplied(why.clone());
                self.note(fault, false, why);
            }
        }
    }

    /// The load ended (sold out, or its duration): a paused instance
    /// serves out its pause, unless the run was `cut` short, as the
    /// purchases it holds would have; then the instances get a moment to
    /// finish what they are doing (no Redis traffic for a while) before
    /// they are stopped and the stock is audited.
    pub async fn settle_instances(
        &mut self,
        services: &mut Services,
        cut: bool,
        interrupt: &mut Interrupt,
    ) {
        // Nothing more is caught: what was caught too late goes on.
        if let Some(taps) = services.taps.as_mut() {
            taps.disarm();
            while let Ok(late) = taps.events.try_recv() {
                let _ = late.release.send(());
            }
        }
        let mut pending: Vec<(Instant, usize)> = self
            .later
            .iter()
            .filter_map(|(at, later)| match later {
                Later::ResumeInstance(index) => Some((*at, *index)),
                _ => None,
            })
            .collect();
        pending.sort();
        let resumed = !pending.is_empty();
        let mut cut = cut;
        for (at, index) in pending {
            if !cut {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = interrupt.wait() => cut = true,
                }
            }
            self.resume_instance(index, services);
        }
        self.later
            .retain(|(_, later)| !matches!(later, Later::ResumeInstance(_)));
        if resumed {
            services.quiet(SETTLE_QUIET, SETTLE_MAX).await;
        }
    }

    /// Every paused instance resumes now (the run is ending or
    /// interrupted).
    pub fn resume_instances(&mut self, services: Option<&mut Services>) {
        let Some(services) = services else {
            for paused in &mut self.instance_paused {
                if let Some((_, Some(release))) = paused.take() {
                    let _ = release.send(());
                }
            }
            return;
        };
        for index in 0..self.instance_paused.len() {
            self.resume_instance(index, services);
        }
        self.later
            .retain(|(_, later)| !matches!(later, Later::ResumeInstance(_)));
    }

    fn note_for(&mut self, fault: usize, applied: bool, subject: Subject, what: String) {
        self.note(fault, applied, what);
        if let Some(event) = self.log.last_mut() {
            event.subject = Some(subject);
        }
    }
}
