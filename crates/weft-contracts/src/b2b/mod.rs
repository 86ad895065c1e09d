//! Seed 003, B2B e-commerce MVP: landing CMS, product, inventory reservation, cart, order and
//! e-mail events. The seed's `BaseEvent` maps onto [`crate::EventMetadata`] (`eventVersion` `1.0`,
//! `metadata.source` -> `producer`, `metadata.environment` -> `environment`); `aggregateId`
//! becomes a payload field named after the aggregate (`order_id`, `cart_id`, `product_id`,
//! `content_id`), `aggregateType` is implied by the schema (the e-mail events keep both, since
//! their aggregate varies). Routing keys map onto topics: `order.cart.item-added` ->
//! `b2b.cart.item-added.v1`, `landing-cms.content-updated` -> `b2b.landing-cms.content-updated.v1`.
//!
//! The types below are generated from `avro/b2b/` and `topics/b2b/` by the crate's build
//! script (`build/`): edit the schema, not Rust.

/// The seed's `eventVersion` for every B2B event.
pub const EVENT_VERSION: &str = "1.0";

include!(concat!(env!("OUT_DIR"), "/b2b.rs"));
