//! Deliveries, receipts and alerts in SQLite: the statements the writer
//! thread runs (inside its group-commit transaction) and the reads.
//!
//! Every state change of a delivery appends a `delivery_events` row (the
//! table refuses updates and deletes) and recomputes its message's state
//! from all its deliveries ([`crate::delivery::aggregate`]); when that
//! changes, the message's own history gets an entry too.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::{append_history, decode_body, state_from_db, to_i64, CODEC_LZ4};
use crate::delivery::{aggregate, dkind, dstate};
use crate::{
    Alert, Attempt, AttemptResult, Delivery, DeliveryEvent, DeliveryKind, DeliveryQuery,
    DeliveryState, DeliveryStats, Due, Millis, NewDelivery, NewReceipt, OperatorAction, Receipt,
    ReceiptOutcome, ReceiptTarget, StoreError,
};

/// The actor of the gateway's own changes.
const GATEWAY: &str = "gateway";

fn attempts_from_db(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The only statement that writes delivery events: an insert.
fn event(
    conn: &Connection,
    delivery_id: i64,
    at: Millis,
    actor: &str,
    from: Option<DeliveryState>,
    to: DeliveryState,
    reason: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO delivery_events (delivery_id, at, actor, from_state, to_state, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        delivery_id,
        at,
        actor,
        from.map(DeliveryState::as_str),
        to.as_str(),
        reason
    ])?;
    Ok(())
}

fn insert_alert(
    conn: &Connection,
    at: Millis,
    kind: &str,
    subject: &str,
    nb: &str,
    en: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO alerts (at, kind, subject, text_nb, text_en) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![at, kind, subject, nb, en])?;
    Ok(())
}

/// Recomputes a message's state from its message deliveries and records a
/// change in its history.
fn sync_message_state(
    conn: &Connection,
    message_id: &str,
    at: Millis,
    actor: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let states = conn
        .prepare_cached(
            "SELECT state, attempts FROM deliveries WHERE message_id = ?1 AND kind = 'message'",
        )?
        .query_and_then([message_id], |row| {
            Ok::<_, StoreError>((
                dstate(&row.get::<_, String>(0)?)?,
                attempts_from_db(row.get(1)?),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let Some(new) = aggregate(&states) else {
        return Ok(());
    };
    let current: String = conn
        .prepare_cached("SELECT state FROM messages WHERE id = ?1")?
        .query_row([message_id], |row| row.get(0))?;
    let current = state_from_db(&current)?;
    // A deleted message stays deleted: its tombstone keeps its last state.
    if current == new || current == crate::State::Deleted {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE messages SET state = ?1, updated_at = max(updated_at, ?2) WHERE id = ?3",
    )?
    .execute(params![new.as_str(), at, message_id])?;
    append_history(conn, message_id, at, actor, Some(current), new, reason)
}

/// Whether a delivery in state `s` holds its place in the order of its
/// (receiver, patient): it is still to be sent or being sent.
fn active(s: DeliveryState) -> bool {
    matches!(s, DeliveryState::Queued | DeliveryState::InFlight)
}

/// Whether another delivery to `receiver` about `patient` is still queued
/// or in flight (so a new or replayed one must wait behind it).
fn has_active(
    conn: &Connection,
    receiver: &str,
    patient: Option<&str>,
    except: i64,
) -> Result<bool, StoreError> {
    let Some(patient) = patient else {
        return Ok(false);
    };
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM deliveries
             WHERE receiver_her = ?1 AND patient_key = ?2 AND id <> ?3
               AND state IN ('queued', 'in_flight'))",
        )?
        .query_row(params![receiver, patient, except], |row| row.get(0))?)
}

/// After a delivery left the queue: the next one held behind it (same
/// receiver and patient, lowest id) may go, unless another is still at
/// the head.
fn release_next(
    conn: &Connection,
    receiver: &str,
    patient: Option<&str>,
) -> Result<(), StoreError> {
    let Some(patient) = patient else {
        return Ok(());
    };
    let head_busy: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM deliveries
             WHERE receiver_her = ?1 AND patient_key = ?2 AND held = 0
               AND state IN ('queued', 'in_flight'))",
        )?
        .query_row(params![receiver, patient], |row| row.get(0))?;
    if head_busy {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE deliveries SET held = 0 WHERE id = (
             SELECT id FROM deliveries
             WHERE receiver_her = ?1 AND patient_key = ?2 AND state = 'queued' AND held = 1
             ORDER BY id LIMIT 1)",
    )?
    .execute(params![receiver, patient])?;
    Ok(())
}

