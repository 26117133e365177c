//! Decrement first, ask later: `DECRBY stock quantity`; if the result is
//! negative, `INCRBY` it back (a compensation) and reject the buyer. Never
//! oversells in the end, though the stock dips below zero for an instant.
//!
//! With `record_orders`, the order goes with the decrement and leaves with
//! the compensation: `MULTI DECRBY stock q; HSET orders id buyer; EXEC`,
//! and when that left the stock negative, `MULTI INCRBY stock q; HDEL
//! orders id; EXEC`. So the stock and the orders agree at every instant:
//! each unit taken from the stock has its order, also during the dip, and
//! a compensated purchase leaves no order behind. (Recording only once
//! the `DECRBY` came back non-negative would leave an instant where a unit
//! is gone and no order names it, and a lost reply between the two writes
//! would make that instant permanent.)

use super::{outcome_of, stock, written, Client, Context, Prepared};
use crate::outcome::{Outcome, PurchaseReport};
use crate::scenario::StrategySettings;

pub struct Decr(pub StrategySettings);

impl Decr {
    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = ctx.sent;
        stock::stall(client, ctx, &self.0.stall).await;
        let decremented = match self.0.record_orders {
            true => recorded(client, ctx, &mut report).await,
            false => decrement(client, ctx, &mut report).await,
        };
        report.outcome = outcome_of(decremented);
        report.critical_section = Some(started.elapsed());
        report
    }
}

async fn decrement(
    client: &mut Client,
    ctx: &Context<'_>,
    report: &mut PurchaseReport,
) -> redis::RedisResult<Outcome> {
    let stock = ctx.keys.stock.as_str();
    let by = |verb: &str| {
        let mut cmd = redis::cmd(verb);
        cmd.arg(stock).arg(ctx.quantity);
        cmd
    };
    let at = client.prepare(stock, Prepared::Decrby, || by("DECRBY"));
    let left: i64 = match client.prepared[at].2.query_async(&mut client.conn).await {
        Ok(left) => left,
        Err(e) => return written(Err::<i64, _>(e), |_| Outcome::Sold),
    };
    if left >= 0 {
        return Ok(Outcome::Sold);
    }
    report.compensations += 1;
    let at = client.prepare(stock, Prepared::Incrby, || by("INCRBY"));
    let reply: redis::RedisResult<i64> = client.prepared[at].2.query_async(&mut client.conn).await;
    written(reply, |_| Outcome::SoldOut)
}

/// [`decrement`] with the order written and, on compensation, deleted in
/// the same transactions as the stock.
async fn recorded(
    client: &mut Client,
    ctx: &Context<'_>,
    report: &mut PurchaseReport,
) -> redis::RedisResult<Outcome> {
    let quantity = ctx.quantity as i64;
    let id = client.purchase_id();
    let taken: redis::RedisResult<(i64,)> = redis::pipe()
        .atomic()
        .decr(&ctx.keys.stock, quantity)
        .hset(&ctx.keys.orders, &id, ctx.buyer)
        .ignore()
        .query_async(&mut client.conn)
        .await;
    let (left,) = match taken {
        Ok(left) => left,
        Err(e) => return written(Err::<(), _>(e), |()| Outcome::Sold),
    };
    if left >= 0 {
        return Ok(Outcome::Sold);
    }
    report.compensations += 1;
    let reply: redis::RedisResult<()> = redis::pipe()
        .atomic()
        .incr(&ctx.keys.stock, quantity)
        .ignore()
        .hdel(&ctx.keys.orders, &id)
        .ignore()
        .query_async(&mut client.conn)
        .await;
    written(reply, |()| Outcome::SoldOut)
}
