//! The scenario file exactly as written: serde structs with loose types
//! (`i64`, strings for durations) so that validation, not serde, words the
//! errors about values. Unknown keys are rejected here.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub redis: RawRedis,
    pub stock: RawStock,
    pub load: RawLoad,
    pub strategy: RawStrategy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    pub url: Option<String>,
    pub key_prefix: Option<String>,
    pub redlock_urls: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStock {
    pub initial: i64,
    pub quantity: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub processes: i64,
    pub clients_per_process: i64,
    pub purchases_per_client: Option<i64>,
    pub duration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStrategy {
    pub kind: String,
    pub lock_ttl_ms: Option<i64>,
    pub wait_timeout_ms: Option<i64>,
    pub retry_interval_ms: Option<i64>,
    pub stall_ms: Option<i64>,
    pub stall_fraction: Option<f64>,
    pub backoff: Option<String>,
    pub backoff_cap_ms: Option<i64>,
    pub jitter: Option<f64>,
    pub on_wait_timeout: Option<String>,
    pub redlock_nodes: Option<i64>,
}
