//! Hostile input and hostile environments, as a table: each row is what a
//! careless user, a hostile CI job or a security reviewer might do, the
//! exit code it must give, a word its message must contain, and the checks
//! that nothing is left behind: no process of ours (checked by
//! `Pending::finish`), no temp dir of ours, no key outside the run's prefix,
//! and no password in stdout, stderr or any report file.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{self, Bench};

/// The password every row that carries one uses; it must never show.
const PW: &str = support::ROW_PASSWORD;

/// A small valid scenario; rows change it with `--set`.
const TINY: &str = r#"
name = "tiny"

[stock]
initial = 20

[load]
processes = 2
clients_per_process = 2
purchases_per_client = 3

[strategy]
kind = "article"
retry_interval_ms = 1
"#;

/// What a row needs around the binary.
#[derive(Clone, Copy)]
enum Env {
    /// Nothing: the run starts its own embedded redis-server.
    Embedded,
    /// `{redis}` in the arguments is a test redis-server's URL; a key
    /// outside the run's prefix is planted there and must survive alone.
    Redis,
    /// `{port}` is a loopback port that accepts and never answers.
    Silent,
    /// `{port}` is a loopback port that answers in HTTP.
    Http,
}

struct Row {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    around: Env,
    code: i32,
    /// Must appear in stdout or stderr (case-insensitive).
    word: &'static str,
    /// Must appear too, each of them.
    also: &'static [&'static str],
    /// The longest it may take, start to exit.
    within: Duration,
    /// An address-space limit for the run, for rows that probe an
    /// unbounded read: a regression then fails the row, not the machine.
    memory: Option<u64>,
}

/// Each row is a refusal or a sale of a few units, the slowest waiting out
/// one 3 s connect timeout (the silent server): a few seconds, with slack
/// for a busy machine, and far short of a hang or a retry loop.
const FAST: Duration = Duration::from_secs(20);

fn row(name: &'static str, args: &'static [&'static str], code: i32, word: &'static str) -> Row {
    Row {
        name,
        args,
        env: &[],
        around: Env::Embedded,
        code,
        word,
        also: &[],
        within: FAST,
        memory: None,
    }
}

fn also(mut r: Row, words: &'static [&'static str]) -> Row {
    r.also = words;
    r
}

/// Enough for the harness to start and refuse; far less than reading
/// `/dev/zero` without a bound takes.
const MEMORY: u64 = 2 << 30;

fn capped(mut r: Row) -> Row {
    r.memory = Some(MEMORY);
    r
}

fn with_env(mut r: Row, env: &'static [(&'static str, &'static str)]) -> Row {
    r.env = env;
    r
}

fn around(mut r: Row, env: Env) -> Row {
    r.around = env;
    r
}

