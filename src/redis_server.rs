//! A throwaway `redis-server`: started on a free loopback port in a temp
//! dir with persistence off, waited for with PING and a deadline, killed
//! and reaped when dropped, on every exit path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::scenario::Persistence;

/// Environment variable naming the redis-server binary to use.
pub const BINARY_ENV: &str = "SECKILL_REDIS_SERVER";

const INSTALL_HINT: &str = "install it (Debian/Ubuntu: sudo apt-get install redis-server), \
     set SECKILL_REDIS_SERVER to its path, or pass --redis-url to use a running server";

pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
    persistence: Persistence,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    ///
    /// # Errors
    /// When no binary is found, or the server does not answer within `deadline`.
    pub fn start(deadline: Duration) -> anyhow::Result<RedisServer> {
        RedisServer::start_with(deadline, Persistence::None)
    }

    /// Starts a server keeping its data as `persistence` says.
    ///
    /// # Errors
    /// When no binary is found, or the server does not answer within `deadline`.
    pub fn start_with(deadline: Duration, persistence: Persistence) -> anyhow::Result<RedisServer> {
        let binary = find_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("seckill-redis-")
            .tempdir()
            .context("creating a temp dir for redis-server")?;
        let port = free_port()?;
        let child = spawn(&binary, dir.path(), port, persistence)?;
        let mut server = RedisServer {
            child,
            port,
            dir,
            binary,
            persistence,
        };
        server.wait_ready(deadline)?;
        server.forget_dir();
        Ok(server)
    }

    /// A server without persistence never writes to its folder once it
    /// answers: remove it now, so that even a SIGKILLed coordinator (whose
    /// redis-server dies with it) leaves no temp dir behind.
    fn forget_dir(&self) {
        if self.persistence == Persistence::None {
            let _ = std::fs::remove_dir_all(self.dir.path());
        }
    }

    /// Kills the server as a crash would (SIGKILL: no shutdown save).
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a crashed server again on the same port and data folder.
    ///
    /// # Errors
    /// When it does not come back within a few seconds.
    pub fn revive(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.dir.path()).context("recreating redis-server's folder")?;
        self.child = spawn(&self.binary, self.dir.path(), self.port, self.persistence)?;
        self.wait_ready(Duration::from_secs(10))?;
        self.forget_dir();
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
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
                    "redis-server exited at start ({status}):\n{}",
                    self.log_tail()
                );
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!(
            "redis-server did not answer PING within {deadline:?}:\n{}",
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

fn find_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "{BINARY_ENV}={} is not a file; {INSTALL_HINT}",
            path.display()
        );
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("redis-server was not found on PATH; {INSTALL_HINT}"))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn spawn(binary: &Path, dir: &Path, port: u16, persistence: Persistence) -> anyhow::Result<Child> {
    let mut cmd = Command::new(binary);
    let appendonly = match persistence {
        Persistence::None => ["--appendonly", "no", "--appendfsync", "everysec"],
        Persistence::AofAlways => ["--appendonly", "yes", "--appendfsync", "always"],
    };
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--daemonize", "no"])
        .args(appendonly)
        .arg("--dir")
        .arg(dir)
        .args(["--logfile", "redis.log", "--maxclients", "10000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::process::detach_from_terminal(&mut cmd);
    cmd.spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
