//! Avro values to and from the JSON people read and type, walking the schema.
//!
//! The JSON form is the plain one, not Avro's JSON encoding: a union value is written as its
//! branch's value (`"tenant_id": "t-1"`, not `{"string": "t-1"}`), `decimal` as a string with its
//! scale (`"12.5000"`), timestamps as RFC 3339 strings, `uuid` as a string, `bytes`/`fixed` as
//! base64. [`from_json`] accepts the same form (and numbers for timestamps and decimals) and, when
//! a value does not fit, names the exact field path with what was expected and what was found:
//! `payload.total_amount: expected decimal(18,4) bytes, got string "abc"`.

use std::collections::HashMap;

use apache_avro::schema::{InnerDecimalSchema, Schema, UuidSchema};
use apache_avro::types::Value;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value as Json};

/// Named types (records, enums, fixed) of a schema by full name, to resolve `Ref`s.
pub struct Names<'a>(HashMap<String, &'a Schema>);

impl<'a> Names<'a> {
    /// Collects every named type defined inside `schema`.
    pub fn of(schema: &'a Schema) -> Self {
        let mut names = Names(HashMap::new());
        names.collect(schema);
        names
    }

    fn collect(&mut self, s: &'a Schema) {
        match s {
            Schema::Record(r) => {
                self.0.insert(r.name.fullname(None), s);
                for f in &r.fields {
                    self.collect(&f.schema);
                }
            }
            Schema::Enum(e) => {
                self.0.insert(e.name.fullname(None), s);
            }
            Schema::Fixed(f) => {
                self.0.insert(f.name.fullname(None), s);
            }
            Schema::Array(a) => self.collect(&a.items),
            Schema::Map(m) => self.collect(&m.types),
            Schema::Union(u) => u.variants().iter().for_each(|v| self.collect(v)),
            _ => {}
        }
    }

    fn resolve(&self, s: &'a Schema) -> &'a Schema {
        match s {
            Schema::Ref { name } => self.0.get(&name.fullname(None)).copied().unwrap_or(s),
            other => other,
        }
    }
}

/// Renders a decoded Avro value as plain JSON, guided by its writer schema.
pub fn to_json(value: &Value, schema: &Schema) -> Json {
    let names = Names::of(schema);
    render(value, schema, &names)
}

fn b64(bytes: &[u8]) -> Json {
    Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn time_json(t: Option<DateTime<Utc>>, raw: i64) -> Json {
    match t {
        Some(t) => Json::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        None => json!(raw),
    }
}

fn render(value: &Value, schema: &Schema, names: &Names<'_>) -> Json {
    let schema = names.resolve(schema);
    match (value, schema) {
        (Value::Union(i, v), Schema::Union(u)) => match u.variants().get(*i as usize) {
            Some(branch) => render(v, branch, names),
            None => render_plain(v),
        },
        (Value::Union(_, v), s) => render(v, s, names),
        (Value::Record(fields), Schema::Record(r)) => {
            let mut out = Map::new();
            for (name, v) in fields {
                let fs = r
                    .lookup
                    .get(name)
                    .and_then(|i| r.fields.get(*i))
                    .map(|f| &f.schema);
                out.insert(
                    name.clone(),
                    match fs {
                        Some(fs) => render(v, fs, names),
                        None => render_plain(v),
                    },
                );
            }
            Json::Object(out)
        }
        (Value::Array(items), Schema::Array(a)) => {
            Json::Array(items.iter().map(|v| render(v, &a.items, names)).collect())
        }
        (Value::Map(m), Schema::Map(ms)) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), render(&m[k], &ms.types, names)))
                    .collect(),
            )
        }
        (Value::Decimal(d), Schema::Decimal(ds)) => decimal_json(d, ds.scale),
        (Value::Bytes(b), Schema::Decimal(ds)) => {
            decimal_json(&apache_avro::Decimal::from(b.clone()), ds.scale)
        }
        _ => render_plain(value),
    }
}

