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
