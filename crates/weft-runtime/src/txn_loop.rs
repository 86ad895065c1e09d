//! The exactly-once loop: consume, process, produce and commit offsets in one Kafka transaction.
//!
//! ```text
//!   poll ──► begin (lazily) ──► process ──► produce outputs / dead letters ──► note offset
//!     ▲                                                                            │
//!     └──── commit: send_offsets_to_transaction + commit_transaction ◄── batch full or interval
//! ```
//!
//! [`run_loop`] is a sequence of named phases, each a method of [`TxnLoop`]: `after_rebalance`
//! (a revocation aborted the batch: rewind), `on_idle` (readiness, offsets past transaction
//! markers), `on_consumer_error`, `on_record` (hold a retry record that is not due, begin,
//! `process_one`, note the offset, the breaker), `commit_if_due`. A new capability plugs into
//! one phase.
//!
//! - The consumer reads `read_committed` with auto-commit off; its offsets are committed only by
//!   the producer's transaction, with the consumer's group metadata (KIP-447), so a zombie whose
//!   group generation is stale is fenced by the coordinator.
//! - `transactional.id` is `<group>-<instance>` (the group is the processor's name), from a stable instance identity (pod name or
//!   ordinal), never random: a restarted instance fences its predecessor and aborts whatever that
//!   one left open. `transaction.timeout.ms` is 10 s (Kafka Streams' choice): a replica killed
//!   for good holds back read_committed readers of its outputs for at most that long.
//! - A batch ends at `max_batch` records or after `commit_interval`, whichever comes first.
//! - Before consuming, every topic the loop reads or writes (inputs, outputs, retry tiers,
//!   dead-letter topic) must exist: a missing one stops the loop with [`RuntimeError::Config`]
//!   naming it, instead of a produce that waits for a topic that never comes.
//!
//! Failure modes, by librdkafka's error classes:
//! - *retriable* (offset send or commit timed out, coordinator moving): the call that failed —
//!   only that one — is retried with a growing pause, up to `max_retries` times, then the error
//!   counts as fatal;
//! - *requires abort* (a record of the transaction was not delivered): the transaction is
//!   aborted and every partition the loop owns is rewound to its committed offset, so the batch
//!   is processed again from scratch. Consecutive aborts back off (200 ms doubling, at most 5 s);
//!   after `max_consecutive_aborts` in a row the loop stops with [`RuntimeError::Fatal`] naming
//!   the topic and the broker's error of the first undelivered record (a deleted or unauthorised
//!   output topic, a record over the topic's `max.message.bytes`), instead of looping forever;
//! - a record refused by the producer because the transaction is in an abortable error state
//!   (`Local: Erroneous state`; seen after a revocation purged queued records, when the next
//!   record's sequence number was out of order and librdkafka must bump the epoch): the
//!   transaction is aborted and rewound like a failed commit, and the record being handled is
//!   not noted (it comes again), instead of stopping the process;
//! - *fatal* (producer fenced by a newer instance, invalid state): the loop returns
//!   [`RuntimeError::Fatal`] and the binary exits non-zero so the orchestrator restarts the pod.
//! - A consumer error that cannot heal (authorisation, unknown topic, a fatal client error) stops
//!   the loop; others are logged and polling goes on.
//! - Rebalance: when partitions are revoked, the open transaction is aborted in the consumer's
//!   pre-rebalance callback, before the partitions go; after the rebalance every partition the
//!   loop still owns is rewound to its committed offset (with cooperative or KIP-848 assignment a
//!   revocation keeps the other partitions, whose aborted records would otherwise be skipped).
//! - A record handed out again below what this process already handled on a partition it has
//!   owned since (committed by it, or in the open transaction) is skipped with a warning and
//!   counted (`weft_redelivered_skipped_total`). Seen with librdkafka 2.12 under KIP-848 around a
//!   group-coordinator failover: a partition's fetch position went back one record after a
//!   commit, and the record was processed and committed twice. While this process owns a
//!   partition nobody else commits its offsets, so such a record is one it has handled; on
//!   revocation the partition's figures are forgotten.
//! - A consumer that stopped fetching owned, unpaused partitions with records waiting (seen
//!   under KIP-848 after a broker kill) stops the loop after `fetch_stall_limit` with
//!   [`RuntimeError::Fatal`] naming the partitions (the [`crate::fetch_guard`]).
//! - A panic in the processor function aborts the open transaction and stops the loop with
//!   [`RuntimeError::ProcessorPanicked`]: nothing of the batch is committed.
//! - Shutdown (SIGTERM/SIGINT sets the flag): the open batch is committed, the consumer leaves
//!   the group, and [`run_loop`] returns `Ok` within about one commit interval.
//! - A failed input goes where [`crate::failure::route`] says — the group's next retry tier for a
//!   transient failure, the dead-letter topic for poison, undecodable input or a transient failure
//!   out of tiers — in the same transaction that commits its offset; `Fatal` aborts the batch and
//!   stops the loop.
//! - The retry topics are consumed by the same loop, each retry partition through a queue of its
//!   own that is polled before the shared one ([`crate::retry_queues`]): a retry record waits
//!   behind no input backlog. A retry record whose `weft-retry-due` is in
//!   the future makes the loop seek its partition back to it and pause that partition until then;
//!   other partitions and the main topics go on. A tier's failed records are due in the order
//!   they were written, so holding the head holds none of them that is due (a parked record may
//!   be due earlier than one ahead of it: it waits behind it, see [`crate::parking`]).
//! - Circuit breaker: once at least `min_samples` outcomes are known, when the share of dead
//!   letters among the last `window` inputs reaches the threshold ([`BreakerSettings`]), the open
//!   transaction is aborted (nothing of it is dead-lettered) and the loop stops with
//!   [`RuntimeError::CircuitOpen`]: a bad deploy stops instead of dead-lettering everything. A
//!   restart starts with an empty window, so a crash loop dead-letters at most about
//!   `min_samples × max_ratio` records per restart (10 with the defaults).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaError};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};
use weft_core::kafka::{flush_in_flight, KafkaConfig};

use crate::failure::{self, FailurePolicy, Route};
use crate::fetch_guard::{self, FetchGuard};
use crate::metrics::Metrics;
use crate::migration::{is_copy, Delivered, DualWrites};
use crate::parking::{self, Parking};
use crate::processor::{Output, ProcessError, Record, RecordProcessor};
use crate::retry_queues::RetryQueues;
use crate::state::Restorer;
use crate::watchdog::{Watchdog, CLIENT_CALL_LIMIT, STALL_LIMIT};
use crate::RuntimeError;

/// Where a partition the group never committed on starts, for committing positions past
/// transaction markers: one holding only aborted records and their marker (a killed writer's,
/// an aborted dual write's) is committed past them too, or the group's lag there would never
/// reach 0.
const NEVER_COMMITTED: Option<i64> = Some(0);

/// Timeout of one attempt of a transactional call (send offsets, commit, abort). A call that
/// times out retriably is called again (`retrying`, `abort_retrying`), so this bounds one wait,
/// not the operation: a coordinator moving after a broker failure takes a few attempts.
const TXN_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an abort waits for the records in flight first (see `abort_retrying`).
const ABORT_FLUSH_LIMIT: Duration = Duration::from_secs(3);

/// Timeout of the lookups that are not retried: committed offsets of a rewind, seeks, metadata.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Timeout of `init_transactions` at start (fencing a predecessor may wait for the coordinator
/// to load its transaction log); a failure exits the process, which is restarted.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

// A client call given TXN_CALL_TIMEOUT must have room to return before the watchdog judges it hung.
const _: () = assert!(CLIENT_CALL_LIMIT.as_secs() > TXN_CALL_TIMEOUT.as_secs());

/// `transaction.timeout.ms`: how long an open transaction of a vanished instance blocks
/// read_committed readers before the coordinator aborts it.
const TRANSACTION_TIMEOUT_MS: &str = "10000";

/// What one loop instance does.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Processor name: the `producer` of outputs and the first half of the transactional id.
    pub processor: String,
    /// Consumer group id, `<system>.<service>`.
    pub group_id: String,
    /// Topics to consume.
    pub inputs: Vec<String>,
    /// Topics the processor writes (checked to exist before consuming).
    pub outputs: Vec<String>,
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
    /// Aborted transactions in a row after which the loop stops (default 5).
    pub max_consecutive_aborts: u32,
    /// How long an owned, unpaused partition may stay behind its end without a record fetched
    /// before the loop stops (see [`crate::fetch_guard`]; zero: never).
    pub fetch_stall_limit: Duration,
    /// Migrations this loop dual-writes: (old topic, the migration's mirror group), physical
    /// names (see [`crate::migration`]). Empty normally.
    pub dual_writes: Vec<(String, String)>,
    /// The processor's keyed stores: (store name, changelog topic), physical names (see
    /// [`crate::state`]). Empty for a stateless processor.
    pub changelogs: Vec<(String, String)>,
    /// Static group membership (KIP-345) with the classic protocol: `group.instance.id` is the
    /// instance id, so a replica restarted within the session timeout gets its partitions back
    /// without a rebalance of the group. See [`group_config`].
    pub static_membership: bool,
    /// Set by a signal handler to ask for a clean shutdown.
    pub shutdown: Arc<AtomicBool>,
}

