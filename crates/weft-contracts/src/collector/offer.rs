//! `offer.approved`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

/// One offered line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferLineItem {
    /// Catalog product (UUID); absent for free-text lines.
    pub product_id: Option<String>,
    /// Line description.
    pub description: String,
    /// Offered quantity (decimal text in the seed).
    pub quantity: Decimal4,
    /// Price per unit.
    pub unit_price: Decimal4,
    /// Line discount in percent.
    pub discount_percent: Option<Decimal4>,
    /// Tax rate in percent.
    pub tax_percent: Option<Decimal4>,
}

/// A customer approved an offer (Avro `collector.offer.OfferApproved`, seed 001 schema 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferApproved {
    /// The offer (UUID); the Kafka key.
    pub offer_id: String,
    /// Human-readable offer number.
    pub offer_number: String,
    /// Customer (UUID).
    pub customer_id: String,
    /// Expiry.
    #[serde(with = "crate::time::millis")]
    pub valid_until: DateTime<Utc>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Offer total.
    pub grand_total: Decimal4,
    /// Offered lines.
    pub line_items: Vec<OfferLineItem>,
}

contract!(OfferApproved, schema: "collector.offer.OfferApproved", topic: "collector.offer.approved.v1",
    event_type: "offer.approved", version: EVENT_VERSION, priority: Normal, key: offer_id);

impl Example for OfferApproved {
    fn example() -> Self {
        OfferApproved {
            offer_id: "3f1c2b9e-8d4a-4c7e-9b2f-1a6d5e4c3b21".into(),
            offer_number: "OFF-2024-001".into(),
            customer_id: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
            valid_until: ts("2024-02-15T10:30:00.000Z"),
            currency: "USD".into(),
            grand_total: dec("1500.00"),
            line_items: vec![OfferLineItem {
                product_id: Some("5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into()),
                description: "Product Name".into(),
                quantity: dec("5"),
                unit_price: dec("300.00"),
                discount_percent: Some(dec("10")),
                tax_percent: Some(dec("20")),
            }],
        }
    }
}
