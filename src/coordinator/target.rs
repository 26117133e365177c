//! The Redis a run talks to: an embedded throwaway server, an embedded
//! primary with replicas and sentinels, or the user's own (a URL or
//! sentinels), plus the coordinator's own control connection for setting
//! up, reading and cleaning up the run's keys. Embedded servers run the
//! scenario's `redis.server` program (redis-server or valkey-server); what
//! answered is read from `INFO server` and named in the report. The
//! control connection always follows the primary through Sentinel, whatever
//! the workers' `rediscover` policy: the audit must read the stock where it
//! now lives. Touches no key outside the run's prefix.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use redis::AsyncCommands;

use crate::conn::{host_port, Conn, Connector, Discovery, Endpoint, Rediscover, TlsFiles};
use crate::keys::{Keys, Segments};
use crate::scenario::{RedisSettings, RedisUrl, Server, Topology};
use crate::topology::certs::RunCertificates;
use crate::topology::cluster_set::ClusterSet;
use crate::topology::redis_server::{self, RedisServer, ServerOptions};
use crate::topology::sentinel_set::SentinelSet;
use crate::topology::version::ServerVersion;

/// How long a server may take to answer before the run gives up (exit 4).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Target {
    /// Kept alive for the run; dropping them stops the servers. The first
    /// is the main server in the standalone topology; the rest (or all,
    /// with Sentinel) are redlock lock servers.
    embedded: Vec<RedisServer>,
    /// The embedded primary, replicas and sentinels.
    pub sentinel_set: Option<SentinelSet>,
    /// The embedded cluster: its nodes live as long as the target.
    pub cluster_set: Option<ClusterSet>,
    endpoint: Endpoint,
    /// `redlock` lock servers, passwords included.
    lock_urls: Vec<String>,
    /// For output: never contains a password.
    pub description: String,
    /// How the primary names itself (`INFO server`); `None` when it would
    /// not say (an ACL user without INFO).
    pub server: Option<ServerVersion>,
    /// What the target was opened for: a sweep point asking for other
    /// servers needs a target of its own.
    settings: RedisSettings,
    control: Control,
}

/// Which server process answered, and for how long it had been up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub run_id: String,
    pub uptime_s: u64,
}

/// Reads the stock on a connection of its own (see `readings.rs`).
pub struct StockReader {
    control: Control,
    /// Not a cluster: one node holds every segment, and it must say it is
    /// the primary when it answers.
    one_node: bool,
}

impl StockReader {
    /// The whole stock, as [`Target::stock`]; `None` as well when the node
    /// that answered was not the primary then (a replica mid-failover
    /// answers a stale stock the history would take for units come back).
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn stock(&mut self, segments: &Segments) -> anyhow::Result<Option<i64>> {
        if !self.one_node {
            let mut stocks = Vec::with_capacity(segments.len());
            for keys in &segments.keys {
                stocks.push(
                    self.control
                        .query(redis::cmd("GET").arg(&keys.stock))
                        .await?,
                );
            }
            return Ok(total(&stocks));
        }
        // The reads, then ROLE, in one round trip on one connection.
        let mut pipe = redis::pipe();
        for keys in &segments.keys {
            pipe.cmd("GET").arg(&keys.stock);
        }
        pipe.cmd("ROLE");
        let mut replies: Vec<redis::Value> = match pipe.query_async(&mut self.control.conn).await {
            Ok(replies) => replies,
            Err(e) => {
                if retry_elsewhere(&e) {
                    self.control.conn = self.control.connector.reconnect().await?;
                }
                return Err(e.into());
            }
        };
        let role = replies.pop();
        let primary = matches!(&role, Some(redis::Value::Array(fields))
            if matches!(fields.first(), Some(redis::Value::BulkString(r)) if r.as_slice() == b"master"));
        if !primary {
            return Ok(None);
        }
        let stocks: Vec<Option<i64>> = replies
            .into_iter()
            .map(|v| redis::from_redis_value(v).ok().flatten())
            .collect();
        Ok(total(&stocks))
    }
}

/// The coordinator's connection to the primary.
struct Control {
    connector: Connector,
    conn: Conn,
}

impl Control {
    async fn open(endpoint: &Endpoint) -> anyhow::Result<Control> {
        let connector = Connector::control(endpoint, CONNECT_TIMEOUT)?;
        let mut conn = connector.connect().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(Control { connector, conn })
    }

