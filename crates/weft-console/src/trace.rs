//! `weft trace`: every event of one business flow across topics, as a causation tree.
//!
//! The scan reads the chosen topics from the beginning to their current end (all spec topics
//! that exist, plus dead-letter topics, or the topics matching a pattern), decodes each value and
//! keeps the events whose `metadata.correlation_id` is the one asked for. Given an event id
//! instead, the same scan finds that event and uses its correlation id. Edges run from
//! `causation_id` to `event_id`; an event whose cause was not found is a root (marked so).
//! Records found in dead-letter topics are not separate nodes: they annotate the event with the
//! same id (processor, error class and message), which is how a stuck flow shows where it stopped.
//! An event seen more than once (a replay) is one node with a copy count.
//!
//! A window (`--since`, `--until`) bounds the scan: each partition is read from its first offset
//! at or after `since` (offsets for times: nothing older is fetched) and stops before its first
//! offset at or after `until`, or at the end it had when the scan began, so a trace of the last
//! hour on a topic with a year of history reads an hour of records.
//!
//! Failure modes: without a window a scan reads whole topics, so it takes as long as reading them
//! (progress goes to the caller's callback); an id that matches nothing is
//! [`ConsoleError::NotFound`] (exit 6), also when the flow's events lie outside the window.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use weft_core::headers as h;
use weft_core::kafka::KafkaConfig;
use weft_core::naming;

use crate::consume::{partitions_of, read_window, topics_matching, Isolation, Window};
use crate::error::{ConsoleError, Result};
use crate::registry::Registry;

/// What to trace.
#[derive(Debug, Clone, Default)]
pub struct TraceRequest {
    /// Start from this event (its correlation id is traced).
    pub event_id: Option<String>,
    /// Trace this correlation id.
    pub correlation_id: Option<String>,
    /// Topics to scan; empty means `pattern`, else every existing spec topic and dead-letter topic.
    pub topics: Vec<String>,
    /// A whole-name regex of topics to scan.
    pub pattern: Option<String>,
    /// Only records written inside this window are read (offsets for times per partition).
    pub window: Window,
}

/// Where an event was dead-lettered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeadLetter {
    pub topic: String,
    pub processor: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub attempt: Option<String>,
}

/// One event of the flow with the events it caused.
#[derive(Debug, Clone, Serialize)]
pub struct TraceNode {
    pub event_id: String,
    pub event_type: Option<String>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub occurred_at: Option<String>,
    pub timestamp: Option<String>,
    pub producer: Option<String>,
    pub causation_id: Option<String>,
    /// True when the event names a cause that the scan did not find.
    pub cause_missing: bool,
    /// How many times the event was seen (more than one after a replay).
    pub copies: usize,
    pub dead_letters: Vec<DeadLetter>,
    pub children: Vec<TraceNode>,
}

/// A traced flow.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub correlation_id: String,
    pub events: usize,
    pub topics: Vec<String>,
    pub scanned_topics: usize,
    pub scanned_records: usize,
    pub roots: Vec<TraceNode>,
}

/// The topics a trace scans by default: spec topics and dead-letter topics that exist.
pub fn default_topics(kafka: &KafkaConfig, spec_topics: &[String]) -> Result<Vec<String>> {
    let existing: BTreeSet<String> = topics_matching(kafka, ".*")?.into_iter().collect();
    Ok(existing
        .iter()
        .filter(|t| spec_topics.contains(t) || naming::is_dead_letter_topic(t))
        .cloned()
        .collect())
}

