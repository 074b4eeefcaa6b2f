//! The embedded SQLite backend.
//!
//! One file, `overgang.db`, in WAL mode with `synchronous=FULL`: a commit
//! returns only after the write-ahead log is on disk.
//!
//! **Writes** go through one writer thread that owns the only read-write
//! connection. [`Store::submit`] and [`Store::transition`] send a request
//! over a channel and wait for the answer. With group commit on, the writer
//! takes the first waiting request and everything else already queued (up to
//! [`SqliteOptions::max_batch`]), applies them in one `BEGIN IMMEDIATE`
//! transaction, each inside its own savepoint (so one failing request leaves
//! the others intact), commits once (one fsync for the batch) and only then
//! answers. When the commit fails, every request of the batch gets an error.
//! While the writer is busy, groups start at most every
//! [`SqliteOptions::commit_spacing`] (5 ms), so that under load one commit
//! carries several requests rather than one each (the hour-long soak made
//! some 700 commits a second for 200 messages, and their fsyncs stalled
//! intake; docs/RELIABILITY.md, Soak).
//! Requests of a batch are applied in order, so two submissions with the same
//! idempotency key behave as if sent one after the other.
//!
//! **Reads** use a small pool of read-only connections on blocking threads.
//! In WAL mode they see the last committed state and never wait for the
//! writer's transaction.
//!
//! **History is append-only**: the code inserts history rows and never changes
//! or removes them; triggers in the schema refuse it as well.
//!
//! Errors carry SQLite's own texts (which name tables and columns, never
//! values) and message ids, never message content.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::cursor::{decode_cursor, encode_cursor};
use crate::{
    AccessEntry, AccessQuery, Alert, Attempt, Delivery, DeliveryEvent, DeliveryQuery,
    DeliveryState, DeliveryStats, DestinationStats, Due, HistoryEntry, MessageRecord, Metadata,
    Millis, NewAccess, NewMessage, NewReceipt, OperatorAction, Page, PurgedMessage, Query, Receipt,
    ReceiptOutcome, ReceiptTarget, RetentionRule, Space, State, Store, StoreError, StoredAnswer,
    Submitted, Summary, Transition, WorkQuery,
};

/// The database file inside the store's directory.
pub const DB_FILE: &str = "overgang.db";

/// How long a connection waits for a lock held by another connection
/// (another process, or a store being reopened while the old writer ends).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Default and maximum page size of [`Store::search`].
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// What [`SqliteStore::backup_to`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backup {
    /// Size of the backup file.
    pub bytes: u64,
    /// The copy's schema version (`user_version`).
    pub schema_version: i64,
    /// Messages in the copy (accepted and rejected).
    pub messages: u64,
}

/// [`SqliteOptions::commit_spacing`] unless configured.
pub const DEFAULT_COMMIT_SPACING: Duration = Duration::from_millis(5);

/// Settings of [`SqliteStore::open`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Commit concurrent writes together (one fsync per batch). Off: one
    /// transaction, and one fsync, per write.
    pub group_commit: bool,
    /// The most requests in one group commit (at least 1).
    pub max_batch: usize,
    /// While the writer is busy (requests came in while it committed the
    /// last group), a group is committed no sooner than this after the
    /// one before began, and takes what came meanwhile: fewer, larger
    /// commits, so fewer fsyncs and fewer pages written twice, for at most
    /// this much more latency. A writer that is not busy (a lone client
    /// writing one thing after another) never waits. Zero: commit at once.
    pub commit_spacing: Duration,
    /// Read-only connections for reads (at least 1).
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            group_commit: true,
            max_batch: 256,
            commit_spacing: DEFAULT_COMMIT_SPACING,
            readers: 4,
        }
    }
}

/// The schema, one entry per version: `MIGRATIONS[n]` takes a database from
/// `user_version` n to n + 1. Append new versions; never edit old ones.
const MIGRATIONS: &[&str] = &[
    // Version 1: messages, their bodies and their history.
    r#"
CREATE TABLE messages (
    id              TEXT    PRIMARY KEY NOT NULL,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    system          TEXT    NOT NULL,
    idempotency_key TEXT    UNIQUE,
    sha256          BLOB    NOT NULL CHECK (length(sha256) = 32),
    size            INTEGER NOT NULL,
    msg_id          TEXT,
    msg_type        TEXT,
    standard        TEXT,
    sender_her      TEXT,
    receiver_her    TEXT,
    patient_key     TEXT,
    verdict         TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    apprec_status   INTEGER NOT NULL,
    findings_json   TEXT    NOT NULL,
    next_attempt_at INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_received ON messages (received_at, id);
CREATE INDEX messages_sender   ON messages (sender_her, received_at, id);
CREATE INDEX messages_receiver ON messages (receiver_her, received_at, id);
CREATE INDEX messages_type     ON messages (msg_type, received_at, id);
CREATE INDEX messages_state    ON messages (state, received_at, id);
CREATE INDEX messages_patient  ON messages (patient_key, received_at, id);
CREATE INDEX messages_queue    ON messages (state, receiver_her, next_attempt_at);

CREATE TABLE bodies (
    message_id TEXT PRIMARY KEY NOT NULL REFERENCES messages (id),
    original   BLOB NOT NULL,
    apprec     BLOB NOT NULL
);

CREATE TABLE history (
    seq        INTEGER PRIMARY KEY,
    message_id TEXT    NOT NULL REFERENCES messages (id),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    reason     TEXT    NOT NULL
);
CREATE INDEX history_message ON history (message_id, seq);
CREATE TRIGGER history_append_only_u BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER history_append_only_d BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
"#,
    // Version 2: bodies may be stored compressed (0 = as received, 1 = LZ4).
    r#"
ALTER TABLE bodies ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
"#,
    // Version 3: deliveries (one per message and receiver) with their
    // append-only events, receivers' receipts, and alerts.
    r#"
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT    NOT NULL REFERENCES messages (id),
    kind            TEXT    NOT NULL,
    receiver_her    TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    patient_key     TEXT,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    window_start    INTEGER NOT NULL,
    next_attempt_at INTEGER,
    delivered_at    INTEGER,
    answered_at     INTEGER,
    last_error      TEXT,
    apprec_overdue  INTEGER NOT NULL DEFAULT 0,
    receipt_id      INTEGER REFERENCES receipts (id)
);
CREATE INDEX deliveries_due      ON deliveries (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX deliveries_order    ON deliveries (receiver_her, patient_key, id)
    WHERE state IN ('queued', 'in_flight');
CREATE INDEX deliveries_message  ON deliveries (message_id, id);
CREATE INDEX deliveries_state    ON deliveries (state, id);
CREATE INDEX deliveries_receiver ON deliveries (receiver_her, id);
CREATE INDEX deliveries_waiting  ON deliveries (delivered_at)
    WHERE state = 'delivered' AND apprec_overdue = 0;
CREATE INDEX deliveries_answered ON deliveries (answered_at) WHERE answered_at IS NOT NULL;
CREATE INDEX messages_msg_id     ON messages (msg_id);

CREATE TABLE delivery_events (
    seq         INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    from_state  TEXT,
    to_state    TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);
CREATE INDEX delivery_events_delivery ON delivery_events (delivery_id, seq);
CREATE TRIGGER delivery_events_append_only_u BEFORE UPDATE ON delivery_events
BEGIN SELECT RAISE(ABORT, 'delivery events are append-only'); END;
CREATE TRIGGER delivery_events_append_only_d BEFORE DELETE ON delivery_events
BEGIN SELECT RAISE(ABORT, 'delivery events are append-only'); END;

CREATE TABLE receipts (
    id            INTEGER PRIMARY KEY,
    message_id    TEXT    NOT NULL REFERENCES messages (id),
    delivery_id   INTEGER NOT NULL REFERENCES deliveries (id),
    received_at   INTEGER NOT NULL,
    status        INTEGER NOT NULL,
    apprec_msg_id TEXT,
    from_her      TEXT,
    via           TEXT    NOT NULL,
    codec         INTEGER NOT NULL,
    body          BLOB    NOT NULL
);
CREATE INDEX receipts_message  ON receipts (message_id, id);
CREATE INDEX receipts_delivery ON receipts (delivery_id, apprec_msg_id);

CREATE TABLE alerts (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    text_nb TEXT    NOT NULL,
    text_en TEXT    NOT NULL
);
"#,
    // Version 4: a delivery waiting behind an earlier one to the same
    // receiver about the same patient is `held`, and released when that one
    // leaves the queue; finding due deliveries is then an index range, not
    // a probe per waiting delivery (a receiver down with a long backlog).
    r#"
ALTER TABLE deliveries ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET held = 1
WHERE state = 'queued' AND patient_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM deliveries e
    WHERE e.receiver_her = deliveries.receiver_her
      AND e.patient_key = deliveries.patient_key
      AND e.id < deliveries.id AND e.state IN ('queued', 'in_flight'));
DROP INDEX deliveries_due;
CREATE INDEX deliveries_ready ON deliveries (next_attempt_at, id)
    WHERE state = 'queued' AND held = 0;
CREATE INDEX deliveries_held ON deliveries (receiver_her, patient_key, id)
    WHERE state = 'queued' AND held = 1;
"#,
    // Version 5: the people's pages. Findings counted per message (for the
    // worklist), the HER-ids each message names (a nurse's units), keyed
    // hashes of patient name words (search without names in clear), and
    // the append-only access log.
    r#"
ALTER TABLE messages ADD COLUMN errors   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN warnings INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET
    errors   = (SELECT count(*) FROM json_each(findings_json) WHERE value ->> 'severity' = 'error'),
    warnings = (SELECT count(*) FROM json_each(findings_json) WHERE value ->> 'severity' = 'warning')
WHERE json_valid(findings_json);
CREATE INDEX messages_flagged ON messages (received_at, id) WHERE errors + warnings > 0;

CREATE TABLE message_parties (
    her         TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    message_id  TEXT    NOT NULL REFERENCES messages (id),
    PRIMARY KEY (her, received_at, message_id)
) WITHOUT ROWID;
CREATE INDEX message_parties_message ON message_parties (message_id);
INSERT OR IGNORE INTO message_parties (her, received_at, message_id)
    SELECT sender_her, received_at, id FROM messages WHERE sender_her IS NOT NULL;
INSERT OR IGNORE INTO message_parties (her, received_at, message_id)
    SELECT receiver_her, received_at, id FROM messages WHERE receiver_her IS NOT NULL;
INSERT OR IGNORE INTO message_parties (her, received_at, message_id)
    SELECT d.receiver_her, m.received_at, m.id
    FROM deliveries d JOIN messages m ON m.id = d.message_id;

CREATE TABLE name_terms (
    term       TEXT NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages (id),
    PRIMARY KEY (term, message_id)
) WITHOUT ROWID;

CREATE TABLE access_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    user        TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    message_id  TEXT,
    patient_key TEXT,
    query       TEXT,
    name_terms  TEXT,
    unit        TEXT,
    outcome     TEXT    NOT NULL
);
CREATE INDEX access_log_user    ON access_log (user, seq);
CREATE INDEX access_log_patient ON access_log (patient_key, seq) WHERE patient_key IS NOT NULL;
CREATE INDEX access_log_at      ON access_log (at);
CREATE TRIGGER access_log_append_only_u BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER access_log_append_only_d BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
"#,
    // Version 6: the operators' dashboard. Per destination: what waits,
    // what is overdue, what was delivered and what failed lately, and the
    // newest error, each read from a small (mostly partial) index rather
    // than from every delivery ever made.
    r#"
