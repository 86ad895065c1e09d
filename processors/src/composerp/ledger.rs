//! The inventory ledger service (seed 002): every sale and receipt is a ledger transaction on an
//! inventory position (item at a location), and each one publishes the position after it.
//!
//! - `SALE_COMPLETED` -> on hand minus the quantity; `RECEIPT_COMPLETED` -> on hand plus it; each
//!   -> `INVENTORY_UPDATED` with the new on hand and available, the transaction (its id derived
//!   from the input event's, so a replay gives the same one) and its type.
//! - State: the store `positions`, keyed `<item_id>/<location_id>` (both inputs are keyed by item,
//!   so a position's transactions arrive in order on one partition).
//! - Available is on hand: seed 002 names no reservation event, so nothing is set aside.
//! - A sale larger than what is on hand is booked (the till sold it): on hand goes negative, which
//!   is what the replenishment service needs to see.
//! - Idempotent by event id: a position remembers the ids of its last `remembered` events
//!   (`WEFT_LEDGER_REMEMBERED_EVENTS`, [`REMEMBERED`] by default), and an event seen again (an
//!   upstream producer that published it twice) books nothing. Kafka transactions already make
//!   each *record* count once; this guards against the same *event* published twice. With 0 it
//!   is off (the exactly-once proof runs so, where a record counted twice must show).
//! - Poison: a quantity that is not positive.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::composerp::inventory::{InventoryUpdated, TransactionType};
use weft_contracts::composerp::receipt::ReceiptCompleted;
use weft_contracts::composerp::sale::SaleCompleted;
use weft_contracts::{Contract, Decimal4};
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "composerp.inventory-ledger-service";

/// The store of positions.
pub const POSITIONS: &str = "positions";

/// Event ids a position remembers by default, for duplicate detection.
pub const REMEMBERED: usize = 32;

/// One inventory position, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "composerp.ledger")]
pub struct Position {
    /// On hand, in ten-thousandths (the contracts' `decimal(18,4)` unscaled).
    pub on_hand_units: i64,
    /// Transactions booked.
    pub transactions: i64,
    /// Ids of the last events booked, oldest first.
    pub recent_events: Vec<String>,
}

/// The registration; each position remembers its last `remembered` event ids.
pub fn processor(remembered: usize) -> Processor {
    Processor::new(NAME)
        .store::<Position>(POSITIONS)
        .on_stateful::<SaleCompleted>(move |i, state| {
            let p = i.payload();
            let line = (&*p.item_id, &*p.location_id, p.quantity);
            book(i, state, remembered, line, TransactionType::Sale)
        })
        .on_stateful::<ReceiptCompleted>(move |i, state| {
            let p = i.payload();
            let line = (&*p.item_id, &*p.location_id, p.quantity);
            book(i, state, remembered, line, TransactionType::Receipt)
        })
        .emits::<InventoryUpdated>()
}

/// The position id of an item at a location: stable, so every event of a position names it.
pub fn position_id(item: &str, location: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("composerp.position/{item}/{location}").as_bytes(),
    )
    .to_string()
}

