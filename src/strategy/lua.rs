//! No lock: one `EVALSHA` checks the stock and decrements it atomically
//! (`redis::Script` loads the script on first use). A stall before the call
//! cannot split the check from the write, so it never oversells. With
//! `record_orders`, a second script also records the sale in the orders
//! hash, in the same atomic step; without it, the script and its arguments
//! are the ones the strategy always ran.

use std::time::Instant;

use super::{outcome_of, sources, stock, written, Client, Context};
use crate::outcome::{ErrorKind, Outcome, PurchaseReport};
use crate::scenario::StrategySettings;

pub struct Lua {
    pub settings: StrategySettings,
    script: redis::Script,
}

impl Lua {
    pub fn new(settings: StrategySettings) -> Lua {
        Lua {
            settings,
            script: redis::Script::new(match settings.record_orders {
                true => sources::CHECK_AND_DECREMENT_RECORDED,
                false => sources::CHECK_AND_DECREMENT,
            }),
        }
    }

    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = Instant::now();
        stock::stall(client, ctx, &self.settings.stall).await;
        report.outcome = outcome_of(self.decrement(client, ctx).await);
        report.critical_section = Some(started.elapsed());
        report
    }

    async fn decrement(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
    ) -> redis::RedisResult<Outcome> {
        let mut call = self.script.key(&ctx.keys.stock);
        call.arg(ctx.quantity);
        if self.settings.record_orders {
            call.key(&ctx.keys.orders)
                .arg(client.purchase_id())
                .arg(ctx.buyer);
        }
        let reply: redis::RedisResult<i64> = call.invoke_async(&mut client.conn).await;
        written(reply, |reply| match reply {
            1 => Outcome::Sold,
            0 => Outcome::SoldOut,
            _ => Outcome::Error(ErrorKind::NoStock),
        })
    }
}
