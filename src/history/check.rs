//! The history's checks, pure functions over the ops, the stock readings
//! and the ids the orders key holds. A stock counter whose every decrement
//! is a known operation is simple enough to check exactly:
//!
//! - every acknowledged (`ok`) id is in the orders, else a **lost sale**;
//! - every order is a purchase that was acknowledged or in doubt, else a
//!   **phantom order** (or one recorded twice);
//! - each in-doubt (`info`) purchase is **applied** if its id is in the
//!   orders, **not applied** otherwise;
//! - the stock moved by exactly the acknowledged plus the applied units;
//! - each reading of the stock taken between instants `a` and `b` lies in
//!   `[initial - (ok + info invoked by b), initial - (ok completed before a)]`
//!   (and not below zero): a reading outside it is stock seen negative, or
//!   units that came back, even when the final count is right again;
//! - a `sold_out` answer is **false** when, up to its completion, fewer
//!   purchases could have written than there were units.

use std::collections::HashSet;

use super::{History, Op, OpEnd, OrderId, PurchaseId, Reading, StoredOrders};

/// Ids and instants a finding names.
pub const SHOWN: usize = 5;

/// What the id checks found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdFindings {
    /// Sales acknowledged.
    pub acknowledged: u64,
    /// Acknowledged sales whose id is not in the orders, and the first
    /// ones with when they were acknowledged (ns since the start).
    pub lost: u64,
    pub lost_first: Vec<(OrderId, i64)>,
    /// When the first and the last lost sale were acknowledged.
    pub lost_span: Option<(i64, i64)>,
    /// Every lost one's purchase id, sorted (for `history.jsonl`).
    pub lost_ids: Vec<PurchaseId>,
    /// `http` with `order_id`: sales acknowledged without an id.
    pub without_id: u64,
    /// Orders that were no purchase acknowledged or in doubt, and ids
    /// stored more than once (each extra copy counted).
    pub phantom: u64,
    pub phantom_first: Vec<OrderId>,
    pub duplicates: u64,
    /// In-doubt purchases, and how each resolved.
    pub in_doubt: u64,
    pub applied: u64,
    pub not_applied: u64,
    /// The first applied ones.
    pub applied_first: Vec<(OrderId, i64)>,
    /// Every applied one, sorted (for `history.jsonl`).
    pub applied_ids: Vec<PurchaseId>,
    /// Orders of workers that died before reporting their last purchases:
    /// in doubt, and applied.
    pub unreported: u64,
    /// In-doubt purchases could not be looked up (a service's own order
    /// ids, not the purchase ids): the phantom check allows for them.
    pub unresolvable: bool,
}

impl IdFindings {
    /// Every order is accounted for and every sale recorded.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.without_id == 0 && self.phantom == 0 && self.duplicates == 0
    }
}

