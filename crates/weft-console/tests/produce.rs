//! `produce` against the real broker and a real registry: JSON in, envelope filled, Avro out,
//! read back through `consume`; a value that does not fit names its field and sends nothing.

mod common;

use weft_console::consume::{consume, ConsumeRequest, Isolation, StartAt};
use weft_console::produce::{produce, ProduceRequest};
use weft_console::{ConsoleError, Filters, Registry, Shown};
use weft_contracts::cypher::order::OrderCreated;
use weft_contracts::Example;

async fn read_all(reg: &Registry, topic: &str) -> Vec<Shown> {
    let req = ConsumeRequest {
        topics: vec![topic.to_string()],
        pattern: None,
        start: StartAt::Beginning,
        limit: None,
        follow: false,
        filters: Filters::default(),
        isolation: Isolation::Committed,
    };
    let mut got = Vec::new();
    consume(&weft_testkit::broker(), reg, &req, |r| {
        got.push(r.clone());
        true
    })
    .await
    .unwrap();
    got
}

fn spec_for(topic: &str) -> weft_core::spec::TopicSpec {
    let specs = weft_core::spec::SpecSet::load(&weft_testkit::repo_root().join("topics")).unwrap();
    let mut spec = specs.topic("cypher.order.created.v1").unwrap().clone();
    spec.name = topic.to_string();
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_goes_out_as_avro_with_the_envelope_filled() {
    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 3).await;
    let id = common::register(&url, &topic, "cypher.order.OrderCreated").await;
    let reg = Registry::new(&url).unwrap();

    let order_id = uuid::Uuid::new_v4().to_string();
    let mut payload = serde_json::to_value(OrderCreated::example()).unwrap();
    payload["order_id"] = order_id.clone().into();
    let given_corr = "corr-given-1";
    let values = vec![
        serde_json::json!({"payload": payload}),
        serde_json::json!({"metadata": {"correlation_id": given_corr, "tenant_id": "tenant-9"}, "payload": payload}),
    ];
    let req = ProduceRequest {
        topic: topic.clone(),
        key: None,
        headers: vec![("x-debug".into(), "yes".into())],
        values,
        specs: vec![spec_for(&topic)],
        dry_run: false,
    };
    let sent = produce(&kafka, &reg, &req).await.unwrap();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|p| p.key == order_id && p.offset.is_some()));

    let got = read_all(&reg, &topic).await;
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.schema_id, Some(id));
        assert_eq!(r.key.as_deref(), Some(order_id.as_str()));
        assert_eq!(r.header("x-debug"), Some("yes"));
        assert_eq!(r.header("weft-event-type"), Some("order.created"));
        assert_eq!(r.header("weft-schema-version"), Some("v1"));
        assert_eq!(
            r.field_text("metadata.producer").as_deref(),
            Some("weft-console")
        );
        assert_eq!(
            r.field_text("metadata.priority").as_deref(),
            Some("critical")
        );
        assert_eq!(r.event_id(), r.field_text("metadata.event_id"));
    }
    let first = got
        .iter()
        .find(|r| r.field_text("metadata.tenant_id").is_none())
        .unwrap();
    assert_eq!(
        first.field_text("metadata.correlation_id"),
        first.event_id()
    );
    let second = got
        .iter()
        .find(|r| r.field_text("metadata.tenant_id").is_some())
        .unwrap();
    assert_eq!(
        second.field_text("metadata.correlation_id").as_deref(),
        Some(given_corr)
    );
    // What consume prints can be produced again unchanged.
    let again = ProduceRequest {
        values: vec![second.value.clone().unwrap()],
        ..req.clone()
    };
    let resent = produce(&kafka, &reg, &again).await.unwrap();
    assert_eq!(resent[0].event_id, second.event_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_does_not_fit_names_the_field_and_sends_nothing() {
    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 1).await;
    common::register(&url, &topic, "cypher.order.OrderCreated").await;
    let reg = Registry::new(&url).unwrap();

    // No spec here: the event type is given, everything else in the envelope is filled.
    let good = serde_json::json!({"metadata": {"event_type": "order.created"},
        "payload": serde_json::to_value(OrderCreated::example()).unwrap()});
    let mut bad = good.clone();
    bad["payload"]["totals"]["total"] = "abc".into();
    let req = ProduceRequest {
        topic: topic.clone(),
        key: Some("k".into()),
        headers: vec![],
        values: vec![good.clone(), bad],
        specs: vec![],
        dry_run: false,
    };
    let err = produce(&kafka, &reg, &req).await.unwrap_err();
    assert!(
        matches!(err, ConsoleError::Invalid { record: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with(r#"payload.totals.total: expected decimal(18,4) bytes, got string "abc""#),
        "{err}"
    );
    assert_eq!(err.exit_code(), 4);
    assert!(
        read_all(&reg, &topic).await.is_empty(),
        "nothing may be sent"
    );

    // No key and no spec: the contract of the registered schema names the key field.
    let req = ProduceRequest {
        key: None,
        values: vec![good.clone()],
        ..req
    };
    let sent = produce(&kafka, &reg, &req).await.unwrap();
    assert_eq!(sent[0].key, good["payload"]["order_id"].as_str().unwrap());
    assert_eq!(sent[0].value["metadata"]["priority"], "critical");
    // A topic without a subject: the registry error names the subject.
    let req = ProduceRequest {
        topic: format!("{topic}.nosubject"),
        key: Some("k".into()),
        ..req
    };
    let err = produce(&kafka, &reg, &req).await.unwrap_err();
    assert!(err.to_string().contains(".nosubject-value"), "{err}");
}
