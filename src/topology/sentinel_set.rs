//! An embedded replicated Redis: one primary, its replicas and three
//! sentinels, all throwaway redis-servers (or valkey-servers, sentinels
//! included: `valkey-server --sentinel`) on free loopback ports (TLS when
//! asked), started together, waited for until every sentinel agrees on the
//! primary, knows the replicas and the other sentinels, and every replica's
//! link is up; stopped together when dropped, on every exit path.
//!
//! Also the moves a `failover` fault makes on them, each one short so the
//! coordinator goes on reading its workers in between: freezing and
//! resuming replicas, cutting their links, crashing the primary, pausing its
//! writes, asking Sentinel to fail over, and asking who the primary is now.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::conn::{Discovery, Endpoint};
use crate::scenario::{SentinelSettings, Server};
use crate::topology::certs::RunCertificates;
use crate::topology::redis_server::{RedisServer, Role, ServerOptions};

/// Sentinels started: the smallest set with a majority that survives one.
const SENTINELS: usize = 3;
/// How long the whole set may take to agree at the start.
const AGREE_WITHIN: Duration = Duration::from_secs(20);
/// Per command on a node or sentinel.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a graceful failover waits, writes paused, for the replicas to
/// have everything (milliseconds on loopback); the coordinator reads no
/// worker meanwhile.
const SYNC_WITHIN: Duration = Duration::from_secs(1);

pub struct SentinelSet {
    pub master_name: String,
    /// Data nodes; the first one started as the primary.
    nodes: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
    /// Nodes crashed by a fault (not restarted).
    dead: Vec<bool>,
    certs: Option<Arc<RunCertificates>>,
    /// Of [`CLIENT_USER`]: the clients' and the harness's login.
    password: String,
}

/// The run's passwords, made for it and never shown.
struct Passwords {
    repl: String,
    client: String,
}

impl SentinelSet {
    /// Starts a set of redis-servers and waits until it agrees.
    ///
    /// # Errors
    /// When a server cannot be started, or the set does not agree in time.
    pub async fn start(
        settings: &SentinelSettings,
        certs: Option<Arc<RunCertificates>>,
    ) -> anyhow::Result<SentinelSet> {
        SentinelSet::start_on(Server::Redis, settings, certs).await
    }

    /// Starts a set of `server`'s program, sentinels included, and waits
    /// until it agrees.
    ///
    /// # Errors
    /// When a server cannot be started, or the set does not agree in time.
    pub async fn start_on(
        server: Server,
        settings: &SentinelSettings,
        certs: Option<Arc<RunCertificates>>,
    ) -> anyhow::Result<SentinelSet> {
        let deadline = Duration::from_secs(10);
        let passwords = Passwords {
            repl: format!("{:032x}", fastrand::u128(..)),
            client: format!("{:032x}", fastrand::u128(..)),
        };
        let node = |role, conf| ServerOptions {
            server,
            role,
            tls: certs.clone(),
            conf: Some(conf),
            ..ServerOptions::default()
        };
        let data = data_conf(&passwords);
        let primary = RedisServer::start_with(deadline, node(Role::Primary, data.clone()))?;
        let of = primary.port();
        let mut nodes = vec![primary];
        for _ in 0..settings.replicas {
            let replica = node(Role::Replica { of }, data.clone());
            nodes.push(RedisServer::start_with(deadline, replica)?);
        }
        let conf = sentinel_conf(settings, of, &passwords);
        let mut sentinels = Vec::with_capacity(SENTINELS);
        for _ in 0..SENTINELS {
            let sentinel = node(Role::Sentinel, conf.clone());
            sentinels.push(RedisServer::start_with(deadline, sentinel)?);
        }
        let set = SentinelSet {
            master_name: settings.master_name.clone(),
            dead: vec![false; nodes.len()],
            nodes,
            sentinels,
            certs,
            password: passwords.client,
        };
        set.agree(settings.replicas as usize).await?;
        Ok(set)
    }

    /// `url` with the clients' user and password.
    fn login(&self, url: &str) -> String {
        url.replacen("://", &format!("://{CLIENT_USER}:{}@", self.password), 1)
    }

    /// Live replicas (all but the primary, when none was crashed).
    pub fn replicas(&self) -> usize {
        self.dead.iter().filter(|d| !**d).count() - 1
    }

