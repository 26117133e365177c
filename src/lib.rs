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
//! - [`coordinator`]: opens Redis, spawns workers, barrier start, merges
//!   their metrics, audits; produces a [`coordinator::RunRecord`].
//! - [`worker`]: one worker process: clients, strategy loop, metrics.
//! - [`protocol`]: the only types that cross the coordinator <-> worker pipe.
//! - [`strategy`]: one module per purchase strategy behind one enum.
//! - [`metrics`]: HdrHistogram recording, V2 shipping, lossless merging.
//! - [`audit`]: stock invariants as pure functions.
//! - [`report`]: one module per output file, rendering to bytes.
//! - [`sweep`]: runs every point of a scenario's `[sweep]` table.
//! - [`compare`]: the CI regression gate between two report folders.
//! - [`redis_server`]: a throwaway embedded redis-server.
//! - [`keys`], [`stop`], [`interrupt`], [`freeze`], [`process`], [`run_id`]:
//!   small shared pieces.

pub mod audit;
pub mod checker;
pub mod cli;
pub mod compare;
pub mod coordinator;
pub mod error;
pub mod freeze;
pub mod interrupt;
pub mod keys;
pub mod metrics;
pub mod process;
pub mod protocol;
pub mod redis_server;
pub mod report;
pub mod run_id;
pub mod scenario;
pub mod stop;
pub mod strategy;
pub mod sweep;
pub mod worker;

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;

use audit::Verdict;
use cli::RunArgs;
use coordinator::Target;
use error::Error;
use interrupt::Interrupt;
use scenario::{Override, Scenario};

/// What a finished `run` means for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOutcome {
    pub verdict: Verdict,
    pub thresholds_passed: bool,
    pub interrupted: bool,
}

/// The coordinator's runtime: one thread is plenty for reading pipes, and
/// it keeps every child's parent-death signal tied to the main thread.
///
/// # Errors
/// When the runtime cannot start.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// `reports/<name>-<stamp>` unless the user chose a folder.
fn out_dir(chosen: &Option<PathBuf>, folder: String) -> PathBuf {
    chosen
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(folder))
}

/// `--set` flags plus `--redis-url`, which is `redis.url` by another name.
fn overrides(args: &RunArgs) -> Vec<Override> {
    let mut overrides = args.set.clone();
    if let Some(url) = &args.redis_url {
        overrides.push(Override::redis_url(url));
    }
    overrides
}

impl RunOutcome {
    /// 1 audit failed; else 3 a threshold was violated; else 130
    /// interrupted; else 0.
    pub fn exit_code(self) -> u8 {
        match (self.verdict, self.thresholds_passed, self.interrupted) {
            (Verdict::Fail | Verdict::Reset, _, _) => 1,
            (Verdict::Pass, false, _) => 3,
            (Verdict::Pass, true, true) => 130,
            (Verdict::Pass, true, false) => 0,
        }
    }
}

/// `seckill-bench run`: load the scenario, run it, write the reports.
///
/// # Errors
/// [`Error`] with the exit code of its kind.
pub fn run_command(args: &RunArgs) -> Result<RunOutcome, Error> {
    let scenario = Scenario::load(&args.scenario, &overrides(args))?;
    let stamp = run_id::utc_stamp(SystemTime::now());
    let out = out_dir(&args.out, format!("{}-{stamp}", scenario.name));
    let run_id = run_id::run_id(&scenario.name, &stamp);
    let record = runtime()?.block_on(async {
        let interrupt = Interrupt::install().context("installing the Ctrl-C handler")?;
        let mut target = Target::open(&scenario.redis, scenario.lock_servers()).await?;
        coordinator::run(&scenario, &run_id, &mut target, interrupt, args.quiet).await
    })?;
    report::write_all(&out, &record)?;
    if args.quiet {
        let verdict = match (record.audit.verdict, record.thresholds_passed()) {
            (Verdict::Pass, false) => "THRESHOLDS-FAILED",
            (v, _) => v.as_str(),
        };
        println!("{verdict} {}", out.display());
    } else {
        println!("{}", report::terminal_summary(&record, &out));
    }
    Ok(RunOutcome {
        verdict: record.audit.verdict,
        thresholds_passed: record.thresholds_passed(),
        interrupted: record.interrupted,
    })
}
