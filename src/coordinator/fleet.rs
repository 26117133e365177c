//! The worker processes: spawn (re-exec of this binary, or through an agent
//! on each `[hosts]` host), hand out plans, barrier start, and a single
//! stream of their messages. Every child is killed if the fleet is dropped
//! before it was shut down; an agent kills its workers when its pipe closes.

use std::ops::Range;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::launch;
use crate::protocol::{self, FromAgent, FromWorker, Sig, ToAgent, ToWorker, WorkerPlan};
use crate::scenario::HostsSettings;

/// Something one worker said, or its pipe closing.
#[derive(Debug)]
pub enum Event {
    Message(FromWorker),
    /// stdout closed: the worker exited (after `Done`) or died.
    Closed,
    BadLine(String),
    /// The worker's host was lost (its launcher's pipe closed) before the
    /// worker finished; `why`, when its agent said.
    HostLost {
        why: Option<String>,
    },
}

/// How long an agent has to start its workers, its launcher's handshake
/// included.
const AGENT_STARTS_WITHIN: Duration = Duration::from_secs(30);

/// How long every worker has to say `Ready`.
const READY_WITHIN: Duration = Duration::from_secs(120);

enum Worker {
    Local {
        child: Child,
        stdin: Option<ChildStdin>,
        /// The read end of its stdout, to see whether it has said
        /// something not yet read.
        stdout_fd: std::os::fd::RawFd,
    },
    Remote {
        host: usize,
    },
}

/// One load host: its launcher (which runs the agent) and what the run
/// measured of it.
struct Agent {
    launcher: Child,
    /// The launcher's process group, killed when the agent is dropped:
    /// whatever the launcher forked goes with it.
    _group: crate::util::process::GroupGuard,
    /// Lines for the agent; closing it closes the agent's stdin.
    lines: Option<mpsc::UnboundedSender<String>>,
    /// The agent's own messages, with when each arrived.
    control: mpsc::UnboundedReceiver<(Instant, FromAgent)>,
    /// Its launcher was killed: the agent did not answer.
    cut: bool,
}

/// A load host as the reports show it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    /// `local` for this machine, else the `[hosts] list` name.
    pub name: String,
    pub workers: Range<u32>,
    /// From sending `Go` to hearing that every worker of the host got it.
    pub go_rtt: Option<Duration>,
    /// The host's wall clock minus this one's, at the ping.
    pub clock_offset_us: Option<i64>,
    /// The host's monotonic clock when its workers got `Go`: what its
    /// workers' lock holds are measured from.
    pub monotonic_at_go: Option<u64>,
    /// Whether the binary was copied to it for this run.
    pub shipped: bool,
}

pub struct Fleet {
    workers: Vec<Worker>,
    pub pids: Vec<u32>,
    /// Per worker: the name of the machine it said it runs on (`Ready`).
    machines: Vec<String>,
    /// Per worker: its index in `hosts`.
    pub host_of: Vec<usize>,
    pub hosts: Vec<HostInfo>,
    agents: Vec<Agent>,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
    /// Per worker: when a remote one was told to die (through its agent).
    kill_sent: Vec<std::cell::Cell<Option<Instant>>>,
    /// `[hosts] dead_man`: how long an agent may take to act.
    dead_man: Duration,
}

impl Fleet {
    /// Starts one worker per plan, here or through the `[hosts]` agents,
    /// and sends each its plan.
    ///
    /// # Errors
    /// When this binary cannot be re-executed, or a host cannot be
    /// reached or prepared (naming it).
    pub async fn spawn(
        plans: Vec<WorkerPlan>,
        run_id: &str,
        hosts: Option<&HostsSettings>,
    ) -> anyhow::Result<Fleet> {
        match hosts {
            None => Fleet::spawn_local(plans, run_id).await,
            Some(hosts) => Fleet::spawn_remote(plans, run_id, hosts).await,
        }
    }

