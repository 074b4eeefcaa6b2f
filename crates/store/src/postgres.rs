//! The PostgreSQL backend (cargo feature `postgres`).
//!
//! [`PgStore`] implements [`Store`] with the same behaviour as
//! [`crate::sqlite::SqliteStore`] for several gateway nodes sharing one
//! database. Every write is one transaction (READ COMMITTED) that returns
//! only after its COMMIT (`synchronous_commit` is left on); a transaction
//! aborted by a deadlock or a serialization failure is run again (at most
//! [`MAX_RETRIES`] times). Reads of several statements (a message with
//! its history, deliveries with their events, the gauges and dashboard)
//! run in one read-only REPEATABLE READ transaction: one snapshot, as
//! SQLite's read transactions give.
//!
//! # Migrations
//!
//! The schema is embedded ([`schema`]), one SQL text per version, and the
//! versions applied are recorded in the table `overgang_schema`.
//! [`PgStore::connect`] runs the missing ones in one transaction that first
//! takes `pg_advisory_xact_lock(`[`MIGRATION_LOCK`]`)`: nodes starting at once
//! wait for each other, and each finds the schema the first one wrote. A
//! database whose version is newer than this program knows is refused
//! ([`StoreError::Open`]) rather than guessed at.
//!
//! # Order and locks
//!
//! Deliveries to one receiver about one patient go one at a time, in order
//! (a delivery waiting behind another is `held`, as in SQLite). Every
//! transaction that changes that order — inserting deliveries, claiming,
//! finishing, replaying, cancelling, recovering, storing a receipt — first
//! takes `pg_advisory_xact_lock(`[`PAIR_LOCK_CLASS`]`, hashtext(receiver,
//! patient))`, so two nodes never compute `held` or claim from the same
//! pair at once; `claim` also re-checks under that lock that no other
//! delivery of the pair is in flight (nor queued ahead of it, not held).
//! Locks are always taken in the order pair lock → delivery row → message
//! row (the message row is locked before its state is recomputed from its
//! deliveries, so two deliveries of one message finishing at once on two
//! nodes see each other's outcome). `claim` takes each delivery in its own
//! short transaction and skips rows another node has locked
//! (`FOR UPDATE SKIP LOCKED`). `due` is a plain read: locking its rows
//! would make the other nodes' claims skip them, and `claim` re-checks
//! everything under its locks anyway. Pair locks are hashed, so two pairs
//! may share one: they then merely wait for each other. Retention locks a
//! message before its deliveries (the other order); the rare deadlock
//! with an operator's action on the same message is detected by the server
//! and the transaction run again, as above.
//!
//! # Leases
//!
//! `claim` records who claimed a delivery (`lease_owner`, this store's
//! [`PgOptions::node_id`]) and until when (`lease_until = now +`
//! [`PgOptions::lease_ms`]). `recover(now)` puts back in the queue only the
//! `in_flight` deliveries whose lease has expired (`lease_until <= now`) or
//! whose owner is this node: a node restarting with the same node id cuts
//! off its own earlier attempts at once (as SQLite's `recover` does on one
//! node), while a new node (another id) never steals the live leases of
//! the others — they come back once their lease runs out. With several
//! nodes, call `recover` now and then (not only at start) so the attempts
//! of a node that died are taken over; it reads a partial index of the
//! deliveries in flight. For the leases to mean anything the node ids must
//! be stable per node and distinct between nodes, and the nodes' clocks
//! roughly agree (times are the callers' `now`, as everywhere in the store).
//!
//! `finish` of an attempt whose delivery is no longer this store's claim
//! (its lease was taken over by another node, or it was recovered and
//! claimed again, so the attempt count moved on) records the attempt as an
//! event only and leaves the newer state alone, as for a delivery answered
//! or cancelled meanwhile.
//!
//! # Wake-ups and reloads
//!
//! Transactions that make deliveries due (routed deliveries stored, a
//! receipt's delivery, a replay, a takeover) `NOTIFY overgang_deliveries`
//! on commit, and every store keeps one `LISTEN` connection outside its
//! pool ([`listen`]) that gives [`Store::wakeups`] a permit: the delivery
//! stages of all nodes wake at once instead of at their next poll.
//! [`Store::announce_reload`] sends `NOTIFY overgang_reload` and
//! [`Store::reloads`] hears it on every node. Notifications only save
//! time; polling stays the fallback while the connection is down.
//!
//! # Space
//!
//! PostgreSQL manages its own space (autovacuum): [`Store::space`] reports
//! `pg_database_size` as pages of `block_size`, no free list and
//! `incremental = false`; [`Store::incremental_vacuum`] does nothing and
//! returns the space. `queue_gauges().size_bytes` is `pg_database_size`.
//!
//! Errors carry PostgreSQL's message and SQLSTATE (never the DETAIL, which
//! may quote values) and message ids, never message content.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::{
    AccessEntry, AccessQuery, Alert, Attempt, Delivery, DeliveryEvent, DeliveryQuery,
    DeliveryState, DeliveryStats, DestinationStats, Due, FlowFactRow, MessageRecord, Millis,
    NewAccess, NewMessage, NewReceipt, OperatorAction, Page, PurgedMessage, Query, QueueGauges,
    Receipt, ReceiptOutcome, ReceiptTarget, RetentionRule, Space, Store, StoreError, Submitted,
    Transition, WorkQuery,
};

