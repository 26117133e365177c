//! Stock operations shared by strategies: the article's non-atomic
//! check-then-decrement (`GET`, compare, optional stall, `INCRBY`), and the
//! stall itself. With `record_orders`, the `INCRBY` and the sale's
//! `HSET orders <purchase id> <buyer>` go in one `MULTI` / `EXEC`.

use super::{written, Client, Context, Prepared};
use crate::outcome::{ErrorKind, Outcome};
use crate::scenario::{Stall, StrategySettings};

/// The stock as read, or the outcome that ends the purchase without a write.
///
/// # Errors
/// The Redis error of `GET`.
pub async fn check(
    client: &mut Client,
    ctx: &Context<'_>,
) -> redis::RedisResult<Result<i64, Outcome>> {
    let key = ctx.keys.stock.as_str();
    let at = client.prepare(key, Prepared::Get, || {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        cmd
    });
    let stock: Option<i64> = client.prepared[at].2.query_async(&mut client.conn).await?;
    Ok(match stock {
        None => Err(Outcome::Error(ErrorKind::NoStock)),
        Some(s) if s < ctx.quantity as i64 => Err(Outcome::SoldOut),
        Some(s) => Ok(s),
    })
}

/// The point between reading and writing the stock: where a fault freezes
/// the worker, and where a GC or VM stall would pause a `fraction` of
/// purchases.
/// Also notes when the write is sent, for the lock-safety checker, when the
/// purchase holds a lock.
pub async fn stall(client: &mut Client, ctx: &Context<'_>, stall: &Stall) {
    ctx.freeze.critical_section();
    if !stall.duration.is_zero() && client.rng.f64() < stall.fraction {
        tokio::time::sleep(stall.duration).await;
    }
    // Only a locked purchase asks for the instant (see `lock.rs`): the
    // atomic strategies skip the clock read.
    if client.write_sent_ns.is_some() {
        client.write_sent_ns = Some(crate::hold::monotonic_ns());
    }
}

/// # Errors
/// The Redis error of `GET` or `INCRBY` (or its transaction).
pub async fn check_then_decrement(
    client: &mut Client,
    ctx: &Context<'_>,
    settings: &StrategySettings,
) -> redis::RedisResult<Outcome> {
    if let Err(outcome) = check(client, ctx).await? {
        return Ok(outcome);
    }
    stall(client, ctx, &settings.stall).await;
    let decrement = -(ctx.quantity as i64);
    if settings.record_orders {
        let reply: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .incr(&ctx.keys.stock, decrement)
            .ignore()
            .hset(&ctx.keys.orders, client.purchase_id(), ctx.buyer)
            .ignore()
            .query_async(&mut client.conn)
            .await;
        return written(reply, |()| Outcome::Sold);
    }
    let key = ctx.keys.stock.as_str();
    let at = client.prepare(key, Prepared::Decrement, || {
        let mut cmd = redis::cmd("INCRBY");
        cmd.arg(key).arg(decrement);
        cmd
    });
    let reply: redis::RedisResult<i64> = client.prepared[at].2.query_async(&mut client.conn).await;
    written(reply, |_| Outcome::Sold)
}
