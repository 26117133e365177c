//! The run as a history of operations, Jepsen-style: every purchase with
//! its id, buyer, invoke and complete instants and outcome (`ok`, `fail`,
//! `info` for in doubt), and the coordinator's readings of the stock. The
//! checks over it ([`check`]) name each lost sale, resolve each in-doubt
//! purchase by its id in the orders, and bound every stock reading by what
//! the history allows; [`jsonl`] exports it for other checkers.
//!
//! Workers ship a [`ShippedOp`] per purchase on their host's monotonic
//! clock; the coordinator keeps them as [`Op`]s on the run's clock (since
//! `Go`). Memory stays bounded by the stock: every sale, in-doubt purchase
//! and sold-out answer is kept, other refusals only up to a sample per
//! worker (their counts are the counters').

pub mod check;
pub mod jsonl;
pub mod rows;

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::outcome::{Outcome, PurchaseReport};

/// A purchase's id: the client's run-wide id (worker << 32 | client) and
/// the attempt's number on that client, from 1. Printed `<client>-<attempt>`
/// in hex: what `{token}` stands for and `record_orders` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PurchaseId {
    pub client: u64,
    pub attempt: u32,
}

impl PurchaseId {
    pub fn new(client: u64, attempt: u32) -> PurchaseId {
        PurchaseId { client, attempt }
    }

    /// The worker that made it.
    pub fn worker(self) -> u32 {
        (self.client >> 32) as u32
    }

    /// Reads an id this run could have made: two lowercase hex numbers
    /// joined by one `-`, the attempt at least 1.
    pub fn parse(text: &str) -> Option<PurchaseId> {
        let (client, attempt) = text.split_once('-')?;
        let hex = |s: &str| {
            !s.is_empty()
                && s.len() <= 16
                && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if !hex(client) || !hex(attempt) || attempt.len() > 8 {
            return None;
        }
        let client = u64::from_str_radix(client, 16).ok()?;
        let attempt = u32::from_str_radix(attempt, 16).ok().filter(|&a| a > 0)?;
        Some(PurchaseId { client, attempt })
    }
}

impl std::fmt::Display for PurchaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}-{:x}", self.client, self.attempt)
    }
}

/// An order's id as the orders key holds it: one of this run's purchase
/// ids, or any other text (a service's own order id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderId {
    Purchase(PurchaseId),
    Text(Box<str>),
    /// A sale the service acknowledged without the `order_id` its reply
    /// should hold.
    Missing,
}

impl OrderId {
    pub fn parse(text: &str) -> OrderId {
        match PurchaseId::parse(text) {
            Some(id) => OrderId::Purchase(id),
            None => OrderId::Text(text.into()),
        }
    }
}

impl std::fmt::Display for OrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderId::Purchase(id) => id.fmt(f),
            OrderId::Text(text) => f.write_str(text),
            OrderId::Missing => f.write_str("(no order id)"),
        }
    }
}

/// How a purchase ended, in the history's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum End {
    #[serde(rename = "ok")]
    Ok,
    /// In doubt: the write may or may not have applied.
    #[serde(rename = "info")]
    InDoubt,
    /// In doubt because `WAIT` did not confirm the sale.
    #[serde(rename = "unconfirmed")]
    Unconfirmed,
    #[serde(rename = "sold_out")]
    SoldOut,
    /// Any other refusal or error, by its name (`gave_up`, `timeout`, a
    /// script's rejection word, ...): nothing was written.
    #[serde(rename = "fail")]
    Fail(String),
}

impl End {
    /// `None` for a purchase the stop rule cut off (not an attempt).
    pub fn of(outcome: Outcome) -> Option<End> {
        Some(match outcome {
            Outcome::Sold => End::Ok,
            Outcome::InDoubt => End::InDoubt,
            Outcome::SoldOut => End::SoldOut,
            Outcome::Cancelled => return None,
            Outcome::GaveUp => End::Fail("gave_up".to_owned()),
            Outcome::FencedOut => End::Fail("fenced_out".to_owned()),
            Outcome::Rejected(word) => End::Fail(word.to_owned()),
            Outcome::Error(kind) => End::Fail(kind.name().to_owned()),
        })
    }
}

