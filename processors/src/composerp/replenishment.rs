//! The replenishment service (seed 002): inventory falling below an item's threshold triggers a
//! low-stock event and a replenishment.
//!
//! - `INVENTORY_UPDATED` whose `available` **crosses** below the item's threshold (the position
//!   was at or above it, or is new) -> `INVENTORY_LOW_STOCK` (available, threshold) and
//!   `REPLENISHMENT_TRIGGERED` (rule `REORDER_POINT`, reorder point = the threshold, suggested
//!   quantity = what brings available up to twice the threshold, the triggering event's id);
//! - further updates below it: nothing (one replenishment per crossing); back at or above the
//!   threshold re-arms the rule.
//! - State: the store `levels`, the last available per position (`<item_id>/<location_id>`).
//!
//! - `INVENTORY_UPDATED` v2 (`composerp.inventory.updated.v2`, quantities with their unit):
//!   the same rule on the quantities in pieces; a quantity in another unit is poison (the
//!   thresholds count pieces). Which of the two topics the group reads is the migration's
//!   business (`weft migrate cutover`): this build handles both.
//!
//! Thresholds come from configuration (`WEFT_REPLENISH_THRESHOLDS="ITEM=10,ITEM2=5"`, default
//! `WEFT_REPLENISH_DEFAULT_THRESHOLD`, 10). Poison: more available than on hand. Negative
//! availability is an oversold position (the ledger books every sale): below any threshold.

use std::sync::Arc;

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::composerp::inventory::v2::InventoryUpdated as InventoryUpdatedV2;
use weft_contracts::composerp::inventory::{InventoryLowStock, InventoryUpdated};
use weft_contracts::composerp::replenishment::{ReplenishmentRuleType, ReplenishmentTriggered};
use weft_contracts::Decimal4;
use weft_contracts::Event;
use weft_runtime::{In, Out, ProcessError, Processor, State};

use crate::Thresholds;

/// The consumer group and processor name.
pub const NAME: &str = "composerp.replenishment-service";

/// The store of the last available per position.
pub const LEVELS: &str = "levels";

/// What the service remembers of a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "composerp.replenishment")]
pub struct Level {
    /// Available at the last update, in ten-thousandths.
    pub available_units: i64,
}

/// The registration, with the configured thresholds.
pub fn processor(thresholds: Arc<Thresholds>) -> Processor {
    let v2 = thresholds.clone();
    Processor::new(NAME)
        .store::<Level>(LEVELS)
        .on_stateful::<InventoryUpdated>(move |i, s| replenish(i, s, &thresholds))
        .on_stateful::<InventoryUpdatedV2>(move |i, s| replenish_v2(i, s, &v2))
        .emits::<InventoryLowStock>()
        .emits::<ReplenishmentTriggered>()
}

/// `INVENTORY_UPDATED` v2 -> the same as v1, on quantities in pieces. The outputs are those of
/// the v1 event it is the form of (same event id, so the same output ids): a group cut over
/// from v1 to v2 produces nothing twice.
pub fn replenish_v2(
    update: &In<InventoryUpdatedV2>,
    state: &mut State<'_>,
    thresholds: &Thresholds,
) -> Result<Vec<Out>, ProcessError> {
    let v1 = super::migration::inventory_updated_to_v1(update.payload())
        .map_err(|reason| ProcessError::Poison(format!("thresholds count pieces: {reason}")))?;
    let as_v1 = In {
        processor: update.processor,
        topic: update.topic.clone(),
        partition: update.partition,
        offset: update.offset,
        key: update.key.clone(),
        headers: update.headers.clone(),
        attempt: update.attempt,
        part: update.part.clone(),
        event: Event::new(update.metadata().clone(), v1),
    };
    replenish(&as_v1, state, thresholds)
}

