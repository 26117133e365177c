//! How a purchase ended and what it did: the vocabulary that strategies
//! produce and the metrics count. It knows nothing of either; both use it.

use std::time::Duration;

use crate::hold::Hold;

/// How one purchase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The stock was decremented.
    Sold,
    /// The buyer was told there is not enough stock; the client stops.
    SoldOut,
    /// The lock wait reached `wait_timeout` with `on_wait_timeout = "give_up"`.
    GaveUp,
    /// `fenced`: the lock was lost (a newer token exists); nothing was sold.
    FencedOut,
    /// The stop rule cut the purchase off before it touched the stock.
    Cancelled,
    /// The stock write was sent but its reply never came (timeout, dropped
    /// connection): it may or may not have been applied. Never a sale, never
    /// a rejection; the audit allows for it.
    InDoubt,
    /// The user's script refused the buyer for a reason of its own name
    /// (`duplicate`, `limit`, ...): nothing sold, the buyer may go on.
    Rejected(&'static str),
    Error(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The stock key is missing: the article's `ValueError('没有库存')`.
    NoStock,
    Timeout,
    Io,
    /// `READONLY`: the server is a replica now, demoted by a failover.
    ReadOnly,
    /// `BUSY`: a script (the user's) outran Redis's busy limit, and Redis
    /// refuses everything else until it ends or is killed.
    Busy,
    Redis,
    /// The user's script replied something its mapping does not name, or
    /// an error.
    UnexpectedReply,
    /// `connections = "pool"`: no connection came free within
    /// `pool_timeout_ms`. The purchase never started: not in doubt.
    PoolTimeout,
}

impl ErrorKind {
    /// In declaration order, so that `ALL[k.index()] == k`.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::NoStock,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::ReadOnly,
        ErrorKind::Busy,
        ErrorKind::Redis,
        ErrorKind::UnexpectedReply,
        ErrorKind::PoolTimeout,
    ];

    /// Its place in [`ErrorKind::ALL`]: a counter's index.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NoStock => "no_stock",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::ReadOnly => "readonly",
            ErrorKind::Busy => "busy",
            ErrorKind::Redis => "redis",
            ErrorKind::UnexpectedReply => "unexpected_reply",
            ErrorKind::PoolTimeout => "pool_timeout",
        }
    }

    pub(crate) fn of(e: &redis::RedisError) -> ErrorKind {
        if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            ErrorKind::Io
        } else if e.code() == Some("READONLY") || e.to_string().contains("READONLY") {
            // Also a transaction aborted because a queued write met
            // READONLY (EXECABORT).
            ErrorKind::ReadOnly
        } else if e.code() == Some("BUSY") {
            ErrorKind::Busy
        } else {
            ErrorKind::Redis
        }
    }
}

impl Outcome {
    /// Whether the connection may be broken, or reaches a demoted primary:
    /// the client reconnects (asking Sentinel again, if it may) before its
    /// next purchase.
    pub fn lost_connection(self) -> bool {
        matches!(
            self,
            Outcome::InDoubt
                | Outcome::Error(ErrorKind::Timeout | ErrorKind::Io | ErrorKind::ReadOnly)
        )
    }
}

/// What one purchase did, for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseReport {
    pub outcome: Outcome,
    pub lock_wait: Option<Duration>,
    pub critical_section: Option<Duration>,
    /// Lock attempts that found the lock taken (or, for redlock, no quorum).
    pub lock_failures: u64,
    pub wait_timeouts: u64,
    /// `watch`: transactions aborted because the stock changed.
    pub watch_aborts: u64,
    /// `decr`: decrements taken back because they went below zero.
    pub compensations: u64,
    /// Lock strategies: when the lock was granted and the stock write sent,
    /// for the lock-safety checker; `None` when no write was sent.
    pub hold: Option<Hold>,
    /// In doubt because `WAIT` did not confirm the sale on enough replicas.
    pub unconfirmed: bool,
    /// Segmented stock: segments tried after the first one.
    pub segment_hops: u64,
    /// `unexpected_reply`: what the script replied, shortened.
    pub unexpected: Option<String>,
    /// Segmented stock: the segment the purchase ended on.
    pub segment: u8,
    /// `http` with `order_id`: the order id the service gave this sale.
    pub order_id: Option<String>,
    /// `connections = "pool"`: how long the purchase waited for a
    /// connection.
    pub pool_wait: Option<Duration>,
}

impl PurchaseReport {
    pub(crate) fn new() -> PurchaseReport {
        PurchaseReport {
            outcome: Outcome::Cancelled,
            lock_wait: None,
            critical_section: None,
            lock_failures: 0,
            wait_timeouts: 0,
            watch_aborts: 0,
            compensations: 0,
            hold: None,
            unconfirmed: false,
            segment_hops: 0,
            unexpected: None,
            segment: 0,
            order_id: None,
            pool_wait: None,
        }
    }

    /// No pooled connection came within `waited`.
    pub fn pool_timeout(waited: Duration) -> PurchaseReport {
        PurchaseReport {
            outcome: Outcome::Error(ErrorKind::PoolTimeout),
            pool_wait: Some(waited),
            ..PurchaseReport::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_counts_in_its_own_place() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
        }
        let names: std::collections::HashSet<_> = ErrorKind::ALL.map(ErrorKind::name).into();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
