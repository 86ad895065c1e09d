//! Avro binary encoding of typed events (the body after the Confluent 5-byte header, which
//! `weft_core::wire` adds).
//!
//! - [`encode`] serialises any `Serialize` value with apache-avro's schema-aware serializer
//!   (`GenericDatumWriter::write_ser`), non-human-readable, so [`crate::Decimal4`] goes out as
//!   decimal bytes;
//! - [`decode`] reads the datum into an Avro `Value` with the writer's schema, optionally resolves
//!   it to a reader schema (schema evolution), and deserialises it with `apache_avro::from_value`.
//!   Trailing bytes after the datum are an error: they mean the writer used another schema.
//! - [`to_avro_value`] is the `to_value` path: `apache_avro::to_value`, then decimal bytes become
//!   `Value::Decimal` where the schema says decimal, then the value is validated.
//! - [`ContractCodec`] caches the self-contained schema of one contract, compiled for
//!   [`crate::direct`], which decodes and encodes without a `Value` tree (4x faster; the runtime
//!   uses it whenever the writer's schema is the contract's own). This module's functions remain
//!   the reference path and the one for schema resolution.
//!
//! Schemas passed here must be self-contained ([`crate::Catalog::self_contained`]).

use std::collections::HashMap;
use std::marker::PhantomData;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::envelope::{Contract, Event};
use crate::error::{ContractsError, Result};

/// Encode `value` as an Avro datum of `schema`.
pub fn encode<T: Serialize>(schema: &Schema, value: &T) -> Result<Vec<u8>> {
    let writer = GenericDatumWriter::builder(schema)
        .human_readable(false)
        .build()
        .map_err(|e| ContractsError::avro("preparing the writer", e))?;
    writer
        .write_ser_to_vec(value)
        .map_err(|e| ContractsError::avro(format!("encoding with {}", schema_name(schema)), e))
}

/// Decode an Avro datum written with `writer` into a generic `Value`, resolved to `reader` when
/// given.
///
/// Resolution is apache-avro's `Value::resolve` after decoding with the writer's schema, as its
/// datum reader does, with one repair in between: apache-avro 0.22 rejects a `bytes` decimal whose
/// two's-complement bytes are fewer than its precision could need (a 3-byte 12.3400 under
/// `decimal(18,4)`), though Avro writes decimals in as few bytes as they take. Every decimal is
/// therefore sign-extended to 16 bytes (precision 38) before resolving; the value is unchanged.
pub fn decode_value(writer: &Schema, reader: Option<&Schema>, bytes: &[u8]) -> Result<Value> {
    let mut input = bytes;
    let value = GenericDatumReader::builder(writer)
        .build()
        .map_err(|e| ContractsError::avro("preparing the reader", e))?
        .read_value(&mut input)
        .map_err(|e| ContractsError::avro(format!("decoding with {}", schema_name(writer)), e))?;
    if !input.is_empty() {
        return Err(ContractsError::Datum(format!(
            "{} bytes left after reading a datum of {}; it was written with another schema",
            input.len(),
            schema_name(writer)
        )));
    }
    match reader {
        None => Ok(value),
        Some(reader) => widen_decimals(value).resolve(reader).map_err(|e| {
            ContractsError::avro(
                format!(
                    "resolving {} to {}",
                    schema_name(writer),
                    schema_name(reader)
                ),
                e,
            )
        }),
    }
}

