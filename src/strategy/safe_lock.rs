//! The lock the Redis documentation recommends for a single instance:
//! `SET lock <unique token> NX PX ttl`, released by a Lua compare-and-delete
//! so a buyer never deletes a lock it no longer holds. That stops the
//! article's cascade, but not the first double sale when a holder stalls
//! past the TTL: the check-then-decrement is still not atomic.

use super::lock::{set_nx_px_into, taken, LockProtocol, Release};
use super::{Client, Context};
use crate::scenario::StrategySettings;

pub struct SafeLock {
    pub settings: StrategySettings,
    release: Release,
}

impl SafeLock {
    pub fn new(settings: StrategySettings) -> SafeLock {
        SafeLock {
            settings,
            release: Release::new(),
        }
    }
}

impl LockProtocol for SafeLock {
    type Guard = u64;

    fn settings(&self) -> &StrategySettings {
        &self.settings
    }

    async fn try_acquire(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
    ) -> redis::RedisResult<Option<u64>> {
        let token = client.next_token();
        set_nx_px_into(
            &mut client.scratch,
            &ctx.keys.lock,
            token,
            self.settings.lock.ttl,
        );
        let held = taken(&client.scratch, &mut client.conn).await?;
        Ok(held.then_some(token))
    }

    async fn release(&self, client: &mut Client, ctx: &Context<'_>, token: Option<u64>) {
        if let Some(token) = token {
            self.release
                .run(&mut client.conn, &ctx.keys.lock, token)
                .await;
        }
    }
}