fn decimal_json(d: &apache_avro::Decimal, scale: usize) -> Json {
    let bytes: Vec<u8> = match Vec::<u8>::try_from(d) {
        Ok(b) => b,
        Err(_) => return Json::String("<decimal>".into()),
    };
    match unscaled(&bytes) {
        Some(units) => Json::String(format_scaled(units, scale)),
        None => b64(&bytes),
    }
}

/// Big-endian two's complement bytes (up to 16) as an i128.
fn unscaled(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() {
        return Some(0);
    }
    if bytes.len() > 16 {
        return None;
    }
    let neg = bytes[0] & 0x80 != 0;
    let mut buf = [if neg { 0xff } else { 0 }; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

fn format_scaled(units: i128, scale: usize) -> String {
    let neg = units < 0;
    let digits = units.unsigned_abs().to_string();
    let body = if scale == 0 {
        digits
    } else if digits.len() > scale {
        let (a, b) = digits.split_at(digits.len() - scale);
        format!("{a}.{b}")
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

fn render_plain(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Long(l) => json!(l),
        Value::Float(f) => json!(f),
        Value::Double(d) => json!(d),
        Value::Bytes(b) | Value::Fixed(_, b) => b64(b),
        Value::String(s) => json!(s),
        Value::Enum(_, s) => json!(s),
        Value::Union(_, v) => render_plain(v),
        Value::Array(a) => Json::Array(a.iter().map(render_plain).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), render_plain(v)))
                .collect(),
        ),
        Value::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), render_plain(v)))
                .collect(),
        ),
        Value::Date(d) => {
            let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|e| e.checked_add_signed(chrono::Duration::days(i64::from(*d))));
            match day {
                Some(day) => json!(day.to_string()),
                None => json!(d),
            }
        }
        Value::Decimal(d) => decimal_json(d, 0),
        Value::BigDecimal(b) => json!(b.to_string()),
        Value::TimeMillis(t) => json!(t),
        Value::TimeMicros(t) => json!(t),
        Value::TimestampMillis(t) | Value::LocalTimestampMillis(t) => {
            time_json(Utc.timestamp_millis_opt(*t).single(), *t)
        }
        Value::TimestampMicros(t) | Value::LocalTimestampMicros(t) => {
            time_json(Some(DateTime::from_timestamp_micros(*t)).flatten(), *t)
        }
        Value::TimestampNanos(t) | Value::LocalTimestampNanos(t) => {
            time_json(Some(DateTime::from_timestamp_nanos(*t)), *t)
        }
        Value::Duration(d) => json!(format!("{d:?}")),
        Value::Uuid(u) => json!(u.to_string()),
    }
}

/// A value that does not fit the schema: the dotted path of the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `payload.lines[2].quantity`; empty for the top level.
    pub path: String,
    /// `expected decimal(18,4) bytes, got string "abc"`.
    pub problem: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

