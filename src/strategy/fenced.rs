//! A lock with fencing tokens (Kleppmann, "How to do distributed locking"):
//! taking the lock hands out the next number of a counter, stored in the
//! lock; the decrement is a script that applies only if the caller's token
//! is still the newest. A holder that stalled past its TTL and was taken
//! over is refused (`fenced_out`) instead of selling twice. With
//! `record_orders`, the same script also records the sale in the orders
//! hash, so the order is written exactly when the fence lets the
//! decrement through.

use super::lock::{LockProtocol, Release};
use super::{sources, stock, written, Client, Context};
use crate::outcome::Outcome;
use crate::scenario::StrategySettings;

pub struct Fenced {
    pub settings: StrategySettings,
    acquire: redis::Script,
    decrement: redis::Script,
    release: Release,
}

impl Fenced {
    pub fn new(settings: StrategySettings) -> Fenced {
        Fenced {
            settings,
            acquire: redis::Script::new(sources::FENCED_ACQUIRE),
            decrement: redis::Script::new(match settings.record_orders {
                true => sources::FENCED_DECREMENT_RECORDED,
                false => sources::FENCED_DECREMENT,
            }),
            release: Release::new(),
        }
    }
}

impl LockProtocol for Fenced {
    type Guard = i64;

    fn settings(&self) -> &StrategySettings {
        &self.settings
    }

    async fn try_acquire(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
    ) -> redis::RedisResult<Option<i64>> {
        self.acquire
            .key(&ctx.keys.lock)
            .key(&ctx.keys.fence)
            .arg(self.settings.lock.ttl.as_millis() as u64)
            .invoke_async(&mut client.conn)
            .await
    }

    async fn critical(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
        token: &i64,
    ) -> redis::RedisResult<Outcome> {
        if let Err(outcome) = stock::check(client, ctx).await? {
            return Ok(outcome);
        }
        stock::stall(client, ctx, &self.settings.stall).await;
        let mut call = self.decrement.key(&ctx.keys.fence);
        call.key(&ctx.keys.stock).arg(*token).arg(ctx.quantity);
        if self.settings.record_orders {
            call.key(&ctx.keys.orders)
                .arg(client.purchase_id())
                .arg(ctx.buyer);
        }
        let applied: redis::RedisResult<i64> = call.invoke_async(&mut client.conn).await;
        written(applied, |applied| {
            if applied == 1 {
                Outcome::Sold
            } else {
                Outcome::FencedOut
            }
        })
    }

    async fn release(&self, client: &mut Client, ctx: &Context<'_>, token: Option<i64>) {
        if let Some(token) = token {
            self.release
                .run(&mut client.conn, &ctx.keys.lock, token)
                .await;
        }
    }
}
