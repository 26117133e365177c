//! The non-atomic check-then-decrement the article does inside its lock:
//! `GET stock`, compare, optional stall, `INCRBY stock -quantity`. Shared by
//! every strategy that reads before it writes.

use redis::AsyncCommands;

use super::{Client, Context, ErrorKind, Outcome};
use crate::scenario::Stall;

/// # Errors
/// The Redis error of `GET` or `INCRBY`.
pub async fn check_then_decrement(
    client: &mut Client,
    ctx: &Context<'_>,
    stall: &Stall,
) -> redis::RedisResult<Outcome> {
    let stock: Option<i64> = client.conn.get(&ctx.keys.stock).await?;
    let Some(stock) = stock else {
        return Ok(Outcome::Error(ErrorKind::NoStock));
    };
    if stock < ctx.quantity as i64 {
        return Ok(Outcome::SoldOut);
    }
    if !stall.duration.is_zero() && client.rng.f64() < stall.fraction {
        tokio::time::sleep(stall.duration).await;
    }
    let _: i64 = client
        .conn
        .incr(&ctx.keys.stock, -(ctx.quantity as i64))
        .await?;
    Ok(Outcome::Sold)
}
