//! The history's findings in words, for the terminal and the HTML page:
//! what was checked by id, how the in-doubt purchases resolved, and what
//! the stock readings showed that the final count cannot.

use crate::history::check::Findings;
use crate::record::RunRecord;

/// One line per finding; none without a history.
pub fn lines(record: &RunRecord) -> Vec<String> {
    let (Some(history), Some(f)) = (&record.history, &record.findings) else {
        return Vec::new();
    };
    let mut lines = vec![match history.complete() {
        true => format!(
            "History: {} purchase(s) and {} stock reading(s) in history.jsonl (Jepsen's invoke/ok/fail/info).",
            history.ops.len(),
            history.readings.len()
        ),
        false => format!(
            "History: sales counted per batch (no order ids to check them by; history.jsonl lists every purchase when the orders are checked by id), {} other purchase(s) listed, {} stock reading(s).",
            history.ops.len(),
            history.readings.len()
        ),
    }];
    lines.extend(ids(f));
    if let Some(r) = &f.readings {
        let every = record.scenario.audit.sample_interval.as_millis();
        lines.push(match (r.violations, r.checked) {
            (_, 0) => "Stock readings: none could be taken (Redis busy or unreachable all run).".to_owned(),
            (0, _) => format!(
                "Stock readings: all {} (one every {every} ms) within what the sales and in-doubt purchases allow.",
                r.checked
            ),
            (n, _) => format!(
                "Stock readings: {n} of {} outside what the history allows: the stock went where no order of the sales explains (negative, or units back), which the final count alone cannot see.",
                r.checked
            ),
        });
    }
    if let Some(s) = f.sold_outs.as_ref().filter(|s| s.count > 0) {
        lines.push(format!(
            "{} of {} sold-out answer(s) came while the history proves units remained: buyers turned away from stock the sale still had.",
            s.count, s.checked
        ));
    }
    if history.sold_outs_omitted > 0 {
        lines.push(format!(
            "{} sold-out answer(s) beyond the first million were counted but not kept in the history.",
            history.sold_outs_omitted
        ));
    }
    if f.readings.is_some() && f.sold_outs.is_none() && record.segments.len() == 1 {
        lines.push(
            "Sold-out answers were not judged: workers were lost, and their last purchases are unknown."
                .to_owned(),
        );
    }
    lines.extend(
        f.note
            .iter()
            .map(|n| format!("Orders not checked by id: {n}.")),
    );
    lines
}

fn ids(f: &Findings) -> Option<String> {
    let ids = f.ids.as_ref()?;
    let doubt = match (ids.in_doubt, ids.unresolvable) {
        (0, _) => String::new(),
        (n, true) => format!(" {n} in doubt could not be resolved (the service's order ids are not the purchase ids)."),
        (n, false) => format!(
            " Of {n} in doubt, {} applied and {} not: each settled by its id.",
            ids.applied, ids.not_applied
        ),
    };
    Some(format!(
        "Orders by id: {} acknowledged sale(s), {} lost, {} phantom order(s).{doubt}",
        ids.acknowledged,
        ids.lost,
        ids.phantom + ids.duplicates
    ))
}
