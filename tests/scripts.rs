//! The user's own script (`kind = "script"`) against real redis-servers:
//! the shipped examples' verdicts, the reply mapping, the orders and
//! per-buyer audits firing, loading errors, and NOSCRIPT after a restart.

use std::path::Path;

use crate::support::{self, num, scenario, Bench};

fn script_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/scripts")
        .join(name)
        .display()
        .to_string()
}

fn audit_row(run: &support::Run, name: &str) -> std::collections::HashMap<String, String> {
    run.csv("audit.csv")
        .into_iter()
        .find(|r| r["invariant"] == name)
        .unwrap_or_else(|| panic!("no {name} row\n{}", run.context()))
}

/// The server gets a library named `seckill` of its own (function
/// `theirs`); `own-function` (library `seckill`, other code) exits 4
/// refusing to replace it.
pub fn their_library_is_never_replaced(conn: &mut redis::Connection, url: &[&str]) {
    let theirs = "#!lua name=seckill\nredis.register_function('theirs', function() return 1 end)";
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(theirs)
        .query(conn)
        .unwrap();
    let run = Bench::run(&scenario("own-function"), url).output();
    run.assert_code(4);
    assert!(
        run.stderr.contains("refusing to replace it"),
        "{}",
        run.context()
    );
}

fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connecting to the test redis-server")
}

fn keys_of(conn: &mut redis::Connection) -> Vec<String> {
    redis::cmd("KEYS").arg("*").query(conn).unwrap()
}

#[test]
fn shipped_scripts_give_their_documented_verdicts_and_leave_nothing_behind() {
    let redis = support::redis();
    let mut conn = connect(&redis.url());
    let url = ["--redis-url", &redis.url()];

    let run = Bench::run(&scenario("own-script"), &url).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["strategy"], "script", "{context}");
    assert_eq!(
        (num(&s, "sold"), num(&s, "final_stock")),
        (1000, 0),
        "{context}"
    );
    // 1500 buyers for 1000 units: buyers come back, and the script's own
    // word for them is counted under it.
    assert!(num(&s, "rejected_duplicate") > 0, "{context}");
    assert_eq!(num(&s, "rejections"), num(&s, "rejected_duplicate"));
    assert_eq!(num(&s, "duplicate_buyers"), 0, "{context}");
    assert_eq!(num(&s, "orders"), 1000, "{context}");
    assert_eq!(audit_row(&run, "orders_match_sales")["pass"], "true");
    assert_eq!(audit_row(&run, "orders_buyers_known")["pass"], "true");
    let buyers = audit_row(&run, "key_type:{run}:buyers");
    assert_eq!(buyers["observed"], "set with 1000 entries", "{context}");

    // A library of the same name with other code is the user's: refused.
    their_library_is_never_replaced(&mut conn, &url);
    let code: Vec<redis::Value> = redis::cmd("FCALL")
        .arg("theirs")
        .arg(0)
        .query(&mut conn)
        .map(|v: redis::Value| vec![v])
        .unwrap();
    assert_eq!(code, [redis::Value::Int(1)], "their library is untouched");
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg("seckill")
        .query(&mut conn)
        .unwrap();

    let run = Bench::run(&scenario("own-function"), &url).output();
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("function library `seckill`, FCALL seckill_buy"),
        "{}",
        run.context()
    );
    let libraries: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(&mut conn).unwrap();
    assert!(
        libraries.is_empty(),
        "the library the run added is deleted: {libraries:?}"
    );

    let run = Bench::run(&scenario("own-script-racy"), &url).output();
    run.assert_code(1);
    let s = run.summary();
    assert!(num(&s, "duplicate_buyers") > 0, "{}", run.context());
    assert_eq!(num(&s, "oversold"), 0, "{}", run.context());
    assert_eq!(audit_row(&run, "per_buyer_limit")["pass"], "false");
    assert_eq!(audit_row(&run, "orders_per_buyer_limit")["pass"], "false");
    assert_eq!(audit_row(&run, "stock_conservation")["pass"], "true");
    assert!(
        run.stdout.contains("The per-buyer limit does not hold"),
        "{}",
        run.context()
    );

    let run = Bench::run(&scenario("own-script-off-by-one"), &url).output();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(
        (num(&s, "oversold"), num(&s, "final_stock")),
        (1, -1),
        "{}",
        run.context()
    );

    assert_eq!(
        keys_of(&mut conn),
        Vec::<String>::new(),
        "every key of the runs is deleted"
    );
}

