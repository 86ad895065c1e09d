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
//! - A failed input goes where [`crate::failure::route`] says — the group's next retry tier for a
//!   transient failure, the dead-letter topic for poison, undecodable input or a transient failure
//!   out of tiers — in the same transaction that commits its offset; `Fatal` aborts the batch and
//!   stops the loop.
//! - The retry topics are consumed by the same loop. A retry record whose `weft-retry-due` is in
//!   the future makes the loop seek its partition back to it and pause that partition until then;
//!   other partitions and the main topics go on. A tier's records are due in the order they were
//!   written, so holding the head holds nothing that is due.
//! - Circuit breaker: when the share of dead letters among the last inputs reaches the
//!   threshold ([`BreakerSettings`]), the open transaction is aborted (nothing of it is
//!   dead-lettered) and the loop stops with [`RuntimeError::CircuitOpen`]: a bad deploy stops
//!   instead of dead-lettering everything.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaError};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{error, info, warn};
use weft_core::kafka::KafkaConfig;

use crate::failure::{self, FailurePolicy, Route};
use crate::metrics::Metrics;
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
    /// Where failed inputs go: retry tiers (subscribed too) and the dead-letter topic.
    pub failure: FailurePolicy,
    /// Stops the processor when too many inputs are dead-lettered.
    pub breaker: BreakerSettings,
    /// Metrics of the process, when it exposes them.
    pub metrics: Option<Metrics>,
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

/// The circuit breaker: among the last `window` inputs, if the share dead-lettered reaches
/// `max_ratio`, the loop aborts its transaction and stops with [`RuntimeError::CircuitOpen`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Inputs looked at (0 turns the breaker off).
    pub window: usize,
    /// Share of dead letters that opens the breaker, 0.0 to 1.0.
    pub max_ratio: f64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            window: 200,
            max_ratio: 0.5,
        }
    }
}

/// The last outcomes, to decide whether the breaker opens.
struct Breaker {
    settings: BreakerSettings,
    outcomes: VecDeque<bool>,
    dead: usize,
}

impl Breaker {
    fn new(settings: BreakerSettings) -> Self {
        Breaker {
            settings,
            outcomes: VecDeque::with_capacity(settings.window),
            dead: 0,
        }
    }

    /// Records one outcome; true when the breaker opens.
    fn record(&mut self, dead_lettered: bool) -> bool {
        if self.settings.window == 0 {
            return false;
        }
        if self.outcomes.len() == self.settings.window && self.outcomes.pop_front() == Some(true) {
            self.dead -= 1;
        }
        self.outcomes.push_back(dead_lettered);
        self.dead += usize::from(dead_lettered);
        self.outcomes.len() == self.settings.window
            && self.dead as f64 >= self.settings.max_ratio * self.settings.window as f64
    }
}

/// Counters of one loop run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub consumed: u64,
    pub produced: u64,
    pub dead_lettered: u64,
    pub retried: u64,
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
    processor: String,
    metrics: Option<Metrics>,
}

