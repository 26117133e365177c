//! A real embedded Redis Cluster: segmented stock sells exactly, lands on
//! distinct masters, strands units only when told not to fall back, and
//! faults the proxy cannot apply there are refused.

use crate::support::{self, num, Bench};

/// Three segments on a 3-master cluster (`tests/valkey.rs` runs it on
/// Valkey).
pub const CLUSTER_SALE: &str = r#"
name = "cluster-sale"

[redis]
topology = "cluster"

[stock]
initial = 3000
segments = 3

[load]
processes = 2
clients_per_process = 4
duration = "20s"

[strategy]
kind = "lua"
"#;

#[test]
fn three_segments_on_three_masters_sell_exactly_the_stock() {
    let (_dir, path) = support::write_scenario(CLUSTER_SALE);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "sold"), 3000, "{}", run.context());
    assert_eq!(num(&s, "final_stock"), 0);
    assert_eq!(num(&s, "segments"), 3);
    assert_eq!(num(&s, "stranded"), 0);
    let segments = run.csv("segments.csv");
    assert_eq!(segments.len(), 3, "{segments:?}");
    let nodes: std::collections::BTreeSet<&str> =
        segments.iter().map(|r| r["node"].as_str()).collect();
    assert_eq!(nodes.len(), 3, "one master per segment: {segments:?}");
    assert!(segments.iter().all(|r| num(r, "final_stock") == 0));
    assert!(
        run.stdout.contains("embedded Redis Cluster of 3 master(s)"),
        "{}",
        run.context()
    );
}

/// Two clients in all, `client` pick: the buyers stay on segments 0 and 1.
/// Without fallback they are sent away when theirs is empty and segment
/// 2's units are stranded; with `next` they walk on and nothing is.
#[test]
fn no_fallback_strands_units_and_next_does_not() {
    let (_dir, path) = support::write_scenario(CLUSTER_SALE);
    let concentrated = [
        "--set",
        "stock.segment_pick=client",
        "--set",
        "load.clients_per_process=1",
    ];
    let mut none = concentrated.to_vec();
    none.extend(["--set", "stock.segment_fallback=none"]);
    let run = Bench::run(&path, &none).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "under-sell is not an oversell");
    assert_eq!(num(&s, "sold"), 2000, "{}", run.context());
    assert_eq!(num(&s, "stranded"), 1000, "{s:?}");
    assert!(run.stdout.contains("stranded"), "{}", run.context());

    let mut next = concentrated.to_vec();
    next.extend(["--set", "stock.segment_fallback=next"]);
    let run = Bench::run(&path, &next).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "sold"), 3000, "{}", run.context());
    assert_eq!(num(&s, "stranded"), 0, "{s:?}");
    assert!(num(&s, "segment_hops") >= 1000, "{s:?}");
}

#[test]
fn ctrl_c_leaves_no_cluster_node_behind() {
    let (_dir, path) = support::write_scenario(&CLUSTER_SALE.replace("3000", "100000000"));
    let (mut child, pending) = Bench::run(&path, &[]).spawn();
    let _rest = support::wait_for_progress(&mut child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = pending.finish(child);
    assert_eq!(run.code(), 130, "{}", run.context());
    assert!(run.out().join("segments.csv").is_file());
}

#[test]
fn what_a_cluster_cannot_do_is_refused_before_any_load() {
    let latency = format!("{CLUSTER_SALE}\n[[faults]]\nkind = \"latency\"\nat = \"1s\"\n");
    let (_dir, path) = support::write_scenario(&latency);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("faults[0].kind") && run.stderr.contains("MOVED"),
        "{}",
        run.context()
    );
    let (_dir, path) = support::write_scenario(CLUSTER_SALE);
    let run = Bench::run(&path, &["--set", "strategy.kind=watch"]).output();
    run.assert_code(2);
    assert!(run.stderr.contains("strategy.kind"), "{}", run.context());
}

/// `scenarios/cluster-failover.toml`, shortened: segment 0's master dies
/// with writes its replica never got, which takes over: FAIL, units back
/// in stock. The same failover done gracefully (`CLUSTER FAILOVER`, the
/// replica catching up first) loses nothing.
#[test]
fn a_crash_failover_of_a_segment_master_brings_units_back_in_stock() {
    let short = ["--set", "load.duration=4s", "--set", "faults[0].at=1s"];
    let run = Bench::run(&crate::support::scenario("cluster-failover"), &short).output();
    run.assert_code(1);
    let s = run.summary();
    assert!(num(&s, "back_in_stock") > 0, "{}", run.context());
    assert_eq!(s["faults_applied"], "1", "{s:?}");
    assert!(
        run.stdout
            .contains("units recorded as sold are back in stock"),
        "{}",
        run.context()
    );
    let faults = run.csv("faults.csv");
    assert!(
        faults.iter().any(|f| f["what"].contains("TAKEOVER")),
        "{faults:?}"
    );

    let text = std::fs::read_to_string(crate::support::scenario("cluster-failover")).unwrap();
    let graceful = text
        .replace("mode = \"crash\"", "mode = \"graceful\"")
        .replace("lag = \"200ms\"\n", "");
    let (_dir, path) = support::write_scenario(&graceful);
    let run = Bench::run(&path, &short).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "back_in_stock"), 0, "{}", run.context());
    assert_eq!(s["faults_applied"], "1", "{s:?}");
}

