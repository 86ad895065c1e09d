//! A Confluent-compatible schema registry (Avro).
//!
//! [`app`] is the axum router of Confluent's REST API over an [`AppState`]; [`serve`] binds it.
//! State is the fold of records (see [`model`]) kept by a [`Store`]: in memory
//! ([`AppState::default`]) or in a compacted Kafka topic. Registration enforces the subject's
//! compatibility level with [`compat`] (Avro schema resolution).
//!
//! Failure modes: every refused request answers Confluent's body `{"error_code": N, "message":
//! "..."}` with the HTTP status taken from the first three digits of the code (409 stays 409):
//! 40401 subject not found, 40402 version not found, 40403 schema not found, 40404 subject
//! soft-deleted, 40405 subject not soft-deleted before a permanent delete, 40406 version
//! soft-deleted, 40407 version not soft-deleted before a permanent delete, 40408/40409 no
//! subject-level config/mode, 409 incompatible schema (the message lists every reason), 42201
//! invalid schema, 42202 invalid version, 42203 invalid compatibility level, 42204 invalid mode,
//! 42205 operation not permitted by the mode, 50001 store failure (an unusable lock, a Kafka
//! write that did not come back). What never reaches a handler (an unknown route or method, a
//! path parameter that does not parse, an empty path segment, a body over the limit, a request
//! over its time) answers the same body with the HTTP status as its code ([`http`]); 40101 and
//! 40301 refuse unauthenticated and unauthorised requests ([`auth`]).
//!
//! [`serve_with`] adds what a production listener needs: TLS from PEM files, request limits and
//! users with roles ([`ServeOptions`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

pub mod auth;
pub mod compat;
pub mod http;
pub mod kafka;
pub mod model;
mod store;
mod tls;

pub use store::{AppState, Store};

use model::{Key, Record, Registry, SchemaValue, Value, Version};

/// The content type of every response.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The level used when none is configured.
pub const DEFAULT_LEVEL: &str = "BACKWARD";
/// The mode used when none is configured.
pub const DEFAULT_MODE: &str = "READWRITE";
const MODES: [&str; 3] = ["READWRITE", "READONLY", "IMPORT"];

/// Failures of the registry library.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The listen address could not be bound or the server failed.
    #[error("The registry could not serve on {addr}: {source}.")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The certificate chain and private key of the TLS listener (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How [`serve_with`] listens: TLS (none: plain HTTP), request limits, users.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub tls: Option<TlsFiles>,
    pub limits: http::Limits,
    pub access: Arc<auth::Access>,
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
    pub(crate) fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub(crate) fn store() -> Self {
        Self::new(50001, "Error in the backend data store")
    }
    fn subject_not_found(s: &str) -> Self {
        Self::new(40401, format!("Subject '{s}' not found."))
    }
    fn version_not_found(s: &str, v: &str) -> Self {
        Self::new(40402, format!("Version {v} not found for subject '{s}'."))
    }
    fn schema_not_found() -> Self {
        Self::new(40403, "Schema not found")
    }
    fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(42205, message)
    }
    /// Confluent's error code.
    pub fn code(&self) -> u32 {
        self.code
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (error_code {})", self.message, self.code)
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

/// A schema's own JSON as the body (for `.../schema` endpoints).
fn raw(text: &str) -> Result<Response, AppError> {
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        text.to_string(),
    )
        .into_response())
}

fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    code: u32,
    what: &str,
) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| AppError::new(code, format!("Invalid {what}: {e}")))
}

/// The registry's routes over `state`, open, with the default limits.
pub fn app(state: AppState) -> Router {
    app_with(state, http::Limits::default(), Arc::default())
}

/// The registry's routes over `state` behind the request guard ([`http`]) and access control
/// ([`auth`]).
pub fn app_with(state: AppState, limits: http::Limits, access: Arc<auth::Access>) -> Router {
    let counters = access.clone();
    routes()
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    counters.render_metrics(),
                )
            }),
        )
        .fallback(http::not_found)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(access, auth::access))
        .layer(axum::middleware::from_fn_with_state(limits, http::guard))
        .with_state(state)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route("/schemas/ids/{id}", get(get_by_id))
        .route("/schemas/ids/{id}/schema", get(get_by_id_schema))
        .route("/schemas/ids/{id}/versions", get(get_id_versions))
        .route("/schemas/ids/{id}/subjects", get(get_id_subjects))
        .route("/schemas/types", get(|| async { ok(json!(["AVRO"])) }))
        .route(
            "/config",
            get(get_config).put(put_config).delete(delete_config),
        )
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route("/mode", get(get_mode).put(put_mode))
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_version),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(check_all),
        )
}

