//! Handlers of `/subjects/...`: list, register, look up, read and delete subjects and versions.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::compatibility::incompatibilities;
use super::{
    candidate, find_version, level_of, mode_of, ok, raw, version_body, versions, writable, Params,
};
use crate::model::{Key, Record, Registry, SchemaValue, Value, Version};
use crate::{AppError, AppState};

pub(crate) async fn list_subjects(
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

pub(crate) async fn list_versions(
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

pub(crate) async fn register(
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

pub(crate) async fn lookup(
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

pub(crate) async fn get_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let body = st.read(|reg| {
        find_version(reg, &subject, &version, p.deleted).map(|v| version_body(reg, &subject, v))
    })??;
    ok(body)
}

pub(crate) async fn get_version_schema(
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

pub(crate) async fn delete_subject(
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

pub(crate) async fn delete_version(
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
