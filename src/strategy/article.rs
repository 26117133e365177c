//! The article's algorithm, command for command: `SET lock 1 NX PX ttl`
//! (retried), `GET stock`, `INCRBY stock -quantity`, and `DEL lock` in a
//! `finally`, unconditionally, even when the lock expired and another buyer
//! holds it now. Oversells when the critical section outlives the TTL.

use std::time::Instant;

use redis::AsyncCommands;

use super::{lock, stock, Client, Context, ErrorKind, Outcome, PurchaseReport};
use crate::scenario::{LockParams, Stall, StrategySettings};

pub struct Article {
    lock: LockParams,
    stall: Stall,
}

impl Article {
    pub fn new(settings: &StrategySettings) -> Article {
        Article {
            lock: settings.lock,
            stall: settings.stall,
        }
    }

    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = Instant::now();
        match lock::acquire(client, ctx, &self.lock, "1", &mut report).await {
            Ok(true) => {}
            Ok(false) => return report,
            Err(e) => {
                report.outcome = Outcome::Error(ErrorKind::of(&e));
                self.release(client, ctx).await;
                return report;
            }
        }
        let locked = Instant::now();
        report.lock_wait = Some(locked - started);
        report.outcome = stock::check_then_decrement(client, ctx, &self.stall)
            .await
            .unwrap_or_else(|e| Outcome::Error(ErrorKind::of(&e)));
        report.critical_section = Some(locked.elapsed());
        self.release(client, ctx).await;
        report
    }

    /// `DEL lock`; a failure here does not undo the sale, so it is ignored
    /// as the article's `finally` would propagate it only after the sale.
    async fn release(&self, client: &mut Client, ctx: &Context<'_>) {
        let _: redis::RedisResult<i64> = client.conn.del(&ctx.keys.lock).await;
    }
}
