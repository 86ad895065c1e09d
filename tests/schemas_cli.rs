//! `weft schemas lint|check|register|diff` run as the real binary: lint on the repository's
//! `avro/` and on a broken temp catalog, check against git refs of the repository and of temp
//! repositories, register against weft's registry served in-process on a real socket.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use weft_schema_client::SchemaRegistryClient;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn weft(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(cwd)
        .args(args)
        .env_remove("WEFT_REGISTRY_URL")
        .env_remove("WEFT_AVRO_DIR")
        .env_remove("WEFT_TOPICS_DIR")
        .env_remove("WEFT_REPO_ROOT")
        .env_remove("WEFT_SCHEMAS_AGAINST")
        .output()
        .expect("run weft")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A record `shop.order.OrderPaid` with the given extra field JSON objects after `order_id`.
fn order_paid(extra_fields: &[&str]) -> String {
    let mut fields =
        vec![r#"{"name": "order_id", "type": "string", "doc": "The order."}"#.to_string()];
    fields.extend(extra_fields.iter().map(|f| f.to_string()));
    format!(
        r#"{{"type": "record", "name": "OrderPaid", "namespace": "shop.order", "doc": "An order was paid.",
  "fields": [{}]}}"#,
        fields.join(",\n    ")
    )
}

const PAID_AT: &str = r#"{"name": "paid_at", "type": "long", "doc": "When, epoch millis."}"#;
const NOTE: &str =
    r#"{"name": "note", "type": ["null", "string"], "default": null, "doc": "A remark."}"#;
const CHANNEL: &str = r#"{"name": "channel", "type": "string", "doc": "Where it was paid."}"#;

fn topic_spec(level: Option<&str>) -> String {
    let mut spec = "name: shop.order.paid.v1
event_type: order.paid
partitions: 1
replication_factor: 1
cleanup_policy: delete
retention: 1d
key: order_id
value_subject: shop.order.paid.v1-value
value_schema: shop.order.OrderPaid
owner: shop
consumers: []
priority: normal
sla: 30s
"
    .to_string();
    if let Some(level) = level {
        spec.push_str(&format!("compatibility: {level}\n"));
    }
    spec
}

const SCHEMA_FILE: &str = "avro/shop/order/OrderPaid.avsc";
const SPEC_FILE: &str = "topics/shop/shop.order.paid.v1.yaml";

/// A temp directory with `avro/` and `topics/` holding one event at `level`.
fn catalog(level: Option<&str>, fields: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join(SCHEMA_FILE), &order_paid(fields));
    write(&dir.path().join(SPEC_FILE), &topic_spec(level));
    dir
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=weft test",
            "-c",
            "user.email=test@weft.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}

/// A temp git repository whose first commit holds the catalog.
fn git_repo(level: Option<&str>, fields: &[&str]) -> tempfile::TempDir {
    let dir = catalog(level, fields);
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "v1"]);
    dir
}