/// The id checks. `gone_workers`: workers killed or lost, whose last
/// purchases never reached the history.
pub fn ids(history: &History, stored: &StoredOrders, gone_workers: &[u32]) -> IdFindings {
    let mut f = IdFindings {
        unresolvable: !history.ids_are_tokens,
        ..IdFindings::default()
    };
    let mut known: HashSet<&OrderId> = HashSet::new();
    for op in &history.ops {
        match op.end {
            OpEnd::Ok => {
                f.acknowledged += 1;
                known.insert(&op.id);
                if op.id == OrderId::Missing {
                    f.without_id += 1;
                } else if !stored.contains_key(&op.id) {
                    f.lost += 1;
                    f.lost_ids.push(op.token);
                    let (from, to) = f.lost_span.unwrap_or((op.complete, op.complete));
                    f.lost_span = Some((from.min(op.complete), to.max(op.complete)));
                    if f.lost_first.len() < SHOWN {
                        f.lost_first.push((op.id.clone(), op.complete));
                    }
                }
            }
            OpEnd::InDoubt { .. } => {
                f.in_doubt += 1;
                let id = OrderId::Purchase(op.token);
                if f.unresolvable {
                    continue;
                }
                if stored.contains_key(&id) {
                    f.applied += 1;
                    f.applied_ids.push(op.token);
                    if f.applied_first.len() < SHOWN {
                        f.applied_first.push((id, op.complete));
                    }
                } else {
                    f.not_applied += 1;
                }
            }
            OpEnd::SoldOut | OpEnd::Fail(_) => {}
        }
    }
    let in_doubt: HashSet<OrderId> = history
        .ops
        .iter()
        .filter(|op| matches!(op.end, OpEnd::InDoubt { .. }))
        .map(|op| OrderId::Purchase(op.token))
        .collect();
    let mut strangers = Vec::new();
    for (id, &copies) in stored {
        f.duplicates += u64::from(copies.saturating_sub(1));
        if known.contains(id) || in_doubt.contains(id) {
            continue;
        }
        match id {
            OrderId::Purchase(p) if gone_workers.contains(&p.worker()) => f.unreported += 1,
            _ => strangers.push(id.clone()),
        }
    }
    strangers.sort();
    f.applied_ids.sort_unstable();
    f.lost_ids.sort_unstable();
    // With a service's own ids an applied in-doubt purchase is an order
    // no acknowledged sale names: only more of them than there were
    // purchases in doubt proves a phantom.
    let allowed = if f.unresolvable { f.in_doubt } else { 0 };
    f.phantom = (strangers.len() as u64).saturating_sub(allowed);
    if f.phantom > 0 {
        f.phantom_first = strangers.into_iter().take(SHOWN).collect();
    }
    f
}

/// `stock_matches_orders`: the units that left the stock are exactly the
/// acknowledged and the applied ones (`None` when in-doubt purchases could
/// not be resolved: only the range is known then).
pub fn expected_gone(f: &IdFindings, quantity: u64) -> Option<u64> {
    (!f.unresolvable).then(|| (f.acknowledged + f.applied + f.unreported) * quantity)
}

/// A reading outside what the history allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub reading: Reading,
    /// The least the stock may hold (`None`: unchecked), the most, and
    /// the floor below zero a purchase's own dip allows (0 but for `decr`).
    pub low: Option<i64>,
    pub high: i64,
    pub floor: i64,
}

impl Violation {
    /// In words: what the stock did.
    pub fn what(&self) -> &'static str {
        let v = self.reading.stock;
        if v < self.floor {
            "stock seen negative"
        } else if v > self.high {
            "units came back"
        } else {
            "stock below what the purchases invoked could take"
        }
    }

    /// The reading against the bound it broke.
    pub fn against(&self) -> String {
        let v = self.reading.stock;
        if v < self.floor {
            format!("{v}")
        } else if v > self.high {
            format!(
                "{v} > {}, what the sales acknowledged by then leave",
                self.high
            )
        } else {
            format!("{v} < {}", self.low.unwrap_or(v))
        }
    }
}

/// What the stock readings showed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadingFindings {
    pub checked: u64,
    pub violations: u64,
    pub first: Vec<Violation>,
    /// Whether the lower bound was checked (not with lost workers, whose
    /// last purchases are unknown).
    pub low_checked: bool,
}

/// What the readings check needs besides the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub initial: u64,
    pub quantity: u64,
    /// Units purchases under way may take and give back before they end
    /// (`decr`'s compensated decrements).
    pub dips: u64,
    /// Whether every purchase that may have written is in the history.
    pub complete: bool,
}

/// The instants that bound the stock: when each purchase that may have
/// written was invoked, and when each acknowledged one completed, sorted,
/// each with how many purchases it stands for (a batch's counted sales
/// stand at its first invocation and its last completion), and the running
/// totals.
struct Instants {
    invoked: Steps,
    acknowledged: Steps,
}

/// Sorted instants with the purchases at each, and their running total.
struct Steps {
    at: Vec<i64>,
    total: Vec<u64>,
}