pub mod listen;
mod messages;
mod people;
mod queue;
mod retention;
pub mod schema;

#[cfg(all(test, feature = "postgres"))]
mod suite_pg;
#[cfg(all(test, feature = "postgres"))]
mod tests;

/// The key of the advisory lock held while migrating.
pub const MIGRATION_LOCK: i64 = 0x6f76_6572_6761_6e67; // "overgang"
/// The first key of the advisory locks on (receiver, patient) pairs.
pub const PAIR_LOCK_CLASS: i32 = 0x4f47_0001;
/// How often a transaction aborted by a deadlock or serialization failure
/// is tried again.
pub const MAX_RETRIES: u32 = 8;

/// How long the server lets a session of the store sit idle inside a
/// transaction before ending it (milliseconds).
pub const IDLE_IN_TX_MS: u32 = 60_000;

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;

/// Settings of [`PgStore::connect`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections in the pool (at least 1).
    pub pool_size: usize,
    /// How long a claim stands before another node may take the delivery
    /// over (`recover`), in milliseconds.
    pub lease_ms: i64,
    /// This node's id, recorded as the owner of its claims. Keep it stable
    /// across restarts of one node and distinct between nodes: `recover`
    /// at start takes back at once only the claims of this id. The default
    /// ([`default_node_id`]) is new for every process, so a node restarted
    /// with it waits up to [`PgOptions::lease_ms`] for its own cut-off
    /// attempts to come back (a configured id avoids that).
    pub node_id: String,
    /// How long to wait for a connection (connecting, or from the pool).
    pub connect_timeout: Duration,
    /// How long [`Store::ready`] waits for its `SELECT 1`.
    pub ready_timeout: Duration,
    /// With `sslmode=require`: trust the CA certificates (PEM) in this file
    /// instead of the web PKI's roots (a deployment's own CA). The server's
    /// name is always checked against its certificate.
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            lease_ms: 120_000,
            node_id: default_node_id(),
            connect_timeout: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(2),
            tls_ca_file: None,
        }
    }
}

/// A node id from the host's name, the process id and the start time
/// (unique enough; stable only for the process's life).
pub fn default_node_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
    format!("{host}-{}-{nanos:x}", std::process::id())
}