/// One purchase as a worker ships it. One crosses the pipe per purchase,
/// so it travels as a bare array ([`Wire`]), not an object with names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct ShippedOp {
    /// The client's index in its worker.
    pub client: u32,
    pub attempt: u32,
    pub buyer: u64,
    /// The host's monotonic clock, ns.
    pub invoke_ns: u64,
    pub complete_ns: u64,
    pub end: End,
    /// `http` with `order_id`: the id the reply gave a sale.
    pub order_id: Option<String>,
}

/// `[client, attempt, buyer, invoke ns, complete - invoke ns, end, text]`:
/// end 0 ok, 1 in doubt, 2 unconfirmed, 3 sold out, 4 another refusal
/// (its word the text); a sale's text is its reply's order id.
type Wire = (u32, u32, u64, u64, u64, u8, Option<String>);

impl From<ShippedOp> for Wire {
    fn from(op: ShippedOp) -> Wire {
        let (end, text) = match op.end {
            End::Ok => (0, op.order_id),
            End::InDoubt => (1, None),
            End::Unconfirmed => (2, None),
            End::SoldOut => (3, None),
            End::Fail(word) => (4, Some(word)),
        };
        let took = op.complete_ns.saturating_sub(op.invoke_ns);
        (
            op.client,
            op.attempt,
            op.buyer,
            op.invoke_ns,
            took,
            end,
            text,
        )
    }
}

impl TryFrom<Wire> for ShippedOp {
    type Error = String;

    fn try_from(
        (client, attempt, buyer, invoke_ns, took, end, text): Wire,
    ) -> Result<Self, String> {
        let (end, order_id) = match (end, text) {
            (0, id) => (End::Ok, id),
            (1, _) => (End::InDoubt, None),
            (2, _) => (End::Unconfirmed, None),
            (3, _) => (End::SoldOut, None),
            (4, word) => (End::Fail(word.unwrap_or_default()), None),
            (other, _) => return Err(format!("no purchase ends with code {other}")),
        };
        Ok(ShippedOp {
            client,
            attempt,
            buyer,
            invoke_ns,
            complete_ns: invoke_ns + took,
            end,
            order_id,
        })
    }
}

/// Refusals other than sold out a worker ships with their ids; beyond,
/// only the counters count them.
pub const FAILS_SAMPLED: u32 = 1000;

/// Sales a worker shipped as a count, when no id of theirs is checked:
/// how many, the earliest invocation and the latest completion (host's
/// monotonic clock, ns). The bounds on the stock take them as invoked at
/// the first instant and completed at the last, which only loosens them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesSpan {
    pub count: u64,
    pub first_invoke_ns: u64,
    pub last_complete_ns: u64,
}

impl SalesSpan {
    pub fn add(span: &mut Option<SalesSpan>, invoke_ns: u64, complete_ns: u64) {
        let s = span.get_or_insert(SalesSpan {
            count: 0,
            first_invoke_ns: invoke_ns,
            last_complete_ns: complete_ns,
        });
        s.count += 1;
        s.first_invoke_ns = s.first_invoke_ns.min(invoke_ns);
        s.last_complete_ns = s.last_complete_ns.max(complete_ns);
    }
}

/// What a worker ships of one purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Op(ShippedOp),
    /// A sale no id of which is checked: counted in the batch's span.
    Sale {
        invoke_ns: u64,
        complete_ns: u64,
    },
}

/// A worker's side: what to ship of each purchase.
#[derive(Debug)]
pub struct Recorder {
    /// `Instant`s to the monotonic clock, with no clock read per purchase.
    base: Instant,
    base_ns: u64,
    fails: u32,
    /// Every sale with its id (the orders are checked by id); else sales
    /// are counted per batch ([`SalesSpan`]).
    ids: bool,
}

impl Recorder {
    pub fn new(ids: bool) -> Recorder {
        let base_ns = crate::hold::monotonic_ns();
        Recorder {
            base: Instant::now(),
            base_ns,
            fails: 0,
            ids,
        }
    }

