//! `seckill-bench agent`: one per load host, started by the coordinator
//! through `[hosts] launcher` (ssh, kubectl exec). It starts the host's
//! workers, relays their lines tagged with the worker's index, delivers
//! signals (a stopped worker reads no stdin), and answers clock pings.
//!
//! It must never outlive the coordinator: when its stdin closes, or no line
//! came for the dead-man time (the coordinator heartbeats), it kills its
//! workers, frozen ones included, and exits. Its workers also die with it
//! (parent-death signal), should it be killed itself.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use crate::hold::monotonic_ns;
use crate::protocol::{self, FromAgent, ToAgent, ToWorker};

/// A worker's end, as its stdout reader sees it.
enum Ended {
    /// It said `Done` or `Failed`: nothing more will come but its exit.
    Said(u32),
    /// Its stdout closed.
    Closed(u32),
}

struct Worker {
    index: u32,
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    open: bool,
}

/// Entry point of the hidden `agent` subcommand.
///
/// # Errors
/// When the coordinator falls silent or closes the pipe before every
/// worker finished, or a worker cannot be started.
pub fn main(run_id: &str, dead_man: Duration) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the agent's tokio runtime")?;
    let result = runtime.block_on(serve(run_id, dead_man));
    // A read of stdin may still be pending (a silent coordinator): the
    // agent must not wait for it to exit.
    runtime.shutdown_background();
    result
}

async fn serve(run_id: &str, dead_man: Duration) -> anyhow::Result<()> {
    let (out, out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(write_out(out_rx));
    let (closed_tx, mut closed) = mpsc::unbounded_channel::<Ended>();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut workers: Vec<Worker> = Vec::new();
    let mut heard = Instant::now();
    let result = loop {
        let silent_until = tokio::time::Instant::from(heard + dead_man);
        tokio::select! {
            biased;
            line = lines.next_line() => {
                let line = match line {
                    Ok(Some(line)) => line,
                    Ok(None) | Err(_) if workers.iter().all(|w| !w.open) && !workers.is_empty() => break Ok(()),
                    Ok(None) | Err(_) => break Err(anyhow::anyhow!("the coordinator closed the pipe")),
                };
                let message: ToAgent = match protocol::decode(&line) {
                    Ok(message) => message,
                    Err(e) => break Err(e.context("from the coordinator")),
                };
                if let Err(e) = obey(message, &mut workers, run_id, &out, &closed_tx).await {
                    let _ = out.send(protocol::encode(&FromAgent::Failed { message: format!("{e:#}") }));
                    break Err(e);
                }
                // After obeying: starting many workers may take a while.
                heard = Instant::now();
            }
            Some(ended) = closed.recv() => match ended {
                // A worker that said its last word waits for its stdin to
                // close before it exits, as it does under the coordinator.
                Ended::Said(index) => {
                    if let Some(w) = workers.iter_mut().find(|w| w.index == index) {
                        w.stdin = None;
                    }
                }
                Ended::Closed(index) => {
                    let _ = out.send(protocol::encode(&FromAgent::Closed { worker: index }));
                    if let Some(w) = workers.iter_mut().find(|w| w.index == index) {
                        w.open = false;
                    }
                    if workers.iter().all(|w| !w.open) {
                        break Ok(());
                    }
                }
            },
            () = tokio::time::sleep_until(silent_until) => {
                break Err(anyhow::anyhow!(
                    "no word from the coordinator for {:.1} s (dead-man)",
                    dead_man.as_secs_f64()
                ));
            }
        }
    };
    let killed = kill_all(&mut workers).await;
    // What the writer still holds goes out before the agent exits: the
    // last batches and `Closed`s of a run that ended well; after a failure,
    // for a moment only (a silent coordinator may read nothing more).
    drop(out);
    let drain = match result {
        Ok(()) => dead_man,
        Err(_) => Duration::from_secs(1),
    };
    let _ = tokio::time::timeout(drain, writer).await;
    match result {
        Err(e) if killed > 0 => Err(e.context(format!("killed its {killed} worker(s)"))),
        other => other,
    }
}

async fn obey(
    message: ToAgent,
    workers: &mut Vec<Worker>,
    run_id: &str,
    out: &mpsc::UnboundedSender<String>,
    closed: &mpsc::UnboundedSender<Ended>,
) -> anyhow::Result<()> {
    match message {
        ToAgent::Start { workers: indices } => {
            if !workers.is_empty() {
                bail!("asked to start workers twice");
            }
            for index in indices {
                workers.push(start(index, run_id, out.clone(), closed.clone())?);
            }
            let started = FromAgent::Started {
                pids: workers.iter().map(|w| w.pid).collect(),
                host: crate::util::process::hostname(),
            };
            let _ = out.send(protocol::encode(&started));
        }
        ToAgent::Relay { worker, message } => {
            if let Some(w) = workers.iter_mut().find(|w| w.index == worker) {
                send(w, &message).await;
            }
        }
        ToAgent::Go => {
            for w in workers.iter_mut() {
                send(w, &ToWorker::Go).await;
            }
            let went = FromAgent::Went {
                monotonic_ns: monotonic_ns(),
            };
            let _ = out.send(protocol::encode(&went));
        }
        ToAgent::Signal { worker, signal } => {
            if let Some(w) = workers.iter().find(|w| w.index == worker && w.open) {
                // SAFETY: signalling our own child process.
                unsafe { libc::kill(w.pid as i32, signal.number()) };
            }
        }
        ToAgent::Ping { sent_unix_ns } => {
            let pong = FromAgent::Pong {
                sent_unix_ns,
                host_unix_ns: unix_ns(),
            };
            let _ = out.send(protocol::encode(&pong));
        }
        ToAgent::Heartbeat => {}
    }
    Ok(())
}

fn start(
    index: u32,
    run_id: &str,
    out: mpsc::UnboundedSender<String>,
    closed: mpsc::UnboundedSender<Ended>,
) -> anyhow::Result<Worker> {
    let mut child = crate::util::process::start_worker(index, run_id)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let last =
                line.starts_with(r#"{"type":"done""#) || line.starts_with(r#"{"type":"failed""#);
            if out.send(protocol::relayed(index, &line)).is_err() {
                break;
            }
            if last {
                let _ = closed.send(Ended::Said(index));
            }
        }
        let _ = closed.send(Ended::Closed(index));
    });
    Ok(Worker {
        index,
        pid: child.id().unwrap_or(0),
        stdin: child.stdin.take(),
        child,
        open: true,
    })
}

