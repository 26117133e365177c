//! The user's own purchase code (`kind = "script"`), its buyers, and what
//! the audit checks beyond the stock: templates that name keys and
//! arguments, the meaning of the script's replies, per-buyer limits and the
//! orders ledger. Parsed and validated here, once; the worker resolves the
//! templates per attempt and the coordinator per segment.

use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::FieldError;
use crate::util::bounded_read::{read_string, LUA_SCRIPT};

type Result<T> = std::result::Result<T, FieldError>;

/// What a template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Var {
    /// The segment's stock key.
    Stock,
    /// The segment's lock key.
    Lock,
    /// The segment's key prefix without its trailing `:`, hash tag included.
    Run,
    /// The attempt's buyer id.
    Buyer,
    /// Units one purchase takes.
    Quantity,
    /// Unique per attempt in the run.
    Token,
    /// The client's number in the whole run.
    Client,
    /// The worker's index.
    Worker,
    /// `kind = "http"`: the base URL of the instance a request goes to.
    Instance,
}

impl Var {
    const ALL: [(&'static str, Var); 8] = [
        ("stock", Var::Stock),
        ("lock", Var::Lock),
        ("run", Var::Run),
        ("buyer", Var::Buyer),
        ("quantity", Var::Quantity),
        ("token", Var::Token),
        ("client", Var::Client),
        ("worker", Var::Worker),
    ];

    /// A name of a request template (`kind = "http"`): the script's, and
    /// `instance`.
    pub fn named(name: &str) -> Option<Var> {
        match name {
            "instance" => Some(Var::Instance),
            _ => Var::ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Piece {
    Text(String),
    Var(Var),
}

/// A key or argument as written, e.g. `{run}:buyers`, parsed into pieces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub text: String,
    pub pieces: Vec<Piece>,
}

impl Template {
    /// Parses `{name}` placeholders; `{{` and `}}` are literal braces.
    ///
    /// # Errors
    /// An unknown or unclosed placeholder, naming `field`.
    pub fn parse(field: &str, text: &str) -> Result<Template> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some(tail) = rest.strip_prefix("{{").or_else(|| rest.strip_prefix("}}")) {
                literal.push(c);
                rest = tail;
                continue;
            }
            if c == '{' {
                let (name, tail) = rest[1..]
                    .split_once('}')
                    .ok_or_else(|| unknown(field, text, rest))?;
                let var = Var::ALL
                    .iter()
                    .find(|(n, _)| *n == name)
                    .ok_or_else(|| unknown(field, text, &format!("{{{name}}}")))?
                    .1;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Var(var));
                rest = tail;
                continue;
            }
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template {
            text: text.to_owned(),
            pieces,
        })
    }

    /// Whether the template names only one segment's own keys: `{stock}`,
    /// `{lock}`, or a key under `{run}:`.
    pub fn is_run_key(&self) -> bool {
        match self.pieces.as_slice() {
            [Piece::Var(Var::Stock | Var::Lock)] => true,
            [Piece::Var(Var::Run), Piece::Text(t), ..] => t.starts_with(':'),
            _ => false,
        }
    }

    /// Whether the text depends on the attempt (buyer, token, ...), not
    /// only on the segment.
    pub fn per_attempt(&self) -> bool {
        self.pieces.iter().any(|p| {
            matches!(
                p,
                Piece::Var(Var::Buyer | Var::Token | Var::Client | Var::Worker)
            )
        })
    }
}

fn unknown(field: &str, text: &str, near: &str) -> FieldError {
    let known: Vec<String> = Var::ALL.iter().map(|(n, _)| format!("{{{n}}}")).collect();
    FieldError::new(
        field,
        format!("`{text}`: unknown or unclosed placeholder near `{near}`"),
        format!(
            "use {}; write {{{{ and }}}} for literal braces",
            known.join(", ")
        ),
    )
}

/// What a reply of the user's script means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The stock was decremented for this buyer.
    Sold,
    /// Not enough stock: the buyer leaves.
    SoldOut,
    /// `steps` only: go on to the next function.
    Next,
    /// A business rejection of its own name (`duplicate`, `limit`, ...):
    /// nothing sold, the client goes on.
    Rejected(String),
}

