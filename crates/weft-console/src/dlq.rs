//! Dead letters: list the dead-letter topics with counts per error class and per processor,
//! show their records with the error headers, and replay a selection.
//!
//! A dead-letter topic is `<group>.dlq` (see `weft_core::naming`); each record is the failed
//! input's exact key and value bytes plus `weft-dlq-*` headers written by the runtime.
//!
//! # Replay and the attempt contract
//!
//! [`replay`] reads the group's dead-letter topic to its current end, keeps the records the
//! [`Selection`] matches, de-duplicates them by event id (the `weft-event-id` header, else the
//! decoded `metadata.event_id`; when an event was dead-lettered several times the record with the
//! highest `weft-dlq-attempt` — the latest — wins; records with no event id are never merged),
//! and produces each to its target:
//! - [`Target::Original`]: the topic in its `weft-dlq-source-topic` header (records without it
//!   are skipped and reported);
//! - [`Target::Retry`]: the group's first retry topic (`<group>.retry.<first delay>`), with
//!   `weft-retry-due` set to now so it is due at once.
//!
//! The replayed record keeps its key and value bytes and its headers, minus the headers that
//! describe the last failure (`weft-dlq-error-class`, `-error-message`, `-processor`,
//! `-last-failure`). It keeps `weft-dlq-attempt`, `weft-dlq-first-failure` and the
//! `weft-dlq-source-*` headers. **Runtime contract:** when a record fails again, the runtime
//! writes `weft-dlq-attempt` = incoming `weft-dlq-attempt` + 1 (0 when absent) and keeps the
//! incoming `weft-dlq-first-failure` (`weft-runtime`'s `dead_letter` does both), so a record that
//! fails after replay returns to the dead-letter topic with its count increased and the time of
//! its first failure intact.
//!
//! # Handled
//!
//! Kafka cannot delete a dead letter, so "handled" is a marker: the committed offsets of the
//! member-less consumer group `<group>.dlq-handled` on `<group>.dlq`. A replay (not a dry run)
//! advances it, per partition, over the longest prefix it replayed or dropped as a duplicate
//! (a selective replay leaves the first record it did not select, and everything after,
//! unhandled); [`ack`] advances it to the end. It never moves back. The runtime exports the age
//! of the oldest record after it as `weft_dlq_oldest_unhandled_age_seconds`, which the Helm
//! chart alerts on after an hour.
//!
//! Replay is at-least-once: it does not remove anything from the dead-letter topic (Kafka
//! cannot), so replaying the same selection twice sends it twice; consumers de-duplicate on
//! `event_id`. `rate` limits records per second; `dry_run` reports what would be sent.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use weft_core::headers as h;
use weft_core::kafka::KafkaConfig;
use weft_core::naming;
use weft_core::spec::GroupSpec;

use crate::consume::{
    partitions_of, read_topics, read_window, topics_matching, Isolation, StartAt, Window,
};
use crate::error::{ConsoleError, Result};
use crate::record::Shown;
use crate::registry::Registry;

/// Counts of one dead-letter topic.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DlqSummary {
    pub topic: String,
    /// The group, from the topic name.
    pub group: String,
    pub records: usize,
    pub by_error_class: BTreeMap<String, usize>,
    pub by_processor: BTreeMap<String, usize>,
    pub by_source_topic: BTreeMap<String, usize>,
    /// Latest `weft-dlq-last-failure` seen.
    pub last_failure: Option<String>,
}

/// The dead-letter topic of `group_or_topic`: itself when it ends in `.dlq`, else `<group>.dlq`.
pub fn dlq_topic(group_or_topic: &str) -> String {
    if naming::is_dead_letter_topic(group_or_topic) {
        group_or_topic.to_string()
    } else {
        naming::dead_letter_topic(group_or_topic)
    }
}

