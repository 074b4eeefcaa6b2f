//! Deliveries, receipts, operator actions, alerts and the queue figures.

use super::{
    action, claim_and_finish, due_ids, finish, first_delivery, ids_of, message_state, receipt,
    routed, state_of,
};
use crate::{
    AttemptResult, DeliveryKind, DeliveryQuery, DeliveryState as D, DestinationStats, Millis,
    ReceiptOutcome, State, Store, StoreError,
};

/// A routed message is stored `queued` with one delivery per receiver and
/// the routing in its history; a rejected one is never queued.
pub async fn a_routed_message_is_queued_with_its_deliveries<S: Store>(store: S) {
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
        assert_eq!(d.message_id, "m1");
        assert_eq!(d.role, "primary");
        assert_eq!(d.attempts, 0);
        assert_eq!(d.next_attempt_at, Some(1000));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].from, None);
        assert_eq!(events[0].to, D::Queued);
        assert_eq!(events[0].reason, format!("to {}", d.receiver_her));
    }
    let receivers: Vec<&str> = ds.iter().map(|(d, _)| d.receiver_her.as_str()).collect();
    assert_eq!(receivers, ["5078", "91100"]);
    assert!(store.deliveries_of("nope").await.unwrap().is_empty());
    assert_eq!(store.delivery(i64::MAX).await.unwrap(), None);
    // A rejected message is never queued, whatever routing said.
    let mut r = routed("m2", 1000, "p1", &["5078"]);
    r.state = State::Rejected;
    store.submit(r).await.unwrap();
    assert_eq!(message_state(&store, "m2").await, State::Rejected);
    assert!(store.deliveries_of("m2").await.unwrap().is_empty());
}

/// Order per (receiver, patient): a later delivery waits while an earlier
/// one is queued or in flight; other patients and receivers do not; a dead
/// letter releases the ones behind it; claiming twice takes once; a
/// delivery not due is not claimed.
pub async fn order_is_kept_per_receiver_and_patient_only<S: Store>(store: S) {
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
    let due = store.due(10, 100).await.unwrap();
    assert_eq!(due[0].message_id, "a1");
    assert_eq!(due[0].kind, DeliveryKind::Message);
    assert_eq!(due[0].receiver_her, "R");
    assert_eq!(due[0].attempts, 0);
    assert_eq!(due[0].window_start, 1);
    assert_eq!(due[0].msg_id.as_deref(), Some("msg-a1"));
    assert_eq!(due[0].sender_her.as_deref(), Some("8100001"));
    assert_eq!(due[0].msg_type.as_deref(), Some("INNLEGGELSESRAPPORT"));
    assert_eq!(store.due(10, 2).await.unwrap().len(), 2, "at most limit");
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
    assert_eq!(d.next_attempt_at, Some(500));
}

