//! Retention, space, and the operators' and metrics' views of the queues
//! in PostgreSQL.
//!
//! What a deleted message leaves is what the SQLite backend leaves (see
//! `sqlite/retention.rs`): a tombstone row in state `deleted`, its history
//! and delivery events; gone are the bodies, receipt bodies, findings,
//! patient keys, parties, name words, flow fact and idempotency key.

use std::collections::BTreeMap;

use super::messages::{append_history, state_from_db};
use super::{exec, row, rows, Fail, Tx, R};
use crate::delivery::dstate;
use crate::ops::RECENT_MS;
use crate::{
    DeliveryState, DestinationStats, Millis, PurgedMessage, QueueGauges, ReceiverGauges,
    RetentionRule, Space, State, StoreError,
};

/// The delivery states that keep a message from being deleted.
const OPEN_DELIVERIES: &str = "'queued', 'in_flight', 'dead_letter'";

pub(super) async fn purge(
    tx: &Tx<'_>,
    rules: &[RetentionRule],
    now: Millis,
    limit: u32,
) -> R<Vec<PurgedMessage>> {
    let mut purged = Vec::new();
    for rule in rules {
        let Some(cutoff) = rule.cutoff(now) else {
            continue;
        };
        let left = i64::from(limit) - purged.len() as i64;
        if left <= 0 {
            break;
        }
        // The candidates are locked (skipping any another transaction is
        // changing or holding right now) and the conditions re-checked
        // under the lock: a hold takes the message row FOR KEY SHARE, a
        // delivery's change FOR NO KEY UPDATE.
        let found = rows(
            tx,
            &format!(
                "SELECT m.id, m.state FROM messages m
                 WHERE m.state = $1 AND m.updated_at < $2
                   AND NOT EXISTS (SELECT 1 FROM retention_holds h WHERE h.message_id = m.id)
                   AND NOT EXISTS (SELECT 1 FROM deliveries d
                       WHERE d.message_id = m.id AND d.state IN ({OPEN_DELIVERIES}))
                 ORDER BY m.updated_at, m.id LIMIT $3
                 FOR UPDATE OF m SKIP LOCKED"
            ),
            &[&rule.state.as_str(), &cutoff, &left],
        )
        .await?;
        for r in &found {
            let id: String = r.try_get(0)?;
            let from = state_from_db(&r.try_get::<_, String>(1)?)?;
            if !from.deletable() {
                continue;
            }
            // Re-checked now that the row is locked (READ COMMITTED: this
            // statement sees what committed while the lock was awaited).
            let still = row(
                tx,
                &format!(
                    "SELECT 1 FROM messages m WHERE m.id = $1 AND m.state = $2 AND m.updated_at < $3
                       AND NOT EXISTS (SELECT 1 FROM retention_holds h WHERE h.message_id = m.id)
                       AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.message_id = m.id AND d.state IN ({OPEN_DELIVERIES}))"
                ),
                &[&id, &from.as_str(), &cutoff],
            )
            .await?;
            if still.is_none() {
                continue;
            }
            delete_one(tx, &id, from, rule.days, now).await?;
            purged.push(PurgedMessage {
                id,
                from,
                days: rule.days,
            });
        }
    }
    Ok(purged)
}

async fn delete_one(tx: &Tx<'_>, id: &str, from: State, days: u32, now: Millis) -> R<()> {
    let changed = exec(
        tx,
        "UPDATE messages SET state = 'deleted', updated_at = greatest(updated_at, $1),
             patient_key = NULL, idempotency_key = NULL, findings_json = '[]'
         WHERE id = $2 AND state = $3",
        &[&now, &id, &from.as_str()],
    )
    .await?;
    if changed == 0 {
        return Err(Fail::Store(StoreError::StateConflict {
            id: id.to_string(),
            expected: from.as_str().into(),
            actual: "other".into(),
        }));
    }
    for sql in [
        "DELETE FROM bodies WHERE message_id = $1",
        "DELETE FROM name_terms WHERE message_id = $1",
        "DELETE FROM message_parties WHERE message_id = $1",
        "DELETE FROM flow_facts WHERE message_id = $1",
        "UPDATE receipts SET body = NULL WHERE message_id = $1",
        "UPDATE deliveries SET patient_key = NULL WHERE message_id = $1",
    ] {
        exec(tx, sql, &[&id]).await?;
    }
    append_history(
        tx,
        id,
        now,
        "gateway",
        Some(from),
        State::Deleted,
        &format!("oppbevaringstid: {days} dager / retention: {days} days"),
    )
    .await
}

