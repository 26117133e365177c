//! Raw scenario -> validated [`Scenario`]: ranges, units, required
//! combinations. Pure; errors carry the field path, not the location.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use super::duration::parse_duration;
use super::error::FieldError;
use super::pace::{Arrivals, Pace, Ramp, RampStage};
use super::raw::{
    PerPhase, RawFault, RawLoad, RawRedis, RawReport, RawScenario, RawStage, RawStock, RawStrategy,
    RawTarget, RawThresholds,
};
use super::HostsSettings;
use super::{AuditSettings, BuyerSettings, HttpSettings, ScriptSettings, ServiceSettings};
use super::{
    Backoff, ClusterSettings, Connections, FailoverMode, Fault, FaultAction, FaultTarget,
    FaultTime, LoadSettings, LockParams, OnWaitTimeout, Persistence, RedisSettings, RedisUrl,
    Rediscover, ReportSettings, RestartMode, Scenario, SegmentFallback, SegmentPick,
    SentinelSettings, Server, Slo, Stall, StockSettings, StopRule, StrategyKind, StrategySettings,
    Thresholds, TlsSettings, Topology,
};
use crate::phase::Phase;

type Result<T> = std::result::Result<T, FieldError>;

/// Upper bounds that catch typos (an extra zero) before they fork-bomb the machine.
const MAX_PROCESSES: i64 = 4096;
const MAX_CLIENTS_PER_PROCESS: i64 = 100_000;

/// `kind_switched`: the kind came from an override (`--set`, a sweep
/// axis), so script fields written for other points are ignored.
pub fn scenario(raw: RawScenario, kind_switched: bool) -> Result<Scenario> {
    let processes = total_processes(&raw)?;
    let scenario = Scenario {
        name: name(&raw.name)?,
        description: raw.description,
        redis: redis(raw.redis)?,
        stock: stock(&raw.stock)?,
        load: load(&raw.load, processes)?,
        strategy: strategy(&raw.strategy)?,
        report: report(&raw.report)?,
        thresholds: thresholds(&raw.thresholds)?,
        faults: Vec::new(),
        script: match raw.strategy.kind.as_str() {
            "script" => Some(ScriptSettings::parse(&raw.strategy)?),
            _ => None,
        },
        buyers: BuyerSettings::parse(&raw.buyers)?,
        audit: AuditSettings::parse(
            &raw.audit,
            &BuyerSettings::parse(&raw.buyers)?,
            raw.strategy.record_orders.unwrap_or(false),
        )?,
        hosts: None,
        http: match raw.strategy.kind.as_str() {
            "http" => Some(HttpSettings::parse(&raw.strategy)?),
            _ => None,
        },
        service: raw
            .service
            .as_ref()
            .map(|s| ServiceSettings::parse(s, optional_duration))
            .transpose()?,
    };
    if !kind_switched {
        script_fields(&raw.strategy, &scenario)?;
        http_fields(&raw.strategy, &scenario)?;
    }
    redlock_servers(&scenario)?;
    replicas_to_wait_for(&scenario)?;
    cluster_limits(&scenario)?;
    connection_limits(&scenario)?;
    let faults = raw
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| fault(i, f, &scenario))
        .collect::<Result<Vec<_>>>()?;
    let hosts = raw
        .hosts
        .as_ref()
        .map(|h| HostsSettings::parse(h, scenario.load.processes.get()))
        .transpose()?;
    let scenario = Scenario {
        faults,
        hosts,
        ..scenario
    };
    remote_hosts(&scenario)?;
    super::http_rules::check(&scenario, raw.stock.key.as_deref())?;
    Ok(scenario)
}

/// Workers on other machines reach only a Redis they can reach: never an
/// embedded one (it binds loopback) nor the local fault proxy.
fn remote_hosts(s: &Scenario) -> Result<()> {
    if s.hosts.is_none() {
        return Ok(());
    }
    let external = s.redis.url.is_some()
        || matches!(&s.redis.topology, Topology::Sentinel(t) if !t.sentinels.is_empty());
    if !external {
        return Err(FieldError::new(
            "redis.url",
            "[hosts] runs workers on other machines, which cannot reach an embedded redis-server (it listens on this machine's loopback only)",
            "give the URL of a Redis every load host can reach: redis.url, or --redis-url",
        )
        .depending_on(&["hosts"]));
    }
    if s.strategy.kind == StrategyKind::Redlock && s.redis.redlock_urls.is_empty() {
        return Err(FieldError::new(
            "redis.redlock_urls",
            "[hosts] workers cannot reach embedded redlock servers",
            "list lock servers every load host can reach in redis.redlock_urls",
        )
        .depending_on(&["hosts"]));
    }
    if let Some(i) = s.faults.iter().position(|f| f.action.needs_proxy()) {
        return Err(FieldError::new(
            &format!("faults[{i}].kind"),
            format!("`{}` goes through a proxy on this machine, which [hosts] workers do not use", s.faults[i].action.name()),
            "drop the fault or the [hosts] table (latency and disconnect faults need every worker on this machine)",
        )
        .depending_on(&["hosts"]));
    }
    Ok(())
}

/// Script fields with another strategy would be silently ignored.
fn script_fields(raw: &RawStrategy, s: &Scenario) -> Result<()> {
    if s.script.is_some() {
        return Ok(());
    }
    let http = s.http.is_some();
    let set = [
        ("strategy.script", raw.script.is_some()),
        ("strategy.function", raw.function.is_some()),
        ("strategy.steps", raw.steps.is_some()),
        ("strategy.keys", raw.keys.is_some()),
        ("strategy.args", raw.args.is_some()),
        ("strategy.replies", raw.replies.is_some() && !http),
    ];
    match set.iter().find(|(_, is_set)| *is_set) {
        Some((field, _)) => Err(FieldError::new(
            field,
            format!(
                "is for kind = \"script\", and this scenario runs `{}`",
                s.strategy.kind.name()
            ),
            "set kind = \"script\", or remove the field",
        )
        .depending_on(&["strategy.kind"])),
        None => Ok(()),
    }
}

