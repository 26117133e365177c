//! Scenarios: a TOML file plus `--set` overrides, parsed once into a validated
//! [`Scenario`] of real types. Owns reading, overriding, validating and
//! locating errors (file, line, field); does not know how a run uses it.
//!
//! Pipeline: source text -> `toml::Table` -> overrides applied ->
//! [`raw::RawScenario`] (serde, unknown keys rejected) -> [`Scenario`]
//! (validation). Every error names where the bad value came from.

mod capacity;
mod duration;
mod error;
mod faults;
mod hosts;
mod http;
mod http_rules;
mod locate;
pub mod lua_scan;
mod overrides;
mod pace;
mod raw;
mod script;
mod sweep;
mod validate;

use std::num::{NonZeroU32, NonZeroU64};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::conn::Rediscover;
use crate::phase::Phase;

pub use capacity::{CapacityPlan, Slo};
pub use error::ScenarioError;
pub use faults::{FailoverMode, Fault, FaultAction, FaultTarget, FaultTime, RestartMode};
pub use hosts::{shell_quote, Binary, Host, HostLoss, HostsSettings};
pub use http::{HttpSettings, ServiceSettings, SERVICE_VARS};
pub use overrides::Override;
pub use pace::{Arrivals, Pace, Ramp, RampStage};
pub use script::{
    AuditSettings, BuyerPick, BuyerSettings, KeyType, Piece, Reply, ScriptSettings, Template, Var,
};
pub use sweep::{value_text, SweepPlan, SweepPoint};

/// A validated scenario: everything a run needs to know, in real types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Used in report folder names and Redis keys: `[A-Za-z0-9._-]+`.
    pub name: String,
    pub description: String,
    pub redis: RedisSettings,
    pub stock: StockSettings,
    pub load: LoadSettings,
    pub strategy: StrategySettings,
    pub report: ReportSettings,
    pub thresholds: Thresholds,
    pub faults: Vec<Fault>,
    /// `kind = "script"`: the user's script, its file read.
    pub script: Option<ScriptSettings>,
    pub buyers: BuyerSettings,
    pub audit: AuditSettings,
    /// `[hosts]`: workers on other machines; `None`: all on this one.
    pub hosts: Option<HostsSettings>,
    /// `kind = "http"`: the request a purchase sends.
    pub http: Option<HttpSettings>,
    /// `[service]`: the user's service, its instances started by the harness.
    pub service: Option<ServiceSettings>,
}

/// Limits checked at the end of a run, for CI: a violated one exits 3.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Thresholds {
    /// Units oversold that are tolerated; 0 unless set.
    pub max_oversold: u64,
    pub min_purchases_per_s: Option<f64>,
    /// (phase, limit in µs).
    pub max_p99_us: Vec<(Phase, u64)>,
    pub max_p999_us: Vec<(Phase, u64)>,
    /// Failed purchases / attempts, 0.0..=1.0.
    pub max_error_rate: Option<f64>,
    pub max_wait_timeouts: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSettings {
    /// Length of one timeline row and one `latency.hlog` interval.
    pub interval: Duration,
    /// How often workers ship their metrics, when set.
    pub flush_interval: Option<Duration>,
    /// No `interval` was given: the timeline starts at a 64th of
    /// `interval` and doubles up to it (a short run still gets rows).
    #[serde(default)]
    pub adaptive: bool,
    /// An SLO to mark on the timeline (`capacity` sets its own on each
    /// step): where the purchase latency first went over it.
    #[serde(skip)]
    pub slo: Option<Slo>,
}

impl ReportSettings {
    /// How often workers ship their metrics: as set, or 5 ms. A batch
    /// costs the coordinator little (its histograms' few buckets), and the
    /// coordinator counts sales from batches: an `after N sales` fault or a
    /// timeline row is only as timely as the flush (at 25 ms, a lock-holder
    /// pause armed after 10 sales found a fast `lua` sale already over in 2
    /// of 5 trials).
    pub fn flush(&self) -> Duration {
        self.flush_interval.unwrap_or(Duration::from_millis(5))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisSettings {
    /// `None`: start a throwaway embedded redis-server.
    pub url: Option<RedisUrl>,
    /// First part of every key; the run adds its own hash-tagged id after it.
    pub key_prefix: String,
    /// Independent servers for the `redlock` strategy's lock; empty with the
    /// embedded server, which then starts `strategy.redlock_nodes` of them.
    pub redlock_urls: Vec<RedisUrl>,
    /// Per-call timeout of the workers; a write whose reply does not come
    /// in time is in doubt.
    pub timeout: Duration,
    /// Of the embedded server, for `redis-restart` faults.
    pub persistence: Persistence,
    pub topology: Topology,
    /// Whether a client that lost its primary asks Sentinel again.
    pub rediscover: Rediscover,
    pub tls: TlsSettings,
    /// The program the embedded servers run (standalone, Sentinel set,
    /// cluster, redlock lock servers). The user's own server is named from
    /// what it reports instead.
    #[serde(default)]
    pub server: Server,
}

/// Which server program the harness starts for its embedded topologies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Server {
    /// `redis-server` (`SECKILL_REDIS_SERVER` names another binary).
    #[default]
    Redis,
    /// `valkey-server` (`SECKILL_VALKEY_SERVER` names another binary).
    Valkey,
}

impl Server {
    pub const ALL: [Server; 2] = [Server::Redis, Server::Valkey];

