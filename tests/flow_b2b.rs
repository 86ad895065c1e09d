//! End to end, B2B (seed 003): `order.placed` through the notification worker running as a
//! `weft run` process on the real broker and registry, counted by event id; a poison order and an
//! undecodable record land in the group's dead-letter topic with their headers.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use support::*;
use weft_contracts::b2b::email::{EmailNotificationRequested, TemplateType};
use weft_contracts::b2b::order::OrderPlaced;
use weft_contracts::{Event, EventMetadata, Example};

fn order(n: usize) -> Event<OrderPlaced> {
    let mut payload = OrderPlaced::example();
    payload.order_id = uuid::Uuid::new_v4().to_string();
    payload.order_number = format!("ORD-E2E-{n:05}");
    let mut m = EventMetadata::new_for::<OrderPlaced>("ecommerce-api", "user-e2e");
    m.tenant_id = Some("tenant-e2e".into());
    Event::new(m, payload)
}

#[test]
fn placed_orders_become_confirmation_emails_exactly_once_and_poison_is_dead_lettered() {
    let _stack = stack();
    let worker = Running::start(&["b2b.notification-worker"], &[]);

    let orders: Vec<Event<OrderPlaced>> = (0..40).map(order).collect();
    let mut poison = order(999);
    poison.payload.user_email = String::new();
    publish(&orders);
    publish(std::slice::from_ref(&poison));
    let junk_key = uuid::Uuid::new_v4().to_string();
    publish_raw(
        "b2b.order.placed.v1",
        &[(junk_key.clone(), b"not avro at all".to_vec(), vec![])],
    );

    let wanted: BTreeMap<String, &Event<OrderPlaced>> = orders
        .iter()
        .map(|o| (o.metadata.event_id.clone(), o))
        .collect();
    let emails = collect_until(
        &["b2b.email.notification-requested.v1"],
        |r| {
            try_decode::<EmailNotificationRequested>(&r.value).is_some_and(|e| {
                e.metadata
                    .causation_id
                    .as_ref()
                    .is_some_and(|c| wanted.contains_key(c) || *c == poison.metadata.event_id)
            })
        },
        |kept| {
            kept.iter()
                .map(|r| r.header("weft-event-id"))
                .collect::<BTreeSet<_>>()
                .len()
                >= orders.len()
        },
        Duration::from_secs(90),
    );
    let dead = collect_until(
        &["b2b.notification-worker.dlq"],
        |r| r.key == junk_key || r.key == poison.payload.order_id,
        |kept| kept.len() >= 2,
        Duration::from_secs(60),
    );

    // Exactly once, by event id: one e-mail per order, none for the poison order.
    let mut by_cause: BTreeMap<String, usize> = BTreeMap::new();
    for r in &emails {
        let e = decode::<EmailNotificationRequested>(&r.value);
        let cause = e.metadata.causation_id.clone().unwrap();
        *by_cause.entry(cause.clone()).or_default() += 1;
        let o = wanted.get(&cause).expect("an e-mail for the poison order");
        assert_eq!(e.payload.template_type, TemplateType::OrderConfirmation);
        assert_eq!(e.payload.recipient, o.payload.user_email);
        assert_eq!(e.payload.data.order_number, o.payload.order_number);
        let total = e
            .payload
            .data
            .total
            .as_ref()
            .map(|m| (m.amount, m.currency.as_str()));
        assert_eq!(
            total,
            Some((o.payload.total.amount, o.payload.total.currency.as_str()))
        );
        assert_eq!(e.metadata.correlation_id, o.metadata.correlation_id);
        assert_eq!(e.metadata.tenant_id.as_deref(), Some("tenant-e2e"));
        assert_eq!(e.metadata.producer, "b2b.notification-worker");
        assert_eq!(r.key, o.payload.order_id, "keyed by the order");
        assert_eq!(
            r.header("weft-event-id"),
            Some(e.metadata.event_id.as_str())
        );
        assert_eq!(
            r.header("weft-event-type"),
            Some("email.notification-requested")
        );
        assert!(r
            .header("traceparent")
            .is_some_and(|t| t.starts_with("00-") && t.len() == 55));
    }
    assert_eq!(by_cause.len(), orders.len(), "an order got no e-mail");
    assert!(
        by_cause.values().all(|n| *n == 1),
        "duplicates: {:?}",
        by_cause.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );

    // Both found; once the worker has committed every input, the dead-letter topic as a whole
    // holds each of them exactly once (a multiset, not the first two found).
    assert_eq!(dead.len(), 2, "{dead:#?}");
    wait_caught_up(
        "b2b.notification-worker",
        "b2b.order.placed.v1",
        Duration::from_secs(60),
    );
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for r in read_all("b2b.notification-worker.dlq") {
        if r.key == junk_key || r.key == poison.payload.order_id {
            *copies.entry(r.key).or_default() += 1;
        }
    }
    assert_eq!(
        copies,
        BTreeMap::from([(junk_key.clone(), 1), (poison.payload.order_id.clone(), 1)]),
        "each dead letter exactly once"
    );
    for r in &dead {
        let class = if r.key == junk_key {
            "undecodable"
        } else {
            "poison"
        };
        assert_eq!(r.header("weft-dlq-error-class"), Some(class), "{r:#?}");
        assert_eq!(
            r.header("weft-dlq-source-topic"),
            Some("b2b.order.placed.v1")
        );
        assert_eq!(
            r.header("weft-dlq-processor"),
            Some("b2b.notification-worker")
        );
        assert_eq!(r.header("weft-dlq-attempt"), Some("1"));
        assert!(r.header("weft-dlq-source-offset").is_some());
        assert!(r.header("weft-dlq-first-failure").is_some());
        assert!(!r.header("weft-dlq-error-message").unwrap_or("").is_empty());
    }
    let junk = dead.iter().find(|r| r.key == junk_key).unwrap();
    assert_eq!(
        junk.value, b"not avro at all",
        "dead letters keep the original bytes"
    );
    let poisoned = dead.iter().find(|r| r.key != junk_key).unwrap();
    assert_eq!(poisoned.value, encode_again(&poison));

    let (status, _) = worker.get("/health/ready");
    assert_eq!(status, 200);
    let (_, metrics) = worker.get("/metrics");
    assert!(
        metrics.contains("weft_dead_lettered_total{class=\"undecodable\",processor=\"b2b.notification-worker\",topic=\"b2b.order.placed.v1\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("weft_end_to_end_seconds_bucket"));
    assert_eq!(worker.stop(), Some(0), "SIGTERM must exit 0");
}

/// The poison order's bytes as published (encoding is deterministic).
fn encode_again(e: &Event<OrderPlaced>) -> Vec<u8> {
    encode(e)
}
