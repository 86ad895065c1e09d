//! Topic migrations in the runtime: the registered transform, the mirror (backfill) and dual
//! writes (docs/migration.md).
//!
//! - A [`Transform`] is the typed function from the old event to the new one (and back, for
//!   rollback), registered under the migration's name.
//! - The **mirror** ([`Mirror`]) is a record processor the ordinary transaction loop drives in
//!   the group `<migration>.mirror`: it reads the old topic read_committed and writes each record's
//!   new form to the same partition of the new topic, stamped with
//!   [`MIGRATED_FROM`] = `<partition>:<offset>` of its source, in the transaction that commits
//!   its input offset, in partition order. Records a producer dual-wrote ([`DUAL_WRITTEN`]) are
//!   skipped: their copy is already there.
//! - **Dual writes** ([`DualWrites`]): a processor that emits the old event also emits the new one
//!   in the same transaction. The copy is held until the commit; then the loop learns the old
//!   record's offset from its delivery report, checks that its old records of each partition are
//!   one block (another producer's record inside it aborts the transaction), waits until the
//!   mirror has committed a position at or past the block (the mirror reads read_committed, so
//!   it stops at the earliest open transaction), and only then produces the stamped copies. So
//!   no copy lands in the new topic before the copy of an earlier old record: the stamps
//!   increase along each partition of the new topic, and per-key order is the old topic's.
//!
//! Failure modes: a record the transform refuses (or cannot decode) is dead-lettered by the
//! mirror's loop as poison, with the reason; nothing is dropped. A dual-writing producer whose
//! mirror does not reach its records within a random part of [`MIRROR_WAIT`] aborts its
//! transaction (the batch is processed again after a back-off; the loop stops after its abort
//! limit with an error naming the mirror group): dual writes need the mirror running, and two
//! producers waiting for each other's blocks on two partitions are parted by the random
//! deadlines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::Schema;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use weft_contracts::direct::Plan;
use weft_contracts::{Contract, Event};
use weft_core::headers as h;

use crate::processor::{Output, ProcessError, Record, RecordProcessor};
use crate::schemas::SchemaSource;
use crate::typed::Out;
use crate::RuntimeError;

/// Header on a record of the new topic: `<partition>:<offset>` of the old record it is the
/// form of.
pub const MIGRATED_FROM: &str = "weft-migrated-from";
/// Header on a record of the old topic written together with its new form (dual write):
/// the migration's name. The mirror skips these.
pub const DUAL_WRITTEN: &str = "weft-dual-written";
/// Internal header on a dual write's copy between the processor and the loop (never sent): the
/// migration's name.
pub(crate) const COPY_OF: &str = "weft-migration-copy";

/// How long a dual-writing producer waits at most for the mirror to reach its records (each
/// wait draws between half of it and all of it); below the transaction timeout (10 s).
pub const MIRROR_WAIT: Duration = Duration::from_secs(6);

/// The value of [`MIGRATED_FROM`].
pub fn stamp(partition: i32, offset: i64) -> String {
    format!("{partition}:{offset}")
}

/// Reads a [`MIGRATED_FROM`] value.
pub fn parse_stamp(value: &[u8]) -> Option<(i32, i64)> {
    let s = std::str::from_utf8(value).ok()?;
    let (p, o) = s.split_once(':')?;
    Some((p.parse().ok()?, o.parse().ok()?))
}

/// A registered migration transform: from contract `A` (the old topic) to `B` (the new one),
/// and back where the old form can say it.
pub struct Transform {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    from_schema: &'static str,
    to_schema: &'static str,
    erased: Box<dyn Erased>,
}

impl std::fmt::Debug for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transform")
            .field("name", &self.name)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

/// A record's new form: Avro body (unframed), key, envelope version.
struct Converted {
    body: Vec<u8>,
    key: String,
    version: &'static str,
}

trait Erased: Send + Sync {
    fn forward_out(&self, out: &Out) -> Option<Out>;
    fn backward_out(&self, out: &Out) -> Option<Result<Out, String>>;
    /// `reader` is `None` when the writer's schema is the old contract's own: the body is then
    /// decoded with `from` (that schema compiled); the new form is encoded with `to`.
    fn forward_bytes(
        &self,
        writer: &Schema,
        reader: Option<&Schema>,
        from: &Plan,
        body: &[u8],
        to: &Plan,
    ) -> Result<Converted, String>;
}

