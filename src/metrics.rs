//! What workers record and the coordinator merges: per-phase HdrHistograms
//! (microseconds, 3 significant digits) and counters. Histograms cross the
//! pipe as their recorded buckets (value, count), which the coordinator
//! records into its own histograms bucket by bucket, so the merge is
//! lossless; `latency.hlog` keeps V2-deflate intervals, as its format wants.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::hold::Hold;
use crate::outcome::{ErrorKind, Outcome, PurchaseReport};
use crate::phase::Phase;

/// Plain counts of what happened. `attempts = sales + rejected_sold_out +
/// gave_up + fenced_out + in_doubt + errors`; cancelled purchases (cut off by the stop
/// rule while waiting for the lock) are not attempts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub attempts: u64,
    /// Purchases that decremented the stock.
    pub sales: u64,
    /// Units those purchases took (`sales x quantity`).
    pub sold_units: u64,
    pub rejected_sold_out: u64,
    /// `SET NX` calls that found the lock taken.
    pub lock_failures: u64,
    /// Lock waits that reached `wait_timeout`.
    pub wait_timeouts: u64,
    /// Purchases abandoned at a wait timeout (`on_wait_timeout = "give_up"`).
    pub gave_up: u64,
    /// `fenced` purchases refused because a newer token existed.
    pub fenced_out: u64,
    pub watch_aborts: u64,
    pub compensations: u64,
    pub cancelled: u64,
    /// Stock writes whose reply never came: maybe applied, maybe not.
    pub in_doubt: u64,
    /// Open loop: arrivals that found no idle client and had to queue.
    pub late: u64,
    /// Open loop: arrivals dropped because `max_in_flight` were in flight.
    pub dropped: u64,
    /// Of `in_doubt`: sales whose `WAIT` for `wait_replicas` replicas did
    /// not confirm them, so a failover may take them back.
    pub unconfirmed: u64,
    /// Reconnections that found a different primary (Sentinel failover).
    pub rediscoveries: u64,
    /// Segmented stock: extra segments tried before a sale or sold out.
    pub segment_hops: u64,
    /// Failed purchases by kind (`no_stock`, `timeout`, `io`, `redis`).
    pub errors: BTreeMap<String, u64>,
    /// The user's script: purchases it refused, by the word its reply maps to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rejections: BTreeMap<String, u64>,
    /// `unexpected_reply`: the distinct replies in the order first seen,
    /// with their counts; beyond [`UNEXPECTED_KEPT`] they count as `(other)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unexpected: Vec<(String, u64)>,
    /// `http` with `order_id`: sales whose reply held no order id.
    #[serde(default)]
    pub sales_without_order_id: u64,
}

/// Distinct unexpected replies kept with their own counts.
pub const UNEXPECTED_KEPT: usize = 16;
const OTHER_REPLIES: &str = "(other)";

impl Counters {
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Purchases the user's script refused by a named rejection.
    pub fn rejection_total(&self) -> u64 {
        self.rejections.values().sum()
    }

    /// Counts `n` of `reply`; once [`UNEXPECTED_KEPT`] distinct replies
    /// are kept, new ones count as one more entry, `(other)`.
    fn count_unexpected(&mut self, reply: &str, n: u64) {
        let full = self.unexpected.len() >= UNEXPECTED_KEPT;
        let reply = if full && !self.unexpected.iter().any(|(r, _)| r == reply) {
            OTHER_REPLIES
        } else {
            reply
        };
        match self.unexpected.iter_mut().find(|(r, _)| r == reply) {
            Some(seen) => seen.1 += n,
            None => self.unexpected.push((reply.to_owned(), n)),
        }
    }

    pub fn add(&mut self, other: &Counters) {
        self.attempts += other.attempts;
        self.sales += other.sales;
        self.sold_units += other.sold_units;
        self.rejected_sold_out += other.rejected_sold_out;
        self.lock_failures += other.lock_failures;
        self.wait_timeouts += other.wait_timeouts;
        self.gave_up += other.gave_up;
        self.fenced_out += other.fenced_out;
        self.watch_aborts += other.watch_aborts;
        self.compensations += other.compensations;
        self.cancelled += other.cancelled;
        self.in_doubt += other.in_doubt;
        self.late += other.late;
        self.dropped += other.dropped;
        self.unconfirmed += other.unconfirmed;
        self.rediscoveries += other.rediscoveries;
        self.segment_hops += other.segment_hops;
        self.sales_without_order_id += other.sales_without_order_id;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        for (word, n) in &other.rejections {
            *self.rejections.entry(word.clone()).or_default() += n;
        }
        for (reply, n) in &other.unexpected {
            self.count_unexpected(reply, *n);
        }
    }

