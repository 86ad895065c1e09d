//! The fetch guard: a loop whose consumer stopped fetching partitions that have records waiting
//! ends, so the orchestrator restarts it.
//!
//! # Why
//! Seen in the three-broker chaos test under KIP-848 (`group.protocol=consumer`, librdkafka
//! 2.12): after a broker kill and two timed-out ConsumerGroupHeartbeat requests, one replica kept
//! its retry partitions assigned and its loop kept polling, but no record of those partitions
//! came again. The group saw a live member owning them, so nobody else took them; the retried
//! records waited until the test gave up. The [watchdog](crate::watchdog) cannot see this (the
//! loop ticks), nor can `/health/live`.
//!
//! # What
//! While idle (nothing polled), at most every [`CHECK_EVERY`], the loop lists each partition it
//! owns and has not paused itself (a retry record not due, a store being restored): its fetch
//! position (the group's committed offset while librdkafka has none, e.g. after a seek; never
//! below the partition's log start) against the partition's stable end, read with one
//! ListOffsets request per broker at the consumer's isolation level (read_committed: the records
//! of transactions still open do not count). A
//! partition behind its end whose position has not moved for the limit
//! (`--fetch-stall-timeout`, 60 s by default; 0 turns the guard off) stops the loop with
//! [`crate::RuntimeError::Fatal`] naming it (exit 2). A restarted replica joins afresh; its
//! offsets were committed only with its outputs, so nothing is lost or done twice.
//!
//! # Failure modes
//! - The end cannot be read within 1 s (a broker down, a leader moving): the check is skipped
//!   and every partition's clock starts again, so a stall is only ever judged on a healthy
//!   cluster: a replica is not ended for an outage, nor right after one while its fetcher
//!   reconnects.
//! - A partition whose next record is slow to come for a reason the loop cannot see (a leader
//!   election, a throttled fetch) counts as stalled after the limit: keep the limit well above
//!   the cluster's leader-failover time.
//! - A busy loop is seldom idle; it checks less often, never more than every [`CHECK_EVERY`].
//! - The position moves only when a record or a transaction marker is handed over: skipping a
//!   span of aborted records longer than the limit takes (gigabytes of aborted transactions on
//!   a slow link) would count as a stall.
//! - Not checked while the loop is stopping.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

/// The shortest time between two checks (each is one ListOffsets round trip per broker).
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Each lookup of a check at most: a healthy cluster answers in milliseconds, and while a
/// broker is down the loop must not sit here long (a check that times out is skipped).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// The default limit (`--fetch-stall-timeout`).
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

/// One owned, unpaused partition as the loop sees it at a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub topic: String,
    pub partition: i32,
    /// Where the next record would be fetched from.
    pub position: i64,
    /// The partition's stable end (its last stable offset under read_committed).
    pub end: i64,
}

/// A partition behind its end that did not move for the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    pub topic: String,
    pub partition: i32,
    pub position: i64,
    pub end: i64,
    /// How long its position has not moved while it was behind.
    pub for_: Duration,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}[{}] at {} of {} for {:.0?}",
            self.topic, self.partition, self.position, self.end, self.for_
        )
    }
}

/// Remembers, per partition behind its end, its position and since when it has not moved.
#[derive(Debug)]
pub struct FetchGuard {
    limit: Duration,
    last_check: Option<Instant>,
    behind: BTreeMap<(String, i32), (i64, Instant)>,
}

impl FetchGuard {
    /// A guard with the given limit (zero: off).
    pub fn new(limit: Duration) -> FetchGuard {
        FetchGuard {
            limit,
            last_check: None,
            behind: BTreeMap::new(),
        }
    }

    /// True when a check is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        !self.limit.is_zero()
            && self
                .last_check
                .is_none_or(|at| now.duration_since(at) >= CHECK_EVERY)
    }

    /// A check at `now` could not read the ends: the next one waits [`CHECK_EVERY`], and every
    /// partition's clock starts again (see the module docs).
    pub fn skipped(&mut self, now: Instant) {
        self.last_check = Some(now);
        self.behind.clear();
    }

    /// Takes one check's view at `now`; returns the partitions behind their end whose position
    /// has not moved for the limit. A partition caught up, moved, paused or no longer owned (not
    /// in `seen`) starts afresh.
    pub fn observe(&mut self, now: Instant, seen: &[Seen]) -> Vec<Stalled> {
        self.last_check = Some(now);
        let mut behind = BTreeMap::new();
        let mut stalled = Vec::new();
        for s in seen.iter().filter(|s| s.position < s.end) {
            let key = (s.topic.clone(), s.partition);
            let since = match self.behind.get(&key) {
                Some((position, since)) if *position == s.position => *since,
                _ => now,
            };
            let for_ = now.duration_since(since);
            if for_ >= self.limit {
                stalled.push(Stalled {
                    topic: s.topic.clone(),
                    partition: s.partition,
                    position: s.position,
                    end: s.end,
                    for_,
                });
            }
            behind.insert(key, (s.position, since));
        }
        self.behind = behind;
        stalled
    }
}

