//! A Confluent-compatible schema registry (Avro).
//!
//! [`app`] is the axum router of Confluent's REST API over an [`AppState`]; [`serve`] binds it.
//! State is the fold of records (see [`model`]) kept by a [`Store`]: in memory
//! ([`AppState::default`]) or in a compacted Kafka topic. Registration enforces the subject's
//! compatibility level with [`compat`] (Avro schema resolution).
//!
//! Failure modes: every refused request answers Confluent's body `{"error_code": N, "message":
//! "..."}` with the HTTP status taken from the first three digits of the code (409 stays 409):
//! 40401 subject not found, 40402 version not found, 40403 schema not found, 40404 subject
//! soft-deleted, 40405 subject not soft-deleted before a permanent delete, 40406 version
//! soft-deleted, 40407 version not soft-deleted before a permanent delete, 40408/40409 no
//! subject-level config/mode, 409 incompatible schema (the message lists every reason), 42201
//! invalid schema, 42202 invalid version, 42203 invalid compatibility level, 42204 invalid mode,
//! 42205 operation not permitted by the mode, 50001 store failure (an unusable lock, a Kafka
//! write that did not come back). What never reaches a handler (an unknown route or method, a
//! path parameter that does not parse, an empty path segment, a body over the limit, a request
//! over its time) answers the same body with the HTTP status as its code ([`http`]); 40101 and
//! 40301 refuse unauthenticated and unauthorised requests ([`auth`]).
//!
//! [`serve_with`] adds what a production listener needs: TLS from PEM files, request limits and
//! users with roles ([`ServeOptions`]).

pub mod auth;
pub mod compat;
mod error;
mod handlers;
pub mod http;
pub mod kafka;
pub mod model;
mod routes;
mod server;
mod store;
mod tls;

pub use error::{AppError, RegistryError};
pub use routes::{app, app_with};
pub use server::{
    serve, serve_on, serve_state, serve_with, RegistryConfig, ServeOptions, TlsFiles,
};
pub use store::{AppState, Store};

/// The content type of every response.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The level used when none is configured.
pub const DEFAULT_LEVEL: &str = "BACKWARD";
/// The mode used when none is configured.
pub const DEFAULT_MODE: &str = "READWRITE";

#[cfg(test)]
mod tests;