    fn record(&mut self, report: &PurchaseReport, quantity: u64) {
        self.lock_failures += report.lock_failures;
        self.wait_timeouts += report.wait_timeouts;
        self.watch_aborts += report.watch_aborts;
        self.compensations += report.compensations;
        self.segment_hops += report.segment_hops;
        match &report.outcome {
            Outcome::Cancelled => {
                self.cancelled += 1;
                return;
            }
            Outcome::Sold => {
                self.sales += 1;
                self.sold_units += quantity;
            }
            Outcome::SoldOut => self.rejected_sold_out += 1,
            Outcome::GaveUp => self.gave_up += 1,
            Outcome::InDoubt => {
                self.in_doubt += 1;
                self.unconfirmed += u64::from(report.unconfirmed);
            }
            Outcome::FencedOut => self.fenced_out += 1,
            // Counted by the worker's tally, without allocating a key per
            // purchase, and folded in when shipped.
            Outcome::Rejected(_) => {}
            Outcome::Error(_) => {
                if let Some(reply) = &report.unexpected {
                    self.count_unexpected(reply, 1);
                }
            }
        }
        self.attempts += 1;
    }
}

/// One histogram per [`Phase`].
#[derive(Debug, Clone)]
pub struct PhaseHistograms {
    pub lock_wait: Histogram<u64>,
    pub critical_section: Histogram<u64>,
    pub purchase: Histogram<u64>,
    pub service: Histogram<u64>,
    pub pool_wait: Histogram<u64>,
}

impl Default for PhaseHistograms {
    fn default() -> Self {
        PhaseHistograms {
            lock_wait: new_histogram(),
            critical_section: new_histogram(),
            purchase: new_histogram(),
            service: new_histogram(),
            pool_wait: new_histogram(),
        }
    }
}

/// Microseconds, 3 significant digits; auto-resizing so that a histogram
/// that never saw a long latency stays small (they are reset and shipped
/// every few milliseconds).
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

impl PhaseHistograms {
    pub fn get(&self, phase: Phase) -> &Histogram<u64> {
        match phase {
            Phase::LockWait => &self.lock_wait,
            Phase::CriticalSection => &self.critical_section,
            Phase::Purchase => &self.purchase,
            Phase::Service => &self.service,
            Phase::PoolWait => &self.pool_wait,
        }
    }

    fn get_mut(&mut self, phase: Phase) -> &mut Histogram<u64> {
        match phase {
            Phase::LockWait => &mut self.lock_wait,
            Phase::CriticalSection => &mut self.critical_section,
            Phase::Purchase => &mut self.purchase,
            Phase::Service => &mut self.service,
            Phase::PoolWait => &mut self.pool_wait,
        }
    }

    /// Empties every histogram, keeping its size.
    pub fn reset(&mut self) {
        for phase in Phase::ALL {
            self.get_mut(phase).reset();
        }
    }

    /// # Errors
    /// Never in practice: the histograms auto-resize.
    pub fn add(&mut self, other: &PhaseHistograms) -> anyhow::Result<()> {
        for phase in Phase::ALL {
            if other.get(phase).is_empty() {
                continue;
            }
            self.get_mut(phase)
                .add(other.get(phase))
                .with_context(|| format!("merging the {} histogram", phase.name()))?;
        }
        Ok(())
    }
}

/// Records in microseconds. `record` grows an auto-resizing histogram;
/// `saturating_record` would clamp to its current top instead.
fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// A worker's recorder: counters and histograms since the last flush.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub counters: Counters,
    pub histograms: PhaseHistograms,
    /// Lock holds that ended in a definite stock write, for the checker.
    pub holds: Vec<Hold>,
    /// The buyer of each sale, and its segment (with several).
    pub buyers: Vec<u64>,
    pub buyer_segments: Vec<u8>,
    /// `audit.history`: the ops of the purchases since the last flush,
    /// and the sales counted rather than listed.
    pub ops: Vec<crate::history::ShippedOp>,
    pub sales_span: Option<crate::history::SalesSpan>,
    /// `http`: purchases under way per instance, shared with the strategy.
    pub instance_load: std::rc::Rc<[std::cell::Cell<u32>]>,
    /// What the last batch said of `instance_load`: a change is news.
    shipped_load: Vec<u32>,
    dirty: bool,
    /// Errors by kind and rejections by word since the last flush, counted
    /// in place; [`Metrics::fold`] moves them into `counters`.
    errors: [u64; ErrorKind::ALL.len()],
    rejections: Vec<(&'static str, u64)>,
}

