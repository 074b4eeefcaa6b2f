//! Retention: each state's days, what is never deleted, what a deletion
//! leaves, holds, the access log's cut-off, and the space calls.

use super::{access, action, claim_and_finish, first_delivery, message, receipt, routed};
use crate::retention::DAY_MS as DAY;
use crate::{
    AccessQuery, AttemptResult, DeliveryState, Millis, Query, RetentionRule, State, Store,
    StoreError, Submitted, Transition, WorkQuery,
};

fn rule(state: State, days: u32) -> RetentionRule {
    RetentionRule { state, days }
}

/// A rule for every state, the protected ones too (they must be ignored).
pub fn every_state(days: u32) -> Vec<RetentionRule> {
    State::ALL.iter().map(|s| rule(*s, days)).collect()
}

/// A message routed to `5078` at `at` whose one delivery ended in `result`.
pub async fn delivered<S: Store>(store: &S, id: &str, at: Millis, result: AttemptResult) {
    store
        .submit(routed(id, at, &format!("p-{id}"), &["5078"]))
        .await
        .unwrap();
    let d = first_delivery(store, id).await;
    claim_and_finish(store, d, at, result).await;
}

async fn state<S: Store>(store: &S, id: &str) -> State {
    store.get(id).await.unwrap().unwrap().summary.state
}

/// Purges with `rules` at `now` (limit 1000); the ids purged, sorted.
pub async fn purge<S: Store>(store: &S, rules: &[RetentionRule], now: Millis) -> Vec<String> {
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

fn cancel(id: &str, at: Millis, actor: &str) -> Transition {
    Transition {
        id: id.into(),
        at,
        actor: actor.into(),
        from: State::Accepted,
        to: State::Cancelled,
        reason: "test".into(),
    }
}

/// Each deletable state goes after its own days (strictly after the
/// boundary); 0 days or no rule keeps a message forever.
pub async fn each_state_is_deleted_after_its_own_days<S: Store>(store: S) {
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
        .transition(cancel("can", t0, "user:ola"))
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
        .transition(cancel("keep", t0, "gateway"))
        .await
        .unwrap();
    assert!(purge(&store, &[rule(State::Cancelled, 0)], i64::MAX / 2)
        .await
        .is_empty());
    assert!(purge(&store, &[], i64::MAX / 2).await.is_empty());
    assert_eq!(state(&store, "keep").await, State::Cancelled);
}

/// The age counts from the last change (`updated_at`), and at most
/// `limit` messages go per call, each with its state and the rule's days.
pub async fn the_age_counts_from_the_last_change_and_the_limit_is_kept<S: Store>(store: S) {
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
pub async fn a_message_is_never_deleted_while_queued_in_flight_dead_lettered_or_held<S: Store>(
    store: S,
) {
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
    assert_eq!(
        store
            .hold(vec!["held".into()], "stay:2".into(), DAY)
            .await
            .unwrap(),
        1
    );

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
    assert_eq!(
        store
            .release(vec!["held".into()], "stay:1".into())
            .await
            .unwrap(),
        0,
        "released once"
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
/// what is left is a tombstone without patient data or content, found by
/// state but not by patient, name or unit; nothing can bring it back, and
/// its idempotency key is free again.
pub async fn a_deletion_is_in_the_history_and_leaves_a_tombstone<S: Store>(store: S) {
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
    let msg_id = before.summary.meta.msg_id.clone().unwrap();
    assert!(store
        .receipt_target(&msg_id, vec!["5078".into()])
        .await
        .unwrap()
        .is_some());

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
    assert!(rec.summary.meta.name_terms.is_empty());
    assert_eq!(rec.summary.meta.flow_fact, None);
    assert_eq!(rec.findings_json, "[]");
    assert_eq!(store.original("gone").await.unwrap(), None);
    assert_eq!(store.apprec("gone").await.unwrap(), None);
    assert_eq!(store.receipt_body(receipt_id).await.unwrap(), None);
    // No flow fact: a deleted message is in no stay and gives no baseline,
    // and a rebuild cannot put it back.
    assert!(store.flow_facts(0, None).await.unwrap().is_empty());
    assert!(store
        .patient_flow_facts("patient-hash".into(), 10)
        .await
        .unwrap()
        .is_empty());
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
    assert_eq!(
        store
            .receipt_target(&msg_id, vec!["5078".into()])
            .await
            .unwrap(),
        None
    );
    let replay = store.replay(action(d, now, "again")).await;
    assert!(
        matches!(replay, Err(StoreError::NotAllowed { .. })),
        "{replay:?}"
    );
    assert!(store.cancel(action(d, now, "no")).await.is_err());
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
}

/// The access log's own retention: the cut-off moves forward only, at
/// most `limit` entries older than it go per call, and message retention
/// never touches the log.
pub async fn access_log_retention_deletes_only_old_entries<S: Store>(store: S) {
    for at in [10, 20, 30, 40] {
        store
            .log_access(access(at * DAY, "ola", None))
            .await
            .unwrap();
    }
    let all = AccessQuery {
        limit: 100,
        ..AccessQuery::default()
    };
    // In steps of at most one entry, oldest first.
    assert_eq!(store.purge_access_log(25 * DAY, 1).await.unwrap(), 1);
    let left = store.access_log(&all).await.unwrap();
    assert_eq!(left.last().unwrap().access.at, 20 * DAY);
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
    // New entries are recorded after a purge as before.
    store
        .log_access(access(50 * DAY, "kari", None))
        .await
        .unwrap();
    assert_eq!(store.access_log(&all).await.unwrap().len(), 3);
}

/// `space` and `incremental_vacuum` answer on any backend (what the
/// figures mean is the backend's own: see its docs) and a vacuum loses
/// nothing; after a purge a vacuum leaves no more free space than before.
pub async fn space_and_vacuum_answer_and_lose_nothing<S: Store>(store: S) {
    let empty = store.space().await.unwrap();
    assert!(empty.freelist_count <= empty.page_count, "{empty:?}");
    store
        .submit(message("keep", DAY, None, b"kept"))
        .await
        .unwrap();
    for i in 0..20 {
        let mut m = message(&format!("v{i}"), DAY, None, &[b'x'; 4096]);
        m.state = State::Rejected;
        store.submit(m).await.unwrap();
    }
    assert_eq!(
        purge(&store, &[rule(State::Rejected, 1)], 10 * DAY)
            .await
            .len(),
        20
    );
    let freed = store.space().await.unwrap();
    assert!(freed.freelist_count <= freed.page_count, "{freed:?}");
    assert_eq!(freed.page_size, empty.page_size);
    let none = store.incremental_vacuum(0).await.unwrap();
    assert!(none.freelist_count <= freed.freelist_count, "{none:?}");
    let step = store.incremental_vacuum(1_000_000).await.unwrap();
    assert!(step.freelist_count <= freed.freelist_count, "{step:?}");
    assert_eq!(step.incremental, freed.incremental);
    assert_eq!(store.original("keep").await.unwrap().unwrap(), b"kept");
    assert_eq!(message_count(&store).await, 21);
}

async fn message_count<S: Store>(store: &S) -> usize {
    super::count(store, Query::default()).await
}
