//! `weft bench`: weft's exactly-once Avro pipeline against what a team would pick instead, on the
//! same broker, with the same data, in one run.
//!
//! Systems ([`peers`]): a raw at-least-once byte pipe, Kafka Streams with exactly_once_v2 and with
//! at_least_once (the peer in `bench/kstreams`), and weft; `weft-x2` and `weft-x4` run two and
//! four replicas of weft's processor in one consumer group (scaling; CPU and RSS are the sums
//! over the replicas). Each runs as its own process(es). Rounds
//! rotate through them (the starting system moves each round); every run of a system gets fresh
//! topics with `--partitions` partitions, the same pre-encoded backlog of `--events` OrderPlaced
//! records (Confluent-framed Avro, schema ids from the registry), then `--paced-events` at
//! `--rate` per second.
//!
//! Measured at a read_committed reader of the output ([`measure`]):
//! - throughput: backlog outputs per second, from the first output to the last backlog output
//!   becoming visible (start-up and group join excluded);
//! - latency p50/p99 of the paced phase: visible at the reader minus handed to the producer;
//! - CPU seconds per 100,000 records: user + system time of the system's process from its first
//!   visible output to its last backlog output, per output made in that window, from /proc (the
//!   figure a noisy machine distorts least; start-up is left out);
//! - peak RSS (VmHWM) of the process.
//!
//! Every output is counted by key (the order id, unique per event) after the system stops: a
//! system that loses or duplicates an output fails the run. The report gives each figure's median
//! and spread over the rounds and the ratio to weft; `--chart` writes an SVG of the rounds.

mod measure;
pub mod outbox;
mod peers;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
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
use weft_core::spec::SpecSet;
use weft_runtime::schemas::{RegistrySchemas, SchemaSource};

use crate::offsets::end_offsets;
use crate::{out, Outcome};
use measure::{percentile, spread, Reader};
use peers::{Launch, Peer, PROCESSOR};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Systems to compare, comma-separated: raw, kstreams-eos, kstreams-alos, weft.
    #[arg(
        long,
        env = "WEFT_BENCH_PEERS",
        default_value = "raw,kstreams-eos,kstreams-alos,weft"
    )]
    peers: String,
    /// Backlog each system drains (throughput, CPU).
    #[arg(long, env = "WEFT_BENCH_EVENTS", default_value_t = 200_000)]
    events: usize,
    /// Events sent at a steady rate after the backlog (latency).
    #[arg(long, env = "WEFT_BENCH_PACED_EVENTS", default_value_t = 3_000)]
    paced_events: usize,
    /// Rate of the paced phase, events per second.
    #[arg(long, env = "WEFT_BENCH_RATE", default_value_t = 1_000)]
    rate: u32,
    /// Rounds through every system (medians and spreads are over rounds).
    #[arg(long, env = "WEFT_BENCH_ROUNDS", default_value_t = 3)]
    rounds: usize,
    /// Partitions of every bench topic.
    #[arg(long, env = "WEFT_BENCH_PARTITIONS", default_value_t = 6)]
    partitions: i32,
    /// Use this schema registry instead of starting one.
    #[arg(long, env = "WEFT_REGISTRY_URL")]
    registry_url: Option<String>,
    /// Directory of Avro schemas.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    avro_dir: PathBuf,
    /// Directory of topic and group specs (weft's retry tiers and dead-letter topic).
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    topics_dir: PathBuf,
    /// Write an SVG chart of every round's throughput here.
    #[arg(long)]
    chart: Option<PathBuf>,
}

/// `weft bench-pipe`: the raw at-least-once pipe as its own process (started by `weft bench`).
#[derive(Debug, Args)]
pub struct PipeArgs {
    #[arg(long)]
    input: String,
    #[arg(long)]
    output: String,
    #[arg(long)]
    group: String,
}

/// One system's run in one round.
#[derive(Debug, Clone)]
struct RunResult {
    peer: Peer,
    round: usize,
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_per_100k: f64,
    peak_rss_kb: u64,
}

