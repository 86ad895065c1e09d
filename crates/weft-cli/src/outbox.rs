//! `weft outbox`: the transactional outbox of seeds 000 and 003 on Kafka (`weft_outbox`).
//!
//! `migrate` creates the outbox table (seed 000 section 3.2, plus weft's `seq` and `claimed_by`
//! columns) and the sinks' tables, idempotently; `relay` publishes rows exactly once (SIGTERM
//! finishes the batch in hand and exits 0; configuration errors exit 1, anything else is retried
//! in a new session); `status` prints rows per status and the age of the oldest pending row.
//!
//! Every relay setting takes a flag, a `WEFT_OUTBOX_*` variable, or the seed's own `OUTBOX_*`
//! variable (`OUTBOX_BATCH_SIZE`, `OUTBOX_BATCH_INTERVAL_MS`, `OUTBOX_RETRY_MAX_ATTEMPTS`,
//! `OUTBOX_CIRCUIT_BREAKER_THRESHOLD`, `OUTBOX_CIRCUIT_BREAKER_TIMEOUT_MS`), in that order. The
//! database is `--database-url`, `WEFT_DATABASE_URL` or `DATABASE_URL`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use weft_core::kafka::KafkaConfig;
use weft_outbox::{db, Encoder, Relay, RelayMetrics, RelaySettings};

use crate::{out, Outcome};

#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    command: OutboxCommand,
    /// PostgreSQL URL (`postgres://user@host:port/db`); else WEFT_DATABASE_URL, DATABASE_URL.
    #[arg(long, env = "WEFT_DATABASE_URL", global = true)]
    database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Create the outbox table and the sinks' tables (idempotent).
    Migrate,
    /// Publish outbox rows to their topics, exactly once.
    Relay(Box<RelayArgs>),
    /// Rows per status, the backlog and the age of its oldest row.
    Status,
}

#[derive(Debug, Args)]
struct RelayArgs {
    /// This replica's stable name (its claims, its lock, its transactional id); default the
    /// host name, i.e. the pod name.
    #[arg(long, env = "WEFT_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Rows per batch [WEFT_OUTBOX_BATCH_SIZE, OUTBOX_BATCH_SIZE; 50].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Wait between polls when nothing is due, e.g. 200ms [WEFT_OUTBOX_INTERVAL,
    /// OUTBOX_BATCH_INTERVAL_MS; 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// Attempts of a row whose max_retries is NULL [WEFT_OUTBOX_MAX_RETRIES,
    /// OUTBOX_RETRY_MAX_ATTEMPTS; 3].
    #[arg(long)]
    max_retries: Option<i32>,
    /// Wait before a failed row is tried again [WEFT_OUTBOX_RETRY_BACKOFF; 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    retry_backoff: Option<Duration>,
    /// Failed batches in a row that open the circuit [WEFT_OUTBOX_BREAKER_THRESHOLD,
    /// OUTBOX_CIRCUIT_BREAKER_THRESHOLD; 5].
    #[arg(long)]
    breaker_threshold: Option<u32>,
    /// How long the circuit stays open [WEFT_OUTBOX_BREAKER_TIMEOUT,
    /// OUTBOX_CIRCUIT_BREAKER_TIMEOUT_MS; 60s].
    #[arg(long, value_parser = humantime::parse_duration)]
    breaker_timeout: Option<Duration>,
    /// Published rows are deleted after this long [WEFT_OUTBOX_RETENTION; 7d].
    #[arg(long, value_parser = humantime::parse_duration)]
    retention: Option<Duration>,
    /// Schema registry URL.
    #[arg(
        long,
        env = "WEFT_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry_url: String,
    /// Registry user (HTTP basic authentication).
    #[arg(long, env = "WEFT_REGISTRY_USERNAME")]
    registry_username: Option<String>,
    /// Registry password.
    #[arg(long, env = "WEFT_REGISTRY_PASSWORD", hide_env_values = true)]
    registry_password: Option<String>,
    /// Register missing schemas instead of failing.
    #[arg(long, env = "WEFT_SCHEMA_AUTO_REGISTER")]
    auto_register: bool,
    /// Directory of Avro schemas.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    avro_dir: PathBuf,
    /// Directory of topic specs.
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    topics_dir: PathBuf,
    /// The system whose topics the rows' event types name (`cypher` -> `cypher.*`): needed when
    /// an event type exists in several systems (`order.created`).
    #[arg(long, env = "WEFT_OUTBOX_SYSTEM")]
    system: Option<String>,
    /// Prefix of every topic (and of the transactional ids).
    #[arg(long, env = "WEFT_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Where /health/live, /health/ready and /metrics are served ("off" to disable).
    #[arg(long, env = "WEFT_METRICS_LISTEN", default_value = "127.0.0.1:9465")]
    metrics_listen: String,
}

/// A setting from the flag, else `weft` (a WEFT_OUTBOX_* variable), else `seed` (the seed's
/// variable, converted by `from_seed`), else `default`. A variable that does not parse is an
/// error naming it.
fn setting<T>(
    flag: Option<T>,
    weft: &str,
    parse_weft: impl Fn(&str) -> Option<T>,
    seed: Option<&str>,
    parse_seed: impl Fn(&str) -> Option<T>,
    default: T,
) -> anyhow::Result<T> {
    if let Some(v) = flag {
        return Ok(v);
    }
    if let Ok(text) = std::env::var(weft) {
        return parse_weft(&text).ok_or_else(|| anyhow!("{weft}=`{text}` does not parse"));
    }
    if let Some(seed) = seed {
        if let Ok(text) = std::env::var(seed) {
            return parse_seed(&text).ok_or_else(|| anyhow!("{seed}=`{text}` does not parse"));
        }
    }
    Ok(default)
}