pub(super) async fn hold(tx: &Tx<'_>, ids: &[String], reason: &str, at: Millis) -> R<u64> {
    let mut n = 0;
    for id in ids {
        // FOR KEY SHARE (what the foreign key takes anyway, taken before
        // the state is read): a purge that locked this message first is
        // waited for and its `deleted` seen; a purge coming later skips it.
        n += exec(
            tx,
            "INSERT INTO retention_holds (message_id, reason, at)
             SELECT id, $2::text, $3::bigint FROM messages
             WHERE id = $1 AND state <> 'deleted' FOR KEY SHARE
             ON CONFLICT DO NOTHING",
            &[id, &reason, &at],
        )
        .await?;
    }
    Ok(n)
}

pub(super) async fn release(tx: &Tx<'_>, ids: &[String], reason: &str) -> R<u64> {
    let mut n = 0;
    for id in ids {
        n += exec(
            tx,
            "DELETE FROM retention_holds WHERE message_id = $1 AND reason = $2",
            &[id, &reason],
        )
        .await?;
    }
    Ok(n)
}

/// The only code that deletes from the access log. Its delete trigger
/// refuses any entry at or after the cut-off, so the cut-off is moved
/// first (forward only: another trigger refuses moving it back).
pub(super) async fn purge_access_log(tx: &Tx<'_>, before: Millis, limit: u32) -> R<u64> {
    exec(
        tx,
        "UPDATE retention_cutoffs SET access_log_before = greatest(access_log_before, $1)
         WHERE id = 1",
        &[&before],
    )
    .await?;
    let limit = i64::from(limit);
    exec(
        tx,
        "DELETE FROM access_log WHERE seq IN (
             SELECT seq FROM access_log WHERE at < $1 ORDER BY at LIMIT $2)",
        &[&before, &limit],
    )
    .await
}

/// The database's size as pages of `block_size` (PostgreSQL keeps no free
/// list the store could give back; autovacuum manages its space).
pub(super) async fn space(tx: &Tx<'_>) -> R<Space> {
    let r = row(
        tx,
        "SELECT current_setting('block_size')::bigint, pg_database_size(current_database())",
        &[],
    )
    .await?
    .ok_or_else(|| StoreError::Database("no size".into()))?;
    let block: i64 = r.try_get(0)?;
    let size: i64 = r.try_get(1)?;
    let page_size = u64::try_from(block).unwrap_or(8192).max(1);
    let bytes = u64::try_from(size).unwrap_or(0);
    Ok(Space {
        page_size,
        page_count: bytes.div_ceil(page_size),
        freelist_count: 0,
        incremental: false,
    })
}

pub(super) async fn queue_gauges(tx: &Tx<'_>) -> R<QueueGauges> {
    let list = rows(
        tx,
        "SELECT receiver_her, state, count(*), min(created_at) FROM deliveries
         WHERE state IN ('queued', 'in_flight', 'dead_letter')
            OR (state = 'delivered' AND apprec_overdue)
         GROUP BY receiver_her, state ORDER BY receiver_her",
        &[],
    )
    .await?;
    let mut receivers: Vec<ReceiverGauges> = Vec::new();
    for r in &list {
        let her: String = r.try_get(0)?;
        let state = dstate(&r.try_get::<_, String>(1)?)?;
        let n = u64::try_from(r.try_get::<_, i64>(2)?).unwrap_or(0);
        let oldest: Option<i64> = r.try_get(3)?;
        if receivers.last().is_none_or(|g| g.receiver_her != her) {
            receivers.push(ReceiverGauges {
                receiver_her: her,
                ..Default::default()
            });
        }
        let Some(g) = receivers.last_mut() else {
            continue;
        };
        match state {
            DeliveryState::Queued => {
                g.queued = n;
                g.oldest_queued_at = oldest;
            }
            DeliveryState::InFlight => {
                g.in_flight = n;
                g.oldest_in_flight_at = oldest;
            }
            DeliveryState::DeadLetter => g.dead_letters = n,
            DeliveryState::Delivered => g.apprecs_overdue = n,
            _ => {}
        }
    }
    let size: i64 = row(tx, "SELECT pg_database_size(current_database())", &[])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?
        .unwrap_or(0);
    Ok(QueueGauges {
        receivers,
        size_bytes: u64::try_from(size).unwrap_or(0),
    })
}

