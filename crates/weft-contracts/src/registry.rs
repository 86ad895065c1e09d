//! The explicit list of every contract in this crate, and the checks each one must pass.
//!
//! [`all`] is the registration list (no discovery magic): one [`ContractEntry`] per payload type,
//! an erased twin of the typed [`Contract`] that tools can iterate. Each entry carries
//! monomorphised check functions:
//!
//! - `round_trip`: the seed example wrapped in an [`Event`] is encoded through the schema-aware
//!   serializer and through the `to_value` path (both must decode to the original), decoded, and
//!   compared with the original, money to the last digit;
//! - `drift`: the example as an Avro `Value` and the `.avsc` are walked together; any field in one
//!   and not the other, any type mismatch, any decimal that is not (18,4), and any optional,
//!   array or map the example leaves empty (it would hide the type) is reported;
//! - `enum_symbols`: every symbol of every enum in the schema must deserialize into the Rust enum
//!   and serialize back to itself, and an unknown symbol must fall back to the enum's default.

use apache_avro::schema::{DecimalSchema, UuidSchema};
use apache_avro::types::Value;
use apache_avro::Schema;

use crate::catalog::Catalog;
use std::collections::HashMap;

use crate::codec::{self, deref, named_types, ContractCodec};
use crate::envelope::{Contract, Event, EventMetadata, Example, Priority};
use crate::error::ContractsError;
use crate::{b2b, collector, composerp, cypher, viscount};

/// The erased twin of a [`Contract`]: what tools need without knowing the payload type.
#[derive(Debug, Clone, Copy)]
pub struct ContractEntry {
    /// Full Avro name of the value record.
    pub schema: &'static str,
    /// Topic name.
    pub topic: &'static str,
    /// Event type as the seed spells it.
    pub event_type: &'static str,
    /// The seed's version string.
    pub event_version: &'static str,
    /// Priority of the topic.
    pub priority: Priority,
    /// Payload field that is the Kafka key.
    pub key_field: &'static str,
    /// Rust path of the payload type.
    pub rust_type: &'static str,
    /// Round-trips the seed example; `Err` says what differed.
    pub round_trip: fn(&Catalog) -> Result<(), String>,
    /// Differences between the payload type and its schema; empty when they agree.
    pub drift: fn(&Catalog) -> Vec<String>,
    /// Enum symbols that do not map both ways; empty when they do.
    pub enum_symbols: fn(&Catalog) -> Vec<String>,
}

impl ContractEntry {
    /// The entry of contract `P`.
    pub fn of<P: Contract + Example>() -> Self {
        ContractEntry {
            schema: P::SCHEMA,
            topic: P::TOPIC,
            event_type: P::EVENT_TYPE,
            event_version: P::EVENT_VERSION,
            priority: P::PRIORITY,
            key_field: P::KEY_FIELD,
            rust_type: std::any::type_name::<P>(),
            round_trip: round_trip::<P>,
            drift: drift::<P>,
            enum_symbols: enum_symbols::<P>,
        }
    }
}

