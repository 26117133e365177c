//! Pages checked in a real browser: a run's and a sweep's `index.html`
//! rendered in headless Chromium must load without a console error, show
//! their verdict first and show every chart. The checker is shown firing
//! too, on doctored copies of a real page.
//!
//! Chromium is driven over the DevTools protocol by `headless_chrome`
//! (without its `fetch` feature: it never downloads a browser). That crate
//! drops, without a word, any protocol message its bundled schema cannot
//! parse; the doctored pages are what prove that this Chromium's console
//! errors, exceptions and failed loads do reach the checker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Log, Page, Runtime};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde::Deserialize;

use crate::support::{self, scenario, Bench};

const HINT: &str =
    "install it with `apt-get install chromium` or run scripts/test.sh, which installs it";

/// For every wait on the browser: launch, each protocol call, navigation.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A passing run's page, and a failing one's, which has more to show: the
/// overlapping lock holds in words and in `locks.svg`.
#[test]
fn a_runs_page_shows_its_verdict_and_every_chart_without_errors() {
    let redis = support::redis();
    let runs = [("article", 0), ("article-stall", 1)].map(|(name, code)| {
        let run = Bench::run(&scenario(name), &["--redis-url", &redis.url(), "--quiet"]).output();
        run.assert_code(code);
        run
    });
    let chromium = Chromium::launch();
    for run in &runs {
        let verdict = &run.summary()["verdict"];
        let page = chromium.load(&run.out().join("index.html"));
        page.assert_fine(verdict, svg_files(&run.out()));
    }
    chromium.close();
}

#[test]
fn a_sweeps_page_and_its_points_pages_show_verdicts_and_charts_without_errors() {
    let redis = support::redis();
    let swept = r#"
name = "quick"

[stock]
initial = 1000000000

[load]
processes = 1
clients_per_process = 4
duration = "300ms"

[strategy]
kind = "lua"

[sweep]
"strategy.kind" = ["lua", "decr"]
"#;
    let (_scenario_dir, path) = support::write_scenario(swept);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let args = [
        "sweep",
        &path,
        "--redis-url",
        &redis.url(),
        "--quiet",
        "--out",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([out.display().to_string()])
    .collect();
    let run = Bench::new(args, dir).output();
    run.assert_code(0);
    let verdict = run.stdout.split_whitespace().next().expect("the verdict");
    let chromium = Chromium::launch();
    let page = chromium.load(&out.join("index.html"));
    page.assert_fine(verdict, svg_files(&out));

    // Each point's row links to the point's own page, which loads as well.
    let mut points: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.join("index.html"))
        .collect();
    points.sort();
    assert_eq!(points.len(), 2, "{}", run.context());
    let linked: Vec<PathBuf> = page
        .seen
        .links
        .iter()
        .filter_map(|l| url::Url::parse(l).ok()?.to_file_path().ok())
        .filter(|p| p.ends_with("index.html"))
        .collect();
    assert_eq!(linked, points, "the sweep's page links every point's page");
    for point in &points {
        let folder = point.parent().unwrap();
        let summary = csv::Reader::from_path(folder.join("summary.csv"))
            .unwrap()
            .deserialize::<HashMap<String, String>>()
            .next()
            .unwrap()
            .unwrap();
        chromium
            .load(point)
            .assert_fine(&summary["verdict"], svg_files(folder));
    }
    chromium.close();
}

