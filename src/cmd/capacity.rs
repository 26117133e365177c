//! `seckill-bench capacity`: the highest arrival rate the setup sustains
//! under a service-level objective. Fixed-rate open-loop steps, each a
//! normal run with its own folder, fresh keys and verdict: an exponential
//! climb from `min_rate`, then bisection between the last rate sustained
//! and the first one missed, until the bracket is `precision` narrow.
//!
//! A rate is sustained when each of its trials reached 95% of it, dropped
//! nothing and passed its audit, and the trials together (their latencies
//! pooled) met the SLO on the `purchase` phase, timed from the intended
//! start. A step that fails its audit (an oversell, a lock that let two
//! clients write) stops the search: the capacity of an unsafe setup is not
//! a number to plan with.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context as _;

use crate::cli::CapacityArgs;
use crate::error::Error;
use crate::record::RunRecord;
use crate::report::capacity::StepRow;
use crate::report::{self, SummaryRow};
use crate::scenario::{CapacityPlan, Slo};
use crate::util::format::{grouped_f64 as grouped, micros as ms};
use crate::util::interrupt::Interrupt;
use crate::util::run_id;
use crate::verdict::Verdict;

/// One step of the search: its row of `capacity.csv`, and what the
/// search itself reads of it.
#[derive(Debug, Clone)]
pub struct Step {
    pub row: StepRow,
    /// Reached 95% of the rate, dropped nothing, passed its audit.
    kept_pace: bool,
    /// FAIL or RESET: the audit failed.
    unsafe_setup: bool,
    why: String,
    /// The SLO's first latency quantile, µs, for the headline.
    slo_latency_us: u64,
}

/// How the search ended.
enum Found {
    /// The highest sustained rate (the search may have ended at max_rate).
    Rate(f64),
    /// Even `min_rate` missed.
    None,
    /// A step failed its audit.
    Unsafe,
    /// A step could not judge its rate: why.
    Inconclusive(String),
    Interrupted,
}

/// # Errors
/// [`Error`] for bad input (before anything runs) or the environment.
pub fn capacity_command(args: &CapacityArgs) -> Result<u8, Error> {
    if args.run.repeat.is_some() {
        return Err(Error::Usage(
            "--repeat is for `run`; capacity runs each rate [capacity] trials times".to_owned(),
        ));
    }
    if let Some(rate) = args.at.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(Error::Usage(format!(
            "--at {rate}: the rate to judge must be a positive number of purchases/s"
        )));
    }
    let overrides = crate::cmd::run::overrides(&args.run);
    let plan = CapacityPlan::load(&args.run.scenario, &overrides, args.slo.as_deref())?;
    if let Some(rate) = args.at {
        plan.judgeable(rate)
            .map_err(|why| Error::Usage(format!("--at: {why}")))?;
    }
    let stamp = run_id::utc_stamp(SystemTime::now());
    let claim = crate::cmd::run::out_dir(
        &args.run.out,
        format!("{}-capacity-{stamp}", plan.name),
        args.run.force,
    )?;
    let out = claim.staging().to_owned();
    let runtime = crate::cmd::run::runtime()?;
    let interrupt = runtime.block_on(async { Interrupt::install() });
    let interrupt = interrupt.context("installing the Ctrl-C handler")?;
    let mut steps = Vec::new();
    let found = runtime.block_on(search(
        (&plan, args.at),
        &stamp,
        &out,
        interrupt,
        args.run.quiet,
        &mut steps,
    ));
    if steps.is_empty() {
        // Nothing ran (Redis unreachable, an interrupt before the first
        // load): the claim, dropped, leaves no folder behind.
        return Err(found.err().unwrap_or(Error::Interrupted));
    }
    // Whatever ran is reported, an error or an interrupt included.
    let headline = match args.at {
        Some(rate) => judged_at(&plan.slo, rate, &steps, found.as_ref().ok()),
        None => headline(&plan.slo, &steps, found.as_ref().ok()),
    };
    let ended = found.as_ref().ok();
    let page = report::capacity::CapacityPage {
        plan: &plan,
        headline: &headline,
        verdict: word(ended),
        knee: match ended {
            Some(Found::Rate(rate)) => Some(*rate),
            _ => None,
        },
    };
    let rows: Vec<&StepRow> = steps.iter().map(|s| &s.row).collect();
    report::capacity::write(&out, &rows, &page)?;
    let out = claim.commit()?;
    let found = found.inspect_err(|_| {
        eprintln!("the steps that ran are reported in {}", out.display());
    })?;
    match args.run.quiet {
        true => println!("{} {}", word(Some(&found)), out.display()),
        false => println!(
            "capacity {}: {headline}\n  report: {}",
            plan.name,
            out.display()
        ),
    }
    Ok(word(Some(&found)).exit_code())
}

