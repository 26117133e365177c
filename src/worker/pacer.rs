//! When each client starts its next purchase: the load shape of the plan
//! acted out. One pacer serves every combination of stop rule, rate and
//! stages; the client loop is the same for all of them.
//!
//! - Closed loop: a client starts as soon as its last purchase ended, while
//!   its index is below the (ramped) number of active clients.
//! - Open loop: a schedule task emits arrivals at the (ramped) rate, fixed
//!   or Poisson; idle clients take them in order. Each arrival keeps its
//!   intended start, so time spent waiting for a client counts in the
//!   response time (no coordinated omission). An arrival that finds no idle
//!   client is late; one beyond `max_in_flight` is dropped.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::scenario::{Arrivals, Pace, Ramp};
use crate::util::stop::StopSignal;

/// How often a closed-loop client outside the active count looks again.
const RAMP_STEP: Duration = Duration::from_millis(10);

/// Permission to start one purchase.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    /// When the purchase should have started; response time counts from here.
    pub intended: Instant,
    /// `intended` was read from the clock just now (a closed loop): the
    /// purchase is sent at that instant, with no second clock read.
    pub now: bool,
}

pub enum Pacer {
    Closed(Closed),
    Open(Rc<Open>),
}

impl Pacer {
    /// Starts the pacing of one worker, its load shape timed from
    /// `started` (when the stop rule's clock started too); an open loop
    /// spawns its schedule, its first fixed arrival `phase` (0 to 1) of a
    /// gap in.
    /// `per_client` caps each closed-loop client's purchases, `arrivals`
    /// the open-loop schedule's.
    pub fn start(
        pace: &Pace,
        started: Instant,
        phase: f64,
        per_client: Option<u64>,
        arrivals: Option<u64>,
        stop: &StopSignal,
        metrics: &Rc<RefCell<Metrics>>,
    ) -> Pacer {
        match pace {
            Pace::Closed { clients } => Pacer::Closed(Closed {
                clients: clients.clone(),
                per_client,
                started,
                stop: stop.clone(),
            }),
            Pace::Open {
                rate,
                arrivals: kind,
                max_in_flight,
            } => {
                let open = Rc::new(Open::new(*max_in_flight, stop.clone(), metrics.clone()));
                let schedule = Schedule {
                    rate: rate.clone(),
                    arrivals: *kind,
                    phase,
                    started,
                    deadline: stop.deadline(),
                    limit: arrivals,
                    halt: open.halt.clone(),
                };
                tokio::task::spawn_local(schedule.feed(open.clone()));
                Pacer::Open(open)
            }
        }
    }

    /// The next purchase for client `index`, which has `done` purchases so
    /// far; `None` when it should stop.
    pub async fn next(&self, index: u32, done: u64) -> Option<Ticket> {
        match self {
            Pacer::Closed(closed) => closed.next(index, done).await,
            Pacer::Open(open) => open.next().await,
        }
    }

    /// A purchase taken with [`Pacer::next`] has ended.
    pub fn finished(&self) {
        if let Pacer::Open(open) = self {
            open.running.set(open.running.get() - 1);
        }
    }

    /// Told sold out: in a closed loop only that client stops (each buyer
    /// learns it himself); in an open loop the schedule has nothing to sell.
    pub fn sold_out(&self) {
        if let Pacer::Open(open) = self {
            open.close();
        }
    }
}

pub struct Closed {
    clients: Ramp,
    per_client: Option<u64>,
    started: Instant,
    stop: StopSignal,
}

impl Closed {
    async fn next(&self, index: u32, done: u64) -> Option<Ticket> {
        loop {
            if self.stop.is_stopped() || self.per_client.is_some_and(|n| done >= n) {
                return None;
            }
            // Without stages the count never changes: skip the clock read
            // on the hot path.
            let active = match self.clients.stages.is_empty() {
                true => self.clients.start,
                false => self.clients.at(self.started.elapsed()),
            }
            .round();
            if f64::from(index) < active {
                return Some(Ticket {
                    intended: Instant::now(),
                    now: true,
                });
            }
            tokio::select! {
                () = tokio::time::sleep(RAMP_STEP) => {}
                () = self.stop.stopped() => return None,
            }
        }
    }
}

/// Arrivals waiting for a client, shared by one worker's clients.
pub struct Open {
    queue: RefCell<VecDeque<Instant>>,
    arrived: Notify,
    /// Clients parked in `next` and not yet promised an arrival.
    idle: Cell<u32>,
    running: Cell<u32>,
    max_in_flight: u32,
    closed: Cell<bool>,
    /// Tells the schedule thread to stop emitting.
    halt: Arc<AtomicBool>,
    stop: StopSignal,
    metrics: Rc<RefCell<Metrics>>,
}

impl Open {
    fn new(max_in_flight: u32, stop: StopSignal, metrics: Rc<RefCell<Metrics>>) -> Open {
        Open {
            queue: RefCell::default(),
            arrived: Notify::new(),
            idle: Cell::new(0),
            running: Cell::new(0),
            max_in_flight,
            closed: Cell::new(false),
            halt: Arc::default(),
            stop,
            metrics,
        }
    }

