//! weft against Apache Kafka's own tools, the reference when weft's view of the cluster is in
//! doubt: a `weft run` processor commits outputs; Kafka's `ConsoleConsumer` (read_committed) reads
//! each of them exactly once, `ConsumerGroupCommand --describe` reports the same committed and end
//! offsets as `weft lag` for the live group, and `TransactionsCommand list` shows the processor's
//! transactional id.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use support::*;
use weft_contracts::b2b::order::OrderPlaced;
use weft_contracts::{Event, EventMetadata, Example};
use weft_testkit::kafka_tool;

const PROCESSOR: &str = "b2b.notification-worker";
const INPUT: &str = "b2b.order.placed.v1";
const OUTPUT: &str = "b2b.email.notification-requested.v1";

fn order(n: usize) -> Event<OrderPlaced> {
    let mut payload = OrderPlaced::example();
    payload.order_id = uuid::Uuid::new_v4().to_string();
    payload.order_number = format!("ORD-TOOLS-{n:05}");
    Event::new(
        EventMetadata::new_for::<OrderPlaced>("ecommerce-api", "user-tools"),
        payload,
    )
}

/// (topic, partition) -> (committed, end) as Kafka's ConsumerGroupCommand reports them.
fn kafka_describe(group: &str) -> BTreeMap<(String, i32), (i64, i64)> {
    let (code, out, err) = kafka_tool("ConsumerGroupCommand", &["--describe", "--group", group]);
    assert_eq!(code, 0, "ConsumerGroupCommand --describe: {err}");
    let mut rows = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
        if f.len() >= 6 && f[0] == group {
            let (Ok(p), Ok(cur), Ok(end)) = (f[2].parse(), f[3].parse(), f[4].parse()) else {
                continue;
            };
            rows.insert((f[1].to_string(), p), (cur, end));
        }
    }
    rows
}

/// The same, from `weft lag --group <group> -o jsonl` (partitions the group never committed on,
/// which ConsumerGroupCommand shows with "-", are left out on both sides).
fn weft_describe(group: &str) -> BTreeMap<(String, i32), (i64, i64)> {
    weft_lag(group)
        .into_iter()
        .filter(|(_, (committed, _, _))| *committed >= 0)
        .map(|(k, (committed, end, _))| (k, (committed, end)))
        .collect()
}

#[test]
fn kafka_tools_agree_with_weft() {
    let _stack = stack();
    let worker = Running::start(&[PROCESSOR], &[]);
    let orders: Vec<Event<OrderPlaced>> = (0..30).map(order).collect();
    publish(&orders);
    let causes: BTreeSet<String> = orders.iter().map(|o| o.metadata.event_id.clone()).collect();

    // The outputs weft committed, found by their causation (the orders above).
    let emails = collect_until(
        &[OUTPUT],
        |r| {
            try_decode::<weft_contracts::b2b::email::EmailNotificationRequested>(&r.value)
                .is_some_and(|e| {
                    e.metadata
                        .causation_id
                        .as_ref()
                        .is_some_and(|c| causes.contains(c))
                })
        },
        |kept| kept.len() >= orders.len(),
        Duration::from_secs(90),
    );
    let email_ids: Vec<String> = emails
        .iter()
        .map(|r| r.header("weft-event-id").unwrap().to_string())
        .collect();
    assert_eq!(email_ids.len(), orders.len());

    // 1. Kafka's ConsoleConsumer, read_committed, sees each of those outputs exactly once.
    let (code, out, err) = kafka_tool(
        "ConsoleConsumer",
        &[
            "--topic",
            OUTPUT,
            "--from-beginning",
            "--isolation-level",
            "read_committed",
            "--timeout-ms",
            "10000",
            "--formatter-property",
            "print.headers=true",
            "--formatter-property",
            "print.value=false",
            "--formatter-property",
            "print.key=true",
        ],
    );
    assert_eq!(code, 0, "ConsoleConsumer: {err}");
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &email_ids {
        seen.insert(id, 0);
    }
    for line in out.lines() {
        for (id, n) in seen.iter_mut() {
            if line.contains(&format!("weft-event-id:{id}")) {
                *n += 1;
            }
        }
    }
    let wrong: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        wrong.is_empty(),
        "ConsoleConsumer (read_committed) did not see each output exactly once: {wrong:?}\n{err}"
    );

    // 2. ConsumerGroupCommand and weft lag agree on the live group's committed and end offsets
    //    of its input (read until both report the same settled state, or fail with both views).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let kafka: BTreeMap<_, _> = kafka_describe(PROCESSOR)
            .into_iter()
            .filter(|((t, _), _)| t == INPUT)
            .collect();
        let ours: BTreeMap<_, _> = weft_describe(PROCESSOR)
            .into_iter()
            .filter(|((t, _), _)| t == INPUT)
            .collect();
        let settled = !kafka.is_empty() && kafka.values().all(|(c, e)| c == e);
        if settled && kafka == ours {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ConsumerGroupCommand and weft lag disagree on {PROCESSOR}:\nkafka {kafka:?}\nweft  {ours:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // 3. TransactionsCommand lists the processor's transactional id.
    let txn_id = format!("{PROCESSOR}-{}", worker.instance_id);
    let (code, out, err) = kafka_tool("TransactionsCommand", &["list"]);
    assert_eq!(code, 0, "TransactionsCommand list: {err}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().next() == Some(txn_id.as_str())),
        "TransactionsCommand list lacks {txn_id}:\n{out}"
    );
    let (code, out, err) = kafka_tool(
        "TransactionsCommand",
        &["describe", "--transactional-id", &txn_id],
    );
    assert_eq!(code, 0, "TransactionsCommand describe: {err}");
    assert!(out.contains(&txn_id), "{out}");

    assert_eq!(worker.stop(), Some(0));
}
