//! The `weft` command line. Each subcommand is parsed by clap here and turned into a typed
//! request for a library crate; no library depends on clap.
//!
//! Exit codes (documented in README.md): 0 success, 1 error, 2 usage error (clap or a bad flag
//! value), 3 drift found by a check (`weft topics check`, `weft schemas check`, `weft schemas
//! register` rejected as incompatible), 4 a value does not fit its schema (`weft produce`),
//! 5 refused (`weft offsets reset` on an active group), 6 nothing found (`weft trace`).

mod args;
mod bench;
mod console;
mod demo;
mod migrate;
mod offsets;
mod outbox;
mod registry;
mod run;
mod schemas;
mod topics;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use args::KafkaArgs;

/// Caps glibc's malloc arenas at two, unless the user set them (`MALLOC_ARENA_MAX`, or
/// `glibc.malloc.arena_max` in `GLIBC_TUNABLES`: glibc has read those already).
///
/// glibc gives threads that allocate at the same time arenas of their own (up to eight per
/// core) and keeps what is freed in them. librdkafka's broker threads allocate the fetched
/// records that the processing thread frees, so a replica's memory grew by arenas it did not
/// use again: two arenas took `weft bench`'s processor from 71-72 to 62 MB peak RSS at the same
/// throughput (12 MiB prefetch; docs/performance.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn bound_malloc_arenas() {
    let tuned = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max"));
    if !tuned {
        // SAFETY: mallopt only sets an allocator parameter; it runs first in main, before any
        // thread of this process exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_arenas() {}

/// Exit code of a check that found drift.
pub const EXIT_DRIFT: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "weft",
    version,
    about = "Kafka-native stream processing for ERP event systems"
)]
struct Cli {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Topics as code: plan, apply and check `topics/` against the cluster.
    Topics(topics::TopicsArgs),
    /// Benchmark: weft against a raw pipe and Kafka Streams (EOS and ALOS), same broker, same data.
    Bench(bench::BenchArgs),
    /// The raw at-least-once pipe of `weft bench`, as its own process.
    #[command(hide = true)]
    BenchPipe(bench::PipeArgs),
    /// Benchmark of keyed state: a stateful 1:1 pipeline against its stateless twin, and the
    /// restore rate of a changelog against a plain read of it.
    BenchState(bench::state::StateBenchArgs),
    /// One system of `weft bench-state`, as its own process.
    #[command(hide = true)]
    BenchStateWorker(bench::state::StateWorkerArgs),
    /// Benchmark of the outbox relay: a backlog drained against a plain read-and-produce
    /// baseline, and insert-to-visible latency at a steady rate.
    BenchOutbox(bench::outbox::OutboxBenchArgs),
    /// The baseline of `weft bench-outbox`, as its own process.
    #[command(hide = true)]
    BenchOutboxBaseline(bench::outbox::BaselineArgs),
    /// Run registered processors (exactly-once loops, retries, dead letters, metrics).
    Run(run::RunArgs),
    /// The main job: provision topics, produce and consume keyed events end to end, report.
    Demo(demo::DemoArgs),
    /// Avro contracts: lint, check against a git ref, register with the schema registry.
    Schemas(schemas::SchemasArgs),
    /// The schema registry: `weft registry serve` (Confluent-compatible, Kafka-backed).
    Registry(registry::RegistryArgs),
    /// Read topics with values decoded to JSON (Avro through the registry), filtered.
    #[command(visible_alias = "tail")]
    Consume(console::ConsumeArgs),
    /// Encode JSON values as Avro under `<topic>-value` (envelope filled, validated) and send them.
    Produce(console::ProduceArgs),
    /// Dead letters: list with counts, show with error headers, replay a selection.
    Dlq(console::DlqArgs),
    /// Consumer lag per group and partition, oldest unconsumed record against the topic's SLA.
    Lag(console::LagArgs),
    /// Reset a group's committed offsets (refused while the group has active members).
    Offsets(console::OffsetsArgs),
    /// The causation tree of a flow, from an event id or a correlation id, across topics.
    Trace(console::TraceArgs),
    /// Topic migrations (v1 -> v2): plan, start, mirror (backfill), status, cutover, rollback.
    Migrate(migrate::MigrateArgs),
    /// The transactional outbox: migrate the table, relay rows to Kafka exactly once, status.
    Outbox(outbox::OutboxArgs),
}

/// Outcome of a subcommand that can end in something other than plain success.
pub(crate) enum Outcome {
    Ok,
    Drift,
    /// Exit with this code (the error was already printed).
    Exit(u8),
}

/// Writes to stdout; a reader that went away (`weft topics plan | head`) ends output quietly
/// instead of panicking.
pub(crate) fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Logs to stderr filtered by `WEFT_LOG` (default `warn`), and, when an OTLP endpoint is set in
/// the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (OTLP over
/// HTTP/protobuf), exports the per-event processing spans (`weft::process`, children of the
/// producers' `traceparent`) with service name `OTEL_SERVICE_NAME` (default `weft`). Off otherwise.
fn init_tracing() -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let endpoint = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|e| !e.is_empty()));
    if !endpoint {
        tracing_subscriber::registry().with(fmt).init();
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "weft".into());
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("weft"))
        .with_filter(
            tracing_subscriber::filter::Targets::new().with_target("weft", tracing::Level::INFO),
        );
    tracing_subscriber::registry().with(fmt).with(otel).init();
    Ok(Some(provider))
}

/// Parses the command line, runs the subcommand, and maps its result to an exit code.
pub fn main() -> ExitCode {
    bound_malloc_arenas();
    let cli = Cli::parse();
    let tracer = match init_tracing() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let kafka = cli.kafka.to_config()?;
        match cli.command {
            Command::Topics(args) => topics::run(args, &kafka).await,
            Command::Demo(args) => demo::run(args, &kafka).await,
            Command::Run(args) => run::run(args, &kafka).await,
            Command::Bench(args) => bench::run(args, &kafka).await,
            Command::BenchPipe(args) => bench::pipe(args, &kafka).await,
            Command::BenchState(args) => bench::state::run(args, &kafka).await,
            Command::BenchStateWorker(args) => bench::state::worker(args, &kafka).await,
            Command::BenchOutbox(args) => bench::outbox::run(args, &kafka).await,
            Command::BenchOutboxBaseline(args) => bench::outbox::baseline(args, &kafka).await,
            Command::Schemas(args) => schemas::run(args).await,
            Command::Registry(args) => registry::run(args, &kafka).await,
            Command::Consume(args) => console::consume(args, &kafka).await,
            Command::Produce(args) => console::produce(args, &kafka).await,
            Command::Dlq(args) => console::dlq(args, &kafka).await,
            Command::Lag(args) => console::lag(args, &kafka).await,
            Command::Offsets(args) => console::offsets(args, &kafka).await,
            Command::Trace(args) => console::trace(args, &kafka).await,
            Command::Migrate(args) => migrate::run(args, &kafka).await,
            Command::Outbox(args) => outbox::run(args, &kafka).await,
        }
    });
    if let Some(provider) = tracer {
        // Flush the spans still batched.
        let _ = provider.shutdown();
    }
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Drift) => ExitCode::from(EXIT_DRIFT),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<weft_console::ConsoleError>() {
                Some(c) => ExitCode::from(c.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}
