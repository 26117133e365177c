//! Load from several hosts: the real binary over real sshds on 127.0.0.2
//! and 127.0.0.3 (see `support::sshd`), against a real redis-server.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::sshd::{self, SshHosts};
use crate::support::{self, num, Bench};

/// A scenario named uniquely (its run id, and so every agent's and
/// worker's command line, starts with the name), from a shipped one with
/// `replace` applied and `tail` appended.
fn unique(from: &str, replace: &[(&str, &str)], tail: &str) -> (String, tempfile::TempDir, String) {
    let name = format!("hosts{:08x}", fastrand::u32(..));
    let mut text = std::fs::read_to_string(support::scenario(from)).unwrap();
    text = text.replacen(
        &format!("name = \"{from}\""),
        &format!("name = \"{name}\""),
        1,
    );
    for (old, new) in replace {
        assert!(text.contains(old), "{from}.toml has no `{old}`");
        text = text.replacen(old, new, 1);
    }
    text.push_str(tail);
    let (dir, path) = support::write_scenario(&text);
    (name, dir, path)
}

fn assert_nothing_left(name: &str, context: &str) {
    let left = sshd::gone_within(name, Duration::from_secs(5));
    assert!(left.is_empty(), "left running: {left:?}\n{context}");
}

/// One cached binary per host, in its own `$HOME`.
fn cached(hosts: &SshHosts) -> Vec<usize> {
    hosts
        .homes
        .iter()
        .map(|home| {
            std::fs::read_dir(home.join(".cache/seckill-bench"))
                .map(|d| {
                    d.flatten()
                        .filter(|e| e.path().join("seckill-bench").is_file())
                        .count()
                })
                .unwrap_or(0)
        })
        .collect()
}

#[test]
fn one_run_over_two_hosts_passes_with_both_in_the_reports_and_ships_once() {
    let hosts = SshHosts::start(2);
    let redis = support::redis();
    let (name, _dir, path) = unique("article", &[], &hosts.table(""));
    let url = redis.url();
    let run = Bench::run(&path, &["--redis-url", &url]).output();
    run.assert_code(0);
    let rows = run.csv("hosts.csv");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, host) in rows.iter().zip(&hosts.hosts) {
        assert_eq!(&row["host"], host);
        assert_eq!(num(row, "processes"), 5, "{row:?}");
        assert!(num(row, "go_rtt_us") > 0, "{row:?}");
        assert!(!row["clock_offset_us"].is_empty(), "{row:?}");
        assert_eq!(row["shipped"], "true", "{row:?}");
    }
    let workers: BTreeSet<String> = run
        .csv("workers.csv")
        .iter()
        .map(|w| w["host"].clone())
        .collect();
    assert_eq!(
        workers,
        hosts.hosts.iter().cloned().collect(),
        "workers.csv"
    );
    let s = run.summary();
    assert_eq!(num(&s, "sold"), 10);
    // The workers' CPU, reported over the agents, and the coordinator's.
    let cpu = |column: &str| s[column].parse::<f64>().unwrap();
    assert!(cpu("workers_cpu_s") > 0.0, "{s:?}");
    assert!(cpu("coordinator_cpu_s") >= 0.0, "{s:?}");
    let host_cpu: f64 = rows
        .iter()
        .map(|r| r["cpu_s"].parse::<f64>().unwrap())
        .sum();
    assert!(
        (host_cpu - cpu("workers_cpu_s")).abs() < 0.01,
        "{rows:?} {s:?}"
    );
    assert!(
        run.stdout.contains("within each of the 2 load hosts only"),
        "{}",
        run.context()
    );
    assert!(
        !run.stderr.contains("agent on"),
        "an agent ended in error (it kills its workers then): {}",
        run.context()
    );
    assert_nothing_left(&name, &run.context());
    assert_eq!(cached(&hosts), [1, 1], "one copy per host");

    let again = Bench::run(&path, &["--redis-url", &url]).output();
    again.assert_code(0);
    let rows = again.csv("hosts.csv");
    assert!(rows.iter().all(|r| r["shipped"] == "false"), "{rows:?}");
    assert_eq!(cached(&hosts), [1, 1], "the copy is reused");
}

