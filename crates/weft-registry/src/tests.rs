use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{app, AppState, CONTENT_TYPE};

async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", CONTENT_TYPE)
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .expect("request");
    let resp = app(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    assert_eq!(resp.headers()["content-type"], CONTENT_TYPE);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).expect("json body"))
}

const USER: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;

#[tokio::test]
async fn register_is_idempotent_and_ids_are_shared_across_subjects() {
    let st = AppState::default();
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/a-value/versions",
        Some(json!({"schema": USER})),
    )
    .await;
    assert_eq!((s, &b), (StatusCode::OK, &json!({"id": 1})));
    let (_, again) = call(
        &st,
        Method::POST,
        "/subjects/a-value/versions",
        Some(json!({"schema": USER})),
    )
    .await;
    assert_eq!(again, json!({"id": 1}));
    let (_, other) = call(
        &st,
        Method::POST,
        "/subjects/b-value/versions",
        Some(json!({"schema": USER})),
    )
    .await;
    assert_eq!(other, json!({"id": 1}));
    let (_, versions) = call(&st, Method::GET, "/subjects/a-value/versions", None).await;
    assert_eq!(versions, json!([1]));
    let (_, subjects) = call(&st, Method::GET, "/subjects", None).await;
    assert_eq!(subjects, json!(["a-value", "b-value"]));
    let (_, latest) = call(&st, Method::GET, "/subjects/a-value/versions/latest", None).await;
    assert_eq!(
        latest,
        json!({"subject": "a-value", "id": 1, "version": 1, "schema": USER})
    );
    let (_, by_id) = call(&st, Method::GET, "/schemas/ids/1", None).await;
    assert_eq!(by_id, json!({"schema": USER}));
}

#[tokio::test]
async fn error_codes_follow_confluent() {
    let st = AppState::default();
    let (s, b) = call(&st, Method::GET, "/subjects/nope/versions", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40401))
    );
    call(
        &st,
        Method::POST,
        "/subjects/x/versions",
        Some(json!({"schema": USER})),
    )
    .await;
    let (s, b) = call(&st, Method::GET, "/subjects/x/versions/7", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40402))
    );
    let (s, b) = call(&st, Method::GET, "/schemas/ids/99", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40403))
    );
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/x/versions",
        Some(json!({"schema": "{not avro"})),
    )
    .await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(42201))
    );
    let (s, b) = call(&st, Method::GET, "/subjects/x/versions/abc", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(42202))
    );
    let (s, b) = call(
        &st,
        Method::PUT,
        "/config",
        Some(json!({"compatibility": "SOMETIMES"})),
    )
    .await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(42203))
    );
}

#[tokio::test]
async fn global_config_defaults_to_backward_and_can_be_set() {
    let st = AppState::default();
    let (_, b) = call(&st, Method::GET, "/config", None).await;
    assert_eq!(b, json!({"compatibilityLevel": "BACKWARD"}));
    let (s, b) = call(
        &st,
        Method::PUT,
        "/config",
        Some(json!({"compatibility": "FULL"})),
    )
    .await;
    assert_eq!((s, b), (StatusCode::OK, json!({"compatibility": "FULL"})));
    let (_, b) = call(&st, Method::GET, "/config", None).await;
    assert_eq!(b, json!({"compatibilityLevel": "FULL"}));
    let (_, b) = call(&st, Method::GET, "/schemas/types", None).await;
    assert_eq!(b, json!(["AVRO"]));
}

#[tokio::test]
async fn soft_then_permanent_delete() {
    let st = AppState::default();
    call(
        &st,
        Method::POST,
        "/subjects/d/versions",
        Some(json!({"schema": USER})),
    )
    .await;
    let (s, b) = call(&st, Method::DELETE, "/subjects/d?permanent=true", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40405))
    );
    let (s, b) = call(&st, Method::DELETE, "/subjects/d", None).await;
    assert_eq!((s, b), (StatusCode::OK, json!([1])));
    let (_, subjects) = call(&st, Method::GET, "/subjects", None).await;
    assert_eq!(subjects, json!([]));
    let (s, b) = call(&st, Method::DELETE, "/subjects/d", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40404))
    );
    let (s, b) = call(&st, Method::DELETE, "/subjects/d?permanent=true", None).await;
    assert_eq!((s, b), (StatusCode::OK, json!([1])));
    let (s, b) = call(&st, Method::DELETE, "/subjects/d", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40401))
    );
}
