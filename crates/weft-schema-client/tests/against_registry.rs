//! The client against weft's own registry (`weft_registry::app`), served in-process on a real
//! socket at 127.0.0.1:0.

use weft_schema_client::{codes, ClientError, SchemaRegistryClient};

/// Serves a fresh in-memory registry; returns its base URL.
async fn start_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            weft_registry::app(weft_registry::AppState::default()),
        )
        .await
        .expect("registry serves");
    });
    format!("http://{addr}")
}

const ORDER_V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"note","type":["null","string"],"default":null}]}"#;
const ORDER_BREAKING: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"}]}"#;

#[tokio::test]
async fn register_fetch_and_not_found() {
    let client = SchemaRegistryClient::new(&start_registry().await).unwrap();
    assert_eq!(client.latest("shop.order-value").await.unwrap(), None);
    assert_eq!(client.versions("shop.order-value").await.unwrap(), None);

    let id = client
        .register("shop.order-value", ORDER_V1, &[])
        .await
        .unwrap();
    // Same schema again: same id, no new version.
    assert_eq!(
        client
            .register("shop.order-value", ORDER_V1, &[])
            .await
            .unwrap(),
        id
    );
    let latest = client.latest("shop.order-value").await.unwrap().unwrap();
    assert_eq!(
        (latest.id, latest.version, latest.subject.as_str()),
        (id, 1, "shop.order-value")
    );
    assert_eq!(
        client.version("shop.order-value", 1).await.unwrap(),
        Some(latest.clone())
    );
    assert_eq!(client.version("shop.order-value", 7).await.unwrap(), None);

    let id2 = client
        .register("shop.order-value", ORDER_V2, &[])
        .await
        .unwrap();
    assert_ne!(id2, id);
    assert_eq!(
        client.versions("shop.order-value").await.unwrap(),
        Some(vec![1, 2])
    );
    let by_id = client.schema_by_id(id2).await.unwrap();
    assert!(by_id.schema.contains("note"), "{by_id:?}");
    assert_eq!(
        client.subjects().await.unwrap(),
        vec!["shop.order-value".to_string()]
    );

    let missing = client.schema_by_id(9999).await.unwrap_err();
    assert_eq!(
        missing.error_code(),
        Some(codes::SCHEMA_NOT_FOUND),
        "{missing}"
    );
    assert!(missing.registry_message().is_some());

    let invalid = client
        .register("shop.order-value", "{not avro", &[])
        .await
        .unwrap_err();
    assert_eq!(
        invalid.error_code(),
        Some(codes::INVALID_SCHEMA),
        "{invalid}"
    );
}

#[tokio::test]
async fn unreachable_registry_is_a_clear_error() {
    // Bind then drop a listener: nothing serves that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = SchemaRegistryClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = client.subjects().await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test]
async fn subject_config_lookup_and_incompatibility() {
    let client = SchemaRegistryClient::new(&start_registry().await).unwrap();
    let subject = "shop.order-value";
    client
        .set_subject_compatibility(subject, "BACKWARD")
        .await
        .unwrap();
    assert_eq!(
        client.subject_compatibility(subject).await.unwrap(),
        Some("BACKWARD".to_string())
    );
    let bad_level = client
        .set_subject_compatibility(subject, "SIDEWAYS")
        .await
        .unwrap_err();
    assert_eq!(
        bad_level.error_code(),
        Some(codes::INVALID_COMPATIBILITY_LEVEL),
        "{bad_level}"
    );

    assert_eq!(client.lookup(subject, ORDER_V1, &[]).await.unwrap(), None);
    let id = client.register(subject, ORDER_V1, &[]).await.unwrap();
    let found = client
        .lookup(subject, ORDER_V1, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.version), (id, 1));

    let ok = client
        .check_compatibility(subject, ORDER_V2, &[])
        .await
        .unwrap();
    assert!(ok.is_compatible, "{ok:?}");
    let verdict = client
        .check_compatibility(subject, ORDER_BREAKING, &[])
        .await
        .unwrap();
    assert!(!verdict.is_compatible, "{verdict:?}");

    let err = client
        .register(subject, ORDER_BREAKING, &[])
        .await
        .unwrap_err();
    assert!(err.is_incompatible(), "{err}");
    assert!(!err.registry_message().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn publish_is_idempotent_and_reports_incompatibility() {
    use weft_schema_client::{Preview, Published, SubjectSchema};
    let client = SchemaRegistryClient::new(&start_registry().await).unwrap();
    let wanted = |schema: &str| SubjectSchema {
        subject: "shop.order-value".into(),
        level: "FULL".into(),
        schema: schema.into(),
        references: Vec::new(),
    };
    assert_eq!(
        client.preview(&wanted(ORDER_V1)).await.unwrap(),
        (Preview::New, None)
    );
    let first = client.publish(&wanted(ORDER_V1)).await.unwrap();
    let Published::Registered { id, version: 1 } = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        client
            .subject_compatibility("shop.order-value")
            .await
            .unwrap(),
        Some("FULL".into())
    );
    assert_eq!(
        client.publish(&wanted(ORDER_V1)).await.unwrap(),
        Published::Unchanged { id, version: 1 }
    );
    assert_eq!(
        client.preview(&wanted(ORDER_V1)).await.unwrap().0,
        Preview::Unchanged { id, version: 1 }
    );
    // An optional field with a default is FULL compatible; a required one is not.
    assert!(matches!(
        client.preview(&wanted(ORDER_V2)).await.unwrap().0,
        Preview::Compatible { latest: (_, 1) }
    ));
    let (preview, level) = client.preview(&wanted(ORDER_BREAKING)).await.unwrap();
    assert!(
        matches!(preview, Preview::Incompatible { .. }),
        "{preview:?}"
    );
    assert_eq!(level.as_deref(), Some("FULL"));
    let refused = client.publish(&wanted(ORDER_BREAKING)).await.unwrap();
    let Published::Incompatible { message, .. } = &refused else {
        panic!("{refused:?}")
    };
    assert!(!message.is_empty(), "{refused:?}");
    assert_eq!(
        client
            .latest("shop.order-value")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn basic_auth_is_sent() {
    // A socket that records the request it gets and answers like a registry.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the headers ended");
            request.extend_from_slice(&buf[..n]);
        }
        let body = "[]";
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let client = SchemaRegistryClient::new(&url)
        .unwrap()
        .with_basic_auth("key", "secret");
    assert_eq!(client.subjects().await.unwrap(), Vec::<String>::new());
    let request = server.await.unwrap();
    // base64("key:secret") = a2V5OnNlY3JldA==
    let auth = request
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no authorization header in\n{request}"));
    assert_eq!(auth, "Basic a2V5OnNlY3JldA==");
}