#[test]
fn a_key_outside_the_run_exits_2_and_a_script_that_does_not_compile_exits_4() {
    let run = Bench::run(
        &scenario("own-script"),
        &["--set", r#"strategy.keys=["{stock}", "users:buyers"]"#],
    )
    .output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("strategy.keys") && run.stderr.contains("`users:buyers`"),
        "{}",
        run.context()
    );

    let redis = support::redis();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.lua");
    std::fs::write(
        &bad,
        "local stock = redis.call('GET', KEYS[1])\nif stock then return 0 end end\n",
    )
    .unwrap();
    let script = format!("strategy.script={}", bad.display());
    let run = Bench::run(
        &scenario("own-script"),
        &["--redis-url", &redis.url(), "--set", &script],
    )
    .output();
    run.assert_code(4);
    let context = run.context();
    assert!(
        run.stderr.contains(&format!("{}:2", bad.display())),
        "{context}"
    );
    assert!(
        run.stderr.contains("ERR Error compiling script"),
        "{context}"
    );
    assert!(
        !run.out().exists(),
        "nothing is written before the load starts"
    );
    let mut conn = connect(&redis.url());
    assert_eq!(keys_of(&mut conn), Vec::<String>::new(), "{context}");
}

#[test]
fn an_unmapped_reply_is_an_unexpected_reply_shown_with_its_value() {
    let redis = support::redis();
    let replies = r#"strategy.replies={"0" = "sold", "1" = "sold_out"}"#;
    let run = Bench::run(
        &scenario("own-script"),
        &["--redis-url", &redis.url(), "--set", replies],
    )
    .output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert!(num(&s, "errors") > 0, "{context}");
    assert_eq!(
        s["error_kinds"],
        format!("unexpected_reply={}", num(&s, "errors")),
        "{context}"
    );
    assert!(
        run.stdout.contains(&format!("`2` x {}", num(&s, "errors"))),
        "{context}"
    );
    assert_eq!(num(&s, "rejections"), 0, "{context}");
}

/// A purchase that decrements but records an order only for most buyers,
/// names some buyers wrong, and keeps a counter where a set was declared.
const FORGETFUL: &str = r#"
local stock = tonumber(redis.call("GET", KEYS[1]))
if stock < 1 then return 1 end
redis.call("DECRBY", KEYS[1], 1)
redis.call("INCR", KEYS[3])
local buyer = tonumber(ARGV[1])
if buyer % 10 == 1 then
    redis.call("XADD", KEYS[2], "*", "buyer", "guest")
elseif buyer % 10 ~= 0 then
    redis.call("XADD", KEYS[2], "*", "buyer", ARGV[1])
end
return 0
"#;

#[test]
fn orders_match_sales_fails_for_a_script_that_decrements_without_recording() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("forgetful.lua"), FORGETFUL).unwrap();
    let text = r#"
name = "forgetful"

[stock]
initial = 500
extra_keys = { "{run}:orders" = "stream", "{run}:seen" = "set" }

[buyers]
count = 100000
pick = "round-robin"

[load]
processes = 2
clients_per_process = 4
duration = "30s"

[strategy]
kind = "script"
script = "forgetful.lua"
keys = ["{stock}", "{run}:orders", "{run}:seen"]
args = ["{buyer}"]

[strategy.replies]
0 = "sold"
1 = "sold_out"

[audit]
orders = "{run}:orders"
orders_buyer_field = "buyer"
"#;
    let path = dir.path().join("forgetful.toml");
    std::fs::write(&path, text).unwrap();
    let run = Bench::run(&path.display().to_string(), &[]).output();
    run.assert_code(1);
    let s = run.summary();
    let context = run.context();
    assert_eq!(num(&s, "sold"), 500, "{context}");
    // Every tenth buyer id has no order; which ids sold depends on the
    // clients' pace.
    let orders = num(&s, "orders");
    assert!(orders < 500 && orders > 400, "{context}");
    assert_eq!(audit_row(&run, "orders_match_sales")["pass"], "false");
    assert_eq!(audit_row(&run, "stock_conservation")["pass"], "true");
    let unknown = audit_row(&run, "orders_buyers_known");
    assert_eq!(unknown["pass"], "false", "{context}");
    assert!(
        unknown["observed"].contains("(first: `guest`)"),
        "{unknown:?}"
    );
    let seen = audit_row(&run, "key_type:{run}:seen");
    assert_eq!(seen["pass"], "false", "a counter where a set was declared");
    assert_eq!(seen["observed"], "string with 3 entries", "{seen:?}");
    assert!(
        run.stdout.contains("The orders do not match the sales"),
        "{context}"
    );
}

#[test]
fn a_script_survives_a_restart_by_loading_itself_again() {
    let text = format!(
        r#"
name = "script-restart"

[redis]
persistence = "aof-always"
timeout_ms = 1000

[stock]
initial = 1000000
extra_keys = {{ "{{run}}:buyers" = "set", "{{run}}:orders" = "stream" }}

[load]
processes = 2
clients_per_process = 4
duration = "2s"

[strategy]
kind = "script"
script = "{}"
keys = ["{{stock}}", "{{run}}:buyers", "{{run}}:orders"]
args = ["{{buyer}}", "{{quantity}}"]

[strategy.replies]
0 = "sold"
1 = "sold_out"
2 = "duplicate"

[audit]
orders = "{{run}}:orders"

[report]
interval = "100ms"

[[faults]]
kind = "redis-restart"
at = "700ms"
duration = "300ms"
"#,
        script_path("seckill.lua")
    );
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["faults_applied"], "1", "{context}");
    assert!(
        !s["error_kinds"].contains("unexpected_reply"),
        "NOSCRIPT after the restart must load the script again: {context}"
    );
    assert!(
        support::sales_from(&run, 1.2) > 0,
        "sales go on after the restart: {context}"
    );
    assert_eq!(
        audit_row(&run, "orders_match_sales")["pass"],
        "true",
        "{context}"
    );
}