/// Books one transaction of `quantity` (a sale takes it away) and publishes the position.
fn book<P: Contract>(
    input: &In<P>,
    state: &mut State<'_>,
    remembered: usize,
    (item, location, quantity): (&str, &str, Decimal4),
    kind: TransactionType,
) -> Result<Vec<Out>, ProcessError> {
    if quantity.is_negative() || quantity == Decimal4::ZERO {
        return Err(ProcessError::Poison(format!(
            "{kind:?} of item {item} at {location}: quantity {quantity} is not positive"
        )));
    }
    let delta = match kind {
        TransactionType::Sale => -quantity.units(),
        _ => quantity.units(),
    };
    let event_id = &input.metadata().event_id;
    let key = format!("{item}/{location}");
    let mut positions = state.store::<Position>(POSITIONS)?;
    let mut position = positions.get(&key)?.unwrap_or(Position {
        on_hand_units: 0,
        transactions: 0,
        recent_events: Vec::new(),
    });
    if position.recent_events.iter().any(|e| e == event_id) {
        tracing::info!("{kind:?} {event_id} of {key} was booked already: nothing booked again");
        return Ok(vec![]);
    }
    let on_hand = i128::from(position.on_hand_units) + delta;
    let on_hand_units = i64::try_from(on_hand)
        .ok()
        .filter(|_| Decimal4::from_units(on_hand).is_ok())
        .ok_or_else(|| ProcessError::Poison(format!("{key}: on hand overflows")))?;
    position.on_hand_units = on_hand_units;
    position.transactions += 1;
    position.recent_events.push(event_id.clone());
    let excess = position.recent_events.len().saturating_sub(remembered);
    position.recent_events.drain(..excess);
    positions.put(&key, &position)?;
    let on_hand =
        Decimal4::from_units(on_hand).map_err(|e| ProcessError::Poison(format!("{key}: {e}")))?;
    let transaction_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("composerp.ledger-transaction/{event_id}").as_bytes(),
    )
    .to_string();
    Ok(vec![input.emit(
        0,
        InventoryUpdated {
            position_id: position_id(item, location),
            item_id: item.to_string(),
            location_id: location.to_string(),
            on_hand,
            available: on_hand,
            transaction_id,
            transaction_type: kind,
        },
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    const ITEM: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const STORE: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    fn sale(quantity: &str) -> Event<SaleCompleted> {
        let mut p = SaleCompleted::example();
        p.item_id = ITEM.into();
        p.location_id = STORE.into();
        p.quantity = dec(quantity);
        Event::new(EventMetadata::new_for::<SaleCompleted>("pos", "u"), p)
    }

    fn receipt(quantity: &str) -> Event<ReceiptCompleted> {
        let mut p = ReceiptCompleted::example();
        p.item_id = ITEM.into();
        p.location_id = STORE.into();
        p.quantity = dec(quantity);
        Event::new(EventMetadata::new_for::<ReceiptCompleted>("wms", "u"), p)
    }

    fn on_hand(outs: &[Out]) -> Decimal4 {
        let u = outs[0].event::<InventoryUpdated>().unwrap();
        assert_eq!(u.payload.available, u.payload.on_hand);
        u.payload.on_hand
    }

    #[test]
    fn receipts_add_sales_take_away_and_the_position_is_remembered() {
        let mut d = TestDriver::new(processor(REMEMBERED)).unwrap();
        assert_eq!(on_hand(&d.feed(receipt("100")).unwrap()), dec("100"));
        let outs = d.feed(sale("15.5")).unwrap();
        assert_eq!(on_hand(&outs), dec("84.5"));
        let u = outs[0].event::<InventoryUpdated>().unwrap();
        assert_eq!(u.payload.transaction_type, TransactionType::Sale);
        assert_eq!(u.payload.position_id, position_id(ITEM, STORE));
        let kept: Position = d.state(POSITIONS, &format!("{ITEM}/{STORE}")).unwrap();
        assert_eq!((kept.on_hand_units, kept.transactions), (845_000, 2));
        // Overselling is booked: the till sold it.
        assert_eq!(on_hand(&d.feed(sale("90")).unwrap()), dec("-5.5"));
        assert_eq!(d.changes().len(), 3, "one changelog write per transaction");
    }

    #[test]
    fn an_event_seen_again_books_nothing() {
        let mut d = TestDriver::new(processor(REMEMBERED)).unwrap();
        let r = receipt("10");
        d.feed(r.clone()).unwrap();
        assert!(d.feed(r).unwrap().is_empty());
        assert_eq!(on_hand(&d.feed(receipt("1")).unwrap()), dec("11"));
        // Duplicate detection off: the same event books twice.
        let mut d = TestDriver::new(processor(0)).unwrap();
        let r = receipt("10");
        d.feed(r.clone()).unwrap();
        assert_eq!(on_hand(&d.feed(r).unwrap()), dec("20"));
    }

    #[test]
    fn a_quantity_that_is_not_positive_is_poison_and_changes_nothing() {
        let mut d = TestDriver::new(processor(REMEMBERED)).unwrap();
        d.feed(receipt("10")).unwrap();
        let err = d.feed(sale("0")).unwrap_err();
        assert_eq!(err.class(), "poison");
        assert_eq!(on_hand(&d.feed(sale("1")).unwrap()), dec("9"));
    }
}
