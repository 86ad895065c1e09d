//! Retry tiers read ahead of the inputs: each retry partition has a queue of its own.
//!
//! A consumer of a group hands out records through one queue, in the order it fetched them, and
//! librdkafka measures its prefetch bound (`queued.min.messages`, `queued.max.messages.kbytes`)
//! on that shared queue. While the inputs have a backlog the shared queue stays full, so a retry
//! partition is not even fetched until the loop has worked through everything queued ahead of it,
//! and a record fetched from it then waits behind the rest. Measured before this module: a copier
//! given one transient record and then a 30,000-record backlog copied the retried record last of
//! its partition's 11,701. Under per-key ordering that delay parks every later record of a waiting
//! key, which adds to the backlog: the per-key ordered chaos run fell behind for good.
//!
//! [`RetryQueues::split`] takes each retry partition's queue out of the shared one when the loop
//! starts (librdkafka's partition queue, no longer forwarded), so a retry partition is fetched
//! under its own bound and its records wait behind nothing. [`RetryQueues::poll`] hands out a
//! retry record before the loop polls the shared queue; after [`FAIR_RUN`] retry records in a row
//! it yields one turn to the shared queue, which also serves rebalances, so a tier with a large
//! backlog of its own never starves the inputs or the group protocol.
//!
//! Failure modes and limits:
//! - Records of a partition fetched before it was revoked, paused (a held retry record) or sought
//!   (a rewind) are dropped by librdkafka on the way out (its version barrier), as on the shared
//!   queue: the queue's order and the loop's positions are the same as before.
//! - A partition queue outlives assignments: librdkafka keeps the application's choice of
//!   forwarding when a partition is assigned again (the `FWD_APP` flag), so one split at start
//!   serves every later assignment of that partition.
//! - Partitions added to a retry topic while the loop runs are not split: their records come
//!   through the shared queue, in order and exactly once, only not first. A restart splits them.
//! - A retry record is handed out before input records fetched earlier. That changes no
//!   guarantee: order is kept per partition, and a retry tier and an input are different
//!   partitions.

use std::cell::Cell;
use std::sync::Arc;

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::BorrowedMessage;

/// Retry records handed out in a row before the shared queue gets a turn.
pub const FAIR_RUN: u32 = 64;

/// One queue per retry partition, polled before the consumer's shared queue.
pub struct RetryQueues<C: ConsumerContext + 'static> {
    queues: Vec<PartitionQueue<C>>,
    /// Where the next poll starts, so no partition is always asked first.
    next: Cell<usize>,
    /// Retry records handed out since the shared queue's last turn.
    run: Cell<u32>,
}

impl<C: ConsumerContext + 'static> RetryQueues<C> {
    /// Splits every partition of every retry topic (`(topic, partition count)`) off the shared
    /// queue. Call before the consumer's first poll: records already on the shared queue stay
    /// there.
    pub fn split<'t>(
        consumer: &Arc<BaseConsumer<C>>,
        topics: impl IntoIterator<Item = (&'t str, usize)>,
    ) -> Self {
        let mut queues = Vec::new();
        for (topic, count) in topics {
            for partition in 0..count {
                let partition = i32::try_from(partition).unwrap_or(i32::MAX);
                // `None` only for a topic name with a NUL byte, which no topic has: its records
                // then come through the shared queue.
                if let Some(q) = consumer.split_partition_queue(topic, partition) {
                    queues.push(q);
                }
            }
        }
        RetryQueues {
            queues,
            next: Cell::new(0),
            run: Cell::new(0),
        }
    }

    /// The number of partition queues split off.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// Whether no partition was split (no retry tier).
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// A retry record (or a retry partition's error) if one is waiting, without blocking; `None`
    /// when none is, or when it is the shared queue's turn.
    pub fn poll(&self) -> Option<KafkaResult<BorrowedMessage<'_>>> {
        if self.queues.is_empty() {
            return None;
        }
        if self.run.get() >= FAIR_RUN {
            self.run.set(0);
            return None;
        }
        let n = self.queues.len();
        let start = self.next.get() % n;
        for i in 0..n {
            let at = (start + i) % n;
            if let Some(polled) = self.queues[at].poll(std::time::Duration::ZERO) {
                self.next.set(at + 1);
                self.run.set(self.run.get() + 1);
                return Some(polled);
            }
        }
        self.next.set(start + 1);
        self.run.set(0);
        None
    }
}