impl Metrics {
    /// Records one finished purchase: `response` from its intended start,
    /// `service` from when it was sent.
    pub fn record(
        &mut self,
        report: &PurchaseReport,
        response: Duration,
        service: Duration,
        quantity: u64,
    ) {
        self.counters.record(report, quantity);
        match report.outcome {
            Outcome::Error(kind) => self.errors[kind.index()] += 1,
            Outcome::Rejected(word) => match self.rejections.iter_mut().find(|(w, _)| *w == word) {
                Some((_, n)) => *n += 1,
                None => self.rejections.push((word, 1)),
            },
            _ => {}
        }
        self.dirty = true;
        if let Some(hold) = report.hold {
            if matches!(report.outcome, Outcome::Sold | Outcome::FencedOut) {
                self.holds.push(hold);
            }
        }
        if matches!(report.outcome, Outcome::Cancelled) {
            return;
        }
        let h = &mut self.histograms;
        record(&mut h.purchase, response);
        record(&mut h.service, service);
        if let Some(d) = report.lock_wait {
            record(&mut h.lock_wait, d);
        }
        if let Some(d) = report.critical_section {
            record(&mut h.critical_section, d);
        }
        if let Some(d) = report.pool_wait {
            record(&mut h.pool_wait, d);
        }
    }

    /// Notes who bought, for the per-buyer ledger.
    pub fn sold_to(&mut self, buyer: u64, segment: u8) {
        self.buyers.push(buyer);
        self.buyer_segments.push(segment);
        self.dirty = true;
    }

    /// Purchases under way per instance right now.
    pub fn instances_in_flight(&self) -> Vec<u32> {
        self.instance_load
            .iter()
            .map(std::cell::Cell::get)
            .collect()
    }

    /// Moves the tallied errors and rejections into `counters`' maps.
    pub fn fold(&mut self) {
        for kind in ErrorKind::ALL {
            let n = std::mem::take(&mut self.errors[kind.index()]);
            if n > 0 {
                *self
                    .counters
                    .errors
                    .entry(kind.name().to_owned())
                    .or_default() += n;
            }
        }
        for (word, n) in self.rejections.drain(..) {
            *self.counters.rejections.entry(word.to_owned()).or_default() += n;
        }
    }

    pub fn count_late(&mut self) {
        self.counters.late += 1;
        self.dirty = true;
    }

    pub fn count_rediscovery(&mut self) {
        self.counters.rediscoveries += 1;
        self.dirty = true;
    }

    pub fn count_dropped(&mut self) {
        self.counters.dropped += 1;
        self.dirty = true;
    }

    /// Encodes everything recorded since the last call and starts afresh;
    /// `None` when nothing was recorded. `watermark_ns`: no hold recorded
    /// later was granted before it.
    ///
    /// # Errors
    /// Never today; kept fallible for the shipping format's sake.
    pub fn drain(&mut self, watermark_ns: u64) -> anyhow::Result<Option<Batch>> {
        let load = self.instances_in_flight();
        if !self.dirty && load == self.shipped_load {
            return Ok(None);
        }
        self.shipped_load.clone_from(&load);
        self.fold();
        let batch = Batch {
            counters: std::mem::take(&mut self.counters),
            holds: std::mem::take(&mut self.holds),
            buyers: std::mem::take(&mut self.buyers),
            buyer_segments: std::mem::take(&mut self.buyer_segments),
            ops: std::mem::take(&mut self.ops),
            sales_span: self.sales_span.take(),
            instances_in_flight: load,
            watermark_ns,
            lock_wait: buckets(&self.histograms.lock_wait),
            critical_section: buckets(&self.histograms.critical_section),
            purchase: buckets(&self.histograms.purchase),
            service: buckets(&self.histograms.service),
            pool_wait: buckets(&self.histograms.pool_wait),
        };
        self.histograms.reset();
        self.dirty = false;
        Ok(Some(batch))
    }
}