struct Typed<A, B> {
    forward: fn(&A) -> B,
    backward: fn(&B) -> Result<A, String>,
}

fn moved<A: Contract, B: Contract>(event: &Event<A>, payload: B) -> Event<B> {
    let mut metadata = event.metadata.clone();
    metadata.event_version = B::EVENT_VERSION.to_string();
    metadata.event_type = B::EVENT_TYPE.to_string();
    Event::new(metadata, payload)
}

impl<A: Contract, B: Contract> Erased for Typed<A, B> {
    fn forward_out(&self, out: &Out) -> Option<Out> {
        let event = out.event::<A>()?;
        Some(Out::new(moved(event, (self.forward)(&event.payload))))
    }

    fn backward_out(&self, out: &Out) -> Option<Result<Out, String>> {
        let event = out.event::<B>()?;
        Some((self.backward)(&event.payload).map(|a| Out::new(moved(event, a))))
    }

    fn forward_bytes(
        &self,
        writer: &Schema,
        reader: Option<&Schema>,
        from: &Plan,
        body: &[u8],
        to: &Plan,
    ) -> Result<Converted, String> {
        let decoded = match reader {
            None => from.decode(body),
            Some(reader) => weft_contracts::codec::decode_resolved(writer, Some(reader), body),
        };
        let event: Event<A> =
            decoded.map_err(|e| format!("corrupt Avro for {}: {e}", A::SCHEMA))?;
        let next = moved(&event, (self.forward)(&event.payload));
        let bytes = to
            .encode(&next)
            .map_err(|e| format!("the transform built a {} that does not fit: {e}", B::SCHEMA))?;
        Ok(Converted {
            body: bytes,
            key: next.payload.key(),
            version: B::EVENT_VERSION,
        })
    }
}

impl Transform {
    /// The migration `name` from `A::TOPIC` to `B::TOPIC` with `forward`, and `backward` for
    /// rollback (`Err` with the reason when the old form cannot say an event).
    pub fn new<A: Contract, B: Contract>(
        name: &'static str,
        forward: fn(&A) -> B,
        backward: fn(&B) -> Result<A, String>,
    ) -> Self {
        Transform {
            name,
            from: A::TOPIC,
            to: B::TOPIC,
            from_schema: A::SCHEMA,
            to_schema: B::SCHEMA,
            erased: Box::new(Typed { forward, backward }),
        }
    }

    /// The migration's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The old topic.
    pub fn from(&self) -> &'static str {
        self.from
    }

    /// The new topic.
    pub fn to(&self) -> &'static str {
        self.to
    }

    /// The old and new payload schemas' full names.
    pub fn schemas(&self) -> (&'static str, &'static str) {
        (self.from_schema, self.to_schema)
    }

    /// The new form of an event of the old contract (`None` for any other contract).
    pub fn forward(&self, out: &Out) -> Option<Out> {
        self.erased.forward_out(out)
    }

    /// The old form of an event of the new contract (`None` for any other contract; `Err` with
    /// the reason when the old form cannot say it).
    pub fn backward(&self, out: &Out) -> Option<Result<Out, String>> {
        self.erased.backward_out(out)
    }
}

/// The mirror: copies the old topic into the new one, exactly once, stamped (see the module
/// docs). The record processor of the group `<migration>.mirror`.
pub struct Mirror {
    transform: Arc<Transform>,
    schemas: Arc<dyn SchemaSource>,
    /// The old contract's schema (reader) and the new one (writer), self-contained.
    from_schema: Schema,
    /// The two schemas compiled for direct decoding and encoding.
    from_plan: Plan,
    to_plan: Plan,
    /// Physical topic names (a topic prefix applied).
    to_topic: String,
    /// The registry id of the new schema under the new topic's subject (resolved once).
    to_id: u32,
    /// Per writer schema id: whether it is the old contract's own schema (no resolution),
    /// decided once per id.
    identical: HashMap<u32, bool>,
    /// Copies written and dual-written records skipped, for progress.
    pub copied: u64,
    pub skipped: u64,
}

