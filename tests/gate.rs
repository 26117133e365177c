//! The CI regression gate: thresholds and `compare`, firing and passing.

use crate::support::{self, scenario, Bench};

const QUICK: &str = r#"
name = "quick"

[stock]
initial = 1000000000

[load]
processes = 1
clients_per_process = 4
duration = "1s"

[strategy]
kind = "lua"
"#;

#[test]
fn a_violated_threshold_exits_3_and_is_listed() {
    let redis = support::redis();
    let url = redis.url();
    let (_dir, path) = support::write_scenario(QUICK);
    let strict = Bench::run(
        &path,
        &[
            "--redis-url",
            &url,
            "--set",
            "thresholds.min_purchases_per_s=100000000",
        ],
    )
    .output();
    strict.assert_code(3);
    let audit = strict.csv("audit.csv");
    let row = audit
        .iter()
        .find(|r| r["invariant"] == "threshold.min_purchases_per_s")
        .expect("listed");
    assert_eq!(row["pass"], "false");
    assert_eq!(
        strict.summary()["verdict"],
        "PASS",
        "the stock audit itself passed"
    );
    assert_eq!(strict.summary()["thresholds"], "FAIL");
    let page = std::fs::read_to_string(strict.out().join("index.html")).unwrap();
    assert!(page.contains("THRESHOLDS-FAILED"));
    let lenient = Bench::run(
        &path,
        &[
            "--redis-url",
            &url,
            "--set",
            "thresholds.min_purchases_per_s=1",
            "--set",
            "thresholds.max_p99_us={purchase=10000000}",
        ],
    )
    .output();
    lenient.assert_code(0);
}

#[test]
fn an_oversell_exits_1_even_when_thresholds_also_fail() {
    let redis = support::redis();
    let run = Bench::run(
        &scenario("article-stall"),
        &[
            "--redis-url",
            &redis.url(),
            "--set",
            "thresholds.min_purchases_per_s=100000000",
        ],
    )
    .output();
    run.assert_code(1);
}

#[test]
fn compare_passes_a_run_against_itself_and_fails_a_slowed_or_overselling_one() {
    let redis = support::redis();
    let url = redis.url();
    let (_dir, path) = support::write_scenario(QUICK);
    let baseline = Bench::run(&path, &["--redis-url", &url]).output();
    baseline.assert_code(0);
    let base = baseline.out().display().to_string();
    let same = compare(&base, &base);
    same.assert_code(0);
    assert!(
        same.stdout.contains("purchases_per_s"),
        "{}",
        same.context()
    );
    let slow = Bench::run(
        &path,
        &["--redis-url", &url, "--set", "strategy.stall_ms=20"],
    )
    .output();
    slow.assert_code(0);
    let verdict = compare(&base, &slow.out().display().to_string());
    verdict.assert_code(3);
    assert!(
        verdict.stdout.contains("REGRESSION"),
        "{}",
        verdict.context()
    );
    let written = std::fs::read_to_string(slow.out().join("compare.csv")).unwrap();
    assert!(written.contains("p99_us") && written.contains("true"));
    let svg = std::fs::read_to_string(slow.out().join("compare.svg")).unwrap();
    assert!(svg.contains("regression(s) beyond 10%"), "{svg:.400}");
    let oversold = Bench::run(&scenario("article-stall"), &["--redis-url", &url]).output();
    compare(
        &oversold.out().display().to_string(),
        &oversold.out().display().to_string(),
    )
    .assert_code(1);
}

#[test]
fn compare_refuses_folders_without_reports() {
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().display().to_string();
    let run = compare(&path, &path);
    run.assert_code(2);
    assert!(
        run.stderr.contains("neither summary.csv nor sweep.csv"),
        "{}",
        run.context()
    );
}

fn compare(baseline: &str, candidate: &str) -> support::Run {
    let args = ["compare", baseline, candidate].map(str::to_owned).to_vec();
    Bench::new(args, tempfile::tempdir().unwrap()).output()
}