/// What every run shares: the schemas, their ids, the encoded records.
struct Fixture {
    registry_url: String,
    input_schema_id: u32,
    output_schema_id: u32,
    input_schema_file: PathBuf,
    output_schema_file: PathBuf,
    backlog: Vec<(String, Vec<u8>)>,
    paced: Vec<(String, Vec<u8>)>,
    kstreams_classpath: Option<String>,
    logs: PathBuf,
    /// Every topic of `b2b.notification-worker` (inputs, outputs, retry tiers, dead letters),
    /// unprefixed: weft's run creates them in its namespace.
    weft_topics: Vec<String>,
    avro_dir: PathBuf,
    topics_dir: PathBuf,
}

pub async fn run(args: BenchArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let peers = Peer::parse_list(&args.peers)?;
    if args.events < 2 || args.paced_events == 0 || args.rate == 0 || args.rounds == 0 {
        bail!("--events must be at least 2; --paced-events, --rate and --rounds above 0");
    }
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let prefix = format!("weft-bench-{id}.");
    let fixture = prepare(&args, &prefix, &peers).await?;
    out(&format!(
        "weft bench: {} backlog + {} paced events at {}/s, {} partitions, {} round(s) of {}, on {}; logs in {}\n",
        args.events,
        args.paced_events,
        args.rate,
        args.partitions,
        args.rounds,
        peers.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        kafka.bootstrap_servers,
        fixture.logs.display()
    ));
    let fixture = Arc::new(fixture);
    let mut results = Vec::new();
    for round in 1..=args.rounds {
        // Rotate the order so no system always runs first (cold page cache, JIT, ...).
        let mut order = peers.clone();
        order.rotate_left((round - 1) % peers.len());
        for peer in order {
            let (kafka, fixture, prefix) = (kafka.clone(), fixture.clone(), prefix.clone());
            let (partitions, rate) = (args.partitions, args.rate);
            let r = tokio::task::spawn_blocking(move || {
                run_one(&kafka, &fixture, &prefix, peer, round, partitions, rate)
            })
            .await??;
            out(&format!(
                "round {round} {:<14} {:>9.0} msg/s  p50 {:>6.1} ms  p99 {:>6.1} ms  {:>6.2} CPU s/100k  peak RSS {:>7} kB  exactly once\n",
                r.peer.name(),
                r.throughput,
                r.p50_ms,
                r.p99_ms,
                r.cpu_per_100k,
                r.peak_rss_kb
            ));
            results.push(r);
        }
    }
    report(&peers, &results);
    if let Some(path) = &args.chart {
        std::fs::write(path, chart(&peers, &results, args.rounds))
            .with_context(|| format!("writing {}", path.display()))?;
        out(&format!("chart: {}\n", path.display()));
    }
    Ok(Outcome::Ok)
}

