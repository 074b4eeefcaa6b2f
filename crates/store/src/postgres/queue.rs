//! Deliveries, receipts and alerts in PostgreSQL (see the module docs of
//! [`super`] for the locks and leases).
//!
//! Every state change of a delivery appends a `delivery_events` row (the
//! table refuses updates and deletes) and recomputes its message's state
//! from all its deliveries ([`crate::delivery::aggregate`]); when that
//! changes, the message's own history gets an entry too.

use tokio_postgres::Row;

use super::messages::{append_history, state_from_db, status_u8};
use super::{exec, row, rows, Args, Fail, Tx, PAIR_LOCK_CLASS, R};
use crate::delivery::{aggregate, dkind, dstate};
use crate::{
    Alert, Attempt, AttemptResult, Delivery, DeliveryEvent, DeliveryKind, DeliveryQuery,
    DeliveryState, DeliveryStats, Due, Millis, NewDelivery, NewReceipt, OperatorAction, Receipt,
    ReceiptOutcome, ReceiptTarget, State, StoreError,
};

/// The actor of the gateway's own changes.
const GATEWAY: &str = "gateway";

fn attempts_u32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// Takes the transaction's lock on the order of (receiver, patient).
async fn lock_pair(tx: &Tx<'_>, receiver: &str, patient: &str) -> R<()> {
    let key = pair_key(receiver, patient);
    exec(
        tx,
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&PAIR_LOCK_CLASS, &key],
    )
    .await?;
    Ok(())
}

/// The text hashed for a pair's lock (the receiver's length first, so no
/// two pairs give the same text).
fn pair_key(receiver: &str, patient: &str) -> String {
    format!("{}:{receiver}|{patient}", receiver.len())
}

/// The only statement that writes delivery events: an insert.
async fn event(
    tx: &Tx<'_>,
    delivery_id: i64,
    at: Millis,
    actor: &str,
    from: Option<DeliveryState>,
    to: DeliveryState,
    reason: &str,
) -> R<()> {
    exec(
        tx,
        "INSERT INTO delivery_events (delivery_id, at, actor, from_state, to_state, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &delivery_id,
            &at,
            &actor,
            &from.map(DeliveryState::as_str),
            &to.as_str(),
            &reason,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn insert_alert(
    tx: &Tx<'_>,
    at: Millis,
    kind: &str,
    subject: &str,
    nb: &str,
    en: &str,
) -> R<()> {
    exec(
        tx,
        "INSERT INTO alerts (at, kind, subject, text_nb, text_en) VALUES ($1, $2, $3, $4, $5)",
        &[&at, &kind, &subject, &nb, &en],
    )
    .await?;
    Ok(())
}

/// Recomputes a message's state from its message deliveries and records a
/// change in its history. The message row is locked first, so the
/// deliveries are read after any concurrent change of a sibling delivery
/// committed. `FOR NO KEY UPDATE`, not `FOR UPDATE`: the transaction may
/// already hold the row `FOR KEY SHARE` (a receipt or history row
/// referencing it), and two transactions upgrading that to `FOR UPDATE`
/// would deadlock.
async fn sync_message_state(
    tx: &Tx<'_>,
    message_id: &str,
    at: Millis,
    actor: &str,
    reason: &str,
) -> R<()> {
    let current = row(
        tx,
        "SELECT state FROM messages WHERE id = $1 FOR NO KEY UPDATE",
        &[&message_id],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(message_id.to_string()))?;
    let current = state_from_db(&current.try_get::<_, String>(0)?)?;
    let mut states = Vec::new();
    for r in rows(
        tx,
        "SELECT state, attempts FROM deliveries WHERE message_id = $1 AND kind = 'message'",
        &[&message_id],
    )
    .await?
    {
        states.push((
            dstate(&r.try_get::<_, String>(0)?)?,
            attempts_u32(r.try_get(1)?),
        ));
    }
    let Some(new) = aggregate(&states) else {
        return Ok(());
    };
    // A deleted message stays deleted: its tombstone keeps its last state.
    if current == new || current == State::Deleted {
        return Ok(());
    }
    exec(
        tx,
        "UPDATE messages SET state = $1, updated_at = greatest(updated_at, $2) WHERE id = $3",
        &[&new.as_str(), &at, &message_id],
    )
    .await?;
    append_history(tx, message_id, at, actor, Some(current), new, reason).await
}

fn active(s: DeliveryState) -> bool {
    matches!(s, DeliveryState::Queued | DeliveryState::InFlight)
}

/// Whether another delivery to `receiver` about `patient` is still queued
/// or in flight (the caller holds the pair's lock).
async fn has_active(tx: &Tx<'_>, receiver: &str, patient: Option<&str>, except: i64) -> R<bool> {
    let Some(patient) = patient else {
        return Ok(false);
    };
    let r = row(
        tx,
        "SELECT EXISTS (SELECT 1 FROM deliveries
         WHERE receiver_her = $1 AND patient_key = $2 AND id <> $3
           AND state IN ('queued', 'in_flight'))",
        &[&receiver, &patient, &except],
    )
    .await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?.unwrap_or(false))
}

