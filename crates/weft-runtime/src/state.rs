//! Keyed state in Kafka: a processor's stores, their changelogs and their restore.
//!
//! A processor declares a store with [`crate::Processor::store`] (a name and an Avro value type)
//! and handles events with [`crate::Processor::on_stateful`], whose function gets a [`State`]:
//! `state.store::<V>("name")?` is a typed view ([`Store`]) of the store's keys in the input's
//! partition — `get`, `put`, `delete`. The function stays pure; the runtime owns the rest:
//!
//! - **Same transaction.** Every `put`/`delete` becomes a record of the store's compacted
//!   changelog `<group>.<store>.changelog` (key = the store key, value = the Avro value in the
//!   Confluent wire format with the subject `<changelog>-value`, a tombstone for a delete), in
//!   partition `p` for an input of partition `p`, produced in the transaction that carries the
//!   outputs and commits the input offsets: state, outputs and offsets commit or abort together.
//! - **Open-transaction overlay.** Writes of the open transaction are kept apart from what is
//!   committed ([`Stores::commit`] merges them, [`Stores::abort`] drops them), so an abort —
//!   and the rewind to the committed offsets that follows it — finds the state those offsets
//!   were committed with. A failing input (retried, dead-lettered) changes nothing: its writes
//!   are dropped with it.
//! - **Restore.** On assignment the loop pauses the new partitions (of every input and retry
//!   tier), seeks them to the committed offsets and reads their changelog partitions
//!   (read_committed) to the end, once every transaction already written to them is decided (a
//!   previous owner's commit in flight: [`crate::settled`]), in a thread of their own
//!   ([`Restorer`]); the other partitions go
//!   on meanwhile. Once read, the state is installed and the partitions resume. A pod keeps
//!   nothing on disk: any replica can take any partition. `/health/ready` is false while a
//!   restore runs.
//! - **Evolution.** A store's value schema is registered under `<changelog>-value` at start, so
//!   the registry's compatibility rules gate a change of the value type like any contract; a
//!   value written with an older schema is resolved to the current one when read.
//!
//! Requirements, checked at start ([`crate::txn_loop`]): the loop must own partition `p` of every
//! input, retry tier and changelog together — equal partition counts and the classic protocol's
//! range assignor, as for per-key ordering — and the group spec (`topics/groups/<group>.yaml`)
//! must declare the same `stores:` as the code, since provisioning creates the changelogs from it.
//!
//! Failure modes: a changelog value that does not decode (written by a type that is not the
//! store's) is fatal for the processor (`ProcessError::Fatal`): state is never guessed. A restore
//! that makes no progress for 60 s stops the loop ([`RuntimeError::Fatal`]). The registry
//! refusing a changed value schema (incompatible) stops the processor at start.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use apache_avro::{AvroSchema, Schema};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use serde::Serialize;
use weft_core::kafka::KafkaConfig;

use crate::metrics::Metrics;
use crate::processor::ProcessError;
use crate::schemas::SchemaSource;
use crate::RuntimeError;

/// A type a store can hold: serde and an Avro schema (`#[derive(AvroSchema)]`).
pub trait StateValue: Serialize + DeserializeOwned + AvroSchema + Send + 'static {}
impl<T: Serialize + DeserializeOwned + AvroSchema + Send + 'static> StateValue for T {}

/// A store as a processor declares it.
#[derive(Debug, Clone)]
pub struct StoreDecl {
    pub name: &'static str,
    /// The Rust type of its values (for error messages).
    pub value_type: &'static str,
    pub schema: Schema,
}

impl StoreDecl {
    pub(crate) fn of<V: StateValue>(name: &'static str) -> Self {
        StoreDecl {
            name,
            value_type: std::any::type_name::<V>(),
            schema: V::get_schema(),
        }
    }
}

/// One store's data in this process.
struct StoreData {
    decl: StoreDecl,
    /// The value schema compiled for direct decoding and encoding (`None`: it does not compile,
    /// and values go through apache-avro's `Value` path).
    plan: Option<weft_contracts::direct::Plan>,
    /// Registry id of the value schema (set by [`Stores::resolve`]).
    id: Option<u32>,
    /// Per installed partition: key -> framed value, as committed.
    committed: HashMap<i32, HashMap<String, Vec<u8>>>,
    /// Writes of the open transaction: per partition, key -> framed value, `None` = deleted.
    dirty: HashMap<i32, HashMap<String, Option<Vec<u8>>>>,
}

