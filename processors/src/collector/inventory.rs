//! The inventory service (seed 001, order-to-cash): orders reserve stock, dispatched deliveries
//! take it out of the warehouse, and a warehouse's stock falling below the reorder level tells
//! procurement.
//!
//! - `stock.received` (derived: the seed has no stock inflow; procurement's goods receipts) ->
//!   the product's stock in that warehouse goes up;
//! - `order.created` -> the order's quantity of each product is reserved (one reservation per
//!   order and product; a repeat changes nothing). Orders name no warehouse, so reservations are
//!   per product; they leave when the order's goods are dispatched;
//! - `delivery.dispatched` -> each shipped line is deducted from its warehouse's stock and from
//!   its order's reservation; when a warehouse's stock **crosses** below the reorder level
//!   (`WEFT_COLLECTOR_REORDER_LEVEL`, 20) -> `stock.low` (once per crossing; stock received back
//!   at or above the level re-arms it), with the minimum (`WEFT_COLLECTOR_MINIMUM_STOCK`, 10).
//!   An order, receipt or dispatch repeated (its event id among the product's last
//!   [`REMEMBERED`]) changes nothing.
//!
//! Orders and dispatches carry several products, so both are **fanned out** by product through
//! the group's repartition topic (each product's copy handles that product's lines, on its
//! partition); stock receipts are re-keyed by product too, so every event of a product meets
//! its stock on one partition. State: the store `stock`, by product.
//!
//! Names the seed's events do not carry for every product and warehouse (product name, sku,
//! warehouse name) are filled from what the service has seen (an order line's description and
//! sku, a receipt's names), else null. Stock may go below zero: a dispatch is a fact. Poison: a
//! quantity below 1.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::collector::delivery::DeliveryDispatched;
use weft_contracts::collector::order::OrderCreated;
use weft_contracts::collector::stock::{StockLow, StockReceived};
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "collector.inventory-service";

/// The store of stock, by product.
pub const STOCK: &str = "stock";

/// Dispatch and receipt event ids a product remembers.
pub const REMEMBERED: usize = 32;

/// Stock levels (`WEFT_COLLECTOR_REORDER_LEVEL`, `WEFT_COLLECTOR_MINIMUM_STOCK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockLevels {
    /// Stock below this tells procurement.
    pub reorder: i32,
    /// The minimum stock level, reported with it.
    pub minimum: i32,
}

impl Default for StockLevels {
    fn default() -> Self {
        StockLevels {
            reorder: 20,
            minimum: 10,
        }
    }
}

/// What the service knows of a product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "collector.inventory.state")]
pub struct ProductStock {
    pub name: Option<String>,
    pub sku: Option<String>,
    /// By warehouse id.
    pub warehouses: Vec<WarehouseStock>,
    /// Open orders' reservations.
    pub reservations: Vec<OrderReservation>,
    /// The last receipts' and dispatches' event ids.
    pub recent: Vec<String>,
}

/// A product in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "collector.inventory.state")]
pub struct WarehouseStock {
    pub warehouse_id: String,
    pub name: Option<String>,
    pub on_hand: i32,
    /// Below the reorder level (stock.low sent for this crossing).
    pub low: bool,
}

/// What an open order holds of the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "collector.inventory.state")]
pub struct OrderReservation {
    pub order_id: String,
    pub quantity: i32,
}

impl ProductStock {
    fn warehouse(&mut self, id: &str) -> &mut WarehouseStock {
        let at = match self.warehouses.iter().position(|w| w.warehouse_id == id) {
            Some(at) => at,
            None => {
                self.warehouses.push(WarehouseStock {
                    warehouse_id: id.to_string(),
                    name: None,
                    on_hand: 0,
                    low: false,
                });
                self.warehouses.len() - 1
            }
        };
        &mut self.warehouses[at]
    }

    /// Notes `event_id`; false when it was seen already.
    fn first_time(&mut self, event_id: &str) -> bool {
        if self.recent.iter().any(|e| e == event_id) {
            return false;
        }
        self.recent.push(event_id.to_string());
        let excess = self.recent.len().saturating_sub(REMEMBERED);
        self.recent.drain(..excess);
        true
    }

    /// Units reserved by open orders.
    pub fn reserved(&self) -> i32 {
        self.reservations.iter().map(|r| r.quantity).sum()
    }
}

/// The registration, with the stock levels.
pub fn processor(levels: StockLevels) -> Processor {
    Processor::new(NAME)
        .store::<ProductStock>(STOCK)
        .on_stateful_by::<StockReceived>(
            |r| r.product_id.clone(),
            move |i, s| receive(i, s, levels),
        )
        .on_stateful_by_each::<OrderCreated>(
            |o| o.line_items.iter().map(|l| l.product_id.clone()).collect(),
            reserve,
        )
        .on_stateful_by_each::<DeliveryDispatched>(
            |d| d.items.iter().map(|i| i.product_id.clone()).collect(),
            move |i, s| dispatch(i, s, levels),
        )
        .emits::<StockLow>()
}

