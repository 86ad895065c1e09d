//! Where the runtime gets Avro schemas: writer schemas by id for decoding, and the id of each
//! output's schema for encoding.
//!
//! - [`RegistrySchemas`] asks a Confluent-compatible registry (`weft registry`, Confluent's,
//!   Karapace) through `schema_registry_converter`, and keeps every answer in memory: a schema id
//!   never changes its schema, so the hot path never leaves the process after the first record of
//!   each schema.
//! - [`LocalSchemas`] numbers the schemas of the local catalog itself; it is what the test
//!   harness uses, without a registry.
//!
//! Failure modes, by the registry's HTTP answer:
//! - 404 for an id (after two retries, 300 ms: a replica that has not caught up yet answers 404
//!   for a schema registered a moment ago) → [`RuntimeError::SchemaNotFound`]; the
//!   record is undecodable and goes to the dead-letter topic unchanged; the id is then known as
//!   missing for 5 s, so a flood of records with it fails at once instead of paying the retries
//!   each;
//! - no answer, 408, 429 or 5xx → retried with back-off, then [`RuntimeError::Registry`]: the
//!   processor stops (exit 2) instead of dead-lettering every record while the registry is down;
//! - 401 / 403 (bad or missing credentials) and any other answer → [`RuntimeError::Registry`] at
//!   once, naming the status: the processor stops (exit 2), nothing is dead-lettered;
//! - an output subject whose registered schema is not the one this build writes (and
//!   auto-registration is off) → [`RuntimeError::Registry`] at the first output, naming the
//!   subject and telling to run `weft schemas register`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apache_avro::Schema;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use crate::RuntimeError;

/// Source of writer schemas and output schema ids.
pub trait SchemaSource: Send + Sync {
    /// The schema registered under `id`.
    fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, RuntimeError>;
    /// The id of `schema` (self-contained) under the value subject of `topic`
    /// (TopicNameStrategy: `<topic>-value`).
    fn value_schema_id(&self, topic: &str, schema: &Schema) -> Result<u32, RuntimeError>;
    /// Registers `schema` under the value subject of `topic` (a subject the runtime owns, such
    /// as a store's changelog) and returns its id; the registry's compatibility check applies.
    fn register_value_schema(&self, topic: &str, schema: &Schema) -> Result<u32, RuntimeError> {
        self.value_schema_id(topic, schema)
    }
}

/// Attempts per registry call before the registry counts as unavailable.
const REGISTRY_ATTEMPTS: u32 = 5;

/// Schemas from a Confluent-compatible registry, cached.
pub struct RegistrySchemas {
    url: String,
    /// Always `Some` until dropped; taken in `Drop` to shut it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    decoder: AvroDecoder,
    encoder: AvroEncoder,
    auto_register: bool,
    writers: Mutex<HashMap<u32, Arc<Schema>>>,
    ids: Mutex<HashMap<String, u32>>,
    /// Ids the registry answered 404 for (after the retries), and when: a flood of records
    /// with an unknown id is dead-lettered at once instead of paying the retries each.
    missing: Mutex<HashMap<u32, std::time::Instant>>,
    /// How long an id the registry answered 404 for stays known as missing.
    missing_for: Duration,
    /// Attempts for an id the registry answers 404 for (a replica catching up).
    not_found_attempts: u32,
}

/// How long an id the registry does not know stays known as missing, by default: short, since
/// an id registered a moment later (a replica catching up) must decode as soon as it exists.
const MISSING_FOR: Duration = Duration::from_secs(5);

/// Attempts for an id the registry answers 404 for: 300 ms in all.
const NOT_FOUND_ATTEMPTS: u32 = 3;

impl RegistrySchemas {
    /// A source for the registry at `url`. With `auto_register`, a missing output schema is
    /// registered (as Confluent's serializers do by default); without it, the subject's latest
    /// version must be exactly the schema this build writes, as `weft schemas register` leaves it.
    pub fn new(url: &str, auto_register: bool) -> Result<Self, RuntimeError> {
        Self::with_auth(url, auto_register, None)
    }

