//! `summary.csv`: one row per run. The first columns are a contract users'
//! scripts depend on; later ones may be added, never renamed.

use serde::Serialize;

use crate::record::RunRecord;
use crate::verdict::Verdict;

/// The row; field order is column order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub scenario: String,
    pub strategy: &'static str,
    pub processes: u32,
    pub clients_per_process: u32,
    pub initial_stock: u64,
    /// Empty when the stock key was gone (reset).
    pub final_stock: Option<i64>,
    /// Units recorded as sold.
    pub sold: u64,
    pub oversold: u64,
    pub unsold: u64,
    pub attempts: u64,
    pub rejected_sold_out: u64,
    pub lock_failures: u64,
    pub wait_timeouts: u64,
    pub errors: u64,
    pub duration_s: f64,
    /// Finished purchase attempts (sold, rejected or failed) per second.
    pub purchases_per_s: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub verdict: Verdict,
    pub sales: u64,
    pub sales_per_s: f64,
    pub quantity: u64,
    pub cancelled: u64,
    pub gave_up: u64,
    pub fenced_out: u64,
    pub watch_aborts: u64,
    pub compensations: u64,
    /// `kind=count` pairs joined by `;`, e.g. `no_stock=3;timeout=1`.
    pub error_kinds: String,
    pub interrupted: bool,
    pub run_id: String,
    /// Open loop: arrivals that found every client busy and queued.
    pub late: u64,
    /// Open loop: arrivals dropped beyond `load.max_in_flight`.
    pub dropped: u64,
    /// Open loop: the mean purchases/s the schedule asked for; empty when closed.
    pub target_rate: Option<f64>,
    /// Open loop: whether `purchases_per_s` reached 95% of `target_rate`.
    pub rate_reached: Option<bool>,
    /// Service time (from the actual send) percentiles; equal to the
    /// response-time columns in a closed loop.
    pub service_p50_us: u64,
    pub service_p99_us: u64,
    pub service_max_us: u64,
    /// Purchases whose stock write may or may not have applied.
    pub in_doubt: u64,
    /// Units that left the stock with no recorded sale.
    pub lost: u64,
    /// `PASS` or `FAIL`: the scenario's thresholds (max_oversold always).
    pub thresholds: Verdict,
    /// Why the verdict is INCONCLUSIVE (a fault that did not take effect,
    /// nothing that reached the stock, Redis lost); empty otherwise.
    pub inconclusive_reason: String,
    /// Lock-safety checker: pairs of clients that held the lock at once and
    /// both wrote; empty when the strategy takes no lock.
    pub unsafe_overlaps: Option<u64>,
    /// Pairs that held the lock at once where a write was refused.
    pub fenced_overlaps: Option<u64>,
    /// `[[faults]]` entries declared, and how many took effect.
    pub faults_declared: usize,
    pub faults_applied: usize,
    /// Of `in_doubt`: sales `WAIT` did not confirm on `wait_replicas`
    /// replicas.
    pub unconfirmed: u64,
    /// Client reconnections that found a new primary (Sentinel failover).
    pub rediscoveries: u64,
    /// Units recorded as sold that are back in stock: acknowledged writes
    /// lost (a failover), to be sold twice.
    pub back_in_stock: u64,
    /// Segmented stock: `stock.segments`, the extra segments purchases
    /// tried, and the units stranded (still sellable in some segment while
    /// a buyer was told sold out).
    pub segments: usize,
    pub segment_hops: u64,
    pub stranded: u64,
    /// The user's script: purchases it refused by a named rejection (each
    /// word also has a `rejected_<word>` column at the end of the row).
    pub rejections: u64,
    /// Buyers over `audit.per_buyer_limit` in the harness's ledger; empty
    /// without a limit.
    pub duplicate_buyers: Option<u64>,
    /// Entries in `audit.orders` at the end; empty without it, or when
    /// they could not be counted.
    pub orders: Option<u64>,
    /// CPU the coordinator used while the load ran (user and system, all
    /// its threads): what merging the workers' metrics costs.
    pub coordinator_cpu_s: String,
    /// CPU the workers reported, all hosts.
    pub workers_cpu_s: String,
    /// The history's checks by id (empty when the orders do not name
    /// purchases by id): acknowledged sales missing from the orders, orders
    /// of no purchase (and copies), and how the in-doubt purchases resolved.
    pub lost_sales: Option<u64>,
    pub phantom_orders: Option<u64>,
    pub in_doubt_applied: Option<u64>,
    pub in_doubt_not_applied: Option<u64>,
    /// Sold-out answers while the history proves units remained (empty
    /// when not checked).
    pub false_sold_outs: Option<u64>,
    /// Stock readings taken during the run, and those outside what the
    /// history allows (empty when not checked).
    pub stock_readings: Option<u64>,
    pub stock_reading_violations: Option<u64>,
    /// `[load] connections` (`per-client`, `pool`, `shared`), the
    /// connections each process had (empty for per-client), and the p99
    /// wait for a pooled connection (empty but for `pool`).
    pub connections: &'static str,
    pub pool_size: Option<u32>,
    pub pool_wait_p99_us: Option<u64>,
    /// The server program and its version as it names itself (`INFO
    /// server`): `valkey 8.0.1`, `redis 7.0.15`; empty when it would not
    /// say.
    pub server: String,
    /// `rejected_<word>` columns: every word of the reply mapping, in its
    /// order.
    #[serde(skip)]
    pub rejected: Vec<(String, u64)>,
}

