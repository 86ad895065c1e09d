//! Decoding Avro binary straight into a Rust type, without an intermediate `Value` tree.
//!
//! [`Plan`] is a schema compiled once (named references resolved to indices, logical types
//! reduced to the binary type they are written as); [`Plan::decode`] then drives serde's
//! `Deserialize` of the target type from the bytes, record by record and field by field, the
//! way `apache_avro::from_value` would from the decoded tree, so the two agree on every type
//! the contracts use:
//!
//! - records are serde maps keyed by field name, in the schema's order (a field the Rust type
//!   does not know is read and ignored, so the bytes stay in step);
//! - `["null", T]` unions are options; any other union yields its branch's value;
//! - enums are their symbols (a Rust enum, or a string);
//! - logical types are their underlying type: `decimal` bytes (what [`crate::Decimal4`]
//!   reads when the deserializer is not human-readable, as here), `timestamp-*` longs, `date`
//!   ints, `uuid` strings.
//!
//! It decodes with the writer's schema only: no resolution. Callers use it when the writer's
//! schema is the reader's (the runtime decides that once per schema id) and fall back to
//! [`crate::codec::decode_resolved`] otherwise.
//!
//! # Failure modes
//! Corrupt or truncated bytes are an error naming what was being read and at which byte
//! ([`crate::ContractsError::Datum`]), never a panic: lengths and counts are checked against
//! the bytes left before anything is allocated, varints are bounded to 10 bytes, and strings
//! must be UTF-8. Bytes left over after the datum are an error (another schema wrote them).

use std::collections::HashMap;
use std::fmt;

use apache_avro::schema::{InnerDecimalSchema, UuidSchema};
use apache_avro::Schema;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

use crate::error::{ContractsError, Result};

/// A schema compiled for direct decoding. Cheap to share (build once per schema).
#[derive(Debug, Clone)]
pub struct Plan {
    nodes: Vec<Node>,
    /// A `string` node: what map keys are written as.
    key: usize,
    /// The schema itself, for what the direct encoder leaves to apache-avro.
    schema: Schema,
    /// Per node: whether a value of it can take no bytes at all (null, an empty fixed or
    /// record), so an array block of them cannot be bounded by the bytes left.
    empty_ok: Vec<bool>,
    name: String,
    /// The size of the last datum encoded: the next one's buffer starts that large.
    size_hint: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Debug, Clone)]
enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    /// A `uuid` string: checked and read in its canonical form (lowercase, hyphenated), as
    /// apache-avro's `Value::Uuid` gives it.
    Uuid,
    Fixed(usize),
    Enum(Vec<String>),
    Array(usize),
    Map(usize),
    /// Branch nodes, and (for the writer) the position of the `null` branch and of the only
    /// other one, when there is exactly one.
    Union {
        branches: Vec<usize>,
        null: Option<usize>,
        only: Option<usize>,
    },
    Record(Vec<(String, usize)>),
    /// Reserved while a record's fields are compiled (a recursive reference points at it).
    Pending,
}

impl Plan {
    /// Compiles a self-contained schema (every `Ref` names a type defined inside it).
    pub fn new(schema: &Schema) -> Result<Plan> {
        let mut compiler = Compiler {
            nodes: Vec::new(),
            named: HashMap::new(),
            defined: crate::codec::named_types(schema),
        };
        let root = compiler.compile(schema)?;
        debug_assert_eq!(root, 0);
        let key = compiler.push(Node::Str);
        let empty_ok = (0..compiler.nodes.len())
            .map(|i| can_be_empty(&compiler.nodes, i, 0))
            .collect();
        Ok(Plan {
            key,
            size_hint: Default::default(),
            schema: schema.clone(),
            empty_ok,
            nodes: compiler.nodes,
            name: schema
                .name()
                .map(|n| n.fullname(None))
                .unwrap_or_else(|| "an unnamed schema".to_string()),
        })
    }

    /// Decodes one datum of this schema into `T`. Trailing bytes are an error.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let mut input = Input { bytes, at: 0 };
        let value = T::deserialize(De {
            plan: self,
            node: 0,
            input: &mut input,
        })
        .map_err(|e| {
            ContractsError::Datum(format!(
                "reading {} into {}: {}",
                self.name,
                std::any::type_name::<T>(),
                e.0
            ))
        })?;
        if input.at != bytes.len() {
            return Err(ContractsError::Datum(format!(
                "{} bytes left after reading a datum of {}; it was written with another schema",
                bytes.len() - input.at,
                self.name
            )));
        }
        Ok(value)
    }
}

fn can_be_empty(nodes: &[Node], i: usize, depth: usize) -> bool {
    match &nodes[i] {
        Node::Null | Node::Fixed(0) => true,
        // A record that reaches itself has a union or an array on the way (which take bytes).
        Node::Record(fields) => {
            depth < 32
                && fields
                    .iter()
                    .all(|(_, f)| can_be_empty(nodes, *f, depth + 1))
        }
        _ => false,
    }
}

