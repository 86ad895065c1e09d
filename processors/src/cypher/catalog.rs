//! The catalog worker (seed 000): stock and price changes become product updates, for cache
//! invalidation and the search index.
//!
//! - `stock.changed` -> `product.updated`, change type `stock_status_changed`, with the previous
//!   and new `stock_quantity` and `stock_status`. The status follows the seed's rule: 0 is
//!   `out_of_stock`, below the product's `threshold_low_stock` is `low_stock`, else `in_stock`
//!   (the status the inventory service sent is used when no threshold comes with the event);
//! - `price.changed` -> `product.updated`, change type `price_changed`, with the previous and new
//!   `price` (and `currency`).
//!
//! The product snapshot carries what the event tells; name, status and visibility are held by the
//! catalog and read `unknown` from this stateless worker until keyed state arrives. Poison: a
//! negative quantity, a stock change whose numbers do not add up (`previous + change != new`), a
//! price change to a negative price.

use std::collections::BTreeMap;

use weft_contracts::cypher::price::PriceChanged;
use weft_contracts::cypher::product::{
    ProductChangeType, ProductSnapshot, ProductStockStatus, ProductUpdated,
};
use weft_contracts::cypher::stock::{StockChanged, StockStatus};
use weft_runtime::{In, Out, ProcessError, Processor};

/// The consumer group and processor name.
pub const NAME: &str = "cypher.catalog-worker";

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .on::<StockChanged>(stock_to_product)
        .on::<PriceChanged>(price_to_product)
        .emits::<ProductUpdated>()
}

/// The seed's stock-status rule: the product's status from a stock level (the status the stock
/// event sent when there is no threshold to judge by).
pub fn stock_status(
    quantity: i32,
    threshold: Option<i32>,
    sent: StockStatus,
) -> ProductStockStatus {
    match threshold {
        _ if quantity == 0 => ProductStockStatus::OutOfStock,
        Some(t) if quantity < t => ProductStockStatus::LowStock,
        Some(_) => ProductStockStatus::InStock,
        None => ProductStockStatus::from_symbol(sent.as_str()),
    }
}

fn snapshot(
    product_id: &str,
    status: Option<ProductStockStatus>,
    quantity: Option<i32>,
) -> ProductSnapshot {
    ProductSnapshot {
        id: product_id.to_string(),
        name: "unknown".into(),
        status: "unknown".into(),
        visibility: "unknown".into(),
        stock_status: status,
        stock_quantity: quantity,
    }
}

/// `stock.changed` -> `product.updated` (stock status).
pub fn stock_to_product(change: &In<StockChanged>) -> Result<Vec<Out>, ProcessError> {
    let c = change.payload();
    if c.new_quantity < 0 || c.previous_quantity < 0 {
        return Err(ProcessError::Poison(format!(
            "stock of {} cannot be negative ({} -> {})",
            c.sku, c.previous_quantity, c.new_quantity
        )));
    }
    if c.previous_quantity.checked_add(c.quantity_change) != Some(c.new_quantity) {
        return Err(ProcessError::Poison(format!(
            "stock change of {} does not add up: {} {:+} != {}",
            c.sku, c.previous_quantity, c.quantity_change, c.new_quantity
        )));
    }
    let before = stock_status(c.previous_quantity, c.threshold_low_stock, c.stock_status);
    let after = stock_status(c.new_quantity, c.threshold_low_stock, c.stock_status);
    let values = |q: i32, s: ProductStockStatus| {
        BTreeMap::from([
            ("stock_quantity".to_string(), q.to_string()),
            ("stock_status".to_string(), s.as_str().to_string()),
        ])
    };
    Ok(vec![change.emit(
        0,
        ProductUpdated {
            product_id: c.product_id.clone(),
            sku: c.sku.clone(),
            updated_at: c.changed_at,
            updated_by: NAME.into(),
            change_type: ProductChangeType::StockStatusChanged,
            previous_values: values(c.previous_quantity, before),
            new_values: values(c.new_quantity, after),
            product: snapshot(&c.product_id, Some(after), Some(c.new_quantity)),
        },
    )])
}

