//! Shared parts of the end-to-end flow tests: the local broker, a schema registry on a real
//! socket, topics provisioned from `topics/` by the `weft` binary, input events published through
//! the registry, processors started as `weft run` processes, and readers that wait for a
//! condition with a deadline (never a sleep).
//!
//! Topic names are the contracts' own, so several runs share them on a long-lived broker: every
//! assertion selects records by the event ids the test itself produced.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use weft_contracts::{Catalog, Contract, Event};
use weft_runtime::schemas::{RegistrySchemas, SchemaSource};

/// The broker, the registry and the provisioned topics, set up once per test binary.
pub struct Stack {
    pub registry_url: String,
    pub schemas: Arc<RegistrySchemas>,
    pub catalog: Catalog,
}

/// The shared stack.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        // Logs of in-process processors, shown with --nocapture (WEFT_LOG overrides).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        weft_testkit::broker();
        let registry_url = start_registry();
        let out = weft()
            .args(["topics", "apply", "--max-replication-factor", "1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "weft topics apply failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let catalog = Catalog::load(repo().join("avro")).unwrap();
        Stack {
            // Topics outlive a test binary's registry, so an id another binary's registry gave
            // is common and may be registered here a moment later.
            schemas: Arc::new(
                RegistrySchemas::new(&registry_url, true)
                    .unwrap()
                    .without_not_found_retries(),
            ),
            registry_url,
            catalog,
        }
    })
}

/// A schema registry on 127.0.0.1, serving from its own thread for the life of the test binary.
fn start_registry() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(
                listener,
                weft_registry::app(weft_registry::AppState::default()),
            )
            .await
            .unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    format!("http://{addr}")
}

pub fn repo() -> PathBuf {
    weft_testkit::repo_root()
}

/// The `weft` binary, run from the repository root.
pub fn weft() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weft"));
    c.current_dir(repo());
    c
}

/// Encodes `event` as on the wire: Confluent framing with the registry id of its contract's
/// schema under `<topic>-value`.
pub fn encode<P: Contract>(event: &Event<P>) -> Vec<u8> {
    let s = stack();
    let schema = s.catalog.self_contained(P::SCHEMA).unwrap();
    let id = s.schemas.value_schema_id(P::TOPIC, &schema).unwrap();
    let body = weft_contracts::codec::encode(&schema, event).unwrap();
    weft_core::wire::frame(id, &body)
}

/// Decodes a value of contract `Q` written through the registry.
pub fn decode<Q: Contract>(value: &[u8]) -> Event<Q> {
    try_decode(value).expect("a value of the contract's schema")
}

/// Decodes a value of contract `Q`, `None` when it is not one under this registry (records of
/// earlier runs on a long-lived broker were written under another registry's ids).
pub fn try_decode<Q: Contract>(value: &[u8]) -> Option<Event<Q>> {
    let s = stack();
    let (id, body) = weft_core::wire::split(value).ok()?;
    let writer = s.schemas.writer_schema(id).ok()?;
    let reader = s.catalog.self_contained(Q::SCHEMA).ok()?;
    weft_contracts::codec::decode_resolved(&writer, Some(&reader), body).ok()
}

/// A raw record to publish: key, value, headers.
pub type RawRecord = (String, Vec<u8>, Vec<(String, String)>);

/// Publishes events of contract `P` to its topic, keyed by entity, with weft's headers.
pub fn publish<P: Contract>(events: &[Event<P>]) {
    let records: Vec<RawRecord> = events
        .iter()
        .map(|e| {
            let headers = e
                .metadata
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (e.key(), encode(e), headers)
        })
        .collect();
    publish_raw(P::TOPIC, &records);
}