    /// Runs `cmd`; after a lost connection or a demoted primary, finds the
    /// primary again and runs it once more.
    async fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match cmd.query_async(&mut self.conn).await {
            Err(e) if retry_elsewhere(&e) => {
                self.conn = self.connector.reconnect().await?;
                cmd.query_async(&mut self.conn).await
            }
            done => done,
        }
    }
}

fn retry_elsewhere(e: &redis::RedisError) -> bool {
    use crate::outcome::{ErrorKind, Outcome};
    Outcome::Error(ErrorKind::of(e)).lost_connection()
}

/// Where the run's primary is, and the embedded servers behind it.
struct Primary {
    endpoint: Endpoint,
    /// For output: never contains a password.
    description: String,
    server: Option<RedisServer>,
    sentinel_set: Option<SentinelSet>,
    cluster_set: Option<ClusterSet>,
}

impl Primary {
    /// The user's URL or sentinels, or embedded servers started now.
    async fn open(
        settings: &RedisSettings,
        certs: Option<Arc<RunCertificates>>,
    ) -> anyhow::Result<Primary> {
        let user = |discovery: Discovery| -> anyhow::Result<Primary> {
            let endpoint = Endpoint {
                discovery,
                tls: user_tls(settings)?,
            };
            let description = endpoint.describe();
            Ok(Primary {
                endpoint,
                description,
                server: None,
                sentinel_set: None,
                cluster_set: None,
            })
        };
        let insecure = |url: &RedisUrl| insecure(url.expose(), settings.tls.insecure);
        match (&settings.topology, &settings.url) {
            (Topology::Standalone, Some(url)) => user(Discovery::Direct(insecure(url))),
            (Topology::Sentinel(s), _) if !s.sentinels.is_empty() => user(Discovery::Sentinel {
                sentinels: s.sentinels.iter().map(insecure).collect(),
                master_name: s.master_name.clone(),
            }),
            (Topology::Standalone, None) => {
                let options = ServerOptions {
                    server: settings.server,
                    persistence: settings.persistence,
                    tls: certs.clone(),
                    ..ServerOptions::default()
                };
                let main = RedisServer::start_with(Duration::from_secs(5), options)?;
                let tls = if certs.is_some() { " over TLS" } else { "" };
                let binary = redis_server::binary_name(settings.server);
                Ok(Primary {
                    description: format!("embedded {binary} on 127.0.0.1:{}{tls}", main.port()),
                    endpoint: Endpoint {
                        discovery: Discovery::Direct(main.url()),
                        tls: certs.as_ref().map(|c| c.client_files()),
                    },
                    server: Some(main),
                    sentinel_set: None,
                    cluster_set: None,
                })
            }
            (Topology::Sentinel(s), _) => {
                let set = SentinelSet::start_on(settings.server, s, certs).await?;
                Ok(Primary {
                    endpoint: set.endpoint(),
                    description: set.describe(),
                    server: None,
                    sentinel_set: Some(set),
                    cluster_set: None,
                })
            }
            (Topology::Cluster(c), Some(url)) => {
                let seeds = std::iter::once(url).chain(&c.seeds);
                user(Discovery::Cluster(
                    seeds.map(|u| u.expose().to_owned()).collect(),
                ))
            }
            (Topology::Cluster(c), None) => {
                let set = ClusterSet::start_on(settings.server, c).await?;
                Ok(Primary {
                    endpoint: set.endpoint(),
                    description: set.describe(),
                    server: None,
                    sentinel_set: None,
                    cluster_set: Some(set),
                })
            }
        }
    }
}

