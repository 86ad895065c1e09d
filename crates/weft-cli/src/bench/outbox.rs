//! `weft bench-outbox`: the outbox relay against PostgreSQL and the broker on this machine.
//!
//! 1. **Drain.** `--rows` `order.created` rows (one order each) are inserted, then one
//!    `weft outbox relay` process publishes the backlog (`--batch-size`; also the seed's 50 when
//!    `--seed-batch` is on). Throughput is rows per second at a read_committed reader from the
//!    relay's first record to its last; CPU seconds per 100,000 rows are the relay's user +
//!    system time. The baseline, measured in the same run on a backlog of its own: a
//!    `weft bench-outbox-baseline` process that reads the same rows in one query and produces
//!    their JSON with an idempotent producer, at least once, marking nothing (the floor of any
//!    relay: it neither encodes Avro nor records what it published).
//! 2. **Latency.** With the relay polling every `--interval`, rows are inserted one per
//!    transaction at `--rate` per second; the latency of a row is from its insert's commit to its
//!    record at the reader (p50, p99).
//!
//! Every run's records are counted by key (one order per row): a lost or duplicated row fails the
//! bench.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::producer::Producer;
use serde_json::Value as Json;
use weft_core::kafka::KafkaConfig;

use super::measure::{percentile, Reader};
use super::peers::{cpu_seconds, peak_rss_kb};
use super::{create_topics, producer, send};
use crate::{out, Outcome};

const TOPIC: &str = "cypher.order.created.v1";
const PARTITIONS: i32 = 6;

#[derive(Debug, Args)]
pub struct OutboxBenchArgs {
    /// PostgreSQL (else DATABASE_URL); the bench works in a schema of its own.
    #[arg(long, env = "WEFT_DATABASE_URL")]
    database_url: Option<String>,
    /// Rows in the backlog to drain.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// The relay's batch size in the drain.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Also drain with the seed's batch size (50).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    seed_batch: bool,
    /// Rows inserted one by one for the latency.
    #[arg(long, default_value_t = 3_000)]
    latency_rows: usize,
    /// Their rate, rows per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// The relay's poll interval in the latency run.
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Schema registry (else one is started in this process).
    #[arg(long)]
    registry_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    topic: String,
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    Ok(weft_outbox::db::connect(url).await?)
}

/// Inserts `n` rows of fresh orders in chunks; returns their order ids.
async fn insert_backlog(
    c: &tokio_postgres::Client,
    example: &Json,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(2_000) {
        let mut payloads = Vec::with_capacity(chunk.len());
        for _ in chunk {
            let order = uuid::Uuid::new_v4().to_string();
            let mut p = example.clone();
            p["order_id"] = order.clone().into();
            payloads.push(p);
            ids.push(order);
        }
        c.execute(
            "INSERT INTO outbox (event_type, event_version, payload) \
             SELECT 'order.created', 'v1', p FROM unnest($1::jsonb[]) AS p",
            &[&payloads],
        )
        .await?;
    }
    Ok(ids)
}

struct Setup {
    url: String,
    prefix: String,
    registry: String,
    bootstrap: String,
}

impl Setup {
    fn relay(&self, batch: usize, interval: Duration) -> anyhow::Result<Child> {
        Ok(Command::new(std::env::current_exe()?)
            .args(["outbox", "relay", "--system", "cypher", "--auto-register"])
            .args(["--instance-id", "bench"])
            .args(["--batch-size", &batch.to_string()])
            .args([
                "--interval",
                &humantime::format_duration(interval).to_string(),
            ])
            .args(["--topic-prefix", &self.prefix])
            .args(["--registry-url", &self.registry])
            .args(["--metrics-listen", "off"])
            .env("WEFT_DATABASE_URL", &self.url)
            .env("WEFT_BOOTSTRAP_SERVERS", &self.bootstrap)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?)
    }
}

