//! `kind = "http"`: a purchase is one HTTP request to the user's service,
//! and `[service]`: the instances of that service the harness starts and
//! owns. Parsed and validated here, once; the worker renders the request
//! per attempt, the coordinator the command per instance.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::raw::{RawService, RawStrategy};
use super::script::{replies, strings, Piece, Reply, Template, Var};

type Result<T> = std::result::Result<T, FieldError>;

/// Methods a purchase request may use.
const METHODS: [&str; 5] = ["POST", "PUT", "PATCH", "GET", "DELETE"];

/// Longest a request may wait for its reply: past it, a stuck service.
const MAX_TIMEOUT_MS: i64 = 600_000;

/// `[strategy]` with `kind = "http"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSettings {
    /// `{instance}/buy`, or a fixed `http://host:port/path`.
    pub url: Template,
    pub method: String,
    /// Header name -> value template, in the file's order.
    pub headers: Vec<(String, Template)>,
    pub body: Option<Template>,
    /// JSON pointer to the reply word in the body; `None`: the status code.
    pub reply: Option<String>,
    /// JSON pointer to the order id of a sale.
    pub order_id: Option<String>,
    /// A request without its whole reply by then is in doubt.
    pub timeout: Duration,
    /// Reply word (or status code) -> meaning.
    pub replies: Vec<(String, Reply)>,
}

impl HttpSettings {
    /// Whether requests go to the instances the harness starts.
    pub fn to_instances(&self) -> bool {
        self.url.pieces.first() == Some(&Piece::Var(Var::Instance))
    }

    /// The fixed URL's `host:port`, when the URL is not an instance's.
    pub fn fixed_authority(&self) -> Option<String> {
        let rest = self.url.text.strip_prefix("http://")?;
        let end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..end];
        Some(match authority.contains(':') {
            true => authority.to_owned(),
            false => format!("{authority}:80"),
        })
    }

    /// The named rejections, in the order of the mapping, each once.
    pub fn rejection_words(&self) -> Vec<String> {
        super::script::rejection_words(&self.replies)
    }

    pub fn parse(raw: &RawStrategy) -> Result<HttpSettings> {
        let url_text = raw.url.as_deref().ok_or_else(|| {
            FieldError::new(
                "strategy.url",
                "kind = \"http\" needs the URL a purchase requests",
                "add url = \"{instance}/buy\" with a [service], or the URL of your running service (url = \"http://127.0.0.1:8080/buy\")",
            )
        })?;
        let url = loose("strategy.url", url_text);
        let authority = url_text
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(""));
        if authority.is_some_and(|a| a.contains('@')) {
            return Err(FieldError::new(
                "strategy.url",
                "has a user and password in it, which would be printed and is not sent",
                "give the service's plain http://host:port/path; pass credentials in strategy.headers (e.g. Authorization)",
            ));
        }
        if authority.is_some_and(|a| a.starts_with('[')) {
            return Err(FieldError::new(
                "strategy.url",
                "names an IPv6 host, which is not supported",
                "give an IPv4 address or a host name, e.g. http://127.0.0.1:8080/buy",
            ));
        }
        if let Some(bad) = url_text
            .chars()
            .find(|c| c.is_whitespace() || c.is_control())
        {
            return Err(FieldError::new(
                "strategy.url",
                format!("`{url_text}` holds {bad:?}, which no URL may"),
                "percent-encode it (a space is %20)",
            ));
        }
        let fixed = authority.is_some_and(|a| !a.is_empty() && !a.contains('{'));
        if !fixed && url.pieces.first() != Some(&Piece::Var(Var::Instance)) {
            return Err(FieldError::new(
                "strategy.url",
                format!("`{url_text}` is neither an instance's URL nor a fixed http:// URL"),
                "start it with {instance} (e.g. \"{instance}/buy\", with a [service]) or http://host:port/ (https is not supported; placeholders only after the host)",
            ));
        }
        let method = raw.method.as_deref().unwrap_or("POST").to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(FieldError::one_of("strategy.method", &method, &METHODS));
        }
        let mut headers = Vec::new();
        if let Some(table) = &raw.headers {
            for (name, value) in strings("strategy.headers", table)? {
                if !is_header_name(name) {
                    return Err(FieldError::new(
                        "strategy.headers",
                        format!("`{name}` is not a header name"),
                        "use letters, digits and - (e.g. \"Idempotency-Key\")",
                    ));
                }
                if value.contains(['\r', '\n']) {
                    return Err(FieldError::new(
                        "strategy.headers",
                        format!("the value of `{name}` has a line break"),
                        "write the header's value on one line",
                    ));
                }
                headers.push((name.clone(), loose("strategy.headers", value)));
            }
        }
        let pointer = |field: &str, p: &Option<String>| -> Result<Option<String>> {
            match p {
                Some(p) if !p.is_empty() && !p.starts_with('/') => Err(FieldError::new(
                    field,
                    format!("`{p}` is not a JSON pointer"),
                    "write a pointer into the reply's JSON, starting with / (e.g. \"/result\")",
                )),
                other => Ok(other.clone()),
            }
        };
        let timeout_ms = raw.timeout_ms.unwrap_or(2000);
        if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(FieldError::new(
                "strategy.timeout_ms",
                format!("must be between 1 and {MAX_TIMEOUT_MS}, got {timeout_ms}"),
                "give the milliseconds after which a request without a reply is in doubt",
            ));
        }
        let replies = replies(raw.replies.as_ref(), "HTTP")?;
        if replies.iter().any(|(_, r)| *r == Reply::Next) {
            return Err(FieldError::new(
                "strategy.replies",
                "maps a reply to `next`, which is for a Function library's steps",
                "map each reply to sold, sold_out, or a word of your own for a rejection",
            ));
        }
        Ok(HttpSettings {
            url,
            method,
            headers,
            body: raw.body.as_deref().map(|b| loose("strategy.body", b)),
            reply: pointer("strategy.reply", &raw.reply)?,
            order_id: pointer("strategy.order_id", &raw.order_id)?,
            timeout: Duration::from_millis(timeout_ms as u64),
            replies,
        })
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A template where only the known `{name}`s are placeholders: a JSON
/// body's own braces, and any other `{...}`, stay as written.
pub fn loose(_field: &str, text: &str) -> Template {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '{' {
            let var = rest[1..]
                .split_once('}')
                .and_then(|(name, _)| Var::named(name).map(|v| (v, name.len())));
            if let Some((var, len)) = var {
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Var(var));
                rest = &rest[len + 2..];
                continue;
            }
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Template {
        text: text.to_owned(),
        pieces,
    }
}