/// HTTP fields with another strategy would be silently ignored.
fn http_fields(raw: &RawStrategy, s: &Scenario) -> Result<()> {
    if s.http.is_some() {
        return Ok(());
    }
    let set = [
        ("strategy.url", raw.url.is_some()),
        ("strategy.method", raw.method.is_some()),
        ("strategy.headers", raw.headers.is_some()),
        ("strategy.body", raw.body.is_some()),
        ("strategy.reply", raw.reply.is_some()),
        ("strategy.order_id", raw.order_id.is_some()),
        ("strategy.timeout_ms", raw.timeout_ms.is_some()),
    ];
    match set.iter().find(|(_, is_set)| *is_set) {
        Some((field, _)) => Err(FieldError::new(
            field,
            format!(
                "is for kind = \"http\", and this scenario runs `{}`",
                s.strategy.kind.name()
            ),
            "set kind = \"http\", or remove the field",
        )
        .depending_on(&["strategy.kind"])),
        None => Ok(()),
    }
}

/// A duration field in words, or its default in milliseconds.
fn optional_duration(field: &str, text: Option<&str>, default_ms: u64) -> Result<Duration> {
    text.map(|t| positive_duration(field, t))
        .transpose()
        .map(|d| d.unwrap_or(Duration::from_millis(default_ms)))
}

/// With the user's own Redis, `redlock` needs the user's lock servers too.
fn redlock_servers(s: &Scenario) -> Result<()> {
    let external = s.redis.url.is_some();
    if s.strategy.kind == StrategyKind::Redlock && external && s.redis.redlock_urls.is_empty() {
        return Err(FieldError::new(
            "redis.redlock_urls",
            "the redlock strategy with redis.url needs its independent lock servers",
            "list them: redlock_urls = [\"redis://host1:6379/0\", ...], or drop redis.url to start embedded ones",
        )
        .depending_on(&["strategy.kind", "redis.url"]));
    }
    Ok(())
}

/// What a cluster run cannot do (yet): `WATCH` on a connection shared by
/// slots, `WAIT` routed to some node, TLS to the nodes.
fn cluster_limits(s: &Scenario) -> Result<()> {
    if !matches!(s.redis.topology, Topology::Cluster(_)) {
        return Ok(());
    }
    let refused = |field: &str, what: &str, hint: &str| {
        Err(FieldError::new(field, what.to_owned(), hint).depending_on(&["redis.topology"]))
    };
    if s.strategy.kind == StrategyKind::Watch {
        return refused(
            "strategy.kind",
            "`watch` is not built for a cluster: redis-rs's cluster connection is shared, and WATCH needs a connection of its own",
            "use lua, decr or a lock strategy",
        );
    }
    if s.strategy.wait_replicas > 0 {
        return refused(
            "strategy.wait_replicas",
            "is not built for a cluster yet: WAIT would go to whichever node redis-rs picks",
            "remove it, or use topology = \"sentinel\"",
        );
    }
    let tls = &s.redis.tls;
    if tls.embedded || tls.ca.is_some() || tls.cert.is_some() || tls.insecure {
        return refused(
            "redis.tls",
            "TLS is not built for a cluster yet",
            "remove the tls settings, or use topology = \"standalone\" or \"sentinel\"",
        );
    }
    Ok(())
}

/// `wait_replicas` needs that many replicas: none in the embedded
/// standalone server, `redis.replicas` in the embedded Sentinel set (the
/// user's own servers are theirs to know).
fn replicas_to_wait_for(s: &Scenario) -> Result<()> {
    let wanted = s.strategy.wait_replicas;
    let embedded = match &s.redis.topology {
        _ if wanted == 0 || s.redis.url.is_some() => return Ok(()),
        Topology::Standalone => 0,
        Topology::Sentinel(t) if t.sentinels.is_empty() => t.replicas,
        Topology::Sentinel(_) | Topology::Cluster(_) => return Ok(()),
    };
    if wanted <= embedded {
        return Ok(());
    }
    Err(FieldError::new(
        "strategy.wait_replicas",
        format!("waits for {wanted} replica(s), but the embedded servers have {embedded}: every sale would be unconfirmed"),
        "start more with [redis] topology = \"sentinel\" and replicas = N, or lower wait_replicas",
    )
    .depending_on(&["redis.topology", "redis.replicas"]))
}

/// Longest scenario name: it goes into report folder names (with a time
/// stamp, and a sweep point's fields) that must fit the file system's 255
/// bytes, and into every Redis key.
const MAX_NAME_CHARS: usize = 100;

fn name(name: &str) -> Result<String> {
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            format!("is {length} characters long, more than {MAX_NAME_CHARS}"),
            format!("shorten it to at most {MAX_NAME_CHARS} characters: it names the report folder and the Redis keys"),
        ));
    }
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(FieldError::new(
            "name",
            format!("`{name}` is not a usable name"),
            "use letters, digits, '-', '_' or '.': it names the report folder and the Redis keys",
        ))
    }
}

fn redis(raw: RawRedis) -> Result<RedisSettings> {
    let url = raw
        .url
        .as_ref()
        .map(|u| redis_url("redis.url", u))
        .transpose()?;
    let redlock_urls = raw
        .redlock_urls
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|u| redis_url("redis.redlock_urls", u))
        .collect::<Result<Vec<_>>>()?;
    let key_prefix = raw
        .key_prefix
        .clone()
        .unwrap_or_else(|| "seckill".to_owned());
    let ok = !key_prefix.is_empty()
        && !key_prefix
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '{' | '}'));
    if !ok {
        return Err(FieldError::new(
            "redis.key_prefix",
            format!("`{key_prefix}` is not a usable key prefix"),
            "use a non-empty prefix without spaces or braces; the run adds its own {hash tag}",
        ));
    }
    let persistence = match raw.persistence.as_deref().unwrap_or("none") {
        "none" => Persistence::None,
        "aof-always" => Persistence::AofAlways,
        other => {
            return Err(FieldError::one_of(
                "redis.persistence",
                other,
                &["none", "aof-always"],
            ))
        }
    };
    let rediscover = match raw.rediscover.as_deref().unwrap_or("on-error") {
        "on-error" => Rediscover::OnError,
        "never" => Rediscover::Never,
        other => {
            return Err(FieldError::one_of(
                "redis.rediscover",
                other,
                &["on-error", "never"],
            ))
        }
    };
    let topology = topology(&raw, url.is_some())?;
    let external =
        url.is_some() || matches!(&topology, Topology::Sentinel(s) if !s.sentinels.is_empty());
    let tls = tls(&raw, external)?;
    let server = server(&raw, external)?;
    Ok(RedisSettings {
        url,
        key_prefix,
        redlock_urls,
        timeout: millis("redis.timeout_ms", raw.timeout_ms.unwrap_or(2000), 1)?,
        persistence,
        topology,
        rediscover,
        tls,
        server,
    })
}