impl Mirror {
    /// A mirror for `transform`, its schemas from `catalog`, ids from `schemas`.
    pub fn new(
        transform: Arc<Transform>,
        catalog: &weft_contracts::Catalog,
        schemas: Arc<dyn SchemaSource>,
        topic_prefix: &str,
    ) -> Result<Self, RuntimeError> {
        let load = |name: &str| {
            catalog.self_contained(name).map_err(|e| {
                RuntimeError::Config(format!(
                    "migration {}: schema {name} is not in the catalog: {e}",
                    transform.name
                ))
            })
        };
        let from_schema = load(transform.from_schema)?;
        let to_schema = load(transform.to_schema)?;
        let to_topic = format!("{topic_prefix}{}", transform.to);
        // The new subject must hold the schema now: a mismatch stops the mirror at start.
        let to_id = schemas.value_schema_id(&to_topic, &to_schema)?;
        let compile = |schema: &Schema| {
            Plan::new(schema).map_err(|e| {
                RuntimeError::Config(format!(
                    "migration {}: a schema does not compile: {e}",
                    transform.name
                ))
            })
        };
        Ok(Mirror {
            from_plan: compile(&from_schema)?,
            to_plan: compile(&to_schema)?,
            transform,
            schemas,
            from_schema,
            to_topic,
            to_id,
            identical: HashMap::new(),
            copied: 0,
            skipped: 0,
        })
    }
}

impl RecordProcessor for Mirror {
    fn process(&mut self, record: &Record<'_>) -> Result<Vec<Output>, ProcessError> {
        let name = self.transform.name.as_bytes();
        if record
            .headers
            .iter()
            .any(|(k, v)| *k == DUAL_WRITTEN && *v == name)
        {
            self.skipped += 1;
            return Ok(Vec::new());
        }
        let value = record.value.ok_or_else(|| {
            ProcessError::Undecodable("the record has no value (a tombstone)".into())
        })?;
        let (id, body) =
            weft_core::wire::split(value).map_err(|e| ProcessError::Undecodable(e.to_string()))?;
        let writer = self.schemas.writer_schema(id).map_err(|e| match e {
            RuntimeError::SchemaNotFound(m) => {
                ProcessError::Undecodable(format!("unknown schema id {id}: {m}"))
            }
            other => ProcessError::Unavailable(other.to_string()),
        })?;
        let from_schema = &self.from_schema;
        let identical = *self
            .identical
            .entry(id)
            .or_insert_with(|| writer.canonical_form() == from_schema.canonical_form());
        let reader = (!identical).then_some(&self.from_schema);
        let converted = self
            .transform
            .erased
            .forward_bytes(&writer, reader, &self.from_plan, body, &self.to_plan)
            .map_err(ProcessError::Poison)?;
        let to_id = self.to_id;
        let mut headers: Vec<(String, Vec<u8>)> = record
            .headers
            .iter()
            .filter(|(k, _)| *k != h::SCHEMA_VERSION && *k != MIGRATED_FROM)
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        headers.push((h::SCHEMA_VERSION.into(), converted.version.into()));
        headers.push((
            MIGRATED_FROM.into(),
            stamp(record.partition, record.offset).into_bytes(),
        ));
        self.copied += 1;
        Ok(vec![Output {
            topic: self.to_topic.clone(),
            key: Some(converted.key.into_bytes()),
            value: weft_core::wire::frame(to_id, &converted.body),
            headers,
            partition: Some(record.partition),
        }])
    }
}

/// True for a dual write's copy on its way from the processor to the loop.
pub(crate) fn is_copy(out: &Output) -> bool {
    out.headers.iter().any(|(k, _)| k == COPY_OF)
}

/// One delivered record of a dual-written old topic, from the loop's delivery reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) event_id: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// Dual writes of one transaction loop: per old topic, the mirror whose position the copies
/// wait for (see the module docs).
pub(crate) struct DualWrites {
    /// Per old physical topic: the migration's mirror group and a client that reads its
    /// committed offsets.
    mirrors: BTreeMap<String, (String, BaseConsumer)>,
}

impl DualWrites {
    /// Dual writes for `(old topic, mirror group)` pairs (physical names).
    pub(crate) fn new(
        kafka: &weft_core::kafka::KafkaConfig,
        pairs: &[(String, String)],
    ) -> Result<Self, RuntimeError> {
        let mut mirrors = BTreeMap::new();
        for (topic, group) in pairs {
            let consumer: BaseConsumer = kafka
                .client_config()
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .create()
                .map_err(|e| {
                    RuntimeError::Config(format!("a client for mirror group {group}: {e}"))
                })?;
            mirrors.insert(topic.clone(), (group.clone(), consumer));
        }
        Ok(DualWrites { mirrors })
    }