CREATE INDEX deliveries_destination ON deliveries (state, receiver_her, window_start)
    WHERE state IN ('queued', 'in_flight', 'dead_letter');
CREATE INDEX deliveries_overdue ON deliveries (receiver_her)
    WHERE state = 'delivered' AND apprec_overdue = 1;
CREATE INDEX deliveries_delivered ON deliveries (delivered_at, receiver_her)
    WHERE delivered_at IS NOT NULL;
CREATE INDEX deliveries_errors ON deliveries (receiver_her, updated_at)
    WHERE last_error IS NOT NULL AND state IN ('queued', 'dead_letter');
CREATE INDEX delivery_events_failed ON delivery_events (at, delivery_id)
    WHERE from_state = 'in_flight' AND to_state IN ('queued', 'dead_letter');
"#,
    // Version 7: patient flow. Each message's flow fact (what stays,
    // deadlines and the discharge-ready board need of it, no names or ids)
    // beside the message, so the flow is computed without reading bodies.
    r#"
CREATE TABLE flow_facts (
    message_id  TEXT    PRIMARY KEY NOT NULL REFERENCES messages (id),
    patient_key TEXT,
    received_at INTEGER NOT NULL,
    fact        TEXT    NOT NULL
);
CREATE INDEX flow_facts_received ON flow_facts (received_at);
CREATE INDEX flow_facts_patient  ON flow_facts (patient_key, received_at)
    WHERE patient_key IS NOT NULL;
"#,
    // Version 8: retention. Holds (a later stage keeps messages of an open
    // stay), the access log's cut-off (the one row only the retention job
    // moves, and only forward) under which the access log's delete trigger
    // lets old entries go, an index of messages by state and last change
    // (the sweeper's search), and one of name words by message (deleting
    // them). Old databases keep their auto-vacuum
    // mode: switching needs a VACUUM of the whole file (docs/RELIABILITY.md).
    r#"
CREATE TABLE retention_holds (
    message_id TEXT    NOT NULL REFERENCES messages (id),
    reason     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (message_id, reason)
) WITHOUT ROWID;

CREATE TABLE retention_cutoffs (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    access_log_before INTEGER NOT NULL
);
INSERT INTO retention_cutoffs (id, access_log_before) VALUES (1, 0);
CREATE TRIGGER retention_cutoffs_forward BEFORE UPDATE ON retention_cutoffs
WHEN new.access_log_before < old.access_log_before OR new.id IS NOT old.id
BEGIN SELECT RAISE(ABORT, 'the access log cut-off only moves forward'); END;
CREATE TRIGGER retention_cutoffs_kept BEFORE DELETE ON retention_cutoffs
BEGIN SELECT RAISE(ABORT, 'the retention cut-offs are kept'); END;

DROP TRIGGER access_log_append_only_d;
CREATE TRIGGER access_log_append_only_d BEFORE DELETE ON access_log
WHEN old.at >= coalesce(
    (SELECT access_log_before FROM retention_cutoffs WHERE id = 1), -9223372036854775808)
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;

-- Not partial: SQLite uses a partial index only when the query names
-- its condition, and the sweeper asks with the state as a parameter.
CREATE INDEX messages_expiry ON messages (state, updated_at);
-- Deleting a message's name words: the table's key starts with the word.
CREATE INDEX name_terms_message ON name_terms (message_id);
"#,
    // Version 9: less to write per commit. `messages_queue` was the
    // message-level queue of version 1; deliveries (version 3) replaced it,
    // no query reads it, yet every change of a message's state moved its
    // entry, a page of every commit's log (RELIABILITY.md, Soak, finding 8).
    r#"
DROP INDEX IF EXISTS messages_queue;
"#,
    // Version 10: the deliveries waiting for an AppRec are only messages.
    // Receipts sent back to a sender are never answered, stay `delivered`
    // until retention, and filled this index: the sweep for overdue AppRecs
    // (every 30 s, on the writer) read every one of them, and the planner
    // preferred the state index, every delivered delivery (RELIABILITY.md,
    // Soak, finding 9).
    r#"
