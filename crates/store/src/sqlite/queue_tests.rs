//! Tests of deliveries that only the SQLite store can show: its files and
//! its triggers. What every backend does with deliveries, receipts, alerts
//! and operator actions is in the suite (`crate::suite::queue`, run here by
//! `suite_sqlite.rs`).
//!
//! - a stop or crash during an attempt (the store dropped without close):
//!   after reopening, `recover` queues what was in flight, and only that;
//! - delivery events are append-only in the database (triggers).

use super::tests::{database_at, opts, plan_of};
use super::*;
use crate::suite::{due_ids, finish, ids_of, receipt, routed, state_of};
use crate::{AttemptResult, DeliveryState as D};

#[tokio::test]
async fn recover_after_a_crash_queues_what_was_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store
        .submit(routed("m", 1, "p", &["A", "B"]))
        .await
        .unwrap();
    let ids = ids_of(&store, "m").await;
    store.claim(ids.clone(), 2).await.unwrap();
    finish(&store, ids[1], 3, AttemptResult::Answered(receipt(1, "r"))).await;
    drop(store); // a crash: no close
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    assert_eq!(state_of(&store, ids[0]).await, D::InFlight, "durable");
    assert_eq!(store.recover(50).await.unwrap(), 1);
    assert_eq!(state_of(&store, ids[0]).await, D::Queued);
    assert_eq!(
        state_of(&store, ids[1]).await,
        D::Acknowledged,
        "answered stays answered"
    );
    assert_eq!(due_ids(&store, 50).await, vec![ids[0]]);
    let events = store.delivery(ids[0]).await.unwrap().unwrap().1;
    assert!(events.last().unwrap().reason.contains("MsgId"));
    assert_eq!(store.recover(60).await.unwrap(), 0);
}

#[tokio::test]
async fn delivery_events_are_append_only_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    store.close().await.unwrap();
    let conn = open_writer(&dir.path().join(DB_FILE)).unwrap();
    for sql in [
        "UPDATE delivery_events SET reason = 'x'",
        "DELETE FROM delivery_events",
    ] {
        let e = conn.execute(sql, []).unwrap_err().to_string();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
}

/// The sweep for overdue AppRecs reads `deliveries_waiting`, which holds
/// only delivered messages not yet flagged: not the state index (every
/// delivered delivery), not the receipts sent back to senders (never
/// answered, kept until retention). A store of version 9 gets that index
/// when opened.
#[tokio::test]
async fn the_overdue_sweep_reads_only_messages_waiting_for_their_apprec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    database_at(&path, 9);
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    store.close().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let index: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'deliveries_waiting'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(index.contains("kind = 'message'"), "{index}");
    let plan = plan_of(&conn, queue::OVERDUE_UNFLAGGED, 1);
    assert!(
        plan.iter()
            .any(|s| s.contains("INDEX deliveries_waiting (delivered_at<?)")),
        "does not read deliveries_waiting: {plan:#?}"
    );
}

/// The scheduler's two statements read the partial index of ready
/// deliveries, in its order: neither sorts nor walks every queued
/// delivery (with a backlog, that made each call take 0.39 s).
#[tokio::test]
async fn the_scheduler_reads_the_index_of_ready_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    store.close().await.unwrap();
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    // No ANALYZE: the store never runs it, so the planner's defaults are
    // what a deployed gateway gets.
    for (sql, args) in [(queue::DUE, 2), (queue::NEXT_DUE, 1)] {
        let plan = plan_of(&conn, sql, args);
        assert!(
            plan.iter()
                .any(|s| s.contains("INDEX deliveries_ready (next_attempt_at")),
            "{sql}\ndoes not read deliveries_ready: {plan:#?}"
        );
        assert!(
            !plan.iter().any(|s| s.contains("TEMP B-TREE")),
            "{sql}\nsorts: {plan:#?}"
        );
    }
}
