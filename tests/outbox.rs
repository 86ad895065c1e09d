//! The outbox relay against a real PostgreSQL, the real broker and registry (seed 000 section
//! 3.2, issue #16).
//!
//! `every_row_once_in_aggregate_order_with_relays_killed_and_the_database_crashed`: a checkout
//! writer inserts `order.created` rows over many orders (the aggregates), in transactions of
//! 1-20 rows, 2% of them poison (an unknown event type, or a payload that does not fit the
//! schema), while two `weft outbox relay` processes publish them; one of the four processes (two relays,
//! two ERP sync replicas) is SIGKILLed and restarted every 2-4 s until the table is drained, and once (at 40% written) the database is killed (SIGKILL of the postmaster: crash
//! recovery) and started again. Asserted by row id (the event id) as multisets: every good row
//! exactly once in the topic (read_committed), each order's rows in the order they were written,
//! every good row applied exactly once by the ERP sync (two `weft run cypher.erp-sync` replicas
//! writing into PostgreSQL, SIGKILLed like the relays) with its document from the order's last row,
//! every poison row exactly once in the dead-letter topic and nothing else there, and the table
//! left with every good row `published` and every poison row `failed` after its attempts.
//!
//! `WEFT_OUTBOX_CHAOS_ROWS` / `WEFT_OUTBOX_CHAOS_AGGREGATES` size it (20,000 over 1,000 by
//! default, the figures). The database is crashed through `scripts/postgres.sh`, so the
//! test needs the project's own server (not `WEFT_TEST_DATABASE_URL`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use support::{read_all, repo, stack};
use tokio_postgres::NoTls;
use uuid::Uuid;

const TOPIC: &str = "cypher.order.created.v1";

/// The chaos test crashes the shared PostgreSQL server: the tests of this file take turns (an
/// async lock: each test holds it across its awaits, on a runtime of its own).
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One row the writer inserts.
#[derive(Clone)]
struct Planned {
    id: Uuid,
    order: String,
    /// Its place among its order's rows.
    index: usize,
    event_type: &'static str,
    payload: serde_json::Value,
    poison: bool,
}

fn plan(rows: usize, aggregates: usize) -> Vec<Planned> {
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("avro/cypher/order/OrderCreated.example.json"))
            .unwrap(),
    )
    .unwrap();
    let orders: Vec<String> = (0..aggregates)
        .map(|_| Uuid::new_v4().to_string())
        .collect();
    let mut next = vec![0usize; aggregates];
    let mut rng = rand::rng();
    (0..rows)
        .map(|i| {
            let a = rng.random_range(0..aggregates);
            let mut payload = example.clone();
            payload["order_id"] = orders[a].clone().into();
            payload["order_number"] = format!("ORD-{i:08}").into();
            let (event_type, poison) = match i % 100 {
                // Unknown to every spec: it has no aggregate, blocks nothing.
                37 => ("order.exploded", true),
                // Fits no schema (a required field gone): its order waits behind it.
                73 => {
                    payload.as_object_mut().unwrap().remove("customer_id");
                    ("order.created", true)
                }
                _ => ("order.created", false),
            };
            let index = next[a];
            next[a] += 1;
            Planned {
                id: Uuid::new_v4(),
                order: orders[a].clone(),
                index,
                event_type,
                payload,
                poison,
            }
        })
        .collect()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Inserts `rows` in transactions of 1-20, as a checkout service would; survives the database
