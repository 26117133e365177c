//! The Redis a run talks to: an embedded throwaway server or the user's URL,
//! plus the coordinator's own control connection for setting up, reading
//! and cleaning up the run's keys. Touches no key outside the run's prefix.

use std::time::Duration;

use anyhow::{bail, Context};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

use crate::keys::Keys;
use crate::redis_server::RedisServer;
use crate::scenario::RedisSettings;

/// How long a server may take to answer before the run gives up (exit 4).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Target {
    /// Kept alive for the run; dropping them stops the servers.
    embedded: Vec<RedisServer>,
    url: String,
    /// `redlock` lock servers, passwords included.
    lock_urls: Vec<String>,
    /// For output: never contains a password.
    pub description: String,
    control: MultiplexedConnection,
}

impl Target {
    /// Opens the user's Redis, or starts an embedded one plus `lock_nodes`
    /// embedded lock servers for `redlock`.
    ///
    /// # Errors
    /// When a server cannot be started, or the main one reached within
    /// [`CONNECT_TIMEOUT`].
    pub async fn open(settings: &RedisSettings, lock_nodes: u32) -> anyhow::Result<Target> {
        let persistence = settings.persistence;
        let mut embedded = Vec::new();
        let (url, description, lock_urls): (String, String, Vec<String>) = match &settings.url {
            Some(url) => {
                let locks = settings.redlock_urls.iter().map(|u| u.expose().to_owned());
                (url.expose().to_owned(), url.redacted(), locks.collect())
            }
            None => {
                embedded.push(RedisServer::start_with(
                    Duration::from_secs(5),
                    persistence,
                )?);
                for _ in 0..lock_nodes {
                    embedded.push(RedisServer::start(Duration::from_secs(5))?);
                }
                let main = &embedded[0];
                let description = format!("embedded redis-server on 127.0.0.1:{}", main.port());
                let locks = embedded[1..].iter().map(RedisServer::url).collect();
                (main.url(), description, locks)
            }
        };
        let control = connect(&url)
            .await
            .with_context(|| format!("cannot reach Redis at {description}"))?;
        if lock_nodes > 0 {
            check_lock_servers(&lock_urls).await?;
        }
        Ok(Target {
            embedded,
            url,
            lock_urls,
            description,
            control,
        })
    }

    /// Crashes the embedded main server (`redis-restart`): SIGKILL.
    ///
    /// # Errors
    /// Without an embedded server.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        let server = self
            .embedded
            .first_mut()
            .context("no embedded redis-server to restart")?;
        server.crash();
        Ok(())
    }

    /// Starts the crashed server again on its port, and reconnects.
    ///
    /// # Errors
    /// When it does not come back.
    pub async fn revive(&mut self) -> anyhow::Result<()> {
        let server = self
            .embedded
            .first_mut()
            .context("no embedded redis-server to restart")?;
        server.revive()?;
        self.control = connect(&self.url).await?;
        Ok(())
    }

    pub fn lock_urls(&self) -> &[String] {
        &self.lock_urls
    }

    /// The URL workers connect to, password included: for the pipe only.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Refuses to start when any of the run's keys exists, then sets the stock.
    ///
    /// # Errors
    /// When a key exists or Redis fails.
    pub async fn prepare(&mut self, keys: &Keys, initial: u64) -> anyhow::Result<()> {
        let at = || format!("setting up the stock on Redis at {}", self.description);
        let existing: u64 = self
            .control
            .exists(&keys.all()[..])
            .await
            .with_context(at)?;
        if existing > 0 {
            bail!(
                "keys under {} already exist; refusing to touch them (pick another redis.key_prefix)",
                keys.prefix
            );
        }
        let set: bool = self
            .control
            .set_nx(&keys.stock, initial)
            .await
            .with_context(at)?;
        if !set {
            bail!("{} appeared while preparing the run", keys.stock);
        }
        Ok(())
    }

    /// The stock as Redis reports it now; `None` when the key is gone.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn stock(&mut self, keys: &Keys) -> anyhow::Result<Option<i64>> {
        Ok(self.control.get(&keys.stock).await?)
    }

    /// Deletes the run's keys, on the lock servers too; best effort, so a
    /// failing Redis at the end does not hide the run's result. Returns the
    /// keys it could not delete.
    pub async fn cleanup(&mut self, keys: &Keys) -> Vec<String> {
        let deleted: redis::RedisResult<u64> = self.control.del(&keys.all()[..]).await;
        let mut left: Vec<String> = match deleted {
            Ok(_) => Vec::new(),
            Err(_) => keys
                .all()
                .iter()
                .map(|k| format!("{k} on {}", self.description))
                .collect(),
        };
        for url in &self.lock_urls {
            let deleted = match connect(url).await {
                Ok(mut conn) => conn.del::<_, u64>(&keys.lock).await.is_ok(),
                Err(_) => false,
            };
            if !deleted {
                left.push(format!("{} on lock server {}", keys.lock, host_port(url)));
            }
        }
        left
    }
}

/// Reaches every redlock lock server at once, so a dead one fails the run
/// at the start (within [`CONNECT_TIMEOUT`]) instead of turning every lock
/// attempt into a lost vote.
///
/// # Errors
/// Naming the first server that cannot be reached, without its password.
async fn check_lock_servers(urls: &[String]) -> anyhow::Result<()> {
    let mut checks = tokio::task::JoinSet::new();
    for url in urls {
        let url = url.clone();
        checks.spawn(async move { connect(&url).await.map_err(|e| (host_port(&url), e)) });
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

/// `host:port` of a URL, without credentials.
fn host_port(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(6379)
        ),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

async fn connect(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(url).context("bad Redis URL")?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CONNECT_TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(conn)
}