/// Every contract of the five seed systems.
pub fn all() -> Vec<ContractEntry> {
    vec![
        // seed 000, Cypher ERP
        ContractEntry::of::<cypher::cart::CartUpdated>(),
        ContractEntry::of::<cypher::quote::QuoteCreated>(),
        ContractEntry::of::<cypher::order::OrderCreated>(),
        ContractEntry::of::<cypher::order::OrderCancelled>(),
        ContractEntry::of::<cypher::order::OrderPaid>(),
        ContractEntry::of::<cypher::invoice::InvoiceIssued>(),
        ContractEntry::of::<cypher::credit::CreditChanged>(),
        ContractEntry::of::<cypher::product::ProductCreated>(),
        ContractEntry::of::<cypher::product::ProductUpdated>(),
        ContractEntry::of::<cypher::stock::StockChanged>(),
        ContractEntry::of::<cypher::price::PriceChanged>(),
        ContractEntry::of::<cypher::promotion::PromotionCreated>(),
        ContractEntry::of::<cypher::promotion::PromotionUpdated>(),
        ContractEntry::of::<cypher::promotion::PromotionActivated>(),
        ContractEntry::of::<cypher::promotion::PromotionDeactivated>(),
        ContractEntry::of::<cypher::category::CategoryCreated>(),
        ContractEntry::of::<cypher::category::CategoryUpdated>(),
        ContractEntry::of::<cypher::category::CategoryDeleted>(),
        // seed 001, Collector
        ContractEntry::of::<collector::offer::OfferApproved>(),
        ContractEntry::of::<collector::order::OrderCreated>(),
        ContractEntry::of::<collector::order::OrderConfirmed>(),
        ContractEntry::of::<collector::delivery::DeliveryDispatched>(),
        ContractEntry::of::<collector::delivery::DeliveryConfirmed>(),
        ContractEntry::of::<collector::invoice::InvoiceIssued>(),
        ContractEntry::of::<collector::invoice::InvoicePaid>(),
        ContractEntry::of::<collector::stock::StockLow>(),
        ContractEntry::of::<collector::task::TaskCompleted>(),
        ContractEntry::of::<collector::employee::EmployeeHired>(),
        ContractEntry::of::<collector::payroll::PayrollProcessed>(),
        // seed 002, Composerp
        ContractEntry::of::<composerp::inventory::InventoryUpdated>(),
        ContractEntry::of::<composerp::inventory::InventoryLowStock>(),
        ContractEntry::of::<composerp::replenishment::ReplenishmentTriggered>(),
        ContractEntry::of::<composerp::purchase_order::PurchaseOrderCreated>(),
        ContractEntry::of::<composerp::purchase_order::PurchaseOrderApproved>(),
        ContractEntry::of::<composerp::forecast::ForecastGenerated>(),
        ContractEntry::of::<composerp::sale::SaleCompleted>(),
        ContractEntry::of::<composerp::receipt::ReceiptCompleted>(),
        ContractEntry::of::<composerp::transfer::TransferInitiated>(),
        // seed 003, B2B e-commerce
        ContractEntry::of::<b2b::landing_cms::ContentUpdated>(),
        ContractEntry::of::<b2b::landing_cms::ContentPublished>(),
        ContractEntry::of::<b2b::product::ProductCreated>(),
        ContractEntry::of::<b2b::product::ProductUpdated>(),
        ContractEntry::of::<b2b::product::ProductActivated>(),
        ContractEntry::of::<b2b::product::ProductDeactivated>(),
        ContractEntry::of::<b2b::inventory::InventoryReserved>(),
        ContractEntry::of::<b2b::inventory::InventoryReleased>(),
        ContractEntry::of::<b2b::inventory::InventoryRestocked>(),
        ContractEntry::of::<b2b::cart::ItemAddedToCart>(),
        ContractEntry::of::<b2b::cart::ItemRemovedFromCart>(),
        ContractEntry::of::<b2b::cart::ItemQuantityUpdated>(),
        ContractEntry::of::<b2b::cart::CartCleared>(),
        ContractEntry::of::<b2b::cart::CartConverted>(),
        ContractEntry::of::<b2b::order::OrderPlaced>(),
        ContractEntry::of::<b2b::order::OrderCancelled>(),
        ContractEntry::of::<b2b::order::OrderStatusChanged>(),
        ContractEntry::of::<b2b::order::OrderShipped>(),
        ContractEntry::of::<b2b::email::EmailNotificationRequested>(),
        ContractEntry::of::<b2b::email::EmailSent>(),
        ContractEntry::of::<b2b::email::EmailFailed>(),
        // seed 004, First Viscount
        ContractEntry::of::<viscount::product::ProductCreated>(),
        ContractEntry::of::<viscount::product::ProductUpdated>(),
        ContractEntry::of::<viscount::product::ProductDeleted>(),
        ContractEntry::of::<viscount::product::PriceChanged>(),
        ContractEntry::of::<viscount::product::ProductOutOfStock>(),
        ContractEntry::of::<viscount::inventory::InventoryReserved>(),
        ContractEntry::of::<viscount::inventory::InventoryReleased>(),
        ContractEntry::of::<viscount::inventory::InventoryAdjusted>(),
        ContractEntry::of::<viscount::inventory::LowStockAlert>(),
        ContractEntry::of::<viscount::inventory::InventoryUpdated>(),
        ContractEntry::of::<viscount::order::OrderCreated>(),
        ContractEntry::of::<viscount::order::OrderValidated>(),
        ContractEntry::of::<viscount::order::OrderCompleted>(),
        ContractEntry::of::<viscount::order::OrderCancelled>(),
        ContractEntry::of::<viscount::order::OrderRefunded>(),
    ]
}

