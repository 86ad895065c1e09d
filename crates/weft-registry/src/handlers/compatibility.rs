//! Handlers of `/compatibility/...` and the compatibility check registration also runs.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{candidate, find_version, level_of, ok, Params};
use crate::model::{Registry, Version};
use crate::{compat, AppError, AppState};

/// The incompatibilities of `new` against the visible versions of `subject` under `level`.
pub(super) fn incompatibilities(
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

fn verdict(messages: Vec<String>, verbose: bool) -> Result<Response, AppError> {
    if verbose {
        ok(json!({"is_compatible": messages.is_empty(), "messages": messages}))
    } else {
        ok(json!({"is_compatible": messages.is_empty()}))
    }
}

pub(crate) async fn check_version(
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

pub(crate) async fn check_all(
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
