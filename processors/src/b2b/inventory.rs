//! The inventory worker (seed 003): stock reserved for an order goes back on cancellation.
//!
//! - `order.cancelled` -> one `inventory.released` per line item, reason `cancellation`,
//!   referencing the order; line `n` is output index `n`, so a replayed cancellation yields the
//!   same event ids.
//!
//! Stock levels before and after the release are kept by the inventory service; this stateless
//! worker does not know them and sends 0 for `previous_available` and `new_available` until keyed
//! state arrives. Poison: a cancellation without lines, or a line with a quantity below 1.

use weft_contracts::b2b::inventory::{InventoryReleased, ReleaseReason};
use weft_contracts::b2b::order::OrderCancelled;
use weft_runtime::{In, Out, ProcessError, Processor};

/// The consumer group and processor name.
pub const NAME: &str = "b2b.inventory-worker";

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .on::<OrderCancelled>(release_on_cancellation)
        .emits::<InventoryReleased>()
}

/// `order.cancelled` -> one release per line.
pub fn release_on_cancellation(order: &In<OrderCancelled>) -> Result<Vec<Out>, ProcessError> {
    let o = order.payload();
    if o.items.is_empty() {
        return Err(ProcessError::Poison(format!(
            "cancelled order {} has no line items to release",
            o.order_number
        )));
    }
    o.items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            if item.quantity < 1 {
                return Err(ProcessError::Poison(format!(
                    "cancelled order {} line {n} ({}) has quantity {}",
                    o.order_number, item.sku, item.quantity
                )));
            }
            Ok(order.emit(
                n as u32,
                InventoryReleased {
                    product_id: item.product_id.clone(),
                    variant_id: item.variant_id.clone(),
                    sku: item.sku.clone(),
                    quantity: item.quantity,
                    reason: ReleaseReason::Cancellation,
                    reference_id: o.order_id.clone(),
                    previous_available: 0,
                    new_available: 0,
                },
            ))
        })
        .collect()
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

    fn item(sku: &str, quantity: i32) -> OrderCancelledItem {
        let mut i = OrderCancelled::example().items[0].clone();
        i.sku = sku.into();
        i.quantity = quantity;
        i
    }

    #[test]
    fn each_line_is_released_with_its_quantity_and_a_distinct_id() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let input = cancelled(vec![item("SKU-A", 2), item("SKU-B", 5)]);
        let outs = driver.feed(input.clone()).unwrap();
        assert_eq!(outs.len(), 2);
        let released: Vec<&Event<InventoryReleased>> = outs
            .iter()
            .map(|o| o.event::<InventoryReleased>().unwrap())
            .collect();
        assert_eq!(
            released
                .iter()
                .map(|e| (e.payload.sku.as_str(), e.payload.quantity))
                .collect::<Vec<_>>(),
            [("SKU-A", 2), ("SKU-B", 5)]
        );
        for e in &released {
            assert_eq!(e.payload.reason, ReleaseReason::Cancellation);
            assert_eq!(e.payload.reference_id, input.payload.order_id);
        }
        assert_ne!(released[0].metadata.event_id, released[1].metadata.event_id);
    }

    #[test]
    fn a_cancellation_without_lines_or_with_a_zero_line_is_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let err = driver.feed(cancelled(vec![])).unwrap_err();
        assert_eq!(err.class(), "poison");
        let err = driver
            .feed(cancelled(vec![item("SKU-A", 2), item("SKU-Z", 0)]))
            .unwrap_err();
        assert!(err.message().contains("SKU-Z"), "{err}");
    }
}