/// Query flags. Clients spell booleans `true`, `True`, `1`...; anything else is false, and
/// unknown parameters (`normalize`, `subject`, `fetchMaxId`, ...) are ignored.
#[derive(Debug, Default, Deserialize)]
struct Params {
    #[serde(default, deserialize_with = "flag")]
    deleted: bool,
    #[serde(default, deserialize_with = "flag")]
    permanent: bool,
    #[serde(default, rename = "defaultToGlobal", deserialize_with = "flag")]
    default_to_global: bool,
    #[serde(default, deserialize_with = "flag")]
    verbose: bool,
    #[serde(default, deserialize_with = "flag")]
    force: bool,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(s.eq_ignore_ascii_case("true") || s == "1")
}

/// The versions of `subject`, soft-deleted ones only when `deleted`; 40401 when none.
fn versions<'a>(
    reg: &'a Registry,
    subject: &str,
    deleted: bool,
) -> Result<Vec<&'a Version>, AppError> {
    let vs: Vec<&Version> = reg
        .subjects
        .get(subject)
        .map(|vs| vs.iter().filter(|v| deleted || !v.deleted).collect())
        .unwrap_or_default();
    if vs.is_empty() {
        return Err(AppError::subject_not_found(subject));
    }
    Ok(vs)
}

/// Parses a version path segment: a positive number, `latest` or `-1` (`None`).
fn parse_version(v: &str) -> Result<Option<u32>, AppError> {
    if v == "latest" || v == "-1" {
        return Ok(None);
    }
    v.parse::<u32>()
        .ok()
        .filter(|n| *n > 0 && *n <= i32::MAX as u32)
        .map(Some)
        .ok_or_else(|| {
        AppError::new(
            42202,
            format!(
                "The specified version '{v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
            ),
        )
    })
}

/// Finds one version; `latest` is the newest visible one.
fn find_version<'a>(
    reg: &'a Registry,
    subject: &str,
    version: &str,
    deleted: bool,
) -> Result<&'a Version, AppError> {
    let wanted = parse_version(version)?;
    let vs = versions(reg, subject, deleted)?;
    match wanted {
        None => vs.last().copied(),
        Some(n) => vs.iter().find(|v| v.version == n).copied(),
    }
    .ok_or_else(|| AppError::version_not_found(subject, version))
}

fn version_body(reg: &Registry, subject: &str, v: &Version) -> serde_json::Value {
    json!({
        "subject": subject,
        "id": v.id,
        "version": v.version,
        "schema": reg.schemas[&v.id].text,
    })
}

fn level_of(reg: &Registry, subject: &str) -> String {
    reg.subject_levels
        .get(subject)
        .or(reg.global_level.as_ref())
        .cloned()
        .unwrap_or_else(|| DEFAULT_LEVEL.into())
}

fn mode_of(reg: &Registry, subject: &str) -> String {
    reg.subject_modes
        .get(subject)
        .or(reg.global_mode.as_ref())
        .cloned()
        .unwrap_or_else(|| DEFAULT_MODE.into())
}

fn writable(reg: &Registry, subject: &str) -> Result<(), AppError> {
    if mode_of(reg, subject) == "READONLY" {
        return Err(AppError::not_permitted(format!(
            "Subject {subject} is in read-only mode"
        )));
    }
    Ok(())
}

async fn list_subjects(
    State(st): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let names = st.read(|reg| {
        reg.subjects
            .iter()
            .filter(|(_, vs)| p.deleted || vs.iter().any(|v| !v.deleted))
            .map(|(s, _)| s.clone())
            .collect::<Vec<_>>()
    })?;
    ok(json!(names))
}

async fn list_versions(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let list = st.read(|reg| {
        versions(reg, &subject, p.deleted)
            .map(|vs| vs.iter().map(|v| v.version).collect::<Vec<_>>())
    })??;
    ok(json!(list))
}

#[derive(Debug, Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
    id: Option<u32>,
    version: Option<u32>,
}

/// A parsed request schema.
struct Candidate {
    body: SchemaBody,
    parsed: apache_avro::Schema,
    canonical: String,
}