impl Steps {
    fn new(mut points: Vec<(i64, u64)>) -> Steps {
        points.sort_unstable_by_key(|p| p.0);
        let mut sum = 0;
        let total = points
            .iter()
            .map(|p| {
                sum += p.1;
                sum
            })
            .collect();
        Steps {
            at: points.into_iter().map(|p| p.0).collect(),
            total,
        }
    }

    /// Purchases at the instants for which `before` holds (a prefix).
    fn up_to(&self, before: impl Fn(i64) -> bool) -> i64 {
        match self.at.partition_point(|&t| before(t)) {
            0 => 0,
            n => self.total[n - 1] as i64,
        }
    }
}

impl Instants {
    fn of(history: &History) -> Instants {
        let mut invoked = Vec::new();
        let mut acknowledged = Vec::new();
        for op in &history.ops {
            match op.end {
                OpEnd::Ok => {
                    invoked.push((op.invoke, 1));
                    acknowledged.push((op.complete, 1));
                }
                OpEnd::InDoubt { .. } => invoked.push((op.invoke, 1)),
                OpEnd::SoldOut | OpEnd::Fail(_) => {}
            }
        }
        for &(count, first, last) in &history.spans {
            invoked.push((first, count));
            acknowledged.push((last, count));
        }
        Instants {
            invoked: Steps::new(invoked),
            acknowledged: Steps::new(acknowledged),
        }
    }

    /// The least the stock can hold at `t`: every purchase invoked by then
    /// may have written.
    fn low(&self, b: &Bounds, t: i64) -> i64 {
        let n = self.invoked.up_to(|i| i <= t);
        b.initial as i64 - n * b.quantity as i64
    }

    /// The most the stock can hold at `t`: every sale acknowledged before
    /// then has written.
    fn high(&self, b: &Bounds, t: i64) -> i64 {
        let n = self.acknowledged.up_to(|c| c < t);
        b.initial as i64 - n * b.quantity as i64
    }
}

/// `stock_readings_consistent`. `slack`: how far a host's instants may be
/// off the coordinator's (0 on one machine).
pub fn readings(history: &History, b: &Bounds) -> ReadingFindings {
    let instants = Instants::of(history);
    let slack = history.slack_ns();
    let mut f = ReadingFindings {
        low_checked: b.complete,
        ..ReadingFindings::default()
    };
    for r in &history.readings {
        f.checked += 1;
        let high = instants.high(b, r.start - slack);
        let floor = -(b.dips as i64);
        let low = b
            .complete
            .then(|| instants.low(b, r.end + slack) - b.dips as i64);
        let below = low.is_some_and(|low| r.stock < low);
        if below || r.stock < floor || r.stock > high {
            f.violations += 1;
            if f.first.len() < SHOWN {
                f.first.push(Violation {
                    reading: *r,
                    low,
                    high,
                    floor,
                });
            }
        }
    }
    f
}

/// `no_false_sold_out`: answers of sold out while the history proves at
/// least one purchase's units remained for their whole duration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FalseSoldOuts {
    pub checked: u64,
    pub count: u64,
    /// The first ones: purchase id, completion, and the least the stock
    /// held until then.
    pub first: Vec<(PurchaseId, i64, i64)>,
}

pub fn false_sold_outs(history: &History, b: &Bounds) -> FalseSoldOuts {
    let instants = Instants::of(history);
    let slack = history.slack_ns();
    let mut f = FalseSoldOuts::default();
    let mut sold_outs: Vec<&Op> = history
        .ops
        .iter()
        .filter(|op| op.end == OpEnd::SoldOut)
        .collect();
    sold_outs.sort_by_key(|op| op.complete);
    for op in sold_outs {
        f.checked += 1;
        // The low bound only falls with time: at the answer's end it is
        // the least the stock held over the whole purchase.
        let low = instants.low(b, op.complete + slack) - b.dips as i64;
        if low >= b.quantity as i64 {
            f.count += 1;
            if f.first.len() < SHOWN {
                f.first.push((op.token, op.complete, low));
            }
        }
    }
    f
}