    /// As written in `[redis] server`, and as the server names itself in
    /// `INFO server`.
    pub fn name(self) -> &'static str {
        match self {
            Server::Redis => "redis",
            Server::Valkey => "valkey",
        }
    }
}

/// How the primary is found and what stands behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Topology {
    /// One server at `url`, or one embedded redis-server.
    Standalone,
    /// A primary with replicas, found through Sentinel.
    Sentinel(SentinelSettings),
    /// A Redis Cluster: the user's (`url` is a seed), or embedded.
    Cluster(ClusterSettings),
}

/// The embedded cluster's shape (ignored with the user's cluster), or the
/// user's cluster's seeds besides `url`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterSettings {
    pub masters: u32,
    pub replicas_per_master: u32,
    /// More seed URLs of the user's cluster, tried after `url`.
    #[serde(default)]
    pub seeds: Vec<RedisUrl>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentinelSettings {
    /// The user's sentinels; empty: start a primary, `replicas` replicas
    /// and three sentinels embedded.
    pub sentinels: Vec<RedisUrl>,
    pub master_name: String,
    /// Embedded only.
    pub replicas: u32,
    /// Embedded sentinels' `down-after-milliseconds`.
    pub down_after: Duration,
    /// Embedded sentinels' `failover-timeout`; also how long a `failover`
    /// fault waits for a new primary before the run is INCONCLUSIVE.
    pub failover_timeout: Duration,
}

/// `rediss://` certificates (paths as written, relative to the working
/// directory), or TLS for the embedded servers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsSettings {
    /// Start the embedded servers with TLS only, with certificates made
    /// for the run.
    pub embedded: bool,
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
    /// Accept any server certificate.
    pub insecure: bool,
}

/// What an embedded redis-server keeps across a restart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Persistence {
    /// `--save "" --appendonly no`: a restart loses the stock.
    #[default]
    None,
    /// `--appendonly yes --appendfsync always`: every write is on disk first.
    AofAlways,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockSettings {
    pub initial: u64,
    /// Units taken by one purchase.
    pub quantity: NonZeroU64,
    /// Stock keys `initial` is split over (库存分段), each with a hash tag
    /// of its own.
    pub segments: NonZeroU32,
    pub segment_pick: SegmentPick,
    pub segment_fallback: SegmentFallback,
    /// Other keys the purchase uses, per segment: created empty where the
    /// type allows, shown in the audit, deleted at the end.
    pub extra_keys: Vec<(Template, KeyType)>,
    /// `kind = "http"` without `[service]`: the exact key the user's
    /// service reads, used instead of the run's own stock key.
    pub key: Option<String>,
}

/// Which segment a purchase tries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SegmentPick {
    /// Uniformly at random, per purchase.
    Random,
    /// A hash of the purchase's buyer (unique per attempt).
    BuyerHash,
    /// Always the client's own: client index modulo the segments.
    Client,
}

/// What a purchase does when its segment is sold out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SegmentFallback {
    /// Walk the other segments before answering sold out.
    Next,
    /// Answer sold out at once: cheap, and it strands units.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSettings {
    pub processes: NonZeroU32,
    /// Clients each process runs; in a closed loop with client stages,
    /// also the number active at the start.
    pub clients_per_process: NonZeroU32,
    pub stop: StopRule,
    pub pace: Pace,
    /// How the clients of a process reach Redis.
    pub connections: Connections,
}

/// `[load] connections`: how a worker's clients talk to Redis, as the
/// application under test would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Connections {
    /// Each client owns a connection (a Jedis-style pool as large as the
    /// clients).
    #[default]
    PerClient,
    /// Each process has `size` connections; a client takes one for a whole
    /// purchase (lock, read, write, unlock) and gives up after `timeout`
    /// waiting (Jedis, go-redis, redis-py).
    Pool { size: NonZeroU32, timeout: Duration },
    /// Each process has `size` multiplexed connections; the clients'
    /// commands interleave on them, pipelined (Lettuce, StackExchange.Redis).
    Shared { size: NonZeroU32 },
}

