//! The inventory worker (seed 003): stock reserved for an order goes back on cancellation, with
//! the availability before and after.
//!
//! - `inventory.reserved` / `inventory.restocked` (the ecommerce api's, which owns stock) -> the
//!   product's (and variant's) availability as the api reports it (`new_available`) is kept in
//!   the store `availability`, keyed `<product_id>/<variant_id or ->`;
//! - `order.cancelled` -> one `inventory.released` per line item, reason `cancellation`,
//!   referencing the order, with `previous_available` and `new_available` (previous + the
//!   line's quantity), and the availability moves on by the released quantity. The order's lines
//!   touch several products, so the cancellation is **fanned out** by product through the
//!   group's repartition topic: each product's copy releases that product's lines on its
//!   product's partition, where its availability lives. Line `n` is output index `n`, so a
//!   replayed cancellation yields the same event ids.
//!
//! Availability the worker has not seen (no reserved/restocked event of the product yet) is
//! released with null figures rather than a made-up 0; the next api event sets it. The api's own
//! releases (reservation timeouts) are not read: its next reserved/restocked event carries the
//! absolute figure again. Poison: a cancellation without lines, or a line with a quantity below 1.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::b2b::inventory::{
    InventoryReleased, InventoryReserved, InventoryRestocked, ReleaseReason,
};
use weft_contracts::b2b::order::OrderCancelled;
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "b2b.inventory-worker";

/// The store of availability per product and variant.
pub const AVAILABILITY: &str = "availability";

/// Units available of one product (variant), as last known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "b2b.inventory.state")]
pub struct Available {
    pub units: i32,
    /// The last cancellations released here (event ids, at most [`REMEMBERED`]): one delivered
    /// again upstream, or replayed from the dead-letter topic, adds nothing twice.
    #[serde(default)]
    #[avro(default = "[]")]
    pub released_by: Vec<String>,
}

/// Cancellation ids a position remembers.
pub const REMEMBERED: usize = 64;

/// The store key of a product (variant).
pub fn position(product_id: &str, variant_id: Option<&str>) -> String {
    format!("{product_id}/{}", variant_id.unwrap_or("-"))
}

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .store::<Available>(AVAILABILITY)
        .on_stateful_by::<InventoryReserved>(
            |r| r.product_id.clone(),
            |i, s| {
                let r = i.payload();
                set(s, &r.product_id, r.variant_id.as_deref(), r.new_available)
            },
        )
        .on_stateful_by::<InventoryRestocked>(
            |r| r.product_id.clone(),
            |i, s| {
                let r = i.payload();
                set(s, &r.product_id, r.variant_id.as_deref(), r.new_available)
            },
        )
        .on_stateful_by_each::<OrderCancelled>(
            // No lines: one copy under the order's id, which the function dead-letters.
            |o| {
                if o.items.is_empty() {
                    vec![o.order_id.clone()]
                } else {
                    o.items.iter().map(|i| i.product_id.clone()).collect()
                }
            },
            release_on_cancellation,
        )
        .emits::<InventoryReleased>()
}

fn set(
    state: &mut State<'_>,
    product_id: &str,
    variant_id: Option<&str>,
    units: i32,
) -> Result<Vec<Out>, ProcessError> {
    let mut available = state.store::<Available>(AVAILABILITY)?;
    let at = position(product_id, variant_id);
    let released_by = available
        .get(&at)?
        .map(|a| a.released_by)
        .unwrap_or_default();
    available.put(&at, &Available { units, released_by })?;
    Ok(vec![])
}

