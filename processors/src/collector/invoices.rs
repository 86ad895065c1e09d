//! The invoices service (seed 001, order-to-cash): a confirmed delivery is invoiced from the
//! order it delivers; the invoice's payment closes it.
//!
//! - `order.created` -> nothing; the order (number, customer, currency, lines, grand total) is
//!   kept in the store `orders`;
//! - `delivery.confirmed` -> `invoice.issued` for the delivered order: the order's lines
//!   (quantity x unit price), subtotal = the sum of the lines, grand total = the order's (the
//!   offer's total after discounts and tax), due the configured number of days after the
//!   confirmation (`WEFT_INVOICE_PAYMENT_DAYS`, 30, like the seed's example of one month). The
//!   order carries no tax split, so `tax_total` is null rather than a guess. One invoice per
//!   order: its id is a UUID v5 of the order id, its number the order number with `ORD`
//!   replaced by `INV` (`ORD-2024-001` -> `INV-2024-001`), so a replay issues the same invoice;
//!   a second delivery note of an invoiced order issues nothing (partial deliveries are not
//!   split);
//! - `invoice.paid` -> nothing emitted (the seed gives the step no event); the payment is added
//!   to the invoice, and an invoice paid in full is closed: its record is deleted and the order
//!   is kept only as "invoiced" (without its lines), so a late confirmation issues nothing.
//!   A payment of an invoice this service did not issue changes nothing.
//! - State: `orders` (by order id) and `invoices` (by invoice id). `invoice.paid` has no order
//!   id, so all three inputs are **re-keyed by customer** through the group's repartition
//!   topic: a customer's orders, deliveries and payments meet on one partition.
//!
//! A confirmation whose order the service has not seen (still on its way in the other topic, or
//! created before the service ran) is a transient failure: retried after 10 s, 60 s and 300 s,
//! then dead-lettered with the reason (replayable with `weft dlq replay`). Poison: a delivery of
//! another customer's order, a payment in another currency than its invoice or not positive.

use apache_avro::AvroSchema;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use weft_contracts::collector::delivery::DeliveryConfirmed;
use weft_contracts::collector::invoice::{InvoiceIssued, InvoiceLineItem, InvoicePaid};
use weft_contracts::collector::order::OrderCreated;
use weft_contracts::Decimal4;
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "collector.invoices-service";

/// The store of orders, by order id.
pub const ORDERS: &str = "orders";
/// The store of open invoices, by invoice id.
pub const INVOICES: &str = "invoices";

/// Days from confirmation to due date, by default.
pub const PAYMENT_DAYS: i64 = 30;

/// Payment event ids an invoice remembers (a payment delivered twice upstream counts once).
const PAYMENTS_KEPT: usize = 32;

/// An order as the service keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "collector.invoices.state")]
pub struct OrderRecord {
    pub order_number: String,
    pub customer_id: String,
    pub currency: String,
    /// In ten-thousandths of `currency`.
    pub grand_total_units: i64,
    /// Emptied once invoiced and paid.
    pub lines: Vec<OrderLine>,
    /// Set once the order is invoiced.
    pub invoice_id: Option<String>,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "collector.invoices.state")]
pub struct OrderLine {
    pub description: String,
    pub quantity: i32,
    pub unit_price_units: i64,
}

/// An open invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "collector.invoices.state")]
pub struct InvoiceRecord {
    pub order_id: String,
    pub currency: String,
    pub grand_total_units: i64,
    pub paid_units: i64,
    /// The last payments' event ids.
    pub payments: Vec<String>,
}

/// The registration; invoices are due `payment_days` after the confirmation.
pub fn processor(payment_days: i64) -> Processor {
    Processor::new(NAME)
        .store::<OrderRecord>(ORDERS)
        .store::<InvoiceRecord>(INVOICES)
        .on_stateful_by::<OrderCreated>(|o| o.customer_id.clone(), remember_order)
        .on_stateful_by::<DeliveryConfirmed>(
            |d| d.customer_id.clone(),
            move |i, s| invoice_delivery(i, s, payment_days),
        )
        .on_stateful_by::<InvoicePaid>(|p| p.customer_id.clone(), record_payment)
        .emits::<InvoiceIssued>()
}

fn units(d: Decimal4, what: &str) -> Result<i64, ProcessError> {
    i64::try_from(d.units()).map_err(|_| ProcessError::Poison(format!("{what} {d} overflows")))
}

fn decimal(units: i128, what: &str) -> Result<Decimal4, ProcessError> {
    Decimal4::from_units(units).map_err(|e| ProcessError::Poison(format!("{what}: {e}")))
}

/// The invoice number of an order number.
pub fn invoice_number(order_number: &str) -> String {
    match order_number.strip_prefix("ORD") {
        Some(rest) => format!("INV{rest}"),
        None => format!("INV-{order_number}"),
    }
}

/// The invoice id of an order: stable across replays.
pub fn invoice_id(order_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("collector.invoice/{order_id}").as_bytes(),
    )
    .to_string()
}