/// Every store of one processor, shared by the processor (which reads and writes them) and the
/// transaction loop (which commits, aborts, forgets and restores them).
pub struct Stores {
    data: Mutex<Vec<StoreData>>,
    schemas: Arc<dyn SchemaSource>,
    /// Per (writer schema id, store index): whether the writer's schema is the store's own.
    identical: Mutex<HashMap<(u32, usize), bool>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// One write of a store, as it goes to the changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub store: &'static str,
    pub partition: i32,
    pub key: String,
    /// Framed Avro value; `None` is a delete (a tombstone).
    pub value: Option<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a processor function is caught by the loop, which then stops: the data is not
    // used after that, so a poisoned lock is taken as it is.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Stores {
    pub(crate) fn new(decls: &[StoreDecl], schemas: Arc<dyn SchemaSource>) -> Self {
        Stores {
            data: Mutex::new(
                decls
                    .iter()
                    .map(|d| StoreData {
                        plan: weft_contracts::direct::Plan::new(&d.schema).ok(),
                        decl: d.clone(),
                        id: None,
                        committed: HashMap::new(),
                        dirty: HashMap::new(),
                    })
                    .collect(),
            ),
            schemas,
            identical: Mutex::new(HashMap::new()),
        }
    }

    /// The stores' names, in declaration order.
    pub fn names(&self) -> Vec<&'static str> {
        lock(&self.data).iter().map(|s| s.decl.name).collect()
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.data).is_empty()
    }

    /// Registers each store's value schema under `<changelog>-value` (`changelog` maps a store
    /// name to its topic on the wire) and keeps its id. The registry's compatibility rules apply:
    /// an incompatible change of a value type is refused here, at start.
    pub(crate) fn resolve(&self, changelog: impl Fn(&str) -> String) -> Result<(), RuntimeError> {
        let mut data = lock(&self.data);
        for s in data.iter_mut() {
            let topic = changelog(s.decl.name);
            let id = self
                .schemas
                .register_value_schema(&topic, &s.decl.schema)
                .map_err(|e| {
                    RuntimeError::Registry(format!(
                        "store {} ({}): registering its value schema for {topic}: {e}",
                        s.decl.name, s.decl.value_type
                    ))
                })?;
            s.id = Some(id);
        }
        Ok(())
    }

    /// The state of one input record's partition, for its handler. Holds the stores' lock
    /// until dropped.
    pub(crate) fn state(&self, partition: i32) -> State<'_> {
        State {
            stores: self,
            data: lock(&self.data),
            partition,
            writes: Vec::new(),
        }
    }

    /// The open transaction committed: its writes become the committed state.
    pub fn commit(&self) {
        let mut data = lock(&self.data);
        for s in data.iter_mut() {
            for (partition, writes) in std::mem::take(&mut s.dirty) {
                // A partition revoked meanwhile is not this process's any more.
                let Some(committed) = s.committed.get_mut(&partition) else {
                    continue;
                };
                for (key, value) in writes {
                    match value {
                        Some(v) => committed.insert(key, v),
                        None => committed.remove(&key),
                    };
                }
            }
        }
    }

    /// The open transaction aborted: its writes are dropped.
    pub fn abort(&self) {
        for s in lock(&self.data).iter_mut() {
            s.dirty.clear();
        }
    }

    /// Drops the state of `partitions` (revoked).
    pub fn forget(&self, partitions: &BTreeSet<i32>) {
        for s in lock(&self.data).iter_mut() {
            s.committed.retain(|p, _| !partitions.contains(p));
            s.dirty.retain(|p, _| !partitions.contains(p));
        }
    }

    /// Takes `entries` (key -> framed value) as the committed state of `store` in `partition`.
    pub fn install(&self, store: &str, partition: i32, entries: HashMap<String, Vec<u8>>) {
        for s in lock(&self.data).iter_mut() {
            if s.decl.name == store {
                s.committed.insert(partition, entries);
                s.dirty.remove(&partition);
                return;
            }
        }
    }

    /// Installs an empty state for `partition` in every store (a partition with no changelog
    /// yet; the test driver's partition).
    pub fn install_empty(&self, partition: i32) {
        for s in lock(&self.data).iter_mut() {
            s.committed.entry(partition).or_default();
        }
    }

    /// Keys per (store, partition), committed.
    pub fn sizes(&self) -> Vec<(&'static str, i32, usize)> {
        let data = lock(&self.data);
        let mut out = Vec::new();
        for s in data.iter() {
            for (p, m) in &s.committed {
                out.push((s.decl.name, *p, m.len()));
            }
        }
        out.sort_unstable();
        out
    }

    /// The committed value of `key` in `store`, any partition (for tests and the driver).
    pub fn committed<V: StateValue>(&self, store: &str, key: &str) -> Result<Option<V>, String> {
        let data = lock(&self.data);
        let (i, s) = data
            .iter()
            .enumerate()
            .find(|(_, s)| s.decl.name == store)
            .ok_or_else(|| format!("no store named {store}"))?;
        for m in s.committed.values() {
            if let Some(v) = m.get(key) {
                return self
                    .decode::<V>(i, s, key, v)
                    .map(Some)
                    .map_err(|e| e.to_string());
            }
        }
        Ok(None)
    }

    /// Decodes one framed value of store `i`.
    fn decode<V: StateValue>(
        &self,
        i: usize,
        s: &StoreData,
        key: &str,
        framed: &[u8],
    ) -> Result<V, ProcessError> {
        let corrupt = |why: String| {
            ProcessError::Fatal(format!(
                "store {} key {key}: the changelog value does not read as {}: {why}",
                s.decl.name, s.decl.value_type
            ))
        };
        let (id, body) = weft_core::wire::split(framed).map_err(|e| corrupt(e.to_string()))?;
        let own = &s.decl.schema;
        let direct = |body: &[u8]| match &s.plan {
            Some(plan) => plan.decode(body),
            None => weft_contracts::codec::decode(own, body),
        };
        if Some(id) == s.id {
            return direct(body).map_err(|e| corrupt(e.to_string()));
        }
        let writer = self.schemas.writer_schema(id).map_err(|e| match e {
            RuntimeError::SchemaNotFound(m) => corrupt(format!("unknown schema id {id}: {m}")),
            other => ProcessError::Unavailable(other.to_string()),
        })?;
        let identical = *lock(&self.identical)
            .entry((id, i))
            .or_insert_with(|| writer.canonical_form() == own.canonical_form());
        if identical {
            return direct(body).map_err(|e| corrupt(e.to_string()));
        }
        weft_contracts::codec::decode_resolved(&writer, Some(own), body)
            .map_err(|e| corrupt(e.to_string()))
    }
}

