//! `seckill-bench compare <BASELINE> <CANDIDATE>`: the CI regression gate.
//! Two run folders (their `summary.csv`) or two sweep folders (their
//! `sweep.csv`, points matched by their swept values). Prints each figure
//! with its change, writes `compare.csv` and `compare.svg` into the
//! candidate folder, and exits 3 when throughput fell or p99 rose by more
//! than the tolerance, 1 when the candidate oversold.
//!
//! Each report is read into typed [`Point`]s before anything is judged: a
//! missing column, or a figure that is empty, not a number, not finite or
//! negative, is bad input (exit 2) naming the file, the line and the column,
//! and nothing is written. Rendering the outputs is `report::compare`'s.

use std::fmt;
use std::path::{Path, PathBuf};

use csv::StringRecord;

use crate::error::Error;
use crate::report::{self, compare::Change};
use crate::verdict::Verdict;

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

/// The column that decides exit 1; read like the figures.
const OVERSOLD: &str = "oversold";

/// The first column every report has; columns before it are swept fields.
const SCENARIO: &str = "scenario";

const GIVE_A_REPORT: &str = "give a run or sweep folder written by seckill-bench";

/// # Errors
/// [`Error::Usage`] when `max_regression` is not a finite number >= 0, a
/// folder is missing, holds no report, or its report cannot be read or is
/// malformed (nothing is written then); [`Error::Environment`] when the
/// outputs cannot be written.
pub fn compare_command(
    baseline: &Path,
    candidate: &Path,
    max_regression: f64,
) -> Result<u8, Error> {
    let max_regression = crate::cli::check_max_regression(max_regression)
        .map_err(|e| Error::Usage(format!("--max-regression {max_regression}: {e}")))?;
    let (base, cand) = (load(baseline)?, load(candidate)?);
    if base.sweep_fields != cand.sweep_fields {
        return Err(Error::Usage(format!(
            "{} and {} are not the same kind of report (swept fields {:?} vs {:?})\n  \
             what to do: compare two run folders, or two sweeps of the same fields",
            baseline.display(),
            candidate.display(),
            base.sweep_fields,
            cand.sweep_fields
        )));
    }
    let judged = Judgement::new(&base, &cand, max_regression);
    let verdict = report::compare::Outcome {
        word: judged.verdict(),
        notes: judged.notes(max_regression),
    };
    report::compare::write(
        (baseline, candidate),
        &judged.changes,
        max_regression,
        &verdict,
    )?;
    print!(
        "{}",
        report::compare::table(&judged.changes, max_regression)
    );
    for point in &judged.missing {
        println!("missing in the candidate: {point}");
    }
    for point in &judged.oversold {
        println!("OVERSOLD in the candidate: {point}");
    }
    println!("written: {}", candidate.join("compare.csv").display());
    Ok(judged.verdict().exit_code())
}

/// What the gate found.
struct Judgement {
    changes: Vec<Change>,
    /// Candidate points that oversold.
    oversold: Vec<String>,
    /// Baseline points the candidate lacks.
    missing: Vec<String>,
}

impl Judgement {
    fn new(base: &Report, cand: &Report, max_regression: f64) -> Judgement {
        let oversold = cand.points.iter().filter(|p| p.oversold > 0.0);
        let missing = base
            .points
            .iter()
            .filter(|p| cand.point(&p.label).is_none());
        Judgement {
            changes: compare(base, cand, max_regression),
            oversold: oversold.map(|p| p.label.clone()).collect(),
            missing: missing.map(|p| p.label.clone()).collect(),
        }
    }

    /// What regressed, what is missing and what oversold, in words.
    fn notes(&self, max_regression: f64) -> Vec<String> {
        let regressed = self.changes.iter().filter(|c| c.regression).map(|c| {
            format!(
                "{} {}: {} -> {} ({:+.1}%, beyond {max_regression}%)",
                c.point,
                c.figure,
                c.baseline,
                c.candidate,
                c.change_pct.unwrap_or(0.0)
            )
        });
        let missing = self
            .missing
            .iter()
            .map(|p| format!("missing in the candidate: {p}"));
        let oversold = self
            .oversold
            .iter()
            .map(|p| format!("the candidate OVERSOLD: {p}"));
        oversold.chain(regressed).chain(missing).collect()
    }

