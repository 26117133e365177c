//! Taking a lock the article's way: `SET lock <value> NX PX ttl`, retried
//! every `retry_interval` until `wait_timeout` (`acquire_lock`), and that
//! whole wait repeated until it succeeds (the article's `while not lock`).

use std::time::Instant;

use super::{Client, Context, PurchaseReport};
use crate::scenario::LockParams;

/// Waits for the lock; `Ok(false)` when the stop signal came first. Counts
/// failed `SET NX` calls and wait timeouts into `report`.
///
/// # Errors
/// The Redis error of a `SET`.
pub async fn acquire(
    client: &mut Client,
    ctx: &Context<'_>,
    params: &LockParams,
    value: &str,
    report: &mut PurchaseReport,
) -> redis::RedisResult<bool> {
    let ttl_ms = params.ttl.as_millis() as u64;
    loop {
        let give_up_at = Instant::now() + params.wait_timeout;
        while Instant::now() < give_up_at {
            if ctx.stop.is_stopped() {
                return Ok(false);
            }
            let reply: Option<String> = redis::cmd("SET")
                .arg(&ctx.keys.lock)
                .arg(value)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut client.conn)
                .await?;
            if reply.is_some() {
                return Ok(true);
            }
            report.lock_failures += 1;
            pause(params).await;
        }
        report.wait_timeouts += 1;
    }
}

async fn pause(params: &LockParams) {
    if params.retry_interval.is_zero() {
        // Spin, but let the worker's other clients run.
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(params.retry_interval).await;
    }
}