/// Describes a JSON value for error messages: `string "abc"`, `number 3`, `null`.
fn describe(j: &Json) -> String {
    let mut text = j.to_string();
    if text.len() > 60 {
        text.truncate(57);
        text.push_str("...");
    }
    match j {
        Json::Null => "null".into(),
        Json::Bool(_) => format!("boolean {text}"),
        Json::Number(_) => format!("number {text}"),
        Json::String(_) => format!("string {text}"),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// Short human name of a schema for error messages.
pub fn schema_name(s: &Schema) -> String {
    match s {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes".into(),
        Schema::String => "string".into(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(u) => u
            .variants()
            .iter()
            .map(schema_name)
            .collect::<Vec<_>>()
            .join(" | "),
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Enum(e) => format!("enum {}", e.name.fullname(None)),
        Schema::Fixed(f) => format!("fixed({})", f.size),
        Schema::Decimal(d) => format!(
            "decimal({},{}) {}",
            d.precision,
            d.scale,
            match d.inner {
                InnerDecimalSchema::Bytes => "bytes",
                InnerDecimalSchema::Fixed(_) => "fixed",
            }
        ),
        Schema::BigDecimal => "big-decimal".into(),
        Schema::Uuid(_) => "uuid".into(),
        Schema::Date => "date".into(),
        Schema::TimeMillis | Schema::TimeMicros => "time".into(),
        Schema::TimestampMillis | Schema::LocalTimestampMillis => "timestamp-millis".into(),
        Schema::TimestampMicros | Schema::LocalTimestampMicros => "timestamp-micros".into(),
        Schema::TimestampNanos | Schema::LocalTimestampNanos => "timestamp-nanos".into(),
        Schema::Duration(_) => "duration".into(),
        Schema::Ref { name } => name.fullname(None),
    }
}

/// Converts plain JSON into an Avro value of `schema`, or names the first field that does not fit.
pub fn from_json(j: &Json, schema: &Schema) -> Result<Value, Mismatch> {
    let names = Names::of(schema);
    convert(j, schema, &names, "")
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn convert(j: &Json, schema: &Schema, names: &Names<'_>, path: &str) -> Result<Value, Mismatch> {
    let schema = names.resolve(schema);
    let bad = |extra: &str| Mismatch {
        path: path.to_string(),
        problem: format!(
            "expected {}, got {}{extra}",
            schema_name(schema),
            describe(j)
        ),
    };
    Ok(match (schema, j) {
        (Schema::Null, Json::Null) => Value::Null,
        (Schema::Boolean, Json::Bool(b)) => Value::Boolean(*b),
        (Schema::Int, Json::Number(n)) => Value::Int(
            n.as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| bad(" (out of int range or not whole)"))?,
        ),
        (Schema::Long, Json::Number(n)) => {
            Value::Long(n.as_i64().ok_or_else(|| bad(" (not a whole number)"))?)
        }
        (Schema::Float, Json::Number(n)) => Value::Float(n.as_f64().unwrap_or_default() as f32),
        (Schema::Double, Json::Number(n)) => Value::Double(n.as_f64().unwrap_or_default()),
        (Schema::String, Json::String(s)) => Value::String(s.clone()),
        (Schema::Bytes, Json::String(s)) => Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| bad(" (not base64)"))?,
        ),
        (Schema::Fixed(f), Json::String(s)) => {
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| bad(" (not base64)"))?;
            if b.len() != f.size {
                return Err(bad(&format!(" ({} bytes)", b.len())));
            }
            Value::Fixed(f.size, b)
        }
        (Schema::Uuid(UuidSchema::String), Json::String(s)) => {
            Value::Uuid(uuid::Uuid::parse_str(s).map_err(|_| bad(" (not a UUID)"))?)
        }
        (Schema::Uuid(_), Json::String(s)) => {
            Value::Uuid(uuid::Uuid::parse_str(s).map_err(|_| bad(" (not a UUID)"))?)
        }
        (Schema::Enum(e), Json::String(s)) => match e.symbols.iter().position(|x| x == s) {
            Some(i) => Value::Enum(i as u32, s.clone()),
            None => return Err(bad(&format!(" (symbols: {})", e.symbols.join(", ")))),
        },
        (Schema::Decimal(d), Json::String(_) | Json::Number(_)) => {
            let text = match j {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            let units = parse_scaled(&text, d.scale).ok_or_else(|| bad(""))?;
            let digits = units.unsigned_abs().to_string().len();
            if digits > d.precision {
                return Err(bad(&format!(" (more than {} digits)", d.precision)));
            }
            let bytes = minimal_be(units);
            match &d.inner {
                InnerDecimalSchema::Bytes => Value::Decimal(apache_avro::Decimal::from(bytes)),
                InnerDecimalSchema::Fixed(f) => {
                    let mut buf = vec![if units < 0 { 0xff } else { 0 }; f.size];
                    if bytes.len() > f.size {
                        return Err(bad(" (too large for the fixed size)"));
                    }
                    let start = f.size - bytes.len();
                    buf[start..].copy_from_slice(&bytes);
                    Value::Decimal(apache_avro::Decimal::from(buf))
                }
            }
        }
        (Schema::TimestampMillis, _) => Value::TimestampMillis(
            time_of(j, |t| t.timestamp_millis()).ok_or_else(|| bad(" (RFC 3339 or epoch ms)"))?,
        ),
        (Schema::TimestampMicros, _) => Value::TimestampMicros(
            time_of(j, |t| t.timestamp_micros()).ok_or_else(|| bad(" (RFC 3339 or epoch µs)"))?,
        ),
        (Schema::LocalTimestampMillis, _) => Value::LocalTimestampMillis(
            time_of(j, |t| t.timestamp_millis()).ok_or_else(|| bad(" (RFC 3339 or epoch ms)"))?,
        ),
        (Schema::LocalTimestampMicros, _) => Value::LocalTimestampMicros(
            time_of(j, |t| t.timestamp_micros()).ok_or_else(|| bad(" (RFC 3339 or epoch µs)"))?,
        ),
        (Schema::Date, Json::String(s)) => {
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| bad(" (YYYY-MM-DD)"))?;
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            Value::Date((d - epoch).num_days() as i32)
        }
        (Schema::Date, Json::Number(n)) => Value::Date(
            n.as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| bad(""))?,
        ),
        (Schema::Array(a), Json::Array(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| convert(v, &a.items, names, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Map(m), Json::Object(o)) => Value::Map(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), convert(v, &m.types, names, &join(path, k))?)))
                .collect::<Result<_, Mismatch>>()?,
        ),
        (Schema::Record(r), Json::Object(o)) => {
            if let Some(unknown) = o.keys().find(|k| !r.lookup.contains_key(*k)) {
                return Err(Mismatch {
                    path: join(path, unknown),
                    problem: format!("no such field in record {}", r.name.fullname(None)),
                });
            }
            let mut fields = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let fpath = join(path, &f.name);
                let v = match o.get(&f.name) {
                    Some(v) => convert(v, &f.schema, names, &fpath)?,
                    None => match &f.default {
                        Some(d) => convert(d, &f.schema, names, &fpath)?,
                        None => {
                            return Err(Mismatch {
                                path: fpath,
                                problem: format!(
                                    "missing (expected {}, the field has no default)",
                                    schema_name(names.resolve(&f.schema))
                                ),
                            })
                        }
                    },
                };
                fields.push((f.name.clone(), v));
            }
            Value::Record(fields)
        }
        (Schema::Union(u), _) => {
            // Null first, then the first branch that takes the value; the error names the
            // branch closest to the value (the last non-null one that failed).
            let mut last = None;
            for (i, branch) in u.variants().iter().enumerate() {
                let branch_resolved = names.resolve(branch);
                if matches!(branch_resolved, Schema::Null) != j.is_null() {
                    continue;
                }
                match convert(j, branch, names, path) {
                    Ok(v) => return Ok(Value::Union(i as u32, Box::new(v))),
                    Err(e) => last = Some(e),
                }
            }
            return Err(last.unwrap_or_else(|| bad("")));
        }
        _ => return Err(bad("")),
    })
}

