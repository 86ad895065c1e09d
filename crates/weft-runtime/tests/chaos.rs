//! Exactly-once under faults on a three-broker cluster, after Apache Kafka's own
//! `transactions_test.py` and `streams_eos_test.py`: keyed events through two chained copiers
//! (the first's outputs are the second's inputs), three replicas of each, 1% poison and 1%
//! transient failures that succeed on a retry tier. While a paced producer writes, a random
//! replica is SIGKILLed and restarted every ~5 s, and once a broker is `kill -9`ed and restarted.
//! Runs with eager, cooperative-sticky and KIP-848 assignment, the classic ones also with
//! static membership, one after the other.
//!
//! Asserted by counting event ids: every expected output exactly once, every poison input
//! exactly once in the first copier's dead-letter topic and nothing in the second's, per-key order
//! of outputs kept (with per-key ordering on, in the eager run, records that went through a retry
//! tier included; without it they may overtake or be overtaken), and a killed replica's
//! partitions processed again within 30 s. Printed per mode: the longest gap of any output
//! partition (keys are partitioned alike in every topic, so an output partition stalls when
//! the owner of its key range in either stage is gone), the longest apart from the broker's
//! outage (what replica kills alone cost), and a timeline of the kills and the gaps over 5 s.
//!
//! CI runs the short form (env defaults); `scripts/chaos.sh` runs the long one
//! (`WEFT_CHAOS_EVENTS=100000`). Figures are printed per protocol.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use weft_core::kafka::KafkaConfig;
use weft_testkit::{unique, Cluster};

const PARTITIONS: i32 = 6;
const KEYS: usize = 200;
const REPLICAS: usize = 3;
/// Events produced before the chaos begins, one per key.
const WARM_UP: usize = KEYS;
/// The cluster's first client port (the single dev node keeps 9092).
/// The first base port tried for the test's own cluster.
const CLUSTER_PORT: u16 = 39092;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `evt:<i>:k<key>:<seq>`, about 1% marked `:poison` and 1% `:transient`, spread over every key
/// (97 and 101 are prime to the number of keys: no key is all poison or all transient).
fn input_value(i: usize, seq: usize) -> String {
    let key = i % KEYS;
    if i % 97 == 37 {
        format!("evt:{i}:k{key}:{seq}:poison")
    } else if i % 101 == 73 {
        format!("evt:{i}:k{key}:{seq}:transient")
    } else {
        format!("evt:{i}:k{key}:{seq}")
    }
}

/// One copier stage: its topics and its replicas.
struct Stage {
    name: &'static str,
    input: String,
    output: String,
    retry: String,
    dlq: String,
    group: String,
    /// Per-key ordering across retries, when on.
    parking: Option<String>,
}

struct Fleet {
    kafka: KafkaConfig,
    options: String,
    static_membership: bool,
    logs: std::path::PathBuf,
    stages: Vec<Stage>,
    /// (stage, replica) -> process
    children: BTreeMap<(usize, usize), Child>,
}

impl Fleet {
    fn spawn(&mut self, stage: usize, replica: usize) {
        let s = &self.stages[stage];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{}-{replica}.log", s.name)))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_weft-copier"))
            .env("WEFT_BOOTSTRAP_SERVERS", &self.kafka.bootstrap_servers)
            .env("WEFT_COPIER_INPUT", &s.input)
            .env("WEFT_COPIER_OUTPUT", &s.output)
            .env("WEFT_RETRY_TOPIC", &s.retry)
            .env("WEFT_DLQ_TOPIC", &s.dlq)
            .env(
                "WEFT_PARKING_TOPIC",
                s.parking.as_deref().unwrap_or_default(),
            )
            .env("WEFT_GROUP_ID", &s.group)
            .env("WEFT_INSTANCE_ID", replica.to_string())
            .env("WEFT_KAFKA_OPTIONS", &self.options)
            .env(
                "WEFT_STATIC_MEMBERSHIP",
                if self.static_membership { "1" } else { "0" },
            )
            .env("WEFT_COPIER_DELAY_US", "200")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("weft-copier starts");
        self.children.insert((stage, replica), child);
    }

    /// Restarts replicas that exited on their own (as an orchestrator would); returns which
    /// (stage, replica).
    /// A replica may stop itself only on a Kafka failure it cannot heal (exit code 2: fenced,
    /// a fatal client error, the watchdog), never by crashing, panicking or a processor error:
    /// anything else fails the test.
    fn restart_exited(&mut self) -> Vec<(usize, usize)> {
        let exited: Vec<((usize, usize), std::process::ExitStatus)> = self
            .children
            .iter_mut()
            .filter_map(|(k, c)| c.try_wait().unwrap().map(|status| (*k, status)))
            .collect();
        for ((stage, replica), status) in &exited {
            assert_eq!(
                status.code(),
                Some(2),
                "replica {replica} of stage {stage} exited with {status}: only a Kafka failure \
                 (exit 2) may stop a replica; logs in {:?}",
                self.logs
            );
            self.spawn(*stage, *replica);
        }
        exited.into_iter().map(|(k, _)| k).collect()
    }

    fn kill(&mut self, stage: usize, replica: usize) {
        if let Some(c) = self.children.get_mut(&(stage, replica)) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn(stage, replica);
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in self.children.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn random_below(n: usize) -> usize {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as usize
}

async fn create(kafka: &KafkaConfig, topics: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create().unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(3)))
        .collect();
    let res = admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .unwrap();
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
}