impl Target {
    /// Opens the user's Redis, or starts the embedded servers plus
    /// `lock_nodes` embedded lock servers for `redlock`.
    ///
    /// # Errors
    /// When a server cannot be started, a TLS file read, or the primary
    /// reached within [`CONNECT_TIMEOUT`].
    pub async fn open(settings: &RedisSettings, lock_nodes: u32) -> anyhow::Result<Target> {
        let certs = match settings.tls.embedded {
            true => Some(Arc::new(RunCertificates::generate()?)),
            false => None,
        };
        let Primary {
            endpoint,
            description,
            server,
            sentinel_set,
            cluster_set,
        } = Primary::open(settings, certs.clone()).await?;
        let own_primary = server.is_some() || sentinel_set.is_some() || cluster_set.is_some();
        let mut embedded: Vec<RedisServer> = server.into_iter().collect();
        let lock_urls: Vec<String> = if !settings.redlock_urls.is_empty() {
            let urls = settings.redlock_urls.iter();
            urls.map(|u| u.expose().to_owned()).collect()
        } else {
            let options = ServerOptions {
                server: settings.server,
                tls: certs,
                ..ServerOptions::default()
            };
            let first = embedded.len();
            for _ in 0..lock_nodes {
                let server = RedisServer::start_with(Duration::from_secs(5), options.clone())?;
                embedded.push(server);
            }
            embedded[first..].iter().map(RedisServer::url).collect()
        };
        let mut control = Control::open(&endpoint)
            .await
            .map_err(|e| unreachable(e, &endpoint, &description))?;
        if lock_nodes > 0 {
            check_lock_servers(&endpoint, &lock_urls).await?;
        }
        let server = server_version(&mut control, &endpoint).await;
        let target = Target {
            embedded,
            sentinel_set,
            cluster_set,
            endpoint,
            lock_urls,
            description,
            server,
            settings: settings.clone(),
            control,
        };
        // Not with the user's primary: embedded redlock servers beside it
        // do not make it ours.
        if own_primary {
            target.check_program(settings.server)?;
        }
        Ok(target)
    }

    /// The embedded servers run the program asked for: a binary named by
    /// `SECKILL_VALKEY_SERVER` (or found on PATH) that is really another
    /// server would otherwise be measured and reported under the wrong name.
    fn check_program(&self, server: Server) -> anyhow::Result<()> {
        match &self.server {
            Some(version) if !version.is(server) => bail!(
                "redis.server = \"{}\", but the embedded server says it is {version}: {} is not a {}\n  what to do: point {} at a {} binary, or set redis.server = \"{}\"",
                server.name(),
                redis_server::find_binary(server)
                    .map_or_else(|_| "the binary".to_owned(), |p| p.display().to_string()),
                redis_server::binary_name(server),
                redis_server::env_var(server),
                redis_server::binary_name(server),
                version.name
            ),
            _ => Ok(()),
        }
    }

    /// Whether this target is the one `settings` ask for (a sweep over
    /// `redis.server` needs another).
    pub fn serves(&self, settings: &RedisSettings) -> bool {
        self.settings == *settings
    }

    /// The embedded standalone server (`redis-restart`).
    fn main_server(&mut self) -> anyhow::Result<&mut RedisServer> {
        match self.sentinel_set {
            None => self
                .embedded
                .first_mut()
                .context("no embedded redis-server to restart"),
            Some(_) => bail!(
                "redis-restart restarts a standalone server; use a failover fault with Sentinel"
            ),
        }
    }