    /// FAIL oversold, else REGRESSION regressed or a point missing, else
    /// PASS.
    fn verdict(&self) -> Verdict {
        if !self.oversold.is_empty() {
            Verdict::Fail
        } else if self.changes.iter().any(|c| c.regression) || !self.missing.is_empty() {
            Verdict::Regression
        } else {
            Verdict::Pass
        }
    }
}

/// A report folder's CSV, read and checked: one [`Point`] per row.
#[derive(Debug, Clone, PartialEq)]
struct Report {
    /// Columns before `scenario`: the swept fields (none for a run).
    sweep_fields: Vec<String>,
    points: Vec<Point>,
}

/// One row: the figures compare judges, each finite and >= 0.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    /// `run` for a single run, `field=value, ...` for a sweep point.
    label: String,
    /// In [`FIGURES`] order.
    figures: [f64; FIGURES.len()],
    oversold: f64,
}

impl Report {
    /// Reads a `summary.csv` or `sweep.csv` from its bytes.
    ///
    /// # Errors
    /// [`BadReport`] when the bytes are not such a CSV, a figure column is
    /// missing, a figure cell is not a finite number >= 0, a point repeats,
    /// or there is no row.
    fn parse(bytes: &[u8]) -> Result<Report, BadReport> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BadReport::file(Problem::Empty));
        }
        let mut reader = csv::Reader::from_reader(bytes);
        let header = reader.headers().map_err(BadReport::not_csv)?.clone();
        let columns = Columns::find(&header)?;
        let mut points: Vec<Point> = Vec::new();
        for record in reader.records() {
            let record = record.map_err(BadReport::not_csv)?;
            let point = columns.point(&record)?;
            if points.iter().any(|p| p.label == point.label) {
                let at = columns.place(&record);
                return Err(BadReport::at(at, Problem::Repeated(point.label)));
            }
            points.push(point);
        }
        if points.is_empty() {
            return Err(BadReport::file(Problem::NoRows));
        }
        Ok(Report {
            sweep_fields: columns.sweep,
            points,
        })
    }

    fn point(&self, label: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.label == label)
    }
}

/// Where the columns compare reads sit in the header.
struct Columns {
    /// Swept fields: the first `sweep.len()` columns.
    sweep: Vec<String>,
    /// In [`FIGURES`] order.
    figures: [usize; FIGURES.len()],
    oversold: usize,
    /// The `verdict` column, when the report has one.
    verdict: Option<usize>,
}

impl Columns {
    fn find(header: &StringRecord) -> Result<Columns, BadReport> {
        // A repeated column would leave it to chance which value is read.
        for (i, name) in header.iter().enumerate() {
            if header.iter().take(i).any(|h| h == name) {
                return Err(BadReport::file(Problem::DuplicateColumn(name.to_owned())));
            }
        }
        let index = |name: &'static str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or(BadReport::file(Problem::MissingColumn(name)))
        };
        let sweep_len = index(SCENARIO)?;
        let mut figures = [0; FIGURES.len()];
        for (slot, (name, ..)) in figures.iter_mut().zip(FIGURES) {
            *slot = index(name)?;
        }
        Ok(Columns {
            sweep: header.iter().take(sweep_len).map(str::to_owned).collect(),
            figures,
            oversold: index(OVERSOLD)?,
            verdict: header.iter().position(|h| h == "verdict"),
        })
    }

    fn label(&self, record: &StringRecord) -> Option<String> {
        (!self.sweep.is_empty()).then(|| {
            self.sweep
                .iter()
                .zip(record.iter())
                .map(|(field, value)| format!("{field}={value}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    fn place(&self, record: &StringRecord) -> Place {
        Place {
            line: record.position().map_or(0, csv::Position::line),
            point: self.label(record),
        }
    }

    fn point(&self, record: &StringRecord) -> Result<Point, BadReport> {
        let read = |column: &'static str, index: usize| {
            let cell = record.get(index).unwrap_or_default();
            figure(cell).map_err(|why| {
                let value = cell.to_owned();
                let problem = Problem::BadFigure { column, value, why };
                BadReport::at(self.place(record), problem)
            })
        };
        if let Some(cell) = self.verdict.and_then(|i| record.get(i)) {
            let word = cell.parse::<Verdict>().ok();
            if !word.is_some_and(|w| Verdict::OF_A_RUN.contains(&w)) {
                let problem = Problem::BadVerdict(cell.to_owned());
                return Err(BadReport::at(self.place(record), problem));
            }
        }
        let mut figures = [0.0; FIGURES.len()];
        for (i, (name, ..)) in FIGURES.iter().enumerate() {
            figures[i] = read(name, self.figures[i])?;
        }
        Ok(Point {
            label: self.label(record).unwrap_or_else(|| "run".to_owned()),
            figures,
            oversold: read(OVERSOLD, self.oversold)?,
        })
    }
}

/// One figure cell: a finite number, 0 or more (counts, rates, latencies).
fn figure(cell: &str) -> Result<f64, BadCell> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Err(BadCell::Empty);
    }
    let value: f64 = cell.parse().map_err(|_| BadCell::NotANumber)?;
    if !value.is_finite() {
        Err(BadCell::NotFinite)
    } else if value < 0.0 {
        Err(BadCell::Negative)
    } else {
        Ok(value)
    }
}

