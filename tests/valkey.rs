//! The core verdicts on Valkey (`[redis] server = "valkey"`), each checked
//! as its Redis test checks it, plus what is Valkey's own: the `server`
//! column names valkey-server and its version (so a run that silently fell
//! back to redis-server fails here), a sweep over servers starts each
//! point's own, and a missing or wrong binary stops the run (exit 4). A
//! matrix of the essentials, short runs: not the whole suite twice.

use std::collections::HashMap;
use std::time::Duration;

use seckill_bench::scenario::Server;
use seckill_bench::topology::redis_server::{self, RedisServer, ServerOptions};

use crate::support::{self, num, scenario, Bench};

const VALKEY: [&str; 2] = ["--set", "redis.server=valkey"];

/// `scenario` on embedded valkey-servers, with `extra`.
fn on_valkey(name: &str, extra: &[&str]) -> support::Run {
    let mut args = VALKEY.to_vec();
    args.extend_from_slice(extra);
    Bench::run(&scenario(name), &args).output()
}

/// The row's `server` is valkey-server's own name and version, never the
/// Redis version it reports for compatibility (7.2.4 in Valkey 8).
fn assert_valkey(row: &HashMap<String, String>, run: &support::Run) {
    let server = &row["server"];
    let version = server.strip_prefix("valkey ").unwrap_or_else(|| {
        panic!(
            "server column {server:?} does not name valkey\n{}",
            run.context()
        )
    });
    assert!(
        version.starts_with(|c: char| c.is_ascii_digit()) && version != "7.2.4",
        "{server:?}"
    );
}

/// A valkey-server of the test's own, as a user's server.
fn users_valkey() -> RedisServer {
    let options = ServerOptions {
        server: Server::Valkey,
        ..ServerOptions::default()
    };
    RedisServer::start_with(Duration::from_secs(10), options)
        .unwrap_or_else(|e| panic!("cannot start valkey-server for the test: {e:#}"))
}

#[test]
fn the_article_passes_and_its_stall_oversells_on_valkey() {
    let run = on_valkey("article", &[]);
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS");
    assert_eq!(
        (num(&s, "sold"), num(&s, "final_stock"), num(&s, "oversold")),
        (10, 90, 0)
    );
    assert_valkey(&s, &run);
    assert!(
        run.stdout
            .contains("redis: embedded valkey-server on 127.0.0.1:")
            && run.stdout.contains(&format!("({})", s["server"])),
        "{}",
        run.context()
    );

    let run = on_valkey("article-stall", &[]);
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "FAIL");
    assert!(num(&s, "oversold") > 0, "{}", run.context());
    assert!(num(&s, "final_stock") < 0, "{}", run.context());
    assert!(run.stdout.contains("FAIL: Oversold"), "{}", run.context());
    assert_valkey(&s, &run);
    let audit = run.csv("audit.csv");
    let negative = audit
        .iter()
        .find(|r| r["invariant"] == "final_stock_non_negative")
        .unwrap();
    assert_eq!(negative["pass"], "false");
}

/// `pause-holder.toml` as `faults.rs` runs it, with fewer trials.
#[test]
fn pausing_the_lock_holder_oversells_the_article_lock_but_not_fenced_on_valkey() {
    let _alone = support::alone();
    let article = on_valkey(
        "pause-holder",
        &["--set", "strategy.kind=article", "--repeat", "3"],
    );
    for trial in &crate::faults::the_paused_lock_failed(&article, 3) {
        let s = article
            .csv(&format!("{}/summary.csv", trial["folder"]))
            .remove(0);
        assert_valkey(&s, &article);
    }
    let fenced = on_valkey(
        "pause-holder",
        &["--set", "strategy.kind=fenced", "--repeat", "2"],
    );
    for s in crate::faults::the_paused_run_passed(&fenced, "fenced") {
        assert_valkey(&s, &fenced);
    }
}

/// The shipped script and Function on a user's valkey-server, as
/// `scripts.rs` runs them on a redis-server: the report names the user's
/// server from what it says, a library of the same name is never replaced,
/// and the run's own library is deleted.
#[test]
fn the_users_script_and_function_pass_on_a_users_valkey() {
    let valkey = users_valkey();
    let mut conn = redis::Client::open(valkey.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let url = ["--redis-url", &valkey.url()];

    let run = Bench::run(&scenario("own-script"), &url).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(
        (num(&s, "sold"), num(&s, "final_stock")),
        (1000, 0),
        "{context}"
    );
    assert!(num(&s, "rejected_duplicate") > 0, "{context}");
    assert_eq!(num(&s, "duplicate_buyers"), 0, "{context}");
    assert_eq!(num(&s, "orders"), 1000, "{context}");
    assert_valkey(&s, &run);

    crate::scripts::their_library_is_never_replaced(&mut conn, &url);
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg("seckill")
        .query(&mut conn)
        .unwrap();

    let run = Bench::run(&scenario("own-function"), &url).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "orders"), 1000, "{}", run.context());
    assert!(
        run.stdout
            .contains("function library `seckill`, FCALL seckill_buy"),
        "{}",
        run.context()
    );
    assert_valkey(&s, &run);
    let libraries: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(&mut conn).unwrap();
    assert!(libraries.is_empty(), "{libraries:?}");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(
        keys,
        Vec::<String>::new(),
        "every key of the runs is deleted"
    );
}

