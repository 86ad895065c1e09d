//! `weft topics plan|apply|check`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use weft_core::kafka::KafkaConfig;
use weft_core::provision::{Change, ProvisionOptions, Provisioner};
use weft_core::spec::SpecSet;

use crate::{out, Outcome};

#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(subcommand)]
    action: TopicsAction,
    /// Directory of topic and group specs.
    #[arg(long, global = true, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    dir: PathBuf,
    /// Clamp replication factor and min.insync.replicas (for a one-node dev broker: 1).
    #[arg(long, global = true, env = "WEFT_MAX_REPLICATION_FACTOR")]
    max_replication_factor: Option<i32>,
}

#[derive(Debug, Subcommand)]
enum TopicsAction {
    /// Show the changes apply would make.
    Plan,
    /// Make the cluster match the specs (idempotent; never deletes without --allow-delete).
    Apply {
        /// Delete topics of a declared system that have no spec.
        #[arg(long, env = "WEFT_ALLOW_DELETE")]
        allow_delete: bool,
    },
    /// Exit 3 with a readable diff when the cluster drifts from the specs (for CI).
    Check,
}

pub async fn run(args: TopicsArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let specs = SpecSet::load(&args.dir)?;
    let all = specs.all_topics();
    let allow_delete = matches!(args.action, TopicsAction::Apply { allow_delete: true });
    let provisioner = Provisioner::new(
        kafka,
        ProvisionOptions {
            max_replication_factor: args.max_replication_factor,
            allow_delete,
        },
    )?;
    let plan = provisioner.plan(&all).await?;
    match args.action {
        TopicsAction::Plan => {
            out(&plan.to_string());
            Ok(Outcome::Ok)
        }
        TopicsAction::Check => {
            if plan.is_empty() {
                out(&format!("ok: {} topics match their specs\n", all.len()));
                Ok(Outcome::Ok)
            } else {
                out(&format!(
                    "drift: the cluster differs from the specs in {}:\n{plan}",
                    args.dir.display()
                ));
                Ok(Outcome::Drift)
            }
        }
        TopicsAction::Apply { .. } => {
            let report = provisioner.apply(&plan).await?;
            if report.applied.is_empty() && plan.is_empty() {
                out(&format!(
                    "no changes: {} topics match their specs\n",
                    all.len()
                ));
            }
            for c in &report.applied {
                match c {
                    Change::WouldDelete { topic } => out(&format!("- deleted {topic}\n")),
                    other => out(&format!("{other}\n")),
                }
            }
            for c in plan.changes.iter().filter(|c| !report.applied.contains(c)) {
                if let Change::WouldDelete { .. } = c {
                    out(&format!("{c}\n"));
                }
            }
            Ok(Outcome::Ok)
        }
    }
}
