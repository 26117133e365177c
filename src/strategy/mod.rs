//! Purchase strategies: one module each, dispatched by one enum so the hot
//! path is a `match`, not a virtual call. A strategy runs one purchase on a
//! client's own connection and reports what happened; it records nothing
//! itself (the worker's metrics do).

mod article;
mod lock;
mod stock;
mod unlocked;

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::keys::Keys;
use crate::scenario::{StrategyKind, StrategySettings};
use crate::stop::StopSignal;

/// How one purchase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The stock was decremented.
    Sold,
    /// The buyer was told there is not enough stock; the client stops.
    SoldOut,
    /// The stop rule cut the purchase off before it touched the stock.
    Cancelled,
    Error(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The stock key is missing: the article's `ValueError('没有库存')`.
    NoStock,
    Timeout,
    Io,
    Redis,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NoStock => "no_stock",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Redis => "redis",
        }
    }

    fn of(e: &redis::RedisError) -> ErrorKind {
        if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            ErrorKind::Io
        } else {
            ErrorKind::Redis
        }
    }
}

/// What one purchase did, for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseReport {
    pub outcome: Outcome,
    pub lock_wait: Option<Duration>,
    pub critical_section: Option<Duration>,
    pub lock_failures: u64,
    pub wait_timeouts: u64,
}

impl PurchaseReport {
    fn new() -> PurchaseReport {
        PurchaseReport {
            outcome: Outcome::Cancelled,
            lock_wait: None,
            critical_section: None,
            lock_failures: 0,
            wait_timeouts: 0,
        }
    }
}

/// One buyer: its own connection and random source.
pub struct Client {
    pub conn: MultiplexedConnection,
    pub rng: fastrand::Rng,
}

/// What every purchase of a worker shares.
pub struct Context<'a> {
    pub keys: &'a Keys,
    pub quantity: u64,
    pub stop: &'a StopSignal,
}

pub enum Strategy {
    Article(article::Article),
    Unlocked(unlocked::Unlocked),
}

impl Strategy {
    pub fn new(settings: &StrategySettings) -> Strategy {
        match settings.kind {
            StrategyKind::Article => Strategy::Article(article::Article::new(settings)),
            StrategyKind::Unlocked => Strategy::Unlocked(unlocked::Unlocked::new(settings)),
        }
    }

    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        match self {
            Strategy::Article(s) => s.purchase(client, ctx).await,
            Strategy::Unlocked(s) => s.purchase(client, ctx).await,
        }
    }
}
