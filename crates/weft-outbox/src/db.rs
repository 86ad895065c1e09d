//! The relay's SQL, in one place: the migration, claiming a batch, recording outcomes, handing
//! rows back, cleaning up, and the backlog figures.

use std::time::Duration;

use serde_json::Value as Json;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::encode::Row;
use crate::error::{OutboxError, Result};

/// The outbox table and weft's additions to it (idempotent).
pub const MIGRATION: &str = include_str!("../migrations/0001_outbox.sql");

/// The database's own message and SQLSTATE when it sent one (`db error` alone says nothing).
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// `<database>.<schema>`: what, with the instance name, names a relay across deployments that
/// share a Kafka cluster (its transactional id, its ledger key).
pub async fn scope(client: &Client) -> Result<String> {
    let r = client
        .query_one(
            "SELECT current_database()::text || '.' || current_schema()::text",
            &[],
        )
        .await
        .map_err(|e| OutboxError::db("reading the database and schema", e))?;
    Ok(r.get(0))
}

/// Connects; the connection's task runs on the current runtime and ends with the client.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| OutboxError::db("connecting", e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PostgreSQL connection ended: {e}");
        }
    });
    Ok(client)
}

/// Applies [`MIGRATION`] (and, with `sinks`, the sinks' tables).
pub async fn migrate(client: &Client) -> Result<()> {
    client
        .batch_execute(MIGRATION)
        .await
        .map_err(|e| OutboxError::db("applying the outbox migration", e))?;
    client
        .batch_execute(crate::sink::MIGRATION)
        .await
        .map_err(|e| OutboxError::db("applying the sinks' migration", e))
}

/// The advisory-lock key of a relay instance: its name within the current schema, so relays of
/// two schemas (two tenants, two test runs) never meet.
const LOCK_KEY: &str = "hashtextextended('weft-outbox:' || current_schema() || ':' || $1, 0)";

/// Takes `instance`'s lock for this session when free; false when another session holds it.
pub async fn try_lock(client: &Client, instance: &str) -> Result<bool> {
    let row = client
        .query_one(
            &format!("SELECT pg_try_advisory_lock({LOCK_KEY})"),
            &[&instance],
        )
        .await
        .map_err(|e| OutboxError::db("taking a relay lock", e))?;
    Ok(row.get(0))
}

/// Gives `instance`'s lock back.
pub async fn unlock(client: &Client, instance: &str) -> Result<()> {
    client
        .query_one(
            &format!("SELECT pg_advisory_unlock({LOCK_KEY})"),
            &[&instance],
        )
        .await
        .map_err(|e| OutboxError::db("releasing a relay lock", e))?;
    Ok(())
}

/// The rows of a claim: every row was locked and is now `publishing` for this relay, except
/// those it handed back.
pub struct Claimed {
    pub rows: Vec<Row>,
    /// How many rows were locked (taken or not), and the last one's `seq`.
    pub locked: usize,
    pub last_seq: i64,
}

const ROW_COLUMNS: &str = "id, seq, event_type, event_version, payload, headers, \
     created_at, COALESCE(retry_count, 0), COALESCE(max_retries, $2)";

fn row_of(r: &tokio_postgres::Row) -> Row {
    Row {
        id: r.get(0),
        seq: r.get(1),
        event_type: r.get(2),
        event_version: r.get(3),
        payload: r.get(4),
        headers: r.get(5),
        created_at: r
            .get::<_, Option<chrono::DateTime<chrono::Utc>>>(6)
            .unwrap_or_else(chrono::Utc::now),
        retry_count: r.get(7),
        max_retries: r.get(8),
    }
}

/// What a claim decided for each locked row.
pub struct Decision {
    /// Rows to publish (and to dead-letter): they become `publishing` for this relay.
    pub take: Vec<Uuid>,
    /// Rows that failed and wait for their next attempt: (id, error).
    pub failed: Vec<(Uuid, String)>,
}

/// What one claim looks at.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The claiming relay.
    pub instance: &'a str,
    /// The lowest open `seq` seen a moment ago ([`floor`]).
    pub floor: i64,
    /// Rows after this `seq` (the page before was all blocked).
    pub after: i64,
    /// Rows to lock at most.
    pub limit: i64,
    /// The attempts of a row whose `max_retries` is NULL.
    pub default_max_retries: i32,
    /// The wait before a failed row is due again.
    pub backoff: Duration,
}

