//! A scenario's `[sweep]` table: dotted field paths mapped to lists of
//! values. Every combination becomes one point, a full [`Scenario`]
//! validated exactly like `--set`, so a bad path or value is reported with
//! the sweep line that produced it before anything runs. A `--set` applies
//! to every point, but not to a swept field: that is refused.
//!
//! ```toml
//! [sweep]
//! "strategy.kind" = ["article", "lua"]
//! load.processes = [2, 4]          # dotted keys work too
//! expect_oversell = true           # exploration: failing points exit 0
//! ```

use std::path::Path;

use super::error::ScenarioError;
use super::locate::Locator;
use super::overrides::Override;
use super::{parse_table, read_source, Scenario};

/// Catches a typo (an extra list entry in every field) before hours of runs.
const MAX_POINTS: usize = 1000;

/// Fields a sweep may not vary: one Redis and one name serve every point,
/// but for [`SWEPT_SERVER`].
const FIXED_FIELDS: [&str; 3] = ["name", "description", "redis"];
/// The program the embedded servers run may vary: a point gets servers of
/// its own when it asks for another than the point before.
const SWEPT_SERVER: &str = "redis.server";

#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The scenario's name.
    pub name: String,
    /// Swept field paths, in file order.
    pub fields: Vec<String>,
    pub points: Vec<SweepPoint>,
    /// Oversold points are the expected finding, not a failure.
    pub expect_oversell: bool,
}

#[derive(Debug, Clone)]
pub struct SweepPoint {
    /// One value per swept field, in [`SweepPlan::fields`] order.
    pub values: Vec<toml::Value>,
    pub scenario: Scenario,
}

/// One swept field and where it was written.
struct Axis {
    path: String,
    values: Vec<toml::Value>,
    place: String,
}

impl SweepPlan {
    /// # Errors
    /// [`ScenarioError`] naming the file, line and field of the first problem.
    pub fn load(path: &Path, overrides: &[Override]) -> Result<SweepPlan, ScenarioError> {
        let source = read_source(path)?;
        SweepPlan::parse(&source, &path.display().to_string(), overrides)
    }

    /// # Errors
    /// [`ScenarioError`] naming the origin, line and field of the first problem.
    pub fn parse(
        source: &str,
        origin: &str,
        overrides: &[Override],
    ) -> Result<SweepPlan, ScenarioError> {
        let mut table = parse_table(source, origin)?;
        table.remove("capacity");
        let locator = Locator::new(source, origin, &[]);
        let sweep = match table.remove("sweep") {
            Some(toml::Value::Table(sweep)) => sweep,
            Some(_) => return Err(invalid(origin, "sweep", "must be a table", "write [sweep]")),
            None => {
                let hint = "add a [sweep] table mapping field paths to lists, e.g. \"strategy.kind\" = [\"article\", \"lua\"]";
                return Err(invalid(
                    origin,
                    "sweep",
                    "this scenario has no [sweep] table",
                    hint,
                ));
            }
        };
        let expect_oversell = expect_oversell(&sweep, &locator)?;
        let mut axes = Vec::new();
        flatten(&sweep, &mut Vec::new(), &locator, &mut axes)?;
        check_axes(&axes, origin)?;
        check_overrides(&table, &axes, source, origin, overrides)?;
        let mut points = Vec::new();
        for combo in combinations(&axes) {
            points.push(point(&table, &axes, &combo, source, origin, overrides)?);
        }
        Ok(SweepPlan {
            name: points[0].scenario.name.clone(),
            fields: axes.into_iter().map(|a| a.path).collect(),
            points,
            expect_oversell,
        })
    }

    /// Embedded lock servers the points need (the most any point needs).
    pub fn lock_servers(&self) -> u32 {
        self.points
            .iter()
            .map(|p| p.scenario.lock_servers())
            .max()
            .unwrap_or(0)
    }
}

