//! Exactly-once proof against the real broker, after Apache Kafka's `transactions_test.py`:
//! 50,000 keyed events (1% poison, 1% undecodable) copied by `weft-copier` (the transaction loop
//! every weft processor runs on) as OS processes: one instance, scaled to three at 10% progress,
//! SIGKILLed and restarted four times mid-stream, scaled back to one (SIGTERM, exit 0) at 80%;
//! a concurrent and a final read_committed reader count event ids. It runs with each group
//! assignment a user can choose: eager (range), cooperative-sticky, and KIP-848
//! (`group.protocol=consumer`), where a revocation keeps the other partitions.
//!
//! Also: an output the broker refuses (a record over the topic's `max.message.bytes`) stops the
//! copier with the topic and the broker's error after a bounded number of aborts.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use weft_testkit::{broker, create_topics, read_to_end, reader, unique, ReadRecord};

const PARTITIONS: i32 = 3;
const EVENTS: usize = 50_000;
const KEYS: usize = 100;

/// The input: `evt:<id>:<key>:<seq>`; 1% marked poison, 1% not `evt:` at all (undecodable).
fn input_value(i: usize, seq: usize) -> String {
    let key = i % KEYS;
    match i % 100 {
        37 => format!("garbage-{i}"),
        73 => format!("evt:{i}:k{key}:{seq}:poison"),
        _ => format!("evt:{i}:k{key}:{seq}"),
    }
}

/// A `weft-copier` command from `input` to `output` with dead letters to `dlq`, in `group`, as
/// instance `instance`, on the test broker; callers add their own settings and spawn it.
fn copier(input: &str, output: &str, dlq: &str, group: &str, instance: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft-copier"));
    command
        .env("WEFT_BOOTSTRAP_SERVERS", broker().bootstrap_servers)
        .env("WEFT_COPIER_INPUT", input)
        .env("WEFT_COPIER_OUTPUT", output)
        .env("WEFT_DLQ_TOPIC", dlq)
        .env("WEFT_GROUP_ID", group)
        .env("WEFT_INSTANCE_ID", instance);
    command
}

struct Copiers {
    /// `WEFT_KAFKA_OPTIONS` of every copier (the assignment protocol).
    options: String,
    input: String,
    output: String,
    dlq: String,
    group: String,
    /// Copier logs, kept after the test for diagnosis.
    logs: std::path::PathBuf,
    children: Vec<Child>,
}

impl Copiers {
    fn spawn(&self, instance: usize) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("copier-{instance}.log")))
            .unwrap();
        copier(
            &self.input,
            &self.output,
            &self.dlq,
            &self.group,
            &instance.to_string(),
        )
        .env("WEFT_KAFKA_OPTIONS", &self.options)
        // 300 µs of work per record: the backlog takes seconds, so scaling and kills land
        // in open transactions (without it the copiers finish before the group rebalances).
        .env("WEFT_COPIER_DELAY_US", "300")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("weft-copier starts")
    }
}

