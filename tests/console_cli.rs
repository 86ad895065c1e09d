//! The console subcommands through the `weft` binary: exit codes, output formats, no colour
//! when piped, flags from env vars. Real broker, real registry (in this test's process).

#[path = "../crates/weft-console/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn weft(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
    cmd.args(args)
        .current_dir(weft_testkit::repo_root())
        .env(
            "WEFT_BOOTSTRAP_SERVERS",
            &weft_testkit::broker().bootstrap_servers,
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("weft runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_consume_through_the_binary() {
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 3).await;
    common::register(&url, &topic, "cypher.order.OrderCreated").await;
    let mut e =
        weft_contracts::registry::example_event::<weft_contracts::cypher::order::OrderCreated>();
    e.payload.order_id = uuid::Uuid::new_v4().to_string();
    let payload = serde_json::to_value(&e.payload).unwrap();
    let lines = format!(
        "{}\n{}\n",
        serde_json::json!({"metadata": {"event_type": "order.created"}, "payload": payload}),
        serde_json::json!({"metadata": {"event_type": "order.created", "tenant_id": "t-7"}, "payload": payload}),
    );
    let t = topic.clone();
    let u = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let env = [("WEFT_REGISTRY_URL", u.as_str())];
        weft(
            &["produce", &t, "--header", "x-run=cli", "-o", "jsonl"],
            &env,
            Some(&lines),
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let produced: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(produced.len(), 2);
    assert_eq!(produced[0]["key"], e.payload.order_id.as_str());

    // consume: JSON lines, filters from env vars, no ANSI escapes when piped.
    let t = topic.clone();
    let out = tokio::task::spawn_blocking(move || {
        weft(
            &["tail", &t, "--output", "jsonl"],
            &[
                ("WEFT_REGISTRY_URL", url.as_str()),
                ("WEFT_TENANT_ID", "t-7"),
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let got: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 1, "{stdout}");
    assert_eq!(got[0]["headers"]["x-run"], "cli");
    assert_eq!(got[0]["value"]["metadata"]["tenant_id"], "t-7");
    assert!(got[0]["partition"].is_number() && got[0]["offset"].is_number());
    assert!(!stdout.contains('\x1b'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_have_documented_exit_codes() {
    let url = common::registry().await;
    let topic = format!("{}.order.created.v1", weft_testkit::unique("t"));
    weft_testkit::create_topics(&[&topic], 1).await;
    common::register(&url, &topic, "cypher.order.OrderCreated").await;
    let t = topic.clone();
    let u = url.clone();
    let (bad_value, missing_topic, bad_from, text_out) = tokio::task::spawn_blocking(move || {
        let env = [("WEFT_REGISTRY_URL", u.as_str())];
        (
            weft(
                &[
                    "produce",
                    &t,
                    "--key",
                    "k",
                    "--value",
                    r#"{"payload": {"order_id": 7}}"#,
                ],
                &env,
                None,
            ),
            weft(&["consume", &format!("{t}.missing")], &env, None),
            weft(&["consume", &t, "--from", "last tuesday"], &env, None),
            weft(&["consume", &t, "-n", "1"], &env, None),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        bad_value.status.code(),
        Some(4),
        "{}",
        text(&bad_value.stderr)
    );
    assert!(
        text(&bad_value.stderr).contains("payload.order_id: expected uuid, got number 7"),
        "{}",
        text(&bad_value.stderr)
    );
    assert_eq!(
        missing_topic.status.code(),
        Some(2),
        "{}",
        text(&missing_topic.stderr)
    );
    assert!(text(&missing_topic.stderr).contains("does not exist"));
    assert_eq!(
        bad_from.status.code(),
        Some(2),
        "{}",
        text(&bad_from.stderr)
    );
    assert!(text_out.status.success(), "{}", text(&text_out.stderr));
    assert!(text_out.stdout.is_empty(), "empty topic prints nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_lag_offsets_and_trace_through_the_binary() {
    let url = common::registry().await;
    let sys = weft_testkit::unique("t");
    let source = format!("{sys}.order.created.v1");
    let group = format!("{sys}.checker");
    let dlq = format!("{group}.dlq");
    weft_testkit::create_topics(&[&source, &dlq], 1).await;
    let id = common::register(&url, &source, "cypher.order.OrderCreated").await;
    let event_id = uuid::Uuid::new_v4().to_string();
    let key = uuid::Uuid::new_v4().to_string();
    let e = common::order(&key, &event_id, &event_id, None);
    let bytes = common::frame(id, &e);
    common::send(&source, &key, &bytes, &[("weft-event-id", &event_id)]).await;
    for _ in 0..2 {
        common::send(
            &dlq,
            &key,
            &bytes,
            &[
                ("weft-event-id", &event_id),
                ("weft-dlq-source-topic", &source),
                ("weft-dlq-error-class", "poison"),
                ("weft-dlq-processor", "checker"),
                ("weft-dlq-attempt", "1"),
            ],
        )
        .await;
    }
    let pattern = format!("{}\\..*", sys);
    let src = source.clone();
    let (list, replay, trace, unknown, lag, reset_plan, reset_bad) =
        tokio::task::spawn_blocking(move || {
            let source = src;
            let env = [("WEFT_REGISTRY_URL", url.as_str())];
            (
                weft(
                    &["dlq", "list", "--pattern", &pattern, "-o", "jsonl"],
                    &env,
                    None,
                ),
                weft(
                    &["dlq", "replay", &group, "--dry-run", "-o", "json"],
                    &env,
                    None,
                ),
                weft(&["trace", &event_id, "--topics", &pattern], &env, None),
                weft(
                    &[
                        "trace",
                        &uuid::Uuid::new_v4().to_string(),
                        "--topics",
                        &pattern,
                    ],
                    &env,
                    None,
                ),
                weft(&["lag", "--group", &group, "-o", "jsonl"], &env, None),
                weft(
                    &[
                        "offsets",
                        "reset",
                        "--group",
                        &group,
                        "--topic",
                        &source,
                        "--to",
                        "latest",
                        "--dry-run",
                        "-o",
                        "json",
                    ],
                    &env,
                    None,
                ),
                weft(
                    &["offsets", "reset", "--group", &group, "--topic", &source],
                    &env,
                    None,
                ),
            )
        })
        .await
        .unwrap();
    assert!(list.status.success(), "{}", text(&list.stderr));
    let l: serde_json::Value = serde_json::from_str(text(&list.stdout).trim()).unwrap();
    assert_eq!(l["records"], 2);
    assert_eq!(l["by_error_class"]["poison"], 2);

    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let r: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(
        (r["selected"].as_u64(), r["duplicates"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["replayed"][0]["to_topic"], source.as_str());
    assert!(r["replayed"][0]["to"].is_null(), "dry run");

    assert!(trace.status.success(), "{}", text(&trace.stderr));
    let t = text(&trace.stdout);
    assert!(
        t.contains("1 event(s)") && t.contains("dead-lettered"),
        "{t}"
    );
    assert_eq!(unknown.status.code(), Some(6), "{}", text(&unknown.stderr));

    assert!(lag.status.success(), "{}", text(&lag.stderr));
    assert!(reset_plan.status.success(), "{}", text(&reset_plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&reset_plan.stdout).unwrap();
    assert_eq!(plan[0]["to"], 1);
    assert_eq!(
        reset_bad.status.code(),
        Some(2),
        "--to or --shift is required"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_example_sends_the_contracts_example_file() {
    let url = common::registry().await;
    let topic = "cypher.order.created.v1";
    common::register(&url, topic, "cypher.order.OrderCreated").await;
    let u = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        weft(
            &["produce", topic, "--example", "--dry-run", "-o", "jsonl"],
            &[("WEFT_REGISTRY_URL", u.as_str())],
            None,
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(shown.len(), 1, "{}", text(&out.stdout));
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            weft_testkit::repo_root().join("avro/cypher/order/OrderCreated.example.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(shown[0]["key"], file["order_id"]);
    assert_eq!(shown[0]["value"]["payload"]["order_id"], file["order_id"]);
    assert_eq!(shown[0]["value"]["metadata"]["event_type"], "order.created");

    // A topic without a contract has no example: a clear error, the usage exit code (2).
    let out = tokio::task::spawn_blocking(move || {
        weft(
            &["produce", "nobody.knows.this.v1", "--example"],
            &[("WEFT_REGISTRY_URL", url.as_str())],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no contract has this topic"),
        "{}",
        text(&out.stderr)
    );
}