/// `kind = "script"`: the user's Lua script or Redis Function library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptSettings {
    /// As written, relative to the scenario file.
    pub path: PathBuf,
    /// Read when the scenario is loaded; empty until then.
    pub source: String,
    /// `#!lua name=<library>`: a Redis Function library, run with FCALL.
    pub library: Option<String>,
    /// Functions called in turn (a library only); a reply mapped to
    /// `next` goes on to the next one. Empty for a plain script.
    pub steps: Vec<String>,
    pub keys: Vec<Template>,
    pub args: Vec<Template>,
    /// Reply text (an integer in decimal, a status or a string) -> meaning.
    pub replies: Vec<(String, Reply)>,
}

impl ScriptSettings {
    /// The named rejections, in the order of the mapping, each once.
    pub fn rejection_words(&self) -> Vec<String> {
        rejection_words(&self.replies)
    }

    /// Validates `[strategy]`'s script fields; the file is read later.
    pub fn parse(raw: &super::raw::RawStrategy) -> Result<ScriptSettings> {
        let path = raw.script.as_deref().ok_or_else(|| {
            FieldError::new(
                "strategy.script",
                "kind = \"script\" needs the script's file",
                "add script = \"scripts/my-seckill.lua\" (relative to the scenario file)",
            )
        })?;
        let keys = templates("strategy.keys", raw.keys.as_deref().unwrap_or(&[]))?;
        if let Some(bad) = keys.iter().find(|k| !k.is_run_key()) {
            return Err(FieldError::new(
                "strategy.keys",
                format!("`{}` is not one of the run's keys: the harness never touches keys outside its own prefix", bad.text),
                "name keys {stock}, {lock}, or {run}:<name> (e.g. \"{run}:buyers\"); pass other values in args",
            ));
        }
        let mut steps = raw.steps.clone().unwrap_or_default();
        if let Some(function) = &raw.function {
            if !steps.is_empty() {
                return Err(FieldError::new(
                    "strategy.function",
                    "is set together with strategy.steps",
                    "use function = \"name\" for one call, or steps = [\"check\", \"buy\"] for several",
                ));
            }
            steps.push(function.clone());
        }
        if let Some(bad) = steps.iter().find(|s| !is_word(s)) {
            return Err(FieldError::new(
                "strategy.steps",
                format!("`{bad}` is not a function name"),
                "use the names the library registers (letters, digits, _)",
            ));
        }
        Ok(ScriptSettings {
            path: PathBuf::from(path),
            source: String::new(),
            library: None,
            steps,
            keys,
            args: templates("strategy.args", raw.args.as_deref().unwrap_or(&[]))?,
            replies: replies(raw.replies.as_ref(), "script")?,
        })
    }

    /// Reads the file (relative to `base`, the scenario's folder) and
    /// checks it against `function` / `steps`.
    ///
    /// # Errors
    /// The file cannot be read, or is a library without functions named.
    pub fn read(&mut self, base: &Path) -> Result<()> {
        let path = base.join(&self.path);
        self.source = read_string(&path, LUA_SCRIPT).map_err(|e| {
            FieldError::new(
                "strategy.script",
                format!("cannot read {}: {e}", path.display()),
                "give the path of your .lua file, relative to the scenario file",
            )
        })?;
        if self.source.trim().is_empty() {
            return Err(FieldError::new(
                "strategy.script",
                format!("{} is empty", path.display()),
                "give the path of your .lua file, with the purchase in it",
            ));
        }
        self.path = path;
        self.library = library_name(&self.source);
        let next = self.replies.iter().any(|(_, r)| *r == Reply::Next);
        match (&self.library, self.steps.len()) {
            (Some(_), 0) => Err(FieldError::new(
                "strategy.function",
                format!("{} is a Redis Function library (#!lua name=...), but no function is named", self.path.display()),
                "add function = \"<the function your library registers>\"",
            )),
            (None, n) if n > 0 => Err(FieldError::new(
                "strategy.function",
                format!("{} is a plain Lua script, not a Function library", self.path.display()),
                "remove function/steps to run it with EVALSHA, or start the file with #!lua name=<library>",
            )),
            (_, n) if next && n < 2 => Err(FieldError::new(
                "strategy.replies",
                "maps a reply to `next`, but there is no next step",
                "use steps = [\"first\", \"second\"] with a Function library, or map the reply to another word",
            )),
            _ => Ok(()),
        }
    }
}

/// The named rejections of a reply mapping, in its order, each once.
pub(super) fn rejection_words(replies: &[(String, Reply)]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for (_, reply) in replies {
        if let Reply::Rejected(w) = reply {
            if !words.contains(w) {
                words.push(w.clone());
            }
        }
    }
    words
}

