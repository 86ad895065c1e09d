//! Seed 004, First Viscount: product catalog, inventory and order lifecycle events. The seed's
//! envelope (`event_id`, `correlation_id`, `timestamp`, `source_service`, `event_version` /
//! `version`, `event_type`, `data`) maps onto [`crate::EventMetadata`]; its planned topic names
//! `{service}.{domain}.{action}.{version}` become `viscount.{domain}.{action}.v{major}`. Ids are
//! prefixed strings (`prod_123456789`), not UUIDs. The seed's prices are decimal strings without a
//! currency on product events; `currency` is optional there.
//!
//! The types below are generated from `avro/viscount/` and `topics/viscount/` by the crate's build
//! script (`build/`): edit the schema, not Rust.

/// The seed's version for every First Viscount event.
pub const EVENT_VERSION: &str = "1.0";

include!(concat!(env!("OUT_DIR"), "/viscount.rs"));
