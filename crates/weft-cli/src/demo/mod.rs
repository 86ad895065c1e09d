//! `weft demo`: the README's main job, end to end on the local broker.
//!
//! 1. provisions every topic of `topics/` (with retry and dead-letter topics; replication clamped
//!    for the one-node broker);
//! 2. starts a schema registry on `--registry-listen` (unless `--registry-url` names one),
//!    kept in the compacted topic `_weft_demo_schemas`: schema ids stay the same from one run to
//!    the next on the same broker, so the records of earlier runs still decode (a processor
//!    group new in this run reads them from the start);
//! 3. registers every schema (`weft schemas register`), then starts every registered processor
//!    in this process (`weft run --all`);
//! 4. publishes a realistic scenario per seed system ([`scenarios`]), poison and undecodable
//!    records included; with a database (`--database-url` / `WEFT_DATABASE_URL`), Cypher's
//!    checkout goes through the transactional outbox ([`outbox`]): the order row and its
//!    `order.created` outbox row in one database transaction, published by `weft outbox relay`
//!    running in this process, and the ERP sync writes into PostgreSQL;
//! 5. waits until every processor group has committed everything (no lag), or fails after
//!    `--settle-timeout`;
//! 6. prints, per scenario, the causation tree of what happened (topics, processors, times) and a
//!    summary (in, out, retried, dead-lettered, end-to-end p50/p99);
//! 7. stops the processors cleanly, or with `--keep` leaves everything running for the console
//!    commands until Ctrl-C.

mod outbox;
mod report;
mod scenarios;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use weft_core::kafka::KafkaConfig;
use weft_core::provision::{ProvisionOptions, Provisioner};
use weft_core::spec::SpecSet;
use weft_processors::ProcessorConfig;
use weft_runtime::schemas::{RegistrySchemas, SchemaSource};
use weft_runtime::{BreakerSettings, RunSettings};

use crate::offsets::{end_offsets, wait_settled};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory of topic and group specs.
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    topics_dir: PathBuf,
    /// Directory of Avro schemas.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    avro_dir: PathBuf,
    /// Replication factor clamp for the local broker.
    #[arg(long, env = "WEFT_MAX_REPLICATION_FACTOR", default_value_t = 1)]
    max_replication_factor: i32,
    /// Use this schema registry instead of starting one.
    #[arg(long, env = "WEFT_REGISTRY_URL")]
    registry_url: Option<String>,
    /// Where the demo's own registry listens.
    #[arg(
        long,
        env = "WEFT_DEMO_REGISTRY_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    registry_listen: SocketAddr,
    /// Where the processors' health and metrics are served.
    #[arg(long, env = "WEFT_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    metrics_listen: SocketAddr,
    /// How long to wait for the flows to settle.
    #[arg(long, env = "WEFT_DEMO_SETTLE_TIMEOUT", default_value = "120s", value_parser = humantime::parse_duration)]
    settle_timeout: Duration,
    /// Where the sink processors (search indexer, ERP sync) write their documents.
    #[arg(long, env = "WEFT_SINK_DIR", default_value = "target/weft-demo-sinks")]
    sink_dir: PathBuf,
    /// PostgreSQL: Cypher's checkout goes through the outbox and its relay, the ERP sync writes
    /// into the database (without it, the events are produced directly and sinks write files).
    #[arg(long, env = "WEFT_DATABASE_URL")]
    database_url: Option<String>,
    /// Keep the broker topics, registry and processors running after the report (Ctrl-C stops).
    #[arg(long, env = "WEFT_DEMO_KEEP")]
    keep: bool,
}

/// The compacted topic the demo's registry keeps its schemas in.
pub const DEMO_SCHEMAS_TOPIC: &str = "_weft_demo_schemas";

