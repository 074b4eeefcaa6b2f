//! Tests of the SQLite store, by group:
//!
//! - **Round trip**: what `submit` stores comes back from `get`, `apprec`,
//!   `original` (byte for byte) with its first history entry; unknown ids
//!   are `None`; the schema version is set.
//! - **Idempotency**: the same key with the same bytes is a `Duplicate` that
//!   carries the stored answer, with other bytes a `Conflict`; neither writes
//!   anything. Also inside one batch (driven directly and through many
//!   concurrent submits): exactly one `Created`.
//! - **Group commit**: a batch whose COMMIT fails answers every request with
//!   an error, and nothing of it is stored; a failing request inside a batch
//!   does not spoil the others.
//! - **Transitions**: compare-and-set success, `StateConflict`, `NotFound`,
//!   history in order, `updated_at` moves.
//! - **Search**: each filter, filters combined, limit default and clamp,
//!   cursor walk over 250 rows without duplicates or gaps while new rows
//!   arrive, malformed cursors refused; reads answer while another
//!   connection holds the write lock.
//! - **Lifecycle**: close then any call is `Closed`; reopening after close
//!   and after a plain drop keeps everything; 500 concurrent submits from 50
//!   tasks are all created and all readable after reopen, with group commit
//!   on and off; a database from a newer program is refused.
//! - **Append-only**: the source never changes or removes history rows, and
//!   the database refuses it too.
//! - **Checkpoints**: the checkpointer thread folds the log into the
//!   database while the store runs.

use super::*;
use std::collections::HashSet;

pub(super) fn opts() -> SqliteOptions {
    SqliteOptions::default()
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    // Not SHA-256 (the store does not check it); distinct inputs give
    // distinct values for the tests' purposes.
    let mut out = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        out[i % 32] = out[i % 32].wrapping_mul(31).wrapping_add(*b);
    }
    out[31] ^= bytes.len() as u8;
    out
}

pub(super) fn message(id: &str, received_at: Millis, key: Option<&str>, body: &[u8]) -> NewMessage {
    NewMessage {
        id: id.to_string(),
        received_at,
        system: "eprlege".to_string(),
        idempotency_key: key.map(str::to_string),
        sha256: sha(body),
        original: body.to_vec(),
        meta: Metadata {
            msg_id: Some(format!("msg-{id}")),
            msg_type: Some("INNLEGGELSESRAPPORT".to_string()),
            standard: Some("PLO 1.6".to_string()),
            sender_her: Some("8100001".to_string()),
            receiver_her: Some("8200002".to_string()),
            patient_key: Some("ab12".to_string()),
            parties: vec!["8100001".to_string(), "8200002".to_string()],
            name_terms: Vec::new(),
            flow_fact: None,
        },
        verdict: "accepted".to_string(),
        findings_json: "[]".to_string(),
        apprec: format!("<AppRec id=\"{id}\"/>").into_bytes(),
        apprec_status: 1,
        state: State::Accepted,
        actor: "system:eprlege".to_string(),
        reason: "received".to_string(),
        deliveries: Vec::new(),
        route_reason: String::new(),
    }
}

fn transition(id: &str, at: Millis, from: State, to: State) -> Transition {
    Transition {
        id: id.to_string(),
        at,
        actor: "gateway".to_string(),
        from,
        to,
        reason: format!("{from} to {to}"),
    }
}

async fn count(store: &SqliteStore, q: Query) -> usize {
    let q = Query { limit: 1000, ..q };
    store.search(&q).await.unwrap().items.len()
}

// ---- Round trip ------------------------------------------------------------

