//! The stock audit and the CI thresholds: checks over plain numbers, no
//! I/O. A run passes the audit only if the stock never went negative, no
//! more was sold than there was, and what left the stock is exactly what was
//! recorded as sold. Thresholds are the user's own limits on the figures.

use serde::Serialize;

use crate::ledger::Violations;
use crate::phase::Phase;
use crate::scenario::Thresholds;
use crate::verdict::Verdict;

/// What the coordinator knows at the end of a run, in units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockFacts {
    pub initial: u64,
    /// As Redis reports it; negative after an oversell; `None` when the key
    /// is gone (a restart without persistence).
    pub final_stock: Option<i64>,
    /// Units recorded as sold by the workers.
    pub sold: u64,
    /// Units of purchases whose stock write may or may not have applied
    /// (reply lost, or a worker killed mid-purchase).
    pub in_doubt: u64,
    /// A restart left the stock key missing or reset.
    pub reset: bool,
    /// Redis could not be read at the end: the final stock is unknown.
    pub target_lost: bool,
    /// The stock key vanished while the server kept running (same
    /// `run_id` before and after): deleted by something other than the
    /// harness, not reset by a restart.
    pub deleted: bool,
    /// Pairs of clients that held the lock at once and both wrote (the
    /// lock-safety checker); `None` for a strategy that takes no lock.
    pub unsafe_overlaps: Option<u64>,
    /// Segmented stock: each segment's final stock (empty otherwise).
    pub segment_finals: Vec<i64>,
    /// The history resolved every purchase by its id: the units that must
    /// have left the stock, exactly (`stock_matches_orders` replaces the
    /// range of `stock_conservation`).
    pub exact: Option<ExactUnits>,
}

/// What the orders say left the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactUnits {
    pub acknowledged: u64,
    pub applied: u64,
    /// Orders of workers lost before they reported them.
    pub unreported: u64,
    pub quantity: u64,
}

impl ExactUnits {
    pub fn units(&self) -> u64 {
        (self.acknowledged + self.applied + self.unreported) * self.quantity
    }
}

/// What an invariant checks; its name in `audit.csv` is its `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    SoldWithinInitialStock,
    FinalStockNonNegative,
    SegmentsNonNegative,
    StockConservation,
    StockNotReset,
    StockNotDeleted,
    LockExclusive,
    PerBuyerLimit,
    OrdersMatchSales,
    OrdersPerBuyerLimit,
    OrdersBuyersKnown,
    /// The history's checks (see [`crate::history::check`]).
    EverySaleRecorded,
    NoPhantomOrders,
    InDoubtResolved,
    StockMatchesOrders,
    StockReadingsConsistent,
    NoFalseSoldOut,
    /// `[stock] extra_keys`: the key holds its declared type.
    KeyType(String),
    /// A `[thresholds]` limit: `max_p99_us.purchase`, `max_oversold`, ...
    Threshold(String),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Check::SoldWithinInitialStock => "sold_within_initial_stock",
            Check::FinalStockNonNegative => "final_stock_non_negative",
            Check::SegmentsNonNegative => "segments_non_negative",
            Check::StockConservation => "stock_conservation",
            Check::StockNotReset => "stock_not_reset",
            Check::StockNotDeleted => "stock_not_deleted",
            Check::LockExclusive => "lock_exclusive",
            Check::PerBuyerLimit => "per_buyer_limit",
            Check::OrdersMatchSales => "orders_match_sales",
            Check::OrdersPerBuyerLimit => "orders_per_buyer_limit",
            Check::OrdersBuyersKnown => "orders_buyers_known",
            Check::EverySaleRecorded => "every_sale_recorded",
            Check::NoPhantomOrders => "no_phantom_orders",
            Check::InDoubtResolved => "in_doubt_resolved",
            Check::StockMatchesOrders => "stock_matches_orders",
            Check::StockReadingsConsistent => "stock_readings_consistent",
            Check::NoFalseSoldOut => "no_false_sold_out",
            Check::KeyType(key) => return write!(f, "key_type:{key}"),
            Check::Threshold(name) => return write!(f, "threshold.{name}"),
        };
        f.write_str(name)
    }
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invariant {
    #[serde(rename = "invariant")]
    pub name: Check,
    pub expected: String,
    pub observed: String,
    pub pass: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub invariants: Vec<Invariant>,
    /// Units sold beyond the initial stock: `max(sold - initial, -final, 0)`.
    pub oversold: u64,
    /// Units still on sale at the end.
    pub unsold: u64,
    /// Units that left the stock with no recorded sale (explained by the
    /// in-doubt purchases when the audit passes).
    pub lost: u64,
    /// Units recorded as sold that are back in stock (`sold - (initial -
    /// final)`): acknowledged writes the store lost, as in a failover. Those
    /// units will be sold twice.
    pub back_in_stock: u64,
    pub verdict: Verdict,
}

