//! `weft lag`: committed and end offsets of consumer groups, lag and SLA breaches per partition.

use clap::Args;
use weft_core::kafka::KafkaConfig;

use super::{progress, progress_done, ConsoleArgs, Output};
use crate::{out, Outcome};

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
                p.committed
                    .map_or_else(|| "-".to_string(), |c| c.to_string()),
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
