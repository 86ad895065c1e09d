//! Topic migration under live traffic (docs/migration.md), on the real broker and registry:
//! a producer processor writes v1 before the migration starts; the mirror backfills v2 while the
//! producer, restarted in dual write, keeps writing; a reader group is cut over from v1 to v2 in
//! the middle of the stream. Counted by event id: v2 holds every v1 event exactly once, in v1's
//! order per partition (through the stamps), dual-written records were not copied twice, and the
//! reader saw every event exactly once across the cutover.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use support::*;
use weft_contracts::composerp::inventory::v2::InventoryUpdated as V2;
use weft_contracts::composerp::inventory::{InventoryUpdated as V1, TransactionType};
use weft_contracts::composerp::sale::SaleCompleted;
use weft_contracts::{Event, EventMetadata, Example};
use weft_runtime::migration::{self, MigrationState, Mirror, DUAL_WRITTEN, MIGRATED_FROM};
use weft_runtime::{
    BreakerSettings, FailurePolicy, LoopSettings, ProcessError, Processor, RunSettings,
};

const V1_TOPIC: &str = "composerp.inventory.updated.v1";
const V2_TOPIC: &str = "composerp.inventory.updated.v2";
const SALES: &str = "composerp.sale.completed.v1";
const NAME: &str = "composerp.inventory.updated";

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// One record read back with its place.
#[derive(Debug, Clone)]
struct Placed {
    partition: i32,
    offset: i64,
    key: String,
    value: Vec<u8>,
    event_id: String,
    headers: BTreeMap<String, String>,
}

/// Every committed record of `topic` up to its end.
fn read_placed(topic: &str, partitions: i32) -> Vec<Placed> {
    let c: BaseConsumer = weft_testkit::broker()
        .client_config()
        .set("group.id", weft_testkit::unique("mig-reader-"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
        ends.insert(
            p,
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1,
        );
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pos = c.position().unwrap();
        let done = ends.iter().all(|(p, end)| {
            matches!(pos.find_partition(topic, *p).map(|e| e.offset()), Some(Offset::Offset(o)) if o >= *end)
                || *end == 0
        });
        if done {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "could not read {topic} to its end"
        );
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let headers: BTreeMap<String, String> = m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Placed {
                partition: m.partition(),
                offset: m.offset(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                value: m.payload().unwrap_or_default().to_vec(),
                event_id: headers.get("weft-event-id").cloned().unwrap_or_default(),
                headers,
            });
        }
    }
}

fn sale(n: usize, items: &[String]) -> Event<SaleCompleted> {
    let mut p = SaleCompleted::example();
    p.sale_id = uuid::Uuid::new_v4().to_string();
    p.item_id = items[n % items.len()].clone();
    // 1..=9 pieces: below the replenishment service's default threshold (10), so every
    // inventory event triggers one replenishment.
    p.quantity = weft_contracts::Decimal4::from_int((n % 9) as i64 + 1);
    Event::new(EventMetadata::new_for::<SaleCompleted>("pos", "u-mig"), p)
}

fn publish_sales(prefix: &str, from: usize, to: usize, items: &[String]) {
    let records: Vec<RawRecord> = (from..to)
        .map(|n| {
            let e = sale(n, items);
            (e.key(), encode(&e), Vec::new())
        })
        .collect();
    publish_raw(&format!("{prefix}{SALES}"), &records);
}

/// The ledger: each sale moves the item's position (a stand-in for the stateful ledger).
fn ledger(name: &'static str) -> Processor {
    Processor::new(name)
        .on::<SaleCompleted>(|i| {
            let s = i.payload();
            Ok(vec![i.emit(
                0,
                V1 {
                    position_id: s.sale_id.clone(),
                    item_id: s.item_id.clone(),
                    // A position per sale: the replenishment service fires when a position
                    // crosses below its threshold, so each event here is one replenishment.
                    location_id: s.sale_id.clone(),
                    on_hand: s.quantity,
                    available: s.quantity,
                    transaction_id: s.sale_id.clone(),
                    transaction_type: TransactionType::Sale,
                },
            )])
        })
        .emits::<V1>()
}

/// What a reader read: (topic, event id, key), in the order it read them.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// The reader: handles both versions, notes what it reads.
fn reader(name: &'static str, seen: Seen) -> Processor {
    let (a, b) = (seen.clone(), seen);
    Processor::new(name)
        .on::<V1>(move |i| {
            a.lock().unwrap().push((
                i.topic.clone(),
                i.metadata().event_id.clone(),
                i.payload().item_id.clone(),
            ));
            Ok::<_, ProcessError>(vec![])
        })
        .on::<V2>(move |i| {
            b.lock().unwrap().push((
                i.topic.clone(),
                i.metadata().event_id.clone(),
                i.payload().item_id.clone(),
            ));
            Ok(vec![])
        })
}