async fn send(worker: &mut Worker, message: &ToWorker) {
    if let Some(stdin) = worker.stdin.as_mut() {
        let line = protocol::encode(message);
        if stdin.write_all(line.as_bytes()).await.is_err() {
            worker.stdin = None;
        }
    }
}

/// SIGKILL (which ends a stopped process too) to every worker still
/// running, then reaps them all; how many were killed.
async fn kill_all(workers: &mut [Worker]) -> usize {
    let mut killed = 0;
    for w in workers.iter_mut() {
        w.stdin = None;
        if let Ok(None) = w.child.try_wait() {
            // SAFETY: signalling our own, not yet reaped, child.
            unsafe { libc::kill(w.pid as i32, libc::SIGKILL) };
            killed += 1;
        }
        let _ = w.child.wait().await;
    }
    killed
}

/// Writes the agent's lines in order; a closed stdout (the coordinator or
/// its launcher gone) ends it, and the dead-man then ends the agent.
async fn write_out(mut lines: mpsc::UnboundedReceiver<String>) {
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.recv().await {
        if stdout.write_all(line.as_bytes()).await.is_err() {
            return;
        }
        // Batch what is already queued into one flush.
        while let Ok(more) = lines.try_recv() {
            if stdout.write_all(more.as_bytes()).await.is_err() {
                return;
            }
        }
        if stdout.flush().await.is_err() {
            return;
        }
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