/// Publishes raw records (key, value, headers) to `topic` and waits for every acknowledgement.
pub fn publish_raw(topic: &str, records: &[RawRecord]) {
    let producer: BaseProducer = weft_testkit::broker()
        .client_config()
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for (key, value, headers) in records {
        let mut hs = OwnedHeaders::new();
        for (k, v) in headers {
            hs = hs.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        producer
            .send(BaseRecord::to(topic).key(key).payload(value).headers(hs))
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Rec {
    pub topic: String,
    pub key: String,
    pub value: Vec<u8>,
    pub headers: BTreeMap<String, String>,
    /// The record's timestamp, epoch milliseconds.
    pub timestamp: i64,
}

impl Rec {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Reads `topics` (read_committed, from the beginning) until `done` holds for the records that
/// `keep` selects, or panics after `deadline` naming what was seen.
pub fn collect_until(
    topics: &[&str],
    keep: impl Fn(&Rec) -> bool,
    done: impl Fn(&[Rec]) -> bool,
    deadline: Duration,
) -> Vec<Rec> {
    let consumer: BaseConsumer = weft_testkit::broker()
        .client_config()
        .set("group.id", weft_testkit::unique("e2e-reader-"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let partitions = md.topics()[0].partitions().len() as i32;
        assert!(partitions > 0, "{topic} does not exist");
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&tpl).unwrap();
    let mut kept = Vec::new();
    let end = Instant::now() + deadline;
    while !done(&kept) {
        assert!(
            Instant::now() < end,
            "condition not met on {topics:?} within {deadline:?}; kept {} records: {:#?}",
            kept.len(),
            kept.iter()
                .map(|r: &Rec| (&r.topic, &r.key, &r.headers))
                .collect::<Vec<_>>()
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let rec = rec_of(&m);
            if keep(&rec) {
                kept.push(rec);
            }
        }
    }
    kept
}

/// A `weft run` process; killed when dropped, unless stopped.
pub struct Running {
    child: Option<Child>,
    pub metrics_url: String,
    /// Its `WEFT_INSTANCE_ID` (transactional ids are `<processor>-<instance>`).
    pub instance_id: String,
}

impl Running {
    /// Starts `weft run <processors>` with a fresh instance id; waits until it serves metrics.
    pub fn start(processors: &[&str], extra_env: &[(&str, &str)]) -> Running {
        Self::spawn(processors, extra_env, Some(weft_testkit::unique("e2e-")))
    }

    /// Starts `weft run <processors>` as instance `instance` (a restarted pod keeps its name).
    pub fn start_as(processors: &[&str], extra_env: &[(&str, &str)], instance: &str) -> Running {
        Self::spawn(processors, extra_env, Some(instance.to_string()))
    }

    /// Starts `weft run <processors>` without `WEFT_INSTANCE_ID` (it picks its own).
    pub fn start_without_instance_id(processors: &[&str], extra_env: &[(&str, &str)]) -> Running {
        Self::spawn(processors, extra_env, None)
    }

    fn spawn(processors: &[&str], extra_env: &[(&str, &str)], instance: Option<String>) -> Running {
        let s = stack();
        let mut cmd = weft();
        cmd.arg("run")
            .args(processors)
            .env_remove("WEFT_INSTANCE_ID");
        if let Some(id) = &instance {
            cmd.env("WEFT_INSTANCE_ID", id);
        }
        cmd.env("WEFT_REGISTRY_URL", &s.registry_url)
            .env("WEFT_SCHEMA_AUTO_REGISTER", "true")
            .env("WEFT_METRICS_LISTEN", "127.0.0.1:0")
            .env("WEFT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[weft run] {line}");
                if !sent {
                    if let Some(url) = line.split("health and metrics on ").nth(1) {
                        let _ = tx.send(url.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let metrics_url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("weft run did not start its metrics server");
        Running {
            child: Some(child),
            metrics_url,
            instance_id: instance.unwrap_or_default(),
        }
    }

    /// `Some(exit code)` when the process has ended by itself.
    pub fn exited(&mut self) -> Option<Option<i32>> {
        let child = self.child.as_mut()?;
        child.try_wait().ok().flatten().map(|s| s.code())
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < end,
                "weft run did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself (e.g. a circuit breaker), returning its code.
    pub fn wait_exit(mut self, deadline: Duration) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < end,
                "weft run did not exit within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET a path of its health/metrics server.
    pub fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::blocking::get(format!("{}{path}", self.metrics_url)).unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rec_of(m: &rdkafka::message::BorrowedMessage<'_>) -> Rec {
    Rec {
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        topic: m.topic().to_string(),
        key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
        value: m.payload().unwrap_or_default().to_vec(),
        headers: m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Every committed record of `topic`, from the start to its current end (read_committed).
pub fn read_all(topic: &str) -> Vec<Rec> {
    read_all_isolated(topic, "read_committed")
}

/// Every record of `topic` from the start to its current end, with `isolation`
/// (`read_committed` or `read_uncommitted`).
pub fn read_all_isolated(topic: &str, isolation: &str) -> Vec<Rec> {
    let consumer: BaseConsumer = weft_testkit::broker()
        .client_config()
        .set("group.id", weft_testkit::unique("e2e-reader-"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = md.topics()[0].partitions().len();
    assert!(partitions > 0, "{topic} does not exist");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut at_end = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(120);
    while at_end.len() < partitions {
        assert!(Instant::now() < end, "could not read {topic} to its end");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                out.push(rec_of(&m));
            }
            None => {}
        }
    }
    out
}

/// `weft lag --group <group> -o jsonl` as (topic, partition) -> (committed, end, lag).
pub fn weft_lag(group: &str) -> BTreeMap<(String, i32), (i64, i64, i64)> {
    let out = weft()
        .args(["lag", "--group", group, "-o", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "weft lag: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let g: serde_json::Value = serde_json::from_str(line).unwrap();
        for p in g["partitions"].as_array().into_iter().flatten() {
            let n = |field: &str| p[field].as_i64().unwrap_or(-1);
            rows.insert(
                (
                    p["topic"].as_str().unwrap_or_default().to_string(),
                    n("partition") as i32,
                ),
                (n("committed"), n("end"), n("lag")),
            );
        }
    }
    rows
}

/// Waits until `group` has committed everything of `topic` (lag 0 on every partition, as
/// `weft lag` reports it), so whatever it produces for those records is committed too.
pub fn wait_caught_up(group: &str, topic: &str, deadline: Duration) {
    let end = Instant::now() + deadline;
    loop {
        let rows: Vec<i64> = weft_lag(group)
            .into_iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, (_, _, lag))| lag)
            .collect();
        if !rows.is_empty() && rows.iter().all(|lag| *lag == 0) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{group} did not catch up on {topic} within {deadline:?}: lags {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
