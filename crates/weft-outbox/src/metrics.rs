//! The relay's health endpoints and Prometheus metrics (`/health/live`, `/health/ready`,
//! `/metrics`), the same paths as `weft run`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::error::{OutboxError, Result};

/// The relay's metrics; cheap to clone.
#[derive(Clone)]
pub struct RelayMetrics {
    registry: Registry,
    /// Rows published to their topics.
    pub published: IntCounter,
    /// Rows dead-lettered after `max_retries` failed attempts.
    pub dead_lettered: IntCounter,
    /// Failed attempts of rows (each recorded in `error_message`).
    pub failures: IntCounter,
    /// Batches by outcome: committed, aborted.
    pub batches: IntCounterVec,
    /// Rows settled at a session's start or a takeover, by outcome (published, dead, pending).
    pub reconciled: IntCounterVec,
    /// Rows pending or being published.
    pub backlog: IntGauge,
    /// Age of the oldest row not yet published, in seconds.
    pub oldest_pending: Gauge,
    /// 1 while the circuit breaker is open (Kafka failing).
    pub circuit_open: IntGauge,
    ready: Arc<AtomicBool>,
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RelayMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("metric");
            registry.register(Box::new(c.clone())).expect("register");
            c
        };
        let published = counter(
            "weft_outbox_published_total",
            "Outbox rows published to Kafka",
        );
        let dead_lettered = counter(
            "weft_outbox_dead_lettered_total",
            "Outbox rows sent to the dead-letter topic after their last attempt",
        );
        let failures = counter(
            "weft_outbox_failures_total",
            "Failed attempts to publish an outbox row (unknown type, payload not fitting)",
        );
        let batches = IntCounterVec::new(
            Opts::new("weft_outbox_batches_total", "Relay batches by outcome"),
            &["outcome"],
        )
        .expect("metric");
        registry
            .register(Box::new(batches.clone()))
            .expect("register");
        let reconciled = IntCounterVec::new(
            Opts::new(
                "weft_outbox_reconciled_rows_total",
                "Claimed rows settled from the ledger after a restart or a takeover",
            ),
            &["outcome"],
        )
        .expect("metric");
        registry
            .register(Box::new(reconciled.clone()))
            .expect("register");
        let backlog = IntGauge::new("weft_outbox_backlog_rows", "Outbox rows not yet published")
            .expect("metric");
        registry
            .register(Box::new(backlog.clone()))
            .expect("register");
        let oldest_pending = Gauge::new(
            "weft_outbox_oldest_pending_seconds",
            "Age of the oldest outbox row not yet published",
        )
        .expect("metric");
        registry
            .register(Box::new(oldest_pending.clone()))
            .expect("register");
        let circuit_open = IntGauge::new(
            "weft_outbox_circuit_open",
            "1 while the relay's circuit breaker is open",
        )
        .expect("metric");
        registry
            .register(Box::new(circuit_open.clone()))
            .expect("register");
        RelayMetrics {
            registry,
            published,
            dead_lettered,
            failures,
            batches,
            reconciled,
            backlog,
            oldest_pending,
            circuit_open,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Ready: connected, reconciled, circuit closed.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

fn router(metrics: RelayMetrics) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "live\n" }))
        .route(
            "/health/ready",
            get(|State(m): State<RelayMetrics>| async move {
                if m.is_ready() {
                    (StatusCode::OK, "ready\n")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: connecting, reconciling, or circuit open\n",
                    )
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(m): State<RelayMetrics>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    m.render(),
                )
                    .into_response()
            }),
        )
        .with_state(metrics)
}

/// Serves the endpoints on `addr`; returns the bound address.
pub async fn serve(addr: SocketAddr, metrics: RelayMetrics) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| OutboxError::Config(format!("cannot serve metrics on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| OutboxError::Config(format!("metrics listener: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics)).await {
            tracing::error!("metrics server stopped: {e}");
        }
    });
    Ok(bound)
}
