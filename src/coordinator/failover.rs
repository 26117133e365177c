//! The `failover` fault's steps on the embedded Sentinel set. Each step is
//! short (a few commands on loopback) and schedules the next, so the
//! coordinator goes on reading its workers while the primary changes: a
//! crash failover needs the workers writing during the replicas' lag.
//!
//! - crash: cut (freeze the replicas, drop their links) -> `lag` later,
//!   kill (SIGKILL the primary, resume the replicas) -> promoted.
//! - graceful: pause writes and wait for the replicas, `SENTINEL FAILOVER`
//!   -> promoted -> drop the old primary's clients and lift the pause.

use std::time::{Duration, Instant};

use crate::sentinel_set::SentinelSet;

/// What a failover waits for next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Crash: the replicas' lag is over; kill the primary.
    Kill {
        primary: u16,
        stock_at_cut: Option<i64>,
    },
    /// Waiting for Sentinel to name a primary other than `old`.
    Promotion {
        old: u16,
        since: Instant,
        deadline: Instant,
        graceful: bool,
    },
}

/// How often the coordinator asks Sentinel who the primary is.
pub const POLL: Duration = Duration::from_millis(20);

/// A step's result: a line for the fault log, and what comes next.
pub enum Next {
    /// Applied so far; `Some` schedules a step.
    Went(String, Option<(Instant, Step)>),
    /// The failover is over, done: it took effect.
    Done(String),
    /// It did not take effect, with why.
    Failed(String),
}

/// Crash, first step: freeze the replicas and cut their links, noting the
/// stock so the acknowledged writes that pile up on the primary alone can
/// be counted at the kill.
pub async fn cut(set: &SentinelSet, stock_key: &str, lag: Duration) -> Next {
    let primary = match set.primary_port().await {
        Ok(port) => port,
        Err(e) => return Next::Failed(format!("no sentinel named the primary: {e:#}")),
    };
    let stock_at_cut = set.get(primary, stock_key).await.ok().flatten();
    match set.freeze_replicas(primary).await {
        Ok(0) => Next::Failed("the primary had no replica to fail over to".to_owned()),
        Ok(n) => Next::Went(
            format!(
                "froze {n} replica(s) (SIGSTOP) and cut their links on the primary 127.0.0.1:{primary}; stock {}",
                shown(stock_at_cut)
            ),
            Some((Instant::now() + lag, Step::Kill { primary, stock_at_cut })),
        ),
        Err(e) => {
            set.resume_replicas();
            Next::Failed(format!("could not cut the replicas' links: {e:#}"))
        }
    }
}

/// Crash, second step: SIGKILL the primary and let the replicas go.
pub async fn kill(
    set: &mut SentinelSet,
    stock_key: &str,
    (primary, stock_at_cut): (u16, Option<i64>),
    deadline: Duration,
) -> Next {
    let stock_now = set.get(primary, stock_key).await.ok().flatten();
    if let Err(e) = set.crash(primary) {
        set.resume_replicas();
        return Next::Failed(format!("could not kill the primary: {e:#}"));
    }
    set.resume_replicas();
    let piled = match (stock_at_cut, stock_now) {
        (Some(cut), Some(now)) => format!("{} unit(s)", cut - now),
        _ => "an unknown number of units".to_owned(),
    };
    let now = Instant::now();
    Next::Went(
        format!(
            "primary 127.0.0.1:{primary} killed (SIGKILL) with {piled} of acknowledged writes its replicas never got (stock {} at the cut, {} at the kill); replicas resumed",
            shown(stock_at_cut),
            shown(stock_now)
        ),
        Some((
            now + POLL,
            Step::Promotion {
                old: primary,
                since: now,
                deadline: now + deadline,
                graceful: false,
            },
        )),
    )
}

/// Graceful, first step: what a careful switchover does before Sentinel
/// is asked, so that nothing acknowledged is missing on the replicas.
pub async fn switchover(set: &SentinelSet, timeout: Duration) -> Next {
    let primary = match set.primary_port().await {
        Ok(port) => port,
        Err(e) => return Next::Failed(format!("no sentinel named the primary: {e:#}")),
    };
    if let Err(e) = set.pause_and_sync(primary, timeout).await {
        let _ = set.drop_clients_and_unpause(primary).await;
        return Next::Failed(format!("{e:#}"));
    }
    if let Err(e) = set.sentinel_failover().await {
        let _ = set.drop_clients_and_unpause(primary).await;
        return Next::Failed(format!("SENTINEL FAILOVER was refused: {e:#}"));
    }
    let now = Instant::now();
    Next::Went(
        format!("paused writes on the primary 127.0.0.1:{primary}, replicas caught up, SENTINEL FAILOVER sent"),
        Some((
            now + POLL,
            Step::Promotion {
                old: primary,
                since: now,
                deadline: now + timeout,
                graceful: true,
            },
        )),
    )
}

/// Last step: do all sentinels name a new primary?
pub async fn promotion(set: &SentinelSet, step: Step) -> Next {
    let Step::Promotion {
        old,
        since,
        deadline,
        graceful,
    } = step
    else {
        unreachable!("promotion() takes a Promotion step");
    };
    let named = set.agreed_primary().await;
    match named {
        Some(new) if new != old => {
            let took = since.elapsed().as_secs_f64();
            let mut what =
                format!("every sentinel names 127.0.0.1:{new} as primary {took:.2} s later");
            if graceful {
                match set.drop_clients_and_unpause(old).await {
                    Ok(n) => what.push_str(&format!("; dropped the old primary's {n} client connection(s) and lifted its write pause")),
                    Err(e) => what.push_str(&format!("; could not drop the old primary's clients: {e:#}")),
                }
            }
            Next::Done(what)
        }
        _ if Instant::now() >= deadline => {
            if graceful {
                let _ = set.drop_clients_and_unpause(old).await;
            }
            Next::Failed(format!(
                "Sentinel named no new primary within {:.1} s",
                (deadline - since).as_secs_f64()
            ))
        }
        _ => Next::Went(String::new(), Some((Instant::now() + POLL, step))),
    }
}

fn shown(stock: Option<i64>) -> String {
    stock.map_or("unknown".to_owned(), |s| s.to_string())
}
