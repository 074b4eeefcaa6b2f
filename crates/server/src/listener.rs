//! The accept loop: one task per connection, joined by a graceful shutdown.
//!
//! - A semaphore holds the connection limit: when it is reached the loop
//!   stops accepting, so further clients wait in the kernel's queue instead
//!   of being dropped.
//! - TLS (rustls) when configured; the handshake and the request headers
//!   each have a time limit, so slow clients cannot hold connections.
//! - On shutdown the listener closes first (no new connections), every
//!   connection finishes the request it is serving and is then closed, and
//!   the caller closes the store after [`serve`] returns.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

use crate::app::ConnInfo;
use crate::auth::Systems;
use crate::ServerError;

/// How the listener behaves.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// Builds the rustls server configuration from PEM files. With `client_ca`,
/// clients may present a certificate signed by it (mutual TLS).
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no certificate in the file",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", key.display())))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .map_err(|e| ServerError::Tls(format!("{}: {e}", ca.display())))?
            {
                let c = c.map_err(|e| ServerError::Tls(format!("{}: {e}", ca.display())))?;
                roots
                    .add(c)
                    .map_err(|e| ServerError::Tls(format!("{}: {e}", ca.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| ServerError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    systems: Option<Arc<Systems>>,
    opts: ListenOptions,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let limit = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let systems = systems.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = opts.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => {
                    let svc = service(
                        app,
                        ConnInfo {
                            cert_system: None,
                            peer: Some(peer),
                        },
                    );
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let cert_system = systems.and_then(|s| {
                        let der = tls.get_ref().1.peer_certificates()?.first()?;
                        let subject = crate::x509::subject(der.as_ref())?;
                        let found = s.by_cert_subject(&subject);
                        if found.is_none() {
                            tracing::info!(%peer, "client certificate maps to no system");
                        }
                        found
                    });
                    let svc = service(
                        app,
                        ConnInfo {
                            cert_system,
                            peer: Some(peer),
                        },
                    );
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
            }
        });
    }

    drop(listener);
    tracing::info!("stopped accepting; finishing requests in flight");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(opts.shutdown_grace) => {
            tracing::warn!("grace period over; closing the remaining connections")
        }
    }
}

fn service(app: Router, info: ConnInfo) -> ConnService {
    ConnService { app, info }
}

/// The router, with what the listener knows about the connection put into
/// each request's extensions.
#[derive(Clone)]
struct ConnService {
    app: Router,
    info: ConnInfo,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <Router as Service<axum::extract::Request>>::Future;

    fn call(&self, mut req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.info.clone());
        let mut app = self.app.clone();
        app.call(req.map(axum::body::Body::new))
    }
}
