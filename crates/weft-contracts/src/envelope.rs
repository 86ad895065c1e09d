//! The envelope: [`EventMetadata`] (Avro `weft.common.EventMetadata`), [`Priority`], the typed
//! [`Event`] and the [`Contract`] trait every payload implements.
//!
//! Every value on a weft topic is the Avro record `{metadata: weft.common.EventMetadata, payload:
//! <Payload>}`; [`Event<P>`] is that record in Rust. What travels in Kafka headers instead
//! (`traceparent`, `weft-event-type`, `weft-event-id`, `weft-schema-version`) is listed in
//! `docs/contracts.md`; [`EventMetadata::headers`] gives the values.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use weft_core::headers;

/// Processing priority with its SLA (seed 000): critical < 1 s, high < 5 s, normal < 30 s, low best
/// effort. Avro enum `weft.common.Priority`, default `normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Analytics, background tasks: best effort.
    Low,
    /// Stock changes, price updates: under 5 seconds.
    High,
    /// Order creation, payment processing: under 1 second.
    Critical,
    /// Product updates, notifications: under 30 seconds. Also what a priority this build does not
    /// know reads as (the schema's enum default). Last only because serde wants `other` last; the
    /// Avro symbol order is low, normal, high, critical.
    #[default]
    #[serde(other)]
    Normal,
}

impl Priority {
    /// The Avro symbols, in schema order.
    pub const SYMBOLS: &'static [&'static str] = &["low", "normal", "high", "critical"];

    /// The symbol as written in schemas and topic specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// The processing SLA, `None` for best effort.
    pub fn sla(self) -> Option<std::time::Duration> {
        match self {
            Priority::Low => None,
            Priority::Normal => Some(std::time::Duration::from_secs(30)),
            Priority::High => Some(std::time::Duration::from_secs(5)),
            Priority::Critical => Some(std::time::Duration::from_secs(1)),
        }
    }
}

/// Avro `weft.common.EventMetadata`: identity, timing, producer, causal chain, priority and actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// Unique id of this event (Avro logical type `uuid`; v4 for new flows, v5 for derived events).
    pub event_id: String,
    /// Event type as the seed spells it.
    pub event_type: String,
    /// The seed's version of the event type as the seed spells it (`v1`, `1.0`).
    pub event_version: String,
    /// When the fact happened (UTC, `timestamp-millis`).
    #[serde(with = "crate::time::millis")]
    pub occurred_at: DateTime<Utc>,
    /// Producing service.
    pub producer: String,
    /// Version of the producing service.
    pub producer_version: Option<String>,
    /// Instance of the producing service.
    pub producer_instance: Option<String>,
    /// Groups every event of one business flow.
    pub correlation_id: String,
    /// `event_id` of the event that caused this one.
    pub causation_id: Option<String>,
    /// `event_id` of the parent in an event hierarchy.
    pub parent_event_id: Option<String>,
    /// Distributed trace id.
    pub trace_id: Option<String>,
    /// Processing priority.
    pub priority: Priority,
    /// Tenant, in multi-tenant systems.
    pub tenant_id: Option<String>,
    /// The acting user, or the acting service / job for system actions.
    pub user_id: String,
    /// User session.
    pub session_id: Option<String>,
    /// Deployment environment of the producer.
    pub environment: Option<String>,
}

impl EventMetadata {
    /// Metadata for a new event of contract `P` that starts a flow: fresh event id, `occurred_at`
    /// now, correlation id = event id, the contract's type, version and priority.
    pub fn new_for<P: Contract>(producer: impl Into<String>, user_id: impl Into<String>) -> Self {
        let event_id = uuid::Uuid::new_v4().to_string();
        EventMetadata {
            correlation_id: event_id.clone(),
            event_id,
            event_type: P::EVENT_TYPE.to_string(),
            event_version: P::EVENT_VERSION.to_string(),
            occurred_at: Utc::now(),
            producer: producer.into(),
            producer_version: None,
            producer_instance: None,
            causation_id: None,
            parent_event_id: None,
            trace_id: None,
            priority: P::PRIORITY,
            tenant_id: None,
            user_id: user_id.into(),
            session_id: None,
            environment: None,
        }
    }

    /// Metadata for the event of contract `P` that a processor derives from the event carrying
    /// `self`: same correlation, tenant, user, session, trace and environment; `causation_id` is
    /// this event's id; `occurred_at` is kept from the cause.
    ///
    /// The new `event_id` is deterministic (UUID v5 over the cause's id, `P::SCHEMA` and `index`),
    /// so replaying the same input yields the same output ids and consumers that de-duplicate on
    /// `event_id` drop the repeats. Use `index` to tell apart several outputs of the same contract
    /// from one input (one per line item, say); use 0 otherwise.
    pub fn caused<P: Contract>(&self, producer: impl Into<String>, index: u32) -> Self {
        self.caused_seeded::<P>(
            producer,
            format!("{}/{}/{}", self.event_id, P::SCHEMA, index),
        )
    }

    /// Like [`EventMetadata::caused`], for one `part` of the cause (the entity one copy of an
    /// event fanned out to several entities handles): the id is derived from the part too.
    pub fn caused_for<P: Contract>(
        &self,
        producer: impl Into<String>,
        part: &str,
        index: u32,
    ) -> Self {
        let seed = format!("{}/{}/{part}/{}", self.event_id, P::SCHEMA, index);
        self.caused_seeded::<P>(producer, seed)
    }

