//! `seckill-bench capacity`: the service-level objective a capacity search
//! holds each step to, parsed once into a typed [`Slo`], and the plan that
//! turns the scenario into one fixed-rate open-loop step per tried rate.
//! `[capacity]` is read only here; `run` and `sweep` ignore it.

use std::path::Path;
use std::time::Duration;

use super::error::{FieldError, ScenarioError};
use super::locate::Locator;
use super::{parse_table, read_source, Override, Scenario};

/// What a step must meet: latency limits on the `purchase` phase (timed
/// from the intended start) and, optionally, an error rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// (quantile 0..1, its name as written, the limit).
    pub latency: Vec<(f64, String, Duration)>,
    /// Failed purchases / attempts, 0..1.
    pub max_error_rate: Option<f64>,
    /// As written, for reports.
    pub text: String,
}

impl Slo {
    /// Parses `p99<50ms`, `p99.9<200ms,errors<0.1%`.
    ///
    /// # Errors
    /// The part that could not be read, and what is expected instead.
    pub fn parse(text: &str) -> Result<Slo, String> {
        let mut slo = Slo {
            latency: Vec::new(),
            max_error_rate: None,
            text: text.trim().to_owned(),
        };
        for part in text.split(',').map(str::trim) {
            let bad = || {
                format!("cannot read `{part}` of the SLO `{text}`: write pNN<DURATION (p99<50ms, p99.9<1s) or errors<N% (errors<0.1%), joined by commas")
            };
            let (name, limit) = part.split_once('<').ok_or_else(bad)?;
            let (name, limit) = (name.trim(), limit.trim());
            if name == "errors" {
                let pct: f64 = limit
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse().ok())
                    .filter(|n: &f64| (0.0..=100.0).contains(n))
                    .ok_or_else(bad)?;
                slo.max_error_rate = Some(pct / 100.0);
                continue;
            }
            let q: f64 = name
                .strip_prefix('p')
                .and_then(|n| n.parse().ok())
                .filter(|q: &f64| *q > 0.0 && *q < 100.0)
                .ok_or_else(bad)?;
            let limit = super::duration::parse_duration(limit)
                .filter(|d| !d.is_zero())
                .ok_or_else(bad)?;
            slo.latency.push((q / 100.0, name.to_owned(), limit));
        }
        if slo.latency.is_empty() && slo.max_error_rate.is_none() {
            return Err(format!(
                "the SLO `{text}` sets no limit: write e.g. p99<50ms"
            ));
        }
        Ok(slo)
    }
}

/// The search's settings and the scenario each step is made from.
#[derive(Debug, Clone)]
pub struct CapacityPlan {
    pub name: String,
    pub slo: Slo,
    pub step_duration: Duration,
    pub min_rate: f64,
    pub max_rate: f64,
    /// The search stops when the bracket is this narrow, relative.
    pub precision: f64,
    /// Runs of each rate, judged together.
    pub trials: u32,
    /// Look at the found rate again at 0.8x and 1.25x (default true).
    pub check: bool,
    table: toml::Table,
    source: String,
    origin: String,
    overrides: Vec<Override>,
}

/// `[capacity]` as written: every key optional, an unknown one refused.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapacity {
    slo: Option<String>,
    step_duration: Option<String>,
    min_rate: Option<f64>,
    max_rate: Option<f64>,
    precision: Option<f64>,
    check: Option<bool>,
    trials: Option<i64>,
}

/// The file's `[capacity]` table, its own keys under their own name so a
/// serde error names `capacity.<key>`.
#[derive(Debug, Default, serde::Deserialize)]
struct RawCapacityTable {
    #[serde(default)]
    capacity: RawCapacity,
}

/// The fewest arrivals a step must hold for its percentiles and rate to
/// mean anything: a p99 of fewer than 100 purchases is its maximum, and a
/// rate measured over a handful of arrivals is noise.
pub const MIN_STEP_ARRIVALS: f64 = 100.0;
/// The shortest step: below a second, start-up and the schedule's first
/// arrivals weigh as much as the load itself.
pub const MIN_STEP: Duration = Duration::from_secs(1);
/// The highest rate a step may offer: far beyond one Redis, and small
/// enough to name a step's folder.
pub const MAX_RATE: f64 = 10_000_000.0;

/// The search sets these for every step: a `--set` of them would quietly
/// undo it.
const SEARCHED: [&str; 5] = [
    "load.rate",
    "load.duration",
    "load.stages",
    "load.purchases_per_client",
    "report.slo",
];

