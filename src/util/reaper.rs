//! The reaper: a small process of this binary (`seckill-bench reaper`)
//! that outlives its coordinator just long enough to kill the process
//! groups the coordinator started. A child started with a parent-death
//! signal dies with a SIGKILLed coordinator, but what that child forked
//! (a service's worker processes) does not; the reaper kills their whole
//! group when its stdin closes, which happens on every exit of the
//! coordinator, a SIGKILL included.
//!
//! Its stdin: `+<pgid>` lines add a group, `-<pgid>` lines drop one the
//! coordinator already stopped.

use std::io::BufRead;

/// Entry point of the hidden `reaper` subcommand: reads groups until
/// stdin closes, then SIGKILLs every group still listed.
pub fn main() {
    let mut groups: Vec<i32> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (sign, number) = line.split_at(line.len().min(1));
        let Ok(pgid) = number.trim().parse::<i32>() else {
            continue;
        };
        match sign {
            "+" if pgid > 1 => groups.push(pgid),
            "-" => groups.retain(|&g| g != pgid),
            _ => {}
        }
    }
    for pgid in groups {
        // SAFETY: a negative pid signals the process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// The coordinator's end: a running reaper and the pipe to it. Dropping
/// it closes the pipe, and the reaper kills what is still listed.
pub struct Reaper {
    stdin: Option<std::process::ChildStdin>,
    child: std::process::Child,
}

impl Reaper {
    /// Starts `seckill-bench reaper` in a process group of its own (a
    /// terminal's Ctrl-C does not reach it).
    ///
    /// # Errors
    /// When this binary cannot be found or started.
    pub fn start(run_id: &str) -> std::io::Result<Reaper> {
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg("reaper")
            .arg(format!("--run={run_id}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Reaper {
            stdin: child.stdin.take(),
            child,
        })
    }

    /// Lists a group to kill if the coordinator dies.
    pub fn watch(&mut self, pgid: u32) {
        self.say(&format!("+{pgid}\n"));
    }

    /// The group was stopped: forget it (its id may be reused).
    pub fn forget(&mut self, pgid: u32) {
        self.say(&format!("-{pgid}\n"));
    }

    fn say(&mut self, line: &str) {
        use std::io::Write;
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(line.as_bytes());
            let _ = stdin.flush();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
