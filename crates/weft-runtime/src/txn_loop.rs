//! The exactly-once loop: consume, process, produce and commit offsets in one Kafka transaction.
//!
//! ```text
//!   poll ──► begin (lazily) ──► process ──► produce outputs / dead letters ──► note offset
//!     ▲                                                                            │
//!     └──── commit: send_offsets_to_transaction + commit_transaction ◄── batch full or interval
//! ```
//!
//! - The consumer reads `read_committed` with auto-commit off; its offsets are committed only by
//!   the producer's transaction, with the consumer's group metadata (KIP-447), so a zombie whose
//!   group generation is stale is fenced by the coordinator.
//! - `transactional.id` is `<processor>-<instance>`, from a stable instance identity (pod name or
//!   ordinal), never random: a restarted instance fences its predecessor and aborts whatever that
//!   one left open.
//! - A batch ends at `max_batch` records or after `commit_interval`, whichever comes first.
//!
//! Failure modes, by librdkafka's error classes:
//! - *retriable* (commit or offset send timed out, coordinator moving): the same call is retried,
//!   up to `max_retries` times, then the error counts as fatal;
//! - *requires abort* (a produce in the transaction failed): the transaction is aborted and the
//!   consumer is rewound to the committed offsets of its assignment, so the batch is processed
//!   again from scratch — nothing of the aborted attempt is visible to read_committed readers;
//! - *fatal* (producer fenced by a newer instance, invalid state): the loop returns
//!   [`RuntimeError::Fatal`] and the binary exits non-zero so the orchestrator restarts the pod.
//! - Rebalance: when partitions are revoked, the open transaction is aborted in the consumer's
//!   pre-rebalance callback, before the partitions go; the next owner starts from the committed
//!   offsets. Nothing half-done survives a revocation.
//! - Shutdown (SIGTERM/SIGINT sets the flag): the open batch is committed, the consumer leaves
//!   the group, and [`run_loop`] returns `Ok` within about one commit interval.
//! - A processor's [`ProcessError::Poison`] or `Transient` sends the original record, with its
//!   error in headers, to the dead-letter topic in the same transaction that commits its offset;
//!   `Fatal` aborts the batch and stops the loop.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaError};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{error, info, warn};
use weft_core::headers as h;
use weft_core::kafka::KafkaConfig;

use crate::processor::{Output, ProcessError, Record, RecordProcessor};
use crate::RuntimeError;

/// Timeout of one transactional call (init, send offsets, commit, abort).
const TXN_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What one loop instance does.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Processor name: the `producer` of outputs and the first half of the transactional id.
    pub processor: String,
    /// Consumer group id, `<system>.<service>`.
    pub group_id: String,
    /// Topics to consume.
    pub inputs: Vec<String>,
    /// Stable instance identity (`WEFT_INSTANCE_ID`, or the pod name).
    pub instance_id: String,
    /// Where poison and transient failures go.
    pub dead_letter_topic: String,
    /// Records per transaction at most.
    pub max_batch: usize,
    /// Time per transaction at most (default 100 ms).
    pub commit_interval: Duration,
    /// How often a retriable transactional call is retried before it counts as fatal.
    pub max_retries: u32,
    /// Set by a signal handler to ask for a clean shutdown.
    pub shutdown: Arc<AtomicBool>,
}

impl LoopSettings {
    /// The transactional id: `<processor>-<instance>`.
    pub fn transactional_id(&self) -> String {
        format!("{}-{}", self.processor, self.instance_id)
    }
}

/// Counters of one loop run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub consumed: u64,
    pub produced: u64,
    pub dead_lettered: u64,
    pub committed_transactions: u64,
    pub aborted_transactions: u64,
}

/// The consumer's context: owns the transactional producer so a revocation can abort the open
/// transaction before the partitions go.
struct LoopContext {
    producer: ThreadedProducer<DefaultProducerContext>,
    open: AtomicBool,
    batch_lost: AtomicBool,
    abort_failed: AtomicBool,
}

impl ClientContext for LoopContext {}

impl ConsumerContext for LoopContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Revoke(_)) && self.open.swap(false, Ordering::SeqCst) {
            warn!("partitions revoked mid-batch: aborting the open transaction");
            if let Err(e) = self.producer.abort_transaction(TXN_CALL_TIMEOUT) {
                error!("abort on revocation failed: {e}");
                self.abort_failed.store(true, Ordering::SeqCst);
            }
            self.batch_lost.store(true, Ordering::SeqCst);
        }
    }
}

enum TxnErrorClass {
    Retriable,
    RequiresAbort,
    Fatal,
}

fn classify(err: &KafkaError) -> TxnErrorClass {
    match err {
        KafkaError::Transaction(e) => classify_rd(e),
        _ => TxnErrorClass::Fatal,
    }
}

