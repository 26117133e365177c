//! A worker freezing itself for a `pause` or `kill` fault. The process is
//! stopped for real (SIGSTOP, the whole process, every client and timer, as
//! a GC or VM pause would), but at a point the coordinator chose: at once,
//! or inside the next critical section, between reading and writing the
//! stock, which is what "the lock holder stalls past its TTL" means. Before
//! stopping, the worker ships its metrics, so a worker killed while frozen
//! loses nothing but its in-flight purchases, which the audit counts as in
//! doubt.

use std::cell::Cell;

/// Called at every critical section; fires once per arming.
pub struct FreezeHook {
    armed: Cell<bool>,
    freeze: Box<dyn Fn()>,
}

impl FreezeHook {
    /// `freeze` ships the metrics, tells the coordinator, and stops the process.
    pub fn new(freeze: Box<dyn Fn()>) -> FreezeHook {
        FreezeHook {
            armed: Cell::new(false),
            freeze,
        }
    }

    pub fn arm(&self) {
        self.armed.set(true);
    }

    pub fn freeze_now(&self) {
        self.armed.set(false);
        (self.freeze)();
    }

    /// The purchase is between reading and writing the stock.
    pub fn critical_section(&self) {
        if self.armed.replace(false) {
            (self.freeze)();
        }
    }
}

/// Stops the calling process until the coordinator sends SIGCONT (or kills it).
pub fn stop_self() {
    // SAFETY: raise only delivers a signal to this process.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}
