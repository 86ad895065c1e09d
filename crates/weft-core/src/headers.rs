//! Kafka header names weft writes and reads (see `docs/design.md`).
//!
//! Headers let tools route and filter without decoding Avro. Values are UTF-8 strings.

/// W3C trace context of the span that produced the record.
pub const TRACEPARENT: &str = "traceparent";
/// The seed's event type, e.g. `order.created`.
pub const EVENT_TYPE: &str = "weft-event-type";
/// The envelope's `event_id`.
pub const EVENT_ID: &str = "weft-event-id";
/// The envelope's `event_version`.
pub const SCHEMA_VERSION: &str = "weft-schema-version";

/// Topic the failed record was first consumed from.
pub const DLQ_SOURCE_TOPIC: &str = "weft-dlq-source-topic";
/// Partition of the failed record in its source topic.
pub const DLQ_SOURCE_PARTITION: &str = "weft-dlq-source-partition";
/// Offset of the failed record in its source topic.
pub const DLQ_SOURCE_OFFSET: &str = "weft-dlq-source-offset";
/// `poison`, `transient` or `undecodable`.
pub const DLQ_ERROR_CLASS: &str = "weft-dlq-error-class";
/// The error's message.
pub const DLQ_ERROR_MESSAGE: &str = "weft-dlq-error-message";
/// How many times processing was attempted.
pub const DLQ_ATTEMPT: &str = "weft-dlq-attempt";
/// The processor that failed.
pub const DLQ_PROCESSOR: &str = "weft-dlq-processor";
/// RFC 3339 time of the first failure.
pub const DLQ_FIRST_FAILURE: &str = "weft-dlq-first-failure";
/// RFC 3339 time of the latest failure.
pub const DLQ_LAST_FAILURE: &str = "weft-dlq-last-failure";
/// Epoch milliseconds before which a retry record must not be processed.
pub const RETRY_DUE: &str = "weft-retry-due";
/// On a record of a group's repartition topic: the (logical) topic it was first published to,
/// whose handler processes it (see `weft_runtime::state`, re-keying).
pub const REPARTITIONED_FROM: &str = "weft-repartitioned-from";
/// On a record parked behind an earlier record of its key (per-key ordering): `true`.
pub const PARKED: &str = "weft-parked";