/// Bad input: exit 2, a message naming what is wrong, nothing written.
fn bad_input() -> Vec<Row> {
    vec![
        row("missing file", &["run", "nope.toml"], 2, "nope.toml"),
        also(row("tls_ca with embedded tls", &["run", "{tiny}", "--set", "redis.tls=true", "--set", "redis.tls_ca=ca.pem"], 2, "redis.tls_ca"), &["generated for the run"]),
        also(row("empty script", &["run", "{own}", "--set", "strategy.script={empty}"], 2, "strategy.script"), &["empty.lua is empty"]),
        row("not toml", &["run", "{file:not toml [}"], 2, "scenario.toml"),
        row("unknown key", &["run", "{tiny}", "--set", "load.proceses=2"], 2, "proceses"),
        row("zero processes", &["run", "{tiny}", "--set", "load.processes=0"], 2, "processes"),
        row("negative stock", &["run", "{tiny}", "--set", "stock.initial=-1"], 2, "initial"),
        row("set without =", &["run", "{tiny}", "--set", "load.processes"], 2, "PATH=VALUE"),
        row("set bad path", &["run", "{tiny}", "--set", "load..x=1"], 2, "dotted field path"),
        row("magic strategy", &["run", "{tiny}", "--set", "strategy.kind=magic"], 2, "magic"),
        row("bad duration", &["run", "{tiny}", "--set", "load.duration=5 parsecs"], 2, "duration"),
        row("flush longer than the interval", &["run", "{tiny}", "--set", "report.flush_interval=2s"], 2, "report.flush_interval"),
        row("bad fault time", &["run", "{tiny}", "--set", "faults=[{kind=\"pause\",at=\"soon\",target=\"random\",duration=\"1s\"}]"], 2, "at"),
        row("repeat zero", &["run", "{tiny}", "--repeat", "0"], 2, "repeat"),
        row("sweep repeat", &["sweep", "{tiny}", "--repeat", "2"], 2, "--repeat is for `run`"),
        row("unknown command", &["frobnicate"], 2, "frobnicate"),
        row("redis url not a url", &["run", "{tiny}", "--redis-url", "localhost:6379"], 2, "redis://"),
        row("compare missing folder", &["compare", "nope-a", "nope-b"], 2, "nope-a"),
        row("compare NaN tolerance", &["compare", ".", ".", "--max-regression", "NaN"], 2, "max-regression"),
        row("compare infinite tolerance", &["compare", ".", ".", "--max-regression", "inf"], 2, "max-regression"),
        row("compare negative tolerance", &["compare", ".", ".", "--max-regression", "-5"], 2, "max-regression"),
        also(row("compare a duplicated column", &["compare", "{baseline}", "{dup}"], 2, "dup/summary.csv"), &["column `sold` twice"]),
        also(row("compare a garbage verdict", &["compare", "{baseline}", "{garbage}"], 2, "garbage/summary.csv:2"), &["`MAYBE` is not a verdict"]),
        row("set blamed on the flag", &["run", "{tiny}", "--set", "load.processes=0"], 2, "--set load.processes=0"),
        row("integer beyond 64 bits", &["run", "{tiny}", "--set", "stock.initial=99999999999999999999"], 2, "stock.initial"),
        row("name too long for a folder", &["run", "{file:name=\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"\n[stock]\ninitial=1\n[load]\nprocesses=1\nclients_per_process=1\npurchases_per_client=1\n[strategy]\nkind=\"lua\"\n}"], 2, "name"),
        row("sweep with a magic strategy", &["sweep", "{file:name=\"s\"\n[stock]\ninitial=10\n[load]\nprocesses=1\nclients_per_process=1\npurchases_per_client=2\n[strategy]\nkind=\"lua\"\n[sweep]\n\"load.processes\"=[1,2]\n}", "--set", "strategy.kind=magic"], 2, "magic"),
        row("sweep with a set on a swept field", &["sweep", "{file:name=\"s\"\n[stock]\ninitial=10\n[load]\nprocesses=1\nclients_per_process=1\npurchases_per_client=2\n[strategy]\nkind=\"lua\"\n[sweep]\n\"load.processes\"=[1,2]\n}", "--set", "load.processes=3"], 2, "load.processes"),
        // Passwords in every error path: the message names the problem,
        // never the secret.
        row("password: typo in path", &["run", "{tiny}", "--set", "redis.urll=redis://:Zq9hunter2@127.0.0.1:1/0"], 2, "urll"),
        row("password: brackets forgotten", &["run", "{tiny}", "--set", "redis.redlock_urls=redis://:Zq9hunter2@127.0.0.1:1/0"], 2, "redlock_urls"),
        row("password: table with a bogus key", &["run", "{tiny}", "--set", "redis={url=\"redis://:Zq9hunter2@127.0.0.1:1/0\",bogus=1}"], 2, "bogus"),
        row("password: path forgotten", &["run", "{tiny}", "--set", "redis://:Zq9hunter2@127.0.0.1:1/0"], 2, "PATH=VALUE"),
        row("password: valkey scheme", &["run", "{tiny}", "--set", "redis.redlock_urls=[\"valkey://:Zq9hunter2@127.0.0.1:1/0\"]"], 2, "redis://"),
        row("password: string in the file", &["run", "{file:name=\"x\"\n[stock]\ninitial=1\n[load]\nprocesses=1\nclients_per_process=1\npurchases_per_client=1\n[strategy]\nkind=\"redlock\"\n[redis]\nredlock_urls = \"redis://:Zq9hunter2@127.0.0.1:1/0\"\n}"], 2, "redlock_urls"),
        row("password: bad url with a bad field", &["run", "{tiny}", "--redis-url", "redis://:Zq9hunter2@127.0.0.1:1/0", "--set", "load.x=1"], 2, "load.x"),
        with_env(
            row("password: environment url, bad field", &["run", "{tiny}", "--set", "stock.nope=1"], 2, "nope"),
            &[("SECKILL_REDIS_URL", "redis://:Zq9hunter2@127.0.0.1:1/0")],
        ),
    ]
}

/// `--out` to a folder with contents: refused without `--force`, for
/// every command that writes one.
fn out_folders() -> Vec<Row> {
    const SWEEP: &str = "{file:name=\"s\"\n[stock]\ninitial=10\n[load]\nprocesses=1\nclients_per_process=1\npurchases_per_client=2\n[strategy]\nkind=\"lua\"\n[sweep]\n\"load.processes\"=[1,2]\n}";
    const CAPACITY: &str = "{file:name=\"c\"\n[stock]\ninitial=1000000\n[load]\nprocesses=1\nclients_per_process=1\nduration=\"1s\"\n[strategy]\nkind=\"lua\"\n[capacity]\nstep_duration=\"1s\"\nmin_rate=100\nmax_rate=200\nslo=\"p99<1s\"\n}";
    vec![
        also(
            row(
                "run: out folder not empty",
                &["run", "{tiny}", "--out", "{full}"],
                2,
                "--out",
            ),
            &["is not empty", "--force"],
        ),
        also(
            row(
                "sweep: out folder not empty",
                &["sweep", SWEEP, "--out", "{full}"],
                2,
                "--out",
            ),
            &["is not empty", "--force"],
        ),
        also(
            row(
                "capacity: out folder not empty",
                &["capacity", CAPACITY, "--out", "{full}"],
                2,
                "--out",
            ),
            &["is not empty", "--force"],
        ),
        also(
            row(
                "run: out is a file",
                &["run", "{tiny}", "--out", "{tiny}"],
                2,
                "--out",
            ),
            &["not a folder"],
        ),
        row(
            "run: force without out",
            &["run", "{tiny}", "--force"],
            2,
            "--force is for --out",
        ),
        row(
            "run: out names no folder",
            &["run", "{tiny}", "--out", ".."],
            2,
            "names no folder",
        ),
    ]
}