/// `redis.server` picks the program the harness starts; the user's own
/// server is what it is (the report names it from `INFO server`), so a
/// value there would choose nothing.
fn server(raw: &RawRedis, external: bool) -> Result<Server> {
    let Some(name) = raw.server.as_deref() else {
        return Ok(Server::default());
    };
    let Some(server) = Server::ALL.into_iter().find(|s| s.name() == name) else {
        let names = Server::ALL.map(Server::name);
        return Err(FieldError::one_of("redis.server", name, &names));
    };
    if external {
        return Err(FieldError::new(
            "redis.server",
            "chooses the server the harness starts; your own server (redis.url, redis.sentinels) is what it is",
            "remove redis.server (the report names your server and its version, from INFO server), or remove redis.url to start an embedded one",
        )
        .depending_on(&["redis.url", "redis.sentinels"]));
    }
    Ok(server)
}

fn topology(raw: &RawRedis, has_url: bool) -> Result<Topology> {
    let sentinel_only = [
        ("redis.replicas", raw.replicas.is_some()),
        ("redis.sentinels", raw.sentinels.is_some()),
        ("redis.master_name", raw.master_name.is_some()),
        (
            "redis.sentinel",
            raw.sentinel.down_after_ms.is_some() || raw.sentinel.failover_timeout_ms.is_some(),
        ),
    ];
    let topology = raw.topology.as_deref().unwrap_or("standalone");
    if raw.seeds.is_some() && (topology != "cluster" || !has_url) {
        return Err(FieldError::new(
            "redis.seeds",
            "lists more seeds of the user's cluster: it needs topology = \"cluster\" and redis.url",
            "set topology = \"cluster\" and url to one node (the first seed), or remove seeds",
        )
        .depending_on(&["redis.topology", "redis.url"]));
    }
    let seeds = raw
        .seeds
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|u| redis_url("redis.seeds", u))
        .collect::<Result<Vec<_>>>()?;
    let cluster_set = raw.cluster.masters.is_some() || raw.cluster.replicas_per_master.is_some();
    if cluster_set && topology != "cluster" {
        return Err(FieldError::new(
            "redis.cluster",
            "is a setting of the cluster topology",
            "add topology = \"cluster\" to [redis], or remove it",
        )
        .depending_on(&["redis.topology"]));
    }
    match topology {
        "cluster" => match sentinel_only.iter().find(|(_, set)| *set) {
            Some((field, _)) => Err(FieldError::new(
                field,
                "is a setting of the sentinel topology",
                "remove it: a cluster fails over by itself",
            )
            .depending_on(&["redis.topology"])),
            None => Ok(Topology::Cluster(ClusterSettings {
                masters: bounded_u32("redis.cluster.masters", raw.cluster.masters.unwrap_or(3), 16)?
                    .get(),
                replicas_per_master: match raw.cluster.replicas_per_master.unwrap_or(1) {
                    n @ 0..=3 => n as u32,
                    n => {
                        return Err(FieldError::new(
                            "redis.cluster.replicas_per_master",
                            format!("{n} is not a replica count"),
                            "use 0 to 3",
                        ))
                    }
                },
                seeds,
            })),
        },
        "standalone" => match sentinel_only.iter().find(|(_, set)| *set) {
            Some((field, _)) => Err(FieldError::new(
                field,
                "is a setting of the sentinel topology",
                "add topology = \"sentinel\" to [redis], or remove it",
            )
            .depending_on(&["redis.topology"])),
            None => Ok(Topology::Standalone),
        },
        "sentinel" if has_url => Err(FieldError::new(
            "redis.url",
            "the sentinel topology finds its primary through Sentinel, not a URL",
            "remove redis.url (and --redis-url); list the sentinels in redis.sentinels, or leave them out to start embedded ones",
        )
        .depending_on(&["redis.topology"])),
        "sentinel" => sentinel(raw).map(Topology::Sentinel),
        other => Err(FieldError::one_of(
            "redis.topology",
            other,
            &["standalone", "sentinel", "cluster"],
        )),
    }
}

fn sentinel(raw: &RawRedis) -> Result<SentinelSettings> {
    let sentinels = raw
        .sentinels
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|u| redis_url("redis.sentinels", u))
        .collect::<Result<Vec<_>>>()?;
    if raw.sentinels.is_some() && sentinels.is_empty() {
        return Err(FieldError::new(
            "redis.sentinels",
            "is empty",
            "list your sentinels, or remove the field to start embedded ones",
        ));
    }
    if !sentinels.is_empty() && raw.master_name.is_none() {
        return Err(FieldError::new(
            "redis.master_name",
            "is missing: your sentinels need the name they monitor the primary by",
            "add master_name = \"mymaster\" (the name in `sentinel monitor`)",
        )
        .depending_on(&["redis.sentinels"]));
    }
    let master_name = raw
        .master_name
        .clone()
        .unwrap_or_else(|| "seckill".to_owned());
    let usable = !master_name.is_empty()
        && master_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !usable {
        return Err(FieldError::new(
            "redis.master_name",
            format!("`{master_name}` is not a usable name"),
            "use letters, digits, '-', '_' or '.', as in `sentinel monitor <name> ...`",
        ));
    }
    Ok(SentinelSettings {
        sentinels,
        master_name,
        replicas: bounded_u32("redis.replicas", raw.replicas.unwrap_or(1), 5)?.get(),
        down_after: millis(
            "redis.sentinel.down_after_ms",
            raw.sentinel.down_after_ms.unwrap_or(1000),
            100,
        )?,
        failover_timeout: millis(
            "redis.sentinel.failover_timeout_ms",
            raw.sentinel.failover_timeout_ms.unwrap_or(5000),
            500,
        )?,
    })
}

