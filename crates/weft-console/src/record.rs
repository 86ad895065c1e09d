//! One Kafka record as the console shows it: coordinates, key, headers and the value decoded to
//! JSON — or, when the value cannot be decoded, its bytes as base64 and hex with a note saying why.

use std::collections::BTreeMap;

use base64::Engine;
use rdkafka::message::{Headers, Message};
use serde::Serialize;
use serde_json::Value as Json;

use crate::registry::Registry;

/// A record, ready to print as text or JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// RFC 3339 time of the record's Kafka timestamp, when it has one.
    pub timestamp: Option<String>,
    /// The Kafka timestamp in epoch milliseconds.
    pub timestamp_ms: Option<i64>,
    /// The key as UTF-8 text (base64 when it is not UTF-8, with a note).
    pub key: Option<String>,
    /// Headers as UTF-8 text (lossy).
    pub headers: BTreeMap<String, String>,
    /// The registry schema id of the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<u32>,
    /// The decoded value (`null` for a tombstone or an undecodable value).
    pub value: Option<Json>,
    /// The raw value when it could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<Raw>,
    /// Why the value is shown raw, or what is odd about the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The raw value bytes, kept for replay (not printed).
    #[serde(skip)]
    pub bytes: Option<Vec<u8>>,
    /// The raw key bytes, kept for replay (not printed).
    #[serde(skip)]
    pub key_bytes: Option<Vec<u8>>,
    /// Headers in order with raw bytes, kept for replay (not printed).
    #[serde(skip)]
    pub raw_headers: Vec<(String, Vec<u8>)>,
}

/// Bytes that could not be decoded.
#[derive(Debug, Clone, Serialize)]
pub struct Raw {
    pub base64: String,
    pub hex: String,
}

/// Lower-case hex, two digits per byte.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

impl Raw {
    fn of(bytes: &[u8]) -> Self {
        Raw {
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            hex: hex(bytes),
        }
    }
}

