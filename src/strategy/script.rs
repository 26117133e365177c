//! The user's own purchase code: a Lua script run with `EVALSHA`, or a
//! Redis Function library run with `FCALL`, one function or several in turn
//! (`steps`). Keys and arguments are templates resolved per attempt; the
//! reply is looked up in the user's mapping. A script or library a restart
//! or failover lost is loaded again: `NOSCRIPT` and "Function not found"
//! mean nothing ran, so the call is safely sent once more.

use super::{stock, Client, Context};
use crate::outcome::{ErrorKind, Outcome, PurchaseReport};
use crate::scenario::{Reply, ScriptSettings, StrategySettings};

pub struct UserScript {
    pub settings: StrategySettings,
    script: ScriptSettings,
    sha: String,
    /// Reply text -> outcome; rejection words leaked once per process so
    /// the outcome stays `Copy` (a handful of short strings).
    replies: Vec<Known>,
}

/// A reply the user mapped, matched against the reply as it comes (no
/// text made of it unless it is unexpected).
struct Known {
    text: String,
    /// The text as an integer reply shows it (`"0"`, `"-1"`), if it is one.
    int: Option<i64>,
    mapped: Mapped,
}

impl Known {
    fn new(text: &str, mapped: Mapped) -> Known {
        // Only the text an integer reply is shown as: "00" is not 0.
        let int = text.parse::<i64>().ok().filter(|n| n.to_string() == text);
        Known {
            text: text.to_owned(),
            int,
            mapped,
        }
    }

    /// Only an integer, a status, `OK`, a string or nil can match, as
    /// their text (an array, a double or a map is always unexpected).
    fn matches(&self, reply: &redis::Value) -> bool {
        match reply {
            redis::Value::Int(n) => self.int == Some(*n),
            redis::Value::SimpleString(s) => self.text == *s,
            redis::Value::Okay => self.text == "OK",
            redis::Value::BulkString(bytes) => self.text.as_bytes() == bytes.as_slice(),
            redis::Value::Nil => self.text == "nil",
            _ => false,
        }
    }
}

#[derive(Clone, Copy)]
enum Mapped {
    Outcome(Outcome),
    Next,
}

/// Longest reply text kept for the report.
const SHOWN_REPLY: usize = 120;

impl UserScript {
    pub fn new(settings: StrategySettings, script: &ScriptSettings) -> UserScript {
        let replies = script
            .replies
            .iter()
            .map(|(text, reply)| {
                let mapped = match reply {
                    Reply::Sold => Mapped::Outcome(Outcome::Sold),
                    Reply::SoldOut => Mapped::Outcome(Outcome::SoldOut),
                    Reply::Next => Mapped::Next,
                    Reply::Rejected(word) => {
                        Mapped::Outcome(Outcome::Rejected(Box::leak(word.clone().into_boxed_str())))
                    }
                };
                Known::new(text, mapped)
            })
            .collect();
        UserScript {
            settings,
            sha: redis::Script::new(&script.source).get_hash().to_owned(),
            script: script.clone(),
            replies,
        }
    }

    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = ctx.sent;
        let calls = self.script.steps.len().max(1);
        for step in 0..calls {
            if step + 1 == calls {
                stock::stall(client, ctx, &self.settings.stall).await;
            }
            let reply = self.call(client, ctx, step).await;
            let (outcome, unexpected) = match reply {
                Ok(reply) => match self.replies.iter().find(|known| known.matches(&reply)) {
                    Some(Known {
                        mapped: Mapped::Next,
                        ..
                    }) if step + 1 < calls => continue,
                    Some(Known {
                        mapped: Mapped::Next,
                        text,
                        ..
                    }) => (
                        Outcome::Error(ErrorKind::UnexpectedReply),
                        Some(format!("{text} (mapped to next, from the last step)")),
                    ),
                    Some(Known {
                        mapped: Mapped::Outcome(outcome),
                        ..
                    }) => (*outcome, None),
                    _ => (
                        Outcome::Error(ErrorKind::UnexpectedReply),
                        Some(text(reply)),
                    ),
                },
                Err(e) => failed(&e),
            };
            report.outcome = outcome;
            report.unexpected = unexpected.map(|t| shorten(&t));
            break;
        }
        report.critical_section = Some(started.elapsed());
        report
    }

    /// One call, loading the code again if the server does not have it.
    /// The command is written over the client's scratch command, its keys
    /// and arguments rendered for this attempt into buffers that, once
    /// grown, are reused (what redis-rs allocates to send it is its own).
    async fn call(
        &self,
        client: &mut Client,
        ctx: &Context<'_>,
        step: usize,
    ) -> redis::RedisResult<redis::Value> {
        let token = client.purchase_token();
        let Client {
            conn,
            scratch: cmd,
            scratch_text: arg,
            ..
        } = client;
        cmd.clear();
        match self.script.steps.get(step) {
            Some(function) => cmd.arg("FCALL").arg(function),
            None => cmd.arg("EVALSHA").arg(&self.sha),
        };
        cmd.arg(self.script.keys.len());
        for t in self.script.keys.iter().chain(&self.script.args) {
            arg.clear();
            super::render_into(t, ctx, &token, "", arg);
            cmd.arg(arg.as_str());
        }
        match cmd.query_async::<redis::Value>(conn).await {
            Err(e) if not_loaded(&e) => {
                self.load(client).await?;
                client.scratch.query_async(&mut client.conn).await
            }
            reply => reply,
        }
    }

    /// Loads the script or library on the server the client reaches (in a
    /// cluster, redis-rs sends both to every master).
    async fn load(&self, client: &mut Client) -> redis::RedisResult<()> {
        let mut cmd = match self.script.library {
            Some(_) => redis::cmd("FUNCTION"),
            None => redis::cmd("SCRIPT"),
        };
        match self.script.library {
            Some(_) => cmd.arg("LOAD").arg("REPLACE"),
            None => cmd.arg("LOAD"),
        };
        cmd.arg(&self.script.source);
        cmd.query_async::<redis::Value>(&mut client.conn).await?;
        Ok(())
    }
}