/// One claim, in one database transaction (rows below `floor`, the lowest open `seq` seen a
/// moment ago, are not looked at: see [`floor`]): locks the first `limit` rows due (pending, past their
/// retry back-off), in write order, skipping rows other relays hold; reads the earlier rows still
/// open that this claim does not hold (`blockers`); lets `decide` choose; records the choice.
/// Rows neither taken nor failed stay pending and are unlocked at commit.
pub async fn claim(
    client: &mut Client,
    page: &Page<'_>,
    decide: impl FnOnce(&[Row], &[Row]) -> Result<Decision>,
) -> Result<Claimed> {
    let Page {
        instance,
        floor,
        after,
        limit,
        default_max_retries,
        backoff,
    } = *page;
    let tx = client
        .transaction()
        .await
        .map_err(|e| OutboxError::db("beginning a claim", e))?;
    // The claim wants the first rows in `seq` order and stops at `limit`: an index scan of the
    // open rows. With statistics that lag a fresh backlog, the planner prefers a bitmap scan of
    // every pending row and a sort (50 ms a claim at 100,000 rows); it is told not to.
    tx.batch_execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
        .await
        .map_err(|e| OutboxError::db("preparing a claim", e))?;
    let locked: Vec<Row> = tx
        .query(
            &format!(
                "SELECT {ROW_COLUMNS} FROM outbox \
                 WHERE status = 'pending' AND seq > $4 \
                   AND (failed_at IS NULL OR failed_at <= now() - make_interval(secs => $3)) \
                 ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
            ),
            &[&limit, &default_max_retries, &backoff.as_secs_f64(), &after],
        )
        .await
        .map_err(|e| OutboxError::db("claiming rows", e))?
        .iter()
        .map(row_of)
        .collect();
    if locked.is_empty() {
        tx.commit()
            .await
            .map_err(|e| OutboxError::db("ending an empty claim", e))?;
        return Ok(Claimed {
            rows: vec![],
            locked: 0,
            last_seq: after,
        });
    }
    let t_select = std::time::Instant::now();
    let max_seq = locked.iter().map(|r| r.seq).max().unwrap_or(0);
    let mine: Vec<Uuid> = locked.iter().map(|r| r.id).collect();
    let blockers: Vec<Row> = tx
        .query(
            &format!(
                "SELECT {ROW_COLUMNS} FROM outbox \
                 WHERE status IN ('pending', 'publishing') AND seq < $1 AND seq >= $4 \
                   AND NOT (id = ANY($3))"
            ),
            &[&max_seq, &default_max_retries, &mine, &floor],
        )
        .await
        .map_err(|e| OutboxError::db("reading the rows ahead of a claim", e))?
        .iter()
        .map(row_of)
        .collect();
    let t_blockers = std::time::Instant::now();
    // An error here drops the transaction: every row stays as it was.
    let decision = decide(&locked, &blockers)?;
    let t_decide = std::time::Instant::now();
    if !decision.take.is_empty() {
        tx.execute(
            "UPDATE outbox SET status = 'publishing', claimed_by = $2 WHERE id = ANY($1)",
            &[&decision.take, &instance],
        )
        .await
        .map_err(|e| OutboxError::db("marking claimed rows", e))?;
    }
    for (id, error) in &decision.failed {
        tx.execute(
            "UPDATE outbox SET failed_at = now(), error_message = $2, \
             retry_count = COALESCE(retry_count, 0) + 1 WHERE id = $1",
            &[id, error],
        )
        .await
        .map_err(|e| OutboxError::db("recording a failed row", e))?;
    }
    tx.commit()
        .await
        .map_err(|e| OutboxError::db("committing a claim", e))?;
    tracing::debug!(
        blockers_ms = (t_blockers - t_select).as_millis() as u64,
        decide_ms = (t_decide - t_blockers).as_millis() as u64,
        update_commit_ms = t_decide.elapsed().as_millis() as u64,
        "claim phases"
    );
    let taken: std::collections::HashSet<Uuid> = decision.take.iter().copied().collect();
    Ok(Claimed {
        locked: locked.len(),
        last_seq: max_seq,
        rows: locked
            .into_iter()
            .filter(|r| taken.contains(&r.id))
            .collect(),
    })
}

