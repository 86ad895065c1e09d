//! `weft bench`: weft's exactly-once Avro pipeline against a raw at-least-once pipe, on the same
//! broker, in one run, with the same events and partitions.
//!
//! - **raw**: an rdkafka consumer and producer copying bytes (no Avro), committing offsets after
//!   each batch is acknowledged (at-least-once; commits are asynchronous, the fastest safe form);
//! - **weft**: the B2B order-confirmation processor under `weft_runtime::run_processors` —
//!   read_committed, Avro decode through the registry, typed processing, Avro encode, one Kafka
//!   transaction per batch with the offsets (exactly-once).
//!
//! Each pipeline first drains a backlog of `--events` records (throughput: outputs per second,
//! from the timestamps of its first and last output, so group joins do not count), then
//! `--latency-events` records paced at `--latency-rate` per second (latency: output timestamp
//! minus input timestamp, p50 and p99). The figure that matters is the ratio; absolute rates
//! depend on the broker and the machine. The process's resident memory is
//! read from /proc after each pipeline (raw runs first, so weft's peak includes raw's).
//!
//! Topics are private to the run (`weft-bench-<id>.…`) and left behind for inspection.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use weft_contracts::b2b::email::EmailNotificationRequested;
use weft_contracts::b2b::order::OrderPlaced;
use weft_contracts::{Catalog, Contract, Event, EventMetadata, Example};
use weft_core::kafka::KafkaConfig;
use weft_core::spec::GroupSpec;
use weft_runtime::schemas::{RegistrySchemas, SchemaSource};
use weft_runtime::{BreakerSettings, Processor, RunSettings};

use crate::offsets::{end_offsets, wait_settled};
use crate::{out, Outcome};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Backlog each pipeline drains (throughput).
    #[arg(long, env = "WEFT_BENCH_EVENTS", default_value_t = 20_000)]
    events: usize,
    /// Events sent at a steady rate after the backlog (latency).
    #[arg(long, env = "WEFT_BENCH_LATENCY_EVENTS", default_value_t = 1_000)]
    latency_events: usize,
    /// Rate of the latency phase, events per second.
    #[arg(long, env = "WEFT_BENCH_LATENCY_RATE", default_value_t = 500)]
    latency_rate: u32,
    /// Partitions of every bench topic.
    #[arg(long, env = "WEFT_BENCH_PARTITIONS", default_value_t = 6)]
    partitions: i32,
    /// Use this schema registry instead of starting one.
    #[arg(long, env = "WEFT_REGISTRY_URL")]
    registry_url: Option<String>,
    /// Directory of Avro schemas.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    avro_dir: std::path::PathBuf,
}

/// What one pipeline did.
struct Measured {
    rate: f64,
    p50: i64,
    p99: i64,
    rss_kb: u64,
}

