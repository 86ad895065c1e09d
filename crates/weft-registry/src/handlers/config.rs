//! Handlers of `/config` and `/mode` (global and per subject): compatibility levels and modes.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{mode_of, ok, parse_body, Params};
use crate::model::{Key, Record, Value};
use crate::{compat, AppError, AppState, DEFAULT_LEVEL, DEFAULT_MODE};

const MODES: [&str; 3] = ["READWRITE", "READONLY", "IMPORT"];

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

pub(crate) async fn get_config(State(st): State<AppState>) -> Result<Response, AppError> {
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

pub(crate) async fn put_config(
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

pub(crate) async fn delete_config(State(st): State<AppState>) -> Result<Response, AppError> {
    let old = st.read(|reg| reg.global_level.clone())?;
    set(&st, Key::Config { subject: None }, None).await?;
    ok(json!({ "compatibilityLevel": old.as_deref().unwrap_or(DEFAULT_LEVEL) }))
}

pub(crate) async fn get_subject_config(
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

pub(crate) async fn put_subject_config(
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

pub(crate) async fn delete_subject_config(
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

pub(crate) async fn get_mode(State(st): State<AppState>) -> Result<Response, AppError> {
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

pub(crate) async fn put_mode(
    State(st): State<AppState>,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let mode = parse_mode(&body)?;
    set_mode(&st, None, mode.clone(), p.force).await?;
    ok(json!({ "mode": mode }))
}

pub(crate) async fn get_subject_mode(
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

pub(crate) async fn put_subject_mode(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let mode = parse_mode(&body)?;
    set_mode(&st, Some(subject), mode.clone(), p.force).await?;
    ok(json!({ "mode": mode }))
}

pub(crate) async fn delete_subject_mode(
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
