//! From an outbox row to the Kafka record it becomes: which topic, which key, which bytes.
//!
//! The row's `event_type` and the major of its `event_version` (`v1`, `1.0`, `2`) pick the topic
//! spec (`topics/`) of that event type and version; a version that names none, with exactly one
//! spec for the type, takes that one. The row's `payload` is the event's payload; the envelope
//! around it is built from the row: `event_id` = the row id (so a consumer's duplicate check
//! sees the row), `occurred_at` = `created_at`, `event_type`, the contract's `event_version`, the
//! spec's `priority`, and every envelope field the row's `headers` name (`correlation_id`,
//! `causation_id`, `tenant_id`, `producer`, `user_id`, ...); what is still missing is filled as
//! `weft produce` fills it (`producer` = `weft-outbox-relay`). The envelope is validated against
//! the topic's schema the way `weft produce` validates, encoded as Avro and framed in the
//! Confluent wire format with the id of the schema under `<topic>-value`. The key is the payload
//! field the spec names. Headers: `weft-event-type`, `weft-event-id`, `weft-schema-version`,
//! then every row header as text (`traceparent` passes through).
//!
//! A row that cannot become a record (no spec for its type, a payload that does not fit, no key)
//! is an [`Unpublishable`]: the relay records the reason and retries, then dead-letters it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use serde_json::{Map, Value as Json};
use uuid::Uuid;
use weft_contracts::json::from_json;
use weft_contracts::Catalog;
use weft_core::headers;
use weft_core::spec::TopicSpec;
use weft_runtime::schemas::SchemaSource;

use crate::error::{OutboxError, Result};

/// The `producer` written into envelopes whose row does not name one.
pub const PRODUCER: &str = "weft-outbox-relay";

/// One outbox row, as the relay reads it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: Uuid,
    pub seq: i64,
    pub event_type: String,
    pub event_version: Option<String>,
    pub payload: Json,
    pub headers: Option<Json>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub retry_count: i32,
    pub max_retries: i32,
}

/// A Kafka record ready to send.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub key: String,
    pub value: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// Why a row cannot be published; it goes into `error_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublishable(pub String);

impl std::fmt::Display for Unpublishable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an event type goes.
struct Target {
    topic: String,
    key_field: String,
    schema: Schema,
    event_version: String,
    priority: String,
    /// The schema id under `<topic>-value`, once asked for.
    schema_id: Mutex<Option<u32>>,
}

/// An event type and the major version a row asked for.
type TargetKey = (String, Option<u32>);

/// Turns rows into records; see the module docs.
pub struct Encoder {
    specs: Vec<TopicSpec>,
    catalog: Catalog,
    schemas: Arc<dyn SchemaSource>,
    prefix: String,
    /// Only topics of this system (`cypher` -> `cypher.*`), when set.
    system: Option<String>,
    targets: Mutex<HashMap<TargetKey, Arc<Target>>>,
}

