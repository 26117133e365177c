//! Turns a dotted field path into "where the user wrote it": a line of the
//! scenario file, or the `--set` flag that overrode it.

use toml_edit::TableLike;

use super::error::{FieldError, ScenarioError};
use super::overrides::Override;

pub struct Locator<'a> {
    source: &'a str,
    origin: &'a str,
    overrides: &'a [Override],
    doc: Option<toml_edit::Document<&'a str>>,
}

impl<'a> Locator<'a> {
    pub fn new(source: &'a str, origin: &'a str, overrides: &'a [Override]) -> Locator<'a> {
        let doc = toml_edit::Document::parse(source).ok();
        Locator {
            source,
            origin,
            overrides,
            doc,
        }
    }

    pub fn syntax_error(&self, e: &toml::de::Error) -> ScenarioError {
        let location = match e.span() {
            Some(span) => format!("{}:{}", self.origin, self.line_at(span.start)),
            None => self.origin.to_owned(),
        };
        let literal = e
            .span()
            .and_then(|span| Some((self.source.get(span.clone())?, span)));
        if let Some((literal, span)) = literal.filter(|(l, _)| out_of_range_integer(l)) {
            return ScenarioError::Invalid {
                location,
                field: self.path_of_value_at(span),
                message: out_of_range_message(literal),
                hint: OUT_OF_RANGE_HINT.to_owned(),
            };
        }
        ScenarioError::Invalid {
            location,
            field: String::new(),
            message: format!("not valid TOML: {}", e.message()),
            hint: "fix the syntax at that line".to_owned(),
        }
    }

    /// The dotted path of the value at `span`, which the TOML parser
    /// refused: a copy of the source with that value replaced by a `0` of
    /// the same length parses, and its spans say whose value it was.
    fn path_of_value_at(&self, span: std::ops::Range<usize>) -> String {
        let mut patched = self.source.to_owned();
        patched.replace_range(span.clone(), &format!("{:<1$}", "0", span.len()));
        toml_edit::Document::parse(patched)
            .ok()
            .and_then(|doc| path_in_table(doc.as_table(), span.start, ""))
            .unwrap_or_default()
    }

    pub fn serde_error(&self, e: &serde_path_to_error::Error<toml::de::Error>) -> ScenarioError {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let message = e.inner().message().lines().next().unwrap_or("").to_owned();
        if let Some(number) = self.out_of_range_override(&field) {
            let message = out_of_range_message(number);
            return self.field_error(FieldError::new(&field, message, OUT_OF_RANGE_HINT));
        }
        let hint = if message.starts_with("unknown field") {
            "remove it or correct its spelling (see scenarios/*.toml for the format)"
        } else if message.starts_with("missing field") {
            "add it (see scenarios/article.toml for a complete scenario)"
        } else {
            "write a value of the expected type"
        };
        self.field_error(FieldError::new(&field, message, hint))
    }

    /// A `--set` value for `field` that is a whole number beyond 64 bits:
    /// kept as a string by the override, it reaches serde as one.
    fn out_of_range_override(&self, field: &str) -> Option<&str> {
        let o = self.overrides.iter().rev().find(|o| o.path == field)?;
        o.value.as_str().filter(|v| out_of_range_integer(v))
    }

    pub fn field_error(&self, e: FieldError) -> ScenarioError {
        ScenarioError::Invalid {
            location: self.location(&e),
            field: e.field,
            message: e.message,
            hint: e.hint,
        }
    }

    /// The `--set` that gave the field its value; else those that gave the
    /// fields it depends on theirs (the file alone did not have the
    /// problem); else the field's line in the file.
    fn location(&self, e: &FieldError) -> String {
        if let Some(o) = self.override_of(&e.field) {
            return o.arg.clone();
        }
        let mut causes: Vec<&str> = Vec::new();
        for o in e.depends_on.iter().filter_map(|f| self.override_of(f)) {
            if !causes.contains(&o.arg.as_str()) {
                causes.push(&o.arg);
            }
        }
        if !causes.is_empty() {
            return causes.join(", ");
        }
        match self.offset_of(&e.field) {
            Some(offset) => format!("{}:{}", self.origin, self.line_at(offset)),
            None => self.origin.to_owned(),
        }
    }

    /// The last override that set `field` or a table or array holding it:
    /// `load.stages` holds `load.stages[0].duration`.
    fn override_of(&self, field: &str) -> Option<&Override> {
        self.overrides.iter().rev().find(|o| {
            field
                .strip_prefix(o.path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }

    /// `origin:line` of the key at `parts` (TOML keys, unsplit), or of the
    /// deepest table of it present in the file.
    pub fn place(&self, parts: &[&str]) -> String {
        match self.offset_of_parts(parts.iter().copied()) {
            Some(offset) => format!("{}:{}", self.origin, self.line_at(offset)),
            None => self.origin.to_owned(),
        }
    }

    fn offset_of(&self, field: &str) -> Option<usize> {
        self.offset_of_parts(field.split('.'))
    }

    /// Byte offset of the deepest part of the path present in the file: the
    /// field itself, or its table when the field is missing.
    fn offset_of_parts<'p>(&self, parts: impl Iterator<Item = &'p str>) -> Option<usize> {
        let mut table: &dyn TableLike = self.doc.as_ref()?.as_table();
        let mut best = None;
        for part in parts.filter(|p| !p.is_empty()) {
            let (name, index) = split_index(part);
            let Some((key, item)) = table.get_key_value(name) else {
                break;
            };
            best = key.span().or_else(|| item.span()).map(|s| s.start).or(best);
            let inner = match index {
                Some(i) => element(item, i).inspect(|t| best = inner_span(*t).or(best)),
                None => item.as_table_like(),
            };
            match inner {
                Some(inner) => table = inner,
                None => break,
            }
        }
        best
    }

    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.source.len());
        self.source.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// `stages[2]` -> (`stages`, Some(2)), as serde_path_to_error writes arrays.
fn split_index(part: &str) -> (&str, Option<usize>) {
    match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
        Some((name, index)) => (name, index.parse().ok()),
        None => (part, None),
    }
}

/// Element `i` of an array of tables (`[[load.stages]]`) or an inline array.
fn element(item: &toml_edit::Item, i: usize) -> Option<&dyn TableLike> {
    if let Some(tables) = item.as_array_of_tables() {
        return tables.get(i).map(|t| t as &dyn TableLike);
    }
    item.as_array()?
        .get(i)?
        .as_inline_table()
        .map(|t| t as &dyn TableLike)
}

/// Where a table starts, so a missing field inside it points at it.
fn inner_span(table: &dyn TableLike) -> Option<usize> {
    table
        .iter()
        .next()
        .and_then(|(k, _)| table.key(k))
        .and_then(|k| k.span())
        .map(|s| s.start)
}

const OUT_OF_RANGE_HINT: &str = "write a smaller number: every whole number must fit in 64 bits";

fn out_of_range_message(literal: &str) -> String {
    format!(
        "`{literal}` is out of range: whole numbers go from {} to {}",
        i64::MIN,
        i64::MAX
    )
}

/// Whether `literal` is a TOML integer (decimal with `_` separators, or
/// `0x`/`0o`/`0b`) too large for the `i64` every TOML integer must fit.
pub fn out_of_range_integer(literal: &str) -> bool {
    let text = literal.trim().replace('_', "");
    let (sign, unsigned) = match text.strip_prefix(['+', '-']) {
        Some(rest) => (&text[..1], rest),
        None => ("", text.as_str()),
    };
    let (radix, digits) = match unsigned.get(..2) {
        Some("0x") => (16, &unsigned[2..]),
        Some("0o") => (8, &unsigned[2..]),
        Some("0b") => (2, &unsigned[2..]),
        _ => (10, unsigned),
    };
    let is_number = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    is_number && i64::from_str_radix(&format!("{sign}{digits}"), radix).is_err()
}

/// The path of the value of `table` that covers `offset`, as
/// serde_path_to_error writes it (`load.stages[1].clients`).
fn path_in_table(table: &dyn TableLike, offset: usize, prefix: &str) -> Option<String> {
    table.iter().find_map(|(key, item)| {
        let path = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        match item {
            toml_edit::Item::Value(v) => path_in_value(v, offset, path),
            toml_edit::Item::Table(t) => path_in_table(t, offset, &path),
            toml_edit::Item::ArrayOfTables(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, t)| path_in_table(t, offset, &format!("{path}[{i}]"))),
            toml_edit::Item::None => None,
        }
    })
}

fn path_in_value(value: &toml_edit::Value, offset: usize, path: String) -> Option<String> {
    match value {
        toml_edit::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| path_in_value(v, offset, format!("{path}[{i}]"))),
        toml_edit::Value::InlineTable(t) => t
            .iter()
            .find_map(|(k, v)| path_in_value(v, offset, format!("{path}.{k}"))),
        leaf => leaf.span().filter(|s| s.contains(&offset)).map(|_| path),
    }
}
