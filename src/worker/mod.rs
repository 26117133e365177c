//! One worker process (`seckill-bench worker`): reads its plan from stdin,
//! connects its clients, reports ready, waits for `Go`, runs the clients on
//! a current-thread tokio runtime and ships metrics to stdout every few
//! milliseconds. Generates load and records; aggregates nothing.

mod client;
mod links;
mod pacer;
mod pipe;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{bail, Context as _};

use crate::hold::{monotonic_ns, HoldBoard};
use crate::metrics::Metrics;
use crate::protocol::{FromWorker, ToWorker, WorkerPlan, PROTOCOL_VERSION};
use crate::util::freeze::{self, FreezeHook};
use crate::util::stop::StopSignal;
use pipe::{Inbox, Outbox};

/// Entry point of the hidden `worker` subcommand.
///
/// # Errors
/// When the plan is bad or Redis cannot be reached; also reported to the
/// coordinator as `Failed` before returning.
pub fn main() -> anyhow::Result<()> {
    // One thread per worker: parallelism comes from processes, and a
    // single-threaded runtime needs no locks on the hot path.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the worker's tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    let outbox = Outbox::stdout();
    let result = local.block_on(&runtime, serve(Inbox::stdin(), outbox.clone()));
    if let Err(e) = &result {
        outbox.send(&FromWorker::Failed {
            message: format!("{e:#}"),
        });
    }
    result
}

async fn serve(mut inbox: Inbox, outbox: Outbox) -> anyhow::Result<()> {
    let plan = receive_plan(&mut inbox).await?;
    let connector = links::Connector::new(&plan)?;
    let links = links::Links::open(plan.connections, plan.clients, &connector)
        .await
        .with_context(|| links::opening(plan.connections, plan.clients))?;
    let clients = client::connect_all(&plan, &connector, &links).await?;
    outbox.send(&FromWorker::Ready {
        plan_hash: plan.hash(),
        pid: std::process::id(),
        host: crate::util::process::hostname(),
    });
    match inbox.next().await? {
        Some(ToWorker::Go) => {}
        Some(ToWorker::Stop) | None => return Ok(()),
        Some(other) => bail!("expected Go, got {other:?}"),
    }
    // One start for the stop rule and the schedule: an arrival scheduled
    // before the deadline is never cut by a late-starting schedule.
    let started = Instant::now();
    let deadline = plan.stop.duration.map(|d| started + d);
    let stop = StopSignal::new(deadline);
    let metrics = Rc::new(RefCell::new(Metrics::default()));
    if plan.http.is_some() {
        let places = plan.instances.len().max(1);
        metrics.borrow_mut().instance_load = (0..places).map(|_| Cell::new(0)).collect();
    }
    let in_flight = Rc::new(Cell::new(0));
    let holds = Rc::new(HoldBoard::new(plan.clients as usize));
    let freeze = Rc::new(freeze_hook(&metrics, &holds, &outbox, &in_flight));
    tokio::task::spawn_local(obey(inbox, stop.clone(), freeze.clone()));
    let flush_interval = plan.flush_interval;
    let history = plan
        .history
        .then(|| RefCell::new(crate::history::Recorder::new(plan.history_ids)));
    let crew = Rc::new(client::Crew {
        plan,
        started,
        connector,
        stop,
        metrics: metrics.clone(),
        freeze,
        in_flight,
        holds: holds.clone(),
        history,
        links,
    });
    tokio::select! {
        () = client::run_all(clients, crew) => {}
        never = flush_forever(flush_interval, &metrics, &holds, &outbox) => never?,
    }
    flush(&metrics, &holds, &outbox)?;
    outbox.send(&FromWorker::Done {
        cpu_s: crate::util::process::cpu_seconds(libc::RUSAGE_SELF),
    });
    Ok(())
}

async fn receive_plan(inbox: &mut Inbox) -> anyhow::Result<WorkerPlan> {
    let Some(ToWorker::Plan { plan_hash, plan }) = inbox.next().await? else {
        bail!("the first message was not a plan");
    };
    if plan.protocol_version != PROTOCOL_VERSION || plan.hash() != plan_hash {
        bail!(
            "plan mismatch (protocol {} vs {PROTOCOL_VERSION}): coordinator and worker are different builds",
            plan.protocol_version
        );
    }
    Ok(*plan)
}

/// Acts on the coordinator's messages during the run. `Stop`, or the
/// coordinator's end of the pipe closing, stops the clients.
async fn obey(mut inbox: Inbox, stop: StopSignal, freeze: Rc<FreezeHook>) {
    loop {
        match inbox.next().await {
            Ok(Some(ToWorker::Freeze {
                fault,
                claim: Some(claim),
            })) => freeze.arm(fault, claim),
            Ok(Some(ToWorker::Freeze { fault, claim: None })) => freeze.freeze_now(fault),
            Ok(Some(ToWorker::Disarm { fault })) => freeze.disarm(fault),
            Ok(Some(ToWorker::Stop)) | Ok(None) | Err(_) => break,
            Ok(Some(_)) => {}
        }
    }
    stop.trigger();
}

/// Ships the metrics, tells the coordinator, stops the process.
fn freeze_hook(
    metrics: &Rc<RefCell<Metrics>>,
    holds: &Rc<HoldBoard>,
    outbox: &Outbox,
    in_flight: &Rc<Cell<u32>>,
) -> FreezeHook {
    let (metrics, holds) = (metrics.clone(), holds.clone());
    let (outbox, in_flight) = (outbox.clone(), in_flight.clone());
    FreezeHook::new(Box::new(move |fault| {
        let _ = flush(&metrics, &holds, &outbox);
        outbox.send(&FromWorker::Frozen {
            fault,
            in_flight: in_flight.get(),
        });
        freeze::stop_self();
    }))
}

/// How long a worker that has nothing to ship stays silent before it says
/// it is alive; well under the coordinator's watchdog limit.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(500);

async fn flush_forever(
    every: std::time::Duration,
    metrics: &RefCell<Metrics>,
    holds: &HoldBoard,
    outbox: &Outbox,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut said = Instant::now();
    loop {
        tick.tick().await;
        if flush(metrics, holds, outbox)? {
            said = Instant::now();
        } else if said.elapsed() >= HEARTBEAT {
            let watermark_ns = holds.watermark(monotonic_ns());
            outbox.send(&FromWorker::Heartbeat { watermark_ns });
            said = Instant::now();
        }
    }
}

/// Ships what was recorded since the last flush; false when there was
/// nothing.
fn flush(metrics: &RefCell<Metrics>, holds: &HoldBoard, outbox: &Outbox) -> anyhow::Result<bool> {
    let watermark = holds.watermark(monotonic_ns());
    let Some(batch) = metrics.borrow_mut().drain(watermark)? else {
        return Ok(false);
    };
    outbox.send(&FromWorker::Batch {
        batch: Box::new(batch),
    });
    Ok(true)
}
