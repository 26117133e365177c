//! Command-line interface. The `///` comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::scenario::Override;

/// Load-test flash-sale ("seckill") stock deduction on Redis, and audit the
/// stock for oversell.
///
/// Exit codes: 0 PASS; 1 FAIL (oversold, stock not conserved, the lock let
/// two clients write at once) or RESET (a restart lost the stock); 2 bad
/// input; 3 a threshold was violated; 4 environment before the load started
/// (Redis unreachable, redis-server missing, a worker died); 5 INCONCLUSIVE
/// (a declared fault did not take effect, no purchase reached the stock, or
/// Redis was lost mid-run); 130 interrupted. The most serious applies.
#[derive(Debug, Parser)]
#[command(name = "seckill-bench", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scenario: spawn the workers, hammer the purchase path, audit
    /// the stock and write the reports.
    Run(RunArgs),
    /// Run every combination of the scenario's [sweep] table (one fresh key
    /// prefix per point, one Redis for all), then write sweep.csv and charts.
    /// Exits 1 if any point failed its audit, unless the sweep says
    /// expect_oversell = true.
    Sweep(RunArgs),
    /// Compare two run folders (or two sweep folders): print each figure
    /// with its change, write compare.csv and compare.svg into the
    /// candidate. Exits 3 when purchases/s fell or p99 rose by more than
    /// --max-regression percent, 1 when the candidate oversold, 2 when a
    /// report is missing or malformed (naming the file and column).
    Compare(CompareArgs),
    /// Find the highest arrival rate the setup sustains under an SLO:
    /// fixed-rate open-loop steps (each a normal run with its own folder),
    /// an exponential climb then bisection. Writes capacity.csv,
    /// capacity.svg and index.html. Exits 0 when a rate was found, 3 when
    /// even the lowest rate misses the SLO, 1 when a step failed its
    /// audit, 5 when a step could not judge its rate, 4 for the
    /// environment, 130 when interrupted.
    Capacity(CapacityArgs),
    /// Worker process entry point (started by `run`; speaks the protocol on
    /// stdin/stdout).
    #[command(hide = true)]
    Worker(ChildArgs),
    /// One load host's agent (started by `run` through `[hosts] launcher`):
    /// starts that host's workers and relays their protocol lines.
    #[command(hide = true)]
    Agent(AgentArgs),
    /// Kills the process groups of a run's `[service]` instances when the
    /// coordinator dies (started by `run`; reads them on stdin).
    #[command(hide = true)]
    Reaper(ChildArgs),
}

/// What a worker is told on its command line: only the run it belongs to,
/// so that its processes can be found by the run's id (`pgrep -f`).
#[derive(Debug, Args)]
pub struct ChildArgs {
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[arg(long, value_name = "RUN_ID")]
    pub run: String,
    /// Kill the workers and exit after this long without a word from the
    /// coordinator.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub dead_man_ms: u64,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML), e.g. scenarios/article.toml.
    pub scenario: PathBuf,

    /// Use this Redis instead of starting an embedded redis-server:
    /// redis://[user:password@]host:port/db. The password is never printed.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Report folder [default: reports/<scenario>-<UTC yyyymmddThhmmssZ>,
    /// for a sweep reports/<scenario>-sweep-<UTC yyyymmddThhmmssZ>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Override a scenario field by dotted path, validated like the file;
    /// repeatable: --set strategy.lock_ttl_ms=50 --set load.processes=32.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,

    /// With --out: replace the contents of a folder that is not empty (the
    /// new reports take its place in one step at the end).
    #[arg(long)]
    pub force: bool,

    /// Print only the verdict and the report folder (no progress lines).
    #[arg(long, short)]
    pub quiet: bool,

    /// `run` only: run the scenario N times, each with fresh keys and a
    /// fresh embedded server, into trial-001/, trial-002/, ... plus
    /// trials.csv. Exits 1 if any trial failed, else 5 if any was
    /// inconclusive, else 3 if any violated a threshold.
    #[arg(long, value_name = "N")]
    pub repeat: Option<std::num::NonZeroU32>,
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// The service-level objective each step must meet, e.g. "p99<50ms" or
    /// "p99.9<200ms,errors<0.1%" (the scenario's [capacity] slo otherwise).
    #[arg(long, value_name = "EXPR")]
    pub slo: Option<String>,

    /// Judge this one rate (purchases/s) instead of searching, with the
    /// search's trials and step_duration: exit 0 when it is sustained, 3
    /// when it is not.
    #[arg(long, value_name = "RATE")]
    pub at: Option<f64>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference run or sweep folder.
    pub baseline: PathBuf,
    /// The run or sweep folder to judge; compare.csv and compare.svg go here.
    pub candidate: PathBuf,
    /// Tolerated change in percent before a figure counts as a regression:
    /// a finite number, 0 or more.
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = 10.0,
        value_parser = parse_max_regression,
        allow_negative_numbers = true
    )]
    pub max_regression: f64,
}

/// Parses `--max-regression`: a finite percentage, 0 or more. The CLI's
/// value parser, so a bad value is a usage error (exit 2) naming the flag.
///
/// # Errors
/// When `text` is not a number, or is NaN, infinite or negative.
pub fn parse_max_regression(text: &str) -> Result<f64, String> {
    let pct: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number; give a percentage such as 10".to_owned())?;
    check_max_regression(pct)
}

/// `--max-regression` however it was given: a finite percentage, 0 or more.
///
/// # Errors
/// When it is NaN, infinite or negative.
pub fn check_max_regression(pct: f64) -> Result<f64, String> {
    if pct.is_finite() && pct >= 0.0 {
        Ok(pct)
    } else {
        Err("must be a finite percentage, 0 or more, such as 10".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_regression_must_be_a_finite_percentage_not_below_0() {
        assert_eq!(parse_max_regression("10"), Ok(10.0));
        assert_eq!(parse_max_regression("0"), Ok(0.0));
        assert_eq!(parse_max_regression("2.5"), Ok(2.5));
        for bad in ["NaN", "nan", "inf", "-inf", "-1", "-0.5", "ten", ""] {
            assert!(parse_max_regression(bad).is_err(), "{bad} was accepted");
        }
    }
}
