//! Who may do what: HTTP basic authentication against a users file, two roles, and an audit
//! trail of every write.
//!
//! # Users
//! A YAML file (`weft registry serve --users-file`, e.g. a mounted Kubernetes Secret):
//!
//! ```yaml
//! users:
//!   - name: ci
//!     role: write                # register, delete, config, mode, and everything `read` may
//!     password_hash: "$argon2id$v=19$m=19456,t=2,p=1$..."
//!   - name: processors
//!     role: read                 # GETs, lookups (POST /subjects/{s}), compatibility checks
//!     password_hash: "$argon2id$..."
//! ```
//!
//! Passwords are stored as Argon2id PHC strings (`weft registry hash-password` prints one); the
//! file never holds a password. Verifying one costs an Argon2 computation, so a verified
//! password is remembered as its SHA-256 for the process's life: the next request of that user
//! compares digests. Without a users file the registry is open (as Confluent's is by default);
//! `weft registry serve` says so at start.
//!
//! # Answers
//! No or unknown credentials: 401 with `WWW-Authenticate: Basic realm="weft-registry"` and
//! Confluent's body, error code 40101. A known user whose role does not allow the request: 403,
//! error code 40301. Both are logged with the user (never the password).
//!
//! # Audit
//! Every write (register, delete, config, mode), with or without a users file (the user is then
//! `anonymous`), is logged at INFO under the `weft_registry::audit`
//! target with the user, method, path and status, and counted in
//! `weft_registry_writes_total{user, operation, outcome}` (served at `/metrics`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use prometheus::{IntCounterVec, Opts, Registry};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppError;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads, lookups and compatibility checks.
    Read,
    /// Everything.
    Write,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    role: Role,
    password_hash: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserEntry>,
}

/// The users of a registry, and what it has verified.
pub struct Users {
    users: HashMap<String, (Role, String)>,
    verified: Mutex<HashMap<String, [u8; 32]>>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether `password` matches the PHC string `hash`.
fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of no one's password, verified against for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        hash_password(&format!("{random:?}")).unwrap_or_default()
    })
}

/// Hashes `password` into an Argon2id PHC string for a users file.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| format!("making a salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing: {e}"))
}

impl Users {
    /// Reads a users file (see the module docs); the error names the file and the problem.
    pub fn load(path: &Path) -> Result<Users, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the users file {}: {e}", path.display()))?;
        Users::parse(&text).map_err(|e| format!("users file {}: {e}", path.display()))
    }

    /// Parses the text of a users file.
    pub fn parse(text: &str) -> Result<Users, String> {
        let file: UsersFile = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if file.users.is_empty() {
            return Err("no users: remove --users-file to run without authentication".into());
        }
        let mut users = HashMap::new();
        for u in file.users {
            if u.name.is_empty() || u.name.contains(':') {
                return Err(format!("user name {:?} is empty or holds ':'", u.name));
            }
            PasswordHash::new(&u.password_hash).map_err(|e| {
                format!(
                    "user {}: password_hash is not a PHC string ({e}); make one with `weft registry hash-password`",
                    u.name
                )
            })?;
            if users
                .insert(u.name.clone(), (u.role, u.password_hash))
                .is_some()
            {
                return Err(format!("user {} is listed twice", u.name));
            }
        }
        Ok(Users {
            users,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The user and role of `authorization` (a `Basic` header value), if the password is right.
    /// Blocking (an Argon2 verification when the password is not cached): call it off the async
    /// threads. An unknown user costs the same Argon2 verification as a known one (against a
    /// hash of no one's password), so timing does not tell which names exist; the lock is not
    /// held while verifying.
    fn authenticate(&self, authorization: Option<&HeaderValue>) -> Option<(String, Role)> {
        let encoded = authorization?.to_str().ok()?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, password) = text.split_once(':')?;
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let Some((role, hash)) = self.users.get(name) else {
            let _ = verify(password, dummy_hash());
            return None;
        };
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .is_some_and(|known| bool::from(known.ct_eq(&digest)));
        if cached {
            return Some((name.to_string(), *role));
        }
        if !verify(password, hash) {
            return None;
        }
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), digest);
        Some((name.to_string(), *role))
    }
}

