//! A throwaway `redis-server` or `valkey-server`: started on a free
//! loopback port in a temp dir with persistence off, waited for with PING
//! and a deadline, killed and reaped when dropped, on every exit path.
//! Which program runs is [`Server`]'s; finding its binary, and saying how to
//! install it when it is missing, is this module's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use anyhow::{bail, Context};

use crate::scenario::{Persistence, Server};
use crate::topology::certs::RunCertificates;

/// Environment variable naming the redis-server binary to use.
pub const BINARY_ENV: &str = "SECKILL_REDIS_SERVER";
/// Environment variable naming the valkey-server binary to use.
pub const VALKEY_BINARY_ENV: &str = "SECKILL_VALKEY_SERVER";

/// How a server program is found, and installed when it is not.
struct Program {
    /// Its name on `PATH`.
    binary: &'static str,
    /// The variable naming a binary instead.
    env: &'static str,
    install: &'static str,
}

fn program(server: Server) -> Program {
    match server {
        Server::Redis => Program {
            binary: "redis-server",
            env: BINARY_ENV,
            install: "install it (Debian/Ubuntu: sudo apt-get install redis-server), \
                set SECKILL_REDIS_SERVER to its path, or pass --redis-url to use a running server",
        },
        // Sentinels are `valkey-server --sentinel`: no valkey-sentinel
        // binary is needed.
        Server::Valkey => Program {
            binary: "valkey-server",
            env: VALKEY_BINARY_ENV,
            install: "install it (Debian 12: scripts/lib/ensure-valkey.sh, or \
                sudo apt-get install -t bookworm-backports valkey-server; Debian 13: \
                sudo apt-get install valkey-server), set SECKILL_VALKEY_SERVER to its path, \
                or set redis.server = \"redis\"",
        },
    }
}

/// The program's binary name, as the report describes the embedded server.
pub fn binary_name(server: Server) -> &'static str {
    program(server).binary
}

/// The environment variable that names `server`'s binary.
pub fn env_var(server: Server) -> &'static str {
    program(server).env
}

/// What kind of server to start, and how.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// The program: redis-server or valkey-server.
    pub server: Server,
    pub persistence: Persistence,
    pub role: Role,
    /// TLS only (`--port 0`), with the run's certificates.
    pub tls: Option<Arc<RunCertificates>>,
    /// Configuration file text, for what must not show on a command line
    /// (passwords) or needs a file (a sentinel's).
    pub conf: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Role {
    #[default]
    Primary,
    /// `--replicaof 127.0.0.1 <of>`.
    Replica { of: u16 },
    /// `--sentinel` (its `conf` is required: sentinels must have a file).
    Sentinel,
    /// `--cluster-enabled yes`, with this `cluster-node-timeout` in ms. It
    /// keeps its folder: a cluster node that cannot save `nodes.conf`
    /// exits.
    ClusterNode { node_timeout_ms: u64 },
}

/// Every embedded server's folder in the temp dir is
/// `seckill-redis-<pid of the process that started it>-<random>`.
const DIR_PREFIX: &str = "seckill-redis-";

