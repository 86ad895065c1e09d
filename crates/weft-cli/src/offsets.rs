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
///
/// One pass reads every input's end, then each group's committed offsets, then the ends again;
/// it counts as settled only when every lag is 0 against the second ends **and** no end moved
/// during the pass. Otherwise a transaction committing between two reads (one group's output,
/// which is another group's input, or a record moved on to a repartition topic or a retry tier
/// with its input's offset) could be missed: the reads are not one snapshot.
pub fn wait_settled(
    kafka: &KafkaConfig,
    groups: &[(String, Vec<String>)],
    timeout: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut topics: Vec<String> = groups.iter().flat_map(|(_, t)| t.clone()).collect();
    topics.sort();
    topics.dedup();
    loop {
        let before = end_offsets(kafka, &topics)?;
        let mut committed = BTreeMap::new();
        for (group, inputs) in groups {
            let consumer: BaseConsumer = kafka.client_config().set("group.id", group).create()?;
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in before.keys().filter(|(t, _)| inputs.contains(t)) {
                tpl.add_partition(topic, *partition);
            }
            committed.insert(
                group.clone(),
                weft_core::kafka::committed_offsets(&consumer, &tpl, Duration::from_secs(10))?,
            );
        }
        let ends = end_offsets(kafka, &topics)?;
        let mut lagging = Vec::new();
        for (group, offsets) in &committed {
            let mut lag = 0;
            for e in offsets.elements() {
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
        if lagging.is_empty() && before == ends {
            return Ok(());
        }
        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            if lagging.is_empty() {
                lagging.push("none behind, but the topics kept growing".into());
            }
            bail!(
                "the flows did not settle within {timeout:?}; stuck: {}",
                lagging.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
