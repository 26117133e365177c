//! `seckill-bench sweep`: runs every point of a scenario's `[sweep]` table
//! against one Redis (embedded or the user's), each point with a fresh key
//! prefix and its own run folder, then writes the sweep's CSV and charts.

use std::path::Path;
use std::time::SystemTime;

use crate::audit::Verdict;
use crate::cli::RunArgs;
use crate::coordinator::{self, Target};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::report::{self, sweep::PointResult, SummaryRow};
use crate::run_id;
use crate::scenario::SweepPlan;

/// Runs the sweep and returns its exit code: 0; 1 when a point failed its
/// audit (unless `expect_oversell`); else 3 when a point that passed its
/// audit violated a threshold; else 130 when interrupted.
///
/// # Errors
/// [`Error`] for bad input (before anything runs) or the environment.
pub fn sweep_command(args: &RunArgs) -> Result<u8, Error> {
    let plan = SweepPlan::load(&args.scenario, &crate::overrides(args))?;
    let stamp = run_id::utc_stamp(SystemTime::now());
    let out = crate::out_dir(&args.out, format!("{}-sweep-{stamp}", plan.name));
    let (points, interrupted, error) =
        crate::runtime()?.block_on(run_points(&plan, &stamp, &out, args.quiet));
    report::sweep::write(&out, &plan.fields, &points)?;
    if let Some(error) = error {
        eprintln!(
            "sweep stopped after {} of {} points; partial results in {}",
            points.len(),
            plan.points.len(),
            out.display()
        );
        return Err(error);
    }
    let failing: Vec<&PointResult> = points
        .iter()
        .filter(|p| p.row.verdict != Verdict::Pass.as_str())
        .collect();
    print_summary(&plan, &points, &failing, &out, args.quiet);
    Ok(
        match (interrupted, failing.is_empty() || plan.expect_oversell) {
            (true, _) => 130,
            (false, true) => 0,
            (false, false) => 1,
        },
    )
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
        });
        if record.interrupted {
            return (results, true, None);
        }
    }
    (results, false, None)
}

fn progress_line(index: usize, total: usize, label: &str, row: &SummaryRow) -> String {
    format!(
        "[{}/{total}] {label}: {} sold {}/{} oversold {}, {:.0} purchases/s, p99 {} us",
        index + 1,
        row.verdict,
        row.sold,
        row.initial_stock,
        row.oversold,
        row.purchases_per_s,
        row.p99_us
    )
}

fn print_summary(
    plan: &SweepPlan,
    points: &[PointResult],
    failing: &[&PointResult],
    out: &Path,
    quiet: bool,
) {
    let verdict = match (failing.is_empty(), plan.expect_oversell) {
        (true, _) => "PASS".to_owned(),
        (false, true) => format!(
            "{} point(s) failed the audit, as expected (expect_oversell = true)",
            failing.len()
        ),
        (false, false) => format!("FAIL: {} point(s) failed the audit", failing.len()),
    };
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
            "  FAIL {}: oversold {}, final stock {}",
            p.label,
            p.row.oversold,
            p.row
                .final_stock
                .map_or("gone".to_owned(), |f| f.to_string())
        );
    }
    println!("  report: {}", out.display());
}
