//! The typed processor API: what a processor author writes.
//!
//! A processor is a set of pure functions, one per input contract, from one decoded input event
//! ([`In<P>`]: key, headers, envelope, typed payload) to zero or more output events ([`Out`]),
//! failing with a [`ProcessError`] that says poison, transient or fatal. It never touches Kafka.
//!
//! ```ignore
//! fn confirm(order: &In<OrderPlaced>) -> Result<Vec<Out>, ProcessError> {
//!     Ok(vec![order.emit(0, NotificationRequested { .. })])
//! }
//! Processor::new("b2b.notification-worker")
//!     .on::<OrderPlaced>(confirm)
//!     .emits::<NotificationRequested>()
//! ```
//!
//! [`Processor`] is the registration: its name is the consumer group (`<system>.<service>`), the
//! `producer` of its outputs and the first half of its transactional id. [`TypedProcessor`] turns
//! it into the record-level [`RecordProcessor`] the transaction loop drives:
//!
//! 1. the value is split from its Confluent 5-byte header, the writer schema fetched by id (cached)
//!    and the datum resolved to the contract's schema — a bad magic byte, an unknown schema id or
//!    corrupt Avro is [`ProcessError::Undecodable`] and the record is dead-lettered unchanged;
//! 2. the handler of the record's topic runs (a record from a retry topic is dispatched by its
//!    `weft-dlq-source-topic` header);
//! 3. each output is encoded with its contract's schema, framed with that schema's registry id
//!    for `<topic>-value`, keyed by its entity id, and given the headers `traceparent` (a child of
//!    the input's), `weft-event-type`, `weft-event-id` and `weft-schema-version`.
//!
//! Envelope rules ([`In::emit`]): each output has a new event id (deterministic, so a replayed
//! input yields the same ids), inherits correlation id, tenant, user, session and trace id, has
//! `causation_id` = the input's event id and `producer` = the processor's name.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use apache_avro::Schema;
use weft_contracts::direct::Plan;
use weft_contracts::{Catalog, Contract, Event, EventMetadata, Example};
use weft_core::headers as h;

use crate::metrics::Metrics;
use crate::processor::{Output, ProcessError, Record, RecordProcessor};
use crate::schemas::SchemaSource;
use crate::sink::{MemorySinks, SinkLine, SinkWriter};
use crate::state::{Change, State, StateValue, StoreDecl, Stores};
use crate::trace::TraceParent;
use crate::RuntimeError;

/// One decoded input event, as a processor sees it.
#[derive(Debug, Clone)]
pub struct In<P> {
    /// The processor handling it (the `producer` of outputs).
    pub processor: &'static str,
    /// The topic the event was first published to (for a retried record, its original topic).
    pub topic: String,
    /// Partition and offset of the record consumed.
    pub partition: i32,
    /// Offset of the record consumed.
    pub offset: i64,
    /// The Kafka key, as UTF-8.
    pub key: Option<String>,
    /// The record's headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How many times this event was attempted before (0 on first delivery).
    pub attempt: u32,
    /// For an event fanned out to several entities ([`Processor::on_stateful_by_each`]): the
    /// entity this copy is for (its key). `None` otherwise.
    pub part: Option<String>,
    /// The decoded event: envelope and payload.
    pub event: Event<P>,
}

impl<P: Contract> In<P> {
    /// The payload.
    pub fn payload(&self) -> &P {
        &self.event.payload
    }

    /// The envelope.
    pub fn metadata(&self) -> &EventMetadata {
        &self.event.metadata
    }

    /// A header value as UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// An output event of contract `Q` caused by this input, following the envelope rules.
    /// `index` tells apart several outputs of the same contract from one input (one per line
    /// item, say); use 0 otherwise.
    /// A copy of a fanned-out event derives its output ids from its entity too, so the copies'
    /// outputs never share an id.
    pub fn emit<Q: Contract>(&self, index: u32, payload: Q) -> Out {
        let metadata = match &self.part {
            None => self.event.metadata.caused::<Q>(self.processor, index),
            Some(part) => self
                .event
                .metadata
                .caused_for::<Q>(self.processor, part, index),
        };
        Out::new(Event::new(metadata, payload))
    }
}

/// One output event, of any contract.
pub struct Out {
    event: Box<dyn ErasedEvent>,
}

impl Out {
    /// An output carrying `event` as it is (prefer [`In::emit`], which fills the envelope).
    pub fn new<Q: Contract>(event: Event<Q>) -> Self {
        Out {
            event: Box::new(event),
        }
    }

