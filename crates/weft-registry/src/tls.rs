//! The TLS listener: rustls (ring) over the accepted TCP connections, HTTP/1.1 and HTTP/2 by
//! ALPN, the same router as plain HTTP.
//!
//! Failure modes: an unreadable or malformed certificate or key fails the start naming the file;
//! a client whose handshake fails (plain HTTP on the TLS port, an unknown CA) is dropped with a
//! debug log and never reaches the router; ctrl-c or SIGTERM stops accepting and returns.

use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{RegistryError, TlsFiles};

/// The acceptor for the PEM files of `files`.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, RegistryError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect())
        .map_err(|e| {
            RegistryError::Tls(format!(
                "reading the certificate chain {}: {e}",
                files.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(RegistryError::Tls(format!(
            "{} holds no certificate",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        RegistryError::Tls(format!(
            "reading the private key {}: {e}",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            RegistryError::Tls(format!(
                "{} and {} do not make a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TLS connections on `listener` and serves `app` on each until shutdown.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    acceptor: TlsAcceptor,
) -> Result<(), RegistryError> {
    let mut stop = std::pin::pin!(crate::server::shutdown());
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("registry: accepting a connection: {e}");
                    continue;
                }
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A client that connects and says nothing must not hold a descriptor for ever.
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
            let tls = match handshake.await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!("registry: TLS handshake with {peer} failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!("registry: no TLS handshake from {peer} within 10 s");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let mut app = app.clone();
                async move { tower::Service::call(&mut app, req).await }
            });
            if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!("registry: connection with {peer}: {e}");
            }
        });
    }
}