/// What the checks need besides the history and the orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub bounds: Bounds,
    pub gone_workers: Vec<u32>,
    /// The stock's readings mean something: no reset, no deleted key, and
    /// every host's clock placed.
    pub readings: bool,
    /// One stock key: a sold-out answer speaks of the whole stock.
    pub one_stock: bool,
}

/// Everything the history showed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Findings {
    /// `None`: the orders do not name purchases by id.
    pub ids: Option<IdFindings>,
    pub readings: Option<ReadingFindings>,
    pub sold_outs: Option<FalseSoldOuts>,
    /// Why a check expected to run did not.
    pub note: Option<String>,
}

impl Findings {
    /// `stored`: the orders' ids, when the orders name purchases by id.
    pub fn of(history: &History, stored: Option<&StoredOrders>, setup: &Setup) -> Findings {
        let mut f = Findings::default();
        if let Some(stored) = stored {
            let named = stored.keys().any(|id| matches!(id, OrderId::Purchase(_)));
            let acked = history.ops.iter().any(|op| op.end == OpEnd::Ok);
            if history.ids_are_tokens && acked && !stored.is_empty() && !named {
                f.note = Some(
                    "the orders hold none of this run's purchase ids, so they were counted rather than checked by id (record {token} as the order id)"
                        .to_owned(),
                );
            } else {
                f.ids = Some(ids(history, stored, &setup.gone_workers));
            }
        }
        if setup.readings {
            f.readings = Some(readings(history, &setup.bounds));
            // Lost workers' last purchases are unknown: no low bound.
            if setup.one_stock && setup.bounds.complete {
                f.sold_outs = Some(false_sold_outs(history, &setup.bounds));
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{End, ShippedOp};

    const MS: u64 = 1_000_000;

    /// A history on one machine whose clock read 0 at `Go`; ops are
    /// `(attempt, invoke ms, complete ms, end)` of client 0 of worker 0.
    fn history(ops: &[(u32, u64, u64, End)]) -> History {
        let mut h = History::new(0, vec![(Some(0), 0)], 1, false);
        let shipped = ops
            .iter()
            .map(|(attempt, i, c, end)| ShippedOp {
                client: 0,
                attempt: *attempt,
                buyer: u64::from(*attempt),
                invoke_ns: i * MS,
                complete_ns: c * MS,
                end: end.clone(),
                order_id: None,
            })
            .collect();
        h.add(0, 0, shipped);
        h
    }

    fn id(attempt: u32) -> OrderId {
        OrderId::Purchase(PurchaseId::new(0, attempt))
    }

    fn stored(attempts: &[u32]) -> StoredOrders {
        let mut s = StoredOrders::new();
        for a in attempts {
            *s.entry(id(*a)).or_default() += 1;
        }
        s
    }

    fn bounds(initial: u64) -> Bounds {
        Bounds {
            initial,
            quantity: 1,
            dips: 0,
            complete: true,
        }
    }

    #[test]
    fn shipped_ops_cross_the_pipe_as_they_left() {
        let ends = [
            End::Ok,
            End::InDoubt,
            End::Unconfirmed,
            End::SoldOut,
            End::Fail("duplicate".to_owned()),
        ];
        for (i, end) in ends.into_iter().enumerate() {
            let op = ShippedOp {
                client: 3,
                attempt: 9,
                buyer: 1 << 40,
                invoke_ns: 4_000_000_000_123,
                complete_ns: 4_000_000_900_000,
                order_id: (i == 0).then(|| "o-7".to_owned()),
                end,
            };
            let line = serde_json::to_string(&op).unwrap();
            assert!(line.starts_with('['), "{line}");
            assert_eq!(serde_json::from_str::<ShippedOp>(&line).unwrap(), op);
        }
        assert!(serde_json::from_str::<ShippedOp>("[0,1,2,3,4,9,null]").is_err());
    }

    #[test]
    fn purchase_ids_read_back_and_nothing_else_does() {
        let id = PurchaseId::new(3 << 32 | 7, 42);
        assert_eq!(id.to_string(), "300000007-2a");
        assert_eq!(PurchaseId::parse("300000007-2a"), Some(id));
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "1-0",
            "1-2-3",
            "1-A",
            "x-1",
            "1-100000000",
            "17",
        ] {
            assert_eq!(PurchaseId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_acknowledged_sale_missing_from_the_orders_is_lost_and_named() {
        let h = history(&[(1, 0, 1, End::Ok), (2, 1, 2, End::Ok), (3, 2, 3, End::Ok)]);
        let f = ids(&h, &stored(&[1, 3]), &[]);
        assert_eq!((f.acknowledged, f.lost), (3, 1));
        assert_eq!(f.lost_first, vec![(id(2), 2 * MS as i64)]);
        assert_eq!(f.lost_span, Some((2 * MS as i64, 2 * MS as i64)));
        assert!(!f.clean());
        assert!(ids(&h, &stored(&[1, 2, 3]), &[]).clean());
    }

    #[test]
    fn in_doubt_purchases_resolve_by_their_id() {
        let h = history(&[
            (1, 0, 1, End::Ok),
            (2, 0, 9, End::InDoubt),
            (3, 0, 9, End::Unconfirmed),
        ]);
        let f = ids(&h, &stored(&[1, 3]), &[]);
        assert_eq!((f.in_doubt, f.applied, f.not_applied), (2, 1, 1));
        assert!(f.clean(), "an applied in-doubt purchase is no phantom");
        assert_eq!(expected_gone(&f, 2), Some(4));
    }

    #[test]
    fn a_compensating_pair_balances_the_count_but_not_the_ids() {
        // One acknowledged sale lost, one in-doubt purchase landed: the
        // count-only audit sees 2 sold, 2 gone and passes.
        let h = history(&[
            (1, 0, 1, End::Ok),
            (2, 0, 1, End::Ok),
            (3, 0, 9, End::InDoubt),
        ]);
        let f = ids(&h, &stored(&[1, 3]), &[]);
        assert_eq!((f.lost, f.applied), (1, 1));
        assert_eq!(expected_gone(&f, 1), Some(3), "2 gone is not 3");
    }

    #[test]
    fn orders_no_purchase_made_are_phantoms_and_copies_count() {
        let h = history(&[(1, 0, 1, End::Ok), (2, 0, 1, End::SoldOut)]);
        let mut s = stored(&[1, 1, 2, 9]);
        s.insert(OrderId::Text("buyer-7".into()), 1);
        let f = ids(&h, &s, &[]);
        assert_eq!((f.phantom, f.duplicates), (3, 1));
        assert_eq!(
            f.phantom_first[0],
            id(2),
            "a sold-out purchase recorded an order"
        );
    }

    #[test]
    fn orders_of_a_killed_worker_are_unreported_not_phantoms() {
        let h = history(&[(1, 0, 1, End::Ok)]);
        let mut s = stored(&[1]);
        s.insert(OrderId::Purchase(PurchaseId::new(2 << 32, 5)), 1);
        let f = ids(&h, &s, &[2]);
        assert_eq!((f.phantom, f.unreported), (0, 1));
        assert_eq!(ids(&h, &s, &[]).phantom, 1);
    }

    #[test]
    fn a_reading_between_two_sales_lies_in_their_bounds() {
        // Sale 1 done by 2 ms; sale 2 overlaps the reading taken 3..5 ms.
        let mut h = history(&[(1, 0, 2, End::Ok), (2, 4, 6, End::Ok)]);
        for stock in [8, 9] {
            h.readings.push(Reading {
                start: 3 * MS as i64,
                end: 5 * MS as i64,
                stock,
            });
        }
        let f = readings(&h, &bounds(10));
        assert_eq!(
            (f.checked, f.violations),
            (2, 0),
            "9 before sale 2, 8 after"
        );
    }

    #[test]
    fn a_reading_above_the_acknowledged_sales_is_units_back() {
        let mut h = history(&[(1, 0, 2, End::Ok), (2, 0, 2, End::Ok)]);
        h.readings.push(Reading {
            start: 2 * MS as i64,
            end: 3 * MS as i64,
            stock: 9,
        });
        // Completed at exactly the reading's start: not yet counted.
        assert_eq!(readings(&h, &bounds(10)).violations, 0);
        h.readings[0].start += 1;
        let f = readings(&h, &bounds(10));
        assert_eq!(f.violations, 1);
        assert_eq!(f.first[0].high, 8);
        assert_eq!(f.first[0].what(), "units came back");
    }

    #[test]
    fn a_dip_below_zero_is_seen_though_the_end_is_right() {
        let mut h = history(&[(1, 0, 2, End::Ok)]);
        h.readings.push(Reading {
            start: 5 * MS as i64,
            end: 6 * MS as i64,
            stock: -1,
        });
        let f = readings(&h, &bounds(1));
        assert_eq!(f.violations, 1);
        assert_eq!(f.first[0].low, Some(0));
        assert_eq!(f.first[0].what(), "stock seen negative");
        let decr = Bounds {
            dips: 1,
            ..bounds(1)
        };
        assert_eq!(readings(&h, &decr).violations, 0, "decr dips by design");
        let lost = Bounds {
            complete: false,
            ..bounds(1)
        };
        assert_eq!(readings(&h, &lost).violations, 1, "never below zero");
        h.readings[0].stock = 0;
        assert_eq!(readings(&h, &lost).violations, 0);
        // Sold 1 of 0: the oversell shows as a negative stock, though the
        // history explains it.
        h.readings[0].stock = -1;
        assert_eq!(
            readings(&h, &bounds(0)).first[0].what(),
            "stock seen negative"
        );
    }

    #[test]
    fn an_in_doubt_purchase_may_have_taken_its_units() {
        let mut h = history(&[(1, 0, 9, End::InDoubt)]);
        h.readings.push(Reading {
            start: MS as i64,
            end: 2 * MS as i64,
            stock: 4,
        });
        assert_eq!(readings(&h, &bounds(5)).violations, 0);
        h.readings[0].stock = 3;
        assert_eq!(readings(&h, &bounds(5)).violations, 1);
        // Invoked at the very instant the reading was answered: it may
        // have written first.
        h.readings[0] = Reading {
            start: -(MS as i64),
            end: 0,
            stock: 4,
        };
        assert_eq!(readings(&h, &bounds(5)).violations, 0);
    }

    #[test]
    fn sales_counted_per_batch_bound_the_stock_loosely() {
        let mut h = history(&[]);
        // Three sales invoked from 1 ms, the last answered at 5 ms.
        h.spans.push((3, MS as i64, 5 * MS as i64));
        let reading = |start: u64, stock| Reading {
            start: (start * MS) as i64,
            end: ((start + 1) * MS) as i64,
            stock,
        };
        h.readings = vec![reading(0, 10), reading(2, 9), reading(2, 7), reading(6, 7)];
        assert_eq!(readings(&h, &bounds(10)).violations, 0);
        h.readings = vec![reading(6, 10), reading(2, 6)];
        let f = readings(&h, &bounds(10));
        assert_eq!(f.violations, 2, "{f:?}");
        assert_eq!(f.first[0].what(), "units came back");
    }

    #[test]
    fn sold_out_while_units_remained_is_false() {
        // 3 units, one sale: a sold-out answer by 5 ms is false; one that
        // overlaps two more purchases' invocations is not proven false.
        let h = history(&[
            (1, 0, 1, End::Ok),
            (2, 2, 5, End::SoldOut),
            (3, 6, 8, End::InDoubt),
            (4, 7, 9, End::Ok),
            (5, 7, 10, End::SoldOut),
        ]);
        let f = false_sold_outs(&h, &bounds(3));
        assert_eq!((f.checked, f.count), (2, 1));
        assert_eq!(f.first[0].0, PurchaseId::new(0, 2));
        assert_eq!(f.first[0].2, 2);
        assert_eq!(false_sold_outs(&h, &bounds(1)).count, 0);
    }
}
