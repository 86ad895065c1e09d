//! Restores against the real broker (`weft_runtime::settled`): the parking state and a keyed
//! store's changelog must include every committed write, also one that lies beyond a
//! transaction still open. The `read_committed` end stops below the first open transaction, and a
//! restore that stopped there missed what was committed after it, while the group's offsets
//! included its inputs: a parking queue named a head whose offset was already committed (its key
//! waited for good), a store lost an update.
//!
//! Parking: a replica dies with a transaction open; the next owner commits state after it; the
//! partition is restored again while the dead replica's transaction is still open (an eager
//! rebalance at the next kill), and the dead replica's successor instance fences it 2 s later.
//! Changelog: the previous owner's commit is in flight for 2 s while the restore starts. In both,
//! the restore must still be waiting when the open transaction is decided.

use std::collections::BTreeSet;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use weft_runtime::parking::{Decision, Parking};
use weft_runtime::watchdog::Watchdog;
use weft_testkit::{broker, create_topics, unique};

/// How long the open transaction stays open after the restore starts.
const OPEN: Duration = Duration::from_secs(2);

/// A transactional writer to partition 0 of a topic, as a loop is (`instance` of `run`).
fn writer(run: &str, instance: &str) -> BaseProducer {
    let p: BaseProducer = broker()
        .client_config()
        .set("transactional.id", format!("{run}-{instance}"))
        .create()
        .unwrap();
    p.init_transactions(Duration::from_secs(30)).unwrap();
    p
}

fn put(p: &BaseProducer, topic: &str, key: &str, value: &str) {
    p.send(BaseRecord::to(topic).partition(0).key(key).payload(value))
        .unwrap();
}

/// Lets the transaction stay open for [`OPEN`] while `restore` runs, asserts that the restore is
/// still waiting, then has `decide` commit or abort it.
fn decide_while_restoring<T>(restore: &JoinHandle<T>, decide: impl FnOnce()) {
    std::thread::sleep(OPEN);
    assert!(
        !restore.is_finished(),
        "the restore ended while a transaction on its partition was still open"
    );
    decide();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parking_restore_includes_what_was_committed_after_a_dead_owners_open_transaction() {
    let run = unique("restore-parking");
    let topic = format!("{run}.parking");
    create_topics(&[&topic], 1).await;
    // The replica that dies: key a waits behind in/0/1, never committed.
    let dead = writer(&run, "0");
    dead.begin_transaction().unwrap();
    put(&dead, &topic, "a", r#"[{"id":"in/0/1","due":0}]"#);
    dead.flush(Duration::from_secs(30)).unwrap();
    // The next owner commits after it: key b waits behind in/0/2, key c waited and is done.
    let next = writer(&run, "1");
    next.begin_transaction().unwrap();
    put(&next, &topic, "b", r#"[{"id":"in/0/2","due":0}]"#);
    put(&next, &topic, "c", r#"[{"id":"in/0/3","due":0}]"#);
    next.commit_transaction(Duration::from_secs(30)).unwrap();
    next.begin_transaction().unwrap();
    put(&next, &topic, "c", "");
    next.commit_transaction(Duration::from_secs(30)).unwrap();

    let (t, group) = (topic.clone(), format!("{run}.g"));
    let restore = std::thread::spawn(move || {
        let watchdog = Watchdog::start("restore-test", Duration::from_secs(120));
        let mut parking = Parking::new(&t);
        parking
            .restore(&broker(), &group, &BTreeSet::from([0]), &watchdog)
            .map(|()| parking)
    });
    // The dead replica's successor instance starts: its init fences and aborts the transaction.
    decide_while_restoring(&restore, || drop(writer(&run, "0")));
    let parking = restore.join().unwrap().expect("the restore");
    assert_eq!(
        parking.decide(b"b", "in/0/9", false),
        Decision::Park,
        "key b waits behind in/0/2 since the next owner's commit"
    );
    assert_eq!(
        parking.decide(b"a", "in/0/9", false),
        Decision::Process,
        "key a's queue was in the aborted transaction"
    );
    assert_eq!(
        parking.decide(b"c", "in/0/9", false),
        Decision::Process,
        "key c's queue was emptied"
    );
    assert_eq!(parking.waiting_keys(), 1);
    drop(dead);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changelog_restore_includes_a_commit_in_flight_when_it_starts() {
    let run = unique("restore-changelog");
    let topic = format!("{run}.changelog");
    create_topics(&[&topic], 1).await;
    let w = writer(&run, "0");
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
    decide_while_restoring(&restore, || {
        w.commit_transaction(Duration::from_secs(30))
            .expect("the previous owner's commit")
    });
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