/// The stores as one input's handler sees them: its partition's keys, its own writes first.
pub struct State<'a> {
    stores: &'a Stores,
    data: MutexGuard<'a, Vec<StoreData>>,
    partition: i32,
    /// This input's writes, in order: (store index, key, framed value or `None`).
    writes: Vec<(usize, String, Option<Vec<u8>>)>,
}

impl<'a> State<'a> {
    /// The store `name`, holding values of `V` (the type it was declared with).
    pub fn store<V: StateValue>(&mut self, name: &str) -> Result<Store<'_, 'a, V>, ProcessError> {
        let index = self
            .data
            .iter()
            .position(|s| s.decl.name == name)
            .ok_or_else(|| {
                ProcessError::Fatal(format!(
                    "no store named {name}; declare it with .store::<{}>(\"{name}\")",
                    std::any::type_name::<V>()
                ))
            })?;
        let s = &self.data[index];
        // By type: deriving V's schema and comparing canonical forms on every call costs more
        // than the read itself.
        if std::any::type_name::<V>() != s.decl.value_type {
            return Err(ProcessError::Fatal(format!(
                "store {name} holds {}, not {}",
                s.decl.value_type,
                std::any::type_name::<V>()
            )));
        }
        if !s.committed.contains_key(&self.partition) {
            // The loop never hands out a record of a partition that is being restored.
            return Err(ProcessError::Fatal(format!(
                "store {name}: partition {} is not restored",
                self.partition
            )));
        }
        Ok(Store {
            state: self,
            index,
            value: PhantomData,
        })
    }

    /// The partition whose state this is.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Ends the input successfully: its writes join the open transaction's and are returned, to
    /// be produced to the changelogs.
    pub(crate) fn finish(mut self) -> Vec<Change> {
        let mut changes = Vec::with_capacity(self.writes.len());
        let partition = self.partition;
        for (i, key, value) in std::mem::take(&mut self.writes) {
            let s = &mut self.data[i];
            s.dirty
                .entry(partition)
                .or_default()
                .insert(key.clone(), value.clone());
            changes.push(Change {
                store: s.decl.name,
                partition,
                key,
                value,
            });
        }
        changes
    }
}