impl Connections {
    /// The word `[load] connections` takes.
    pub fn name(self) -> &'static str {
        match self {
            Connections::PerClient => "per-client",
            Connections::Pool { .. } => "pool",
            Connections::Shared { .. } => "shared",
        }
    }

    /// Redis connections a process opens for `clients` clients.
    pub fn opened(self, clients: u32) -> u32 {
        match self {
            Connections::PerClient => clients,
            Connections::Pool { size, .. } | Connections::Shared { size } => size.get(),
        }
    }
}

impl LoadSettings {
    /// Connections per process: enough for the largest client stage.
    pub fn connections_per_process(&self) -> u32 {
        match &self.pace {
            Pace::Closed { clients } => (clients.max() as u32).max(self.clients_per_process.get()),
            Pace::Open { .. } => self.clients_per_process.get(),
        }
    }

    pub fn total_clients(&self) -> u64 {
        u64::from(self.processes.get()) * u64::from(self.connections_per_process())
    }

    /// The mean target rate over `elapsed`, for an open-loop run.
    pub fn target_rate(&self, elapsed: Duration) -> Option<f64> {
        match &self.pace {
            Pace::Open { rate, .. } if !elapsed.is_zero() => {
                Some(rate.integral(elapsed) / elapsed.as_secs_f64())
            }
            _ => None,
        }
    }
}

/// When a client stops, besides being told the stock is sold out. At least one
/// of the two is set; with both, whichever comes first. Stages set the
/// duration to their total unless a shorter one is given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StopRule {
    pub purchases_per_client: Option<NonZeroU64>,
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// The article's lock: `SET lock 1 NX PX`, GET, INCRBY, unconditional DEL.
    Article,
    /// The same without any lock: the negative control.
    Unlocked,
    /// `SET lock <token> NX PX`, released by a Lua compare-and-delete.
    SafeLock,
    /// A lock handing out fencing tokens; the decrement is refused to a
    /// holder whose token is no longer the newest.
    Fenced,
    /// No lock: one script checks and decrements atomically.
    Lua,
    /// Optimistic `WATCH` / `GET` / `MULTI` / `DECRBY` / `EXEC`, retried on abort.
    Watch,
    /// `DECRBY` first, `INCRBY` back if it went negative.
    Decr,
    /// The Redlock algorithm over independent lock servers.
    Redlock,
    /// The user's own Lua script or Redis Function.
    Script,
    /// One HTTP request to the user's service per purchase.
    Http,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 10] = [
        StrategyKind::Article,
        StrategyKind::Unlocked,
        StrategyKind::SafeLock,
        StrategyKind::Fenced,
        StrategyKind::Lua,
        StrategyKind::Watch,
        StrategyKind::Decr,
        StrategyKind::Redlock,
        StrategyKind::Script,
        StrategyKind::Http,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Article => "article",
            StrategyKind::Unlocked => "unlocked",
            StrategyKind::SafeLock => "safe-lock",
            StrategyKind::Fenced => "fenced",
            StrategyKind::Lua => "lua",
            StrategyKind::Watch => "watch",
            StrategyKind::Decr => "decr",
            StrategyKind::Redlock => "redlock",
            StrategyKind::Script => "script",
            StrategyKind::Http => "http",
        }
    }

    /// Whether purchases take a lock, so the lock-safety checker applies.
    pub fn takes_lock(self) -> bool {
        matches!(
            self,
            StrategyKind::Article
                | StrategyKind::SafeLock
                | StrategyKind::Fenced
                | StrategyKind::Redlock
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StrategySettings {
    pub kind: StrategyKind,
    pub lock: LockParams,
    pub stall: Stall,
    /// Lock servers the embedded mode starts for `redlock`.
    pub redlock_nodes: u32,
    /// A sale counts only once `WAIT` confirms it on this many replicas;
    /// 0: no `WAIT`.
    pub wait_replicas: u32,
    pub wait_replicas_timeout: Duration,
    /// Built-in strategies only: each sale is also recorded as `HSET
    /// {run}:orders <purchase id> <buyer>`, atomically with the stock
    /// write, so the audit can check every sale by its id.
    #[serde(default)]
    pub record_orders: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LockParams {
    /// `PX` of the lock: it expires this long after it was taken.
    pub ttl: Duration,
    /// How long one `acquire_lock` call retries before giving up (and, as in
    /// the article, being called again).
    pub wait_timeout: Duration,
    /// Pause between two failed `SET NX`; zero retries at once.
    pub retry_interval: Duration,
    pub backoff: Backoff,
    /// Share of each pause drawn at random: the pause is uniform in
    /// `[pause x (1 - jitter), pause]`; 1.0 is "full jitter".
    pub jitter: f64,
    pub on_wait_timeout: OnWaitTimeout,
}

/// How the pause between lock attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Backoff {
    Fixed,
    /// Doubles after every failed attempt, up to `cap`.
    Exponential {
        cap: Duration,
    },
}

/// What a buyer does when one lock wait reaches `wait_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnWaitTimeout {
    /// Wait again, as the article's `while not lock` loop does.
    Retry,
    /// Give the purchase up; counted as a rejection of its own kind.
    GiveUp,
}

/// A pause inside the critical section, between reading and decrementing the
/// stock: the GC pause or VM stall that breaks an expiring lock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub duration: Duration,
    /// Share of purchases that stall, 0.0..=1.0.
    pub fraction: f64,
}