#[test]
fn a_lock_holder_paused_on_a_remote_worker_makes_the_article_lock_oversell() {
    let hosts = SshHosts::start(2);
    let redis = support::redis();
    // The checker compares holds within a host only, so the oversell must
    // show it: the 90 units left when the pause is armed (after 10 sales)
    // leave time for the freeze to cross ssh, and sell out well within a
    // 4 s pause (the article lock sells about 100-300 a second here).
    let (name, _dir, path) = unique(
        "pause-holder",
        &[
            ("initial = 200", "initial = 100"),
            ("duration = \"1s\"", "duration = \"4s\""),
        ],
        &hosts.table(""),
    );
    let run = Bench::run(&path, &["--redis-url", &redis.url()]).output();
    run.assert_code(1);
    assert!(num(&run.summary(), "oversold") > 0, "{}", run.context());
    let faults = run.csv("faults.csv");
    // The worker's own word for its machine, from its `Ready`.
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let machine = machine.trim();
    assert!(
        faults.iter().any(|f| f["applied"] == "true"
            && f["what"].contains("stopped (SIGSTOP)")
            && f["what"].contains(" on ssh://")
            && f["what"].contains(&format!("({machine})"))),
        "{faults:?}"
    );
    assert!(
        faults
            .iter()
            .any(|f| f["what"].contains("resumed (SIGCONT)")),
        "{faults:?}"
    );
    assert_nothing_left(&name, &run.context());
}

