//! `order.created`, `order.confirmed`.

use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::{dec, Decimal4, Example};

/// One ordered line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLineItem {
    /// Catalog product (UUID).
    pub product_id: String,
    /// Stock keeping unit, when known.
    pub sku: Option<String>,
    /// Line description.
    pub description: String,
    /// Ordered units.
    pub quantity: i32,
    /// Price per unit.
    pub unit_price: Decimal4,
    /// Warehouse to reserve from (UUID), when chosen.
    pub warehouse_id: Option<String>,
}

/// An order was created, PENDING (Avro `collector.order.OrderCreated`, seed 001 schema 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order (UUID); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Customer (UUID).
    pub customer_id: String,
    /// Offer it came from (UUID).
    pub offer_id: Option<String>,
    /// Ordered lines.
    pub line_items: Vec<OrderLineItem>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Order total.
    pub grand_total: Decimal4,
}

contract!(OrderCreated, schema: "collector.order.OrderCreated", topic: "collector.order.created.v1",
    event_type: "order.created", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderCreated {
    fn example() -> Self {
        OrderCreated {
            order_id: "c0ffee00-1234-4a5b-8c9d-0e1f2a3b4c5d".into(),
            order_number: "ORD-2024-001".into(),
            customer_id: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
            offer_id: Some("3f1c2b9e-8d4a-4c7e-9b2f-1a6d5e4c3b21".into()),
            line_items: vec![OrderLineItem {
                product_id: "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
                sku: Some("SKU-123".into()),
                description: "Product Name".into(),
                quantity: 5,
                unit_price: dec("300.00"),
                warehouse_id: Some("7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d".into()),
            }],
            currency: "USD".into(),
            grand_total: dec("1500.00"),
        }
    }
}

/// One confirmed line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmedLineItem {
    /// Catalog product (UUID).
    pub product_id: String,
    /// Line description.
    pub description: String,
    /// Units to deliver.
    pub quantity: i32,
    /// Unit of measure.
    pub unit: String,
}

/// An order was confirmed (Avro `collector.order.OrderConfirmed`, seed 001 schema 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    /// The order (UUID); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Customer (UUID).
    pub customer_id: String,
    /// Delivery address (UUID).
    pub shipping_address_id: String,
    /// Lines to deliver.
    pub line_items: Vec<ConfirmedLineItem>,
}

contract!(OrderConfirmed, schema: "collector.order.OrderConfirmed", topic: "collector.order.confirmed.v1",
    event_type: "order.confirmed", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderConfirmed {
    fn example() -> Self {
        OrderConfirmed {
            order_id: "c0ffee00-1234-4a5b-8c9d-0e1f2a3b4c5d".into(),
            order_number: "ORD-2024-001".into(),
            customer_id: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
            shipping_address_id: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d".into(),
            line_items: vec![ConfirmedLineItem {
                product_id: "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
                description: "Product Name".into(),
                quantity: 5,
                unit: "pcs".into(),
            }],
        }
    }
}