fn classify_rd(e: &RDKafkaError) -> TxnErrorClass {
    if e.is_fatal() {
        TxnErrorClass::Fatal
    } else if e.txn_requires_abort() {
        TxnErrorClass::RequiresAbort
    } else if e.is_retriable() {
        TxnErrorClass::Retriable
    } else {
        TxnErrorClass::Fatal
    }
}

fn fatal(operation: &str, err: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Fatal {
        operation: operation.to_string(),
        message: err.to_string(),
    }
}

/// The open batch: next offsets to commit per partition, size and start time.
#[derive(Default)]
struct Batch {
    next_offsets: BTreeMap<(String, i32), i64>,
    records: usize,
    started: Option<Instant>,
}

impl Batch {
    fn clear(&mut self) {
        *self = Batch::default();
    }
}

/// Runs the loop until shutdown is requested (returns `Ok`) or a fatal error (returns `Err`).
pub fn run_loop(
    kafka: &KafkaConfig,
    settings: &LoopSettings,
    processor: &mut dyn RecordProcessor,
) -> Result<LoopStats, RuntimeError> {
    if settings.inputs.is_empty() {
        return Err(RuntimeError::Config("no input topics".into()));
    }
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .client_config()
        .set("transactional.id", settings.transactional_id())
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()
        .map_err(|e| fatal("creating the transactional producer", e))?;
    producer
        .init_transactions(TXN_CALL_TIMEOUT)
        .map_err(|e| fatal("init_transactions", e))?;
    let context = LoopContext {
        producer,
        open: AtomicBool::new(false),
        batch_lost: AtomicBool::new(false),
        abort_failed: AtomicBool::new(false),
    };
    let consumer: BaseConsumer<LoopContext> = kafka
        .client_config()
        .set("group.id", &settings.group_id)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create_with_context(context)
        .map_err(|e| fatal("creating the consumer", e))?;
    let inputs: Vec<&str> = settings.inputs.iter().map(String::as_str).collect();
    consumer
        .subscribe(&inputs)
        .map_err(|e| fatal("subscribing", e))?;
    info!(
        processor = %settings.processor,
        group = %settings.group_id,
        transactional_id = %settings.transactional_id(),
        "consuming {:?}",
        settings.inputs
    );

    let mut stats = LoopStats::default();
    let mut batch = Batch::default();
    loop {
        let stopping = settings.shutdown.load(Ordering::SeqCst);
        let polled = if stopping {
            None
        } else {
            consumer.poll(Duration::from_millis(20))
        };
        let ctx = consumer.context();
        if ctx.abort_failed.swap(false, Ordering::SeqCst) {
            return Err(fatal("abort on revocation", "see the log line above"));
        }
        if ctx.batch_lost.swap(false, Ordering::SeqCst) {
            stats.aborted_transactions += 1;
            batch.clear();
        }
        match polled {
            None => {}
            Some(Err(e)) => warn!("consumer: {e}"),
            Some(Ok(msg)) => {
                if !ctx.open.load(Ordering::SeqCst) {
                    ctx.producer
                        .begin_transaction()
                        .map_err(|e| fatal("begin_transaction", e))?;
                    ctx.open.store(true, Ordering::SeqCst);
                    batch.started = Some(Instant::now());
                }
                let headers: Vec<(&str, &[u8])> = msg
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .filter_map(|h| h.value.map(|v| (h.key, v)))
                            .collect()
                    })
                    .unwrap_or_default();
                let record = Record {
                    topic: msg.topic(),
                    partition: msg.partition(),
                    offset: msg.offset(),
                    key: msg.key(),
                    value: msg.payload(),
                    headers,
                };
                stats.consumed += 1;
                match processor.process(&record) {
                    Ok(outputs) => {
                        for out in outputs {
                            send(&ctx.producer, &out)?;
                            stats.produced += 1;
                        }
                    }
                    Err(ProcessError::Fatal(message)) => {
                        abort(&consumer, &mut batch, &mut stats)?;
                        return Err(RuntimeError::ProcessorFatal {
                            processor: settings.processor.clone(),
                            topic: record.topic.to_string(),
                            partition: record.partition,
                            offset: record.offset,
                            message,
                        });
                    }
                    Err(err) => {
                        send(&ctx.producer, &dead_letter(settings, &record, &err))?;
                        stats.dead_lettered += 1;
                    }
                }
                batch
                    .next_offsets
                    .insert((msg.topic().to_string(), msg.partition()), msg.offset() + 1);
                batch.records += 1;
            }
        }
        let due = batch.records >= settings.max_batch
            || batch
                .started
                .is_some_and(|s| s.elapsed() >= settings.commit_interval);
        if consumer.context().open.load(Ordering::SeqCst) && (due || stopping) {
            commit(&consumer, settings, &mut batch, &mut stats)?;
        }
        if stopping {
            info!("shutdown requested: batch committed, leaving the group");
            consumer.unsubscribe();
            return Ok(stats);
        }
    }
}

