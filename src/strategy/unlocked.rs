//! The negative control: the article's `GET` / `INCRBY` without any lock.
//! Under contention it must oversell; if it does not, the load is too light
//! to tell strategies apart.

use std::time::Instant;

use super::{stock, Client, Context, ErrorKind, Outcome, PurchaseReport};
use crate::scenario::{Stall, StrategySettings};

pub struct Unlocked {
    stall: Stall,
}

impl Unlocked {
    pub fn new(settings: &StrategySettings) -> Unlocked {
        Unlocked {
            stall: settings.stall,
        }
    }

    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = Instant::now();
        report.outcome = stock::check_then_decrement(client, ctx, &self.stall)
            .await
            .unwrap_or_else(|e| Outcome::Error(ErrorKind::of(&e)));
        report.critical_section = Some(started.elapsed());
        report
    }
}
