//! The console subcommands (`consume`, `produce`, `dlq`, `lag`, `offsets`, `trace`): flags parsed
//! here and turned into the typed requests of `weft-console`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use weft_console::consume::{ConsumeRequest, Isolation, StartAt};
use weft_console::{Filters, Registry};
use weft_core::kafka::KafkaConfig;
use weft_core::spec::SpecSet;

use crate::{out, Outcome};

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

/// `weft produce <topic>`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic; values are encoded under its subject `<topic>-value`.
    #[arg(env = "WEFT_TOPIC")]
    topic: String,
    /// One JSON value (else --file, else stdin, one JSON document per line).
    #[arg(long, env = "WEFT_VALUE", conflicts_with = "file")]
    value: Option<String>,
    /// A file of JSON values, one per line (or one document, or an array).
    #[arg(long, env = "WEFT_FILE", conflicts_with = "example")]
    file: Option<PathBuf>,
    /// The topic's example event (its payload from `avro/<..>/<Schema>.example.json`, the
    /// envelope filled in), instead of a value of your own.
    #[arg(long, env = "WEFT_EXAMPLE", conflicts_with = "value")]
    example: bool,
    /// The key of every record (default: the payload field the topic spec names as key).
    #[arg(long, env = "WEFT_KEY")]
    key: Option<String>,
    /// A header name=value (repeatable; env: comma-separated).
    #[arg(long = "header", env = "WEFT_HEADERS", value_delimiter = ',')]
    headers: Vec<String>,
    /// Validate and print what would be sent; send nothing.
    #[arg(long, env = "WEFT_DRY_RUN")]
    dry_run: bool,
    #[command(flatten)]
    console: ConsoleArgs,
}

pub async fn produce(args: ProduceArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    use weft_console::produce::{parse_header, parse_values, ProduceRequest};
    let specs = args.console.specs()?;
    let text = match (&args.value, &args.file) {
        _ if args.example => example_value(&args.topic, specs.as_ref())?,
        (Some(v), _) => v.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| {
            weft_console::ConsoleError::Input(format!("cannot read {}: {e}", f.display()))
        })?,
        (None, None) => {
            use std::io::Read;
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
    };
    let req = ProduceRequest {
        topic: args.topic.clone(),
        key: args.key.clone(),
        headers: args
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_, _>>()?,
        values: parse_values(&text)?,
        specs: specs.map(|s| s.topics).unwrap_or_default(),
        dry_run: args.dry_run,
    };
    let registry = args.console.registry()?;
    let produced = weft_console::produce::produce(kafka, &registry, &req).await?;
    for p in &produced {
        match args.console.output {
            Output::Text => out(&format!(
                "{} {} key {} event {}{}\n",
                if req.dry_run {
                    "would produce to"
                } else {
                    "produced to"
                },
                match (p.partition, p.offset) {
                    (Some(pa), Some(o)) => format!("{} partition {pa} offset {o}", p.topic),
                    _ => p.topic.clone(),
                },
                p.key,
                p.event_id.as_deref().unwrap_or("-"),
                if req.dry_run {
                    format!(
                        "\n{}",
                        serde_json::to_string_pretty(&p.value).unwrap_or_default()
                    )
                } else {
                    String::new()
                }
            )),
            _ => args.console.print_json(p),
        }
    }
    Ok(Outcome::Ok)
}

/// `{"payload": <example>}` of the contract whose topic is `topic` (or whose schema the topic's
/// spec names, for a prefixed or renamed topic).
fn example_value(
    topic: &str,
    specs: Option<&weft_core::spec::SpecSet>,
) -> Result<String, weft_console::ConsoleError> {
    let schema = specs
        .and_then(|s| s.topics.iter().find(|t| t.name == topic))
        .map(|t| t.value_schema.clone());
    let contract = weft_contracts::registry::all()
        .into_iter()
        .find(|c| c.topic == topic || Some(c.schema) == schema.as_deref())
        .ok_or_else(|| {
            weft_console::ConsoleError::Input(format!(
                "{topic}: no contract has this topic, so there is no example; give --value or --file"
            ))
        })?;
    let payload: serde_json::Value = serde_json::from_str(contract.example_file).map_err(|e| {
        weft_console::ConsoleError::Input(format!("the example of {}: {e}", contract.schema))
    })?;
    Ok(serde_json::json!({ "payload": payload }).to_string())
}

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

/// `weft lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Only this consumer group (default: every group).
    #[arg(long, env = "WEFT_GROUP")]
    group: Option<String>,
    #[command(flatten)]
    console: ConsoleArgs,
}

