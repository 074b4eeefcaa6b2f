//! The accept loop. `down` lives here: while the receiver is down, each new
//! connection is accepted and closed without an answer — unless its first
//! bytes are a request for a control endpoint (`/_sim/…`), so a test can
//! bring the receiver up again. Connections open when `down` begins are
//! closed after the request they are serving.

use crate::http::{ConnCtl, CONTROL_PREFIX};
use crate::state::State;
use crate::Behaviour;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// How long connections get to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a connection accepted while `down` may take to show its first line.
const PEEK_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let app = app.clone();
        let builder = builder.clone();
        let stop = stop_rx.clone();
        conns.spawn(async move {
            if state.behaviour() == Behaviour::Down && !asks_for_control(&stream).await {
                state.count_dropped();
                return; // dropping the stream closes the connection
            }
            connection(stream, state, app, builder, stop).await;
        });
    }

    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period over; closing the remaining connections");
        conns.abort_all();
    }
    // Receipts still on their way to the gateway get the same grace.
    let mut callbacks = std::mem::take(&mut *crate::state::lock(&state.callbacks));
    let done = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while callbacks.join_next().await.is_some() {}
    })
    .await;
    if done.is_err() {
        tracing::warn!("receipts still pending at shutdown were not delivered");
        callbacks.abort_all();
    }
}

/// Whether the connection's first bytes are `GET /_sim/` or `POST /_sim/`
/// (without consuming them).
async fn asks_for_control(stream: &TcpStream) -> bool {
    let wanted: [Vec<u8>; 2] = [
        format!("GET {CONTROL_PREFIX}").into_bytes(),
        format!("POST {CONTROL_PREFIX}").into_bytes(),
    ];
    let longest = wanted.iter().map(Vec::len).max().unwrap_or(0);
    let mut buf = vec![0u8; longest];
    let deadline = tokio::time::Instant::now() + PEEK_TIMEOUT;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        let seen = &buf[..n];
        let mut could_be = false;
        for w in &wanted {
            let k = w.len().min(n);
            if seen[..k] == w[..k] {
                if n >= w.len() {
                    return true;
                }
                could_be = true;
            }
        }
        if !could_be {
            return false;
        }
        // Only part of the line has come: look again shortly.
        tokio::time::sleep(Duration::from_millis(2)).await;
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

/// Serves one connection until it ends, is killed (`down` for a request on
/// it), or is asked to close (`down` began, or shutdown).
async fn connection(
    stream: TcpStream,
    state: Arc<State>,
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    mut stop: watch::Receiver<bool>,
) {
    let ctl = ConnCtl {
        kill: Arc::new(Notify::new()),
    };
    let kill = ctl.kill.clone();
    let svc = ConnService { app, ctl };
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let mut behaviour = state.behaviour.subscribe();
    let mut closing = false;
    let mut watch_behaviour = true;
    let mut watch_stop = true;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = kill.notified() => return,
            r = behaviour.changed(), if watch_behaviour && !closing => {
                match r {
                    Ok(()) if *behaviour.borrow_and_update() == Behaviour::Down => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    Ok(()) => {}
                    Err(_) => watch_behaviour = false,
                }
            }
            r = stop.changed(), if watch_stop && !closing => {
                match r {
                    Ok(()) if *stop.borrow_and_update() => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    Ok(()) => {}
                    Err(_) => watch_stop = false,
                }
            }
        }
    }
}

/// The router, with the connection's control put into each request.
#[derive(Clone)]
struct ConnService {
    app: Router,
    ctl: ConnCtl,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <Router as tower::Service<axum::extract::Request>>::Future;

    fn call(&self, mut req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.ctl.clone());
        let mut app = self.app.clone();
        tower::Service::call(&mut app, req.map(axum::body::Body::new))
    }
}
