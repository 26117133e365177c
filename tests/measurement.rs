//! Open-loop measurement, timelines, HDR logs and the report page, against
//! real redis-servers.

use std::time::{Duration, Instant};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::support::{self, num, Bench};

/// `lua` against a stock that never runs out, at a fixed rate.
const OPEN: &str = r#"
name = "open"

[stock]
initial = 1000000000

[load]
processes = 2
clients_per_process = 8
rate = 400
duration = "3s"

[strategy]
kind = "lua"
"#;

/// Arrivals a busy machine may lose at the stop: the ones still queued
/// when it comes, after a stall of the worker just before it (10 is a
/// 25 ms stall at 400/s). A schedule off by a rate or a stage misses by
/// far more; one that starts a gap late is caught at a low rate, where a
/// gap is longer than any stall (`a_fixed_schedule_starts_at_the_start`).
const LOST_AT_THE_STOP: i64 = 10;

/// Sums every interval of every tag in a `latency.hlog`.
fn hlog_totals(path: &std::path::Path) -> std::collections::BTreeMap<String, Histogram<u64>> {
    let text = std::fs::read(path).unwrap();
    let mut totals = std::collections::BTreeMap::new();
    for entry in IntervalLogIterator::new(&text) {
        let LogEntry::Interval(interval) = entry.expect("a valid interval log") else {
            continue;
        };
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .unwrap();
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        let tag = interval
            .tag()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default();
        let total = totals
            .entry(tag)
            .or_insert_with(seckill_bench::metrics::new_histogram);
        total.add(&h).unwrap();
    }
    totals
}

#[test]
fn open_loop_below_capacity_reaches_its_rate_on_time() {
    let _alone = support::alone();
    let redis = support::redis();
    let (_dir, path) = support::write_scenario(OPEN);
    let run = Bench::run(&path, &["--redis-url", &redis.url()]).output();
    run.assert_code(0);
    let s = run.summary();
    // The rate is the arrivals over the run's measured length, which a busy
    // machine stretches by the time it takes to finish the last purchases
    // (seen: 3.4 s for 3 s); the count below is what holds the schedule.
    let rate: f64 = s["purchases_per_s"].parse().unwrap();
    assert!(
        (rate - 400.0).abs() / 400.0 < 0.15,
        "achieved {rate}/s\n{}",
        run.context()
    );
    // Fixed arrivals at 0, 2.5 ms, 5 ms, ... (the two workers' schedules
    // interleaved, timed from the same start as the stop rule), so 3 s at
    // 400/s is 1,200 of them, less the last few on a busy machine.
    let attempts = num(&s, "attempts");
    assert!(
        (1200 - LOST_AT_THE_STOP..=1200).contains(&attempts),
        "{attempts}\n{}",
        run.context()
    );
    // Below capacity an arrival finds an idle client, but for the burst a
    // stalled worker meets when it resumes: 1 % at most.
    assert!(num(&s, "late") <= 12, "{}", run.context());
    assert_eq!(num(&s, "dropped"), 0);
    assert_eq!(s["rate_reached"], "true");
    assert_eq!(s["target_rate"].parse::<f64>().unwrap().round(), 400.0);
}

/// Each worker's first fixed arrival comes at the start its stop rule is
/// timed from (the second worker's half a gap in), not a gap late: at 8/s
/// for 1 s the two workers arrive at 0, 125, ..., 875 ms, 8 in all; a
/// schedule a gap late has 6. A gap here is longer than a busy machine's
/// stall, so it may lose the last one at most.
#[test]
fn a_fixed_schedule_starts_at_the_start() {
    let redis = support::redis();
    let (_dir, path) = support::write_scenario(OPEN);
    let args = [
        "--redis-url",
        &redis.url(),
        "--set",
        "load.rate=8",
        "--set",
        "load.duration=1s",
    ];
    let run = Bench::run(&path, &args).output();
    run.assert_code(0);
    let attempts = num(&run.summary(), "attempts");
    assert!((7..=8).contains(&attempts), "{attempts}\n{}", run.context());
}

