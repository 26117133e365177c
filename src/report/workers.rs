//! `workers.csv`: one row per worker process, so a skewed or failing worker
//! stands out and the per-worker sales add up to the summary.

use serde::Serialize;

use crate::record::RunRecord;

#[derive(Serialize)]
struct Row<'a> {
    worker: usize,
    pid: u32,
    host: &'a str,
    attempts: u64,
    sold: u64,
    rejected_sold_out: u64,
    wait_timeouts: u64,
    errors: u64,
    lock_failures: u64,
    sales: u64,
    cpu_s: String,
}

pub fn render(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    super::csv_bytes(record.workers.iter().map(|w| Row {
        worker: w.index,
        pid: w.pid,
        host: &w.host,
        attempts: w.counters.attempts,
        sold: w.counters.sold_units,
        rejected_sold_out: w.counters.rejected_sold_out,
        wait_timeouts: w.counters.wait_timeouts,
        errors: w.counters.error_total(),
        lock_failures: w.counters.lock_failures,
        sales: w.counters.sales,
        cpu_s: w.cpu_s.map(|c| format!("{c:.3}")).unwrap_or_default(),
    }))
}

#[derive(Serialize)]
struct HostRow<'a> {
    host: &'a str,
    processes: u32,
    go_rtt_us: String,
    clock_offset_us: String,
    cpu_s: String,
    shipped: bool,
    lost: bool,
}

/// `hosts.csv`: one row per load host (`local` without `[hosts]`).
pub fn render_hosts(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let shown = |v: Option<String>| v.unwrap_or_default();
    super::csv_bytes(record.hosts.iter().map(|h| HostRow {
        host: &h.name,
        processes: h.processes,
        go_rtt_us: shown(h.go_rtt_us.map(|v| v.to_string())),
        clock_offset_us: shown(h.clock_offset_us.map(|v| v.to_string())),
        cpu_s: format!("{:.3}", h.cpu_s),
        shipped: h.shipped,
        lost: h.lost,
    }))
}
