//! `weft consume`: read topics (by name or pattern) from a start point, decode values through the
//! registry, filter, and hand each record to the caller.
//!
//! The reader assigns partitions itself (no group join, no commits), so looking at a topic never
//! moves any group's offsets. Without `follow` it stops once every partition has reached the end
//! it had when reading began (partition EOF) or after `limit` matching records; with `follow` it
//! keeps waiting for new records until `limit` is reached or the caller stops it.
//!
//! Failure modes: an unknown topic or a pattern that matches nothing is an input error naming it;
//! a datetime before a partition's first record starts at its beginning, one after its last at
//! its end; undecodable values never stop the reader (they are shown raw with a note). A pattern
//! is resolved once when reading starts: topics created later are not picked up by `--follow`.
//! An offset past a partition's end (or before its start) falls back to its beginning
//! (`auto.offset.reset=earliest`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use weft_core::kafka::KafkaConfig;

use crate::error::{ConsoleError, Result};
use crate::record::{Filters, Shown};
use crate::registry::Registry;

const META_TIMEOUT: Duration = Duration::from_secs(15);

/// Where to start reading each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest retained record.
    Beginning,
    /// After the newest record: only what arrives from now on.
    End,
    /// This offset in every partition; negative means that many records before the end.
    Offset(i64),
    /// The first record at or after this time.
    Time(DateTime<Utc>),
}

impl std::str::FromStr for StartAt {
    type Err = ConsoleError;

    /// `beginning`, `end`, `offset N` / `offset:N` / a bare integer, or an RFC 3339 datetime.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        match t {
            "beginning" | "earliest" | "start" => return Ok(StartAt::Beginning),
            "end" | "latest" => return Ok(StartAt::End),
            _ => {}
        }
        let num = t
            .strip_prefix("offset")
            .map(|r| r.trim_start_matches([':', '=', ' ']))
            .unwrap_or(t);
        if let Ok(n) = num.parse::<i64>() {
            return Ok(StartAt::Offset(n));
        }
        parse_time(t).map(StartAt::Time)
    }
}

/// Parses an RFC 3339 datetime (`2026-11-22T10:00:00Z`) or a date (`2026-11-22`, midnight UTC).
pub fn parse_time(t: &str) -> Result<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(dt.and_utc());
        }
    }
    Err(ConsoleError::Input(format!(
        "`{t}` is neither beginning, end, an offset nor an RFC 3339 datetime (e.g. 2026-11-22T10:00:00Z)"
    )))
}

/// A window bound: a duration back from now (`90s`, `15m`, `1h`, `2d`) or a datetime as
/// [`parse_time`] reads it.
pub fn parse_bound(t: &str) -> Result<DateTime<Utc>> {
    if let Ok(d) = humantime::parse_duration(t) {
        let back = chrono::Duration::from_std(d)
            .map_err(|_| ConsoleError::Input(format!("`{t}` is too long ago")))?;
        return Ok(Utc::now() - back);
    }
    parse_time(t).map_err(|_| {
        ConsoleError::Input(format!(
            "`{t}` is neither a duration back from now (e.g. 1h, 30m) nor an RFC 3339 datetime"
        ))
    })
}

/// Transaction isolation of the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Only committed transactional records (`read_committed`), the default.
    #[default]
    Committed,
    /// Also records of open and aborted transactions (`read_uncommitted`).
    Uncommitted,
}

impl Isolation {
    fn as_config(self) -> &'static str {
        match self {
            Isolation::Committed => "read_committed",
            Isolation::Uncommitted => "read_uncommitted",
        }
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ConsumeRequest {
    /// Topic names.
    pub topics: Vec<String>,
    /// A regular expression matched against whole topic names (internal `__` topics excluded).
    pub pattern: Option<String>,
    pub start: StartAt,
    /// Stop after this many matching records.
    pub limit: Option<usize>,
    /// Keep waiting for new records at the end.
    pub follow: bool,
    pub filters: Filters,
    pub isolation: Isolation,
}

/// What a read saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumeSummary {
    /// Records read from the broker.
    pub read: usize,
    /// Records that passed the filters and were handed on.
    pub matched: usize,
    /// Topics read.
    pub topics: Vec<String>,
}

