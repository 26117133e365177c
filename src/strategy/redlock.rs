//! Redlock (redis.io "Distributed Locks with Redis"): the lock is taken on a
//! majority of N independent servers, each with `SET lock <token> NX PX
//! ttl`; it counts only if the quorum N/2+1 answered and time is left of the
//! TTL after subtracting the time spent and a clock-drift allowance
//! (1% of the TTL + 2 ms). Otherwise, and on release, every node is sent
//! the token-checked delete. The stock lives on the separate main server.
//!
//! Written here rather than taken from a crate: the maintained one (rslock)
//! runs its own retry loop and connections, so the shared lock parameters
//! and per-attempt counters could not apply, and it pulls in a TLS stack.

use std::time::{Duration, Instant};

use super::lock::{set_nx_px_into, taken, LockProtocol, Release};
use super::{Client, Context};
use crate::scenario::StrategySettings;

pub struct Redlock {
    pub settings: StrategySettings,
    release: Release,
}

impl Redlock {
    pub fn new(settings: StrategySettings) -> Redlock {
        Redlock {
            settings,
            release: Release::new(),
        }
    }

    async fn release_all(&self, client: &mut Client, ctx: &Context<'_>, token: u64) {
        for node in client.lock_nodes.iter_mut().flatten() {
            self.release.run(node, &ctx.keys.lock, token).await;
        }
    }
}

/// A lock server's failure as the purchase's error: a client error, not an
/// I/O error, so the buyer does not reconnect its healthy main connection.
fn lock_node_failed(detail: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "too few redlock lock servers answered for a quorum",
        detail.to_owned(),
    ))
}

/// Votes needed of `nodes` servers, counting unreachable ones.
pub fn quorum(nodes: usize) -> usize {
    nodes / 2 + 1
}

/// The clock-drift allowance of the Redlock description.
fn drift(ttl: Duration) -> Duration {
    ttl / 100 + Duration::from_millis(2)
}

impl LockProtocol for Redlock {
    type Guard = u64;

    fn settings(&self) -> &StrategySettings {
        &self.settings
    }

    /// A node that fails (down, refusing) is a vote not won; the lock
    /// still holds with a quorum of the others, which is what Redlock is
    /// for, and a node that says "taken" is contention, to wait out. Only
    /// when failed nodes leave too few to ever reach a quorum is it the
    /// purchase's error, not a silent lost vote: a run against dead lock
    /// servers fails loudly instead of retrying forever.
    async fn try_acquire(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
    ) -> redis::RedisResult<Option<u64>> {
        let token = client.next_token();
        let ttl = self.settings.lock.ttl;
        let started = Instant::now();
        let (mut votes, mut busy) = (0, 0);
        let mut failure = None;
        set_nx_px_into(&mut client.scratch, &ctx.keys.lock, token, ttl);
        for node in client.lock_nodes.iter_mut() {
            let Some(node) = node else {
                failure.get_or_insert_with(|| lock_node_failed("unreachable since the start"));
                continue;
            };
            match taken(&client.scratch, node).await {
                Ok(true) => votes += 1,
                Ok(false) => busy += 1,
                Err(e) => failure = Some(lock_node_failed(&e.to_string())),
            }
        }
        let valid = started.elapsed() + drift(ttl) < ttl;
        let quorum = quorum(client.lock_nodes.len());
        if votes >= quorum && valid {
            return Ok(Some(token));
        }
        self.release_all(client, ctx, token).await;
        match failure {
            Some(e) if votes + busy < quorum => Err(e),
            _ => Ok(None),
        }
    }

    async fn release(&self, client: &mut Client, ctx: &Context<'_>, token: Option<u64>) {
        if let Some(token) = token {
            self.release_all(client, ctx, token).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_strict_majority() {
        assert_eq!([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
    }

    #[test]
    fn drift_allowance_is_one_percent_plus_two_ms() {
        assert_eq!(
            drift(Duration::from_millis(1000)),
            Duration::from_millis(12)
        );
    }
}
