//! An embedded Redis Cluster: `masters` masters and `replicas_per_master`
//! replicas each, throwaway redis-servers (or valkey-servers: the same
//! cluster protocol) with `cluster-enabled yes` on
//! free loopback ports. Formed with `CLUSTER ADDSLOTSRANGE` (the 16384
//! slots split evenly), `CLUSTER MEET` and `CLUSTER REPLICATE`, and waited
//! for until every node knows every other, says `cluster_state:ok`, and
//! every replica's link is up. Stopped together when dropped, on every exit
//! path.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::conn::{query_once, Discovery, Endpoint};
use crate::scenario::{ClusterSettings, Server};
use crate::topology::redis_server::{RedisServer, Role, ServerOptions};

/// Slots in a Redis Cluster.
const SLOTS: u32 = 16384;
/// How long forming the cluster may take.
const FORM_WITHIN: Duration = Duration::from_secs(30);
/// Per command on a node.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// `cluster-node-timeout`: how long a master may be unreachable before
/// the others consider it failed.
const NODE_TIMEOUT_MS: u64 = 2000;

pub struct ClusterSet {
    /// Masters first, then the replicas of master 0, of master 1, ...
    nodes: Vec<RedisServer>,
    masters: usize,
    /// Nodes crashed by a fault (not restarted).
    dead: Vec<bool>,
    server: Server,
}

impl ClusterSet {
    /// Starts and forms a cluster of redis-servers.
    ///
    /// # Errors
    /// When a node cannot be started or the cluster does not form in time.
    pub async fn start(settings: &ClusterSettings) -> anyhow::Result<ClusterSet> {
        ClusterSet::start_on(Server::Redis, settings).await
    }

    /// Starts and forms a cluster of `server`'s program.
    ///
    /// # Errors
    /// When a node cannot be started or the cluster does not form in time.
    pub async fn start_on(
        server: Server,
        settings: &ClusterSettings,
    ) -> anyhow::Result<ClusterSet> {
        let masters = settings.masters as usize;
        let total = masters * (1 + settings.replicas_per_master as usize);
        let options = ServerOptions {
            server,
            role: Role::ClusterNode {
                node_timeout_ms: NODE_TIMEOUT_MS,
            },
            ..ServerOptions::default()
        };
        let mut nodes = Vec::with_capacity(total);
        for _ in 0..total {
            nodes.push(RedisServer::start_with(
                Duration::from_secs(10),
                options.clone(),
            )?);
        }
        let set = ClusterSet {
            dead: vec![false; nodes.len()],
            nodes,
            masters,
            server,
        };
        set.form(settings.replicas_per_master as usize).await?;
        Ok(set)
    }

