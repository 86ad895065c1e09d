//! Keyed state is exactly once under SIGKILL, modelled on Kafka Streams' EOS system test (sums
//! per key): sale and receipt events over many items go through the inventory ledger
//! (`composerp.inventory-ledger-service`, store `positions`) run as three `weft run` replicas,
//! one of which is SIGKILLed and restarted every few seconds while the events flow. The replicas
//! are static members with stable instance ids, as the Helm chart runs them: a restarted replica
//! takes its partitions back, fences its predecessor's transaction and restores its stores from
//! the changelog before processing them.
//!
//! Afterwards, counted by event id, for every item: each input event caused exactly one
//! `INVENTORY_UPDATED` (none missing, none twice); the item's updates are gapless (each one's
//! on hand is the previous one's plus its own transaction's delta); the last on hand is the sum
//! of the item's receipts minus its sales; and the changelog's last value per position says the
//! same. The ledger's duplicate detection is off (`WEFT_LEDGER_REMEMBERED_EVENTS=0`), so a
//! record processed twice would show as a duplicate or a gap instead of being absorbed.
//!
//! `WEFT_STATE_CHAOS_EVENTS` (default 50,000) and `WEFT_STATE_CHAOS_ITEMS` (500) size the run.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::AvroSchema;
use rand::Rng;
use support::*;
use weft_contracts::composerp::inventory::InventoryUpdated;
use weft_contracts::composerp::receipt::ReceiptCompleted;
use weft_contracts::composerp::sale::SaleCompleted;
use weft_contracts::{Contract, Decimal4, Event, EventMetadata, Example};
use weft_processors::composerp::ledger::{self, Position};
use weft_runtime::schemas::SchemaSource;

const SALES: &str = "composerp.sale.completed.v1";
const RECEIPTS: &str = "composerp.receipt.completed.v1";
const UPDATES: &str = "composerp.inventory.updated.v1";
const PARTITIONS: i32 = 6;
const REPLICAS: usize = 3;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every topic `group` touches in the prefix's namespace: `contracts` and what its group spec
/// derives (retry tiers, dead-letter topic, changelogs, repartition topic), and the migrations'
/// control topic `weft run` reads at start. Returns the group spec.
fn provision(prefix: &str, group: &str, contracts: &[&str]) -> weft_core::spec::GroupSpec {
    let specs = weft_core::spec::SpecSet::load(&repo().join("topics")).unwrap();
    let group = specs.group(group);
    let topics: Vec<String> = contracts
        .iter()
        .map(|t| t.to_string())
        .chain(group.retry_topics())
        .chain(group.changelog_topics())
        .chain(group.repartition_topic())
        .chain([group.dead_letter_topic()])
        .map(|t| format!("{prefix}{t}"))
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(weft_testkit::create_topics(
        &topics.iter().map(String::as_str).collect::<Vec<_>>(),
        PARTITIONS,
    ));
    rt.block_on(weft_testkit::create_topics(
        &[&format!("{prefix}{}", weft_core::migration::CONTROL_TOPIC)],
        1,
    ));
    group
}

/// One input: its event id, item, (logical) topic, delta in ten-thousandths, key and value.
struct Input {
    id: String,
    item: String,
    topic: &'static str,
    delta: i128,
    key: String,
    value: Vec<u8>,
}

