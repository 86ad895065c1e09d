//! `weft dlq list|show|replay|ack`: dead-letter topics counted, shown, replayed or marked
//! handled.

use clap::{Args, ValueEnum};
use weft_core::kafka::KafkaConfig;

use super::{progress, progress_done, window, ConsoleArgs, Output};
use crate::{out, Outcome};

/// `weft dlq list|show|replay`.
#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    action: DlqAction,
    #[command(flatten)]
    console: ConsoleArgs,
}

/// Selection flags of `dlq show` and `dlq replay`.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    /// Only dead letters that failed at or after this RFC 3339 datetime.
    #[arg(long, env = "WEFT_SINCE")]
    since: Option<String>,
    /// Only dead letters that failed before this RFC 3339 datetime.
    #[arg(long, env = "WEFT_UNTIL")]
    until: Option<String>,
    /// Only this error class (poison, transient, undecodable).
    #[arg(long, env = "WEFT_ERROR_CLASS")]
    error_class: Option<String>,
    /// Only this key.
    #[arg(long, env = "WEFT_KEY")]
    key: Option<String>,
    /// Only this event id.
    #[arg(long, env = "WEFT_EVENT_ID")]
    event_id: Option<String>,
}

impl SelectionArgs {
    fn selection(&self) -> anyhow::Result<weft_console::dlq::Selection> {
        use weft_console::consume::parse_time;
        Ok(weft_console::dlq::Selection {
            since: self.since.as_deref().map(parse_time).transpose()?,
            until: self.until.as_deref().map(parse_time).transpose()?,
            error_class: self.error_class.clone(),
            key: self.key.clone(),
            event_id: self.event_id.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TargetArg {
    /// The topic in the record's weft-dlq-source-topic header.
    Original,
    /// The group's first retry topic, due now.
    Retry,
}

#[derive(Debug, clap::Subcommand)]
enum DlqAction {
    /// Dead-letter topics with counts per error class, processor and source topic.
    List {
        /// Only dead-letter topics matching this regex.
        #[arg(long, env = "WEFT_PATTERN")]
        pattern: Option<String>,
        /// Only dead letters written since: a duration back from now (1h) or an RFC 3339 datetime.
        #[arg(long, env = "WEFT_SINCE")]
        since: Option<String>,
        /// Only dead letters written before: a duration back from now or a datetime.
        #[arg(long, env = "WEFT_UNTIL")]
        until: Option<String>,
    },
    /// The dead letters of a group (or a .dlq topic), decoded, with their error headers.
    Show {
        /// The group, e.g. cypher.checkout-worker, or its dead-letter topic.
        #[arg(env = "WEFT_GROUP")]
        group: String,
        #[command(flatten)]
        selection: SelectionArgs,
        /// At most N records.
        #[arg(short = 'n', long = "count", env = "WEFT_COUNT")]
        count: Option<usize>,
    },
    /// Send a selection of dead letters back (deduplicated by event id, attempt count carried).
    Replay {
        /// The group, e.g. cypher.checkout-worker, or its dead-letter topic.
        #[arg(env = "WEFT_GROUP")]
        group: String,
        #[command(flatten)]
        selection: SelectionArgs,
        /// Where to: the original topic or the group's first retry topic.
        #[arg(long, env = "WEFT_REPLAY_TO", value_enum, default_value = "original")]
        to: TargetArg,
        /// Records per second at most.
        #[arg(long, env = "WEFT_RATE")]
        rate: Option<f64>,
        /// List what would be replayed; send nothing.
        #[arg(long, env = "WEFT_DRY_RUN")]
        dry_run: bool,
    },
    /// Mark every dead letter written so far handled (the `<group>.dlq-handled` marker that
    /// weft_dlq_oldest_unhandled_age_seconds and its alert read), without replaying.
    Ack {
        /// The group, e.g. cypher.checkout-worker, or its dead-letter topic.
        #[arg(env = "WEFT_GROUP")]
        group: String,
    },
}

pub async fn dlq(args: DlqArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    use weft_console::dlq;
    let c = &args.console;
    match args.action {
        DlqAction::List {
            pattern,
            since,
            until,
        } => {
            let window = window(since.as_deref(), until.as_deref())?;
            let list = dlq::list(kafka, pattern.as_deref(), &window, |t| {
                progress(&format!("{t} dead letters counted"))
            })
            .await?;
            progress_done();
            if c.output != Output::Text {
                for s in &list {
                    c.print_json(s);
                }
                return Ok(Outcome::Ok);
            }
            if list.is_empty() {
                out("no dead-letter topics\n");
            }
            let bold = |s: &str| {
                if c.colour() {
                    format!("\x1b[1m{s}\x1b[0m")
                } else {
                    s.to_string()
                }
            };
            for s in &list {
                out(&format!(
                    "{}  {} records{}\n",
                    bold(&s.topic),
                    s.records,
                    s.last_failure
                        .as_deref()
                        .map(|t| format!(", last failure {t}"))
                        .unwrap_or_default()
                ));
                for (title, m) in [
                    ("error class", &s.by_error_class),
                    ("processor", &s.by_processor),
                    ("source topic", &s.by_source_topic),
                ] {
                    for (k, n) in m {
                        out(&format!("  {title:<13} {k:<40} {n}\n"));
                    }
                }
            }
        }
        DlqAction::Show {
            group,
            selection,
            count,
        } => {
            let registry = c.registry()?;
            let records =
                dlq::show(kafka, &registry, &group, &selection.selection()?, count).await?;
            let colour = c.colour();
            for r in &records {
                match c.output {
                    Output::Text => out(&format!("{}\n", r.to_text(colour))),
                    _ => c.print_json(r),
                }
            }
            if records.is_empty() && c.output == Output::Text {
                out(&format!(
                    "no dead letters in {} match\n",
                    dlq::dlq_topic(&group)
                ));
            }
        }
        DlqAction::Ack { group } => {
            let moves = dlq::ack(kafka, &group)?;
            if c.output != Output::Text {
                c.print_json(&moves);
                return Ok(Outcome::Ok);
            }
            if moves.is_empty() {
                out(&format!(
                    "{}: nothing new to mark handled\n",
                    dlq::dlq_topic(&group)
                ));
            }
            print_handled(&moves);
        }
        DlqAction::Replay {
            group,
            selection,
            to,
            rate,
            dry_run,
        } => {
            let registry = c.registry()?;
            let group_spec = c.specs()?.map(|s| s.group(group.trim_end_matches(".dlq")));
            let req = dlq::ReplayRequest {
                group,
                selection: selection.selection()?,
                target: match to {
                    TargetArg::Original => dlq::Target::Original,
                    TargetArg::Retry => dlq::Target::Retry,
                },
                group_spec,
                rate,
                dry_run,
            };
            let report = dlq::replay(kafka, &registry, &req).await?;
            if c.output != Output::Text {
                c.print_json(&report);
                return Ok(Outcome::Ok);
            }
            for r in &report.replayed {
                out(&format!(
                    "{} event {} key {} (attempt {}, {}) from offset {}:{} to {}{}\n",
                    if dry_run { "would replay" } else { "replayed" },
                    r.event_id.as_deref().unwrap_or("-"),
                    r.key.as_deref().unwrap_or("-"),
                    r.attempt.as_deref().unwrap_or("?"),
                    r.error_class.as_deref().unwrap_or("?"),
                    r.from_offset.0,
                    r.from_offset.1,
                    r.to_topic,
                    r.to.map(|(p, o)| format!(" partition {p} offset {o}"))
                        .unwrap_or_default()
                ));
            }
            for s in &report.skipped {
                out(&format!("skipped {s}\n"));
            }
            print_handled(&report.marked_handled);
            out(&format!(
                "{}: read {}, selected {}, {} duplicates by event id, {} {}\n",
                report.dead_letter_topic,
                report.read,
                report.selected,
                report.duplicates,
                report.replayed.len(),
                if dry_run {
                    "would be replayed (dry run)"
                } else {
                    "replayed"
                }
            ));
        }
    }
    Ok(Outcome::Ok)
}

fn print_handled(moves: &[weft_console::dlq::HandledMove]) {
    for m in moves {
        out(&format!(
            "marked handled: partition {} up to offset {} (was {})\n",
            m.partition,
            m.to,
            m.from.map_or("nothing".to_string(), |f| f.to_string())
        ));
    }
}
