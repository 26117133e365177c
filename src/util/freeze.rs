//! A worker freezing itself for a `pause` or `kill` fault. The process is
//! stopped for real (SIGSTOP, the whole process, every client and timer, as
//! a GC or VM pause would), but at a point the coordinator chose: at once,
//! or inside the next critical section, between reading and writing the
//! stock, which is what "the lock holder stalls past its TTL" means. Before
//! stopping, the worker ships its metrics, so a worker killed while frozen
//! loses nothing but its in-flight purchases, which the audit counts as in
//! doubt.
//!
//! A `lock-holder` fault is armed in every worker at once, and the first
//! critical section of any client wins it: the winner binds an abstract
//! Unix socket named after the fault, which the kernel grants to exactly one
//! process and frees when it exits. Losers see the name taken and disarm.
//! Nothing is written to the file system, so nothing is left behind.

use std::cell::RefCell;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

/// A fault armed for the next critical section.
struct Armed {
    fault: u32,
    claim: String,
}

/// Called at every critical section; fires once per arming.
pub struct FreezeHook {
    armed: RefCell<Vec<Armed>>,
    /// Claims won: held for the life of the process.
    won: RefCell<Vec<UnixListener>>,
    freeze: Box<dyn Fn(u32)>,
}

impl FreezeHook {
    /// `freeze(fault)` ships the metrics, tells the coordinator, and stops
    /// the process.
    pub fn new(freeze: Box<dyn Fn(u32)>) -> FreezeHook {
        FreezeHook {
            armed: RefCell::new(Vec::new()),
            won: RefCell::new(Vec::new()),
            freeze,
        }
    }

    pub fn arm(&self, fault: u32, claim: String) {
        self.armed.borrow_mut().push(Armed { fault, claim });
    }

    /// Another worker won `fault`: stop trying for it.
    pub fn disarm(&self, fault: u32) {
        self.armed.borrow_mut().retain(|a| a.fault != fault);
    }

    pub fn freeze_now(&self, fault: u32) {
        (self.freeze)(fault);
    }

    /// The purchase is between reading and writing the stock: freeze if
    /// this worker wins an armed fault's claim.
    pub fn critical_section(&self) {
        if self.armed.borrow().is_empty() {
            return;
        }
        let armed = std::mem::take(&mut *self.armed.borrow_mut());
        for Armed { fault, claim } in armed {
            if let Some(listener) = win(&claim) {
                self.won.borrow_mut().push(listener);
                (self.freeze)(fault);
            }
        }
    }
}

/// Binds the abstract socket `claim`: `None` when another process holds it.
fn win(claim: &str) -> Option<UnixListener> {
    let addr = SocketAddr::from_abstract_name(claim.as_bytes()).ok()?;
    UnixListener::bind_addr(&addr).ok()
}

/// Stops the calling process until the coordinator sends SIGCONT (or kills it).
pub fn stop_self() {
    // SAFETY: raise only delivers a signal to this process.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    fn hook(fired: &Rc<Cell<Option<u32>>>) -> FreezeHook {
        let fired = fired.clone();
        FreezeHook::new(Box::new(move |fault| fired.set(Some(fault))))
    }

    #[test]
    fn exactly_one_hook_wins_a_claim() {
        let claim = format!("seckill-test-claim-{}", std::process::id());
        let (a_fired, b_fired) = (Rc::new(Cell::new(None)), Rc::new(Cell::new(None)));
        let (a, b) = (hook(&a_fired), hook(&b_fired));
        a.critical_section();
        assert_eq!(a_fired.get(), None, "an unarmed hook never fires");
        a.arm(7, claim.clone());
        b.arm(7, claim.clone());
        b.critical_section();
        a.critical_section();
        assert_eq!((a_fired.get(), b_fired.get()), (None, Some(7)));
        // Disarmed after losing: a later critical section does nothing.
        a.critical_section();
        assert_eq!(a_fired.get(), None);
    }
}