struct Compiler<'s> {
    nodes: Vec<Node>,
    /// Named types compiled so far, by full name.
    named: HashMap<String, usize>,
    /// Named types defined anywhere in the schema, by full name.
    defined: HashMap<String, &'s Schema>,
}

impl<'s> Compiler<'s> {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn compile(&mut self, schema: &'s Schema) -> Result<usize> {
        let node = match schema {
            Schema::Null => Node::Null,
            Schema::Boolean => Node::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Node::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Node::Long,
            Schema::Float => Node::Float,
            Schema::Double => Node::Double,
            Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => Node::Bytes,
            Schema::String => Node::Str,
            Schema::Uuid(UuidSchema::String) => Node::Uuid,
            Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Duration(f) => Node::Fixed(f.size),
            Schema::Decimal(d) => match &d.inner {
                InnerDecimalSchema::Bytes => Node::Bytes,
                InnerDecimalSchema::Fixed(f) => Node::Fixed(f.size),
            },
            Schema::Fixed(f) => {
                let i = self.push(Node::Fixed(f.size));
                self.named.insert(f.name.fullname(None), i);
                return Ok(i);
            }
            Schema::Enum(e) => {
                let i = self.push(Node::Enum(e.symbols.clone()));
                self.named.insert(e.name.fullname(None), i);
                return Ok(i);
            }
            Schema::Array(a) => {
                let i = self.push(Node::Pending);
                let items = self.compile(&a.items)?;
                self.nodes[i] = Node::Array(items);
                return Ok(i);
            }
            Schema::Map(m) => {
                let i = self.push(Node::Pending);
                let values = self.compile(&m.types)?;
                self.nodes[i] = Node::Map(values);
                return Ok(i);
            }
            Schema::Union(u) => {
                let i = self.push(Node::Pending);
                let mut branches = Vec::with_capacity(u.variants().len());
                for v in u.variants() {
                    branches.push(self.compile(v)?);
                }
                let is_null = |b: &usize| matches!(self.nodes[*b], Node::Null);
                let null = branches.iter().position(is_null);
                let others: Vec<usize> = (0..branches.len())
                    .filter(|&k| !is_null(&branches[k]))
                    .collect();
                let only = (others.len() == 1).then(|| others[0]);
                self.nodes[i] = Node::Union {
                    branches,
                    null,
                    only,
                };
                return Ok(i);
            }
            Schema::Record(r) => {
                let i = self.push(Node::Pending);
                self.named.insert(r.name.fullname(None), i);
                let mut fields = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    fields.push((f.name.clone(), self.compile(&f.schema)?));
                }
                self.nodes[i] = Node::Record(fields);
                return Ok(i);
            }
            Schema::Ref { name } => {
                let full = name.fullname(None);
                if let Some(&i) = self.named.get(&full) {
                    return Ok(i);
                }
                let defined = *self.defined.get(&full).ok_or_else(|| {
                    ContractsError::Datum(format!(
                        "the schema refers to {full}, which it does not define (not self-contained)"
                    ))
                })?;
                return self.compile(defined);
            }
        };
        Ok(self.push(node))
    }
}

/// The direct codec's error: a message (serde's custom errors and the codec's own).
#[derive(Debug)]
pub struct DirectError(String);

/// How the messages of what the direct encoder does not do start; [`Plan::encode`] then hands
/// the value to apache-avro's serializer instead, so the result is the reference path's.
const UNSUPPORTED: &str = "not supported by the direct encoder: ";

fn unsupported(what: impl fmt::Display) -> DirectError {
    DirectError(format!("{UNSUPPORTED}{what}"))
}

impl fmt::Display for DirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DirectError {}

impl de::Error for DirectError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        DirectError(msg.to_string())
    }
}

type DeResult<T> = std::result::Result<T, DirectError>;

struct Input<'de> {
    bytes: &'de [u8],
    at: usize,
}

impl<'de> Input<'de> {
    fn fail<T>(&self, what: &str) -> DeResult<T> {
        Err(DirectError(format!(
            "{what} at byte {} of {}",
            self.at,
            self.bytes.len()
        )))
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> DeResult<&'de [u8]> {
        if n > self.left() {
            return self.fail(&format!(
                "{what}: {n} bytes announced, {} left",
                self.left()
            ));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    /// A zig-zag varint (Avro `int` and `long`).
    fn long(&mut self) -> DeResult<i64> {
        let mut raw: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.at) else {
                return self.fail("a varint runs past the end");
            };
            self.at += 1;
            raw |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        self.fail("a varint longer than 10 bytes")
    }

    fn int(&mut self) -> DeResult<i32> {
        let n = self.long()?;
        i32::try_from(n).or_else(|_| self.fail(&format!("an int out of range ({n})")))
    }

    fn length(&mut self, what: &str) -> DeResult<usize> {
        let n = self.long()?;
        usize::try_from(n).or_else(|_| self.fail(&format!("{what}: a negative length ({n})")))
    }

    fn bytes(&mut self) -> DeResult<&'de [u8]> {
        let n = self.length("bytes")?;
        self.take(n, "bytes")
    }

