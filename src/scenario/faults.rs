//! Faults a scenario injects, as data: when, what, to whom. The coordinator
//! acts them out (`src/coordinator/faults.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub at: FaultTime,
    pub action: FaultAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FaultTime {
    /// Since the common start.
    After(Duration),
    /// Once this many units were recorded as sold.
    AfterSales(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FaultAction {
    /// SIGSTOP a worker, SIGCONT it `duration` later.
    Pause {
        target: FaultTarget,
        duration: Duration,
    },
    /// SIGKILL a worker; the run goes on without it.
    Kill { target: FaultTarget },
    /// `[service]`: stop an instance and start it again on the same port
    /// after `duration`, as a rolling deploy does.
    Restart {
        target: FaultTarget,
        mode: RestartMode,
        duration: Duration,
    },
    /// Stop the embedded redis-server and start it again on the same port
    /// after `downtime`.
    RedisRestart { downtime: Duration },
    /// The proxy between workers and Redis delays every chunk by `delay` ±
    /// `jitter` for `duration`.
    Latency {
        delay: Duration,
        jitter: Duration,
        duration: Duration,
    },
    /// The proxy drops every connection at once.
    Disconnect,
    /// The embedded Sentinel set, or the embedded cluster's master of
    /// stock segment `segment`, loses its primary; see [`FailoverMode`].
    Failover { mode: FailoverMode, segment: u32 },
}

/// How a `failover` fault takes the primary away.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FailoverMode {
    /// A careful switchover: pause writes, let the replicas catch up,
    /// `SENTINEL FAILOVER`, then drop the old primary's clients. Expect no
    /// loss for clients that ask Sentinel again.
    Graceful,
    /// Freeze the replicas and cut their links, let `lag` of acknowledged
    /// writes pile up on the primary, SIGKILL it, resume the replicas and
    /// let Sentinel promote one.
    Crash { lag: Duration },
    /// Cut the primary off from its replicas and sentinels while clients
    /// still reach it; heal once Sentinel promoted a replica, and wait
    /// until the old primary is demoted.
    Partition,
}

impl FailoverMode {
    pub fn name(self) -> &'static str {
        match self {
            FailoverMode::Graceful => "graceful",
            FailoverMode::Crash { .. } => "crash",
            FailoverMode::Partition => "partition",
        }
    }
}

/// How a `restart` fault stops a service instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartMode {
    /// SIGKILL: requests under way get no reply.
    Crash,
    /// SIGTERM, then SIGKILL after `stop_grace`.
    Graceful,
}

impl RestartMode {
    pub fn name(self) -> &'static str {
        match self {
            RestartMode::Crash => "crash",
            RestartMode::Graceful => "graceful",
        }
    }
}

/// Whom a pause, kill or restart acts on: the harness's workers, or with
/// `[service]`, the service's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultTarget {
    /// A worker caught holding the lock: frozen inside its critical section,
    /// between reading and writing the stock.
    LockHolder,
    Random,
    /// `[service]`: the instance with the most purchases in flight.
    Busy,
    /// A worker's index, or with `[service]` an instance's.
    Worker(u32),
}

impl FaultAction {
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Pause { .. } => "pause",
            FaultAction::Kill { .. } => "kill",
            FaultAction::Restart { .. } => "restart",
            FaultAction::RedisRestart { .. } => "redis-restart",
            FaultAction::Latency { .. } => "latency",
            FaultAction::Disconnect => "disconnect",
            FaultAction::Failover { .. } => "failover",
        }
    }

    /// Whether workers must reach Redis through the fault proxy.
    pub fn needs_proxy(&self) -> bool {
        matches!(self, FaultAction::Latency { .. } | FaultAction::Disconnect)
    }
}
