//! Strategies and sweeps against real redis-servers.

use crate::support::{self, num, scenario, Bench};

/// Small and contended: 9 buyers for 60 units, until sold out.
const SMALL: &str = r#"
name = "small"

[stock]
initial = 60

[load]
processes = 3
clients_per_process = 3
duration = "30s"

[strategy]
kind = "article"
lock_ttl_ms = 2000
retry_interval_ms = 1
"#;

const SAFE: [&str; 4] = ["fenced", "lua", "watch", "decr"];

fn sweep(path: &str, extra: &[&str]) -> support::Run {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report").display().to_string();
    let mut args = vec!["sweep".to_owned(), path.to_owned(), "--out".to_owned(), out];
    args.extend(extra.iter().map(|s| s.to_string()));
    Bench::new(args, dir).output()
}

#[test]
fn every_strategy_sells_exactly_the_stock_and_a_sweep_covers_the_product() {
    let kinds = r#"["article", "safe-lock", "fenced", "redlock", "watch", "lua", "decr"]"#;
    let text =
        format!("{SMALL}\n[sweep]\n\"strategy.kind\" = {kinds}\n\"load.processes\" = [1, 3]\n");
    let (_dir, path) = support::write_scenario(&text);
    let run = sweep(&path, &[]);
    run.assert_code(0);
    let rows = run.csv("sweep.csv");
    assert_eq!(rows.len(), 14, "7 strategies x 2 process counts");
    let mut seen = std::collections::BTreeSet::new();
    for row in &rows {
        seen.insert((row["strategy.kind"].clone(), row["load.processes"].clone()));
        assert_eq!(row["strategy"], row["strategy.kind"]);
        assert_eq!(row["verdict"], "PASS", "{row:?}");
        assert_eq!(num(row, "final_stock"), 0, "{row:?}");
        assert_eq!(num(row, "sold"), 60, "{row:?}");
        let point = run.out().join(&row["folder"]).join("summary.csv");
        assert!(point.exists(), "each point has its own run folder");
    }
    assert_eq!(seen.len(), 14, "every combination once");
    let page = std::fs::read_to_string(run.out().join("index.html")).unwrap();
    assert!(
        page.contains("verdict-word\">PASS<"),
        "the sweep's verdict first"
    );
    for row in &rows {
        let link = format!("<a href=\"{}/index.html\">", row["folder"]);
        assert!(page.contains(&link), "each point links its page: {link}");
    }
    assert!(page.matches("<svg").count() >= 3, "the charts are inline");
    let oversold = std::fs::read_to_string(run.out().join("oversold.svg")).unwrap();
    assert!(
        oversold.contains("no point oversold"),
        "calm when nothing oversold"
    );
    let vs =
        std::fs::read_to_string(run.out().join("purchases_per_s-vs-load.processes.svg")).unwrap();
    assert!(vs.contains("kind=lua") && vs.contains("load.processes"));
    assert!(run.stderr.contains("[14/14]"), "{}", run.context());
}

/// `article-stall.toml` (a 100 ms stall past a 50 ms TTL) with `kind`.
fn stalled(url: &str, kind: &str) -> support::Run {
    let strategy = format!("strategy.kind={kind}");
    Bench::run(
        &scenario("article-stall"),
        &["--redis-url", url, "--set", &strategy],
    )
    .output()
}