/// A partition: (topic, partition).
pub type Key = (String, i32);

/// The partitions a check watches: every owned partition (`positions`: topic, partition, the
/// consumer's position or `None` when it has none) except those the loop paused itself.
pub fn watched(
    positions: &[(String, i32, Option<i64>)],
    paused: impl Fn(&Key) -> bool,
) -> BTreeMap<Key, Option<i64>> {
    positions
        .iter()
        .map(|(topic, partition, position)| ((topic.clone(), *partition), *position))
        .filter(|(key, _)| !paused(key))
        .collect()
}

/// One check's view: each watched partition whose end was read, at its position, or where the
/// consumer has none (after a seek, before its first record) at the group's committed offset
/// (`committed`), else 0; raised to the partition's log start where that is known (`starts`:
/// retention may have removed everything up to the end, and then nothing ever moves the
/// position).
pub fn view(
    watched: &BTreeMap<Key, Option<i64>>,
    committed: &BTreeMap<Key, i64>,
    starts: &BTreeMap<Key, i64>,
    ends: &BTreeMap<Key, i64>,
) -> Vec<Seen> {
    watched
        .iter()
        .filter_map(|(key, position)| {
            let end = *ends.get(key)?;
            let at = position
                .or_else(|| committed.get(key).copied())
                .unwrap_or(0)
                .max(starts.get(key).copied().unwrap_or(0));
            Some(Seen {
                topic: key.0.clone(),
                partition: key.1,
                position: at,
                end,
            })
        })
        .collect()
}

/// Reads one check's view of `watched` (see [`view`]): the ends, then the group's committed
/// offsets of partitions without a position, then the log starts of partitions that look
/// behind; each lookup at most `timeout`, the first error returned.
pub fn read_view<C, X>(
    consumer: &C,
    watched: &BTreeMap<Key, Option<i64>>,
    timeout: Duration,
) -> KafkaResult<Vec<Seen>>
where
    C: Consumer<X>,
    X: ConsumerContext,
{
    let ends = list_offsets(consumer, watched.keys(), Offset::End, timeout)?;
    let mut unplaced = TopicPartitionList::new();
    for (key, _) in watched
        .iter()
        .filter(|(k, p)| p.is_none() && ends.get(*k) > Some(&0))
    {
        unplaced.add_partition(&key.0, key.1);
    }
    let mut committed = BTreeMap::new();
    if unplaced.count() > 0 {
        let got = weft_core::kafka::committed_offsets(consumer, &unplaced, timeout)?;
        for e in got.elements() {
            if let Offset::Offset(o) = e.offset() {
                committed.insert((e.topic().to_string(), e.partition()), o);
            }
        }
    }
    let first = view(watched, &committed, &BTreeMap::new(), &ends);
    let behind: Vec<Key> = first
        .iter()
        .filter(|s| s.position < s.end)
        .map(|s| (s.topic.clone(), s.partition))
        .collect();
    if behind.is_empty() {
        return Ok(first);
    }
    let starts = list_offsets(consumer, behind.iter(), Offset::Beginning, timeout)?;
    Ok(view(watched, &committed, &starts, &ends))
}