/// Files that are not what their field wants: a device, a FIFO, a file far
/// too big. Refused before a byte is read, under a memory limit.
fn unbounded_files() -> Vec<Row> {
    vec![
        capped(also(
            row(
                "script is /dev/zero",
                &["run", "{own}", "--set", "strategy.script=/dev/zero"],
                2,
                "strategy.script",
            ),
            &["character device, not a regular file"],
        )),
        capped(also(
            row(
                "scenario is /dev/zero",
                &["run", "/dev/zero"],
                2,
                "scenario file /dev/zero",
            ),
            &["not a regular file"],
        )),
        capped(also(
            row("scenario is a FIFO", &["run", "{fifo}"], 2, "scenario file"),
            &["FIFO"],
        )),
        capped(also(
            row(
                "script too big",
                &["run", "{own}", "--set", "strategy.script={big}"],
                2,
                "strategy.script",
            ),
            &["more than the 4.0 MiB allowed for a Lua script"],
        )),
        capped(also(
            row("scenario too big", &["run", "{big}"], 2, "scenario file"),
            &["allowed for a scenario file"],
        )),
        capped(also(
            row(
                "tls_ca is /dev/zero",
                &[
                    "run",
                    "{tiny}",
                    "--redis-url",
                    "rediss://127.0.0.1:1/0",
                    "--set",
                    "redis.tls_ca=/dev/zero",
                ],
                2,
                "redis.tls_ca",
            ),
            &["not a regular file"],
        )),
        capped(also(
            row(
                "tls_cert too big",
                &[
                    "run",
                    "{tiny}",
                    "--redis-url",
                    "rediss://127.0.0.1:1/0",
                    "--set",
                    "redis.tls_cert={big}",
                    "--set",
                    "redis.tls_key={big}",
                ],
                2,
                "redis.tls_cert",
            ),
            &["allowed for a PEM certificate"],
        )),
        capped(also(
            row(
                "tls_key a FIFO",
                &[
                    "run",
                    "{tiny}",
                    "--redis-url",
                    "rediss://127.0.0.1:1/0",
                    "--set",
                    "redis.tls_cert={tiny}",
                    "--set",
                    "redis.tls_key={fifo}",
                ],
                2,
                "redis.tls_key",
            ),
            &["FIFO"],
        )),
    ]
}

/// A one-host `[hosts]` scenario whose launcher is `$launcher`.
macro_rules! hosts_file {
    ($launcher:literal) => {
        concat!(
            "{file:name=\"h\"\n[stock]\ninitial=10\n[load]\nprocesses=1\nclients_per_process=1\npurchases_per_client=1\n[strategy]\nkind=\"lua\"\n[hosts]\nlauncher = ",
            $launcher,
            "\nlist = [{ host = \"a\" }]\n}"
        )
    };
}

