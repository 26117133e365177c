//! The timed phases of a purchase and their names, as written in reports
//! and thresholds. The metrics record by phase, the scenario limits by
//! phase; this module depends on neither.

use serde::{Deserialize, Serialize};

/// The timed phases of one purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// From the first lock attempt to holding the lock (lock strategies only).
    LockWait,
    /// From holding the lock (or the first stock read) to the decrement or rejection.
    CriticalSection,
    /// Response time: the whole purchase, lock release included, from its
    /// intended start (open loop: its scheduled arrival).
    Purchase,
    /// Service time: the whole purchase from when it was actually sent.
    /// Equal to `Purchase` in a closed loop.
    Service,
    /// `connections = "pool"`: waiting for a pooled connection, part of
    /// the purchase.
    PoolWait,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Purchase,
        Phase::Service,
        Phase::LockWait,
        Phase::CriticalSection,
        Phase::PoolWait,
    ];

    /// The phase called `name`, as written in reports and thresholds.
    pub fn named(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::LockWait => "lock_wait",
            Phase::CriticalSection => "critical_section",
            Phase::Purchase => "purchase",
            Phase::Service => "service",
            Phase::PoolWait => "pool_wait",
        }
    }
}
