//! The relay: claims outbox rows, publishes them in one Kafka transaction per batch together with
//! its ledger entry, then marks them published. Read top to bottom: [`Relay::run`] restarts
//! sessions; [`Relay::session`] connects, reconciles and loops over the phases
//! ([`Relay::claim`], [`Relay::publish`], [`Relay::settle`], [`Relay::housekeeping`]).
//!
//! Failure modes (each a test in `tests/outbox.rs`):
//! - killed before the Kafka commit: its open transaction is aborted when it (or a relay taking
//!   over) initialises the same transactional id; the rows it claimed go back to `pending`;
//! - killed between the Kafka commit and the database update: the ledger names the rows of the
//!   committed batch; they are marked published at the next session, not sent again;
//! - killed during the database update: the update is one database transaction, so the same;
//! - the database restarted: every relay's session ends (its connection, its lock); each starts
//!   a new session and reconciles;
//! - a relay gone for good: another relay takes over its claimed rows once its lock is free
//!   (the lock is a session-level advisory lock, free when its connection is gone), fencing its
//!   transactional id first so a zombie cannot commit;
//! - Kafka unavailable: the batch is aborted and tried again; after `breaker_threshold` failures
//!   in a row the circuit opens for `breaker_timeout` (no attempts, `/health/ready` 503);
//! - a row that cannot be published: see [`crate::encode`]; its failure is recorded
//!   (`failed_at`, `error_message`, `retry_count`), later rows of its aggregate wait behind it,
//!   other aggregates go on; at its last attempt it goes to the dead-letter topic (status
//!   `failed`) and the aggregate goes on.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio_postgres::Client;
use tracing::{debug, info, warn};
use uuid::Uuid;
use weft_core::headers;
use weft_core::kafka::{flush_in_flight, KafkaConfig};

use crate::db;
use crate::encode::{Encoder, Record, Row};
use crate::error::{OutboxError, Result};
use crate::ledger::{self, Entry};
use crate::metrics::RelayMetrics;

/// The relay's settings; defaults are seed 000's (section 3.2).
#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub database_url: String,
    /// This replica's stable name: its lock, its claims, its transactional id.
    pub instance: String,
    /// Rows per batch (`OUTBOX_BATCH_SIZE`, 50).
    pub batch_size: usize,
    /// Wait between polls when nothing is due (`OUTBOX_BATCH_INTERVAL_MS`, 5 s).
    pub interval: Duration,
    /// Attempts of a row whose `max_retries` is NULL (`OUTBOX_RETRY_MAX_ATTEMPTS`, 3).
    pub max_retries: i32,
    /// Wait before a failed row is tried again.
    pub retry_backoff: Duration,
    /// Failed batches in a row that open the circuit (`OUTBOX_CIRCUIT_BREAKER_THRESHOLD`, 5).
    pub breaker_threshold: u32,
    /// How long the circuit stays open (`OUTBOX_CIRCUIT_BREAKER_TIMEOUT_MS`, 60 s).
    pub breaker_timeout: Duration,
    /// Published rows are deleted after this long.
    pub retention: Duration,
    /// Prefix of every topic and of the transactional ids (as `weft run --topic-prefix`).
    pub topic_prefix: String,
}

impl RelaySettings {
    /// The ledger topic.
    pub fn ledger_topic(&self) -> String {
        format!("{}weft.outbox-relay.ledger", self.topic_prefix)
    }

    /// The dead-letter topic of unpublishable rows.
    pub fn dead_letter_topic(&self) -> String {
        format!(
            "{}{}",
            self.topic_prefix,
            weft_core::naming::dead_letter_topic("weft.outbox-relay")
        )
    }

    fn transactional_id(&self, instance: &str) -> String {
        format!("{}weft-outbox-relay.{instance}", self.topic_prefix)
    }
}

/// What a batch sends: rows to publish and rows to dead-letter.
enum Planned {
    Publish(Uuid, Record),
    Dead(Row, String),
}

/// A failed Kafka attempt: worth another try, or the end of the session.
enum Attempt {
    Again(OutboxError),
    Fatal(OutboxError),
}

struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// The relay; see the module docs.
pub struct Relay {
    settings: RelaySettings,
    kafka: KafkaConfig,
    encoder: Arc<Encoder>,
    metrics: RelayMetrics,
    shutdown: Arc<AtomicBool>,
    /// `<database>.<schema>` of the table (read at each session's start): with an instance
    /// name, the relay's transactional id and ledger key, unique across deployments.
    scope: std::sync::Mutex<String>,
}

impl Relay {
    pub fn new(
        settings: RelaySettings,
        kafka: KafkaConfig,
        encoder: Encoder,
        metrics: RelayMetrics,
        shutdown: Arc<AtomicBool>,
    ) -> Self {
        Relay {
            settings,
            kafka,
            encoder: Arc::new(encoder),
            metrics,
            shutdown,
            scope: std::sync::Mutex::new(String::new()),
        }
    }

    /// `instance` within the table's database and schema.
    fn scoped(&self, instance: &str) -> String {
        let scope = self.scope.lock().expect("scope lock");
        format!("{scope}.{instance}")
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`, less when shutdown is asked for.
    async fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() && Instant::now() < until {
            tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(100))).await;
        }
    }

    /// Runs sessions until shutdown (`Ok`) or a configuration error (`Err`); any other error ends
    /// the session and, after a back-off, a new one starts.
    pub async fn run(&self) -> Result<()> {
        let mut backoff = Duration::from_millis(200);
        while !self.stopping() {
            let began = Instant::now();
            match self.session().await {
                Ok(()) => break,
                Err(e) if e.is_transient() => {
                    // A session that ran a while ended by bad luck, not by a standing fault.
                    if began.elapsed() > Duration::from_secs(30) {
                        backoff = Duration::from_millis(200);
                    }
                    self.metrics.set_ready(false);
                    warn!("relay session ended: {e}; starting a new one in {backoff:?}");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        }
        self.metrics.set_ready(false);
        Ok(())
    }

    async fn session(&self) -> Result<()> {
        // Each session, so a broker that is not up yet is waited for like any other outage.
        ensure_topics(&self.kafka, &self.settings).await?;
        let me = self.settings.instance.clone();
        let mut client = db::connect(&self.settings.database_url).await?;
        *self.scope.lock().expect("scope lock") = db::scope(&client).await?;
        // This instance's lock: a relay taking over this instance's rows holds it meanwhile.
        while !db::try_lock(&client, &me).await? {
            if self.stopping() {
                return Ok(());
            }
            self.pause(Duration::from_millis(300)).await;
        }
        let producer = self.producer(&me)?;
        self.reconcile(&mut client, &me).await?;
        info!(instance = %me, "outbox relay session started");
        self.metrics.set_ready(true);
        let mut batch = 0u64;
        let mut breaker = Breaker {
            failures: 0,
            open_until: None,
        };
        let mut chores = Chores::default();
        let (mut floor, mut floor_at): (i64, Option<Instant>) = (0, None);
        while !self.stopping() {
            self.housekeeping(&mut client, &mut chores).await?;
            if floor_at.is_none_or(|t| t.elapsed() >= FLOOR_EVERY) {
                floor = db::floor(&client).await?;
                floor_at = Some(Instant::now());
            }
            let claim_started = Instant::now();
            let planned = self.claim(&mut client, floor).await?;
            if !planned.is_empty() {
                debug!(
                    claim_ms = claim_started.elapsed().as_millis() as u64,
                    "claimed"
                );
            }
            if planned.is_empty() {
                // Idle: the next claim reads the floor afresh (rows handed back, late commits).
                floor_at = None;
                self.pause(self.settings.interval).await;
                continue;
            }
            batch += 1;
            let claimed_at = Instant::now();
            let entry = entry_of(&me, batch, &planned);
            // The same batch until it is in Kafka: its rows stay claimed meanwhile.
            loop {
                if let Some(until) = breaker.open_until {
                    self.metrics.circuit_open.set(1);
                    self.metrics.set_ready(false);
                    self.pause(until.saturating_duration_since(Instant::now()))
                        .await;
                    breaker.open_until = None;
                    self.metrics.circuit_open.set(0);
                    self.metrics.set_ready(true);
                }
                if self.stopping() {
                    db::release(&client, &me).await?;
                    return Ok(());
                }
                match self.publish(&producer, &planned, &entry).await {
                    Ok(()) => {
                        breaker.failures = 0;
                        break;
                    }
                    Err(Attempt::Again(e)) => {
                        self.metrics.batches.with_label_values(&["aborted"]).inc();
                        breaker.failures += 1;
                        warn!(
                            "batch {batch} not published ({} in a row): {e}",
                            breaker.failures
                        );
                        if breaker.failures >= self.settings.breaker_threshold {
                            warn!(
                                "circuit open for {:?} after {} failed batches",
                                self.settings.breaker_timeout, breaker.failures
                            );
                            breaker.open_until =
                                Some(Instant::now() + self.settings.breaker_timeout);
                            breaker.failures = 0;
                        } else {
                            self.pause(Duration::from_millis(500)).await;
                        }
                    }
                    Err(Attempt::Fatal(e)) => return Err(e),
                }
            }
            let published_at = Instant::now();
            self.settle(&mut client, &entry).await?;
            debug!(
                batch,
                rows = planned.len(),
                publish_ms = (published_at - claimed_at).as_millis() as u64,
                settle_ms = published_at.elapsed().as_millis() as u64,
                "batch published"
            );
        }
        Ok(())
    }

    /// Phase: claim a batch and decide each row (see `decide`). A page whose rows all wait
    /// behind earlier rows of their aggregates does not stop the claim: the next page is
    /// looked at (up to `CLAIM_PAGES`), so other aggregates go on.
    async fn claim(&self, client: &mut Client, floor: i64) -> Result<Vec<Planned>> {
        let mut after = floor - 1;
        for _ in 0..CLAIM_PAGES {
            let encoder = self.encoder.clone();
            let mut planned = Vec::new();
            let mut failures = 0u64;
            let page = db::Page {
                instance: &self.settings.instance,
                floor,
                after,
                limit: self.settings.batch_size as i64,
                default_max_retries: self.settings.max_retries,
                backoff: self.settings.retry_backoff,
            };
            let claimed = db::claim(client, &page, |locked, blockers| {
                let (decision, plan) = decide(&encoder, locked, blockers)?;
                failures = decision.failed.len() as u64;
                for (id, error) in &decision.failed {
                    warn!("outbox row {id} not published (will retry): {error}");
                }
                planned = plan;
                Ok(decision)
            })
            .await?;
            self.metrics.failures.inc_by(failures);
            if !planned.is_empty() || claimed.locked < self.settings.batch_size {
                return Ok(planned);
            }
            after = claimed.last_seq;
        }
        Ok(Vec::new())
    }

    /// Phase: the batch's records, its dead letters and its ledger entry, in one transaction.
    async fn publish(
        &self,
        producer: &FutureProducer,
        planned: &[Planned],
        entry: &Entry,
    ) -> std::result::Result<(), Attempt> {
        let txn = |what: &str, e: KafkaError| classify(what, e);
        tokio::task::block_in_place(|| producer.begin_transaction())
            .map_err(|e| txn("begin_transaction", e))?;
        let result = self.send_all(producer, planned, entry).await;
        let result = match result {
            Ok(()) => commit(producer),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.metrics.batches.with_label_values(&["committed"]).inc();
                self.metrics.published.inc_by(entry.published.len() as u64);
                self.metrics.dead_lettered.inc_by(entry.dead.len() as u64);
                Ok(())
            }
            Err(Attempt::Again(e)) => {
                abort(producer).map_err(Attempt::Fatal)?;
                Err(Attempt::Again(e))
            }
            Err(fatal) => Err(fatal),
        }
    }

    async fn send_all(
        &self,
        producer: &FutureProducer,
        planned: &[Planned],
        entry: &Entry,
    ) -> std::result::Result<(), Attempt> {
        let dlq = self.settings.dead_letter_topic();
        let ledger_topic = self.settings.ledger_topic();
        let ledger_value = serde_json::to_vec(entry).expect("a ledger entry serialises");
        let mut deliveries = Vec::with_capacity(planned.len() + 1);
        let now = chrono::Utc::now().to_rfc3339();
        for p in planned {
            let (topic, key, value, hs): (&str, String, Vec<u8>, Vec<(String, String)>) = match p {
                Planned::Publish(_, r) => {
                    (&r.topic, r.key.clone(), r.value.clone(), r.headers.clone())
                }
                Planned::Dead(row, error) => (
                    &dlq,
                    self.encoder
                        .aggregate(&row.event_type, row.event_version.as_deref(), &row.payload)
                        .unwrap_or_else(|| row.id.to_string()),
                    serde_json::to_vec(&db::row_json(row)).expect("a row serialises"),
                    vec![
                        (headers::EVENT_ID.into(), row.id.to_string()),
                        (headers::EVENT_TYPE.into(), row.event_type.clone()),
                        (headers::DLQ_SOURCE_TOPIC.into(), "postgres:outbox".into()),
                        (headers::DLQ_ERROR_CLASS.into(), "unpublishable".into()),
                        (headers::DLQ_ERROR_MESSAGE.into(), error.clone()),
                        (
                            headers::DLQ_ATTEMPT.into(),
                            (row.retry_count + 1).to_string(),
                        ),
                        (headers::DLQ_PROCESSOR.into(), "weft-outbox-relay".into()),
                        (headers::DLQ_LAST_FAILURE.into(), now.clone()),
                    ],
                ),
            };
            deliveries.push(send(producer, topic, &key, &value, &hs).await?);
        }
        let ledger_key = self.scoped(&entry.instance);
        deliveries.push(send(producer, &ledger_topic, &ledger_key, &ledger_value, &[]).await?);
        for d in deliveries {
            match d.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(classify("delivering a record", e)),
                Err(_) => {
                    return Err(Attempt::Again(OutboxError::kafka(
                        "delivering a record",
                        "the delivery was cancelled",
                    )))
                }
            }
        }
        Ok(())
    }

    /// Phase: the batch is in Kafka; its rows become published (or failed) in the database.
    async fn settle(&self, client: &mut Client, entry: &Entry) -> Result<()> {
        db::settle(client, &entry.instance, &entry.published, &entry.dead).await?;
        Ok(())
    }

    /// Settles the rows `instance` claimed, from its last ledger entry: rows of a committed batch
    /// become published (or failed), the others go back to pending. The caller holds the
    /// instance's lock and has initialised its transactional id.
    async fn reconcile(&self, client: &mut Client, instance: &str) -> Result<()> {
        let kafka = self.kafka.clone();
        let topic = self.settings.ledger_topic();
        let entries: BTreeMap<String, Entry> =
            tokio::task::block_in_place(|| ledger::read(&kafka, &topic))?;
        let entry = entries
            .get(&self.scoped(instance))
            .cloned()
            .unwrap_or_default();
        let (p, d, back) = db::reconcile(client, instance, &entry.published, &entry.dead).await?;
        if p + d + back > 0 {
            info!(
                instance,
                published = p,
                dead = d,
                pending = back,
                "reconciled claimed rows"
            );
        }
        self.metrics
            .reconciled
            .with_label_values(&["published"])
            .inc_by(p);
        self.metrics
            .reconciled
            .with_label_values(&["dead"])
            .inc_by(d);
        self.metrics
            .reconciled
            .with_label_values(&["pending"])
            .inc_by(back);
        Ok(())
    }

    /// Phase, now and then: take over the rows of relays that are gone, clean up, measure.
    async fn housekeeping(&self, client: &mut Client, chores: &mut Chores) -> Result<()> {
        let now = Instant::now();
        if chores.takeover.is_none_or(|t| now - t >= TAKEOVER_EVERY) {
            chores.takeover = Some(now);
            for other in db::claimants(client, &self.settings.instance).await? {
                if !db::try_lock(client, &other).await? {
                    continue;
                }
                info!(instance = %other, "taking over the claimed rows of a relay that is gone");
                let outcome = match self.producer(&other) {
                    Ok(fencing) => {
                        let r = self.reconcile(client, &other).await;
                        drop(fencing);
                        r
                    }
                    Err(e) => Err(e),
                };
                db::unlock(client, &other).await?;
                outcome?;
            }
        }
        if chores.clean_up.is_none_or(|t| now - t >= CLEAN_UP_EVERY) {
            chores.clean_up = Some(now);
            let n = db::clean_up(client, self.settings.retention).await?;
            if n > 0 {
                info!(
                    "deleted {n} published rows older than {:?}",
                    self.settings.retention
                );
            }
        }
        if chores.measure.is_none_or(|t| now - t >= MEASURE_EVERY) {
            chores.measure = Some(now);
            let (rows, oldest) = db::backlog(client).await?;
            self.metrics.backlog.set(rows);
            self.metrics.oldest_pending.set(oldest);
        }
        Ok(())
    }

    /// A transactional producer for `instance`, initialised: any earlier producer of the same
    /// id is fenced and its open transaction aborted.
    fn producer(&self, instance: &str) -> Result<FutureProducer> {
        let producer: FutureProducer = self
            .kafka
            .client_config()
            .set(
                "transactional.id",
                self.settings.transactional_id(&self.scoped(instance)),
            )
            .set("transaction.timeout.ms", "30000")
            .set("message.timeout.ms", "25000")
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random")
            .create()
            .map_err(|e| OutboxError::kafka("creating the transactional producer", e))?;
        tokio::task::block_in_place(|| producer.init_transactions(Duration::from_secs(60)))
            .map_err(|e| OutboxError::kafka("init_transactions", e))?;
        Ok(producer)
    }
}

const TAKEOVER_EVERY: Duration = Duration::from_secs(5);
/// How often a busy relay reads the lowest open row again (see `db::floor`).
const FLOOR_EVERY: Duration = Duration::from_secs(5);
/// Pages of blocked rows a claim looks past before it waits for the next poll.
const CLAIM_PAGES: usize = 20;
const CLEAN_UP_EVERY: Duration = Duration::from_secs(60);
const MEASURE_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Chores {
    takeover: Option<Instant>,
    clean_up: Option<Instant>,
    measure: Option<Instant>,
}

/// Decides each locked row, in write order: a row whose aggregate has an earlier row still open
/// (among `blockers`, or failed earlier in this batch) waits; a row that encodes is published;
/// a row that does not is failed for a later attempt (blocking its aggregate), or at its last
/// attempt dead-lettered.
fn decide(
    encoder: &Encoder,
    locked: &[Row],
    blockers: &[Row],
) -> Result<(db::Decision, Vec<Planned>)> {
    let aggregate =
        |r: &Row| encoder.aggregate(&r.event_type, r.event_version.as_deref(), &r.payload);
    let mut blocked: HashSet<String> = blockers.iter().filter_map(aggregate).collect();
    let mut decision = db::Decision {
        take: vec![],
        failed: vec![],
    };
    let mut plan = Vec::new();
    for row in locked {
        let agg = aggregate(row);
        if agg.as_ref().is_some_and(|a| blocked.contains(a)) {
            continue;
        }
        match encoder.encode(row) {
            Ok(record) => {
                decision.take.push(row.id);
                plan.push(Planned::Publish(row.id, record));
            }
            Err(Ok(why)) if row.retry_count + 1 >= row.max_retries => {
                decision.take.push(row.id);
                plan.push(Planned::Dead(row.clone(), why.0));
            }
            Err(Ok(why)) => {
                decision.failed.push((row.id, why.0));
                if let Some(a) = agg {
                    blocked.insert(a);
                }
            }
            Err(Err(e)) => return Err(e),
        }
    }
    Ok((decision, plan))
}

fn entry_of(instance: &str, batch: u64, planned: &[Planned]) -> Entry {
    let mut entry = Entry {
        instance: instance.to_string(),
        batch,
        ..Entry::default()
    };
    for p in planned {
        match p {
            Planned::Publish(id, _) => entry.published.push(*id),
            Planned::Dead(row, error) => entry.dead.push((row.id, error.clone())),
        }
    }
    entry
}

type Delivery = rdkafka::producer::DeliveryFuture;

async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    hs: &[(String, String)],
) -> std::result::Result<Delivery, Attempt> {
    let mut headers = OwnedHeaders::new();
    for (k, v) in hs {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    let mut record = FutureRecord::to(topic)
        .key(key)
        .payload(value)
        .headers(headers);
    loop {
        match producer.send_result(record) {
            Ok(d) => return Ok(d),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => return Err(classify(&format!("producing to {topic}"), e)),
        }
    }
}

/// Fatal and fencing errors end the session (a new producer is needed); the rest abort the
/// batch and try it again.
fn classify(what: &str, e: KafkaError) -> Attempt {
    let fatal = match &e {
        KafkaError::Transaction(rd) => {
            rd.is_fatal() || !(rd.txn_requires_abort() || rd.is_retriable())
        }
        other => matches!(
            other.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Fatal
                    | RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
            )
        ),
    };
    let err = OutboxError::kafka(what, e);
    if fatal {
        Attempt::Fatal(err)
    } else {
        Attempt::Again(err)
    }
}

/// Commits; a commit that times out is called again (librdkafka goes on committing in the
/// background: aborting then could race it). Out of attempts, the outcome is unknown: the
/// session ends, and the next one's `init_transactions` and ledger read settle it.
fn commit(producer: &FutureProducer) -> std::result::Result<(), Attempt> {
    for attempt in 1..=3 {
        let committed = tokio::task::block_in_place(|| {
            // Waits for what is in flight without rust-rdkafka's 100 ms polling slices (see
            // flush_in_flight). A timeout is the error commit_transaction's own flush would
            // give, after one wait instead of two.
            flush_in_flight(producer.client(), Duration::from_secs(30))
                .and_then(|()| producer.commit_transaction(Duration::from_secs(30)))
        });
        match committed {
            Ok(()) => return Ok(()),
            Err(KafkaError::Transaction(rd)) if rd.is_retriable() && !rd.txn_requires_abort() => {
                warn!("commit_transaction, attempt {attempt}: {rd}; calling it again");
            }
            Err(e) => return Err(classify("commit_transaction", e)),
        }
    }
    Err(Attempt::Fatal(OutboxError::kafka(
        "commit_transaction",
        "no answer after 3 attempts: the batch's outcome is settled by the next session",
    )))
}

/// Aborts the open transaction, waiting for records in flight first (librdkafka #4849: an abort
/// racing the first AddPartitionsToTxn is refused as fatal).
fn abort(producer: &FutureProducer) -> Result<()> {
    tokio::task::block_in_place(|| {
        let _ = flush_in_flight(producer.client(), Duration::from_secs(5));
        producer.abort_transaction(Duration::from_secs(30))
    })
    .map_err(|e| OutboxError::kafka("abort_transaction", e))
}

/// Creates the ledger (one partition, compacted) and the dead-letter topic when missing, with
/// the cluster's replication (3, or fewer brokers).
async fn ensure_topics(kafka: &KafkaConfig, settings: &RelaySettings) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config()
        .create()
        .map_err(|e| OutboxError::kafka("creating an admin client", e))?;
    let brokers = tokio::task::block_in_place(|| {
        admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))
            .map(|m| m.brokers().len())
    })
    .map_err(|e| OutboxError::kafka("reading the cluster's metadata", e))?;
    let rf = brokers.clamp(1, 3) as i32;
    let min_isr = (rf - 1).max(1).to_string();
    let ledger = settings.ledger_topic();
    let dlq = settings.dead_letter_topic();
    let topics = [
        // Small segments, so compaction keeps the ledger (read whole at every session start)
        // near one record per relay.
        NewTopic::new(&ledger, 1, TopicReplication::Fixed(rf))
            .set("cleanup.policy", "compact")
            .set("segment.ms", "600000")
            .set("segment.bytes", "16777216")
            .set("min.cleanable.dirty.ratio", "0.1")
            .set("min.insync.replicas", &min_isr),
        NewTopic::new(&dlq, 6, TopicReplication::Fixed(rf))
            .set("retention.ms", "1209600000")
            .set("min.insync.replicas", &min_isr),
    ];
    let results = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .map_err(|e| OutboxError::kafka("creating the relay's topics", e))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(OutboxError::kafka(&format!("creating {t}"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder() -> Encoder {
        let root = weft_contracts::catalog::repo_root();
        let specs = weft_core::spec::SpecSet::load(&root.join("topics")).unwrap();
        let catalog = weft_contracts::Catalog::load(root.join("avro")).unwrap();
        Encoder::new(
            specs.topics,
            catalog,
            Arc::new(weft_runtime::schemas::LocalSchemas::new()),
            "",
            Some("cypher"),
        )
    }

    fn order_row(seq: i64, order: &str, fits: bool, retry_count: i32) -> Row {
        let mut payload: serde_json::Value = serde_json::from_str(include_str!(
            "../../../avro/cypher/order/OrderCreated.example.json"
        ))
        .unwrap();
        payload["order_id"] = order.into();
        if !fits {
            payload.as_object_mut().unwrap().remove("customer_id");
        }
        Row {
            id: Uuid::new_v4(),
            seq,
            event_type: "order.created".into(),
            event_version: Some("v1".into()),
            payload,
            headers: None,
            created_at: chrono::Utc::now(),
            retry_count,
            max_retries: 3,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_row_holds_back_its_aggregate_only_until_it_is_dead_lettered() {
        let enc = encoder();
        let (x, y) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        // x's first row does not fit; x's second waits behind it; y goes on.
        let rows = vec![
            order_row(1, &x, false, 0),
            order_row(2, &x, true, 0),
            order_row(3, &y, true, 0),
        ];
        let (d, plan) = decide(&enc, &rows, &[]).unwrap();
        assert_eq!(d.failed.len(), 1);
        assert_eq!(d.failed[0].0, rows[0].id);
        assert!(d.failed[0].1.contains("customer_id"), "{}", d.failed[0].1);
        assert_eq!(d.take, vec![rows[2].id]);
        assert!(matches!(&plan[..], [Planned::Publish(id, r)] if *id == rows[2].id && r.key == y));
        // At its last attempt it is dead-lettered, and x's second row goes out behind it.
        let rows = vec![order_row(1, &x, false, 2), order_row(2, &x, true, 0)];
        let (d, plan) = decide(&enc, &rows, &[]).unwrap();
        assert!(d.failed.is_empty());
        assert_eq!(d.take, vec![rows[0].id, rows[1].id]);
        assert!(
            matches!(&plan[..], [Planned::Dead(r, _), Planned::Publish(..)] if r.id == rows[0].id)
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_earlier_open_row_of_another_relay_blocks_its_aggregate() {
        let enc = encoder();
        let (x, y) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        let held_elsewhere = order_row(1, &x, true, 0);
        let rows = vec![order_row(2, &x, true, 0), order_row(3, &y, true, 0)];
        let (d, _) = decide(&enc, &rows, &[held_elsewhere]).unwrap();
        assert_eq!(d.take, vec![rows[1].id]);
        // A row of an unknown type has no aggregate: it blocks nothing, and fails alone.
        let mut unknown = order_row(1, &x, true, 0);
        unknown.event_type = "order.exploded".into();
        let rows = vec![unknown.clone(), order_row(2, &x, true, 0)];
        let (d, _) = decide(&enc, &rows, &[]).unwrap();
        assert_eq!(d.failed.len(), 1);
        assert!(d.failed[0].1.contains("no topic spec"), "{}", d.failed[0].1);
        assert_eq!(d.take, vec![rows[1].id]);
    }

    #[test]
    fn the_ledger_entry_names_published_and_dead_rows() {
        let row = Row {
            id: Uuid::new_v4(),
            seq: 1,
            event_type: "x".into(),
            event_version: None,
            payload: serde_json::json!({}),
            headers: None,
            created_at: chrono::Utc::now(),
            retry_count: 2,
            max_retries: 3,
        };
        let ok = Uuid::new_v4();
        let planned = vec![
            Planned::Publish(
                ok,
                Record {
                    topic: "t".into(),
                    key: "k".into(),
                    value: vec![],
                    headers: vec![],
                },
            ),
            Planned::Dead(row.clone(), "bad".into()),
        ];
        let e = entry_of("r0", 7, &planned);
        assert_eq!(e.published, vec![ok]);
        assert_eq!(e.dead, vec![(row.id, "bad".to_string())]);
        assert_eq!(e.batch, 7);
    }
}