/// Reconciles the recorded sales with the stock Redis reports:
/// `sold <= initial - final <= sold + in_doubt`, no negative stock, no more
/// sold than there was, and (for a lock) no two clients writing while both
/// held it. Never PASS with a negative stock or sales beyond the initial
/// stock; never FAIL for in-doubt purchases alone. It never says
/// INCONCLUSIVE: that is the run's word, not the stock's.
pub fn audit(facts: StockFacts) -> Audit {
    let initial = i128::from(facts.initial);
    let sold = i128::from(facts.sold);
    // A segment below zero is an oversell even when another segment's
    // remainder hides it in the total, or another segment's key is gone.
    let below_zero: i128 = facts
        .segment_finals
        .iter()
        .map(|&f| i128::from(f.min(0)).abs())
        .sum();
    let mut invariants = vec![Invariant {
        name: Check::SoldWithinInitialStock,
        expected: format!("<= {initial}"),
        observed: sold.to_string(),
        pass: sold <= initial,
    }];
    if let Some(overlaps) = facts.unsafe_overlaps {
        invariants.push(lock_exclusive(overlaps));
    }
    if facts.target_lost {
        return unknown_final_stock(invariants, sold - initial);
    }
    let Some(final_stock) = facts.final_stock.filter(|_| !facts.reset) else {
        let deleted = facts.deleted && facts.final_stock.is_none();
        invariants.push(match deleted {
            true => Invariant {
                name: Check::StockNotDeleted,
                expected: "the stock key survives the run".to_owned(),
                observed: "deleted while Redis kept running (same run_id): by something other than the harness".to_owned(),
                pass: false,
            },
            false => Invariant {
                name: Check::StockNotReset,
                expected: "the stock key survives the run".to_owned(),
                observed: "reset by a redis-server restart without persistence".to_owned(),
                pass: false,
            },
        });
        let oversold = (sold - initial).max(below_zero).max(0) as u64;
        let verdict = if oversold > 0 || deleted {
            Verdict::Fail
        } else {
            Verdict::Reset
        };
        return Audit {
            invariants,
            oversold,
            unsold: 0,
            lost: 0,
            back_in_stock: 0,
            verdict,
        };
    };
    let final_stock = i128::from(final_stock);
    let gone = initial - final_stock;
    let in_doubt = i128::from(facts.in_doubt);
    invariants.insert(
        0,
        Invariant {
            name: Check::FinalStockNonNegative,
            expected: ">= 0".to_owned(),
            observed: final_stock.to_string(),
            pass: final_stock >= 0,
        },
    );
    if facts.segment_finals.len() > 1 {
        let shown: Vec<String> = facts.segment_finals.iter().map(i64::to_string).collect();
        invariants.push(Invariant {
            name: Check::SegmentsNonNegative,
            expected: "every segment >= 0".to_owned(),
            observed: shown.join(" "),
            pass: below_zero == 0,
        });
    }
    invariants.push(match facts.exact {
        Some(exact) => stock_matches_orders(exact, gone),
        None => Invariant {
            name: Check::StockConservation,
            expected: format!(
                "sold {sold} <= initial - final <= sold + in doubt {}",
                sold + in_doubt
            ),
            observed: format!("initial - final = {gone}"),
            pass: sold <= gone && gone <= sold + in_doubt,
        },
    });
    let verdict = judged(&invariants);
    Audit {
        invariants,
        oversold: (sold - initial).max(-final_stock).max(below_zero).max(0) as u64,
        unsold: final_stock.max(0) as u64,
        lost: (gone - sold).max(0) as u64,
        back_in_stock: (sold - gone).max(0) as u64,
        verdict,
    }
}