impl LoopSettings {
    /// The transactional id: `<group>-<instance>` (the group is the processor's name, in the
    /// topic prefix's namespace when there is one).
    pub fn transactional_id(&self) -> String {
        format!("{}-{}", self.group_id, self.instance_id)
    }

    /// Every topic the loop reads or writes.
    fn topics(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .inputs
            .iter()
            .chain(&self.outputs)
            .map(String::as_str)
            .chain(self.failure.retry_tiers.iter().map(|(_, t)| t.as_str()))
            .chain([self.failure.dead_letter_topic.as_str()])
            .chain(self.failure.parking_topic.as_deref())
            .chain(self.changelogs.iter().map(|(_, t)| t.as_str()))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// The circuit breaker: among the last `window` inputs (judged once `min_samples` are known),
/// if the share dead-lettered reaches `max_ratio`, the loop aborts its transaction and stops with
/// [`RuntimeError::CircuitOpen`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Inputs looked at (0 turns the breaker off).
    pub window: usize,
    /// Share of dead letters that opens the breaker, 0.0 to 1.0.
    pub max_ratio: f64,
    /// Outcomes needed before the breaker judges (capped at `window`): a low-volume processor
    /// trips too, and a restart loop dead-letters at most about `min_samples × max_ratio`.
    pub min_samples: usize,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            window: 200,
            max_ratio: 0.5,
            min_samples: 20,
        }
    }
}

/// The last outcomes, to decide whether the breaker opens. What it held when a transaction
/// began is put back when that transaction aborts: the aborted records are read and judged
/// again, and must not count twice.
struct Breaker {
    settings: BreakerSettings,
    outcomes: VecDeque<bool>,
    dead: usize,
    at_begin: Option<(VecDeque<bool>, usize)>,
}

impl Breaker {
    fn new(settings: BreakerSettings) -> Self {
        Breaker {
            settings,
            outcomes: VecDeque::with_capacity(settings.window),
            dead: 0,
            at_begin: None,
        }
    }

    /// A transaction begins: remember the outcomes so far.
    fn begin(&mut self) {
        self.at_begin = Some((self.outcomes.clone(), self.dead));
    }

    /// The transaction aborted: forget the outcomes recorded since it began.
    fn abort(&mut self) {
        if let Some((outcomes, dead)) = self.at_begin.take() {
            self.outcomes = outcomes;
            self.dead = dead;
        }
    }

    /// The share of dead letters among the outcomes it judges on; 0 before the minimum sample
    /// (or with the breaker off), so one early dead letter does not read as 100%.
    fn ratio(&self) -> f64 {
        let s = self.settings;
        let seen = self.outcomes.len();
        if s.window == 0 || seen == 0 || seen < s.min_samples.clamp(1, s.window) {
            return 0.0;
        }
        self.dead as f64 / seen as f64
    }

    /// Records one outcome; true when the breaker opens.
    fn record(&mut self, dead_lettered: bool) -> bool {
        let s = self.settings;
        if s.window == 0 {
            return false;
        }
        if self.outcomes.len() == s.window && self.outcomes.pop_front() == Some(true) {
            self.dead -= 1;
        }
        self.outcomes.push_back(dead_lettered);
        self.dead += usize::from(dead_lettered);
        let seen = self.outcomes.len();
        seen >= s.min_samples.clamp(1, s.window) && self.dead as f64 >= s.max_ratio * seen as f64
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
    /// Records handed out again below what this process had already handled, skipped.
    pub redelivered_skipped: u64,
}

/// The producer's context: remembers the first record of the open transaction that could not
/// be delivered, so an abort can say which topic and which broker error.
#[derive(Default)]
struct DeliveryContext {
    first_failure: Mutex<Option<String>>,
    /// Topics whose delivered records' places are kept (dual writes' old topics).
    watched: Vec<String>,
    /// (event id, topic, partition, offset) of the watched records delivered in the open
    /// transaction, in delivery order.
    delivered: Mutex<Vec<Delivered>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Err((e, msg)) => {
                if let Ok(mut first) = self.first_failure.lock() {
                    first.get_or_insert_with(|| {
                        format!("{}[{}]: {e}", msg.topic(), msg.partition())
                    });
                }
            }
            Ok(msg) if self.watched.iter().any(|t| t == msg.topic()) => {
                let id = msg.headers().and_then(|hs| {
                    hs.iter()
                        .find(|h| h.key == weft_core::headers::EVENT_ID)
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                });
                if let (Some(id), Ok(mut delivered)) = (id, self.delivered.lock()) {
                    delivered.push(Delivered {
                        event_id: id,
                        topic: msg.topic().to_string(),
                        partition: msg.partition(),
                        offset: msg.offset(),
                    });
                }
            }
            Ok(_) => {}
        }
    }
}

impl DeliveryContext {
    fn take_failure(&self) -> Option<String> {
        self.first_failure.lock().ok().and_then(|mut f| f.take())
    }

    fn take_delivered(&self) -> Vec<Delivered> {
        self.delivered
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }
}

type TxnProducer = ThreadedProducer<DeliveryContext>;

/// The consumer's prefetch bound in KiB (`queued.max.messages.kbytes`) unless the user sets one.
const PREFETCH_KBYTES: &str = "12288";

/// The consumer's context: owns the transactional producer so a revocation can abort the open
/// transaction before the partitions go.
struct LoopContext {
    producer: TxnProducer,
    open: AtomicBool,
    batch_lost: AtomicBool,
    abort_failed: AtomicBool,
    /// Partition numbers assigned / revoked since the loop last looked (per-key parking state
    /// follows them).
    assigned: Mutex<std::collections::BTreeSet<i32>>,
    revoked: Mutex<std::collections::BTreeSet<i32>>,
    processor: String,
    metrics: Option<Metrics>,
}

impl ClientContext for LoopContext {
    /// librdkafka's statistics (every `statistics.interval.ms`, only when metrics are on) carry
    /// the lag of each assigned partition. `consumer_lag_stored` (end minus the position the loop
    /// has consumed to), not `consumer_lag`: that one is measured from the offset librdkafka
    /// committed itself, which a transactional commit never updates.
    fn stats(&self, statistics: Statistics) {
        let Some(m) = &self.metrics else { return };
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag_stored >= 0 {
                    m.lag
                        .with_label_values(&[&self.processor, topic, &partition.to_string()])
                        .set(p.consumer_lag_stored);
                }
            }
        }
    }
}

impl ConsumerContext for LoopContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Rebalance::Revoke(revoked), Some(m)) = (rebalance, &self.metrics) {
            // A partition that went elsewhere is no longer this process's lag.
            for e in revoked.elements() {
                let _ = m.lag.remove_label_values(&[
                    &self.processor,
                    e.topic(),
                    &e.partition().to_string(),
                ]);
            }
        }
        if let Rebalance::Revoke(revoked) = rebalance {
            info!(partitions = %partition_list(revoked), "revoked");
            if let Ok(mut r) = self.revoked.lock() {
                r.extend(revoked.elements().iter().map(|e| e.partition()));
            }
        }
        if matches!(rebalance, Rebalance::Revoke(_)) && self.open.swap(false, Ordering::SeqCst) {
            warn!("partitions revoked mid-batch: aborting the open transaction");
            if let Err(e) = abort_retrying(&self.producer, 3, None) {
                error!("abort on revocation failed: {e}");
                self.abort_failed.store(true, Ordering::SeqCst);
            }
            self.batch_lost.store(true, Ordering::SeqCst);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            info!(partitions = %partition_list(assigned), "assigned");
            if let Ok(mut a) = self.assigned.lock() {
                a.extend(assigned.elements().iter().map(|e| e.partition()));
            }
        }
    }
}

type LoopConsumer = BaseConsumer<LoopContext>;

