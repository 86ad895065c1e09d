//! `weft registry serve`: runs weft's Confluent-compatible schema registry.
//!
//! The store is Kafka by default (the compacted `--topic`, reached with the global Kafka flags)
//! or memory (state lost on exit; for demos and tests). The bound address is printed on stdout
//! as `weft registry listening on http://ADDR` once the store is ready, so scripts can start it
//! on port 0 and read the port. Failure modes: an unreachable broker or an unusable topic fails
//! the start with the topic named; an address in use fails the bind; SIGTERM/ctrl-c stop it
//! gracefully (exit 0).
//!
//! Production settings: `--users-file` (basic authentication with read and write roles, see
//! `weft_registry::auth`; without it the registry is open and says so), `--tls-cert` and
//! `--tls-key` (HTTPS), `--max-body-bytes` and `--request-timeout`. A users file or a TLS pair
//! that cannot be used fails the start naming the file. `weft registry hash-password` turns a
//! password read on stdin into the hash a users file holds.

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
    /// Read a password on stdin and print its Argon2id hash for a users file.
    HashPassword,
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
    /// Users and roles (YAML; see `weft registry hash-password`). Without it anyone who can reach
    /// the registry may do anything.
    #[arg(long, env = "WEFT_REGISTRY_USERS_FILE")]
    users_file: Option<std::path::PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key the registry serves HTTPS.
    #[arg(long, env = "WEFT_REGISTRY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "WEFT_REGISTRY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Largest request body accepted (413 above).
    #[arg(long, env = "WEFT_REGISTRY_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Longest time one request may take (408 after).
    #[arg(long, env = "WEFT_REGISTRY_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
}

pub(crate) async fn run(args: RegistryArgs, kafka: &KafkaConfig) -> anyhow::Result<Outcome> {
    let a = match args.action {
        RegistryAction::Serve(a) => a,
        RegistryAction::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password on stdin")?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                anyhow::bail!("no password on stdin");
            }
            let hash =
                weft_registry::auth::hash_password(password).map_err(|e| anyhow::anyhow!(e))?;
            out(&format!("{hash}\n"));
            return Ok(Outcome::Ok);
        }
    };
    let users = match &a.users_file {
        Some(path) => Some(weft_registry::auth::Users::load(path).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let options = weft_registry::ServeOptions {
        tls: match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some(weft_registry::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        limits: weft_registry::http::Limits {
            max_body_bytes: a.max_body_bytes,
            request_timeout: a.request_timeout,
        },
        access: std::sync::Arc::new(weft_registry::auth::Access::new(users)),
    };
    if options.access.is_open() {
        tracing::warn!(
            "the registry is open: anyone who can reach it may register, delete and change levels (--users-file)"
        );
    }
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
        "weft registry listening on {}://{addr} (store: {described}{})\n",
        if options.tls.is_some() {
            "https"
        } else {
            "http"
        },
        if options.access.is_open() {
            ", open"
        } else {
            ", basic authentication"
        }
    ));
    weft_registry::serve_with(listener, state, &options).await?;
    Ok(Outcome::Ok)
}