#[tokio::test]
async fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let body = b"<MsgHead>\x00\xff binary-safe</MsgHead>".to_vec();
    let m = message("m1", 1_000, Some("8100001|A"), &body);
    assert_eq!(store.submit(m.clone()).await.unwrap(), Submitted::Created);

    let rec = store.get("m1").await.unwrap().unwrap();
    assert_eq!(rec.summary.id, "m1");
    assert_eq!(rec.summary.received_at, 1_000);
    assert_eq!(rec.summary.updated_at, 1_000);
    assert_eq!(rec.summary.system, "eprlege");
    assert_eq!(rec.summary.meta, m.meta);
    assert_eq!(rec.summary.size, body.len() as u64);
    assert_eq!(rec.sha256, m.sha256);
    assert_eq!(rec.summary.verdict, "accepted");
    assert_eq!(rec.summary.state, State::Accepted);
    assert_eq!(rec.summary.apprec_status, 1);
    assert_eq!(rec.findings_json, "[]");
    assert_eq!(
        rec.history,
        vec![HistoryEntry {
            at: 1_000,
            actor: "system:eprlege".into(),
            from: None,
            to: State::Accepted,
            reason: "received".into(),
        }]
    );
    assert_eq!(store.original("m1").await.unwrap().unwrap(), body);
    assert_eq!(store.apprec("m1").await.unwrap().unwrap(), m.apprec);

    assert_eq!(store.get("nope").await.unwrap(), None);
    assert_eq!(store.original("nope").await.unwrap(), None);
    assert_eq!(store.apprec("nope").await.unwrap(), None);
    assert!(store.ready().await);

    // Metadata may be missing entirely (an unreadable message).
    let mut bare = message("m2", 2_000, None, b"garbage");
    bare.meta = Metadata::default();
    bare.state = State::Rejected;
    bare.verdict = "rejected".into();
    bare.apprec_status = 2;
    assert_eq!(
        store.submit(bare.clone()).await.unwrap(),
        Submitted::Created
    );
    let rec = store.get("m2").await.unwrap().unwrap();
    assert_eq!(rec.summary.meta, Metadata::default());
    assert_eq!(rec.summary.state, State::Rejected);
    assert_eq!(rec.summary.apprec_status, 2);
    store.close().await.unwrap();

    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

// ---- Idempotency -------------------------------------------------------------

#[tokio::test]
async fn duplicate_and_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let first = message("a", 1, Some("8100001|X"), b"one");
    assert_eq!(
        store.submit(first.clone()).await.unwrap(),
        Submitted::Created
    );
    // The message moves on; a replay still gets the answer given at intake.
    store
        .transition(transition("a", 2, State::Accepted, State::Queued))
        .await
        .unwrap();

    let again = message("b", 3, Some("8100001|X"), b"one");
    match store.submit(again).await.unwrap() {
        Submitted::Duplicate(answer) => assert_eq!(
            answer,
            StoredAnswer {
                id: "a".into(),
                verdict: first.verdict.clone(),
                findings_json: first.findings_json.clone(),
                apprec: first.apprec.clone(),
                apprec_status: first.apprec_status,
                state_at_intake: State::Accepted,
            }
        ),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let other = message("c", 4, Some("8100001|X"), b"two");
    assert_eq!(
        store.submit(other).await.unwrap(),
        Submitted::Conflict {
            existing_id: "a".into()
        }
    );
    assert_eq!(store.get("b").await.unwrap(), None);
    assert_eq!(store.get("c").await.unwrap(), None);
    assert_eq!(count(&store, Query::default()).await, 1);

    // No key: no check, both stored.
    store.submit(message("d", 5, None, b"one")).await.unwrap();
    store.submit(message("e", 6, None, b"one")).await.unwrap();
    assert_eq!(count(&store, Query::default()).await, 3);
}

