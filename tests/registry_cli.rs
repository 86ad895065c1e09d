//! `weft registry serve` as the real binary: the Kafka store survives a restart (real broker),
//! Confluent's Python client works against it, and a broker that cannot be reached fails the
//! start with a message naming it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// A running `weft registry serve`; killed on drop if still running.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let broker = weft_testkit::broker();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(["--bootstrap-servers", &broker.bootstrap_servers])
            .args(["registry", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("WEFT_REGISTRY_STORE")
            .env_remove("WEFT_REGISTRY_TOPIC")
            .env_remove("WEFT_REGISTRY_LISTEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run weft registry serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("weft registry serve prints its address within 60 s");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, url }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut req = client.request(method, &url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.json().unwrap())
}

const V1: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"n","type":["null","long"],"default":null}]}"#;

#[test]
fn kafka_store_survives_a_restart_of_the_binary() {
    let topic = weft_testkit::unique("_schemas-cli-");
    let server = Server::start(&["--store", "kafka", "--topic", &topic]);
    let base = server.url.clone();
    let register = |base: &str, schema: &str| {
        call(
            reqwest::Method::POST,
            format!("{base}/subjects/orders-value/versions"),
            Some(json!({ "schema": schema })),
        )
    };
    assert_eq!(register(&base, V1), (200, json!({"id": 1})));
    assert_eq!(register(&base, V2), (200, json!({"id": 2})));
    let (s, _) = call(
        reqwest::Method::PUT,
        format!("{base}/config/orders-value"),
        Some(json!({"compatibility": "FULL"})),
    );
    assert_eq!(s, 200);
    let status = server.stop();
    assert!(status.success(), "SIGTERM stops it cleanly: {status}");

    let server = Server::start(&["--topic", &topic]);
    let base = server.url.clone();
    let (_, latest) = call(
        reqwest::Method::GET,
        format!("{base}/subjects/orders-value/versions/latest"),
        None,
    );
    assert_eq!(
        (latest["id"].clone(), latest["version"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(
        call(
            reqwest::Method::GET,
            format!("{base}/config/orders-value"),
            None
        ),
        (200, json!({"compatibilityLevel": "FULL"}))
    );
}

#[test]
fn confluent_python_client_against_registry_serve() {
    let home = std::env::var("HOME").expect("HOME is set");
    let python = PathBuf::from(home).join(".weft/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it creates ~/.weft/venv with confluent-kafka[avro,schemaregistry])",
        python.display()
    );
    let topic = weft_testkit::unique("_schemas-py-");
    let server = Server::start(&["--store", "kafka", "--topic", &topic]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/registry_python_check.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&server.url)
        .arg(weft_testkit::unique("py"))
        .output()
        .expect("run the Python check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "registry_python_check.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.starts_with("OK:"), "{stdout}");
    eprintln!("{stdout}");
}

#[test]
fn unreachable_broker_fails_the_start_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["--bootstrap-servers", "127.0.0.1:1"])
        .args([
            "registry",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            "3s",
        ])
        .env_remove("WEFT_REGISTRY_STORE")
        .output()
        .expect("run weft");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(stderr.contains("_schemas"), "{stderr}");
}

/// `weft registry hash-password`: the hash of the password on stdin.
fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["registry", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash
}

fn users_file(dir: &std::path::Path) -> PathBuf {
    let file = dir.join("users.yaml");
    std::fs::write(
        &file,
        format!(
            "users:\n  - name: ci\n    role: write\n    password_hash: \"{}\"\n  - name: app\n    role: read\n    password_hash: \"{}\"\n",
            hash_password("ci-secret"),
            hash_password("app-secret")
        ),
    )
    .unwrap();
    file
}

/// HTTPS with a certificate from files, and users with roles: what a production registry runs.
#[test]
fn tls_and_users_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let users = users_file(dir.path());
    let server = Server::start(&[
        "--store",
        "memory",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--users-file",
        users.to_str().unwrap(),
    ]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let get = |auth: Option<(&str, &str)>| {
        let mut req = client.get(format!("{}/subjects", server.url));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().expect("an HTTPS answer");
        (resp.status().as_u16(), resp.json::<Value>().unwrap())
    };
    let (status, body) = get(None);
    assert_eq!((status, body["error_code"].clone()), (401, json!(40101)));
    let register = client
        .post(format!("{}/subjects/a-value/versions", server.url))
        .basic_auth("app", Some("app-secret"))
        .json(&json!({"schema": r#"{"type":"record","name":"A","fields":[]}"#}))
        .send()
        .unwrap();
    assert_eq!(register.status().as_u16(), 403);
    let register = client
        .post(format!("{}/subjects/a-value/versions", server.url))
        .basic_auth("ci", Some("ci-secret"))
        .json(&json!({"schema": r#"{"type":"record","name":"A","fields":[]}"#}))
        .send()
        .unwrap();
    assert_eq!(register.status().as_u16(), 200);
    assert_eq!(get(Some(("app", "app-secret"))), (200, json!(["a-value"])));
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::blocking::get(server.url.replace("https://", "http://") + "/subjects");
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP must not be served on the TLS port"
    );
    assert!(server.stop().success());
}

/// A users file that cannot be used, or half a TLS pair, fails the start naming the problem.
#[test]
fn unusable_security_settings_fail_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("users.yaml");
    std::fs::write(
        &bad,
        "users:\n  - name: a\n    role: read\n    password_hash: plain\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .args([
                "registry",
                "serve",
                "--store",
                "memory",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--users-file", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("users.yaml") && err.contains("hash-password"),
        "{err}"
    );
    let out = run(&["--tls-cert", "/nonexistent/cert.pem"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    let missing = dir.path().join("missing.pem");
    let out = run(&[
        "--tls-cert",
        missing.to_str().unwrap(),
        "--tls-key",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pem"));
}

/// The runtime's registry client authenticates (WEFT_REGISTRY_USERNAME / _PASSWORD of
/// `weft run`); without credentials an authenticated registry stops it with a registry error
/// (exit 2), never a dead letter.
#[test]
fn the_runtime_reads_schemas_from_an_authenticated_registry() {
    use weft_runtime::schemas::{RegistrySchemas, SchemaSource};
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let server = Server::start(&["--store", "memory", "--users-file", users.to_str().unwrap()]);
    let client = reqwest::blocking::Client::new();
    let registered: Value = client
        .post(format!("{}/subjects/a-value/versions", server.url))
        .basic_auth("ci", Some("ci-secret"))
        .json(&json!({"schema": r#"{"type":"record","name":"A","fields":[]}"#}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = registered["id"].as_u64().expect("an id") as u32;
    let url = server.url.clone();
    let (with, without) = std::thread::spawn(move || {
        let with = RegistrySchemas::with_auth(&url, false, Some(("app", "app-secret")))
            .unwrap()
            .without_not_found_retries()
            .writer_schema(id)
            .map(|s| s.canonical_form());
        let without = RegistrySchemas::new(&url, false)
            .unwrap()
            .without_not_found_retries()
            .writer_schema(id)
            .map(|s| s.canonical_form());
        (with, without)
    })
    .join()
    .unwrap();
    assert_eq!(with.unwrap(), r#"{"name":"A","type":"record","fields":[]}"#);
    let err = without.expect_err("no credentials");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        matches!(err, weft_runtime::RuntimeError::Registry(_)),
        "{err}"
    );
    assert!(server.stop().success());
}

/// Confluent's Python client with credentials (`basic.auth.user.info`) against a registry with
/// users; the same client without them is refused with 401 / 40101.
#[test]
fn confluent_python_client_with_credentials() {
    let home = std::env::var("HOME").expect("HOME is set");
    let python = PathBuf::from(home).join(".weft/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let server = Server::start(&["--store", "memory", "--users-file", users.to_str().unwrap()]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/registry_python_check.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&server.url)
        .arg(weft_testkit::unique("py"))
        .arg("ci:ci-secret")
        .output()
        .expect("run the Python check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "registry_python_check.py with credentials failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("OK:"), "{stdout}");
}
