//! How a worker's clients reach Redis (`[load] connections`), as the
//! application under test would: each client its own connection; a pool of
//! a few that a client takes for a whole purchase (Jedis, go-redis,
//! redis-py); or a few multiplexed connections every client's commands
//! interleave on (Lettuce, StackExchange.Redis). The strategies see one
//! [`Conn`] in the client either way.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

use crate::conn::Conn;
use crate::metrics::Metrics;
use crate::protocol::WorkerPlan;
use crate::scenario::Connections;
use crate::strategy::Client;
use crate::util::stop::StopSignal;
use anyhow::Context as _;

/// Opens connections to the primary, and again after one was lost.
pub struct Connector {
    inner: crate::conn::Connector,
}

/// Reconnect backoff: doubling from the first to the last.
pub const RECONNECT_FIRST: Duration = Duration::from_millis(10);
/// Short, so a client finds a newly promoted primary soon after Sentinel
/// names it; loopback and a few thousand clients bear the attempts.
pub const RECONNECT_MAX: Duration = Duration::from_millis(250);

impl Connector {
    /// # Errors
    /// When a URL is not a Redis URL or a certificate does not parse.
    pub fn new(plan: &WorkerPlan) -> anyhow::Result<Connector> {
        let inner =
            crate::conn::Connector::new(&plan.endpoint, plan.response_timeout, plan.rediscover)
                .context("bad Redis endpoint")?;
        Ok(Connector { inner })
    }

    /// A new connection to the primary.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        Ok(self.inner.connect().await?)
    }

    /// Replaces a client's connection after it was lost, retrying with
    /// backoff until it works or the worker stops. Counts a rediscovery when
    /// the client lands on a different primary than before.
    pub async fn reconnect(
        &self,
        client: &mut Client,
        stop: &StopSignal,
        metrics: &RefCell<Metrics>,
    ) {
        let mut pause = RECONNECT_FIRST;
        while !stop.is_stopped() {
            if let Ok(conn) = self.inner.reconnect().await {
                if conn.primary() != client.conn.primary() {
                    metrics.borrow_mut().count_rediscovery();
                }
                client.conn = conn;
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.stopped() => return,
            }
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }
}

pub enum Links {
    PerClient,
    Pool(Pool),
    Shared(Vec<Slot>),
}

/// The pool: idle connections (with the generation each was opened in),
/// and a permit for each.
pub struct Pool {
    idle: RefCell<Vec<(Conn, u64)>>,
    free: Semaphore,
    timeout: Duration,
    /// Moves on when a purchase finds its pooled connection broken: the
    /// connections opened before are suspect (the server they reach may be
    /// gone) and are opened again before a purchase uses one, as HikariCP
    /// evicts a pool's connections after a fatal error. A waiting buyer so
    /// never sends on a connection already known dead, where its purchase
    /// would fail in doubt having sent nothing.
    generation: Cell<u64>,
}

/// One shared connection, and the generation of it: a client that finds
/// it broken replaces it once for every client on it.
pub struct Slot {
    conn: RefCell<Conn>,
    generation: Cell<u64>,
    fixing: Mutex<()>,
}

/// What a client holds for one purchase.
pub enum Lease {
    /// Its own connection, or a shared one of this generation.
    Kept(u64),
    /// A pooled connection of this generation, after waiting this long for
    /// it (opening it again included).
    Pooled(Duration, u64),
    /// No pooled connection came within `pool_timeout_ms`.
    TimedOut(Duration),
    /// The run stopped while the buyer waited for a connection: the
    /// purchase never started.
    Stopped,
}