/// `order.cancelled` (the copy for one product) -> one release per line of that product.
pub fn release_on_cancellation(
    order: &In<OrderCancelled>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let o = order.payload();
    if o.items.is_empty() {
        return Err(ProcessError::Poison(format!(
            "cancelled order {} has no line items to release",
            o.order_number
        )));
    }
    if let Some((n, item)) = o.items.iter().enumerate().find(|(_, i)| i.quantity < 1) {
        return Err(ProcessError::Poison(format!(
            "cancelled order {} line {n} ({}) has quantity {}",
            o.order_number, item.sku, item.quantity
        )));
    }
    let mut available = state.store::<Available>(AVAILABILITY)?;
    let mut outs = Vec::new();
    for (n, item) in o.items.iter().enumerate() {
        // This copy's product only (all of them when not fanned out).
        if order.part.as_ref().is_some_and(|p| *p != item.product_id) {
            continue;
        }
        let at = position(&item.product_id, item.variant_id.as_deref());
        let known = available.get(&at)?;
        let id = &order.metadata().event_id;
        let line_id = format!("{id}/{n}");
        if known
            .as_ref()
            .is_some_and(|a| a.released_by.contains(&line_id))
        {
            // Released before (the same cancellation again): nothing moves, nothing is sent.
            continue;
        }
        let previous = known.as_ref().map(|a| a.units);
        let new = match known {
            Some(mut a) => {
                let new = a.units.checked_add(item.quantity).ok_or_else(|| {
                    ProcessError::Poison(format!("availability of {} overflows", item.sku))
                })?;
                a.units = new;
                a.released_by.push(line_id);
                let excess = a.released_by.len().saturating_sub(REMEMBERED);
                a.released_by.drain(..excess);
                available.put(&at, &a)?;
                Some(new)
            }
            None => None,
        };
        outs.push(order.emit(
            n as u32,
            InventoryReleased {
                product_id: item.product_id.clone(),
                variant_id: item.variant_id.clone(),
                sku: item.sku.clone(),
                quantity: item.quantity,
                reason: ReleaseReason::Cancellation,
                reference_id: o.order_id.clone(),
                previous_available: previous,
                new_available: new,
            },
        ));
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::b2b::order::OrderCancelledItem;
    use weft_contracts::{Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn cancelled(items: Vec<OrderCancelledItem>) -> Event<OrderCancelled> {
        let mut p = OrderCancelled::example();
        p.items = items;
        Event::new(
            EventMetadata::new_for::<OrderCancelled>("ecommerce-api", "user-1"),
            p,
        )
    }

    fn item(product: &str, sku: &str, quantity: i32) -> OrderCancelledItem {
        let mut i = OrderCancelled::example().items[0].clone();
        i.product_id = product.into();
        i.variant_id = None;
        i.sku = sku.into();
        i.quantity = quantity;
        i
    }

    fn restocked(product: &str, available: i32) -> Event<InventoryRestocked> {
        let mut r = InventoryRestocked::example();
        r.product_id = product.into();
        r.variant_id = None;
        r.new_available = available;
        Event::new(
            EventMetadata::new_for::<InventoryRestocked>("ecommerce-api", "user-1"),
            r,
        )
    }

    #[test]
    fn each_line_is_released_with_its_quantity_and_a_distinct_id() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let (a, b) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        driver.feed(restocked(&a, 40)).unwrap();
        let input = cancelled(vec![
            item(&a, "SKU-A", 2),
            item(&b, "SKU-B", 5),
            item(&a, "SKU-A", 3),
        ]);
        let outs = driver.feed(input.clone()).unwrap();
        assert_eq!(outs.len(), 3);
        let mut released: Vec<&Event<InventoryReleased>> = outs
            .iter()
            .map(|o| o.event::<InventoryReleased>().unwrap())
            .collect();
        released.sort_by_key(|e| (e.payload.sku.clone(), e.payload.quantity));
        assert_eq!(
            released
                .iter()
                .map(|e| (
                    e.payload.sku.as_str(),
                    e.payload.quantity,
                    e.payload.previous_available,
                    e.payload.new_available
                ))
                .collect::<Vec<_>>(),
            [
                ("SKU-A", 2, Some(40), Some(42)),
                ("SKU-A", 3, Some(42), Some(45)),
                // Never seen: nothing made up.
                ("SKU-B", 5, None, None),
            ]
        );
        for e in &released {
            assert_eq!(e.payload.reason, ReleaseReason::Cancellation);
            assert_eq!(e.payload.reference_id, input.payload.order_id);
        }
        let ids: std::collections::BTreeSet<&str> = released
            .iter()
            .map(|e| e.metadata.event_id.as_str())
            .collect();
        assert_eq!(ids.len(), 3, "every release its own id");
        let units = |d: &TestDriver| {
            d.state::<Available>(AVAILABILITY, &position(&a, None))
                .map(|a| a.units)
        };
        assert_eq!(units(&driver), Some(45));
        // The same cancellation again (delivered twice upstream, or replayed from the
        // dead-letter topic): the known product moves no further and sends nothing twice; the
        // unknown one is released again under the same id (there is nothing to move).
        let again = driver.feed(input).unwrap();
        assert_eq!(units(&driver), Some(45));
        let again: Vec<String> = again
            .iter()
            .map(|o| {
                o.event::<InventoryReleased>()
                    .unwrap()
                    .metadata
                    .event_id
                    .clone()
            })
            .collect();
        assert_eq!(again.len(), 1);
        assert!(
            ids.contains(again[0].as_str()),
            "the same id as the first time"
        );
    }

    #[test]
    fn a_cancellation_without_lines_or_with_a_zero_line_is_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let err = driver.feed(cancelled(vec![])).unwrap_err();
        assert_eq!(err.class(), "poison");
        let a = uuid::Uuid::new_v4().to_string();
        let err = driver
            .feed(cancelled(vec![item(&a, "SKU-A", 2), item(&a, "SKU-Z", 0)]))
            .unwrap_err();
        assert!(err.message().contains("SKU-Z"), "{err}");
    }
}
