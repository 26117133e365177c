//! What a finished run measured, for the reports: the shared vocabulary
//! between the coordinator, which fills it in, and `report/`, which renders
//! it. Neither of them is needed to read it.

use std::time::{Duration, SystemTime};

use crate::audit::{Audit, Invariant, LedgerFacts};
use crate::checker::LockSafety;
use crate::history::check::Findings;
use crate::history::History;
use crate::metrics::{Counters, Totals};
use crate::scenario::Scenario;
use crate::timeline::Timeline;
use crate::topology::version::ServerVersion;
use crate::verdict::RunVerdict;

/// One worker's share of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRecord {
    pub index: usize,
    pub pid: u32,
    /// `local`, or the `[hosts] list` name it ran on.
    pub host: String,
    pub counters: Counters,
    /// CPU time it reported at its end; `None` when it never finished.
    pub cpu_s: Option<f64>,
}

/// One load host of the run (`local` without `[hosts]`): `hosts.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRecord {
    pub name: String,
    pub processes: u32,
    /// From sending `Go` to hearing every worker of the host got it.
    pub go_rtt_us: Option<u64>,
    /// The host's wall clock minus the coordinator's.
    pub clock_offset_us: Option<i64>,
    /// CPU its workers reported, user and system.
    pub cpu_s: f64,
    /// Whether the binary was copied to it for this run.
    pub shipped: bool,
    /// Whether it was lost mid-run.
    pub lost: bool,
}

/// A time the coordinator itself did not run (stopped from outside, or
/// starved of CPU): its own watchdog, ticking every 250 ms, saw the gap.
/// Workers block on their pipes meanwhile, so latency then measures the
/// harness as well as Redis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HarnessStall {
    /// When it began, since the start.
    pub at: std::time::Duration,
    pub lasted: std::time::Duration,
}

/// One line of the fault log: when, which fault, what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultEvent {
    pub at: Duration,
    /// The `[[faults]]` entry, counted from 1; 0 for what the harness did
    /// itself (the watchdog, a second Ctrl-C).
    pub declared: usize,
    pub fault: &'static str,
    /// Whether the fault had taken effect at this line.
    pub applied: bool,
    pub what: String,
    /// A `[service]` instance it acted on.
    pub subject: Option<Subject>,
}

/// The `[service]` instance a fault acted on, for `faults.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub instance: usize,
    pub pid: u32,
    /// Purchases under way on it, as the workers last reported.
    pub in_flight: u32,
}

/// Everything a run measured, for the reports.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub scenario: Scenario,
    pub run_id: String,
    /// Where the load went, password-free.
    pub redis: String,
    /// Which server program answered there, and its version (`INFO
    /// server`); `None` when it would not say.
    pub server: Option<ServerVersion>,
    pub totals: Totals,
    pub workers: Vec<WorkerRecord>,
    pub hosts: Vec<HostRecord>,
    /// The coordinator's CPU while the load ran, in seconds.
    /// Times the coordinator itself did not run.
    pub harness_stalls: Vec<HarnessStall>,
    pub coordinator_cpu_s: f64,
    /// From `Go` to the last worker's `Done`.
    pub duration: Duration,
    /// `None` when the stock key was gone at the end, or Redis was lost.
    pub final_stock: Option<i64>,
    pub audit: Audit,
    /// The run's word, exit code and headline.
    pub verdict: RunVerdict,
    /// Stopped early by Ctrl-C / SIGTERM.
    pub interrupted: bool,
    /// Wall-clock time of the common start (`Go`).
    pub started_at: SystemTime,
    /// One row per report interval, with its compressed histograms for `latency.hlog`.
    pub timeline: Timeline,
    /// The scenario's thresholds, checked.
    pub thresholds: Vec<Invariant>,
    /// What the scenario's faults did, in order.
    pub faults: Vec<FaultEvent>,
    /// Purchases whose stock write may or may not have applied: replies
    /// lost, plus those under way in killed workers.
    pub in_doubt: u64,
    /// The lock-safety checker's findings; `None` when the strategy takes
    /// no lock.
    pub lock_safety: Option<LockSafety>,
    /// The run's keys the harness could not delete (Redis lost).
    pub keys_left: Vec<String>,
    /// Each stock segment: where it lives, what it started and ended with.
    pub segments: Vec<SegmentRecord>,
    /// Units left in segments that could still sell a purchase, when some
    /// buyer was told sold out: under-sell of segmented stock.
    pub stranded: u64,
    /// The buyers over the limit, the orders, the declared keys.
    pub ledgers: LedgerFacts,
    /// `kind = "script"` with a Function library: its name as Redis loaded it.
    pub library: Option<String>,
    /// `[service]`: `service-<i>.log` of each instance, redacted.
    pub service_logs: Vec<(String, Vec<u8>)>,
    /// `audit.history`: every purchase and stock reading, for
    /// `history.jsonl`, and what its checks found.
    pub history: Option<History>,
    pub findings: Option<Findings>,
}

/// One stock segment, for `segments.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    pub stock_key: String,
    /// Its cluster slot; `None` outside a cluster.
    pub slot: Option<u16>,
    /// The master serving it, or the target.
    pub node: String,
    pub initial: u64,
    /// `None` when the key was gone or Redis lost at the end.
    pub final_stock: Option<i64>,
}

impl RunRecord {
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.pass)
    }
}
