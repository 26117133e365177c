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
use crate::record::RunRecord;
use crate::report::claim::Claim;
use crate::report::{self, trials::TrialRow};
use crate::scenario::{Override, Scenario};
use crate::util::interrupt::Interrupt;
use crate::util::run_id;
use crate::verdict::{RunVerdict, Verdict};

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

/// The folder the user chose with `--out`, claimed (see [`Claim`]: one with
/// contents only with `--force`); otherwise a fresh `reports/<name>-<stamp>`,
/// claimed by creating it: when a run of the same scenario took that name
/// in the same second, `-2`, `-3`, ... is added, so two runs never write
/// into one folder.
///
/// # Errors
/// [`Error::Usage`] for a folder with contents without `--force`, or one
/// another run claimed; [`Error::Environment`] when it cannot be created.
pub fn out_dir(chosen: &Option<PathBuf>, folder: String, force: bool) -> Result<Claim, Error> {
    match chosen {
        Some(dir) => Claim::chosen(dir, force),
        None if force => Err(Error::Usage(
            "--force is for --out DIR: a new reports/ folder has nothing to replace\n  what to do: add --out DIR, or leave --force out".to_owned(),
        )),
        None => Claim::made(&fresh_dir(folder)?),
    }
}

/// A new folder `reports/<folder>`, `-2`, `-3`, ... when taken.
fn fresh_dir(folder: String) -> anyhow::Result<PathBuf> {
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
        let list = crate::util::redact::split_urls(&urls)
            .into_iter()
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
            let out = out_dir(&args.out, folder, args.force)?;
            trials(&scenario, n.get(), &stamp, out, args.quiet)
        }
        _ => {
            // A folder the user chose is claimed before the load, so a
            // clash is said at once; a new one only after it.
            let chosen = match args.out {
                Some(_) => Some(out_dir(&args.out, folder.clone(), args.force)?),
                None if args.force => Some(out_dir(&args.out, folder.clone(), true)?),
                None => None,
            };
            let runtime = runtime()?;
            let interrupt = runtime.block_on(async { Interrupt::install() });
            let interrupt = interrupt.context("installing the Ctrl-C handler")?;
            let record = runtime.block_on(once(&scenario, &stamp, None, interrupt, args.quiet))?;
            let claimed = match chosen {
                Some(claim) => Ok(claim),
                None => out_dir(&args.out, folder, false),
            };
            let written = claimed.map_err(anyhow::Error::from).and_then(|claim| {
                report::write_all(claim.staging(), &record)?;
                claim.commit()
            });
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
pub(crate) async fn once(
    scenario: &Scenario,
    stamp: &str,
    trial: Option<u32>,
    interrupt: Interrupt,
    quiet: bool,
) -> Result<RunRecord, Error> {
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
fn trials(
    scenario: &Scenario,
    n: u32,
    stamp: &str,
    claim: Claim,
    quiet: bool,
) -> Result<u8, Error> {
    let out = claim.staging().to_owned();
    let runtime = runtime()?;
    // One handler for every trial: a Ctrl-C between two trials stops the
    // next one at once.
    let interrupt = runtime.block_on(async { Interrupt::install() });
    let interrupt = interrupt.context("installing the Ctrl-C handler")?;
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    let mut failure = None;
    for trial in 1..=n {
        let folder = format!("trial-{trial:03}");
        let run = once(scenario, stamp, Some(trial), interrupt.clone(), true);
        let record = match runtime.block_on(run) {
            Ok(record) => record,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        if let Err(e) = report::write_all(&out.join(&folder), &record) {
            failure = Some(e.into());
            break;
        }
        if !quiet {
            let v = &record.verdict;
            eprintln!("[{trial}/{n}] {}: {}", v.banner(), v.headline);
        }
        rows.push(TrialRow::new(trial, &record, folder));
        verdicts.push(record.verdict);
        if record.interrupted {
            break;
        }
    }
    report::trials::write(&out, &rows)?;
    let out = claim.commit()?;
    let line = report::trials::headline(&rows, n);
    match quiet {
        true => println!("{line} {}", out.display()),
        false => println!("{line}\n  report: {}", out.display()),
    }
    // 1 if any trial failed, else 5, else 3, else 130, else 0.
    let code = Verdict::most_serious(verdicts.iter().map(RunVerdict::banner)).exit_code();
    match failure {
        // A trial that failed its audit outranks a later one that could
        // not run; the error is still said.
        Some(e) if code == 1 => {
            eprintln!("error: trial {} did not run: {e}", rows.len() + 1);
            Ok(1)
        }
        Some(e) => Err(e),
        None => Ok(code),
    }
}
