//! A small async client for Confluent-compatible schema registries (`weft registry`, Confluent
//! Schema Registry, Karapace), for the CLI, the console and the runtime.
//!
//! It speaks the subset of Confluent's REST API weft needs, Avro only:
//!
//! | call | request |
//! |---|---|
//! | [`SchemaRegistryClient::register`] | `POST /subjects/{s}/versions` |
//! | [`SchemaRegistryClient::lookup`] | `POST /subjects/{s}` |
//! | [`SchemaRegistryClient::latest`], [`SchemaRegistryClient::version`] | `GET /subjects/{s}/versions/{v}` |
//! | [`SchemaRegistryClient::schema_by_id`] | `GET /schemas/ids/{id}` |
//! | [`SchemaRegistryClient::subjects`], [`SchemaRegistryClient::versions`] | `GET /subjects`, `GET /subjects/{s}/versions` |
//! | [`SchemaRegistryClient::set_subject_compatibility`] | `PUT /config/{s}` |
//! | [`SchemaRegistryClient::subject_compatibility`] | `GET /config/{s}` |
//! | [`SchemaRegistryClient::check_compatibility`] | `POST /compatibility/subjects/{s}/versions/latest?verbose=true` |
//!
//! Failure modes, all in [`ClientError`]:
//! - the registry answered with Confluent's error body `{"error_code", "message"}` →
//!   [`ClientError::Registry`], carrying both (e.g. 40401 subject not found, 409 incompatible
//!   schema, 42201 invalid schema, 42203 invalid compatibility level); "not found" answers of the
//!   look-up calls are `Ok(None)` instead;
//! - the registry could not be reached, or timed out ([`SchemaRegistryClient::with_timeout`],
//!   10 s by default) → [`ClientError::Unreachable`];
//! - the registry answered something that is not Confluent's API (an HTML proxy page, a 404 of a
//!   server without that route) → [`ClientError::Unexpected`] with the status and the start of the
//!   body.
//!
//! [`publish`] builds `weft schemas register`'s idempotent per-subject step on these calls
//! ([`SchemaRegistryClient::publish`], [`SchemaRegistryClient::preview`]).
//!
//! The client does not retry and does not cache: callers decide (the runtime caches ids, the CLI
//! fails fast).

pub mod publish;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// The media type of Confluent's API.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Confluent error codes this crate names.
pub mod codes {
    /// Subject not found.
    pub const SUBJECT_NOT_FOUND: u32 = 40401;
    /// Version not found.
    pub const VERSION_NOT_FOUND: u32 = 40402;
    /// Schema not found.
    pub const SCHEMA_NOT_FOUND: u32 = 40403;
    /// No compatibility level set on the subject.
    pub const SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED: u32 = 40408;
    /// The schema is incompatible with an earlier one of the subject.
    pub const INCOMPATIBLE_SCHEMA: u32 = 409;
    /// The schema is not valid (or a reference cannot be resolved).
    pub const INVALID_SCHEMA: u32 = 42201;
    /// The compatibility level is not valid.
    pub const INVALID_COMPATIBILITY_LEVEL: u32 = 42203;
}

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not an http(s) URL.
    #[error("registry URL `{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    /// The registry answered with Confluent's error body.
    #[error("registry {url}: {message} (error_code {error_code}, HTTP {status})")]
    Registry {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Confluent's `error_code`.
        error_code: u32,
        /// Confluent's `message`.
        message: String,
    },
    /// The registry could not be reached or did not answer in time.
    #[error("registry {url} unreachable: {}", chain(cause))]
    Unreachable {
        /// The request URL.
        url: String,
        /// What reqwest said (its whole cause chain is in the message).
        cause: reqwest::Error,
    },
    /// The answer is not Confluent's API.
    #[error("registry {url}: unexpected answer, HTTP {status}: {body}")]
    Unexpected {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, or what could not be parsed.
        body: String,
    },
}

impl ClientError {
    /// Confluent's `error_code`, when the registry sent one.
    pub fn error_code(&self) -> Option<u32> {
        match self {
            ClientError::Registry { error_code, .. } => Some(*error_code),
            _ => None,
        }
    }

