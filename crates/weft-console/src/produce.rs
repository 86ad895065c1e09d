//! `weft produce`: JSON in, Avro out under the topic's subject (`<topic>-value`), with key and
//! headers.
//!
//! For each input value (the plain JSON [`crate::avrojson`] reads):
//! 1. when the schema is a weft envelope (`{metadata, payload}`), missing metadata is filled:
//!    `event_id` (UUID v4), `occurred_at` (now), `producer` (`weft-console`), `correlation_id`
//!    (= `event_id`), `user_id` (`weft-console`), and from the topic spec `event_type`,
//!    `priority`, and `event_version` (from the contract of the schema, else the topic's `.vN`);
//!    without a spec, the contract of the registered schema (`weft_contracts::registry`) gives
//!    type, priority and key field — given fields are kept;
//! 2. every value is validated against the schema before anything is sent; the first that does
//!    not fit fails the whole request with the record number and the exact field path
//!    ([`ConsoleError::Invalid`], exit 4), so a bad line in a file sends nothing;
//! 3. the key is `--key`, else the payload field the topic spec (or contract) names as key, else the request
//!    fails (an unkeyed record would lose per-key ordering);
//! 4. headers `weft-event-type`, `weft-event-id`, `weft-schema-version` are set from the
//!    envelope, then the caller's headers are added; records go out with an idempotent producer
//!    and the call returns once every one is acknowledged.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use weft_core::headers;
use weft_core::kafka::KafkaConfig;
use weft_core::spec::TopicSpec;

use crate::avrojson;
use crate::error::{ConsoleError, Result};
use crate::registry::Registry;

/// The `producer` the console writes into envelopes it fills.
pub const PRODUCER: &str = "weft-console";

/// What to produce.
#[derive(Debug, Clone)]
pub struct ProduceRequest {
    pub topic: String,
    /// The key for every record; else derived from the payload's key field.
    pub key: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The values, in order.
    pub values: Vec<Json>,
    /// Known topic specs (e.g. all of `topics/`). The topic's own spec gives the key field,
    /// event type and priority; a topic without a spec (a scratch copy of a topic) uses the spec
    /// whose `value_schema` is the registered schema's record name, when exactly one does.
    pub specs: Vec<TopicSpec>,
    /// Validate and print what would be sent, send nothing.
    pub dry_run: bool,
}

/// One record produced (or, on a dry run, that would be).
#[derive(Debug, Clone, Serialize)]
pub struct Produced {
    pub topic: String,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub key: String,
    pub event_id: Option<String>,
    /// The value as sent, with the envelope filled.
    pub value: Json,
}

/// Parses `k=v` header flags.
pub fn parse_header(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ConsoleError::Input(format!(
            "header `{text}` is not of the form name=value"
        ))),
    }
}

/// Parses input text: one JSON document per line (blank lines skipped), or one multi-line
/// document / array when the whole text is JSON.
pub fn parse_values(text: &str) -> Result<Vec<Json>> {
    if let Ok(v) = serde_json::from_str::<Json>(text) {
        return Ok(match v {
            Json::Array(items) => items,
            other => vec![other],
        });
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| ConsoleError::Input(format!("line {}: not JSON: {e}", i + 1)))
        })
        .collect()
}

/// The event version from a topic name's `.vN` suffix.
fn topic_version(topic: &str) -> Option<String> {
    let last = topic.rsplit('.').next()?;
    (last.len() > 1 && last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit()))
        .then(|| last.to_string())
}

/// True when `schema` is a record with `metadata` and `payload` fields.
fn is_envelope(schema: &apache_avro::Schema) -> bool {
    match schema {
        apache_avro::Schema::Record(r) => {
            r.lookup.contains_key("metadata") && r.lookup.contains_key("payload")
        }
        _ => false,
    }
}

/// What the console fills into an envelope when the input leaves it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeDefaults {
    pub event_type: Option<String>,
    pub event_version: Option<String>,
    pub priority: Option<String>,
    /// The payload field that is the Kafka key.
    pub key_field: Option<String>,
}

