//! Parsing scenarios from strings: the happy path, every kind of error, and
//! where each error points.

use std::time::Duration;

use super::*;
use crate::phase::Phase;

const ARTICLE: &str = r#"name = "article"
description = "the article"

[redis]
key_prefix = "seckill"

[stock]
initial = 100

[load]
processes = 10
clients_per_process = 1
purchases_per_client = 1

[strategy]
kind = "article"
lock_ttl_ms = 5000
wait_timeout_ms = 10000
retry_interval_ms = 10
"#;

fn parse(text: &str, sets: &[&str]) -> Result<Scenario, ScenarioError> {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    Scenario::parse(text, "s.toml", &overrides)
}

fn error(text: &str, sets: &[&str]) -> String {
    parse(text, sets).unwrap_err().to_string()
}

#[test]
fn parses_the_article_into_real_types() {
    let s = parse(ARTICLE, &[]).unwrap();
    assert_eq!(s.name, "article");
    assert_eq!(s.load.processes.get(), 10);
    assert_eq!(s.load.total_clients(), 10);
    assert_eq!(s.load.stop.purchases_per_client.map(|n| n.get()), Some(1));
    assert_eq!(s.load.stop.duration, None);
    assert_eq!(s.stock.quantity.get(), 1, "quantity defaults to 1");
    assert_eq!(s.strategy.kind, StrategyKind::Article);
    assert_eq!(s.strategy.lock.ttl, Duration::from_millis(5000));
    assert_eq!(s.strategy.lock.retry_interval, Duration::from_millis(10));
    assert_eq!(s.strategy.stall.duration, Duration::ZERO);
    assert_eq!(s.redis.url, None);
}

#[test]
fn overrides_set_nested_fields_and_bare_strings() {
    let s = parse(
        ARTICLE,
        &[
            "strategy.lock_ttl_ms=50",
            "load.processes=32",
            "strategy.kind=unlocked",
            "load.duration=1.5s",
        ],
    )
    .unwrap();
    assert_eq!(s.strategy.lock.ttl, Duration::from_millis(50));
    assert_eq!(s.load.processes.get(), 32);
    assert_eq!(s.strategy.kind, StrategyKind::Unlocked);
    assert_eq!(s.load.stop.duration, Some(Duration::from_millis(1500)));
}

#[test]
fn unknown_key_names_file_line_and_field() {
    let text = ARTICLE.replace("retry_interval_ms = 10", "retry_interval_ms = 10\nttl = 5");
    let e = error(&text, &[]);
    assert!(
        e.starts_with("s.toml:20: field `strategy.ttl`: unknown field"),
        "{e}"
    );
    assert!(e.contains("what to do"), "{e}");
}

#[test]
fn unknown_section_is_an_error() {
    let e = error(&format!("{ARTICLE}\n[lod]\nx = 1\n"), &[]);
    assert!(
        e.starts_with("s.toml:21: field `lod`: unknown field"),
        "{e}"
    );
}

#[test]
fn zero_and_negative_values_point_at_their_line() {
    let e = error(&ARTICLE.replace("processes = 10", "processes = 0"), &[]);
    assert!(
        e.starts_with("s.toml:11: field `load.processes`: must be between 1"),
        "{e}"
    );
    let e = error(&ARTICLE.replace("initial = 100", "initial = -5"), &[]);
    assert!(
        e.starts_with("s.toml:8: field `stock.initial`: must be 0 or more"),
        "{e}"
    );
    let e = error(
        &ARTICLE.replace("lock_ttl_ms = 5000", "lock_ttl_ms = 0"),
        &[],
    );
    assert!(
        e.contains("field `strategy.lock_ttl_ms`: must be at least 1 ms"),
        "{e}"
    );
}

#[test]
fn wrong_type_and_syntax_errors_are_located() {
    let e = error(
        &ARTICLE.replace("processes = 10", "processes = \"ten\""),
        &[],
    );
    assert!(
        e.starts_with("s.toml:11: field `load.processes`: invalid type"),
        "{e}"
    );
    let e = error(&ARTICLE.replace("processes = 10", "processes = = 10"), &[]);
    assert!(e.starts_with("s.toml:11: not valid TOML"), "{e}");
}

#[test]
fn missing_required_field_names_its_table() {
    let e = error(&ARTICLE.replace("initial = 100\n", ""), &[]);
    assert!(e.contains("field `stock`: missing field `initial`"), "{e}");
    assert!(e.starts_with("s.toml:7:"), "{e}");
}