    /// `copies` stamped with their old record's place, once the mirror has reached those
    /// places. `delivered` maps event id -> (old topic, partition, offset) from the delivery
    /// reports of this transaction (all delivered: the loop flushed). `tick` is called while
    /// waiting (the watchdog). `Err` with the reason: the transaction must be aborted.
    pub(crate) fn release(
        &self,
        copies: Vec<Output>,
        delivered: &[Delivered],
        tick: &dyn Fn(),
    ) -> Result<Vec<Output>, String> {
        // Each copy takes the first unused delivered old record with its event id (held copies
        // and deliveries of one partition are both in send order).
        let mut used = vec![false; delivered.len()];
        let mut out = Vec::with_capacity(copies.len());
        for mut copy in copies {
            let event_id = copy
                .headers
                .iter()
                .find(|(k, _)| k == h::EVENT_ID)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            let Some(i) =
                (0..delivered.len()).find(|i| !used[*i] && delivered[*i].event_id == event_id)
            else {
                return Err(format!(
                    "no delivery report for the old record of dual write {event_id}"
                ));
            };
            used[i] = true;
            let d = &delivered[i];
            copy.headers.retain(|(k, _)| k != COPY_OF);
            copy.headers.push((
                MIGRATED_FROM.into(),
                stamp(d.partition, d.offset).into_bytes(),
            ));
            copy.partition = Some(d.partition);
            out.push(copy);
        }
        // Per partition, this transaction's old records must be one block: another producer's
        // record inside it would be copied (by its producer or the mirror) after this block's
        // copies, and the new topic's order would differ from the old one's. Such a
        // transaction is aborted and done again (see the module docs).
        let mut blocks: BTreeMap<(String, i32), (i64, i64, i64)> = BTreeMap::new();
        for d in delivered {
            let b = blocks
                .entry((d.topic.clone(), d.partition))
                .or_insert((d.offset, d.offset, 0));
            b.0 = b.0.min(d.offset);
            b.1 = b.1.max(d.offset);
            b.2 += 1;
        }
        for ((topic, partition), (low, high, count)) in &blocks {
            if high - low + 1 != *count {
                return Err(format!(
                    "another producer wrote into this transaction's records of {topic}[{partition}] \
                     (offsets {low}..={high} hold {count} of ours): the copies would not keep the \
                     old topic's order"
                ));
            }
        }
        // Two dual writers each waiting for the other's open block would wait forever: the
        // deadline is drawn at random, so one of them gives up first and the other goes on.
        let wait = MIRROR_WAIT.mul_f64(rand::random_range(0.5..1.0));
        let deadline = Instant::now() + wait;
        let first: BTreeMap<(String, i32), i64> = blocks
            .into_iter()
            .map(|(k, (low, _, _))| (k, low))
            .collect();
        for ((topic, partition), offset) in first {
            let Some((group, client)) = self.mirrors.get(&topic) else {
                return Err(format!("{topic} is not dual-written by this loop"));
            };
            loop {
                tick();
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&topic, partition);
                // Transient answers (UnstableOffsetCommit while the mirror's transaction commits, a
                // coordinator moving) are retried inside, until the deadline.
                let left = deadline.saturating_duration_since(Instant::now());
                let committed = weft_core::kafka::committed_offsets(
                    client,
                    &tpl,
                    left.max(Duration::from_millis(100)),
                )
                .map_err(|e| format!("reading mirror group {group}'s offsets: {e}"))?;
                let at = committed
                    .find_partition(&topic, partition)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    })
                    .unwrap_or(-1);
                if at >= offset {
                    break;
                }
                // A partition whose first record is this transaction's: nothing to copy before
                // it (the mirror has never committed there).
                if at < 0 {
                    let (low, _) = client
                        .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                        .map_err(|e| format!("reading {topic}[{partition}]'s start: {e}"))?;
                    if offset <= low {
                        break;
                    }
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "mirror group {group} is at offset {at} of {topic}[{partition}] after {wait:?}; \
                         the dual write of offset {offset} waits for it (is `weft migrate mirror` running?)"
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(out)
    }
}

/// Where a migration stands, as kept in the control topic
/// ([`weft_core::migration::CONTROL_TOPIC`], key = the migration's name).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MigrationState {
    /// `dual-write` from `weft migrate start` on (processors started since write both
    /// topics), `finished` once v1 is retired.
    pub phase: String,
    /// Consumer groups cut over to the new topic (and when), by name. A group not listed reads
    /// the old topic.
    #[serde(default)]
    pub cut_over: BTreeMap<String, String>,
    /// What was done, in order: `<RFC 3339 time> <step>`.
    #[serde(default)]
    pub history: Vec<String>,
}

