//! Exactly-once proof against the real broker, after Apache Kafka's `transactions_test.py`:
//! 50,000 keyed events (1% poison, 1% undecodable) copied by `weft-copier` (the transaction loop
//! every weft processor runs on) as OS processes: one instance, scaled to three at 10% progress,
//! SIGKILLed and restarted four times mid-stream, scaled back to one (SIGTERM, exit 0) at 80%;
//! a concurrent and a final read_committed reader count event ids.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

struct Copiers {
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
        Command::new(env!("CARGO_BIN_EXE_weft-copier"))
            .env("WEFT_BOOTSTRAP_SERVERS", broker().bootstrap_servers)
            .env("WEFT_COPIER_INPUT", &self.input)
            .env("WEFT_COPIER_OUTPUT", &self.output)
            .env("WEFT_DLQ_TOPIC", &self.dlq)
            .env("WEFT_GROUP_ID", &self.group)
            .env("WEFT_INSTANCE_ID", instance.to_string())
            .env(
                "WEFT_KAFKA_OPTIONS",
                "session.timeout.ms=6000,heartbeat.interval.ms=500",
            )
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
async fn copies_exactly_once_through_sigkills() {
    let run = unique("eos");
    let mut copiers = Copiers {
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
        "exactly-once: {} events, {} copied, {} dead-lettered, {kills} SIGKILLs, scaled 1->3->1, {dups} duplicate ids",
        EVENTS,
        expected_out.len(),
        dlq_values.len()
    );
}
