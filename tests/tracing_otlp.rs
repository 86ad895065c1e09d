//! Trace propagation: an event published with a W3C `traceparent` is processed by `weft run` with
//! OTLP export on; the processing span is exported (OTLP/HTTP, to a receiver in this test) in the
//! producer's trace, and the output's `traceparent` names that exported span as its parent.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use weft_contracts::b2b::email::EmailNotificationRequested;
use weft_contracts::b2b::order::OrderPlaced;
use weft_contracts::{Event, EventMetadata, Example};

/// An OTLP/HTTP receiver keeping every request body sent to /v1/traces.
fn receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let kept = bodies.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let kept = kept.clone();
                    async move {
                        kept.lock().unwrap().push(body.to_vec());
                        ""
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (format!("http://{addr}"), bodies)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_processing_span_is_exported_in_the_producers_trace_and_parents_the_output() {
    let _ = stack();
    let (endpoint, bodies) = receiver();
    let worker = Running::start(
        &["b2b.notification-worker"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let producer_span = "00f067aa0ba902b7";
    let mut payload = OrderPlaced::example();
    payload.order_id = uuid::Uuid::new_v4().to_string();
    let order = Event::new(
        EventMetadata::new_for::<OrderPlaced>("ecommerce-api", "user-trace"),
        payload,
    );
    let mut headers: Vec<(String, String)> = order
        .metadata
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    headers.push((
        "traceparent".into(),
        format!("00-{trace_id}-{producer_span}-01"),
    ));
    publish_raw(
        "b2b.order.placed.v1",
        &[(order.payload.order_id.clone(), encode(&order), headers)],
    );

    let out = collect_until(
        &["b2b.email.notification-requested.v1"],
        |r| r.key == order.payload.order_id,
        |kept| !kept.is_empty(),
        Duration::from_secs(60),
    );
    let email = decode::<EmailNotificationRequested>(&out[0].value);
    assert_eq!(
        email.metadata.causation_id.as_deref(),
        Some(order.metadata.event_id.as_str())
    );
    let tp = out[0]
        .header("traceparent")
        .expect("the output carries traceparent");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(
        parts[1], trace_id,
        "the output stays in the producer's trace"
    );
    assert_ne!(
        parts[2], producer_span,
        "the output's parent is the processing span"
    );

    // The processing span reaches the receiver: its trace id, its own span id (the output's
    // parent) and the producer's span id (its parent) are all in one exported batch.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (trace, span, parent) = (
        hex_bytes(&trace_id),
        hex_bytes(parts[2]),
        hex_bytes(producer_span),
    );
    loop {
        let found = bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| contains(b, &trace) && contains(b, &span) && contains(b, &parent));
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no exported span in trace {trace_id} with span {} and parent {producer_span}",
            parts[2]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(worker.stop(), Some(0));
}
