//! What the bench measures, at a `read_committed` reader of the output: when each output (by its
//! key, the order id, unique per event) became visible, and how many times.
//!
//! Visibility at a read_committed reader is the honest end of the pipeline: an exactly-once
//! system's outputs count only once their transaction commits, not when they are handed to a
//! producer inside an open transaction.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use weft_core::kafka::KafkaConfig;

/// Outputs seen so far: key -> (first time visible, copies).
#[derive(Default)]
pub struct Seen {
    pub by_key: BTreeMap<String, (Instant, usize)>,
    pub total: usize,
}

/// A reader of every partition of `topic` from its start, on its own thread, until `stop`.
pub struct Reader {
    pub seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Reader {
    pub fn start(kafka: &KafkaConfig, topic: &str, partitions: i32) -> anyhow::Result<Reader> {
        let consumer: BaseConsumer = kafka
            .client_config()
            .set(
                "group.id",
                format!("weft-bench-reader-{}", uuid::Uuid::new_v4()),
            )
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                while !stop.load(Ordering::SeqCst) {
                    match consumer.poll(Duration::from_millis(20)) {
                        Some(Ok(m)) => {
                            let now = Instant::now();
                            let key =
                                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                            let mut s = seen.lock().expect("the reader's lock");
                            s.total += 1;
                            s.by_key.entry(key).or_insert((now, 0)).1 += 1;
                        }
                        Some(Err(e)) => bail!("the bench reader: {e}"),
                        None => {}
                    }
                }
                Ok(())
            })
        };
        Ok(Reader {
            seen,
            stop,
            thread: Some(thread),
        })
    }

    /// How many of `keys` are visible.
    pub fn count_of<'k>(&self, keys: impl Iterator<Item = &'k String>) -> usize {
        let s = self.seen.lock().expect("the reader's lock");
        keys.filter(|k| s.by_key.contains_key(*k)).count()
    }

    /// How many distinct keys are visible. Cheap: a run waiting on a backlog asks it every few
    /// milliseconds, and asking about 200,000 keys each time (`count_of`) held the reader's lock
    /// and a core long enough to make the reader, not the system, the bottleneck.
    pub fn distinct(&self) -> usize {
        self.seen.lock().expect("the reader's lock").by_key.len()
    }

    pub fn total(&self) -> usize {
        self.seen.lock().expect("the reader's lock").total
    }

    pub fn finish(mut self) -> anyhow::Result<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("the bench reader panicked"))??;
        }
        let seen = std::mem::take(&mut *self.seen.lock().expect("the reader's lock"));
        Ok(seen)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The `p`th percentile (0-100) of sorted `values`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

/// Median, minimum and maximum.
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (
        percentile(&v, 50.0),
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_spread() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
