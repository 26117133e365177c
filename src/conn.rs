//! Our one connection type, and how to reach the primary: the seam between
//! the purchase code and the topology. Strategies, workers and the
//! coordinator's control connection all hold a [`Conn`] made by a
//! [`Connector`]; only this module knows whether the primary sits at a fixed
//! URL or is discovered through Sentinel, and whether TLS is in the way. A
//! Redis Cluster connection becomes one more [`Conn`] variant here, with no
//! change to the strategies.
//!
//! Discovery follows Sentinel's guidelines for clients, not redis-rs's
//! `sentinel` module (see [`Sentinels`]): the address
//! `get-master-addr-by-name` gives, `ROLE` on the connection made there,
//! and Sentinel asked again once it is made.

use std::sync::Mutex;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use serde::{Deserialize, Serialize};

/// Where the run's Redis is and how to reach it. Travels in the worker
/// plan (passwords and key material included, over the pipe only), so its
/// `Debug` shows neither.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub discovery: Discovery,
    /// Certificates for `rediss://`; `None` trusts the system's roots.
    pub tls: Option<TlsFiles>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum Discovery {
    /// A fixed URL, password included.
    Direct(String),
    /// Ask these sentinels (URLs, passwords included) for `master_name`.
    /// The primary and its replicas are reached with the first sentinel
    /// URL's user, password and TLS mode.
    Sentinel {
        sentinels: Vec<String>,
        master_name: String,
    },
    /// A Redis Cluster, found from these seed URLs (passwords included).
    Cluster(Vec<String>),
}

/// PEM contents read from the scenario's `tls_ca`, `tls_cert`, `tls_key`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsFiles {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Endpoint {
    pub fn direct(url: impl Into<String>) -> Endpoint {
        Endpoint {
            discovery: Discovery::Direct(url.into()),
            tls: None,
        }
    }

    /// For output: no password, no key material.
    pub fn describe(&self) -> String {
        match &self.discovery {
            Discovery::Direct(url) => crate::util::redact::redact(url),
            Discovery::Sentinel {
                sentinels,
                master_name,
            } => {
                let at: Vec<String> = sentinels.iter().map(|u| host_port(u)).collect();
                format!("primary `{master_name}` by Sentinel at {}", at.join(", "))
            }
            Discovery::Cluster(seeds) => {
                let at: Vec<String> = seeds.iter().map(|u| host_port(u)).collect();
                format!("Redis Cluster from {}", at.join(", "))
            }
        }
    }

    /// The same endpoint with the direct URL replaced (the fault proxy).
    pub fn with_url(&self, url: String) -> Endpoint {
        Endpoint {
            discovery: Discovery::Direct(url),
            tls: self.tls.clone(),
        }
    }

    fn certificates(&self) -> Option<redis::TlsCertificates> {
        let tls = self.tls.as_ref()?;
        let client_tls = match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: cert.as_bytes().to_vec(),
                client_key: key.as_bytes().to_vec(),
            }),
            _ => None,
        };
        Some(redis::TlsCertificates {
            client_tls,
            root_cert: tls.ca.as_ref().map(|ca| ca.as_bytes().to_vec()),
        })
    }

    /// A client for a fixed URL, with this endpoint's certificates.
    ///
    /// # Errors
    /// When the URL is not a Redis URL or the certificates do not parse.
    pub fn client_for(&self, url: &str) -> redis::RedisResult<redis::Client> {
        match self.certificates() {
            Some(certs) if url.starts_with("rediss://") => {
                redis::Client::build_with_tls(url, certs)
            }
            _ => redis::Client::open(url),
        }
    }
}

/// One command on a fresh connection to `url` (a node or sentinel the
/// harness manages), with `endpoint`'s TLS and a short timeout.
///
/// # Errors
/// When the server cannot be reached or refuses the command.
pub async fn query_once<T: redis::FromRedisValue>(
    endpoint: &Endpoint,
    url: &str,
    cmd: &redis::Cmd,
    timeout: std::time::Duration,
) -> anyhow::Result<T> {
    let client = endpoint.client_for(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    Ok(cmd.query_async(&mut conn).await?)
}

/// `host:port` of a URL, without credentials.
pub fn host_port(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(6379)
        ),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// One connection to the primary. Implements redis-rs's `ConnectionLike`,
/// so commands, pipelines and scripts run on it as on any connection.
#[derive(Clone)]
pub struct Conn {
    inner: Inner,
    /// The server's `host:port`: a client that reconnects somewhere else
    /// has moved to a new primary.
    primary: std::sync::Arc<str>,
}

impl Conn {
    pub fn primary(&self) -> &str {
        &self.primary
    }

    /// No connection: a client whose purchases go over HTTP to the
    /// user's service holds this, and never sends a command on it.
    pub fn detached() -> Conn {
        Conn {
            inner: Inner::Detached,
            primary: "".into(),
        }
    }
}

#[derive(Clone)]
enum Inner {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
    Detached,
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Single(c) => c.req_packed_command(cmd),
            Inner::Cluster(c) => c.req_packed_command(cmd),
            Inner::Detached => Box::pin(async { Err(detached()) }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Detached => Box::pin(async { Err(detached()) }),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Single(c) => c.get_db(),
            Inner::Cluster(c) => c.get_db(),
            Inner::Detached => 0,
        }
    }
}

