//! The run's verdict: one type owns the word, the exit code and the
//! headline sentence, so `run`, `sweep`, `--repeat`, the terminal, the
//! HTML page and the CSVs can never disagree about what a run showed.
//!
//! The audit says what the stock shows (PASS, FAIL, RESET); the verdict adds
//! what the run could not test (INCONCLUSIVE: a fault that did not take
//! effect, nothing that reached the stock, a target lost mid-run), the
//! thresholds and an interruption. An oversell is always FAIL.

use std::fmt;

use serde::Serialize;

/// Every word the tool prints as a verdict: of a run, a sweep, `--repeat`'s
/// trials, a capacity search and `compare`. Each has one exit code; a set of
/// them is summed up by the most serious ([`Verdict::most_serious`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Verdict {
    /// Everything declared was tested and held.
    #[serde(rename = "PASS")]
    Pass,
    /// The run could not judge: see [`Inconclusive`].
    #[serde(rename = "INCONCLUSIVE")]
    Inconclusive,
    /// The stock was reset by a restart: the audit cannot judge the
    /// strategy. Still a failure for the exit code.
    #[serde(rename = "RESET")]
    Reset,
    /// The audit failed: an oversell, lost writes, a lock that did not
    /// exclude, a ledger that does not balance.
    #[serde(rename = "FAIL")]
    Fail,
    /// The audit passed but a `[thresholds]` limit was broken.
    #[serde(rename = "THRESHOLDS-FAILED")]
    ThresholdsFailed,
    /// Ctrl-C (or SIGTERM) stopped a run that passed what it did.
    #[serde(rename = "INTERRUPTED")]
    Interrupted,
    /// `compare`: the candidate is slower than the baseline beyond
    /// `--max-regression`, or lacks one of its points.
    #[serde(rename = "REGRESSION")]
    Regression,
    /// A sweep that stopped before its last point.
    #[serde(rename = "INCOMPLETE")]
    Incomplete,
    /// `capacity`: no rate searched met the SLO.
    #[serde(rename = "SLO-MISSED")]
    SloMissed,
}

impl Verdict {
    pub const ALL: [Verdict; 9] = [
        Verdict::Pass,
        Verdict::Inconclusive,
        Verdict::Reset,
        Verdict::Fail,
        Verdict::ThresholdsFailed,
        Verdict::Interrupted,
        Verdict::Regression,
        Verdict::Incomplete,
        Verdict::SloMissed,
    ];

    /// The words a run's `verdict` column (`summary.csv`, `sweep.csv`)
    /// holds: the audit's, and INCONCLUSIVE.
    pub const OF_A_RUN: [Verdict; 4] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Reset,
        Verdict::Inconclusive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Reset => "RESET",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::ThresholdsFailed => "THRESHOLDS-FAILED",
            Verdict::Interrupted => "INTERRUPTED",
            Verdict::Regression => "REGRESSION",
            Verdict::Incomplete => "INCOMPLETE",
            Verdict::SloMissed => "SLO-MISSED",
        }
    }

    /// 1 FAIL or RESET; 5 INCONCLUSIVE; 3 a limit the user set was missed
    /// (a threshold, the baseline, the SLO); 130 stopped early; 0 PASS.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Fail | Verdict::Reset => 1,
            Verdict::Inconclusive => 5,
            Verdict::ThresholdsFailed | Verdict::Regression | Verdict::SloMissed => 3,
            Verdict::Interrupted | Verdict::Incomplete => 130,
            Verdict::Pass => 0,
        }
    }

    /// How serious, in the order of the exit codes: a failed audit first
    /// (FAIL before RESET), then no verdict, then a missed limit, then
    /// stopping early.
    fn severity(self) -> u8 {
        match self {
            Verdict::Fail => 5,
            Verdict::Reset => 4,
            Verdict::Inconclusive => 3,
            Verdict::ThresholdsFailed | Verdict::Regression | Verdict::SloMissed => 2,
            Verdict::Interrupted | Verdict::Incomplete => 1,
            Verdict::Pass => 0,
        }
    }

    /// The most serious of several verdicts (trials, sweep points); PASS
    /// for none. Of two as serious, the first.
    pub fn most_serious(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().fold(Verdict::Pass, |worst, v| {
            if v.severity() > worst.severity() {
                v
            } else {
                worst
            }
        })
    }

    /// How a page colours it: `pass`, `fail` or `other`.
    pub fn css_class(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            _ => "other",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;

    /// The word as the tool writes it, in a report read back (`compare`).
    fn from_str(word: &str) -> Result<Verdict, String> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == word)
            .ok_or_else(|| {
                let words: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
                format!("`{word}` is not a verdict (one of {})", words.join(", "))
            })
    }
}

