//! Router construction: the registry's routes ([`app`]) and the same behind the request guard and
//! access control ([`app_with`]).

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::handlers::compatibility::{check_all, check_version};
use crate::handlers::config::{
    delete_config, delete_subject_config, delete_subject_mode, get_config, get_mode,
    get_subject_config, get_subject_mode, put_config, put_mode, put_subject_config,
    put_subject_mode,
};
use crate::handlers::ok;
use crate::handlers::schemas::{get_by_id, get_by_id_schema, get_id_subjects, get_id_versions};
use crate::handlers::subjects::{
    delete_subject, delete_version, get_version, get_version_schema, list_subjects, list_versions,
    lookup, register,
};
use crate::{auth, http, AppState};

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
