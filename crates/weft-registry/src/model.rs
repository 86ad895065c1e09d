//! The registry's state and the records that change it.
//!
//! All state is the fold of a sequence of [`Record`]s (the content of the `_schemas` topic in
//! Kafka mode): a record is a key (what it is about) and a value (`None` is a tombstone). Applying
//! is deterministic, so every instance that reads the same records holds the same state.
//!
//! Conflicts between instances are settled at apply time, first record wins: a schema record is
//! refused when its id already names a different schema, or when its (subject, version) already
//! holds a different id. [`Registry::apply`] reports whether a record was taken.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// What a record is about; also its Kafka key (compaction keeps the last value per key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "UPPERCASE")]
pub enum Key {
    /// One version of a subject.
    Schema { subject: String, version: u32 },
    /// The compatibility level, global when `subject` is `None`.
    Config { subject: Option<String> },
    /// The mode, global when `subject` is `None`.
    Mode { subject: Option<String> },
}

/// The value of a [`Key::Schema`] record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
    /// Permanently deleted: the version is gone, the schema stays known under its id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purged: bool,
}

/// A value; which variant goes with which key is fixed by the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Schema(SchemaValue),
    Config(String),
    Mode(String),
}

/// One change of state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Key,
    /// `None`: a tombstone (delete).
    pub value: Option<Value>,
}

/// A record that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("undecodable registry record: {0}")]
pub struct DecodeError(pub String);

impl Record {
    /// Key and value bytes (JSON), as written to Kafka.
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let key = serde_json::to_vec(&self.key).expect("keys serialise");
        let value = self.value.as_ref().map(|v| {
            match v {
                Value::Schema(s) => serde_json::to_vec(s),
                Value::Config(l) => {
                    serde_json::to_vec(&serde_json::json!({"compatibilityLevel": l}))
                }
                Value::Mode(m) => serde_json::to_vec(&serde_json::json!({"mode": m})),
            }
            .expect("values serialise")
        });
        (key, value)
    }

    /// The inverse of [`Record::encode`].
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, DecodeError> {
        let key: Key = serde_json::from_slice(key).map_err(|e| DecodeError(format!("key: {e}")))?;
        let value = match value {
            None => None,
            Some(bytes) => {
                let err = |e: serde_json::Error| DecodeError(format!("value: {e}"));
                Some(match &key {
                    Key::Schema { .. } => {
                        Value::Schema(serde_json::from_slice(bytes).map_err(err)?)
                    }
                    Key::Config { .. } => {
                        #[derive(Deserialize)]
                        struct C {
                            #[serde(rename = "compatibilityLevel")]
                            level: String,
                        }
                        Value::Config(serde_json::from_slice::<C>(bytes).map_err(err)?.level)
                    }
                    Key::Mode { .. } => {
                        #[derive(Deserialize)]
                        struct M {
                            mode: String,
                        }
                        Value::Mode(serde_json::from_slice::<M>(bytes).map_err(err)?.mode)
                    }
                })
            }
        };
        Ok(Record { key, value })
    }
}

/// What makes two schema texts the same schema: the JSON with object keys sorted and whitespace
/// dropped. Avro's Parsing Canonical Form is not enough: it drops defaults, aliases and enum
/// defaults, which change compatibility, so schemas differing only there must get their own ids.
pub fn identity(text: &str, parsed: &apache_avro::Schema) -> String {
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut entries: Vec<(String, serde_json::Value)> =
                    m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => sorted(v).to_string(),
        Err(_) => parsed.canonical_form(),
    }
}

/// A registered schema.
#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub text: String,
    pub canonical: String,
    pub parsed: apache_avro::Schema,
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: u32,
    pub id: u32,
    pub deleted: bool,
}

/// The whole state.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    pub schemas: BTreeMap<u32, StoredSchema>,
    by_canonical: HashMap<String, u32>,
    /// Versions in ascending order; a subject with no versions left is removed.
    pub subjects: BTreeMap<String, Vec<Version>>,
    pub global_level: Option<String>,
    pub subject_levels: BTreeMap<String, String>,
    pub global_mode: Option<String>,
    pub subject_modes: BTreeMap<String, String>,
}

