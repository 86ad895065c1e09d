//! Per-key ordering across retries (a group's `ordering: per_key`).
//!
//! Retry tiers let a later record of a key overtake one that is waiting to be retried. With
//! per-key ordering, while a key has a record in a retry tier, its later records are *parked*
//! behind it: sent to the first retry tier too (not as failures: their attempt count does not
//! change), in the same transaction that commits their offset, and released in the order they
//! arrived once every earlier record of the key is done (succeeded or dead-lettered).
//!
//! The state is one queue of record identities (first source `topic/partition/offset`, with
//! the time each comes out of its tier when known: `{"id": …, "due": epoch ms}`, or the bare id)
//! per waiting key, written to the group's compacted parking topic `<group>.parking` in the same
//! transaction as the records it describes, so it commits or aborts with them and comes back on
//! any pod: on assignment the loop reads the assigned partitions of the parking topic to their end
//! before it processes anything of those partitions, once every transaction already written to
//! them is decided (a previous owner's commit in flight: [`crate::settled`]).
//!
//! Decisions ([`Parking::decide`]): a record from an input topic is processed when its key has no
//! queue, parked otherwise; a record from a retry tier is processed when it is at the head of its
//! key's queue, parked again (back into the first tier) when it is queued behind others, and
//! processed when its key has no queue (a retry from before ordering was turned on).
//!
//! When a parked record comes back ([`Parking::park_due`]): its `weft-retry-due` is when every
//! record ahead of it in its key's queue will have come out of its tier, as far as this process
//! knows (it sent them there since it last restored the partition), so a queue drains right
//! after its head succeeds instead of a tier delay later per record; new records of the key that
//! arrive meanwhile are parked to come back with them, and the queue empties. Due times are kept
//! in the parking state, so they survive a rebalance, an abort or a restart (eager rebalances
//! every few seconds would otherwise leave every queue unknown). A record parked behind a head
//! that is overdue (due, its tier partition not read yet) comes back at once, behind it in the
//! partition; one that comes back before its turn parks again, at least 200 ms ahead. When a due
//! time ahead is unknown (a state written before due times were kept), a parked record comes back
//! after the first tier's delay and parks again if its turn has not come. A parked record may so
//! be due before records written ahead of it in its tier partition: it waits behind them.
//!
//! The trade-off, by design: a poison key holds only its own key, for as long as its head record
//! is retried (at most the sum of the tier delays, then it is dead-lettered and the queue moves
//! on); each record parked costs one write to the first tier, and one more each time it comes
//! back before its turn.
//!
//! Requirements, checked at start: the loop must own partition `p` of every input, retry tier and
//! the parking topic together: equal partition counts, the range assignor (the classic protocol's
//! default; cooperative-sticky and KIP-848 assignors do not co-partition), and inputs partitioned
//! by murmur2 of the key (the Java client's default, and weft's).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use weft_core::kafka::KafkaConfig;

use crate::processor::Output;
use crate::RuntimeError;

/// What to do with a record of a per-key ordered group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Process,
    Park,
}

/// How a processed record ended, as far as its key's queue is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Succeeded or dead-lettered: it leaves the queue.
    Done,
    /// Sent to a retry tier, due then: it heads (or joins) its key's queue.
    Retried(DateTime<Utc>),
}

/// The shortest time a record that came back before its turn stays in the tier again, so a
/// queue whose head is late (its due time passed, its tier partition not yet read) is not
/// cycled at transaction speed.
const REPARK_AT_LEAST: chrono::TimeDelta = chrono::TimeDelta::milliseconds(200);

/// One waiting record in a parking state: its id, with when it comes out of its tier (epoch ms)
/// when the process that wrote the state knew it. A bare id (also what states written before
/// due times were kept hold) reads as an unknown due time.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Entry {
    Known { id: String, due: i64 },
    Bare(String),
}