    async fn spawn_local(plans: Vec<WorkerPlan>, run_id: &str) -> anyhow::Result<Fleet> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut fleet = Fleet {
            workers: Vec::new(),
            pids: Vec::new(),
            machines: vec![String::new(); plans.len()],
            host_of: vec![0; plans.len()],
            hosts: vec![HostInfo {
                name: "local".to_owned(),
                workers: 0..plans.len() as u32,
                go_rtt: None,
                clock_offset_us: Some(0),
                monotonic_at_go: None,
                shipped: false,
            }],
            agents: Vec::new(),
            events,
            kill_sent: Vec::new(),
            dead_man: Duration::ZERO,
        };
        for (index, plan) in plans.into_iter().enumerate() {
            let mut child = crate::util::process::start_worker(index, run_id)?;
            let stdout = child.stdout.take().expect("stdout is piped");
            let stdout_fd = std::os::fd::AsRawFd::as_raw_fd(&stdout);
            tokio::spawn(forward(index, stdout, tx.clone()));
            fleet.pids.push(child.id().unwrap_or(0));
            fleet.workers.push(Worker::Local {
                stdin: child.stdin.take(),
                child,
                stdout_fd,
            });
            let message = ToWorker::Plan {
                plan_hash: plan.hash(),
                plan: Box::new(plan),
            };
            fleet.send(index, &message).await;
        }
        Ok(fleet)
    }

    async fn spawn_remote(
        plans: Vec<WorkerPlan>,
        run_id: &str,
        hosts: &HostsSettings,
    ) -> anyhow::Result<Fleet> {
        let local = match hosts.binary {
            crate::scenario::Binary::Ship => Some(Arc::new(launch::Local::this_binary()?)),
            crate::scenario::Binary::Path(_) => None,
        };
        // Probes and copies, a bounded number at once (sshd drops
        // handshakes beyond its MaxStartups).
        let gate = Arc::new(tokio::sync::Semaphore::new(
            hosts.max_parallel_starts as usize,
        ));
        let mut probes = tokio::task::JoinSet::new();
        for (i, host) in hosts.list.iter().enumerate() {
            let (gate, hosts, local, name) = (
                gate.clone(),
                hosts.clone(),
                local.clone(),
                host.name.clone(),
            );
            probes.spawn(async move {
                let _permit = gate.acquire().await;
                (i, launch::prepare(&hosts, &name, local.as_deref()).await)
            });
        }
        let mut shipped = vec![false; hosts.list.len()];
        while let Some(done) = probes.join_next().await {
            let (i, result) = done.context("a host probe panicked")?;
            match result {
                Ok(copied) => shipped[i] = copied,
                // The first host that fails ends the run: the others'
                // probes and copies are stopped (their launchers killed).
                Err(e) => {
                    probes.abort_all();
                    return Err(e);
                }
            }
        }
        let (tx, events) = mpsc::unbounded_channel();
        let ranges = hosts.ranges();
        let mut fleet = Fleet {
            workers: Vec::new(),
            pids: vec![0; plans.len()],
            machines: vec![String::new(); plans.len()],
            host_of: Vec::new(),
            hosts: Vec::new(),
            agents: Vec::new(),
            events,
            kill_sent: vec![std::cell::Cell::new(None); plans.len()],
            dead_man: hosts.dead_man,
        };
        for (h, (host, range)) in hosts.list.iter().zip(ranges).enumerate() {
            // At most max_parallel_starts launcher sessions in their
            // handshake at once: the oldest must have started its workers.
            let gate = hosts.max_parallel_starts as usize;
            if h >= gate {
                fleet.await_started(h - gate).await?;
            }
            let words = launch::agent_command(hosts, &host.name, local.as_deref(), run_id);
            let agent = start_agent(&words, range.clone(), hosts.dead_man, tx.clone())
                .with_context(|| format!("host {}: starting its agent", host.name))?;
            let start = ToAgent::Start {
                workers: range.clone().collect(),
            };
            agent.send(&start);
            fleet.agents.push(agent);
            fleet.hosts.push(HostInfo {
                name: host.name.clone(),
                workers: range.clone(),
                go_rtt: None,
                clock_offset_us: None,
                monotonic_at_go: None,
                shipped: shipped[h],
            });
            for _ in range {
                fleet.workers.push(Worker::Remote { host: h });
                fleet.host_of.push(h);
            }
        }
        let first_unconfirmed = hosts
            .list
            .len()
            .saturating_sub(hosts.max_parallel_starts as usize);
        for h in first_unconfirmed..hosts.list.len() {
            fleet.await_started(h).await?;
        }
        for (index, plan) in plans.into_iter().enumerate() {
            let message = ToWorker::Plan {
                plan_hash: plan.hash(),
                plan: Box::new(plan),
            };
            fleet.send(index, &message).await;
        }
        Ok(fleet)
    }

    /// Waits for host `h`'s agent to say its workers are started.
    async fn await_started(&mut self, h: usize) -> anyhow::Result<()> {
        let name = self.hosts[h].name.clone();
        let agent = &mut self.agents[h];
        let started = tokio::time::timeout(AGENT_STARTS_WITHIN, async {
            loop {
                match agent.control.recv().await {
                    Some((_, FromAgent::Started { pids, .. })) => return Ok(pids),
                    Some((_, FromAgent::Failed { message })) => return Err(message),
                    Some(_) => continue,
                    None => {
                        let how = match agent.launcher.try_wait() {
                            Ok(Some(status)) => {
                                format!(" ({})", super::launch::exit_status(status))
                            }
                            _ => String::new(),
                        };
                        return Err(format!(
                            "its launcher exited{how} before the agent answered; its stderr above may say why"
                        ));
                    }
                }
            }
        });
        match started.await {
            Ok(Ok(pids)) => {
                let workers = self.hosts[h].workers.clone();
                for (index, pid) in workers.zip(pids) {
                    self.pids[index as usize] = pid;
                }
                Ok(())
            }
            Ok(Err(why)) => bail!("host {name}: the agent did not start: {why}"),
            Err(_) => bail!(
                "host {name}: the agent did not start within {} s",
                AGENT_STARTS_WITHIN.as_secs()
            ),
        }
    }

    /// Whether the worker wrote something the coordinator has not read yet
    /// (a busy coordinator is behind, the worker is not silent). For a
    /// remote worker: whether its agent did.
    pub fn has_unread(&self, index: usize) -> bool {
        // A remote worker's lines share its agent's pipe with its
        // siblings': what waits there says nothing of this one.
        let fd = match &self.workers[index] {
            Worker::Local { stdout_fd, .. } => *stdout_fd,
            Worker::Remote { .. } => return false,
        };
        let mut unread: libc::c_int = 0;
        // SAFETY: FIONREAD only writes the count into `unread`; the fd is
        // the pipe's read end, open while its reader task runs.
        let ok = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut unread) };
        ok == 0 && unread > 0
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// A worker whose stdin is gone has exited; its stream says so.
    pub async fn send(&mut self, index: usize, message: &ToWorker) {
        match &mut self.workers[index] {
            Worker::Local { stdin, .. } => {
                if let Some(pipe) = stdin.as_mut() {
                    let line = protocol::encode(message);
                    if pipe.write_all(line.as_bytes()).await.is_err() {
                        *stdin = None;
                    }
                }
            }
            Worker::Remote { host } => self.agents[*host].send(&ToAgent::Relay {
                worker: index as u32,
                message: message.clone(),
            }),
        }
    }

    pub async fn broadcast(&mut self, message: &ToWorker) {
        for index in 0..self.workers.len() {
            self.send(index, message).await;
        }
    }

    /// Delivers a signal to a worker: directly to a local one, through its
    /// agent to a remote one.
    pub fn signal(&self, index: usize, signal: Sig) {
        match &self.workers[index] {
            Worker::Local { .. } => {
                // SAFETY: signalling our own child process.
                unsafe { libc::kill(self.pids[index] as i32, signal.number()) };
            }
            Worker::Remote { host } => {
                self.agents[*host].send(&ToAgent::Signal {
                    worker: index as u32,
                    signal,
                });
                if signal == Sig::Kill && self.kill_sent[index].get().is_none() {
                    self.kill_sent[index].set(Some(Instant::now()));
                }
            }
        }
    }

    /// Kills the launcher of a host whose agent did not end a worker it
    /// was told to kill within its dead-man time and a margin: a wedged
    /// agent or connection. The host is then lost, and the run does not
    /// wait for it forever. `done`: per worker, whether it has ended.
    pub fn cut_stuck_hosts(&mut self, done: &[bool]) {
        let limit = self.dead_man + Duration::from_secs(2);
        for (index, worker) in self.workers.iter().enumerate() {
            let Worker::Remote { host } = *worker else {
                continue;
            };
            let overdue = self.kill_sent[index]
                .get()
                .is_some_and(|at| at.elapsed() > limit);
            let agent = &mut self.agents[host];
            if overdue && !done[index] && !agent.cut {
                eprintln!(
                    "host {}: worker {index} was told to die {:.1} s ago and has not; ending the host's launcher",
                    self.hosts[host].name,
                    limit.as_secs_f64()
                );
                agent.cut = true;
                let _ = agent.launcher.start_kill();
            }
        }
    }

    /// `pid` of worker `index`, with its host when it is not this machine:
    /// for the fault log.
    pub fn who(&self, index: usize) -> String {
        let host = &self.hosts[self.host_of[index]].name;
        let machine = &self.machines[index];
        match (
            self.agents.is_empty(),
            machine.is_empty() || host.contains(machine.as_str()),
        ) {
            (true, _) => format!("pid {}", self.pids[index]),
            (false, true) => format!("pid {} on {host}", self.pids[index]),
            (false, false) => format!("pid {} on {host} ({machine})", self.pids[index]),
        }
    }

    /// Measures each host's clock against this one's (remote hosts only).
    pub async fn ping(&mut self) {
        for (h, agent) in self.agents.iter_mut().enumerate() {
            let sent = Instant::now();
            agent.send(&ToAgent::Ping {
                sent_unix_ns: unix_ns(),
            });
            let answer = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match agent.control.recv().await {
                        Some((
                            _,
                            FromAgent::Pong {
                                sent_unix_ns,
                                host_unix_ns,
                            },
                        )) => return Some((sent_unix_ns, host_unix_ns)),
                        Some(_) => continue,
                        None => return None,
                    }
                }
            });
            if let Ok(Some((sent_ns, host_ns))) = answer.await {
                let rtt = sent.elapsed().as_nanos() as i64;
                let midpoint = sent_ns as i64 + rtt / 2;
                self.hosts[h].clock_offset_us = Some((host_ns as i64 - midpoint) / 1000);
            }
        }
    }

    /// Tells every worker to go: each host's agent at once, then waits
    /// (briefly) to hear that each got it.
    pub async fn go(&mut self) {
        if self.agents.is_empty() {
            let sent = Instant::now();
            self.broadcast(&ToWorker::Go).await;
            self.hosts[0].go_rtt = Some(sent.elapsed());
            self.hosts[0].monotonic_at_go = Some(crate::hold::monotonic_ns());
            return;
        }
        let sent = Instant::now();
        for agent in &self.agents {
            agent.send(&ToAgent::Go);
        }
        for (h, agent) in self.agents.iter_mut().enumerate() {
            let went = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match agent.control.recv().await {
                        Some((at, FromAgent::Went { monotonic_ns })) => {
                            return Some((at, monotonic_ns))
                        }
                        Some(_) => continue,
                        None => return None,
                    }
                }
            });
            if let Ok(Some((at, monotonic_ns))) = went.await {
                self.hosts[h].go_rtt = Some(at.saturating_duration_since(sent));
                self.hosts[h].monotonic_at_go = Some(monotonic_ns);
            }
        }
    }

    /// The next event from any worker; `None` once every pipe is closed.
    pub async fn next(&mut self) -> Option<(usize, Event)> {
        self.events.recv().await
    }

    /// Waits until every worker said `Ready` with the right plan hash.
    ///
    /// # Errors
    /// When a worker fails, dies, or answers with a different plan hash,
    /// or not every worker is ready in time.
    pub async fn await_ready(&mut self, hashes: &[u64]) -> anyhow::Result<()> {
        let mut ready = vec![false; self.len()];
        let until = tokio::time::Instant::now() + READY_WITHIN;
        while ready.iter().any(|r| !r) {
            let next = tokio::time::timeout_at(until, self.next()).await;
            let Ok(next) = next else {
                let late: Vec<String> = (0..self.len())
                    .filter(|&i| !ready[i])
                    .map(|i| format!("{} ({})", i, self.hosts[self.host_of[i]].name))
                    .collect();
                bail!(
                    "worker(s) {} were not ready within {} s",
                    late.join(", "),
                    READY_WITHIN.as_secs()
                );
            };
            let (index, event) = next.context("every worker exited")?;
            match event {
                Event::Message(FromWorker::Ready {
                    plan_hash,
                    pid,
                    host,
                }) if plan_hash == hashes[index] => {
                    ready[index] = true;
                    self.pids[index] = pid;
                    self.machines[index] = host;
                }
                Event::Message(FromWorker::Ready { .. }) => {
                    bail!(
                        "worker {index} ({}) runs a different build: plan hash mismatch",
                        self.hosts[self.host_of[index]].name
                    )
                }
                other => return Err(self.unexpected(index, other)),
            }
        }
        Ok(())
    }

    /// Turns a worker's surprise into the error the user sees.
    pub fn unexpected(&self, index: usize, event: Event) -> anyhow::Error {
        unexpected(index, &self.who(index), event)
    }

    /// Closes every stdin and reaps every child (launchers too: an agent
    /// exits when its workers are done or its stdin closes).
    pub async fn reap(mut self) {
        for worker in &mut self.workers {
            if let Worker::Local { stdin, child, .. } = worker {
                *stdin = None;
                let _ = child.wait().await;
            }
        }
        // An agent exits once its workers are done; its stdin is closed
        // only after that (or a while), so it does not take the close for
        // a lost coordinator and kill workers that are finishing.
        // One that still has not exited a dead-man time after its stdin
        // closed is wedged: killed.
        let patience = self.dead_man + Duration::from_secs(2);
        for agent in &mut self.agents {
            let exited = agent.launcher.wait();
            if tokio::time::timeout(Duration::from_secs(3), exited)
                .await
                .is_err()
            {
                agent.lines = None;
                let exited = agent.launcher.wait();
                if tokio::time::timeout(patience, exited).await.is_err() {
                    let _ = agent.launcher.start_kill();
                    let _ = agent.launcher.wait().await;
                }
            }
        }
    }
}

