//! Offsets shared by the demo and the benchmark: end offsets of topics, and waiting until a
//! consumer group has committed everything (its lag is zero).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use weft_core::kafka::KafkaConfig;

/// The high watermark of every partition of `topics`.
pub fn end_offsets(
    kafka: &KafkaConfig,
    topics: &[String],
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "weft-demo-reader")
        .create()?;
    let mut out = BTreeMap::new();
    for topic in topics {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for p in md.topics().iter().flat_map(|t| t.partitions()) {
            let (_, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            out.insert((topic.clone(), p.id()), high);
        }
    }
    Ok(out)
}

/// Waits until each group's committed offsets reach the end of its input topics.
pub fn wait_settled(
    kafka: &KafkaConfig,
    groups: &[(String, Vec<String>)],
    timeout: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    wait_settled_or_quiet(kafka, groups, timeout, stop, None).map(|_| ())
}

/// How long a group's lag and consumed count must stand still to count as quiet.
const QUIET: Duration = Duration::from_secs(3);

/// Like [`wait_settled`]; with `consumed` (records a group's processors have consumed so far), a
/// group whose committed lag is above zero but whose lag and consumed count have not moved for 3 s
/// also counts as settled, and is returned. That is the Nisshi 0.7.0 gap: it does not keep the
/// offsets of a transaction that wrote no record (a sink's, or one that only moves past a
/// transaction marker), so such a group's committed lag never reaches zero there; on Apache Kafka
/// the list comes back empty.
pub fn wait_settled_or_quiet(
    kafka: &KafkaConfig,
    groups: &[(String, Vec<String>)],
    timeout: Duration,
    stop: &AtomicBool,
    consumed: Option<&(dyn Fn(&str) -> u64 + Sync)>,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    let mut still: BTreeMap<String, (i64, u64, Instant)> = BTreeMap::new();
    loop {
        let mut lagging = Vec::new();
        let mut quiet = Vec::new();
        for (group, inputs) in groups {
            let ends = end_offsets(kafka, inputs)?;
            let consumer: BaseConsumer = kafka.client_config().set("group.id", group).create()?;
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in ends.keys() {
                tpl.add_partition(topic, *partition);
            }
            let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
            let mut lag = 0;
            for e in committed.elements() {
                let end = ends[&(e.topic().to_string(), e.partition())];
                let at = match e.offset() {
                    Offset::Offset(o) => o,
                    _ => 0,
                };
                lag += (end - at).max(0);
            }
            if lag > 0 {
                let seen = consumed.map(|f| f(group));
                let now = (lag, seen.unwrap_or(0));
                let since = match still.get(group) {
                    Some((l, c, t)) if (*l, *c) == now => *t,
                    _ => Instant::now(),
                };
                still.insert(group.clone(), (now.0, now.1, since));
                if seen.is_some() && since.elapsed() >= QUIET {
                    quiet.push(format!("{group} ({lag} behind, quiet)"));
                } else {
                    lagging.push(format!("{group} ({lag} behind)"));
                }
            }
        }
        if lagging.is_empty() {
            return Ok(quiet);
        }
        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            bail!(
                "the flows did not settle within {timeout:?}: {}",
                lagging.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