/// What one flush ships: counter deltas and each phase's histogram buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub counters: Counters,
    /// Lock holds finished since the last batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// Buyers of the sales since the last batch (with a ledger), and the
    /// segment of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buyers: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buyer_segments: Vec<u8>,
    /// `audit.history`: the purchases since the last batch, and the sales
    /// counted rather than listed (no ids checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<crate::history::ShippedOp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_span: Option<crate::history::SalesSpan>,
    /// `http` with `[service]`: purchases under way per instance, now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances_in_flight: Vec<u32>,
    /// The worker's checker watermark (see [`crate::checker`]).
    pub watermark_ns: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lock_wait: Buckets,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critical_section: Buckets,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purchase: Buckets,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Buckets,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pool_wait: Buckets,
}

impl Batch {
    /// Adds the batch's histograms to `into`.
    ///
    /// # Errors
    /// When a bucket's value cannot be recorded (not from this protocol).
    pub fn record_into(&self, into: &mut PhaseHistograms) -> anyhow::Result<()> {
        record_buckets(&mut into.lock_wait, &self.lock_wait)?;
        record_buckets(&mut into.critical_section, &self.critical_section)?;
        record_buckets(&mut into.purchase, &self.purchase)?;
        record_buckets(&mut into.service, &self.service)?;
        record_buckets(&mut into.pool_wait, &self.pool_wait)
    }

    /// The batch's histograms on their own.
    ///
    /// # Errors
    /// As [`Batch::record_into`].
    pub fn histograms(&self) -> anyhow::Result<PhaseHistograms> {
        let mut histograms = PhaseHistograms::default();
        self.record_into(&mut histograms)?;
        Ok(histograms)
    }
}

/// A histogram as its recorded buckets, lowest first: the highest value of
/// each bucket and its count. A batch holds a few milliseconds of purchases,
/// so a few buckets: decoded and merged in time proportional to them (a
/// whole histogram, V2-serialized, is a counts array thousands of entries
/// long to allocate and walk). Empty for a phase with nothing recorded.
pub type Buckets = Vec<(u64, u64)>;

fn buckets(h: &Histogram<u64>) -> Buckets {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Adds `buckets` to `h`: each value lands in the bucket it came from, so
/// the merge is lossless at the histogram's precision.
fn record_buckets(h: &mut Histogram<u64>, buckets: &Buckets) -> anyhow::Result<()> {
    for &(value, count) in buckets {
        h.record_n(value, count)
            .map_err(|e| anyhow::anyhow!("a shipped histogram bucket {value}: {e:?}"))?;
    }
    Ok(())
}

/// A histogram kept for `latency.hlog`: V2 with deflate, as the interval
/// log stores it, and its maximum (the log's `Interval_Max` column), so the
/// log is written without decompressing it: the timeline keeps one per
/// phase and interval, far smaller than a whole `Histogram`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressedHistogram {
    /// Microseconds.
    pub max: u64,
    pub v2_deflate: Vec<u8>,
}

impl CompressedHistogram {
    /// # Errors
    /// When compression fails.
    pub fn new(h: &Histogram<u64>) -> anyhow::Result<CompressedHistogram> {
        let mut v2_deflate = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut v2_deflate)
            .map_err(|e| anyhow::anyhow!("compressing a histogram: {e:?}"))?;
        Ok(CompressedHistogram {
            max: h.max(),
            v2_deflate,
        })
    }

    /// The histogram back, for merging two intervals into one.
    ///
    /// # Errors
    /// When the bytes are not a compressed V2 histogram.
    pub fn histogram(&self) -> anyhow::Result<Histogram<u64>> {
        let mut h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut self.v2_deflate.as_slice())
            .map_err(|e| anyhow::anyhow!("decompressing a histogram: {e:?}"))?;
        h.auto(true);
        Ok(h)
    }
}

/// Everything the coordinator has merged so far.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub counters: Counters,
    pub histograms: PhaseHistograms,
}

impl Totals {
    /// # Errors
    /// Never in practice: the histograms auto-resize.
    pub fn add(&mut self, counters: &Counters, histograms: &PhaseHistograms) -> anyhow::Result<()> {
        self.histograms.add(histograms)?;
        self.counters.add(counters);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: Outcome, lock_wait_us: Option<u64>) -> PurchaseReport {
        PurchaseReport {
            outcome,
            lock_wait: lock_wait_us.map(Duration::from_micros),
            critical_section: Some(Duration::from_micros(100)),
            lock_failures: 2,
            wait_timeouts: 0,
            watch_aborts: 1,
            compensations: 0,
            hold: None,
            unconfirmed: false,
            segment_hops: 0,
            unexpected: None,
            segment: 0,
            order_id: None,
            pool_wait: None,
        }
    }

