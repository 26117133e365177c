//! The negative control: the article's `GET` / `INCRBY` without any lock.
//! Under contention it must oversell; if it does not, the load is too light
//! to tell strategies apart.

use super::{outcome_of, stock, Client, Context};
use crate::outcome::PurchaseReport;
use crate::scenario::StrategySettings;

pub struct Unlocked(pub StrategySettings);

impl Unlocked {
    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = ctx.sent;
        report.outcome = outcome_of(stock::check_then_decrement(client, ctx, &self.0).await);
        report.critical_section = Some(started.elapsed());
        report
    }
}