impl Agent {
    fn send(&self, message: &ToAgent) {
        if let Some(lines) = &self.lines {
            let _ = lines.send(protocol::encode(message));
        }
    }
}

/// Starts the launcher that runs a host's agent, with a task that feeds
/// it (and heartbeats for its dead-man) and one that reads it.
fn start_agent(
    words: &[String],
    workers: Range<u32>,
    dead_man: Duration,
    events: mpsc::UnboundedSender<(usize, Event)>,
) -> anyhow::Result<Agent> {
    let mut cmd = std::process::Command::new(&words[0]);
    cmd.args(&words[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    crate::util::process::detach_from_terminal(&mut cmd);
    let mut launcher = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start the launcher `{}`", words[0]))?;
    let group = crate::util::process::GroupGuard::of(&launcher);
    let stdin = launcher.stdin.take().expect("stdin is piped");
    let stdout = launcher.stdout.take().expect("stdout is piped");
    let (lines, rx) = mpsc::unbounded_channel();
    let beat = (dead_man / 6).min(Duration::from_millis(500));
    tokio::spawn(feed_agent(stdin, rx, beat));
    let (control_tx, control) = mpsc::unbounded_channel();
    tokio::spawn(read_agent(stdout, workers, events, control_tx));
    Ok(Agent {
        launcher,
        _group: group,
        lines: Some(lines),
        control,
        cut: false,
    })
}

async fn feed_agent(
    mut stdin: ChildStdin,
    mut lines: mpsc::UnboundedReceiver<String>,
    beat: Duration,
) {
    let heartbeat = protocol::encode(&ToAgent::Heartbeat);
    let mut tick = tokio::time::interval(beat);
    loop {
        let line = tokio::select! {
            line = lines.recv() => match line {
                Some(line) => line,
                None => return,
            },
            _ = tick.tick() => heartbeat.clone(),
        };
        if stdin.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn read_agent(
    stdout: tokio::process::ChildStdout,
    workers: Range<u32>,
    events: mpsc::UnboundedSender<(usize, Event)>,
    control: mpsc::UnboundedSender<(Instant, FromAgent)>,
) {
    let mut open = vec![true; workers.len()];
    let mut why = None;
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let (worker, event) = match protocol::decode::<FromAgent>(&line) {
            Ok(FromAgent::Worker { worker, message }) => (worker, Event::Message(message)),
            Ok(FromAgent::Closed { worker }) => {
                if let Some(o) = open.get_mut(worker.wrapping_sub(workers.start) as usize) {
                    *o = false;
                }
                (worker, Event::Closed)
            }
            Ok(FromAgent::Failed { message }) => {
                why = Some(message.clone());
                let _ = control.send((Instant::now(), FromAgent::Failed { message }));
                continue;
            }
            Ok(other) => {
                let _ = control.send((Instant::now(), other));
                continue;
            }
            Err(e) => (
                garbled_worker(&line).unwrap_or(workers.start),
                Event::BadLine(format!("{e:#}")),
            ),
        };
        if !workers.contains(&worker) || events.send((worker as usize, event)).is_err() {
            continue;
        }
    }
    for (worker, _) in workers.zip(open).filter(|(_, open)| *open) {
        let lost = Event::HostLost { why: why.clone() };
        if events.send((worker as usize, lost)).is_err() {
            return;
        }
    }
}

/// The worker an agent's line relays, from its prefix, when the worker's
/// own line was not JSON.
fn garbled_worker(line: &str) -> Option<u32> {
    let rest = line.strip_prefix("{\"type\":\"worker\",\"worker\":")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Turns a worker's surprise into the error the user sees.
pub fn unexpected(index: usize, who: &str, event: Event) -> anyhow::Error {
    match event {
        Event::Message(FromWorker::Failed { message }) => {
            anyhow::anyhow!("worker {index} ({who}) failed: {message}")
        }
        Event::Closed => anyhow::anyhow!(
            "worker {index} ({who}) died unexpectedly; its stderr above may say why"
        ),
        Event::BadLine(line) => anyhow::anyhow!("worker {index} ({who}) sent garbage: {line}"),
        Event::Message(other) => {
            anyhow::anyhow!("worker {index} ({who}) sent {other:?} out of turn")
        }
        Event::HostLost { why } => anyhow::anyhow!(
            "worker {index} ({who}): its host was lost{}; the launcher's stderr above may say why",
            why.map(|w| format!(" ({w})")).unwrap_or_default()
        ),
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