/// A user's script that wipes the server (`FLUSHALL`, ...) is refused
/// against the user's own server; on an embedded one the run warns.
fn refuse_flush_on_users_server(scenario: &Scenario) -> Result<(), error::FieldError> {
    let Some(script) = &scenario.script else {
        return Ok(());
    };
    let users = scenario.redis.url.is_some()
        || matches!(&scenario.redis.topology, Topology::Sentinel(s) if !s.sentinels.is_empty());
    match crate::scenario::lua_scan::flushes(&script.source).first() {
        Some(flush) if users => Err(error::FieldError::new(
            "strategy.script",
            format!(
                "{}:{}: calls {}, which would wipe your server, not only the run's keys",
                script.path.display(),
                flush.line,
                flush.command
            ),
            "remove the call, or run against an embedded throwaway server (no redis.url / --redis-url)",
        )
        .depending_on(&["redis.url"])),
        _ => Ok(()),
    }
}

fn parse_table(source: &str, origin: &str) -> Result<toml::Table, ScenarioError> {
    toml::from_str(source).map_err(|e| locate::Locator::new(source, origin, &[]).syntax_error(&e))
}

fn read_source(path: &Path) -> Result<String, ScenarioError> {
    crate::util::bounded_read::read_string(path, crate::util::bounded_read::SCENARIO).map_err(
        |source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        },
    )
}

/// A Redis URL whose password never leaves it: `Display` and `Debug` mask it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        crate::util::redact::redact(&self.0)
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl Scenario {
    /// Embedded lock servers this scenario needs (`redlock` only).
    pub fn lock_servers(&self) -> u32 {
        match self.strategy.kind {
            StrategyKind::Redlock => self.strategy.redlock_nodes,
            _ => 0,
        }
    }

    /// Reads and validates a scenario file with `--set` overrides applied.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file, line and field of the first problem.
    pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
        let source = read_source(path)?;
        Scenario::parse(&source, &path.display().to_string(), overrides)
    }

    /// Parses scenario text; `origin` names it in errors. `[sweep]` and
    /// `[capacity]` tables are ignored: `run` runs the scenario's own values.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the origin, line and field of the first problem.
    pub fn parse(
        source: &str,
        origin: &str,
        overrides: &[Override],
    ) -> Result<Scenario, ScenarioError> {
        let mut table = parse_table(source, origin)?;
        table.remove("sweep");
        table.remove("capacity");
        Scenario::from_table(table, source, origin, overrides)
    }

    /// Overrides, deserializes and validates an already parsed file.
    fn from_table(
        mut table: toml::Table,
        source: &str,
        origin: &str,
        overrides: &[Override],
    ) -> Result<Scenario, ScenarioError> {
        let locator = locate::Locator::new(source, origin, overrides);
        overrides::apply(&mut table, overrides)?;
        let raw: raw::RawScenario = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| locator.serde_error(&e))?;
        // A kind set by `--set` or a sweep axis switches strategies: the
        // file's script fields then wait for the points that run it.
        let kind_switched = overrides.iter().any(|o| o.path == "strategy.kind");
        let mut scenario =
            validate::scenario(raw, kind_switched).map_err(|e| locator.field_error(e))?;
        if let Some(script) = &mut scenario.script {
            // Relative to the scenario file, as users copy both together.
            let base = Path::new(origin).parent().unwrap_or(Path::new(""));
            script.read(base).map_err(|e| locator.field_error(e))?;
        }
        if let Some(service) = &mut scenario.service {
            service.rooted(Path::new(origin).parent().unwrap_or(Path::new("")));
        }
        refuse_flush_on_users_server(&scenario).map_err(|e| locator.field_error(e))?;
        Ok(scenario)
    }
}

#[cfg(test)]
mod tests;
