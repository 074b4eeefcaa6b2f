//! Tests of what only the SQLite store has: its file, its writer thread,
//! its schema. What every backend must do (round trip, idempotency,
//! transitions, search, deliveries, the people's pages, retention, `close`)
//! is the backend-agnostic suite in `crate::suite`, run against SQLite in
//! `suite_sqlite.rs`. Here, by group (the other SQLite-only tests are in
//! `queue_tests.rs`, `retention_tests.rs` and the modules `gauges.rs`,
//! `ops.rs`, `people.rs`):
//!
//! - **Schema**: a new database carries its schema version; a database
//!   from a newer program is refused; a database of version 4 is migrated
//!   (version 5 counts its messages' findings and indexes their parties).
//! - **Idempotency inside one batch**, driven directly on the writer: the
//!   same key twice in a batch is one `Created` and a `Duplicate`, with
//!   other bytes a `Conflict`.
//! - **Group commit**: a batch whose COMMIT fails answers every request with
//!   an error, and nothing of it is stored; a failing request inside a batch
//!   does not spoil the others.
//! - **Search**: the cursor's own encoding (hex of `time:id`) and its
//!   malformed forms; reads answer while another connection holds the write
//!   lock.
//! - **Lifecycle**: writes queued before close are finished and only those
//!   are stored; reopening after close and after a plain drop keeps
//!   everything (idempotency keys too); 500 concurrent submits from 50 tasks
//!   are all readable after reopen, with group commit on and off.
//! - **Commit spacing**: a lone client writing one thing after another is
//!   never held back; under load, groups start at most once per spacing.
//! - **Append-only**: the source never changes or removes history rows, and
//!   the database refuses it too; the database refuses changes to the
//!   access log.
//! - **Bodies**: stored LZ4-compressed, read back exactly; unknown codecs
//!   refused.
//! - **Checkpoints**: the checkpointer thread folds the log into the
//!   database while the store runs.

use super::*;
use crate::suite::{access, count, message, transition};
use std::collections::HashSet;

pub(super) fn opts() -> SqliteOptions {
    SqliteOptions::default()
}

/// The steps of SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`, its
/// `detail` column), each of its `args` parameters bound to 0.
pub(super) fn plan_of(conn: &Connection, sql: &str, args: usize) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let args: Vec<rusqlite::types::Value> = (0..args)
        .map(|_| rusqlite::types::Value::Integer(0))
        .collect();
    stmt.query_map(rusqlite::params_from_iter(args), |row| {
        row.get::<_, String>(3)
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A database at `path` as a program of schema version `version` left it
/// (its migrations applied and recorded), for the migration tests.
pub(super) fn database_at(path: &Path, version: usize) -> Connection {
    let mut conn = Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    for m in &MIGRATIONS[..version] {
        tx.execute_batch(m).unwrap();
    }
    tx.pragma_update(None, "user_version", version).unwrap();
    tx.commit().unwrap();
    conn
}

// ---- Schema -------------------------------------------------------------------

/// A new database carries the schema version it was made with (what the
/// suite's `round_trip` cannot see).
#[tokio::test]
async fn the_schema_version_is_set_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let m = message("m1", 1_000, Some("8100001|A"), b"<MsgHead/>");
    assert_eq!(store.submit(m).await.unwrap(), Submitted::Created);
    store.close().await.unwrap();

    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let n: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

// ---- Idempotency -------------------------------------------------------------

/// Runs `requests` as one batch on a fresh connection to `dir`'s database.
fn run_direct(dir: &Path, requests: Vec<Request>) {
    let mut conn = open_writer(&dir.join(DB_FILE)).unwrap();
    run_batch(&mut conn, requests, || ());
}

/// A folder holding a store with the current schema, closed again, for
/// tests that drive the writer or the database directly.
async fn created_store_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path(), opts())
        .unwrap()
        .close()
        .await
        .unwrap();
    dir
}

