//! The accept loop: one task per connection, joined by a graceful shutdown.
//!
//! - A semaphore holds the connection limit: when it is reached the loop
//!   stops accepting, so further clients wait in the kernel's queue instead
//!   of being dropped.
//! - TLS (rustls) when configured; the handshake and the request headers
//!   each have a time limit, so slow clients cannot hold connections.
//! - A connection with no request in progress for the header time limit is
//!   closed (from its start, and after each request): hyper's own header
//!   timer starts only once the HTTP version is known and covers HTTP/1
//!   only, so a client that sent nothing, half an HTTP/2 preface, or one
//!   HTTP/2 request and then nothing, would otherwise hold its place for
//!   ever.
//! - On shutdown the listener closes first (no new connections), every
//!   connection finishes the request it is serving and is then closed, and
//!   the caller closes the store after [`serve`] returns.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
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
                    let activity = svc.activity.clone();
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    close_when_idle(
                        watcher.watch(conn.into_owned()),
                        &activity,
                        handshake_timeout,
                        peer,
                    )
                    .await;
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
                    let activity = svc.activity.clone();
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
                    close_when_idle(
                        watcher.watch(conn.into_owned()),
                        &activity,
                        handshake_timeout,
                        peer,
                    )
                    .await;
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

/// What a connection is doing: how many requests are in progress (from the
/// moment the service is called until the answer's body is dropped, i.e.
/// sent or abandoned), and since when none is.
struct Activity {
    born: Instant,
    in_progress: AtomicUsize,
    /// Milliseconds after `born` at which the last request ended.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            in_progress: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    /// How long no request has been in progress; `None` while one is.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_progress.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(self.born.elapsed().saturating_sub(since))
    }
}

/// One request in progress on a connection; ends when dropped.
struct InProgress(Arc<Activity>);

impl InProgress {
    fn start(a: &Arc<Activity>) -> InProgress {
        a.in_progress.fetch_add(1, Ordering::SeqCst);
        InProgress(a.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let a = &self.0;
        let now = u64::try_from(a.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.idle_since_ms.store(now, Ordering::SeqCst);
        a.in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An answer's body that holds its request's [`InProgress`] until it is
/// dropped.
struct Tracked {
    body: axum::body::Body,
    _in_progress: InProgress,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Drives `conn` to its end, but drops it (closing the connection) once no
/// request has been in progress on it for `limit`.
async fn close_when_idle<E: std::fmt::Display>(
    conn: impl Future<Output = Result<(), E>>,
    activity: &Activity,
    limit: Duration,
    peer: SocketAddr,
) {
    tokio::pin!(conn);
    let mut wake = tokio::time::Instant::now() + limit;
    let ended = loop {
        tokio::select! {
            r = &mut conn => break r,
            _ = tokio::time::sleep_until(wake) => match activity.idle_for() {
                None => wake = tokio::time::Instant::now() + limit,
                Some(idle) if idle >= limit => {
                    // Debug, as hyper's own header timeout: an idle
                    // keep-alive client meets one or the other routinely.
                    tracing::debug!(%peer, "no request within the header timeout; connection closed");
                    return;
                }
                Some(idle) => wake = tokio::time::Instant::now() + (limit - idle),
            },
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

fn service(app: Router, info: ConnInfo) -> ConnService {
    ConnService {
        app,
        info,
        activity: Arc::new(Activity::new()),
    }
}

/// The router, with what the listener knows about the connection put into
/// each request's extensions.
#[derive(Clone)]
struct ConnService {
    app: Router,
    info: ConnInfo,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, mut req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let in_progress = InProgress::start(&self.activity);
        req.extensions_mut().insert(self.info.clone());
        let mut app = self.app.clone();
        let answer = app.call(req.map(axum::body::Body::new));
        Box::pin(async move {
            let r = answer.await?;
            Ok(r.map(|body| {
                axum::body::Body::new(Tracked {
                    body,
                    _in_progress: in_progress,
                })
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Serves a one-route app with a 1 s header timeout; its address and
    /// the handle that stops it.
    async fn serving() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let opts = ListenOptions {
            max_connections: 4,
            header_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
        };
        tokio::spawn(serve(listener, app, None, None, opts, async {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    /// Whether the server closes a connection that sent `bytes` within
    /// `wait`.
    fn closed_after(addr: SocketAddr, bytes: &'static [u8], wait: Duration) -> bool {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(addr).expect("connect");
        c.write_all(bytes).expect("write");
        c.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = [0u8; 64];
        matches!(c.read(&mut buf), Ok(0) | Err(_)) && {
            // A timeout is an error too: tell them apart.
            c.set_read_timeout(Some(Duration::from_millis(1))).ok();
            !matches!(c.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
    }

    /// Speaks HTTP/2 (prior knowledge) by hand: the preface, settings, one
    /// `GET /`, then silence. Whether an answer came, and whether the
    /// server closed the connection within 8 s.
    fn h2_one_request_then_idle(addr: SocketAddr) -> (bool, bool) {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .expect("preface");
        c.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).expect("settings");
        let mut buf = [0u8; 4096];
        // The server's settings first, then our acknowledgement.
        let n = c.read(&mut buf).expect("server settings");
        assert!(n >= 9 && buf[3] == 4, "a SETTINGS frame first");
        c.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0])
            .expect("settings ack");
        // HEADERS, stream 1, END_STREAM | END_HEADERS: GET http://x/
        // (HPACK: :method GET, :scheme http, :path /, :authority "x").
        c.write_all(&[0, 0, 6, 1, 5, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 1, b'x'])
            .expect("headers");
        let started = std::time::Instant::now();
        let mut got = buf[..n].to_vec();
        let closed = loop {
            if started.elapsed() > Duration::from_secs(8) {
                break false;
            }
            match c.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break true,
            }
        };
        // The answer: a HEADERS frame (type 1) on stream 1.
        let mut answered = false;
        let mut at = 0;
        while let Some(head) = got.get(at..at + 9) {
            let len =
                (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
            answered |= head[3] == 1 && head[5..9] == [0, 0, 0, 1];
            at += 9 + len;
        }
        (answered, closed)
    }

    // Regression: a connection that sent nothing, only the start of an
    // HTTP/2 preface, or one HTTP/2 request and then nothing, was never
    // closed (hyper's header timer starts only once the version is known,
    // and is HTTP/1's only); the connection limit could be filled with such
    // connections for ever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_without_a_request_in_progress_is_closed_after_the_header_timeout() {
        let (addr, _stop) = serving().await;
        for bytes in [&b""[..], &b"PRI * HTTP/2.0\r\n"[..]] {
            let started = std::time::Instant::now();
            let closed = tokio::task::spawn_blocking(move || {
                closed_after(addr, bytes, Duration::from_secs(8))
            })
            .await
            .expect("probe");
            assert!(
                closed,
                "{bytes:?}: still open after {:?}",
                started.elapsed()
            );
        }
        // One HTTP/2 request, then nothing: closed after the header timeout
        // too (hyper has no such timer for HTTP/2).
        let (answered, closed) =
            tokio::task::spawn_blocking(move || h2_one_request_then_idle(addr))
                .await
                .expect("h2 probe");
        assert!(answered, "the HTTP/2 request was answered");
        assert!(closed, "an idle HTTP/2 connection stays open");
        // A prompt request is served as before, and its connection kept.
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut c = std::net::TcpStream::connect(addr).expect("connect");
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("write");
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut buf = [0u8; 256];
            let n = c.read(&mut buf).expect("answer");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .expect("request");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}