    fn ns(&self, t: Instant) -> u64 {
        self.base_ns + t.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// What to ship of one purchase, if anything: sales (each, or counted
    /// when no id is checked), in-doubt purchases and sold-out answers
    /// always, other refusals up to [`FAILS_SAMPLED`].
    pub fn op(
        &mut self,
        (client, attempt, buyer): (u32, u32, u64),
        report: &PurchaseReport,
        sent: Instant,
        ended: Instant,
    ) -> Option<Record> {
        if !self.ids && report.outcome == Outcome::Sold && !report.unconfirmed {
            return Some(Record::Sale {
                invoke_ns: self.ns(sent),
                complete_ns: self.ns(ended),
            });
        }
        let mut end = End::of(report.outcome)?;
        if report.unconfirmed {
            end = End::Unconfirmed;
        }
        if matches!(end, End::Fail(_)) {
            if self.fails >= FAILS_SAMPLED {
                return None;
            }
            self.fails += 1;
        }
        Some(Record::Op(ShippedOp {
            client,
            attempt,
            buyer,
            invoke_ns: self.ns(sent),
            complete_ns: self.ns(ended),
            order_id: report.order_id.clone().filter(|_| end == End::Ok),
            end,
        }))
    }
}

/// How a kept purchase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpEnd {
    Ok,
    InDoubt {
        unconfirmed: bool,
    },
    SoldOut,
    /// Index into [`History::fail_words`].
    Fail(u16),
}

/// One purchase on the run's clock (ns since `Go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub id: OrderId,
    /// The purchase id `{token}` stood for (with `order_id`, the reply's
    /// id may differ).
    pub token: PurchaseId,
    pub buyer: u64,
    /// The client's number in the run.
    pub process: u32,
    pub invoke: i64,
    pub complete: i64,
    pub end: OpEnd,
}

/// One reading of the stock by the coordinator: sent at `start`, answered
/// at `end` (run clock, ns), the units over every segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub start: i64,
    pub end: i64,
    pub stock: i64,
}

/// Sold-out answers kept: they end the buyer, so a run has about one per
/// client; a schedule that goes on arriving is cut off here.
const SOLD_OUTS_KEPT: usize = 1_000_000;

/// The run's history as the coordinator keeps it.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// In arrival order.
    pub ops: Vec<Op>,
    pub fail_words: Vec<String>,
    sold_outs: usize,
    /// Sold-out answers beyond [`SOLD_OUTS_KEPT`].
    pub sold_outs_omitted: u64,
    pub readings: Vec<Reading>,
    /// Sales shipped as counts (no ids checked), on the run's clock: how
    /// many, the first invocation, the last completion.
    pub spans: Vec<(u64, i64, i64)>,
    /// Per host: its monotonic clock at `Go`, and how far its instants may
    /// be off the coordinator's (0 for this machine).
    hosts: Vec<(u64, i64)>,
    /// This machine's monotonic clock at `Go`.
    origin_ns: u64,
    /// Clients per worker, for the process number.
    clients: u32,
    /// `http` with `order_id`: a sale's id is the one its reply gave.
    reply_ids: bool,
    /// Every acknowledged sale's reply id was its own purchase id (or the
    /// reply had none to give): in-doubt purchases can be looked up by id.
    pub ids_are_tokens: bool,
}

impl History {
    /// `hosts`: per load host, its monotonic clock at `Go` and the bound on
    /// its offset from this machine's (`None`, 0: this machine).
    /// `reply_ids`: `http` with `order_id`, where a sale's id is the one its
    /// reply gave.
    pub fn new(
        origin_ns: u64,
        hosts: Vec<(Option<u64>, i64)>,
        clients: u32,
        reply_ids: bool,
    ) -> History {
        History {
            hosts: hosts
                .into_iter()
                .map(|(at, slack)| (at.unwrap_or(origin_ns), slack))
                .collect(),
            origin_ns,
            clients,
            reply_ids,
            ids_are_tokens: true,
            ..History::default()
        }
    }