/// After a delivery left the queue: the next one held behind it may go,
/// unless another is still at the head (the caller holds the pair's lock).
async fn release_next(tx: &Tx<'_>, receiver: &str, patient: Option<&str>) -> R<()> {
    let Some(patient) = patient else {
        return Ok(());
    };
    exec(
        tx,
        "UPDATE deliveries SET held = false WHERE id = (
             SELECT id FROM deliveries
             WHERE receiver_her = $1 AND patient_key = $2 AND state = 'queued' AND held
             ORDER BY id LIMIT 1)
           AND NOT EXISTS (SELECT 1 FROM deliveries
             WHERE receiver_her = $1 AND patient_key = $2 AND NOT held
               AND state IN ('queued', 'in_flight'))",
        &[&receiver, &patient],
    )
    .await?;
    Ok(())
}

/// Inserts a message's deliveries (its row is already there), each behind
/// what is queued for its pair. The pairs' locks are taken first, in a
/// fixed order.
/// Wakes every node's delivery stage when this transaction commits
/// (`pg_notify` on [`super::listen::DELIVERIES`]; PostgreSQL sends it only
/// on COMMIT, once per transaction however often it is called).
pub(super) async fn notify_due(tx: &Tx<'_>) -> R<()> {
    rows(tx, "SELECT pg_notify('overgang_deliveries', '')", &[]).await?;
    Ok(())
}

pub(super) async fn insert_deliveries(
    tx: &Tx<'_>,
    message_id: &str,
    at: Millis,
    actor: &str,
    patient_key: Option<&str>,
    deliveries: &[NewDelivery],
) -> R<()> {
    if let Some(patient) = patient_key {
        let mut receivers: Vec<&str> = deliveries.iter().map(|d| d.receiver_her.as_str()).collect();
        receivers.sort_unstable();
        receivers.dedup();
        let mut keys: Vec<(String, &str)> = receivers
            .into_iter()
            .map(|r| (pair_key(r, patient), r))
            .collect();
        keys.sort();
        for (_, receiver) in keys {
            lock_pair(tx, receiver, patient).await?;
        }
    }
    for d in deliveries {
        let held = has_active(tx, &d.receiver_her, patient_key, -1).await?;
        let r = row(
            tx,
            "INSERT INTO deliveries (message_id, kind, receiver_her, role, patient_key, state,
                 created_at, updated_at, window_start, next_attempt_at, held)
             VALUES ($1, 'message', $2, $3, $4, 'queued', $5, $5, $5, $5, $6)
             RETURNING id",
            &[
                &message_id,
                &d.receiver_her,
                &d.role,
                &patient_key,
                &at,
                &held,
            ],
        )
        .await?
        .ok_or_else(|| StoreError::Database("an insert returned nothing".into()))?;
        let id: i64 = r.try_get(0)?;
        event(tx, id, at, actor, None, DeliveryState::Queued, &d.reason).await?;
    }
    if !deliveries.is_empty() {
        notify_due(tx).await?;
    }
    Ok(())
}

/// Claims one delivery if it is still due: `Some(attempts)` when claimed.
pub(super) async fn claim_one(
    tx: &Tx<'_>,
    id: i64,
    now: Millis,
    lease_until: Millis,
    node: &str,
) -> R<Option<i32>> {
    let Some(r) = row(
        tx,
        "SELECT receiver_her, patient_key FROM deliveries
         WHERE id = $1 AND state = 'queued' AND NOT held AND next_attempt_at <= $2",
        &[&id, &now],
    )
    .await?
    else {
        return Ok(None);
    };
    let receiver: String = r.try_get(0)?;
    let patient: Option<String> = r.try_get(1)?;
    if let Some(patient) = &patient {
        lock_pair(tx, &receiver, patient).await?;
        // Under the pair's lock: nothing else of the pair is being sent,
        // nor queued ahead of this one.
        let blocked = row(
            tx,
            "SELECT EXISTS (SELECT 1 FROM deliveries
             WHERE receiver_her = $1 AND patient_key = $2 AND id <> $3
               AND (state = 'in_flight' OR (state = 'queued' AND NOT held AND id < $3)))",
            &[&receiver, patient, &id],
        )
        .await?
        .map(|r| r.try_get::<_, bool>(0))
        .transpose()?
        .unwrap_or(false);
        if blocked {
            return Ok(None);
        }
    }
    let Some(r) = row(
        tx,
        "UPDATE deliveries SET state = 'in_flight', attempts = attempts + 1,
             updated_at = greatest(updated_at, $2), lease_until = $3, lease_owner = $4
         WHERE id = (SELECT id FROM deliveries
                     WHERE id = $1 AND state = 'queued' AND NOT held AND next_attempt_at <= $2
                     FOR UPDATE SKIP LOCKED)
         RETURNING message_id, attempts",
        &[&id, &now, &lease_until, &node],
    )
    .await?
    else {
        return Ok(None);
    };
    let message_id: String = r.try_get(0)?;
    let attempts: i32 = r.try_get(1)?;
    event(
        tx,
        id,
        now,
        GATEWAY,
        Some(DeliveryState::Queued),
        DeliveryState::InFlight,
        &format!("forsøk {attempts} / attempt {attempts}"),
    )
    .await?;
    sync_message_state(
        tx,
        &message_id,
        now,
        GATEWAY,
        "levering startet / delivery started",
    )
    .await?;
    Ok(Some(attempts))
}