fn submit_request(m: NewMessage) -> (Request, oneshot::Receiver<Result<Submitted, StoreError>>) {
    let (reply, rx) = oneshot::channel();
    (
        Request::Submit {
            msg: Box::new(encode(m)),
            reply,
        },
        rx,
    )
}

#[tokio::test]
async fn same_key_within_one_batch() {
    let dir = created_store_dir().await;
    let (r1, a1) = submit_request(message("x1", 1, Some("K"), b"same"));
    let (r2, a2) = submit_request(message("x2", 2, Some("K"), b"same"));
    let (r3, a3) = submit_request(message("x3", 3, Some("K"), b"different"));
    run_direct(dir.path(), vec![r1, r2, r3]);
    assert_eq!(a1.await.unwrap().unwrap(), Submitted::Created);
    match a2.await.unwrap().unwrap() {
        Submitted::Duplicate(answer) => assert_eq!(answer.id, "x1"),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(
        a3.await.unwrap().unwrap(),
        Submitted::Conflict {
            existing_id: "x1".into()
        }
    );
}

// ---- Group commit ------------------------------------------------------------

#[tokio::test]
async fn failed_commit_fails_the_whole_batch() {
    let dir = created_store_dir().await;
    let (r1, a1) = submit_request(message("p1", 1, Some("P1"), b"one"));
    let (poison, a2) = oneshot::channel();
    let (r3, a3) = submit_request(message("p3", 3, Some("P3"), b"three"));
    run_direct(
        dir.path(),
        vec![r1, Request::PoisonCommit { reply: poison }, r3],
    );
    for answer in [a1.await.unwrap(), a3.await.unwrap()] {
        assert!(
            matches!(answer, Err(StoreError::Database(ref why)) if why.contains("commit")),
            "{answer:?}"
        );
    }
    assert!(a2.await.unwrap().is_err());

    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    assert_eq!(store.get("p1").await.unwrap(), None);
    assert_eq!(store.get("p3").await.unwrap(), None);
    // The writer's connection works on after a failed batch.
    let (r4, a4) = submit_request(message("p4", 4, Some("P1"), b"one"));
    run_direct(dir.path(), vec![r4]);
    assert_eq!(a4.await.unwrap().unwrap(), Submitted::Created);
    assert!(store.get("p4").await.unwrap().is_some());
}

#[tokio::test]
async fn failing_request_does_not_spoil_its_batch() {
    let dir = created_store_dir().await;
    let (r1, a1) = submit_request(message("s1", 1, None, b"one"));
    // Same id again: the primary key refuses it, inside its savepoint.
    let (r2, a2) = submit_request(message("s1", 2, None, b"two"));
    let (t, a3) = oneshot::channel();
    let r3 = Request::Transition {
        t: transition("s1", 3, State::Accepted, State::Queued),
        reply: t,
    };
    let (r4, a4) = submit_request(message("s4", 4, None, b"four"));
    run_direct(dir.path(), vec![r1, r2, r3, r4]);
    assert_eq!(a1.await.unwrap().unwrap(), Submitted::Created);
    assert!(matches!(a2.await.unwrap(), Err(StoreError::Database(_))));
    a3.await.unwrap().unwrap();
    assert_eq!(a4.await.unwrap().unwrap(), Submitted::Created);

    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let rec = store.get("s1").await.unwrap().unwrap();
    assert_eq!(rec.summary.state, State::Queued);
    assert_eq!(rec.summary.received_at, 1);
    assert_eq!(store.original("s1").await.unwrap().unwrap(), b"one");
    assert_eq!(rec.history.len(), 2);
    assert!(store.get("s4").await.unwrap().is_some());
}

// ---- Search -------------------------------------------------------------------

#[tokio::test]
async fn bad_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store.submit(message("c", 1, None, b"x")).await.unwrap();
    for bad in [
        "",
        "zz",
        "abc",
        "313a",     // "1:" (no id)
        "3a6964",   // ":id" (no time)
        "783a6964", // "x:id"
        "ff3a6964", // not UTF-8
        "31323334", // "1234" (no colon)
        "' OR 1=1 --",
    ] {
        let q = Query {
            cursor: Some(bad.into()),
            ..Query::default()
        };
        assert!(
            matches!(store.search(&q).await, Err(StoreError::BadCursor)),
            "{bad:?}"
        );
    }
    let good = encode_cursor(0, "a");
    assert_eq!(decode_cursor(&good).unwrap(), (0, "a".into()));
    assert_eq!(
        decode_cursor(&encode_cursor(-5, "x:y")).unwrap(),
        (-5, "x:y".into())
    );
    let q = Query {
        cursor: Some(good),
        ..Query::default()
    };
    assert_eq!(store.search(&q).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn reads_do_not_wait_for_a_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store
        .submit(message("before", 1, None, b"x"))
        .await
        .unwrap();
    // Another connection holds the write lock with an uncommitted row.
    let other = open_writer(&dir.path().join(DB_FILE)).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
        .execute(
            "INSERT INTO messages (id, received_at, updated_at, system, sha256, size, verdict,
                 state, apprec_status, findings_json)
             VALUES ('uncommitted', 2, 2, 's', zeroblob(32), 0, 'accepted', 'accepted', 1, '[]')",
            [],
        )
        .unwrap();
    let reads = async {
        assert!(store.get("before").await.unwrap().is_some());
        assert_eq!(store.get("uncommitted").await.unwrap(), None);
        assert_eq!(count(&store, Query::default()).await, 1);
    };
    tokio::time::timeout(Duration::from_secs(2), reads)
        .await
        .expect("reads finish while the write lock is held");
    other.execute_batch("ROLLBACK").unwrap();
}

