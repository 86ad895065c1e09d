//! The Kafka store: the registry's state is the content of one compacted topic.
//!
//! Every write is a record in the topic (`_schemas` by default; one partition, so all instances
//! see one order). At start the topic is created if missing (one partition,
//! `cleanup.policy=compact`, set in CreateTopics itself, so the policy holds from the first
//! record) and read to its end before the store is handed out. A background
//! task keeps reading it and applies each record to the in-memory state.
//!
//! Writes are serialised through the topic: a writer first catches up to the topic's end, plans
//! from that state, produces (acks=all, idempotent), then waits until its own records have been
//! read back and applied before answering. Two instances that pick the same id (or subject
//! version) at once both produce; the record that comes first in the topic wins, the other
//! instance sees its record refused when applying it, restates the key with the winner (so
//! compaction keeps the winner) and plans again. Ids therefore stay unique with any number of
//! instances, without leader election.
//!
//! Failure modes: an unreachable broker fails [`open`] (the topic cannot be created or read)
//! and later writes answer 50001 after [`KafkaStoreConfig::timeout`]; a topic with more than one
//! partition is refused at start (order would be lost), so is one whose `cleanup.policy` lacks
//! `compact`, and so is one whose policy cannot be read (no DescribeConfigs right); an
//! undecodable record is logged and skipped; a crash between losing a conflict and restating the key leaves the losing record as
//! the last value of its key, which after compaction may win on replay (documented in
//! docs/registry.md).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use weft_core::kafka::KafkaConfig;

use crate::model::{Record, Registry};
use crate::store::Store;
use crate::{AppError, AppState};

/// Where the Kafka store keeps its records.
#[derive(Debug, Clone)]
pub struct KafkaStoreConfig {
    /// How to reach the cluster.
    pub kafka: KafkaConfig,
    /// The compacted topic (`_schemas`).
    pub topic: String,
    /// Replication factor used when the topic is created.
    pub replication_factor: i32,
    /// How long a write (or the initial read) may take before it fails.
    pub timeout: Duration,
}

