//! Test "load hosts": real `sshd`s of the test's own, in the foreground as
//! its children, on loopback addresses 127.0.0.2, 127.0.0.3, ... Each has a
//! generated host key and its own `$HOME` (so a shipped binary lands in a
//! fresh cache); the client key is generated too and the host keys are
//! pinned in a `known_hosts`. The files live where `StrictModes yes` holds
//! (see [`strict_base`]).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

pub struct SshHosts {
    dir: tempfile::TempDir,
    sshds: Vec<Child>,
    /// What `{host}` becomes: `ssh://user@127.0.0.N:port`.
    pub hosts: Vec<String>,
    /// Each host's `$HOME`.
    pub homes: Vec<PathBuf>,
}

impl SshHosts {
    /// Starts `n` sshds on 127.0.0.2 onwards and waits until each accepts
    /// connections.
    pub fn start(n: usize) -> SshHosts {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (scripts/test.sh does)"
        );
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd for sshd");
        let base = strict_base();
        let dir = tempfile::Builder::new()
            .prefix("sshd-")
            .tempdir_in(&base)
            .unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        let mut hosts = SshHosts {
            sshds: Vec::new(),
            hosts: Vec::new(),
            homes: Vec::new(),
            dir,
        };
        let mut known = String::new();
        for i in 0..n {
            let ip = format!("127.0.0.{}", i + 2);
            let home = d.join(format!("home-{i}"));
            std::fs::create_dir(&home).unwrap();
            let (child, port) = start_sshd(d, &ip, &home, i);
            known.push_str(&format!("[{ip}]:{port} {host_pub}"));
            hosts.sshds.push(child);
            hosts.hosts.push(format!("ssh://{user}@{ip}:{port}"));
            hosts.homes.push(home);
        }
        std::fs::write(d.join("known_hosts"), known).unwrap();
        hosts
    }

    /// The `launcher` value for a scenario: ssh with the test's key and
    /// pinned host keys, nothing from the user's ssh config.
    pub fn launcher(&self) -> String {
        let d = self.dir.path().display();
        format!(
            r#"["ssh", "-T", "-F", "/dev/null", "-i", "{d}/client_key", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile={d}/known_hosts", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=2", "{{host}}"]"#
        )
    }

    /// A `[hosts]` table over every host, plus `extra` lines.
    pub fn table(&self, extra: &str) -> String {
        let list: Vec<String> = self
            .hosts
            .iter()
            .map(|h| format!("{{ host = \"{h}\" }}"))
            .collect();
        format!(
            "\n[hosts]\nlauncher = {}\nlist = [{}]\n{extra}\n",
            self.launcher(),
            list.join(", ")
        )
    }
}

impl Drop for SshHosts {
    fn drop(&mut self) {
        for child in &mut self.sshds {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A folder for the sshds' files that `StrictModes yes` accepts: no
/// directory from it up to the root (or the home directory, where sshd
/// stops looking) may be writable by group or others, as `/tmp` is. The
/// target directory when the checkout is somewhere safe, else a cache
/// folder in the home directory.
fn strict_base() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let safe = |dir: &Path| {
        dir.ancestors().all(|d| {
            std::fs::metadata(d)
                .is_ok_and(|m| m.mode() & 0o022 == 0 && (m.uid() == 0 || m.uid() == uid))
        })
    };
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if safe(&target) {
        return target;
    }
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let cache = home.join(".cache").join("seckill-bench-tests");
    std::fs::create_dir_all(&cache).unwrap();
    assert!(
        safe(&cache),
        "neither {} nor {} is a place sshd's StrictModes accepts",
        target.display(),
        cache.display()
    );
    cache
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("running ssh-keygen");
    assert!(status.success());
}

/// One sshd on `ip`, on a port free there; tried again on another port if
/// it lost the one it was given.
fn start_sshd(dir: &Path, ip: &str, home: &Path, i: usize) -> (Child, u16) {
    for _ in 0..5 {
        let port = TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .expect("finding a free port")
            .port();
        let config = dir.join(format!("sshd_config-{i}"));
        let d = dir.display();
        std::fs::write(
            &config,
            format!(
                "ListenAddress {ip}:{port}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile none\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nStrictModes yes\nMaxStartups 20\nLogLevel ERROR\n\
                 SetEnv HOME={}\n",
                home.display()
            ),
        )
        .unwrap();
        // Its log in a file: a readiness probe that closes at once is
        // logged as an error, noise on the test's stderr.
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-E")
            .arg(dir.join(format!("sshd-{i}.log")))
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting sshd");
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return (child, port);
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("sshd did not start on {ip}");
}

/// Processes whose command line holds `needle` (a run's scenario name,
/// which starts its run id): agents and workers, wherever started.
pub fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains(needle) && cmd.contains("--run")).then_some((pid, cmd))
        })
        .collect()
}

/// Waits until no process carries `needle`; those left at `within`.
pub fn gone_within(needle: &str, within: Duration) -> Vec<(u32, String)> {
    let until = Instant::now() + within;
    loop {
        let left = processes_with(needle);
        if left.is_empty() || Instant::now() > until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process carrying `needle` is stopped (state `T`).
pub fn one_stopped(needle: &str) -> bool {
    processes_with(needle).iter().any(|(pid, _)| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('T'))
            })
            .unwrap_or(false)
    })
}
