//! `[hosts]`: load generators on other machines, reached through a
//! launcher command (`ssh`, `kubectl exec -i`). Without the table every
//! worker starts on this machine, as a child of the coordinator.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::raw::{RawHostEntry, RawHosts};

type Result<T> = std::result::Result<T, FieldError>;

/// sshd's `MaxStartups` starts dropping handshakes at 10 by default.
const DEFAULT_PARALLEL_STARTS: i64 = 8;
/// How long an agent waits for a word from the coordinator before it kills
/// its workers and exits.
const DEFAULT_DEAD_MAN: Duration = Duration::from_secs(3);
const MAX_HOSTS: usize = 256;

/// Where each share of the workers runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostsSettings {
    /// The command that runs a command on `{host}`; the remote command's
    /// words follow it.
    pub launcher: Vec<String>,
    /// Whether the launcher hands its words to a shell on the host (ssh
    /// joins them into one line), so they must be shell-quoted; `kubectl
    /// exec` passes them as they are.
    pub remote_shell: bool,
    pub list: Vec<Host>,
    pub binary: Binary,
    pub max_parallel_starts: u32,
    pub on_host_loss: HostLoss,
    /// An agent that hears nothing from the coordinator this long kills its
    /// workers and exits.
    pub dead_man: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// What `{host}` becomes: a host name, `user@host`, `ssh://host:port`,
    /// a pod name.
    pub name: String,
    pub processes: u32,
}

/// Which binary the agents run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Binary {
    /// This binary, copied to `~/.cache/seckill-bench/<sha256>/` on each
    /// host that does not have it yet.
    Ship,
    /// A binary already on every host, at this absolute path.
    Path(String),
}

/// What a run does when a host's launcher dies mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostLoss {
    /// Stop the run, INCONCLUSIVE: it lost part of its load.
    Abort,
    /// Go on with the others, as for killed workers.
    Continue,
}

impl HostsSettings {
    /// `processes`: `load.processes`, the run's total.
    pub fn parse(raw: &RawHosts, processes: u32) -> Result<HostsSettings> {
        let launcher = launcher(raw.launcher.as_deref())?;
        let list = list(raw.list.as_deref().unwrap_or_default(), processes)?;
        let binary = match raw.binary.as_deref().unwrap_or("ship") {
            "ship" => Binary::Ship,
            path if path.starts_with('/') && !path.contains(['\n', '\0']) => {
                Binary::Path(path.to_owned())
            }
            other => {
                return Err(FieldError::new(
                    "hosts.binary",
                    format!("`{other}` is neither \"ship\" nor an absolute path"),
                    "write \"ship\" to copy this binary to each host, or the absolute path of a seckill-bench of this version on every host",
                ))
            }
        };
        let max_parallel_starts = match raw.max_parallel_starts.unwrap_or(DEFAULT_PARALLEL_STARTS) {
            n @ 1..=1024 => n as u32,
            n => {
                return Err(FieldError::new(
                    "hosts.max_parallel_starts",
                    format!("{n} is not a number of launches at once"),
                    "use 1 to 1024 (sshd drops handshakes beyond about 10 at once by default)",
                ))
            }
        };
        let on_host_loss = match raw.on_host_loss.as_deref().unwrap_or("abort") {
            "abort" => HostLoss::Abort,
            "continue" => HostLoss::Continue,
            other => {
                return Err(FieldError::one_of(
                    "hosts.on_host_loss",
                    other,
                    &["abort", "continue"],
                ))
            }
        };
        let dead_man = match raw.dead_man_ms {
            None => DEFAULT_DEAD_MAN,
            Some(ms @ 500..=600_000) => Duration::from_millis(ms as u64),
            Some(ms) => {
                return Err(FieldError::new(
                    "hosts.dead_man_ms",
                    format!("{ms} ms is out of range"),
                    "use 500 to 600000 (default 3000)",
                ))
            }
        };
        let remote_shell = raw.remote_shell.unwrap_or_else(|| through_ssh(&launcher));
        Ok(HostsSettings {
            launcher,
            remote_shell,
            list,
            binary,
            max_parallel_starts,
            on_host_loss,
            dead_man,
        })
    }

    /// The launcher's words for `host`, followed by the remote command.
    pub fn command_for(&self, host: &str, remote: &[String]) -> Vec<String> {
        let mut words: Vec<String> = self
            .launcher
            .iter()
            .map(|w| w.replace("{host}", host))
            .collect();
        match self.remote_shell {
            true => words.extend(remote.iter().map(|w| shell_quote(w))),
            false => words.extend(remote.iter().cloned()),
        }
        words
    }

