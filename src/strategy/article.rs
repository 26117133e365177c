//! The article's algorithm, command for command: `SET lock 1 NX PX ttl`
//! (retried), `GET stock`, `INCRBY stock -quantity`, and `DEL lock` in a
//! `finally`, unconditionally, even when the lock expired and another buyer
//! holds it now. Oversells when the critical section outlives the TTL.

use super::lock::{set_nx_px_into, taken, LockProtocol};
use super::{Client, Context, Prepared};
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
        let lock = ctx.keys.lock.as_str();
        let at = client.prepare(lock, Prepared::SetLock, || {
            let mut cmd = redis::Cmd::new();
            set_nx_px_into(&mut cmd, lock, "1", self.0.lock.ttl);
            cmd
        });
        Ok(taken(&client.prepared[at].2, &mut client.conn)
            .await?
            .then_some(()))
    }

    /// A failed `DEL` does not undo the sale, so it is not an error of the
    /// purchase.
    async fn release(&self, client: &mut Client, ctx: &Context<'_>, _: Option<()>) {
        let lock = ctx.keys.lock.as_str();
        let at = client.prepare(lock, Prepared::DelLock, || {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(lock);
            cmd
        });
        let _: redis::RedisResult<redis::Value> =
            client.prepared[at].2.query_async(&mut client.conn).await;
    }
}
