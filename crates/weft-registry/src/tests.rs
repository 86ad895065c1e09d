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
    call(
        &st,
        Method::PUT,
        "/config/d",
        Some(json!({"compatibility": "FULL"})),
    )
    .await;
    let (s, b) = call(&st, Method::DELETE, "/subjects/d?permanent=true", None).await;
    assert_eq!((s, b), (StatusCode::OK, json!([1])));
    let (s, b) = call(&st, Method::GET, "/config/d", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40408))
    );
    let (s, b) = call(&st, Method::DELETE, "/subjects/d", None).await;
    assert_eq!(
        (s, b["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(40401))
    );
}

fn code(b: &Value) -> u64 {
    b["error_code"]
        .as_u64()
        .unwrap_or_else(|| panic!("no error_code in {b}"))
}

const USER2: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"n","type":"string","default":""}]}"#;
const USER_BREAKING: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"n","type":"string"}]}"#;

async fn register(st: &AppState, subject: &str, schema: &str) -> (StatusCode, Value) {
    call(
        st,
        Method::POST,
        &format!("/subjects/{subject}/versions"),
        Some(json!({ "schema": schema })),
    )
    .await
}

#[tokio::test]
async fn subject_config_with_default_to_global() {
    let st = AppState::default();
    let (s, b) = call(&st, Method::GET, "/config/s", None).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40408));
    let (_, b) = call(&st, Method::GET, "/config/s?defaultToGlobal=true", None).await;
    assert_eq!(b, json!({"compatibilityLevel": "BACKWARD"}));
    let (s, b) = call(
        &st,
        Method::PUT,
        "/config/s",
        Some(json!({"compatibility": "FULL_TRANSITIVE"})),
    )
    .await;
    assert_eq!(
        (s, b),
        (StatusCode::OK, json!({"compatibility": "FULL_TRANSITIVE"}))
    );
    let (_, b) = call(&st, Method::GET, "/config/s", None).await;
    assert_eq!(b, json!({"compatibilityLevel": "FULL_TRANSITIVE"}));
    let (s, b) = call(
        &st,
        Method::PUT,
        "/config/s",
        Some(json!({"compatibility": "SIDEWAYS"})),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42203));
    let (s, b) = call(&st, Method::DELETE, "/config/s", None).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::OK,
            json!({"compatibilityLevel": "FULL_TRANSITIVE"})
        )
    );
    let (s, b) = call(&st, Method::DELETE, "/config/s", None).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40401));
    // The global level is what a subject without its own follows.
    call(
        &st,
        Method::PUT,
        "/config",
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    let (_, b) = call(&st, Method::GET, "/config/s?defaultToGlobal=true", None).await;
    assert_eq!(b, json!({"compatibilityLevel": "NONE"}));
}

#[tokio::test]
async fn lookup_schema_endpoints_and_id_versions() {
    let st = AppState::default();
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/u",
        Some(json!({"schema": USER})),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40401));
    register(&st, "u", USER).await;
    register(&st, "w", USER).await;
    // Lookup matches by canonical form: whitespace does not matter.
    let spaced = USER.replace(',', " , ");
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/u",
        Some(json!({"schema": spaced})),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::OK,
            json!({"subject": "u", "id": 1, "version": 1, "schema": USER})
        )
    );
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/u",
        Some(json!({"schema": USER2})),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40403));
    let (s, b) = call(&st, Method::GET, "/subjects/u/versions/1/schema", None).await;
    assert_eq!(
        (s, b),
        (StatusCode::OK, serde_json::from_str::<Value>(USER).unwrap())
    );
    let (_, b) = call(&st, Method::GET, "/schemas/ids/1/schema", None).await;
    assert_eq!(b, serde_json::from_str::<Value>(USER).unwrap());
    let (_, b) = call(&st, Method::GET, "/schemas/ids/1/versions", None).await;
    assert_eq!(
        b,
        json!([{"subject": "u", "version": 1}, {"subject": "w", "version": 1}])
    );
    let (_, b) = call(&st, Method::GET, "/schemas/ids/1/subjects", None).await;
    assert_eq!(b, json!(["u", "w"]));
    let (s, b) = call(&st, Method::GET, "/schemas/ids/2/versions", None).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40403));
}

