//! The user's script on the target, and the keys it keeps besides the
//! stock: loading (a compile error stops the run before any load, exit 4),
//! the declared extra keys (checked absent, created where the type allows,
//! inspected for the audit, deleted), and the orders key counted and read
//! per buyer at the end.

use anyhow::{bail, Context as _};

use super::target::Placement;
use super::Target;
use crate::audit::{KeyFact, OrderFacts};
use crate::keys::{Keys, Segments};
use crate::ledger::OrderBook;
use crate::scenario::{KeyType, Scenario, ScriptSettings, Template, Var};
use crate::verdict::ScriptBusy;

/// The script or library as loaded, to put things back at the end.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The library name Redis reported.
    pub library: Option<String>,
    /// The same library, same code, was on the server before the run: it
    /// stays.
    existed: bool,
}

/// Loads the user's code on the target, so a script that does not compile
/// stops the run before any worker starts. A library of the same name with
/// other code is the user's and is never replaced.
///
/// # Errors
/// Redis's message, with the file and the line Redis names; a library of
/// that name with other code on the server.
pub async fn load(target: &mut Target, script: &ScriptSettings) -> anyhow::Result<Loaded> {
    let Some(library) = &script.library else {
        let loaded: redis::RedisResult<String> = target
            .query(redis::cmd("SCRIPT").arg("LOAD").arg(&script.source))
            .await;
        loaded.map_err(|e| not_compiled(script, &e))?;
        return Ok(Loaded::default());
    };
    let existed = match library_code(target, library).await? {
        Some(code) if code == script.source => true,
        Some(_) => bail!(
            "{}: the server already has a function library named `{library}` with other code; refusing to replace it\n  what to do: rename the library for the test (#!lua name=...), or delete the server's one",
            script.path.display()
        ),
        None => false,
    };
    let name: String = target
        .query(
            redis::cmd("FUNCTION")
                .arg("LOAD")
                .arg("REPLACE")
                .arg(&script.source),
        )
        .await
        .map_err(|e| not_compiled(script, &e))?;
    let loaded = Loaded {
        library: Some(name),
        existed,
    };
    // A step naming no function would fail every purchase: say so now.
    let functions = library_listing(target, library)
        .await?
        .map(|listing| listing.functions)
        .unwrap_or_default();
    if let Some(first) = missing_steps(script, &functions).first() {
        unload(target, &loaded).await;
        let field = match script.steps.len() {
            1 => "strategy.function",
            _ => "strategy.steps",
        };
        bail!(
            "{}: the function library `{library}` has no function `{first}` ({field}); it registers: {}\n  what to do: call one of those, or register `{first}` in the library; nothing was run",
            script.path.display(),
            listed_names(&functions)
        );
    }
    Ok(loaded)
}

/// The steps that name no function of the library.
fn missing_steps<'a>(script: &'a ScriptSettings, functions: &[String]) -> Vec<&'a str> {
    script
        .steps
        .iter()
        .filter(|step| !functions.contains(step))
        .map(String::as_str)
        .collect()
}

