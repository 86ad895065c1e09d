//! What every request goes through around its handler ([`crate::app_with`]).
//!
//! - **Confluent's error body everywhere.** Handlers answer [`crate::AppError`]s; what never
//!   reaches a handler is normalised here: axum's rejections (a path parameter that does not
//!   parse, a duplicated query parameter, a body over the limit) answer text, an unmatched route
//!   or method an empty body. Every 4xx/5xx leaves as `{"error_code": <status>, "message": ...}`
//!   with the registry's content type; headers such as `Allow` are kept.
//! - **Empty path segments** (`/subjects//versions`) are refused with 404 before routing: a
//!   router would otherwise match them to a route with an empty subject and register under `""`.
//! - **Limits**: a request body over `max_body_bytes` answers 413 (axum's body limit), a request
//!   whose handler has not answered within `request_timeout` answers 408 (the handler is
//!   dropped; a registration it was writing either completed in the store or did not happen).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AppError, CONTENT_TYPE};

/// Limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest time a request may take.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

fn status_line(status: StatusCode) -> String {
    format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

/// Answers unmatched routes (see the module docs).
pub(crate) async fn not_found() -> AppError {
    AppError::new(404, status_line(StatusCode::NOT_FOUND))
}

/// The middleware of the module docs.
pub(crate) async fn guard(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    if req.uri().path().contains("//") {
        return AppError::new(
            404,
            format!(
                "{}: the path {} has an empty segment",
                status_line(StatusCode::NOT_FOUND),
                req.uri().path()
            ),
        )
        .into_response();
    }
    let response = match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            return AppError::new(
                408,
                format!(
                    "{}: no answer within {:?}",
                    status_line(StatusCode::REQUEST_TIMEOUT),
                    limits.request_timeout
                ),
            )
            .into_response()
        }
    };
    let status = response.status();
    let confluent = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == CONTENT_TYPE.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || confluent {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status_line(status)
    } else {
        format!("{}: {text}", status_line(status))
    };
    let body = serde_json::json!({"error_code": status.as_u16(), "message": message}).to_string();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
