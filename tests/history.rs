//! The per-purchase history checker against real redis-servers and
//! sentinels: a crash failover's lost sales named by id and its in-doubt
//! purchases resolved, a compensating pair that a count-only audit passes,
//! a false sold-out, a stock reading out of bounds that the final count
//! cannot see, and `history.jsonl` well formed.

use std::collections::HashMap;
use std::path::Path;

use crate::support::{self, num, scenario, Bench};

/// A script of `tests/scripts/`, by absolute path.
fn script_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
        .display()
        .to_string()
}

fn audit_row(run: &support::Run, name: &str) -> HashMap<String, String> {
    run.csv("audit.csv")
        .into_iter()
        .find(|r| r["invariant"] == name)
        .unwrap_or_else(|| panic!("no {name} row\n{}", run.context()))
}

/// `history.jsonl`, one JSON value per line.
fn history(run: &support::Run) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.out().join("history.jsonl"))
        .unwrap_or_else(|e| panic!("reading history.jsonl: {e}\n{}", run.context()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("history.jsonl line {}: {e}: {line}", i + 1))
        })
        .collect()
}

/// A run of the user's script `script` (in `tests/scripts/`) until sold
/// out, its orders a list of purchase ids under `{run}:orders`, with
/// `extra` lines appended to `[strategy]`.
fn script_sale(
    initial: u64,
    clients: u32,
    script: &str,
    keys: &[&str],
    extra: &str,
    replies: &str,
) -> String {
    let declared: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("{run}:").map(|name| (k, name)))
        .map(|(k, name)| {
            let kind = if name == "orders" { "list" } else { "string" };
            format!("\"{k}\" = \"{kind}\"")
        })
        .collect();
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    format!(
        r#"
name = "history"

[redis]
timeout_ms = 5000

[stock]
initial = {initial}
extra_keys = {{ {} }}

[load]
processes = 1
clients_per_process = {clients}
duration = "10s"

[strategy]
kind = "script"
script = "{}"
keys = [{}]
args = ["{{token}}"]
{extra}

[strategy.replies]
{replies}

[audit]
orders = "{{run}}:orders"
"#,
        declared.join(", "),
        script_path(script),
        keys.join(", "),
    )
}

/// The shipped crash failover, shortened as tests/replication.rs does:
/// the failover at 1 s of 5 s (Sentinel promotes about 2.5 s after it),
/// every sale recorded by id with `lua`.
fn crash_failover(extra: &[&str]) -> support::Run {
    let mut args = vec![
        "--set",
        "load.duration=5s",
        "--set",
        "faults[0].at=1s",
        "--set",
        "strategy.kind=lua",
        "--set",
        "strategy.record_orders=true",
    ];
    args.extend_from_slice(extra);
    Bench::run(&scenario("failover-crash"), &args).output()
}

