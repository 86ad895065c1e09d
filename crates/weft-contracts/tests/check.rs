//! `schemas check --against <ref>` plumbing, in a scratch git repository, with apache-avro's
//! `can_read` (through `check::avro_can_read`) as the injected checker.

use std::cell::RefCell;
use std::path::Path;
use std::process::Command;

use apache_avro::Schema;
use weft_contracts::check::{avro_can_read, check_against_git_ref, ChangeKind};

const META: &str = include_str!("../../../avro/common/EventMetadata.avsc");

fn event_schema(extra_fields: &str) -> String {
    format!(
        r#"{{"type":"record","name":"Ev","namespace":"shop.order","doc":"d","fields":[
  {{"name":"metadata","type":"weft.common.EventMetadata","doc":"d"}},
  {{"name":"payload","type":{{"type":"record","name":"EvPayload","doc":"d","fields":[
    {{"name":"order_id","type":"string","doc":"d"}}{extra_fields}]}},"doc":"d"}}]}}"#
    )
}

const SPEC: &str = "name: shop.order.created.v1
event_type: order.created
partitions: 3
replication_factor: 3
min_insync_replicas: 2
cleanup_policy: delete
retention: 7d
key: order_id
value_subject: shop.order.created.v1-value
value_schema: shop.order.Ev
owner: shop
consumers: []
priority: normal
sla: 30s
compatibility: LEVEL
";

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A repository with one committed event schema and its topic spec at `level`.
fn repo(level: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    write(dir.path(), "avro/common/EventMetadata.avsc", META);
    write(dir.path(), "avro/shop/order/Ev.avsc", &event_schema(""));
    write(
        dir.path(),
        "topics/shop/shop.order.created.v1.yaml",
        &SPEC.replace("LEVEL", level),
    );
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    dir
}

#[test]
fn unchanged_tree_reports_nothing() {
    let dir = repo("BACKWARD");
    let changes = check_against_git_ref(dir.path(), "HEAD", &avro_can_read).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn a_required_field_without_default_breaks_backward() {
    let dir = repo("BACKWARD");
    write(
        dir.path(),
        "avro/shop/order/Ev.avsc",
        &event_schema(r#",{"name":"customer_id","type":"string","doc":"d"}"#),
    );
    let changes = check_against_git_ref(dir.path(), "HEAD", &avro_can_read).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(change.full_name, "shop.order.Ev");
    assert_eq!(change.kind, ChangeKind::Modified);
    assert_eq!(change.subject, "shop.order.created.v1-value");
    assert_eq!(change.level, "BACKWARD");
    assert_eq!(change.file, Path::new("avro/shop/order/Ev.avsc"));
    assert!(!change.is_compatible(), "{change:?}");
}

#[test]
fn an_optional_field_with_default_is_backward_compatible() {
    let dir = repo("BACKWARD");
    write(
        dir.path(),
        "avro/shop/order/Ev.avsc",
        &event_schema(r#",{"name":"note","type":["null","string"],"default":null,"doc":"d"}"#),
    );
    let changes = check_against_git_ref(dir.path(), "HEAD", &avro_can_read).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].is_compatible(), "{changes:?}");
}

#[test]
fn the_level_comes_from_the_topic_spec_and_reaches_the_checker() {
    let dir = repo("FORWARD");
    write(
        dir.path(),
        "avro/shop/order/Ev.avsc",
        &event_schema(r#",{"name":"customer_id","type":"string","doc":"d"}"#),
    );
    let calls = RefCell::new(Vec::new());
    let recording = |new: &Schema, old: &Schema, level: &str| {
        let count = |s: &Schema| s.canonical_form().matches("customer_id").count();
        calls
            .borrow_mut()
            .push((count(new), count(old), level.to_string()));
        avro_can_read(new, old, level)
    };
    let changes = check_against_git_ref(dir.path(), "HEAD", &recording).unwrap();
    // (new has the field, old does not, level FORWARD)
    assert_eq!(calls.borrow().as_slice(), [(1, 0, "FORWARD".to_string())]);
    // Adding a field is forward compatible: old readers ignore it.
    assert!(changes[0].is_compatible(), "{changes:?}");
}

#[test]
fn a_changed_reference_rechecks_its_users_and_added_and_removed_files_are_reported() {
    let dir = repo("BACKWARD");
    // EventMetadata loses a required field: every event referencing it changes too.
    let meta: serde_json::Value = serde_json::from_str(META).unwrap();
    let mut meta = meta;
    meta["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "region", "type": "string", "doc": "New and required."}));
    write(
        dir.path(),
        "avro/common/EventMetadata.avsc",
        &meta.to_string(),
    );
    // A new, untracked schema.
    write(
        dir.path(),
        "avro/shop/order/Other.avsc",
        &event_schema("")
            .replace("\"Ev\"", "\"Other\"")
            .replace("EvPayload", "OtherPayload"),
    );
    let changes = check_against_git_ref(dir.path(), "HEAD", &avro_can_read).unwrap();
    let kinds: Vec<(&str, ChangeKind, bool)> = changes
        .iter()
        .map(|c| (c.full_name.as_str(), c.kind, c.is_compatible()))
        .collect();
    assert!(
        kinds.contains(&("weft.common.EventMetadata", ChangeKind::Modified, false)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("shop.order.Ev", ChangeKind::ReferenceChanged, false)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("shop.order.Other", ChangeKind::Added, true)),
        "{kinds:?}"
    );

    // Removing the event schema is a problem at BACKWARD.
    let dir = repo("BACKWARD");
    std::fs::remove_file(dir.path().join("avro/shop/order/Ev.avsc")).unwrap();
    let changes = check_against_git_ref(dir.path(), "HEAD", &avro_can_read).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].kind, ChangeKind::Removed);
    assert!(!changes[0].is_compatible());
}

#[test]
fn a_bad_ref_is_an_error() {
    let dir = repo("BACKWARD");
    let err = check_against_git_ref(dir.path(), "no-such-ref", &avro_can_read).unwrap_err();
    assert!(err.to_string().contains("no-such-ref"), "{err}");
}
