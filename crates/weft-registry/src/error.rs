//! The crate's errors: [`RegistryError`] (a listen address that cannot be bound, a server that
//! fails, unusable TLS files) and [`AppError`], a refused request answered in Confluent's body with
//! the HTTP status taken from its code (500 when the code names no status).

use std::net::SocketAddr;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::CONTENT_TYPE;

/// Failures of the registry library.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The listen address could not be bound or the server failed.
    #[error("The registry could not serve on {addr}: {source}.")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// An error answered in Confluent's wire format.
#[derive(Debug)]
pub struct AppError {
    code: u32,
    message: String,
}

impl AppError {
    pub(crate) fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub(crate) fn store() -> Self {
        Self::new(50001, "Error in the backend data store")
    }
    pub(crate) fn subject_not_found(s: &str) -> Self {
        Self::new(40401, format!("Subject '{s}' not found."))
    }
    pub(crate) fn version_not_found(s: &str, v: &str) -> Self {
        Self::new(40402, format!("Version {v} not found for subject '{s}'."))
    }
    pub(crate) fn schema_not_found() -> Self {
        Self::new(40403, "Schema not found")
    }
    pub(crate) fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(42205, message)
    }
    /// Confluent's error code.
    pub fn code(&self) -> u32 {
        self.code
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (error_code {})", self.message, self.code)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16((self.code / 100) as u16)
            .ok()
            .filter(|_| self.code >= 10000)
            .or_else(|| StatusCode::from_u16(self.code as u16).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        tracing::info!(error_code = self.code, message = %self.message, "registry request failed");
        reply(
            status,
            json!({"error_code": self.code, "message": self.message}),
        )
    }
}

pub(crate) fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}
