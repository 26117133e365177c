//! Lock-parameter advice: what a lock run's own numbers say of its
//! `lock_ttl_ms`, `wait_timeout_ms` and `retry_interval_ms`.
//!
//! Each piece of advice cites the measured figure it rests on, and none is
//! given without one: a setting whose phase recorded nothing (no purchase
//! took the lock, no fault paused a worker) gets no advice. The figures
//! are taken from the record once ([`Measured::of`]); the rules are pure
//! functions of them and the settings, tested with plain numbers.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::record::RunRecord;
use crate::scenario::{Backoff, FaultAction, FaultTarget, LockParams, OnWaitTimeout, StrategyKind};
use crate::util::format::{grouped, micros};

/// One row of `advice.csv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Advice {
    /// `lock_ttl_ms`, `wait_timeout_ms` or `retry_interval_ms`.
    pub setting: &'static str,
    /// The setting's value in the run, in its own unit (ms).
    pub value: String,
    /// The measured figures the advice rests on.
    pub measured: String,
    /// What those figures imply, in words.
    pub advice: String,
    /// Whether the figures show the setting hurting this run (or close to).
    #[serde(skip)]
    pub warn: bool,
}

/// A phase's spread, µs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Values above the lock's TTL.
    pub over_ttl: u64,
}

impl Spread {
    fn of(h: &Histogram<u64>, ttl: Duration) -> Option<Spread> {
        let ttl_us = ttl.as_micros() as u64;
        (!h.is_empty()).then(|| Spread {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            // Whole buckets only: a bucket holding the TTL is not over it.
            over_ttl: match h.lowest_equivalent(h.max()) > ttl_us {
                true => h.count_between(h.highest_equivalent(ttl_us).saturating_add(1), h.max()),
                false => 0,
            },
        })
    }
}

/// The run's figures the advice can rest on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    pub strategy: Option<StrategyKind>,
    pub critical_section: Option<Spread>,
    pub lock_wait: Option<Spread>,
    pub attempts: u64,
    pub lock_failures: u64,
    pub wait_timeouts: u64,
    pub gave_up: u64,
    pub fenced_out: u64,
    /// Overlapping holds whose writes both applied (the checker ran).
    pub unsafe_overlaps: Option<u64>,
    /// The longest pause a fault caused (SIGSTOP to SIGCONT, or to the
    /// run's end when it was still paused then), and whether it targeted
    /// the lock holder.
    pub longest_pause: Option<(Duration, bool)>,
}

impl Measured {
    pub fn of(record: &RunRecord) -> Measured {
        let ttl = record.scenario.strategy.lock.ttl;
        let h = &record.totals.histograms;
        let c = &record.totals.counters;
        Measured {
            strategy: Some(record.scenario.strategy.kind),
            critical_section: Spread::of(&h.critical_section, ttl),
            lock_wait: Spread::of(&h.lock_wait, ttl),
            attempts: c.attempts,
            lock_failures: c.lock_failures,
            wait_timeouts: c.wait_timeouts,
            gave_up: c.gave_up,
            fenced_out: c.fenced_out,
            unsafe_overlaps: record.lock_safety.as_ref().map(|s| s.unsafe_overlaps),
            longest_pause: longest_pause(record),
        }
    }
}

/// From each pause fault's SIGSTOP line to its SIGCONT line in the fault
/// log; a pause still in force when the run ended, to the run's end.
fn longest_pause(record: &RunRecord) -> Option<(Duration, bool)> {
    let mut longest: Option<(Duration, bool)> = None;
    for (i, fault) in record.scenario.faults.iter().enumerate() {
        let FaultAction::Pause { target, .. } = fault.action else {
            continue;
        };
        let line = |what: &str, after: Duration| {
            record
                .faults
                .iter()
                .find(|e| {
                    e.declared == i + 1 && e.applied && e.at >= after && e.what.contains(what)
                })
                .map(|e| e.at)
        };
        let Some(stopped) = line("(SIGSTOP)", Duration::ZERO) else {
            continue;
        };
        let resumed = line("(SIGCONT)", stopped).unwrap_or(record.duration.max(stopped));
        let paused = (resumed - stopped, target == FaultTarget::LockHolder);
        longest = Some(longest.map_or(paused, |l| l.max(paused)));
    }
    longest
}

