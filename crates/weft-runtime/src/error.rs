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
    /// The processor said the input cannot be handled at all; the pod should stop.
    #[error("processor {processor} failed fatally on {topic}[{partition}]@{offset}: {message}")]
    ProcessorFatal {
        processor: String,
        topic: String,
        partition: i32,
        offset: i64,
        message: String,
    },
}

impl RuntimeError {
    /// The exit code of a processor binary that stopped with this error: 1 for configuration,
    /// 2 for Kafka, 3 for a processor's fatal error. A clean shutdown exits 0.
    pub fn exit_code(&self) -> u8 {
        match self {
            RuntimeError::Config(_) => 1,
            RuntimeError::Fatal { .. } => 2,
            RuntimeError::ProcessorFatal { .. } => 3,
        }
    }
}
