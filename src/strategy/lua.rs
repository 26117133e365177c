//! No lock: one `EVALSHA` checks the stock and decrements it atomically
//! (`redis::Script` loads the script on first use). A stall before the call
//! cannot split the check from the write, so it never oversells. With
//! `record_orders`, a second script also records the sale in the orders
//! hash, in the same atomic step; without it, the script and its arguments
//! are the ones the strategy always ran. The plain `EVALSHA` is built once
//! per client and segment and sent again as it is (its key and quantity
//! never change); a server without the script gets it with `SCRIPT LOAD`.

use super::{outcome_of, sources, stock, written, Client, Context, Prepared};
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
        let started = ctx.sent;
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
        let reply: redis::RedisResult<i64> = match self.settings.record_orders {
            true => {
                let mut call = self.script.key(&ctx.keys.stock);
                call.arg(ctx.quantity)
                    .key(&ctx.keys.orders)
                    .arg(client.purchase_id())
                    .arg(ctx.buyer);
                call.invoke_async(&mut client.conn).await
            }
            false => self.prepared(client, ctx).await,
        };
        written(reply, |reply| match reply {
            1 => Outcome::Sold,
            0 => Outcome::SoldOut,
            _ => Outcome::Error(ErrorKind::NoStock),
        })
    }

    /// `EVALSHA <sha> 1 <stock> <quantity>`, built on the client's first
    /// purchase on this segment; loaded and sent again once if the server
    /// does not know the script (a restart, a new primary).
    async fn prepared(&self, client: &mut Client, ctx: &Context<'_>) -> redis::RedisResult<i64> {
        let stock = ctx.keys.stock.as_str();
        let at = client.prepare(stock, Prepared::Evalsha, || {
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(self.script.get_hash())
                .arg(1)
                .arg(stock)
                .arg(ctx.quantity);
            cmd
        });
        let cmd = &client.prepared[at].2;
        match cmd.query_async(&mut client.conn).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.script
                    .prepare_invoke()
                    .load_async(&mut client.conn)
                    .await?;
                cmd.query_async(&mut client.conn).await
            }
            reply => reply,
        }
    }
}
