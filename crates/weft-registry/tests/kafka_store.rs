//! The Kafka store on the real broker: state survives the server, and two instances on one
//! topic hand out unique ids.

use std::time::Duration;

use serde_json::{json, Value};
use weft_registry::kafka::{open, KafkaStoreConfig};
use weft_registry::AppState;

const A: &str = r#"{"type":"record","name":"A","fields":[{"name":"id","type":"long"}]}"#;
const A2: &str = r#"{"type":"record","name":"A","fields":[{"name":"id","type":"long"},{"name":"n","type":["null","string"],"default":null}]}"#;
const B: &str = r#"{"type":"record","name":"B","fields":[{"name":"x","type":"string"}]}"#;

fn config(topic: &str) -> KafkaStoreConfig {
    let mut c = KafkaStoreConfig::new(weft_testkit::broker());
    c.topic = topic.to_string();
    c.timeout = Duration::from_secs(20);
    c
}

/// Serves `state` on 127.0.0.1:0; returns the base URL and the server task.
async fn serve(state: AppState) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, weft_registry::app(state))
            .await
            .unwrap();
    });
    (url, task)
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, &url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn register(base: &str, subject: &str, schema: &str) -> (u16, Value) {
    call(
        reqwest::Method::POST,
        format!("{base}/subjects/{subject}/versions"),
        Some(json!({ "schema": schema })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_on_the_same_topic() {
    let topic = weft_testkit::unique("_schemas-test-");
    let state = open(config(&topic)).await.expect("open the Kafka store");
    let (base, server) = serve(state).await;
    assert_eq!(register(&base, "a-value", A).await, (200, json!({"id": 1})));
    assert_eq!(
        register(&base, "a-value", A2).await,
        (200, json!({"id": 2}))
    );
    assert_eq!(register(&base, "b-value", B).await, (200, json!({"id": 3})));
    assert_eq!(register(&base, "c-value", A).await, (200, json!({"id": 1})));
    let (s, _) = call(
        reqwest::Method::PUT,
        format!("{base}/config/a-value"),
        Some(json!({"compatibility": "FULL"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        reqwest::Method::DELETE,
        format!("{base}/subjects/b-value"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // A subject deleted for good: its schema must stay readable by id after a restart.
    let e = r#"{"type":"record","name":"E","fields":[{"name":"e","type":"int"}]}"#;
    assert_eq!(register(&base, "e-value", e).await, (200, json!({"id": 4})));
    for q in ["", "?permanent=true"] {
        let (s, _) = call(
            reqwest::Method::DELETE,
            format!("{base}/subjects/e-value{q}"),
            None,
        )
        .await;
        assert_eq!(s, 200);
    }
    server.abort();
    let _ = server.await;

    let state = open(config(&topic)).await.expect("reopen the Kafka store");
    let (base, _server) = serve(state).await;
    let get = |path: &str| call(reqwest::Method::GET, format!("{base}{path}"), None);
    assert_eq!(get("/subjects").await, (200, json!(["a-value", "c-value"])));
    assert_eq!(
        get("/subjects?deleted=true").await,
        (200, json!(["a-value", "b-value", "c-value"]))
    );
    assert_eq!(
        get("/subjects/a-value/versions").await,
        (200, json!([1, 2]))
    );
    let (_, latest) = get("/subjects/a-value/versions/latest").await;
    assert_eq!(
        (latest["id"].clone(), latest["version"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(
        get("/config/a-value").await,
        (200, json!({"compatibilityLevel": "FULL"}))
    );
    assert_eq!(get("/schemas/ids/3").await, (200, json!({"schema": B})));
    assert_eq!(get("/schemas/ids/4").await, (200, json!({"schema": e})));
    assert_eq!(
        get("/schemas/ids/4/versions?deleted=true").await,
        (200, json!([]))
    );
    // Ids continue after the restored ones, the purged one included.
    let c = r#"{"type":"record","name":"C","fields":[]}"#;
    assert_eq!(register(&base, "d-value", c).await, (200, json!({"id": 5})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_topic_hand_out_unique_ids() {
    let topic = weft_testkit::unique("_schemas-test-");
    let one = open(config(&topic)).await.expect("open instance one");
    let two = open(config(&topic)).await.expect("open instance two");
    let (url1, _s1) = serve(one).await;
    let (url2, _s2) = serve(two).await;
    // Both register different schemas at once, many times.
    let schema = |i: usize| {
        format!(r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":"int"}}]}}"#)
    };
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (u1, u2) = (url1.clone(), url2.clone());
        let (s1, s2) = (schema(2 * i), schema(2 * i + 1));
        tasks.push(tokio::spawn(async move {
            let (n1, n2) = (format!("s{}", 2 * i), format!("s{}", 2 * i + 1));
            let (a, b) = tokio::join!(register(&u1, &n1, &s1), register(&u2, &n2, &s2));
            vec![(2 * i, a), (2 * i + 1, b)]
        }));
    }
    let mut ids = std::collections::BTreeMap::new();
    for t in tasks {
        for (i, (status, body)) in t.await.unwrap() {
            assert_eq!(status, 200, "{body}");
            ids.insert(i, body["id"].as_u64().unwrap());
        }
    }
    let distinct: std::collections::BTreeSet<u64> = ids.values().copied().collect();
    assert_eq!(distinct.len(), 20, "ids collided: {ids:?}");
    // Both instances agree on every id.
    for (i, id) in &ids {
        for base in [&url1, &url2] {
            let (s, b) = call(
                reqwest::Method::GET,
                format!("{base}/schemas/ids/{id}"),
                None,
            )
            .await;
            assert_eq!((s, b), (200, json!({ "schema": schema(*i) })), "{base}");
        }
    }
}

/// Two instances that raced wrote the same id for different schemas: on replay the first record
/// wins, the loser is not visible, and the schema it carried gets a fresh id when registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_keeps_the_first_of_two_conflicting_records() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use weft_registry::model::{Key, Record, SchemaValue, Value};
    let topic = weft_testkit::unique("_schemas-test-");
    // Creates the topic as the registry would.
    drop(open(config(&topic)).await.expect("open the Kafka store"));
    let producer: FutureProducer = weft_testkit::broker().client_config().create().unwrap();
    let rec = |subject: &str, schema: &str| Record {
        key: Key::Schema {
            subject: subject.into(),
            version: 1,
        },
        value: Some(Value::Schema(SchemaValue {
            subject: subject.into(),
            version: 1,
            id: 1,
            schema: schema.into(),
            deleted: false,
            purged: false,
        })),
    };
    for r in [rec("winner", A), rec("loser", B)] {
        let (k, v) = r.encode();
        producer
            .send(
                FutureRecord::to(&topic).key(&k).payload(&v.unwrap()),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let (base, _server) = serve(open(config(&topic)).await.unwrap()).await;
    let get = |path: &str| call(reqwest::Method::GET, format!("{base}{path}"), None);
    assert_eq!(get("/subjects").await, (200, json!(["winner"])));
    assert_eq!(get("/schemas/ids/1").await, (200, json!({"schema": A})));
    assert_eq!(register(&base, "loser", B).await, (200, json!({"id": 2})));
}

/// A topic that deletes old records would lose schemas: the store refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_is_not_compacted_is_refused() {
    let topic = weft_testkit::unique("_schemas-test-");
    // Created with the broker's default cleanup.policy (delete).
    weft_testkit::create_topics(&[&topic], 1).await;
    let err = match open(config(&topic)).await {
        Ok(_) => panic!("a delete-policy topic was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("cleanup.policy=delete"), "{err}");
}
