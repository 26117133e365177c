//! `seckill-bench capacity`: the service-level objective a capacity search
//! holds each step to, parsed once into a typed [`Slo`], and the plan that
//! turns the scenario into one fixed-rate open-loop step per tried rate.
//! `[capacity]` is read only here; `run` and `sweep` ignore it.

use std::path::Path;
use std::time::Duration;

use super::error::ScenarioError;
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
            let limit = super::validate::parse_duration(limit)
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

fn invalid(origin: &str, field: &str, message: String, hint: &str) -> ScenarioError {
    ScenarioError::Invalid {
        location: origin.to_owned(),
        field: field.to_owned(),
        message,
        hint: hint.to_owned(),
    }
}

impl CapacityPlan {
    /// Reads the scenario and its `[capacity]` table; `slo` (from `--slo`)
    /// wins over the table's.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file and field, or the SLO part.
    pub fn load(
        path: &Path,
        overrides: &[Override],
        slo: Option<&str>,
    ) -> Result<CapacityPlan, ScenarioError> {
        let source = read_source(path)?;
        let origin = path.display().to_string();
        let mut table = parse_table(&source, &origin)?;
        table.remove("sweep");
        let mut capacity = match table.remove("capacity") {
            Some(toml::Value::Table(t)) => t,
            None => toml::Table::new(),
            Some(_) => {
                let m = "must be a table".to_owned();
                return Err(invalid(&origin, "capacity", m, "write [capacity]"));
            }
        };
        const KNOWN: [&str; 7] = [
            "check",
            "slo",
            "step_duration",
            "min_rate",
            "max_rate",
            "precision",
            "trials",
        ];
        // `--set capacity.trials=5` edits the search's own settings, which
        // the steps' scenarios never see.
        if let Some(o) = overrides.iter().find(|o| o.path == "capacity") {
            return Err(ScenarioError::BadOverride {
                arg: o.arg.clone(),
                message: "set one key of [capacity], e.g. --set capacity.trials=3".to_owned(),
            });
        }
        let (mine, overrides): (Vec<&Override>, Vec<&Override>) = overrides
            .iter()
            .partition(|o| o.path.starts_with("capacity."));
        // Which keys came from a flag: a bad value is blamed on it.
        let mut flags = std::collections::HashMap::new();
        for o in mine {
            let key = &o.path["capacity.".len()..];
            if !KNOWN.contains(&key) {
                return Err(ScenarioError::BadOverride {
                    arg: o.arg.clone(),
                    message: format!("unknown key `{}`; use {}", o.path, KNOWN.join(", ")),
                });
            }
            capacity.insert(key.to_owned(), o.value.clone());
            flags.insert(key.to_owned(), o.arg.clone());
        }
        let bad = |key: &str, message: String, hint: &str| match flags.get(key) {
            Some(arg) => ScenarioError::BadOverride {
                arg: arg.clone(),
                message: format!("{message}: {hint}"),
            },
            None => invalid(&origin, &format!("capacity.{key}"), message, hint),
        };
        if let Some(unknown) = capacity.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            let m = format!("unknown key `{unknown}`");
            let hint = format!("use {}", KNOWN.join(", "));
            return Err(invalid(&origin, &format!("capacity.{unknown}"), m, &hint));
        }
        // The search sets these for every step: a --set of them would
        // quietly undo it.
        let searched = [
            "load.rate",
            "load.duration",
            "load.stages",
            "load.purchases_per_client",
            "report.slo",
        ];
        if let Some(o) = overrides.iter().find(|o| {
            searched.iter().any(|p| {
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
        let field = |name: &str| capacity.get(name);
        if let Some(v) = field("slo").filter(|v| !v.is_str()) {
            let m = format!("`{v}` is not a string");
            return Err(bad("slo", m, "write slo = \"p99<50ms\""));
        }
        let text = match (slo, field("slo").and_then(toml::Value::as_str)) {
            (Some(s), _) | (None, Some(s)) => s.to_owned(),
            (None, None) => {
                let m = "a capacity search needs a service-level objective".to_owned();
                let hint = "pass --slo \"p99<50ms\", or set slo = \"p99<50ms\" in [capacity]";
                return Err(invalid(&origin, "capacity.slo", m, hint));
            }
        };
        let slo = Slo::parse(&text).map_err(|m| match slo {
            Some(_) => invalid(&origin, "capacity.slo", m, "fix the SLO expression"),
            None => bad("slo", m, "fix the SLO expression"),
        })?;
        let duration = |name: &str, default: Duration| match field(name) {
            None => Ok(default),
            Some(v) => v
                .as_str()
                .and_then(super::validate::parse_duration)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    bad(
                        name,
                        format!("`{v}` is not a duration"),
                        "write e.g. \"5s\"",
                    )
                }),
        };
        let number = |name: &str, default: f64| match field(name) {
            None => Ok(default),
            Some(v) => v
                .as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .filter(|n| *n > 0.0 && n.is_finite())
                .ok_or_else(|| {
                    let m = format!("`{v}` is not a positive number");
                    bad(name, m, "write a positive number")
                }),
        };
        let plan = CapacityPlan {
            name: String::new(),
            slo,
            step_duration: duration("step_duration", Duration::from_secs(5))?,
            min_rate: number("min_rate", 100.0)?,
            max_rate: number("max_rate", 1_000_000.0)?,
            precision: number("precision", 0.05)?,
            check: match field("check") {
                None => true,
                Some(v) => v.as_bool().ok_or_else(|| {
                    bad(
                        "check",
                        format!("`{v}` is not true or false"),
                        "write check = false to skip the check",
                    )
                })?,
            },
            trials: match field("trials") {
                None => 1,
                Some(v) => v
                    .as_integer()
                    .filter(|n| (1..=100).contains(n))
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        let m = format!("`{v}` is not a number of trials");
                        bad("trials", m, "use a whole number from 1 to 100")
                    })?,
            },
            table,
            source,
            origin,
            overrides: overrides.into_iter().cloned().collect(),
        };
        if plan.min_rate >= plan.max_rate {
            let m = format!(
                "min_rate {} is not below max_rate {}",
                plan.min_rate, plan.max_rate
            );
            return Err(invalid(
                &plan.origin,
                "capacity.min_rate",
                m,
                "lower min_rate",
            ));
        }
        // The first step validates the scenario as every step will be.
        let name = plan.step(plan.min_rate)?.name;
        Ok(CapacityPlan { name, ..plan })
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
