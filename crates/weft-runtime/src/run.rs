//! Starting processors: what `weft run <processor>` and `weft run --all` do.
//!
//! Each processor gets its own transaction loop on its own OS thread (its own consumer and
//! transactional producer, `transactional.id` = `<processor>-<instance>`), its retry tiers and
//! dead-letter topic from its group spec in `topics/groups/` (or the defaults), and the schemas of
//! `avro/` with ids from the registry. One health/metrics server serves the whole process.
//!
//! Failure modes: a processor whose output subjects are not registered (or not the schemas this
//! build writes) stops before consuming anything; when one loop stops with an error (a panic of
//! the processor function included), the others are asked to shut down cleanly and the first
//! error is returned (its exit code tells why); a loop whose thread ends without a result is an
//! error too ([`RuntimeError::LoopVanished`]), never a clean stop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::info;
use weft_contracts::Catalog;
use weft_core::kafka::KafkaConfig;
use weft_core::spec::{GroupSpec, SpecSet};

use crate::failure::FailurePolicy;
use crate::metrics::{self, Metrics};
use crate::migration::{self, Transform};
use crate::schemas::{RegistrySchemas, SchemaSource};
use crate::sink::{BufferedSinks, FileSinks, SinkStore, SinkWriter};
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
    /// HTTP basic credentials for the registry (user, password).
    pub registry_auth: Option<(String, String)>,
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
    /// Aborted transactions in a row after which a loop stops.
    pub max_consecutive_aborts: u32,
    /// See [`LoopSettings::fetch_stall_limit`].
    pub fetch_stall_limit: Duration,
    /// Static group membership (see [`LoopSettings::static_membership`]).
    pub static_membership: bool,
    /// Where health and metrics are served (`None`: not served).
    pub metrics_listen: Option<SocketAddr>,
    /// Set to ask every loop to finish its transaction and stop.
    pub shutdown: Arc<AtomicBool>,
    /// The metrics to record into (a fresh set when `None`); lets an embedding program read them.
    pub metrics: Option<Metrics>,
    /// Where sink processors write their documents (`<dir>/<sink>.jsonl`) when there is no
    /// `sink_store`: a development option (effectively once by event id, on the pod's disk).
    pub sink_dir: PathBuf,
    /// The store sink processors write into, with their positions (PostgreSQL): they run in
    /// the sink loop ([`crate::sink_loop`]), exactly once into the store.
    pub sink_store: Option<Arc<dyn SinkStore>>,
    /// Prepended to every contract topic (see [`TypedProcessor::with_topic_prefix`]); empty
    /// normally.
    pub topic_prefix: String,
    /// The registered migration transforms: a migration in dual write makes the processors
    /// that emit its old topic write both; a group cut over reads the new topic (see
    /// [`crate::migration`]).
    pub migrations: Vec<Arc<Transform>>,
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
    let schemas: Arc<dyn SchemaSource> = Arc::new(RegistrySchemas::with_auth(
        &settings.registry_url,
        settings.auto_register,
        settings
            .registry_auth
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str())),
    )?);
    let metrics = settings.metrics.clone().unwrap_or_default();
    let sinks: Arc<dyn SinkWriter> = Arc::new(FileSinks::new(&settings.sink_dir));
    if let Some(addr) = settings.metrics_listen {
        let bound = metrics::serve(addr, metrics.clone()).await?;
        info!("health and metrics on http://{bound}");
    }
    let prefix = settings.topic_prefix.as_str();
    let states = if settings.migrations.is_empty() {
        Default::default()
    } else {
        let control = format!("{prefix}{}", weft_core::migration::CONTROL_TOPIC);
        let kafka = kafka.clone();
        tokio::task::spawn_blocking(move || migration::read_states(&kafka, &control))
            .await
            .map_err(|e| RuntimeError::Config(format!("reading migration states: {e}")))??
    };
    let mut prepared = Vec::new();
    for processor in processors {
        let group = specs.group(processor.name());
        let mut outputs: Vec<String> = processor
            .outputs()
            .map(|(t, _)| format!("{prefix}{t}"))
            .collect();
        let inputs = migrated_inputs(&processor, &settings.migrations, &states)?;
        // A sink processor with a store runs in the sink loop, its lines buffered for it.
        let sink_loop = match (&settings.sink_store, processor.sink_names().is_empty()) {
            (Some(store), false) => Some((Arc::new(BufferedSinks::default()), store.clone())),
            _ => None,
        };
        let writer: Arc<dyn SinkWriter> = match &sink_loop {
            Some((buffer, _)) => buffer.clone(),
            None => sinks.clone(),
        };
        let mut typed = TypedProcessor::new(Arc::new(processor), &catalog, schemas.clone())?
            .with_metrics(metrics.clone())
            .with_topic_prefix(&settings.topic_prefix)
            .with_sinks(writer);
        let dual: Vec<Arc<Transform>> = settings
            .migrations
            .iter()
            .filter(|t| {
                states
                    .get(t.name())
                    .is_some_and(|s| s.phase == migration::DUAL_WRITE)
            })
            .cloned()
            .collect();
        let dual = typed.with_dual_writes(&dual, &catalog)?;
        outputs.extend(dual.iter().map(|t| format!("{prefix}{}", t.to())));
        let finished: Vec<Arc<Transform>> = settings
            .migrations
            .iter()
            .filter(|t| {
                states
                    .get(t.name())
                    .is_some_and(|s| s.phase == migration::FINISHED)
            })
            .cloned()
            .collect();
        for t in typed.with_retired_writes(&finished, &catalog)? {
            info!(
                "{}: {} is retired, writing {} only",
                typed.processor().name(),
                t.from(),
                t.to()
            );
            outputs.push(format!("{prefix}{}", t.to()));
        }
        // The registry client blocks: resolve off the async threads.
        let typed = tokio::task::spawn_blocking(move || typed.resolve_outputs().map(|()| typed))
            .await
            .map_err(|e| RuntimeError::Config(format!("resolving schemas: {e}")))??;
        let mut loop_settings = loop_settings(
            typed.processor(),
            &group,
            outputs,
            settings,
            metrics.clone(),
        );
        loop_settings.inputs = inputs.iter().map(|t| format!("{prefix}{t}")).collect();
        let mismatches = typed.processor().state_mismatches(&group);
        if !mismatches.is_empty() {
            return Err(RuntimeError::Config(mismatches.join("; ")));
        }
        if let Some(topic) = group.repartition_topic() {
            // Re-keyed inputs go out to it and come back from it.
            let topic = format!("{prefix}{topic}");
            loop_settings.inputs.push(topic.clone());
            loop_settings.outputs.push(topic);
        }
        loop_settings.changelogs = typed
            .processor()
            .store_names()
            .iter()
            .map(|s| (s.to_string(), typed.changelog_topic(s)))
            .collect();
        loop_settings.dual_writes = dual
            .iter()
            .map(|t| {
                (
                    format!("{prefix}{}", t.from()),
                    format!("{prefix}{}", weft_core::migration::mirror_group(t.name())),
                )
            })
            .collect();
        if !dual.is_empty() {
            info!(
                "{}: dual-writing {:?}",
                loop_settings.processor, loop_settings.dual_writes
            );
        }
        prepared.push((typed, loop_settings, sink_loop));
    }
    if settings.metrics_listen.is_some() || settings.metrics.is_some() {
        let watched = prepared
            .iter()
            .map(|(_, s, _)| crate::dlq_watch::Watched {
                processor: s.processor.clone(),
                group: s.group_id.clone(),
                topic: s.failure.dead_letter_topic.clone(),
            })
            .collect();
        crate::dlq_watch::spawn(
            kafka.clone(),
            watched,
            metrics.clone(),
            settings.shutdown.clone(),
        );
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut pending: std::collections::BTreeSet<String> = BTreeSet::new();
    for (mut typed, loop_settings, sink_loop) in prepared {
        let kafka = kafka.clone();
        let done = done_tx.clone();
        let shutdown = settings.shutdown.clone();
        pending.insert(loop_settings.processor.clone());
        std::thread::Builder::new()
            .name(loop_settings.processor.clone())
            .spawn(move || {
                // A panic in the loop's own machinery (the processor function's panics are
                // caught inside the loop) must still end the run with an error.
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match sink_loop {
                        Some((buffer, store)) => crate::sink_loop::run_sink_loop(
                            &kafka,
                            &loop_settings,
                            &mut typed,
                            buffer,
                            store,
                        ),
                        None => run_loop(&kafka, &loop_settings, &mut typed),
                    }))
                    .unwrap_or_else(|_| {
                        Err(RuntimeError::LoopVanished(loop_settings.processor.clone()))
                    });
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
        pending.remove(&name);
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
    // Every sender is gone: a loop that never reported has vanished.
    if let Some(name) = pending.into_iter().next() {
        first_error.get_or_insert(RuntimeError::LoopVanished(name));
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// The topics `processor` reads, migrations considered: of a migration's old and new topic it
/// reads the old one until its group is cut over, then the new one (which it must handle).
fn migrated_inputs(
    processor: &Processor,
    transforms: &[Arc<Transform>],
    states: &BTreeMap<String, migration::MigrationState>,
) -> Result<Vec<&'static str>, RuntimeError> {
    let mut inputs = processor.inputs();
    for t in transforms {
        // After `finish` every group reads the new topic (the old one is no longer written).
        let cut_over = states.get(t.name()).is_some_and(|s| {
            s.cut_over.contains_key(processor.name()) || s.phase == migration::FINISHED
        });
        let (reads, leaves) = if cut_over {
            (t.to(), t.from())
        } else {
            (t.from(), t.to())
        };
        let handles = |topic: &str| inputs.contains(&topic);
        if cut_over && handles(t.from()) && !handles(t.to()) {
            return Err(RuntimeError::Config(format!(
                "group {} is cut over to {} (migration {}) but this build of it has no handler \
                 for {}: deploy one that handles it, or roll the group back with `weft migrate \
                 rollback {} {}`",
                processor.name(),
                t.to(),
                t.name(),
                t.to(),
                t.name(),
                processor.name()
            )));
        }
        if handles(reads) {
            inputs.retain(|i| *i != leaves);
        }
    }
    Ok(inputs)
}

/// The loop settings of one processor. With a topic prefix everything it touches on the
/// cluster is in the prefix's namespace: input, output, retry and dead-letter topics, the
/// consumer group and so the transactional id, so a developer's run never joins production's
/// groups nor fences its producers.
fn loop_settings(
    processor: &Processor,
    group: &GroupSpec,
    outputs: Vec<String>,
    settings: &RunSettings,
    metrics: Metrics,
) -> LoopSettings {
    let prefix = settings.topic_prefix.as_str();
    let name = processor.name().to_string();
    let prefixed = |t: String| format!("{prefix}{t}");
    LoopSettings {
        processor: name.clone(),
        group_id: prefixed(name.clone()),
        inputs: processor
            .inputs()
            .into_iter()
            .map(|t| prefixed(t.to_string()))
            .collect(),
        outputs,
        instance_id: settings.instance_id.clone(),
        failure: FailurePolicy {
            processor: name,
            retry_tiers: group
                .retry
                .delays
                .iter()
                .copied()
                .zip(group.retry_topics().into_iter().map(prefixed))
                .collect(),
            dead_letter_topic: prefixed(group.dead_letter_topic()),
            parking_topic: group.parking_topic().map(prefixed),
        },
        breaker: settings.breaker,
        metrics: Some(metrics),
        max_batch: settings.max_batch,
        commit_interval: settings.commit_interval,
        max_retries: 5,
        max_consecutive_aborts: settings.max_consecutive_aborts,
        fetch_stall_limit: settings.fetch_stall_limit,
        dual_writes: Vec::new(),
        changelogs: Vec::new(),
        static_membership: settings.static_membership,
        shutdown: settings.shutdown.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(prefix: &str) -> RunSettings {
        RunSettings {
            instance_id: "pod-0".into(),
            registry_url: String::new(),
            registry_auth: None,
            auto_register: false,
            avro_dir: PathBuf::new(),
            topics_dir: PathBuf::new(),
            max_batch: 10_000,
            commit_interval: Duration::from_millis(100),
            breaker: BreakerSettings::default(),
            max_consecutive_aborts: 5,
            fetch_stall_limit: crate::fetch_guard::DEFAULT_LIMIT,
            static_membership: false,
            metrics_listen: None,
            shutdown: Arc::new(AtomicBool::new(false)),
            metrics: None,
            sink_dir: PathBuf::new(),
            sink_store: None,
            topic_prefix: prefix.into(),
            migrations: Vec::new(),
        }
    }

    #[test]
    fn a_topic_prefix_is_a_private_namespace() {
        let p = Processor::new("b2b.notification-worker")
            .on::<weft_contracts::b2b::order::OrderPlaced>(|_| Ok(vec![]));
        let group = GroupSpec::default_for("b2b.notification-worker");
        let s = loop_settings(&p, &group, vec![], &settings("dev-alice."), Metrics::new());
        assert_eq!(s.group_id, "dev-alice.b2b.notification-worker");
        assert_eq!(
            s.transactional_id(),
            "dev-alice.b2b.notification-worker-pod-0"
        );
        assert_eq!(s.inputs, ["dev-alice.b2b.order.placed.v1"]);
        assert_eq!(
            s.failure.dead_letter_topic,
            "dev-alice.b2b.notification-worker.dlq"
        );
        assert!(s
            .failure
            .retry_tiers
            .iter()
            .all(|(_, t)| t.starts_with("dev-alice.b2b.notification-worker.retry.")));
        // The processor keeps its name in headers and metrics.
        assert_eq!(s.processor, "b2b.notification-worker");
    }

    #[test]
    fn without_a_prefix_names_are_the_processors() {
        let p = Processor::new("b2b.notification-worker")
            .on::<weft_contracts::b2b::order::OrderPlaced>(|_| Ok(vec![]));
        let group = GroupSpec::default_for("b2b.notification-worker");
        let s = loop_settings(&p, &group, vec![], &settings(""), Metrics::new());
        assert_eq!(s.group_id, "b2b.notification-worker");
        assert_eq!(s.transactional_id(), "b2b.notification-worker-pod-0");
        assert_eq!(s.failure.dead_letter_topic, "b2b.notification-worker.dlq");
    }
}
