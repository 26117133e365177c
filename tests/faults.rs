//! Faults against real processes and a real redis-server: the audit stays
//! exact, strategies that should survive do, and nothing is left running.

use std::collections::HashMap;

use crate::support::{self, num, scenario, Bench};

fn run_with(scenario_name: &str, extra: &[&str]) -> support::Run {
    Bench::run(&scenario(scenario_name), extra).output()
}

#[test]
fn pausing_the_lock_holder_past_the_ttl_oversells_the_article_lock_only() {
    let _alone = support::alone();
    let article = run_with(
        "pause-holder",
        &["--set", "strategy.kind=article", "--repeat", "5"],
    );
    for trial in &the_paused_lock_failed(&article, 5) {
        let faults = article.csv(&format!("{}/faults.csv", trial["folder"]));
        let frozen: Vec<_> = faults
            .iter()
            .filter(|f| f["what"].contains("stopped (SIGSTOP)") && f["applied"] == "true")
            .collect();
        assert_eq!(frozen.len(), 1, "exactly one worker froze: {faults:?}");
        // The advice names the pause it measured and the TTL it outlasted.
        let advice = article.csv(&format!("{}/advice.csv", trial["folder"]));
        let pause = advice
            .iter()
            .find(|a| a["measured"].starts_with("longest fault pause"))
            .unwrap_or_else(|| panic!("no advice on the pause: {advice:?}"));
        assert_eq!(pause["setting"], "lock_ttl_ms");
        assert!(
            pause["advice"].contains("paused a lock holder for 1.0 s, longer than the 50 ms TTL"),
            "{pause:?}"
        );
    }
    assert!(
        article
            .stdout
            .contains("FAIL in 5 of 5 trials (oversold in "),
        "{}",
        article.context()
    );
    for safe in ["fenced", "lua"] {
        let set = format!("strategy.kind={safe}");
        let run = run_with("pause-holder", &["--set", &set, "--repeat", "5"]);
        the_paused_run_passed(&run, safe);
    }
}

/// A `pause-holder` run of the article lock over `trials` trials: every
/// trial FAILed, the pause applied and two holders wrote at once. Whether
/// that oversold depends on the stock running out during the pause, which
/// a busy machine's slower sales can miss, so at least one trial must.
pub fn the_paused_lock_failed(run: &support::Run, trials: usize) -> Vec<HashMap<String, String>> {
    run.assert_code(1);
    let rows = run.csv("trials.csv");
    assert_eq!(rows.len(), trials, "{}", run.context());
    assert!(
        rows.iter().any(|t| num(t, "oversold") > 0),
        "{}",
        run.context()
    );
    for trial in &rows {
        assert_eq!(trial["verdict"], "FAIL", "{trial:?}");
        assert!(num(trial, "unsafe_overlaps") > 0, "{trial:?}");
        assert_eq!(trial["faults_applied"], "1", "{trial:?}");
    }
    rows
}

/// A `pause-holder` run of a safe strategy: every trial PASSed with the
/// pause applied and the 200 units sold exactly; each trial's summary row.
pub fn the_paused_run_passed(run: &support::Run, what: &str) -> Vec<HashMap<String, String>> {
    run.assert_code(0);
    let mut summaries = Vec::new();
    for trial in run.csv("trials.csv") {
        assert_eq!(trial["verdict"], "PASS", "{what}: {trial:?}");
        assert_eq!(trial["faults_applied"], "1", "{what}: {trial:?}");
        let s = run
            .csv(&format!("{}/summary.csv", trial["folder"]))
            .remove(0);
        assert_eq!(num(&s, "final_stock"), 0, "{what}: {s:?}");
        assert_eq!(num(&s, "sold"), 200, "{what}");
        summaries.push(s);
    }
    summaries
}

#[test]
fn a_fault_that_never_fires_makes_the_run_inconclusive() {
    let never = ["--set", "faults[0].at=after 1000000 sales"];
    let run = run_with("pause-holder", &never);
    run.assert_code(5);
    let s = run.summary();
    assert_eq!(s["verdict"], "INCONCLUSIVE", "{}", run.context());
    assert!(
        s["inconclusive_reason"].contains("fault #1 pause did not take effect"),
        "{s:?}"
    );
    let faults = run.csv("faults.csv");
    assert!(faults.iter().all(|f| f["applied"] == "false"), "{faults:?}");
    assert!(run.stdout.contains("INCONCLUSIVE"), "{}", run.context());
    let page = std::fs::read_to_string(run.out().join("index.html")).unwrap();
    assert!(page.contains("did not take effect"));
}

#[test]
fn a_killed_worker_leaves_a_pass_with_bounded_doubt_and_no_orphan() {
    let short = ["--set", "load.duration=3s", "--set", "faults[0].at=1s"];
    let run = Bench::run(&scenario("kill-worker"), &short).output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS");
    assert!(
        num(&s, "in_doubt") <= 8,
        "at most the killed worker's 8 clients: {}",
        run.context()
    );
    assert!(num(&s, "lost") <= num(&s, "in_doubt"));
    let faults = run.csv("faults.csv");
    assert!(
        faults
            .iter()
            .any(|f| f["what"].contains("killed (SIGKILL)")),
        "{faults:?}"
    );
}