/// Inserts a message's deliveries (its row is already there).
pub(super) fn insert_deliveries(
    conn: &Connection,
    message_id: &str,
    at: Millis,
    actor: &str,
    patient_key: Option<&str>,
    deliveries: &[NewDelivery],
) -> Result<(), StoreError> {
    for d in deliveries {
        let held = has_active(conn, &d.receiver_her, patient_key, -1)?;
        conn.prepare_cached(
            "INSERT INTO deliveries (message_id, kind, receiver_her, role, patient_key, state,
                 created_at, updated_at, window_start, next_attempt_at, held)
             VALUES (?1, 'message', ?2, ?3, ?4, 'queued', ?5, ?5, ?5, ?5, ?6)",
        )?
        .execute(params![
            message_id,
            d.receiver_her,
            d.role,
            patient_key,
            at,
            i64::from(held)
        ])?;
        let id = conn.last_insert_rowid();
        event(conn, id, at, actor, None, DeliveryState::Queued, &d.reason)?;
    }
    Ok(())
}

pub(super) fn claim(conn: &Connection, ids: &[i64], now: Millis) -> Result<Vec<i64>, StoreError> {
    let mut claimed = Vec::with_capacity(ids.len());
    for &id in ids {
        let row: Option<(String, i64)> = conn
            .prepare_cached(
                "UPDATE deliveries SET state = 'in_flight', attempts = attempts + 1,
                     updated_at = max(updated_at, ?2)
                 WHERE id = ?1 AND state = 'queued' AND held = 0 AND next_attempt_at <= ?2
                 RETURNING message_id, attempts",
            )?
            .query_row(params![id, now], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((message_id, attempts)) = row else {
            continue;
        };
        event(
            conn,
            id,
            now,
            GATEWAY,
            Some(DeliveryState::Queued),
            DeliveryState::InFlight,
            &format!("forsøk {attempts} / attempt {attempts}"),
        )?;
        sync_message_state(
            conn,
            &message_id,
            now,
            GATEWAY,
            "levering startet / delivery started",
        )?;
        claimed.push(id);
    }
    Ok(claimed)
}

struct Current {
    message_id: String,
    kind: DeliveryKind,
    state: DeliveryState,
    receiver_her: String,
    patient_key: Option<String>,
}

fn current(conn: &Connection, id: i64) -> Result<Current, StoreError> {
    conn.prepare_cached(
        "SELECT message_id, kind, state, receiver_her, patient_key FROM deliveries WHERE id = ?1",
    )?
    .query_and_then([id], |row| {
        Ok::<_, StoreError>(Current {
            message_id: row.get(0)?,
            kind: dkind(&row.get::<_, String>(1)?)?,
            state: dstate(&row.get::<_, String>(2)?)?,
            receiver_her: row.get(3)?,
            patient_key: row.get(4)?,
        })
    })?
    .next()
    .transpose()?
    .ok_or(StoreError::NoDelivery(id))
}

/// The state an AppRec status puts a delivery in.
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
fn insert_receipt(
    conn: &Connection,
    delivery_id: i64,
    message_id: &str,
    at: Millis,
    r: &NewReceipt,
) -> Result<i64, StoreError> {
    let body = lz4_flex::compress_prepend_size(&r.body);
    conn.prepare_cached(
        "INSERT INTO receipts (message_id, delivery_id, received_at, status, apprec_msg_id,
             from_her, via, codec, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        message_id,
        delivery_id,
        at,
        i64::from(r.status),
        r.apprec_msg_id,
        r.from_her,
        r.via,
        CODEC_LZ4,
        body
    ])?;
    let receipt_id = conn.last_insert_rowid();
    if let Some(to) = &r.callback_to {
        conn.prepare_cached(
            "INSERT INTO deliveries (message_id, kind, receiver_her, role, patient_key, state,
                 created_at, updated_at, window_start, next_attempt_at, receipt_id)
             VALUES (?1, 'receipt', ?2, 'callback', NULL, 'queued', ?3, ?3, ?3, ?3, ?4)",
        )?
        .execute(params![message_id, to, at, receipt_id])?;
        let id = conn.last_insert_rowid();
        event(
            conn,
            id,
            at,
            GATEWAY,
            None,
            DeliveryState::Queued,
            &format!(
                "kvittering fra mottaker sendes til avsenders system (levering {delivery_id}) / receiver's receipt goes to the sender's system (delivery {delivery_id})"
            ),
        )?;
    }
    Ok(receipt_id)
}

