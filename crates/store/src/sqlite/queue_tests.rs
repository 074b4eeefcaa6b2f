//! Tests of deliveries, receipts and alerts in the SQLite store:
//!
//! - a routed message is stored `queued` with one delivery per receiver and
//!   the routing in its history;
//! - order per (receiver, patient): a later delivery waits while an earlier
//!   one is queued or in flight; other patients and other receivers do not;
//!   a dead letter releases the ones behind it (one poison message never
//!   blocks a queue);
//! - claim → finish for each result, the message's state following its
//!   deliveries, retries due only at their time, dead letters with alerts;
//! - a stop during an attempt: `recover` queues it again;
//! - asynchronous receipts: stored once (a repeated AppRec id is a
//!   duplicate), a late synchronous finish keeps the answered state, the
//!   callback delivery is queued;
//! - operator actions: replay and cancel only where allowed, with the actor;
//! - overdue AppRecs flagged once with an alert; stats; events append-only.

use super::tests::{message, opts};
use super::*;
use crate::{AttemptResult, DeliveryKind, DeliveryState as D, NewDelivery};

/// A message routed to `receivers` (shared with the gauges' and the
/// operators' query tests).
pub(super) fn routed(id: &str, at: Millis, patient: &str, receivers: &[&str]) -> NewMessage {
    let mut m = message(id, at, Some(&format!("key-{id}")), id.as_bytes());
    m.meta.patient_key = Some(patient.to_string());
    m.route_reason = format!("routed to {}", receivers.join(", "));
    m.deliveries = receivers
        .iter()
        .map(|r| NewDelivery {
            receiver_her: r.to_string(),
            role: "primary".into(),
            reason: format!("to {r}"),
        })
        .collect();
    m
}

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    (dir, store)
}

