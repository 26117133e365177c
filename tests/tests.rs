//! Integration tests: the real binary against real redis-servers, asserting
//! on the exit code and the reports it wrote.

mod browser;
mod capacity;
mod cluster;
mod connections;
mod docs;
mod faults;
mod gate;
mod history;
mod hosts;
mod measurement;
mod orders;
mod replication;
mod robustness;
mod scripts;
mod service;
mod strategies;
mod support;
mod valkey;
mod verdict;

use std::time::Duration;

use support::{num, scenario, Bench};

const VALID: &str = r#"
name = "tiny"

[stock]
initial = 10

[load]
processes = 1
clients_per_process = 1
purchases_per_client = 1

[strategy]
kind = "article"
"#;

#[test]
fn article_scenario_passes_on_an_embedded_server() {
    let run = Bench::run(&scenario("article"), &[]).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS");
    assert_eq!(num(&s, "sold"), 10);
    assert_eq!(num(&s, "final_stock"), 90);
    assert_eq!(num(&s, "oversold"), 0);
    assert!(run.stdout.contains("PASS"), "{}", run.context());
    assert!(
        run.stdout.contains("embedded redis-server"),
        "{}",
        run.context()
    );
}

#[test]
fn reports_agree_with_each_other() {
    let redis = support::redis();
    let run = Bench::run(&scenario("flash-sale"), &["--redis-url", &redis.url()]).output();
    run.assert_code(0);
    let s = run.summary();
    // flash-sale sells exactly the stock and ends at 0; on a loaded
    // machine a reply may time out, and its unit is in doubt, not sold.
    let context = run.context();
    assert_eq!(num(&s, "final_stock"), 0, "{context}");
    assert_eq!(num(&s, "sold") + num(&s, "lost"), 1000, "{context}");
    assert!(num(&s, "lost") <= num(&s, "in_doubt"), "{context}");
    assert_eq!(
        num(&s, "initial_stock") - num(&s, "final_stock"),
        num(&s, "sold") + num(&s, "lost")
    );
    let workers = run.csv("workers.csv");
    assert_eq!(workers.len(), 16);
    let per_worker: i64 = workers.iter().map(|w| num(w, "sold")).sum();
    assert_eq!(per_worker, num(&s, "sold"));
    // Every one of the 128 buyers stops by being told it is sold out.
    assert_eq!(num(&s, "rejected_sold_out"), 128);
    assert!(run.csv("audit.csv").iter().all(|r| r["pass"] == "true"));
    let latency = run.csv("latency.csv");
    let p100 = latency
        .iter()
        .find(|r| r["phase"] == "purchase" && r["percentile"] == "100.0")
        .expect("purchase p100 row");
    assert_eq!(num(p100, "count"), num(&s, "attempts"));
    assert_eq!(num(p100, "value_us"), num(&s, "max_us"));
    let svg = std::fs::read_to_string(run.out().join("latency.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("purchase") && svg.contains("99%"));
}

#[test]
fn article_stall_oversells_and_exits_1() {
    let redis = support::redis();
    let run = Bench::run(&scenario("article-stall"), &["--redis-url", &redis.url()]).output();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "FAIL");
    assert!(num(&s, "oversold") > 0, "{}", run.context());
    assert!(num(&s, "final_stock") < 0, "{}", run.context());
    assert!(run.stdout.contains("FAIL: Oversold"), "{}", run.context());
    let audit = run.csv("audit.csv");
    let negative = audit
        .iter()
        .find(|r| r["invariant"] == "final_stock_non_negative")
        .unwrap();
    assert_eq!(negative["pass"], "false");
}

#[test]
fn unlocked_under_contention_oversells() {
    let redis = support::redis();
    // Ten buyers read a stock of 3, all stall, then all decrement.
    let run = Bench::run(
        &scenario("article"),
        &[
            "--redis-url",
            &redis.url(),
            "--set",
            "strategy.kind=unlocked",
            "--set",
            "stock.initial=3",
            "--set",
            "strategy.stall_ms=300",
        ],
    )
    .output();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["strategy"], "unlocked");
    assert!(num(&s, "oversold") > 0, "{}", run.context());
    assert_eq!(
        num(&s, "sold") - num(&s, "initial_stock"),
        -num(&s, "final_stock")
    );
}

#[test]
fn unknown_key_exits_2_naming_file_line_and_field() {
    let text = VALID.replace(
        "purchases_per_client = 1",
        "purchases_per_client = 1\nprocesess = 4",
    );
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(2);
    assert!(run.stderr.contains("scenario.toml:11"), "{}", run.context());
    assert!(run.stderr.contains("load.procesess"), "{}", run.context());
    assert!(run.stderr.contains("what to do"), "{}", run.context());
    assert!(!run.out().exists(), "nothing may be written on bad input");
}

