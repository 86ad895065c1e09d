//! `REPLENISHMENT_TRIGGERED` (payload designed from the seed's context: the seed names the event
//! without a payload).

use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::{dec, Decimal4, Example};

crate::avro_enum! {
    /// Kind of replenishment rule.
    pub enum ReplenishmentRuleType {
        MinMax = "MIN_MAX", ReorderPoint = "REORDER_POINT", Forecast = "FORECAST";
        default Unknown = "UNKNOWN"
    }
}

/// A replenishment rule fired (Avro `composerp.replenishment.ReplenishmentTriggered`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplenishmentTriggered {
    /// This decision (UUID, the aggregateId).
    pub replenishment_id: String,
    /// Item (UUID); the Kafka key.
    pub item_id: String,
    /// Location (UUID).
    pub location_id: String,
    /// Rule kind.
    pub rule_type: ReplenishmentRuleType,
    /// Available quantity that fired it.
    pub available: Decimal4,
    /// Level at or below which it fires.
    pub reorder_point: Decimal4,
    /// Suggested order quantity.
    pub suggested_quantity: Decimal4,
    /// Preferred supplier (UUID).
    pub supplier_id: Option<String>,
    /// Inventory event that fired it (UUID).
    pub trigger_event_id: Option<String>,
}

contract!(ReplenishmentTriggered, schema: "composerp.replenishment.ReplenishmentTriggered",
    topic: "composerp.replenishment.triggered.v1", event_type: "REPLENISHMENT_TRIGGERED",
    version: EVENT_VERSION, priority: Normal, key: item_id);

impl Example for ReplenishmentTriggered {
    fn example() -> Self {
        ReplenishmentTriggered {
            replenishment_id: "4b5c6d7e-8f90-4a1b-b2c3-d4e5f6a7b8c9".into(),
            item_id: "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b".into(),
            location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            rule_type: ReplenishmentRuleType::ReorderPoint,
            available: dec("5.0"),
            reorder_point: dec("10.0"),
            suggested_quantity: dec("95.0"),
            supplier_id: Some("5c6d7e8f-9a0b-4c1d-82e3-f4a5b6c7d8e9".into()),
            trigger_event_id: Some("6d7e8f9a-0b1c-4d2e-93f4-a5b6c7d8e9f0".into()),
        }
    }
}
