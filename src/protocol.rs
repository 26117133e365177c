//! The only types that cross the coordinator <-> worker pipe: one JSON
//! message per line, coordinator -> worker on the worker's stdin, worker ->
//! coordinator on its stdout. Worker logs go to stderr, never here.
//!
//! Sequence: `Plan` -> `Ready` (echoing the plan hash; a mismatch means a
//! different binary and the worker is refused) -> `Go` -> `Batch`es every
//! few milliseconds -> `Done`. `Stop` (or the pipe closing) ends a worker
//! early; it still flushes and says `Done`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::conn::{Endpoint, Rediscover};

use crate::keys::Keys;
use crate::metrics::Batch;
use crate::scenario::{
    BuyerSettings, HttpSettings, Pace, ScriptSettings, SegmentFallback, SegmentPick, StopRule,
    StrategySettings,
};

/// Bumped whenever a message changes shape.
pub const PROTOCOL_VERSION: u32 = 15;

/// What one worker process is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerPlan {
    pub protocol_version: u32,
    pub worker_index: u32,
    /// Where the primary is, passwords and certificates included: it
    /// travels only over the pipe, never to output.
    pub endpoint: Endpoint,
    /// Whether a client that lost its primary asks Sentinel again.
    pub rediscover: Rediscover,
    /// `redlock` lock servers, passwords included; empty otherwise.
    pub lock_urls: Vec<String>,
    /// One key set per stock segment.
    pub segments: Vec<Keys>,
    pub segment_pick: SegmentPick,
    pub segment_fallback: SegmentFallback,
    /// Connections (clients) this worker opens.
    pub clients: u32,
    pub quantity: u64,
    pub stop: StopRule,
    /// This worker's share of the load shape.
    pub pace: Pace,
    /// Open loop with fixed arrivals: where in its first gap this worker's
    /// schedule starts (`worker_index / processes`), so the workers'
    /// arrivals interleave evenly instead of landing together.
    pub arrival_phase: f64,
    pub strategy: StrategySettings,
    /// `kind = "script"`: the user's code, its source included.
    pub script: Option<ScriptSettings>,
    /// `kind = "http"`: the request a purchase sends.
    pub http: Option<HttpSettings>,
    /// `[service]`: the instances' base URLs (`http://127.0.0.1:PORT`).
    pub instances: Vec<String>,
    pub buyers: BuyerSettings,
    /// Clients in the whole run: round-robin buyers interleave over them.
    pub total_clients: u64,
    /// Ship the buyer of every sale, for the coordinator's per-buyer ledger.
    pub ledger: bool,
    /// Ship every purchase's op for the run's history (`audit.history`).
    pub history: bool,
    /// Every sale with its id (the orders are checked by id); else sales
    /// are counted per batch.
    pub history_ids: bool,
    /// How the clients reach Redis (`[load] connections`).
    pub connections: crate::scenario::Connections,
    /// How often the worker ships a [`Batch`].
    pub flush_interval: Duration,
    /// Per-call Redis timeout; a call that exceeds it counts as an error.
    pub response_timeout: Duration,
}

impl WorkerPlan {
    /// FNV-1a of the plan as JSON plus the crate version: the worker
    /// recomputes it from what it decoded, so a binary that reads the plan
    /// differently is caught before any load starts.
    pub fn hash(&self) -> u64 {
        let json = serde_json::to_string(self).expect("a plan always serializes");
        let text = format!("{}|{json}", env!("CARGO_PKG_VERSION"));
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Plan {
        plan_hash: u64,
        plan: Box<WorkerPlan>,
    },
    Go,
    Stop,
    /// Ship your metrics, say `Frozen`, and SIGSTOP yourself: at once, or,
    /// with a `claim`, in the next critical section of any client, if this
    /// worker wins the claim (one per fault, shared by every worker: exactly
    /// one freezes).
    Freeze {
        /// The declared fault's index, echoed in `Frozen`.
        fault: u32,
        claim: Option<String>,
    },
    /// Another worker froze for this `lock-holder` fault: stop trying.
    Disarm {
        fault: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    Ready {
        plan_hash: u64,
        /// The worker's pid and machine, for the fault log.
        pid: u32,
        host: String,
    },
    Batch {
        batch: Box<Batch>,
    },
    /// Finished; with the CPU time it used, user and system.
    Done {
        cpu_s: f64,
    },
    /// Nothing to ship for a while, but alive: keeps the watchdog quiet,
    /// and carries the checker watermark.
    Heartbeat {
        watermark_ns: u64,
    },
    Failed {
        message: String,
    },
    /// About to SIGSTOP itself for `fault`; `in_flight` purchases were
    /// under way.
    Frozen {
        fault: u32,
        in_flight: u32,
    },
}

/// One message as a line, newline included.
pub fn encode<T: Serialize>(message: &T) -> String {
    let mut line = serde_json::to_string(message).expect("protocol messages always serialize");
    line.push('\n');
    line
}

/// # Errors
/// When the line is not a message of this protocol version.
pub fn decode<'a, T: Deserialize<'a>>(line: &'a str) -> anyhow::Result<T> {
    serde_json::from_str(line).map_err(|e| anyhow::anyhow!("bad protocol line ({e}): {line:.200}"))
}

/// Coordinator -> agent, one per line on the agent's stdin (through the
/// launcher: ssh, kubectl exec). Any line resets the agent's dead-man
/// timer; [`ToAgent::Heartbeat`] exists only for that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToAgent {
    /// Start workers with these run-wide indices.
    Start {
        workers: Vec<u32>,
    },
    /// A message for one worker.
    Relay {
        worker: u32,
        message: ToWorker,
    },
    /// `Go` to every worker of the host at once; answered by `Went`.
    Go,
    /// A signal for one worker: what a stopped worker cannot be told.
    Signal {
        worker: u32,
        signal: Sig,
    },
    /// Answered by `Pong` with the host's clocks.
    Ping {
        sent_unix_ns: u64,
    },
    Heartbeat,
}

/// The signals the coordinator may have an agent deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sig {
    Cont,
    Kill,
}

impl Sig {
    pub fn number(self) -> i32 {
        match self {
            Sig::Cont => libc::SIGCONT,
            Sig::Kill => libc::SIGKILL,
        }
    }
}

/// Agent -> coordinator, one per line on the agent's stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromAgent {
    /// The host's workers are started, with their pids.
    Started { pids: Vec<u32>, host: String },
    /// A worker's line, as it wrote it.
    Worker { worker: u32, message: FromWorker },
    /// The worker's stdout closed: it exited or died.
    Closed { worker: u32 },
    /// `Go` was written to every worker; the host's monotonic clock then,
    /// which its workers' lock holds are timed on.
    Went { monotonic_ns: u64 },
    Pong {
        sent_unix_ns: u64,
        host_unix_ns: u64,
    },
    /// The agent could not do what it was asked.
    Failed { message: String },
}

/// An agent's relay of one worker line, built without decoding it: the
/// line is already a JSON object.
pub fn relayed(worker: u32, line: &str) -> String {
    format!("{{\"type\":\"worker\",\"worker\":{worker},\"message\":{line}}}\n")
}