#[test]
fn zero_and_negative_counts_exit_2_naming_the_field() {
    for (from, to, field) in [
        ("processes = 1", "processes = 0", "load.processes"),
        (
            "clients_per_process = 1",
            "clients_per_process = -3",
            "load.clients_per_process",
        ),
        ("initial = 10", "initial = -1", "stock.initial"),
    ] {
        let (_dir, path) = support::write_scenario(&VALID.replace(from, to));
        let run = Bench::run(&path, &[]).output();
        run.assert_code(2);
        assert!(run.stderr.contains(field), "{field}: {}", run.context());
        assert!(run.stderr.contains("scenario.toml:"), "{}", run.context());
    }
}

#[test]
fn bad_override_exits_2_naming_the_flag() {
    let (_dir, path) = support::write_scenario(VALID);
    let run = Bench::run(&path, &["--set", "load.processes=0"]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("--set load.processes=0"),
        "{}",
        run.context()
    );
    let run = Bench::run(&path, &["--set", "strategy.kind=optimistic"]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("unknown strategy `optimistic`"),
        "{}",
        run.context()
    );
}

#[test]
fn unreachable_redis_exits_4_fast() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let run = Bench::run(&scenario("article"), &["--redis-url", &url]).output();
    run.assert_code(4);
    // Refused on the first refusal: milliseconds, plus starting the binary
    // on a busy machine. Retrying, or waiting out a timeout, takes longer.
    assert!(
        run.elapsed < Duration::from_secs(15),
        "took {:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("cannot reach Redis"),
        "{}",
        run.context()
    );
}

#[test]
fn missing_redis_server_binary_exits_4_with_install_hint() {
    let run = Bench::run(&scenario("article"), &[])
        .env("SECKILL_REDIS_SERVER", "/nonexistent/redis-server")
        .output();
    run.assert_code(4);
    assert!(
        run.stderr.contains("apt-get install redis-server"),
        "{}",
        run.context()
    );
}

#[test]
fn password_never_appears_in_output_or_reports() {
    let redis = support::redis();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let secret = "s3cret-pw-zz9";
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(secret)
        .query(&mut conn)
        .unwrap();
    let url = format!("redis://:{secret}@127.0.0.1:{}/0", redis.port());
    let run = Bench::run(&scenario("article"), &["--redis-url", &url]).output();
    run.assert_code(0);
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    for file in std::fs::read_dir(run.out()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(secret));
    }
    // And a wrong password is an environment error that still hides it.
    let wrong = format!("redis://:not-{secret}@127.0.0.1:{}/0", redis.port());
    let run = Bench::run(&scenario("article"), &["--redis-url", &wrong]).output();
    run.assert_code(4);
    assert!(!run.stderr.contains(secret), "{}", run.context());
}

#[test]
fn run_leaves_no_keys_and_touches_no_other_key() {
    let redis = support::redis();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("users:own-key")
        .arg("42")
        .query(&mut conn)
        .unwrap();
    let run = Bench::run(&scenario("article"), &["--redis-url", &redis.url()]).output();
    run.assert_code(0);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(keys, ["users:own-key"]);
    let value: String = redis::cmd("GET")
        .arg("users:own-key")
        .query(&mut conn)
        .unwrap();
    assert_eq!(value, "42");
}

#[test]
fn default_report_folder_is_named_after_scenario_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", &scenario("article"), "--quiet"]
        .map(str::to_owned)
        .to_vec();
    let run = Bench::new(args, dir).output();
    run.assert_code(0);
    let reports: Vec<String> = std::fs::read_dir(run.dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let name = &reports[0];
    let stamp = name
        .strip_prefix("article-")
        .expect("named after the scenario");
    assert_eq!(stamp.len(), "20261124T194405Z".len(), "{name}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T',
        "{name}"
    );
    assert_eq!(run.stdout.trim(), format!("PASS reports/{name}"));
}

#[test]
fn a_taken_report_folder_is_never_reused() {
    // Another run of the same scenario took this second's folder (and the
    // next two, in case the clock ticks before the run names its own).
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now();
    let taken: Vec<String> = (0..3)
        .map(|s| {
            let stamp = seckill_bench::util::run_id::utc_stamp(now + Duration::from_secs(s));
            let folder = dir.path().join("reports").join(format!("article-{stamp}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("summary.csv"), "theirs").unwrap();
            format!("reports/article-{stamp}")
        })
        .collect();
    let args = ["run", &scenario("article"), "--quiet"].map(str::to_owned);
    let run = Bench::new(args.to_vec(), dir).output();
    run.assert_code(0);
    let printed = run.stdout.trim().strip_prefix("PASS ").unwrap().to_owned();
    assert!(
        taken.iter().any(|t| printed == format!("{t}-2")),
        "{printed} is not a suffixed folder of {taken:?}"
    );
    for t in &taken {
        let theirs = std::fs::read_to_string(run.dir.path().join(t).join("summary.csv"));
        assert_eq!(theirs.unwrap(), "theirs", "{t} was overwritten");
    }
    assert!(run.dir.path().join(&printed).join("summary.csv").is_file());
}
