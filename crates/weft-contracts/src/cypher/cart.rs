//! `cart.updated`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{PricedLine, Totals, EVENT_VERSION};
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Example};

crate::avro_enum! {
    /// What happened to the cart.
    pub enum CartAction {
        ItemAdded = "item_added", ItemRemoved = "item_removed", QuantityUpdated = "quantity_updated",
        PriceUpdated = "price_updated", CouponApplied = "coupon_applied", CartCleared = "cart_cleared";
        default Unknown = "unknown"
    }
}

/// A shopping cart changed (Avro `cypher.cart.CartUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartUpdated {
    /// The cart; the Kafka key.
    pub cart_id: String,
    /// Owner of the cart; absent when the system cleared it.
    pub user_id: Option<String>,
    /// What happened.
    pub action: CartAction,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    /// Lines after the change.
    pub items: Vec<PricedLine>,
    /// The line the action touched.
    pub changed_item: Option<PricedLine>,
    /// Totals after the change.
    pub totals: Option<Totals>,
}

contract!(CartUpdated, schema: "cypher.cart.CartUpdated", topic: "cypher.cart.updated.v1",
    event_type: "cart.updated", version: EVENT_VERSION, priority: Normal, key: cart_id);

impl Example for CartUpdated {
    fn example() -> Self {
        let line = PricedLine {
            product_id: "PRD-001".into(),
            sku: "PRD-001".into(),
            quantity: 10,
            unit_price: dec("150.00"),
            line_total: dec("1500.00"),
        };
        CartUpdated {
            cart_id: "cart-7f3a9c".into(),
            user_id: Some("user-456".into()),
            action: CartAction::ItemAdded,
            updated_at: ts("2026-02-13T11:58:00.000Z"),
            items: vec![line.clone()],
            changed_item: Some(line),
            totals: Some(Totals {
                subtotal: dec("1500.00"),
                tax_amount: dec("285.00"),
                total: dec("1785.00"),
                currency: "EUR".into(),
            }),
        }
    }
}