#[test]
fn stall_past_ttl_makes_expiring_locks_oversell() {
    let redis = support::redis();
    for kind in ["article", "safe-lock"] {
        let run = stalled(&redis.url(), kind);
        run.assert_code(1);
        assert!(
            num(&run.summary(), "oversold") > 0,
            "{kind}: {}",
            run.context()
        );
        // The advice says how often the TTL ran out under a holder, from
        // the critical sections it counted over the TTL.
        let advice = run.csv("advice.csv");
        let ttl = advice
            .iter()
            .find(|a| a["setting"] == "lock_ttl_ms")
            .unwrap_or_else(|| panic!("{kind}: no TTL advice: {advice:?}"));
        let over: u64 = ttl["measured"]
            .split("; ")
            .nth(1)
            .and_then(|part| part.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{kind}: {ttl:?}"));
        assert!(over > 0, "{kind}: {ttl:?}");
        assert!(
            ttl["advice"].starts_with("TTL 50 ms is below the critical section's max of")
                && ttl["advice"].contains(&format!("expired under a holder {over} time(s)")),
            "{kind}: {ttl:?}"
        );
        assert!(run
            .stdout
            .contains("advice on lock_ttl_ms: TTL 50 ms is below"));
        let page = std::fs::read_to_string(run.out().join("index.html")).unwrap();
        assert!(page.contains("Lock parameters"), "{kind}");
    }
}

#[test]
fn fenced_and_atomic_strategies_never_oversell_through_a_stall() {
    let redis = support::redis();
    for round in 0..3 {
        for kind in SAFE {
            let run = stalled(&redis.url(), kind);
            run.assert_code(0);
            let s = run.summary();
            assert_eq!(num(&s, "oversold"), 0, "{kind} round {round}");
            assert!(num(&s, "final_stock") >= 0, "{kind} round {round}");
            if kind == "fenced" {
                assert!(
                    num(&s, "fenced_out") > 0,
                    "fencing must have refused a stale holder"
                );
                let advice = run.csv("advice.csv");
                assert!(
                    advice
                        .iter()
                        .any(|a| a["advice"].contains("fencing refused")),
                    "{advice:?}"
                );
            }
            if kind == "lua" {
                // No lock, no advice: the file has its header only.
                assert!(run.csv("advice.csv").is_empty());
            }
        }
    }
}

/// Main server plus three lock servers, `stop` of which are killed before
/// the run.
fn redlock_run(stop: usize, extra: &[&str]) -> support::Run {
    let main = support::redis();
    let mut nodes: Vec<_> = (0..3).map(|_| support::redis()).collect();
    let urls: Vec<String> = nodes.iter().map(|n| format!("\"{}\"", n.url())).collect();
    let list = format!("redis.redlock_urls=[{}]", urls.join(","));
    let (_dir, path) = support::write_scenario(SMALL);
    let main_url = main.url();
    let mut args = vec!["--redis-url", &main_url, "--set", &list];
    args.extend(["--set", "strategy.kind=redlock"]);
    args.extend_from_slice(extra);
    if stop == 0 {
        return Bench::run(&path, &args).output();
    }
    // Stop `stop` nodes once the load runs (the first progress line): a
    // node down at the start is refused before any load (exit 4).
    let (mut child, pending) = Bench::run(&path, &args).spawn();
    let rest = support::wait_for_progress(&mut child);
    nodes.truncate(3 - stop);
    let run = pending.finish(child);
    rest.join().unwrap();
    run
}

/// Enough stock to still be selling when the nodes are stopped, 5 s in.
const LONG: [&str; 6] = [
    "--set",
    "stock.initial=1000000000",
    "--set",
    "load.duration=7s",
    "--set",
    "strategy.lock_ttl_ms=200",
];

#[test]
fn redlock_keeps_working_with_one_of_three_nodes_stopped() {
    let run = redlock_run(1, &LONG);
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "{}", run.context());
    let late = support::sales_from(&run, 5.5);
    assert!(
        late > 0,
        "no sale after the node stopped: {}",
        run.context()
    );
}

#[test]
fn redlock_without_a_quorum_fails_its_purchases_loudly() {
    let run = redlock_run(2, &LONG);
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "{}", run.context());
    assert!(
        num(&s, "errors") > 0,
        "lost nodes are errors: {}",
        run.context()
    );
    let late = support::sales_from(&run, 5.5);
    assert_eq!(late, 0, "one vote of three is no lock: {}", run.context());
}

#[test]
fn redlock_with_a_node_down_at_the_start_exits_4_naming_it() {
    let main = support::redis();
    let node = support::redis();
    let list = format!(
        "redis.redlock_urls=[\"{}\",\"{}\",\"redis://127.0.0.1:1/0\"]",
        node.url(),
        node.url()
    );
    let (_dir, path) = support::write_scenario(SMALL);
    let url = main.url();
    let args = [
        "--redis-url",
        &url,
        "--set",
        &list,
        "--set",
        "strategy.kind=redlock",
    ];
    let run = Bench::run(&path, &args).output();
    run.assert_code(4);
    assert!(
        run.stderr.contains("redlock lock server 127.0.0.1:1"),
        "{}",
        run.context()
    );
}

#[test]
fn exploration_sweep_lists_oversold_points_and_exits_0() {
    let text = SMALL
        .replace("lock_ttl_ms = 2000", "lock_ttl_ms = 20\nstall_ms = 60")
        .replace("initial = 60", "initial = 3");
    let strict = format!("{text}\n[sweep]\n\"strategy.kind\" = [\"unlocked\", \"lua\"]\n");
    let (_dir, path) = support::write_scenario(&strict);
    let run = sweep(&path, &[]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("FAIL strategy.kind=unlocked"),
        "{}",
        run.context()
    );
    let explore = strict.replace("[sweep]", "[sweep]\nexpect_oversell = true");
    let (_dir, path) = support::write_scenario(&explore);
    let run = sweep(&path, &[]);
    run.assert_code(0);
    assert!(run.stdout.contains("as expected"), "{}", run.context());
    let svg = std::fs::read_to_string(run.out().join("oversold.svg")).unwrap();
    assert!(svg.contains("1 of 2 points OVERSOLD"), "{svg:.300}");
    let rows = run.csv("sweep.csv");
    assert_eq!(rows[0]["verdict"], "FAIL");
    assert_eq!(rows[1]["verdict"], "PASS");
}

#[test]
fn bad_sweep_path_or_value_exits_2_naming_it() {
    for (sweep_line, needle) in [
        ("\"load.processes\" = [1, 0]", "[sweep] load.processes = 0"),
        ("\"load.procs\" = [1, 2]", "[sweep] load.procs"),
        (
            "\"strategy.kind\" = [\"lua\", \"optimistic\"]",
            "unknown strategy `optimistic`",
        ),
    ] {
        let (_dir, path) = support::write_scenario(&format!("{SMALL}\n[sweep]\n{sweep_line}\n"));
        let run = sweep(&path, &[]);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "{needle}: {}", run.context());
        assert!(run.stderr.contains("scenario.toml:"), "{}", run.context());
        assert!(
            !run.out().exists(),
            "nothing runs or is written on bad input"
        );
    }
}
