//! `weft run <processor>...` / `weft run --all` / `weft run --list`: start registered processors
//! (see `weft_runtime::run`). SIGTERM or Ctrl-C finishes or aborts each open transaction, leaves
//! the groups and exits 0; a runtime error exits with its code (1 configuration, 2 Kafka or
//! registry, 3 processor fatal or circuit breaker open).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use weft_core::kafka::KafkaConfig;
use weft_processors::viscount::alerts::AlertThresholds;
use weft_processors::{ProcessorConfig, Thresholds};
use weft_runtime::{BreakerSettings, RunSettings};

use crate::{out, Outcome};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Processors to run, by name (`weft run --list` shows them).
    #[arg(env = "WEFT_PROCESSORS", value_delimiter = ',')]
    processors: Vec<String>,
    /// Run every registered processor in this process (for development).
    #[arg(long, conflicts_with = "processors")]
    all: bool,
    /// List the registered processors with their inputs and outputs, and exit.
    #[arg(long)]
    list: bool,
    /// Stable instance identity, part of the transactional id: unique per replica and the same
    /// across its restarts (a restarted replica fences its predecessor's open transaction).
    /// Default: the host name (`HOSTNAME`, else the kernel's), i.e. the pod name on Kubernetes.
    /// Two replicas on one host need distinct values.
    #[arg(long, env = "WEFT_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Schema registry URL.
    #[arg(
        long,
        env = "WEFT_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry_url: String,
    /// Registry user (HTTP basic authentication), e.g. from a Kubernetes Secret.
    #[arg(long, env = "WEFT_REGISTRY_USERNAME")]
    registry_username: Option<String>,
    /// Registry password.
    #[arg(long, env = "WEFT_REGISTRY_PASSWORD", hide_env_values = true)]
    registry_password: Option<String>,
    /// Register missing output schemas instead of failing (Confluent serializers' default; off
    /// in production, where `weft schemas register` runs in CI).
    #[arg(long, env = "WEFT_SCHEMA_AUTO_REGISTER")]
    auto_register: bool,
    /// Directory of Avro schemas.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    avro_dir: PathBuf,
    /// Directory of topic and group specs.
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    topics_dir: PathBuf,
    /// Records per transaction at most.
    #[arg(long, env = "WEFT_MAX_BATCH", default_value_t = 10_000)]
    max_batch: usize,
    /// Time per transaction at most (e.g. 100ms).
    #[arg(long, env = "WEFT_COMMIT_INTERVAL", default_value = "100ms", value_parser = humantime::parse_duration)]
    commit_interval: Duration,
    /// Circuit breaker: inputs looked at (0 turns it off).
    #[arg(long, env = "WEFT_BREAKER_WINDOW", default_value_t = 200)]
    breaker_window: usize,
    /// Circuit breaker: share of dead letters in the window that stops the processor.
    #[arg(long, env = "WEFT_BREAKER_RATIO", default_value_t = 0.5)]
    breaker_ratio: f64,
    /// Circuit breaker: outcomes needed before it judges (capped at the window).
    #[arg(long, env = "WEFT_BREAKER_MIN_SAMPLES", default_value_t = 20)]
    breaker_min_samples: usize,
    /// Aborted transactions in a row (an output that cannot be delivered) after which a
    /// processor stops with the broker's error.
    #[arg(long, env = "WEFT_MAX_CONSECUTIVE_ABORTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    max_consecutive_aborts: u32,
    /// How long a partition the processor owns may have records waiting with none fetched
    /// before the processor stops (exit 2) for the orchestrator to restart it: a consumer that
    /// silently stopped fetching (seen under KIP-848 after a broker kill). 0s turns it off;
    /// keep it well above the cluster's leader-failover time.
    #[arg(long, env = "WEFT_FETCH_STALL_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    fetch_stall_timeout: Duration,
    /// Static group membership: a replica restarted within the session timeout (6 s) keeps its
    /// partitions without a rebalance; a stopped one holds them that long (classic protocol
    /// only; the Helm chart turns it on, its pod names being stable).
    #[arg(long, env = "WEFT_STATIC_MEMBERSHIP", default_value_t = false, action = clap::ArgAction::Set)]
    static_membership: bool,
    /// Where /health/live, /health/ready and /metrics are served ("off" to disable).
    #[arg(long, env = "WEFT_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    metrics_listen: String,
    /// Where sink processors (search indexer, ERP sync) write `<sink>.jsonl` when no database is
    /// given: a development option (once per event id, on the pod's disk).
    #[arg(long, env = "WEFT_SINK_DIR", default_value = "sinks")]
    sink_dir: std::path::PathBuf,
    /// PostgreSQL for the sink processors (else DATABASE_URL): documents and consumed positions
    /// in one database transaction, exactly once (`weft outbox migrate` creates the tables).
    #[arg(long, env = "WEFT_DATABASE_URL")]
    database_url: Option<String>,
    /// Prefix of every contract topic on the wire (a private namespace, e.g. `dev-alice.`).
    #[arg(long, env = "WEFT_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Composerp replenishment thresholds per item, `ITEM=N,...`.
    #[arg(long, env = "WEFT_REPLENISH_THRESHOLDS", default_value = "")]
    replenish_thresholds: String,
    /// Composerp replenishment threshold of items not listed.
    #[arg(long, env = "WEFT_REPLENISH_DEFAULT_THRESHOLD", default_value = "10")]
    replenish_default_threshold: String,
    /// Composerp inventory ledger: event ids remembered per position to detect an event
    /// published twice upstream (0 turns duplicate detection off).
    #[arg(long, env = "WEFT_LEDGER_REMEMBERED_EVENTS", default_value_t = 32)]
    ledger_remembered_events: usize,
    /// Cypher credit worker: the credit limit of a new customer account.
    #[arg(long, env = "WEFT_CREDIT_DEFAULT_LIMIT", default_value = "50000")]
    credit_default_limit: String,
    /// Collector invoices service: days from a confirmed delivery to its invoice's due date.
    #[arg(long, env = "WEFT_INVOICE_PAYMENT_DAYS", default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=3650))]
    invoice_payment_days: i64,
    /// Collector inventory service: stock of a product in a warehouse falling below this tells
    /// procurement (stock.low).
    #[arg(long, env = "WEFT_COLLECTOR_REORDER_LEVEL", default_value_t = 20)]
    collector_reorder_level: i32,
    /// Collector inventory service: the minimum stock level stock.low reports.
    #[arg(long, env = "WEFT_COLLECTOR_MINIMUM_STOCK", default_value_t = 10)]
    collector_minimum_stock: i32,
    /// First Viscount: available stock below this raises a warning alert.
    #[arg(long, env = "WEFT_STOCK_WARNING", default_value_t = 10)]
    stock_warning: i32,
    /// First Viscount: available stock at or below this raises a critical alert.
    #[arg(long, env = "WEFT_STOCK_CRITICAL", default_value_t = 3)]
    stock_critical: i32,
}