fn listed_names(functions: &[String]) -> String {
    match functions {
        [] => "no function".to_owned(),
        names => names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Deletes the library the run added; a plain script stays in Redis's
/// script cache, as EVALSHA's always do. Returns what could not be removed.
pub async fn unload(target: &mut Target, loaded: &Loaded) -> Option<String> {
    let name = loaded.library.as_ref().filter(|_| !loaded.existed)?;
    let done: redis::RedisResult<redis::Value> = target
        .query(redis::cmd("FUNCTION").arg("DELETE").arg(name))
        .await;
    done.err()
        .map(|e| format!("function library {name} (not removed: {e})"))
}

/// Warns of a wiping command (`FLUSHALL`, ...) in the user's script on an
/// embedded server; on the user's own server the scenario refused it.
pub fn warn_flushes(scenario: &Scenario, target: &Target) {
    let Some(script) = &scenario.script else {
        return;
    };
    if !target.is_embedded() {
        return;
    }
    for flush in crate::scenario::lua_scan::flushes(&script.source) {
        eprintln!(
            "warning: {}:{}: your script calls {}: here it wipes only the embedded throwaway server, but on a real one it would wipe everything, and the run's keys vanish mid-run (FAIL)",
            script.path.display(),
            flush.line,
            flush.command
        );
    }
}

/// After the load, Redis answering BUSY means a script is still running
/// past the busy limit: the run's own, since Redis answered at set-up and
/// the user's script is the only code of the run that runs inside Redis
/// for long. It is killed (SCRIPT KILL, or FUNCTION KILL for a library) so
/// the server answers again and the run's keys can be read and deleted.
/// `None` when Redis is not busy. On the user's own server a BUSY may
/// also be another client's script: it is killed all the same, as the
/// docs say.
pub async fn stop_busy(target: &mut Target, loaded: &Loaded) -> Option<ScriptBusy> {
    let ping: redis::RedisResult<String> = target.query(&redis::cmd("PING")).await;
    if ping.err().is_none_or(|e| e.code() != Some("BUSY")) {
        return None;
    }
    let order = match loaded.library {
        Some(_) => ["FUNCTION", "SCRIPT"],
        None => ["SCRIPT", "FUNCTION"],
    };
    for command in order {
        let killed: redis::RedisResult<redis::Value> =
            target.query(redis::cmd(command).arg("KILL")).await;
        match killed.as_ref().map_err(|e| e.code()) {
            Ok(_) => {
                answering(target).await;
                return Some(ScriptBusy::Killed);
            }
            Err(Some("NOTBUSY")) => return Some(ScriptBusy::EndedAlone),
            Err(Some("UNKILLABLE")) => {
                return Some(ScriptBusy::Unkillable {
                    own_server: target.is_embedded(),
                })
            }
            // A script asked to FUNCTION KILL, or a function to SCRIPT
            // KILL: the other command.
            Err(_) => continue,
        }
    }
    Some(ScriptBusy::KillFailed)
}

/// Waits, within a deadline, for Redis to answer PING after a kill.
/// Redis sends no event for it; it answers once the script has unwound.
async fn answering(target: &mut Target) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let ping: redis::RedisResult<String> = target.query(&redis::cmd("PING")).await;
        if ping.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A function library as `FUNCTION LIST ... WITHCODE` shows it.
struct Listing {
    code: String,
    functions: Vec<String>,
}

/// The code of library `name` if the server has one.
async fn library_code(target: &mut Target, name: &str) -> anyhow::Result<Option<String>> {
    Ok(library_listing(target, name).await?.map(|l| l.code))
}

/// Library `name` if the server has one: its code and function names.
async fn library_listing(target: &mut Target, name: &str) -> anyhow::Result<Option<Listing>> {
    let listed: Vec<redis::Value> = target
        .query(
            redis::cmd("FUNCTION")
                .arg("LIST")
                .arg("LIBRARYNAME")
                .arg(name)
                .arg("WITHCODE"),
        )
        .await
        .context("listing the server's function libraries")?;
    for library in listed {
        let fields = pairs(library)?;
        let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let same = field("library_name").and_then(|v| redis::from_redis_value::<String>(v).ok());
        if same.as_deref() != Some(name) {
            continue;
        }
        let code = field("library_code").context("FUNCTION LIST gave no code")?;
        let functions: Vec<redis::Value> = match field("functions") {
            Some(v) => redis::from_redis_value(v)?,
            None => Vec::new(),
        };
        let mut names = Vec::with_capacity(functions.len());
        for function in functions {
            let name = pairs(function)?.into_iter().find(|(k, _)| k == "name");
            if let Some((_, v)) = name {
                names.push(redis::from_redis_value(v)?);
            }
        }
        return Ok(Some(Listing {
            code: redis::from_redis_value(code)?,
            functions: names,
        }));
    }
    Ok(None)
}

/// A map reply (RESP3) or a flat array of names and values (RESP2) as
/// pairs.
fn pairs(value: redis::Value) -> anyhow::Result<Vec<(String, redis::Value)>> {
    Ok(match value {
        redis::Value::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, v)| Some((redis::from_redis_value(k).ok()?, v)))
            .collect(),
        other => {
            let flat: Vec<redis::Value> = redis::from_redis_value(other)?;
            flat.chunks(2)
                .filter_map(|kv| {
                    Some((
                        redis::from_redis_value(kv.first()?.clone()).ok()?,
                        kv.get(1)?.clone(),
                    ))
                })
                .collect()
        }
    })
}

/// `file:line: Redis could not compile ...: <Redis's message>`.
fn not_compiled(script: &ScriptSettings, e: &redis::RedisError) -> anyhow::Error {
    // As Redis words it (`ERR Error compiling script ...`), not as
    // redis-rs names the error kind.
    let message = match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    };
    let line = ["user_script:", "user_function:"].iter().find_map(|tag| {
        let rest = &message[message.find(tag)? + tag.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty()).then_some(digits)
    });
    let at = match line {
        Some(line) => format!("{}:{line}", script.path.display()),
        None => script.path.display().to_string(),
    };
    let what = match script.library {
        Some(_) => "load the function library",
        None => "compile the script",
    };
    anyhow::anyhow!(
        "{at}: Redis could not {what}: {message}\n  what to do: fix the script; nothing was run"
    )
}

