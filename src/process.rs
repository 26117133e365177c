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