/// `order.created` -> the order is remembered.
pub fn remember_order(
    created: &In<OrderCreated>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let o = created.payload();
    let mut orders = state.store::<OrderRecord>(ORDERS)?;
    if orders.get(&o.order_id)?.is_some() {
        return Ok(vec![]);
    }
    let lines = o
        .line_items
        .iter()
        .map(|l| {
            Ok(OrderLine {
                description: l.description.clone(),
                quantity: l.quantity,
                unit_price_units: units(l.unit_price, "unit price")?,
            })
        })
        .collect::<Result<Vec<_>, ProcessError>>()?;
    orders.put(
        &o.order_id,
        &OrderRecord {
            order_number: o.order_number.clone(),
            customer_id: o.customer_id.clone(),
            currency: o.currency.clone(),
            grand_total_units: units(o.grand_total, "grand total")?,
            lines,
            invoice_id: None,
        },
    )?;
    Ok(vec![])
}

/// `delivery.confirmed` -> `invoice.issued` for its order.
pub fn invoice_delivery(
    confirmed: &In<DeliveryConfirmed>,
    state: &mut State<'_>,
    payment_days: i64,
) -> Result<Vec<Out>, ProcessError> {
    let d = confirmed.payload();
    let mut orders = state.store::<OrderRecord>(ORDERS)?;
    let Some(mut order) = orders.get(&d.order_id)? else {
        // Events are re-keyed by customer: a delivery naming another customer than its order's
        // looks here in vain, and ends in the dead-letter topic with this reason too.
        return Err(ProcessError::Transient(format!(
            "delivery {}: order {} of customer {} not seen yet",
            d.delivery_number, d.order_id, d.customer_id
        )));
    };
    if order.customer_id != d.customer_id {
        return Err(ProcessError::Poison(format!(
            "delivery {} is for customer {}, its order {} belongs to {}",
            d.delivery_number, d.customer_id, order.order_number, order.customer_id
        )));
    }
    if order.invoice_id.is_some() {
        return Ok(vec![]);
    }
    let mut line_items = Vec::with_capacity(order.lines.len());
    let mut subtotal: i128 = 0;
    for l in &order.lines {
        let total = i128::from(l.unit_price_units) * i128::from(l.quantity);
        subtotal += total;
        line_items.push(InvoiceLineItem {
            description: l.description.clone(),
            quantity: Decimal4::from_int(i64::from(l.quantity)),
            unit_price: decimal(i128::from(l.unit_price_units), "unit price")?,
            total: decimal(total, "line total")?,
        });
    }
    let id = invoice_id(&d.order_id);
    let issued = InvoiceIssued {
        invoice_id: id.clone(),
        invoice_number: invoice_number(&order.order_number),
        customer_id: order.customer_id.clone(),
        order_id: Some(d.order_id.clone()),
        delivery_note_id: Some(d.delivery_note_id.clone()),
        currency: order.currency.clone(),
        subtotal: decimal(subtotal, "subtotal")?,
        tax_total: None,
        grand_total: decimal(i128::from(order.grand_total_units), "grand total")?,
        due_date: confirmed.metadata().occurred_at + Duration::days(payment_days),
        line_items,
    };
    order.invoice_id = Some(id.clone());
    let record = InvoiceRecord {
        order_id: d.order_id.clone(),
        currency: order.currency.clone(),
        grand_total_units: order.grand_total_units,
        paid_units: 0,
        payments: vec![],
    };
    orders.put(&d.order_id, &order)?;
    state.store::<InvoiceRecord>(INVOICES)?.put(&id, &record)?;
    Ok(vec![confirmed.emit(0, issued)])
}

