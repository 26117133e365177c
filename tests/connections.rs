//! Connection models (`[load] connections`) against a real redis-server:
//! what each opens on the server, the wait for a pooled connection and
//! giving up on it, what each refuses, and that faults and the lock-safety
//! checker work in every model.

use crate::support::{self, num, sales_from, scenario, Bench, RedisServerGuard, Run};

/// 64 clients of one process, one script per purchase, for 1 s: a stock
/// they never sell out.
const SALE: &str = r#"
name = "connections"

[stock]
initial = 100000000

[load]
processes = 1
clients_per_process = 64
duration = "1s"

[strategy]
kind = "lua"
"#;

/// 32 clients share a pool of 2: the article's lock, held across a 20 ms
/// stall, so a purchase keeps its connection for 20 ms and more.
const SMALL_POOL: &str = r#"
name = "small-pool"

[stock]
initial = 100000000

[load]
processes = 1
clients_per_process = 32
duration = "1s"
connections = "pool"
pool_size = 2

[strategy]
kind = "article"
stall_ms = 20
"#;

/// Connections the server has accepted since it started.
fn accepted(conn: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("stats").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .unwrap_or_else(|| panic!("no total_connections_received in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// One run of `path` against `redis`, and the connections it opened there.
fn counted(redis: &RedisServerGuard, path: &str, extra: &[&str]) -> (Run, i64) {
    let mut conn = redis.connection();
    let before = accepted(&mut conn);
    let url = redis.url();
    let args = [&["--redis-url", url.as_str()][..], extra].concat();
    let run = Bench::run(path, &args).output();
    (run, accepted(&mut conn) - before)
}

#[test]
fn each_model_opens_the_connections_it_names() {
    let redis = RedisServerGuard::new();
    let (_dir, path) = support::write_scenario(SALE);
    // What the coordinator opens besides the workers' connections (the
    // stock's setup, audit and readings): one client's run minus its one.
    let (one, opened) = counted(&redis, &path, &["--set", "load.clients_per_process=1"]);
    one.assert_code(0);
    let coordinator = opened - 1;
    assert!(
        (1..=8).contains(&coordinator),
        "coordinator opened {coordinator}"
    );
    // (model, pool_size set, the pool_size column, connections opened):
    // a size is allowed, and ignored, with per-client, so that one sweep
    // may vary both.
    let models = [
        ("per-client", "2", "", 64, i64::MAX),
        ("shared", "2", "2", 2, 2 + coordinator),
        ("pool", "4", "4", 4, 4 + coordinator),
    ];
    for (model, set, size, least, most) in models {
        let set_model = format!("load.connections={model}");
        let set_size = format!("load.pool_size={set}");
        let (run, opened) = counted(&redis, &path, &["--set", &set_model, "--set", &set_size]);
        run.assert_code(0);
        let s = run.summary();
        let context = format!("{model}: opened {opened}\n{}", run.context());
        assert!((least..=most).contains(&opened), "{context}");
        assert_eq!(s["verdict"], "PASS", "{context}");
        assert!(num(&s, "sold") > 0, "{context}");
        assert_eq!(s["connections"], model, "{context}");
        assert_eq!(s["pool_size"], size, "{context}");
        // Only a pool has a wait for a connection.
        assert_eq!(
            s["pool_wait_p99_us"].is_empty(),
            model != "pool",
            "{context}"
        );
    }
}

#[test]
fn the_wait_for_a_pooled_connection_is_a_phase_of_its_own() {
    let redis = support::redis();
    let url = redis.url();
    let (_dir, path) = support::write_scenario(SMALL_POOL);
    let run = Bench::run(&path, &["--redis-url", &url]).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert!(num(&s, "pool_wait_p99_us") > 0, "{context}");
    // Every purchase waited (if only a microsecond) for its connection.
    let latency = run.csv("latency.csv");
    let all = latency
        .iter()
        .find(|r| r["phase"] == "pool_wait" && r["percentile"] == "100.0")
        .unwrap_or_else(|| panic!("no pool_wait p100 row: {context}"));
    assert_eq!(num(all, "count"), num(&s, "attempts"), "{context}");
    let waits: Vec<i64> = run
        .csv("timeline.csv")
        .iter()
        .filter(|r| !r["pool_wait_p99_us"].is_empty())
        .map(|r| num(r, "pool_wait_p99_us"))
        .collect();
    assert!(waits.iter().any(|&us| us > 0), "{waits:?}\n{context}");
    assert!(
        run.stdout
            .contains("connections: 2 pooled per process; waiting for one: p99"),
        "{context}"
    );
    // The same run with a limit on the wait fails it.
    let limited = format!("{SMALL_POOL}\n[thresholds]\nmax_p99_us = {{ pool_wait = 1000 }}\n");
    let (_dir, path) = support::write_scenario(&limited);
    let run = Bench::run(&path, &["--redis-url", &url]).output();
    run.assert_code(3);
    let broken = run
        .csv("audit.csv")
        .into_iter()
        .find(|r| r["invariant"] == "threshold.max_p99_us.pool_wait")
        .unwrap_or_else(|| panic!("no pool_wait threshold row: {}", run.context()));
    assert_eq!(broken["pass"], "false", "{broken:?}");
    assert!(num(&broken, "observed") > 1000, "{broken:?}");
}

#[test]
fn a_pool_timeout_is_an_error_never_in_doubt() {
    let redis = support::redis();
    // One connection, held 200 ms by each purchase; the others give up
    // after 20 ms.
    let text = SMALL_POOL
        .replace("clients_per_process = 32", "clients_per_process = 8")
        .replace("pool_size = 2", "pool_size = 1\npool_timeout_ms = 20")
        .replace("stall_ms = 20", "stall_ms = 200\nstall_fraction = 1.0");
    let (_dir, path) = support::write_scenario(&text);
    let args = [
        "--redis-url",
        &redis.url(),
        "--set",
        "strategy.record_orders=true",
    ];
    let run = Bench::run(&path, &args).output();
    let s = run.summary();
    let context = run.context();
    assert_ne!(s["verdict"], "FAIL", "{context}");
    assert!(s["error_kinds"].contains("pool_timeout="), "{context}");
    assert!(num(&s, "errors") > 0, "{context}");
    // The purchase never started: nothing of it can have landed.
    assert_eq!(num(&s, "in_doubt"), 0, "{context}");
    assert!(num(&s, "sold") > 0, "{context}");
    let history = std::fs::read_to_string(run.out().join("history.jsonl")).unwrap();
    let gave_up = history
        .lines()
        .filter(|l| l.contains(r#""type":"fail""#) && l.contains(r#""error":"pool_timeout""#))
        .count();
    assert!(
        gave_up > 0,
        "no pool_timeout fail in history.jsonl\n{context}"
    );
    assert!(!history.contains(r#""type":"info""#), "{context}");
}

#[test]
fn models_a_strategy_or_field_cannot_use_exit_2_naming_the_field() {
    let (_dir, lua) = support::write_scenario(SALE);
    let service = scenario("service-lua");
    let cases: [(&str, &[&str], &str); 5] = [
        (
            &lua,
            &["strategy.kind=watch", "load.connections=shared"],
            "`watch` cannot run on shared connections",
        ),
        (&service, &["load.connections=pool"], "kind = \"http\""),
        (
            &lua,
            &["load.connections=bogus"],
            "per-client, pool, shared",
        ),
        (&lua, &["load.pool_size=0"], "load.pool_size"),
        (&lua, &["load.pool_timeout_ms=0"], "load.pool_timeout_ms"),
    ];
    for (path, sets, says) in cases {
        let args: Vec<&str> = sets.iter().flat_map(|s| ["--set", *s]).collect();
        let run = Bench::run(path, &args).output();
        run.assert_code(2);
        let field = sets.last().unwrap().split('=').next().unwrap();
        let context = run.context();
        assert!(
            run.stderr.contains(&format!("field `{field}`")),
            "{context}"
        );
        assert!(run.stderr.contains(says), "{context}");
        assert!(run.stderr.contains("what to do"), "{context}");
        assert!(!run.out().exists(), "nothing may be written: {context}");
    }
}

#[test]
fn watch_holds_a_pooled_connection_and_passes() {
    let redis = support::redis();
    let text = SALE
        .replace("initial = 100000000", "initial = 300")
        .replace("clients_per_process = 64", "clients_per_process = 16")
        .replace(
            "duration = \"1s\"",
            "duration = \"5s\"\nconnections = \"pool\"\npool_size = 4",
        )
        .replace("kind = \"lua\"", "kind = \"watch\"");
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &["--redis-url", &redis.url()]).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert_eq!(s["connections"], "pool", "{context}");
    assert_eq!(num(&s, "sold"), 300, "{context}");
    assert_eq!(num(&s, "final_stock"), 0, "{context}");
    // Four transactions at once on four connections: some aborted.
    assert!(num(&s, "watch_aborts") > 0, "{context}");
}

/// `network-stall` made short, as `faults.rs` runs it: 300 ms of latency
/// at 0.3 s, every connection dropped at 1 s, 2 s in all.
fn quick_network_stall() -> String {
    let text = std::fs::read_to_string(scenario("network-stall")).unwrap();
    let mut text = format!("{text}\n[report]\ninterval = \"500ms\"\n");
    for (from, to) in [
        // Long enough to stay exclusive, short enough that a lock
        // orphaned by the disconnect expires before 1.5 s.
        ("lock_ttl_ms = 5000", "lock_ttl_ms = 500"),
        ("delay_ms = 200", "delay_ms = 40"),
        ("jitter_ms = 50", "jitter_ms = 10"),
        ("duration = \"5s\"", "duration = \"2s\""),
        ("at = \"1s\"", "at = \"300ms\""),
        ("duration = \"1s\"", "duration = \"300ms\""),
        ("at = \"3s\"", "at = \"1s\""),
    ] {
        assert!(text.contains(from), "network-stall has no `{from}`");
        text = text.replace(from, to);
    }
    text
}

#[test]
fn a_disconnect_is_survived_on_shared_and_pooled_connections() {
    let _alone = support::alone();
    let (_dir, path) = support::write_scenario(&quick_network_stall());
    // 2 processes: the proxy carries exactly the model's connections.
    for (model, size, carried) in [("shared", "2", 4), ("pool", "4", 8)] {
        let set_model = format!("load.connections={model}");
        let set_size = format!("load.pool_size={size}");
        let run = Bench::run(&path, &["--set", &set_model, "--set", &set_size]).output();
        run.assert_code(0);
        let s = run.summary();
        let context = format!("{model}:\n{}", run.context());
        assert_eq!(s["verdict"], "PASS", "{context}");
        assert_eq!(s["connections"], model, "{context}");
        assert_eq!(s["faults_applied"], "2", "{context}");
        let faults = run.csv("faults.csv");
        let dropped = faults
            .iter()
            .find(|f| f["fault"] == "disconnect" && f["applied"] == "true")
            .unwrap_or_else(|| panic!("no applied disconnect in {faults:?}\n{context}"));
        let all = format!("dropped all {carried} connection(s)");
        assert!(dropped["what"].contains(&all), "{dropped:?}\n{context}");
        let hit = num(&s, "in_doubt") + num(&s, "errors");
        assert!(
            hit > 0,
            "the disconnect caused no error or doubt\n{context}"
        );
        // Purchases went on, on new connections.
        assert!(
            sales_from(&run, 1.4) > 0,
            "no sale after the disconnect\n{context}"
        );
    }
}

#[test]
fn the_lock_checker_catches_a_paused_holder_in_a_pool() {
    let sets = [
        "strategy.kind=article",
        "load.connections=pool",
        "load.pool_size=4",
    ];
    let args: Vec<&str> = sets.iter().flat_map(|s| ["--set", *s]).collect();
    let run = Bench::run(&scenario("pause-holder"), &args).output();
    run.assert_code(1);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "FAIL", "{context}");
    assert_eq!(s["connections"], "pool", "{context}");
    assert_eq!(s["faults_applied"], "1", "{context}");
    assert!(num(&s, "unsafe_overlaps") > 0, "{context}");
}

/// A buyer still waiting for a pooled connection when the run stops never
/// starts its purchase: the run ends when the holder's purchase does.
#[test]
fn a_buyer_waiting_for_a_pooled_connection_stops_with_the_run() {
    let redis = support::redis();
    // One connection, held 3 s by the first purchase; the run lasts 1 s.
    let text = SMALL_POOL
        .replace("clients_per_process = 32", "clients_per_process = 4")
        .replace("pool_size = 2", "pool_size = 1\npool_timeout_ms = 600000")
        .replace("kind = \"article\"", "kind = \"lua\"")
        .replace("stall_ms = 20", "stall_ms = 3000\nstall_fraction = 1.0");
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &["--redis-url", &redis.url()]).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    // The holder's one purchase; the three waiters were cancelled, not
    // served one after another for 3 s each.
    assert_eq!(num(&s, "attempts"), 1, "{context}");
    assert_eq!(num(&s, "sold"), 1, "{context}");
    assert!(run.elapsed < std::time::Duration::from_secs(8), "{context}");
}

/// Idle pooled connections broken by a restart are opened again before a
/// purchase uses one, once the first purchase found its own broken: only
/// that purchase is in doubt, not one per connection.
#[test]
fn a_pool_opens_its_idle_connections_again_after_one_was_found_broken() {
    // 2 buyers at 100 purchases/s in all: the pool's 2 connections are
    // mostly idle when the server restarts.
    let text = SALE
        .replace("clients_per_process = 64", "clients_per_process = 2")
        .replace(
            "duration = \"1s\"",
            "duration = \"3s\"\nrate = 100\nconnections = \"pool\"\npool_size = 2",
        )
        .replace(
            "[stock]",
            "[redis]\npersistence = \"aof-always\"\n\n[stock]",
        )
        + "\n[[faults]]\nkind = \"redis-restart\"\nat = \"1s\"\nduration = \"500ms\"\n";
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["faults_applied"], "1", "{context}");
    assert_eq!(num(&s, "in_doubt"), 1, "{context}");
    assert!(
        sales_from(&run, 2.0) > 0,
        "sales go on after the restart: {context}"
    );
}
