//! A Confluent-compatible schema registry: first slice.
//!
//! This slice serves an in-memory store only (state is lost on restart) and a subset of
//! Confluent's REST API: listing subjects and versions, registering Avro schemas (the same
//! schema gets the same id, also across subjects), fetching by version and by id, and the
//! global compatibility config. Compatibility is not checked yet. Errors use Confluent's body
//! `{"error_code": N, "message": "..."}` with the HTTP status taken from the first three digits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The content type of every response.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Failures of the registry library.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The listen address could not be bound or the server failed.
    #[error("The registry could not serve on {addr}: {source}.")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Where and how the registry runs.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The address the HTTP server binds.
    pub listen: SocketAddr,
}

/// An error answered in Confluent's wire format.
#[derive(Debug)]
pub struct AppError {
    code: u32,
    message: String,
}

impl AppError {
    fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    fn subject_not_found(s: &str) -> Self {
        Self::new(40401, format!("Subject '{s}' not found."))
    }
    fn version_not_found(v: &str) -> Self {
        Self::new(40402, format!("Version {v} not found."))
    }
    fn schema_not_found() -> Self {
        Self::new(40403, "Schema not found")
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16((self.code / 100) as u16)
            .ok()
            .filter(|_| self.code >= 10000)
            .or_else(|| StatusCode::from_u16(self.code as u16).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        tracing::info!(error_code = self.code, message = %self.message, "registry request failed");
        reply(
            status,
            json!({"error_code": self.code, "message": self.message}),
        )
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: serde_json::Value) -> Result<Response, AppError> {
    Ok(reply(StatusCode::OK, body))
}

/// One registered version of a subject.
#[derive(Debug, Clone)]
struct Version {
    version: u32,
    id: u32,
}

#[derive(Debug, Default)]
struct Inner {
    /// Schema text by id; ids start at 1.
    schemas: Vec<String>,
    subjects: BTreeMap<String, Vec<Version>>,
    /// Subjects soft-deleted and not yet permanently deleted.
    deleted: std::collections::BTreeSet<String>,
    compatibility: String,
}

/// The in-memory store shared by all requests.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Mutex<Inner>>,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                compatibility: "BACKWARD".into(),
                ..Inner::default()
            })),
        }
    }
}

impl AppState {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, AppError> {
        self.inner
            .lock()
            .map_err(|_| AppError::new(50001, "Error in the backend data store"))
    }
}

#[derive(Debug, Deserialize)]
struct RegisterBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConfigBody {
    compatibility: String,
}

const LEVELS: [&str; 7] = [
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

/// The registry's routes over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route("/subjects/{subject}", axum::routing::delete(delete_subject))
        .route("/subjects/{subject}/versions/{version}", get(get_version))
        .route("/schemas/ids/{id}", get(get_by_id))
        .route("/schemas/types", get(|| async { ok(json!(["AVRO"])) }))
        .route("/config", get(get_config).put(put_config))
        .with_state(state)
}

async fn list_subjects(State(st): State<AppState>) -> Result<Response, AppError> {
    let inner = st.lock()?;
    let live: Vec<&String> = inner
        .subjects
        .keys()
        .filter(|s| !inner.deleted.contains(*s))
        .collect();
    ok(json!(live))
}

#[derive(Debug, Deserialize)]
struct DeleteParams {
    #[serde(default)]
    permanent: bool,
}

async fn delete_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    axum::extract::Query(params): axum::extract::Query<DeleteParams>,
) -> Result<Response, AppError> {
    let mut inner = st.lock()?;
    let versions: Vec<u32> = inner
        .subjects
        .get(&subject)
        .ok_or_else(|| AppError::subject_not_found(&subject))?
        .iter()
        .map(|v| v.version)
        .collect();
    let soft_deleted = inner.deleted.contains(&subject);
    if params.permanent {
        if !soft_deleted {
            return Err(AppError::new(
                40405,
                format!(
                    "Subject '{subject}' was not deleted first before being permanently deleted"
                ),
            ));
        }
        inner.deleted.remove(&subject);
        inner.subjects.remove(&subject);
    } else {
        if soft_deleted {
            return Err(AppError::new(
                40404,
                format!("Subject '{subject}' was soft deleted."),
            ));
        }
        inner.deleted.insert(subject);
    }
    ok(json!(versions))
}