impl EnvelopeDefaults {
    /// From the topic spec first, then the contract of the schema (`weft_contracts::registry`),
    /// then the topic name's `.vN` for the version.
    pub fn new(topic: &str, spec: Option<&TopicSpec>, schema_name: Option<&str>) -> Self {
        let contract = schema_name.and_then(|n| {
            weft_contracts::registry::all()
                .into_iter()
                .find(|c| c.schema == n)
        });
        EnvelopeDefaults {
            event_type: spec
                .map(|s| s.event_type.clone())
                .or_else(|| contract.map(|c| c.event_type.to_string())),
            event_version: contract
                .map(|c| c.event_version.to_string())
                .or_else(|| topic_version(spec.map_or(topic, |s| s.name.as_str()))),
            priority: spec
                .map(|s| s.priority.as_str().to_string())
                .or_else(|| contract.map(|c| c.priority.as_str().to_string())),
            key_field: spec
                .map(|s| s.key.clone())
                .or_else(|| contract.map(|c| c.key_field.to_string())),
        }
    }
}

/// Fills missing envelope metadata in `value` (see the module docs).
pub fn fill_envelope(value: &mut Json, defaults: &EnvelopeDefaults) {
    let Json::Object(obj) = value else { return };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Json::Object(Map::new()));
    let Json::Object(m) = meta else { return };
    let event_id = m
        .get("event_id")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut set = |k: &str, v: Option<String>| {
        if !m.contains_key(k) {
            if let Some(v) = v {
                m.insert(k.to_string(), Json::String(v));
            }
        }
    };
    set("event_id", Some(event_id.clone()));
    set("correlation_id", Some(event_id));
    set(
        "occurred_at",
        Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    set("producer", Some(PRODUCER.to_string()));
    set("user_id", Some(PRODUCER.to_string()));
    set("event_type", defaults.event_type.clone());
    set("event_version", defaults.event_version.clone());
    set("priority", defaults.priority.clone());
}

/// Validates every value, then produces them all; see the module docs.
pub async fn produce(
    kafka: &KafkaConfig,
    registry: &Registry,
    req: &ProduceRequest,
) -> Result<Vec<Produced>> {
    if req.values.is_empty() {
        return Err(ConsoleError::Input("no value to produce".into()));
    }
    let schema = registry.value_schema(&req.topic).await?;
    let subject = format!("{}-value (schema id {})", req.topic, schema.id);
    let envelope = is_envelope(&schema.parsed);
    let spec = spec_for(&req.specs, &req.topic, &schema.parsed);
    let schema_name = match &schema.parsed {
        apache_avro::Schema::Record(r) => Some(r.name.fullname(None)),
        _ => None,
    };
    let defaults = EnvelopeDefaults::new(&req.topic, spec, schema_name.as_deref());
    let mut prepared = Vec::new();
    for (i, v) in req.values.iter().enumerate() {
        let mut value = v.clone();
        if envelope {
            fill_envelope(&mut value, &defaults);
        }
        let avro = avrojson::from_json(&value, &schema.parsed).map_err(|mismatch| {
            ConsoleError::Invalid {
                record: i + 1,
                subject: subject.clone(),
                mismatch,
            }
        })?;
        let key = match &req.key {
            Some(k) => k.clone(),
            None => derive_key(&value, defaults.key_field.as_deref()).ok_or_else(|| {
                ConsoleError::Input(format!(
                    "record {}: no key: pass --key{}",
                    i + 1,
                    match &defaults.key_field {
                        Some(k) => format!(" (payload.{k} is missing or empty)"),
                        None => " (no topic spec or contract names the key field)".to_string(),
                    }
                ))
            })?,
        };
        prepared.push((key, value, avro));
    }
    let mut out = Vec::new();
    if req.dry_run {
        for (key, value, _) in prepared {
            out.push(Produced {
                topic: req.topic.clone(),
                partition: None,
                offset: None,
                key,
                event_id: value["metadata"]["event_id"].as_str().map(str::to_string),
                value,
            });
        }
        return Ok(out);
    }
    let producer: FutureProducer = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .create()
        .map_err(|e| ConsoleError::kafka("creating a producer", e))?;
    for (key, value, avro) in prepared {
        let bytes = registry.encode(&req.topic, avro).await?;
        let meta = &value["metadata"];
        let mut hs = OwnedHeaders::new();
        for (name, field) in [
            (headers::EVENT_TYPE, "event_type"),
            (headers::EVENT_ID, "event_id"),
            (headers::SCHEMA_VERSION, "event_version"),
        ] {
            if let Some(v) = meta[field].as_str() {
                hs = hs.insert(Header {
                    key: name,
                    value: Some(v),
                });
            }
        }
        for (k, v) in &req.headers {
            hs = hs.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let (partition, offset) = producer
            .send(
                FutureRecord::to(&req.topic)
                    .key(&key)
                    .payload(&bytes)
                    .headers(hs),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| ConsoleError::kafka(&format!("producing to {}", req.topic), e))
            .map(|d| (d.partition, d.offset))?;
        out.push(Produced {
            topic: req.topic.clone(),
            partition: Some(partition),
            offset: Some(offset),
            key,
            event_id: meta["event_id"].as_str().map(str::to_string),
            value,
        });
    }
    Ok(out)
}

/// The spec of `topic`, else the only spec whose value schema is `schema`'s record name.
fn spec_for<'a>(
    specs: &'a [TopicSpec],
    topic: &str,
    schema: &apache_avro::Schema,
) -> Option<&'a TopicSpec> {
    if let Some(s) = specs.iter().find(|s| s.name == topic) {
        return Some(s);
    }
    let apache_avro::Schema::Record(r) = schema else {
        return None;
    };
    let name = r.name.fullname(None);
    let mut same = specs.iter().filter(|s| s.value_schema == name);
    match (same.next(), same.next()) {
        (Some(s), None) => Some(s),
        _ => None,
    }
}