/// The phase in which producers write both topics.
pub const DUAL_WRITE: &str = "dual-write";
/// The phase after `weft migrate finish`.
pub const FINISHED: &str = "finished";

impl MigrationState {
    /// Appends `step` to the history, timed now.
    pub fn log(&mut self, step: impl std::fmt::Display) {
        self.history
            .push(format!("{} {step}", chrono::Utc::now().to_rfc3339()));
    }
}

/// Every migration's state, read from the control topic to its end (empty when the topic does
/// not exist yet: nothing was started).
pub fn read_states(
    kafka: &weft_core::kafka::KafkaConfig,
    control_topic: &str,
) -> Result<BTreeMap<String, MigrationState>, RuntimeError> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "weft-migrate-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|e| RuntimeError::Migration(format!("a client for {control_topic}: {e}")))?;
    let timeout = Duration::from_secs(30);
    let metadata = consumer
        .fetch_metadata(Some(control_topic), timeout)
        .map_err(|e| RuntimeError::Migration(format!("reading {control_topic}'s metadata: {e}")))?;
    let exists = metadata
        .topics()
        .iter()
        .any(|t| t.name() == control_topic && t.error().is_none() && !t.partitions().is_empty());
    let mut states = BTreeMap::new();
    if !exists {
        return Ok(states);
    }
    let (low, high) = consumer
        .fetch_watermarks(control_topic, 0, timeout)
        .map_err(|e| RuntimeError::Migration(format!("reading {control_topic}'s end: {e}")))?;
    if high <= low {
        return Ok(states);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(control_topic, 0, Offset::Offset(low))
        .map_err(|e| RuntimeError::Migration(e.to_string()))?;
    consumer
        .assign(&tpl)
        .map_err(|e| RuntimeError::Migration(format!("reading {control_topic}: {e}")))?;
    let deadline = Instant::now() + timeout;
    loop {
        let position = consumer
            .position()
            .ok()
            .and_then(|p| p.find_partition(control_topic, 0).map(|e| e.offset()));
        if matches!(position, Some(Offset::Offset(o)) if o >= high) {
            return Ok(states);
        }
        if Instant::now() >= deadline {
            return Err(RuntimeError::Migration(format!(
                "{control_topic} was not read to its end ({high}) within {timeout:?}"
            )));
        }
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg =
            msg.map_err(|e| RuntimeError::Migration(format!("reading {control_topic}: {e}")))?;
        use rdkafka::Message;
        let Some(key) = msg.key().map(|k| String::from_utf8_lossy(k).into_owned()) else {
            continue;
        };
        match msg.payload() {
            None => {
                states.remove(&key);
            }
            Some(value) => {
                let state: MigrationState = serde_json::from_slice(value).map_err(|e| {
                    RuntimeError::Migration(format!(
                        "{control_topic} offset {}: the state of {key} is not readable: {e}",
                        msg.offset()
                    ))
                })?;
                states.insert(key, state);
            }
        }
    }
}

/// Remembers the delivery result of the one record a state write sends.
#[derive(Default)]
struct StateDelivery(std::sync::Mutex<Option<Result<(), String>>>);

impl rdkafka::ClientContext for StateDelivery {}

impl rdkafka::producer::ProducerContext for StateDelivery {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string()));
        }
    }
}

/// Writes `state` as migration `name`'s state, durably (acks=all, idempotent; the broker's
/// answer is awaited), without the migration's hold: for tests and tools that own the control
/// topic. `weft migrate` steps write through [`StateLock`], which guards against a concurrent
/// step.
pub fn write_state(
    kafka: &weft_core::kafka::KafkaConfig,
    control_topic: &str,
    name: &str,
    state: &MigrationState,
) -> Result<(), RuntimeError> {
    use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    let failed = |e: String| RuntimeError::Migration(format!("writing to {control_topic}: {e}"));
    let producer: ThreadedProducer<StateDelivery> = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .create_with_context(StateDelivery::default())
        .map_err(|e| failed(e.to_string()))?;
    let value = serde_json::to_vec(state).map_err(|e| failed(e.to_string()))?;
    producer
        .send(
            BaseRecord::<str, [u8]>::to(control_topic)
                .key(name)
                .payload(&value),
        )
        .map_err(|(e, _)| failed(e.to_string()))?;
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| failed(e.to_string()))?;
    let result = producer.context().0.lock().ok().and_then(|mut r| r.take());
    match result {
        Some(r) => r.map_err(failed),
        None => Err(failed("no delivery report within 30 s".into())),
    }
}