async fn list_versions(
    State(st): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, AppError> {
    let inner = st.lock()?;
    let versions = inner
        .subjects
        .get(&subject)
        .ok_or_else(|| AppError::subject_not_found(&subject))?;
    ok(json!(versions
        .iter()
        .map(|v| v.version)
        .collect::<Vec<_>>()))
}

async fn register(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let body: RegisterBody = serde_json::from_slice(&body)
        .map_err(|e| AppError::new(42201, format!("Invalid request body: {e}")))?;
    if let Some(t) = &body.schema_type {
        if t != "AVRO" {
            return Err(AppError::new(42201, format!("Unsupported schema type {t}")));
        }
    }
    let parsed = apache_avro::Schema::parse_str(&body.schema)
        .map_err(|e| AppError::new(42201, format!("Invalid schema: {e}")))?;
    let canonical = parsed.canonical_form();
    let mut inner = st.lock()?;
    let id = match inner.schemas.iter().position(|s| {
        apache_avro::Schema::parse_str(s)
            .map(|p| p.canonical_form() == canonical)
            .unwrap_or(false)
    }) {
        Some(i) => i as u32 + 1,
        None => {
            inner.schemas.push(body.schema.clone());
            inner.schemas.len() as u32
        }
    };
    let versions = inner.subjects.entry(subject).or_default();
    if !versions.iter().any(|v| v.id == id) {
        let next = versions.last().map(|v| v.version + 1).unwrap_or(1);
        versions.push(Version { version: next, id });
    }
    ok(json!({ "id": id }))
}

async fn get_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let inner = st.lock()?;
    let versions = inner
        .subjects
        .get(&subject)
        .ok_or_else(|| AppError::subject_not_found(&subject))?;
    let found = if version == "latest" || version == "-1" {
        versions.last()
    } else {
        let n: u32 = version.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            AppError::new(
                42202,
                format!("The specified version '{version}' is not a valid version id."),
            )
        })?;
        versions.iter().find(|v| v.version == n)
    }
    .ok_or_else(|| AppError::version_not_found(&version))?;
    ok(json!({
        "subject": subject,
        "id": found.id,
        "version": found.version,
        "schema": inner.schemas[found.id as usize - 1],
    }))
}

async fn get_by_id(State(st): State<AppState>, Path(id): Path<u32>) -> Result<Response, AppError> {
    let inner = st.lock()?;
    let schema = id
        .checked_sub(1)
        .and_then(|i| inner.schemas.get(i as usize))
        .ok_or_else(AppError::schema_not_found)?;
    ok(json!({ "schema": schema }))
}

async fn get_config(State(st): State<AppState>) -> Result<Response, AppError> {
    let inner = st.lock()?;
    ok(json!({ "compatibilityLevel": inner.compatibility }))
}

async fn put_config(
    State(st): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let body: ConfigBody = serde_json::from_slice(&body)
        .map_err(|e| AppError::new(42203, format!("Invalid compatibility level: {e}")))?;
    if !LEVELS.contains(&body.compatibility.as_str()) {
        return Err(AppError::new(
            42203,
            format!("Invalid compatibility level {}", body.compatibility),
        ));
    }
    st.lock()?.compatibility = body.compatibility.clone();
    ok(json!({ "compatibility": body.compatibility }))
}

/// Binds `config.listen` and serves until ctrl-c or SIGTERM.
pub async fn serve(config: RegistryConfig) -> Result<(), RegistryError> {
    let err = |source| RegistryError::Serve {
        addr: config.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(err)?;
    axum::serve(listener, app(AppState::default()))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(err)
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests;