/// A typed view of one store in one input's partition.
pub struct Store<'s, 'a, V> {
    state: &'s mut State<'a>,
    index: usize,
    value: PhantomData<V>,
}

impl<V: StateValue> Store<'_, '_, V> {
    /// The value of `key`: this input's own write, else the open transaction's, else the
    /// committed one.
    pub fn get(&self, key: &str) -> Result<Option<V>, ProcessError> {
        let st = &*self.state;
        let own = st
            .writes
            .iter()
            .rev()
            .find(|(i, k, _)| *i == self.index && k == key)
            .map(|(_, _, v)| v.as_deref());
        let s = &st.data[self.index];
        let found = match own {
            Some(v) => v,
            None => match s.dirty.get(&st.partition).and_then(|d| d.get(key)) {
                Some(v) => v.as_deref(),
                None => s
                    .committed
                    .get(&st.partition)
                    .and_then(|c| c.get(key))
                    .map(Vec::as_slice),
            },
        };
        match found {
            None => Ok(None),
            Some(framed) => st.stores.decode::<V>(self.index, s, key, framed).map(Some),
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &V) -> Result<(), ProcessError> {
        let s = &self.state.data[self.index];
        let id = s.id.ok_or_else(|| {
            ProcessError::Fatal(format!(
                "store {}: its value schema was not registered",
                s.decl.name
            ))
        })?;
        let body = match &s.plan {
            Some(plan) => plan.encode(value),
            None => weft_contracts::codec::encode(&s.decl.schema, value),
        }
        .map_err(|e| {
            ProcessError::Fatal(format!(
                "store {} key {key}: the value does not encode: {e}",
                s.decl.name
            ))
        })?;
        self.state.writes.push((
            self.index,
            key.to_string(),
            Some(weft_core::wire::frame(id, &body)),
        ));
        Ok(())
    }

    /// Removes `key` (a tombstone in the changelog).
    pub fn delete(&mut self, key: &str) {
        self.state.writes.push((self.index, key.to_string(), None));
    }
}

/// What one restore read: per (store, partition), key -> framed value.
type Restored = Vec<(String, i32, HashMap<String, Vec<u8>>)>;

/// The answer of one restore thread.
struct Finished {
    generation: u64,
    result: Result<Restored, String>,
    took: Duration,
}

/// Restores assigned partitions' stores from their changelogs, one thread per assignment, while
/// the loop goes on with the partitions it has.
pub(crate) struct Restorer {
    stores: Arc<Stores>,
    /// (store name, changelog topic on the wire).
    changelogs: Vec<(String, String)>,
    kafka: KafkaConfig,
    group: String,
    processor: String,
    metrics: Option<Metrics>,
    /// Partitions being restored, with the restore that reads them.
    pending: BTreeMap<i32, u64>,
    generation: u64,
    tx: mpsc::Sender<Finished>,
    rx: mpsc::Receiver<Finished>,
    /// Set to stop the threads (the loop is ending).
    stop: Arc<AtomicBool>,
    /// The (store, partition) series of `weft_state_keys` this loop shows.
    shown: Mutex<BTreeSet<(&'static str, i32)>>,
}

impl Drop for Restorer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Restorer {
    pub(crate) fn new(
        stores: Arc<Stores>,
        changelogs: Vec<(String, String)>,
        kafka: &KafkaConfig,
        group: &str,
        processor: &str,
        metrics: Option<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        Restorer {
            stores,
            changelogs,
            kafka: kafka.clone(),
            group: group.to_string(),
            processor: processor.to_string(),
            metrics,
            pending: BTreeMap::new(),
            generation: 0,
            tx,
            rx,
            stop: Arc::new(AtomicBool::new(false)),
            shown: Mutex::new(BTreeSet::new()),
        }
    }

    pub(crate) fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// Whether partition `p` is being restored.
    pub(crate) fn is_restoring(&self, p: i32) -> bool {
        self.pending.contains_key(&p)
    }

