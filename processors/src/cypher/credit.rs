//! The credit worker (seed 000 section 6): B2B orders reserve credit on their customer's account,
//! and payments are recorded.
//!
//! - `order.created` (B2B only) -> reserves the order total against the customer's available
//!   credit (limit - balance - open reservations) and emits `credit.changed` (`balance_decreased`,
//!   as the seed names it: available went down by the total), or, when the total is above what is
//!   available, `credit.order_rejected` (`INSUFFICIENT_CREDIT`) and reserves nothing. B2C orders
//!   are not the credit worker's business.
//! - `order.cancelled` -> the order's reservation is released: `credit.changed`
//!   (`balance_increased`); an order with nothing reserved changes nothing.
//! - `order.paid` -> `credit.payment_received` applied to the order (as before), and the order's
//!   reservation is settled, or its open invoice paid (the balance goes down by the invoice's
//!   total): `credit.changed` (`payment_received`).
//! - `invoice.issued` -> the balance goes up by the invoice's total (seed 000 section 6.4:
//!   "Increase balance"): `credit.changed` (`balance_increased`, previous and new balance, the
//!   invoice's payment term). The invoiced order's reservation, if any, becomes that balance (it
//!   is taken off, so available credit is not charged twice); an invoice without a reserved order
//!   takes available credit down, below zero if it must (an invoice is a fact, not a request). An
//!   invoice of an order already closed (paid or cancelled) books nothing; an invoice id seen
//!   before books nothing again.
//! - State: the store `accounts`, keyed by customer. The order events are keyed by order, so they
//!   are **re-keyed** by `customer_id` through the group's repartition topic (exactly once, like
//!   any output) before the account is touched; one customer's events are then handled in order
//!   on one partition.
//! - A new account starts with the configured limit (`WEFT_CREDIT_DEFAULT_LIMIT`, 50,000) in the
//!   first order's currency; the seed's credit service owns limits, and no limit event reaches the
//!   worker yet.
//! - Idempotent by order id: a reservation is made once per order, and an order already
//!   cancelled or paid (its last [`CLOSED_KEPT`] ids are kept per account) reserves nothing, also
//!   when its cancellation overtook its creation (two topics, re-keyed into one partition in the
//!   order they arrive).
//!
//! Poison: a payment or invoice of zero or less, an invoice in another currency than the
//! account, a currency that is not a three-letter ISO 4217 code, an
//! order without a customer, an order in another currency than its customer's account.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};
use weft_contracts::cypher::credit::{
    CreditChangeType, CreditChanged, CreditCustomerType, CreditOrderRejected,
    CreditPaymentReceived, CreditPaymentTarget, CreditPaymentTerm, CreditRejectionReason,
};
use weft_contracts::cypher::invoice::InvoiceIssued;
use weft_contracts::cypher::order::{OrderCancelled, OrderCreated, OrderCustomerType, OrderPaid};
use weft_contracts::{Contract, Decimal4};
use weft_runtime::{In, Out, ProcessError, Processor, State};

/// The consumer group and processor name.
pub const NAME: &str = "cypher.credit-worker";

/// The store of credit accounts, by customer.
pub const ACCOUNTS: &str = "accounts";

/// Closed (cancelled or paid) order ids an account keeps.
pub const CLOSED_KEPT: usize = 256;

/// The limit of a new account, by default.
pub const DEFAULT_LIMIT: i64 = 50_000;

/// A customer's credit account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "cypher.credit.state")]
pub struct Account {
    /// Amounts in ten-thousandths of `currency`.
    pub credit_limit_units: i64,
    /// Invoiced and not paid: the sum of `invoices`.
    pub balance_units: i64,
    /// Open orders' reservations.
    pub reservations: Vec<Reservation>,
    pub currency: String,
    /// The last orders cancelled or paid (at most [`CLOSED_KEPT`]), oldest first.
    pub closed_orders: Vec<String>,
    /// Open (issued, not paid) invoices.
    #[serde(default)]
    #[avro(default = "[]")]
    pub invoices: Vec<OpenInvoice>,
    /// The last invoices booked and closed (at most [`CLOSED_KEPT`]), oldest first: a
    /// redelivered `invoice.issued` books nothing.
    #[serde(default)]
    #[avro(default = "[]")]
    pub closed_invoices: Vec<String>,
}