/// The PostgreSQL store. Cheap to clone; all methods take `&self`.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    closed: AtomicBool,
    lease_ms: i64,
    node_id: String,
    ready_timeout: Duration,
    /// The attempt count of each delivery this store claimed and has not
    /// finished: an attempt whose delivery was claimed again meanwhile is
    /// stale.
    claims: Mutex<HashMap<i64, i32>>,
    /// What the `LISTEN` connection wakes ([`listen`]).
    wakeups: listen::Wakeups,
    /// The task that keeps the `LISTEN` connection.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = self.listener.get_mut().ok().and_then(Option::take) {
            h.abort();
        }
    }
}

/// An error inside the backend: the database's own (retried when it is a
/// deadlock or a serialization failure) or the store's.
#[derive(Debug)]
pub(crate) enum Fail {
    Db(tokio_postgres::Error),
    Store(StoreError),
    /// Run the transaction again (what it read changed under it).
    Retry,
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    fn retryable(&self) -> bool {
        use tokio_postgres::error::SqlState;
        match self {
            Fail::Db(e) => e.code().is_some_and(|c| {
                *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
            }),
            Fail::Store(_) => false,
            Fail::Retry => true,
        }
    }

    fn into_store(self) -> StoreError {
        match self {
            Fail::Db(e) => db_error(&e),
            Fail::Store(e) => e,
            Fail::Retry => StoreError::Database("a transaction kept conflicting; try again".into()),
        }
    }
}

/// A database error as text without values: the message and SQLSTATE of a
/// server error (not its DETAIL), or what went wrong with the connection.
fn db_error(e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{} ({})", db.message(), db.code().code())),
        None if e.is_closed() => StoreError::Database("the database connection was lost".into()),
        None => StoreError::Database(format!("database connection: {e}")),
    }
}

pub(crate) type R<T> = Result<T, Fail>;
pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;
pub(crate) type P<'a> = &'a (dyn ToSql + Sync);

/// Runs a prepared (cached) statement and returns its rows.
pub(crate) async fn rows(tx: &Tx<'_>, sql: &str, params: &[P<'_>]) -> R<Vec<Row>> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query(&st, params).await?)
}

/// The statement's only row, if any.
pub(crate) async fn row(tx: &Tx<'_>, sql: &str, params: &[P<'_>]) -> R<Option<Row>> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&st, params).await?)
}

/// Runs a statement and returns how many rows it changed.
pub(crate) async fn exec(tx: &Tx<'_>, sql: &str, params: &[P<'_>]) -> R<u64> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&st, params).await?)
}

/// Boxed parameters of a statement built at run time (with `$n` numbered
/// by [`Args::push`]).
#[derive(Default)]
pub(crate) struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl Args {
    /// Adds a value and returns its placeholder (`$n`).
    pub fn push(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }

    pub fn refs(&self) -> Vec<P<'_>> {
        self.0.iter().map(|b| b.as_ref() as P<'_>).collect()
    }
}

/// Runs `$body` (an expression using `$tx`, a transaction) and commits;
/// runs it again on a deadlock or serialization failure.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        in_tx!(@run $store, false, |$tx| $body)
    };
    (@run $store:expr, $read:expr, |$tx:ident| $body:expr) => {{
        let mut tries = 0u32;
        loop {
            let mut client = $store.client().await?;
            let r: R<_> = async {
                let $tx = if $read {
                    client
                        .build_transaction()
                        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()
                        .await?
                } else {
                    client.transaction().await?
                };
                let v = $body;
                $tx.commit().await?;
                Ok(v)
            }
            .await;
            match r {
                Ok(v) => break Ok(v),
                Err(e) if e.retryable() && tries < MAX_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(u64::from(tries) * 5)).await;
                }
                Err(e) => break Err(e.into_store()),
            }
        }
    }};
}

/// Like [`in_tx!`] for reads of several statements: one read-only
/// REPEATABLE READ transaction, so they all see one snapshot (as SQLite's
/// read transactions do).
macro_rules! in_read_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        in_tx!(@run $store, true, |$tx| $body)
    };
}