    /// Crashes the embedded main server (`redis-restart`): SIGKILL.
    ///
    /// # Errors
    /// Without an embedded server.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        self.main_server()?.crash();
        Ok(())
    }

    /// Starts the crashed server again on its port, and reconnects.
    ///
    /// # Errors
    /// When it does not come back.
    pub async fn revive(&mut self) -> anyhow::Result<()> {
        self.main_server()?.revive()?;
        self.control = Control::open(&self.endpoint).await?;
        Ok(())
    }

    /// The server's `run_id` and `uptime_in_seconds` (INFO server): the
    /// same run_id at the end means the server kept running through the
    /// run, so a key that vanished was deleted, not lost to a restart.
    /// `None` on a cluster (INFO reaches one node) or when INFO fails.
    pub async fn identity(&mut self) -> Option<Identity> {
        if self.is_cluster() {
            return None;
        }
        let info: String = self
            .control
            .query(redis::cmd("INFO").arg("server"))
            .await
            .ok()?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        Some(Identity {
            run_id: field("run_id")?.to_owned(),
            uptime_s: field("uptime_in_seconds")?.parse().ok()?,
        })
    }

    /// Whether the run's Redis is its own throwaway, not the user's.
    pub fn is_embedded(&self) -> bool {
        !self.embedded.is_empty() || self.sentinel_set.is_some() || self.cluster_set.is_some()
    }

    pub fn lock_urls(&self) -> &[String] {
        &self.lock_urls
    }

    /// The fixed URL of a standalone target (for the fault proxy); `None`
    /// with Sentinel.
    pub fn direct_url(&self) -> Option<&str> {
        match &self.endpoint.discovery {
            Discovery::Direct(url) => Some(url),
            Discovery::Sentinel { .. } | Discovery::Cluster(_) => None,
        }
    }

    /// How workers reach the primary, passwords included: for the pipe only.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// After the load, before the audit reads the stock: with the embedded
    /// Sentinel set, nothing stays frozen or paused, every sentinel names
    /// the same primary, and the control connection is on it. A client or
    /// a stale sentinel may still point at a demoted primary that keeps
    /// answering; the audit must not read the stock there.
    ///
    /// # Errors
    /// When the sentinels do not agree within the failover timeout: where
    /// the stock lives is then unknown.
    pub async fn settle(&mut self, scenario: &crate::scenario::Scenario) -> anyhow::Result<()> {
        if let Some(cluster) = &self.cluster_set {
            cluster.settle(Duration::from_secs(10)).await?;
            self.control.conn = self.control.connector.reconnect().await?;
            return Ok(());
        }
        let Topology::Sentinel(s) = &scenario.redis.topology else {
            return Ok(());
        };
        let Some(set) = &self.sentinel_set else {
            // The user's sentinels: ask them afresh where the primary is
            // (redis-rs checks with ROLE that it is one) and read there.
            self.control.conn = self.control.connector.reconnect().await?;
            return Ok(());
        };
        set.settle().await;
        let Some(port) = set.wait_agreement(s.failover_timeout).await else {
            bail!(
                "the sentinels did not agree on a primary within {:?}",
                s.failover_timeout
            );
        };
        self.control.conn = self.control.connector.reconnect().await?;
        let on = self.control.conn.primary().to_owned();
        if !on.ends_with(&format!(":{port}")) {
            bail!("the control connection reached {on}, not the primary 127.0.0.1:{port} the sentinels agree on");
        }
        Ok(())
    }

    /// Whether each run needs a target of its own: a failover leaves the
    /// embedded set with a new primary and one node fewer.
    pub fn single_use(faults: &[crate::scenario::Fault]) -> bool {
        faults
            .iter()
            .any(|f| matches!(f.action, crate::scenario::FaultAction::Failover { .. }))
    }

    /// One command on the control connection (found again once after a
    /// lost connection or a demoted primary).
    pub(super) async fn query<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        self.control.query(cmd).await
    }

    /// A connection to one cluster node (`host:port`), with the seeds'
    /// credentials, for what must run on the node that owns a slot.
    ///
    /// # Errors
    /// When the node cannot be reached.
    pub(super) async fn node(&self, node: &str) -> anyhow::Result<Conn> {
        let Discovery::Cluster(seeds) = &self.endpoint.discovery else {
            bail!("not a cluster");
        };
        let mut url = url::Url::parse(seeds.first().context("a cluster without seeds")?)?;
        let (host, port) = node.rsplit_once(':').context("a node is host:port")?;
        url.set_host(Some(host))?;
        let _ = url.set_port(Some(port.parse()?));
        connect(&self.endpoint, url.as_str()).await
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.endpoint.discovery, Discovery::Cluster(_))
    }

    /// The run's stock segments: one key set per segment, each with its
    /// own hash tag; on a cluster, tags are salted until each segment's
    /// slot is on a master no other segment uses (while there are masters
    /// left), checked with `CLUSTER KEYSLOT` against `CLUSTER SLOTS`.
    ///
    /// # Errors
    /// When the cluster cannot be asked.
    pub async fn segments(
        &mut self,
        key_prefix: &str,
        run_id: &str,
        stock: &crate::scenario::StockSettings,
    ) -> anyhow::Result<(Segments, Vec<Placement>)> {
        let n = stock.segments.get() as usize;
        let owners = match self.endpoint.discovery {
            Discovery::Cluster(_) => Some(self.slot_owners().await?),
            _ => None,
        };
        let mut keys = Vec::with_capacity(n);
        let mut placed = Vec::with_capacity(n);
        for index in 0..n {
            let (segment, place) = self
                .place(key_prefix, run_id, (index, n), owners.as_deref(), &placed)
                .await?;
            keys.push(segment);
            placed.push(place);
        }
        // `[stock] key`: the exact key the user's own service reads.
        if let (Some(key), Some(first)) = (&stock.key, keys.first_mut()) {
            first.stock = key.clone();
        }
        Ok((Segments::new(keys, stock.initial), placed))
    }

    async fn place(
        &mut self,
        key_prefix: &str,
        run_id: &str,
        (index, n): (usize, usize),
        owners: Option<&[(u16, u16, String)]>,
        placed: &[Placement],
    ) -> anyhow::Result<(Keys, Placement)> {
        let Some(owners) = owners else {
            let keys = Keys::for_run(key_prefix, &Keys::segment_tag(run_id, index, n, 0));
            let node = self.description.clone();
            return Ok((keys, Placement { slot: None, node }));
        };
        let masters: std::collections::BTreeSet<&str> =
            owners.iter().map(|(_, _, node)| node.as_str()).collect();
        let mut fallback = None;
        for salt in 0..1000 {
            let keys = Keys::for_run(key_prefix, &Keys::segment_tag(run_id, index, n, salt));
            let slot: u16 = self
                .control
                .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(&keys.stock))
                .await?;
            let node = owners
                .iter()
                .find(|(first, last, _)| (*first..=*last).contains(&slot))
                .map_or_else(|| "(no master)".to_owned(), |(_, _, node)| node.clone());
            // The least loaded master: distinct masters while there are
            // enough, then evenly spread.
            let load = |m: &str| placed.iter().filter(|p| p.node == m).count();
            let least = masters.iter().map(|m| load(m)).min().unwrap_or(0);
            let fits = load(&node) == least;
            let place = Placement {
                slot: Some(slot),
                node,
            };
            if fits {
                return Ok((keys, place));
            }
            fallback.get_or_insert((keys, place));
        }
        Ok(fallback.expect("at least one salt was tried"))
    }

    /// `(first slot, last slot, master host:port)` from `CLUSTER SLOTS`.
    async fn slot_owners(&mut self) -> anyhow::Result<Vec<(u16, u16, String)>> {
        let ranges: Vec<redis::Value> = self
            .control
            .query(redis::cmd("CLUSTER").arg("SLOTS"))
            .await
            .context("reading the cluster's slots")?;
        // Each range: [first, last, [host, port, id, ...], replicas...].
        let value = |v: &redis::Value| -> anyhow::Result<String> {
            Ok(redis::from_redis_value::<String>(v.clone())?)
        };
        let mut owners = Vec::new();
        for range in ranges {
            let entry: Vec<redis::Value> = redis::from_redis_value(range)?;
            let [first, last, master, ..] = entry.as_slice() else {
                bail!("an unexpected CLUSTER SLOTS reply");
            };
            let master: Vec<redis::Value> = redis::from_redis_value(master.clone())?;
            let [host, port, ..] = master.as_slice() else {
                bail!("an unexpected CLUSTER SLOTS reply");
            };
            let node = format!("{}:{}", value(host)?, value(port)?);
            owners.push((value(first)?.parse()?, value(last)?.parse()?, node));
        }
        Ok(owners)
    }

    /// Refuses to start when any of the run's keys exists, then sets every
    /// segment's stock.
    ///
    /// # Errors
    /// When a key exists or Redis fails.
    pub async fn prepare(&mut self, segments: &Segments) -> anyhow::Result<()> {
        for (keys, &initial) in segments.keys.iter().zip(&segments.initial) {
            self.prepare_segment(keys, initial).await?;
        }
        // Every embedded replica has the stock before the load starts, so
        // a failover cannot promote one that never saw it.
        if let Some(replicas) = self.sentinel_set.as_ref().map(SentinelSet::replicas) {
            let acked: usize = self
                .control
                .query(redis::cmd("WAIT").arg(replicas).arg(2000))
                .await
                .with_context(|| self.setting_up())?;
            if acked < replicas {
                bail!("only {acked} of {replicas} replica(s) had the stock within 2 s");
            }
        }
        Ok(())
    }

    fn setting_up(&self) -> String {
        format!("setting up the stock on Redis at {}", self.description)
    }

    async fn prepare_segment(&mut self, keys: &Keys, initial: u64) -> anyhow::Result<()> {
        let existing: u64 = self
            .control
            .query(redis::cmd("EXISTS").arg(&keys.all()[..]))
            .await
            .map_err(|e| permission(e, &keys.prefix))
            .with_context(|| self.setting_up())?;
        if existing > 0 && !keys.stock.starts_with(&keys.prefix) {
            let mine: u64 = self
                .control
                .query(redis::cmd("EXISTS").arg(&keys.stock))
                .await
                .with_context(|| self.setting_up())?;
            if mine > 0 {
                bail!(
                    "the stock key {} (stock.key) already exists; refusing to touch it: the run sets it, and deletes it at the end (delete it yourself first, or name another key)",
                    keys.stock
                );
            }
        }
        if existing > 0 {
            bail!(
                "keys under {} already exist; refusing to touch them (pick another redis.key_prefix)",
                keys.prefix
            );
        }
        let set: bool = self
            .control
            .query(redis::cmd("SETNX").arg(&keys.stock).arg(initial))
            .await
            .map_err(|e| permission(e, &keys.prefix))
            .with_context(|| self.setting_up())?;
        if !set {
            bail!("{} appeared while preparing the run", keys.stock);
        }
        Ok(())
    }

    /// Each segment's stock as Redis reports it now; `None` for a key that
    /// is gone.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn stocks(&mut self, segments: &Segments) -> anyhow::Result<Vec<Option<i64>>> {
        let mut stocks = Vec::with_capacity(segments.len());
        for keys in &segments.keys {
            stocks.push(
                self.control
                    .query(redis::cmd("GET").arg(&keys.stock))
                    .await?,
            );
        }
        Ok(stocks)
    }

    /// A connection of its own for the history's stock readings.
    ///
    /// # Errors
    /// When the primary cannot be reached.
    pub async fn stock_reader(&self) -> anyhow::Result<StockReader> {
        Ok(StockReader {
            control: Control::open(&self.endpoint).await?,
            one_node: !matches!(self.endpoint.discovery, crate::conn::Discovery::Cluster(_)),
        })
    }

    /// The whole stock: the sum of the segments; `None` when any is gone.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn stock(&mut self, segments: &Segments) -> anyhow::Result<Option<i64>> {
        Ok(total(&self.stocks(segments).await?))
    }

    /// Deletes the run's keys, on the lock servers too; best effort, so a
    /// failing Redis at the end does not hide the run's result. Returns the
    /// keys it could not delete.
    pub async fn cleanup(&mut self, segments: &Segments) -> Vec<String> {
        let mut left = Vec::new();
        for keys in &segments.keys {
            let deleted: redis::RedisResult<u64> = self
                .control
                .query(redis::cmd("DEL").arg(&keys.all()[..]))
                .await;
            if deleted.is_err() {
                let on = |k: &&str| format!("{k} on {}", self.description);
                left.extend(keys.all().iter().map(on));
            }
            for url in &self.lock_urls {
                let deleted = match connect(&self.endpoint, url).await {
                    Ok(mut conn) => conn.del::<_, u64>(&keys.lock).await.is_ok(),
                    Err(_) => false,
                };
                if !deleted {
                    left.push(format!("{} on lock server {}", keys.lock, host_port(url)));
                }
            }
        }
        left
    }
}