/// Counts every dead-letter topic on the cluster (or those matching `pattern`), reading headers
/// only. Empty topics are recognised by their watermarks without reading; the others are read
/// together. `progress` is called with how many records were counted so far.
pub async fn list(
    kafka: &KafkaConfig,
    pattern: Option<&str>,
    window: &Window,
    mut progress: impl FnMut(usize),
) -> Result<Vec<DlqSummary>> {
    let topics: Vec<String> = topics_matching(kafka, pattern.unwrap_or(r".*\.dlq"))?
        .into_iter()
        .filter(|t| naming::is_dead_letter_topic(t))
        .collect();
    let parts = partitions_of(kafka, &topics)?;
    let mut out: BTreeMap<String, DlqSummary> = topics
        .iter()
        .map(|t| {
            (
                t.clone(),
                DlqSummary {
                    group: t.trim_end_matches(".dlq").to_string(),
                    topic: t.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let mut counted = 0;
    read_window(kafka, None, &parts, window, Isolation::Committed, |r| {
        counted += 1;
        if counted % 1000 == 0 {
            progress(counted);
        }
        let Some(s) = out.get_mut(&r.topic) else {
            return true;
        };
        s.records += 1;
        let get = |k: &str| r.header(k).unwrap_or("(none)").to_string();
        *s.by_error_class.entry(get(h::DLQ_ERROR_CLASS)).or_default() += 1;
        *s.by_processor.entry(get(h::DLQ_PROCESSOR)).or_default() += 1;
        *s.by_source_topic
            .entry(get(h::DLQ_SOURCE_TOPIC))
            .or_default() += 1;
        if let Some(t) = r.header(h::DLQ_LAST_FAILURE) {
            if s.last_failure.as_deref() < Some(t) {
                s.last_failure = Some(t.to_string());
            }
        }
        true
    })
    .await?;
    Ok(out.into_values().collect())
}

/// Which dead letters to act on; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Failed at or after (`weft-dlq-last-failure`, else the record timestamp).
    pub since: Option<DateTime<Utc>>,
    /// Failed before.
    pub until: Option<DateTime<Utc>>,
    pub error_class: Option<String>,
    pub key: Option<String>,
    pub event_id: Option<String>,
}

impl Selection {
    /// When the record failed: `weft-dlq-last-failure`, else its Kafka timestamp.
    fn failed_at(r: &Shown) -> Option<DateTime<Utc>> {
        r.header(h::DLQ_LAST_FAILURE)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| r.timestamp_ms.and_then(DateTime::from_timestamp_millis))
    }

    /// True when `r` is selected.
    pub fn matches(&self, r: &Shown) -> bool {
        let at = Self::failed_at(r);
        if self.since.is_some_and(|s| at.is_none_or(|a| a < s)) {
            return false;
        }
        if self.until.is_some_and(|u| at.is_none_or(|a| a >= u)) {
            return false;
        }
        if let Some(c) = &self.error_class {
            if r.header(h::DLQ_ERROR_CLASS) != Some(c.as_str()) {
                return false;
            }
        }
        if let Some(k) = &self.key {
            if r.key.as_deref() != Some(k.as_str()) {
                return false;
            }
        }
        if let Some(e) = &self.event_id {
            if r.event_id().as_deref() != Some(e.as_str()) {
                return false;
            }
        }
        true
    }
}

/// Reads the dead letters of `group_or_topic` that `selection` matches, decoded.
pub async fn show(
    kafka: &KafkaConfig,
    registry: &Registry,
    group_or_topic: &str,
    selection: &Selection,
    limit: Option<usize>,
) -> Result<Vec<Shown>> {
    let topic = dlq_topic(group_or_topic);
    let parts = partitions_of(kafka, std::slice::from_ref(&topic))?;
    let mut out = Vec::new();
    read_topics(
        kafka,
        Some(registry),
        &parts,
        &StartAt::Beginning,
        Isolation::Committed,
        false,
        |r| {
            if selection.matches(&r) {
                out.push(r);
            }
            limit.is_none_or(|l| out.len() < l)
        },
    )
    .await?;
    Ok(out)
}

/// Where replayed records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The topic the record was first consumed from (`weft-dlq-source-topic`).
    Original,
    /// The group's first retry tier.
    Retry,
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// The group (or its `.dlq` topic).
    pub group: String,
    pub selection: Selection,
    pub target: Target,
    /// The group's policy (its retry tiers); defaults when the group has no spec.
    pub group_spec: Option<GroupSpec>,
    /// Records per second at most.
    pub rate: Option<f64>,
    pub dry_run: bool,
}

/// One replayed (or, on a dry run, selected) record.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub event_id: Option<String>,
    pub key: Option<String>,
    pub error_class: Option<String>,
    pub attempt: Option<String>,
    pub from_offset: (i32, i64),
    pub to_topic: String,
    /// Where it landed (none on a dry run).
    pub to: Option<(i32, i64)>,
}

/// A replay's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    pub dead_letter_topic: String,
    /// Records in the dead-letter topic read.
    pub read: usize,
    /// Records the selection matched.
    pub selected: usize,
    /// Selected records dropped as repeats of an event id.
    pub duplicates: usize,
    /// Records skipped, with the reason.
    pub skipped: Vec<String>,
    pub replayed: Vec<Replayed>,
    pub dry_run: bool,
    /// How the handled marker moved (nothing on a dry run).
    pub marked_handled: Vec<HandledMove>,
}

