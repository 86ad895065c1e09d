//! `weft registry serve`: runs weft's Confluent-compatible schema registry.
//!
//! The store is Kafka by default (the compacted `--topic`, reached with the global Kafka flags)
//! or memory (state lost on exit; for demos and tests). The bound address is printed on stdout
//! as `weft registry listening on http://ADDR` once the store is ready, so scripts can start it
//! on port 0 and read the port. Failure modes: an unreachable broker or an unusable topic fails
//! the start with the topic named; an address in use fails the bind; SIGTERM/ctrl-c stop it
//! gracefully (exit 0).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use weft_core::kafka::KafkaConfig;
use weft_registry::kafka::KafkaStoreConfig;

use crate::{out, Outcome};

#[derive(Debug, Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    action: RegistryAction,
}

#[derive(Debug, Subcommand)]
enum RegistryAction {
    /// Serve the registry's REST API (Confluent-compatible, Avro).
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreKind {
    /// A compacted Kafka topic (survives restarts; several instances may share it).
    Kafka,
    /// This process only (state is lost on exit).
    Memory,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address the HTTP server binds.
    #[arg(long, env = "WEFT_REGISTRY_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Where the registry keeps its state.
    #[arg(long, env = "WEFT_REGISTRY_STORE", value_enum, default_value = "kafka")]
    store: StoreKind,
    /// The compacted topic of the Kafka store.
    #[arg(long, env = "WEFT_REGISTRY_TOPIC", default_value = "_schemas")]
    topic: String,
    /// Replication factor used if the topic has to be created.
    #[arg(long, env = "WEFT_REGISTRY_REPLICATION_FACTOR", default_value_t = 1)]
    replication_factor: i32,
    /// How long a Kafka write or the initial read may take.
    #[arg(long, env = "WEFT_REGISTRY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub(crate) async fn run(args: RegistryArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let RegistryAction::Serve(a) = args.action;
    let (state, described) = match a.store {
        StoreKind::Memory => (weft_registry::AppState::default(), "memory".to_string()),
        StoreKind::Kafka => {
            let mut config = KafkaStoreConfig::new(kafka.clone());
            config.topic = a.topic.clone();
            config.replication_factor = a.replication_factor;
            config.timeout = a.timeout;
            let state = weft_registry::kafka::open(config).await.with_context(|| {
                format!(
                    "cannot open the registry store on Kafka ({})",
                    kafka.bootstrap_servers
                )
            })?;
            (
                state,
                format!("kafka topic {} on {}", a.topic, kafka.bootstrap_servers),
            )
        }
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot bind {}", a.listen))?;
    let addr = listener.local_addr()?;
    out(&format!(
        "weft registry listening on http://{addr} (store: {described})\n"
    ));
    weft_registry::serve_on(listener, state).await?;
    Ok(Outcome::Ok)
}