/// Where a segment's stock lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Its cluster slot; `None` outside a cluster.
    pub slot: Option<u16>,
    /// The master serving that slot, or the target's description.
    pub node: String,
}

/// How the primary names itself, from `INFO server`; on a cluster, asked of
/// the first seed (redis-rs sends INFO on a cluster connection to several
/// nodes). `None` when the server will not say.
async fn server_version(control: &mut Control, endpoint: &Endpoint) -> Option<ServerVersion> {
    let info = redis::cmd("INFO").arg("server").clone();
    let text: String = match &endpoint.discovery {
        Discovery::Cluster(seeds) => {
            crate::conn::query_once(endpoint, seeds.first()?, &info, CONNECT_TIMEOUT)
                .await
                .ok()?
        }
        Discovery::Direct(_) | Discovery::Sentinel { .. } => control.query(&info).await.ok()?,
    };
    ServerVersion::from_info(&text)
}

/// The sum of the segments' stock; `None` when any key is gone.
pub fn total(stocks: &[Option<i64>]) -> Option<i64> {
    stocks.iter().copied().sum()
}

/// Reaches every redlock lock server at once, so a dead one fails the run
/// at the start (within [`CONNECT_TIMEOUT`]) instead of turning every lock
/// attempt into a lost vote.
///
/// # Errors
/// Naming the first server that cannot be reached, without its password.
async fn check_lock_servers(endpoint: &Endpoint, urls: &[String]) -> anyhow::Result<()> {
    let mut checks = tokio::task::JoinSet::new();
    for url in urls {
        let url = url.clone();
        let endpoint = endpoint.clone();
        checks.spawn(async move {
            connect(&endpoint, &url)
                .await
                .map_err(|e| (host_port(&url), e))
        });
    }
    while let Some(done) = checks.join_next().await {
        if let Ok(Err((server, e))) = done {
            anyhow::bail!(
                "cannot reach the redlock lock server {server}: {}",
                e.root_cause()
            );
        }
    }
    Ok(())
}

