//! A worker's stop signal: set by the coordinator's `Stop` (or a closed
//! pipe), or reached by the stop rule's deadline. Checked between Redis
//! calls, and awaitable by whoever sleeps (the arrival schedule, idle
//! clients), so nothing waits past the stop.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;

/// Cheap to clone; single-threaded (workers run a current-thread runtime).
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    flag: Rc<Cell<bool>>,
    notify: Rc<Notify>,
    deadline: Option<Instant>,
}

impl StopSignal {
    pub fn new(deadline: Option<Instant>) -> StopSignal {
        StopSignal {
            deadline,
            ..StopSignal::default()
        }
    }

    pub fn trigger(&self) {
        self.flag.set(true);
        self.notify.notify_waiters();
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn is_stopped(&self) -> bool {
        self.flag.get() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Resolves when stopped, by `trigger` or the deadline.
    pub async fn stopped(&self) {
        let notified = self.notify.notified();
        if self.is_stopped() {
            return;
        }
        match self.deadline {
            Some(d) => tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(d.into()) => {}
            },
            None => notified.await,
        }
    }
}
