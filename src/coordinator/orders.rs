//! The ids the orders key holds at the end, for the history's checks (a
//! hash's field names, a set's or sorted set's members, a list's items, or
//! a stream entry's `orders_id_field`), over every segment, each with how
//! many times it is there.

use super::target::Target;
use crate::history::{OrderId, Orders, StoredOrders};
use crate::keys::Segments;
use crate::scenario::{Piece, Scenario, StrategyKind, Template, Var};

/// Entries read per call.
const PAGE: usize = 1000;

/// Whether the orders name each purchase by its id: a built-in strategy
/// recording them, a script passed `{token}`, a service replying an
/// `order_id` or passed `{token}`; all with `[audit] orders`.
pub fn by_id(scenario: &Scenario) -> bool {
    let token = |t: &Template| t.pieces.contains(&Piece::Var(Var::Token));
    if scenario.audit.orders.is_none() {
        return false;
    }
    match scenario.strategy.kind {
        StrategyKind::Script => scenario
            .script
            .as_ref()
            .is_some_and(|s| s.keys.iter().chain(&s.args).any(token)),
        StrategyKind::Http => scenario.http.as_ref().is_some_and(|h| {
            h.order_id.is_some()
                || token(&h.url)
                || h.body.as_ref().is_some_and(token)
                || h.headers.iter().any(|(_, v)| token(v))
        }),
        _ => scenario.strategy.record_orders,
    }
}

/// Every id the orders key holds on every segment.
///
/// # Errors
/// When Redis fails, or the key is of a type that holds no ids.
pub async fn stored(
    target: &mut Target,
    scenario: &Scenario,
    segments: &Segments,
) -> anyhow::Result<Orders> {
    let mut ids = StoredOrders::new();
    let Some(t) = &scenario.audit.orders else {
        return Ok(Orders::ById(ids));
    };
    let field = scenario.audit.orders_id_field.as_deref();
    // A script passed `{token}` may use it for something else than its
    // orders: a stream naming no id field is counted, as before.
    if field.is_none() && scenario.strategy.kind == StrategyKind::Script {
        for keys in &segments.keys {
            let key = keys.render(t, |_, _| {});
            let kind: String = target.query(redis::cmd("TYPE").arg(&key)).await?;
            if kind == "stream" {
                return Ok(Orders::NotById(format!(
                    "{} is a stream and audit.orders_id_field names no field of it holding the purchase id ({{token}}), so the orders were counted rather than checked by id",
                    t.text
                )));
            }
        }
    }
    for keys in &segments.keys {
        let key = keys.render(t, |_, _| {});
        let mut add = |text: String| *ids.entry(OrderId::parse(&text)).or_default() += 1;
        stored_ids(target, &key, field, &mut add).await?;
    }
    Ok(Orders::ById(ids))
}

/// Every id the orders key holds, to `add`.
async fn stored_ids(
    target: &mut Target,
    key: &str,
    id_field: Option<&str>,
    add: &mut dyn FnMut(String),
) -> anyhow::Result<()> {
    let kind: String = target.query(redis::cmd("TYPE").arg(key)).await?;
    match kind.as_str() {
        "none" => {}
        "hash" | "set" | "zset" => {
            let (scan, pairs) = match kind.as_str() {
                "hash" => ("HSCAN", true),
                "zset" => ("ZSCAN", true),
                _ => ("SSCAN", false),
            };
            let mut cursor = "0".to_owned();
            loop {
                let (next, items): (String, Vec<String>) = target
                    .query(
                        redis::cmd(scan)
                            .arg(key)
                            .arg(&cursor)
                            .arg("COUNT")
                            .arg(PAGE),
                    )
                    .await?;
                let step = if pairs { 2 } else { 1 };
                items.into_iter().step_by(step).for_each(&mut *add);
                if next == "0" {
                    break;
                }
                cursor = next;
            }
        }
        "list" => {
            let mut start = 0usize;
            loop {
                let page: Vec<String> = target
                    .query(
                        redis::cmd("LRANGE")
                            .arg(key)
                            .arg(start)
                            .arg(start + PAGE - 1),
                    )
                    .await?;
                let n = page.len();
                page.into_iter().for_each(&mut *add);
                if n < PAGE {
                    break;
                }
                start += PAGE;
            }
        }
        "stream" => {
            let field = id_field.ok_or_else(|| {
                anyhow::anyhow!("{key} is a stream; set audit.orders_id_field to the field that holds the order id")
            })?;
            let each = |value: Option<&str>| {
                if let Some(id) = value {
                    add(id.to_owned());
                }
            };
            super::script::each_field(target, key, field, each).await?;
        }
        other => anyhow::bail!("{key} is a {other}, which holds no order ids"),
    }
    Ok(())
}