impl CapacityPlan {
    /// Reads the scenario and its `[capacity]` table; `slo` (from `--slo`)
    /// wins over the table's.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file and field (or the flag), or the
    /// SLO part.
    pub fn load(
        path: &Path,
        overrides: &[Override],
        slo: Option<&str>,
    ) -> Result<CapacityPlan, ScenarioError> {
        let source = read_source(path)?;
        let origin = path.display().to_string();
        let mut table = parse_table(&source, &origin)?;
        table.remove("sweep");
        // `--set capacity.trials=5` edits the search's own settings, which
        // the steps' scenarios never see.
        let (mine, overrides): (Vec<Override>, Vec<Override>) = overrides
            .iter()
            .cloned()
            .partition(|o| o.path == "capacity" || o.path.starts_with("capacity."));
        if let Some(o) = mine.iter().find(|o| o.path == "capacity") {
            return Err(ScenarioError::BadOverride {
                arg: o.arg.clone(),
                message: "set one key of [capacity], e.g. --set capacity.trials=3".to_owned(),
            });
        }
        if let Some(o) = overrides.iter().find(|o| {
            SEARCHED.iter().any(|p| {
                o.path == *p
                    || o.path.starts_with(&format!("{p}."))
                    || o.path.starts_with(&format!("{p}["))
            })
        }) {
            let m = format!("`{}` is set by the capacity search itself (each step is a fixed rate for step_duration)", o.path);
            return Err(ScenarioError::BadOverride {
                arg: o.arg.clone(),
                message: m,
            });
        }
        let mut own = toml::Table::new();
        if let Some(capacity) = table.remove("capacity") {
            own.insert("capacity".to_owned(), capacity);
        }
        let locator = Locator::new(&source, &origin, &mine);
        super::overrides::apply(&mut own, &mine)?;
        let raw: RawCapacityTable = serde_path_to_error::deserialize(toml::Value::Table(own))
            .map_err(|e| locator.serde_error(&e))?;
        let raw = raw.capacity;
        let slo = match (slo, raw.slo.as_deref()) {
            (Some(text), _) => Slo::parse(text).map_err(|m| ScenarioError::Invalid {
                location: format!("--slo {text}"),
                field: String::new(),
                message: m,
                hint: "fix the SLO expression".to_owned(),
            })?,
            (None, Some(text)) => Slo::parse(text).map_err(|m| {
                locator.field_error(FieldError::new("capacity.slo", m, "fix the SLO expression"))
            })?,
            (None, None) => {
                return Err(locator.field_error(FieldError::new(
                    "capacity.slo",
                    "a capacity search needs a service-level objective",
                    "pass --slo \"p99<50ms\", or set slo = \"p99<50ms\" in [capacity]",
                )))
            }
        };
        let settings = settings(&raw).map_err(|e| locator.field_error(e))?;
        let plan = CapacityPlan {
            name: String::new(),
            slo,
            step_duration: settings.step_duration,
            min_rate: settings.min_rate,
            max_rate: settings.max_rate,
            precision: settings.precision,
            check: raw.check.unwrap_or(true),
            trials: settings.trials,
            table,
            source,
            origin,
            overrides,
        };
        // The first step validates the scenario as every step will be.
        let name = plan.step(plan.min_rate)?.name;
        Ok(CapacityPlan { name, ..plan })
    }

    /// Whether a step at `rate` holds enough arrivals to be judged: at
    /// least [`MIN_STEP_ARRIVALS`] in `step_duration`, and no more than
    /// [`MAX_RATE`] a second. The message says what to change.
    ///
    /// # Errors
    /// The rate and why it cannot be judged.
    pub fn judgeable(&self, rate: f64) -> Result<(), String> {
        rate_judgeable(rate, self.step_duration)
    }
    /// The scenario of one step: an open loop at `rate` purchases/s for
    /// `step_duration`, the scenario's own stages and count stop removed.
    ///
    /// # Errors
    /// [`ScenarioError`] when the scenario is not valid that way.
    pub fn step(&self, rate: f64) -> Result<Scenario, ScenarioError> {
        let mut table = self.table.clone();
        if let Some(toml::Value::Table(load)) = table.get_mut("load") {
            load.remove("stages");
            load.remove("purchases_per_client");
            load.insert("rate".to_owned(), toml::Value::Float(rate));
            let secs = format!("{}ms", self.step_duration.as_millis());
            load.insert("duration".to_owned(), toml::Value::String(secs));
        }
        // Each step's timeline marks where its latency crossed the SLO.
        let report = table
            .entry("report")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(report) = report {
            report.insert("slo".to_owned(), toml::Value::String(self.slo.text.clone()));
        }
        Scenario::from_table(table, &self.source, &self.origin, &self.overrides)
    }
}

