//! The loop's watchdog: a process whose loop stopped making progress exits, so the orchestrator
//! restarts it.
//!
//! # Why
//! Some librdkafka calls block without a bound whatever timeout they are given
//! (`send_offsets_to_transaction` waits on its transaction coordinator with an infinite timeout
//! in librdkafka 2.x). Seen in the chaos test: after a broker was killed and restarted, one
//! replica waited there for minutes, holding its partitions and an open transaction, while
//! SIGTERM could not reach a loop that never came back to check for it, and `/health/live` kept
//! answering 200. Nothing inside the process can interrupt such a call.
//!
//! # What
//! The loop [`Watchdog::tick`]s on every iteration, before every attempt of a transactional
//! call, before the processor function, before an abort and a rewind, and while it restores the
//! parking topic (whose own deadline, 60 s, is below the limit, so it reports its failure
//! itself). A thread checks the last tick once a second; when none came for the tick's budget, it
//! logs what the loop was doing and ends the process with exit code 2 (a Kafka failure). The
//! budget is [`STALL_LIMIT`] for the loop's own work, and [`CLIENT_CALL_LIMIT`] for one
//! transactional client call, which librdkafka bounds by its 10 s timeout when it works: a hung
//! `send_offsets_to_transaction` (the chaos test's KIP-848 runs met it after a broker kill, about
//! once in six runs) holds its partitions 20 s instead of two minutes. A restarted instance fences the stuck one's
//! producer and aborts its open transaction: nothing is lost or duplicated. A processor function
//! that takes longer than the limit on one record ends the process too: it is treated as hung.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::error;

/// No tick for this long ends the process.
pub const STALL_LIMIT: Duration = Duration::from_secs(120);

/// The budget of one transactional client call given a 10 s timeout (see the module docs).
pub const CLIENT_CALL_LIMIT: Duration = Duration::from_secs(20);

/// See the module docs. Stops watching when dropped.
pub struct Watchdog {
    started: Instant,
    /// Milliseconds since `started` at the last tick.
    last: Arc<AtomicU64>,
    /// The budget of the last tick, in milliseconds.
    budget: Arc<AtomicU64>,
    limit: Duration,
    /// What the loop was doing at the last tick.
    doing: Arc<std::sync::Mutex<&'static str>>,
    stopped: Arc<AtomicBool>,
}

impl Watchdog {
    /// Starts watching the loop named `name`.
    pub fn start(name: &str, limit: Duration) -> Watchdog {
        let dog = Watchdog {
            started: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            budget: Arc::new(AtomicU64::new(limit.as_millis() as u64)),
            limit,
            doing: Arc::new(std::sync::Mutex::new("starting")),
            stopped: Arc::new(AtomicBool::new(false)),
        };
        let (started, last, budget, doing, stopped) = (
            dog.started,
            dog.last.clone(),
            dog.budget.clone(),
            dog.doing.clone(),
            dog.stopped.clone(),
        );
        let thread_name = format!("{name}.watchdog");
        let watched = name.to_string();
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                while !stopped.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_secs(1));
                    // The budget before the tick's time: a tick stores its time first, so a new
                    // budget is never judged against the previous tick's time.
                    let limit = Duration::from_millis(budget.load(Ordering::SeqCst));
                    let since = started
                        .elapsed()
                        .saturating_sub(Duration::from_millis(last.load(Ordering::SeqCst)));
                    if since >= limit && !stopped.load(Ordering::SeqCst) {
                        let what = *doing.lock().unwrap_or_else(|p| p.into_inner());
                        error!(
                            "{watched}: the loop made no progress for {since:?} (last: {what}); \
                             a client call that does not return. Exiting with code 2 so the \
                             process is restarted (its successor fences this producer)"
                        );
                        std::process::exit(2);
                    }
                }
            });
        if let Err(e) = spawned {
            error!("cannot start the watchdog of {name}: {e}");
        }
        dog
    }

    /// The loop made progress; `doing` names what comes next (shown if it never returns), with
    /// the watchdog's own limit as its budget.
    pub fn tick(&self, doing: &'static str) {
        self.tick_within(doing, self.limit);
    }

    /// Like [`Watchdog::tick`], for a step that must be over within `budget` (at most the
    /// watchdog's limit).
    pub fn tick_within(&self, doing: &'static str, budget: Duration) {
        *self.doing.lock().unwrap_or_else(|p| p.into_inner()) = doing;
        self.last
            .store(self.started.elapsed().as_millis() as u64, Ordering::SeqCst);
        self.budget
            .store(budget.min(self.limit).as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}