/// The library name of a Redis Function file's first line.
fn library_name(source: &str) -> Option<String> {
    let first = source.lines().next()?.strip_prefix("#!lua")?;
    first
        .split_whitespace()
        .find_map(|part| part.strip_prefix("name="))
        .map(str::to_owned)
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn templates(field: &str, raw: &[String]) -> Result<Vec<Template>> {
    raw.iter().map(|t| Template::parse(field, t)).collect()
}

/// A table of strings in the file's order (TOML tables keep it here).
pub(super) fn strings<'a>(
    field: &str,
    table: &'a toml::Table,
) -> Result<Vec<(&'a String, &'a str)>> {
    table
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k, s)),
            None => Err(FieldError::new(
                field,
                format!("`{k}` = {v} is not a string"),
                "write the value in quotes, e.g. \"sold\"",
            )),
        })
        .collect()
}

/// `what`: `script` or `HTTP`, whose replies these are.
pub(super) fn replies(raw: Option<&toml::Table>, what: &str) -> Result<Vec<(String, Reply)>> {
    let hint = match what {
        "HTTP" => "map each reply your service gives (the word at strategy.reply, or the status code), e.g. [strategy.replies] \"sold\" = \"sold\", \"sold_out\" = \"sold_out\", \"duplicate\" = \"duplicate\"",
        _ => "map each reply your script returns, e.g. [strategy.replies] \"0\" = \"sold\", \"1\" = \"sold_out\", \"2\" = \"duplicate\"",
    };
    let kind = match what {
        "HTTP" => "http",
        _ => "script",
    };
    let raw = raw.ok_or_else(|| {
        FieldError::new(
            "strategy.replies",
            format!("kind = \"{kind}\" needs to know what the {what} replies mean"),
            hint,
        )
    })?;
    let mut mapped = Vec::new();
    for (reply, word) in strings("strategy.replies", raw)? {
        let meaning = match word {
            "sold" => Reply::Sold,
            "sold_out" => Reply::SoldOut,
            "next" => Reply::Next,
            w if is_word(w) && w.chars().all(|c| !c.is_ascii_uppercase()) => {
                Reply::Rejected(w.to_owned())
            }
            w => {
                return Err(FieldError::new(
                    "strategy.replies",
                    format!("`{w}` (for reply `{reply}`) is not a word"),
                    "use sold, sold_out, next, or a lowercase word of your own (letters, digits, _) for a rejection",
                ))
            }
        };
        mapped.push((reply.clone(), meaning));
    }
    if !mapped.iter().any(|(_, r)| *r == Reply::Sold) {
        return Err(FieldError::new(
            "strategy.replies",
            "no reply means `sold`: the run could never count a sale",
            hint,
        ));
    }
    Ok(mapped)
}

/// `[buyers]`: who buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerSettings {
    /// Buyer ids `0..count`; `None`: a new buyer for every attempt.
    pub count: Option<NonZeroU64>,
    pub pick: BuyerPick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuyerPick {
    /// Uniformly at random per attempt.
    Random,
    /// Each client walks the ids in turn, clients interleaved run-wide.
    RoundRobin,
}

/// Most buyers the ledger keeps (two bytes each in the coordinator).
const MAX_BUYERS: i64 = 100_000_000;

impl BuyerSettings {
    pub fn parse(raw: &super::raw::RawBuyers) -> Result<BuyerSettings> {
        let count = match raw.count {
            None => None,
            Some(n @ 1..=MAX_BUYERS) => NonZeroU64::new(n as u64),
            Some(n) => {
                return Err(FieldError::new(
                    "buyers.count",
                    format!("{n} is not a number of buyers"),
                    format!("use 1 to {MAX_BUYERS}, or leave it out for a new buyer per attempt"),
                ))
            }
        };
        let pick = match raw.pick.as_deref().unwrap_or("random") {
            "random" => BuyerPick::Random,
            "round-robin" => BuyerPick::RoundRobin,
            other => {
                return Err(FieldError::one_of(
                    "buyers.pick",
                    other,
                    &["random", "round-robin"],
                ))
            }
        };
        Ok(BuyerSettings { count, pick })
    }
}

