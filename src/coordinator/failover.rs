//! The `failover` fault's steps on the embedded Sentinel set. Each step is
//! short (a few commands on loopback) and schedules the next, so the
//! coordinator goes on reading its workers while the primary changes: a
//! crash failover needs the workers writing during the replicas' lag.
//!
//! - crash: cut (freeze the replicas, drop their links) -> `lag` later,
//!   kill (SIGKILL the primary, resume the replicas) -> promoted.
//! - graceful: pause writes and wait for the replicas, `SENTINEL FAILOVER`
//!   -> promoted -> drop the old primary's clients and lift the pause.
//! - partition: cut the primary off from replicas and sentinels (clients
//!   still reach it) -> promoted -> heal -> the old primary demoted.

use std::time::{Duration, Instant};

use crate::keys::Segments;
use crate::scenario::FailoverMode;
use crate::topology::cluster_set::ClusterSet;
use crate::topology::sentinel_set::SentinelSet;

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
        then: Then,
    },
    /// Partition, healed: waiting for Sentinel to demote `old`.
    Demotion {
        old: u16,
        since: Instant,
        deadline: Instant,
    },
    /// Cluster crash: the replica's lag is over; kill `master`, take over.
    ClusterKill {
        master: u16,
        replica: u16,
        /// The segment whose stock is counted.
        segment: usize,
        stock_at_cut: Option<i64>,
    },
    /// Cluster: waiting for `replica` to be a master of an ok cluster.
    ClusterPromotion {
        replica: u16,
        since: Instant,
        deadline: Instant,
    },
}

/// How long a cluster replica may take to become master after `CLUSTER
/// FAILOVER`: a few node timeouts.
const CLUSTER_PROMOTION_WITHIN: Duration = Duration::from_secs(10);

/// What follows the promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Crash: nothing, the old primary is dead.
    Nothing,
    /// Graceful: drop the old primary's clients and lift its pause.
    DropClients,
    /// Partition: heal, then wait for the old primary's demotion.
    Heal,
}

/// How long a healed primary may take to be demoted: Sentinel reconfigures
/// a node that still claims to be a primary 8 s (4 publish periods, Redis
/// 7) after it first saw it claim so, on its next `INFO`, which it sends a
/// replica every 10 s. The first `INFO` after the heal comes 0 to 10 s
/// after it, the demotion on the one after: 10 to 20 s after the heal
/// (about 10 s measured most times). A sentinel whose link to the old
/// primary broke during the partition may wait out its reconnect period
/// first: a CI run once saw more than 20 s, another more than 26.8 s.
const DEMOTION_WITHIN: Duration = Duration::from_secs(40);

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
pub async fn cut(set: &SentinelSet, segments: &Segments, lag: Duration) -> Next {
    let primary = match set.primary_port().await {
        Ok(port) => port,
        Err(e) => return Next::Failed(format!("no sentinel named the primary: {e:#}")),
    };
    let stock_at_cut = stock_on(set, primary, segments).await;
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
    segments: &Segments,
    (primary, stock_at_cut): (u16, Option<i64>),
    deadline: Duration,
) -> Next {
    let stock_now = stock_on(set, primary, segments).await;
    if let Err(e) = set.crash(primary) {
        set.resume_replicas();
        return Next::Failed(format!("could not kill the primary: {e:#}"));
    }
    set.resume_replicas();
    let piled = match (stock_at_cut, stock_now) {
        (Some(cut), Some(now)) => format!("{} unit(s)", cut - now),
        _ => "an unknown number of units".to_owned(),
    };
    Next::Went(
        format!(
            "primary 127.0.0.1:{primary} killed (SIGKILL) with {piled} of acknowledged writes its replicas never got (stock {} at the cut, {} at the kill); replicas resumed",
            shown(stock_at_cut),
            shown(stock_now)
        ),
        Some(awaiting_promotion(primary, deadline, Then::Nothing)),
    )
}

/// Graceful, first step: what a careful switchover does before Sentinel
/// is asked, so that nothing acknowledged is missing on the replicas.
pub async fn switchover(set: &SentinelSet, timeout: Duration) -> Next {
    let primary = match set.primary_port().await {
        Ok(port) => port,
        Err(e) => return Next::Failed(format!("no sentinel named the primary: {e:#}")),
    };
    // The pause outlasts the promotion's deadline; the last step lifts it.
    if let Err(e) = set.pause_and_sync(primary, timeout * 2 + POLL * 10).await {
        let _ = set.drop_clients_and_unpause(primary).await;
        return Next::Failed(format!("{e:#}"));
    }
    if let Err(e) = set.sentinel_failover().await {
        let _ = set.drop_clients_and_unpause(primary).await;
        return Next::Failed(format!("SENTINEL FAILOVER was refused: {e:#}"));
    }
    Next::Went(
        format!("paused writes on the primary 127.0.0.1:{primary}, replicas caught up, SENTINEL FAILOVER sent"),
        Some(awaiting_promotion(primary, timeout, Then::DropClients)),
    )
}

