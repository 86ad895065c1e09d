//! The one error type of `weft-contracts`.

use std::path::PathBuf;

/// Everything that can go wrong in `weft-contracts`, in sentences a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ContractsError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON or YAML.
    #[error("{path}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A topic or group spec under `topics/` is invalid (weft-core's parser says how).
    #[error(transparent)]
    Spec(#[from] weft_core::CoreError),
    /// Avro rejected a schema, a value or a datum.
    #[error("Avro: {context}: {source}")]
    Avro {
        /// What weft was doing.
        context: String,
        /// Avro's own error.
        #[source]
        source: Box<apache_avro::Error>,
    },
    /// Two files define the same named type.
    #[error("{name} is defined twice: in {first} and in {second}")]
    Duplicate {
        /// The full Avro name.
        name: String,
        /// Where it was defined first.
        first: PathBuf,
        /// Where it was defined again.
        second: PathBuf,
    },
    /// A schema references a named type no file defines.
    #[error("{path}: references {name}, which no .avsc file under the catalog root defines")]
    UnresolvedReference {
        /// The referencing file.
        path: PathBuf,
        /// The missing full name.
        name: String,
    },
    /// Named types reference each other in a cycle across files.
    #[error("named types reference each other in a cycle: {0}")]
    Cycle(String),
    /// A full name is not in the catalog.
    #[error("{0} is not in the schema catalog")]
    UnknownSchema(String),
    /// A decimal value does not fit the Avro decimal(18,4) contract.
    #[error("decimal {value}: {problem}")]
    Decimal {
        /// The offending text or value.
        value: String,
        /// Why it does not fit.
        problem: String,
    },
    /// An Avro datum does not match the schema it is read with.
    #[error("{0}")]
    Datum(String),
    /// Running git failed.
    #[error("git {args}: {message}")]
    Git {
        /// The git arguments.
        args: String,
        /// What went wrong.
        message: String,
    },
}

impl ContractsError {
    /// Wrap an Avro error with what weft was doing when it happened.
    pub fn avro(context: impl Into<String>, source: apache_avro::Error) -> Self {
        ContractsError::Avro {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ContractsError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`ContractsError`].
pub type Result<T, E = ContractsError> = std::result::Result<T, E>;
