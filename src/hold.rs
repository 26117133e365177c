//! What a worker records of each purchase's lock hold, for the lock-safety
//! checker ([`crate::checker`]): when the lock was granted and when the
//! stock write was sent, on the host's monotonic clock, and the worker's
//! board of holds still open (its watermark). The worker fills these on the
//! hot path; the coordinator's checker only reads them.

use serde::{Deserialize, Serialize};

/// Now on the host's monotonic clock, in nanoseconds: comparable between the
/// processes of one host (unlike `Instant`, which cannot leave its process).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass it.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A worker's open holds, for its watermark: per client, when it was
/// granted the lock it still holds (0: none). Shared by the worker's
/// clients on its one thread.
pub struct HoldBoard(Vec<std::cell::Cell<u64>>);

impl HoldBoard {
    pub fn new(clients: usize) -> HoldBoard {
        HoldBoard(vec![std::cell::Cell::new(0); clients])
    }

    pub fn open(&self, client: u32, granted_ns: u64) {
        if let Some(slot) = self.0.get(client as usize) {
            slot.set(granted_ns);
        }
    }

    /// The client's hold, if any, is shipped (or never will be).
    pub fn close(&self, client: u32) {
        if let Some(slot) = self.0.get(client as usize) {
            slot.set(0);
        }
    }

    /// No hold shipped after now was granted before this: the earliest open
    /// hold, or now.
    pub fn watermark(&self, now_ns: u64) -> u64 {
        let open = self.0.iter().map(std::cell::Cell::get).filter(|&g| g > 0);
        open.min().unwrap_or(now_ns).min(now_ns)
    }
}

/// One client's hold of the lock, as its worker ships it: a JSON array
/// `[client, granted_ns, write_ns, applied]` to keep batches small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u32, u64, u64, bool)", into = "(u32, u64, u64, bool)")]
pub struct Hold {
    /// The client's index within its worker.
    pub client: u32,
    /// When the reply granting the lock was received.
    pub granted_ns: u64,
    /// When the stock write was sent.
    pub write_ns: u64,
    /// Whether the write took effect (`false`: refused, e.g. fenced out).
    pub applied: bool,
}

impl From<(u32, u64, u64, bool)> for Hold {
    fn from((client, granted_ns, write_ns, applied): (u32, u64, u64, bool)) -> Hold {
        Hold {
            client,
            granted_ns,
            write_ns,
            applied,
        }
    }
}

impl From<Hold> for (u32, u64, u64, bool) {
    fn from(h: Hold) -> Self {
        (h.client, h.granted_ns, h.write_ns, h.applied)
    }
}
