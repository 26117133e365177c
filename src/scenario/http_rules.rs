//! What `kind = "http"` and `[service]` allow together with the rest of a
//! scenario: one stock key per service, the embedded standalone server or
//! the user's own, and no harness-side knobs the service cannot honour.

use super::error::FieldError;
use super::{Scenario, StrategyKind, Topology};

type Result<T> = std::result::Result<T, FieldError>;

/// `stock_key`: `[stock] key` as written.
pub fn check(s: &Scenario, stock_key: Option<&str>) -> Result<()> {
    let http = s.strategy.kind == StrategyKind::Http;
    if s.service.is_some() && !http {
        return Err(FieldError::new(
            "service",
            format!(
                "starts a service, but this scenario's purchases run `{}`, which never calls it",
                s.strategy.kind.name()
            ),
            "set [strategy] kind = \"http\" with url = \"{instance}/buy\", or remove [service]",
        )
        .depending_on(&["strategy.kind"]));
    }
    if let Some(key) = stock_key {
        stock_key_rules(s, key, http)?;
    }
    let Some(settings) = &s.http else {
        return Ok(());
    };
    if settings.to_instances() && s.service.is_none() {
        return Err(FieldError::new(
            "strategy.url",
            "names {instance}, but there is no [service] whose instances it would be",
            "add a [service] table that starts your service, or give the URL of your running service (http://host:port/path)",
        ));
    }
    if s.stock.segments.get() > 1 {
        return Err(FieldError::new(
            "stock.segments",
            "a service is given one stock key; segmented stock is for the built-in strategies and scripts",
            "remove stock.segments (or set it to 1)",
        )
        .depending_on(&["strategy.kind"]));
    }
    if s.strategy.wait_replicas > 0 {
        return Err(FieldError::new(
            "strategy.wait_replicas",
            "the harness cannot WAIT on the service's own connections",
            "remove it; make your service call WAIT itself if it needs to",
        ));
    }
    if !s.strategy.stall.duration.is_zero() {
        return Err(FieldError::new(
            "strategy.stall_ms",
            "the harness cannot stall inside your service's critical section",
            "use a pause fault with target = \"lock-holder\" to freeze the instance holding the lock",
        ));
    }
    if settings.order_id.is_some() && s.audit.orders.is_none() {
        return Err(FieldError::new(
            "strategy.order_id",
            "order ids are kept to be checked against the orders, but there is no audit.orders",
            "add [audit] orders = \"{run}:orders\" (the key your service records orders in), or remove order_id",
        ));
    }
    if s.service.is_some() && !settings.to_instances() {
        return Err(FieldError::new(
            "strategy.url",
            format!(
                "`{}` is a fixed URL, so the [service] instances the harness starts would get no load (and their faults would test nothing)",
                crate::util::redact::redact(&settings.url.text)
            ),
            "write url = \"{instance}/buy\" to load the instances, or remove [service] to load your own running service",
        )
        .depending_on(&["service"]));
    }
    let watched_restart = s.faults.iter().position(|f| {
        matches!(
            f.action,
            super::FaultAction::Restart {
                target: super::FaultTarget::LockHolder,
                ..
            }
        )
    });
    if let Some(i) = watched_restart {
        return Err(FieldError::new(
            &format!("faults[{i}].target"),
            "a restart is not aimed at the lock holder: stopping an instance mid-purchase is what `kill` (crash) does",
            "use kind = \"pause\" or \"kill\" with target = \"lock-holder\", or restart a chosen instance (an index, \"busy\", \"random\")",
        ));
    }
    if s.service.is_some() {
        if !matches!(s.redis.topology, Topology::Standalone) {
            return Err(FieldError::new(
                "redis.topology",
                "[service] instances are given one Redis URL; Sentinel and Cluster services are not built yet",
                "use topology = \"standalone\" (the default) with a [service]",
            )
            .depending_on(&["service"]));
        }
        if s.hosts.is_some() {
            return Err(FieldError::new(
                "hosts",
                "[hosts] workers on other machines cannot reach [service] instances on this machine's loopback",
                "remove [hosts], or run the service yourself and give its URL in strategy.url",
            )
            .depending_on(&["service"]));
        }
    }
    Ok(())
}

fn stock_key_rules(s: &Scenario, key: &str, http: bool) -> Result<()> {
    if !http || s.service.is_some() {
        return Err(FieldError::new(
            "stock.key",
            "names the stock key of your own running service, for kind = \"http\" without [service]",
            "remove it: the run's own key (given to scripts and instances as {stock}) is used",
        )
        .depending_on(&["strategy.kind", "service"]));
    }
    if key.is_empty() || key.len() > 512 || key.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(FieldError::new(
            "stock.key",
            format!("`{key}` is not a key name"),
            "give the exact key your service reads the stock from, e.g. \"shop:stock:sku-1\"",
        ));
    }
    if s.redis.url.is_none() {
        return Err(FieldError::new(
            "stock.key",
            "names the key your own service reads, but the run would use a throwaway embedded redis-server your service never sees",
            "give the Redis your service uses: redis.url, or --redis-url",
        )
        .depending_on(&["redis.url"]));
    }
    if !matches!(s.redis.topology, Topology::Standalone) {
        return Err(FieldError::new(
            "stock.key",
            "is for a standalone Redis",
            "use topology = \"standalone\"",
        )
        .depending_on(&["redis.topology"]));
    }
    Ok(())
}
