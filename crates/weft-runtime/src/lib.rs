//! weft's processor runtime.
//!
//! A processor is a pure function from one input record to zero or more output records
//! ([`processor::RecordProcessor`]); it never touches Kafka. The runtime owns every I/O: the
//! exactly-once consume-transform-produce loop lives in one file, [`txn_loop`], which reads top
//! to bottom. Failures are classified where they happen ([`processor::ProcessError`]): poison
//! records go to the group's dead-letter topic inside the same transaction that commits their
//! offset, fatal ones stop the processor with a non-zero exit.
//!
//! This is the record-level layer; the typed Avro layer (decode through the registry, envelope
//! propagation) and tiered retry topics are built on top of it (see `docs/runtime.md`).

pub mod error;
pub mod processor;
pub mod txn_loop;

pub use error::RuntimeError;
pub use processor::{Output, ProcessError, Record, RecordProcessor};
pub use txn_loop::{run_loop, LoopSettings, LoopStats};