/// `[service]`: the user's service, started by the harness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSettings {
    /// Program and arguments, with `{port}`, `{redis_url}`, `{stock}`,
    /// `{lock}`, `{run}` and `{index}` filled in per instance.
    pub command: Vec<String>,
    pub instances: u32,
    pub env: Vec<(String, String)>,
    /// GET until it answers 2xx; `None`: until the port accepts.
    pub ready_path: Option<String>,
    pub ready_timeout: Duration,
    /// SIGTERM, then SIGKILL after this.
    pub stop_grace: Duration,
    /// Where the command runs: the scenario file's folder.
    pub dir: PathBuf,
}

/// What `[service]`'s command and env may name.
pub const SERVICE_VARS: [&str; 6] = ["port", "redis_url", "stock", "lock", "run", "index"];

/// Longest an instance may take to be ready, and to stop after SIGTERM:
/// every wait of the harness has a bound.
const MAX_READY: Duration = Duration::from_secs(600);
const MAX_GRACE: Duration = Duration::from_secs(60);

/// Most instances one run starts.
const MAX_INSTANCES: i64 = 64;

impl ServiceSettings {
    pub fn parse(
        raw: &RawService,
        durations: impl Fn(&str, Option<&str>, u64) -> Result<Duration>,
    ) -> Result<ServiceSettings> {
        let command = raw.command.clone().unwrap_or_default();
        if command.is_empty() || command[0].trim().is_empty() {
            return Err(FieldError::new(
                "service.command",
                "names no program to start",
                "write command = [\"python3\", \"my_service.py\", \"--port\", \"{port}\"]",
            ));
        }
        for part in &command {
            placeholders("service.command", part)?;
        }
        let listens = command.iter().any(|p| p.contains("{port}"))
            || raw.env.as_ref().is_some_and(|e| {
                e.values()
                    .any(|v| v.as_str().is_some_and(|s| s.contains("{port}")))
            });
        if !listens {
            return Err(FieldError::new(
                "service.command",
                "never passes {port}: every instance would listen where the harness does not look",
                "pass the port the harness picked, e.g. \"--port\", \"{port}\" (or PORT = \"{port}\" in env)",
            ));
        }
        let instances = raw.instances.unwrap_or(1);
        if !(1..=MAX_INSTANCES).contains(&instances) {
            return Err(FieldError::new(
                "service.instances",
                format!("must be between 1 and {MAX_INSTANCES}, got {instances}"),
                "set how many instances of the service to start",
            ));
        }
        let mut env = Vec::new();
        if let Some(table) = &raw.env {
            for (name, value) in strings("service.env", table)? {
                if name.is_empty() || name.contains(['=', '\0']) {
                    return Err(FieldError::new(
                        "service.env",
                        format!("`{name}` is not an environment variable name"),
                        "use names like REDIS_URL",
                    ));
                }
                placeholders("service.env", value)?;
                env.push((name.clone(), value.to_owned()));
            }
        }
        if let Some(path) = raw.ready_path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(FieldError::new(
                "service.ready_path",
                format!("`{path}` is not a path"),
                "write the path of the health endpoint, e.g. \"/health\"",
            ));
        }
        let ready_timeout = durations(
            "service.ready_timeout",
            raw.ready_timeout.as_deref(),
            15_000,
        )?;
        let stop_grace = durations("service.stop_grace", raw.stop_grace.as_deref(), 2_000)?;
        for (field, value, most) in [
            ("service.ready_timeout", ready_timeout, MAX_READY),
            ("service.stop_grace", stop_grace, MAX_GRACE),
        ] {
            if value > most {
                return Err(FieldError::new(
                    field,
                    format!("{value:?} is longer than the harness waits ({most:?})"),
                    format!("give at most {}s", most.as_secs()),
                ));
            }
        }
        Ok(ServiceSettings {
            command,
            instances: instances as u32,
            env,
            ready_path: raw.ready_path.clone(),
            ready_timeout,
            stop_grace,
            dir: PathBuf::new(),
        })
    }

    /// Runs the command from `base`, the scenario file's folder.
    pub fn rooted(&mut self, base: &Path) {
        self.dir = base.to_path_buf();
    }
}

