//! The inventory management service (seed 004): orders reserve stock, or are rejected; a
//! cancellation or refund gives it back, a completion ships it; adjustments move the levels.
//!
//! - `inventory.adjusted` -> the product's level at its location is set to `new_quantity`;
//!   `inventory.updated` (`adjustment`). An adjustment whose event id the position has seen
//!   (the last [`REMEMBERED`]) changes nothing: the seed asks for idempotent consumers, and an
//!   absolute level delivered again late would undo later changes.
//! - `order.created` -> every line reserved, or none: the quantities are summed per product and
//!   each product is reserved at the location with the most available stock (ties: the first
//!   location id) that has enough. All found: per product `inventory.reserved` (reservation id
//!   `res_<UUID v5 of order and product>`, no expiry) and `inventory.updated` (`reservation`),
//!   then `order.validated` with the reservations and `inventory_check: passed`. One product
//!   short: `order.validated` with `inventory_check: failed`, no reservations, stock untouched.
//!   `pricing_check` says whether the lines add up (quantity x unit price = line total, lines sum
//!   to the order total); `customer_check` is not this service's (`unknown`).
//! - `order.cancelled` / `order.refunded` -> the order's reservations released once, whichever
//!   comes first: `inventory.released` (`order_cancelled`) and `inventory.updated` (`release`)
//!   per reservation. A cancellation that overtakes its order's creation (another topic) is
//!   remembered, and the late creation reserves nothing.
//! - `order.completed` -> the reserved stock leaves: level and reservation go down by the
//!   quantity; `inventory.updated` (`shipment`). A completion that overtakes its order's
//!   creation is remembered like a cancellation (the late creation reserves nothing); a refund
//!   after completion changes no stock (a return of goods comes as an adjustment).
//! - `order.validated` is this service's verdict on inventory (the seed publishes it from order
//!   management "after inventory verification"): readers must look at `validation_results`, a
//!   rejected order comes with `inventory_check: failed` and no reservations.
//! - State grows with orders: each order's record stays (its state is what makes repeats
//!   harmless); a retention for closed orders is not built.
//! - Order events are idempotent by the order's state (reserved, rejected, released, completed):
//!   a repeat changes nothing.
//!
//! State: the store `stock` (by product: level and reserved per location, recent adjustments)
//! and `orders` (by order id: state and reservations). The order carries no location, so a
//! reservation may pick any location of any product, and reserving all lines or none needs all
//! of them in one place: every input is **re-keyed to one key** ([`ALL`]), so one partition
//! holds the whole stock and the service runs on one partition's throughput (docs/state.md).
//!
//! Poison: a line quantity below 1, an order without lines, a negative level in an adjustment.

use std::collections::BTreeMap;

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::viscount::inventory::{
    InventoryAdjusted, InventoryReleased, InventoryReserved, InventoryUpdated, ReleaseReason,
};
use weft_contracts::viscount::order::{
    CheckResult, OrderCancelled, OrderCompleted, OrderCreated, OrderRefunded, OrderValidated,
    Reservation as ValidatedReservation, ValidationResults,
};
use weft_contracts::Contract;
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "viscount.inventory-management-service";

/// The store of stock, by product.
pub const STOCK: &str = "stock";
/// The store of orders, by order id.
pub const ORDERS: &str = "orders";

/// The one key every input is re-keyed to.
pub const ALL: &str = "inventory";

/// Adjustment event ids a product remembers.
pub const REMEMBERED: usize = 32;

/// A product's stock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "viscount.inventory.state")]
pub struct Stock {
    /// By location id, in id order.
    pub locations: Vec<Level>,
    /// The last adjustments' event ids.
    pub recent: Vec<String>,
}

/// Stock of a product at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "viscount.inventory.state")]
pub struct Level {
    pub location_id: String,
    pub on_hand: i32,
    pub reserved: i32,
}

impl Level {
    fn available(&self) -> i32 {
        self.on_hand - self.reserved
    }
}

impl Stock {
    fn at(&mut self, location_id: &str) -> &mut Level {
        let i = match self
            .locations
            .binary_search_by(|l| l.location_id.as_str().cmp(location_id))
        {
            Ok(i) => i,
            Err(i) => {
                self.locations.insert(
                    i,
                    Level {
                        location_id: location_id.to_string(),
                        on_hand: 0,
                        reserved: 0,
                    },
                );
                i
            }
        };
        &mut self.locations[i]
    }
}

