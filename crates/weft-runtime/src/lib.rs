//! weft's processor runtime.
//!
//! What a processor author writes is in [`typed`]: pure functions from one decoded input event
//! ([`In`]) to zero or more output events ([`Out`]), registered as a [`Processor`]. They never
//! touch Kafka. [`harness`] runs them without a broker ([`TestDriver`], [`compliance`]).
//!
//! The runtime owns every I/O. The exactly-once consume-transform-produce loop lives in one file,
//! [`txn_loop`], which reads top to bottom; [`failure`] decides where a failed input goes (retry
//! tier or dead-letter topic, in the same transaction); [`schemas`] fetches writer schemas and
//! output schema ids from the registry; [`trace`] carries W3C `traceparent`; [`metrics`] serves
//! health and Prometheus metrics; [`run`] starts processors as `weft run` does.

pub mod dlq_watch;
pub mod error;
pub mod failure;
pub mod fetch_guard;
pub mod harness;
pub mod metrics;
pub mod migration;
pub mod parking;
pub mod processor;
pub mod retry_queues;
pub mod run;
pub mod schemas;
pub mod settled;
pub mod sink;
pub mod sink_loop;
pub mod state;
pub mod trace;
pub mod txn_loop;
pub mod typed;
pub mod watchdog;

pub use error::RuntimeError;
pub use failure::FailurePolicy;
pub use harness::{compliance, TestDriver};
pub use metrics::Metrics;
pub use processor::{Output, ProcessError, Record, RecordProcessor};
pub use run::{run_processors, RunSettings};
pub use sink::{
    BufferedSinks, FileSinks, MemorySinks, PositionMove, SinkDoc, SinkLine, SinkStore,
    SinkStoreError, SinkWriter,
};
pub use state::{State, StateValue, Store};
pub use txn_loop::{run_loop, BreakerSettings, LoopSettings, LoopStats};
pub use typed::{In, Out, Processor, TypedProcessor};