fn time_of(j: &Json, f: impl Fn(DateTime<Utc>) -> i64) -> Option<i64> {
    match j {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| f(t.with_timezone(&Utc))),
        _ => None,
    }
}

/// `"12.5"` at scale 4 → 125000; `None` when not a plain decimal or when it has more fraction
/// digits than the scale.
fn parse_scaled(text: &str, scale: usize) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.len() > scale {
        return None;
    }
    let digits = format!("{int}{frac}{}", "0".repeat(scale - frac.len()));
    let v: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Minimal big-endian two's complement bytes of `v`.
fn minimal_be(v: i128) -> Vec<u8> {
    let all = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (all[start], all[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    all[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::parse_str(
            r#"{"type":"record","name":"V","namespace":"t","fields":[
              {"name":"metadata","type":{"type":"record","name":"M","fields":[
                 {"name":"event_id","type":{"type":"string","logicalType":"uuid"}},
                 {"name":"tenant_id","type":["null","string"],"default":null},
                 {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}},
              {"name":"payload","type":{"type":"record","name":"P","fields":[
                 {"name":"total_amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}},
                 {"name":"status","type":{"type":"enum","name":"S","symbols":["open","closed"]}},
                 {"name":"lines","type":{"type":"array","items":{"type":"record","name":"L","fields":[{"name":"qty","type":"int"}]}}},
                 {"name":"again","type":["null","M"],"default":null}]}}]}"#,
        )
        .unwrap()
    }

    fn good() -> Json {
        json!({"metadata": {"event_id": "6f1c2d3e-0000-4000-8000-000000000001", "tenant_id": "t-1", "at": "2026-11-22T10:00:00Z"},
               "payload": {"total_amount": "-12.5", "status": "open", "lines": [{"qty": 2}], "again": null}})
    }

    #[test]
    #[allow(deprecated)] // the one-shot datum helpers are fine in a test
    fn json_round_trips_through_avro() {
        let s = schema();
        let v = from_json(&good(), &s).unwrap();
        let bytes = apache_avro::to_avro_datum(&s, v).unwrap();
        let back = apache_avro::from_avro_datum(&s, &mut &bytes[..], None).unwrap();
        let j = to_json(&back, &s);
        assert_eq!(j["payload"]["total_amount"], "-12.5000");
        assert_eq!(j["metadata"]["tenant_id"], "t-1");
        assert_eq!(j["metadata"]["at"], "2026-11-22T10:00:00Z");
        assert_eq!(j["payload"]["lines"][0]["qty"], 2);
        assert_eq!(j["payload"]["again"], Json::Null);
    }

    #[test]
    fn mismatches_name_the_field() {
        let s = schema();
        let mut j = good();
        j["payload"]["total_amount"] = json!("abc");
        assert_eq!(
            from_json(&j, &s).unwrap_err().to_string(),
            r#"payload.total_amount: expected decimal(18,4) bytes, got string "abc""#
        );
        let mut j = good();
        j["payload"]["lines"][0]["qty"] = json!("2");
        assert_eq!(
            from_json(&j, &s).unwrap_err().to_string(),
            r#"payload.lines[0].qty: expected int, got string "2""#
        );
        let mut j = good();
        j["payload"]["status"] = json!("gone");
        assert!(from_json(&j, &s)
            .unwrap_err()
            .to_string()
            .starts_with("payload.status: expected enum t.S"));
        let mut j = good();
        j["payload"]["nope"] = json!(1);
        assert_eq!(
            from_json(&j, &s).unwrap_err().path,
            "payload.nope".to_string()
        );
        let mut j = good();
        j["payload"].as_object_mut().unwrap().remove("status");
        assert!(from_json(&j, &s)
            .unwrap_err()
            .to_string()
            .starts_with("payload.status: missing"));
        let mut j = good();
        j["payload"]["total_amount"] = json!("1.23456");
        assert!(
            from_json(&j, &s).is_err(),
            "five fraction digits at scale 4"
        );
    }

    #[test]
    fn decimal_bytes_are_minimal_twos_complement() {
        assert_eq!(minimal_be(0), vec![0]);
        assert_eq!(minimal_be(127), vec![0x7f]);
        assert_eq!(minimal_be(128), vec![0, 0x80]);
        assert_eq!(minimal_be(-1), vec![0xff]);
        assert_eq!(minimal_be(-129), vec![0xff, 0x7f]);
        assert_eq!(unscaled(&minimal_be(-125000)), Some(-125000));
        assert_eq!(format_scaled(5, 4), "0.0005");
        assert_eq!(parse_scaled(".5", 4), Some(5000));
    }
}