/// Where a step's rows come from: the search, its check, or `--at`.
const SEARCH: &str = "search";
const CHECK_LOW: &str = "check 0.8x";
const CHECK_HIGH: &str = "check 1.25x";
const AT: &str = "at";

/// The search and its check, or with `at` the judgment of that one rate.
async fn search(
    (plan, at): (&CapacityPlan, Option<f64>),
    stamp: &str,
    out: &Path,
    interrupt: Interrupt,
    quiet: bool,
    steps: &mut Vec<Step>,
) -> Result<Found, Error> {
    let run = Runner {
        plan,
        stamp,
        out,
        interrupt,
        quiet,
    };
    let found = climb(&run, at, steps).await?;
    match found {
        Found::Rate(rate) if at.is_none() && plan.check => check(&run, rate, steps).await,
        found => Ok(found),
    }
}

/// What every step of one command shares.
struct Runner<'a> {
    plan: &'a CapacityPlan,
    stamp: &'a str,
    out: &'a Path,
    interrupt: Interrupt,
    quiet: bool,
}

/// The found rate looked at again, at 0.8x and 1.25x, judged as the search
/// judged every rate: 0.8x must meet the SLO and 1.25x should not. A miss
/// at 0.8x means the number does not reproduce: INCONCLUSIVE. A 1.25x
/// that meets it too leaves the rate a lower bound (the headline says so).
async fn check(run: &Runner<'_>, rate: f64, steps: &mut Vec<Step>) -> Result<Found, Error> {
    for (factor, role) in [(0.8, CHECK_LOW), (1.25, CHECK_HIGH)] {
        let at = (rate * factor).round().max(1.0);
        if factor > 1.0 && rate >= run.plan.max_rate {
            break; // the search stopped at its ceiling: nothing above it to try
        }
        let sustained = match outcome(judge_rate(run, (at, role), steps).await)? {
            Ok(sustained) => sustained,
            Err(found) => return Ok(found),
        };
        if factor < 1.0 && !sustained {
            return Ok(Found::Inconclusive(format!(
                "the search found {}/s, but on a second look 0.8x of it ({}/s) missed the SLO: this setup's latency under load does not reproduce (a lock that collapses now and then), so there is no rate to plan with; more trials or longer steps may settle it",
                grouped(rate),
                grouped(at)
            )));
        }
    }
    Ok(Found::Rate(rate))
}

/// A judged rate: sustained or not, or how the search ends.
fn outcome(judged: Result<Judged, Error>) -> Result<Result<bool, Found>, Error> {
    match judged {
        Ok(Judged::Sustained(sustained)) => Ok(Ok(sustained)),
        Ok(Judged::Stop(found)) => Ok(Err(found)),
        Err(Error::Interrupted) => Ok(Err(Found::Interrupted)),
        Err(e) => Err(e),
    }
}

/// The exponential climb and the bisection, or with `at` that one rate.
async fn climb(run: &Runner<'_>, at: Option<f64>, steps: &mut Vec<Step>) -> Result<Found, Error> {
    let plan = run.plan;
    let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = at.unwrap_or(plan.min_rate);
    let role = if at.is_some() { AT } else { SEARCH };
    loop {
        let sustained = match outcome(judge_rate(run, (rate, role), steps).await)? {
            Ok(sustained) => sustained,
            Err(found) => return Ok(found),
        };
        if at.is_some() {
            return Ok(if sustained {
                Found::Rate(rate)
            } else {
                Found::None
            });
        }
        match sustained {
            true => good = Some(rate),
            false => bad = Some(rate),
        }
        rate = match next_rate((plan.max_rate, plan.precision), rate, good, bad) {
            Ok(next) => next,
            Err(found) => return Ok(found),
        };
    }
}

