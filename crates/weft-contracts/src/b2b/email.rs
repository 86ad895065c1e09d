//! `email.notification-requested` (derived: typed lines and total), `email.sent`, `email.failed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{usd, Money, EVENT_VERSION};
use crate::macros::contract;
use crate::time::ts;
use crate::Example;

const ORDER: &str = "5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c";

crate::avro_enum! {
    /// E-mail template.
    pub enum TemplateType {
        OrderConfirmation = "order_confirmation", OrderCancellation = "order_cancellation",
        OrderShipped = "order_shipped";
        default Unknown = "unknown"
    }
}

crate::avro_enum! {
    /// Sending priority of an e-mail; unknown priorities read as normal.
    pub enum EmailPriority { High = "high", Low = "low"; default Normal = "normal" }
}

/// One line shown in an e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailItem {
    /// Product name.
    pub product_name: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Units.
    pub quantity: i32,
    /// Unit price, when shown.
    pub unit_price: Option<Money>,
}

/// Values the template shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailData {
    /// Order number.
    pub order_number: String,
    /// Name to greet.
    pub customer_name: Option<String>,
    /// Order total.
    pub total: Option<Money>,
    /// Lines to list.
    pub items: Vec<EmailItem>,
    /// Tracking link.
    pub tracking_url: Option<String>,
}

/// An e-mail should be sent (Avro `b2b.email.EmailNotificationRequested`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailNotificationRequested {
    /// The entity the e-mail is about (UUID); the Kafka key.
    pub aggregate_id: String,
    /// Its type, e.g. `Order`.
    pub aggregate_type: String,
    /// Template.
    pub template_type: TemplateType,
    /// Recipient address.
    pub recipient: String,
    /// Template values.
    pub data: EmailData,
    /// Sending priority.
    pub priority: EmailPriority,
    /// Attempts so far.
    pub retry_attempts: i32,
    /// Attempts allowed.
    pub max_retries: i32,
}

contract!(EmailNotificationRequested, schema: "b2b.email.EmailNotificationRequested",
    topic: "b2b.email.notification-requested.v1", event_type: "email.notification-requested",
    version: EVENT_VERSION, priority: Normal, key: aggregate_id);

impl Example for EmailNotificationRequested {
    fn example() -> Self {
        EmailNotificationRequested {
            aggregate_id: ORDER.into(),
            aggregate_type: "Order".into(),
            template_type: TemplateType::OrderConfirmation,
            recipient: "buyer@example.com".into(),
            data: EmailData {
                order_number: "ORD-2025-11-000123".into(),
                customer_name: Some("John Doe".into()),
                total: Some(usd("229.98")),
                items: vec![EmailItem {
                    product_name: "Product Name".into(),
                    sku: "PROD-001-L-BLUE".into(),
                    quantity: 2,
                    unit_price: Some(usd("99.99")),
                }],
                tracking_url: Some("https://tracking.example.com/1Z999AA10123456784".into()),
            },
            priority: EmailPriority::High,
            retry_attempts: 0,
            max_retries: 3,
        }
    }
}

/// An e-mail was sent (Avro `b2b.email.EmailSent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailSent {
    /// The entity it was about (UUID); the Kafka key.
    pub aggregate_id: String,
    /// Recipient.
    pub recipient: String,
    /// Template.
    pub template_type: TemplateType,
    /// Order number.
    pub order_number: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub sent_at: DateTime<Utc>,
    /// SMTP message id.
    pub message_id: String,
}

contract!(EmailSent, schema: "b2b.email.EmailSent", topic: "b2b.email.sent.v1",
    event_type: "email.sent", version: EVENT_VERSION, priority: Normal, key: aggregate_id);

impl Example for EmailSent {
    fn example() -> Self {
        EmailSent {
            aggregate_id: ORDER.into(),
            recipient: "buyer@example.com".into(),
            template_type: TemplateType::OrderConfirmation,
            order_number: "ORD-2025-11-000123".into(),
            sent_at: ts("2025-11-18T10:00:05Z"),
            message_id: "smtp-message-id".into(),
        }
    }
}

/// Sending an e-mail failed (Avro `b2b.email.EmailFailed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailFailed {
    /// The entity it was about (UUID); the Kafka key.
    pub aggregate_id: String,
    /// Recipient.
    pub recipient: String,
    /// Template.
    pub template_type: TemplateType,
    /// Order number.
    pub order_number: String,
    /// What went wrong.
    pub error: String,
    /// Attempt that failed.
    pub retry_attempt: i32,
    /// Attempts allowed.
    pub max_retries: i32,
    /// Whether another attempt follows.
    pub will_retry: bool,
    /// Next attempt.
    #[serde(with = "crate::time::millis_opt")]
    pub next_retry_at: Option<DateTime<Utc>>,
}

contract!(EmailFailed, schema: "b2b.email.EmailFailed", topic: "b2b.email.failed.v1",
    event_type: "email.failed", version: EVENT_VERSION, priority: Normal, key: aggregate_id);

impl Example for EmailFailed {
    fn example() -> Self {
        EmailFailed {
            aggregate_id: ORDER.into(),
            recipient: "buyer@example.com".into(),
            template_type: TemplateType::OrderConfirmation,
            order_number: "ORD-2025-11-000123".into(),
            error: "SMTP connection timeout".into(),
            retry_attempt: 1,
            max_retries: 3,
            will_retry: true,
            next_retry_at: Some(ts("2025-11-18T10:05:05Z")),
        }
    }
}
