//! `weft trace`: every record of one correlation id (or of an event's) across topics, in order.

use clap::Args;
use weft_core::kafka::KafkaConfig;

use super::{progress, progress_done, window, ConsoleArgs, Output};
use crate::{out, Outcome};

/// `weft trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The event id to start from (its correlation id is traced).
    #[arg(env = "WEFT_EVENT_ID", required_unless_present = "correlation_id")]
    event_id: Option<String>,
    /// Trace this correlation id.
    #[arg(long, env = "WEFT_CORRELATION_ID")]
    correlation_id: Option<String>,
    /// Scan topics matching this regex (default: every spec topic and dead-letter topic).
    #[arg(long, env = "WEFT_TRACE_TOPICS")]
    topics: Option<String>,
    /// Only records written since: a duration back from now (1h, 30m) or an RFC 3339 datetime.
    #[arg(long, env = "WEFT_SINCE")]
    since: Option<String>,
    /// Only records written before: a duration back from now or an RFC 3339 datetime.
    #[arg(long, env = "WEFT_UNTIL")]
    until: Option<String>,
    #[command(flatten)]
    console: ConsoleArgs,
}

pub async fn trace(args: TraceArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    use weft_console::trace::{default_topics, TraceRequest};
    let c = &args.console;
    let topics = match (&args.topics, c.specs()?) {
        (Some(_), _) => vec![],
        (None, Some(specs)) => {
            let names: Vec<String> = specs.all_topics().into_iter().map(|t| t.name).collect();
            default_topics(kafka, &names)?
        }
        (None, None) => vec![],
    };
    let req = TraceRequest {
        event_id: args.event_id.clone(),
        correlation_id: args.correlation_id.clone(),
        topics,
        pattern: args.topics.clone(),
        window: window(args.since.as_deref(), args.until.as_deref())?,
    };
    let registry = c.registry()?;
    let t = weft_console::trace::trace(kafka, &registry, &req, |n| {
        progress(&format!("{n} records scanned"))
    })
    .await?;
    progress_done();
    match c.output {
        Output::Text => out(&t.to_text(c.colour())),
        _ => c.print_json(&t),
    }
    Ok(Outcome::Ok)
}