/// An invoice issued and not paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "cypher.credit.state")]
pub struct OpenInvoice {
    pub invoice_id: String,
    pub order_id: Option<String>,
    pub amount_units: i64,
}

/// Credit held for one open order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "cypher.credit.state")]
pub struct Reservation {
    pub order_id: String,
    pub amount_units: i64,
}

impl Account {
    fn new(limit: Decimal4, currency: &str) -> Result<Self, ProcessError> {
        Ok(Account {
            credit_limit_units: units(limit, "credit limit")?,
            balance_units: 0,
            reservations: vec![],
            currency: currency.to_string(),
            closed_orders: vec![],
            invoices: vec![],
            closed_invoices: vec![],
        })
    }

    /// `customer`'s account, or a new one with `limit` in `currency`.
    fn of(
        accounts: &weft_runtime::Store<'_, '_, Account>,
        customer: &str,
        limit: Decimal4,
        currency: &str,
    ) -> Result<Self, ProcessError> {
        match accounts.get(customer)? {
            Some(a) => Ok(a),
            None => Account::new(limit, currency),
        }
    }

    fn close(&mut self, order_id: &str) {
        keep_last(&mut self.closed_orders, order_id);
    }

    fn reserved(&self) -> i64 {
        self.reservations.iter().map(|r| r.amount_units).sum()
    }

    fn available(&self) -> i64 {
        self.credit_limit_units - self.balance_units - self.reserved()
    }
}

/// Appends `id` to `list` once, keeping the last [`CLOSED_KEPT`].
fn keep_last(list: &mut Vec<String>, id: &str) {
    if !list.iter().any(|o| o == id) {
        list.push(id.to_string());
    }
    let excess = list.len().saturating_sub(CLOSED_KEPT);
    list.drain(..excess);
}

/// The registration; new accounts get `limit`.
pub fn processor(limit: Decimal4) -> Processor {
    Processor::new(NAME)
        .store::<Account>(ACCOUNTS)
        .on_stateful_by::<OrderCreated>(
            |o| o.customer_id.trim().to_string(),
            move |i, s| reserve(i, s, limit),
        )
        .on_stateful_by::<OrderCancelled>(
            |o| o.customer_id.trim().to_string(),
            move |i, s| release(i, s, limit),
        )
        .on_stateful_by::<OrderPaid>(
            |o| o.customer_id.trim().to_string(),
            move |i, s| payment_from_order(i, s, limit),
        )
        .on_stateful_by::<InvoiceIssued>(
            |i| i.customer_id.trim().to_string(),
            move |i, s| book_invoice(i, s, limit),
        )
        .emits::<CreditPaymentReceived>()
        .emits::<CreditChanged>()
        .emits::<CreditOrderRejected>()
}

fn units(d: Decimal4, what: &str) -> Result<i64, ProcessError> {
    i64::try_from(d.units()).map_err(|_| ProcessError::Poison(format!("{what} {d} overflows")))
}

fn decimal(units: i64) -> Decimal4 {
    Decimal4::from_units(i128::from(units)).unwrap_or(Decimal4::ZERO)
}

