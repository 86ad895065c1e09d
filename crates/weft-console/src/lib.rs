//! weft's console: debugging tools that know weft's topics, schemas and envelope.
//!
//! - [`consume`]: read topics or a pattern from a start point, decode Avro through the registry
//!   into JSON, filter by key, event type, correlation id, tenant id or any field;
//! - [`produce`]: JSON in, envelope filled, validated against the topic's schema (naming the field
//!   that does not fit), Avro out to Kafka;
//! - [`dlq`]: dead-letter topics: counts per error class and processor, records with their error
//!   headers, and replay of a selection to the source topic or the first retry tier;
//! - [`lag`]: consumer lag per group and partition, and safe offset resets;
//! - [`trace`]: the causation tree of one business flow across topics.
//!
//! No clap here: the CLI (`weft-cli`) turns flags into the request structs of these modules.
//! Failures are one [`ConsoleError`] whose [`ConsoleError::exit_code`] the CLI returns.

pub use weft_contracts::json as avrojson;
pub mod consume;
pub mod dlq;
pub mod error;
pub mod lag;
pub mod produce;
pub mod record;
pub mod registry;
pub mod trace;

pub use error::{ConsoleError, Result};
pub use record::{Filters, Shown};
pub use registry::Registry;
