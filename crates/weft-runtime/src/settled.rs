//! Where a restore may stop reading: after every transaction already in the log is decided.
//!
//! The parking state ([`crate::parking`]) and the keyed stores' changelogs ([`crate::state`]) are
//! read back `read_committed` to their end when their partitions are assigned. The
//! `read_committed` end (the last stable offset) stops below the first transaction still open,
//! and so hides everything written after it, committed or not. The case that bites: a replica is
//! killed with a transaction open on a parking or changelog partition; the next owner takes the
//! partition (the group's offsets do not wait for a transaction that never sent any) and commits
//! its own state writes, which all lie beyond that open transaction; a rebalance a few seconds
//! later (eager assignment has one at every kill) makes the partition be restored again, by that
//! owner or another, while the dead replica's transaction is still open. A restore that stopped
//! at the stable end then missed those committed writes, while the group's committed offsets
//! include their inputs: a parking queue named a head record whose offset was already committed
//! (the head never came back, and its key waited for good), a store lost updates. Likewise a
//! commit still in flight when the partition moved.
//!
//! [`await_decided`] closes the gap: it takes the log end (`read_uncommitted`) of each partition
//! when the restore starts and waits until the stable end has reached it, i.e. until every
//! transaction with a record in the log so far has committed or aborted; only then does the
//! restore read. A dead replica's open transaction ends when its successor instance starts
//! (same transactional id: it fences and aborts it) or when the coordinator aborts it after the
//! transaction timeout (10 s) plus the broker's check interval
//! (`transaction.abort.timed.out.transaction.cleanup.interval.ms`, 10 s by default): up to about
//! 20 s. A parking restore runs on the loop's thread, so for that long the replica processes
//! nothing (its partitions would otherwise be processed with a wrong state); a changelog restore
//! runs beside the loop and holds only its own partitions. Failed lookups (a broker away) are
//! retried until the caller gives up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};
use weft_core::kafka::KafkaConfig;

/// How long one ListOffsets lookup may take.
const LOOKUP: Duration = Duration::from_secs(5);
/// The pause between two looks at a transaction that is still open.
const RECHECK: Duration = Duration::from_millis(50);

/// Waits until every transaction with records in `partitions` of `topic`, as the log stands now,
/// is decided. `reader` is the restore's own `read_committed` consumer (it gives the stable end);
/// `keep_going` is called between looks, and its error ends the wait (a deadline, a stopping
/// loop).
pub fn await_decided<X: ConsumerContext>(
    reader: &BaseConsumer<X>,
    kafka: &KafkaConfig,
    topic: &str,
    partitions: &BTreeSet<i32>,
    mut keep_going: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    if partitions.is_empty() {
        return Ok(());
    }
    let uncommitted: BaseConsumer = kafka
        .client_config()
        .set("isolation.level", "read_uncommitted")
        .create()
        .map_err(|e| format!("creating a read_uncommitted client for {topic}: {e}"))?;
    let mut log_end = None;
    let started = std::time::Instant::now();
    let mut waiting = false;
    loop {
        if log_end.is_none() {
            log_end = ends(&uncommitted, topic, partitions)
                .inspect_err(|e| tracing::warn!("{e}; retrying"))
                .ok();
        }
        if let Some(log_end) = &log_end {
            match ends(reader, topic, partitions) {
                Ok(stable) if log_end.iter().all(|(p, e)| stable.get(p) >= Some(e)) => {
                    if waiting {
                        tracing::info!(
                            "{topic}: the open transaction was decided after {:?}",
                            started.elapsed()
                        );
                    }
                    return Ok(());
                }
                Ok(stable) => {
                    if !std::mem::replace(&mut waiting, true) {
                        tracing::info!(
                            "{topic}: a transaction is still open (stable end {stable:?}, log \
                             end {log_end:?}); the restore waits for it"
                        );
                    }
                }
                Err(e) => tracing::warn!("{e}; retrying"),
            }
        }
        keep_going()?;
        std::thread::sleep(RECHECK);
    }
}

/// The end offset of each of `partitions` at the client's isolation level.
fn ends<X: ConsumerContext>(
    client: &BaseConsumer<X>,
    topic: &str,
    partitions: &BTreeSet<i32>,
) -> Result<BTreeMap<i32, i64>, String> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, *p, Offset::End)
            .map_err(|e| format!("looking up the end of {topic}[{p}]: {e}"))?;
    }
    let got = client
        .offsets_for_times(tpl, LOOKUP)
        .map_err(|e| format!("looking up the ends of {topic}: {e}"))?;
    let mut out = BTreeMap::new();
    for e in got.elements() {
        match (e.error(), e.offset()) {
            (Ok(()), Offset::Offset(o)) => {
                out.insert(e.partition(), o);
            }
            (Err(err), _) => {
                return Err(format!(
                    "looking up the end of {topic}[{}]: {err}",
                    e.partition()
                ))
            }
            (Ok(()), other) => {
                return Err(format!(
                    "looking up the end of {topic}[{}]: no offset ({other:?})",
                    e.partition()
                ))
            }
        }
    }
    Ok(out)
}