/// A broken environment before the load: exit 4, fast, naming the server.
fn environment() -> Vec<Row> {
    vec![
        around(
            also(
                row("launcher that exits at once", &["run", hosts_file!(r#"["true", "{host}"]"#), "--redis-url", "{redis}"], 4, "host a: the launcher `true` exited (exit status 0) before the host answered"),
                &["saying nothing on stderr", "hosts.launcher"],
            ),
            Env::Redis,
        ),
        around(
            also(
                row("launcher that only complains", &["run", hosts_file!(r#"["sh", "-c", "echo no such pod >&2", "{host}"]"#), "--redis-url", "{redis}"], 4, "before the host answered"),
                &["saying:\n  no such pod"],
            ),
            Env::Redis,
        ),
        row("closed port", &["run", "{tiny}", "--redis-url", "redis://127.0.0.1:1/0"], 4, "cannot reach Redis"),
        around(
            row("wrong password", &["run", "{tiny}", "--redis-url", "redis://:Zq9hunter2@127.0.0.1:{redis_port}/0"], 4, "cannot reach Redis"),
            Env::Redis,
        ),
        around(
            row("silent server", &["run", "{tiny}", "--redis-url", "redis://127.0.0.1:{port}/0"], 4, "cannot reach Redis"),
            Env::Silent,
        ),
        around(
            row("http server", &["run", "{tiny}", "--redis-url", "redis://127.0.0.1:{port}/0"], 4, "cannot reach Redis"),
            Env::Http,
        ),
        with_env(
            row("missing redis-server", &["run", "{tiny}"], 4, "apt-get install redis-server"),
            &[("SECKILL_REDIS_SERVER", "/nonexistent/redis-server"), ("PATH", "/nonexistent")],
        ),
        with_env(
            row("environment url to a closed port", &["run", "{tiny}"], 4, "cannot reach Redis"),
            &[("SECKILL_REDIS_URL", "redis://:Zq9hunter2@127.0.0.1:1/0")],
        ),
        around(
            row("redlock: unreachable lock server", &["run", "{tiny}", "--redis-url", "{redis}", "--set", "strategy.kind=redlock", "--set", "redis.redlock_urls=[\"redis://127.0.0.1:1/0\",\"{redis}\",\"{redis}\"]"], 4, "redlock lock server 127.0.0.1:1"),
            Env::Redis,
        ),
        around(
            row("redlock: wrong password", &["run", "{tiny}", "--redis-url", "{redis}", "--set", "strategy.kind=redlock", "--set", "redis.redlock_urls=[\"redis://:Zq9hunter2@127.0.0.1:{redis_port}/0\",\"{redis}\",\"{redis}\"]"], 4, "redlock lock server"),
            Env::Redis,
        ),
        around(
            row("redlock: database x", &["run", "{tiny}", "--redis-url", "{redis}", "--set", "strategy.kind=redlock", "--set", "redis.redlock_urls=[\"redis://127.0.0.1:{redis_port}/x\",\"{redis}\",\"{redis}\"]"], 4, "redlock lock server"),
            Env::Redis,
        ),
        with_env(
            around(
                row("redlock: environment lock servers, one dead", &["run", "{tiny}", "--redis-url", "{redis}", "--set", "strategy.kind=redlock"], 4, "redlock lock server 127.0.0.1:1"),
                Env::Redis,
            ),
            &[("SECKILL_REDLOCK_URLS", "redis://:Zq9hunter2@127.0.0.1:1/0,redis://127.0.0.1:2/0,redis://127.0.0.1:3/0")],
        ),
    ]
}

/// Runs that start: the verdict, never a PASS about a test that did not
/// happen; the keys cleaned; the password nowhere.
fn runs() -> Vec<Row> {
    vec![
        around(row("external redis passes, keys cleaned", &["run", "{tiny}", "--redis-url", "{redis}"], 0, "PASS"), Env::Redis),
        row("embedded redis passes", &["run", "{tiny}"], 0, "PASS"),
        row("quiet prints one line", &["run", "{tiny}", "--quiet"], 0, "PASS"),
        with_env(
            around(row("url from the environment", &["run", "{tiny}"], 0, "PASS"), Env::Redis),
            &[("SECKILL_REDIS_URL", "{redis_pw}")],
        ),
        around(row("password url passes", &["run", "{tiny}", "--redis-url", "{redis_pw}"], 0, "PASS"), Env::Redis),
        row("fault after the end", &["run", "{tiny}", "--set", "faults=[{kind=\"pause\",at=\"after 1000000 sales\",target=\"lock-holder\",duration=\"1s\"}]"], 5, "did not take effect"),
        row("fault time after the end", &["run", "{tiny}", "--set", "faults=[{kind=\"kill\",at=\"10m\",target=\"random\"}]"], 5, "before its time"),
        around(row("every purchase refused", &["run", "{tiny}", "--redis-url", "{redis_noset}"], 5, "definite outcome"), Env::Redis),
        row("unlocked oversells", &["run", "{tiny}", "--set", "strategy.kind=unlocked", "--set", "stock.initial=3", "--set", "strategy.stall_ms=50", "--set", "strategy.stall_fraction=1.0", "--set", "load.processes=4"], 1, "Oversold"),
        row("repeat writes trials", &["run", "{tiny}", "--repeat", "2"], 0, "PASS in 2 of 2 trials"),
        row("sweep with a violated threshold", &["sweep", "{file:name=\"s\"\n[stock]\ninitial=10\n[load]\nprocesses=1\nclients_per_process=1\npurchases_per_client=2\n[strategy]\nkind=\"lua\"\n[thresholds]\nmin_purchases_per_s=1000000000\n[sweep]\n\"load.processes\"=[1,2]\n}"], 3, "THRESHOLDS-FAILED"),
        row("threshold on a run", &["run", "{tiny}", "--set", "thresholds.min_purchases_per_s=1000000000"], 3, "THRESHOLDS-FAILED"),
        // The report folder is claimed before the load: one that cannot be
        // created stops the run at once, before any load.
        row("report folder unwritable", &["run", "{tiny}", "--out", "/proc/seckill-nowhere"], 4, "creating the report folder /proc/seckill-nowhere"),
    ]
}

/// The servers and files a row runs against; dropped after it.
struct Around {
    redis: Option<support::RedisServerGuard>,
    port: Option<u16>,
    _listener: Option<std::thread::JoinHandle<()>>,
}

fn start(env: Env) -> Around {
    match env {
        Env::Embedded => Around {
            redis: None,
            port: None,
            _listener: None,
        },
        Env::Redis => {
            let redis = support::RedisServerGuard::new();
            let mut conn = redis.connection();
            let () = redis::cmd("SET")
                .arg("victim")
                .arg("mine")
                .query(&mut conn)
                .unwrap();
            Around {
                redis: Some(redis),
                port: None,
                _listener: None,
            }
        }
        Env::Silent | Env::Http => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let http = matches!(env, Env::Http);
            let handle = std::thread::spawn(move || serve(listener, http));
            Around {
                redis: None,
                port: Some(port),
                _listener: Some(handle),
            }
        }
    }
}

/// Accepts connections for a few seconds: says nothing, or answers HTTP.
fn serve(listener: TcpListener, http: bool) {
    listener.set_nonblocking(true).unwrap();
    let until = Instant::now() + Duration::from_secs(8);
    let mut held = Vec::new();
    while Instant::now() < until {
        match listener.accept() {
            Ok((mut stream, _)) => {
                if http {
                    let mut buf = [0u8; 256];
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                    let _ = stream.read(&mut buf);
                    let _ =
                        stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
                }
                held.push(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The row's arguments with its placeholders filled in.
fn args_of(row: &Row, around: &Around, dir: &Path) -> Vec<String> {
    let tiny = dir.join("tiny.toml");
    std::fs::write(&tiny, TINY).unwrap();
    let (url, url_pw, redis_port) = match &around.redis {
        Some(r) => (r.url(), r.url_as("buyer"), r.port().to_string()),
        None => (String::new(), String::new(), String::new()),
    };
    let noset = around
        .redis
        .as_ref()
        .map(|r| r.url_as("noset"))
        .unwrap_or_default();
    let port = around.port.map(|p| p.to_string()).unwrap_or_default();
    let big = dir.join("big.lua");
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/example/ci-baseline");
    for (name, edit) in [("dup", "dup"), ("garbage", "garbage")] {
        if !row.args.iter().any(|a| a.contains(&format!("{{{name}}}"))) {
            continue;
        }
        let text = std::fs::read_to_string(baseline.join("summary.csv")).unwrap();
        let (header, rows) = text.split_once('\n').unwrap();
        let text = match edit {
            "dup" => format!("{header},sold\n{},1\n", rows.trim_end()),
            _ => format!("{header}\n{}", rows.replacen(",PASS,", ",MAYBE,", 1)),
        };
        std::fs::create_dir(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("summary.csv"), text).unwrap();
    }
    let empty = dir.join("empty.lua");
    std::fs::write(&empty, "\n  \n").unwrap();
    let full = dir.join("full");
    if row.args.contains(&"{full}") {
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("mine.txt"), "mine").unwrap();
    }
    let fifo = dir.join("fifo.pem");
    if row.args.iter().any(|a| a.contains("{big}")) {
        // Sparse: 100 MiB that take no disk.
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(100 << 20))
            .unwrap();
    }
    if row.args.iter().any(|a| a.contains("{fifo}")) {
        let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }
    let fill = |a: &str| {
        a.replace("{tiny}", &tiny.display().to_string())
            .replace("{own}", &support::scenario("own-script"))
            .replace("{big}", &big.display().to_string())
            .replace("{empty}", &empty.display().to_string())
            .replace("{baseline}", &baseline.display().to_string())
            .replace("{dup}", &dir.join("dup").display().to_string())
            .replace("{garbage}", &dir.join("garbage").display().to_string())
            .replace("{full}", &full.display().to_string())
            .replace("{fifo}", &fifo.display().to_string())
            .replace("{redis_pw}", &url_pw)
            .replace("{redis_noset}", &noset)
            .replace("{redis}", &url)
            .replace("{redis_port}", &redis_port)
            .replace("{port}", &port)
    };
    let mut args: Vec<String> = row
        .args
        .iter()
        .map(
            |a| match a.strip_prefix("{file:").and_then(|a| a.strip_suffix('}')) {
                Some(text) => {
                    let path = dir.join("scenario.toml");
                    std::fs::write(&path, fill(text)).unwrap();
                    path.display().to_string()
                }
                None => fill(a),
            },
        )
        .collect();
    // A row about `--force` alone says whether it has `--out`.
    let has_out = row.args.contains(&"--out") || row.args.contains(&"--force");
    if matches!(row.args.first(), Some(&"run" | &"sweep")) && !has_out {
        args.extend(["--out".to_owned(), dir.join("report").display().to_string()]);
    }
    args
}

/// Every file under `dir`, as text where it is text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            let text =
                String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
            found.push((path.display().to_string(), text));
        }
    }
    found
}

fn check(row: &Row) {
    let around = start(row.around);
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let args = args_of(row, &around, dir.path());
    let url_pw = around
        .redis
        .as_ref()
        .map(|r| r.url_as("buyer"))
        .unwrap_or_default();
    let mut bench = Bench::new(args, dir).env("TMPDIR", &tmp.path().display().to_string());
    if let Some(bytes) = row.memory {
        bench = bench.memory_limit(bytes);
    }
    for (key, value) in row.env {
        bench = bench.env(key, &value.replace("{redis_pw}", &url_pw));
    }
    let started = Instant::now();
    let run = bench.output();
    let took = started.elapsed();
    let name = row.name;
    let said = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code(), row.code, "[{name}] {}", run.context());
    assert!(
        said.to_lowercase().contains(&row.word.to_lowercase()),
        "[{name}] no `{}` in the output\n{}",
        row.word,
        run.context()
    );
    for word in row.also {
        assert!(
            said.to_lowercase().contains(&word.to_lowercase()),
            "[{name}] no `{word}` in the output\n{}",
            run.context()
        );
    }
    assert!(
        took <= row.within,
        "[{name}] took {took:?}\n{}",
        run.context()
    );
    assert!(
        !said.contains(PW),
        "[{name}] password in the output\n{}",
        run.context()
    );
    for (file, text) in files_under(&run.dir.path().join("report")) {
        assert!(!text.contains(PW), "[{name}] password in {file}");
    }
    let left: Vec<String> = files_under(tmp.path())
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert!(left.is_empty(), "[{name}] temp files left: {left:?}");
    if let Some(redis) = &around.redis {
        let mut conn = redis.connection();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
        assert_eq!(keys, ["victim"], "[{name}] keys after the run");
        let victim: String = redis::cmd("GET").arg("victim").query(&mut conn).unwrap();
        assert_eq!(
            victim, "mine",
            "[{name}] a key outside the prefix was touched"
        );
    }
}

#[test]
fn bad_input_exits_2_naming_the_problem_and_never_the_password() {
    let rows = bad_input();
    for row in &rows {
        check(row);
    }
}

#[test]
fn an_out_folder_with_contents_is_refused_without_force() {
    for row in &out_folders() {
        check(row);
    }
}

#[test]
fn files_that_are_not_what_their_field_wants_are_refused_unread() {
    for row in &unbounded_files() {
        check(row);
    }
}

#[test]
fn a_broken_environment_exits_4_fast_naming_the_server() {
    for row in &environment() {
        check(row);
    }
}

#[test]
fn runs_give_the_verdict_they_tested_and_leave_nothing() {
    for row in &runs() {
        check(row);
    }
}

#[test]
fn the_table_covers_forty_rows() {
    let total = bad_input().len()
        + unbounded_files().len()
        + out_folders().len()
        + environment().len()
        + runs().len();
    assert!(total >= 40, "{total} rows");
}

/// SIGHUP (a closed terminal or SSH session) stops the run like SIGTERM:
/// reports written, exit 130, nothing left.
#[test]
fn sighup_after_the_load_started_writes_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, pending) = support::endless_sale(&["--set", "load.processes=2"])
        .env("TMPDIR", &tmp.path().display().to_string())
        .spawn();
    let rest = support::wait_for_progress(&mut child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let run = pending.finish(child);
    rest.join().unwrap();
    assert_eq!(run.code(), 130, "{}", run.context());
    assert_eq!(run.summary()["interrupted"], "true");
    assert!(files_under(tmp.path()).is_empty(), "temp files left");
}

/// A worker stopped from outside (SIGSTOP) is found by the watchdog,
/// killed, and the run ends on its own with the audit.
#[test]
fn a_worker_stopped_from_outside_is_killed_by_the_watchdog() {
    let redis = support::redis();
    let (mut child, pending) = support::endless_sale(&[
        "--redis-url",
        &redis.url(),
        "--set",
        "load.processes=2",
        "--set",
        "load.duration=8s",
    ])
    .spawn();
    let rest = support::wait_for_progress(&mut child);
    let worker = support::tagged_processes(&pending.tag)
        .into_iter()
        .find(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == b"worker"))
        })
        .expect("a worker process");
    // SAFETY: stopping our own grandchild.
    unsafe { libc::kill(worker as i32, libc::SIGSTOP) };
    let run = pending.finish(child);
    let stderr = rest.join().unwrap();
    assert_eq!(run.code(), 0, "{stderr}\n{}", run.context());
    assert!(stderr.contains("watchdog"), "{stderr}");
    let faults = run.csv("faults.csv");
    assert!(
        faults
            .iter()
            .any(|f| f["what"].contains(&format!("pid {worker}"))
                && f["what"].contains("sent nothing")),
        "{faults:?}"
    );
}