/// Runs `requests` as one batch on a fresh connection to `dir`'s database.
fn run_direct(dir: &Path, requests: Vec<Request>) {
    let mut conn = open_writer(&dir.join(DB_FILE)).unwrap();
    run_batch(&mut conn, requests);
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

#[tokio::test]
async fn concurrent_same_key_one_created() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), opts()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let body: &[u8] = if i % 2 == 0 { b"same" } else { b"other" };
            store
                .submit(message(&format!("k{i:02}"), i, Some("8100001|K"), body))
                .await
                .unwrap()
        }));
    }
    let mut created = Vec::new();
    let mut existing = HashSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Submitted::Created => created.push(i),
            Submitted::Duplicate(a) => {
                existing.insert(a.id);
            }
            Submitted::Conflict { existing_id } => {
                existing.insert(existing_id);
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one submission is created");
    let winner = format!("k{:02}", created[0]);
    assert_eq!(existing, HashSet::from([winner]));
    assert_eq!(count(&store, Query::default()).await, 1);
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

// ---- Transitions -------------------------------------------------------------

#[tokio::test]
async fn transitions_compare_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store.submit(message("t", 10, None, b"x")).await.unwrap();

    store
        .transition(transition("t", 20, State::Accepted, State::Queued))
        .await
        .unwrap();
    store
        .transition(transition("t", 30, State::Queued, State::Delivering))
        .await
        .unwrap();
    match store
        .transition(transition("t", 40, State::Queued, State::Delivering))
        .await
    {
        Err(StoreError::StateConflict {
            id,
            expected,
            actual,
        }) => {
            assert_eq!(id, "t");
            assert_eq!(expected, "queued");
            assert_eq!(actual, "delivering");
        }
        other => panic!("expected a state conflict, got {other:?}"),
    }
    assert!(matches!(
        store
            .transition(transition("none", 40, State::Accepted, State::Queued))
            .await,
        Err(StoreError::NotFound(id)) if id == "none"
    ));
    store
        .transition(transition("t", 50, State::Delivering, State::Delivered))
        .await
        .unwrap();

    let rec = store.get("t").await.unwrap().unwrap();
    assert_eq!(rec.summary.state, State::Delivered);
    assert_eq!(rec.summary.updated_at, 50);
    assert_eq!(rec.summary.received_at, 10);
    let steps: Vec<_> = rec.history.iter().map(|h| (h.at, h.from, h.to)).collect();
    assert_eq!(
        steps,
        vec![
            (10, None, State::Accepted),
            (20, Some(State::Accepted), State::Queued),
            (30, Some(State::Queued), State::Delivering),
            (50, Some(State::Delivering), State::Delivered),
        ]
    );
    assert_eq!(rec.history[1].actor, "gateway");
    assert_eq!(rec.history[1].reason, "accepted to queued");
}

// ---- Search -------------------------------------------------------------------