/// `credit.changed` for `account` after a change of `kind` by `amount` (the balance was
/// `previous_balance` before it).
fn changed<P: Contract>(
    input: &In<P>,
    customer: &str,
    account: &Account,
    kind: CreditChangeType,
    amount: i64,
    previous_balance: i64,
    payment_term: CreditPaymentTerm,
) -> Out {
    let limit = account.credit_limit_units;
    let in_use = account.balance_units + account.reserved();
    // Percent with four decimals: units of in-use per unit of limit, times 100.
    let utilization = if limit > 0 {
        (i128::from(in_use) * 100 * 10_000) / i128::from(limit)
    } else {
        0
    };
    input.emit(
        0,
        CreditChanged {
            customer_id: customer.to_string(),
            customer_type: CreditCustomerType::B2b,
            change_type: kind,
            changed_at: input.metadata().occurred_at,
            changed_by: NAME.to_string(),
            previous_credit_limit: None,
            new_credit_limit: None,
            credit_limit: decimal(limit),
            available_credit: decimal(account.available()),
            credit_utilization: Decimal4::from_units(utilization).unwrap_or(Decimal4::ZERO),
            previous_balance: Some(decimal(previous_balance)),
            new_balance: Some(decimal(account.balance_units)),
            balance_change_amount: Some(decimal(amount)),
            currency: account.currency.clone(),
            payment_term,
        },
    )
}

/// `order.created` -> reservation and `credit.changed`, or `credit.order_rejected`.
pub fn reserve(
    order: &In<OrderCreated>,
    state: &mut State<'_>,
    limit: Decimal4,
) -> Result<Vec<Out>, ProcessError> {
    let o = order.payload();
    if o.customer_type != OrderCustomerType::B2b {
        return Ok(vec![]);
    }
    let customer = o.customer_id.trim();
    if customer.is_empty() {
        return Err(ProcessError::Poison(format!(
            "order {} has no customer",
            o.order_number
        )));
    }
    let total = units(o.totals.total, "order total")?;
    let mut accounts = state.store::<Account>(ACCOUNTS)?;
    let mut account = Account::of(&accounts, customer, limit, &o.totals.currency)?;
    if account.currency != o.totals.currency {
        return Err(ProcessError::Poison(format!(
            "order {} is in {}, the account of {customer} in {}",
            o.order_number, o.totals.currency, account.currency
        )));
    }
    // Reserved already, closed, or invoiced before its creation arrived (the invoice is the
    // balance: reserving too would charge the order twice).
    let seen = account
        .reservations
        .iter()
        .any(|r| r.order_id == o.order_id)
        || account.closed_orders.contains(&o.order_id)
        || account
            .invoices
            .iter()
            .any(|i| i.order_id.as_deref() == Some(o.order_id.as_str()));
    if seen {
        return Ok(vec![]);
    }
    if account.available() < total {
        return Ok(vec![order.emit(
            0,
            CreditOrderRejected {
                order_id: o.order_id.clone(),
                customer_id: customer.to_string(),
                reason: CreditRejectionReason::InsufficientCredit,
                order_total: o.totals.total,
                available_credit: decimal(account.available()),
                currency: account.currency.clone(),
            },
        )]);
    }
    account.reservations.push(Reservation {
        order_id: o.order_id.clone(),
        amount_units: total,
    });
    accounts.put(customer, &account)?;
    let balance = account.balance_units;
    Ok(vec![changed(
        order,
        customer,
        &account,
        CreditChangeType::BalanceDecreased,
        total,
        balance,
        CreditPaymentTerm::Unknown,
    )])
}

/// What closing an order changed on its account.
struct Settled {
    account: Account,
    /// The order's reservation taken off (0: none).
    released: i64,
    /// The order's invoice paid (0: none, or not paying).
    invoice_paid: i64,
    previous_balance: i64,
}

