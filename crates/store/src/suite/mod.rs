//! The backend-agnostic contract of [`Store`]: what every backend must do,
//! as generic async test functions, and [`store_suite!`](crate::store_suite)
//! to run them all against one backend.
//!
//! Each function takes a fresh, empty store and panics when the store does
//! not keep the contract. Times are passed in (the trait takes `now` and
//! `at` in milliseconds); nothing here reads the clock, and nothing asserts
//! how a backend stores things (bytes on disk, pages, files). What is
//! tested where:
//!
//! - [`messages`]: round trip (`submit`, `get`, `apprec`, `original`,
//!   `ready`), idempotency (`Duplicate` with the stored answer, `Conflict`,
//!   no key no check; exactly one `Created` among concurrent submits of one
//!   key), 500 concurrent submits all created and readable, transitions
//!   (compare-and-set, `StateConflict`, `NotFound`, history in order),
//!   search (each filter, combined, summary fields, limit default and
//!   clamp, a cursor walk stable while rows arrive, malformed cursors
//!   refused), and `close` (then every method of the trait is `Closed`).
//! - [`queue`]: deliveries stored with a routed message, order per
//!   (receiver, patient), `due`/`next_due`/`claim`/`finish`/`recover`, the
//!   message's state following its deliveries, receipts (sync, async,
//!   duplicates, callbacks, `receipt_target`), replay and cancel, overdue
//!   flags, alerts, delivery stats, `list_deliveries`, queue gauges and
//!   destination stats.
//! - [`people`]: worklist (units, findings, name terms, pages back in
//!   time), the access log and its filters, flow facts (by window, by
//!   patient and its cap of 200, page by page, rebuilt, with the first
//!   positive AppRec).
//! - [`retention`]: each state after its own days, age from the last
//!   change, the limit, what is never deleted (queued, in flight, dead
//!   letters, accepted, held), what a deletion leaves (a tombstone and its
//!   history) and takes, the access log's cut-off, and `space` and
//!   `incremental_vacuum` answering without losing anything.
//!
//! A backend's tests are one line (the factory is any async expression
//! giving a fresh store; the calling crate needs `tokio` with `macros` and
//! `rt-multi-thread`):
//!
//! ```ignore
//! overgang_store::store_suite!(async { make_fresh_store().await });
//! ```
//!
//! Every method of [`Store`] is called by at least one suite function. A
//! unit test here checks that every suite function is in
//! `store_suite!`'s list. The builders ([`message`], [`routed`],
//! [`receipt`], …) and helpers ([`first_delivery`], [`claim_and_finish`],
//! [`purge`], …) are public so that a backend's own tests can make the
//! same data.

use std::future::Future;

use crate::{
    Attempt, AttemptResult, DeliveryState, Metadata, Millis, NewAccess, NewDelivery, NewMessage,
    NewReceipt, OperatorAction, Query, State, Store, Transition,
};

pub mod guarded;
pub mod messages;
pub mod people;
pub mod queue;
pub mod retention;

pub use guarded::Guarded;
pub use messages::*;
pub use people::*;
pub use queue::*;
pub use retention::*;

// ---- Builders ---------------------------------------------------------------

/// A stand-in for SHA-256 (no backend checks it): distinct inputs give
/// distinct values for the suite's purposes.
pub fn sha(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        out[i % 32] = out[i % 32].wrapping_mul(31).wrapping_add(*b);
    }
    out[31] ^= bytes.len() as u8;
    out
}