    /// The registry's `message`, when it sent one.
    pub fn registry_message(&self) -> Option<&str> {
        match self {
            ClientError::Registry { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Is this the registry rejecting an incompatible schema (error_code 409)?
    pub fn is_incompatible(&self) -> bool {
        self.error_code() == Some(codes::INCOMPATIBLE_SCHEMA)
    }
}

pub use publish::{Preview, Published, SubjectSchema};

/// Result with [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A Confluent schema reference: the named type `name` is the schema registered under
/// `subject` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaReference {
    /// For Avro, the full name of the referenced type.
    pub name: String,
    /// The subject it is registered under.
    pub subject: String,
    /// The version of that subject.
    pub version: i32,
}

/// One registered version of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredSchema {
    /// The subject.
    pub subject: String,
    /// The global schema id.
    pub id: u32,
    /// The version within the subject.
    pub version: i32,
    /// The schema text.
    pub schema: String,
    /// `AVRO` (Confluent omits it for Avro).
    #[serde(rename = "schemaType", default)]
    pub schema_type: Option<String>,
    /// The references of the schema.
    #[serde(default)]
    pub references: Vec<SchemaReference>,
}

/// A schema fetched by id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SchemaById {
    /// The schema text.
    pub schema: String,
    /// `AVRO` (Confluent omits it for Avro).
    #[serde(rename = "schemaType", default)]
    pub schema_type: Option<String>,
    /// The references of the schema.
    #[serde(default)]
    pub references: Vec<SchemaReference>,
}

/// The verdict of a compatibility test.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Compatibility {
    /// Compatible with the subject's latest version under its level?
    pub is_compatible: bool,
    /// Why not (Confluent sends them with `verbose=true`).
    #[serde(default)]
    pub messages: Vec<String>,
}

/// A client of one registry. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct SchemaRegistryClient {
    base: String,
    http: reqwest::Client,
    /// HTTP basic credentials (Confluent Cloud API key and secret, Karapace users).
    basic_auth: Option<(String, String)>,
}