    fn arrive(&self, intended: Instant) {
        let in_flight = self.queue.borrow().len() as u64 + u64::from(self.running.get());
        if in_flight >= u64::from(self.max_in_flight) {
            self.metrics.borrow_mut().count_dropped();
            return;
        }
        match self.idle.get() {
            0 => self.metrics.borrow_mut().count_late(),
            n => self.idle.set(n - 1),
        }
        self.queue.borrow_mut().push_back(intended);
        self.arrived.notify_one();
    }

    /// No more arrivals: clients drain the queue, then stop.
    fn close(&self) {
        self.closed.set(true);
        self.halt.store(true, Ordering::Relaxed);
        self.arrived.notify_waiters();
    }

    async fn next(&self) -> Option<Ticket> {
        loop {
            if self.stop.is_stopped() {
                return None;
            }
            if let Some(intended) = self.queue.borrow_mut().pop_front() {
                self.running.set(self.running.get() + 1);
                return Some(Ticket {
                    intended,
                    now: false,
                });
            }
            if self.closed.get() {
                return None;
            }
            self.idle.set(self.idle.get() + 1);
            tokio::select! {
                () = self.arrived.notified() => {}
                () = self.stop.stopped() => return None,
            }
        }
    }
}

/// The arrival schedule of one worker. It runs on a thread of its own: the
/// runtime's timer has millisecond resolution, which would add up to a
/// millisecond of generator lag to every response time; a thread sleeping
/// with a tight timer slack keeps that to tens of microseconds.
struct Schedule {
    /// This worker's share of the rate.
    rate: Ramp,
    arrivals: Arrivals,
    /// Fixed arrivals: the first is this share of a gap after the start
    /// (0 for the first worker), then one every gap.
    phase: f64,
    started: Instant,
    deadline: Option<Instant>,
    /// Arrivals this worker may emit (`purchases_per_client` x clients).
    limit: Option<u64>,
    /// Set when the worker stops or sells out.
    halt: Arc<AtomicBool>,
}

/// Below this, waiting is not worth a sleep: arrivals this close are
/// emitted together, at most this late.
const MIN_SLEEP: Duration = Duration::from_micros(50);
/// Longest single sleep, so a halt is noticed promptly at low rates.
const MAX_SLEEP: Duration = Duration::from_millis(10);

impl Schedule {
    /// Feeds `open` from the schedule thread until the schedule ends.
    async fn feed(self, open: Rc<Open>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let halt = self.halt.clone();
        let thread = std::thread::Builder::new()
            .name("arrivals".to_owned())
            .spawn(move || self.run(&tx));
        if thread.is_ok() {
            loop {
                tokio::select! {
                    at = rx.recv() => match at {
                        Some(at) => open.arrive(at),
                        None => break,
                    },
                    () = open.stop.stopped() => break,
                }
            }
        }
        halt.store(true, Ordering::Relaxed);
        open.close();
    }

    fn run(self, tx: &tokio::sync::mpsc::UnboundedSender<Instant>) {
        // SAFETY: prctl on the calling thread only; failure just keeps the
        // default 50 us slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000) };
        let mut rng = fastrand::Rng::new();
        // The nth arrival comes when the area under this worker's rate
        // reaches its nth mark. Fixed: the marks are phase, phase + 1, ...,
        // so P workers at rate r arrive at 0, 1/r, 2/r, ... between them,
        // evenly, ramps included (up to how far apart the workers heard
        // `Go`, which can exceed 1/r at thousands a second). Poisson: marks an exponential gap apart,
        // which makes a Poisson process of the (ramped) rate.
        let mut mark = match self.arrivals {
            Arrivals::Fixed => self.phase.clamp(0.0, 1.0),
            Arrivals::Poisson => exponential(&mut rng),
        };
        let mut emitted = 0u64;
        while self.limit.is_none_or(|n| emitted < n) {
            let Some(offset) = self.rate.when(mark) else {
                // The rate ended at 0: no more arrivals, but the run
                // lasts its duration (a cool-down stage, a fault in it).
                return self.idle();
            };
            let at = self.started + offset;
            if !self.wait_until(at) || tx.send(at).is_err() {
                return;
            }
            emitted += 1;
            mark += match self.arrivals {
                Arrivals::Fixed => 1.0,
                Arrivals::Poisson => exponential(&mut rng),
            };
        }
    }

    /// Sleeps until halted or past the deadline.
    fn idle(&self) {
        while !self.halt.load(Ordering::Relaxed) && self.deadline.is_none_or(|d| Instant::now() < d)
        {
            std::thread::sleep(MAX_SLEEP);
        }
    }

    /// Sleeps until `at`; false when halted or past the deadline first.
    fn wait_until(&self, at: Instant) -> bool {
        loop {
            if self.halt.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| at >= d) {
                return false;
            }
            let left = at.saturating_duration_since(Instant::now());
            if left < MIN_SLEEP {
                return true;
            }
            std::thread::sleep(left.min(MAX_SLEEP));
        }
    }
}

/// An exponential draw of mean 1: the area under the rate between two
/// Poisson arrivals.
fn exponential(rng: &mut fastrand::Rng) -> f64 {
    -(1.0 - rng.f64()).ln()
}