    /// Whether any restore is running.
    pub(crate) fn restoring(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The partitions being restored.
    pub(crate) fn pending(&self) -> BTreeSet<i32> {
        self.pending.keys().copied().collect()
    }

    /// `partitions` were revoked: their state goes, their restore is no longer wanted.
    pub(crate) fn forget(&mut self, partitions: &BTreeSet<i32>) {
        for p in partitions {
            self.pending.remove(p);
        }
        self.stores.forget(partitions);
        self.show();
    }

    /// Starts reading the changelogs of `partitions` (already paused by the loop).
    pub(crate) fn begin(&mut self, partitions: &BTreeSet<i32>) {
        self.generation += 1;
        let generation = self.generation;
        self.stores.forget(partitions);
        for p in partitions {
            self.pending.insert(*p, generation);
        }
        self.show();
        let tx = self.tx.clone();
        let kafka = self.kafka.clone();
        let reader_group = format!("{}.state-restore", self.group);
        let changelogs = self.changelogs.clone();
        let partitions = partitions.clone();
        let metrics = self.metrics.clone();
        let processor = self.processor.clone();
        let stop = self.stop.clone();
        tracing::info!(?partitions, "restoring {:?}", self.changelogs);
        let spawned = std::thread::Builder::new()
            .name(format!("{}-restore", self.processor))
            .spawn(move || {
                let started = Instant::now();
                // A panic in the reader must still answer, or its partitions stay paused.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    read_changelogs(
                        &kafka,
                        &reader_group,
                        &changelogs,
                        &partitions,
                        &stop,
                        |store| {
                            if let Some(m) = &metrics {
                                m.state_restored
                                    .with_label_values(&[processor.as_str(), store])
                                    .inc();
                            }
                        },
                    )
                }))
                .unwrap_or_else(|_| Err("the restore thread panicked".into()));
                let _ = tx.send(Finished {
                    generation,
                    result,
                    took: started.elapsed(),
                });
            });
        if let Err(e) = spawned {
            let _ = self.tx.send(Finished {
                generation,
                result: Err(format!("cannot start a restore thread: {e}")),
                took: Duration::ZERO,
            });
        }
    }

    /// Installs what finished restores read; returns the partitions now ready (to resume).
    pub(crate) fn take_finished(&mut self) -> Result<BTreeSet<i32>, RuntimeError> {
        let mut ready = BTreeSet::new();
        while let Ok(done) = self.rx.try_recv() {
            let mine: BTreeSet<i32> = self
                .pending
                .iter()
                .filter(|(_, g)| **g == done.generation)
                .map(|(p, _)| *p)
                .collect();
            // A restore of partitions revoked meanwhile is not wanted any more, failed or not.
            if mine.is_empty() {
                continue;
            }
            let restored = done.result.map_err(|e| RuntimeError::Fatal {
                operation: format!("restoring the stores of {}", self.processor),
                message: e,
            })?;
            let mut records = 0;
            for (store, partition, entries) in restored {
                if mine.contains(&partition) {
                    records += entries.len();
                    self.stores.install(&store, partition, entries);
                }
            }
            for p in &mine {
                self.stores.install_empty(*p);
                self.pending.remove(p);
            }
            if let Some(m) = &self.metrics {
                m.state_restore_seconds
                    .with_label_values(&[self.processor.as_str()])
                    .observe(done.took.as_secs_f64());
            }
            tracing::info!(
                partitions = ?mine,
                keys = records,
                "stores restored in {:.3?}",
                done.took
            );
            ready.extend(mine);
        }
        if !ready.is_empty() {
            self.show();
        }
        Ok(ready)
    }

    /// Store sizes and restores in progress, as gauges.
    pub(crate) fn show(&self) {
        let Some(m) = &self.metrics else { return };
        m.state_restoring
            .with_label_values(&[self.processor.as_str()])
            .set(self.pending.len() as i64);
        let sizes = self.stores.sizes();
        let mut shown = lock(&self.shown);
        let now: BTreeSet<(&'static str, i32)> = sizes.iter().map(|(s, p, _)| (*s, *p)).collect();
        for (store, partition) in shown.difference(&now) {
            let _ = m.state_keys.remove_label_values(&[
                self.processor.as_str(),
                store,
                &partition.to_string(),
            ]);
        }
        for (store, partition, keys) in sizes {
            m.state_keys
                .with_label_values(&[self.processor.as_str(), store, &partition.to_string()])
                .set(keys as i64);
        }
        *shown = now;
    }
}