/// Registry, schema ids and files, encoded records, the Kafka Streams build.
async fn prepare(args: &BenchArgs, prefix: &str, peers: &[Peer]) -> anyhow::Result<Fixture> {
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
    let input_schema = catalog.self_contained(OrderPlaced::SCHEMA)?;
    let output_schema = catalog.self_contained(EmailNotificationRequested::SCHEMA)?;
    let (input_schema_id, output_schema_id) = {
        let url = registry_url.clone();
        let (i, o) = (input_schema.clone(), output_schema.clone());
        let (ti, to) = (
            format!("{prefix}{}", OrderPlaced::TOPIC),
            format!("{prefix}{}", EmailNotificationRequested::TOPIC),
        );
        tokio::task::spawn_blocking(move || -> anyhow::Result<(u32, u32)> {
            let schemas = RegistrySchemas::new(&url, true)?;
            Ok((
                schemas.value_schema_id(&ti, &i)?,
                schemas.value_schema_id(&to, &o)?,
            ))
        })
        .await??
    };
    let logs = std::env::temp_dir().join(format!("{}logs", prefix.trim_end_matches('.')));
    std::fs::create_dir_all(&logs)?;
    let input_schema_file = logs.join("input.avsc");
    let output_schema_file = logs.join("output.avsc");
    std::fs::write(&input_schema_file, serde_json::to_string(&input_schema)?)?;
    std::fs::write(&output_schema_file, serde_json::to_string(&output_schema)?)?;
    let encode = |n: usize| -> anyhow::Result<(String, Vec<u8>)> {
        let mut p = OrderPlaced::example();
        p.order_id = uuid::Uuid::new_v4().to_string();
        p.order_number = format!("ORD-BENCH-{n:07}");
        let e = Event::new(
            EventMetadata::new_for::<OrderPlaced>("weft-bench", "bench"),
            p,
        );
        let body = weft_contracts::codec::encode(&input_schema, &e)?;
        Ok((e.key(), weft_core::wire::frame(input_schema_id, &body)))
    };
    let backlog = (0..args.events).map(encode).collect::<Result<_, _>>()?;
    let paced = (0..args.paced_events)
        .map(|n| encode(args.events + n))
        .collect::<Result<_, _>>()?;
    let kstreams_classpath = if peers.iter().any(|p| p.is_kstreams()) {
        let repo = std::env::current_dir()?;
        Some(tokio::task::spawn_blocking(move || peers::build_kstreams(&repo)).await??)
    } else {
        None
    };
    let processor = weft_processors::all(&weft_processors::ProcessorConfig::default())
        .into_iter()
        .find(|p| p.name() == PROCESSOR)
        .context("the bench processor is not registered")?;
    let group = SpecSet::load(&args.topics_dir)
        .with_context(|| format!("loading {}", args.topics_dir.display()))?
        .group(PROCESSOR);
    let mut weft_topics: Vec<String> = processor.inputs().iter().map(|t| t.to_string()).collect();
    weft_topics.extend(processor.outputs().map(|(t, _)| t.to_string()));
    weft_topics.extend(group.retry_topics());
    weft_topics.push(group.dead_letter_topic());
    weft_topics.extend(group.parking_topic());
    Ok(Fixture {
        registry_url,
        input_schema_id,
        output_schema_id,
        input_schema_file,
        output_schema_file,
        backlog,
        paced,
        kstreams_classpath,
        logs,
        weft_topics,
        avro_dir: args.avro_dir.clone(),
        topics_dir: args.topics_dir.clone(),
    })
}

