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

/// Two sweeps compared: `compare.html` in the candidate gives the verdict
/// and links to both sweeps' own pages.
#[test]
fn comparing_two_sweeps_writes_a_page_linking_both() {
    let redis = support::redis();
    let url = redis.url();
    let swept = QUICK.replace("duration = \"1s\"", "duration = \"300ms\"")
        + "\n[sweep]\n\"strategy.kind\" = [\"lua\", \"decr\"]\n";
    let (_dir, path) = support::write_scenario(&swept);
    let sweep = |name: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        let args = ["sweep", &path, "--redis-url", &url, "--out"]
            .map(str::to_owned)
            .into_iter()
            .chain([out.display().to_string()])
            .collect();
        let run = Bench::new(args, dir).output();
        run.assert_code(0);
        run
    };
    let (base, cand) = (sweep("base"), sweep("cand"));
    let (base_dir, cand_dir) = (base.dir.path().join("base"), cand.dir.path().join("cand"));
    let run = compare_with(
        &base_dir.display().to_string(),
        &cand_dir.display().to_string(),
        &["--max-regression", "1000"],
    );
    run.assert_code(0);
    let page = std::fs::read_to_string(cand_dir.join("compare.html")).unwrap();
    let base_name = base
        .dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(page.contains("PASS"), "{page:.600}");
    assert!(
        page.contains(&format!("href=\"../../{base_name}/base/index.html\"")),
        "a link to the baseline sweep's page: {page}"
    );
    assert!(
        page.contains("href=\"./index.html\""),
        "a link to the candidate's page: {page}"
    );
    assert!(page.contains("<svg"), "the chart inline");

    // A regression shows on the page too.
    let run = compare_with(
        &base_dir.display().to_string(),
        &cand_dir.display().to_string(),
        &["--max-regression", "0"],
    );
    if run.code() == 3 {
        let page = std::fs::read_to_string(cand_dir.join("compare.html")).unwrap();
        assert!(
            page.contains("REGRESSION") && page.contains("beyond 0%"),
            "{page:.2000}"
        );
    }
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

#[test]
fn compare_refuses_a_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone").display().to_string();
    let run = compare(&gone, &gone);
    run.assert_code(2);
    assert!(run.stderr.contains(&gone), "{}", run.context());
}

#[test]
fn a_max_regression_that_is_not_a_finite_percentage_exits_2_naming_the_flag() {
    let base = report_folder(&summary(&[]));
    let path = base.path().display().to_string();
    let fine = compare_with(&path, &path, &["--max-regression", "0"]);
    fine.assert_code(0);
    remove_outputs(&base);
    for value in ["NaN", "inf", "-inf", "-5"] {
        let run = compare_with(&path, &path, &[&format!("--max-regression={value}")]);
        run.assert_code(2);
        assert!(
            run.stderr.contains("--max-regression") && run.stderr.contains(&format!("'{value}'")),
            "{}",
            run.context()
        );
        assert_nothing_written(&base);
    }
    let spaced = compare_with(&path, &path, &["--max-regression", "-5"]);
    spaced.assert_code(2);
    assert!(spaced.stderr.contains("'-5'"), "{}", spaced.context());
}

#[test]
fn a_garbage_summary_exits_2_naming_the_file() {
    let good = report_folder(&summary(&[]));
    let garbage = tempfile::tempdir().unwrap();
    let bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe\0\x01,\x02\n\x03\x04";
    std::fs::write(garbage.path().join("summary.csv"), bytes).unwrap();
    let file = garbage.path().join("summary.csv").display().to_string();
    for (base, cand) in [(&garbage, &good), (&good, &garbage)] {
        let run = compare(&display(base), &display(cand));
        run.assert_code(2);
        assert!(run.stderr.contains(&file), "{}", run.context());
        assert!(run.stderr.contains("not a CSV report"), "{}", run.context());
        assert_nothing_written(cand);
    }
}

