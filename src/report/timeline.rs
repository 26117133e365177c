//! `timeline.csv` and `timeline.svg`: the run interval by interval, so a
//! person sees when the stock ran out or the lock collapsed.

use serde::Serialize;

use super::timeline_svg::{self, SloLimit, TimelinePoint};
use crate::phase::Phase;
use crate::record::RunRecord;
use crate::scenario::Pace;
use crate::timeline::TimelineRow;

#[derive(Serialize)]
struct Row {
    /// End of the interval, seconds since the start.
    t_s: f64,
    interval_s: f64,
    purchases: u64,
    sales: u64,
    /// Sold out, gave up or fenced out.
    rejected: u64,
    errors: u64,
    late: u64,
    dropped: u64,
    stock: Option<i64>,
    purchases_per_s: f64,
    sales_per_s: f64,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
    max_us: Option<u64>,
    /// Open loop: the purchases/s the schedule offered in the interval;
    /// empty in a closed loop.
    target_per_s: Option<f64>,
    /// `connections = "pool"`: the p99 wait for a pooled connection in the
    /// interval; empty otherwise.
    pool_wait_p99_us: Option<u64>,
}

fn per_s(n: u64, row: &TimelineRow) -> f64 {
    let secs = row.length.as_secs_f64();
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// The open loop's offered purchases/s over the interval: the schedule's
/// arrivals in it (none after the stop rule's duration) over its real
/// length (the last one may be shorter).
fn target_per_s(record: &RunRecord, r: &TimelineRow) -> Option<f64> {
    let Pace::Open { rate, .. } = &record.scenario.load.pace else {
        return None;
    };
    let secs = r.length.as_secs_f64();
    // The schedule ends with the stop rule's duration; the rows after it
    // only see the purchases in flight finish.
    let until = |t: std::time::Duration| match record.scenario.load.stop.duration {
        Some(stop) => t.min(stop),
        None => t,
    };
    let arrivals = rate.integral(until(r.end)) - rate.integral(until(r.start));
    (secs > 0.0).then(|| (arrivals / secs * 10.0).round() / 10.0)
}

fn row(record: &RunRecord, r: &TimelineRow) -> Row {
    let c = &r.counters;
    Row {
        t_s: (r.end.as_secs_f64() * 1000.0).round() / 1000.0,
        interval_s: (r.length.as_secs_f64() * 1000.0).round() / 1000.0,
        purchases: c.attempts,
        sales: c.sales,
        rejected: c.rejected_sold_out + c.gave_up + c.fenced_out,
        errors: c.error_total(),
        late: c.late,
        dropped: c.dropped,
        stock: r.stock,
        purchases_per_s: per_s(c.attempts, r),
        sales_per_s: per_s(c.sales, r),
        p50_us: r.p50_us,
        p99_us: r.p99_us,
        max_us: r.max_us,
        target_per_s: target_per_s(record, r),
        pool_wait_p99_us: phase_at(r, Phase::PoolWait, 0.99),
    }
}

pub fn render_csv(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    super::csv_bytes(record.timeline.rows.iter().map(|r| row(record, r)))
}

/// The SLO's first latency limit, to draw; with the percentile to read
/// off each interval's purchase histogram.
fn slo_limit(record: &RunRecord) -> Option<(f64, SloLimit)> {
    let slo = record.scenario.report.slo.as_ref()?;
    let (q, name, limit) = slo.latency.first()?;
    let limit = SloLimit {
        name: name.clone(),
        limit_us: limit.as_micros() as u64,
    };
    Some((*q, limit))
}

/// The interval's purchase latency at quantile `q`, µs.
fn purchase_at(r: &TimelineRow, q: f64) -> Option<u64> {
    phase_at(r, Phase::Purchase, q)
}

/// The interval's `phase` at quantile `q`, µs; `None` when it recorded
/// nothing then.
fn phase_at(r: &TimelineRow, phase: Phase, q: f64) -> Option<u64> {
    let (_, h) = r.histograms.iter().find(|(p, _)| *p == phase)?;
    let h = h.histogram().ok()?;
    (!h.is_empty()).then(|| h.value_at_quantile(q))
}

pub fn render_svg(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let slo = slo_limit(record);
    let points: Vec<TimelinePoint> = record
        .timeline
        .rows
        .iter()
        .map(|r| TimelinePoint {
            t_s: r.end.as_secs_f64(),
            purchases_per_s: per_s(r.counters.attempts, r),
            sales_per_s: per_s(r.counters.sales, r),
            errors: r.counters.error_total(),
            stock: r.stock,
            p50_us: r.p50_us,
            p99_us: r.p99_us,
            max_us: r.max_us,
            target_per_s: target_per_s(record, r),
            slo_us: slo.as_ref().and_then(|(q, _)| purchase_at(r, *q)),
        })
        .collect();
    let title = format!(
        "{} ({}): over time",
        record.scenario.name,
        record.scenario.strategy.kind.name()
    );
    timeline_svg::render(&title, &points, slo.as_ref().map(|(_, limit)| limit))
}
