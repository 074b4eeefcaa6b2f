//! The reads behind [`crate::Store::queue_gauges`]. They touch only the
//! deliveries that are still open (queued, in flight, dead-lettered) or
//! overdue, through partial indexes that hold nothing else, so a scrape
//! costs what the queues hold, not what the store has ever held.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;

use super::ops::{count, OVERDUE};

use crate::delivery::dstate;
use crate::{DeliveryState, QueueGauges, ReceiverGauges, StoreError};

/// The open deliveries per receiver and state, with the oldest's creation
/// (`deliveries_destination`, which holds only open deliveries). The
/// overdue AppRecs are the dashboard's [`OVERDUE`] (`deliveries_overdue`,
/// which holds only those). Two statements, each naming its partial index:
/// as one `WHERE … OR (state = 'delivered' AND apprec_overdue = 1)`, SQLite
/// read the overdue part through the state index, every delivered delivery
/// the store has ever held: a scrape of a 5 GB store took 150 ms, on a
/// reader (docs/RELIABILITY.md, Soak, finding 9).
const OPEN: &str = "SELECT receiver_her, state, count(*), min(created_at)
    FROM deliveries INDEXED BY deliveries_destination
    WHERE state IN ('queued', 'in_flight', 'dead_letter')
    GROUP BY receiver_her, state";

pub(super) fn queue_gauges(conn: &Connection, db: &Path) -> Result<QueueGauges, StoreError> {
    let mut by: BTreeMap<String, ReceiverGauges> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(OPEN)?;
    let rows = stmt.query_and_then([], |row| {
        Ok::<_, StoreError>((
            row.get::<_, String>(0)?,
            dstate(&row.get::<_, String>(1)?)?,
            count(row.get::<_, i64>(2)?),
            row.get::<_, Option<i64>>(3)?,
        ))
    })?;
    for row in rows {
        let (her, state, n, oldest) = row?;
        let r = receiver(&mut by, her);
        match state {
            DeliveryState::Queued => {
                r.queued = n;
                r.oldest_queued_at = oldest;
            }
            DeliveryState::InFlight => {
                r.in_flight = n;
                r.oldest_in_flight_at = oldest;
            }
            DeliveryState::DeadLetter => r.dead_letters = n,
            _ => {}
        }
    }
    let mut stmt = conn.prepare_cached(OVERDUE)?;
    let rows = stmt.query_and_then([], |row| {
        Ok::<_, StoreError>((row.get::<_, String>(0)?, count(row.get::<_, i64>(1)?)))
    })?;
    for row in rows {
        let (her, n) = row?;
        receiver(&mut by, her).apprecs_overdue = n;
    }
    Ok(QueueGauges {
        receivers: by.into_values().collect(),
        size_bytes: size_on_disk(db),
    })
}

fn receiver(by: &mut BTreeMap<String, ReceiverGauges>, her: String) -> &mut ReceiverGauges {
    by.entry(her.clone()).or_insert_with(|| ReceiverGauges {
        receiver_her: her,
        ..Default::default()
    })
}

/// The database file and its write-ahead log (`-wal`), in bytes; a file
/// that is not there counts 0.
fn size_on_disk(db: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    len(db).saturating_add(len(Path::new(&wal)))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{opts, plan_of};
    use super::super::SqliteStore;
    use super::{OPEN, OVERDUE};
    use crate::suite::{claim_and_finish, first_delivery, routed};
    use crate::{AttemptResult, Store};
    use rusqlite::Connection;

    /// Each statement of a scrape reads its partial index, never the state
    /// index or the table: what the store has delivered does not count.
    #[tokio::test]
    async fn a_scrape_reads_only_the_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        store.submit(routed("m", 1, "p", &["A"])).await.unwrap();
        store.close().await.unwrap();
        let conn = Connection::open(dir.path().join(crate::sqlite::DB_FILE)).unwrap();
        // No ANALYZE, as in a deployed gateway.
        for (sql, index) in [
            (OPEN, "deliveries_destination (state=?)"),
            (OVERDUE, "deliveries_overdue"),
        ] {
            let plan = plan_of(&conn, sql, 0);
            assert!(
                plan.iter().any(|s| s.contains(index)),
                "{sql}\ndoes not use {index}: {plan:#?}"
            );
            assert!(
                plan.iter()
                    .all(|s| s.contains("INDEX") || !s.starts_with("SCAN")),
                "{sql}\nscans a table: {plan:#?}"
            );
        }
    }

    /// The size on disk is the database file and its log (what each
    /// destination's counts are is the suite's
    /// `gauges_count_each_destinations_open_deliveries`).
    #[tokio::test]
    async fn the_size_on_disk_is_the_database_and_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
        store
            .submit(routed("a1", 1000, "p1", &["A"]))
            .await
            .unwrap();
        let a1 = first_delivery(&store, "a1").await;
        claim_and_finish(&store, a1, 1100, AttemptResult::Delivered).await;
        let g = store.queue_gauges().await.unwrap();
        assert_eq!(g.receivers.len(), 0, "{g:?}");
        let db = std::fs::metadata(store.path()).unwrap().len();
        let wal = std::fs::metadata(format!("{}-wal", store.path().display()))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(g.size_bytes >= db && db > 0, "{} < {db}", g.size_bytes);
        assert!(g.size_bytes <= db + wal, "{} > {db} + {wal}", g.size_bytes);
        store.close().await.unwrap();
    }
}