/// A SIGKILLed coordinator cannot clean up: its workers and redis-server
/// die with it (parent-death signal), and the embedded server's temp dir
/// is already gone, removed as soon as the server answered.
#[test]
fn sigkill_of_the_coordinator_leaves_no_process_and_no_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, pending) = support::endless_sale(&["--set", "load.processes=2"])
        .env("TMPDIR", &tmp.path().display().to_string())
        .spawn();
    let _rest = support::wait_for_progress(&mut child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let run = pending.finish(child);
    assert_eq!(run.code(), -1, "killed by a signal: {}", run.context());
    let left: Vec<String> = files_under(tmp.path())
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
    let dirs: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(dirs.is_empty(), "temp dirs left: {dirs:?}");
}

/// A scenario for the user's script `script.lua`, written beside it.
fn script_scenario(lua: &str) -> (tempfile::TempDir, String) {
    let (dir, path) = support::write_scenario(
        r#"
name = "own"
[stock]
initial = 10
[load]
processes = 1
clients_per_process = 2
purchases_per_client = 3
[strategy]
kind = "script"
script = "script.lua"
keys = ["{stock}"]
args = ["{buyer}"]
[strategy.replies]
"0" = "sold"
"1" = "sold_out"
"#,
    );
    std::fs::write(dir.path().join("script.lua"), lua).unwrap();
    (dir, path)
}