fn detached() -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "no Redis connection",
        "this client buys over HTTP".to_owned(),
    ))
}

/// Whether a client that lost its primary asks Sentinel again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rediscover {
    /// On a dropped connection, a timeout or `READONLY`: the default.
    OnError,
    /// Keep the primary found at the start: the zombie-primary client.
    Never,
}

/// Opens connections to the current primary of one [`Endpoint`]; a
/// worker's clients share one.
pub struct Connector {
    config: redis::AsyncConnectionConfig,
    how: How,
    rediscover: Rediscover,
}

/// How a [`Connector`] reaches the server.
enum How {
    Direct(redis::Client),
    Sentinel(Sentinels),
    Cluster(ClusterClient),
}

/// The primary as Sentinel names it. Not through redis-rs's `sentinel`
/// module: it reads `SENTINEL MASTERS`, where the sentinel leading a
/// failover lists the old primary until every replica follows the new one,
/// while it (and, from its hello messages, every other sentinel) already
/// names the new one in `get-master-addr-by-name`. The old primary still
/// answers `ROLE` as a master then, so a client that reconnected in that
/// window wrote to a primary about to be demoted, and the harness blamed
/// the strategy for the lost writes.
struct Sentinels {
    /// Asked in order; the first that answers is believed.
    sentinels: Vec<redis::Client>,
    master_name: String,
    /// The first sentinel's URL: a primary is reached with its login,
    /// database and TLS mode, at the address Sentinel names.
    node_url: url::Url,
    endpoint: Endpoint,
    /// The primary last found.
    primary: Mutex<Option<redis::Client>>,
}

/// How often discovery follows Sentinel to a newer answer before it gives
/// up (the caller tries again later).
const DISCOVERY_ROUNDS: usize = 3;

impl Sentinels {
    fn new(
        endpoint: &Endpoint,
        sentinels: &[String],
        master_name: &str,
    ) -> redis::RedisResult<Sentinels> {
        let bad = |what: &'static str| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, what))
        };
        let first = sentinels.first().ok_or_else(|| bad("no sentinel URL"))?;
        let node_url = url::Url::parse(first).map_err(|_| bad("a sentinel URL is not a URL"))?;
        Ok(Sentinels {
            sentinels: sentinels
                .iter()
                .map(|u| endpoint.client_for(u))
                .collect::<redis::RedisResult<_>>()?,
            master_name: master_name.to_owned(),
            node_url,
            endpoint: endpoint.clone(),
            primary: Mutex::new(None),
        })
    }

    /// The primary's `(host, port)` as the first sentinel that answers
    /// names it.
    async fn named(
        &self,
        config: &redis::AsyncConnectionConfig,
    ) -> redis::RedisResult<(String, u16)> {
        let ask = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master_name)
            .clone();
        let mut last = None;
        for sentinel in &self.sentinels {
            let answer: redis::RedisResult<Option<(String, u16)>> = async {
                let mut conn = sentinel
                    .get_multiplexed_async_connection_with_config(config)
                    .await?;
                ask.query_async(&mut conn).await
            }
            .await;
            match answer {
                Ok(Some(named)) => return Ok(named),
                Ok(None) => {
                    last = Some(unconfirmed(
                        "no sentinel knows the master name",
                        String::new(),
                    ))
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| unconfirmed("no sentinel", String::new())))
    }

    fn client_at(&self, (host, port): &(String, u16)) -> redis::RedisResult<redis::Client> {
        let mut url = self.node_url.clone();
        let moved = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => url.set_ip_host(ip),
            Err(_) => url.set_host(Some(host)).map_err(drop),
        };
        moved
            .and_then(|()| url.set_port(Some(*port)))
            .map_err(|()| {
                unconfirmed("Sentinel named no usable address", format!("{host}:{port}"))
            })?;
        self.endpoint.client_for(url.as_str())
    }
}

fn unconfirmed(what: &'static str, detail: String) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::MasterNameNotFoundBySentinel, what, detail))
}

impl Connector {
    /// # Errors
    /// When a URL is not a Redis URL or a certificate does not parse.
    pub fn new(
        endpoint: &Endpoint,
        timeout: std::time::Duration,
        rediscover: Rediscover,
    ) -> redis::RedisResult<Connector> {
        Connector::with_retries(endpoint, timeout, rediscover, 0)
    }

    /// The coordinator's: its reads and deletes may be re-sent, so a
    /// cluster client follows redirects (a failover) by itself.
    ///
    /// # Errors
    /// When a URL is not a Redis URL or a certificate does not parse.
    pub fn control(
        endpoint: &Endpoint,
        timeout: std::time::Duration,
    ) -> redis::RedisResult<Connector> {
        Connector::with_retries(endpoint, timeout, Rediscover::OnError, 5)
    }

