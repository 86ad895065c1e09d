//! Testing processors without a broker: [`TestDriver`] (in the spirit of Kafka Streams'
//! `TopologyTestDriver`) and [`compliance`], the checks every registered processor must pass.
//!
//! The driver runs the same code path as the transaction loop, minus Kafka: the input event is
//! encoded with its contract's schema and framed as on the wire, decoded by [`TypedProcessor`],
//! handed to the processor's function, and every output is encoded with its schema and framed.
//! An output that does not fit its schema, or goes to an undeclared topic, fails here exactly as
//! it would in production. Schema ids come from [`LocalSchemas`] instead of a registry.

use std::sync::Arc;

use weft_contracts::{Catalog, Contract, Event};
use weft_core::spec::SpecSet;

use crate::processor::{Output, ProcessError, Record};
use crate::schemas::LocalSchemas;
use crate::sink::{MemorySinks, SinkLine};
use crate::state::{Change, StateValue};
use crate::typed::{Out, Processor, TypedProcessor};
use crate::RuntimeError;

/// Feeds events to one processor and returns what it emits.
pub struct TestDriver {
    typed: TypedProcessor,
    sinks: Arc<MemorySinks>,
    offset: i64,
    changes: Vec<Change>,
}

impl TestDriver {
    /// A driver for `processor`, with the schemas of the repository's `avro/`.
    pub fn new(processor: Processor) -> Result<Self, RuntimeError> {
        let catalog = Catalog::load(weft_contracts::catalog::repo_avro_dir())
            .map_err(|e| RuntimeError::Config(format!("loading avro/: {e}")))?;
        Self::with_catalog(processor, &catalog)
    }

    /// A driver for `processor` with the schemas of `catalog`.
    pub fn with_catalog(processor: Processor, catalog: &Catalog) -> Result<Self, RuntimeError> {
        let sinks = Arc::new(MemorySinks::default());
        let typed =
            TypedProcessor::new(Arc::new(processor), catalog, Arc::new(LocalSchemas::new()))?
                .with_sinks(sinks.clone());
        // The driver's records are all of partition 0, whose stores start empty.
        typed
            .stores()
            .resolve(|store| typed.changelog_topic(store))?;
        typed.stores().install_empty(0);
        Ok(TestDriver {
            typed,
            sinks,
            offset: 0,
            changes: Vec::new(),
        })
    }

    /// Feeds one event to the handler of `P::TOPIC`; returns the outputs, each already encoded and
    /// framed once (so a bad output fails here).
    pub fn feed<P: Contract>(&mut self, event: Event<P>) -> Result<Vec<Out>, ProcessError> {
        let key = event.key();
        let value = self
            .typed
            .encode_input(P::TOPIC, |schema| {
                weft_contracts::codec::encode(schema, &event)
            })
            .map_err(|e| ProcessError::Fatal(format!("the test input does not encode: {e}")))?;
        self.feed_bytes(P::TOPIC, Some(key.as_bytes()), &value, &[])
    }

    /// Feeds raw bytes as a record of `topic` (to test undecodable input), with headers.
    pub fn feed_bytes(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<Vec<Out>, ProcessError> {
        self.offset += 1;
        let record = Record {
            topic,
            partition: 0,
            offset: self.offset,
            key,
            value: Some(value),
            headers: headers.to_vec(),
        };
        // Each record is its own transaction: its state writes commit when it succeeds.
        let result = self.typed.process_typed(&record).and_then(|p| {
            for out in &p.outs {
                self.typed.encode_output(out, None)?;
            }
            Ok(p)
        });
        match result {
            // A re-keyed input: its second pass, as the loop would read it back from the
            // repartition topic (all of the driver's records are on partition 0).
            // A fanned-out input: each copy in turn; the outputs of all, or the first error.
            Ok(p) if p.forward.is_some() => {
                let (keys, source) = p.forward.unwrap_or_default();
                let mut outs = Vec::new();
                for new_key in keys {
                    let forwarded = self.typed.forward(&record, new_key, &source);
                    let headers: Vec<(&str, &[u8])> = forwarded
                        .headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_slice()))
                        .collect();
                    outs.extend(self.feed_bytes(
                        &forwarded.topic,
                        forwarded.key.as_deref(),
                        &forwarded.value,
                        &headers,
                    )?);
                }
                Ok(outs)
            }
            Ok(p) => {
                self.typed.stores().commit();
                self.changes.extend(p.changes);
                Ok(p.outs)
            }
            Err(e) => {
                self.typed.stores().abort();
                Err(e)
            }
        }
    }

    /// The committed value of `key` in the store `store` (`None` when absent).
    pub fn state<V: StateValue>(&self, store: &str, key: &str) -> Option<V> {
        self.typed
            .stores()
            .committed(store, key)
            .unwrap_or_else(|e| panic!("reading store {store}: {e}"))
    }

    /// Every store write so far, in order, as it went to the changelogs.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Empties every store (a fresh partition).
    pub fn clear_state(&mut self) {
        self.typed.stores().forget(&[0].into());
        self.typed.stores().install_empty(0);
    }

    /// Every document sink handlers wrote, once per event id, in order.
    pub fn sink_lines(&self) -> Vec<SinkLine> {
        self.sinks.lines()
    }

    /// Feeds one event and returns the records as they would be produced (topic, key, framed
    /// value, headers).
    pub fn feed_records<P: Contract>(
        &mut self,
        event: Event<P>,
    ) -> Result<Vec<Output>, ProcessError> {
        let outs = self.feed(event)?;
        outs.iter()
            .map(|o| self.typed.encode_output(o, None))
            .collect()
    }
}

