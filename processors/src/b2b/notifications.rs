//! The notification worker (seed 003): order events become e-mail requests.
//!
//! - `order.placed` -> `email.notification-requested` with the `order_confirmation` template, the
//!   order's lines and total, to the buyer's address;
//! - `order.cancelled` -> the `order_cancellation` e-mail with the cancelled lines and total;
//! - `order.shipped` -> the `order_shipped` e-mail with a tracking link for the carrier.
//!
//! Poison: an order event without a buyer address (nobody to write to), a shipment without a
//! tracking number.

use weft_contracts::b2b::email::{
    EmailData, EmailItem, EmailMoney, EmailNotificationRequested, EmailPriority, TemplateType,
};
use weft_contracts::b2b::order::{OrderCancelled, OrderPlaced, OrderShipped};
use weft_runtime::{In, Out, ProcessError, Processor};

/// The consumer group and processor name.
pub const NAME: &str = "b2b.notification-worker";

/// Retries of the e-mail service (seed 003: 5 attempts).
const MAX_RETRIES: i32 = 5;

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .on::<OrderPlaced>(order_confirmation)
        .on::<OrderCancelled>(order_cancellation)
        .on::<OrderShipped>(order_shipped)
        .emits::<EmailNotificationRequested>()
}

/// The recipient, or poison when the order has none.
fn recipient(order_number: &str, email: &str) -> Result<String, ProcessError> {
    if email.trim().is_empty() {
        return Err(ProcessError::Poison(format!(
            "order {order_number} has no buyer e-mail address"
        )));
    }
    Ok(email.trim().to_string())
}

fn request(
    order_id: &str,
    template_type: TemplateType,
    recipient: String,
    data: EmailData,
    priority: EmailPriority,
) -> EmailNotificationRequested {
    EmailNotificationRequested {
        aggregate_id: order_id.to_string(),
        aggregate_type: "order".into(),
        template_type,
        recipient,
        data,
        priority,
        retry_attempts: 0,
        max_retries: MAX_RETRIES,
    }
}

/// The carrier's tracking page for a shipment.
pub fn tracking_url(carrier: &str, tracking_number: &str) -> String {
    match carrier.to_ascii_lowercase().as_str() {
        "ups" => format!("https://www.ups.com/track?tracknum={tracking_number}"),
        "fedex" => format!("https://www.fedex.com/fedextrack/?trknbr={tracking_number}"),
        "usps" => format!("https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}"),
        "dhl" => format!("https://www.dhl.com/track?tracking-id={tracking_number}"),
        other => format!("https://track.example.com/{other}/{tracking_number}"),
    }
}

/// An amount as the e-mail schema spells it (each schema carries its own money record).
fn money(amount: &weft_contracts::Decimal4, currency: &str) -> EmailMoney {
    EmailMoney {
        amount: *amount,
        currency: currency.to_string(),
    }
}

/// `order.placed` -> the order confirmation e-mail.
pub fn order_confirmation(order: &In<OrderPlaced>) -> Result<Vec<Out>, ProcessError> {
    let o = order.payload();
    let to = recipient(&o.order_number, &o.user_email)?;
    let email = request(
        &o.order_id,
        TemplateType::OrderConfirmation,
        to,
        EmailData {
            order_number: o.order_number.clone(),
            customer_name: Some(o.shipping_address.contact_name.clone()),
            total: Some(money(&o.total.amount, &o.total.currency)),
            items: o
                .items
                .iter()
                .map(|i| EmailItem {
                    product_name: i.product_name.clone(),
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                    unit_price: Some(money(&i.unit_price.amount, &i.unit_price.currency)),
                })
                .collect(),
            tracking_url: None,
        },
        EmailPriority::High,
    );
    Ok(vec![order.emit(0, email)])
}

/// `order.cancelled` -> the cancellation e-mail.
pub fn order_cancellation(order: &In<OrderCancelled>) -> Result<Vec<Out>, ProcessError> {
    let o = order.payload();
    let to = recipient(&o.order_number, &o.user_email)?;
    let email = request(
        &o.order_id,
        TemplateType::OrderCancellation,
        to,
        EmailData {
            order_number: o.order_number.clone(),
            customer_name: None,
            total: Some(money(&o.total.amount, &o.total.currency)),
            items: o
                .items
                .iter()
                .map(|i| EmailItem {
                    product_name: i.sku.clone(),
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                    unit_price: None,
                })
                .collect(),
            tracking_url: None,
        },
        EmailPriority::Normal,
    );
    Ok(vec![order.emit(0, email)])
}

