//! The `weft` command line. Each subcommand is parsed by clap here and turned into a typed
//! request for a library crate; no library depends on clap.
//!
//! Exit codes (documented in README.md): 0 success, 1 error, 2 usage error (clap or a bad flag
//! value), 3 drift found by a check (`weft topics check`), 4 a value does not fit its schema
//! (`weft produce`), 5 refused (`weft offsets reset` on an active group), 6 nothing found
//! (`weft trace`).

mod args;
mod console;
mod demo;
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
    /// The main job: provision topics, produce and consume keyed events end to end, report.
    Demo(demo::DemoArgs),
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
}

/// Outcome of a subcommand that can end in something other than plain success.
pub(crate) enum Outcome {
    Ok,
    Drift,
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
            Command::Consume(args) => console::consume(args, &kafka).await,
            Command::Produce(args) => console::produce(args, &kafka).await,
            Command::Dlq(args) => console::dlq(args, &kafka).await,
            Command::Lag(args) => console::lag(args, &kafka).await,
            Command::Offsets(args) => console::offsets(args, &kafka).await,
            Command::Trace(args) => console::trace(args, &kafka).await,
        }
    });
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Drift) => ExitCode::from(EXIT_DRIFT),
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<weft_console::ConsoleError>() {
                Some(c) => ExitCode::from(c.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}
