//! The `weft` command line. Each subcommand is parsed by clap here and turned into a typed
//! request for a library crate; no library depends on clap.
//!
//! Exit codes (documented in README.md): 0 success, 1 error, 2 usage error (clap), 3 drift found
//! by a check (`weft topics check`, `weft schemas check`, `weft schemas register` rejected as
//! incompatible).

mod args;
mod bench;
mod demo;
mod offsets;
mod registry;
mod run;
mod schemas;
mod topics;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use args::KafkaArgs;

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
    /// Benchmark: weft's exactly-once Avro pipeline against a raw at-least-once pipe.
    Bench(bench::BenchArgs),
    /// Run registered processors (exactly-once loops, retries, dead letters, metrics).
    Run(run::RunArgs),
    /// The main job: provision topics, produce and consume keyed events end to end, report.
    Demo(demo::DemoArgs),
    /// Avro contracts: lint, check against a git ref, register with the schema registry.
    Schemas(schemas::SchemasArgs),
    /// The schema registry: `weft registry serve` (Confluent-compatible, Kafka-backed).
    Registry(registry::RegistryArgs),
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

/// Parses the command line, runs the subcommand, and maps its result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
            Command::Schemas(args) => schemas::run(args).await,
            Command::Registry(args) => registry::run(args, &kafka).await,
        }
    });
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Drift) => ExitCode::from(EXIT_DRIFT),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