/// Removes, once per process, the server folders in the temp dir whose
/// owning process is gone. A cluster node must keep its folder while it
/// runs (it rewrites `nodes.conf` there, and exits when it cannot), so a
/// SIGKILLed coordinator leaves its nodes' folders; the next run that
/// starts an embedded server removes them.
fn remove_stale_dirs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let owner = name
                .to_str()
                .and_then(|n| n.strip_prefix(DIR_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<i32>().ok());
            if owner.is_some_and(|pid| pid > 0 && !crate::util::process::alive(pid)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
    options: ServerOptions,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    ///
    /// # Errors
    /// When no binary is found, or the server does not answer within `deadline`.
    pub fn start(deadline: Duration) -> anyhow::Result<RedisServer> {
        RedisServer::start_with(deadline, ServerOptions::default())
    }

    /// Starts a server as `options` say.
    ///
    /// # Errors
    /// When no binary is found, or the server does not answer within `deadline`.
    pub fn start_with(deadline: Duration, options: ServerOptions) -> anyhow::Result<RedisServer> {
        let binary = find_binary(options.server)?;
        // A free port is free when asked, not when redis-server binds it:
        // another process may take it in between. Such a start is tried
        // again on another port.
        remove_stale_dirs();
        for attempt in 1.. {
            // Named with this process's pid: a folder a SIGKILLed run had
            // to leave (a cluster node's) is removed by a later run.
            let dir = tempfile::Builder::new()
                .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
                .tempdir()
                .with_context(|| {
                    format!("creating a temp dir for {}", binary_name(options.server))
                })?;
            let cluster = matches!(options.role, Role::ClusterNode { .. });
            let port = free_port(cluster)?;
            let child = spawn(&binary, dir.path(), port, &options)?;
            let mut server = RedisServer {
                child,
                port,
                dir,
                binary: binary.clone(),
                options: options.clone(),
            };
            match server.wait_ready(deadline) {
                Ok(()) => {
                    server.forget_dir();
                    return Ok(server);
                }
                Err(e) if attempt < PORT_ATTEMPTS && format!("{e:#}").contains(PORT_TAKEN) => {}
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// A server without persistence never reads or writes its folder once
    /// it answers (certificates and a sentinel's configuration are read at
    /// start; a sentinel that cannot save a new configuration logs it and
    /// goes on): remove it now, so that even a SIGKILLed coordinator (whose
    /// redis-server dies with it) leaves no temp dir, and no key, behind.
    fn forget_dir(&self) {
        let cluster = matches!(self.options.role, Role::ClusterNode { .. });
        if self.options.persistence != Persistence::None || cluster {
            return;
        }
        // A sentinel rewrites its configuration whenever it learns
        // something; one landing mid-removal fails it (not empty). Once
        // the folder is gone it cannot come back: the rewrite then fails.
        let dir = self.dir.path();
        for _ in 0..20 {
            if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the server as a crash would (SIGKILL: no shutdown save).
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal (SIGSTOP, SIGCONT) to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with the pid of our own, not yet reaped, child.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// Starts a crashed server again on the same port and data folder.
    ///
    /// # Errors
    /// When it does not come back within a few seconds.
    pub fn revive(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.dir.path()).context("recreating redis-server's folder")?;
        self.child = spawn(&self.binary, self.dir.path(), self.port, &self.options)?;
        self.wait_ready(Duration::from_secs(10))?;
        self.forget_dir();
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://` or, with TLS, `rediss://` on loopback.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match self.options.role {
            Role::Sentinel => format!("{scheme}://127.0.0.1:{}", self.port),
            _ => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// Polling is the only readiness signal redis-server offers short of
    /// parsing its log; each probe is one cheap TCP connect.
    fn wait_ready(&mut self, deadline: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited at start ({status}):\n{}",
                    self.binary.display(),
                    self.log_tail()
                );
            }
            let up = match &self.options.tls {
                None => ping(self.port),
                Some(certs) => ping_tls(self.port, certs),
            };
            if up {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!(
            "{} did not answer PING within {deadline:?}:\n{}",
            self.binary.display(),
            self.log_tail()
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary `server` runs: its variable's path, else the first on `PATH`.
///
/// # Errors
/// When neither names a file: what to install, and the variable to set.
pub fn find_binary(server: Server) -> anyhow::Result<PathBuf> {
    let Program {
        binary,
        env,
        install,
    } = program(server);
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("{env}={} is not a file; {install}", path.display());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{binary} was not found on PATH; {install}"))
}

/// Starts that lost their port to another process before trying no more.
const PORT_ATTEMPTS: u32 = 5;
/// What the server logs when its port (or cluster bus port) was taken.
const PORT_TAKEN: &str = "Address already in use";

/// A free loopback port; for a cluster node, one whose bus port (port +
/// 10000) is free too.
fn free_port(cluster: bool) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        let port = listener.local_addr()?.port();
        if !cluster {
            return Ok(port);
        }
        let bus_free = port
            .checked_add(10_000)
            .is_some_and(|bus| std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok());
        if bus_free {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port with a free cluster bus port (+10000) on 127.0.0.1")
}

fn spawn(binary: &Path, dir: &Path, port: u16, options: &ServerOptions) -> anyhow::Result<Child> {
    let mut cmd = Command::new(binary);
    if let Some(conf) = &options.conf {
        let path = dir.join("redis.conf");
        crate::util::fs::write_private(&path, conf.as_bytes())?;
        cmd.arg(path);
    }
    if options.role == Role::Sentinel {
        cmd.arg("--sentinel");
    }
    let port = port.to_string();
    match &options.tls {
        None => cmd.args(["--port", &port]),
        Some(certs) => cmd
            .args(["--port", "0", "--tls-port", &port])
            .args(certs.server_args(dir)?),
    };
    cmd.args(["--bind", "127.0.0.1", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .args(["--logfile", "redis.log", "--maxclients", "10000"]);
    if options.role != Role::Sentinel {
        let appendonly = match options.persistence {
            Persistence::None => ["--appendonly", "no", "--appendfsync", "everysec"],
            Persistence::AofAlways => ["--appendonly", "yes", "--appendfsync", "always"],
        };
        cmd.args(["--save", ""]).args(appendonly);
        // Replication through sockets only (the folder is gone once the
        // server answers), at once rather than after the default 5 s.
        cmd.args([
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ])
        .args(["--repl-diskless-load", "swapdb"]);
    }
    match options.role {
        Role::Replica { of } => {
            cmd.args(["--replicaof", "127.0.0.1", &of.to_string()]);
        }
        Role::ClusterNode { node_timeout_ms } => {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-node-timeout", &node_timeout_ms.to_string()]);
        }
        Role::Primary | Role::Sentinel => {}
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::util::process::detach_from_terminal(&mut cmd);
    cmd.spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// PING over TLS, trusting the run's CA.
fn ping_tls(port: u16, certs: &RunCertificates) -> bool {
    let tls = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(certs.ca_pem.as_bytes().to_vec()),
    };
    let Ok(client) = redis::Client::build_with_tls(format!("rediss://127.0.0.1:{port}"), tls)
    else {
        return false;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
        return false;
    };
    // A listener that accepts and never answers must not hold us past
    // the start's deadline.
    let timeout = Some(Duration::from_millis(500));
    if conn.set_read_timeout(timeout).is_err() || conn.set_write_timeout(timeout).is_err() {
        return false;
    }
    match redis::cmd("PING").query::<String>(&mut conn) {
        Ok(_) => true,
        Err(e) => e.code() == Some("NOAUTH"),
    }
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    // A server whose default user is off answers NOAUTH: it is up.
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && (&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
}