// ---- Lifecycle ------------------------------------------------------------------

#[tokio::test]
async fn close_finishes_queued_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), opts()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .submit(message(&format!("q{i:03}"), i, None, b"x"))
                .await
        }));
    }
    tokio::task::yield_now().await;
    store.close().await.unwrap();
    let mut ok = HashSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(Submitted::Created) => {
                ok.insert(format!("q{i:03}"));
            }
            Err(StoreError::Closed) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!ok.is_empty(), "writes queued before close are finished");
    // Every acknowledged write is there after reopening, and only those.
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let page = store
        .search(&Query {
            limit: 1000,
            ..Query::default()
        })
        .await
        .unwrap();
    let stored: HashSet<String> = page.items.into_iter().map(|s| s.id).collect();
    assert_eq!(stored, ok);
}

#[tokio::test]
async fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        store
            .submit(message("r1", 1, Some("K1"), b"one"))
            .await
            .unwrap();
        store
            .transition(transition("r1", 2, State::Accepted, State::Queued))
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    {
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        let rec = store.get("r1").await.unwrap().unwrap();
        assert_eq!(rec.summary.state, State::Queued);
        assert_eq!(rec.history.len(), 2);
        assert_eq!(store.original("r1").await.unwrap().unwrap(), b"one");
        // The idempotency key survives too.
        assert!(matches!(
            store.submit(message("r9", 9, Some("K1"), b"one")).await,
            Ok(Submitted::Duplicate(_))
        ));
        store.submit(message("r2", 3, None, b"two")).await.unwrap();
        // Dropped without close.
    }
    {
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        assert!(store.get("r1").await.unwrap().is_some());
        assert_eq!(store.original("r2").await.unwrap().unwrap(), b"two");
        assert_eq!(count(&store, Query::default()).await, 2);
        store.close().await.unwrap();
    }
}

/// A lone client, writing one thing after another, is never held back by
/// the commit spacing: the writer is not busy when its request comes (the
/// client waits for each answer, and the writer looks for waiting requests
/// before it answers), so each group commits at once, alone.
#[tokio::test]
async fn a_lone_writer_is_not_held_back_by_the_commit_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        commit_spacing: Duration::from_secs(1),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(dir.path(), options).unwrap();
    for i in 0..20 {
        let id = format!("lone-{i}");
        store
            .submit(message(&id, i64::from(i), None, b"<lone/>"))
            .await
            .unwrap();
    }
    assert_eq!(store.groups_committed(), 20);
    assert_eq!(store.groups_held_back(), 0);
    store.close().await.unwrap();
}