/// Who may do what, and the count of writes: the state of [`access`].
pub struct Access {
    /// `None`: no authentication (every request is `anonymous` with the write role).
    users: Option<Users>,
    writes: IntCounterVec,
    metrics: Registry,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("users", &self.users)
            .finish()
    }
}

impl Access {
    /// Access with `users` (none: open).
    pub fn new(users: Option<Users>) -> Access {
        let metrics = Registry::new();
        let writes = IntCounterVec::new(
            Opts::new(
                "weft_registry_writes_total",
                "Writes (register, delete, config, mode) by user, operation and outcome",
            ),
            &["user", "operation", "outcome"],
        )
        .expect("valid metric");
        metrics
            .register(Box::new(writes.clone()))
            .expect("unique metric");
        Access {
            users,
            writes,
            metrics,
        }
    }

    /// Whether requests must authenticate.
    pub fn is_open(&self) -> bool {
        self.users.is_none()
    }

    /// The Prometheus text of the audit counters.
    pub fn render_metrics(&self) -> String {
        let mut buf = Vec::new();
        let _ = prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &self.metrics.gather(),
            &mut buf,
        );
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Access {
    fn default() -> Self {
        Access::new(None)
    }
}

/// The role a request needs, and the name of the write it is (`None` for reads).
pub fn required(method: &Method, path: &str) -> (Role, Option<&'static str>) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET" | "HEAD" | "OPTIONS", _) => (Role::Read, None),
        // A lookup: is this schema registered under the subject?
        ("POST", ["subjects", _]) => (Role::Read, None),
        ("POST", ["compatibility", ..]) => (Role::Read, None),
        ("POST", ["subjects", _, "versions"]) => (Role::Write, Some("register")),
        ("DELETE", ["subjects", ..]) => (Role::Write, Some("delete")),
        ("PUT" | "DELETE", ["config", ..]) => (Role::Write, Some("config")),
        ("PUT" | "DELETE", ["mode", ..]) => (Role::Write, Some("mode")),
        _ => (Role::Write, Some("other")),
    }
}

/// The middleware of the module docs.
pub(crate) async fn access(State(auth): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    // The audit counters are for the monitoring system, like a health check: no credentials.
    if path == "/metrics" {
        return next.run(req).await;
    }
    let identity = match &auth.users {
        None => Some(("anonymous".to_string(), Role::Write)),
        Some(_) => {
            let header = req.headers().get(header::AUTHORIZATION).cloned();
            let access = auth.clone();
            tokio::task::spawn_blocking(move || {
                access
                    .users
                    .as_ref()
                    .and_then(|users| users.authenticate(header.as_ref()))
            })
            .await
            .ok()
            .flatten()
        }
    };
    let Some((user, role)) = identity else {
        tracing::warn!(%method, %path, "registry: unauthenticated request refused");
        let mut response =
            AppError::new(40101, "Unauthorized: valid credentials are required").into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"weft-registry\""),
        );
        return response;
    };
    let (needed, write) = required(&method, &path);
    if needed == Role::Write && role != Role::Write {
        tracing::warn!(%user, %method, %path, "registry: a read-only user tried to write");
        if let Some(op) = write {
            auth.writes
                .with_label_values(&[&user, op, "forbidden"])
                .inc();
        }
        return AppError::new(
            40301,
            format!("User {user} cannot access the resource: {method} {path} needs the write role"),
        )
        .into_response();
    }
    let response = next.run(req).await;
    if let Some(op) = write {
        let status = response.status();
        let outcome = if status.is_success() { "ok" } else { "refused" };
        auth.writes.with_label_values(&[&user, op, outcome]).inc();
        tracing::info!(target: "weft_registry::audit", %user, %method, %path, status = status.as_u16(), "registry write");
    }
    response
}
