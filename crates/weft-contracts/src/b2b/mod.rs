//! Seed 003, B2B e-commerce MVP: landing CMS, product, inventory reservation, cart, order and
//! e-mail events. The seed's `BaseEvent` maps onto [`crate::EventMetadata`] (`eventVersion` `1.0`,
//! `metadata.source` -> `producer`, `metadata.environment` -> `environment`); `aggregateId`
//! becomes a payload field named after the aggregate (`order_id`, `cart_id`, `product_id`,
//! `content_id`), `aggregateType` is implied by the schema (the e-mail events keep both, since
//! their aggregate varies). Routing keys map onto topics: `order.cart.item-added` ->
//! `b2b.cart.item-added.v1`, `landing-cms.content-updated` -> `b2b.landing-cms.content-updated.v1`.

use serde::{Deserialize, Serialize};

use crate::{dec, Decimal4};

pub mod cart;
pub mod email;
pub mod inventory;
pub mod landing_cms;
pub mod order;
pub mod product;

/// The seed's `eventVersion` for every B2B event.
pub const EVENT_VERSION: &str = "1.0";

/// An amount with its currency, the seed's `{amount, currency}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Money {
    /// The amount.
    pub amount: Decimal4,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// US dollars, for examples: `usd("99.99")`.
pub(crate) fn usd(amount: &str) -> Money {
    Money {
        amount: dec(amount),
        currency: "USD".into(),
    }
}