#[test]
fn a_stop_rule_is_required() {
    let e = error(&ARTICLE.replace("purchases_per_client = 1\n", ""), &[]);
    assert!(e.contains("field `load`: no stop rule"), "{e}");
}

#[test]
fn bad_override_names_the_flag_not_the_file() {
    let e = error(ARTICLE, &["load.processes=0"]);
    assert!(
        e.starts_with("--set load.processes=0: field `load.processes`"),
        "{e}"
    );
    let e = error(ARTICLE, &["load.warp=9"]);
    assert!(
        e.starts_with("--set load.warp=9: field `load.warp`: unknown field"),
        "{e}"
    );
    let e = error(ARTICLE, &["name.x=1"]);
    assert!(e.contains("`name` is a value, not a table"), "{e}");
    assert!("noequals".parse::<Override>().is_err());
    assert!("a..b=1".parse::<Override>().is_err());
}

#[test]
fn durations_need_a_unit_and_must_be_positive() {
    for (text, ok) in [
        ("500ms", true),
        ("30s", true),
        ("2m", true),
        ("250us", true),
    ] {
        let d = format!("duration = \"{text}\"\n");
        let s = parse(&ARTICLE.replace("purchases_per_client = 1\n", &d), &[]);
        assert_eq!(s.is_ok(), ok, "{text}");
    }
    for bad in ["30", "0s", "fast", "-1s"] {
        let d = format!("duration = \"{bad}\"\n");
        let e = error(&ARTICLE.replace("purchases_per_client = 1\n", &d), &[]);
        assert!(e.contains("field `load.duration`: `"), "{bad}: {e}");
    }
}

#[test]
fn stall_fraction_and_strategy_kind_are_checked() {
    let text = ARTICLE.replace("retry_interval_ms = 10", "stall_fraction = 1.5");
    assert!(
        error(&text, &[]).contains("field `strategy.stall_fraction`: must be between 0.0 and 1.0")
    );
    let e = error(
        &ARTICLE.replace("kind = \"article\"", "kind = \"redlok\""),
        &[],
    );
    assert!(
        e.contains("unknown strategy `redlok`") && e.contains("article, unlocked"),
        "{e}"
    );
}

#[test]
fn passwords_are_masked_in_urls_and_errors() {
    let s = parse(
        ARTICLE,
        &["redis.url=redis://user:hunter2@127.0.0.1:6380/1"],
    )
    .unwrap();
    let url = s.redis.url.unwrap();
    assert_eq!(url.expose(), "redis://user:hunter2@127.0.0.1:6380/1");
    assert!(!format!("{url} {url:?}").contains("hunter2"));
    let e = error(ARTICLE, &["redis.url=http://:hunter2@host/"]);
    assert!(
        e.contains("not a redis:// or rediss:// URL") && !e.contains("hunter2"),
        "{e}"
    );
}

#[test]
fn names_must_be_usable_in_paths_and_keys() {
    let e = error(
        &ARTICLE.replace("name = \"article\"", "name = \"a b/c\""),
        &[],
    );
    assert!(e.starts_with("s.toml:1: field `name`"), "{e}");
}

#[test]
fn latency_thresholds_name_phases_and_unknown_ones_list_the_valid_names() {
    let t = format!(
        "{ARTICLE}\n[thresholds]\nmax_p99_us = 700\nmax_p999_us = {{ service = 5, critical_section = 6 }}\n"
    );
    let s = parse(&t, &[]).unwrap();
    assert_eq!(s.thresholds.max_p99_us, [(Phase::Purchase, 700)]);
    assert_eq!(
        s.thresholds.max_p999_us,
        [(Phase::CriticalSection, 6), (Phase::Service, 5)]
    );
    let t = format!("{ARTICLE}\n[thresholds]\nmax_p99_us = {{ purchase = 5000, lokc_wait = 9 }}\n");
    assert_eq!(
        error(&t, &[]),
        "s.toml:22: field `thresholds.max_p99_us.lokc_wait`: unknown value `lokc_wait`\n  \
         what to do: use one of: purchase, service, lock_wait, critical_section, pool_wait"
    );
    let e = error(ARTICLE, &["thresholds.max_p999_us={bogus=1}"]);
    assert_eq!(
        e,
        "--set thresholds.max_p999_us={bogus=1}: field `thresholds.max_p999_us.bogus`: \
         unknown value `bogus`\n  what to do: use one of: purchase, service, lock_wait, critical_section, pool_wait"
    );
    let t = format!("{ARTICLE}\n[thresholds]\nmax_p99_us = -3\n");
    assert!(
        error(&t, &[]).starts_with(
            "s.toml:22: field `thresholds.max_p99_us.purchase`: must be a positive number"
        ),
        "{}",
        error(&t, &[])
    );
}