fn candidate(bytes: &[u8]) -> Result<Candidate, AppError> {
    let body: SchemaBody = parse_body(bytes, 42201, "request body")?;
    if let Some(t) = &body.schema_type {
        if t != "AVRO" {
            return Err(AppError::new(
                42201,
                format!("Invalid schema: schema type {t} is not supported (only AVRO)"),
            ));
        }
    }
    if !body.references.is_empty() {
        return Err(AppError::new(
            42201,
            "Invalid schema: schema references are not supported by this registry",
        ));
    }
    let parsed = apache_avro::Schema::parse_str(&body.schema)
        .map_err(|e| AppError::new(42201, format!("Invalid schema: {e}")))?;
    let canonical = model::identity(&body.schema, &parsed);
    Ok(Candidate {
        body,
        parsed,
        canonical,
    })
}

/// The incompatibilities of `new` against the visible versions of `subject` under `level`.
fn incompatibilities(
    reg: &Registry,
    level: &str,
    new: &apache_avro::Schema,
    existing: &[&Version],
) -> Vec<String> {
    let level = compat::Level::parse(level).unwrap_or(compat::Level::Backward);
    let schemas: Vec<apache_avro::Schema> = existing
        .iter()
        .map(|v| reg.schemas[&v.id].parsed.clone())
        .collect();
    compat::check(level, new, &schemas)
        .into_iter()
        .map(|i| {
            format!(
                "{i} (against version {}, level {level})",
                existing[i.against].version
            )
        })
        .collect()
}

async fn register(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let c = candidate(&body)?;
    let id = st
        .write(|reg| {
            let mode = mode_of(reg, &subject);
            writable(reg, &subject)?;
            let import = mode == "IMPORT";
            if !import && (c.body.id.is_some() || c.body.version.is_some()) {
                return Err(AppError::not_permitted(format!(
                    "Registering with a given id or version needs IMPORT mode; subject {subject} is in {mode} mode"
                )));
            }
            let all = reg.subjects.get(&subject).cloned().unwrap_or_default();
            let live: Vec<&Version> = all.iter().filter(|v| !v.deleted).collect();
            if let Some(v) = live
                .iter()
                .find(|v| reg.schemas[&v.id].canonical == c.canonical)
            {
                if !import || c.body.id.is_none_or(|id| id == v.id) {
                    return Ok((Vec::new(), v.id));
                }
            }
            if !import {
                let found = incompatibilities(reg, &level_of(reg, &subject), &c.parsed, &live);
                if !found.is_empty() {
                    return Err(AppError::new(
                        409,
                        format!(
                            "Schema being registered is incompatible with an earlier schema for subject \"{subject}\": {}",
                            found.join("; ")
                        ),
                    ));
                }
            }
            let id = match c.body.id {
                Some(id) => {
                    if let Some(s) = reg.schemas.get(&id) {
                        if s.canonical != c.canonical {
                            return Err(AppError::not_permitted(format!(
                                "Overwrite new schema with id {id} is not permitted: the id names another schema"
                            )));
                        }
                    }
                    id
                }
                None => reg.id_of(&c.canonical).unwrap_or_else(|| reg.next_id()),
            };
            let version = match c.body.version {
                Some(v) => {
                    if all.iter().any(|x| x.version == v) {
                        return Err(AppError::not_permitted(format!(
                            "Version {v} of subject {subject} already exists"
                        )));
                    }
                    v
                }
                None => all.iter().map(|v| v.version).max().unwrap_or(0) + 1,
            };
            let record = Record {
                key: Key::Schema {
                    subject: subject.clone(),
                    version,
                },
                value: Some(Value::Schema(SchemaValue {
                    subject: subject.clone(),
                    version,
                    id,
                    schema: c.body.schema.clone(),
                    deleted: false,
                    purged: false,
                })),
            };
            Ok((vec![record], id))
        })
        .await?;
    ok(json!({ "id": id }))
}

async fn lookup(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let c = candidate(&body)?;
    let found = st.read(|reg| {
        let vs = versions(reg, &subject, p.deleted)?;
        vs.iter()
            .find(|v| reg.schemas[&v.id].canonical == c.canonical)
            .map(|v| version_body(reg, &subject, v))
            .ok_or_else(AppError::schema_not_found)
    })??;
    ok(found)
}