    /// A client of the registry at `url` that authenticates with HTTP basic `auth` (user,
    /// password) when given.
    pub fn with_auth(
        url: &str,
        auto_register: bool,
        auth: Option<(&str, &str)>,
    ) -> Result<Self, RuntimeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weft-registry-client")
            .enable_all()
            .build()
            .map_err(|e| RuntimeError::Config(format!("cannot start the registry client: {e}")))?;
        let settings = || {
            let mut builder = SrSettings::new_builder(url.to_string());
            builder.set_timeout(Duration::from_secs(10));
            if let Some((user, password)) = auth {
                builder.set_basic_authorization(user, Some(password));
            }
            builder
                .build()
                .map_err(|e| RuntimeError::Config(format!("registry url {url}: {e}")))
        };
        Ok(RegistrySchemas {
            url: url.to_string(),
            decoder: AvroDecoder::new(settings()?),
            encoder: AvroEncoder::new(settings()?),
            runtime: Some(runtime),
            auto_register,
            writers: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
            missing: Mutex::new(HashMap::new()),
            missing_for: MISSING_FOR,
            not_found_attempts: NOT_FOUND_ATTEMPTS,
        })
    }

    /// Treats a 404 for a schema id as final at once, and never remembers an id as missing:
    /// for readers of topics that outlive registries (tests), where an unknown id is common and
    /// may be registered a moment later.
    pub fn without_not_found_retries(mut self) -> Self {
        self.missing_for = Duration::ZERO;
        self.not_found_attempts = 1;
        self
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .block_on(f)
    }

    /// Runs a registry call, retrying outages and "not found" with back-off (see the module
    /// docs for what each answer becomes).
    fn call<T>(
        &self,
        what: &str,
        mut f: impl FnMut() -> Result<T, SRCError>,
    ) -> Result<T, RuntimeError> {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=REGISTRY_ATTEMPTS {
            let e = match f() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let failure = classify(&e);
            let last = attempt == REGISTRY_ATTEMPTS;
            match failure {
                RegistryFailure::Refused(status) => {
                    return Err(RuntimeError::Registry(format!(
                        "registry {} answered {status} while {what}: {e}",
                        self.url
                    )))
                }
                RegistryFailure::NotFound if last || attempt >= self.not_found_attempts => {
                    return Err(RuntimeError::SchemaNotFound(format!("{what}: {e}")))
                }
                RegistryFailure::Unavailable if last => {
                    return Err(RuntimeError::Registry(format!(
                        "registry {} unavailable while {what}: {e}",
                        self.url
                    )))
                }
                RegistryFailure::NotFound | RegistryFailure::Unavailable => {
                    tracing::warn!("registry {}: {what}: {e} (attempt {attempt})", self.url);
                    std::thread::sleep(delay);
                    delay *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// What a failed registry call means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegistryFailure {
    /// 404: not there (yet).
    NotFound,
    /// No answer, or one that says "try later" (408, 429, 5xx).
    Unavailable,
    /// An answer retrying will not change (401, 403, other 4xx), with its status.
    Refused(u16),
}

/// Reads the HTTP status from the converter's message ("... failed with status 401
/// Unauthorized"); an error without a status is a transport failure.
fn classify(e: &SRCError) -> RegistryFailure {
    let text = e.to_string();
    let status = text
        .split("failed with status ")
        .nth(1)
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        None => RegistryFailure::Unavailable,
        Some(404) => RegistryFailure::NotFound,
        Some(408 | 429 | 500..=599) => RegistryFailure::Unavailable,
        Some(other) => RegistryFailure::Refused(other),
    }
}

impl SchemaSource for RegistrySchemas {
    fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, RuntimeError> {
        if let Some(s) = lock(&self.writers)?.get(&id) {
            return Ok(s.clone());
        }
        if let Some(since) = lock(&self.missing)?.get(&id) {
            if since.elapsed() < self.missing_for {
                return Err(RuntimeError::SchemaNotFound(format!(
                    "schema id {id} (not in the registry {:.0?} ago)",
                    since.elapsed()
                )));
            }
        }
        let found = self
            .call(&format!("fetching schema id {id}"), || {
                self.block_on(self.decoder.get_schema(id))
            })
            .inspect_err(|e| {
                if matches!(e, RuntimeError::SchemaNotFound(_)) {
                    if let Ok(mut m) = lock(&self.missing) {
                        m.insert(id, std::time::Instant::now());
                    }
                }
            })?;
        let schema = Arc::new(found.parsed.clone());
        lock(&self.writers)?.insert(id, schema.clone());
        Ok(schema)
    }

    fn value_schema_id(&self, topic: &str, schema: &Schema) -> Result<u32, RuntimeError> {
        self.resolve_subject(topic, schema, self.auto_register)
    }

    fn register_value_schema(&self, topic: &str, schema: &Schema) -> Result<u32, RuntimeError> {
        self.resolve_subject(topic, schema, true)
    }
}

impl RegistrySchemas {
    /// The id of `schema` under `<topic>-value`, registering it when `register`.
    fn resolve_subject(
        &self,
        topic: &str,
        schema: &Schema,
        register: bool,
    ) -> Result<u32, RuntimeError> {
        if let Some(id) = lock(&self.ids)?.get(topic) {
            return Ok(*id);
        }
        let subject = format!("{topic}-value");
        let canonical = schema.canonical_form();
        let strategy = if register {
            SubjectNameStrategy::TopicNameStrategyWithSchema(
                topic.to_string(),
                false,
                SuppliedSchema::new(
                    schema.name().map(|n| n.fullname(None)),
                    SchemaType::Avro,
                    canonical_json(schema)?,
                ),
            )
        } else {
            SubjectNameStrategy::TopicNameStrategy(topic.to_string(), false)
        };
        let registered = self
            .call(&format!("resolving subject {subject}"), || {
                self.block_on(self.encoder.get_schema_and_id(&subject, strategy.clone()))
            })
            .map_err(|e| match e {
                RuntimeError::SchemaNotFound(m) => RuntimeError::Registry(format!(
                    "{m}; register the schemas first (`weft schemas register`)"
                )),
                other => other,
            })?;
        if registered.parsed.canonical_form() != canonical {
            return Err(RuntimeError::Registry(format!(
                "subject {subject}: the latest registered schema (id {}) is not the schema this \
                 build writes; run `weft schemas register` (or set WEFT_SCHEMA_AUTO_REGISTER=true)",
                registered.id
            )));
        }
        lock(&self.ids)?.insert(topic.to_string(), registered.id);
        Ok(registered.id)
    }
}

impl Drop for RegistrySchemas {
    /// The client may be dropped on an async thread (end of `weft run`), where a runtime must not
    /// be dropped blocking.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The schema as JSON text, as it goes to the registry.
fn canonical_json(schema: &Schema) -> Result<String, RuntimeError> {
    serde_json::to_string(schema)
        .map_err(|e| RuntimeError::Config(format!("cannot serialise a schema: {e}")))
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, RuntimeError> {
    m.lock()
        .map_err(|_| RuntimeError::Registry("a schema cache lock was poisoned".into()))
}

/// Schemas numbered locally, for tests without a registry: every schema handed to
/// [`SchemaSource::value_schema_id`] gets the next id, the same schema the same id.
#[derive(Default)]
pub struct LocalSchemas {
    by_id: Mutex<Vec<Arc<Schema>>>,
}

impl LocalSchemas {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `schema`, assigning the next one when it is new.
    pub fn id_of(&self, schema: &Schema) -> Result<u32, RuntimeError> {
        let mut by_id = lock(&self.by_id)?;
        let canonical = schema.canonical_form();
        if let Some(i) = by_id.iter().position(|s| s.canonical_form() == canonical) {
            return Ok(i as u32 + 1);
        }
        by_id.push(Arc::new(schema.clone()));
        Ok(by_id.len() as u32)
    }
}

impl SchemaSource for LocalSchemas {
    fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, RuntimeError> {
        let by_id = lock(&self.by_id)?;
        id.checked_sub(1)
            .and_then(|i| by_id.get(i as usize))
            .cloned()
            .ok_or_else(|| RuntimeError::SchemaNotFound(format!("schema id {id} is not known")))
    }

    fn value_schema_id(&self, _topic: &str, schema: &Schema) -> Result<u32, RuntimeError> {
        self.id_of(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_decide_what_a_failure_means() {
        let at = |status: &str| {
            classify(&SRCError::new(
                &format!("HTTP request to schema registry failed with status {status}"),
                Some("error_code 0".into()),
                false,
            ))
        };
        assert_eq!(at("404 Not Found"), RegistryFailure::NotFound);
        assert_eq!(at("401 Unauthorized"), RegistryFailure::Refused(401));
        assert_eq!(at("403 Forbidden"), RegistryFailure::Refused(403));
        assert_eq!(
            at("500 Internal Server Error"),
            RegistryFailure::Unavailable
        );
        assert_eq!(at("429 Too Many Requests"), RegistryFailure::Unavailable);
        let transport = SRCError::new("error sending request", None, false);
        assert_eq!(classify(&transport), RegistryFailure::Unavailable);
    }

    /// A registry on a real socket that answers every request with `status` and a Confluent
    /// error body.
    fn answering(status: u16, error_code: u32) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(move || async move {
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/vnd.schemaregistry.v1+json")],
                        format!(r#"{{"error_code":{error_code},"message":"test answer"}}"#),
                    )
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        format!("http://{}", rx.recv().unwrap())
    }

    /// The error of looking up schema id 7 at `url` (every answer there is a failure).
    fn lookup_of_id_7(url: &str) -> RuntimeError {
        RegistrySchemas::new(url, false)
            .unwrap()
            .writer_schema(7)
            .unwrap_err()
    }

    #[test]
    fn refused_credentials_stop_the_processor_instead_of_dead_lettering() {
        let url = answering(401, 40101);
        let err = lookup_of_id_7(&url);
        assert!(
            matches!(&err, RuntimeError::Registry(m) if m.contains("401")),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn an_unknown_id_is_not_found_after_the_retries() {
        let url = answering(404, 40403);
        let err = lookup_of_id_7(&url);
        assert!(matches!(err, RuntimeError::SchemaNotFound(_)), "{err:?}");
    }

    #[test]
    fn an_unreachable_registry_is_an_outage_not_a_missing_schema() {
        let err = lookup_of_id_7("http://127.0.0.1:1");
        assert!(
            matches!(&err, RuntimeError::Registry(m) if m.contains("unavailable")),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn a_server_error_is_an_outage() {
        let url = answering(503, 50003);
        let err = lookup_of_id_7(&url);
        assert!(
            matches!(&err, RuntimeError::Registry(m) if m.contains("unavailable")),
            "{err:?}"
        );
    }
}
