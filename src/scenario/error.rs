//! Scenario errors. Each says where the bad value came from (file and line,
//! or the `--set` flag), which field, what is wrong and what to do.

/// Why a scenario could not be loaded. All of them are bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {source}\n  what to do: {}", .source.hint())]
    Read {
        path: String,
        #[source]
        source: crate::util::bounded_read::ReadError,
    },
    #[error("{location}: {}{message}\n  what to do: {hint}", field_prefix(.field))]
    Invalid {
        /// `file:line`, `file`, or the `--set PATH=VALUE` (several, comma
        /// separated, when together they caused it).
        location: String,
        /// Dotted path of the field, empty when the problem is not one field's.
        field: String,
        message: String,
        hint: String,
    },
    #[error(
        "{arg}: {message}\n  what to do: write --set PATH=VALUE, e.g. --set load.processes=32"
    )]
    BadOverride { arg: String, message: String },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("field `{field}`: ")
    }
}

/// A problem with one field found by validation, before it is located.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub hint: String,
    /// Other fields whose values make this one wrong (`load.processes` for
    /// a fault's worker index): when one of them came from `--set` and the
    /// field did not, the error is blamed on that `--set`.
    pub depends_on: Vec<String>,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>, hint: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
            hint: hint.into(),
            depends_on: Vec::new(),
        }
    }

    /// The same error, also caused by the values of `fields`.
    /// A value that is not among the allowed ones.
    pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> FieldError {
        FieldError::new(
            field,
            format!("unknown value `{value}`"),
            format!("use one of: {}", allowed.join(", ")),
        )
    }

    pub fn depending_on(mut self, fields: &[&str]) -> FieldError {
        self.depends_on.extend(fields.iter().map(|&f| f.to_owned()));
        self
    }
}