DROP INDEX IF EXISTS deliveries_waiting;
CREATE INDEX deliveries_waiting ON deliveries (delivered_at)
    WHERE state = 'delivered' AND apprec_overdue = 0 AND kind = 'message';
"#,
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// The SQLite store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    closed: AtomicBool,
    /// `None` once closed; dropping the last sender ends the writer.
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Dropping it stops the checkpointer thread.
    checkpointer_stop: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    /// One permit per reader connection.
    read_permits: Arc<Semaphore>,
    read_conns: Mutex<Vec<Connection>>,
    /// What the writer has done since open.
    stats: Arc<WriterStats>,
    /// The checkpointer's own handle of the database file, for its syncs
    /// (see [`checkpoint_loop`]). Held here, by the writer and by the
    /// checkpointer, each until its connections are closed, and declared
    /// last so that it outlives the readers: closing any handle of a file
    /// drops the process's POSIX locks on it, SQLite's among them.
    _db_file: Arc<std::fs::File>,
}

/// Counts kept by the writer thread, for tests and diagnosis.
#[derive(Default)]
struct WriterStats {
    /// Groups committed (or tried).
    groups: AtomicU64,
    /// Groups held back by the commit spacing (the writer was busy).
    held: AtomicU64,
    /// Syncs of the database file by the checkpointer.
    checkpoint_syncs: AtomicU64,
}

/// A write for the writer thread, with where to send its outcome.
enum Request {
    Submit {
        msg: Box<Encoded>,
        reply: oneshot::Sender<Result<Submitted, StoreError>>,
    },
    Transition {
        t: Transition,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Any other write: a function run on the writer's connection inside
    /// the batch's transaction, and where to send its result.
    Job(Box<dyn Job>),
    /// Tests only: a write that makes the batch's COMMIT fail.
    #[cfg(test)]
    PoisonCommit {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// A write run by the writer thread; see [`SqliteStore::write_with`].
trait Job: Send {
    fn run(self: Box<Self>, conn: &Connection) -> Outcome;
    fn abort(self: Box<Self>, why: &str);
}

/// A job's result, held until its batch is committed.
trait Done: Send {
    fn is_ok(&self) -> bool;
    fn send(self: Box<Self>);
    fn fail(self: Box<Self>, why: &str);
}

struct JobOf<T, F> {
    f: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

struct DoneOf<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for JobOf<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(self: Box<Self>, conn: &Connection) -> Outcome {
        let result = (self.f)(conn);
        Outcome::Job(Box::new(DoneOf {
            result,
            reply: self.reply,
        }))
    }

    fn abort(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(StoreError::Database(why.to_string())));
    }
}

impl<T: Send + 'static> Done for DoneOf<T> {
    fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    fn send(self: Box<Self>) {
        let _ = self.reply.send(self.result);
    }

    fn fail(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(StoreError::Database(why.to_string())));
    }
}

/// A request's outcome, held until its batch is committed.
enum Outcome {
    Job(Box<dyn Done>),
    Submit(
        oneshot::Sender<Result<Submitted, StoreError>>,
        Result<Submitted, StoreError>,
    ),
    Transition(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
}

impl Outcome {
    fn is_ok(&self) -> bool {
        match self {
            Outcome::Submit(_, r) => r.is_ok(),
            Outcome::Transition(_, r) => r.is_ok(),
            Outcome::Job(d) => d.is_ok(),
        }
    }

    /// Sends the outcome; a caller that stopped waiting is no error.
    fn send(self) {
        match self {
            Outcome::Submit(reply, r) => {
                let _ = reply.send(r);
            }
            Outcome::Transition(reply, r) => {
                let _ = reply.send(r);
            }
            Outcome::Job(d) => d.send(),
        }
    }

