//! `invoice.issued` (payload designed from the seed's context: the seed shows none).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{PaymentTerm, EVENT_VERSION};
use crate::macros::contract;
use crate::time::{day, ts};
use crate::{dec, Decimal4, Example};

/// An invoice was issued (Avro `cypher.invoice.InvoiceIssued`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceIssued {
    /// The invoice; the Kafka key.
    pub invoice_id: String,
    /// Human-readable invoice number.
    pub invoice_number: String,
    /// Invoiced customer.
    pub customer_id: String,
    /// Order it bills (UUID).
    pub order_id: Option<String>,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub issued_at: DateTime<Utc>,
    /// Payment due date.
    #[serde(with = "crate::time::date")]
    pub due_date: NaiveDate,
    /// Payment terms.
    pub payment_term: PaymentTerm,
    /// Invoiced amount including tax.
    pub total: Decimal4,
    /// ISO 4217 currency code.
    pub currency: String,
}

contract!(InvoiceIssued, schema: "cypher.invoice.InvoiceIssued", topic: "cypher.invoice.issued.v1",
    event_type: "invoice.issued", version: EVENT_VERSION, priority: Normal, key: invoice_id);

impl Example for InvoiceIssued {
    fn example() -> Self {
        InvoiceIssued {
            invoice_id: "INV-2026-000871".into(),
            invoice_number: "FCT-000871".into(),
            customer_id: "CUST-00123".into(),
            order_id: Some("a1b2c3d4-e5f6-7890-abcd-ef1234567890".into()),
            issued_at: ts("2026-02-14T08:00:00.000Z"),
            due_date: day("2026-03-16"),
            payment_term: PaymentTerm::Net30,
            total: dec("1785.00"),
            currency: "EUR".into(),
        }
    }
}
