//! Serving the registry: where it listens ([`RegistryConfig`]), how ([`ServeOptions`], TLS from
//! [`TlsFiles`]), and until ctrl-c or SIGTERM. Failure modes: an address that cannot be bound or
//! a server that fails ([`RegistryError::Serve`]), unusable TLS files ([`RegistryError::Tls`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::{app_with, auth, http, tls, AppState, RegistryError};

/// The certificate chain and private key of the TLS listener (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How [`serve_with`] listens: TLS (none: plain HTTP), request limits, users.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub tls: Option<TlsFiles>,
    pub limits: http::Limits,
    pub access: Arc<auth::Access>,
}

/// Where and how the registry runs.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The address the HTTP server binds.
    pub listen: SocketAddr,
}

/// Binds `config.listen` and serves an in-memory registry until ctrl-c or SIGTERM.
pub async fn serve(config: RegistryConfig) -> Result<(), RegistryError> {
    serve_state(config.listen, AppState::default()).await
}

/// Binds `listen` and serves `state` until ctrl-c or SIGTERM.
pub async fn serve_state(listen: SocketAddr, state: AppState) -> Result<(), RegistryError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| RegistryError::Serve {
            addr: listen,
            source,
        })?;
    serve_on(listener, state).await
}

/// Serves `state` on an already bound `listener` until ctrl-c or SIGTERM (plain HTTP, open,
/// default limits).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
) -> Result<(), RegistryError> {
    serve_with(listener, state, &ServeOptions::default()).await
}

/// Serves `state` on `listener` with `options` until ctrl-c or SIGTERM.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: &ServeOptions,
) -> Result<(), RegistryError> {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let app = app_with(state, options.limits, options.access.clone());
    match &options.tls {
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|source| RegistryError::Serve { addr, source }),
        Some(files) => tls::serve(listener, app, tls::acceptor(files)?).await,
    }
}

pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