/// The advice for a lock strategy's run; none for other strategies.
pub fn advise(record: &RunRecord) -> Vec<Advice> {
    match record.scenario.strategy.kind.takes_lock() {
        true => advise_on(&record.scenario.strategy.lock, &Measured::of(record)),
        false => Vec::new(),
    }
}

pub fn advise_on(lock: &LockParams, m: &Measured) -> Vec<Advice> {
    [
        ttl_against_critical_section(lock, m),
        ttl_against_pause(lock, m),
        wait_timeout(lock, m),
        retry_interval(lock, m),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One row: the setting, its value in the run, and what was made of it.
fn row(
    setting: &'static str,
    set: Duration,
    measured: String,
    (warn, advice): (bool, String),
) -> Advice {
    Advice {
        setting,
        value: value(set),
        measured,
        advice,
        warn,
    }
}

fn ms(d: Duration) -> String {
    micros(d.as_micros() as u64)
}

/// The setting in `advice.csv`'s `value` column: whole milliseconds, or
/// their fraction when below one.
fn value(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    match ms.fract() == 0.0 {
        true => format!("{ms:.0}"),
        false => format!("{ms}"),
    }
}

/// What made writes after an expiry safe or not, when the run shows it.
fn consequence(m: &Measured) -> String {
    match (m.strategy, m.unsafe_overlaps) {
        (Some(StrategyKind::Fenced), _) if m.fenced_out > 0 => {
            format!("; fencing refused {} late write(s)", grouped(m.fenced_out))
        }
        (_, Some(n)) if n > 0 => format!(
            "; the checker saw two holders both write the stock {} time(s)",
            grouped(n)
        ),
        _ => String::new(),
    }
}

fn ttl_against_critical_section(lock: &LockParams, m: &Measured) -> Option<Advice> {
    let cs = m.critical_section?;
    let ttl = lock.ttl.as_micros() as u64;
    let measured = format!(
        "critical_section p99.9 {}, max {}; {} of {} over the TTL",
        micros(cs.p999),
        micros(cs.max),
        grouped(cs.over_ttl),
        grouped(cs.count)
    );
    let remedy = match m.strategy {
        Some(StrategyKind::Fenced) => "Fencing turns each expiry into a refused write, a sale to retry, not an oversell; a TTL above the max means fewer of them.",
        _ => "Raise lock_ttl_ms well above the max, or take a fenced lock or an atomic script: no TTL covers every stall.",
    };
    let (warn, advice) = if cs.over_ttl > 0 {
        (true, format!(
            "TTL {} is below the critical section's max of {}: the lock expired under a holder {} time(s){}. {remedy}",
            ms(lock.ttl), micros(cs.max), grouped(cs.over_ttl), consequence(m)
        ))
    } else if cs.max.saturating_mul(2) > ttl {
        (true, format!(
            "TTL {} is less than twice the critical section's max of {}: a holder a little slower than this run's slowest (a GC pause, a busy machine) will outlive its lock.",
            ms(lock.ttl), micros(cs.max)
        ))
    } else {
        (false, format!(
            "TTL {} is {}x the critical section's max of {}: no holder outlived its lock in this run. A stall longer than the TTL still would; only fencing or an atomic script is safe against that.",
            ms(lock.ttl), ratio(ttl, cs.max), micros(cs.max)
        ))
    };
    Some(row("lock_ttl_ms", lock.ttl, measured, (warn, advice)))
}

fn ttl_against_pause(lock: &LockParams, m: &Measured) -> Option<Advice> {
    let (pause, holder) = m.longest_pause?;
    let whom = match holder {
        true => "a lock holder",
        false => "a worker",
    };
    let measured = format!("longest fault pause {}", ms(pause));
    let (warn, advice) = match pause > lock.ttl {
        true => (true, format!(
            "A fault paused {whom} for {}, longer than the {} TTL: a holder frozen that long loses its lock while it still means to write{}. {}",
            ms(pause), ms(lock.ttl), consequence(m),
            match m.strategy {
                Some(StrategyKind::Fenced) => "Fencing is what makes that safe; a longer TTL would only make it rarer.",
                _ => "A longer TTL only moves the line; a fenced write or an atomic script removes it.",
            }
        )),
        false => (false, format!(
            "The longest pause a fault caused, {}, stayed within the {} TTL: the lock outlived it. A pause longer than the TTL would not be covered.",
            ms(pause), ms(lock.ttl)
        )),
    };
    Some(row("lock_ttl_ms", lock.ttl, measured, (warn, advice)))
}

fn wait_timeout(lock: &LockParams, m: &Measured) -> Option<Advice> {
    if m.lock_wait.is_none() && m.wait_timeouts > 0 {
        // Every wait timed out: the count is all there is to cite.
        let measured = format!(
            "{} wait(s) timed out, none got the lock",
            grouped(m.wait_timeouts)
        );
        let advice = format!(
            "Every lock wait reached the {} timeout: no purchase got the lock in time. Something held it throughout (a dead or frozen holder until the TTL), or the timeout is shorter than one turn of the queue.",
            ms(lock.wait_timeout)
        );
        return Some(row(
            "wait_timeout_ms",
            lock.wait_timeout,
            measured,
            (true, advice),
        ));
    }
    let wait = m.lock_wait?;
    let timeout = lock.wait_timeout.as_micros() as u64;
    let share = 100.0 * m.wait_timeouts as f64 / m.attempts.max(1) as f64;
    let measured = format!(
        "lock_wait p99 {}, p99.9 {}, max {}; {} wait(s) timed out",
        micros(wait.p99),
        micros(wait.p999),
        micros(wait.max),
        grouped(m.wait_timeouts)
    );
    let (warn, advice) = match (m.wait_timeouts, lock.on_wait_timeout) {
        (0, _) if wait.max.saturating_mul(2) > timeout => (true, format!(
            "No lock wait reached the {} timeout, but the longest, {}, came within 2x of it: a little more load and waits will time out.",
            ms(lock.wait_timeout), micros(wait.max)
        )),
        (0, _) => (false, format!(
            "No lock wait reached the {} timeout: the longest was {} (p99.9 {}), {}x below it.",
            ms(lock.wait_timeout), micros(wait.max), micros(wait.p999), ratio(timeout, wait.max)
        )),
        (n, OnWaitTimeout::GiveUp) => (true, format!(
            "{} lock wait(s) reached the {} timeout ({share:.2}% of purchases) and {} purchase(s) gave up. How long those buyers would have needed was not measured: their waits were cut at the timeout. Raise wait_timeout_ms to serve them, or keep it to shed load on purpose.",
            grouped(n), ms(lock.wait_timeout), grouped(m.gave_up)
        )),
        (n, OnWaitTimeout::Retry) => {
            let raise = match wait.p999 > timeout {
                true => format!(", or raise wait_timeout_ms above the lock-wait p99.9 ({})", micros(wait.p999)),
                false => String::new(),
            };
            (true, format!(
                "{} lock wait(s) reached the {} timeout ({share:.2}% of purchases) and, as in the article, simply waited again: the timeout bounded nothing, and the longest wait was {}. Set on_wait_timeout = \"give_up\" for a real bound{raise}.",
                grouped(n), ms(lock.wait_timeout), micros(wait.max)
            ))
        }
    };
    Some(row(
        "wait_timeout_ms",
        lock.wait_timeout,
        measured,
        (warn, advice),
    ))
}

fn retry_interval(lock: &LockParams, m: &Measured) -> Option<Advice> {
    let (cs, wait) = (m.critical_section?, m.lock_wait?);
    let retry = lock.retry_interval.as_secs_f64() * 1e6;
    let hold = cs.mean;
    let per_purchase = m.lock_failures as f64 / m.attempts.max(1) as f64;
    let backoff = match lock.backoff {
        Backoff::Fixed => "",
        Backoff::Exponential { .. } => " (the first of an exponential backoff)",
    };
    let measured = format!(
        "critical_section mean {}; lock_wait p50 {}, p99 {}; {:.1} failed SET NX per purchase",
        micros(hold.round() as u64),
        micros(wait.p50),
        micros(wait.p99),
        per_purchase
    );
    let interval = format!("The retry interval{backoff}, {}", ms(lock.retry_interval));
    let (warn, advice) = if m.lock_failures == 0 {
        (false, format!(
            "No purchase found the lock taken (0 failed SET NX): the retry interval{backoff} of {} never came into play in this run.",
            ms(lock.retry_interval)
        ))
    } else if retry > 4.0 * hold {
        (true, format!(
            "{interval}, is {}x the lock's mean hold of {}: after each release the lock sits free until some waiter's next try, and whoever tries first wins, not whoever came first. That is the lock-wait spread, p50 {} against p99 {}. An interval nearer the hold time, with jitter, narrows it; an atomic script has no queue at all.",
            ratio(retry.round() as u64, hold.round() as u64), micros(hold.round() as u64), micros(wait.p50), micros(wait.p99)
        ))
    } else if retry * 4.0 < hold && per_purchase < 1.0 {
        (false, format!(
            "{interval}, is under a quarter of the lock's mean hold of {}, yet waiters tried only {per_purchase:.1} times per purchase in vain: little load for nothing.",
            micros(hold.round() as u64)
        ))
    } else if retry * 4.0 < hold {
        (true, format!(
            "{interval}, is under a quarter of the lock's mean hold of {}: waiters try {per_purchase:.1} times per purchase in vain, load Redis serves for nothing. An interval near the hold time loses little wait.",
            micros(hold.round() as u64)
        ))
    } else {
        (false, format!(
            "{interval}, is close to the lock's mean hold of {}: waiters find the lock soon after it frees, trying {per_purchase:.1} times per purchase in vain.",
            micros(hold.round() as u64)
        ))
    };
    Some(row(
        "retry_interval_ms",
        lock.retry_interval,
        measured,
        (warn, advice),
    ))
}

/// `a / b` in words: "12", "1.5", or "many" when `b` is 0.
fn ratio(a: u64, b: u64) -> String {
    match b {
        0 => "many".to_owned(),
        b => match a as f64 / b as f64 {
            r if r >= 10.0 => grouped(r.round() as i64),
            r => format!("{r:.1}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(ttl_ms: u64, wait_ms: u64, retry_ms: u64) -> LockParams {
        LockParams {
            ttl: Duration::from_millis(ttl_ms),
            wait_timeout: Duration::from_millis(wait_ms),
            retry_interval: Duration::from_millis(retry_ms),
            backoff: Backoff::Fixed,
            jitter: 0.0,
            on_wait_timeout: OnWaitTimeout::Retry,
        }
    }

    fn spread(mean_us: f64, max_us: u64, over_ttl: u64) -> Spread {
        Spread {
            count: 5000,
            mean: mean_us,
            p50: mean_us as u64,
            p99: max_us / 2,
            p999: max_us * 9 / 10,
            max: max_us,
            over_ttl,
        }
    }

    fn measured() -> Measured {
        Measured {
            strategy: Some(StrategyKind::Article),
            critical_section: Some(spread(400.0, 900, 0)),
            lock_wait: Some(spread(2_000.0, 40_000, 0)),
            attempts: 5000,
            lock_failures: 20_000,
            ..Measured::default()
        }
    }

    fn about<'a>(advice: &'a [Advice], setting: &str, measured: &str) -> &'a Advice {
        advice
            .iter()
            .find(|a| a.setting == setting && a.measured.contains(measured))
            .unwrap_or_else(|| panic!("no {setting} advice citing {measured}: {advice:#?}"))
    }

    #[test]
    fn a_ttl_below_the_critical_sections_max_says_how_often_the_lock_expired() {
        let m = Measured {
            critical_section: Some(spread(30_000.0, 81_000, 312)),
            unsafe_overlaps: Some(7),
            ..measured()
        };
        let advice = advise_on(&lock(50, 10_000, 10), &m);
        let ttl = about(&advice, "lock_ttl_ms", "critical_section");
        assert!(ttl.warn);
        assert_eq!(ttl.value, "50");
        assert!(
            ttl.advice.starts_with(
                "TTL 50 ms is below the critical section's max of 81 ms: the lock expired under a holder 312 time(s); the checker saw two holders both write the stock 7 time(s)."
            ),
            "{}",
            ttl.advice
        );
        assert!(ttl.measured.contains("max 81 ms"), "{}", ttl.measured);
    }

    #[test]
    fn a_ttl_with_room_is_not_a_warning_but_still_cites_the_max() {
        let advice = advise_on(&lock(5000, 10_000, 1), &measured());
        let ttl = about(&advice, "lock_ttl_ms", "critical_section");
        assert!(!ttl.warn, "{}", ttl.advice);
        assert!(ttl
            .advice
            .contains("5,556x the critical section's max of 0.9 ms"));
        // Within twice the max: a warning, before any expiry.
        let close = advise_on(&lock(1, 10_000, 1), &measured());
        assert!(about(&close, "lock_ttl_ms", "critical_section").warn);
    }

    #[test]
    fn a_pause_past_the_ttl_is_named_and_fencing_credited() {
        let m = Measured {
            strategy: Some(StrategyKind::Fenced),
            fenced_out: 3,
            longest_pause: Some((Duration::from_secs(4), true)),
            ..measured()
        };
        let advice = advise_on(&lock(50, 10_000, 1), &m);
        let pause = about(&advice, "lock_ttl_ms", "fault pause");
        assert!(pause.warn);
        assert!(pause
            .advice
            .contains("paused a lock holder for 4.0 s, longer than the 50 ms TTL"));
        assert!(pause.advice.contains("fencing refused 3 late write(s)"));
        let short = Measured {
            longest_pause: Some((Duration::from_millis(20), false)),
            ..measured()
        };
        let advice = advise_on(&lock(50, 10_000, 1), &short);
        assert!(!about(&advice, "lock_ttl_ms", "fault pause").warn);
    }

    #[test]
    fn no_advice_without_a_measured_figure() {
        // No purchase took the lock and no fault paused anyone.
        let advice = advise_on(&lock(50, 10_000, 10), &Measured::default());
        assert!(advice.is_empty(), "{advice:#?}");
        assert!(!advise_on(&lock(50, 10_000, 10), &measured())
            .iter()
            .any(|a| a.measured.contains("fault pause")));
    }

    #[test]
    fn wait_timeouts_are_counted_and_what_they_did_said() {
        let m = Measured {
            wait_timeouts: 31,
            gave_up: 31,
            ..measured()
        };
        let mut give_up = lock(5000, 20, 1);
        give_up.on_wait_timeout = OnWaitTimeout::GiveUp;
        let advice = advise_on(&give_up, &m);
        let wait = about(&advice, "wait_timeout_ms", "31 wait(s) timed out");
        assert!(wait.warn && wait.advice.contains("31 purchase(s) gave up"));
        // How long those buyers needed was cut at the timeout: no target.
        assert!(wait.advice.contains("was not measured") && !wait.advice.contains("p99.9 ("));
        let advice = advise_on(&lock(5000, 20, 1), &m);
        let wait = about(&advice, "wait_timeout_ms", "lock_wait");
        assert!(wait.advice.contains("the timeout bounded nothing"));
        // Far below the timeout: fine; within 2x of it: a warning.
        let far = advise_on(&lock(5000, 10_000, 1), &measured());
        assert!(!about(&far, "wait_timeout_ms", "lock_wait").warn);
        let near = advise_on(&lock(5000, 60, 1), &measured());
        assert!(about(&near, "wait_timeout_ms", "lock_wait").warn);
    }

    #[test]
    fn what_was_not_measured_is_not_claimed() {
        // No contention: the retry interval never came into play.
        let calm = Measured {
            lock_failures: 0,
            ..measured()
        };
        let advice = advise_on(&lock(5000, 10_000, 10), &calm);
        let retry = about(&advice, "retry_interval_ms", "0.0 failed SET NX");
        assert!(!retry.warn && retry.advice.contains("never came into play"));
        // Every wait timed out: the count alone is cited.
        let none = Measured {
            lock_wait: None,
            wait_timeouts: 12,
            ..measured()
        };
        let advice = advise_on(&lock(5000, 20, 1), &none);
        assert!(about(&advice, "wait_timeout_ms", "12 wait(s) timed out").warn);
    }

    #[test]
    fn a_retry_interval_far_above_the_hold_time_is_called_unfair() {
        let advice = advise_on(&lock(5000, 10_000, 10), &measured());
        let retry = about(&advice, "retry_interval_ms", "critical_section mean 0.4 ms");
        assert!(retry.warn);
        assert!(
            retry
                .advice
                .contains("10 ms, is 25x the lock's mean hold of 0.4 ms"),
            "{}",
            retry.advice
        );
        assert!(retry.advice.contains("p50 2.0 ms against p99 20 ms"));
        let near = advise_on(
            &lock(5000, 10_000, 0),
            &Measured {
                critical_section: Some(spread(800.0, 900, 0)),
                ..measured()
            },
        );
        let busy = about(&near, "retry_interval_ms", "4.0 failed SET NX per purchase");
        assert!(
            busy.warn && busy.advice.contains("in vain"),
            "{}",
            busy.advice
        );
    }
}