/// A cluster of 3 masters the test starts, as a user's own, and its seed
/// URLs; it stops when the set is dropped.
fn users_cluster() -> (
    seckill_bench::topology::cluster_set::ClusterSet,
    Vec<String>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let settings = seckill_bench::scenario::ClusterSettings {
        masters: 3,
        replicas_per_master: 0,
        seeds: Vec::new(),
    };
    let cluster = runtime
        .block_on(seckill_bench::topology::cluster_set::ClusterSet::start(
            &settings,
        ))
        .unwrap();
    let seckill_bench::conn::Discovery::Cluster(seeds) = cluster.endpoint().discovery else {
        panic!("a cluster is found from seeds");
    };
    (cluster, seeds)
}

/// The user's own cluster (here one the test starts), reached from its
/// second seed URL when the first is down, with buyers spread by a hash
/// of the buyer.
#[test]
fn a_users_cluster_is_reached_from_a_live_seed() {
    let (_cluster, seeds) = users_cluster();
    // The first seed is down: the second one is asked.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("redis://127.0.0.1:{port}/0");
    let text = CLUSTER_SALE.replace(
        "topology = \"cluster\"",
        &format!(
            "topology = \"cluster\"\nurl = \"{down}\"\nseeds = [\"{}\"]",
            seeds[1]
        ),
    );
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &["--set", "stock.segment_pick=buyer-hash"]).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "sold"), 3000, "{}", run.context());
    assert!(
        run.stdout.contains("Redis Cluster from 127.0.0.1:"),
        "{}",
        run.context()
    );
    let nodes: std::collections::BTreeSet<String> = run
        .csv("segments.csv")
        .into_iter()
        .map(|r| r["node"].clone())
        .collect();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
}

/// One unit per buyer, remembered in a key of the buyer's own.
const PER_BUYER_KEY: &str = r#"
local stock = tonumber(redis.call("GET", KEYS[1]))
if stock < 1 then return 1 end
if not redis.call("SET", KEYS[2], 1, "NX") then return 2 end
redis.call("DECRBY", KEYS[1], 1)
redis.call("XADD", KEYS[3], "*", "buyer", ARGV[1])
return 0
"#;

/// Decrements its own segment, then writes keys of other slots that it
/// did not declare: Redis refuses the first one on another node, after
/// the decrement is done. (Redis 7 lets a script write an undeclared key
/// its own node serves: sixteen of them make another node certain.)
const UNDECLARED: &str = r#"
local stock = tonumber(redis.call("GET", KEYS[1]))
if stock < 1 then return 1 end
redis.call("DECRBY", KEYS[1], 1)
for i = 1, 16 do
    local elsewhere = (string.gsub(KEYS[1], "}", "-elsewhere" .. i .. "}", 1))
    redis.call("SADD", elsewhere, ARGV[1])
end
return 0
"#;

/// The user's script per segment on the user's cluster: a one-per-buyer
/// set per segment holds when a buyer always buys on its own segment, and
/// breaks across segments when buyers land anywhere; a script that touches
/// an undeclared key of another slot fails loudly, never silently.
#[test]
fn a_users_script_runs_per_segment_and_its_cross_segment_mistakes_fail() {
    let (_cluster, seeds) = users_cluster();
    let on_cluster = |extra: &[&str]| {
        let mut args = vec![
            "--redis-url",
            &seeds[0],
            "--set",
            "redis.topology=cluster",
            "--set",
            "stock.segments=3",
        ];
        args.extend_from_slice(extra);
        Bench::run(&support::scenario("own-script"), &args).output()
    };

    let run = on_cluster(&["--set", "stock.segment_pick=random"]);
    run.assert_code(1);
    let s = run.summary();
    let context = run.context();
    assert_eq!(num(&s, "oversold"), 0, "{context}");
    assert!(num(&s, "duplicate_buyers") > 0, "{context}");
    assert!(run.stdout.contains("on more than one segment"), "{context}");
    assert_eq!(
        num(&s, "orders"),
        num(&s, "sales"),
        "orders per segment add up: {context}"
    );

    // One key per buyer, made by the script and declared nowhere else:
    // the cleanup finds them on each segment's node.
    let dir = tempfile::tempdir().unwrap();
    let per_buyer = dir.path().join("per-buyer.lua");
    std::fs::write(&per_buyer, PER_BUYER_KEY).unwrap();
    let per_buyer = format!("strategy.script={}", per_buyer.display());
    let keys = r#"strategy.keys=["{stock}", "{run}:bought:{buyer}", "{run}:orders"]"#;
    let own_segment = [
        "--set",
        "stock.segment_pick=buyer-hash",
        "--set",
        "stock.segment_fallback=none",
        "--set",
        &per_buyer,
        "--set",
        keys,
    ];
    let run = on_cluster(&own_segment);
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "duplicate_buyers"), 0, "{}", run.context());
    assert!(num(&s, "rejected_duplicate") > 0, "{}", run.context());
    for seed in &seeds {
        let mut node = redis::Client::open(seed.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let left: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut node).unwrap();
        assert!(left.is_empty(), "{seed} keeps {left:?}\n{}", run.context());
    }

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("undeclared.lua");
    std::fs::write(&script, UNDECLARED).unwrap();
    let script = format!("strategy.script={}", script.display());
    let run = on_cluster(&["--set", &script, "--set", "audit.per_buyer_limit=5"]);
    run.assert_code(1);
    let s = run.summary();
    let context = run.context();
    assert_eq!(num(&s, "sales"), 0, "{context}");
    assert!(s["error_kinds"].contains("unexpected_reply"), "{context}");
    assert!(num(&s, "lost") > 0, "the decrements show: {context}");
    assert!(
        run.stdout.contains("The stock is not conserved"),
        "{context}"
    );
    assert!(
        run.stdout.contains("`error: "),
        "the error is shown: {context}"
    );
}
