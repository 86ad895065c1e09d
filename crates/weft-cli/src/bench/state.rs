//! `weft bench-state`: what keyed state costs, against baselines measured in the same run.
//!
//! 1. **Stateful against stateless, 1:1.** The inventory ledger (`composerp.inventory-ledger-
//!    service`: a store read, a store write and a changelog record per sale) against its stateless
//!    twin (the same input and output contracts, the position taken from the sale alone: no store,
//!    no changelog), each as its own process (`weft bench-state-worker`) on fresh topics with the
//!    same pre-encoded backlog of `--events` sales over `--items` items. Throughput is backlog
//!    outputs per second at a read_committed reader from the first output to the last; CPU
//!    seconds per 100,000 records are the worker's user + system time over that window. After each
//!    run the output is counted: one record per sale, or the run fails.
//! 2. **Restore rate.** A changelog of `--restore-records` small records (distinct keys, a
//!    framed Avro `Position` each, `--partitions` partitions) read by the runtime's restore
//!    ([`weft_runtime::state::read_changelog`]: read_committed to the end, latest value per key)
//!    against a plain read_committed consumer reading the same partitions to the end (the
//!    ceiling).
//!
//! Rounds alternate the order of the two systems; the report gives medians and ratios.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use apache_avro::AvroSchema;
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use weft_contracts::composerp::inventory::{InventoryUpdated, TransactionType};
use weft_contracts::composerp::receipt::ReceiptCompleted;
use weft_contracts::composerp::sale::SaleCompleted;
use weft_contracts::{Catalog, Contract, Decimal4, Event, EventMetadata, Example};
use weft_core::kafka::KafkaConfig;
use weft_core::spec::SpecSet;
use weft_processors::composerp::ledger::{self, Position};
use weft_runtime::schemas::{RegistrySchemas, SchemaSource};
use weft_runtime::{BreakerSettings, Processor, RunSettings};

use super::measure::{spread, Reader};
use super::peers::cpu_seconds;
use super::{create_topics, produce};
use crate::{out, Outcome};

/// The stateless twin's name (its consumer group).
const TWIN: &str = "bench.ledger-stateless";

#[derive(Debug, Args)]
pub struct StateBenchArgs {
    /// Sales in each system's backlog.
    #[arg(long, env = "WEFT_BENCH_EVENTS", default_value_t = 100_000)]
    events: usize,
    /// Items the sales are spread over (store keys).
    #[arg(long, default_value_t = 10_000)]
    items: usize,
    /// Event ids the ledger remembers per position (its duplicate detection; 0: off, so the
    /// figures are the store's own cost).
    #[arg(long, default_value_t = 0)]
    remembered: usize,
    /// Records of the changelog the restore reads.
    #[arg(long, default_value_t = 1_000_000)]
    restore_records: usize,
    /// Rounds (medians are over rounds).
    #[arg(long, env = "WEFT_BENCH_ROUNDS", default_value_t = 3)]
    rounds: usize,
    /// Partitions of every bench topic.
    #[arg(long, env = "WEFT_BENCH_PARTITIONS", default_value_t = 6)]
    partitions: i32,
    /// Directory of Avro schemas.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    avro_dir: PathBuf,
    /// Directory of topic and group specs.
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    topics_dir: PathBuf,
}

/// `weft bench-state-worker`: one system of `weft bench-state`, as its own process.
#[derive(Debug, Args)]
pub struct StateWorkerArgs {
    /// `stateful` (the ledger) or `stateless` (its twin).
    #[arg(long)]
    variant: String,
    #[arg(long)]
    prefix: String,
    #[arg(long)]
    registry_url: String,
    #[arg(long, default_value_t = 0)]
    remembered: usize,
    #[arg(long, default_value = "avro")]
    avro_dir: PathBuf,
    #[arg(long, default_value = "topics")]
    topics_dir: PathBuf,
}

/// The ledger's stateless twin: the same contracts, the position from the sale alone.
fn twin() -> Processor {
    Processor::new(TWIN)
        .on::<SaleCompleted>(|sale| {
            let s = sale.payload();
            Ok(vec![sale.emit(
                0,
                InventoryUpdated {
                    position_id: ledger::position_id(&s.item_id, &s.location_id),
                    item_id: s.item_id.clone(),
                    location_id: s.location_id.clone(),
                    on_hand: s.quantity,
                    available: s.quantity,
                    transaction_id: s.sale_id.clone(),
                    transaction_type: TransactionType::Sale,
                },
            )])
        })
        .emits::<InventoryUpdated>()
}

