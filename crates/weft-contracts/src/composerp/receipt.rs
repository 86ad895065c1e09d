//! `RECEIPT_COMPLETED`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::{day, ts};
use crate::{dec, Decimal4, Example};

/// A WMS receipt completed (Avro `composerp.receipt.ReceiptCompleted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptCompleted {
    /// The receipt (UUID).
    pub receipt_id: String,
    /// Item (UUID); the Kafka key.
    pub item_id: String,
    /// Receiving location (UUID).
    pub location_id: String,
    /// Quantity received.
    pub quantity: Decimal4,
    /// Lot.
    pub lot_number: Option<String>,
    /// Lot expiry.
    #[serde(with = "crate::time::date_opt")]
    pub expiry_date: Option<NaiveDate>,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub timestamp: DateTime<Utc>,
}

contract!(ReceiptCompleted, schema: "composerp.receipt.ReceiptCompleted", topic: "composerp.receipt.completed.v1",
    event_type: "RECEIPT_COMPLETED", version: EVENT_VERSION, priority: Normal, key: item_id);

impl Example for ReceiptCompleted {
    fn example() -> Self {
        ReceiptCompleted {
            receipt_id: "b1c2d3e4-f5a6-4b7c-88d9-e0f1a2b3c4d5".into(),
            item_id: "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b".into(),
            location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            quantity: dec("100.0"),
            lot_number: Some("LOT-123".into()),
            expiry_date: Some(day("2026-03-09")),
            timestamp: ts("2026-02-09T12:00:00Z"),
        }
    }
}