impl PgStore {
    /// Connects to the database at `url` (a libpq-style URL or key=value
    /// string) and brings its schema to [`SCHEMA_VERSION`].
    ///
    /// `sslmode=require` uses TLS (rustls) and verifies the server's
    /// certificate and name against the web PKI's roots, or against
    /// [`PgOptions::tls_ca_file`]; without it (`disable`, or libpq's
    /// default `prefer`) the connection is plain.
    pub async fn connect(url: &str, opts: PgOptions) -> Result<PgStore, StoreError> {
        Self::connect_upto(url, opts, schema::MIGRATIONS.len()).await
    }

    /// [`PgStore::connect`] that brings the schema to version `upto` at
    /// most: what an older program would leave (for the migration tests).
    pub(crate) async fn connect_upto(
        url: &str,
        opts: PgOptions,
        upto: usize,
    ) -> Result<PgStore, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: redact(url),
            reason,
        };
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| open_err(format!("bad database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("overgang");
        }
        // A node that stops answering in the middle of a transaction (a
        // frozen VM) must not hold its row and pair locks for ever: the
        // server ends such a session after a minute. The store's own
        // transactions never wait on the client between statements.
        let options = config.get_options().unwrap_or_default().to_string();
        if !options.contains("idle_in_transaction_session_timeout") {
            let with = format!("{options} -c idle_in_transaction_session_timeout={IDLE_IN_TX_MS}");
            config.options(with.trim());
        }
        let mgr_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let listen_config = config.clone();
        let mut connector = listen::Connector::Plain;
        let mgr = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            let roots = match &opts.tls_ca_file {
                None => rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
                Some(file) => {
                    use rustls::pki_types::pem::PemObject;
                    use rustls::pki_types::CertificateDer;
                    let bad = |e: String| open_err(format!("TLS CA file {}: {e}", file.display()));
                    let mut roots = rustls::RootCertStore::empty();
                    for cert in
                        CertificateDer::pem_file_iter(file).map_err(|e| bad(e.to_string()))?
                    {
                        roots
                            .add(cert.map_err(|e| bad(e.to_string()))?)
                            .map_err(|e| bad(e.to_string()))?;
                    }
                    if roots.is_empty() {
                        return Err(bad("no certificate in it".into()));
                    }
                    roots
                }
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| open_err(format!("TLS: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let make = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            connector = listen::Connector::Tls(make.clone());
            Manager::from_config(config, make, mgr_config)
        } else {
            Manager::from_config(config, tokio_postgres::NoTls, mgr_config)
        };
        let pool = Pool::builder(mgr)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.connect_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let store = PgStore {
            inner: Arc::new(Inner {
                pool,
                closed: AtomicBool::new(false),
                lease_ms: opts.lease_ms.max(1),
                node_id: opts.node_id,
                ready_timeout: opts.ready_timeout,
                claims: Mutex::new(HashMap::new()),
                wakeups: listen::Wakeups::default(),
                listener: Mutex::new(None),
            }),
        };
        store.migrate(upto).await.map_err(|e| {
            open_err(match e {
                StoreError::Database(why) => why,
                other => other.to_string(),
            })
        })?;
        let task = tokio::spawn(listen::run(
            listen_config,
            connector,
            store.inner.wakeups.clone(),
        ));
        *store
            .inner
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(store)
    }

    /// Puts back in the queue the in-flight deliveries whose lease ran out
    /// and, with `own`, this node's own claims: `recover` and
    /// `reclaim_expired`.
    async fn requeue(&self, now: Millis, own: Option<&str>) -> Result<u64, StoreError> {
        let ids = in_tx!(self, |tx| queue::recoverable(&tx, now, own).await?)?;
        let mut n = 0;
        for id in ids {
            if in_tx!(self, |tx| queue::recover_one(&tx, id, now, own).await?)? {
                self.lock_claims().remove(&id);
                n += 1;
            }
        }
        Ok(n)
    }

    /// This store's node id (the owner of its claims).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The schema version of the database (0 before the first migration).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        in_tx!(self, |tx| {
            let exists = row(
                &tx,
                "SELECT to_regclass('overgang_schema') IS NOT NULL",
                &[],
            )
            .await?
            .map(|r| r.try_get::<_, bool>(0))
            .transpose()?
            .unwrap_or(false);
            if exists {
                let r = row(
                    &tx,
                    "SELECT coalesce(max(version), 0)::bigint FROM overgang_schema",
                    &[],
                )
                .await?;
                r.map(|r| r.try_get::<_, i64>(0)).transpose()?.unwrap_or(0)
            } else {
                0
            }
        })
    }

    async fn migrate(&self, upto: usize) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let r: R<()> = async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS overgang_schema (
                     version    INTEGER PRIMARY KEY,
                     applied_at BIGINT  NOT NULL
                 )",
            )
            .await?;
            let version: i64 = tx
                .query_one("SELECT coalesce(max(version), 0)::bigint FROM overgang_schema", &[])
                .await?
                .try_get(0)?;
            if version > SCHEMA_VERSION {
                return Err(Fail::Store(StoreError::Database(format!(
                    "the database has schema version {version}; this program knows up to {SCHEMA_VERSION}"
                ))));
            }
            let done = usize::try_from(version).unwrap_or(0);
            for (i, step) in schema::MIGRATIONS
                .iter()
                .enumerate()
                .take(upto)
                .skip(done)
            {
                tx.batch_execute(step).await?;
                let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
                tx.execute(
                    "INSERT INTO overgang_schema (version, applied_at)
                     VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                    &[&v],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        r.map_err(Fail::into_store)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.inner.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            deadpool_postgres::PoolError::Backend(e) => db_error(&e),
            deadpool_postgres::PoolError::Timeout(_) => {
                StoreError::Database("no database connection in time".into())
            }
            other => StoreError::Database(format!("database pool: {other}")),
        })
    }

    fn lock_claims(&self) -> std::sync::MutexGuard<'_, HashMap<i64, i32>> {
        self.inner
            .claims
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_listener(&self) -> std::sync::MutexGuard<'_, Option<tokio::task::JoinHandle<()>>> {
        self.inner
            .listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The URL without its password, for errors.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ if url.contains("password") => "(database connection string)".into(),
        _ => url.to_string(),
    }
}

