//! The transactional outbox relay (PostgreSQL to Kafka, exactly once) and sinks into
//! PostgreSQL.
//!
//! Seeds 000 and 003 publish every event by writing it into an `outbox` table in the same
//! database transaction as the business change; a relay publishes the rows. `weft outbox relay`
//! is that relay, on Kafka:
//!
//! - **Exactly once into Kafka.** A batch's records and a ledger entry naming the batch's row ids
//!   ([`ledger`]) are written in one Kafka transaction; the rows are marked published after the
//!   commit. Rows are first claimed (`status = 'publishing'`, `claimed_by` = the relay instance)
//!   in a short database transaction, so a crash anywhere leaves rows that belong to one
//!   instance; that instance's next session (or a relay taking over once the instance's advisory
//!   lock is free) initialises the instance's transactional id, which aborts its open
//!   transaction and fences a zombie, reads the ledger, and settles: rows of the committed batch
//!   are published, the others go back to pending. Readers with `isolation.level=read_committed`
//!   see every row once.
//! - **Several relays** claim with `FOR UPDATE SKIP LOCKED`, in write order (`seq`, an identity
//!   column weft adds). A row is published only when no earlier row of its aggregate (the
//!   topic's key) is still open, so per-aggregate order holds across relays; rows that commit
//!   out of order are found by the next poll (the relay polls for `pending`, not for "after the
//!   last id").
//! - **Unpublishable rows** ([`encode`]) record `failed_at`, `error_message`, `retry_count`;
//!   later rows of their aggregate wait; at `max_retries` the row goes to the dead-letter topic
//!   with the runtime's error headers and status `failed`.
//!
//! [`relay`] has the loop and its failure modes; [`db`] every statement.

pub mod db;
pub mod encode;
pub mod error;
pub mod ledger;
pub mod metrics;
pub mod relay;
pub mod sink;

pub use encode::Encoder;
pub use error::{OutboxError, Result};
pub use metrics::RelayMetrics;
pub use relay::{Relay, RelaySettings};