/// The coordinator stopped (SIGSTOP) falls silent with its ssh sessions
/// open: the agents' dead-man kills every worker, the frozen one included,
/// and exits. Killed outright (SIGKILL), its pipes close at once.
#[test]
fn a_silent_or_killed_coordinator_leaves_no_agent_or_worker_behind() {
    let hosts = SshHosts::start(2);
    let redis = support::redis();
    let freeze = r#"
[[faults]]
kind = "pause"
at = "after 1 sales"
duration = "60s"
target = 0
"#;
    let tail = format!("{freeze}{}", hosts.table("dead_man_ms = 2000"));
    let (name, _dir, path) = unique(
        "flash-sale",
        &[
            ("initial = 1000", "initial = 1000000000"),
            ("processes = 16", "processes = 4"),
        ],
        &tail,
    );
    let url = redis.url();

    let (mut child, pending) = Bench::run(&path, &["--redis-url", &url]).spawn();
    let _rest = support::wait_for_progress(&mut child);
    let until = Instant::now() + Duration::from_secs(10);
    while !sshd::one_stopped(&name) {
        assert!(Instant::now() < until, "no worker was frozen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
    let stopped = Instant::now();
    // The agents (not the stopped coordinator's own ssh clients, which die
    // with it: they may be blocked writing to it).
    let agents = || {
        let needle = format!("agent --run={name}");
        sshd::processes_with(&needle)
            .into_iter()
            .filter(|(_, cmd)| !cmd.starts_with("ssh "))
            .collect::<Vec<_>>()
    };
    // The dead-man, then at most 1 s to drain what the agent still holds.
    let until = stopped + Duration::from_secs(6);
    while !agents().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = agents();
    let took = stopped.elapsed();
    let workers = sshd::gone_within(&format!("worker --run={name}"), Duration::from_secs(1));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let run = pending.finish(child);
    assert!(
        left.is_empty() && workers.is_empty(),
        "after {took:?} of silence: {left:?} {workers:?}"
    );
    // With the coordinator stopped and its ssh sessions open, only the
    // dead-man ends them (the test fails with it disabled). No lower bound
    // on `took`: on a busy machine the coordinator's last heartbeat may
    // have left well before the stop.
    assert_nothing_left(&name, &run.context());

    let (mut child, pending) = Bench::run(&path, &["--redis-url", &url]).spawn();
    let _rest = support::wait_for_progress(&mut child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let run = pending.finish(child);
    let left = sshd::gone_within(&name, Duration::from_secs(3));
    assert!(
        left.is_empty(),
        "after SIGKILL: {left:?}\n{}",
        run.context()
    );
}

#[test]
fn a_lost_host_stops_the_run_inconclusive_or_is_carried_on_without() {
    let hosts = SshHosts::start(2);
    let redis = support::redis();
    let url = redis.url();
    for (policy, code) in [("abort", 5), ("continue", 0)] {
        let tail = hosts.table(&format!("on_host_loss = \"{policy}\""));
        let (name, _dir, path) = unique(
            "flash-sale",
            &[
                ("initial = 1000", "initial = 1000000000"),
                ("processes = 16", "processes = 4"),
                ("duration = \"60s\"", "duration = \"8s\""),
            ],
            &tail,
        );
        let (mut child, pending) = Bench::run(&path, &["--redis-url", &url]).spawn();
        let rest = support::wait_for_progress(&mut child);
        let agent = sshd::processes_with(&format!("agent --run={name}"))
            .into_iter()
            .find(|(_, cmd)| !cmd.contains("ssh "))
            .expect("an agent is running");
        // SAFETY: killing a process of this test's run.
        unsafe { libc::kill(agent.0 as i32, libc::SIGKILL) };
        let run = pending.finish(child);
        let stderr = rest.join().unwrap();
        assert_eq!(run.code(), code, "{policy}: {}\n{stderr}", run.context());
        let rows = run.csv("hosts.csv");
        assert_eq!(
            rows.iter().filter(|r| r["lost"] == "true").count(),
            1,
            "{rows:?}"
        );
        let faults = run.csv("faults.csv");
        assert!(
            faults.iter().any(|f| f["what"].contains(" lost")
                && f["what"].contains(&format!("on_host_loss = \"{policy}\""))),
            "{faults:?}"
        );
        let s = run.summary();
        assert!(num(&s, "in_doubt") > 0, "{s:?}");
        if policy == "abort" {
            assert!(s["inconclusive_reason"].contains("was lost"), "{s:?}");
        }
        assert_nothing_left(&name, &run.context());
    }
}

#[test]
fn a_host_that_refuses_ssh_exits_4_fast_naming_it() {
    let hosts = SshHosts::start(1);
    let redis = support::redis();
    let closed = std::net::TcpListener::bind("127.0.0.3:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refusing = format!("ssh://root@127.0.0.3:{closed}");
    let table = hosts.table("").replacen(
        "list = [",
        &format!("list = [{{ host = \"{refusing}\" }}, "),
        1,
    );
    let (_name, _dir, path) = unique("article", &[], &table);
    let run = Bench::run(&path, &["--redis-url", &redis.url()]).output();
    run.assert_code(4);
    // Refused at once by the closed port, whatever ssh's own timeouts;
    // the slack is for a busy machine starting ssh to the other hosts.
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    assert!(
        run.stderr.contains(&format!("host {refusing}")),
        "{}",
        run.context()
    );
    // ssh's own words, whole: not taken for a URL's password and masked.
    assert!(
        run.stderr.contains("Connection refused") && !run.stderr.contains("***"),
        "{}",
        run.context()
    );
}

#[test]
fn bad_hosts_tables_exit_2_naming_the_field() {
    let ok_list = r#"list = [{ host = "lg1" }, { host = "lg2" }]"#;
    let launcher = r#"launcher = ["ssh", "{host}"]"#;
    let cases = [
        (format!("[hosts]\n{ok_list}\n"), "hosts.launcher", "missing"),
        (
            format!("[hosts]\nlauncher = [\"ssh\", \"lg1\"]\n{ok_list}\n"),
            "hosts.launcher",
            "never names {host}",
        ),
        (
            format!("[hosts]\n{launcher}\nlist = [{{ host = \"lg1\", processes = 8 }}, {{ host = \"lg2\", processes = 8 }}]\n"),
            "load.processes",
            "add up to 16",
        ),
        (
            format!("[hosts]\n{launcher}\n{ok_list}\nbinary = \"bin/seckill-bench\"\n"),
            "hosts.binary",
            "absolute path",
        ),
        (
            format!("[hosts]\n{launcher}\n{ok_list}\non_host_loss = \"ignore\"\n"),
            "hosts.on_host_loss",
            "ignore",
        ),
        (format!("[hosts]\n{launcher}\n{ok_list}\nport = 22\n"), "port", "unknown field"),
    ];
    for (table, field, says) in cases {
        let (_name, _dir, path) = unique("article", &[], &format!("\n{table}"));
        let run = Bench::run(&path, &["--redis-url", "redis://127.0.0.1:1/0"]).output();
        run.assert_code(2);
        assert!(
            run.stderr.contains(field) && run.stderr.contains(says),
            "{table}: {}",
            run.context()
        );
        assert!(run.stderr.contains("scenario.toml:"), "{}", run.context());
    }
    // An embedded Redis binds this machine's loopback: no other host reaches it.
    let table = format!("\n[hosts]\n{launcher}\n{ok_list}\n");
    let (_name, _dir, path) = unique("article", &[], &table);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("redis.url") && run.stderr.contains("embedded"),
        "{}",
        run.context()
    );
}

/// `kubectl exec -i POD -- CMD...` hands the words after `--` to the
/// container as they are, with no shell joining them. `sh -c 'exec "$@"'
/// POD CMD...` does the same on this machine: two such "pods" run one sale,
/// the binary shipped into their `$HOME`.
#[test]
fn a_launcher_that_passes_words_as_they_are_runs_agents_too() {
    let redis = support::redis();
    let home = tempfile::tempdir().unwrap();
    let table = r#"
[hosts]
launcher = ["sh", "-c", "exec \"$@\"", "{host}"]
list = [{ host = "pod-a", processes = 6 }, { host = "pod-b", processes = 4 }]
max_parallel_starts = 1
"#;
    let (name, _dir, path) = unique("article", &[], table);
    let run = Bench::run(&path, &["--redis-url", &redis.url()])
        .env("HOME", &home.path().display().to_string())
        .output();
    run.assert_code(0);
    let rows = run.csv("hosts.csv");
    let hosts: Vec<(&str, i64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["host"].as_str(),
                num(r, "processes"),
                r["shipped"].as_str(),
            )
        })
        .collect();
    // One start at a time, and both "pods" share this machine's $HOME: the
    // second finds the first one's copy.
    assert_eq!(hosts, [("pod-a", 6, "true"), ("pod-b", 4, "false")]);
    let cache = home.path().join(".cache/seckill-bench");
    assert_eq!(std::fs::read_dir(cache).unwrap().count(), 1);
    assert_nothing_left(&name, &run.context());

    // A host of another architecture (its `uname -m` says so): exit 4 before
    // anything is copied.
    let fake = tempfile::tempdir().unwrap();
    let uname = fake.path().join("uname");
    std::fs::write(&uname, "#!/bin/sh\necho riscv64\n").unwrap();
    std::fs::set_permissions(&uname, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let other = format!(
        "\n[hosts]\nlauncher = [\"env\", \"PATH={}:/usr/bin:/bin\", \"sh\", \"-c\", \"exec \\\"$@\\\"\", \"{{host}}\"]\nlist = [{{ host = \"pod-c\" }}]\n",
        fake.path().display()
    );
    let (_name, _dir, path) = unique("article", &[("processes = 10", "processes = 1")], &other);
    let empty = tempfile::tempdir().unwrap();
    let run = Bench::run(&path, &["--redis-url", &redis.url()])
        .env("HOME", &empty.path().display().to_string())
        .output();
    run.assert_code(4);
    assert!(
        run.stderr.contains("host pod-c is riscv64") && run.stderr.contains("cannot be shipped"),
        "{}",
        run.context()
    );
    assert!(!empty.path().join(".cache").exists(), "nothing copied");

    // A binary that is not where the table says: exit 4, naming host and path.
    let missing = format!("{table}binary = \"/nonexistent/seckill-bench\"\n");
    let (_name, _dir, path) = unique("article", &[], &missing);
    let run = Bench::run(&path, &["--redis-url", &redis.url()]).output();
    run.assert_code(4);
    assert!(
        run.stderr
            .contains("host pod-a: no executable seckill-bench at /nonexistent/seckill-bench"),
        "{}",
        run.context()
    );
}