/// Every committed record of `topic` as (key, value), start to end.
fn read_to_end(kafka: &KafkaConfig, topic: &str) -> Vec<(String, String)> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", unique("chaos-reader-"))
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut eof = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while eof.len() < PARTITIONS as usize {
        assert!(
            Instant::now() < deadline,
            "could not read {topic} to its end"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                eof.insert(p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            Some(Ok(m)) => {
                eof.remove(&m.partition());
                let text =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                out.push((text(m.key()), text(m.payload())));
            }
            None => {}
        }
    }
    out
}

struct Figures {
    events: usize,
    kills: usize,
    crashes: usize,
    produce_secs: f64,
    total_secs: f64,
    outputs_during_chaos: usize,
    longest_gap: Duration,
    /// The longest gap that did not overlap the broker's outage (from its kill until 10 s after
    /// it answered again): what replica kills alone cost.
    longest_replica_gap: Duration,
    /// Gaps over [`REPORTED_GAP`] and what happened around them, for the report.
    timeline: String,
}

/// Output gaps at least this long are listed in the figures, beside the kills.
const REPORTED_GAP: Duration = Duration::from_secs(5);
/// How long after the killed broker answers again its partitions' leadership and the
/// transaction coordinators may still be moving: gaps that overlap the outage or this settling
/// time count against the broker kill, not against the replica kills.
const BROKER_SETTLING: Duration = Duration::from_secs(10);

/// One way of running the replicas.
struct Mode {
    name: &'static str,
    /// `WEFT_KAFKA_OPTIONS` of every replica.
    options: &'static str,
    /// Per-key ordering across retries (a parking topic per stage).
    per_key_ordering: bool,
    /// `group.instance.id` from the replica number (classic protocol).
    static_membership: bool,
}

