//! Reports of one run: each output renders a [`RunRecord`] to bytes in its
//! own module; this module only writes them, each atomically (temp file +
//! rename), so a reader never sees half a report.

mod audit_csv;
pub mod capacity;
pub(crate) mod chart;
pub mod claim;
pub mod compare;
mod history;
pub mod hlog;
pub mod html;
mod index;
mod latency;
pub mod latency_svg;
mod lock_safety;
pub mod locks_svg;
mod script;
mod summary;
pub mod sweep;
pub mod sweep_svg;
mod terminal;
mod timeline;
pub mod timeline_svg;
pub mod trials;
mod workers;

use std::path::Path;

use anyhow::Context;

use crate::record::RunRecord;

pub use summary::SummaryRow;
pub use terminal::terminal_summary;

/// Renders every report file: `(file name, bytes)`.
///
/// # Errors
/// When a renderer fails (CSV or SVG encoding).
pub fn render_all(record: &RunRecord) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let advice = crate::advice::advise(record);
    let latency_svg = latency::render_svg(record)?;
    let timeline_svg = timeline::render_svg(record)?;
    let locks_svg = match record.lock_safety.as_ref().and_then(|l| l.window.as_ref()) {
        Some(window) => Some(locks_svg::render(window)?),
        None => None,
    };
    let mut charts = vec![
        ("Latency by percentile".to_owned(), latency_svg.clone()),
        ("Over time".to_owned(), timeline_svg.clone()),
    ];
    if let Some(svg) = &locks_svg {
        charts.push((
            "Lock holds around the first overlap".to_owned(),
            svg.clone(),
        ));
    }
    let mut files = vec![
        ("summary.csv", summary::render(record)?),
        ("audit.csv", audit_csv::render(record)?),
        ("latency.csv", latency::render_csv(record)?),
        ("workers.csv", workers::render(record)?),
        ("hosts.csv", workers::render_hosts(record)?),
        ("timeline.csv", timeline::render_csv(record)?),
        ("latency.hlog", hlog::render(record)),
        ("faults.csv", faults_csv(record)?),
        ("advice.csv", advice_csv(&advice)?),
        ("latency.svg", latency_svg),
        ("timeline.svg", timeline_svg),
        ("index.html", index::render(record, charts, &advice)?),
    ];
    if let Some(svg) = locks_svg {
        files.push(("locks.svg", svg));
    }
    if record.segments.len() > 1 || record.segments.iter().any(|s| s.slot.is_some()) {
        files.push(("segments.csv", segments_csv(record)?));
    }
    let mut files: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(name, bytes)| (name.to_owned(), bytes))
        .collect();
    files.extend(record.service_logs.iter().cloned());
    Ok(files)
}

/// `advice.csv`: `setting,value,measured,advice`; only the header when
/// the strategy takes no lock or nothing was measured.
fn advice_csv(advice: &[crate::advice::Advice]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(["setting", "value", "measured", "advice"])?;
    for a in advice {
        w.serialize(a)?;
    }
    w.into_inner().context("finishing CSV")
}

/// One `segments.csv` row; field order is column order.
#[derive(serde::Serialize)]
struct SegmentRow<'a> {
    segment: usize,
    stock_key: &'a str,
    slot: Option<u16>,
    node: &'a str,
    initial: u64,
    final_stock: Option<i64>,
}

/// Where each stock segment lived and what it started and ended with.
fn segments_csv(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let rows = record
        .segments
        .iter()
        .enumerate()
        .map(|(segment, s)| SegmentRow {
            segment,
            stock_key: &s.stock_key,
            slot: s.slot,
            node: &s.node,
            initial: s.initial,
            final_stock: s.final_stock,
        });
    csv_bytes(rows)
}

/// Renders everything first, then writes each file atomically into `dir`.
///
/// # Errors
/// When rendering fails or `dir` is not writable.
/// All or nothing: when a file cannot be written (disk full, read-only
/// folder), the files already written are removed again, so no half a
/// report folder stays behind.
pub fn write_all(dir: &Path, record: &RunRecord) -> anyhow::Result<()> {
    let files = render_all(record)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the report folder {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Err(e) = write_atomically(&path, &bytes) {
            for done in &written {
                let _ = std::fs::remove_file(done);
            }
            let _ = std::fs::remove_dir(dir);
            return Err(e);
        }
        written.push(path);
    }
    if let Err(e) = write_history(dir, record) {
        for done in &written {
            let _ = std::fs::remove_file(done);
        }
        let _ = std::fs::remove_dir(dir);
        return Err(e);
    }
    Ok(())
}