/// The key from `payload.<key field>`, as text.
fn derive_key(value: &Json, field: Option<&str>) -> Option<String> {
    match &value["payload"][field?] {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_as_lines_documents_or_arrays() {
        assert_eq!(parse_values("{\"a\":1}\n\n{\"a\":2}\n").unwrap().len(), 2);
        assert_eq!(parse_values("{\n \"a\": 1\n}").unwrap().len(), 1);
        assert_eq!(parse_values("[{\"a\":1},{\"a\":2}]").unwrap().len(), 2);
        let err = parse_values("{\"a\":1}\n{oops\n").unwrap_err().to_string();
        assert!(err.starts_with("line 2: not JSON"), "{err}");
        assert!(parse_header("x").is_err());
        assert_eq!(parse_header("a=b=c").unwrap(), ("a".into(), "b=c".into()));
    }

    #[test]
    fn the_envelope_is_filled_but_given_fields_are_kept() {
        let mut v = serde_json::json!({"metadata": {"correlation_id": "c-1"}, "payload": {}});
        let d = EnvelopeDefaults::new("scratch.order.created.v3", None, None);
        assert_eq!(d.event_version.as_deref(), Some("v3"));
        fill_envelope(&mut v, &d);
        let m = &v["metadata"];
        assert_eq!(m["correlation_id"], "c-1");
        assert_eq!(m["producer"], PRODUCER);
        assert_eq!(m["event_version"], "v3");
        let id = uuid::Uuid::parse_str(m["event_id"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        let mut v = serde_json::json!({"payload": {}});
        fill_envelope(&mut v, &EnvelopeDefaults::new("x.y", None, None));
        assert_eq!(v["metadata"]["correlation_id"], v["metadata"]["event_id"]);
        assert!(v["metadata"].get("event_version").is_none());
        // Without a spec, the contract of the schema gives type, version, priority and key.
        let d = EnvelopeDefaults::new("scratch", None, Some("cypher.order.OrderCreated"));
        assert_eq!(d.event_type.as_deref(), Some("order.created"));
        assert_eq!(d.priority.as_deref(), Some("critical"));
        assert_eq!(d.key_field.as_deref(), Some("order_id"));
        assert!(d.event_version.is_some());
        let v = serde_json::json!({"payload": {"order_id": "o-1", "n": 3}});
        assert_eq!(derive_key(&v, Some("order_id")).as_deref(), Some("o-1"));
        assert_eq!(derive_key(&v, Some("n")).as_deref(), Some("3"));
        assert_eq!(derive_key(&v, Some("missing")), None);
        assert_eq!(
            derive_key(&v, None),
            None,
            "no key field known: --key is required"
        );
    }
}