fn quantity_ok(quantity: i32, what: &str) -> Result<(), ProcessError> {
    if quantity < 1 {
        return Err(ProcessError::Poison(format!(
            "{what} has quantity {quantity}"
        )));
    }
    Ok(())
}

/// `stock.received` -> stock up in the warehouse.
pub fn receive(
    received: &In<StockReceived>,
    state: &mut State<'_>,
    levels: StockLevels,
) -> Result<Vec<Out>, ProcessError> {
    let r = received.payload();
    quantity_ok(r.quantity, &format!("receipt {}", r.receipt_id))?;
    let mut stock = state.store::<ProductStock>(STOCK)?;
    let mut product = stock.get(&r.product_id)?.unwrap_or_default();
    if !product.first_time(&received.metadata().event_id) {
        return Ok(vec![]);
    }
    product.name = r.product_name.clone().or(product.name);
    product.sku = r.sku.clone().or(product.sku);
    let w = product.warehouse(&r.warehouse_id);
    w.name = r.warehouse_name.clone().or(w.name.clone());
    w.on_hand = w.on_hand.saturating_add(r.quantity);
    if w.on_hand >= levels.reorder {
        w.low = false;
    }
    stock.put(&r.product_id, &product)?;
    Ok(vec![])
}

/// `order.created` (the copy for one product) -> the order's quantity of it reserved.
pub fn reserve(
    created: &In<OrderCreated>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let o = created.payload();
    let Some(product_id) = created.part.as_deref() else {
        return Err(ProcessError::Fatal(
            "order.created reaches the inventory service fanned out by product".into(),
        ));
    };
    let lines: Vec<_> = o
        .line_items
        .iter()
        .filter(|l| l.product_id == product_id)
        .collect();
    let mut quantity: i32 = 0;
    for l in &lines {
        quantity_ok(
            l.quantity,
            &format!("order {} line {}", o.order_number, l.description),
        )?;
        quantity = quantity.saturating_add(l.quantity);
    }
    let mut stock = state.store::<ProductStock>(STOCK)?;
    let mut product = stock.get(product_id)?.unwrap_or_default();
    // Reserved already, or the same order event again after its goods left (a replay).
    if product
        .reservations
        .iter()
        .any(|r| r.order_id == o.order_id)
        || !product.first_time(&created.metadata().event_id)
    {
        return Ok(vec![]);
    }
    if let Some(l) = lines.first() {
        product.name = product.name.or_else(|| Some(l.description.clone()));
        product.sku = product.sku.or_else(|| l.sku.clone());
    }
    product.reservations.push(OrderReservation {
        order_id: o.order_id.clone(),
        quantity,
    });
    stock.put(product_id, &product)?;
    Ok(vec![])
}