struct Current {
    message_id: String,
    kind: DeliveryKind,
    state: DeliveryState,
    receiver_her: String,
    patient_key: Option<String>,
    attempts: i32,
    lease_owner: Option<String>,
}

/// A delivery's current state, with the pair's lock and the row's lock
/// taken (in that order).
async fn current(tx: &Tx<'_>, id: i64) -> R<Current> {
    let first = row(
        tx,
        "SELECT receiver_her, patient_key FROM deliveries WHERE id = $1",
        &[&id],
    )
    .await?
    .ok_or(StoreError::NoDelivery(id))?;
    let receiver: String = first.try_get(0)?;
    let patient: Option<String> = first.try_get(1)?;
    if let Some(p) = &patient {
        lock_pair(tx, &receiver, p).await?;
    }
    let r = row(
        tx,
        "SELECT message_id, kind, state, receiver_her, patient_key, attempts, lease_owner
         FROM deliveries WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .ok_or(StoreError::NoDelivery(id))?;
    Ok(Current {
        message_id: r.try_get(0)?,
        kind: dkind(&r.try_get::<_, String>(1)?)?,
        state: dstate(&r.try_get::<_, String>(2)?)?,
        receiver_her: r.try_get(3)?,
        patient_key: r.try_get(4)?,
        attempts: r.try_get(5)?,
        lease_owner: r.try_get(6)?,
    })
}

fn answered_state(status: u8) -> DeliveryState {
    match status {
        1 => DeliveryState::Acknowledged,
        3 => DeliveryState::AcknowledgedWithErrors,
        _ => DeliveryState::RejectedByReceiver,
    }
}

fn status_words(status: u8) -> &'static str {
    match status {
        1 => "OK",
        3 => "OK med feil i delmelding / OK with errors in part",
        _ => "avvist / rejected",
    }
}

/// Stores a receipt and, when asked, queues it to the sender's callback.
async fn insert_receipt(
    tx: &Tx<'_>,
    delivery_id: i64,
    message_id: &str,
    at: Millis,
    r: &NewReceipt,
) -> R<i64> {
    let status = i32::from(r.status);
    let receipt_id: i64 = row(
        tx,
        "INSERT INTO receipts (message_id, delivery_id, received_at, status, apprec_msg_id,
             from_her, via, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id",
        &[
            &message_id,
            &delivery_id,
            &at,
            &status,
            &r.apprec_msg_id,
            &r.from_her,
            &r.via,
            &r.body,
        ],
    )
    .await?
    .ok_or_else(|| StoreError::Database("an insert returned nothing".into()))?
    .try_get(0)?;
    if let Some(to) = &r.callback_to {
        let id: i64 = row(
            tx,
            "INSERT INTO deliveries (message_id, kind, receiver_her, role, patient_key, state,
                 created_at, updated_at, window_start, next_attempt_at, receipt_id)
             VALUES ($1, 'receipt', $2, 'callback', NULL, 'queued', $3, $3, $3, $3, $4)
             RETURNING id",
            &[&message_id, to, &at, &receipt_id],
        )
        .await?
        .ok_or_else(|| StoreError::Database("an insert returned nothing".into()))?
        .try_get(0)?;
        event(
            tx,
            id,
            at,
            GATEWAY,
            None,
            DeliveryState::Queued,
            &format!(
                "kvittering fra mottaker sendes til avsenders system (levering {delivery_id}) / receiver's receipt goes to the sender's system (delivery {delivery_id})"
            ),
        )
        .await?;
        notify_due(tx).await?;
    }
    Ok(receipt_id)
}

/// What else a state change sets (besides state and updated_at).
#[derive(Default)]
struct Extra {
    delivered_at: Option<Millis>,
    /// `coalesce(delivered_at, at)` rather than `at`.
    delivered_at_keep: bool,
    answered_at: Option<Millis>,
    /// `Some(None)` clears it.
    next_attempt_at: Option<Option<Millis>>,
    /// `Some(None)` clears it.
    last_error: Option<Option<String>>,
    /// Replay: attempts 0, window from `at`, overdue flag off.
    fresh_window: bool,
}

