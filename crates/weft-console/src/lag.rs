//! Consumer lag per group and partition, the age of the oldest unconsumed record against the
//! topic's SLA, and offset resets.
//!
//! [`lag`] finds a group's committed offsets by asking the group coordinator for every partition
//! of every topic on the cluster at once (one OffsetFetch), then reads the end offsets. A topic
//! the group committed on is one of its inputs, so every partition of it is reported: one the
//! group never committed on has no committed offset and, as weft's consumers start a new
//! partition from its beginning, a lag of every record still in it (an empty partition has lag
//! 0; a partition whose first record is stuck is not hidden). For partitions with lag it reads the record at the
//! committed offset: its age (now − its timestamp) is how long the oldest unprocessed record has
//! waited, compared with the SLA of the topic's spec (its `sla`, else its priority's SLA).
//!
//! [`reset`] refuses while the group has active members ([`ConsoleError::Refused`], exit 5):
//! a running consumer would overwrite the reset with its next commit, or be rewound under its
//! feet. Membership comes from the group coordinator (ListGroups/DescribeGroups through
//! librdkafka's `fetch_group_list`). A dry run computes and prints the new offsets only.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;
use weft_core::kafka::KafkaConfig;
use weft_core::spec::{Priority, SpecSet};

use crate::error::{ConsoleError, Result};

const TIMEOUT: Duration = Duration::from_secs(15);

/// Lag of one partition.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset (none when it never committed on this partition).
    pub committed: Option<i64>,
    pub end: i64,
    pub lag: i64,
    /// Age in ms of the oldest unconsumed record (none when there is no lag).
    pub oldest_unconsumed_age_ms: Option<i64>,
    /// The topic's SLA in ms, when its spec gives one.
    pub sla_ms: Option<i64>,
    /// True when the oldest unconsumed record is older than the SLA.
    pub sla_breached: bool,
}

/// Lag of one group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLag {
    pub group: String,
    /// The coordinator's state: Stable, Empty, PreparingRebalance, ...
    pub state: String,
    pub members: usize,
    pub partitions: Vec<PartitionLag>,
    pub total_lag: i64,
}

/// Name, state and member count of consumer groups (`group` only, when given).
pub fn groups(kafka: &KafkaConfig, group: Option<&str>) -> Result<Vec<(String, String, usize)>> {
    let client: BaseConsumer = kafka
        .client_config()
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))?;
    let list = client
        .fetch_group_list(group, TIMEOUT)
        .map_err(|e| ConsoleError::kafka("listing consumer groups", e))?;
    let mut out: Vec<_> = list
        .groups()
        .iter()
        .filter(|g| g.protocol_type() == "consumer" || g.protocol_type().is_empty())
        .map(|g| {
            (
                g.name().to_string(),
                g.state().to_string(),
                g.members().len(),
            )
        })
        .collect();
    out.sort();
    Ok(out)
}

fn group_consumer(kafka: &KafkaConfig, group: &str) -> Result<BaseConsumer> {
    kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))
}

