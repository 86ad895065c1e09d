//! `price.changed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

crate::avro_enum! {
    /// Sales channel.
    pub enum SalesChannel { Web = "web", Mobile = "mobile", Pos = "pos", B2bPortal = "b2b_portal"; default Unknown = "unknown" }
}

/// A product or variant price changed (Avro `cypher.price.PriceChanged`, seed 000 appendix A.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceChanged {
    /// Catalog product id; the Kafka key.
    pub product_id: String,
    /// Variant, when a variant price changed.
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub changed_at: DateTime<Utc>,
    /// Who.
    pub changed_by: String,
    /// Which price, e.g. `base_price`.
    pub price_type: String,
    /// Price before.
    pub previous_price: Decimal4,
    /// Price after.
    pub new_price: Decimal4,
    /// new_price minus previous_price.
    pub price_difference: Decimal4,
    /// Change in percent.
    pub percentage_change: Decimal4,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Whether active quotes contain the product.
    pub affects_active_quotes: bool,
    /// Whether they must be repriced.
    pub requote_required: bool,
    /// Channels the new price applies to.
    pub channels_affected: Vec<SalesChannel>,
}

contract!(PriceChanged, schema: "cypher.price.PriceChanged", topic: "cypher.price.changed.v1",
    event_type: "price.changed", version: EVENT_VERSION, priority: Critical, key: product_id);

impl Example for PriceChanged {
    fn example() -> Self {
        PriceChanged {
            product_id: "PRD-00123".into(),
            variant_id: Some("PRD-00123-V2".into()),
            sku: "PRD-001-A".into(),
            changed_at: ts("2026-02-13T12:00:00.000Z"),
            changed_by: "user-456".into(),
            price_type: "base_price".into(),
            previous_price: dec("150.00"),
            new_price: dec("165.00"),
            price_difference: dec("15.00"),
            percentage_change: dec("10"),
            currency: "EUR".into(),
            affects_active_quotes: true,
            requote_required: true,
            channels_affected: vec![
                SalesChannel::Web,
                SalesChannel::Mobile,
                SalesChannel::Pos,
                SalesChannel::B2bPortal,
            ],
        }
    }
}