/// Moves a delivery and records the event; the message's state follows.
/// The caller took the locks ([`current`]).
#[allow(clippy::too_many_arguments)]
async fn set_state(
    tx: &Tx<'_>,
    id: i64,
    cur: &Current,
    to: DeliveryState,
    at: Millis,
    actor: &str,
    reason: &str,
    extra: Extra,
) -> R<()> {
    let mut args = Args::default();
    let ps = args.push(to.as_str().to_string());
    let pa = args.push(at);
    let mut sql =
        format!("UPDATE deliveries SET state = {ps}, updated_at = greatest(updated_at, {pa})");
    if let Some(d) = extra.delivered_at {
        let p = args.push(d);
        if extra.delivered_at_keep {
            sql.push_str(&format!(", delivered_at = coalesce(delivered_at, {p})"));
        } else {
            sql.push_str(&format!(", delivered_at = {p}"));
        }
    }
    if let Some(a) = extra.answered_at {
        let p = args.push(a);
        sql.push_str(&format!(", answered_at = {p}"));
    }
    if let Some(n) = extra.next_attempt_at {
        let p = args.push(n);
        sql.push_str(&format!(", next_attempt_at = {p}"));
    }
    if let Some(e) = extra.last_error {
        let p = args.push(e);
        sql.push_str(&format!(", last_error = {p}"));
    }
    if extra.fresh_window {
        let p = args.push(at);
        sql.push_str(&format!(
            ", attempts = 0, window_start = {p}, apprec_overdue = false"
        ));
    }
    if !active(to) || to == DeliveryState::Queued {
        sql.push_str(", lease_owner = NULL, lease_until = NULL");
    }
    let pid = args.push(id);
    sql.push_str(&format!(" WHERE id = {pid}"));
    exec(tx, &sql, &args.refs()).await?;
    let patient = cur.patient_key.as_deref();
    if active(cur.state) && !active(to) {
        release_next(tx, &cur.receiver_her, patient).await?;
    } else if !active(cur.state) && active(to) {
        // Back in the queue (a replay): behind whatever is there now.
        let held = has_active(tx, &cur.receiver_her, patient, id).await?;
        exec(
            tx,
            "UPDATE deliveries SET held = $1 WHERE id = $2",
            &[&held, &id],
        )
        .await?;
    }
    event(tx, id, at, actor, Some(cur.state), to, reason).await?;
    if cur.kind == DeliveryKind::Message {
        sync_message_state(tx, &cur.message_id, at, actor, reason).await?;
    }
    Ok(())
}

/// Records how an attempt ended. `mine` is the attempt count this store's
/// claim of the delivery gave (if it claimed it): an attempt whose
/// delivery is in flight under another node's lease, or under a newer
/// claim, is stale and only recorded.
pub(super) async fn finish(
    tx: &Tx<'_>,
    a: &Attempt,
    node: &str,
    mine: Option<i32>,
) -> R<DeliveryState> {
    let id = a.delivery_id;
    let cur = current(tx, id).await?;
    let taken_over = cur.state == DeliveryState::InFlight
        && (cur.lease_owner.as_deref().is_some_and(|o| o != node)
            || mine.is_some_and(|n| n != cur.attempts));
    if cur.state != DeliveryState::InFlight || taken_over {
        let what = match &a.result {
            AttemptResult::Delivered => "levert / delivered".to_string(),
            AttemptResult::Answered(r) => format!("kvittering {} / receipt", r.status),
            AttemptResult::Retry { error, .. } | AttemptResult::DeadLetter { error } => {
                error.clone()
            }
        };
        if let AttemptResult::Answered(r) = &a.result {
            insert_receipt(tx, id, &cur.message_id, a.at, r).await?;
        }
        let reason = if taken_over {
            format!(
                "forsøket endte etter at et nytt forsøk hadde overtatt leveringen ({what}) / the attempt ended after a newer attempt had taken the delivery over ({what})"
            )
        } else {
            format!(
                "forsøket endte etter at tilstanden var endret ({what}) / the attempt ended after the state had changed ({what})"
            )
        };
        event(tx, id, a.at, GATEWAY, Some(cur.state), cur.state, &reason).await?;
        return Ok(cur.state);
    }
    match &a.result {
        AttemptResult::Delivered => {
            let reason = if cur.kind == DeliveryKind::Receipt {
                "kvitteringen er levert til avsenders system / the receipt was delivered to the sender's system"
            } else {
                "levert; venter på applikasjonskvittering / delivered; waiting for the application receipt"
            };
            let extra = Extra {
                delivered_at: Some(a.at),
                next_attempt_at: Some(None),
                last_error: Some(None),
                ..Extra::default()
            };
            set_state(
                tx,
                id,
                &cur,
                DeliveryState::Delivered,
                a.at,
                GATEWAY,
                reason,
                extra,
            )
            .await?;
            Ok(DeliveryState::Delivered)
        }
        AttemptResult::Answered(r) => {
            insert_receipt(tx, id, &cur.message_id, a.at, r).await?;
            let to = answered_state(r.status);
            let words = status_words(r.status);
            let extra = Extra {
                delivered_at: Some(a.at),
                answered_at: Some(a.at),
                next_attempt_at: Some(None),
                last_error: Some(None),
                ..Extra::default()
            };
            set_state(
                tx,
                id,
                &cur,
                to,
                a.at,
                GATEWAY,
                &format!("mottakeren svarte med kvittering: {words} / the receiver answered with a receipt: {words}"),
                extra,
            )
            .await?;
            Ok(to)
        }
        AttemptResult::Retry {
            next_attempt_at,
            error,
        } => {
            let extra = Extra {
                next_attempt_at: Some(Some(*next_attempt_at)),
                last_error: Some(Some(error.clone())),
                ..Extra::default()
            };
            set_state(
                tx,
                id,
                &cur,
                DeliveryState::Queued,
                a.at,
                GATEWAY,
                error,
                extra,
            )
            .await?;
            Ok(DeliveryState::Queued)
        }
        AttemptResult::DeadLetter { error } => {
            let extra = Extra {
                next_attempt_at: Some(None),
                last_error: Some(Some(error.clone())),
                ..Extra::default()
            };
            set_state(
                tx,
                id,
                &cur,
                DeliveryState::DeadLetter,
                a.at,
                GATEWAY,
                &format!("gitt opp / gave up: {error}"),
                extra,
            )
            .await?;
            insert_alert(
                tx,
                a.at,
                "dead_letter",
                &format!("delivery {id}"),
                &format!(
                    "Levering {id} av melding {} til {} er gitt opp og venter på en person: {error}",
                    cur.message_id, cur.receiver_her
                ),
                &format!(
                    "Delivery {id} of message {} to {} gave up and waits for a person: {error}",
                    cur.message_id, cur.receiver_her
                ),
            )
            .await?;
            Ok(DeliveryState::DeadLetter)
        }
    }
}