/// Topics matching `pattern` (whole-name regex) on the cluster, sorted.
pub fn topics_matching(kafka: &KafkaConfig, pattern: &str) -> Result<Vec<String>> {
    let re = regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| ConsoleError::Input(format!("pattern `{pattern}` is not a regex: {e}")))?;
    let consumer: BaseConsumer = kafka
        .client_config()
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))?;
    let md = consumer
        .fetch_metadata(None, META_TIMEOUT)
        .map_err(|e| ConsoleError::kafka("listing topics", e))?;
    let mut out: Vec<String> = md
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| !n.starts_with("__") && re.is_match(n))
        .collect();
    out.sort();
    Ok(out)
}

/// Partition counts of `topics`; an input error names a topic that does not exist.
pub fn partitions_of(kafka: &KafkaConfig, topics: &[String]) -> Result<Vec<(String, i32)>> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))?;
    let md = consumer
        .fetch_metadata(None, META_TIMEOUT)
        .map_err(|e| ConsoleError::kafka("reading metadata", e))?;
    topics
        .iter()
        .map(|t| {
            md.topics()
                .iter()
                .find(|m| m.name() == t && m.error().is_none() && !m.partitions().is_empty())
                .map(|m| (t.clone(), m.partitions().len() as i32))
                .ok_or_else(|| ConsoleError::Input(format!("topic {t} does not exist")))
        })
        .collect()
}

/// The console's client context: partition-EOF is how the reader learns it reached the end, so
/// it is not logged as an error (librdkafka reports it as a "global error" too).
pub struct QuietContext;

impl rdkafka::ClientContext for QuietContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF);
        if !eof {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for QuietContext {}

/// The console's reader type.
pub type Reader = StreamConsumer<QuietContext>;

/// A reader of every partition of `topics` from `start`, with `isolation`; no group, no commits.
pub fn open_reader(
    kafka: &KafkaConfig,
    topics: &[(String, i32)],
    start: &StartAt,
    isolation: Isolation,
) -> Result<Reader> {
    let consumer: Reader = kafka
        .client_config()
        .set("group.id", format!("weft-console-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation.as_config())
        .create_with_context(QuietContext)
        .map_err(|e| ConsoleError::kafka("creating a consumer", e))?;
    let mut tpl = TopicPartitionList::new();
    for (t, n) in topics {
        for p in 0..*n {
            let offset = match start {
                StartAt::Beginning => Offset::Beginning,
                StartAt::End => Offset::End,
                StartAt::Offset(o) if *o >= 0 => Offset::Offset(*o),
                StartAt::Offset(o) => Offset::OffsetTail(o.unsigned_abs() as i64),
                StartAt::Time(at) => Offset::Offset(at.timestamp_millis()),
            };
            tpl.add_partition_offset(t, p, offset)
                .map_err(|e| ConsoleError::kafka("building the assignment", e))?;
        }
    }
    if let StartAt::Time(_) = start {
        tpl = consumer
            .offsets_for_times(tpl, META_TIMEOUT)
            .map_err(|e| ConsoleError::kafka("looking up offsets for the datetime", e))?;
        // A partition with nothing at or after the time answers -1: start at its end.
        for e in tpl.clone().elements() {
            if matches!(e.offset(), Offset::Invalid | Offset::End)
                || matches!(e.offset(), Offset::Offset(o) if o < 0)
            {
                tpl.set_partition_offset(e.topic(), e.partition(), Offset::End)
                    .map_err(|e| ConsoleError::kafka("building the assignment", e))?;
            }
        }
    }
    consumer
        .assign(&tpl)
        .map_err(|e| ConsoleError::kafka("assigning partitions", e))?;
    Ok(consumer)
}

/// The topics of `parts` that `marks` show holding records.
fn non_empty_of(
    parts: &[(String, i32)],
    marks: &BTreeMap<(String, i32), (i64, i64)>,
) -> Vec<(String, i32)> {
    parts
        .iter()
        .filter(|(t, n)| {
            (0..*n).any(|p| {
                marks
                    .get(&(t.clone(), p))
                    .is_some_and(|(low, high)| high > low)
            })
        })
        .cloned()
        .collect()
}

/// Low and high watermark of every partition of `parts`.
fn watermarks(
    kafka: &KafkaConfig,
    parts: &[(String, i32)],
) -> Result<BTreeMap<(String, i32), (i64, i64)>> {
    let client: BaseConsumer = kafka
        .client_config()
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))?;
    let mut marks = BTreeMap::new();
    for (t, n) in parts {
        for p in 0..*n {
            let mark = client
                .fetch_watermarks(t, p, META_TIMEOUT)
                .map_err(|e| ConsoleError::kafka(&format!("reading the watermarks of {t}"), e))?;
            marks.insert((t.clone(), p), mark);
        }
    }
    Ok(marks)
}

/// One event of a topic reader.
enum Item {
    Record(OwnedMessage),
    Eof(String, i32),
    Failed(KafkaError),
}

/// Reads `topics` from `start` with one reader per topic (so a partition-EOF event names its
/// topic) and sends records and end-of-partition events into one channel. The readers stop when
/// the receiver is dropped or the handles are aborted.
pub(crate) fn spawn_readers(
    kafka: &KafkaConfig,
    topics: &[(String, i32)],
    start: &StartAt,
    isolation: Isolation,
) -> Result<(Readers, tokio::sync::mpsc::Receiver<ReaderItem>)> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let mut handles = Vec::new();
    for (topic, n) in topics {
        let consumer = open_reader(kafka, &[(topic.clone(), *n)], start, isolation)?;
        let tx = tx.clone();
        let topic = topic.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let item = match consumer.recv().await {
                    Ok(m) => Item::Record(m.detach()),
                    Err(KafkaError::PartitionEOF(p)) => Item::Eof(topic.clone(), p),
                    Err(e) => Item::Failed(e),
                };
                let failed = matches!(item, Item::Failed(_));
                if tx.send(ReaderItem(item)).await.is_err() || failed {
                    break;
                }
            }
        }));
    }
    Ok((Readers(handles), rx))
}

