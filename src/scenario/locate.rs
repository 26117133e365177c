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
        ScenarioError::Invalid {
            location,
            field: String::new(),
            message: format!("not valid TOML: {}", e.message()),
            hint: "fix the syntax at that line".to_owned(),
        }
    }

    pub fn serde_error(&self, e: &serde_path_to_error::Error<toml::de::Error>) -> ScenarioError {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let message = e.inner().message().lines().next().unwrap_or("").to_owned();
        let hint = if message.starts_with("unknown field") {
            "remove it or correct its spelling (see scenarios/*.toml for the format)"
        } else if message.starts_with("missing field") {
            "add it (see scenarios/article.toml for a complete scenario)"
        } else {
            "write a value of the expected type"
        };
        self.field_error(FieldError::new(&field, message, hint))
    }

    pub fn field_error(&self, e: FieldError) -> ScenarioError {
        ScenarioError::Invalid {
            location: self.location(&e.field),
            field: e.field,
            message: e.message,
            hint: e.hint,
        }
    }

    fn location(&self, field: &str) -> String {
        let overridden = self
            .overrides
            .iter()
            .rev()
            .find(|o| field == o.path || field.starts_with(&format!("{}.", o.path)));
        if let Some(o) = overridden {
            return o.arg.clone();
        }
        match self.offset_of(field) {
            Some(offset) => format!("{}:{}", self.origin, self.line_at(offset)),
            None => self.origin.to_owned(),
        }
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
