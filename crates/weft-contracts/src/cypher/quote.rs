//! `quote.created` (payload designed from the seed's context: the seed shows none).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CustomerType, PricedLine, Totals, EVENT_VERSION};
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Example};

/// A quote was created (Avro `cypher.quote.QuoteCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteCreated {
    /// The quote; the Kafka key.
    pub quote_id: String,
    /// Human-readable quote number.
    pub quote_number: String,
    /// Customer.
    pub customer_id: String,
    /// Customer segment.
    pub customer_type: CustomerType,
    /// Cart it was made from.
    pub cart_id: Option<String>,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    /// When the quoted prices expire.
    #[serde(with = "crate::time::millis_opt")]
    pub valid_until: Option<DateTime<Utc>>,
    /// Quoted lines.
    pub items: Vec<PricedLine>,
    /// Totals.
    pub totals: Totals,
}

contract!(QuoteCreated, schema: "cypher.quote.QuoteCreated", topic: "cypher.quote.created.v1",
    event_type: "quote.created", version: EVENT_VERSION, priority: Normal, key: quote_id);

impl Example for QuoteCreated {
    fn example() -> Self {
        QuoteCreated {
            quote_id: "QUO-2026-0042".into(),
            quote_number: "Q-00000042".into(),
            customer_id: "CUST-00123".into(),
            customer_type: CustomerType::B2b,
            cart_id: Some("cart-7f3a9c".into()),
            created_at: ts("2026-02-13T11:59:00.000Z"),
            valid_until: Some(ts("2026-02-27T23:59:59.000Z")),
            items: vec![PricedLine {
                product_id: "PRD-001".into(),
                sku: "PRD-001".into(),
                quantity: 10,
                unit_price: dec("150.00"),
                line_total: dec("1500.00"),
            }],
            totals: super::Totals {
                subtotal: dec("1500.00"),
                tax_amount: dec("285.00"),
                total: dec("1785.00"),
                currency: "EUR".into(),
            },
        }
    }
}