pub async fn run(args: DemoArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    println!("== weft demo on {}", kafka.bootstrap_servers);

    // 1. Topics as code.
    let specs = SpecSet::load(&args.topics_dir)
        .with_context(|| format!("loading specs from {}", args.topics_dir.display()))?;
    let all_topics = specs.all_topics();
    let provisioner = Provisioner::new(
        kafka,
        ProvisionOptions {
            max_replication_factor: Some(args.max_replication_factor),
            allow_delete: false,
        },
    )?;
    let plan = provisioner.plan(&all_topics).await?;
    let applied = provisioner.apply(&plan).await?;
    println!(
        "topics:     {} declared + {} retry/dead-letter, {} changes applied",
        specs.topics.len(),
        all_topics.len() - specs.topics.len(),
        applied.applied.len()
    );

    // 2. The registry.
    let registry_url = match &args.registry_url {
        Some(url) => url.clone(),
        None => {
            let listener = tokio::net::TcpListener::bind(args.registry_listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot start the demo's registry on {} (is another demo running with \
                         --keep? use --registry-listen or --registry-url)",
                        args.registry_listen
                    )
                })?;
            let addr = listener.local_addr()?;
            let mut store = weft_registry::kafka::KafkaStoreConfig::new(kafka.clone());
            store.topic = DEMO_SCHEMAS_TOPIC.into();
            let state = weft_registry::kafka::open(store)
                .await
                .context("the demo's registry store")?;
            tokio::spawn(async move {
                let app = weft_registry::app(state);
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("registry stopped: {e}");
                }
            });
            format!("http://{addr}")
        }
    };
    println!("registry:   {registry_url}");
    print!("schemas:    ");
    if let Outcome::Drift =
        crate::schemas::register_quietly(&args.avro_dir, &args.topics_dir, &registry_url).await?
    {
        bail!(
            "a schema in {} is incompatible with what the registry holds",
            args.avro_dir.display()
        );
    }

    // 3. The processors.
    let processors = weft_processors::all(&ProcessorConfig::default());
    let groups: Vec<(String, Vec<String>)> = processors
        .iter()
        .map(|p| {
            // A re-keying group also drains its repartition topic, and every group its retry
            // tiers (a record waiting for its retry is not settled), before it has settled.
            let group = specs.group(p.name());
            (
                p.name().to_string(),
                p.inputs()
                    .iter()
                    .map(|t| t.to_string())
                    .chain(group.repartition_topic())
                    .chain(group.retry_topics())
                    .collect(),
            )
        })
        .collect();
    let mut watched: Vec<String> = Vec::new();
    for p in &processors {
        let group = specs.group(p.name());
        watched.extend(p.inputs().iter().map(|t| t.to_string()));
        watched.extend(p.outputs().map(|(t, _)| t.to_string()));
        watched.extend(group.retry_topics());
        watched.push(group.dead_letter_topic());
    }
    let scenarios = scenarios::all();
    for s in &scenarios {
        watched.extend(s.events.iter().map(|e| e.topic().to_string()));
        watched.extend(s.junk_topics.iter().map(|t| t.to_string()));
    }
    watched.sort();
    watched.dedup();
    println!(
        "processors: {}",
        processors
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let shutdown = Arc::new(AtomicBool::new(false));
    // The demo works in a schema of its own, made afresh: the broker is fresh at every run, and
    // positions or rows of an earlier run must not meet its new topics.
    let database_url = match &args.database_url {
        Some(url) => Some(outbox::fresh_schema(url).await?),
        None => None,
    };
    let outbox = match &database_url {
        Some(url) => Some(
            outbox::Outbox::start(url, kafka, &registry_url, &args, &specs, shutdown.clone())
                .await?,
        ),
        None => None,
    };
    let metrics = weft_runtime::Metrics::new();
    let settings = RunSettings {
        instance_id: "demo".into(),
        registry_url: registry_url.clone(),
        registry_auth: None,
        auto_register: false,
        avro_dir: args.avro_dir.clone(),
        topics_dir: args.topics_dir.clone(),
        max_batch: 10_000,
        commit_interval: Duration::from_millis(100),
        breaker: BreakerSettings::default(),
        max_consecutive_aborts: 5,
        fetch_stall_limit: weft_runtime::fetch_guard::DEFAULT_LIMIT,
        static_membership: false,
        metrics_listen: Some(args.metrics_listen),
        shutdown: shutdown.clone(),
        metrics: Some(metrics.clone()),
        sink_dir: args.sink_dir.clone(),
        sink_store: database_url.as_deref().map(|url| {
            Arc::new(weft_outbox::sink::PgSinkStore::new(url)) as Arc<dyn weft_runtime::SinkStore>
        }),
        topic_prefix: String::new(),
        migrations: weft_processors::migrations(),
    };
    let run_kafka = kafka.clone();
    let running = tokio::spawn(async move {
        weft_runtime::run_processors(&run_kafka, processors, &settings).await
    });

    let outcome = publish_and_report(
        &args,
        kafka,
        &registry_url,
        &watched,
        &groups,
        &scenarios,
        &shutdown,
        &running,
        outbox.as_ref(),
    )
    .await;
    // Whatever happened, the processors finish their transactions and leave their groups.
    if outcome.is_ok() && args.keep {
        println!(
            "\nkept running: registry {registry_url}, metrics http://{}/metrics; try \
             `weft consume b2b.email.notification-requested.v1 --from beginning`. Ctrl-C stops.",
            args.metrics_listen
        );
        tokio::signal::ctrl_c().await?;
    }
    shutdown.store(true, Ordering::SeqCst);
    if let Some(o) = outbox {
        o.stop().await?;
    }
    let stopped = running.await?;
    let unaccounted = outcome?;
    let stats = stopped?;
    println!(
        "\nstopped cleanly ({} processors) after {:.1} s",
        stats.len(),
        started.elapsed().as_secs_f64()
    );
    if unaccounted > 0 {
        bail!("{unaccounted} published events were not read back");
    }
    Ok(Outcome::Ok)
}

