//! Purchase strategies: one module each, dispatched by one enum so the hot
//! path is a `match`, not a virtual call. A strategy runs one purchase on a
//! client's own connection and reports what happened; it records nothing
//! itself (the worker's metrics do). Lock-based strategies share the retry
//! loop in [`lock`] and differ only in how they take, use and drop the lock.

mod article;
mod decr;
mod fenced;
pub mod http;
mod lock;
mod lua;
mod redlock;
mod safe_lock;
mod script;
pub mod sources;
mod stock;
mod unlocked;
mod watch;

use crate::conn::Conn;
use crate::hold::HoldBoard;
use crate::keys::Keys;
use crate::outcome::{ErrorKind, Outcome, PurchaseReport};
use crate::scenario::{
    HttpSettings, ScriptSettings, StrategyKind, StrategySettings, Template, Var,
};
use crate::util::freeze::FreezeHook;
use crate::util::stop::StopSignal;

/// `WAIT replicas timeout` on the client's own connection: how many
/// replicas acknowledged every write sent on it so far; 0 on an error.
async fn confirm(client: &mut Client, replicas: u32, timeout: std::time::Duration) -> u32 {
    let acked: redis::RedisResult<u32> = redis::cmd("WAIT")
        .arg(replicas)
        .arg(timeout.as_millis() as u64)
        .query_async(&mut client.conn)
        .await;
    acked.unwrap_or(0)
}

fn outcome_of(result: redis::RedisResult<Outcome>) -> Outcome {
    result.unwrap_or_else(|e| Outcome::Error(ErrorKind::of(&e)))
}

/// The outcome of a stock write: a lost reply makes it in doubt rather than
/// an error, since the write may have been applied.
fn written<T>(
    result: redis::RedisResult<T>,
    outcome: impl FnOnce(T) -> Outcome,
) -> redis::RedisResult<Outcome> {
    match result {
        Ok(reply) => Ok(outcome(reply)),
        Err(e) if matches!(ErrorKind::of(&e), ErrorKind::Timeout | ErrorKind::Io) => {
            Ok(Outcome::InDoubt)
        }
        Err(e) => Err(e),
    }
}

/// The text of a user's template for this attempt: the script's keys and
/// arguments, or a request's URL, headers and body (`instance`: what
/// `{instance}` stands for, empty for a script).
pub fn render(t: &Template, ctx: &Context<'_>, token: &str, instance: &str) -> String {
    let mut out = String::new();
    render_into(t, ctx, &token, instance, &mut out);
    out
}

/// The same, appended to `out` (a buffer the client keeps), with the
/// token written as it is shown: no text made per attempt.
pub fn render_into(
    t: &Template,
    ctx: &Context<'_>,
    token: &dyn std::fmt::Display,
    instance: &str,
    out: &mut String,
) {
    use std::fmt::Write as _;
    ctx.keys.render_into(t, out, |var, out| {
        let _ = match var {
            Var::Buyer => write!(out, "{}", ctx.buyer),
            Var::Quantity => write!(out, "{}", ctx.quantity),
            Var::Token => write!(out, "{token}"),
            Var::Client => write!(out, "{}", ctx.client),
            Var::Worker => write!(out, "{}", ctx.worker),
            Var::Instance => out.write_str(instance),
            Var::Stock | Var::Lock | Var::Run => Ok(()),
        };
    });
}

/// One buyer: its own connection (a `WATCH`ing client must not share one),
/// random source, and identity for lock tokens.
pub struct Client {
    pub conn: Conn,
    pub rng: fastrand::Rng,
    /// Unique in the run: worker index and client index.
    pub id: u64,
    /// `redlock` only: one connection per lock server, `None` when that
    /// server was unreachable at the start (it then never votes).
    pub lock_nodes: Vec<Option<Conn>>,
    /// `http` only: the client's connections to the service.
    pub http: Option<http::Session>,
    /// Commands built once and sent again as they are (their key and
    /// quantity never change for a client): by the key they act on (a
    /// segment's stock or lock) and which command; see [`Client::prepare`].
    pub prepared: Vec<(Box<str>, Prepared, redis::Cmd)>,
    /// A command rebuilt per attempt (the user's script, a lock token) and
    /// the text of one argument: kept, so that once grown they are written
    /// over without allocating again.
    pub scratch: redis::Cmd,
    pub scratch_text: String,
    tokens: u64,
    /// The number of the client's current purchase attempt, counted from
    /// 1 (the worker sets it before each attempt): with the client's id,
    /// the purchase id that `{token}` and `record_orders` write.
    pub purchase: u32,
    /// Locked purchases: `Some(0)` while holding the lock, then when the
    /// stock write was sent (monotonic ns); `None` otherwise.
    write_sent_ns: Option<u64>,
}