fn tls(raw: &RawRedis, external: bool) -> Result<TlsSettings> {
    let embedded = raw.tls.unwrap_or(false);
    if embedded && external {
        return Err(FieldError::new(
            "redis.tls",
            "starts the embedded servers with TLS; your own server decides its TLS itself",
            "remove tls = true and write a rediss:// URL (with tls_ca if its certificate is not publicly trusted)",
        )
        .depending_on(&["redis.url", "redis.sentinels"]));
    }
    let given = [
        ("redis.tls_ca", raw.tls_ca.is_some()),
        ("redis.tls_cert", raw.tls_cert.is_some()),
        ("redis.tls_key", raw.tls_key.is_some()),
        ("redis.tls_insecure", raw.tls_insecure.is_some()),
    ];
    if let Some((field, _)) = given.iter().find(|(_, set)| embedded && *set) {
        // The embedded servers' CA and certificate are generated for the
        // run: a file given here would be silently ignored.
        return Err(FieldError::new(
            field,
            "is for reaching your own server over TLS; with tls = true the embedded servers use a CA and certificate generated for the run",
            format!("remove {field}, or remove tls = true and give your server's rediss:// URL"),
        )
        .depending_on(&["redis.tls"]));
    }
    let path = |p: &Option<String>| p.as_ref().map(std::path::PathBuf::from);
    if raw.tls_cert.is_some() != raw.tls_key.is_some() {
        let field = if raw.tls_cert.is_some() {
            "redis.tls_key"
        } else {
            "redis.tls_cert"
        };
        return Err(FieldError::new(
            field,
            "is missing: a client certificate needs its key, and the key its certificate",
            "give both tls_cert and tls_key, or neither",
        ));
    }
    Ok(TlsSettings {
        embedded,
        ca: path(&raw.tls_ca),
        cert: path(&raw.tls_cert),
        key: path(&raw.tls_key),
        insecure: raw.tls_insecure.unwrap_or(false),
    })
}

fn redis_url(field: &str, raw: &str) -> Result<RedisUrl> {
    let url = RedisUrl(raw.to_owned());
    let parsed = url::Url::parse(raw).ok();
    let scheme_ok = parsed
        .as_ref()
        .is_some_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.host_str().is_some());
    if scheme_ok {
        Ok(url)
    } else {
        Err(FieldError::new(
            field,
            format!("`{}` is not a redis:// or rediss:// URL", url.redacted()),
            "write redis://[user:password@]host:port/db (rediss:// for TLS), or leave it out to start an embedded redis-server",
        ))
    }
}

fn stock(raw: &RawStock) -> Result<StockSettings> {
    if raw.initial < 0 {
        return Err(FieldError::new(
            "stock.initial",
            format!("must be 0 or more, got {}", raw.initial),
            "set the number of units on sale",
        ));
    }
    let segment_pick = match raw.segment_pick.as_deref().unwrap_or("random") {
        "random" => SegmentPick::Random,
        "buyer-hash" => SegmentPick::BuyerHash,
        "client" => SegmentPick::Client,
        other => {
            return Err(FieldError::one_of(
                "stock.segment_pick",
                other,
                &["random", "buyer-hash", "client"],
            ))
        }
    };
    let segment_fallback = match raw.segment_fallback.as_deref().unwrap_or("next") {
        "next" => SegmentFallback::Next,
        "none" => SegmentFallback::None,
        other => {
            return Err(FieldError::one_of(
                "stock.segment_fallback",
                other,
                &["next", "none"],
            ))
        }
    };
    Ok(StockSettings {
        initial: raw.initial as u64,
        quantity: positive_u64("stock.quantity", raw.quantity.unwrap_or(1))?,
        segments: bounded_u32("stock.segments", raw.segments.unwrap_or(1), 64)?,
        segment_pick,
        segment_fallback,
        extra_keys: super::script::extra_keys(raw.extra_keys.as_ref())?,
        key: raw.key.clone(),
    })
}

/// Default cap on arrivals in flight (queued or running), whole run.
const DEFAULT_MAX_IN_FLIGHT: i64 = 10_000;

/// `load.processes`, or when it is left out, the sum of the processes every
/// `[hosts] list` entry gives.
fn total_processes(raw: &RawScenario) -> Result<i64> {
    if let Some(p) = raw.load.processes {
        return Ok(p);
    }
    let list = raw.hosts.as_ref().and_then(|h| h.list.as_deref());
    let given: Option<Vec<i64>> = list
        .filter(|l| !l.is_empty())
        .map(|l| l.iter().map(|e| e.processes).collect())
        .unwrap_or(None);
    given
        .map(|p| p.iter().map(|&n| n.max(0)).fold(0i64, i64::saturating_add))
        .ok_or_else(|| {
            FieldError::new(
                "load.processes",
                "is missing",
                "set load.processes, or give processes for every host of [hosts] list",
            )
        })
}

fn load(raw: &RawLoad, processes: i64) -> Result<LoadSettings> {
    let processes = bounded_u32("load.processes", processes, MAX_PROCESSES)?;
    let clients_per_process = bounded_u32(
        "load.clients_per_process",
        raw.clients_per_process,
        MAX_CLIENTS_PER_PROCESS,
    )?;
    let pace = pace(raw, clients_per_process.get())?;
    let stop = stop_rule(raw, &pace)?;
    Ok(LoadSettings {
        processes,
        clients_per_process,
        stop,
        pace,
        connections: connections(raw)?,
    })
}

/// Connections a pool or a set of shared ones may have per process.
const MAX_POOL_SIZE: i64 = 4096;
/// `pool_timeout_ms`: at most ten minutes.
const MAX_POOL_TIMEOUT_MS: i64 = 600_000;

/// `[load] connections`, `pool_size` (default 8) and `pool_timeout_ms`
/// (default 2000, `pool` only). A size or timeout the model does not use
/// is allowed, so that one sweep can vary both.
fn connections(raw: &RawLoad) -> Result<Connections> {
    let size = match raw.pool_size {
        None => NonZeroU32::new(8).expect("8 is not zero"),
        Some(n) => bounded_u32("load.pool_size", n, MAX_POOL_SIZE)?,
    };
    let word = raw.connections.as_deref().unwrap_or("per-client");
    let timeout = raw.pool_timeout_ms.unwrap_or(2000);
    if !(1..=MAX_POOL_TIMEOUT_MS).contains(&timeout) {
        return Err(FieldError::new(
            "load.pool_timeout_ms",
            format!("must be between 1 and {MAX_POOL_TIMEOUT_MS}, got {timeout}"),
            "set how long a client waits for a pooled connection, in ms (default 2000)",
        ));
    }
    Ok(match word {
        "per-client" => Connections::PerClient,
        "pool" => Connections::Pool {
            size,
            timeout: Duration::from_millis(timeout as u64),
        },
        "shared" => Connections::Shared { size },
        other => {
            return Err(FieldError::one_of(
                "load.connections",
                other,
                &["per-client", "pool", "shared"],
            ))
        }
    })
}

