//! `--set PATH=VALUE`: overrides applied to the parsed TOML table before
//! validation, so an override is checked exactly like the file.

use std::str::FromStr;

use super::error::ScenarioError;
use crate::util::redact::redact;

/// One `--set PATH=VALUE`. The value is read as a TOML value (`32`, `true`,
/// `"x"`, `[1, 2]`); anything that is not one is taken as a bare string, so
/// `--set strategy.kind=article` needs no quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The flag as written, for error messages; a URL's password masked.
    pub arg: String,
    pub path: String,
    pub value: toml::Value,
}

impl FromStr for Override {
    type Err = String;

    fn from_str(arg: &str) -> Result<Override, String> {
        let (path, raw) = arg
            .split_once('=')
            .ok_or_else(|| format!("`{}` has no `=`; write PATH=VALUE", redact(arg)))?;
        let path = path.trim();
        let valid_name = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        let valid_part = |p: &str| match split_index(p) {
            (name, Some(_)) => valid_name(name),
            (name, None) => valid_name(name) && !p.contains('['),
        };
        if !path.split('.').all(valid_part) {
            return Err(format!(
                "`{}` is not a dotted field path like load.processes",
                redact(path)
            ));
        }
        let value = parse_value(raw.trim());
        Ok(Override {
            arg: redact(&format!("--set {arg}")),
            path: path.to_owned(),
            value,
        })
    }
}

impl Override {
    /// `--redis-url URL`, which is `redis.url` by another name.
    pub fn redis_url(url: &str) -> Override {
        Override {
            arg: format!("--redis-url {}", redact(url)),
            path: "redis.url".to_owned(),
            value: toml::Value::String(url.to_owned()),
        }
    }
}

impl Override {
    /// A value from the environment variable `name`: blamed on it, not on
    /// a flag or the file.
    pub fn from_env(name: &str, path: &str, value: toml::Value) -> Override {
        Override {
            arg: format!("the environment variable {name}"),
            path: path.to_owned(),
            value,
        }
    }
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// `faults[2]` -> (`faults`, Some(2)).
fn split_index(part: &str) -> (&str, Option<usize>) {
    match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
        Some((name, index)) => (name, index.parse().ok()),
        None => (part, None),
    }
}

/// Sets every override in `table`, creating intermediate tables as needed;
/// `name[i]` steps into element `i` of an existing array of tables.
///
/// # Errors
/// When a path goes through a value that is not a table, or an element
/// that does not exist.
pub fn apply(table: &mut toml::Table, overrides: &[Override]) -> Result<(), ScenarioError> {
    for o in overrides {
        let mut parts: Vec<&str> = o.path.split('.').collect();
        let last = parts.pop().expect("FromStr guarantees a non-empty path");
        let mut current = &mut *table;
        for part in parts {
            current = step(current, part).map_err(|message| ScenarioError::BadOverride {
                arg: o.arg.clone(),
                message,
            })?;
        }
        current.insert(last.to_owned(), o.value.clone());
    }
    Ok(())
}

fn step<'t>(table: &'t mut toml::Table, part: &str) -> Result<&'t mut toml::Table, String> {
    let (name, index) = split_index(part);
    let entry = table
        .entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let entry = match index {
        None => entry,
        Some(i) => entry
            .as_array_mut()
            .and_then(|a| a.get_mut(i))
            .ok_or_else(|| format!("`{name}` has no element {i}"))?,
    };
    entry
        .as_table_mut()
        .ok_or_else(|| format!("`{part}` is a value, not a table"))
}