/// `v1`, `1.0`, `2` -> the major; None when the text holds no number.
fn major(version: &str) -> Option<u32> {
    let digits: String = version
        .trim()
        .trim_start_matches(['v', 'V'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl Encoder {
    /// An encoder over the topic specs and the Avro catalog; `prefix` goes before every topic
    /// name (as `weft run --topic-prefix`).
    pub fn new(
        specs: Vec<TopicSpec>,
        catalog: Catalog,
        schemas: Arc<dyn SchemaSource>,
        prefix: &str,
        system: Option<&str>,
    ) -> Self {
        Encoder {
            specs,
            catalog,
            schemas,
            prefix: prefix.to_string(),
            system: system.map(str::to_string),
            targets: Mutex::new(HashMap::new()),
        }
    }

    fn target(
        &self,
        event_type: &str,
        version: Option<&str>,
    ) -> std::result::Result<Arc<Target>, Unpublishable> {
        let wanted = version.and_then(major);
        let cache_key = (event_type.to_string(), wanted);
        if let Some(t) = self.targets.lock().expect("targets lock").get(&cache_key) {
            return Ok(t.clone());
        }
        let of_type: Vec<&TopicSpec> = self
            .specs
            .iter()
            .filter(|s| s.event_type == event_type)
            .filter(|s| {
                self.system
                    .as_deref()
                    .is_none_or(|sys| s.name.starts_with(&format!("{sys}.")))
            })
            .collect();
        let names = |specs: &[&TopicSpec]| {
            specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let of_version: Vec<&TopicSpec> = of_type
            .iter()
            .copied()
            .filter(|s| wanted.is_some() && s.name.rsplit('.').next().and_then(major) == wanted)
            .collect();
        let spec = match (of_version.as_slice(), of_type.as_slice()) {
            ([one], _) | ([], [one]) => *one,
            ([], []) => {
                return Err(Unpublishable(format!(
                    "no topic spec for event type `{event_type}`{}",
                    self.system
                        .as_deref()
                        .map(|s| format!(" in system `{s}`"))
                        .unwrap_or_default()
                )))
            }
            ([], several) => {
                return Err(Unpublishable(format!(
                    "no topic spec for event type `{event_type}` version {}: the specs are {}",
                    version.unwrap_or("(none)"),
                    names(several)
                )))
            }
            (several, _) => {
                return Err(Unpublishable(format!(
                    "event type `{event_type}` is on several topics ({}): run the relay with \
                     --system",
                    names(several)
                )))
            }
        };
        let schema = self
            .catalog
            .self_contained(&spec.value_schema)
            .map_err(|e| {
                Unpublishable(format!(
                    "schema {} of {} is not in the catalog: {e}",
                    spec.value_schema, spec.name
                ))
            })?;
        let event_version = weft_contracts::registry::all()
            .into_iter()
            .find(|c| c.schema == spec.value_schema)
            .map(|c| c.event_version.to_string())
            .or_else(|| spec.event_version.clone())
            .or_else(|| version.map(str::to_string))
            .unwrap_or_else(|| "1.0".to_string());
        let target = Arc::new(Target {
            topic: format!("{}{}", self.prefix, spec.name),
            key_field: spec.key.clone(),
            schema,
            event_version,
            priority: spec.priority.as_str().to_string(),
            schema_id: Mutex::new(None),
        });
        self.targets
            .lock()
            .expect("targets lock")
            .insert(cache_key, target.clone());
        Ok(target)
    }

    /// The entity the row is about (the Kafka key), when its type and payload tell.
    pub fn aggregate(
        &self,
        event_type: &str,
        version: Option<&str>,
        payload: &Json,
    ) -> Option<String> {
        let target = self.target(event_type, version).ok()?;
        key_of(payload, &target.key_field)
    }

    /// The record of `row`. `Err(Ok(_))`: the row cannot be published (see the module docs);
    /// `Err(Err(_))`: the registry failed, which is no fault of the row.
    pub fn encode(
        &self,
        row: &Row,
    ) -> std::result::Result<Record, std::result::Result<Unpublishable, OutboxError>> {
        let target = self
            .target(&row.event_type, row.event_version.as_deref())
            .map_err(Ok)?;
        let key = key_of(&row.payload, &target.key_field).ok_or_else(|| {
            Ok(Unpublishable(format!(
                "payload.{} (the key of {}) is missing or empty",
                target.key_field, target.topic
            )))
        })?;
        let envelope = self.envelope(row, &target);
        let value = from_json(&envelope, &target.schema).map_err(|m| {
            Ok(Unpublishable(format!(
                "does not fit the schema of {}: {m}",
                target.topic
            )))
        })?;
        let body = weft_contracts::codec::encode_value(&target.schema, value).map_err(|e| {
            Ok(Unpublishable(format!(
                "cannot encode for {}: {e}",
                target.topic
            )))
        })?;
        let id = self.schema_id(&target).map_err(Err)?;
        let mut headers = vec![
            (headers::EVENT_TYPE.to_string(), row.event_type.clone()),
            (headers::EVENT_ID.to_string(), row.id.to_string()),
            (
                headers::SCHEMA_VERSION.to_string(),
                target.event_version.clone(),
            ),
        ];
        if let Some(Json::Object(hs)) = &row.headers {
            for (k, v) in hs {
                let text = match v {
                    Json::String(s) => s.clone(),
                    Json::Null => continue,
                    other => other.to_string(),
                };
                headers.push((k.clone(), text));
            }
        }
        Ok(Record {
            topic: target.topic.clone(),
            key,
            value: weft_core::wire::frame(id, &body),
            headers,
        })
    }

    fn schema_id(&self, target: &Target) -> Result<u32> {
        if let Some(id) = *target.schema_id.lock().expect("schema id lock") {
            return Ok(id);
        }
        // The registry client blocks on a runtime of its own.
        let id = tokio::task::block_in_place(|| {
            self.schemas.value_schema_id(&target.topic, &target.schema)
        })
        .map_err(|e| OutboxError::Registry(e.to_string()))?;
        *target.schema_id.lock().expect("schema id lock") = Some(id);
        Ok(id)
    }

    /// The envelope of `row` as plain JSON (see the module docs).
    fn envelope(&self, row: &Row, target: &Target) -> Json {
        let mut meta = Map::new();
        if let Some(Json::Object(hs)) = &row.headers {
            for (k, v) in hs {
                if let Json::String(s) = v {
                    meta.insert(k.clone(), Json::String(s.clone()));
                }
            }
        }
        let id = row.id.to_string();
        let mut set = |k: &str, v: String, overrule: bool| {
            if overrule || !meta.contains_key(k) {
                meta.insert(k.to_string(), Json::String(v));
            }
        };
        set("event_id", id.clone(), true);
        set("event_type", row.event_type.clone(), true);
        set("event_version", target.event_version.clone(), true);
        set(
            "occurred_at",
            row.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            false,
        );
        set("priority", target.priority.clone(), false);
        set("producer", PRODUCER.to_string(), false);
        set("user_id", PRODUCER.to_string(), false);
        set("correlation_id", id, false);
        // Only the envelope's own fields: extra headers stay headers.
        if let Schema::Record(r) = &target.schema {
            if let Some(Schema::Record(m)) = r.lookup.get("metadata").map(|i| &r.fields[*i].schema)
            {
                meta.retain(|k, _| m.lookup.contains_key(k));
            }
        }
        let mut obj = Map::new();
        obj.insert("metadata".into(), Json::Object(meta));
        obj.insert("payload".into(), row.payload.clone());
        Json::Object(obj)
    }
}

/// `payload.<field>` as text.
fn key_of(payload: &Json, field: &str) -> Option<String> {
    match payload.get(field)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_give_their_major() {
        assert_eq!(major("v1"), Some(1));
        assert_eq!(major("1.0"), Some(1));
        assert_eq!(major("V2"), Some(2));
        assert_eq!(major("2.3.1"), Some(2));
        assert_eq!(major("latest"), None);
    }

    #[test]
    fn keys_are_text_or_numbers() {
        let p = serde_json::json!({"order_id": "o-1", "n": 7, "empty": ""});
        assert_eq!(key_of(&p, "order_id").as_deref(), Some("o-1"));
        assert_eq!(key_of(&p, "n").as_deref(), Some("7"));
        assert_eq!(key_of(&p, "empty"), None);
        assert_eq!(key_of(&p, "missing"), None);
    }
}
