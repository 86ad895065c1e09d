//! `InventoryReserved`, `InventoryReleased`, `InventoryAdjusted`, `LowStockAlert`,
//! `InventoryUpdated`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::Example;

/// Stock was reserved for an order (Avro `viscount.inventory.InventoryReserved`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryReserved {
    /// Reservation.
    pub reservation_id: String,
    /// Product; the Kafka key.
    pub product_id: String,
    /// Units.
    pub quantity: i32,
    /// Location.
    pub location_id: String,
    /// Order.
    pub order_id: String,
    /// Lapse time.
    #[serde(with = "crate::time::millis")]
    pub expires_at: DateTime<Utc>,
}

contract!(InventoryReserved, schema: "viscount.inventory.InventoryReserved", topic: "viscount.inventory.reserved.v1",
    event_type: "InventoryReserved", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for InventoryReserved {
    fn example() -> Self {
        InventoryReserved {
            reservation_id: "res_123456789".into(),
            product_id: "prod_123456789".into(),
            quantity: 2,
            location_id: "warehouse_main".into(),
            order_id: "order_987654321".into(),
            expires_at: ts("2024-01-15T11:15:00Z"),
        }
    }
}

crate::avro_enum! {
    /// Why a reservation was released.
    pub enum ReleaseReason {
        OrderCancelled = "order_cancelled", ReservationExpired = "reservation_expired";
        default Unknown = "unknown"
    }
}

/// A reservation was released (Avro `viscount.inventory.InventoryReleased`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryReleased {
    /// Reservation.
    pub reservation_id: String,
    /// Product; the Kafka key.
    pub product_id: String,
    /// Units.
    pub quantity: i32,
    /// Location.
    pub location_id: String,
    /// Why.
    pub reason: ReleaseReason,
}

contract!(InventoryReleased, schema: "viscount.inventory.InventoryReleased", topic: "viscount.inventory.released.v1",
    event_type: "InventoryReleased", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for InventoryReleased {
    fn example() -> Self {
        InventoryReleased {
            reservation_id: "res_123456789".into(),
            product_id: "prod_123456789".into(),
            quantity: 2,
            location_id: "warehouse_main".into(),
            reason: ReleaseReason::OrderCancelled,
        }
    }
}

/// Stock was adjusted by hand (Avro `viscount.inventory.InventoryAdjusted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryAdjusted {
    /// Product; the Kafka key.
    pub product_id: String,
    /// Location.
    pub location_id: String,
    /// Units before.
    pub old_quantity: i32,
    /// Units after.
    pub new_quantity: i32,
    /// Kind, e.g. `damage`.
    pub adjustment_type: String,
    /// Explanation.
    pub reason: String,
    /// Document number.
    pub reference_number: String,
}

contract!(InventoryAdjusted, schema: "viscount.inventory.InventoryAdjusted", topic: "viscount.inventory.adjusted.v1",
    event_type: "InventoryAdjusted", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for InventoryAdjusted {
    fn example() -> Self {
        InventoryAdjusted {
            product_id: "prod_123456789".into(),
            location_id: "warehouse_main".into(),
            old_quantity: 100,
            new_quantity: 95,
            adjustment_type: "damage".into(),
            reason: "5 units damaged during inspection".into(),
            reference_number: "ADJ-2024-001".into(),
        }
    }
}

crate::avro_enum! {
    /// Severity of a stock alert.
    pub enum AlertLevel { Warning = "warning", Critical = "critical"; default Unknown = "unknown" }
}

/// Stock crossed below its threshold (Avro `viscount.inventory.LowStockAlert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowStockAlert {
    /// Product; the Kafka key.
    pub product_id: String,
    /// Location.
    pub location_id: String,
    /// Units now.
    pub current_quantity: i32,
    /// Threshold crossed.
    pub threshold: i32,
    /// Severity.
    pub alert_level: AlertLevel,
}

contract!(LowStockAlert, schema: "viscount.inventory.LowStockAlert", topic: "viscount.inventory.low-stock-alert.v1",
    event_type: "LowStockAlert", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for LowStockAlert {
    fn example() -> Self {
        LowStockAlert {
            product_id: "prod_123456789".into(),
            location_id: "warehouse_main".into(),
            current_quantity: 8,
            threshold: 10,
            alert_level: AlertLevel::Warning,
        }
    }
}

/// A general inventory update, e.g. a restock (Avro `viscount.inventory.InventoryUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryUpdated {
    /// Product; the Kafka key.
    pub product_id: String,
    /// Location.
    pub location_id: String,
    /// Units on hand.
    pub quantity: i32,
    /// Units reserved.
    pub reserved_quantity: i32,
    /// Units available.
    pub available_quantity: i32,
    /// Kind, e.g. `restock`.
    pub update_type: String,
    /// Cause, e.g. `purchase_order_received`.
    pub source_event: Option<String>,
}

contract!(InventoryUpdated, schema: "viscount.inventory.InventoryUpdated", topic: "viscount.inventory.updated.v1",
    event_type: "InventoryUpdated", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for InventoryUpdated {
    fn example() -> Self {
        InventoryUpdated {
            product_id: "prod_123456789".into(),
            location_id: "warehouse_main".into(),
            quantity: 150,
            reserved_quantity: 5,
            available_quantity: 145,
            update_type: "restock".into(),
            source_event: Some("purchase_order_received".into()),
        }
    }
}
