//! `weft offsets reset`: a group's committed offsets on a topic moved to a position, a time or by
//! a shift.

use clap::Args;
use weft_core::kafka::KafkaConfig;

use super::{ConsoleArgs, Output};
use crate::{out, Outcome};

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