impl SweepPoint {
    /// `strategy.kind=lua, load.processes=4`.
    pub fn label(&self, fields: &[String]) -> String {
        fields
            .iter()
            .zip(&self.values)
            .map(|(f, v)| format!("{f}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A folder name for point `index` (0-based): `003-kind=lua-processes=4`.
    pub fn folder(&self, index: usize, fields: &[String]) -> String {
        let parts = fields.iter().zip(&self.values).map(|(f, v)| {
            let short = f.rsplit('.').next().unwrap_or(f);
            format!("{short}={}", value_text(v))
        });
        let name = format!("{:03}-{}", index + 1, parts.collect::<Vec<_>>().join("-"));
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.=".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// A value as a person writes it: strings without quotes.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn invalid(location: &str, field: &str, message: &str, hint: &str) -> ScenarioError {
    ScenarioError::Invalid {
        location: location.to_owned(),
        field: field.to_owned(),
        message: message.to_owned(),
        hint: hint.to_owned(),
    }
}

fn expect_oversell(sweep: &toml::Table, locator: &Locator<'_>) -> Result<bool, ScenarioError> {
    match sweep.get("expect_oversell") {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(_) => Err(invalid(
            &locator.place(&["sweep", "expect_oversell"]),
            "sweep.expect_oversell",
            "must be true or false",
            "write expect_oversell = true to accept oversold points",
        )),
    }
}

/// Collects every list in the sweep table as an axis; nested tables (from
/// dotted keys) extend the path.
fn flatten(
    table: &toml::Table,
    prefix: &mut Vec<String>,
    locator: &Locator<'_>,
    axes: &mut Vec<Axis>,
) -> Result<(), ScenarioError> {
    for (key, value) in table {
        if prefix.is_empty() && key == "expect_oversell" {
            continue;
        }
        prefix.push(key.clone());
        let parts: Vec<&str> = std::iter::once("sweep")
            .chain(prefix.iter().map(String::as_str))
            .collect();
        let place = locator.place(&parts);
        let path = prefix.join(".");
        match value {
            toml::Value::Table(inner) => flatten(inner, prefix, locator, axes)?,
            toml::Value::Array(values) if !values.is_empty() => axes.push(Axis {
                path,
                values: values.clone(),
                place,
            }),
            _ => {
                let hint = "give a non-empty list of values, e.g. [1, 2, 4]";
                return Err(invalid(
                    &place,
                    &format!("sweep.{path}"),
                    "must be a list of values",
                    hint,
                ));
            }
        }
        prefix.pop();
    }
    Ok(())
}

fn check_axes(axes: &[Axis], origin: &str) -> Result<(), ScenarioError> {
    if axes.is_empty() {
        let hint = "add at least one field, e.g. \"strategy.kind\" = [\"article\", \"lua\"]";
        return Err(invalid(origin, "sweep", "sweeps no field", hint));
    }
    for axis in axes {
        let top = axis.path.split('.').next().unwrap_or("");
        if FIXED_FIELDS.contains(&top) && axis.path != SWEPT_SERVER {
            let hint = "sweep load, stock or strategy fields, or redis.server; run separate sweeps for other Redis settings";
            return Err(invalid(&axis.place, &axis.path, "cannot be swept", hint));
        }
    }
    let count = axes.iter().map(|a| a.values.len()).product::<usize>();
    if count > MAX_POINTS {
        let message = format!("{count} points is more than {MAX_POINTS}");
        return Err(invalid(origin, "sweep", &message, "sweep fewer values"));
    }
    Ok(())
}

/// Refuses a `--set` on a swept field (or on a table or array holding
/// one, or a part of one): every point would replace it with the sweep's
/// own value. A bad value is reported first, exactly as `run` reports it.
fn check_overrides(
    table: &toml::Table,
    axes: &[Axis],
    source: &str,
    origin: &str,
    overrides: &[Override],
) -> Result<(), ScenarioError> {
    for o in overrides {
        let Some(axis) = axes.iter().find(|a| overlaps(&a.path, &o.path)) else {
            continue;
        };
        let mut alone: Vec<Override> = axes.iter().map(|a| a.set(&a.values[0])).collect();
        alone.push(o.clone());
        if let Err(e) = Scenario::from_table(table.clone(), source, origin, &alone) {
            if blames(&e, &o.arg) {
                return Err(e);
            }
        }
        let message = format!(
            "overrides `{}`, which the sweep varies ({}), and makes the sweep meaningless: \
             every point would run the sweep's value and ignore this one",
            axis.path, axis.place
        );
        let hint = format!(
            "drop this --set, or edit the list in [sweep]; to run one value, use `run {}`",
            o.arg
        );
        return Err(invalid(&o.arg, &axis.path, &message, &hint));
    }
    Ok(())
}

/// Whether one dotted path is the other or holds it (`strategy` holds
/// `strategy.kind`, `faults` holds `faults[0].at`).
fn overlaps(a: &str, b: &str) -> bool {
    let holds = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    holds(a, b) || holds(b, a)
}

/// Whether `e` puts the blame on the flag `arg`.
fn blames(e: &ScenarioError, arg: &str) -> bool {
    match e {
        // Several flags are joined with ", ", which a flag may contain too.
        ScenarioError::Invalid { location, .. } => {
            location == arg
                || location.starts_with(&format!("{arg}, "))
                || location.ends_with(&format!(", {arg}"))
                || location.contains(&format!(", {arg}, "))
        }
        ScenarioError::BadOverride { arg: blamed, .. } => blamed == arg,
        ScenarioError::Read { .. } => false,
    }
}

impl Axis {
    /// This axis at `value`, as the override a point applies.
    fn set(&self, value: &toml::Value) -> Override {
        Override {
            arg: format!("{}: [sweep] {} = {value}", self.place, self.path),
            path: self.path.clone(),
            value: value.clone(),
        }
    }
}

/// Every combination of value indices, the last field varying fastest.
fn combinations(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut combos = vec![Vec::new()];
    for axis in axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                (0..axis.values.len()).map(move |i| {
                    let mut next = c.clone();
                    next.push(i);
                    next
                })
            })
            .collect();
    }
    combos
}

fn point(
    table: &toml::Table,
    axes: &[Axis],
    combo: &[usize],
    source: &str,
    origin: &str,
    overrides: &[Override],
) -> Result<SweepPoint, ScenarioError> {
    let values: Vec<toml::Value> = axes
        .iter()
        .zip(combo)
        .map(|(a, &i)| a.values[i].clone())
        .collect();
    let mut all = overrides.to_vec();
    all.extend(axes.iter().zip(&values).map(|(a, v)| a.set(v)));
    let scenario = Scenario::from_table(table.clone(), source, origin, &all)?;
    Ok(SweepPoint { values, scenario })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"name = "sw"

[stock]
initial = 10

[load]
processes = 1
clients_per_process = 1
purchases_per_client = 1

[strategy]
kind = "article"

[sweep]
"strategy.kind" = ["article", "lua", "decr"]
load.processes = [1, 2]
"#;

    #[test]
    fn every_combination_is_a_validated_point() {
        let plan = SweepPlan::parse(BASE, "s.toml", &[]).unwrap();
        assert_eq!(plan.fields, ["strategy.kind", "load.processes"]);
        assert_eq!(plan.points.len(), 6);
        assert!(!plan.expect_oversell);
        let p = &plan.points[3];
        assert_eq!(p.scenario.strategy.kind.name(), "lua");
        assert_eq!(p.scenario.load.processes.get(), 2);
        assert_eq!(p.label(&plan.fields), "strategy.kind=lua, load.processes=2");
        assert_eq!(p.folder(3, &plan.fields), "004-kind=lua-processes=2");
    }

    #[test]
    fn a_bad_value_names_its_sweep_line() {
        let text = BASE.replace("[1, 2]", "[1, 0]");
        let e = SweepPlan::parse(&text, "s.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.toml:16: [sweep] load.processes = 0: field `load.processes`"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_path_names_its_sweep_line() {
        let text = BASE.replace("\"strategy.kind\"", "\"strategy.knd\"");
        let e = SweepPlan::parse(&text, "s.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:15: [sweep] strategy.knd"), "{e}");
        assert!(e.contains("unknown field `knd`"), "{e}");
    }

    #[test]
    fn non_lists_fixed_fields_and_missing_tables_are_refused() {
        let e = SweepPlan::parse(&BASE.replace("[1, 2]", "2"), "s.toml", &[]).unwrap_err();
        assert!(e.to_string().contains("must be a list of values"), "{e}");
        let e = SweepPlan::parse(
            &format!("{BASE}\"redis.key_prefix\" = [\"a\"]\n"),
            "s.toml",
            &[],
        );
        assert!(e.unwrap_err().to_string().contains("cannot be swept"));
        // The server program may vary: each point gets servers of its own.
        let servers = format!("{BASE}\"redis.server\" = [\"redis\", \"valkey\"]\n");
        let plan = SweepPlan::parse(&servers, "s.toml", &[]).unwrap();
        let last = plan.points.last().unwrap();
        assert_eq!(last.scenario.redis.server, crate::scenario::Server::Valkey);
        let no_sweep = &BASE[..BASE.find("[sweep]").unwrap()];
        let e = SweepPlan::parse(no_sweep, "s.toml", &[]).unwrap_err();
        assert!(e.to_string().contains("no [sweep] table"), "{e}");
    }

    fn with_sets(sets: &[&str]) -> Result<SweepPlan, ScenarioError> {
        let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
        SweepPlan::parse(BASE, "s.toml", &overrides)
    }

    #[test]
    fn a_set_on_a_swept_field_is_refused_not_silently_ignored() {
        let e = with_sets(&["strategy.kind=lua"]).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "--set strategy.kind=lua: field `strategy.kind`: overrides `strategy.kind`, \
                 which the sweep varies (s.toml:15), and makes the sweep meaningless"
            ),
            "{e}"
        );
        assert!(e.contains("use `run --set strategy.kind=lua`"), "{e}");
        for set in ["strategy={kind=\"lua\"}", "load.processes=4"] {
            let e = with_sets(&[set]).unwrap_err().to_string();
            assert!(e.contains("makes the sweep meaningless"), "{set}: {e}");
            assert!(e.starts_with(&format!("--set {set}: field")), "{set}: {e}");
        }
    }

