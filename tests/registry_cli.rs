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
            .find(|w| w.starts_with("http://"))
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
