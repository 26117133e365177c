//! The harness's error type: one variant per exit code a caller can act on.

use crate::scenario::ScenarioError;

/// Exit codes: 0 audit passed, 1 audit failed (returned as a verdict, not an
/// error), 2 bad input, 4 environment, 130 interrupted before a result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Bad flags or arguments.
    #[error("{0}")]
    Usage(String),
    /// Redis unreachable, redis-server missing, a worker died, a report
    /// could not be written.
    #[error("{0:#}")]
    Environment(anyhow::Error),
    #[error("interrupted before the run finished; nothing was written")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Scenario(_) | Error::Usage(_) => 2,
            Error::Environment(_) => 4,
            Error::Interrupted => 130,
        }
    }
}

impl From<anyhow::Error> for Error {
    /// Keeps an [`Error`] that travelled through `anyhow` glue as itself.
    fn from(e: anyhow::Error) -> Error {
        match e.downcast::<Error>() {
            Ok(inner) => inner,
            Err(e) => Error::Environment(e),
        }
    }
}

/// The root cause of a failure (a Redis error, an I/O error), in words.
pub fn root_cause(e: &anyhow::Error) -> String {
    e.root_cause().to_string()
}
