//! `seckill-bench compare <BASELINE> <CANDIDATE>`: the CI regression gate.
//! Two run folders (their `summary.csv`) or two sweep folders (their
//! `sweep.csv`, points matched by their swept values). Prints each figure
//! with its change, writes `compare.csv` and `compare.svg` into the
//! candidate folder, and exits 3 when throughput fell or p99 rose by more
//! than the tolerance, 1 when the candidate oversold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::Error;
use crate::report::{self, compare::Change};

type Row = HashMap<String, String>;

/// Figures compared, and whether higher is better. Only throughput and p99
/// gate; the others are context.
const FIGURES: [(&str, bool, bool); 7] = [
    ("purchases_per_s", true, true),
    ("p50_us", false, false),
    ("p90_us", false, false),
    ("p99_us", false, true),
    ("p999_us", false, false),
    ("max_us", false, false),
    ("errors", false, false),
];

/// # Errors
/// [`Error::Usage`] when a folder holds no comparable report;
/// [`Error::Environment`] when the outputs cannot be written.
pub fn compare_command(
    baseline: &Path,
    candidate: &Path,
    max_regression: f64,
) -> Result<u8, Error> {
    let (base, cand) = (load(baseline)?, load(candidate)?);
    if base.sweep_fields != cand.sweep_fields {
        return Err(Error::Usage(format!(
            "{} and {} are not the same kind of report (swept fields {:?} vs {:?})",
            baseline.display(),
            candidate.display(),
            base.sweep_fields,
            cand.sweep_fields
        )));
    }
    let changes = compare(&base, &cand, max_regression);
    let oversold: Vec<&str> = cand
        .rows
        .iter()
        .filter(|(_, r)| num(r, "oversold") > 0.0)
        .map(|(p, _)| p.as_str())
        .collect();
    let missing: Vec<&str> = base
        .rows
        .iter()
        .filter(|(p, _)| !cand.rows.iter().any(|(q, _)| q == p))
        .map(|(p, _)| p.as_str())
        .collect();
    report::compare::write(candidate, &changes, max_regression)?;
    print!("{}", report::compare::table(&changes, max_regression));
    for point in &missing {
        println!("missing in the candidate: {point}");
    }
    for point in &oversold {
        println!("OVERSOLD in the candidate: {point}");
    }
    let regressed = changes.iter().any(|c| c.regression);
    println!("written: {}", candidate.join("compare.csv").display());
    Ok(if !oversold.is_empty() {
        1
    } else if regressed || !missing.is_empty() {
        3
    } else {
        0
    })
}

/// A report folder's rows, keyed by point (`run` for a single run).
struct Report {
    sweep_fields: Vec<String>,
    rows: Vec<(String, Row)>,
}

fn load(dir: &Path) -> Result<Report, Error> {
    let (sweep, summary) = (dir.join("sweep.csv"), dir.join("summary.csv"));
    let path: PathBuf = if sweep.is_file() {
        sweep
    } else if summary.is_file() {
        summary
    } else {
        return Err(Error::Usage(format!(
            "{} holds neither summary.csv nor sweep.csv: give a run or sweep folder written by seckill-bench",
            dir.display()
        )));
    };
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(anyhow::Error::from)?
        .iter()
        .map(str::to_owned)
        .collect();
    let fields: Vec<String> = header
        .iter()
        .take_while(|h| *h != "scenario")
        .cloned()
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(anyhow::Error::from)?;
        let row: Row = header
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        let point = if fields.is_empty() {
            "run".to_owned()
        } else {
            fields
                .iter()
                .map(|f| format!("{f}={}", row[f]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.push((point, row));
    }
    Ok(Report {
        sweep_fields: fields,
        rows,
    })
}

fn num(row: &Row, column: &str) -> f64 {
    row.get(column).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// Every figure of every point present in both reports.
fn compare(base: &Report, cand: &Report, max_regression: f64) -> Vec<Change> {
    let mut changes = Vec::new();
    for (point, b) in &base.rows {
        let Some((_, c)) = cand.rows.iter().find(|(q, _)| q == point) else {
            continue;
        };
        for (figure, higher_is_better, gates) in FIGURES {
            let (baseline, candidate) = (num(b, figure), num(c, figure));
            let change_pct = (baseline != 0.0).then(|| (candidate - baseline) / baseline * 100.0);
            let worse =
                change_pct.is_some_and(|p| if higher_is_better { -p } else { p } > max_regression);
            changes.push(Change {
                point: point.clone(),
                figure,
                baseline,
                candidate,
                change_pct,
                regression: gates && worse,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(points: &[(&str, f64, f64, f64)]) -> Report {
        let rows = points
            .iter()
            .map(|(point, rate, p99, oversold)| {
                let row: Row = [
                    ("purchases_per_s", rate),
                    ("p99_us", p99),
                    ("oversold", oversold),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_string()))
                .collect();
                (point.to_string(), row)
            })
            .collect();
        Report {
            sweep_fields: Vec::new(),
            rows,
        }
    }

    fn regressions(base: &Report, cand: &Report) -> Vec<(String, &'static str)> {
        compare(base, cand, 10.0)
            .into_iter()
            .filter(|c| c.regression)
            .map(|c| (c.point, c.figure))
            .collect()
    }

    #[test]
    fn throughput_drop_and_p99_rise_beyond_tolerance_regress() {
        let base = report(&[("a", 1000.0, 500.0, 0.0), ("b", 1000.0, 500.0, 0.0)]);
        let cand = report(&[("a", 850.0, 520.0, 0.0), ("b", 1200.0, 600.0, 0.0)]);
        assert_eq!(
            regressions(&base, &cand),
            [
                ("a".to_owned(), "purchases_per_s"),
                ("b".to_owned(), "p99_us")
            ]
        );
    }

    #[test]
    fn changes_within_tolerance_or_for_the_better_pass() {
        let base = report(&[("run", 1000.0, 500.0, 0.0)]);
        let cand = report(&[("run", 950.0, 540.0, 0.0)]);
        assert!(regressions(&base, &cand).is_empty());
        let better = report(&[("run", 2000.0, 100.0, 0.0)]);
        assert!(regressions(&base, &better).is_empty());
        let c = compare(&base, &cand, 10.0);
        assert_eq!(c[0].change_pct.map(f64::round), Some(-5.0));
    }
}