impl SummaryRow {
    pub fn new(record: &RunRecord) -> SummaryRow {
        let s = &record.scenario;
        let c = &record.totals.counters;
        let h = &record.totals.histograms.purchase;
        let secs = record.duration.as_secs_f64();
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let target = s.load.target_rate(record.duration);
        let service = &record.totals.histograms.service;
        let findings = record.findings.as_ref();
        let ids = findings.and_then(|f| f.ids.as_ref());
        let readings = findings.and_then(|f| f.readings.as_ref());
        SummaryRow {
            scenario: s.name.clone(),
            strategy: s.strategy.kind.name(),
            processes: s.load.processes.get(),
            clients_per_process: s.load.clients_per_process.get(),
            initial_stock: s.stock.initial,
            final_stock: record.final_stock,
            sold: c.sold_units,
            oversold: record.audit.oversold,
            unsold: record.audit.unsold,
            attempts: c.attempts,
            rejected_sold_out: c.rejected_sold_out,
            lock_failures: c.lock_failures,
            wait_timeouts: c.wait_timeouts,
            errors: c.error_total(),
            duration_s: round3(secs),
            purchases_per_s: round3(per_s(c.attempts)),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            verdict: record.verdict.verdict,
            sales: c.sales,
            sales_per_s: round3(per_s(c.sales)),
            quantity: s.stock.quantity.get(),
            cancelled: c.cancelled,
            gave_up: c.gave_up,
            fenced_out: c.fenced_out,
            watch_aborts: c.watch_aborts,
            compensations: c.compensations,
            error_kinds: c
                .errors
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(";"),
            interrupted: record.interrupted,
            run_id: record.run_id.clone(),
            late: c.late,
            dropped: c.dropped,
            target_rate: target.map(round3),
            rate_reached: target.map(|t| per_s(c.attempts) >= 0.95 * t),
            service_p50_us: service.value_at_quantile(0.50),
            service_p99_us: service.value_at_quantile(0.99),
            service_max_us: service.max(),
            in_doubt: record.in_doubt,
            lost: record.audit.lost,
            thresholds: if record.thresholds_passed() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            inconclusive_reason: record.verdict.inconclusive_reason(),
            unsafe_overlaps: record.lock_safety.as_ref().map(|l| l.unsafe_overlaps),
            fenced_overlaps: record.lock_safety.as_ref().map(|l| l.fenced_overlaps),
            faults_declared: s.faults.len(),
            faults_applied: faults_applied(record),
            unconfirmed: c.unconfirmed,
            rediscoveries: c.rediscoveries,
            back_in_stock: record.audit.back_in_stock,
            segments: record.segments.len(),
            segment_hops: c.segment_hops,
            stranded: record.stranded,
            rejections: c.rejection_total(),
            duplicate_buyers: record.ledgers.buyers.as_ref().map(|(_, v)| v.buyers),
            orders: record
                .ledgers
                .orders
                .as_ref()
                .and_then(|o| o.count.clone().ok()),
            coordinator_cpu_s: format!("{:.3}", record.coordinator_cpu_s),
            workers_cpu_s: format!(
                "{:.3}",
                record.workers.iter().filter_map(|w| w.cpu_s).sum::<f64>()
            ),
            lost_sales: ids.map(|i| i.lost),
            phantom_orders: ids.map(|i| i.phantom + i.duplicates),
            in_doubt_applied: ids
                .filter(|i| !i.unresolvable)
                .map(|i| i.applied + i.unreported),
            in_doubt_not_applied: ids.filter(|i| !i.unresolvable).map(|i| i.not_applied),
            false_sold_outs: findings.and_then(|f| f.sold_outs.as_ref()).map(|s| s.count),
            stock_readings: readings.map(|r| r.checked),
            stock_reading_violations: readings.map(|r| r.violations),
            connections: s.load.connections.name(),
            pool_size: match s.load.connections {
                crate::scenario::Connections::PerClient => None,
                model => Some(model.opened(0)),
            },
            pool_wait_p99_us: {
                let h = &record.totals.histograms.pool_wait;
                (!h.is_empty()).then(|| h.value_at_quantile(0.99))
            },
            server: record
                .server
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
            rejected: rejected(record),
        }
    }
}

