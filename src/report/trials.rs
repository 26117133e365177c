//! `trials.csv` of `run --repeat N`: one row per trial, and the line that
//! counts their verdicts.

use std::path::Path;

use serde::Serialize;

use super::SummaryRow;
use crate::record::RunRecord;
use crate::verdict::Verdict;

/// One trial; field order is column order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialRow {
    pub trial: u32,
    pub verdict: Verdict,
    pub oversold: u64,
    /// Empty when the strategy takes no lock.
    pub unsafe_overlaps: Option<u64>,
    /// How many of the declared faults took effect.
    pub faults_applied: usize,
    pub purchases_per_s: f64,
    pub p99_us: u64,
    pub folder: String,
    /// Acknowledged sales missing from the orders, by id; empty when the
    /// orders do not name purchases by id.
    pub lost_sales: Option<u64>,
}

impl TrialRow {
    pub fn new(trial: u32, record: &RunRecord, folder: String) -> TrialRow {
        let row = SummaryRow::new(record);
        TrialRow {
            trial,
            verdict: row.verdict,
            oversold: row.oversold,
            unsafe_overlaps: row.unsafe_overlaps,
            faults_applied: row.faults_applied,
            purchases_per_s: row.purchases_per_s,
            p99_us: row.p99_us,
            folder,
            lost_sales: row.lost_sales,
        }
    }
}

/// `FAIL in 10 of 10 trials (oversold in 7, unsafe overlaps in 10)`, or
/// the most serious verdict any trial had, counted.
pub fn headline(rows: &[TrialRow], planned: u32) -> String {
    let count = |word: Verdict| rows.iter().filter(|r| r.verdict == word).count();
    let worst = Verdict::most_serious(rows.iter().map(|r| r.verdict));
    let oversold = rows.iter().filter(|r| r.oversold > 0).count();
    let overlaps = rows
        .iter()
        .filter(|r| r.unsafe_overlaps.unwrap_or(0) > 0)
        .count();
    let lost = match rows.iter().any(|r| r.lost_sales.is_some()) {
        true => format!(
            ", lost sales in {}",
            rows.iter()
                .filter(|r| r.lost_sales.unwrap_or(0) > 0)
                .count()
        ),
        false => String::new(),
    };
    let ran = if rows.len() as u32 == planned {
        String::new()
    } else {
        format!(", {} of {planned} run", rows.len())
    };
    format!(
        "{worst} in {} of {} trials (oversold in {oversold}, unsafe overlaps in {overlaps}{lost}{ran})",
        count(worst),
        rows.len()
    )
}

/// Writes `trials.csv` into `dir`, atomically.
///
/// # Errors
/// When the folder is not writable.
pub fn write(dir: &Path, rows: &[TrialRow]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    super::write_atomically(&dir.join("trials.csv"), &super::csv_bytes(rows)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(trial: u32, verdict: Verdict, oversold: u64, overlaps: u64) -> TrialRow {
        TrialRow {
            trial,
            verdict,
            oversold,
            unsafe_overlaps: Some(overlaps),
            faults_applied: 1,
            purchases_per_s: 100.0,
            p99_us: 1000,
            folder: format!("trial-{trial:03}"),
            lost_sales: None,
        }
    }

    #[test]
    fn headline_counts_the_worst_verdict() {
        let rows = [
            row(1, Verdict::Fail, 1, 3),
            row(2, Verdict::Pass, 0, 0),
            row(3, Verdict::Fail, 0, 2),
        ];
        assert_eq!(
            headline(&rows, 3),
            "FAIL in 2 of 3 trials (oversold in 1, unsafe overlaps in 2)"
        );
        let rows = [
            row(1, Verdict::Pass, 0, 0),
            row(2, Verdict::Inconclusive, 0, 0),
        ];
        assert_eq!(
            headline(&rows, 4),
            "INCONCLUSIVE in 1 of 2 trials (oversold in 0, unsafe overlaps in 0, 2 of 4 run)"
        );
    }

    #[test]
    fn lost_sales_are_a_column_and_counted_when_checked_by_id() {
        let mut rows = [row(1, Verdict::Fail, 0, 0), row(2, Verdict::Pass, 0, 0)];
        rows[0].lost_sales = Some(7);
        rows[1].lost_sales = Some(0);
        assert_eq!(
            headline(&rows, 2),
            "FAIL in 1 of 2 trials (oversold in 0, unsafe overlaps in 0, lost sales in 1)"
        );
        let csv = String::from_utf8(super::super::csv_bytes(&rows).unwrap()).unwrap();
        let mut lines = csv.lines();
        assert!(
            lines.next().unwrap().ends_with(",folder,lost_sales"),
            "{csv}"
        );
        assert!(lines.next().unwrap().ends_with(",trial-001,7"), "{csv}");
    }
}
