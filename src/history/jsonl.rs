//! `history.jsonl`: the history in Jepsen's vocabulary, one event per
//! line in time order, for users' own checkers. A purchase is two events of
//! one `process` (the client's number in the run), `f` `"buy"`:
//!
//! ```text
//! {"index":0,"type":"invoke","f":"buy","value":{"id":"1-2","buyer":17,"units":1},"time":1200,"process":1}
//! {"index":1,"type":"ok","f":"buy","value":{"id":"1-2","buyer":17,"units":1},"time":3400,"process":1}
//! ```
//!
//! The completion's `type` is `ok` (sold; `recorded` says whether its id
//! is in the orders, when they were checked by id), `fail` (nothing
//! written; `error` says why: `sold_out`, `gave_up`, a script's rejection
//! word, an error kind) or `info` (in doubt; `error` is `in_doubt` or
//! `unconfirmed`, and `applied` says how the orders resolved it, when they
//! could). As in Jepsen, a process whose op ended `info` is taken for
//! crashed: the client's next purchase is a new process, its number plus
//! the run's clients. The coordinator's stock readings are `f` `"read"` of
//! process `"stock"`, the value on the `ok`. `time` is nanoseconds since
//! the run's start.

use std::io::Write;

use super::{History, Op, OpEnd};

enum Event<'a> {
    Invoke(&'a Op),
    Complete(&'a Op),
    ReadInvoke,
    ReadOk(i64),
}

/// How the orders settled an op: an `ok` one `recorded` or not, an `info`
/// one `applied` or not (`None`: not checked).
pub type Settled<'a> = &'a dyn Fn(&Op) -> Option<bool>;

/// Writes every event. `units`: a purchase's quantity; `clients`: the
/// run's, by which a crashed process's number moves on.
///
/// # Errors
/// When writing fails.
pub fn write(
    history: &History,
    (units, clients): (u64, u64),
    settled: Settled<'_>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut events: Vec<(i64, Event<'_>)> =
        Vec::with_capacity(2 * (history.ops.len() + history.readings.len()));
    for op in &history.ops {
        events.push((op.invoke, Event::Invoke(op)));
        events.push((op.complete, Event::Complete(op)));
    }
    for r in &history.readings {
        events.push((r.start, Event::ReadInvoke));
        events.push((r.end, Event::ReadOk(r.stock)));
    }
    // Stable: an op's invoke stays before its completion at equal times.
    events.sort_by_key(|(t, _)| *t);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut crashes: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    for (index, (time, event)) in events.iter().enumerate() {
        let head = format_args!("{{\"index\":{index},\"type\":");
        match event {
            Event::ReadInvoke => writeln!(
                out,
                "{head}\"invoke\",\"f\":\"read\",\"value\":null,\"time\":{time},\"process\":\"stock\"}}"
            )?,
            Event::ReadOk(stock) => writeln!(
                out,
                "{head}\"ok\",\"f\":\"read\",\"value\":{stock},\"time\":{time},\"process\":\"stock\"}}"
            )?,
            Event::Invoke(op) | Event::Complete(op) => {
                let invoke = matches!(event, Event::Invoke(_));
                let kind = match (invoke, op.end) {
                    (true, _) => "invoke",
                    (false, OpEnd::Ok) => "ok",
                    (false, OpEnd::InDoubt { .. }) => "info",
                    (false, OpEnd::SoldOut | OpEnd::Fail(_)) => "fail",
                };
                let id = match &op.id {
                    // Hex and a dash: nothing to escape.
                    super::OrderId::Purchase(p) => format!("\"{p}\""),
                    other => serde_json::to_string(&other.to_string()).unwrap_or_default(),
                };
                let crashed = crashes.get(&op.process).copied().unwrap_or(0);
                let process = u64::from(op.process) + crashed * clients;
                write!(
                    out,
                    "{head}\"{kind}\",\"f\":\"buy\",\"value\":{{\"id\":{id},\"buyer\":{},\"units\":{units}}},\"time\":{time},\"process\":{process}",
                    op.buyer
                )?;
                if !invoke && op.end != OpEnd::Ok {
                    let word = serde_json::to_string(history.fail_word(op.end)).unwrap_or_default();
                    write!(out, ",\"error\":{word}")?;
                }
                match (invoke, op.end, settled(op)) {
                    (false, OpEnd::InDoubt { .. }, Some(applied)) => {
                        write!(out, ",\"applied\":{applied}")?;
                    }
                    (false, OpEnd::Ok, Some(recorded)) => write!(out, ",\"recorded\":{recorded}")?,
                    _ => {}
                }
                writeln!(out, "}}")?;
                if !invoke && matches!(op.end, OpEnd::InDoubt { .. }) {
                    *crashes.entry(op.process).or_default() += 1;
                }
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{End, ShippedOp};

    #[test]
    fn events_come_in_time_order_in_jepsens_words() {
        let mut h = History::new(0, vec![(Some(0), 0)], 4, false);
        let op = |attempt, i, t, end| ShippedOp {
            client: 1,
            attempt,
            buyer: 7,
            invoke_ns: i,
            complete_ns: t,
            end,
            order_id: None,
        };
        h.add(
            0,
            0,
            vec![
                op(1, 10, 40, End::Ok),
                op(2, 20, 30, End::SoldOut),
                op(3, 50, 90, End::InDoubt),
                op(4, 95, 99, End::Ok),
            ],
        );
        h.reading(25, 35, 9);
        let mut out = Vec::new();
        write(&h, (1, 4), &|_| Some(true), &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["invoke", "invoke", "invoke", "fail", "ok", "ok", "invoke", "info", "invoke", "ok"]
        );
        assert_eq!(lines[5]["recorded"], true);
        assert_eq!(lines[8]["process"], 5, "a new process after a crash");
        assert_eq!(lines[0]["value"]["id"], "1-1");
        assert_eq!(lines[0]["process"], 1);
        assert_eq!(lines[3]["error"], "sold_out");
        assert_eq!(lines[4]["f"], "read");
        assert_eq!(lines[4]["value"], 9);
        assert_eq!(lines[7]["error"], "in_doubt");
        assert_eq!(lines[7]["applied"], true);
        assert_eq!(lines[7]["index"], 7);
    }
}
