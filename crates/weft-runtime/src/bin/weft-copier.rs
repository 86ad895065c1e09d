//! `weft-copier`: a transactional copy processor on the record-level runtime, used by the
//! exactly-once tests (run as several OS processes, SIGKILLed and restarted) and as a workload.
//!
//! Env: `WEFT_BOOTSTRAP_SERVERS`, `WEFT_COPIER_INPUT`, `WEFT_COPIER_OUTPUT`, `WEFT_GROUP_ID`,
//! `WEFT_INSTANCE_ID`, `WEFT_DLQ_TOPIC`, `WEFT_COMMIT_INTERVAL_MS` (default 100),
//! `WEFT_MAX_BATCH` (default 500), `WEFT_COPIER_DELAY_US` (work per record, default 0),
//! `WEFT_MAX_CONSECUTIVE_ABORTS` (default 5), `WEFT_RETRY_TOPIC` (one 1 s retry tier, default
//! none), `WEFT_PARKING_TOPIC` (per-key ordering across retries, default off), `WEFT_KAFKA_OPTIONS` (raw librdkafka key=value, comma-separated). Records whose value (after any `copied:` prefixes) does not start with `evt:` or contains
//! `:poison` are poison; those containing `:transient` fail
//! transiently on their first attempt and succeed on their retry. Exit codes: 0 after SIGTERM/SIGINT, otherwise `RuntimeError::exit_code`.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use weft_core::kafka::KafkaConfig;
use weft_runtime::{
    run_loop, BreakerSettings, FailurePolicy, LoopSettings, Output, ProcessError, Record,
    RecordProcessor,
};

struct Copier {
    output: String,
    /// Work per record (`WEFT_COPIER_DELAY_US`): slows the copier down so that rebalances and
    /// kills land in the middle of open transactions, as they do with real processing.
    delay: Duration,
}

impl RecordProcessor for Copier {
    fn process(&mut self, record: &Record<'_>) -> Result<Vec<Output>, ProcessError> {
        let value = record.value.unwrap_or_default();
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        // A copy of a copy (a chained copier's input) is checked by what it copies.
        let mut body = value;
        while let Some(rest) = body.strip_prefix(b"copied:".as_slice()) {
            body = rest;
        }
        if !body.starts_with(b"evt:") {
            return Err(ProcessError::Poison(
                "value does not start with `evt:`".into(),
            ));
        }
        if value.windows(7).any(|w| w == b":poison") {
            return Err(ProcessError::Poison("the event is marked poison".into()));
        }
        if value.windows(10).any(|w| w == b":transient")
            && weft_runtime::failure::previous_attempts(record) == 0
        {
            return Err(ProcessError::Transient(
                "the event is marked transient: it succeeds on its retry".into(),
            ));
        }
        let mut copied = b"copied:".to_vec();
        copied.extend_from_slice(value);
        Ok(vec![Output {
            topic: self.output.clone(),
            key: record.key.map(<[u8]>::to_vec),
            value: copied,
            headers: vec![],
            partition: None,
        }])
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn settings() -> Result<(KafkaConfig, LoopSettings, Copier), String> {
    let mut kafka = KafkaConfig::with_bootstrap(
        &std::env::var("WEFT_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
    );
    if let Ok(raw) = std::env::var("WEFT_KAFKA_OPTIONS") {
        kafka.options = KafkaConfig::parse_options(&raw).map_err(|e| e.to_string())?;
    }
    let number = |name: &str, default: u64| -> Result<u64, String> {
        std::env::var(name)
            .ok()
            .map(|v| v.parse().map_err(|e| format!("{name}=`{v}`: {e}")))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, shutdown.clone()).map_err(|e| e.to_string())?;
    }
    let loop_settings = LoopSettings {
        processor: "weft-copier".into(),
        group_id: env("WEFT_GROUP_ID")?,
        inputs: vec![env("WEFT_COPIER_INPUT")?],
        outputs: vec![env("WEFT_COPIER_OUTPUT")?],
        instance_id: env("WEFT_INSTANCE_ID")?,
        failure: FailurePolicy {
            processor: "weft-copier".into(),
            retry_tiers: match std::env::var("WEFT_RETRY_TOPIC") {
                Ok(topic) if !topic.is_empty() => vec![(Duration::from_secs(1), topic)],
                _ => vec![],
            },
            dead_letter_topic: env("WEFT_DLQ_TOPIC")?,
            parking_topic: std::env::var("WEFT_PARKING_TOPIC")
                .ok()
                .filter(|t| !t.is_empty()),
        },
        breaker: BreakerSettings::default(),
        metrics: None,
        max_batch: number("WEFT_MAX_BATCH", 500)? as usize,
        commit_interval: Duration::from_millis(number("WEFT_COMMIT_INTERVAL_MS", 100)?),
        max_retries: 5,
        max_consecutive_aborts: number("WEFT_MAX_CONSECUTIVE_ABORTS", 5)? as u32,
        fetch_stall_limit: Duration::from_secs(number("WEFT_FETCH_STALL_TIMEOUT_S", 60)?),
        dual_writes: Vec::new(),
        changelogs: Vec::new(),
        static_membership: number("WEFT_STATIC_MEMBERSHIP", 0)? == 1,
        shutdown,
    };
    let copier = Copier {
        output: env("WEFT_COPIER_OUTPUT")?,
        delay: Duration::from_micros(number("WEFT_COPIER_DELAY_US", 0)?),
    };
    Ok((kafka, loop_settings, copier))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let (kafka, settings, mut copier) = match settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match run_loop(&kafka, &settings, &mut copier) {
        Ok(stats) => {
            eprintln!("weft-copier: stopped cleanly: {stats:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
