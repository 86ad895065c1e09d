//! weft's shared ground: what every other crate agrees on.
//!
//! - [`kafka`]: client settings (bootstrap servers, SASL/TLS, raw librdkafka options) from flags or env;
//! - [`spec`]: topic specs and group specs as declared in `topics/`, with strict validation;
//! - [`migration`]: topic migrations declared in `topics/migrations/` (docs/migration.md);
//! - [`naming`]: the names derived from specs (retry tiers, dead-letter topics);
//! - [`headers`]: the Kafka header names weft writes and reads;
//! - [`wire`]: the Confluent wire-format framing (magic byte + schema id);
//! - [`provision`]: topics as code — plan, apply and check specs against a cluster.
//!
//! The conventions are written down in `docs/design.md`.

pub mod error;
pub mod headers;
pub mod kafka;
pub mod migration;
pub mod naming;
pub mod provision;
pub mod spec;
pub mod wire;

pub use error::CoreError;
