//! Sinks: processors whose effect leaves Kafka (a search index, an ERP), for flows that end
//! outside the broker.
//!
//! A sink processor stays pure: its function returns the document it would send
//! ([`SinkLine`]); the runtime hands it to a [`SinkWriter`]. An effect outside Kafka cannot join
//! the Kafka transaction, so writers are **idempotent by event id**: the line is written before the
//! transaction commits, and when the transaction aborts and the input is processed again, the
//! repeat is recognised and skipped. The result is effectively once.
//!
//! [`FileSinks`] appends one JSON line per event to `<dir>/<sink>.jsonl`, remembering the event ids
//! already in the file (read once at first use); [`MemorySinks`] keeps them for tests. A write that
//! fails (disk full, permissions) is a transient failure: the input goes to the retry tiers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Mutex;

/// One document for a sink, identified by the event it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkLine {
    /// The sink's name (`search-index`, `erp`).
    pub sink: &'static str,
    /// The event the document comes from: the idempotency key.
    pub event_id: String,
    /// What would be sent.
    pub document: serde_json::Value,
}

/// Where sink lines go.
pub trait SinkWriter: Send + Sync {
    /// Writes the line unless its event id was written before; `Ok(false)` for a repeat.
    fn write(&self, line: &SinkLine) -> Result<bool, String>;
}

/// Append-only JSON-lines files, one per sink, de-duplicated by event id.
pub struct FileSinks {
    dir: PathBuf,
    seen: Mutex<BTreeMap<&'static str, BTreeSet<String>>>,
}

impl FileSinks {
    /// Sinks under `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileSinks {
            dir: dir.into(),
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    fn path(&self, sink: &str) -> PathBuf {
        self.dir.join(format!("{sink}.jsonl"))
    }

    /// The event ids already in a sink's file.
    fn load(&self, sink: &str) -> Result<BTreeSet<String>, String> {
        let path = self.path(sink);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let mut ids = BTreeSet::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| format!("reading {}: {e}", path.display()))?;
            if let Some(id) = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v.get("event_id")?.as_str().map(str::to_string))
            {
                ids.insert(id);
            }
        }
        Ok(ids)
    }
}

impl SinkWriter for FileSinks {
    fn write(&self, line: &SinkLine) -> Result<bool, String> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| "a sink lock was poisoned".to_string())?;
        if !seen.contains_key(line.sink) {
            let ids = self.load(line.sink)?;
            seen.insert(line.sink, ids);
        }
        let ids = seen.get_mut(line.sink).expect("loaded above");
        if ids.contains(&line.event_id) {
            return Ok(false);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        let path = self.path(line.sink);
        let text = serde_json::json!({"event_id": line.event_id, "document": line.document});
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        writeln!(file, "{text}")
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        ids.insert(line.event_id.clone());
        Ok(true)
    }
}

/// Sink lines kept in memory (tests, the harness).
#[derive(Default)]
pub struct MemorySinks {
    lines: Mutex<Vec<SinkLine>>,
}

impl MemorySinks {
    /// Every line written, in order.
    pub fn lines(&self) -> Vec<SinkLine> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl SinkWriter for MemorySinks {
    fn write(&self, line: &SinkLine) -> Result<bool, String> {
        let mut lines = self
            .lines
            .lock()
            .map_err(|_| "a sink lock was poisoned".to_string())?;
        if lines
            .iter()
            .any(|l| l.sink == line.sink && l.event_id == line.event_id)
        {
            return Ok(false);
        }
        lines.push(line.clone());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str) -> SinkLine {
        SinkLine {
            sink: "search-index",
            event_id: id.into(),
            document: serde_json::json!({"sku": "SKU-1", "id": id}),
        }
    }

    #[test]
    fn a_file_sink_writes_each_event_once_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let sinks = FileSinks::new(dir.path());
        assert!(sinks.write(&line("e1")).unwrap());
        assert!(sinks.write(&line("e2")).unwrap());
        assert!(!sinks.write(&line("e1")).unwrap(), "a repeat is skipped");
        // A new writer (a restarted process) reads the ids back from the file.
        let again = FileSinks::new(dir.path());
        assert!(!again.write(&line("e2")).unwrap());
        assert!(again.write(&line("e3")).unwrap());
        let text = std::fs::read_to_string(dir.path().join("search-index.jsonl")).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
    }

    #[test]
    fn an_unwritable_sink_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let sinks = FileSinks::new(blocker.join("sinks"));
        let err = sinks.write(&line("e1")).unwrap_err();
        assert!(err.contains("sinks"), "{err}");
    }
}

/// A sink document with its key and where it came from: what a [`SinkStore`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkDoc {
    pub sink: &'static str,
    /// The document's key (the input's Kafka key, the entity id): a later event of the same
    /// entity replaces the document.
    pub key: String,
    pub event_id: String,
    pub document: serde_json::Value,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// How a partition's position moves in one write: from what the store held (None: nothing yet)
/// to the next offset to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionMove {
    pub topic: String,
    pub partition: i32,
    pub from: Option<i64>,
    pub to: i64,
}

/// Why a [`SinkStore`] write did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkStoreError {
    /// A partition's stored position is not the `from` of its move: another member (or an
    /// earlier write whose answer was lost) moved it. Nothing was written.
    Conflict(String),
    /// The store is unreachable or refused; nothing was written (or, when the answer was lost,
    /// everything was: the next write's positions tell).
    Unavailable(String),
    /// The store refuses for a reason retrying does not cure (a table or column missing, no
    /// permission): the loop stops.
    Broken(String),
}

impl std::fmt::Display for SinkStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkStoreError::Conflict(m) => write!(f, "position conflict: {m}"),
            SinkStoreError::Unavailable(m) => write!(f, "sink store unavailable: {m}"),
            SinkStoreError::Broken(m) => write!(f, "sink store refuses: {m}"),
        }
    }
}

/// A sink that stores its consumed positions with its documents, in one transaction of its own
/// (a database): the sink loop ([`crate::sink_loop`]) reads from those positions, so every
/// input is written exactly once without a Kafka transaction.
pub trait SinkStore: Send + Sync + std::fmt::Debug {
    /// The stored next offset of each of `partitions` that has one, for `group`.
    fn positions(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, SinkStoreError>;

    /// Upserts `docs` by (sink, key) and applies `moves`, all or nothing.
    fn write(
        &self,
        group: &str,
        docs: &[SinkDoc],
        moves: &[PositionMove],
    ) -> Result<(), SinkStoreError>;
}

/// Keeps the lines a processor hands over until the sink loop takes them.
#[derive(Default)]
pub struct BufferedSinks {
    lines: Mutex<Vec<SinkLine>>,
}

impl BufferedSinks {
    /// The lines handed over since the last call.
    pub fn take(&self) -> Vec<SinkLine> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl SinkWriter for BufferedSinks {
    fn write(&self, line: &SinkLine) -> Result<bool, String> {
        self.lines
            .lock()
            .map_err(|_| "the sink buffer's lock was poisoned".to_string())?
            .push(line.clone());
        Ok(true)
    }
}