/// `price.changed` -> `product.updated` (price).
pub fn price_to_product(change: &In<PriceChanged>) -> Result<Vec<Out>, ProcessError> {
    let c = change.payload();
    if c.new_price.is_negative() {
        return Err(ProcessError::Poison(format!(
            "new price of {} is negative ({})",
            c.sku, c.new_price
        )));
    }
    let values = |price: String| {
        BTreeMap::from([
            ("price".to_string(), price),
            ("currency".to_string(), c.currency.clone()),
        ])
    };
    Ok(vec![change.emit(
        0,
        ProductUpdated {
            product_id: c.product_id.clone(),
            sku: c.sku.clone(),
            updated_at: c.changed_at,
            updated_by: NAME.into(),
            change_type: ProductChangeType::PriceChanged,
            previous_values: values(c.previous_price.to_string()),
            new_values: values(c.new_price.to_string()),
            product: snapshot(&c.product_id, None, None),
        },
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn stock(previous: i32, change: i32, threshold: Option<i32>) -> Event<StockChanged> {
        let mut p = StockChanged::example();
        p.previous_quantity = previous;
        p.quantity_change = change;
        p.new_quantity = previous + change;
        p.threshold_low_stock = threshold;
        Event::new(
            EventMetadata::new_for::<StockChanged>("inventory-service", "u"),
            p,
        )
    }

    #[test]
    fn a_stock_drop_below_the_threshold_is_a_low_stock_update() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let outs = driver.feed(stock(12, -5, Some(10))).unwrap();
        let u = outs[0].event::<ProductUpdated>().unwrap();
        assert_eq!(u.payload.change_type, ProductChangeType::StockStatusChanged);
        assert_eq!(u.payload.previous_values["stock_status"], "in_stock");
        assert_eq!(u.payload.new_values["stock_status"], "low_stock");
        assert_eq!(u.payload.previous_values["stock_quantity"], "12");
        assert_eq!(u.payload.new_values["stock_quantity"], "7");
        assert_eq!(u.payload.product.stock_quantity, Some(7));
        let gone = driver.feed(stock(3, -3, Some(10))).unwrap();
        let u = gone[0].event::<ProductUpdated>().unwrap();
        assert_eq!(
            u.payload.product.stock_status,
            Some(ProductStockStatus::OutOfStock)
        );
    }

    #[test]
    fn a_price_change_carries_both_prices_exactly() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let mut p = PriceChanged::example();
        p.previous_price = dec("19.9900");
        p.new_price = dec("17.4900");
        let outs = driver
            .feed(Event::new(
                EventMetadata::new_for::<PriceChanged>("pricing", "u"),
                p,
            ))
            .unwrap();
        let u = outs[0].event::<ProductUpdated>().unwrap();
        assert_eq!(u.payload.change_type, ProductChangeType::PriceChanged);
        assert_eq!(u.payload.previous_values["price"], dec("19.99").to_string());
        assert_eq!(u.payload.new_values["price"], dec("17.49").to_string());
    }

    #[test]
    fn impossible_changes_are_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let mut bad = stock(5, -2, None);
        bad.payload.new_quantity = 4;
        assert!(driver
            .feed(bad)
            .unwrap_err()
            .message()
            .contains("does not add up"));
        assert!(driver
            .feed(stock(1, -3, None))
            .unwrap_err()
            .message()
            .contains("negative"));
        let mut p = PriceChanged::example();
        p.new_price = dec("-1");
        let err = driver
            .feed(Event::new(
                EventMetadata::new_for::<PriceChanged>("pricing", "u"),
                p,
            ))
            .unwrap_err();
        assert_eq!(err.class(), "poison");
    }
}