    /// The topic it goes to: the contract's topic.
    pub fn topic(&self) -> &'static str {
        self.event.topic()
    }

    /// The Kafka key: the payload's entity id.
    pub fn key(&self) -> String {
        self.event.key()
    }

    /// Full Avro name of its schema.
    pub fn schema(&self) -> &'static str {
        self.event.schema()
    }

    /// Its envelope.
    pub fn metadata(&self) -> &EventMetadata {
        self.event.metadata()
    }

    /// Its envelope, to change (tests, compliance).
    pub fn metadata_mut(&mut self) -> &mut EventMetadata {
        self.event.metadata_mut()
    }

    /// The event, when it is of contract `Q` (for assertions in tests).
    pub fn event<Q: Contract>(&self) -> Option<&Event<Q>> {
        self.event.as_any().downcast_ref::<Event<Q>>()
    }

    /// Encodes the event (without framing) with `schema`, its contract's self-contained schema.
    pub fn encode(&self, schema: &Schema) -> Result<Vec<u8>, weft_contracts::ContractsError> {
        self.event.encode(schema)
    }

    /// Encodes the event (without framing) with `plan`, its contract's schema compiled.
    pub fn encode_with(&self, plan: &Plan) -> Result<Vec<u8>, weft_contracts::ContractsError> {
        self.event.encode_with(plan)
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.event.fmt(f)
    }
}

trait ErasedEvent: fmt::Debug + Send + Sync {
    fn topic(&self) -> &'static str;
    fn schema(&self) -> &'static str;
    fn key(&self) -> String;
    fn metadata(&self) -> &EventMetadata;
    fn metadata_mut(&mut self) -> &mut EventMetadata;
    fn encode(&self, schema: &Schema) -> Result<Vec<u8>, weft_contracts::ContractsError>;
    fn encode_with(&self, plan: &Plan) -> Result<Vec<u8>, weft_contracts::ContractsError>;
    fn as_any(&self) -> &dyn Any;
}

