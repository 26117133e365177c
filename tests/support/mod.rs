//! Shared helpers for the integration tests: a real redis-server per test,
//! the real binary run in a temp dir, CSV readers, and the check that no
//! process the run started outlives it.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use seckill_bench::topology::redis_server::RedisServer;

pub mod sshd;

/// Runs of the binary share the machine; a test that measures timing takes
/// it alone, so its figures are not another test's load.
static MACHINE: RwLock<()> = RwLock::new(());

thread_local! {
    static ALONE: Cell<bool> = const { Cell::new(false) };
    /// Shared holds this thread has now: a second one is not taken, since
    /// a writer waiting between the two would block it for good.
    static SHARED: Cell<u32> = const { Cell::new(0) };
}

/// Held by a timing-sensitive test for its whole body: no other test's run
/// of the binary overlaps it.
pub struct Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>);

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
    }
}

pub fn alone() -> Alone {
    let guard = MACHINE.write().unwrap_or_else(|e| e.into_inner());
    ALONE.with(|a| a.set(true));
    Alone(guard)
}

/// A shared hold for one run (or a browser), unless this thread already
/// holds the machine alone, or shared (a test that starts a second run
/// while its first is running: taking the lock again would wait behind an
/// `alone()` that waits for the first).
pub fn shared() -> Shared {
    let held = ALONE.with(Cell::get) || SHARED.with(Cell::get) > 0;
    SHARED.with(|n| n.set(n.get() + 1));
    Shared(match held {
        true => None,
        false => Some(MACHINE.read().unwrap_or_else(|e| e.into_inner())),
    })
}

/// See [`shared`].
pub struct Shared(#[allow(dead_code)] Option<RwLockReadGuard<'static, ()>>);

impl Drop for Shared {
    fn drop(&mut self) {
        SHARED.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// A throwaway redis-server for one test, killed when dropped. Fails loudly,
/// with the install hint, when redis-server is missing.
pub fn redis() -> RedisServer {
    RedisServer::start(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("cannot start redis-server for the test: {e:#}"))
}

/// A test redis-server with two ACL users besides the password-less
/// default: `buyer` (password [`ROW_PASSWORD`], every command) and `noset`
/// (the same password, every command but `SET`, so every lock attempt is
/// refused while the harness's own SETNX, GET and DEL work).
pub struct RedisServerGuard(RedisServer);

/// The password of the guard's users; tests assert it never shows.
pub const ROW_PASSWORD: &str = "Zq9hunter2";

impl RedisServerGuard {
    pub fn new() -> RedisServerGuard {
        let guard = RedisServerGuard(redis());
        let mut conn = guard.connection();
        for (user, extra) in [("buyer", None), ("noset", Some("-set"))] {
            let mut cmd = redis::cmd("ACL");
            cmd.arg(&["SETUSER", user, "on"][..])
                .arg(format!(">{ROW_PASSWORD}"))
                .arg(&["~*", "+@all"][..]);
            if let Some(extra) = extra {
                cmd.arg(extra);
            }
            let () = cmd.query(&mut conn).unwrap();
        }
        guard
    }

    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.0.url())
            .and_then(|c| c.get_connection())
            .expect("connecting to the test redis-server")
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    pub fn url(&self) -> String {
        self.0.url()
    }

    pub fn url_as(&self, user: &str) -> String {
        format!("redis://{user}:{ROW_PASSWORD}@127.0.0.1:{}/0", self.port())
    }
}

pub fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"))
        .display()
        .to_string()
}

/// One finished run of the binary.
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("report")
    }

    /// Everything a person would need to see why a test failed.
    pub fn context(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }

    pub fn assert_code(&self, expected: i32) {
        assert_eq!(self.code(), expected, "{}", self.context());
    }

    /// Rows of a report CSV as column -> value maps.
    pub fn csv(&self, name: &str) -> Vec<HashMap<String, String>> {
        let path = self.out().join(name);
        let mut reader = csv::Reader::from_path(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}\n{}", path.display(), self.context()));
        let headers = reader.headers().unwrap().clone();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                headers
                    .iter()
                    .map(str::to_owned)
                    .zip(r.iter().map(str::to_owned))
                    .collect()
            })
            .collect()
    }

    pub fn summary(&self) -> HashMap<String, String> {
        let mut rows = self.csv("summary.csv");
        assert_eq!(rows.len(), 1, "summary.csv has one row");
        rows.remove(0)
    }
}

