//! `index.html`: the run on one self-contained page, verdict first, in words
//! a person understands; the drawing of the page is [`super::html`].

use super::html::{self, Page};
use super::SummaryRow;
use crate::advice::Advice;
use crate::record::RunRecord;
use crate::scenario::Pace;

/// # Errors
/// When the summary row cannot be encoded.
pub fn render(
    record: &RunRecord,
    charts: Vec<(String, Vec<u8>)>,
    advice: &[Advice],
) -> anyhow::Result<Vec<u8>> {
    let row = SummaryRow::new(record);
    let (header, values) = row.record()?;
    let title = format!("{} ({})", row.scenario, row.strategy);
    let page = Page {
        title: &title,
        verdict: record.verdict.banner(),
        headline: &record.verdict.headline,
        facts: facts(record, &row),
        summary: (
            header.iter().map(str::to_owned).collect(),
            vec![values.iter().map(str::to_owned).collect()],
        ),
        links: Vec::new(),
        audit: record
            .audit
            .invariants
            .iter()
            .chain(&record.thresholds)
            .map(|i| {
                [
                    i.name.to_string(),
                    i.expected.clone(),
                    i.observed.clone(),
                    i.pass.to_string(),
                ]
            })
            .collect(),
        notes: notes(record, &row),
        advice: advice
            .iter()
            .map(|a| {
                [
                    a.setting.to_owned(),
                    a.value.clone(),
                    a.measured.clone(),
                    a.advice.clone(),
                ]
            })
            .collect(),
        charts,
    };
    Ok(html::render(&page))
}

fn facts(record: &RunRecord, row: &SummaryRow) -> Vec<(String, String)> {
    let s = &record.scenario;
    let pace = match &s.load.pace {
        Pace::Closed { .. } => "closed loop".to_owned(),
        Pace::Open { .. } => format!(
            "open loop, target {:.0} purchases/s",
            row.target_rate.unwrap_or(0.0)
        ),
    };
    let load = format!(
        "{} processes x {} clients, {pace}",
        row.processes, row.clients_per_process
    );
    [
        ("description", s.description.clone()),
        ("strategy", row.strategy.to_owned()),
        ("load", load),
        ("duration", format!("{:.3} s", row.duration_s)),
        ("redis", record.redis.clone()),
        (
            "server",
            match row.server.as_str() {
                "" => "not reported (INFO server refused)".to_owned(),
                named => named.to_owned(),
            },
        ),
        ("run id", record.run_id.clone()),
        ("started", crate::util::run_id::utc_stamp(record.started_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn notes(record: &RunRecord, row: &SummaryRow) -> Vec<String> {
    let mut notes: Vec<String> = record
        .faults
        .iter()
        .map(|e| {
            format!(
                "Fault #{} {} at {:.2} s: {}.",
                e.declared,
                e.fault,
                e.at.as_secs_f64(),
                e.what
            )
        })
        .collect();
    notes.extend(super::stall_lines(record));
    notes.extend(super::lock_safety::lines(record));
    notes.extend(super::history::lines(record));
    notes.extend(super::script::lines(record));
    notes.extend(
        record
            .keys_left
            .iter()
            .map(|k| format!("Could not delete {k}: delete it by hand.")),
    );
    if row.in_doubt > 0 {
        notes.push(format!(
            "{} purchase(s) were in doubt: their stock write was sent but the reply never came (or their worker was killed), so they count neither as sales nor as rejections; {} unit(s) left the stock without a recorded sale, which the audit allows up to the in-doubt count.",
            row.in_doubt, row.lost
        ));
    }
    if row.unconfirmed > 0 {
        notes.push(format!(
            "{} of them were unconfirmed: the stock write succeeded but WAIT did not confirm it on {} replica(s) in time, so a failover could still take it back. They are in doubt, not sales.",
            row.unconfirmed, record.scenario.strategy.wait_replicas
        ));
    }
    if row.stranded > 0 {
        notes.push(format!(
            "Under-sell: {} unit(s) were stranded, still on sale in some of the {} segment(s) while buyers were told sold out (segment_fallback = none sends a buyer away when its own segment is empty; a purchase script may answer sold out too early). That is revenue lost, not an oversell.",
            row.stranded, row.segments
        ));
    }
    if row.rediscoveries > 0 {
        notes.push(format!(
            "{} client reconnection(s) found a new primary through Sentinel.",
            row.rediscoveries
        ));
    }
    if record.interrupted {
        notes.push(
            "Interrupted: stopped early by a signal; the figures cover the run up to then."
                .to_owned(),
        );
    }
    if let (Some(target), Some(false)) = (row.target_rate, row.rate_reached) {
        notes.push(format!(
            "Target rate not reached: {:.0} of {target:.0} purchases/s ({} arrivals queued late, {} dropped).",
            row.purchases_per_s, row.late, row.dropped
        ));
    }
    if row.errors > 0 {
        notes.push(format!(
            "{} purchases failed with errors: {}.",
            row.errors, row.error_kinds
        ));
    }
    for broken in record
        .audit
        .invariants
        .iter()
        .chain(&record.thresholds)
        .filter(|i| !i.pass)
    {
        notes.push(format!(
            "Broken invariant {}: expected {}, observed {}.",
            broken.name, broken.expected, broken.observed
        ));
    }
    notes
}