#[tokio::test]
async fn version_delete_soft_then_permanent_and_deleted_params() {
    let st = AppState::default();
    register(&st, "v", USER).await;
    register(&st, "v", USER2).await;
    let (s, b) = call(
        &st,
        Method::DELETE,
        "/subjects/v/versions/1?permanent=true",
        None,
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40407));
    let (s, b) = call(&st, Method::DELETE, "/subjects/v/versions/1", None).await;
    assert_eq!((s, b), (StatusCode::OK, json!(1)));
    let (s, b) = call(&st, Method::DELETE, "/subjects/v/versions/1", None).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40406));
    let (_, b) = call(&st, Method::GET, "/subjects/v/versions", None).await;
    assert_eq!(b, json!([2]));
    let (_, b) = call(&st, Method::GET, "/subjects/v/versions?deleted=true", None).await;
    assert_eq!(b, json!([1, 2]));
    let (s, b) = call(&st, Method::GET, "/subjects/v/versions/1", None).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40402));
    let (s, b) = call(
        &st,
        Method::GET,
        "/subjects/v/versions/1?deleted=true",
        None,
    )
    .await;
    assert_eq!((s, b["id"].clone()), (StatusCode::OK, json!(1)));
    let (_, b) = call(&st, Method::GET, "/schemas/ids/1/versions", None).await;
    assert_eq!(b, json!([]));
    let (_, b) = call(
        &st,
        Method::GET,
        "/schemas/ids/1/versions?deleted=true",
        None,
    )
    .await;
    assert_eq!(b, json!([{"subject": "v", "version": 1}]));
    let (s, b) = call(
        &st,
        Method::DELETE,
        "/subjects/v/versions/1?permanent=true",
        None,
    )
    .await;
    assert_eq!((s, b), (StatusCode::OK, json!(1)));
    let (_, b) = call(&st, Method::GET, "/subjects/v/versions?deleted=true", None).await;
    assert_eq!(b, json!([2]));
    // The id survives its versions: readers of old data still resolve it.
    let (s, _) = call(&st, Method::GET, "/schemas/ids/1", None).await;
    assert_eq!(s, StatusCode::OK);
    // A soft-deleted subject is listed only with deleted=true; versions continue after it.
    call(&st, Method::DELETE, "/subjects/v", None).await;
    let (_, b) = call(&st, Method::GET, "/subjects", None).await;
    assert_eq!(b, json!([]));
    let (_, b) = call(&st, Method::GET, "/subjects?deleted=true", None).await;
    assert_eq!(b, json!(["v"]));
    let (s, b) = call(&st, Method::GET, "/subjects/v/versions/latest", None).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40401));
    register(&st, "v", USER).await;
    let (_, b) = call(&st, Method::GET, "/subjects/v/versions/latest", None).await;
    assert_eq!(
        (b["version"].clone(), b["id"].clone()),
        (json!(3), json!(1))
    );
}