/// `initial - final` is exactly the acknowledged and the applied units.
fn stock_matches_orders(e: ExactUnits, gone: i128) -> Invariant {
    let unreported = match e.unreported {
        0 => String::new(),
        n => format!(" + {n} of lost workers"),
    };
    Invariant {
        name: Check::StockMatchesOrders,
        expected: format!(
            "initial - final = (acknowledged {} + in-doubt applied {}{unreported}) x {} = {}",
            e.acknowledged,
            e.applied,
            e.quantity,
            e.units()
        ),
        observed: format!("initial - final = {gone}"),
        pass: gone == i128::from(e.units()),
    }
}

/// PASS when every invariant holds.
fn judged(invariants: &[Invariant]) -> Verdict {
    if invariants.iter().all(|i| i.pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

fn lock_exclusive(unsafe_overlaps: u64) -> Invariant {
    Invariant {
        name: Check::LockExclusive,
        expected: "no two clients write the stock while both hold the lock".to_owned(),
        observed: format!("{unsafe_overlaps} unsafe overlap(s)"),
        pass: unsafe_overlaps == 0,
    }
}

/// Redis was gone at the end: judge what the recorded sales alone show.
fn unknown_final_stock(invariants: Vec<Invariant>, sold_beyond: i128) -> Audit {
    let verdict = judged(&invariants);
    Audit {
        invariants,
        oversold: sold_beyond.max(0) as u64,
        unsold: 0,
        lost: 0,
        back_in_stock: 0,
        verdict,
    }
}

/// What the run's other ledgers show: the harness's per-buyer ledger, the
/// orders the purchase recorded in Redis, and the keys it declared.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerFacts {
    /// `audit.per_buyer_limit` and the buyers over it, from the replies.
    pub buyers: Option<(u32, Violations)>,
    pub orders: Option<OrderFacts>,
    pub keys: Vec<KeyFact>,
    /// Why the orders and the declared keys were not checked.
    pub unchecked: Option<String>,
}

/// `audit.orders`: what the orders key holds against the recorded sales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    /// The key as the scenario names it (`{run}:orders`).
    pub key: String,
    /// Entries over every segment; `Err` says why they could not be counted.
    pub count: Result<u64, String>,
    /// Purchases recorded as sold, and those in doubt.
    pub sales: u64,
    pub in_doubt: u64,
    /// With `orders_buyer_field`: the limit and buyers over it per Redis.
    pub per_buyer: Option<(u32, Violations)>,
    /// With `orders_buyer_field`: orders naming no buyer of the run, and
    /// the first such field.
    pub unknown: Option<(u64, Option<String>)>,
}

/// One `[stock] extra_keys` key at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFact {
    pub key: String,
    pub declared: &'static str,
    /// `TYPE` on each segment (`none` when absent).
    pub found: Vec<String>,
    /// Entries (members, fields, length) over every segment.
    pub size: u64,
}