impl<Q: Contract> ErasedEvent for Event<Q> {
    fn topic(&self) -> &'static str {
        Q::TOPIC
    }
    fn schema(&self) -> &'static str {
        Q::SCHEMA
    }
    fn key(&self) -> String {
        self.payload.key()
    }
    fn metadata(&self) -> &EventMetadata {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut EventMetadata {
        &mut self.metadata
    }
    fn encode(&self, schema: &Schema) -> Result<Vec<u8>, weft_contracts::ContractsError> {
        weft_contracts::codec::encode(schema, self)
    }
    fn encode_with(&self, plan: &Plan) -> Result<Vec<u8>, weft_contracts::ContractsError> {
        plan.encode(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The erased input side of one handler: decode, call, and an example for the compliance test.
trait Handler: Send + Sync {
    fn schema(&self) -> &'static str;
    /// `reader` is `None` when the writer's schema is the contract's own (no resolution): the
    /// body is then decoded straight from the bytes with `plan` (the contract's schema compiled).
    #[allow(clippy::too_many_arguments)]
    fn handle(
        &self,
        writer: &Schema,
        reader: Option<&Schema>,
        plan: &Plan,
        body: &[u8],
        meta: InputMeta,
        seen: &mut Option<Seen>,
        state: &mut State<'_>,
    ) -> Result<Handled, ProcessError>;
    fn example(&self) -> Box<dyn ErasedEvent>;
}

/// What a handler produced: output events, or a sink document.
enum Handled {
    Outs(Vec<Out>),
    Line(SinkLine),
    /// A re-keyed input on its first pass: to the repartition topic under these keys (one
    /// copy each).
    Forward(Vec<String>),
}

/// What the metrics need of a decoded input.
pub(crate) struct Seen {
    occurred_at: chrono::DateTime<chrono::Utc>,
    tenant: Option<String>,
    sla: Option<std::time::Duration>,
}

/// What the runtime knows of an input record besides its value.
struct InputMeta {
    /// The processor handling it.
    processor: &'static str,
    /// Read from the group's repartition topic (a re-keyed input's second pass).
    repartitioned: bool,
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    attempt: u32,
}

/// A processor's function for contract `P`, its result already in the runtime's terms: output
/// events ([`Processor::on`]) or a sink document ([`Processor::sink`]).
type HandlerFn<P> = dyn Fn(&In<P>, &mut State<'_>) -> Result<Handled, ProcessError> + Send + Sync;

struct TypedHandler<P> {
    f: Box<HandlerFn<P>>,
    /// For an input the processor keys by another entity: that entity's id (or, fanned out,
    /// the ids of the entities it touches).
    rekey: Option<Box<RekeyFn<P>>>,
    /// Fanned out: each copy's `In::part` names its entity.
    fan_out: bool,
}

/// The keys a re-keyed input is repartitioned by (one for [`Processor::on_stateful_by`]).
type RekeyFn<P> = dyn Fn(&P) -> Vec<String> + Send + Sync;

impl<P: Contract + Example> Handler for TypedHandler<P> {
    fn schema(&self) -> &'static str {
        P::SCHEMA
    }

    /// Decodes the input (resolving the writer's schema to the contract's), notes what the
    /// metrics need, and calls the function.
    fn handle(
        &self,
        writer: &Schema,
        reader: Option<&Schema>,
        plan: &Plan,
        body: &[u8],
        meta: InputMeta,
        seen: &mut Option<Seen>,
        state: &mut State<'_>,
    ) -> Result<Handled, ProcessError> {
        let decoded = match reader {
            None => plan.decode(body),
            Some(reader) => weft_contracts::codec::decode_resolved(writer, Some(reader), body),
        };
        let event: Event<P> = decoded.map_err(|e| {
            ProcessError::Undecodable(format!("corrupt Avro for {}: {e}", P::SCHEMA))
        })?;
        // A re-keyed input's first pass: observed on its second one only.
        if let (Some(rekey), false) = (&self.rekey, meta.repartitioned) {
            let mut keys = rekey(&event.payload);
            keys.sort();
            keys.dedup();
            return Ok(Handled::Forward(keys));
        }
        *seen = Some(Seen {
            occurred_at: event.metadata.occurred_at,
            tenant: event.metadata.tenant_id.clone(),
            sla: P::PRIORITY.sla(),
        });
        let input = In {
            processor: meta.processor,
            topic: meta.topic,
            partition: meta.partition,
            offset: meta.offset,
            part: if self.fan_out { meta.key.clone() } else { None },
            key: meta.key,
            headers: meta.headers,
            attempt: meta.attempt,
            event,
        };
        (self.f)(&input, state)
    }

    fn example(&self) -> Box<dyn ErasedEvent> {
        let metadata = EventMetadata::new_for::<P>("weft-compliance", "weft-compliance");
        Box::new(Event::new(metadata, P::example()))
    }
}

/// A registered processor: its name (= consumer group), one handler per input topic, and the
/// contracts it may emit.
pub struct Processor {
    name: &'static str,
    handlers: BTreeMap<&'static str, Box<dyn Handler>>,
    emits: BTreeMap<&'static str, &'static str>,
    stores: Vec<StoreDecl>,
    /// Inputs re-keyed through the repartition topic.
    rekeyed: std::collections::BTreeSet<&'static str>,
    /// The sinks its handlers write to.
    sinks: std::collections::BTreeSet<&'static str>,
}

impl fmt::Debug for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Processor")
            .field("name", &self.name)
            .field("inputs", &self.inputs())
            .field("emits", &self.emits)
            .field("stores", &self.store_names())
            .finish()
    }
}

impl Processor {
    /// A processor named `name`: its consumer group, `<system>.<service>`.
    pub fn new(name: &'static str) -> Self {
        Processor {
            name,
            handlers: BTreeMap::new(),
            emits: BTreeMap::new(),
            stores: Vec::new(),
            rekeyed: Default::default(),
            sinks: Default::default(),
        }
    }

    /// The sinks its handlers write to (empty for a processor that emits events).
    pub fn sink_names(&self) -> Vec<&'static str> {
        self.sinks.iter().copied().collect()
    }

    /// Handles events of contract `P` (from `P::TOPIC`) with `f`.
    pub fn on<P: Contract + Example>(
        mut self,
        f: impl Fn(&In<P>) -> Result<Vec<Out>, ProcessError> + Send + Sync + 'static,
    ) -> Self {
        let f = move |i: &In<P>, _: &mut State<'_>| f(i).map(Handled::Outs);
        self.handlers.insert(
            P::TOPIC,
            Box::new(TypedHandler {
                f: Box::new(f),
                rekey: None,
                fan_out: false,
            }),
        );
        self
    }

    /// Handles events of contract `P` with `f`, which also reads and writes the processor's
    /// keyed stores for the event's partition (see [`crate::state`]): its writes commit or abort
    /// with its outputs and the input's offset, and a failing event changes nothing.
    pub fn on_stateful<P: Contract + Example>(
        mut self,
        f: impl Fn(&In<P>, &mut State<'_>) -> Result<Vec<Out>, ProcessError> + Send + Sync + 'static,
    ) -> Self {
        let f = move |i: &In<P>, s: &mut State<'_>| f(i, s).map(Handled::Outs);
        self.handlers.insert(
            P::TOPIC,
            Box::new(TypedHandler {
                f: Box::new(f),
                rekey: None,
                fan_out: false,
            }),
        );
        self
    }

    /// Handles events of contract `P` with `f` and the stores of *another* key than the input's:
    /// each event is first re-keyed by `key` (the entity the state belongs to, a customer for
    /// orders keyed by order id) through the group's repartition topic
    /// `<processor>.repartition`, exactly once like any output, and `f` runs when it comes back
    /// from there, on the partition of that key. The group spec must say `repartition: true`.
    pub fn on_stateful_by<P: Contract + Example>(
        mut self,
        key: impl Fn(&P) -> String + Send + Sync + 'static,
        f: impl Fn(&In<P>, &mut State<'_>) -> Result<Vec<Out>, ProcessError> + Send + Sync + 'static,
    ) -> Self {
        let f = move |i: &In<P>, s: &mut State<'_>| f(i, s).map(Handled::Outs);
        self.handlers.insert(
            P::TOPIC,
            Box::new(TypedHandler {
                f: Box::new(f),
                rekey: Some(Box::new(move |p: &P| vec![key(p)])),
                fan_out: false,
            }),
        );
        self.rekeyed.insert(P::TOPIC);
        self
    }

    /// Handles events of contract `P` that touch **several** entities (an order's products)
    /// with `f` and the stores of each: the event is forwarded once per distinct key `keys`
    /// returns (in the same transaction as its input offset, exactly once), and `f` runs once
    /// per copy on the partition of that key, with [`In::part`] naming the entity; it handles
    /// that entity's part of the event (the lines of that product). Output ids are derived from
    /// the entity too, so copies never emit the same id. An event returning no key is done.
    ///
    /// The copies are independent: one entity's copy may fail (retried, dead-lettered) while
    /// the others' succeed. For a rule that needs all entities at once (reserve every line or
    /// none), route by one key that holds them all instead.
    pub fn on_stateful_by_each<P: Contract + Example>(
        mut self,
        keys: impl Fn(&P) -> Vec<String> + Send + Sync + 'static,
        f: impl Fn(&In<P>, &mut State<'_>) -> Result<Vec<Out>, ProcessError> + Send + Sync + 'static,
    ) -> Self {
        let f = move |i: &In<P>, s: &mut State<'_>| f(i, s).map(Handled::Outs);
        self.handlers.insert(
            P::TOPIC,
            Box::new(TypedHandler {
                f: Box::new(f),
                rekey: Some(Box::new(keys)),
                fan_out: true,
            }),
        );
        self.rekeyed.insert(P::TOPIC);
        self
    }

    /// Where this registration and its group spec disagree on keyed stores or re-keying (empty
    /// when they agree): provisioning creates changelogs and the repartition topic from the spec,
    /// so `weft run` and the compliance test both refuse a mismatch.
    pub fn state_mismatches(&self, group: &weft_core::spec::GroupSpec) -> Vec<String> {
        let name = self.name;
        let mut problems = Vec::new();
        if self.store_names() != group.stores {
            problems.push(format!(
                "{name}: declares stores {:?} but its group spec (topics/groups/{name}.yaml) lists \
                 `stores: {:?}`; provisioning creates changelogs from the spec",
                self.store_names(),
                group.stores
            ));
        }
        if self.repartitions() != group.repartition {
            problems.push(format!(
                "{name}: {} inputs but its group spec (topics/groups/{name}.yaml) says \
                 `repartition: {}`; provisioning creates the repartition topic from the spec",
                if self.repartitions() {
                    "re-keys"
                } else {
                    "re-keys no"
                },
                group.repartition
            ));
        }
        problems
    }

    /// Whether some input is re-keyed through the repartition topic.
    pub fn repartitions(&self) -> bool {
        !self.rekeyed.is_empty()
    }

    /// Declares a keyed store `name` holding values of `V` (Avro, `#[derive(AvroSchema)]`). Its
    /// changelog is `<processor>.<name>.changelog`; the group spec must list it in `stores:`.
    pub fn store<V: StateValue>(mut self, name: &'static str) -> Self {
        self.stores.push(StoreDecl::of::<V>(name));
        self
    }

    /// The declared stores' names.
    pub fn store_names(&self) -> Vec<&'static str> {
        self.stores.iter().map(|s| s.name).collect()
    }

    /// Sends events of contract `P` (from `P::TOPIC`) to the sink named `sink`: `f` returns the
    /// document that would be sent (to a search index, an ERP); the runtime writes it once per
    /// event id (see [`crate::sink`]).
    pub fn sink<P: Contract + Example>(
        mut self,
        sink: &'static str,
        f: impl Fn(&In<P>) -> Result<serde_json::Value, ProcessError> + Send + Sync + 'static,
    ) -> Self {
        self.sinks.insert(sink);
        let f = move |i: &In<P>, _: &mut State<'_>| {
            Ok(Handled::Line(SinkLine {
                sink,
                event_id: i.event.metadata.event_id.clone(),
                document: f(i)?,
            }))
        };
        self.handlers.insert(
            P::TOPIC,
            Box::new(TypedHandler {
                f: Box::new(f),
                rekey: None,
                fan_out: false,
            }),
        );
        self
    }

    /// Declares that it emits events of contract `Q` (to `Q::TOPIC`). Outputs to undeclared
    /// topics are a fatal error: the declaration is what provisioning, schema registration and
    /// the compliance test rely on.
    pub fn emits<Q: Contract>(mut self) -> Self {
        self.emits.insert(Q::TOPIC, Q::SCHEMA);
        self
    }

    /// The name: consumer group, producer of outputs, prefix of the transactional id.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The input topics.
    pub fn inputs(&self) -> Vec<&'static str> {
        self.handlers.keys().copied().collect()
    }

    /// The output topics and their schemas.
    pub fn outputs(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.emits.iter().map(|(t, s)| (*t, *s))
    }

    /// An example event of each input contract (its `Example` payload in a fresh envelope),
    /// by input topic: what the compliance test feeds.
    pub fn examples(&self) -> Vec<(&'static str, Out)> {
        self.handlers
            .iter()
            .map(|(t, h)| (*t, Out { event: h.example() }))
            .collect()
    }
}