/// The runtime's view of a consumed message.
pub(crate) fn record_of<'m>(msg: &'m BorrowedMessage<'_>) -> Record<'m> {
    Record {
        topic: msg.topic(),
        partition: msg.partition(),
        offset: msg.offset(),
        key: msg.key(),
        value: msg.payload(),
        headers: msg
            .headers()
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| h.value.map(|v| (h.key, v)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `topic[p1,p2] other[p3]`, for the rebalance log lines.
fn partition_list(list: &TopicPartitionList) -> String {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for e in list.elements() {
        by_topic
            .entry(e.topic().to_string())
            .or_default()
            .push(e.partition());
    }
    let parts: Vec<String> = by_topic
        .iter()
        .map(|(t, ps)| {
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}[{}]", ps.join(","))
        })
        .collect();
    parts.join(" ")
}

/// Whether a record at `offset` of `key` lies below what this process already handled there:
/// committed by it (`committed`) or taken into the open transaction (`open`).
fn is_redelivery(
    committed: &BTreeMap<(String, i32), i64>,
    open: &BTreeMap<(String, i32), i64>,
    key: &(String, i32),
    offset: i64,
) -> bool {
    [committed.get(key), open.get(key)]
        .into_iter()
        .flatten()
        .any(|next| offset < *next)
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

fn poisoned() -> RuntimeError {
    fatal("the loop's rebalance state", "a lock was poisoned")
}

fn fatal(operation: &str, err: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Fatal {
        operation: operation.to_string(),
        message: err.to_string(),
    }
}

/// A consumer error that polling again will not heal.
fn is_fatal_consumer_error(e: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    // librdkafka marks an error fatal when the client cannot go on (a static member fenced by
    // another with its group.instance.id, ...): only a new process can.
    matches!(e, KafkaError::MessageConsumptionFatal(_))
        || matches!(
            e.rdkafka_error_code(),
            Some(
                TopicAuthorizationFailed
                    | GroupAuthorizationFailed
                    | ClusterAuthorizationFailed
                    | UnknownTopicOrPartition
                    | UnknownTopic
                    | Fatal
                    | FencedInstanceId
                    | InvalidGroupId
                    | GroupMaxSizeReached
                    | UnsupportedVersion
                    | SaslAuthenticationFailed
                    | Authentication
            )
        )
}

/// The open batch: next offsets to commit per partition, size and start time.
#[derive(Default)]
struct Batch {
    next_offsets: BTreeMap<(String, i32), i64>,
    records: usize,
    started: Option<Instant>,
    /// Dual writes' copies, placed at the commit.
    copies: Vec<Output>,
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
        consumer: &LoopConsumer,
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
            .seek(topic, partition, Offset::Offset(offset), LOOKUP_TIMEOUT)
            .map_err(|e| fatal("seeking back to a held retry record", e))?;
        self.until.insert((topic.to_string(), partition), due);
        Ok(())
    }

    /// Resumes every partition whose record is due, except those whose stores are being
    /// restored (they resume once restored).
    fn resume_due(&mut self, consumer: &LoopConsumer, restoring: &BTreeSet<i32>) {
        let now = chrono::Utc::now();
        let due: Vec<(String, i32)> = self
            .until
            .iter()
            .filter(|((_, p), t)| **t <= now && !restoring.contains(p))
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
    let (consumer, retry_queues) = connect(kafka, settings)?;
    let mut state = TxnLoop::new(kafka, settings);
    if !settings.dual_writes.is_empty() {
        state.dual = Some(DualWrites::new(kafka, &settings.dual_writes)?);
    }
    if let Some(stores) = processor.stores() {
        let declared: Vec<&str> = settings
            .changelogs
            .iter()
            .map(|(s, _)| s.as_str())
            .collect();
        if stores.names() != declared {
            return Err(RuntimeError::Config(format!(
                "{}: the processor declares stores {:?} but the loop has changelogs for {declared:?}",
                settings.processor,
                stores.names()
            )));
        }
        state.state = Some(Restorer::new(
            stores,
            settings.changelogs.clone(),
            kafka,
            &settings.group_id,
            &settings.processor,
            settings.metrics.clone(),
        ));
    }
    state.show_breaker();
    if let Some(m) = &settings.metrics {
        // A series at 0 for every topic the loop reads: what never happens is visible as 0,
        // not as a missing series (an alert on an increase needs the series to exist).
        let consumed = settings
            .inputs
            .iter()
            .chain(settings.failure.retry_tiers.iter().map(|(_, t)| t));
        for topic in consumed {
            m.redelivered_skipped
                .with_label_values(&[settings.processor.as_str(), topic.as_str()]);
        }
    }
    let result = state.run(&consumer, &retry_queues, processor);
    state.watchdog.tick("stopping");
    if let Err(e) = &result {
        state.abort_on_exit(&consumer, e);
    }
    result
}

impl TxnLoop<'_> {
    /// The loop's phases, until shutdown or the first error.
    fn run(
        &mut self,
        consumer: &LoopConsumer,
        retry_queues: &RetryQueues<LoopContext>,
        processor: &mut dyn RecordProcessor,
    ) -> Result<LoopStats, RuntimeError> {
        loop {
            self.watchdog.tick("the loop");
            let stopping = self.settings.shutdown.load(Ordering::SeqCst);
            self.on_restored(consumer)?;
            let restoring = self
                .state
                .as_ref()
                .map(Restorer::pending)
                .unwrap_or_default();
            self.held.resume_due(consumer, &restoring);
            // Retry records first: they wait behind no input backlog (`crate::retry_queues`).
            let polled = if stopping {
                None
            } else {
                retry_queues.poll_next(consumer, Duration::from_millis(20))
            };
            if self.after_rebalance(consumer)? {
                // The polled record (if any) is from before the rewind: it comes again.
                continue;
            }
            match polled {
                None => self.on_idle(consumer)?,
                Some(Err(e)) => self.on_consumer_error(e)?,
                Some(Ok(msg)) => self.on_record(consumer, &msg, processor)?,
            }
            self.commit_if_due(consumer, stopping)?;
            if stopping {
                info!("shutdown requested: batch committed, leaving the group");
                consumer.unsubscribe();
                return Ok(self.stats.clone());
            }
        }
    }
}

/// Creates the transactional producer (fencing any predecessor with the same transactional
/// id), checks that every topic exists, creates the consumer, splits the retry partitions' queues
/// off its shared one and subscribes.
fn connect(
    kafka: &KafkaConfig,
    settings: &LoopSettings,
) -> Result<(Arc<LoopConsumer>, RetryQueues<LoopContext>), RuntimeError> {
    let producer: TxnProducer = kafka
        .client_config()
        .set("transactional.id", settings.transactional_id())
        .set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create_with_context(DeliveryContext {
            watched: settings
                .dual_writes
                .iter()
                .map(|(t, _)| t.clone())
                .collect(),
            ..DeliveryContext::default()
        })
        .map_err(|e| fatal("creating the transactional producer", e))?;
    let partitions = check_topics_exist(&producer, settings)?;
    check_co_partitioning(kafka, settings, &partitions)?;
    producer
        .init_transactions(INIT_TIMEOUT)
        .map_err(|e| fatal("init_transactions", e))?;
    let context = LoopContext {
        producer,
        open: AtomicBool::new(false),
        batch_lost: AtomicBool::new(false),
        abort_failed: AtomicBool::new(false),
        assigned: Mutex::new(Default::default()),
        revoked: Mutex::new(Default::default()),
        processor: settings.processor.clone(),
        metrics: settings.metrics.clone(),
    };
    let consumer: LoopConsumer = group_config(kafka, settings)
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
    let consumer = Arc::new(consumer);
    let retry_queues = RetryQueues::split(
        &consumer,
        settings
            .failure
            .retry_tiers
            .iter()
            .map(|(_, t)| (t.as_str(), partitions.get(t).copied().unwrap_or(0))),
    );
    let subscription: Vec<&str> = settings
        .inputs
        .iter()
        .map(String::as_str)
        .chain(settings.failure.retry_tiers.iter().map(|(_, t)| t.as_str()))
        .collect();
    consumer
        .subscribe(&subscription)
        .map_err(|e| fatal("subscribing", e))?;
    info!(
        processor = %settings.processor,
        group = %settings.group_id,
        transactional_id = %settings.transactional_id(),
        retry_partitions = retry_queues.len(),
        "consuming {subscription:?}"
    );
    if let Some(m) = &settings.metrics {
        m.add_loop();
    }
    Ok((consumer, retry_queues))
}

/// The consumer's client config with weft's group defaults under the user's options. With the
/// classic protocol (eager or cooperative assignment) a SIGKILLed replica's partitions move after
/// `session.timeout.ms`: 6 s (the broker's minimum by default; librdkafka's default is 45 s), with
/// a heartbeat every 1.5 s. With KIP-848 (`group.protocol=consumer`) the session timeout is the
/// broker's `group.consumer.session.timeout.ms` and the client may not set either.
///
/// With `static_membership` and the classic protocol, `group.instance.id` is the instance id
/// (unique per replica within a group; the pod name under Helm): a replica that crashes and
/// comes back within the session timeout rejoins as the same member and keeps its partitions,
/// and no other member stops for a rebalance. The trade-off: a static member does not leave the
/// group when it stops, so on a scale-down its partitions wait for the session timeout (6 s)
/// before moving. KIP-848 groups are left dynamic: the broker refuses a restarted static member
/// until its predecessor's session has expired, which is no faster than reassigning.
pub(crate) fn group_config(kafka: &KafkaConfig, settings: &LoopSettings) -> rdkafka::ClientConfig {
    let mut cfg = kafka.client_config();
    let set_by_user = |key: &str| kafka.options.iter().any(|(k, _)| k == key);
    let kip848 = kafka
        .options
        .iter()
        .any(|(k, v)| k == "group.protocol" && v.eq_ignore_ascii_case("consumer"));
    if !kip848 {
        for (key, value) in [
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1500"),
        ] {
            if !set_by_user(key) {
                cfg.set(key, value);
            }
        }
        if settings.static_membership && !set_by_user("group.instance.id") {
            cfg.set("group.instance.id", &settings.instance_id);
        }
    }
    // What the consumer fetches ahead of the loop. librdkafka's default (64 MiB) held a whole
    // backlog in memory, most of a replica's RSS. fetch.max.bytes follows this bound down
    // unless set, so it also sizes each fetch. Measured on `weft bench` (200,000 records, two
    // malloc arenas): 12 MiB 62 MB peak RSS at ~31,000 records/s, 16 MiB 72 MB at ~35,000/s;
    // the default held 130 MB; 8 MiB cost a third of the throughput. A user's value wins.
    if !set_by_user("queued.max.messages.kbytes") {
        cfg.set("queued.max.messages.kbytes", PREFETCH_KBYTES);
    }
    cfg
}

/// Per-key ordering and keyed stores need partition `p` of every input, retry tier, the parking
/// topic and the changelogs owned together (see [`crate::parking`], [`crate::state`]): equal
/// partition counts and a co-partitioning assignor.
fn check_co_partitioning(
    kafka: &KafkaConfig,
    settings: &LoopSettings,
    partitions: &BTreeMap<String, usize>,
) -> Result<(), RuntimeError> {
    let parking = settings.failure.parking_topic.as_ref();
    if parking.is_none() && settings.changelogs.is_empty() {
        return Ok(());
    }
    let what = if parking.is_some() {
        "per-key ordering"
    } else {
        "keyed state"
    };
    let refuse = |why: String| {
        Err(RuntimeError::Config(format!(
            "{}: {what} {why}",
            settings.processor
        )))
    };
    if parking.is_some() && settings.failure.retry_tiers.is_empty() {
        return refuse("needs at least one retry tier".into());
    }
    for (k, v) in &kafka.options {
        let v = v.to_ascii_lowercase();
        if (k == "partition.assignment.strategy" && !v.starts_with("range"))
            || (k == "group.protocol" && v == "consumer")
        {
            return refuse(format!(
                "needs the range assignor of the classic protocol (inputs, retry tiers, \
                 parking and changelogs co-partitioned); `{k}={v}` does not co-partition"
            ));
        }
    }
    let counts: BTreeSet<(usize, &str)> = settings
        .inputs
        .iter()
        .chain(settings.failure.retry_tiers.iter().map(|(_, t)| t))
        .chain(parking)
        .chain(settings.changelogs.iter().map(|(_, t)| t))
        .map(|t| (partitions.get(t).copied().unwrap_or(0), t.as_str()))
        .collect();
    let distinct: BTreeSet<usize> = counts.iter().map(|(n, _)| *n).collect();
    if distinct.len() > 1 {
        return refuse(format!(
            "needs the same partition count on every input, retry tier, parking topic and \
             changelog: {}",
            counts
                .iter()
                .map(|(n, t)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// Every topic the loop reads or writes must exist (retrying for 30 s while a fresh topic's
/// metadata propagates); otherwise a configuration error names the missing ones. Returns the
/// partition count of every topic of the cluster.
fn check_topics_exist(
    producer: &TxnProducer,
    settings: &LoopSettings,
) -> Result<BTreeMap<String, usize>, RuntimeError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = producer
            .client()
            .fetch_metadata(None, LOOKUP_TIMEOUT)
            .map_err(|e| fatal("reading the cluster's metadata", e))?;
        let known: BTreeMap<String, usize> = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len()))
            .collect();
        let missing: Vec<&str> = settings
            .topics()
            .into_iter()
            .filter(|t| !known.contains_key(*t))
            .collect();
        if missing.is_empty() {
            return Ok(known);
        }
        if Instant::now() >= deadline {
            return Err(RuntimeError::Config(format!(
                "{}: topics missing on the cluster: {} (provision them with `weft topics apply`)",
                settings.processor,
                missing.join(", ")
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The loop's state between polls; each phase is one method.
struct TxnLoop<'s> {
    kafka: &'s KafkaConfig,
    settings: &'s LoopSettings,
    /// Per-key ordering's waiting keys, when the group keeps per-key order.
    parking: Option<Parking>,
    stats: LoopStats,
    batch: Batch,
    /// What this loop last committed per partition.
    committed: BTreeMap<(String, i32), i64>,
    /// When it last looked for positions that moved past transaction markers without a record.
    last_idle_check: Instant,
    held: Held,
    breaker: Breaker,
    ready: bool,
    aborts_in_a_row: u32,
    /// Ends the process when the loop is stuck in a call that never returns.
    watchdog: Watchdog,
    /// Migrations this loop dual-writes, when any.
    dual: Option<DualWrites>,
    /// The processor's keyed stores and their restores, when it has any.
    state: Option<Restorer>,
    /// The open transaction was aborted while a record was being handled (a produce refused
    /// in an abortable state): the record is not noted, it comes again after the rewind.
    lost: bool,
    /// Stops the loop when its consumer stopped fetching partitions with records waiting.
    fetch_guard: FetchGuard,
}

impl<'s> TxnLoop<'s> {
    fn new(kafka: &'s KafkaConfig, settings: &'s LoopSettings) -> Self {
        TxnLoop {
            kafka,
            parking: settings.failure.parking_topic.as_deref().map(Parking::new),
            settings,
            stats: LoopStats::default(),
            batch: Batch::default(),
            committed: BTreeMap::new(),
            last_idle_check: Instant::now(),
            held: Held::default(),
            breaker: Breaker::new(settings.breaker),
            ready: false,
            aborts_in_a_row: 0,
            watchdog: Watchdog::start(&settings.transactional_id(), STALL_LIMIT),
            fetch_guard: FetchGuard::new(settings.fetch_stall_limit),
            dual: None,
            state: None,
            lost: false,
        }
    }

    fn name(&self) -> &str {
        &self.settings.processor
    }

    /// Phase: a revocation during the last poll aborted the open transaction. Every partition
    /// still owned is rewound to its committed offset (the aborted records of kept partitions
    /// must come again). True when that happened.
    fn after_rebalance(&mut self, consumer: &LoopConsumer) -> Result<bool, RuntimeError> {
        let ctx = consumer.context();
        if ctx.abort_failed.swap(false, Ordering::SeqCst) {
            return Err(fatal("abort on revocation", "see the log line above"));
        }
        let revoked = std::mem::take(&mut *ctx.revoked.lock().map_err(|_| poisoned())?);
        let assigned = std::mem::take(&mut *ctx.assigned.lock().map_err(|_| poisoned())?);
        // What this process committed on a partition it no longer owns says nothing about what
        // the partition holds when it comes back (another member, or an operator's reset with
        // the group stopped, may have moved it): the redelivery guard forgets it.
        self.committed
            .retain(|(_, partition), _| !revoked.contains(partition));
        if let Some(state) = &mut self.state {
            state.forget(&revoked);
        }
        let mut rewound = false;
        let mut assigned = assigned;
        if ctx.batch_lost.swap(false, Ordering::SeqCst) {
            self.count_transaction("aborted");
            if let Some(state) = &self.state {
                state.stores().abort();
            }
            self.batch.clear();
            // The kept partitions are read and judged again.
            self.breaker.abort();
            self.show_breaker();
            rewound = true;
            // The aborted transaction's parking writes are gone: every owned partition's
            // queues come back from the topic.
            if self.parking.is_some() {
                if let Ok(owned) = consumer.assignment() {
                    assigned.extend(owned.elements().iter().map(|e| e.partition()));
                }
            }
        }
        if let Some(parking) = &mut self.parking {
            parking.forget(&revoked);
            if !assigned.is_empty() {
                // Nothing of a newly assigned partition is processed before its waiting keys
                // are known.
                // Rewind first: the committed offsets and the parking state are then read
                // after the same point.
                rewind(consumer)?;
                let started = Instant::now();
                parking.restore(
                    self.kafka,
                    &self.settings.group_id,
                    &assigned,
                    &self.watchdog,
                )?;
                info!(
                    partitions = ?assigned,
                    waiting_keys = parking.waiting_keys(),
                    "restored {} in {:?}",
                    parking.topic(),
                    started.elapsed()
                );
                rewound = true;
            }
        }
        if rewound {
            rewind(consumer)?;
        }
        if !assigned.is_empty() && self.state.is_some() {
            self.restore_state(consumer, &assigned)?;
            rewound = true;
        }
        if !assigned.is_empty() {
            self.seed_committed(consumer)?;
        }
        Ok(rewound)
    }

    /// Keyed state: newly assigned partitions are paused (every input and retry tier), sought
    /// to their committed offsets, and their changelogs read in the background; the other
    /// partitions go on. [`Self::on_restored`] resumes them.
    fn restore_state(
        &mut self,
        consumer: &LoopConsumer,
        assigned: &BTreeSet<i32>,
    ) -> Result<(), RuntimeError> {
        let Some(state) = &mut self.state else {
            return Ok(());
        };
        let owned = consumer
            .assignment()
            .map_err(|e| fatal("reading the assignment", e))?;
        let mut paused = TopicPartitionList::new();
        for e in owned.elements() {
            if assigned.contains(&e.partition()) {
                paused.add_partition(e.topic(), e.partition());
            }
        }
        let partitions: BTreeSet<i32> = paused.elements().iter().map(|e| e.partition()).collect();
        if partitions.is_empty() {
            return Ok(());
        }
        consumer
            .pause(&paused)
            .map_err(|e| fatal("pausing partitions to restore", e))?;
        // Committed offsets are read stable (a predecessor's pending transaction is finished
        // first), so the changelogs then hold the state those offsets were committed with.
        rewind(consumer)?;
        state.begin(&partitions);
        if self.ready {
            self.ready = false;
            if let Some(m) = &self.settings.metrics {
                m.loop_not_ready();
            }
        }
        Ok(())
    }

    /// Phase: restores that finished are installed and their partitions resumed (a retry
    /// partition held until its head record is due stays paused).
    fn on_restored(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        let Some(state) = &mut self.state else {
            return Ok(());
        };
        let ready = state.take_finished()?;
        if ready.is_empty() {
            return Ok(());
        }
        let owned = consumer
            .assignment()
            .map_err(|e| fatal("reading the assignment", e))?;
        let mut resume = TopicPartitionList::new();
        for e in owned.elements() {
            let key = (e.topic().to_string(), e.partition());
            if ready.contains(&e.partition()) && !self.held.until.contains_key(&key) {
                resume.add_partition(e.topic(), e.partition());
            }
        }
        consumer
            .resume(&resume)
            .map_err(|e| fatal("resuming restored partitions", e))
    }

    /// Notes the group's committed offset of every owned partition this loop has no figure
    /// for yet (a new assignment, a restart): committing positions past transaction markers
    /// builds on it, so a partition whose next record is another producer's open transaction
    /// still gets its position committed (a migration's dual writer waits for exactly that),
    /// and the redelivery guard knows where the partition starts.
    fn seed_committed(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        let assignment = consumer
            .assignment()
            .map_err(|e| fatal("reading the assignment", e))?;
        let mut unknown = TopicPartitionList::new();
        for e in assignment.elements() {
            if !self
                .committed
                .contains_key(&(e.topic().to_string(), e.partition()))
            {
                unknown.add_partition(e.topic(), e.partition());
            }
        }
        if unknown.count() == 0 {
            return Ok(());
        }
        let committed = weft_core::kafka::committed_offsets(consumer, &unknown, LOOKUP_TIMEOUT)
            .map_err(|e| fatal("reading committed offsets", e))?;
        for e in committed.elements() {
            if let Offset::Offset(o) = e.offset() {
                self.committed
                    .insert((e.topic().to_string(), e.partition()), o);
            }
        }
        Ok(())
    }

    /// Phase: nothing polled.
    fn on_idle(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        // Assigned and nothing left to fetch: caught up, so ready.
        let restoring = self.state.as_ref().is_some_and(Restorer::restoring);
        if !self.ready && !restoring && consumer.assignment().is_ok_and(|a| a.count() > 0) {
            self.ready = true;
            if let Some(m) = &self.settings.metrics {
                m.loop_ready();
            }
        }
        self.check_fetching(consumer)?;
        // A read_committed consumer's position moves past the commit markers that end its
        // inputs' transactions; committing only "last record + 1" would leave the group one
        // offset behind per partition forever (lag never 0). When idle, commit such positions
        // in an offsets-only transaction.
        let ctx = consumer.context();
        if ctx.open.load(Ordering::SeqCst)
            || self.last_idle_check.elapsed() < self.settings.commit_interval
        {
            return Ok(());
        }
        self.last_idle_check = Instant::now();
        let moved = positions_past(consumer, &self.committed, NEVER_COMMITTED);
        if !moved.is_empty() {
            self.begin(consumer)?;
            self.batch.next_offsets = moved;
            self.commit(consumer)?;
        }
        Ok(())
    }

    /// Part of `on_idle`: the fetch guard's check, when due (see [`crate::fetch_guard`]). Every
    /// owned partition the loop has not paused, at its position (the group's committed offset
    /// while the consumer has none, never below the log start) against its stable end; a
    /// partition stalled past the limit stops the loop. Any lookup that fails skips the check.
    fn check_fetching(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        let now = Instant::now();
        if !self.fetch_guard.due(now) || self.settings.shutdown.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Ok(positions) = consumer.position() else {
            self.fetch_guard.skipped(now);
            return Ok(());
        };
        let restoring = self
            .state
            .as_ref()
            .map(Restorer::pending)
            .unwrap_or_default();
        let positions: Vec<(String, i32, Option<i64>)> = positions
            .elements()
            .iter()
            .map(|e| {
                let at = match e.offset() {
                    Offset::Offset(p) => Some(p),
                    _ => None,
                };
                (e.topic().to_string(), e.partition(), at)
            })
            .collect();
        let paused =
            |key: &(String, i32)| self.held.until.contains_key(key) || restoring.contains(&key.1);
        let watched = fetch_guard::watched(&positions, paused);
        if watched.is_empty() {
            self.fetch_guard.observe(now, &[]);
            return Ok(());
        }
        self.watchdog
            .tick_within("reading partition ends (fetch guard)", CLIENT_CALL_LIMIT);
        let seen = match fetch_guard::read_view(consumer, &watched, fetch_guard::LOOKUP_TIMEOUT) {
            Ok(seen) => seen,
            Err(e) => {
                debug!("fetch guard: reading partition ends: {e}; check skipped");
                self.fetch_guard.skipped(now);
                return Ok(());
            }
        };
        debug!(
            partitions = seen.len(),
            behind = seen.iter().filter(|s| s.position < s.end).count(),
            "fetch guard checked"
        );
        let stalled = self.fetch_guard.observe(now, &seen);
        if stalled.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = stalled.iter().map(ToString::to_string).collect();
        Err(fatal(
            "fetching",
            format!(
                "no record fetched from partitions with records waiting: {} (the fetch guard, \
                 --fetch-stall-timeout; a restarted replica joins the group afresh)",
                list.join(", ")
            ),
        ))
    }

    /// Phase: the consumer reported an error.
    fn on_consumer_error(&mut self, e: KafkaError) -> Result<(), RuntimeError> {
        if is_fatal_consumer_error(&e) {
            error!("consumer: {e}; stopping");
            return Err(fatal("consuming", e));
        }
        warn!("consumer: {e}");
        Ok(())
    }

    /// Phase: one record polled.
    fn on_record(
        &mut self,
        consumer: &LoopConsumer,
        msg: &BorrowedMessage<'_>,
        processor: &mut dyn RecordProcessor,
    ) -> Result<(), RuntimeError> {
        let record = record_of(msg);
        let key = (record.topic.to_string(), record.partition);
        if is_redelivery(
            &self.committed,
            &self.batch.next_offsets,
            &key,
            record.offset,
        ) {
            warn!(
                "{}[{}]@{} was already handled by this process: skipped (the client handed it out again)",
                record.topic, record.partition, record.offset
            );
            self.stats.redelivered_skipped += 1;
            if let Some(m) = &self.settings.metrics {
                m.redelivered_skipped
                    .with_label_values(&[self.name(), record.topic])
                    .inc();
            }
            return Ok(());
        }
        // A record of a partition being restored (fetched before the pause): sought back to it,
        // so it comes again once the partition resumes.
        if self
            .state
            .as_ref()
            .is_some_and(|s| s.is_restoring(record.partition))
        {
            warn!(
                "{}[{}]@{} arrived while its stores are restored: it comes again",
                record.topic, record.partition, record.offset
            );
            return consumer
                .seek(
                    record.topic,
                    record.partition,
                    Offset::Offset(record.offset),
                    LOOKUP_TIMEOUT,
                )
                .map_err(|e| fatal("seeking back to a record of a restoring partition", e));
        }
        // A retry record before its due time: hold its partition, not the others.
        if self.is_retry_topic(record.topic) {
            if let Some(due) = failure::retry_due(&record).filter(|d| *d > chrono::Utc::now()) {
                return self.held.hold(
                    consumer,
                    record.topic,
                    record.partition,
                    record.offset,
                    due,
                );
            }
        }
        if !consumer.context().open.load(Ordering::SeqCst) {
            self.begin(consumer)?;
        }
        let from_retry = self.is_retry_topic(record.topic);
        let ordered = match (&self.parking, record.key) {
            (Some(_), Some(key)) => Some((key, failure::source_id(&record))),
            _ => None,
        };
        let parked = match (&ordered, &self.parking) {
            (Some((key, id)), Some(parking)) => {
                (parking.decide(key, id, from_retry) == parking::Decision::Park).then_some(id)
            }
            _ => None,
        };
        let handled = if let Some(id) = parked {
            let due = self.park(consumer, &record, id)?;
            Handled::Parked(due)
        } else {
            self.process_one(consumer, &record, processor)?
        };
        if self.lost {
            self.lost = false;
            return Ok(());
        }
        if let (Some((key, id)), Some(parking)) = (&ordered, &mut self.parking) {
            let state = match handled {
                Handled::Parked(due) => Some(parking.parked(record.partition, key, id, due)),
                Handled::Retried(due) => {
                    parking.processed(record.partition, key, id, parking::Ended::Retried(due))
                }
                Handled::Done | Handled::DeadLettered => {
                    parking.processed(record.partition, key, id, parking::Ended::Done)
                }
            };
            if let Some(state) = state {
                self.send(consumer, &state)?;
            }
        }
        if std::mem::take(&mut self.lost) {
            return Ok(());
        }
        self.batch.next_offsets.insert(key, record.offset + 1);
        self.batch.records += 1;
        let opens = !matches!(handled, Handled::Parked(_))
            && self.breaker.record(handled == Handled::DeadLettered);
        self.show_breaker();
        if opens {
            // The figures before the abort puts the breaker back to what it was at begin.
            let b = self.settings.breaker;
            let err = RuntimeError::CircuitOpen {
                processor: self.name().to_string(),
                dead_letters: self.breaker.dead,
                window: self.breaker.outcomes.len().min(b.window),
                threshold: b.max_ratio * 100.0,
            };
            self.abort(consumer)?;
            error!("{err}; the open transaction was aborted, stopping");
            return Err(err);
        }
        Ok(())
    }

    fn is_retry_topic(&self, topic: &str) -> bool {
        self.settings
            .failure
            .retry_tiers
            .iter()
            .any(|(_, t)| t == topic)
    }

    /// Parks `record` (its first source `id`) behind an earlier record of its key (per-key
    /// ordering); returns when it comes back out of the first tier.
    fn park(
        &mut self,
        consumer: &LoopConsumer,
        record: &Record<'_>,
        id: &str,
    ) -> Result<chrono::DateTime<chrono::Utc>, RuntimeError> {
        let no_tier = || RuntimeError::Config("per-key ordering needs a retry tier".into());
        let (first_delay, _) = self
            .settings
            .failure
            .retry_tiers
            .first()
            .ok_or_else(no_tier)?;
        let (Some(parking), Some(key)) = (&self.parking, record.key) else {
            return Err(RuntimeError::Config(
                "parking a record needs per-key ordering and a key".into(),
            ));
        };
        let due = parking.park_due(key, id, chrono::Utc::now(), *first_delay);
        let out = failure::park(&self.settings.failure, record, due).ok_or_else(no_tier)?;
        self.send(consumer, &out)?;
        info!(
            "parked {}[{}]@{} behind an earlier record of its key, due {due}",
            record.topic, record.partition, record.offset
        );
        Ok(due)
    }

    /// Runs the processor on one record and produces what it says into the open transaction.
    fn process_one(
        &mut self,
        consumer: &LoopConsumer,
        record: &Record<'_>,
        processor: &mut dyn RecordProcessor,
    ) -> Result<Handled, RuntimeError> {
        let name = self.settings.processor.as_str();
        let metrics = self.settings.metrics.as_ref();
        self.stats.consumed += 1;
        if let Some(m) = metrics {
            m.consumed.with_label_values(&[name, record.topic]).inc();
        }
        let started = Instant::now();
        self.watchdog.tick("the processor function");
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| processor.process(record)))
        {
            Ok(result) => result,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                self.abort(consumer)?;
                return Err(RuntimeError::ProcessorPanicked {
                    processor: name.to_string(),
                    topic: record.topic.to_string(),
                    partition: record.partition,
                    offset: record.offset,
                    message,
                });
            }
        };
        if let Some(m) = metrics {
            m.processing
                .with_label_values(&[name])
                .observe(started.elapsed().as_secs_f64());
        }
        match result {
            Ok(outputs) => {
                for out in outputs {
                    self.send(consumer, &out)?;
                    self.stats.produced += 1;
                    if let Some(m) = metrics {
                        m.produced.with_label_values(&[name, &out.topic]).inc();
                    }
                }
                Ok(Handled::Done)
            }
            Err(ProcessError::Unavailable(message)) => {
                self.abort(consumer)?;
                Err(RuntimeError::Registry(format!(
                    "{name} stopped on {}[{}]@{}: {message}",
                    record.topic, record.partition, record.offset
                )))
            }
            Err(ProcessError::Fatal(message)) => {
                self.abort(consumer)?;
                Err(RuntimeError::ProcessorFatal {
                    processor: name.to_string(),
                    topic: record.topic.to_string(),
                    partition: record.partition,
                    offset: record.offset,
                    message,
                })
            }
            Err(err) => {
                let now = chrono::Utc::now();
                let (out, route) = failure::route(&self.settings.failure, record, &err, now);
                self.send(consumer, &out)?;
                let at = format!("{}[{}]@{}", record.topic, record.partition, record.offset);
                match route {
                    Route::Retry(tier) => {
                        self.stats.retried += 1;
                        if let Some(m) = metrics {
                            m.retried.with_label_values(&[name, record.topic]).inc();
                        }
                        info!(tier, "retrying {at}: {err}");
                        let (delay, _) = &self.settings.failure.retry_tiers[tier];
                        Ok(Handled::Retried(failure::due_after(now, delay)))
                    }
                    Route::DeadLetter => {
                        self.stats.dead_lettered += 1;
                        if let Some(m) = metrics {
                            m.dead_lettered
                                .with_label_values(&[name, record.topic, err.class()])
                                .inc();
                        }
                        warn!("dead-lettered {at}: {err}");
                        Ok(Handled::DeadLettered)
                    }
                }
            }
        }
    }

    /// Produces one record into the open transaction, waiting while the local queue is full.
    /// A record the client refuses outright (larger than `message.max.bytes`, ...) aborts the
    /// transaction and stops the loop, naming the topic.
    fn send(&mut self, consumer: &LoopConsumer, out: &Output) -> Result<(), RuntimeError> {
        // A dual write's copy waits for the commit, where its old record's place is known.
        if self.lost {
            // The transaction this record belonged to was aborted: nothing more of it goes out.
            return Ok(());
        }
        if is_copy(out) {
            self.batch.copies.push(out.clone());
            return Ok(());
        }
        let producer = &consumer.context().producer;
        let mut headers = OwnedHeaders::new_with_capacity(out.headers.len());
        for (k, v) in &out.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record = BaseRecord::<Vec<u8>, Vec<u8>>::to(&out.topic).headers(headers);
        // An empty value is a null one (a tombstone): no Avro record is ever empty.
        if !out.value.is_empty() {
            record = record.payload(&out.value);
        }
        if let Some(k) = &out.key {
            record = record.key(k);
        }
        if let Some(p) = out.partition {
            record = record.partition(p);
        }
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    // The background thread drains the queue; wait for deliveries to make room.
                    let _ = flush_in_flight(producer.client(), Duration::from_millis(100));
                }
                // The target has fewer partitions than the input the record came from (a retry
                // or dead-letter topic made smaller by hand): place it by its key instead.
                Err((
                    KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition),
                    mut back,
                )) if back.partition.is_some() => {
                    warn!(
                        "{} has no partition {:?}: placing the record by its key",
                        out.topic, back.partition
                    );
                    back.partition = None;
                    record = back;
                }
                // The transaction is in an abortable error state (seen after a revocation purged
                // queued records: the next record's sequence number was out of order and the
                // epoch must be bumped): abort and rewind, as for a failed commit; the record
                // being handled is not noted (see `lost`).
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::State), _)) => {
                    let reason = format!(
                        "producing to {}: the transaction is in an erroneous state (it needs an abort)",
                        out.topic
                    );
                    warn!("{reason}; aborting and rewinding to the committed offsets");
                    self.abort(consumer)?;
                    self.lost = true;
                    return self.back_off_after_abort(&reason);
                }
                Err((e, _)) => {
                    self.abort(consumer)?;
                    return Err(fatal(&format!("producing to {}", out.topic), e));
                }
            }
        }
    }

    /// Opens a transaction.
    fn begin(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        let ctx = consumer.context();
        ctx.producer.context().take_failure();
        ctx.producer.context().take_delivered();
        ctx.producer
            .begin_transaction()
            .map_err(|e| fatal("begin_transaction", e))?;
        ctx.open.store(true, Ordering::SeqCst);
        self.batch.started = Some(Instant::now());
        self.breaker.begin();
        Ok(())
    }

    /// Phase: commits the open batch when it is full, old enough, or the loop is stopping.
    fn commit_if_due(
        &mut self,
        consumer: &LoopConsumer,
        stopping: bool,
    ) -> Result<(), RuntimeError> {
        let due = self.batch.records >= self.settings.max_batch
            || self
                .batch
                .started
                .is_some_and(|s| s.elapsed() >= self.settings.commit_interval);
        if consumer.context().open.load(Ordering::SeqCst) && (due || stopping) {
            let started = Instant::now();
            let (records, age) = (self.batch.records, self.batch.started.map(|s| s.elapsed()));
            let committed_before = self.stats.committed_transactions;
            self.commit(consumer)?;
            let took = started.elapsed();
            if self.stats.committed_transactions == committed_before {
                // Aborted (and backed off) instead: the abort was logged where it happened.
                return Ok(());
            }
            debug!(
                records,
                batch_ms = age.map(|a| a.as_millis() as u64),
                commit_ms = took.as_millis() as u64,
                "batch committed"
            );
            if let Some(m) = &self.settings.metrics {
                m.commit
                    .with_label_values(&[self.name()])
                    .observe(took.as_secs_f64());
            }
        }
        Ok(())
    }

    /// Commits the open batch: offsets with the group metadata, then the transaction. Each call
    /// is retried on its own when retriable; an abortable error aborts and rewinds.
    fn commit(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        if !self.batch.copies.is_empty() {
            if let Err(reason) = self.place_copies(consumer)? {
                warn!("dual write: {reason}; aborting the transaction");
                self.abort(consumer)?;
                return self.back_off_after_abort(&reason);
            }
            if std::mem::take(&mut self.lost) {
                return Ok(());
            }
        }
        let producer = &consumer.context().producer;
        // The consumer's position may already be past a transaction marker that follows the
        // last record processed; commit that (never less than what was processed). Partitions
        // with nothing in this batch whose position moved past a marker go along too: under
        // load the loop is seldom idle, and a position left one marker behind would keep the
        // group's lag above 0 and hold up a dual write waiting for this loop (a migration's
        // mirror) to reach it.
        for (key, position) in positions_past(consumer, &self.batch.next_offsets, None)
            .into_iter()
            .chain(positions_past(consumer, &self.committed, NEVER_COMMITTED))
        {
            let next = self.batch.next_offsets.entry(key).or_insert(position);
            *next = (*next).max(position);
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &self.batch.next_offsets {
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
        let retries = self.settings.max_retries;
        let dog = &self.watchdog;
        let sent = retrying("send_offsets_to_transaction", retries, || {
            dog.tick_within("send_offsets_to_transaction", CLIENT_CALL_LIMIT);
            producer.send_offsets_to_transaction(&offsets, &metadata, TXN_CALL_TIMEOUT)
        })?;
        let outcome = match sent {
            Committed::Yes => retrying("commit_transaction", retries, || {
                dog.tick_within("commit_transaction", CLIENT_CALL_LIMIT);
                // Waits for what is in flight without rust-rdkafka's 100 ms polling slices
                // (its flush inside commit_transaction then has nothing left to wait for). A
                // timeout is the error that flush would give, after one wait instead of two.
                flush_in_flight(producer.client(), TXN_CALL_TIMEOUT)?;
                producer.commit_transaction(TXN_CALL_TIMEOUT)
            })?,
            aborted => aborted,
        };
        match outcome {
            Committed::Yes => {
                consumer.context().open.store(false, Ordering::SeqCst);
                self.count_transaction("committed");
                self.aborts_in_a_row = 0;
                for (k, v) in &self.batch.next_offsets {
                    let next = self.committed.entry(k.clone()).or_insert(*v);
                    *next = (*next).max(*v);
                }
                if let Some(state) = &self.state {
                    state.stores().commit();
                    state.show();
                }
                self.batch.clear();
                Ok(())
            }
            Committed::RequiresAbort(e) => {
                let undelivered = producer.context().take_failure();
                let reason = match &undelivered {
                    Some(first) => format!("{e}; first undelivered record: {first}"),
                    None => e.to_string(),
                };
                warn!("transaction requires abort: {reason}; rewinding to the committed offsets");
                self.abort(consumer)?;
                self.back_off_after_abort(&reason)
            }
        }
    }

    /// Dual writes: once every record of the transaction is delivered, stamps each held copy
    /// with its old record's place and sends it, after the mirror has reached those places
    /// (see [`crate::migration`]). `Ok(Err(reason))`: the transaction must be aborted.
    fn place_copies(
        &mut self,
        consumer: &LoopConsumer,
    ) -> Result<Result<(), String>, RuntimeError> {
        let producer = &consumer.context().producer;
        self.watchdog
            .tick_within("flushing for dual writes", CLIENT_CALL_LIMIT);
        if let Err(e) = flush_in_flight(producer.client(), TXN_CALL_TIMEOUT) {
            return Ok(Err(format!("flushing before the dual writes: {e}")));
        }
        let delivered = producer.context().take_delivered();
        let copies = std::mem::take(&mut self.batch.copies);
        let Some(dual) = &self.dual else {
            return Err(fatal(
                "dual write",
                "a copy was emitted but the loop has no dual write configured",
            ));
        };
        let dog = &self.watchdog;
        let placed = match dual.release(copies, &delivered, &|| {
            dog.tick_within("waiting for the mirror", CLIENT_CALL_LIMIT)
        }) {
            Ok(placed) => placed,
            Err(reason) => return Ok(Err(reason)),
        };
        for copy in &placed {
            self.send(consumer, copy)?;
        }
        Ok(Ok(()))
    }

    /// Consecutive aborts back off; too many in a row stop the loop with the reason.
    fn back_off_after_abort(&mut self, reason: &str) -> Result<(), RuntimeError> {
        self.aborts_in_a_row += 1;
        if self.aborts_in_a_row >= self.settings.max_consecutive_aborts {
            return Err(fatal(
                &format!(
                    "delivering the records of {} transactions in a row",
                    self.aborts_in_a_row
                ),
                reason,
            ));
        }
        let pause = Duration::from_millis(200 << (self.aborts_in_a_row - 1).min(5))
            .min(Duration::from_secs(5));
        let until = Instant::now() + pause;
        while Instant::now() < until && !self.settings.shutdown.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// On an error exit: the open transaction, if any, is aborted at once (best effort; a fenced
    /// producer cannot), so read_committed readers of its partitions are not held until
    /// `transaction.timeout.ms`.
    fn abort_on_exit(&mut self, consumer: &LoopConsumer, error: &RuntimeError) {
        let ctx = consumer.context();
        if ctx.open.swap(false, Ordering::SeqCst) {
            match abort_retrying(&ctx.producer, 1, None) {
                Ok(()) => {
                    self.count_transaction("aborted");
                    info!("stopping on an error ({error}): the open transaction was aborted");
                }
                Err(e) => {
                    warn!("stopping on an error ({error}): aborting the open transaction: {e}")
                }
            }
        }
    }

    /// Aborts the open transaction and rewinds every assigned partition to its committed offset.
    fn abort(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        let ctx = consumer.context();
        if ctx.open.swap(false, Ordering::SeqCst) {
            abort_retrying(
                &ctx.producer,
                self.settings.max_retries,
                Some(&self.watchdog),
            )
            .map_err(|e| fatal("abort_transaction", e))?;
            self.count_transaction("aborted");
        }
        self.breaker.abort();
        self.show_breaker();
        self.batch.clear();
        if let Some(state) = &self.state {
            state.stores().abort();
        }
        self.watchdog.tick("rewinding");
        rewind(consumer)?;
        self.restore_parking(consumer)
    }

    /// Per-key ordering: after an abort the in-memory queues may hold what the aborted
    /// transaction wrote; they go back to what the parking topic committed.
    fn restore_parking(&mut self, consumer: &LoopConsumer) -> Result<(), RuntimeError> {
        let Some(parking) = &mut self.parking else {
            return Ok(());
        };
        let owned: BTreeSet<i32> = consumer
            .assignment()
            .map_err(|e| fatal("reading the assignment", e))?
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect();
        parking.restore(self.kafka, &self.settings.group_id, &owned, &self.watchdog)
    }

    /// The breaker's share, as a gauge.
    fn show_breaker(&self) {
        if let Some(m) = &self.settings.metrics {
            m.breaker_ratio
                .with_label_values(&[&self.settings.processor])
                .set(self.breaker.ratio());
        }
    }

    fn count_transaction(&mut self, outcome: &str) {
        match outcome {
            "committed" => self.stats.committed_transactions += 1,
            _ => self.stats.aborted_transactions += 1,
        }
        if let Some(m) = &self.settings.metrics {
            m.transactions
                .with_label_values(&[&self.settings.processor, outcome])
                .inc();
        }
    }
}

/// What became of one input record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// Processed; its outputs (if any) are in the transaction.
    Done,
    /// Failed transiently: sent to a retry tier, due then.
    Retried(chrono::DateTime<chrono::Utc>),
    /// Sent to the dead-letter topic.
    DeadLettered,
    /// Parked behind an earlier record of its key (per-key ordering), due then.
    Parked(chrono::DateTime<chrono::Utc>),
}

/// How a transactional call ended after its retries.
enum Committed {
    Yes,
    RequiresAbort(KafkaError),
}

/// Calls `call` until it succeeds, retrying only retriable errors (with a growing pause, up to
/// `retries` times). An abortable error is returned as such; anything else is fatal.
fn retrying(
    operation: &str,
    retries: u32,
    mut call: impl FnMut() -> KafkaResult<()>,
) -> Result<Committed, RuntimeError> {
    let mut attempt = 0;
    loop {
        match call() {
            Ok(()) => return Ok(Committed::Yes),
            Err(e) => match classify(&e) {
                TxnErrorClass::Retriable if attempt < retries => {
                    attempt += 1;
                    warn!("retriable error in {operation} (attempt {attempt}): {e}");
                    std::thread::sleep(Duration::from_millis(50 << attempt.min(6)));
                }
                TxnErrorClass::RequiresAbort => return Ok(Committed::RequiresAbort(e)),
                TxnErrorClass::Retriable | TxnErrorClass::Fatal => return Err(fatal(operation, e)),
            },
        }
    }
}

/// Aborts the open transaction, calling again (up to `retries` more times) while the error is
/// retriable (a timed-out abort is still in progress in the client); ticks `watchdog` before
/// each attempt when given.
fn abort_retrying(
    producer: &TxnProducer,
    retries: u32,
    watchdog: Option<&Watchdog>,
) -> KafkaResult<()> {
    // librdkafka counts a partition into the transaction when its AddPartitionsToTxn request is
    // sent, not when it is answered, and decides on that count to send EndTxn: an abort right
    // after a first produce can reach the coordinator before the partition was added, is refused
    // with INVALID_TXN_STATE, and that error is fatal (librdkafka #4849, seen here as replicas
    // exiting on revocation). Waiting for what is in flight closes the window; what it writes is
    // aborted with the rest. Bounded: with a broker down it gives up and aborts anyway.
    if let Some(dog) = watchdog {
        dog.tick_within("flush before abort", CLIENT_CALL_LIMIT);
    }
    if let Err(e) = flush_in_flight(producer.client(), ABORT_FLUSH_LIMIT) {
        debug!("flush before abort: {e}");
    }
    let mut attempt = 0;
    loop {
        if let Some(dog) = watchdog {
            dog.tick_within("abort_transaction", CLIENT_CALL_LIMIT);
        }
        match producer.abort_transaction(TXN_CALL_TIMEOUT) {
            Err(e) if matches!(classify(&e), TxnErrorClass::Retriable) && attempt < retries => {
                attempt += 1;
                warn!("retriable error in abort_transaction (attempt {attempt}): {e}");
            }
            other => return other,
        }
    }
}

/// The assigned partitions whose consumer position is beyond `than`; a partition not in `than`
/// is compared with `unknown`, or left out when that is `None`.
fn positions_past(
    consumer: &LoopConsumer,
    than: &BTreeMap<(String, i32), i64>,
    unknown: Option<i64>,
) -> BTreeMap<(String, i32), i64> {
    let Ok(positions) = consumer.position() else {
        return BTreeMap::new();
    };
    positions
        .elements()
        .into_iter()
        .filter_map(|e| {
            let key = (e.topic().to_string(), e.partition());
            match (e.offset(), than.get(&key).copied().or(unknown)) {
                (Offset::Offset(p), Some(c)) if p > c => Some((key, p)),
                _ => None,
            }
        })
        .collect()
}

/// Seeks every assigned partition to the group's committed offset (the start when none).
fn rewind(consumer: &LoopConsumer) -> Result<(), RuntimeError> {
    let assignment = consumer
        .assignment()
        .map_err(|e| fatal("reading the assignment", e))?;
    if assignment.count() == 0 {
        return Ok(());
    }
    let committed = weft_core::kafka::committed_offsets(consumer, &assignment, LOOKUP_TIMEOUT)
        .map_err(|e| fatal("reading committed offsets", e))?;
    for elem in committed.elements() {
        let to = match elem.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        consumer
            .seek(elem.topic(), elem.partition(), to, LOOKUP_TIMEOUT)
            .map_err(|e| fatal("rewinding to the committed offsets", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(window: usize, max_ratio: f64, min_samples: usize) -> Breaker {
        Breaker::new(BreakerSettings {
            window,
            max_ratio,
            min_samples,
        })
    }

    #[test]
    fn a_low_volume_processor_trips_once_it_has_the_minimum_sample() {
        let mut b = breaker(200, 0.5, 20);
        // 19 dead letters: not judged yet.
        assert!((0..19).all(|_| !b.record(true)));
        // The 20th outcome reaches the minimum sample: 20 of 20 dead.
        assert!(b.record(true));
    }

    #[test]
    fn the_share_is_judged_over_what_was_seen() {
        let mut b = breaker(200, 0.5, 20);
        for i in 0..40 {
            // Every fourth record dead: 25% stays under 50%.
            assert!(!b.record(i % 4 == 0), "opened at {i}");
        }
        // Then a run of dead letters brings the share to half of 80.
        let opened_at = (0..40).position(|_| b.record(true)).expect("it opens");
        // 10 + k dead of 40 + k reaches half at k = 20.
        assert_eq!(opened_at, 19);
    }

    #[test]
    fn an_aborted_transactions_outcomes_do_not_count_twice() {
        let mut b = breaker(10, 0.5, 4);
        b.begin();
        assert!(
            (0..3).all(|_| !b.record(true)),
            "3 of a minimum of 4: closed"
        );
        b.abort();
        // The same three records, read again after the abort: still 3 outcomes, not 6.
        b.begin();
        assert!((0..3).all(|_| !b.record(true)));
        assert!(b.record(true), "the fourth dead letter of four opens it");
    }

    #[test]
    fn the_ratio_shown_waits_for_the_minimum_sample() {
        let mut b = breaker(10, 0.9, 4);
        b.record(true);
        assert_eq!(b.ratio(), 0.0, "one dead letter of one is not 100% yet");
        (0..3).for_each(|_| {
            b.record(false);
        });
        assert_eq!(b.ratio(), 0.25);
    }

    #[test]
    fn a_window_of_zero_is_off() {
        let mut b = breaker(0, 0.5, 20);
        assert!((0..1000).all(|_| !b.record(true)));
    }

    #[test]
    fn consumer_errors_that_cannot_heal_are_fatal() {
        let auth = KafkaError::MessageConsumption(RDKafkaErrorCode::TopicAuthorizationFailed);
        let unknown = KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition);
        let transport = KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure);
        assert!(is_fatal_consumer_error(&auth));
        assert!(is_fatal_consumer_error(&unknown));
        assert!(!is_fatal_consumer_error(&transport));
        // A static member fenced by its successor: librdkafka reports it as fatal.
        let fenced = KafkaError::MessageConsumptionFatal(RDKafkaErrorCode::FencedInstanceId);
        assert!(is_fatal_consumer_error(&fenced));
    }

    #[test]
    fn a_record_below_what_was_committed_or_taken_is_a_redelivery() {
        let key = ("orders".to_string(), 5);
        let other = ("orders".to_string(), 4);
        let mut committed = BTreeMap::new();
        let mut open = BTreeMap::new();
        // Nothing known of the partition yet: whatever comes is new.
        assert!(!is_redelivery(&committed, &open, &key, 0));
        // The chaos run's case: 495 committed (next 496), then 495 handed out again.
        committed.insert(key.clone(), 496);
        assert!(is_redelivery(&committed, &open, &key, 495));
        assert!(!is_redelivery(&committed, &open, &key, 496));
        assert!(!is_redelivery(&committed, &open, &other, 0));
        // Taken into the open transaction, not committed yet.
        open.insert(key.clone(), 510);
        assert!(is_redelivery(&committed, &open, &key, 500));
        assert!(!is_redelivery(&committed, &open, &key, 510));
        // After an abort the open batch is cleared and the rewind reads from 496 again.
        open.clear();
        assert!(!is_redelivery(&committed, &open, &key, 500));
    }

    #[test]
    fn partition_lists_read_by_topic() {
        let mut list = TopicPartitionList::new();
        list.add_partition("mid", 5);
        list.add_partition("retry", 0);
        list.add_partition("mid", 1);
        assert_eq!(partition_list(&list), "mid[5,1] retry[0]");
    }
}