/// Example metadata for contract `P` with every optional field set.
pub fn example_metadata<P: Contract>() -> EventMetadata {
    EventMetadata {
        event_id: "550e8400-e29b-41d4-a716-446655440000".to_string(),
        event_type: P::EVENT_TYPE.to_string(),
        event_version: P::EVENT_VERSION.to_string(),
        occurred_at: crate::time::ts("2026-02-13T12:00:00.123Z"),
        producer: "example-service".to_string(),
        producer_version: Some("1.0.0".to_string()),
        producer_instance: Some("example-service-7d9f8-abcde".to_string()),
        correlation_id: "660e8400-e29b-41d4-a716-446655440001".to_string(),
        causation_id: Some("770e8400-e29b-41d4-a716-446655440002".to_string()),
        parent_event_id: Some("880e8400-e29b-41d4-a716-446655440003".to_string()),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_string()),
        priority: P::PRIORITY,
        tenant_id: Some("tenant-123".to_string()),
        user_id: "user-456".to_string(),
        session_id: Some("sess-9a8b7c".to_string()),
        environment: Some("production".to_string()),
    }
}

/// The seed example of `P` as a full event.
pub fn example_event<P: Contract + Example>() -> Event<P> {
    Event::new(example_metadata::<P>(), P::example())
}

fn round_trip<P: Contract + Example>(catalog: &Catalog) -> Result<(), String> {
    let show = |e: ContractsError| e.to_string();
    let codec = ContractCodec::<P>::new(catalog).map_err(show)?;
    let event = example_event::<P>();
    let bytes = codec.encode(&event).map_err(show)?;
    let value = codec::to_avro_value(codec.schema(), &event).map_err(show)?;
    let value_bytes = codec::encode_value(codec.schema(), value).map_err(show)?;
    // Map entries may come out in another order (to_value goes through a HashMap), so compare
    // what the two encodings decode to rather than the bytes.
    if bytes != value_bytes {
        let via_value = codec.decode(&value_bytes).map_err(show)?;
        if via_value != event {
            return Err(format!(
                "the to_value path encodes a different event:\n sent {event:?}\n got  {via_value:?}"
            ));
        }
    }
    let resolved: Event<P> = codec::decode_resolved(codec.schema(), Some(codec.schema()), &bytes)
        .map_err(|e| format!("decoding with resolution: {e}"))?;
    if resolved != event {
        return Err(format!(
            "decoding with resolution reads a different event:\n sent {event:?}\n got  {resolved:?}"
        ));
    }
    let back = codec.decode(&bytes).map_err(show)?;
    if back != event {
        return Err(format!(
            "decoded event differs:\n sent {event:?}\n got  {back:?}"
        ));
    }
    if back.key() != event.payload.key() || back.key().is_empty() {
        return Err(format!("key differs or is empty: {:?}", back.key()));
    }
    Ok(())
}

fn drift<P: Contract + Example>(catalog: &Catalog) -> Vec<String> {
    let schema = match catalog.self_contained(P::SCHEMA) {
        Ok(s) => s,
        Err(e) => return vec![e.to_string()],
    };
    let value = match apache_avro::to_value(example_event::<P>()) {
        Ok(v) => v,
        Err(e) => return vec![format!("to_value: {e}")],
    };
    let mut problems = Vec::new();
    let names = named_types(&schema);
    compare(&value, &schema, &names, P::SCHEMA, &mut problems);
    // The key field the contract names must be a top-level string field of the payload.
    if let Value::Record(fields) = &value {
        let payload = fields.iter().find(|(n, _)| n == "payload").map(|(_, v)| v);
        let key = match payload {
            Some(Value::Record(p)) => p.iter().find(|(n, _)| n == P::KEY_FIELD).map(|(_, v)| v),
            _ => None,
        };
        match key {
            Some(Value::String(s)) if *s == P::example().key() => {}
            other => problems.push(format!(
                "{}: key field `{}` is not a string payload field equal to key(): {other:?}",
                P::SCHEMA,
                P::KEY_FIELD
            )),
        }
    }
    problems
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Record(_) => "record",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Union(..) => "union",
        _ => "another Avro value",
    }
}

