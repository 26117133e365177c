//! The lock-safety checker's findings in words, for the terminal and the
//! HTML page: how many pairs of clients held the lock at once, and the
//! first few of them explained.

use std::time::Duration;

use crate::checker::{LockSafety, Overlap};
use crate::record::RunRecord;

/// One line per finding; the first says what the checker concluded.
pub fn lines(record: &RunRecord) -> Vec<String> {
    let Some(safety) = &record.lock_safety else {
        let strategy = &record.scenario.strategy;
        let why = match strategy.kind.takes_lock() {
            true => format!(
                "not run: each of the {} stock segments has its own lock, and the checker compares holds of one lock",
                record.scenario.stock.segments
            ),
            false => format!("not applicable (strategy {} takes no lock)", strategy.kind.name()),
        };
        return vec![format!("Lock-safety checker: {why}.")];
    };
    let ttl = record.scenario.strategy.lock.ttl;
    let mut lines = vec![summary(safety)];
    if safety.hosts > 1 {
        lines.push(format!(
            "The checker compared lock holds within each of the {} load hosts only: their clocks are not comparable, so two clients on different hosts holding the lock at once are not seen here (the stock audit still counts any oversell).",
            safety.hosts
        ));
    }
    lines.extend(safety.examples.iter().map(|o| explain(o, ttl)));
    if safety.unsafe_overlaps == 0 {
        lines.extend(safety.fenced_example.iter().map(|o| explain(o, ttl)));
    }
    lines
}

fn summary(s: &LockSafety) -> String {
    match (s.unsafe_overlaps, s.fenced_overlaps) {
        (0, 0) => format!(
            "Lock-safety checker: {} lock holds compared, no two clients ever held the lock at once.",
            s.holds
        ),
        (0, fenced) => format!(
            "Lock-safety checker: two clients held the lock at once {fenced} time(s), and every stale write was refused (fenced): the lock is not exclusive, but the stock stayed safe."
        ),
        (unsafe_overlaps, fenced) => format!(
            "Lock-safety checker: two clients held the lock at once and both wrote the stock {unsafe_overlaps} time(s) (and {fenced} time(s) with a write refused), out of {} holds: this lock is not exclusive and would oversell at the last units.",
            s.holds
        ),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One overlap in a sentence or two.
pub fn explain(o: &Overlap, ttl: Duration) -> String {
    let (stale, newer) = (&o.stale, &o.newer);
    let held = stale.write_sent.saturating_sub(stale.granted);
    let why = if held > ttl {
        format!("{}, past the {} TTL", ms(held), ms(ttl))
    } else {
        format!(
            "{}, within the {} TTL, so its lock was deleted by another client",
            ms(held),
            ms(ttl)
        )
    };
    let ending = match (stale.applied, newer.applied) {
        (true, true) => format!(
            "Both writes applied: {}'s was stale, decided under a lock it no longer held.",
            stale.client
        ),
        (false, _) => format!("{}'s stale write was refused.", stale.client),
        (true, false) => format!("{}'s write was refused.", newer.client),
    };
    format!(
        "{} got the lock at {} and sent its stock write at {} ({why}); {} got the lock at {} and wrote at {}. {ending}",
        stale.client,
        ms(stale.granted),
        ms(stale.write_sent),
        newer.client,
        ms(newer.granted),
        ms(newer.write_sent),
    )
}
