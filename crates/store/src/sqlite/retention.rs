//! Retention in SQLite: deleting expired messages down to a tombstone,
//! holds, the access log's own retention, and incremental vacuum.
//!
//! What a deleted message leaves (docs/RELIABILITY.md, "Retention"): its
//! `messages` row as a tombstone — id, times, sender system, sender and
//! receiver HER-ids, type, standard, size, SHA-256, verdict, AppRec status
//! and the counts of findings, MsgId, state `deleted` — and every history
//! and delivery event row. Gone: the original and the AppRec sent, the
//! receivers' AppRec bodies, the findings, the patient key (on the message
//! and its deliveries), the parties and name words it was indexed under,
//! its patient-flow fact (a deleted message places nothing in a stay and
//! gives no baseline), and its idempotency key (a message sent again after its first copy was
//! deleted is a new message).

use rusqlite::{params, Connection};

use super::{append_history, state_from_db};
use crate::{Millis, PurgedMessage, RetentionRule, Space, State, StoreError};

/// The delivery states that keep a message from being deleted: still to
/// be sent, being sent, or waiting for a person.
const OPEN_DELIVERIES: &str = "'queued', 'in_flight', 'dead_letter'";

pub(super) fn purge(
    conn: &Connection,
    rules: &[RetentionRule],
    now: Millis,
    limit: u32,
) -> Result<Vec<PurgedMessage>, StoreError> {
    let mut purged = Vec::new();
    for rule in rules {
        let Some(cutoff) = rule.cutoff(now) else {
            continue;
        };
        let left = i64::from(limit) - purged.len() as i64;
        if left <= 0 {
            break;
        }
        let ids = conn
            .prepare_cached(&format!(
                "SELECT m.id, m.state FROM messages m
                 WHERE m.state = ?1 AND m.updated_at < ?2
                   AND NOT EXISTS (SELECT 1 FROM retention_holds h WHERE h.message_id = m.id)
                   AND NOT EXISTS (SELECT 1 FROM deliveries d
                       WHERE d.message_id = m.id AND d.state IN ({OPEN_DELIVERIES}))
                 ORDER BY m.updated_at, m.id LIMIT ?3"
            ))?
            .query_and_then(params![rule.state.as_str(), cutoff, left], |row| {
                Ok::<_, StoreError>((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (id, state) in ids {
            let from = state_from_db(&state)?;
            // Belt and braces: the query selected only this rule's state.
            if !from.deletable() {
                continue;
            }
            delete_one(conn, &id, from, rule.days, now)?;
            purged.push(PurgedMessage {
                id,
                from,
                days: rule.days,
            });
        }
    }
    Ok(purged)
}

fn delete_one(
    conn: &Connection,
    id: &str,
    from: State,
    days: u32,
    now: Millis,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE messages SET state = 'deleted', updated_at = max(updated_at, ?1),
                 patient_key = NULL, idempotency_key = NULL, findings_json = '[]',
                 next_attempt_at = NULL
             WHERE id = ?2 AND state = ?3",
        )?
        .execute(params![now, id, from.as_str()])?;
    if changed == 0 {
        return Err(StoreError::StateConflict {
            id: id.to_string(),
            expected: from.as_str().into(),
            actual: "other".into(),
        });
    }
    for sql in [
        "DELETE FROM bodies WHERE message_id = ?1",
        "DELETE FROM name_terms WHERE message_id = ?1",
        "DELETE FROM message_parties WHERE message_id = ?1",
        "DELETE FROM flow_facts WHERE message_id = ?1",
        "UPDATE receipts SET body = x'', codec = 0 WHERE message_id = ?1",
        "UPDATE deliveries SET patient_key = NULL WHERE message_id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([id])?;
    }
    append_history(
        conn,
        id,
        now,
        "gateway",
        Some(from),
        State::Deleted,
        &format!("oppbevaringstid: {days} dager / retention: {days} days"),
    )
}

pub(super) fn hold(
    conn: &Connection,
    ids: &[String],
    reason: &str,
    at: Millis,
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO retention_holds (message_id, reason, at)
         SELECT id, ?2, ?3 FROM messages WHERE id = ?1 AND state <> 'deleted'",
    )?;
    let mut n = 0;
    for id in ids {
        n += stmt.execute(params![id, reason, at])? as u64;
    }
    Ok(n)
}

pub(super) fn release(conn: &Connection, ids: &[String], reason: &str) -> Result<u64, StoreError> {
    let mut stmt =
        conn.prepare_cached("DELETE FROM retention_holds WHERE message_id = ?1 AND reason = ?2")?;
    let mut n = 0;
    for id in ids {
        n += stmt.execute(params![id, reason])? as u64;
    }
    Ok(n)
}

/// The only code that deletes from the access log. The trigger
/// `access_log_append_only_d` refuses any delete of an entry at or after
/// the cut-off, so the cut-off is moved first (forward only: another
/// trigger refuses moving it back), then the old entries go.
pub(super) fn purge_access_log(
    conn: &Connection,
    before: Millis,
    limit: u32,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "UPDATE retention_cutoffs SET access_log_before = max(access_log_before, ?1) WHERE id = 1",
    )?
    .execute([before])?;
    let n = conn
        .prepare_cached(
            "DELETE FROM access_log WHERE seq IN (
                 SELECT seq FROM access_log WHERE at < ?1 ORDER BY at LIMIT ?2)",
        )?
        .execute(params![before, i64::from(limit)])?;
    Ok(n as u64)
}

pub(super) fn incremental_vacuum(conn: &Connection, pages: u32) -> Result<(), StoreError> {
    if pages > 0 {
        // A pragma's argument cannot be bound; `pages` is a number. Each
        // step of the statement frees one page: run it to the end.
        let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
    }
    Ok(())
}

pub(super) fn space(conn: &Connection) -> Result<Space, StoreError> {
    let get = |name: &str| -> Result<i64, StoreError> {
        Ok(conn.pragma_query_value(None, name, |row| row.get(0))?)
    };
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Space {
        page_size: n(get("page_size")?),
        page_count: n(get("page_count")?),
        freelist_count: n(get("freelist_count")?),
        incremental: get("auto_vacuum")? == 2,
    })
}