#[tokio::test]
async fn search_filters_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    for i in 0..30i64 {
        let mut m = message(&format!("s{i:03}"), 1_000 + i, None, b"x");
        m.meta.sender_her = Some(if i % 2 == 0 { "A" } else { "B" }.into());
        m.meta.receiver_her = Some(if i % 3 == 0 { "R0" } else { "R1" }.into());
        m.meta.msg_type = Some(if i < 10 { "T1" } else { "T2" }.into());
        m.system = if i % 5 == 0 { "five" } else { "other" }.into();
        store.submit(m).await.unwrap();
    }
    for i in [1, 2, 3] {
        store
            .transition(transition(
                &format!("s{i:03}"),
                5_000,
                State::Accepted,
                State::Queued,
            ))
            .await
            .unwrap();
    }
    let q = Query::default;
    assert_eq!(count(&store, q()).await, 30);
    let by_sender = Query {
        sender_her: Some("A".into()),
        ..q()
    };
    assert_eq!(count(&store, by_sender.clone()).await, 15);
    let by_receiver = Query {
        receiver_her: Some("R0".into()),
        ..q()
    };
    assert_eq!(count(&store, by_receiver).await, 10);
    let by_type = Query {
        msg_type: Some("T1".into()),
        ..q()
    };
    assert_eq!(count(&store, by_type).await, 10);
    let by_system = Query {
        system: Some("five".into()),
        ..q()
    };
    assert_eq!(count(&store, by_system).await, 6);
    let by_state = Query {
        state: Some(State::Queued),
        ..q()
    };
    assert_eq!(count(&store, by_state).await, 3);
    let window = Query {
        since: Some(1_005),
        until: Some(1_015),
        ..q()
    };
    assert_eq!(count(&store, window).await, 10);
    // Combined with AND: sender A (even), receiver R0 (multiple of 3), T1 (< 10).
    let combined = Query {
        sender_her: Some("A".into()),
        receiver_her: Some("R0".into()),
        msg_type: Some("T1".into()),
        ..q()
    };
    let page = store.search(&combined).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s000", "s006"]);
    assert_eq!(page.next, None);
    let nothing = Query {
        sender_her: Some("' OR 1=1 --".into()),
        ..q()
    };
    assert_eq!(count(&store, nothing).await, 0);

    // Summary fields.
    let s = &store.search(&by_sender).await.unwrap().items[1];
    assert_eq!(s.id, "s002");
    assert_eq!(s.received_at, 1_002);
    assert_eq!(s.updated_at, 5_000);
    assert_eq!(s.state, State::Queued);
    assert_eq!(s.size, 1);
    assert_eq!(s.meta.sender_her.as_deref(), Some("A"));

    // Limits: exact fit has no next page; one fewer has.
    let exact = Query { limit: 30, ..q() };
    assert_eq!(store.search(&exact).await.unwrap().next, None);
    let short = Query { limit: 29, ..q() };
    assert!(store.search(&short).await.unwrap().next.is_some());
    let one = Query { limit: 1, ..q() };
    assert_eq!(store.search(&one).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn search_limit_default_and_clamp() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), opts()).unwrap());
    let mut tasks = Vec::new();
    for t in 0..10 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..110 {
                let n = t * 110 + i;
                store
                    .submit(message(&format!("l{n:05}"), n, None, b"x"))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let page = store.search(&Query::default()).await.unwrap();
    assert_eq!(page.items.len(), 100);
    assert!(page.next.is_some());
    let big = Query {
        limit: 5_000,
        ..Query::default()
    };
    let page = store.search(&big).await.unwrap();
    assert_eq!(page.items.len(), 1000);
    assert!(page.next.is_some());
    let rest = Query {
        limit: 5_000,
        cursor: page.next,
        ..Query::default()
    };
    let page = store.search(&rest).await.unwrap();
    assert_eq!(page.items.len(), 100);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn cursor_walk_is_stable_while_rows_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let mut originals = Vec::new();
    for i in 0..250i64 {
        // Pairs share a timestamp, so the id breaks ties.
        let id = format!("w{:03}", 249 - i);
        store
            .submit(message(&id, 10_000 + i / 2, None, b"x"))
            .await
            .unwrap();
        originals.push(id);
    }
    let mut seen: Vec<(Millis, String)> = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let q = Query {
            limit: 40,
            cursor: cursor.take(),
            ..Query::default()
        };
        let page = store.search(&q).await.unwrap();
        seen.extend(page.items.iter().map(|s| (s.received_at, s.id.clone())));
        pages += 1;
        // During the walk: one row before the walk's position (never seen),
        // one at the very end (seen once, at the end).
        if pages <= 3 {
            store
                .submit(message(&format!("early{pages}"), 1, None, b"x"))
                .await
                .unwrap();
            store
                .submit(message(&format!("late{pages}"), 90_000 + pages, None, b"x"))
                .await
                .unwrap();
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 100, "the walk ends");
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "strictly ordered");
    let ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no duplicates");
    for id in &originals {
        assert!(unique.contains(id.as_str()), "no gap: {id}");
    }
    assert!(!unique.iter().any(|id| id.starts_with("early")));
    assert_eq!(ids.iter().filter(|id| id.starts_with("late")).count(), 3);
    assert_eq!(ids.len(), 253);
}

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
async fn closed_store_refuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store.submit(message("c", 1, None, b"x")).await.unwrap();
    store.close().await.unwrap();
    assert!(matches!(
        store.submit(message("d", 2, None, b"x")).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        store
            .transition(transition("c", 3, State::Accepted, State::Queued))
            .await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(store.get("c").await, Err(StoreError::Closed)));
    assert!(matches!(store.apprec("c").await, Err(StoreError::Closed)));
    assert!(matches!(store.original("c").await, Err(StoreError::Closed)));
    assert!(matches!(
        store.search(&Query::default()).await,
        Err(StoreError::Closed)
    ));
    assert!(!store.ready().await);
    assert!(matches!(store.close().await, Err(StoreError::Closed)));
}

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

