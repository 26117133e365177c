//! The worker processes: spawn (re-exec of this binary), hand out plans,
//! barrier start, and a single stream of their messages. Every child is
//! killed if the fleet is dropped before it was shut down.

use std::process::Stdio;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use crate::protocol::{self, FromWorker, ToWorker, WorkerPlan};

/// Something one worker said, or its pipe closing.
#[derive(Debug)]
pub enum Event {
    Message(FromWorker),
    /// stdout closed: the worker exited (after `Done`) or died.
    Closed,
    BadLine(String),
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
}

pub struct Fleet {
    workers: Vec<Worker>,
    pub pids: Vec<u32>,
    /// The read end of each worker's stdout, to see whether it has said
    /// something not yet read.
    stdout_fds: Vec<std::os::fd::RawFd>,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
}

impl Fleet {
    /// Starts one worker per plan and sends each its plan.
    ///
    /// # Errors
    /// When this binary cannot be re-executed.
    pub async fn spawn(plans: Vec<WorkerPlan>) -> anyhow::Result<Fleet> {
        let exe = std::env::current_exe().context("locating this binary to start workers")?;
        let (tx, events) = mpsc::unbounded_channel();
        let mut fleet = Fleet {
            workers: Vec::new(),
            pids: Vec::new(),
            stdout_fds: Vec::new(),
            events,
        };
        for (index, plan) in plans.into_iter().enumerate() {
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            crate::process::detach_from_terminal(&mut cmd);
            let mut child = tokio::process::Command::from(cmd)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting worker {index} ({})", exe.display()))?;
            let stdout = child.stdout.take().expect("stdout is piped");
            fleet
                .stdout_fds
                .push(std::os::fd::AsRawFd::as_raw_fd(&stdout));
            tokio::spawn(forward(index, stdout, tx.clone()));
            fleet.pids.push(child.id().unwrap_or(0));
            fleet.workers.push(Worker {
                stdin: child.stdin.take(),
                child,
            });
            let message = ToWorker::Plan {
                plan_hash: plan.hash(),
                plan: Box::new(plan),
            };
            fleet.send(index, &message).await;
        }
        Ok(fleet)
    }

    /// Whether the worker wrote something the coordinator has not read yet
    /// (a busy coordinator is behind, the worker is not silent).
    pub fn has_unread(&self, index: usize) -> bool {
        let mut unread: libc::c_int = 0;
        // SAFETY: FIONREAD only writes the count into `unread`; the fd is
        // the pipe's read end, open while its reader task runs.
        let ok = unsafe { libc::ioctl(self.stdout_fds[index], libc::FIONREAD, &mut unread) };
        ok == 0 && unread > 0
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// A worker whose stdin is gone has exited; its stream says so.
    pub async fn send(&mut self, index: usize, message: &ToWorker) {
        if let Some(stdin) = self.workers[index].stdin.as_mut() {
            let line = protocol::encode(message);
            if stdin.write_all(line.as_bytes()).await.is_err() {
                self.workers[index].stdin = None;
            }
        }
    }

    pub async fn broadcast(&mut self, message: &ToWorker) {
        for index in 0..self.workers.len() {
            self.send(index, message).await;
        }
    }

    /// The next event from any worker; `None` once every pipe is closed.
    pub async fn next(&mut self) -> Option<(usize, Event)> {
        self.events.recv().await
    }

    /// Waits until every worker said `Ready` with the right plan hash.
    ///
    /// # Errors
    /// When a worker fails, dies, or answers with a different plan hash.
    pub async fn await_ready(&mut self, hashes: &[u64]) -> anyhow::Result<()> {
        let mut ready = vec![false; self.len()];
        while ready.iter().any(|r| !r) {
            let (index, event) = self.next().await.context("every worker exited")?;
            match event {
                Event::Message(FromWorker::Ready { plan_hash }) if plan_hash == hashes[index] => {
                    ready[index] = true;
                }
                Event::Message(FromWorker::Ready { .. }) => {
                    bail!("worker {index} runs a different build: plan hash mismatch")
                }
                other => return Err(unexpected(index, self.pids[index], other)),
            }
        }
        Ok(())
    }

    /// Closes every stdin and reaps every child.
    pub async fn reap(mut self) {
        for worker in &mut self.workers {
            worker.stdin = None;
            let _ = worker.child.wait().await;
        }
    }
}

/// Turns a worker's surprise into the error the user sees.
pub fn unexpected(index: usize, pid: u32, event: Event) -> anyhow::Error {
    match event {
        Event::Message(FromWorker::Failed { message }) => {
            anyhow::anyhow!("worker {index} (pid {pid}) failed: {message}")
        }
        Event::Closed => anyhow::anyhow!(
            "worker {index} (pid {pid}) died unexpectedly; its stderr above may say why"
        ),
        Event::BadLine(line) => anyhow::anyhow!("worker {index} (pid {pid}) sent garbage: {line}"),
        Event::Message(other) => {
            anyhow::anyhow!("worker {index} (pid {pid}) sent {other:?} out of turn")
        }
    }
}

async fn forward(
    index: usize,
    stdout: tokio::process::ChildStdout,
    tx: mpsc::UnboundedSender<(usize, Event)>,
) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let event = match protocol::decode::<FromWorker>(&line) {
            Ok(message) => Event::Message(message),
            Err(e) => Event::BadLine(format!("{e:#}")),
        };
        if tx.send((index, event)).is_err() {
            return;
        }
    }
    let _ = tx.send((index, Event::Closed));
}
