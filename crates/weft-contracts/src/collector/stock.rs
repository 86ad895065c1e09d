//! `stock.low`.

use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::Example;

/// Stock fell below the reorder level (Avro `collector.stock.StockLow`, seed 001 schema 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockLow {
    /// Product (UUID); the Kafka key.
    pub product_id: String,
    /// Product name.
    pub product_name: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Warehouse (UUID).
    pub warehouse_id: String,
    /// Warehouse name.
    pub warehouse_name: String,
    /// Units on hand.
    pub current_quantity: i32,
    /// Minimum stock level.
    pub minimum_threshold: i32,
    /// Level to reorder up to.
    pub reorder_level: i32,
}

contract!(StockLow, schema: "collector.stock.StockLow", topic: "collector.stock.low.v1",
    event_type: "stock.low", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for StockLow {
    fn example() -> Self {
        StockLow {
            product_id: "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
            product_name: "Product Name".into(),
            sku: "SKU-123".into(),
            warehouse_id: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d".into(),
            warehouse_name: "Main Warehouse".into(),
            current_quantity: 5,
            minimum_threshold: 10,
            reorder_level: 20,
        }
    }
}
