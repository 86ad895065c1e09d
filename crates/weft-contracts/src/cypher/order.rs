//! `order.created`, `order.cancelled`, `order.paid`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CustomerType, Totals, EVENT_VERSION};
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

crate::avro_enum! {
    /// Lifecycle status of an order.
    pub enum OrderStatus {
        Pending = "pending", Paid = "paid", Shipped = "shipped", Delivered = "delivered",
        Cancelled = "cancelled";
        default Unknown = "unknown"
    }
}

crate::avro_enum! {
    /// Payment state of an order.
    pub enum PaymentStatus { Pending = "pending", Paid = "paid", Refunded = "refunded"; default Unknown = "unknown" }
}

crate::avro_enum! {
    /// Fulfilment state of an order.
    pub enum FulfillmentStatus {
        Unfulfilled = "unfulfilled", PartiallyFulfilled = "partially_fulfilled", Fulfilled = "fulfilled";
        default Unknown = "unknown"
    }
}

/// One ordered line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Id of the order line (UUID).
    pub item_id: String,
    /// Catalog product id.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Ordered units.
    pub quantity: i32,
    /// Unit price.
    pub unit_price: Decimal4,
    /// quantity times unit_price.
    pub line_total: Decimal4,
}

/// An order was created (Avro `cypher.order.OrderCreated`, seed 000 appendix A.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order (UUID); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Ordering customer.
    pub customer_id: String,
    /// Customer segment.
    pub customer_type: CustomerType,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    /// Order status.
    pub status: OrderStatus,
    /// Payment state.
    pub payment_status: PaymentStatus,
    /// Fulfilment state.
    pub fulfillment_status: FulfillmentStatus,
    /// Ordered lines.
    pub items: Vec<OrderItem>,
    /// Totals.
    pub totals: Totals,
}

contract!(OrderCreated, schema: "cypher.order.OrderCreated", topic: "cypher.order.created.v1",
    event_type: "order.created", version: EVENT_VERSION, priority: Critical, key: order_id);

impl Example for OrderCreated {
    fn example() -> Self {
        OrderCreated {
            order_id: "a1b2c3d4-e5f6-7890-abcd-ef1234567890".into(),
            order_number: "ORD-00012345".into(),
            customer_id: "CUST-00123".into(),
            customer_type: CustomerType::B2b,
            created_at: ts("2026-02-13T12:00:00.000Z"),
            status: OrderStatus::Pending,
            payment_status: PaymentStatus::Pending,
            fulfillment_status: FulfillmentStatus::Unfulfilled,
            items: vec![OrderItem {
                item_id: "f1e2d3c4-b5a6-9876-fedc-987654321098".into(),
                product_id: "PRD-001".into(),
                sku: "PRD-001".into(),
                quantity: 10,
                unit_price: dec("150.00"),
                line_total: dec("1500.00"),
            }],
            totals: Totals {
                subtotal: dec("1500.00"),
                tax_amount: dec("285.00"),
                total: dec("1785.00"),
                currency: "EUR".into(),
            },
        }
    }
}

/// An order was cancelled (Avro `cypher.order.OrderCancelled`; payload designed from the seed's
/// consumers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The order (UUID); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Ordering customer.
    pub customer_id: String,
    /// Customer segment.
    pub customer_type: CustomerType,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub cancelled_at: DateTime<Utc>,
    /// Who cancelled it.
    pub cancelled_by: Option<String>,
    /// Free-text reason.
    pub reason: Option<String>,
    /// Totals of the cancelled order.
    pub totals: Totals,
}

contract!(OrderCancelled, schema: "cypher.order.OrderCancelled", topic: "cypher.order.cancelled.v1",
    event_type: "order.cancelled", version: EVENT_VERSION, priority: Critical, key: order_id);

impl Example for OrderCancelled {
    fn example() -> Self {
        OrderCancelled {
            order_id: "a1b2c3d4-e5f6-7890-abcd-ef1234567890".into(),
            order_number: "ORD-00012345".into(),
            customer_id: "CUST-00123".into(),
            customer_type: CustomerType::B2b,
            cancelled_at: ts("2026-02-13T15:30:00.000Z"),
            cancelled_by: Some("user-456".into()),
            reason: Some("Customer changed supplier".into()),
            totals: Totals {
                subtotal: dec("1500.00"),
                tax_amount: dec("285.00"),
                total: dec("1785.00"),
                currency: "EUR".into(),
            },
        }
    }
}

/// Payment for an order was received (Avro `cypher.order.OrderPaid`; payload designed from the
/// seed's consumers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPaid {
    /// The order (UUID); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Paying customer.
    pub customer_id: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub paid_at: DateTime<Utc>,
    /// Amount paid.
    pub amount: Decimal4,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Payment provider or bank reference.
    pub payment_reference: Option<String>,
}

contract!(OrderPaid, schema: "cypher.order.OrderPaid", topic: "cypher.order.paid.v1",
    event_type: "order.paid", version: EVENT_VERSION, priority: Critical, key: order_id);

impl Example for OrderPaid {
    fn example() -> Self {
        OrderPaid {
            order_id: "a1b2c3d4-e5f6-7890-abcd-ef1234567890".into(),
            order_number: "ORD-00012345".into(),
            customer_id: "CUST-00123".into(),
            paid_at: ts("2026-03-15T09:12:44.000Z"),
            amount: dec("1785.00"),
            currency: "EUR".into(),
            payment_reference: Some("SEPA-2026-03-15-0098".into()),
        }
    }
}