impl RunArgs {
    fn processor_config(&self) -> anyhow::Result<ProcessorConfig> {
        if self.stock_critical < 0 || self.stock_critical >= self.stock_warning {
            anyhow::bail!(
                "--stock-critical {} must be >= 0 and below --stock-warning {}",
                self.stock_critical,
                self.stock_warning
            );
        }
        if self.collector_minimum_stock < 0
            || self.collector_minimum_stock > self.collector_reorder_level
        {
            anyhow::bail!(
                "--collector-minimum-stock {} must be >= 0 and at most --collector-reorder-level {}",
                self.collector_minimum_stock,
                self.collector_reorder_level
            );
        }
        Ok(ProcessorConfig {
            replenish: Thresholds::parse(
                &self.replenish_thresholds,
                &self.replenish_default_threshold,
            )
            .map_err(|e| anyhow::anyhow!(e))?,
            stock_alerts: AlertThresholds {
                warning: self.stock_warning,
                critical: self.stock_critical,
            },
            ledger_remembered_events: self.ledger_remembered_events,
            invoice_payment_days: self.invoice_payment_days,
            collector_stock: weft_processors::collector::inventory::StockLevels {
                reorder: self.collector_reorder_level,
                minimum: self.collector_minimum_stock,
            },
            credit_limit: self
                .credit_default_limit
                .parse::<weft_contracts::Decimal4>()
                .ok()
                .filter(|l| !l.is_negative())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--credit-default-limit `{}` is not an amount >= 0",
                        self.credit_default_limit
                    )
                })?,
        })
    }

    fn settings(&self, shutdown: Arc<AtomicBool>) -> anyhow::Result<RunSettings> {
        if !(0.0..=1.0).contains(&self.breaker_ratio) {
            anyhow::bail!(
                "--breaker-ratio {} is not between 0 and 1",
                self.breaker_ratio
            );
        }
        let metrics_listen = match self.metrics_listen.as_str() {
            "off" | "" => None,
            addr => Some(addr.parse::<SocketAddr>().map_err(|e| {
                anyhow::anyhow!("--metrics-listen `{addr}` is not an address: {e}")
            })?),
        };
        let instance_id = match &self.instance_id {
            Some(id) if !id.trim().is_empty() => id.trim().to_string(),
            Some(_) => anyhow::bail!("WEFT_INSTANCE_ID / --instance-id is empty"),
            None => host_name().ok_or_else(|| {
                anyhow::anyhow!(
                    "no instance id: set WEFT_INSTANCE_ID (or --instance-id) to a stable name unique per replica"
                )
            })?,
        };
        Ok(RunSettings {
            instance_id,
            registry_url: self.registry_url.clone(),
            registry_auth: self.registry_username.as_ref().map(|u| {
                (
                    u.clone(),
                    self.registry_password.clone().unwrap_or_default(),
                )
            }),
            auto_register: self.auto_register,
            avro_dir: self.avro_dir.clone(),
            topics_dir: self.topics_dir.clone(),
            max_batch: self.max_batch,
            commit_interval: self.commit_interval,
            breaker: BreakerSettings {
                window: self.breaker_window,
                max_ratio: self.breaker_ratio,
                min_samples: self.breaker_min_samples,
            },
            max_consecutive_aborts: self.max_consecutive_aborts,
            fetch_stall_limit: self.fetch_stall_timeout,
            static_membership: self.static_membership,
            metrics_listen,
            shutdown,
            metrics: None,
            sink_dir: self.sink_dir.clone(),
            sink_store: self
                .database_url
                .clone()
                .or_else(|| std::env::var("DATABASE_URL").ok())
                .filter(|u| !u.is_empty())
                .map(|url| {
                    Arc::new(weft_outbox::sink::PgSinkStore::new(&url))
                        as Arc<dyn weft_runtime::SinkStore>
                }),
            topic_prefix: self.topic_prefix.clone(),
            migrations: weft_processors::migrations(),
        })
    }
}

