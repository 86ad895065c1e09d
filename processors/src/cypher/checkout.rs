//! The checkout worker (seed 000 section 5): carts follow price changes, and an order clears its
//! cart.
//!
//! - `cart.updated` from the checkout service -> the cart (user, lines, currency) is kept in the
//!   store `carts`, and each of its products notes the cart in `holders`; `cart_cleared` forgets
//!   it. The worker's own `cart.updated` events (it writes the topic it reads) change nothing:
//!   its state already holds what they say.
//! - `price.changed` -> every cart holding the product (the variant's sku when the change names
//!   a variant) whose currency is the price's gets its lines repriced (unit price, line total =
//!   quantity x price) and a `cart.updated` (`price_updated`, the repriced line as
//!   `changed_item`). Totals are null: the tax of a cart is the checkout service's rule, which the
//!   worker does not know. A cart already at the new price changes nothing (a replay).
//! - `order.created` -> the cart it was checked out from (the seed's checkout sets the order's
//!   `correlation_id` to the cart id, section 5.5) is cleared: `cart.updated` (`cart_cleared`,
//!   no lines, causation = the order event, correlation = the cart).
//!
//! A price change must find every cart holding a product, and carts are keyed by cart: no
//! single key routes both, so every input is **re-keyed to one key** ([`ALL`]) and one partition
//! holds all carts (docs/state.md says what that limits). Poison: a line of quantity below 1 or
//! a negative price.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::cypher::cart::{CartAction, CartUpdated, CartUpdatedItem};
use weft_contracts::cypher::order::OrderCreated;
use weft_contracts::cypher::price::PriceChanged;
use weft_contracts::Decimal4;
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "cypher.checkout-worker";

/// The store of carts, by cart id.
pub const CARTS: &str = "carts";
/// The store of the carts holding each product, by product id.
pub const HOLDERS: &str = "holders";

/// The one key every input is re-keyed to.
pub const ALL: &str = "carts";

/// A cart as the worker keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "cypher.checkout.state")]
pub struct Cart {
    pub user_id: Option<String>,
    pub currency: Option<String>,
    pub lines: Vec<Line>,
}

/// One cart line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "cypher.checkout.state")]
pub struct Line {
    pub product_id: String,
    pub sku: String,
    pub quantity: i32,
    /// In ten-thousandths.
    pub unit_price_units: i64,
}

/// The carts holding a product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "cypher.checkout.state")]
pub struct Holders {
    /// Sorted.
    pub carts: Vec<String>,
}

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .store::<Cart>(CARTS)
        .store::<Holders>(HOLDERS)
        .on_stateful_by::<CartUpdated>(|_| ALL.into(), keep_cart)
        .on_stateful_by::<PriceChanged>(|_| ALL.into(), reprice)
        .on_stateful_by::<OrderCreated>(|_| ALL.into(), clear_ordered_cart)
        .emits::<CartUpdated>()
}

fn units(d: Decimal4, what: &str) -> Result<i64, ProcessError> {
    i64::try_from(d.units()).map_err(|_| ProcessError::Poison(format!("{what} {d} overflows")))
}

fn decimal(units: i128) -> Result<Decimal4, ProcessError> {
    Decimal4::from_units(units).map_err(|e| ProcessError::Poison(e.to_string()))
}

fn item(line: &Line) -> Result<CartUpdatedItem, ProcessError> {
    Ok(CartUpdatedItem {
        product_id: line.product_id.clone(),
        sku: line.sku.clone(),
        quantity: line.quantity,
        unit_price: decimal(i128::from(line.unit_price_units))?,
        line_total: decimal(i128::from(line.unit_price_units) * i128::from(line.quantity))?,
    })
}

/// Notes or forgets `cart_id` as a holder of each of `products`.
fn index(
    state: &mut State<'_>,
    cart_id: &str,
    products: &[String],
    hold: bool,
) -> Result<(), ProcessError> {
    let mut holders = state.store::<Holders>(HOLDERS)?;
    for p in products {
        let mut h = holders.get(p)?.unwrap_or_default();
        match (h.carts.binary_search_by(|c| c.as_str().cmp(cart_id)), hold) {
            (Err(at), true) => h.carts.insert(at, cart_id.to_string()),
            (Ok(at), false) => {
                h.carts.remove(at);
            }
            _ => continue,
        }
        if h.carts.is_empty() {
            holders.delete(p);
        } else {
            holders.put(p, &h)?;
        }
    }
    Ok(())
}

