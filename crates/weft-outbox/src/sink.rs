//! Sinks into PostgreSQL: [`PgSinkStore`] is the [`SinkStore`] of the sink loop
//! (`weft_runtime::sink_loop`): documents upserted by (sink, key) into `sink_documents`, and each
//! partition's next offset in `sink_offsets`, in one database transaction
//! (`migrations/0002_sinks.sql`).
//!
//! A position moves only from the value the loop read (`UPDATE ... WHERE next_offset = from`, or
//! an insert when there was none): a member that lost its partition without noticing, or a write
//! retried after its answer was lost, changes nothing and gets [`SinkStoreError::Conflict`].
//! `writes` counts the events applied to a document, so exactly once is visible in the table.
//!
//! The sink loop runs on a thread of its own, so this uses the blocking `postgres` client (one
//! connection, reopened after an error).

use std::collections::BTreeMap;
use std::sync::Mutex;

use postgres::{Client, NoTls};
use weft_runtime::{PositionMove, SinkDoc, SinkStore, SinkStoreError};

/// The sinks' tables (idempotent).
pub const MIGRATION: &str = include_str!("../migrations/0002_sinks.sql");

/// See the module docs.
pub struct PgSinkStore {
    url: String,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for PgSinkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgSinkStore")
    }
}

impl Drop for PgSinkStore {
    /// The blocking client closes its connection on a runtime of its own, which must not happen
    /// on an async thread (the store may be dropped there, with the run's settings): it is
    /// closed on a thread of its own.
    fn drop(&mut self) {
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(c) = client {
            let _ = std::thread::spawn(move || drop(c)).join();
        }
    }
}

impl PgSinkStore {
    /// A store on the database at `url`; it connects at first use.
    pub fn new(url: &str) -> Self {
        PgSinkStore {
            url: url.to_string(),
            client: Mutex::new(None),
        }
    }

    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, SinkStoreError>,
    ) -> Result<T, SinkStoreError> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| SinkStoreError::Unavailable("the client's lock was poisoned".into()))?;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(
                Client::connect(&self.url, NoTls)
                    .map_err(|e| SinkStoreError::Unavailable(format!("connecting: {e}")))?,
            );
        }
        let client = guard.as_mut().expect("connected above");
        let result = f(client);
        if matches!(result, Err(SinkStoreError::Unavailable(_))) {
            // Whatever state the connection is in, the next call starts on a fresh one.
            *guard = None;
        }
        result
    }
}

/// A connection lost, the server shutting down, a serialization failure or deadlock: worth
/// another try; anything else the database says (a missing table, no permission) is not.
fn unavailable(what: &str) -> impl Fn(postgres::Error) -> SinkStoreError + '_ {
    move |e| {
        let text = format!("{what}: {}", crate::db::describe(&e));
        let retriable = e.is_closed()
            || e.as_db_error().is_none_or(|db| {
                let code = db.code().code();
                code.starts_with("08")
                    || code.starts_with("57")
                    || code.starts_with("40")
                    || code.starts_with("53")
            });
        if retriable {
            SinkStoreError::Unavailable(text)
        } else {
            SinkStoreError::Broken(text)
        }
    }
}

impl SinkStore for PgSinkStore {
    fn positions(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, SinkStoreError> {
        self.with_client(|c| {
            let rows = c
                .query(
                    "SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = $1",
                    &[&group],
                )
                .map_err(unavailable("reading positions"))?;
            Ok(rows
                .iter()
                .map(|r| ((r.get::<_, String>(0), r.get::<_, i32>(1)), r.get::<_, i64>(2)))
                .filter(|(k, _)| partitions.contains(k))
                .collect())
        })
    }

    fn write(
        &self,
        group: &str,
        docs: &[SinkDoc],
        moves: &[PositionMove],
    ) -> Result<(), SinkStoreError> {
        self.with_client(|c| {
            let mut tx = c.transaction().map_err(unavailable("beginning"))?;
            for m in moves {
                let moved = match m.from {
                    None => tx.execute(
                        "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[&group, &m.topic, &m.partition, &m.to],
                    ),
                    Some(from) => tx.execute(
                        "UPDATE sink_offsets SET next_offset = $5, updated_at = now() \
                         WHERE consumer_group = $1 AND topic = $2 AND partition = $3 \
                         AND next_offset = $4",
                        &[&group, &m.topic, &m.partition, &from, &m.to],
                    ),
                }
                .map_err(unavailable("moving a position"))?;
                if moved != 1 {
                    return Err(SinkStoreError::Conflict(format!(
                        "{}[{}] of {group} is no longer at {:?}",
                        m.topic, m.partition, m.from
                    )));
                }
            }
            // One row per (sink, key): the batch's last document, with how many events it saw.
            let mut last: BTreeMap<(&str, &str), (&SinkDoc, i64)> = BTreeMap::new();
            for d in docs {
                let e = last.entry((d.sink, d.key.as_str())).or_insert((d, 0));
                *e = (d, e.1 + 1);
            }
            for ((sink, key), (d, n)) in last {
                tx.execute(
                    "INSERT INTO sink_documents (sink, doc_key, document, event_id, source_topic, \
                       source_partition, source_offset, writes) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (sink, doc_key) DO UPDATE SET document = EXCLUDED.document, \
                       event_id = EXCLUDED.event_id, source_topic = EXCLUDED.source_topic, \
                       source_partition = EXCLUDED.source_partition, \
                       source_offset = EXCLUDED.source_offset, \
                       writes = sink_documents.writes + EXCLUDED.writes, updated_at = now()",
                    &[
                        &sink,
                        &key,
                        &d.document,
                        &d.event_id,
                        &d.topic,
                        &d.partition,
                        &d.offset,
                        &n,
                    ],
                )
                .map_err(unavailable("upserting a document"))?;
            }
            tx.commit().map_err(unavailable("committing"))
        })
    }
}
