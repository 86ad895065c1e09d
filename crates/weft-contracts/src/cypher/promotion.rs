//! `promotion.created`, `promotion.updated`, `promotion.activated`, `promotion.deactivated`
//! (payloads designed from the seed's context: the seed names these events without payloads).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

crate::avro_enum! {
    /// How a discount is expressed.
    pub enum DiscountType { Percentage = "percentage", FixedAmount = "fixed_amount"; default Unknown = "unknown" }
}

crate::avro_enum! {
    /// Why a promotion stopped.
    pub enum DeactivationReason { Expired = "expired", Manual = "manual"; default Unknown = "unknown" }
}

/// A promotion was created (Avro `cypher.promotion.PromotionCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionCreated {
    /// The promotion; the Kafka key.
    pub promotion_id: String,
    /// Name.
    pub name: String,
    /// How the discount is expressed.
    pub discount_type: DiscountType,
    /// Percentage or amount.
    pub discount_value: Decimal4,
    /// Currency, for fixed amounts.
    pub currency: Option<String>,
    /// Products it applies to; empty for all.
    pub product_ids: Vec<String>,
    /// Start.
    #[serde(with = "crate::time::millis")]
    pub starts_at: DateTime<Utc>,
    /// End; open-ended when absent.
    #[serde(with = "crate::time::millis_opt")]
    pub ends_at: Option<DateTime<Utc>>,
    /// Who.
    pub created_by: String,
}

contract!(PromotionCreated, schema: "cypher.promotion.PromotionCreated", topic: "cypher.promotion.created.v1",
    event_type: "promotion.created", version: EVENT_VERSION, priority: Normal, key: promotion_id);

impl Example for PromotionCreated {
    fn example() -> Self {
        PromotionCreated {
            promotion_id: "PROMO-2026-SPRING".into(),
            name: "Spring shelving week".into(),
            discount_type: DiscountType::FixedAmount,
            discount_value: dec("12.50"),
            currency: Some("EUR".into()),
            product_ids: vec!["PRD-00123".into(), "PRD-00124".into()],
            starts_at: ts("2026-03-20T00:00:00.000Z"),
            ends_at: Some(ts("2026-03-27T00:00:00.000Z")),
            created_by: "user-456".into(),
        }
    }
}

/// A promotion was modified (Avro `cypher.promotion.PromotionUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionUpdated {
    /// The promotion; the Kafka key.
    pub promotion_id: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    /// Who.
    pub updated_by: String,
    /// Changed fields before, as text.
    pub previous_values: BTreeMap<String, String>,
    /// Changed fields after, as text.
    pub new_values: BTreeMap<String, String>,
}

contract!(PromotionUpdated, schema: "cypher.promotion.PromotionUpdated", topic: "cypher.promotion.updated.v1",
    event_type: "promotion.updated", version: EVENT_VERSION, priority: Normal, key: promotion_id);

impl Example for PromotionUpdated {
    fn example() -> Self {
        PromotionUpdated {
            promotion_id: "PROMO-2026-SPRING".into(),
            updated_at: ts("2026-03-18T10:00:00.000Z"),
            updated_by: "user-456".into(),
            previous_values: BTreeMap::from([("discount_value".into(), "12.50".into())]),
            new_values: BTreeMap::from([("discount_value".into(), "15.00".into())]),
        }
    }
}

/// A promotion became active (Avro `cypher.promotion.PromotionActivated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionActivated {
    /// The promotion; the Kafka key.
    pub promotion_id: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub activated_at: DateTime<Utc>,
    /// Products it affects; empty for all.
    pub product_ids: Vec<String>,
}

contract!(PromotionActivated, schema: "cypher.promotion.PromotionActivated", topic: "cypher.promotion.activated.v1",
    event_type: "promotion.activated", version: EVENT_VERSION, priority: High, key: promotion_id);

impl Example for PromotionActivated {
    fn example() -> Self {
        PromotionActivated {
            promotion_id: "PROMO-2026-SPRING".into(),
            activated_at: ts("2026-03-20T00:00:00.000Z"),
            product_ids: vec!["PRD-00123".into(), "PRD-00124".into()],
        }
    }
}

/// A promotion stopped applying (Avro `cypher.promotion.PromotionDeactivated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionDeactivated {
    /// The promotion; the Kafka key.
    pub promotion_id: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub deactivated_at: DateTime<Utc>,
    /// Why.
    pub reason: DeactivationReason,
}

contract!(PromotionDeactivated, schema: "cypher.promotion.PromotionDeactivated", topic: "cypher.promotion.deactivated.v1",
    event_type: "promotion.deactivated", version: EVENT_VERSION, priority: Normal, key: promotion_id);

impl Example for PromotionDeactivated {
    fn example() -> Self {
        PromotionDeactivated {
            promotion_id: "PROMO-2026-SPRING".into(),
            deactivated_at: ts("2026-03-27T00:00:00.000Z"),
            reason: DeactivationReason::Expired,
        }
    }
}