/// Under load (requests coming while a group commits), groups start at
/// most every `commit_spacing` and carry what came meanwhile. Made busy on
/// purpose, not by the scheduler's timing: a job holds the writer inside
/// its first group while 100 requests queue up, then lets it go. Requests
/// waited while that group committed, so the writer is busy: the next group
/// is held back until a second after the first began, then carries all 100
/// in one commit (committing at once would not wait). Every request is
/// answered and stored.
#[tokio::test]
async fn a_busy_writer_commits_at_most_once_per_spacing() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough that queueing the requests (milliseconds) is surely done
    // within it, or the next group would not be held back.
    let spacing = Duration::from_secs(1);
    let options = SqliteOptions {
        commit_spacing: spacing,
        ..SqliteOptions::default()
    };
    assert!(options.max_batch >= 100, "the test wants one group for all");
    let store = Arc::new(SqliteStore::open(dir.path(), options).unwrap());

    // The gate: a job that tells when the writer runs it, then waits.
    let before_first = std::time::Instant::now();
    let (running_tx, running) = tokio::sync::oneshot::channel::<()>();
    let (open_gate, gate) = std::sync::mpsc::channel::<()>();
    let holder = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .write_with(move |_conn| {
                    let _ = running_tx.send(());
                    let _ = gate.recv_timeout(Duration::from_secs(30));
                    Ok(())
                })
                .await
        })
    };
    running.await.unwrap();

    let mut tasks = Vec::new();
    for n in 0..100 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let id = format!("busy-{n:03}");
            store
                .submit(message(&id, n, None, b"<busy/>"))
                .await
                .unwrap()
        }));
    }
    // Every request waits in the writer's queue before the gate opens.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.queued() < 100 {
        assert!(std::time::Instant::now() < deadline, "requests not queued");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    open_gate.send(()).unwrap();

    holder.await.unwrap().unwrap();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Submitted::Created);
    }
    assert!(
        before_first.elapsed() >= spacing,
        "held back for the spacing"
    );
    assert_eq!(store.groups_committed(), 2, "the gate's group, then one");
    assert_eq!(store.groups_held_back(), 1);
    assert_eq!(count(&*store, Query::default()).await, 100);
    store.close().await.unwrap();
}

/// The checkpointer syncs the database file after it has copied pages
/// into it, so that the writer's own checkpoint, which syncs the file
/// before the log may start over, finds little left to flush
/// (docs/RELIABILITY.md, Soak, finding 9). Nothing written, nothing synced.
#[tokio::test]
async fn the_checkpointer_syncs_the_pages_it_copied() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    // Its checkpoints run every 100 ms; an idle store has nothing to copy.
    std::thread::sleep(CHECKPOINT_EVERY * 3);
    let idle = store.checkpoint_syncs();
    for i in 0..20 {
        let id = format!("sync-{i}");
        store
            .submit(message(&id, i, None, b"<sync/>"))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.checkpoint_syncs() == idle {
        assert!(std::time::Instant::now() < deadline, "never synced");
        tokio::time::sleep(CHECKPOINT_EVERY).await;
    }
    let after = store.checkpoint_syncs();
    std::thread::sleep(CHECKPOINT_EVERY * 3);
    assert!(
        store.checkpoint_syncs() <= after + 1,
        "synced with nothing new"
    );
    store.close().await.unwrap();
}

