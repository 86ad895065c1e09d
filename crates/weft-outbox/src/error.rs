//! The one error type of `weft-outbox`.

/// Why the relay (or a sink) stopped, or why a session of it ended.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// A setting, a spec, the catalog or the database URL is wrong: restarting does not help.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The database refused or went away (connection lost, restart, a statement failed).
    #[error("PostgreSQL, {operation}: {message}")]
    Database { operation: String, message: String },
    /// Kafka failed in a way the session cannot go on from (fenced, fatal, out of time).
    #[error("Kafka, {operation}: {message}")]
    Kafka { operation: String, message: String },
    /// The schema registry is unreachable or refused a schema.
    #[error("schema registry: {0}")]
    Registry(String),
}

impl OutboxError {
    /// A statement the database cannot run at all (a table or column missing: SQLSTATE class
    /// 42) is a setting, not bad luck.
    pub(crate) fn db(operation: &str, e: tokio_postgres::Error) -> Self {
        if e.as_db_error()
            .is_some_and(|db| db.code().code().starts_with("42"))
        {
            return OutboxError::Config(format!(
                "PostgreSQL, {operation}: {} (has `weft outbox migrate` run on this database?)",
                crate::db::describe(&e)
            ));
        }
        OutboxError::Database {
            operation: operation.to_string(),
            message: crate::db::describe(&e),
        }
    }

    pub(crate) fn kafka(operation: &str, e: impl std::fmt::Display) -> Self {
        OutboxError::Kafka {
            operation: operation.to_string(),
            message: e.to_string(),
        }
    }

    /// Whether a new session (reconnect, new producer, reconcile) may get past it.
    pub fn is_transient(&self) -> bool {
        !matches!(self, OutboxError::Config(_))
    }

    /// The process's exit code when it stops with this error: 1 configuration, 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            OutboxError::Config(_) => 1,
            _ => 2,
        }
    }
}

pub type Result<T> = std::result::Result<T, OutboxError>;