/// `INVENTORY_UPDATED` -> low stock and replenishment, when available crosses below the
/// threshold.
pub fn replenish(
    update: &In<InventoryUpdated>,
    state: &mut State<'_>,
    thresholds: &Thresholds,
) -> Result<Vec<Out>, ProcessError> {
    let u = update.payload();
    if u.available > u.on_hand {
        return Err(ProcessError::Poison(format!(
            "item {} at {}: available {} is impossible with {} on hand",
            u.item_id, u.location_id, u.available, u.on_hand
        )));
    }
    let available_units = i64::try_from(u.available.units())
        .map_err(|_| ProcessError::Poison(format!("item {}: available overflows", u.item_id)))?;
    let threshold = Decimal4::from_int(thresholds.for_item(&u.item_id));
    let mut levels = state.store::<Level>(LEVELS)?;
    let key = format!("{}/{}", u.item_id, u.location_id);
    let was_below = levels
        .get(&key)?
        .is_some_and(|l| i128::from(l.available_units) < threshold.units());
    levels.put(&key, &Level { available_units })?;
    if u.available >= threshold || was_below {
        return Ok(vec![]);
    }
    let target = threshold
        .checked_mul_int(2)
        .and_then(|t| t.checked_sub(u.available))
        .ok_or_else(|| ProcessError::Poison(format!("item {}: quantities overflow", u.item_id)))?;
    let trigger = update.metadata().event_id.clone();
    let replenishment_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("composerp.replenishment/{trigger}").as_bytes(),
    )
    .to_string();
    Ok(vec![
        update.emit(
            0,
            InventoryLowStock {
                position_id: u.position_id.clone(),
                item_id: u.item_id.clone(),
                location_id: u.location_id.clone(),
                available: u.available,
                threshold,
            },
        ),
        update.emit(
            0,
            ReplenishmentTriggered {
                replenishment_id,
                item_id: u.item_id.clone(),
                location_id: u.location_id.clone(),
                rule_type: ReplenishmentRuleType::ReorderPoint,
                available: u.available,
                reorder_point: threshold,
                suggested_quantity: target,
                supplier_id: None,
                trigger_event_id: Some(trigger),
            },
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn update(item: &str, available: &str) -> Event<InventoryUpdated> {
        let mut p = InventoryUpdated::example();
        p.item_id = item.into();
        p.available = dec(available);
        p.on_hand = dec("100");
        Event::new(
            EventMetadata::new_for::<InventoryUpdated>("inventory", "u"),
            p,
        )
    }

    const ITEM: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const HOT: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    fn driver() -> TestDriver {
        let thresholds = Thresholds::parse(&format!("{HOT}=25"), "10").unwrap();
        TestDriver::new(processor(Arc::new(thresholds))).unwrap()
    }

    #[test]
    fn a_v2_event_gives_what_its_v1_form_gives_and_other_units_are_poison() {
        let mut d = driver();
        let v1 = update(ITEM, "3");
        let from_v1 = d.feed(v1.clone()).unwrap();
        let mut v2 = Event::new(
            v1.metadata.clone(),
            crate::composerp::migration::inventory_updated_to_v2(&v1.payload),
        );
        v2.metadata.event_version = "2.0".into();
        // The v2 form meets the state the v1 form met.
        d.clear_state();
        let from_v2 = d.feed(v2.clone()).unwrap();
        let ids = |outs: &[Out]| -> Vec<String> {
            outs.iter().map(|o| o.metadata().event_id.clone()).collect()
        };
        assert_eq!(from_v2.len(), 2);
        assert_eq!(
            ids(&from_v1),
            ids(&from_v2),
            "same input event id, same outputs"
        );
        v2.payload.available.unit =
            weft_contracts::composerp::inventory::v2::UnitOfMeasure::Kilogram;
        let e = d.feed(v2).unwrap_err();
        assert!(
            matches!(e, ProcessError::Poison(ref m) if m.contains("pieces")),
            "{e:?}"
        );
    }

    #[test]
    fn below_the_threshold_triggers_low_stock_and_replenishment() {
        let mut d = driver();
        let input = update(ITEM, "3");
        let outs = d.feed(input.clone()).unwrap();
        assert_eq!(outs.len(), 2);
        let low = outs[0].event::<InventoryLowStock>().unwrap();
        assert_eq!(low.payload.available, dec("3"));
        assert_eq!(low.payload.threshold, dec("10"));
        let r = outs[1].event::<ReplenishmentTriggered>().unwrap();
        assert_eq!(r.payload.suggested_quantity, dec("17"));
        assert_eq!(r.payload.reorder_point, dec("10"));
        assert_eq!(
            r.payload.trigger_event_id.as_deref(),
            Some(input.metadata.event_id.as_str())
        );
    }

    #[test]
    fn thresholds_are_per_item_with_a_default() {
        let mut d = driver();
        assert!(
            d.feed(update(ITEM, "10")).unwrap().is_empty(),
            "at the threshold"
        );
        let hot = d.feed(update(HOT, "20")).unwrap();
        assert_eq!(
            hot[0]
                .event::<InventoryLowStock>()
                .unwrap()
                .payload
                .threshold,
            dec("25")
        );
    }

    #[test]
    fn it_fires_on_crossing_only_and_rearms_above_the_threshold() {
        let mut d = driver();
        assert_eq!(d.feed(update(ITEM, "12")).unwrap().len(), 0, "above");
        assert_eq!(d.feed(update(ITEM, "8")).unwrap().len(), 2, "crossed");
        assert_eq!(d.feed(update(ITEM, "5")).unwrap().len(), 0, "still below");
        assert_eq!(
            d.feed(update(ITEM, "-2")).unwrap().len(),
            0,
            "oversold, still below"
        );
        assert_eq!(
            d.feed(update(ITEM, "10")).unwrap().len(),
            0,
            "back at it: re-armed"
        );
        assert_eq!(d.feed(update(ITEM, "9")).unwrap().len(), 2, "crossed again");
        let location = InventoryUpdated::example().location_id;
        let level: Level = d.state(LEVELS, &format!("{ITEM}/{location}")).unwrap();
        assert_eq!(level.available_units, 90_000);
    }

    #[test]
    fn impossible_stock_is_poison() {
        let mut d = driver();
        let err = d.feed(update(ITEM, "101")).unwrap_err();
        assert_eq!(err.class(), "poison");
        assert!(err.message().contains("impossible"), "{err}");
    }
}
