//! Dead letters end to end with the real runtime: a processor dead-letters an order, `list` and
//! `show` report it, a replay to the original topic fails again and comes back with its attempt
//! count increased, the fix goes in, a replay (de-duplicated by event id) succeeds; replay to the
//! first retry tier sets `weft-retry-due`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_console::dlq::{self, ReplayRequest, Selection, Target};
use weft_console::Registry;
use weft_runtime::processor::{Output, ProcessError, Record, RecordProcessor};
use weft_runtime::txn_loop::{run_loop, LoopSettings};
use weft_testkit::ReadRecord;

/// Fails every record with a poison error until `fixed`, then copies it to `out`.
struct OrderChecker {
    fixed: Arc<AtomicBool>,
    out: String,
}

impl RecordProcessor for OrderChecker {
    fn process(&mut self, r: &Record<'_>) -> Result<Vec<Output>, ProcessError> {
        if !self.fixed.load(Ordering::SeqCst) {
            return Err(ProcessError::Poison(
                "payload.totals.total does not equal the sum of the lines".into(),
            ));
        }
        Ok(vec![Output {
            topic: self.out.clone(),
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.unwrap_or_default().to_vec(),
            headers: vec![],
            partition: None,
        }])
    }
}

/// Reads `topic` until it holds `n` records; panics after 90 s.
async fn wait_for(topic: &str, n: usize) -> Vec<ReadRecord> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let t = topic.to_string();
        let got =
            tokio::task::spawn_blocking(move || weft_testkit::read_to_end(&t, 1, "read_committed"))
                .await
                .unwrap();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} has {} of {n} records",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_and_replayed_with_the_attempt_carried() {
    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let reg = Registry::new(&url).unwrap();
    let sys = weft_testkit::unique("t");
    let source = format!("{sys}.order.created.v1");
    let group = format!("{sys}.order-checker");
    let dlq_topic = format!("{group}.dlq");
    let retry = format!("{group}.retry.10s");
    let output = format!("{sys}.order.checked.v1");
    weft_testkit::create_topics(&[&source, &dlq_topic, &retry, &output], 1).await;
    let id = common::register(&url, &source, "cypher.order.OrderCreated").await;

    let event_id = uuid::Uuid::new_v4().to_string();
    let order_id = uuid::Uuid::new_v4().to_string();
    let event = common::order(&order_id, &event_id, &event_id, None);
    let bytes = common::frame(id, &event);
    common::send(&source, &order_id, &bytes, &[("weft-event-id", &event_id)]).await;

    let fixed = Arc::new(AtomicBool::new(false));
    let shutdown = Arc::new(AtomicBool::new(false));
    let settings = LoopSettings {
        processor: "order-checker".into(),
        group_id: group.clone(),
        inputs: vec![source.clone()],
        outputs: vec![output.clone()],
        instance_id: weft_testkit::unique("i"),
        failure: weft_runtime::FailurePolicy {
            processor: "order-checker".into(),
            retry_tiers: vec![],
            dead_letter_topic: dlq_topic.clone(),
            parking_topic: None,
        },
        breaker: weft_runtime::BreakerSettings::default(),
        metrics: None,
        max_batch: 100,
        commit_interval: Duration::from_millis(100),
        max_retries: 3,
        max_consecutive_aborts: 5,
        fetch_stall_limit: weft_runtime::fetch_guard::DEFAULT_LIMIT,
        dual_writes: Vec::new(),
        changelogs: Vec::new(),
        static_membership: false,
        shutdown: shutdown.clone(),
    };
    let mut processor = OrderChecker {
        fixed: fixed.clone(),
        out: output.clone(),
    };
    let k = kafka.clone();
    let runtime = std::thread::spawn(move || run_loop(&k, &settings, &mut processor));

    // 1. The runtime dead-letters the order.
    let first = wait_for(&dlq_topic, 1).await;
    assert_eq!(first[0].headers["weft-dlq-attempt"], "1");

    // 2. list counts it per error class and processor.
    let summaries = dlq::list(
        &kafka,
        Some(&regex::escape(&dlq_topic)),
        &Default::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!((s.records, s.group.as_str()), (1, group.as_str()));
    assert_eq!(s.by_error_class["poison"], 1);
    assert_eq!(s.by_processor["order-checker"], 1);
    assert_eq!(s.by_source_topic[&source], 1);

    // 3. show decodes it and keeps the error headers.
    let shown = dlq::show(&kafka, &reg, &group, &Selection::default(), None)
        .await
        .unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].event_id().as_deref(), Some(event_id.as_str()));
    assert!(shown[0]
        .header("weft-dlq-error-message")
        .unwrap()
        .contains("does not equal"));
    assert_eq!(
        shown[0].field_text("payload.order_id").as_deref(),
        Some(order_id.as_str())
    );

    // 4. A dry run sends nothing.
    let mut req = ReplayRequest {
        group: group.clone(),
        selection: Selection::default(),
        target: Target::Original,
        group_spec: None,
        rate: None,
        dry_run: true,
    };
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    assert_eq!(report.replayed.len(), 1);
    assert!(report.replayed[0].to.is_none());
    assert_eq!(report.replayed[0].to_topic, source);

    // 5. Replayed to the original topic before the fix: it fails again and returns with attempt 2.
    req.dry_run = false;
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    assert!(report.replayed[0].to.is_some());
    let src = wait_for(&source, 2).await;
    assert_eq!(
        src[1].value, src[0].value,
        "the replayed record keeps its bytes"
    );
    assert_eq!(src[1].headers["weft-dlq-attempt"], "1");
    assert!(!src[1].headers.contains_key("weft-dlq-error-class"));
    let dead = wait_for(&dlq_topic, 2).await;
    assert_eq!(dead[1].headers["weft-dlq-attempt"], "2");
    assert_eq!(
        dead[1].headers["weft-dlq-first-failure"], dead[0].headers["weft-dlq-first-failure"],
        "the first failure time travels with the record"
    );

    // 6. Fixed: replay the event once (two dead letters, one event id), and it gets through.
    fixed.store(true, Ordering::SeqCst);
    req.selection.event_id = Some(event_id.clone());
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    assert_eq!(
        (report.selected, report.duplicates, report.replayed.len()),
        (2, 1, 1)
    );
    assert_eq!(report.replayed[0].attempt.as_deref(), Some("2"));
    let out = wait_for(&output, 1).await;
    assert_eq!(out[0].value, src[0].value);
    assert_eq!(out[0].key, order_id);

    // 7. To the first retry tier, due now; a selection that matches nothing replays nothing.
    req.target = Target::Retry;
    req.selection = Selection {
        error_class: Some("poison".into()),
        ..Default::default()
    };
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(report.replayed[0].to_topic, retry);
    let r = wait_for(&retry, 1).await;
    let due: i64 = r[0].headers["weft-retry-due"].parse().unwrap();
    assert!((due - chrono::Utc::now().timestamp_millis()).abs() < 120_000);
    assert_eq!(r[0].headers["weft-dlq-source-topic"], source);
    req.selection.error_class = Some("transient".into());
    assert!(dlq::replay(&kafka, &reg, &req)
        .await
        .unwrap()
        .replayed
        .is_empty());
    req.selection = Selection {
        since: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..Default::default()
    };
    assert!(dlq::replay(&kafka, &reg, &req)
        .await
        .unwrap()
        .replayed
        .is_empty());

    shutdown.store(true, Ordering::SeqCst);
    let stats = runtime.join().unwrap().unwrap();
    assert_eq!(stats.dead_lettered, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_keeps_to_the_rate_and_skips_records_without_a_source() {
    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let reg = Registry::new(&url).unwrap();
    let sys = weft_testkit::unique("t");
    let source = format!("{sys}.order.created.v1");
    let group = format!("{sys}.rate-check");
    let dlq_topic = format!("{group}.dlq");
    weft_testkit::create_topics(&[&source, &dlq_topic], 1).await;
    for i in 0..10 {
        let id = uuid::Uuid::new_v4().to_string();
        common::send(
            &dlq_topic,
            &format!("k{i}"),
            b"not avro",
            &[("weft-event-id", &id), ("weft-dlq-source-topic", &source)],
        )
        .await;
    }
    common::send(&dlq_topic, "orphan", b"x", &[]).await;
    let req = ReplayRequest {
        group: group.clone(),
        selection: Selection::default(),
        target: Target::Original,
        group_spec: None,
        rate: Some(20.0),
        dry_run: false,
    };
    let started = Instant::now();
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    let took = started.elapsed();
    assert_eq!(report.replayed.len(), 10);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(report.skipped[0].contains("weft-dlq-source-topic"));
    // 10 records at 20/s: at least 9 pauses of 50 ms.
    assert!(took >= Duration::from_millis(450), "{took:?}");
    let got = wait_for(&source, 10).await;
    assert!(got.iter().all(|r| r.value == "not avro"));
    eprintln!("replayed 10 records at --rate 20 in {took:?}");
}

/// The handled marker (`<group>.dlq-handled`): a dry run leaves it, a selective replay moves it
/// over the prefix it replayed, `ack` to the end; the runtime's age gauge reads it.
#[tokio::test]
async fn the_handled_marker_follows_replay_and_ack_and_the_age_reads_it() {
    use weft_console::dlq::HandledMove;
    use weft_runtime::dlq_watch::{oldest_unhandled_age, Watched};

    let kafka = weft_testkit::broker();
    let url = common::registry().await;
    let reg = Registry::new(&url).unwrap();
    let sys = weft_testkit::unique("t");
    let source = format!("{sys}.order.created.v1");
    let group = format!("{sys}.handled-check");
    let dlq_topic = format!("{group}.dlq");
    weft_testkit::create_topics(&[&source, &dlq_topic], 1).await;
    // Three dead letters, written 3 h, 2 h and 1 h ago, keys a, b, a.
    let dead_letter = |key: &'static str, at: Option<i64>| {
        let (dlq_topic, source) = (dlq_topic.clone(), source.clone());
        async move {
            let id = uuid::Uuid::new_v4().to_string();
            common::send_at(
                &dlq_topic,
                key,
                b"not avro",
                &[("weft-event-id", &id), ("weft-dlq-source-topic", &source)],
                at,
            )
            .await
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    for (key, hours) in [("a", 3), ("b", 2), ("a", 1)] {
        dead_letter(key, Some(now - hours * 3_600_000)).await;
    }
    let watched = Watched {
        processor: "handled-check".into(),
        group: group.clone(),
        topic: dlq_topic.clone(),
    };
    let age_hours = || {
        oldest_unhandled_age(&kafka, &watched)
            .unwrap()
            .map(|a| a.as_secs_f64() / 3600.0)
    };
    let about = |got: Option<f64>, hours: f64| {
        let got = got.expect("something is unhandled");
        assert!(
            (got - hours).abs() < 0.05,
            "{got} h, expected about {hours} h"
        );
    };
    about(age_hours(), 3.0);

    let mut req = ReplayRequest {
        group: group.clone(),
        selection: Selection {
            key: Some("a".into()),
            ..Default::default()
        },
        target: Target::Original,
        group_spec: None,
        rate: None,
        dry_run: true,
    };
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    assert_eq!(report.replayed.len(), 2);
    assert!(report.marked_handled.is_empty(), "a dry run marks nothing");
    about(age_hours(), 3.0);

    // Key a: offsets 0 and 2 replayed, 1 (key b) not: handled up to 1, and the oldest
    // unhandled dead letter is the 2 h old one.
    req.dry_run = false;
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    assert_eq!(report.replayed.len(), 2);
    assert_eq!(
        report.marked_handled,
        vec![HandledMove {
            partition: 0,
            from: None,
            to: 1
        }]
    );
    about(age_hours(), 2.0);

    // ack: everything written so far; then nothing is unhandled, and a second ack moves nothing.
    assert_eq!(
        dlq::ack(&kafka, &group).unwrap(),
        vec![HandledMove {
            partition: 0,
            from: Some(1),
            to: 3
        }]
    );
    assert_eq!(age_hours(), None);
    assert!(dlq::ack(&kafka, &group).unwrap().is_empty());

    // Two new dead letters of key b (offsets 3 and 4). Replaying key b leaves out the old
    // records 0 and 2 (key a), but they are before the marker: it moves over both new ones.
    for _ in 0..2 {
        dead_letter("b", None).await;
    }
    assert!(age_hours().is_some());
    req.selection.key = Some("b".into());
    let report = dlq::replay(&kafka, &reg, &req).await.unwrap();
    assert_eq!(report.replayed.len(), 3, "offsets 1, 3 and 4");
    assert_eq!(
        report.marked_handled,
        vec![HandledMove {
            partition: 0,
            from: Some(3),
            to: 5
        }]
    );
    assert_eq!(age_hours(), None);
}
