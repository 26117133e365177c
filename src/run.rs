//! `seckill-bench run`: one scenario, once, or `--repeat N` times with
//! fresh keys and a fresh embedded server per trial, since a race that
//! oversells in some runs and not others needs more than one look.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::coordinator::{self, Target};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::record::RunRecord;
use crate::report::{self, trials::TrialRow};
use crate::run_id;
use crate::scenario::{Override, Scenario};
use crate::verdict::Verdict;

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

/// The folder the user chose with `--out`, as it is; otherwise a fresh
/// `reports/<name>-<stamp>`, claimed by creating it: when a run of the same
/// scenario took that name in the same second, `-2`, `-3`, ... is added, so
/// two runs never write into one folder.
///
/// # Errors
/// When `reports/` cannot be created or written.
pub fn out_dir(chosen: &Option<PathBuf>, folder: String) -> anyhow::Result<PathBuf> {
    if let Some(dir) = chosen {
        return Ok(dir.clone());
    }
    let reports = PathBuf::from("reports");
    std::fs::create_dir_all(&reports).context("creating the reports/ folder")?;
    for n in 1u32.. {
        let name = match n {
            1 => folder.clone(),
            n => format!("{folder}-{n}"),
        };
        let dir = reports.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    unreachable!("some suffix is free")
}

/// The Redis URL from the environment, kept out of argv (which every local
/// user can read in `ps`) and out of the scenario file: for CI secrets.
pub const REDIS_URL_ENV: &str = "SECKILL_REDIS_URL";
/// `redlock` lock servers from the environment, comma-separated.
pub const REDLOCK_URLS_ENV: &str = "SECKILL_REDLOCK_URLS";

/// The environment's URLs, then `--set` flags, then `--redis-url`, which is
/// `redis.url` by another name: later ones win.
pub fn overrides(args: &RunArgs) -> Vec<Override> {
    let env = |name| {
        std::env::var(name)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    let mut overrides = Vec::new();
    if let Some(url) = env(REDIS_URL_ENV) {
        overrides.push(Override::from_env(
            REDIS_URL_ENV,
            "redis.url",
            toml::Value::String(url),
        ));
    }
    if let Some(urls) = env(REDLOCK_URLS_ENV) {
        let list = urls
            .split(',')
            .map(|u| toml::Value::String(u.trim().to_owned()))
            .collect();
        overrides.push(Override::from_env(
            REDLOCK_URLS_ENV,
            "redis.redlock_urls",
            toml::Value::Array(list),
        ));
    }
    overrides.extend(args.set.iter().cloned());
    if let Some(url) = &args.redis_url {
        overrides.push(Override::redis_url(url));
    }
    overrides
}

/// `seckill-bench run`: load the scenario, run it (N times with
/// `--repeat`), write the reports; returns the exit code.
///
/// # Errors
/// [`Error`] with the exit code of its kind.
pub fn run_command(args: &RunArgs) -> Result<u8, Error> {
    let scenario = Scenario::load(&args.scenario, &overrides(args))?;
    let stamp = run_id::utc_stamp(SystemTime::now());
    let folder = format!("{}-{stamp}", scenario.name);
    match args.repeat {
        Some(n) if n.get() > 1 => {
            let out = out_dir(&args.out, folder)?;
            trials(&scenario, n.get(), &stamp, &out, args.quiet)
        }
        _ => {
            let record = runtime()?.block_on(once(&scenario, &stamp, None, args.quiet))?;
            // Claimed only now: a run that never started leaves no folder.
            let written = out_dir(&args.out, folder)
                .and_then(|out| report::write_all(&out, &record).map(|()| out));
            match written {
                Ok(out) => {
                    print_run(&record, &out, args.quiet);
                    Ok(record.verdict.exit_code())
                }
                Err(e) => Ok(unwritten(&record, &e)),
            }
        }
    }
}

/// One run on a target of its own; `trial` names its keys apart.
async fn once(
    scenario: &Scenario,
    stamp: &str,
    trial: Option<u32>,
    quiet: bool,
) -> Result<RunRecord, Error> {
    let interrupt = Interrupt::install().context("installing the Ctrl-C handler")?;
    let name = match trial {
        Some(t) => format!("{}-t{t:03}", scenario.name),
        None => scenario.name.clone(),
    };
    let run_id = run_id::run_id(&name, stamp);
    let mut target = Target::open(&scenario.redis, scenario.lock_servers()).await?;
    coordinator::run(scenario, &run_id, &mut target, interrupt, quiet).await
}

/// The reports could not be written, but the run happened: its verdict is
/// printed all the same. An oversell still exits 1; otherwise 4.
fn unwritten(record: &RunRecord, e: &anyhow::Error) -> u8 {
    print_run(record, Path::new("(not written)"), false);
    eprintln!("error: the reports could not be written: {e:#}");
    match record.verdict.exit_code() {
        1 => 1,
        _ => 4,
    }
}

/// Prints the result; a closed stdout (`| head`) is not an error worth a
/// panic: the reports are written already.
fn print_run(record: &RunRecord, out: &Path, quiet: bool) {
    let text = match quiet {
        true => format!("{} {}", record.verdict.banner(), out.display()),
        false => report::terminal_summary(record, out),
    };
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// `--repeat N`: each trial in `trial-NNN/`, then `trials.csv` and one
/// line that counts the verdicts.
fn trials(scenario: &Scenario, n: u32, stamp: &str, out: &Path, quiet: bool) -> Result<u8, Error> {
    let runtime = runtime()?;
    let mut rows = Vec::new();
    let mut codes = Vec::new();
    let mut interrupted = false;
    for trial in 1..=n {
        let folder = format!("trial-{trial:03}");
        let record = runtime.block_on(once(scenario, stamp, Some(trial), true));
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                report::trials::write(out, &rows)?;
                return Err(e);
            }
        };
        report::write_all(&out.join(&folder), &record)?;
        if !quiet {
            eprintln!(
                "[{trial}/{n}] {}: {}",
                record.verdict.banner(),
                record.verdict.headline
            );
        }
        rows.push(TrialRow::new(trial, &record, folder));
        codes.push(record.verdict.clone());
        if record.interrupted {
            interrupted = true;
            break;
        }
    }
    report::trials::write(out, &rows)?;
    let line = report::trials::headline(&rows, n);
    match quiet {
        true => println!("{line} {}", out.display()),
        false => println!("{line}\n  report: {}", out.display()),
    }
    Ok(trials_exit_code(&codes, interrupted))
}

/// 1 if any trial failed, else 5 if any was inconclusive, else 3 if any
/// violated a threshold, else 130 if interrupted, else 0.
fn trials_exit_code(verdicts: &[crate::verdict::RunVerdict], interrupted: bool) -> u8 {
    let any = |f: &dyn Fn(&crate::verdict::RunVerdict) -> bool| verdicts.iter().any(f);
    if any(&|v| matches!(v.verdict, Verdict::Fail | Verdict::Reset)) {
        1
    } else if any(&|v| v.verdict == Verdict::Inconclusive) {
        5
    } else if any(&|v| !v.thresholds_passed) {
        3
    } else if interrupted {
        130
    } else {
        0
    }
}