/// One operator's hold on a migration's state: steps of `weft migrate` that change a migration
/// take it, read the state, decide, and write the new state in one Kafka transaction
/// ([`StateLock::write`]), with a cutover's or rollback's group offsets in the same
/// transaction.
///
/// The hold is a transactional producer whose id names the control topic and the migration:
/// taking it fences every earlier holder (the broker aborts an open transaction of theirs), so
/// two operators changing one migration at once cannot both write: the one that took it first
/// fails at its write with [`RuntimeError::Migration`] saying so, and nothing of its step is
/// written (not its state, not the group's offsets). The state is read after the fence, so a
/// holder always decides on the last committed state.
pub struct StateLock {
    producer: rdkafka::producer::BaseProducer,
    control_topic: String,
    name: String,
    kafka: weft_core::kafka::KafkaConfig,
}

/// The transactional id of the hold on migration `name` in `control_topic`.
pub fn lock_id(control_topic: &str, name: &str) -> String {
    format!("weft-migrate.{control_topic}.{name}")
}

impl StateLock {
    /// Takes the hold on migration `name` (fencing any other) and reads its state (default:
    /// not started).
    pub fn take(
        kafka: &weft_core::kafka::KafkaConfig,
        control_topic: &str,
        name: &str,
    ) -> Result<(StateLock, MigrationState), RuntimeError> {
        use rdkafka::producer::Producer;
        let failed = |what: &str, e: String| {
            RuntimeError::Migration(format!("{what} the hold on migration {name}: {e}"))
        };
        let producer: rdkafka::producer::BaseProducer = kafka
            .client_config()
            .set("transactional.id", lock_id(control_topic, name))
            .set("transaction.timeout.ms", "60000")
            .create()
            .map_err(|e| failed("creating", e.to_string()))?;
        producer
            .init_transactions(Duration::from_secs(60))
            .map_err(|e| failed("taking", e.to_string()))?;
        let state = read_states(kafka, control_topic)?
            .remove(name)
            .unwrap_or_default();
        Ok((
            StateLock {
                producer,
                control_topic: control_topic.to_string(),
                name: name.to_string(),
                kafka: kafka.clone(),
            },
            state,
        ))
    }

    /// Writes `state` and, when given, commits `offsets` (partition -> next offset on `topic`)
    /// for the stopped consumer group `group`, in one transaction. Fails, writing nothing, when
    /// another operator took the hold meanwhile.
    pub fn write(
        self,
        state: &MigrationState,
        offsets: Option<(&str, &str, &BTreeMap<i32, i64>)>,
    ) -> Result<(), RuntimeError> {
        use rdkafka::producer::Producer;
        let name = self.name.clone();
        let failed = |e: String| {
            let lower = e.to_lowercase();
            let fenced = lower.contains("fence") || lower.contains("epoch");
            RuntimeError::Migration(if fenced {
                format!(
                    concat!(
                        "another `weft migrate` took migration {name} over while this step ran ",
                        "({e}); nothing of this step was written: look at `weft migrate status ",
                        "{name}` and run the step again if it is still needed"
                    ),
                    name = name,
                    e = e
                )
            } else {
                format!(
                    "writing migration {name}'s state to {}: {e}",
                    self.control_topic
                )
            })
        };
        let timeout = Duration::from_secs(30);
        self.producer
            .begin_transaction()
            .map_err(|e| failed(e.to_string()))?;
        let written = self.write_in_transaction(state, offsets, timeout);
        if let Err(e) = written {
            // An open transaction on the control topic would hold every reader of it (its last
            // stable offset) until the transaction times out: abort it now (best effort; a
            // fenced producer cannot, and needs not: its successor aborted it).
            let _ = self.producer.abort_transaction(timeout);
            return Err(failed(e));
        }
        self.producer
            .commit_transaction(timeout)
            .map_err(|e| failed(e.to_string()))
    }