/// Closes `order_id` on `customer`'s account (a new one with `limit` in `currency` when there is
/// none): its reservation is taken off and, when `pay_invoice`, its open invoice paid. `None`
/// when the order was closed already or had neither.
fn settle(
    state: &mut State<'_>,
    customer: &str,
    order_id: &str,
    limit: Decimal4,
    currency: &str,
    pay_invoice: bool,
) -> Result<Option<Settled>, ProcessError> {
    let mut accounts = state.store::<Account>(ACCOUNTS)?;
    let mut account = Account::of(&accounts, customer, limit, currency)?;
    if account.closed_orders.iter().any(|c| c == order_id) {
        return Ok(None);
    }
    let previous_balance = account.balance_units;
    account.close(order_id);
    let released = account
        .reservations
        .iter()
        .position(|r| r.order_id == order_id)
        .map_or(0, |at| account.reservations.remove(at).amount_units);
    let mut invoice_paid = 0;
    if pay_invoice {
        if let Some(at) = account
            .invoices
            .iter()
            .position(|i| i.order_id.as_deref() == Some(order_id))
        {
            let invoice = account.invoices.remove(at);
            account.balance_units -= invoice.amount_units;
            keep_last(&mut account.closed_invoices, &invoice.invoice_id);
            invoice_paid = invoice.amount_units;
        }
    }
    accounts.put(customer, &account)?;
    let changed = released != 0 || invoice_paid != 0;
    Ok(changed.then_some(Settled {
        account,
        released,
        invoice_paid,
        previous_balance,
    }))
}

/// `invoice.issued` -> the balance increased by its total, the order's reservation turned into
/// it, `credit.changed`.
pub fn book_invoice(
    issued: &In<InvoiceIssued>,
    state: &mut State<'_>,
    limit: Decimal4,
) -> Result<Vec<Out>, ProcessError> {
    let i = issued.payload();
    let poison = |why: String| ProcessError::Poison(format!("invoice {}: {why}", i.invoice_number));
    let customer = i.customer_id.trim();
    if customer.is_empty() {
        return Err(poison("has no customer".into()));
    }
    if i.total <= Decimal4::ZERO {
        return Err(poison(format!("total {} is not positive", i.total)));
    }
    let total = units(i.total, "invoice total")?;
    let mut accounts = state.store::<Account>(ACCOUNTS)?;
    let mut account = Account::of(&accounts, customer, limit, &i.currency)?;
    if account.currency != i.currency {
        return Err(poison(format!(
            "it is in {}, the account of {customer} in {}",
            i.currency, account.currency
        )));
    }
    let seen = account
        .invoices
        .iter()
        .any(|o| o.invoice_id == i.invoice_id)
        || account.closed_invoices.contains(&i.invoice_id);
    let order_closed = i
        .order_id
        .as_ref()
        .is_some_and(|o| account.closed_orders.contains(o));
    if seen || order_closed {
        if order_closed {
            keep_last(&mut account.closed_invoices, &i.invoice_id);
            accounts.put(customer, &account)?;
        }
        return Ok(vec![]);
    }
    let previous_balance = account.balance_units;
    account.balance_units += total;
    if let Some(order) = &i.order_id {
        if let Some(at) = account
            .reservations
            .iter()
            .position(|r| &r.order_id == order)
        {
            account.reservations.remove(at);
        }
    }
    account.invoices.push(OpenInvoice {
        invoice_id: i.invoice_id.clone(),
        order_id: i.order_id.clone(),
        amount_units: total,
    });
    accounts.put(customer, &account)?;
    Ok(vec![changed(
        issued,
        customer,
        &account,
        CreditChangeType::BalanceIncreased,
        total,
        previous_balance,
        CreditPaymentTerm::from_symbol(i.payment_term.as_str()),
    )])
}

/// `order.cancelled` -> the reservation released, `credit.changed`.
pub fn release(
    cancelled: &In<OrderCancelled>,
    state: &mut State<'_>,
    limit: Decimal4,
) -> Result<Vec<Out>, ProcessError> {
    let o = cancelled.payload();
    let customer = o.customer_id.trim();
    Ok(
        match settle(
            state,
            customer,
            &o.order_id,
            limit,
            &o.totals.currency,
            false,
        )? {
            Some(s) => vec![changed(
                cancelled,
                customer,
                &s.account,
                CreditChangeType::BalanceIncreased,
                s.released,
                s.previous_balance,
                CreditPaymentTerm::Unknown,
            )],
            None => vec![],
        },
    )
}