/// A segment-wide template (an extra key, the orders key) on one segment.
fn key_on(t: &Template, keys: &Keys) -> String {
    keys.render(t, |_: Var, _: &mut String| {})
}

/// Every declared key on every segment.
fn declared<'a>(
    scenario: &'a Scenario,
    segments: &'a Segments,
) -> impl Iterator<Item = (String, KeyType)> + 'a {
    segments.keys.iter().flat_map(move |keys| {
        let extra = scenario.stock.extra_keys.iter();
        extra.map(move |(t, kind)| (key_on(t, keys), *kind))
    })
}

/// Refuses to start when a declared key exists.
///
/// # Errors
/// When a key exists or Redis fails.
pub async fn check_absent(
    target: &mut Target,
    scenario: &Scenario,
    segments: &Segments,
) -> anyhow::Result<()> {
    for (key, _) in declared(scenario, segments) {
        let exists: u64 = target.query(redis::cmd("EXISTS").arg(&key)).await?;
        if exists > 0 {
            bail!("{key} already exists; refusing to touch it (pick another redis.key_prefix)");
        }
    }
    Ok(())
}

/// Creates each declared stream empty; other types cannot exist empty.
///
/// # Errors
/// When Redis fails.
pub async fn create_streams(
    target: &mut Target,
    scenario: &Scenario,
    segments: &Segments,
) -> anyhow::Result<()> {
    for (key, kind) in declared(scenario, segments) {
        if kind == KeyType::Stream {
            // MAXLEN 0 trims the entry at once: an empty stream.
            let _: String = target
                .query(
                    redis::cmd("XADD")
                        .arg(&key)
                        .arg("MAXLEN")
                        .arg(0)
                        .arg("*")
                        .arg("seckill-bench")
                        .arg("created"),
                )
                .await?;
        }
    }
    Ok(())
}

/// The size of `key` as its type counts entries; 0 for `none`.
async fn size(target: &mut Target, key: &str, kind: &str) -> anyhow::Result<u64> {
    let command = match kind {
        "string" => "STRLEN",
        "list" => "LLEN",
        "set" => "SCARD",
        "zset" => "ZCARD",
        "hash" => "HLEN",
        "stream" => "XLEN",
        _ => return Ok(0),
    };
    Ok(target.query(redis::cmd(command).arg(key)).await?)
}

/// Each declared key's type and size at the end, over every segment.
pub async fn inspect_keys(
    target: &mut Target,
    scenario: &Scenario,
    segments: &Segments,
) -> anyhow::Result<Vec<KeyFact>> {
    let mut facts = Vec::new();
    for (t, kind) in &scenario.stock.extra_keys {
        let mut fact = KeyFact {
            key: t.text.clone(),
            declared: kind.name(),
            found: Vec::new(),
            size: 0,
        };
        for keys in &segments.keys {
            let key = key_on(t, keys);
            let found: String = target.query(redis::cmd("TYPE").arg(&key)).await?;
            fact.size += size(target, &key, &found).await?;
            fact.found.push(found);
        }
        facts.push(fact);
    }
    Ok(facts)
}

/// Entries read per `XRANGE` call.
const PAGE: usize = 10_000;