/// One connection to a fixed server (a lock server), with the run's TLS.
async fn connect(endpoint: &Endpoint, url: &str) -> anyhow::Result<Conn> {
    let connector = Connector::new(
        &endpoint.with_url(url.to_owned()),
        CONNECT_TIMEOUT,
        Rediscover::Never,
    )?;
    let mut conn = connector.connect().await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(conn)
}

/// The scenario's certificate files, read now: a missing one fails the
/// run before any load.
fn user_tls(settings: &RedisSettings) -> anyhow::Result<Option<TlsFiles>> {
    let t = &settings.tls;
    if t.ca.is_none() && t.cert.is_none() {
        return Ok(None);
    }
    // A missing or unreadable file is bad input (exit 2), not a failing
    // environment.
    let read = |field: &str, path: &Option<std::path::PathBuf>| -> anyhow::Result<Option<String>> {
        path.as_ref()
            .map(|p| {
                crate::util::bounded_read::read_string(p, crate::util::bounded_read::CERTIFICATE).map_err(|e| {
                    crate::error::Error::Usage(format!(
                        "field `redis.{field}`: cannot read {}: {e}\n  what to do: give the path of a PEM file, relative to the working directory",
                        p.display()
                    ))
                    .into()
                })
            })
            .transpose()
    };
    Ok(Some(TlsFiles {
        ca: read("tls_ca", &t.ca)?,
        cert: read("tls_cert", &t.cert)?,
        key: read("tls_key", &t.key)?,
    }))
}