/// going away (reconnects, and asks whether a transaction whose commit got no answer landed).
async fn write(url: String, rows: Vec<Planned>, written: Arc<AtomicUsize>) -> usize {
    let mut client: Option<tokio_postgres::Client> = None;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut at = 0;
    let mut reconnects = 0;
    while at < rows.len() {
        let n = rng.random_range(1..=20).min(rows.len() - at);
        let chunk = &rows[at..at + n];
        let c = match &mut client {
            Some(c) if !c.is_closed() => c,
            _ => match tokio_postgres::connect(&url, NoTls).await {
                Ok((c, conn)) => {
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    reconnects += 1;
                    client.insert(c)
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let result: Result<(), tokio_postgres::Error> = async {
            let tx = c.transaction().await?;
            for r in chunk {
                tx.execute(
                    "INSERT INTO outbox (id, event_type, event_version, payload, headers, max_retries) \
                     VALUES ($1, $2, 'v1', $3, $4, 3)",
                    &[
                        &r.id,
                        &r.event_type,
                        &r.payload,
                        &serde_json::json!({"tenant_id": "t-chaos", "producer": "checkout"}),
                    ],
                )
                .await?;
            }
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => {
                at += n;
                written.store(at, Ordering::SeqCst);
            }
            Err(_) => {
                // Did the commit land? Ask once connected again.
                loop {
                    if let Ok((c, conn)) = tokio_postgres::connect(&url, NoTls).await {
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                        let ids: Vec<Uuid> = chunk.iter().map(|r| r.id).collect();
                        if let Ok(row) = c
                            .query_one("SELECT count(*) FROM outbox WHERE id = ANY($1)", &[&ids])
                            .await
                        {
                            let found: i64 = row.get(0);
                            assert!(
                                found == 0 || found == n as i64,
                                "a transaction landed in part ({found} of {n} rows)"
                            );
                            if found == n as i64 {
                                at += n;
                                written.store(at, Ordering::SeqCst);
                            }
                            client = Some(c);
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..4))).await;
    }
    reconnects
}

/// The relays (`relay-<i>`) and the ERP sync replicas (`sink-<i>`), as processes.
struct Fleet {
    url: String,
    prefix: String,
    registry: String,
    logs: std::path::PathBuf,
    children: BTreeMap<String, Child>,
}

impl Fleet {
    fn spawn(&mut self, name: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{name}.log")))
            .unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_weft"));
        c.current_dir(repo());
        if name.starts_with("relay") {
            c.args(["outbox", "relay", "--system", "cypher", "--auto-register"])
                .args([
                    "--interval",
                    "50ms",
                    "--retry-backoff",
                    "1s",
                    "--batch-size",
                    "50",
                ]);
        } else {
            c.args(["run", "cypher.erp-sync", "--max-batch", "200"]);
        }
        let child = c
            .args(["--instance-id", name])
            .args(["--topic-prefix", &self.prefix])
            .args(["--registry-url", &self.registry])
            .args(["--metrics-listen", "off"])
            .env("WEFT_DATABASE_URL", &self.url)
            .env(
                "WEFT_BOOTSTRAP_SERVERS",
                &weft_testkit::broker().bootstrap_servers,
            )
            .env("WEFT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.insert(name.to_string(), child);
    }

    /// SIGKILLs `name` and starts it again.
    fn kill(&mut self, name: &str) {
        if let Some(mut c) = self.children.remove(name) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn(name);
    }

    /// Members that exited on their own (they should not): restarted, counted.
    fn exited(&mut self) -> usize {
        let gone: Vec<String> = self
            .children
            .iter_mut()
            .filter_map(|(n, c)| c.try_wait().unwrap().map(|_| n.clone()))
            .collect();
        for n in &gone {
            self.children.remove(n);
            self.spawn(n);
        }
        gone.len()
    }

    fn stop(&mut self) {
        for c in self.children.values() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for (n, c) in self.children.iter_mut() {
            let end = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() {
                assert!(Instant::now() < end, "{n} did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.children.clear();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in self.children.values_mut() {
            let _ = c.kill();
        }
    }
}

fn postgres_script(arg: &str) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo().join("scripts/postgres.sh"))
        .arg(arg)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_once_in_aggregate_order_with_relays_killed_and_the_database_crashed() {
    let _turn = SERVER.lock().await;
    let stack = stack();
    let rows_n = env_usize("WEFT_OUTBOX_CHAOS_ROWS", 20_000);
    let aggregates = env_usize("WEFT_OUTBOX_CHAOS_AGGREGATES", 1_000);
    let run = weft_testkit::unique("outbox");
    let prefix = format!("{run}.");
    let erp = weft_core::spec::SpecSet::load(&repo().join("topics"))
        .unwrap()
        .group("cypher.erp-sync");
    weft_testkit::create_topics(
        &[
            &format!("{prefix}{TOPIC}"),
            &format!("{prefix}{}", erp.dead_letter_topic()),
        ],
        6,
    )
    .await;
    weft_testkit::create_topics(
        &[&format!("{prefix}{}", weft_core::migration::CONTROL_TOPIC)],
        1,
    )
    .await;
    let base = weft_testkit::postgres();
    let schema = run.replace(['-', '.'], "_");
    connect(&base)
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let url = weft_testkit::postgres_in_schema(&base, &schema);
    let out = support::weft()
        .args(["outbox", "migrate"])
        .env("WEFT_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "weft outbox migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let planned = plan(rows_n, aggregates);
    let logs = std::env::temp_dir().join(&run);
    std::fs::create_dir_all(&logs).unwrap();
    let mut fleet = Fleet {
        url: url.clone(),
        prefix: prefix.clone(),
        registry: stack.registry_url.clone(),
        logs: logs.clone(),
        children: BTreeMap::new(),
    };
    const MEMBERS: [&str; 4] = ["relay-0", "relay-1", "sink-0", "sink-1"];
    for m in MEMBERS {
        fleet.spawn(m);
    }

    let written = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn(write(url.clone(), planned.clone(), written.clone()));
    let started = Instant::now();
    let (mut kills, mut crashes) = (0, 0);
    let mut next_kill = Instant::now() + Duration::from_secs(2);
    let mut db_crashed = false;
    let watcher = connect(&base).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut writer = Some(writer);
    let mut reconnects = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the outbox was not drained within 600 s; relay logs in {logs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        crashes += fleet.exited();
        let writing = writer.as_ref().is_some_and(|w| !w.is_finished());
        if !writing {
            if let Some(w) = writer.take() {
                reconnects = w.await.unwrap();
            }
        }
        // Kills go on until the outbox is drained.
        if Instant::now() >= next_kill {
            fleet.kill(MEMBERS[rand::rng().random_range(0..MEMBERS.len())]);
            kills += 1;
            next_kill =
                Instant::now() + Duration::from_millis(rand::rng().random_range(2_000..4_000));
        }
        // Once, at 40% of the rows written: the database is SIGKILLed and recovers.
        if !db_crashed && written.load(Ordering::SeqCst) * 10 >= rows_n * 4 {
            let (ok, out) = postgres_script("crash");
            assert!(ok, "crashing and restarting PostgreSQL: {out}");
            db_crashed = true;
        }
        if writing {
            continue;
        }
        // Written: done once nothing is open.
        let open: i64 = match connect_fresh(&url).await {
            Some(c) => c
                .query_one(
                    "SELECT count(*) FROM outbox WHERE status IN ('pending', 'publishing')",
                    &[],
                )
                .await
                .map(|r| r.get(0))
                .unwrap_or(1),
            None => 1,
        };
        if open == 0 {
            break;
        }
    }
    drop(watcher);
    let drained = started.elapsed();

    assert!(db_crashed, "the run ended before the database was crashed");

    // The ERP sync: one document per order, each good event of the order applied exactly once
    // (`writes`), the last one written last.
    let mut per_order: BTreeMap<&str, (i64, Uuid)> = BTreeMap::new();
    for p in planned.iter().filter(|p| !p.poison) {
        let e = per_order.entry(p.order.as_str()).or_insert((0, p.id));
        *e = (e.0 + 1, p.id);
    }
    let c = connect(&url).await;
    let events: i64 = per_order.values().map(|(n, _)| n).sum();
    let sink_deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r = c
            .query_one(
                "SELECT count(*), COALESCE(sum(writes), 0)::bigint FROM sink_documents \
                 WHERE sink = 'erp-orders'",
                &[],
            )
            .await
            .unwrap();
        let (docs, writes): (i64, i64) = (r.get(0), r.get(1));
        if docs == per_order.len() as i64 && writes >= events {
            break;
        }
        assert!(
            Instant::now() < sink_deadline,
            "the ERP sync holds {docs} documents with {writes} writes, expected {} and {events}; \
             logs in {logs:?}",
            per_order.len()
        );
        crashes += fleet.exited();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sink_done = started.elapsed();
    fleet.stop();
    let docs: BTreeMap<String, (i64, String)> = c
        .query(
            "SELECT doc_key, writes, event_id FROM sink_documents WHERE sink = 'erp-orders'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    for (order, (n, last)) in &per_order {
        let (writes, event_id) = docs
            .get(*order)
            .unwrap_or_else(|| panic!("no ERP document for order {order}"));
        assert_eq!(
            writes, n,
            "order {order}: events applied to its ERP document"
        );
        assert_eq!(
            event_id,
            &last.to_string(),
            "order {order}: its ERP document is from its last event"
        );
    }

    // Kafka: every good row once, each order's rows in write order.
    let good: BTreeMap<Uuid, &Planned> = planned
        .iter()
        .filter(|p| !p.poison)
        .map(|p| (p.id, p))
        .collect();
    let records = read_all(&format!("{prefix}{TOPIC}"));
    let mut counts: BTreeMap<Uuid, usize> = BTreeMap::new();
    let mut last_index: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        let id: Uuid = r.header("weft-event-id").unwrap().parse().unwrap();
        *counts.entry(id).or_default() += 1;
        let p = good
            .get(&id)
            .unwrap_or_else(|| panic!("{id} was published but is not a good row"));
        assert_eq!(r.key, p.order, "the key of {id} is its order");
        if counts[&id] == 1 {
            if let Some(prev) = last_index.get(p.order.as_str()) {
                assert!(
                    *prev < p.index,
                    "order {} out of write order: row {} after row {prev}",
                    p.order,
                    p.index
                );
            }
            last_index.insert(p.order.as_str(), p.index);
        }
    }
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "rows published more than once: {dups:?}");
    let published: BTreeSet<Uuid> = counts.keys().copied().collect();
    let expected: BTreeSet<Uuid> = good.keys().copied().collect();
    let missing: Vec<_> = expected.difference(&published).take(10).collect();
    assert!(
        missing.is_empty(),
        "{} good rows never published, e.g. {missing:?}",
        expected.difference(&published).count()
    );

    // The dead-letter topic: every poison row once, nothing else.
    let mut dead: BTreeMap<Uuid, usize> = BTreeMap::new();
    for r in read_all(&format!("{prefix}weft.outbox-relay.dlq")) {
        let id: Uuid = r.header("weft-event-id").unwrap().parse().unwrap();
        *dead.entry(id).or_default() += 1;
        assert!(r.header("weft-dlq-error-message").is_some());
    }
    let poison: BTreeMap<Uuid, usize> = planned
        .iter()
        .filter(|p| p.poison)
        .map(|p| (p.id, 1))
        .collect();
    assert_eq!(
        dead, poison,
        "each poison row exactly once in the dead-letter topic"
    );

    // The table: good rows published, poison rows failed after their 3 attempts.
    let by_status: BTreeMap<String, i64> = c
        .query("SELECT status, count(*) FROM outbox GROUP BY status", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want: BTreeMap<String, i64> = [
        ("failed".to_string(), poison.len() as i64),
        ("published".to_string(), expected.len() as i64),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_status, want, "rows per status");
    let attempts: i64 = c
        .query_one(
            "SELECT count(*) FROM outbox WHERE status = 'failed' AND retry_count = 3 \
             AND error_message IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        attempts,
        poison.len() as i64,
        "poison rows failed after 3 attempts each"
    );
    println!(
        "outbox chaos: {} rows ({} poison) over {aggregates} orders, 2 relays and 2 ERP sync \
         replicas, {kills} SIGKILLs, {crashes} self-exits, 1 database crash (writer reconnected \
         {reconnects} times): outbox drained in {:.1} s, ERP documents complete at {:.1} s; every \
         row once in Kafka in order, every event once in PostgreSQL",
        rows_n,
        poison.len(),
        drained.as_secs_f64(),
        sink_done.as_secs_f64()
    );
    assert_eq!(crashes, 0, "relays exited on their own; logs in {logs:?}");
}

async fn connect_fresh(url: &str) -> Option<tokio_postgres::Client> {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(c)
}

/// Rows that commit out of write order are not skipped: a row inserted first (lower `seq`) whose
/// transaction commits after a later row's has been published is still published, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_committed_after_a_later_row_was_published_is_published_too() {
    let _turn = SERVER.lock().await;
    let stack = stack();
    let run = weft_testkit::unique("outbox-late");
    let prefix = format!("{run}.");
    weft_testkit::create_topics(&[&format!("{prefix}{TOPIC}")], 6).await;
    let base = weft_testkit::postgres();
    let schema = run.replace(['-', '.'], "_");
    connect(&base)
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let url = weft_testkit::postgres_in_schema(&base, &schema);
    let out = support::weft()
        .args(["outbox", "migrate"])
        .env("WEFT_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(out.status.success());
    let logs = std::env::temp_dir().join(&run);
    std::fs::create_dir_all(&logs).unwrap();
    let mut fleet = Fleet {
        url: url.clone(),
        prefix: prefix.clone(),
        registry: stack.registry_url.clone(),
        logs,
        children: BTreeMap::new(),
    };
    fleet.spawn("relay-0");
    let rows = plan(2, 2);
    let (early, late) = (&rows[0], &rows[1]);
    let insert =
        "INSERT INTO outbox (id, event_type, event_version, payload) VALUES ($1, $2, 'v1', $3)";
    // The early row's transaction takes its seq first and stays open.
    let mut a = connect(&url).await;
    let ta = a.transaction().await.unwrap();
    ta.execute(insert, &[&early.id, &"order.created", &early.payload])
        .await
        .unwrap();
    let b = connect(&url).await;
    b.execute(insert, &[&late.id, &"order.created", &late.payload])
        .await
        .unwrap();
    let seqs: Vec<i64> = ta
        .query("SELECT seq FROM outbox ORDER BY seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seqs.len(), 2, "the open transaction sees both rows");
    let topic = format!("{prefix}{TOPIC}");
    let id_of = |r: &support::Rec| r.header("weft-event-id").unwrap().to_string();
    let late_id = late.id.to_string();
    support::collect_until(
        &[&topic],
        |r| id_of(r) == late_id,
        |kept| !kept.is_empty(),
        Duration::from_secs(60),
    );
    ta.commit().await.unwrap();
    let early_id = early.id.to_string();
    support::collect_until(
        &[&topic],
        |r| id_of(r) == early_id,
        |kept| !kept.is_empty(),
        Duration::from_secs(60),
    );
    fleet.stop();
    let all: Vec<String> = read_all(&topic).iter().map(id_of).collect();
    let mut want = vec![early_id, late_id];
    let mut got = all.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "each row once");
    let status: Vec<String> = b
        .query("SELECT status FROM outbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(status, vec!["published", "published"]);
}