#[test]
fn every_strategy_survives_a_disconnect() {
    let _alone = support::alone();
    let text = std::fs::read_to_string(scenario("network-stall")).unwrap();
    let kinds = r#"["article", "safe-lock", "fenced", "lua", "watch", "decr"]"#;
    let swept =
        format!("{text}\n[report]\ninterval = \"500ms\"\n\n[sweep]\n\"strategy.kind\" = {kinds}\n")
            // A TTL well above the latency, so the locks stay exclusive:
            // with 200 ms the article's unconditional DEL removes a newer
            // holder's lock and the checker rightly fails it. Short enough
            // that a lock orphaned by the disconnect expires before 1.5 s.
            .replace("lock_ttl_ms = 5000", "lock_ttl_ms = 500")
            .replace("delay_ms = 200", "delay_ms = 40")
            .replace("jitter_ms = 50", "jitter_ms = 10")
            .replace("duration = \"5s\"", "duration = \"2s\"")
            .replace("at = \"1s\"", "at = \"300ms\"")
            .replace("duration = \"1s\"", "duration = \"300ms\"")
            .replace("at = \"3s\"", "at = \"1s\"");
    let (_dir, path) = support::write_scenario(&swept);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report").display().to_string();
    let args = ["sweep", path.as_str(), "--out", out.as_str()]
        .map(str::to_owned)
        .to_vec();
    let run = Bench::new(args, dir).output();
    run.assert_code(0);
    let rows = run.csv("sweep.csv");
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert_eq!(row["verdict"], "PASS", "{row:?}");
        assert_eq!(row["faults_applied"], "2", "{row:?}");
        let faults = run.csv(&format!("{}/faults.csv", row["folder"]));
        let dropped = faults
            .iter()
            .find(|f| f["fault"] == "disconnect" && f["applied"] == "true")
            .unwrap_or_else(|| panic!("no applied disconnect in {faults:?}"));
        assert!(dropped["what"].contains("dropped all"), "{dropped:?}");
        let hit = num(row, "in_doubt") + num(row, "errors");
        assert!(
            hit > 0,
            "{}: the disconnect caused no error or doubt",
            row["strategy"]
        );
        let timeline = run.out().join(&row["folder"]).join("timeline.csv");
        let mut reader = csv::Reader::from_path(&timeline).unwrap();
        let after: u64 = reader
            .deserialize::<std::collections::HashMap<String, String>>()
            .map(|r| r.unwrap())
            .filter(|r| r["t_s"].parse::<f64>().unwrap() > 1.4)
            .map(|r| r["sales"].parse::<u64>().unwrap())
            .sum();
        assert!(
            after > 0,
            "{}: no sale after the disconnect at 1 s",
            row["strategy"]
        );
    }
}

#[test]
fn a_restart_without_persistence_is_reported_as_a_reset() {
    let quick = ["--set", "load.duration=2s", "--set", "faults[0].at=700ms"];
    let run = run_with("redis-restart", &quick);
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "RESET", "{}", run.context());
    assert_eq!(
        num(&s, "oversold"),
        0,
        "a reset is not blamed on the strategy"
    );
    assert!(run.stdout.contains("RESET"), "{}", run.context());
    // Kept, and down for 1.5 s: the coordinator waits that long inside the
    // fault, which is the fault's time, not a stall of the harness.
    let kept = [
        &quick[..],
        &["--set", "redis.persistence=aof-always"],
        &[
            "--set",
            "faults[0].duration=\"1500ms\"",
            "--set",
            "load.duration=3s",
        ],
    ]
    .concat();
    let run = run_with("redis-restart", &kept);
    run.assert_code(0);
    assert_eq!(run.summary()["verdict"], "PASS", "{}", run.context());
    assert!(
        !run.stdout.contains("The harness itself did not run"),
        "{}",
        run.context()
    );
}

#[test]
fn bad_faults_exit_2_naming_the_field() {
    let redis = support::redis();
    let run = run_with("redis-restart", &["--redis-url", &redis.url()]);
    run.assert_code(2);
    assert!(run.stderr.contains("faults[0].kind"), "{}", run.context());
    let run = run_with("kill-worker", &["--set", "faults[0].target=99"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("faults[0].target") && run.stderr.contains("worker 99 does not exist"),
        "{}",
        run.context()
    );
    let run = run_with("kill-worker", &["--set", "faults[0].at=soon"]);
    run.assert_code(2);
    assert!(run.stderr.contains("faults[0].at"), "{}", run.context());
}

#[test]
fn killing_the_lock_holder_takes_exactly_one_worker_even_with_a_long_name() {
    // The claim a worker wins is freed when that worker dies: the others
    // must not take it up and be killed one after another. A 100-character
    // name (the longest allowed) must not break the claim either.
    let name = format!("name={}", "n".repeat(100));
    let kill = r#"faults=[{kind="kill",at="after 10 sales",target="lock-holder"}]"#;
    let run = run_with("pause-holder", &["--set", &name, "--set", kill]);
    let s = run.summary();
    assert_eq!(s["faults_applied"], "1", "{}", run.context());
    let faults = run.csv("faults.csv");
    let killed = faults
        .iter()
        .filter(|f| f["what"].contains("killed (SIGKILL)"))
        .count();
    assert_eq!(killed, 1, "{faults:?}");
    assert_eq!(num(&s, "sold") + num(&s, "lost"), 200, "{}", run.context());
}