/// What one input made: output events, store writes, or (a re-keyed input's first pass) the
/// key and source topic it goes to the repartition topic with.
#[derive(Default)]
pub(crate) struct Processed {
    pub(crate) outs: Vec<Out>,
    pub(crate) changes: Vec<Change>,
    pub(crate) forward: Option<(Vec<String>, String)>,
}

/// A [`Processor`] with the schemas it needs: the record-level processor the loop drives.
pub struct TypedProcessor {
    processor: Arc<Processor>,
    schemas: Arc<dyn SchemaSource>,
    /// Self-contained reader schema per input topic, writer schema per output topic.
    inputs: BTreeMap<&'static str, Schema>,
    outputs: BTreeMap<&'static str, Schema>,
    /// The same schemas compiled for direct decoding and encoding ([`weft_contracts::direct`]).
    input_plans: BTreeMap<&'static str, Plan>,
    output_plans: BTreeMap<&'static str, Plan>,
    metrics: Option<Metrics>,
    sinks: Arc<dyn SinkWriter>,
    /// Prepended to every contract topic (inputs and outputs) on the wire: `""` normally; a
    /// namespace such as `bench-1a2b.` to run a processor on a private copy of its topics.
    topic_prefix: String,
    /// Per (writer schema id, input topic): whether the writer's schema is the contract's own,
    /// so records decode without resolution (decided once per id, by canonical form).
    identical: std::sync::Mutex<std::collections::HashMap<(u32, &'static str), bool>>,
    /// Migrations in dual write whose old topic this processor emits to (see
    /// [`crate::migration`]).
    dual_writes: Vec<Arc<crate::migration::Transform>>,
    /// Finished migrations whose old topic this processor emits to: it writes the new form
    /// only.
    retired: Vec<Arc<crate::migration::Transform>>,
    /// The keyed stores (none for most processors), shared with the loop.
    stores: Arc<Stores>,
    /// The group's repartition topic (logical; used when some input is re-keyed).
    repartition: String,
}

impl TypedProcessor {
    /// Prepares `processor`: the self-contained schema of each input and output contract from
    /// `catalog`. A contract whose schema is missing from the catalog is a configuration error.
    pub fn new(
        processor: Arc<Processor>,
        catalog: &Catalog,
        schemas: Arc<dyn SchemaSource>,
    ) -> Result<Self, RuntimeError> {
        let load = |name: &str| {
            catalog.self_contained(name).map_err(|e| {
                RuntimeError::Config(format!(
                    "processor {}: schema {name} is not in the catalog: {e}",
                    processor.name
                ))
            })
        };
        let mut inputs = BTreeMap::new();
        for (topic, handler) in &processor.handlers {
            inputs.insert(*topic, load(handler.schema())?);
        }
        let mut outputs = BTreeMap::new();
        for (topic, schema) in &processor.emits {
            outputs.insert(*topic, load(schema)?);
        }
        let compile = |schemas: &BTreeMap<&'static str, Schema>| {
            schemas
                .iter()
                .map(|(topic, schema)| {
                    Plan::new(schema).map(|p| (*topic, p)).map_err(|e| {
                        RuntimeError::Config(format!(
                            "processor {}: the schema of {topic} does not compile: {e}",
                            processor.name
                        ))
                    })
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        let input_plans = compile(&inputs)?;
        let output_plans = compile(&outputs)?;
        let stores = Arc::new(Stores::new(&processor.stores, schemas.clone()));
        Ok(TypedProcessor {
            input_plans,
            output_plans,
            stores,
            repartition: weft_core::naming::repartition_topic(processor.name),
            processor,
            schemas,
            inputs,
            outputs,
            metrics: None,
            sinks: Arc::new(MemorySinks::default()),
            topic_prefix: String::new(),
            identical: Default::default(),
            dual_writes: Vec::new(),
            retired: Vec::new(),
        })
    }

    /// Dual-writes every migration of `transforms` whose old topic this processor emits to:
    /// each such output also goes, in its new form, to the new topic in the same transaction
    /// (the loop places it; see [`crate::migration`]). Returns the migrations taken.
    pub fn with_dual_writes(
        &mut self,
        transforms: &[Arc<crate::migration::Transform>],
        catalog: &Catalog,
    ) -> Result<Vec<Arc<crate::migration::Transform>>, RuntimeError> {
        let mut taken = Vec::new();
        for t in transforms {
            if !self.processor.emits.contains_key(t.from()) {
                continue;
            }
            let (_, to_schema) = t.schemas();
            let schema = catalog.self_contained(to_schema).map_err(|e| {
                RuntimeError::Config(format!(
                    "migration {}: schema {to_schema} is not in the catalog: {e}",
                    t.name()
                ))
            })?;
            let plan = Plan::new(&schema).map_err(|e| {
                RuntimeError::Config(format!(
                    "migration {}: schema {to_schema} does not compile: {e}",
                    t.name()
                ))
            })?;
            self.outputs.insert(t.to(), schema);
            self.output_plans.insert(t.to(), plan);
            self.dual_writes.push(t.clone());
            taken.push(t.clone());
        }
        Ok(taken)
    }

    /// Writes the new form only, for every finished migration of `transforms` whose old topic
    /// this processor emits to (the old topic is retired). Returns the migrations taken.
    pub fn with_retired_writes(
        &mut self,
        transforms: &[Arc<crate::migration::Transform>],
        catalog: &Catalog,
    ) -> Result<Vec<Arc<crate::migration::Transform>>, RuntimeError> {
        let taken = self.with_dual_writes(transforms, catalog)?;
        self.dual_writes
            .retain(|t| !taken.iter().any(|r| r.name() == t.name()));
        self.retired.extend(taken.iter().cloned());
        Ok(taken)
    }

    /// Where sink processors' documents go (in memory until set).
    pub fn with_sinks(mut self, sinks: Arc<dyn SinkWriter>) -> Self {
        self.sinks = sinks;
        self
    }

    /// Runs on `<prefix><topic>` instead of each contract topic (inputs, outputs and their
    /// schema subjects).
    pub fn with_topic_prefix(mut self, prefix: &str) -> Self {
        self.topic_prefix = prefix.to_string();
        self
    }

    /// The topic on the wire for a contract topic.
    pub fn physical_topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.topic_prefix)
    }