/// The next rate to try, or how the search ended: doubling until a rate
/// is missed, then halving the bracket between the highest rate sustained
/// and the lowest missed until it is `precision` wide, or no whole rate is
/// left between them.
fn next_rate(
    (max_rate, precision): (f64, f64),
    rate: f64,
    good: Option<f64>,
    bad: Option<f64>,
) -> Result<f64, Found> {
    match (good, bad) {
        (None, Some(_)) | (None, None) => Err(Found::None),
        (Some(g), None) if g >= max_rate => Err(Found::Rate(g)),
        (_, None) => Ok((rate * 2.0).min(max_rate)),
        (Some(g), Some(b)) if (b - g) / g <= precision => Err(Found::Rate(g)),
        (Some(g), Some(b)) => {
            let mid = ((g + b) / 2.0).round();
            match mid > g && mid < b {
                true => Ok(mid),
                false => Err(Found::Rate(g)),
            }
        }
    }
}

enum Judged {
    Sustained(bool),
    Stop(Found),
}

/// Runs `rate` up to `plan.trials` times and judges it on every trial
/// together: the trials' purchase latencies pooled into one histogram and
/// their errors summed, as one step `trials` times as long would be (a
/// lock's tail comes in bursts: one 5 s trial's p99 is a noisy estimate).
/// A trial that fell short of the rate, dropped arrivals or failed its
/// audit misses the rate outright; so does a pool already too far over the
/// SLO for the trials left to bring it back. A failed audit or an
/// interrupt stops the search.
async fn judge_rate(
    run: &Runner<'_>,
    (rate, role): (f64, &'static str),
    steps: &mut Vec<Step>,
) -> Result<Judged, Error> {
    let Runner {
        plan,
        stamp,
        out,
        ref interrupt,
        quiet,
    } = *run;
    let first = steps.len();
    let mut pool = Pool::default();
    let mut verdict = None;
    for trial in 1..=plan.trials {
        let index = steps.len() as u32 + 1;
        let scenario = plan.step(rate)?;
        let record =
            crate::cmd::run::once(&scenario, stamp, Some(index), interrupt.clone(), true).await?;
        let folder = match plan.trials {
            1 => format!("step-{index:03}-{rate:.0}"),
            _ => format!("step-{index:03}-{rate:.0}-t{trial}"),
        };
        report::write_all(&out.join(&folder), &record)?;
        let mut step = step(&plan.slo, rate, &record, folder);
        step.row.role = role;
        pool.add(&record)?;
        if !quiet {
            eprintln!(
                "[step {index}] {rate:.0}/s: achieved {:.0}/s, p99 {:.1} ms, {}{}",
                step.row.achieved,
                step.row.p99_us as f64 / 1000.0,
                step.row.verdict,
                match step.row.slo_met && step.kept_pace {
                    true => "",
                    false => " (missed alone)",
                }
            );
        }
        let (unsafe_setup, kept_pace) = (step.unsafe_setup, step.kept_pace);
        steps.push(step);
        let stop = match untested(&record, rate) {
            _ if unsafe_setup => Some(Found::Unsafe),
            _ if record.interrupted => Some(Found::Interrupted),
            Some(why) => Some(Found::Inconclusive(why)),
            None => None,
        };
        if let Some(found) = stop {
            // The rate was never judged: none of its trials sustains it.
            return Ok(Judged::Stop(found));
        }
        let left = f64::from(plan.trials - trial) * rate * plan.step_duration.as_secs_f64();
        if !kept_pace || pool.hopeless(&plan.slo, left) {
            verdict = Some(false);
            break;
        }
    }
    let sustained = verdict.unwrap_or_else(|| pool.meets(&plan.slo));
    let latency_us = pool.latency_us(&plan.slo);
    for step in &mut steps[first..] {
        step.row.sustained = sustained;
        step.row.pooled_us = Some(latency_us);
    }
    if !quiet && plan.trials > 1 {
        let n = steps.len() - first;
        eprintln!(
            "  {rate:.0}/s over {n} trial(s): {} {} -> {}",
            slo_name(&plan.slo),
            ms(latency_us),
            if sustained { "sustained" } else { "missed" }
        );
    }
    Ok(Judged::Sustained(sustained))
}

/// A rate's trials together.
#[derive(Default)]
struct Pool {
    purchase: Option<hdrhistogram::Histogram<u64>>,
    attempts: u64,
    errors: u64,
}

impl Pool {
    fn add(&mut self, record: &RunRecord) -> anyhow::Result<()> {
        let h = &record.totals.histograms.purchase;
        match &mut self.purchase {
            Some(pool) => pool.add(h)?,
            None => self.purchase = Some(h.clone()),
        }
        self.attempts += record.totals.counters.attempts;
        self.errors += record.totals.counters.error_total();
        Ok(())
    }

    /// The SLO's first percentile over the pool, µs.
    fn latency_us(&self, slo: &Slo) -> u64 {
        let q = slo.latency.first().map_or(0.99, |(q, _, _)| *q);
        self.purchase.as_ref().map_or(0, |h| h.value_at_quantile(q))
    }

    fn meets(&self, slo: &Slo) -> bool {
        let Some(h) = self.purchase.as_ref().filter(|_| self.attempts > 0) else {
            return false;
        };
        let latency = slo
            .latency
            .iter()
            .all(|(q, _, limit)| h.value_at_quantile(*q) as u128 <= limit.as_micros());
        let errors = self.errors as f64 / self.attempts as f64;
        latency && slo.max_error_rate.is_none_or(|max| errors <= max)
    }

    /// Whether the pool is so far over a latency limit that `left` more
    /// purchases, every one fast, could not bring it under.
    fn hopeless(&self, slo: &Slo, left: f64) -> bool {
        let Some(h) = &self.purchase else {
            return false;
        };
        slo.latency.iter().any(|(q, _, limit)| {
            let limit = limit.as_micros() as u64;
            let over = match h.max() > limit {
                true => h.count_between(limit.saturating_add(1), h.max()),
                false => 0,
            };
            over as f64 > (1.0 - q) * (h.len() as f64 + left)
        })
    }
}

fn slo_name(slo: &Slo) -> String {
    slo.latency
        .first()
        .map_or("p99".to_owned(), |(_, name, _)| name.clone())
}

/// Why a step says nothing of its rate: INCONCLUSIVE, or the stock ran
/// out before the step ended (an open loop stops at a sell-out).
fn untested(record: &RunRecord, rate: f64) -> Option<String> {
    let at = format!("the step at {}/s", grouped(rate));
    if record.verdict.verdict == Verdict::Inconclusive {
        let why = record.verdict.inconclusive_reason();
        return Some(format!("{at} was INCONCLUSIVE ({why})"));
    }
    let c = &record.totals.counters;
    (c.rejected_sold_out > 0).then(|| {
        format!("{at} sold out before it ended: raise stock.initial above max_rate x step_duration")
    })
}

/// A step's figures and whether it sustained its rate under the SLO.
fn step(slo: &Slo, rate: f64, record: &RunRecord, folder: String) -> Step {
    let row = SummaryRow::new(record);
    let purchase = &record.totals.histograms.purchase;
    let latency_met = slo
        .latency
        .iter()
        .all(|(q, _, limit)| purchase.value_at_quantile(*q) as u128 <= limit.as_micros());
    let error_rate = match row.attempts {
        0 => 1.0,
        n => row.errors as f64 / n as f64,
    };
    let errors_met = slo.max_error_rate.is_none_or(|max| error_rate <= max);
    let slo_met = latency_met && errors_met && row.attempts > 0;
    let passed = record.verdict.verdict == Verdict::Pass;
    let kept_pace = passed && row.rate_reached == Some(true) && row.dropped == 0;
    Step {
        row: StepRow {
            rate,
            achieved: row.purchases_per_s,
            p50_us: row.p50_us,
            p99_us: row.p99_us,
            p999_us: row.p999_us,
            errors: row.errors,
            slo_met,
            verdict: record.verdict.verdict,
            folder,
            // Until the rate is judged on all its trials.
            sustained: false,
            pooled_us: None,
            role: SEARCH,
        },
        kept_pace,
        unsafe_setup: matches!(record.verdict.verdict, Verdict::Fail | Verdict::Reset),
        why: record.verdict.headline.clone(),
        slo_latency_us: slo
            .latency
            .first()
            .map_or(row.p99_us, |(q, _, _)| purchase.value_at_quantile(*q)),
    }
}

fn word(found: Option<&Found>) -> Verdict {
    match found {
        Some(Found::Rate(_)) => Verdict::Pass,
        Some(Found::Unsafe) => Verdict::Fail,
        Some(Found::Inconclusive(_)) => Verdict::Inconclusive,
        Some(Found::None) => Verdict::SloMissed,
        Some(Found::Interrupted) | None => Verdict::Interrupted,
    }
}

/// What the check of the found rate showed, for the headline.
fn checked(steps: &[Step]) -> String {
    let role = |r: &str| steps.iter().find(|s| s.row.role == r);
    match (role(CHECK_LOW), role(CHECK_HIGH)) {
        (Some(_), Some(high)) if high.row.sustained => format!(
            "; but {}/s (1.25x) met the SLO too on a second look: the knee is not sharp here, so read the rate as a lower bound",
            grouped(high.row.rate)
        ),
        (Some(low), Some(high)) => format!(
            "; checked: {}/s (0.8x) met the SLO, {}/s (1.25x) did not",
            grouped(low.row.rate),
            grouped(high.row.rate)
        ),
        (Some(low), None) => format!("; checked: {}/s (0.8x) met the SLO", grouped(low.row.rate)),
        _ => String::new(),
    }
}

/// `--at`: `sustained: 480 purchases/s (p99 4.1 ms <= 50 ms over 3 trials)`.
fn judged_at(slo: &Slo, rate: f64, steps: &[Step], found: Option<&Found>) -> String {
    let pooled = steps.first().and_then(|s| s.row.pooled_us).unwrap_or(0);
    let figures = format!(
        "{} {} against the SLO `{}`, over {} trial(s)",
        slo_name(slo),
        ms(pooled),
        slo.text,
        steps.len()
    );
    match found {
        Some(Found::Rate(_)) => format!("sustained: {} purchases/s ({figures})", grouped(rate)),
        Some(Found::None) => format!("not sustained: {} purchases/s ({figures})", grouped(rate)),
        _ => headline(slo, steps, found),
    }
}

/// `max sustainable: 3,900 purchases/s (p99 41 ms <= 50 ms); at 4,300/s p99 1.2 s`,
/// each figure over the rate's trials pooled.
fn headline(slo: &Slo, steps: &[Step], found: Option<&Found>) -> String {
    let (name, limit) = slo
        .latency
        .first()
        .map_or(("p99".to_owned(), None), |(_, n, l)| (n.clone(), Some(*l)));
    let limit = limit.map_or(String::new(), |l| {
        format!(" <= {}", ms(l.as_micros() as u64))
    });
    match found {
        Some(Found::Rate(rate)) => {
            // Over the rate's trials together.
            let pooled = steps
                .iter()
                .find(|s| s.row.rate == *rate)
                .and_then(|s| s.row.pooled_us);
            let good = pooled.map_or(String::new(), |us| format!(" ({name} {}{limit})", ms(us)));
            let above = steps
                .iter()
                .filter(|s| s.row.role == SEARCH && s.row.rate > *rate && !s.row.sustained)
                .min_by(|a, b| a.row.rate.total_cmp(&b.row.rate))
                .map_or(String::new(), |s| {
                    let us = s.row.pooled_us.unwrap_or(s.slo_latency_us);
                    format!("; at {}/s {name} {}", grouped(s.row.rate), ms(us))
                });
            // No missed rate above: the search stopped at max_rate.
            let ceiling = match above.is_empty() {
                true => " (the search's max_rate: it may sustain more)",
                false => "",
            };
            format!(
                "max sustainable: {} purchases/s{good}{above}{ceiling}{}",
                grouped(*rate),
                checked(steps)
            )
        }
        Some(Found::None) => format!(
            "not even the lowest rate, {}/s, meets the SLO `{}`",
            grouped(steps.first().map_or(0.0, |s| s.row.rate)),
            slo.text
        ),
        Some(Found::Unsafe) => {
            let last = steps.last();
            format!(
                "the step at {}/s failed its audit, and the capacity of an unsafe setup is not a number to plan with: {}",
                grouped(last.map_or(0.0, |s| s.row.rate)),
                last.map_or("", |s| s.why.as_str())
            )
        }
        Some(Found::Inconclusive(why)) => format!("no capacity: {why}"),
        Some(Found::Interrupted) | None => {
            let best = steps
                .iter()
                .filter(|s| s.row.sustained)
                .map(|s| s.row.rate)
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
            let so_far = best.map_or(String::new(), |r| {
                format!("; the highest rate sustained so far was {}/s", grouped(r))
            });
            format!(
                "stopped after {} step(s), before the search ended{so_far}",
                steps.len()
            )
        }
    }
}

/// A rate in whole purchases/s with thousands separators.
#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of `fast` purchases of 1 ms and `slow` of 2 s.
    fn pool(fast: u64, slow: u64) -> Pool {
        let mut h = crate::metrics::new_histogram();
        h.record_n(1_000, fast).unwrap();
        h.record_n(2_000_000, slow).unwrap();
        Pool {
            purchase: Some(h),
            attempts: fast + slow,
            errors: 0,
        }
    }

    fn judged(rate: f64, role: &'static str, sustained: bool) -> Step {
        Step {
            row: StepRow {
                rate,
                achieved: rate,
                p50_us: 0,
                p99_us: 0,
                p999_us: 0,
                errors: 0,
                slo_met: sustained,
                verdict: Verdict::Pass,
                folder: String::new(),
                sustained,
                pooled_us: Some(1_000),
                role,
            },
            kept_pace: true,
            unsafe_setup: false,
            why: String::new(),
            slo_latency_us: 1_000,
        }
    }

    #[test]
    fn the_check_of_the_found_rate_is_told_in_the_headline() {
        let search = judged(400.0, SEARCH, true);
        let low = judged(320.0, CHECK_LOW, true);
        let sharp = [
            search.clone(),
            low.clone(),
            judged(500.0, CHECK_HIGH, false),
        ];
        assert_eq!(
            checked(&sharp),
            "; checked: 320/s (0.8x) met the SLO, 500/s (1.25x) did not"
        );
        let blunt = [search.clone(), low, judged(500.0, CHECK_HIGH, true)];
        assert!(checked(&blunt).contains("500/s (1.25x) met the SLO too"));
        assert!(checked(&blunt).contains("lower bound"));
        assert_eq!(checked(&[search]), "", "no check, nothing said");
    }

    #[test]
    fn trials_are_judged_pooled_and_given_up_when_they_cannot_recover() {
        let slo = Slo::parse("p99<50ms").unwrap();
        // One trial with a burst of 15 slow purchases in 1,000 misses alone;
        // with two clean trials of 1,000 beside it, 0.5% are slow: met.
        assert!(!pool(985, 15).meets(&slo));
        assert!(pool(2985, 15).meets(&slo));
        assert_eq!(pool(2985, 15).latency_us(&slo), 1_000);
        // 15 slow with 2,000 purchases still to come could recover; with
        // 400 to come it cannot (1% of 1,400 is 14).
        assert!(!pool(985, 15).hopeless(&slo, 2000.0));
        assert!(pool(985, 15).hopeless(&slo, 400.0));
        // An error limit counts over the pool too.
        let errors = Slo::parse("p99<50ms,errors<1%").unwrap();
        let failing = Pool {
            errors: 40,
            ..pool(3000, 0)
        };
        assert!(!failing.meets(&errors) && pool(3000, 0).meets(&errors));
        assert!(
            !Pool::default().meets(&slo),
            "nothing measured meets nothing"
        );
    }

    /// Runs the search against a setup that sustains exactly `capacity`.
    fn search(capacity: f64, min: f64, max: f64, precision: f64) -> (Vec<f64>, Option<f64>) {
        let (mut good, mut bad, mut rate) = (None, None, min);
        let mut tried = Vec::new();
        loop {
            assert!(tried.len() < 64, "the search must end: {tried:?}");
            tried.push(rate);
            match rate <= capacity {
                true => good = Some(rate),
                false => bad = Some(rate),
            }
            match next_rate((max, precision), rate, good, bad) {
                Ok(next) => rate = next,
                Err(Found::Rate(r)) => return (tried, Some(r)),
                Err(_) => return (tried, None),
            }
        }
    }

    #[test]
    fn the_search_climbs_then_brackets_within_its_precision() {
        let (tried, found) = search(3_900.0, 100.0, 1e6, 0.05);
        assert_eq!(
            &tried[..7],
            [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0]
        );
        let found = found.unwrap();
        assert!(
            (3_900.0 / 1.05..=3_900.0).contains(&found),
            "{found} {tried:?}"
        );
    }

    #[test]
    fn the_search_ends_at_small_rates_at_max_rate_and_below_min_rate() {
        // One apart but wider than 5%: no whole rate left between them.
        let (tried, found) = search(15.0, 1.0, 1e6, 0.05);
        assert_eq!(found, Some(15.0), "{tried:?}");
        let (_, found) = search(1e9, 100.0, 1000.0, 0.05);
        assert_eq!(found, Some(1000.0));
        let (tried, found) = search(50.0, 100.0, 1000.0, 0.05);
        assert_eq!((tried, found), (vec![100.0], None));
        let (_, found) = search(0.4, 0.3, 10.0, 0.05);
        assert_eq!(found, Some(0.3), "a rate below 1 never bisects to 0");
    }
}