/// `n` random sales and receipts of `items` (1 to 20 pieces each), encoded for their topics.
fn inputs(n: usize, items: &[String]) -> Vec<Input> {
    let mut rng = rand::rng();
    let location = uuid::Uuid::new_v4().to_string();
    (0..n)
        .map(|_| {
            let item = items[rng.random_range(0..items.len())].clone();
            let quantity = Decimal4::from_int(rng.random_range(1..=20));
            if rng.random_bool(0.5) {
                let mut p = ReceiptCompleted::example();
                p.receipt_id = uuid::Uuid::new_v4().to_string();
                p.item_id = item.clone();
                p.location_id = location.clone();
                p.quantity = quantity;
                let e = Event::new(EventMetadata::new_for::<ReceiptCompleted>("wms", "u"), p);
                Input {
                    id: e.metadata.event_id.clone(),
                    item: item.clone(),
                    topic: RECEIPTS,
                    delta: quantity.units(),
                    key: item,
                    value: encode(&e),
                }
            } else {
                let mut p = SaleCompleted::example();
                p.sale_id = uuid::Uuid::new_v4().to_string();
                p.item_id = item.clone();
                p.location_id = location.clone();
                p.quantity = quantity;
                let e = Event::new(EventMetadata::new_for::<SaleCompleted>("pos", "u"), p);
                Input {
                    id: e.metadata.event_id.clone(),
                    item: item.clone(),
                    topic: SALES,
                    delta: -quantity.units(),
                    key: item,
                    value: encode(&e),
                }
            }
        })
        .collect()
}

/// The group's committed offsets against the ends of both inputs: true when caught up.
fn caught_up(prefix: &str) -> bool {
    let lag = weft_lag(&format!("{prefix}{}", ledger::NAME));
    let inputs: Vec<i64> = lag
        .iter()
        .filter(|((t, _), _)| {
            *t == format!("{prefix}{SALES}") || *t == format!("{prefix}{RECEIPTS}")
        })
        .map(|(_, (_, _, lag))| *lag)
        .collect();
    inputs.len() == 2 * PARTITIONS as usize && inputs.iter().all(|l| *l == 0)
}

/// Restarts, as an orchestrator would, every replica that ended by itself (a fatal client error
/// makes `weft run` exit non-zero so its pod is restarted); returns how many were.
fn restart_exited(replicas: &mut [Option<Running>], start: &dyn Fn(usize) -> Running) -> usize {
    let mut restarted = 0;
    for (slot, r) in replicas.iter_mut().enumerate() {
        if let Some(code) = r.as_mut().and_then(Running::exited) {
            eprintln!("[keyed state] replica {slot} exited by itself ({code:?}): restarted");
            *r = Some(start(slot));
            restarted += 1;
        }
    }
    restarted
}

