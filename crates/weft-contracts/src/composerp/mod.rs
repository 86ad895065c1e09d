//! Seed 002, Composerp: inventory ledger, replenishment, purchase orders, forecasts and the POS /
//! WMS integration events. The seed's aggregate envelope maps onto [`crate::EventMetadata`]
//! (`eventType` -> `event_type` as spelled, `version` `1.0`, `tenantId`, `metadata.source` ->
//! `producer`, `metadata.userId` -> `user_id`, `metadata.correlationId` -> `correlation_id`);
//! `aggregateId` becomes a payload field named after the aggregate (`position_id`,
//! `purchase_order_id`, ...), `aggregateType` is implied by the schema. Quantities are fractional
//! in the seed (`100.0`), so they are [`crate::Decimal4`].
//!
//! The types below are generated from `avro/composerp/` and `topics/composerp/` by the crate's build
//! script (`build/`): edit the schema, not Rust.

/// The seed's `version` for every Composerp event.
pub const EVENT_VERSION: &str = "1.0";

include!(concat!(env!("OUT_DIR"), "/composerp.rs"));
