//! The run's verdict from what it measured: the stock audit, the ledgers,
//! the lock-safety checker, the thresholds and what the run could not test,
//! reached as pure functions over what the coordinator collected and what
//! Redis held at the end. No I/O: the coordinator gathers, this judges.

use std::time::{Duration, SystemTime};

use crate::audit::{self, Audit, Check, Invariant, StockFacts};
use crate::checker::{Checker, LockSafety};
use crate::error::root_cause;
use crate::history::check::{Bounds, Findings, Setup};
use crate::history::{History, Orders, StoredOrders};
use crate::ledger::Ledger;
use crate::metrics::Totals;
use crate::outcome::ErrorKind;
use crate::phase::Phase;
use crate::record::{FaultEvent, HarnessStall, HostRecord, RunRecord, SegmentRecord, WorkerRecord};
use crate::scenario::Scenario;
use crate::timeline::Timeline;
use crate::topology::version::ServerVersion;
use crate::verdict::{self, Inconclusive, RunVerdict};

/// What the load phase produced.
pub struct Collected {
    pub totals: Totals,
    pub workers: Vec<WorkerRecord>,
    pub duration: Duration,
    pub interrupted: bool,
    pub started_at: SystemTime,
    pub timeline: Timeline,
    pub faults: Vec<FaultEvent>,
    /// Declared faults that did not take effect.
    pub not_taken: Vec<Inconclusive>,
    pub killed_in_flight: u64,
    pub reset: bool,
    /// When the last failover fault began.
    pub failover_at: Option<Duration>,
    /// One per host; `None` when the strategy takes no lock.
    pub checkers: Option<Vec<Checker>>,
    /// Sales per buyer; `None` without `audit.per_buyer_limit`.
    pub ledger: Option<Ledger>,
    pub hosts: Vec<HostRecord>,
    /// A lost host stopped the run (`on_host_loss = "abort"`).
    pub aborted_for_host_loss: bool,
    pub coordinator_cpu_s: f64,
    /// Times the coordinator itself did not run.
    pub harness_stalls: Vec<HarnessStall>,
    /// `audit.history`: every purchase and the stock's readings.
    pub history: Option<History>,
    /// Workers killed or lost: their last purchases never arrived.
    pub gone_workers: Vec<u32>,
    /// Every `[service]` instance exited by itself mid-run.
    pub service_lost: Option<String>,
    /// `[service]`: `service-<i>.log` of each instance.
    pub service_logs: Vec<(String, Vec<u8>)>,
}

/// What the end of a run found in Redis.
pub struct Ended {
    pub segments: Vec<SegmentRecord>,
    pub final_stock: anyhow::Result<Option<i64>>,
    pub keys_left: Vec<String>,
    /// The declared keys and the orders; the buyers are the collector's.
    pub ledgers: audit::LedgerFacts,
    /// The ids the orders hold, when they name purchases by id; `Err` says
    /// why they could not be read.
    pub stored_orders: Option<Result<Orders, String>>,
    pub library: Option<String>,
    /// The user's script was found running past Redis's busy limit.
    pub busy: Option<verdict::ScriptBusy>,
    /// A stock key vanished while the server kept running.
    pub deleted: bool,
    /// How the server named itself (`INFO server`) when the run opened it.
    pub server: Option<ServerVersion>,
}

/// Units still sellable (a segment with at least one purchase's worth)
/// while some buyer was told sold out: segmented stock's under-sell, or a
/// purchase (a user's script) that answers sold out too early. The
/// built-in strategies answer it only below one purchase's worth.
fn stranded(segments: &[SegmentRecord], rejected_sold_out: u64, quantity: u64) -> u64 {
    if rejected_sold_out == 0 {
        return 0;
    }
    segments
        .iter()
        .filter_map(|s| s.final_stock)
        .map(|f| f.max(0) as u64)
        .map(|f| f - f % quantity)
        .sum()
}

