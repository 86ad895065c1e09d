//! The sink loop: a processor whose effect is a document in an external store that keeps its own
//! consumed positions ([`SinkStore`], e.g. PostgreSQL) runs here instead of in the transaction
//! loop. Exactly once into the store, with no Kafka transaction: each batch's documents and the
//! partitions' next offsets are written in **one store transaction**, and a partition is read
//! from the position the store holds.
//!
//! Per batch: poll up to `max_batch` records or `commit_interval`; hand each to the processor,
//! whose sink lines are buffered ([`BufferedSinks`]) and become documents keyed by the input's
//! Kafka key; then [`SinkStore::write`] with a move per partition from the position read (or
//! last written) to the next offset. Kafka offsets are committed afterwards, asynchronously, for
//! `weft lag` and tools only: the store's positions decide.
//!
//! Failure modes:
//! - killed mid-batch: nothing of the batch is in the store; the partition is read again from
//!   the store's position by whoever owns it next;
//! - a store write fails (connection lost, database restarted): the batch is dropped and every
//!   owned partition read again from the positions held; when the failed write had in fact
//!   committed, the next write's move does not start where the store is, and that conflict makes
//!   the loop read the positions afresh;
//! - a rebalance: the batch is dropped (its records are read again by their new owner, or by
//!   this member for partitions it keeps); a member that lost a partition without noticing (a
//!   zombie) cannot write it, its move's `from` no longer matches;
//! - a record the processor rejects (poison, undecodable, or transient: a sink has no retry
//!   tiers) goes to the group's dead-letter topic with the runtime's headers, flushed before the
//!   batch's store write: at least once (a crash between the two sends it again);
//! - a stored position past the partition's end (the topic was recreated): reset to the
//!   partition's start in the store, with a warning;
//! - a store that refuses for good (a table missing: `weft outbox migrate` not run) stops the
//!   loop, as do a fatal error and an unavailable registry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{info, warn};
use weft_core::kafka::KafkaConfig;

use crate::failure::{self, FailurePolicy};
use crate::processor::{ProcessError, Record, RecordProcessor};
use crate::sink::{BufferedSinks, PositionMove, SinkDoc, SinkStore, SinkStoreError};
use crate::txn_loop::{LoopSettings, LoopStats};
use crate::RuntimeError;

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct SinkContext {
    assigned: Mutex<Vec<(String, i32)>>,
    revoked: Mutex<Vec<(String, i32)>>,
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            if let Ok(mut r) = self.revoked.lock() {
                r.extend(
                    list.elements()
                        .iter()
                        .map(|e| (e.topic().to_string(), e.partition())),
                );
            }
        }
    }

    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            if let Ok(mut a) = self.assigned.lock() {
                a.extend(
                    list.elements()
                        .iter()
                        .map(|e| (e.topic().to_string(), e.partition())),
                );
            }
        }
    }
}

type SinkConsumer = BaseConsumer<SinkContext>;

fn fatal(operation: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Fatal {
        operation: operation.to_string(),
        message: e.to_string(),
    }
}

/// The batch in hand.
#[derive(Default)]
struct Batch {
    docs: Vec<SinkDoc>,
    /// Next offset per partition, once a record of it is in the batch.
    next: BTreeMap<(String, i32), i64>,
    dead_letters: usize,
    /// Records taken (with or without a document).
    records: usize,
    started: Option<Instant>,
}

