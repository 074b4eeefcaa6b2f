//! Retention: each state's days, what is never deleted (queued, in flight,
//! dead letters, accepted but not routed, held), what a deletion leaves
//! (a tombstone and its history) and takes (bodies, index rows, patient
//! key), the access log's own retention behind its trigger, and the
//! incremental vacuum giving pages back.

use super::queue_tests::{claim_and_finish, first_delivery, routed};
use super::tests::{message, opts};
use super::*;
use crate::retention::DAY_MS as DAY;
use crate::{AttemptResult, DeliveryState, NewReceipt, WorkQuery};

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    (dir, store)
}

fn rule(state: State, days: u32) -> RetentionRule {
    RetentionRule { state, days }
}

/// A rule for every state, the protected ones too (they must be ignored).
fn every_state(days: u32) -> Vec<RetentionRule> {
    State::ALL.iter().map(|s| rule(*s, days)).collect()
}

fn receipt(status: u8, id: &str) -> NewReceipt {
    NewReceipt {
        status,
        apprec_msg_id: Some(id.to_string()),
        from_her: Some("5078".into()),
        via: "sync",
        body: format!("<AppRec>{id}</AppRec>").into_bytes(),
        callback_to: None,
    }
}

/// A message routed to one receiver at `at` whose delivery ended in `result`.
async fn delivered(store: &SqliteStore, id: &str, at: Millis, result: AttemptResult) {
    store
        .submit(routed(id, at, &format!("p-{id}"), &["5078"]))
        .await
        .unwrap();
    let d = first_delivery(store, id).await;
    claim_and_finish(store, d, at, result).await;
}

async fn state(store: &SqliteStore, id: &str) -> State {
    store.get(id).await.unwrap().unwrap().summary.state
}