impl Store for PgStore {
    async fn submit(&self, msg: NewMessage) -> Result<Submitted, StoreError> {
        let enc = messages::encode(msg);
        in_tx!(self, |tx| messages::submit(&tx, &enc).await?)
    }

    async fn get(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        in_read_tx!(self, |tx| messages::record(&tx, id).await?)
    }

    async fn apprec(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        in_tx!(self, |tx| messages::body(&tx, id, true).await?)
    }

    async fn original(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        in_tx!(self, |tx| messages::body(&tx, id, false).await?)
    }

    async fn search(&self, q: &Query) -> Result<Page, StoreError> {
        in_read_tx!(self, |tx| messages::search(&tx, q).await?)
    }

    async fn transition(&self, t: Transition) -> Result<(), StoreError> {
        in_tx!(self, |tx| messages::transition(&tx, &t).await?)
    }

    async fn due(&self, now: Millis, limit: u32) -> Result<Vec<Due>, StoreError> {
        in_read_tx!(self, |tx| queue::due(&tx, now, limit).await?)
    }

    async fn next_due(&self, after: Millis) -> Result<Option<Millis>, StoreError> {
        in_tx!(self, |tx| queue::next_due(&tx, after).await?)
    }

    async fn claim(&self, ids: Vec<i64>, now: Millis) -> Result<Vec<i64>, StoreError> {
        let lease_until = now.saturating_add(self.inner.lease_ms);
        let node = self.inner.node_id.clone();
        let mut claimed = Vec::with_capacity(ids.len());
        // One short transaction per delivery: each holds one pair lock.
        for id in ids {
            let got = in_tx!(self, |tx| queue::claim_one(
                &tx,
                id,
                now,
                lease_until,
                &node
            )
            .await?)?;
            if let Some(attempts) = got {
                self.lock_claims().insert(id, attempts);
                claimed.push(id);
            }
        }
        Ok(claimed)
    }