#[tokio::test]
async fn modes_readonly_import_and_invalid() {
    let st = AppState::default();
    let (_, b) = call(&st, Method::GET, "/mode", None).await;
    assert_eq!(b, json!({"mode": "READWRITE"}));
    let (s, b) = call(
        &st,
        Method::PUT,
        "/mode",
        Some(json!({"mode": "SOMETIMES"})),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42204));
    let (s, b) = call(&st, Method::GET, "/mode/m", None).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40409));
    let (_, b) = call(&st, Method::GET, "/mode/m?defaultToGlobal=true", None).await;
    assert_eq!(b, json!({"mode": "READWRITE"}));

    // READONLY refuses writes to that subject only.
    let (s, b) = call(
        &st,
        Method::PUT,
        "/mode/m",
        Some(json!({"mode": "READONLY"})),
    )
    .await;
    assert_eq!((s, b), (StatusCode::OK, json!({"mode": "READONLY"})));
    let (s, b) = register(&st, "m", USER).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42205));
    let (s, _) = register(&st, "other", USER).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = call(&st, Method::DELETE, "/mode/m", None).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"mode": "READONLY"})));

    // A given id needs IMPORT mode.
    let with_id = json!({"schema": USER2, "id": 42, "version": 7});
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/imp/versions",
        Some(with_id.clone()),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42205));
    // IMPORT on a subject that has schemas needs force=true.
    let (s, b) = call(
        &st,
        Method::PUT,
        "/mode/other",
        Some(json!({"mode": "IMPORT"})),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42205));
    let (s, _) = call(
        &st,
        Method::PUT,
        "/mode/imp",
        Some(json!({"mode": "IMPORT"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = call(&st, Method::POST, "/subjects/imp/versions", Some(with_id)).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"id": 42})));
    let (_, b) = call(&st, Method::GET, "/subjects/imp/versions/latest", None).await;
    assert_eq!(
        (b["id"].clone(), b["version"].clone()),
        (json!(42), json!(7))
    );
    // An id that names another schema cannot be reused.
    let clash = json!({"schema": USER_BREAKING, "id": 1, "version": 8});
    let (s, b) = call(&st, Method::POST, "/subjects/imp/versions", Some(clash)).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42205));
    // Ids continue after the largest imported one.
    call(
        &st,
        Method::PUT,
        "/mode/imp",
        Some(json!({"mode": "READWRITE"})),
    )
    .await;
    let (_, b) = register(&st, "fresh", USER_BREAKING).await;
    assert_eq!(b, json!({"id": 43}));
}

#[tokio::test]
async fn incompatible_registration_is_409_with_reasons() {
    let st = AppState::default();
    register(&st, "c", USER).await;
    let (s, b) = register(&st, "c", USER_BREAKING).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, 409));
    let message = b["message"].as_str().unwrap();
    assert!(
        message.contains("/fields/n") && message.contains("no default"),
        "{message}"
    );
    let (s, b) = register(&st, "c", USER2).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"id": 2})));

    let body = Some(json!({"schema": USER_BREAKING}));
    let (s, b) = call(
        &st,
        Method::POST,
        "/compatibility/subjects/c/versions/1?verbose=true",
        body.clone(),
    )
    .await;
    assert_eq!(
        (s, b["is_compatible"].clone()),
        (StatusCode::OK, json!(false))
    );
    let messages = b["messages"].as_array().unwrap();
    assert!(messages[0].as_str().unwrap().contains("version 1"), "{b}");
    let (_, b) = call(
        &st,
        Method::POST,
        "/compatibility/subjects/c/versions/latest",
        body.clone(),
    )
    .await;
    // Against v2 (n has a default) the required `n` reads fine.
    assert_eq!(b, json!({"is_compatible": true}));
    call(
        &st,
        Method::PUT,
        "/config/c",
        Some(json!({"compatibility": "BACKWARD_TRANSITIVE"})),
    )
    .await;
    let (_, b) = call(
        &st,
        Method::POST,
        "/compatibility/subjects/c/versions?verbose=true",
        body.clone(),
    )
    .await;
    assert_eq!(b["is_compatible"], json!(false), "{b}");
    let (s, b) = call(
        &st,
        Method::POST,
        "/compatibility/subjects/none/versions/1",
        body.clone(),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40401));
    let (s, b) = call(
        &st,
        Method::POST,
        "/compatibility/subjects/c/versions/9",
        body,
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40402));
    // Level NONE accepts anything.
    call(
        &st,
        Method::PUT,
        "/config/c",
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    let (s, _) = register(&st, "c", r#""string""#).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn non_avro_and_references_are_42201() {
    let st = AppState::default();
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/p/versions",
        Some(json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42201));
    let (s, b) = call(
        &st,
        Method::POST,
        "/subjects/p/versions",
        Some(json!({"schema": USER, "references": [{"name": "x", "subject": "y", "version": 1}]})),
    )
    .await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42201));
}