/// What the service knows of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "viscount.inventory.state")]
pub struct OrderRecord {
    /// `reserved`, `rejected`, `released`, `completed`, or `cancelled` (cancelled or refunded
    /// before its creation was seen).
    pub status: String,
    pub reservations: Vec<Held>,
}

/// One reservation of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "viscount.inventory.state")]
pub struct Held {
    pub reservation_id: String,
    pub product_id: String,
    pub location_id: String,
    pub quantity: i32,
}

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .store::<Stock>(STOCK)
        .store::<OrderRecord>(ORDERS)
        .on_stateful_by::<InventoryAdjusted>(|_| ALL.into(), adjust)
        .on_stateful_by::<OrderCreated>(|_| ALL.into(), reserve)
        .on_stateful_by::<OrderCancelled>(
            |_| ALL.into(),
            |i, s| release(i, s, &i.payload().order_id),
        )
        .on_stateful_by::<OrderRefunded>(
            |_| ALL.into(),
            |i, s| release(i, s, &i.payload().order_id),
        )
        .on_stateful_by::<OrderCompleted>(|_| ALL.into(), ship)
        .emits::<InventoryReserved>()
        .emits::<InventoryReleased>()
        .emits::<InventoryUpdated>()
        .emits::<OrderValidated>()
}

fn updated<P: Contract>(
    input: &In<P>,
    index: u32,
    product_id: &str,
    level: &Level,
    update_type: &str,
) -> Out {
    input.emit(
        index,
        InventoryUpdated {
            product_id: product_id.to_string(),
            location_id: level.location_id.clone(),
            quantity: level.on_hand,
            reserved_quantity: level.reserved,
            available_quantity: level.available(),
            update_type: update_type.to_string(),
            source_event: Some(P::EVENT_TYPE.to_string()),
        },
    )
}

/// `inventory.adjusted` -> the level set, `inventory.updated`.
pub fn adjust(
    adjusted: &In<InventoryAdjusted>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let a = adjusted.payload();
    if a.new_quantity < 0 {
        return Err(ProcessError::Poison(format!(
            "adjustment {} sets {} at {} to {}",
            a.reference_number, a.product_id, a.location_id, a.new_quantity
        )));
    }
    let mut stock = state.store::<Stock>(STOCK)?;
    let mut product = stock.get(&a.product_id)?.unwrap_or_default();
    let id = &adjusted.metadata().event_id;
    if product.recent.contains(id) {
        return Ok(vec![]);
    }
    product.recent.push(id.clone());
    let excess = product.recent.len().saturating_sub(REMEMBERED);
    product.recent.drain(..excess);
    let level = product.at(&a.location_id);
    level.on_hand = a.new_quantity;
    let out = updated(adjusted, 0, &a.product_id, level, "adjustment");
    stock.put(&a.product_id, &product)?;
    Ok(vec![out])
}

/// The reservation id of `product_id` in `order_id`: the same on every replay.
pub fn reservation_id(order_id: &str, product_id: &str) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("viscount.reservation/{order_id}/{product_id}").as_bytes(),
    );
    format!("res_{}", id.simple())
}

