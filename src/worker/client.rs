//! The buyers of one worker: each a local task with its own connection,
//! looping purchases until the stop rule, the stop signal, or sold out.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use std::time::Duration;

use anyhow::Context as _;

use crate::conn::{Conn, Rediscover};
use crate::history::{Record, SalesSpan};
use crate::hold::HoldBoard;
use crate::metrics::Metrics;
use crate::outcome::{ErrorKind, Outcome, PurchaseReport};
use crate::protocol::WorkerPlan;
use crate::scenario::{BuyerPick, SegmentFallback, SegmentPick};
use crate::strategy::{Client, Context, Strategy};
use crate::util::freeze::FreezeHook;
use crate::util::stop::StopSignal;

use super::links::{Connector, Lease, Links, RECONNECT_FIRST, RECONNECT_MAX};
use super::pacer::Pacer;

/// Opens one connection per client, or the pool or shared connections
/// the plan's model has (`links`).
///
/// # Errors
/// When Redis cannot be reached within the plan's timeout.
pub async fn connect_all(
    plan: &WorkerPlan,
    connector: &Connector,
    links: &Links,
) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(plan.clients as usize);
    if plan.http.is_some() {
        // Purchases go to the service, which holds its own connections;
        // a client's HTTP connections open on its first request.
        for i in 0..plan.clients {
            let id = u64::from(plan.worker_index) << 32 | u64::from(i);
            let mut client = Client::new(Conn::detached(), id);
            client.http = Some(crate::strategy::http::Session::new(places(plan)));
            clients.push(client);
        }
        return Ok(clients);
    }
    for i in 0..plan.clients {
        let conn = match links.first(i) {
            Some(conn) => conn,
            None => connector
                .connect()
                .await
                .with_context(|| format!("connecting client {i} to Redis"))?,
        };
        let mut client = Client::new(conn, u64::from(plan.worker_index) << 32 | u64::from(i));
        client.lock_nodes = connect_lock_nodes(plan).await;
        clients.push(client);
    }
    Ok(clients)
}

/// Where an `http` client's requests go: each instance, or the fixed URL.
fn places(plan: &WorkerPlan) -> usize {
    match &plan.http {
        Some(http) if http.to_instances() => plan.instances.len(),
        _ => 1,
    }
}