impl std::fmt::Debug for SchemaRegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistryClient")
            .field("base", &self.base)
            .field("basic_auth_user", &self.basic_auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// Percent-encodes one path segment (subjects may hold any character).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SchemaRegistryClient {
    /// A client of the registry at `base_url` (e.g. `http://127.0.0.1:8081`), 10 s timeout.
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_timeout(base_url, Duration::from_secs(10))
    }

    /// A client whose every request gives up after `timeout`.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 8 {
            return Err(ClientError::BadUrl(base_url.to_string()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|cause| ClientError::Unreachable {
                url: base.clone(),
                cause,
            })?;
        Ok(Self {
            base,
            http,
            basic_auth: None,
        })
    }

    /// Sends HTTP basic credentials with every request (e.g. a Confluent Cloud API key and
    /// secret). The password never appears in errors or `Debug` output.
    pub fn with_basic_auth(mut self, username: &str, password: &str) -> Self {
        self.basic_auth = Some((username.to_string(), password.to_string()));
        self
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Result<Json> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .header(reqwest::header::ACCEPT, CONTENT_TYPE);
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|cause| ClientError::Unreachable {
                url: url.clone(),
                cause,
            })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|cause| ClientError::Unreachable {
                url: url.clone(),
                cause,
            })?;
        let parsed: Option<Json> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return parsed.ok_or_else(|| ClientError::Unexpected {
                url,
                status,
                body: excerpt(&text),
            });
        }
        match parsed.as_ref().and_then(|j| {
            Some((
                j.get("error_code")?.as_u64()?,
                j.get("message")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ))
        }) {
            Some((code, message)) => Err(ClientError::Registry {
                url,
                status,
                error_code: code as u32,
                message,
            }),
            None => Err(ClientError::Unexpected {
                url,
                status,
                body: excerpt(&text),
            }),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, path: &str, json: Json) -> Result<T> {
        serde_json::from_value(json.clone()).map_err(|e| ClientError::Unexpected {
            url: format!("{}{path}", self.base),
            status: 200,
            body: format!("{e}: {}", excerpt(&json.to_string())),
        })
    }

    /// Registers an Avro schema under `subject` (a new version unless the subject already has
    /// it) and returns its global id. An incompatible schema fails with error_code 409
    /// ([`ClientError::is_incompatible`]).
    pub async fn register(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<u32> {
        let path = format!("/subjects/{}/versions", segment(subject));
        let answer = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(schema_body(schema, references)),
            )
            .await?;
        #[derive(Deserialize)]
        struct Id {
            id: u32,
        }
        Ok(self.decode::<Id>(&path, answer)?.id)
    }

    /// The version of `subject` that holds exactly this schema, if any.
    pub async fn lookup(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<Option<RegisteredSchema>> {
        let path = format!("/subjects/{}", segment(subject));
        match self
            .call(
                reqwest::Method::POST,
                &path,
                Some(schema_body(schema, references)),
            )
            .await
        {
            Ok(answer) => self.decode(&path, answer).map(Some),
            Err(e)
                if matches!(
                    e.error_code(),
                    Some(codes::SUBJECT_NOT_FOUND | codes::SCHEMA_NOT_FOUND)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The latest version of `subject`, or `None` when the subject has none.
    pub async fn latest(&self, subject: &str) -> Result<Option<RegisteredSchema>> {
        self.get_version(subject, "latest").await
    }

    /// Version `version` of `subject`, or `None` when there is no such version.
    pub async fn version(&self, subject: &str, version: i32) -> Result<Option<RegisteredSchema>> {
        self.get_version(subject, &version.to_string()).await
    }

    async fn get_version(&self, subject: &str, version: &str) -> Result<Option<RegisteredSchema>> {
        let path = format!("/subjects/{}/versions/{version}", segment(subject));
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok(answer) => self.decode(&path, answer).map(Some),
            Err(e)
                if matches!(
                    e.error_code(),
                    Some(codes::SUBJECT_NOT_FOUND | codes::VERSION_NOT_FOUND)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The schema with global id `id`; an unknown id is error_code 40403.
    pub async fn schema_by_id(&self, id: u32) -> Result<SchemaById> {
        let path = format!("/schemas/ids/{id}");
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        self.decode(&path, answer)
    }

    /// Every live subject.
    pub async fn subjects(&self) -> Result<Vec<String>> {
        let answer = self.call(reqwest::Method::GET, "/subjects", None).await?;
        self.decode("/subjects", answer)
    }

    /// The versions of `subject`, or `None` when the subject does not exist.
    pub async fn versions(&self, subject: &str) -> Result<Option<Vec<i32>>> {
        let path = format!("/subjects/{}/versions", segment(subject));
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok(answer) => self.decode(&path, answer).map(Some),
            Err(e) if e.error_code() == Some(codes::SUBJECT_NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the compatibility level of `subject` (`BACKWARD`, `FORWARD_TRANSITIVE`, `NONE`, ...).
    /// The subject need not exist yet.
    pub async fn set_subject_compatibility(&self, subject: &str, level: &str) -> Result<()> {
        let path = format!("/config/{}", segment(subject));
        self.call(
            reqwest::Method::PUT,
            &path,
            Some(json!({ "compatibility": level })),
        )
        .await
        .map(|_| ())
    }

    /// The compatibility level set on `subject`, or `None` when it has none of its own (it then
    /// follows the global level).
    pub async fn subject_compatibility(&self, subject: &str) -> Result<Option<String>> {
        let path = format!("/config/{}", segment(subject));
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok(answer) => Ok(answer
                .get("compatibilityLevel")
                .or_else(|| answer.get("compatibility"))
                .and_then(Json::as_str)
                .map(str::to_string)),
            Err(e)
                if matches!(
                    e.error_code(),
                    Some(
                        codes::SUBJECT_NOT_FOUND
                            | codes::SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED
                    )
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Would `schema` be accepted as the next version of `subject`? A subject with no versions
    /// accepts anything (Confluent answers 40401; this returns compatible).
    pub async fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<Compatibility> {
        let path = format!(
            "/compatibility/subjects/{}/versions/latest?verbose=true",
            segment(subject)
        );
        match self
            .call(
                reqwest::Method::POST,
                &path,
                Some(schema_body(schema, references)),
            )
            .await
        {
            Ok(answer) => self.decode(&path, answer),
            Err(e)
                if matches!(
                    e.error_code(),
                    Some(codes::SUBJECT_NOT_FOUND | codes::VERSION_NOT_FOUND)
                ) =>
            {
                Ok(Compatibility {
                    is_compatible: true,
                    messages: Vec::new(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

fn schema_body(schema: &str, references: &[SchemaReference]) -> Json {
    let mut body = json!({ "schema": schema, "schemaType": "AVRO" });
    if !references.is_empty() {
        body["references"] = json!(references);
    }
    body
}

/// An error and its causes, `: `-separated, each said once (reqwest repeats itself).
fn chain(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    let cut: String = text.chars().take(300).collect();
    if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(
            segment("cypher.cart.updated.v1-value"),
            "cypher.cart.updated.v1-value"
        );
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(matches!(
            SchemaRegistryClient::new("localhost:8081"),
            Err(ClientError::BadUrl(_))
        ));
        assert!(SchemaRegistryClient::new("http://127.0.0.1:8081/").is_ok());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = SchemaRegistryClient::new("http://127.0.0.1:8081")
            .unwrap()
            .with_basic_auth("key", "s3cret");
        let text = format!("{c:?}");
        assert!(text.contains("key") && !text.contains("s3cret"), "{text}");
    }

    #[test]
    fn references_only_when_present() {
        assert!(schema_body("\"string\"", &[]).get("references").is_none());
        let r = SchemaReference {
            name: "weft.common.EventMetadata".into(),
            subject: "weft.common.EventMetadata".into(),
            version: 1,
        };
        assert_eq!(
            schema_body("\"string\"", &[r])["references"][0]["version"],
            1
        );
    }
}