pub async fn worker(args: StateWorkerArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let processor = match args.variant.as_str() {
        "stateful" => ledger::processor(args.remembered),
        "stateless" => twin(),
        other => bail!("--variant {other}: `stateful` or `stateless`"),
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    {
        let shutdown = shutdown.clone();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            term.recv().await;
            shutdown.store(true, Ordering::SeqCst);
        });
    }
    let settings = RunSettings {
        instance_id: "bench-0".into(),
        registry_url: args.registry_url,
        registry_auth: None,
        auto_register: true,
        avro_dir: args.avro_dir,
        topics_dir: args.topics_dir,
        max_batch: 10_000,
        commit_interval: Duration::from_millis(100),
        breaker: BreakerSettings::default(),
        max_consecutive_aborts: 5,
        fetch_stall_limit: weft_runtime::fetch_guard::DEFAULT_LIMIT,
        static_membership: false,
        metrics_listen: None,
        shutdown,
        metrics: None,
        sink_dir: std::env::temp_dir(),
        sink_store: None,
        topic_prefix: args.prefix,
        migrations: Vec::new(),
    };
    weft_runtime::run_processors(kafka, vec![processor], &settings).await?;
    Ok(Outcome::Ok)
}

/// One system's figures in one round.
struct Run {
    throughput: f64,
    cpu_per_100k: f64,
}

pub async fn run(args: StateBenchArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let registry_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let app = weft_registry::app(weft_registry::AppState::default());
        let _ = axum::serve(listener, app).await;
    });
    let (kafka, url) = (kafka.clone(), registry_url.clone());
    tokio::task::spawn_blocking(move || bench(&args, &kafka, &url)).await??;
    Ok(Outcome::Ok)
}

fn bench(args: &StateBenchArgs, kafka: &KafkaConfig, registry_url: &str) -> anyhow::Result<()> {
    let catalog = Catalog::load(&args.avro_dir)
        .with_context(|| format!("loading {}", args.avro_dir.display()))?;
    let schemas = RegistrySchemas::new(registry_url, true)?;
    let specs = SpecSet::load(&args.topics_dir)
        .with_context(|| format!("loading {}", args.topics_dir.display()))?;
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let sale_schema = catalog.self_contained(SaleCompleted::SCHEMA)?;
    let sale_id = schemas.value_schema_id(SaleCompleted::TOPIC, &sale_schema)?;
    let items: Vec<String> = (0..args.items)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let mut backlog = Vec::with_capacity(args.events);
    for n in 0..args.events {
        let mut p = SaleCompleted::example();
        p.sale_id = uuid::Uuid::new_v4().to_string();
        p.item_id = items[n % items.len()].clone();
        p.quantity = Decimal4::from_int((n % 7) as i64 + 1);
        let e = Event::new(EventMetadata::new_for::<SaleCompleted>("pos", "bench"), p);
        let body = weft_contracts::codec::encode(&sale_schema, &e)?;
        backlog.push((e.key(), weft_core::wire::frame(sale_id, &body)));
    }
    out(&format!(
        "weft bench-state: {} sales over {} items, {} partitions, {} round(s), ledger remembering {} event ids per position; restore of {} records; broker {}\n",
        args.events, args.items, args.partitions, args.rounds, args.remembered, args.restore_records, kafka.bootstrap_servers
    ));
    let (mut stateful, mut stateless) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let order = if round % 2 == 1 {
            ["stateless", "stateful"]
        } else {
            ["stateful", "stateless"]
        };
        for variant in order {
            let prefix = format!("weft-bench-state-{id}-{round}-{variant}.");
            let r = pipeline(
                args,
                kafka,
                registry_url,
                &specs,
                &prefix,
                variant,
                &backlog,
            )?;
            out(&format!(
                "round {round} {variant:<9} {:>8.0} msg/s  {:>6.2} CPU s/100k  exactly once\n",
                r.throughput, r.cpu_per_100k
            ));
            if variant == "stateful" {
                stateful.push(r);
            } else {
                stateless.push(r);
            }
        }
    }
    let (restore, raw) = restore_rates(args, kafka, &schemas, &id)?;
    let med = |runs: &[Run], f: fn(&Run) -> f64| spread(&runs.iter().map(f).collect::<Vec<_>>()).0;
    let (sf_t, sl_t) = (
        med(&stateful, |r| r.throughput),
        med(&stateless, |r| r.throughput),
    );
    let (sf_c, sl_c) = (
        med(&stateful, |r| r.cpu_per_100k),
        med(&stateless, |r| r.cpu_per_100k),
    );
    let restore_m = spread(&restore).0;
    let raw_m = spread(&raw).0;
    out(&format!(
        "\nmedians over {} rounds:\n  stateless 1:1  {sl_t:>9.0} msg/s  {sl_c:>6.2} CPU s/100k\n  stateful 1:1   {sf_t:>9.0} msg/s  {sf_c:>6.2} CPU s/100k  (throughput x{:.2}, CPU x{:.2} of stateless)\n  restore        {restore_m:>9.0} records/s  (x{:.2} of a plain read_committed read, {raw_m:.0} records/s)\n",
        args.rounds,
        sf_t / sl_t.max(1.0),
        sf_c / sl_c.max(f64::MIN_POSITIVE),
        restore_m / raw_m.max(1.0),
    ));
    Ok(())
}