    /// Worker indices per host, in list order: host `i` runs a contiguous
    /// range.
    pub fn ranges(&self) -> Vec<std::ops::Range<u32>> {
        let mut first = 0;
        self.list
            .iter()
            .map(|h| {
                let range = first..first + h.processes;
                first = range.end;
                range
            })
            .collect()
    }
}

/// Whether a word before `{host}` is ssh (`ssh`, `/usr/bin/ssh`, `autossh`,
/// `sshpass ... ssh`, `tsh ssh`): ssh hands the remote command to a shell.
fn through_ssh(launcher: &[String]) -> bool {
    launcher
        .iter()
        .take_while(|w| !w.contains("{host}"))
        .any(|w| {
            w.rsplit('/')
                .next()
                .is_some_and(|name| name.ends_with("ssh"))
        })
}

fn launcher(raw: Option<&[String]>) -> Result<Vec<String>> {
    let hint = "write the command that runs a command on a host, e.g. [\"ssh\", \"-T\", \"-o\", \"BatchMode=yes\", \"-o\", \"ServerAliveInterval=2\", \"{host}\"] or [\"kubectl\", \"exec\", \"-i\", \"{host}\", \"--\"]";
    let words = raw.unwrap_or_default();
    if words.is_empty() || words[0].is_empty() {
        return Err(FieldError::new(
            "hosts.launcher",
            "is missing or empty",
            hint,
        ));
    }
    if !words.iter().any(|w| w.contains("{host}")) {
        return Err(FieldError::new(
            "hosts.launcher",
            "never names {host}, so every host would be the same",
            hint,
        ));
    }
    if let Some(other) = words.iter().find_map(|w| unknown_template(w)) {
        return Err(FieldError::new(
            "hosts.launcher",
            format!("`{other}` is not a template: {{host}} is the only one"),
            hint,
        ));
    }
    Ok(words.to_vec())
}

/// A `{name}` other than `{host}` in a launcher word.
fn unknown_template(word: &str) -> Option<String> {
    let mut rest = word;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        let name = &rest[open..=close];
        if name != "{host}" {
            return Some(name.to_owned());
        }
        rest = &rest[close + 1..];
    }
    None
}

fn list(raw: &[RawHostEntry], processes: u32) -> Result<Vec<Host>> {
    let field = "hosts.list";
    if raw.is_empty() {
        return Err(FieldError::new(
            field,
            "is missing or empty",
            "list the load hosts, e.g. list = [{ host = \"lg1\" }, { host = \"lg2\" }]",
        ));
    }
    if raw.len() > MAX_HOSTS {
        return Err(FieldError::new(
            field,
            format!("{} hosts is more than {MAX_HOSTS}", raw.len()),
            format!("list at most {MAX_HOSTS} hosts"),
        ));
    }
    for (i, entry) in raw.iter().enumerate() {
        if entry.host.trim().is_empty() || entry.host.contains(['\n', '\0']) {
            return Err(FieldError::new(
                &format!("{field}[{i}].host"),
                "is empty",
                "name the host as the launcher takes it (lg1, user@lg1, a pod name)",
            ));
        }
        if raw[..i].iter().any(|e| e.host == entry.host) {
            return Err(FieldError::new(
                &format!("{field}[{i}].host"),
                format!("`{}` is listed twice", entry.host),
                "list each host once and give it more processes instead",
            ));
        }
    }
    let given: Vec<u32> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.processes.map(|p| (i, p)))
        .map(|(i, p)| match p {
            1..=4096 => Ok(p as u32),
            _ => Err(FieldError::new(
                &format!("{field}[{i}].processes"),
                format!("{p} is not a number of worker processes"),
                "use 1 to 4096",
            )),
        })
        .collect::<Result<_>>()?;
    let counts = match given.len() {
        0 => even_split(processes, raw.len()).ok_or_else(|| {
            FieldError::new(
                "load.processes",
                format!(
                    "{processes} process(es) cannot be spread over {} hosts",
                    raw.len()
                ),
                "give at least one process per host",
            )
            .depending_on(&[field])
        })?,
        n if n == raw.len() => {
            let sum: u32 = given.iter().sum();
            if sum != processes {
                return Err(FieldError::new(
                    "load.processes",
                    format!("is {processes}, but the hosts' processes add up to {sum}"),
                    format!("load.processes is the run's total: make it {sum}, or leave processes out of the list to spread load.processes evenly"),
                )
                .depending_on(&[field]));
            }
            given
        }
        _ => {
            return Err(FieldError::new(
                field,
                "gives processes for some hosts and not others",
                "give processes for every host, or for none (load.processes is then spread evenly)",
            ))
        }
    };
    Ok(raw
        .iter()
        .zip(counts)
        .map(|(e, processes)| Host {
            name: e.host.clone(),
            processes,
        })
        .collect())
}