async fn many_concurrent(group_commit: bool) {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        group_commit,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(dir.path(), options.clone()).unwrap());
    let mut tasks = Vec::new();
    for t in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let id = format!("c{t:02}-{i}");
                let key = format!("8100001|{id}");
                let body = format!("<body {id}/>").into_bytes();
                let got = store
                    .submit(message(&id, t * 10 + i, Some(&key), &body))
                    .await
                    .unwrap();
                assert_eq!(got, Submitted::Created);
                // Readable at once after the acknowledgement.
                assert!(store.get(&id).await.unwrap().is_some());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    store.close().await.unwrap();

    let store = SqliteStore::open(dir.path(), options).unwrap();
    let page = store
        .search(&Query {
            limit: 1000,
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 500);
    for t in 0..50 {
        for i in 0..10 {
            let id = format!("c{t:02}-{i}");
            let body = store.original(&id).await.unwrap().unwrap();
            assert_eq!(body, format!("<body {id}/>").into_bytes());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_submits_group_commit() {
    many_concurrent(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_submits_without_group_commit() {
    many_concurrent(false).await;
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = created_store_dir().await;
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(dir.path(), opts()),
        Err(StoreError::Open { .. })
    ));
}

// ---- Append-only ----------------------------------------------------------------

#[test]
fn source_never_changes_history() {
    let source = include_str!("../sqlite.rs").to_ascii_uppercase();
    let source = source.split_whitespace().collect::<Vec<_>>().join(" ");
    for forbidden in [
        "UPDATE HISTORY",
        "DELETE FROM",
        "REPLACE INTO",
        "INSERT OR REPLACE",
        "DROP TABLE",
    ] {
        assert!(
            !source.contains(forbidden),
            "sqlite.rs contains {forbidden:?}"
        );
    }
}

#[tokio::test]
async fn database_refuses_history_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store.submit(message("h", 1, None, b"x")).await.unwrap();
    store.close().await.unwrap();
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let upd = ["UPDATE", "history SET reason = 'x'"].join(" ");
    let del = ["DELETE", "FROM history"].join(" ");
    assert!(conn.execute(&upd, []).is_err());
    assert!(conn.execute(&del, []).is_err());
}

/// The checkpointer thread folds the log into the database while the store
/// runs, so the writer's commits never wait for a checkpoint and the log
/// does not grow without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_folds_the_log_into_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let db = dir.path().join(DB_FILE);
    let before = std::fs::metadata(&db).unwrap().len();
    // Bodies that do not compress, so the log really carries 8 KiB each.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = || {
        (0..8192)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    for i in 0..200 {
        let body = noise();
        let m = message(&format!("ck-{i:04}"), i, None, &body);
        assert_eq!(store.submit(m).await.unwrap(), Submitted::Created);
    }
    // Nothing else writes the database file: only a checkpoint grows it.
    let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 8;
    loop {
        let now = std::fs::metadata(&db).unwrap().len();
        if now >= before + 200 * 8192 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint: database file {now} bytes (was {before})"
        );
        tokio::time::sleep(CHECKPOINT_EVERY / 4).await;
    }
    store.close().await.unwrap();
}

#[test]
fn bodies_are_stored_compressed_and_read_back_exactly() {
    let xml = b"<MsgHead><MsgInfo><Type V=\"X\"/></MsgInfo>".repeat(200);
    let e = encode(message("c1", 1, None, &xml));
    assert_eq!(e.size, xml.len());
    assert!(e.original.len() * 4 < xml.len(), "XML should shrink");
    assert_eq!(decode_body(e.codec, e.original.clone()).unwrap(), xml);
    assert_eq!(decode_body(CODEC_PLAIN, xml.clone()).unwrap(), xml);
    assert!(decode_body(CODEC_LZ4, b"\x10\x00\x00\x00junk".to_vec()).is_err());
    let err = decode_body(9, Vec::new()).unwrap_err().to_string();
    assert!(err.contains("codec 9"), "{err}");
}

// ---- People's pages: the access log ---------------------------------------------

/// The database refuses changes to the access log (the suite checks what is
/// recorded and read back).
#[tokio::test]
async fn access_log_is_append_only_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    for (at, user, patient) in [(10, "kari", Some("p1")), (20, "ola", Some("p2"))] {
        store.log_access(access(at, user, patient)).await.unwrap();
    }
    assert_eq!(
        store
            .access_log(&AccessQuery::default())
            .await
            .unwrap()
            .len(),
        2
    );
    store.close().await.unwrap();

    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    for sql in [
        "UPDATE access_log SET user = 'someone else'",
        "DELETE FROM access_log",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM access_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
}

