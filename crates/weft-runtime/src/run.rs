//! Starting processors: what `weft run <processor>` and `weft run --all` do.
//!
//! Each processor gets its own transaction loop on its own OS thread (its own consumer and
//! transactional producer, `transactional.id` = `<processor>-<instance>`), its retry tiers and
//! dead-letter topic from its group spec in `topics/groups/` (or the defaults), and the schemas of
//! `avro/` with ids from the registry. One health/metrics server serves the whole process.
//!
//! Failure modes: a processor whose output subjects are not registered (or not the schemas this
//! build writes) stops before consuming anything; when one loop stops with an error, the others
//! are asked to shut down cleanly and the first error is returned (its exit code tells why).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::info;
use weft_contracts::Catalog;
use weft_core::kafka::KafkaConfig;
use weft_core::spec::SpecSet;

use crate::failure::FailurePolicy;
use crate::metrics::{self, Metrics};
use crate::schemas::{RegistrySchemas, SchemaSource};
use crate::sink::{FileSinks, SinkWriter};
use crate::txn_loop::{run_loop, BreakerSettings, LoopSettings, LoopStats};
use crate::typed::{Processor, TypedProcessor};
use crate::RuntimeError;

/// How processors run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Stable instance identity (pod name or ordinal).
    pub instance_id: String,
    /// Schema registry URL.
    pub registry_url: String,
    /// Register missing output schemas instead of failing.
    pub auto_register: bool,
    /// The Avro schemas (`avro/`).
    pub avro_dir: PathBuf,
    /// The topic and group specs (`topics/`).
    pub topics_dir: PathBuf,
    /// Records per transaction at most.
    pub max_batch: usize,
    /// Time per transaction at most.
    pub commit_interval: Duration,
    /// The dead-letter circuit breaker.
    pub breaker: BreakerSettings,
    /// Where health and metrics are served (`None`: not served).
    pub metrics_listen: Option<SocketAddr>,
    /// Set to ask every loop to finish its transaction and stop.
    pub shutdown: Arc<AtomicBool>,
    /// The metrics to record into (a fresh set when `None`); lets an embedding program read them.
    pub metrics: Option<Metrics>,
    /// Where sink processors write their documents (`<dir>/<sink>.jsonl`).
    pub sink_dir: PathBuf,
    /// Prepended to every contract topic (see [`TypedProcessor::with_topic_prefix`]); empty
    /// normally.
    pub topic_prefix: String,
}

/// Runs `processors` until shutdown (`Ok` with each loop's counters) or the first error.
pub async fn run_processors(
    kafka: &KafkaConfig,
    processors: Vec<Processor>,
    settings: &RunSettings,
) -> Result<Vec<(String, LoopStats)>, RuntimeError> {
    if processors.is_empty() {
        return Err(RuntimeError::Config("no processor to run".into()));
    }
    let catalog = Catalog::load(&settings.avro_dir).map_err(|e| {
        RuntimeError::Config(format!(
            "loading schemas from {}: {e}",
            settings.avro_dir.display()
        ))
    })?;
    let specs = SpecSet::load(&settings.topics_dir).map_err(|e| {
        RuntimeError::Config(format!(
            "loading specs from {}: {e}",
            settings.topics_dir.display()
        ))
    })?;
    let schemas: Arc<dyn SchemaSource> = Arc::new(RegistrySchemas::new(
        &settings.registry_url,
        settings.auto_register,
    )?);
    let metrics = settings.metrics.clone().unwrap_or_default();
    let sinks: Arc<dyn SinkWriter> = Arc::new(FileSinks::new(&settings.sink_dir));
    if let Some(addr) = settings.metrics_listen {
        let bound = metrics::serve(addr, metrics.clone()).await?;
        info!("health and metrics on http://{bound}");
    }
    let mut prepared = Vec::new();
    for processor in processors {
        let group = specs.group(processor.name());
        let inputs = processor
            .inputs()
            .iter()
            .map(|t| format!("{}{t}", settings.topic_prefix))
            .collect();
        let typed = TypedProcessor::new(Arc::new(processor), &catalog, schemas.clone())?
            .with_metrics(metrics.clone())
            .with_topic_prefix(&settings.topic_prefix)
            .with_sinks(sinks.clone());
        // The registry client blocks: resolve off the async threads.
        let typed = tokio::task::spawn_blocking(move || typed.resolve_outputs().map(|()| typed))
            .await
            .map_err(|e| RuntimeError::Config(format!("resolving schemas: {e}")))??;
        let name = typed.processor().name().to_string();
        let loop_settings = LoopSettings {
            processor: name.clone(),
            group_id: name.clone(),
            inputs,
            instance_id: settings.instance_id.clone(),
            failure: FailurePolicy {
                processor: name.clone(),
                retry_tiers: group
                    .retry
                    .delays
                    .iter()
                    .copied()
                    .zip(group.retry_topics())
                    .collect(),
                dead_letter_topic: group.dead_letter_topic(),
            },
            breaker: settings.breaker,
            metrics: Some(metrics.clone()),
            max_batch: settings.max_batch,
            commit_interval: settings.commit_interval,
            max_retries: 5,
            shutdown: settings.shutdown.clone(),
        };
        prepared.push((typed, loop_settings));
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for (mut typed, loop_settings) in prepared {
        let kafka = kafka.clone();
        let done = done_tx.clone();
        let shutdown = settings.shutdown.clone();
        std::thread::Builder::new()
            .name(loop_settings.processor.clone())
            .spawn(move || {
                let result = run_loop(&kafka, &loop_settings, &mut typed);
                if result.is_err() {
                    // One processor down: let the others finish cleanly.
                    shutdown.store(true, Ordering::SeqCst);
                }
                let _ = done.send((loop_settings.processor, result));
            })
            .map_err(|e| RuntimeError::Config(format!("cannot start a loop thread: {e}")))?;
    }
    drop(done_tx);
    let mut stats = Vec::new();
    let mut first_error = None;
    while let Some((name, result)) = done_rx.recv().await {
        match result {
            Ok(s) => {
                info!("{name} stopped cleanly: {s:?}");
                stats.push((name, s));
            }
            Err(e) => {
                tracing::error!("{name} stopped: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}
