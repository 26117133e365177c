//! The outputs of `capacity`: `capacity.csv` (one row per step),
//! `capacity.svg` (achieved against offered purchases/s), `capacity-latency.svg`
//! (the SLO's percentile against offered, with its limit) and `index.html`.
//! The search itself is `crate::cmd::capacity`'s.

use std::path::Path;

use super::sweep_svg::{line_chart, Line};
use crate::scenario::CapacityPlan;
use crate::util::format::grouped_f64 as grouped;
use crate::verdict::Verdict;

/// One step of the search, as `capacity.csv` has it; field order is column
/// order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRow {
    pub rate: f64,
    pub achieved: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub errors: u64,
    pub slo_met: bool,
    pub verdict: Verdict,
    pub folder: String,
    /// The rate's judgment, the same on each of its trials: every trial
    /// reached 95% of the rate, dropped nothing and passed, and the trials
    /// pooled met the SLO.
    pub sustained: bool,
    /// The SLO's first percentile over all the rate's trials, µs; empty
    /// when the rate was never judged (the search stopped during it).
    pub pooled_us: Option<u64>,
    /// `search`, `check 0.8x`, `check 1.25x` (the found rate looked at
    /// again) or `at` (`--at`).
    pub role: &'static str,
}

/// What the page says besides the steps.
pub struct CapacityPage<'a> {
    pub plan: &'a CapacityPlan,
    pub headline: &'a str,
    pub verdict: Verdict,
    /// The highest sustained rate, drawn as the knee.
    pub knee: Option<f64>,
}

/// `capacity.csv`, `capacity.svg` (achieved against offered),
/// `capacity-latency.svg` (the SLO's latency against offered, with its
/// limit) and `index.html`, written atomically.
///
/// # Errors
/// When a chart cannot be rendered or the folder is not writable.
pub fn write(out: &Path, steps: &[&StepRow], page: &CapacityPage<'_>) -> anyhow::Result<()> {
    let plan = page.plan;
    let mut sorted: Vec<&StepRow> = steps.to_vec();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let line = |label: &str, f: &dyn Fn(&StepRow) -> f64| Line {
        label: label.to_owned(),
        points: sorted.iter().map(|s| (s.rate, f(s))).collect(),
    };
    // The knee: a vertical line at the rate found, across the data.
    let knee = |points: &[(f64, f64)]| -> Option<Line> {
        let rate = page.knee?;
        let ys = points.iter().map(|p| p.1);
        let (lo, hi) = (ys.clone().fold(f64::MAX, f64::min), ys.fold(0.0, f64::max));
        Some(Line {
            label: format!("max sustainable {}/s", grouped(rate)),
            points: vec![(rate, lo), (rate, hi)],
        })
    };
    let mut throughput = vec![
        line("achieved", &|s| s.achieved),
        line("offered", &|s| s.rate),
    ];
    throughput.extend(knee(&throughput[1].points));
    let capacity = line_chart(
        &format!("{}: achieved against offered purchases/s", plan.name),
        "offered purchases/s",
        "purchases/s",
        &throughput,
        false,
    )?;
    let (name, limit_us) = plan
        .slo
        .latency
        .first()
        .map_or(("p99".to_owned(), None), |(_, n, l)| {
            (n.clone(), Some(l.as_micros() as f64))
        });
    // One point per rate: its trials pooled, as it was judged.
    let mut pooled: Vec<(f64, f64)> = sorted
        .iter()
        .filter_map(|s| Some((s.rate, s.pooled_us? as f64)))
        .collect();
    pooled.dedup_by(|a, b| a.0 == b.0);
    let mut latency = vec![Line {
        label: format!("{name} over each rate's trials (µs)"),
        points: pooled,
    }];
    if let Some(limit) = limit_us {
        latency.push(line("SLO limit", &|_| limit));
    }
    let all: Vec<(f64, f64)> = latency.iter().flat_map(|l| l.points.clone()).collect();
    latency.extend(knee(&all));
    let latency = line_chart(
        &format!("{}: {name} against offered purchases/s", plan.name),
        "offered purchases/s",
        &format!("{name} latency (µs)"),
        &latency,
        true,
    )?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    for s in steps {
        csv.serialize(s)?;
    }
    let charts = vec![
        ("capacity.svg".to_owned(), capacity),
        ("capacity-latency.svg".to_owned(), latency),
    ];
    let html = index(steps, page, &charts);
    std::fs::create_dir_all(out)?;
    super::write_atomically(&out.join("capacity.csv"), &csv.into_inner()?)?;
    super::write_atomically(&out.join("index.html"), &html)?;
    for (file, bytes) in &charts {
        super::write_atomically(&out.join(file), bytes)?;
    }
    Ok(())
}

fn index(steps: &[&StepRow], page: &CapacityPage<'_>, charts: &[(String, Vec<u8>)]) -> Vec<u8> {
    let plan = page.plan;
    let columns = [
        "step",
        "rate",
        "achieved",
        "p50 (ms)",
        "p99 (ms)",
        "p99.9 (ms)",
        "errors",
        "SLO met",
        "verdict",
        "sustained",
    ];
    let rows = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                format!("{:03}", i + 1),
                grouped(s.rate),
                grouped(s.achieved),
                format!("{:.1}", s.p50_us as f64 / 1e3),
                format!("{:.1}", s.p99_us as f64 / 1e3),
                format!("{:.1}", s.p999_us as f64 / 1e3),
                s.errors.to_string(),
                s.slo_met.to_string(),
                s.verdict.to_string(),
                s.sustained.to_string(),
            ]
        })
        .collect();
    let title = format!("capacity {}", plan.name);
    let facts = vec![
        ("SLO".to_owned(), plan.slo.text.clone()),
        (
            "steps".to_owned(),
            format!(
                "{} of {:.0} s each ({} trial(s) a rate), fixed-rate open loop, from {}/s up to {}/s, to {:.0}%",
                steps.len(),
                plan.step_duration.as_secs_f64(),
                plan.trials,
                grouped(plan.min_rate),
                grouped(plan.max_rate),
                plan.precision * 100.0
            ),
        ),
    ];
    let html = super::html::Page {
        title: &title,
        verdict: page.verdict,
        headline: page.headline,
        facts,
        summary: (columns.map(str::to_owned).to_vec(), rows),
        links: steps
            .iter()
            .map(|s| Some(format!("{}/index.html", s.folder)))
            .collect(),
        audit: Vec::new(),
        notes: Vec::new(),
        advice: Vec::new(),
        charts: charts.to_vec(),
    };
    super::html::render(&html)
}