async fn due_ids(store: &SqliteStore, now: Millis) -> Vec<i64> {
    store
        .due(now, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

async fn ids_of(store: &SqliteStore, message_id: &str) -> Vec<i64> {
    store
        .deliveries_of(message_id)
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d.id)
        .collect()
}

async fn state_of(store: &SqliteStore, id: i64) -> D {
    store.delivery(id).await.unwrap().unwrap().0.state
}

async fn message_state(store: &SqliteStore, id: &str) -> State {
    store.get(id).await.unwrap().unwrap().summary.state
}

fn answered(status: u8, apprec_id: &str) -> NewReceipt {
    NewReceipt {
        status,
        apprec_msg_id: Some(apprec_id.to_string()),
        from_her: Some("5078".into()),
        via: "sync",
        body: format!("<AppRec>{apprec_id}</AppRec>").into_bytes(),
        callback_to: None,
    }
}

/// The id of a message's first delivery.
pub(super) async fn first_delivery(store: &SqliteStore, message_id: &str) -> i64 {
    store.deliveries_of(message_id).await.unwrap()[0].0.id
}

/// Claims a delivery and records an attempt's result.
pub(super) async fn claim_and_finish(
    store: &SqliteStore,
    id: i64,
    at: Millis,
    result: AttemptResult,
) {
    assert_eq!(store.claim(vec![id], at).await.unwrap(), vec![id]);
    finish(store, id, at, result).await;
}

async fn finish(store: &SqliteStore, id: i64, at: Millis, result: AttemptResult) -> D {
    store
        .finish(Attempt {
            delivery_id: id,
            at,
            result,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_routed_message_is_queued_with_its_deliveries() {
    let (_dir, store) = open().await;
    store
        .submit(routed("m1", 1000, "p1", &["5078", "91100"]))
        .await
        .unwrap();
    let rec = store.get("m1").await.unwrap().unwrap();
    assert_eq!(rec.summary.state, State::Queued);
    assert_eq!(rec.history.len(), 2);
    assert_eq!(rec.history[1].from, Some(State::Accepted));
    assert_eq!(rec.history[1].to, State::Queued);
    assert_eq!(rec.history[1].reason, "routed to 5078, 91100");
    let ds = store.deliveries_of("m1").await.unwrap();
    assert_eq!(ds.len(), 2);
    for (d, events) in &ds {
        assert_eq!(d.state, D::Queued);
        assert_eq!(d.kind, DeliveryKind::Message);
        assert_eq!(d.attempts, 0);
        assert_eq!(d.next_attempt_at, Some(1000));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].from, None);
        assert_eq!(events[0].reason, format!("to {}", d.receiver_her));
    }
    // A rejected message is never queued, whatever routing said.
    let mut r = routed("m2", 1000, "p1", &["5078"]);
    r.state = State::Rejected;
    store.submit(r).await.unwrap();
    assert_eq!(message_state(&store, "m2").await, State::Rejected);
    assert!(store.deliveries_of("m2").await.unwrap().is_empty());
}

#[tokio::test]
async fn order_is_kept_per_receiver_and_patient_only() {
    let (_dir, store) = open().await;
    store.submit(routed("a1", 1, "p1", &["R"])).await.unwrap();
    store.submit(routed("a2", 2, "p1", &["R"])).await.unwrap();
    store.submit(routed("b1", 3, "p2", &["R"])).await.unwrap();
    store.submit(routed("c1", 4, "p1", &["S"])).await.unwrap();
    let a1 = ids_of(&store, "a1").await[0];
    let a2 = ids_of(&store, "a2").await[0];
    let b1 = ids_of(&store, "b1").await[0];
    let c1 = ids_of(&store, "c1").await[0];
    // a2 waits behind a1; another patient and another receiver do not.
    assert_eq!(due_ids(&store, 10).await, vec![a1, b1, c1]);
    assert_eq!(store.claim(vec![a1], 10).await.unwrap(), vec![a1]);
    assert_eq!(
        due_ids(&store, 10).await,
        vec![b1, c1],
        "a2 waits while a1 is in flight"
    );
    // a1 fails and is retried later: a2 still waits (order kept).
    finish(
        &store,
        a1,
        11,
        AttemptResult::Retry {
            next_attempt_at: 100,
            error: "HTTP 503".into(),
        },
    )
    .await;
    assert_eq!(
        due_ids(&store, 50).await,
        vec![b1, c1],
        "a1 not due before 100; a2 waits"
    );
    assert_eq!(due_ids(&store, 100).await, vec![b1, c1, a1]);
    // a1 turns out poison: dead-lettered, and a2 goes on.
    store.claim(vec![a1], 100).await.unwrap();
    finish(
        &store,
        a1,
        101,
        AttemptResult::DeadLetter {
            error: "HTTP 400".into(),
        },
    )
    .await;
    assert_eq!(due_ids(&store, 101).await, vec![a2, b1, c1]);
    assert_eq!(message_state(&store, "a1").await, State::DeadLettered);
    let alerts = store.alerts(10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, "dead_letter");
    assert!(alerts[0].text_en.contains("HTTP 400"), "{:?}", alerts[0]);
    // Claiming twice takes it once.
    assert_eq!(store.claim(vec![a2, a2], 102).await.unwrap(), vec![a2]);
    // Not due yet: not claimed.
    store.claim(vec![b1], 102).await.unwrap();
    finish(
        &store,
        b1,
        103,
        AttemptResult::Retry {
            next_attempt_at: 500,
            error: "x".into(),
        },
    )
    .await;
    assert!(store.claim(vec![b1], 104).await.unwrap().is_empty());
    let d = store.delivery(b1).await.unwrap().unwrap().0;
    assert_eq!((d.state, d.attempts), (D::Queued, 1));
    assert_eq!(d.last_error.as_deref(), Some("x"));
}

#[tokio::test]
async fn results_move_the_delivery_and_the_message() {
    let (_dir, store) = open().await;
    store
        .submit(routed("m", 1, "p", &["A", "B", "C"]))
        .await
        .unwrap();
    let ids = ids_of(&store, "m").await;
    assert_eq!(store.claim(ids.clone(), 5).await.unwrap(), ids);
    assert_eq!(message_state(&store, "m").await, State::Delivering);
    assert_eq!(
        finish(
            &store,
            ids[0],
            6,
            AttemptResult::Answered(answered(1, "r1"))
        )
        .await,
        D::Acknowledged
    );
    assert_eq!(
        finish(
            &store,
            ids[1],
            6,
            AttemptResult::Answered(answered(3, "r2"))
        )
        .await,
        D::AcknowledgedWithErrors
    );
    assert_eq!(message_state(&store, "m").await, State::Delivering);
    assert_eq!(
        finish(&store, ids[2], 7, AttemptResult::Delivered).await,
        D::Delivered
    );
    assert_eq!(message_state(&store, "m").await, State::Delivered);
    let receipts = store.receipts_of("m").await.unwrap();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].status, 1);
    assert_eq!(receipts[0].delivery_id, ids[0]);
    assert_eq!(
        store.receipt_body(receipts[1].id).await.unwrap().unwrap(),
        b"<AppRec>r2</AppRec>"
    );
    // The third answers later, asynchronously: the message is acknowledged.
    let out = store
        .record_receipt(ids[2], 9, "system:c".into(), answered(1, "r3"))
        .await
        .unwrap();
    assert!(matches!(
        out,
        ReceiptOutcome::Stored {
            state: D::Acknowledged,
            ..
        }
    ));
    assert_eq!(message_state(&store, "m").await, State::Acknowledged);
    // The same AppRec again changes nothing.
    let again = store
        .record_receipt(ids[2], 10, "system:c".into(), answered(1, "r3"))
        .await
        .unwrap();
    assert!(matches!(again, ReceiptOutcome::Duplicate { .. }));
    assert_eq!(store.receipts_of("m").await.unwrap().len(), 3);
    let history = store.get("m").await.unwrap().unwrap().history;
    let states: Vec<State> = history.iter().map(|h| h.to).collect();
    assert_eq!(
        states,
        vec![
            State::Accepted,
            State::Queued,
            State::Delivering,
            State::Delivered,
            State::Acknowledged
        ]
    );
}

