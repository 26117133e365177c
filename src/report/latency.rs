//! `latency.csv` (a fixed percentile ladder per phase, for scripts) and
//! `latency.svg` (HdrHistogram's full percentile distribution, for people).

use hdrhistogram::Histogram;
use serde::Serialize;

use super::latency_svg::{self, PhaseCurve};
use crate::phase::Phase;
use crate::record::RunRecord;

/// Percentiles every phase reports in `latency.csv`.
pub const LADDER: [f64; 10] = [
    0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 99.999, 100.0,
];

#[derive(Serialize)]
struct Row {
    phase: &'static str,
    percentile: f64,
    value_us: u64,
    /// Samples at or below `value_us`.
    count: u64,
}

pub fn render_csv(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let rows = Phase::ALL.into_iter().flat_map(|phase| {
        let h = record.totals.histograms.get(phase);
        LADDER.into_iter().map(move |percentile| {
            let value_us = h.value_at_quantile(percentile / 100.0);
            Row {
                phase: phase.name(),
                percentile,
                value_us,
                count: if h.is_empty() {
                    0
                } else {
                    h.count_between(0, value_us)
                },
            }
        })
    });
    super::csv_bytes(rows)
}

pub fn render_svg(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let curves: Vec<PhaseCurve<'_>> = Phase::ALL
        .into_iter()
        .map(|phase| PhaseCurve {
            name: phase.name(),
            points: distribution(record.totals.histograms.get(phase)),
        })
        .filter(|c| !c.points.is_empty())
        .collect();
    let title = format!(
        "{} ({}): latency by percentile",
        record.scenario.name,
        record.scenario.strategy.kind.name()
    );
    latency_svg::render(&title, &curves)
}

/// The percentile distribution HdrHistogram prints (5 ticks per halving).
fn distribution(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut points: Vec<(f64, u64)> = h
        .iter_quantiles(5)
        .map(|v| {
            (
                v.quantile_iterated_to() * 100.0,
                h.highest_equivalent(v.value_iterated_to()),
            )
        })
        .collect();
    points.dedup_by(|b, a| a.0 == b.0);
    points
}
