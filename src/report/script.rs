//! What the user's script and the ledgers beyond the stock showed, in
//! sentences shared by the terminal summary and the HTML page: the code
//! that ran, its named rejections, the replies nobody mapped, the buyers
//! over the limit, the orders and the declared keys.

use crate::record::RunRecord;

/// Unexpected replies shown with their counts.
const SHOWN: usize = 3;

pub fn lines(record: &RunRecord) -> Vec<String> {
    let mut lines = Vec::new();
    let c = &record.totals.counters;
    if let Some(script) = &record.scenario.script {
        let how = match (&record.library, script.steps.as_slice()) {
            (Some(lib), [one]) => format!("function library `{lib}`, FCALL {one}"),
            (Some(lib), steps) => format!(
                "function library `{lib}`, FCALL {} in turn",
                steps.join(" then ")
            ),
            (None, _) => "EVALSHA".to_owned(),
        };
        lines.push(format!("Script {} ({how}).", script.path.display()));
    }
    if let Some(http) = &record.scenario.http {
        let service = match &record.scenario.service {
            Some(s) => format!(
                " on {} instance(s) of `{}` started by the harness (their output in service-<i>.log)",
                s.instances,
                s.command.join(" ")
            ),
            None => String::new(),
        };
        lines.push(format!(
            "HTTP: {} {}{service}; reply {}.",
            http.method,
            crate::util::redact::redact(&http.url.text),
            http.reply
                .as_deref()
                .map_or("= the status code".to_owned(), |p| format!("at {p}"))
        ));
    }
    let by = match record.scenario.http {
        Some(_) => "service",
        None => "script",
    };
    if !c.rejections.is_empty() {
        let words: Vec<String> = c
            .rejections
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect();
        lines.push(format!(
            "{} purchase(s) rejected by the {by}: {}.",
            c.rejection_total(),
            words.join(", ")
        ));
    }
    if !c.unexpected.is_empty() {
        let shown: Vec<String> = c
            .unexpected
            .iter()
            .take(SHOWN)
            .map(|(reply, n)| format!("`{reply}` x {n}"))
            .collect();
        let more = match c.unexpected.len().saturating_sub(SHOWN) {
            0 => String::new(),
            n => format!(" and {n} more distinct"),
        };
        lines.push(format!(
            "Unexpected replies (unexpected_reply: not in [strategy.replies], or `next` from the last step): {}{more}.",
            shown.join(", ")
        ));
    }
    let ledgers = &record.ledgers;
    if let Some((limit, v)) = &ledgers.buyers {
        let across = match v.across_segments {
            0 => String::new(),
            n => format!(", {n} of them across segments"),
        };
        // The ledger holds the sales the replies confirmed; a purchase in
        // doubt may have sold one more unit to its buyer.
        let doubt = match record.in_doubt {
            0 => String::new(),
            n => format!(
                " ({n} purchase(s) in doubt are not in it: any of their buyers may have one more)"
            ),
        };
        lines.push(format!(
            "Per-buyer limit {limit}, from the harness's own ledger of replies: {} buyer(s) over it{across}{doubt}.",
            v.buyers
        ));
    }
    if let Some(o) = &ledgers.orders {
        let counted = match &o.count {
            Ok(n) => format!("{n} order(s)"),
            Err(why) => why.clone(),
        };
        lines.push(format!(
            "Orders in {}: {counted}, for {} recorded sale(s) and {} in doubt.",
            o.key, o.sales, o.in_doubt
        ));
    }
    if let Some(why) = &ledgers.unchecked {
        lines.push(format!(
            "The orders and the declared keys were not checked: {why}."
        ));
    }
    for k in &ledgers.keys {
        lines.push(format!(
            "Key {} (declared {}): {} with {} entries.",
            k.key,
            k.declared,
            k.found.join(" "),
            k.size
        ));
    }
    lines
}
