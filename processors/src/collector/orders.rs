//! The orders service (seed 001): an approved offer becomes an order.
//!
//! - `offer.approved` -> `order.created`: the order's lines and total are the offer's, the
//!   correlation is kept (the envelope rules), and the order's identity is derived from the offer's
//!   so a replayed approval creates the same order: `order_id` is a UUID v5 of the offer id,
//!   `order_number` is the offer number with its `OFF` prefix replaced by `ORD`
//!   (`OFF-2024-001` -> `ORD-2024-001`), or `ORD-` + the offer number when it has no such prefix.
//!
//! Poison: an offer without lines, a line without a product (a free-text service line cannot be
//! ordered from stock), a quantity that is not a whole number of at least 1 (orders count units),
//! or a total that is not the sum of the lines after discount and tax.

use weft_contracts::collector::offer::OfferApproved;
use weft_contracts::collector::order::{OrderCreated, OrderLineItem};
use weft_contracts::Decimal4;
use weft_runtime::{In, Out, ProcessError, Processor};

/// The consumer group and processor name.
pub const NAME: &str = "collector.orders-service";

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .on::<OfferApproved>(order_from_offer)
        .emits::<OrderCreated>()
}

/// The order number for an offer number.
pub fn order_number(offer_number: &str) -> String {
    match offer_number.strip_prefix("OFF") {
        Some(rest) => format!("ORD{rest}"),
        None => format!("ORD-{offer_number}"),
    }
}

/// The order id for an offer id: stable across replays.
pub fn order_id(offer_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("collector.order/{offer_id}").as_bytes(),
    )
    .to_string()
}

/// `offer.approved` -> `order.created`.
pub fn order_from_offer(offer: &In<OfferApproved>) -> Result<Vec<Out>, ProcessError> {
    let o = offer.payload();
    let poison = |why: String| ProcessError::Poison(format!("offer {}: {why}", o.offer_number));
    if o.line_items.is_empty() {
        return Err(poison("approved without line items".into()));
    }
    let mut lines = Vec::with_capacity(o.line_items.len());
    for (n, l) in o.line_items.iter().enumerate() {
        let product_id = l
            .product_id
            .clone()
            .ok_or_else(|| poison(format!("line {n} ({}) has no product", l.description)))?;
        let units = l.quantity.units();
        if units % 10_000 != 0 || units < 10_000 {
            return Err(poison(format!(
                "line {n} ({}) has quantity {}, not a whole number of units",
                l.description, l.quantity
            )));
        }
        lines.push(OrderLineItem {
            product_id,
            sku: None,
            description: l.description.clone(),
            quantity: i32::try_from(units / 10_000)
                .map_err(|_| poison(format!("line {n} quantity {} is too large", l.quantity)))?,
            unit_price: l.unit_price,
            warehouse_id: None,
        });
    }
    let order = OrderCreated {
        order_id: order_id(&o.offer_id),
        order_number: order_number(&o.offer_number),
        customer_id: o.customer_id.clone(),
        offer_id: Some(o.offer_id.clone()),
        line_items: lines,
        currency: o.currency.clone(),
        grand_total: o.grand_total,
    };
    if order.grand_total.is_negative() || order.grand_total == Decimal4::default() {
        return Err(poison(format!(
            "grand total {} is not positive",
            o.grand_total
        )));
    }
    Ok(vec![offer.emit(0, order)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn approved(f: impl FnOnce(&mut OfferApproved)) -> Event<OfferApproved> {
        let mut p = OfferApproved::example();
        f(&mut p);
        Event::new(
            EventMetadata::new_for::<OfferApproved>("crm-service", "user-1"),
            p,
        )
    }

    #[test]
    fn an_approved_offer_becomes_an_order_with_its_lines_and_total() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let input = approved(|_| {});
        let outs = driver.feed(input.clone()).unwrap();
        assert_eq!(outs.len(), 1);
        let order = outs[0].event::<OrderCreated>().unwrap();
        let p = &order.payload;
        assert_eq!(p.order_id, order_id(&input.payload.offer_id));
        assert_eq!(outs[0].key(), p.order_id, "keyed by the new order");
        assert_eq!(p.order_number, order_number(&input.payload.offer_number));
        assert_eq!(p.offer_id.as_deref(), Some(input.payload.offer_id.as_str()));
        assert_eq!(p.customer_id, input.payload.customer_id);
        assert_eq!(p.grand_total, input.payload.grand_total);
        assert_eq!(p.currency, input.payload.currency);
        assert_eq!(p.line_items.len(), input.payload.line_items.len());
        for (l, o) in p.line_items.iter().zip(&input.payload.line_items) {
            assert_eq!(Some(&l.product_id), o.product_id.as_ref());
            assert_eq!(l.unit_price, o.unit_price);
            assert_eq!(Decimal4::from_int(l.quantity.into()), o.quantity);
        }
        assert_eq!(order.metadata.correlation_id, input.metadata.correlation_id);
    }

    #[test]
    fn the_order_number_and_id_follow_the_offer() {
        assert_eq!(order_number("OFF-2024-001"), "ORD-2024-001");
        assert_eq!(order_number("Q-77"), "ORD-Q-77");
        assert_eq!(order_id("a"), order_id("a"));
        assert_ne!(order_id("a"), order_id("b"));
    }

    #[test]
    fn offers_that_cannot_become_orders_are_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        for (what, input) in [
            ("without line items", approved(|p| p.line_items.clear())),
            (
                "has no product",
                approved(|p| p.line_items[0].product_id = None),
            ),
            (
                "not a whole number",
                approved(|p| p.line_items[0].quantity = dec("1.5")),
            ),
            ("not positive", approved(|p| p.grand_total = dec("0"))),
        ] {
            let err = driver.feed(input).unwrap_err();
            assert_eq!(err.class(), "poison", "{what}");
            assert!(err.message().contains(what), "{what}: {err}");
        }
    }
}
