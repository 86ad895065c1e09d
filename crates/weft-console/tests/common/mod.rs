//! Shared by the console's integration tests (also included by the root CLI tests): a real
//! schema registry on a free port of 127.0.0.1, schema registration over HTTP, and Avro records
//! of the repository's contracts produced to the real broker.
#![allow(dead_code)]

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use weft_contracts::cypher::order::OrderCreated;
use weft_contracts::{Catalog, Contract, Event, EventMetadata, Example};

/// Starts `weft-registry` on 127.0.0.1:0 in this test's runtime; returns its URL.
pub async fn registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            weft_registry::app(weft_registry::AppState::default()),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// The repository's schema catalog.
pub fn catalog() -> Catalog {
    Catalog::load(weft_contracts::catalog::repo_avro_dir()).unwrap()
}

/// Registers the self-contained form of `full_name` under `<topic>-value`; returns the id.
pub async fn register(url: &str, topic: &str, full_name: &str) -> u32 {
    let schema = catalog().self_contained_json(full_name).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{url}/subjects/{topic}-value/versions"))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .json(&serde_json::json!({ "schema": schema }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "registering: {resp:?}");
    let body: serde_json::Value = resp.json().await.unwrap();
    body["id"].as_u64().unwrap() as u32
}

/// An order-created event with the given ids.
pub fn order(
    order_id: &str,
    event_id: &str,
    correlation: &str,
    causation: Option<&str>,
) -> Event<OrderCreated> {
    let mut e = weft_contracts::registry::example_event::<OrderCreated>();
    e.payload.order_id = order_id.to_string();
    e.metadata.event_id = event_id.to_string();
    e.metadata.correlation_id = correlation.to_string();
    e.metadata.causation_id = causation.map(str::to_string);
    e
}

/// Avro bytes (Confluent-framed with `id`) of `event`.
pub fn frame<P: Contract + Example>(id: u32, event: &Event<P>) -> Vec<u8> {
    let schema = catalog().self_contained(P::SCHEMA).unwrap();
    let body = weft_contracts::codec::encode(&schema, event).unwrap();
    weft_core::wire::frame(id, &body)
}

/// Produces one record and waits for its delivery.
pub async fn send(topic: &str, key: &str, value: &[u8], headers: &[(&str, &str)]) {
    send_at(topic, key, value, headers, None).await
}

/// [`send`] with the record's timestamp (ms since the epoch) when given.
pub async fn send_at(
    topic: &str,
    key: &str,
    value: &[u8],
    headers: &[(&str, &str)],
    timestamp: Option<i64>,
) {
    let producer: FutureProducer = weft_testkit::broker().client_config().create().unwrap();
    let mut hs = OwnedHeaders::new();
    for (k, v) in headers {
        hs = hs.insert(Header {
            key: k,
            value: Some(*v),
        });
    }
    producer
        .send(
            {
                let record = FutureRecord::to(topic).key(key).payload(value).headers(hs);
                match timestamp {
                    Some(ts) => record.timestamp(ts),
                    None => record,
                }
            },
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// Metadata of a fresh event (v4 id, itself as correlation).
pub fn fresh_metadata() -> EventMetadata {
    EventMetadata::new_for::<OrderCreated>("test-service", "tester")
}
