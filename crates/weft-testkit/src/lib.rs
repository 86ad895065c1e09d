//! Test helpers shared by weft's integration tests.
//!
//! Tests never assume a broker exists: [`broker`] starts the project's Apache Kafka node through
//! `scripts/broker.sh start` (the same logic a developer runs; idempotent, so every test may call
//! it) unless `WEFT_TEST_BOOTSTRAP` points at another cluster. No test depends on which one
//! answers: every assertion holds on any Apache Kafka cluster. Every test takes fresh names from
//! [`unique`], so tests never see each other's topics, groups or transactional ids.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, Offset, TopicPartitionList};

use weft_core::kafka::KafkaConfig;

/// The repository root (this crate lives in `crates/weft-testkit`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Settings for the test cluster, starting the local broker on first use.
///
/// Panics with the script's output when the broker cannot be started: a test that needs a
/// broker must fail loudly, never pass without one.
pub fn broker() -> KafkaConfig {
    static STARTED: OnceLock<KafkaConfig> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            if let Ok(bootstrap) = std::env::var("WEFT_TEST_BOOTSTRAP") {
                return KafkaConfig::with_bootstrap(&bootstrap);
            }
            let script = repo_root().join("scripts/broker.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg("start")
                .output()
                .expect("bash runs scripts/broker.sh");
            assert!(
                out.status.success(),
                "scripts/broker.sh start failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            KafkaConfig::local()
        })
        .clone()
}

/// The project's PostgreSQL server (`scripts/postgres.sh start`, once per test binary; or
/// `WEFT_TEST_DATABASE_URL`), as a URL.
pub fn postgres() -> String {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            if let Ok(url) = std::env::var("WEFT_TEST_DATABASE_URL") {
                return url;
            }
            let script = repo_root().join("scripts/postgres.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg("start")
                .output()
                .expect("bash runs scripts/postgres.sh");
            assert!(
                out.status.success(),
                "scripts/postgres.sh start failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let url = Command::new("bash")
                .arg(&script)
                .arg("url")
                .output()
                .expect("bash runs scripts/postgres.sh");
            String::from_utf8_lossy(&url.stdout).trim().to_string()
        })
        .clone()
}

/// `url` with its sessions' `search_path` set to `schema` (a private namespace per test).
pub fn postgres_in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

/// Runs one of Apache Kafka's own tools (`ConfigCommand`, `TransactionsCommand`,
/// `ConsoleConsumer`, `ConsumerGroupCommand`, ... or a fully qualified class) through
/// `scripts/broker.sh tool`, against the test cluster: the reference when weft's view of the
/// cluster is in doubt. `--bootstrap-server` is added first; returns (exit code, stdout, stderr).
pub fn kafka_tool(class: &str, args: &[&str]) -> (i32, String, String) {
    let kafka = broker();
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/broker.sh"))
        .args([
            "tool",
            class,
            "--bootstrap-server",
            &kafka.bootstrap_servers,
        ])
        .args(args)
        .output()
        .expect("bash runs scripts/broker.sh tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A three-node cluster of `scripts/broker.sh cluster` (replication factor 3,
/// min.insync.replicas 2) owned by one test: started fresh on free ports, stopped when dropped
/// (also when the test panics), so no cluster outlives its test to take the ports of the next
/// run.
pub struct Cluster {
    port: u16,
    config: KafkaConfig,
}

impl Cluster {
    /// Starts a fresh cluster whose client ports are `p`, `p+100`, `p+200` (controllers on
    /// each `+1`) for the first base `p` from `first_port` on, in steps of 1000, whose six ports
    /// are all free. Panics with the script's output when it cannot start.
    pub fn start(first_port: u16) -> Cluster {
        let port = (0..20)
            .map(|i| first_port + i * 1000)
            .find(|&p| {
                [0, 1, 100, 101, 200, 201]
                    .iter()
                    .all(|d| std::net::TcpListener::bind(("127.0.0.1", p + d)).is_ok())
            })
            .unwrap_or_else(|| panic!("no free ports for a cluster from {first_port} on"));
        let (ok, out) = cluster_command(port, &["start"]);
        let cluster = Cluster {
            port,
            config: KafkaConfig::with_bootstrap(&format!(
                "127.0.0.1:{port},127.0.0.1:{},127.0.0.1:{}",
                port + 100,
                port + 200
            )),
        };
        assert!(ok, "scripts/broker.sh cluster start failed:\n{out}");
        cluster
    }

    /// Client settings for the cluster.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Runs `scripts/broker.sh cluster <args>` for this cluster: (success, output).
    pub fn command(&self, args: &[&str]) -> (bool, String) {
        cluster_command(self.port, args)
    }

    /// [`Cluster::command`] on a thread of its own (a node's restart takes seconds; a test
    /// that watches the cluster meanwhile must not stop watching).
    pub fn spawn_command(&self, args: &[&str]) -> std::thread::JoinHandle<(bool, String)> {
        let port = self.port;
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cluster_command(port, &args)
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let (ok, out) = cluster_command(self.port, &["stop"]);
        if !ok {
            eprintln!("stopping the cluster on {}: {out}", self.port);
        }
    }
}

/// Runs `scripts/broker.sh cluster <args>` for the cluster on `port`: (success, output).
fn cluster_command(port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/broker.sh"))
        .arg("cluster")
        .args(args)
        .env("WEFT_CLUSTER_PORT", port.to_string())
        .output()
        .expect("bash runs scripts/broker.sh cluster");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A fresh lower-case name part: `t` + 10 hex digits, valid as a topic-name system segment.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..10])
}

/// Creates `names` with `partitions` partitions each on the test broker; panics on failure.
pub async fn create_topics(names: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = broker().client_config().create().unwrap();
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let res = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .unwrap();
    assert!(res.iter().all(|r| r.is_ok()), "creating {names:?}: {res:?}");
}

/// One record as a test sees it.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub partition: i32,
    pub key: String,
    pub value: String,
    pub headers: BTreeMap<String, String>,
}

impl ReadRecord {
    /// The record, with key, value and headers as (lossy) UTF-8.
    pub fn of(m: &BorrowedMessage<'_>) -> Self {
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), text(h.value)))
                    .collect()
            })
            .unwrap_or_default();
        ReadRecord {
            partition: m.partition(),
            key: text(m.key()),
            value: text(m.payload()),
            headers,
        }
    }
}

/// A consumer assigned to every partition of `topic` from the beginning, with `isolation`
/// (`read_committed` or `read_uncommitted`) and partition-EOF events on.
pub fn reader(topic: &str, partitions: i32, isolation: &str) -> BaseConsumer {
    let consumer: BaseConsumer = broker()
        .client_config()
        .set("group.id", unique("test-reader-"))
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    consumer
}

/// Reads `topic` from the start until every partition reports its end; panics after 120 s.
pub fn read_to_end(topic: &str, partitions: i32, isolation: &str) -> Vec<ReadRecord> {
    let consumer = reader(topic, partitions, isolation);
    let mut out = Vec::new();
    let mut eof = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while eof.len() < partitions as usize {
        assert!(
            Instant::now() < deadline,
            "could not read {topic} to its end ({isolation})"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Err(KafkaError::PartitionEOF(p))) => {
                eof.insert(p);
            }
            Some(Err(e)) => panic!("reading {topic} ({isolation}): {e}"),
            Some(Ok(m)) => {
                eof.remove(&m.partition());
                out.push(ReadRecord::of(&m));
            }
            None => {}
        }
    }
    out
}
