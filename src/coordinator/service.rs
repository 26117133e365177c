//! `[service]`: the user's service, N instances started by the harness on
//! free loopback ports, each in its own process group with a parent-death
//! signal, its output kept (redacted) for `service-<i>.log`. All must be
//! ready before `Go`; an instance that exits or is not ready in time fails
//! the run (exit 4) with the tail of its stderr. The faults stop, freeze
//! and restart instances here; every instance is stopped on every exit
//! path (dropping [`Services`] kills what is left).

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::proxy::{Proxy, Tap, Taps};
use crate::scenario::{RestartMode, ServiceSettings};
use crate::util::process::GroupGuard;
use crate::util::reaper::Reaper;

/// What `{stock}`, `{lock}`, `{run}` and `{redis_url}` stand for.
pub struct Vars {
    pub stock: String,
    pub lock: String,
    pub run: String,
    /// The run's Redis as a service reaches it, password included.
    pub redis_url: String,
    /// Text never written to a log: the Redis password, as written in
    /// the URL and decoded.
    pub secrets: Vec<String>,
}

/// Most bytes of an instance's output kept from its start; past them only
/// the last [`TAIL_LINES`] lines are.
const LOG_HEAD: usize = 512 * 1024;
const TAIL_LINES: usize = 200;
/// Lines of stderr a start-up failure shows.
const SHOWN_LINES: usize = 12;

/// One instance's output, redacted, bounded.
#[derive(Default)]
struct Log {
    head: String,
    tail: VecDeque<String>,
    dropped: u64,
    /// The last stderr lines, for a start-up failure's message.
    stderr: VecDeque<String>,
}

impl Log {
    fn push(&mut self, line: String, stderr: bool) {
        if stderr {
            if self.stderr.len() == SHOWN_LINES {
                self.stderr.pop_front();
            }
            self.stderr.push_back(line.clone());
        }
        if self.head.len() + line.len() < LOG_HEAD && self.tail.is_empty() {
            self.head.push_str(&line);
            self.head.push('\n');
            return;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
            self.dropped += 1;
        }
        self.tail.push_back(line);
    }

    fn text(&self) -> String {
        let mut out = self.head.clone();
        if self.dropped > 0 {
            out.push_str(&format!("... {} line(s) left out ...\n", self.dropped));
        }
        for line in &self.tail {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

struct Instance {
    port: u16,
    command: Vec<String>,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
    group: Option<GroupGuard>,
    pid: Option<u32>,
    log: Arc<Mutex<Log>>,
    /// The tasks copying its output into `log`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// Between this instance and Redis, when a fault needs to see or
    /// delay its commands.
    proxy: Option<Proxy>,
    /// Stopped by a `kill` fault: not started again.
    dead: bool,
    paused: bool,
}

pub struct Services {
    settings: ServiceSettings,
    instances: Vec<Instance>,
    secrets: Vec<String>,
    /// The lock-holder watch over every instance's proxy.
    pub taps: Option<Taps>,
    /// Kills the instances' groups if the coordinator dies (what an
    /// instance forked has no parent-death signal of its own).
    reaper: Option<Reaper>,
}

impl Services {
    /// Starts every instance and waits until all are ready. `proxied`:
    /// each instance reaches Redis through a proxy of its own (for
    /// latency, disconnect and lock-holder faults), `upstream` its
    /// `host:port`; `watch`: the stock and lock keys the lock-holder watch
    /// looks for.
    ///
    /// # Errors
    /// An instance that cannot start, exits, or is not ready in time; the
    /// message names it and shows the tail of its stderr. What was
    /// started is stopped.
    pub async fn start(
        settings: &ServiceSettings,
        vars: &Vars,
        proxied: Option<(&str, &str)>,
        watch: bool,
    ) -> anyhow::Result<Services> {
        let taps = watch.then(|| Taps::new(&vars.stock, &vars.lock));
        let mut services = Services {
            settings: settings.clone(),
            instances: Vec::new(),
            secrets: vars
                .secrets
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            taps,
            reaper: match Reaper::start(&vars.run) {
                Ok(reaper) => Some(reaper),
                Err(e) => {
                    eprintln!("warning: no reaper for the service instances ({e}): what they fork may outlive a killed harness");
                    None
                }
            },
        };
        // Every port held until all are chosen: no two instances get one.
        let held = (0..settings.instances)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<Vec<_>>>()
            .context("finding free ports for the service instances")?;
        let ports = held
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<u16>>>()?;
        drop(held);
        for (index, port) in ports.into_iter().enumerate() {
            let (proxy, redis_url) = match proxied {
                Some((upstream, url)) => {
                    let tap = services.taps.as_ref().map(|t| Tap::new(t, index));
                    let proxy = Proxy::start(upstream.to_owned(), tap).await?;
                    let url = super::via_proxy(url, proxy.port())?;
                    (Some(proxy), url)
                }
                None => (None, vars.redis_url.clone()),
            };
            let fill = |text: &str| {
                text.replace("{port}", &port.to_string())
                    .replace("{redis_url}", &redis_url)
                    .replace("{stock}", &vars.stock)
                    .replace("{lock}", &vars.lock)
                    .replace("{run}", &vars.run)
                    .replace("{index}", &index.to_string())
            };
            services.instances.push(Instance {
                port,
                command: settings.command.iter().map(|c| fill(c)).collect(),
                env: settings
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), fill(v)))
                    .collect(),
                child: None,
                group: None,
                pid: None,
                log: Arc::new(Mutex::new(Log::default())),
                readers: Vec::new(),
                proxy,
                dead: false,
                paused: false,
            });
            services.spawn(index)?;
        }
        let deadline = Instant::now() + settings.ready_timeout;
        for index in 0..services.instances.len() {
            if let Err(e) = services.ready(index, deadline).await {
                let tail = services.stderr_tail(index).await;
                services.kill_all();
                bail!(
                    "service instance {index} (port {}): {e:#}{tail}",
                    services.instances[index].port
                );
            }
        }
        Ok(services)
    }