fn number<T: FromStr>(t: &str) -> Option<T> {
    t.trim().parse().ok()
}

fn duration(t: &str) -> Option<Duration> {
    humantime::parse_duration(t.trim()).ok()
}

fn millis(t: &str) -> Option<Duration> {
    t.trim().parse::<u64>().ok().map(Duration::from_millis)
}

impl OutboxArgs {
    fn database_url(&self) -> anyhow::Result<String> {
        self.database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "no database: pass --database-url, or set WEFT_DATABASE_URL or DATABASE_URL"
                )
            })
    }
}

impl RelayArgs {
    fn settings(&self, database_url: String) -> anyhow::Result<RelaySettings> {
        let instance = self
            .instance_id
            .clone()
            .or_else(crate::run::host_name)
            .ok_or_else(|| anyhow!("no instance id: pass --instance-id or set WEFT_INSTANCE_ID"))?;
        let settings = RelaySettings {
            database_url,
            instance,
            batch_size: setting(
                self.batch_size,
                "WEFT_OUTBOX_BATCH_SIZE",
                number,
                Some("OUTBOX_BATCH_SIZE"),
                number,
                50,
            )?,
            interval: setting(
                self.interval,
                "WEFT_OUTBOX_INTERVAL",
                duration,
                Some("OUTBOX_BATCH_INTERVAL_MS"),
                millis,
                Duration::from_secs(5),
            )?,
            max_retries: setting(
                self.max_retries,
                "WEFT_OUTBOX_MAX_RETRIES",
                number,
                Some("OUTBOX_RETRY_MAX_ATTEMPTS"),
                number,
                3,
            )?,
            retry_backoff: setting(
                self.retry_backoff,
                "WEFT_OUTBOX_RETRY_BACKOFF",
                duration,
                None,
                duration,
                Duration::from_secs(5),
            )?,
            breaker_threshold: setting(
                self.breaker_threshold,
                "WEFT_OUTBOX_BREAKER_THRESHOLD",
                number,
                Some("OUTBOX_CIRCUIT_BREAKER_THRESHOLD"),
                number,
                5,
            )?,
            breaker_timeout: setting(
                self.breaker_timeout,
                "WEFT_OUTBOX_BREAKER_TIMEOUT",
                duration,
                Some("OUTBOX_CIRCUIT_BREAKER_TIMEOUT_MS"),
                millis,
                Duration::from_secs(60),
            )?,
            retention: setting(
                self.retention,
                "WEFT_OUTBOX_RETENTION",
                duration,
                None,
                duration,
                Duration::from_secs(7 * 24 * 3600),
            )?,
            topic_prefix: self.topic_prefix.clone(),
        };
        if settings.batch_size == 0 {
            bail!("the batch size must be at least 1");
        }
        if settings.max_retries < 1 {
            bail!("max retries must be at least 1 (the first attempt counts)");
        }
        if settings.breaker_threshold == 0 {
            bail!("the breaker threshold must be at least 1");
        }
        Ok(settings)
    }
}

pub async fn run(args: OutboxArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let url = args.database_url()?;
    match &args.command {
        OutboxCommand::Migrate => {
            let client = db::connect(&url).await?;
            db::migrate(&client).await?;
            out("outbox: tables ready (outbox, sink_documents, sink_offsets)\n");
            Ok(Outcome::Ok)
        }
        OutboxCommand::Status => {
            let client = db::connect(&url).await?;
            let (backlog, oldest) = db::backlog(&client).await?;
            for (status, n) in db::counts(&client).await? {
                out(&format!("{status:<12} {n}\n"));
            }
            out(&format!(
                "backlog      {backlog} rows, oldest {oldest:.1} s\n"
            ));
            Ok(Outcome::Ok)
        }
        OutboxCommand::Relay(r) => relay(r, url, kafka).await,
    }
}

async fn relay(args: &RelayArgs, url: String, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let settings = args.settings(url)?;
    let specs = weft_core::spec::SpecSet::load(&args.topics_dir)
        .with_context(|| format!("loading topic specs from {}", args.topics_dir.display()))?;
    let catalog = weft_contracts::Catalog::load(&args.avro_dir)
        .with_context(|| format!("loading Avro schemas from {}", args.avro_dir.display()))?;
    let auth = match (&args.registry_username, &args.registry_password) {
        (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
        (None, None) => None,
        _ => bail!("registry credentials need both --registry-username and --registry-password"),
    };
    let schemas = weft_runtime::schemas::RegistrySchemas::with_auth(
        &args.registry_url,
        args.auto_register,
        auth,
    )?;
    let encoder = Encoder::new(
        specs.topics.clone(),
        catalog,
        Arc::new(schemas),
        &settings.topic_prefix,
        args.system.as_deref(),
    );
    let metrics = RelayMetrics::new();
    if args.metrics_listen != "off" {
        let addr = args.metrics_listen.parse().map_err(|e| {
            anyhow!(
                "--metrics-listen `{}` is not an address: {e}",
                args.metrics_listen
            )
        })?;
        let bound = weft_outbox::metrics::serve(addr, metrics.clone()).await?;
        eprintln!("weft outbox relay: /health and /metrics on http://{bound}");
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("weft outbox relay: stopping after the batch in hand");
            shutdown.store(true, Ordering::SeqCst);
        });
    }
    let relay = Relay::new(settings, kafka.clone(), encoder, metrics, shutdown);
    match relay.run().await {
        Ok(()) => Ok(Outcome::Ok),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(Outcome::Exit(e.exit_code()))
        }
    }
}
