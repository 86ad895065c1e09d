//! `weft demo`: the README's main job.
//!
//! Today it provisions every topic in `topics/` (clamped to the local one-node broker), then
//! sends keyed events end to end through a transaction on a demo topic and reads them back with a
//! read_committed consumer, printing where each key landed. Later issues grow it into the full
//! seed-flow demo (registry, processors, causation trees).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use weft_core::headers;
use weft_core::kafka::KafkaConfig;
use weft_core::provision::{ProvisionOptions, Provisioner};
use weft_core::spec::{CleanupPolicy, Priority, Retention, SpecSet, TopicSpec};

use crate::Outcome;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory of topic and group specs.
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    topics_dir: PathBuf,
    /// How many keyed events to send end to end.
    #[arg(long, env = "WEFT_DEMO_EVENTS", default_value_t = 12)]
    events: usize,
    /// Replication factor clamp for the local broker.
    #[arg(long, env = "WEFT_MAX_REPLICATION_FACTOR", default_value_t = 1)]
    max_replication_factor: i32,
}

const DEMO_TOPIC: &str = "weft.demo.ping.v1";

fn demo_topic_spec() -> TopicSpec {
    TopicSpec {
        name: DEMO_TOPIC.into(),
        event_type: "demo.ping".into(),
        partitions: 3,
        replication_factor: 1,
        min_insync_replicas: None,
        cleanup_policy: CleanupPolicy::Delete,
        retention: Retention::For(Duration::from_secs(3600)),
        key: "order_id".into(),
        value_subject: format!("{DEMO_TOPIC}-value"),
        value_schema: "(json)".into(),
        owner: "weft-demo".into(),
        consumers: vec![],
        priority: Priority::Normal,
        sla: None,
        compatibility: "NONE".into(),
        config: BTreeMap::new(),
        path: PathBuf::new(),
    }
}

pub async fn run(args: DemoArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    println!("== weft demo on {}", kafka.bootstrap_servers);

    // 1. Topics as code.
    let specs = SpecSet::load(&args.topics_dir)
        .with_context(|| format!("loading specs from {}", args.topics_dir.display()))?;
    let mut all = specs.all_topics();
    all.push(demo_topic_spec());
    let provisioner = Provisioner::new(
        kafka,
        ProvisionOptions {
            max_replication_factor: Some(args.max_replication_factor),
            allow_delete: false,
        },
    )?;
    let plan = provisioner.plan(&all).await?;
    let report = provisioner.apply(&plan).await?;
    println!(
        "topics: {} declared + {} derived (retry/dead-letter); {} changes applied",
        specs.topics.len(),
        all.len() - specs.topics.len() - 1,
        report.applied.len()
    );
    let again = provisioner.plan(&all).await?;
    println!(
        "re-plan after apply: {}",
        if again.is_empty() {
            "no changes".to_string()
        } else {
            format!("{} changes left", again.changes.len())
        }
    );

    // 2. Keyed events through one transaction.
    let run_id = uuid::Uuid::new_v4();
    let producer: FutureProducer = kafka
        .client_config()
        .set("transactional.id", format!("weft-demo-{run_id}"))
        .set("partitioner", "murmur2_random")
        .create()?;
    producer.init_transactions(Timeout::After(Duration::from_secs(30)))?;
    producer.begin_transaction()?;
    let mut sent = BTreeMap::new();
    for i in 0..args.events {
        let key = format!("ORD-{:04}", i % 4);
        let event_id = uuid::Uuid::new_v4().to_string();
        let value = serde_json::json!({"run": run_id.to_string(), "event_id": event_id, "order_id": key, "seq": i}).to_string();
        let hdrs = OwnedHeaders::new()
            .insert(Header {
                key: headers::EVENT_ID,
                value: Some(event_id.as_str()),
            })
            .insert(Header {
                key: headers::EVENT_TYPE,
                value: Some("demo.ping"),
            });
        let delivery = producer
            .send(
                FutureRecord::to(DEMO_TOPIC)
                    .key(&key)
                    .payload(&value)
                    .headers(hdrs),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)?;
        sent.insert(event_id, (key, delivery.partition));
    }
    producer.commit_transaction(Timeout::After(Duration::from_secs(30)))?;
    println!(
        "produced {} keyed events in one committed transaction",
        sent.len()
    );

    // 3. Read them back, read_committed.
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", format!("weft-demo-{run_id}"))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[DEMO_TOPIC])?;
    let mut seen: BTreeMap<String, (String, i32, i64)> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < sent.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "only {} of {} events came back within 60 s",
                seen.len(),
                sent.len()
            );
        }
        let msg = match tokio::time::timeout(left, consumer.recv()).await {
            Ok(m) => m?,
            Err(_) => continue,
        };
        let id = msg
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == headers::EVENT_ID))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        if let Some(id) = id.filter(|id| sent.contains_key(id)) {
            let key = msg
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            seen.insert(id, (key, msg.partition(), msg.offset()));
        }
    }
    let mut by_key: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for (key, p, o) in seen.values() {
        by_key.entry(key).or_default().push((*p, *o));
    }
    for (key, places) in &by_key {
        let partitions: std::collections::BTreeSet<_> = places.iter().map(|(p, _)| p).collect();
        println!(
            "  key {key}: {} events, partition {:?}",
            places.len(),
            partitions
        );
        if partitions.len() != 1 {
            bail!("key {key} landed on several partitions: {partitions:?}");
        }
    }
    println!(
        "consumed {} of {} events (read_committed), each key on one partition; done in {:.1}s",
        seen.len(),
        sent.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Ok)
}