    /// How workers find the primary: through these sentinels.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            discovery: Discovery::Sentinel {
                sentinels: self
                    .sentinels
                    .iter()
                    .map(|s| self.login(&s.url()))
                    .collect(),
                master_name: self.master_name.clone(),
            },
            tls: self.certs.as_ref().map(|c| c.client_files()),
        }
    }

    pub fn describe(&self) -> String {
        let ports: Vec<String> = self.nodes.iter().map(|n| n.port().to_string()).collect();
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| s.port().to_string())
            .collect();
        let tls = if self.certs.is_some() {
            " over TLS"
        } else {
            ""
        };
        format!(
            "embedded primary and {} replica(s) on 127.0.0.1:{} with sentinels on {}{tls}",
            self.nodes.len() - 1,
            ports.join(","),
            sentinels.join(",")
        )
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        url: String,
        cmd: &redis::Cmd,
    ) -> anyhow::Result<T> {
        crate::conn::query_once(&self.endpoint(), &url, cmd, QUERY_TIMEOUT).await
    }

    /// The primary's port as the first answering sentinel reports it.
    ///
    /// # Errors
    /// When no sentinel answers.
    pub async fn primary_port(&self) -> anyhow::Result<u16> {
        let mut last = None;
        for sentinel in &self.sentinels {
            match self.named_by(sentinel).await {
                Ok(port) => return Ok(port),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no sentinel")))
    }

    /// The primary's port as `sentinel` names it.
    async fn named_by(&self, sentinel: &RedisServer) -> anyhow::Result<u16> {
        let ask = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master_name)
            .clone();
        let (_, port): (String, u16) = self.query(self.login(&sentinel.url()), &ask).await?;
        Ok(port)
    }

    /// The primary's port when every sentinel names the same one; `None`
    /// while they disagree (a failover still spreading) or one is silent.
    /// Clients ask whichever sentinel answers first, so only then is every
    /// client sure to find the new primary.
    pub async fn agreed_primary(&self) -> Option<u16> {
        let mut agreed = None;
        for sentinel in &self.sentinels {
            let port = self.named_by(sentinel).await.ok()?;
            if agreed.is_some_and(|p| p != port) {
                return None;
            }
            agreed = Some(port);
        }
        agreed
    }

    /// Waits up to `within` for every sentinel to name the same primary,
    /// and that primary to be up and a primary (not the crashed one they
    /// still name while a failover is under way).
    pub async fn wait_agreement(&self, within: Duration) -> Option<u16> {
        let until = Instant::now() + within;
        loop {
            if let Some(port) = self.agreed_primary().await {
                if self.is_primary(port).await {
                    return Some(port);
                }
            }
            if Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn is_primary(&self, port: u16) -> bool {
        self.role(port).await.as_deref() == Some("master")
    }

    /// `master` or `slave` as the node on `port` says; `None` when it does
    /// not answer.
    pub async fn role(&self, port: u16) -> Option<String> {
        let url = self.url_of(port).ok()?;
        let role: Vec<redis::Value> = self.query(url, &redis::cmd("ROLE")).await.ok()?;
        match role.first()? {
            redis::Value::BulkString(r) => Some(String::from_utf8_lossy(r).into_owned()),
            redis::Value::SimpleString(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Ports of the sentinels in TILT mode now (`sentinel_tilt:1` in their
    /// `INFO sentinel`): their timer ran irregularly (a loaded machine), and
    /// they act on nothing for 30 s.
    pub async fn tilted(&self) -> Vec<u16> {
        let mut tilted = Vec::new();
        for sentinel in &self.sentinels {
            let info: anyhow::Result<String> = self
                .query(
                    self.login(&sentinel.url()),
                    redis::cmd("INFO").arg("sentinel"),
                )
                .await;
            if info.is_ok_and(|i| i.lines().any(|l| l.trim() == "sentinel_tilt:1")) {
                tilted.push(sentinel.port());
            }
        }
        tilted
    }

    /// Cuts the node on `port` off from its replicas and the sentinels,
    /// which log in as their own user: switches that user off there and
    /// drops its connections. Clients (the `default` user) still reach it.
    ///
    /// # Errors
    /// When the node does not answer.
    pub async fn partition(&self, port: u16) -> anyhow::Result<u64> {
        let url = self.url_of(port)?;
        let off = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(REPL_USER)
            .arg("off")
            .clone();
        let _: () = self.query(url.clone(), &off).await?;
        let kill = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(REPL_USER)
            .clone();
        self.query(url, &kill).await
    }

    /// Ends a partition of the node on `port`.
    ///
    /// # Errors
    /// When the node does not answer.
    pub async fn heal(&self, port: u16) -> anyhow::Result<()> {
        let url = self.url_of(port)?;
        let on = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(REPL_USER)
            .arg("on")
            .clone();
        let () = self.query(url.clone(), &on).await?;
        // A sentinel whose login was refused keeps that connection, as the
        // (switched off) default user, for at least 15 s before it tries
        // again; the old primary would stay unseen, and undemoted, that
        // long. Dropping those connections makes it log in now. Clients
        // log in as their own user and are not touched.
        let refused = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg("default")
            .clone();
        let _: u64 = self.query(url, &refused).await?;
        Ok(())
    }

    fn node(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port() == port)
    }

    /// Live nodes other than the one on `primary`.
    fn replicas_of(&self, primary: u16) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.dead[i] && self.nodes[i].port() != primary)
            .collect()
    }

    async fn agree(&self, replicas: usize) -> anyhow::Result<()> {
        let until = Instant::now() + AGREE_WITHIN;
        let mut last = String::from("no answer yet");
        while Instant::now() < until {
            match self.disagreement(replicas).await {
                Ok(None) => return Ok(()),
                Ok(Some(why)) => last = why,
                Err(e) => last = format!("{:#}", e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the embedded sentinels did not agree within {AGREE_WITHIN:?}: {}",
            crate::util::redact::redact(&last)
        )
    }

    /// `None` once every sentinel names the first node as primary and sees
    /// every replica and the other sentinels, and every replica is in sync.
    async fn disagreement(&self, replicas: usize) -> anyhow::Result<Option<String>> {
        let primary = self.nodes[0].port();
        for sentinel in &self.sentinels {
            let url = self.login(&sentinel.url());
            let name = &self.master_name;
            let ask = |what: &str| redis::cmd("SENTINEL").arg(what).arg(name).clone();
            let (_, port): (String, u16) = self
                .query(url.clone(), &ask("get-master-addr-by-name"))
                .await?;
            if port != primary {
                return Ok(Some(format!("a sentinel names port {port} as primary")));
            }
            let seen: Vec<redis::Value> = self.query(url.clone(), &ask("replicas")).await?;
            let others: Vec<redis::Value> = self.query(url, &ask("sentinels")).await?;
            if seen.len() < replicas || others.len() < SENTINELS - 1 {
                return Ok(Some(format!(
                    "a sentinel sees {} replica(s) and {} other sentinel(s)",
                    seen.len(),
                    others.len()
                )));
            }
        }
        for replica in &self.nodes[1..] {
            let info: String = self
                .query(
                    self.login(&replica.url()),
                    redis::cmd("INFO").arg("replication"),
                )
                .await?;
            if !info.contains("master_link_status:up") {
                return Ok(Some(format!(
                    "replica {} is not in sync yet",
                    replica.port()
                )));
            }
        }
        Ok(None)
    }

    /// Freezes every replica of `primary` (SIGSTOP) and cuts their links
    /// on the primary; returns how many.
    ///
    /// # Errors
    /// When the primary does not take the `CLIENT KILL`.
    pub async fn freeze_replicas(&self, primary: u16) -> anyhow::Result<usize> {
        let replicas = self.replicas_of(primary);
        for &i in &replicas {
            self.nodes[i].signal(libc::SIGSTOP);
        }
        let url = self.url_of(primary)?;
        let _: u64 = self
            .query(
                url,
                redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica"),
            )
            .await?;
        Ok(replicas.len())
    }

    /// Resumes every frozen replica (SIGCONT; harmless on a running one).
    pub fn resume_replicas(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            if !self.dead[i] {
                node.signal(libc::SIGCONT);
            }
        }
    }

    /// After the load: no node stays frozen, paused or partitioned by an
    /// unfinished failover, so the audit can read and the cleanup delete.
    pub async fn settle(&self) {
        self.resume_replicas();
        for (i, node) in self.nodes.iter().enumerate() {
            if !self.dead[i] {
                let unpause = redis::cmd("CLIENT").arg("UNPAUSE").clone();
                let _: anyhow::Result<()> = self.query(self.login(&node.url()), &unpause).await;
                let _ = self.heal(node.port()).await;
            }
        }
    }

    /// SIGKILLs the node on `port`.
    ///
    /// # Errors
    /// When no node listens there.
    pub fn crash(&mut self, port: u16) -> anyhow::Result<()> {
        let i = self.node(port).context("no embedded node on that port")?;
        self.nodes[i].crash();
        self.dead[i] = true;
        Ok(())
    }

    fn url_of(&self, port: u16) -> anyhow::Result<String> {
        let i = self.node(port).context("no embedded node on that port")?;
        Ok(self.login(&self.nodes[i].url()))
    }

    /// Reads a key on the node on `port`.
    ///
    /// # Errors
    /// When the node does not answer.
    pub async fn get(&self, port: u16, key: &str) -> anyhow::Result<Option<i64>> {
        self.query(self.url_of(port)?, redis::cmd("GET").arg(key))
            .await
    }

    /// Pauses writes on `primary` for at most `pause` (a safety net: the
    /// failover lifts it as soon as it is done), and waits up to
    /// [`SYNC_WITHIN`] until every replica has all it wrote.
    ///
    /// # Errors
    /// When the replicas do not catch up in time.
    pub async fn pause_and_sync(&self, primary: u16, pause: Duration) -> anyhow::Result<()> {
        let url = self.url_of(primary)?;
        let ms = pause.as_millis() as u64;
        let _: () = self
            .query(
                url.clone(),
                redis::cmd("CLIENT").arg("PAUSE").arg(ms).arg("WRITE"),
            )
            .await?;
        let until = Instant::now() + SYNC_WITHIN;
        while Instant::now() < until {
            let info: String = self
                .query(url.clone(), redis::cmd("INFO").arg("replication"))
                .await?;
            if replicas_caught_up(&info) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!("the replicas did not catch up within {SYNC_WITHIN:?}")
    }

    /// Drops every client of the node on `port` (not replicas, not
    /// sentinels) and lifts a write pause; returns how many were dropped.
    ///
    /// # Errors
    /// When the node does not answer.
    pub async fn drop_clients_and_unpause(&self, port: u16) -> anyhow::Result<u64> {
        let url = self.url_of(port)?;
        // Kill first, so the writes held by the pause die with their
        // connections instead of running on the old primary; unpause
        // whatever happened.
        let kill = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .clone();
        let dropped: anyhow::Result<u64> = self.query(url.clone(), &kill).await;
        let unpause = redis::cmd("CLIENT").arg("UNPAUSE").clone();
        let unpaused: anyhow::Result<()> = self.query(url, &unpause).await;
        let dropped = dropped?;
        unpaused?;
        Ok(dropped)
    }

    /// `SENTINEL FAILOVER` on the first sentinel that takes it.
    ///
    /// # Errors
    /// When none does.
    pub async fn sentinel_failover(&self) -> anyhow::Result<()> {
        let mut last = None;
        for sentinel in &self.sentinels {
            let cmd = redis::cmd("SENTINEL")
                .arg("FAILOVER")
                .arg(&self.master_name)
                .clone();
            match self.query::<()>(self.login(&sentinel.url()), &cmd).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no sentinel")))
    }
}

/// Every `slaveN:...,offset=X,...` line has the primary's
/// `master_repl_offset`.
fn replicas_caught_up(info: &str) -> bool {
    let field = |line: &str, key: &str| -> Option<u64> {
        line.split([',', ':'])
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    let Some(primary) = info
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return false;
    };
    info.lines()
        .filter(|l| l.starts_with("slave"))
        .all(|l| field(l, "offset=") == Some(primary))
}

/// The user replicas and sentinels log in as, apart from the clients': a
/// `partition` fault cuts the primary off from them alone by switching it
/// off there. The default user is off on the data nodes, so a refused
/// login does not fall back to it.
const REPL_USER: &str = "seckill-repl";
/// The user clients and the harness log in as, on nodes and sentinels, and
/// sentinels with each other (their default user is off too).
const CLIENT_USER: &str = "seckill";

fn data_conf(p: &Passwords) -> String {
    format!(
        "user default off\n\
         user {REPL_USER} on >{} ~* &* +@all\n\
         user {CLIENT_USER} on >{} ~* &* +@all\n\
         masteruser {REPL_USER}\n\
         masterauth {}\n",
        p.repl, p.client, p.repl
    )
}

fn sentinel_conf(settings: &SentinelSettings, primary: u16, p: &Passwords) -> String {
    let name = &settings.master_name;
    format!(
        "user default off\n\
         user {CLIENT_USER} on >{} ~* &* +@all\n\
         sentinel sentinel-user {CLIENT_USER}\n\
         sentinel sentinel-pass {}\n\
         sentinel monitor {name} 127.0.0.1 {primary} 2\n\
         sentinel auth-user {name} {REPL_USER}\n\
         sentinel auth-pass {name} {}\n\
         sentinel down-after-milliseconds {name} {}\n\
         sentinel failover-timeout {name} {}\n\
         sentinel parallel-syncs {name} 1\n",
        p.client,
        p.client,
        p.repl,
        settings.down_after.as_millis(),
        settings.failover_timeout.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_catch_up_when_every_offset_matches() {
        let info = "role:master\nconnected_slaves:2\n\
            slave0:ip=127.0.0.1,port=1,state=online,offset=120,lag=0\n\
            slave1:ip=127.0.0.1,port=2,state=online,offset=100,lag=0\n\
            master_repl_offset:120\n";
        assert!(!replicas_caught_up(info));
        assert!(replicas_caught_up(
            &info.replace("offset=100", "offset=120")
        ));
        assert!(!replicas_caught_up("role:master\n"));
    }
}
