//! `weft produce <topic>`: JSON values (given, from a file, from stdin or the topic's contract
//! example) encoded under the topic's subject and sent.

use std::path::PathBuf;

use clap::Args;
use weft_core::kafka::KafkaConfig;

use super::{ConsoleArgs, Output};
use crate::{out, Outcome};

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