/// Sign-extends every decimal to 16 bytes (see [`decode_value`]).
fn widen_decimals(value: Value) -> Value {
    match value {
        Value::Decimal(d) => {
            let bytes: Vec<u8> = Vec::try_from(&d).unwrap_or_default();
            if bytes.is_empty() || bytes.len() >= 16 {
                return Value::Decimal(d);
            }
            let fill = if bytes[0] & 0x80 != 0 { 0xFF } else { 0x00 };
            let mut wide = vec![fill; 16 - bytes.len()];
            wide.extend_from_slice(&bytes);
            Value::Decimal(apache_avro::Decimal::from(wide))
        }
        Value::Union(i, inner) => Value::Union(i, Box::new(widen_decimals(*inner))),
        Value::Record(fields) => Value::Record(
            fields
                .into_iter()
                .map(|(k, v)| (k, widen_decimals(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(widen_decimals).collect()),
        Value::Map(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (k, widen_decimals(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Decode an Avro datum of `schema` into `T`.
pub fn decode<T: DeserializeOwned>(schema: &Schema, bytes: &[u8]) -> Result<T> {
    decode_resolved(schema, None, bytes)
}

/// Decode an Avro datum written with `writer`, resolved to `reader` when given, into `T`.
///
/// Without a reader schema (the writer's is the reader's: the common case of a producer and a
/// consumer on the same contract version, which the runtime recognises once per schema id) the
/// `Value` tree is not resolved, which saves a copy of it per record. (apache-avro's
/// schema-aware deserializer, which would skip the tree altogether, requires every Rust struct
/// to be named as its Avro record, `Event<P>` and the payload structs are not.)
pub fn decode_resolved<T: DeserializeOwned>(
    writer: &Schema,
    reader: Option<&Schema>,
    bytes: &[u8],
) -> Result<T> {
    let value = decode_value(writer, reader, bytes)?;
    apache_avro::from_value(&value).map_err(|e| {
        ContractsError::avro(
            format!(
                "reading {} into {}",
                schema_name(reader.unwrap_or(writer)),
                std::any::type_name::<T>()
            ),
            e,
        )
    })
}

/// `apache_avro::to_value`, conformed to `schema` (decimal bytes become `Value::Decimal`) and
/// validated against it. `GenericDatumWriter::write_value` accepts the result.
pub fn to_avro_value<T: Serialize>(schema: &Schema, value: &T) -> Result<Value> {
    let raw = apache_avro::to_value(value).map_err(|e| ContractsError::avro("to_value", e))?;
    let names = named_types(schema);
    let conformed = conform(raw, schema, &names);
    if !conformed.validate(schema) {
        return Err(ContractsError::avro(
            format!("validating against {}", schema_name(schema)),
            apache_avro::Error::new(apache_avro::error::Details::Validation),
        ));
    }
    Ok(conformed)
}

/// Encode a generic value (e.g. from [`to_avro_value`]) with `GenericDatumWriter::write_value`.
pub fn encode_value(schema: &Schema, value: Value) -> Result<Vec<u8>> {
    GenericDatumWriter::builder(schema)
        .build()
        .map_err(|e| ContractsError::avro("preparing the writer", e))?
        .write_value_to_vec(value)
        .map_err(|e| ContractsError::avro(format!("encoding with {}", schema_name(schema)), e))
}

/// Every named type defined inside `schema`, by full name, to follow `Schema::Ref`s.
pub(crate) fn named_types(schema: &Schema) -> HashMap<String, &Schema> {
    fn walk<'s>(schema: &'s Schema, out: &mut HashMap<String, &'s Schema>) {
        match schema {
            Schema::Record(r) => {
                out.insert(r.name.fullname(None), schema);
                for f in &r.fields {
                    walk(&f.schema, out);
                }
            }
            Schema::Enum(e) => {
                out.insert(e.name.fullname(None), schema);
            }
            Schema::Fixed(f) => {
                out.insert(f.name.fullname(None), schema);
            }
            Schema::Union(u) => u.variants().iter().for_each(|v| walk(v, out)),
            Schema::Array(a) => walk(&a.items, out),
            Schema::Map(m) => walk(&m.types, out),
            _ => {}
        }
    }
    let mut out = HashMap::new();
    walk(schema, &mut out);
    out
}

/// `schema`, or the type a `Schema::Ref` names.
pub(crate) fn deref<'s>(schema: &'s Schema, names: &HashMap<String, &'s Schema>) -> &'s Schema {
    match schema {
        Schema::Ref { name } => names.get(&name.fullname(None)).copied().unwrap_or(schema),
        other => other,
    }
}

fn conform(value: Value, schema: &Schema, names: &HashMap<String, &Schema>) -> Value {
    let schema = deref(schema, names);
    match (value, schema) {
        (Value::Bytes(b), Schema::Decimal(_)) => Value::Decimal(apache_avro::Decimal::from(b)),
        (Value::Union(i, inner), Schema::Union(u)) => match u.variants().get(i as usize) {
            Some(branch) => Value::Union(i, Box::new(conform(*inner, branch, names))),
            None => Value::Union(i, inner),
        },
        (Value::Record(fields), Schema::Record(r)) => Value::Record(
            fields
                .into_iter()
                .map(|(name, v)| {
                    let conformed = match r.lookup.get(&name) {
                        Some(&pos) => conform(v, &r.fields[pos].schema, names),
                        None => v,
                    };
                    (name, conformed)
                })
                .collect(),
        ),
        (Value::Array(items), Schema::Array(a)) => Value::Array(
            items
                .into_iter()
                .map(|v| conform(v, &a.items, names))
                .collect(),
        ),
        (Value::Map(map), Schema::Map(m)) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (k, conform(v, &m.types, names)))
                .collect(),
        ),
        (Value::String(s), Schema::Enum(e)) => match e.symbols.iter().position(|x| *x == s) {
            Some(i) => Value::Enum(i as u32, s),
            None => Value::String(s),
        },
        (Value::Long(n), Schema::TimestampMillis) => Value::TimestampMillis(n),
        (Value::Int(n), Schema::Date) => Value::Date(n),
        (Value::String(s), Schema::Uuid(_)) => match uuid::Uuid::parse_str(&s) {
            Ok(u) => Value::Uuid(u),
            Err(_) => Value::String(s),
        },
        (v, _) => v,
    }
}

fn schema_name(schema: &Schema) -> String {
    schema
        .name()
        .map(|n| n.fullname(None))
        .unwrap_or_else(|| "an unnamed schema".to_string())
}

/// Encoder and decoder for the events of one contract, holding its self-contained schema.
#[derive(Debug, Clone)]
pub struct ContractCodec<P> {
    schema: Schema,
    plan: crate::direct::Plan,
    _payload: PhantomData<fn() -> P>,
}

impl<P: Contract> ContractCodec<P> {
    /// The codec of `P`, with the schema `P::SCHEMA` from `catalog`.
    pub fn new(catalog: &Catalog) -> Result<Self> {
        let schema = catalog.self_contained(P::SCHEMA)?;
        Ok(ContractCodec {
            plan: crate::direct::Plan::new(&schema)?,
            schema,
            _payload: PhantomData,
        })
    }

    /// The self-contained value schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Encode an event (straight from the struct: [`crate::direct`]).
    pub fn encode(&self, event: &Event<P>) -> Result<Vec<u8>> {
        self.plan.encode(event)
    }

    /// Decode an event written with this contract's schema (straight from the bytes:
    /// [`crate::direct`]).
    pub fn decode(&self, bytes: &[u8]) -> Result<Event<P>> {
        self.plan.decode(bytes)
    }

    /// The compiled schema for direct decoding.
    pub fn plan(&self) -> &crate::direct::Plan {
        &self.plan
    }

    /// Decode an event written with another (older or newer) schema of the same subject,
    /// resolving it to this contract's schema.
    pub fn decode_from(&self, writer: &Schema, bytes: &[u8]) -> Result<Event<P>> {
        decode_resolved(writer, Some(&self.schema), bytes)
    }
}