/// Produces one record into the open transaction, waiting while the local queue is full.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    out: &Output,
) -> Result<(), RuntimeError> {
    let mut headers = OwnedHeaders::new_with_capacity(out.headers.len());
    for (k, v) in &out.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    let mut record = BaseRecord::to(&out.topic)
        .payload(&out.value)
        .headers(headers);
    if let Some(k) = &out.key {
        record = record.key(k);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                // The background thread drains the queue; wait for deliveries to make room.
                let _ = producer.flush(Duration::from_millis(100));
            }
            Err((e, _)) => return Err(fatal(&format!("producing to {}", out.topic), e)),
        }
    }
}

/// The dead-letter record for a failed input: original key and bytes, error in headers.
fn dead_letter(settings: &LoopSettings, record: &Record<'_>, err: &ProcessError) -> Output {
    let now = chrono::Utc::now().to_rfc3339();
    let attempt = record
        .headers
        .iter()
        .find(|(k, _)| *k == h::DLQ_ATTEMPT)
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    let first_failure = record
        .headers
        .iter()
        .find(|(k, _)| *k == h::DLQ_FIRST_FAILURE)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| now.clone());
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter(|(k, _)| !k.starts_with("weft-dlq-"))
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    for (k, v) in [
        (h::DLQ_SOURCE_TOPIC, record.topic.to_string()),
        (h::DLQ_SOURCE_PARTITION, record.partition.to_string()),
        (h::DLQ_SOURCE_OFFSET, record.offset.to_string()),
        (h::DLQ_ERROR_CLASS, err.class().to_string()),
        (h::DLQ_ERROR_MESSAGE, err.message().to_string()),
        (h::DLQ_ATTEMPT, attempt.to_string()),
        (h::DLQ_PROCESSOR, settings.processor.clone()),
        (h::DLQ_FIRST_FAILURE, first_failure),
        (h::DLQ_LAST_FAILURE, now),
    ] {
        headers.push((k.to_string(), v.into_bytes()));
    }
    Output {
        topic: settings.dead_letter_topic.clone(),
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
    }
}

/// Commits the open batch: offsets with the group metadata, then the transaction.
fn commit(
    consumer: &BaseConsumer<LoopContext>,
    settings: &LoopSettings,
    batch: &mut Batch,
    stats: &mut LoopStats,
) -> Result<(), RuntimeError> {
    let producer = &consumer.context().producer;
    let mut offsets = TopicPartitionList::new();
    for ((topic, partition), next) in &batch.next_offsets {
        offsets
            .add_partition_offset(topic, *partition, Offset::Offset(*next))
            .map_err(|e| fatal("building the offset list", e))?;
    }
    let metadata = consumer.group_metadata().ok_or_else(|| {
        fatal(
            "send_offsets_to_transaction",
            "the consumer has no group metadata",
        )
    })?;
    let mut attempt = 0;
    let result = loop {
        let r = producer
            .send_offsets_to_transaction(&offsets, &metadata, TXN_CALL_TIMEOUT)
            .and_then(|()| producer.commit_transaction(TXN_CALL_TIMEOUT));
        match r {
            Ok(()) => break Ok(()),
            Err(e) => match classify(&e) {
                TxnErrorClass::Retriable if attempt < settings.max_retries => {
                    attempt += 1;
                    warn!("retriable commit error (attempt {attempt}): {e}");
                }
                TxnErrorClass::Retriable | TxnErrorClass::Fatal => {
                    break Err(fatal("commit_transaction", e))
                }
                TxnErrorClass::RequiresAbort => {
                    warn!("transaction requires abort: {e}; rewinding to the committed offsets");
                    abort(consumer, batch, stats)?;
                    return Ok(());
                }
            },
        }
    };
    result?;
    consumer.context().open.store(false, Ordering::SeqCst);
    stats.committed_transactions += 1;
    batch.clear();
    Ok(())
}

/// Aborts the open transaction and rewinds every assigned partition to its committed offset.
fn abort(
    consumer: &BaseConsumer<LoopContext>,
    batch: &mut Batch,
    stats: &mut LoopStats,
) -> Result<(), RuntimeError> {
    let ctx = consumer.context();
    if ctx.open.swap(false, Ordering::SeqCst) {
        ctx.producer
            .abort_transaction(TXN_CALL_TIMEOUT)
            .map_err(|e| fatal("abort_transaction", e))?;
        stats.aborted_transactions += 1;
    }
    batch.clear();
    let assignment = consumer
        .assignment()
        .map_err(|e| fatal("reading the assignment", e))?;
    let committed = consumer
        .committed_offsets(assignment, TXN_CALL_TIMEOUT)
        .map_err(|e| fatal("reading committed offsets", e))?;
    for elem in committed.elements() {
        let to = match elem.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        consumer
            .seek(elem.topic(), elem.partition(), to, TXN_CALL_TIMEOUT)
            .map_err(|e| fatal("rewinding to the committed offsets", e))?;
    }
    Ok(())
}