/// Each attempt result moves the delivery, and the message's state follows
/// its deliveries; receipts are stored with their bodies; an asynchronous
/// AppRec acknowledges; the same AppRec again is a duplicate.
pub async fn results_move_the_delivery_and_the_message<S: Store>(store: S) {
    store
        .submit(routed("m", 1, "p", &["A", "B", "C"]))
        .await
        .unwrap();
    let ids = ids_of(&store, "m").await;
    assert_eq!(store.claim(ids.clone(), 5).await.unwrap(), ids);
    assert_eq!(message_state(&store, "m").await, State::Delivering);
    assert_eq!(state_of(&store, ids[0]).await, D::InFlight);
    assert_eq!(
        finish(&store, ids[0], 6, AttemptResult::Answered(receipt(1, "r1"))).await,
        D::Acknowledged
    );
    assert_eq!(
        finish(&store, ids[1], 6, AttemptResult::Answered(receipt(3, "r2"))).await,
        D::AcknowledgedWithErrors
    );
    assert_eq!(message_state(&store, "m").await, State::Delivering);
    assert_eq!(
        finish(&store, ids[2], 7, AttemptResult::Delivered).await,
        D::Delivered
    );
    assert_eq!(message_state(&store, "m").await, State::Delivered);
    let d = store.delivery(ids[2]).await.unwrap().unwrap().0;
    assert_eq!(
        (d.attempts, d.delivered_at, d.answered_at),
        (1, Some(7), None)
    );
    let d = store.delivery(ids[0]).await.unwrap().unwrap().0;
    assert_eq!(d.answered_at, Some(6));
    let receipts = store.receipts_of("m").await.unwrap();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].status, 1);
    assert_eq!(receipts[0].delivery_id, ids[0]);
    assert_eq!(receipts[0].message_id, "m");
    assert_eq!(receipts[0].apprec_msg_id.as_deref(), Some("r1"));
    assert_eq!(receipts[0].from_her.as_deref(), Some("5078"));
    assert_eq!(receipts[0].via, "sync");
    assert_eq!(
        store.receipt_body(receipts[1].id).await.unwrap().unwrap(),
        b"<AppRec>r2</AppRec>"
    );
    assert_eq!(store.receipt_body(i64::MAX).await.unwrap(), None);
    // The third answers later, asynchronously: the message is acknowledged.
    let mut late = receipt(1, "r3");
    late.via = "async";
    let out = store
        .record_receipt(ids[2], 9, "system:c".into(), late.clone())
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
        .record_receipt(ids[2], 10, "system:c".into(), late)
        .await
        .unwrap();
    let ReceiptOutcome::Stored { receipt_id, .. } = out else {
        unreachable!()
    };
    assert_eq!(again, ReceiptOutcome::Duplicate { receipt_id });
    let receipts = store.receipts_of("m").await.unwrap();
    assert_eq!(receipts.len(), 3);
    assert_eq!(
        (receipts[2].via.as_str(), receipts[2].received_at),
        ("async", 9)
    );
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

