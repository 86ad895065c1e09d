//! The one error type of `weft-runtime`, and how it maps to an exit code.

/// Why the runtime stopped.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A setting is missing or malformed.
    #[error("invalid setting: {0}")]
    Config(String),
    /// Kafka failed in a way the loop cannot recover from (fatal, fenced, or out of retries).
    #[error("fatal Kafka error during {operation}: {message}")]
    Fatal { operation: String, message: String },
    /// A schema id or subject the registry does not know.
    #[error("schema not found: {0}")]
    SchemaNotFound(String),
    /// The schema registry is unreachable, or holds a schema other than the one this build
    /// writes.
    #[error("schema registry: {0}")]
    Registry(String),
    /// Too many dead letters in the breaker's window: a bad deploy or a bad upstream, not bad
    /// luck. The processor stops instead of dead-lettering everything.
    #[error("circuit breaker open for {processor}: {dead_letters} of the last {window} records were dead-lettered (threshold {threshold:.0}%)")]
    CircuitOpen {
        processor: String,
        dead_letters: usize,
        window: usize,
        threshold: f64,
    },
    /// The processor said the input cannot be handled at all; the pod should stop.
    #[error("processor {processor} failed fatally on {topic}[{partition}]@{offset}: {message}")]
    ProcessorFatal {
        processor: String,
        topic: String,
        partition: i32,
        offset: i64,
        message: String,
    },
    /// The processor function panicked: the open transaction was aborted and the processor
    /// stopped (a bug, not bad input: the same record would panic again).
    #[error("processor {processor} panicked on {topic}[{partition}]@{offset}: {message}")]
    ProcessorPanicked {
        processor: String,
        topic: String,
        partition: i32,
        offset: i64,
        message: String,
    },
    /// A topic migration step could not be carried out (the control topic or a topic the
    /// migration reads is unreadable, a record of the new topic lacks its stamp).
    #[error("migration: {0}")]
    Migration(String),
    /// A processor's loop ended without a result (its thread panicked outside the processor).
    #[error("the loop of {0} vanished without a result (its thread panicked)")]
    LoopVanished(String),
}

impl RuntimeError {
    /// The exit code of a processor binary that stopped with this error: 1 for configuration,
    /// 2 for Kafka or the registry, 3 for a processor's fatal error or panic, or an open circuit
    /// breaker. A clean shutdown exits 0.
    pub fn exit_code(&self) -> u8 {
        match self {
            RuntimeError::Config(_) => 1,
            RuntimeError::Fatal { .. } | RuntimeError::Registry(_) => 2,
            RuntimeError::Migration(_) => 2,
            RuntimeError::SchemaNotFound(_) => 2,
            RuntimeError::ProcessorFatal { .. }
            | RuntimeError::CircuitOpen { .. }
            | RuntimeError::ProcessorPanicked { .. }
            | RuntimeError::LoopVanished(_) => 3,
        }
    }
}