#[test]
fn names_longer_than_a_folder_name_allows_are_refused() {
    let long = "a".repeat(300);
    let e = error(
        &ARTICLE.replace("name = \"article\"", &format!("name = \"{long}\"")),
        &[],
    );
    assert!(
        e.starts_with("s.toml:1: field `name`: is 300 characters long, more than 100"),
        "{e}"
    );
    assert!(e.contains("what to do: shorten it to at most 100"), "{e}");
    let e = error(ARTICLE, &[&format!("name={long}")]);
    assert!(
        e.starts_with(&format!("--set name={long}: field `name`")),
        "{e}"
    );
    let hundred = "b".repeat(100);
    let s = parse(
        &ARTICLE.replace("name = \"article\"", &format!("name = \"{hundred}\"")),
        &[],
    );
    assert_eq!(s.unwrap().name, hundred);
}

#[test]
fn integers_beyond_64_bits_name_their_field() {
    let e = error(
        &ARTICLE.replace("initial = 100", "initial = 99999999999999999999"),
        &[],
    );
    assert_eq!(
        e,
        "s.toml:8: field `stock.initial`: `99999999999999999999` is out of range: \
         whole numbers go from -9223372036854775808 to 9223372036854775807\n  \
         what to do: write a smaller number: every whole number must fit in 64 bits"
    );
    let stages = "stages = [{ duration = \"1s\", clients = 1 },\n  \
                  { duration = \"1s\", clients = -0x_ffff_ffff_ffff_ffff_ff }]\n";
    let e = error(&ARTICLE.replace("purchases_per_client = 1\n", stages), &[]);
    assert!(
        e.starts_with("s.toml:14: not valid TOML"),
        "a sign on a hex number is a syntax error: {e}"
    );
    let stages = stages.replace("-0x_", "0x");
    let e = error(&ARTICLE.replace("purchases_per_client = 1\n", &stages), &[]);
    assert!(
        e.starts_with(
            "s.toml:14: field `load.stages[1].clients`: `0xffff_ffff_ffff_ffff_ff` is out of range"
        ),
        "{e}"
    );
    let e = error(
        &format!("{ARTICLE}\n[thresholds]\nmax_oversold = -9_223_372_036_854_775_809\n"),
        &[],
    );
    assert!(
        e.starts_with("s.toml:22: field `thresholds.max_oversold`: `-9_223_372_036_854_775_809`"),
        "{e}"
    );
}

#[test]
fn an_override_beyond_64_bits_names_the_flag_and_field() {
    let e = error(ARTICLE, &["stock.initial=99999999999999999999"]);
    assert!(
        e.starts_with(
            "--set stock.initial=99999999999999999999: field `stock.initial`: \
             `99999999999999999999` is out of range"
        ),
        "{e}"
    );
    let s = parse(ARTICLE, &["name=99999999999999999999"]).unwrap();
    assert_eq!(
        s.name, "99999999999999999999",
        "a string field takes digits"
    );
}

#[test]
fn an_override_of_a_whole_table_or_array_is_blamed_not_the_file() {
    let e = error(ARTICLE, &["load.stages=[{duration=\"0s\",clients=1}]"]);
    assert!(
        e.starts_with(
            "--set load.stages=[{duration=\"0s\",clients=1}]: field `load.stages[0].duration`"
        ),
        "{e}"
    );
    let e = error(ARTICLE, &["faults=[{kind=\"bogus\",at=\"1s\"}]"]);
    assert!(
        e.starts_with("--set faults=[{kind=\"bogus\",at=\"1s\"}]: field `faults[0].kind`"),
        "{e}"
    );
    let e = error(ARTICLE, &["stock={initial=-1}"]);
    assert!(
        e.starts_with("--set stock={initial=-1}: field `stock.initial`"),
        "{e}"
    );
}

