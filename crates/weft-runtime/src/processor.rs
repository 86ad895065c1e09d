//! The record-level processor contract.

/// One consumed record, as the processor sees it.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a str, &'a [u8])>,
}

/// One record to produce, in the same transaction as the input's offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// The partition to write to; `None`: chosen from the key (murmur2, as Java's default).
    /// Retry, dead-letter and parking records keep their input's partition number.
    pub partition: Option<i32>,
}

/// How a processor failed, which decides what the runtime does with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The input can never be processed: dead-letter it and go on.
    #[error("poison: {0}")]
    Poison(String),
    /// The input may succeed later: send it to the group's next retry tier, or dead-letter it
    /// with class `transient` once the tiers are used up.
    #[error("transient: {0}")]
    Transient(String),
    /// The input's bytes cannot be decoded (bad magic byte, unknown schema id, corrupt Avro): it
    /// is dead-lettered unchanged, never retried.
    #[error("undecodable: {0}")]
    Undecodable(String),
    /// Nothing can be processed any more: stop the processor.
    #[error("fatal: {0}")]
    Fatal(String),
    /// Something the runtime needs besides Kafka (the schema registry) is down or refuses
    /// weft's credentials: the open transaction is aborted and the processor stops with exit 2;
    /// the input is neither retried nor dead-lettered.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ProcessError {
    /// The value of the `weft-dlq-error-class` header.
    pub fn class(&self) -> &'static str {
        match self {
            ProcessError::Poison(_) => "poison",
            ProcessError::Transient(_) => "transient",
            ProcessError::Undecodable(_) => "undecodable",
            ProcessError::Fatal(_) => "fatal",
            ProcessError::Unavailable(_) => "unavailable",
        }
    }

    /// The error's message without its class.
    pub fn message(&self) -> &str {
        match self {
            ProcessError::Poison(m)
            | ProcessError::Transient(m)
            | ProcessError::Undecodable(m)
            | ProcessError::Fatal(m)
            | ProcessError::Unavailable(m) => m,
        }
    }
}

/// A pure function from one input record to zero or more outputs. It never touches Kafka.
pub trait RecordProcessor: Send {
    /// Processes one record.
    fn process(&mut self, record: &Record<'_>) -> Result<Vec<Output>, ProcessError>;

    /// The processor's keyed stores, when it has any: the loop restores them on assignment and
    /// commits or drops their writes with each transaction (see [`crate::state`]).
    fn stores(&self) -> Option<std::sync::Arc<crate::state::Stores>> {
        None
    }
}
