//! Metrics and health of a processor process, served over HTTP by [`serve`]:
//!
//! - `GET /health/live`: 200 while the process runs;
//! - `GET /health/ready`: 200 once every loop of the process has partitions assigned and has
//!   caught up with the end offsets it saw at start, 503 before (a Kubernetes readiness probe);
//! - `GET /metrics`: Prometheus text format.
//!
//! Metric names (all prefixed `weft_`), labelled by `processor` and as listed:
//! `consumed_total{topic}`, `produced_total{topic}`, `retried_total{topic}`,
//! `dead_lettered_total{topic,class}`, `failures_by_tenant_total{tenant,class}`,
//! `processing_seconds` (per record), `commit_seconds` (per transaction),
//! `consumer_lag{topic,partition}`, `end_to_end_seconds{topic}` (now minus `occurred_at` when
//! the event is processed), `sla_breaches_total{topic}` (end-to-end latency over the topic's SLA),
//! `transactions_total{outcome}`, `processed_by_tenant_total{tenant}` (every decoded input),
//! `sla_breaches_by_tenant_total{tenant}`, `circuit_breaker_dead_letter_ratio` (the share the
//! breaker compares with its ratio; 0 until it has its minimum sample),
//! `dlq_oldest_unhandled_age_seconds{topic}` (age of the oldest dead letter after the
//! `<group>.dlq-handled` group's committed offset, 0 when none; see [`crate::dlq_watch`]).
//!
//! Tenant ids come from producers: a process labels at most [`MAX_TENANTS`] distinct tenants
//! (64 characters each), the rest as `other`, so a flood of ids cannot exhaust memory.
//!
//! A metrics server that cannot bind its address is a configuration error at start; metrics
//! never fail processing.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::RuntimeError;

/// Every metric of one process. Cheap to clone (an `Arc` inside each metric).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub consumed: IntCounterVec,
    pub produced: IntCounterVec,
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub failures_by_tenant: IntCounterVec,
    pub processing: HistogramVec,
    pub commit: HistogramVec,
    pub lag: IntGaugeVec,
    pub end_to_end: HistogramVec,
    pub sla_breaches: IntCounterVec,
    pub transactions: IntCounterVec,
    pub redelivered_skipped: IntCounterVec,
    pub processed_by_tenant: IntCounterVec,
    pub sla_breaches_by_tenant: IntCounterVec,
    pub breaker_ratio: GaugeVec,
    pub dlq_oldest_unhandled_age: GaugeVec,
    /// Keyed state: changelog records read by restores, restore durations, partitions being
    /// restored, keys per store and partition.
    pub state_restored: IntCounterVec,
    pub state_restore_seconds: HistogramVec,
    pub state_restoring: IntGaugeVec,
    pub state_keys: IntGaugeVec,
    tenants: Arc<Mutex<HashSet<String>>>,
    loops: Arc<AtomicUsize>,
    ready: Arc<AtomicUsize>,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn int_gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

