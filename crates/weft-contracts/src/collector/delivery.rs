//! `delivery.dispatched`, `delivery.confirmed`.

use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::Example;

/// One shipped line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchedItem {
    /// Catalog product (UUID).
    pub product_id: String,
    /// Units shipped.
    pub quantity: i32,
    /// Warehouse (UUID).
    pub warehouse_id: String,
}

/// A delivery left with a carrier (Avro `collector.delivery.DeliveryDispatched`, seed 001
/// schema 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryDispatched {
    /// The delivery note (UUID); the Kafka key.
    pub delivery_note_id: String,
    /// Human-readable delivery number.
    pub delivery_number: String,
    /// Order (UUID).
    pub order_id: String,
    /// Shipped lines.
    pub items: Vec<DispatchedItem>,
    /// Tracking number.
    pub tracking_number: Option<String>,
    /// Carrier (UUID).
    pub carrier_id: Option<String>,
}

contract!(DeliveryDispatched, schema: "collector.delivery.DeliveryDispatched", topic: "collector.delivery.dispatched.v1",
    event_type: "delivery.dispatched", version: EVENT_VERSION, priority: Normal, key: delivery_note_id);

impl Example for DeliveryDispatched {
    fn example() -> Self {
        DeliveryDispatched {
            delivery_note_id: "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a".into(),
            delivery_number: "DN-2024-001".into(),
            order_id: "c0ffee00-1234-4a5b-8c9d-0e1f2a3b4c5d".into(),
            items: vec![DispatchedItem {
                product_id: "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
                quantity: 5,
                warehouse_id: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d".into(),
            }],
            tracking_number: Some("TRACK123".into()),
            carrier_id: Some("2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e".into()),
        }
    }
}

/// A delivery was confirmed DELIVERED (Avro `collector.delivery.DeliveryConfirmed`, seed 001
/// schema 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryConfirmed {
    /// The delivery note (UUID); the Kafka key.
    pub delivery_note_id: String,
    /// Human-readable delivery number.
    pub delivery_number: String,
    /// Order (UUID).
    pub order_id: String,
    /// Customer (UUID).
    pub customer_id: String,
    /// Proof of delivery link.
    pub proof_of_delivery_url: Option<String>,
}

contract!(DeliveryConfirmed, schema: "collector.delivery.DeliveryConfirmed", topic: "collector.delivery.confirmed.v1",
    event_type: "delivery.confirmed", version: EVENT_VERSION, priority: Normal, key: delivery_note_id);

impl Example for DeliveryConfirmed {
    fn example() -> Self {
        DeliveryConfirmed {
            delivery_note_id: "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a".into(),
            delivery_number: "DN-2024-001".into(),
            order_id: "c0ffee00-1234-4a5b-8c9d-0e1f2a3b4c5d".into(),
            customer_id: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
            proof_of_delivery_url: Some("https://pod.collector.example/DN-2024-001.pdf".into()),
        }
    }
}