/// What a connection model cannot do: `WATCH` on a shared connection, and
/// a model for the Redis connections of a service the harness only calls.
fn connection_limits(s: &Scenario) -> Result<()> {
    let model = s.load.connections;
    if model == Connections::PerClient {
        return Ok(());
    }
    let refused = |field: &str, what: String, hint: &str| {
        Err(FieldError::new(field, what, hint).depending_on(&["load.connections"]))
    };
    if s.strategy.kind == StrategyKind::Http {
        return refused(
            "load.connections",
            format!("\"{}\" models the Redis connections of purchase code the harness runs; with kind = \"http\" your service holds its own", model.name()),
            "remove it: size your service's own pool, and sweep its instances or clients instead",
        );
    }
    if s.strategy.kind == StrategyKind::Watch && matches!(model, Connections::Shared { .. }) {
        return refused(
            "load.connections",
            "`watch` cannot run on shared connections: WATCH state is per connection, so another client's commands on it would abort or, worse, not abort its transaction (redis-rs issues 565 and 1257)".to_owned(),
            "use connections = \"pool\" (a client holds its connection for the whole purchase) or \"per-client\"",
        );
    }
    Ok(())
}

fn stop_rule(raw: &RawLoad, pace: &Pace) -> Result<StopRule> {
    let purchases_per_client = raw
        .purchases_per_client
        .map(|n| positive_u64("load.purchases_per_client", n))
        .transpose()?;
    let duration = raw
        .duration
        .as_deref()
        .map(|d| positive_duration("load.duration", d))
        .transpose()?;
    let staged = match pace {
        Pace::Closed { clients } => clients.length(),
        Pace::Open { rate, .. } => rate.length(),
    };
    let duration = match (duration, staged) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if purchases_per_client.is_none() && duration.is_none() {
        return Err(FieldError::new(
            "load",
            "no stop rule: neither purchases_per_client, duration nor stages is set",
            "set load.purchases_per_client (e.g. 1) and/or load.duration (e.g. \"30s\")",
        ));
    }
    Ok(StopRule {
        purchases_per_client,
        duration,
    })
}

/// Closed loop unless a rate is given, by `load.rate` or by rate stages.
fn pace(raw: &RawLoad, clients_per_process: u32) -> Result<Pace> {
    let stages = raw.stages.as_deref().unwrap_or_default();
    let stages = stages
        .iter()
        .enumerate()
        .map(|(i, s)| stage(i, s))
        .collect::<Result<Vec<Staged>>>()?;
    let open = raw.rate.is_some() || stages.iter().any(|s| s.rate);
    if let Some(i) = stages.iter().position(|s| s.rate != open) {
        let message = "mixes a client count with a rate: a run is either closed loop (clients) or open loop (rate)";
        return Err(FieldError::new(
            &format!("load.stages[{i}]"),
            message,
            "give every stage the same kind of target",
        )
        .depending_on(&["load.rate"]));
    }
    let ramp = |start: f64| Ramp {
        start,
        stages: stages.iter().map(|s| s.stage).collect(),
    };
    if !open {
        if raw.arrivals.is_some() || raw.max_in_flight.is_some() {
            let field = if raw.arrivals.is_some() {
                "load.arrivals"
            } else {
                "load.max_in_flight"
            };
            return Err(FieldError::new(
                field,
                "applies only to an open-loop run",
                "set load.rate (purchases per second) or remove it",
            )
            .depending_on(&["load.rate", "load.stages"]));
        }
        return Ok(Pace::Closed {
            clients: ramp(f64::from(clients_per_process)),
        });
    }
    let start = raw
        .rate
        .map(|r| positive_rate("load.rate", r))
        .transpose()?
        .unwrap_or(0.0);
    Ok(Pace::Open {
        rate: ramp(start),
        arrivals: arrivals(raw.arrivals.as_deref())?,
        max_in_flight: bounded_u32(
            "load.max_in_flight",
            raw.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            i64::from(u32::MAX),
        )?
        .get(),
    })
}

/// One validated stage and whether its target is a rate.
struct Staged {
    stage: RampStage,
    rate: bool,
}

fn stage(i: usize, raw: &RawStage) -> Result<Staged> {
    let field = |name: &str| format!("load.stages[{i}].{name}");
    let duration = positive_duration(&field("duration"), &raw.duration)?;
    let (target, rate) = match (raw.rate, raw.clients) {
        (Some(r), None) => (non_negative_rate(&field("rate"), r)?, true),
        (None, Some(c)) if (0..=MAX_CLIENTS_PER_PROCESS).contains(&c) => (c as f64, false),
        (None, Some(c)) => {
            let message = format!("must be between 0 and {MAX_CLIENTS_PER_PROCESS}, got {c}");
            return Err(FieldError::new(
                &field("clients"),
                message,
                "set the clients per process at the end of the stage",
            ));
        }
        _ => {
            let message = "needs exactly one target: rate (purchases/s) or clients (per process)";
            return Err(FieldError::new(
                &format!("load.stages[{i}]"),
                message,
                "write e.g. { duration = \"10s\", rate = 5000 }",
            )
            .depending_on(&[&field("rate"), &field("clients")]));
        }
    };
    Ok(Staged {
        stage: RampStage { duration, target },
        rate,
    })
}

fn arrivals(raw: Option<&str>) -> Result<Arrivals> {
    match raw.unwrap_or("fixed") {
        "fixed" => Ok(Arrivals::Fixed),
        "poisson" => Ok(Arrivals::Poisson),
        other => Err(FieldError::one_of(
            "load.arrivals",
            other,
            &["fixed", "poisson"],
        )),
    }
}

fn positive_rate(field: &str, rate: f64) -> Result<f64> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(FieldError::new(
            field,
            format!("must be a positive number of purchases per second, got {rate}"),
            "e.g. rate = 20000",
        ))
    }
}

