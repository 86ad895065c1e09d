//! The catalog worker (seed 000): stock and price changes become product updates, for cache
//! invalidation and the search index.
//!
//! - `product.created` -> nothing; the product's name, status and visibility are kept in
//!   the store `products` (keyed by product id, the key of all three input topics, which are
//!   co-partitioned);
//! - `stock.changed` -> `product.updated`, change type `stock_status_changed`, with the previous
//!   and new `stock_quantity` and `stock_status`. The status follows the seed's rule: 0 is
//!   `out_of_stock`, below the product's `threshold_low_stock` is `low_stock`, else `in_stock`
//!   (the status the inventory service sent is used when no threshold comes with the event);
//!   the stock figures are kept;
//! - `price.changed` -> `product.updated`, change type `price_changed`, with the previous and new
//!   `price` (and `currency`).
//!
//! The snapshot in each `product.updated` is the product as the worker knows it: name, status
//! and visibility from its `product.created`, the last stock figures. A product whose
//! `product.created` the worker has not seen (created before the worker ran, or still on its way
//! in another topic) gets null for what it does not know, never a made-up value. Poison: a
//! negative quantity, a stock change whose numbers do not add up (`previous + change != new`), a
//! price change to a negative price.

use std::collections::BTreeMap;

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::cypher::price::PriceChanged;
use weft_contracts::cypher::product::{
    ProductChangeType, ProductCreated, ProductSnapshot, ProductStockStatus, ProductUpdated,
};
use weft_contracts::cypher::stock::{StockChanged, StockStatus};
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "cypher.catalog-worker";

/// The store of known products, by product id.
pub const PRODUCTS: &str = "products";

/// What the worker knows of a product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "cypher.catalog")]
pub struct Product {
    /// From `product.created`, when seen.
    pub name: Option<String>,
    /// Catalog status, from `product.created`.
    pub status: Option<String>,
    /// Visibility, from `product.created`.
    pub visibility: Option<String>,
    /// Units in stock at the last `stock.changed`.
    pub stock_quantity: Option<i32>,
    /// Stock status at the last `stock.changed` (a `ProductStockStatus` symbol).
    pub stock_status: Option<String>,
}

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .store::<Product>(PRODUCTS)
        .on_stateful::<ProductCreated>(remember_product)
        .on_stateful::<StockChanged>(stock_to_product)
        .on_stateful::<PriceChanged>(price_to_product)
        .emits::<ProductUpdated>()
}

/// `product.created` -> the product is remembered (its stock figures, if a stock change came
/// first, are kept).
pub fn remember_product(
    created: &In<ProductCreated>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let c = created.payload();
    let mut products = state.store::<Product>(PRODUCTS)?;
    let mut product = products.get(&c.product_id)?.unwrap_or_default();
    product.name = Some(c.name.clone());
    product.status = Some(c.status.clone());
    product.visibility = Some(c.visibility.clone());
    products.put(&c.product_id, &product)?;
    Ok(vec![])
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

fn snapshot(product_id: &str, known: &Product) -> ProductSnapshot {
    ProductSnapshot {
        id: product_id.to_string(),
        name: known.name.clone(),
        status: known.status.clone(),
        visibility: known.visibility.clone(),
        stock_status: known
            .stock_status
            .as_deref()
            .map(ProductStockStatus::from_symbol),
        stock_quantity: known.stock_quantity,
    }
}

/// `stock.changed` -> `product.updated` (stock status).
pub fn stock_to_product(
    change: &In<StockChanged>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
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
    let mut products = state.store::<Product>(PRODUCTS)?;
    let mut known = products.get(&c.product_id)?.unwrap_or_default();
    known.stock_quantity = Some(c.new_quantity);
    known.stock_status = Some(after.as_str().to_string());
    products.put(&c.product_id, &known)?;
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
            product: snapshot(&c.product_id, &known),
        },
    )])
}

/// `price.changed` -> `product.updated` (price).
pub fn price_to_product(
    change: &In<PriceChanged>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
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
            product: snapshot(
                &c.product_id,
                &state
                    .store::<Product>(PRODUCTS)?
                    .get(&c.product_id)?
                    .unwrap_or_default(),
            ),
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
    fn updates_carry_the_product_as_created_and_its_last_stock() {
        let mut driver = TestDriver::new(processor()).unwrap();
        // Not seen yet: what the worker does not know is null.
        let outs = driver.feed(stock(12, -5, Some(10))).unwrap();
        let u = outs[0].event::<ProductUpdated>().unwrap();
        assert_eq!(u.payload.product.name, None);
        assert_eq!(u.payload.product.visibility, None);
        let mut created = ProductCreated::example();
        created.product_id = u.payload.product_id.clone();
        created.name = "Trail shoe".into();
        created.status = "active".into();
        created.visibility = "catalog".into();
        assert!(driver
            .feed(Event::new(
                EventMetadata::new_for::<ProductCreated>("catalog", "u"),
                created,
            ))
            .unwrap()
            .is_empty());
        let outs = driver.feed(stock(7, -7, Some(10))).unwrap();
        let p = outs[0]
            .event::<ProductUpdated>()
            .unwrap()
            .payload
            .product
            .clone();
        assert_eq!(p.name.as_deref(), Some("Trail shoe"));
        assert_eq!(p.status.as_deref(), Some("active"));
        assert_eq!(p.visibility.as_deref(), Some("catalog"));
        assert_eq!(p.stock_quantity, Some(0));
        // A price change carries the stock the worker last saw.
        let outs = driver
            .feed(Event::new(
                EventMetadata::new_for::<PriceChanged>("pricing", "u"),
                PriceChanged::example(),
            ))
            .unwrap();
        let p = outs[0]
            .event::<ProductUpdated>()
            .unwrap()
            .payload
            .product
            .clone();
        assert_eq!(p.name.as_deref(), Some("Trail shoe"));
        assert_eq!(p.stock_quantity, Some(0));
        assert_eq!(p.stock_status, Some(ProductStockStatus::OutOfStock));
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