/// Reads `partitions` of every changelog (read_committed) from the start to the end: the latest
/// value per key, deleted keys left out. `progress` is called per record read.
fn read_changelogs(
    kafka: &KafkaConfig,
    reader_group: &str,
    changelogs: &[(String, String)],
    partitions: &BTreeSet<i32>,
    stop: &AtomicBool,
    progress: impl Fn(&str),
) -> Result<Restored, String> {
    let mut out = Vec::new();
    // One reader per changelog: an end-of-partition event names the partition, not the topic.
    for (store, topic) in changelogs {
        for (p, entries) in
            read_changelog_until(kafka, reader_group, topic, partitions, stop, || {
                progress(store)
            })?
        {
            out.push((store.clone(), p, entries));
        }
    }
    Ok(out)
}

/// A changelog reader's context: the end of a partition is what it waits for, not an error to
/// log (librdkafka reports it through the error callback too).
struct QuietEof;

impl rdkafka::ClientContext for QuietEof {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        // It comes as a partition's EOF or, from the error callback, as a global one.
        if !matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::error!("changelog reader: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for QuietEof {}

/// Reads `partitions` of the changelog `topic` as a restore does (read_committed, from the start
/// to the end, the latest value per key, deleted keys left out); `reader_group` names the reader.
/// For tools and benchmarks.
pub fn read_changelog(
    kafka: &KafkaConfig,
    reader_group: &str,
    topic: &str,
    partitions: &BTreeSet<i32>,
) -> Result<BTreeMap<i32, HashMap<String, Vec<u8>>>, String> {
    read_changelog_until(
        kafka,
        reader_group,
        topic,
        partitions,
        &AtomicBool::new(false),
        || {},
    )
}

/// Reads `partitions` of `topic` to their end (see [`read_changelogs`]), until `stop`.
fn read_changelog_until(
    kafka: &KafkaConfig,
    reader_group: &str,
    topic: &str,
    partitions: &BTreeSet<i32>,
    stop: &AtomicBool,
    progress: impl Fn(),
) -> Result<BTreeMap<i32, HashMap<String, Vec<u8>>>, String> {
    // A new reader each time: one kept between restores would hand the previous restore's
    // end-of-partition events to the next (see the parking topic's restore).
    let consumer: BaseConsumer<QuietEof> = kafka
        .client_config()
        .set("group.id", reader_group)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        // The end is what a restore waits for: no broker-side wait on an empty fetch.
        .set("fetch.wait.max.ms", "10")
        .create_with_context(QuietEof)
        .map_err(|e| format!("creating a reader of {topic}: {e}"))?;
    // A transaction still open on these partitions hides what was committed after it (see
    // `crate::settled`): wait until it is decided.
    let waiting_since = Instant::now();
    crate::settled::await_decided(&consumer, kafka, topic, partitions, || {
        if stop.load(Ordering::SeqCst) {
            return Err("the loop is stopping".into());
        }
        if waiting_since.elapsed() > Duration::from_secs(40) {
            return Err(format!(
                "a transaction on {topic} partitions {partitions:?} was not decided within 40 s"
            ));
        }
        Ok(())
    })?;
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(|e| format!("assigning {topic}[{p}]: {e}"))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| format!("assigning {topic}: {e}"))?;
    let mut state: BTreeMap<i32, HashMap<String, Vec<u8>>> =
        partitions.iter().map(|p| (*p, HashMap::new())).collect();
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    let mut last_progress = Instant::now();
    while at_end.len() < partitions.len() {
        if stop.load(Ordering::SeqCst) {
            return Err("the loop is stopping".into());
        }
        if last_progress.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "no progress for 60 s reading {topic} partitions {partitions:?} ({} of {} at their end)",
                at_end.len(),
                partitions.len()
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                last_progress = Instant::now();
            }
            Some(Err(e)) if weft_core::kafka::is_transient(&e) => {
                tracing::warn!("restoring {topic}: {e}; retrying");
            }
            Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
            Some(Ok(m)) => {
                last_progress = Instant::now();
                at_end.remove(&m.partition());
                let Some(key) = m.key() else { continue };
                progress();
                let entries = state.entry(m.partition()).or_default();
                let key = String::from_utf8_lossy(key).into_owned();
                match m.payload() {
                    None | Some(b"") => {
                        entries.remove(&key);
                    }
                    Some(v) => {
                        entries.insert(key, v.to_vec());
                    }
                }
            }
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::LocalSchemas;

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, AvroSchema)]
    struct Count {
        n: i64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, AvroSchema)]
    struct Other {
        s: String,
    }

    fn stores() -> Stores {
        let s = Stores::new(
            &[StoreDecl::of::<Count>("counts")],
            Arc::new(LocalSchemas::new()),
        );
        s.resolve(|name| format!("g.{name}.changelog")).unwrap();
        s.install_empty(0);
        s
    }

    fn add(stores: &Stores, key: &str, by: i64) -> Vec<Change> {
        let mut state = stores.state(0);
        let mut counts = state.store::<Count>("counts").unwrap();
        let n = counts.get(key).unwrap().map_or(0, |c| c.n) + by;
        counts.put(key, &Count { n }).unwrap();
        state.finish()
    }

    fn read(stores: &Stores, key: &str) -> Option<i64> {
        let mut state = stores.state(0);
        let counts = state.store::<Count>("counts").unwrap();
        counts.get(key).unwrap().map(|c| c.n)
    }

    #[test]
    fn writes_are_seen_in_the_transaction_and_kept_or_dropped_with_it() {
        let s = stores();
        let changes = add(&s, "a", 2);
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].store, changes[0].partition), ("counts", 0));
        add(&s, "a", 3);
        assert_eq!(
            read(&s, "a"),
            Some(5),
            "the open transaction's writes are read"
        );
        s.abort();
        assert_eq!(read(&s, "a"), None, "an abort drops them");
        add(&s, "a", 4);
        s.commit();
        s.abort();
        assert_eq!(read(&s, "a"), Some(4), "a commit keeps them");
        assert_eq!(
            s.committed::<Count>("counts", "a").unwrap(),
            Some(Count { n: 4 })
        );
    }

    #[test]
    fn an_unfinished_input_changes_nothing_and_deletes_are_tombstones() {
        let s = stores();
        add(&s, "a", 1);
        s.commit();
        {
            // A failing input: its state is dropped without finish().
            let mut state = s.state(0);
            let mut counts = state.store::<Count>("counts").unwrap();
            counts.put("a", &Count { n: 99 }).unwrap();
            assert_eq!(counts.get("a").unwrap(), Some(Count { n: 99 }));
        }
        assert_eq!(read(&s, "a"), Some(1));
        let mut state = s.state(0);
        state.store::<Count>("counts").unwrap().delete("a");
        let changes = state.finish();
        assert_eq!(changes[0].value, None);
        s.commit();
        assert_eq!(read(&s, "a"), None);
    }

    #[test]
    fn a_wrong_type_an_unknown_store_and_an_unrestored_partition_are_fatal() {
        let s = stores();
        let mut state = s.state(0);
        assert!(
            matches!(state.store::<Other>("counts"), Err(ProcessError::Fatal(m)) if m.contains("holds"))
        );
        assert!(
            matches!(state.store::<Count>("nope"), Err(ProcessError::Fatal(m)) if m.contains("no store named nope"))
        );
        drop(state);
        let mut state = s.state(7);
        assert!(
            matches!(state.store::<Count>("counts"), Err(ProcessError::Fatal(m)) if m.contains("not restored"))
        );
    }

    #[test]
    fn forgetting_a_partition_drops_its_keys_and_its_open_writes() {
        let s = stores();
        s.install_empty(1);
        add(&s, "a", 1);
        s.commit();
        add(&s, "a", 1);
        s.forget(&BTreeSet::from([0]));
        s.commit();
        assert_eq!(s.sizes(), vec![("counts", 1, 0)]);
        let mut state = s.state(0);
        assert!(state.store::<Count>("counts").is_err());
    }

    #[test]
    fn installed_values_are_read_and_garbage_is_fatal() {
        let s = stores();
        let framed = {
            let mut state = s.state(0);
            state
                .store::<Count>("counts")
                .unwrap()
                .put("x", &Count { n: 41 })
                .unwrap();
            state.finish().remove(0).value.unwrap()
        };
        s.abort();
        s.install(
            "counts",
            3,
            HashMap::from([
                ("x".to_string(), framed),
                ("bad".to_string(), vec![0, 0, 0, 0, 1, 0xFF]),
            ]),
        );
        let mut state = s.state(3);
        let counts = state.store::<Count>("counts").unwrap();
        assert_eq!(counts.get("x").unwrap(), Some(Count { n: 41 }));
        assert!(
            matches!(counts.get("bad"), Err(ProcessError::Fatal(m)) if m.contains("does not read as"))
        );
    }
}
