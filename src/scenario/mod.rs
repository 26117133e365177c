//! Scenarios: a TOML file plus `--set` overrides, parsed once into a validated
//! [`Scenario`] of real types. Owns reading, overriding, validating and
//! locating errors (file, line, field); does not know how a run uses it.
//!
//! Pipeline: source text -> `toml::Table` -> overrides applied ->
//! [`raw::RawScenario`] (serde, unknown keys rejected) -> [`Scenario`]
//! (validation). Every error names where the bad value came from.

mod error;
mod locate;
mod overrides;
mod raw;
mod validate;

use std::num::{NonZeroU32, NonZeroU64};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::ScenarioError;
pub use overrides::Override;

/// A validated scenario: everything a run needs to know, in real types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Used in report folder names and Redis keys: `[A-Za-z0-9._-]+`.
    pub name: String,
    pub description: String,
    pub redis: RedisSettings,
    pub stock: StockSettings,
    pub load: LoadSettings,
    pub strategy: StrategySettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisSettings {
    /// `None`: start a throwaway embedded redis-server.
    pub url: Option<RedisUrl>,
    /// First part of every key; the run adds its own hash-tagged id after it.
    pub key_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockSettings {
    pub initial: u64,
    /// Units taken by one purchase.
    pub quantity: NonZeroU64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSettings {
    pub processes: NonZeroU32,
    pub clients_per_process: NonZeroU32,
    pub stop: StopRule,
}

impl LoadSettings {
    pub fn total_clients(&self) -> u64 {
        u64::from(self.processes.get()) * u64::from(self.clients_per_process.get())
    }
}

/// When a client stops, besides being told the stock is sold out. At least one
/// of the two is set; with both, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StopRule {
    pub purchases_per_client: Option<NonZeroU64>,
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// The article's lock: `SET lock 1 NX PX`, GET, INCRBY, unconditional DEL.
    Article,
    /// The same without any lock: the negative control.
    Unlocked,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 2] = [StrategyKind::Article, StrategyKind::Unlocked];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Article => "article",
            StrategyKind::Unlocked => "unlocked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StrategySettings {
    pub kind: StrategyKind,
    pub lock: LockParams,
    pub stall: Stall,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LockParams {
    /// `PX` of the lock: it expires this long after it was taken.
    pub ttl: Duration,
    /// How long one `acquire_lock` call retries before giving up (and, as in
    /// the article, being called again).
    pub wait_timeout: Duration,
    /// Pause between two failed `SET NX`; zero retries at once.
    pub retry_interval: Duration,
}

/// A pause inside the critical section, between reading and decrementing the
/// stock: the GC pause or VM stall that breaks an expiring lock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub duration: Duration,
    /// Share of purchases that stall, 0.0..=1.0.
    pub fraction: f64,
}

/// A Redis URL whose password never leaves it: `Display` and `Debug` mask it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            Ok(url) => url.to_string(),
            Err(_) => "<unparseable url>".to_owned(),
        }
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl Scenario {
    /// Reads and validates a scenario file with `--set` overrides applied.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file, line and field of the first problem.
    pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
        let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&source, &path.display().to_string(), overrides)
    }

    /// Parses scenario text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the origin, line and field of the first problem.
    pub fn parse(
        source: &str,
        origin: &str,
        overrides: &[Override],
    ) -> Result<Scenario, ScenarioError> {
        let locator = locate::Locator::new(source, origin, overrides);
        let mut table: toml::Table =
            toml::from_str(source).map_err(|e| locator.syntax_error(&e))?;
        overrides::apply(&mut table, overrides)?;
        let raw: raw::RawScenario = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| locator.serde_error(&e))?;
        validate::scenario(raw).map_err(|e| locator.field_error(e))
    }
}

#[cfg(test)]
mod tests;
