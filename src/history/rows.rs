//! The history's findings as audit rows (`audit.csv`), each saying in
//! words what it checked and what it saw: the lost ids and when they were
//! acknowledged, the readings out of bounds and when they were taken.

use super::check::{FalseSoldOuts, Findings, IdFindings, ReadingFindings};
use super::OrderId;
use crate::audit::{Check, Invariant};
use crate::verdict::HistoryFigures;

/// Seconds since the start, from the run clock's nanoseconds.
fn secs(ns: i64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn at(ids: &[(OrderId, i64)], what: &str) -> String {
    let named: Vec<String> = ids
        .iter()
        .map(|(id, t)| format!("{id} ({what} at {})", secs(*t)))
        .collect();
    named.join(", ")
}

/// The counts and first findings the verdict's headline quotes.
pub fn figures(f: &Findings) -> HistoryFigures {
    let mut h = HistoryFigures::default();
    if let Some(ids) = &f.ids {
        h.lost_sales = ids.lost;
        h.lost_first = at(&ids.lost_first, "acknowledged");
        h.lost_span = ids
            .lost_span
            .map(|(from, to)| format!("{} to {}", secs(from), secs(to)));
        h.in_doubt_applied = ids.applied;
        h.phantom_orders = ids.phantom + ids.duplicates;
        let first: Vec<String> = ids.phantom_first.iter().map(ToString::to_string).collect();
        h.phantom_first = match first.is_empty() {
            true => "ids recorded twice".to_owned(),
            false => first.join(", "),
        };
    }
    if let Some(s) = &f.sold_outs {
        h.false_sold_outs = s.count;
        if let Some((id, t, low)) = s.first.first() {
            h.false_first = format!("{id} at {}, with at least {low} units left", secs(*t));
        }
    }
    if let Some(r) = &f.readings {
        h.reading_violations = r.violations;
        if let Some(v) = r.first.first() {
            h.reading_first = format!("{} at {}: {}", v.what(), secs(v.reading.end), v.against());
        }
    }
    h
}

/// Every row the findings make; `key` names the orders.
pub fn invariants(f: &Findings, key: &str) -> Vec<Invariant> {
    let mut rows = Vec::new();
    if let Some(ids) = &f.ids {
        rows.push(every_sale_recorded(ids, key));
        rows.push(no_phantom_orders(ids, key));
        rows.push(in_doubt_resolved(ids));
    }
    if let Some(r) = &f.readings {
        rows.push(stock_readings_consistent(r));
    }
    if let Some(s) = &f.sold_outs {
        rows.push(no_false_sold_out(s));
    }
    rows
}

fn every_sale_recorded(f: &IdFindings, key: &str) -> Invariant {
    let mut observed = match f.lost {
        0 => format!("all {} found", f.acknowledged),
        n => {
            let ids: Vec<String> = f.lost_first.iter().map(|(id, _)| id.to_string()).collect();
            let times: Vec<String> = f.lost_first.iter().map(|(_, t)| secs(*t)).collect();
            format!(
                "{n} of {} missing (first: {}), acknowledged at {}",
                f.acknowledged,
                ids.join(", "),
                times.join(", ")
            )
        }
    };
    if f.without_id > 0 {
        observed.push_str(&format!(
            "; {} sale(s) replied without an order id",
            f.without_id
        ));
    }
    Invariant {
        name: Check::EverySaleRecorded,
        expected: format!("every acknowledged sale's id is in {key}"),
        observed,
        pass: f.lost == 0 && f.without_id == 0,
    }
}

fn no_phantom_orders(f: &IdFindings, key: &str) -> Invariant {
    let mut parts = Vec::new();
    if f.phantom > 0 {
        let first: Vec<String> = f.phantom_first.iter().map(ToString::to_string).collect();
        parts.push(format!(
            "{} order(s) of no purchase acknowledged or in doubt (first: {})",
            f.phantom,
            first.join(", ")
        ));
    }
    if f.duplicates > 0 {
        parts.push(format!("{} id(s) recorded more than once", f.duplicates));
    }
    if parts.is_empty() {
        parts.push("none".to_owned());
    }
    if f.unreported > 0 {
        parts.push(format!(
            "{} order(s) of workers lost before they reported them, counted as in doubt and applied",
            f.unreported
        ));
    }
    if f.unresolvable && f.in_doubt > 0 {
        parts.push(format!(
            "the service's order ids are not the purchase ids: up to {} order(s) may be in-doubt purchases that landed",
            f.in_doubt
        ));
    }
    Invariant {
        name: Check::NoPhantomOrders,
        expected: format!("every order in {key} is one purchase acknowledged or in doubt"),
        observed: parts.join("; "),
        pass: f.phantom == 0 && f.duplicates == 0,
    }
}

/// Information more than a check: each in-doubt purchase is settled.
fn in_doubt_resolved(f: &IdFindings) -> Invariant {
    let mut observed = match (f.in_doubt, f.unresolvable) {
        (0, _) => "no purchase in doubt".to_owned(),
        (n, true) => format!("{n} in doubt, not resolvable: the service's order ids are not the purchase ids (reply {{token}} as order_id)"),
        (n, false) if f.applied > 0 => format!(
            "{n} in doubt: {} applied ({}), {} not applied",
            f.applied,
            at(&f.applied_first, "in doubt"),
            f.not_applied
        ),
        (n, false) => format!("{n} in doubt: none applied"),
    };
    if f.unreported > 0 {
        observed.push_str(&format!(
            "; {} order(s) of workers lost before they reported them: their purchases were in doubt, and applied",
            f.unreported
        ));
    }
    Invariant {
        name: Check::InDoubtResolved,
        expected: "each in-doubt purchase applied if its id is in the orders".to_owned(),
        observed,
        pass: true,
    }
}

fn stock_readings_consistent(r: &ReadingFindings) -> Invariant {
    let low = match r.low_checked {
        true => "",
        false => " (upper bound only: workers were lost, and their last purchases are unknown)",
    };
    let observed = match (r.violations, r.checked) {
        (_, 0) => "no reading could be taken (Redis busy or unreachable all run)".to_owned(),
        (0, _) => format!("all {} reading(s) within bounds{low}", r.checked),
        (n, _) => {
            let first: Vec<String> = r
                .first
                .iter()
                .map(|v| format!("{} at {}: {}", v.what(), secs(v.reading.end), v.against()))
                .collect();
            format!(
                "{n} of {} reading(s) outside{low}: {}",
                r.checked,
                first.join("; ")
            )
        }
    };
    Invariant {
        name: Check::StockReadingsConsistent,
        expected: "every reading between initial - (sales + in doubt invoked) and initial - (sales acknowledged), never below 0".to_owned(),
        observed,
        pass: r.violations == 0,
    }
}

fn no_false_sold_out(s: &FalseSoldOuts) -> Invariant {
    let observed = match s.count {
        0 => format!(
            "{} sold-out answer(s), none while units remained",
            s.checked
        ),
        n => {
            let first: Vec<String> = s
                .first
                .iter()
                .map(|(id, t, low)| format!("{id} at {} ({low}+ units left)", secs(*t)))
                .collect();
            format!(
                "{n} of {} sold-out answer(s) while units remained: {}",
                s.checked,
                first.join(", ")
            )
        }
    };
    Invariant {
        name: Check::NoFalseSoldOut,
        expected: "no buyer told sold out while the history proves units remained".to_owned(),
        observed,
        pass: s.count == 0,
    }
}
