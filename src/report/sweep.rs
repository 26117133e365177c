//! The sweep folder's own reports: `sweep.csv` (the swept values, then the
//! `summary.csv` columns of each point) and the charts that compare points:
//! throughput and p99 per point and against each swept number, the
//! oversold units of every point, failing ones in red, and, when a point
//! lost acknowledged writes or left purchases unconfirmed (failover
//! sweeps), both side by side.

use std::path::Path;

use super::sweep_svg::{self, Bar, Line};
use super::SummaryRow;
use crate::scenario::value_text;
use crate::verdict::Verdict;

/// One finished point of a sweep.
#[derive(Debug, Clone)]
pub struct PointResult {
    /// `strategy.kind=lua, load.processes=4`.
    pub label: String,
    /// One value per swept field.
    pub values: Vec<toml::Value>,
    pub row: SummaryRow,
    /// The point's own run folder, relative to the sweep folder.
    pub folder: String,
    pub verdict: crate::verdict::RunVerdict,
}

/// What the sweep's own page says besides its points.
pub struct SweepPage<'a> {
    pub name: &'a str,
    /// Points the sweep planned (some may not have run).
    pub planned: usize,
    /// The sweep's word and the sentence that says why.
    pub verdict: (Verdict, &'a str),
}

/// Renders and atomically writes `sweep.csv`, the charts and `index.html`
/// into `dir`.
///
/// # Errors
/// When rendering fails or `dir` is not writable.
pub fn write(
    dir: &Path,
    fields: &[String],
    points: &[PointResult],
    page: &SweepPage<'_>,
) -> anyhow::Result<()> {
    let mut files = vec![("sweep.csv".to_owned(), render_csv(fields, points)?)];
    let charts = render_charts(fields, points)?;
    files.push((
        "index.html".to_owned(),
        render_index(fields, points, page, &charts),
    ));
    files.extend(charts);
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in files {
        super::write_atomically(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// `index.html`: the sweep's verdict first, then one row per point (its
/// swept values, verdict, purchases/s, p99, oversold) linking to the
/// point's own page, then every chart inline.
pub fn render_index(
    fields: &[String],
    points: &[PointResult],
    page: &SweepPage<'_>,
    charts: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let mut columns = vec!["point".to_owned()];
    columns.extend(fields.iter().cloned());
    columns.extend(["verdict", "purchases/s", "p99 (ms)", "oversold", "sold"].map(str::to_owned));
    let rows = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = vec![format!("{:03}", i + 1)];
            row.extend(p.values.iter().map(value_text));
            row.extend([
                p.verdict.banner().to_string(),
                format!("{:.0}", p.row.purchases_per_s),
                format!("{:.1}", p.row.p99_us as f64 / 1000.0),
                p.row.oversold.to_string(),
                p.row.sold.to_string(),
            ]);
            row
        })
        .collect();
    let links = points
        .iter()
        .map(|p| Some(format!("{}/index.html", p.folder)))
        .collect();
    let title = format!("sweep {}", page.name);
    let facts = vec![
        ("swept".to_owned(), fields.join(", ")),
        (
            "points".to_owned(),
            format!("{} of {} run", points.len(), page.planned),
        ),
    ];
    let html = super::html::Page {
        title: &title,
        verdict: page.verdict.0,
        headline: page.verdict.1,
        facts,
        summary: (columns, rows),
        links,
        audit: Vec::new(),
        notes: Vec::new(),
        advice: Vec::new(),
        charts: charts.to_vec(),
    };
    super::html::render(&html)
}

/// # Errors
/// When CSV encoding fails.
pub fn render_csv(fields: &[String], points: &[PointResult]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let words = SummaryRow::words(points.iter().map(|p| &p.row));
    let summary_header = match points.first() {
        Some(p) => p.row.record_with(&words)?.0,
        None => csv::StringRecord::new(),
    };
    let header = fields
        .iter()
        .map(String::as_str)
        .chain(summary_header.iter());
    writer.write_record(header.chain(std::iter::once("folder")))?;
    for point in points {
        let values = point.values.iter().map(value_text);
        let (_, summary) = point.row.record_with(&words)?;
        let summary = summary.iter().map(str::to_owned);
        writer.write_record(
            values
                .chain(summary)
                .chain(std::iter::once(point.folder.clone())),
        )?;
    }
    Ok(writer.into_inner()?)
}

/// # Errors
/// When a chart fails to render.
pub fn render_charts(
    fields: &[String],
    points: &[PointResult],
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut charts = vec![
        (
            "purchases_per_s.svg".to_owned(),
            bars(
                points,
                "purchases/s per point",
                "purchases/s",
                |r| r.purchases_per_s,
                false,
            )?,
        ),
        (
            "p99.svg".to_owned(),
            bars(
                points,
                "purchase p99 per point",
                "p99 latency (µs)",
                |r| r.p99_us as f64,
                true,
            )?,
        ),
        ("oversold.svg".to_owned(), oversold_chart(points)?),
    ];
    if points
        .iter()
        .any(|p| p.row.back_in_stock > 0 || p.row.unconfirmed > 0 || lost_sales(&p.row) > 0)
    {
        charts.push(("lost_writes.svg".to_owned(), lost_writes_chart(points)?));
    }
    if points.iter().any(|p| p.row.segments > 1) {
        charts.push(("segments.svg".to_owned(), segments_chart(points)?));
    }
    for (index, field) in fields.iter().enumerate() {
        if !points.iter().all(|p| number(&p.values[index]).is_some()) {
            continue;
        }
        let throughput = lines(fields, points, index, |r| r.purchases_per_s);
        let title = format!("purchases/s against {field}");
        let svg = sweep_svg::line_chart(&title, field, "purchases/s", &throughput, false)?;
        charts.push((format!("purchases_per_s-vs-{field}.svg"), svg));
        let p99 = lines(fields, points, index, |r| r.p99_us as f64);
        let title = format!("purchase p99 against {field}");
        let svg = sweep_svg::line_chart(&title, field, "p99 latency (µs)", &p99, true)?;
        charts.push((format!("p99-vs-{field}.svg"), svg));
    }
    Ok(charts)
}

fn bars(
    points: &[PointResult],
    title: &str,
    value_label: &str,
    metric: impl Fn(&SummaryRow) -> f64,
    log: bool,
) -> anyhow::Result<Vec<u8>> {
    let bars: Vec<Bar> = points
        .iter()
        .map(|p| Bar {
            label: p.label.clone(),
            value: metric(&p.row),
            alarm: p.row.verdict != Verdict::Pass,
        })
        .collect();
    let failing = bars.iter().filter(|b| b.alarm).count();
    let note =
        (failing > 0).then(|| format!("{failing} of {} points FAILED the audit (red)", bars.len()));
    sweep_svg::bar_chart(title, value_label, &bars, log, note.as_deref())
}

fn oversold_chart(points: &[PointResult]) -> anyhow::Result<Vec<u8>> {
    let bars: Vec<Bar> = points
        .iter()
        .map(|p| Bar {
            label: p.label.clone(),
            value: p.row.oversold as f64,
            alarm: p.row.oversold > 0,
        })
        .collect();
    let oversold = bars.iter().filter(|b| b.alarm).count();
    let note = if oversold > 0 {
        format!("{oversold} of {} points OVERSOLD", bars.len())
    } else {
        format!("no point oversold ({} points)", bars.len())
    };
    sweep_svg::bar_chart(
        "oversold units per point",
        "oversold units",
        &bars,
        false,
        Some(&note),
    )
}

/// Per point, units back in stock (acknowledged sales the store lost, in
/// red) next to purchases left unconfirmed by `WAIT` (in doubt, honestly
/// not counted as sales): a failover sweep's answer in one picture. Log
/// scale: a lock's hundreds and an atomic script's thousands both show.
/// With the history's ids, the lost sales by id (red) next to the units
/// back in stock (blue): the count is smaller by the in-doubt purchases that
/// landed, which is how a count alone hides lost sales.
fn lost_writes_chart(points: &[PointResult]) -> anyhow::Result<Vec<u8>> {
    if points.iter().any(|p| p.row.lost_sales.is_some()) {
        let lost = points.iter().filter(|p| lost_sales(&p.row) > 0).count();
        let note = format!(
            "{lost} of {} points lost sales: red = acknowledged sales missing from the orders (by id), blue = units back in stock (the net count)",
            points.len()
        );
        return paired_chart(
            points,
            ("lost sales", lost_sales),
            ("back in stock", |r| r.back_in_stock),
            (
                "lost sales by id vs units back in stock",
                "sales / units",
                &note,
            ),
        );
    }
    let lost = points.iter().filter(|p| p.row.back_in_stock > 0).count();
    let note = format!(
        "{lost} of {} points lost sales: red = units back in stock, blue = unconfirmed (in doubt)",
        points.len()
    );
    paired_chart(
        points,
        ("back in stock", |r| r.back_in_stock),
        ("unconfirmed", |r| r.unconfirmed),
        (
            "sold units back in stock vs unconfirmed purchases",
            "units / purchases",
            &note,
        ),
    )
}

fn lost_sales(row: &SummaryRow) -> u64 {
    row.lost_sales.unwrap_or(0)
}

/// Per point, units stranded by segmented stock (red: still on sale while
/// buyers were told sold out) next to the extra segments purchases tried
/// (blue: what falling back costs).
fn segments_chart(points: &[PointResult]) -> anyhow::Result<Vec<u8>> {
    let stranded = points.iter().filter(|p| p.row.stranded > 0).count();
    let note = format!(
        "{stranded} of {} points stranded units: red = stranded units, blue = extra segments tried",
        points.len()
    );
    paired_chart(
        points,
        ("stranded", |r| r.stranded),
        ("segment hops", |r| r.segment_hops),
        ("stranded units vs segment hops", "units / hops", &note),
    )
}

/// Two bars per point on a log scale: the first red when not zero (the
/// harm), the second in the plain colour (its cure, or its cost).
fn paired_chart(
    points: &[PointResult],
    (harm, harm_of): (&str, fn(&SummaryRow) -> u64),
    (other, other_of): (&str, fn(&SummaryRow) -> u64),
    (title, value_label, note): (&str, &str, &str),
) -> anyhow::Result<Vec<u8>> {
    let mut bars = Vec::with_capacity(points.len() * 2);
    for p in points {
        bars.push(Bar {
            label: format!("{}: {harm}", p.label),
            value: harm_of(&p.row) as f64,
            alarm: harm_of(&p.row) > 0,
        });
        bars.push(Bar {
            label: format!("{}: {other}", p.label),
            value: other_of(&p.row) as f64,
            alarm: false,
        });
    }
    sweep_svg::bar_chart(title, value_label, &bars, true, Some(note))
}

/// One line per combination of the other swept fields, against field `x`.
fn lines(
    fields: &[String],
    points: &[PointResult],
    x: usize,
    metric: impl Fn(&SummaryRow) -> f64,
) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for point in points {
        let label = series_label(fields, &point.values, x);
        let at = (number(&point.values[x]).unwrap_or(0.0), metric(&point.row));
        match lines.iter_mut().find(|l| l.label == label) {
            Some(line) => line.points.push(at),
            None => lines.push(Line {
                label,
                points: vec![at],
            }),
        }
    }
    for line in &mut lines {
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    lines
}

fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

fn series_label(fields: &[String], values: &[toml::Value], except: usize) -> String {
    let parts: Vec<String> = fields
        .iter()
        .zip(values)
        .enumerate()
        .filter(|(i, _)| *i != except)
        .map(|(_, (f, v))| format!("{}={}", f.rsplit('.').next().unwrap_or(f), value_text(v)))
        .collect();
    if parts.is_empty() {
        "all".to_owned()
    } else {
        parts.join(", ")
    }
}