/// `order.created` -> every line reserved and `order.validated` passed, or failed.
pub fn reserve(
    created: &In<OrderCreated>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let o = created.payload();
    if o.items.is_empty() {
        return Err(ProcessError::Poison(format!(
            "order {} has no lines",
            o.order_id
        )));
    }
    let mut wanted: BTreeMap<&str, i32> = BTreeMap::new();
    let mut priced = true;
    let mut sum = weft_contracts::Decimal4::ZERO;
    for (n, item) in o.items.iter().enumerate() {
        if item.quantity < 1 {
            return Err(ProcessError::Poison(format!(
                "order {} line {n} ({}) has quantity {}",
                o.order_id, item.product_id, item.quantity
            )));
        }
        let total = wanted.entry(item.product_id.as_str()).or_default();
        *total = total.checked_add(item.quantity).ok_or_else(|| {
            ProcessError::Poison(format!("order {}: quantities overflow", o.order_id))
        })?;
        priced &=
            item.unit_price.checked_mul_int(i64::from(item.quantity)) == Some(item.total_price);
        sum = sum.checked_add(item.total_price).unwrap_or(sum);
    }
    priced &= sum == o.total_amount;
    let pricing_check = if priced {
        CheckResult::Passed
    } else {
        CheckResult::Failed
    };
    let orders = state.store::<OrderRecord>(ORDERS)?;
    if orders.get(&o.order_id)?.is_some() {
        // Seen (a repeat), or cancelled before it arrived: nothing to reserve.
        return Ok(vec![]);
    }
    // Find a location for every product first: all or nothing.
    let mut stock = state.store::<Stock>(STOCK)?;
    let mut picked = Vec::with_capacity(wanted.len());
    for (product_id, quantity) in &wanted {
        let product = stock.get(product_id)?.unwrap_or_default();
        let best = product
            .locations
            .iter()
            .filter(|l| l.available() >= *quantity)
            .max_by(|a, b| {
                a.available()
                    .cmp(&b.available())
                    .then(b.location_id.cmp(&a.location_id))
            })
            .map(|l| l.location_id.clone());
        match best {
            Some(location) => picked.push((*product_id, *quantity, location, product)),
            None => {
                let verdict = OrderValidated {
                    order_id: o.order_id.clone(),
                    validation_results: ValidationResults {
                        inventory_check: CheckResult::Failed,
                        pricing_check,
                        customer_check: CheckResult::Unknown,
                    },
                    reservations: vec![],
                };
                state.store::<OrderRecord>(ORDERS)?.put(
                    &o.order_id,
                    &OrderRecord {
                        status: "rejected".into(),
                        reservations: vec![],
                    },
                )?;
                return Ok(vec![created.emit(0, verdict)]);
            }
        }
    }
    let mut outs = Vec::new();
    let mut held = Vec::new();
    for (i, (product_id, quantity, location, mut product)) in picked.into_iter().enumerate() {
        let level = product.at(&location);
        level.reserved = level.reserved.saturating_add(quantity);
        let reservation_id = reservation_id(&o.order_id, product_id);
        outs.push(created.emit(
            i as u32,
            InventoryReserved {
                reservation_id: reservation_id.clone(),
                product_id: product_id.to_string(),
                quantity,
                location_id: location.clone(),
                order_id: o.order_id.clone(),
                expires_at: None,
            },
        ));
        outs.push(updated(created, i as u32, product_id, level, "reservation"));
        stock.put(product_id, &product)?;
        held.push(Held {
            reservation_id,
            product_id: product_id.to_string(),
            location_id: location,
            quantity,
        });
    }
    outs.push(
        created.emit(
            0,
            OrderValidated {
                order_id: o.order_id.clone(),
                validation_results: ValidationResults {
                    inventory_check: CheckResult::Passed,
                    pricing_check,
                    customer_check: CheckResult::Unknown,
                },
                reservations: held
                    .iter()
                    .map(|h| ValidatedReservation {
                        product_id: h.product_id.clone(),
                        reservation_id: h.reservation_id.clone(),
                        quantity: h.quantity,
                    })
                    .collect(),
            },
        ),
    );
    state.store::<OrderRecord>(ORDERS)?.put(
        &o.order_id,
        &OrderRecord {
            status: "reserved".into(),
            reservations: held,
        },
    )?;
    Ok(outs)
}

/// Moves a reserved order to `closed` and returns its reservations to act on; an order in any
/// other state gives none, and an order not seen yet is remembered as `unseen` (its late
/// creation then reserves nothing).
fn close_order(
    state: &mut State<'_>,
    order_id: &str,
    closed: &str,
    unseen: &str,
) -> Result<Vec<Held>, ProcessError> {
    let mut orders = state.store::<OrderRecord>(ORDERS)?;
    let Some(mut order) = orders.get(order_id)? else {
        orders.put(
            order_id,
            &OrderRecord {
                status: unseen.into(),
                reservations: vec![],
            },
        )?;
        return Ok(vec![]);
    };
    if order.status != "reserved" {
        return Ok(vec![]);
    }
    order.status = closed.into();
    orders.put(order_id, &order)?;
    Ok(order.reservations)
}

