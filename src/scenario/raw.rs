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
    #[serde(default)]
    pub report: RawReport,
    #[serde(default)]
    pub thresholds: RawThresholds,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    #[serde(default)]
    pub buyers: RawBuyers,
    #[serde(default)]
    pub audit: RawAudit,
    pub hosts: Option<RawHosts>,
    pub service: Option<RawService>,
}

/// `[service]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub command: Option<Vec<String>>,
    pub instances: Option<i64>,
    pub env: Option<toml::Table>,
    pub ready_path: Option<String>,
    pub ready_timeout: Option<String>,
    pub stop_grace: Option<String>,
}

/// `[hosts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHosts {
    pub launcher: Option<Vec<String>>,
    pub list: Option<Vec<RawHostEntry>>,
    pub binary: Option<String>,
    pub max_parallel_starts: Option<i64>,
    pub on_host_loss: Option<String>,
    pub dead_man_ms: Option<i64>,
    pub remote_shell: Option<bool>,
}

/// One entry of `[hosts] list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostEntry {
    pub host: String,
    pub processes: Option<i64>,
}

/// `[buyers]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuyers {
    pub count: Option<i64>,
    pub pick: Option<String>,
}

/// `[audit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub per_buyer_limit: Option<i64>,
    pub orders: Option<String>,
    pub orders_buyer_field: Option<String>,
    pub orders_id_field: Option<String>,
    pub sample_interval: Option<String>,
    pub history: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: String,
    pub at: String,
    pub duration: Option<String>,
    pub target: Option<RawTarget>,
    pub delay_ms: Option<i64>,
    pub jitter_ms: Option<i64>,
    pub mode: Option<String>,
    pub lag: Option<String>,
}

/// `"lock-holder"`, `"random"`, or a worker index.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTarget {
    Named(String),
    Worker(i64),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    pub max_oversold: Option<i64>,
    pub min_purchases_per_s: Option<f64>,
    pub max_p99_us: Option<PerPhase>,
    pub max_p999_us: Option<PerPhase>,
    pub max_error_rate: Option<f64>,
    pub max_wait_timeouts: Option<i64>,
}

/// A latency limit for the purchase phase, or a table of limits by phase.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PerPhase {
    Purchase(i64),
    Phases(std::collections::BTreeMap<String, i64>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    pub interval: Option<String>,
    pub flush_interval: Option<String>,
    pub slo: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    pub url: Option<String>,
    pub key_prefix: Option<String>,
    pub redlock_urls: Option<Vec<String>>,
    pub timeout_ms: Option<i64>,
    pub persistence: Option<String>,
    pub topology: Option<String>,
    pub replicas: Option<i64>,
    pub sentinels: Option<Vec<String>>,
    pub master_name: Option<String>,
    pub rediscover: Option<String>,
    pub seeds: Option<Vec<String>>,
    #[serde(default)]
    pub sentinel: RawSentinel,
    #[serde(default)]
    pub cluster: RawCluster,
    pub tls: Option<bool>,
    pub tls_ca: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub tls_insecure: Option<bool>,
    pub server: Option<String>,
}

/// `[redis.cluster]`: the embedded cluster's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub masters: Option<i64>,
    pub replicas_per_master: Option<i64>,
}

/// `[redis.sentinel]`: the embedded sentinels' timing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSentinel {
    pub down_after_ms: Option<i64>,
    pub failover_timeout_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStock {
    pub initial: i64,
    pub quantity: Option<i64>,
    pub segments: Option<i64>,
    pub segment_pick: Option<String>,
    pub segment_fallback: Option<String>,
    pub extra_keys: Option<toml::Table>,
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// Optional when every `[hosts] list` entry gives its `processes`.
    pub processes: Option<i64>,
    pub clients_per_process: i64,
    pub purchases_per_client: Option<i64>,
    pub duration: Option<String>,
    pub rate: Option<f64>,
    pub arrivals: Option<String>,
    pub max_in_flight: Option<i64>,
    pub stages: Option<Vec<RawStage>>,
    pub connections: Option<String>,
    pub pool_size: Option<i64>,
    pub pool_timeout_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: String,
    pub rate: Option<f64>,
    pub clients: Option<i64>,
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
    pub wait_replicas: Option<i64>,
    pub wait_replicas_timeout_ms: Option<i64>,
    pub record_orders: Option<bool>,
    pub script: Option<String>,
    pub function: Option<String>,
    pub steps: Option<Vec<String>>,
    pub keys: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub replies: Option<toml::Table>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub headers: Option<toml::Table>,
    pub body: Option<String>,
    pub reply: Option<String>,
    pub order_id: Option<String>,
    pub timeout_ms: Option<i64>,
}