/// The search's numbers, checked; the SLO is parsed apart.
struct Settings {
    step_duration: Duration,
    min_rate: f64,
    max_rate: f64,
    precision: f64,
    trials: u32,
}

type FieldResult<T> = Result<T, FieldError>;

fn settings(raw: &RawCapacity) -> FieldResult<Settings> {
    let step_duration = match &raw.step_duration {
        None => Duration::from_secs(5),
        Some(text) => super::duration::parse_duration(text).ok_or_else(|| {
            FieldError::new(
                "capacity.step_duration",
                format!("`{text}` is not a duration"),
                "write e.g. \"5s\"",
            )
        })?,
    };
    if step_duration < MIN_STEP {
        return Err(FieldError::new(
            "capacity.step_duration",
            format!("{step_duration:?} is too short to judge a rate"),
            "give each step at least 1s (the default is 5s)",
        ));
    }
    let rate = |field: &str, value: Option<f64>, default: f64| -> FieldResult<f64> {
        let rate = positive(field, value, default)?;
        rate_judgeable(rate, step_duration)
            .map_err(|m| FieldError::new(field, m, "raise it, or lengthen capacity.step_duration"))
            .map(|()| rate)
    };
    let min_rate = rate("capacity.min_rate", raw.min_rate, 100.0)?;
    let max_rate = rate("capacity.max_rate", raw.max_rate, 1_000_000.0)?;
    if min_rate >= max_rate {
        return Err(FieldError::new(
            "capacity.min_rate",
            format!("min_rate {min_rate} is not below max_rate {max_rate}"),
            "lower min_rate or raise max_rate",
        )
        .depending_on(&["capacity.max_rate"]));
    }
    let precision = positive("capacity.precision", raw.precision, 0.05)?;
    let trials = match raw.trials {
        None => 1,
        Some(n) if (1..=100).contains(&n) => n as u32,
        Some(n) => {
            return Err(FieldError::new(
                "capacity.trials",
                format!("`{n}` is not a number of trials"),
                "use a whole number from 1 to 100",
            ))
        }
    };
    Ok(Settings {
        step_duration,
        min_rate,
        max_rate,
        precision,
        trials,
    })
}

fn positive(field: &str, value: Option<f64>, default: f64) -> FieldResult<f64> {
    match value {
        None => Ok(default),
        Some(n) if n > 0.0 && n.is_finite() => Ok(n),
        Some(n) => Err(FieldError::new(
            field,
            format!("`{n}` is not a positive number"),
            "write a positive number",
        )),
    }
}

fn rate_judgeable(rate: f64, step: Duration) -> Result<(), String> {
    let arrivals = rate * step.as_secs_f64();
    if rate > MAX_RATE {
        return Err(format!(
            "{rate:e}/s is beyond any rate one setup can take (at most {MAX_RATE}/s)"
        ));
    }
    if arrivals < MIN_STEP_ARRIVALS {
        return Err(format!(
            "{rate}/s for {step:?} is {arrivals:.1} arrival(s), too few to judge a rate (at least {MIN_STEP_ARRIVALS})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_into_quantiles_limits_and_an_error_rate() {
        let slo = Slo::parse("p99.9<200ms, errors<0.1%").unwrap();
        assert_eq!(slo.latency.len(), 1);
        let (q, name, limit) = &slo.latency[0];
        assert!((q - 0.999).abs() < 1e-12);
        assert_eq!(
            (name.as_str(), *limit),
            ("p99.9", Duration::from_millis(200))
        );
        assert_eq!(slo.max_error_rate, Some(0.001));
        for bad in ["p99", "p99<fast", "p100<1s", "errors<5", "q99<1s", ""] {
            let e = Slo::parse(bad).unwrap_err();
            assert!(
                e.contains("cannot read") || e.contains("no limit"),
                "{bad}: {e}"
            );
        }
        assert!(Slo::parse("p99<1s,oops").unwrap_err().contains("`oops`"));
    }
}