/// `rediss://...#insecure` when certificates are not to be checked.
fn insecure(url: &str, insecure: bool) -> String {
    if insecure && url.starts_with("rediss://") && !url.contains('#') {
        format!("{url}#insecure")
    } else {
        url.to_owned()
    }
}

/// Why the primary could not be reached, with a hint when TLS is the
/// likely cause (a plain client on a TLS port sees only a closed
/// connection).
fn unreachable(e: anyhow::Error, endpoint: &Endpoint, description: &str) -> anyhow::Error {
    let plain = match &endpoint.discovery {
        Discovery::Direct(url) => url.starts_with("redis://"),
        Discovery::Sentinel {
            sentinels: urls, ..
        }
        | Discovery::Cluster(urls) => urls.iter().all(|u| u.starts_with("redis://")),
    };
    let io = e
        .downcast_ref::<redis::RedisError>()
        .is_some_and(|r| r.is_io_error() || r.is_connection_dropped() || r.is_timeout());
    let hint = match (plain, io) {
        (true, true) => " (if the server only speaks TLS, a plain redis:// client is dropped like this: use rediss://)",
        (false, _) => " (over TLS: check the server's certificate against redis.tls_ca, or the port)",
        _ => "",
    };
    e.context(format!("cannot reach Redis at {description}{hint}"))
}

/// A `NOPERM` reply, in words: the user may not touch the run's keys.
fn permission(e: redis::RedisError, prefix: &str) -> anyhow::Error {
    if e.code() == Some("NOPERM") {
        anyhow::anyhow!(
            "permission denied (NOPERM) for the Redis user: {e}; grant it the run's keys (~{prefix}*) and the commands of the strategy, or use another user"
        )
    } else {
        e.into()
    }
}
