//! `stock.changed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{StockStatus, EVENT_VERSION};
use crate::macros::contract;
use crate::time::ts;
use crate::Example;

crate::avro_enum! {
    /// Why stock changed.
    pub enum StockChangeType {
        OrderReserved = "order_reserved", OrderReleased = "order_released", Adjusted = "adjusted",
        Received = "received";
        default Unknown = "unknown"
    }
}

/// Stock of a product changed (Avro `cypher.stock.StockChanged`, seed 000 appendix A.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockChanged {
    /// Catalog product id; the Kafka key.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub changed_at: DateTime<Utc>,
    /// Who; `system` for automatic changes.
    pub changed_by: String,
    /// Why.
    pub change_type: StockChangeType,
    /// Signed change in units.
    pub quantity_change: i32,
    /// Units before.
    pub previous_quantity: i32,
    /// Units after.
    pub new_quantity: i32,
    /// Units available to sell after.
    pub new_available: i32,
    /// Stock status after.
    pub stock_status: StockStatus,
    /// Low-stock threshold, when the product has one.
    pub threshold_low_stock: Option<i32>,
}

contract!(StockChanged, schema: "cypher.stock.StockChanged", topic: "cypher.stock.changed.v1",
    event_type: "stock.changed", version: EVENT_VERSION, priority: Critical, key: product_id);

impl Example for StockChanged {
    fn example() -> Self {
        StockChanged {
            product_id: "PRD-00123".into(),
            sku: "PRD-001-A".into(),
            changed_at: ts("2026-02-13T12:00:00.000Z"),
            changed_by: "system".into(),
            change_type: StockChangeType::OrderReserved,
            quantity_change: -10,
            previous_quantity: 50,
            new_quantity: 40,
            new_available: 40,
            stock_status: StockStatus::InStock,
            threshold_low_stock: Some(15),
        }
    }
}