#[test]
fn a_crash_failover_names_each_lost_sale_and_resolves_each_purchase_in_doubt() {
    let run = crash_failover(&[]);
    let context = run.context();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "FAIL", "{context}");
    assert_eq!(s["faults_applied"], "1", "{context}");
    let lost = num(&s, "lost_sales");
    assert!(lost > 0, "{context}");
    // Each lost sale's unit is back in stock, or was taken again by an
    // in-doubt purchase that landed: the units alone would hide those.
    assert_eq!(
        lost,
        num(&s, "back_in_stock") + num(&s, "in_doubt_applied"),
        "{s:?}"
    );
    assert_eq!(
        num(&s, "in_doubt_applied") + num(&s, "in_doubt_not_applied"),
        num(&s, "in_doubt"),
        "{s:?}"
    );
    assert_eq!(num(&s, "phantom_orders"), 0, "{s:?}");
    let recorded = audit_row(&run, "every_sale_recorded");
    assert_eq!(recorded["pass"], "false", "{recorded:?}");
    let observed = &recorded["observed"];
    assert!(
        observed.starts_with(&format!("{lost} of ")) && observed.contains("acknowledged at"),
        "{recorded:?}"
    );
    // The first id named is a purchase the history holds as acknowledged.
    let first = observed
        .split_once("(first: ")
        .and_then(|(_, ids)| ids.split([',', ')']).next())
        .unwrap_or_else(|| panic!("no id named: {recorded:?}"));
    let acknowledged = history(&run)
        .into_iter()
        .any(|e| e["type"] == "ok" && e["f"] == "buy" && e["value"]["id"].as_str() == Some(first));
    assert!(
        acknowledged,
        "{first} is no acknowledged purchase in history.jsonl"
    );
    assert_eq!(audit_row(&run, "stock_matches_orders")["pass"], "false");
    assert!(
        run.stdout.contains("acknowledged sale(s) were lost") && run.stdout.contains(first),
        "{context}"
    );

    // A sale counts once the replica has it: nothing acknowledged is lost,
    // and each purchase in doubt is settled by its id.
    let run = crash_failover(&["--set", "strategy.wait_replicas=1"]);
    let context = run.context();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert_eq!(s["faults_applied"], "1", "{context}");
    assert_eq!(num(&s, "lost_sales"), 0, "{s:?}");
    assert_eq!(num(&s, "back_in_stock"), 0, "{s:?}");
    assert!(
        num(&s, "in_doubt") > 0,
        "the failover leaves purchases in doubt: {s:?}"
    );
    assert_eq!(
        num(&s, "in_doubt_applied") + num(&s, "in_doubt_not_applied"),
        num(&s, "in_doubt"),
        "{s:?}"
    );
    for check in [
        "every_sale_recorded",
        "stock_matches_orders",
        "no_phantom_orders",
    ] {
        assert_eq!(audit_row(&run, check)["pass"], "true", "{check}: {context}");
    }
    // history.jsonl settles each of them the same way.
    let infos: Vec<serde_json::Value> = history(&run)
        .into_iter()
        .filter(|e| e["type"] == "info")
        .collect();
    assert_eq!(infos.len() as i64, num(&s, "in_doubt"), "{s:?}");
    let applied = infos.iter().filter(|e| e["applied"] == true).count();
    let not_applied = infos.iter().filter(|e| e["applied"] == false).count();
    assert_eq!(
        (applied as i64, not_applied as i64),
        (num(&s, "in_doubt_applied"), num(&s, "in_doubt_not_applied")),
        "{s:?}"
    );
}

#[test]
fn a_compensating_pair_fails_by_id_where_the_count_only_audit_passes() {
    // 50 units sold in fives: sales 5, 10, ... record no order and sales
    // 1, 6, ... record theirs twice, so 50 orders for 50 sales.
    let text = script_sale(
        50,
        4,
        "compensating.lua",
        &["{stock}", "{run}:orders", "{run}:sales"],
        "",
        "\"0\" = \"sold\"\n\"1\" = \"sold_out\"",
    );
    let (_dir, path) = support::write_scenario(&text);

    let run = Bench::run(&path, &[]).output();
    let context = run.context();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "FAIL", "{context}");
    assert_eq!(num(&s, "final_stock"), 0, "{context}");
    assert_eq!(num(&s, "orders"), 50, "{context}");
    let (lost, phantom) = (num(&s, "lost_sales"), num(&s, "phantom_orders"));
    assert!(lost > 0 && phantom > 0, "{s:?}");
    if num(&s, "in_doubt") == 0 {
        assert_eq!((lost, phantom), (10, 10), "{s:?}");
    }
    for check in ["every_sale_recorded", "no_phantom_orders"] {
        assert_eq!(
            audit_row(&run, check)["pass"],
            "false",
            "{check}: {context}"
        );
    }
    assert!(
        audit_row(&run, "no_phantom_orders")["observed"].contains("recorded more than once"),
        "{context}"
    );
    // The count balances: only the ids tell.
    assert_eq!(
        audit_row(&run, "stock_matches_orders")["pass"],
        "true",
        "{context}"
    );

    // The same script, judged by the counts alone: fooled.
    let run = Bench::run(&path, &["--set", "audit.history=false"]).output();
    let context = run.context();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert_eq!(num(&s, "orders"), 50, "{context}");
    assert_eq!(s["lost_sales"], "", "not checked: {s:?}");
    for check in ["orders_match_sales", "stock_conservation"] {
        assert_eq!(audit_row(&run, check)["pass"], "true", "{check}: {context}");
    }
    let audit = run.csv("audit.csv");
    assert!(
        !audit
            .iter()
            .any(|r| r["invariant"] == "every_sale_recorded"),
        "{audit:?}"
    );
    assert!(!run.out().join("history.jsonl").exists(), "{context}");
}

