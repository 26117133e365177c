//! Decrement first, ask later: `DECRBY stock quantity`; if the result is
//! negative, `INCRBY` it back (a compensation) and reject the buyer. Never
//! oversells in the end, though the stock dips below zero for an instant.

use std::time::Instant;

use redis::AsyncCommands;

use super::{outcome_of, stock, written, Client, Context};
use crate::outcome::{Outcome, PurchaseReport};
use crate::scenario::StrategySettings;

pub struct Decr(pub StrategySettings);

impl Decr {
    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = Instant::now();
        stock::stall(client, ctx, &self.0.stall).await;
        report.outcome = outcome_of(decrement(client, ctx, &mut report).await);
        report.critical_section = Some(started.elapsed());
        report
    }
}

async fn decrement(
    client: &mut Client,
    ctx: &Context<'_>,
    report: &mut PurchaseReport,
) -> redis::RedisResult<Outcome> {
    let quantity = ctx.quantity as i64;
    let left: i64 = match client.conn.decr(&ctx.keys.stock, quantity).await {
        Ok(left) => left,
        Err(e) => return written(Err::<i64, _>(e), |_| Outcome::Sold),
    };
    if left >= 0 {
        return Ok(Outcome::Sold);
    }
    report.compensations += 1;
    let reply: redis::RedisResult<i64> = client.conn.incr(&ctx.keys.stock, quantity).await;
    written(reply, |_| Outcome::SoldOut)
}