impl Client {
    pub fn new(conn: Conn, id: u64) -> Client {
        Client {
            conn,
            rng: fastrand::Rng::with_seed(id ^ 0x5ec1_11be_5eed),
            id,
            lock_nodes: Vec::new(),
            http: None,
            prepared: Vec::new(),
            scratch: redis::Cmd::new(),
            scratch_text: String::new(),
            tokens: 0,
            purchase: 0,
            write_sent_ns: None,
        }
    }

    /// The place in `prepared` of command `which` on `key` (a segment's
    /// stock or lock key), built by `build` the first time.
    pub fn prepare(
        &mut self,
        key: &str,
        which: Prepared,
        build: impl FnOnce() -> redis::Cmd,
    ) -> usize {
        let found = self
            .prepared
            .iter()
            .position(|(k, w, _)| *w == which && **k == *key);
        found.unwrap_or_else(|| {
            self.prepared.push((key.into(), which, build()));
            self.prepared.len() - 1
        })
    }

    /// The client's index within its worker.
    pub fn index(&self) -> u32 {
        self.id as u32
    }

    /// The current purchase's id, unique in the run across every worker
    /// and host: `<client id>-<attempt>` in hex (see [`crate::history`]).
    pub fn purchase_id(&self) -> String {
        self.purchase_token().to_string()
    }

    /// The same id, to be written where it is needed (no text made).
    pub fn purchase_token(&self) -> crate::history::PurchaseId {
        crate::history::PurchaseId::new(self.id, self.purchase)
    }

    /// A lock value no other holder in this run ever uses, as an integer
    /// (no text to format per try): the client's place in the run (worker:
    /// 12 bits, client: 17 bits, within the scenario's limits) above 35
    /// bits of tries, which wrap after 34 billion.
    fn next_token(&mut self) -> u64 {
        self.tokens += 1;
        let (worker, client) = (self.id >> 32, self.id & 0xffff_ffff);
        ((worker << 17 | client) << 35) | (self.tokens & ((1 << 35) - 1))
    }
}

/// The commands a client builds once ([`Client::prepare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// `lua`: `EVALSHA <sha> 1 <stock> <quantity>`.
    Evalsha,
    /// `decr`: `DECRBY <stock> <quantity>`, and its compensation.
    Decrby,
    Incrby,
    /// The article's check and write: `GET <stock>`, `INCRBY <stock>
    /// -<quantity>`.
    Get,
    Decrement,
    /// The article's lock: `SET <lock> 1 NX PX <ttl>` and `DEL <lock>`.
    SetLock,
    DelLock,
}

/// What every purchase of a worker shares.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub keys: &'a Keys,
    pub quantity: u64,
    pub stop: &'a StopSignal,
    /// Fires a `pause` / `kill` fault inside the critical section.
    pub freeze: &'a FreezeHook,
    /// Open lock holds, for the checker's watermark.
    pub holds: &'a HoldBoard,
    /// This attempt's buyer id.
    pub buyer: u64,
    /// When this attempt was sent: where a strategy with no lock to wait
    /// for starts its critical section, with no clock read of its own.
    pub sent: std::time::Instant,
    /// The client's number in the whole run.
    pub client: u64,
    pub worker: u32,
}