fn products(cart: &Cart) -> Vec<String> {
    let mut p: Vec<String> = cart.lines.iter().map(|l| l.product_id.clone()).collect();
    p.sort();
    p.dedup();
    p
}

/// `cart.updated` (the checkout service's) -> the cart kept and indexed, or forgotten.
pub fn keep_cart(
    update: &In<CartUpdated>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    if update.metadata().producer == NAME {
        return Ok(vec![]);
    }
    let c = update.payload();
    let old = state.store::<Cart>(CARTS)?.get(&c.cart_id)?;
    if let Some(old) = &old {
        index(state, &c.cart_id, &products(old), false)?;
    }
    if c.action == CartAction::CartCleared {
        state.store::<Cart>(CARTS)?.delete(&c.cart_id);
        return Ok(vec![]);
    }
    let lines = c
        .items
        .iter()
        .map(|i| {
            if i.quantity < 1 {
                return Err(ProcessError::Poison(format!(
                    "cart {}: {} has quantity {}",
                    c.cart_id, i.sku, i.quantity
                )));
            }
            Ok(Line {
                product_id: i.product_id.clone(),
                sku: i.sku.clone(),
                quantity: i.quantity,
                unit_price_units: units(i.unit_price, "unit price")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cart = Cart {
        user_id: c.user_id.clone(),
        currency: c
            .totals
            .as_ref()
            .map(|t| t.currency.clone())
            .or_else(|| old.and_then(|o| o.currency)),
        lines,
    };
    index(state, &c.cart_id, &products(&cart), true)?;
    state.store::<Cart>(CARTS)?.put(&c.cart_id, &cart)?;
    Ok(vec![])
}

/// `price.changed` -> every holding cart repriced, one `cart.updated` each.
pub fn reprice(change: &In<PriceChanged>, state: &mut State<'_>) -> Result<Vec<Out>, ProcessError> {
    let p = change.payload();
    if p.new_price.is_negative() {
        return Err(ProcessError::Poison(format!(
            "new price of {} is negative ({})",
            p.sku, p.new_price
        )));
    }
    let price = units(p.new_price, "new price")?;
    let holders = state
        .store::<Holders>(HOLDERS)?
        .get(&p.product_id)?
        .unwrap_or_default();
    let mut carts = state.store::<Cart>(CARTS)?;
    let mut outs = Vec::new();
    for cart_id in &holders.carts {
        let Some(mut cart) = carts.get(cart_id)? else {
            continue;
        };
        if cart.currency.as_deref().is_some_and(|c| c != p.currency) {
            continue;
        }
        let matches =
            |l: &Line| l.product_id == p.product_id && (p.variant_id.is_none() || l.sku == p.sku);
        let mut changed = None;
        for l in cart.lines.iter_mut().filter(|l| matches(l)) {
            if l.unit_price_units != price {
                l.unit_price_units = price;
                changed.get_or_insert(l.clone());
            }
        }
        let Some(changed) = changed else {
            continue;
        };
        carts.put(cart_id, &cart)?;
        // The id follows the cart, not its place in the list (which changes between replays).
        let metadata = change
            .metadata()
            .caused_for::<CartUpdated>(NAME, cart_id, 0);
        outs.push(Out::new(weft_contracts::Event::new(
            metadata,
            CartUpdated {
                cart_id: cart_id.clone(),
                user_id: cart.user_id.clone(),
                action: CartAction::PriceUpdated,
                updated_at: p.changed_at,
                items: cart.lines.iter().map(item).collect::<Result<_, _>>()?,
                changed_item: Some(item(&changed)?),
                totals: None,
            },
        )));
    }
    Ok(outs)
}

/// `order.created` -> its cart (the order's correlation id) cleared.
pub fn clear_ordered_cart(
    order: &In<OrderCreated>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let cart_id = order.metadata().correlation_id.clone();
    let Some(cart) = state.store::<Cart>(CARTS)?.get(&cart_id)? else {
        return Ok(vec![]);
    };
    index(state, &cart_id, &products(&cart), false)?;
    state.store::<Cart>(CARTS)?.delete(&cart_id);
    Ok(vec![order.emit(
        0,
        CartUpdated {
            cart_id,
            user_id: cart.user_id,
            action: CartAction::CartCleared,
            updated_at: order.payload().created_at,
            items: vec![],
            changed_item: None,
            totals: None,
        },
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn cart(id: &str, lines: &[(&str, i32, &str)]) -> Event<CartUpdated> {
        let mut c = CartUpdated::example();
        c.cart_id = id.into();
        c.items = lines
            .iter()
            .map(|(p, q, price)| CartUpdatedItem {
                product_id: p.to_string(),
                sku: p.to_string(),
                quantity: *q,
                unit_price: dec(price),
                line_total: dec(price).checked_mul_int(i64::from(*q)).unwrap(),
            })
            .collect();
        Event::new(
            EventMetadata::new_for::<CartUpdated>("checkout-service", "u"),
            c,
        )
    }

    fn price(product: &str, to: &str) -> Event<PriceChanged> {
        let mut p = PriceChanged::example();
        p.product_id = product.into();
        p.variant_id = None;
        p.sku = product.into();
        p.new_price = dec(to);
        Event::new(EventMetadata::new_for::<PriceChanged>("pricing", "u"), p)
    }

    #[test]
    fn a_price_change_reprices_every_cart_holding_the_product_once() {
        let mut driver = TestDriver::new(processor()).unwrap();
        driver
            .feed(cart("c1", &[("P1", 2, "10"), ("P2", 1, "5")]))
            .unwrap();
        driver.feed(cart("c2", &[("P1", 3, "10")])).unwrap();
        driver.feed(cart("c3", &[("P2", 1, "5")])).unwrap();
        let change = price("P1", "12");
        let outs = driver.feed(change.clone()).unwrap();
        let updates: Vec<_> = outs
            .iter()
            .map(|o| o.event::<CartUpdated>().unwrap().payload.clone())
            .collect();
        assert_eq!(
            updates
                .iter()
                .map(|u| u.cart_id.as_str())
                .collect::<Vec<_>>(),
            ["c1", "c2"]
        );
        let c1 = &updates[0];
        assert_eq!(c1.action, CartAction::PriceUpdated);
        assert_eq!(c1.items.len(), 2);
        let changed = c1.changed_item.as_ref().unwrap();
        assert_eq!(
            (changed.unit_price, changed.line_total),
            (dec("12"), dec("24"))
        );
        assert_eq!(c1.totals, None);
        // The same change again: every cart is at the new price already.
        assert!(driver.feed(change).unwrap().is_empty());
        // The worker's own output, read back, changes nothing.
        let own = outs[0].event::<CartUpdated>().unwrap().clone();
        let mut own_meta = own.metadata.clone();
        own_meta.producer = NAME.into();
        assert!(driver
            .feed(Event::new(own_meta, own.payload))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_order_clears_the_cart_it_was_checked_out_from() {
        let mut driver = TestDriver::new(processor()).unwrap();
        driver.feed(cart("cart-9", &[("P1", 1, "10")])).unwrap();
        let mut meta = EventMetadata::new_for::<OrderCreated>("checkout-service", "u");
        meta.correlation_id = "cart-9".into();
        let order = Event::new(meta, OrderCreated::example());
        let outs = driver.feed(order.clone()).unwrap();
        assert_eq!(outs.len(), 1);
        let cleared = outs[0].event::<CartUpdated>().unwrap();
        assert_eq!(cleared.payload.action, CartAction::CartCleared);
        assert!(cleared.payload.items.is_empty());
        assert_eq!(
            cleared.metadata.causation_id.as_deref(),
            Some(order.metadata.event_id.as_str())
        );
        assert_eq!(cleared.metadata.correlation_id, "cart-9");
        assert_eq!(driver.state::<Cart>(CARTS, "cart-9"), None);
        // A later price change finds no cart.
        assert!(driver.feed(price("P1", "11")).unwrap().is_empty());
        // Ordered again (a replay): nothing to clear.
        assert!(driver.feed(order).unwrap().is_empty());
    }
}
