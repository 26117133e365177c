//! An embedded Redis Cluster: `masters` masters and `replicas_per_master`
//! replicas each, throwaway redis-servers with `cluster-enabled yes` on
//! free loopback ports. Formed with `CLUSTER ADDSLOTSRANGE` (the 16384
//! slots split evenly), `CLUSTER MEET` and `CLUSTER REPLICATE`, and waited
//! for until every node knows every other, says `cluster_state:ok`, and
//! every replica's link is up. Stopped together when dropped, on every exit
//! path.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::conn::{query_once, Discovery, Endpoint};
use crate::redis_server::{RedisServer, Role, ServerOptions};
use crate::scenario::ClusterSettings;

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
}

impl ClusterSet {
    /// Starts and forms the cluster.
    ///
    /// # Errors
    /// When a node cannot be started or the cluster does not form in time.
    pub async fn start(settings: &ClusterSettings) -> anyhow::Result<ClusterSet> {
        let masters = settings.masters as usize;
        let total = masters * (1 + settings.replicas_per_master as usize);
        let options = ServerOptions {
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
        let set = ClusterSet { nodes, masters };
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
        format!(
            "embedded Redis Cluster of {} master(s) and {} replica(s) on 127.0.0.1:{}",
            self.masters,
            self.nodes.len() - self.masters,
            ports.join(",")
        )
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
