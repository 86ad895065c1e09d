//! schema_registry_converter (the Rust client weft's runtime uses) against the registry on a
//! real socket: it registers, encodes in Confluent's wire format and decodes by id.

use apache_avro::types::Value;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

const V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"}]}"#;
const BREAKING: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"},{"name":"currency","type":"string"}]}"#;

async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            weft_registry::app(weft_registry::AppState::default()),
        )
        .await
        .unwrap();
    });
    url
}

fn supplied(schema: &str) -> SuppliedSchema {
    SuppliedSchema::new(Some("shop.Order".into()), SchemaType::Avro, schema.into())
}

fn settings(url: &str) -> SrSettings {
    SrSettings::new_builder(url.to_string())
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test]
async fn encode_and_decode_through_the_registry() {
    let url = start().await;
    let encoder = AvroEncoder::new(settings(&url));
    let values = || {
        vec![
            ("id", Value::String("o-1".into())),
            ("total", Value::Long(1250)),
        ]
    };
    let bytes = encoder
        .encode(
            values(),
            SubjectNameStrategy::TopicNameStrategyWithSchema("orders".into(), false, supplied(V1)),
        )
        .await
        .expect("encode with auto-registration");
    assert_eq!(bytes[0], 0, "magic byte");
    let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
    let latest: serde_json::Value =
        reqwest::get(format!("{url}/subjects/orders-value/versions/latest"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(latest["id"], serde_json::json!(id));

    // A fresh decoder has no cache: it fetches the schema by id.
    let decoded = AvroDecoder::new(settings(&url))
        .decode(Some(&bytes))
        .await
        .expect("decode by id");
    assert_eq!(
        decoded.value,
        Value::Record(vec![
            ("id".into(), Value::String("o-1".into())),
            ("total".into(), Value::Long(1250)),
        ])
    );

    // Encoding with the latest registered version of the subject.
    let again = AvroEncoder::new(settings(&url))
        .encode(
            values(),
            SubjectNameStrategy::TopicNameStrategy("orders".into(), false),
        )
        .await
        .expect("encode with the latest version");
    assert_eq!(again, bytes);

    // An incompatible schema is refused by the registry, and the client says so.
    let err = AvroEncoder::new(settings(&url))
        .encode(
            vec![
                ("id", Value::String("o-2".into())),
                ("total", Value::Long(1)),
                ("currency", Value::String("EUR".into())),
            ],
            SubjectNameStrategy::TopicNameStrategyWithSchema(
                "orders".into(),
                false,
                supplied(BREAKING),
            ),
        )
        .await
        .expect_err("an incompatible schema is refused");
    assert!(
        format!("{err:?}").contains("409") || format!("{err:?}").contains("incompatible"),
        "{err:?}"
    );
}