/// One partition's handled marker moved (see the module docs).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HandledMove {
    pub partition: i32,
    /// The marker before (none when nothing was ever marked).
    pub from: Option<i64>,
    pub to: i64,
}

/// Advances the handled marker of `group_or_topic`'s dead letters to `to` (next offset per
/// partition), never backwards; returns the partitions that moved.
pub fn mark_handled(
    kafka: &KafkaConfig,
    group_or_topic: &str,
    to: &BTreeMap<i32, i64>,
) -> Result<Vec<HandledMove>> {
    use rdkafka::consumer::{CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let topic = dlq_topic(group_or_topic);
    let c = marker_client(kafka, &topic)?;
    let before = handled_marker(&c, &topic, to.keys().copied())?;
    let mut moves = Vec::new();
    let mut commit = TopicPartitionList::new();
    for (&partition, &next) in to {
        let from = before.get(&partition).copied();
        if from.is_some_and(|f| f >= next) {
            continue;
        }
        commit
            .add_partition_offset(&topic, partition, Offset::Offset(next))
            .map_err(|e| ConsoleError::kafka("building the offsets", e))?;
        moves.push(HandledMove {
            partition,
            from,
            to: next,
        });
    }
    if !moves.is_empty() {
        c.commit(&commit, CommitMode::Sync)
            .map_err(|e| ConsoleError::kafka("committing the handled marker", e))?;
    }
    Ok(moves)
}

/// The handled marker (next offset) of `topic`'s `partitions` where one was committed, read
/// with `c`, a client of the `<group>.dlq-handled` group.
fn handled_marker(
    c: &rdkafka::consumer::BaseConsumer,
    topic: &str,
    partitions: impl Iterator<Item = i32>,
) -> Result<BTreeMap<i32, i64>> {
    use rdkafka::{Offset, TopicPartitionList};
    let mut asked = TopicPartitionList::new();
    for p in partitions {
        asked.add_partition(topic, p);
    }
    let committed = weft_core::kafka::committed_offsets(c, &asked, Duration::from_secs(10))
        .map_err(|e| ConsoleError::kafka("reading the handled marker", e))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// The client of `group_or_topic`'s handled marker group.
fn marker_client(kafka: &KafkaConfig, topic: &str) -> Result<rdkafka::consumer::BaseConsumer> {
    kafka
        .client_config()
        .set(
            "group.id",
            naming::dlq_handled_group(topic.trim_end_matches(".dlq")),
        )
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))
}

/// Marks every dead letter of `group_or_topic` written so far handled.
pub fn ack(kafka: &KafkaConfig, group_or_topic: &str) -> Result<Vec<HandledMove>> {
    let topic = dlq_topic(group_or_topic);
    let parts = partitions_of(kafka, std::slice::from_ref(&topic))?;
    use rdkafka::consumer::Consumer;
    let c: rdkafka::consumer::BaseConsumer = kafka
        .client_config()
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))?;
    let mut ends = BTreeMap::new();
    for (t, n) in &parts {
        for p in 0..*n {
            let (_, high) = c
                .fetch_watermarks(t, p, Duration::from_secs(10))
                .map_err(|e| ConsoleError::kafka("reading the end offsets", e))?;
            ends.insert(p, high);
        }
    }
    mark_handled(kafka, &topic, &ends)
}

/// Headers that describe the last failure; dropped on replay (see the module docs).
const FAILURE_HEADERS: [&str; 4] = [
    h::DLQ_ERROR_CLASS,
    h::DLQ_ERROR_MESSAGE,
    h::DLQ_PROCESSOR,
    h::DLQ_LAST_FAILURE,
];

