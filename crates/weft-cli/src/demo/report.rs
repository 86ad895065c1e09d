//! What the demo prints: per scenario, the causation tree of every published event (what each
//! processor made of it, where, and how long after), then a summary.
//!
//! Records are read live, read_committed, from where the watched topics ended before the scenario
//! was published until they have settled ([`Collector`]); each is stamped with the time the
//! reader received it, and their envelopes are decoded through the registry. The end-to-end
//! latency of the summary is that arrival time minus the input's timestamp: what a downstream
//! reader sees, commit included (not the output's own timestamp, which is taken inside the open
//! transaction).
//! Dead-letter records are shown under the event they carry, with their error class and message;
//! undecodable ones under their system by key.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use apache_avro::types::Value;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use weft_contracts::EventMetadata;
use weft_core::headers as h;
use weft_core::kafka::KafkaConfig;
use weft_core::naming;
use weft_runtime::schemas::SchemaSource;

use super::scenarios::Scenario;

/// One record read back.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub key: String,
    pub timestamp: i64,
    /// When the read_committed reader received it (ms since the epoch).
    pub arrived: i64,
    pub headers: BTreeMap<String, String>,
    pub metadata: Option<EventMetadata>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn is_dead_letter(&self) -> bool {
        naming::is_dead_letter_topic(&self.topic)
    }

    fn is_retry(&self) -> bool {
        self.topic.contains(".retry.")
    }
}

/// Everything read back, and which junk key belongs to which system.
pub struct Report {
    records: Vec<Seen>,
    junk_keys: BTreeMap<String, &'static str>,
    unaccounted: usize,
}

impl Report {
    /// Published events with no output and no dead letter (set by [`print`]).
    pub fn unaccounted(&self) -> usize {
        self.unaccounted
    }
}

/// The live reader of the watched partitions (see the module docs).
pub struct Collector {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<anyhow::Result<Vec<Seen>>>,
}

impl Collector {
    /// Starts reading every partition of `from` at its offset, on a thread of its own.
    pub fn start(
        kafka: &KafkaConfig,
        from: &BTreeMap<(String, i32), i64>,
        schemas: Arc<dyn SchemaSource>,
    ) -> anyhow::Result<Collector> {
        let consumer: BaseConsumer = kafka
            .client_config()
            .set("group.id", "weft-demo-reader")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "50")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), start) in from {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*start))?;
        }
        consumer.assign(&tpl)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let from = from.clone();
        let handle = std::thread::Builder::new()
            .name("demo-reader".into())
            .spawn(move || read_until_stopped(&consumer, &from, schemas.as_ref(), &stopping))?;
        Ok(Collector { stop, handle })
    }

    /// Stops once every partition is read to its end as of now; the report.
    pub fn finish(self, junk_keys: &BTreeMap<String, &'static str>) -> anyhow::Result<Report> {
        self.stop.store(true, Ordering::SeqCst);
        let records = self
            .handle
            .join()
            .map_err(|_| anyhow::anyhow!("the demo's reader panicked"))??;
        Ok(Report {
            records,
            junk_keys: junk_keys.clone(),
            unaccounted: 0,
        })
    }
}

