//! `seckill-bench capacity` against real redis-servers: the search finds a
//! rate and brackets it, an SLO nothing meets exits 3, a failed audit stops
//! the search with exit 1, and a bad SLO exits 2 naming its part.

use crate::support::{self, num, scenario, Bench};

/// The article lock in short fixed-rate steps.
const STEPS: &str = r#"
name = "cap"

[stock]
initial = 100000000

[load]
processes = 2
clients_per_process = 16
duration = "1s"

[strategy]
kind = "article"

[capacity]
step_duration = "1s"
min_rate = 100
max_rate = 1600
precision = 0.25
trials = 2
"#;

fn capacity(path: &str, extra: &[&str]) -> support::Run {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report").display().to_string();
    let mut args = vec![
        "capacity".to_owned(),
        path.to_owned(),
        "--out".to_owned(),
        out,
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Bench::new(args, dir).output()
}

#[test]
fn a_search_climbs_then_brackets_the_highest_sustained_rate() {
    let _alone = support::alone();
    let redis = support::redis();
    let (_dir, path) = support::write_scenario(STEPS);
    let run = capacity(
        &path,
        &[
            "--slo",
            "p99<2s",
            "--set",
            "capacity.check=false",
            "--redis-url",
            &redis.url(),
        ],
    );
    run.assert_code(0);
    let steps = run.csv("capacity.csv");
    let context = run.context();
    assert!(steps.iter().all(|s| s["role"] == "search"), "{context}");
    assert!(steps.len() >= 3, "{context}");
    let rate = |i: usize| steps[i]["rate"].parse::<f64>().unwrap();
    // Two trials a rate, then the climb doubles.
    assert_eq!(
        (rate(0), rate(1), rate(2)),
        (100.0, 100.0, 200.0),
        "{context}"
    );
    let sustained = |r: f64| {
        let trials: Vec<&str> = (0..steps.len())
            .filter(|&i| rate(i) == r)
            .map(|i| steps[i]["sustained"].as_str())
            .collect();
        trials == ["true", "true"]
    };
    let best = (0..steps.len())
        .map(rate)
        .filter(|&r| sustained(r))
        .fold(0.0, f64::max);
    assert!(best >= 100.0, "{context}");
    // Every rate above the best one that was tried was missed by a trial.
    for i in 0..steps.len() {
        if rate(i) > best {
            assert!(!sustained(rate(i)), "{context}");
        }
    }
    let said: f64 = run
        .stdout
        .split("max sustainable: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap_or_else(|| panic!("no headline\n{context}"));
    assert_eq!(said, best, "{context}");
    // Each rate judged once, on its trials pooled: one figure per rate.
    for row in &steps {
        let same_rate = steps.iter().filter(|r| r["rate"] == row["rate"]);
        assert!(same_rate
            .map(|r| &r["pooled_us"])
            .all(|p| p == &row["pooled_us"]));
        assert!(row["pooled_us"].parse::<u64>().is_ok(), "{context}");
    }
    for row in &steps {
        let folder = run.out().join(&row["folder"]);
        assert_eq!(row["verdict"], "PASS", "{context}");
        assert!(
            folder.join("summary.csv").is_file(),
            "each step is a run of its own"
        );
        let summary = run.csv(&format!("{}/summary.csv", row["folder"]));
        assert_eq!(num(&summary[0], "oversold"), 0);
    }
    let page = std::fs::read_to_string(run.out().join("index.html")).unwrap();
    assert!(
        page.contains("step-001-100-t1/index.html"),
        "the page links each step"
    );
    assert!(run.out().join("capacity.svg").is_file());
    // Each step's timeline draws the SLO it was judged by.
    let timeline =
        std::fs::read_to_string(run.out().join(&steps[0]["folder"]).join("timeline.svg"));
    assert!(timeline.unwrap().contains("SLO p99 ≤ 2.0 s"), "{context}");

    // One rate judged, no search: `--at`, with trials set from the command
    // line.
    let run = capacity(
        &path,
        &[
            "--slo",
            "p99<2s",
            "--at",
            "150",
            "--set",
            "capacity.trials=1",
            "--redis-url",
            &redis.url(),
        ],
    );
    run.assert_code(0);
    let rows = run.csv("capacity.csv");
    assert_eq!(rows.len(), 1, "{}", run.context());
    assert_eq!(rows[0]["rate"], "150.0");
    assert!(
        run.stdout.contains("sustained: 150 purchases/s"),
        "{}",
        run.context()
    );
    let run = capacity(
        &path,
        &[
            "--slo",
            "p99<1us",
            "--at",
            "150",
            "--redis-url",
            &redis.url(),
        ],
    );
    run.assert_code(3);
    assert!(
        run.stdout.contains("not sustained: 150 purchases/s"),
        "{}",
        run.context()
    );
    assert_eq!(
        run.csv("capacity.csv").len(),
        1,
        "the first trial cannot recover"
    );

    // An SLO no step can meet: even the lowest rate misses it.
    let run = capacity(&path, &["--slo", "p99<1us", "--redis-url", &redis.url()]);
    run.assert_code(3);
    assert_eq!(run.csv("capacity.csv").len(), 1, "{}", run.context());
    assert!(
        run.stdout.contains("not even the lowest rate"),
        "{}",
        run.context()
    );
}

/// The article lock with every holder stalled 50 ms: one purchase at a
/// time, so a little under 1 / 50 ms = 20 purchases/s. (A step must hold
/// at least 100 arrivals: 17/s for 6 s is the lowest rate. A shorter stall
/// lets the lock's hand-off, polled every 1 ms, weigh on the capacity
/// beyond the search's precision.)
const BOTTLENECK: &str = r#"
name = "bottleneck"

[stock]
initial = 100000000

[load]
processes = 2
clients_per_process = 8
duration = "1s"

[strategy]
kind = "article"
lock_ttl_ms = 5000
retry_interval_ms = 1
stall_ms = 50
stall_fraction = 1.0

[capacity]
slo = "p99<250ms"
step_duration = "6s"
min_rate = 17
max_rate = 200
precision = 0.1
"#;

#[test]
fn the_search_finds_a_computed_bottleneck_within_its_precision() {
    let _alone = support::alone();
    let redis = support::redis();
    let (_dir, path) = support::write_scenario(BOTTLENECK);
    let run = capacity(&path, &["--redis-url", &redis.url()]);
    run.assert_code(0);
    let context = run.context();
    let steps = run.csv("capacity.csv");
    let best = steps
        .iter()
        .filter(|s| s["sustained"] == "true" && s["role"] == "search")
        .map(|s| s["rate"].parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    // One purchase at a time, each taking what a lone purchase takes (50
    // ms of stall, plus the lock's and Redis's round trips, read off the
    // first, unqueued step): the capacity is one over that.
    let first = run.csv(&format!("{}/summary.csv", steps[0]["folder"]));
    let alone_us = num(&first[0], "service_p50_us") as f64;
    assert!(alone_us >= 50_000.0, "{context}");
    let (computed, precision) = (1e6 / alone_us, 0.1);
    assert!(
        (best - computed).abs() <= precision * computed,
        "found {best}/s, computed {computed:.1}/s\n{context}"
    );
    // Above the bottleneck the queue grows: a rate above it was missed.
    assert!(
        steps
            .iter()
            .any(|s| s["sustained"] == "false" && s["rate"].parse::<f64>().unwrap() > computed),
        "{context}"
    );
    // The found rate looked at again: 0.8x meets the SLO, 1.25x does not.
    let role = |r: &str| {
        steps
            .iter()
            .find(|s| s["role"] == r)
            .unwrap_or_else(|| panic!("no {r}\n{context}"))
    };
    assert_eq!(role("check 0.8x")["sustained"], "true", "{context}");
    assert_eq!(role("check 1.25x")["sustained"], "false", "{context}");
    let high: f64 = role("check 1.25x")["rate"].parse().unwrap();
    assert_eq!(high, (best * 1.25).round(), "{context}");
    assert!(run.stdout.contains("; checked: "), "{context}");
}

#[test]
fn an_unsafe_step_stops_the_search_and_a_bad_slo_exits_2() {
    let run = capacity(
        &scenario("article-stall"),
        &["--slo", "p99<10s", "--set", "stock.initial=100000"],
    );
    run.assert_code(1);
    let steps = run.csv("capacity.csv");
    assert_eq!(steps.len(), 1, "{}", run.context());
    assert_eq!(steps[0]["verdict"], "FAIL");
    assert!(run.stdout.contains("failed its audit"), "{}", run.context());

    let run = capacity(&scenario("article"), &["--slo", "p99<50ms,fast"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("cannot read `fast`") && run.stderr.contains("--slo p99<50ms,fast"),
        "{}",
        run.context()
    );
    // The search's own settings from the command line: a bad one is blamed
    // on the flag, not the file.
    for (set, says) in [
        ("capacity.trials=0", "not a number of trials"),
        ("capacity.bogus=1", "unknown field `bogus`"),
        ("capacity.step_duration=1ms", "too short to judge a rate"),
        ("capacity.min_rate=0.001", "too few to judge a rate"),
        ("capacity.min_rate=5000000", "is not below max_rate"),
        ("capacity=1", "set one key of [capacity]"),
        ("report.slo=p99<1s", "set by the capacity search"),
    ] {
        let run = capacity(&scenario("article"), &["--slo", "p99<1s", "--set", set]);
        run.assert_code(2);
        assert!(
            run.stderr.contains(&format!("--set {set}")) && run.stderr.contains(says),
            "{set}: {}",
            run.context()
        );
    }
    // `run` reads an SLO to mark on its timeline, parsed the same way.
    let run = Bench::run(&scenario("article"), &["--set", "report.slo=p99<fast"]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("report.slo") && run.stderr.contains("cannot read `p99<fast`"),
        "{}",
        run.context()
    );
    let run = capacity(&scenario("article"), &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("--slo"), "{}", run.context());
    // A rate to judge that no step could hold, or no folder could name.
    for (at, says) in [("0.0001", "too few to judge"), ("1e308", "beyond any rate")] {
        let run = capacity(&scenario("article"), &["--slo", "p99<1s", "--at", at]);
        run.assert_code(2);
        assert!(run.stderr.contains(says), "{at}: {}", run.context());
        assert!(!run.out().exists(), "nothing is written on bad input");
    }
    let run = capacity(&scenario("article"), &["--slo", "p99<1s", "--repeat", "2"]);
    run.assert_code(2);
    assert!(!run.out().exists(), "nothing is written on bad input");
    let run = capacity(
        &scenario("article"),
        &["--slo", "p99<1s", "--set", "load.rate=500"],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("set by the capacity search"),
        "{}",
        run.context()
    );

    // 100 units at 100/s for 5 s: the step sells out and says nothing of
    // its rate.
    let run = capacity(&scenario("article"), &["--slo", "p99<10s"]);
    run.assert_code(5);
    assert!(
        run.stdout.contains("sold out before it ended"),
        "{}",
        run.context()
    );
}
