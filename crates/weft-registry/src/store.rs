//! Where records go: in memory, or through a Kafka topic (see [`crate::kafka`]).
//!
//! Every write goes through [`AppState::write`]: under an instance-wide writer lock it brings
//! the state up to date with the store, plans the records from that state, hands them to the
//! store (which returns once they are applied locally), then checks that each record is
//! reflected in the state. A record that lost a conflict to another instance's write (same id
//! or same subject version, first record wins) is repaired (its key is restated with the winner,
//! so compaction keeps the winner) and the whole write is planned again, up to [`ATTEMPTS`]
//! times. Between attempts the loser waits a random, growing pause: two instances writing in
//! lockstep would otherwise plan the same next id again and again (seen on Apache Kafka with ten
//! concurrent registrations on each of two instances, where a round trip takes milliseconds).

use std::sync::{Arc, RwLock};

use crate::model::{Key, Record, Registry, Value};
use crate::AppError;

/// How many times a write that lost a conflict is planned again.
const ATTEMPTS: u32 = 12;

/// The random pause after the `attempt`-th lost conflict: up to 10 ms doubled per attempt,
/// never more than 640 ms.
fn backoff(attempt: u32) -> std::time::Duration {
    let ceiling_ms = 10u64 << attempt.min(6);
    std::time::Duration::from_millis(rand::random_range(0..=ceiling_ms))
}

/// The backing store.
pub enum Store {
    /// State lives only in this process.
    Memory,
    /// State is the content of a compacted Kafka topic.
    Kafka(crate::kafka::KafkaStore),
    /// Tests only: memory, where another "instance" slips the queued records in just before each
    /// append, as a concurrent writer on the same topic would.
    #[cfg(test)]
    Racing(std::sync::Mutex<Vec<Vec<Record>>>),
}

pub(crate) struct Shared {
    pub(crate) registry: Arc<RwLock<Registry>>,
    pub(crate) store: Store,
    pub(crate) writer: tokio::sync::Mutex<()>,
}

/// The state shared by all requests: the registry and its store. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}

impl Default for AppState {
    /// An empty in-memory registry.
    fn default() -> Self {
        Self::with_store(Store::Memory, Arc::default())
    }
}

impl AppState {
    pub(crate) fn with_store(store: Store, registry: Arc<RwLock<Registry>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                registry,
                store,
                writer: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Runs `read` on the current state.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Registry) -> T) -> Result<T, AppError> {
        let guard = self.shared.registry.read().map_err(|_| AppError::store())?;
        Ok(read(&guard))
    }

    /// Plans records from the current state with `plan` and stores them (see the module docs).
    pub(crate) async fn write<T>(
        &self,
        plan: impl Fn(&Registry) -> Result<(Vec<Record>, T), AppError>,
    ) -> Result<T, AppError> {
        let _writer = self.shared.writer.lock().await;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            self.sync().await?;
            let (records, answer) = self.read(&plan)??;
            if records.is_empty() {
                return Ok(answer);
            }
            self.append(&records).await?;
            let lost: Vec<Record> = self.read(|reg| {
                records
                    .iter()
                    .filter(|r| !reflects(reg, r))
                    .map(|r| reg.restate(&r.key))
                    .collect()
            })?;
            if lost.is_empty() {
                return Ok(answer);
            }
            tracing::info!(
                records = lost.len(),
                "a registry write lost a conflict with another instance; planning it again"
            );
            self.append(&lost).await?;
        }
        Err(AppError::new(
            50001,
            "Error in the backend data store: writes keep conflicting with another instance",
        ))
    }

    async fn sync(&self) -> Result<(), AppError> {
        match &self.shared.store {
            Store::Memory => Ok(()),
            Store::Kafka(k) => k.sync().await,
            #[cfg(test)]
            Store::Racing(_) => Ok(()),
        }
    }

    async fn append(&self, records: &[Record]) -> Result<(), AppError> {
        match &self.shared.store {
            Store::Memory => {
                let mut reg = self
                    .shared
                    .registry
                    .write()
                    .map_err(|_| AppError::store())?;
                for r in records {
                    reg.apply(r);
                }
                Ok(())
            }
            Store::Kafka(k) => k.append(records).await,
            #[cfg(test)]
            Store::Racing(queue) => {
                let foreign = queue.lock().map_err(|_| AppError::store())?.pop();
                let mut reg = self
                    .shared
                    .registry
                    .write()
                    .map_err(|_| AppError::store())?;
                for r in foreign.iter().flatten().chain(records) {
                    reg.apply(r);
                }
                Ok(())
            }
        }
    }
}

/// Does the state hold what `record` says?
fn reflects(reg: &Registry, record: &Record) -> bool {
    match (&record.key, &record.value) {
        (Key::Schema { subject, version }, value) => {
            let found = reg
                .subjects
                .get(subject)
                .and_then(|vs| vs.iter().find(|x| x.version == *version));
            match (found, value) {
                (None, None) => true,
                (None, Some(Value::Schema(v))) => v.purged,
                (Some(_), Some(Value::Schema(v))) if v.purged => false,
                (Some(x), Some(Value::Schema(v))) => {
                    // Same id is not enough: another instance may have used it for another
                    // schema in the same version slot.
                    let same_schema = reg.schemas.get(&x.id).is_some_and(|s| {
                        apache_avro::Schema::parse_str(&v.schema)
                            .is_ok_and(|p| crate::model::identity(&v.schema, &p) == s.canonical)
                    });
                    x.id == v.id && x.deleted == v.deleted && same_schema
                }
                _ => false,
            }
        }
        _ => reg.restate(&record.key) == *record,
    }
}