#[tokio::test]
async fn a_broken_store_is_50001() {
    let st = AppState::default();
    // Poison the state lock: a thread panics while holding it.
    let shared = st.shared.registry.clone();
    let _ = std::thread::spawn(move || {
        let _guard = shared.write().unwrap();
        panic!("poisoning the registry lock on purpose");
    })
    .join();
    let (s, b) = call(&st, Method::GET, "/subjects", None).await;
    assert_eq!((s, code(&b)), (StatusCode::INTERNAL_SERVER_ERROR, 50001));
    let (s, b) = register(&st, "x", USER).await;
    assert_eq!((s, code(&b)), (StatusCode::INTERNAL_SERVER_ERROR, 50001));
}

#[test]
fn first_record_wins_a_conflict() {
    use crate::model::{Key, Record, Registry, SchemaValue, Value};
    let rec = |subject: &str, version: u32, id: u32, schema: &str| Record {
        key: Key::Schema {
            subject: subject.into(),
            version,
        },
        value: Some(Value::Schema(SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema: schema.into(),
            deleted: false,
            purged: false,
        })),
    };
    let mut reg = Registry::default();
    assert!(reg.apply(&rec("a", 1, 1, USER)));
    // Same id, another schema: refused.
    assert!(!reg.apply(&rec("b", 1, 1, USER2)));
    // Same subject version, another id: refused.
    assert!(!reg.apply(&rec("a", 1, 2, USER2)));
    assert!(reg.apply(&rec("a", 2, 2, USER2)));
    assert_eq!(reg.restate(&rec("a", 1, 9, USER).key), rec("a", 1, 1, USER));
    // Records survive an encode/decode round trip.
    let r = rec("a", 2, 2, USER2);
    let (k, v) = r.encode();
    assert_eq!(Record::decode(&k, v.as_deref()).unwrap(), r);
    assert!(Record::decode(b"{}", None).is_err());
}

/// Another instance's record takes the id (and the subject version) this instance planned: the
/// write sees its record refused, replans, and answers a fresh id; the other schema keeps its id.
#[tokio::test]
async fn a_write_that_loses_a_race_is_planned_again() {
    use crate::model::{Key, Record, SchemaValue, Value};
    use crate::store::Store;
    let foreign = |subject: &str, id: u32, schema: &str| Record {
        key: Key::Schema {
            subject: subject.into(),
            version: 1,
        },
        value: Some(Value::Schema(SchemaValue {
            subject: subject.into(),
            version: 1,
            id,
            schema: schema.into(),
            deleted: false,
            purged: false,
        })),
    };
    // Queue (popped from the end): first append races with another instance that registered
    // USER2 as id 1 under the same subject; the retry appends undisturbed.
    let queue = vec![vec![foreign("r", 1, USER2)]];
    let st = AppState::with_store(
        Store::Racing(std::sync::Mutex::new(queue)),
        std::sync::Arc::default(),
    );
    let (s, b) = register(&st, "r", USER).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"id": 2})));
    let (_, b) = call(&st, Method::GET, "/subjects/r/versions", None).await;
    assert_eq!(b, json!([1, 2]));
    let (_, b) = call(&st, Method::GET, "/schemas/ids/1", None).await;
    assert_eq!(b, json!({"schema": USER2}));
    let (_, b) = call(&st, Method::GET, "/subjects/r/versions/2", None).await;
    assert_eq!(b["id"], json!(2));

    // The other instance took the id under another subject: this subject keeps version 1, the
    // schema gets id 2, and the restated key of the refused record is a tombstone.
    let queue = vec![vec![foreign("elsewhere", 1, USER2)]];
    let st = AppState::with_store(
        Store::Racing(std::sync::Mutex::new(queue)),
        std::sync::Arc::default(),
    );
    let (s, b) = register(&st, "r", USER).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"id": 2})));
    let (_, b) = call(&st, Method::GET, "/subjects/r/versions/1", None).await;
    assert_eq!(b["id"], json!(2));
    let (_, b) = call(&st, Method::GET, "/subjects", None).await;
    assert_eq!(b, json!(["elsewhere", "r"]));
}

