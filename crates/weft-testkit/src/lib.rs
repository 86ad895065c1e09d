//! Test helpers shared by weft's integration tests.
//!
//! Tests never assume a broker exists: [`broker`] starts the project's local broker through
//! `scripts/broker.sh start` (the same logic a developer runs; idempotent, so every test may call
//! it) unless `WEFT_TEST_BOOTSTRAP` points at another cluster. Every test takes fresh names from
//! [`unique`], so tests never see each other's topics, groups or transactional ids.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use weft_core::kafka::KafkaConfig;

/// The repository root (this crate lives in `crates/weft-testkit`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Settings for the test cluster, starting the local broker on first use.
///
/// Panics with the script's output when the broker cannot be started: a test that needs a
/// broker must fail loudly, never pass without one.
pub fn broker() -> KafkaConfig {
    static STARTED: OnceLock<KafkaConfig> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            if let Ok(bootstrap) = std::env::var("WEFT_TEST_BOOTSTRAP") {
                return KafkaConfig::with_bootstrap(&bootstrap);
            }
            let script = repo_root().join("scripts/broker.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg("start")
                .output()
                .expect("bash runs scripts/broker.sh");
            assert!(
                out.status.success(),
                "scripts/broker.sh start failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            KafkaConfig::local()
        })
        .clone()
}

/// True when the tests run against the project's local Nisshi broker rather than a cluster
/// named by `WEFT_TEST_BOOTSTRAP`. Assertions that hit a known Nisshi gap are skipped (with the
/// reason printed) only then.
pub fn is_local_nisshi() -> bool {
    std::env::var("WEFT_TEST_BOOTSTRAP").is_err()
}

/// Prints why an assertion is skipped on the local broker; visible with `--nocapture` and in CI.
pub fn skip_on_local_broker(gap: &str) {
    eprintln!("SKIPPED on the local Nisshi broker (broker gap, not a weft bug): {gap}");
}

/// A fresh lower-case name part: `t` + 10 hex digits, valid as a topic-name system segment.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..10])
}