/// Every `{name}` in a command or env value must be one the harness fills.
fn placeholders(field: &str, text: &str) -> Result<()> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        let word = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if word && !SERVICE_VARS.contains(&name) {
            let known: Vec<String> = SERVICE_VARS.iter().map(|n| format!("{{{n}}}")).collect();
            return Err(FieldError::new(
                field,
                format!("`{text}`: unknown placeholder {{{name}}}"),
                format!("use {}", known.join(", ")),
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loose_template_replaces_only_known_names() {
        let t = loose(
            "f",
            r#"{"buyer": "{buyer}", "q": {quantity}, "x": {other}}"#,
        );
        assert_eq!(
            t.pieces,
            [
                Piece::Text(r#"{"buyer": ""#.into()),
                Piece::Var(Var::Buyer),
                Piece::Text(r#"", "q": "#.into()),
                Piece::Var(Var::Quantity),
                Piece::Text(r#", "x": {other}}"#.into()),
            ]
        );
        let t = loose("f", "{instance}/buy?t={token}");
        assert_eq!(t.pieces[0], Piece::Var(Var::Instance));
        assert_eq!(t.pieces[2], Piece::Var(Var::Token));
    }

    #[test]
    fn service_placeholders_must_be_known() {
        assert!(placeholders("f", "--port={port}").is_ok());
        assert!(placeholders("f", r#"{"json": 1}"#).is_ok());
        let e = placeholders("f", "{prot}").unwrap_err();
        assert!(e.message.contains("{prot}"), "{e:?}");
    }
}