#[tokio::test]
async fn an_async_receipt_during_the_attempt_wins() {
    let (_dir, store) = open().await;
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    let id = ids_of(&store, "m").await[0];
    store.claim(vec![id], 2).await.unwrap();
    // The receiver answered 202 and posted its AppRec before the attempt
    // was recorded.
    store
        .record_receipt(id, 3, "system:a".into(), answered(2, "r"))
        .await
        .unwrap();
    assert_eq!(
        finish(&store, id, 4, AttemptResult::Delivered).await,
        D::RejectedByReceiver
    );
    assert_eq!(message_state(&store, "m").await, State::RejectedByReceiver);
    let events = store.delivery(id).await.unwrap().unwrap().1;
    assert_eq!(events.last().unwrap().to, D::RejectedByReceiver);
    assert!(events
        .last()
        .unwrap()
        .reason
        .contains("after the state had changed"));
}

#[tokio::test]
async fn receipts_are_queued_to_the_senders_callback() {
    let (_dir, store) = open().await;
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    let id = ids_of(&store, "m").await[0];
    store.claim(vec![id], 2).await.unwrap();
    let mut r = answered(1, "r");
    r.callback_to = Some("8100001".into());
    finish(&store, id, 3, AttemptResult::Answered(r)).await;
    let ds = store.deliveries_of("m").await.unwrap();
    assert_eq!(ds.len(), 2);
    let cb = &ds[1].0;
    assert_eq!(cb.kind, DeliveryKind::Receipt);
    assert_eq!(cb.receiver_her, "8100001");
    assert_eq!(cb.role, "callback");
    let due = store.due(3, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, DeliveryKind::Receipt);
    assert_eq!(due[0].receipt_id, cb.receipt_id);
    store.claim(vec![cb.id], 4).await.unwrap();
    assert_eq!(
        finish(&store, cb.id, 5, AttemptResult::Delivered).await,
        D::Delivered
    );
    // The receipt delivery does not count for the message's state.
    assert_eq!(message_state(&store, "m").await, State::Acknowledged);
    // A delivered receipt is never flagged as waiting for an AppRec.
    assert!(store.flag_overdue(10_000, 9_000).await.unwrap().is_empty());
}