/// After the Kafka commit: the published rows and the dead-lettered ones (with their errors),
/// in one database transaction. Only rows still `publishing` for `instance` change.
pub async fn settle(
    client: &mut Client,
    instance: &str,
    published: &[Uuid],
    dead: &[(Uuid, String)],
) -> Result<(u64, u64)> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| OutboxError::db("beginning to settle a batch", e))?;
    let p = tx
        .execute(
            "UPDATE outbox SET status = 'published', published_at = now() \
             WHERE id = ANY($1) AND status = 'publishing' AND claimed_by = $2",
            &[&published, &instance],
        )
        .await
        .map_err(|e| OutboxError::db("marking rows published", e))?;
    let ids: Vec<Uuid> = dead.iter().map(|(id, _)| *id).collect();
    let errors: Vec<String> = dead.iter().map(|(_, e)| e.clone()).collect();
    let d = tx
        .execute(
            "UPDATE outbox o SET status = 'failed', failed_at = now(), error_message = d.err, \
             retry_count = COALESCE(o.retry_count, 0) + 1 \
             FROM unnest($1::uuid[], $2::text[]) AS d(id, err) \
             WHERE o.id = d.id AND o.status = 'publishing' AND o.claimed_by = $3",
            &[&ids, &errors, &instance],
        )
        .await
        .map_err(|e| OutboxError::db("marking rows dead-lettered", e))?;
    tx.commit()
        .await
        .map_err(|e| OutboxError::db("settling a batch", e))?;
    Ok((p, d))
}

/// The lowest `seq` of a row still open (pending or publishing), or one past the highest when
/// none is. Claims start there: every row published leaves dead entries in the index of open
/// rows until a vacuum, and a scan from the table's start would read through all of them (it
/// made a claim of a 100,000-row backlog cost 100 ms). A row that commits later with a lower
/// `seq` (its transaction was open) is found when the floor is read again (the relay does every
/// few seconds and whenever it is idle).
pub async fn floor(client: &Client) -> Result<i64> {
    let r = client
        .query_one(
            "SELECT COALESCE((SELECT min(seq) FROM outbox WHERE status IN ('pending', 'publishing')), \
                             (SELECT COALESCE(max(seq), 0) + 1 FROM outbox))",
            &[],
        )
        .await
        .map_err(|e| OutboxError::db("reading the lowest open row", e))?;
    Ok(r.get(0))
}

/// Settles `instance`'s claimed rows from its last ledger entry and hands the others back to
/// `pending`, in one database transaction: (published, dead, pending).
pub async fn reconcile(
    client: &mut Client,
    instance: &str,
    published: &[Uuid],
    dead: &[(Uuid, String)],
) -> Result<(u64, u64, u64)> {
    let (p, d) = settle(client, instance, published, dead).await?;
    let back = release(client, instance).await?;
    Ok((p, d, back))
}

/// Hands every row still `publishing` for `instance` back to `pending`.
pub async fn release(client: &Client, instance: &str) -> Result<u64> {
    client
        .execute(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL \
             WHERE status = 'publishing' AND claimed_by = $1",
            &[&instance],
        )
        .await
        .map_err(|e| OutboxError::db("handing claimed rows back", e))
}

/// The instances other than `me` that hold rows in `publishing`.
pub async fn claimants(client: &Client, me: &str) -> Result<Vec<String>> {
    Ok(client
        .query(
            "SELECT DISTINCT claimed_by FROM outbox \
             WHERE status = 'publishing' AND claimed_by IS NOT NULL AND claimed_by <> $1",
            &[&me],
        )
        .await
        .map_err(|e| OutboxError::db("listing claimants", e))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Deletes published rows older than `retention`; returns how many.
pub async fn clean_up(client: &Client, retention: Duration) -> Result<u64> {
    client
        .execute(
            "DELETE FROM outbox WHERE status = 'published' \
             AND published_at < now() - make_interval(secs => $1)",
            &[&retention.as_secs_f64()],
        )
        .await
        .map_err(|e| OutboxError::db("cleaning up published rows", e))
}

/// Rows not yet published or dead-lettered, and the age in seconds of the oldest.
pub async fn backlog(client: &Client) -> Result<(i64, f64)> {
    let r = client
        .query_one(
            "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0) \
             FROM outbox WHERE status IN ('pending', 'publishing')",
            &[],
        )
        .await
        .map_err(|e| OutboxError::db("measuring the backlog", e))?;
    Ok((r.get(0), r.get(1)))
}

/// Rows per status (for `weft outbox status`).
pub async fn counts(client: &Client) -> Result<Vec<(String, i64)>> {
    Ok(client
        .query(
            "SELECT COALESCE(status, 'pending'), count(*) FROM outbox GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| OutboxError::db("counting rows", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// A row's JSON for its dead letter: what was in the table.
pub fn row_json(row: &Row) -> Json {
    serde_json::json!({
        "id": row.id.to_string(),
        "event_type": row.event_type,
        "event_version": row.event_version,
        "payload": row.payload,
        "headers": row.headers,
        "created_at": row.created_at.to_rfc3339(),
        "retry_count": row.retry_count,
    })
}