/// A script whose every reply is a rejection (`2`), or sold out (`1`).
const REFUSING: &str = "return tonumber(ARGV[1])\n";

#[test]
fn a_script_that_sells_nothing_is_inconclusive_and_an_early_sold_out_strands() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("refusing.lua"), REFUSING).unwrap();
    let text = r#"
name = "refusing"

[stock]
initial = 100

[load]
processes = 1
clients_per_process = 2
purchases_per_client = 5

[strategy]
kind = "script"
script = "refusing.lua"
args = ["2"]

[strategy.replies]
0 = "sold"
1 = "sold_out"
2 = "duplicate"
"#;
    let path = dir.path().join("refusing.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    let run = Bench::run(&path, &[]).output();
    run.assert_code(5);
    assert!(
        run.stdout
            .contains("the script rejected all 10 purchase(s)"),
        "{}",
        run.context()
    );
    // Sold out at once, with all 100 units on sale: the units strand, and
    // every buyer was told sold out while the history proves units remained.
    let run = Bench::run(&path, &["--set", r#"strategy.args=["1"]"#]).output();
    run.assert_code(1);
    let s = run.summary();
    assert_eq!(num(&s, "stranded"), 100, "{}", run.context());
    assert_eq!(
        num(&s, "false_sold_outs"),
        num(&s, "rejected_sold_out"),
        "{}",
        run.context()
    );
    assert!(run.stdout.contains("stranded"), "{}", run.context());
    assert!(run.stdout.contains("told sold out"), "{}", run.context());
}

/// Has a run's orders stream (the only one on this server) an entry?
fn first_order(conn: &mut redis::Connection) -> bool {
    keys_of(conn)
        .iter()
        .filter(|k| k.ends_with(":orders"))
        .any(|k| redis::cmd("XLEN").arg(k).query::<u64>(conn).unwrap_or(0) > 0)
}

/// How many times the server has run `FUNCTION LOAD`.
fn function_loads(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_function|load:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// A library the server lost mid-run (`FUNCTION FLUSH`) is loaded again
/// and the call sent again: "Function not found" means nothing ran.
#[test]
fn a_function_flushed_mid_run_is_loaded_again() {
    let redis = support::redis();
    let url = redis.url();
    let mut conn = connect(&url);
    let args = [
        "--redis-url",
        &url,
        "--set",
        "stock.initial=100000000",
        "--set",
        "buyers.count=10000000",
        "--set",
        "load.duration=2s",
    ];
    let (child, pending) = Bench::run(&scenario("own-function"), &args).spawn();
    // The event: the run's orders stream has its first sale.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !first_order(&mut conn) {
        assert!(std::time::Instant::now() < deadline, "no sale within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let loaded = function_loads(&mut conn);
    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut conn)
        .unwrap();
    let run = pending.finish(child);
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert!(
        !s["error_kinds"].contains("unexpected_reply"),
        "an FCALL of a flushed library loads it again: {context}"
    );
    assert!(function_loads(&mut conn) > loaded, "{context}");
    assert!(num(&s, "sold") > 0, "{context}");
}

/// A function the library does not register is named before any load,
/// with the ones it does; the library loaded to find out is removed.
#[test]
fn a_function_the_library_does_not_register_exits_4_before_the_load() {
    let redis = support::redis();
    let url = redis.url();
    let mut conn = connect(&url);
    let text = std::fs::read_to_string(scenario("own-function"))
        .unwrap()
        .replace(
            "scripts/seckill-function.lua",
            &script_path("seckill-function.lua"),
        );
    let steps = text.replace(
        r#"function = "seckill_buy""#,
        r#"steps = ["seckill_buy", "seckill_bye"]"#,
    );
    let one = text.replace(r#"function = "seckill_buy""#, r#"function = "seckill_bye""#);
    for (text, field) in [(one, "strategy.function"), (steps, "strategy.steps")] {
        let (_dir, path) = support::write_scenario(&text);
        let args = ["--redis-url", &url];
        let run = Bench::run(&path, &args).output();
        run.assert_code(4);
        let context = run.context();
        assert!(
            run.stderr.contains("no function `seckill_bye`")
                && run.stderr.contains(field)
                && run.stderr.contains("`seckill_buy`"),
            "{context}"
        );
        assert!(!run.out().join("summary.csv").exists(), "{context}");
        let libraries: Vec<redis::Value> =
            redis::cmd("FUNCTION").arg("LIST").query(&mut conn).unwrap();
        assert!(libraries.is_empty(), "{libraries:?}");
    }
}