/// A test server with `victim` planted and a short busy limit, so a
/// looping script makes it answer BUSY within half a second.
fn busy_prone_redis() -> support::RedisServerGuard {
    let redis = support::RedisServerGuard::new();
    let mut conn = redis.connection();
    let () = redis::cmd("CONFIG")
        .arg(&["SET", "busy-reply-threshold", "300"])
        .query(&mut conn)
        .unwrap();
    let () = redis::cmd("SET")
        .arg(&["victim", "mine"])
        .query(&mut conn)
        .unwrap();
    redis
}

/// A script that never returns, on the user's server: the harness kills it
/// (SCRIPT KILL), says so, deletes the run's keys, and its counts agree.
#[test]
fn a_looping_script_is_killed_and_the_server_answers_again() {
    let redis = busy_prone_redis();
    let (dir, scenario) = script_scenario("while true do end\n");
    let run = run_in(dir, scenario, &["--redis-url".to_owned(), redis.url()]);
    run.assert_code(5);
    let said = &run.stdout;
    assert!(
        said.contains("your script ran longer than Redis's busy limit")
            && said.contains("stopped it with SCRIPT KILL")
            && !said.contains("Redis was lost"),
        "{}",
        run.context()
    );
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(keys, ["victim"], "{}", run.context());
    let s = run.summary();
    let (attempts, errors, in_doubt) = (
        support::num(&s, "attempts"),
        support::num(&s, "errors"),
        support::num(&s, "in_doubt"),
    );
    assert_eq!(errors + in_doubt, attempts, "{s:?}");
    assert!(s["error_kinds"].contains("busy"), "{s:?}");
    let reason = &s["inconclusive_reason"];
    assert!(reason.contains(&format!("{errors} error(s)")), "{reason}");
    assert!(reason.contains(&format!("{in_doubt} in doubt")), "{reason}");
}

