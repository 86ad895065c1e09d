//! Seed 001, Collector: the order-to-cash chain (offer, order, delivery, invoice), stock and HR
//! events. The seed's envelope (`type`, `timestamp`, `tenantId`, `source`, `correlationId`,
//! `data`) maps onto [`crate::EventMetadata`]; the seed has no version, weft uses `1.0`. Every
//! id the seed marks `uuid` has Avro logical type `uuid`; the seed's decimal strings
//! (`"1500.00"`) are [`crate::Decimal4`].
//!
//! The types below are generated from `avro/collector/` and `topics/collector/` by the crate's build
//! script (`build/`): edit the schema, not Rust.

pub const EVENT_VERSION: &str = "1.0";

include!(concat!(env!("OUT_DIR"), "/collector.rs"));