/// What the run could not test: faults that did not take effect, Redis
/// lost at the end, a lost host that stopped the run, nothing that reached
/// a definite outcome, or nothing sold at all.
fn untested(
    collected: &Collected,
    busy: Option<verdict::ScriptBusy>,
    lost: Option<&anyhow::Error>,
    (redis, by): (&str, &'static str),
) -> Vec<Inconclusive> {
    let c = &collected.totals.counters;
    let in_doubt = c.in_doubt + collected.killed_in_flight;
    let mut inconclusive = collected.not_taken.clone();
    inconclusive.extend(busy.map(Inconclusive::ScriptBusy));
    // A busy script says why the end could not be read: Redis was never lost.
    if let Some(e) = lost.filter(|_| busy.is_none()) {
        inconclusive.push(Inconclusive::TargetLost {
            error: format!("{} at {redis}", root_cause(e)),
        });
    }
    inconclusive.extend(
        collected
            .hosts
            .iter()
            .filter(|h| h.lost && collected.aborted_for_host_loss)
            .map(|h| Inconclusive::HostLost {
                host: h.name.clone(),
            }),
    );
    if c.sales + c.rejected_sold_out + c.fenced_out + c.rejection_total() == 0 {
        inconclusive.push(Inconclusive::NoDefiniteOutcome {
            attempts: c.attempts,
            errors: c.error_total(),
            in_doubt,
            gave_up: c.gave_up,
        });
    } else if c.sales == 0 && c.rejection_total() > 0 && c.rejected_sold_out == 0 {
        // A script that refuses every buyer tested nothing of the stock.
        inconclusive.push(Inconclusive::NothingSold {
            rejections: c.rejection_total(),
            by,
        });
    }
    inconclusive
}

/// Audits what the load produced and reaches the verdict. Redis lost at the
/// end is not an error: the audit is needed most then.
pub fn judge(
    scenario: &Scenario,
    run_id: &str,
    redis: &str,
    mut collected: Collected,
    ended: Ended,
) -> RunRecord {
    let Ended {
        segments,
        final_stock,
        keys_left,
        mut ledgers,
        stored_orders,
        library,
        busy,
        deleted,
        server,
    } = ended;
    let lock_safety = collected
        .checkers
        .take()
        .map(|checkers| LockSafety::merged(checkers.into_iter().map(|c| c.result).collect()));
    let c = &collected.totals.counters;
    let in_doubt = c.in_doubt + collected.killed_in_flight;
    let target_lost = final_stock.is_err();
    let by = match scenario.http {
        Some(_) => "service",
        None => "script",
    };
    let lost = final_stock.as_ref().err();
    let mut inconclusive = untested(&collected, busy, lost, (redis, by));
    if let Some(what) = &collected.service_lost {
        inconclusive.push(Inconclusive::ServiceLost { what: what.clone() });
    }
    let final_stock = final_stock.unwrap_or(None);
    let stock_judged = !(target_lost || collected.reset || deleted);
    let mut history = collected.history.take();
    if let Some(h) = history.as_mut() {
        let moving = failovers(&collected.faults);
        h.readings.retain(|r| {
            !moving
                .iter()
                .any(|(from, to)| r.end >= *from && r.start <= *to)
        });
    }
    let findings = history.as_ref().map(|h| {
        let (stored, note) = stored(scenario, stored_orders, stock_judged, &mut inconclusive);
        let setup = setup(scenario, &collected, h, stock_judged, segments.len());
        let mut findings = Findings::of(h, stored.as_ref(), &setup);
        findings.note = findings.note.take().or(note);
        findings
    });
    if target_lost || collected.reset || deleted {
        // What Redis holds besides the stock is no evidence either then.
        ledgers.orders = None;
        ledgers.keys.clear();
        ledgers.unchecked = Some(
            match (target_lost, busy) {
                (true, Some(_)) => "your script kept Redis busy at the end",
                (true, None) => "Redis was lost at the end",
                (false, _) if collected.reset => "a restart without persistence reset them",
                (false, _) => "they were deleted by something other than the harness",
            }
            .to_owned(),
        );
    }
    let audit = audit::audit(StockFacts {
        initial: scenario.stock.initial,
        final_stock,
        sold: c.sold_units,
        in_doubt: in_doubt * scenario.stock.quantity.get(),
        reset: collected.reset,
        target_lost,
        deleted: deleted && !collected.reset,
        unsafe_overlaps: lock_safety.as_ref().map(|l| l.unsafe_overlaps),
        segment_finals: segments.iter().filter_map(|s| s.final_stock).collect(),
        exact: findings
            .as_ref()
            .and_then(|f| f.ids.as_ref())
            .filter(|ids| !ids.unresolvable)
            .map(|ids| audit::ExactUnits {
                acknowledged: ids.acknowledged,
                applied: ids.applied,
                unreported: ids.unreported,
                quantity: scenario.stock.quantity.get(),
            }),
    });
    let limit = scenario.audit.per_buyer_limit.map(|l| l.get());
    ledgers.buyers = limit
        .zip(collected.ledger.as_ref())
        .map(|(l, ledger)| (l, ledger.over(l)));
    if let Some(orders) = &mut ledgers.orders {
        orders.sales = c.sales;
        orders.in_doubt = in_doubt;
    }
    let mut rows = audit::ledger_invariants(&ledgers);
    if let Some(f) = &findings {
        let key = scenario
            .audit
            .orders
            .as_ref()
            .map_or("", |t| t.text.as_str());
        rows.extend(crate::history::rows::invariants(f, key));
    }
    let audit = audit.with_ledgers(rows);
    let stranded = stranded(
        &segments,
        c.rejected_sold_out,
        scenario.stock.quantity.get(),
    );
    let thresholds = check_thresholds(scenario, &collected, &audit);
    let figures = verdict::Figures {
        sold: c.sold_units,
        initial: scenario.stock.initial,
        final_stock,
        oversold: audit.oversold,
        in_doubt,
        purchases_per_s: per_second(c.attempts, collected.duration),
        unsafe_overlaps: lock_safety.as_ref().map(|l| l.unsafe_overlaps),
        fenced_overlaps: lock_safety.as_ref().map(|l| l.fenced_overlaps),
        back_in_stock: audit.back_in_stock,
        failover_at_s: collected.failover_at.map(|d| d.as_secs_f64()),
        strategy: scenario.strategy.kind.name(),
        wait_replicas: scenario.strategy.wait_replicas,
        stranded,
        sales: c.sales,
        buyer_limit: limit.unwrap_or(0),
        buyers_over: ledgers.buyers.as_ref().map_or(0, |(_, v)| v.buyers),
        buyers_across: ledgers
            .buyers
            .as_ref()
            .map_or(0, |(_, v)| v.across_segments),
        orders_off: ledgers
            .orders
            .as_ref()
            .filter(|_| audit.failed(&Check::OrdersMatchSales))
            .and_then(|o| o.count.clone().ok()),
        stock_conserved: !audit.failed(&Check::StockConservation)
            && !audit.failed(&Check::StockMatchesOrders),
        keys_deleted: audit.failed(&Check::StockNotDeleted),
        unexpected_replies: (c.errors.get(ErrorKind::UnexpectedReply.name()).copied()).unwrap_or(0),
        history: findings
            .as_ref()
            .map(crate::history::rows::figures)
            .unwrap_or_default(),
    };
    let thresholds_passed = thresholds.iter().all(|t| t.pass);
    let verdict = RunVerdict::new(
        audit.verdict,
        inconclusive,
        thresholds_passed,
        collected.interrupted,
        &figures,
    );
    RunRecord {
        scenario: scenario.clone(),
        run_id: run_id.to_owned(),
        redis: redis.to_owned(),
        server,
        totals: collected.totals,
        workers: collected.workers,
        hosts: collected.hosts,
        coordinator_cpu_s: collected.coordinator_cpu_s,
        harness_stalls: collected.harness_stalls,
        duration: collected.duration,
        final_stock,
        audit,
        verdict,
        interrupted: collected.interrupted,
        started_at: collected.started_at,
        timeline: collected.timeline,
        thresholds,
        faults: collected.faults,
        in_doubt,
        lock_safety,
        keys_left,
        segments,
        stranded,
        ledgers,
        library,
        service_logs: collected.service_logs,
        history,
        findings,
    }
}

/// The orders' ids, when they count as evidence: not after the stock was
/// lost, reset or deleted; ids that could not be read leave the checks
/// undone (INCONCLUSIVE), not failed.
fn stored(
    scenario: &Scenario,
    stored: Option<Result<Orders, String>>,
    stock_judged: bool,
    inconclusive: &mut Vec<Inconclusive>,
) -> (Option<StoredOrders>, Option<String>) {
    let Some(stored) = stored else {
        return (None, None);
    };
    match stored {
        Ok(Orders::ById(ids)) => (stock_judged.then_some(ids), None),
        Ok(Orders::NotById(why)) => (None, Some(why)),
        Err(_) if !stock_judged => (None, None),
        Err(why) => {
            let key = scenario
                .audit
                .orders
                .as_ref()
                .map_or("", |t| t.text.as_str());
            inconclusive.push(Inconclusive::Unchecked {
                what: format!("the order ids in {key} were not checked: {why}"),
            });
            (None, None)
        }
    }
}

/// When each declared failover moved the primary (its first line to its
/// last, with 100 ms either side), in ns since the start: a stock reading
/// then cannot say whose view of the stock it had, so none is judged.
fn failovers(faults: &[FaultEvent]) -> Vec<(i64, i64)> {
    let margin = Duration::from_millis(100);
    let mut spans: Vec<(usize, Duration, Duration)> = Vec::new();
    for e in faults.iter().filter(|e| e.fault == "failover") {
        match spans.iter_mut().find(|s| s.0 == e.declared) {
            Some(s) => s.2 = s.2.max(e.at),
            None => spans.push((e.declared, e.at, e.at)),
        }
    }
    spans
        .into_iter()
        .map(|(_, from, to)| {
            let from = from.saturating_sub(margin).as_nanos() as i64;
            (from, (to + margin).as_nanos() as i64)
        })
        .collect()
}

/// What the history's checks need to know of the run.
fn setup(
    scenario: &Scenario,
    collected: &Collected,
    history: &History,
    stock_judged: bool,
    segments: usize,
) -> Setup {
    let quantity = scenario.stock.quantity.get();
    // `decr` takes units back after a decrement below zero: each purchase
    // under way may hold one dip.
    let dips = match scenario.strategy.kind {
        crate::scenario::StrategyKind::Decr => quantity * scenario.load.total_clients(),
        _ => 0,
    };
    Setup {
        bounds: Bounds {
            initial: scenario.stock.initial,
            quantity,
            dips,
            complete: collected.gone_workers.is_empty(),
        },
        gone_workers: collected.gone_workers.clone(),
        readings: stock_judged && history.clocks_known(),
        one_stock: segments == 1,
    }
}

pub fn per_second(n: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

fn check_thresholds(scenario: &Scenario, collected: &Collected, audit: &Audit) -> Vec<Invariant> {
    let c = &collected.totals.counters;
    let histograms = &collected.totals.histograms;
    let latency = |phase: Phase, q: f64| histograms.get(phase).value_at_quantile(q);
    let figures = audit::Figures {
        oversold: audit.oversold,
        purchases_per_s: per_second(c.attempts, collected.duration),
        attempts: c.attempts,
        errors: c.error_total(),
        wait_timeouts: c.wait_timeouts,
        latency: &latency,
    };
    audit::thresholds(&scenario.thresholds, &figures)
}
