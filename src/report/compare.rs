//! The outputs of `compare`: `compare.csv` (every figure of every point,
//! compared), `compare.svg` (throughput and p99 of the candidate as a
//! percentage of the baseline, regressions in red) and the table printed to
//! the terminal. Reading the reports and judging them is `crate::compare`'s.

use std::path::Path;

use serde::Serialize;

use super::sweep_svg::{self, Bar};

/// One figure of one point, compared; field order is column order.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub point: String,
    pub figure: &'static str,
    pub baseline: f64,
    pub candidate: f64,
    /// Relative change in percent; empty when the baseline is 0.
    pub change_pct: Option<f64>,
    pub regression: bool,
}

/// Renders both outputs, then writes `compare.csv` and `compare.svg` into
/// `dir`, each atomically: a rendering failure writes neither.
///
/// # Errors
/// When rendering fails or `dir` is not writable.
pub fn write(dir: &Path, changes: &[Change], max_regression: f64) -> anyhow::Result<()> {
    let csv = render_csv(changes)?;
    let svg = render_svg(changes, max_regression)?;
    super::write_atomically(&dir.join("compare.csv"), &csv)?;
    super::write_atomically(&dir.join("compare.svg"), &svg)
}

/// # Errors
/// When CSV encoding fails.
pub fn render_csv(changes: &[Change]) -> anyhow::Result<Vec<u8>> {
    super::csv_bytes(changes)
}

/// Throughput and p99 of every point, as a percentage of the baseline.
///
/// # Errors
/// When SVG rendering fails.
pub fn render_svg(changes: &[Change], max_regression: f64) -> anyhow::Result<Vec<u8>> {
    let bars: Vec<Bar> = changes
        .iter()
        .filter(|c| c.figure == "purchases_per_s" || c.figure == "p99_us")
        .map(|c| Bar {
            label: if c.point == "run" {
                c.figure.to_owned()
            } else {
                format!("{}: {}", c.point, c.figure)
            },
            value: if c.baseline == 0.0 {
                0.0
            } else {
                c.candidate / c.baseline * 100.0
            },
            alarm: c.regression,
        })
        .collect();
    let regressions = bars.iter().filter(|b| b.alarm).count();
    let note = if regressions > 0 {
        format!("{regressions} regression(s) beyond {max_regression}% (red)")
    } else {
        format!("no regression beyond {max_regression}%")
    };
    sweep_svg::bar_chart(
        "candidate as % of baseline (100% = unchanged)",
        "% of baseline",
        &bars,
        false,
        Some(&note),
    )
}

/// The table printed to the terminal: one line per figure, regressions flagged.
pub fn table(changes: &[Change], max_regression: f64) -> String {
    let mut out = format!(
        "{:<40} {:<16} {:>14} {:>14} {:>9}\n",
        "point", "figure", "baseline", "candidate", "change"
    );
    for c in changes {
        let change = c
            .change_pct
            .map_or("n/a".to_owned(), |p| format!("{p:+.1}%"));
        let flag = if c.regression {
            format!("  REGRESSION (> {max_regression}%)")
        } else {
            String::new()
        };
        out += &format!(
            "{:<40} {:<16} {:>14.1} {:>14.1} {:>9}{flag}\n",
            c.point, c.figure, c.baseline, c.candidate, change
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(point: &str, figure: &'static str, baseline: f64, candidate: f64) -> Change {
        Change {
            point: point.to_owned(),
            figure,
            baseline,
            candidate,
            change_pct: (baseline != 0.0).then(|| (candidate - baseline) / baseline * 100.0),
            regression: candidate < baseline * 0.9,
        }
    }

    #[test]
    fn csv_has_one_row_per_change_and_an_empty_change_for_a_zero_baseline() {
        let csv = render_csv(&[
            change("run", "purchases_per_s", 1000.0, 800.0),
            change("run", "errors", 0.0, 3.0),
        ])
        .unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "point,figure,baseline,candidate,change_pct,regression\n\
             run,purchases_per_s,1000.0,800.0,-20.0,true\n\
             run,errors,0.0,3.0,,false\n"
        );
    }

    #[test]
    fn table_flags_regressions_and_chart_counts_them() {
        let changes = [
            change("a", "purchases_per_s", 1000.0, 800.0),
            change("a", "p99_us", 500.0, 500.0),
        ];
        let table = table(&changes, 10.0);
        assert!(table
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("-20.0%  REGRESSION (> 10%)"));
        assert!(!table.lines().nth(2).unwrap().contains("REGRESSION"));
        let svg = String::from_utf8(render_svg(&changes, 10.0).unwrap()).unwrap();
        assert!(svg.contains("1 regression(s) beyond 10% (red)"), "{svg}");
    }
}
