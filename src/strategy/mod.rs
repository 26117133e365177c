//! Purchase strategies: one module each, dispatched by one enum so the hot
//! path is a `match`, not a virtual call. A strategy runs one purchase on a
//! client's own connection and reports what happened; it records nothing
//! itself (the worker's metrics do). Lock-based strategies share the retry
//! loop in [`lock`] and differ only in how they take, use and drop the lock.

mod article;
mod decr;
mod fenced;
mod lock;
mod lua;
mod redlock;
mod safe_lock;
pub mod scripts;
mod stock;
mod unlocked;
mod watch;

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::checker::{Hold, HoldBoard};
use crate::freeze::FreezeHook;
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

fn outcome_of(result: redis::RedisResult<Outcome>) -> Outcome {
    result.unwrap_or_else(|e| Outcome::Error(ErrorKind::of(&e)))
}

/// The outcome of a stock write: a lost reply makes it in doubt rather than
/// an error, since the write may have been applied.
fn written<T>(
    result: redis::RedisResult<T>,
    outcome: impl FnOnce(T) -> Outcome,
) -> redis::RedisResult<Outcome> {
    match result {
        Ok(reply) => Ok(outcome(reply)),
        Err(e) if matches!(ErrorKind::of(&e), ErrorKind::Timeout | ErrorKind::Io) => {
            Ok(Outcome::InDoubt)
        }
        Err(e) => Err(e),
    }
}

impl Outcome {
    /// Whether the connection may be broken: the client reconnects before
    /// its next purchase.
    pub fn lost_connection(self) -> bool {
        matches!(
            self,
            Outcome::InDoubt | Outcome::Error(ErrorKind::Timeout | ErrorKind::Io)
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
}

impl PurchaseReport {
    fn new() -> PurchaseReport {
        PurchaseReport {
            outcome: Outcome::Cancelled,
            lock_wait: None,
            critical_section: None,
            lock_failures: 0,
            wait_timeouts: 0,
            watch_aborts: 0,
            compensations: 0,
            hold: None,
        }
    }
}

/// One buyer: its own connection (a `WATCH`ing client must not share one),
/// random source, and identity for lock tokens.
pub struct Client {
    pub conn: MultiplexedConnection,
    pub rng: fastrand::Rng,
    /// Unique in the run: worker index and client index.
    pub id: u64,
    /// `redlock` only: one connection per lock server, `None` when that
    /// server was unreachable at the start (it then never votes).
    pub lock_nodes: Vec<Option<MultiplexedConnection>>,
    tokens: u64,
    /// When the stock write of the current purchase was sent (monotonic ns).
    write_sent_ns: Option<u64>,
}

impl Client {
    pub fn new(conn: MultiplexedConnection, id: u64) -> Client {
        Client {
            conn,
            rng: fastrand::Rng::with_seed(id ^ 0x5ec1_11be_5eed),
            id,
            lock_nodes: Vec::new(),
            tokens: 0,
            write_sent_ns: None,
        }
    }

    /// The client's index within its worker.
    pub fn index(&self) -> u32 {
        self.id as u32
    }

    /// A lock value no other holder in this run ever uses.
    fn next_token(&mut self) -> String {
        self.tokens += 1;
        format!("{:x}-{:x}", self.id, self.tokens)
    }
}

/// What every purchase of a worker shares.
pub struct Context<'a> {
    pub keys: &'a Keys,
    pub quantity: u64,
    pub stop: &'a StopSignal,
    /// Fires a `pause` / `kill` fault inside the critical section.
    pub freeze: &'a FreezeHook,
    /// Open lock holds, for the checker's watermark.
    pub holds: &'a HoldBoard,
}

pub enum Strategy {
    Article(article::Article),
    Unlocked(unlocked::Unlocked),
    SafeLock(safe_lock::SafeLock),
    Fenced(fenced::Fenced),
    Lua(lua::Lua),
    Watch(watch::Watch),
    Decr(decr::Decr),
    Redlock(redlock::Redlock),
}

impl Strategy {
    pub fn new(settings: &StrategySettings) -> Strategy {
        let s = *settings;
        match settings.kind {
            StrategyKind::Article => Strategy::Article(article::Article(s)),
            StrategyKind::Unlocked => Strategy::Unlocked(unlocked::Unlocked(s)),
            StrategyKind::SafeLock => Strategy::SafeLock(safe_lock::SafeLock::new(s)),
            StrategyKind::Fenced => Strategy::Fenced(fenced::Fenced::new(s)),
            StrategyKind::Lua => Strategy::Lua(lua::Lua::new(s)),
            StrategyKind::Watch => Strategy::Watch(watch::Watch(s)),
            StrategyKind::Decr => Strategy::Decr(decr::Decr(s)),
            StrategyKind::Redlock => Strategy::Redlock(redlock::Redlock::new(s)),
        }
    }

    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        match self {
            Strategy::Article(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::SafeLock(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::Fenced(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::Redlock(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::Unlocked(s) => s.purchase(client, ctx).await,
            Strategy::Lua(s) => s.purchase(client, ctx).await,
            Strategy::Watch(s) => s.purchase(client, ctx).await,
            Strategy::Decr(s) => s.purchase(client, ctx).await,
        }
    }
}
