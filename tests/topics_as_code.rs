//! `weft topics plan|apply|check` round trip, through the real binary against the real broker.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use weft_testkit::{broker, kafka_tool, unique};

fn spec(system: &str, action: &str, partitions: i32, retention: &str) -> String {
    format!(
        "name: {system}.order.{action}.v1\nevent_type: order.{action}\npartitions: {partitions}\n\
         replication_factor: 3\nmin_insync_replicas: 2\ncleanup_policy: delete\nretention: {retention}\n\
         key: order_id\nvalue_subject: {system}.order.{action}.v1-value\nvalue_schema: {system}.order.Order\n\
         owner: checkout\nconsumers: [{system}.worker]\npriority: high\nsla: 5s\n"
    )
}

fn write(dir: &Path, system: &str, action: &str, partitions: i32, retention: &str) {
    std::fs::create_dir_all(dir.join(system)).unwrap();
    std::fs::write(
        dir.join(system)
            .join(format!("{system}.order.{action}.v1.yaml")),
        spec(system, action, partitions, retention),
    )
    .unwrap();
}

fn weft(dir: &Path, args: &[&str]) -> (i32, String) {
    let kafka = broker();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["topics"])
        .args(args)
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--max-replication-factor",
            "1",
        ])
        .env("WEFT_BOOTSTRAP_SERVERS", &kafka.bootstrap_servers)
        .output()
        .expect("weft runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn cluster_partitions(topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = broker().client_config().create().unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    md.topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len())
}

#[test]
fn plan_apply_check_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let sys = unique("t");
    let created = format!("{sys}.order.created.v1");
    let cancelled = format!("{sys}.order.cancelled.v1");
    write(dir.path(), &sys, "created", 2, "1d");
    write(dir.path(), &sys, "cancelled", 2, "1d");

    // Plan lists the creations, including the derived retry and dead-letter topics.
    let (code, out) = weft(dir.path(), &["plan"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("+ create {created}")), "{out}");
    assert!(
        out.contains(&format!("+ create {sys}.worker.retry.10s")),
        "{out}"
    );
    assert!(out.contains(&format!("+ create {sys}.worker.dlq")), "{out}");

    // Check fails before apply, with exit code 3.
    let (code, out) = weft(dir.path(), &["check"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("drift"), "{out}");

    // Apply creates everything; a second apply changes nothing; check passes.
    let (code, out) = weft(dir.path(), &["apply"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(cluster_partitions(&created), Some(2));
    assert_eq!(cluster_partitions(&format!("{sys}.worker.dlq")), Some(2));
    let (code, out) = weft(dir.path(), &["apply"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no changes"), "{out}");
    let (code, out) = weft(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}");

    // A config change is detected with a readable diff, then applied.
    write(dir.path(), &sys, "created", 2, "2d");
    let (code, out) = weft(dir.path(), &["check"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(&format!(
            "~ alter {created}: retention.ms: 86400000 -> 172800000"
        )),
        "{out}"
    );
    // An operator's override of a key no spec manages, set with Kafka's own ConfigCommand,
    // survives the apply of a managed change.
    let (code, _, err) = kafka_tool(
        "ConfigCommand",
        &[
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            &created,
            "--add-config",
            "max.message.bytes=2000000",
        ],
    );
    assert_eq!(code, 0, "ConfigCommand --alter failed: {err}");
    let (code, out) = weft(dir.path(), &["apply"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("retention.ms"), "{out}");
    let (code, out) = weft(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}");
    let (code, described, err) = kafka_tool(
        "ConfigCommand",
        &[
            "--describe",
            "--entity-type",
            "topics",
            "--entity-name",
            &created,
        ],
    );
    assert_eq!(code, 0, "ConfigCommand --describe failed: {err}");
    assert!(
        described.contains("max.message.bytes=2000000"),
        "the unmanaged override was reset by apply:\n{described}"
    );
    assert!(
        described.contains("retention.ms=172800000"),
        "the managed change is not there:\n{described}"
    );

    // Adding partitions is planned with the key-remapping warning, then applied.
    write(dir.path(), &sys, "cancelled", 3, "1d");
    let (_, out) = weft(dir.path(), &["plan"]);
    assert!(
        out.contains(&format!("~ add partitions {cancelled}: 2 -> 3")),
        "{out}"
    );
    assert!(out.contains("keys remap"), "{out}");
    let (code, out) = weft(dir.path(), &["apply"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(cluster_partitions(&cancelled), Some(3));

    // Decreasing partitions is refused before anything changes.
    write(dir.path(), &sys, "created", 1, "1d");
    let (code, out) = weft(dir.path(), &["apply"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot decrease partitions"), "{out}");
    assert_eq!(cluster_partitions(&created), Some(2));
    write(dir.path(), &sys, "created", 2, "1d");

    // A topic whose spec is gone is not deleted without --allow-delete, and is with it.
    std::fs::remove_file(dir.path().join(&sys).join(format!("{cancelled}.yaml"))).unwrap();
    let (code, out) = weft(dir.path(), &["apply"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("- would delete {cancelled}")),
        "{out}"
    );
    assert!(cluster_partitions(&cancelled).is_some());
    let (code, out) = weft(dir.path(), &["apply", "--allow-delete"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("- deleted {cancelled}")), "{out}");
    assert_eq!(cluster_partitions(&cancelled), None, "{out}");
    // The group's derived topics grew with its largest input and keep their partitions.
    assert_eq!(cluster_partitions(&format!("{sys}.worker.dlq")), Some(3));
    let (code, out) = weft(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn malformed_spec_names_file_field_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let sys = unique("t");
    write(dir.path(), &sys, "created", 2, "a fortnight");
    let (code, out) = weft(dir.path(), &["plan"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{sys}.order.created.v1.yaml")),
        "{out}"
    );
    assert!(out.contains("field `retention`"), "{out}");
    assert!(out.contains("a fortnight"), "{out}");
}