/// `[audit]`: ledgers checked besides the stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSettings {
    /// Most purchases one buyer may make; checked from the harness's own
    /// ledger of the replies it received.
    pub per_buyer_limit: Option<NonZeroU32>,
    /// Where the purchase records its orders (per segment).
    pub orders: Option<Template>,
    /// The field of each order stream entry that names its buyer.
    pub orders_buyer_field: Option<String>,
    /// The field of each order stream entry that holds the purchase's
    /// order id (a hash's field name, a set's member otherwise).
    pub orders_id_field: Option<String>,
    /// How often the coordinator reads the stock during the run, for the
    /// history's `stock_readings_consistent` check.
    #[serde(default = "default_sample_interval")]
    pub sample_interval: Duration,
    /// Whether the per-purchase history is kept and checked; `false`
    /// leaves only the count-based audit.
    #[serde(default = "yes")]
    pub history: bool,
}

/// `[audit] sample_interval` when not given.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);
/// The range `[audit] sample_interval` may take.
const SAMPLE_INTERVALS: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(5)..=Duration::from_secs(10);
/// The orders key `[strategy] record_orders` writes, per segment.
const RECORDED_ORDERS: &str = "{run}:orders";

fn default_sample_interval() -> Duration {
    SAMPLE_INTERVAL
}

fn yes() -> bool {
    true
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings {
            per_buyer_limit: None,
            orders: None,
            orders_buyer_field: None,
            orders_id_field: None,
            sample_interval: SAMPLE_INTERVAL,
            history: true,
        }
    }
}

impl AuditSettings {
    /// `record_orders`: the built-in strategy writes the orders, to
    /// [`RECORDED_ORDERS`], which `orders` then defaults to.
    pub fn parse(
        raw: &super::raw::RawAudit,
        buyers: &BuyerSettings,
        record_orders: bool,
    ) -> Result<AuditSettings> {
        let per_buyer_limit = match raw.per_buyer_limit {
            None => None,
            Some(n @ 1..=65_000) => NonZeroU32::new(n as u32),
            Some(n) => {
                return Err(FieldError::new(
                    "audit.per_buyer_limit",
                    format!("{n} is not a limit"),
                    "use 1 to 65000 purchases per buyer",
                ))
            }
        };
        if per_buyer_limit.is_some() && buyers.count.is_none() {
            return Err(FieldError::new(
                "audit.per_buyer_limit",
                "with a new buyer for every attempt no buyer can buy twice: the check would test nothing",
                "add [buyers] count = N, fewer than the attempts",
            )
            .depending_on(&["buyers.count"]));
        }
        let orders = raw
            .orders
            .as_deref()
            .map(|t| Template::parse("audit.orders", t))
            .transpose()?;
        let orders = if record_orders {
            Some(recorded_orders(orders, raw)?)
        } else {
            orders
        };
        if let Some(t) = orders
            .as_ref()
            .filter(|t| !t.is_run_key() || t.per_attempt())
        {
            return Err(FieldError::new(
                "audit.orders",
                format!("`{}` is not one key of the run", t.text),
                "name the key under the run's prefix, e.g. orders = \"{run}:orders\"",
            ));
        }
        if raw.orders_buyer_field.is_some() && (orders.is_none() || buyers.count.is_none()) {
            return Err(FieldError::new(
                "audit.orders_buyer_field",
                "needs audit.orders (a stream) and [buyers] count",
                "add orders = \"{run}:orders\" and [buyers] count = N, or remove it",
            ));
        }
        if raw.orders_id_field.is_some() && orders.is_none() {
            return Err(FieldError::new(
                "audit.orders_id_field",
                "needs audit.orders, the key the ids are in",
                "add orders = \"{run}:orders\", or remove it",
            ));
        }
        Ok(AuditSettings {
            per_buyer_limit,
            orders,
            orders_buyer_field: raw.orders_buyer_field.clone(),
            orders_id_field: raw.orders_id_field.clone(),
            sample_interval: sample_interval(raw.sample_interval.as_deref())?,
            history: raw.history.unwrap_or(true),
        })
    }
}