impl Shown {
    /// Reads a message and decodes its value through `registry` (never fails: undecodable
    /// values come back raw with a note). Without a registry values stay raw, unannotated.
    pub async fn of<M: Message>(m: &M, registry: Option<&Registry>) -> Self {
        let ts = m.timestamp().to_millis();
        let mut note = None;
        let key = m.key().map(|k| match std::str::from_utf8(k) {
            Ok(s) => s.to_string(),
            Err(_) => {
                note = Some("the key is not UTF-8; shown as base64".to_string());
                base64::engine::general_purpose::STANDARD.encode(k)
            }
        });
        let raw_headers: Vec<(String, Vec<u8>)> = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        let headers = raw_headers
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        let (schema_id, value, raw) = match (m.payload(), registry) {
            (None, _) => (None, None, None),
            (Some(bytes), None) => (None, None, Some(Raw::of(bytes))),
            (Some(bytes), Some(registry)) => match registry.decode(bytes).await {
                Ok((id, json)) => (Some(id), Some(json), None),
                Err(why) => {
                    let text = match std::str::from_utf8(bytes) {
                        Ok(s) if serde_json::from_str::<Json>(s).is_ok() => {
                            Some(serde_json::from_str::<Json>(s).unwrap_or_default())
                        }
                        _ => None,
                    };
                    note = Some(match &text {
                        Some(_) => format!("not Avro ({why}); the value is JSON text"),
                        None => format!("not decoded ({why}); shown as base64 and hex"),
                    });
                    (None, text, Some(Raw::of(bytes)))
                }
            },
        };
        Shown {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp: ts.and_then(|ms| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            }),
            timestamp_ms: ts,
            key,
            headers,
            schema_id,
            value,
            raw,
            note,
            bytes: m.payload().map(<[u8]>::to_vec),
            key_bytes: m.key().map(<[u8]>::to_vec),
            raw_headers,
        }
    }

    /// A header's text value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A field of the decoded value by dotted path (`metadata.correlation_id`,
    /// `payload.lines.0.sku`).
    pub fn field(&self, path: &str) -> Option<&Json> {
        let mut at = self.value.as_ref()?;
        for part in path.split('.') {
            at = match at {
                Json::Object(o) => o.get(part)?,
                Json::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(at)
    }

    /// A field as text: strings unquoted, everything else as JSON.
    pub fn field_text(&self, path: &str) -> Option<String> {
        self.field(path).and_then(|v| match v {
            Json::String(s) => Some(s.clone()),
            Json::Null => None,
            other => Some(other.to_string()),
        })
    }

    /// The event id: the `weft-event-id` header, else the decoded `metadata.event_id`.
    pub fn event_id(&self) -> Option<String> {
        self.header(weft_core::headers::EVENT_ID)
            .map(str::to_string)
            .or_else(|| self.field_text("metadata.event_id"))
    }

    /// The event type: the `weft-event-type` header, else the decoded `metadata.event_type`.
    pub fn event_type(&self) -> Option<String> {
        self.header(weft_core::headers::EVENT_TYPE)
            .map(str::to_string)
            .or_else(|| self.field_text("metadata.event_type"))
    }

    /// The record as multi-line text for people; `colour` adds ANSI colours.
    pub fn to_text(&self, colour: bool) -> String {
        let (dim, bold, yellow, reset) = if colour {
            ("\x1b[2m", "\x1b[1m", "\x1b[33m", "\x1b[0m")
        } else {
            ("", "", "", "")
        };
        let mut out = format!(
            "{bold}{}{reset} {dim}partition{reset} {} {dim}offset{reset} {} {dim}at{reset} {}\n",
            self.topic,
            self.partition,
            self.offset,
            self.timestamp.as_deref().unwrap_or("-"),
        );
        out.push_str(&format!(
            "{dim}key:{reset} {}\n",
            self.key.as_deref().unwrap_or("(null)")
        ));
        for (k, v) in &self.headers {
            out.push_str(&format!("{dim}header{reset} {k}: {v}\n"));
        }
        if let Some(n) = &self.note {
            out.push_str(&format!("{yellow}note:{reset} {n}\n"));
        }
        if let Some(raw) = &self.raw {
            if self.value.is_none() {
                out.push_str(&format!("base64: {}\nhex: {}\n", raw.base64, raw.hex));
            }
        }
        match &self.value {
            Some(v) => out.push_str(&serde_json::to_string_pretty(v).unwrap_or_default()),
            None if self.raw.is_none() => out.push_str("(null value)"),
            None => {}
        }
        out.push('\n');
        out
    }
}

/// Which records to keep; every set filter must match.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// The key, exactly.
    pub key: Option<String>,
    /// The event type (header or `metadata.event_type`).
    pub event_type: Option<String>,
    /// `metadata.correlation_id`.
    pub correlation_id: Option<String>,
    /// `metadata.tenant_id`.
    pub tenant_id: Option<String>,
    /// Field path = value pairs on the decoded value.
    pub fields: Vec<(String, String)>,
}

impl Filters {
    /// Parses a `field.path=value` filter.
    pub fn parse_where(text: &str) -> crate::Result<(String, String)> {
        match text.split_once('=') {
            Some((p, v)) if !p.trim().is_empty() => Ok((p.trim().to_string(), v.to_string())),
            _ => Err(crate::ConsoleError::Input(format!(
                "--where `{text}` is not of the form field.path=value"
            ))),
        }
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.key.is_none()
            && self.event_type.is_none()
            && self.correlation_id.is_none()
            && self.tenant_id.is_none()
            && self.fields.is_empty()
    }

    /// True when `r` passes every filter.
    pub fn matches(&self, r: &Shown) -> bool {
        if let Some(k) = &self.key {
            if r.key.as_deref() != Some(k.as_str()) {
                return false;
            }
        }
        if let Some(t) = &self.event_type {
            if r.event_type().as_deref() != Some(t.as_str()) {
                return false;
            }
        }
        if let Some(c) = &self.correlation_id {
            if r.field_text("metadata.correlation_id").as_deref() != Some(c.as_str()) {
                return false;
            }
        }
        if let Some(t) = &self.tenant_id {
            if r.field_text("metadata.tenant_id").as_deref() != Some(t.as_str()) {
                return false;
            }
        }
        self.fields
            .iter()
            .all(|(p, v)| r.field_text(p).as_deref() == Some(v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(super::hex(&[]), "");
    }
}
