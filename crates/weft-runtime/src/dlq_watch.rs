//! How long dead letters wait: `weft_dlq_oldest_unhandled_age_seconds{processor,topic}`.
//!
//! Kafka keeps a dead letter after it was replayed, so "handled" is a marker: the committed
//! offsets of the consumer group `<group>.dlq-handled` on `<group>.dlq` (see
//! `weft_core::naming::dlq_handled_group`), advanced by `weft dlq replay` over what it replayed
//! and by `weft dlq ack`. The group never has members. The gauge is the age (now minus the
//! record's timestamp, i.e. when it was dead-lettered) of the first committed record after that
//! offset over every partition, 0 when there is none, so the series exists from the start.
//!
//! One thread per process refreshes every processor's gauge every [`INTERVAL`], with its own
//! short-lived client: a watermark lookup per partition and, only where something is unhandled,
//! a fetch of one record. Failures (a broker away, no rights on the group) are logged and leave
//! the last value; they never touch processing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tracing::warn;
use weft_core::kafka::KafkaConfig;
use weft_core::naming;

use crate::metrics::Metrics;

/// How often the gauge is refreshed.
pub const INTERVAL: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One processor's dead letters: (processor label, consumer group, dead-letter topic).
#[derive(Debug, Clone)]
pub struct Watched {
    pub processor: String,
    pub group: String,
    pub topic: String,
}

/// Starts the refreshing thread; it ends when `shutdown` is set.
pub fn spawn(
    kafka: KafkaConfig,
    watched: Vec<Watched>,
    metrics: Metrics,
    shutdown: Arc<AtomicBool>,
) {
    let spawned = std::thread::Builder::new()
        .name("dlq-watch".into())
        .spawn(move || {
            let mut next = Instant::now();
            while !shutdown.load(Ordering::SeqCst) {
                if Instant::now() >= next {
                    for w in &watched {
                        match oldest_unhandled_age(&kafka, w) {
                            Ok(age) => metrics
                                .dlq_oldest_unhandled_age
                                .with_label_values(&[&w.processor, &w.topic])
                                .set(age.map_or(0.0, |a| a.as_secs_f64())),
                            Err(e) => warn!("dead letters of {}: {e}", w.group),
                        }
                    }
                    next = Instant::now() + INTERVAL;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    if let Err(e) = spawned {
        warn!("cannot start the dead-letter watch: {e}");
    }
}

/// The age of the oldest dead letter of `w` after its handled marker, `None` when every one
/// is handled.
pub fn oldest_unhandled_age(
    kafka: &KafkaConfig,
    w: &Watched,
) -> Result<Option<Duration>, KafkaError> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", naming::dlq_handled_group(&w.group))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()?;
    let md = consumer.fetch_metadata(Some(&w.topic), CALL_TIMEOUT)?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == w.topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut all = TopicPartitionList::new();
    for p in &partitions {
        all.add_partition(&w.topic, *p);
    }
    let committed = weft_core::kafka::committed_offsets(&consumer, &all, CALL_TIMEOUT)?;
    let mut from = TopicPartitionList::new();
    let mut unread: BTreeMap<i32, ()> = BTreeMap::new();
    for p in partitions {
        let (low, high) = consumer.fetch_watermarks(&w.topic, p, CALL_TIMEOUT)?;
        let handled = committed
            .find_partition(&w.topic, p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
            .unwrap_or(low)
            .max(low);
        if handled < high {
            from.add_partition_offset(&w.topic, p, Offset::Offset(handled))?;
            unread.insert(p, ());
        }
    }
    if unread.is_empty() {
        return Ok(None);
    }
    consumer.assign(&from)?;
    // The first committed record of each partition (or its end: what remains after the marker
    // may be only aborted records and transaction markers).
    let mut oldest: Option<i64> = None;
    let deadline = Instant::now() + CALL_TIMEOUT;
    while !unread.is_empty() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) if unread.remove(&m.partition()).is_some() => {
                if let Some(ts) = m.timestamp().to_millis() {
                    oldest = Some(oldest.map_or(ts, |o| o.min(ts)));
                }
            }
            Some(Ok(_)) => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                unread.remove(&p);
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if !unread.is_empty() {
        // A partial answer would read as "nothing unhandled": keep the last value instead.
        return Err(KafkaError::MessageConsumption(
            rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
        ));
    }
    let now = chrono::Utc::now().timestamp_millis();
    Ok(oldest.map(|ts| Duration::from_millis((now - ts).max(0) as u64)))
}