    fn write_in_transaction(
        &self,
        state: &MigrationState,
        offsets: Option<(&str, &str, &BTreeMap<i32, i64>)>,
        timeout: Duration,
    ) -> Result<(), String> {
        use rdkafka::producer::{BaseRecord, Producer};
        let value = serde_json::to_vec(state).map_err(|e| e.to_string())?;
        self.producer
            .send(
                BaseRecord::<str, [u8]>::to(&self.control_topic)
                    .key(&self.name)
                    .payload(&value),
            )
            .map_err(|(e, _)| e.to_string())?;
        if let Some((group, topic, next)) = offsets {
            let consumer: BaseConsumer = self
                .kafka
                .client_config()
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .create()
                .map_err(|e| format!("a client of group {group}: {e}"))?;
            let metadata = consumer
                .group_metadata()
                .ok_or_else(|| format!("no group metadata for {group}"))?;
            let mut tpl = TopicPartitionList::new();
            for (p, o) in next {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
                    .map_err(|e| e.to_string())?;
            }
            self.producer
                .send_offsets_to_transaction(&tpl, &metadata, timeout)
                .map_err(|e| format!("committing {group}'s offsets on {topic}: {e}"))?;
        }
        Ok(())
    }
}

/// Per partition of the new topic, where a reader that has read the old topic up to (not
/// including) `next_old[p]` goes on: the offset of the first committed record of the new topic
/// whose stamp is `>= next_old[p]`, or the new topic's last stable offset when there is none.
/// Exact through the stamps (see the module docs); the caller makes sure the mirror has copied
/// everything below `next_old[p]` first.
pub fn translate(
    kafka: &weft_core::kafka::KafkaConfig,
    to_topic: &str,
    next_old: &BTreeMap<i32, i64>,
) -> Result<BTreeMap<i32, i64>, RuntimeError> {
    let reader = translate_reader(kafka, to_topic)?;
    let timeout = Duration::from_secs(30);
    let mut out = BTreeMap::new();
    for (&partition, &wanted) in next_old {
        // A read_committed client's high watermark is the last stable offset.
        let (low, high) = reader
            .fetch_watermarks(to_topic, partition, timeout)
            .map_err(|e| RuntimeError::Migration(format!("{to_topic}[{partition}]: {e}")))?;
        let (mut lo, mut hi, mut best) = (low, high, high);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match first_at(kafka, to_topic, partition, mid, high)? {
                None => hi = mid,
                Some((offset, stamped)) if stamped >= wanted => {
                    best = offset;
                    hi = mid;
                }
                Some((offset, _)) => lo = offset + 1,
            }
        }
        out.insert(partition, best);
    }
    Ok(out)
}

/// The way back: per partition of the new topic, the old topic's offset a reader that has read
/// the new topic up to (not including) `next_new[p]` goes on from: the stamp of the first
/// committed record at or after `next_new[p]`, or one past the stamp of the last record before
/// it when the reader is at the end (the old records after it were not copied yet).
pub fn translate_back(
    kafka: &weft_core::kafka::KafkaConfig,
    new_topic: &str,
    next_new: &BTreeMap<i32, i64>,
) -> Result<BTreeMap<i32, i64>, RuntimeError> {
    let reader = translate_reader(kafka, new_topic)?;
    let timeout = Duration::from_secs(30);
    let mut out = BTreeMap::new();
    for (&partition, &next) in next_new {
        let (low, high) = reader
            .fetch_watermarks(new_topic, partition, timeout)
            .map_err(|e| RuntimeError::Migration(format!("{new_topic}[{partition}]: {e}")))?;
        if let Some((_, stamped)) = first_at(kafka, new_topic, partition, next, high)? {
            out.insert(partition, stamped);
            continue;
        }
        // At the end: the last record before `next`, looked for in growing windows.
        let mut window = 64;
        let old = loop {
            let from = (next - window).max(low);
            let mut last = None;
            let mut at = from;
            while let Some((offset, stamped)) = first_at(kafka, new_topic, partition, at, next)? {
                last = Some(stamped);
                at = offset + 1;
            }
            match last {
                Some(stamped) => break Some(stamped + 1),
                None if from == low => break None,
                None => window *= 4,
            }
        };
        // No stamped record before the group's position (retention, or only aborted
        // records): refuse rather than guess.
        let old = old.ok_or_else(|| {
            RuntimeError::Migration(format!(
                "{new_topic}[{partition}] has no stamped record before offset {next}: the old \
                 topic's offset cannot be derived"
            ))
        })?;
        out.insert(partition, old);
    }
    Ok(out)
}