// ---- People's pages: worklist, name search, access log ----------------------

fn flagged(id: &str, at: Millis, parties: &[&str], findings: &str, terms: &[&str]) -> NewMessage {
    let mut m = message(id, at, None, id.as_bytes());
    m.meta.sender_her = None;
    m.meta.receiver_her = None;
    m.meta.parties = parties.iter().map(|p| p.to_string()).collect();
    m.meta.name_terms = terms.iter().map(|t| t.to_string()).collect();
    m.findings_json = findings.to_string();
    m
}

const ONE_WARNING: &str = r#"[{"code":"R1","severity":"warning"},{"code":"R2","severity":"info"}]"#;
const ONE_ERROR: &str = r#"[{"code":"S1","severity":"error"}]"#;

#[tokio::test]
async fn worklist_scopes_orders_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store
        .submit(flagged("a", 1, &["100"], "[]", &["t-ola"]))
        .await
        .unwrap();
    store
        .submit(flagged("b", 2, &["200", "100"], ONE_WARNING, &["t-kari"]))
        .await
        .unwrap();
    store
        .submit(flagged(
            "c",
            3,
            &["300"],
            ONE_ERROR,
            &["t-ola", "t-nordmann"],
        ))
        .await
        .unwrap();
    let mut routed = flagged("d", 4, &["400"], "[]", &[]);
    routed.deliveries.push(crate::NewDelivery {
        receiver_her: "100".into(),
        role: "copy:gp".into(),
        reason: "copy".into(),
    });
    routed.state = State::Accepted;
    store.submit(routed).await.unwrap();

    let ids = |p: Page| p.items.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let unit = |u: &[&str]| WorkQuery {
        units: Some(u.iter().map(|s| s.to_string()).collect()),
        ..WorkQuery::default()
    };
    // Newest first; a routed receiver counts as a party.
    assert_eq!(
        ids(store.worklist(&unit(&["100"])).await.unwrap()),
        ["d", "b", "a"]
    );
    assert_eq!(
        ids(store.worklist(&unit(&["300", "200"])).await.unwrap()),
        ["c", "b"]
    );
    assert!(store.worklist(&unit(&[])).await.unwrap().items.is_empty());
    assert_eq!(
        ids(store.worklist(&WorkQuery::default()).await.unwrap()).len(),
        4
    );

    // Counts of findings per severity.
    let page = store.worklist(&unit(&["200"])).await.unwrap();
    assert_eq!((page.items[0].errors, page.items[0].warnings), (0, 1));
    let page = store.worklist(&unit(&["300"])).await.unwrap();
    assert_eq!((page.items[0].errors, page.items[0].warnings), (1, 0));
    let q = WorkQuery {
        with_findings: true,
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c", "b"]);

    // Every name word must match.
    let q = WorkQuery {
        name_terms: vec!["t-ola".into()],
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c", "a"]);
    let q = WorkQuery {
        name_terms: vec!["t-ola".into(), "t-nordmann".into()],
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c"]);

    // Pages walk back in time without gaps.
    let mut q = WorkQuery {
        limit: 1,
        ..WorkQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = store.worklist(&q).await.unwrap();
        seen.extend(page.items.iter().map(|s| s.id.clone()));
        match page.next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["d", "c", "b", "a"]);

    // The record carries its parties.
    let rec = store.get("d").await.unwrap().unwrap();
    assert_eq!(rec.summary.meta.parties, ["100", "400"]);
}

#[tokio::test]
async fn access_log_is_recorded_filtered_and_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let entry = |at, user: &str, patient: Option<&str>| NewAccess {
        at,
        user: user.into(),
        action: "view_message".into(),
        message_id: Some("m1".into()),
        patient_key: patient.map(str::to_string),
        outcome: "ok".into(),
        ..NewAccess::default()
    };
    store
        .log_access(entry(10, "kari", Some("p1")))
        .await
        .unwrap();
    store
        .log_access(entry(20, "ola", Some("p2")))
        .await
        .unwrap();
    store.log_access(entry(30, "kari", None)).await.unwrap();

    let all = store.access_log(&AccessQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.access.at).collect::<Vec<_>>(),
        [30, 20, 10]
    );
    assert_eq!(all[2].access, entry(10, "kari", Some("p1")));
    let q = AccessQuery {
        user: Some("kari".into()),
        ..AccessQuery::default()
    };
    assert_eq!(store.access_log(&q).await.unwrap().len(), 2);
    let q = AccessQuery {
        patient_key: Some("p2".into()),
        ..AccessQuery::default()
    };
    assert_eq!(store.access_log(&q).await.unwrap()[0].access.user, "ola");
    let q = AccessQuery {
        since: Some(15),
        until: Some(30),
        ..AccessQuery::default()
    };
    assert_eq!(store.access_log(&q).await.unwrap().len(), 1);
    store.close().await.unwrap();

    let conn = Connection::open(dir.path().join("overgang.db")).unwrap();
    for sql in [
        "UPDATE access_log SET user = 'someone else'",
        "DELETE FROM access_log",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
}

#[test]
fn version_5_counts_and_indexes_messages_stored_before_it() {
    // A database at version 4 with one flagged message, then opened by
    // this program: its findings are counted and its parties indexed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overgang.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        for m in &MIGRATIONS[..4] {
            tx.execute_batch(m).unwrap();
        }
        tx.pragma_update(None, "user_version", 4).unwrap();
        tx.execute(
            "INSERT INTO messages (id, received_at, updated_at, system, sha256, size,
                 sender_her, receiver_her, verdict, state, apprec_status, findings_json)
             VALUES ('old', 5, 5, 's', zeroblob(32), 1, '100', '200', 'accepted_with_warnings',
                 'accepted', 3, ?1)",
            [r#"[{"severity":"warning"},{"severity":"warning"},{"severity":"error"}]"#],
        )
        .unwrap();
        tx.commit().unwrap();
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

#[tokio::test]
async fn flow_facts_are_kept_with_their_messages_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    let mut a = message("a", 10, Some("k|a"), b"a");
    a.meta.flow_fact = Some(r#"{"fact":"a"}"#.into());
    let mut b = message("b", 20, Some("k|b"), b"b");
    b.meta.flow_fact = Some(r#"{"fact":"b"}"#.into());
    b.meta.patient_key = Some("other".into());
    let c = message("c", 30, Some("k|c"), b"c");
    for m in [a, b, c] {
        store.submit(m).await.unwrap();
    }
    let all = store.flow_facts(0, None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.message_id.as_str(), r.fact.as_str()))
            .collect::<Vec<_>>(),
        [("a", r#"{"fact":"a"}"#), ("b", r#"{"fact":"b"}"#)]
    );
    assert_eq!(all[0].patient_key.as_deref(), Some("ab12"));
    assert_eq!(all[0].positive_apprec_at, None);
    assert_eq!(store.flow_facts(15, None).await.unwrap().len(), 1);
    let of = store.flow_facts(0, Some("other".into())).await.unwrap();
    assert_eq!(of.len(), 1);
    assert_eq!(of[0].message_id, "b");
    let newest = store.patient_flow_facts("other".into(), 5).await.unwrap();
    assert_eq!(newest, of);
    assert!(store
        .patient_flow_facts("ab12".into(), 0)
        .await
        .unwrap()
        .is_empty());

    // A rebuild replaces facts and adds missing ones.
    store
        .set_flow_facts(vec![
            crate::FlowFactRow {
                message_id: "a".into(),
                patient_key: Some("ab12".into()),
                received_at: 10,
                fact: r#"{"fact":"a2"}"#.into(),
                positive_apprec_at: None,
            },
            crate::FlowFactRow {
                message_id: "c".into(),
                patient_key: None,
                received_at: 30,
                fact: r#"{"fact":"c"}"#.into(),
                positive_apprec_at: None,
            },
        ])
        .await
        .unwrap();
    let all = store.flow_facts(0, None).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.fact.as_str()).collect::<Vec<_>>(),
        [r#"{"fact":"a2"}"#, r#"{"fact":"b"}"#, r#"{"fact":"c"}"#]
    );
}

#[tokio::test]
async fn flow_facts_come_page_by_page_of_whole_patients() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    // Patients p0..p4, two facts each (one before the window for p1), and
    // one fact without a patient.
    let mut n = 0;
    for p in 0..5 {
        for t in [100, 200] {
            n += 1;
            let id = format!("m{n}");
            let mut m = message(&id, t + n, Some(&format!("k|{id}")), id.as_bytes());
            m.meta.flow_fact = Some(format!(r#"{{"n":{n}}}"#));
            m.meta.patient_key = Some(format!("p{p}"));
            if p == 1 && t == 100 {
                m.received_at = 1;
            }
            store.submit(m).await.unwrap();
        }
    }
    let mut lone = message("lone", 150, Some("k|lone"), b"lone");
    lone.meta.flow_fact = Some("{}".into());
    lone.meta.patient_key = None;
    store.submit(lone).await.unwrap();

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.flow_facts_page(50, after.clone(), 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().and_then(|r| r.patient_key.clone());
        pages.push(
            page.iter()
                .map(|r| (r.patient_key.clone().unwrap(), r.message_id.clone()))
                .collect::<Vec<_>>(),
        );
    }
    fn keys(page: &[(String, String)]) -> Vec<&str> {
        let mut k: Vec<&str> = page.iter().map(|x| x.0.as_str()).collect();
        k.dedup();
        k
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(keys(&pages[0]), ["p0", "p1"]);
    assert_eq!(keys(&pages[1]), ["p2", "p3"]);
    assert_eq!(keys(&pages[2]), ["p4"]);
    // Every fact in the window once (p1's early one is not), in time
    // order within a patient; none without a patient.
    let all: Vec<(String, String)> = pages.concat();
    assert_eq!(all.len(), 9);
    assert_eq!(all[2], ("p1".to_owned(), "m4".to_owned()));
    assert_eq!(all[0], ("p0".to_owned(), "m1".to_owned()));
    assert_eq!(all[1], ("p0".to_owned(), "m2".to_owned()));
    assert!(all.iter().all(|x| x.1 != "lone" && x.1 != "m3"));
}

#[tokio::test]
async fn a_patients_newest_facts_are_read_oldest_first_up_to_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    for i in 0..5i64 {
        let id = format!("m{i}");
        let mut m = message(&id, 100 + i, Some(&format!("k|{id}")), id.as_bytes());
        m.meta.flow_fact = Some(format!("{{\"n\":{i}}}"));
        store.submit(m).await.unwrap();
    }
    let newest = store.patient_flow_facts("ab12".into(), 3).await.unwrap();
    assert_eq!(
        newest
            .iter()
            .map(|r| r.message_id.as_str())
            .collect::<Vec<_>>(),
        ["m2", "m3", "m4"]
    );
    assert!(newest.iter().all(|r| r.positive_apprec_at.is_none()));
}
