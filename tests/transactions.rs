//! Transaction smoke test through the bundled librdkafka against the real broker: a committed
//! transaction is visible to a read_committed reader, an aborted one is not, and (on Apache
//! Kafka) the aborted records are visible to a read_uncommitted reader. Counted by record ids.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use weft_testkit::{broker, create_topics, read_to_end, unique};

const PARTITIONS: i32 = 3;
const T: Duration = Duration::from_secs(30);

fn send_batch(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    prefix: &str,
    n: usize,
) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        let key = format!("key-{}", i % 7);
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&id))
            .map_err(|(e, _)| e)
            .unwrap();
        ids.insert(id);
    }
    ids
}

/// Counts each id read from every partition of `topic`, start to end.
fn read_all(topic: &str, isolation: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for r in read_to_end(topic, PARTITIONS, isolation) {
        *seen.entry(r.value).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_is_visible_aborted_is_not() {
    let topic = unique("smoke.txn.");
    create_topics(&[&topic], PARTITIONS).await;
    let producer: ThreadedProducer<DefaultProducerContext> = broker()
        .client_config()
        .set("transactional.id", unique("smoke-txn-"))
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    producer.init_transactions(T).unwrap();

    producer.begin_transaction().unwrap();
    let first = send_batch(&producer, &topic, "committed-a", 300);
    producer.commit_transaction(T).unwrap();

    producer.begin_transaction().unwrap();
    let aborted = send_batch(&producer, &topic, "aborted", 200);
    producer.flush(Timeout::After(T)).unwrap();
    producer.abort_transaction(T).unwrap();

    producer.begin_transaction().unwrap();
    let second = send_batch(&producer, &topic, "committed-b", 300);
    producer.commit_transaction(T).unwrap();

    let committed: BTreeSet<String> = first.union(&second).cloned().collect();
    let rc = read_all(&topic, "read_committed");
    let rc_ids: BTreeSet<String> = rc.keys().cloned().collect();
    let dups: Vec<_> = rc.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates under read_committed: {dups:?}");
    assert_eq!(
        committed.difference(&rc_ids).count(),
        0,
        "committed records missing"
    );
    let foreign: BTreeSet<_> = rc_ids.difference(&committed).cloned().collect();
    assert!(
        foreign.is_subset(&aborted),
        "records from nowhere: {foreign:?}"
    );
    assert!(
        foreign.is_empty(),
        "aborted records seen under read_committed: {}",
        foreign.len()
    );
    assert_eq!(rc.len(), committed.len());

    let ru = read_all(&topic, "read_uncommitted");
    let ru_ids: BTreeSet<String> = ru.keys().cloned().collect();
    assert!(
        committed.is_subset(&ru_ids),
        "committed records missing under read_uncommitted"
    );
    let aborted_seen = aborted.intersection(&ru_ids).count();
    assert_eq!(
        aborted_seen,
        aborted.len(),
        "read_uncommitted must see every aborted record"
    );
    let err = producer.commit_transaction(T).unwrap_err();
    assert!(
        matches!(err, KafkaError::Transaction(ref e) if e.code() == RDKafkaErrorCode::State),
        "committing with no open transaction is a state error, got {err:?}"
    );
}
