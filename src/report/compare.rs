//! The outputs of `compare`: `compare.csv` (every figure of every point,
//! compared), `compare.svg` (throughput and p99 of the candidate as a
//! percentage of the baseline, regressions in red) and the table printed to
//! the terminal. Reading the reports and judging them is `crate::cmd::compare`'s.

use std::path::Path;

use serde::Serialize;

use super::sweep_svg::{self, Bar};
use crate::verdict::Verdict;

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

/// What `compare.html` says besides the figures.
pub struct Outcome {
    /// PASS, REGRESSION or FAIL (the candidate oversold).
    pub word: Verdict,
    /// Regressions, missing points and oversold points, in words.
    pub notes: Vec<String>,
}

/// Renders the outputs, then writes `compare.csv`, `compare.svg` and
/// `compare.html` (the verdict, links to both reports' pages, the chart)
/// into the candidate folder, each atomically: a rendering failure writes
/// none.
///
/// # Errors
/// When rendering fails or the folder is not writable.
pub fn write(
    (baseline, candidate): (&Path, &Path),
    changes: &[Change],
    max_regression: f64,
    verdict: &Outcome,
) -> anyhow::Result<()> {
    let csv = render_csv(changes)?;
    let svg = render_svg(changes, max_regression)?;
    let html = render_html(
        (baseline, candidate),
        changes,
        max_regression,
        verdict,
        &svg,
    );
    super::write_atomically(&candidate.join("compare.csv"), &csv)?;
    super::write_atomically(&candidate.join("compare.svg"), &svg)?;
    super::write_atomically(&candidate.join("compare.html"), &html)
}

/// The comparison on one page: which two reports (each linking to its own
/// `index.html`, run or sweep), the verdict, what regressed, the chart.
fn render_html(
    (baseline, candidate): (&Path, &Path),
    changes: &[Change],
    max_regression: f64,
    verdict: &Outcome,
    svg: &[u8],
) -> Vec<u8> {
    let regressions = changes.iter().filter(|c| c.regression).count();
    let headline = format!(
        "{regressions} figure(s) beyond {max_regression}% of the baseline, over {} figure(s) compared",
        changes.len()
    );
    let link = |dir: &Path| {
        dir.join("index.html")
            .is_file()
            .then(|| format!("{}/index.html", relative(candidate, dir)))
    };
    let rows = vec![
        vec!["baseline".to_owned(), baseline.display().to_string()],
        vec!["candidate".to_owned(), candidate.display().to_string()],
    ];
    let title = format!(
        "compare {} with {}",
        candidate.display(),
        baseline.display()
    );
    let page = super::html::Page {
        title: &title,
        verdict: verdict.word,
        headline: &headline,
        facts: vec![(
            "max regression".to_owned(),
            format!("{max_regression}% (purchases/s down or p99 up)"),
        )],
        summary: (vec!["report".to_owned(), "folder".to_owned()], rows),
        links: vec![link(baseline), link(candidate)],
        audit: Vec::new(),
        notes: verdict.notes.clone(),
        advice: Vec::new(),
        charts: vec![(
            "The candidate as a percentage of the baseline".to_owned(),
            svg.to_vec(),
        )],
    };
    super::html::render(&page)
}

/// `to` as a path relative to `from` (both folders), for a link; the
/// absolute path when they share nothing but the root.
fn relative(from: &Path, to: &Path) -> String {
    let (Ok(from), Ok(to)) = (from.canonicalize(), to.canonicalize()) else {
        return to.display().to_string();
    };
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    if common <= 1 {
        return to.display().to_string();
    }
    let up = from.components().count() - common;
    let mut parts: Vec<String> = vec!["..".to_owned(); up];
    parts.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    match parts.is_empty() {
        true => ".".to_owned(),
        false => parts.join("/"),
    }
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