/// The checker fires: a real page, doctored one way at a time, is reported
/// for exactly what was done to it; the same page untouched, or with a
/// chart that is a working `<img>`, is not.
#[test]
fn the_checker_reports_each_way_a_page_can_be_broken() {
    let redis = support::redis();
    let run = Bench::run(
        &scenario("article"),
        &["--redis-url", &redis.url(), "--quiet"],
    )
    .output();
    run.assert_code(0);
    let verdict = run.summary()["verdict"].clone();
    let folder = run.out();
    let html = std::fs::read_to_string(folder.join("index.html")).unwrap();
    let charts = svg_files(&folder);
    assert_eq!(charts, 2, "latency.svg and timeline.svg: {}", run.context());
    let first_chart = {
        let start = html.find("<svg").expect("an inline chart");
        let end = html[start..].find("</svg>").unwrap() + start + "</svg>".len();
        start..end
    };
    let with_img = |src: &str| {
        let mut page = html.clone();
        let img = format!("<img src=\"{src}\" alt=\"\">");
        page.replace_range(first_chart.clone(), &img);
        page
    };
    let script = |js: &str| html.replace("</body>", &format!("<script>{js}</script></body>"));
    let verdict_word = format!(">{verdict}<");
    assert!(html.contains(&verdict_word), "{html:.2000}");
    let hide_charts = "<style>figure svg { display: none; }</style></head>";
    // Each problem expected, by words it contains.
    let cases: [(&str, String, &[&[&str]]); 8] = [
        ("untouched", html.clone(), &[]),
        ("a working img", with_img("latency.svg"), &[]),
        (
            "a missing img",
            with_img("no-such-chart.svg"),
            &[
                &["browser error", "no-such-chart.svg"],
                &["chart \"no-such-chart.svg\" is not shown"],
            ],
        ),
        (
            "console.error",
            script("console.error('doctored')"),
            &[&["console.error: doctored"]],
        ),
        (
            "an exception",
            script("null.doctored"),
            &[&["uncaught exception", "doctored"]],
        ),
        (
            "no verdict",
            html.replacen(&verdict_word, "><", 1),
            &[&["does not begin with the verdict PASS"]],
        ),
        (
            "hidden charts",
            html.replace("</head>", hide_charts),
            &[
                &["chart \"Latency by percentile\" is not shown"],
                &["chart \"Over time\" is not shown"],
            ],
        ),
        (
            "a dropped chart",
            html.replacen(&html[first_chart.clone()], "", 1),
            &[&["1 chart(s) on the page, 2 .svg file(s)"]],
        ),
    ];
    let chromium = Chromium::launch();
    for (name, doctored, expected) in cases {
        let path = folder.join(format!("doctored-{}.html", name.replace(' ', "-")));
        std::fs::write(&path, doctored).unwrap();
        let page = chromium.load(&path);
        let problems = page.problems(&verdict, charts);
        let found = |words: &&[&str]| problems.iter().any(|p| words.iter().all(|w| p.contains(w)));
        assert!(
            problems.len() == expected.len() && expected.iter().all(found),
            "{name}: expected {expected:?}, got {problems:#?}\n{page:#?}"
        );
    }
    chromium.close();
}

/// The `.svg` files in a report folder: the charts its page must show.
/// Every report has some, so a page without charts cannot pass unnoticed.
fn svg_files(folder: &Path) -> usize {
    let count = std::fs::read_dir(folder)
        .unwrap()
        .filter(|e| {
            let path = e.as_ref().unwrap().path();
            path.extension().is_some_and(|x| x == "svg")
        })
        .count();
    assert!(count > 0, "no chart in {}", folder.display());
    count
}

/// What the browser saw of one page.
#[derive(Debug)]
struct Rendered {
    url: String,
    /// Console errors, uncaught exceptions and failed loads, in order.
    errors: Vec<String>,
    seen: Seen,
}

/// What the page itself reports once loaded (see [`SEEN`]).
#[derive(Debug, Deserialize)]
struct Seen {
    /// The rendered text (`innerText`): only what a reader can see.
    text: String,
    /// Every `<img>` and every outermost inline `<svg>`, in page order.
    charts: Vec<Chart>,
    /// Every link's absolute URL.
    links: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Chart {
    /// An `<img>`'s `src`, or the caption of an inline chart's figure.
    name: String,
    /// Laid out with a non-zero box, visible, and with something drawn:
    /// an `<img>` loaded and decoded, an `<svg>` with content of some size.
    shown: bool,
}

impl Rendered {
    fn assert_fine(&self, verdict: &str, svg_files: usize) {
        let problems = self.problems(verdict, svg_files);
        assert!(
            problems.is_empty(),
            "{}: {problems:#?}\n{self:#?}",
            self.url
        );
    }

    /// Everything wrong with the page, in words; empty when it is fine.
    fn problems(&self, verdict: &str, svg_files: usize) -> Vec<String> {
        let mut problems = self.errors.clone();
        let first = self.seen.text.split_whitespace().next().unwrap_or_default();
        if first != verdict {
            problems.push(format!(
                "the page does not begin with the verdict {verdict}: it begins {:?}",
                self.seen.text.chars().take(80).collect::<String>()
            ));
        }
        for chart in self.seen.charts.iter().filter(|c| !c.shown) {
            problems.push(format!("chart {:?} is not shown", chart.name));
        }
        if self.seen.charts.len() != svg_files {
            problems.push(format!(
                "{} chart(s) on the page, {svg_files} .svg file(s) in its folder",
                self.seen.charts.len()
            ));
        }
        problems
    }
}

/// Run in the page once it has loaded; returns [`Seen`] as JSON.
const SEEN: &str = r#"(() => {
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0
      && el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  };
  const drawn = (el) => {
    if (el instanceof HTMLImageElement) return el.complete && el.naturalWidth > 0;
    const box = el.getBBox();
    return box.width > 0 && box.height > 0;
  };
  const charts = [...document.querySelectorAll('img, svg')]
    .filter((el) => !el.parentElement.closest('svg'))
    .map((el) => ({
      name: el instanceof HTMLImageElement
        ? el.getAttribute('src') ?? ''
        : el.closest('figure')?.querySelector('h3, figcaption')?.innerText ?? '',
      shown: visible(el) && drawn(el),
    }));
  const links = [...document.querySelectorAll('a[href]')].map((a) => a.href);
  return JSON.stringify({ text: document.body.innerText, charts, links });
})()"#;