impl Registry {
    /// The id of an already registered schema with this canonical form.
    pub fn id_of(&self, canonical: &str) -> Option<u32> {
        self.by_canonical.get(canonical).copied()
    }

    /// The next free id.
    pub fn next_id(&self) -> u32 {
        self.schemas.keys().next_back().map_or(1, |m| m + 1)
    }

    /// Applies one record; `false` when it lost a conflict and was ignored.
    pub fn apply(&mut self, record: &Record) -> bool {
        match (&record.key, &record.value) {
            (Key::Schema { subject, version }, Some(Value::Schema(v))) => {
                let Ok(parsed) = apache_avro::Schema::parse_str(&v.schema) else {
                    return false;
                };
                let canonical = identity(&v.schema, &parsed);
                if let Some(existing) = self.schemas.get(&v.id) {
                    if existing.canonical != canonical {
                        return false;
                    }
                }
                if v.purged {
                    if let Some(versions) = self.subjects.get_mut(subject) {
                        versions.retain(|x| x.version != *version);
                        if versions.is_empty() {
                            self.subjects.remove(subject);
                        }
                    }
                    self.by_canonical.entry(canonical.clone()).or_insert(v.id);
                    self.schemas.entry(v.id).or_insert(StoredSchema {
                        text: v.schema.clone(),
                        canonical,
                        parsed,
                    });
                    return true;
                }
                let versions = self.subjects.entry(subject.clone()).or_default();
                match versions.iter_mut().find(|x| x.version == *version) {
                    Some(x) if x.id != v.id => return false,
                    Some(x) => x.deleted = v.deleted,
                    None => {
                        versions.push(Version {
                            version: *version,
                            id: v.id,
                            deleted: v.deleted,
                        });
                        versions.sort_by_key(|x| x.version);
                    }
                }
                self.by_canonical.entry(canonical.clone()).or_insert(v.id);
                self.schemas.entry(v.id).or_insert(StoredSchema {
                    text: v.schema.clone(),
                    canonical,
                    parsed,
                });
                true
            }
            (Key::Schema { subject, version }, None) => {
                if let Some(versions) = self.subjects.get_mut(subject) {
                    versions.retain(|x| x.version != *version);
                    if versions.is_empty() {
                        self.subjects.remove(subject);
                    }
                }
                true
            }
            (Key::Config { subject }, value) => {
                let level = match value {
                    Some(Value::Config(l)) => Some(l.clone()),
                    _ => None,
                };
                match subject {
                    None => self.global_level = level,
                    Some(s) => match level {
                        Some(l) => {
                            self.subject_levels.insert(s.clone(), l);
                        }
                        None => {
                            self.subject_levels.remove(s);
                        }
                    },
                }
                true
            }
            (Key::Mode { subject }, value) => {
                let mode = match value {
                    Some(Value::Mode(m)) => Some(m.clone()),
                    _ => None,
                };
                match subject {
                    None => self.global_mode = mode,
                    Some(s) => match mode {
                        Some(m) => {
                            self.subject_modes.insert(s.clone(), m);
                        }
                        None => {
                            self.subject_modes.remove(s);
                        }
                    },
                }
                true
            }
            (Key::Schema { .. }, Some(_)) => false,
        }
    }

    /// The record that restates what the state holds for `key` (used to repair a key after a
    /// lost conflict, so that compaction keeps the winner).
    pub fn restate(&self, key: &Key) -> Record {
        let value = match key {
            Key::Schema { subject, version } => self
                .subjects
                .get(subject)
                .and_then(|vs| vs.iter().find(|x| x.version == *version))
                .map(|x| {
                    Value::Schema(SchemaValue {
                        subject: subject.clone(),
                        version: x.version,
                        id: x.id,
                        schema: self.schemas[&x.id].text.clone(),
                        deleted: x.deleted,
                        purged: false,
                    })
                }),
            Key::Config { subject: None } => self.global_level.clone().map(Value::Config),
            Key::Config { subject: Some(s) } => {
                self.subject_levels.get(s).cloned().map(Value::Config)
            }
            Key::Mode { subject: None } => self.global_mode.clone().map(Value::Mode),
            Key::Mode { subject: Some(s) } => self.subject_modes.get(s).cloned().map(Value::Mode),
        };
        Record {
            key: key.clone(),
            value,
        }
    }
}