impl<'a> Context<'a> {
    /// The same, on another segment's keys.
    pub fn on(&self, keys: &'a Keys) -> Context<'a> {
        Context { keys, ..*self }
    }
}

pub enum Strategy {
    Article(article::Article),
    Unlocked(unlocked::Unlocked),
    SafeLock(safe_lock::SafeLock),
    Fenced(fenced::Fenced),
    Lua(lua::Lua),
    Watch(watch::Watch),
    Decr(decr::Decr),
    Redlock(redlock::Redlock),
    UserScript(script::UserScript),
    Http(Box<http::Http>),
}

impl Strategy {
    /// `script` is the user's, for `kind = "script"`; `http` the request
    /// and the instances' base URLs, for `kind = "http"`.
    ///
    /// # Panics
    /// With `kind = "script"` and no script, or `"http"` and no request:
    /// validation prevents both.
    pub fn new(
        settings: &StrategySettings,
        script: Option<&ScriptSettings>,
        http: Option<(&HttpSettings, &[String], http::InstanceLoad)>,
    ) -> Strategy {
        let s = *settings;
        match settings.kind {
            StrategyKind::Http => {
                let (request, instances, load) = http.expect("an http strategy has its request");
                Strategy::Http(Box::new(http::Http::new(s, request, instances, load)))
            }
            StrategyKind::Script => Strategy::UserScript(script::UserScript::new(
                s,
                script.expect("a script strategy has its script"),
            )),
            StrategyKind::Article => Strategy::Article(article::Article(s)),
            StrategyKind::Unlocked => Strategy::Unlocked(unlocked::Unlocked(s)),
            StrategyKind::SafeLock => Strategy::SafeLock(safe_lock::SafeLock::new(s)),
            StrategyKind::Fenced => Strategy::Fenced(fenced::Fenced::new(s)),
            StrategyKind::Lua => Strategy::Lua(lua::Lua::new(s)),
            StrategyKind::Watch => Strategy::Watch(watch::Watch(s)),
            StrategyKind::Decr => Strategy::Decr(decr::Decr(s)),
            StrategyKind::Redlock => Strategy::Redlock(redlock::Redlock::new(s)),
        }
    }

    /// One purchase; with `wait_replicas`, a sale counts only once `WAIT`
    /// confirms it on that many replicas, else it is in doubt.
    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = self.unconfirmed_purchase(client, ctx).await;
        let settings = self.settings();
        if settings.wait_replicas > 0 && report.outcome == Outcome::Sold {
            let confirmed = confirm(
                client,
                settings.wait_replicas,
                settings.wait_replicas_timeout,
            );
            if confirmed.await < settings.wait_replicas {
                report.outcome = Outcome::InDoubt;
                report.unconfirmed = true;
            }
        }
        report
    }

    fn settings(&self) -> &StrategySettings {
        match self {
            Strategy::Article(s) => &s.0,
            Strategy::SafeLock(s) => &s.settings,
            Strategy::Fenced(s) => &s.settings,
            Strategy::Redlock(s) => &s.settings,
            Strategy::Unlocked(s) => &s.0,
            Strategy::Lua(s) => &s.settings,
            Strategy::Watch(s) => &s.0,
            Strategy::Decr(s) => &s.0,
            Strategy::UserScript(s) => &s.settings,
            Strategy::Http(s) => &s.settings,
        }
    }

    async fn unconfirmed_purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        match self {
            Strategy::Article(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::SafeLock(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::Fenced(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::Redlock(s) => lock::locked_purchase(s, client, ctx).await,
            Strategy::Unlocked(s) => s.purchase(client, ctx).await,
            Strategy::Lua(s) => s.purchase(client, ctx).await,
            Strategy::Watch(s) => s.purchase(client, ctx).await,
            Strategy::Decr(s) => s.purchase(client, ctx).await,
            Strategy::UserScript(s) => s.purchase(client, ctx).await,
            Strategy::Http(s) => s.purchase(client, ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_tokens_of_different_clients_never_meet() {
        let mut seen = std::collections::HashSet::new();
        for (worker, client) in [(0u64, 0u64), (0, 1), (1, 0), (4095, 99_999)] {
            let mut c = Client::new(Conn::detached(), worker << 32 | client);
            for _ in 0..1000 {
                assert!(
                    seen.insert(c.next_token()),
                    "worker {worker} client {client}"
                );
            }
        }
        assert_eq!(seen.len(), 4000);
    }
}