/// One record or event from [`spawn_readers`].
pub(crate) struct ReaderItem(Item);

/// The reader tasks; aborted on drop.
pub(crate) struct Readers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Readers {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Reads `topics` until every partition reached its end (or forever with `follow`), calling
/// `each` with every record; `each` returns `false` to stop.
pub(crate) async fn read_topics(
    kafka: &KafkaConfig,
    registry: Option<&Registry>,
    topics: &[(String, i32)],
    start: &StartAt,
    isolation: Isolation,
    follow: bool,
    mut each: impl FnMut(Shown) -> bool,
) -> Result<usize> {
    let total: usize = topics.iter().map(|(_, n)| *n as usize).sum();
    if total == 0 {
        return Ok(0);
    }
    let (_readers, mut rx) = spawn_readers(kafka, topics, start, isolation)?;
    let mut at_end: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut read = 0;
    while let Some(ReaderItem(item)) = rx.recv().await {
        match item {
            Item::Eof(t, p) => {
                at_end.insert((t, p));
                if !follow && at_end.len() >= total {
                    break;
                }
            }
            Item::Failed(e) => return Err(ConsoleError::kafka("reading", e)),
            Item::Record(m) => {
                read += 1;
                at_end.remove(&(m.topic().to_string(), m.partition()));
                let shown = Shown::of(&m, registry).await;
                if !each(shown) {
                    break;
                }
            }
        }
    }
    Ok(read)
}

/// A time window of a scan: records written at or after `since` and before `until` (Kafka
/// record timestamps; either bound open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Per partition of `marks`, the offset a scan of `window` stops before: the first offset at or
/// after `until` (offsets for times), else the end as it is now. A scan therefore ends where it
/// was asked to, even on topics that keep growing.
fn stop_offsets(
    kafka: &KafkaConfig,
    marks: &BTreeMap<(String, i32), (i64, i64)>,
    window: &Window,
) -> Result<BTreeMap<(String, i32), i64>> {
    let mut stops: BTreeMap<(String, i32), i64> = marks
        .iter()
        .map(|(k, (_, high))| (k.clone(), *high))
        .collect();
    if let Some(until) = window.until {
        let client: BaseConsumer = kafka
            .client_config()
            .create()
            .map_err(|e| ConsoleError::kafka("creating a client", e))?;
        let mut tpl = TopicPartitionList::new();
        for (t, p) in stops.keys() {
            tpl.add_partition_offset(t, *p, Offset::Offset(until.timestamp_millis()))
                .map_err(|e| ConsoleError::kafka("building the offset query", e))?;
        }
        let found = client
            .offsets_for_times(tpl, META_TIMEOUT)
            .map_err(|e| ConsoleError::kafka("looking up offsets for --until", e))?;
        for e in found.elements() {
            if let Offset::Offset(o) = e.offset() {
                if o >= 0 {
                    stops.insert((e.topic().to_string(), e.partition()), o);
                }
            }
        }
    }
    Ok(stops)
}

/// Reads the records of `topics` inside `window`: each partition from its first offset at or
/// after `since` (offsets for times, so nothing before the window is fetched) to its stop offset
/// (see [`stop_offsets`]); partitions are fetched together, topics without records are not
/// opened. Calls `each` with every record; `each` returns `false` to stop. Returns the number of
/// records read.
pub(crate) async fn read_window(
    kafka: &KafkaConfig,
    registry: Option<&Registry>,
    topics: &[(String, i32)],
    window: &Window,
    isolation: Isolation,
    mut each: impl FnMut(Shown) -> bool,
) -> Result<usize> {
    let marks = watermarks(kafka, topics)?;
    let topics = non_empty_of(topics, &marks);
    let stops = stop_offsets(kafka, &marks, window)?;
    let mut open: BTreeSet<(String, i32)> = stops
        .iter()
        .filter(|(_, stop)| **stop > 0)
        .map(|(k, _)| k.clone())
        .collect();
    if open.is_empty() {
        return Ok(0);
    }
    let start = window.since.map_or(StartAt::Beginning, StartAt::Time);
    let (_readers, mut rx) = spawn_readers(kafka, &topics, &start, isolation)?;
    let mut read = 0;
    while let Some(ReaderItem(item)) = rx.recv().await {
        match item {
            Item::Eof(t, p) => {
                open.remove(&(t, p));
            }
            Item::Failed(e) => return Err(ConsoleError::kafka("reading", e)),
            Item::Record(m) => {
                let key = (m.topic().to_string(), m.partition());
                let stop = stops.get(&key).copied().unwrap_or(i64::MAX);
                if m.offset() >= stop {
                    open.remove(&key);
                } else {
                    read += 1;
                    if m.offset() + 1 >= stop {
                        open.remove(&key);
                    }
                    if !each(Shown::of(&m, registry).await) {
                        break;
                    }
                }
            }
        }
        if open.is_empty() {
            break;
        }
    }
    Ok(read)
}

/// Reads as requested and calls `each` for every matching record; `each` returns `false` to stop.
pub async fn consume(
    kafka: &KafkaConfig,
    registry: &Registry,
    req: &ConsumeRequest,
    mut each: impl FnMut(&Shown) -> bool,
) -> Result<ConsumeSummary> {
    let mut names: BTreeSet<String> = req.topics.iter().cloned().collect();
    if let Some(p) = &req.pattern {
        let found = topics_matching(kafka, p)?;
        if found.is_empty() && req.topics.is_empty() {
            return Err(ConsoleError::Input(format!(
                "no topic matches the pattern `{p}`"
            )));
        }
        names.extend(found);
    }
    if names.is_empty() {
        return Err(ConsoleError::Input(
            "name at least one topic or a --pattern".into(),
        ));
    }
    let names: Vec<String> = names.into_iter().collect();
    let topics = partitions_of(kafka, &names)?;
    let mut summary = ConsumeSummary {
        topics: names,
        ..Default::default()
    };
    if req.limit == Some(0) {
        return Ok(summary);
    }
    let mut matched = 0;
    let read = read_topics(
        kafka,
        Some(registry),
        &topics,
        &req.start,
        req.isolation,
        req.follow,
        |shown| {
            if !req.filters.matches(&shown) {
                return true;
            }
            matched += 1;
            each(&shown) && req.limit.is_none_or(|l| matched < l)
        },
    )
    .await?;
    summary.read = read;
    summary.matched = matched;
    Ok(summary)
}