/// Why a run has no verdict on the strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inconclusive {
    /// A declared `[[faults]]` entry did not take effect.
    FaultNotApplied { fault: String, why: String },
    /// Every attempt ended in an error: nothing was tested.
    /// `errors`, `in_doubt` and `gave_up` are how those attempts ended, so
    /// the sentence agrees with the counts beside it.
    NoDefiniteOutcome {
        attempts: u64,
        errors: u64,
        in_doubt: u64,
        gave_up: u64,
    },
    /// Redis could not be reached at the end, outside a restart fault.
    TargetLost { error: String },
    /// Every `[service]` instance exited by itself mid-run: the load
    /// after that reached nothing.
    ServiceLost { what: String },
    /// A check the scenario asked for could not be made.
    Unchecked { what: String },
    /// The user's script refused every buyer by a named rejection: the
    /// stock was never tested.
    NothingSold {
        rejections: u64,
        /// Who refused: `script` or `service`.
        by: &'static str,
    },
    /// A load host was lost mid-run and `[hosts] on_host_loss = "abort"`
    /// stopped the run: it did not apply the load it declared.
    HostLost { host: String },
    /// The user's script was still running at the end, past Redis's busy
    /// limit, so Redis answered BUSY to everyone else.
    ScriptBusy(ScriptBusy),
}

/// What became of a user's script found running past Redis's busy limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptBusy {
    /// `SCRIPT KILL` / `FUNCTION KILL` stopped it.
    Killed,
    /// It ended by itself before the kill reached it.
    EndedAlone,
    /// It had written, so Redis refused the kill (`UNKILLABLE`): only
    /// `SHUTDOWN NOSAVE` stops it. `own_server`: the server is the run's
    /// embedded one, stopped with the run anyway.
    Unkillable { own_server: bool },
    /// Both `SCRIPT KILL` and `FUNCTION KILL` failed for another reason
    /// (an ACL without them, a dropped connection).
    KillFailed,
}

impl fmt::Display for ScriptBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("your script ran longer than Redis's busy limit (busy-reply-threshold, 5 s by default), and Redis answered BUSY to every other command")?;
        match self {
            ScriptBusy::Killed => f.write_str("; the harness stopped it with SCRIPT KILL / FUNCTION KILL"),
            ScriptBusy::EndedAlone => f.write_str("; it ended by itself before the harness could kill it"),
            ScriptBusy::Unkillable { own_server: true } => f.write_str("; it had already written, so Redis refused to kill it (UNKILLABLE); the embedded server is stopped with the run"),
            ScriptBusy::KillFailed => f.write_str("; SCRIPT KILL and FUNCTION KILL both failed (does the run's user lack them in its ACL?), so the script may still be running"),
            ScriptBusy::Unkillable { own_server: false } => f.write_str("; it had already written, so Redis refused to kill it (UNKILLABLE): only SHUTDOWN NOSAVE stops it, which the harness does not send to your server. Your server answers BUSY until the script ends or you run SHUTDOWN NOSAVE (losing writes not saved), and the run's keys are still on it"),
        }
    }
}

