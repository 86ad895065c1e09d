//! The HTTP handlers, one file per resource, and what they share: response helpers, query flags,
//! version lookup, the effective level and mode of a subject, request schema parsing.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::reply;
use crate::model::{self, Registry, Version};
use crate::{AppError, CONTENT_TYPE, DEFAULT_LEVEL, DEFAULT_MODE};

pub(crate) mod compatibility;
pub(crate) mod config;
pub(crate) mod schemas;
pub(crate) mod subjects;

pub(crate) fn ok(body: serde_json::Value) -> Result<Response, AppError> {
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

/// Query flags. Clients spell booleans `true`, `True`, `1`...; anything else is false, and
/// unknown parameters (`normalize`, `subject`, `fetchMaxId`, ...) are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
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
