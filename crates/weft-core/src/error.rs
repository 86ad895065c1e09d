//! The one error type of `weft-core`.

use std::path::PathBuf;

/// Everything that can go wrong in `weft-core`, in sentences a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A spec file could not be read from disk.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A spec file is not valid: names the file, the field and the problem.
    #[error("{path}: field `{field}`: {problem}")]
    InvalidSpec {
        path: PathBuf,
        field: String,
        problem: String,
    },
    /// Two spec files declare the same topic or group.
    #[error("{name} is declared twice: in {first} and in {second}")]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A Kafka client setting is malformed.
    #[error("invalid Kafka setting: {0}")]
    InvalidSetting(String),
    /// The cluster answered with an error.
    #[error("Kafka {operation} failed: {message}")]
    Kafka { operation: String, message: String },
    /// The cluster does not support an operation weft needs.
    #[error("the cluster does not support {operation}: {message}")]
    Unsupported { operation: String, message: String },
    /// Applying specs would do something only an explicit flag allows, or never.
    #[error("refused: {0}")]
    Refused(String),
    /// A record is not in the Confluent wire format.
    #[error("not a Confluent-framed record: {0}")]
    BadFrame(String),
}

impl CoreError {
    pub(crate) fn kafka(operation: &str, err: impl std::fmt::Display) -> Self {
        CoreError::Kafka {
            operation: operation.to_string(),
            message: err.to_string(),
        }
    }
}