/// Why a figure cell was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BadCell {
    Empty,
    NotANumber,
    NotFinite,
    Negative,
}

/// What is wrong with a report CSV.
#[derive(Debug, Clone, PartialEq)]
enum Problem {
    Empty,
    /// The CSV reader's complaint: binary data, ragged rows.
    NotCsv(String),
    MissingColumn(&'static str),
    DuplicateColumn(String),
    BadVerdict(String),
    NoRows,
    Repeated(String),
    BadFigure {
        column: &'static str,
        value: String,
        why: BadCell,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => write!(f, "the file is empty"),
            Problem::NotCsv(e) => write!(f, "not a CSV report ({e})"),
            Problem::MissingColumn(c) => write!(f, "no `{c}` column"),
            Problem::NoRows => write!(f, "a header but no rows"),
            Problem::DuplicateColumn(c) => write!(f, "the header has column `{c}` twice"),
            Problem::BadVerdict(v) => write!(
                f,
                "column `verdict`: `{v}` is not a verdict ({})",
                Verdict::OF_A_RUN.map(Verdict::as_str).join(", ")
            ),
            Problem::Repeated(p) => write!(f, "point `{p}` appears twice"),
            Problem::BadFigure { column, value, why } => {
                write!(f, "column `{column}`: ")?;
                match why {
                    BadCell::Empty => write!(f, "empty, a number is required"),
                    BadCell::NotANumber => write!(f, "`{value}` is not a number"),
                    BadCell::NotFinite => write!(f, "`{value}` is not a finite number"),
                    BadCell::Negative => write!(f, "`{value}` is negative"),
                }
            }
        }
    }
}

impl Problem {
    fn hint(&self) -> &'static str {
        match self {
            Problem::Empty
            | Problem::NotCsv(_)
            | Problem::Repeated(_)
            | Problem::MissingColumn(SCENARIO) => GIVE_A_REPORT,
            Problem::MissingColumn(_) => {
                "this report predates the column; refresh it with a current \
                 seckill-bench (scripts/ci-check.sh --update-baseline for the CI baseline)"
            }
            Problem::NoRows => "the run or sweep finished nothing (interrupted?); run it again",
            Problem::DuplicateColumn(_) | Problem::BadVerdict(_) => {
                "the file was edited or is not a seckill-bench report: run the report again"
            }
            Problem::BadFigure { .. } => "fix the cell, or run the report again",
        }
    }
}

/// A line of a report CSV, and the sweep point it holds.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    line: u64,
    point: Option<String>,
}

/// A report CSV that cannot be judged; [`load`] names the file.
#[derive(Debug, Clone, PartialEq)]
struct BadReport {
    at: Option<Place>,
    problem: Problem,
}

impl BadReport {
    fn file(problem: Problem) -> BadReport {
        BadReport { at: None, problem }
    }

    fn at(at: Place, problem: Problem) -> BadReport {
        BadReport {
            at: Some(at),
            problem,
        }
    }

    fn not_csv(e: csv::Error) -> BadReport {
        let line = e.position().map(csv::Position::line);
        let why = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields where the header has {expected_len}"),
            _ => e.to_string(),
        };
        BadReport {
            at: line.map(|line| Place { line, point: None }),
            problem: Problem::NotCsv(why),
        }
    }

    /// `file[:line][ (point ...)]: problem`, then what to do.
    fn message(&self, path: &Path) -> String {
        let mut out = path.display().to_string();
        if let Some(at) = &self.at {
            out += &format!(":{}", at.line);
            if let Some(point) = &at.point {
                out += &format!(" (point {point})");
            }
        }
        format!(
            "{out}: {}\n  what to do: {}",
            self.problem,
            self.problem.hint()
        )
    }
}

