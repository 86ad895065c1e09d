//! `order.placed`, `order.cancelled`, `order.status-changed`, `order.shipped`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{usd, Money, EVENT_VERSION};
use crate::macros::contract;
use crate::time::{day, ts};
use crate::Example;

const ORDER: &str = "5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c";
const USER: &str = "8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f";
const PRODUCT: &str = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
const VARIANT: &str = "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b";

/// One ordered line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlacedItem {
    /// Product (UUID).
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Product name at ordering time.
    pub product_name: String,
    /// Units.
    pub quantity: i32,
    /// Unit price.
    pub unit_price: Money,
    /// quantity times unit_price.
    pub subtotal: Money,
}

/// Where to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippingAddress {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Receiving person.
    pub contact_name: String,
    /// Their phone.
    pub contact_phone: String,
}

/// A buyer placed an order (Avro `b2b.order.OrderPlaced`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The order (UUID, the aggregateId); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Buyer (UUID).
    pub user_id: String,
    /// Buyer's e-mail.
    pub user_email: String,
    /// Ordered lines.
    pub items: Vec<OrderPlacedItem>,
    /// Delivery address.
    pub shipping_address: ShippingAddress,
    /// Buyer's PO number.
    pub po_number: Option<String>,
    /// Delivery notes.
    pub notes: Option<String>,
    /// Sum of line subtotals.
    pub subtotal: Money,
    /// Tax.
    pub tax: Money,
    /// Shipping cost.
    pub shipping: Money,
    /// Discount.
    pub discount: Option<Money>,
    /// Amount due.
    pub total: Money,
}

contract!(OrderPlaced, schema: "b2b.order.OrderPlaced", topic: "b2b.order.placed.v1",
    event_type: "order.placed", version: EVENT_VERSION, priority: Critical, key: order_id);

impl Example for OrderPlaced {
    fn example() -> Self {
        OrderPlaced {
            order_id: ORDER.into(),
            order_number: "ORD-2025-11-000123".into(),
            user_id: USER.into(),
            user_email: "buyer@example.com".into(),
            items: vec![OrderPlacedItem {
                product_id: PRODUCT.into(),
                variant_id: Some(VARIANT.into()),
                sku: "PROD-001-L-BLUE".into(),
                product_name: "Product Name".into(),
                quantity: 2,
                unit_price: usd("99.99"),
                subtotal: usd("199.98"),
            }],
            shipping_address: ShippingAddress {
                street: "123 Business St".into(),
                city: "San Francisco".into(),
                state: "CA".into(),
                postal_code: "94105".into(),
                country: "US".into(),
                contact_name: "John Doe".into(),
                contact_phone: "+1-555-0123".into(),
            },
            po_number: Some("PO-123456".into()),
            notes: Some("Deliver to loading dock".into()),
            subtotal: usd("199.98"),
            tax: usd("20.00"),
            shipping: usd("10.00"),
            // The seed's example has no discount; the example sets one so every field is checked,
            // and keeps the seed's total (229.98) by a zero discount.
            discount: Some(usd("0.00")),
            total: usd("229.98"),
        }
    }
}

crate::avro_enum! {
    /// Why an order was cancelled.
    pub enum CancelReason {
        UserRequest = "user_request", InventoryUnavailable = "inventory_unavailable",
        SystemError = "system_error";
        default Unknown = "unknown"
    }
}

/// One cancelled line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelledItem {
    /// Product (UUID).
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Units to release.
    pub quantity: i32,
}

/// An order was cancelled (Avro `b2b.order.OrderCancelled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The order (UUID, the aggregateId); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Buyer (UUID).
    pub user_id: String,
    /// Buyer's e-mail.
    pub user_email: String,
    /// Why.
    pub reason: CancelReason,
    /// Who (e-mail).
    pub cancelled_by: String,
    /// Cancelled lines.
    pub items: Vec<OrderCancelledItem>,
    /// Order total.
    pub total: Money,
}

contract!(OrderCancelled, schema: "b2b.order.OrderCancelled", topic: "b2b.order.cancelled.v1",
    event_type: "order.cancelled", version: EVENT_VERSION, priority: Critical, key: order_id);

impl Example for OrderCancelled {
    fn example() -> Self {
        OrderCancelled {
            order_id: ORDER.into(),
            order_number: "ORD-2025-11-000123".into(),
            user_id: USER.into(),
            user_email: "buyer@example.com".into(),
            reason: CancelReason::UserRequest,
            cancelled_by: "user@example.com".into(),
            items: vec![OrderCancelledItem {
                product_id: PRODUCT.into(),
                variant_id: Some(VARIANT.into()),
                sku: "PROD-001-L-BLUE".into(),
                quantity: 2,
            }],
            total: usd("229.98"),
        }
    }
}

crate::avro_enum! {
    /// Order status.
    pub enum OrderStatus {
        Pending = "pending", Processing = "processing", Shipped = "shipped",
        Delivered = "delivered", Cancelled = "cancelled";
        default Unknown = "unknown"
    }
}

/// An order's status changed (Avro `b2b.order.OrderStatusChanged`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    /// The order (UUID, the aggregateId); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Before.
    pub previous_status: OrderStatus,
    /// After.
    pub new_status: OrderStatus,
    /// Who.
    pub updated_by: String,
    /// Tracking number, once shipped.
    pub tracking_number: Option<String>,
    /// Carrier, once shipped.
    pub tracking_carrier: Option<String>,
}

contract!(OrderStatusChanged, schema: "b2b.order.OrderStatusChanged", topic: "b2b.order.status-changed.v1",
    event_type: "order.status-changed", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderStatusChanged {
    fn example() -> Self {
        OrderStatusChanged {
            order_id: ORDER.into(),
            order_number: "ORD-2025-11-000123".into(),
            previous_status: OrderStatus::Processing,
            new_status: OrderStatus::Shipped,
            updated_by: "external-system".into(),
            tracking_number: Some("1Z999AA10123456784".into()),
            tracking_carrier: Some("UPS".into()),
        }
    }
}

/// An order shipped (Avro `b2b.order.OrderShipped`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderShipped {
    /// The order (UUID, the aggregateId); the Kafka key.
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Buyer (UUID).
    pub user_id: String,
    /// Buyer's e-mail.
    pub user_email: String,
    /// Tracking number.
    pub tracking_number: String,
    /// Carrier.
    pub tracking_carrier: String,
    /// Expected delivery day.
    #[serde(with = "crate::time::date")]
    pub expected_delivery_date: NaiveDate,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub shipped_at: DateTime<Utc>,
}

contract!(OrderShipped, schema: "b2b.order.OrderShipped", topic: "b2b.order.shipped.v1",
    event_type: "order.shipped", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderShipped {
    fn example() -> Self {
        OrderShipped {
            order_id: ORDER.into(),
            order_number: "ORD-2025-11-000123".into(),
            user_id: USER.into(),
            user_email: "buyer@example.com".into(),
            tracking_number: "1Z999AA10123456784".into(),
            tracking_carrier: "UPS".into(),
            expected_delivery_date: day("2025-11-22"),
            shipped_at: ts("2025-11-18T10:00:00Z"),
        }
    }
}
