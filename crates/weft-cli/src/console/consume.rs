//! `weft consume` (alias `tail`): records of topics, filtered and decoded, to stdout; a reader
//! that goes away (`| head`) ends the command instead of failing it.

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use weft_console::consume::{ConsumeRequest, Isolation, StartAt};
use weft_console::Filters;
use weft_core::kafka::KafkaConfig;

use super::{ConsoleArgs, Output};
use crate::Outcome;

/// Writes to stdout; `false` once the reader went away (`weft tail t -f | head -1`), so a
/// following reader can stop instead of reading forever into a closed pipe.
fn emit(text: &str) -> bool {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_ok()
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IsolationArg {
    /// read_committed: only committed transactional records.
    Committed,
    /// read_uncommitted: also records of open and aborted transactions.
    Uncommitted,
}

/// `weft consume` (alias `tail`).
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topics to read.
    #[arg(env = "WEFT_TOPICS", value_delimiter = ',')]
    topics: Vec<String>,
    /// A regex matched against whole topic names, e.g. 'cypher\.order\..*'.
    #[arg(long, env = "WEFT_PATTERN")]
    pattern: Option<String>,
    /// Where to start: beginning, end, offset N (negative: N before the end), or an RFC 3339 datetime.
    #[arg(long, env = "WEFT_FROM", default_value = "beginning")]
    from: String,
    /// Stop after N matching records.
    #[arg(short = 'n', long = "count", env = "WEFT_COUNT")]
    count: Option<usize>,
    /// Keep waiting for new records at the end.
    #[arg(short = 'f', long, env = "WEFT_FOLLOW")]
    follow: bool,
    /// Only records with this key.
    #[arg(long, env = "WEFT_KEY")]
    key: Option<String>,
    /// Only this event type (weft-event-type header or metadata.event_type).
    #[arg(long, env = "WEFT_EVENT_TYPE")]
    event_type: Option<String>,
    /// Only this metadata.correlation_id.
    #[arg(long, env = "WEFT_CORRELATION_ID")]
    correlation_id: Option<String>,
    /// Only this metadata.tenant_id.
    #[arg(long, env = "WEFT_TENANT_ID")]
    tenant_id: Option<String>,
    /// Only records whose decoded field path has this value: payload.status=pending (repeatable).
    #[arg(long = "where", env = "WEFT_WHERE", value_delimiter = ',')]
    wheres: Vec<String>,
    /// Transaction isolation: committed hides open and aborted transactions.
    #[arg(long, env = "WEFT_ISOLATION", value_enum, default_value = "committed")]
    isolation: IsolationArg,
    #[command(flatten)]
    console: ConsoleArgs,
}

impl ConsumeArgs {
    fn request(&self) -> anyhow::Result<ConsumeRequest> {
        Ok(ConsumeRequest {
            topics: self.topics.clone(),
            pattern: self.pattern.clone(),
            start: self.from.parse::<StartAt>()?,
            limit: self.count,
            follow: self.follow,
            filters: Filters {
                key: self.key.clone(),
                event_type: self.event_type.clone(),
                correlation_id: self.correlation_id.clone(),
                tenant_id: self.tenant_id.clone(),
                fields: self
                    .wheres
                    .iter()
                    .map(|w| Filters::parse_where(w))
                    .collect::<Result<_, _>>()?,
            },
            isolation: match self.isolation {
                IsolationArg::Committed => Isolation::Committed,
                IsolationArg::Uncommitted => Isolation::Uncommitted,
            },
        })
    }
}

pub async fn consume(args: ConsumeArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let req = args.request()?;
    let registry = args.console.registry()?;
    let colour = args.console.colour();
    // Following, every record is written at once; reading to the end, the output is buffered
    // (a write and a flush per record cost the reader half its time).
    let follow = req.follow;
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let summary = weft_console::consume::consume(kafka, &registry, &req, |r| {
        let text = match args.console.output {
            Output::Text => format!("{}\n", r.to_text(colour)),
            Output::Jsonl => format!("{}\n", serde_json::to_string(r).unwrap_or_default()),
            Output::Json => format!("{}\n", serde_json::to_string_pretty(r).unwrap_or_default()),
        };
        if follow {
            emit(&text)
        } else {
            std::io::Write::write_all(&mut buffered, text.as_bytes()).is_ok()
        }
    })
    .await?;
    // A reader that went away (`| head`) is not an error.
    let _ = std::io::Write::flush(&mut buffered);
    if std::io::stderr().is_terminal() {
        eprintln!(
            "{} of {} records matched in {}",
            summary.matched,
            summary.read,
            summary.topics.join(", ")
        );
    }
    Ok(Outcome::Ok)
}
