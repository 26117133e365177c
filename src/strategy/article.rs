//! The article's algorithm, command for command: `SET lock 1 NX PX ttl`
//! (retried), `GET stock`, `INCRBY stock -quantity`, and `DEL lock` in a
//! `finally`, unconditionally, even when the lock expired and another buyer
//! holds it now. Oversells when the critical section outlives the TTL.

use redis::AsyncCommands;

use super::lock::{set_nx_px, LockProtocol};
use super::{Client, Context};
use crate::scenario::StrategySettings;

pub struct Article(pub StrategySettings);

impl LockProtocol for Article {
    type Guard = ();

    fn settings(&self) -> &StrategySettings {
        &self.0
    }

    async fn try_acquire(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
    ) -> redis::RedisResult<Option<()>> {
        let taken = set_nx_px(&mut client.conn, &ctx.keys.lock, "1", self.0.lock.ttl).await?;
        Ok(taken.then_some(()))
    }

    /// A failed `DEL` does not undo the sale, so it is not an error of the
    /// purchase.
    async fn release(&self, client: &mut Client, ctx: &Context<'_>, _: Option<()>) {
        let _: redis::RedisResult<i64> = client.conn.del(&ctx.keys.lock).await;
    }
}