/// A looping script that wrote first cannot be killed: the harness says
/// so and leaves the user's server alone (no SHUTDOWN NOSAVE).
#[test]
fn an_unkillable_script_is_reported_and_the_server_left_running() {
    let redis = busy_prone_redis();
    let (dir, scenario) = script_scenario("redis.call('INCRBY', KEYS[1], 0)\nwhile true do end\n");
    let run = run_in(dir, scenario, &["--redis-url".to_owned(), redis.url()]);
    run.assert_code(5);
    assert!(
        run.stdout
            .contains("your script ran longer than Redis's busy limit")
            && run.stdout.contains("UNKILLABLE")
            && run
                .stdout
                .contains("which the harness does not send to your server")
            && !run.stdout.contains("Redis was lost"),
        "{}",
        run.context()
    );
    let mut conn = redis.connection();
    let ping: redis::RedisResult<String> = redis::cmd("PING").query(&mut conn);
    assert_eq!(
        ping.unwrap_err().code(),
        Some("BUSY"),
        "the server was not shut down"
    );
}

/// Two runs with one `--out`: the second, started while the first holds
/// the folder, is refused (with `--force` too), and the first's reports
/// are whole. Then `--force` replaces the old reports in one step.
#[test]
fn two_runs_never_share_an_out_folder_and_force_replaces_it_whole() {
    let shared = tempfile::tempdir().unwrap();
    let out = shared.path().join("report").display().to_string();
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "run".to_owned(),
            support::scenario("flash-sale"),
            "--set".to_owned(),
            "stock.initial=1000000000".to_owned(),
            "--set".to_owned(),
            "load.processes=1".to_owned(),
            "--out".to_owned(),
            out.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Bench::new(args, tempfile::tempdir().unwrap())
    };
    // Long enough for its first progress line (at 5 s) and two refusals.
    let (mut first, pending) = bench(&["--set", "load.duration=8s"]).spawn();
    let rest = support::wait_for_progress(&mut first);
    for extra in [&[][..], &["--force"][..]] {
        let second = bench(&[&["--set", "load.duration=1s"][..], extra].concat()).output();
        second.assert_code(2);
        let said = second.stderr.clone();
        assert!(said.contains("--out"), "{}", second.context());
    }
    let first = pending.finish(first);
    rest.join().unwrap();
    first.assert_code(0);
    let names = |dir: &Path| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let report = shared.path().join("report");
    let summary = std::fs::read_to_string(report.join("summary.csv")).unwrap();
    assert!(summary.contains(",PASS,"), "{summary}");
    assert!(
        !names(&report).iter().any(|n| n.starts_with('.')),
        "{:?}",
        names(&report)
    );
    // Old contents: refused, then replaced whole with --force.
    std::fs::write(report.join("mine.txt"), "mine").unwrap();
    let refused = bench(&["--set", "load.duration=1s"]).output();
    refused.assert_code(2);
    assert!(refused.stderr.contains("--force"), "{}", refused.context());
    assert_eq!(
        std::fs::read_to_string(report.join("mine.txt")).unwrap(),
        "mine"
    );
    let forced = bench(&["--set", "load.duration=1s", "--force"]).output();
    forced.assert_code(0);
    let after = names(&report);
    assert!(!after.contains(&"mine.txt".to_owned()), "{after:?}");
    assert!(after.contains(&"summary.csv".to_owned()), "{after:?}");
    assert_eq!(
        names(shared.path()),
        ["report"],
        "a staging folder was left"
    );
}

/// Runs `seckill-bench run <scenario> --out <dir>/report` plus `extra`.
fn run_in(dir: tempfile::TempDir, scenario: String, extra: &[String]) -> support::Run {
    let mut args = vec![
        "run".to_owned(),
        scenario,
        "--out".to_owned(),
        dir.path().join("report").display().to_string(),
    ];
    args.extend(extra.iter().cloned());
    Bench::new(args, dir).output()
}

/// Only the planted key is left, untouched.
fn assert_only_victim(redis: &support::RedisServerGuard, context: &str) {
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(keys, ["victim"], "{context}");
}

const FLUSHING: &str = "local s = tonumber(redis.call('GET', KEYS[1]))\nif s == nil or s <= 0 then return 1 end\nredis.call('DECR', KEYS[1])\n-- FLUSHDB in a comment is no call\nredis.call('flushall')\nreturn 0\n";

/// A script that calls FLUSHALL: refused before the load, naming its line,
/// against the user's server; on an embedded one a warning, and the keys
/// that vanish are blamed on the script, not on a restart.
#[test]
fn a_flushing_script_is_refused_on_your_server_and_blamed_on_an_embedded_one() {
    let around = start(Env::Redis);
    let redis = around.redis.as_ref().unwrap();
    let (dir, scenario) = script_scenario(FLUSHING);
    let refused = run_in(dir, scenario, &["--redis-url".to_owned(), redis.url()]);
    refused.assert_code(2);
    for word in ["strategy.script", "script.lua:5", "FLUSHALL", "--redis-url"] {
        assert!(
            refused.stderr.contains(word),
            "{word}: {}",
            refused.context()
        );
    }
    assert!(!refused.out().exists(), "{}", refused.context());
    assert_only_victim(redis, &refused.context());

    let (dir, scenario) = script_scenario(FLUSHING);
    let embedded = run_in(dir, scenario, &[]);
    embedded.assert_code(1);
    assert!(
        embedded.stderr.contains("warning: ")
            && embedded
                .stderr
                .contains("script.lua:5: your script calls FLUSHALL"),
        "{}",
        embedded.context()
    );
    assert!(
        embedded.stdout.contains(
            "deleted by something other than the harness (your script, or another client)"
        ) && !embedded.stdout.contains("redis-server restart"),
        "{}",
        embedded.context()
    );
    assert_eq!(embedded.summary()["verdict"], "FAIL");
    let audit = embedded.csv("audit.csv");
    assert!(
        audit
            .iter()
            .any(|r| r["invariant"] == "stock_not_deleted" && r["pass"] == "false"),
        "{audit:?}"
    );
}

