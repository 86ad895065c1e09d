//! Putting one subject's schema into the registry idempotently, as `weft schemas register` does
//! for every subject: set the level, skip when the latest version already is this schema,
//! register otherwise, and turn a 409 into a verdict with the registry's reasons.
//!
//! "Already is this schema" compares Avro Parsing Canonical Forms (docs, defaults and field order
//! of JSON keys do not matter), which is also what the runtime compares before it writes. A
//! schema with references cannot be parsed alone; it then counts as the same only when text and
//! references are identical.
//!
//! Failure modes: every registry error other than an incompatibility (409) is returned as the
//! [`ClientError`]; an incompatibility is an `Ok` outcome so a caller can go on with other
//! subjects and decide the exit code.

use crate::{ClientError, RegisteredSchema, Result, SchemaReference, SchemaRegistryClient};

/// One subject and the schema it should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectSchema {
    /// The subject, e.g. `cypher.order.created.v1-value`.
    pub subject: String,
    /// Its compatibility level, e.g. `BACKWARD`.
    pub level: String,
    /// The Avro schema text.
    pub schema: String,
    /// Its references (empty for a self-contained schema).
    pub references: Vec<SchemaReference>,
}

/// What [`SchemaRegistryClient::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The latest version already was this schema.
    Unchanged {
        /// Its id.
        id: u32,
        /// Its version.
        version: i32,
    },
    /// Registered as the new latest version.
    Registered {
        /// The id.
        id: u32,
        /// The new version.
        version: i32,
    },
    /// The registry matched an older version of the subject (a rollback): no new version was
    /// made and the latest is still another schema.
    MatchedOlder {
        /// The id of the matched version.
        id: u32,
        /// The matched version, when the look-up found it.
        version: Option<i32>,
        /// `(id, version)` of the latest version.
        latest: Option<(u32, i32)>,
    },
    /// The registry refused the schema as incompatible under the subject's level.
    Incompatible {
        /// The registry's message.
        message: String,
        /// The reasons of the verbose compatibility test, when the registry gives them.
        details: Vec<String>,
    },
}

/// What publishing would do, from [`SchemaRegistryClient::preview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// The subject has no version: it would be registered.
    New,
    /// The latest version already is this schema.
    Unchanged {
        /// Its id.
        id: u32,
        /// Its version.
        version: i32,
    },
    /// A new version, compatible with the latest at the subject's current level.
    Compatible {
        /// `(id, version)` of the latest version.
        latest: (u32, i32),
    },
    /// A new version the registry would refuse.
    Incompatible {
        /// `(id, version)` of the latest version.
        latest: (u32, i32),
        /// Why.
        messages: Vec<String>,
    },
}

/// Does the registered version hold exactly `wanted`?
fn same_schema(registered: &RegisteredSchema, wanted: &SubjectSchema) -> bool {
    let canonical = |text: &str| {
        apache_avro::Schema::parse_str(text)
            .ok()
            .map(|s| s.canonical_form())
    };
    if registered.references.is_empty() && wanted.references.is_empty() {
        if let (Some(a), Some(b)) = (canonical(&registered.schema), canonical(&wanted.schema)) {
            return a == b;
        }
    }
    registered.schema == wanted.schema && registered.references == wanted.references
}

impl SchemaRegistryClient {
    /// Sets the subject's level, then registers the schema unless the latest version already is
    /// it. See the module docs.
    pub async fn publish(&self, s: &SubjectSchema) -> Result<Published> {
        self.set_subject_compatibility(&s.subject, &s.level).await?;
        let latest = self.latest(&s.subject).await?;
        if let Some(l) = latest.as_ref().filter(|l| same_schema(l, s)) {
            return Ok(Published::Unchanged {
                id: l.id,
                version: l.version,
            });
        }
        let id = match self.register(&s.subject, &s.schema, &s.references).await {
            Ok(id) => id,
            Err(e) if e.is_incompatible() => return self.incompatible(s, e).await,
            Err(e) => return Err(e),
        };
        match self.latest(&s.subject).await? {
            Some(l) if l.id == id => Ok(Published::Registered {
                id,
                version: l.version,
            }),
            latest => {
                let matched = self.lookup(&s.subject, &s.schema, &s.references).await?;
                Ok(Published::MatchedOlder {
                    id,
                    version: matched.map(|m| m.version),
                    latest: latest.map(|l| (l.id, l.version)),
                })
            }
        }
    }

    async fn incompatible(&self, s: &SubjectSchema, e: ClientError) -> Result<Published> {
        let details = self
            .check_compatibility(&s.subject, &s.schema, &s.references)
            .await
            .map(|v| v.messages)
            .unwrap_or_default();
        Ok(Published::Incompatible {
            message: e.registry_message().unwrap_or_default().to_string(),
            details,
        })
    }

    /// What [`Self::publish`] would do, without writing, and the subject's current level (`None`
    /// when it has none of its own). The compatibility test runs at the current level, which
    /// `publish` would first change to `s.level`.
    pub async fn preview(&self, s: &SubjectSchema) -> Result<(Preview, Option<String>)> {
        let level = self.subject_compatibility(&s.subject).await?;
        let preview = match self.latest(&s.subject).await? {
            None => Preview::New,
            Some(l) if same_schema(&l, s) => Preview::Unchanged {
                id: l.id,
                version: l.version,
            },
            Some(l) => {
                let verdict = self
                    .check_compatibility(&s.subject, &s.schema, &s.references)
                    .await?;
                if verdict.is_compatible {
                    Preview::Compatible {
                        latest: (l.id, l.version),
                    }
                } else {
                    Preview::Incompatible {
                        latest: (l.id, l.version),
                        messages: verdict.messages,
                    }
                }
            }
        };
        Ok((preview, level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(schema: &str) -> RegisteredSchema {
        RegisteredSchema {
            subject: "s".into(),
            id: 1,
            version: 1,
            schema: schema.into(),
            schema_type: None,
            references: Vec::new(),
        }
    }

    fn wanted(schema: &str) -> SubjectSchema {
        SubjectSchema {
            subject: "s".into(),
            level: "BACKWARD".into(),
            schema: schema.into(),
            references: Vec::new(),
        }
    }

    #[test]
    fn sameness_is_canonical_for_self_contained_schemas() {
        let a = r#"{"type":"record","name":"R","namespace":"n","doc":"one","fields":[{"name":"x","type":"long","doc":"d"}]}"#;
        let b =
            r#"{"namespace":"n","name":"R","type":"record","fields":[{"type":"long","name":"x"}]}"#;
        let c =
            r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"x","type":"int"}]}"#;
        assert!(same_schema(&registered(a), &wanted(b)));
        assert!(!same_schema(&registered(a), &wanted(c)));
    }

    #[test]
    fn schemas_with_references_compare_as_text() {
        let text = r#"{"type":"record","name":"E","fields":[{"name":"m","type":"weft.common.EventMetadata"}]}"#;
        let r = SchemaReference {
            name: "weft.common.EventMetadata".into(),
            subject: "weft.common.EventMetadata".into(),
            version: 1,
        };
        let mut reg = registered(text);
        reg.references = vec![r.clone()];
        let mut want = wanted(text);
        want.references = vec![r.clone()];
        assert!(same_schema(&reg, &want));
        want.references[0].version = 2;
        assert!(!same_schema(&reg, &want));
    }
}
