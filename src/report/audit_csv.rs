//! `audit.csv`: one row per stock invariant, then one per threshold.

use crate::record::RunRecord;

pub fn render(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    super::csv_bytes(record.audit.invariants.iter().chain(&record.thresholds))
}