/// Distinct tenant labels a process keeps; further tenants are counted as `other`.
pub const MAX_TENANTS: usize = 100;

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0,
    ];
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Self {
        let r = Registry::new_custom(Some("weft".into()), None).expect("valid prefix");
        let lag = IntGaugeVec::new(
            Opts::new(
                "consumer_lag",
                "Records between the consumer's position and the end",
            ),
            &["processor", "topic", "partition"],
        )
        .expect("valid metric");
        r.register(Box::new(lag.clone())).expect("unique metric");
        Metrics {
            consumed: counter(
                &r,
                "consumed_total",
                "Records consumed",
                &["processor", "topic"],
            ),
            produced: counter(
                &r,
                "produced_total",
                "Records produced",
                &["processor", "topic"],
            ),
            retried: counter(
                &r,
                "retried_total",
                "Records sent to a retry topic",
                &["processor", "topic"],
            ),
            dead_lettered: counter(
                &r,
                "dead_lettered_total",
                "Records sent to the dead-letter topic",
                &["processor", "topic", "class"],
            ),
            failures_by_tenant: counter(
                &r,
                "failures_by_tenant_total",
                "Failed events by tenant",
                &["processor", "tenant", "class"],
            ),
            processing: histogram(
                &r,
                "processing_seconds",
                "Time to process one record",
                &["processor"],
            ),
            commit: histogram(
                &r,
                "commit_seconds",
                "Time to commit one transaction",
                &["processor"],
            ),
            end_to_end: histogram(
                &r,
                "end_to_end_seconds",
                "Now minus the event's occurred_at, when processed",
                &["processor", "topic"],
            ),
            sla_breaches: counter(
                &r,
                "sla_breaches_total",
                "Events processed later than their topic's SLA",
                &["processor", "topic"],
            ),
            transactions: counter(
                &r,
                "transactions_total",
                "Transactions by outcome",
                &["processor", "outcome"],
            ),
            redelivered_skipped: counter(
                &r,
                "redelivered_skipped_total",
                "Records the client handed out again below what this process had already handled, skipped",
                &["processor", "topic"],
            ),
            processed_by_tenant: counter(
                &r,
                "processed_by_tenant_total",
                "Decoded input events by tenant",
                &["processor", "tenant"],
            ),
            sla_breaches_by_tenant: counter(
                &r,
                "sla_breaches_by_tenant_total",
                "Events processed later than their topic's SLA, by tenant",
                &["processor", "tenant"],
            ),
            breaker_ratio: gauge(
                &r,
                "circuit_breaker_dead_letter_ratio",
                "Share of dead letters among the circuit breaker's last inputs",
                &["processor"],
            ),
            dlq_oldest_unhandled_age: gauge(
                &r,
                "dlq_oldest_unhandled_age_seconds",
                "Age of the oldest dead letter not marked handled, 0 when none",
                &["processor", "topic"],
            ),
            state_restored: counter(
                &r,
                "state_restored_records_total",
                "Changelog records read while restoring keyed stores",
                &["processor", "store"],
            ),
            state_restore_seconds: histogram(
                &r,
                "state_restore_seconds",
                "Time to restore the stores of newly assigned partitions",
                &["processor"],
            ),
            state_restoring: int_gauge(
                &r,
                "state_restoring_partitions",
                "Partitions whose stores are being restored (not processed meanwhile)",
                &["processor"],
            ),
            state_keys: int_gauge(
                &r,
                "state_keys",
                "Keys in a keyed store, per partition this process owns",
                &["processor", "store", "partition"],
            ),
            tenants: Arc::new(Mutex::new(HashSet::new())),
            lag,
            registry: r,
            loops: Arc::new(AtomicUsize::new(0)),
            ready: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The label of `tenant`: `none` without one, its first 64 characters for the first
    /// [`MAX_TENANTS`] distinct tenants seen, `other` after that.
    pub fn tenant_label(&self, tenant: Option<&str>) -> String {
        let Some(t) = tenant.filter(|t| !t.is_empty()) else {
            return "none".into();
        };
        let t: String = t.chars().take(64).collect();
        let mut known = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(&t) {
            return t;
        }
        if known.len() < MAX_TENANTS {
            known.insert(t.clone());
            return t;
        }
        "other".into()
    }

    /// Registers one more loop that must become ready before the process is.
    pub fn add_loop(&self) {
        self.loops.fetch_add(1, Ordering::SeqCst);
    }

    /// One loop became ready (assigned and caught up).
    pub fn loop_ready(&self) {
        self.ready.fetch_add(1, Ordering::SeqCst);
    }

    /// One loop stopped being ready (restoring the stores of new partitions).
    pub fn loop_not_ready(&self) {
        self.ready.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether every registered loop is ready.
    pub fn is_ready(&self) -> bool {
        let loops = self.loops.load(Ordering::SeqCst);
        loops > 0 && self.ready.load(Ordering::SeqCst) >= loops
    }

    /// Records consumed so far by `processor`'s loops, over all topics.
    pub fn consumed_by(&self, processor: &str) -> u64 {
        self.registry
            .gather()
            .iter()
            .filter(|f| f.name() == "weft_consumed_total")
            .flat_map(|f| f.get_metric())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "processor" && l.value() == processor)
            })
            .map(|m| m.get_counter().value() as u64)
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The health and metrics routes.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "live\n" }))
        .route(
            "/health/ready",
            get(|State(m): State<Metrics>| async move {
                if m.is_ready() {
                    (StatusCode::OK, "ready\n")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: assigning or catching up\n",
                    )
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(m): State<Metrics>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    m.render(),
                )
                    .into_response()
            }),
        )
        .with_state(metrics)
}

/// Binds `addr` and serves [`router`] until the process ends. Returns the bound address (useful
/// with port 0).
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> Result<SocketAddr, RuntimeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| RuntimeError::Config(format!("cannot serve metrics on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| RuntimeError::Config(format!("metrics listener: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics)).await {
            tracing::error!("metrics server stopped: {e}");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_labels_are_bounded() {
        let m = Metrics::new();
        assert_eq!(m.tenant_label(None), "none");
        assert_eq!(m.tenant_label(Some("")), "none");
        assert_eq!(m.tenant_label(Some(&"x".repeat(100))), "x".repeat(64));
        for i in 1..MAX_TENANTS {
            assert_eq!(m.tenant_label(Some(&format!("t{i}"))), format!("t{i}"));
        }
        assert_eq!(m.tenant_label(Some("one-too-many")), "other");
        assert_eq!(
            m.tenant_label(Some("t1")),
            "t1",
            "known tenants keep their label"
        );
    }
}