fn attempt_of(r: &Shown) -> u64 {
    r.header(h::DLQ_ATTEMPT)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

/// Replays a selection of dead letters; see the module docs.
pub async fn replay(
    kafka: &KafkaConfig,
    registry: &Registry,
    req: &ReplayRequest,
) -> Result<ReplayReport> {
    let topic = dlq_topic(&req.group);
    let group = topic.trim_end_matches(".dlq").to_string();
    let parts = partitions_of(kafka, std::slice::from_ref(&topic))?;
    let retry_topic = match req.target {
        Target::Original => None,
        Target::Retry => {
            let spec = req
                .group_spec
                .clone()
                .unwrap_or_else(|| GroupSpec::default_for(&group));
            let first =
                spec.retry_topics().into_iter().next().ok_or_else(|| {
                    ConsoleError::Input(format!("group {group} has no retry tiers"))
                })?;
            partitions_of(kafka, std::slice::from_ref(&first)).map_err(|_| {
                ConsoleError::Input(format!(
                    "the first retry topic of {group}, {first}, does not exist (run weft topics apply)"
                ))
            })?;
            Some(first)
        }
    };
    let mut report = ReplayReport {
        dead_letter_topic: topic.clone(),
        dry_run: req.dry_run,
        ..Default::default()
    };
    // Select and de-duplicate, keeping the order of first appearance.
    let mut chosen: Vec<Shown> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    // For the handled marker: the end of what was read, and the first record left unhandled
    // per partition. Records before the marker are handled already: leaving them out of a
    // selection does not hold the marker back.
    let marker = handled_marker(
        &marker_client(kafka, &topic)?,
        &topic,
        parts.iter().flat_map(|(_, n)| 0..*n),
    )?;
    let mut read_end: BTreeMap<i32, i64> = BTreeMap::new();
    let mut first_unhandled: BTreeMap<i32, i64> = BTreeMap::new();
    let leave = |map: &mut BTreeMap<i32, i64>, partition: i32, offset: i64| {
        if offset < marker.get(&partition).copied().unwrap_or(0) {
            return;
        }
        let e = map.entry(partition).or_insert(offset);
        *e = (*e).min(offset);
    };
    read_topics(
        kafka,
        Some(registry),
        &parts,
        &StartAt::Beginning,
        Isolation::Committed,
        false,
        |r| {
            report.read += 1;
            let end = read_end.entry(r.partition).or_insert(0);
            *end = (*end).max(r.offset + 1);
            if !req.selection.matches(&r) {
                leave(&mut first_unhandled, r.partition, r.offset);
                return true;
            }
            report.selected += 1;
            match r.event_id() {
                Some(id) => match by_id.get(&id) {
                    Some(&i) => {
                        report.duplicates += 1;
                        if attempt_of(&r) >= attempt_of(&chosen[i]) {
                            chosen[i] = r;
                        }
                    }
                    None => {
                        by_id.insert(id, chosen.len());
                        chosen.push(r);
                    }
                },
                None => chosen.push(r),
            }
            true
        },
    )
    .await?;

    let producer: Option<FutureProducer> = if req.dry_run {
        None
    } else {
        Some(
            kafka
                .client_config()
                .set("enable.idempotence", "true")
                .set("partitioner", "murmur2_random")
                .create()
                .map_err(|e| ConsoleError::kafka("creating a producer", e))?,
        )
    };
    let pause = req
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let now_ms = Utc::now().timestamp_millis().to_string();
    for r in chosen {
        let to_topic = match (&retry_topic, r.header(h::DLQ_SOURCE_TOPIC)) {
            (Some(t), _) => t.clone(),
            (None, Some(src)) => src.to_string(),
            (None, None) => {
                leave(&mut first_unhandled, r.partition, r.offset);
                report.skipped.push(format!(
                    "partition {} offset {}: no {} header, so no original topic",
                    r.partition,
                    r.offset,
                    h::DLQ_SOURCE_TOPIC
                ));
                continue;
            }
        };
        let mut item = Replayed {
            event_id: r.event_id(),
            key: r.key.clone(),
            error_class: r.header(h::DLQ_ERROR_CLASS).map(str::to_string),
            attempt: r.header(h::DLQ_ATTEMPT).map(str::to_string),
            from_offset: (r.partition, r.offset),
            to_topic: to_topic.clone(),
            to: None,
        };
        if let Some(producer) = &producer {
            let mut hs = OwnedHeaders::new();
            for (k, v) in &r.raw_headers {
                if FAILURE_HEADERS.contains(&k.as_str())
                    || (retry_topic.is_some() && k == h::RETRY_DUE)
                {
                    continue;
                }
                hs = hs.insert(Header {
                    key: k,
                    value: Some(v.as_slice()),
                });
            }
            if retry_topic.is_some() {
                hs = hs.insert(Header {
                    key: h::RETRY_DUE,
                    value: Some(now_ms.as_str()),
                });
            }
            let mut record = FutureRecord::to(&to_topic).headers(hs);
            if let Some(k) = &r.key_bytes {
                record = record.key(k.as_slice());
            }
            if let Some(v) = &r.bytes {
                record = record.payload(v.as_slice());
            }
            let d = producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| ConsoleError::kafka(&format!("replaying to {to_topic}"), e))?;
            item.to = Some((d.partition, d.offset));
            if let Some(p) = pause {
                tokio::time::sleep(p).await;
            }
        }
        report.replayed.push(item);
    }
    if !req.dry_run {
        let handled: BTreeMap<i32, i64> = read_end
            .iter()
            .map(|(p, end)| (*p, first_unhandled.get(p).map_or(*end, |u| (*u).min(*end))))
            .collect();
        report.marked_handled = mark_handled(kafka, &topic, &handled)?;
    }
    Ok(report)
}