/// `order.cancelled` / `order.refunded` -> the order's reservations released, once.
pub fn release<P: Contract>(
    input: &In<P>,
    state: &mut State<'_>,
    order_id: &str,
) -> Result<Vec<Out>, ProcessError> {
    let held = close_order(state, order_id, "released", "cancelled")?;
    let mut stock = state.store::<Stock>(STOCK)?;
    let mut outs = Vec::new();
    for (i, h) in held.iter().enumerate() {
        let mut product = stock.get(&h.product_id)?.unwrap_or_default();
        let level = product.at(&h.location_id);
        level.reserved = level.reserved.saturating_sub(h.quantity);
        outs.push(input.emit(
            i as u32,
            InventoryReleased {
                reservation_id: h.reservation_id.clone(),
                product_id: h.product_id.clone(),
                quantity: h.quantity,
                location_id: h.location_id.clone(),
                reason: ReleaseReason::OrderCancelled,
            },
        ));
        outs.push(updated(input, i as u32, &h.product_id, level, "release"));
        stock.put(&h.product_id, &product)?;
    }
    Ok(outs)
}

/// `order.completed` -> the reserved stock shipped.
pub fn ship(
    completed: &In<OrderCompleted>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    // Completed before its creation was seen (another topic): remembered, so the late creation
    // reserves no stock that nothing would ever ship or release.
    let held = close_order(
        state,
        &completed.payload().order_id,
        "completed",
        "completed",
    )?;
    let mut stock = state.store::<Stock>(STOCK)?;
    let mut outs = Vec::new();
    for (i, h) in held.iter().enumerate() {
        let mut product = stock.get(&h.product_id)?.unwrap_or_default();
        let level = product.at(&h.location_id);
        level.reserved = level.reserved.saturating_sub(h.quantity);
        level.on_hand = level.on_hand.saturating_sub(h.quantity);
        outs.push(updated(
            completed,
            i as u32,
            &h.product_id,
            level,
            "shipment",
        ));
        stock.put(&h.product_id, &product)?;
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::viscount::order::OrderItem;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn meta<P: Contract>() -> EventMetadata {
        EventMetadata::new_for::<P>("order-management-service", "u")
    }

    fn adjusted(product: &str, location: &str, to: i32) -> Event<InventoryAdjusted> {
        let mut a = InventoryAdjusted::example();
        a.product_id = product.into();
        a.location_id = location.into();
        a.new_quantity = to;
        Event::new(meta::<InventoryAdjusted>(), a)
    }

    fn order(lines: &[(&str, i32)]) -> Event<OrderCreated> {
        let mut o = OrderCreated::example();
        o.order_id = format!("order_{}", uuid::Uuid::new_v4().simple());
        o.items = lines
            .iter()
            .map(|(p, q)| OrderItem {
                product_id: p.to_string(),
                quantity: *q,
                unit_price: dec("10"),
                total_price: dec("10").checked_mul_int(i64::from(*q)).unwrap(),
            })
            .collect();
        o.total_amount = o
            .items
            .iter()
            .fold(dec("0"), |s, i| s.checked_add(i.total_price).unwrap());
        Event::new(meta::<OrderCreated>(), o)
    }

    fn cancelled(order_id: &str) -> Event<OrderCancelled> {
        let mut c = OrderCancelled::example();
        c.order_id = order_id.into();
        Event::new(meta::<OrderCancelled>(), c)
    }

    fn level(driver: &TestDriver, product: &str, location: &str) -> (i32, i32) {
        let s = driver.state::<Stock>(STOCK, product).unwrap();
        let l = s
            .locations
            .iter()
            .find(|l| l.location_id == location)
            .unwrap();
        (l.on_hand, l.reserved)
    }

    fn verdict(outs: &[Out]) -> OrderValidated {
        outs.iter()
            .find_map(|o| o.event::<OrderValidated>())
            .expect("an order.validated")
            .payload
            .clone()
    }

    #[test]
    fn an_order_reserves_every_line_or_none() {
        let mut driver = TestDriver::new(processor()).unwrap();
        driver.feed(adjusted("p1", "main", 5)).unwrap();
        driver.feed(adjusted("p1", "north", 8)).unwrap();
        driver.feed(adjusted("p2", "main", 1)).unwrap();
        // p1 twice (3 + 2 = 5): from north, where most is available.
        let ok = order(&[("p1", 3), ("p2", 1), ("p1", 2)]);
        let outs = driver.feed(ok.clone()).unwrap();
        let v = verdict(&outs);
        assert_eq!(v.validation_results.inventory_check, CheckResult::Passed);
        assert_eq!(v.validation_results.pricing_check, CheckResult::Passed);
        assert_eq!(
            v.reservations
                .iter()
                .map(|r| (r.product_id.as_str(), r.quantity))
                .collect::<Vec<_>>(),
            [("p1", 5), ("p2", 1)]
        );
        assert_eq!(level(&driver, "p1", "north"), (8, 5));
        assert_eq!(level(&driver, "p2", "main"), (1, 1));
        let reserved: Vec<_> = outs
            .iter()
            .filter_map(|o| o.event::<InventoryReserved>())
            .collect();
        assert_eq!(reserved.len(), 2);
        assert_eq!(reserved[0].payload.location_id, "north");
        // p2 is gone: the next order wanting it reserves nothing, p1 included.
        let short = order(&[("p1", 1), ("p2", 1)]);
        let outs = driver.feed(short).unwrap();
        assert_eq!(outs.len(), 1);
        let v = verdict(&outs);
        assert_eq!(v.validation_results.inventory_check, CheckResult::Failed);
        assert!(v.reservations.is_empty());
        assert_eq!(level(&driver, "p1", "north"), (8, 5));
        // A repeat of the first order changes nothing.
        assert!(driver.feed(ok).unwrap().is_empty());
    }

    #[test]
    fn cancellation_releases_once_and_completion_ships() {
        let mut driver = TestDriver::new(processor()).unwrap();
        driver.feed(adjusted("p1", "main", 10)).unwrap();
        let first = order(&[("p1", 4)]);
        driver.feed(first.clone()).unwrap();
        let outs = driver.feed(cancelled(&first.payload.order_id)).unwrap();
        let released: Vec<_> = outs
            .iter()
            .filter_map(|o| o.event::<InventoryReleased>())
            .collect();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].payload.quantity, 4);
        assert_eq!(level(&driver, "p1", "main"), (10, 0));
        // Refunded after the cancellation: nothing more.
        let mut refunded = OrderRefunded::example();
        refunded.order_id = first.payload.order_id.clone();
        assert!(driver
            .feed(Event::new(meta::<OrderRefunded>(), refunded))
            .unwrap()
            .is_empty());
        let second = order(&[("p1", 6)]);
        driver.feed(second.clone()).unwrap();
        let mut done = OrderCompleted::example();
        done.order_id = second.payload.order_id.clone();
        let outs = driver
            .feed(Event::new(meta::<OrderCompleted>(), done))
            .unwrap();
        assert_eq!(outs.len(), 1);
        assert_eq!(level(&driver, "p1", "main"), (4, 0));
        // A cancellation that overtook its order: the order reserves nothing when it comes.
        let late = order(&[("p1", 1)]);
        assert!(driver
            .feed(cancelled(&late.payload.order_id))
            .unwrap()
            .is_empty());
        assert!(driver.feed(late).unwrap().is_empty());
        assert_eq!(level(&driver, "p1", "main"), (4, 0));
        // So is a completion that overtook its order.
        let shipped = order(&[("p1", 2)]);
        let mut done = OrderCompleted::example();
        done.order_id = shipped.payload.order_id.clone();
        assert!(driver
            .feed(Event::new(meta::<OrderCompleted>(), done))
            .unwrap()
            .is_empty());
        assert!(driver.feed(shipped).unwrap().is_empty());
        assert_eq!(level(&driver, "p1", "main"), (4, 0));
    }

    #[test]
    fn an_adjustment_delivered_twice_counts_once_and_bad_input_is_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let a = adjusted("p1", "main", 10);
        assert_eq!(driver.feed(a.clone()).unwrap().len(), 1);
        driver.feed(adjusted("p1", "main", 7)).unwrap();
        assert!(driver.feed(a).unwrap().is_empty());
        assert_eq!(level(&driver, "p1", "main"), (7, 0));
        assert!(matches!(
            driver.feed(adjusted("p1", "main", -1)).unwrap_err(),
            ProcessError::Poison(_)
        ));
        assert!(matches!(
            driver.feed(order(&[("p1", 0)])).unwrap_err(),
            ProcessError::Poison(_)
        ));
    }
}