/// The invariants of the other ledgers.
pub fn ledger_invariants(f: &LedgerFacts) -> Vec<Invariant> {
    let mut rows = Vec::new();
    if let Some((limit, v)) = &f.buyers {
        rows.push(over_limit(Check::PerBuyerLimit, "sale(s)", *limit, v));
    }
    if let Some(o) = &f.orders {
        rows.extend(orders_match_sales(o));
        if let Some((limit, v)) = &o.per_buyer {
            rows.push(over_limit(
                Check::OrdersPerBuyerLimit,
                "order(s)",
                *limit,
                v,
            ));
        }
        if let Some((unknown, example)) = &o.unknown {
            let e = example
                .as_deref()
                .map_or(String::new(), |e| format!(" (first: `{e}`)"));
            rows.push(Invariant {
                name: Check::OrdersBuyersKnown,
                expected: "every order names a buyer of the run".to_owned(),
                observed: format!("{unknown} order(s) name none{e}"),
                pass: *unknown == 0,
            });
        }
    }
    for k in &f.keys {
        let wrong: Vec<&String> = k
            .found
            .iter()
            .filter(|t| *t != k.declared && *t != "none")
            .collect();
        rows.push(Invariant {
            name: Check::KeyType(k.key.clone()),
            expected: format!("{} (or absent)", k.declared),
            observed: format!("{} with {} entries", k.found.join(" "), k.size),
            pass: wrong.is_empty(),
        });
    }
    rows
}

/// The orders counted against the sales (with ids, the history checks
/// each one as well).
fn orders_match_sales(o: &OrderFacts) -> Option<Invariant> {
    let (observed, pass) = match &o.count {
        Ok(n) => (
            format!("{n} order(s) in {}", o.key),
            o.sales <= *n && *n <= o.sales + o.in_doubt,
        ),
        Err(why) => (why.clone(), false),
    };
    Some(Invariant {
        name: Check::OrdersMatchSales,
        expected: format!(
            "sales {} <= orders <= sales + in doubt {}",
            o.sales,
            o.sales + o.in_doubt
        ),
        observed,
        pass,
    })
}

fn over_limit(name: Check, what: &str, limit: u32, v: &Violations) -> Invariant {
    let examples: Vec<String> = v
        .examples
        .iter()
        .map(|(b, n)| format!("buyer {b}: {n}"))
        .collect();
    let across = match v.across_segments {
        0 => String::new(),
        n => format!("; {n} of them across segments"),
    };
    let observed = match v.buyers {
        0 => "no buyer over it".to_owned(),
        n => format!("{n} buyer(s) over it ({}){across}", examples.join(", ")),
    };
    Invariant {
        name,
        expected: format!("<= {limit} {what} per buyer"),
        observed,
        pass: v.buyers == 0,
    }
}

impl Audit {
    /// Adds the other ledgers' invariants; any that fails makes the audit
    /// FAIL, whatever the stock showed.
    pub fn with_ledgers(mut self, rows: Vec<Invariant>) -> Audit {
        if rows.iter().any(|r| !r.pass) {
            self.verdict = Verdict::Fail;
        }
        self.invariants.extend(rows);
        self
    }

    /// Whether the invariant was checked and failed.
    pub fn failed(&self, check: &Check) -> bool {
        self.invariants.iter().any(|i| i.name == *check && !i.pass)
    }
}

/// The figures of a run that thresholds limit.
pub struct Figures<'a> {
    pub oversold: u64,
    pub purchases_per_s: f64,
    pub attempts: u64,
    pub errors: u64,
    pub wait_timeouts: u64,
    /// `(phase name, quantile) -> µs`.
    pub latency: &'a dyn Fn(Phase, f64) -> u64,
}

/// One row per threshold set, named `threshold.<name>[.<phase>]`.
pub fn thresholds(t: &Thresholds, f: &Figures<'_>) -> Vec<Invariant> {
    let mut rows = vec![at_most("max_oversold", f.oversold, t.max_oversold)];
    if let Some(min) = t.min_purchases_per_s {
        rows.push(Invariant {
            name: Check::Threshold("min_purchases_per_s".to_owned()),
            expected: format!(">= {min}"),
            observed: format!("{:.1}", f.purchases_per_s),
            pass: f.purchases_per_s >= min,
        });
    }
    for (limits, q, name) in [
        (&t.max_p99_us, 0.99, "max_p99_us"),
        (&t.max_p999_us, 0.999, "max_p999_us"),
    ] {
        for (phase, limit) in limits {
            rows.push(at_most(
                &format!("{name}.{}", phase.name()),
                (f.latency)(*phase, q),
                *limit,
            ));
        }
    }
    if let Some(max) = t.max_error_rate {
        let rate = if f.attempts == 0 {
            0.0
        } else {
            f.errors as f64 / f.attempts as f64
        };
        rows.push(at_most("max_error_rate", rate, max));
    }
    if let Some(max) = t.max_wait_timeouts {
        rows.push(at_most("max_wait_timeouts", f.wait_timeouts, max));
    }
    rows
}