impl Drop for Copiers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SIGTERM, then the exit code (within 30 s).
async fn stop(c: &mut Child) -> Option<i32> {
    let ok = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let stop_by = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s.code();
        }
        assert!(
            Instant::now() < stop_by,
            "a copier did not stop within 30 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_exactly_once_through_sigkills_eager() {
    copies_exactly_once_through_sigkills("partition.assignment.strategy=range").await
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_exactly_once_through_sigkills_cooperative_sticky() {
    copies_exactly_once_through_sigkills("partition.assignment.strategy=cooperative-sticky").await
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_exactly_once_through_sigkills_kip848() {
    copies_exactly_once_through_sigkills("group.protocol=consumer").await
}

async fn copies_exactly_once_through_sigkills(options: &str) {
    let run = unique("eos");
    let mut copiers = Copiers {
        options: options.to_string(),
        input: format!("{run}.in"),
        output: format!("{run}.out"),
        dlq: format!("{run}.dlq"),
        group: format!("{run}.copier"),
        logs: std::env::temp_dir().join(&run),
        children: vec![],
    };
    std::fs::create_dir_all(&copiers.logs).unwrap();
    create_topics(&[&copiers.input, &copiers.output, &copiers.dlq], PARTITIONS).await;

    // Input, keyed by entity, with a per-key sequence number.
    let producer: ThreadedProducer<DefaultProducerContext> = broker()
        .client_config()
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let mut expected_out = BTreeSet::new();
    let mut expected_dlq = BTreeSet::new();
    let mut seq = vec![0usize; KEYS];
    for i in 0..EVENTS {
        let key = format!("k{}", i % KEYS);
        let value = input_value(i, seq[i % KEYS]);
        seq[i % KEYS] += 1;
        if value.starts_with("evt:") && !value.ends_with(":poison") {
            expected_out.insert(format!("copied:{value}"));
        } else {
            expected_dlq.insert(value.clone());
        }
        let mut record = BaseRecord::to(&copiers.input).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();

    // One instance, scaled to three; SIGKILL one at each progress mark and restart it with the
    // same identity (it fences its predecessor); scaled back to one near the end.
    copiers.children = vec![copiers.spawn(0)];
    let concurrent = reader(&copiers.output, PARTITIONS, "read_committed");
    let mut seen = BTreeSet::new();
    let marks = [0.20, 0.35, 0.50, 0.65];
    let mut kills = 0;
    let (mut scaled_up, mut scaled_down) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.len() < expected_out.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} events copied; copier logs in {:?}",
            seen.len(),
            expected_out.len(),
            copiers.logs
        );
        if let Some(Ok(m)) = concurrent.poll(Duration::from_millis(100)) {
            seen.insert(ReadRecord::of(&m).value);
        }
        let progress = seen.len() as f64 / expected_out.len() as f64;
        if !scaled_up && progress >= 0.10 {
            copiers.children.push(copiers.spawn(1));
            copiers.children.push(copiers.spawn(2));
            scaled_up = true;
        }
        if !scaled_down && progress >= 0.80 {
            for mut c in copiers.children.drain(1..).collect::<Vec<_>>() {
                assert_eq!(
                    stop(&mut c).await,
                    Some(0),
                    "scale-down SIGTERM must exit 0"
                );
            }
            scaled_down = true;
        }
        if kills < marks.len() && progress >= marks[kills] && !scaled_down {
            let victim = kills % copiers.children.len();
            copiers.children[victim].kill().unwrap(); // SIGKILL
            copiers.children[victim].wait().unwrap();
            copiers.children[victim] = copiers.spawn(victim);
            kills += 1;
        }
    }
    assert_eq!(
        kills,
        marks.len(),
        "every planned SIGKILL happened mid-stream"
    );
    assert!(scaled_up && scaled_down, "scaled 1 -> 3 -> 1 mid-stream");
    assert_eq!(
        seen, expected_out,
        "the concurrent read_committed reader saw other ids"
    );

    // Clean shutdown: SIGTERM commits, leaves the group and exits 0.
    for mut c in copiers.children.drain(..).collect::<Vec<_>>() {
        assert_eq!(stop(&mut c).await, Some(0), "SIGTERM must end in exit 0");
    }

    // Final read: every id, per-key order, dead letters with their headers.
    let out = read_to_end(&copiers.output, PARTITIONS, "read_committed");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for r in &out {
        let n = counts.entry(r.value.as_str()).or_insert(0);
        *n += 1;
        if *n == 1 {
            let seq: usize = r.value.rsplit(':').next().unwrap().parse().unwrap();
            order.entry(r.key.as_str()).or_default().push(seq);
        }
    }
    let ids: BTreeSet<String> = counts.keys().map(|s| s.to_string()).collect();
    assert_eq!(
        ids, expected_out,
        "final read_committed ids differ from the input's good ids"
    );
    for (key, seqs) in &order {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "order broken for {key}: {seqs:?}"
        );
    }
    let dups: Vec<(&str, usize)> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| (*id, *n))
        .collect();
    assert!(dups.is_empty(), "duplicates under read_committed: {dups:?}");
    let dups = dups.len();

    let dlq = read_to_end(&copiers.dlq, PARTITIONS, "read_committed");
    // A multiset: each poison input exactly once, none twice.
    let mut dlq_values: BTreeMap<String, usize> = BTreeMap::new();
    for r in &dlq {
        *dlq_values.entry(r.value.clone()).or_default() += 1;
    }
    let expected_dlq_counts: BTreeMap<String, usize> =
        expected_dlq.iter().map(|v| (v.clone(), 1)).collect();
    assert_eq!(
        dlq_values, expected_dlq_counts,
        "dead letters differ from the poison and undecodable inputs (each exactly once)"
    );
    for r in &dlq {
        assert_eq!(r.headers["weft-dlq-error-class"], "poison");
        assert_eq!(r.headers["weft-dlq-source-topic"], copiers.input);
        assert_eq!(r.headers["weft-dlq-processor"], "weft-copier");
        assert_eq!(r.headers["weft-dlq-attempt"], "1");
        assert!(r.headers.contains_key("weft-dlq-source-offset"));
        assert!(!r.headers["weft-dlq-error-message"].is_empty());
    }
    eprintln!(
        "exactly-once ({options}): {} events, {} copied, {} dead-lettered, {kills} SIGKILLs, scaled 1->3->1, {dups} duplicate ids",
        EVENTS,
        expected_out.len(),
        dlq_values.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_output_the_broker_refuses_stops_the_copier_naming_the_topic() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let run = unique("refused");
    let copiers = Copiers {
        options: String::new(),
        input: format!("{run}.in"),
        output: format!("{run}.out"),
        dlq: format!("{run}.dlq"),
        group: format!("{run}.copier"),
        logs: std::env::temp_dir().join(&run),
        children: vec![],
    };
    std::fs::create_dir_all(&copiers.logs).unwrap();
    create_topics(&[&copiers.input, &copiers.dlq], 1).await;
    // The output takes records of at most 1,000 bytes.
    let admin: AdminClient<_> = broker().client_config().create().unwrap();
    let small = NewTopic::new(&copiers.output, 1, TopicReplication::Fixed(1))
        .set("max.message.bytes", "1000");
    let created = admin
        .create_topics([&small], &AdminOptions::new())
        .await
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    let producer: ThreadedProducer<DefaultProducerContext> =
        broker().client_config().create().unwrap();
    let big = format!("evt:big:k1:0:{}", "x".repeat(5_000));
    producer
        .send(BaseRecord::to(&copiers.input).key("k1").payload(&big))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();

    let mut child = copier(
        &copiers.input,
        &copiers.output,
        &copiers.dlq,
        &copiers.group,
        "0",
    )
    .env("WEFT_MAX_CONSECUTIVE_ABORTS", "3")
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the copier kept retrying an undeliverable batch for 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&copiers.output),
        "the error names the topic: {last}"
    );
    assert!(
        last.to_lowercase().contains("too large"),
        "the error gives the broker's reason: {last}"
    );
    assert!(last.contains("3 transactions in a row"), "{last}");
    // Nothing of the aborted attempts is visible, and the input was not dead-lettered.
    assert!(read_to_end(&copiers.output, 1, "read_committed").is_empty());
    assert!(read_to_end(&copiers.dlq, 1, "read_committed").is_empty());
}