/// `order.paid` -> `credit.payment_received`, and the order's reservation settled
/// (`credit.changed`, `payment_received`).
pub fn payment_from_order(
    paid: &In<OrderPaid>,
    state: &mut State<'_>,
    limit: Decimal4,
) -> Result<Vec<Out>, ProcessError> {
    let p = paid.payload();
    let poison = |why: String| ProcessError::Poison(format!("order {}: {why}", p.order_number));
    if p.customer_id.trim().is_empty() {
        return Err(poison("has no customer to credit".into()));
    }
    if p.amount <= Decimal4::ZERO {
        return Err(poison(format!("amount {} is not positive", p.amount)));
    }
    if p.currency.len() != 3 || !p.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(poison(format!(
            "currency `{}` is not an ISO 4217 code",
            p.currency
        )));
    }
    let customer = p.customer_id.trim();
    let mut outs = vec![paid.emit(
        0,
        CreditPaymentReceived {
            customer_id: customer.to_string(),
            applied_to: CreditPaymentTarget::Order,
            reference_id: p.order_id.clone(),
            amount: p.amount,
            currency: p.currency.clone(),
            received_at: p.paid_at,
            payment_reference: p.payment_reference.clone(),
        },
    )];
    if let Some(s) = settle(state, customer, &p.order_id, limit, &p.currency, true)? {
        outs.push(changed(
            paid,
            customer,
            &s.account,
            CreditChangeType::PaymentReceived,
            s.released + s.invoice_paid,
            s.previous_balance,
            CreditPaymentTerm::Unknown,
        ));
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{dec, Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn paid(f: impl FnOnce(&mut OrderPaid)) -> Event<OrderPaid> {
        let mut p = OrderPaid::example();
        f(&mut p);
        Event::new(EventMetadata::new_for::<OrderPaid>("orders", "user-1"), p)
    }

    #[test]
    fn a_paid_order_becomes_a_payment_keyed_by_its_customer() {
        let mut driver = TestDriver::new(processor(Decimal4::from_int(DEFAULT_LIMIT))).unwrap();
        let input = paid(|_| {});
        let outs = driver.feed(input.clone()).unwrap();
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].topic(), "cypher.credit.payment-received.v1");
        assert_eq!(
            outs[0].key(),
            input.payload.customer_id,
            "keyed by customer"
        );
        let payment = outs[0].event::<CreditPaymentReceived>().unwrap();
        let p = &payment.payload;
        assert_eq!(p.applied_to, CreditPaymentTarget::Order);
        assert_eq!(p.reference_id, input.payload.order_id);
        assert_eq!(p.amount, input.payload.amount);
        assert_eq!(p.currency, input.payload.currency);
        assert_eq!(p.received_at, input.payload.paid_at);
        assert_eq!(p.payment_reference, input.payload.payment_reference);
        assert_eq!(
            payment.metadata.causation_id.as_deref(),
            Some(input.metadata.event_id.as_str())
        );
        assert_eq!(
            payment.metadata.correlation_id,
            input.metadata.correlation_id
        );
        assert_eq!(payment.metadata.producer, NAME);
    }

    #[test]
    fn a_payment_without_a_bank_reference_is_still_recorded() {
        let mut driver = TestDriver::new(processor(Decimal4::from_int(DEFAULT_LIMIT))).unwrap();
        let outs = driver
            .feed(paid(|p| {
                p.payment_reference = None;
                p.amount = dec("0.0100");
            }))
            .unwrap();
        let p = &outs[0].event::<CreditPaymentReceived>().unwrap().payload;
        assert_eq!(p.payment_reference, None);
        assert_eq!(p.amount, dec("0.01"));
    }

    fn created(customer: &str, total: &str) -> Event<OrderCreated> {
        let mut o = OrderCreated::example();
        o.order_id = uuid::Uuid::new_v4().to_string();
        o.customer_id = customer.into();
        o.customer_type = OrderCustomerType::B2b;
        o.totals.total = dec(total);
        Event::new(EventMetadata::new_for::<OrderCreated>("checkout", "u"), o)
    }

    fn available(outs: &[Out]) -> Decimal4 {
        outs.iter()
            .find_map(|o| o.event::<CreditChanged>())
            .expect("a credit.changed")
            .payload
            .available_credit
    }

    #[test]
    fn orders_reserve_credit_by_customer_until_it_runs_out_and_cancellation_releases_it() {
        let mut driver = TestDriver::new(processor(dec("1000"))).unwrap();
        let first = created("CUST-1", "600");
        let outs = driver.feed(first.clone()).unwrap();
        assert_eq!(available(&outs), dec("400"));
        assert_eq!(outs[0].key(), "CUST-1", "credit.changed keyed by customer");
        // Another customer has an account of its own.
        assert_eq!(
            available(&driver.feed(created("CUST-2", "100")).unwrap()),
            dec("900")
        );
        // Above what is left: rejected, nothing reserved.
        let outs = driver.feed(created("CUST-1", "500")).unwrap();
        let rejected = outs[0].event::<CreditOrderRejected>().unwrap();
        assert_eq!(
            rejected.payload.reason,
            CreditRejectionReason::InsufficientCredit
        );
        assert_eq!(rejected.payload.available_credit, dec("400"));
        // The same order again reserves nothing more.
        assert!(driver.feed(first.clone()).unwrap().is_empty());
        // Cancelling the first releases its reservation.
        let mut c = OrderCancelled::example();
        c.order_id = first.payload.order_id.clone();
        c.customer_id = "CUST-1".into();
        let cancelled = Event::new(EventMetadata::new_for::<OrderCancelled>("checkout", "u"), c);
        let outs = driver.feed(cancelled.clone()).unwrap();
        assert_eq!(available(&outs), dec("1000"));
        assert!(driver.feed(cancelled).unwrap().is_empty(), "released once");
        let account: Account = driver.state(ACCOUNTS, "CUST-1").unwrap();
        assert!(account.reservations.is_empty());
        // A cancellation that overtakes its order's creation: the order reserves nothing later.
        let late = created("CUST-3", "100");
        let mut c = OrderCancelled::example();
        c.order_id = late.payload.order_id.clone();
        c.customer_id = "CUST-3".into();
        c.totals.currency = late.payload.totals.currency.clone();
        let early = Event::new(EventMetadata::new_for::<OrderCancelled>("checkout", "u"), c);
        assert!(driver.feed(early).unwrap().is_empty());
        assert!(
            driver.feed(late).unwrap().is_empty(),
            "a cancelled order reserves nothing"
        );
        let account: Account = driver.state(ACCOUNTS, "CUST-3").unwrap();
        assert_eq!(account.available(), 1000 * 10_000);
    }

    fn invoice(order: &Event<OrderCreated>, total: &str) -> Event<InvoiceIssued> {
        let mut i = InvoiceIssued::example();
        i.invoice_id = uuid::Uuid::new_v4().to_string();
        i.customer_id = order.payload.customer_id.clone();
        i.order_id = Some(order.payload.order_id.clone());
        i.currency = order.payload.totals.currency.clone();
        i.total = dec(total);
        Event::new(EventMetadata::new_for::<InvoiceIssued>("invoicing", "u"), i)
    }

    #[test]
    fn an_invoice_turns_the_orders_reservation_into_balance_and_its_payment_clears_it() {
        let mut driver = TestDriver::new(processor(dec("1000"))).unwrap();
        let order = created("CUST-1", "300");
        assert_eq!(available(&driver.feed(order.clone()).unwrap()), dec("700"));
        // Invoiced: the reservation becomes balance; available stays where it was.
        let issued = invoice(&order, "300");
        let outs = driver.feed(issued.clone()).unwrap();
        let c = outs[0].event::<CreditChanged>().unwrap().payload.clone();
        assert_eq!(c.change_type, CreditChangeType::BalanceIncreased);
        assert_eq!(c.previous_balance, Some(dec("0")));
        assert_eq!(c.new_balance, Some(dec("300")));
        assert_eq!(c.available_credit, dec("700"));
        assert_eq!(c.payment_term, CreditPaymentTerm::Net30);
        // The same invoice again books nothing.
        assert!(driver.feed(issued).unwrap().is_empty());
        // An invoice without a reserved order takes available credit down.
        let other = created("CUST-1", "0");
        let mut loose = invoice(&other, "200");
        loose.payload.order_id = None;
        let c = driver.feed(loose).unwrap()[0]
            .event::<CreditChanged>()
            .unwrap()
            .payload
            .clone();
        assert_eq!(c.new_balance, Some(dec("500")));
        assert_eq!(c.available_credit, dec("500"));
        // The order paid: its invoice leaves the balance.
        let outs = driver
            .feed(paid(|p| {
                p.order_id = order.payload.order_id.clone();
                p.customer_id = "CUST-1".into();
                p.currency = order.payload.totals.currency.clone();
            }))
            .unwrap();
        let c = outs[1].event::<CreditChanged>().unwrap().payload.clone();
        assert_eq!(c.change_type, CreditChangeType::PaymentReceived);
        assert_eq!(c.previous_balance, Some(dec("500")));
        assert_eq!(c.new_balance, Some(dec("200")));
        assert_eq!(c.available_credit, dec("800"));
        // An invoice of an order already paid books nothing.
        assert!(driver.feed(invoice(&order, "300")).unwrap().is_empty());
        // An invoice that overtakes its order: the order, when it comes, reserves nothing more.
        let late = created("CUST-1", "100");
        let c = driver.feed(invoice(&late, "100")).unwrap()[0]
            .event::<CreditChanged>()
            .unwrap()
            .payload
            .clone();
        assert_eq!(c.available_credit, dec("700"));
        assert!(driver.feed(late).unwrap().is_empty(), "charged once");
        let mut foreign = invoice(&order, "10");
        foreign.payload.currency = "JPY".into();
        assert!(driver.feed(foreign).unwrap_err().message().contains("JPY"));
    }

    #[test]
    fn a_payment_settles_the_orders_reservation_and_b2c_orders_are_left_alone() {
        let mut driver = TestDriver::new(processor(dec("1000"))).unwrap();
        let mut b2c = created("CUST-9", "10");
        b2c.payload.customer_type = OrderCustomerType::B2c;
        assert!(driver.feed(b2c).unwrap().is_empty());
        let order = created("CUST-1", "300");
        driver.feed(order.clone()).unwrap();
        let outs = driver
            .feed(paid(|p| {
                p.order_id = order.payload.order_id.clone();
                p.customer_id = "CUST-1".into();
                p.currency = order.payload.totals.currency.clone();
            }))
            .unwrap();
        assert_eq!(outs.len(), 2);
        assert_eq!(available(&outs), dec("1000"));
        let change = outs[1].event::<CreditChanged>().unwrap();
        assert_eq!(
            change.payload.change_type,
            CreditChangeType::PaymentReceived
        );
    }

    #[test]
    fn payments_that_cannot_be_credited_are_poison() {
        let mut driver = TestDriver::new(processor(Decimal4::from_int(DEFAULT_LIMIT))).unwrap();
        for (what, input) in [
            ("no customer", paid(|p| p.customer_id = " ".into())),
            ("not positive", paid(|p| p.amount = dec("0"))),
            ("not positive", paid(|p| p.amount = dec("-5"))),
            ("not an ISO 4217 code", paid(|p| p.currency = "euro".into())),
        ] {
            let err = driver.feed(input).unwrap_err();
            assert_eq!(err.class(), "poison", "{what}");
            assert!(err.message().contains(what), "{what}: {err}");
        }
    }
}