/// `failover-crash.toml` shortened as `replication.rs` shortens it, on a
/// primary, a replica and three sentinels that are all valkey-servers.
#[test]
fn a_crash_failover_fails_lua_and_wait_replicas_passes_on_valkey_sentinel() {
    let short = ["--set", "load.duration=5s", "--set", "faults[0].at=1s"];
    let run = on_valkey("failover-crash", &short);
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "FAIL", "{}", run.context());
    assert!(num(&s, "back_in_stock") > 0, "{s:?}");
    assert_eq!(s["faults_applied"], "1", "{s:?}");
    assert!(
        run.stdout
            .contains("units recorded as sold are back in stock")
            && run.stdout.contains("Strategy lua cannot prevent this"),
        "{}",
        run.context()
    );
    assert_valkey(&s, &run);
    crate::replication::assert_killed_and_promoted(&run);

    let mut confirmed = short.to_vec();
    confirmed.extend(["--set", "strategy.wait_replicas=1"]);
    let run = on_valkey("failover-crash", &confirmed);
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "{}", run.context());
    assert_eq!(num(&s, "back_in_stock"), 0, "{s:?}");
    assert!(num(&s, "unconfirmed") > 0, "{s:?}");
    assert!(num(&s, "unconfirmed") <= num(&s, "in_doubt"), "{s:?}");
    assert_eq!(s["faults_applied"], "1", "{s:?}");
    assert_valkey(&s, &run);
}

#[test]
fn three_segments_on_a_valkey_cluster_sell_exactly_the_stock() {
    let (_dir, path) = support::write_scenario(crate::cluster::CLUSTER_SALE);
    let run = Bench::run(&path, &VALKEY).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "sold"), 3000, "{}", run.context());
    assert_eq!(num(&s, "final_stock"), 0);
    assert_eq!((num(&s, "segments"), num(&s, "stranded")), (3, 0));
    assert_valkey(&s, &run);
    let segments = run.csv("segments.csv");
    let nodes: std::collections::BTreeSet<&str> =
        segments.iter().map(|r| r["node"].as_str()).collect();
    assert_eq!(nodes.len(), 3, "one master per segment: {segments:?}");
    assert!(segments.iter().all(|r| num(r, "final_stock") == 0));
    assert!(
        run.stdout
            .contains("embedded Valkey Cluster of 3 master(s)"),
        "{}",
        run.context()
    );
}

/// Points alternate between the servers, each on its own: a sweep that
/// kept the first point's server would name redis twice.
#[test]
fn a_sweep_over_servers_runs_each_point_on_its_own_server() {
    let text = std::fs::read_to_string(scenario("article")).unwrap();
    let text = format!("{text}\n[sweep]\n\"redis.server\" = [\"redis\", \"valkey\"]\n");
    let (_dir, path) = support::write_scenario(&text);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report").display().to_string();
    let args = ["sweep", &path, "--out", &out].map(str::to_owned).to_vec();
    let run = Bench::new(args, dir).output();
    run.assert_code(0);
    let rows = run.csv("sweep.csv");
    let servers: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["redis.server"].as_str(), r["server"].as_str()))
        .collect();
    assert_eq!(servers.len(), 2, "{}", run.context());
    assert_eq!(servers[0].0, "redis");
    assert!(servers[0].1.starts_with("redis "), "{servers:?}");
    assert_eq!(servers[1].0, "valkey");
    assert_valkey(&rows[1], &run);
}

/// A missing binary stops the run before anything starts, naming how to
/// install it and the variable; a variable naming redis-server is refused
/// too, rather than measured and reported as Valkey.
#[test]
fn a_missing_or_wrong_valkey_binary_exits_4_saying_what_to_do() {
    let missing = Bench::run(&scenario("article"), &VALKEY)
        .env("SECKILL_VALKEY_SERVER", "/nonexistent/valkey-server")
        .output();
    missing.assert_code(4);
    let said = &missing.stderr;
    assert!(
        said.contains("SECKILL_VALKEY_SERVER=/nonexistent/valkey-server is not a file")
            && said.contains("apt-get install -t bookworm-backports valkey-server"),
        "{}",
        missing.context()
    );
    assert!(
        missing.elapsed < Duration::from_secs(5),
        "{:?}",
        missing.elapsed
    );
    assert!(!missing.out().exists(), "nothing is written");

    let redis = redis_server::find_binary(Server::Redis).unwrap();
    let wrong = Bench::run(&scenario("article"), &VALKEY)
        .env("SECKILL_VALKEY_SERVER", &redis.display().to_string())
        .output();
    wrong.assert_code(4);
    assert!(
        wrong
            .stderr
            .contains("the embedded server says it is redis")
            && wrong.stderr.contains("is not a valkey-server"),
        "{}",
        wrong.context()
    );
    assert!(!wrong.out().exists(), "nothing is written");
}