/// Each event read once, and per key in the order of `history` (records in partition order).
fn assert_read_once_in_order(seen: &[(String, String, String)], history: &[Placed]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, id, _) in seen {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "read twice across the cutover: {twice:?}");
    let all: std::collections::BTreeSet<&str> =
        history.iter().map(|r| r.event_id.as_str()).collect();
    let read: std::collections::BTreeSet<&str> = counts.keys().copied().collect();
    assert_eq!(read, all, "every event read once");
    let per_key = |pairs: &mut dyn Iterator<Item = (&str, &str)>| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, id) in pairs {
            m.entry(k.to_string()).or_default().push(id.to_string());
        }
        m
    };
    let expected = per_key(
        &mut history
            .iter()
            .map(|r| (r.key.as_str(), r.event_id.as_str())),
    );
    let got = per_key(&mut seen.iter().map(|(_, id, k)| (k.as_str(), id.as_str())));
    assert_eq!(
        got, expected,
        "each key's events read in the order they were written"
    );
}

fn settings(prefix: &str, dir: &tempfile::TempDir) -> RunSettings {
    RunSettings {
        instance_id: weft_testkit::unique("mig-"),
        registry_url: stack().registry_url.clone(),
        registry_auth: None,
        auto_register: true,
        avro_dir: repo().join("avro"),
        topics_dir: dir.path().to_path_buf(),
        max_batch: 50,
        commit_interval: Duration::from_millis(100),
        breaker: BreakerSettings::default(),
        max_consecutive_aborts: 5,
        fetch_stall_limit: weft_runtime::fetch_guard::DEFAULT_LIMIT,
        static_membership: false,
        metrics_listen: None,
        shutdown: Arc::new(AtomicBool::new(false)),
        metrics: None,
        sink_dir: dir.path().join("sinks"),
        sink_store: None,
        topic_prefix: prefix.to_string(),
        migrations: weft_processors::migrations(),
    }
}

/// Runs `processor` in the background until the returned flag is set.
fn spawn(
    rt: &tokio::runtime::Runtime,
    processor: Processor,
    settings: RunSettings,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let stop = settings.shutdown.clone();
    let handle = rt.spawn(async move {
        weft_runtime::run_processors(&weft_testkit::broker(), vec![processor], &settings)
            .await
            .expect("the processor runs");
    });
    (stop, handle)
}

fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < end, "{what} within {deadline:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_live_stream_is_migrated_by_mirror_and_dual_write_and_a_group_cut_over_sees_each_event_once() {
    let _ = stack();
    let prefix = format!("{}.", weft_testkit::unique("mig"));
    let p = |t: &str| format!("{prefix}{t}");
    let ledger_name = leak(format!("{}.ledger", weft_testkit::unique("t")));
    let reader_name = leak(format!("{}.reader", weft_testkit::unique("t")));
    let mirror_group = p(&weft_core::migration::mirror_group(NAME));
    // Group specs without retry tiers; topics in the prefix's namespace.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("groups")).unwrap();
    for g in [ledger_name, reader_name] {
        std::fs::write(
            dir.path().join(format!("groups/{g}.yaml")),
            format!("group: {g}\nretry:\n  delays: []\n"),
        )
        .unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let three: Vec<String> = [SALES, V1_TOPIC, V2_TOPIC]
        .iter()
        .map(|t| p(t))
        .chain([
            p(&format!("{ledger_name}.dlq")),
            p(&format!("{reader_name}.dlq")),
            format!("{mirror_group}.dlq"),
        ])
        .collect();
    rt.block_on(weft_testkit::create_topics(
        &three.iter().map(String::as_str).collect::<Vec<_>>(),
        3,
    ));
    let control = p(weft_core::migration::CONTROL_TOPIC);
    rt.block_on(weft_testkit::create_topics(&[&control], 1));
    let kafka = weft_testkit::broker();
    let items: Vec<String> = (0..12).map(|_| uuid::Uuid::new_v4().to_string()).collect();

    // 1. Before the migration: the ledger writes v1 only; the reader reads v1.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (stop_ledger, ledger_run) = spawn(&rt, ledger(ledger_name), settings(&prefix, &dir));
    let (stop_reader, reader_run) = spawn(
        &rt,
        reader(reader_name, seen.clone()),
        settings(&prefix, &dir),
    );
    publish_sales(&prefix, 0, 300, &items);
    wait_for("300 v1 events", Duration::from_secs(60), || {
        read_placed(&p(V1_TOPIC), 3).len() >= 300
    });

    // 2. Start: dual write from now on; the mirror backfills; the ledger restarts to dual-write.
    let mut state = MigrationState {
        phase: migration::DUAL_WRITE.into(),
        ..Default::default()
    };
    state.log("start");
    migration::write_state(&kafka, &control, NAME, &state).unwrap();
    let mirror_stop = Arc::new(AtomicBool::new(false));
    let mirror_thread = {
        let stop = mirror_stop.clone();
        let prefix = prefix.clone();
        let mirror_group = mirror_group.clone();
        std::thread::spawn(move || {
            let transform = weft_processors::migrations()
                .into_iter()
                .find(|t| t.name() == NAME)
                .unwrap();
            let schemas: Arc<dyn weft_runtime::schemas::SchemaSource> = stack().schemas.clone();
            let mut mirror = Mirror::new(transform, &stack().catalog, schemas, &prefix).unwrap();
            let settings = LoopSettings {
                processor: mirror_group.clone(),
                group_id: mirror_group.clone(),
                inputs: vec![format!("{prefix}{V1_TOPIC}")],
                outputs: vec![format!("{prefix}{V2_TOPIC}")],
                instance_id: "mirror-0".into(),
                failure: FailurePolicy {
                    processor: mirror_group.clone(),
                    retry_tiers: vec![],
                    dead_letter_topic: format!("{mirror_group}.dlq"),
                    parking_topic: None,
                },
                breaker: BreakerSettings::default(),
                metrics: None,
                max_batch: 50,
                commit_interval: Duration::from_millis(100),
                max_retries: 5,
                max_consecutive_aborts: 5,
                fetch_stall_limit: weft_runtime::fetch_guard::DEFAULT_LIMIT,
                dual_writes: vec![],
                changelogs: vec![],
                static_membership: false,
                shutdown: stop,
            };
            let stats = weft_runtime::run_loop(&weft_testkit::broker(), &settings, &mut mirror)
                .expect("the mirror runs");
            (stats, mirror.copied, mirror.skipped)
        })
    };
    stop_ledger.store(true, Ordering::SeqCst);
    rt.block_on(ledger_run).unwrap();
    let (stop_ledger, ledger_run) = spawn(&rt, ledger(ledger_name), settings(&prefix, &dir));
    publish_sales(&prefix, 300, 600, &items);
    wait_for("600 v1 events", Duration::from_secs(60), || {
        read_placed(&p(V1_TOPIC), 3).len() >= 600
    });

    // 3. Cut the reader over in the middle of the stream.
    wait_for(
        "the reader to read some events",
        Duration::from_secs(60),
        || seen.lock().unwrap().len() >= 400,
    );
    stop_reader.store(true, Ordering::SeqCst);
    rt.block_on(reader_run).unwrap();
    let group = p(reader_name);
    let committed: BTreeMap<i32, i64> = {
        let c: BaseConsumer = kafka
            .client_config()
            .set("group.id", &group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for part in 0..3 {
            tpl.add_partition(&p(V1_TOPIC), part);
        }
        c.committed_offsets(tpl, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => (e.partition(), o),
                _ => (e.partition(), 0),
            })
            .collect()
    };
    wait_for(
        "the mirror to pass the reader's position",
        Duration::from_secs(60),
        || {
            let c: BaseConsumer = kafka
                .client_config()
                .set("group.id", &mirror_group)
                .create()
                .unwrap();
            let mut tpl = TopicPartitionList::new();
            for part in 0..3 {
                tpl.add_partition(&p(V1_TOPIC), part);
            }
            let done = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
            committed.iter().all(|(part, o)| {
            matches!(done.find_partition(&p(V1_TOPIC), *part).map(|e| e.offset()), Some(Offset::Offset(m)) if m >= *o)
        })
        },
    );
    let translated = migration::translate(&kafka, &p(V2_TOPIC), &committed).unwrap();
    {
        let c: BaseConsumer = kafka
            .client_config()
            .set("group.id", &group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for (part, o) in &translated {
            tpl.add_partition_offset(&p(V2_TOPIC), *part, Offset::Offset(*o))
                .unwrap();
        }
        c.commit(&tpl, CommitMode::Sync).unwrap();
    }
    state.cut_over.insert(reader_name.to_string(), "now".into());
    migration::write_state(&kafka, &control, NAME, &state).unwrap();
    let (stop_reader, reader_run) = spawn(
        &rt,
        reader(reader_name, seen.clone()),
        settings(&prefix, &dir),
    );
    publish_sales(&prefix, 600, 900, &items);
    wait_for("900 v2 events", Duration::from_secs(90), || {
        read_placed(&p(V2_TOPIC), 3).len() >= 900
    });
    wait_for(
        "the reader to see 900 events",
        Duration::from_secs(60),
        || seen.lock().unwrap().len() >= 900,
    );
    stop_reader.store(true, Ordering::SeqCst);
    stop_ledger.store(true, Ordering::SeqCst);
    mirror_stop.store(true, Ordering::SeqCst);
    rt.block_on(reader_run).unwrap();
    rt.block_on(ledger_run).unwrap();
    let (mirror_stats, copied, skipped) = mirror_thread.join().unwrap();

    // v2 is v1, event by event, in v1's order per partition.
    let v1 = read_placed(&p(V1_TOPIC), 3);
    let v2 = read_placed(&p(V2_TOPIC), 3);
    assert_eq!(v1.len(), 900, "v1 holds each sale's event once");
    assert_eq!(
        v2.len(),
        900,
        "v2 holds each v1 event once ({copied} copied by the mirror, {skipped} skipped as dual-written)"
    );
    let by_place: BTreeMap<(i32, i64), &Placed> =
        v1.iter().map(|r| ((r.partition, r.offset), r)).collect();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &v2 {
        let (part, from) = migration::parse_stamp(r.headers[MIGRATED_FROM].as_bytes())
            .expect("every v2 record is stamped");
        assert_eq!(part, r.partition, "a copy stays in its partition");
        let source = by_place[&(part, from)];
        assert_eq!(
            source.event_id, r.event_id,
            "the stamp names the copied event"
        );
        let before = last.insert(part, from).unwrap_or(-1);
        assert!(
            from > before,
            "v2[{part}] follows v1's order: {from} after {before}"
        );
    }
    let dual = v1
        .iter()
        .filter(|r| r.headers.contains_key(DUAL_WRITTEN))
        .count();
    assert!(
        dual >= 300,
        "the restarted ledger dual-wrote ({dual} of 900)"
    );
    // Each v1 record has one copy (900 distinct increasing stamps above); the mirror saw every
    // record (its counters count again what an aborted transaction redid, so at least).
    assert!(
        copied as usize + skipped as usize >= 900 && skipped as usize >= dual,
        "{mirror_stats:?}"
    );

    // v1 and v2 hold the same history after the transform, payload by payload.
    for r in &v2 {
        let (part, from) = migration::parse_stamp(r.headers[MIGRATED_FROM].as_bytes()).unwrap();
        let old = try_decode::<V1>(&by_place[&(part, from)].value).expect("a v1 event");
        let new = try_decode::<V2>(&r.value).expect("a v2 event");
        assert_eq!(
            new.payload,
            weft_processors::composerp::migration::inventory_updated_to_v2(&old.payload)
        );
        assert_eq!(new.metadata.event_id, old.metadata.event_id);
        assert_eq!(new.metadata.event_version, "2.0");
    }

    // The reader saw every event exactly once, each key in order, v1 before the cutover and
    // v2 after.
    let seen = seen.lock().unwrap().clone();
    assert_read_once_in_order(&seen, &v2);
    let on_v2 = seen.iter().filter(|(t, _, _)| t == V2_TOPIC).count();
    assert!(
        on_v2 >= 300,
        "the reader read v2 after the cutover ({on_v2})"
    );
}

/// Runs `weft migrate <args>` in the prefix's namespace; (success, stdout + stderr).
fn migrate(prefix: &str, args: &[&str]) -> (bool, String) {
    let out = weft()
        .arg("migrate")
        .args(args)
        .env("WEFT_TOPIC_PREFIX", prefix)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("[weft migrate {}] {text}", args.join(" "));
    (out.status.success(), text)
}

/// The registered replenishment service as `weft run` processes, in the prefix's namespace.
fn replica(prefix: &str) -> Running {
    Running::start(
        &["composerp.replenishment-service"],
        &[("WEFT_TOPIC_PREFIX", prefix)],
    )
}

/// A child process killed when dropped (a failing test leaves no mirror running).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every topic the process-level test touches, in the prefix's namespace.
fn provision(prefix: &str) {
    let specs = weft_core::spec::SpecSet::load(&repo().join("topics")).unwrap();
    let service = specs.group("composerp.replenishment-service");
    let forecasting = specs.group("composerp.forecasting-service");
    let mut three: Vec<String> = [
        SALES,
        V1_TOPIC,
        V2_TOPIC,
        "composerp.inventory.low-stock.v1",
        "composerp.replenishment.triggered.v1",
    ]
    .iter()
    .map(|t| t.to_string())
    .chain(service.retry_topics())
    .chain(service.changelog_topics())
    .chain(forecasting.retry_topics())
    .chain([
        service.dead_letter_topic(),
        forecasting.dead_letter_topic(),
        format!("{}.dlq", weft_core::migration::mirror_group(NAME)),
    ])
    .map(|t| format!("{prefix}{t}"))
    .collect();
    three.sort();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(weft_testkit::create_topics(
        &three.iter().map(String::as_str).collect::<Vec<_>>(),
        3,
    ));
    rt.block_on(weft_testkit::create_topics(
        &[&format!("{prefix}{}", weft_core::migration::CONTROL_TOPIC)],
        1,
    ));
}

#[test]
fn groups_are_cut_over_rolled_back_and_the_old_topic_retired_with_a_replica_killed_and_each_event_handled_once(
) {
    let _ = stack();
    let prefix = format!("{}.", weft_testkit::unique("migp"));
    let p = |t: &str| format!("{prefix}{t}");
    provision(&prefix);
    let ledger_name = leak(format!("{}.ledger", weft_testkit::unique("t")));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("groups")).unwrap();
    std::fs::write(
        dir.path().join(format!("groups/{ledger_name}.yaml")),
        format!("group: {ledger_name}\nretry:\n  delays: []\n"),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(weft_testkit::create_topics(
        &[&p(&format!("{ledger_name}.dlq"))],
        3,
    ));
    let items: Vec<String> = (0..12).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let triggered = p("composerp.replenishment.triggered.v1");
    let outputs = || read_placed(&triggered, 3);
    let wait_outputs = |n: usize| {
        wait_for(
            &format!("{n} replenishments"),
            Duration::from_secs(120),
            || outputs().len() >= n,
        )
    };
    let mut published = 0;
    let mut publish = |n: usize| {
        publish_sales(&prefix, published, published + n, &items);
        published += n;
        published
    };

    // v1 only: the ledger writes v1, two replicas of the replenishment service read it, and a
    // stand-in of the forecasting service (declared in the migration, not built yet: it notes
    // what it reads) runs in-process.
    let (stop_ledger, ledger_run) = spawn(&rt, ledger(ledger_name), settings(&prefix, &dir));
    let (a, b) = (replica(&prefix), replica(&prefix));
    let forecast_seen: Seen = Default::default();
    let forecast = || {
        spawn(
            &rt,
            reader("composerp.forecasting-service", forecast_seen.clone()),
            settings(&prefix, &dir),
        )
    };
    let (stop_forecast, forecast_run) = forecast();
    let n = publish(150);
    wait_outputs(n);

    // Start: dual write, the mirror as a process, the ledger restarted to pick it up.
    let (ok, text) = migrate(&prefix, &["start", NAME]);
    assert!(ok, "{text}");
    let mut mirror = Killed(
        weft()
            .args(["migrate", "mirror", NAME])
            .env("WEFT_TOPIC_PREFIX", &prefix)
            .env("WEFT_REGISTRY_URL", &stack().registry_url)
            .env("WEFT_INSTANCE_ID", weft_testkit::unique("mirror-"))
            .env("WEFT_SCHEMA_AUTO_REGISTER", "true")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    stop_ledger.store(true, Ordering::SeqCst);
    rt.block_on(ledger_run).unwrap();
    let (stop_ledger, ledger_run) = spawn(&rt, ledger(ledger_name), settings(&prefix, &dir));
    let n = publish(150);
    wait_outputs(n);

    // Cut over while traffic flows: one replica stops cleanly, the other is SIGKILLed; the
    // cutover waits for the killed member's session to expire.
    let n = publish(150);
    let paused = Instant::now();
    assert_eq!(a.stop(), Some(0));
    drop(b);
    let (ok, text) = migrate(
        &prefix,
        &[
            "cutover",
            NAME,
            "composerp.replenishment-service",
            "--dry-run",
        ],
    );
    assert!(ok && text.contains("dry run"), "{text}");
    let (ok, text) = migrate(
        &prefix,
        &["cutover", NAME, "composerp.replenishment-service"],
    );
    assert!(ok && text.contains("now reads"), "{text}");
    let (a, b) = (replica(&prefix), replica(&prefix));
    let replenishment_pause = paused.elapsed();
    wait_outputs(n);
    let n = publish(150);
    wait_outputs(n);

    // Roll back to v1 and forward again.
    assert_eq!(a.stop(), Some(0));
    assert_eq!(b.stop(), Some(0));
    let (ok, text) = migrate(
        &prefix,
        &["rollback", NAME, "composerp.replenishment-service"],
    );
    assert!(ok, "{text}");
    let a = replica(&prefix);
    let n = publish(150);
    wait_outputs(n);
    assert_eq!(a.stop(), Some(0));
    let (ok, text) = migrate(
        &prefix,
        &["cutover", NAME, "composerp.replenishment-service"],
    );
    assert!(ok, "{text}");
    let a = replica(&prefix);
    let n = publish(150);
    wait_outputs(n);

    // Retirement gate: the forecasting service still reads v1.
    let (ok, text) = migrate(&prefix, &["finish", NAME]);
    assert!(
        !ok && text.contains("composerp.forecasting-service"),
        "{text}"
    );
    // Cut it over later than the other group, while traffic flows.
    let n = publish(150);
    let paused = Instant::now();
    stop_forecast.store(true, Ordering::SeqCst);
    rt.block_on(forecast_run).unwrap();
    let (ok, text) = migrate(&prefix, &["cutover", NAME, "composerp.forecasting-service"]);
    assert!(ok, "{text}");
    let (stop_forecast, forecast_run) = forecast();
    let forecasting_pause = paused.elapsed();
    wait_outputs(n);
    let (ok, text) = migrate(&prefix, &["finish", NAME]);
    assert!(ok && text.contains("finished"), "{text}");
    // Producers restarted after finish write v2 only.
    stop_ledger.store(true, Ordering::SeqCst);
    rt.block_on(ledger_run).unwrap();
    let v1_at_finish = read_placed(&p(V1_TOPIC), 3).len();
    let (stop_ledger, ledger_run) = spawn(&rt, ledger(ledger_name), settings(&prefix, &dir));
    let n = publish(150);
    wait_outputs(n);
    let (ok, text) = migrate(&prefix, &["status", NAME]);
    assert!(
        ok && text.contains("phase finished") && text.contains(": none"),
        "{text}"
    );

    wait_for(
        "the forecasting group to read everything",
        Duration::from_secs(60),
        || forecast_seen.lock().unwrap().len() >= published,
    );
    assert_eq!(a.stop(), Some(0));
    stop_forecast.store(true, Ordering::SeqCst);
    rt.block_on(forecast_run).unwrap();
    stop_ledger.store(true, Ordering::SeqCst);
    rt.block_on(ledger_run).unwrap();
    eprintln!(
        "cutover pause (group stopped -> started on v2): replenishment-service {replenishment_pause:?} \
         (one replica SIGKILLed: its session expires first), forecasting-service {forecasting_pause:?}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &mirror.0.id().to_string()])
        .status();
    assert!(
        mirror.0.wait().unwrap().success(),
        "the mirror stops cleanly on SIGTERM"
    );

    // Counted by event id: every inventory event handled exactly once across two cutovers,
    // a rollback, a killed replica and the retirement.
    let v1 = read_placed(&p(V1_TOPIC), 3);
    let v2 = read_placed(&p(V2_TOPIC), 3);
    assert_eq!(
        v1.len(),
        v1_at_finish,
        "nothing is written to v1 after finish"
    );
    assert_eq!(v1.len(), published - 150);
    assert_eq!(
        v2.len(),
        published,
        "v2 holds v1's events and those written after finish"
    );
    let outs = outputs();
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &outs {
        *per_id.entry(o.event_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "replenishments produced twice: {twice:?}");
    assert_eq!(
        outs.len(),
        published,
        "one replenishment per inventory event"
    );
    // The second group read every event once, each key in order, across its cutover.
    let seen = forecast_seen.lock().unwrap().clone();
    assert_read_once_in_order(&seen, &v2);
    assert!(
        seen.iter().any(|(t, _, _)| t == V1_TOPIC) && seen.iter().any(|(t, _, _)| t == V2_TOPIC),
        "the forecasting group read v1 before its cutover and v2 after"
    );
}

/// Aborted and committed transactions of `processor` in `metrics`.
fn transactions(metrics: &weft_runtime::Metrics, processor: &str) -> (u64, u64) {
    let mut out = (0, 0);
    for line in metrics.render().lines() {
        if !line.starts_with("weft_transactions_total{") || !line.contains(processor) {
            continue;
        }
        let n: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        if line.contains("outcome=\"aborted\"") {
            out.0 += n;
        } else if line.contains("outcome=\"committed\"") {
            out.1 += n;
        }
    }
    out
}

/// Two replicas of a producer whose input is not co-partitioned with the old topic (sales in
/// four partitions, inventory events in three) both write every partition of v1, so their
/// dual-written blocks meet; the mirror is SIGKILLed in the middle of the hand-off and
/// restarted. v2 must still be v1 event by event, in v1's order per partition, each once.
#[test]
fn two_dual_writers_on_every_partition_and_a_killed_mirror_keep_v2_exactly_v1() {
    let _ = stack();
    let prefix = format!("{}.", weft_testkit::unique("mig2"));
    let p = |t: &str| format!("{prefix}{t}");
    let ledger_name = leak(format!("{}.ledger", weft_testkit::unique("t")));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("groups")).unwrap();
    std::fs::write(
        dir.path().join(format!("groups/{ledger_name}.yaml")),
        format!("group: {ledger_name}\nretry:\n  delays: []\n"),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let three: Vec<String> = [V1_TOPIC, V2_TOPIC]
        .iter()
        .map(|t| p(t))
        .chain([
            p(&format!("{ledger_name}.dlq")),
            p(&format!("{}.dlq", weft_core::migration::mirror_group(NAME))),
        ])
        .collect();
    rt.block_on(weft_testkit::create_topics(
        &three.iter().map(String::as_str).collect::<Vec<_>>(),
        3,
    ));
    rt.block_on(weft_testkit::create_topics(&[&p(SALES)], 4));
    rt.block_on(weft_testkit::create_topics(
        &[&p(weft_core::migration::CONTROL_TOPIC)],
        1,
    ));
    let items: Vec<String> = (0..40).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let metrics = weft_runtime::Metrics::new();
    let replica = || {
        let mut s = settings(&prefix, &dir);
        s.metrics = Some(metrics.clone());
        // The producers outlive the mirror's restart (its session must expire before its
        // successor gets the partitions, longer on a loaded machine): as docs/migration.md
        // advises for a migration, a higher abort limit than the default 5 (which stops a
        // producer after about 20 s without its mirror).
        s.max_consecutive_aborts = 30;
        spawn(&rt, ledger(ledger_name), s)
    };

    // v1 only, two replicas.
    let (stop_a, run_a) = replica();
    let (stop_b, run_b) = replica();
    publish_sales(&prefix, 0, 200, &items);
    wait_for("200 v1 events", Duration::from_secs(90), || {
        read_placed(&p(V1_TOPIC), 3).len() >= 200
    });

    // Dual write from now on; the mirror as a process; both replicas restarted.
    let (ok, text) = migrate(&prefix, &["start", NAME]);
    assert!(ok, "{text}");
    let mirror_process = || {
        Killed(
            weft()
                .args(["migrate", "mirror", NAME, "--max-batch", "50"])
                .env("WEFT_TOPIC_PREFIX", &prefix)
                .env("WEFT_REGISTRY_URL", &stack().registry_url)
                // Restarted under the same identity (a StatefulSet pod): its predecessor's
                // open transaction is fenced and aborted at once.
                .env("WEFT_INSTANCE_ID", format!("{prefix}mirror-0"))
                .env("WEFT_SCHEMA_AUTO_REGISTER", "true")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut mirror = mirror_process();
    for stop in [&stop_a, &stop_b] {
        stop.store(true, Ordering::SeqCst);
    }
    rt.block_on(run_a).unwrap();
    rt.block_on(run_b).unwrap();
    let before = transactions(&metrics, ledger_name);
    let (stop_a, run_a) = replica();
    let (stop_b, run_b) = replica();

    // A burst (both replicas catch up in full transactions, whose records of a partition go
    // out in several produce requests and meet the other replica's), then a steady stream
    // (about 400 sales/s) while the mirror is killed once and restarted.
    let total = 200 + 2_400;
    let publisher = {
        let prefix = prefix.clone();
        let items = items.clone();
        std::thread::spawn(move || {
            publish_sales(&prefix, 200, 1_000, &items);
            for batch in 0..16 {
                let from = 1_000 + batch * 100;
                publish_sales(&prefix, from, from + 100, &items);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    wait_for("1,400 v1 events", Duration::from_secs(120), || {
        read_placed(&p(V1_TOPIC), 3).len() >= 1_400
    });
    mirror.0.kill().unwrap();
    mirror.0.wait().unwrap();
    let killed_at = Instant::now();
    mirror = mirror_process();
    publisher.join().unwrap();
    wait_for("every event on v1 and v2", Duration::from_secs(180), || {
        read_placed(&p(V1_TOPIC), 3).len() >= total && read_placed(&p(V2_TOPIC), 3).len() >= total
    });
    let caught_up = killed_at.elapsed();
    for stop in [&stop_a, &stop_b] {
        stop.store(true, Ordering::SeqCst);
    }
    rt.block_on(run_a).unwrap();
    rt.block_on(run_b).unwrap();
    let after = transactions(&metrics, ledger_name);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &mirror.0.id().to_string()])
        .status();
    assert!(
        mirror.0.wait().unwrap().success(),
        "the mirror stops on SIGTERM"
    );

    // Counted by event id: v1 holds each sale's event once; v2 holds each v1 record once, in
    // v1's order per partition, the transform of it.
    let v1 = read_placed(&p(V1_TOPIC), 3);
    let v2 = read_placed(&p(V2_TOPIC), 3);
    let mut v1_ids: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &v1 {
        *v1_ids.entry(r.event_id.as_str()).or_default() += 1;
    }
    assert_eq!(v1_ids.len(), total, "one v1 event per sale");
    assert!(v1_ids.values().all(|n| *n == 1), "no v1 event twice");
    assert_eq!(v2.len(), total, "v2 holds each v1 record once");
    let by_place: BTreeMap<(i32, i64), &Placed> =
        v1.iter().map(|r| ((r.partition, r.offset), r)).collect();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &v2 {
        let (part, from) = migration::parse_stamp(r.headers[MIGRATED_FROM].as_bytes())
            .expect("every v2 record is stamped");
        assert_eq!(part, r.partition, "a copy stays in its partition");
        let source = by_place[&(part, from)];
        assert_eq!(
            source.event_id, r.event_id,
            "the stamp names the copied event"
        );
        let previous = last.insert(part, from).unwrap_or(-1);
        assert!(
            from > previous,
            "v2[{part}] follows v1's order: {from} after {previous}"
        );
        let old = try_decode::<V1>(&source.value).expect("a v1 event");
        let new = try_decode::<V2>(&r.value).expect("a v2 event");
        assert_eq!(
            new.payload,
            weft_processors::composerp::migration::inventory_updated_to_v2(&old.payload)
        );
    }
    let dual = v1
        .iter()
        .filter(|r| r.headers.contains_key(DUAL_WRITTEN))
        .count();
    assert!(
        dual >= 2_000,
        "the two replicas dual-wrote the stream ({dual} of {total})"
    );
    let (aborted, committed) = (after.0 - before.0, after.1 - before.1);
    eprintln!(
        "two dual writers: {dual} of {total} v1 events dual-written, {committed} transactions \
         committed and {aborted} aborted during the hand-off ({:.1}% aborted); v2 complete {caught_up:?} \
         after the mirror was killed",
        100.0 * aborted as f64 / (aborted + committed).max(1) as f64
    );
}

/// Two operators changing one migration at once: the one that took the hold first is fenced
/// by the second and writes nothing, neither its state nor the group offsets of its cutover.
#[test]
fn two_operators_changing_one_migration_at_once_cannot_both_write() {
    let _ = stack();
    let prefix = format!("{}.", weft_testkit::unique("migl"));
    let control = format!("{prefix}{}", weft_core::migration::CONTROL_TOPIC);
    let topic = format!("{prefix}{V2_TOPIC}");
    let group = format!("{prefix}reader");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(weft_testkit::create_topics(&[&control], 1));
    rt.block_on(weft_testkit::create_topics(&[&topic], 3));
    let kafka = weft_testkit::broker();
    let committed = || -> BTreeMap<i32, i64> {
        let c: BaseConsumer = kafka
            .client_config()
            .set("group.id", &group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for part in 0..3 {
            tpl.add_partition(&topic, part);
        }
        c.committed_offsets(tpl, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    };
    let offsets: BTreeMap<i32, i64> = [(0, 5), (1, 6), (2, 7)].into();

    let (first, state) = migration::StateLock::take(&kafka, &control, NAME).unwrap();
    assert_eq!(state, MigrationState::default(), "nothing started yet");
    let (second, state) = migration::StateLock::take(&kafka, &control, NAME).unwrap();
    assert_eq!(state, MigrationState::default());
    let mut cut = MigrationState {
        phase: migration::DUAL_WRITE.into(),
        ..Default::default()
    };
    cut.cut_over.insert("reader".into(), "first".into());
    let err = first
        .write(&cut, Some((&group, &topic, &offsets)))
        .expect_err("the first hold was fenced by the second")
        .to_string();
    assert!(err.contains("took migration"), "{err}");
    assert!(
        committed().is_empty(),
        "the fenced cutover committed no offset"
    );
    let started = MigrationState {
        phase: migration::DUAL_WRITE.into(),
        history: vec!["second".into()],
        ..Default::default()
    };
    second.write(&started, None).unwrap();
    assert_eq!(
        migration::read_states(&kafka, &control).unwrap().get(NAME),
        Some(&started),
        "the second operator's state is the state"
    );

    // The next holder decides on that state; its cutover's offsets land with it.
    let (third, state) = migration::StateLock::take(&kafka, &control, NAME).unwrap();
    assert_eq!(state, started);
    third.write(&cut, Some((&group, &topic, &offsets))).unwrap();
    assert_eq!(
        committed(),
        offsets,
        "the cutover's offsets committed with its state"
    );
    assert_eq!(
        migration::read_states(&kafka, &control).unwrap().get(NAME),
        Some(&cut)
    );
}
