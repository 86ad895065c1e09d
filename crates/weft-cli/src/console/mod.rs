//! The console subcommands (`consume`, `produce`, `dlq`, `lag`, `offsets`, `trace`): flags parsed
//! here and turned into the typed requests of `weft-console`.
//!
//! Shared here: [`ConsoleArgs`] (the flags every console command takes), the [`Output`] format and
//! the progress line; each command lives in its own file.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use weft_console::Registry;
use weft_core::spec::SpecSet;

use crate::out;

mod consume;
mod dlq;
mod lag;
mod offsets;
mod produce;
mod trace;

pub use consume::{consume, ConsumeArgs};
pub use dlq::{dlq, DlqArgs};
pub use lag::{lag, LagArgs};
pub use offsets::{offsets, OffsetsArgs};
pub use produce::{produce, ProduceArgs};
pub use trace::{trace, TraceArgs};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people: headers, then pretty JSON; colour only on a terminal.
    Text,
    /// Pretty JSON, one document per record or report.
    Json,
    /// One compact JSON document per line, for scripts.
    Jsonl,
}

/// Flags every console subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// Schema registry URL.
    #[arg(long, global = true, env = "WEFT_REGISTRY_URL", default_value = weft_console::registry::DEFAULT_REGISTRY_URL)]
    pub registry_url: String,
    /// Registry user (HTTP basic authentication).
    #[arg(long, global = true, env = "WEFT_REGISTRY_USERNAME")]
    pub registry_username: Option<String>,
    /// Registry password.
    #[arg(
        long,
        global = true,
        env = "WEFT_REGISTRY_PASSWORD",
        hide_env_values = true
    )]
    pub registry_password: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', global = true, env = "WEFT_OUTPUT", value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Directory of topic and group specs.
    #[arg(long, global = true, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    pub topics_dir: PathBuf,
}

impl ConsoleArgs {
    pub fn registry(&self) -> anyhow::Result<Registry> {
        let auth = self
            .registry_username
            .as_deref()
            .map(|u| (u, self.registry_password.as_deref().unwrap_or_default()));
        Ok(Registry::with_auth(&self.registry_url, auth)?)
    }

    /// The specs when the directory exists; console commands also work without them.
    pub fn specs(&self) -> anyhow::Result<Option<SpecSet>> {
        if self.topics_dir.is_dir() {
            Ok(Some(SpecSet::load(&self.topics_dir)?))
        } else {
            Ok(None)
        }
    }

    /// Colour only for text on a terminal, and never with NO_COLOR set.
    pub fn colour(&self) -> bool {
        self.output == Output::Text
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
    }

    /// Prints a serialisable value in the chosen JSON form.
    pub fn print_json(&self, v: &impl serde::Serialize) {
        let text = match self.output {
            Output::Jsonl => serde_json::to_string(v).unwrap_or_default(),
            _ => serde_json::to_string_pretty(v).unwrap_or_default(),
        };
        out(&format!("{text}\n"));
    }
}

/// Progress for long operations: on stderr, only when stderr is a terminal.
pub fn progress(text: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{text}");
    }
}

/// The window of `--since` / `--until` (durations back from now, or datetimes).
fn window(
    since: Option<&str>,
    until: Option<&str>,
) -> anyhow::Result<weft_console::consume::Window> {
    use weft_console::consume::parse_bound;
    Ok(weft_console::consume::Window {
        since: since.map(parse_bound).transpose()?,
        until: until.map(parse_bound).transpose()?,
    })
}

/// Ends a progress line.
pub fn progress_done() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}