/// Scans and builds the tree; `progress` gets the number of records read so far.
pub async fn trace(
    kafka: &KafkaConfig,
    registry: &Registry,
    req: &TraceRequest,
    mut progress: impl FnMut(usize),
) -> Result<Trace> {
    if req.event_id.is_none() && req.correlation_id.is_none() {
        return Err(ConsoleError::Input(
            "give an event id or --correlation-id".into(),
        ));
    }
    let names = match (&req.pattern, req.topics.is_empty()) {
        (Some(p), _) => topics_matching(kafka, p)?,
        (None, false) => req.topics.clone(),
        (None, true) => {
            return Err(ConsoleError::Input(
                "no topics to scan: give --topics or a topics directory".into(),
            ))
        }
    };
    let parts = partitions_of(kafka, &names)?;
    // Keep every decoded event's identity; the correlation is known only after the scan when
    // starting from an event id.
    struct Seen {
        node: TraceNode,
        correlation: Option<String>,
        dead: Option<DeadLetter>,
    }
    let mut seen: Vec<Seen> = Vec::new();
    let mut read = 0;
    read_window(
        kafka,
        Some(registry),
        &parts,
        &req.window,
        Isolation::Committed,
        |r| {
            read += 1;
            if read % 1000 == 0 {
                progress(read);
            }
            let Some(event_id) = r.event_id() else {
                return true;
            };
            let correlation = r.field_text("metadata.correlation_id");
            if let Some(c) = &req.correlation_id {
                if correlation.as_deref() != Some(c.as_str())
                    && req.event_id.as_deref() != Some(event_id.as_str())
                {
                    return true;
                }
            }
            let dead = naming::is_dead_letter_topic(&r.topic).then(|| DeadLetter {
                topic: r.topic.clone(),
                processor: r.header(h::DLQ_PROCESSOR).map(str::to_string),
                error_class: r.header(h::DLQ_ERROR_CLASS).map(str::to_string),
                error_message: r.header(h::DLQ_ERROR_MESSAGE).map(str::to_string),
                attempt: r.header(h::DLQ_ATTEMPT).map(str::to_string),
            });
            let node = TraceNode {
                topic: r
                    .header(h::DLQ_SOURCE_TOPIC)
                    .filter(|_| dead.is_some())
                    .map(str::to_string)
                    .unwrap_or_else(|| r.topic.clone()),
                event_type: r.event_type(),
                partition: r.partition,
                offset: r.offset,
                key: r.key.clone(),
                occurred_at: r.field_text("metadata.occurred_at"),
                timestamp: r.timestamp.clone(),
                producer: r.field_text("metadata.producer"),
                causation_id: r.field_text("metadata.causation_id"),
                cause_missing: false,
                copies: 1,
                dead_letters: vec![],
                children: vec![],
                event_id,
            };
            seen.push(Seen {
                node,
                correlation,
                dead,
            });
            true
        },
    )
    .await?;
    let correlation = match (&req.correlation_id, &req.event_id) {
        (Some(c), _) => c.clone(),
        (None, Some(id)) => seen
            .iter()
            .find(|s| &s.node.event_id == id)
            .and_then(|s| s.correlation.clone())
            .ok_or_else(|| {
                ConsoleError::NotFound(format!(
                    "no event {id} with a decodable correlation id in {} topics ({read} records)",
                    names.len()
                ))
            })?,
        (None, None) => unreachable!("checked above"),
    };
    // One node per event id; dead letters annotate, copies count.
    let mut nodes: BTreeMap<String, TraceNode> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut pending_dead: Vec<(String, DeadLetter, TraceNode)> = Vec::new();
    for s in seen
        .into_iter()
        .filter(|s| s.correlation.as_deref() == Some(correlation.as_str()))
    {
        match s.dead {
            Some(d) => pending_dead.push((s.node.event_id.clone(), d, s.node)),
            None => match nodes.get_mut(&s.node.event_id) {
                Some(n) => n.copies += 1,
                None => {
                    order.push(s.node.event_id.clone());
                    nodes.insert(s.node.event_id.clone(), s.node);
                }
            },
        }
    }
    for (id, d, node) in pending_dead {
        match nodes.get_mut(&id) {
            Some(n) => n.dead_letters.push(d),
            None => {
                // Only the dead letter is left (the source topic was not scanned): show it.
                let mut node = node;
                node.dead_letters.push(d);
                order.push(id.clone());
                nodes.insert(id, node);
            }
        }
    }
    if nodes.is_empty() {
        return Err(ConsoleError::NotFound(format!(
            "no event with correlation id {correlation} in {} topics ({read} records)",
            names.len()
        )));
    }
    let events = nodes.len();
    let topics: BTreeSet<String> = nodes.values().map(|n| n.topic.clone()).collect();
    // Children by cause, in the order events were seen (sorted by occurred_at then offset).
    order.sort_by(|a, b| {
        let (x, y) = (&nodes[a], &nodes[b]);
        (x.occurred_at.as_deref(), x.timestamp.as_deref())
            .cmp(&(y.occurred_at.as_deref(), y.timestamp.as_deref()))
    });
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut roots = Vec::new();
    for id in &order {
        let n = &nodes[id];
        match n
            .causation_id
            .as_ref()
            .filter(|c| nodes.contains_key(*c) && *c != id)
        {
            Some(c) => children.entry(c.clone()).or_default().push(id.clone()),
            None => roots.push(id.clone()),
        }
    }
    fn build(
        id: &str,
        nodes: &mut BTreeMap<String, TraceNode>,
        children: &BTreeMap<String, Vec<String>>,
        depth: usize,
    ) -> Option<TraceNode> {
        let mut node = nodes.remove(id)?;
        node.cause_missing = node.causation_id.is_some() && depth == 0;
        if depth < 256 {
            for c in children.get(id).into_iter().flatten() {
                if let Some(child) = build(c, nodes, children, depth + 1) {
                    node.children.push(child);
                }
            }
        }
        Some(node)
    }
    let mut tree = Vec::new();
    for r in &roots {
        if let Some(n) = build(r, &mut nodes, &children, 0) {
            tree.push(n);
        }
    }
    // A causation cycle leaves nodes unreached: show them as roots rather than drop them.
    let left: Vec<String> = nodes.keys().cloned().collect();
    for id in left {
        if let Some(n) = build(&id, &mut nodes, &children, 0) {
            tree.push(n);
        }
    }
    Ok(Trace {
        correlation_id: correlation,
        events,
        topics: topics.into_iter().collect(),
        scanned_topics: names.len(),
        scanned_records: read,
        roots: tree,
    })
}

