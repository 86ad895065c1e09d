//! `consume` against the real broker and a real registry: Avro decoded to JSON with the record's
//! coordinates and headers, filters, start points, and undecodable values shown raw.

mod common;

use weft_console::consume::{consume, ConsumeRequest, Isolation, StartAt};
use weft_console::{Filters, Registry, Shown};

fn request(topic: &str) -> ConsumeRequest {
    ConsumeRequest {
        topics: vec![topic.to_string()],
        pattern: None,
        start: StartAt::Beginning,
        limit: None,
        follow: false,
        filters: Filters::default(),
        isolation: Isolation::Committed,
    }
}

async fn read(reg: &Registry, req: &ConsumeRequest) -> Vec<Shown> {
    let mut got = Vec::new();
    consume(&weft_testkit::broker(), reg, req, |r| {
        got.push(r.clone());
        true
    })
    .await
    .unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_values_decode_and_filters_select() {
    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 3).await;
    let id = common::register(&url, &topic, "cypher.order.OrderCreated").await;

    let corr = uuid::Uuid::new_v4().to_string();
    let e1 = uuid::Uuid::new_v4().to_string();
    let e2 = uuid::Uuid::new_v4().to_string();
    let (ka, kb, kc) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let a = common::order(&ka, &e1, &corr, None);
    let mut b = common::order(&kb, &e2, &corr, Some(&e1));
    b.metadata.tenant_id = Some("tenant-b".into());
    let c = common::order(&kc, &uuid::Uuid::new_v4().to_string(), "other", None);
    for ev in [&a, &b, &c] {
        common::send(
            &topic,
            &ev.payload.order_id,
            &common::frame(id, ev),
            &[
                ("weft-event-type", "order.created"),
                ("weft-event-id", &ev.metadata.event_id),
            ],
        )
        .await;
    }
    common::send(&topic, "junk", b"\x07not avro at all", &[]).await;
    common::send(&topic, "json", br#"{"plain":"json"}"#, &[]).await;

    let reg = Registry::new(&url).unwrap();
    let all = read(&reg, &request(&topic)).await;
    assert_eq!(all.len(), 5, "{all:#?}");
    let ra = all
        .iter()
        .find(|r| r.key.as_deref() == Some(ka.as_str()))
        .unwrap();
    assert_eq!(ra.schema_id, Some(id), "{:?}", ra.note);
    assert_eq!(ra.topic, topic);
    assert!(ra.timestamp.is_some());
    assert_eq!(ra.header("weft-event-id"), Some(e1.as_str()));
    assert_eq!(
        ra.field_text("metadata.correlation_id").as_deref(),
        Some(corr.as_str())
    );
    assert_eq!(
        ra.field_text("payload.order_id").as_deref(),
        Some(ka.as_str())
    );
    // Money comes out exact, at its scale.
    let total = ra.field_text("payload.totals.total").unwrap();
    assert!(
        total.contains('.') && total.split('.').nth(1).unwrap().len() == 4,
        "{total}"
    );

    let junk = all
        .iter()
        .find(|r| r.key.as_deref() == Some("junk"))
        .unwrap();
    assert!(junk.value.is_none());
    assert_eq!(
        junk.raw.as_ref().unwrap().hex,
        "076e6f74206176726f20617420616c6c"
    );
    assert!(
        junk.note.as_ref().unwrap().contains("magic byte"),
        "{:?}",
        junk.note
    );
    let json = all
        .iter()
        .find(|r| r.key.as_deref() == Some("json"))
        .unwrap();
    assert_eq!(json.value.as_ref().unwrap()["plain"], "json");
    assert!(json.note.as_ref().unwrap().contains("not Avro"));

    // Filters.
    let mut req = request(&topic);
    req.filters.correlation_id = Some(corr.clone());
    let keys: std::collections::BTreeSet<_> = read(&reg, &req)
        .await
        .into_iter()
        .filter_map(|r| r.key)
        .collect();
    assert_eq!(keys, [ka.clone(), kb.clone()].into());
    let mut req = request(&topic);
    req.filters.tenant_id = Some("tenant-b".into());
    assert_eq!(read(&reg, &req).await.len(), 1);
    let mut req = request(&topic);
    req.filters.fields = vec![("payload.order_id".into(), kc.clone())];
    req.filters.event_type = Some("order.created".into());
    assert_eq!(read(&reg, &req).await[0].key.as_deref(), Some(kc.as_str()));
    let mut req = request(&topic);
    req.filters.key = Some("nope".into());
    assert!(read(&reg, &req).await.is_empty());

    // Limits, start points and patterns.
    let mut req = request(&topic);
    req.limit = Some(2);
    assert_eq!(read(&reg, &req).await.len(), 2);
    let mut req = request(&topic);
    req.start = StartAt::End;
    assert!(read(&reg, &req).await.is_empty());
    let mut req = request(&topic);
    req.start = StartAt::Time(chrono::Utc::now() + chrono::Duration::hours(1));
    assert!(read(&reg, &req).await.is_empty());
    let mut req = request(&topic);
    req.start = StartAt::Time(chrono::Utc::now() - chrono::Duration::hours(1));
    assert_eq!(read(&reg, &req).await.len(), 5);
    let mut req = request(&topic);
    req.topics.clear();
    req.pattern = Some(regex::escape(&topic));
    assert_eq!(read(&reg, &req).await.len(), 5);

    // Bad input is named.
    let mut req = request(&topic);
    req.topics = vec![format!("{topic}.missing")];
    let err = consume(&kafka, &reg, &req, |_| true).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert!("yesterday-ish".parse::<StartAt>().is_err());
    assert_eq!("offset 3".parse::<StartAt>().unwrap(), StartAt::Offset(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_sees_records_that_arrive_later() {
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 1).await;
    let reg = Registry::new(&url).unwrap();
    let mut req = request(&topic);
    req.follow = true;
    req.start = StartAt::End;
    req.limit = Some(1);
    let t2 = topic.clone();
    let writer = tokio::spawn(async move {
        // Keep sending until the follower has seen one (it may join after the first send).
        for i in 0..60 {
            common::send(&t2, &format!("k{i}"), b"late", &[]).await;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), read(&reg, &req))
        .await
        .expect("follow must see a new record within 60 s");
    writer.abort();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].raw.as_ref().unwrap().base64, "bGF0ZQ==");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_uncommitted_shows_aborted_transactions() {
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    use std::time::Duration;
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 1).await;
    let producer: FutureProducer = weft_testkit::broker()
        .client_config()
        .set("transactional.id", weft_testkit::unique("tx-"))
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    producer.begin_transaction().unwrap();
    producer
        .send(
            FutureRecord::to(&topic).key("aborted").payload("x"),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    producer.abort_transaction(Duration::from_secs(30)).unwrap();
    common::send(&topic, "plain", b"y", &[]).await;

    let reg = Registry::new(&url).unwrap();
    let mut req = request(&topic);
    req.isolation = Isolation::Uncommitted;
    let keys: Vec<_> = read(&reg, &req)
        .await
        .into_iter()
        .filter_map(|r| r.key)
        .collect();
    assert_eq!(
        keys,
        ["aborted", "plain"],
        "read_uncommitted sees the aborted record"
    );
    req.isolation = Isolation::Committed;
    let keys: Vec<_> = read(&reg, &req)
        .await
        .into_iter()
        .filter_map(|r| r.key)
        .collect();
    assert_eq!(keys, ["plain"], "read_committed hides the aborted record");
}

/// Measures decoding throughput (printed; the assertion only checks every record came back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decodes_a_few_thousand_records() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    const N: usize = 3000;
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 3).await;
    let id = common::register(&url, &topic, "cypher.order.OrderCreated").await;
    let producer: FutureProducer = weft_testkit::broker().client_config().create().unwrap();
    let schema = common::catalog()
        .self_contained("cypher.order.OrderCreated")
        .unwrap();
    let mut sends = Vec::new();
    for _ in 0..N {
        let e = common::order(
            &uuid::Uuid::new_v4().to_string(),
            &uuid::Uuid::new_v4().to_string(),
            "c",
            None,
        );
        let bytes =
            weft_core::wire::frame(id, &weft_contracts::codec::encode(&schema, &e).unwrap());
        let key = e.payload.order_id.clone();
        let p = producer.clone();
        let t = topic.clone();
        sends.push(tokio::spawn(async move {
            p.send(
                FutureRecord::to(&t).key(&key).payload(&bytes),
                std::time::Duration::from_secs(60),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        }));
    }
    for s in sends {
        s.await.unwrap();
    }
    let reg = Registry::new(&url).unwrap();
    let started = std::time::Instant::now();
    let got = read(&reg, &request(&topic)).await;
    let took = started.elapsed();
    assert_eq!(got.len(), N);
    assert!(got.iter().all(|r| r.schema_id == Some(id)));
    eprintln!(
        "consumed and decoded {N} records in {took:?} ({:.0} records/s, debug build)",
        N as f64 / took.as_secs_f64()
    );
}