/// Checks one registered processor against the rules every processor must follow, returning
/// every violation found (empty when compliant):
///
/// - it consumes at least one topic and declares what it emits; every input and output topic has
///   a spec in `topics/`, and each input's spec lists the processor among its consumers;
/// - fed the example of each input contract, it does not fail fatally, and every output follows
///   the envelope rules: new event id, `causation_id` = the input's id, correlation id and tenant
///   inherited, `producer` = the processor's name;
/// - the same input twice gives the same output ids (replays are de-duplicable);
/// - undecodable input (bad magic byte, unknown schema id, truncated Avro, bytes after the
///   datum) is classed
///   `undecodable`, never handed to the processor.
pub fn compliance(processor: Processor, specs: &SpecSet) -> Vec<String> {
    let name = processor.name();
    let mut problems = Vec::new();
    let inputs = processor.inputs();
    if inputs.is_empty() {
        problems.push(format!("{name}: consumes no topic"));
    }
    for topic in &inputs {
        match specs.topic(topic) {
            None => problems.push(format!(
                "{name}: input topic {topic} has no spec in topics/"
            )),
            Some(spec) if !spec.consumers.iter().any(|c| c == name) => problems.push(format!(
                "{name}: the spec of {topic} ({}) does not list {name} in `consumers`",
                spec.path.display()
            )),
            Some(_) => {}
        }
    }
    problems.extend(processor.state_mismatches(&specs.group(name)));
    for (topic, _) in processor.outputs() {
        if specs.topic(topic).is_none() {
            problems.push(format!(
                "{name}: output topic {topic} has no spec in topics/"
            ));
        }
    }
    let examples = processor.examples();
    let mut driver = match TestDriver::new(processor) {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            return problems;
        }
    };
    for (topic, mut example) in examples {
        example.metadata_mut().tenant_id = Some("tenant-compliance".into());
        let input_id = example.metadata().event_id.clone();
        let correlation = example.metadata().correlation_id.clone();
        let value = match driver.typed.encode_input(topic, |s| example.encode(s)) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!(
                    "{name}: the example of {topic} does not encode: {e}"
                ));
                continue;
            }
        };
        let key = example.key();
        // A replay meets the state the first delivery met.
        driver.clear_state();
        let first = driver.feed_bytes(topic, Some(key.as_bytes()), &value, &[]);
        driver.clear_state();
        let second = driver.feed_bytes(topic, Some(key.as_bytes()), &value, &[]);
        match (first, second) {
            (Err(ProcessError::Fatal(m)), _) | (_, Err(ProcessError::Fatal(m))) => {
                problems.push(format!("{name}: fatal on the example of {topic}: {m}"))
            }
            (Err(ProcessError::Undecodable(m)), _) => problems.push(format!(
                "{name}: the example of {topic} did not decode: {m}"
            )),
            (Ok(a), Ok(b)) => {
                let ids = |outs: &[Out]| {
                    outs.iter()
                        .map(|o| o.metadata().event_id.clone())
                        .collect::<Vec<_>>()
                };
                if ids(&a) != ids(&b) {
                    problems.push(format!(
                        "{name}: the same input of {topic} gave different output ids: not replay-safe"
                    ));
                }
                for out in &a {
                    let m = out.metadata();
                    let mut broken = Vec::new();
                    if m.event_id == input_id {
                        broken.push("reuses the input's event_id");
                    }
                    if m.causation_id.as_deref() != Some(input_id.as_str()) {
                        broken.push("causation_id is not the input's event_id");
                    }
                    if m.correlation_id != correlation {
                        broken.push("correlation_id is not inherited");
                    }
                    if m.tenant_id.as_deref() != Some("tenant-compliance") {
                        broken.push("tenant_id is not inherited");
                    }
                    if m.producer != name {
                        broken.push("producer is not the processor's name");
                    }
                    for b in broken {
                        problems.push(format!(
                            "{name}: output to {} from {topic}: {b}",
                            out.topic()
                        ));
                    }
                }
            }
            // Poison or transient on a generic example is the processor's call.
            _ => {}
        }
        let truncated = &value[..5 + (value.len() - 5) / 2];
        let mut trailing = value.clone();
        trailing.extend_from_slice(&[0x02, 0x61]);
        for (what, bytes) in [
            ("a bad magic byte", vec![0xFFu8, 0, 0, 0, 1, 2, 3]),
            (
                "an unknown schema id",
                weft_core::wire::frame(999_999, &value[5..]),
            ),
            ("truncated Avro", truncated.to_vec()),
            ("Avro with bytes after the datum", trailing),
        ] {
            match driver.feed_bytes(topic, Some(key.as_bytes()), &bytes, &[]) {
                Err(ProcessError::Undecodable(_)) => {}
                other => problems.push(format!(
                    "{name}: {what} on {topic} was not classed undecodable: {other:?}"
                )),
            }
        }
    }
    problems
}