#[tokio::test]
async fn recover_queues_what_was_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
    store
        .submit(routed("m", 1, "p", &["A", "B"]))
        .await
        .unwrap();
    let ids = ids_of(&store, "m").await;
    store.claim(ids.clone(), 2).await.unwrap();
    finish(&store, ids[1], 3, AttemptResult::Answered(answered(1, "r"))).await;
    drop(store); // a crash: no close
    let store = SqliteStore::open(dir.path(), opts()).unwrap();
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
async fn operators_replay_and_cancel_where_allowed() {
    let (_dir, store) = open().await;
    store
        .submit(routed("m", 1, "p", &["A", "B"]))
        .await
        .unwrap();
    let ids = ids_of(&store, "m").await;
    let act = |id: i64, at: Millis| OperatorAction {
        delivery_id: id,
        at,
        actor: "user:kari".into(),
        reason: "receiver fixed".into(),
    };
    // Queued: cannot be replayed, can be cancelled.
    assert!(matches!(
        store.replay(act(ids[0], 2)).await,
        Err(StoreError::NotAllowed { .. })
    ));
    assert_eq!(store.cancel(act(ids[0], 2)).await.unwrap(), D::Cancelled);
    assert!(matches!(
        store.cancel(act(ids[0], 3)).await,
        Err(StoreError::NotAllowed { .. })
    ));
    // Dead letter → replay → queued with a fresh budget.
    store.claim(vec![ids[1]], 3).await.unwrap();
    finish(
        &store,
        ids[1],
        4,
        AttemptResult::DeadLetter {
            error: "HTTP 404".into(),
        },
    )
    .await;
    assert_eq!(store.replay(act(ids[1], 5)).await.unwrap(), D::Queued);
    let (d, events) = store.delivery(ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.attempts, d.next_attempt_at),
        (D::Queued, 0, Some(5))
    );
    let last = events.last().unwrap();
    assert_eq!(last.actor, "user:kari");
    assert!(last.reason.contains("receiver fixed"));
    // Answered: neither.
    store.claim(vec![ids[1]], 6).await.unwrap();
    finish(&store, ids[1], 7, AttemptResult::Answered(answered(1, "r"))).await;
    assert!(store.replay(act(ids[1], 8)).await.is_err());
    assert!(store.cancel(act(ids[1], 8)).await.is_err());
    assert!(matches!(
        store.cancel(act(9999, 8)).await,
        Err(StoreError::NoDelivery(9999))
    ));
    // A cancelled delivery can be replayed.
    assert_eq!(store.replay(act(ids[0], 9)).await.unwrap(), D::Queued);
    // Lists by state.
    let q = DeliveryQuery {
        state: Some(D::Acknowledged),
        ..Default::default()
    };
    let listed = store.list_deliveries(&q).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
}

#[tokio::test]
async fn overdue_apprecs_are_flagged_once() {
    let (_dir, store) = open().await;
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    let id = ids_of(&store, "m").await[0];
    store.claim(vec![id], 2).await.unwrap();
    finish(&store, id, 3, AttemptResult::Delivered).await;
    assert!(
        store.flag_overdue(100, 3).await.unwrap().is_empty(),
        "not before its time"
    );
    assert_eq!(store.flag_overdue(100, 4).await.unwrap(), vec![id]);
    assert!(
        store.flag_overdue(200, 150).await.unwrap().is_empty(),
        "once"
    );
    let d = store.delivery(id).await.unwrap().unwrap().0;
    assert!(d.apprec_overdue);
    assert_eq!(d.state, D::Delivered);
    let alerts = store.alerts(10).await.unwrap();
    assert_eq!(alerts[0].kind, "apprec_overdue");
    let q = DeliveryQuery {
        overdue_only: true,
        ..Default::default()
    };
    assert_eq!(store.list_deliveries(&q).await.unwrap().len(), 1);
}

