//! `composerp.inventory.updated.v1` -> `.v2`: the transform of the migration (docs/migration.md).
//!
//! v2 carries each quantity with its unit of measure. v1 positions count pieces, so the forward
//! transform is total: every v1 event has exactly one v2 event (`EACH`). The way back (rollback)
//! is partial: a v2 quantity in another unit has no v1 form, and is refused with the reason rather
//! than silently read as pieces.

use weft_contracts::composerp::inventory::v2::{
    InventoryUpdated as V2, Quantity, TransactionType as V2TransactionType, UnitOfMeasure,
};
use weft_contracts::composerp::inventory::{InventoryUpdated as V1, TransactionType};
use weft_contracts::Decimal4;

/// The registration: migration `composerp.inventory.updated` (declared in
/// `topics/migrations/composerp.inventory.updated.yaml`).
pub fn transform() -> weft_runtime::migration::Transform {
    weft_runtime::migration::Transform::new(
        "composerp.inventory.updated",
        inventory_updated_to_v2,
        inventory_updated_to_v1,
    )
}

/// The v2 event of a v1 event.
pub fn inventory_updated_to_v2(v1: &V1) -> V2 {
    let pieces = |value: Decimal4| Quantity {
        value,
        unit: UnitOfMeasure::Each,
    };
    V2 {
        position_id: v1.position_id.clone(),
        item_id: v1.item_id.clone(),
        location_id: v1.location_id.clone(),
        on_hand: pieces(v1.on_hand),
        available: pieces(v1.available),
        transaction_id: v1.transaction_id.clone(),
        transaction_type: V2TransactionType::from_symbol(v1.transaction_type.as_str()),
    }
}

/// The v1 event of a v2 event, when v1 can say it: quantities in pieces only.
pub fn inventory_updated_to_v1(v2: &V2) -> Result<V1, String> {
    let pieces = |what: &str, q: &Quantity| match q.unit {
        UnitOfMeasure::Each => Ok(q.value),
        other => Err(format!(
            "{what} of position {} is in {}; v1 counts pieces only",
            v2.position_id,
            other.as_str()
        )),
    };
    Ok(V1 {
        position_id: v2.position_id.clone(),
        item_id: v2.item_id.clone(),
        location_id: v2.location_id.clone(),
        on_hand: pieces("on_hand", &v2.on_hand)?,
        available: pieces("available", &v2.available)?,
        transaction_id: v2.transaction_id.clone(),
        transaction_type: TransactionType::from_symbol(v2.transaction_type.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Contract, Example};

    #[test]
    fn every_v1_event_has_its_v2_event_and_comes_back_unchanged() {
        let v1 = V1::example();
        let v2 = inventory_updated_to_v2(&v1);
        assert_eq!(v2.on_hand.value, v1.on_hand);
        assert_eq!(v2.on_hand.unit, UnitOfMeasure::Each);
        assert_eq!(v2.available.value, v1.available);
        assert_eq!(v2.transaction_type.as_str(), v1.transaction_type.as_str());
        assert_eq!(
            v2.key(),
            v1.key(),
            "the same key, so the same partition in both topics"
        );
        assert_eq!(inventory_updated_to_v1(&v2), Ok(v1));
    }

    #[test]
    fn the_v2_example_is_the_transform_of_the_v1_example() {
        assert_eq!(inventory_updated_to_v2(&V1::example()), V2::example());
    }

    #[test]
    fn a_quantity_v1_cannot_express_is_refused_on_the_way_back() {
        let mut v2 = V2::example();
        v2.on_hand = Quantity {
            value: dec("12.5"),
            unit: UnitOfMeasure::Kilogram,
        };
        let err = inventory_updated_to_v1(&v2).unwrap_err();
        assert!(err.contains("on_hand") && err.contains("KILOGRAM"), "{err}");
    }

    #[test]
    fn the_topics_are_the_two_versions_of_one_event() {
        assert_eq!(V1::TOPIC, "composerp.inventory.updated.v1");
        assert_eq!(V2::TOPIC, "composerp.inventory.updated.v2");
        assert_eq!(V1::EVENT_TYPE, V2::EVENT_TYPE);
        assert_eq!(V1::KEY_FIELD, V2::KEY_FIELD);
        assert_eq!(V2::EVENT_VERSION, "2.0");
    }
}