/// Committed offsets of `group` on every partition of `topics` (all topics when empty).
pub fn committed(
    kafka: &KafkaConfig,
    group: &str,
    topics: &[String],
) -> Result<BTreeMap<(String, i32), i64>> {
    let c = group_consumer(kafka, group)?;
    let md = c
        .fetch_metadata(None, TIMEOUT)
        .map_err(|e| ConsoleError::kafka("reading metadata", e))?;
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        if t.name().starts_with("__")
            || (!topics.is_empty() && !topics.iter().any(|x| x == t.name()))
        {
            continue;
        }
        for p in t.partitions() {
            tpl.add_partition(t.name(), p.id());
        }
    }
    if tpl.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let got = weft_core::kafka::committed_offsets(&c, &tpl, TIMEOUT).map_err(|e| {
        ConsoleError::kafka(&format!("reading the committed offsets of {group}"), e)
    })?;
    Ok(got
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

fn sla_of(specs: Option<&SpecSet>, topic: &str) -> Option<Duration> {
    let spec = specs?.topic(topic)?;
    spec.sla.or(match spec.priority {
        Priority::Critical => Some(Duration::from_secs(1)),
        Priority::High => Some(Duration::from_secs(5)),
        Priority::Normal => Some(Duration::from_secs(30)),
        Priority::Low => None,
    })
}

/// Lag of `group`, or of every consumer group when `None`.
pub fn lag(
    kafka: &KafkaConfig,
    group: Option<&str>,
    specs: Option<&SpecSet>,
) -> Result<Vec<GroupLag>> {
    let groups = groups(kafka, group)?;
    let names: Vec<(String, String, usize)> = match (group, groups.is_empty()) {
        // A group with commits but never a member may not be listed; still look it up.
        (Some(g), true) => vec![(g.to_string(), "Unknown".into(), 0)],
        _ => groups,
    };
    let client: BaseConsumer = kafka
        .client_config()
        .create()
        .map_err(|e| ConsoleError::kafka("creating a client", e))?;
    let now = Utc::now().timestamp_millis();
    let mut out = Vec::new();
    for (name, state, members) in names {
        let offsets = committed(kafka, &name, &[])?;
        let inputs: BTreeSet<&str> = offsets.keys().map(|(t, _)| t.as_str()).collect();
        let mut partitions = Vec::new();
        let mut lagging = TopicPartitionList::new();
        for topic in inputs {
            let md = client
                .fetch_metadata(Some(topic), TIMEOUT)
                .map_err(|e| ConsoleError::kafka(&format!("reading the metadata of {topic}"), e))?;
            let mut ids = Vec::new();
            for t in md.topics().iter().filter(|t| t.name() == topic) {
                if let Some(e) = t.error() {
                    return Err(ConsoleError::kafka(
                        &format!("reading the metadata of {topic}"),
                        rdkafka::types::RDKafkaErrorCode::from(e),
                    ));
                }
                ids.extend(t.partitions().iter().map(|p| p.id()));
            }
            for partition in ids {
                let (low, end) = client
                    .fetch_watermarks(topic, partition, TIMEOUT)
                    .map_err(|e| ConsoleError::kafka(&format!("reading the end of {topic}"), e))?;
                let committed = offsets.get(&(topic.to_string(), partition)).copied();
                let (lag, from) = match committed {
                    Some(c) => ((end - c).max(0), Offset::Offset(c)),
                    None => ((end - low).max(0), Offset::Beginning),
                };
                if lag > 0 {
                    let _ = lagging.add_partition_offset(topic, partition, from);
                }
                let sla = sla_of(specs, topic);
                partitions.push(PartitionLag {
                    topic: topic.to_string(),
                    partition,
                    committed,
                    end,
                    lag,
                    oldest_unconsumed_age_ms: None,
                    sla_ms: sla.map(|d| d.as_millis() as i64),
                    sla_breached: false,
                });
            }
        }
        for ((t, p), ts) in oldest_timestamps(kafka, &lagging)? {
            if let Some(pl) = partitions
                .iter_mut()
                .find(|x| x.topic == t && x.partition == p)
            {
                let age = (now - ts).max(0);
                pl.oldest_unconsumed_age_ms = Some(age);
                pl.sla_breached = pl.sla_ms.is_some_and(|s| age > s);
            }
        }
        let total_lag = partitions.iter().map(|p| p.lag).sum();
        out.push(GroupLag {
            group: name,
            state,
            members,
            partitions,
            total_lag,
        });
    }
    Ok(out)
}

/// The timestamp of the record at each assigned offset (read once; 10 s at most).
fn oldest_timestamps(
    kafka: &KafkaConfig,
    tpl: &TopicPartitionList,
) -> Result<BTreeMap<(String, i32), i64>> {
    let mut out = BTreeMap::new();
    if tpl.count() == 0 {
        return Ok(out);
    }
    let c: BaseConsumer = kafka
        .client_config()
        .set("group.id", format!("weft-console-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_uncommitted")
        .create()
        .map_err(|e| ConsoleError::kafka("creating a consumer", e))?;
    c.assign(tpl)
        .map_err(|e| ConsoleError::kafka("assigning partitions", e))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while out.len() < tpl.count() && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let key = (m.topic().to_string(), m.partition());
            if let (std::collections::btree_map::Entry::Vacant(v), Some(ts)) =
                (out.entry(key), m.timestamp().to_millis())
            {
                v.insert(ts);
            }
        }
    }
    Ok(out)
}

