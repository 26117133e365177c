//! `kind = "http"` with `[service]`: the harness starts the user's service
//! (the real Python examples, and the tests' own `tests/services/*.py`),
//! loads it over HTTP, freezes, kills and restarts its instances, and
//! judges its replies. The shipped scenarios' verdicts, start-up failures,
//! each class of reply counted where it belongs, the order-id audit, no
//! instance left after Ctrl-C or a SIGKILLed coordinator, and validation.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{self, num, scenario, Bench, Run};

/// The absolute path of one of the tests' own services.
fn service(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/services")
        .join(name)
        .display()
        .to_string()
}

/// A shop of one `reply_service.py` instance answering `pattern` in turn
/// (see its docstring), bought from by 2 processes x 2 clients x 5
/// purchases: 20 requests, whatever their order, so each kind of a
/// two-kind pattern gets exactly 10. The stock (100) never runs out.
/// `strategy` and `tail` are appended to `[strategy]` and to the file.
fn reply_shop(pattern: &str, strategy: &str, tail: &str) -> String {
    format!(
        r#"name = "reply-shop"

[stock]
initial = 100

[load]
processes = 2
clients_per_process = 2
purchases_per_client = 5

[service]
command = ["python3", "{script}", "--port", "{{port}}"]
instances = 1
env = {{ REDIS_URL = "{{redis_url}}", STOCK_KEY = "{{stock}}", ORDERS_KEY = "{{run}}:orders", PATTERN = "{pattern}" }}
ready_path = "/health"
ready_timeout = "15s"
stop_grace = "2s"

{tail}

[strategy]
kind = "http"
url = "{{instance}}/buy"
headers = {{ "Content-Type" = "application/json", "Idempotency-Key" = "{{token}}" }}
body = '{{"buyer": "{{buyer}}", "quantity": {{quantity}}}}'
reply = "/result"
timeout_ms = 5000
{strategy}

[strategy.replies]
"sold" = "sold"
"sold_out" = "sold_out"
"#,
        script = service("reply_service.py"),
    )
}

/// Runs a scenario text written into a temp dir of its own.
fn run_text(text: &str) -> Run {
    let (_dir, path) = support::write_scenario(text);
    Bench::run(&path, &[]).output()
}

fn audit_row(run: &Run, name: &str) -> HashMap<String, String> {
    run.csv("audit.csv")
        .into_iter()
        .find(|r| r["invariant"] == name)
        .unwrap_or_else(|| panic!("no {name} row\n{}", run.context()))
}

/// The service's own log of instance `index`, as the report kept it.
fn service_log(run: &Run, index: &str) -> String {
    let path = run.out().join(format!("service-{index}.log"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}\n{}", path.display(), run.context()))
}

/// A process is gone once /proc no longer has it or it is a zombie (dead,
/// waiting for a parent to reap it).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => state_of(&stat) == Some('Z'),
    }
}