/// Steps 4 to 6; returns how many published events were not read back.
#[allow(clippy::too_many_arguments)]
async fn publish_and_report(
    args: &DemoArgs,
    kafka: &KafkaConfig,
    registry_url: &str,
    watched: &[String],
    groups: &[(String, Vec<String>)],
    scenarios: &[scenarios::Scenario],
    shutdown: &Arc<AtomicBool>,
    running: &tokio::task::JoinHandle<
        Result<Vec<(String, weft_runtime::LoopStats)>, weft_runtime::RuntimeError>,
    >,
    outbox: Option<&outbox::Outbox>,
) -> anyhow::Result<usize> {
    // 4. The scenarios, from the current end of every watched topic.
    let start_offsets = {
        let kafka = kafka.clone();
        let watched = watched.to_vec();
        tokio::task::spawn_blocking(move || end_offsets(&kafka, &watched)).await??
    };
    let schemas = {
        let url = registry_url.to_string();
        tokio::task::spawn_blocking(move || RegistrySchemas::new(&url, true)).await??
    };
    let schemas = Arc::new(schemas);
    let collector = {
        let kafka = kafka.clone();
        let from = start_offsets.clone();
        let schemas: Arc<dyn weft_runtime::schemas::SchemaSource> = schemas.clone();
        tokio::task::spawn_blocking(move || report::Collector::start(&kafka, &from, schemas))
            .await??
    };
    let catalog = weft_contracts::Catalog::load(&args.avro_dir)
        .with_context(|| format!("loading {}", args.avro_dir.display()))?;
    let producer: FutureProducer = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .create()?;
    let mut published = 0usize;
    let mut junk_keys = BTreeMap::new();
    for s in scenarios {
        for e in &s.events {
            let schema = catalog.self_contained(e.schema())?;
            let id = {
                let schemas = schemas.clone();
                let topic = e.topic();
                let schema = schema.clone();
                tokio::task::spawn_blocking(move || schemas.value_schema_id(topic, &schema))
                    .await??
            };
            let body = e.encode(&schema)?;
            if let Some(o) = outbox.filter(|_| o_routes(e.topic())) {
                o.checkout(e, &schema, &body).await?;
                published += 1;
                continue;
            }
            let value = weft_core::wire::frame(id, &body);
            let m = e.metadata();
            let mut headers = OwnedHeaders::new();
            for (k, v) in m.headers() {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            let key = e.key();
            send(&producer, e.topic(), &key, &value, headers).await?;
            published += 1;
        }
        for topic in &s.junk_topics {
            let key = format!("junk-{}", uuid::Uuid::new_v4());
            send(
                &producer,
                topic,
                &key,
                b"{\"not\": \"avro\"}",
                OwnedHeaders::new(),
            )
            .await?;
            junk_keys.insert(key, s.system);
            published += 1;
        }
    }
    println!(
        "published:  {published} events in {} scenarios{}",
        scenarios.len(),
        if outbox.is_some() {
            " (Cypher's order.created through the outbox and its relay)"
        } else {
            ""
        }
    );

    // 5. Settle: every processor group has committed up to the end of its inputs.
    let settle_started = Instant::now();
    let settled = {
        let kafka = kafka.clone();
        let shutdown = shutdown.clone();
        let timeout = args.settle_timeout;
        let groups = groups.to_vec();
        tokio::task::spawn_blocking(move || wait_settled(&kafka, &groups, timeout, &shutdown))
            .await?
    };
    if running.is_finished() {
        bail!("the processors stopped before the flows settled (see the error above)");
    }
    settled?;
    println!(
        "settled:    in {:.1} s",
        settle_started.elapsed().as_secs_f64()
    );

    // 6. Report.
    let mut report = tokio::task::spawn_blocking(move || collector.finish(&junk_keys)).await??;
    let consumed = groups
        .iter()
        .flat_map(|(_, inputs)| inputs.iter().cloned())
        .collect();
    report::print(scenarios, &consumed, &mut report);
    if let Some(o) = outbox {
        o.report().await?;
    }
    Ok(report.unaccounted())
}

/// Whether the demo sends events of `topic` through the outbox (Cypher's checkout).
fn o_routes(topic: &str) -> bool {
    topic == <weft_contracts::cypher::order::OrderCreated as weft_contracts::Contract>::TOPIC
}

async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: OwnedHeaders,
) -> anyhow::Result<()> {
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(value)
                .headers(headers),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("publishing to {topic}: {e}"))?;
    Ok(())
}