fn entry(by: &mut BTreeMap<String, DestinationStats>, her: String) -> &mut DestinationStats {
    by.entry(her.clone()).or_insert_with(|| DestinationStats {
        receiver_her: her,
        ..DestinationStats::default()
    })
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// One row per destination ever delivered to. The transaction is READ
/// COMMITTED, so the counts may come from moments apart (milliseconds).
pub(super) async fn destination_stats(tx: &Tx<'_>, now: Millis) -> R<Vec<DestinationStats>> {
    let since = now.saturating_sub(RECENT_MS);
    let mut by: BTreeMap<String, DestinationStats> = BTreeMap::new();
    // Every receiver ever delivered to: a loose index scan of
    // deliveries_receiver.
    for r in rows(
        tx,
        "WITH RECURSIVE r(her) AS (
             SELECT min(receiver_her) FROM deliveries
             UNION ALL
             SELECT (SELECT min(receiver_her) FROM deliveries WHERE receiver_her > r.her)
             FROM r WHERE r.her IS NOT NULL)
         SELECT her FROM r WHERE her IS NOT NULL",
        &[],
    )
    .await?
    {
        entry(&mut by, r.try_get(0)?);
    }
    for r in rows(
        tx,
        "SELECT state, receiver_her, count(*), min(window_start) FROM deliveries
         WHERE state IN ('queued', 'in_flight', 'dead_letter')
         GROUP BY state, receiver_her",
        &[],
    )
    .await?
    {
        let state = dstate(&r.try_get::<_, String>(0)?)?;
        let e = entry(&mut by, r.try_get(1)?);
        let n = count(r.try_get(2)?);
        match state {
            DeliveryState::Queued => {
                e.queued = n;
                e.oldest_queued_at = r.try_get(3)?;
            }
            DeliveryState::InFlight => e.in_flight = n,
            _ => e.dead_letters = n,
        }
    }
    for r in rows(
        tx,
        "SELECT receiver_her, count(*) FROM deliveries
         WHERE state = 'delivered' AND apprec_overdue GROUP BY receiver_her",
        &[],
    )
    .await?
    {
        entry(&mut by, r.try_get(0)?).overdue_receipts = count(r.try_get(1)?);
    }
    for r in rows(
        tx,
        "SELECT receiver_her, count(*) FROM deliveries
         WHERE delivered_at IS NOT NULL AND delivered_at >= $1 GROUP BY receiver_her",
        &[&since],
    )
    .await?
    {
        entry(&mut by, r.try_get(0)?).delivered_recent = count(r.try_get(1)?);
    }
    for r in rows(
        tx,
        "SELECT d.receiver_her, count(*) FROM delivery_events e
         JOIN deliveries d ON d.id = e.delivery_id
         WHERE e.at >= $1 AND e.from_state = 'in_flight'
           AND e.to_state IN ('queued', 'dead_letter')
         GROUP BY d.receiver_her",
        &[&since],
    )
    .await?
    {
        entry(&mut by, r.try_get(0)?).failed_recent = count(r.try_get(1)?);
    }
    for (her, e) in by.iter_mut() {
        e.last_error = row(
            tx,
            "SELECT updated_at, last_error FROM deliveries
             WHERE receiver_her = $1 AND last_error IS NOT NULL
               AND state IN ('queued', 'dead_letter')
             ORDER BY updated_at DESC LIMIT 1",
            &[her],
        )
        .await?
        .map(|r| Ok::<_, Fail>((r.try_get(0)?, r.try_get(1)?)))
        .transpose()?;
    }
    Ok(by.into_values().collect())
}