/// An accepted, unrouted message from system `eprlege`, sender `8100001`
/// to receiver `8200002`, patient `ab12`, MsgId `msg-<id>`, with `body` as
/// its original and an AppRec naming its id.
pub fn message(id: &str, received_at: Millis, key: Option<&str>, body: &[u8]) -> NewMessage {
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

/// A message about `patient` routed to `receivers` (role `primary`), with
/// the idempotency key `key-<id>`.
pub fn routed(id: &str, at: Millis, patient: &str, receivers: &[&str]) -> NewMessage {
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

/// A message without sender and receiver whose parties, findings and name
/// terms are given (for the worklist).
pub fn flagged(
    id: &str,
    at: Millis,
    parties: &[&str],
    findings: &str,
    terms: &[&str],
) -> NewMessage {
    let mut m = message(id, at, None, id.as_bytes());
    m.meta.sender_her = None;
    m.meta.receiver_her = None;
    m.meta.parties = parties.iter().map(|p| p.to_string()).collect();
    m.meta.name_terms = terms.iter().map(|t| t.to_string()).collect();
    m.findings_json = findings.to_string();
    m
}

/// Findings: one warning and one information.
pub const ONE_WARNING: &str =
    r#"[{"code":"R1","severity":"warning"},{"code":"R2","severity":"info"}]"#;
/// Findings: one error.
pub const ONE_ERROR: &str = r#"[{"code":"S1","severity":"error"}]"#;

/// A state change by `gateway`, reason `"<from> to <to>"`.
pub fn transition(id: &str, at: Millis, from: State, to: State) -> Transition {
    Transition {
        id: id.to_string(),
        at,
        actor: "gateway".to_string(),
        from,
        to,
        reason: format!("{from} to {to}"),
    }
}

/// A synchronous AppRec from `5078` with `status` and AppRec id `id`.
pub fn receipt(status: u8, id: &str) -> NewReceipt {
    NewReceipt {
        status,
        apprec_msg_id: Some(id.to_string()),
        from_her: Some("5078".into()),
        via: "sync",
        body: format!("<AppRec>{id}</AppRec>").into_bytes(),
        callback_to: None,
    }
}

/// A look at message `m1` by `user`, about `patient`.
pub fn access(at: Millis, user: &str, patient: Option<&str>) -> NewAccess {
    NewAccess {
        at,
        user: user.into(),
        action: "view_message".into(),
        message_id: Some("m1".into()),
        patient_key: patient.map(str::to_string),
        outcome: "ok".into(),
        ..NewAccess::default()
    }
}

/// An operator action by `user:kari`.
pub fn action(delivery_id: i64, at: Millis, reason: &str) -> OperatorAction {
    OperatorAction {
        delivery_id,
        at,
        actor: "user:kari".into(),
        reason: reason.into(),
    }
}

// ---- Helpers ------------------------------------------------------------------

/// How many messages a search finds (up to 1000).
pub async fn count<S: Store>(store: &S, q: Query) -> usize {
    let q = Query { limit: 1000, ..q };
    store.search(&q).await.unwrap().items.len()
}

/// The ids of the deliveries due at `now` (up to 100), in order.
pub async fn due_ids<S: Store>(store: &S, now: Millis) -> Vec<i64> {
    let due = store.due(now, 100).await.unwrap();
    due.into_iter().map(|d| d.id).collect()
}

/// The ids of a message's deliveries, oldest first.
pub async fn ids_of<S: Store>(store: &S, message_id: &str) -> Vec<i64> {
    let ds = store.deliveries_of(message_id).await.unwrap();
    ds.into_iter().map(|(d, _)| d.id).collect()
}

/// The id of a message's first delivery.
pub async fn first_delivery<S: Store>(store: &S, message_id: &str) -> i64 {
    store.deliveries_of(message_id).await.unwrap()[0].0.id
}

/// A delivery's state.
pub async fn state_of<S: Store>(store: &S, id: i64) -> DeliveryState {
    store.delivery(id).await.unwrap().unwrap().0.state
}

/// A message's state.
pub async fn message_state<S: Store>(store: &S, id: &str) -> State {
    store.get(id).await.unwrap().unwrap().summary.state
}

/// Records how a claimed attempt ended; returns the delivery's state.
pub async fn finish<S: Store>(
    store: &S,
    id: i64,
    at: Millis,
    result: AttemptResult,
) -> DeliveryState {
    let attempt = Attempt {
        delivery_id: id,
        at,
        result,
    };
    store.finish(attempt).await.unwrap()
}

/// Claims a delivery (it must be due) and records an attempt's result.
pub async fn claim_and_finish<S: Store>(store: &S, id: i64, at: Millis, result: AttemptResult) {
    assert_eq!(store.claim(vec![id], at).await.unwrap(), vec![id]);
    finish(store, id, at, result).await;
}

/// Runs one suite function with a store from `make` (what each test of
/// [`store_suite!`](crate::store_suite) does).
pub async fn run<S, M, F, T>(make: M, test: T)
where
    S: Store,
    M: Future<Output = S>,
    T: FnOnce(S) -> F,
    F: Future<Output = ()>,
{
    test(make.await).await;
}

/// One `#[tokio::test(flavor = "multi_thread")]` per suite function, each
/// with a fresh store from the async factory expression given:
///
/// ```ignore
/// overgang_store::store_suite!(async { make_fresh_store().await });
/// ```
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features. Expand it inside a module of its own (the tests take the suite
/// functions' names).
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@tests ($make);
            // messages
            round_trip,
            duplicate_and_conflict,
            idempotency_concurrent,
            many_concurrent_submits,
            transitions_compare_and_set,
            search_filters_and_limits,
            search_limit_default_and_clamp,
            cursor_walk_is_stable_while_rows_arrive,
            bad_cursor_is_refused,
            closed_store_refuses_everything,
            // queue
            a_routed_message_is_queued_with_its_deliveries,
            order_is_kept_per_receiver_and_patient_only,
            results_move_the_delivery_and_the_message,
            an_async_receipt_during_the_attempt_wins,
            receipts_are_queued_to_the_senders_callback,
            recover_queues_what_was_in_flight,
            operators_replay_and_cancel_where_allowed,
            overdue_apprecs_are_flagged_once,
            stats_count_states_and_latencies,
            a_replayed_delivery_waits_its_turn_behind_the_one_at_the_head,
            next_due_is_the_next_time_a_waiting_delivery_falls_due,
            receipt_target_is_the_newest_delivery_to_one_of_the_receivers,
            alerts_are_listed_newest_first_up_to_a_limit,
            deliveries_are_listed_newest_first_by_filter_and_page,
            gauges_count_each_destinations_open_deliveries,
            each_destination_has_its_queue_failures_and_overdue_receipts,
            // people
            worklist_scopes_orders_and_filters,
            access_log_is_recorded_and_filtered,
            flow_facts_are_kept_with_their_messages_and_rebuilt,
            flow_facts_come_page_by_page_of_whole_patients,
            a_patients_newest_facts_are_read_oldest_first_up_to_a_limit,
            flow_facts_carry_the_first_positive_apprec,
            flow_facts_of_one_patient_are_their_newest_200,
            // retention
            each_state_is_deleted_after_its_own_days,
            the_age_counts_from_the_last_change_and_the_limit_is_kept,
            a_message_is_never_deleted_while_queued_in_flight_dead_lettered_or_held,
            a_deletion_is_in_the_history_and_leaves_a_tombstone,
            access_log_retention_deletes_only_old_entries,
            space_and_vacuum_answer_and_lose_nothing,
        );
    };
    (@tests ($make:expr); $($name:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                $crate::suite::run($make, $crate::suite::$name).await;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every suite function (`pub async fn name<S: Store>(store: S)`) is in
    /// `store_suite!`'s list, so a new one cannot be left out of a backend's
    /// run, and the list names nothing else.
    #[test]
    fn every_suite_function_is_in_store_suite() {
        let mut defined = Vec::new();
        for src in [
            include_str!("messages.rs"),
            include_str!("queue.rs"),
            include_str!("people.rs"),
            include_str!("retention.rs"),
        ] {
            let flat = src.split_whitespace().collect::<Vec<_>>().join(" ");
            for part in flat.split("pub async fn ").skip(1) {
                let Some((name, rest)) = part.split_once("<S: Store>(") else {
                    continue;
                };
                if rest.trim_start().starts_with("store: S") {
                    defined.push(name.to_string());
                }
            }
        }
        let me = include_str!("mod.rs");
        let start = me.find("@tests ($make);").expect("the list");
        let end = me[start..].find("\n        );").expect("its end") + start;
        let listed: Vec<String> = me[start..end]
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| l.trim_end_matches(',').to_string())
            .collect();
        defined.sort();
        let mut sorted = listed.clone();
        sorted.sort();
        assert!(defined.len() >= 39, "{defined:?}");
        assert_eq!(sorted, defined);
    }
}
