//! The reads behind [`crate::Store::queue_gauges`]. They touch only the
//! deliveries that are still open (queued, in flight, dead-lettered,
//! overdue), through the state index, so a scrape costs what the queues
//! hold, not what the store has ever held.

use std::path::Path;

use rusqlite::Connection;

use crate::delivery::dstate;
use crate::{DeliveryState, QueueGauges, ReceiverGauges, StoreError};

pub(super) fn queue_gauges(conn: &Connection, db: &Path) -> Result<QueueGauges, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT receiver_her, state, count(*), min(created_at) FROM deliveries
         WHERE state IN ('queued', 'in_flight', 'dead_letter')
            OR (state = 'delivered' AND apprec_overdue = 1)
         GROUP BY receiver_her, state ORDER BY receiver_her",
    )?;
    let rows = stmt.query_and_then([], |row| {
        Ok::<_, StoreError>((
            row.get::<_, String>(0)?,
            dstate(&row.get::<_, String>(1)?)?,
            u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
            row.get::<_, Option<i64>>(3)?,
        ))
    })?;
    let mut receivers: Vec<ReceiverGauges> = Vec::new();
    for row in rows {
        let (her, state, n, oldest) = row?;
        if receivers.last().is_none_or(|r| r.receiver_her != her) {
            receivers.push(ReceiverGauges {
                receiver_her: her,
                ..Default::default()
            });
        }
        let Some(r) = receivers.last_mut() else {
            continue;
        };
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
            DeliveryState::Delivered => r.apprecs_overdue = n,
            _ => {}
        }
    }
    Ok(QueueGauges {
        receivers,
        size_bytes: size_on_disk(db),
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
    use super::super::tests::opts;
    use super::super::SqliteStore;
    use crate::suite::{claim_and_finish, first_delivery, routed};
    use crate::{AttemptResult, Store};

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
