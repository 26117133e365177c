//! Optimistic concurrency: `WATCH stock`, `GET`, `MULTI` / `DECRBY` /
//! `EXEC`; when another buyer changed the stock in between, `EXEC` aborts
//! and the buyer starts over (each abort counted). The client owns its
//! connection: `WATCH` state is per connection. With `record_orders`, the
//! sale's `HSET orders <purchase id> <buyer>` is queued in the same
//! transaction, so it commits or aborts with the decrement.

use super::{outcome_of, stock, written, Client, Context};
use crate::outcome::{Outcome, PurchaseReport};
use crate::scenario::StrategySettings;

pub struct Watch(pub StrategySettings);

impl Watch {
    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = ctx.sent;
        report.outcome = outcome_of(self.until_committed(client, ctx, &mut report).await);
        if report.outcome != Outcome::Cancelled {
            report.critical_section = Some(started.elapsed());
        }
        report
    }

    async fn until_committed(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
        report: &mut PurchaseReport,
    ) -> redis::RedisResult<Outcome> {
        let id = self.0.record_orders.then(|| client.purchase_id());
        loop {
            if ctx.stop.is_stopped() {
                return Ok(Outcome::Cancelled);
            }
            let () = redis::cmd("WATCH")
                .arg(&ctx.keys.stock)
                .query_async(&mut client.conn)
                .await?;
            if let Err(outcome) = stock::check(client, ctx).await? {
                let () = redis::cmd("UNWATCH").query_async(&mut client.conn).await?;
                return Ok(outcome);
            }
            stock::stall(client, ctx, &self.0.stall).await;
            let mut transaction = redis::pipe();
            transaction.atomic().decr(&ctx.keys.stock, ctx.quantity);
            if let Some(id) = &id {
                transaction.hset(&ctx.keys.orders, id, ctx.buyer).ignore();
            }
            let committed: redis::RedisResult<Option<(i64,)>> =
                transaction.query_async(&mut client.conn).await;
            match committed {
                Ok(Some(_)) => return Ok(Outcome::Sold),
                Ok(None) => report.watch_aborts += 1,
                Err(e) => return written(Err::<(), _>(e), |()| Outcome::Sold),
            }
        }
    }
}