/// Moves a delivery and records the event; the message's state follows.
#[allow(clippy::too_many_arguments)]
fn set_state(
    conn: &Connection,
    id: i64,
    cur: &Current,
    to: DeliveryState,
    at: Millis,
    actor: &str,
    reason: &str,
    sql_extra: &str,
    extra: &[Value],
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE deliveries SET state = ?, updated_at = max(updated_at, ?){sql_extra} WHERE id = ?"
    );
    let mut args: Vec<Value> = vec![Value::Text(to.as_str().into()), Value::Integer(at)];
    args.extend_from_slice(extra);
    args.push(Value::Integer(id));
    conn.prepare_cached(&sql)?.execute(params_from_iter(args))?;
    let patient = cur.patient_key.as_deref();
    if active(cur.state) && !active(to) {
        release_next(conn, &cur.receiver_her, patient)?;
    } else if !active(cur.state) && active(to) {
        // Back in the queue (a replay): behind whatever is there now.
        let held = has_active(conn, &cur.receiver_her, patient, id)?;
        conn.prepare_cached("UPDATE deliveries SET held = ?1 WHERE id = ?2")?
            .execute(params![i64::from(held), id])?;
    }
    event(conn, id, at, actor, Some(cur.state), to, reason)?;
    if cur.kind == DeliveryKind::Message {
        sync_message_state(conn, &cur.message_id, at, actor, reason)?;
    }
    Ok(())
}

pub(super) fn finish(conn: &Connection, a: &Attempt) -> Result<DeliveryState, StoreError> {
    let id = a.delivery_id;
    let cur = current(conn, id)?;
    if cur.state != DeliveryState::InFlight {
        // Answered asynchronously, cancelled or replayed meanwhile: keep it.
        let what = match &a.result {
            AttemptResult::Delivered => "levert / delivered".to_string(),
            AttemptResult::Answered(r) => format!("kvittering {} / receipt", r.status),
            AttemptResult::Retry { error, .. } | AttemptResult::DeadLetter { error } => {
                error.clone()
            }
        };
        if let AttemptResult::Answered(r) = &a.result {
            insert_receipt(conn, id, &cur.message_id, a.at, r)?;
        }
        event(
            conn,
            id,
            a.at,
            GATEWAY,
            Some(cur.state),
            cur.state,
            &format!(
                "forsøket endte etter at tilstanden var endret ({what}) / the attempt ended after the state had changed ({what})"
            ),
        )?;
        return Ok(cur.state);
    }
    match &a.result {
        AttemptResult::Delivered => {
            let reason = if cur.kind == DeliveryKind::Receipt {
                "kvitteringen er levert til avsenders system / the receipt was delivered to the sender's system"
            } else {
                "levert; venter på applikasjonskvittering / delivered; waiting for the application receipt"
            };
            set_state(
                conn,
                id,
                &cur,
                DeliveryState::Delivered,
                a.at,
                GATEWAY,
                reason,
                ", delivered_at = ?, next_attempt_at = NULL, last_error = NULL",
                &[Value::Integer(a.at)],
            )?;
            Ok(DeliveryState::Delivered)
        }
        AttemptResult::Answered(r) => {
            insert_receipt(conn, id, &cur.message_id, a.at, r)?;
            let to = answered_state(r.status);
            let words = status_words(r.status);
            set_state(
                conn,
                id,
                &cur,
                to,
                a.at,
                GATEWAY,
                &format!("mottakeren svarte med kvittering: {words} / the receiver answered with a receipt: {words}"),
                ", delivered_at = ?, answered_at = ?, next_attempt_at = NULL, last_error = NULL",
                &[Value::Integer(a.at), Value::Integer(a.at)],
            )?;
            Ok(to)
        }
        AttemptResult::Retry {
            next_attempt_at,
            error,
        } => {
            set_state(
                conn,
                id,
                &cur,
                DeliveryState::Queued,
                a.at,
                GATEWAY,
                error,
                ", next_attempt_at = ?, last_error = ?",
                &[Value::Integer(*next_attempt_at), Value::Text(error.clone())],
            )?;
            Ok(DeliveryState::Queued)
        }
        AttemptResult::DeadLetter { error } => {
            set_state(
                conn,
                id,
                &cur,
                DeliveryState::DeadLetter,
                a.at,
                GATEWAY,
                &format!("gitt opp / gave up: {error}"),
                ", next_attempt_at = NULL, last_error = ?",
                &[Value::Text(error.clone())],
            )?;
            insert_alert(
                conn,
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
            )?;
            Ok(DeliveryState::DeadLetter)
        }
    }
}

