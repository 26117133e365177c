//! seckill-bench: a load-testing harness for flash-sale ("seckill") stock
//! deduction on Redis. A coordinator process spawns worker processes that
//! replay a purchase protocol (the article's lock, or another strategy)
//! against a real Redis, merges their HdrHistograms, audits the final stock
//! and writes CSV and SVG reports that prove zero oversell or show how much
//! was oversold.
//!
//! # Layout
//!
//! - [`cli`]: clap definitions; the help text.
//! - [`scenario`]: TOML + `--set` overrides -> a validated [`scenario::Scenario`].
//! - [`run`], [`sweep`], [`capacity`], [`compare`]: the commands.
//! - [`coordinator`]: opens Redis, spawns workers, barrier start, merges
//!   their metrics, audits; produces a [`record::RunRecord`].
//! - [`record`]: what a finished run measured, for the reports; with
//!   [`timeline`], the run over time.
//! - [`verdict`]: the run's word, exit code and headline.
//! - [`checker`]: the lock-safety checker (overlapping lock holds);
//!   [`advice`]: what a lock run's numbers say of its lock parameters.
//! - [`worker`]: one worker process: clients, strategy loop, metrics.
//! - [`protocol`]: the only types that cross the coordinator <-> worker pipe.
//! - [`strategy`]: one module per purchase strategy behind one enum.
//! - [`outcome`]: how a purchase ended and what it did; strategies produce
//!   it, the metrics count it.
//! - [`metrics`]: HdrHistogram recording, V2 shipping, lossless merging.
//! - [`phase`]: the timed phases of a purchase, named; recorded by the
//!   metrics, limited by the scenario's thresholds.
//! - [`audit`]: stock invariants as pure functions; [`ledger`]: the
//!   harness's own per-buyer ledger and Redis's orders per buyer.
//! - [`report`]: one module per output file, rendering to bytes.
//! - [`conn`]: our one connection type and how the primary is found
//!   (fixed URL or Sentinel, TLS): the seam between purchase code and topology.
//! - [`redis_server`]: a throwaway embedded redis-server (primary,
//!   replica or sentinel, TLS with [`certs`]); [`sentinel_set`]: a primary,
//!   its replicas and three sentinels, and the failovers done to them;
//!   [`cluster_set`]: an embedded Redis Cluster.
//! - [`redact`]: masks the password of every URL in a message.
//! - [`lua_scan`]: the wiping commands (`FLUSHALL`, ...) in a user's Lua.
//! - [`claim`]: the report folder, claimed before the load, swapped in
//!   whole at the end.
//! - [`bounded_read`]: every user-named file read within a size for its kind.
//! - [`keys`], [`stop`], [`interrupt`], [`freeze`], [`process`], [`run_id`]:
//!   small shared pieces.

pub mod advice;
pub mod agent;
pub mod audit;
pub mod bounded_read;
pub mod capacity;
pub mod certs;
pub mod checker;
pub mod claim;
pub mod cli;
pub mod cluster_set;
pub mod compare;
pub mod conn;
pub mod coordinator;
pub mod error;
pub mod freeze;
pub mod interrupt;
pub mod keys;
pub mod ledger;
pub mod lua_scan;
pub mod metrics;
pub mod outcome;
pub mod phase;
pub mod process;
pub mod protocol;
pub mod record;
pub mod redact;
pub mod redis_server;
pub mod report;
pub mod run;
pub mod run_id;
pub mod scenario;
pub mod sentinel_set;
pub mod stop;
pub mod strategy;
pub mod sweep;
pub mod timeline;
pub mod verdict;
pub mod worker;