/// `order.shipped` -> the shipped e-mail with tracking.
pub fn order_shipped(order: &In<OrderShipped>) -> Result<Vec<Out>, ProcessError> {
    let o = order.payload();
    let to = recipient(&o.order_number, &o.user_email)?;
    if o.tracking_number.trim().is_empty() {
        return Err(ProcessError::Poison(format!(
            "shipment of order {} has no tracking number",
            o.order_number
        )));
    }
    let email = request(
        &o.order_id,
        TemplateType::OrderShipped,
        to,
        EmailData {
            order_number: o.order_number.clone(),
            customer_name: None,
            total: None,
            items: vec![],
            tracking_url: Some(tracking_url(&o.tracking_carrier, o.tracking_number.trim())),
        },
        EmailPriority::Normal,
    );
    Ok(vec![order.emit(0, email)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn placed() -> Event<OrderPlaced> {
        let mut m = EventMetadata::new_for::<OrderPlaced>("ecommerce-api", "user-1");
        m.tenant_id = Some("tenant-7".into());
        Event::new(m, OrderPlaced::example())
    }

    #[test]
    fn a_placed_order_requests_its_confirmation_email() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let input = placed();
        let outs = driver.feed(input.clone()).unwrap();
        assert_eq!(outs.len(), 1);
        let email = outs[0].event::<EmailNotificationRequested>().unwrap();
        assert_eq!(outs[0].topic(), "b2b.email.notification-requested.v1");
        assert_eq!(outs[0].key(), input.payload.order_id);
        assert_eq!(email.payload.template_type, TemplateType::OrderConfirmation);
        assert_eq!(email.payload.recipient, input.payload.user_email);
        assert_eq!(
            email.payload.data.total,
            Some(money(
                &input.payload.total.amount,
                &input.payload.total.currency
            ))
        );
        assert_eq!(email.payload.data.items.len(), input.payload.items.len());
        assert_eq!(
            email.metadata.causation_id.as_deref(),
            Some(input.metadata.event_id.as_str())
        );
        assert_eq!(email.metadata.tenant_id.as_deref(), Some("tenant-7"));
        assert_eq!(email.metadata.producer, NAME);
    }

    #[test]
    fn a_cancelled_order_gets_a_cancellation_email_with_its_lines() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let input = Event::new(
            EventMetadata::new_for::<OrderCancelled>("ecommerce-api", "user-1"),
            OrderCancelled::example(),
        );
        let outs = driver.feed(input.clone()).unwrap();
        let email = outs[0].event::<EmailNotificationRequested>().unwrap();
        assert_eq!(email.payload.template_type, TemplateType::OrderCancellation);
        assert_eq!(
            email.payload.data.total,
            Some(money(
                &input.payload.total.amount,
                &input.payload.total.currency
            ))
        );
        assert_eq!(email.payload.data.items.len(), input.payload.items.len());
        assert_eq!(email.payload.data.items[0].sku, input.payload.items[0].sku);
    }

    #[test]
    fn a_shipped_order_gets_a_tracking_link() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let mut payload = OrderShipped::example();
        payload.tracking_carrier = "UPS".into();
        payload.tracking_number = "1Z999AA10123456784".into();
        let input = Event::new(
            EventMetadata::new_for::<OrderShipped>("ecommerce-api", "user-1"),
            payload,
        );
        let outs = driver.feed(input).unwrap();
        let email = outs[0].event::<EmailNotificationRequested>().unwrap();
        assert_eq!(email.payload.template_type, TemplateType::OrderShipped);
        assert_eq!(
            email.payload.data.tracking_url.as_deref(),
            Some("https://www.ups.com/track?tracknum=1Z999AA10123456784")
        );
    }

    #[test]
    fn a_shipment_without_tracking_is_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let mut payload = OrderShipped::example();
        payload.tracking_number = "  ".into();
        let input = Event::new(
            EventMetadata::new_for::<OrderShipped>("ecommerce-api", "user-1"),
            payload,
        );
        let err = driver.feed(input).unwrap_err();
        assert_eq!(err.class(), "poison");
        assert!(err.message().contains("tracking number"), "{err}");
    }

    #[test]
    fn an_order_without_an_address_is_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let mut input = placed();
        input.payload.user_email = " ".into();
        let err = driver.feed(input).unwrap_err();
        assert_eq!(err.class(), "poison");
    }
}