    /// Sends an error instead of the outcome (the batch did not commit).
    fn fail(self, why: &str) {
        let err = || StoreError::Database(why.to_string());
        match self {
            Outcome::Submit(reply, _) => {
                let _ = reply.send(Err(err()));
            }
            Outcome::Transition(reply, _) => {
                let _ = reply.send(Err(err()));
            }
            Outcome::Job(d) => d.fail(why),
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`: the database file is
    /// `dir/overgang.db`. Brings the schema up to [`SCHEMA_VERSION`].
    pub fn open(dir: &Path, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: dir.display().to_string(),
            reason,
        };
        let reason = |e: StoreError| match e {
            StoreError::Database(why) => why,
            other => other.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let path = dir.join(DB_FILE);

        let mut conn = open_writer(&path).map_err(|e| open_err(reason(e)))?;
        migrate(&mut conn).map_err(|e| open_err(reason(e)))?;
        let db_file = Arc::new(
            std::fs::File::open(&path).map_err(|e| open_err(format!("{}: {e}", path.display())))?,
        );

        let readers = opts.readers.max(1);
        let mut read_conns = Vec::with_capacity(readers);
        for _ in 0..readers {
            read_conns.push(open_reader(&path).map_err(|e| open_err(reason(e)))?);
        }

        let max_batch = opts.max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(4));
        let group_commit = opts.group_commit;
        let spacing = opts.commit_spacing;
        let stats = Arc::new(WriterStats::default());
        // Frames in the log, as the checkpointer last saw them.
        let log_frames = Arc::new(AtomicU64::new(0));
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn({
                let stats = stats.clone();
                let log_frames = log_frames.clone();
                let db_file = Arc::clone(&db_file);
                move || {
                    writer_loop(
                        conn,
                        rx,
                        group_commit,
                        max_batch,
                        spacing,
                        log_frames,
                        stats,
                    );
                    // Only now that its connection is closed (above).
                    drop(db_file);
                }
            })
            .map_err(|e| open_err(e.to_string()))?;

        let ckpt_conn = open_checkpointer(&path).map_err(|e| open_err(reason(e)))?;
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let checkpointer = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn({
                let db_file = Arc::clone(&db_file);
                let stats = stats.clone();
                move || {
                    checkpoint_loop(ckpt_conn, &db_file, stop_rx, log_frames, &stats);
                    drop(db_file);
                }
            })
            .map_err(|e| open_err(e.to_string()))?;

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                closed: AtomicBool::new(false),
                requests: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                checkpointer_stop: Mutex::new(Some(stop_tx)),
                checkpointer: Mutex::new(Some(checkpointer)),
                read_permits: Arc::new(Semaphore::new(readers)),
                read_conns: Mutex::new(read_conns),
                stats,
                _db_file: db_file,
            }),
        })
    }

    /// Groups of writes the writer has committed (or tried to) since the
    /// store was opened: one transaction and one fsync each.
    pub fn groups_committed(&self) -> u64 {
        self.inner.stats.groups.load(Ordering::Relaxed)
    }

    /// Of those, the groups the writer held back for
    /// [`SqliteOptions::commit_spacing`] because it was busy.
    pub fn groups_held_back(&self) -> u64 {
        self.inner.stats.held.load(Ordering::Relaxed)
    }

    /// Tests only: syncs of the database file by the checkpointer thread.
    #[cfg(test)]
    fn checkpoint_syncs(&self) -> u64 {
        self.inner.stats.checkpoint_syncs.load(Ordering::Relaxed)
    }

    /// Tests only: requests handed to the writer that it has not taken yet.
    #[cfg(test)]
    fn queued(&self) -> usize {
        lock(&self.inner.requests)
            .as_ref()
            .map_or(0, |s| s.max_capacity() - s.capacity())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The space of the database in `dir`, read without opening the store
    /// (no migration, nothing written).
    pub fn space_at(dir: &Path) -> Result<Space, StoreError> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        retention::space(&conn)
    }

    /// Switches the database in `dir` to incremental auto-vacuum, which a
    /// database created before schema version 8 lacks, with a `VACUUM`: it
    /// rewrites the whole file, so it takes time on a large store and
    /// needs free disk as large as the database; run it with the gateway
    /// stopped (its writes would wait meanwhile). Returns the space before
    /// and after. A database already incremental is left as it is.
    pub fn vacuum_into_incremental(dir: &Path) -> Result<(Space, Space), StoreError> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let before = retention::space(&conn)?;
        if before.incremental {
            return Ok((before, before));
        }
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.execute_batch("VACUUM")?;
        let after = retention::space(&conn)?;
        conn.close().map_err(|(_, e)| StoreError::from(e))?;
        Ok((before, after))
    }

    /// Writes a consistent copy of the database in `dir` to the new file
    /// `to`, while the gateway may be running (docs/OPERATIONS.md,
    /// "Backup and restore").
    ///
    /// `VACUUM INTO` on a read-only connection: one read transaction, so
    /// the copy is the database as of one commit (everything committed
    /// before it began, nothing half of a later group), and the writer goes
    /// on meanwhile (WAL mode: readers and the writer do not wait for each
    /// other). The copy is written to `to` + `.partial`, checked
    /// (`PRAGMA quick_check`), flushed to disk (SQLite does not sync the
    /// file `VACUUM INTO` writes) and only then renamed to `to`, so a file
    /// named `to` is always a whole backup. `to` must not exist.
    pub fn backup_to(dir: &Path, to: &Path) -> Result<Backup, StoreError> {
        let path = dir.join(DB_FILE);
        let open_err = |p: &Path, reason: String| StoreError::Open {
            path: p.display().to_string(),
            reason,
        };
        if !path.is_file() {
            return Err(open_err(&path, "no database file".into()));
        }
        if to.exists() {
            return Err(open_err(to, "the backup file exists already".into()));
        }
        let mut partial = to.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        // A partial file is what an interrupted backup left: never a backup.
        match std::fs::remove_file(&partial) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(open_err(&partial, e.to_string())),
        }
        let target = partial
            .to_str()
            .ok_or_else(|| open_err(&partial, "the path is not UTF-8".into()))?
            .to_owned();

        let copied = (|| -> Result<Backup, StoreError> {
            let src = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| open_err(&path, e.to_string()))?;
            src.busy_timeout(BUSY_TIMEOUT)?;
            src.execute("VACUUM INTO ?1", [&target])?;
            drop(src);

            let copy = Connection::open_with_flags(
                &partial,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| open_err(&partial, e.to_string()))?;
            let check: String = copy.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            if check != "ok" {
                return Err(StoreError::Database(format!(
                    "the copy failed its check: {check}"
                )));
            }
            let schema_version: i64 =
                copy.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let messages: i64 =
                copy.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
            copy.close().map_err(|(_, e)| StoreError::from(e))?;

            let file =
                std::fs::File::open(&partial).map_err(|e| open_err(&partial, e.to_string()))?;
            file.sync_all()
                .map_err(|e| open_err(&partial, e.to_string()))?;
            let bytes = file
                .metadata()
                .map_err(|e| open_err(&partial, e.to_string()))?
                .len();
            Ok(Backup {
                bytes,
                schema_version,
                messages: u64::try_from(messages).unwrap_or(0),
            })
        })();
        let backup = match copied {
            Ok(b) => b,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, to).map_err(|e| open_err(to, e.to_string()))?;
        // The rename itself is durable once the folder is synced.
        let folder = match to.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Ok(d) = std::fs::File::open(&folder) {
            let _ = d.sync_all();
        }
        Ok(backup)
    }

    /// Hands a request to the writer and waits for its outcome.
    async fn write<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        let sender = lock(&self.inner.requests)
            .as_ref()
            .cloned()
            .ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let sent = sender.send(make(reply)).await;
        // Let go of the sender before waiting: the writer ends (at close)
        // only when every sender is gone.
        drop(sender);
        if sent.is_err() {
            return Err(self.writer_gone());
        }
        match answer.await {
            Ok(r) => r,
            Err(_) => Err(self.writer_gone()),
        }
    }

    /// Runs `f` on the writer's connection inside a group-commit
    /// transaction (in its own savepoint: an error undoes only its own
    /// changes) and returns its result once the transaction is durable.
    async fn write_with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write(|reply| Request::Job(Box::new(JobOf { f, reply })))
            .await
    }

    fn writer_gone(&self) -> StoreError {
        if self.inner.closed.load(Ordering::Acquire) {
            StoreError::Closed
        } else {
            StoreError::Database("the store's writer has stopped".into())
        }
    }

    /// Runs `f` on a reader connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let permit = Arc::clone(&self.inner.read_permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = lock(&inner.read_conns).pop();
            let mut conn = match pooled {
                Some(c) => c,
                // A reader lost to a panic is replaced.
                None => open_reader(&inner.path)?,
            };
            let result = f(&mut conn);
            if !inner.closed.load(Ordering::Acquire) && conn.is_autocommit() {
                lock(&inner.read_conns).push(conn);
            }
            result
        });
        task.await
            .map_err(|_| StoreError::Database("a read task failed".into()))?
    }
}

/// Locks a mutex; a panic elsewhere leaves the data usable (a vector of
/// connections, an optional sender or join handle).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without `close`: stop taking requests and let the writer finish
        // what is queued on its own. Not joined here: drop must not block.
        self.closed.store(true, Ordering::Release);
        lock(&self.requests).take();
        lock(&self.writer).take();
        lock(&self.checkpointer_stop).take();
        lock(&self.checkpointer).take();
    }
}

/// Page size of a new database: most messages (4–20 kB) then span fewer
/// overflow pages, and a commit writes fewer, larger WAL frames.
const PAGE_SIZE: i64 = 8192;

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Takes effect only when the database is created (a no-op afterwards).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // So is this: a new database gives freed pages back to the file system
    // in small steps (`PRAGMA incremental_vacuum`, the retention sweeper's
    // schedule). An existing one keeps its mode; see docs/RELIABILITY.md.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each request of a group runs in a savepoint, whose statement journal
    // would otherwise be a temporary file written page by page: keep it in
    // memory (it only serves rolling back one request; durability is the
    // WAL's). A 64 MiB page cache holds a whole group of 256 messages, so
    // dirty pages are not spilled to the WAL before the commit.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    // Checkpoints run on their own thread (`checkpoint_loop`), so the
    // writer's commits do not wait for them; this is a backstop for when
    // the log does not start over (128 MiB of log): past it, SQLite runs a
    // passive checkpoint after every commit of the writer until the log
    // starts over (docs/RELIABILITY.md, Soak, finding 7).
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
    // When the log starts over (after the writer's RESTART or its
    // autocheckpoint), its file is cut back to this size rather than kept
    // at its largest.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(conn)
}

/// Frames in the write-ahead log (64 MiB of 4 KiB pages) above which the
/// writer runs a RESTART checkpoint between two groups (see
/// [`writer_loop`]). Counted in frames, as the checkpointer last saw them,
/// not by the file's size: the file is kept at its size when the log
/// starts over (up to [`WAL_SIZE_LIMIT`]).
const WAL_RESTART_FRAMES: u64 = 16_384;
/// How long that checkpoint may wait for readers of older snapshots
/// before the writer gives up and goes on (trying again a second later).
const WAL_RESTART_WAIT: Duration = Duration::from_millis(200);
/// What the log file is cut back to when it starts over (bytes). Above
/// what the log reaches under load (about 64 to 130 MiB): a file cut back
/// and grown again takes new blocks from the file system each time (at
/// 200 messages/s, some 50 MB a second), and each fsync then commits that
/// to the file system's journal; a file kept at its size is overwritten in
/// place.
const WAL_SIZE_LIMIT: i64 = 160 * 1024 * 1024;

/// How often the checkpointer folds the log into the database. Often
/// enough that it, not the writer, does most of the folding: what it
/// leaves, the writer's own checkpoints (SQLite's autocheckpoint and the
/// RESTART of [`writer_loop`]) copy while intake waits, and each of those
/// pages is a random write into a database file that grows with the
/// store. At 500 ms the writer did most of it, and a 2.4 GB store answered
/// with twice the p99 of 100 ms (docs/RELIABILITY.md, Soak, finding 7).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Folds committed log frames into the database file every
/// [`CHECKPOINT_EVERY`] (PASSIVE: never blocks the writer or readers),
/// until told to stop. Durability does not depend on it: a committed frame
/// in the log is as durable as a page in the database. Under steady load
/// it never catches up with the newest frames, so it never lets the log
/// start over; the writer sees to that ([`writer_loop`]).
///
/// It leaves in `log_frames` how many frames the log held at its last
/// checkpoint, for the writer to decide when the log must start over.
///
/// After a checkpoint that copied pages it syncs the database file itself
/// (`db_file`, its own handle of it). SQLite syncs the database only in the
/// checkpoint that catches up with the whole log, and under load that is
/// the writer's (its autocheckpoint or RESTART): that sync then flushed
/// every page the checkpointer had copied since, scattered over a file
/// that grows with the store, while intake waited (38–48 ms every 1.5 s on
/// a 2.4 GB store; docs/RELIABILITY.md, Soak, findings 8 and 9). Synced
/// here, off the writer's path, they are on disk before the writer's sync
/// comes.
fn checkpoint_loop(
    conn: Connection,
    db_file: &std::fs::File,
    stop: std::sync::mpsc::Receiver<()>,
    log_frames: Arc<AtomicU64>,
    stats: &WriterStats,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut copied_before: i64 = 0;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // (busy, frames in the log, frames checkpointed)
        if let Ok((frames, copied)) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        }) {
            log_frames.store(u64::try_from(frames).unwrap_or(0), Ordering::Relaxed);
            // Fewer than before: the log started over since.
            if copied > 0 && copied != copied_before {
                // Best effort: the checkpoint that completes the log
                // syncs anyway.
                if db_file.sync_data().is_ok() {
                    stats.checkpoint_syncs.fetch_add(1, Ordering::Relaxed);
                }
            }
            copied_before = copied;
        }
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction. A database
/// from a newer program is refused rather than guessed at.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Database(format!(
            "the database has schema version {version}; this program knows up to {SCHEMA_VERSION}"
        )));
    }
    let done = usize::try_from(version).unwrap_or(0);
    for step in &MIGRATIONS[done..] {
        tx.execute_batch(step)?;
    }
    if version != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(tx.commit()?)
}

/// The writer thread: batches requests until every sender is gone, then
/// checkpoints the log and closes the connection.
///
/// When requests came in while the last group was being committed, the
/// next group waits until `spacing` after the last one began and takes
/// what came meanwhile (see [`SqliteOptions::commit_spacing`]).
///
/// Between two groups, when the log has grown past [`WAL_RESTART_FRAMES`]
/// (as the checkpointer last counted), it runs a RESTART checkpoint
/// itself: the passive
/// checkpoints of [`checkpoint_loop`] never catch up under steady load, so
/// the log would never start over and its file would grow without end (a
/// soak at 25 messages/s grew it by 270 kB per message). Being the only
/// writer, it needs no writer lock; it copies what the passive ones left,
/// waits at most [`WAL_RESTART_WAIT`] for readers of older snapshots, and
/// the next commit starts the log over (from the start of the same file,
/// which is cut back only if it passed [`WAL_SIZE_LIMIT`]). Writes wait
/// meanwhile (milliseconds).
fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Request>,
    group_commit: bool,
    max_batch: usize,
    spacing: Duration,
    log_frames: Arc<AtomicU64>,
    stats: Arc<WriterStats>,
) {
    let limit = if group_commit { max_batch } else { 1 };
    let mut batch = Vec::with_capacity(limit);
    let mut last_restart: Option<std::time::Instant> = None;
    // When the last group began, if requests came while it was being
    // committed (then the writer is busy: see `commit_spacing`). Looked at
    // after the commit and before the answers: a lone client sends its
    // next request only once answered, so it never counts.
    let mut busy_since: Option<std::time::Instant> = None;
    while rx.blocking_recv_many(&mut batch, limit) > 0 {
        if let Some(began) = busy_since {
            let since = began.elapsed();
            if since < spacing && batch.len() < limit {
                stats.held.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(spacing - since);
                while batch.len() < limit {
                    match rx.try_recv() {
                        Ok(request) => batch.push(request),
                        Err(_) => break,
                    }
                }
            }
        }
        let started = std::time::Instant::now();
        let requests = batch.len();
        let mut busy = false;
        run_batch(&mut conn, std::mem::take(&mut batch), || {
            busy = !rx.is_empty();
            // Counted before the answers, so that a caller sees its group.
            stats.groups.fetch_add(1, Ordering::Relaxed);
        });
        slow("a group commit", started, requests);
        busy_since = busy.then_some(started);
        let big = log_frames.load(Ordering::Relaxed) > WAL_RESTART_FRAMES;
        if big && last_restart.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            let started = std::time::Instant::now();
            last_restart = Some(started);
            let _ = conn.busy_timeout(WAL_RESTART_WAIT);
            // (busy, frames in the log, frames checkpointed): not busy, the
            // next commit starts the log over.
            if let Ok(0) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
                row.get::<_, i64>(0)
            }) {
                log_frames.store(0, Ordering::Relaxed);
            }
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
            slow("a RESTART checkpoint", started, 0);
        }
    }
    // Best effort: fold the log into the database so the next open is quick.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    let _ = conn.close();
}

/// The writer's steps that take this long are logged (a warning): intake
/// waits for them. For finding what stalls intake (docs/RELIABILITY.md,
/// Soak).
const SLOW_WRITER_STEP: Duration = Duration::from_millis(250);

fn slow(what: &'static str, started: std::time::Instant, requests: usize) {
    let took = started.elapsed();
    if took >= SLOW_WRITER_STEP {
        tracing::warn!(
            took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            requests,
            "store: {what} held the writer back"
        );
    }
}

/// Applies `batch` in one transaction, a savepoint per request, and answers
/// every request only after COMMIT returned; if the transaction cannot be
/// committed, every request gets an error. `before_answering` runs once the
/// transaction has ended, before any answer is sent.
fn run_batch(conn: &mut Connection, batch: Vec<Request>, before_answering: impl FnOnce()) {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = conn
        .execute_batch("BEGIN IMMEDIATE")
        .err()
        .map(|e| format!("could not begin a transaction: {e}"));

    for req in batch {
        if broken.is_some() {
            not_applied(req, &mut outcomes);
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT request") {
            broken = Some(format!("could not set a savepoint: {e}"));
            not_applied(req, &mut outcomes);
            continue;
        }
        let outcome = apply(conn, req);
        let end = if outcome.is_ok() {
            conn.execute_batch("RELEASE request")
        } else {
            conn.execute_batch("ROLLBACK TO request; RELEASE request")
        };
        if let Err(e) = end {
            broken = Some(format!("could not end a savepoint: {e}"));
        } else if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, full disk).
            broken = Some("the transaction was rolled back by the database".into());
        }
        outcomes.push(outcome);
    }

    if broken.is_none() {
        if let Err(e) = conn.execute_batch("COMMIT") {
            broken = Some(format!("commit failed: {e}"));
        }
    }
    before_answering();
    match broken {
        None => outcomes.into_iter().for_each(Outcome::send),
        Some(why) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            for o in outcomes {
                o.fail(&why);
            }
        }
    }
}

/// Answers a request that was not applied (the batch is failing).
fn not_applied(req: Request, outcomes: &mut Vec<Outcome>) {
    let never = || StoreError::Database("not applied".into());
    match req {
        Request::Submit { reply, .. } => outcomes.push(Outcome::Submit(reply, Err(never()))),
        Request::Transition { reply, .. } => {
            outcomes.push(Outcome::Transition(reply, Err(never())))
        }
        Request::Job(job) => job.abort("not applied"),
        #[cfg(test)]
        Request::PoisonCommit { reply } => outcomes.push(Outcome::Transition(reply, Err(never()))),
    }
}

fn apply(conn: &Connection, req: Request) -> Outcome {
    match req {
        Request::Submit { msg, reply } => Outcome::Submit(reply, apply_submit(conn, &msg)),
        Request::Transition { t, reply } => Outcome::Transition(reply, apply_transition(conn, &t)),
        Request::Job(job) => job.run(conn),
        #[cfg(test)]
        Request::PoisonCommit { reply } => {
            // A deferred foreign key violation passes its statement and its
            // savepoint and makes COMMIT fail.
            let r = conn
                .execute_batch(
                    "PRAGMA defer_foreign_keys = ON;
                     INSERT INTO history (message_id, at, actor, from_state, to_state, reason)
                     VALUES ('no such message', 0, 'test', NULL, 'accepted', 'poison');",
                )
                .map_err(StoreError::from);
            Outcome::Transition(reply, r)
        }
    }
}

fn to_i64(n: usize) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Database("a size is out of range".into()))
}

/// How a body is stored (`bodies.codec`).
const CODEC_PLAIN: i64 = 0;
/// LZ4 block format with the plain length first (`lz4_flex`'s
/// `compress_prepend_size`). XML shrinks about fourfold, and with it the
/// bytes every commit and checkpoint writes.
const CODEC_LZ4: i64 = 1;

/// A message with its bodies made ready for storage.
pub(crate) struct Encoded {
    msg: NewMessage,
    size: usize,
    codec: i64,
    original: Vec<u8>,
    apprec: Vec<u8>,
    /// Findings of severity error and warning.
    errors: i64,
    warnings: i64,
}

/// How many findings of `severity` the findings JSON holds. The JSON is
/// the intake's own compact serde output (`"severity":"warning"`), so
/// counting the key with its value is exact; done on the caller's thread,
/// not the writer's.
fn count_severity(findings_json: &str, severity: &str) -> i64 {
    let needle = format!("\"severity\":\"{severity}\"");
    i64::try_from(findings_json.matches(needle.as_str()).count()).unwrap_or(i64::MAX)
}

pub(crate) fn encode(mut msg: NewMessage) -> Encoded {
    let plain = std::mem::take(&mut msg.original);
    let apprec = std::mem::take(&mut msg.apprec);
    Encoded {
        errors: count_severity(&msg.findings_json, "error"),
        warnings: count_severity(&msg.findings_json, "warning"),
        size: plain.len(),
        codec: CODEC_LZ4,
        original: lz4_flex::compress_prepend_size(&plain),
        apprec: lz4_flex::compress_prepend_size(&apprec),
        msg,
    }
}

/// A stored body as it was received: `codec` and the stored bytes from the
/// `bodies` table. Public so that tests and tools reading the database
/// directly see what the store's API would give them.
pub fn decode_body(codec: i64, stored: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    match codec {
        CODEC_PLAIN => Ok(stored),
        CODEC_LZ4 => lz4_flex::decompress_size_prepended(&stored)
            .map_err(|_| StoreError::Database("a stored body does not decompress".into())),
        other => Err(StoreError::Database(format!("unknown body codec {other}"))),
    }
}

fn apply_submit(conn: &Connection, e: &Encoded) -> Result<Submitted, StoreError> {
    let m = &e.msg;
    if let Some(key) = &m.idempotency_key {
        let existing: Option<(String, Vec<u8>)> = conn
            .prepare_cached("SELECT id, sha256 FROM messages WHERE idempotency_key = ?1")?
            .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some((id, sha)) = existing {
            if sha.as_slice() == m.sha256.as_slice() {
                return Ok(Submitted::Duplicate(stored_answer(conn, &id)?));
            }
            return Ok(Submitted::Conflict { existing_id: id });
        }
    }

    conn.prepare_cached(
        "INSERT INTO messages (id, received_at, updated_at, system, idempotency_key, sha256,
             size, msg_id, msg_type, standard, sender_her, receiver_her, patient_key,
             verdict, state, apprec_status, findings_json, errors, warnings)
         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
             ?17, ?18)",
    )?
    .execute(params![
        m.id,
        m.received_at,
        m.system,
        m.idempotency_key,
        m.sha256.as_slice(),
        to_i64(e.size)?,
        m.meta.msg_id,
        m.meta.msg_type,
        m.meta.standard,
        m.meta.sender_her,
        m.meta.receiver_her,
        m.meta.patient_key,
        m.verdict,
        m.state.as_str(),
        i64::from(m.apprec_status),
        m.findings_json,
        e.errors,
        e.warnings,
    ])?;
    conn.prepare_cached(
        "INSERT INTO bodies (message_id, original, apprec, codec) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![m.id, e.original, e.apprec, e.codec])?;
    people::index_message(conn, m)?;
    if let Some(fact) = &m.meta.flow_fact {
        conn.prepare_cached(
            "INSERT INTO flow_facts (message_id, patient_key, received_at, fact)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![m.id, m.meta.patient_key, m.received_at, fact])?;
    }
    append_history(
        conn,
        &m.id,
        m.received_at,
        &m.actor,
        None,
        m.state,
        &m.reason,
    )?;
    if !m.deliveries.is_empty() && m.state == State::Accepted {
        conn.prepare_cached("UPDATE messages SET state = 'queued' WHERE id = ?1")?
            .execute([&m.id])?;
        append_history(
            conn,
            &m.id,
            m.received_at,
            "gateway",
            Some(State::Accepted),
            State::Queued,
            &m.route_reason,
        )?;
        queue::insert_deliveries(
            conn,
            &m.id,
            m.received_at,
            "gateway",
            m.meta.patient_key.as_deref(),
            &m.deliveries,
        )?;
    }
    Ok(Submitted::Created)
}

fn stored_answer(conn: &Connection, id: &str) -> Result<StoredAnswer, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT m.verdict, m.findings_json, m.apprec_status, b.apprec,
                    (SELECT h.to_state FROM history h WHERE h.message_id = m.id
                     ORDER BY h.seq LIMIT 1), b.codec
             FROM messages m JOIN bodies b ON b.message_id = m.id
             WHERE m.id = ?1",
        )?
        .query_row([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Vec<u8>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    let (verdict, findings_json, status, apprec, first, codec) =
        row.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
    let apprec = decode_body(codec, apprec)?;
    let first = first.ok_or_else(|| StoreError::Database("a message without history".into()))?;
    Ok(StoredAnswer {
        id: id.to_string(),
        verdict,
        findings_json,
        apprec,
        apprec_status: status_from_db(status)?,
        state_at_intake: state_from_db(&first)?,
    })
}

fn apply_transition(conn: &Connection, t: &Transition) -> Result<(), StoreError> {
    // Only retention deletes (it removes the content too), and nothing
    // brings a tombstone back.
    if t.from == State::Deleted || t.to == State::Deleted {
        return Err(StoreError::StateConflict {
            id: t.id.clone(),
            expected: t.from.as_str().to_string(),
            actual: "deleted is final and set only by retention".into(),
        });
    }
    let changed = conn
        .prepare_cached(
            "UPDATE messages SET state = ?1, updated_at = max(updated_at, ?2)
             WHERE id = ?3 AND state = ?4",
        )?
        .execute(params![t.to.as_str(), t.at, t.id, t.from.as_str()])?;
    if changed == 0 {
        let actual: Option<String> = conn
            .prepare_cached("SELECT state FROM messages WHERE id = ?1")?
            .query_row([&t.id], |row| row.get(0))
            .optional()?;
        return Err(match actual {
            None => StoreError::NotFound(t.id.clone()),
            Some(actual) => StoreError::StateConflict {
                id: t.id.clone(),
                expected: t.from.as_str().to_string(),
                actual,
            },
        });
    }
    append_history(conn, &t.id, t.at, &t.actor, Some(t.from), t.to, &t.reason)
}

/// The only statement that writes history: an insert.
fn append_history(
    conn: &Connection,
    id: &str,
    at: Millis,
    actor: &str,
    from: Option<State>,
    to: State,
    reason: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO history (message_id, at, actor, from_state, to_state, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        at,
        actor,
        from.map(State::as_str),
        to.as_str(),
        reason
    ])?;
    Ok(())
}

fn state_from_db(s: &str) -> Result<State, StoreError> {
    State::parse(s).ok_or_else(|| StoreError::Database("an unknown state in the database".into()))
}

fn status_from_db(n: i64) -> Result<u8, StoreError> {
    u8::try_from(n)
        .map_err(|_| StoreError::Database("an apprec_status out of range in the database".into()))
}

fn sha_from_db(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Database("a sha256 of the wrong length in the database".into()))
}

fn count_from_db(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn size_from_db(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Database("a negative size in the database".into()))
}

/// The columns of a [`Summary`], in the order [`summary_from_row`] reads them.
const SUMMARY_COLUMNS: &str = "id, received_at, updated_at, system, msg_id, msg_type, standard, \
     sender_her, receiver_her, patient_key, size, verdict, state, apprec_status, errors, warnings";

fn summary_from_row(row: &rusqlite::Row<'_>) -> Result<Summary, StoreError> {
    Ok(Summary {
        id: row.get(0)?,
        received_at: row.get(1)?,
        updated_at: row.get(2)?,
        system: row.get(3)?,
        meta: Metadata {
            msg_id: row.get(4)?,
            msg_type: row.get(5)?,
            standard: row.get(6)?,
            sender_her: row.get(7)?,
            receiver_her: row.get(8)?,
            patient_key: row.get(9)?,
            ..Metadata::default()
        },
        size: size_from_db(row.get(10)?)?,
        verdict: row.get(11)?,
        state: state_from_db(&row.get::<_, String>(12)?)?,
        apprec_status: status_from_db(row.get(13)?)?,
        errors: count_from_db(row.get(14)?),
        warnings: count_from_db(row.get(15)?),
    })
}

fn read_record(conn: &mut Connection, id: &str) -> Result<Option<MessageRecord>, StoreError> {
    // One read transaction: the row and its history from the same snapshot.
    let tx = conn.transaction()?;
    let row = tx
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, sha256, findings_json FROM messages WHERE id = ?1"
        ))?
        .query_and_then([id], |row| {
            let summary = summary_from_row(row)?;
            let sha = sha_from_db(row.get(16)?)?;
            let findings: String = row.get(17)?;
            Ok::<_, StoreError>((summary, sha, findings))
        })?
        .next()
        .transpose()?;
    let Some((s, sha256, findings_json)) = row else {
        return Ok(None);
    };
    let history = tx
        .prepare_cached(
            "SELECT at, actor, from_state, to_state, reason FROM history
             WHERE message_id = ?1 ORDER BY seq",
        )?
        .query_and_then([id], |row| {
            let from: Option<String> = row.get(2)?;
            Ok::<_, StoreError>(HistoryEntry {
                at: row.get(0)?,
                actor: row.get(1)?,
                from: from.as_deref().map(state_from_db).transpose()?,
                to: state_from_db(&row.get::<_, String>(3)?)?,
                reason: row.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut s = s;
    s.meta.parties = people::parties_of(&tx, id)?;
    tx.commit()?;
    Ok(Some(MessageRecord {
        summary: s,
        sha256,
        findings_json,
        history,
    }))
}

fn read_body(conn: &Connection, id: &str, apprec: bool) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = if apprec {
        "SELECT codec, apprec FROM bodies WHERE message_id = ?1"
    } else {
        "SELECT codec, original FROM bodies WHERE message_id = ?1"
    };
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached(sql)?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    row.map(|(codec, stored)| decode_body(codec, stored))
        .transpose()
}

fn run_search(conn: &Connection, q: &Query) -> Result<Page, StoreError> {
    let limit = match q.limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    };
    // Fixed SQL text with `?` placeholders; every value is a bound parameter.
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM messages WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    let mut text_filter = |sql: &mut String, column: &str, v: &Option<String>| {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(Value::Text(v.clone()));
        }
    };
    text_filter(&mut sql, "sender_her", &q.sender_her);
    text_filter(&mut sql, "receiver_her", &q.receiver_her);
    text_filter(&mut sql, "msg_type", &q.msg_type);
    text_filter(&mut sql, "system", &q.system);
    text_filter(&mut sql, "state", &q.state.map(|s| s.as_str().to_string()));
    let window = Window {
        since: q.since,
        until: q.until,
        cursor: q.cursor.as_deref(),
        newest_first: false,
        limit,
    };
    window.page(conn, sql, args, "")
}

/// The time window, cursor, order and size of a page of messages.
pub(super) struct Window<'a> {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// From the previous page's `next`.
    pub cursor: Option<&'a str>,
    /// Newest first (pages go back in time) or oldest first.
    pub newest_first: bool,
    pub limit: u32,
}

impl Window<'_> {
    /// Appends the window to `sql` (a `SELECT {SUMMARY_COLUMNS} … WHERE …`
    /// whose messages table is named `table`, e.g. `m.`, or `""`), runs it
    /// and cuts the page.
    pub fn page(
        &self,
        conn: &Connection,
        mut sql: String,
        mut args: Vec<Value>,
        table: &str,
    ) -> Result<Page, StoreError> {
        if let Some(since) = self.since {
            sql.push_str(&format!(" AND {table}received_at >= ?"));
            args.push(Value::Integer(since));
        }
        if let Some(until) = self.until {
            sql.push_str(&format!(" AND {table}received_at < ?"));
            args.push(Value::Integer(until));
        }
        let (cmp, order) = if self.newest_first {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(cursor) = self.cursor {
            let (at, id) = decode_cursor(cursor)?;
            sql.push_str(&format!(
                " AND ({table}received_at, {table}id) {cmp} (?, ?)"
            ));
            args.push(Value::Integer(at));
            args.push(Value::Text(id));
        }
        sql.push_str(&format!(
            " ORDER BY {table}received_at {order}, {table}id {order} LIMIT ?"
        ));
        args.push(Value::Integer(i64::from(self.limit) + 1));
        let mut items = conn
            .prepare_cached(&sql)?
            .query_and_then(params_from_iter(args), summary_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let more = items.len() > self.limit as usize;
        items.truncate(self.limit as usize);
        let next = match items.last() {
            Some(last) if more => Some(encode_cursor(last.received_at, &last.id)),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

impl Store for SqliteStore {
    async fn submit(&self, msg: NewMessage) -> Result<Submitted, StoreError> {
        // Compress on the caller's thread, not the writer's.
        let encoded = Box::new(encode(msg));
        self.write(|reply| Request::Submit {
            msg: encoded,
            reply,
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| read_record(conn, &id)).await
    }

    async fn apprec(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| read_body(conn, &id, true)).await
    }

    async fn original(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| read_body(conn, &id, false)).await
    }

    async fn search(&self, q: &Query) -> Result<Page, StoreError> {
        let q = q.clone();
        self.read(move |conn| run_search(conn, &q)).await
    }

    async fn transition(&self, t: Transition) -> Result<(), StoreError> {
        self.write(|reply| Request::Transition { t, reply }).await
    }

    async fn due(&self, now: Millis, limit: u32) -> Result<Vec<Due>, StoreError> {
        self.read(move |conn| queue::due(conn, now, limit)).await
    }

    async fn next_due(&self, after: Millis) -> Result<Option<Millis>, StoreError> {
        self.read(move |conn| queue::next_due(conn, after)).await
    }

    async fn claim(&self, ids: Vec<i64>, now: Millis) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.write_with(move |conn| queue::claim(conn, &ids, now))
            .await
    }

    async fn finish(&self, attempt: Attempt) -> Result<DeliveryState, StoreError> {
        self.write_with(move |conn| queue::finish(conn, &attempt))
            .await
    }

    async fn recover(&self, now: Millis) -> Result<u64, StoreError> {
        self.write_with(move |conn| queue::recover(conn, now)).await
    }

    async fn receipt_target(
        &self,
        original_msg_id: &str,
        receiver_hers: Vec<String>,
    ) -> Result<Option<ReceiptTarget>, StoreError> {
        let original = original_msg_id.to_string();
        self.read(move |conn| queue::receipt_target(conn, &original, &receiver_hers))
            .await
    }

    async fn record_receipt(
        &self,
        delivery_id: i64,
        at: Millis,
        actor: String,
        receipt: NewReceipt,
    ) -> Result<ReceiptOutcome, StoreError> {
        self.write_with(move |conn| queue::record_receipt(conn, delivery_id, at, &actor, &receipt))
            .await
    }

    async fn deliveries_of(
        &self,
        message_id: &str,
    ) -> Result<Vec<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
        let id = message_id.to_string();
        self.read(move |conn| queue::deliveries_of(conn, &id)).await
    }

    async fn delivery(
        &self,
        id: i64,
    ) -> Result<Option<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
        self.read(move |conn| queue::delivery(conn, id)).await
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let q = q.clone();
        self.read(move |conn| queue::list(conn, &q)).await
    }

    async fn receipts_of(&self, message_id: &str) -> Result<Vec<Receipt>, StoreError> {
        let id = message_id.to_string();
        self.read(move |conn| queue::receipts_of(conn, &id)).await
    }

    async fn receipt_body(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |conn| queue::receipt_body(conn, id)).await
    }

    async fn replay(&self, a: OperatorAction) -> Result<DeliveryState, StoreError> {
        self.write_with(move |conn| queue::replay(conn, &a)).await
    }

    async fn cancel(&self, a: OperatorAction) -> Result<DeliveryState, StoreError> {
        self.write_with(move |conn| queue::cancel(conn, &a)).await
    }

    async fn flag_overdue(
        &self,
        now: Millis,
        delivered_before: Millis,
    ) -> Result<Vec<i64>, StoreError> {
        self.write_with(move |conn| queue::flag_overdue(conn, now, delivered_before))
            .await
    }

    async fn alert(
        &self,
        kind: &str,
        subject: &str,
        text_nb: &str,
        text_en: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let (kind, subject, nb, en) = (
            kind.to_string(),
            subject.to_string(),
            text_nb.to_string(),
            text_en.to_string(),
        );
        self.write_with(move |conn| queue::add_alert(conn, &kind, &subject, &nb, &en, at))
            .await
    }

    async fn alerts(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        self.read(move |conn| queue::alerts(conn, limit)).await
    }

    async fn delivery_stats(&self, since: Millis) -> Result<DeliveryStats, StoreError> {
        self.read(move |conn| queue::stats(conn, since)).await
    }

    async fn worklist(&self, q: &WorkQuery) -> Result<Page, StoreError> {
        let q = q.clone();
        self.read(move |conn| people::worklist(conn, &q)).await
    }

    async fn log_access(&self, a: NewAccess) -> Result<i64, StoreError> {
        self.write_with(move |conn| people::log_access(conn, &a))
            .await
    }

    async fn access_log(&self, q: &AccessQuery) -> Result<Vec<AccessEntry>, StoreError> {
        let q = q.clone();
        self.read(move |conn| people::access_log(conn, &q)).await
    }

    async fn flow_facts(
        &self,
        since: Millis,
        patient_key: Option<String>,
    ) -> Result<Vec<crate::FlowFactRow>, StoreError> {
        self.read(move |conn| people::flow_facts(conn, since, patient_key.as_deref()))
            .await
    }

    async fn flow_facts_page(
        &self,
        since: Millis,
        after: Option<String>,
        patients: u32,
    ) -> Result<Vec<crate::FlowFactRow>, StoreError> {
        self.read(move |conn| people::flow_facts_page(conn, since, after.as_deref(), patients))
            .await
    }

    async fn set_flow_facts(&self, rows: Vec<crate::FlowFactRow>) -> Result<(), StoreError> {
        self.write_with(move |conn| people::set_flow_facts(conn, &rows))
            .await
    }

    async fn ready(&self) -> bool {
        let writer_alive = lock(&self.inner.writer)
            .as_ref()
            .is_some_and(|h| !h.is_finished());
        writer_alive
            && self
                .read(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
                .await
                .is_ok()
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Err(StoreError::Closed);
        }
        // Readers first, so that the writer's connection is the last one and
        // its close folds the log into the database.
        self.inner.read_permits.close();
        lock(&self.inner.read_conns).clear();
        lock(&self.inner.checkpointer_stop).take();
        let checkpointer = lock(&self.inner.checkpointer).take();
        if let Some(handle) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        // Without senders the writer finishes the queued requests and ends.
        lock(&self.inner.requests).take();
        let writer = lock(&self.inner.writer).take();
        if let Some(handle) = writer {
            let joined = tokio::task::spawn_blocking(move || handle.join()).await;
            match joined {
                Ok(Ok(())) => {}
                _ => return Err(StoreError::Database("the store's writer failed".into())),
            }
        }
        Ok(())
    }

    async fn queue_gauges(&self) -> Result<crate::QueueGauges, StoreError> {
        let db = self.inner.path.clone();
        self.read(move |conn| gauges::queue_gauges(conn, &db)).await
    }

    async fn destination_stats(&self, now: Millis) -> Result<Vec<DestinationStats>, StoreError> {
        self.read(move |conn| ops::destination_stats(conn, now))
            .await
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
        self.write_with(move |conn| retention::purge(conn, &rules, now, limit))
            .await
    }

    async fn hold(
        &self,
        message_ids: Vec<String>,
        reason: String,
        at: Millis,
    ) -> Result<u64, StoreError> {
        self.write_with(move |conn| retention::hold(conn, &message_ids, &reason, at))
            .await
    }

    async fn release(&self, message_ids: Vec<String>, reason: String) -> Result<u64, StoreError> {
        self.write_with(move |conn| retention::release(conn, &message_ids, &reason))
            .await
    }

    async fn purge_access_log(&self, before: Millis, limit: u32) -> Result<u64, StoreError> {
        self.write_with(move |conn| retention::purge_access_log(conn, before, limit))
            .await
    }

    async fn incremental_vacuum(&self, pages: u32) -> Result<Space, StoreError> {
        self.write_with(move |conn| {
            retention::incremental_vacuum(conn, pages)?;
            retention::space(conn)
        })
        .await
    }

    async fn space(&self) -> Result<Space, StoreError> {
        self.read(|conn| retention::space(conn)).await
    }

    async fn patient_flow_facts(
        &self,
        patient_key: String,
        limit: u32,
    ) -> Result<Vec<crate::FlowFactRow>, StoreError> {
        self.read(move |conn| people::patient_flow_facts(conn, &patient_key, limit))
            .await
    }
}

mod gauges;
mod ops;
mod people;
mod queue;
mod retention;

#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod suite_sqlite;
#[cfg(test)]
mod tests;