/// `total` spread over `n` as evenly as possible; `None` when a share
/// would be 0.
fn even_split(total: u32, n: usize) -> Option<Vec<u32>> {
    let n32 = u32::try_from(n).ok()?;
    if total < n32 {
        return None;
    }
    Some(
        (0..n32)
            .map(|i| total / n32 + u32::from(i < total % n32))
            .collect(),
    )
}

/// One word for a POSIX shell: as it is when it is plainly safe, else in
/// single quotes (a single quote itself written as `'\''`).
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(list: &[(&str, Option<i64>)]) -> RawHosts {
        RawHosts {
            launcher: Some(vec!["ssh".into(), "{host}".into()]),
            list: Some(
                list.iter()
                    .map(|(h, p)| RawHostEntry {
                        host: (*h).to_owned(),
                        processes: *p,
                    })
                    .collect(),
            ),
            ..RawHosts::default()
        }
    }

    #[test]
    fn processes_are_the_total_spread_evenly_or_must_add_up() {
        let h = HostsSettings::parse(&raw(&[("a", None), ("b", None)]), 5).unwrap();
        assert_eq!(
            h.list.iter().map(|h| h.processes).collect::<Vec<_>>(),
            [3, 2]
        );
        assert_eq!(h.ranges(), vec![0..3, 3..5]);
        let e = HostsSettings::parse(&raw(&[("a", Some(8)), ("b", Some(8))]), 4).unwrap_err();
        assert_eq!(e.field, "load.processes");
        assert!(e.message.contains("add up to 16"), "{e:?}");
        let e = HostsSettings::parse(&raw(&[("a", Some(8)), ("b", None)]), 8).unwrap_err();
        assert!(e.message.contains("some hosts and not others"), "{e:?}");
        let e = HostsSettings::parse(&raw(&[("a", None), ("b", None)]), 1).unwrap_err();
        assert_eq!(e.field, "load.processes");
        let e = HostsSettings::parse(&raw(&[("a", None), ("a", None)]), 2).unwrap_err();
        assert_eq!(e.field, "hosts.list[1].host");
    }

    #[test]
    fn the_launcher_takes_host_as_its_only_template_and_ssh_gets_quoted_words() {
        let mut r = raw(&[("lg1", None)]);
        r.launcher = Some(vec!["ssh".into(), "{hots}".into()]);
        let e = HostsSettings::parse(&r, 1).unwrap_err();
        assert!(e.message.contains("never names {host}"), "{e:?}");
        r.launcher = Some(vec!["ssh".into(), "{host}".into(), "{port}".into()]);
        let e = HostsSettings::parse(&r, 1).unwrap_err();
        assert!(e.message.contains("`{port}`"), "{e:?}");

        let h = HostsSettings::parse(&raw(&[("lg1", None)]), 1).unwrap();
        let words = h.command_for("lg1", &["sh".into(), "-c".into(), "echo 'a b'".into()]);
        assert_eq!(words, ["ssh", "lg1", "sh", "-c", r"'echo '\''a b'\'''"]);
        let mut r = raw(&[("pod-1", None)]);
        r.launcher = Some(vec![
            "kubectl".into(),
            "exec".into(),
            "-i".into(),
            "{host}".into(),
            "--".into(),
        ]);
        let h = HostsSettings::parse(&r, 1).unwrap();
        assert!(!h.remote_shell);
        for wrapped in [
            &["sshpass", "-e", "ssh", "{host}"][..],
            &["/usr/bin/autossh", "-M", "0", "{host}"],
        ] {
            let mut w = raw(&[("lg1", None)]);
            w.launcher = Some(wrapped.iter().map(|s| (*s).to_owned()).collect());
            assert!(
                HostsSettings::parse(&w, 1).unwrap().remote_shell,
                "{wrapped:?}"
            );
        }
        let words = h.command_for("pod-1", &["sh".into(), "-c".into(), "echo 'a b'".into()]);
        assert_eq!(words[3], "pod-1");
        assert_eq!(words[7], "echo 'a b'");
    }

    #[test]
    fn shell_quoting_survives_a_shell() {
        for word in ["plain", "two words", "it's", "$HOME", "", "a\"b", "`x`"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(word)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }
}