/// A number from a CSV row.
pub fn num(row: &HashMap<String, String>, column: &str) -> i64 {
    row.get(column)
        .unwrap_or_else(|| panic!("no column {column} in {row:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("column {column} of {row:?}: {e}"))
}

/// A command for the real binary, tagged so its descendants can be found.
pub struct Bench {
    cmd: Command,
    args: Vec<String>,
    tag: String,
    dir: tempfile::TempDir,
}

impl Bench {
    /// `seckill-bench run <scenario> --out <tempdir>/report <extra...>`.
    pub fn run(scenario: &str, extra: &[&str]) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["run".to_owned(), scenario.to_owned(), "--out".to_owned()];
        args.push(dir.path().join("report").display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        Bench::new(args, dir)
    }

    pub fn new(args: Vec<String>, dir: tempfile::TempDir) -> Bench {
        let tag = format!("seckill-test-{}-{}", std::process::id(), fastrand::u64(..));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seckill-bench"));
        cmd.args(&args)
            .current_dir(dir.path())
            .env("SECKILL_TEST_TAG", &tag);
        Bench {
            cmd,
            args,
            tag,
            dir,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Bench {
        self.cmd.env(key, value);
        self
    }

    /// Caps the run's address space (RLIMIT_AS, inherited by whatever it
    /// starts), so a run that reads without bound fails the test, not the
    /// machine.
    pub fn memory_limit(mut self, bytes: u64) -> Bench {
        use std::os::unix::process::CommandExt;
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit is async-signal-safe; the closure allocates
        // nothing between fork and exec.
        unsafe {
            self.cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        self
    }

    /// Starts it; the caller waits and then calls [`Bench::finish`].
    pub fn spawn(mut self) -> (std::process::Child, Pending) {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let machine = shared();
        let child = self.cmd.spawn().expect("starting seckill-bench");
        let pending = Pending {
            command: format!("seckill-bench {}", self.args.join(" ")),
            tag: self.tag,
            dir: self.dir,
            started: Instant::now(),
            _machine: machine,
        };
        (child, pending)
    }

    /// Runs to the end and checks nothing it started is left running.
    pub fn output(self) -> Run {
        let (child, pending) = self.spawn();
        pending.finish(child)
    }
}

pub struct Pending {
    command: String,
    pub tag: String,
    dir: tempfile::TempDir,
    started: Instant,
    _machine: Shared,
}

impl Pending {
    pub fn finish(self, child: std::process::Child) -> Run {
        let output = child.wait_with_output().expect("waiting for seckill-bench");
        let run = Run {
            command: self.command,
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: self.started.elapsed(),
            dir: self.dir,
        };
        assert_no_process_left(&self.tag, &run);
        run
    }
}

/// Reads a spawned run's stderr until its first progress line: the event
/// "the load has started". The rest is drained in the background and
/// returned by the handle.
pub fn wait_for_progress(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("purchases/s"));
    assert!(started, "the run ended before its first progress line");
    std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"))
}

/// `flash-sale` with a stock it never sells out, plus `extra`: a run that
/// goes on until its stop rule, a signal or a fault ends it.
pub fn endless_sale(extra: &[&str]) -> Bench {
    let mut args = vec!["--set", "stock.initial=1000000000"];
    args.extend_from_slice(extra);
    Bench::run(&scenario("flash-sale"), &args)
}

/// Sales in the timeline rows whose interval began at `from_s` or later.
pub fn sales_from(run: &Run, from_s: f64) -> i64 {
    let at = |row: &HashMap<String, String>, c: &str| row[c].parse::<f64>().unwrap();
    run.csv("timeline.csv")
        .iter()
        .filter(|r| at(r, "t_s") - at(r, "interval_s") >= from_s)
        .map(|r| num(r, "sales"))
        .sum()
}

/// Processes whose environment carries `tag`: the run and its descendants.
pub fn tagged_processes(tag: &str) -> Vec<u32> {
    let needle = format!("SECKILL_TEST_TAG={tag}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// Killed children take a moment to disappear from /proc; waiting for that
/// with a deadline is waiting for an event, and a survivor fails the test.
fn assert_no_process_left(tag: &str, run: &Run) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = tagged_processes(tag);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let names: Vec<String> = left
                .iter()
                .map(|pid| {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    )
                })
                .collect();
            panic!("processes left running: {names:?}\n{}", run.context());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a scenario file into a fresh temp dir.
pub fn write_scenario(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string())
}
