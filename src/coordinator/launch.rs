//! Getting an agent onto a load host through `[hosts] launcher`: a probe
//! (is the host there, what architecture, has it the binary), shipping this
//! binary when asked, and the agent's command line. Every remote command is
//! `sh -c SCRIPT`, its words quoted for a shell when the launcher goes
//! through one (ssh) and passed as they are otherwise (kubectl exec).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::io::AsyncWriteExt;

use crate::scenario::{shell_quote, Binary, HostsSettings};

/// How long a probe (one launcher round trip) may take.
const PROBE_WITHIN: Duration = Duration::from_secs(20);
/// How long copying the binary to one host may take.
const SHIP_WITHIN: Duration = Duration::from_secs(300);

/// This binary and its SHA-256, the name of its cache folder on the hosts.
pub struct Local {
    pub sha256: String,
    /// Read once, shared by every host's copy.
    bytes: std::sync::Arc<Vec<u8>>,
}

impl Local {
    /// # Errors
    /// When this binary cannot be read.
    pub fn this_binary() -> anyhow::Result<Local> {
        let path = std::env::current_exe().context("locating this binary to ship it")?;
        let bytes = std::fs::read(&path)
            .with_context(|| format!("reading {} to ship it", path.display()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let sha256 = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Local {
            sha256,
            bytes: std::sync::Arc::new(bytes),
        })
    }
}

/// Where the agent's binary is on the host, as a shell word (`$HOME` is
/// expanded there).
fn remote_path(binary: &Binary, local: Option<&Local>) -> String {
    match (binary, local) {
        (Binary::Path(path), _) => shell_quote(path),
        (Binary::Ship, Some(local)) => {
            format!(
                "\"$HOME\"/.cache/seckill-bench/{}/seckill-bench",
                local.sha256
            )
        }
        (Binary::Ship, None) => unreachable!("shipping needs this binary's hash"),
    }
}

/// Makes sure `host` can run the agent: it answers, its architecture is
/// this one's (when shipping), and the binary is there (copied when
/// shipping). Returns whether it was copied.
///
/// # Errors
/// Naming the host: it did not answer, refused, is another architecture,
/// or has no binary at the given path.
pub async fn prepare(
    hosts: &HostsSettings,
    host: &str,
    local: Option<&Local>,
) -> anyhow::Result<bool> {
    let path = remote_path(&hosts.binary, local);
    let probe = format!("uname -m; if [ -x {path} ]; then echo present; else echo absent; fi");
    let answer = remote(hosts, host, &probe, None, PROBE_WITHIN).await?;
    let mut lines = answer.stdout.lines();
    let arch = lines.next().unwrap_or_default().trim();
    let present = match lines.next().map(str::trim) {
        Some("present") => true,
        Some("absent") => false,
        // The launcher ended without running the probe (`true`, a
        // wrapper that forgot its arguments): its words, not the host's.
        _ => bail!(
            "host {host}: the launcher `{}` exited ({}) before the host answered the probe (`uname -m`){}\n  what to do: check hosts.launcher: it must run the command words it is given on the host, as `ssh {{host}}` does",
            hosts.command_for(host, &[])[0],
            exit_status(answer.status),
            said(&answer.stderr)
        ),
    };
    match &hosts.binary {
        Binary::Path(p) if !present => bail!(
            "host {host}: no executable seckill-bench at {p}; install this version there, or set hosts.binary = \"ship\""
        ),
        Binary::Path(_) => Ok(false),
        Binary::Ship if arch != std::env::consts::ARCH => bail!(
            "host {host} is {arch}, this binary is built for {}: it cannot be shipped there; build one for {arch} and give its path in hosts.binary",
            std::env::consts::ARCH
        ),
        Binary::Ship if present => Ok(false),
        Binary::Ship => {
            let local = local.expect("shipping needs this binary");
            let dir = format!("\"$HOME\"/.cache/seckill-bench/{}", local.sha256);
            // Written under a temporary name, its length checked, and
            // renamed: neither a run that starts while another is copying
            // nor a copy cut short (Ctrl-C, a dropped connection) ever
            // leaves half a binary where the probe finds it.
            let install = format!(
                "set -e; mkdir -p {dir}; t={dir}/.seckill-bench.$$; cat > \"$t\"; \
                 if [ \"$(wc -c < \"$t\")\" -ne {} ]; then rm -f \"$t\"; echo 'the copy was cut short' >&2; exit 1; fi; \
                 chmod 755 \"$t\"; mv -f \"$t\" {path}",
                local.bytes.len()
            );
            remote(hosts, host, &install, Some(local.bytes.clone()), SHIP_WITHIN)
                .await
                .with_context(|| format!("copying this binary to host {host}"))?;
            Ok(true)
        }
    }
}

/// The launcher's command that runs the agent on `host`.
pub fn agent_command(
    hosts: &HostsSettings,
    host: &str,
    local: Option<&Local>,
    run_id: &str,
) -> Vec<String> {
    let path = remote_path(&hosts.binary, local);
    let script = format!(
        "exec {path} agent {} --dead-man-ms {}",
        shell_quote(&format!("--run={run_id}")),
        hosts.dead_man.as_millis()
    );
    hosts.command_for(host, &["sh".into(), "-c".into(), script])
}

/// What a launcher's command gave back.
struct Answer {
    stdout: String,
    stderr: String,
    status: std::process::ExitStatus,
}

/// `exit status 3`, or the signal that ended it.
pub fn exit_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended".to_owned(),
    }
}

/// The last lines of a launcher's stderr, on lines of their own: ssh's
/// words (`user@host: ...`) must not read as the rest of a
/// `scheme://user:password@` URL.
fn said(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim().lines().collect();
    let tail = &lines[lines.len().saturating_sub(5)..];
    match tail.is_empty() {
        true => ", saying nothing on stderr".to_owned(),
        false => format!(", saying:\n  {}", tail.join("\n  ")),
    }
}

/// Runs `script` on `host` through the launcher, feeding it `input`;
/// what it answered, once it exited with success.
async fn remote(
    hosts: &HostsSettings,
    host: &str,
    script: &str,
    input: Option<std::sync::Arc<Vec<u8>>>,
    within: Duration,
) -> anyhow::Result<Answer> {
    let words = hosts.command_for(host, &["sh".into(), "-c".into(), script.to_owned()]);
    let mut cmd = std::process::Command::new(&words[0]);
    // Its own process group, killed as a whole on every way out of here
    // (an answer, an error, a timeout, the run cancelled).
    crate::util::process::detach_from_terminal(&mut cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.args(&words[1..])
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("host {host}: cannot start the launcher `{}`", words[0]))?;
    let _group = crate::util::process::GroupGuard::of(&child);
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = stdin.write_all(&bytes).await;
        });
    }
    let out = match tokio::time::timeout(within, child.wait_with_output()).await {
        Ok(out) => out.with_context(|| format!("host {host}: the launcher failed"))?,
        Err(_) => bail!(
            "host {host} did not answer through the launcher within {} s",
            within.as_secs()
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!(
            "host {host} could not be reached or refused the command (launcher `{}` exited with {}){}",
            words[0],
            out.status.code().map_or("a signal".to_owned(), |c| c.to_string()),
            match stderr.trim().is_empty() {
                true => String::new(),
                false => said(&stderr),
            }
        );
    }
    Ok(Answer {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        status: out.status,
    })
}