/// `NOSCRIPT`, or the exact reply to an `FCALL` of a function the server
/// does not know: the call did not run.
fn not_loaded(e: &redis::RedisError) -> bool {
    match e.code() {
        Some("NOSCRIPT") => true,
        Some("ERR") => e.detail() == Some("Function not found"),
        _ => false,
    }
}

/// An integer in decimal, a status or a string; `nil` for a nil reply;
/// anything else as redis-rs shows it (never mapped, so unexpected).
fn text(reply: redis::Value) -> String {
    match reply {
        redis::Value::Int(n) => n.to_string(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Okay => "OK".to_owned(),
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        redis::Value::Nil => "nil".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Errors the server gives before running anything, or that are its own
/// state and not the script's doing: a redirect the cluster client does
/// not follow, a server loading, busy, out of memory or refusing writes,
/// and a script still unknown right after it was loaded.
const SERVER_STATE: [&str; 12] = [
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "NOREPLICAS",
    "NOPERM",
    "MOVED",
    "ASK",
    "OOM",
    "MISCONF",
    "NOSCRIPT",
];

/// A call that failed: a lost reply may have applied (in doubt); a demoted
/// primary is `readonly`; a server not ready (loading, busy) is a Redis
/// error like any strategy's; any other error reply is the script's own,
/// and unexpected.
fn failed(e: &redis::RedisError) -> (Outcome, Option<String>) {
    match ErrorKind::of(e) {
        ErrorKind::Timeout | ErrorKind::Io => (Outcome::InDoubt, None),
        ErrorKind::ReadOnly => (Outcome::Error(ErrorKind::ReadOnly), None),
        ErrorKind::Busy => (Outcome::Error(ErrorKind::Busy), None),
        _ if e.code().is_some_and(|c| SERVER_STATE.contains(&c)) => {
            (Outcome::Error(ErrorKind::Redis), None)
        }
        _ => (
            Outcome::Error(ErrorKind::UnexpectedReply),
            Some(match (e.code(), e.detail()) {
                (Some(code), Some(detail)) => format!("error: {code} {detail}"),
                _ => format!("error: {e}"),
            }),
        ),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_REPLY) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn known(text: &str) -> Known {
        Known::new(text, Mapped::Next)
    }

    #[test]
    fn a_reply_matches_its_text_as_the_server_sends_it() {
        assert!(known("0").matches(&Value::Int(0)));
        assert!(known("-1").matches(&Value::Int(-1)));
        assert!(known("0").matches(&Value::BulkString(b"0".to_vec())));
        assert!(known("dup").matches(&Value::SimpleString("dup".into())));
        assert!(known("OK").matches(&Value::Okay));
        assert!(known("nil").matches(&Value::Nil));
        // Not shown as the same text, so not the same reply.
        assert!(!known("00").matches(&Value::Int(0)));
        assert!(!known("+1").matches(&Value::Int(1)));
        assert!(!known("1").matches(&Value::Int(2)));
        assert!(!known("dup").matches(&Value::BulkString(b"dupe".to_vec())));
        assert!(!known("nil").matches(&Value::Array(vec![])));
    }

    #[test]
    fn an_unexpected_reply_is_shown_as_text() {
        assert_eq!(text(Value::Int(-3)), "-3");
        assert_eq!(text(Value::Nil), "nil");
        assert_eq!(text(Value::BulkString(b"sold".to_vec())), "sold");
    }
}
