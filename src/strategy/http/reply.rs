//! What a service's reply means: the word at the reply pointer (or the
//! status code) looked up in the user's mapping; an unmapped 5xx is in
//! doubt (the service may have sold before it failed), any other unmapped
//! reply is `unexpected_reply`, shown with its status and the start of its
//! body. Pure functions over the status and body.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::outcome::{ErrorKind, Outcome};

/// Of an unexpected reply's body, what the report shows.
const SHOWN_BODY: usize = 200;

/// What one reply meant.
#[derive(Debug, PartialEq)]
pub struct Judged {
    pub outcome: Outcome,
    /// `unexpected_reply`: the reply as the report shows it.
    pub unexpected: Option<String>,
    /// A sale's order id, at the order-id pointer.
    pub order_id: Option<String>,
}

/// `reply`: the pointer to the reply word (`None`: the status is the
/// word); `order_id`: the pointer to a sale's order id.
pub fn judge(
    status: u16,
    body: &[u8],
    reply: Option<&str>,
    order_id: Option<&str>,
    replies: &[(String, Outcome)],
) -> Judged {
    let word = match reply {
        None => Some(status.to_string()),
        Some(pointer) => at(body, pointer),
    };
    let mapped = word
        .as_deref()
        .and_then(|w| replies.iter().find(|(t, _)| t == w));
    match mapped {
        Some(&(_, outcome)) => Judged {
            outcome,
            unexpected: None,
            order_id: order_id
                .filter(|_| outcome == Outcome::Sold)
                .and_then(|pointer| at(body, pointer)),
        },
        None if status >= 500 => Judged {
            outcome: Outcome::InDoubt,
            unexpected: None,
            order_id: None,
        },
        None => Judged {
            outcome: Outcome::Error(ErrorKind::UnexpectedReply),
            unexpected: Some(shown(status, body)),
            order_id: None,
        },
    }
}

/// The value at a JSON pointer of the body, as the mapping matches it: a
/// string as is, anything else as JSON. A pointer to one top-level field
/// is read without building the whole document.
fn at(body: &[u8], pointer: &str) -> Option<String> {
    let field = pointer
        .strip_prefix('/')
        .filter(|f| !f.contains(['/', '~']));
    let value = match field {
        Some(field) => {
            let mut de = serde_json::Deserializer::from_slice(body);
            Field(field).deserialize(&mut de).ok().flatten()?
        }
        None => serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .pointer(pointer)?
            .clone(),
    };
    Some(match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

/// One field of a JSON object, the others skipped.
struct Field<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = Option<serde_json::Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = Option<serde_json::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.0 && found.is_none() {
                found = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    // Not an object: no field to find.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `HTTP 409: <the body's first 200 bytes>`.
fn shown(status: u16, body: &[u8]) -> String {
    let cut = body.len().min(SHOWN_BODY);
    let mut text = String::from_utf8_lossy(&body[..cut]).into_owned();
    if body.len() > cut {
        text.push_str("...");
    }
    format!("HTTP {status}: {}", text.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Vec<(String, Outcome)> {
        vec![
            ("sold".into(), Outcome::Sold),
            ("sold_out".into(), Outcome::SoldOut),
            ("duplicate".into(), Outcome::Rejected("duplicate")),
            ("409".into(), Outcome::Rejected("conflict")),
        ]
    }

    fn json(status: u16, body: &str) -> Judged {
        judge(
            status,
            body.as_bytes(),
            Some("/result"),
            Some("/order_id"),
            &mapping(),
        )
    }

    #[test]
    fn a_mapped_word_is_its_outcome_and_a_sale_keeps_its_order_id() {
        let sold = json(
            200,
            r#"{"x": [1, {"result": "no"}], "result": "sold", "order_id": 7}"#,
        );
        assert_eq!(
            (sold.outcome, sold.order_id.as_deref()),
            (Outcome::Sold, Some("7"))
        );
        let dup = json(200, r#"{"result":"duplicate","order_id":"a"}"#);
        assert_eq!(
            (dup.outcome, dup.order_id),
            (Outcome::Rejected("duplicate"), None)
        );
        // Even a 5xx, once mapped.
        assert_eq!(
            json(503, r#"{"result":"sold_out"}"#).outcome,
            Outcome::SoldOut
        );
    }

    #[test]
    fn an_unmapped_5xx_is_in_doubt_and_any_other_unmapped_reply_unexpected() {
        assert_eq!(json(503, "overloaded").outcome, Outcome::InDoubt);
        assert_eq!(json(500, r#"{"result":"maybe"}"#).unexpected, None);
        let odd = json(200, r#"{"result":"maybe"}"#);
        assert_eq!(odd.outcome, Outcome::Error(ErrorKind::UnexpectedReply));
        assert_eq!(
            odd.unexpected.as_deref(),
            Some(r#"HTTP 200: {"result":"maybe"}"#)
        );
        let long = json(404, &"x".repeat(300));
        assert_eq!(long.unexpected.unwrap().len(), "HTTP 404: ".len() + 200 + 3);
    }

    #[test]
    fn without_a_pointer_the_status_is_the_reply() {
        let conflict = judge(409, b"", None, None, &mapping());
        assert_eq!(conflict.outcome, Outcome::Rejected("conflict"));
        assert_eq!(
            judge(502, b"", None, None, &mapping()).outcome,
            Outcome::InDoubt
        );
    }

    #[test]
    fn deep_pointers_and_odd_bodies_are_read_or_unmapped() {
        let deep = judge(
            200,
            br#"{"a":{"b":["sold"]}}"#,
            Some("/a/b/0"),
            None,
            &mapping(),
        );
        assert_eq!(deep.outcome, Outcome::Sold);
        for body in ["[1,2]", "\"sold\"", "not json", ""] {
            assert_eq!(
                json(200, body).outcome,
                Outcome::Error(ErrorKind::UnexpectedReply),
                "{body}"
            );
        }
    }
}