fn non_negative_rate(field: &str, rate: f64) -> Result<f64> {
    if rate == 0.0 {
        Ok(0.0)
    } else {
        positive_rate(field, rate)
    }
}

fn report(raw: &RawReport) -> Result<ReportSettings> {
    let interval = raw
        .interval
        .as_deref()
        .map(|i| positive_duration("report.interval", i))
        .transpose()?
        .unwrap_or(Duration::from_secs(1));
    if interval < Duration::from_millis(100) {
        let hint = "use at least \"100ms\": shorter intervals hold too few samples";
        return Err(FieldError::new(
            "report.interval",
            "is shorter than 100ms",
            hint,
        ));
    }
    let flush_interval = raw
        .flush_interval
        .as_deref()
        .map(|i| positive_duration("report.flush_interval", i))
        .transpose()?;
    if let Some(flush) = flush_interval {
        if flush < Duration::from_millis(1) || flush > interval.min(Duration::from_secs(1)) {
            return Err(FieldError::new(
                "report.flush_interval",
                format!("{flush:?} is out of range"),
                "use 1ms up to report.interval (and at most 1s); leave it out for 5ms",
            )
            .depending_on(&["report.interval"]));
        }
    }
    let slo = raw
        .slo
        .as_deref()
        .map(|text| {
            Slo::parse(text).map_err(|why| {
                FieldError::new(
                    "report.slo",
                    why,
                    "write it as capacity's --slo is written, e.g. \"p99<50ms\"",
                )
            })
        })
        .transpose()?;
    Ok(ReportSettings {
        interval,
        flush_interval,
        adaptive: raw.interval.is_none(),
        slo,
    })
}

fn strategy(raw: &RawStrategy) -> Result<StrategySettings> {
    let kind = StrategyKind::ALL
        .into_iter()
        .find(|k| k.name() == raw.kind)
        .ok_or_else(|| {
            let known: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
            FieldError::new(
                "strategy.kind",
                format!("unknown strategy `{}`", raw.kind),
                format!("use one of: {}", known.join(", ")),
            )
        })?;
    let stall = Stall {
        duration: millis("strategy.stall_ms", raw.stall_ms.unwrap_or(0), 0)?,
        fraction: fraction("strategy.stall_fraction", raw.stall_fraction.unwrap_or(1.0))?,
    };
    let redlock_nodes = bounded_u32("strategy.redlock_nodes", raw.redlock_nodes.unwrap_or(3), 15)?;
    let wait_replicas = match raw.wait_replicas.unwrap_or(0) {
        n @ 0..=16 => n as u32,
        n => {
            return Err(FieldError::new(
                "strategy.wait_replicas",
                format!("{n} is not a replica count"),
                "use 0 (no WAIT) to 16",
            ))
        }
    };
    Ok(StrategySettings {
        kind,
        lock: lock_params(raw)?,
        stall,
        redlock_nodes: redlock_nodes.get(),
        wait_replicas,
        wait_replicas_timeout: millis(
            "strategy.wait_replicas_timeout_ms",
            raw.wait_replicas_timeout_ms.unwrap_or(500),
            1,
        )?,
        record_orders: record_orders(kind, raw.record_orders.unwrap_or(false))?,
    })
}

/// `record_orders` is the built-in strategies' own code: with the user's
/// script or service, the harness does not write the purchase.
fn record_orders(kind: StrategyKind, record: bool) -> Result<bool> {
    let (what, pass) = match kind {
        StrategyKind::Script => ("script", "pass it with args = [\"{token}\", ...]"),
        StrategyKind::Http => (
            "service",
            "send it with {token} in the url, a header or the body",
        ),
        _ => return Ok(record),
    };
    if !record {
        return Ok(false);
    }
    Err(FieldError::new(
        "strategy.record_orders",
        format!(
            "is for the built-in strategies: with kind = \"{}\" your {what} records its own orders",
            kind.name()
        ),
        format!(
            "remove record_orders; have your {what} record each sale under its purchase id ({pass}) and name that key in [audit] orders, e.g. \"{{run}}:orders\""
        ),
    )
    .depending_on(&["strategy.kind"]))
}

fn lock_params(raw: &RawStrategy) -> Result<LockParams> {
    let backoff = match raw.backoff.as_deref().unwrap_or("fixed") {
        "fixed" => Backoff::Fixed,
        "exponential" => Backoff::Exponential {
            cap: millis(
                "strategy.backoff_cap_ms",
                raw.backoff_cap_ms.unwrap_or(1000),
                1,
            )?,
        },
        other => {
            return Err(FieldError::one_of(
                "strategy.backoff",
                other,
                &["fixed", "exponential"],
            ))
        }
    };
    let on_wait_timeout = match raw.on_wait_timeout.as_deref().unwrap_or("retry") {
        "retry" => OnWaitTimeout::Retry,
        "give_up" => OnWaitTimeout::GiveUp,
        other => {
            return Err(FieldError::one_of(
                "strategy.on_wait_timeout",
                other,
                &["retry", "give_up"],
            ))
        }
    };
    Ok(LockParams {
        ttl: millis("strategy.lock_ttl_ms", raw.lock_ttl_ms.unwrap_or(5000), 1)?,
        wait_timeout: millis(
            "strategy.wait_timeout_ms",
            raw.wait_timeout_ms.unwrap_or(10_000),
            1,
        )?,
        retry_interval: millis(
            "strategy.retry_interval_ms",
            raw.retry_interval_ms.unwrap_or(10),
            0,
        )?,
        backoff,
        jitter: fraction("strategy.jitter", raw.jitter.unwrap_or(0.0))?,
        on_wait_timeout,
    })
}

fn bounded_u32(field: &str, value: i64, max: i64) -> Result<NonZeroU32> {
    if !(1..=max).contains(&value) {
        return Err(FieldError::new(
            field,
            format!("must be between 1 and {max}, got {value}"),
            "set a positive whole number",
        ));
    }
    Ok(NonZeroU32::new(value as u32).expect("checked above"))
}

fn positive_u64(field: &str, value: i64) -> Result<NonZeroU64> {
    u64::try_from(value)
        .ok()
        .and_then(NonZeroU64::new)
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("must be at least 1, got {value}"),
                "set a positive whole number",
            )
        })
}

