//! A worker's stop signal: set by the coordinator's `Stop` (or a closed
//! pipe), or reached by the stop rule's deadline. Checked between Redis
//! calls, so a client waiting for a lock stops within one retry interval.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

/// Cheap to clone; single-threaded (workers run a current-thread runtime).
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    flag: Rc<Cell<bool>>,
    deadline: Option<Instant>,
}

impl StopSignal {
    pub fn new(deadline: Option<Instant>) -> StopSignal {
        StopSignal {
            flag: Rc::default(),
            deadline,
        }
    }

    pub fn trigger(&self) {
        self.flag.set(true);
    }

    pub fn is_stopped(&self) -> bool {
        self.flag.get() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}