    fn str(&mut self) -> DeResult<&'de str> {
        let n = self.length("a string")?;
        let raw = self.take(n, "a string")?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s),
            Err(e) => self.fail(&format!("a string that is not UTF-8 ({e})")),
        }
    }

    /// The item count of the next array or map block (0 ends the value). A negative count is
    /// followed by the block's size in bytes, which is read and not needed.
    fn block(&mut self) -> DeResult<usize> {
        let n = self.long()?;
        if n < 0 {
            self.long()?;
        }
        let count = n.unsigned_abs();
        usize::try_from(count).or_else(|_| self.fail("a block count out of range"))
    }
}

/// The most items of a block whose items can take no bytes (arrays of nulls): a bound on the
/// work a corrupt count can cause.
const MAX_EMPTY_ITEMS: usize = 1 << 24;

/// A deserializer positioned at a value of node `node`.
struct De<'p, 'i, 'de> {
    plan: &'p Plan,
    node: usize,
    input: &'i mut Input<'de>,
}

impl<'p, 'i, 'de> De<'p, 'i, 'de> {
    fn at(&mut self, node: usize) -> De<'p, '_, 'de> {
        De {
            plan: self.plan,
            node,
            input: self.input,
        }
    }
}

impl<'de> de::Deserializer<'de> for De<'_, '_, 'de> {
    type Error = DirectError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> DeResult<V::Value> {
        match &self.plan.nodes[self.node] {
            Node::Null => visitor.visit_unit(),
            Node::Boolean => match self.input.take(1, "a boolean")?[0] {
                0 => visitor.visit_bool(false),
                1 => visitor.visit_bool(true),
                b => self.input.fail(&format!("a boolean byte {b}")),
            },
            Node::Int => visitor.visit_i32(self.input.int()?),
            Node::Long => visitor.visit_i64(self.input.long()?),
            Node::Float => {
                let b = self.input.take(4, "a float")?;
                visitor.visit_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            Node::Double => {
                let b = self.input.take(8, "a double")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                visitor.visit_f64(f64::from_le_bytes(a))
            }
            Node::Bytes => visitor.visit_borrowed_bytes(self.input.bytes()?),
            Node::Fixed(n) => {
                let n = *n;
                visitor.visit_borrowed_bytes(self.input.take(n, "a fixed")?)
            }
            Node::Str => visitor.visit_borrowed_str(self.input.str()?),
            Node::Uuid => {
                let s = self.input.str()?;
                match uuid::Uuid::parse_str(s) {
                    Ok(u) => visitor.visit_str(u.hyphenated().encode_lower(&mut [0u8; 36])),
                    Err(e) => self.input.fail(&format!("`{s}` is not a uuid ({e})")),
                }
            }
            Node::Enum(symbols) => {
                let i = self.input.long()?;
                match usize::try_from(i).ok().and_then(|i| symbols.get(i)) {
                    Some(s) => visitor.visit_str(s),
                    None => self
                        .input
                        .fail(&format!("enum index {i} of {}", symbols.len())),
                }
            }
            Node::Union { branches, .. } => {
                let branch = self.branch(branches)?;
                if matches!(self.plan.nodes[branch], Node::Null) {
                    visitor.visit_none()
                } else {
                    self.at(branch).deserialize_any(visitor)
                }
            }
            Node::Array(items) => {
                let items = *items;
                visitor.visit_seq(Items {
                    plan: self.plan,
                    node: items,
                    input: self.input,
                    left: 0,
                    done: false,
                })
            }
            Node::Map(values) => {
                let values = *values;
                visitor.visit_map(Entries {
                    plan: self.plan,
                    node: values,
                    input: self.input,
                    left: 0,
                    done: false,
                })
            }
            Node::Record(fields) => visitor.visit_map(Fields {
                plan: self.plan,
                fields,
                next: 0,
                input: self.input,
            }),
            Node::Pending => Err(DirectError("an incompletely compiled schema".into())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> DeResult<V::Value> {
        match &self.plan.nodes[self.node] {
            Node::Union { branches, .. } => {
                let branch = self.branch(branches)?;
                if matches!(self.plan.nodes[branch], Node::Null) {
                    visitor.visit_none()
                } else {
                    visitor.visit_some(self.at(branch))
                }
            }
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> DeResult<V::Value> {
        match &self.plan.nodes[self.node] {
            Node::Enum(symbols) => {
                let i = self.input.long()?;
                match usize::try_from(i).ok().and_then(|i| symbols.get(i)) {
                    Some(s) => visitor.visit_enum(s.as_str().into_deserializer()),
                    None => self
                        .input
                        .fail(&format!("enum index {i} of {}", symbols.len())),
                }
            }
            Node::Str => {
                let s = self.input.str()?;
                visitor.visit_enum(s.into_deserializer())
            }
            Node::Union { branches, .. } => {
                let branch = self.branch(branches)?;
                self.at(branch).deserialize_enum(name, variants, visitor)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    /// `Vec<u8>` (a sequence to serde) from `bytes` or `fixed`.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match &self.plan.nodes[self.node] {
            Node::Bytes => {
                let b = self.input.bytes()?;
                visitor.visit_seq(b.iter().copied().map(u8::into_deserializer).into_seq())
            }
            Node::Fixed(n) => {
                let n = *n;
                let b = self.input.take(n, "a fixed")?;
                visitor.visit_seq(b.iter().copied().map(u8::into_deserializer).into_seq())
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> DeResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        // Ignored, but read: the bytes must stay in step.
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple
        tuple_struct map struct identifier
    }
}

impl De<'_, '_, '_> {
    fn branch(&mut self, branches: &[usize]) -> DeResult<usize> {
        let i = self.input.long()?;
        match usize::try_from(i).ok().and_then(|i| branches.get(i)) {
            Some(&b) => Ok(b),
            None => self
                .input
                .fail(&format!("union branch {i} of {}", branches.len())),
        }
    }
}

/// `Iterator<Item = D>` → `SeqAccess` (serde's own `SeqDeserializer`).
trait IntoSeq: Iterator + Sized {
    fn into_seq(self) -> de::value::SeqDeserializer<Self, DirectError> {
        de::value::SeqDeserializer::new(self)
    }
}

impl<I: Iterator> IntoSeq for I {}

/// A record's fields as a serde map, in schema order.
struct Fields<'p, 'i, 'de> {
    plan: &'p Plan,
    fields: &'p [(String, usize)],
    next: usize,
    input: &'i mut Input<'de>,
}

impl<'de> de::MapAccess<'de> for Fields<'_, '_, 'de> {
    type Error = DirectError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> DeResult<Option<K::Value>> {
        match self.fields.get(self.next) {
            None => Ok(None),
            Some((name, _)) => seed
                .deserialize(de::value::StrDeserializer::<DirectError>::new(name))
                .map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> DeResult<V::Value> {
        let (_, node) = self.fields[self.next];
        self.next += 1;
        seed.deserialize(De {
            plan: self.plan,
            node,
            input: self.input,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len() - self.next)
    }
}

/// An array's items, block by block.
struct Items<'p, 'i, 'de> {
    plan: &'p Plan,
    node: usize,
    input: &'i mut Input<'de>,
    left: usize,
    done: bool,
}

/// Moves to the next item of a blocked array or map: `false` at its end. `empty_ok`: an item
/// can take no bytes (else a block cannot hold more items than there are bytes left).
fn advance(
    input: &mut Input<'_>,
    left: &mut usize,
    done: &mut bool,
    empty_ok: bool,
) -> DeResult<bool> {
    while !*done && *left == 0 {
        match input.block()? {
            0 => *done = true,
            n if n > input.left() && (!empty_ok || n > MAX_EMPTY_ITEMS) => {
                return input.fail(&format!(
                    "a block of {n} items with {} bytes left",
                    input.left()
                ));
            }
            n => *left = n,
        }
    }
    if *done {
        return Ok(false);
    }
    *left -= 1;
    Ok(true)
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_, 'de> {
    type Error = DirectError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> DeResult<Option<T::Value>> {
        if !advance(
            self.input,
            &mut self.left,
            &mut self.done,
            self.plan.empty_ok[self.node],
        )? {
            return Ok(None);
        }
        seed.deserialize(De {
            plan: self.plan,
            node: self.node,
            input: self.input,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        // Bounded by the bytes left, so a corrupt count cannot reserve much.
        Some(self.left.min(self.input.left()))
    }
}

/// A map's entries, block by block (keys are strings).
struct Entries<'p, 'i, 'de> {
    plan: &'p Plan,
    node: usize,
    input: &'i mut Input<'de>,
    left: usize,
    done: bool,
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_, 'de> {
    type Error = DirectError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> DeResult<Option<K::Value>> {
        if !advance(self.input, &mut self.left, &mut self.done, false)? {
            return Ok(None);
        }
        let key = self.input.str()?;
        seed.deserialize(de::value::BorrowedStrDeserializer::<DirectError>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> DeResult<V::Value> {
        seed.deserialize(De {
            plan: self.plan,
            node: self.node,
            input: self.input,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.input.left()))
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

impl Plan {
    /// Encodes `value` as a datum of this schema, straight to bytes.
    ///
    /// Record fields may arrive in any order (a Rust struct's order need not be the schema's):
    /// the ones that come early are buffered until their turn. What the direct encoder does not
    /// do (a field the value skips, whose schema default would have to be written; a union of
    /// several non-null types; newtype structs) is left to apache-avro's serializer
    /// ([`crate::codec::encode`]), so the bytes are always the reference path's.
    pub fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = Vec::with_capacity(self.size_hint.load(Relaxed).clamp(64, 1 << 16));
        self.encode_into(value, &mut out)?;
        self.size_hint.store(out.len(), Relaxed);
        Ok(out)
    }

    /// [`Plan::encode`], appending to `out`.
    pub fn encode_into<T: Serialize>(&self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let direct = value.serialize(Ser {
            plan: self,
            node: 0,
            out,
        });
        match direct {
            Err(e) if e.0.starts_with(UNSUPPORTED) => {
                out.truncate(start);
                out.extend_from_slice(&crate::codec::encode(&self.schema, value)?);
                Ok(())
            }
            other => other.map_err(|e| {
                ContractsError::Datum(format!(
                    "encoding {} with {}: {}",
                    std::any::type_name::<T>(),
                    self.name,
                    e.0
                ))
            }),
        }
    }
}

fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// A serializer writing a value of node `node`.
struct Ser<'p, 'o> {
    plan: &'p Plan,
    node: usize,
    out: &'o mut Vec<u8>,
}

impl<'p, 'o> Ser<'p, 'o> {
    fn node(&self) -> &'p Node {
        &self.plan.nodes[self.node]
    }

    fn mismatch(&self, what: &str) -> DirectError {
        DirectError(format!(
            "{what} where the schema has {}",
            self.node().describe()
        ))
    }

    /// For a plain value written where the schema has a nullable union: selects the non-null
    /// branch (writing its index) and returns the serializer for it.
    fn through_union(self) -> DeResult<Ser<'p, 'o>> {
        match self.node() {
            Node::Union { branches, only, .. } => match only {
                Some(i) => {
                    put_long(self.out, *i as i64);
                    Ok(Ser {
                        plan: self.plan,
                        node: branches[*i],
                        out: self.out,
                    })
                }
                None => Err(unsupported("a union of several non-null types")),
            },
            _ => Ok(self),
        }
    }

    fn long(self, n: i64, what: &str) -> DeResult<()> {
        let s = self.through_union()?;
        match s.node() {
            Node::Long => put_long(s.out, n),
            Node::Int => {
                if i32::try_from(n).is_err() {
                    return Err(DirectError(format!("{n} does not fit an int")));
                }
                put_long(s.out, n)
            }
            Node::Float => s.out.extend_from_slice(&(n as f32).to_le_bytes()),
            Node::Double => s.out.extend_from_slice(&(n as f64).to_le_bytes()),
            _ => return Err(s.mismatch(what)),
        }
        Ok(())
    }

    fn float(self, x: f64, what: &str) -> DeResult<()> {
        let s = self.through_union()?;
        match s.node() {
            Node::Float => s.out.extend_from_slice(&(x as f32).to_le_bytes()),
            Node::Double => s.out.extend_from_slice(&x.to_le_bytes()),
            _ => return Err(s.mismatch(what)),
        }
        Ok(())
    }

    fn symbol(self, name: &str) -> DeResult<()> {
        let s = self.through_union()?;
        match s.node() {
            Node::Enum(symbols) => match symbols.iter().position(|x| x == name) {
                Some(i) => put_long(s.out, i as i64),
                None => return Err(DirectError(format!("`{name}` is not a symbol of the enum"))),
            },
            Node::Str | Node::Uuid => put_bytes(s.out, name.as_bytes()),
            _ => return Err(s.mismatch("an enum variant")),
        }
        Ok(())
    }
}

impl Node {
    fn describe(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Boolean => "a boolean",
            Node::Int => "an int",
            Node::Long => "a long",
            Node::Float => "a float",
            Node::Double => "a double",
            Node::Bytes => "bytes",
            Node::Str => "a string",
            Node::Uuid => "a uuid string",
            Node::Fixed(_) => "a fixed",
            Node::Enum(_) => "an enum",
            Node::Array(_) => "an array",
            Node::Map(_) => "a map",
            Node::Union { .. } => "a union",
            Node::Record(_) => "a record",
            Node::Pending => "an incompletely compiled type",
        }
    }
}

impl ser::Error for DirectError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        DirectError(msg.to_string())
    }
}

impl<'p, 'o> ser::Serializer for Ser<'p, 'o> {
    type Ok = ();
    type Error = DirectError;
    type SerializeSeq = Block<'p, 'o>;
    type SerializeTuple = ser::Impossible<(), DirectError>;
    type SerializeTupleStruct = ser::Impossible<(), DirectError>;
    type SerializeTupleVariant = ser::Impossible<(), DirectError>;
    type SerializeMap = Block<'p, 'o>;
    type SerializeStruct = RecordWriter<'p, 'o>;
    type SerializeStructVariant = ser::Impossible<(), DirectError>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> DeResult<()> {
        let s = self.through_union()?;
        match s.node() {
            Node::Boolean => s.out.push(u8::from(v)),
            _ => return Err(s.mismatch("a boolean")),
        }
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> DeResult<()> {
        self.long(v.into(), "an integer")
    }
    fn serialize_i16(self, v: i16) -> DeResult<()> {
        self.long(v.into(), "an integer")
    }
    fn serialize_i32(self, v: i32) -> DeResult<()> {
        self.long(v.into(), "an integer")
    }
    fn serialize_i64(self, v: i64) -> DeResult<()> {
        self.long(v, "an integer")
    }
    fn serialize_u8(self, v: u8) -> DeResult<()> {
        self.long(v.into(), "an integer")
    }
    fn serialize_u16(self, v: u16) -> DeResult<()> {
        self.long(v.into(), "an integer")
    }
    fn serialize_u32(self, v: u32) -> DeResult<()> {
        self.long(v.into(), "an integer")
    }
    fn serialize_u64(self, v: u64) -> DeResult<()> {
        let n = i64::try_from(v).map_err(|_| DirectError(format!("{v} does not fit a long")))?;
        self.long(n, "an integer")
    }
    fn serialize_f32(self, v: f32) -> DeResult<()> {
        let s = self.through_union()?;
        match s.node() {
            Node::Float => s.out.extend_from_slice(&v.to_le_bytes()),
            Node::Double => s.out.extend_from_slice(&f64::from(v).to_le_bytes()),
            _ => return Err(s.mismatch("a float")),
        }
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> DeResult<()> {
        self.float(v, "a double")
    }
    fn serialize_char(self, v: char) -> DeResult<()> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> DeResult<()> {
        let s = self.through_union()?;
        match s.node() {
            // Not checked as a uuid: apache-avro's serializer does not check either.
            Node::Str | Node::Uuid => put_bytes(s.out, v.as_bytes()),
            Node::Enum(_) => return s.symbol(v),
            _ => return Err(s.mismatch("a string")),
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> DeResult<()> {
        let s = self.through_union()?;
        match s.node() {
            Node::Bytes => put_bytes(s.out, v),
            Node::Fixed(n) if *n == v.len() => s.out.extend_from_slice(v),
            Node::Fixed(n) => {
                return Err(DirectError(format!("{} bytes for a fixed of {n}", v.len())))
            }
            _ => return Err(s.mismatch("bytes")),
        }
        Ok(())
    }
    fn serialize_none(self) -> DeResult<()> {
        match self.node() {
            Node::Union { null: Some(i), .. } => put_long(self.out, *i as i64),
            Node::Null => {}
            _ => return Err(self.mismatch("None")),
        }
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> DeResult<()> {
        // A plain value written to a union selects the non-null branch itself.
        value.serialize(self)
    }
    fn serialize_unit(self) -> DeResult<()> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> DeResult<()> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> DeResult<()> {
        self.symbol(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> DeResult<()> {
        let _ = value;
        Err(unsupported("a newtype struct"))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> DeResult<()> {
        Err(unsupported(format!(
            "enum variant `{variant}` carrying data"
        )))
    }
    fn serialize_seq(self, len: Option<usize>) -> DeResult<Block<'p, 'o>> {
        let s = self.through_union()?;
        match s.node() {
            Node::Array(items) => Ok(Block::new(s.plan, *items, s.out, len)),
            _ => Err(s.mismatch("a sequence")),
        }
    }
    fn serialize_tuple(self, _len: usize) -> DeResult<Self::SerializeTuple> {
        Err(unsupported("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> DeResult<Self::SerializeTupleStruct> {
        Err(unsupported(format!("tuple struct {name}")))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> DeResult<Self::SerializeTupleVariant> {
        Err(unsupported(format!(
            "enum variant `{variant}` carrying data"
        )))
    }
    fn serialize_map(self, len: Option<usize>) -> DeResult<Block<'p, 'o>> {
        let s = self.through_union()?;
        match s.node() {
            Node::Map(values) => Ok(Block::new(s.plan, *values, s.out, len)),
            _ => Err(s.mismatch("a map")),
        }
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> DeResult<RecordWriter<'p, 'o>> {
        let s = self.through_union()?;
        match s.node() {
            Node::Record(fields) => Ok(RecordWriter {
                plan: s.plan,
                fields,
                next: 0,
                early: Vec::new(),
                out: s.out,
            }),
            _ => Err(s.mismatch(&format!("struct {name}"))),
        }
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> DeResult<Self::SerializeStructVariant> {
        Err(unsupported(format!(
            "enum variant `{variant}` carrying data"
        )))
    }
}

/// A record's fields, written in schema order.
struct RecordWriter<'p, 'o> {
    plan: &'p Plan,
    fields: &'p [(String, usize)],
    /// The next field to write.
    next: usize,
    /// Fields serialized before their turn: (position, bytes).
    early: Vec<(usize, Vec<u8>)>,
    out: &'o mut Vec<u8>,
}

impl RecordWriter<'_, '_> {
    /// Writes the buffered fields whose turn has come.
    fn catch_up(&mut self) {
        if self.early.is_empty() {
            return;
        }
        while let Some(at) = self.early.iter().position(|(i, _)| *i == self.next) {
            let (_, bytes) = self.early.swap_remove(at);
            self.out.extend_from_slice(&bytes);
            self.next += 1;
        }
    }
}

impl ser::SerializeStruct for RecordWriter<'_, '_> {
    type Ok = ();
    type Error = DirectError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> DeResult<()> {
        let wrap = |e: DirectError| match e.0.strip_prefix(UNSUPPORTED) {
            Some(what) => unsupported(format!("field {key}: {what}")),
            None => DirectError(format!("field {key}: {}", e.0)),
        };
        if let Some((name, node)) = self.fields.get(self.next) {
            if name == key {
                value
                    .serialize(Ser {
                        plan: self.plan,
                        node: *node,
                        out: self.out,
                    })
                    .map_err(wrap)?;
                self.next += 1;
                self.catch_up();
                return Ok(());
            }
        }
        match self.fields.iter().position(|(name, _)| name == key) {
            Some(i) if i > self.next && !self.early.iter().any(|(j, _)| *j == i) => {
                let mut buf = Vec::new();
                value
                    .serialize(Ser {
                        plan: self.plan,
                        node: self.fields[i].1,
                        out: &mut buf,
                    })
                    .map_err(wrap)?;
                self.early.push((i, buf));
                Ok(())
            }
            Some(_) => Err(DirectError(format!("field {key} written twice"))),
            None => Err(DirectError(format!("field {key} is not in the schema"))),
        }
    }

    fn skip_field(&mut self, key: &'static str) -> DeResult<()> {
        // Its schema default would have to be written.
        Err(unsupported(format!("skipped field {key}")))
    }

    fn end(self) -> DeResult<()> {
        match self.fields.get(self.next) {
            // A field the value did not write: its schema default would have to be.
            Some((name, _)) => Err(unsupported(format!("missing field {name}"))),
            None => Ok(()),
        }
    }
}

/// An array's items or a map's entries, written as one block (count first; the count is
/// patched in when the length was not known up front).
struct Block<'p, 'o> {
    plan: &'p Plan,
    node: usize,
    out: &'o mut Vec<u8>,
    /// Items written so far.
    count: usize,
    /// The count written up front (serde said the length).
    announced: Option<usize>,
    /// The items, when their count was not known up front (written at the end).
    buffer: Option<Vec<u8>>,
}

impl<'p, 'o> Block<'p, 'o> {
    fn new(plan: &'p Plan, node: usize, out: &'o mut Vec<u8>, len: Option<usize>) -> Self {
        let buffer = match len {
            Some(0) => None,
            Some(n) => {
                put_long(out, n as i64);
                None
            }
            None => Some(Vec::new()),
        };
        Block {
            plan,
            node,
            out,
            count: 0,
            announced: len,
            buffer,
        }
    }

    fn sink(&mut self) -> &mut Vec<u8> {
        match &mut self.buffer {
            Some(b) => b,
            None => self.out,
        }
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> DeResult<()> {
        let (plan, node) = (self.plan, self.node);
        value.serialize(Ser {
            plan,
            node,
            out: self.sink(),
        })
    }

    fn finish(self) -> DeResult<()> {
        if let Some(n) = self.announced.filter(|n| *n != self.count) {
            return Err(DirectError(format!(
                "{n} items announced, {} written",
                self.count
            )));
        }
        if let Some(buf) = self.buffer {
            if self.count > 0 {
                put_long(self.out, self.count as i64);
                self.out.extend_from_slice(&buf);
            }
        }
        self.out.push(0);
        Ok(())
    }
}

impl ser::SerializeSeq for Block<'_, '_> {
    type Ok = ();
    type Error = DirectError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> DeResult<()> {
        self.count += 1;
        self.item(value)
    }

    fn end(self) -> DeResult<()> {
        self.finish()
    }
}

impl ser::SerializeMap for Block<'_, '_> {
    type Ok = ();
    type Error = DirectError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> DeResult<()> {
        self.count += 1;
        let (plan, node) = (self.plan, self.plan.key);
        key.serialize(Ser {
            plan,
            node,
            out: self.sink(),
        })
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> DeResult<()> {
        self.item(value)
    }

    fn end(self) -> DeResult<()> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::repo_avro_dir;
    use crate::{codec, Catalog};
    // Every contract's example decodes to itself by this path too: `registry::round_trip`.

    /// A uuid written by another producer in another spelling reads as apache-avro reads it
    /// (lowercase, hyphenated); one that is no uuid is an error, as it is there.
    #[test]
    fn uuids_read_in_their_canonical_form() {
        let catalog = Catalog::load(repo_avro_dir()).unwrap();
        let schema = catalog.self_contained("b2b.order.OrderPlaced").unwrap();
        let plan = Plan::new(&schema).unwrap();
        type Placed = crate::Event<crate::b2b::order::OrderPlaced>;
        let mut event = crate::registry::example_event::<crate::b2b::order::OrderPlaced>();
        event.metadata.event_id = "550E8400-E29B-41D4-A716-446655440000".into();
        let bytes = codec::encode(&schema, &event).unwrap();
        let direct: Placed = plan.decode(&bytes).unwrap();
        let reference: Placed = codec::decode_resolved(&schema, None, &bytes).unwrap();
        assert_eq!(direct, reference);
        assert_eq!(
            direct.metadata.event_id,
            "550e8400-e29b-41d4-a716-446655440000"
        );
        event.metadata.event_id = "not-a-uuid".into();
        let bytes = codec::encode(&schema, &event).unwrap();
        let err = plan.decode::<Placed>(&bytes).unwrap_err().to_string();
        assert!(err.contains("`not-a-uuid` is not a uuid"), "{err}");
        assert!(codec::decode_resolved::<Placed>(&schema, None, &bytes).is_err());
    }

    /// Maps (string keys) and arrays write what apache-avro writes and read back.
    #[test]
    fn maps_and_arrays_match_apache_avro() {
        use std::collections::BTreeMap;
        let schema = Schema::parse_str(
            r#"{"type": "map", "values": {"type": "array", "items": ["null", "long"]}}"#,
        )
        .unwrap();
        let plan = Plan::new(&schema).unwrap();
        let value: BTreeMap<String, Vec<Option<i64>>> = [
            ("a".to_string(), vec![Some(1), None, Some(-70_000)]),
            ("b".to_string(), vec![]),
        ]
        .into();
        let bytes = plan.encode(&value).unwrap();
        assert_eq!(bytes, codec::encode(&schema, &value).unwrap());
        let back: BTreeMap<String, Vec<Option<i64>>> = plan.decode(&bytes).unwrap();
        assert_eq!(back, value);
        let reference: BTreeMap<String, Vec<Option<i64>>> =
            codec::decode_resolved(&schema, None, &bytes).unwrap();
        assert_eq!(back, reference);
    }

    /// An array count larger than the bytes left is an error before any item is read.
    #[test]
    fn a_corrupt_block_count_is_an_error() {
        let schema = Schema::parse_str(r#"{"type": "array", "items": "long"}"#).unwrap();
        let plan = Plan::new(&schema).unwrap();
        let mut bytes = Vec::new();
        put_long(&mut bytes, i64::MAX);
        put_long(&mut bytes, 1);
        let err = plan.decode::<Vec<i64>>(&bytes).unwrap_err().to_string();
        assert!(err.contains("items with 1 bytes left"), "{err}");
        let nulls = Schema::parse_str(r#"{"type": "array", "items": "null"}"#).unwrap();
        let plan = Plan::new(&nulls).unwrap();
        let mut bytes = Vec::new();
        put_long(&mut bytes, 1 << 40);
        let err = plan.decode::<Vec<()>>(&bytes).unwrap_err().to_string();
        assert!(err.contains("items with 0 bytes left"), "{err}");
        let mut three = Vec::new();
        put_long(&mut three, 3);
        three.push(0);
        assert_eq!(plan.decode::<Vec<()>>(&three).unwrap(), vec![(), (), ()]);
    }

    /// What the direct encoder leaves alone (a skipped field, whose default the schema gives)
    /// comes out as apache-avro writes it.
    #[test]
    fn a_skipped_field_is_written_by_apache_avro() {
        #[derive(serde::Serialize)]
        struct Sparse {
            a: i64,
            #[serde(skip_serializing_if = "Option::is_none")]
            b: Option<String>,
        }
        let schema = Schema::parse_str(
            r#"{"type": "record", "name": "Sparse", "fields": [
                {"name": "a", "type": "long"},
                {"name": "b", "type": ["null", "string"], "default": null}]}"#,
        )
        .unwrap();
        let plan = Plan::new(&schema).unwrap();
        for value in [
            Sparse { a: -3, b: None },
            Sparse {
                a: i64::MIN,
                b: Some("x".into()),
            },
        ] {
            assert_eq!(
                plan.encode(&value).unwrap(),
                codec::encode(&schema, &value).unwrap()
            );
        }
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        let catalog = Catalog::load(repo_avro_dir()).unwrap();
        let schema = catalog.self_contained("b2b.order.OrderPlaced").unwrap();
        let event = crate::registry::example_event::<crate::b2b::order::OrderPlaced>();
        let bytes = codec::encode(&schema, &event).unwrap();
        let plan = Plan::new(&schema).unwrap();
        let back: crate::Event<crate::b2b::order::OrderPlaced> = plan.decode(&bytes).unwrap();
        assert_eq!(back, event);
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            let err = plan
                .decode::<crate::Event<crate::b2b::order::OrderPlaced>>(&bytes[..cut])
                .unwrap_err()
                .to_string();
            assert!(err.contains("b2b.order.OrderPlaced"), "{err}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let err = plan
            .decode::<crate::Event<crate::b2b::order::OrderPlaced>>(&longer)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 bytes left"), "{err}");
    }
}