    fn caused_seeded<P: Contract>(&self, producer: impl Into<String>, seed: String) -> Self {
        let event_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes()).to_string();
        EventMetadata {
            event_id,
            event_type: P::EVENT_TYPE.to_string(),
            event_version: P::EVENT_VERSION.to_string(),
            occurred_at: self.occurred_at,
            producer: producer.into(),
            producer_version: None,
            producer_instance: None,
            correlation_id: self.correlation_id.clone(),
            causation_id: Some(self.event_id.clone()),
            parent_event_id: None,
            trace_id: self.trace_id.clone(),
            priority: P::PRIORITY,
            tenant_id: self.tenant_id.clone(),
            user_id: self.user_id.clone(),
            session_id: self.session_id.clone(),
            environment: self.environment.clone(),
        }
    }

    /// The weft header values derived from the envelope, as `(name, value)` pairs:
    /// `weft-event-type`, `weft-event-id`, `weft-schema-version`. (`traceparent` comes from the
    /// tracing context, not from here.)
    pub fn headers(&self) -> [(&'static str, &str); 3] {
        [
            (headers::EVENT_TYPE, self.event_type.as_str()),
            (headers::EVENT_ID, self.event_id.as_str()),
            (headers::SCHEMA_VERSION, self.event_version.as_str()),
        ]
    }
}

/// A typed weft event: the Avro value record `{metadata, payload}` of contract `P`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<P> {
    /// The envelope.
    pub metadata: EventMetadata,
    /// The event-specific data.
    pub payload: P,
}

impl<P: Contract> Event<P> {
    /// An event with `metadata` and `payload`.
    pub fn new(metadata: EventMetadata, payload: P) -> Self {
        Event { metadata, payload }
    }

    /// The Kafka key: the payload's entity id.
    pub fn key(&self) -> String {
        self.payload.key()
    }
}

/// What ties a payload struct to its Avro schema, its topic and its seed event.
///
/// Implemented for every payload in this crate; the explicit list is [`crate::registry`].
pub trait Contract:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// Full Avro name of the value record (`{metadata, payload}`), e.g. `cypher.order.OrderCreated`.
    const SCHEMA: &'static str;
    /// The topic, `<system>.<domain>.<action>.v<major>`.
    const TOPIC: &'static str;
    /// The event type as the seed spells it, e.g. `order.created`, `INVENTORY_UPDATED`.
    const EVENT_TYPE: &'static str;
    /// The seed's version string for this event type (goes into `event_version`).
    const EVENT_VERSION: &'static str;
    /// The priority the topic spec declares (goes into `priority`).
    const PRIORITY: Priority;
    /// The payload field that is the Kafka key (the topic spec's `key`).
    const KEY_FIELD: &'static str;
    /// The Kafka key: the entity id named by the topic spec's `key`.
    fn key(&self) -> String;
}

/// A realistic payload built from the seed's JSON example, with every optional field set so that
/// round-trip and drift tests see every field. Processors may use it in their tests.
pub trait Example {
    /// The example.
    fn example() -> Self;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cypher::order::OrderCreated;
    use crate::cypher::stock::StockChanged;

    #[test]
    fn a_new_flow_correlates_to_itself() {
        let m = EventMetadata::new_for::<OrderCreated>("checkout-service", "user-456");
        assert_eq!(m.correlation_id, m.event_id);
        assert_eq!(m.event_type, "order.created");
        assert_eq!(m.event_version, "v1");
        assert_eq!(m.priority, Priority::Critical);
        assert_eq!(
            uuid::Uuid::parse_str(&m.event_id)
                .unwrap()
                .get_version_num(),
            4
        );
    }

    #[test]
    fn derived_metadata_is_deterministic_and_carries_the_chain() {
        let mut cause = EventMetadata::new_for::<OrderCreated>("checkout-service", "user-456");
        cause.tenant_id = Some("tenant-123".into());
        cause.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        let a = cause.caused::<StockChanged>("inventory-service", 0);
        let again = cause.caused::<StockChanged>("inventory-service", 0);
        let second = cause.caused::<StockChanged>("inventory-service", 1);
        assert_eq!(
            a.event_id, again.event_id,
            "a replay must produce the same id"
        );
        assert_ne!(a.event_id, second.event_id);
        assert_ne!(a.event_id, cause.event_id);
        assert_eq!(a.causation_id.as_deref(), Some(cause.event_id.as_str()));
        assert_eq!(a.correlation_id, cause.correlation_id);
        assert_eq!(a.tenant_id, cause.tenant_id);
        assert_eq!(a.trace_id, cause.trace_id);
        assert_eq!(a.occurred_at, cause.occurred_at);
        assert_eq!(a.event_type, "stock.changed");
        assert_eq!(a.producer, "inventory-service");
    }

    #[test]
    fn headers_mirror_the_envelope() {
        let m = EventMetadata::new_for::<OrderCreated>("checkout-service", "user-456");
        let headers = m.headers();
        assert_eq!(headers[0], ("weft-event-type", "order.created"));
        assert_eq!(headers[1], ("weft-event-id", m.event_id.as_str()));
        assert_eq!(headers[2], ("weft-schema-version", "v1"));
    }

    #[test]
    fn priorities_have_the_seed_slas() {
        use std::time::Duration;
        assert_eq!(Priority::Critical.sla(), Some(Duration::from_secs(1)));
        assert_eq!(Priority::High.sla(), Some(Duration::from_secs(5)));
        assert_eq!(Priority::Normal.sla(), Some(Duration::from_secs(30)));
        assert_eq!(Priority::Low.sla(), None);
        let json = serde_json::to_string(&Priority::High).unwrap();
        assert_eq!(json, "\"high\"");
        let unknown: Priority = serde_json::from_str("\"urgent\"").unwrap();
        assert_eq!(unknown, Priority::Normal);
    }
}
