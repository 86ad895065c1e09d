//! `SALE_COMPLETED`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

/// A POS sale completed (Avro `composerp.sale.SaleCompleted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaleCompleted {
    /// The sale (UUID).
    pub sale_id: String,
    /// Item (UUID); the Kafka key.
    pub item_id: String,
    /// Store (UUID).
    pub location_id: String,
    /// Quantity sold.
    pub quantity: Decimal4,
    /// Sale amount.
    pub amount: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
    /// When, at the till.
    #[serde(with = "crate::time::millis")]
    pub timestamp: DateTime<Utc>,
}

contract!(SaleCompleted, schema: "composerp.sale.SaleCompleted", topic: "composerp.sale.completed.v1",
    event_type: "SALE_COMPLETED", version: EVENT_VERSION, priority: Normal, key: item_id);

impl Example for SaleCompleted {
    fn example() -> Self {
        SaleCompleted {
            sale_id: "a0b1c2d3-e4f5-4a6b-97c8-d9e0f1a2b3c4".into(),
            item_id: "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b".into(),
            location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            quantity: dec("5.0"),
            amount: dec("52.50"),
            currency: Some("USD".into()),
            timestamp: ts("2026-02-09T12:00:00Z"),
        }
    }
}