#[tokio::test]
async fn stats_count_states_and_latencies() {
    let (_dir, store) = open().await;
    for (i, lat) in [5i64, 7, 9, 11].into_iter().enumerate() {
        let id = format!("m{i}");
        store.submit(routed(&id, 1000, &id, &["A"])).await.unwrap();
        let d = ids_of(&store, &id).await[0];
        store.claim(vec![d], 1000).await.unwrap();
        finish(
            &store,
            d,
            1000 + lat,
            AttemptResult::Answered(answered(1, &id)),
        )
        .await;
    }
    store.submit(routed("q", 1000, "q", &["A"])).await.unwrap();
    let s = store.delivery_stats(0).await.unwrap();
    assert_eq!(s.answered, 4);
    assert_eq!(s.latency_ms, Some([9, 11, 11, 11]));
    assert!(s.by_state.contains(&(D::Acknowledged, 4)));
    assert!(s.by_state.contains(&(D::Queued, 1)));
    assert_eq!(store.delivery_stats(5000).await.unwrap().latency_ms, None);
}

#[tokio::test]
async fn delivery_events_are_append_only_in_the_database() {
    let (dir, store) = open().await;
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

#[tokio::test]
async fn a_replayed_delivery_waits_its_turn_behind_the_one_at_the_head() {
    let (_dir, store) = open().await;
    for (i, id) in ["a1", "a2", "a3"].into_iter().enumerate() {
        store
            .submit(routed(id, i as Millis, "p", &["R"]))
            .await
            .unwrap();
    }
    let a1 = ids_of(&store, "a1").await[0];
    let a2 = ids_of(&store, "a2").await[0];
    let a3 = ids_of(&store, "a3").await[0];
    assert_eq!(due_ids(&store, 10).await, vec![a1]);
    store.claim(vec![a1], 10).await.unwrap();
    let dead = AttemptResult::DeadLetter {
        error: "HTTP 400".into(),
    };
    finish(&store, a1, 11, dead).await;
    assert_eq!(
        due_ids(&store, 12).await,
        vec![a2],
        "the dead letter released a2"
    );
    store.claim(vec![a2], 12).await.unwrap();
    // a1 replayed while a2 is in flight: it waits, and so does a3.
    let act = OperatorAction {
        delivery_id: a1,
        at: 13,
        actor: "user:kari".into(),
        reason: "fixed".into(),
    };
    assert_eq!(store.replay(act).await.unwrap(), D::Queued);
    assert!(due_ids(&store, 14).await.is_empty());
    // a2 answered: the lowest waiting id goes next (a1), then a3.
    finish(&store, a2, 15, AttemptResult::Answered(answered(1, "r2"))).await;
    assert_eq!(due_ids(&store, 16).await, vec![a1]);
    store.claim(vec![a1], 16).await.unwrap();
    finish(&store, a1, 17, AttemptResult::Answered(answered(1, "r1"))).await;
    assert_eq!(due_ids(&store, 18).await, vec![a3]);
    // Cancelling the one at the head releases the next; cancelling one
    // that waits releases nothing.
    store.submit(routed("a4", 19, "p", &["R"])).await.unwrap();
    let a4 = ids_of(&store, "a4").await[0];
    let cancel = |id: i64| OperatorAction {
        delivery_id: id,
        at: 20,
        actor: "user:kari".into(),
        reason: "sent another way".into(),
    };
    store.cancel(cancel(a4)).await.unwrap();
    assert_eq!(due_ids(&store, 21).await, vec![a3]);
    store.cancel(cancel(a3)).await.unwrap();
    assert!(due_ids(&store, 22).await.is_empty());
    assert_eq!(store.next_due(0).await.unwrap(), None);
}