async fn chaos_run(cluster: &Cluster, mode: &Mode) -> Figures {
    let (options, per_key_ordering) = (mode.options, mode.per_key_ordering);
    let kafka = cluster.config();
    let events = env_num("WEFT_CHAOS_EVENTS", 8_000);
    let rate = env_num("WEFT_CHAOS_RATE", 400);
    let run = unique("chaos");
    let stage = |name: &'static str, input: String, output: String| Stage {
        name,
        retry: format!("{run}.{name}.retry.1s"),
        dlq: format!("{run}.{name}.dlq"),
        group: format!("{run}.{name}"),
        parking: per_key_ordering.then(|| format!("{run}.{name}.parking")),
        input,
        output,
    };
    let stages = vec![
        stage("a", format!("{run}.in"), format!("{run}.mid")),
        stage("b", format!("{run}.mid"), format!("{run}.out")),
    ];
    let mut topics: Vec<&str> = vec![];
    for s in &stages {
        topics.extend([s.input.as_str(), s.retry.as_str(), s.dlq.as_str()]);
        topics.extend(s.parking.as_deref());
    }
    let out_topic = stages[1].output.clone();
    topics.push(&out_topic);
    create(kafka, &topics).await;
    let mut fleet = Fleet {
        kafka: kafka.clone(),
        options: options.to_string(),
        static_membership: mode.static_membership,
        logs: std::env::temp_dir().join(&run),
        stages,
        children: BTreeMap::new(),
    };
    std::fs::create_dir_all(&fleet.logs).unwrap();
    for stage in 0..2 {
        for replica in 0..REPLICAS {
            fleet.spawn(stage, replica);
        }
    }

    // What must come out: inputs that are not poison, copied twice; poison in a's DLQ.
    let mut expected_out = BTreeSet::new();
    let mut expected_dlq = BTreeSet::new();
    let mut values = Vec::with_capacity(events);
    let mut seq = vec![0usize; KEYS];
    for i in 0..events {
        let v = input_value(i, seq[i % KEYS]);
        seq[i % KEYS] += 1;
        if v.ends_with(":poison") {
            expected_dlq.insert(v.clone());
        } else {
            expected_out.insert(format!("copied:copied:{v}"));
        }
        values.push(v);
    }

    // The paced producer.
    let producing = Arc::new(AtomicBool::new(true));
    // The first WARM_UP events (one per key) go first, unpaced: the chaos begins once all their
    // outputs are out, so it measures a running pipeline, not the replicas' start on a fresh
    // cluster (whose transaction log is created by the first transactional producer).
    let (warmed_up, warm_up_done) = std::sync::mpsc::channel::<()>();
    let warm_outputs: BTreeSet<String> = values[..WARM_UP]
        .iter()
        .filter(|v| !v.ends_with(":poison"))
        .map(|v| format!("copied:copied:{v}"))
        .collect();
    let produced = Arc::new(AtomicUsize::new(0));
    let producer_thread = {
        let kafka = kafka.clone();
        let input = fleet.stages[0].input.clone();
        let (producing, produced) = (producing.clone(), produced.clone());
        std::thread::spawn(move || {
            let producer: ThreadedProducer<DefaultProducerContext> = kafka
                .client_config()
                .set("enable.idempotence", "true")
                .set("partitioner", "murmur2_random")
                .set("linger.ms", "5")
                .create()
                .unwrap();
            let mut started = Instant::now();
            for (i, v) in values.iter().enumerate() {
                if i == WARM_UP {
                    producer.flush(Duration::from_secs(120)).unwrap();
                    warm_up_done
                        .recv()
                        .expect("the test waits for the warm-up's outputs");
                    started = Instant::now();
                }
                let paced = i.saturating_sub(WARM_UP);
                let due = started + Duration::from_secs_f64(paced as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let key = format!("k{}", i % KEYS);
                let mut record = BaseRecord::to(&input).key(&key).payload(v);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, back)) => {
                            record = back;
                            producer.poll(Duration::from_millis(20));
                        }
                    }
                }
                produced.fetch_add(1, Ordering::SeqCst);
            }
            producer.flush(Duration::from_secs(120)).unwrap();
            producing.store(false, Ordering::SeqCst);
            started.elapsed()
        })
    };

    // The concurrent reader, and the chaos.
    let reader: BaseConsumer = kafka
        .client_config()
        .set("group.id", unique("chaos-live-"))
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(&out_topic, p, Offset::Beginning)
            .unwrap();
    }
    reader.assign(&tpl).unwrap();
    let mut seen = BTreeSet::new();
    let warm_deadline = Instant::now() + Duration::from_secs(180);
    while !warm_outputs.is_subset(&seen) {
        assert!(
            Instant::now() < warm_deadline,
            "the warm-up's outputs did not all arrive within 180 s ({options}); logs in {:?}",
            fleet.logs
        );
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(50)) {
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        let _ = fleet.restart_exited();
    }
    warmed_up.send(()).unwrap();
    let started = Instant::now();
    let mut last_arrival: BTreeMap<i32, Instant> = BTreeMap::new();
    // Every gap of an output partition while there was input: (from, to, partition).
    let mut gaps: Vec<(Instant, Instant, i32)> = vec![];
    // What the chaos did, and when: (at, what).
    let mut happened: Vec<(Instant, String)> = vec![];
    let mut chaos_ended: Option<Instant> = None;
    let mut broker_up_at: Option<Instant> = None;
    let mut outputs_during_chaos = 0;
    let mut next_kill = Instant::now() + Duration::from_secs(5);
    let (mut kills, mut crashes) = (0, 0);
    let mut broker_killed_at: Option<Instant> = None;
    // The restart runs on its own thread: the reader and the replicas' restarts go on meanwhile.
    let mut restarting: Option<std::thread::JoinHandle<(bool, String)>> = None;
    let deadline = Instant::now() + Duration::from_secs((events / rate) as u64 + 240);
    while seen.len() < expected_out.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} outputs after {:?} ({options}); logs in {:?}",
            seen.len(),
            expected_out.len(),
            started.elapsed(),
            fleet.logs
        );
        let chaos = producing.load(Ordering::SeqCst);
        if !chaos && chaos_ended.is_none() {
            chaos_ended = Some(Instant::now());
        }
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(50)) {
            let now = Instant::now();
            if chaos {
                outputs_during_chaos += 1;
            }
            // A gap counts when it began while input was still coming: a partition that
            // stalled near the end of the input is measured when it catches up.
            if let Some(prev) = last_arrival.get(&m.partition()) {
                if chaos_ended.is_none_or(|end| *prev < end) {
                    gaps.push((*prev, now, m.partition()));
                }
            }
            last_arrival.insert(m.partition(), now);
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        for (stage, replica) in fleet.restart_exited() {
            crashes += 1;
            happened.push((
                Instant::now(),
                format!(
                    "{}-{replica} exited (2), restarted",
                    fleet.stages[stage].name
                ),
            ));
        }
        if chaos && Instant::now() >= next_kill {
            let (stage, replica) = (random_below(2), random_below(REPLICAS));
            fleet.kill(stage, replica);
            happened.push((
                Instant::now(),
                format!("{}-{replica} SIGKILLed", fleet.stages[stage].name),
            ));
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(4_000 + random_below(2_000) as u64);
        }
        // Once, at 40% of the input, kill -9 a broker; restart it 10 s later.
        if broker_killed_at.is_none() && produced.load(Ordering::SeqCst) * 10 >= events * 4 {
            let (ok, out) = cluster.command(&["kill", "2"]);
            assert!(ok, "{out}");
            broker_killed_at = Some(Instant::now());
            happened.push((Instant::now(), "broker 2 kill -9".to_string()));
        }
        if let Some(at) = broker_killed_at {
            if restarting.is_none() && at.elapsed() >= Duration::from_secs(10) {
                restarting = Some(cluster.spawn_command(&["restart", "2"]));
                happened.push((Instant::now(), "broker 2 restarting".to_string()));
            }
        }
        if broker_up_at.is_none() && restarting.as_ref().is_some_and(|r| r.is_finished()) {
            broker_up_at = Some(Instant::now());
            happened.push((Instant::now(), "broker 2 answers again".to_string()));
        }
    }
    let produce_time = producer_thread.join().unwrap();
    let restarting = restarting.unwrap_or_else(|| cluster.spawn_command(&["restart", "2"]));
    let (ok, out) = restarting.join().unwrap();
    assert!(ok, "restarting broker 2: {out}");
    let total = started.elapsed();
    let broker_up_at = broker_up_at.unwrap_or_else(Instant::now);
    let outage = broker_killed_at.expect("the broker was killed")..broker_up_at + BROKER_SETTLING;
    let longest_gap = gaps
        .iter()
        .map(|(from, to, _)| *to - *from)
        .max()
        .unwrap_or_default();
    let longest_replica_gap = gaps
        .iter()
        .filter(|(from, to, _)| *to <= outage.start || *from >= outage.end)
        .map(|(from, to, _)| *to - *from)
        .max()
        .unwrap_or_default();
    let at = |i: Instant| i.saturating_duration_since(started).as_secs_f64();
    let mut timeline: Vec<(f64, String)> = happened
        .iter()
        .map(|(i, what)| (at(*i), what.clone()))
        .collect();
    for (from, to, partition) in &gaps {
        if *to - *from >= REPORTED_GAP {
            let during_outage = *to > outage.start && *from < outage.end;
            timeline.push((
                at(*from),
                format!(
                    "out[{partition}] silent {:.1} s{}",
                    (*to - *from).as_secs_f64(),
                    if during_outage {
                        " (broker outage)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
    let timeline: String = timeline
        .iter()
        .map(|(t, what)| format!("  {t:6.1} s  {what}\n"))
        .collect();
    for c in fleet.children.values_mut() {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    // SIGTERM stops a replica at its next loop turn; one stuck in a client call that never
    // returns is ended by its watchdog (weft_runtime::watchdog) instead.
    let stop_deadline =
        Instant::now() + weft_runtime::watchdog::STALL_LIMIT + Duration::from_secs(15);
    for ((stage, replica), c) in fleet.children.iter_mut() {
        loop {
            if c.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                Instant::now() < stop_deadline,
                "replica {replica} of stage {stage} neither stopped on SIGTERM nor was ended by \
                 its watchdog ({options}); logs in {:?}",
                fleet.logs
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // Exactly once, by id (a multiset), with per-key order.
    let out = read_to_end(kafka, &out_topic);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (key, value) in &out {
        let n = counts.entry(value.as_str()).or_default();
        *n += 1;
        if *n == 1 && (per_key_ordering || !value.ends_with(":transient")) {
            // copied:copied:evt:<i>:k<key>:<seq>[:transient]
            let fields: Vec<&str> = value.split(':').collect();
            let seq: usize = fields[5].parse().unwrap();
            order.entry(key.as_str()).or_default().push(seq);
        }
    }
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates ({options}): {dups:?}");
    let ids: BTreeSet<String> = counts.keys().map(|s| s.to_string()).collect();
    assert_eq!(
        ids, expected_out,
        "outputs differ from the inputs ({options})"
    );
    for (key, seqs) in &order {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "order broken for {key} ({options}): {seqs:?}"
        );
    }
    let mut dlq: BTreeMap<String, usize> = BTreeMap::new();
    for (_, v) in read_to_end(kafka, &fleet.stages[0].dlq) {
        *dlq.entry(v).or_default() += 1;
    }
    let wanted: BTreeMap<String, usize> = expected_dlq.iter().map(|v| (v.clone(), 1)).collect();
    assert_eq!(
        dlq, wanted,
        "a's dead letters: each poison input exactly once ({options})"
    );
    let b_dead = read_to_end(kafka, &fleet.stages[1].dlq);
    assert!(
        b_dead.is_empty(),
        "b dead-lettered {} records ({options})",
        b_dead.len()
    );
    assert!(
        longest_gap < Duration::from_secs(30),
        "an output partition stalled for {longest_gap:?} ({options})"
    );
    Figures {
        events,
        kills,
        crashes,
        produce_secs: produce_time.as_secs_f64(),
        total_secs: total.as_secs_f64(),
        outputs_during_chaos,
        longest_gap,
        longest_replica_gap,
        timeline,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_under_replica_and_broker_kills() {
    let cluster = Cluster::start(CLUSTER_PORT);
    // Per-key ordering needs co-partitioning, which only the range assignor gives: it runs
    // with eager assignment, where the order check covers the retried records too. Static
    // membership is tried with both classic assignors; KIP-848 groups are dynamic.
    let modes = [
        Mode {
            name: "eager + per-key ordering, static membership",
            options: "partition.assignment.strategy=range",
            per_key_ordering: true,
            static_membership: true,
        },
        Mode {
            name: "cooperative-sticky",
            options: "partition.assignment.strategy=cooperative-sticky",
            per_key_ordering: false,
            static_membership: false,
        },
        Mode {
            name: "cooperative-sticky, static membership",
            options: "partition.assignment.strategy=cooperative-sticky",
            per_key_ordering: false,
            static_membership: true,
        },
        Mode {
            name: "KIP-848",
            options: "group.protocol=consumer",
            per_key_ordering: false,
            static_membership: false,
        },
    ];
    // WEFT_CHAOS_MODES ('|'-separated parts of mode names) runs some of them; all by default.
    let only: Vec<String> = std::env::var("WEFT_CHAOS_MODES")
        .unwrap_or_default()
        .split('|')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let chosen: Vec<&Mode> = modes
        .iter()
        .filter(|m| only.is_empty() || only.iter().any(|o| m.name.contains(o.as_str())))
        .collect();
    assert!(
        !chosen.is_empty(),
        "WEFT_CHAOS_MODES {only:?} matches no mode"
    );
    for mode in chosen {
        let name = mode.name;
        let f = chaos_run(&cluster, mode).await;
        eprintln!(
            "chaos {name}: {} events through 2 stages x {REPLICAS} replicas, {} replica SIGKILLs, \
             {} self-exits restarted, 1 broker kill -9; input over {:.1} s (after a warm-up of \
             {WARM_UP}), all outputs after \
             {:.1} s; {} outputs during the chaos ({:.0}/s against {:.0}/s in); longest gap of \
             an output partition {:.1} s, {:.1} s apart from the broker's outage\n{}",
            f.events,
            f.kills,
            f.crashes,
            f.produce_secs,
            f.total_secs,
            f.outputs_during_chaos,
            f.outputs_during_chaos as f64 / f.produce_secs,
            (f.events - WARM_UP) as f64 / f.produce_secs,
            f.longest_gap.as_secs_f64(),
            f.longest_replica_gap.as_secs_f64(),
            f.timeline
        );
    }
}
