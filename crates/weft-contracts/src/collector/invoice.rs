//! `invoice.issued`, `invoice.paid`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

/// One invoiced line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLineItem {
    /// Line description.
    pub description: String,
    /// Invoiced quantity (decimal text in the seed).
    pub quantity: Decimal4,
    /// Price per unit.
    pub unit_price: Decimal4,
    /// Line total.
    pub total: Decimal4,
}

/// An invoice was issued (Avro `collector.invoice.InvoiceIssued`, seed 001 schema 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceIssued {
    /// The invoice (UUID); the Kafka key.
    pub invoice_id: String,
    /// Human-readable invoice number.
    pub invoice_number: String,
    /// Customer (UUID).
    pub customer_id: String,
    /// Order (UUID).
    pub order_id: Option<String>,
    /// Delivery note (UUID).
    pub delivery_note_id: Option<String>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Before tax.
    pub subtotal: Decimal4,
    /// Tax.
    pub tax_total: Decimal4,
    /// Amount due.
    pub grand_total: Decimal4,
    /// Payment due (a timestamp in the seed).
    #[serde(with = "crate::time::millis")]
    pub due_date: DateTime<Utc>,
    /// Invoiced lines.
    pub line_items: Vec<InvoiceLineItem>,
}

contract!(InvoiceIssued, schema: "collector.invoice.InvoiceIssued", topic: "collector.invoice.issued.v1",
    event_type: "invoice.issued", version: EVENT_VERSION, priority: Normal, key: invoice_id);

impl Example for InvoiceIssued {
    fn example() -> Self {
        InvoiceIssued {
            invoice_id: "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9".into(),
            invoice_number: "INV-2024-001".into(),
            customer_id: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
            order_id: Some("c0ffee00-1234-4a5b-8c9d-0e1f2a3b4c5d".into()),
            delivery_note_id: Some("d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a".into()),
            currency: "USD".into(),
            subtotal: dec("1250.00"),
            tax_total: dec("250.00"),
            grand_total: dec("1500.00"),
            due_date: ts("2024-02-15T14:30:00.000Z"),
            line_items: vec![InvoiceLineItem {
                description: "Product Name".into(),
                quantity: dec("5"),
                unit_price: dec("250.00"),
                total: dec("1250.00"),
            }],
        }
    }
}

/// An invoice was paid (Avro `collector.invoice.InvoicePaid`, seed 001 schema 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoicePaid {
    /// The invoice (UUID); the Kafka key.
    pub invoice_id: String,
    /// Human-readable invoice number.
    pub invoice_number: String,
    /// Customer (UUID).
    pub customer_id: String,
    /// Amount paid.
    pub amount: Decimal4,
    /// How it was paid.
    pub payment_method: Option<String>,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub payment_date: DateTime<Utc>,
    /// ISO 4217 currency code.
    pub currency: String,
}

contract!(InvoicePaid, schema: "collector.invoice.InvoicePaid", topic: "collector.invoice.paid.v1",
    event_type: "invoice.paid", version: EVENT_VERSION, priority: Normal, key: invoice_id);

impl Example for InvoicePaid {
    fn example() -> Self {
        InvoicePaid {
            invoice_id: "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9".into(),
            invoice_number: "INV-2024-001".into(),
            customer_id: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
            amount: dec("1500.00"),
            payment_method: Some("STRIPE".into()),
            payment_date: ts("2024-01-16T10:00:00.000Z"),
            currency: "USD".into(),
        }
    }
}
