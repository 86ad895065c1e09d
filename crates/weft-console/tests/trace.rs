//! `trace` against the real broker and registry: a flow across two topics becomes a causation
//! tree, a dead-lettered event carries its error, unrelated flows stay out, unknown ids say so.

mod common;

use weft_console::trace::{trace, TraceRequest};
use weft_console::{ConsoleError, Registry};

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_becomes_a_causation_tree_with_its_dead_letters() {
    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let reg = Registry::new(&url).unwrap();
    let sys = weft_testkit::unique("t");
    let orders = format!("{sys}.order.created.v1");
    let paid = format!("{sys}.order.paid.v1");
    let dlq = format!("{sys}.credit-worker.dlq");
    weft_testkit::create_topics(&[&orders, &paid, &dlq], 2).await;
    let a = common::register(&url, &orders, "cypher.order.OrderCreated").await;
    let b = common::register(&url, &paid, "cypher.order.OrderCreated").await;

    let corr = id();
    let (root, child, grandchild, other) = (id(), id(), id(), id());
    let key = id();
    let e_root = common::order(&key, &root, &corr, None);
    let mut e_child = common::order(&key, &child, &corr, Some(&root));
    e_child.metadata.producer = "payment-service".into();
    let e_grand = common::order(&key, &grandchild, &corr, Some(&child));
    let e_other = common::order(&key, &other, &id(), None);
    common::send(
        &orders,
        &key,
        &common::frame(a, &e_root),
        &[("weft-event-id", &root)],
    )
    .await;
    common::send(
        &paid,
        &key,
        &common::frame(b, &e_child),
        &[("weft-event-id", &child)],
    )
    .await;
    common::send(
        &orders,
        &key,
        &common::frame(a, &e_grand),
        &[("weft-event-id", &grandchild)],
    )
    .await;
    common::send(
        &orders,
        &key,
        &common::frame(a, &e_other),
        &[("weft-event-id", &other)],
    )
    .await;
    common::send(
        &dlq,
        &key,
        &common::frame(a, &e_grand),
        &[
            ("weft-event-id", &grandchild),
            ("weft-dlq-source-topic", &orders),
            ("weft-dlq-error-class", "poison"),
            (
                "weft-dlq-error-message",
                "credit limit unknown for customer",
            ),
            ("weft-dlq-processor", "credit-worker"),
            ("weft-dlq-attempt", "1"),
        ],
    )
    .await;

    let req = TraceRequest {
        event_id: Some(child.clone()),
        pattern: Some(format!("{}\\..*", regex::escape(&sys))),
        ..Default::default()
    };
    let t = trace(&kafka, &reg, &req, |_| {}).await.unwrap();
    assert_eq!(t.correlation_id, corr);
    assert_eq!(t.events, 3);
    assert_eq!(t.roots.len(), 1);
    let r = &t.roots[0];
    assert_eq!(r.event_id, root);
    assert!(!r.cause_missing);
    assert_eq!(r.children.len(), 1);
    let c = &r.children[0];
    assert_eq!(
        (c.event_id.as_str(), c.topic.as_str()),
        (child.as_str(), paid.as_str())
    );
    assert_eq!(c.producer.as_deref(), Some("payment-service"));
    let g = &c.children[0];
    assert_eq!(g.event_id, grandchild);
    assert_eq!(g.dead_letters.len(), 1);
    assert_eq!(
        g.dead_letters[0].processor.as_deref(),
        Some("credit-worker")
    );
    let text = t.to_text(false);
    assert!(text.contains("credit limit unknown"), "{text}");
    assert!(!text.contains(&other), "{text}");
    assert!(!text.contains('\x1b'));

    // By correlation id: same tree.
    let by_corr = TraceRequest {
        event_id: None,
        correlation_id: Some(corr.clone()),
        ..req.clone()
    };
    assert_eq!(
        trace(&kafka, &reg, &by_corr, |_| {}).await.unwrap().events,
        3
    );

    // Unknown ids.
    let unknown = TraceRequest {
        event_id: Some(id()),
        ..req.clone()
    };
    let err = trace(&kafka, &reg, &unknown, |_| {}).await.unwrap_err();
    assert!(matches!(err, ConsoleError::NotFound(_)), "{err}");
    assert_eq!(err.exit_code(), 6);
}

/// `since` / `until` bound what a trace reads: a long history before the window is never
/// fetched (offsets for times per partition), counted by the records the scan read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_reads_only_its_records() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use weft_console::consume::Window;

    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let reg = Registry::new(&url).unwrap();
    let sys = weft_testkit::unique("t");
    let orders = format!("{sys}.order.created.v1");
    weft_testkit::create_topics(&[&orders], 3).await;
    let schema_id = common::register(&url, &orders, "cypher.order.OrderCreated").await;

    // History: 3,000 records written between 3 days and 2 hours ago.
    const HISTORY: i64 = 3_000;
    let now = chrono::Utc::now().timestamp_millis();
    let producer: FutureProducer = kafka.client_config().create().unwrap();
    let span = 3 * 86_400_000 - 2 * 3_600_000;
    let keys: Vec<String> = (0..HISTORY).map(|i| format!("old-{i}")).collect();
    let sends: Vec<_> = keys
        .iter()
        .zip(0..HISTORY)
        .map(|(key, i)| {
            let ts = now - 3 * 86_400_000 + i * span / HISTORY;
            producer
                .send_result(
                    FutureRecord::to(&orders)
                        .key(key)
                        .payload("history")
                        .timestamp(ts),
                )
                .map_err(|(e, _)| e)
        })
        .collect::<Result<_, _>>()
        .unwrap();
    for s in sends {
        s.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    // The flow, now: a root and its child.
    let (corr, root, child, key) = (id(), id(), id(), id());
    for (event, cause) in [(&root, None), (&child, Some(root.as_str()))] {
        let e = common::order(&key, event, &corr, cause);
        common::send(
            &orders,
            &key,
            &common::frame(schema_id, &e),
            &[("weft-event-id", event)],
        )
        .await;
    }

    let last_hour = TraceRequest {
        correlation_id: Some(corr.clone()),
        topics: vec![orders.clone()],
        window: Window {
            since: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
            until: None,
        },
        ..Default::default()
    };
    let t = trace(&kafka, &reg, &last_hour, |_| {}).await.unwrap();
    assert_eq!(t.events, 2);
    assert_eq!(
        t.scanned_records, 2,
        "the last hour holds the flow's two records and nothing of the history"
    );

    // The history alone: everything before 90 minutes ago, and no flow in it.
    let history = TraceRequest {
        window: Window {
            since: None,
            until: Some(chrono::Utc::now() - chrono::Duration::minutes(90)),
        },
        ..last_hour.clone()
    };
    let err = trace(&kafka, &reg, &history, |_| {}).await.unwrap_err();
    assert!(matches!(err, ConsoleError::NotFound(_)), "{err}");

    // Without a window: everything, history included.
    let whole = TraceRequest {
        window: Window::default(),
        ..last_hour.clone()
    };
    let t = trace(&kafka, &reg, &whole, |_| {}).await.unwrap();
    assert_eq!(t.scanned_records as i64, HISTORY + 2);
}
