//! Where a restore may stop reading: after every transaction already in the log is decided.
//!
//! The parking state ([`crate::parking`]) and the keyed stores' changelogs ([`crate::state`]) are
//! read back `read_committed` to their end when their partitions are assigned. At the
//! `read_committed` end (the last stable offset) a transaction still open is not yet visible, and
//! neither is anything after it. A previous owner whose commit was in flight when the partitions
//! moved (its `EndTxn` slowed by a coordinator that moves after a broker failure, say) may commit
//! it a moment later; the group's offsets then include what that transaction did (the new owner's
//! consumer waits for them: KIP-447's stable offsets), while a restore that stopped at the stable
//! end missed the state it wrote with them. A parking queue would then name a head record whose
//! offset is already committed (the head never comes back, and its key waits for good); a store
//! would lose an update.
//!
//! [`await_decided`] closes that gap: it takes the log end (`read_uncommitted`) of each partition
//! when the restore starts, and waits until the stable end has reached it, i.e. until every
//! transaction with a record in the log so far has committed or aborted. Only then does the
//! restore read to the stable end. A predecessor's open transaction ends within the transaction
//! timeout (10 s) or when its successor instance fences it, and the new owner's consumer waits
//! for the same thing before it fetches anything, so the wait adds nothing in practice. Failed
//! lookups (a broker away) are retried until the caller gives up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use weft_core::kafka::KafkaConfig;

/// How long one ListOffsets lookup may take.
const LOOKUP: Duration = Duration::from_secs(5);
/// The pause between two looks at a transaction that is still open.
const RECHECK: Duration = Duration::from_millis(50);

/// Waits until every transaction with records in `partitions` of `topic`, as the log stands now,
/// is decided. `keep_going` is called between looks; its error ends the wait (a deadline, a
/// stopping loop).
pub fn await_decided(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: &BTreeSet<i32>,
    mut keep_going: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    if partitions.is_empty() {
        return Ok(());
    }
    let client = |isolation: &str| -> Result<BaseConsumer, String> {
        kafka
            .client_config()
            .set("isolation.level", isolation)
            .create()
            .map_err(|e| format!("creating a {isolation} client for {topic}: {e}"))
    };
    let uncommitted = client("read_uncommitted")?;
    let committed = client("read_committed")?;
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
            match ends(&committed, topic, partitions) {
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
fn ends(
    client: &BaseConsumer,
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