/// Runs `processor` (whose sink lines go to `buffer`) into `store` until shutdown; see the
/// module docs. `settings.failure`'s retry tiers are not used.
pub fn run_sink_loop(
    kafka: &KafkaConfig,
    settings: &LoopSettings,
    processor: &mut dyn RecordProcessor,
    buffer: Arc<BufferedSinks>,
    store: Arc<dyn SinkStore>,
) -> Result<LoopStats, RuntimeError> {
    // The transaction loop's group settings: 6 s sessions, static membership when asked.
    let consumer: SinkConsumer = crate::txn_loop::group_config(kafka, settings)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create_with_context(SinkContext::default())
        .map_err(|e| fatal("creating the consumer", e))?;
    let topics: Vec<&str> = settings.inputs.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| fatal("subscribing", e))?;
    let dlq: ThreadedProducer<DefaultProducerContext> = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .create()
        .map_err(|e| fatal("creating the dead-letter producer", e))?;
    let policy = FailurePolicy {
        retry_tiers: Vec::new(),
        parking_topic: None,
        ..settings.failure.clone()
    };
    let mut state = SinkState {
        group: settings.group_id.clone(),
        shutdown: settings.shutdown.clone(),
        store,
        positions: BTreeMap::new(),
        unsought: BTreeSet::new(),
        marked: BTreeMap::new(),
        last_mark: Instant::now(),
        batch: Batch::default(),
        stats: LoopStats::default(),
    };
    info!(processor = %settings.processor, group = %settings.group_id, "sink loop consuming {:?}", settings.inputs);
    if let Some(m) = &settings.metrics {
        m.add_loop();
    }
    while !settings.shutdown.load(Ordering::SeqCst) {
        let polled = consumer.poll(Duration::from_millis(100));
        state.after_rebalance(&consumer)?;
        match polled {
            Some(Ok(m)) => {
                let record = crate::txn_loop::record_of(&m);
                state.take(&consumer, &record, processor, &buffer, &dlq, &policy)?;
            }
            Some(Err(e)) => warn!("consuming: {e}"),
            None => {}
        }
        let due = state
            .batch
            .started
            .is_some_and(|s| s.elapsed() >= settings.commit_interval)
            || state.batch.records >= settings.max_batch;
        if due {
            state.write(&consumer, &dlq)?;
            if let Some(m) = &settings.metrics {
                m.loop_ready();
            }
        } else if state.batch.started.is_none()
            && state.last_mark.elapsed() >= settings.commit_interval
        {
            state.mark_positions(&consumer);
        }
    }
    if !state.batch.next.is_empty() {
        state.write(&consumer, &dlq)?;
    }
    Ok(state.stats)
}

struct SinkState {
    group: String,
    shutdown: Arc<std::sync::atomic::AtomicBool>,
    store: Arc<dyn SinkStore>,
    /// The store's position of each owned partition (None: nothing stored yet); a partition
    /// absent here is not read until its position is known.
    positions: BTreeMap<(String, i32), Option<i64>>,
    /// Owned partitions whose seek to their position has not taken yet.
    unsought: BTreeSet<(String, i32)>,
    /// What `mark_positions` last committed to Kafka, and when it last looked.
    marked: BTreeMap<(String, i32), i64>,
    last_mark: Instant,
    batch: Batch,
    stats: LoopStats,
}

impl SinkState {
    /// Phase: partitions assigned or revoked during the last poll. The batch is dropped; new
    /// partitions learn their positions; every owned partition is sought to its position.
    fn after_rebalance(&mut self, consumer: &SinkConsumer) -> Result<(), RuntimeError> {
        let ctx = consumer.context();
        let revoked = std::mem::take(
            &mut *ctx
                .revoked
                .lock()
                .map_err(|_| fatal("rebalance", "lock poisoned"))?,
        );
        let assigned = std::mem::take(
            &mut *ctx
                .assigned
                .lock()
                .map_err(|_| fatal("rebalance", "lock poisoned"))?,
        );
        if revoked.is_empty() && assigned.is_empty() {
            return Ok(());
        }
        for p in &revoked {
            self.positions.remove(p);
            self.unsought.remove(p);
        }
        for p in assigned {
            self.positions.insert(p, None);
        }
        self.batch = Batch::default();
        self.reposition(consumer)
    }

