//! `PURCHASE_ORDER_CREATED`, `PURCHASE_ORDER_APPROVED`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

crate::avro_enum! {
    /// Status of a purchase order.
    pub enum PurchaseOrderStatus { Pending = "PENDING", Approved = "APPROVED"; default Unknown = "UNKNOWN" }
}

/// A purchase order was created (Avro `composerp.purchase_order.PurchaseOrderCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseOrderCreated {
    /// The purchase order (UUID); the Kafka key.
    pub purchase_order_id: String,
    /// Human-readable number.
    pub po_number: String,
    /// Supplier (UUID).
    pub supplier_id: String,
    /// Delivery location (UUID).
    pub location_id: String,
    /// Order value.
    pub total_amount: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
    /// Status, PENDING.
    pub status: PurchaseOrderStatus,
}

contract!(PurchaseOrderCreated, schema: "composerp.purchase_order.PurchaseOrderCreated",
    topic: "composerp.purchase-order.created.v1", event_type: "PURCHASE_ORDER_CREATED",
    version: EVENT_VERSION, priority: Normal, key: purchase_order_id);

impl Example for PurchaseOrderCreated {
    fn example() -> Self {
        PurchaseOrderCreated {
            purchase_order_id: "7e8f9a0b-1c2d-4e3f-a4b5-c6d7e8f9a0b1".into(),
            po_number: "PO-2026-001".into(),
            supplier_id: "5c6d7e8f-9a0b-4c1d-82e3-f4a5b6c7d8e9".into(),
            location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            total_amount: dec("5000.00"),
            currency: Some("USD".into()),
            status: PurchaseOrderStatus::Pending,
        }
    }
}

/// A purchase order was approved (Avro `composerp.purchase_order.PurchaseOrderApproved`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseOrderApproved {
    /// The purchase order (UUID); the Kafka key.
    pub purchase_order_id: String,
    /// Approver (UUID).
    pub approved_by: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub approved_at: DateTime<Utc>,
}

contract!(PurchaseOrderApproved, schema: "composerp.purchase_order.PurchaseOrderApproved",
    topic: "composerp.purchase-order.approved.v1", event_type: "PURCHASE_ORDER_APPROVED",
    version: EVENT_VERSION, priority: Normal, key: purchase_order_id);

impl Example for PurchaseOrderApproved {
    fn example() -> Self {
        PurchaseOrderApproved {
            purchase_order_id: "7e8f9a0b-1c2d-4e3f-a4b5-c6d7e8f9a0b1".into(),
            approved_by: "8f9a0b1c-2d3e-4f4a-b5c6-d7e8f9a0b1c2".into(),
            approved_at: ts("2026-02-09T12:00:00Z"),
        }
    }
}