pub(super) fn recover(conn: &Connection, now: Millis) -> Result<u64, StoreError> {
    let ids = conn
        .prepare_cached("SELECT id FROM deliveries WHERE state = 'in_flight' ORDER BY id")?
        .query_map([], |row| row.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for &id in &ids {
        let cur = current(conn, id)?;
        set_state(
            conn,
            id,
            &cur,
            DeliveryState::Queued,
            now,
            GATEWAY,
            "gatewayen stoppet under et forsøk; sendes på nytt (mottakeren kan få den to ganger og kjenner den igjen på MsgId) / the gateway stopped during an attempt; it is sent again (the receiver may get it twice and knows it by its MsgId)",
            ", next_attempt_at = ?",
            &[Value::Integer(now)],
        )?;
    }
    Ok(ids.len() as u64)
}

pub(super) fn record_receipt(
    conn: &Connection,
    id: i64,
    at: Millis,
    actor: &str,
    r: &NewReceipt,
) -> Result<ReceiptOutcome, StoreError> {
    let cur = current(conn, id)?;
    if let Some(apprec_id) = &r.apprec_msg_id {
        let existing: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM receipts WHERE delivery_id = ?1 AND apprec_msg_id = ?2",
            )?
            .query_row(params![id, apprec_id], |row| row.get(0))
            .optional()?;
        if let Some(receipt_id) = existing {
            return Ok(ReceiptOutcome::Duplicate { receipt_id });
        }
    }
    let receipt_id = insert_receipt(conn, id, &cur.message_id, at, r)?;
    let words = status_words(r.status);
    if cur.state == DeliveryState::Cancelled {
        event(
            conn,
            id,
            at,
            actor,
            Some(cur.state),
            cur.state,
            &format!("kvittering mottatt etter kansellering: {words} / receipt received after cancellation: {words}"),
        )?;
        return Ok(ReceiptOutcome::Stored {
            receipt_id,
            state: cur.state,
        });
    }
    let to = answered_state(r.status);
    set_state(
        conn,
        id,
        &cur,
        to,
        at,
        actor,
        &format!("mottakeren sendte kvittering: {words} / the receiver sent a receipt: {words}"),
        ", answered_at = ?, delivered_at = coalesce(delivered_at, ?), next_attempt_at = NULL",
        &[Value::Integer(at), Value::Integer(at)],
    )?;
    Ok(ReceiptOutcome::Stored {
        receipt_id,
        state: to,
    })
}

pub(super) fn replay(conn: &Connection, a: &OperatorAction) -> Result<DeliveryState, StoreError> {
    let cur = current(conn, a.delivery_id)?;
    if !cur.state.replayable() {
        return Err(StoreError::NotAllowed {
            id: a.delivery_id,
            state: cur.state.as_str().into(),
            what: "only dead_letter, cancelled and delivered deliveries can be replayed",
        });
    }
    let deleted: bool = conn
        .prepare_cached("SELECT state = 'deleted' FROM messages WHERE id = ?1")?
        .query_row([&cur.message_id], |row| row.get(0))?;
    if deleted {
        return Err(StoreError::NotAllowed {
            id: a.delivery_id,
            state: cur.state.as_str().into(),
            what: "its message was deleted by retention",
        });
    }
    set_state(
        conn,
        a.delivery_id,
        &cur,
        DeliveryState::Queued,
        a.at,
        &a.actor,
        &format!("sendes på nytt / replayed: {}", a.reason),
        ", attempts = 0, window_start = ?, next_attempt_at = ?, apprec_overdue = 0",
        &[Value::Integer(a.at), Value::Integer(a.at)],
    )?;
    Ok(DeliveryState::Queued)
}

