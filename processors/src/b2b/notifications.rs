//! The notification worker (seed 003): order events become e-mail requests.
//!
//! - `order.placed` -> `email.notification-requested` with the `order_confirmation` template, the
//!   order's lines and total, to the buyer's address.

use weft_contracts::b2b::email::{
    EmailData, EmailItem, EmailNotificationRequested, EmailPriority, TemplateType,
};
use weft_contracts::b2b::order::OrderPlaced;
use weft_runtime::{In, Out, ProcessError, Processor};

/// The consumer group and processor name.
pub const NAME: &str = "b2b.notification-worker";

/// Retries of the e-mail service (seed 003: 5 attempts).
const MAX_RETRIES: i32 = 5;

/// The registration.
pub fn processor() -> Processor {
    Processor::new(NAME)
        .on::<OrderPlaced>(order_confirmation)
        .emits::<EmailNotificationRequested>()
}

/// `order.placed` -> the order confirmation e-mail.
pub fn order_confirmation(order: &In<OrderPlaced>) -> Result<Vec<Out>, ProcessError> {
    let o = order.payload();
    if o.user_email.trim().is_empty() {
        return Err(ProcessError::Poison(format!(
            "order {} has no buyer e-mail address",
            o.order_number
        )));
    }
    let email = EmailNotificationRequested {
        aggregate_id: o.order_id.clone(),
        aggregate_type: "order".into(),
        template_type: TemplateType::OrderConfirmation,
        recipient: o.user_email.clone(),
        data: EmailData {
            order_number: o.order_number.clone(),
            customer_name: Some(o.shipping_address.contact_name.clone()),
            total: Some(o.total.clone()),
            items: o
                .items
                .iter()
                .map(|i| EmailItem {
                    product_name: i.product_name.clone(),
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                    unit_price: Some(i.unit_price.clone()),
                })
                .collect(),
            tracking_url: None,
        },
        priority: EmailPriority::High,
        retry_attempts: 0,
        max_retries: MAX_RETRIES,
    };
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
            email.payload.data.total.as_ref(),
            Some(&input.payload.total)
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
    fn an_order_without_an_address_is_poison() {
        let mut driver = TestDriver::new(processor()).unwrap();
        let mut input = placed();
        input.payload.user_email = " ".into();
        let err = driver.feed(input).unwrap_err();
        assert_eq!(err.class(), "poison");
    }
}