/// `history.jsonl`, streamed to its temp file (a million sales make
/// hundreds of megabytes, not worth holding), then renamed like the rest.
fn write_history(dir: &Path, record: &RunRecord) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(history) = record.history.as_ref().filter(|h| h.complete()) else {
        return Ok(());
    };
    let ids = record.findings.as_ref().and_then(|f| f.ids.as_ref());
    let settled = |op: &crate::history::Op| match op.end {
        crate::history::OpEnd::Ok => ids.map(|i| {
            op.id != crate::history::OrderId::Missing
                && i.lost_ids.binary_search(&op.token).is_err()
        }),
        _ => ids
            .filter(|i| !i.unresolvable)
            .map(|i| i.applied_ids.binary_search(&op.token).is_ok()),
    };
    let path = dir.join("history.jsonl");
    let mut tmp = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    let units = record.scenario.stock.quantity.get();
    let clients = record.scenario.load.total_clients();
    crate::history::jsonl::write(history, (units, clients), &settled, tmp.as_file_mut())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Temp file in the same folder, then rename: readers see the old file or
/// the whole new one. The file gets the mode any new file would (0666 less
/// the umask, 0644 under the usual 022), not the temp file's private 0600:
/// reports are meant to be read by others, CI and web servers.
///
/// # Errors
/// When the folder is not writable.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    // The mode is passed to open(2), which applies the umask itself.
    let mut tmp = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One `faults.csv` row; field order is column order.
#[derive(serde::Serialize)]
struct FaultRow<'a> {
    t_s: f64,
    fault: &'a str,
    what: &'a str,
    /// Whether the fault had taken effect at this line.
    applied: bool,
    /// The `[[faults]]` entry, counted from 1.
    declared: usize,
    /// `[service]`: the instance it acted on, its pid, and its purchases
    /// under way then.
    instance: Option<usize>,
    pid: Option<u32>,
    in_flight: Option<u32>,
}

/// `faults.csv`: one row per thing a fault did; a header even when the
/// scenario declares no fault.
fn faults_csv(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record([
        "t_s",
        "fault",
        "what",
        "applied",
        "declared",
        "instance",
        "pid",
        "in_flight",
    ])?;
    for e in &record.faults {
        writer.serialize(FaultRow {
            t_s: (e.at.as_secs_f64() * 1000.0).round() / 1000.0,
            fault: e.fault,
            what: &e.what,
            applied: e.applied,
            declared: e.declared,
            instance: e.subject.map(|s| s.instance),
            pid: e.subject.map(|s| s.pid),
            in_flight: e.subject.map(|s| s.in_flight),
        })?;
    }
    writer.into_inner().context("finishing CSV")
}

/// CSV rows to bytes with a header from the row type.
fn csv_bytes<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    writer.into_inner().context("finishing CSV")
}

/// A note for each time the harness itself did not run: latency then
/// measures the harness's own pause, not only Redis's.
fn stall_lines(record: &RunRecord) -> Vec<String> {
    record
        .harness_stalls
        .iter()
        .map(|s| {
            format!(
                "The harness itself did not run for {:.1} s from {:.1} s (its coordinator was stopped from outside or starved of CPU): workers waited on it, so latency in that time measures the harness's pause, not only Redis's.",
                s.lasted.as_secs_f64(),
                s.at.as_secs_f64()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::write_atomically;

    /// Writes one file under `umask` and returns its mode. The umask is the
    /// process's: set, written, restored at once (no other test touches it).
    fn mode_under_umask(umask: libc::mode_t, path: &std::path::Path) -> String {
        // SAFETY: umask(2) cannot fail; the previous value is put back.
        let previous = unsafe { libc::umask(umask) };
        let written = write_atomically(path, b"x");
        unsafe { libc::umask(previous) };
        written.unwrap();
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        format!("{:04o}", mode & 0o777)
    }

    #[test]
    fn reports_get_the_mode_a_new_file_would_not_the_temp_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        assert_eq!(mode_under_umask(0o022, &path), "0644");
        assert_eq!(mode_under_umask(0o077, &path), "0600", "umask obeyed");
        assert_eq!(mode_under_umask(0o002, &path), "0664");
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
    }
}
