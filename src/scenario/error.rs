//! Scenario errors. Each says where the bad value came from (file and line,
//! or the `--set` flag), which field, what is wrong and what to do.

/// Why a scenario could not be loaded. All of them are bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {source}\n  what to do: check the path")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {}{message}\n  what to do: {hint}", field_prefix(.field))]
    Invalid {
        /// `file:line`, `file`, or `--set PATH=VALUE`.
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
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>, hint: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}