    /// Reads every owned partition's position from the store and seeks there.
    fn reposition(&mut self, consumer: &SinkConsumer) -> Result<(), RuntimeError> {
        let owned: Vec<(String, i32)> = self.positions.keys().cloned().collect();
        if owned.is_empty() {
            return Ok(());
        }
        let stored = loop {
            match self.store.positions(&self.group, &owned) {
                Ok(s) => break s,
                Err(e @ SinkStoreError::Broken(_)) => {
                    return Err(fatal("reading the sink's positions", e))
                }
                Err(e) => {
                    if self.shutdown.load(Ordering::SeqCst) {
                        // Nothing read, nothing to write: the loop ends at its next turn.
                        self.positions.clear();
                        return Ok(());
                    }
                    warn!("reading the sink's positions: {e}; trying again");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        };
        for p in owned {
            let mut at = stored.get(&p).copied();
            if let Some(o) = at {
                at = Some(self.in_range(consumer, &p, o));
            }
            self.positions.insert(p.clone(), at);
            let to = at.map_or(Offset::Beginning, Offset::Offset);
            if consumer.seek(&p.0, p.1, to, LOOKUP_TIMEOUT).is_err() {
                // Not fetching yet: `take` seeks at its first record.
                self.unsought.insert(p);
            }
        }
        Ok(())
    }

    /// `stored`, or, when it lies past the partition's end (the topic was deleted and created
    /// again, or truncated), the partition's start, written to the store as a reset: reading
    /// from a position past the end would skip every new record.
    fn in_range(&self, consumer: &SinkConsumer, p: &(String, i32), stored: i64) -> i64 {
        let Ok((low, high)) = consumer.fetch_watermarks(&p.0, p.1, LOOKUP_TIMEOUT) else {
            return stored;
        };
        if stored <= high {
            return stored;
        }
        let reset = PositionMove {
            topic: p.0.clone(),
            partition: p.1,
            from: Some(stored),
            to: low,
        };
        match self.store.write(&self.group, &[], &[reset]) {
            Ok(()) => {
                warn!(
                    "{}[{}]: the stored position {stored} lies past the end ({high}): the topic \
                     was recreated or truncated; reading from its start ({low})",
                    p.0, p.1
                );
                low
            }
            Err(e) => {
                warn!("{}[{}]: resetting a position past the end: {e}", p.0, p.1);
                stored
            }
        }
    }

    /// Phase: one record into the batch (or skipped, or sought past).
    fn take(
        &mut self,
        consumer: &SinkConsumer,
        record: &Record<'_>,
        processor: &mut dyn RecordProcessor,
        buffer: &BufferedSinks,
        dlq: &ThreadedProducer<DefaultProducerContext>,
        policy: &FailurePolicy,
    ) -> Result<(), RuntimeError> {
        let key = (record.topic.to_string(), record.partition);
        let Some(position) = self.positions.get(&key) else {
            return Ok(());
        };
        if self.unsought.remove(&key) {
            // Fetched before its seek could take: seek now (the partition is fetching), and
            // skip this record; the next ones come from the store's position.
            let to = position.map_or(Offset::Beginning, Offset::Offset);
            if let Err(e) = consumer.seek(&key.0, key.1, to, LOOKUP_TIMEOUT) {
                warn!(
                    "seeking {}[{}] to {to:?}: {e}; trying at its next record",
                    key.0, key.1
                );
                self.unsought.insert(key);
            }
            return Ok(());
        }
        // After a seek, records come in order from the position; an offset past the expected
        // one is past transaction markers or aborted records, which a read_committed reader
        // does not see.
        let expected = self.batch.next.get(&key).copied().or(*position);
        if expected.is_some_and(|e| record.offset < e) {
            self.stats.redelivered_skipped += 1;
            return Ok(());
        }
        self.stats.consumed += 1;
        buffer.take();
        match processor.process(record) {
            Ok(outs) => {
                if !outs.is_empty() {
                    warn!(
                        "a sink processor emitted {} records; they are dropped",
                        outs.len()
                    );
                }
                let doc_key = record.key.map(|k| String::from_utf8_lossy(k).into_owned());
                for line in buffer.take() {
                    self.batch.docs.push(SinkDoc {
                        sink: line.sink,
                        key: doc_key.clone().unwrap_or_else(|| line.event_id.clone()),
                        event_id: line.event_id,
                        document: line.document,
                        topic: key.0.clone(),
                        partition: key.1,
                        offset: record.offset,
                    });
                }
            }
            Err(e @ (ProcessError::Fatal(_) | ProcessError::Unavailable(_))) => {
                return Err(RuntimeError::ProcessorFatal {
                    processor: policy.processor.clone(),
                    topic: key.0,
                    partition: key.1,
                    offset: record.offset,
                    message: e.to_string(),
                })
            }
            Err(e) => {
                let (out, _) = failure::route(policy, record, &e, chrono::Utc::now());
                warn!("dead-lettering {}[{}]@{}: {e}", key.0, key.1, record.offset);
                let mut r = BaseRecord::to(&out.topic).payload(&out.value);
                if let Some(k) = &out.key {
                    r = r.key(k);
                }
                if let Some(p) = out.partition {
                    r = r.partition(p);
                }
                let mut hs = rdkafka::message::OwnedHeaders::new();
                for (k, v) in &out.headers {
                    hs = hs.insert(rdkafka::message::Header {
                        key: k,
                        value: Some(v),
                    });
                }
                dlq.send(r.headers(hs))
                    .map_err(|(e, _)| fatal("producing a dead letter", e))?;
                self.batch.dead_letters += 1;
                self.stats.dead_lettered += 1;
            }
        }
        self.batch.next.insert(key, record.offset + 1);
        self.batch.records += 1;
        self.batch.started.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Idle (no batch open): commits to Kafka the consumer's positions that lie past what was
    /// committed there (past transaction markers after the last record), so the group's lag
    /// reads 0 when all is written. A partition with nothing stored yet counts from 0: one that
    /// holds only an aborted transaction is marked past it too. For tools only, as every Kafka
    /// commit of this loop.
    fn mark_positions(&mut self, consumer: &SinkConsumer) {
        self.last_mark = Instant::now();
        let Ok(at) = consumer.position() else { return };
        let mut tpl = TopicPartitionList::new();
        for e in at.elements() {
            let key = (e.topic().to_string(), e.partition());
            let (Offset::Offset(o), Some(stored)) = (e.offset(), self.positions.get(&key)) else {
                continue;
            };
            let from = stored.unwrap_or(0);
            let past = if stored.is_some() {
                o >= from
            } else {
                o > from
            };
            if past && self.marked.get(&key) != Some(&o) {
                let _ = tpl.add_partition_offset(&key.0, key.1, Offset::Offset(o));
                self.marked.insert(key, o);
            }
        }
        if tpl.count() > 0 {
            let _ = consumer.commit(&tpl, CommitMode::Async);
        }
    }

    /// Phase: the batch into the store, in one store transaction with the positions.
    fn write(
        &mut self,
        consumer: &SinkConsumer,
        dlq: &ThreadedProducer<DefaultProducerContext>,
    ) -> Result<(), RuntimeError> {
        if self.batch.dead_letters > 0 {
            if let Err(e) = dlq.flush(Duration::from_secs(30)) {
                warn!("dead letters not delivered: {e}; reading the batch again");
                self.batch = Batch::default();
                return self.reposition(consumer);
            }
        }
        let moves: Vec<PositionMove> = self
            .batch
            .next
            .iter()
            .map(|((topic, partition), to)| PositionMove {
                topic: topic.clone(),
                partition: *partition,
                from: self
                    .positions
                    .get(&(topic.clone(), *partition))
                    .copied()
                    .flatten(),
                to: *to,
            })
            .collect();
        let batch = std::mem::take(&mut self.batch);
        match self.store.write(&self.group, &batch.docs, &moves) {
            Ok(()) => {
                self.stats.committed_transactions += 1;
                let mut tpl = TopicPartitionList::new();
                for m in &moves {
                    self.positions
                        .insert((m.topic.clone(), m.partition), Some(m.to));
                    let _ = tpl.add_partition_offset(&m.topic, m.partition, Offset::Offset(m.to));
                }
                // For `weft lag` and tools only; the store's positions decide.
                let _ = consumer.commit(&tpl, CommitMode::Async);
                Ok(())
            }
            Err(e) => {
                self.stats.aborted_transactions += 1;
                match &e {
                    SinkStoreError::Conflict(_) => warn!("sink write refused: {e}"),
                    SinkStoreError::Unavailable(_) => {
                        warn!("sink write failed: {e}; reading the batch again in 1 s");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    SinkStoreError::Broken(_) => return Err(fatal("writing to the sink store", e)),
                }
                self.reposition(consumer)
            }
        }
    }
}