/// Where to move a group's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    /// The first record at or after this time (the end when there is none).
    Time(DateTime<Utc>),
    /// The committed offset moved by N (clamped to the partition's range).
    Shift(i64),
}

/// An offset reset.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    pub group: String,
    pub topic: String,
    pub to: ResetTo,
    pub dry_run: bool,
}

/// One partition's move.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartitionReset {
    pub topic: String,
    pub partition: i32,
    /// The committed offset before (none when the group never committed here).
    pub from: Option<i64>,
    pub to: i64,
}

/// Resets the committed offsets of `group` on every partition of `topic`; see the module docs.
pub fn reset(kafka: &KafkaConfig, req: &ResetRequest) -> Result<Vec<PartitionReset>> {
    if let Some((_, state, members)) = groups(kafka, Some(&req.group))?
        .into_iter()
        .find(|(n, _, _)| *n == req.group)
    {
        if members > 0 {
            return Err(ConsoleError::Refused(format!(
                "group {} has {members} active member(s) (state {state}); stop its consumers first, \
                 or they would overwrite the reset with their next commit",
                req.group
            )));
        }
    }
    let c = group_consumer(kafka, &req.group)?;
    let md = c
        .fetch_metadata(Some(&req.topic), TIMEOUT)
        .map_err(|e| ConsoleError::kafka("reading metadata", e))?;
    let n = md
        .topics()
        .iter()
        .find(|t| t.name() == req.topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32)
        .filter(|n| *n > 0)
        .ok_or_else(|| ConsoleError::Input(format!("topic {} does not exist", req.topic)))?;
    let before = committed(kafka, &req.group, std::slice::from_ref(&req.topic))?;
    let mut times = BTreeMap::new();
    if let ResetTo::Time(at) = &req.to {
        let mut tpl = TopicPartitionList::new();
        for p in 0..n {
            let _ = tpl.add_partition_offset(&req.topic, p, Offset::Offset(at.timestamp_millis()));
        }
        let got = c
            .offsets_for_times(tpl, TIMEOUT)
            .map_err(|e| ConsoleError::kafka("looking up offsets for the datetime", e))?;
        for e in got.elements() {
            if let Offset::Offset(o) = e.offset() {
                if o >= 0 {
                    times.insert(e.partition(), o);
                }
            }
        }
    }
    let mut plan = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..n {
        let (low, high) = c.fetch_watermarks(&req.topic, p, TIMEOUT).map_err(|e| {
            ConsoleError::kafka(&format!("reading the watermarks of {}", req.topic), e)
        })?;
        let from = before.get(&(req.topic.clone(), p)).copied();
        let to = match &req.to {
            ResetTo::Earliest => low,
            ResetTo::Latest => high,
            ResetTo::Time(_) => times.get(&p).copied().unwrap_or(high),
            ResetTo::Shift(by) => match from {
                Some(f) => (f + by).clamp(low, high),
                None => {
                    return Err(ConsoleError::Input(format!(
                        "group {} has no committed offset on {} partition {p} to shift from",
                        req.group, req.topic
                    )))
                }
            },
        };
        let _ = tpl.add_partition_offset(&req.topic, p, Offset::Offset(to));
        plan.push(PartitionReset {
            topic: req.topic.clone(),
            partition: p,
            from,
            to,
        });
    }
    if !req.dry_run {
        c.commit(&tpl, CommitMode::Sync).map_err(|e| {
            ConsoleError::kafka(&format!("committing offsets for {}", req.group), e)
        })?;
    }
    Ok(plan)
}