/// `delivery.dispatched` (the copy for one product) -> stock out of its warehouses, the order's
/// reservation down, `stock.low` on a crossing.
pub fn dispatch(
    dispatched: &In<DeliveryDispatched>,
    state: &mut State<'_>,
    levels: StockLevels,
) -> Result<Vec<Out>, ProcessError> {
    let d = dispatched.payload();
    let Some(product_id) = dispatched.part.as_deref() else {
        return Err(ProcessError::Fatal(
            "delivery.dispatched reaches the inventory service fanned out by product".into(),
        ));
    };
    let mut stock = state.store::<ProductStock>(STOCK)?;
    let mut product = stock.get(product_id)?.unwrap_or_default();
    if !product.first_time(&dispatched.metadata().event_id) {
        return Ok(vec![]);
    }
    let mut outs = Vec::new();
    for (n, item) in d.items.iter().enumerate() {
        if item.product_id != product_id {
            continue;
        }
        quantity_ok(
            item.quantity,
            &format!("delivery {} line {n}", d.delivery_number),
        )?;
        if let Some(r) = product
            .reservations
            .iter_mut()
            .find(|r| r.order_id == d.order_id)
        {
            r.quantity = (r.quantity - item.quantity).max(0);
        }
        product.reservations.retain(|r| r.quantity > 0);
        let (name, sku) = (product.name.clone(), product.sku.clone());
        let w = product.warehouse(&item.warehouse_id);
        w.on_hand = w.on_hand.saturating_sub(item.quantity);
        if w.on_hand < levels.reorder && !w.low {
            w.low = true;
            outs.push(dispatched.emit(
                n as u32,
                StockLow {
                    product_id: product_id.to_string(),
                    product_name: name,
                    sku,
                    warehouse_id: w.warehouse_id.clone(),
                    warehouse_name: w.name.clone(),
                    current_quantity: w.on_hand,
                    minimum_threshold: levels.minimum,
                    reorder_level: levels.reorder,
                },
            ));
        }
    }
    stock.put(product_id, &product)?;
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::collector::delivery::DispatchedItem;
    use weft_contracts::collector::order::OrderLineItem;
    use weft_contracts::{Contract, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn meta<P: Contract>() -> EventMetadata {
        EventMetadata::new_for::<P>("collector", "u")
    }

    fn received(product: &str, warehouse: &str, quantity: i32) -> Event<StockReceived> {
        let mut r = StockReceived::example();
        r.receipt_id = uuid::Uuid::new_v4().to_string();
        r.product_id = product.into();
        r.warehouse_id = warehouse.into();
        r.quantity = quantity;
        Event::new(meta::<StockReceived>(), r)
    }

    fn order(lines: &[(&str, i32)]) -> Event<OrderCreated> {
        let mut o = OrderCreated::example();
        o.order_id = uuid::Uuid::new_v4().to_string();
        let template = o.line_items[0].clone();
        o.line_items = lines
            .iter()
            .map(|(p, q)| OrderLineItem {
                product_id: p.to_string(),
                quantity: *q,
                description: format!("product {p}"),
                ..template.clone()
            })
            .collect();
        Event::new(meta::<OrderCreated>(), o)
    }

    fn dispatched(order: &OrderCreated, items: &[(&str, i32, &str)]) -> Event<DeliveryDispatched> {
        let mut d = DeliveryDispatched::example();
        d.delivery_note_id = uuid::Uuid::new_v4().to_string();
        d.order_id = order.order_id.clone();
        d.items = items
            .iter()
            .map(|(p, q, w)| DispatchedItem {
                product_id: p.to_string(),
                quantity: *q,
                warehouse_id: w.to_string(),
            })
            .collect();
        Event::new(meta::<DeliveryDispatched>(), d)
    }

    fn on_hand(driver: &TestDriver, product: &str, warehouse: &str) -> i32 {
        driver
            .state::<ProductStock>(STOCK, product)
            .unwrap()
            .warehouses
            .iter()
            .find(|w| w.warehouse_id == warehouse)
            .unwrap()
            .on_hand
    }

    #[test]
    fn orders_reserve_dispatches_deduct_and_a_crossing_tells_procurement_once() {
        let levels = StockLevels::default();
        let mut driver = TestDriver::new(processor(levels)).unwrap();
        let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let (a, b, w) = (ids[0].as_str(), ids[1].as_str(), ids[2].as_str());
        driver.feed(received(a, w, 30)).unwrap();
        driver.feed(received(b, w, 100)).unwrap();
        let o = order(&[(a, 6), (b, 2), (a, 2)]);
        assert!(driver.feed(o.clone()).unwrap().is_empty());
        let reserved =
            |d: &TestDriver, p: &str| d.state::<ProductStock>(STOCK, p).unwrap().reserved();
        assert_eq!((reserved(&driver, a), reserved(&driver, b)), (8, 2));
        // The order again (a replay): nothing more reserved.
        driver.feed(o.clone()).unwrap();
        assert_eq!(reserved(&driver, a), 8);
        // a: 30 - 8 = 22, still at or above 20: no alert; b: 98.
        let first = dispatched(&o.payload, &[(a, 8, w), (b, 2, w)]);
        assert!(driver.feed(first.clone()).unwrap().is_empty());
        assert_eq!(on_hand(&driver, a, w), 22);
        assert_eq!((reserved(&driver, a), reserved(&driver, b)), (0, 0));
        // The order again after its goods left: nothing reserved again.
        driver.feed(o.clone()).unwrap();
        assert_eq!((reserved(&driver, a), reserved(&driver, b)), (0, 0));
        // The same dispatch again: nothing deducted twice.
        assert!(driver.feed(first).unwrap().is_empty());
        assert_eq!(on_hand(&driver, a, w), 22);
        // Below 20: one stock.low with what the service knows.
        let second = order(&[(a, 5)]);
        driver.feed(second.clone()).unwrap();
        let outs = driver
            .feed(dispatched(&second.payload, &[(a, 5, w)]))
            .unwrap();
        assert_eq!(outs.len(), 1);
        let low = outs[0].event::<StockLow>().unwrap().payload.clone();
        assert_eq!(low.current_quantity, 17);
        // Named by its receipt (which came before the order line).
        assert_eq!(low.product_name.as_deref(), Some("Product Name"));
        assert_eq!(low.warehouse_name.as_deref(), Some("Main Warehouse"));
        assert_eq!((low.minimum_threshold, low.reorder_level), (10, 20));
        // Further down: no second alert until stock is back at the level.
        let third = order(&[(a, 1)]);
        assert!(driver
            .feed(dispatched(&third.payload, &[(a, 1, w)]))
            .unwrap()
            .is_empty());
        driver.feed(received(a, w, 10)).unwrap();
        let outs = driver
            .feed(dispatched(&third.payload, &[(a, 9, w)]))
            .unwrap();
        assert_eq!(outs.len(), 1, "re-armed by the receipt");
    }

    #[test]
    fn a_line_without_quantity_is_poison() {
        let mut driver = TestDriver::new(processor(StockLevels::default())).unwrap();
        let p = uuid::Uuid::new_v4().to_string();
        let err = driver.feed(order(&[(&p, 0)])).unwrap_err();
        assert!(matches!(err, ProcessError::Poison(_)), "{err:?}");
    }
}