impl ClientContext for LoopContext {
    /// librdkafka's statistics (every `statistics.interval.ms`, only when metrics are on) carry
    /// the consumer lag of each assigned partition.
    fn stats(&self, statistics: Statistics) {
        let Some(m) = &self.metrics else { return };
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    m.lag
                        .with_label_values(&[&self.processor, topic, &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

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

/// Partitions of retry topics paused until their head record is due.
#[derive(Default)]
struct Held {
    until: BTreeMap<(String, i32), chrono::DateTime<chrono::Utc>>,
}

impl Held {
    /// Seeks the partition back to the held record and pauses it until `due`.
    fn hold(
        &mut self,
        consumer: &BaseConsumer<LoopContext>,
        topic: &str,
        partition: i32,
        offset: i64,
        due: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), RuntimeError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        consumer
            .pause(&tpl)
            .map_err(|e| fatal("pausing a retry partition", e))?;
        consumer
            .seek(topic, partition, Offset::Offset(offset), TXN_CALL_TIMEOUT)
            .map_err(|e| fatal("seeking back to a held retry record", e))?;
        self.until.insert((topic.to_string(), partition), due);
        Ok(())
    }

    /// Resumes every partition whose record is due.
    fn resume_due(&mut self, consumer: &BaseConsumer<LoopContext>) {
        let now = chrono::Utc::now();
        let due: Vec<(String, i32)> = self
            .until
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for (topic, partition) in due {
            self.until.remove(&(topic.clone(), partition));
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&topic, partition);
            // A partition revoked meanwhile cannot be resumed; its next owner holds it anew.
            if let Err(e) = consumer.resume(&tpl) {
                warn!("resuming {topic}[{partition}]: {e}");
            }
        }
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
        processor: settings.processor.clone(),
        metrics: settings.metrics.clone(),
    };
    let consumer: BaseConsumer<LoopContext> = kafka
        .client_config()
        .set("group.id", &settings.group_id)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "statistics.interval.ms",
            if settings.metrics.is_some() {
                "5000"
            } else {
                "0"
            },
        )
        .create_with_context(context)
        .map_err(|e| fatal("creating the consumer", e))?;
    let retry_topics: Vec<&str> = settings
        .failure
        .retry_tiers
        .iter()
        .map(|(_, t)| t.as_str())
        .collect();
    let subscription: Vec<&str> = settings
        .inputs
        .iter()
        .map(String::as_str)
        .chain(retry_topics.iter().copied())
        .collect();
    consumer
        .subscribe(&subscription)
        .map_err(|e| fatal("subscribing", e))?;
    info!(
        processor = %settings.processor,
        group = %settings.group_id,
        transactional_id = %settings.transactional_id(),
        "consuming {subscription:?}"
    );
    let metrics = settings.metrics.as_ref();
    let name = settings.processor.as_str();
    if let Some(m) = metrics {
        m.add_loop();
    }

    let mut stats = LoopStats::default();
    let mut batch = Batch::default();
    // What this loop last committed per partition, and when it last looked for positions that
    // moved past transaction markers without a record.
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut last_idle_check = Instant::now();
    let mut held = Held::default();
    let mut breaker = Breaker::new(settings.breaker);
    let mut ready = false;
    loop {
        let stopping = settings.shutdown.load(Ordering::SeqCst);
        held.resume_due(&consumer);
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
            None => {
                // Assigned and nothing left to fetch: caught up, so ready.
                if !ready && consumer.assignment().is_ok_and(|a| a.count() > 0) {
                    ready = true;
                    if let Some(m) = metrics {
                        m.loop_ready();
                    }
                }
                // A read_committed consumer's position moves past the commit markers that end
                // its inputs' transactions; committing only "last record + 1" would leave the
                // group one offset behind per partition forever (lag never 0). When idle, commit
                // such positions in an offsets-only transaction.
                if !ctx.open.load(Ordering::SeqCst)
                    && last_idle_check.elapsed() >= settings.commit_interval
                {
                    last_idle_check = Instant::now();
                    let moved = positions_past(&consumer, &committed);
                    if !moved.is_empty() {
                        ctx.producer
                            .begin_transaction()
                            .map_err(|e| fatal("begin_transaction", e))?;
                        ctx.open.store(true, Ordering::SeqCst);
                        batch.next_offsets = moved;
                        batch.started = Some(Instant::now());
                        commit(&consumer, settings, &mut batch, &mut stats, &mut committed)?;
                    }
                }
            }
            Some(Err(e)) => warn!("consumer: {e}"),
            Some(Ok(msg)) => {
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
                // A retry record before its due time: hold its partition, not the others.
                if retry_topics.contains(&record.topic) {
                    if let Some(due) =
                        failure::retry_due(&record).filter(|d| *d > chrono::Utc::now())
                    {
                        held.hold(
                            &consumer,
                            record.topic,
                            record.partition,
                            record.offset,
                            due,
                        )?;
                        continue;
                    }
                }
                if !ctx.open.load(Ordering::SeqCst) {
                    ctx.producer
                        .begin_transaction()
                        .map_err(|e| fatal("begin_transaction", e))?;
                    ctx.open.store(true, Ordering::SeqCst);
                    batch.started = Some(Instant::now());
                }
                stats.consumed += 1;
                if let Some(m) = metrics {
                    m.consumed.with_label_values(&[name, record.topic]).inc();
                }
                let started = Instant::now();
                let result = processor.process(&record);
                if let Some(m) = metrics {
                    m.processing
                        .with_label_values(&[name])
                        .observe(started.elapsed().as_secs_f64());
                }
                let mut dead_lettered = false;
                match result {
                    Ok(outputs) => {
                        for out in outputs {
                            send(&ctx.producer, &out)?;
                            stats.produced += 1;
                            if let Some(m) = metrics {
                                m.produced.with_label_values(&[name, &out.topic]).inc();
                            }
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
                        let (out, route) =
                            failure::route(&settings.failure, &record, &err, chrono::Utc::now());
                        send(&ctx.producer, &out)?;
                        match route {
                            Route::Retry(tier) => {
                                stats.retried += 1;
                                if let Some(m) = metrics {
                                    m.retried.with_label_values(&[name, record.topic]).inc();
                                }
                                info!(
                                    tier,
                                    "retrying {}[{}]@{}: {err}",
                                    record.topic,
                                    record.partition,
                                    record.offset
                                );
                            }
                            Route::DeadLetter => {
                                stats.dead_lettered += 1;
                                dead_lettered = true;
                                if let Some(m) = metrics {
                                    m.dead_lettered
                                        .with_label_values(&[name, record.topic, err.class()])
                                        .inc();
                                }
                                warn!(
                                    "dead-lettered {}[{}]@{}: {err}",
                                    record.topic, record.partition, record.offset
                                );
                            }
                        }
                    }
                }
                batch
                    .next_offsets
                    .insert((msg.topic().to_string(), msg.partition()), msg.offset() + 1);
                batch.records += 1;
                if breaker.record(dead_lettered) {
                    abort(&consumer, &mut batch, &mut stats)?;
                    let b = settings.breaker;
                    let err = RuntimeError::CircuitOpen {
                        processor: settings.processor.clone(),
                        dead_letters: breaker.dead,
                        window: b.window,
                        threshold: b.max_ratio * 100.0,
                    };
                    error!("{err}; the open transaction was aborted, stopping");
                    return Err(err);
                }
            }
        }
        let due = batch.records >= settings.max_batch
            || batch
                .started
                .is_some_and(|s| s.elapsed() >= settings.commit_interval);
        if consumer.context().open.load(Ordering::SeqCst) && (due || stopping) {
            let started = Instant::now();
            commit(&consumer, settings, &mut batch, &mut stats, &mut committed)?;
            if let Some(m) = metrics {
                m.commit
                    .with_label_values(&[name])
                    .observe(started.elapsed().as_secs_f64());
            }
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

/// Commits the open batch: offsets with the group metadata, then the transaction.
fn commit(
    consumer: &BaseConsumer<LoopContext>,
    settings: &LoopSettings,
    batch: &mut Batch,
    stats: &mut LoopStats,
    committed: &mut BTreeMap<(String, i32), i64>,
) -> Result<(), RuntimeError> {
    let producer = &consumer.context().producer;
    // The consumer's position may already be past a transaction marker that follows the last
    // record processed; commit that (never less than what was processed).
    for (key, position) in positions_past(consumer, &batch.next_offsets) {
        batch.next_offsets.insert(key, position);
    }
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
    committed.extend(batch.next_offsets.iter().map(|(k, v)| (k.clone(), *v)));
    batch.clear();
    Ok(())
}

/// The assigned partitions whose consumer position is beyond `than` (partitions not in `than`
/// are left out: this loop has not processed anything there to build on).
fn positions_past(
    consumer: &BaseConsumer<LoopContext>,
    than: &BTreeMap<(String, i32), i64>,
) -> BTreeMap<(String, i32), i64> {
    let Ok(positions) = consumer.position() else {
        return BTreeMap::new();
    };
    positions
        .elements()
        .into_iter()
        .filter_map(|e| {
            let key = (e.topic().to_string(), e.partition());
            match (e.offset(), than.get(&key)) {
                (Offset::Offset(p), Some(c)) if p > *c => Some((key, p)),
                _ => None,
            }
        })
        .collect()
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
    let committed = weft_core::kafka::committed_offsets(consumer, &assignment, TXN_CALL_TIMEOUT)
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