pub(super) fn cancel(conn: &Connection, a: &OperatorAction) -> Result<DeliveryState, StoreError> {
    let cur = current(conn, a.delivery_id)?;
    if !cur.state.cancellable() {
        return Err(StoreError::NotAllowed {
            id: a.delivery_id,
            state: cur.state.as_str().into(),
            what: "answered or cancelled deliveries cannot be cancelled",
        });
    }
    set_state(
        conn,
        a.delivery_id,
        &cur,
        DeliveryState::Cancelled,
        a.at,
        &a.actor,
        &format!("kansellert / cancelled: {}", a.reason),
        ", next_attempt_at = NULL",
        &[],
    )?;
    Ok(DeliveryState::Cancelled)
}

/// Delivered messages whose AppRec is overdue and not yet flagged, the
/// first 1 000 by id. Through `deliveries_waiting`, which holds only
/// delivered messages not yet flagged, named so that the planner cannot
/// take the state index for the order by id: that read every delivered
/// delivery the store held, on the writer, every sweep (80 ms on a 2.4 GB
/// store; RELIABILITY.md, Soak, finding 9). What it reads is what waits
/// longer than the timeout, and each sweep flags what it finds.
pub(super) const OVERDUE_UNFLAGGED: &str = "SELECT id, message_id, receiver_her
    FROM deliveries INDEXED BY deliveries_waiting
    WHERE state = 'delivered' AND apprec_overdue = 0 AND kind = 'message'
      AND delivered_at < ?1
    ORDER BY id LIMIT 1000";

