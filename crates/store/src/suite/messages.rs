//! Messages: round trip, idempotency, transitions, search, close.

use std::collections::HashSet;
use std::sync::Arc;

use super::{count, message, transition};
use crate::{
    HistoryEntry, Metadata, Millis, Query, RetentionRule, State, Store, StoreError, StoredAnswer,
    Submitted,
};

/// What `submit` stores comes back from `get`, `apprec` and `original`
/// (byte for byte) with its first history entry; unknown ids are `None`;
/// a message without any metadata is stored too.
pub async fn round_trip<S: Store>(store: S) {
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
    assert_eq!((rec.summary.errors, rec.summary.warnings), (0, 0));
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
    assert_eq!(store.original("m2").await.unwrap().unwrap(), b"garbage");
    store.close().await.unwrap();
}

/// The same key with the same bytes is a `Duplicate` carrying the answer
/// given at intake, with other bytes a `Conflict`; neither stores
/// anything. Without a key there is no check.
pub async fn duplicate_and_conflict<S: Store>(store: S) {
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

/// 40 concurrent submits of one key (half with other bytes): exactly one
/// is `Created`, every other names it as the existing message.
pub async fn idempotency_concurrent<S: Store>(store: S) {
    let store = Arc::new(store);
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
    assert_eq!(count(&*store, Query::default()).await, 1);
}

/// 500 concurrent submits from 50 tasks: each is created, readable at once
/// after its acknowledgement, and its original comes back exactly.
pub async fn many_concurrent_submits<S: Store>(store: S) {
    let store = Arc::new(store);
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
    assert_eq!(count(&*store, Query::default()).await, 500);
    for t in 0..50 {
        for i in 0..10 {
            let id = format!("c{t:02}-{i}");
            let body = store.original(&id).await.unwrap().unwrap();
            assert_eq!(body, format!("<body {id}/>").into_bytes());
        }
    }
}

/// A transition is a compare-and-set: from the wrong state it is a
/// `StateConflict` naming both states, for an unknown id `NotFound`; each
/// one is a history entry, in order, and moves `updated_at`.
pub async fn transitions_compare_and_set<S: Store>(store: S) {
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

/// Each search filter, filters combined with AND, the summary's fields,
/// and whether a page says there is more.
pub async fn search_filters_and_limits<S: Store>(store: S) {
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

/// Limit 0 is 100; more than 1000 is 1000; the cursor takes the rest.
pub async fn search_limit_default_and_clamp<S: Store>(store: S) {
    let store = Arc::new(store);
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

/// A cursor walk over 250 rows (pairs sharing a time) sees each once, in
/// `(received_at, id)` order, while rows arrive before its position (never
/// seen) and after it (seen once, at the end).
pub async fn cursor_walk_is_stable_while_rows_arrive<S: Store>(store: S) {
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

/// A cursor the store did not give is `BadCursor` (whatever its format);
/// one it gave works.
pub async fn bad_cursor_is_refused<S: Store>(store: S) {
    store.submit(message("c1", 1, None, b"x")).await.unwrap();
    store.submit(message("c2", 2, None, b"x")).await.unwrap();
    for bad in ["", "zz", "not a cursor", "' OR 1=1 --"] {
        let q = Query {
            cursor: Some(bad.into()),
            ..Query::default()
        };
        assert!(
            matches!(store.search(&q).await, Err(StoreError::BadCursor)),
            "{bad:?}"
        );
    }
    let first = Query {
        limit: 1,
        ..Query::default()
    };
    let page = store.search(&first).await.unwrap();
    assert_eq!(page.items[0].id, "c1");
    let q = Query {
        limit: 1,
        cursor: page.next,
        ..Query::default()
    };
    let page = store.search(&q).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, "c2");
}

/// After `close` every call is `Closed` — every method of the trait, reads
/// and writes, a second close too — and the store is not ready.
pub async fn closed_store_refuses_everything<S: Store>(store: S) {
    use crate::{
        AccessQuery, Attempt, AttemptResult, DeliveryQuery, FlowFactRow, OperatorAction, WorkQuery,
    };
    store.submit(message("c", 1, None, b"x")).await.unwrap();
    assert!(store.ready().await);
    store.close().await.unwrap();
    fn closed<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
        assert!(matches!(r, Err(StoreError::Closed)), "{what}: {r:?}");
    }
    closed("submit", store.submit(message("d", 2, None, b"x")).await);
    let t = transition("c", 3, State::Accepted, State::Queued);
    closed("transition", store.transition(t).await);
    closed("get", store.get("c").await);
    closed("apprec", store.apprec("c").await);
    closed("original", store.original("c").await);
    closed("search", store.search(&Query::default()).await);
    closed("due", store.due(10, 10).await);
    closed("next_due", store.next_due(10).await);
    closed("claim", store.claim(vec![1], 10).await);
    let attempt = Attempt {
        delivery_id: 1,
        at: 10,
        result: AttemptResult::Delivered,
    };
    closed("finish", store.finish(attempt).await);
    closed("recover", store.recover(10).await);
    closed(
        "receipt_target",
        store.receipt_target("msg-c", vec!["8200002".into()]).await,
    );
    let r = super::receipt(1, "r");
    closed(
        "record_receipt",
        store.record_receipt(1, 10, "system:x".into(), r).await,
    );
    closed("deliveries_of", store.deliveries_of("c").await);
    closed("delivery", store.delivery(1).await);
    closed(
        "list_deliveries",
        store.list_deliveries(&DeliveryQuery::default()).await,
    );
    closed("receipts_of", store.receipts_of("c").await);
    closed("receipt_body", store.receipt_body(1).await);
    let act = || OperatorAction {
        delivery_id: 1,
        at: 10,
        actor: "user:kari".into(),
        reason: "test".into(),
    };
    closed("replay", store.replay(act()).await);
    closed("cancel", store.cancel(act()).await);
    closed("flag_overdue", store.flag_overdue(10, 5).await);
    closed(
        "alert",
        store.alert("registry", "file", "nb", "en", 10).await,
    );
    closed("alerts", store.alerts(10).await);
    closed("delivery_stats", store.delivery_stats(0).await);
    closed("worklist", store.worklist(&WorkQuery::default()).await);
    closed(
        "log_access",
        store.log_access(super::access(10, "kari", None)).await,
    );
    closed(
        "access_log",
        store.access_log(&AccessQuery::default()).await,
    );
    closed("flow_facts", store.flow_facts(0, None).await);
    closed("flow_facts_page", store.flow_facts_page(0, None, 10).await);
    let row = FlowFactRow {
        message_id: "c".into(),
        patient_key: None,
        received_at: 1,
        fact: "{}".into(),
        positive_apprec_at: None,
    };
    closed("set_flow_facts", store.set_flow_facts(vec![row]).await);
    closed("queue_gauges", store.queue_gauges().await);
    closed("destination_stats", store.destination_stats(10).await);
    let rules = vec![RetentionRule {
        state: State::Rejected,
        days: 1,
    }];
    closed(
        "purge_expired",
        store.purge_expired(rules, 1_000_000_000, 10).await,
    );
    closed(
        "hold",
        store.hold(vec!["c".into()], "stay:1".into(), 10).await,
    );
    closed(
        "release",
        store.release(vec!["c".into()], "stay:1".into()).await,
    );
    closed("purge_access_log", store.purge_access_log(10, 10).await);
    closed("incremental_vacuum", store.incremental_vacuum(10).await);
    closed("space", store.space().await);
    closed(
        "patient_flow_facts",
        store.patient_flow_facts("ab12".into(), 10).await,
    );
    assert!(!store.ready().await);
    closed("close", store.close().await);
}
