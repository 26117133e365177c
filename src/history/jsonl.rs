//! `history.jsonl`: the history in Jepsen's vocabulary, one event per
//! line in time order, for users' own checkers. A purchase is two events of
//! one `process` (the client's number in the run), `f` `"buy"`:
//!
//! ```text
//! {"index":0,"type":"invoke","f":"buy","value":{"id":"1-2","buyer":17,"units":1},"time":1200,"process":1}
//! {"index":1,"type":"ok","f":"buy","value":{"id":"1-2","buyer":17,"units":1},"time":3400,"process":1}
//! ```
//!
//! The completion's `type` is `ok` (sold), `fail` (nothing written; `error`
//! says why: `sold_out`, `gave_up`, a script's rejection word, an error
//! kind) or `info` (in doubt; `error` is `in_doubt` or `unconfirmed`, and
//! `applied` says how the orders resolved it, when they could). The
//! coordinator's stock readings are `f` `"read"` of process `"stock"`, the
//! value on the `ok`. `time` is nanoseconds since the run's start.

use std::io::Write;

use super::{History, Op, OpEnd};

enum Event<'a> {
    Invoke(&'a Op),
    Complete(&'a Op),
    ReadInvoke,
    ReadOk(i64),
}

/// Writes every event; `applied` tells how an in-doubt purchase resolved
/// (`None`: unknown). `units`: a purchase's quantity.
///
/// # Errors
/// When writing fails.
pub fn write(
    history: &History,
    units: u64,
    applied: &dyn Fn(&Op) -> Option<bool>,
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
                let id = serde_json::to_string(&op.id.to_string()).unwrap_or_default();
                write!(
                    out,
                    "{head}\"{kind}\",\"f\":\"buy\",\"value\":{{\"id\":{id},\"buyer\":{},\"units\":{units}}},\"time\":{time},\"process\":{}",
                    op.buyer, op.process
                )?;
                if !invoke && op.end != OpEnd::Ok {
                    let word = serde_json::to_string(history.fail_word(op.end)).unwrap_or_default();
                    write!(out, ",\"error\":{word}")?;
                }
                if let (false, OpEnd::InDoubt { .. }, Some(applied)) = (invoke, op.end, applied(op))
                {
                    write!(out, ",\"applied\":{applied}")?;
                }
                writeln!(out, "}}")?;
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
            ],
        );
        h.reading(25, 35, 9);
        let mut out = Vec::new();
        write(&h, 1, &|_| Some(true), &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["invoke", "invoke", "invoke", "fail", "ok", "ok", "invoke", "info"]
        );
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