/// Walk the example value and the schema together; `path` names the place for messages.
fn compare(
    value: &Value,
    schema: &Schema,
    names: &HashMap<String, &Schema>,
    path: &str,
    problems: &mut Vec<String>,
) {
    let schema = deref(schema, names);
    let mismatch = |expected: &str| {
        format!(
            "{path}: schema says {expected}, struct gives {}",
            kind(value)
        )
    };
    match schema {
        Schema::Record(record) => {
            let Value::Record(fields) = value else {
                problems.push(mismatch("a record"));
                return;
            };
            for field in &record.fields {
                match fields.iter().find(|(n, _)| *n == field.name) {
                    Some((_, v)) => compare(
                        v,
                        &field.schema,
                        names,
                        &format!("{path}.{}", field.name),
                        problems,
                    ),
                    None => problems.push(format!(
                        "{path}.{}: in the schema, not in the struct",
                        field.name
                    )),
                }
            }
            for (name, _) in fields {
                if !record.lookup.contains_key(name) {
                    problems.push(format!("{path}.{name}: in the struct, not in the schema"));
                }
            }
        }
        Schema::Union(union) => {
            let Value::Union(i, inner) = value else {
                problems.push(mismatch("an optional (union)"));
                return;
            };
            match (union.variants().get(*i as usize), inner.as_ref()) {
                (Some(Schema::Null), _) => problems.push(format!(
                    "{path}: optional field is None in the example; set it so its type is checked"
                )),
                (Some(branch), inner) => compare(inner, branch, names, path, problems),
                (None, _) => problems.push(format!("{path}: union branch {i} does not exist")),
            }
        }
        Schema::Array(array) => {
            let Value::Array(items) = value else {
                problems.push(mismatch("an array"));
                return;
            };
            if items.is_empty() {
                problems.push(format!(
                    "{path}: array is empty in the example; add an item so its type is checked"
                ));
            }
            for (i, item) in items.iter().enumerate() {
                compare(item, &array.items, names, &format!("{path}[{i}]"), problems);
            }
        }
        Schema::Map(map) => {
            let Value::Map(entries) = value else {
                problems.push(mismatch("a map"));
                return;
            };
            if entries.is_empty() {
                problems.push(format!(
                    "{path}: map is empty in the example; add an entry so its type is checked"
                ));
            }
            for (k, v) in entries {
                compare(v, &map.types, names, &format!("{path}[{k}]"), problems);
            }
        }
        Schema::Decimal(DecimalSchema {
            precision, scale, ..
        }) => {
            if !matches!(value, Value::Bytes(_)) {
                problems.push(mismatch("a decimal (Decimal4)"));
            }
            if *precision != 18 || *scale != 4 {
                problems.push(format!(
                    "{path}: decimal({precision},{scale}); Decimal4 is decimal(18,4)"
                ));
            }
        }
        Schema::Uuid(UuidSchema::String) => match value {
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => {}
            Value::String(s) => problems.push(format!("{path}: example {s:?} is not a UUID")),
            _ => problems.push(mismatch("a uuid string")),
        },
        Schema::String => {
            if !matches!(value, Value::String(_)) {
                problems.push(mismatch("a string"));
            }
        }
        Schema::Enum(e) => match value {
            Value::String(s) if e.symbols.contains(s) => {}
            Value::String(s) => {
                problems.push(format!("{path}: symbol {s:?} is not in the schema enum"))
            }
            _ => problems.push(mismatch("an enum")),
        },
        Schema::TimestampMillis | Schema::Long => {
            if !matches!(value, Value::Long(_)) {
                problems.push(mismatch("a long / timestamp-millis"));
            }
        }
        Schema::Date | Schema::Int => {
            if !matches!(value, Value::Int(_)) {
                problems.push(mismatch("an int / date"));
            }
        }
        Schema::Boolean => {
            if !matches!(value, Value::Boolean(_)) {
                problems.push(mismatch("a boolean"));
            }
        }
        other => problems.push(format!(
            "{path}: schema type {other:?} is not used by weft contracts"
        )),
    }
}