/// `invoice.paid` -> the payment recorded; an invoice paid in full is closed.
pub fn record_payment(
    paid: &In<InvoicePaid>,
    state: &mut State<'_>,
) -> Result<Vec<Out>, ProcessError> {
    let p = paid.payload();
    let mut invoices = state.store::<InvoiceRecord>(INVOICES)?;
    let Some(mut invoice) = invoices.get(&p.invoice_id)? else {
        // Not issued here, or closed already.
        return Ok(vec![]);
    };
    if p.currency != invoice.currency {
        return Err(ProcessError::Poison(format!(
            "payment of invoice {} in {}, the invoice is in {}",
            p.invoice_number, p.currency, invoice.currency
        )));
    }
    if p.amount <= Decimal4::ZERO {
        return Err(ProcessError::Poison(format!(
            "payment of invoice {}: amount {} is not positive",
            p.invoice_number, p.amount
        )));
    }
    let event_id = &paid.metadata().event_id;
    if invoice.payments.contains(event_id) {
        return Ok(vec![]);
    }
    invoice.paid_units += units(p.amount, "payment")?;
    if invoice.paid_units < invoice.grand_total_units {
        invoice.payments.push(event_id.clone());
        let excess = invoice.payments.len().saturating_sub(PAYMENTS_KEPT);
        invoice.payments.drain(..excess);
        invoices.put(&p.invoice_id, &invoice)?;
        return Ok(vec![]);
    }
    invoices.delete(&p.invoice_id);
    let mut orders = state.store::<OrderRecord>(ORDERS)?;
    if let Some(mut order) = orders.get(&invoice.order_id)? {
        order.lines.clear();
        orders.put(&invoice.order_id, &order)?;
    }
    Ok(vec![])
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn order() -> Event<OrderCreated> {
        Event::new(
            EventMetadata::new_for::<OrderCreated>("orders-service", "u"),
            OrderCreated::example(),
        )
    }

    fn confirmed(order: &OrderCreated) -> Event<DeliveryConfirmed> {
        let mut d = DeliveryConfirmed::example();
        d.delivery_note_id = uuid::Uuid::new_v4().to_string();
        d.order_id = order.order_id.clone();
        d.customer_id = order.customer_id.clone();
        Event::new(
            EventMetadata::new_for::<DeliveryConfirmed>("delivery-service", "u"),
            d,
        )
    }

    fn payment(invoice: &InvoiceIssued, amount: &str) -> Event<InvoicePaid> {
        let mut p = InvoicePaid::example();
        p.invoice_id = invoice.invoice_id.clone();
        p.customer_id = invoice.customer_id.clone();
        p.currency = invoice.currency.clone();
        p.amount = dec(amount);
        Event::new(
            EventMetadata::new_for::<InvoicePaid>("accounting-service", "u"),
            p,
        )
    }

    #[test]
    fn a_confirmed_delivery_is_invoiced_once_from_its_order_and_paid_in_parts() {
        let mut driver = TestDriver::new(processor(PAYMENT_DAYS)).unwrap();
        let order = order();
        assert!(driver.feed(order.clone()).unwrap().is_empty());
        let confirmation = confirmed(&order.payload);
        let outs = driver.feed(confirmation.clone()).unwrap();
        assert_eq!(outs.len(), 1);
        let invoice = outs[0].event::<InvoiceIssued>().unwrap();
        let i = &invoice.payload;
        assert_eq!(i.invoice_number, "INV-2024-001");
        assert_eq!(i.invoice_id, invoice_id(&order.payload.order_id));
        assert_eq!(i.order_id.as_deref(), Some(order.payload.order_id.as_str()));
        assert_eq!(
            i.delivery_note_id.as_deref(),
            Some(confirmation.payload.delivery_note_id.as_str())
        );
        assert_eq!(i.subtotal, dec("1500"));
        assert_eq!(i.grand_total, order.payload.grand_total);
        assert_eq!(i.tax_total, None);
        assert_eq!(i.line_items[0].quantity, dec("5"));
        assert_eq!(i.line_items[0].total, dec("1500"));
        assert_eq!(
            i.due_date.timestamp_millis(),
            (confirmation.metadata.occurred_at + Duration::days(30)).timestamp_millis()
        );
        assert_eq!(
            invoice.metadata.causation_id.as_deref(),
            Some(confirmation.metadata.event_id.as_str())
        );
        // A second delivery note of the same order: nothing.
        assert!(driver.feed(confirmed(&order.payload)).unwrap().is_empty());
        // Paid in two parts, the second delivered twice: closed once.
        let i = invoice.payload.clone();
        assert!(driver.feed(payment(&i, "1000")).unwrap().is_empty());
        assert_eq!(
            driver
                .state::<InvoiceRecord>(INVOICES, &i.invoice_id)
                .unwrap()
                .paid_units,
            10_000_000
        );
        let rest = payment(&i, "500");
        assert!(driver.feed(rest.clone()).unwrap().is_empty());
        assert!(driver.feed(rest).unwrap().is_empty());
        assert_eq!(driver.state::<InvoiceRecord>(INVOICES, &i.invoice_id), None);
        let closed = driver
            .state::<OrderRecord>(ORDERS, &order.payload.order_id)
            .unwrap();
        assert!(closed.lines.is_empty() && closed.invoice_id.is_some());
        assert!(driver.feed(confirmed(&order.payload)).unwrap().is_empty());
    }

    #[test]
    fn a_delivery_before_its_order_is_retried_and_a_foreign_one_is_poison() {
        let mut driver = TestDriver::new(processor(PAYMENT_DAYS)).unwrap();
        let order = order();
        let early = driver.feed(confirmed(&order.payload)).unwrap_err();
        assert!(early.message().contains("not seen yet"), "{early:?}");
        assert!(matches!(early, ProcessError::Transient(_)));
        driver.feed(order.clone()).unwrap();
        let mut foreign = confirmed(&order.payload);
        foreign.payload.customer_id = uuid::Uuid::new_v4().to_string();
        assert!(matches!(
            driver.feed(foreign).unwrap_err(),
            ProcessError::Poison(_)
        ));
        assert_eq!(driver.feed(confirmed(&order.payload)).unwrap().len(), 1);
    }
}