/// The orders key over every segment: entries, and with a buyer field,
/// orders per buyer from Redis's side. The sales to compare them with are
/// the caller's to fill in.
///
/// # Errors
/// When Redis fails; a key of a type that holds no orders is a finding,
/// not an error.
pub async fn inspect_orders(
    target: &mut Target,
    scenario: &Scenario,
    segments: &Segments,
) -> anyhow::Result<Option<OrderFacts>> {
    let Some(t) = &scenario.audit.orders else {
        return Ok(None);
    };
    let field = scenario.audit.orders_buyer_field.as_deref();
    let mut book = scenario
        .buyers
        .count
        .filter(|_| field.is_some())
        .map(|n| OrderBook::new(n.get()));
    let mut count = Ok(0u64);
    for keys in &segments.keys {
        let key = key_on(t, keys);
        let kind: String = target.query(redis::cmd("TYPE").arg(&key)).await?;
        let n = match kind.as_str() {
            "stream" | "list" | "set" | "zset" | "hash" | "none" => {
                size(target, &key, &kind).await?
            }
            other => {
                count = Err(format!("{key} is a {other}, which holds no orders"));
                break;
            }
        };
        if let (Some(book), Some(field)) = (&mut book, field) {
            if !matches!(kind.as_str(), "stream" | "none") {
                count = Err(format!(
                    "{key} is a {kind}; orders_buyer_field needs a stream"
                ));
                break;
            }
            read_buyers(target, &key, field, book).await?;
        }
        count = count.map(|c| c + n);
    }
    let limit = scenario.audit.per_buyer_limit.map(|l| l.get());
    Ok(Some(OrderFacts {
        key: t.text.clone(),
        count,
        sales: 0,
        in_doubt: 0,
        per_buyer: book.as_ref().zip(limit).map(|(b, l)| (l, b.over(l))),
        unknown: book.map(|b| (b.unknown, b.unknown_example)),
    }))
}

/// Every entry of the stream `key`, page by page, into `book`.
async fn read_buyers(
    target: &mut Target,
    key: &str,
    field: &str,
    book: &mut OrderBook,
) -> anyhow::Result<()> {
    each_field(target, key, field, |value| book.add(value)).await
}

/// `field` of every entry of the stream `key` (`None` where an entry has
/// none), read page by page.
pub(super) async fn each_field(
    target: &mut Target,
    key: &str,
    field: &str,
    mut each: impl FnMut(Option<&str>),
) -> anyhow::Result<()> {
    let mut start = "-".to_owned();
    loop {
        let page: Vec<(String, Vec<(String, String)>)> = target
            .query(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(PAGE),
            )
            .await?;
        for (_, fields) in &page {
            each(
                fields
                    .iter()
                    .find(|(f, _)| f == field)
                    .map(|(_, v)| v.as_str()),
            );
        }
        match page.last() {
            Some((id, _)) if page.len() == PAGE => start = format!("({id}"),
            _ => return Ok(()),
        }
    }
}

/// Deletes the declared keys, the orders key, and, with the user's
/// script, any other key under the run's prefixes it made (found with
/// `SCAN`, or on a cluster with `CLUSTER GETKEYSINSLOT` on the node that
/// owns each segment's slot); returns those it could not delete.
pub async fn cleanup_keys(
    target: &mut Target,
    scenario: &Scenario,
    segments: &Segments,
    placement: &[Placement],
) -> Vec<String> {
    let mut left = Vec::new();
    let templates = scenario
        .stock
        .extra_keys
        .iter()
        .map(|(t, _)| t)
        .chain(&scenario.audit.orders);
    let mut keys: Vec<String> = Vec::new();
    for t in templates {
        keys.extend(segments.keys.iter().map(|k| key_on(t, k)));
    }
    // The user's code may make keys of its own under the run's prefix.
    if scenario.script.is_some() || scenario.service.is_some() {
        for (i, segment) in segments.keys.iter().enumerate() {
            let found = match placement.get(i).and_then(|p| Some((p.slot?, &p.node))) {
                Some((slot, node)) => slot_keys(target, node, slot, &segment.prefix).await,
                None => scan(target, &segment.prefix).await,
            };
            match found {
                Ok(found) => keys.extend(found),
                Err(e) => left.push(format!("keys under {} ({e})", segment.prefix)),
            }
        }
    }
    keys.sort();
    keys.dedup();
    // Keys of several segments are in several slots: one by one on a
    // cluster, in batches elsewhere.
    let chunk = if target.is_cluster() { 1 } else { 500 };
    for keys in keys.chunks(chunk) {
        let deleted: redis::RedisResult<u64> = target.query(redis::cmd("DEL").arg(keys)).await;
        if deleted.is_err() {
            left.extend(keys.iter().cloned());
        }
    }
    left
}

/// Keys under `prefix` in `slot`, asked of `node`, the master serving it.
async fn slot_keys(
    target: &Target,
    node: &str,
    slot: u16,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let mut conn = target.node(node).await?;
    let count: u64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query_async(&mut conn)
        .await?;
    let keys: Vec<String> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(count)
        .query_async(&mut conn)
        .await?;
    Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect())
}

/// Keys starting with `prefix`, by `SCAN MATCH` (the prefix's glob
/// characters escaped).
async fn scan(target: &mut Target, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut pattern = String::new();
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    let mut cursor = 0u64;
    let mut found = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = target
            .query(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000),
            )
            .await?;
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}