fn read_until_stopped(
    consumer: &BaseConsumer,
    from: &BTreeMap<(String, i32), i64>,
    schemas: &dyn SchemaSource,
    stop: &AtomicBool,
) -> anyhow::Result<Vec<Seen>> {
    let mut records = Vec::new();
    // Set once stopping: the end offsets to reach.
    let mut remaining: Option<BTreeMap<(String, i32), i64>> = None;
    let mut deadline = None;
    loop {
        if remaining.is_none() && stop.load(Ordering::SeqCst) {
            let mut ends = BTreeMap::new();
            for ((topic, partition), start) in from {
                let (_, end) =
                    consumer.fetch_watermarks(topic, *partition, Duration::from_secs(10))?;
                // Nothing was written there since the start: nothing to wait for.
                if end > *start {
                    ends.insert((topic.clone(), *partition), end);
                }
            }
            remaining = Some(ends);
            deadline = Some(std::time::Instant::now() + Duration::from_secs(60));
        }
        if let Some(rem) = &mut remaining {
            // Transaction markers take offsets too: a partition is done when the consumer's
            // position reaches the end, not when the last record's offset does.
            for e in consumer.position()?.elements() {
                let k = (e.topic().to_string(), e.partition());
                if let (Offset::Offset(pos), Some(end)) = (e.offset(), rem.get(&k)) {
                    if pos >= *end {
                        rem.remove(&k);
                    }
                }
            }
            if rem.is_empty() {
                return Ok(records);
            }
            if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                anyhow::bail!("could not read the demo's records back within 60 s");
            }
        }
        let Some(msg) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let m = msg?;
        let arrived = chrono::Utc::now().timestamp_millis();
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|x| {
                        (
                            x.key.to_string(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(Seen {
            topic: m.topic().to_string(),
            key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            timestamp: m.timestamp().to_millis().unwrap_or(0),
            arrived,
            headers,
            metadata: m.payload().and_then(|v| envelope(schemas, v)),
        });
    }
}

/// The envelope of a weft value, when it decodes.
fn envelope(schemas: &dyn SchemaSource, value: &[u8]) -> Option<EventMetadata> {
    let (id, body) = weft_core::wire::split(value).ok()?;
    let writer = schemas.writer_schema(id).ok()?;
    let decoded = weft_contracts::codec::decode_value(&writer, None, body).ok()?;
    let Value::Record(fields) = decoded else {
        return None;
    };
    let (_, metadata) = fields.into_iter().find(|(n, _)| n == "metadata")?;
    apache_avro::from_value(&metadata).ok()
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Prints the trees and the summary; counts events that left no trace.
pub fn print(scenarios: &[Scenario], consumed: &BTreeSet<String>, report: &mut Report) {
    let by_id: BTreeMap<&str, &Seen> = report
        .records
        .iter()
        .filter(|r| !r.is_dead_letter() && !r.is_retry())
        .filter_map(|r| r.metadata.as_ref().map(|m| (m.event_id.as_str(), r)))
        .collect();
    let mut children: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
    for r in &report.records {
        let Some(m) = &r.metadata else { continue };
        if r.is_dead_letter() || r.is_retry() {
            children.entry(m.event_id.as_str()).or_default().push(r);
        } else if let Some(cause) = &m.causation_id {
            children.entry(cause.as_str()).or_default().push(r);
        }
    }
    let mut latencies = Vec::new();
    let (mut inputs, mut outputs, mut retried, mut dead) = (0, 0, 0, 0);
    for s in scenarios {
        println!("\n== {}", s.title);
        for e in &s.events {
            inputs += 1;
            let id = e.metadata().event_id.as_str();
            let Some(root) = by_id.get(id) else {
                println!("  ? {} {} was not read back", e.topic(), id);
                report.unaccounted += 1;
                continue;
            };
            println!(
                "  {} [{}] key={} by {}",
                root.metadata
                    .as_ref()
                    .map_or("?", |m| m.event_type.as_str()),
                root.topic,
                root.key,
                root.metadata.as_ref().map_or("?", |m| m.producer.as_str())
            );
            let mut stack = vec![(id, root.timestamp, 1usize)];
            let mut traced = false;
            while let Some((node, t0, depth)) = stack.pop() {
                for c in children.get(node).map(Vec::as_slice).unwrap_or_default() {
                    traced = true;
                    let indent = "  ".repeat(depth + 1);
                    let dt = c.timestamp - t0;
                    if c.is_dead_letter() || c.is_retry() {
                        let what = if c.is_dead_letter() {
                            "dead-lettered"
                        } else {
                            "retry"
                        };
                        if c.is_dead_letter() {
                            dead += 1;
                        } else {
                            retried += 1;
                        }
                        println!(
                            "{indent}x {what} [{}] +{dt} ms by {}: {} ({})",
                            c.topic,
                            c.header(h::DLQ_PROCESSOR).unwrap_or("?"),
                            c.header(h::DLQ_ERROR_MESSAGE).unwrap_or(""),
                            c.header(h::DLQ_ERROR_CLASS).unwrap_or("?"),
                        );
                    } else if let Some(m) = &c.metadata {
                        outputs += 1;
                        latencies.push(c.arrived - root.timestamp);
                        println!(
                            "{indent}-> {} [{}] key={} +{dt} ms by {}",
                            m.event_type, c.topic, c.key, m.producer
                        );
                        stack.push((m.event_id.as_str(), c.timestamp, depth + 1));
                    }
                }
            }
            if !traced && consumed.contains(&root.topic) {
                println!("    (no output: nothing to do for this event)");
            } else if !traced {
                println!("    (no processor consumes {} yet)", root.topic);
            }
        }
        let junk: BTreeSet<&str> = report
            .junk_keys
            .iter()
            .filter(|(_, sys)| **sys == s.system)
            .map(|(k, _)| k.as_str())
            .collect();
        for r in report
            .records
            .iter()
            .filter(|r| junk.contains(r.key.as_str()))
        {
            inputs += usize::from(!r.is_dead_letter());
            if r.is_dead_letter() {
                dead += 1;
                println!(
                    "  x junk record key={} dead-lettered [{}] by {}: {} ({})",
                    r.key,
                    r.topic,
                    r.header(h::DLQ_PROCESSOR).unwrap_or("?"),
                    r.header(h::DLQ_ERROR_MESSAGE).unwrap_or(""),
                    r.header(h::DLQ_ERROR_CLASS).unwrap_or("?")
                );
            }
        }
    }
    latencies.sort_unstable();
    println!(
        "\n== summary: {inputs} events in, {outputs} out, {retried} retried, {dead} dead-lettered; \
         end-to-end latency at a read_committed reader p50 {} ms, p99 {} ms ({} outputs)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.len()
    );
}