async fn get_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let body = st.read(|reg| {
        find_version(reg, &subject, &version, p.deleted).map(|v| version_body(reg, &subject, v))
    })??;
    ok(body)
}

async fn get_version_schema(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let text = st.read(|reg| {
        find_version(reg, &subject, &version, p.deleted).map(|v| reg.schemas[&v.id].text.clone())
    })??;
    raw(&text)
}

fn schema_record(reg: &Registry, subject: &str, v: &Version, deleted: bool) -> Record {
    Record {
        key: Key::Schema {
            subject: subject.into(),
            version: v.version,
        },
        value: Some(Value::Schema(SchemaValue {
            subject: subject.into(),
            version: v.version,
            id: v.id,
            schema: reg.schemas[&v.id].text.clone(),
            deleted,
            purged: false,
        })),
    }
}

/// A permanent delete of one version. Not a tombstone: the record keeps the schema under its id
/// after compaction, so old data stays readable and the id is never handed out again.
fn purge(reg: &Registry, subject: &str, v: &Version) -> Record {
    let mut record = schema_record(reg, subject, v, true);
    if let Some(Value::Schema(value)) = &mut record.value {
        value.purged = true;
    }
    record
}

async fn delete_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let deleted = st
        .write(|reg| {
            writable(reg, &subject)?;
            let all = versions(reg, &subject, true)?;
            let live: Vec<&&Version> = all.iter().filter(|v| !v.deleted).collect();
            let numbers: Vec<u32> = all.iter().map(|v| v.version).collect();
            if p.permanent {
                if !live.is_empty() {
                    return Err(AppError::new(
                        40405,
                        format!("Subject '{subject}' was not deleted first before being permanently deleted"),
                    ));
                }
                let mut records: Vec<Record> =
                    all.iter().map(|v| purge(reg, &subject, v)).collect();
                // Like Confluent, a subject deleted for good loses its own config and mode.
                if reg.subject_levels.contains_key(&subject) {
                    records.push(Record {
                        key: Key::Config {
                            subject: Some(subject.clone()),
                        },
                        value: None,
                    });
                }
                if reg.subject_modes.contains_key(&subject) {
                    records.push(Record {
                        key: Key::Mode {
                            subject: Some(subject.clone()),
                        },
                        value: None,
                    });
                }
                Ok((records, numbers))
            } else {
                if live.is_empty() {
                    return Err(AppError::new(
                        40404,
                        format!("Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"),
                    ));
                }
                let records = live
                    .iter()
                    .map(|v| schema_record(reg, &subject, v, true))
                    .collect();
                Ok((records, live.iter().map(|v| v.version).collect()))
            }
        })
        .await?;
    ok(json!(deleted))
}

async fn delete_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let number = st
        .write(|reg| {
            writable(reg, &subject)?;
            // A soft-deleted version is found by number (to report 40406 or delete it for good);
            // `latest` means the newest live one.
            let v = find_version(reg, &subject, &version, version != "latest" && version != "-1")?;
            if p.permanent {
                if !v.deleted {
                    return Err(AppError::new(
                        40407,
                        format!("Subject '{subject}' Version {} was not deleted first before being permanently deleted", v.version),
                    ));
                }
                Ok((vec![purge(reg, &subject, v)], v.version))
            } else {
                if v.deleted {
                    return Err(AppError::new(
                        40406,
                        format!("Subject '{subject}' Version {} was soft deleted. Set permanent=true to delete permanently", v.version),
                    ));
                }
                Ok((vec![schema_record(reg, &subject, v, true)], v.version))
            }
        })
        .await?;
    ok(json!(number))
}

fn schema_by_id(reg: &Registry, id: u32) -> Result<&model::StoredSchema, AppError> {
    reg.schemas.get(&id).ok_or_else(AppError::schema_not_found)
}

async fn get_by_id(State(st): State<AppState>, Path(id): Path<u32>) -> Result<Response, AppError> {
    let text = st.read(|reg| schema_by_id(reg, id).map(|s| s.text.clone()))??;
    ok(json!({ "schema": text }))
}

async fn get_by_id_schema(
    State(st): State<AppState>,
    Path(id): Path<u32>,
) -> Result<Response, AppError> {
    let text = st.read(|reg| schema_by_id(reg, id).map(|s| s.text.clone()))??;
    raw(&text)
}