impl KafkaStoreConfig {
    /// Defaults: topic `_schemas`, replication factor 1, 30 s timeout.
    pub fn new(kafka: KafkaConfig) -> Self {
        Self {
            kafka,
            topic: "_schemas".into(),
            replication_factor: 1,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Failures opening the Kafka store.
#[derive(Debug, thiserror::Error)]
pub enum KafkaStoreError {
    #[error("cannot create a Kafka client for the registry store: {0}")]
    Client(rdkafka::error::KafkaError),
    #[error("cannot create the registry topic '{topic}': {reason}")]
    CreateTopic { topic: String, reason: String },
    #[error("the registry topic '{topic}' has {partitions} partitions; it must have exactly 1 (records must keep one order)")]
    Partitions { topic: String, partitions: usize },
    #[error("the registry topic '{topic}' has cleanup.policy={policy}; it must be compact (old schemas would be deleted)")]
    NotCompacted { topic: String, policy: String },
    #[error("cannot read the registry topic '{topic}': {reason}")]
    Read { topic: String, reason: String },
    #[error("cannot read the cleanup.policy of the registry topic '{topic}' ({reason}); the store needs DescribeConfigs on it to be sure old schemas are never deleted")]
    Policy { topic: String, reason: String },
}

/// The Kafka side of a running store.
pub struct KafkaStore {
    topic: String,
    timeout: Duration,
    producer: FutureProducer,
    /// Used only for watermark queries.
    watermarks: Arc<StreamConsumer>,
    /// The next offset to apply (everything below it is in the state).
    applied: watch::Receiver<i64>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for KafkaStore {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Opens (creating if needed) the topic, reads it to its end, and returns a registry state
/// backed by it.
pub async fn open(config: KafkaStoreConfig) -> Result<AppState, KafkaStoreError> {
    ensure_topic(&config).await?;
    let consumer: StreamConsumer = config
        .kafka
        .client_config()
        .set("group.id", format!("weft-registry-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        // Writers wait for their own records to come back: keep the fetch long-poll short.
        .set("fetch.wait.max.ms", "20")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(KafkaStoreError::Client)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&config.topic, 0, Offset::Beginning)
        .map_err(KafkaStoreError::Client)?;
    consumer.assign(&tpl).map_err(KafkaStoreError::Client)?;
    let watermarks: StreamConsumer = config
        .kafka
        .client_config()
        .set(
            "group.id",
            format!("weft-registry-wm-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .create()
        .map_err(KafkaStoreError::Client)?;
    let producer: FutureProducer = config
        .kafka
        .client_config()
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .create()
        .map_err(KafkaStoreError::Client)?;

    let registry: Arc<RwLock<Registry>> = Arc::default();
    let (tx, rx) = watch::channel(0i64);
    let reader = tokio::spawn(read_forever(consumer, registry.clone(), tx));
    let store = KafkaStore {
        topic: config.topic.clone(),
        timeout: config.timeout,
        producer,
        watermarks: Arc::new(watermarks),
        applied: rx,
        reader,
    };
    store.sync().await.map_err(|e| KafkaStoreError::Read {
        topic: config.topic.clone(),
        reason: e.to_string(),
    })?;
    Ok(AppState::with_store(Store::Kafka(store), registry))
}

async fn ensure_topic(config: &KafkaStoreConfig) -> Result<(), KafkaStoreError> {
    let admin: AdminClient<DefaultClientContext> = config
        .kafka
        .client_config()
        .create()
        .map_err(KafkaStoreError::Client)?;
    // Reach the cluster first: this fails within the timeout when no broker answers, where
    // CreateTopics would wait for a controller for librdkafka's own (longer) timeout.
    // (Asking about no topic in particular, so no broker auto-creates it uncompacted.)
    let fetch = |admin: &AdminClient<DefaultClientContext>, topic: Option<&str>| {
        admin
            .inner()
            .fetch_metadata(topic, config.timeout)
            .map_err(|e| KafkaStoreError::Read {
                topic: config.topic.clone(),
                reason: format!(
                    "{e} (is a broker reachable at {}?)",
                    config.kafka.bootstrap_servers
                ),
            })
    };
    fetch(&admin, None)?;
    let topic = NewTopic::new(
        &config.topic,
        1,
        TopicReplication::Fixed(config.replication_factor),
    )
    .set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(config.timeout));
    let results = admin.create_topics([&topic], &options).await.map_err(|e| {
        KafkaStoreError::CreateTopic {
            topic: config.topic.clone(),
            reason: e.to_string(),
        }
    })?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(KafkaStoreError::CreateTopic {
                    topic: config.topic.clone(),
                    reason: code.to_string(),
                })
            }
        }
    }
    // A topic just created may not be in every broker's metadata yet (no partitions, or an
    // error such as LEADER_NOT_AVAILABLE): ask again until it is, within the timeout.
    let deadline = std::time::Instant::now() + config.timeout;
    let partitions = loop {
        let metadata = fetch(&admin, Some(&config.topic))?;
        let known = metadata
            .topics()
            .iter()
            .find(|t| t.name() == config.topic && t.error().is_none())
            .map(|t| t.partitions().len())
            .filter(|n| *n > 0);
        match known {
            Some(n) => break n,
            None if std::time::Instant::now() >= deadline => break 0,
            None => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    };
    if partitions != 1 {
        return Err(KafkaStoreError::Partitions {
            topic: config.topic.clone(),
            partitions,
        });
    }
    // A topic that deletes old records would lose schemas: refuse it, and refuse to guess when
    // the policy cannot be read.
    let spec = ResourceSpecifier::Topic(&config.topic);
    let policy_error = |reason: String| KafkaStoreError::Policy {
        topic: config.topic.clone(),
        reason,
    };
    let results = admin
        .describe_configs([&spec], &options)
        .await
        .map_err(|e| policy_error(e.to_string()))?;
    let resource = results
        .into_iter()
        .next()
        .ok_or_else(|| policy_error("the broker answered no resource".into()))?
        .map_err(|e| policy_error(e.to_string()))?;
    let policy = resource
        .entries
        .iter()
        .find(|e| e.name == "cleanup.policy")
        .and_then(|e| e.value.clone())
        .ok_or_else(|| policy_error("the broker reported no cleanup.policy entry".into()))?;
    if !policy.split(',').any(|p| p.trim() == "compact") {
        return Err(KafkaStoreError::NotCompacted {
            topic: config.topic.clone(),
            policy,
        });
    }
    Ok(())
}

async fn read_forever(
    consumer: StreamConsumer,
    registry: Arc<RwLock<Registry>>,
    applied: watch::Sender<i64>,
) {
    loop {
        match consumer.recv().await {
            Ok(m) => {
                let offset = m.offset();
                match Record::decode(m.key().unwrap_or_default(), m.payload()) {
                    Ok(record) => match registry.write() {
                        Ok(mut reg) => {
                            if !reg.apply(&record) {
                                tracing::info!(offset, "registry record lost a conflict");
                            }
                        }
                        Err(_) => {
                            tracing::error!("registry state lock poisoned; the reader stops");
                            return;
                        }
                    },
                    Err(e) => tracing::warn!(offset, error = %e, "skipping a registry record"),
                }
                applied.send_replace(offset + 1);
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the registry topic failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

impl KafkaStore {
    fn err(&self, what: impl std::fmt::Display) -> AppError {
        AppError::new(
            50001,
            format!(
                "Error in the backend data store (Kafka topic '{}'): {what}",
                self.topic
            ),
        )
    }

    /// Waits until every record below `offset` is applied.
    async fn applied_up_to(&self, offset: i64, deadline: Instant) -> Result<(), AppError> {
        let mut rx = self.applied.clone();
        let waited = tokio::time::timeout_at(deadline.into(), rx.wait_for(|a| *a >= offset))
            .await
            .map(|r| r.map(|_| ()));
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.err("the topic reader stopped")),
            Err(_) => Err(self.err(format!(
                "timed out reading the topic up to offset {offset} (at {})",
                *self.applied.borrow()
            ))),
        }
    }

    /// Catches the state up with the end of the topic.
    pub(crate) async fn sync(&self) -> Result<(), AppError> {
        let deadline = Instant::now() + self.timeout;
        let consumer = self.watermarks.clone();
        let topic = self.topic.clone();
        let timeout = self.timeout;
        let (_, high) =
            tokio::task::spawn_blocking(move || consumer.fetch_watermarks(&topic, 0, timeout))
                .await
                .map_err(|e| self.err(e))?
                .map_err(|e| self.err(format!("cannot read the end offset: {e}")))?;
        self.applied_up_to(high, deadline).await
    }

    /// Produces `records` and returns once they are applied locally.
    pub(crate) async fn append(&self, records: &[Record]) -> Result<(), AppError> {
        let deadline = Instant::now() + self.timeout;
        let mut last = -1;
        for r in records {
            let (key, value) = r.encode();
            let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(&self.topic)
                .partition(0)
                .key(&key);
            if let Some(v) = &value {
                record = record.payload(v);
            }
            let delivery = self
                .producer
                .send(record, self.timeout)
                .await
                .map_err(|(e, _)| self.err(format!("write failed: {e}")))?;
            last = delivery.offset;
        }
        self.applied_up_to(last + 1, deadline).await
    }
}