    /// Records end-to-end latency, SLA breaches and failures by tenant in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The registration.
    pub fn processor(&self) -> &Processor {
        &self.processor
    }

    /// Resolves the registry id of every output schema now, so a missing or mismatched subject
    /// stops the processor at start rather than at its first output; registers the value
    /// schema of each store's changelog (see [`crate::state`]).
    pub fn resolve_outputs(&self) -> Result<(), RuntimeError> {
        for (topic, schema) in &self.outputs {
            self.schemas
                .value_schema_id(&self.physical_topic(topic), schema)?;
        }
        self.stores.resolve(|store| self.changelog_topic(store))
    }

    /// The changelog topic of `store` on the wire.
    pub fn changelog_topic(&self, store: &str) -> String {
        self.physical_topic(&weft_core::naming::changelog_topic(
            self.processor.name,
            store,
        ))
    }

    /// The keyed stores.
    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// Encodes an input event of `topic` as it would arrive from Kafka (Confluent framing with the
    /// source's id). For the harness and tests.
    pub(crate) fn encode_input(
        &self,
        topic: &str,
        encode: impl FnOnce(&Schema) -> Result<Vec<u8>, weft_contracts::ContractsError>,
    ) -> Result<Vec<u8>, RuntimeError> {
        let schema = self
            .inputs
            .get(topic)
            .ok_or_else(|| RuntimeError::Config(format!("{topic} is not an input")))?;
        let id = self.schemas.value_schema_id(topic, schema)?;
        let body = encode(schema).map_err(|e| RuntimeError::Config(e.to_string()))?;
        Ok(weft_core::wire::frame(id, &body))
    }

