//! `lag` and `offsets reset` against the real broker: committed/end/lag per partition, the age
//! of the oldest unconsumed record against the SLA, resets refused while the group has members,
//! and every reset target.

mod common;

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use weft_console::lag::{self, ResetRequest, ResetTo};
use weft_console::ConsoleError;

fn committed_sum(group: &str) -> i64 {
    lag::lag(&weft_testkit::broker(), Some(group), None).unwrap()[0]
        .partitions
        .iter()
        .map(|p| p.committed.unwrap_or(0))
        .sum()
}

/// A client of `group` that only commits offsets (never joins).
fn committer(group: &str) -> BaseConsumer {
    weft_testkit::broker()
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_reported_and_resets_are_safe() {
    let kafka = weft_testkit::broker();
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    let group = format!("{}.lag-check", weft_testkit::unique("g"));
    weft_testkit::create_topics(&[&topic], 2).await;
    let before = chrono::Utc::now();
    for i in 0..10 {
        common::send(&topic, &format!("k{i}"), b"v", &[]).await;
    }

    // The group commits offset 2 on each partition without ever joining.
    let c = committer(&group);
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(&topic, p, Offset::Offset(2))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();

    let mut spec_dir =
        weft_core::spec::SpecSet::load(&weft_testkit::repo_root().join("topics")).unwrap();
    let mut spec = spec_dir.topic("cypher.order.created.v1").unwrap().clone();
    spec.name = topic.clone();
    spec_dir.topics = vec![spec];
    let report = lag::lag(&kafka, Some(&group), Some(&spec_dir)).unwrap();
    assert_eq!(report.len(), 1);
    let g = &report[0];
    assert_eq!(g.partitions.len(), 2, "{g:?}");
    let ends: i64 = g.partitions.iter().map(|p| p.end).sum();
    assert_eq!(ends, 10);
    assert_eq!(g.total_lag, 6);
    for p in &g.partitions {
        assert_eq!(p.committed, Some(2));
        assert_eq!(p.lag, p.end - 2);
        assert_eq!(p.sla_ms, Some(1000), "critical topic: 1 s");
        if p.lag > 0 {
            let age = p
                .oldest_unconsumed_age_ms
                .expect("age of the oldest unconsumed record");
            let bound = (chrono::Utc::now() - before).num_milliseconds() + 1000;
            assert!(age <= bound, "{age} > {bound}");
        }
    }

    // Resets.
    let mut req = ResetRequest {
        group: group.clone(),
        topic: topic.clone(),
        to: ResetTo::Earliest,
        dry_run: true,
    };
    let plan = lag::reset(&kafka, &req).unwrap();
    assert!(plan.iter().all(|p| p.from == Some(2) && p.to == 0));
    assert_eq!(committed_sum(&group), 4, "a dry run changes nothing");
    req.dry_run = false;
    lag::reset(&kafka, &req).unwrap();
    assert_eq!(committed_sum(&group), 0);
    req.to = ResetTo::Shift(3);
    let plan = lag::reset(&kafka, &req).unwrap();
    let expect: i64 = plan.iter().map(|p| p.to).sum();
    assert_eq!(committed_sum(&group), expect);
    for p in &plan {
        let end = g
            .partitions
            .iter()
            .find(|x| x.partition == p.partition)
            .unwrap()
            .end;
        assert_eq!(
            (p.from, p.to),
            (Some(0), 3.min(end)),
            "shift by 3 from 0, clamped to the end"
        );
    }
    req.to = ResetTo::Latest;
    lag::reset(&kafka, &req).unwrap();
    assert_eq!(committed_sum(&group), 10);
    req.to = ResetTo::Time(before - chrono::Duration::minutes(5));
    lag::reset(&kafka, &req).unwrap();
    assert_eq!(
        committed_sum(&group),
        0,
        "everything was written after that time"
    );
    req.to = ResetTo::Time(chrono::Utc::now() + chrono::Duration::hours(1));
    lag::reset(&kafka, &req).unwrap();
    assert_eq!(
        committed_sum(&group),
        10,
        "nothing after that time: the end"
    );

    // An active member: refused.
    let member: BaseConsumer = kafka
        .client_config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    member.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let _ = member.poll(Duration::from_millis(200));
        let g = lag::groups(&kafka, Some(&group)).unwrap();
        if g.iter().any(|(_, _, m)| *m > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the member never showed up: {g:?}"
        );
    }
    req.to = ResetTo::Earliest;
    let err = lag::reset(&kafka, &req).unwrap_err();
    assert!(matches!(err, ConsoleError::Refused(_)), "{err}");
    assert_eq!(err.exit_code(), 5);
    assert!(err.to_string().contains("active member"), "{err}");
    assert_eq!(committed_sum(&group), 10, "a refused reset changes nothing");
    drop(member);
}

/// A partition of an input the group never committed on is reported, not left out: with its
/// records as lag when it has some (a partition whose first record is stuck shows), lag 0 when
/// it is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_never_committed_are_reported_with_their_records_as_lag() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let kafka = weft_testkit::broker();
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    let group = format!("{}.lag-uncommitted", weft_testkit::unique("g"));
    weft_testkit::create_topics(&[&topic], 3).await;
    let producer: FutureProducer = kafka.client_config().create().unwrap();
    // Partition 0: 4 records, committed at 4. Partition 1: 3 records, never committed.
    // Partition 2: empty.
    for (partition, n) in [(0, 4), (1, 3)] {
        for i in 0..n {
            producer
                .send(
                    FutureRecord::to(&topic)
                        .partition(partition)
                        .key(&format!("k{i}"))
                        .payload(b"v"),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    }
    let c = committer(&group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(4))
        .unwrap();
    c.commit(&tpl, CommitMode::Sync).unwrap();

    let report = lag::lag(&kafka, Some(&group), None).unwrap();
    let rows: Vec<(i32, Option<i64>, i64, i64)> = report[0]
        .partitions
        .iter()
        .map(|p| (p.partition, p.committed, p.end, p.lag))
        .collect();
    assert_eq!(
        rows,
        vec![(0, Some(4), 4, 0), (1, None, 3, 3), (2, None, 0, 0)],
        "every partition of the input, the never-committed ones included"
    );
    assert_eq!(report[0].total_lag, 3);
    let stuck = &report[0].partitions[1];
    assert!(
        stuck.oldest_unconsumed_age_ms.is_some(),
        "the age of partition 1's first record: {stuck:?}"
    );
}