#[test]
fn a_header_only_summary_exits_2_and_nothing_is_written() {
    let good = report_folder(&summary(&[]));
    let empty = report_folder(&format!("{HEADER}\n"));
    let file = empty.path().join("summary.csv").display().to_string();
    for (base, cand) in [(&good, &empty), (&empty, &good)] {
        let run = compare(&display(base), &display(cand));
        run.assert_code(2);
        assert!(run.stderr.contains(&file), "{}", run.context());
        assert!(run.stderr.contains("no rows"), "{}", run.context());
        assert_nothing_written(cand);
    }
}

#[test]
fn a_baseline_without_the_p99_column_exits_2_naming_it() {
    let cand = report_folder(&summary(&[]));
    let old = report_folder(&summary(&[]).replace(",p99_us,", ",p99_old,"));
    let control = compare(&display(&cand), &display(&cand));
    control.assert_code(0);
    remove_outputs(&cand);
    let run = compare(&display(&old), &display(&cand));
    run.assert_code(2);
    let file = old.path().join("summary.csv").display().to_string();
    assert!(run.stderr.contains(&file), "{}", run.context());
    assert!(
        run.stderr.contains("no `p99_us` column"),
        "{}",
        run.context()
    );
    assert_nothing_written(&cand);
}

#[test]
fn a_nan_or_empty_figure_in_the_baseline_exits_2_naming_file_line_and_column() {
    let cand = report_folder(&summary(&[]));
    for (value, says) in [("NaN", "`NaN` is not a finite number"), ("", "empty")] {
        let base = report_folder(&summary(&[("purchases_per_s", value)]));
        let run = compare(&display(&base), &display(&cand));
        run.assert_code(2);
        let at = format!("{}:2", base.path().join("summary.csv").display());
        assert!(run.stderr.contains(&at), "{}", run.context());
        assert!(
            run.stderr
                .contains(&format!("column `purchases_per_s`: {says}")),
            "{}",
            run.context()
        );
        assert_nothing_written(&cand);
    }
}

/// `summary.csv` of a real run (`run scenarios/article.toml`).
const HEADER: &str = "scenario,strategy,processes,clients_per_process,initial_stock,final_stock,\
sold,oversold,unsold,attempts,rejected_sold_out,lock_failures,wait_timeouts,errors,duration_s,\
purchases_per_s,p50_us,p90_us,p99_us,p999_us,max_us,verdict,sales,sales_per_s,quantity,\
cancelled,gave_up,fenced_out,watch_aborts,compensations,error_kinds,interrupted,run_id,late,\
dropped,target_rate,rate_reached,service_p50_us,service_p99_us,service_max_us,in_doubt,lost,\
thresholds,inconclusive_reason,unsafe_overlaps,fenced_overlaps,faults_declared,faults_applied";
const ROW: &str = "article,article,10,1,100,90,10,0,90,10,0,12,0,0,0.04,249.591,12271,23023,\
34847,34847,34847,PASS,10,249.591,1,0,0,0,0,0,,false,article-20261125T162739Z-8aa2937025ee613d,\
0,0,,,12271,34847,34847,0,0,PASS,,0,0,0,0";

/// The real run's summary with some cells replaced.
fn summary(cells: &[(&str, &str)]) -> String {
    let header: Vec<&str> = HEADER.split(',').collect();
    let mut row: Vec<&str> = ROW.split(',').collect();
    assert_eq!(header.len(), row.len());
    for &(column, value) in cells {
        let at = header.iter().position(|h| *h == column).unwrap();
        row[at] = value;
    }
    format!("{HEADER}\n{}\n", row.join(","))
}

fn report_folder(summary: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("summary.csv"), summary).unwrap();
    dir
}

fn display(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

/// Removes what a passing control comparison wrote.
fn remove_outputs(dir: &tempfile::TempDir) {
    for name in ["compare.csv", "compare.svg", "compare.html"] {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
}

fn assert_nothing_written(dir: &tempfile::TempDir) {
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["summary.csv"], "only the report itself");
}

fn compare(baseline: &str, candidate: &str) -> support::Run {
    compare_with(baseline, candidate, &[])
}

fn compare_with(baseline: &str, candidate: &str, extra: &[&str]) -> support::Run {
    let mut args = ["compare", baseline, candidate].map(str::to_owned).to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    Bench::new(args, tempfile::tempdir().unwrap()).output()
}
