//! Wake-ups between nodes: one dedicated `LISTEN` connection per store.
//!
//! The transactions that make a delivery due — storing a routed message's
//! deliveries or a receipt's, replaying one, putting a dead node's attempt
//! back in the queue — run `SELECT pg_notify(`[`DELIVERIES`]`, '')`;
//! PostgreSQL sends the notification when (and only if) the transaction
//! commits, once per channel and transaction. Every [`super::PgStore`]
//! keeps one connection outside its pool that `LISTEN`s on [`DELIVERIES`]
//! and [`RELOAD`] and turns each notification into a permit on a
//! [`Notify`] ([`super::PgStore::wakeups`], [`super::PgStore::reloads`]):
//! the delivery stage of every node wakes at once instead of waiting for
//! its next poll, and a registry reload asked of one node reaches all.
//!
//! Nothing depends on a notification arriving: each node still polls
//! (`delivery.poll_ms`) and sweeps, so a notification lost while the
//! connection was down only costs time. The connection is checked every
//! [`PING`] and, when lost, made again with backoff (0.2 s doubling to
//! 30 s); after each reconnection both notifies get a permit, since
//! something may have been said while nobody listened.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Config, Connection, Socket};

/// Deliveries became due (payload empty).
pub const DELIVERIES: &str = "overgang_deliveries";
/// An operator reloaded the registry on some node (payload `registry`).
pub const RELOAD: &str = "overgang_reload";
/// How often the listening connection is checked with `SELECT 1`.
pub const PING: Duration = Duration::from_secs(30);

const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How the listening connection is made (as the pool's).
#[derive(Clone)]
pub(crate) enum Connector {
    Plain,
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// The notifies a store's listener gives permits to.
#[derive(Clone, Default)]
pub(crate) struct Wakeups {
    pub deliveries: Arc<Notify>,
    pub reload: Arc<Notify>,
}

/// Listens until aborted, reconnecting with backoff.
pub(crate) async fn run(config: Config, connector: Connector, w: Wakeups) {
    let mut backoff = BACKOFF_FIRST;
    let mut first = true;
    loop {
        let r = match &connector {
            Connector::Plain => session(&config, tokio_postgres::NoTls, &w, first).await,
            Connector::Tls(t) => session(&config, t.clone(), &w, first).await,
        };
        match r {
            // It was up, then lost: start again from the short pause.
            Ok(why) => {
                tracing::warn!(reason = %why, "the database's notification connection was lost; reconnecting");
                backoff = BACKOFF_FIRST;
                first = false;
            }
            Err(why) => {
                tracing::warn!(reason = %why, retry_in_ms = backoff.as_millis() as u64,
                    "could not listen for the other nodes' notifications; delivery falls back on polling meanwhile");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection: `Err` when it could not be set up, `Ok(why)` when it
/// was and later ended.
async fn session<T>(config: &Config, tls: T, w: &Wakeups, first: bool) -> Result<String, String>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, conn) = config.connect(tls).await.map_err(|e| e.to_string())?;
    serve(client, conn, w, first).await
}

async fn serve<S, T>(
    client: Client,
    mut conn: Connection<S, T>,
    w: &Wakeups,
    first: bool,
) -> Result<String, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let drive = async {
        loop {
            match poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => match n.channel() {
                    DELIVERIES => w.deliveries.notify_one(),
                    RELOAD => w.reload.notify_one(),
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return e.to_string(),
                None => return "closed".to_string(),
            }
        }
    };
    let listen = async {
        client
            .batch_execute(&format!("LISTEN {DELIVERIES}; LISTEN {RELOAD}"))
            .await
            .map_err(|e| e.to_string())?;
        // Whatever was said while nobody listened.
        w.deliveries.notify_one();
        if !first {
            w.reload.notify_one();
        }
        loop {
            tokio::time::sleep(PING).await;
            match tokio::time::timeout(PING, client.simple_query("SELECT 1")).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Ok::<String, String>(e.to_string()),
                Err(_) => return Ok("no answer to a check".into()),
            }
        }
    };
    tokio::select! {
        why = drive => Ok(why),
        r = listen => r,
    }
}