impl fmt::Display for Inconclusive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inconclusive::FaultNotApplied { fault, why } => {
                write!(f, "fault {fault} did not take effect: {why}")
            }
            Inconclusive::NoDefiniteOutcome { attempts: 0, .. } => {
                write!(f, "no purchase was attempted")
            }
            Inconclusive::NoDefiniteOutcome {
                attempts,
                errors,
                in_doubt,
                gave_up,
            } => {
                let parts: Vec<String> = [
                    (*errors, "error(s)"),
                    (*in_doubt, "in doubt (no reply)"),
                    (*gave_up, "given up"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
                write!(
                    f,
                    "none of {attempts} purchase(s) reached a definite outcome ({})",
                    parts.join(", ")
                )
            }
            Inconclusive::NothingSold { rejections, by } => write!(
                f,
                "nothing was sold: the {by} rejected all {rejections} purchase(s) that reached a definite outcome"
            ),
            Inconclusive::HostLost { host } => write!(
                f,
                "load host {host} was lost mid-run and the run was stopped (on_host_loss = \"abort\"); its purchases under way are in doubt"
            ),
            Inconclusive::ScriptBusy(busy) => write!(f, "{busy}"),
            Inconclusive::TargetLost { error } => write!(
                f,
                "Redis was lost mid-run and did not come back ({error}); the final stock is unknown"
            ),
            Inconclusive::ServiceLost { what } => f.write_str(what),
            Inconclusive::Unchecked { what } => f.write_str(what),
        }
    }
}

/// What the history's checks found, for the headline: counts and the
/// first ones in words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryFigures {
    pub lost_sales: u64,
    /// The first lost ids with when each was acknowledged, and when the
    /// first and the last were.
    pub lost_first: String,
    pub lost_span: Option<String>,
    pub in_doubt_applied: u64,
    pub phantom_orders: u64,
    pub phantom_first: String,
    pub false_sold_outs: u64,
    pub false_first: String,
    pub reading_violations: u64,
    pub reading_first: String,
}

/// The figures a headline sentence quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub sold: u64,
    pub initial: u64,
    pub final_stock: Option<i64>,
    pub oversold: u64,
    pub in_doubt: u64,
    pub purchases_per_s: f64,
    /// `None` when the strategy takes no lock.
    pub unsafe_overlaps: Option<u64>,
    pub fenced_overlaps: Option<u64>,
    /// Units recorded as sold that are back in stock (lost writes).
    pub back_in_stock: u64,
    /// When the last failover fault began, in seconds.
    pub failover_at_s: Option<f64>,
    pub strategy: &'static str,
    /// `strategy.wait_replicas`.
    pub wait_replicas: u32,
    /// Segmented stock's under-sell, in units.
    pub stranded: u64,
    /// Purchases recorded as sold.
    pub sales: u64,
    /// `audit.per_buyer_limit`, the buyers over it, and how many of those
    /// bought on more than one segment.
    pub buyer_limit: u32,
    pub buyers_over: u64,
    pub buyers_across: u64,
    /// The orders counted when they did not match the sales.
    pub orders_off: Option<u64>,
    /// Whether `stock_conservation` held (or was not checked).
    pub stock_conserved: bool,
    /// The stock key vanished while Redis kept running.
    pub keys_deleted: bool,
    /// Purchases whose reply the user's mapping did not name: a script
    /// that wrote before answering took units no sale accounts for.
    pub unexpected_replies: u64,
    pub history: HistoryFigures,
}

/// What a finished run means: word, reasons, exit code, headline.
#[derive(Debug, Clone, PartialEq)]
pub struct RunVerdict {
    pub verdict: Verdict,
    /// Why the run is INCONCLUSIVE (also listed when it failed anyway).
    pub inconclusive: Vec<Inconclusive>,
    pub thresholds_passed: bool,
    pub interrupted: bool,
    /// One sentence in words, for the terminal and the HTML page.
    pub headline: String,
}