    /// Starts instance `index` as configured.
    fn spawn(&mut self, index: usize) -> anyhow::Result<()> {
        let dir = self.settings.dir.clone();
        let secrets = self.secrets.clone();
        let instance = &mut self.instances[index];
        let mut cmd = std::process::Command::new(&instance.command[0]);
        cmd.args(&instance.command[1..])
            .current_dir(if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir.as_path()
            })
            .envs(instance.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::util::process::detach_from_terminal(&mut cmd);
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                let from = match dir.as_os_str().is_empty() {
                    true => std::path::Path::new("."),
                    false => dir.as_path(),
                };
                format!(
                    "starting service instance {index}: `{}` (from {})",
                    instance.command[0],
                    from.display()
                )
            })?;
        instance.pid = child.id();
        instance.group = Some(GroupGuard::of(&child));
        if let (Some(reaper), Some(pid)) = (self.reaper.as_mut(), instance.pid) {
            reaper.watch(pid);
        }
        if let Some(out) = child.stdout.take() {
            let log = instance.log.clone();
            instance
                .readers
                .push(tokio::spawn(keep(out, log, secrets.clone(), false)));
        }
        if let Some(err) = child.stderr.take() {
            let log = instance.log.clone();
            instance
                .readers
                .push(tokio::spawn(keep(err, log, secrets, true)));
        }
        instance.child = Some(child);
        instance.paused = false;
        Ok(())
    }

    /// Waits until instance `index` answers its ready check.
    async fn ready(&mut self, index: usize, deadline: Instant) -> anyhow::Result<()> {
        let path = self.settings.ready_path.clone();
        loop {
            let instance = &mut self.instances[index];
            if let Some(child) = instance.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!("exited during start-up ({status})");
                }
            }
            let last = match probe(instance.port, path.as_deref()).await {
                // Still alive after it answered: not another process on
                // its port while it failed to bind.
                Ok(()) => match instance.child.as_mut().map(|c| c.try_wait()) {
                    Some(Ok(Some(status))) => bail!("exited during start-up ({status})"),
                    _ => return Ok(()),
                },
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                bail!("not ready after {:?}: {last}", self.settings.ready_timeout);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn stderr_tail(&self, index: usize) -> String {
        // The readers may still hold the last lines: give them a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = self.instances[index].log.lock().expect("not poisoned");
        if log.stderr.is_empty() {
            return "\n  (it wrote nothing to stderr)".to_owned();
        }
        let lines: Vec<String> = log.stderr.iter().map(|l| format!("  | {l}")).collect();
        format!("\n  last lines of its stderr:\n{}", lines.join("\n"))
    }

    /// The base URL of every instance, for the workers.
    pub fn urls(&self) -> Vec<String> {
        self.instances
            .iter()
            .map(|i| format!("http://127.0.0.1:{}", i.port))
            .collect()
    }

    pub fn pid(&self, index: usize) -> Option<u32> {
        self.instances[index].pid
    }

    /// Instances with a process now, running or paused.
    pub fn alive(&self) -> usize {
        self.instances.iter().filter(|i| i.child.is_some()).count()
    }

    /// Instances running now (not killed, not down for a restart).
    pub fn running(&self) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|&i| {
                let instance = &self.instances[i];
                !instance.dead && !instance.paused && instance.child.is_some()
            })
            .collect()
    }

    pub fn proxies(&self) -> impl Iterator<Item = &Proxy> {
        self.instances.iter().filter_map(|i| i.proxy.as_ref())
    }

    /// Instances that exited by themselves since the last call (a crash
    /// under load, not a fault's doing), with their exit status.
    pub fn exited_by_themselves(&mut self) -> Vec<(usize, String)> {
        let mut gone = Vec::new();
        for (index, instance) in self.instances.iter_mut().enumerate() {
            let Some(child) = instance.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                gone.push((index, status.to_string()));
            }
        }
        // What it forked goes with it; its group id is not ours any more.
        for &(index, _) in &gone {
            self.signal(index, libc::SIGKILL);
            self.instances[index].child = None;
            self.gone(index);
        }
        gone
    }

    /// Waits until no instance sent Redis anything for `quiet` since now
    /// (through its proxy; without proxies, `quiet` itself), at most `max`.
    pub async fn quiet(&self, quiet: Duration, max: Duration) {
        let proxies: Vec<&Proxy> = self.proxies().collect();
        if proxies.is_empty() {
            return tokio::time::sleep(quiet).await;
        }
        let from = Instant::now();
        let deadline = from + max;
        loop {
            let idle = proxies.iter().map(|p| p.idle()).min().unwrap_or(quiet);
            let idle = idle.min(from.elapsed());
            if idle >= quiet || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(quiet - idle).await;
        }
    }

    /// SIGSTOPs the instance's process group.
    pub fn pause(&mut self, index: usize) {
        self.signal(index, libc::SIGSTOP);
        self.instances[index].paused = true;
    }

    pub fn resume(&mut self, index: usize) {
        self.signal(index, libc::SIGCONT);
        self.instances[index].paused = false;
    }

    /// SIGKILLs the instance's group; with `forever`, it is not started
    /// again.
    pub fn kill(&mut self, index: usize, forever: bool) {
        self.signal(index, libc::SIGCONT);
        self.signal(index, libc::SIGKILL);
        self.instances[index].dead |= forever;
        self.instances[index].child = None;
        self.gone(index);
    }

    /// The instance's group was killed: the reaper forgets it (its child,
    /// if any, is its caller's to wait for or drop).
    fn gone(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        if instance.group.take().is_some() {
            if let (Some(reaper), Some(pid)) = (self.reaper.as_mut(), instance.pid) {
                reaper.forget(pid);
            }
        }
    }

    /// Stops instance `index` as a restart does: SIGKILL, or SIGTERM and
    /// up to `stop_grace` before SIGKILL. Returns how it ended.
    pub async fn stop_one(&mut self, index: usize, mode: RestartMode) -> String {
        match mode {
            RestartMode::Crash => {
                self.kill(index, false);
                "SIGKILL".to_owned()
            }
            RestartMode::Graceful => {
                let grace = self.settings.stop_grace;
                let how = self.terminate(index, grace).await;
                self.instances[index].child = None;
                self.gone(index);
                how
            }
        }
    }

    /// Starts a stopped instance again on its port and waits until it is
    /// ready.
    ///
    /// # Errors
    /// When it cannot start or is not ready in time.
    pub async fn start_again(&mut self, index: usize) -> anyhow::Result<()> {
        self.spawn(index)?;
        let deadline = Instant::now() + self.settings.ready_timeout;
        if let Err(e) = self.ready(index, deadline).await {
            let tail = self.stderr_tail(index).await;
            bail!("{e:#}{tail}");
        }
        Ok(())
    }

    /// SIGTERM to the group, then SIGKILL after `grace`.
    async fn terminate(&mut self, index: usize, grace: Duration) -> String {
        self.signal(index, libc::SIGCONT);
        self.signal(index, libc::SIGTERM);
        let instance = &mut self.instances[index];
        let Some(child) = instance.child.as_mut() else {
            return "already gone".to_owned();
        };
        let how = match tokio::time::timeout(grace, child.wait()).await {
            Ok(_) => "SIGTERM".to_owned(),
            Err(_) => format!("SIGTERM, then SIGKILL after {grace:?}"),
        };
        // The rest of its group too (what it forked).
        if let Some(pid) = instance.pid {
            // SAFETY: a negative pid signals the process group.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        let _ = child.wait().await;
        how
    }

    /// Stops every instance: SIGTERM, `stop_grace`, SIGKILL. Done at the
    /// end of a run, before the final audit reads the stock.
    pub async fn stop_all(&mut self) {
        let grace = self.settings.stop_grace;
        for index in 0..self.instances.len() {
            if self.instances[index].child.is_some() {
                self.signal(index, libc::SIGCONT);
                self.signal(index, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        for instance in &mut self.instances {
            if let Some(child) = instance.child.as_mut() {
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = tokio::time::timeout(left, child.wait()).await;
            }
        }
        self.kill_all();
        // The last lines they wrote: their groups are gone, so the pipes
        // close and the readers finish (one bound for all: a process that
        // left the group may hold a pipe open).
        let drained = Instant::now() + Duration::from_secs(2);
        for instance in &mut self.instances {
            if let Some(mut child) = instance.child.take() {
                let _ = child.wait().await;
            }
            for reader in instance.readers.drain(..) {
                let _ = tokio::time::timeout_at(drained.into(), reader).await;
            }
        }
    }

    fn kill_all(&mut self) {
        for index in 0..self.instances.len() {
            self.signal(index, libc::SIGCONT);
            self.signal(index, libc::SIGKILL);
            self.gone(index);
        }
    }

    fn signal(&self, index: usize, sig: i32) {
        let instance = &self.instances[index];
        if let Some(pid) = instance.pid.filter(|_| instance.group.is_some()) {
            // SAFETY: a negative pid signals the process group.
            unsafe { libc::kill(-(pid as i32), sig) };
        }
    }

    /// `service-<i>.log` of every instance: what it wrote, redacted.
    pub fn logs(&self) -> Vec<(String, Vec<u8>)> {
        self.instances
            .iter()
            .enumerate()
            .map(|(i, instance)| {
                let log = instance.log.lock().expect("not poisoned");
                (format!("service-{i}.log"), log.text().into_bytes())
            })
            .collect()
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Longest line kept of an instance's output; the rest of it is cut.
const MAX_LINE: usize = 4096;

/// Reads one output stream of an instance into its log, line by line,
/// with passwords masked, to its end: whatever bytes it writes (not UTF-8,
/// a line without end), the pipe is drained, so the instance never blocks
/// on it or dies of a broken pipe.
async fn keep(
    stream: impl tokio::io::AsyncRead + Unpin,
    log: Arc<Mutex<Log>>,
    secrets: Vec<String>,
    stderr: bool,
) {
    let mut reader = BufReader::new(stream);
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let end = bytes.len().min(MAX_LINE);
        let mut line = String::from_utf8_lossy(&bytes[..end]).into_owned();
        // The password first, whole: masking URLs first could cut it
        // where it holds an `@`, and leave the rest of it in the line.
        for secret in &secrets {
            line = line.replace(secret.as_str(), crate::util::redact::MASK);
        }
        let line = crate::util::redact::redact(line.trim_end_matches(['\n', '\r']));
        log.lock().expect("not poisoned").push(line, stderr);
    }
}

/// One ready check: the port accepts, and with a path, a GET of it
/// answers 2xx. The error says what was seen.
async fn probe(port: u16, path: Option<&str>) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("port {port} refused: {e}"))?;
    let Some(path) = path else {
        return Ok(());
    };
    let check = async {
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("no HTTP on port {port}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("GET {path} answered {s}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .unwrap_or_else(|_| Err(format!("GET {path} got no answer in 2 s")))
}
