//! `INVENTORY_UPDATED`, `INVENTORY_LOW_STOCK`.

use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::{dec, Decimal4, Example};

crate::avro_enum! {
    /// Kind of inventory ledger transaction.
    pub enum TransactionType {
        Sale = "SALE", Receipt = "RECEIPT", Transfer = "TRANSFER", Adjustment = "ADJUSTMENT";
        default Unknown = "UNKNOWN"
    }
}

/// An inventory position changed (Avro `composerp.inventory.InventoryUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryUpdated {
    /// The position (UUID, the aggregateId).
    pub position_id: String,
    /// Item (UUID); the Kafka key.
    pub item_id: String,
    /// Location (UUID).
    pub location_id: String,
    /// On hand after the transaction.
    pub on_hand: Decimal4,
    /// Available to promise after the transaction.
    pub available: Decimal4,
    /// Ledger transaction (UUID).
    pub transaction_id: String,
    /// Kind of transaction.
    pub transaction_type: TransactionType,
}

contract!(InventoryUpdated, schema: "composerp.inventory.InventoryUpdated", topic: "composerp.inventory.updated.v1",
    event_type: "INVENTORY_UPDATED", version: EVENT_VERSION, priority: Normal, key: item_id);

impl Example for InventoryUpdated {
    fn example() -> Self {
        InventoryUpdated {
            position_id: "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a".into(),
            item_id: "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b".into(),
            location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            on_hand: dec("100.0"),
            available: dec("85.0"),
            transaction_id: "3a4b5c6d-7e8f-4091-a2b3-c4d5e6f7a8b9".into(),
            transaction_type: TransactionType::Sale,
        }
    }
}

/// Available stock fell below the threshold (Avro `composerp.inventory.InventoryLowStock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryLowStock {
    /// The position (UUID, the aggregateId).
    pub position_id: String,
    /// Item (UUID); the Kafka key.
    pub item_id: String,
    /// Location (UUID).
    pub location_id: String,
    /// Available to promise.
    pub available: Decimal4,
    /// Low-stock threshold.
    pub threshold: Decimal4,
}

contract!(InventoryLowStock, schema: "composerp.inventory.InventoryLowStock", topic: "composerp.inventory.low-stock.v1",
    event_type: "INVENTORY_LOW_STOCK", version: EVENT_VERSION, priority: Normal, key: item_id);

impl Example for InventoryLowStock {
    fn example() -> Self {
        InventoryLowStock {
            position_id: "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a".into(),
            item_id: "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b".into(),
            location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            available: dec("5.0"),
            threshold: dec("10.0"),
        }
    }
}