fn uses_of(reg: &Registry, id: u32, deleted: bool) -> Vec<(String, u32)> {
    reg.subjects
        .iter()
        .flat_map(|(s, vs)| {
            vs.iter()
                .filter(move |v| v.id == id && (deleted || !v.deleted))
                .map(move |v| (s.clone(), v.version))
        })
        .collect()
}

async fn get_id_versions(
    State(st): State<AppState>,
    Path(id): Path<u32>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let uses = st.read(|reg| schema_by_id(reg, id).map(|_| uses_of(reg, id, p.deleted)))??;
    ok(json!(uses
        .into_iter()
        .map(|(subject, version)| json!({"subject": subject, "version": version}))
        .collect::<Vec<_>>()))
}

async fn get_id_subjects(
    State(st): State<AppState>,
    Path(id): Path<u32>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let uses = st.read(|reg| schema_by_id(reg, id).map(|_| uses_of(reg, id, p.deleted)))??;
    let mut subjects: Vec<String> = uses.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    ok(json!(subjects))
}

#[derive(Debug, Deserialize)]
struct ConfigBody {
    compatibility: String,
}

fn parse_level(bytes: &[u8]) -> Result<String, AppError> {
    let body: ConfigBody = parse_body(bytes, 42203, "compatibility level")?;
    if compat::Level::parse(&body.compatibility).is_none() {
        return Err(AppError::new(
            42203,
            format!(
                "Invalid compatibility level {}. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive",
                body.compatibility
            ),
        ));
    }
    Ok(body.compatibility)
}

async fn get_config(State(st): State<AppState>) -> Result<Response, AppError> {
    let level = st.read(|reg| reg.global_level.clone())?;
    ok(json!({ "compatibilityLevel": level.as_deref().unwrap_or(DEFAULT_LEVEL) }))
}

async fn set(st: &AppState, key: Key, value: Option<Value>) -> Result<(), AppError> {
    st.write(|_| {
        Ok((
            vec![Record {
                key: key.clone(),
                value: value.clone(),
            }],
            (),
        ))
    })
    .await
}

async fn put_config(
    State(st): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let level = parse_level(&body)?;
    set(
        &st,
        Key::Config { subject: None },
        Some(Value::Config(level.clone())),
    )
    .await?;
    ok(json!({ "compatibility": level }))
}

async fn delete_config(State(st): State<AppState>) -> Result<Response, AppError> {
    let old = st.read(|reg| reg.global_level.clone())?;
    set(&st, Key::Config { subject: None }, None).await?;
    ok(json!({ "compatibilityLevel": old.as_deref().unwrap_or(DEFAULT_LEVEL) }))
}

async fn get_subject_config(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let level = st.read(|reg| match reg.subject_levels.get(&subject) {
        Some(l) => Ok(l.clone()),
        None if p.default_to_global => Ok(reg
            .global_level
            .clone()
            .unwrap_or_else(|| DEFAULT_LEVEL.into())),
        None => Err(AppError::new(
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )),
    })??;
    ok(json!({ "compatibilityLevel": level }))
}

async fn put_subject_config(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let level = parse_level(&body)?;
    set(
        &st,
        Key::Config {
            subject: Some(subject),
        },
        Some(Value::Config(level.clone())),
    )
    .await?;
    ok(json!({ "compatibility": level }))
}

