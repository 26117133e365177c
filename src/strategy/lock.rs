//! What every lock strategy shares: the wait for the lock (`SET NX`-style
//! attempts retried every `retry_interval`, with backoff and jitter, until
//! `wait_timeout`; then again, as the article's `while not lock` does, or
//! give up), and the shape of a locked purchase: acquire, critical section,
//! release. A [`LockProtocol`] supplies only the three steps.

use std::time::{Duration, Instant};

use super::{outcome_of, stock, Client, Context};
use crate::hold::{monotonic_ns, Hold};
use crate::outcome::{ErrorKind, Outcome, PurchaseReport};
use crate::scenario::{Backoff, LockParams, OnWaitTimeout, StrategySettings};

/// One lock implementation: how to try once, what to do while holding it,
/// how to let go.
pub trait LockProtocol {
    /// What proves the lock is held (a token), passed to the later steps.
    type Guard;

    fn settings(&self) -> &StrategySettings;

    /// One attempt; `None` when the lock is held by someone else.
    async fn try_acquire(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
    ) -> redis::RedisResult<Option<Self::Guard>>;

    /// The stock check and decrement while holding the lock: by default
    /// the article's non-atomic check-then-decrement (with
    /// `record_orders`, the decrement and the order in one transaction).
    async fn critical(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
        _guard: &Self::Guard,
    ) -> redis::RedisResult<Outcome> {
        stock::check_then_decrement(client, ctx, self.settings()).await
    }

    /// Lets go. `None` when acquiring failed with an error: the article
    /// deletes the lock even then (its `finally`), token-checked locks can't.
    async fn release(&self, client: &mut Client, ctx: &Context<'_>, guard: Option<Self::Guard>);
}

enum Acquired<G> {
    Held(G),
    Stopped,
    GaveUp,
}

/// A whole purchase under `lock`, timed per phase.
pub async fn locked_purchase<L: LockProtocol>(
    lock: &L,
    client: &mut Client,
    ctx: &Context<'_>,
) -> PurchaseReport {
    let mut report = PurchaseReport::new();
    let started = Instant::now();
    let guard = match acquire(lock, &lock.settings().lock, client, ctx, &mut report).await {
        Ok(Acquired::Held(guard)) => guard,
        Ok(Acquired::Stopped) => return report,
        Ok(Acquired::GaveUp) => {
            report.outcome = Outcome::GaveUp;
            return report;
        }
        Err(e) => {
            report.outcome = Outcome::Error(ErrorKind::of(&e));
            lock.release(client, ctx, None).await;
            return report;
        }
    };
    let locked = Instant::now();
    let granted_ns = monotonic_ns();
    ctx.holds.open(client.index(), granted_ns);
    // Armed: the stall point fills in when the stock write is sent.
    client.write_sent_ns = Some(0);
    report.lock_wait = Some(locked - started);
    report.outcome = outcome_of(lock.critical(client, ctx, &guard).await);
    report.critical_section = Some(locked.elapsed());
    report.hold = client
        .write_sent_ns
        .take()
        .filter(|&ns| ns > 0)
        .map(|write_ns| Hold {
            client: client.index(),
            granted_ns,
            write_ns,
            applied: report.outcome == Outcome::Sold,
        });
    lock.release(client, ctx, Some(guard)).await;
    report
}

async fn acquire<L: LockProtocol>(
    lock: &L,
    params: &LockParams,
    client: &mut Client,
    ctx: &Context<'_>,
    report: &mut PurchaseReport,
) -> redis::RedisResult<Acquired<L::Guard>> {
    loop {
        let give_up_at = Instant::now() + params.wait_timeout;
        let mut pause = params.retry_interval;
        while Instant::now() < give_up_at {
            if ctx.stop.is_stopped() {
                return Ok(Acquired::Stopped);
            }
            if let Some(guard) = lock.try_acquire(client, ctx).await? {
                return Ok(Acquired::Held(guard));
            }
            report.lock_failures += 1;
            wait(jittered(pause, params.jitter, &mut client.rng)).await;
            pause = next_pause(pause, params.backoff);
        }
        report.wait_timeouts += 1;
        if params.on_wait_timeout == OnWaitTimeout::GiveUp {
            return Ok(Acquired::GaveUp);
        }
    }
}

/// Uniform in `[pause x (1 - jitter), pause]`.
fn jittered(pause: Duration, jitter: f64, rng: &mut fastrand::Rng) -> Duration {
    if jitter == 0.0 {
        pause
    } else {
        pause.mul_f64(1.0 - jitter * rng.f64())
    }
}

fn next_pause(pause: Duration, backoff: Backoff) -> Duration {
    match backoff {
        Backoff::Fixed => pause,
        Backoff::Exponential { cap } => (pause * 2).min(cap),
    }
}

async fn wait(pause: Duration) {
    if pause.is_zero() {
        // Spin, but let the worker's other clients run.
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(pause).await;
    }
}

/// The token-checked release of the Redis documentation: deletes the lock
/// only while it still holds the caller's token. Shared by the token locks.
pub struct Release(redis::Script);

impl Release {
    pub fn new() -> Release {
        Release(redis::Script::new(super::sources::COMPARE_AND_DELETE))
    }

    /// Best effort: a lock not released expires with its TTL.
    pub async fn run(
        &self,
        conn: &mut crate::conn::Conn,
        lock: &str,
        token: impl redis::ToRedisArgs,
    ) {
        let _: redis::RedisResult<i64> = self.0.key(lock).arg(token).invoke_async(conn).await;
    }
}

/// Writes `SET key value NX PX ttl` over `cmd` (a command kept and
/// rebuilt per try: no allocation once it has grown).
pub fn set_nx_px_into(
    cmd: &mut redis::Cmd,
    key: &str,
    value: impl redis::ToRedisArgs,
    ttl: Duration,
) {
    cmd.clear();
    cmd.arg("SET")
        .arg(key)
        .arg(value)
        .arg("NX")
        .arg("PX")
        .arg(ttl.as_millis() as u64);
}

/// Sends a `SET ... NX`: true when taken.
///
/// # Errors
/// The Redis error of the `SET`.
pub async fn taken(cmd: &redis::Cmd, conn: &mut crate::conn::Conn) -> redis::RedisResult<bool> {
    // `+OK` or nil, read as a value: no string to allocate for the reply.
    let reply: redis::Value = cmd.query_async(conn).await?;
    Ok(!matches!(reply, redis::Value::Nil))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_up_to_the_cap() {
        let cap = Duration::from_millis(50);
        let mut pause = Duration::from_millis(10);
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(pause.as_millis());
            pause = next_pause(pause, Backoff::Exponential { cap });
        }
        assert_eq!(seen, [10, 20, 40, 50, 50]);
        let fixed = next_pause(Duration::from_millis(10), Backoff::Fixed);
        assert_eq!(fixed, Duration::from_millis(10));
    }

    #[test]
    fn jitter_stays_within_its_share() {
        let mut rng = fastrand::Rng::with_seed(7);
        let pause = Duration::from_millis(100);
        assert_eq!(jittered(pause, 0.0, &mut rng), pause);
        for _ in 0..1000 {
            let j = jittered(pause, 0.3, &mut rng);
            assert!(j <= pause && j >= Duration::from_millis(70), "{j:?}");
        }
    }
}
