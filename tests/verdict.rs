//! The verdict cannot be fooled: a run that tested nothing is INCONCLUSIVE,
//! a lock that let two clients write at once FAILs without an oversell, and
//! every command honours the same verdict and exit codes.

use crate::support::{self, num, scenario, Bench};

/// `article-stall` (stall 100 ms past a 50 ms TTL) on a stock too large to
/// run out: nothing goes below zero, only the checker can see the problem.
fn stall_on_a_large_stock(kind: &str) -> support::Run {
    let redis = support::redis();
    let set = [
        "--redis-url".to_owned(),
        redis.url(),
        "--set".to_owned(),
        "stock.initial=1000000000".to_owned(),
        "--set".to_owned(),
        format!("strategy.kind={kind}"),
    ];
    let args: Vec<&str> = set.iter().map(String::as_str).collect();
    Bench::run(&scenario("article-stall"), &args).output()
}

#[test]
fn an_unsafe_lock_fails_without_an_oversell_and_fencing_passes() {
    let article = stall_on_a_large_stock("article");
    article.assert_code(1);
    let s = article.summary();
    assert_eq!(s["verdict"], "FAIL");
    assert_eq!(num(&s, "oversold"), 0, "{}", article.context());
    assert!(num(&s, "unsafe_overlaps") > 0, "{}", article.context());
    let audit = article.csv("audit.csv");
    let exclusive = audit
        .iter()
        .find(|r| r["invariant"] == "lock_exclusive")
        .expect("a lock_exclusive row");
    assert_eq!(exclusive["pass"], "false");
    assert!(
        article.stdout.contains("past the 50.0 ms TTL"),
        "{}",
        article.context()
    );
    let svg = std::fs::read_to_string(article.out().join("locks.svg")).unwrap();
    assert!(svg.contains("TTL expired"));
    let page = std::fs::read_to_string(article.out().join("index.html")).unwrap();
    assert!(page.contains("Lock holds around the first overlap"));

    let fenced = stall_on_a_large_stock("fenced");
    fenced.assert_code(0);
    let s = fenced.summary();
    assert_eq!(num(&s, "unsafe_overlaps"), 0, "{}", fenced.context());
    assert!(
        num(&s, "fenced_overlaps") + num(&s, "fenced_out") > 0,
        "{}",
        fenced.context()
    );

    let lua = stall_on_a_large_stock("lua");
    lua.assert_code(0);
    assert_eq!(lua.summary()["unsafe_overlaps"], "", "not applicable");
    assert!(lua
        .stdout
        .contains("not applicable (strategy lua takes no lock)"));
}

#[test]
fn a_redis_that_refuses_every_purchase_is_inconclusive_not_pass() {
    let redis = support::redis();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    // The lock's `SET ... NX PX` is refused, as every write is on a Redis
    // out of memory; the harness's own SETNX, GET and DEL are allowed.
    let () = redis::cmd("ACL")
        .arg(&["SETUSER", "buyer", "on", ">pw", "~*", "+@all", "-set"][..])
        .query(&mut conn)
        .unwrap();
    let url = format!("redis://buyer:pw@127.0.0.1:{}/0", redis.port());
    let run = Bench::run(
        &scenario("flash-sale"),
        &[
            "--redis-url",
            &url,
            "--set",
            "load.processes=2",
            "--set",
            "load.duration=1s",
        ],
    )
    .output();
    run.assert_code(5);
    let s = run.summary();
    assert_eq!(s["verdict"], "INCONCLUSIVE", "{}", run.context());
    assert!(num(&s, "errors") > 0);
    assert_eq!(num(&s, "errors"), num(&s, "attempts"));
    // The sentence gives the same count as the column beside it.
    assert!(
        s["inconclusive_reason"].contains(&format!("({} error(s))", num(&s, "errors"))),
        "{s:?}"
    );
}

