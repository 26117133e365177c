//! `workers.csv`: one row per worker process, so a skewed or failing worker
//! stands out and the per-worker sales add up to the summary.

use serde::Serialize;

use crate::record::RunRecord;

#[derive(Serialize)]
struct Row {
    worker: usize,
    pid: u32,
    attempts: u64,
    sold: u64,
    rejected_sold_out: u64,
    wait_timeouts: u64,
    errors: u64,
    lock_failures: u64,
    sales: u64,
}

pub fn render(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    super::csv_bytes(record.workers.iter().map(|w| Row {
        worker: w.index,
        pid: w.pid,
        attempts: w.counters.attempts,
        sold: w.counters.sold_units,
        rejected_sold_out: w.counters.rejected_sold_out,
        wait_timeouts: w.counters.wait_timeouts,
        errors: w.counters.error_total(),
        lock_failures: w.counters.lock_failures,
        sales: w.counters.sales,
    }))
}
