//! The reads behind [`crate::Store::queue_gauges`]. They touch only the
//! deliveries that are still open (queued, in flight, dead-lettered,
//! overdue), through the state index, so a scrape costs what the queues
//! hold, not what the store has ever held.

use std::path::Path;

use rusqlite::Connection;

use super::queue::dstate;
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
    use super::super::queue_tests::{claim_and_finish, first_delivery, routed};
    use super::super::tests::opts;
    use super::super::SqliteStore;
    use crate::{AttemptResult, Store};

    #[tokio::test]
    async fn gauges_count_each_destinations_open_deliveries_and_the_size_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), opts()).unwrap();
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
        // C: delivered, its AppRec overdue; D: acknowledged (not open).
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
        assert_eq!((b.queued, b.in_flight, b.dead_letters), (0, 1, 1));
        assert_eq!(b.oldest_queued_at, None);
        assert_eq!((c.queued, c.apprecs_overdue), (0, 1));
        let db = std::fs::metadata(store.path()).unwrap().len();
        assert!(g.size_bytes >= db && db > 0, "{} < {db}", g.size_bytes);
    }
}