pub(super) fn flag_overdue(
    conn: &Connection,
    now: Millis,
    before: Millis,
) -> Result<Vec<i64>, StoreError> {
    let rows = conn
        .prepare_cached(OVERDUE_UNFLAGGED)?
        .query_map([before], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, message_id, receiver) in &rows {
        conn.prepare_cached("UPDATE deliveries SET apprec_overdue = 1 WHERE id = ?1")?
            .execute([id])?;
        event(
            conn,
            *id,
            now,
            GATEWAY,
            Some(DeliveryState::Delivered),
            DeliveryState::Delivered,
            "levert, men ingen applikasjonskvittering kom i tide / delivered, but no application receipt came in time",
        )?;
        insert_alert(
            conn,
            now,
            "apprec_overdue",
            &format!("delivery {id}"),
            &format!("Melding {message_id} er levert til {receiver}, men mottakeren har ikke sendt applikasjonskvittering i tide (levering {id})."),
            &format!("Message {message_id} was delivered to {receiver}, but the receiver has not sent an application receipt in time (delivery {id})."),
        )?;
    }
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub(super) fn add_alert(
    conn: &Connection,
    kind: &str,
    subject: &str,
    nb: &str,
    en: &str,
    at: Millis,
) -> Result<(), StoreError> {
    insert_alert(conn, at, kind, subject, nb, en)
}

// --- Reads -----------------------------------------------------------------

/// The deliveries whose time has come, oldest first: read from the partial
/// index `deliveries_ready`, which holds exactly the queued and not held
/// ones in this order. Named, because without it SQLite's planner (no
/// ANALYZE; the store never runs it) prefers the equality on `state` in
/// `deliveries_state` and sorts every queued delivery: with a backlog of
/// 445,925 queued that took 0.39 s per call instead of 0.7 ms, and the
/// scheduler calls it all the time (docs/RELIABILITY.md, Soak, finding 6).
pub(super) const DUE: &str =
    "SELECT d.id, d.message_id, d.kind, d.receiver_her, d.attempts, d.window_start,
            d.receipt_id, m.msg_id, m.sender_her, m.msg_type
     FROM deliveries d INDEXED BY deliveries_ready JOIN messages m ON m.id = d.message_id
     WHERE d.state = 'queued' AND d.held = 0 AND d.next_attempt_at <= ?1
     ORDER BY d.next_attempt_at, d.id
     LIMIT ?2";

/// When the next queued delivery comes due: the first entry of
/// `deliveries_ready` after `?1` (named for the reason given at [`DUE`]).
pub(super) const NEXT_DUE: &str = "SELECT min(next_attempt_at) FROM deliveries
     INDEXED BY deliveries_ready
     WHERE state = 'queued' AND held = 0 AND next_attempt_at > ?1";

pub(super) fn due(conn: &Connection, now: Millis, limit: u32) -> Result<Vec<Due>, StoreError> {
    conn.prepare_cached(DUE)?
        .query_and_then(params![now, i64::from(limit)], |row| {
            Ok::<_, StoreError>(Due {
                id: row.get(0)?,
                message_id: row.get(1)?,
                kind: dkind(&row.get::<_, String>(2)?)?,
                receiver_her: row.get(3)?,
                attempts: attempts_from_db(row.get(4)?),
                window_start: row.get(5)?,
                receipt_id: row.get(6)?,
                msg_id: row.get(7)?,
                sender_her: row.get(8)?,
                msg_type: row.get(9)?,
            })
        })?
        .collect()
}

pub(super) fn next_due(conn: &Connection, after: Millis) -> Result<Option<Millis>, StoreError> {
    Ok(conn
        .prepare_cached(NEXT_DUE)?
        .query_row([after], |row| row.get::<_, Option<i64>>(0))?)
}

pub(super) fn receipt_target(
    conn: &Connection,
    original: &str,
    hers: &[String],
) -> Result<Option<ReceiptTarget>, StoreError> {
    if hers.is_empty() {
        return Ok(None);
    }
    let marks = vec!["?"; hers.len()].join(", ");
    let sql = format!(
        "SELECT d.id, d.message_id, d.state, m.sender_her, m.system
         FROM deliveries d JOIN messages m ON m.id = d.message_id
         WHERE m.msg_id = ? AND d.kind = 'message' AND d.receiver_her IN ({marks})
           AND m.state <> 'deleted'
         ORDER BY d.id DESC LIMIT 1"
    );
    let mut args = vec![Value::Text(original.to_string())];
    args.extend(hers.iter().map(|h| Value::Text(h.clone())));
    conn.prepare_cached(&sql)?
        .query_and_then(params_from_iter(args), |row| {
            Ok::<_, StoreError>(ReceiptTarget {
                delivery_id: row.get(0)?,
                message_id: row.get(1)?,
                state: dstate(&row.get::<_, String>(2)?)?,
                sender_her: row.get(3)?,
                system: row.get(4)?,
            })
        })?
        .next()
        .transpose()
}

const DELIVERY_COLUMNS: &str = "d.id, d.message_id, d.kind, d.receiver_her, d.role, d.state, \
     d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.delivered_at, d.answered_at, \
     d.last_error, d.apprec_overdue, d.receipt_id, m.msg_type, m.sender_her";

fn delivery_from_row(row: &rusqlite::Row<'_>) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.get(0)?,
        message_id: row.get(1)?,
        kind: dkind(&row.get::<_, String>(2)?)?,
        receiver_her: row.get(3)?,
        role: row.get(4)?,
        state: dstate(&row.get::<_, String>(5)?)?,
        attempts: attempts_from_db(row.get(6)?),
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        next_attempt_at: row.get(9)?,
        delivered_at: row.get(10)?,
        answered_at: row.get(11)?,
        last_error: row.get(12)?,
        apprec_overdue: row.get::<_, i64>(13)? != 0,
        receipt_id: row.get(14)?,
        msg_type: row.get(15)?,
        sender_her: row.get(16)?,
    })
}

fn events_of(conn: &Connection, id: i64) -> Result<Vec<DeliveryEvent>, StoreError> {
    conn.prepare_cached(
        "SELECT at, actor, from_state, to_state, reason FROM delivery_events
         WHERE delivery_id = ?1 ORDER BY seq",
    )?
    .query_and_then([id], |row| {
        let from: Option<String> = row.get(2)?;
        Ok::<_, StoreError>(DeliveryEvent {
            at: row.get(0)?,
            actor: row.get(1)?,
            from: from.as_deref().map(dstate).transpose()?,
            to: dstate(&row.get::<_, String>(3)?)?,
            reason: row.get(4)?,
        })
    })?
    .collect()
}

pub(super) fn deliveries_of(
    conn: &mut Connection,
    message_id: &str,
) -> Result<Vec<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
    let tx = conn.transaction()?;
    let list = tx
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE d.message_id = ?1 ORDER BY d.id"
        ))?
        .query_and_then([message_id], delivery_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(list.len());
    for d in list {
        let events = events_of(&tx, d.id)?;
        out.push((d, events));
    }
    tx.commit()?;
    Ok(out)
}

