//! Handlers of `/schemas/ids/{id}/...`: a schema by its id and where it is used.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{ok, raw, Params};
use crate::model::{self, Registry};
use crate::{AppError, AppState};

fn schema_by_id(reg: &Registry, id: u32) -> Result<&model::StoredSchema, AppError> {
    reg.schemas.get(&id).ok_or_else(AppError::schema_not_found)
}

pub(crate) async fn get_by_id(
    State(st): State<AppState>,
    Path(id): Path<u32>,
) -> Result<Response, AppError> {
    let text = st.read(|reg| schema_by_id(reg, id).map(|s| s.text.clone()))??;
    ok(json!({ "schema": text }))
}

pub(crate) async fn get_by_id_schema(
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

pub(crate) async fn get_id_versions(
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

pub(crate) async fn get_id_subjects(
    State(st): State<AppState>,
    Path(id): Path<u32>,
    Query(p): Query<Params>,
) -> Result<Response, AppError> {
    let uses = st.read(|reg| schema_by_id(reg, id).map(|_| uses_of(reg, id, p.deleted)))??;
    let mut subjects: Vec<String> = uses.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    ok(json!(subjects))
}