    /// The typed outputs of one record, before encoding (for the harness).
    pub(crate) fn process_typed<'r>(
        &self,
        record: &'r Record<'r>,
    ) -> Result<Processed, ProcessError> {
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
        let header = |name: &str| {
            record
                .headers
                .iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| std::str::from_utf8(v).ok())
        };
        let logical = |t: &'r str| t.strip_prefix(self.topic_prefix.as_str()).unwrap_or(t);
        // A retried record is dispatched as if it came from its original topic.
        let topic = logical(
            header(h::DLQ_SOURCE_TOPIC)
                .filter(|_| {
                    let own = logical(record.topic);
                    !self.inputs.contains_key(own) && own != self.repartition_topic()
                })
                .unwrap_or(record.topic),
        );
        // A re-keyed input's second pass: dispatched by the topic it was first published to.
        let repartitioned = topic == self.repartition_topic();
        let topic = if repartitioned {
            header(h::REPARTITIONED_FROM).ok_or_else(|| {
                ProcessError::Poison(format!(
                    "a record of {} without its `{}` header",
                    record.topic,
                    h::REPARTITIONED_FROM
                ))
            })?
        } else {
            topic
        };
        let (topic_key, handler) =
            self.processor
                .handlers
                .get_key_value(topic)
                .ok_or_else(|| {
                    ProcessError::Poison(format!(
                        "processor {} has no handler for topic {topic}",
                        self.processor.name
                    ))
                })?;
        let reader = &self.inputs[topic_key];
        let identical = {
            let mut known = self.identical.lock().unwrap_or_else(|p| p.into_inner());
            *known
                .entry((id, *topic_key))
                .or_insert_with(|| writer.canonical_form() == reader.canonical_form())
        };
        let reader = (!identical).then_some(reader);
        let meta = InputMeta {
            processor: self.processor.name,
            repartitioned,
            topic: topic.to_string(),
            partition: record.partition,
            offset: record.offset,
            key: record.key.map(|k| String::from_utf8_lossy(k).into_owned()),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
            attempt: header(h::DLQ_ATTEMPT)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0),
        };
        let mut seen = None;
        let mut state = self.stores.state(record.partition);
        let plan = &self.input_plans[topic_key];
        let result = handler.handle(&writer, reader, plan, body, meta, &mut seen, &mut state);
        if let (Some(m), Some(seen)) = (&self.metrics, &seen) {
            self.observe(m, topic, seen, result.as_ref().err());
        }
        let outs = match result? {
            Handled::Outs(outs) => outs,
            Handled::Line(line) => {
                self.sinks
                    .write(&line)
                    .map_err(|e| ProcessError::Transient(format!("sink {}: {e}", line.sink)))?;
                return Ok(Processed::default());
            }
            Handled::Forward(keys) => {
                return Ok(Processed {
                    forward: Some((keys, topic.to_string())),
                    ..Processed::default()
                })
            }
        };
        for out in &outs {
            if !self.outputs.contains_key(out.topic()) {
                return Err(ProcessError::Fatal(format!(
                    "processor {} emitted to {}, which it does not declare with emits::<{}>()",
                    self.processor.name,
                    out.topic(),
                    out.schema()
                )));
            }
        }
        Ok(Processed {
            outs,
            changes: state.finish(),
            forward: None,
        })
    }

    /// The group's repartition topic (logical name).
    fn repartition_topic(&self) -> &str {
        &self.repartition
    }

    /// The record that takes a re-keyed input (`record`, first published to `source`) to the
    /// repartition topic under `key`: its bytes and headers unchanged, its source noted.
    pub(crate) fn forward(&self, record: &Record<'_>, key: String, source: &str) -> Output {
        let mut headers: Vec<(String, Vec<u8>)> = record
            .headers
            .iter()
            .filter(|(k, _)| *k != h::REPARTITIONED_FROM)
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        headers.push((h::REPARTITIONED_FROM.into(), source.as_bytes().to_vec()));
        Output {
            topic: self.physical_topic(&self.repartition),
            key: Some(key.into_bytes()),
            value: record.value.unwrap_or_default().to_vec(),
            headers,
            partition: None,
        }
    }

    fn observe(&self, m: &Metrics, topic: &str, seen: &Seen, err: Option<&ProcessError>) {
        let name = self.processor.name;
        let latency = (chrono::Utc::now() - seen.occurred_at)
            .to_std()
            .unwrap_or_default();
        m.end_to_end
            .with_label_values(&[name, topic])
            .observe(latency.as_secs_f64());
        let tenant = m.tenant_label(seen.tenant.as_deref());
        m.processed_by_tenant
            .with_label_values(&[name, &tenant])
            .inc();
        if seen.sla.is_some_and(|sla| latency > sla) {
            m.sla_breaches.with_label_values(&[name, topic]).inc();
            m.sla_breaches_by_tenant
                .with_label_values(&[name, &tenant])
                .inc();
        }
        if let Some(e) = err {
            m.failures_by_tenant
                .with_label_values(&[name, &tenant, e.class()])
                .inc();
        }
    }

    /// Encodes one typed output into the record that goes to Kafka, with `parent` (the span that
    /// produced it) as its `traceparent`, or a new trace when there is none.
    pub(crate) fn encode_output(
        &self,
        out: &Out,
        parent: Option<&TraceParent>,
    ) -> Result<Output, ProcessError> {
        let schema = &self.outputs[out.topic()];
        let topic = self.physical_topic(out.topic());
        let id = self
            .schemas
            .value_schema_id(&topic, schema)
            .map_err(|e| match e {
                RuntimeError::Registry(_) => {
                    ProcessError::Unavailable(format!("cannot resolve the schema of {topic}: {e}"))
                }
                e => ProcessError::Fatal(format!("cannot resolve the schema of {topic}: {e}")),
            })?;
        let body = out
            .encode_with(&self.output_plans[out.topic()])
            .map_err(|e| {
                ProcessError::Fatal(format!(
                    "processor {} built an output that does not fit {}: {e}",
                    self.processor.name,
                    out.schema()
                ))
            })?;
        let m = out.metadata();
        let trace = match parent {
            Some(p) => p.clone(),
            None => TraceParent::root(m.trace_id.as_deref()),
        };
        let headers = vec![
            (
                h::TRACEPARENT.to_string(),
                trace.header_value().into_bytes(),
            ),
            (h::EVENT_TYPE.to_string(), m.event_type.clone().into_bytes()),
            (h::EVENT_ID.to_string(), m.event_id.clone().into_bytes()),
            (
                h::SCHEMA_VERSION.to_string(),
                m.event_version.clone().into_bytes(),
            ),
        ];
        Ok(Output {
            topic,
            key: Some(out.key().into_bytes()),
            value: weft_core::wire::frame(id, &body),
            headers,
            partition: None,
        })
    }
}