impl RunVerdict {
    /// Combines the audit's word with what the run could not test. An
    /// audit FAIL or RESET stands whatever else happened.
    pub fn new(
        audit: Verdict,
        inconclusive: Vec<Inconclusive>,
        thresholds_passed: bool,
        interrupted: bool,
        figures: &Figures,
    ) -> RunVerdict {
        let verdict = match audit {
            Verdict::Pass if !inconclusive.is_empty() => Verdict::Inconclusive,
            other => other,
        };
        let headline = headline(verdict, &inconclusive, figures);
        RunVerdict {
            verdict,
            inconclusive,
            thresholds_passed,
            interrupted,
            headline,
        }
    }

    /// The exit code of [`RunVerdict::banner`]'s word.
    pub fn exit_code(&self) -> u8 {
        self.banner().exit_code()
    }

    /// The word shown first: the verdict, or for a PASS what spoils it.
    pub fn banner(&self) -> Verdict {
        match self.verdict {
            Verdict::Pass if !self.thresholds_passed => Verdict::ThresholdsFailed,
            Verdict::Pass if self.interrupted => Verdict::Interrupted,
            other => other,
        }
    }

    /// Redis could not be read at the end (lost, or kept busy by a script
    /// Redis would not kill).
    pub fn target_lost(&self) -> bool {
        self.inconclusive.iter().any(|r| {
            matches!(
                r,
                Inconclusive::TargetLost { .. }
                    | Inconclusive::ScriptBusy(ScriptBusy::Unkillable { .. })
            )
        })
    }

    /// The reasons for INCONCLUSIVE, joined for a CSV cell.
    pub fn inconclusive_reason(&self) -> String {
        let reasons: Vec<String> = self.inconclusive.iter().map(|r| r.to_string()).collect();
        reasons.join("; ")
    }
}

fn not_conserved(f: &Figures) -> String {
    let final_stock = f
        .final_stock
        .map_or("unknown".to_owned(), |s| s.to_string());
    let gone = f
        .final_stock
        .is_some_and(|s| (f.initial as i64).saturating_sub(s) > (f.sold + f.in_doubt) as i64);
    let cause = match f.unexpected_replies {
        n if n > 0 && gone => format!(
            " {n} purchase(s) got a reply [strategy.replies] does not name (unexpected_reply, below): a script that writes before it answers so took units no sale accounts for."
        ),
        _ => String::new(),
    };
    format!(
        "The stock is not conserved: it ended at {final_stock} of {} while {} units were recorded as sold and {} purchases were in doubt.{cause}",
        f.initial, f.sold, f.in_doubt
    )
}

/// Lost sales by id: acknowledged, and not in the orders; with the
/// in-doubt purchases that landed, which a count alone would have
/// mistaken for them.
fn lost_sales(f: &Figures) -> String {
    let h = &f.history;
    let span = h
        .lost_span
        .as_ref()
        .map_or(String::new(), |s| format!(", acknowledged from {s}"));
    let when = match f.failover_at_s {
        Some(t) => format!("{span}, most likely in the failover at {t:.1} s"),
        None => span,
    };
    let landed = match h.in_doubt_applied {
        0 => String::new(),
        n => format!(
            " {n} in-doubt purchase(s) did land, so the units alone hide {} of the loss.",
            n.min(h.lost_sales)
        ),
    };
    let harm = match f.back_in_stock {
        0 => "Buyers hold receipts for orders that were never recorded.".to_owned(),
        n => format!("Buyers hold receipts, and {n} unit(s) are on sale again."),
    };
    let oversold = match f.oversold {
        0 => String::new(),
        n => format!(" {n} unit(s) were oversold."),
    };
    format!(
        "{} acknowledged sale(s) were lost{when}: their ids are not in the orders (first: {}). {harm}{landed}{oversold}",
        h.lost_sales, h.lost_first
    )
}