#[test]
fn an_overloaded_open_loop_says_the_rate_was_not_reached() {
    let redis = support::redis();
    let (_dir, path) = support::write_scenario(OPEN);
    let slow = [
        "--set",
        "strategy.stall_ms=50",
        "--set",
        "load.clients_per_process=1",
        "--set",
        "load.duration=1s",
    ];
    let run = Bench::run(
        &path,
        &[&["--redis-url", redis.url().as_str()][..], &slow].concat(),
    )
    .output();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["rate_reached"], "false", "{}", run.context());
    assert!(num(&s, "late") > 0);
    assert!(run.stdout.contains("NOT reached"), "{}", run.context());
    let page = std::fs::read_to_string(run.out().join("index.html")).unwrap();
    assert!(page.contains("Target rate not reached"));
}

#[test]
fn a_paused_server_shows_in_response_time_not_service_time() {
    let _alone = support::alone();
    let redis = support::redis();
    let (_dir, path) =
        support::write_scenario(&OPEN.replace("duration = \"3s\"", "duration = \"4s\""));
    let (child, pending) = Bench::run(&path, &["--redis-url", &redis.url()]).spawn();
    wait_for_sales(&redis.url());
    // SAFETY: signalling the test's own redis-server.
    unsafe { libc::kill(redis.pid() as i32, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(600)); // the fault itself, not a synchronisation
    unsafe { libc::kill(redis.pid() as i32, libc::SIGCONT) };
    let run = pending.finish(child);
    run.assert_code(0);
    let totals = hlog_totals(&run.out().join("latency.hlog"));
    let slow = |tag: &str| totals[tag].count_between(200_000, u64::MAX);
    let (response, service) = (slow("purchase"), slow("service"));
    assert!(
        response >= 60,
        "arrivals during the pause wait: {response}\n{}",
        run.context()
    );
    assert!(
        response > 4 * service.max(1),
        "response {response} vs service {service}"
    );
    assert!(
        service <= 16,
        "only requests in flight (<= clients) saw the pause: {service}"
    );
}

/// Waits for the event "the load is running": the stock has gone down.
fn wait_for_sales(url: &str) {
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("seckill:*:stock")
            .query(&mut conn)
            .unwrap();
        let stock: Option<i64> = match keys.first() {
            Some(k) => redis::cmd("GET").arg(k).query(&mut conn).unwrap(),
            None => None,
        };
        if stock.is_some_and(|s| s < 1_000_000_000 - 50) {
            return;
        }
        assert!(Instant::now() < deadline, "the load never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn timeline_hlog_and_page_agree_with_the_summary() {
    let redis = support::redis();
    let run = Bench::run(
        &support::scenario("flash-sale"),
        &[
            "--redis-url",
            &redis.url(),
            "--set",
            "report.interval=200ms",
        ],
    )
    .output();
    run.assert_code(0);
    let s = run.summary();
    let rows = run.csv("timeline.csv");
    assert!(rows.len() >= 2, "{rows:?}");
    let purchases: i64 = rows.iter().map(|r| num(r, "purchases")).sum();
    assert_eq!(
        purchases,
        num(&s, "attempts"),
        "timeline rows cover the run"
    );
    let last_t: f64 = rows.last().unwrap()["t_s"].parse().unwrap();
    let duration: f64 = s["duration_s"].parse().unwrap();
    assert!(
        (last_t - duration).abs() < 0.25,
        "last row {last_t} vs run {duration}"
    );
    assert_eq!(num(rows.last().unwrap(), "stock"), 0, "sold out by the end");
    let totals = hlog_totals(&run.out().join("latency.hlog"));
    let purchase = &totals["purchase"];
    assert_eq!(purchase.len() as i64, num(&s, "attempts"));
    assert_eq!(purchase.max() as i64, num(&s, "max_us"));
    assert_eq!(purchase.value_at_quantile(0.99) as i64, num(&s, "p99_us"));
    assert!(totals.contains_key("lock_wait") && totals.contains_key("service"));
    let page = std::fs::read_to_string(run.out().join("index.html")).unwrap();
    let verdict = page.find("PASS").expect("the verdict");
    assert!(verdict < page.find("<table").unwrap(), "verdict first");
    assert!(page.matches("<svg").count() >= 2, "both charts inline");
    assert!(
        !page.contains("src=\"http") && !page.contains("<link"),
        "self-contained"
    );
}

/// Without `report.interval`, a short run still gets a timeline to read:
/// 20 to 40 rows (the interval doubling from 15.6 ms), where a default of
/// 1 s would give 3; the rows add up to the run.
#[test]
fn a_short_run_gets_a_timeline_of_twenty_to_forty_rows() {
    let redis = support::redis();
    let args = [
        "--redis-url",
        &redis.url(),
        "--set",
        "stock.initial=1000000000",
        "--set",
        "load.duration=3s",
    ];
    let run = Bench::run(&support::scenario("flash-sale"), &args).output();
    run.assert_code(0);
    let s = run.summary();
    let rows = run.csv("timeline.csv");
    // A busy machine may delay a row's end (fewer, longer rows), never
    // split one: at least 10 is far from 3.
    assert!(
        (10..=41).contains(&rows.len()),
        "{} rows: {rows:?}",
        rows.len()
    );
    let purchases: i64 = rows.iter().map(|r| num(r, "purchases")).sum();
    assert_eq!(
        purchases,
        num(&s, "attempts"),
        "timeline rows cover the run"
    );
}

#[test]
fn rate_stages_ramp_the_schedule() {
    let _alone = support::alone();
    let redis = support::redis();
    let staged = OPEN.replace("rate = 400\nduration = \"3s\"", "")
        + "\n[[load.stages]]\nduration = \"1s\"\nrate = 400\n\n[[load.stages]]\nduration = \"1s\"\nrate = 400\n";
    let (_dir, path) = support::write_scenario(&staged);
    let args = ["--redis-url", &redis.url(), "--set", "report.interval=1s"];
    let run = Bench::run(&path, &args).output();
    run.assert_code(0);
    let s = run.summary();
    // 0 -> 400/s over 1 s (200 arrivals), then 400/s for 1 s (400): the
    // schedule follows the area under the ramp, so hardly one is lost.
    let attempts = num(&s, "attempts") as f64;
    assert!(
        (600.0 - LOST_AT_THE_STOP as f64..=603.0).contains(&attempts),
        "{attempts}\n{}",
        run.context()
    );
    assert!((s["duration_s"].parse::<f64>().unwrap() - 2.0).abs() < 0.3);
    // The timeline offers what the schedule offered: the ramp's mean in
    // the first second (200/s), then 400/s; the rows cover 1 s each.
    let rows = run.csv("timeline.csv");
    let target = |i: usize| rows[i]["target_per_s"].parse::<f64>().unwrap();
    assert!((target(0) - 200.0).abs() < 20.0, "{rows:?}");
    assert!((target(1) - 400.0).abs() < 20.0, "{rows:?}");
}

#[test]
fn a_rate_that_ramps_down_to_zero_keeps_the_run_to_its_stages() {
    let redis = support::redis();
    // 400/s for 1 s, then nothing for 1 s: a cool-down the run must last.
    let cooled = OPEN.replace("duration = \"3s\"", "")
        + "\n[[load.stages]]\nduration = \"1s\"\nrate = 400\n\n[[load.stages]]\nduration = \"10ms\"\nrate = 0\n\n[[load.stages]]\nduration = \"1s\"\nrate = 0\n";
    let (_dir, path) = support::write_scenario(&cooled);
    let run = Bench::run(&path, &["--redis-url", &redis.url()]).output();
    run.assert_code(0);
    let s = run.summary();
    let duration: f64 = s["duration_s"].parse().unwrap();
    assert!(duration >= 1.9, "ended at {duration} s\n{}", run.context());
    let attempts = num(&s, "attempts") as f64;
    assert!(
        (402.0 - LOST_AT_THE_STOP as f64..=405.0).contains(&attempts),
        "{attempts}\n{}",
        run.context()
    );
}

#[test]
fn bad_rate_and_stage_values_exit_2_naming_the_field() {
    let (_dir, path) = support::write_scenario(OPEN);
    let run = Bench::run(&path, &["--set", "load.rate=-5"]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("field `load.rate`"),
        "{}",
        run.context()
    );
    let staged = format!("{OPEN}\n[[load.stages]]\nduration = \"1s\"\nrate = 10\n\n[[load.stages]]\nduration = \"1s\"\nrate = -3\n");
    let (_dir, path) = support::write_scenario(&staged);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("field `load.stages[1].rate`"),
        "{}",
        run.context()
    );
    assert!(run.stderr.contains("scenario.toml:22"), "{}", run.context());
    let mixed = format!("{OPEN}\n[[load.stages]]\nduration = \"1s\"\nclients = 3\n");
    let (_dir, path) = support::write_scenario(&mixed);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(2);
    assert!(run.stderr.contains("load.stages[0]"), "{}", run.context());
}