#[test]
fn lint_passes_on_the_repository_avro() {
    let o = weft(&repo(), &["schemas", "lint", "--dir", "avro"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stdout(&o).contains("follow the rules"), "{}", show(&o));
}

#[test]
fn lint_names_the_file_field_and_rule_of_float_money() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("shop/order/OrderPaid.avsc"),
        &order_paid(&[r#"{"name": "total_amount", "type": "double", "doc": "What was paid."}"#]),
    );
    let o = weft(dir.path(), &["schemas", "lint", "--dir", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains(": money: "))
        .unwrap_or_else(|| panic!("no money finding\n{}", show(&o)));
    assert!(
        line.starts_with("./shop/order/OrderPaid.avsc: OrderPaid.total_amount: money: "),
        "{line}"
    );
    assert!(stderr(&o).contains("1 lint finding"), "{}", show(&o));
}

#[test]
fn lint_of_a_missing_directory_is_an_error() {
    let o = weft(&repo(), &["schemas", "lint", "--dir", "no-such-avro-dir"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("no-such-avro-dir"), "{}", show(&o));
}

#[test]
fn check_of_the_repository_against_head_is_clean() {
    let o = weft(&repo(), &["schemas", "check", "--against", "HEAD"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

#[test]
fn check_against_an_unknown_ref_is_an_error() {
    let repo = git_repo(None, &[PAID_AT]);
    let o = weft(
        repo.path(),
        &["schemas", "check", "--against", "no-such-branch"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("no-such-branch"), "{}", show(&o));
}

#[test]
fn check_forward_flags_a_removed_field_without_default() {
    let repo = git_repo(Some("FORWARD"), &[PAID_AT]);
    // Removing an optional field with a default is fine under FORWARD...
    write(
        &repo.path().join(SCHEMA_FILE),
        &order_paid(&[PAID_AT, NOTE]),
    );
    git(repo.path(), &["commit", "-qam", "add note"]);
    write(&repo.path().join(SCHEMA_FILE), &order_paid(&[PAID_AT]));
    let o = weft(repo.path(), &["schemas", "check", "--against", "HEAD"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // ...removing paid_at, which has no default, is not: old readers need it.
    write(&repo.path().join(SCHEMA_FILE), &order_paid(&[NOTE]));
    let o = weft(repo.path(), &["schemas", "check", "--against", "HEAD"]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with(SCHEMA_FILE))
        .unwrap_or_else(|| panic!("no finding for {SCHEMA_FILE}\n{}", show(&o)));
    assert!(
        line.contains("shop.order.paid.v1-value: FORWARD:"),
        "{line}"
    );
    assert!(line.contains("paid_at"), "{line}");
    assert!(
        out.contains("field OrderPaid.paid_at: removed"),
        "{}",
        show(&o)
    );
}

#[test]
fn check_backward_flags_an_added_field_without_default() {
    let repo = git_repo(None, &[PAID_AT]);
    // An optional field with a default is a compatible addition...
    write(
        &repo.path().join(SCHEMA_FILE),
        &order_paid(&[PAID_AT, NOTE]),
    );
    let o = weft(repo.path(), &["schemas", "check", "--against", "HEAD"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stdout(&o).contains("at BACKWARD"), "{}", show(&o));

    // ...a required one is not: the new reader cannot fill it from old data.
    write(
        &repo.path().join(SCHEMA_FILE),
        &order_paid(&[PAID_AT, CHANNEL]),
    );
    let o = weft(repo.path(), &["schemas", "check", "--against", "HEAD"]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with(SCHEMA_FILE))
        .unwrap_or_else(|| panic!("no finding for {SCHEMA_FILE}\n{}", show(&o)));
    assert!(
        line.contains("shop.order.paid.v1-value: BACKWARD:"),
        "{line}"
    );
    assert!(line.contains("channel"), "{line}");
    assert!(
        out.contains("field OrderPaid.channel: added without a default"),
        "{}",
        show(&o)
    );
}

/// Serves weft's registry (`weft_registry::app`, in memory) on 127.0.0.1:0 from a background
/// thread for the rest of the test process; returns its base URL.
fn start_registry() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            tx.send(listener.local_addr().expect("local addr"))
                .expect("send addr");
            axum::serve(
                listener,
                weft_registry::app(weft_registry::AppState::default()),
            )
            .await
            .expect("registry serves");
        });
    });
    format!("http://{}", rx.recv().expect("registry address"))
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// `(subject, id, version, status)` of every per-subject line of register's output.
fn subject_lines(out: &str) -> Vec<(String, String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            match parts.as_slice() {
                [s, id, v, status] if !s.ends_with(':') => Some((
                    s.to_string(),
                    id.to_string(),
                    v.to_string(),
                    status.to_string(),
                )),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn register_the_repository_schemas_idempotently() {
    let url = start_registry();
    let args = [
        "schemas",
        "register",
        "--dir",
        "avro",
        "--topics",
        "topics",
        "--registry-url",
        &url,
    ];
    let started = Instant::now();
    let first = weft(&repo(), &args);
    let first_took = started.elapsed();
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    let lines = subject_lines(&stdout(&first));
    // Every topic's value subject and the shared envelope, envelope first (dependency order).
    let specs = weft_core::spec::SpecSet::load(&repo().join("topics")).unwrap();
    let subjects = specs.topics.len() + 1;
    assert!(subjects > 70, "{subjects}");
    assert_eq!(lines.len(), subjects, "{}", show(&first));
    assert_eq!(lines[0].0, "weft.common.EventMetadata", "{}", show(&first));
    assert!(
        lines.iter().all(|l| l.3 == "registered" && l.2 == "1"),
        "{}",
        show(&first)
    );
    assert!(lines.iter().any(|l| l.0 == "cypher.order.created.v1-value"));

    let started = Instant::now();
    let second = weft(&repo(), &args);
    let second_took = started.elapsed();
    assert_eq!(second.status.code(), Some(0), "{}", show(&second));
    let again = subject_lines(&stdout(&second));
    assert_eq!(again.len(), subjects, "{}", show(&second));
    for (a, b) in lines.iter().zip(&again) {
        assert_eq!(
            (&a.0, &a.1, &a.2),
            (&b.0, &b.1, &b.2),
            "ids must not change"
        );
        assert_eq!(b.3, "unchanged", "{}", show(&second));
    }
    assert!(
        stdout(&second).contains(&format!(
            "registered 0, unchanged {subjects}, incompatible 0"
        )),
        "{}",
        show(&second)
    );

    // Levels were set per subject from the specs (BACKWARD unless a spec says otherwise).
    let client = SchemaRegistryClient::new(&url).unwrap();
    for t in specs.topics.iter().take(10) {
        let level = block_on(client.subject_compatibility(&t.value_subject)).unwrap();
        assert_eq!(
            level.as_deref(),
            Some(t.compatibility.as_str()),
            "{}",
            t.name
        );
    }
    // What the registry holds is what the runtime writes: the self-contained schema.
    let latest = block_on(client.latest("cypher.order.created.v1-value"))
        .unwrap()
        .unwrap();
    assert!(latest.references.is_empty());
    assert!(latest.schema.contains("EventMetadata"));
    eprintln!(
        "register of {subjects} subjects: first run {first_took:?}, second run {second_took:?}"
    );
}

#[test]
fn register_refuses_a_breaking_change_with_the_registry_message() {
    let url = start_registry();
    let dir = catalog(None, &[PAID_AT]);
    let args = ["schemas", "register", "--registry-url", &url];
    let o = weft(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains("shop.order.paid.v1-value 1 1 registered") || {
            let l = subject_lines(&stdout(&o));
            l.iter()
                .any(|l| l.0 == "shop.order.paid.v1-value" && l.3 == "registered")
        },
        "{}",
        show(&o)
    );

    // A compatible change becomes version 2.
    write(&dir.path().join(SCHEMA_FILE), &order_paid(&[PAID_AT, NOTE]));
    let o = weft(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let l = subject_lines(&stdout(&o));
    assert!(
        l.iter()
            .any(|l| l.0 == "shop.order.paid.v1-value" && l.2 == "2" && l.3 == "registered"),
        "{}",
        show(&o)
    );

    // A required field is not BACKWARD compatible: diff says so, register refuses, exit 3.
    write(
        &dir.path().join(SCHEMA_FILE),
        &order_paid(&[PAID_AT, NOTE, CHANNEL]),
    );
    let d = weft(dir.path(), &["schemas", "diff", "--registry-url", &url]);
    assert_eq!(d.status.code(), Some(3), "{}", show(&d));
    assert!(stdout(&d).contains("INCOMPATIBLE"), "{}", show(&d));
    let o = weft(dir.path(), &args);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.contains("shop.order.paid.v1-value: INCOMPATIBLE at BACKWARD:"),
        "{}",
        show(&o)
    );
    assert!(out.contains(SCHEMA_FILE), "{}", show(&o));
    // Nothing was registered: the latest version is still 2.
    let client = SchemaRegistryClient::new(&url).unwrap();
    let latest = block_on(client.latest("shop.order.paid.v1-value"))
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, 2);
}

#[test]
fn register_with_an_unreachable_registry_fails_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = catalog(None, &[PAID_AT]);
    let o = weft(dir.path(), &["schemas", "register", "--registry-url", &url]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains(&url), "{}", show(&o));
    assert!(stderr(&o).contains("unreachable"), "{}", show(&o));
}

#[test]
fn register_rejects_a_spec_whose_schema_does_not_exist() {
    let dir = catalog(None, &[PAID_AT]);
    write(
        &dir.path().join(SPEC_FILE),
        &topic_spec(None).replace("shop.order.OrderPaid", "shop.order.OrderMissing"),
    );
    let o = weft(
        dir.path(),
        &[
            "schemas",
            "register",
            "--registry-url",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("shop.order.OrderMissing") && stderr(&o).contains("OrderPaid.avsc")
            || stderr(&o).contains("shop.order.paid.v1.yaml"),
        "{}",
        show(&o)
    );
}

#[test]
fn list_prints_every_subject_with_its_latest_id_and_version() {
    let url = start_registry();
    let client = SchemaRegistryClient::new(&url).unwrap();
    let v1 = order_paid(&[PAID_AT]);
    let v2 = order_paid(&[PAID_AT, NOTE]);
    let (id1, id2) = block_on(async {
        let a = client
            .register("shop.order.paid.v1-value", &v1, &[])
            .await
            .unwrap();
        let b = client
            .register("shop.order.paid.v1-value", &v2, &[])
            .await
            .unwrap();
        client.register("other-value", &v1, &[]).await.unwrap();
        (a, b)
    });
    let o = weft(&repo(), &["schemas", "list", "--registry-url", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("shop.order.paid.v1-value {id2} 2\n")),
        "{}",
        show(&o)
    );
    // The same schema under another subject keeps its id.
    assert!(
        out.contains(&format!("other-value {id1} 1\n")),
        "{}",
        show(&o)
    );
}
