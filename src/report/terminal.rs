//! The few lines printed at the end of a run.

use std::fmt::Write;
use std::path::Path;

use super::SummaryRow;
use crate::record::RunRecord;

/// The final stock in words: a number, "gone" (reset), or "unknown" when
/// Redis could not be read at the end.
fn final_stock(record: &RunRecord) -> String {
    match record.final_stock {
        Some(stock) => stock.to_string(),
        None if record.verdict.target_lost() => "unknown".to_owned(),
        None => "gone".to_owned(),
    }
}

pub fn terminal_summary(record: &RunRecord, dir: &Path) -> String {
    let row = SummaryRow::new(record);
    let mut out = String::new();
    let verdict = &record.verdict;
    let _ = writeln!(
        out,
        "{} [{}] {}: {}",
        row.scenario,
        row.strategy,
        verdict.banner(),
        verdict.headline
    );
    if record.interrupted {
        let _ = writeln!(out, "  (interrupted: stopped early by a signal)");
    }
    let _ = writeln!(
        out,
        "  stock {} -> {}, sold {}, unsold {}, {} attempts ({} rejected sold out, {} errors) in {:.3}s",
        row.initial_stock, final_stock(record), row.sold, row.unsold, row.attempts,
        row.rejected_sold_out, row.errors, row.duration_s
    );
    for failed in record
        .audit
        .invariants
        .iter()
        .chain(&record.thresholds)
        .filter(|i| !i.pass)
    {
        let _ = writeln!(
            out,
            "  broken: {} (expected {}, observed {})",
            failed.name, failed.expected, failed.observed
        );
    }
    let _ = writeln!(
        out,
        "  {:.1} purchases/s; purchase latency p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        row.purchases_per_s, row.p50_us, row.p99_us, row.p999_us, row.max_us
    );
    let _ = writeln!(
        out,
        "  lock failures {}, wait timeouts {}",
        row.lock_failures, row.wait_timeouts
    );
    if let Some(size) = row.pool_size {
        let timeouts = record
            .totals
            .counters
            .errors
            .get("pool_timeout")
            .copied()
            .unwrap_or(0);
        let wait = match row.pool_wait_p99_us {
            Some(us) => {
                format!("; waiting for one: p99 {us} us, {timeouts} gave up (pool_timeout)")
            }
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  connections: {size} {} per process{wait}",
            match row.connections {
                "pool" => "pooled",
                other => other,
            }
        );
    }
    if let Some(target) = row.target_rate {
        let reached = if row.rate_reached == Some(true) {
            "reached"
        } else {
            "NOT reached"
        };
        let _ = writeln!(
            out,
            "  open loop: target {target:.1} purchases/s {reached}; {} late, {} dropped; service p99 {} us",
            row.late, row.dropped, row.service_p99_us
        );
    }
    for event in &record.faults {
        let _ = writeln!(
            out,
            "  fault #{} {} at {:.2}s: {}",
            event.declared,
            event.fault,
            event.at.as_secs_f64(),
            event.what
        );
    }
    for line in super::stall_lines(record)
        .into_iter()
        .chain(super::lock_safety::lines(record))
        .chain(super::history::lines(record))
        .chain(super::script::lines(record))
    {
        let _ = writeln!(out, "  {line}");
    }
    for advice in crate::advice::advise(record).iter().filter(|a| a.warn) {
        let _ = writeln!(out, "  advice on {}: {}", advice.setting, advice.advice);
    }
    for key in &record.keys_left {
        let _ = writeln!(out, "  could not delete {key}: delete it by hand");
    }
    if row.in_doubt > 0 || row.lost > 0 {
        let why = match row.unconfirmed {
            0 => "reply lost".to_owned(),
            n => format!("reply lost, or {n} unconfirmed by WAIT"),
        };
        let _ = writeln!(
            out,
            "  {} purchase(s) in doubt ({why}), {} unit(s) left the stock without a recorded sale",
            row.in_doubt, row.lost
        );
    }
    if row.segments > 1 {
        let _ = writeln!(
            out,
            "  {} segments: {} extra segment(s) tried, {} unit(s) stranded (sellable while buyers were told sold out)",
            row.segments, row.segment_hops, row.stranded
        );
    }
    if row.rediscoveries > 0 {
        let _ = writeln!(
            out,
            "  {} client reconnection(s) found a new primary through Sentinel",
            row.rediscoveries
        );
    }
    let server = match &record.server {
        Some(server) => format!(" ({server})"),
        None => String::new(),
    };
    let _ = writeln!(out, "  redis: {}{server}", record.redis);
    let _ = write!(out, "  report: {}", dir.display());
    out
}
