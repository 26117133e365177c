//! `http` with `order_id`: the order ids the service acknowledged, checked
//! against the ids the orders key holds at the end (a hash's field names,
//! a set's or sorted set's members, a list's items, or a stream entry's
//! `orders_id_field`). An acknowledged sale whose order is missing is a
//! customer with a receipt and no order.

use std::collections::HashSet;

use super::target::Target;
use crate::audit::MissingOrders;

/// Entries read per call.
const PAGE: usize = 1000;
/// Missing ids the report names.
const SHOWN: usize = 5;

/// Every id the orders key holds.
///
/// # Errors
/// When Redis fails, or the key is of a type that holds no ids.
pub async fn stored_ids(
    target: &mut Target,
    key: &str,
    id_field: Option<&str>,
) -> anyhow::Result<HashSet<String>> {
    let kind: String = target.query(redis::cmd("TYPE").arg(key)).await?;
    let mut ids = HashSet::new();
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
                ids.extend(items.into_iter().step_by(step));
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
                ids.extend(page);
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
                    ids.insert(id.to_owned());
                }
            };
            super::script::each_field(target, key, field, each).await?;
        }
        other => anyhow::bail!("{key} is a {other}, which holds no order ids"),
    }
    Ok(ids)
}

/// The acknowledged ids not among the stored ones, the first few named.
pub fn missing(acknowledged: &[String], stored: &HashSet<String>) -> MissingOrders {
    let gone: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    MissingOrders {
        acknowledged: acknowledged.len() as u64,
        missing: gone.len() as u64,
        first: gone.iter().take(SHOWN).map(|s| (*s).clone()).collect(),
        without_id: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_ids_missing_from_the_orders_are_named() {
        let stored: HashSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let acked: Vec<String> = ["a", "x", "b", "y"].iter().map(|s| s.to_string()).collect();
        let m = missing(&acked, &stored);
        assert_eq!((m.acknowledged, m.missing), (4, 2));
        assert_eq!(m.first, ["x", "y"]);
    }
}
