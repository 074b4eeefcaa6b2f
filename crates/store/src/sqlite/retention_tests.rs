//! Retention as only the SQLite store can show it. What every backend does
//! (each state's days, what is never deleted, what a deletion leaves, holds,
//! the access log's cut-off) is in the suite (`crate::suite::retention`, run
//! here by `suite_sqlite.rs`). Here: what a deletion takes from the
//! database's tables (bodies, index rows, patient keys, receipt bodies),
//! the triggers behind the access log's own retention, the incremental
//! vacuum giving pages back, an older database's auto-vacuum mode and the
//! one-time switch, and the sweeper's statements reading indexes.

use super::tests::{database_at, opts};
use super::*;
use crate::retention::DAY_MS as DAY;
use crate::suite::{access, claim_and_finish, first_delivery, message, purge, receipt, routed};
use crate::AttemptResult;

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    (dir, store)
}

/// ARCHITECTURE.md invariant: what a deletion leaves is a tombstone
/// without patient data. The suite checks what the store answers
/// (`crate::suite::a_deletion_is_in_the_history_and_leaves_a_tombstone`);
/// here, that nothing of the body or the index is left in the database
/// file's tables, and that the history is still append-only.
#[tokio::test]
async fn a_deletion_leaves_nothing_of_the_message_in_the_database() {
    let (dir, store) = open().await;
    let mut m = routed("gone", DAY, "patient-hash", &["5078"]);
    m.meta.name_terms = vec!["term-a".into(), "term-b".into()];
    m.meta.flow_fact = Some(r#"{"kind":"admission"}"#.into());
    store.submit(m).await.unwrap();
    let d = first_delivery(&store, "gone").await;
    claim_and_finish(&store, d, DAY, AttemptResult::Answered(receipt(1, "g1"))).await;
    let rules = vec![RetentionRule {
        state: State::Acknowledged,
        days: 90,
    }];
    let purged = store.purge_expired(rules, 100 * DAY, 10).await.unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].id, "gone");
    store.close().await.unwrap();

    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    for (table, column) in [
        ("bodies", "message_id"),
        ("name_terms", "message_id"),
        ("message_parties", "message_id"),
        ("flow_facts", "message_id"),
    ] {
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE {column} = 'gone'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let keyed: i64 = conn
        .query_row(
            "SELECT count(*) FROM deliveries WHERE message_id = 'gone' AND patient_key IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(keyed, 0);
    let receipt_bytes: i64 = conn
        .query_row(
            "SELECT sum(length(body)) FROM receipts WHERE message_id = 'gone'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(receipt_bytes, 0);
    let del = ["DELETE", "FROM history WHERE message_id = 'gone'"].join(" ");
    assert!(conn.execute(&del, []).is_err());
}

/// The access log's retention is the only way anything leaves it: the
/// database refuses any other delete or update, and moving the cut-off
/// back or removing it. (What the store answers is the suite's
/// `access_log_retention_deletes_only_old_entries`.)
#[tokio::test]
async fn access_log_retention_deletes_only_old_entries_and_nothing_else_can() {
    let (dir, store) = open().await;
    for at in [10, 20, 30, 40] {
        store
            .log_access(access(at * DAY, "ola", None))
            .await
            .unwrap();
    }
    assert_eq!(store.purge_access_log(25 * DAY, 100).await.unwrap(), 2);
    // Asking with an earlier cut-off moves nothing back and deletes nothing.
    assert_eq!(store.purge_access_log(5 * DAY, 100).await.unwrap(), 0);
    store.close().await.unwrap();

    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let before: i64 = conn
        .query_row(
            "SELECT access_log_before FROM retention_cutoffs WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(before, 25 * DAY);
    for sql in [
        "DELETE FROM access_log",
        "DELETE FROM access_log WHERE at = 30 * 86400000",
        "UPDATE access_log SET user = 'x'",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    // The cut-off moves only forward and cannot be removed.
    for sql in [
        "UPDATE retention_cutoffs SET access_log_before = 0",
        "DELETE FROM retention_cutoffs",
    ] {
        assert!(conn.execute(sql, []).is_err(), "{sql}");
    }
    assert!(conn
        .execute(
            "INSERT INTO retention_cutoffs (id, access_log_before) VALUES (2, 0)",
            []
        )
        .is_err());
    let n: i64 = conn
        .query_row("SELECT count(*) FROM access_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_vacuum_gives_freed_pages_back() {
    let (_dir, store) = open().await;
    let space = store.space().await.unwrap();
    assert!(space.incremental, "a new database is in incremental mode");
    // Bodies that do not compress, 8 KiB each.
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
    for i in 0..100 {
        let mut m = message(&format!("v{i}"), DAY, None, &noise());
        m.state = State::Rejected;
        store.submit(m).await.unwrap();
    }
    assert_eq!(
        purge(
            &store,
            &[RetentionRule {
                state: State::Rejected,
                days: 1
            }],
            10 * DAY
        )
        .await
        .len(),
        100
    );
    let freed = store.space().await.unwrap();
    assert!(freed.freelist_count >= 100, "{freed:?}");
    let step = store.incremental_vacuum(10).await.unwrap();
    assert_eq!(step.freelist_count, freed.freelist_count - 10);
    assert!(step.page_count < freed.page_count, "{step:?}");
    let done = store.incremental_vacuum(1_000_000).await.unwrap();
    assert_eq!(done.freelist_count, 0);
    assert!(done.page_count < freed.page_count);
    assert_eq!(store.space().await.unwrap(), done);
}

#[test]
fn an_older_database_keeps_its_auto_vacuum_mode_and_gets_the_new_tables() {
    // A version-6 database without auto-vacuum, with an access log entry:
    // opened by this program it is migrated in place (no VACUUM), and the
    // store says it is not incremental, so the gateway can advise.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let conn = database_at(&path, 6);
        conn.execute(
            "INSERT INTO access_log (at, user, action, outcome) VALUES (1, 'u', 'list', 'ok')",
            [],
        )
        .unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        let space = store.space().await.unwrap();
        assert!(!space.incremental);
        // A vacuum step is harmless there.
        store.incremental_vacuum(100).await.unwrap();
        assert_eq!(store.purge_access_log(2, 10).await.unwrap(), 1);
        store.close().await.unwrap();
        // The one-time switch: a VACUUM of the whole file, the store closed.
        let (before, after) = SqliteStore::vacuum_into_incremental(dir.path()).unwrap();
        assert!(!before.incremental);
        assert!(after.incremental);
        assert_eq!(after.freelist_count, 0);
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        assert!(store.space().await.unwrap().incremental);
        // Again: nothing to do.
        store.close().await.unwrap();
        let (again, same) = SqliteStore::vacuum_into_incremental(dir.path()).unwrap();
        assert_eq!(again, same);
        assert_eq!(SqliteStore::space_at(dir.path()).unwrap(), same);
        assert!(SqliteStore::vacuum_into_incremental(&dir.path().join("none")).is_err());
    });
}

#[test]
fn the_sweeper_reads_indexes_not_whole_tables() {
    // The statements a deletion runs, as the query planner sees them on a
    // store of this version: each is an index search.
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        store.close().await.unwrap();
    });
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    for (sql, index) in [
        (
            "SELECT m.id FROM messages m WHERE m.state = ?1 AND m.updated_at < ?2 \
             ORDER BY m.updated_at, m.id LIMIT 10",
            "messages_expiry",
        ),
        (
            "DELETE FROM name_terms WHERE message_id = ?1",
            "name_terms_message",
        ),
        (
            "DELETE FROM message_parties WHERE message_id = ?1",
            "message_parties_message",
        ),
        (
            "UPDATE receipts SET body = x'' WHERE message_id = ?1",
            "receipts_message",
        ),
        (
            "UPDATE deliveries SET patient_key = NULL WHERE message_id = ?1",
            "deliveries_message",
        ),
    ] {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args = [Value::Text("acknowledged".into()), Value::Integer(5)];
        let n = stmt.parameter_count();
        let plan: Vec<String> = stmt
            .query_map(params_from_iter(&args[..n]), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(plan.contains(index), "{sql}: {plan}");
    }
}
