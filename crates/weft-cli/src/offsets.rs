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

/// Waits until each group's committed offsets reach the end of its input topics (lag 0 on
/// every partition: the runtime commits past transaction markers). On timeout or `stop` the
/// error names every group still behind and by how much.
pub fn wait_settled(
    kafka: &KafkaConfig,
    groups: &[(String, Vec<String>)],
    timeout: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut lagging = Vec::new();
        for (group, inputs) in groups {
            let ends = end_offsets(kafka, inputs)?;
            let consumer: BaseConsumer = kafka.client_config().set("group.id", group).create()?;
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in ends.keys() {
                tpl.add_partition(topic, *partition);
            }
            let committed =
                weft_core::kafka::committed_offsets(&consumer, &tpl, Duration::from_secs(10))?;
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
                lagging.push(format!("{group} ({lag} behind)"));
            }
        }
        if lagging.is_empty() {
            return Ok(());
        }
        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            bail!(
                "the flows did not settle within {timeout:?}; stuck: {}",
                lagging.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