/// The orders key with `record_orders`: [`RECORDED_ORDERS`], given or not;
/// the fields that read a stream's entries do not apply to its hash.
fn recorded_orders(given: Option<Template>, raw: &super::raw::RawAudit) -> Result<Template> {
    let recorded = Template::parse("audit.orders", RECORDED_ORDERS)?;
    if let Some(t) = given.filter(|t| t.pieces != recorded.pieces) {
        return Err(FieldError::new(
            "audit.orders",
            format!(
                "`{}` is not the key record_orders writes: the strategy records each sale in `{RECORDED_ORDERS}`",
                t.text
            ),
            format!(
                "remove audit.orders (with record_orders it is `{RECORDED_ORDERS}`), or set record_orders = false to audit a key your own code writes"
            ),
        )
        .depending_on(&["strategy.record_orders"]));
    }
    let stream_field = [
        ("audit.orders_buyer_field", raw.orders_buyer_field.is_some()),
        ("audit.orders_id_field", raw.orders_id_field.is_some()),
    ];
    if let Some((field, _)) = stream_field.iter().find(|(_, set)| *set) {
        return Err(FieldError::new(
            field,
            "names a field of a stream's entries, and record_orders writes a hash (purchase id -> buyer)",
            "remove it: with record_orders the ids are the hash's field names",
        )
        .depending_on(&["strategy.record_orders"]));
    }
    Ok(recorded)
}

/// `[audit] sample_interval`: a duration in words, 5ms to 10s.
fn sample_interval(text: Option<&str>) -> Result<Duration> {
    let Some(text) = text else {
        return Ok(SAMPLE_INTERVAL);
    };
    match super::duration::parse_duration(text) {
        Some(d) if SAMPLE_INTERVALS.contains(&d) => Ok(d),
        Some(_) => Err(FieldError::new(
            "audit.sample_interval",
            format!("`{text}` is outside 5ms to 10s"),
            "use 5ms to 10s; leave it out for 50ms",
        )),
        None => Err(FieldError::new(
            "audit.sample_interval",
            format!("`{text}` is not a duration"),
            "write a number with a unit, e.g. \"50ms\" or \"1s\" (5ms to 10s)",
        )),
    }
}

/// A key the purchase uses besides the stock, as `[stock] extra_keys`
/// declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    String,
    List,
    Set,
    Zset,
    Hash,
    Stream,
}

impl KeyType {
    pub const ALL: [KeyType; 6] = [
        KeyType::String,
        KeyType::List,
        KeyType::Set,
        KeyType::Zset,
        KeyType::Hash,
        KeyType::Stream,
    ];

    /// As Redis's `TYPE` names it.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::Zset => "zset",
            KeyType::Hash => "hash",
            KeyType::Stream => "stream",
        }
    }
}

/// `[stock] extra_keys`: templates under `{run}:` and their types.
pub fn extra_keys(raw: Option<&toml::Table>) -> Result<Vec<(Template, KeyType)>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for (key, kind) in strings("stock.extra_keys", raw)? {
        let template = Template::parse("stock.extra_keys", key)?;
        if !template.is_run_key()
            || template.per_attempt()
            || matches!(template.pieces.as_slice(), [Piece::Var(_)])
        {
            return Err(FieldError::new(
                "stock.extra_keys",
                format!("`{key}` is not a key of its own under the run's prefix"),
                "declare keys as \"{run}:<name>\" = \"set\" (per-buyer keys are the script's to make)",
            ));
        }
        let names: Vec<&str> = KeyType::ALL.iter().map(|t| t.name()).collect();
        let kind = KeyType::ALL
            .into_iter()
            .find(|t| t.name() == kind)
            .ok_or_else(|| FieldError::one_of("stock.extra_keys", kind, &names))?;
        keys.push((template, kind));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_pieces_and_refuse_unknown_names() {
        let t = Template::parse("f", "{run}:buyers:{buyer}").unwrap();
        assert_eq!(
            t.pieces,
            [
                Piece::Var(Var::Run),
                Piece::Text(":buyers:".into()),
                Piece::Var(Var::Buyer)
            ]
        );
        assert!(t.is_run_key() && t.per_attempt());
        let t = Template::parse("f", "a{{b}}").unwrap();
        assert_eq!(t.pieces, [Piece::Text("a{b}".into())]);
        assert!(!t.is_run_key());
        let e = Template::parse("f", "{run}:{user}").unwrap_err();
        assert!(e.message.contains("{user}"), "{e:?}");
        assert!(Template::parse("f", "{run").is_err());
        assert!(Template::parse("f", "{stock}").unwrap().is_run_key());
        assert!(!Template::parse("f", "{run}x").unwrap().is_run_key());
        assert!(!Template::parse("f", "other:{run}:x").unwrap().is_run_key());
    }

    #[test]
    fn a_library_is_named_on_its_first_line() {
        assert_eq!(
            library_name("#!lua name=seckill\nredis.register_function('f', f)"),
            Some("seckill".into())
        );
        assert_eq!(library_name("-- #!lua name=x\nreturn 1"), None);
    }
}