impl Links {
    /// Opens what `model` needs for a process of `clients` clients
    /// (per-client connections are the clients' own, opened by the
    /// caller): never more connections than clients, who could not use
    /// them.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn open(
        model: Connections,
        clients: u32,
        connector: &Connector,
    ) -> anyhow::Result<Links> {
        Ok(match model {
            Connections::PerClient => Links::PerClient,
            Connections::Pool { size, timeout } => {
                let size = size.get().min(clients) as usize;
                let mut idle = Vec::with_capacity(size);
                for _ in 0..size {
                    idle.push((connector.connect().await?, 0));
                }
                Links::Pool(Pool {
                    idle: RefCell::new(idle),
                    free: Semaphore::new(size),
                    timeout,
                    generation: Cell::new(0),
                })
            }
            Connections::Shared { size } => {
                let size = size.get().min(clients) as usize;
                let mut slots = Vec::with_capacity(size);
                for _ in 0..size {
                    slots.push(Slot {
                        conn: RefCell::new(connector.connect().await?),
                        generation: Cell::new(0),
                        fixing: Mutex::new(()),
                    });
                }
                Links::Shared(slots)
            }
        })
    }

    /// The connection a client starts with: a shared one, in turn; for a
    /// pool, none until a purchase takes one.
    pub fn first(&self, index: u32) -> Option<Conn> {
        match self {
            Links::PerClient => None,
            Links::Pool(_) => Some(Conn::detached()),
            Links::Shared(slots) => Some(slots[slot(index, slots)].conn.borrow().clone()),
        }
    }

    /// Before a purchase: a pooled connection taken (waiting at most the
    /// pool's timeout, or until the run stops; one opened before the pool
    /// last found a connection broken is opened again first), or a shared
    /// one made current.
    pub async fn take(
        &self,
        client: &mut Client,
        (index, had): (u32, u64),
        connector: &Connector,
        (stop, metrics): (&StopSignal, &RefCell<Metrics>),
    ) -> Lease {
        match self {
            Links::PerClient => Lease::Kept(0),
            Links::Pool(pool) => {
                let asked = Instant::now();
                let waited = tokio::select! {
                    waited = tokio::time::timeout(pool.timeout, pool.free.acquire()) => waited,
                    () = stop.stopped() => return Lease::Stopped,
                };
                let Ok(Ok(permit)) = waited else {
                    return Lease::TimedOut(asked.elapsed());
                };
                permit.forget();
                let (conn, opened) = pool
                    .idle
                    .borrow_mut()
                    .pop()
                    .expect("a permit has its connection");
                client.conn = conn;
                let now = pool.generation.get();
                let lease = Lease::Pooled(asked.elapsed(), now);
                if opened == now {
                    return lease;
                }
                connector.reconnect(client, stop, metrics).await;
                if stop.is_stopped() {
                    self.give_back(client, &lease);
                    return Lease::Stopped;
                }
                Lease::Pooled(asked.elapsed(), now)
            }
            Links::Shared(slots) => {
                let slot = &slots[slot(index, slots)];
                let now = slot.generation.get();
                if now != had {
                    client.conn = slot.conn.borrow().clone();
                }
                Lease::Kept(now)
            }
        }
    }

    /// After a purchase whose connection may be broken: a new one, found
    /// again through Sentinel if need be; on a shared connection, once for
    /// all its clients.
    pub async fn recover(
        &self,
        client: &mut Client,
        (index, lease): (u32, &mut Lease),
        connector: &Connector,
        (stop, metrics): (&StopSignal, &RefCell<Metrics>),
    ) {
        let Links::Shared(slots) = self else {
            if let (Links::Pool(pool), Lease::Pooled(_, opened)) = (self, &mut *lease) {
                // The first to find a connection of this generation broken
                // makes every older one suspect; its new one is current.
                if *opened == pool.generation.get() {
                    pool.generation.set(*opened + 1);
                }
                *opened = pool.generation.get();
            }
            connector.reconnect(client, stop, metrics).await;
            return;
        };
        let slot = &slots[slot(index, slots)];
        let _fixing = slot.fixing.lock().await;
        let had = match lease {
            Lease::Kept(generation) => *generation,
            _ => slot.generation.get(),
        };
        if slot.generation.get() == had {
            connector.reconnect(client, stop, metrics).await;
            *slot.conn.borrow_mut() = client.conn.clone();
            slot.generation.set(had + 1);
        } else {
            client.conn = slot.conn.borrow().clone();
        }
        *lease = Lease::Kept(slot.generation.get());
    }

    /// After a purchase: a pooled connection goes back to the pool.
    pub fn give_back(&self, client: &mut Client, lease: &Lease) {
        if let (Links::Pool(pool), Lease::Pooled(_, opened)) = (self, lease) {
            let conn = std::mem::replace(&mut client.conn, Conn::detached());
            pool.idle.borrow_mut().push((conn, *opened));
            pool.free.add_permits(1);
        }
    }
}

/// What opening `model`'s connections for `clients` clients was, for an
/// error: how many, so a server's client limit can be recognised.
pub fn opening(model: Connections, clients: u32) -> String {
    let (what, size) = match model {
        Connections::PerClient => return "opening connections to Redis".to_owned(),
        Connections::Pool { size, .. } => ("pooled", size),
        Connections::Shared { size, .. } => ("shared", size),
    };
    format!(
        "opening {} {what} connection(s) to Redis for this process (pool_size {size}, {clients} client(s)); many processes x pool_size connections may pass the server's maxclients",
        size.get().min(clients)
    )
}

/// The shared connection of client `index`: clients spread evenly.
fn slot(index: u32, slots: &[Slot]) -> usize {
    index as usize % slots.len()
}