/// Counts compare and print as integers (an `f64` would show `u64::MAX` as
/// `18446744073709552000` and round near it); rates stay `f64`.
fn at_most<T: PartialOrd + std::fmt::Display>(name: &str, observed: T, limit: T) -> Invariant {
    Invariant {
        name: Check::Threshold(name.to_owned()),
        expected: format!("<= {limit}"),
        observed: format!("{observed}"),
        pass: observed <= limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compensating_pair_passes_the_range_but_not_the_exact_count() {
        // 10 sold, 1 in doubt, 10 gone: in range. By id, one sale was lost
        // and the in-doubt purchase landed: 11 should be gone.
        let facts = |exact| StockFacts {
            initial: 100,
            final_stock: Some(90),
            sold: 10,
            in_doubt: 1,
            reset: false,
            target_lost: false,
            deleted: false,
            unsafe_overlaps: None,
            segment_finals: vec![90],
            exact,
        };
        assert_eq!(audit(facts(None)).verdict, Verdict::Pass);
        let exact = ExactUnits {
            acknowledged: 10,
            applied: 1,
            unreported: 0,
            quantity: 1,
        };
        let by_id = audit(facts(Some(exact)));
        assert_eq!(by_id.verdict, Verdict::Fail);
        assert!(by_id.failed(&Check::StockMatchesOrders));
        assert!(!by_id
            .invariants
            .iter()
            .any(|i| i.name == Check::StockConservation));
        let balanced = ExactUnits {
            applied: 0,
            ..exact
        };
        assert_eq!(audit(facts(Some(balanced))).verdict, Verdict::Pass);
    }

    #[test]
    fn a_segment_below_zero_fails_even_when_the_total_balances() {
        let audit = audit(StockFacts {
            initial: 4,
            final_stock: Some(0),
            sold: 4,
            in_doubt: 0,
            reset: false,
            target_lost: false,
            deleted: false,
            unsafe_overlaps: None,
            segment_finals: vec![-1, 1],
            exact: None,
        });
        assert_eq!(audit.verdict, Verdict::Fail);
        assert_eq!(audit.oversold, 1);
        let row = audit
            .invariants
            .iter()
            .find(|i| i.name == Check::SegmentsNonNegative)
            .expect("a per-segment invariant");
        assert!(!row.pass && row.observed == "-1 1", "{row:?}");
    }

    fn run(initial: u64, final_stock: i64, sold: u64) -> Audit {
        audit(StockFacts {
            initial,
            final_stock: Some(final_stock),
            sold,
            in_doubt: 0,
            reset: false,
            target_lost: false,
            deleted: false,
            unsafe_overlaps: None,
            segment_finals: Vec::new(),
            exact: None,
        })
    }

    fn with_doubt(initial: u64, final_stock: Option<i64>, sold: u64, in_doubt: u64) -> Audit {
        audit(StockFacts {
            initial,
            final_stock,
            sold,
            in_doubt,
            reset: false,
            target_lost: false,
            deleted: false,
            unsafe_overlaps: None,
            segment_finals: Vec::new(),
            exact: None,
        })
    }

    fn failing(a: &Audit) -> Vec<String> {
        a.invariants
            .iter()
            .filter(|i| !i.pass)
            .map(|i| i.name.to_string())
            .collect()
    }

    #[test]
    fn exact_sale_passes() {
        let a = run(100, 90, 10);
        assert_eq!(a.verdict, Verdict::Pass);
        assert_eq!((a.oversold, a.unsold), (0, 90));
        assert!(failing(&a).is_empty());
    }

    #[test]
    fn sold_out_exactly_passes() {
        let a = run(5, 0, 5);
        assert_eq!(a.verdict, Verdict::Pass);
        assert_eq!((a.oversold, a.unsold), (0, 0));
    }

    #[test]
    fn negative_stock_is_an_oversell() {
        // The article's failure: stock 5, six sales, stock -1.
        let a = run(5, -1, 6);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 1);
        assert_eq!(a.unsold, 0);
        assert_eq!(
            failing(&a),
            ["final_stock_non_negative", "sold_within_initial_stock"]
        );
    }

    #[test]
    fn recorded_sales_beyond_stock_fail_even_if_stock_looks_fine() {
        // Stock reset behind the harness's back: 7 sold of 5, stock 3.
        let a = run(5, 3, 7);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 2);
        assert_eq!(
            failing(&a),
            ["sold_within_initial_stock", "stock_conservation"]
        );
    }

    #[test]
    fn unrecorded_decrement_breaks_conservation() {
        let a = run(10, 4, 5);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 0);
        assert_eq!(failing(&a), ["stock_conservation"]);
    }

    #[test]
    fn in_doubt_purchases_explain_lost_units_but_not_more() {
        // 3 writes in doubt, 2 of them applied: lost 2, within the doubt.
        let a = with_doubt(100, Some(40), 58, 3);
        assert_eq!(a.verdict, Verdict::Pass);
        assert_eq!(a.lost, 2);
        // 5 units gone unrecorded but only 3 in doubt: not conserved.
        let a = with_doubt(100, Some(37), 58, 3);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(failing(&a), ["stock_conservation"]);
        // In doubt alone, none applied: still a pass.
        assert_eq!(with_doubt(100, Some(42), 58, 3).verdict, Verdict::Pass);
    }

    #[test]
    fn in_doubt_never_excuses_an_oversell() {
        let a = with_doubt(5, Some(-1), 5, 10);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 1);
        let a = with_doubt(5, Some(0), 6, 10);
        assert_eq!(a.verdict, Verdict::Fail);
    }

    #[test]
    fn a_lost_stock_key_is_a_reset_not_an_oversell() {
        let a = with_doubt(100, None, 40, 0);
        assert_eq!(a.verdict, Verdict::Reset);
        assert_eq!(a.oversold, 0);
        assert_eq!(failing(&a), ["stock_not_reset"]);
        let reset = audit(StockFacts {
            initial: 100,
            final_stock: Some(100),
            sold: 40,
            in_doubt: 0,
            reset: true,
            target_lost: false,
            deleted: false,
            unsafe_overlaps: None,
            segment_finals: Vec::new(),
            exact: None,
        });
        assert_eq!(reset.verdict, Verdict::Reset);
        let deleted = audit(StockFacts {
            initial: 100,
            final_stock: None,
            sold: 40,
            in_doubt: 0,
            reset: false,
            target_lost: false,
            deleted: true,
            unsafe_overlaps: None,
            segment_finals: Vec::new(),
            exact: None,
        });
        assert_eq!(deleted.verdict, Verdict::Fail);
        assert_eq!(failing(&deleted), ["stock_not_deleted"]);
        // Recorded sales beyond the stock are an oversell, reset or not.
        assert_eq!(with_doubt(10, None, 12, 0).verdict, Verdict::Fail);
    }

    #[test]
    fn unsafe_lock_overlaps_fail_the_audit_without_an_oversell() {
        let facts = |overlaps| StockFacts {
            initial: 1_000_000_000,
            final_stock: Some(999_999_600),
            sold: 400,
            in_doubt: 0,
            reset: false,
            target_lost: false,
            deleted: false,
            unsafe_overlaps: overlaps,
            segment_finals: Vec::new(),
            exact: None,
        };
        let a = audit(facts(Some(3)));
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 0);
        assert_eq!(failing(&a), ["lock_exclusive"]);
        assert_eq!(audit(facts(Some(0))).verdict, Verdict::Pass);
        assert!(audit(facts(None))
            .invariants
            .iter()
            .all(|i| i.name != Check::LockExclusive));
    }

    #[test]
    fn a_lost_target_judges_the_recorded_sales_alone() {
        let facts = |sold| StockFacts {
            initial: 10,
            final_stock: None,
            sold,
            in_doubt: 0,
            reset: false,
            target_lost: true,
            deleted: false,
            unsafe_overlaps: None,
            segment_finals: Vec::new(),
            exact: None,
        };
        let a = audit(facts(8));
        assert_eq!(a.verdict, Verdict::Pass);
        assert_eq!(failing(&a), Vec::<&str>::new());
        let a = audit(facts(12));
        assert_eq!((a.verdict, a.oversold), (Verdict::Fail, 2));
    }

    #[test]
    fn oversold_takes_the_larger_of_both_measures() {
        let a = run(5, -3, 6);
        assert_eq!(a.oversold, 3);
    }

    fn figures(latency: &dyn Fn(Phase, f64) -> u64) -> Figures<'_> {
        Figures {
            oversold: 0,
            purchases_per_s: 900.0,
            attempts: 1000,
            errors: 20,
            wait_timeouts: 3,
            latency,
        }
    }

    #[test]
    fn thresholds_fire_when_a_figure_crosses_its_limit() {
        let latency = |phase: Phase, q: f64| match (phase, q) {
            (Phase::Purchase, 0.99) => 4000,
            (Phase::LockWait, 0.999) => 9000,
            _ => 1,
        };
        let t = Thresholds {
            max_oversold: 0,
            min_purchases_per_s: Some(1000.0),
            max_p99_us: vec![(Phase::Purchase, 5000)],
            max_p999_us: vec![(Phase::LockWait, 8000)],
            max_error_rate: Some(0.01),
            max_wait_timeouts: Some(3),
        };
        let rows = thresholds(&t, &figures(&latency));
        let names: Vec<String> = rows.iter().map(|r| r.name.to_string()).collect();
        let verdicts: Vec<(&str, bool)> = names
            .iter()
            .map(String::as_str)
            .zip(rows.iter().map(|r| r.pass))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("threshold.max_oversold", true),
                ("threshold.min_purchases_per_s", false),
                ("threshold.max_p99_us.purchase", true),
                ("threshold.max_p999_us.lock_wait", false),
                ("threshold.max_error_rate", false),
                ("threshold.max_wait_timeouts", true),
            ]
        );
        assert_eq!(rows[4].observed, "0.02");
    }

    #[test]
    fn only_max_oversold_is_checked_by_default() {
        let latency = |_: Phase, _: f64| 1;
        let mut f = figures(&latency);
        f.oversold = 1;
        let rows = thresholds(&Thresholds::default(), &f);
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].pass);
    }

    #[test]
    fn integer_thresholds_print_as_integers_and_rates_as_decimals() {
        let latency = |_: Phase, _: f64| 7;
        let mut f = figures(&latency);
        f.oversold = i64::MAX as u64;
        let t = Thresholds {
            max_oversold: i64::MAX as u64,
            max_p99_us: vec![(Phase::Purchase, 9_007_199_254_740_993)],
            max_error_rate: Some(0.25),
            max_wait_timeouts: Some(u64::MAX),
            ..Thresholds::default()
        };
        let rows = thresholds(&t, &f);
        let cells: Vec<(&str, &str, bool)> = rows
            .iter()
            .map(|r| (r.expected.as_str(), r.observed.as_str(), r.pass))
            .collect();
        assert_eq!(
            cells,
            [
                ("<= 9223372036854775807", "9223372036854775807", true),
                ("<= 9007199254740993", "7", true),
                ("<= 0.25", "0.02", true),
                ("<= 18446744073709551615", "3", true),
            ]
        );
        f.oversold = i64::MAX as u64 + 1;
        assert!(
            !thresholds(&t, &f)[0].pass,
            "one unit over a huge limit fails"
        );
    }
}