    async fn finish(&self, attempt: Attempt) -> Result<DeliveryState, StoreError> {
        let mine = self.lock_claims().get(&attempt.delivery_id).copied();
        let node = self.inner.node_id.clone();
        let r = in_tx!(self, |tx| queue::finish(&tx, &attempt, &node, mine).await?);
        if r.is_ok() {
            self.lock_claims().remove(&attempt.delivery_id);
        }
        r
    }

    async fn recover(&self, now: Millis) -> Result<u64, StoreError> {
        let node = self.inner.node_id.clone();
        self.requeue(now, Some(&node)).await
    }

    async fn reclaim_expired(&self, now: Millis) -> Result<u64, StoreError> {
        self.requeue(now, None).await
    }

    async fn receipt_target(
        &self,
        original_msg_id: &str,
        receiver_hers: Vec<String>,
    ) -> Result<Option<ReceiptTarget>, StoreError> {
        in_tx!(self, |tx| queue::receipt_target(
            &tx,
            original_msg_id,
            &receiver_hers
        )
        .await?)
    }

    async fn record_receipt(
        &self,
        delivery_id: i64,
        at: Millis,
        actor: String,
        receipt: NewReceipt,
    ) -> Result<ReceiptOutcome, StoreError> {
        in_tx!(self, |tx| queue::record_receipt(
            &tx,
            delivery_id,
            at,
            &actor,
            &receipt
        )
        .await?)
    }