/// One system, one round: fresh topics, backlog, start, drain, paced phase, stop, count.
fn run_one(
    kafka: &KafkaConfig,
    fx: &Fixture,
    prefix: &str,
    peer: Peer,
    round: usize,
    partitions: i32,
    rate: u32,
) -> anyhow::Result<RunResult> {
    let pp = format!("{prefix}{}-r{round}.", peer.name());
    let input = format!("{pp}{}", OrderPlaced::TOPIC);
    let output = format!("{pp}{}", EmailNotificationRequested::TOPIC);
    let mut topics = vec![input.clone(), output.clone()];
    if peer.is_weft() {
        topics.extend(fx.weft_topics.iter().map(|t| format!("{pp}{t}")));
    }
    topics.sort();
    topics.dedup();
    create_topics(kafka, &topics, partitions)?;
    // The paced phase's producer starts now: its producer id and the input's metadata are
    // fetched while the backlog drains, so the first paced records do not wait for them (they
    // did, in every system's p99).
    let paced_producer = producer(kafka)?;
    paced_producer
        .client()
        .fetch_metadata(Some(&input), Duration::from_secs(30))
        .with_context(|| format!("metadata of {input}"))?;
    // One process: the backlog waits for it. Several replicas: they join first, so the
    // measurement does not include the group settling from one member to all of them.
    let replicated = peer.instances() > 1;
    if !replicated {
        produce(kafka, &input, &fx.backlog)?;
    }

    let reader = Reader::start(kafka, &output, partitions)?;
    let log = fx.logs.join(format!("{}-r{round}.log", peer.name()));
    let launch = Launch {
        kafka,
        prefix: &pp,
        input: &input,
        output: &output,
        registry_url: &fx.registry_url,
        input_schema_file: &fx.input_schema_file,
        output_schema_file: &fx.output_schema_file,
        input_schema_id: fx.input_schema_id,
        output_schema_id: fx.output_schema_id,
        avro_dir: &fx.avro_dir,
        topics_dir: &fx.topics_dir,
        kstreams_classpath: fx.kstreams_classpath.as_deref(),
        log: log.clone(),
    };
    let mut children = peers::start(peer, &launch)?;
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    if replicated {
        let group = format!("{pp}{PROCESSOR}");
        wait_for_members(kafka, &group, peer.instances(), &mut children)?;
        produce(kafka, &input, &fx.backlog)?;
    }
    let cpu = |pids: &[u32]| pids.iter().map(|p| peers::cpu_seconds(*p)).sum::<f64>();
    let alive = |children: &mut [std::process::Child]| -> anyhow::Result<()> {
        for (i, child) in children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                let path = match i {
                    0 => log.clone(),
                    i => log.with_extension(format!("log.{i}")),
                };
                let tail = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(15).collect();
                bail!(
                    "{} exited early ({status}); last lines of {}:\n{}",
                    peer.name(),
                    path.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        Ok(())
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let backlog_keys: Vec<&String> = fx.backlog.iter().map(|(k, _)| k).collect();
    // First output visible: the system is running; its CPU so far is start-up.
    while reader.total() == 0 {
        alive(&mut children)?;
        if Instant::now() > deadline {
            bail!("{}: no output within 600 s", peer.name());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cpu_start = cpu(&pids);
    // Only backlog keys can be in the output until the paced phase starts (any other key fails
    // the count after the run), so distinct keys visible = backlog outputs visible.
    let done_at_start = reader.distinct();
    while reader.distinct() < backlog_keys.len() {
        alive(&mut children)?;
        if Instant::now() > deadline {
            bail!(
                "{}: only {} of {} backlog outputs within 600 s",
                peer.name(),
                reader.distinct(),
                backlog_keys.len()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cpu_backlog = cpu(&pids) - cpu_start;

    let sent = produce_paced(&paced_producer, &input, &fx.paced, rate)?;
    let paced_keys: Vec<&String> = fx.paced.iter().map(|(k, _)| k).collect();
    while reader.distinct() < backlog_keys.len() + paced_keys.len() {
        alive(&mut children)?;
        if Instant::now() > deadline {
            bail!("{}: the paced outputs did not all arrive", peer.name());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // The system's memory: every replica's peak, added.
    let peak_rss_kb = pids.iter().map(|p| peers::peak_rss_kb(*p)).sum();
    for child in &mut children {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in &mut children {
        stop(child, peer)?;
    }
    let seen = reader.finish()?;

    // Exactly once, counted after the system stopped.
    let counts = count_to_end(kafka, &output)?;
    let expected: BTreeSet<&str> = fx
        .backlog
        .iter()
        .chain(&fx.paced)
        .map(|(k, _)| k.as_str())
        .collect();
    let missing = expected
        .iter()
        .filter(|k| !counts.contains_key(**k))
        .count();
    let twice = counts.values().filter(|n| **n > 1).count();
    let foreign = counts
        .keys()
        .filter(|k| !expected.contains(k.as_str()))
        .count();
    if missing + twice + foreign > 0 {
        bail!(
            "{} round {round}: {missing} outputs missing, {twice} duplicated, {foreign} unexpected",
            peer.name()
        );
    }

    // Throughput over the backlog window, latency over the paced phase.
    let mut backlog_times: Vec<Instant> = backlog_keys
        .iter()
        .filter_map(|k| seen.by_key.get(*k).map(|(t, _)| *t))
        .collect();
    backlog_times.sort();
    let window = backlog_times
        .last()
        .zip(backlog_times.first())
        .map(|(l, f)| l.duration_since(*f).as_secs_f64())
        .unwrap_or(0.0)
        .max(1e-3);
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(k, at)| {
            seen.by_key
                .get(k)
                .map(|(t, _)| t.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(RunResult {
        peer,
        round,
        throughput: (backlog_times.len() - 1) as f64 / window,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        cpu_per_100k: cpu_backlog / (backlog_keys.len() - done_at_start).max(1) as f64 * 100_000.0,
        peak_rss_kb,
    })
}

/// SIGTERM, then the exit status within 60 s; anything but a clean exit fails the run.
/// Waits until `group` is stable with `members` members, each with an assignment (60 s at most;
/// a replica that exits meanwhile is an error).
fn wait_for_members(
    kafka: &KafkaConfig,
    group: &str,
    members: usize,
    children: &mut [std::process::Child],
) -> anyhow::Result<()> {
    let admin: BaseConsumer = kafka.client_config().create()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for child in children.iter_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("a replica exited before {group} settled ({status})");
            }
        }
        if let Ok(list) = admin.fetch_group_list(Some(group), Duration::from_secs(5)) {
            let settled = list.groups().iter().any(|g| {
                g.state() == "Stable"
                    && g.members().len() == members
                    && g.members()
                        .iter()
                        .all(|m| m.assignment().is_some_and(|a| !a.is_empty()))
            });
            if settled {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{group} did not settle with {members} members within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(child: &mut std::process::Child, peer: Peer) -> anyhow::Result<()> {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("{} did not stop cleanly: {status}", peer.name());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("{} did not stop within 60 s of SIGTERM", peer.name());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The medians, spreads and ratios to weft.
fn report(peers: &[Peer], results: &[RunResult]) {
    let of = |peer: Peer, f: fn(&RunResult) -> f64| -> Vec<f64> {
        results.iter().filter(|r| r.peer == peer).map(f).collect()
    };
    let weft_tput = spread(&of(Peer::Weft, |r| r.throughput)).0;
    let weft_cpu = spread(&of(Peer::Weft, |r| r.cpu_per_100k)).0;
    let weft_rss = of(Peer::Weft, |r| r.peak_rss_kb as f64)
        .into_iter()
        .fold(0.0, f64::max);
    out(&format!(
        "\n{:<32} {:>22} {:>9} {:>9} {:>13} {:>12}   {}\n",
        "system (rounds)",
        "msg/s median (min-max)",
        "p50 ms",
        "p99 ms",
        "CPU s/100k",
        "peak RSS kB",
        "ratio to weft: throughput, CPU, RSS"
    ));
    for &peer in peers {
        let (t, tmin, tmax) = spread(&of(peer, |r| r.throughput));
        let p50 = spread(&of(peer, |r| r.p50_ms)).0;
        let p99 = spread(&of(peer, |r| r.p99_ms)).0;
        let cpu = spread(&of(peer, |r| r.cpu_per_100k)).0;
        let rss = of(peer, |r| r.peak_rss_kb as f64)
            .into_iter()
            .fold(0.0, f64::max);
        out(&format!(
            "{:<32} {:>8.0} ({:>6.0}-{:>6.0}) {:>9.1} {:>9.1} {:>13.2} {:>12.0}   {:.2}x, {:.2}x, {:.2}x\n",
            format!("{} ({})", peer.describe(), of(peer, |r| r.throughput).len()),
            t,
            tmin,
            tmax,
            p50,
            p99,
            cpu,
            rss,
            t / weft_tput,
            cpu / weft_cpu,
            rss / weft_rss
        ));
    }
    let scaled: Vec<Peer> = peers.iter().copied().filter(|p| p.is_weft()).collect();
    if scaled.len() > 1 {
        out("scaling (replicas of weft in one group, on this one machine):");
        for peer in scaled {
            let t = spread(&of(peer, |r| r.throughput)).0;
            out(&format!(
                " {} x{}: {:.0} msg/s, {:.0} per replica ({:.2}x one replica);",
                peer.name(),
                peer.instances(),
                t,
                t / peer.instances() as f64,
                t / weft_tput
            ));
        }
        out("\n");
    }
    out(&format!("machine: {}\n", machine()));
}

/// An SVG bar chart: throughput of every system in every round.
fn chart(peers: &[Peer], results: &[RunResult], rounds: usize) -> String {
    let colours = [
        "#7f7f7f", "#1f77b4", "#9ecae1", "#d62728", "#ff9896", "#8c564b",
    ];
    let max = results.iter().map(|r| r.throughput).fold(1.0, f64::max);
    let (w, h, left, bottom) = (120.0 + 90.0 * rounds as f64, 320.0, 60.0, 40.0);
    let bar = 70.0 / peers.len() as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    svg.push_str(&format!(
        r#"<text x="{left}" y="14">throughput per round (msg/s, at a read_committed reader)</text>"#
    ));
    for step in 0..=4 {
        let v = max * step as f64 / 4.0;
        let y = h - bottom - (h - bottom - 30.0) * step as f64 / 4.0;
        svg.push_str(&format!(
            r##"<line x1="{left}" x2="{w}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="4" y="{y}">{v:.0}</text>"##
        ));
    }
    for r in results {
        let i = peers.iter().position(|p| *p == r.peer).unwrap_or(0);
        let x = left + 10.0 + 90.0 * (r.round - 1) as f64 + bar * i as f64;
        let bh = (h - bottom - 30.0) * r.throughput / max;
        let y = h - bottom - bh;
        svg.push_str(&format!(
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{} round {}: {:.0} msg/s</title></rect>"#,
            bar - 2.0,
            colours[i % colours.len()],
            r.peer.name(),
            r.round,
            r.throughput
        ));
    }
    for round in 1..=rounds {
        let x = left + 10.0 + 90.0 * (round - 1) as f64;
        svg.push_str(&format!(
            r#"<text x="{x}" y="{}">round {round}</text>"#,
            h - bottom + 14.0
        ));
    }
    for (i, p) in peers.iter().enumerate() {
        let x = left + 110.0 * i as f64;
        svg.push_str(&format!(
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            h - 14.0,
            colours[i % colours.len()],
            x + 14.0,
            h - 5.0,
            p.name()
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// `weft bench-pipe`: copy bytes, commit after the batch is acknowledged, until SIGTERM.
pub async fn pipe(args: PipeArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.store(true, Ordering::SeqCst);
        });
    }
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || raw_pipe(&kafka, &args, &stop)).await??;
    Ok(Outcome::Ok)
}

fn raw_pipe(kafka: &KafkaConfig, args: &PipeArgs, stop: &AtomicBool) -> anyhow::Result<()> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[args.input.as_str()])?;
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
            send(&p, &args.output, &key, m.payload().unwrap_or_default())?;
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
    p.flush(Duration::from_secs(60))?;
    Ok(())
}

pub(crate) fn create_topics(
    kafka: &KafkaConfig,
    topics: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for r in rt.block_on(admin.create_topics(&new, &AdminOptions::new()))? {
        if let Err((topic, e)) = r {
            bail!("creating {topic}: {e}");
        }
    }
    Ok(())
}

pub(crate) fn producer(kafka: &KafkaConfig) -> anyhow::Result<BaseProducer> {
    Ok(kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?)
}

pub(crate) fn send(p: &BaseProducer, topic: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
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
        send(&p, topic, k, v)?;
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120))?;
    Ok(())
}

/// Sends `records` at `rate` per second; returns when each was handed to the producer.
fn produce_paced(
    p: &BaseProducer,
    topic: &str,
    records: &[(String, Vec<u8>)],
    rate: u32,
) -> anyhow::Result<Vec<(String, Instant)>> {
    let start = Instant::now();
    let mut sent = Vec::with_capacity(records.len());
    for (i, (k, v)) in records.iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now); // pacing the load generator, not awaiting a condition
        }
        sent.push((k.clone(), Instant::now()));
        send(p, topic, k, v)?;
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120))?;
    Ok(sent)
}

/// Copies of each key in `topic` (read_committed), start to end.
fn count_to_end(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<BTreeMap<String, usize>> {
    let ends = end_offsets(kafka, &[topic.to_string()])?;
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "weft-bench-counter")
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
    let mut counts = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            bail!("could not read {topic} to its end");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(m) => {
                let m = m?;
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                *counts.entry(key).or_insert(0) += 1;
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
    Ok(counts)
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