    #[test]
    fn a_bad_set_is_reported_as_run_reports_it() {
        let e = with_sets(&["strategy.kind=magic"]).unwrap_err().to_string();
        assert!(
            e.starts_with("--set strategy.kind=magic: field `strategy.kind`: unknown strategy"),
            "{e}"
        );
        let e = with_sets(&["load.processes=0"]).unwrap_err().to_string();
        assert!(
            e.starts_with("--set load.processes=0: field `load.processes`: must be between"),
            "{e}"
        );
        let e = with_sets(&["stock.initial=-1"]).unwrap_err().to_string();
        assert!(
            e.starts_with("--set stock.initial=-1: field `stock.initial`"),
            "{e}"
        );
        let plan = with_sets(&["stock.initial=7"]).unwrap();
        assert!(plan.points.iter().all(|p| p.scenario.stock.initial == 7));
    }

    #[test]
    fn expect_oversell_is_read_and_run_ignores_the_sweep() {
        let text = BASE.replace("[sweep]", "[sweep]\nexpect_oversell = true");
        assert!(
            SweepPlan::parse(&text, "s.toml", &[])
                .unwrap()
                .expect_oversell
        );
        let s = Scenario::parse(&text, "s.toml", &[]).unwrap();
        assert_eq!(s.strategy.kind.name(), "article");
    }
}
