//! `seckill-bench sweep`: runs every point of a scenario's `[sweep]` table
//! against one Redis (embedded or the user's), each point with a fresh key
//! prefix and its own run folder, then writes the sweep's CSV and charts.

use std::path::Path;
use std::time::SystemTime;

use crate::cli::RunArgs;
use crate::coordinator::{self, Target};
use crate::error::Error;
use crate::report::{self, sweep::PointResult, SummaryRow};
use crate::scenario::SweepPlan;
use crate::util::interrupt::Interrupt;
use crate::util::run_id;
use crate::verdict::Verdict;

/// Runs the sweep and returns its exit code: 0; 1 when a point failed its
/// audit (unless `expect_oversell`); else 5 when a point was INCONCLUSIVE;
/// else 3 when a point violated a threshold; else 130 when interrupted.
///
/// # Errors
/// [`Error`] for bad input (before anything runs) or the environment.
pub fn sweep_command(args: &RunArgs) -> Result<u8, Error> {
    if args.repeat.is_some() {
        return Err(Error::Usage(
            "--repeat is for `run`; a sweep runs each point once".to_owned(),
        ));
    }
    let plan = SweepPlan::load(&args.scenario, &crate::cmd::run::overrides(args))?;
    let stamp = run_id::utc_stamp(SystemTime::now());
    let claim = crate::cmd::run::out_dir(
        &args.out,
        format!("{}-sweep-{stamp}", plan.name),
        args.force,
    )?;
    let out = claim.staging().to_owned();
    let (points, interrupted, error) =
        crate::cmd::run::runtime()?.block_on(run_points(&plan, &stamp, &out, args.quiet));
    let (mut word, mut why) = sweep_verdict(plan.expect_oversell, &points);
    if interrupted || error.is_some() {
        // The page of a sweep that stopped early does not say PASS; a
        // point that failed still says so.
        if word.exit_code() == 0 {
            word = Verdict::Incomplete;
        }
        let ran = format!("{} of {} points ran", points.len(), plan.points.len());
        why = format!("{ran}, then the sweep stopped; {why}");
    }
    let page = report::sweep::SweepPage {
        name: &plan.name,
        planned: plan.points.len(),
        verdict: (word, &why),
    };
    report::sweep::write(&out, &plan.fields, &points, &page)?;
    let out = claim.commit()?;
    if let Some(error) = error {
        eprintln!(
            "sweep stopped after {} of {} points; partial results in {}",
            points.len(),
            plan.points.len(),
            out.display()
        );
        // A point that failed its audit outranks a later one that could
        // not run; the error is still said.
        if word.exit_code() == 1 {
            eprintln!("error: {error}");
            return Ok(1);
        }
        return Err(error);
    }
    let failing: Vec<&PointResult> = points
        .iter()
        .filter(|p| p.verdict.verdict != Verdict::Pass)
        .collect();
    print_summary(&plan, &points, &failing, &out, args.quiet);
    Ok(word.exit_code())
}

/// Runs points in order until the end, an interrupt, or an error; returns
/// what finished so the sweep's reports cover it either way.
async fn run_points(
    plan: &SweepPlan,
    stamp: &str,
    out: &Path,
    quiet: bool,
) -> (Vec<PointResult>, bool, Option<Error>) {
    let mut results = Vec::new();
    let setup = async {
        let interrupt = Interrupt::install().map_err(|e| Error::Environment(e.into()))?;
        let target = Target::open(&plan.points[0].scenario.redis, plan.lock_servers()).await?;
        Ok::<_, Error>((interrupt, target))
    };
    let (interrupt, mut target) = match setup.await {
        Ok(ready) => ready,
        Err(e) => return (results, false, Some(e)),
    };
    for (index, point) in plan.points.iter().enumerate() {
        let label = point.label(&plan.fields);
        let folder = point.folder(index, &plan.fields);
        let run_id = run_id::run_id(&format!("{}-p{:03}", plan.name, index + 1), stamp);
        let fresh =
            Target::single_use(&point.scenario.faults) || !target.serves(&point.scenario.redis);
        if index > 0 && fresh {
            target = match Target::open(&point.scenario.redis, plan.lock_servers()).await {
                Ok(fresh) => fresh,
                Err(e) => return (results, false, Some(e.into())),
            };
        }
        let record = match coordinator::run(
            &point.scenario,
            &run_id,
            &mut target,
            interrupt.clone(),
            quiet,
        )
        .await
        {
            Ok(record) => record,
            Err(e) => return (results, false, Some(e)),
        };
        if let Err(e) = report::write_all(&out.join(&folder), &record) {
            return (results, false, Some(e.into()));
        }
        let row = SummaryRow::new(&record);
        if !quiet {
            eprintln!("{}", progress_line(index, plan.points.len(), &label, &row));
        }
        results.push(PointResult {
            label,
            values: point.values.clone(),
            row,
            folder,
            verdict: record.verdict.clone(),
        });
        if record.interrupted {
            return (results, true, None);
        }
    }
    (results, false, None)
}