/// Sends a raw request to `router`: (status, headers, body as JSON).
async fn raw_call(
    router: axum::Router,
    method: Method,
    uri: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(a);
        req = req.header("authorization", format!("Basic {encoded}"));
    }
    let req = req
        .header("content-type", CONTENT_TYPE)
        .body(Body::from(body))
        .expect("request");
    let resp = router.oneshot(req).await.expect("response");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, headers, body)
}

/// What never reaches a handler still answers Confluent's body, with the status as its code.
#[tokio::test]
async fn requests_that_reach_no_handler_answer_confluents_error_body() {
    let cases: &[(Method, &str, StatusCode)] = &[
        (Method::GET, "/no/such/route", StatusCode::NOT_FOUND),
        (Method::PATCH, "/subjects", StatusCode::METHOD_NOT_ALLOWED),
        (
            Method::GET,
            "/schemas/ids/not-a-number",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/schemas/ids/99999999999",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/subjects/a/versions?deleted=true&deleted=false",
            StatusCode::BAD_REQUEST,
        ),
        (Method::GET, "/subjects//versions", StatusCode::NOT_FOUND),
        (Method::POST, "/subjects//versions", StatusCode::NOT_FOUND),
        (Method::POST, "/metrics", StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (method, uri, want) in cases {
        let body = if *method == Method::POST {
            json!({"schema": USER}).to_string().into_bytes()
        } else {
            vec![]
        };
        let (status, headers, b) =
            raw_call(app(AppState::default()), method.clone(), uri, None, body).await;
        assert_eq!(status, *want, "{method} {uri}: {b}");
        assert_eq!(headers["content-type"], CONTENT_TYPE, "{method} {uri}");
        assert_eq!(b["error_code"], json!(want.as_u16()), "{method} {uri}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    }
    // 405 keeps the methods the route has.
    let (_, headers, _) = raw_call(
        app(AppState::default()),
        Method::PATCH,
        "/subjects",
        None,
        vec![],
    )
    .await;
    assert!(headers.contains_key("allow"));
}

#[tokio::test]
async fn versions_above_2_pow_31_minus_1_are_invalid_not_missing() {
    let st = AppState::default();
    call(
        &st,
        Method::POST,
        "/subjects/a/versions",
        Some(json!({"schema": USER})),
    )
    .await;
    for v in ["2147483648", "4294967295"] {
        let (s, b) = call(&st, Method::GET, &format!("/subjects/a/versions/{v}"), None).await;
        assert_eq!(
            (s.as_u16(), b["error_code"].clone()),
            (422, json!(42202)),
            "{v}"
        );
    }
    let (s, _) = call(&st, Method::GET, "/subjects/a/versions/2147483647", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_over_the_limit_answer_413() {
    let limits = crate::http::Limits {
        max_body_bytes: 1024,
        ..Default::default()
    };
    let router = crate::app_with(AppState::default(), limits, Default::default());
    let big = json!({"schema": format!("\"{}\"", "x".repeat(4096))}).to_string();
    let (status, _, b) = raw_call(
        router,
        Method::POST,
        "/subjects/a/versions",
        None,
        big.into_bytes(),
    )
    .await;
    assert_eq!(
        (status.as_u16(), b["error_code"].clone()),
        (413, json!(413)),
        "{b}"
    );
}

fn users() -> std::sync::Arc<crate::auth::Access> {
    let ci = crate::auth::hash_password("ci-secret").unwrap();
    let reader = crate::auth::hash_password("read-secret").unwrap();
    let file = format!(
        "users:\n  - name: ci\n    role: write\n    password_hash: \"{ci}\"\n  - name: app\n    role: read\n    password_hash: \"{reader}\"\n"
    );
    std::sync::Arc::new(crate::auth::Access::new(Some(
        crate::auth::Users::parse(&file).unwrap(),
    )))
}

#[tokio::test]
async fn basic_auth_with_read_and_write_roles_and_an_audit_count() {
    let access = users();
    let router = crate::app_with(AppState::default(), Default::default(), access.clone());
    let schema = json!({"schema": USER}).to_string().into_bytes();
    let call = |method: Method, uri: &'static str, auth: Option<&'static str>, body: Vec<u8>| {
        let router = router.clone();
        async move { raw_call(router, method, uri, auth, body).await }
    };
    // No credentials, a wrong password, an unknown user: 401 with a challenge.
    for auth in [None, Some("ci:wrong"), Some("nobody:ci-secret")] {
        let (s, h, b) = call(Method::GET, "/subjects", auth, vec![]).await;
        assert_eq!(
            (s.as_u16(), b["error_code"].clone()),
            (401, json!(40101)),
            "{auth:?}"
        );
        assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    }
    // The reader may read and look up, not register, delete or change levels.
    let (s, _, b) = call(
        Method::POST,
        "/subjects/a/versions",
        Some("app:read-secret"),
        schema.clone(),
    )
    .await;
    assert_eq!((s.as_u16(), b["error_code"].clone()), (403, json!(40301)));
    let (s, _, _) = call(
        Method::PUT,
        "/config",
        Some("app:read-secret"),
        br#"{"compatibility":"NONE"}"#.to_vec(),
    )
    .await;
    assert_eq!(s.as_u16(), 403);
    let (s, _, _) = call(
        Method::DELETE,
        "/subjects/a",
        Some("app:read-secret"),
        vec![],
    )
    .await;
    assert_eq!(s.as_u16(), 403);
    // The writer registers; twice, the second from the verified-password cache.
    for _ in 0..2 {
        let (s, _, b) = call(
            Method::POST,
            "/subjects/a/versions",
            Some("ci:ci-secret"),
            schema.clone(),
        )
        .await;
        assert_eq!((s, b), (StatusCode::OK, json!({"id": 1})));
    }
    let (s, _, b) = call(Method::GET, "/subjects", Some("app:read-secret"), vec![]).await;
    assert_eq!((s, b), (StatusCode::OK, json!(["a"])));
    let (s, _, b) = call(
        Method::POST,
        "/subjects/a",
        Some("app:read-secret"),
        schema.clone(),
    )
    .await;
    assert_eq!(
        (s, b["id"].clone()),
        (StatusCode::OK, json!(1)),
        "a lookup is a read"
    );
    let (s, _, _) = call(
        Method::POST,
        "/compatibility/subjects/a/versions/latest",
        Some("app:read-secret"),
        schema.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "a compatibility check is a read");
    // Every write is counted with its user and outcome.
    let metrics = access.render_metrics();
    for line in [
        r#"weft_registry_writes_total{operation="register",outcome="ok",user="ci"} 2"#,
        r#"weft_registry_writes_total{operation="register",outcome="forbidden",user="app"} 1"#,
        r#"weft_registry_writes_total{operation="config",outcome="forbidden",user="app"} 1"#,
        r#"weft_registry_writes_total{operation="delete",outcome="forbidden",user="app"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
}

#[test]
fn a_users_file_with_problems_is_refused_naming_them() {
    let hash = crate::auth::hash_password("p").unwrap();
    for (text, wants) in [
        ("users: []", "no users"),
        ("users:\n  - name: a\n    role: admin\n    password_hash: x", "role"),
        ("users:\n  - name: a\n    role: read\n    password_hash: plain", "PHC"),
        (
            &*format!("users:\n  - {{name: a, role: read, password_hash: \"{hash}\"}}\n  - {{name: a, role: write, password_hash: \"{hash}\"}}"),
            "twice",
        ),
        ("users:\n  - name: a\n    role: read\n    password: p", "unknown field"),
    ] {
        let err = crate::auth::Users::parse(text).unwrap_err();
        assert!(err.contains(wants), "{text}: {err}");
    }
}