#[test]
fn version_5_counts_and_indexes_messages_stored_before_it() {
    // A database at version 4 with one flagged message, then opened by
    // this program: its findings are counted and its parties indexed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overgang.db");
    {
        let conn = database_at(&path, 4);
        conn.execute(
            "INSERT INTO messages (id, received_at, updated_at, system, sha256, size,
                 sender_her, receiver_her, verdict, state, apprec_status, findings_json)
             VALUES ('old', 5, 5, 's', zeroblob(32), 1, '100', '200', 'accepted_with_warnings',
                 'accepted', 3, ?1)",
            [r#"[{"severity":"warning"},{"severity":"warning"},{"severity":"error"}]"#],
        )
        .unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        let q = WorkQuery {
            units: Some(vec!["200".into()]),
            ..WorkQuery::default()
        };
        let page = store.worklist(&q).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!((page.items[0].errors, page.items[0].warnings), (1, 2));
        store.close().await.unwrap();
    });
}

/// Version 9 drops the message-level queue's index of version 1: nothing
/// reads it, and every state change of a message wrote a page of it into
/// the log. Both a database made before and a new one are without it.
#[test]
fn version_9_drops_the_unused_message_queue_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let has_it = |conn: &Connection| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'messages_queue'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(has_it(&database_at(&path, 8)), 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        store.close().await.unwrap();
    });
    assert_eq!(has_it(&Connection::open(&path).unwrap()), 0);

    let fresh = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(fresh.path(), opts()).unwrap();
        store.close().await.unwrap();
    });
    assert_eq!(
        has_it(&Connection::open(fresh.path().join(DB_FILE)).unwrap()),
        0
    );
}

// ---- Backup -------------------------------------------------------------------

/// `backup_to` copies the database while the store is open and writing:
/// the copy opens as a store and holds every message committed before it
/// began, with the same bytes; an existing file is never overwritten, and
/// an interrupted backup's partial file is not left behind.
#[tokio::test]
async fn a_backup_of_an_open_store_holds_every_committed_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::open(dir.path(), opts()).unwrap());
    for i in 0..20 {
        let body = format!("<MsgHead n=\"{i}\"/>");
        let key = format!("8100001|{i}");
        let m = message(&format!("m{i}"), 1_000 + i, Some(&key), body.as_bytes());
        assert_eq!(store.submit(m).await.unwrap(), Submitted::Created);
    }
    // Writes go on while the copy is made.
    let writer = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            for i in 20..200 {
                let key = format!("8100001|{i}");
                let m = message(&format!("m{i}"), 1_000 + i, Some(&key), b"<MsgHead/>");
                store.submit(m).await.unwrap();
            }
        })
    };
    let to = dir.path().join("backup.db");
    let data = dir.path().to_path_buf();
    let to2 = to.clone();
    let made = tokio::task::spawn_blocking(move || SqliteStore::backup_to(&data, &to2))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    assert_eq!(made.schema_version, SCHEMA_VERSION);
    assert!(made.messages >= 20, "{made:?}");
    assert!(made.bytes > 0);
    assert!(!dir.path().join("backup.db.partial").exists());

    // Not over an existing file.
    let again = SqliteStore::backup_to(dir.path(), &to);
    assert!(matches!(again, Err(StoreError::Open { .. })), "{again:?}");
    store.close().await.unwrap();

    // Restored: the file as overgang.db in a new folder.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&to, restored.path().join(DB_FILE)).unwrap();
    let copy = SqliteStore::open(restored.path(), opts()).unwrap();
    for i in 0..20 {
        let body = format!("<MsgHead n=\"{i}\"/>");
        assert_eq!(
            copy.original(&format!("m{i}")).await.unwrap().as_deref(),
            Some(body.as_bytes())
        );
    }
    copy.close().await.unwrap();
}

#[test]
fn a_backup_of_no_database_is_an_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("b.db");
    assert!(SqliteStore::backup_to(dir.path(), &to).is_err());
    assert!(!to.exists());
}