/// Reads a folder's `sweep.csv`, else its `summary.csv`. Every problem with
/// the folder or its file, an unreadable file included, is bad input (exit 2):
/// the user named it.
fn load(dir: &Path) -> Result<Report, Error> {
    let path = report_file(dir)?;
    let bytes = crate::util::bounded_read::read(&path, crate::util::bounded_read::REPORT_CSV)
        .map_err(|e| {
            Error::Usage(format!(
                "cannot read {}: {e}\n  what to do: {}",
                path.display(),
                e.hint()
            ))
        })?;
    Report::parse(&bytes).map_err(|bad| Error::Usage(bad.message(&path)))
}

fn report_file(dir: &Path) -> Result<PathBuf, Error> {
    let hint = GIVE_A_REPORT;
    match std::fs::metadata(dir) {
        Err(e) => {
            return Err(Error::Usage(format!(
                "report folder {}: {e}\n  what to do: {hint}",
                dir.display()
            )))
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::Usage(format!(
                "{} is not a folder\n  what to do: {hint}",
                dir.display()
            )))
        }
        Ok(_) => {}
    }
    let (sweep, summary) = (dir.join("sweep.csv"), dir.join("summary.csv"));
    if sweep.is_file() {
        Ok(sweep)
    } else if summary.is_file() {
        Ok(summary)
    } else {
        Err(Error::Usage(format!(
            "{} holds neither summary.csv nor sweep.csv\n  what to do: {hint}",
            dir.display()
        )))
    }
}