    fn with_retries(
        endpoint: &Endpoint,
        timeout: std::time::Duration,
        rediscover: Rediscover,
        cluster_retries: u32,
    ) -> redis::RedisResult<Connector> {
        let how = match &endpoint.discovery {
            Discovery::Direct(url) => How::Direct(endpoint.client_for(url)?),
            Discovery::Sentinel {
                sentinels,
                master_name,
            } => How::Sentinel(Sentinels::new(endpoint, sentinels, master_name)?),
            Discovery::Cluster(seeds) => {
                How::Cluster(cluster_client(seeds, timeout, cluster_retries)?)
            }
        };
        Ok(Connector {
            config: redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            how,
            rediscover,
        })
    }

    /// Connects to the primary known now, finding it first if none is.
    ///
    /// # Errors
    /// When the primary (or Sentinel, or the cluster) cannot be reached.
    pub async fn connect(&self) -> redis::RedisResult<Conn> {
        match &self.how {
            How::Direct(client) => self.open(client).await,
            How::Sentinel(sentinels) => {
                let known = sentinels.primary.lock().expect("not poisoned").clone();
                match known {
                    Some(client) => self.open(&client).await,
                    None => self.discover(sentinels).await,
                }
            }
            How::Cluster(cluster) => Ok(Conn {
                inner: Inner::Cluster(cluster.get_async_connection().await?),
                primary: CLUSTER.into(),
            }),
        }
    }

    /// Connects again after an error: through Sentinel afresh unless the
    /// policy is `Never`; otherwise as [`Connector::connect`].
    ///
    /// # Errors
    /// When the primary (or Sentinel, or the cluster) cannot be reached.
    pub async fn reconnect(&self) -> redis::RedisResult<Conn> {
        match &self.how {
            How::Sentinel(sentinels) if self.rediscover == Rediscover::OnError => {
                self.discover(sentinels).await
            }
            _ => self.connect().await,
        }
    }

    /// Finds the primary and connects to it: the address Sentinel names, a
    /// connection there, `ROLE` on that connection, and Sentinel asked
    /// again. Asking again once connected is what keeps a client off a
    /// demoted primary: a connection opened before Sentinel named another
    /// primary is one a switchover drops (a graceful one when every
    /// sentinel names the new primary, see `coordinator::failover`;
    /// Sentinel itself when it demotes the old one), while one opened on
    /// an answer given just before would outlive the drop.
    async fn discover(&self, sentinels: &Sentinels) -> redis::RedisResult<Conn> {
        let mut named = sentinels.named(&self.config).await?;
        for _ in 0..DISCOVERY_ROUNDS {
            let client = sentinels.client_at(&named)?;
            let mut conn = self.open(&client).await?;
            let role: redis::Role = redis::cmd("ROLE").query_async(&mut conn).await?;
            if !matches!(role, redis::Role::Primary { .. }) {
                return Err(unconfirmed(
                    "Sentinel named a node that is not a primary",
                    conn.primary.to_string(),
                ));
            }
            let again = sentinels.named(&self.config).await?;
            if again == named {
                *sentinels.primary.lock().expect("not poisoned") = Some(client);
                return Ok(conn);
            }
            named = again;
        }
        Err(unconfirmed(
            "Sentinel's answer kept changing",
            format!("{}:{}", named.0, named.1),
        ))
    }

    async fn open(&self, client: &redis::Client) -> redis::RedisResult<Conn> {
        let conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        Ok(Conn {
            inner: Inner::Single(conn),
            primary: client.get_connection_info().addr().to_string().into(),
        })
    }
}

/// What a cluster connection names as its "primary": it follows the
/// cluster's slot map itself, so there is no one server to move from.
const CLUSTER: &str = "cluster";

/// A cluster client. Workers' get no retries: redis-rs counts a redirect
/// as a retry, and would re-run a write whose reply was lost (an I/O
/// error) as well, which for a purchase is a second decrement. With none,
/// a redirect is an error the purchase reports (nothing ran), a lost reply
/// is in doubt, and the slot map is refreshed for the next purchase.
fn cluster_client(
    seeds: &[String],
    timeout: std::time::Duration,
    retries: u32,
) -> redis::RedisResult<ClusterClient> {
    ClusterClient::builder(seeds.iter().map(String::as_str))
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(retries)
        .build()
}

/// rustls needs a process-wide crypto provider before the first TLS
/// connection; installing it twice is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_never_show_passwords() {
        let direct = Endpoint::direct("redis://buyer:Zq9hunter2@127.0.0.1:6379/0");
        assert!(!format!("{direct:?}").contains("Zq9hunter2"));
        let sentinel = Endpoint {
            discovery: Discovery::Sentinel {
                sentinels: vec!["redis://u:Zq9hunter2@127.0.0.1:26379".to_owned()],
                master_name: "seckill".to_owned(),
            },
            tls: Some(TlsFiles {
                key: Some("-----BEGIN PRIVATE KEY-----secret".to_owned()),
                ..TlsFiles::default()
            }),
        };
        let shown = format!("{sentinel:?}");
        assert!(
            !shown.contains("Zq9hunter2") && !shown.contains("PRIVATE"),
            "{shown}"
        );
        assert!(shown.contains("127.0.0.1:26379"), "{shown}");
    }
}
