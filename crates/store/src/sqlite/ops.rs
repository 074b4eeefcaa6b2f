//! The operators' dashboard in SQLite: one row per destination.
//!
//! Every statement reads an index, never the whole deliveries table: the
//! list of destinations is a skip over `deliveries_receiver` (one seek per
//! destination), and each count comes from a partial index of schema
//! version 6 that holds only what the dashboard counts (waiting, overdue,
//! delivered at a time, failed attempts), named with `INDEXED BY` so that
//! the planner cannot prefer a scan (and the statement fails rather than
//! silently reading everything if an index goes missing). With 100,000
//! deliveries of which a few hundred wait, the dashboard reads a few
//! hundred index entries.

use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;

use crate::delivery::dstate;
use crate::ops::RECENT_MS;
use crate::{DeliveryState, DestinationStats, Millis, StoreError};

/// Every receiver ever delivered to, by a skip over the receiver index
/// (SQLite has no loose index scan of its own).
const DESTINATIONS: &str = "WITH RECURSIVE r(her) AS (
        SELECT min(receiver_her) FROM deliveries
        UNION ALL
        SELECT (SELECT min(receiver_her) FROM deliveries WHERE receiver_her > r.her)
        FROM r WHERE r.her IS NOT NULL)
    SELECT her FROM r WHERE her IS NOT NULL";

/// What waits, per state and receiver (`deliveries_destination`).
const WAITING: &str = "SELECT state, receiver_her, count(*), min(window_start)
    FROM deliveries INDEXED BY deliveries_destination
    WHERE state IN ('queued', 'in_flight', 'dead_letter')
    GROUP BY state, receiver_her";

/// Overdue AppRecs per receiver (`deliveries_overdue`); the gauges'
/// too.
pub(super) const OVERDUE: &str =
    "SELECT receiver_her, count(*) FROM deliveries INDEXED BY deliveries_overdue
    WHERE state = 'delivered' AND apprec_overdue = 1
    GROUP BY receiver_her";

/// Taken by the receiver since ?1 (`deliveries_delivered`).
const DELIVERED: &str =
    "SELECT receiver_her, count(*) FROM deliveries INDEXED BY deliveries_delivered
    WHERE delivered_at >= ?1
    GROUP BY receiver_her";

/// Attempts that failed since ?1 (`delivery_events_failed`).
const FAILED: &str = "SELECT d.receiver_her, count(*)
    FROM delivery_events e INDEXED BY delivery_events_failed
    JOIN deliveries d ON d.id = e.delivery_id
    WHERE e.at >= ?1 AND e.from_state = 'in_flight' AND e.to_state IN ('queued', 'dead_letter')
    GROUP BY d.receiver_her";

/// A receiver's newest error among what still waits (`deliveries_errors`).
const LAST_ERROR: &str =
    "SELECT updated_at, last_error FROM deliveries INDEXED BY deliveries_errors
    WHERE receiver_her = ?1 AND last_error IS NOT NULL AND state IN ('queued', 'dead_letter')
    ORDER BY updated_at DESC LIMIT 1";

fn entry(by: &mut BTreeMap<String, DestinationStats>, her: String) -> &mut DestinationStats {
    by.entry(her.clone()).or_insert_with(|| DestinationStats {
        receiver_her: her,
        ..DestinationStats::default()
    })
}

pub(super) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) fn destination_stats(
    conn: &mut Connection,
    now: Millis,
) -> Result<Vec<DestinationStats>, StoreError> {
    let since = now.saturating_sub(RECENT_MS);
    // One read transaction: every count from the same snapshot.
    let tx = conn.transaction()?;
    let mut by: BTreeMap<String, DestinationStats> = BTreeMap::new();
    for her in tx
        .prepare_cached(DESTINATIONS)?
        .query_map([], |row| row.get::<_, String>(0))?
    {
        let her = her?;
        entry(&mut by, her);
    }
    let waiting = tx
        .prepare_cached(WAITING)?
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<i64>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (state, her, n, oldest) in waiting {
        let e = entry(&mut by, her);
        match dstate(&state)? {
            DeliveryState::Queued => {
                e.queued = count(n);
                e.oldest_queued_at = oldest;
            }
            DeliveryState::InFlight => e.in_flight = count(n),
            _ => e.dead_letters = count(n),
        }
    }
    let counts = |sql: &str, args: &[i64]| -> Result<Vec<(String, i64)>, StoreError> {
        let rows = tx
            .prepare_cached(sql)?
            .query_map(rusqlite::params_from_iter(args), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    };
    let overdue = counts(OVERDUE, &[])?;
    let delivered = counts(DELIVERED, &[since])?;
    let failed = counts(FAILED, &[since])?;
    for (her, n) in overdue {
        entry(&mut by, her).overdue_receipts = count(n);
    }
    for (her, n) in delivered {
        entry(&mut by, her).delivered_recent = count(n);
    }
    for (her, n) in failed {
        entry(&mut by, her).failed_recent = count(n);
    }
    {
        let mut last = tx.prepare_cached(LAST_ERROR)?;
        for (her, e) in by.iter_mut() {
            e.last_error = last
                .query_row(params![her], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
        }
    }
    tx.commit()?;
    Ok(by.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{opts, plan_of};
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::suite::routed;
    use crate::Store;

    // What each destination's row says is the suite's
    // `each_destination_has_its_queue_failures_and_overdue_receipts`.

    /// Each of the dashboard's statements reads its index: no plan step
    /// scans a whole table.
    #[tokio::test]
    async fn every_statement_reads_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
        store.close().await.unwrap();
        let conn = Connection::open(dir.path().join(crate::sqlite::DB_FILE)).unwrap();
        // No ANALYZE: the store never runs it, so the planner's defaults
        // are what a deployed gateway gets.
        for (sql, args, index) in [
            (DESTINATIONS, 0, "deliveries_receiver (receiver_her>?)"),
            (
                WAITING,
                0,
                "COVERING INDEX deliveries_destination (state=?)",
            ),
            (OVERDUE, 0, "COVERING INDEX deliveries_overdue"),
            (
                DELIVERED,
                1,
                "COVERING INDEX deliveries_delivered (delivered_at>?)",
            ),
            (FAILED, 1, "INDEX delivery_events_failed (at>?)"),
            (LAST_ERROR, 1, "INDEX deliveries_errors (receiver_her=?)"),
        ] {
            let plan = plan_of(&conn, sql, args);
            for step in &plan {
                let table_scan = step.starts_with("SCAN ")
                    && !step.contains("INDEX")
                    && !step.starts_with("SCAN r")
                    && !step.contains("CONSTANT ROW");
                assert!(!table_scan, "{sql}\nscans a table: {plan:#?}");
            }
            assert!(
                plan.iter().any(|s| s.contains(index)),
                "{sql}\ndoes not use {index}: {plan:#?}"
            );
        }
    }
}