#[test]
fn a_problem_an_override_caused_in_another_field_is_blamed_on_it() {
    let faults = format!("{ARTICLE}\n[[faults]]\nkind = \"kill\"\nat = \"1s\"\ntarget = 5\n");
    parse(&faults, &[]).unwrap();
    let e = error(&faults, &["load.processes=2"]);
    assert!(
        e.starts_with("--set load.processes=2: field `faults[0].target`: worker 5 does not exist"),
        "{e}"
    );
    let e = error(&faults, &["load.processes=4", "faults[0].target=4"]);
    assert!(e.starts_with("--set faults[0].target=4: field"), "{e}");
    let e = error(
        ARTICLE,
        &["strategy.kind=redlock", "redis.url=redis://h:1/0"],
    );
    assert!(
        e.starts_with(
            "--set strategy.kind=redlock, --set redis.url=redis://h:1/0: \
             field `redis.redlock_urls`"
        ),
        "{e}"
    );
    let restart = format!("{ARTICLE}\n[[faults]]\nkind = \"redis-restart\"\nat = \"1s\"\n");
    let url = Override::redis_url("redis://h:1/0");
    let e = Scenario::parse(&restart, "s.toml", &[url])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--redis-url redis://h:1/0: field `faults[0].kind`"),
        "{e}"
    );
    let stages = ARTICLE.replace(
        "purchases_per_client = 1\n",
        "stages = [{ duration = \"1s\", clients = 2 }]\n",
    );
    let e = error(&stages, &["load.rate=100"]);
    assert!(
        e.starts_with("--set load.rate=100: field `load.stages[0]`: mixes"),
        "{e}"
    );
    let e = error(&stages, &["load.stages[0].rate=100"]);
    assert!(
        e.starts_with("--set load.stages[0].rate=100: field `load.stages[0]`: needs exactly one"),
        "{e}"
    );
    let e = error(
        &stages.replace("[load]", "[load]\narrivals = \"poisson\""),
        &[],
    );
    assert!(
        e.starts_with("s.toml:11: field `load.arrivals`: applies only"),
        "without an override the file is blamed: {e}"
    );
}

#[test]
fn the_sentinel_topology_is_checked_field_by_field() {
    let sentinel = |extra: &str| {
        ARTICLE.replace(
            "key_prefix = \"seckill\"",
            &format!("topology = \"sentinel\"\n{extra}\nkey_prefix = \"seckill\""),
        )
    };
    let s = parse(&sentinel("replicas = 2"), &[]).unwrap();
    let Topology::Sentinel(settings) = &s.redis.topology else {
        panic!("{:?}", s.redis.topology);
    };
    assert_eq!(settings.replicas, 2);
    assert!(settings.sentinels.is_empty());
    assert_eq!(settings.down_after, Duration::from_millis(1000));
    assert_eq!(settings.failover_timeout, Duration::from_millis(5000));
    let e = error(&sentinel("url = \"redis://127.0.0.1:6379\""), &[]);
    assert!(
        e.contains("redis.url") && e.contains("through Sentinel"),
        "{e}"
    );
    let e = error(&sentinel("sentinels = [\"redis://127.0.0.1:26379\"]"), &[]);
    assert!(
        e.contains("redis.master_name") && e.contains("is missing"),
        "{e}"
    );
    let e = error(
        &ARTICLE.replace(
            "key_prefix = \"seckill\"",
            "replicas = 2\nkey_prefix = \"seckill\"",
        ),
        &[],
    );
    assert!(
        e.contains("redis.replicas") && e.contains("sentinel topology"),
        "{e}"
    );
    let e = error(&sentinel("rediscover = \"sometimes\""), &[]);
    assert!(
        e.contains("redis.rediscover") && e.contains("on-error, never"),
        "{e}"
    );
}