/// A read_committed reader of `topic` for the translation (no group membership, no commits).
fn translate_reader(
    kafka: &weft_core::kafka::KafkaConfig,
    topic: &str,
) -> Result<BaseConsumer, RuntimeError> {
    kafka
        .client_config()
        .set("group.id", "weft-migrate-translate")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(|e| RuntimeError::Migration(format!("a reader of {topic}: {e}")))
}

/// The first committed record of `topic[partition]` at or after `from` and below `end`: its
/// offset and the old offset its stamp names. A fresh reader per probe: a reader reassigned
/// between reads may hand the previous read's end-of-partition event to the next (seen in
/// `parking::restore`), which would make a range with records look empty.
fn first_at(
    kafka: &weft_core::kafka::KafkaConfig,
    topic: &str,
    partition: i32,
    from: i64,
    end: i64,
) -> Result<Option<(i64, i64)>, RuntimeError> {
    use rdkafka::message::{Headers, Message};
    let failed = |e: String| RuntimeError::Migration(format!("reading {topic}[{partition}]: {e}"));
    if from >= end {
        return Ok(None);
    }
    let reader = translate_reader(kafka, topic)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))
        .map_err(|e| failed(e.to_string()))?;
    reader.assign(&tpl).map_err(|e| failed(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "no record and no end between {from} and {end} within 30 s"
            )));
        }
        let Some(msg) = reader.poll(Duration::from_millis(100)) else {
            continue;
        };
        // The end of what a read_committed reader may see (only markers or aborted records
        // were left before `end`).
        if let Err(rdkafka::error::KafkaError::PartitionEOF(_)) = msg {
            return Ok(None);
        }
        let msg = msg.map_err(|e| failed(e.to_string()))?;
        if msg.offset() >= end {
            return Ok(None);
        }
        let stamp = msg
            .headers()
            .and_then(|hs| {
                hs.iter()
                    .find(|h| h.key == MIGRATED_FROM)
                    .and_then(|h| h.value)
            })
            .and_then(parse_stamp)
            .ok_or_else(|| {
                failed(format!(
                    "the record at offset {} has no {MIGRATED_FROM} stamp: something other than \
                     the migration wrote to the new topic",
                    msg.offset()
                ))
            })?;
        return Ok(Some((msg.offset(), stamp.1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back() {
        assert_eq!(parse_stamp(stamp(2, 417).as_bytes()), Some((2, 417)));
        assert_eq!(parse_stamp(b"2"), None);
        assert_eq!(parse_stamp(b"x:1"), None);
    }

    #[test]
    fn a_copy_without_its_old_records_delivery_report_aborts() {
        let pairs: Vec<(String, String)> = Vec::new();
        let dual = DualWrites::new(&weft_core::kafka::KafkaConfig::local(), &pairs).unwrap();
        let copy = Output {
            topic: "a.b.c.v2".into(),
            key: Some(b"k".to_vec()),
            value: vec![0],
            headers: vec![
                (h::EVENT_ID.into(), b"e1".to_vec()),
                (COPY_OF.into(), b"a.b.c".to_vec()),
            ],
            partition: None,
        };
        assert!(is_copy(&copy));
        let e = dual.release(vec![copy], &[], &|| {}).unwrap_err();
        assert!(e.contains("no delivery report"), "{e}");
    }

    #[test]
    fn a_block_another_producer_wrote_into_aborts() {
        let dual = DualWrites::new(&weft_core::kafka::KafkaConfig::local(), &[]).unwrap();
        let copy = |id: &str| Output {
            topic: "a.b.c.v2".into(),
            key: Some(b"k".to_vec()),
            value: vec![0],
            headers: vec![
                (h::EVENT_ID.into(), id.as_bytes().to_vec()),
                (COPY_OF.into(), b"a.b.c".to_vec()),
            ],
            partition: None,
        };
        let at = |id: &str, offset: i64| Delivered {
            event_id: id.into(),
            topic: "a.b.c.v1".into(),
            partition: 0,
            offset,
        };
        // 10 and 12 are ours, 11 is someone else's.
        let e = dual
            .release(
                vec![copy("e1"), copy("e2")],
                &[at("e1", 10), at("e2", 12)],
                &|| {},
            )
            .unwrap_err();
        assert!(e.contains("another producer wrote into"), "{e}");
    }
}
