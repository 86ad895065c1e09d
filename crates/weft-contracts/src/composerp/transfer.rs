//! `TRANSFER_INITIATED` (payload designed from the seed's context: the seed names the event
//! without a payload).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

/// A stock transfer started (Avro `composerp.transfer.TransferInitiated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferInitiated {
    /// The transfer (UUID).
    pub transfer_id: String,
    /// Item (UUID); the Kafka key.
    pub item_id: String,
    /// Source location (UUID).
    pub from_location_id: String,
    /// Destination location (UUID).
    pub to_location_id: String,
    /// Quantity.
    pub quantity: Decimal4,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub timestamp: DateTime<Utc>,
}

contract!(TransferInitiated, schema: "composerp.transfer.TransferInitiated", topic: "composerp.transfer.initiated.v1",
    event_type: "TRANSFER_INITIATED", version: EVENT_VERSION, priority: Normal, key: item_id);

impl Example for TransferInitiated {
    fn example() -> Self {
        TransferInitiated {
            transfer_id: "c2d3e4f5-a6b7-4c8d-99e0-f1a2b3c4d5e6".into(),
            item_id: "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b".into(),
            from_location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            to_location_id: "3a4f5e6d-7c8b-49aa-8b9c-7d6e5f4a3b2c".into(),
            quantity: dec("12.5"),
            timestamp: ts("2026-02-09T14:00:00Z"),
        }
    }
}