impl RecordProcessor for TypedProcessor {
    fn stores(&self) -> Option<Arc<Stores>> {
        (!self.stores.is_empty()).then(|| self.stores.clone())
    }

    fn process(&mut self, record: &Record<'_>) -> Result<Vec<Output>, ProcessError> {
        let parent = record
            .headers
            .iter()
            .find(|(k, _)| *k == h::TRACEPARENT)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .and_then(TraceParent::parse);
        // One span per event, a child of the producer's span; exported when OTLP is configured.
        let span = tracing::info_span!(
            target: "weft::process",
            "process",
            processor = self.processor.name,
            topic = record.topic,
            partition = record.partition,
            offset = record.offset,
        );
        if let Some(p) = &parent {
            crate::trace::set_remote_parent(&span, p);
        }
        let _entered = span.enter();
        // Outputs name this span as their parent: the recorded one, else a fresh child id.
        let mine = crate::trace::of_span(&span).or_else(|| parent.as_ref().map(TraceParent::child));
        let Processed {
            outs,
            changes,
            forward,
        } = self.process_typed(record)?;
        if let Some((keys, source)) = forward {
            return Ok(keys
                .into_iter()
                .map(|key| self.forward(record, key, &source))
                .collect());
        }
        let mut records = Vec::with_capacity(outs.len() + changes.len());
        for c in changes {
            records.push(Output {
                topic: self.changelog_topic(c.store),
                key: Some(c.key.into_bytes()),
                // An empty value goes out as a null one: a tombstone.
                value: c.value.unwrap_or_default(),
                headers: vec![],
                partition: Some(c.partition),
            });
        }
        for out in &outs {
            if let Some(new) = self.retired.iter().find_map(|t| t.forward(out)) {
                records.push(self.encode_output(&new, mine.as_ref())?);
                continue;
            }
            let mut encoded = self.encode_output(out, mine.as_ref())?;
            for t in &self.dual_writes {
                let Some(copy) = t.forward(out) else { continue };
                let mut copy = self.encode_output(&copy, mine.as_ref())?;
                copy.headers
                    .push((crate::migration::COPY_OF.into(), t.name().into()));
                encoded
                    .headers
                    .push((crate::migration::DUAL_WRITTEN.into(), t.name().into()));
                records.push(copy);
            }
            records.push(encoded);
        }
        Ok(records)
    }
}
