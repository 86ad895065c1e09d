//! The demo's checkout service on the transactional outbox (seed 000 section 3.2): an order row
//! and its `order.created` outbox row in one database transaction; `weft outbox relay` runs in
//! this process and publishes the row (its id is the event id, so the report follows it like any
//! other event). The demo waits for the row to be published before the payment event goes out,
//! as a payment follows its checkout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use apache_avro::Schema;
use serde_json::{Map, Value as Json};
use weft_core::kafka::KafkaConfig;
use weft_core::spec::SpecSet;
use weft_outbox::{db, Encoder, Relay, RelayMetrics, RelaySettings};
use weft_runtime::Out;

use super::DemoArgs;

/// The demo's order table, beside the outbox.
const CHECKOUT_TABLE: &str = "CREATE TABLE IF NOT EXISTS checkout_orders (
  order_id TEXT PRIMARY KEY,
  order_number TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  total NUMERIC(18, 4) NOT NULL,
  currency TEXT NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
)";

/// Envelope fields the checkout passes to the relay as row headers.
const PASSED: [&str; 9] = [
    "occurred_at",
    "producer",
    "correlation_id",
    "causation_id",
    "tenant_id",
    "user_id",
    "environment",
    "trace_id",
    "session_id",
];

/// The demo's schema.
const SCHEMA: &str = "weft_demo";

/// Drops and creates the demo's schema; returns `url` with its sessions in it.
pub async fn fresh_schema(url: &str) -> anyhow::Result<String> {
    let client = db::connect(url)
        .await
        .with_context(|| format!("the demo's database {url}"))?;
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}"
        ))
        .await
        .context("making the demo's schema")?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-csearch_path%3D{SCHEMA}"))
}

pub struct Outbox {
    client: tokio::sync::Mutex<tokio_postgres::Client>,
    relay: tokio::task::JoinHandle<weft_outbox::Result<()>>,
    stop: Arc<AtomicBool>,
    metrics: RelayMetrics,
    rows: std::sync::Mutex<Vec<uuid::Uuid>>,
}

impl Outbox {
    /// Creates the tables and starts the relay.
    pub async fn start(
        url: &str,
        kafka: &KafkaConfig,
        registry_url: &str,
        args: &DemoArgs,
        specs: &SpecSet,
        _shutdown: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let client = db::connect(url)
            .await
            .with_context(|| format!("the demo's database {url}"))?;
        db::migrate(&client).await?;
        client.batch_execute(CHECKOUT_TABLE).await?;
        let catalog = weft_contracts::Catalog::load(&args.avro_dir)?;
        let schemas = weft_runtime::schemas::RegistrySchemas::new(registry_url, false)?;
        let encoder = Encoder::new(
            specs.topics.clone(),
            catalog,
            Arc::new(schemas),
            "",
            Some("cypher"),
        );
        let settings = RelaySettings {
            database_url: url.to_string(),
            instance: "demo".into(),
            batch_size: 50,
            interval: Duration::from_millis(100),
            max_retries: 3,
            retry_backoff: Duration::from_secs(1),
            breaker_threshold: 5,
            breaker_timeout: Duration::from_secs(60),
            retention: Duration::from_secs(7 * 24 * 3600),
            topic_prefix: String::new(),
        };
        let metrics = RelayMetrics::new();
        let stop = Arc::new(AtomicBool::new(false));
        let relay = Relay::new(
            settings,
            kafka.clone(),
            encoder,
            metrics.clone(),
            stop.clone(),
        );
        let relay = tokio::spawn(async move { relay.run().await });
        println!("outbox:     schema {SCHEMA}, relay started (instance `demo`)");
        Ok(Outbox {
            client: tokio::sync::Mutex::new(client),
            relay,
            stop,
            metrics,
            rows: Default::default(),
        })
    }

    /// The checkout: the order row and the outbox row of `event` in one transaction; returns
    /// once the relay has published it.
    pub async fn checkout(&self, event: &Out, schema: &Schema, body: &[u8]) -> anyhow::Result<()> {
        let value = weft_contracts::codec::decode_value(schema, None, body)?;
        let json = weft_contracts::json::to_json(&value, schema);
        let payload = json["payload"].clone();
        let mut headers = Map::new();
        for field in PASSED {
            if let Some(Json::String(v)) = json["metadata"].get(field) {
                headers.insert(field.to_string(), Json::String(v.clone()));
            }
        }
        let m = event.metadata();
        let id: uuid::Uuid = m.event_id.parse().context("the event id is a UUID")?;
        let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
        let total: f64 = payload["totals"]["total"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO checkout_orders (order_id, order_number, customer_id, total, currency) \
             VALUES ($1, $2, $3, $4::float8::numeric, $5)",
            &[
                &text(&payload["order_id"]),
                &text(&payload["order_number"]),
                &text(&payload["customer_id"]),
                &total,
                &text(&payload["totals"]["currency"]),
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO outbox (id, event_type, event_version, payload, headers) \
             VALUES ($1, $2, 'v1', $3, $4)",
            &[&id, &m.event_type, &payload, &Json::Object(headers)],
        )
        .await?;
        tx.commit().await?;
        self.rows.lock().expect("rows lock").push(id);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let row = client
                .query_one(
                    "SELECT status, error_message FROM outbox WHERE id = $1",
                    &[&id],
                )
                .await?;
            let (status, error): (Option<String>, Option<String>) = (row.get(0), row.get(1));
            match status.as_deref() {
                Some("published") => return Ok(()),
                Some("failed") => bail!(
                    "the relay dead-lettered the checkout's outbox row {id}: {}",
                    error.unwrap_or_default()
                ),
                _ if Instant::now() > deadline => bail!(
                    "the relay did not publish the outbox row {id} within 30 s ({})",
                    error.unwrap_or_else(|| "no error recorded".into())
                ),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// What the outbox and the PostgreSQL sink hold for this run.
    pub async fn report(&self) -> anyhow::Result<()> {
        let rows = self.rows.lock().expect("rows lock").clone();
        let client = self.client.lock().await;
        let published: i64 = client
            .query_one(
                "SELECT count(*) FROM outbox WHERE id = ANY($1) AND status = 'published'",
                &[&rows],
            )
            .await?
            .get(0);
        let ids: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
        let docs: i64 = client
            .query_one(
                "SELECT count(*) FROM sink_documents WHERE sink = 'erp-orders' AND event_id = ANY($1)",
                &[&ids],
            )
            .await?
            .get(0);
        println!(
            "\n-- outbox (PostgreSQL)\n  checkout rows: {} written with their order, {published} published by \
             the relay ({} in all by it)\n  ERP sync: {docs} of them in sink_documents (erp-orders), \
             written with the consumed offsets in one transaction",
            rows.len(),
            self.metrics.published.get()
        );
        if published != rows.len() as i64 || docs != rows.len() as i64 {
            bail!(
                "the outbox published {published} and the ERP sync wrote {docs} of {} checkout rows",
                rows.len()
            );
        }
        Ok(())
    }

    /// Stops the relay after its batch in hand.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        self.relay
            .await
            .context("the relay task")?
            .map_err(|e| anyhow::anyhow!("the outbox relay: {e}"))
    }
}