async fn delete_subject_config(
    State(st): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, AppError> {
    let old = st.read(|reg| reg.subject_levels.get(&subject).cloned())?;
    let Some(old) = old else {
        return Err(AppError::subject_not_found(&subject));
    };
    set(
        &st,
        Key::Config {
            subject: Some(subject),
        },
        None,
    )
    .await?;
    ok(json!({ "compatibilityLevel": old }))
}

#[derive(Debug, Deserialize)]
struct ModeBody {
    mode: String,
}

fn parse_mode(bytes: &[u8]) -> Result<String, AppError> {
    let body: ModeBody = parse_body(bytes, 42204, "mode")?;
    if !MODES.contains(&body.mode.as_str()) {
        return Err(AppError::new(
            42204,
            format!(
                "Invalid mode {}. Valid values are READWRITE, READONLY and IMPORT",
                body.mode
            ),
        ));
    }
    Ok(body.mode)
}

async fn get_mode(State(st): State<AppState>) -> Result<Response, AppError> {
    let mode = st.read(|reg| reg.global_mode.clone())?;
    ok(json!({ "mode": mode.as_deref().unwrap_or(DEFAULT_MODE) }))
}

/// Sets a mode; IMPORT needs no live schema under it (all subjects when global) unless `force`.
async fn set_mode(
    st: &AppState,
    subject: Option<String>,
    mode: String,
    force: bool,
) -> Result<(), AppError> {
    st.write(|reg| {
        if mode == "IMPORT" && !force {
            let busy = reg.subjects.iter().any(|(s, vs)| {
                subject.as_ref().is_none_or(|x| x == s) && vs.iter().any(|v| !v.deleted)
            });
            if busy {
                return Err(AppError::not_permitted(
                    "Cannot import since found existing subjects (use force=true to override)",
                ));
            }
        }
        Ok((
            vec![Record {
                key: Key::Mode {
                    subject: subject.clone(),
                },
                value: Some(Value::Mode(mode.clone())),
            }],
            (),
        ))
    })
    .await
}

async fn put_mode(
    State(st): State<AppState>,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let mode = parse_mode(&body)?;
    set_mode(&st, None, mode.clone(), p.force).await?;
    ok(json!({ "mode": mode }))
}

async fn get_subject_mode(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let mode = st.read(|reg| match reg.subject_modes.get(&subject) {
        Some(m) => Ok(m.clone()),
        None if p.default_to_global => Ok(mode_of(reg, &subject)),
        None => Err(AppError::new(
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )),
    })??;
    ok(json!({ "mode": mode }))
}

async fn put_subject_mode(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let mode = parse_mode(&body)?;
    set_mode(&st, Some(subject), mode.clone(), p.force).await?;
    ok(json!({ "mode": mode }))
}

async fn delete_subject_mode(
    State(st): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, AppError> {
    let old = st.read(|reg| reg.subject_modes.get(&subject).cloned())?;
    let Some(old) = old else {
        return Err(AppError::subject_not_found(&subject));
    };
    set(
        &st,
        Key::Mode {
            subject: Some(subject),
        },
        None,
    )
    .await?;
    ok(json!({ "mode": old }))
}

fn verdict(messages: Vec<String>, verbose: bool) -> Result<Response, AppError> {
    if verbose {
        ok(json!({"is_compatible": messages.is_empty(), "messages": messages}))
    } else {
        ok(json!({"is_compatible": messages.is_empty()}))
    }
}

async fn check_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let c = candidate(&body)?;
    let messages = st.read(|reg| {
        let v = find_version(reg, &subject, &version, false)?;
        // Against one version, a transitive level means its non-transitive direction.
        let level = level_of(reg, &subject).replace("_TRANSITIVE", "");
        Ok::<_, AppError>(incompatibilities(reg, &level, &c.parsed, &[v]))
    })??;
    verdict(messages, p.verbose)
}

async fn check_all(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let c = candidate(&body)?;
    let messages = st.read(|reg| {
        let live: Vec<&Version> = reg
            .subjects
            .get(&subject)
            .map(|vs| vs.iter().filter(|v| !v.deleted).collect())
            .unwrap_or_default();
        incompatibilities(reg, &level_of(reg, &subject), &c.parsed, &live)
    })?;
    verdict(messages, p.verbose)
}

/// Binds `config.listen` and serves an in-memory registry until ctrl-c or SIGTERM.
pub async fn serve(config: RegistryConfig) -> Result<(), RegistryError> {
    serve_state(config.listen, AppState::default()).await
}

/// Binds `listen` and serves `state` until ctrl-c or SIGTERM.
pub async fn serve_state(listen: SocketAddr, state: AppState) -> Result<(), RegistryError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| RegistryError::Serve {
            addr: listen,
            source,
        })?;
    serve_on(listener, state).await
}

/// Serves `state` on an already bound `listener` until ctrl-c or SIGTERM (plain HTTP, open,
/// default limits).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
) -> Result<(), RegistryError> {
    serve_with(listener, state, &ServeOptions::default()).await
}

/// Serves `state` on `listener` with `options` until ctrl-c or SIGTERM.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: &ServeOptions,
) -> Result<(), RegistryError> {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let app = app_with(state, options.limits, options.access.clone());
    match &options.tls {
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|source| RegistryError::Serve { addr, source }),
        Some(files) => tls::serve(listener, app, tls::acceptor(files)?).await,
    }
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
