//! Restores against the real broker: the parking state and a keyed store's changelog, read back
//! while a previous owner's transaction on them is still in flight, must include what that
//! transaction commits (`weft_runtime::settled`). Before, a restore stopped at the stable end,
//! ahead of the open transaction, and missed it: the group's offsets, which the new owner waits
//! for (KIP-447), then included the transaction's inputs while the restored state did not; a
//! parking queue named a head whose offset was already committed, and its key waited for good.
//!
//! The writer here plays the previous owner: its transaction stays open for 2 s after the restore
//! starts (a commit slowed by a coordinator moving after a broker failure), then commits.

use std::collections::BTreeSet;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use weft_runtime::parking::{Decision, Parking};
use weft_runtime::watchdog::Watchdog;
use weft_testkit::{broker, create_topics, unique};

/// How long the writer's second transaction stays open.
const IN_FLIGHT: Duration = Duration::from_secs(2);

/// A transactional writer to partition 0 of `topic`, as a loop is.
fn writer(run: &str) -> BaseProducer {
    let p: BaseProducer = broker()
        .client_config()
        .set("transactional.id", format!("{run}-previous-owner"))
        .create()
        .unwrap();
    p.init_transactions(Duration::from_secs(30)).unwrap();
    p
}

fn put(p: &BaseProducer, topic: &str, key: &str, value: &str) {
    p.send(BaseRecord::to(topic).partition(0).key(key).payload(value))
        .unwrap();
}

/// Keeps the writer's transaction open while `restore` starts (the previous owner's commit in
/// flight), then commits it.
fn commit_while_restoring<T>(writer: &BaseProducer, restore: &JoinHandle<T>) {
    std::thread::sleep(IN_FLIGHT);
    eprintln!(
        "the restore {} while the transaction was open",
        if restore.is_finished() {
            "ended"
        } else {
            "waited"
        }
    );
    writer
        .commit_transaction(Duration::from_secs(30))
        .expect("the previous owner's commit");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parking_restore_includes_a_transaction_committed_while_it_runs() {
    let run = unique("restore-parking");
    let topic = format!("{run}.parking");
    create_topics(&[&topic], 1).await;
    let w = writer(&run);
    // Committed: key a waits behind in/0/1.
    w.begin_transaction().unwrap();
    put(&w, &topic, "a", r#"[{"id":"in/0/1","due":0}]"#);
    w.commit_transaction(Duration::from_secs(30)).unwrap();
    // In flight: a's head is done (a tombstone), b waits behind in/0/2.
    w.begin_transaction().unwrap();
    put(&w, &topic, "a", "");
    put(&w, &topic, "b", r#"[{"id":"in/0/2","due":0}]"#);
    w.flush(Duration::from_secs(30)).unwrap();

    let (t, group) = (topic.clone(), format!("{run}.g"));
    let restore = std::thread::spawn(move || {
        let watchdog = Watchdog::start("restore-test", Duration::from_secs(120));
        let mut parking = Parking::new(&t);
        parking
            .restore(&broker(), &group, &BTreeSet::from([0]), &watchdog)
            .map(|()| parking)
    });
    commit_while_restoring(&w, &restore);
    let parking = restore.join().unwrap().expect("the restore");
    assert_eq!(
        parking.decide(b"a", "in/0/9", false),
        Decision::Process,
        "key a's queue was emptied by the committed transaction"
    );
    assert_eq!(
        parking.decide(b"b", "in/0/9", false),
        Decision::Park,
        "key b waits behind in/0/2 since the committed transaction"
    );
    assert_eq!(parking.waiting_keys(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changelog_restore_includes_a_transaction_committed_while_it_runs() {
    let run = unique("restore-changelog");
    let topic = format!("{run}.changelog");
    create_topics(&[&topic], 1).await;
    let w = writer(&run);
    w.begin_transaction().unwrap();
    put(&w, &topic, "item-1", "v1");
    put(&w, &topic, "item-2", "v1");
    w.commit_transaction(Duration::from_secs(30)).unwrap();
    w.begin_transaction().unwrap();
    put(&w, &topic, "item-1", "v2");
    put(&w, &topic, "item-3", "v1");
    w.flush(Duration::from_secs(30)).unwrap();

    let (t, group) = (topic.clone(), format!("{run}.g"));
    let restore = std::thread::spawn(move || {
        weft_runtime::state::read_changelog(&broker(), &group, &t, &BTreeSet::from([0]))
    });
    commit_while_restoring(&w, &restore);
    let mut restored = restore.join().unwrap().expect("the restore");
    let store = restored.remove(&0).expect("partition 0 restored");
    let value = |k: &str| {
        store
            .get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(
        value("item-1").as_deref(),
        Some("v2"),
        "the committed update"
    );
    assert_eq!(value("item-2").as_deref(), Some("v1"));
    assert_eq!(
        value("item-3").as_deref(),
        Some("v1"),
        "the committed insert"
    );
    assert_eq!(store.len(), 3);
}