fn millis(field: &str, value: i64, min: i64) -> Result<Duration> {
    if value < min {
        return Err(FieldError::new(
            field,
            format!("must be at least {min} ms, got {value}"),
            "set a whole number of milliseconds",
        ));
    }
    Ok(Duration::from_millis(value as u64))
}

fn fraction(field: &str, value: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            format!("must be between 0.0 and 1.0, got {value}"),
            "set a share between 0.0 and 1.0, e.g. 0.1 for one in ten",
        ))
    }
}

fn positive_duration(field: &str, text: &str) -> Result<Duration> {
    match parse_duration(text) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(FieldError::new(
            field,
            format!("`{text}` is not a positive duration"),
            "write a number with a unit: \"500ms\", \"30s\", \"2m\", \"1h\"",
        )),
    }
}

fn thresholds(raw: &RawThresholds) -> Result<Thresholds> {
    let count = |field: &str, v: Option<i64>| -> Result<Option<u64>> {
        v.map(|n| {
            u64::try_from(n).map_err(|_| {
                FieldError::new(
                    field,
                    format!("must be 0 or more, got {n}"),
                    "set a whole number",
                )
            })
        })
        .transpose()
    };
    Ok(Thresholds {
        max_oversold: count("thresholds.max_oversold", raw.max_oversold)?.unwrap_or(0),
        min_purchases_per_s: raw
            .min_purchases_per_s
            .map(|r| positive_rate("thresholds.min_purchases_per_s", r))
            .transpose()?,
        max_p99_us: per_phase("thresholds.max_p99_us", raw.max_p99_us.as_ref())?,
        max_p999_us: per_phase("thresholds.max_p999_us", raw.max_p999_us.as_ref())?,
        max_error_rate: raw
            .max_error_rate
            .map(|r| fraction("thresholds.max_error_rate", r))
            .transpose()?,
        max_wait_timeouts: count("thresholds.max_wait_timeouts", raw.max_wait_timeouts)?,
    })
}

/// A bare number limits the purchase phase; a table names phases.
fn per_phase(field: &str, raw: Option<&PerPhase>) -> Result<Vec<(Phase, u64)>> {
    let limits: Vec<(String, i64)> = match raw {
        None => return Ok(Vec::new()),
        Some(PerPhase::Purchase(us)) => vec![("purchase".to_owned(), *us)],
        Some(PerPhase::Phases(table)) => table.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    };
    limits
        .into_iter()
        .map(|(name, us)| {
            let at = format!("{field}.{name}");
            let phase = Phase::named(&name)
                .ok_or_else(|| FieldError::one_of(&at, &name, &Phase::ALL.map(Phase::name)))?;
            let limit = u64::try_from(us).ok().filter(|&u| u > 0).ok_or_else(|| {
                FieldError::new(
                    &at,
                    format!("must be a positive number of microseconds, got {us}"),
                    "e.g. 5000 for 5 ms",
                )
            })?;
            Ok((phase, limit))
        })
        .collect()
}

fn fault(i: usize, raw: &RawFault, scenario: &Scenario) -> Result<Fault> {
    let field = |name: &str| format!("faults[{i}].{name}");
    let at = fault_time(&field("at"), &raw.at)?;
    let duration = |default: u64| -> Result<Duration> {
        raw.duration
            .as_deref()
            .map(|d| positive_duration(&field("duration"), d))
            .transpose()
            .map(|d| d.unwrap_or(Duration::from_millis(default)))
    };
    let action = match raw.kind.as_str() {
        "pause" => FaultAction::Pause {
            target: fault_target(&field("target"), raw.target.as_ref(), scenario)?,
            duration: duration(1000)?,
        },
        "kill" => FaultAction::Kill {
            target: fault_target(&field("target"), raw.target.as_ref(), scenario)?,
        },
        "restart" if scenario.service.is_none() => {
            return Err(FieldError::new(
                &field("kind"),
                "restart stops and starts a [service] instance, and this scenario has no [service]",
                "add a [service], or use kind = \"redis-restart\" to restart the embedded redis-server",
            )
            .depending_on(&["service"]));
        }
        "restart" => FaultAction::Restart {
            target: fault_target(&field("target"), raw.target.as_ref(), scenario)?,
            mode: match raw.mode.as_deref().unwrap_or("crash") {
                "crash" => RestartMode::Crash,
                "graceful" => RestartMode::Graceful,
                other => {
                    return Err(FieldError::one_of(
                        &field("mode"),
                        other,
                        &["crash", "graceful"],
                    ))
                }
            },
            duration: duration(1000)?,
        },
        "latency" | "disconnect"
            if scenario.strategy.kind == StrategyKind::Http && scenario.service.is_none() =>
        {
            return Err(FieldError::new(
                &field("kind"),
                format!("{} acts on the connections between [service] instances and Redis; your own running service's connections do not go through the harness", raw.kind),
                "add a [service] so the harness starts the instances, or remove the fault",
            )
            .depending_on(&["service", "strategy.kind"]));
        }
        "redis-restart" | "latency" | "disconnect"
            if matches!(scenario.redis.topology, Topology::Sentinel(_)) =>
        {
            return Err(FieldError::new(
                &field("kind"),
                format!("{} is not built for the sentinel topology", raw.kind),
                "use kind = \"failover\" to take the primary away, or topology = \"standalone\"",
            )
            .depending_on(&["redis.topology"]));
        }
        "redis-restart" | "latency" | "disconnect"
            if matches!(scenario.redis.topology, Topology::Cluster(_)) =>
        {
            return Err(FieldError::new(
                &field("kind"),
                format!("{} is not built for a cluster: the fault proxy has one upstream and cannot follow MOVED redirects to the other nodes, and the faults must not silently bypass it", raw.kind),
                "remove the fault, or use topology = \"standalone\"",
            )
            .depending_on(&["redis.topology"]));
        }
        "redis-restart" if scenario.redis.url.is_some() => {
            let hint =
                "remove redis.url / --redis-url: the harness restarts only its own embedded server";
            return Err(FieldError::new(
                &field("kind"),
                "redis-restart needs the embedded redis-server",
                hint,
            )
            .depending_on(&["redis.url"]));
        }
        "redis-restart" => FaultAction::RedisRestart {
            downtime: duration(500)?,
        },
        "latency" => FaultAction::Latency {
            delay: millis(&field("delay_ms"), raw.delay_ms.unwrap_or(50), 0)?,
            jitter: millis(&field("jitter_ms"), raw.jitter_ms.unwrap_or(0), 0)?,
            duration: duration(1000)?,
        },
        "disconnect" => FaultAction::Disconnect,
        "failover" => FaultAction::Failover {
            mode: failover_mode(&field, raw, scenario)?,
            segment: failover_segment(&field("target"), raw.target.as_ref(), scenario)?,
        },
        other => {
            return Err(FieldError::one_of(
                &field("kind"),
                other,
                &[
                    "pause",
                    "kill",
                    "restart",
                    "redis-restart",
                    "latency",
                    "disconnect",
                    "failover",
                ],
            ))
        }
    };
    Ok(Fault { at, action })
}

