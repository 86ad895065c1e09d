//! The relay's ledger: a compacted, single-partition topic holding, per relay instance (the
//! key), the row ids of its last batch, written **in the Kafka transaction of the batch's
//! records**. It is how the relay knows, after a crash between the Kafka commit and the database
//! update, which of its claimed rows Kafka already holds.
//!
//! Only the last batch of an instance can be committed in Kafka and not yet settled in the
//! database (a relay settles a batch before it claims the next), so compaction by instance
//! keeps all the ledger ever needs.
//!
//! Reading: after `init_transactions` (which aborts the instance's open transaction and fences
//! its zombie), the ledger is read read_committed **up to the high watermark taken then**, not
//! just to the first end-of-partition: a read_committed reader stops at the last stable offset,
//! which another relay's open transaction can hold below a record of the instance's committed
//! batch. The read waits for such transactions to end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weft_core::kafka::KafkaConfig;

use crate::error::{OutboxError, Result};

/// One batch of one instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub instance: String,
    /// The instance's batch counter (for people reading the ledger).
    pub batch: u64,
    pub published: Vec<Uuid>,
    /// Dead-lettered rows with the error each was dead-lettered for.
    pub dead: Vec<(Uuid, String)>,
}

/// How long a ledger read may wait for other relays' transactions to end.
const READ_LIMIT: Duration = Duration::from_secs(90);

/// The last entry of every instance in the ledger `topic`, read as described above.
pub fn read(kafka: &KafkaConfig, topic: &str) -> Result<BTreeMap<String, Entry>> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "weft-outbox-ledger-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|e| OutboxError::kafka("creating the ledger reader", e))?;
    // The end to read to is the high watermark, asked by a read_uncommitted client: librdkafka
    // asks for the end with the client's isolation level, and a read_committed client is told
    // the last stable offset, which an open transaction of another relay holds below a record
    // of the committed batch this read must see.
    let watcher: BaseConsumer = kafka
        .client_config()
        .set("group.id", "weft-outbox-ledger-reader")
        .set("isolation.level", "read_uncommitted")
        .create()
        .map_err(|e| OutboxError::kafka("creating the ledger's watermark reader", e))?;
    let (_, high) = watcher
        .fetch_watermarks(topic, 0, Duration::from_secs(30))
        .map_err(|e| OutboxError::kafka(&format!("reading the end of {topic}"), e))?;
    let mut entries = BTreeMap::new();
    if high <= 0 {
        return Ok(entries);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|e| OutboxError::kafka("assigning the ledger", e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| OutboxError::kafka("assigning the ledger", e))?;
    let deadline = Instant::now() + READ_LIMIT;
    loop {
        let position = consumer
            .position()
            .ok()
            .and_then(|p| p.find_partition(topic, 0).map(|e| e.offset()));
        if matches!(position, Some(Offset::Offset(o)) if o >= high) {
            return Ok(entries);
        }
        if Instant::now() > deadline {
            return Err(OutboxError::kafka(
                &format!("reading {topic}"),
                format!(
                    "the ledger did not become readable up to offset {high} within {READ_LIMIT:?} \
                     (a transaction left open?)"
                ),
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
                match (key, m.payload()) {
                    (Some(k), Some(v)) => match serde_json::from_slice::<Entry>(v) {
                        Ok(e) => {
                            entries.insert(k, e);
                        }
                        Err(e) => {
                            return Err(OutboxError::kafka(
                                &format!("reading {topic}@{}", m.offset()),
                                format!("not a ledger entry: {e}"),
                            ))
                        }
                    },
                    (Some(k), None) => {
                        entries.remove(&k);
                    }
                    _ => {}
                }
            }
            Some(Err(e)) if !weft_core::kafka::is_transient(&e) => {
                return Err(OutboxError::kafka(&format!("reading {topic}"), e));
            }
            Some(Err(_)) | None => {}
        }
    }
}