async fn purge(store: &SqliteStore, rules: &[RetentionRule], now: Millis) -> Vec<String> {
    let mut ids: Vec<String> = store
        .purge_expired(rules.to_vec(), now, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn each_state_is_deleted_after_its_own_days() {
    let (_dir, store) = open().await;
    let t0 = DAY;
    let mut rejected = message("rej", t0, Some("k-rej"), b"rej");
    rejected.state = State::Rejected;
    store.submit(rejected).await.unwrap();
    delivered(&store, "ack", t0, AttemptResult::Answered(receipt(1, "a1"))).await;
    delivered(&store, "del", t0, AttemptResult::Delivered).await;
    delivered(&store, "rbr", t0, AttemptResult::Answered(receipt(2, "a2"))).await;
    store
        .submit(message("can", t0, Some("k-can"), b"can"))
        .await
        .unwrap();
    store
        .transition(Transition {
            id: "can".into(),
            at: t0,
            actor: "user:ola".into(),
            from: State::Accepted,
            to: State::Cancelled,
            reason: "test".into(),
        })
        .await
        .unwrap();
    assert_eq!(state(&store, "ack").await, State::Acknowledged);
    assert_eq!(state(&store, "del").await, State::Delivered);
    assert_eq!(state(&store, "rbr").await, State::RejectedByReceiver);

    let rules = [
        rule(State::Cancelled, 20),
        rule(State::Rejected, 30),
        rule(State::RejectedByReceiver, 45),
        rule(State::Delivered, 60),
        rule(State::Acknowledged, 90),
    ];
    // Exactly at the boundary nothing goes; just after it, one state.
    assert!(purge(&store, &rules, t0 + 20 * DAY).await.is_empty());
    assert_eq!(purge(&store, &rules, t0 + 20 * DAY + 1).await, ["can"]);
    assert_eq!(purge(&store, &rules, t0 + 30 * DAY + 1).await, ["rej"]);
    assert_eq!(purge(&store, &rules, t0 + 45 * DAY + 1).await, ["rbr"]);
    assert_eq!(purge(&store, &rules, t0 + 60 * DAY + 1).await, ["del"]);
    assert_eq!(purge(&store, &rules, t0 + 90 * DAY + 1).await, ["ack"]);
    assert!(purge(&store, &rules, t0 + 900 * DAY).await.is_empty());
    for id in ["can", "rej", "rbr", "del", "ack"] {
        assert_eq!(state(&store, id).await, State::Deleted, "{id}");
    }
    // 0 days, or no rule: kept forever.
    store.submit(message("keep", t0, None, b"k")).await.unwrap();
    store
        .transition(Transition {
            id: "keep".into(),
            at: t0,
            actor: "gateway".into(),
            from: State::Accepted,
            to: State::Cancelled,
            reason: "test".into(),
        })
        .await
        .unwrap();
    assert!(purge(&store, &[rule(State::Cancelled, 0)], i64::MAX / 2)
        .await
        .is_empty());
    assert!(purge(&store, &[], i64::MAX / 2).await.is_empty());
}

#[tokio::test]
async fn the_age_counts_from_the_last_change_and_the_limit_is_kept() {
    let (_dir, store) = open().await;
    for i in 0..5 {
        let mut m = message(&format!("r{i}"), DAY, None, format!("r{i}").as_bytes());
        m.state = State::Rejected;
        store.submit(m).await.unwrap();
    }
    let purged = store
        .purge_expired(vec![rule(State::Rejected, 1)], 10 * DAY, 2)
        .await
        .unwrap();
    assert_eq!(purged.len(), 2);
    assert_eq!(purged[0].from, State::Rejected);
    assert_eq!(purged[0].days, 1);
    assert_eq!(
        purge(&store, &[rule(State::Rejected, 1)], 10 * DAY)
            .await
            .len(),
        3
    );

    // Delivered at day 1, acknowledged on day 50: 30 days count from day 50.
    delivered(&store, "late", DAY, AttemptResult::Delivered).await;
    let d = first_delivery(&store, "late").await;
    store
        .record_receipt(d, 50 * DAY, "system:x".into(), receipt(1, "late-1"))
        .await
        .unwrap();
    assert_eq!(state(&store, "late").await, State::Acknowledged);
    let rules = [rule(State::Acknowledged, 30)];
    assert!(purge(&store, &rules, 79 * DAY).await.is_empty());
    assert_eq!(purge(&store, &rules, 81 * DAY).await, ["late"]);
}

/// ARCHITECTURE.md invariant: a message is never deleted while it is
/// queued, in flight, dead-lettered or held (nor accepted but not yet
/// routed), whatever the rules say.
#[tokio::test]
async fn a_message_is_never_deleted_while_queued_in_flight_dead_lettered_or_held() {
    let (_dir, store) = open().await;
    store
        .submit(message("accepted", DAY, None, b"a"))
        .await
        .unwrap();
    store
        .submit(routed("queued", DAY, "p1", &["5078"]))
        .await
        .unwrap();
    store
        .submit(routed("inflight", DAY, "p2", &["5078"]))
        .await
        .unwrap();
    let d = first_delivery(&store, "inflight").await;
    assert_eq!(store.claim(vec![d], DAY).await.unwrap(), vec![d]);
    delivered(
        &store,
        "retrying",
        DAY,
        AttemptResult::Retry {
            next_attempt_at: 2 * DAY,
            error: "down".into(),
        },
    )
    .await;
    delivered(
        &store,
        "dead",
        DAY,
        AttemptResult::DeadLetter {
            error: "refused".into(),
        },
    )
    .await;
    // Two receivers: one answered, one still queued. The message is
    // `delivering`, and the open delivery would keep it in any state.
    store
        .submit(routed("half", DAY, "p3", &["5078", "5079"]))
        .await
        .unwrap();
    let half = first_delivery(&store, "half").await;
    claim_and_finish(&store, half, DAY, AttemptResult::Answered(receipt(1, "h1"))).await;
    delivered(
        &store,
        "held",
        DAY,
        AttemptResult::Answered(receipt(1, "h2")),
    )
    .await;
    assert_eq!(
        store
            .hold(vec!["held".into(), "no such".into()], "stay:1".into(), DAY)
            .await
            .unwrap(),
        1
    );
    // A second hold for another reason; releasing one keeps the other.
    store
        .hold(vec!["held".into()], "stay:2".into(), DAY)
        .await
        .unwrap();

    assert_eq!(state(&store, "accepted").await, State::Accepted);
    assert_eq!(state(&store, "queued").await, State::Queued);
    assert_eq!(state(&store, "inflight").await, State::Delivering);
    assert_eq!(state(&store, "retrying").await, State::Delivering);
    assert_eq!(state(&store, "dead").await, State::DeadLettered);
    assert_eq!(state(&store, "held").await, State::Acknowledged);

    let far = 10_000 * DAY;
    assert!(purge(&store, &every_state(1), far).await.is_empty());
    assert_eq!(
        store
            .release(vec!["held".into()], "stay:1".into())
            .await
            .unwrap(),
        1
    );
    assert!(purge(&store, &every_state(1), far).await.is_empty());
    store
        .release(vec!["held".into()], "stay:2".into())
        .await
        .unwrap();
    assert_eq!(purge(&store, &every_state(1), far).await, ["held"]);
    for id in ["accepted", "queued", "inflight", "retrying", "dead", "half"] {
        assert_ne!(state(&store, id).await, State::Deleted, "{id}");
        assert!(store.original(id).await.unwrap().is_some(), "{id}");
    }
}

/// ARCHITECTURE.md invariant: every deletion is in the message's history;
/// what is left is a tombstone without patient data.
#[tokio::test]
async fn a_deletion_is_in_the_history_and_leaves_a_tombstone() {
    let (dir, store) = open().await;
    let mut m = routed("gone", DAY, "patient-hash", &["5078"]);
    m.meta.name_terms = vec!["term-a".into(), "term-b".into()];
    m.findings_json = r#"[{"code":"W1","severity":"warning"}]"#.into();
    m.meta.flow_fact = Some(r#"{"kind":"admission"}"#.into());
    let key = m.idempotency_key.clone();
    let body = m.original.clone();
    store.submit(m.clone()).await.unwrap();
    let d = first_delivery(&store, "gone").await;
    claim_and_finish(&store, d, DAY, AttemptResult::Answered(receipt(1, "g1"))).await;
    let receipt_id = store.receipts_of("gone").await.unwrap()[0].id;
    let facts = store
        .flow_facts(0, Some("patient-hash".into()))
        .await
        .unwrap();
    assert_eq!(facts.len(), 1);
    let fact = facts[0].clone();
    assert!(store.receipt_body(receipt_id).await.unwrap().is_some());
    let before = store.get("gone").await.unwrap().unwrap();

    let now = 100 * DAY;
    assert_eq!(
        purge(&store, &[rule(State::Acknowledged, 90)], now).await,
        ["gone"]
    );

    let rec = store.get("gone").await.unwrap().unwrap();
    // Who, what, when: the tombstone and the whole history are kept.
    assert_eq!(rec.summary.state, State::Deleted);
    assert_eq!(rec.summary.received_at, DAY);
    assert_eq!(rec.summary.updated_at, now);
    assert_eq!(rec.summary.system, before.summary.system);
    assert_eq!(rec.summary.meta.msg_id, before.summary.meta.msg_id);
    assert_eq!(rec.summary.meta.msg_type, before.summary.meta.msg_type);
    assert_eq!(rec.summary.meta.sender_her, before.summary.meta.sender_her);
    assert_eq!(
        rec.summary.meta.receiver_her,
        before.summary.meta.receiver_her
    );
    assert_eq!(rec.summary.warnings, 1);
    assert_eq!(rec.sha256, before.sha256);
    assert_eq!(rec.history.len(), before.history.len() + 1);
    assert_eq!(rec.history[..before.history.len()], before.history[..]);
    let last = rec.history.last().unwrap();
    assert_eq!(last.at, now);
    assert_eq!(last.actor, "gateway");
    assert_eq!(last.from, Some(State::Acknowledged));
    assert_eq!(last.to, State::Deleted);
    assert!(
        last.reason.contains("retention: 90 days"),
        "{}",
        last.reason
    );
    // No patient data, no content.
    assert_eq!(rec.summary.meta.patient_key, None);
    assert!(rec.summary.meta.parties.is_empty());
    assert_eq!(rec.findings_json, "[]");
    assert_eq!(store.original("gone").await.unwrap(), None);
    assert_eq!(store.apprec("gone").await.unwrap(), None);
    assert_eq!(store.receipt_body(receipt_id).await.unwrap(), None);
    // No flow fact: a deleted message is in no stay and gives no baseline,
    // and a rebuild cannot put it back.
    assert!(store.flow_facts(0, None).await.unwrap().is_empty());
    store.set_flow_facts(vec![fact]).await.unwrap();
    assert!(store.flow_facts(0, None).await.unwrap().is_empty());
    // Receipts and deliveries are still listed (their states and times).
    assert_eq!(store.receipts_of("gone").await.unwrap().len(), 1);
    assert_eq!(
        store.deliveries_of("gone").await.unwrap()[0].0.state,
        DeliveryState::Acknowledged
    );

    // Search: by patient, name or unit nothing; by state, the tombstone.
    let work = |q: WorkQuery| {
        let store = &store;
        async move { store.worklist(&q).await.unwrap().items.len() }
    };
    let patient = WorkQuery {
        patient_key: Some("patient-hash".into()),
        ..WorkQuery::default()
    };
    assert_eq!(work(patient).await, 0);
    let name = WorkQuery {
        name_terms: vec!["term-a".into()],
        ..WorkQuery::default()
    };
    assert_eq!(work(name).await, 0);
    let unit = WorkQuery {
        units: Some(vec!["5078".into()]),
        ..WorkQuery::default()
    };
    assert_eq!(work(unit).await, 0);
    let deleted = Query {
        state: Some(State::Deleted),
        ..Query::default()
    };
    let found = store.search(&deleted).await.unwrap().items;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "gone");

    // A late AppRec finds no delivery; a replay is refused; the tombstone
    // stays deleted.
    let msg_id = before.summary.meta.msg_id.clone().unwrap();
    assert_eq!(
        store
            .receipt_target(&msg_id, vec!["5078".into()])
            .await
            .unwrap(),
        None
    );
    let replay = store
        .replay(OperatorAction {
            delivery_id: d,
            at: now,
            actor: "user:ola".into(),
            reason: "again".into(),
        })
        .await;
    assert!(
        matches!(replay, Err(StoreError::NotAllowed { .. })),
        "{replay:?}"
    );
    let cancel = store
        .cancel(OperatorAction {
            delivery_id: d,
            at: now,
            actor: "user:ola".into(),
            reason: "no".into(),
        })
        .await;
    assert!(cancel.is_err());
    for (from, to) in [
        (State::Deleted, State::Acknowledged),
        (State::Acknowledged, State::Deleted),
    ] {
        let t = Transition {
            id: "gone".into(),
            at: now,
            actor: "user:ola".into(),
            from,
            to,
            reason: "no".into(),
        };
        assert!(store.transition(t).await.is_err(), "{from} → {to}");
    }
    assert_eq!(state(&store, "gone").await, State::Deleted);
    // A deleted message is not deleted again, and holds skip it.
    assert!(purge(&store, &every_state(1), 1000 * DAY).await.is_empty());
    assert_eq!(
        store
            .hold(vec!["gone".into()], "stay:9".into(), now)
            .await
            .unwrap(),
        0
    );

    // The idempotency key is free again: the same message sent again is a
    // new message.
    let mut again = message("again", now, key.as_deref(), &body);
    again.sha256 = m.sha256;
    assert_eq!(store.submit(again).await.unwrap(), Submitted::Created);
    store.close().await.unwrap();

    // Nothing of the body or the index is left in the database file's
    // tables, and the history is still append-only.
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    for (table, column) in [
        ("bodies", "message_id"),
        ("name_terms", "message_id"),
        ("message_parties", "message_id"),
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
    let del = ["DELETE", "FROM history WHERE message_id = 'gone'"].join(" ");
    assert!(conn.execute(&del, []).is_err());
}

#[tokio::test]
async fn access_log_retention_deletes_only_old_entries_and_nothing_else_can() {
    let (dir, store) = open().await;
    for at in [10, 20, 30, 40] {
        store
            .log_access(NewAccess {
                at: at * DAY,
                user: "ola".into(),
                action: "view_message".into(),
                message_id: Some("m".into()),
                patient_key: None,
                query: None,
                name_terms: None,
                unit: None,
                outcome: "ok".into(),
            })
            .await
            .unwrap();
    }
    let all = AccessQuery {
        limit: 100,
        ..AccessQuery::default()
    };
    // In steps of at most one entry.
    assert_eq!(store.purge_access_log(25 * DAY, 1).await.unwrap(), 1);
    assert_eq!(store.purge_access_log(25 * DAY, 1).await.unwrap(), 1);
    assert_eq!(store.purge_access_log(25 * DAY, 1).await.unwrap(), 0);
    let left: Vec<Millis> = store
        .access_log(&all)
        .await
        .unwrap()
        .iter()
        .map(|e| e.access.at)
        .collect();
    assert_eq!(left, [40 * DAY, 30 * DAY]);
    // Asking with an earlier cut-off moves nothing back and deletes nothing.
    assert_eq!(store.purge_access_log(5 * DAY, 100).await.unwrap(), 0);
    // Message retention never touches the access log.
    assert!(purge(&store, &every_state(1), 1000 * DAY).await.is_empty());
    assert_eq!(store.access_log(&all).await.unwrap().len(), 2);
    store.close().await.unwrap();

    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
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
        purge(&store, &[rule(State::Rejected, 1)], 10 * DAY)
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
        let mut conn = Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        for step in &MIGRATIONS[..6] {
            tx.execute_batch(step).unwrap();
        }
        tx.pragma_update(None, "user_version", 6).unwrap();
        tx.execute(
            "INSERT INTO access_log (at, user, action, outcome) VALUES (1, 'u', 'list', 'ok')",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
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