fn failover_mode(
    field: &dyn Fn(&str) -> String,
    raw: &RawFault,
    scenario: &Scenario,
) -> Result<FailoverMode> {
    let embedded = match &scenario.redis.topology {
        Topology::Sentinel(s) => s.sentinels.is_empty(),
        Topology::Cluster(_) => scenario.redis.url.is_none(),
        Topology::Standalone => false,
    };
    if !embedded {
        return Err(FieldError::new(
            &field("kind"),
            "failover needs the embedded sentinel or cluster topology",
            "set [redis] topology = \"sentinel\" (without sentinels) or \"cluster\" (without url): the harness fails over only servers it started",
        )
        .depending_on(&["redis.topology", "redis.sentinels", "redis.url"]));
    }
    let cluster = matches!(scenario.redis.topology, Topology::Cluster(_));
    match raw.mode.as_deref().unwrap_or("crash") {
        "partition" if cluster => Err(FieldError::new(
            &field("mode"),
            "`partition` is not built for a cluster",
            "use \"crash\" or \"graceful\"",
        )),
        "graceful" | "partition" if raw.lag.is_some() => Err(FieldError::new(
            &field("lag"),
            "applies to mode = \"crash\" only",
            "remove it, or use mode = \"crash\"",
        )),
        "graceful" => Ok(FailoverMode::Graceful),
        "crash" => Ok(FailoverMode::Crash {
            lag: raw
                .lag
                .as_deref()
                .map(|l| positive_duration(&field("lag"), l))
                .transpose()?
                .unwrap_or(Duration::from_millis(200)),
        }),
        "partition" => Ok(FailoverMode::Partition),
        other => Err(FieldError::one_of(
            &field("mode"),
            other,
            &["graceful", "crash", "partition"],
        )),
    }
}

/// A cluster failover's target: `"segment-N"`, the master of stock segment
/// N (default `segment-0`); a Sentinel failover has one primary, no target.
fn failover_segment(field: &str, raw: Option<&RawTarget>, scenario: &Scenario) -> Result<u32> {
    let segments = scenario.stock.segments.get();
    let cluster = matches!(scenario.redis.topology, Topology::Cluster(_));
    match raw {
        None => Ok(0),
        Some(_) if !cluster => Err(FieldError::new(
            field,
            "a Sentinel set has one primary to fail over: no target",
            "remove target",
        )),
        Some(RawTarget::Named(name)) => name
            .strip_prefix("segment-")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n < segments)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!(
                        "`{name}` is not a segment of this run (segments 0..{})",
                        segments - 1
                    ),
                    "write target = \"segment-N\" with N below stock.segments",
                )
                .depending_on(&["stock.segments"])
            }),
        Some(RawTarget::Worker(_)) => Err(FieldError::new(
            field,
            "a failover targets a stock segment's master, not a worker",
            "write target = \"segment-0\"",
        )),
    }
}

/// `"2s"` after the start, or `"after 50 sales"`.
fn fault_time(field: &str, text: &str) -> Result<FaultTime> {
    let sales = text
        .strip_prefix("after ")
        .and_then(|rest| {
            rest.strip_suffix(" sales")
                .or_else(|| rest.strip_suffix(" sale"))
        })
        .and_then(|n| n.trim().parse::<u64>().ok());
    if let Some(n) = sales {
        return Ok(FaultTime::AfterSales(n));
    }
    match parse_duration(text) {
        Some(d) => Ok(FaultTime::After(d)),
        None => Err(FieldError::new(
            field,
            format!("`{text}` is neither a time nor a sales count"),
            "write a time since the start (\"2s\") or \"after 50 sales\"",
        )),
    }
}

fn fault_target(field: &str, raw: Option<&RawTarget>, scenario: &Scenario) -> Result<FaultTarget> {
    let service = scenario.service.as_ref();
    let (count, what, limit) = match service {
        Some(s) => (i64::from(s.instances), "instance", "service.instances"),
        None => (
            i64::from(scenario.load.processes.get()),
            "worker",
            "load.processes",
        ),
    };
    match raw {
        None => Ok(FaultTarget::Random),
        Some(RawTarget::Named(n)) if n == "lock-holder" => {
            if scenario.strategy.kind == StrategyKind::Http && service.is_none() {
                return Err(FieldError::new(
                    field,
                    "the lock holder is found inside the harness's own purchases, or in [service] instances; your own running service's lock is out of its sight",
                    "add a [service] so the harness starts the instances, or target a worker",
                )
                .depending_on(&["service"]));
            }
            Ok(FaultTarget::LockHolder)
        }
        Some(RawTarget::Named(n)) if n == "random" => Ok(FaultTarget::Random),
        Some(RawTarget::Named(n)) if n == "busy" && service.is_some() => Ok(FaultTarget::Busy),
        Some(RawTarget::Worker(w)) if (0..count).contains(w) => Ok(FaultTarget::Worker(*w as u32)),
        Some(RawTarget::Worker(w)) => Err(FieldError::new(
            field,
            format!("{what} {w} does not exist ({what}s 0..{})", count - 1),
            format!("give a {what} index below {limit}"),
        )
        .depending_on(&[limit])),
        Some(RawTarget::Named(n)) => Err(FieldError::one_of(
            field,
            n,
            match service {
                Some(_) => &["lock-holder", "busy", "random", "<instance index>"],
                None => &["lock-holder", "random", "<worker index>"],
            },
        )),
    }
}