/// The topics of a per-key ordered copier (input, retry tier and parking co-partitioned, like
/// everything the copier writes: murmur2).
struct Ordered {
    input: String,
    output: String,
    retry: String,
    dlq: String,
    parking: String,
    group: String,
}

impl Ordered {
    async fn create(run: &str) -> Self {
        let o = Ordered {
            input: format!("{run}.in"),
            output: format!("{run}.out"),
            retry: format!("{run}.retry.1s"),
            dlq: format!("{run}.dlq"),
            parking: format!("{run}.parking"),
            group: format!("{run}.copier"),
        };
        create_topics(
            &[&o.input, &o.output, &o.retry, &o.dlq, &o.parking],
            PARTITIONS,
        )
        .await;
        o
    }

    fn copier(&self) -> Command {
        let mut c = copier(&self.input, &self.output, &self.dlq, &self.group, "0");
        c.env("WEFT_RETRY_TOPIC", &self.retry)
            .env("WEFT_PARKING_TOPIC", &self.parking)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn producer(&self) -> ThreadedProducer<DefaultProducerContext> {
        broker()
            .client_config()
            .set("partitioner", "murmur2_random")
            .create()
            .unwrap()
    }

    fn send(&self, producer: &ThreadedProducer<DefaultProducerContext>, key: &str, value: &str) {
        producer
            .send(BaseRecord::to(&self.input).key(key).payload(value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

/// Reads `reader` until it has `n` records (60 s at most).
fn read_n(reader: &BaseConsumer, n: usize) -> Vec<ReadRecord> {
    let mut seen: Vec<ReadRecord> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} outputs: {seen:?}",
            seen.len(),
        );
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(100)) {
            seen.push(ReadRecord::of(&m));
        }
    }
    seen
}

/// Per-key ordering across retries: the first record of a key fails once and goes through the
/// retry tier; the later records of that key are parked behind it and come out after it, in
/// order; another key is not held. Run twice over the same state: the second copier restores
/// the parking topic.
#[tokio::test(flavor = "multi_thread")]
async fn per_key_ordering_keeps_a_keys_order_across_a_retry() {
    let topics = Ordered::create(&unique("ordered")).await;
    let producer = topics.producer();
    let records = [
        ("slow", "evt:1:slow:0:transient"),
        ("slow", "evt:2:slow:1"),
        ("other", "evt:3:other:0"),
        ("slow", "evt:4:slow:2"),
        ("other", "evt:5:other:1"),
    ];
    for (key, value) in records {
        topics.send(&producer, key, value);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let mut copier = topics.copier().spawn().unwrap();
    let live = reader(&topics.output, PARTITIONS, "read_committed");
    let seen = read_n(&live, records.len());
    assert_eq!(stop(&mut copier).await, Some(0));
    let of = |key: &str| -> Vec<String> {
        seen.iter()
            .filter(|r| r.key == key)
            .map(|r| r.value.clone())
            .collect()
    };
    assert_eq!(
        of("slow"),
        [
            "copied:evt:1:slow:0:transient",
            "copied:evt:2:slow:1",
            "copied:evt:4:slow:2"
        ],
        "the key's records in the order they came, the retried one first"
    );
    assert_eq!(
        of("other"),
        ["copied:evt:3:other:0", "copied:evt:5:other:1"]
    );
    // Exactly once, and the parking state of the key ends empty.
    let all = read_to_end(&topics.output, PARTITIONS, "read_committed");
    assert_eq!(all.len(), records.len(), "{all:?}");
    let states = read_to_end(&topics.parking, PARTITIONS, "read_committed");
    let last = states
        .iter()
        .rev()
        .find(|r| r.key == "slow")
        .expect("the key was parked");
    assert_eq!(last.value, "", "the last state of the key is a tombstone");
    assert!(
        states.iter().any(|r| r.key == "slow"
            && serde_json::from_str::<Vec<serde_json::Value>>(&r.value)
                .is_ok_and(|q| q.len() == 3)),
        "three records of the key waited at once: {states:?}"
    );
}

/// Per-key ordering under a steady stream: while a key's first record waits in the 1 s retry
/// tier, its later records are parked; once it succeeds, the parked ones come back right behind
/// it (not a tier delay after each was parked) and the queue empties, so the key's records that
/// arrive after that are processed directly. Before parked records were due with the records
/// ahead of them, every record of a key arriving more often than the tier delay was parked for
/// as long as the stream went on (the chaos test's per-key ordered run wrote ~50,000 parked
/// records for ~33,000 inputs per replica).
#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_keys_queue_empties_once_its_head_succeeds() {
    let topics = Ordered::create(&unique("drains")).await;
    let producer = topics.producer();
    let mut copier = topics.copier().spawn().unwrap();
    let live = reader(&topics.output, PARTITIONS, "read_committed");
    // The copier is up and caught up once another key's record is out.
    topics.send(&producer, "other", "evt:0:other:0");
    read_n(&live, 1);
    // The head fails once; 40 later records of the key follow at 10/s (4 s, four times the
    // tier delay).
    const LATER: usize = 40;
    topics.send(&producer, "slow", "evt:1:slow:0:transient");
    for i in 1..=LATER {
        std::thread::sleep(Duration::from_millis(100));
        topics.send(&producer, "slow", &format!("evt:{}:slow:{i}", i + 1));
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let seen = read_n(&live, LATER + 1);
    assert_eq!(stop(&mut copier).await, Some(0));
    let seqs: Vec<usize> = seen
        .iter()
        .map(|r| r.value.rsplit(':').find_map(|f| f.parse().ok()).unwrap())
        .collect();
    assert_eq!(
        seqs,
        (0..=LATER).collect::<Vec<_>>(),
        "the key's records in order"
    );
    let all = read_to_end(&topics.output, PARTITIONS, "read_committed");
    assert_eq!(all.len(), LATER + 2, "exactly once: {all:?}");
    // How many of the later records were parked (each is its own source offset).
    let parked: BTreeSet<String> = read_to_end(&topics.retry, PARTITIONS, "read_committed")
        .into_iter()
        .filter(|r| r.headers.get("weft-parked").is_some_and(|v| v == "true"))
        .map(|r| r.headers["weft-dlq-source-offset"].clone())
        .collect();
    eprintln!(
        "{} of {LATER} later records of the waiting key were parked",
        parked.len()
    );
    assert!(
        !parked.is_empty(),
        "records that came while the head waited were parked"
    );
    assert!(
        parked.len() <= LATER / 2,
        "{} of {LATER} later records were parked: the key's queue did not empty once its head \
         succeeded (about 1 s after the first)",
        parked.len()
    );
}

/// A retry is not stuck behind an input backlog. A consumer hands out records through one queue
/// in the order it fetched them and bounds its prefetch on that queue, so while an input has a
/// backlog a retry partition was fetched and read only after everything queued ahead of it (here:
/// the whole backlog; it came out last of its partition's 23,401). Each retry partition now has a
/// queue of its own, polled first (`weft_runtime::retry_queues`). A transient record first, then
/// a backlog of 60,000 records that takes the copier several seconds (100 µs of work each, all of
/// it fits the prefetch bound): the retried record (due after 1 s) must come out in the first
/// half of its partition's outputs.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_is_read_before_the_inputs_backlog() {
    let topics = Ordered::create(&unique("retryfirst")).await;
    let producer = topics.producer();
    const BACKLOG: usize = 60_000;
    topics.send(&producer, "t", "evt:0:t:0:transient");
    for i in 1..=BACKLOG {
        topics.send(
            &producer,
            &format!("k{}", i % 100),
            &format!("evt:{i}:k:{i}"),
        );
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let mut copier = copier(
        &topics.input,
        &topics.output,
        &topics.dlq,
        &topics.group,
        "0",
    )
    .env("WEFT_RETRY_TOPIC", &topics.retry)
    .env("WEFT_COPIER_DELAY_US", "100")
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let live = reader(&topics.output, PARTITIONS, "read_committed");
    read_n(&live, BACKLOG + 1);
    assert_eq!(stop(&mut copier).await, Some(0));
    let all = read_to_end(&topics.output, PARTITIONS, "read_committed");
    assert_eq!(all.len(), BACKLOG + 1, "exactly once");
    let retried = all
        .iter()
        .find(|r| r.value.ends_with(":transient"))
        .expect("the retried record was copied");
    // Its place among the outputs of its partition (written in the order they were copied).
    let partition: Vec<&ReadRecord> = all
        .iter()
        .filter(|r| r.partition == retried.partition)
        .collect();
    let place = partition
        .iter()
        .position(|r| r.value.ends_with(":transient"))
        .unwrap();
    eprintln!(
        "the retried record came out at place {place} of {} in its partition",
        partition.len()
    );
    assert!(
        place * 2 < partition.len(),
        "the retried record came out at place {place} of {} records of its partition: it waited \
         behind the inputs' backlog",
        partition.len()
    );
}

/// `weft_core::kafka::flush_in_flight`, which every commit of the loop now waits with: on a
/// producer whose reports a background thread serves it returns once every record is delivered
/// and reported (nothing left in flight, every record read back); on a producer nobody polls
/// its reports are never served, and it says so by timing out instead of returning early.
#[tokio::test(flavor = "multi_thread")]
async fn flush_in_flight_returns_when_every_record_is_delivered() {
    use rdkafka::producer::BaseProducer;
    use weft_core::kafka::flush_in_flight;

    let topic = unique("flush-in-flight");
    create_topics(&[&topic], PARTITIONS).await;
    let threaded: ThreadedProducer<DefaultProducerContext> =
        broker().client_config().create().unwrap();
    for i in 0..500 {
        let key = format!("k{i}");
        threaded
            .send(BaseRecord::to(&topic).key(&key).payload("v"))
            .unwrap();
    }
    flush_in_flight(threaded.client(), Duration::from_secs(30)).unwrap();
    assert_eq!(threaded.in_flight_count(), 0);
    assert_eq!(read_to_end(&topic, PARTITIONS, "read_committed").len(), 500);

    let unpolled: BaseProducer = broker().client_config().create().unwrap();
    unpolled
        .send(BaseRecord::to(&topic).key("late").payload("v"))
        .unwrap();
    let err = flush_in_flight(unpolled.client(), Duration::from_millis(500)).unwrap_err();
    assert!(
        matches!(
            err,
            rdkafka::error::KafkaError::Flush(rdkafka::types::RDKafkaErrorCode::OperationTimedOut)
        ),
        "{err}"
    );
    assert!(unpolled.in_flight_count() > 0);
}

/// A partition that holds only an aborted transaction (records and their abort marker: a killed
/// writer's, an aborted dual write's), on which the group never committed, is committed past
/// its marker once the copier is idle: otherwise the group's lag there stays above 0 forever
/// and anything waiting for the group to catch up waits forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_partition_holding_only_an_aborted_transaction_is_committed_past_it() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::BaseProducer;
    use rdkafka::{Offset, TopicPartitionList};

    let run = unique("aborted-only");
    let (input, output, dlq, group) = (
        format!("{run}.in"),
        format!("{run}.out"),
        format!("{run}.dlq"),
        format!("{run}.copier"),
    );
    create_topics(&[&input, &output, &dlq], 2).await;
    // Partition 0: one record. Partition 1: three records of a transaction that is aborted.
    let plain: ThreadedProducer<DefaultProducerContext> =
        broker().client_config().create().unwrap();
    plain
        .send(
            BaseRecord::to(&input)
                .partition(0)
                .key("k0")
                .payload("evt:0:k0:0"),
        )
        .unwrap();
    plain.flush(Duration::from_secs(30)).unwrap();
    let txn: BaseProducer = broker()
        .client_config()
        .set("transactional.id", format!("{run}-writer"))
        .create()
        .unwrap();
    txn.init_transactions(Duration::from_secs(30)).unwrap();
    txn.begin_transaction().unwrap();
    for i in 1..=3 {
        let value = format!("evt:{i}:k1:0");
        txn.send(
            BaseRecord::to(&input)
                .partition(1)
                .key("k1")
                .payload(&value),
        )
        .unwrap();
    }
    txn.flush(Duration::from_secs(30)).unwrap();
    txn.abort_transaction(Duration::from_secs(30)).unwrap();
    // The coordinator writes the abort marker after abort_transaction returns: wait for it
    // (the stable end, as a read_committed client sees it, reaches 4 only then).
    let marked = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, end) = txn
            .client()
            .fetch_watermarks(&input, 1, Duration::from_secs(10))
            .unwrap();
        if end == 4 {
            break;
        }
        assert!(
            Instant::now() < marked,
            "partition 1 should hold three aborted records and the abort marker: end {end}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut copier = copier(&input, &output, &dlq, &group, "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let looker: BaseConsumer = broker()
        .client_config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&input, 0);
    tpl.add_partition(&input, 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        let got: Vec<Offset> = looker
            .committed_offsets(tpl.clone(), Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .map(|e| e.offset())
            .collect();
        if got == [Offset::Offset(1), Offset::Offset(4)] {
            break got;
        }
        if Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(stop(&mut copier).await, Some(0));
    assert_eq!(
        committed,
        [Offset::Offset(1), Offset::Offset(4)],
        "partition 0 past its record, partition 1 past the abort marker (within 60 s)"
    );
    let copied = read_to_end(&output, 2, "read_committed");
    assert_eq!(
        copied.len(),
        1,
        "only the committed record is copied: {copied:?}"
    );
}