/// Resolves once two frames have been drawn after the load event, so that
/// late errors are in.
const SETTLED: &str =
    "new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))";

/// A headless Chromium for one test, with a profile of its own and one tab
/// that loads every page. Every one of its processes names the profile on
/// its command line (the environment is not passed down to them), so none
/// can outlive the browser unseen.
struct Chromium {
    tab: Arc<Tab>,
    /// What the tab reported since the current page began to load.
    errors: Arc<Mutex<Vec<String>>>,
    signals: mpsc::Receiver<Signal>,
    browser: Option<Browser>,
    profile: tempfile::TempDir,
    /// Chromium's processes are load too: timing tests wait for them.
    _machine: support::Shared,
}

impl Chromium {
    /// Fails, with the install hint, when Chromium is missing or does not
    /// start: a browser test never skips.
    fn launch() -> Chromium {
        let path = chromium_binary();
        let machine = support::shared();
        let profile = tempfile::tempdir().unwrap();
        let options = LaunchOptions::default_builder()
            .path(Some(path.clone()))
            .headless(true)
            // CI runs as root, where Chromium's sandbox cannot start.
            .sandbox(false)
            .port(Some(0))
            .user_data_dir(Some(profile.path().to_owned()))
            .idle_browser_timeout(TIMEOUT)
            .build()
            .unwrap();
        let browser = Browser::new(options).unwrap_or_else(|e| {
            panic!("cannot start Chromium ({}): {e:#}; {HINT}", path.display())
        });
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (signal, signals) = mpsc::channel();
        let sink = Arc::clone(&errors);
        let tab = browser
            .new_tab()
            .and_then(|tab| {
                tab.set_default_timeout(TIMEOUT);
                tab.add_event_listener(Arc::new(move |event: &Event| {
                    if let Some(s) = signal_of(event) {
                        signal.send(s).ok();
                    } else if let Some(error) = error_of(event) {
                        sink.lock().unwrap().push(error);
                    }
                }))?;
                tab.enable_log()?.enable_runtime()?;
                Ok(tab)
            })
            .unwrap_or_else(|e| panic!("opening a tab in Chromium: {e:#}"));
        Chromium {
            tab,
            errors,
            signals,
            browser: Some(browser),
            profile,
            _machine: machine,
        }
    }

    /// Loads `path` and reports what the browser saw of it.
    fn load(&self, path: &Path) -> Rendered {
        let url = url::Url::from_file_path(path).unwrap().to_string();
        self.errors.lock().unwrap().clear();
        let seen = self
            .visit(&url)
            .unwrap_or_else(|e| panic!("loading {url}: {e:#}"));
        let errors = std::mem::take(&mut *self.errors.lock().unwrap());
        Rendered { url, errors, seen }
    }

    /// Navigates to `url`, waits for that document's load event (every
    /// image loaded or failed) and two frames more, and asks the page what
    /// it shows; returns once every event the page raised is in.
    fn visit(&self, url: &str) -> anyhow::Result<Seen> {
        let navigated = self.tab.call_method(Page::Navigate {
            url: url.to_owned(),
            referrer: None,
            transition_Type: None,
            frame_id: None,
            referrer_policy: None,
        })?;
        if let Some(error) = navigated.error_text {
            anyhow::bail!("navigation failed: {error}");
        }
        let loader = navigated.loader_id.context("no new document")?;
        self.wait_for(Signal::Loaded(loader.clone()))?;
        self.tab.evaluate(SETTLED, true)?;
        let seen = self.tab.evaluate(SEEN, false)?;
        // Events reach the listener on a thread of their own, in the order
        // the page raised them: once this one is in, so is every earlier one.
        let fence = format!("console.debug({FENCE:?}, {loader:?})");
        self.tab.evaluate(&fence, false)?;
        self.wait_for(Signal::Fence(loader))?;
        let json = seen
            .value
            .as_ref()
            .and_then(|v| v.as_str())
            .with_context(|| format!("the page's facts did not come back: {seen:?}"))?;
        Ok(serde_json::from_str(json)?)
    }

