//! Live progress on stderr while a run goes: elapsed, purchases/s, sales,
//! stock left, errors, and a bar toward the stop rule. A terminal gets an
//! indicatif bar; anything else one plain line every few seconds; `--quiet`
//! nothing. It reads only the coordinator's merged totals, so it costs the
//! load nothing.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::Counters;
use crate::scenario::{Pace, Scenario};

/// How often a terminal bar is redrawn.
pub const BAR_EVERY: Duration = Duration::from_millis(250);
/// How often a plain line is printed when stderr is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

pub enum Progress {
    Off,
    Bar(Display, ProgressBar),
    Lines(Display),
}

/// What the display knows of the run.
pub struct Display {
    started: Instant,
    goal: Goal,
    last: (Instant, u64),
}

/// What "done" means for the bar: the first of these to be reached.
struct Goal {
    duration: Option<Duration>,
    attempts: Option<u64>,
    stock: u64,
}

impl Progress {
    pub fn new(scenario: &Scenario, quiet: bool) -> Progress {
        if quiet {
            return Progress::Off;
        }
        let load = &scenario.load;
        let closed = matches!(load.pace, Pace::Closed { .. });
        let goal = Goal {
            duration: load.stop.duration,
            attempts: load
                .stop
                .purchases_per_client
                .filter(|_| closed)
                .map(|n| n.get() * load.total_clients()),
            stock: scenario.stock.initial,
        };
        let now = Instant::now();
        let display = Display {
            started: now,
            goal,
            last: (now, 0),
        };
        if !std::io::stderr().is_terminal() {
            return Progress::Lines(display);
        }
        let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:30} {msg}").expect("a valid template");
        bar.set_style(style);
        Progress::Bar(display, bar)
    }

    /// How often [`Progress::update`] wants to be called.
    pub fn every(&self) -> Duration {
        match self {
            Progress::Bar(..) => BAR_EVERY,
            Progress::Lines(_) | Progress::Off => LINE_EVERY,
        }
    }

    pub fn update(&mut self, totals: &Counters, stock: Option<i64>) {
        match self {
            Progress::Off => {}
            Progress::Bar(display, bar) => {
                bar.set_position((display.fraction(totals) * 1000.0) as u64);
                bar.set_message(display.line(totals, stock));
            }
            Progress::Lines(display) => eprintln!("{}", display.line(totals, stock)),
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(_, bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl Display {
    fn fraction(&self, totals: &Counters) -> f64 {
        let g = &self.goal;
        let by_time = g
            .duration
            .map(|d| self.started.elapsed().as_secs_f64() / d.as_secs_f64());
        let by_count = g.attempts.map(|n| totals.attempts as f64 / n as f64);
        let by_stock = (g.stock > 0).then(|| totals.sold_units as f64 / g.stock as f64);
        [by_time, by_count, by_stock]
            .into_iter()
            .flatten()
            .fold(0.0, f64::max)
            .min(1.0)
    }

    /// `12.0s  48,210 purchases/s  sold 5,231  stock 4,769  errors 0`.
    fn line(&mut self, totals: &Counters, stock: Option<i64>) -> String {
        let now = Instant::now();
        let (then, attempts_then) = std::mem::replace(&mut self.last, (now, totals.attempts));
        let window = now.duration_since(then).as_secs_f64();
        let rate = if window > 0.0 {
            (totals.attempts - attempts_then) as f64 / window
        } else {
            0.0
        };
        let stock = stock.map_or("?".to_owned(), |s| s.to_string());
        format!(
            "{:.1}s  {rate:.0} purchases/s  sold {}  stock {stock}  errors {}",
            self.started.elapsed().as_secs_f64(),
            totals.sold_units,
            totals.error_total()
        )
    }
}