    /// The most any host's instants may be off this machine's clock.
    pub fn slack_ns(&self) -> i64 {
        self.hosts.iter().map(|h| h.1).max().unwrap_or(0)
    }

    /// Whether every host's instants could be placed on this machine's
    /// clock (a remote host that never said when it got `Go` cannot).
    pub fn clocks_known(&self) -> bool {
        self.slack_ns() < i64::MAX / 8
    }

    /// A worker's ops, from the host `host`.
    pub fn add(&mut self, worker: u32, host: usize, ops: Vec<ShippedOp>) {
        let origin = self.hosts.get(host).map_or(self.origin_ns, |h| h.0);
        let at = |ns: u64| ns as i64 - origin as i64;
        for op in ops {
            let token = PurchaseId::new(u64::from(worker) << 32 | u64::from(op.client), op.attempt);
            let end = match op.end {
                End::Ok => OpEnd::Ok,
                End::InDoubt => OpEnd::InDoubt { unconfirmed: false },
                End::Unconfirmed => OpEnd::InDoubt { unconfirmed: true },
                End::SoldOut if self.sold_outs >= SOLD_OUTS_KEPT => {
                    self.sold_outs_omitted += 1;
                    continue;
                }
                End::SoldOut => {
                    self.sold_outs += 1;
                    OpEnd::SoldOut
                }
                End::Fail(word) => OpEnd::Fail(self.word(word)),
            };
            let id = match op.order_id {
                Some(text) => OrderId::parse(&text),
                None if self.reply_ids && end == OpEnd::Ok => OrderId::Missing,
                None => OrderId::Purchase(token),
            };
            if matches!(&id, OrderId::Text(_)) || matches!(&id, OrderId::Purchase(p) if *p != token)
            {
                self.ids_are_tokens = false;
            }
            self.ops.push(Op {
                id,
                token,
                buyer: op.buyer,
                process: worker * self.clients + op.client,
                invoke: at(op.invoke_ns),
                complete: at(op.complete_ns),
                end,
            });
        }
    }

    /// A worker's sales shipped as a count.
    pub fn add_span(&mut self, host: usize, span: SalesSpan) {
        let origin = self.hosts.get(host).map_or(self.origin_ns, |h| h.0) as i64;
        self.spans.push((
            span.count,
            span.first_invoke_ns as i64 - origin,
            span.last_complete_ns as i64 - origin,
        ));
    }

    /// Every purchase is in `ops`, each with its id: `history.jsonl` can
    /// be written.
    pub fn complete(&self) -> bool {
        self.spans.is_empty()
    }

    fn word(&mut self, word: String) -> u16 {
        match self.fail_words.iter().position(|w| *w == word) {
            Some(i) => i as u16,
            None => {
                self.fail_words.push(word);
                (self.fail_words.len() - 1) as u16
            }
        }
    }

    /// A stock reading taken between two instants of this machine's
    /// monotonic clock.
    pub fn reading(&mut self, start_ns: u64, end_ns: u64, stock: i64) {
        let at = |ns: u64| ns as i64 - self.origin_ns as i64;
        self.readings.push(Reading {
            start: at(start_ns),
            end: at(end_ns),
            stock,
        });
    }

    /// The name of a failed op's outcome.
    pub fn fail_word(&self, end: OpEnd) -> &str {
        match end {
            OpEnd::Ok => "ok",
            OpEnd::InDoubt { unconfirmed: false } => "in_doubt",
            OpEnd::InDoubt { unconfirmed: true } => "unconfirmed",
            OpEnd::SoldOut => "sold_out",
            OpEnd::Fail(i) => self
                .fail_words
                .get(usize::from(i))
                .map_or("fail", String::as_str),
        }
    }
}

/// The ids the orders key holds, each with how many times.
pub type StoredOrders = HashMap<OrderId, u32>;

/// What the orders key showed at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orders {
    ById(StoredOrders),
    /// They do not name purchases by id after all: why (a stream with no
    /// `orders_id_field`); they are counted instead.
    NotById(String),
}