/// The deliveries `recover` puts back: in flight, and either this node's
/// or with an expired lease.
/// In-flight deliveries whose lease has run out, and (with `own`) those
/// this node claimed.
pub(super) async fn recoverable(tx: &Tx<'_>, now: Millis, own: Option<&str>) -> R<Vec<i64>> {
    rows(
        tx,
        "SELECT id FROM deliveries
         WHERE state = 'in_flight'
           AND (lease_until IS NULL OR lease_until <= $1 OR lease_owner = $2)
         ORDER BY id",
        &[&now, &own],
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

/// Puts one in-flight delivery back in the queue if it still may be
/// (re-checked under its locks). Returns whether it did.
pub(super) async fn recover_one(tx: &Tx<'_>, id: i64, now: Millis, own: Option<&str>) -> R<bool> {
    let cur = current(tx, id).await?;
    let lease = row(
        tx,
        "SELECT lease_until FROM deliveries WHERE id = $1",
        &[&id],
    )
    .await?
    .map(|r| r.try_get::<_, Option<i64>>(0))
    .transpose()?
    .flatten();
    let expired = lease.is_none_or(|l| l <= now);
    if cur.state != DeliveryState::InFlight
        || !(expired || (own.is_some() && cur.lease_owner.as_deref() == own))
    {
        return Ok(false);
    }
    let extra = Extra {
        next_attempt_at: Some(Some(now)),
        ..Extra::default()
    };
    set_state(
        tx,
        id,
        &cur,
        DeliveryState::Queued,
        now,
        GATEWAY,
        "gatewayen stoppet under et forsøk; sendes på nytt (mottakeren kan få den to ganger og kjenner den igjen på MsgId) / the gateway stopped during an attempt; it is sent again (the receiver may get it twice and knows it by its MsgId)",
        extra,
    )
    .await?;
    notify_due(tx).await?;
    Ok(true)
}

pub(super) async fn record_receipt(
    tx: &Tx<'_>,
    id: i64,
    at: Millis,
    actor: &str,
    r: &NewReceipt,
) -> R<ReceiptOutcome> {
    let cur = current(tx, id).await?;
    if let Some(apprec_id) = &r.apprec_msg_id {
        let existing = row(
            tx,
            "SELECT id FROM receipts WHERE delivery_id = $1 AND apprec_msg_id = $2",
            &[&id, apprec_id],
        )
        .await?;
        if let Some(e) = existing {
            return Ok(ReceiptOutcome::Duplicate {
                receipt_id: e.try_get(0)?,
            });
        }
    }
    let receipt_id = insert_receipt(tx, id, &cur.message_id, at, r).await?;
    let words = status_words(r.status);
    if cur.state == DeliveryState::Cancelled {
        event(
            tx,
            id,
            at,
            actor,
            Some(cur.state),
            cur.state,
            &format!("kvittering mottatt etter kansellering: {words} / receipt received after cancellation: {words}"),
        )
        .await?;
        return Ok(ReceiptOutcome::Stored {
            receipt_id,
            state: cur.state,
        });
    }
    let to = answered_state(r.status);
    let extra = Extra {
        answered_at: Some(at),
        delivered_at: Some(at),
        delivered_at_keep: true,
        next_attempt_at: Some(None),
        ..Extra::default()
    };
    set_state(
        tx,
        id,
        &cur,
        to,
        at,
        actor,
        &format!("mottakeren sendte kvittering: {words} / the receiver sent a receipt: {words}"),
        extra,
    )
    .await?;
    Ok(ReceiptOutcome::Stored {
        receipt_id,
        state: to,
    })
}

pub(super) async fn replay(tx: &Tx<'_>, a: &OperatorAction) -> R<DeliveryState> {
    let cur = current(tx, a.delivery_id).await?;
    if !cur.state.replayable() {
        return Err(Fail::Store(StoreError::NotAllowed {
            id: a.delivery_id,
            state: cur.state.as_str().into(),
            what: "only dead_letter, cancelled and delivered deliveries can be replayed",
        }));
    }
    let deleted = row(
        tx,
        "SELECT state = 'deleted' FROM messages WHERE id = $1",
        &[&cur.message_id],
    )
    .await?
    .map(|r| r.try_get::<_, bool>(0))
    .transpose()?
    .unwrap_or(false);
    if deleted {
        return Err(Fail::Store(StoreError::NotAllowed {
            id: a.delivery_id,
            state: cur.state.as_str().into(),
            what: "its message was deleted by retention",
        }));
    }
    let extra = Extra {
        next_attempt_at: Some(Some(a.at)),
        fresh_window: true,
        ..Extra::default()
    };
    set_state(
        tx,
        a.delivery_id,
        &cur,
        DeliveryState::Queued,
        a.at,
        &a.actor,
        &format!("sendes på nytt / replayed: {}", a.reason),
        extra,
    )
    .await?;
    notify_due(tx).await?;
    Ok(DeliveryState::Queued)
}

pub(super) async fn cancel(tx: &Tx<'_>, a: &OperatorAction) -> R<DeliveryState> {
    let cur = current(tx, a.delivery_id).await?;
    if !cur.state.cancellable() {
        return Err(Fail::Store(StoreError::NotAllowed {
            id: a.delivery_id,
            state: cur.state.as_str().into(),
            what: "answered or cancelled deliveries cannot be cancelled",
        }));
    }
    let extra = Extra {
        next_attempt_at: Some(None),
        ..Extra::default()
    };
    set_state(
        tx,
        a.delivery_id,
        &cur,
        DeliveryState::Cancelled,
        a.at,
        &a.actor,
        &format!("kansellert / cancelled: {}", a.reason),
        extra,
    )
    .await?;
    Ok(DeliveryState::Cancelled)
}

pub(super) async fn flag_overdue(tx: &Tx<'_>, now: Millis, before: Millis) -> R<Vec<i64>> {
    // Claimed row by row (SKIP LOCKED): two nodes flag each delivery once.
    let list = rows(
        tx,
        "UPDATE deliveries SET apprec_overdue = true
         WHERE id IN (SELECT id FROM deliveries
                      WHERE state = 'delivered' AND NOT apprec_overdue AND kind = 'message'
                        AND delivered_at < $1
                      ORDER BY id LIMIT 1000
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, message_id, receiver_her",
        &[&before],
    )
    .await?;
    let mut flagged = Vec::with_capacity(list.len());
    for r in &list {
        flagged.push((
            r.try_get::<_, i64>(0)?,
            r.try_get::<_, String>(1)?,
            r.try_get::<_, String>(2)?,
        ));
    }
    flagged.sort_by_key(|f| f.0);
    for (id, message_id, receiver) in &flagged {
        event(
            tx,
            *id,
            now,
            GATEWAY,
            Some(DeliveryState::Delivered),
            DeliveryState::Delivered,
            "levert, men ingen applikasjonskvittering kom i tide / delivered, but no application receipt came in time",
        )
        .await?;
        insert_alert(
            tx,
            now,
            "apprec_overdue",
            &format!("delivery {id}"),
            &format!("Melding {message_id} er levert til {receiver}, men mottakeren har ikke sendt applikasjonskvittering i tide (levering {id})."),
            &format!("Message {message_id} was delivered to {receiver}, but the receiver has not sent an application receipt in time (delivery {id})."),
        )
        .await?;
    }
    Ok(flagged.into_iter().map(|f| f.0).collect())
}

// --- Reads -----------------------------------------------------------------

pub(super) async fn due(tx: &Tx<'_>, now: Millis, limit: u32) -> R<Vec<Due>> {
    let limit = i64::from(limit);
    let mut out = Vec::new();
    // A plain read: locking the rows here (FOR SHARE) would make other
    // nodes' claims skip them. `claim` re-checks everything under its locks.
    for r in rows(
        tx,
        "SELECT d.id, d.message_id, d.kind, d.receiver_her, d.attempts, d.window_start,
                d.receipt_id, m.msg_id, m.sender_her, m.msg_type
         FROM deliveries d JOIN messages m ON m.id = d.message_id
         WHERE d.state = 'queued' AND NOT d.held AND d.next_attempt_at <= $1
         ORDER BY d.next_attempt_at, d.id
         LIMIT $2",
        &[&now, &limit],
    )
    .await?
    {
        out.push(Due {
            id: r.try_get(0)?,
            message_id: r.try_get(1)?,
            kind: dkind(&r.try_get::<_, String>(2)?)?,
            receiver_her: r.try_get(3)?,
            attempts: attempts_u32(r.try_get(4)?),
            window_start: r.try_get(5)?,
            receipt_id: r.try_get(6)?,
            msg_id: r.try_get(7)?,
            sender_her: r.try_get(8)?,
            msg_type: r.try_get(9)?,
        });
    }
    Ok(out)
}

pub(super) async fn next_due(tx: &Tx<'_>, after: Millis) -> R<Option<Millis>> {
    Ok(row(
        tx,
        "SELECT min(next_attempt_at) FROM deliveries
         WHERE state = 'queued' AND NOT held AND next_attempt_at > $1",
        &[&after],
    )
    .await?
    .map(|r| r.try_get::<_, Option<i64>>(0))
    .transpose()?
    .flatten())
}

pub(super) async fn receipt_target(
    tx: &Tx<'_>,
    original: &str,
    hers: &[String],
) -> R<Option<ReceiptTarget>> {
    if hers.is_empty() {
        return Ok(None);
    }
    let r = row(
        tx,
        "SELECT d.id, d.message_id, d.state, m.sender_her, m.system
         FROM deliveries d JOIN messages m ON m.id = d.message_id
         WHERE m.msg_id = $1 AND d.kind = 'message' AND d.receiver_her = ANY($2)
           AND m.state <> 'deleted'
         ORDER BY d.id DESC LIMIT 1",
        &[&original, &hers],
    )
    .await?;
    let Some(r) = r else {
        return Ok(None);
    };
    Ok(Some(ReceiptTarget {
        delivery_id: r.try_get(0)?,
        message_id: r.try_get(1)?,
        state: dstate(&r.try_get::<_, String>(2)?)?,
        sender_her: r.try_get(3)?,
        system: r.try_get(4)?,
    }))
}

const DELIVERY_COLUMNS: &str = "d.id, d.message_id, d.kind, d.receiver_her, d.role, d.state, \
     d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.delivered_at, d.answered_at, \
     d.last_error, d.apprec_overdue, d.receipt_id, m.msg_type, m.sender_her";

fn delivery_from_row(row: &Row) -> R<Delivery> {
    Ok(Delivery {
        id: row.try_get(0)?,
        message_id: row.try_get(1)?,
        kind: dkind(&row.try_get::<_, String>(2)?)?,
        receiver_her: row.try_get(3)?,
        role: row.try_get(4)?,
        state: dstate(&row.try_get::<_, String>(5)?)?,
        attempts: attempts_u32(row.try_get(6)?),
        created_at: row.try_get(7)?,
        updated_at: row.try_get(8)?,
        next_attempt_at: row.try_get(9)?,
        delivered_at: row.try_get(10)?,
        answered_at: row.try_get(11)?,
        last_error: row.try_get(12)?,
        apprec_overdue: row.try_get(13)?,
        receipt_id: row.try_get(14)?,
        msg_type: row.try_get(15)?,
        sender_her: row.try_get(16)?,
    })
}

async fn events_of(tx: &Tx<'_>, id: i64) -> R<Vec<DeliveryEvent>> {
    let mut out = Vec::new();
    for r in rows(
        tx,
        "SELECT at, actor, from_state, to_state, reason FROM delivery_events
         WHERE delivery_id = $1 ORDER BY seq",
        &[&id],
    )
    .await?
    {
        let from: Option<String> = r.try_get(2)?;
        out.push(DeliveryEvent {
            at: r.try_get(0)?,
            actor: r.try_get(1)?,
            from: from.as_deref().map(dstate).transpose()?,
            to: dstate(&r.try_get::<_, String>(3)?)?,
            reason: r.try_get(4)?,
        });
    }
    Ok(out)
}

pub(super) async fn deliveries_of(
    tx: &Tx<'_>,
    message_id: &str,
) -> R<Vec<(Delivery, Vec<DeliveryEvent>)>> {
    let list = rows(
        tx,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE d.message_id = $1 ORDER BY d.id"
        ),
        &[&message_id],
    )
    .await?;
    let mut out = Vec::with_capacity(list.len());
    for r in &list {
        let d = delivery_from_row(r)?;
        let events = events_of(tx, d.id).await?;
        out.push((d, events));
    }
    Ok(out)
}

pub(super) async fn delivery(tx: &Tx<'_>, id: i64) -> R<Option<(Delivery, Vec<DeliveryEvent>)>> {
    let r = row(
        tx,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE d.id = $1"
        ),
        &[&id],
    )
    .await?;
    match r {
        Some(r) => {
            let d = delivery_from_row(&r)?;
            let events = events_of(tx, d.id).await?;
            Ok(Some((d, events)))
        }
        None => Ok(None),
    }
}

pub(super) async fn list(tx: &Tx<'_>, q: &DeliveryQuery) -> R<Vec<Delivery>> {
    let limit = match q.limit {
        0 => 100,
        n => n.min(1000),
    };
    let mut sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN messages m ON m.id = d.message_id
         WHERE true"
    );
    let mut args = Args::default();
    if let Some(s) = q.state {
        let p = args.push(s.as_str().to_string());
        sql.push_str(&format!(" AND d.state = {p}"));
    }
    if let Some(r) = &q.receiver_her {
        let p = args.push(r.clone());
        sql.push_str(&format!(" AND d.receiver_her = {p}"));
    }
    if let Some(m) = &q.message_id {
        let p = args.push(m.clone());
        sql.push_str(&format!(" AND d.message_id = {p}"));
    }
    if q.overdue_only {
        sql.push_str(" AND d.apprec_overdue AND d.state = 'delivered'");
    }
    if let Some(b) = q.before {
        let p = args.push(b);
        sql.push_str(&format!(" AND d.id < {p}"));
    }
    let p = args.push(i64::from(limit));
    sql.push_str(&format!(" ORDER BY d.id DESC LIMIT {p}"));
    rows(tx, &sql, &args.refs())
        .await?
        .iter()
        .map(delivery_from_row)
        .collect()
}

