//! The one error type of `weft-console`, with the exit code each failure maps to.

/// Exit code: the broker or the registry failed or could not be reached.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: the input (flags, JSON, datetimes) is not usable.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a value does not fit its schema; nothing was produced.
pub const EXIT_INVALID: u8 = 4;
/// Exit code: the operation was refused (e.g. resetting offsets of a group with active members).
pub const EXIT_REFUSED: u8 = 5;
/// Exit code: nothing matched (e.g. `weft trace` found no event with that id).
pub const EXIT_NOT_FOUND: u8 = 6;

/// Everything that can go wrong in the console, in sentences a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The cluster answered with an error or could not be reached.
    #[error("Kafka {operation} failed: {message}")]
    Kafka { operation: String, message: String },
    /// The schema registry answered with an error or could not be reached.
    #[error("schema registry at {url}: {message}")]
    Registry { url: String, message: String },
    /// A flag or an input value is not usable.
    #[error("{0}")]
    Input(String),
    /// A value does not fit the topic's schema; nothing was produced.
    #[error("record {record} does not fit {subject}: {mismatch}")]
    Invalid {
        record: usize,
        subject: String,
        mismatch: crate::avrojson::Mismatch,
    },
    /// The operation is unsafe now and was refused.
    #[error("refused: {0}")]
    Refused(String),
    /// Nothing matched the request.
    #[error("not found: {0}")]
    NotFound(String),
    /// A spec or core operation failed.
    #[error(transparent)]
    Core(#[from] weft_core::CoreError),
}

impl ConsoleError {
    pub(crate) fn kafka(operation: &str, err: impl std::fmt::Display) -> Self {
        ConsoleError::Kafka {
            operation: operation.to_string(),
            message: err.to_string(),
        }
    }

    /// The process exit code for this failure (documented in README.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            ConsoleError::Input(_) => EXIT_USAGE,
            ConsoleError::Invalid { .. } => EXIT_INVALID,
            ConsoleError::Refused(_) => EXIT_REFUSED,
            ConsoleError::NotFound(_) => EXIT_NOT_FOUND,
            _ => EXIT_ERROR,
        }
    }
}

/// Result with [`ConsoleError`].
pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;