pub async fn run(args: BenchArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    if args.events < 2 || args.latency_events == 0 || args.latency_rate == 0 {
        bail!("--events must be at least 2, --latency-events and --latency-rate above 0");
    }
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let prefix = format!("weft-bench-{id}.");
    let raw_in = format!("{prefix}raw.in");
    let raw_out = format!("{prefix}raw.out");
    let weft_in = format!("{prefix}{}", OrderPlaced::TOPIC);
    let weft_out = format!("{prefix}{}", EmailNotificationRequested::TOPIC);
    let group: &'static str = Box::leak(format!("weft-bench-{id}.pipeline").into_boxed_str());
    let spec = GroupSpec::default_for(group);
    let mut topics = vec![
        raw_in.clone(),
        raw_out.clone(),
        weft_in.clone(),
        weft_out.clone(),
    ];
    topics.extend(spec.retry_topics());
    topics.push(spec.dead_letter_topic());
    create_topics(kafka, &topics, args.partitions).await?;

    let registry_url = match &args.registry_url {
        Some(u) => u.clone(),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(async move {
                let app = weft_registry::app(weft_registry::AppState::default());
                let _ = axum::serve(listener, app).await;
            });
            format!("http://{addr}")
        }
    };
    let catalog = Catalog::load(&args.avro_dir)
        .with_context(|| format!("loading {}", args.avro_dir.display()))?;
    let schema = catalog.self_contained(OrderPlaced::SCHEMA)?;
    let schema_id = {
        let url = registry_url.clone();
        let topic = weft_in.clone();
        let schema = schema.clone();
        tokio::task::spawn_blocking(move || {
            RegistrySchemas::new(&url, true)?.value_schema_id(&topic, &schema)
        })
        .await??
    };
    let encode = |n: usize| -> anyhow::Result<(String, Vec<u8>)> {
        let mut p = OrderPlaced::example();
        p.order_id = uuid::Uuid::new_v4().to_string();
        p.order_number = format!("ORD-BENCH-{n:07}");
        let e = Event::new(
            EventMetadata::new_for::<OrderPlaced>("weft-bench", "bench"),
            p,
        );
        let body = weft_contracts::codec::encode(&schema, &e)?;
        Ok((e.key(), weft_core::wire::frame(schema_id, &body)))
    };
    let backlog: Vec<(String, Vec<u8>)> = (0..args.events).map(encode).collect::<Result<_, _>>()?;
    let paced: Vec<(String, Vec<u8>)> = (0..args.latency_events)
        .map(|n| encode(args.events + n))
        .collect::<Result<_, _>>()?;
    out(&format!(
        "weft bench: {} backlog + {} paced events at {}/s, {} partitions, on {}\n",
        args.events,
        args.latency_events,
        args.latency_rate,
        args.partitions,
        kafka.bootstrap_servers
    ));

    // Raw pipe.
    let raw = {
        let kafka = kafka.clone();
        let backlog = backlog.clone();
        let paced = paced.clone();
        let (raw_in, raw_out) = (raw_in.clone(), raw_out.clone());
        let rate = args.latency_rate;
        let raw_group = format!("{prefix}raw");
        tokio::task::spawn_blocking(move || -> anyhow::Result<Measured> {
            produce(&kafka, &raw_in, &backlog)?;
            let stop = Arc::new(AtomicBool::new(false));
            let pipe = {
                let (kafka, stop) = (kafka.clone(), stop.clone());
                let (raw_in, raw_out, group) = (raw_in.clone(), raw_out.clone(), raw_group.clone());
                std::thread::spawn(move || raw_pipe(&kafka, &group, &raw_in, &raw_out, &stop))
            };
            let groups = vec![(raw_group, vec![raw_in.clone()])];
            wait_settled(&kafka, &groups, Duration::from_secs(600), &stop)?;
            produce_paced(&kafka, &raw_in, &paced, rate)?;
            wait_settled(&kafka, &groups, Duration::from_secs(600), &stop)?;
            stop.store(true, Ordering::SeqCst);
            pipe.join()
                .map_err(|_| anyhow::anyhow!("the raw pipe panicked"))??;
            measure(&kafka, &raw_in, &raw_out, backlog.len(), &paced)
        })
        .await??
    };
    out(&format!(
        "raw  at-least-once bytes:  {:>9.0} msg/s  latency p50 {:>5} ms  p99 {:>5} ms  RSS {:>7} kB\n",
        raw.rate, raw.p50, raw.p99, raw.rss_kb
    ));

    // weft.
    {
        let kafka = kafka.clone();
        let (weft_in, backlog) = (weft_in.clone(), backlog.clone());
        tokio::task::spawn_blocking(move || produce(&kafka, &weft_in, &backlog)).await??;
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    // No group spec: the bench group gets the default retry tiers created above.
    let no_specs = tempfile::tempdir()?;
    let settings = RunSettings {
        instance_id: "bench".into(),
        registry_url: registry_url.clone(),
        auto_register: true,
        avro_dir: args.avro_dir.clone(),
        topics_dir: no_specs.path().to_path_buf(),
        max_batch: 500,
        commit_interval: Duration::from_millis(100),
        breaker: BreakerSettings::default(),
        max_consecutive_aborts: 5,
        metrics_listen: None,
        shutdown: shutdown.clone(),
        metrics: None,
        sink_dir: no_specs.path().join("sinks"),
        topic_prefix: prefix.clone(),
    };
    let processor = Processor::new(group)
        .on::<OrderPlaced>(weft_processors::b2b::notifications::order_confirmation)
        .emits::<EmailNotificationRequested>();
    let run_kafka = kafka.clone();
    let running = tokio::spawn(async move {
        weft_runtime::run_processors(&run_kafka, vec![processor], &settings).await
    });
    let weft = {
        let kafka = kafka.clone();
        let (weft_in, weft_out) = (weft_in.clone(), weft_out.clone());
        let rate = args.latency_rate;
        let stop = shutdown.clone();
        let n = backlog.len();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Measured> {
            let groups = vec![(group.to_string(), vec![weft_in.clone()])];
            wait_settled(&kafka, &groups, Duration::from_secs(600), &stop)?;
            produce_paced(&kafka, &weft_in, &paced, rate)?;
            wait_settled(&kafka, &groups, Duration::from_secs(600), &stop)?;
            measure(&kafka, &weft_in, &weft_out, n, &paced)
        })
        .await?
    };
    shutdown.store(true, Ordering::SeqCst);
    let stopped = running.await?;
    let weft = weft?;
    stopped?;
    out(&format!(
        "weft exactly-once Avro:    {:>9.0} msg/s  latency p50 {:>5} ms  p99 {:>5} ms  RSS {:>7} kB\n",
        weft.rate, weft.p50, weft.p99, weft.rss_kb
    ));
    out(&format!(
        "ratio weft/raw throughput: {:.2}   peak RSS of the process: {} kB   machine: {}\n",
        weft.rate / raw.rate,
        proc_status("VmHWM:"),
        machine()
    ));
    Ok(Outcome::Ok)
}

async fn create_topics(
    kafka: &KafkaConfig,
    topics: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    for r in admin.create_topics(&new, &AdminOptions::new()).await? {
        if let Err((topic, e)) = r {
            bail!("creating {topic}: {e}");
        }
    }
    Ok(())
}