#[test]
fn a_failover_fault_needs_the_embedded_sentinel_set_and_a_known_mode() {
    let fault =
        |mode: &str| format!("{ARTICLE}\n[[faults]]\nkind = \"failover\"\nat = \"1s\"\n{mode}\n");
    let e = error(&fault(""), &[]);
    assert!(
        e.contains("faults[0].kind") && e.contains("embedded sentinel or cluster topology"),
        "{e}"
    );
    let sentinel = |text: String| {
        text.replace(
            "key_prefix = \"seckill\"",
            "topology = \"sentinel\"\nkey_prefix = \"seckill\"",
        )
    };
    let s = parse(&sentinel(fault("lag = \"300ms\"")), &[]).unwrap();
    assert_eq!(
        s.faults[0].action,
        FaultAction::Failover {
            mode: FailoverMode::Crash {
                lag: Duration::from_millis(300)
            },
            segment: 0
        }
    );
    let e = error(&sentinel(fault("mode = \"graceful\"\nlag = \"1s\"")), &[]);
    assert!(e.contains("faults[0].lag") && e.contains("crash"), "{e}");
    let e = error(&sentinel(fault("mode = \"sideways\"")), &[]);
    assert!(e.contains("faults[0].mode"), "{e}");
    let latency = format!("{ARTICLE}\n[[faults]]\nkind = \"latency\"\nat = \"1s\"\n");
    let e = error(&sentinel(latency), &[]);
    assert!(e.contains("not built for the sentinel topology"), "{e}");
}

#[test]
fn tls_settings_are_checked() {
    let with = |redis: &str| {
        ARTICLE.replace(
            "key_prefix = \"seckill\"",
            &format!("{redis}\nkey_prefix = \"seckill\""),
        )
    };
    let s = parse(&with("tls = true"), &[]).unwrap();
    assert!(s.redis.tls.embedded);
    let e = error(&with("tls = true\nurl = \"rediss://127.0.0.1:6380\""), &[]);
    assert!(e.contains("redis.tls") && e.contains("rediss://"), "{e}");
    let e = error(&with("tls_cert = \"client.crt\""), &[]);
    assert!(
        e.contains("redis.tls_key") && e.contains("is missing"),
        "{e}"
    );
    let s = parse(
        &with("url = \"rediss://127.0.0.1:6380/0\"\ntls_ca = \"ca.crt\""),
        &[],
    )
    .unwrap();
    assert_eq!(
        s.redis.tls.ca.as_deref(),
        Some(std::path::Path::new("ca.crt"))
    );
}

#[test]
fn the_server_is_redis_or_valkey_and_chosen_only_for_embedded_servers() {
    assert_eq!(parse(ARTICLE, &[]).unwrap().redis.server, Server::Redis);
    let s = parse(ARTICLE, &["redis.server=valkey"]).unwrap();
    assert_eq!(s.redis.server, Server::Valkey);
    let e = error(ARTICLE, &["redis.server=keydb"]);
    assert!(
        e.contains("field `redis.server`: unknown value `keydb`") && e.contains("redis, valkey"),
        "{e}"
    );
    // The user's server is what it is: choosing one there would be ignored.
    for users in [
        &["redis.server=valkey", "redis.url=redis://127.0.0.1:6379/0"][..],
        &[
            "redis.server=redis",
            "redis.topology=sentinel",
            "redis.sentinels=[\"redis://127.0.0.1:26379\"]",
            "redis.master_name=mymaster",
        ],
    ] {
        let e = error(ARTICLE, users);
        assert!(
            e.contains("field `redis.server`") && e.contains("your own server"),
            "{e}"
        );
    }
    let cluster = ["redis.server=valkey", "redis.topology=cluster"];
    assert_eq!(
        parse(ARTICLE, &cluster).unwrap().redis.server,
        Server::Valkey
    );
}

#[test]
fn wait_replicas_needs_that_many_embedded_replicas() {
    let with = |redis: &str| {
        ARTICLE.replace(
            "key_prefix = \"seckill\"",
            &format!("{redis}\nkey_prefix = \"seckill\""),
        )
    };
    let e = error(ARTICLE, &["strategy.wait_replicas=1"]);
    assert!(
        e.contains("strategy.wait_replicas") && e.contains("have 0"),
        "{e}"
    );
    let sentinel = with("topology = \"sentinel\"\nreplicas = 2");
    assert!(parse(&sentinel, &["strategy.wait_replicas=2"]).is_ok());
    let e = error(&sentinel, &["strategy.wait_replicas=3"]);
    assert!(e.contains("have 2"), "{e}");
    // The user's own server may well have replicas.
    let url = with("url = \"redis://127.0.0.1:6379/0\"");
    assert!(parse(&url, &["strategy.wait_replicas=1"]).is_ok());
    let e = error(
        &with("topology = \"sentinel\"\nmaster_name = \"a\\\"b\""),
        &[],
    );
    assert!(e.contains("redis.master_name"), "{e}");
}