/// One step into a value.
#[derive(Debug, Clone)]
enum Step {
    Field(String),
    Index(usize),
    Key(String),
    Union,
}

type EnumPosition = (Vec<Step>, Vec<String>, String);

fn enum_positions(
    value: &Value,
    schema: &Schema,
    names: &HashMap<String, &Schema>,
    at: &mut Vec<Step>,
    out: &mut Vec<EnumPosition>,
) {
    match (value, deref(schema, names)) {
        (Value::Record(fields), Schema::Record(r)) => {
            for (name, v) in fields {
                if let Some(&pos) = r.lookup.get(name) {
                    at.push(Step::Field(name.clone()));
                    enum_positions(v, &r.fields[pos].schema, names, at, out);
                    at.pop();
                }
            }
        }
        (Value::Union(i, inner), Schema::Union(u)) => {
            if let Some(branch) = u.variants().get(*i as usize) {
                at.push(Step::Union);
                enum_positions(inner, branch, names, at, out);
                at.pop();
            }
        }
        (Value::Array(items), Schema::Array(a)) => {
            for (i, item) in items.iter().enumerate() {
                at.push(Step::Index(i));
                enum_positions(item, &a.items, names, at, out);
                at.pop();
            }
        }
        (Value::Map(map), Schema::Map(m)) => {
            for (k, v) in map {
                at.push(Step::Key(k.clone()));
                enum_positions(v, &m.types, names, at, out);
                at.pop();
            }
        }
        (Value::String(_), Schema::Enum(e)) => {
            let default = e.default.clone().unwrap_or_default();
            out.push((at.clone(), e.symbols.clone(), default));
        }
        _ => {}
    }
}

fn value_at<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    let mut current = value;
    for step in path {
        current = match (step, current) {
            (Step::Field(name), Value::Record(fields)) => {
                fields.iter_mut().find(|(n, _)| n == name).map(|(_, v)| v)?
            }
            (Step::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            (Step::Key(k), Value::Map(map)) => map.get_mut(k)?,
            (Step::Union, Value::Union(_, inner)) => inner.as_mut(),
            _ => return None,
        };
    }
    Some(current)
}

fn enum_symbols<P: Contract + Example>(catalog: &Catalog) -> Vec<String> {
    let schema = match catalog.self_contained(P::SCHEMA) {
        Ok(s) => s,
        Err(e) => return vec![e.to_string()],
    };
    let value = match apache_avro::to_value(example_event::<P>()) {
        Ok(v) => v,
        Err(e) => return vec![format!("to_value: {e}")],
    };
    let mut positions = Vec::new();
    let names = named_types(&schema);
    enum_positions(&value, &schema, &names, &mut Vec::new(), &mut positions);
    let mut problems = Vec::new();
    for (path, symbols, default) in positions {
        let probes = symbols
            .iter()
            .map(|s| (s.clone(), s.clone()))
            .chain(std::iter::once((
                "a_symbol_from_the_future".to_string(),
                default.clone(),
            )));
        for (probe, expected) in probes {
            let mut mutated = value.clone();
            if let Some(slot) = value_at(&mut mutated, &path) {
                *slot = Value::String(probe.clone());
            }
            let back = apache_avro::from_value::<Event<P>>(&mutated)
                .map_err(|e| e.to_string())
                .and_then(|event| apache_avro::to_value(event).map_err(|e| e.to_string()));
            match back {
                Ok(mut again) => match value_at(&mut again, &path) {
                    Some(Value::String(s)) if *s == expected => {}
                    other => problems.push(format!(
                        "{} {path:?}: symbol {probe:?} came back as {other:?}, expected {expected:?}",
                        P::SCHEMA
                    )),
                },
                Err(e) => problems.push(format!("{} {path:?}: symbol {probe:?} does not deserialize: {e}", P::SCHEMA)),
            }
        }
    }
    problems
}