/// Redlock servers; one that cannot be reached is `None` and never votes,
/// which is exactly the failure Redlock is meant to survive.
async fn connect_lock_nodes(plan: &WorkerPlan) -> Vec<Option<Conn>> {
    // Redlock wants node timeouts well below the TTL, so a dead node costs
    // little of the lock's validity.
    let timeout =
        (plan.strategy.lock.ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut nodes = Vec::with_capacity(plan.lock_urls.len());
    for url in &plan.lock_urls {
        let endpoint = plan.endpoint.with_url(url.clone());
        let conn = match crate::conn::Connector::new(&endpoint, timeout, Rediscover::Never) {
            Ok(connector) => connector.connect().await.ok(),
            Err(_) => None,
        };
        nodes.push(conn);
    }
    nodes
}

/// What every client of a worker shares.
pub struct Crew {
    pub plan: WorkerPlan,
    /// When the worker heard `Go`: the load shape's time zero.
    pub started: Instant,
    pub connector: Connector,
    pub stop: StopSignal,
    pub metrics: Rc<RefCell<Metrics>>,
    pub freeze: Rc<FreezeHook>,
    /// Purchases under way right now: in doubt if the worker is killed.
    pub in_flight: Rc<Cell<u32>>,
    /// Open lock holds, for the checker's watermark.
    pub holds: Rc<HoldBoard>,
    /// `audit.history`: turns each purchase into the op shipped.
    pub history: Option<RefCell<crate::history::Recorder>>,
    /// How the clients reach Redis: their own connections, a pool, or
    /// shared ones.
    pub links: Links,
}

/// Runs every client to its end, paced by the plan's load shape.
pub async fn run_all(clients: Vec<Client>, crew: Rc<Crew>) {
    let per_client = crew.plan.stop.purchases_per_client.map(|n| n.get());
    let arrivals = per_client.map(|n| n * u64::from(crew.plan.clients));
    let pacer = Pacer::start(
        &crew.plan.pace,
        crew.started,
        crew.plan.arrival_phase,
        per_client,
        arrivals,
        &crew.stop,
        &crew.metrics,
    );
    let pacer = Rc::new(pacer);
    let http = crew.plan.http.as_ref().map(|h| {
        let load = crew.metrics.borrow().instance_load.clone();
        (h, crew.plan.instances.as_slice(), load)
    });
    let strategy = Rc::new(Strategy::new(
        &crew.plan.strategy,
        crew.plan.script.as_ref(),
        http,
    ));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let buyer = Buyer {
                index: index as u32,
                strategy: strategy.clone(),
                pacer: pacer.clone(),
                crew: crew.clone(),
            };
            tokio::task::spawn_local(buyer.run(client))
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// A client's number in the whole run (worker by worker).
fn client_number(plan: &WorkerPlan, index: u32) -> usize {
    (plan.worker_index * plan.clients + index) as usize
}

/// A buyer id spread evenly over segments (FNV-1a of its bytes), the same
/// for the same buyer wherever it buys.
fn buyer_hash(buyer: u64) -> u64 {
    buyer
        .to_le_bytes()
        .into_iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The buyer of a client's `done`-th attempt: a new one each time without
/// `buyers.count`; else one of `0..count`, at random or in turn, clients
/// interleaved run-wide so that one buyer can be in flight on two clients.
fn buyer_of(plan: &WorkerPlan, index: u32, rng: &mut fastrand::Rng, done: u64) -> u64 {
    let number = client_number(plan, index) as u64;
    match (plan.buyers.count, plan.buyers.pick) {
        (None, _) => number << 32 | (done & 0xffff_ffff),
        (Some(n), BuyerPick::Random) => rng.u64(..n.get()),
        (Some(n), BuyerPick::RoundRobin) => {
            (number + done.wrapping_mul(plan.total_clients)) % n.get()
        }
    }
}

struct Buyer {
    index: u32,
    strategy: Rc<Strategy>,
    pacer: Rc<Pacer>,
    crew: Rc<Crew>,
}

impl Buyer {
    /// One purchase on segmented stock: the picked segment first, then,
    /// with fallback `next`, the others in turn until one sells or all
    /// are sold out. With one segment, just the purchase.
    async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let plan = &self.crew.plan;
        let segments = plan.segments.len();
        if segments == 1 {
            return self.strategy.purchase(client, ctx).await;
        }
        let first = match plan.segment_pick {
            SegmentPick::Random => client.rng.usize(..segments),
            SegmentPick::BuyerHash => buyer_hash(ctx.buyer) as usize % segments,
            // Run-wide, so every segment has its clients.
            SegmentPick::Client => client_number(plan, self.index) % segments,
        };
        let mut hops = 0;
        let mut spent = PurchaseReport::new();
        loop {
            let segment = (first + hops) % segments;
            let mut report = self
                .strategy
                .purchase(client, &ctx.on(&plan.segments[segment]))
                .await;
            report.segment = segment as u8;
            let walk = plan.segment_fallback == SegmentFallback::Next;
            if report.outcome != Outcome::SoldOut || !walk || hops + 1 == segments {
                report.segment_hops = hops as u64;
                // What the segments tried before cost counts too.
                report.lock_failures += spent.lock_failures;
                report.wait_timeouts += spent.wait_timeouts;
                report.compensations += spent.compensations;
                report.watch_aborts += spent.watch_aborts;
                return report;
            }
            spent.lock_failures += report.lock_failures;
            spent.wait_timeouts += report.wait_timeouts;
            spent.compensations += report.compensations;
            spent.watch_aborts += report.watch_aborts;
            hops += 1;
        }
    }

    async fn run(self, mut client: Client) {
        let crew = &self.crew;
        let plan = &crew.plan;
        let base = Context {
            keys: &plan.segments[0],
            quantity: plan.quantity,
            stop: &crew.stop,
            freeze: &crew.freeze,
            holds: &crew.holds,
            buyer: 0,
            sent: Instant::now(),
            client: client_number(plan, self.index) as u64,
            worker: plan.worker_index,
        };
        let mut done = 0u64;
        let mut same_primary_pause = RECONNECT_FIRST;
        let mut lease = Lease::Kept(0);
        // `http` with `order_id`: a sale whose reply held no id is counted.
        let wants_id = plan.http.as_ref().is_some_and(|h| h.order_id.is_some());
        while let Some(ticket) = self.pacer.next(self.index, done).await {
            let sent = match ticket.now {
                true => ticket.intended,
                false => Instant::now(),
            };
            let buyer = buyer_of(plan, self.index, &mut client.rng, done);
            let ctx = Context {
                buyer,
                sent,
                ..base
            };
            // From 1: an id's attempt is never 0.
            client.purchase = client.purchase.checked_add(1).unwrap_or(1);
            let had = match lease {
                Lease::Kept(generation) => generation,
                _ => 0,
            };
            let signals = (&crew.stop, &*crew.metrics);
            lease = (crew.links)
                .take(&mut client, (self.index, had), &crew.connector, signals)
                .await;
            // Under way (in doubt if the worker dies) from when it holds a
            // connection: a buyer still waiting for one has sent nothing.
            let under_way = !matches!(lease, Lease::TimedOut(_) | Lease::Stopped);
            crew.in_flight
                .set(crew.in_flight.get() + u32::from(under_way));
            let report = match lease {
                Lease::TimedOut(waited) => PurchaseReport::pool_timeout(waited),
                Lease::Stopped => PurchaseReport::new(),
                Lease::Pooled(waited, _) => PurchaseReport {
                    pool_wait: Some(waited),
                    ..self.purchase(&mut client, &ctx).await
                },
                Lease::Kept(_) => self.purchase(&mut client, &ctx).await,
            };
            crew.in_flight
                .set(crew.in_flight.get() - u32::from(under_way));
            let ended = Instant::now();
            {
                let mut metrics = crew.metrics.borrow_mut();
                let response = ended - ticket.intended;
                metrics.record(&report, response, ended - sent, plan.quantity);
                if plan.ledger && report.outcome == Outcome::Sold {
                    metrics.sold_to(buyer, report.segment);
                }
                if wants_id && report.outcome == Outcome::Sold && report.order_id.is_none() {
                    metrics.counters.sales_without_order_id += 1;
                }
                if let Some(history) = &crew.history {
                    let who = (self.index, client.purchase, buyer);
                    match history.borrow_mut().op(who, &report, sent, ended) {
                        Some(Record::Op(op)) => metrics.ops.push(op),
                        Some(Record::Sale {
                            invoke_ns,
                            complete_ns,
                        }) => SalesSpan::add(&mut metrics.sales_span, invoke_ns, complete_ns),
                        None => {}
                    }
                }
            }
            crew.holds.close(self.index);
            self.pacer.finished();
            done += 1;
            if report.outcome == Outcome::SoldOut {
                // The buyer leaves. In an open loop the schedule closes
                // only when the whole stock is: with one segment, or after
                // a walk over all of them; with `none`, one empty segment
                // says nothing of the others, and arrivals go on.
                let whole = crew.plan.segments.len() == 1
                    || crew.plan.segment_fallback == SegmentFallback::Next;
                if whole {
                    self.pacer.sold_out();
                }
                crew.links.give_back(&mut client, &lease);
                break;
            }
            // An unconfirmed sale is in doubt, but its connection is fine;
            // an HTTP client reconnects by itself.
            if report.outcome.lost_connection() && !report.unconfirmed && plan.http.is_none() {
                let was = client.conn.primary().to_owned();
                let signals = (&crew.stop, &*crew.metrics);
                let held = (self.index, &mut lease);
                crew.links
                    .recover(&mut client, held, &crew.connector, signals)
                    .await;
                // Back on the same demoted primary (a `never` client
                // keeps it, and it answers READONLY at once): back off
                // rather than spin.
                let readonly = report.outcome == Outcome::Error(ErrorKind::ReadOnly);
                if readonly && client.conn.primary() == was {
                    tokio::select! {
                        () = tokio::time::sleep(same_primary_pause) => {}
                        () = crew.stop.stopped() => {}
                    }
                    same_primary_pause = (same_primary_pause * 2).min(RECONNECT_MAX);
                } else {
                    same_primary_pause = RECONNECT_FIRST;
                }
            } else {
                same_primary_pause = RECONNECT_FIRST;
            }
            crew.links.give_back(&mut client, &lease);
        }
    }
}