/// Every figure of every point present in both reports.
fn compare(base: &Report, cand: &Report, max_regression: f64) -> Vec<Change> {
    let mut changes = Vec::new();
    for b in &base.points {
        let Some(c) = cand.point(&b.label) else {
            continue;
        };
        for (i, (figure, higher_is_better, gates)) in FIGURES.into_iter().enumerate() {
            let (baseline, candidate) = (b.figures[i], c.figures[i]);
            let change_pct = (baseline != 0.0).then(|| (candidate - baseline) / baseline * 100.0);
            let worse =
                change_pct.is_some_and(|p| if higher_is_better { -p } else { p } > max_regression);
            changes.push(Change {
                point: b.label.clone(),
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
        let points = points
            .iter()
            .map(|&(label, rate, p99, oversold)| {
                let mut figures = [0.0; FIGURES.len()];
                figures[0] = rate;
                figures[3] = p99;
                Point {
                    label: label.to_owned(),
                    figures,
                    oversold,
                }
            })
            .collect();
        Report {
            sweep_fields: Vec::new(),
            points,
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

    #[test]
    fn judgement_exits_1_for_oversold_3_for_regressed_or_missing_else_0() {
        let base = report(&[("a", 1000.0, 500.0, 0.0), ("b", 1000.0, 500.0, 0.0)]);
        let code = |cand: &Report| Judgement::new(&base, cand, 10.0).verdict().exit_code();
        assert_eq!(code(&base), 0);
        assert_eq!(code(&report(&[("a", 1000.0, 500.0, 0.0)])), 3);
        let slow = report(&[("a", 500.0, 500.0, 0.0), ("b", 1000.0, 500.0, 0.0)]);
        assert_eq!(code(&slow), 3);
        let oversold = report(&[("a", 500.0, 500.0, 1.0), ("b", 1000.0, 500.0, 0.0)]);
        assert_eq!(code(&oversold), 1);
    }

    /// The columns compare reads, in the order `summary.csv` has them.
    const HEADER: &str = "scenario,strategy,oversold,errors,purchases_per_s,\
                          p50_us,p90_us,p99_us,p999_us,max_us,final_stock";
    const ROW: &str = "quick,lua,0,2,1000.5,10,20,30,40,50,";

    fn parse(text: &str) -> Result<Report, BadReport> {
        Report::parse(text.as_bytes())
    }

    /// The problem with a one-row summary whose `column` holds `value`.
    fn problem_with(column: &str, value: &str) -> Problem {
        let at = HEADER.split(',').position(|h| h == column).unwrap();
        let mut cells: Vec<&str> = ROW.split(',').collect();
        cells[at] = value;
        let bad = parse(&format!("{HEADER}\n{}\n", cells.join(","))).unwrap_err();
        assert_eq!(bad.at.map(|a| a.line), Some(2), "{:?}", bad.problem);
        bad.problem
    }

    #[test]
    fn a_summary_reads_into_one_run_point_and_optional_columns_may_be_empty() {
        let report = parse(&format!("{HEADER}\n{ROW}\n")).unwrap();
        assert!(report.sweep_fields.is_empty());
        assert_eq!(
            report.points,
            [Point {
                label: "run".to_owned(),
                figures: [1000.5, 10.0, 20.0, 30.0, 40.0, 50.0, 2.0],
                oversold: 0.0,
            }]
        );
    }

    #[test]
    fn a_sweep_reads_one_point_per_row_labelled_by_its_swept_values() {
        let text = format!("kind,ttl,{HEADER}\nlua,5,{ROW}\narticle,5,{ROW}\n");
        let report = parse(&text).unwrap();
        assert_eq!(report.sweep_fields, ["kind", "ttl"]);
        let labels: Vec<&str> = report.points.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["kind=lua, ttl=5", "kind=article, ttl=5"]);
    }

    #[test]
    fn garbage_is_not_a_report() {
        let binary = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe,\x00\n\x01\x02";
        assert!(matches!(
            Report::parse(binary).unwrap_err().problem,
            Problem::NotCsv(_)
        ));
        let prose = "hello, world\nthis is not a report\n";
        assert_eq!(
            parse(prose).unwrap_err(),
            BadReport::file(Problem::MissingColumn("scenario"))
        );
        let ragged = parse(&format!("{HEADER}\n{ROW}\n1,2\n")).unwrap_err();
        let problem = Problem::NotCsv("2 fields where the header has 11".to_owned());
        assert_eq!(
            (ragged.at.map(|a| a.line), ragged.problem),
            (Some(3), problem)
        );
        assert_eq!(parse("").unwrap_err().problem, Problem::Empty);
        assert_eq!(parse(" \n").unwrap_err().problem, Problem::Empty);
    }

    #[test]
    fn a_header_without_rows_is_refused() {
        assert_eq!(
            parse(&format!("{HEADER}\n")).unwrap_err(),
            BadReport::file(Problem::NoRows)
        );
    }

    /// A one-row summary without `column`.
    fn without(column: &str) -> String {
        let at = HEADER.split(',').position(|h| h == column).unwrap();
        let drop = |line: &str| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(at);
            cells.join(",")
        };
        format!("{}\n{}\n", drop(HEADER), drop(ROW))
    }

    #[test]
    fn a_missing_figure_column_is_named_not_read_as_zero() {
        for column in ["p99_us", "purchases_per_s", "errors", "oversold"] {
            assert_eq!(
                parse(&without(column)).unwrap_err(),
                BadReport::file(Problem::MissingColumn(column))
            );
        }
        // Columns compare does not read may be missing, as in old reports.
        assert!(parse(&without("final_stock")).is_ok());
    }

    #[test]
    fn nan_infinite_empty_negative_and_non_numbers_are_refused_by_column() {
        use BadCell::*;
        let cases = [
            ("purchases_per_s", "NaN", NotFinite),
            ("purchases_per_s", "nan", NotFinite),
            ("p99_us", "inf", NotFinite),
            ("max_us", "-infinity", NotFinite),
            ("p99_us", "", Empty),
            ("oversold", "", Empty),
            ("p50_us", "fast", NotANumber),
            ("errors", "-1", Negative),
        ];
        for (column, value, why) in cases {
            let value = value.to_owned();
            assert_eq!(
                problem_with(column, &value),
                Problem::BadFigure { column, value, why }
            );
        }
    }

    #[test]
    fn a_bad_sweep_cell_names_its_line_and_point() {
        let bad_row = ROW.replace("1000.5", "NaN");
        let text = format!("kind,{HEADER}\nlua,{ROW}\narticle,{bad_row}\n");
        let bad = parse(&text).unwrap_err();
        let message = bad.message(Path::new("base/sweep.csv"));
        assert_eq!(
            message,
            "base/sweep.csv:3 (point kind=article): column `purchases_per_s`: \
             `NaN` is not a finite number\n  what to do: fix the cell, or run the report again"
        );
    }

    #[test]
    fn a_repeated_point_is_refused() {
        let bad = parse(&format!("{HEADER}\n{ROW}\n{ROW}\n")).unwrap_err();
        assert_eq!(bad.problem, Problem::Repeated("run".to_owned()));
        assert_eq!(bad.at.map(|a| a.line), Some(3));
    }
}