/// An asynchronous AppRec stored while the attempt was under way wins
/// over the attempt's late `Delivered`, which is still an event.
pub async fn an_async_receipt_during_the_attempt_wins<S: Store>(store: S) {
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    let id = ids_of(&store, "m").await[0];
    store.claim(vec![id], 2).await.unwrap();
    // The receiver answered 202 and posted its AppRec before the attempt
    // was recorded.
    store
        .record_receipt(id, 3, "system:a".into(), receipt(2, "r"))
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

/// An AppRec for a sender with a callback endpoint queues a receipt
/// delivery to it, which does not count for the message's state and is
/// never flagged as waiting for an AppRec.
pub async fn receipts_are_queued_to_the_senders_callback<S: Store>(store: S) {
    store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
    let id = ids_of(&store, "m").await[0];
    store.claim(vec![id], 2).await.unwrap();
    let mut r = receipt(1, "r");
    r.callback_to = Some("8100001".into());
    finish(&store, id, 3, AttemptResult::Answered(r)).await;
    let ds = store.deliveries_of("m").await.unwrap();
    assert_eq!(ds.len(), 2);
    let cb = &ds[1].0;
    assert_eq!(cb.kind, DeliveryKind::Receipt);
    assert_eq!(cb.receiver_her, "8100001");
    assert_eq!(cb.role, "callback");
    let receipts = store.receipts_of("m").await.unwrap();
    assert_eq!(cb.receipt_id, Some(receipts[0].id));
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

/// At a start, `recover` queues again every delivery in flight (due at
/// once), leaves answered ones alone, and says why in the event.
pub async fn recover_queues_what_was_in_flight<S: Store>(store: S) {
    store
        .submit(routed("m", 1, "p", &["A", "B"]))
        .await
        .unwrap();
    let ids = ids_of(&store, "m").await;
    store.claim(ids.clone(), 2).await.unwrap();
    finish(&store, ids[1], 3, AttemptResult::Answered(receipt(1, "r"))).await;
    // The attempt on ids[0] was cut off (a stop or a crash).
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
    assert_eq!(events.last().unwrap().from, Some(D::InFlight));
    assert_eq!(store.recover(60).await.unwrap(), 0);
}

/// Replay only a dead letter, a cancelled or a delivered one; cancel only
/// what is not answered; each with the person in the event; unknown
/// deliveries are `NoDelivery`.
pub async fn operators_replay_and_cancel_where_allowed<S: Store>(store: S) {
    store
        .submit(routed("m", 1, "p", &["A", "B"]))
        .await
        .unwrap();
    let ids = ids_of(&store, "m").await;
    let act = |id: i64, at: Millis| action(id, at, "receiver fixed");
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
    // The age limit counts from the replay.
    let due = store.due(5, 10).await.unwrap();
    assert_eq!((due[0].id, due[0].window_start), (ids[1], 5));
    // Answered: neither.
    store.claim(vec![ids[1]], 6).await.unwrap();
    finish(&store, ids[1], 7, AttemptResult::Answered(receipt(1, "r"))).await;
    assert!(store.replay(act(ids[1], 8)).await.is_err());
    assert!(store.cancel(act(ids[1], 8)).await.is_err());
    assert!(matches!(
        store.cancel(act(9999, 8)).await,
        Err(StoreError::NoDelivery(9999))
    ));
    assert!(matches!(
        store.replay(act(9999, 8)).await,
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

/// A delivered message delivery without an AppRec since before the given
/// time is flagged once, with an event and an alert.
pub async fn overdue_apprecs_are_flagged_once<S: Store>(store: S) {
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
    let (d, events) = store.delivery(id).await.unwrap().unwrap();
    assert!(d.apprec_overdue);
    assert_eq!(d.state, D::Delivered);
    assert_eq!(events.last().unwrap().at, 100);
    let alerts = store.alerts(10).await.unwrap();
    assert_eq!(alerts[0].kind, "apprec_overdue");
    assert_eq!(alerts[0].at, 100);
    let q = DeliveryQuery {
        overdue_only: true,
        ..Default::default()
    };
    assert_eq!(store.list_deliveries(&q).await.unwrap().len(), 1);
}

/// Counts per state, and arrival-to-AppRec latencies (p50, p90, p99, max)
/// of deliveries answered since a time.
pub async fn stats_count_states_and_latencies<S: Store>(store: S) {
    for (i, lat) in [5i64, 7, 9, 11].into_iter().enumerate() {
        let id = format!("m{i}");
        store.submit(routed(&id, 1000, &id, &["A"])).await.unwrap();
        let d = ids_of(&store, &id).await[0];
        store.claim(vec![d], 1000).await.unwrap();
        finish(
            &store,
            d,
            1000 + lat,
            AttemptResult::Answered(receipt(1, &id)),
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

/// A replayed delivery waits behind the one now at the head of its queue;
/// cancelling the head releases the next, cancelling a waiting one
/// releases nothing.
pub async fn a_replayed_delivery_waits_its_turn_behind_the_one_at_the_head<S: Store>(store: S) {
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
    assert_eq!(
        store.replay(action(a1, 13, "fixed")).await.unwrap(),
        D::Queued
    );
    assert!(due_ids(&store, 14).await.is_empty());
    // a2 answered: the lowest waiting id goes next (a1), then a3.
    finish(&store, a2, 15, AttemptResult::Answered(receipt(1, "r2"))).await;
    assert_eq!(due_ids(&store, 16).await, vec![a1]);
    store.claim(vec![a1], 16).await.unwrap();
    finish(&store, a1, 17, AttemptResult::Answered(receipt(1, "r1"))).await;
    assert_eq!(due_ids(&store, 18).await, vec![a3]);
    // Cancelling the one at the head releases the next; cancelling one
    // that waits releases nothing.
    store.submit(routed("a4", 19, "p", &["R"])).await.unwrap();
    let a4 = ids_of(&store, "a4").await[0];
    store
        .cancel(action(a4, 20, "sent another way"))
        .await
        .unwrap();
    assert_eq!(due_ids(&store, 21).await, vec![a3]);
    store
        .cancel(action(a3, 20, "sent another way"))
        .await
        .unwrap();
    assert!(due_ids(&store, 22).await.is_empty());
    assert_eq!(store.next_due(0).await.unwrap(), None);
}

/// `next_due`: the earliest time after `after` at which a queued delivery
/// falls due; one waiting behind another is not counted until released.
pub async fn next_due_is_the_next_time_a_waiting_delivery_falls_due<S: Store>(store: S) {
    assert_eq!(store.next_due(0).await.unwrap(), None);
    store.submit(routed("a1", 100, "p", &["R"])).await.unwrap();
    store.submit(routed("a2", 200, "p", &["R"])).await.unwrap();
    store.submit(routed("b1", 300, "q", &["R"])).await.unwrap();
    let a1 = first_delivery(&store, "a1").await;
    assert_eq!(store.next_due(0).await.unwrap(), Some(100));
    assert_eq!(
        store.next_due(100).await.unwrap(),
        Some(300),
        "a2 waits behind a1"
    );
    assert_eq!(store.next_due(300).await.unwrap(), None);
    // a1 retried at 1000: a2 still waits.
    store.claim(vec![a1], 150).await.unwrap();
    assert_eq!(store.next_due(0).await.unwrap(), Some(300), "in flight");
    let retry = AttemptResult::Retry {
        next_attempt_at: 1000,
        error: "HTTP 503".into(),
    };
    finish(&store, a1, 160, retry).await;
    assert_eq!(store.next_due(300).await.unwrap(), Some(1000));
    // a1 delivered: a2 is released, due since its creation.
    claim_and_finish(&store, a1, 1000, AttemptResult::Delivered).await;
    assert_eq!(store.next_due(150).await.unwrap(), Some(200));
    assert_eq!(store.next_due(1000).await.unwrap(), None);
}

/// `receipt_target`: the newest message delivery whose message has the
/// MsgId and whose receiver is one of the HER-ids given.
pub async fn receipt_target_is_the_newest_delivery_to_one_of_the_receivers<S: Store>(store: S) {
    store
        .submit(routed("m1", 1, "p", &["A", "B"]))
        .await
        .unwrap();
    // The same MsgId again (another message of the gateway's) to A.
    let mut m2 = routed("m2", 2, "p", &["A"]);
    m2.meta.msg_id = Some("msg-m1".into());
    m2.system = "other".into();
    store.submit(m2).await.unwrap();
    let m1 = ids_of(&store, "m1").await;
    let m2 = ids_of(&store, "m2").await;

    let t = store
        .receipt_target("msg-m1", vec!["A".into()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.delivery_id, t.message_id.as_str()), (m2[0], "m2"));
    assert_eq!(t.state, D::Queued);
    assert_eq!(t.sender_her.as_deref(), Some("8100001"));
    assert_eq!(t.system, "other");
    let t = store
        .receipt_target("msg-m1", vec!["X".into(), "B".into()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.delivery_id, t.message_id.as_str()), (m1[1], "m1"));
    assert_eq!(t.system, "eprlege");
    assert_eq!(store.receipt_target("msg-m1", vec![]).await.unwrap(), None);
    let none = store.receipt_target("nope", vec!["A".into()]).await;
    assert_eq!(none.unwrap(), None);
    // A receipt delivery (to the sender's callback) is never a target.
    store.claim(vec![m1[0]], 3).await.unwrap();
    let mut r = receipt(1, "r");
    r.callback_to = Some("8100001".into());
    finish(&store, m1[0], 4, AttemptResult::Answered(r)).await;
    assert_eq!(ids_of(&store, "m1").await.len(), 3);
    let cb = store.receipt_target("msg-m1", vec!["8100001".into()]).await;
    assert_eq!(cb.unwrap(), None);
    // Its state is the delivery's.
    let t = store
        .receipt_target("msg-m1", vec!["B".into()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.state, D::Queued);
}

/// Alerts raised are listed newest first (in the order raised), at most
/// `limit`, with their fields as given.
pub async fn alerts_are_listed_newest_first_up_to_a_limit<S: Store>(store: S) {
    assert!(store.alerts(10).await.unwrap().is_empty());
    for (i, kind) in ["registry", "queue_age", "dead_letter"]
        .into_iter()
        .enumerate()
    {
        let at = 10 * (i as Millis + 1);
        store
            .alert(
                kind,
                &format!("subject-{i}"),
                &format!("nb {i}"),
                &format!("en {i}"),
                at,
            )
            .await
            .unwrap();
    }
    let all = store.alerts(10).await.unwrap();
    let kinds: Vec<&str> = all.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["dead_letter", "queue_age", "registry"]);
    let first = &all[2];
    assert_eq!(first.at, 10);
    assert_eq!(first.subject, "subject-0");
    assert_eq!(first.text_nb, "nb 0");
    assert_eq!(first.text_en, "en 0");
    let mut ids: Vec<i64> = all.iter().map(|a| a.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each alert has its own id");
    let two = store.alerts(2).await.unwrap();
    assert_eq!(two, all[..2]);
    // Newest means raised last, whatever time it carries.
    store
        .alert("registry", "late", "nb", "en", 5)
        .await
        .unwrap();
    let newest = store.alerts(1).await.unwrap();
    assert_eq!((newest.len(), newest[0].subject.as_str()), (1, "late"));
}

/// `list_deliveries`: newest first (descending id), by state, receiver,
/// message and overdue flag, pages by `before` and `limit`, with the
/// message's type and sender.
pub async fn deliveries_are_listed_newest_first_by_filter_and_page<S: Store>(store: S) {
    assert!(store
        .list_deliveries(&DeliveryQuery::default())
        .await
        .unwrap()
        .is_empty());
    store
        .submit(routed("m1", 1, "p1", &["A", "B"]))
        .await
        .unwrap();
    store.submit(routed("m2", 2, "p2", &["A"])).await.unwrap();
    store.submit(routed("m3", 3, "p3", &["C"])).await.unwrap();
    let m1 = ids_of(&store, "m1").await;
    let (d1, d2) = (m1[0], m1[1]);
    let d3 = first_delivery(&store, "m2").await;
    let d4 = first_delivery(&store, "m3").await;
    assert!(
        d1 < d2 && d2 < d3 && d3 < d4,
        "ids grow: {d1} {d2} {d3} {d4}"
    );
    let ids = |v: Vec<crate::Delivery>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let list = |q: DeliveryQuery| {
        let store = &store;
        async move { ids(store.list_deliveries(&q).await.unwrap()) }
    };
    assert_eq!(list(DeliveryQuery::default()).await, [d4, d3, d2, d1]);
    let by_receiver = DeliveryQuery {
        receiver_her: Some("A".into()),
        ..DeliveryQuery::default()
    };
    assert_eq!(list(by_receiver).await, [d3, d1]);
    let by_message = DeliveryQuery {
        message_id: Some("m1".into()),
        ..DeliveryQuery::default()
    };
    assert_eq!(list(by_message).await, [d2, d1]);
    store.claim(vec![d4], 10).await.unwrap();
    let in_flight = DeliveryQuery {
        state: Some(D::InFlight),
        ..DeliveryQuery::default()
    };
    assert_eq!(list(in_flight).await, [d4]);
    let queued_to_a = DeliveryQuery {
        state: Some(D::Queued),
        receiver_her: Some("A".into()),
        message_id: Some("m2".into()),
        ..DeliveryQuery::default()
    };
    assert_eq!(list(queued_to_a).await, [d3]);
    let overdue = DeliveryQuery {
        overdue_only: true,
        ..DeliveryQuery::default()
    };
    assert!(list(overdue).await.is_empty());
    // Pages.
    let page = |before: Option<i64>| DeliveryQuery {
        limit: 2,
        before,
        ..DeliveryQuery::default()
    };
    assert_eq!(list(page(None)).await, [d4, d3]);
    assert_eq!(list(page(Some(d3))).await, [d2, d1]);
    assert!(list(page(Some(d1))).await.is_empty());
    // The row.
    let all = store
        .list_deliveries(&DeliveryQuery::default())
        .await
        .unwrap();
    let d = &all[0];
    assert_eq!(d.message_id, "m3");
    assert_eq!(d.receiver_her, "C");
    assert_eq!(d.kind, DeliveryKind::Message);
    assert_eq!(d.state, D::InFlight);
    assert_eq!(d.attempts, 1);
    assert_eq!(d.created_at, 3);
    assert_eq!(d.msg_type.as_deref(), Some("INNLEGGELSESRAPPORT"));
    assert_eq!(d.sender_her.as_deref(), Some("8100001"));
    assert_eq!(store.delivery(d4).await.unwrap().unwrap().0, *d);
}

/// Queue gauges: one row per destination with something open (queued, in
/// flight, dead letter, AppRec overdue), by HER-id. (The size on disk is
/// the backend's own and not checked here.)
pub async fn gauges_count_each_destinations_open_deliveries<S: Store>(store: S) {
    assert!(store.queue_gauges().await.unwrap().receivers.is_empty());

    // A: two queued for one patient (the second held behind the first).
    store
        .submit(routed("a1", 1000, "p1", &["A"]))
        .await
        .unwrap();
    store
        .submit(routed("a2", 2000, "p1", &["A"]))
        .await
        .unwrap();
    // B: one in flight, one dead letter.
    store
        .submit(routed("b1", 3000, "p2", &["B"]))
        .await
        .unwrap();
    store
        .claim(vec![first_delivery(&store, "b1").await], 3000)
        .await
        .unwrap();
    store
        .submit(routed("b2", 3000, "p3", &["B"]))
        .await
        .unwrap();
    let b2 = first_delivery(&store, "b2").await;
    let dead = AttemptResult::DeadLetter {
        error: "400".into(),
    };
    claim_and_finish(&store, b2, 3100, dead).await;
    // C: delivered, its AppRec overdue; D: delivered (not open).
    store
        .submit(routed("c1", 4000, "p4", &["C"]))
        .await
        .unwrap();
    let c1 = first_delivery(&store, "c1").await;
    claim_and_finish(&store, c1, 4100, AttemptResult::Delivered).await;
    assert_eq!(store.flag_overdue(9000, 5000).await.unwrap(), vec![c1]);
    store
        .submit(routed("d1", 4000, "p5", &["D"]))
        .await
        .unwrap();
    let d1 = first_delivery(&store, "d1").await;
    claim_and_finish(&store, d1, 4100, AttemptResult::Delivered).await;

    let g = store.queue_gauges().await.unwrap();
    let hers: Vec<&str> = g
        .receivers
        .iter()
        .map(|r| r.receiver_her.as_str())
        .collect();
    assert_eq!(hers, ["A", "B", "C"], "D has nothing open: {g:?}");
    let (a, b, c) = (&g.receivers[0], &g.receivers[1], &g.receivers[2]);
    assert_eq!(
        (a.queued, a.oldest_queued_at, a.in_flight),
        (2, Some(1000), 0)
    );
    assert_eq!(a.oldest_in_flight_at, None);
    assert_eq!((b.queued, b.in_flight, b.dead_letters), (0, 1, 1));
    assert_eq!(b.oldest_queued_at, None);
    assert_eq!(b.oldest_in_flight_at, Some(3000));
    assert_eq!((c.queued, c.apprecs_overdue), (0, 1));
}

fn of<'a>(all: &'a [DestinationStats], her: &str) -> &'a DestinationStats {
    all.iter()
        .find(|d| d.receiver_her == her)
        .unwrap_or_else(|| panic!("no row for {her}: {all:#?}"))
}

/// Destination stats: one row per destination ever delivered to, with its
/// queue, dead letters, overdue receipts, what was delivered and what
/// failed in the hour before `now`, and its newest error.
pub async fn each_destination_has_its_queue_failures_and_overdue_receipts<S: Store>(store: S) {
    const H: Millis = crate::ops::RECENT_MS;
    assert!(store.destination_stats(10 * H).await.unwrap().is_empty());

    let t0 = 10 * H;
    // A: two waiting (one a retry with an error), one taken long ago
    // and overdue, one taken lately.
    store.submit(routed("a1", t0, "p1", &["A"])).await.unwrap();
    store
        .submit(routed("a2", t0 + 5, "p2", &["A"]))
        .await
        .unwrap();
    store
        .submit(routed("a3", t0 - 3 * H, "p3", &["A"]))
        .await
        .unwrap();
    store.submit(routed("a4", t0, "p4", &["A"])).await.unwrap();
    let a1 = first_delivery(&store, "a1").await;
    let a3 = first_delivery(&store, "a3").await;
    let a4 = first_delivery(&store, "a4").await;
    claim_and_finish(
        &store,
        a1,
        t0 + 10,
        AttemptResult::Retry {
            next_attempt_at: t0 + 1000,
            error: "HTTP 503".into(),
        },
    )
    .await;
    claim_and_finish(&store, a3, t0 - 2 * H, AttemptResult::Delivered).await;
    store.flag_overdue(t0, t0 - H).await.unwrap();
    claim_and_finish(&store, a4, t0 + 20, AttemptResult::Delivered).await;
    // B: one dead letter (refused), one in flight, nothing waiting.
    store.submit(routed("b1", t0, "p1", &["B"])).await.unwrap();
    store.submit(routed("b2", t0, "p2", &["B"])).await.unwrap();
    let b1 = first_delivery(&store, "b1").await;
    let b2 = first_delivery(&store, "b2").await;
    claim_and_finish(
        &store,
        b1,
        t0 + 30,
        AttemptResult::DeadLetter {
            error: "HTTP 400".into(),
        },
    )
    .await;
    store.claim(vec![b2], t0 + 40).await.unwrap();
    // C: answered long ago; only its name remains on the dashboard.
    store
        .submit(routed("c1", t0 - 5 * H, "p1", &["C"]))
        .await
        .unwrap();
    let c1 = first_delivery(&store, "c1").await;
    let mut ok = receipt(1, "r");
    ok.from_her = Some("C".into());
    claim_and_finish(&store, c1, t0 - 5 * H, AttemptResult::Answered(ok)).await;

    let now = t0 + 100;
    let all = store.destination_stats(now).await.unwrap();
    let hers: Vec<&str> = all.iter().map(|d| d.receiver_her.as_str()).collect();
    assert_eq!(hers, ["A", "B", "C"]);

    let a = of(&all, "A");
    assert_eq!((a.queued, a.in_flight, a.dead_letters), (2, 0, 0), "{a:?}");
    assert_eq!(a.oldest_queued_at, Some(t0), "{a:?}");
    assert_eq!(a.overdue_receipts, 1, "{a:?}");
    assert_eq!(
        a.delivered_recent, 1,
        "a3 was taken over an hour ago: {a:?}"
    );
    assert_eq!(a.failed_recent, 1, "{a:?}");
    assert_eq!(a.last_error, Some((t0 + 10, "HTTP 503".into())));

    let b = of(&all, "B");
    assert_eq!((b.queued, b.in_flight, b.dead_letters), (0, 1, 1), "{b:?}");
    assert_eq!(b.oldest_queued_at, None);
    assert_eq!(b.failed_recent, 1, "{b:?}");
    assert!(
        b.last_error
            .as_ref()
            .is_some_and(|(at, e)| *at == t0 + 30 && e.contains("HTTP 400")),
        "{b:?}"
    );

    let c = of(&all, "C");
    assert_eq!(
        c,
        &DestinationStats {
            receiver_her: "C".into(),
            ..DestinationStats::default()
        }
    );

    // An hour later the failures and deliveries are no longer recent.
    // A replay puts the dead letter back in the queue, waiting since the
    // replay, with its last error until the next attempt.
    let later = now + H;
    store.replay(action(b1, later, "fixed")).await.unwrap();
    let all = store.destination_stats(later).await.unwrap();
    let a = of(&all, "A");
    assert_eq!((a.delivered_recent, a.failed_recent), (0, 0), "{a:?}");
    let b = of(&all, "B");
    assert_eq!((b.queued, b.dead_letters), (1, 0), "{b:?}");
    assert_eq!(b.oldest_queued_at, Some(later), "{b:?}");
    assert!(b
        .last_error
        .as_ref()
        .is_some_and(|(_, e)| e.contains("HTTP 400")));
    store.close().await.unwrap();
}