    #[test]
    fn only_holds_that_ended_in_a_definite_write_are_shipped() {
        let mut m = Metrics::default();
        let hold = |outcome| PurchaseReport {
            hold: Some(Hold {
                client: 1,
                granted_ns: 10,
                write_ns: 20,
                applied: outcome == Outcome::Sold,
            }),
            ..report(outcome, Some(5))
        };
        for outcome in [Outcome::Sold, Outcome::FencedOut, Outcome::InDoubt] {
            m.record(
                &hold(outcome),
                Duration::from_micros(9),
                Duration::from_micros(9),
                1,
            );
        }
        let batch = m.drain(15).unwrap().unwrap();
        assert_eq!(batch.holds.len(), 2, "the in-doubt write proves nothing");
        assert_eq!(batch.watermark_ns, 15);
        assert!(m.holds.is_empty());
    }

    #[test]
    fn batches_merge_losslessly() {
        let mut a = Metrics::default();
        let mut b = Metrics::default();
        let mut reference = new_histogram();
        for i in 1..=1000u64 {
            let (m, us) = if i % 2 == 0 {
                (&mut a, i)
            } else {
                (&mut b, i * 1000)
            };
            let d = Duration::from_micros(us);
            m.record(&report(Outcome::Sold, Some(us)), d, d, 1);
            reference.record(us).unwrap();
        }
        let mut totals = Totals::default();
        for batch in [a.drain(0).unwrap().unwrap(), b.drain(0).unwrap().unwrap()] {
            totals
                .add(&batch.counters, &batch.histograms().unwrap())
                .unwrap();
        }
        let merged = &totals.histograms.purchase;
        assert_eq!(merged.len(), 1000);
        assert_eq!(merged.max(), reference.max());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.value_at_quantile(q),
                reference.value_at_quantile(q),
                "q={q}"
            );
        }
        assert_eq!(totals.histograms.lock_wait.len(), 1000);
        assert_eq!(totals.counters.sales, 1000);
        assert_eq!(totals.counters.lock_failures, 2000);
    }

    #[test]
    fn drain_resets_and_skips_when_idle() {
        let mut m = Metrics::default();
        assert!(m.drain(0).unwrap().is_none());
        let d = Duration::from_micros(5);
        m.record(&report(Outcome::SoldOut, None), d, d, 1);
        let batch = m.drain(0).unwrap().unwrap();
        assert_eq!(batch.counters.rejected_sold_out, 1);
        assert_eq!(batch.histograms().unwrap().lock_wait.len(), 0);
        assert!(m.drain(0).unwrap().is_none());
        assert!(m.histograms.purchase.is_empty());
    }

    #[test]
    fn unexpected_replies_beyond_the_kept_ones_count_as_other() {
        let mut c = Counters::default();
        for i in 0..UNEXPECTED_KEPT + 5 {
            c.count_unexpected(&i.to_string(), 1);
        }
        c.count_unexpected("0", 2);
        let mut merged = Counters::default();
        merged.add(&c);
        merged.add(&c);
        assert_eq!(merged.unexpected.len(), UNEXPECTED_KEPT + 1);
        assert_eq!(merged.unexpected[0], ("0".to_owned(), 6));
        assert_eq!(
            merged.unexpected[UNEXPECTED_KEPT],
            (OTHER_REPLIES.to_owned(), 10)
        );
    }

    #[test]
    fn counters_classify_outcomes() {
        let mut m = Metrics::default();
        let outcomes = [
            Outcome::Sold,
            Outcome::SoldOut,
            Outcome::Error(ErrorKind::NoStock),
            Outcome::Error(ErrorKind::Timeout),
            Outcome::Cancelled,
            Outcome::GaveUp,
            Outcome::FencedOut,
        ];
        for outcome in outcomes {
            let d = Duration::from_micros(10);
            m.record(&report(outcome, None), d, d, 3);
        }
        m.fold();
        let c = &m.counters;
        assert_eq!((c.attempts, c.sales, c.sold_units), (6, 1, 3));
        assert_eq!((c.gave_up, c.fenced_out, c.watch_aborts), (1, 1, 7));
        assert_eq!(
            (c.rejected_sold_out, c.cancelled, c.error_total()),
            (1, 1, 2)
        );
        assert_eq!(c.errors["no_stock"], 1);
        assert_eq!(
            m.histograms.purchase.len(),
            6,
            "a cancelled purchase is not timed"
        );
    }
}
