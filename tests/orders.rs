//! `[strategy] record_orders`: every built-in strategy records each sale
//! by its purchase id in `{run}:orders`, atomically with its stock write,
//! and the audit finds one order per sale; the user's own code is told to
//! record its orders itself.

use crate::support::{self, num, scenario, Bench};

/// Small and contended: 9 buyers for 60 units, until sold out.
const SMALL: &str = r#"
name = "orders"

[stock]
initial = 60

[load]
processes = 3
clients_per_process = 3
duration = "30s"

[strategy]
kind = "article"
lock_ttl_ms = 2000
retry_interval_ms = 1
record_orders = true
"#;

/// Every built-in strategy that does not oversell under contention.
const SAFE_KINDS: [&str; 7] = [
    "article",
    "safe-lock",
    "fenced",
    "redlock",
    "watch",
    "lua",
    "decr",
];

/// The run sold the whole stock, passed, and the orders key holds one
/// order per sale (a sale whose reply was lost may or may not have one).
fn assert_one_order_per_sale(run: &support::Run, kind: &str, stock: i64) {
    let context = run.context();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "{kind}: {context}");
    assert_eq!(s["strategy"], kind, "{context}");
    assert_eq!(num(&s, "final_stock"), 0, "{kind}: {context}");
    assert_eq!(
        num(&s, "sold") + num(&s, "lost"),
        stock,
        "{kind}: {context}"
    );
    let (sales, orders, in_doubt) = (num(&s, "sales"), num(&s, "orders"), num(&s, "in_doubt"));
    assert!(
        sales <= orders && orders <= sales + in_doubt,
        "{kind}: {orders} orders for {sales} sales, {in_doubt} in doubt: {context}"
    );
    let audit = run.csv("audit.csv");
    for check in ["every_sale_recorded", "no_phantom_orders"] {
        assert!(
            audit.iter().any(|r| r["invariant"] == check),
            "{kind}: {check} is checked: {audit:?}"
        );
    }
    assert!(
        audit.iter().all(|r| r["pass"] == "true"),
        "{kind}: {audit:?}"
    );
}

#[test]
fn every_built_in_strategy_records_one_order_per_sale() {
    let (_dir, path) = support::write_scenario(SMALL);
    for kind in SAFE_KINDS {
        let set = format!("strategy.kind={kind}");
        let run = Bench::run(&path, &["--set", &set]).output();
        assert_one_order_per_sale(&run, kind, 60);
    }
    // The negative control oversells under contention; one buyer alone
    // sells exactly, and records each sale.
    let alone = [
        "--set",
        "strategy.kind=unlocked",
        "--set",
        "load.processes=1",
        "--set",
        "load.clients_per_process=1",
    ];
    let run = Bench::run(&path, &alone).output();
    assert_one_order_per_sale(&run, "unlocked", 60);
}

#[test]
fn decr_takes_its_order_back_with_every_compensation() {
    // 24 buyers of 2 units each for 25 units: the last unit is never
    // sold, and every buyer's final attempt overdraws and is compensated.
    let (_dir, path) = support::write_scenario(SMALL);
    let sets = [
        "--set",
        "strategy.kind=decr",
        "--set",
        "stock.initial=25",
        "--set",
        "stock.quantity=2",
        "--set",
        "load.clients_per_process=8",
    ];
    let run = Bench::run(&path, &sets).output();
    let context = run.context();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert!(num(&s, "compensations") > 0, "{context}");
    assert_eq!(num(&s, "final_stock"), 1, "{context}");
    let (sales, orders, in_doubt) = (num(&s, "sales"), num(&s, "orders"), num(&s, "in_doubt"));
    assert!(
        sales <= orders && orders <= sales + in_doubt,
        "{orders} orders for {sales} sales, {in_doubt} in doubt: {context}"
    );
}

#[test]
fn segments_record_their_orders_under_their_own_hash_tag() {
    let (_dir, path) = support::write_scenario(SMALL);
    for kind in ["lua", "fenced", "watch", "decr", "article"] {
        let set = format!("strategy.kind={kind}");
        let run = Bench::run(&path, &["--set", &set, "--set", "stock.segments=3"]).output();
        assert_one_order_per_sale(&run, kind, 60);
        assert_eq!(num(&run.summary(), "segments"), 3);
    }
}

/// On a real cluster, each transaction and script names keys of one
/// segment only: a key of another slot would be refused (CROSSSLOT).
/// (`watch` is not built for a cluster.)
#[test]
fn on_a_cluster_each_segment_records_its_own_orders() {
    let cluster = format!(
        "{}\n[redis]\ntopology = \"cluster\"\n",
        SMALL
            .replace("initial = 60", "initial = 60\nsegments = 3")
            .replace("processes = 3", "processes = 2")
    );
    let (_dir, path) = support::write_scenario(&cluster);
    for kind in ["lua", "fenced", "decr", "article"] {
        let set = format!("strategy.kind={kind}");
        let run = Bench::run(&path, &["--set", &set]).output();
        assert_one_order_per_sale(&run, kind, 60);
    }
}

#[test]
fn record_orders_with_the_users_script_or_another_orders_key_exits_2() {
    let run = Bench::run(
        &scenario("own-script"),
        &["--set", "strategy.record_orders=true"],
    )
    .output();
    run.assert_code(2);
    let context = run.context();
    assert!(
        run.stderr.contains("field `strategy.record_orders`")
            && run
                .stderr
                .contains("with kind = \"script\" your script records its own orders")
            && run.stderr.contains("what to do: remove record_orders"),
        "{context}"
    );
    assert!(!run.out().exists(), "nothing may be written on bad input");
    let text = format!("{SMALL}\n[audit]\norders = \"{{run}}:sales\"\n");
    let (_dir, path) = support::write_scenario(&text);
    let run = Bench::run(&path, &[]).output();
    run.assert_code(2);
    assert!(
        run.stderr.contains("field `audit.orders`")
            && run.stderr.contains("is not the key record_orders writes"),
        "{}",
        run.context()
    );
}
