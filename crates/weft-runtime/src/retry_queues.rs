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
//! under its own bound and its records wait behind nothing. [`RetryQueues::poll_next`] hands out
//! a waiting retry record before it polls the shared queue; after [`FAIR_RUN`] retry records in a
//! row the shared queue gets a turn, so a tier with a backlog of its own slows the inputs, never
//! stops them. Only queues whose librdkafka callback said they stopped being empty are polled, so
//! an input record costs no look at every retry partition.
//!
//! Why retries first and not turn about: with per-key ordering the retry tier also carries the
//! parked records, and a key's later records come back until its head has. Measured in the
//! per-key ordered eager chaos run (full form): taking turns one for one, the tier fell behind
//! the inputs and the run with it (77,497 of 98,969 outputs after 340 s); retries first, it
//! passed every run (910-981/s during the chaos against 998/s in). A rebalance is not held up
//! by it: librdkafka pauses the assigned partitions (retry partitions included, which empties
//! their queues) before it hands the rebalance to the loop through the shared queue.
//!
//! Memory: the prefetch bound (`queued.max.messages.kbytes`, 12 MiB unless set) applies to the
//! shared queue and to each split retry partition's queue on its own. A held retry partition's
//! queue is emptied (its records come again when it is due) and retry tiers carry a fraction of
//! the inputs' volume, so in practice it adds little; a replica owning many retry partitions with
//! a due backlog each (after a long outage) can hold up to the bound per partition.
//!
//! Failure modes and limits:
//! - Records of a partition fetched before it was revoked, paused (a held retry record) or sought
//!   (a rewind) are dropped by librdkafka on the way out (its version barrier), as on the shared
//!   queue: the queue's order and the loop's positions are the same as before.
//! - A partition queue outlives assignments: librdkafka keeps the application's choice of
//!   forwarding when a partition is assigned again (the `FWD_APP` flag), so one split at start
//!   serves every later assignment of that partition.
//! - Partitions added to a retry topic while the loop runs (or a retry topic deleted and created
//!   again) are not split: their records come through the shared queue, in order and exactly
//!   once, only not first. A restart splits them.
//! - Every split partition is one librdkafka wants to know of: an error it reports for one (a
//!   retry topic that disappears) comes through that queue, as an assigned partition's always
//!   did, and is judged by the loop the same way.
//! - A retry record is handed out before input records fetched earlier. That changes no
//!   guarantee: order is kept per partition, and a retry tier and an input are different
//!   partitions.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::BorrowedMessage;

/// Retry records handed out in a row before the shared queue gets a turn.
pub const FAIR_RUN: u32 = 64;

/// One retry partition's queue, with a flag librdkafka raises when the queue stops being empty.
struct Split<C: ConsumerContext + 'static> {
    queue: PartitionQueue<C>,
    /// Raised by librdkafka's callback whenever a record (or an error) lands in the empty queue;
    /// lowered by the loop before it looks. Only raised queues are polled, so a record costs
    /// no poll of every retry partition.
    raised: Arc<AtomicBool>,
}

/// One queue per retry partition, polled before the consumer's shared queue.
pub struct RetryQueues<C: ConsumerContext + 'static> {
    queues: Vec<Split<C>>,
    /// Where the next look starts, so no partition is always asked first.
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
                let Some(mut queue) = consumer.split_partition_queue(topic, partition) else {
                    continue;
                };
                // Raised at first: whatever arrived before the callback was set is looked at.
                let raised = Arc::new(AtomicBool::new(true));
                let flag = raised.clone();
                queue.set_nonempty_callback(move || flag.store(true, Ordering::SeqCst));
                queues.push(Split { queue, raised });
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

    /// The next record for the loop: a waiting retry record first, the shared queue's after
    /// [`FAIR_RUN`] of them in a row (without waiting); when no retry record is waiting, the
    /// shared queue's, waiting for one up to `wait`.
    pub fn poll_next<'a>(
        &'a self,
        consumer: &'a BaseConsumer<C>,
        wait: Duration,
    ) -> Option<KafkaResult<BorrowedMessage<'a>>> {
        if self.run.get() >= FAIR_RUN {
            self.run.set(0);
            if let Some(polled) = consumer.poll(Duration::ZERO) {
                return Some(polled);
            }
        }
        if let Some(polled) = self.poll_retry() {
            self.run.set(self.run.get() + 1);
            return Some(polled);
        }
        self.run.set(0);
        consumer.poll(wait)
    }

    /// A retry record (or a retry partition's error) if one is waiting, without blocking.
    fn poll_retry(&self) -> Option<KafkaResult<BorrowedMessage<'_>>> {
        let n = self.queues.len();
        let start = self.next.get() % n.max(1);
        for i in 0..n {
            let at = (start + i) % n;
            let split = &self.queues[at];
            // Lowered before the look: a record that lands after it raises the flag again.
            if !split.raised.swap(false, Ordering::SeqCst) {
                continue;
            }
            if let Some(polled) = split.queue.poll(Duration::ZERO) {
                // More may be waiting behind it.
                split.raised.store(true, Ordering::SeqCst);
                self.next.set(at + 1);
                return Some(polled);
            }
        }
        None
    }
}