#[test]
fn sweep_honours_thresholds_with_exit_3() {
    let text = std::fs::read_to_string(scenario("flash-sale")).unwrap();
    let swept = format!(
        "{text}\n[thresholds]\nmin_purchases_per_s = 1000000000\n\n[sweep]\n\"strategy.kind\" = [\"lua\", \"decr\"]\n"
    );
    let (_dir, path) = support::write_scenario(&swept);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report").display().to_string();
    let args = ["sweep", path.as_str(), "--out", out.as_str()].map(str::to_owned);
    let run = Bench::new(args.to_vec(), dir).output();
    run.assert_code(3);
    assert!(
        run.stdout.contains("THRESHOLDS-FAILED"),
        "{}",
        run.context()
    );
    for row in run.csv("sweep.csv") {
        assert_eq!(row["verdict"], "PASS", "the audit passed: {row:?}");
        assert_eq!(row["thresholds"], "FAIL", "{row:?}");
    }
}

#[test]
fn redis_lost_mid_run_is_inconclusive_with_the_audit_and_keys_left() {
    let mut redis = support::redis();
    let (mut child, pending) = support::endless_sale(&[
        "--redis-url",
        &redis.url(),
        "--set",
        "load.processes=2",
        "--set",
        "load.duration=7s",
    ])
    .spawn();
    // Progress lines come every 5 s; the load goes on 2 s after the first.
    let rest = support::wait_for_progress(&mut child);
    redis.crash();
    let run = pending.finish(child);
    let stderr = rest.join().unwrap();
    assert_eq!(run.code(), 5, "{stderr}\n{}", run.context());
    let s = run.summary();
    assert_eq!(s["verdict"], "INCONCLUSIVE");
    assert!(s["inconclusive_reason"].contains("lost mid-run"), "{s:?}");
    assert!(num(&s, "sold") > 0, "the audit still counts what was sold");
    assert!(run.stdout.contains("could not delete"), "{}", run.context());
    assert!(
        run.stdout.contains("stock 1000000000 -> unknown"),
        "{}",
        run.context()
    );
}

#[test]
fn ctrl_c_after_the_load_started_still_writes_every_report() {
    let redis = support::redis();
    // A fault the interrupt keeps from firing: the run is still
    // interrupted (130), not INCONCLUSIVE.
    let never =
        r#"faults=[{kind="pause",at="after 1000000000 sales",target="random",duration="1s"}]"#;
    let url = redis.url();
    let (mut child, pending) = support::endless_sale(&[
        "--redis-url",
        &url,
        "--set",
        "load.processes=3",
        "--set",
        never,
    ])
    .spawn();
    let rest = support::wait_for_progress(&mut child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = pending.finish(child);
    let stderr = rest.join().unwrap();
    assert_eq!(run.code(), 130, "{stderr}\n{}", run.context());
    let s = run.summary();
    assert_eq!(s["interrupted"], "true");
    assert!(num(&s, "attempts") > 0, "the load had started: {s:?}");
    for file in [
        "summary.csv",
        "audit.csv",
        "latency.csv",
        "workers.csv",
        "timeline.csv",
        "latency.hlog",
        "faults.csv",
        "latency.svg",
        "timeline.svg",
        "index.html",
    ] {
        assert!(run.out().join(file).is_file(), "{file} missing");
    }
    assert!(stderr.contains("interrupted"), "{stderr}");
    let faults = run.csv("faults.csv");
    assert!(
        faults
            .iter()
            .any(|f| f["what"].contains("the run was interrupted")),
        "{faults:?}"
    );
}

/// A sweep stopped by Ctrl-C after its first point: its page says
/// INCOMPLETE, never the verdict of the points that ran, and exit 130.
#[test]
fn an_interrupted_sweep_page_says_incomplete() {
    use std::io::BufRead;
    let text = r#"
name = "stopped"
[stock]
initial = 1000000000
[load]
processes = 1
clients_per_process = 2
duration = "300ms"
[strategy]
kind = "lua"
[sweep]
"load.duration" = ["300ms", "60s", "60s"]
"#;
    let (_dir, path) = support::write_scenario(text);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let args = vec![
        "sweep".to_owned(),
        path,
        "--out".to_owned(),
        out.display().to_string(),
    ];
    let (mut child, pending) = Bench::new(args, dir).spawn();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.starts_with("[1/3]"));
    assert!(first, "the first point never finished");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let run = pending.finish(child);
    assert_eq!(run.code(), 130, "{rest:?}\n{}", run.context());
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("INCOMPLETE"), "{page:.1500}");
    assert!(page.contains("of 3 points ran"), "{page:.1500}");
    assert!(!page.contains(">PASS</div>"), "{page:.1500}");
}
