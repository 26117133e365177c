//! seckill-bench: a load-testing harness for flash-sale ("seckill") stock
//! deduction on Redis. A coordinator process spawns worker processes that
//! replay a purchase protocol (the article's lock, or another strategy)
//! against a real Redis, merges their HdrHistograms, audits the final stock
//! and writes CSV and SVG reports that prove zero oversell or show how much
//! was oversold.
//!
//! # Layout
//!
//! - [`cli`]: clap definitions; the help text. `main.rs` dispatches to
//!   [`cmd`]: `run`, `sweep`, `capacity`, `compare` and `agent`.
//! - [`scenario`]: TOML + `--set` overrides -> a validated [`scenario::Scenario`].
//! - [`coordinator`]: opens the target, starts the user's `[service]`
//!   instances, spawns workers, barrier start, faults and failovers,
//!   merges their metrics, audits; produces a [`record::RunRecord`].
//! - [`record`]: what a finished run measured, for the reports; with
//!   [`timeline`], the run over time.
//! - [`judge`]: the run's verdict from what it measured, as pure
//!   functions over what the coordinator collected.
//! - [`verdict`]: every verdict word, its exit code, and a run's headline;
//!   [`audit`]: stock invariants as pure functions; [`ledger`]: the
//!   harness's own per-buyer ledger and Redis's orders per buyer.
//! - [`history`]: every purchase as a Jepsen-style operation with its id;
//!   the checks that name lost sales, resolve in-doubt purchases and bound
//!   each stock reading; `history.jsonl`.
//! - [`checker`]: the lock-safety checker (overlapping lock holds), over
//!   the [`hold`]s workers record; [`advice`]: what a lock run's numbers
//!   say of its lock parameters.
//! - [`worker`]: one worker process: clients, pacer, strategy loop.
//! - [`protocol`]: the only types that cross the coordinator <-> worker pipe.
//! - [`strategy`]: one module per purchase strategy behind one enum.
//! - [`outcome`]: how a purchase ended and what it did; strategies produce
//!   it, the metrics count it.
//! - [`metrics`]: HdrHistogram recording, shipping as buckets, lossless
//!   merging.
//! - [`phase`]: the timed phases of a purchase, named; recorded by the
//!   metrics, limited by the scenario's thresholds.
//! - [`report`]: one module per output file, rendering to bytes.
//! - [`conn`]: our one connection type and how the primary is found
//!   (fixed URL or Sentinel, TLS): the seam between purchase code and topology.
//! - [`topology`]: the servers a run starts for itself: a throwaway
//!   redis-server, a Sentinel set, a Cluster, their TLS certificates.
//! - [`keys`]: the run's key names, all under its prefix.
//! - [`util`]: small pieces that depend on nothing else of the crate.

pub mod advice;
pub mod audit;
pub mod checker;
pub mod cli;
pub mod cmd;
pub mod conn;
pub mod coordinator;
pub mod error;
pub mod history;
pub mod hold;
pub mod judge;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod outcome;
pub mod phase;
pub mod protocol;
pub mod record;
pub mod report;
pub mod scenario;
pub mod strategy;
pub mod timeline;
pub mod topology;
pub mod util;
pub mod verdict;
pub mod worker;