pub(super) fn delivery(
    conn: &mut Connection,
    id: i64,
) -> Result<Option<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
    let tx = conn.transaction()?;
    let d = tx
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE d.id = ?1"
        ))?
        .query_and_then([id], delivery_from_row)?
        .next()
        .transpose()?;
    let out = match d {
        Some(d) => {
            let events = events_of(&tx, d.id)?;
            Some((d, events))
        }
        None => None,
    };
    tx.commit()?;
    Ok(out)
}

pub(super) fn list(conn: &Connection, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
    let limit = match q.limit {
        0 => 100,
        n => n.min(1000),
    };
    let mut sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN messages m ON m.id = d.message_id
         WHERE 1 = 1"
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(s) = q.state {
        sql.push_str(" AND d.state = ?");
        args.push(Value::Text(s.as_str().into()));
    }
    if let Some(r) = &q.receiver_her {
        sql.push_str(" AND d.receiver_her = ?");
        args.push(Value::Text(r.clone()));
    }
    if let Some(m) = &q.message_id {
        sql.push_str(" AND d.message_id = ?");
        args.push(Value::Text(m.clone()));
    }
    if q.overdue_only {
        sql.push_str(" AND d.apprec_overdue = 1 AND d.state = 'delivered'");
    }
    if let Some(b) = q.before {
        sql.push_str(" AND d.id < ?");
        args.push(Value::Integer(b));
    }
    sql.push_str(" ORDER BY d.id DESC LIMIT ?");
    args.push(Value::Integer(i64::from(limit)));
    conn.prepare_cached(&sql)?
        .query_and_then(params_from_iter(args), delivery_from_row)?
        .collect()
}

pub(super) fn receipts_of(conn: &Connection, message_id: &str) -> Result<Vec<Receipt>, StoreError> {
    conn.prepare_cached(
        "SELECT id, message_id, delivery_id, received_at, status, apprec_msg_id, from_her, via
         FROM receipts WHERE message_id = ?1 ORDER BY id",
    )?
    .query_and_then([message_id], |row| {
        Ok::<_, StoreError>(Receipt {
            id: row.get(0)?,
            message_id: row.get(1)?,
            delivery_id: row.get(2)?,
            received_at: row.get(3)?,
            status: super::status_from_db(row.get(4)?)?,
            apprec_msg_id: row.get(5)?,
            from_her: row.get(6)?,
            via: row.get(7)?,
        })
    })?
    .collect()
}

pub(super) fn receipt_body(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = conn
        // A body deleted by retention is empty; an AppRec never is.
        .prepare_cached("SELECT codec, body FROM receipts WHERE id = ?1 AND length(body) > 0")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    row.map(|(codec, body)| decode_body(codec, body))
        .transpose()
}

pub(super) fn alerts(conn: &Connection, limit: u32) -> Result<Vec<Alert>, StoreError> {
    conn.prepare_cached(
        "SELECT id, at, kind, subject, text_nb, text_en FROM alerts ORDER BY id DESC LIMIT ?1",
    )?
    .query_and_then([i64::from(limit.clamp(1, 1000))], |row| {
        Ok::<_, StoreError>(Alert {
            id: row.get(0)?,
            at: row.get(1)?,
            kind: row.get(2)?,
            subject: row.get(3)?,
            text_nb: row.get(4)?,
            text_en: row.get(5)?,
        })
    })?
    .collect()
}

pub(super) fn stats(conn: &Connection, since: Millis) -> Result<DeliveryStats, StoreError> {
    let by_state = conn
        .prepare_cached("SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state")?
        .query_and_then([], |row| {
            Ok::<_, StoreError>((
                dstate(&row.get::<_, String>(0)?)?,
                u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut lat = conn
        .prepare_cached(
            "SELECT d.answered_at - m.received_at FROM deliveries d
             JOIN messages m ON m.id = d.message_id
             WHERE d.kind = 'message' AND d.answered_at >= ?1",
        )?
        .query_map([since], |row| row.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    lat.sort_unstable();
    let pick = |q: f64| -> i64 {
        let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
        lat[i.min(lat.len() - 1)]
    };
    let latency_ms = (!lat.is_empty()).then(|| [pick(0.5), pick(0.9), pick(0.99), pick(1.0)]);
    Ok(DeliveryStats {
        by_state,
        answered: to_i64(lat.len()).map(|n| n as u64)?,
        latency_ms,
    })
}