    async fn deliveries_of(
        &self,
        message_id: &str,
    ) -> Result<Vec<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
        in_read_tx!(self, |tx| queue::deliveries_of(&tx, message_id).await?)
    }

    async fn delivery(
        &self,
        id: i64,
    ) -> Result<Option<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
        in_read_tx!(self, |tx| queue::delivery(&tx, id).await?)
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        in_tx!(self, |tx| queue::list(&tx, q).await?)
    }

    async fn receipts_of(&self, message_id: &str) -> Result<Vec<Receipt>, StoreError> {
        in_tx!(self, |tx| queue::receipts_of(&tx, message_id).await?)
    }

    async fn receipt_body(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        in_tx!(self, |tx| queue::receipt_body(&tx, id).await?)
    }

    async fn replay(&self, a: OperatorAction) -> Result<DeliveryState, StoreError> {
        in_tx!(self, |tx| queue::replay(&tx, &a).await?)
    }

    async fn cancel(&self, a: OperatorAction) -> Result<DeliveryState, StoreError> {
        in_tx!(self, |tx| queue::cancel(&tx, &a).await?)
    }

    async fn flag_overdue(
        &self,
        now: Millis,
        delivered_before: Millis,
    ) -> Result<Vec<i64>, StoreError> {
        in_tx!(self, |tx| queue::flag_overdue(&tx, now, delivered_before)
            .await?)
    }

    async fn alert(
        &self,
        kind: &str,
        subject: &str,
        text_nb: &str,
        text_en: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        in_tx!(self, |tx| queue::insert_alert(
            &tx, at, kind, subject, text_nb, text_en
        )
        .await?)
    }

    async fn alerts(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        in_tx!(self, |tx| queue::alerts(&tx, limit).await?)
    }

    async fn delivery_stats(&self, since: Millis) -> Result<DeliveryStats, StoreError> {
        in_read_tx!(self, |tx| queue::stats(&tx, since).await?)
    }

    async fn worklist(&self, q: &WorkQuery) -> Result<Page, StoreError> {
        in_read_tx!(self, |tx| people::worklist(&tx, q).await?)
    }

    async fn log_access(&self, a: NewAccess) -> Result<i64, StoreError> {
        in_tx!(self, |tx| people::log_access(&tx, &a).await?)
    }

    async fn access_log(&self, q: &AccessQuery) -> Result<Vec<AccessEntry>, StoreError> {
        in_tx!(self, |tx| people::access_log(&tx, q).await?)
    }

    async fn flow_facts(
        &self,
        since: Millis,
        patient_key: Option<String>,
    ) -> Result<Vec<FlowFactRow>, StoreError> {
        in_tx!(self, |tx| people::flow_facts(
            &tx,
            since,
            patient_key.as_deref()
        )
        .await?)
    }

    async fn flow_facts_page(
        &self,
        since: Millis,
        after: Option<String>,
        patients: u32,
    ) -> Result<Vec<FlowFactRow>, StoreError> {
        in_tx!(self, |tx| people::flow_facts_page(
            &tx,
            since,
            after.as_deref(),
            patients
        )
        .await?)
    }

    async fn set_flow_facts(&self, rows: Vec<FlowFactRow>) -> Result<(), StoreError> {
        in_tx!(self, |tx| people::set_flow_facts(&tx, &rows).await?)
    }

    async fn ready(&self) -> bool {
        let check = async {
            let client = self.client().await.ok()?;
            client.simple_query("SELECT 1").await.ok()
        };
        matches!(
            tokio::time::timeout(self.inner.ready_timeout, check).await,
            Ok(Some(_))
        )
    }

    fn wakeups(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.inner.wakeups.deliveries.clone())
    }

    /// A permit whenever some node announced a registry reload (channel
    /// [`listen::RELOAD`]), and after the listening connection was lost
    /// and made again.
    fn reloads(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.inner.wakeups.reload.clone())
    }

    /// `NOTIFY overgang_reload, 'registry'`: every node (this one
    /// included) reloads its registry file.
    async fn announce_reload(&self) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            rows(&tx, "SELECT pg_notify('overgang_reload', 'registry')", &[]).await?;
        })
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Err(StoreError::Closed);
        }
        if let Some(h) = self.lock_listener().take() {
            h.abort();
        }
        self.inner.pool.close();
        Ok(())
    }

    async fn queue_gauges(&self) -> Result<QueueGauges, StoreError> {
        in_read_tx!(self, |tx| retention::queue_gauges(&tx).await?)
    }

    async fn destination_stats(&self, now: Millis) -> Result<Vec<DestinationStats>, StoreError> {
        in_read_tx!(self, |tx| retention::destination_stats(&tx, now).await?)
    }

    async fn purge_expired(
        &self,
        rules: Vec<RetentionRule>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<PurgedMessage>, StoreError> {
        if limit == 0 || rules.iter().all(|r| r.cutoff(now).is_none()) {
            return Ok(Vec::new());
        }
        in_tx!(self, |tx| retention::purge(&tx, &rules, now, limit).await?)
    }

    async fn hold(
        &self,
        message_ids: Vec<String>,
        reason: String,
        at: Millis,
    ) -> Result<u64, StoreError> {
        in_tx!(self, |tx| retention::hold(&tx, &message_ids, &reason, at)
            .await?)
    }

    async fn release(&self, message_ids: Vec<String>, reason: String) -> Result<u64, StoreError> {
        in_tx!(self, |tx| retention::release(&tx, &message_ids, &reason)
            .await?)
    }

    async fn purge_access_log(&self, before: Millis, limit: u32) -> Result<u64, StoreError> {
        in_tx!(self, |tx| retention::purge_access_log(&tx, before, limit)
            .await?)
    }

    /// Nothing to do: PostgreSQL's autovacuum manages its space.
    async fn incremental_vacuum(&self, _pages: u32) -> Result<Space, StoreError> {
        self.space().await
    }

    async fn space(&self) -> Result<Space, StoreError> {
        in_tx!(self, |tx| retention::space(&tx).await?)
    }

    async fn patient_flow_facts(
        &self,
        patient_key: String,
        limit: u32,
    ) -> Result<Vec<FlowFactRow>, StoreError> {
        in_tx!(self, |tx| people::patient_flow_facts(
            &tx,
            &patient_key,
            limit
        )
        .await?)
    }
}