/// The host name: `HOSTNAME` (set in every Kubernetes pod to the pod name), else the kernel's.
pub(crate) fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

pub async fn run(args: RunArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let config = args.processor_config()?;
    let registered = weft_processors::all(&config);
    if args.list {
        for p in &registered {
            let outputs: Vec<&str> = p.outputs().map(|(t, _)| t).collect();
            out(&format!(
                "{}\n  in:  {}\n  out: {}\n",
                p.name(),
                p.inputs().join(", "),
                outputs.join(", ")
            ));
        }
        return Ok(Outcome::Ok);
    }
    let chosen = if args.all {
        registered
    } else if args.processors.is_empty() {
        anyhow::bail!("name the processors to run, or --all (`weft run --list` shows them)");
    } else {
        let known: Vec<String> = registered.iter().map(|p| p.name().to_string()).collect();
        if let Some(unknown) = args.processors.iter().find(|n| !known.contains(n)) {
            anyhow::bail!(
                "no processor named `{unknown}`; registered: {}",
                known.join(", ")
            );
        }
        registered
            .into_iter()
            .filter(|p| args.processors.iter().any(|n| n == p.name()))
            .collect()
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let settings = args.settings(shutdown.clone())?;
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("weft run: stopping: finishing open transactions");
        shutdown.store(true, Ordering::SeqCst);
    });
    match weft_runtime::run_processors(kafka, chosen, &settings).await {
        Ok(stats) => {
            for (name, s) in stats {
                eprintln!(
                    "{name}: consumed {} produced {} retried {} dead-lettered {} (transactions: {} committed, {} aborted)",
                    s.consumed, s.produced, s.retried, s.dead_lettered, s.committed_transactions, s.aborted_transactions
                );
            }
            Ok(Outcome::Ok)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(Outcome::Exit(e.exit_code()))
        }
    }
}
