//! `schemas lint`: the repository is clean, and each rule fires on a broken schema, naming file,
//! field and rule.

use std::path::Path;

use weft_contracts::catalog::repo_avro_dir;
use weft_contracts::lint::{lint, LintFinding};

#[test]
fn the_repository_schemas_follow_every_rule() {
    let findings = lint(&repo_avro_dir());
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(findings.is_empty(), "{}", text.join("\n"));
}

const META: &str = include_str!("../../../avro/common/EventMetadata.avsc");

const BAD: &str = r#"{
  "type": "record", "name": "Bad", "namespace": "shop.orders",
  "doc": "Broken on purpose.",
  "fields": [
    {"name": "metadata", "type": "weft.common.EventMetadata", "doc": "Envelope."},
    {"name": "orderId", "type": "string", "doc": "Not snake case."},
    {"name": "note", "type": "string"},
    {"name": "unit_price", "type": "double", "doc": "Money as a float."},
    {"name": "grand_total", "type": "string", "doc": "Money as text."},
    {"name": "tax", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}, "doc": "Wrong shape."},
    {"name": "coupon", "type": ["null", "string"], "doc": "No default."},
    {"name": "gift", "type": ["string", "null"], "default": "x", "doc": "Null not first."},
    {"name": "status", "type": {"type": "enum", "name": "status_kind", "symbols": ["A", "B"]}, "doc": "No default, bad name, no doc."},
    {"name": "line", "type": {"type": "record", "name": "Line", "fields": [{"name": "Qty", "type": "int", "doc": "Bad case."}]}, "doc": "Nested record without doc."}
  ]
}"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn has(findings: &[LintFinding], rule: &str, field: &str) -> bool {
    findings.iter().any(|f| {
        f.rule == rule && f.field.as_deref() == Some(field) && f.file.ends_with("Wrong.avsc")
    })
}

#[test]
fn every_rule_fires_and_names_file_field_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "common/EventMetadata.avsc", META);
    write(dir.path(), "shop/order/Wrong.avsc", BAD);
    let findings = lint(dir.path());
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    assert!(has(&findings, "naming", "Bad"), "file stem: {all}");
    assert!(has(&findings, "namespace", "Bad"), "namespace: {all}");
    assert!(has(&findings, "naming", "Bad.orderId"), "{all}");
    assert!(has(&findings, "doc", "Bad.note"), "{all}");
    assert!(has(&findings, "money", "Bad.unit_price"), "{all}");
    assert!(has(&findings, "money", "Bad.grand_total"), "{all}");
    assert!(has(&findings, "decimal", "Bad.tax"), "{all}");
    assert!(has(&findings, "optional", "Bad.coupon"), "{all}");
    assert!(has(&findings, "optional", "Bad.gift"), "{all}");
    assert!(has(&findings, "enum-default", "Bad.status"), "{all}");
    assert!(has(&findings, "naming", "Bad.status"), "{all}");
    assert!(has(&findings, "doc", "Bad.status"), "{all}");
    assert!(has(&findings, "doc", "Bad.line"), "{all}");
    assert!(has(&findings, "naming", "Bad.line.Qty"), "{all}");
    // The rendered finding names file, field and rule.
    assert!(all.contains("Wrong.avsc: Bad.unit_price: [money]"), "{all}");
    // EventMetadata itself is clean.
    assert!(
        !findings
            .iter()
            .any(|f| f.file.ends_with("EventMetadata.avsc")),
        "{all}"
    );
}

#[test]
fn parse_failures_are_findings_too() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "shop/order/Broken.avsc", "{ not json");
    write(
        dir.path(),
        "shop/order/Dangling.avsc",
        r#"{"type":"record","name":"Dangling","namespace":"shop.order","doc":"d","fields":[{"name":"m","type":"weft.common.Missing","doc":"d"}]}"#,
    );
    let findings = lint(dir.path());
    assert!(
        findings
            .iter()
            .any(|f| f.rule == "parse" && f.file.ends_with("Broken.avsc")),
        "{findings:?}"
    );
    // Once the JSON is fixed, the unresolved reference is reported against its file.
    write(
        dir.path(),
        "shop/order/Broken.avsc",
        r#"{"type":"record","name":"Broken","namespace":"shop.order","doc":"d","fields":[]}"#,
    );
    let findings = lint(dir.path());
    assert!(
        findings.iter().any(|f| f.rule == "parse"
            && f.file.ends_with("Dangling.avsc")
            && f.message.contains("weft.common.Missing")),
        "{findings:?}"
    );
}