/// A metric's value summed over its series, from a replica's `/metrics`.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn ledger_state_is_exactly_once_with_replicas_sigkilled_and_restored_from_the_changelog() {
    let _ = stack();
    let events = env_usize("WEFT_STATE_CHAOS_EVENTS", 50_000);
    let item_count = env_usize("WEFT_STATE_CHAOS_ITEMS", 500);
    let prefix = format!("{}.", weft_testkit::unique("state"));
    let group = provision(&prefix, ledger::NAME, &[SALES, RECEIPTS, UPDATES]);
    assert_eq!(
        group.stores,
        vec![ledger::POSITIONS],
        "the group spec declares the store"
    );
    let items: Vec<String> = (0..item_count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let all = inputs(events, &items);
    let delta_of: HashMap<&str, (&str, i128)> = all
        .iter()
        .map(|i| (i.id.as_str(), (i.item.as_str(), i.delta)))
        .collect();

    let env: Vec<(&str, &str)> = vec![
        ("WEFT_TOPIC_PREFIX", prefix.as_str()),
        ("WEFT_LEDGER_REMEMBERED_EVENTS", "0"),
        ("WEFT_STATIC_MEMBERSHIP", "true"),
    ];
    let slots: Vec<String> = (0..REPLICAS)
        .map(|n| format!("{}-ledger-{n}", prefix.trim_end_matches('.')))
        .collect();
    let start = |slot: &str| Running::start_as(&[ledger::NAME], &env, slot);
    let mut replicas: Vec<Option<Running>> = slots.iter().map(|s| Some(start(s))).collect();

    // The events flow in the background, in batches, while replicas are killed.
    let published = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let publisher = {
        let published = published.clone();
        let prefix = prefix.clone();
        let batches: Vec<Vec<(String, String, Vec<u8>)>> = all
            .chunks(2_500)
            .map(|c| {
                c.iter()
                    .map(|i| {
                        (
                            format!("{prefix}{}", i.topic),
                            i.key.clone(),
                            i.value.clone(),
                        )
                    })
                    .collect()
            })
            .collect();
        std::thread::spawn(move || {
            for batch in batches {
                for topic in [SALES, RECEIPTS] {
                    let topic = format!("{prefix}{topic}");
                    let records: Vec<RawRecord> = batch
                        .iter()
                        .filter(|(t, _, _)| *t == topic)
                        .map(|(_, k, v)| (k.clone(), v.clone(), Vec::new()))
                        .collect();
                    publish_raw(&topic, &records);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            published.store(true, Ordering::SeqCst);
        })
    };

    // Chaos: every ~5 s one replica (in turn) is SIGKILLed and started again as the same pod.
    let deadline = Duration::from_secs(600);
    let (mut kills, mut crashes) = (0, 0);
    let mut next_kill = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(
            started.elapsed() < deadline,
            "the ledger did not catch up within {deadline:?} ({kills} kills)"
        );
        crashes += restart_exited(&mut replicas, &|slot| start(&slots[slot]));
        if published.load(Ordering::SeqCst) && caught_up(&prefix) {
            break;
        }
        if Instant::now() >= next_kill {
            let slot = kills % REPLICAS;
            drop(replicas[slot].take()); // SIGKILL
            replicas[slot] = Some(start(&slots[slot]));
            kills += 1;
            next_kill = Instant::now() + Duration::from_secs(5);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let took = started.elapsed();
    publisher.join().unwrap();
    let metrics: Vec<String> = replicas
        .iter()
        .flatten()
        .map(|r| r.get("/metrics").1)
        .collect();
    let restored: f64 = metrics
        .iter()
        .map(|m| metric_sum(m, "weft_state_restored_records_total"))
        .sum();
    let restores: f64 = metrics
        .iter()
        .map(|m| metric_sum(m, "weft_state_restore_seconds_count"))
        .sum();
    let restore_secs: f64 = metrics
        .iter()
        .map(|m| metric_sum(m, "weft_state_restore_seconds_sum"))
        .sum();
    for r in replicas.into_iter().flatten() {
        assert_eq!(r.stop(), Some(0), "a replica stops cleanly");
    }
    eprintln!(
        "[keyed state] {events} events over {item_count} items, {REPLICAS} replicas, {kills} \
         SIGKILLs, {crashes} replicas restarted after exiting by themselves: caught up in \
         {took:.1?} ({:.0} events/s during chaos); the last replicas \
         restored {restored} changelog records in {restores} restores, {:.3} s each on average",
        events as f64 / took.as_secs_f64(),
        restore_secs / restores.max(1.0)
    );

    // Each input exactly once, by the causation id of the updates.
    let updates = read_all(&format!("{prefix}{UPDATES}"));
    let mut per_item: BTreeMap<String, Vec<(String, i128)>> = BTreeMap::new();
    let mut caused: HashMap<String, usize> = HashMap::new();
    for r in &updates {
        let e: Event<InventoryUpdated> = decode(&r.value);
        let cause = e.metadata.causation_id.clone().expect("a causation id");
        *caused.entry(cause.clone()).or_default() += 1;
        per_item
            .entry(e.payload.item_id.clone())
            .or_default()
            .push((cause, e.payload.on_hand.units()));
    }
    let twice: Vec<_> = caused.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(twice.is_empty(), "inputs counted twice: {twice:?}");
    let missing: Vec<&str> = all
        .iter()
        .filter(|i| !caused.contains_key(&i.id))
        .map(|i| i.id.as_str())
        .take(10)
        .collect();
    assert!(missing.is_empty(), "inputs never counted: {missing:?}");
    assert_eq!(updates.len(), events, "one update per input");

    // Per item: gapless, and the last on hand is receipts minus sales.
    let mut expected: BTreeMap<&str, i128> = BTreeMap::new();
    for i in &all {
        *expected.entry(i.item.as_str()).or_default() += i.delta;
    }
    for (item, seq) in &per_item {
        let mut on_hand = 0i128;
        for (n, (cause, after)) in seq.iter().enumerate() {
            let (of, delta) = delta_of[cause.as_str()];
            assert_eq!(of, item, "update of {item} caused by an event of {of}");
            assert_eq!(
                *after,
                on_hand + delta,
                "{item}: update {n} has on hand {after}, the previous {on_hand} plus its delta {delta}"
            );
            on_hand = *after;
        }
        assert_eq!(on_hand, expected[item.as_str()], "{item}: final on hand");
    }
    assert_eq!(per_item.len(), expected.len(), "every item updated");

    // The changelog's last value per position is the final on hand.
    let changelog = read_all(&format!(
        "{prefix}{}",
        weft_core::naming::changelog_topic(ledger::NAME, ledger::POSITIONS)
    ));
    let mut last: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in changelog {
        last.insert(r.key, r.value);
    }
    assert_eq!(last.len(), expected.len(), "one position per item");
    let schemas = &stack().schemas;
    for (key, value) in last {
        let item = key.split('/').next().unwrap();
        let (id, body) = weft_core::wire::split(&value).unwrap();
        let writer = schemas.writer_schema(id).unwrap();
        let p: Position =
            weft_contracts::codec::decode_resolved(&writer, Some(&Position::get_schema()), body)
                .unwrap();
        assert_eq!(
            i128::from(p.on_hand_units),
            expected[item],
            "{key}: changelog"
        );
    }
    // Last: what the run must have gone through for the checks above to mean something.
    assert!(
        kills >= 3,
        "the run was too short to kill anything ({kills})"
    );
    assert!(
        restores >= 1.0,
        "the restarted replicas restored their stores"
    );
}

/// One wave of a chaos run: `records` published to `topic` in batches of `batch` in the
/// background while a replica of `group` is SIGKILLed (and started again as the same pod) every
/// 3 s, until the group has caught up on the topic and its repartition topic (at most 300 s).
struct ChaosWave<'a> {
    topic: String,
    records: Vec<RawRecord>,
    batch: usize,
    repartition: &'a str,
    group: &'a str,
    who: &'a str,
}

fn chaos_wave(
    wave: ChaosWave<'_>,
    replicas: &mut [Option<Running>],
    start: &dyn Fn(usize) -> Running,
    kills: &mut usize,
    crashes: &mut usize,
) {
    let ChaosWave {
        topic,
        records,
        batch,
        repartition,
        group,
        who,
    } = wave;
    let published = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (published, topic) = (published.clone(), topic.clone());
        std::thread::spawn(move || {
            for chunk in records.chunks(batch) {
                publish_raw(&topic, chunk);
                std::thread::sleep(Duration::from_millis(300));
            }
            published.store(true, Ordering::SeqCst);
        })
    };
    let watched = [topic, repartition.to_string()];
    let started = Instant::now();
    let mut next_kill = Instant::now() + Duration::from_millis(1500);
    loop {
        if started.elapsed() >= Duration::from_secs(300) {
            let rows: Vec<_> = weft_lag(group)
                .into_iter()
                .filter(|((t, _), _)| watched.contains(t))
                .collect();
            panic!(
                "the {who} did not catch up on {watched:?} within 300 s; (topic, partition) -> \
                 (committed, end, lag), -1 where never committed: {rows:?}"
            );
        }
        *crashes += restart_exited(replicas, start);
        if published.load(Ordering::SeqCst) && group_caught_up(group, &watched) {
            break;
        }
        if Instant::now() >= next_kill {
            let slot = *kills % replicas.len();
            drop(replicas[slot].take());
            replicas[slot] = Some(start(slot));
            *kills += 1;
            next_kill = Instant::now() + Duration::from_secs(3);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    publisher.join().unwrap();
}

/// The group is caught up on every one of `topics`: lag 0 on each partition, as `weft lag`
/// reports it (a partition the group never committed on counts its records as lag, so an empty
/// one is caught up and one never read is not).
fn group_caught_up(group: &str, topics: &[String]) -> bool {
    let lag = weft_lag(group);
    let rows: Vec<i64> = lag
        .iter()
        .filter(|((t, _), _)| topics.contains(t))
        .map(|(_, (_, _, lag))| *lag)
        .collect();
    rows.len() == topics.len() * PARTITIONS as usize && rows.iter().all(|l| *l == 0)
}

/// Re-keyed state: B2B orders keyed by order reserve credit on accounts keyed by customer, through
/// the credit worker's repartition topic, with two replicas and one SIGKILLed every few seconds;
/// then a third of the orders is cancelled under the same chaos. Counted by event id: each order
/// was reserved or rejected exactly once, each cancellation of a reserved order released it
/// exactly once (and of a rejected one nothing), each customer's `credit.changed` sequence is
/// gapless (available moves by exactly each change's amount, from the limit), and the last
/// available is the limit minus the orders still open.
#[test]
fn credit_reserved_by_customer_through_the_repartition_topic_is_exactly_once_under_sigkill() {
    use weft_contracts::cypher::credit::{CreditChangeType, CreditChanged, CreditOrderRejected};
    use weft_contracts::cypher::order::{OrderCancelled, OrderCreated, OrderCustomerType};
    use weft_processors::cypher::credit;

    let _ = stack();
    let orders = env_usize("WEFT_CREDIT_CHAOS_ORDERS", 3_000);
    let limit: i128 = 2_000 * 10_000;
    let prefix = format!("{}.", weft_testkit::unique("credit"));
    let group = provision(
        &prefix,
        credit::NAME,
        &[
            OrderCreated::TOPIC,
            OrderCancelled::TOPIC,
            "cypher.order.paid.v1",
            "cypher.invoice.issued.v1",
            CreditChanged::TOPIC,
            CreditOrderRejected::TOPIC,
            "cypher.credit.payment-received.v1",
        ],
    );
    assert!(group.repartition, "the group spec re-keys");

    let mut rng = rand::rng();
    let customers: Vec<String> = (0..50).map(|n| format!("CUST-{n:03}")).collect();
    let created: Vec<Event<OrderCreated>> = (0..orders)
        .map(|_| {
            let mut o = OrderCreated::example();
            o.order_id = uuid::Uuid::new_v4().to_string();
            o.customer_id = customers[rng.random_range(0..customers.len())].clone();
            o.customer_type = OrderCustomerType::B2b;
            o.totals.total = Decimal4::from_int(rng.random_range(1..=100));
            Event::new(EventMetadata::new_for::<OrderCreated>("checkout", "u"), o)
        })
        .collect();
    let cancelled: Vec<Event<OrderCancelled>> = created
        .iter()
        .filter(|_| rng.random_bool(1.0 / 3.0))
        .map(|o| {
            let mut c = OrderCancelled::example();
            c.order_id = o.payload.order_id.clone();
            c.customer_id = o.payload.customer_id.clone();
            Event::new(EventMetadata::new_for::<OrderCancelled>("checkout", "u"), c)
        })
        .collect();
    let raw = |e: &[(String, Vec<u8>)]| -> Vec<RawRecord> {
        e.iter()
            .map(|(k, v)| (k.clone(), v.clone(), Vec::new()))
            .collect()
    };

    let env: Vec<(&str, &str)> = vec![
        ("WEFT_TOPIC_PREFIX", prefix.as_str()),
        ("WEFT_CREDIT_DEFAULT_LIMIT", "2000"),
        ("WEFT_STATIC_MEMBERSHIP", "true"),
    ];
    let slots: Vec<String> = (0..2)
        .map(|n| format!("{}-credit-{n}", prefix.trim_end_matches('.')))
        .collect();
    let start = |slot: &str| Running::start_as(&[credit::NAME], &env, slot);
    let mut replicas: Vec<Option<Running>> = slots.iter().map(|s| Some(start(s))).collect();
    let gname = format!("{prefix}{}", credit::NAME);
    let repartition = format!("{prefix}{}", group.repartition_topic().unwrap());
    let mut kills = 0;
    // Each wave is published in batches in the background while a replica is SIGKILLed (and
    // started again as the same pod) every 3 s, until the group has caught up on it.
    let mut crashes = 0;
    let mut chaos =
        |topic: String, records: Vec<RawRecord>, kills: &mut usize, crashes: &mut usize| {
            chaos_wave(
                ChaosWave {
                    topic,
                    records,
                    batch: 200,
                    repartition: &repartition,
                    group: &gname,
                    who: "credit worker",
                },
                &mut replicas,
                &|slot| start(&slots[slot]),
                kills,
                crashes,
            )
        };
    let encoded: Vec<(String, Vec<u8>)> = created.iter().map(|e| (e.key(), encode(e))).collect();
    chaos(
        format!("{prefix}{}", OrderCreated::TOPIC),
        raw(&encoded),
        &mut kills,
        &mut crashes,
    );
    let encoded: Vec<(String, Vec<u8>)> = cancelled.iter().map(|e| (e.key(), encode(e))).collect();
    chaos(
        format!("{prefix}{}", OrderCancelled::TOPIC),
        raw(&encoded),
        &mut kills,
        &mut crashes,
    );
    for r in replicas.into_iter().flatten() {
        assert_eq!(r.stop(), Some(0), "a replica stops cleanly");
    }

    // What each input caused, by causation id.
    let changes: Vec<Event<CreditChanged>> = read_all(&format!("{prefix}{}", CreditChanged::TOPIC))
        .iter()
        .map(|r| decode(&r.value))
        .collect();
    let rejections: Vec<Event<CreditOrderRejected>> =
        read_all(&format!("{prefix}{}", CreditOrderRejected::TOPIC))
            .iter()
            .map(|r| decode(&r.value))
            .collect();
    let mut caused: HashMap<String, usize> = HashMap::new();
    for id in changes
        .iter()
        .map(|c| &c.metadata.causation_id)
        .chain(rejections.iter().map(|r| &r.metadata.causation_id))
    {
        *caused
            .entry(id.clone().expect("a causation id"))
            .or_default() += 1;
    }
    let twice: Vec<_> = caused.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "inputs that caused two outcomes: {twice:?}"
    );
    let rejected: std::collections::HashSet<&str> = rejections
        .iter()
        .map(|r| r.payload.order_id.as_str())
        .collect();
    for o in &created {
        assert_eq!(
            caused.get(&o.metadata.event_id),
            Some(&1),
            "order {} reserved or rejected exactly once",
            o.payload.order_id
        );
    }
    for c in &cancelled {
        let expected = usize::from(!rejected.contains(c.payload.order_id.as_str()));
        assert_eq!(
            caused.get(&c.metadata.event_id).copied().unwrap_or(0),
            expected,
            "cancellation of {} released once iff it was reserved",
            c.payload.order_id
        );
    }

    // Per customer: gapless from the limit, and the last available is the limit minus what is
    // still open.
    let total_of: HashMap<&str, i128> = created
        .iter()
        .map(|o| (o.payload.order_id.as_str(), o.payload.totals.total.units()))
        .collect();
    let cancelled_ids: std::collections::HashSet<&str> = cancelled
        .iter()
        .map(|c| c.payload.order_id.as_str())
        .collect();
    let mut available: BTreeMap<&str, i128> = BTreeMap::new();
    for c in &changes {
        let p = &c.payload;
        let before = available
            .get(p.customer_id.as_str())
            .copied()
            .unwrap_or(limit);
        let amount = p.balance_change_amount.expect("an amount").units();
        let after = match p.change_type {
            CreditChangeType::BalanceDecreased => before - amount,
            CreditChangeType::BalanceIncreased => before + amount,
            other => panic!("unexpected change {other:?}"),
        };
        assert_eq!(
            p.available_credit.units(),
            after,
            "{}: available after a {:?} of {amount}",
            p.customer_id,
            p.change_type
        );
        assert!(after >= 0, "{}: credit over the limit", p.customer_id);
        available.insert(p.customer_id.as_str(), after);
    }
    let mut open: BTreeMap<&str, i128> = BTreeMap::new();
    for o in &created {
        let id = o.payload.order_id.as_str();
        if !rejected.contains(id) && !cancelled_ids.contains(id) {
            *open.entry(o.payload.customer_id.as_str()).or_default() += total_of[id];
        }
    }
    for (customer, last) in &available {
        assert_eq!(
            *last,
            limit - open.get(customer).copied().unwrap_or(0),
            "{customer}: last available"
        );
    }
    eprintln!(
        "[keyed state, re-keyed] {orders} orders ({} rejected), {} cancelled, 50 customers, 2 \
         replicas, {kills} SIGKILLs, {crashes} replicas restarted after exiting by themselves: \
         every outcome once, every customer gapless",
        rejected.len(),
        cancelled.len()
    );
    assert!(!rejected.is_empty(), "some orders ran out of credit");
    assert!(
        kills >= 2,
        "the run was too short to kill anything ({kills})"
    );
}

/// Fanned out: B2B cancellations of orders over several products are forwarded once per product
/// (the inventory worker's `on_stateful_by_each`) to the partitions where each product's
/// availability lives, with two replicas and one SIGKILLed every few seconds. Counted by event
/// id: each cancelled line released exactly once (no release id twice), each product's releases
/// gapless from its restocked availability (previous = the last new, new = previous + quantity),
/// and each product's last availability = restocked + every cancelled quantity of it.
#[test]
fn cancellations_fanned_out_by_product_release_each_line_exactly_once_under_sigkill() {
    use weft_contracts::b2b::inventory::{InventoryReleased, InventoryRestocked};
    use weft_contracts::b2b::order::OrderCancelled;
    use weft_processors::b2b::inventory;

    let _ = stack();
    let orders = env_usize("WEFT_FANOUT_CHAOS_ORDERS", 1_500);
    let prefix = format!("{}.", weft_testkit::unique("fanout"));
    let group = provision(
        &prefix,
        inventory::NAME,
        &[
            InventoryRestocked::TOPIC,
            "b2b.inventory.reserved.v1",
            OrderCancelled::TOPIC,
            InventoryReleased::TOPIC,
        ],
    );
    assert!(group.repartition, "the group spec re-keys");
    let mut rng = rand::rng();
    let products: Vec<String> = (0..30).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    const START: i32 = 1_000;
    let restocks: Vec<Event<InventoryRestocked>> = products
        .iter()
        .map(|p| {
            let mut r = InventoryRestocked::example();
            r.product_id = p.clone();
            r.variant_id = None;
            r.new_available = START;
            Event::new(EventMetadata::new_for::<InventoryRestocked>("api", "u"), r)
        })
        .collect();
    let cancellations: Vec<Event<OrderCancelled>> = (0..orders)
        .map(|_| {
            let mut c = OrderCancelled::example();
            c.order_id = uuid::Uuid::new_v4().to_string();
            let template = c.items[0].clone();
            c.items = (0..rng.random_range(1..=4))
                .map(|_| {
                    let mut i = template.clone();
                    i.product_id = products[rng.random_range(0..products.len())].clone();
                    i.variant_id = None;
                    i.quantity = rng.random_range(1..=5);
                    i
                })
                .collect();
            Event::new(EventMetadata::new_for::<OrderCancelled>("api", "u"), c)
        })
        .collect();

    let env: Vec<(&str, &str)> = vec![
        ("WEFT_TOPIC_PREFIX", prefix.as_str()),
        ("WEFT_STATIC_MEMBERSHIP", "true"),
    ];
    let slots: Vec<String> = (0..2)
        .map(|n| format!("{}-fanout-{n}", prefix.trim_end_matches('.')))
        .collect();
    let start = |slot: &str| Running::start_as(&[inventory::NAME], &env, slot);
    let mut replicas: Vec<Option<Running>> = slots.iter().map(|s| Some(start(s))).collect();
    let gname = format!("{prefix}{}", inventory::NAME);
    let repartition = format!("{prefix}{}", group.repartition_topic().unwrap());
    let (mut kills, mut crashes) = (0, 0);
    let mut wave =
        |topic: String, records: Vec<RawRecord>, kills: &mut usize, crashes: &mut usize| {
            chaos_wave(
                ChaosWave {
                    topic,
                    records,
                    batch: 100,
                    repartition: &repartition,
                    group: &gname,
                    who: "inventory worker",
                },
                &mut replicas,
                &|slot| start(&slots[slot]),
                kills,
                crashes,
            )
        };
    let raw = |events: Vec<(String, Vec<u8>)>| -> Vec<RawRecord> {
        events
            .into_iter()
            .map(|(k, v)| (k, v, Vec::new()))
            .collect()
    };
    wave(
        format!("{prefix}{}", InventoryRestocked::TOPIC),
        raw(restocks.iter().map(|e| (e.key(), encode(e))).collect()),
        &mut kills,
        &mut crashes,
    );
    wave(
        format!("{prefix}{}", OrderCancelled::TOPIC),
        raw(cancellations.iter().map(|e| (e.key(), encode(e))).collect()),
        &mut kills,
        &mut crashes,
    );
    for r in replicas.into_iter().flatten() {
        assert_eq!(r.stop(), Some(0), "a replica stops cleanly");
    }

    // Read in topic order: each product's releases are in its partition's order.
    let released: Vec<Event<InventoryReleased>> =
        read_all(&format!("{prefix}{}", InventoryReleased::TOPIC))
            .iter()
            .map(|r| decode(&r.value))
            .collect();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for r in &released {
        *ids.entry(r.metadata.event_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "releases published twice: {twice:?}");
    let mut per_cause: HashMap<&str, usize> = HashMap::new();
    for r in &released {
        *per_cause
            .entry(r.metadata.causation_id.as_deref().expect("a causation id"))
            .or_default() += 1;
    }
    let mut expected_total: HashMap<&str, i32> = HashMap::new();
    for c in &cancellations {
        assert_eq!(
            per_cause
                .get(c.metadata.event_id.as_str())
                .copied()
                .unwrap_or(0),
            c.payload.items.len(),
            "order {}: one release per line",
            c.payload.order_id
        );
        for i in &c.payload.items {
            *expected_total.entry(i.product_id.as_str()).or_default() += i.quantity;
        }
    }
    let mut last: HashMap<&str, i32> = HashMap::new();
    for r in &released {
        let p = &r.payload;
        let before = last.get(p.product_id.as_str()).copied().unwrap_or(START);
        assert_eq!(
            p.previous_available,
            Some(before),
            "{}: gapless",
            p.product_id
        );
        assert_eq!(
            p.new_available,
            Some(before + p.quantity),
            "{}",
            p.product_id
        );
        last.insert(p.product_id.as_str(), before + p.quantity);
    }
    for (product, total) in &expected_total {
        assert_eq!(
            last.get(product).copied(),
            Some(START + total),
            "{product}: last availability"
        );
    }
    let lines: usize = cancellations.iter().map(|c| c.payload.items.len()).sum();
    eprintln!(
        "[keyed state, fanned out] {orders} cancellations, {lines} lines over 30 products, 2 \
         replicas, {kills} SIGKILLs, {crashes} replicas restarted after exiting by themselves: \
         every line released once, every product gapless"
    );
    assert!(
        kills >= 2,
        "the run was too short to kill anything ({kills})"
    );
}
