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

/// The pool: idle connections, and a permit for each.
pub struct Pool {
    idle: RefCell<Vec<Conn>>,
    free: Semaphore,
    timeout: Duration,
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
    /// A pooled connection, after waiting this long for it.
    Pooled(Duration),
    /// No pooled connection came within `pool_timeout_ms`.
    TimedOut(Duration),
}

impl Links {
    /// Opens what `model` needs (per-client connections are the clients'
    /// own, opened by the caller).
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn open(model: Connections, connector: &Connector) -> anyhow::Result<Links> {
        Ok(match model {
            Connections::PerClient => Links::PerClient,
            Connections::Pool { size, timeout } => {
                let mut idle = Vec::with_capacity(size.get() as usize);
                for _ in 0..size.get() {
                    idle.push(connector.connect().await?);
                }
                Links::Pool(Pool {
                    idle: RefCell::new(idle),
                    free: Semaphore::new(size.get() as usize),
                    timeout,
                })
            }
            Connections::Shared { size } => {
                let mut slots = Vec::with_capacity(size.get() as usize);
                for _ in 0..size.get() {
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
    /// pool's timeout), or a shared one made current.
    pub async fn take(&self, client: &mut Client, index: u32, had: u64) -> Lease {
        match self {
            Links::PerClient => Lease::Kept(0),
            Links::Pool(pool) => {
                let asked = Instant::now();
                match tokio::time::timeout(pool.timeout, pool.free.acquire()).await {
                    Ok(Ok(permit)) => {
                        permit.forget();
                        let conn = pool
                            .idle
                            .borrow_mut()
                            .pop()
                            .expect("a permit has its connection");
                        client.conn = conn;
                        Lease::Pooled(asked.elapsed())
                    }
                    _ => Lease::TimedOut(asked.elapsed()),
                }
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
        if let (Links::Pool(pool), Lease::Pooled(_)) = (self, lease) {
            let conn = std::mem::replace(&mut client.conn, Conn::detached());
            pool.idle.borrow_mut().push(conn);
            pool.free.add_permits(1);
        }
    }
}

/// The shared connection of client `index`: clients spread evenly.
fn slot(index: u32, slots: &[Slot]) -> usize {
    index as usize % slots.len()
}
