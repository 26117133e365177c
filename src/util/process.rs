//! How the harness starts child processes (workers, redis-server) so that
//! none outlives it: each in its own process group, so a terminal's Ctrl-C
//! reaches only the coordinator, which then stops them in order; and with a
//! parent-death signal, so even a SIGKILLed coordinator takes them along.

use std::os::unix::process::CommandExt;

/// Applies both settings to a command before it is spawned.
pub fn detach_from_terminal(cmd: &mut std::process::Command) {
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The process group of a child started with [`detach_from_terminal`] (it
/// leads its own): what the child forked (a launcher's shell, its `sleep`,
/// a helper) is in it too. Dropping the guard kills the whole group, so
/// none of them outlives the harness's use of the child.
#[derive(Debug)]
pub struct GroupGuard(Option<i32>);

impl GroupGuard {
    /// The group `child` leads; `None` when it has already been reaped.
    pub fn of(child: &tokio::process::Child) -> GroupGuard {
        GroupGuard(child.id().and_then(|pid| i32::try_from(pid).ok()))
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.filter(|&p| p > 1) {
            // SAFETY: a negative pid signals the process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// Starts worker `index` of run `run_id` (a re-exec of this binary), its
/// stdin and stdout piped, detached as above and killed if dropped.
///
/// # Errors
/// When this binary cannot be found or started.
pub fn start_worker(
    index: impl std::fmt::Display,
    run_id: &str,
) -> anyhow::Result<tokio::process::Child> {
    use anyhow::Context as _;
    use std::process::Stdio;
    let exe = std::env::current_exe().context("locating this binary to start workers")?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("worker")
        .arg(format!("--run={run_id}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    detach_from_terminal(&mut cmd);
    tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting worker {index} ({})", exe.display()))
}

/// This machine's name, for the fault log; `?` when it has none.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "?".to_owned())
}

/// User plus system CPU time of `who` (`RUSAGE_SELF`, `RUSAGE_CHILDREN`:
/// the reaped ones), in seconds.
pub fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the struct we pass it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
/// Whether a process with this pid exists (in this pid namespace: a pid
/// from a container that shares the folder is not seen).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let signalled = pid > 0 && unsafe { libc::kill(pid, 0) } == 0;
    signalled || (pid > 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}
