//! `inventory.reserved`, `inventory.released`, `inventory.restocked`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::Example;

const PRODUCT: &str = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
const VARIANT: &str = "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b";
const ORDER: &str = "5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c";

crate::avro_enum! {
    /// What holds a reservation.
    pub enum ReservedFor { Cart = "cart", Order = "order"; default Unknown = "unknown" }
}

crate::avro_enum! {
    /// Why a reservation was released.
    pub enum ReleaseReason { Timeout = "timeout", Cancellation = "cancellation", Error = "error"; default Unknown = "unknown" }
}

/// Stock was reserved (Avro `b2b.inventory.InventoryReserved`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryReserved {
    /// Product (UUID, the aggregateId); the Kafka key.
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Units.
    pub quantity: i32,
    /// Holder kind.
    pub reserved_for: ReservedFor,
    /// Holding cart or order (UUID).
    pub reference_id: String,
    /// Lapse time.
    #[serde(with = "crate::time::millis")]
    pub expires_at: DateTime<Utc>,
    /// Available before.
    pub previous_available: i32,
    /// Available after.
    pub new_available: i32,
}

contract!(InventoryReserved, schema: "b2b.inventory.InventoryReserved", topic: "b2b.inventory.reserved.v1",
    event_type: "inventory.reserved", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for InventoryReserved {
    fn example() -> Self {
        InventoryReserved {
            product_id: PRODUCT.into(),
            variant_id: Some(VARIANT.into()),
            sku: "PROD-001-L-BLUE".into(),
            quantity: 5,
            reserved_for: ReservedFor::Order,
            reference_id: ORDER.into(),
            expires_at: ts("2025-11-18T10:30:00Z"),
            previous_available: 100,
            new_available: 95,
        }
    }
}

/// A reservation was released (Avro `b2b.inventory.InventoryReleased`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryReleased {
    /// Product (UUID, the aggregateId); the Kafka key.
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Units.
    pub quantity: i32,
    /// Why.
    pub reason: ReleaseReason,
    /// The cart or order that held it (UUID).
    pub reference_id: String,
    /// Available before.
    pub previous_available: i32,
    /// Available after.
    pub new_available: i32,
}

contract!(InventoryReleased, schema: "b2b.inventory.InventoryReleased", topic: "b2b.inventory.released.v1",
    event_type: "inventory.released", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for InventoryReleased {
    fn example() -> Self {
        InventoryReleased {
            product_id: PRODUCT.into(),
            variant_id: Some(VARIANT.into()),
            sku: "PROD-001-L-BLUE".into(),
            quantity: 5,
            reason: ReleaseReason::Cancellation,
            reference_id: ORDER.into(),
            previous_available: 95,
            new_available: 100,
        }
    }
}

/// Stock was replenished (Avro `b2b.inventory.InventoryRestocked`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryRestocked {
    /// Product (UUID, the aggregateId); the Kafka key.
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Units added.
    pub quantity: i32,
    /// Available before.
    pub previous_available: i32,
    /// Available after.
    pub new_available: i32,
}

contract!(InventoryRestocked, schema: "b2b.inventory.InventoryRestocked", topic: "b2b.inventory.restocked.v1",
    event_type: "inventory.restocked", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for InventoryRestocked {
    fn example() -> Self {
        InventoryRestocked {
            product_id: PRODUCT.into(),
            variant_id: Some(VARIANT.into()),
            sku: "PROD-001-L-BLUE".into(),
            quantity: 50,
            previous_available: 10,
            new_available: 60,
        }
    }
}