fn progress_line(index: usize, total: usize, label: &str, row: &SummaryRow) -> String {
    let mut lost = String::new();
    if let Some(n) = row.lost_sales.filter(|n| *n > 0) {
        lost.push_str(&format!(" lost sales {n}"));
    }
    if row.back_in_stock > 0 {
        lost.push_str(&format!(" back in stock {}", row.back_in_stock));
    }
    if row.unconfirmed > 0 {
        lost.push_str(&format!(" unconfirmed {}", row.unconfirmed));
    }
    if row.segments > 1 {
        lost.push_str(&format!(
            " stranded {} hops {}",
            row.stranded, row.segment_hops
        ));
    }
    format!(
        "[{}/{total}] {label}: {} sold {}/{} oversold {}{lost}, {:.0} purchases/s, p99 {} us",
        index + 1,
        row.verdict,
        row.sold,
        row.initial_stock,
        row.oversold,
        row.purchases_per_s,
        row.p99_us
    )
}

/// The sweep's word and the sentence that says why: the most serious of
/// its points, as for `run`, with `expect_oversell` taken into account (a
/// failed audit is then what the sweep set out to show).
pub fn sweep_verdict(expect_oversell: bool, points: &[PointResult]) -> (Verdict, String) {
    let count = |v: Verdict| points.iter().filter(|p| p.verdict.verdict == v).count();
    let (fails, resets) = (count(Verdict::Fail), count(Verdict::Reset));
    let failed = fails + resets;
    // FAIL before RESET, as for trials.
    let failed_word = if fails > 0 {
        Verdict::Fail
    } else {
        Verdict::Reset
    };
    let inconclusive = count(Verdict::Inconclusive);
    let thresholds = points
        .iter()
        .filter(|p| p.verdict.verdict == Verdict::Pass && !p.verdict.thresholds_passed)
        .count();
    let word = Verdict::ThresholdsFailed;
    let broke = format!("{word}: {thresholds} point(s) violated a threshold");
    match (failed, inconclusive, expect_oversell) {
        (0, 0, _) if thresholds > 0 => (word, broke),
        (0, 0, _) => (Verdict::Pass, Verdict::Pass.to_string()),
        (0, n, _) => (
            Verdict::Inconclusive,
            format!("{}: {n} point(s) could not judge", Verdict::Inconclusive),
        ),
        (n, 0, true) if thresholds > 0 => (
            word,
            format!("{broke}; {n} failed the audit, as expected (expect_oversell = true)"),
        ),
        (n, 0, true) => (
            Verdict::Pass,
            format!("{n} point(s) failed the audit, as expected (expect_oversell = true)"),
        ),
        (n, i, true) => (
            Verdict::Inconclusive,
            format!(
                "{}: {i} point(s) could not judge; {n} failed the audit, as expected",
                Verdict::Inconclusive
            ),
        ),
        (n, _, false) => (
            failed_word,
            format!("{failed_word}: {n} point(s) failed the audit"),
        ),
    }
}

fn print_summary(
    plan: &SweepPlan,
    points: &[PointResult],
    failing: &[&PointResult],
    out: &Path,
    quiet: bool,
) {
    let (_, verdict) = sweep_verdict(plan.expect_oversell, points);
    if quiet {
        println!("{verdict} {}", out.display());
        return;
    }
    println!(
        "sweep {}: {} of {} points run. {verdict}",
        plan.name,
        points.len(),
        plan.points.len()
    );
    for p in failing {
        println!(
            "  {} {}: {}",
            p.verdict.banner(),
            p.label,
            p.verdict.headline
        );
    }
    println!("  report: {}", out.display());
}