/// The failover mechanism, in words: the store lost acknowledged writes,
/// so units already sold are on sale again.
fn back_in_stock(f: &Figures) -> String {
    let when = match f.failover_at_s {
        Some(t) => format!("most likely in the failover at {t:.1} s"),
        None => {
            "with no failover declared (a restart of Redis, or another writer to the stock key?)"
                .to_owned()
        }
    };
    let oversold = match f.oversold {
        0 => String::new(),
        n => format!(" {n} unit(s) were oversold."),
    };
    let remedy = match f.wait_replicas {
        0 => format!(
            "Strategy {} cannot prevent this; only confirmed writes (wait_replicas) or a store that does not lose acknowledged writes can.",
            f.strategy
        ),
        n => format!(
            "WAIT had confirmed them on {n} replica(s): the promoted node was not one of those, or they were lost too."
        ),
    };
    format!(
        "{} units recorded as sold are back in stock: acknowledged writes were lost, {when}. {remedy}{oversold}",
        f.back_in_stock
    )
}

fn headline(verdict: Verdict, inconclusive: &[Inconclusive], f: &Figures) -> String {
    let final_stock = f
        .final_stock
        .map_or("unknown".to_owned(), |s| s.to_string());
    let unsafe_overlaps = f.unsafe_overlaps.unwrap_or(0);
    match verdict {
        Verdict::Fail if f.keys_deleted => format!(
            "The run's keys were deleted by something other than the harness (your script, or another client): the stock key vanished while Redis kept running (same run_id, no restart), after {} unit(s) were recorded as sold. Nothing the audit can judge is left; a script must never delete keys it was not given.",
            f.sold
        ),
        Verdict::Fail if f.history.lost_sales > 0 => lost_sales(f),
        Verdict::Fail if f.back_in_stock > 0 => back_in_stock(f),
        Verdict::Fail if f.oversold > 0 => format!(
            "Oversold {} unit(s): {} units recorded as sold out of {}, and the stock ended at {final_stock}.",
            f.oversold, f.sold, f.initial
        ),
        Verdict::Fail if unsafe_overlaps > 0 => format!(
            "The lock is not exclusive: {unsafe_overlaps} time(s) two clients held it at once and both wrote the stock. Nothing was oversold this time, but this lock would oversell at the last units."
        ),
        Verdict::Fail if f.buyers_over > 0 => {
            let across = match f.buyers_across {
                0 => String::new(),
                n => format!(" ({n} of them on more than one segment, which no per-segment check can stop)"),
            };
            format!(
                "The per-buyer limit does not hold: {} buyer(s) got more than {} purchase(s){across}. audit.csv names the first ones.",
                f.buyers_over, f.buyer_limit
            )
        }
        Verdict::Fail if f.history.phantom_orders > 0 => format!(
            "{} order(s) belong to no purchase that was acknowledged or in doubt (first: {}): the purchase records orders for buyers it turned away, or for no one.",
            f.history.phantom_orders, f.history.phantom_first
        ),
        Verdict::Fail if !f.stock_conserved => not_conserved(f),
        Verdict::Fail if f.history.false_sold_outs > 0 => {
            let stranded = match f.stranded {
                0 => String::new(),
                n => format!(" {n} unit(s) were stranded: still on sale at the end."),
            };
            format!(
                "{} buyer(s) were told sold out while the stock still had units (first: {}): the sale turned buyers away from stock it had.{stranded}",
                f.history.false_sold_outs, f.history.false_first
            )
        }
        Verdict::Fail if f.history.reading_violations > 0 => format!(
            "The stock was read at {} value(s) no order of the sales explains (first: {}), though the end may balance.",
            f.history.reading_violations, f.history.reading_first
        ),
        Verdict::Fail if f.orders_off.is_some() && f.stock_conserved => {
            let orders = f.orders_off.unwrap_or(0);
            let how = if orders < f.sales {
                "sales were made with no order recorded"
            } else {
                "orders were recorded with no sale"
            };
            format!(
                "The orders do not match the sales: {orders} order(s) for {} recorded sale(s) and {} in doubt: {how}.",
                f.sales, f.in_doubt
            )
        }
        Verdict::Fail if f.stock_conserved => {
            "The audit failed on the script's own keys: see audit.csv.".to_owned()
        }
        Verdict::Fail => not_conserved(f),
        Verdict::Reset => format!(
            "The stock was reset by a redis-server restart without persistence: {} units were recorded as sold before it, and the audit cannot judge the strategy.",
            f.sold
        ),
        Verdict::Inconclusive => {
            let reasons: Vec<String> = inconclusive.iter().map(|r| r.to_string()).collect();
            format!(
                "No verdict: {}. Sold {} of {} units without an oversell, but the run did not test what it declared.",
                reasons.join("; "),
                f.sold,
                f.initial
            )
        }
        // The audit's word is never one of the others; they read as a pass
        // of the stock.
        Verdict::Pass
        | Verdict::ThresholdsFailed
        | Verdict::Interrupted
        | Verdict::Regression
        | Verdict::Incomplete
        | Verdict::SloMissed => {
            let fenced = match f.fenced_overlaps {
                Some(n) if n > 0 => format!(
                    " The lock was held by two clients at once {n} time(s), and every stale write was refused (fenced)."
                ),
                _ => String::new(),
            };
            let stranded = match f.stranded {
                0 => String::new(),
                n => format!(
                    " But {n} unit(s) were stranded: still on sale while buyers were told sold out."
                ),
            };
            format!(
                "Sold {} of {} units at {:.0} purchases/s: no oversell, and the stock Redis reports matches the recorded sales.{fenced}{stranded}",
                f.sold, f.initial, f.purchases_per_s
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Figures {
        Figures {
            sold: 100,
            initial: 100,
            final_stock: Some(0),
            oversold: 0,
            in_doubt: 0,
            purchases_per_s: 1000.0,
            unsafe_overlaps: Some(0),
            fenced_overlaps: Some(0),
            back_in_stock: 0,
            failover_at_s: None,
            strategy: "lua",
            wait_replicas: 0,
            stranded: 0,
            sales: 100,
            buyer_limit: 0,
            buyers_over: 0,
            buyers_across: 0,
            orders_off: None,
            stock_conserved: true,
            keys_deleted: false,
            unexpected_replies: 0,
            history: HistoryFigures::default(),
        }
    }

    fn fault() -> Inconclusive {
        Inconclusive::FaultNotApplied {
            fault: "#1 pause".to_owned(),
            why: "the run ended first".to_owned(),
        }
    }

    #[test]
    fn exit_codes_put_the_most_serious_first() {
        let v = |audit, reasons: Vec<Inconclusive>, thresholds, interrupted| {
            RunVerdict::new(audit, reasons, thresholds, interrupted, &figures()).exit_code()
        };
        assert_eq!(v(Verdict::Fail, vec![fault()], false, true), 1);
        assert_eq!(v(Verdict::Reset, vec![], true, false), 1);
        assert_eq!(v(Verdict::Pass, vec![fault()], false, true), 5);
        assert_eq!(v(Verdict::Pass, vec![], false, true), 3);
        assert_eq!(v(Verdict::Pass, vec![], true, true), 130);
        assert_eq!(v(Verdict::Pass, vec![], true, false), 0);
    }

    #[test]
    fn several_runs_exit_with_the_most_serious_code() {
        use Verdict::*;
        let code = |vs: &[Verdict]| Verdict::most_serious(vs.iter().copied()).exit_code();
        assert_eq!(
            code(&[
                Pass,
                Interrupted,
                ThresholdsFailed,
                Inconclusive,
                Fail,
                Pass
            ]),
            1
        );
        assert_eq!(
            code(&[Pass, ThresholdsFailed, Inconclusive, Interrupted]),
            5
        );
        assert_eq!(code(&[Interrupted, Regression, Pass]), 3);
        assert_eq!(code(&[Pass, Incomplete]), 130);
        assert_eq!(code(&[]), 0);
        assert_eq!(Verdict::most_serious([Reset, Fail, Reset]), Fail);
    }

    #[test]
    fn every_word_reads_back_as_itself_and_nothing_else_does() {
        for v in Verdict::ALL {
            assert_eq!(v.as_str().parse::<Verdict>(), Ok(v));
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{v}\""));
        }
        for bad in ["pass", "PASSED", "", "FAIL "] {
            assert!(bad.parse::<Verdict>().is_err(), "{bad:?} was read");
        }
    }

    #[test]
    fn an_oversell_is_fail_even_when_a_fault_did_not_fire() {
        let mut f = figures();
        f.oversold = 2;
        let v = RunVerdict::new(Verdict::Fail, vec![fault()], true, false, &f);
        assert_eq!(v.verdict, Verdict::Fail);
        assert!(
            v.headline.starts_with("Oversold 2 unit(s)"),
            "{}",
            v.headline
        );
    }

    #[test]
    fn lost_sales_are_named_even_when_the_units_balance() {
        let mut f = figures();
        f.failover_at_s = Some(1.5);
        f.history.lost_sales = 1;
        f.history.lost_first = "0-7 (acknowledged at 1.612 s)".to_owned();
        f.history.lost_span = Some("1.612 s to 1.612 s".to_owned());
        f.history.in_doubt_applied = 1;
        let v = RunVerdict::new(Verdict::Fail, Vec::new(), true, false, &f);
        assert!(
            v.headline.starts_with("1 acknowledged sale(s) were lost, acknowledged from 1.612 s to 1.612 s, most likely in the failover at 1.5 s: their ids are not in the orders (first: 0-7"),
            "{}",
            v.headline
        );
        assert!(v.headline.contains("1 in-doubt purchase(s) did land"));
    }

    #[test]
    fn inconclusive_names_the_fault_and_why() {
        let v = RunVerdict::new(Verdict::Pass, vec![fault()], true, false, &figures());
        assert_eq!(v.banner(), Verdict::Inconclusive);
        assert!(v
            .headline
            .contains("fault #1 pause did not take effect: the run ended first"));
        assert_eq!(
            v.inconclusive_reason(),
            "fault #1 pause did not take effect: the run ended first"
        );
    }

    #[test]
    fn an_unsafe_lock_fails_in_words_without_an_oversell() {
        let mut f = figures();
        f.unsafe_overlaps = Some(7);
        let v = RunVerdict::new(Verdict::Fail, vec![], true, false, &f);
        assert!(v.headline.contains("7 time(s) two clients held it at once"));
    }

    #[test]
    fn units_gone_with_unexpected_replies_name_them_as_the_likely_cause() {
        let mut f = figures();
        (f.initial, f.sold, f.final_stock, f.stock_conserved) = (300, 100, Some(0), false);
        f.unexpected_replies = 200;
        let v = RunVerdict::new(Verdict::Fail, vec![], true, false, &f);
        assert!(
            v.headline.contains("The stock is not conserved"),
            "{}",
            v.headline
        );
        assert!(
            v.headline.contains("200 purchase(s) got a reply"),
            "{}",
            v.headline
        );
        // Units come back instead (lost writes): the replies do not explain it.
        f.final_stock = Some(250);
        let v = RunVerdict::new(Verdict::Fail, vec![], true, false, &f);
        assert!(!v.headline.contains("got a reply"), "{}", v.headline);
    }

    #[test]
    fn a_pass_with_thresholds_broken_shows_that_first() {
        let v = RunVerdict::new(Verdict::Pass, vec![], false, false, &figures());
        assert_eq!(v.banner(), Verdict::ThresholdsFailed);
        assert_eq!(v.verdict.as_str(), "PASS");
    }
}