#[test]
fn a_cluster_failover_targets_a_segment_and_refuses_what_is_not_built() {
    let cluster = ARTICLE
        .replace(
            "key_prefix = \"seckill\"",
            "topology = \"cluster\"\nkey_prefix = \"seckill\"",
        )
        .replace("initial = 100", "initial = 100\nsegments = 3");
    let fault =
        |extra: &str| format!("{cluster}\n[[faults]]\nkind = \"failover\"\nat = \"1s\"\n{extra}\n");
    let s = parse(&fault("target = \"segment-2\""), &[]).unwrap();
    assert!(matches!(
        s.faults[0].action,
        FaultAction::Failover { segment: 2, .. }
    ));
    let e = error(&fault("target = \"segment-3\""), &[]);
    assert!(
        e.contains("faults[0].target") && e.contains("segments 0..2"),
        "{e}"
    );
    let e = error(&fault("mode = \"partition\""), &[]);
    assert!(
        e.contains("faults[0].mode") && e.contains("not built for a cluster"),
        "{e}"
    );
    let e = error(&cluster, &["strategy.kind=watch"]);
    assert!(e.contains("strategy.kind"), "{e}");
    let e = error(&cluster, &["stock.segment_fallback=sometimes"]);
    assert!(
        e.contains("stock.segment_fallback") && e.contains("next, none"),
        "{e}"
    );
}

/// `ARTICLE` running the shipped `seckill.lua` (unit tests run in the
/// crate's folder, and `s.toml` is relative to it).
fn own_script(extra: &str) -> String {
    let strategy = r#"kind = "script"
script = "scenarios/scripts/seckill.lua"
keys = ["{stock}", "{run}:buyers"]
args = ["{buyer}", "{quantity}"]
replies = { 0 = "sold", 1 = "sold_out", 2 = "duplicate" }
"#;
    let text = ARTICLE.replace(
        "kind = \"article\"\nlock_ttl_ms = 5000\nwait_timeout_ms = 10000\nretry_interval_ms = 10\n",
        strategy,
    );
    format!("{text}{extra}")
}

#[test]
fn a_script_strategy_parses_its_templates_replies_and_file() {
    let s = parse(
        &own_script("[buyers]\ncount = 50\n[audit]\nper_buyer_limit = 1\n"),
        &[],
    )
    .unwrap();
    let script = s.script.expect("kind = script has its script");
    assert_eq!(s.strategy.kind, StrategyKind::Script);
    assert!(script.source.contains("SISMEMBER"), "the file is read");
    assert_eq!(script.library, None);
    assert_eq!(script.keys[1].text, "{run}:buyers");
    assert_eq!(script.rejection_words(), ["duplicate"]);
    assert_eq!(s.buyers.count.map(|n| n.get()), Some(50));
    assert_eq!(s.audit.per_buyer_limit.map(|n| n.get()), Some(1));
}

#[test]
fn script_mistakes_name_their_field() {
    let cases = [
        (
            own_script("").replace("\"{run}:buyers\"", "\"buyers\""),
            "strategy.keys",
            "not one of the run's keys",
        ),
        (
            own_script("").replace("{buyer}", "{user}"),
            "strategy.args",
            "{user}",
        ),
        (
            own_script("").replace("0 = \"sold\", ", ""),
            "strategy.replies",
            "no reply means `sold`",
        ),
        (
            own_script("").replace("seckill.lua", "nope.lua"),
            "strategy.script",
            "cannot read",
        ),
        (
            own_script("").replace("[strategy]\n", "[strategy]\nfunction = \"f\"\n"),
            "strategy.function",
            "plain Lua script",
        ),
        (
            own_script("[audit]\nper_buyer_limit = 1\n"),
            "audit.per_buyer_limit",
            "test nothing",
        ),
        (
            ARTICLE.replace(
                "retry_interval_ms = 10",
                "retry_interval_ms = 10\nkeys = [\"{stock}\"]",
            ),
            "strategy.keys",
            "is for kind = \"script\"",
        ),
        (
            own_script("[stock.extra_keys]\n\"{run}:b\" = \"bag\"\n"),
            "stock.extra_keys",
            "unknown value `bag`",
        ),
    ];
    for (text, field, message) in cases {
        let e = error(&text, &[]);
        assert!(e.contains(field) && e.contains(message), "{field}: {e}");
    }
}