    /// How workers reach the cluster: every master is a seed.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            discovery: Discovery::Cluster(
                self.nodes[..self.masters]
                    .iter()
                    .map(RedisServer::url)
                    .collect(),
            ),
            tls: None,
        }
    }

    pub fn describe(&self) -> String {
        let ports: Vec<String> = self.nodes.iter().map(|n| n.port().to_string()).collect();
        let kind = match self.server {
            Server::Redis => "Redis",
            Server::Valkey => "Valkey",
        };
        format!(
            "embedded {kind} Cluster of {} master(s) and {} replica(s) on 127.0.0.1:{}",
            self.masters,
            self.nodes.len() - self.masters,
            ports.join(",")
        )
    }

    /// The live master serving `key`: the one that does not answer MOVED.
    ///
    /// # Errors
    /// When no master answers for it.
    pub async fn owner_of(&self, key: &str) -> anyhow::Result<u16> {
        for (i, master) in self.nodes.iter().enumerate() {
            if self.dead.get(i).copied().unwrap_or(false) || !self.is_master(master).await {
                continue;
            }
            let exists: anyhow::Result<u64> =
                self.query(master, redis::cmd("EXISTS").arg(key)).await;
            if exists.is_ok() {
                return Ok(master.port());
            }
        }
        bail!("no master answers for {key}")
    }

    async fn is_master(&self, node: &RedisServer) -> bool {
        let role: anyhow::Result<Vec<redis::Value>> = self.query(node, &redis::cmd("ROLE")).await;
        matches!(role.as_deref(), Ok([redis::Value::BulkString(r), ..]) if r.as_slice() == b"master")
    }

    /// A live replica of the master on `port`, as started.
    pub fn replica_of(&self, port: u16) -> Option<u16> {
        let master = self.nodes[..self.masters]
            .iter()
            .position(|n| n.port() == port)?;
        let per = (self.nodes.len() - self.masters) / self.masters;
        let first = self.masters + master * per;
        (first..first + per)
            .find(|&i| !self.dead[i])
            .map(|i| self.nodes[i].port())
    }

    fn node(&self, port: u16) -> anyhow::Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .context("no embedded cluster node on that port")
    }

    /// Reads `key` on the node on `port`.
    ///
    /// # Errors
    /// When the node does not answer (or does not serve the key).
    pub async fn get(&self, port: u16, key: &str) -> anyhow::Result<Option<i64>> {
        let node = &self.nodes[self.node(port)?];
        self.query(node, redis::cmd("GET").arg(key)).await
    }

    /// Freezes the replica on `replica` (SIGSTOP) and cuts its link on the
    /// master on `master`.
    ///
    /// # Errors
    /// When the master does not take the `CLIENT KILL`.
    pub async fn cut(&self, master: u16, replica: u16) -> anyhow::Result<()> {
        self.nodes[self.node(replica)?].signal(libc::SIGSTOP);
        let kill = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("replica")
            .clone();
        let _: u64 = self.query(&self.nodes[self.node(master)?], &kill).await?;
        Ok(())
    }

    /// SIGKILLs the node on `port`.
    ///
    /// # Errors
    /// When no node listens there.
    pub fn crash(&mut self, port: u16) -> anyhow::Result<()> {
        let i = self.node(port)?;
        self.nodes[i].crash();
        self.dead[i] = true;
        Ok(())
    }

    /// Resumes every node (SIGCONT; harmless on a running one).
    pub fn resume_all(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            if !self.dead[i] {
                node.signal(libc::SIGCONT);
            }
        }
    }

    /// `CLUSTER FAILOVER` (or `... TAKEOVER`, without the master's
    /// agreement) on the replica on `port`.
    ///
    /// # Errors
    /// When the replica refuses.
    pub async fn failover(&self, port: u16, takeover: bool) -> anyhow::Result<()> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("FAILOVER");
        if takeover {
            cmd.arg("TAKEOVER");
        }
        self.query(&self.nodes[self.node(port)?], &cmd).await
    }

    /// Whether the node on `port` is a master and its cluster is ok.
    pub async fn promoted(&self, port: u16) -> bool {
        let Ok(i) = self.node(port) else {
            return false;
        };
        let node = &self.nodes[i];
        let ok: anyhow::Result<String> = self.query(node, redis::cmd("CLUSTER").arg("INFO")).await;
        self.is_master(node).await && ok.is_ok_and(|info| info.contains("cluster_state:ok"))
    }

    /// After the load: nothing stays frozen, and every live node says
    /// `cluster_state:ok` (up to `within`), so the audit reads the
    /// segments where they now live.
    ///
    /// # Errors
    /// When the cluster is not ok in time.
    pub async fn settle(&self, within: Duration) -> anyhow::Result<()> {
        self.resume_all();
        let until = Instant::now() + within;
        loop {
            let mut ok = true;
            for (i, node) in self.nodes.iter().enumerate() {
                if self.dead[i] {
                    continue;
                }
                let info: anyhow::Result<String> =
                    self.query(node, redis::cmd("CLUSTER").arg("INFO")).await;
                ok &= info.is_ok_and(|info| info.contains("cluster_state:ok"));
            }
            if ok {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("the cluster was not ok within {within:?} of the end");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        node: &RedisServer,
        cmd: &redis::Cmd,
    ) -> anyhow::Result<T> {
        query_once(&self.endpoint(), &node.url(), cmd, QUERY_TIMEOUT).await
    }

    async fn form(&self, replicas_per_master: usize) -> anyhow::Result<()> {
        for (i, master) in self.nodes[..self.masters].iter().enumerate() {
            let (first, last) = slot_range(i as u32, self.masters as u32);
            let add = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .clone();
            let () = self.query(master, &add).await.context("assigning slots")?;
        }
        for node in &self.nodes[1..] {
            let meet = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port())
                .clone();
            let () = self
                .query(&self.nodes[0], &meet)
                .await
                .context("CLUSTER MEET")?;
        }
        self.wait_until("every node knows every other", |set| set.all_known())
            .await?;
        for (i, replica) in self.nodes[self.masters..].iter().enumerate() {
            let master = &self.nodes[i / replicas_per_master.max(1)];
            let id: String = self
                .query(master, redis::cmd("CLUSTER").arg("MYID"))
                .await?;
            let replicate = redis::cmd("CLUSTER").arg("REPLICATE").arg(id).clone();
            let () = self
                .query(replica, &replicate)
                .await
                .context("CLUSTER REPLICATE")?;
        }
        self.wait_until("cluster_state:ok, every replica in sync", |set| set.ready())
            .await
    }

    async fn wait_until<'a, F, Fut>(&'a self, what: &str, check: F) -> anyhow::Result<()>
    where
        F: Fn(&'a ClusterSet) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let until = Instant::now() + FORM_WITHIN;
        let mut last = String::new();
        while Instant::now() < until {
            match check(self).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = format!(" (last: {e:#})"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the embedded cluster did not reach \"{what}\" within {FORM_WITHIN:?}{last}")
    }

    async fn all_known(&self) -> anyhow::Result<bool> {
        for node in &self.nodes {
            let nodes: String = self.query(node, redis::cmd("CLUSTER").arg("NODES")).await?;
            let known = nodes.lines().filter(|l| !l.contains("handshake")).count();
            if known < self.nodes.len() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn ready(&self) -> anyhow::Result<bool> {
        for node in &self.nodes {
            let info: String = self.query(node, redis::cmd("CLUSTER").arg("INFO")).await?;
            if !info.contains("cluster_state:ok") {
                return Ok(false);
            }
        }
        for replica in &self.nodes[self.masters..] {
            let info: String = self
                .query(replica, redis::cmd("INFO").arg("replication"))
                .await?;
            if !info.contains("master_link_status:up") {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Master `i` of `n`: an even share of the slots, the last taking the rest.
fn slot_range(i: u32, n: u32) -> (u32, u32) {
    let share = SLOTS / n;
    let first = i * share;
    let last = if i + 1 == n {
        SLOTS - 1
    } else {
        first + share - 1
    };
    (first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_split_evenly_and_completely() {
        assert_eq!(slot_range(0, 3), (0, 5460));
        assert_eq!(slot_range(1, 3), (5461, 10921));
        assert_eq!(slot_range(2, 3), (10922, 16383));
        assert_eq!(slot_range(0, 1), (0, 16383));
    }
}
