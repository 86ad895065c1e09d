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
