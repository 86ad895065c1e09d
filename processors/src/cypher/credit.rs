//! The credit worker (seed 000): a paid order becomes a payment on its customer's credit account.
//!
//! - `order.paid` -> `credit.payment_received`, applied to the order (`applied_to` `order`,
//!   `reference_id` the order id), with the amount, currency, time and bank reference of the
//!   payment. The output is keyed by `customer_id`, not by the order: one customer's payments and
//!   credit changes stay in order on one partition, whichever orders they settle.
//!
//! Updating the balance (`credit.changed`, change type `payment_received`) needs the account's
//! current figures and waits for keyed state; this stateless step only moves the fact into the
//! credit domain. Poison: a payment of zero or less (nothing to credit), a currency that is not
//! a three-letter ISO 4217 code, an order without a customer (no account to credit).

use weft_contracts::cypher::credit::{CreditPaymentReceived, CreditPaymentTarget};
use weft_contracts::cypher::order::OrderPaid;
use weft_contracts::Decimal4;
use weft_runtime::{In, Out, ProcessError, Processor};

/// The consumer group and processor name.
pub const NAME: &str = "cypher.credit-worker";

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .on::<OrderPaid>(payment_from_order)
        .emits::<CreditPaymentReceived>()
}

/// `order.paid` -> `credit.payment_received`.
pub fn payment_from_order(paid: &In<OrderPaid>) -> Result<Vec<Out>, ProcessError> {
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
    Ok(vec![paid.emit(
        0,
        CreditPaymentReceived {
            customer_id: p.customer_id.trim().to_string(),
            applied_to: CreditPaymentTarget::Order,
            reference_id: p.order_id.clone(),
            amount: p.amount,
            currency: p.currency.clone(),
            received_at: p.paid_at,
            payment_reference: p.payment_reference.clone(),
        },
    )])
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
        let mut driver = TestDriver::new(processor()).unwrap();
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
        let mut driver = TestDriver::new(processor()).unwrap();
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

    #[test]
    fn payments_that_cannot_be_credited_are_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
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
