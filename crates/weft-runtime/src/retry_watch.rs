//! Retries read ahead of an input backlog.
//!
//! The consumer hands out records in the order it fetched them, and an input with a backlog keeps
//! its prefetch queue full (up to the prefetch bound: tens of thousands of records). A retry
//! record fetched meanwhile waits behind all of it: a copier given one transient record and then
//! a backlog of 30,000 records copied the retried record last (11,700th of the 11,701 of its
//! partition). With per-key ordering that delay parks every later record of the waiting key,
//! which adds to the backlog; the per-key ordered chaos run fell behind for good.
//!
//! So the loop notes every record it sends to a retry tier (retried or parked) with its due time
//! once its transaction commits, and forgets it when it reads it back. When one is overdue by more
//! than [`BEHIND`], the loop pauses its input partitions: pausing drops what was prefetched of
//! them (they are fetched again from the loop's position when resumed), so the retry records come
//! next. The inputs resume when nothing noted is overdue, or after [`PAUSED_AT_MOST`] (and are
//! paused again if still behind), so some input keeps flowing even if a noted record never comes
//! back.
//!
//! Failure modes: records written by an earlier process (before a restart or a rebalance) are not
//! noted, so a backlog right after a restart is not caught until this process's own retries fall
//! behind; a record written in a transaction whose commit failed ambiguously is not noted (no
//! false pause). Partitions revoked are forgotten.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// How late a noted retry record may be before the inputs are paused for it.
pub const BEHIND: chrono::TimeDelta = chrono::TimeDelta::seconds(1);
/// The longest the inputs stay paused at a time.
pub const PAUSED_AT_MOST: Duration = Duration::from_secs(5);
/// How often the loop looks.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Retry records this process wrote and has not read back.
#[derive(Default)]
pub struct RetryWatch {
    /// Committed: partition -> record id -> due.
    out: BTreeMap<i32, BTreeMap<String, DateTime<Utc>>>,
    /// Sent in the open transaction.
    open: Vec<(i32, String, DateTime<Utc>)>,
    /// The input partitions paused for the retries, and since when.
    paused: Option<(Vec<(String, i32)>, Instant)>,
    next_check: Option<Instant>,
}

/// What the loop should do with its inputs.
#[derive(Debug, PartialEq, Eq)]
pub enum Inputs {
    Pause,
    Resume(Vec<(String, i32)>),
    Leave,
}

impl RetryWatch {
    /// A record of partition `partition` went to a retry tier in the open transaction.
    pub fn sent(&mut self, partition: i32, id: String, due: DateTime<Utc>) {
        self.open.push((partition, id, due));
    }

    /// The open transaction committed: its retry records will come back.
    pub fn committed(&mut self) {
        for (partition, id, due) in self.open.drain(..) {
            self.out.entry(partition).or_default().insert(id, due);
        }
    }

    /// The open transaction was aborted: its retry records were never written.
    pub fn aborted(&mut self) {
        self.open.clear();
    }

    /// A retry record came back.
    pub fn read(&mut self, partition: i32, id: &str) {
        if let Some(ids) = self.out.get_mut(&partition) {
            ids.remove(id);
        }
    }

    /// Forgets revoked partitions (their records are another member's now).
    pub fn forget(&mut self, revoked: &BTreeSet<i32>) {
        self.out.retain(|p, _| !revoked.contains(p));
        self.open.retain(|(p, _, _)| !revoked.contains(p));
        if let Some((parts, _)) = &mut self.paused {
            parts.retain(|(_, p)| !revoked.contains(p));
        }
    }

    /// True when a noted record was due more than [`BEHIND`] before `now`.
    pub fn behind(&self, now: DateTime<Utc>) -> bool {
        self.out
            .values()
            .flat_map(|ids| ids.values())
            .any(|due| *due + BEHIND < now)
    }

    /// True while the inputs are paused for the retries; `topic`/`partition` one of them.
    pub fn holds(&self, topic: &str, partition: i32) -> bool {
        self.paused
            .as_ref()
            .is_some_and(|(parts, _)| parts.iter().any(|(t, p)| t == topic && *p == partition))
    }

    /// At most every [`CHECK_EVERY`]: whether to pause the inputs, resume those paused, or leave
    /// them.
    pub fn check(&mut self, now: Instant, wall: DateTime<Utc>) -> Inputs {
        if self.next_check.is_some_and(|next| now < next) {
            return Inputs::Leave;
        }
        self.next_check = Some(now + CHECK_EVERY);
        let behind = self.behind(wall);
        match &self.paused {
            None if behind => Inputs::Pause,
            Some((_, since)) if !behind || now.duration_since(*since) >= PAUSED_AT_MOST => {
                let parts = self.paused.take().map(|(parts, _)| parts);
                Inputs::Resume(parts.unwrap_or_default())
            }
            _ => Inputs::Leave,
        }
    }

    /// The loop paused `parts` at `now`.
    pub fn paused(&mut self, parts: Vec<(String, i32)>, now: Instant) {
        self.paused = Some((parts, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn an_overdue_retry_pauses_the_inputs_until_it_is_read() {
        let mut w = RetryWatch::default();
        let t0 = Instant::now();
        w.sent(0, "in/0/1".into(), at(1_000));
        // Not committed yet: nothing to wait for.
        assert_eq!(w.check(t0, at(5_000)), Inputs::Leave);
        w.committed();
        // Due, not yet overdue by a second.
        assert_eq!(w.check(t0 + CHECK_EVERY, at(1_900)), Inputs::Leave);
        // Overdue: pause; not looked at again within CHECK_EVERY.
        assert_eq!(w.check(t0 + CHECK_EVERY * 2, at(2_100)), Inputs::Pause);
        w.paused(vec![("in".into(), 0)], t0 + CHECK_EVERY * 2);
        assert!(w.holds("in", 0));
        assert!(!w.holds("in", 1));
        assert_eq!(w.check(t0 + CHECK_EVERY * 2, at(2_100)), Inputs::Leave);
        assert_eq!(w.check(t0 + CHECK_EVERY * 3, at(2_200)), Inputs::Leave);
        // Read back: the inputs resume.
        w.read(0, "in/0/1");
        assert_eq!(
            w.check(t0 + CHECK_EVERY * 4, at(2_300)),
            Inputs::Resume(vec![("in".into(), 0)])
        );
        assert!(!w.holds("in", 0));
    }

    #[test]
    fn a_retry_that_never_comes_back_pauses_the_inputs_at_most_so_long() {
        let mut w = RetryWatch::default();
        let t0 = Instant::now();
        w.sent(0, "in/0/1".into(), at(0));
        w.committed();
        assert_eq!(w.check(t0, at(2_000)), Inputs::Pause);
        w.paused(vec![("in".into(), 0)], t0);
        assert_eq!(
            w.check(t0 + Duration::from_secs(1), at(3_000)),
            Inputs::Leave
        );
        assert!(matches!(
            w.check(t0 + PAUSED_AT_MOST, at(7_000)),
            Inputs::Resume(_)
        ));
    }

    #[test]
    fn aborted_and_revoked_retries_are_not_waited_for() {
        let mut w = RetryWatch::default();
        w.sent(0, "in/0/1".into(), at(0));
        w.aborted();
        w.committed();
        assert!(!w.behind(at(10_000)));
        w.sent(1, "in/1/1".into(), at(0));
        w.committed();
        assert!(w.behind(at(10_000)));
        w.forget(&BTreeSet::from([1]));
        assert!(!w.behind(at(10_000)));
    }
}