pub(super) async fn receipts_of(tx: &Tx<'_>, message_id: &str) -> R<Vec<Receipt>> {
    let mut out = Vec::new();
    for r in rows(
        tx,
        "SELECT id, message_id, delivery_id, received_at, status, apprec_msg_id, from_her, via
         FROM receipts WHERE message_id = $1 ORDER BY id",
        &[&message_id],
    )
    .await?
    {
        out.push(Receipt {
            id: r.try_get(0)?,
            message_id: r.try_get(1)?,
            delivery_id: r.try_get(2)?,
            received_at: r.try_get(3)?,
            status: status_u8(r.try_get(4)?)?,
            apprec_msg_id: r.try_get(5)?,
            from_her: r.try_get(6)?,
            via: r.try_get(7)?,
        });
    }
    Ok(out)
}

pub(super) async fn receipt_body(tx: &Tx<'_>, id: i64) -> R<Option<Vec<u8>>> {
    // A body deleted by retention is NULL.
    Ok(row(
        tx,
        "SELECT body FROM receipts WHERE id = $1 AND body IS NOT NULL",
        &[&id],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?)
}

pub(super) async fn alerts(tx: &Tx<'_>, limit: u32) -> R<Vec<Alert>> {
    let limit = i64::from(limit.clamp(1, 1000));
    let mut out = Vec::new();
    for r in rows(
        tx,
        "SELECT id, at, kind, subject, text_nb, text_en FROM alerts ORDER BY id DESC LIMIT $1",
        &[&limit],
    )
    .await?
    {
        out.push(Alert {
            id: r.try_get(0)?,
            at: r.try_get(1)?,
            kind: r.try_get(2)?,
            subject: r.try_get(3)?,
            text_nb: r.try_get(4)?,
            text_en: r.try_get(5)?,
        });
    }
    Ok(out)
}

pub(super) async fn stats(tx: &Tx<'_>, since: Millis) -> R<DeliveryStats> {
    let mut by_state = Vec::new();
    for r in rows(
        tx,
        "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state",
        &[],
    )
    .await?
    {
        by_state.push((
            dstate(&r.try_get::<_, String>(0)?)?,
            u64::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0),
        ));
    }
    let mut lat = rows(
        tx,
        "SELECT d.answered_at - m.received_at FROM deliveries d
         JOIN messages m ON m.id = d.message_id
         WHERE d.kind = 'message' AND d.answered_at >= $1",
        &[&since],
    )
    .await?
    .iter()
    .map(|r| r.try_get::<_, i64>(0))
    .collect::<Result<Vec<_>, _>>()?;
    lat.sort_unstable();
    let pick = |q: f64| -> i64 {
        let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
        lat[i.min(lat.len() - 1)]
    };
    let latency_ms = (!lat.is_empty()).then(|| [pick(0.5), pick(0.9), pick(0.99), pick(1.0)]);
    Ok(DeliveryStats {
        by_state,
        answered: lat.len() as u64,
        latency_ms,
    })
}