#[test]
fn sold_out_answered_while_units_remain_is_a_false_sold_out() {
    // After 20 calls the script says sold out without looking: 80 units
    // remain, and each of the 4 buyers is turned away once.
    let text = script_sale(
        100,
        4,
        "stale-sold-out.lua",
        &["{stock}", "{run}:orders", "{run}:calls"],
        "",
        "\"0\" = \"sold\"\n\"1\" = \"sold_out\"",
    );
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &[]).output();
    let context = run.context();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "FAIL", "{context}");
    assert_eq!(num(&s, "final_stock"), 80, "{context}");
    assert!(num(&s, "false_sold_outs") > 0, "{s:?}");
    assert_eq!(
        num(&s, "false_sold_outs"),
        num(&s, "rejected_sold_out"),
        "every sold-out answer was false: {s:?}"
    );
    let row = audit_row(&run, "no_false_sold_out");
    assert_eq!(row["pass"], "false", "{row:?}");
    assert!(row["observed"].contains("units left"), "{row:?}");
    // The sales themselves were right.
    for check in [
        "every_sale_recorded",
        "no_phantom_orders",
        "stock_matches_orders",
    ] {
        assert_eq!(audit_row(&run, check)["pass"], "true", "{check}: {context}");
    }
    assert!(
        run.stdout.contains("FAIL") && run.stdout.contains("told sold out"),
        "{context}"
    );
}

#[test]
fn a_stock_dipped_below_zero_and_repaired_is_seen_by_the_readings() {
    // One buyer: each purchase takes 1000 units too many, stalls 100 ms,
    // gives them back and sells one; the 50 ms readings see the dip.
    let text = script_sale(
        10,
        1,
        "dip-and-repair.lua",
        &["{stock}", "{run}:orders"],
        "steps = [\"dip\", \"repair\"]\nstall_ms = 100\nstall_fraction = 1.0",
        "\"0\" = \"sold\"\n\"1\" = \"sold_out\"\n\"2\" = \"next\"",
    );
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &[]).output();
    let context = run.context();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(s["verdict"], "FAIL", "{context}");
    assert_eq!(
        (num(&s, "sold"), num(&s, "final_stock")),
        (10, 0),
        "{context}"
    );
    assert!(num(&s, "stock_reading_violations") > 0, "{s:?}");
    let row = audit_row(&run, "stock_readings_consistent");
    assert_eq!(row["pass"], "false", "{row:?}");
    assert!(row["observed"].contains("stock seen negative"), "{row:?}");
    // The end balances: only the readings saw it.
    for check in [
        "final_stock_non_negative",
        "stock_matches_orders",
        "every_sale_recorded",
    ] {
        assert_eq!(audit_row(&run, check)["pass"], "true", "{check}: {context}");
    }
    assert!(run.stdout.contains("stock seen negative"), "{context}");
}

#[test]
fn history_jsonl_pairs_every_invocation_with_one_completion_in_time_order() {
    // Listed one by one when the orders are checked by id.
    let ids = ["--set", "strategy.record_orders=true"];
    let run = Bench::run(&scenario("article"), &ids).output();
    run.assert_code(0);
    let events = history(&run);
    let context = run.context();
    assert!(!events.is_empty(), "{context}");
    let mut open: HashMap<(String, String), usize> = HashMap::new();
    let mut last_time = i64::MIN;
    let (mut reads, mut sold) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["index"], i, "line {}: {e}", i + 1);
        let kind = e["type"].as_str().unwrap_or_else(|| panic!("no type: {e}"));
        assert!(
            ["invoke", "ok", "fail", "info"].contains(&kind),
            "line {}: {e}",
            i + 1
        );
        let time = e["time"].as_i64().unwrap_or_else(|| panic!("no time: {e}"));
        assert!(time >= last_time, "line {}: time goes back: {e}", i + 1);
        last_time = time;
        let f = e["f"].as_str().unwrap_or_else(|| panic!("no f: {e}"));
        // Reads are one at a time: the stock process has one open at most.
        let id = match f {
            "buy" => e["value"]["id"].as_str().unwrap().to_owned(),
            "read" => String::new(),
            _ => panic!("line {}: f {f}: {e}", i + 1),
        };
        let key = (e["process"].to_string(), id);
        if kind == "invoke" {
            assert!(
                open.insert(key, i).is_none(),
                "line {}: invoked twice: {e}",
                i + 1
            );
        } else {
            assert!(
                open.remove(&key).is_some(),
                "line {}: a completion without its invocation: {e}",
                i + 1
            );
            if f == "read" {
                reads += 1;
                assert!(e["value"].is_i64(), "{e}");
            }
            if f == "buy" && kind == "ok" {
                sold += 1;
            }
        }
    }
    assert!(open.is_empty(), "never completed: {open:?}");
    assert!(reads > 0, "no stock reading: {context}");
    assert_eq!(sold, num(&run.summary(), "sold"), "{context}");
}