/// Waits until the reader has seen `want` distinct keys (or fails after `limit`); returns the
/// time of the first and the last.
fn await_all(
    reader: &Reader,
    keys: &[String],
    limit: Duration,
) -> anyhow::Result<(Instant, Instant)> {
    let end = Instant::now() + limit;
    // All of `keys` seen needs at least as many distinct keys seen: the cheap count first, so
    // the wait does not look up 100,000 keys under the reader's lock every 20 ms.
    while reader.distinct() < keys.len() || reader.count_of(keys.iter()) < keys.len() {
        if Instant::now() > end {
            bail!(
                "only {} of {} rows arrived within {limit:?}",
                reader.count_of(keys.iter()),
                keys.len()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = reader.seen.lock().expect("the reader's lock");
    let times: Vec<Instant> = keys.iter().map(|k| seen.by_key[k].0).collect();
    Ok((
        *times.iter().min().expect("rows"),
        *times.iter().max().expect("rows"),
    ))
}

/// Every key exactly once, nothing else.
fn exactly_once(reader: Reader, keys: &[String]) -> anyhow::Result<()> {
    let total = reader.total();
    let seen = reader.finish()?;
    let dups = seen.by_key.values().filter(|(_, n)| *n > 1).count();
    if total != keys.len() || dups > 0 {
        bail!(
            "{total} records for {} rows ({dups} keys more than once)",
            keys.len()
        );
    }
    Ok(())
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

pub async fn run(args: OutboxBenchArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let base = args
        .database_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .context("no database: pass --database-url or set WEFT_DATABASE_URL")?;
    if args.rows == 0 || args.latency_rows == 0 || args.rate == 0 || args.batch_size == 0 {
        bail!("--rows, --latency-rows, --rate and --batch-size must be above 0");
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let registry = match &args.registry_url {
        Some(u) => u.clone(),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    weft_registry::app(weft_registry::AppState::default()),
                )
                .await;
            });
            format!("http://{addr}")
        }
    };
    let example: Json = serde_json::from_str(
        weft_contracts::registry::all()
            .into_iter()
            .find(|c| c.topic == TOPIC)
            .context("the order.created contract")?
            .example_file,
    )?;
    let mut runs = vec![("relay", args.batch_size)];
    if args.seed_batch && args.batch_size != 50 {
        runs.push(("relay", 50));
    }
    runs.push(("baseline", 0));
    out(&format!(
        "outbox bench: {} rows per drain, {} partitions, PostgreSQL {base}, broker {}\n",
        args.rows, PARTITIONS, kafka.bootstrap_servers
    ));
    let mut relay_rate = None;
    for (n, (what, batch)) in runs.iter().enumerate() {
        // Each drain on a schema and a topic of its own.
        let schema = format!("bench_outbox_{id}_{n}");
        connect(&base)
            .await?
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await?;
        let url = weft_testkit_free::in_schema(&base, &schema);
        let c = connect(&url).await?;
        weft_outbox::db::migrate(&c).await?;
        let prefix = format!("bench-{id}-{n}.");
        let topic = format!("{prefix}{TOPIC}");
        {
            let (kafka, topic) = (kafka.clone(), topic.clone());
            tokio::task::spawn_blocking(move || create_topics(&kafka, &[topic], PARTITIONS))
                .await??;
        }
        let keys = insert_backlog(&c, &example, args.rows).await?;
        let setup = Setup {
            url: url.clone(),
            prefix,
            registry: registry.clone(),
            bootstrap: kafka.bootstrap_servers.clone(),
        };
        let reader = {
            let (kafka, topic) = (kafka.clone(), topic.clone());
            tokio::task::spawn_blocking(move || Reader::start(&kafka, &topic, PARTITIONS)).await??
        };
        let child = if *what == "relay" {
            setup.relay(*batch, Duration::from_millis(50))?
        } else {
            Command::new(std::env::current_exe()?)
                .args([
                    "bench-outbox-baseline",
                    "--database-url",
                    &url,
                    "--topic",
                    &topic,
                ])
                .env("WEFT_BOOTSTRAP_SERVERS", &kafka.bootstrap_servers)
                .stderr(Stdio::inherit())
                .spawn()?
        };
        let pid = child.id();
        let reader_keys = keys.clone();
        let (reader, first, last) = tokio::task::spawn_blocking(move || {
            await_all(&reader, &reader_keys, Duration::from_secs(900)).map(|(f, l)| (reader, f, l))
        })
        .await??;
        let cpu = cpu_seconds(pid);
        let rss = peak_rss_kb(pid);
        stop(child);
        tokio::task::spawn_blocking({
            let keys = keys.clone();
            move || exactly_once(reader, &keys)
        })
        .await??;
        let secs = (last - first).as_secs_f64().max(1e-3);
        let rate = args.rows as f64 / secs;
        let per_100k = cpu * 100_000.0 / args.rows as f64;
        let name = if *what == "relay" {
            format!("relay, batch {batch}")
        } else {
            "baseline (read, produce JSON, at least once)".to_string()
        };
        if *what == "relay" && relay_rate.is_none() {
            relay_rate = Some((rate, per_100k));
        }
        let ratio = match (what, relay_rate) {
            (&"baseline", Some((r, c))) => format!(
                "; the relay (batch {}) does x{:.2} of its rate at x{:.2} its CPU per row",
                args.batch_size,
                r / rate,
                c / per_100k.max(1e-9)
            ),
            _ => String::new(),
        };
        out(&format!(
            "drain {name}: {rate:.0} rows/s, {per_100k:.2} CPU s/100k rows, peak RSS {} MB, \
             exactly once{ratio}\n",
            rss / 1024
        ));
    }

    // Latency at a steady rate.
    let schema = format!("bench_outbox_{id}_latency");
    connect(&base)
        .await?
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let url = weft_testkit_free::in_schema(&base, &schema);
    let c = connect(&url).await?;
    weft_outbox::db::migrate(&c).await?;
    let prefix = format!("bench-{id}-latency.");
    let topic = format!("{prefix}{TOPIC}");
    {
        let (kafka, topic) = (kafka.clone(), topic.clone());
        tokio::task::spawn_blocking(move || create_topics(&kafka, &[topic], PARTITIONS)).await??;
    }
    let setup = Setup {
        url: url.clone(),
        prefix,
        registry: registry.clone(),
        bootstrap: kafka.bootstrap_servers.clone(),
    };
    let reader = {
        let (kafka, topic) = (kafka.clone(), topic.clone());
        Arc::new(
            tokio::task::spawn_blocking(move || Reader::start(&kafka, &topic, PARTITIONS))
                .await??,
        )
    };
    let child = setup.relay(50, args.interval)?;
    // A first row, so the relay's start is not in the figures.
    let warm = insert_backlog(&c, &example, 1).await?;
    {
        let (reader, warm) = (reader.clone(), warm.clone());
        tokio::task::spawn_blocking(move || await_all(&reader, &warm, Duration::from_secs(120)))
            .await??;
    }
    let started = Instant::now();
    let mut committed = Vec::with_capacity(args.latency_rows);
    for i in 0..args.latency_rows {
        let due = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(w).await;
        }
        let order = uuid::Uuid::new_v4().to_string();
        let mut p = example.clone();
        p["order_id"] = order.clone().into();
        c.execute(
            "INSERT INTO outbox (event_type, event_version, payload) VALUES ('order.created', 'v1', $1)",
            &[&p],
        )
        .await?;
        committed.push((order, Instant::now()));
    }
    let keys: Vec<String> = committed.iter().map(|(k, _)| k.clone()).collect();
    {
        let (reader, keys) = (reader.clone(), keys.clone());
        tokio::task::spawn_blocking(move || await_all(&reader, &keys, Duration::from_secs(300)))
            .await??;
    }
    stop(child);
    let mut latencies: Vec<f64> = {
        let seen = reader.seen.lock().expect("the reader's lock");
        committed
            .iter()
            .map(|(k, at)| {
                seen.by_key[k]
                    .0
                    .saturating_duration_since(*at)
                    .as_secs_f64()
                    * 1000.0
            })
            .collect()
    };
    latencies.sort_by(f64::total_cmp);
    let reader = Arc::try_unwrap(reader).map_err(|_| anyhow::anyhow!("the reader is shared"))?;
    let mut all = warm;
    all.extend(keys);
    tokio::task::spawn_blocking(move || exactly_once(reader, &all)).await??;
    out(&format!(
        "latency at {} rows/s (relay polling every {:?}, batch 50): insert commit to \
         read_committed reader p50 {:.0} ms, p99 {:.0} ms over {} rows, exactly once\n",
        args.rate,
        args.interval,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.len()
    ));
    Ok(Outcome::Ok)
}

/// The baseline: read every row in one query and produce its JSON, at least once.
pub async fn baseline(args: BaselineArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let c = connect(&args.database_url).await?;
    let rows = c
        .query("SELECT payload FROM outbox ORDER BY seq", &[])
        .await?;
    let kafka = kafka.clone();
    let topic = args.topic.clone();
    let payloads: Vec<Json> = rows.iter().map(|r| r.get(0)).collect();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let p = producer(&kafka)?;
        for payload in &payloads {
            let key = payload["order_id"].as_str().unwrap_or_default().to_string();
            send(&p, &topic, &key, &serde_json::to_vec(payload)?)?;
            p.poll(Duration::ZERO);
        }
        p.flush(Duration::from_secs(120))?;
        Ok(())
    })
    .await??;
    // Waits to be stopped, as the relay does, so both are measured alike.
    tokio::signal::ctrl_c().await.ok();
    Ok(Outcome::Ok)
}

/// A schema-scoped URL (as `weft_testkit::postgres_in_schema`, without depending on it).
mod weft_testkit_free {
    pub fn in_schema(url: &str, schema: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3D{schema}")
    }
}