/// The state letter of a `/proc/<pid>/stat` line (after the `(comm)`,
/// which may itself hold spaces and parentheses).
fn state_of(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits, up to `within`, for every pid to be gone; the ones still alive.
fn wait_gone(pids: &[u32], within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&p| !gone(p)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Samples a run's processes (by its tag) for any in the stopped state
/// (`T`): the evidence that a pause froze the instance, not only the
/// fault log's word for it.
struct StoppedWatch {
    done: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<HashSet<u32>>,
}

impl StoppedWatch {
    fn start(tag: &str) -> StoppedWatch {
        let done = Arc::new(AtomicBool::new(false));
        let (flag, tag) = (done.clone(), tag.to_owned());
        let handle = std::thread::spawn(move || {
            let mut stopped = HashSet::new();
            while !flag.load(Ordering::Relaxed) {
                for pid in support::tagged_processes(&tag) {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
                    if stat.is_ok_and(|s| state_of(&s) == Some('T')) {
                        stopped.insert(pid);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            stopped
        });
        StoppedWatch { done, handle }
    }

    /// The pids seen stopped.
    fn finish(self) -> HashSet<u32> {
        self.done.store(true, Ordering::Relaxed);
        self.handle.join().expect("the watch thread")
    }
}

/// Runs a shipped scenario while watching for stopped processes.
fn run_watched(name: &str, extra: &[&str]) -> (Run, HashSet<u32>) {
    let (child, pending) = Bench::run(&scenario(name), extra).spawn();
    let watch = StoppedWatch::start(&pending.tag);
    let run = pending.finish(child);
    (run, watch.finish())
}

/// The pause's `stopped (SIGSTOP` row of faults.csv, applied, on an
/// instance with a pid; returns that pid.
fn frozen_instance(run: &Run) -> u32 {
    let faults = run.csv("faults.csv");
    let frozen: Vec<_> = faults
        .iter()
        .filter(|f| f["what"].contains("stopped (SIGSTOP") && f["applied"] == "true")
        .collect();
    assert_eq!(frozen.len(), 1, "one instance froze: {faults:?}");
    let row = frozen[0];
    assert_eq!(row["fault"], "pause", "{row:?}");
    let index: usize = row["instance"]
        .parse()
        .unwrap_or_else(|_| panic!("{row:?}"));
    assert!(index < 4, "{row:?}");
    let pid = num(row, "pid");
    assert!(pid > 0, "{row:?}");
    assert!(
        faults
            .iter()
            .any(|f| f["what"] == format!("instance {index} resumed (SIGCONT)")),
        "{faults:?}"
    );
    pid as u32
}

#[test]
fn the_article_service_oversells_when_its_lock_holder_is_frozen() {
    // Alone: on a loaded machine the 50 ms lock expires between an
    // instance's own commands without any pause, and the run tests nothing.
    let _alone = support::alone();
    let (run, stopped) = run_watched("service-article", &[]);
    run.assert_code(1);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "FAIL", "{context}");
    assert!(num(&s, "oversold") >= 1, "{context}");
    assert_eq!(num(&s, "final_stock"), -num(&s, "oversold"), "{context}");
    assert!(run.stdout.contains("FAIL: Oversold"), "{context}");
    assert_eq!(audit_row(&run, "final_stock_non_negative")["pass"], "false");
    // The watch caught it holding the lock, between its GET and INCRBY.
    let faults = run.csv("faults.csv");
    assert!(
        faults
            .iter()
            .any(|f| f["what"]
                .starts_with("caught in its critical section: holding the lock, its GET")),
        "{faults:?}"
    );
    let pid = frozen_instance(&run);
    assert!(
        stopped.contains(&pid),
        "pid {pid} was never seen stopped (seen: {stopped:?})\n{context}"
    );
}

#[test]
fn the_lua_service_passes_the_same_pause() {
    let (run, stopped) = run_watched("service-lua", &[]);
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert_eq!(num(&s, "final_stock"), 0, "{context}");
    assert_eq!(num(&s, "oversold"), 0, "{context}");
    // Requests to the frozen instance time out (300 ms): in doubt, and
    // the units they took are accounted for by the doubt, never sold twice.
    assert_eq!(num(&s, "sold") + num(&s, "lost"), 60, "{context}");
    assert!(num(&s, "lost") <= num(&s, "in_doubt"), "{context}");
    assert_eq!(audit_row(&run, "orders_match_sales")["pass"], "true");
    assert_eq!(audit_row(&run, "every_sale_recorded")["pass"], "true");
    // No lock in this service: caught at its script on the stock key.
    let faults = run.csv("faults.csv");
    assert!(
        faults
            .iter()
            .any(|f| f["what"].starts_with("caught at its EVALSHA on the stock key")),
        "{faults:?}"
    );
    let pid = frozen_instance(&run);
    assert!(
        stopped.contains(&pid),
        "pid {pid} was never seen stopped (seen: {stopped:?})\n{context}"
    );
}

#[test]
fn a_crashed_and_restarted_instance_leaves_a_pass_with_bounded_doubt() {
    let run = Bench::run(&scenario("service-restart"), &["--set", "load.duration=3s"]).output();
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert_eq!(s["faults_applied"], "1", "{context}");
    // At most what the 32 clients had under way can be in doubt.
    assert!(num(&s, "in_doubt") <= 32, "{context}");
    assert!(num(&s, "lost") <= num(&s, "in_doubt"), "{context}");
    assert_eq!(
        num(&s, "initial_stock") - num(&s, "final_stock"),
        num(&s, "sold") + num(&s, "lost"),
        "{context}"
    );
    let faults = run.csv("faults.csv");
    let killed = faults
        .iter()
        .find(|f| f["what"].contains("stopped (crash: SIGKILL)") && f["applied"] == "true")
        .unwrap_or_else(|| panic!("no applied crash in {faults:?}"));
    assert_eq!(killed["fault"], "restart", "{killed:?}");
    assert_eq!(killed["instance"], "1", "{killed:?}");
    let old_pid = num(killed, "pid");
    assert!(old_pid > 0, "{killed:?}");
    let again = faults
        .iter()
        .find(|f| f["what"].starts_with("instance 1 started again (pid "))
        .unwrap_or_else(|| panic!("no restart in {faults:?}"));
    assert!(
        !again["what"].contains(&format!("(pid {old_pid})")),
        "a new process: {again:?}"
    );
    // The instance itself says it listened twice, once per start, on one
    // port: a process that failed to bind would leave a traceback instead.
    let log = service_log(&run, "1");
    let listening: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("lua_service: listening on "))
        .collect();
    assert_eq!(listening.len(), 2, "{log}");
    assert_eq!(listening[0], listening[1], "{log}");
    assert!(!log.contains("Traceback"), "{log}");
    // And sales went on after the restart, 1 s after the crash.
    let restarted_at: f64 = again["t_s"].parse().unwrap();
    assert!(
        support::sales_from(&run, restarted_at) > 0,
        "no sale after the restart at {restarted_at} s\n{context}"
    );
}

/// A scenario whose service is `command` (a TOML array's items), with
/// `env` (a TOML inline table's items) and `ready_timeout`.
fn start_failure(command: &str, env: &str, ready_timeout: &str) -> String {
    format!(
        r#"name = "start-failure"

[stock]
initial = 10

[load]
processes = 1
clients_per_process = 1
purchases_per_client = 1

[strategy]
kind = "http"
url = "{{instance}}/buy"
reply = "/result"

[strategy.replies]
"sold" = "sold"
"sold_out" = "sold_out"

[service]
command = [{command}]
instances = 2
env = {{ {env} }}
ready_path = "/health"
ready_timeout = "{ready_timeout}"
stop_grace = "1s"
"#
    )
}

/// `service instance <index> (port P)` in a start failure's message: P.
fn failed_port(run: &Run, index: usize) -> u16 {
    let head = format!("service instance {index} (port ");
    let at = run
        .stderr
        .find(&head)
        .unwrap_or_else(|| panic!("no `{head}`\n{}", run.context()));
    let rest = &run.stderr[at + head.len()..];
    rest[..rest.find(')').unwrap()].parse().unwrap()
}

fn assert_fast_exit_4(run: &Run) {
    run.assert_code(4);
    assert!(
        run.elapsed < Duration::from_secs(20),
        "took {:?}\n{}",
        run.elapsed,
        run.context()
    );
    assert!(
        run.stderr.contains("last lines of its stderr:"),
        "{}",
        run.context()
    );
    assert!(!run.out().join("summary.csv").exists(), "{}", run.context());
}

#[test]
fn an_instance_that_never_gets_ready_exits_4_naming_it_and_its_port() {
    let command = format!(
        r#""python3", "{}", "--port", "{{port}}", "--mode", "never-ready""#,
        service("misbehave.py")
    );
    let run = run_text(&start_failure(&command, "", "2s"));
    assert_fast_exit_4(&run);
    let context = run.context();
    // It waited out ready_timeout, for instance 0, the first checked.
    assert!(run.elapsed >= Duration::from_secs(2), "{context}");
    let port = failed_port(&run, 0);
    assert!(run.stderr.contains("not ready after 2s"), "{context}");
    assert!(run.stderr.contains("GET /health answered 503"), "{context}");
    assert!(
        run.stderr
            .contains(&format!("| misbehave: listening on 127.0.0.1:{port}")),
        "the port named is the one it listened on\n{context}"
    );
    assert!(
        run.stderr.contains("| misbehave: warming up forever"),
        "{context}"
    );
    // `finish` found no process of the run (the instances included, by
    // the tag in their environment) left running.
}

#[test]
fn an_instance_that_exits_at_start_exits_4_and_the_ready_one_is_stopped() {
    // Instance 0 is a healthy shop, ready first; instance 1 exits at once.
    let shell = format!(
        "if [ {{index}} = 1 ]; then exec python3 {} --port {{port}} --mode exit; else exec python3 {} --port {{port}}; fi",
        service("misbehave.py"),
        service("reply_service.py"),
    );
    let command = format!(r#""sh", "-c", "{shell}""#);
    let env = r#"REDIS_URL = "{redis_url}", STOCK_KEY = "{stock}", ORDERS_KEY = "{run}:orders""#;
    let run = run_text(&start_failure(&command, env, "15s"));
    assert_fast_exit_4(&run);
    let context = run.context();
    failed_port(&run, 1);
    assert!(
        run.stderr
            .contains("exited during start-up (exit status: 3)"),
        "{context}"
    );
    assert!(
        run.stderr
            .contains("| fatal: cannot open the orders database"),
        "{context}"
    );
    assert!(
        !run.stderr.contains("service instance 0"),
        "instance 0 was ready: {context}"
    );
    // Instance 0, ready and serving, was stopped too: `finish` checks that
    // no process carrying the run's tag is left.
}

#[test]
fn an_instance_on_a_taken_port_exits_4_with_address_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let command = format!(
        r#""python3", "{}", "--port", "{{port}}", "--mode", "port-taken""#,
        service("misbehave.py")
    );
    let env = format!(r#"TAKEN_PORT = "{port}""#);
    let run = run_text(&start_failure(&command, &env, "15s"));
    assert_fast_exit_4(&run);
    let context = run.context();
    failed_port(&run, 0);
    assert!(run.stderr.contains("exited during start-up"), "{context}");
    assert!(
        run.stderr
            .contains(&format!("| misbehave: binding 127.0.0.1:{port}")),
        "{context}"
    );
    assert!(run.stderr.contains("Address already in use"), "{context}");
    drop(taken);
}

#[test]
fn an_unmapped_5xx_is_in_doubt_never_a_sale_nor_a_fail() {
    let run = run_text(&reply_shop("sold,error503", "", ""));
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert_eq!(num(&s, "attempts"), 20, "{context}");
    assert_eq!(num(&s, "sold"), 10, "{context}");
    assert_eq!(num(&s, "in_doubt"), 10, "{context}");
    // A 503 took nothing: no unit is missing, and it is not an error.
    assert_eq!(num(&s, "lost"), 0, "{context}");
    assert_eq!(num(&s, "final_stock"), 90, "{context}");
    assert_eq!(num(&s, "errors"), 0, "{context}");
    assert!(run.stdout.contains("10 purchase(s) in doubt"), "{context}");
}

#[test]
fn an_unmapped_reply_is_an_unexpected_reply_shown_with_its_status_and_body() {
    // A 200 whose word is not mapped, and a 418 that is not JSON at all.
    let run = run_text(&reply_shop("sold,weird,sold,teapot", "", ""));
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(num(&s, "sold"), 10, "{context}");
    assert_eq!(num(&s, "errors"), 10, "{context}");
    assert_eq!(num(&s, "in_doubt"), 0, "{context}");
    assert_eq!(s["error_kinds"], "unexpected_reply=10", "{context}");
    assert!(
        run.stdout.contains(r#"`HTTP 200: {"result":"maybe"}` x 5"#),
        "{context}"
    );
    assert!(
        run.stdout.contains("`HTTP 418: I'm a teapot` x 5"),
        "{context}"
    );
}

#[test]
fn a_mapped_rejection_is_counted_under_its_word() {
    let run = run_text(&reply_shop("sold,duplicate", "", "").replace(
        "\"sold_out\" = \"sold_out\"\n",
        "\"sold_out\" = \"sold_out\"\n\"duplicate\" = \"duplicate\"\n",
    ));
    run.assert_code(0);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "PASS", "{context}");
    assert_eq!(num(&s, "sold"), 10, "{context}");
    assert_eq!(num(&s, "rejected_duplicate"), 10, "{context}");
    assert_eq!(num(&s, "rejections"), 10, "{context}");
    assert_eq!(num(&s, "rejected_sold_out"), 0, "{context}");
    assert_eq!(num(&s, "errors"), 0, "{context}");
    assert_eq!(num(&s, "in_doubt"), 0, "{context}");
    assert!(run.stdout.contains("duplicate 10"), "{context}");
}

/// The ids a `reply_service` instance says it did not record.
fn not_recorded(log: &str) -> HashSet<String> {
    log.lines()
        .filter_map(|l| l.strip_prefix("reply_service: order "))
        .filter_map(|l| l.strip_suffix(" not recorded"))
        .map(str::to_owned)
        .collect()
}

/// `first: a, b, c)` of an `every_sale_recorded` observation: the ids.
fn named_ids(observed: &str) -> Vec<String> {
    let list = observed
        .split_once("(first: ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .unwrap_or_else(|| panic!("no ids named in {observed:?}"))
        .0;
    list.split(", ").map(str::to_owned).collect()
}

#[test]
fn an_acknowledged_order_missing_from_the_orders_key_is_named() {
    let orders = "[audit]\norders = \"{run}:orders\"\n";
    let order_id = "order_id = \"/order_id\"";

    let run = run_text(&reply_shop("sold,lost_order", order_id, orders));
    run.assert_code(1);
    let s = run.summary();
    let context = run.context();
    assert_eq!(s["verdict"], "FAIL", "{context}");
    assert_eq!((num(&s, "sold"), num(&s, "orders")), (20, 10), "{context}");
    let recorded = audit_row(&run, "every_sale_recorded");
    assert_eq!(recorded["pass"], "false", "{recorded:?}");
    assert!(
        recorded["observed"].starts_with("10 of 20 missing (first: "),
        "{recorded:?}"
    );
    let log = service_log(&run, "0");
    let lost = not_recorded(&log);
    assert_eq!(lost.len(), 10, "{context}\n--- service-0.log\n{log}");
    let named = named_ids(&recorded["observed"]);
    assert_eq!(named.len(), 5, "{recorded:?}");
    for id in &named {
        assert!(lost.contains(id), "{id} was recorded: {lost:?}");
    }
    assert_eq!(audit_row(&run, "orders_match_sales")["pass"], "false");

    // As many orders as sales, under other ids than the buyers were
    // given: the count cannot see it, the ids can.
    let run = run_text(&reply_shop("sold,wrong_id", order_id, orders));
    run.assert_code(1);
    let context = run.context();
    assert_eq!(num(&run.summary(), "orders"), 20, "{context}");
    assert_eq!(audit_row(&run, "orders_match_sales")["pass"], "true");
    let recorded = audit_row(&run, "every_sale_recorded");
    assert_eq!(recorded["pass"], "false", "{recorded:?}");
    assert!(
        recorded["observed"].starts_with("10 of 20 missing"),
        "{recorded:?}"
    );
    let wrong = not_recorded(&service_log(&run, "0"));
    for id in named_ids(&recorded["observed"]) {
        assert!(
            wrong.contains(&id),
            "{id} is not a replied-only id: {wrong:?}"
        );
    }
    assert!(
        run.stdout.contains("broken: every_sale_recorded"),
        "{context}"
    );
}

/// A run of one `misbehave.py --mode slow-stop` instance (it ignores
/// SIGTERM and has a `sleep 300` child in its group) at 20 purchases/s for
/// a minute, its two pids written to `<files>/pids`, and `<files>/bought`
/// created at its first purchase.
fn slow_stop_run(files: &Path) -> Bench {
    let text = format!(
        r#"name = "slow-stop"

[stock]
initial = 100

[load]
processes = 1
clients_per_process = 1
duration = "60s"
rate = 20

[strategy]
kind = "http"
url = "{{instance}}/buy"
reply = "/result"

# Its every reply is sold_out: a rejection here, so the load goes on.
[strategy.replies]
"sold" = "sold"
"sold_out" = "nothing_left"

[service]
command = ["python3", "{script}", "--port", "{{port}}", "--mode", "slow-stop"]
env = {{ PID_FILE = "{files}/pids", FIRST_BUY_FILE = "{files}/bought" }}
ready_path = "/health"
stop_grace = "1s"
"#,
        script = service("misbehave.py"),
        files = files.display(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow-stop.toml");
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("report").display().to_string();
    let args = ["run", &path.display().to_string(), "--out", &out].map(str::to_owned);
    Bench::new(args.to_vec(), dir)
}

/// Waits for the slow-stop instance's first purchase (the load is under
/// way), then reads the instance's pid and its child's.
fn under_load(files: &Path, child: &mut std::process::Child) -> (u32, u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !files.join("bought").exists() {
        let exited = child.try_wait().expect("checking on seckill-bench");
        assert!(exited.is_none(), "the run ended first: {exited:?}");
        assert!(
            Instant::now() < deadline,
            "no purchase reached the instance"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(files.join("pids")).expect("its pid file");
    let pids: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{text:?}");
    (pids[0], pids[1])
}

#[test]
fn ctrl_c_stops_an_instance_that_ignores_sigterm_and_its_child() {
    let files = tempfile::tempdir().unwrap();
    let (mut child, pending) = slow_stop_run(files.path()).spawn();
    let (instance, sleeper) = under_load(files.path(), &mut child);
    assert!(!gone(instance) && !gone(sleeper), "both run under load");
    let interrupted = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = pending.finish(child);
    let context = run.context();
    // SIGTERM ignored: SIGKILL to the group after stop_grace (1 s).
    assert!(
        interrupted.elapsed() < Duration::from_secs(10),
        "took {:?} after Ctrl-C\n{context}",
        interrupted.elapsed()
    );
    assert_eq!(
        wait_gone(&[instance, sleeper], Duration::from_secs(5)),
        Vec::<u32>::new(),
        "{context}"
    );
    assert_eq!(run.summary()["interrupted"], "true", "{context}");
}

#[test]
fn a_sigkilled_coordinator_takes_its_instance_and_what_it_forked_along() {
    let files = tempfile::tempdir().unwrap();
    let (mut child, pending) = slow_stop_run(files.path()).spawn();
    let (instance, sleeper) = under_load(files.path(), &mut child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    // Its parent-death signal kills the instance at once, SIGTERM or not;
    // what it forked (the `sleep 300`) has none of its own: the run's
    // reaper, which outlives the coordinator, kills the instance's group.
    let left = wait_gone(&[instance, sleeper], Duration::from_secs(5));
    for &pid in &left {
        // SAFETY: the pid is the misbehave.py instance's or its child's:
        // killed so the suite leaves nothing behind, then failed below.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let run = pending.finish(child);
    assert_eq!(run.code(), -1, "killed by a signal: {}", run.context());
    assert_eq!(left, Vec::<u32>::new(), "{}", run.context());
}

#[test]
fn bad_http_and_service_settings_exit_2_naming_the_field() {
    let shop = reply_shop("sold", "", "");
    let service_table = shop
        .split_once("[service]")
        .map(|(_, rest)| format!("[service]{}", &rest[..rest.find("\n\n").unwrap()]))
        .unwrap();
    let without_service = shop.replace(&service_table, "");
    // (scenario, the line it must point at, the field, the reason)
    let cases = [
        (
            without_service.clone(),
            "url = ",
            "strategy.url",
            "names {instance}, but there is no [service]",
        ),
        (
            format!(
                "{}\n{service_table}\n",
                crate::VALID.replace("kind = \"article\"", "kind = \"lua\"")
            ),
            "[service]",
            "service",
            "this scenario's purchases run `lua`, which never calls it",
        ),
        (
            shop.replace("\"{port}\"]", "\"{prot}\"]"),
            "command = ",
            "service.command",
            "unknown placeholder {prot}",
        ),
        (
            shop.replace(
                "timeout_ms = 5000",
                "timeout_ms = 5000\norder_id = \"/order_id\"",
            ),
            "order_id = ",
            "strategy.order_id",
            "there is no audit.orders",
        ),
        (
            shop.replace(
                "url = \"{instance}/buy\"",
                "url = \"http://127.0.0.1:1/buy\"",
            ),
            "url = ",
            "strategy.url",
            "the [service] instances the harness starts would get no load",
        ),
        (
            shop.replace(
                "url = \"{instance}/buy\"",
                "url = \"http://u:pw@127.0.0.1:1/buy\"",
            ),
            "url = ",
            "strategy.url",
            "has a user and password in it",
        ),
        (
            format!(
                "{shop}\n[[faults]]\nkind = \"restart\"\ntarget = \"lock-holder\"\nat = \"1s\"\n"
            ),
            "target = \"lock-holder\"",
            "faults[0].target",
            "a restart is not aimed at the lock holder",
        ),
    ];
    for (text, line_with, field, why) in cases {
        let line = 1 + text
            .lines()
            .position(|l| l.starts_with(line_with))
            .unwrap_or_else(|| panic!("no `{line_with}` in\n{text}"));
        let run = run_text(&text);
        run.assert_code(2);
        let context = run.context();
        let at = format!("scenario.toml:{line}: field `{field}`: ");
        assert!(run.stderr.contains(&at), "{at}\n{context}");
        assert!(run.stderr.contains(why), "{why}: {context}");
        assert!(!run.out().exists(), "nothing written on bad input");
    }
}

/// A lock-holder pause on a service that never touches the stock key (it
/// answers every purchase itself) finds no critical section: the fault is
/// not applied and the run is INCONCLUSIVE, never PASS.
#[test]
fn a_lock_holder_pause_with_no_critical_section_to_catch_is_inconclusive() {
    let text = format!(
        r#"name = "no-critical-section"

[stock]
initial = 100

[load]
processes = 1
clients_per_process = 2
duration = "1.5s"
rate = 40

[service]
command = ["python3", "{script}", "--mode", "slow-stop", "--port", "{{port}}"]
ready_path = "/health"
stop_grace = "200ms"

[strategy]
kind = "http"
url = "{{instance}}/buy"
reply = "/result"

[strategy.replies]
"sold" = "sold"
"sold_out" = "nope"

[[faults]]
kind = "pause"
target = "lock-holder"
at = "0.3s"
duration = "500ms"
"#,
        script = service("misbehave.py"),
    );
    let run = run_text(&text);
    let context = run.context();
    run.assert_code(5);
    assert_eq!(run.summary()["verdict"], "INCONCLUSIVE", "{context}");
    let faults = run.csv("faults.csv");
    assert!(
        faults.iter().any(|f| f["applied"] == "false"
            && f["what"].contains("no instance touched the stock key while holding the lock")),
        "{faults:?}\n{context}"
    );
    assert!(
        !faults
            .iter()
            .any(|f| f["what"].contains("stopped (SIGSTOP")),
        "{faults:?}"
    );
}

/// `kind = "http"` against the user's own running service (no
/// `[service]`): `[stock] key` names the key it reads. The harness sets
/// it, deletes it at the end, and refuses to start when it already exists,
/// leaving it as it was.
#[test]
fn the_users_own_service_gets_its_stock_key_set_and_deleted_and_an_existing_one_is_refused() {
    let redis = support::redis();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = "shop:sku-7:stock";
    let mut shop = std::process::Command::new("python3")
        .arg(service("reply_service.py"))
        .args(["--port", &port.to_string()])
        .env("REDIS_URL", redis.url())
        .env("STOCK_KEY", key)
        .env("ORDERS_KEY", "shop:sku-7:orders")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(15),
            "the shop never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = format!(
        r#"name = "own-shop"

[redis]
url = "{url}"

[stock]
initial = 12
key = "{key}"

[load]
processes = 1
clients_per_process = 3
purchases_per_client = 10

[strategy]
kind = "http"
url = "http://127.0.0.1:{port}/buy"
body = '{{"buyer": "{{buyer}}", "quantity": {{quantity}}}}'
reply = "/result"

[strategy.replies]
"sold" = "sold"
"sold_out" = "sold_out"
"#,
        url = redis.url(),
    );
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let run = run_text(&text);
    let context = run.context();
    run.assert_code(0);
    let s = run.summary();
    assert_eq!(num(&s, "sold"), 12, "{context}");
    assert_eq!(num(&s, "final_stock"), 0, "{context}");
    let left: bool = redis::cmd("EXISTS").arg(key).query(&mut conn).unwrap();
    assert!(!left, "the stock key was not deleted\n{context}");
    // The shop's orders key is its own, not the run's: left alone.
    let orders: u64 = redis::cmd("HLEN")
        .arg("shop:sku-7:orders")
        .query(&mut conn)
        .unwrap();
    assert_eq!(orders, 12, "{context}");

    let () = redis::cmd("SET").arg(key).arg(5).query(&mut conn).unwrap();
    let refused = run_text(&text);
    refused.assert_code(4);
    assert!(
        refused.stderr.contains(key) && refused.stderr.contains("already exists"),
        "{}",
        refused.context()
    );
    let kept: i64 = redis::cmd("GET").arg(key).query(&mut conn).unwrap();
    assert_eq!(kept, 5, "the existing key was touched");
    let _ = shop.kill();
    let _ = shop.wait();
}

/// The user's own service (a fixed URL) is reached before the load
/// starts: nothing listening there exits 4 at once, naming it.
#[test]
fn your_own_service_not_listening_exits_4_fast_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        r#"name = "nobody-home"

[stock]
initial = 10

[load]
processes = 1
clients_per_process = 2
duration = "20s"

[strategy]
kind = "http"
url = "http://127.0.0.1:{port}/buy"

[strategy.replies]
"200" = "sold"
"#
    );
    let began = Instant::now();
    let run = run_text(&text);
    let context = run.context();
    assert!(began.elapsed() < Duration::from_secs(10), "{context}");
    run.assert_code(4);
    assert!(
        run.stderr
            .contains(&format!("your service at 127.0.0.1:{port}")),
        "{context}"
    );
}

/// Every instance exiting by itself mid-run: the load stops there, each
/// purchase on the way ends at its timeout as not sent, and the run is
/// INCONCLUSIVE, never a PASS on the sales made before.
#[test]
fn a_run_whose_every_instance_exits_by_itself_stops_inconclusive() {
    // One client, so the three sales are answered before the fourth
    // request kills the one instance.
    let text = reply_shop("sold,sold,sold,die", "", "")
        .replace("processes = 2", "processes = 1")
        .replace("clients_per_process = 2", "clients_per_process = 1")
        .replace("purchases_per_client = 5", "duration = \"20s\"")
        .replace("timeout_ms = 5000", "timeout_ms = 300");
    let began = Instant::now();
    let run = run_text(&text);
    let context = run.context();
    assert!(began.elapsed() < Duration::from_secs(15), "{context}");
    run.assert_code(5);
    let s = run.summary();
    assert_eq!(s["verdict"], "INCONCLUSIVE", "{context}");
    assert!(num(&s, "sold") >= 1, "{context}");
    assert!(
        run.stdout
            .contains("every service instance had exited by itself"),
        "{context}"
    );
}