fn producer(kafka: &KafkaConfig) -> anyhow::Result<BaseProducer> {
    Ok(kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?)
}

fn send(
    p: &BaseProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    ts: Option<i64>,
) -> anyhow::Result<()> {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
    if let Some(ts) = ts {
        record = record.timestamp(ts);
    }
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                p.poll(Duration::from_millis(10));
            }
            Err((e, _)) => bail!("producing to {topic}: {e}"),
        }
    }
}

fn produce(kafka: &KafkaConfig, topic: &str, records: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let p = producer(kafka)?;
    for (k, v) in records {
        send(&p, topic, k, v, None)?;
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120))?;
    Ok(())
}

/// Sends `records` at `rate` per second, each stamped with its send time.
fn produce_paced(
    kafka: &KafkaConfig,
    topic: &str,
    records: &[(String, Vec<u8>)],
    rate: u32,
) -> anyhow::Result<()> {
    let p = producer(kafka)?;
    let start = Instant::now();
    for (i, (k, v)) in records.iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now); // pacing the load generator, not awaiting a condition
        }
        send(&p, topic, k, v, Some(chrono::Utc::now().timestamp_millis()))?;
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120))?;
    Ok(())
}

/// The baseline: copy bytes, commit after the batch is acknowledged.
fn raw_pipe(
    kafka: &KafkaConfig,
    group: &str,
    input: &str,
    output: &str,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[input])?;
    let p = producer(kafka)?;
    while !stop.load(Ordering::SeqCst) {
        let mut offsets = TopicPartitionList::new();
        let mut n = 0;
        while n < 500 {
            let Some(m) = consumer.poll(Duration::from_millis(if n == 0 { 100 } else { 0 })) else {
                break;
            };
            let m = m?;
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            send(&p, output, &key, m.payload().unwrap_or_default(), None)?;
            offsets.add_partition_offset(
                m.topic(),
                m.partition(),
                Offset::Offset(m.offset() + 1),
            )?;
            n += 1;
        }
        if n > 0 {
            p.flush(Duration::from_secs(60))?;
            consumer.commit(&offsets, CommitMode::Async)?;
        }
    }
    Ok(())
}

/// Throughput over the backlog's outputs and latency over the paced ones.
fn measure(
    kafka: &KafkaConfig,
    input: &str,
    output: &str,
    backlog: usize,
    paced: &[(String, Vec<u8>)],
) -> anyhow::Result<Measured> {
    let rss_kb = proc_status("VmRSS:");
    let inputs = read_all(kafka, input)?;
    let outputs = read_all(kafka, output)?;
    if outputs.len() < backlog + paced.len() {
        bail!(
            "{output} has {} records, expected {}",
            outputs.len(),
            backlog + paced.len()
        );
    }
    let sent: BTreeMap<&str, i64> = inputs.iter().map(|(k, ts)| (k.as_str(), *ts)).collect();
    let paced_keys: std::collections::BTreeSet<&str> =
        paced.iter().map(|(k, _)| k.as_str()).collect();
    let mut backlog_ts: Vec<i64> = outputs
        .iter()
        .filter(|(k, _)| !paced_keys.contains(k.as_str()))
        .map(|(_, ts)| *ts)
        .collect();
    backlog_ts.sort_unstable();
    let span_ms =
        (backlog_ts.last().copied().unwrap_or(0) - backlog_ts.first().copied().unwrap_or(0)).max(1);
    let rate = (backlog_ts.len().saturating_sub(1)) as f64 * 1000.0 / span_ms as f64;
    let mut latencies: Vec<i64> = outputs
        .iter()
        .filter(|(k, _)| paced_keys.contains(k.as_str()))
        .filter_map(|(k, ts)| sent.get(k.as_str()).map(|s| ts - s))
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((p / 100.0) * (latencies.len().max(1) - 1) as f64).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    Ok(Measured {
        rate,
        p50: pct(50.0),
        p99: pct(99.0),
        rss_kb,
    })
}

/// (key, timestamp) of every committed record of `topic`.
fn read_all(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let ends = end_offsets(kafka, &[topic.to_string()])?;
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "weft-bench-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for (t, p) in ends.keys() {
        tpl.add_partition_offset(t, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut remaining: BTreeMap<i32, i64> = ends
        .iter()
        .filter(|(_, end)| **end > 0)
        .map(|((_, p), end)| (*p, *end))
        .collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            bail!("could not read {topic} to its end");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(m) => {
                let m = m?;
                out.push((
                    String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    m.timestamp().to_millis().unwrap_or(0),
                ));
            }
            None => {
                for e in consumer.position()?.elements() {
                    if let (Offset::Offset(pos), Some(end)) =
                        (e.offset(), remaining.get(&e.partition()))
                    {
                        if pos >= *end {
                            remaining.remove(&e.partition());
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A kB figure from /proc/self/status (0 where there is no /proc).
fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}