#[test]
fn cluster_seeds_need_the_users_cluster() {
    let e = error(ARTICLE, &["redis.seeds=[\"redis://127.0.0.1:7001\"]"]);
    assert!(
        e.contains("redis.seeds") && e.contains("topology = \"cluster\""),
        "{e}"
    );
    let sets = [
        "redis.topology=cluster",
        "redis.url=redis://127.0.0.1:7000",
        "redis.seeds=[\"redis://:pw@127.0.0.1:7001\"]",
    ];
    let s = parse(ARTICLE, &sets).unwrap();
    let Topology::Cluster(c) = s.redis.topology else {
        panic!("a cluster");
    };
    assert_eq!(c.seeds[0].redacted(), "redis://:***@127.0.0.1:7001");
}

#[test]
fn a_kind_switched_by_set_ignores_the_script_fields_and_one_in_the_file_does_not() {
    let s = parse(&own_script(""), &["strategy.kind=lua"]).unwrap();
    assert_eq!(s.strategy.kind, StrategyKind::Lua);
    assert_eq!(s.script, None);
    let text = own_script("").replace("kind = \"script\"", "kind = \"lua\"");
    let e = error(&text, &[]);
    assert!(e.contains("is for kind = \"script\""), "{e}");
}

#[test]
fn the_hosts_list_can_give_the_total_of_processes() {
    let with_hosts = ARTICLE
        .replace("processes = 10\n", "")
        .replace("key_prefix = \"seckill\"", "key_prefix = \"seckill\"\nurl = \"redis://127.0.0.1:6379/0\"")
        + "\n[hosts]\nlauncher = [\"ssh\", \"{host}\"]\nlist = [{ host = \"a\", processes = 3 }, { host = \"b\", processes = 4 }]\n";
    let s = parse(&with_hosts, &[]).unwrap();
    assert_eq!(s.load.processes.get(), 7);
    let ranges = s.hosts.as_ref().unwrap().ranges();
    assert_eq!(ranges, vec![0..3, 3..7]);
    // Given both, they must agree, as before.
    let both = with_hosts.replace("[load]\n", "[load]\nprocesses = 5\n");
    assert!(error(&both, &[]).contains("add up to 7"));
    // Not every host gives its processes: the total is missing.
    let some = with_hosts.replace(", processes = 4", "");
    let e = error(&some, &[]);
    assert!(
        e.contains("load.processes") && e.contains("is missing"),
        "{e}"
    );
    let none = ARTICLE.replace("processes = 10\n", "");
    assert!(error(&none, &[]).contains("give processes for every host"));
}

#[test]
fn record_orders_and_the_history_settings_default_off_50ms_and_on() {
    let s = parse(ARTICLE, &[]).unwrap();
    assert!(!s.strategy.record_orders);
    assert_eq!(s.audit.orders, None, "no orders key unless asked for");
    assert_eq!(s.audit.sample_interval, Duration::from_millis(50));
    assert!(s.audit.history);
    let d = AuditSettings::default();
    assert_eq!(
        (d.sample_interval, d.history),
        (Duration::from_millis(50), true)
    );
    assert_eq!((d.orders, d.per_buyer_limit), (None, None));
}

#[test]
fn record_orders_defaults_the_orders_key_to_the_one_it_writes() {
    for kind in [
        "article",
        "unlocked",
        "safe-lock",
        "fenced",
        "lua",
        "watch",
        "decr",
        "redlock",
    ] {
        let set = format!("strategy.kind={kind}");
        let s = parse(ARTICLE, &[&set, "strategy.record_orders=true"]).unwrap();
        assert!(s.strategy.record_orders, "{kind}");
        let orders = s.audit.orders.expect("record_orders names the orders key");
        assert_eq!(orders.text, "{run}:orders", "{kind}");
        assert!(orders.is_run_key() && !orders.per_attempt());
    }
    // The same key written out is accepted, as is record_orders = false.
    let text = format!("{ARTICLE}record_orders = true\n[audit]\norders = \"{{run}}:orders\"\n");
    let s = parse(&text, &[]).unwrap();
    assert_eq!(s.audit.orders.unwrap().text, "{run}:orders");
    let s = parse(ARTICLE, &["strategy.record_orders=false"]).unwrap();
    assert!(!s.strategy.record_orders);
    assert_eq!(s.audit.orders, None);
}