    fn wait_for(&self, signal: Signal) -> anyhow::Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self
                .signals
                .recv_timeout(left)
                .with_context(|| format!("waiting for {signal:?}"))?;
            if got == signal {
                return Ok(());
            }
        }
    }

    /// Closes the browser and asserts that none of its processes is left.
    fn close(mut self) {
        drop(self.browser.take());
        // Its helpers exit once they see the browser gone: how soon is up
        // to a busy machine, that they do is not.
        let deadline = Instant::now() + TIMEOUT;
        while !self.processes().is_empty() {
            if Instant::now() > deadline {
                let left = self.kill_processes();
                panic!("Chromium processes left running after it closed: {left:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The browser's processes: those started with this profile.
    fn processes(&self) -> Vec<u32> {
        let flag = format!("--user-data-dir={}", self.profile.path().display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| cmd.split(|&b| b == 0).any(|arg| arg == flag.as_bytes()))
            })
            .collect()
    }

    /// SIGKILLs the browser's processes; returns their pids.
    fn kill_processes(&self) -> Vec<u32> {
        let left = self.processes();
        for &pid in &left {
            // SAFETY: kill(2) has no memory effects; the pid is one of our
            // browser's, found by its profile.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        left
    }
}

impl Drop for Chromium {
    /// On a failed test's way out: whatever the browser left is killed.
    fn drop(&mut self) {
        if let Some(browser) = self.browser.take() {
            drop(browser);
            self.kill_processes();
        }
    }
}

/// What the tab's listener tells [`Chromium::visit`].
#[derive(Debug, PartialEq)]
enum Signal {
    /// The document of this loader id fired its load event.
    Loaded(String),
    /// The page logged [`FENCE`] and this loader id.
    Fence(String),
}

/// Logged by [`Chromium::visit`] after its last question to a page.
const FENCE: &str = "seckill-bench-test-fence";

fn signal_of(event: &Event) -> Option<Signal> {
    match event {
        Event::PageLifecycleEvent(e) if e.params.name == "load" => {
            Some(Signal::Loaded(e.params.loader_id.clone()))
        }
        Event::RuntimeConsoleAPICalled(call) => match &call.params.args[..] {
            [first, loader] if first.value.as_ref().is_some_and(|v| v == FENCE) => {
                let loader = loader.value.as_ref()?.as_str()?;
                Some(Signal::Fence(loader.to_owned()))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A console error, an uncaught exception or a browser-side error (a failed
/// load among them), in words; `None` for any other event.
fn error_of(event: &Event) -> Option<String> {
    match event {
        Event::RuntimeConsoleAPICalled(call) => {
            use Runtime::ConsoleAPICalledEventTypeOption as Kind;
            let call = &call.params;
            let kind = match call.Type {
                Kind::Error => "error",
                Kind::Assert => "assert",
                _ => return None,
            };
            let args: Vec<String> = call.args.iter().map(describe).collect();
            Some(format!("console.{kind}: {}", args.join(" ")))
        }
        Event::RuntimeExceptionThrown(thrown) => {
            let details = &thrown.params.exception_details;
            let what = details.exception.as_ref().map(describe).unwrap_or_default();
            Some(format!(
                "uncaught exception: {} {what} ({}:{})",
                details.text,
                details.url.as_deref().unwrap_or_default(),
                details.line_number
            ))
        }
        Event::LogEntryAdded(added) => {
            let entry = &added.params.entry;
            (entry.level == Log::LogEntryLevel::Error).then(|| {
                format!(
                    "browser error ({:?}): {} ({})",
                    entry.source,
                    entry.text,
                    entry.url.as_deref().unwrap_or_default()
                )
            })
        }
        _ => None,
    }
}

fn describe(value: &Runtime::RemoteObject) -> String {
    match (&value.value, &value.description) {
        (Some(serde_json::Value::String(s)), _) => s.clone(),
        (Some(v), _) => v.to_string(),
        (None, Some(d)) => d.clone(),
        (None, None) => format!("{:?}", value.Type),
    }
}

/// `$SECKILL_CHROMIUM`, else `chromium` on the PATH, else /usr/bin/chromium.
fn chromium_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SECKILL_CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SECKILL_CHROMIUM={} is not a file; {HINT}",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .chain([PathBuf::from("/usr/bin/chromium")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("Chromium not found (no `chromium` on the PATH); {HINT}"))
}