/// The offsets ListOffsets gives for `keys` at `at` (`Offset::End`: the stable end at the
/// consumer's isolation level; `Offset::Beginning`: the log start), one request per broker;
/// partitions it gave none for are left out.
fn list_offsets<'k, C, X>(
    consumer: &C,
    keys: impl Iterator<Item = &'k Key>,
    at: Offset,
    timeout: Duration,
) -> KafkaResult<BTreeMap<Key, i64>>
where
    C: Consumer<X>,
    X: ConsumerContext,
{
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in keys {
        tpl.add_partition_offset(topic, *partition, at)?;
    }
    let got = consumer.offsets_for_times(tpl, timeout)?;
    Ok(got
        .elements()
        .iter()
        .filter_map(|e| match (e.error(), e.offset()) {
            (Ok(()), Offset::Offset(o)) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(partition: i32, position: i64, end: i64) -> Seen {
        Seen {
            topic: "t".into(),
            partition,
            position,
            end,
        }
    }

    #[test]
    fn a_partition_behind_that_does_not_move_for_the_limit_is_stalled() {
        let t0 = Instant::now();
        let mut g = FetchGuard::new(Duration::from_secs(60));
        assert!(g.due(t0));
        assert!(g.observe(t0, &[seen(0, 5, 9), seen(1, 3, 3)]).is_empty());
        assert!(!g.due(t0 + Duration::from_secs(5)), "at most every 10 s");
        assert!(g
            .observe(t0 + Duration::from_secs(30), &[seen(0, 5, 9)])
            .is_empty());
        let stalled = g.observe(
            t0 + Duration::from_secs(60),
            &[seen(0, 5, 12), seen(1, 3, 3)],
        );
        assert_eq!(
            stalled,
            vec![Stalled {
                topic: "t".into(),
                partition: 0,
                position: 5,
                end: 12,
                for_: Duration::from_secs(60),
            }],
            "partition 0 behind since t0, partition 1 caught up"
        );
        assert_eq!(stalled[0].to_string(), "t[0] at 5 of 12 for 60s");
    }

    #[test]
    fn moving_catching_up_or_being_paused_restarts_the_clock() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut g = FetchGuard::new(Duration::from_secs(60));
        g.observe(t0, &[seen(0, 5, 9), seen(1, 1, 9), seen(2, 0, 9)]);
        // Partition 0 moved, 1 caught up, 2 was paused (not seen).
        g.observe(s(40), &[seen(0, 6, 9), seen(1, 9, 9)]);
        let later = g.observe(s(70), &[seen(0, 6, 9), seen(1, 9, 12), seen(2, 0, 9)]);
        assert!(later.is_empty(), "{later:?}");
        let stalled = g.observe(s(100), &[seen(0, 6, 9), seen(1, 9, 12), seen(2, 0, 9)]);
        let which: Vec<i32> = stalled.iter().map(|s| s.partition).collect();
        assert_eq!(
            which,
            vec![0],
            "partition 0 still at 6 since 40 s; 1 and 2 since 70 s"
        );
    }

    #[test]
    fn a_skipped_check_restarts_the_clock_and_a_zero_limit_turns_the_guard_off() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut g = FetchGuard::new(Duration::from_secs(60));
        g.observe(t0, &[seen(0, 5, 9)]);
        g.skipped(s(30));
        assert!(!g.due(s(35)));
        assert!(
            g.observe(s(61), &[seen(0, 5, 9)]).is_empty(),
            "after an outage the clock starts again"
        );
        assert_eq!(g.observe(s(121), &[seen(0, 5, 9)]).len(), 1);
        let off = FetchGuard::new(Duration::ZERO);
        assert!(!off.due(t0));
    }

    #[test]
    fn paused_partitions_are_not_watched_and_one_without_a_position_is_at_its_commit_or_start() {
        let k = |t: &str, p: i32| (t.to_string(), p);
        let positions = vec![
            ("in".to_string(), 0, Some(7)),
            ("in".to_string(), 1, None),
            ("in".to_string(), 2, None),
            ("in".to_string(), 3, None),
            ("in".to_string(), 4, Some(2)),
            ("retry".to_string(), 0, Some(3)),
        ];
        let w = watched(&positions, |(t, _)| t == "retry");
        assert_eq!(w.len(), 5, "the paused retry partition is not watched");
        let committed = BTreeMap::from([(k("in", 1), 4)]);
        // Partition 3's records up to 9 are gone (retention): it starts at 9.
        let starts = BTreeMap::from([(k("in", 3), 9)]);
        let ends = BTreeMap::from([
            (k("in", 0), 7),
            (k("in", 1), 9),
            (k("in", 2), 5),
            (k("in", 3), 9),
            (k("retry", 0), 8),
        ]);
        assert_eq!(
            view(&w, &committed, &starts, &ends),
            vec![
                seen_in("in", 0, 7, 7),
                seen_in("in", 1, 4, 9),
                seen_in("in", 2, 0, 5),
                seen_in("in", 3, 9, 9),
            ],
            "in[4]'s end was not read; retry[0] is paused"
        );
    }

    fn seen_in(topic: &str, partition: i32, position: i64, end: i64) -> Seen {
        Seen {
            topic: topic.into(),
            partition,
            position,
            end,
        }
    }
}