impl Trace {
    /// The tree as text, one event per line.
    pub fn to_text(&self, colour: bool) -> String {
        let (dim, red, reset) = if colour {
            ("\x1b[2m", "\x1b[31m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let mut out = format!(
            "correlation {}: {} event(s) in {} topic(s) {dim}(scanned {} records in {} topics){reset}\n",
            self.correlation_id,
            self.events,
            self.topics.len(),
            self.scanned_records,
            self.scanned_topics
        );
        fn walk(n: &TraceNode, prefix: &str, last: bool, out: &mut String, c: (&str, &str, &str)) {
            let (dim, red, reset) = c;
            let branch = if last { "└─ " } else { "├─ " };
            out.push_str(&format!(
                "{prefix}{branch}{} {dim}{}{reset} {} [{}:{}] by {} {dim}event {}{}{reset}{}\n",
                n.occurred_at
                    .as_deref()
                    .or(n.timestamp.as_deref())
                    .unwrap_or("-"),
                n.event_type.as_deref().unwrap_or("?"),
                n.topic,
                n.partition,
                n.offset,
                n.producer.as_deref().unwrap_or("?"),
                n.event_id,
                if n.cause_missing {
                    format!(
                        ", cause {} not found",
                        n.causation_id.as_deref().unwrap_or("?")
                    )
                } else {
                    String::new()
                },
                if n.copies > 1 {
                    format!(" (seen {} times)", n.copies)
                } else {
                    String::new()
                }
            ));
            let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
            for d in &n.dead_letters {
                out.push_str(&format!(
                    "{child_prefix}{red}✗ dead-lettered in {} by {} ({}, attempt {}): {}{reset}\n",
                    d.topic,
                    d.processor.as_deref().unwrap_or("?"),
                    d.error_class.as_deref().unwrap_or("?"),
                    d.attempt.as_deref().unwrap_or("?"),
                    d.error_message.as_deref().unwrap_or("")
                ));
            }
            for (i, ch) in n.children.iter().enumerate() {
                walk(ch, &child_prefix, i + 1 == n.children.len(), out, c);
            }
        }
        for (i, r) in self.roots.iter().enumerate() {
            walk(
                r,
                "",
                i + 1 == self.roots.len(),
                &mut out,
                (dim, red, reset),
            );
        }
        out
    }
}
