//! Seed 000, Cypher ERP: cart, quote, order, invoice, credit, product, stock, price, promotion and
//! category events. Envelope fields of the seed map onto [`crate::EventMetadata`]; `event_version`
//! is the seed's `v1`.
//!
//! The types below are generated from `avro/cypher/` and `topics/cypher/` by the crate's build
//! script (`build/`): edit the schema, not Rust.

/// The seed's `event_version` for every Cypher event.
pub const EVENT_VERSION: &str = "v1";

include!(concat!(env!("OUT_DIR"), "/cypher.rs"));