/// A script the scan cannot see through deletes the stock key on the
/// user's server: the server kept running (same run_id), so the verdict
/// is FAIL blaming a client, not RESET blaming a restart.
#[test]
fn a_stock_key_deleted_mid_run_is_a_fail_not_a_reset() {
    let around = start(Env::Redis);
    let redis = around.redis.as_ref().unwrap();
    let (dir, scenario) = script_scenario("redis.call('DEL', KEYS[1])\nreturn 0\n");
    let run = run_in(dir, scenario, &["--redis-url".to_owned(), redis.url()]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("deleted by something other than the harness")
            && !run.stdout.contains("redis-server restart"),
        "{}",
        run.context()
    );
    assert_eq!(run.summary()["verdict"], "FAIL");
    assert_only_victim(redis, &run.context());
}

/// A `[hosts]` launcher that forks a grandchild (`sleep 1000`, detached
/// from its pipes) on every call, answers the probe, and then, asked for
/// the agent, prints garbage and exits: exit 4 naming the host, and no
/// `sleep` left (each launcher runs in its own process group, killed
/// whole). The sleeps carry the test's tag, so `finish` finds them.
#[test]
fn a_launcher_that_forks_and_never_starts_an_agent_leaves_no_process() {
    use std::os::unix::fs::PermissionsExt;
    let around = start(Env::Redis);
    let redis = around.redis.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let launch = dir.path().join("launch.sh");
    std::fs::write(
        &launch,
        "#!/bin/sh\nshift\n(sleep 1000 >/dev/null 2>&1 </dev/null &)\ncase \"$3\" in\n  *\" agent \"*) echo garbage; exit 3 ;;\nesac\nexec \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&launch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scenario = format!(
        "{TINY}\n[hosts]\nlauncher = [\"{}\", \"{{host}}\"]\nlist = [{{ host = \"lg1\" }}]\nbinary = \"{}\"\n",
        launch.display(),
        env!("CARGO_BIN_EXE_seckill-bench")
    );
    let path = dir.path().join("hosts.toml");
    std::fs::write(&path, scenario).unwrap();
    let args = vec![
        "run".to_owned(),
        path.display().to_string(),
        "--redis-url".to_owned(),
        redis.url(),
        "--out".to_owned(),
        dir.path().join("report").display().to_string(),
    ];
    let started = Instant::now();
    let run = Bench::new(args, dir)
        .env("TMPDIR", &tmp.path().display().to_string())
        .output();
    run.assert_code(4);
    assert!(run.stderr.contains("host lg1"), "{}", run.context());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{}",
        run.context()
    );
    assert!(files_under(tmp.path()).is_empty(), "temp files left");
    assert_only_victim(redis, &run.context());
}

/// A SIGKILLed run with an embedded cluster cannot remove its nodes'
/// folders (a node rewrites `nodes.conf` there while it runs, and exits
/// when it cannot). As the README says: they are named with the dead
/// run's pid, and the next run that starts an embedded server removes
/// them.
#[test]
fn a_sigkilled_cluster_run_leaves_folders_named_with_its_pid_that_the_next_run_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, path) = support::write_scenario(
        "name = \"cluster-kill\"\n[redis]\ntopology = \"cluster\"\n[stock]\ninitial = 100000000\nsegments = 3\n[load]\nprocesses = 1\nclients_per_process = 2\nduration = \"60s\"\n[strategy]\nkind = \"lua\"\n",
    );
    let (mut child, pending) = Bench::run(&path, &[])
        .env("TMPDIR", &tmp.path().display().to_string())
        .spawn();
    let pid = child.id();
    let _rest = support::wait_for_progress(&mut child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let run = pending.finish(child);
    assert_eq!(run.code(), -1, "{}", run.context());
    let left: Vec<std::path::PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!left.is_empty(), "the cluster's folders were expected");
    let prefix = format!("seckill-redis-{pid}-");
    for dir in &left {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&prefix),
            "{name} is not named with pid {pid}"
        );
        assert!(dir.join("nodes.conf").is_file(), "{name}");
    }
    let next = Bench::run(
        &support::scenario("article"),
        &["--set", "load.processes=1"],
    )
    .env("TMPDIR", &tmp.path().display().to_string())
    .output();
    next.assert_code(0);
    let after: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(after.is_empty(), "left after the next run: {after:?}");
}

/// A coordinator stopped from outside for 2.5 s (SIGSTOP, then SIGCONT):
/// its workers wait on it, and the run says the harness itself did not
/// run then, so the latency spike is not read as Redis's.
#[test]
fn a_coordinator_stopped_from_outside_says_so_in_its_report() {
    let (mut child, pending) = support::endless_sale(&["--set", "load.duration=8s"]).spawn();
    let rest = support::wait_for_progress(&mut child);
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // The stop itself is the fault: how long the harness is frozen.
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let run = pending.finish(child);
    let stderr = rest.join().unwrap();
    run.assert_code(0);
    let said = "The harness itself did not run for ";
    assert!(run.stdout.contains(said), "{}\n{stderr}", run.context());
    let page = std::fs::read_to_string(run.out().join("index.html")).unwrap();
    assert!(page.contains(said), "{page:.2000}");
}
