//! The Redis a run talks to: an embedded throwaway server or the user's URL,
//! plus the coordinator's own control connection for setting up, reading
//! and cleaning up the run's keys. Touches no key outside the run's prefix.

use std::time::Duration;

use anyhow::{bail, Context};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

use crate::keys::Keys;
use crate::redis_server::RedisServer;
use crate::scenario::RedisUrl;

/// How long a server may take to answer before the run gives up (exit 4).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Target {
    /// Kept alive for the run; dropping it stops the server.
    _embedded: Option<RedisServer>,
    url: String,
    /// For output: never contains a password.
    pub description: String,
    control: MultiplexedConnection,
}

impl Target {
    /// # Errors
    /// When the server cannot be started or reached within [`CONNECT_TIMEOUT`].
    pub async fn open(url: Option<&RedisUrl>) -> anyhow::Result<Target> {
        let (embedded, url, description) = match url {
            Some(url) => (None, url.expose().to_owned(), url.redacted()),
            None => {
                let server = RedisServer::start(Duration::from_secs(5))?;
                let description = format!("embedded redis-server on 127.0.0.1:{}", server.port());
                let url = server.url();
                (Some(server), url, description)
            }
        };
        let control = connect(&url)
            .await
            .with_context(|| format!("cannot reach Redis at {description}"))?;
        Ok(Target {
            _embedded: embedded,
            url,
            description,
            control,
        })
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
        let existing: u64 = self.control.exists(&keys.all()[..]).await?;
        if existing > 0 {
            bail!(
                "keys under {} already exist; refusing to touch them (pick another redis.key_prefix)",
                keys.prefix
            );
        }
        let set: bool = self.control.set_nx(&keys.stock, initial).await?;
        if !set {
            bail!("{} appeared while preparing the run", keys.stock);
        }
        Ok(())
    }

    /// The stock as Redis reports it now.
    ///
    /// # Errors
    /// When Redis fails or the stock key is gone.
    pub async fn stock(&mut self, keys: &Keys) -> anyhow::Result<i64> {
        let stock: Option<i64> = self.control.get(&keys.stock).await?;
        stock.with_context(|| format!("the stock key {} disappeared during the run", keys.stock))
    }

    /// Deletes the run's keys; best effort, so a failing Redis at the end
    /// does not hide the run's result.
    pub async fn cleanup(&mut self, keys: &Keys) {
        let _: redis::RedisResult<u64> = self.control.del(&keys.all()[..]).await;
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