/// Partition, first step: the primary goes on serving its clients, alone.
pub async fn partition(set: &SentinelSet, deadline: Duration) -> Next {
    let primary = match set.primary_port().await {
        Ok(port) => port,
        Err(e) => return Next::Failed(format!("no sentinel named the primary: {e:#}")),
    };
    match set.partition(primary).await {
        Ok(dropped) => {
            Next::Went(
                format!("cut the primary 127.0.0.1:{primary} off from its replicas and the sentinels ({dropped} of their connections dropped, their user switched off there); clients still reach it"),
                Some(awaiting_promotion(primary, deadline, Then::Heal)),
            )
        }
        Err(e) => {
            let _ = set.heal(primary).await;
            Next::Failed(format!("could not cut the primary off: {e:#}"))
        }
    }
}

/// Do all sentinels name a new primary?
pub async fn promotion(set: &SentinelSet, step: Step) -> Next {
    let Step::Promotion {
        old,
        since,
        deadline,
        then,
    } = step
    else {
        unreachable!("promotion() takes a Promotion step");
    };
    match set.agreed_primary().await {
        Some(new) if new != old => promoted(set, (old, new), since, then).await,
        _ if Instant::now() >= deadline => {
            undo(set, old, then).await;
            Next::Failed(format!(
                "Sentinel named no new primary within {:.1} s",
                (deadline - since).as_secs_f64()
            ))
        }
        _ => Next::Went(String::new(), Some((Instant::now() + POLL, step))),
    }
}

async fn promoted(set: &SentinelSet, (old, new): (u16, u16), since: Instant, then: Then) -> Next {
    let took = since.elapsed().as_secs_f64();
    let what = format!("every sentinel names 127.0.0.1:{new} as primary {took:.2} s later");
    match then {
        Then::Nothing => Next::Done(what),
        Then::DropClients => match set.drop_clients_and_unpause(old).await {
            Ok(n) => Next::Done(format!("{what}; dropped the old primary's {n} client connection(s) and lifted its write pause")),
            Err(e) => Next::Failed(format!("{what}, but the old primary's clients could not be dropped: {e:#}")),
        },
        Then::Heal => match set.heal(old).await {
            Ok(()) => {
                let now = Instant::now();
                Next::Went(
                    format!("{what}; partition healed: Sentinel reaches the old primary 127.0.0.1:{old} again"),
                    Some((now + POLL, Step::Demotion { old, since: now, deadline: now + DEMOTION_WITHIN })),
                )
            }
            Err(e) => Next::Failed(format!("{what}, but the partition could not be healed: {e:#}")),
        },
    }
}

/// Lets go of what a failover that did not complete still holds.
async fn undo(set: &SentinelSet, old: u16, then: Then) {
    match then {
        Then::Nothing => {}
        Then::DropClients => {
            let _ = set.drop_clients_and_unpause(old).await;
        }
        Then::Heal => {
            let _ = set.heal(old).await;
        }
    }
}

/// Partition, last step: is the old primary a replica now?
pub async fn demotion(set: &SentinelSet, step: Step) -> Next {
    let Step::Demotion {
        old,
        since,
        deadline,
    } = step
    else {
        unreachable!("demotion() takes a Demotion step");
    };
    match set.role(old).await.as_deref() {
        Some("slave") => Next::Done(format!(
            "the old primary 127.0.0.1:{old} was demoted to a replica {:.2} s after the heal: the writes it took alone are gone",
            since.elapsed().as_secs_f64()
        )),
        _ if Instant::now() >= deadline => Next::Failed(format!(
            "the old primary 127.0.0.1:{old} was not demoted within {:.0} s of the heal{}",
            DEMOTION_WITHIN.as_secs_f64(),
            tilt_mode(&set.tilted().await)
        )),
        _ => Next::Went(String::new(), Some((Instant::now() + POLL, step))),
    }
}

/// Why Sentinel may not have acted, by its own account: a sentinel in TILT
/// mode acts on nothing for 30 s.
fn tilt_mode(tilted: &[u16]) -> String {
    if tilted.is_empty() {
        return String::new();
    }
    let at: Vec<String> = tilted.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    format!(
        " (Sentinel in TILT mode, sentinel_tilt:1 on {})",
        at.join(", ")
    )
}