/// Every rejection word of the reply mapping (count 0 if never replied),
/// then any other word the workers counted.
fn rejected(record: &RunRecord) -> Vec<(String, u64)> {
    let counted = &record.totals.counters.rejections;
    let scenario = &record.scenario;
    let mut words = match (&scenario.script, &scenario.http) {
        (Some(script), _) => script.rejection_words(),
        (None, Some(http)) => http.rejection_words(),
        (None, None) => Vec::new(),
    };
    words.extend(
        counted
            .keys()
            .filter(|w| !words.contains(w))
            .cloned()
            .collect::<Vec<_>>(),
    );
    words
        .into_iter()
        .map(|w| {
            let n = counted.get(&w).copied().unwrap_or(0);
            (w, n)
        })
        .collect()
}

impl SummaryRow {
    /// The `summary.csv` header and values, so other tables built from a
    /// row can never disagree with it on column names.
    ///
    /// # Errors
    /// When CSV encoding fails.
    pub fn record(&self) -> anyhow::Result<(csv::StringRecord, csv::StringRecord)> {
        let words: Vec<&str> = self.rejected.iter().map(|(w, _)| w.as_str()).collect();
        self.record_with(&words)
    }

    /// The same with a `rejected_<word>` column for each of `words`, so
    /// rows of runs with different words (sweep points) line up.
    ///
    /// # Errors
    /// When CSV encoding fails.
    pub fn record_with(
        &self,
        words: &[&str],
    ) -> anyhow::Result<(csv::StringRecord, csv::StringRecord)> {
        let bytes = super::csv_bytes([self])?;
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let mut header = reader.headers()?.clone();
        let mut values = reader.records().next().transpose()?.unwrap_or_default();
        for word in words {
            header.push_field(&format!("rejected_{word}"));
            let n = self
                .rejected
                .iter()
                .find(|(w, _)| w == word)
                .map_or(0, |(_, n)| *n);
            values.push_field(&n.to_string());
        }
        Ok((header, values))
    }

    /// The rejection words of every row, each once, in order of appearance.
    pub fn words<'a>(rows: impl IntoIterator<Item = &'a SummaryRow>) -> Vec<&'a str> {
        let mut words: Vec<&str> = Vec::new();
        for row in rows {
            for (w, _) in &row.rejected {
                if !words.contains(&w.as_str()) {
                    words.push(w);
                }
            }
        }
        words
    }
}

/// Declared faults whose last line in the fault log says applied (a
/// failover notes each step, and may still fail at the last; the harness's
/// own lines, `declared = 0`, are not faults of the scenario).
fn faults_applied(record: &RunRecord) -> usize {
    let mut last = std::collections::BTreeMap::new();
    for e in record.faults.iter().filter(|e| e.declared > 0) {
        last.insert(e.declared, e.applied);
    }
    last.values().filter(|&&applied| applied).count()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn render(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let (header, values) = SummaryRow::new(record).record()?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header)?;
    writer.write_record(&values)?;
    Ok(writer.into_inner()?)
}