pub async fn lag(args: LagArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let c = &args.console;
    let specs = c.specs()?;
    let k = kafka.clone();
    let group = args.group.clone();
    progress("reading committed and end offsets");
    let report = tokio::task::spawn_blocking(move || {
        weft_console::lag::lag(&k, group.as_deref(), specs.as_ref())
    })
    .await??;
    progress_done();
    if c.output != Output::Text {
        for g in &report {
            c.print_json(g);
        }
        return Ok(Outcome::Ok);
    }
    let red = |s: String| {
        if c.colour() {
            format!("\x1b[31m{s}\x1b[0m")
        } else {
            s
        }
    };
    for g in &report {
        out(&format!(
            "{}  state {}, {} member(s), total lag {}\n",
            g.group, g.state, g.members, g.total_lag
        ));
        if !g.partitions.is_empty() {
            out(&format!(
                "  {:<48} {:>4} {:>10} {:>10} {:>8} {:>12} {:>8}\n",
                "topic", "part", "committed", "end", "lag", "oldest age", "sla"
            ));
        }
        for p in &g.partitions {
            let age = p
                .oldest_unconsumed_age_ms
                .map(|a| format!("{:.1}s", a as f64 / 1000.0))
                .unwrap_or_else(|| "-".into());
            let sla = p
                .sla_ms
                .map(|s| format!("{:.0}s", s as f64 / 1000.0))
                .unwrap_or_else(|| "-".into());
            let line = format!(
                "  {:<48} {:>4} {:>10} {:>10} {:>8} {:>12} {:>8}{}",
                p.topic,
                p.partition,
                p.committed,
                p.end,
                p.lag,
                age,
                sla,
                if p.sla_breached { "  SLA breached" } else { "" }
            );
            out(&format!(
                "{}\n",
                if p.sla_breached { red(line) } else { line }
            ));
        }
    }
    if report.is_empty() {
        out("no consumer groups\n");
    }
    Ok(Outcome::Ok)
}

/// `weft offsets reset`.
#[derive(Debug, Args)]
pub struct OffsetsArgs {
    #[command(subcommand)]
    action: OffsetsAction,
    #[command(flatten)]
    console: ConsoleArgs,
}

#[derive(Debug, clap::Subcommand)]
enum OffsetsAction {
    /// Move a group's committed offsets on a topic; refused while the group has active members.
    Reset {
        /// The consumer group.
        #[arg(long, env = "WEFT_GROUP")]
        group: String,
        /// The topic.
        #[arg(long, env = "WEFT_TOPIC")]
        topic: String,
        /// earliest, latest, or an RFC 3339 datetime.
        #[arg(
            long,
            env = "WEFT_RESET_TO",
            conflicts_with = "shift",
            required_unless_present = "shift"
        )]
        to: Option<String>,
        /// Move the committed offsets by N (negative: back), clamped to each partition.
        #[arg(long, env = "WEFT_SHIFT", allow_hyphen_values = true)]
        shift: Option<i64>,
        /// Print the new offsets; change nothing.
        #[arg(long, env = "WEFT_DRY_RUN")]
        dry_run: bool,
    },
}

pub async fn offsets(args: OffsetsArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    use weft_console::lag::{ResetRequest, ResetTo};
    let OffsetsAction::Reset {
        group,
        topic,
        to,
        shift,
        dry_run,
    } = args.action;
    let to = match (to.as_deref(), shift) {
        (_, Some(n)) => ResetTo::Shift(n),
        (Some("earliest" | "beginning"), _) => ResetTo::Earliest,
        (Some("latest" | "end"), _) => ResetTo::Latest,
        (Some(t), _) => ResetTo::Time(weft_console::consume::parse_time(t)?),
        (None, None) => unreachable!("clap requires --to or --shift"),
    };
    let req = ResetRequest {
        group,
        topic,
        to,
        dry_run,
    };
    let k = kafka.clone();
    let r = req.clone();
    let plan = tokio::task::spawn_blocking(move || weft_console::lag::reset(&k, &r)).await??;
    if args.console.output != Output::Text {
        args.console.print_json(&plan);
        return Ok(Outcome::Ok);
    }
    for p in &plan {
        out(&format!(
            "{} {} partition {}: {} -> {}\n",
            if dry_run { "would move" } else { "moved" },
            p.topic,
            p.partition,
            p.from
                .map(|f| f.to_string())
                .unwrap_or_else(|| "(none)".into()),
            p.to
        ));
    }
    Ok(Outcome::Ok)
}

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