/// Cluster, first step: the segment's master and one of its replicas;
/// crash: freeze that replica and cut its link; graceful: `CLUSTER
/// FAILOVER` on it.
pub async fn cluster_start(
    set: &ClusterSet,
    segments: &Segments,
    segment: usize,
    mode: FailoverMode,
) -> Next {
    let key = &segments.keys[segment].stock;
    let master = match set.owner_of(key).await {
        Ok(port) => port,
        Err(e) => return Next::Failed(format!("{e:#}")),
    };
    let Some(replica) = set.replica_of(master) else {
        return Next::Failed(format!(
            "the master 127.0.0.1:{master} of segment {segment} has no replica to fail over to"
        ));
    };
    match mode {
        FailoverMode::Crash { lag } => {
            let stock_at_cut = set.get(master, key).await.ok().flatten();
            if let Err(e) = set.cut(master, replica).await {
                set.resume_all();
                return Next::Failed(format!("could not cut the replica's link: {e:#}"));
            }
            Next::Went(
                format!("froze the replica 127.0.0.1:{replica} (SIGSTOP) and cut its link on the master 127.0.0.1:{master} of segment {segment}; its stock {}", shown(stock_at_cut)),
                Some((Instant::now() + lag, Step::ClusterKill { master, replica, segment, stock_at_cut })),
            )
        }
        FailoverMode::Graceful | FailoverMode::Partition => {
            if let Err(e) = set.failover(replica, false).await {
                return Next::Failed(format!("CLUSTER FAILOVER was refused: {e:#}"));
            }
            Next::Went(
                format!("CLUSTER FAILOVER sent to the replica 127.0.0.1:{replica} of segment {segment}'s master 127.0.0.1:{master}"),
                Some(awaiting_cluster_promotion(replica)),
            )
        }
    }
}

/// Cluster crash, second step: SIGKILL the master, resume the replica and
/// make it take over without the master's agreement.
pub async fn cluster_kill(set: &mut ClusterSet, segments: &Segments, step: Step) -> Next {
    let Step::ClusterKill {
        master,
        replica,
        segment,
        stock_at_cut,
    } = step
    else {
        unreachable!("cluster_kill() takes a ClusterKill step");
    };
    let key = &segments.keys[segment].stock;
    let stock_now = set.get(master, key).await.ok().flatten();
    if let Err(e) = set.crash(master) {
        set.resume_all();
        return Next::Failed(format!("could not kill the master: {e:#}"));
    }
    set.resume_all();
    if let Err(e) = set.failover(replica, true).await {
        return Next::Failed(format!("CLUSTER FAILOVER TAKEOVER was refused: {e:#}"));
    }
    let piled = match (stock_at_cut, stock_now) {
        (Some(cut), Some(now)) => format!("{} unit(s)", cut - now),
        _ => "an unknown number of units".to_owned(),
    };
    Next::Went(
        format!("master 127.0.0.1:{master} killed (SIGKILL) with {piled} of acknowledged writes its replica never got (segment {segment}: stock {} at the cut, {} at the kill); CLUSTER FAILOVER TAKEOVER on 127.0.0.1:{replica}", shown(stock_at_cut), shown(stock_now)),
        Some(awaiting_cluster_promotion(replica)),
    )
}

fn awaiting_cluster_promotion(replica: u16) -> (Instant, Step) {
    let now = Instant::now();
    let step = Step::ClusterPromotion {
        replica,
        since: now,
        deadline: now + CLUSTER_PROMOTION_WITHIN,
    };
    (now + POLL, step)
}

/// Cluster, last step: is the replica a master of an ok cluster?
pub async fn cluster_promotion(set: &ClusterSet, step: Step) -> Next {
    let Step::ClusterPromotion {
        replica,
        since,
        deadline,
    } = step
    else {
        unreachable!("cluster_promotion() takes a ClusterPromotion step");
    };
    if set.promoted(replica).await {
        return Next::Done(format!(
            "127.0.0.1:{replica} is a master and the cluster ok {:.2} s later",
            since.elapsed().as_secs_f64()
        ));
    }
    if Instant::now() >= deadline {
        return Next::Failed(format!(
            "127.0.0.1:{replica} was not a master of an ok cluster within {:.0} s",
            CLUSTER_PROMOTION_WITHIN.as_secs_f64()
        ));
    }
    Next::Went(String::new(), Some((Instant::now() + POLL, step)))
}

/// The next step after the primary was taken away: wait for Sentinel.
fn awaiting_promotion(old: u16, within: Duration, then: Then) -> (Instant, Step) {
    let now = Instant::now();
    let step = Step::Promotion {
        old,
        since: now,
        deadline: now + within,
        then,
    };
    (now + POLL, step)
}

/// The whole stock as the node on `port` has it; `None` when unknown.
async fn stock_on(set: &SentinelSet, port: u16, segments: &Segments) -> Option<i64> {
    let mut total = 0;
    for keys in &segments.keys {
        total += set.get(port, &keys.stock).await.ok().flatten()?;
    }
    Some(total)
}

fn shown(stock: Option<i64>) -> String {
    stock.map_or("unknown".to_owned(), |s| s.to_string())
}
