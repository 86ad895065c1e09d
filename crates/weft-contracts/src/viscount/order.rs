//! `order.created`, `order.validated`, `order.completed`, `order.cancelled`, `order.refunded`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

const ORDER: &str = "order_987654321";

crate::avro_enum! {
    /// Order lifecycle status.
    pub enum OrderStatus {
        Pending = "pending", Validated = "validated", Completed = "completed",
        Cancelled = "cancelled", Refunded = "refunded";
        default Unknown = "unknown"
    }
}

/// One ordered line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Product.
    pub product_id: String,
    /// Units.
    pub quantity: i32,
    /// Price per unit.
    pub unit_price: Decimal4,
    /// quantity times unit_price.
    pub total_price: Decimal4,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub zip: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// A new order was created (Avro `viscount.order.OrderCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// Order id; the Kafka key.
    pub order_id: String,
    /// Customer.
    pub customer_id: String,
    /// Order total.
    pub total_amount: Decimal4,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Status, pending.
    pub status: OrderStatus,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Delivery address.
    pub shipping_address: Address,
    /// Billing address.
    pub billing_address: Address,
}

contract!(OrderCreated, schema: "viscount.order.OrderCreated", topic: "viscount.order.created.v1",
    event_type: "order.created", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderCreated {
    fn example() -> Self {
        let address = Address {
            street: "123 Main St".into(),
            city: "Anytown".into(),
            state: "CA".into(),
            zip: "12345".into(),
            country: "US".into(),
        };
        OrderCreated {
            order_id: ORDER.into(),
            customer_id: "cust_123456789".into(),
            total_amount: dec("47.98"),
            currency: "USD".into(),
            status: OrderStatus::Pending,
            items: vec![OrderItem {
                product_id: "prod_123456789".into(),
                quantity: 2,
                unit_price: dec("22.99"),
                total_price: dec("45.98"),
            }],
            shipping_address: address.clone(),
            billing_address: address,
        }
    }
}

crate::avro_enum! {
    /// Outcome of one validation check.
    pub enum CheckResult { Passed = "passed", Failed = "failed"; default Unknown = "unknown" }
}

/// Outcome per validation check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationResults {
    /// Inventory verification.
    pub inventory_check: CheckResult,
    /// Pricing validation.
    pub pricing_check: CheckResult,
    /// Customer verification.
    pub customer_check: CheckResult,
}

/// A reservation held for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    /// Product.
    pub product_id: String,
    /// Reservation.
    pub reservation_id: String,
    /// Units.
    pub quantity: i32,
}

/// An order passed validation (Avro `viscount.order.OrderValidated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderValidated {
    /// Order id; the Kafka key.
    pub order_id: String,
    /// Per-check outcome.
    pub validation_results: ValidationResults,
    /// Reservations held.
    pub reservations: Vec<Reservation>,
}

contract!(OrderValidated, schema: "viscount.order.OrderValidated", topic: "viscount.order.validated.v1",
    event_type: "order.validated", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderValidated {
    fn example() -> Self {
        OrderValidated {
            order_id: ORDER.into(),
            validation_results: ValidationResults {
                inventory_check: CheckResult::Passed,
                pricing_check: CheckResult::Passed,
                customer_check: CheckResult::Passed,
            },
            reservations: vec![Reservation {
                product_id: "prod_123456789".into(),
                reservation_id: "res_123456789".into(),
                quantity: 2,
            }],
        }
    }
}

/// An order was paid and fulfilled (Avro `viscount.order.OrderCompleted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCompleted {
    /// Order id; the Kafka key.
    pub order_id: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub completion_time: DateTime<Utc>,
    /// Payment.
    pub payment_id: String,
    /// Fulfilment.
    pub fulfillment_id: String,
    /// Amount charged.
    pub final_amount: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
}

contract!(OrderCompleted, schema: "viscount.order.OrderCompleted", topic: "viscount.order.completed.v1",
    event_type: "order.completed", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderCompleted {
    fn example() -> Self {
        OrderCompleted {
            order_id: ORDER.into(),
            completion_time: ts("2024-01-15T12:45:00Z"),
            payment_id: "pay_123456789".into(),
            fulfillment_id: "ful_123456789".into(),
            final_amount: dec("47.98"),
            currency: Some("USD".into()),
        }
    }
}

/// An order was cancelled (Avro `viscount.order.OrderCancelled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// Order id; the Kafka key.
    pub order_id: String,
    /// Why.
    pub cancellation_reason: String,
    /// Who.
    pub cancelled_by: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub cancelled_at: DateTime<Utc>,
    /// Whether money goes back.
    pub refund_required: bool,
    /// Amount to return.
    pub refund_amount: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
}

contract!(OrderCancelled, schema: "viscount.order.OrderCancelled", topic: "viscount.order.cancelled.v1",
    event_type: "order.cancelled", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderCancelled {
    fn example() -> Self {
        OrderCancelled {
            order_id: ORDER.into(),
            cancellation_reason: "customer_request".into(),
            cancelled_by: "customer".into(),
            cancelled_at: ts("2024-01-15T12:30:00Z"),
            refund_required: true,
            refund_amount: dec("47.98"),
            currency: Some("USD".into()),
        }
    }
}

/// A refund was processed (Avro `viscount.order.OrderRefunded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRefunded {
    /// Order id; the Kafka key.
    pub order_id: String,
    /// Refund.
    pub refund_id: String,
    /// Amount.
    pub refund_amount: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
    /// Why.
    pub refund_reason: String,
    /// How.
    pub refund_method: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub processed_at: DateTime<Utc>,
}

contract!(OrderRefunded, schema: "viscount.order.OrderRefunded", topic: "viscount.order.refunded.v1",
    event_type: "order.refunded", version: EVENT_VERSION, priority: Normal, key: order_id);

impl Example for OrderRefunded {
    fn example() -> Self {
        OrderRefunded {
            order_id: ORDER.into(),
            refund_id: "ref_123456789".into(),
            refund_amount: dec("47.98"),
            currency: Some("USD".into()),
            refund_reason: "order_cancelled".into(),
            refund_method: "original_payment_method".into(),
            processed_at: ts("2024-01-15T12:50:00Z"),
        }
    }
}