/// The waiting keys of the partitions this loop owns.
pub struct Parking {
    topic: String,
    /// key -> (partition, record ids in arrival order)
    queues: BTreeMap<Vec<u8>, (i32, VecDeque<String>)>,
    /// Queued record id -> when it comes out of the tier this process sent it to (retried or
    /// parked). Not kept in the parking topic: after a restore it is unknown.
    due: BTreeMap<String, DateTime<Utc>>,
}

impl Parking {
    pub fn new(topic: &str) -> Self {
        Parking {
            topic: topic.to_string(),
            queues: BTreeMap::new(),
            due: BTreeMap::new(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Keys with records waiting.
    pub fn waiting_keys(&self) -> usize {
        self.queues.len()
    }

    pub fn decide(&self, key: &[u8], id: &str, from_retry_tier: bool) -> Decision {
        let queue = self.queues.get(key).map(|(_, q)| q);
        match (from_retry_tier, queue) {
            (false, Some(q)) if !q.is_empty() => Decision::Park,
            (false, _) => Decision::Process,
            (true, Some(q)) if q.front().is_some_and(|h| h == id) => Decision::Process,
            (true, Some(q)) if q.iter().any(|x| x == id) => Decision::Park,
            (true, _) => Decision::Process,
        }
    }

    /// When `id`, parked now, should come back out of the first tier (`first_delay`): once every
    /// record ahead of it in its key's queue has come back (not before `now`; at least
    /// [`REPARK_AT_LEAST`] ahead when `id` is already queued, i.e. came back before its turn),
    /// or after `first_delay` when any of their due times is unknown.
    pub fn park_due(
        &self,
        key: &[u8],
        id: &str,
        now: DateTime<Utc>,
        first_delay: std::time::Duration,
    ) -> DateTime<Utc> {
        let Some((_, q)) = self.queues.get(key) else {
            return now;
        };
        let mut latest = now;
        for ahead in q.iter().take_while(|x| *x != id) {
            match self.due.get(ahead) {
                Some(d) => latest = latest.max(*d),
                None => return crate::failure::due_after(now, &first_delay),
            }
        }
        if q.iter().any(|x| x == id) {
            latest = latest.max(now + REPARK_AT_LEAST);
        }
        latest
    }

    /// `id` was parked, due out of the tier at `due`: it joins the end of its key's queue
    /// (once). Returns the state record.
    pub fn parked(&mut self, partition: i32, key: &[u8], id: &str, due: DateTime<Utc>) -> Output {
        let (_, q) = self
            .queues
            .entry(key.to_vec())
            .or_insert_with(|| (partition, VecDeque::new()));
        if !q.iter().any(|x| x == id) {
            q.push_back(id.to_string());
        }
        self.due.insert(id.to_string(), due);
        self.state(key)
    }

    /// `id` was processed and `ended` so; returns the state record when the queue changed.
    pub fn processed(
        &mut self,
        partition: i32,
        key: &[u8],
        id: &str,
        ended: Ended,
    ) -> Option<Output> {
        match ended {
            Ended::Retried(due) => {
                let (_, q) = self
                    .queues
                    .entry(key.to_vec())
                    .or_insert_with(|| (partition, VecDeque::new()));
                self.due.insert(id.to_string(), due);
                if q.iter().any(|x| x == id) {
                    return None;
                }
                // A record retried for the first time is the oldest of its key in flight.
                q.push_front(id.to_string());
                Some(self.state(key))
            }
            Ended::Done => {
                self.due.remove(id);
                let (_, q) = self.queues.get_mut(key)?;
                let before = q.len();
                q.retain(|x| x != id);
                if q.len() == before {
                    return None;
                }
                let mut out = self.state(key);
                if self.queues.get(key).is_some_and(|(_, q)| q.is_empty()) {
                    out.partition = Some(partition);
                    self.queues.remove(key);
                }
                Some(out)
            }
        }
    }

    /// The parking record of `key` in its partition: its queue as a JSON array, a tombstone once
    /// empty (compaction then forgets the key).
    fn state(&self, key: &[u8]) -> Output {
        let (partition, ids) = match self.queues.get(key) {
            Some((p, q)) => (
                Some(*p),
                q.iter()
                    .map(|id| match self.due.get(id) {
                        Some(due) => Entry::Known {
                            id: id.clone(),
                            due: due.timestamp_millis(),
                        },
                        None => Entry::Bare(id.clone()),
                    })
                    .collect::<Vec<_>>(),
            ),
            None => (None, vec![]),
        };
        Output {
            topic: self.topic.clone(),
            key: Some(key.to_vec()),
            // An empty queue is a tombstone (an empty value): compaction removes the key.
            value: if ids.is_empty() {
                vec![]
            } else {
                serde_json::to_vec(&ids).unwrap_or_default()
            },
            headers: vec![],
            partition,
        }
    }

    /// Forgets the keys of partitions this loop no longer owns.
    pub fn forget(&mut self, partitions: &BTreeSet<i32>) {
        self.queues.retain(|_, (p, _)| !partitions.contains(p));
        let queued: BTreeSet<&String> = self.queues.values().flat_map(|(_, q)| q).collect();
        self.due.retain(|id, _| queued.contains(id));
    }

    /// Reads `partitions` of the parking topic (read_committed) to their end and takes their
    /// queues as the state of those partitions.
    pub fn restore(
        &mut self,
        kafka: &KafkaConfig,
        group: &str,
        partitions: &BTreeSet<i32>,
        watchdog: &crate::watchdog::Watchdog,
    ) -> Result<(), RuntimeError> {
        if partitions.is_empty() {
            return Ok(());
        }
        self.forget(partitions);
        let topic = self.topic.clone();
        let fail = |what: &str, e: &dyn std::fmt::Display| RuntimeError::Fatal {
            operation: format!("restoring {topic} ({what})"),
            message: e.to_string(),
        };
        // A new reader each time: one kept between restores delivered the previous restore's
        // end-of-partition events to the next, which then stopped before reading (the chaos
        // test caught it as a broken per-key order).
        let consumer: BaseConsumer = kafka
            .client_config()
            .set("group.id", format!("{group}.parking-restore"))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            // The end is what a restore waits for: do not let the broker hold an empty fetch
            // for the default 500 ms.
            .set("fetch.wait.max.ms", "10")
            .create()
            .map_err(|e| fail("creating a reader", &e))?;
        // A transaction still open on these partitions hides what was committed after it
        // (see `crate::settled`): wait until it is decided. 40 s, then 60 s to read: together
        // below the watchdog's limit, so a restore that cannot finish says so itself.
        let waiting_until = Instant::now() + Duration::from_secs(40);
        crate::settled::await_decided(&consumer, kafka, &topic, partitions, || {
            watchdog.tick("waiting for an open transaction on the parking topic");
            if Instant::now() > waiting_until {
                return Err("a transaction on it was not decided within 40 s".into());
            }
            Ok(())
        })
        .map_err(|e| fail("waiting for open transactions", &e))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(&topic, *p, Offset::Beginning)
                .map_err(|e| fail("assigning", &e))?;
        }
        consumer.assign(&tpl).map_err(|e| fail("assigning", &e))?;
        let mut at_end = BTreeSet::new();
        let mut restored: BTreeMap<Vec<u8>, (i32, Vec<Entry>)> = BTreeMap::new();
        while at_end.len() < partitions.len() {
            watchdog.tick("restoring the parking topic");
            if Instant::now() > deadline {
                return Err(fail("reading to the end", &"not done within 60 s"));
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    at_end.insert(p);
                }
                Some(Err(e)) if weft_core::kafka::is_transient(&e) => {
                    tracing::warn!("restoring {topic}: {e}; retrying");
                }
                Some(Err(e)) => return Err(fail("reading", &e)),
                Some(Ok(m)) => {
                    at_end.remove(&m.partition());
                    let Some(key) = m.key() else { continue };
                    let ids: Vec<Entry> = match m.payload() {
                        None | Some(b"") => vec![],
                        Some(v) => serde_json::from_slice(v).unwrap_or_else(|e| {
                            tracing::error!(
                                "{topic}[{}]@{}: unreadable parking state ({e}); the key's order \
                                 is no longer kept",
                                m.partition(),
                                m.offset()
                            );
                            vec![]
                        }),
                    };
                    if ids.is_empty() {
                        restored.remove(key);
                    } else {
                        restored.insert(key.to_vec(), (m.partition(), ids));
                    }
                }
                None => {}
            }
        }
        for (key, (partition, entries)) in restored {
            let mut q = VecDeque::with_capacity(entries.len());
            for entry in entries {
                let (id, due) = match entry {
                    Entry::Known { id, due } => (id, DateTime::from_timestamp_millis(due)),
                    Entry::Bare(id) => (id, None),
                };
                if let Some(due) = due {
                    self.due.insert(id.clone(), due);
                }
                q.push_back(id);
            }
            self.queues.insert(key, (partition, q));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time `ms` milliseconds after an arbitrary start.
    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    const TIER: std::time::Duration = std::time::Duration::from_secs(1);

    #[test]
    fn later_records_of_a_waiting_key_park_and_leave_in_order() {
        let mut p = Parking::new("g.parking");
        let k = b"order-1".as_slice();
        // The first record fails transiently: it heads the queue.
        assert_eq!(p.decide(k, "in/0/1", false), Decision::Process);
        assert!(p
            .processed(0, k, "in/0/1", Ended::Retried(at(1_000)))
            .is_some());
        // Two later records of the key park behind it; another key is not held.
        assert_eq!(p.decide(k, "in/0/2", false), Decision::Park);
        p.parked(0, k, "in/0/2", at(1_000));
        assert_eq!(p.decide(k, "in/0/3", false), Decision::Park);
        let state = p.parked(0, k, "in/0/3", at(1_000));
        let due = at(1_000).timestamp_millis();
        assert_eq!(
            String::from_utf8(state.value).unwrap(),
            format!(
                r#"[{{"id":"in/0/1","due":{due}}},{{"id":"in/0/2","due":{due}}},{{"id":"in/0/3","due":{due}}}]"#
            )
        );
        assert_eq!(state.partition, Some(0));
        assert_eq!(p.decide(b"order-2", "in/0/4", false), Decision::Process);
        // Out of the retry tier, a parked record whose turn has not come parks again.
        assert_eq!(p.decide(k, "in/0/3", true), Decision::Park);
        assert_eq!(p.decide(k, "in/0/2", true), Decision::Park);
        // The head succeeds on its retry; then the next one is released, then the last.
        assert_eq!(p.decide(k, "in/0/1", true), Decision::Process);
        p.processed(0, k, "in/0/1", Ended::Done);
        assert_eq!(p.decide(k, "in/0/3", true), Decision::Park);
        assert_eq!(p.decide(k, "in/0/2", true), Decision::Process);
        p.processed(0, k, "in/0/2", Ended::Done);
        assert_eq!(p.decide(k, "in/0/3", true), Decision::Process);
        let last = p.processed(0, k, "in/0/3", Ended::Done).unwrap();
        assert!(last.value.is_empty(), "a tombstone");
        assert_eq!(p.waiting_keys(), 0);
        // With the queue gone, new records of the key flow again.
        assert_eq!(p.decide(k, "in/0/9", false), Decision::Process);
    }

    #[test]
    fn a_head_that_is_retried_again_keeps_its_place() {
        let mut p = Parking::new("g.parking");
        let k = b"k".as_slice();
        p.processed(0, k, "in/0/1", Ended::Retried(at(1_000)));
        p.parked(0, k, "in/0/2", at(1_000));
        // Fails again on its retry: still the head, nothing changes.
        assert!(p
            .processed(0, k, "in/0/1", Ended::Retried(at(1_000)))
            .is_none());
        assert_eq!(p.decide(k, "in/0/2", true), Decision::Park);
        // Dead-lettered after its last tier: the queue moves on.
        p.processed(0, k, "in/0/1", Ended::Done);
        assert_eq!(p.decide(k, "in/0/2", true), Decision::Process);
    }

    #[test]
    fn a_retry_the_queue_does_not_know_is_processed() {
        let p = Parking::new("g.parking");
        assert_eq!(p.decide(b"k", "in/0/1", true), Decision::Process);
    }

    #[test]
    fn forgetting_a_partition_drops_its_keys_only() {
        let mut p = Parking::new("g.parking");
        p.processed(0, b"a", "in/0/1", Ended::Retried(at(1_000)));
        p.processed(1, b"b", "in/1/1", Ended::Retried(at(1_000)));
        p.forget(&BTreeSet::from([0]));
        assert_eq!(p.decide(b"a", "in/0/2", false), Decision::Process);
        assert_eq!(p.decide(b"b", "in/1/2", false), Decision::Park);
    }

    #[test]
    fn a_parked_record_comes_back_with_the_records_ahead_of_it() {
        let mut p = Parking::new("g.parking");
        let k = b"k".as_slice();
        // The head failed at 0 into the 1 s tier: due at 1 s.
        p.processed(0, k, "in/0/1", Ended::Retried(at(1_000)));
        // Parked at 200 ms: due with the head, not a tier delay later.
        assert_eq!(p.park_due(k, "in/0/2", at(200), TIER), at(1_000));
        p.parked(0, k, "in/0/2", at(1_000));
        // The head is late (due, not read yet): a record parked now comes back at once, behind it.
        assert_eq!(p.park_due(k, "in/0/3", at(1_050), TIER), at(1_050));
        // The head fails again into a 10 s tier: the queue waits for it.
        p.processed(0, k, "in/0/1", Ended::Retried(at(11_100)));
        assert_eq!(p.park_due(k, "in/0/3", at(1_100), TIER), at(11_100));
        // A parked record that came back before its turn, with its head overdue, is not cycled
        // at transaction speed.
        assert_eq!(p.park_due(k, "in/0/2", at(12_000), TIER), at(12_200));
    }

    #[test]
    fn behind_a_record_whose_due_time_is_unknown_a_parked_record_waits_a_tier_delay() {
        let mut p = Parking::new("g.parking");
        let k = b"k".as_slice();
        p.processed(0, k, "in/0/1", Ended::Retried(at(1_000)));
        p.parked(0, k, "in/0/2", at(1_000));
        // What a restore brings back: the queue, not the due times.
        p.forget(&BTreeSet::from([0]));
        p.queues.insert(
            k.to_vec(),
            (
                0,
                VecDeque::from(["in/0/1".to_string(), "in/0/2".to_string()]),
            ),
        );
        assert!(
            p.due.is_empty(),
            "forgetting a partition forgets its due times"
        );
        assert_eq!(p.park_due(k, "in/0/3", at(300), TIER), at(1_300));
        // The head comes back and succeeds: what is left ahead of in/0/3 is still unknown.
        p.processed(0, k, "in/0/1", Ended::Done);
        assert_eq!(p.park_due(k, "in/0/3", at(1_400), TIER), at(2_400));
    }

    #[test]
    fn a_states_due_times_come_back_with_it_and_bare_ids_are_unknown() {
        let mut p = Parking::new("g.parking");
        let k = b"k".as_slice();
        p.processed(0, k, "in/0/1", Ended::Retried(at(1_000)));
        let state = p.parked(0, k, "in/0/2", at(1_000));
        // What restore reads back, and a state written before due times were kept.
        let entries: Vec<Entry> = serde_json::from_slice(&state.value).unwrap();
        assert!(
            matches!(&entries[1], Entry::Known { id, due } if id == "in/0/2"
            && *due == at(1_000).timestamp_millis())
        );
        let old: Vec<Entry> = serde_json::from_slice(br#"["in/0/1","in/0/2"]"#).unwrap();
        assert!(matches!(&old[0], Entry::Bare(id) if id == "in/0/1"));
    }
}