/// One system drains the backlog on fresh topics under `prefix`.
#[allow(clippy::too_many_arguments)]
fn pipeline(
    args: &StateBenchArgs,
    kafka: &KafkaConfig,
    registry_url: &str,
    specs: &SpecSet,
    prefix: &str,
    variant: &str,
    backlog: &[(String, Vec<u8>)],
) -> anyhow::Result<Run> {
    let group = specs.group(if variant == "stateful" {
        ledger::NAME
    } else {
        TWIN
    });
    // The ledger also reads receipts (none are sent).
    let topics: Vec<String> = [
        SaleCompleted::TOPIC,
        ReceiptCompleted::TOPIC,
        InventoryUpdated::TOPIC,
    ]
    .iter()
    .map(|t| t.to_string())
    .chain(group.retry_topics())
    .chain(group.changelog_topics())
    .chain([group.dead_letter_topic()])
    .map(|t| format!("{prefix}{t}"))
    .collect();
    create_topics(kafka, &topics, args.partitions)?;
    let input = format!("{prefix}{}", SaleCompleted::TOPIC);
    let output = format!("{prefix}{}", InventoryUpdated::TOPIC);
    produce(kafka, &input, backlog)?;
    let reader = Reader::start(kafka, &output, args.partitions)?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "bench-state-worker",
            "--variant",
            variant,
            "--prefix",
            prefix,
            "--registry-url",
            registry_url,
        ])
        .arg("--remembered")
        .arg(args.remembered.to_string())
        .arg("--avro-dir")
        .arg(&args.avro_dir)
        .arg("--topics-dir")
        .arg(&args.topics_dir)
        .env("WEFT_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting the bench worker")?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(600);
    let wait = |n: usize| -> anyhow::Result<()> {
        while reader.total() < n {
            if Instant::now() > deadline {
                bail!(
                    "{variant}: {} of {} outputs after 600 s",
                    reader.total(),
                    backlog.len()
                );
            }
            std::thread::sleep(Duration::from_millis(5)); // polling a counter, no condition to await
        }
        Ok(())
    };
    wait(1)?;
    let (first, cpu_first, done_first) = (Instant::now(), cpu_seconds(pid), reader.total());
    wait(backlog.len())?;
    let (took, cpu) = (first.elapsed(), cpu_seconds(pid) - cpu_first);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    child.wait()?;
    let seen = reader.finish()?;
    if seen.total != backlog.len() {
        bail!(
            "{variant}: {} outputs for {} sales",
            seen.total,
            backlog.len()
        );
    }
    let made = (backlog.len() - done_first).max(1) as f64;
    Ok(Run {
        throughput: made / took.as_secs_f64(),
        cpu_per_100k: cpu / made * 100_000.0,
    })
}

/// Restore rate and a plain read of the same changelog, per round: (restore, plain) records/s.
fn restore_rates(
    args: &StateBenchArgs,
    kafka: &KafkaConfig,
    schemas: &RegistrySchemas,
    id: &str,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let topic = format!(
        "weft-bench-state-{id}.{}",
        weft_core::naming::changelog_topic(ledger::NAME, ledger::POSITIONS)
    );
    create_topics(kafka, std::slice::from_ref(&topic), args.partitions)?;
    let schema = Position::get_schema();
    let schema_id = schemas.register_value_schema(&topic, &schema)?;
    let mut records = Vec::with_capacity(args.restore_records);
    for n in 0..args.restore_records {
        let p = Position {
            on_hand_units: n as i64,
            transactions: 1,
            recent_events: vec![],
        };
        let body = weft_contracts::codec::encode(&schema, &p)?;
        records.push((
            format!("item-{n:08}/loc"),
            weft_core::wire::frame(schema_id, &body),
        ));
    }
    let started = Instant::now();
    produce(kafka, &topic, &records)?;
    out(&format!(
        "changelog of {} records written in {:.1?}\n",
        records.len(),
        started.elapsed()
    ));
    let partitions: BTreeSet<i32> = (0..args.partitions).collect();
    let (mut restore, mut plain) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        for which in if round % 2 == 1 { [0, 1] } else { [1, 0] } {
            let started = Instant::now();
            let read = if which == 0 {
                let state = weft_runtime::state::read_changelog(
                    kafka,
                    "weft-bench-state-restore",
                    &topic,
                    &partitions,
                )
                .map_err(|e| anyhow::anyhow!(e))?;
                state.values().map(|m| m.len()).sum::<usize>()
            } else {
                plain_read(kafka, &topic, args.partitions)?
            };
            let rate = read as f64 / started.elapsed().as_secs_f64();
            if read != records.len() {
                bail!("read {read} keys/records of {}", records.len());
            }
            let what = if which == 0 { "restore" } else { "plain read" };
            out(&format!("round {round} {what:<10} {rate:>9.0} records/s\n"));
            if which == 0 {
                restore.push(rate);
            } else {
                plain.push(rate);
            }
        }
    }
    Ok((restore, plain))
}

/// Reads every partition of `topic` to its end (read_committed); returns the records read.
fn plain_read(kafka: &KafkaConfig, topic: &str, partitions: i32) -> anyhow::Result<usize> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "weft-bench-state-plain")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let (mut at_end, mut read) = (BTreeSet::new(), 0);
    while at_end.len() < partitions as usize {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => bail!("reading {topic}: {e}"),
            Some(Ok(_)) => read += 1,
            None => {}
        }
    }
    Ok(read)
}