#[test]
fn record_orders_refuses_another_orders_key_and_stream_fields() {
    let text = format!("{ARTICLE}record_orders = true\n[audit]\norders = \"{{run}}:sales\"\n");
    let e = error(&text, &[]);
    assert!(
        e.starts_with(
            "s.toml:22: field `audit.orders`: `{run}:sales` is not the key record_orders writes"
        ),
        "{e}"
    );
    assert!(e.contains("what to do: remove audit.orders"), "{e}");
    // Given by --set, the record_orders flag is blamed.
    let text = format!("{ARTICLE}[audit]\norders = \"{{run}}:sales\"\n");
    let e = error(&text, &["strategy.record_orders=true"]);
    assert!(
        e.starts_with("--set strategy.record_orders=true: field `audit.orders`"),
        "{e}"
    );
    for field in ["orders_id_field", "orders_buyer_field"] {
        let text = format!(
            "{ARTICLE}record_orders = true\n[buyers]\ncount = 5\n[audit]\n{field} = \"id\"\n"
        );
        let e = error(&text, &[]);
        assert!(
            e.contains(&format!("field `audit.{field}`")) && e.contains("writes a hash"),
            "{e}"
        );
    }
}

#[test]
fn record_orders_is_refused_for_the_users_script_and_service() {
    let e = error(&own_script(""), &["strategy.record_orders=true"]);
    assert!(
        e.starts_with("--set strategy.record_orders=true: field `strategy.record_orders`: is for the built-in strategies: with kind = \"script\" your script records its own orders"),
        "{e}"
    );
    assert!(
        e.contains("args = [\"{token}\", ...]") && e.contains("[audit] orders"),
        "{e}"
    );
    let text = own_script("").replace("[strategy]\n", "[strategy]\nrecord_orders = true\n");
    let e = error(&text, &[]);
    assert!(e.starts_with("s.toml:"), "{e}");
    assert!(e.contains("field `strategy.record_orders`"), "{e}");
    // A kind switched to the script by --set is blamed for it.
    let text = own_script("").replace("[strategy]\n", "[strategy]\nrecord_orders = true\n");
    let lua = text.replace("kind = \"script\"", "kind = \"lua\"");
    let e = error(&lua, &["strategy.kind=script"]);
    assert!(
        e.starts_with("--set strategy.kind=script: field `strategy.record_orders`"),
        "{e}"
    );
    let service = std::fs::read_to_string("scenarios/service-lua.toml").unwrap();
    parse(&service, &[]).expect("the shipped service scenario parses");
    let e = error(&service, &["strategy.record_orders=true"]);
    assert!(
        e.contains("field `strategy.record_orders`")
            && e.contains("with kind = \"http\" your service records its own orders")
            && e.contains("{token} in the url, a header or the body"),
        "{e}"
    );
}

#[test]
fn the_sample_interval_is_a_duration_from_5ms_to_10s_and_history_a_switch() {
    let audit = |lines: &str| format!("{ARTICLE}[audit]\n{lines}\n");
    for (given, want) in [("5ms", 5), ("50ms", 50), ("1.5s", 1500), ("10s", 10_000)] {
        let s = parse(&audit(&format!("sample_interval = \"{given}\"")), &[]).unwrap();
        assert_eq!(
            s.audit.sample_interval,
            Duration::from_millis(want),
            "{given}"
        );
    }
    for (given, why) in [
        ("4ms", "is outside 5ms to 10s"),
        ("11s", "is outside 5ms to 10s"),
        ("0s", "is outside 5ms to 10s"),
        ("50", "is not a duration"),
        ("fast", "is not a duration"),
    ] {
        let e = error(&audit(&format!("sample_interval = \"{given}\"")), &[]);
        assert!(
            e.starts_with(&format!(
                "s.toml:21: field `audit.sample_interval`: `{given}` {why}"
            )),
            "{e}"
        );
        assert!(e.contains("what to do:"), "{e}");
    }
    let e = error(&audit("sample_interval = 50"), &[]);
    assert!(e.contains("audit.sample_interval"), "{e}");
    let s = parse(&audit("history = false"), &[]).unwrap();
    assert!(!s.audit.history);
    let s = parse(
        ARTICLE,
        &["audit.history=false", "audit.sample_interval=20ms"],
    )
    .unwrap();
    assert_eq!(
        (s.audit.history, s.audit.sample_interval),
        (false, Duration::from_millis(20))
    );
    let e = error(ARTICLE, &["audit.history=maybe"]);
    assert!(e.contains("audit.history"), "{e}");
}
