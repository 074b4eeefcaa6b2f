//! The retention sweeper: on a schedule, deletes the messages and access
//! log entries whose time is up (`[retention]`), and gives free pages back
//! to the file system in small steps (SQLite's incremental vacuum).
//!
//! The store decides what may never be deleted (queued, in flight, dead
//! letters, accepted but not routed, held); the sweeper only asks. Work is
//! done in batches of `retention.batch`, each its own transaction in the
//! store's writer queue, so intake waits for at most one batch. Logs say
//! how many, by state; message ids (the gateway's own) only at debug level.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use overgang_deliver::Clock;
use overgang_store::retention::DAY_MS;
use overgang_store::{Space, Store, StoreError};

use crate::config::RetentionConfig;

/// What one sweep deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Messages deleted, by the state they were in.
    pub messages: BTreeMap<&'static str, u64>,
    pub access_log: u64,
}

impl SweepReport {
    pub fn messages_total(&self) -> u64 {
        self.messages.values().sum()
    }
}

/// A sweep never runs more batches than this, so a first sweep over years
/// of messages ends and leaves the rest to the next one.
const MAX_BATCHES: u32 = 10_000;

pub struct Sweeper<S: Store> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    config: RetentionConfig,
}

impl<S: Store> Sweeper<S> {
    pub fn new(store: Arc<S>, clock: Arc<dyn Clock>, config: RetentionConfig) -> Self {
        Sweeper {
            store,
            clock,
            config,
        }
    }

    /// Deletes what has expired at the clock's now: messages, then access
    /// log entries, batch by batch.
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let batch = self.config.batch.max(1);
        let rules = self.config.rules();
        let mut report = SweepReport::default();
        if !rules.is_empty() {
            for _ in 0..MAX_BATCHES {
                let purged = self.store.purge_expired(rules.clone(), now, batch).await?;
                for p in &purged {
                    tracing::debug!(message = %p.id, from = %p.from, days = p.days, "retention: message deleted");
                    *report.messages.entry(p.from.as_str()).or_default() += 1;
                }
                if purged.len() < batch as usize {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        if self.config.access_log_days > 0 {
            let before = now.saturating_sub(i64::from(self.config.access_log_days) * DAY_MS);
            for _ in 0..MAX_BATCHES {
                let n = self.store.purge_access_log(before, batch).await?;
                report.access_log += n;
                if n < u64::from(batch) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(report)
    }

    /// One step of incremental vacuum (`retention.vacuum_pages`).
    pub async fn vacuum(&self) -> Result<Space, StoreError> {
        self.store
            .incremental_vacuum(self.config.vacuum_pages)
            .await
    }

    /// Sweeps every `sweep_every_mins` (the first at once) and vacuums
    /// every `vacuum_every_mins`, until `stop` completes. A sweep or step
    /// under way is finished first (it is one store write at a time).
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        let every = |mins: u64| (mins > 0).then(|| Duration::from_secs(mins.saturating_mul(60)));
        let sweep_every = every(self.config.sweep_every_mins).filter(|_| self.config.deletes());
        let vacuum_every =
            every(self.config.vacuum_every_mins).filter(|_| self.config.vacuum_pages > 0);
        let ticker = |d: Option<Duration>| {
            d.map(|d| {
                let mut t = tokio::time::interval(d);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            })
        };
        let mut sweeps = ticker(sweep_every);
        let mut vacuums = ticker(vacuum_every);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick(&mut sweeps) => self.sweep_and_log().await,
                _ = tick(&mut vacuums) => self.vacuum_and_log().await,
            }
        }
    }

    async fn sweep_and_log(&self) {
        match self.sweep().await {
            Ok(r) if r.messages_total() > 0 || r.access_log > 0 => {
                let by_state = r
                    .messages
                    .iter()
                    .map(|(s, n)| format!("{s}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                tracing::info!(
                    messages = r.messages_total(),
                    access_log = r.access_log,
                    "retention: deleted {} messages ({by_state}) and {} access log entries",
                    r.messages_total(),
                    r.access_log
                );
            }
            Ok(_) => tracing::debug!("retention: nothing has expired"),
            Err(e) => {
                tracing::warn!(error = %e, "retention: the sweep failed; it runs again at the next tick")
            }
        }
    }

    async fn vacuum_and_log(&self) {
        match self.vacuum().await {
            Ok(space) => tracing::debug!(
                pages = space.page_count,
                free = space.freelist_count,
                "retention: incremental vacuum step"
            ),
            Err(e) => tracing::warn!(error = %e, "retention: incremental vacuum failed"),
        }
    }
}

/// The next tick of `t`, or never.
async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetentionDays;
    use overgang_store::sqlite::{SqliteOptions, SqliteStore};
    use overgang_store::{AccessQuery, Metadata, NewAccess, NewMessage, State};
    use std::sync::atomic::{AtomicI64, Ordering};

    struct FakeClock(AtomicI64);

    impl Clock for FakeClock {
        fn now(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn rejected(id: &str, at: i64) -> NewMessage {
        NewMessage {
            id: id.into(),
            received_at: at,
            system: "ehr".into(),
            idempotency_key: None,
            sha256: [7; 32],
            original: b"<x/>".to_vec(),
            meta: Metadata::default(),
            verdict: "rejected".into(),
            findings_json: "[]".into(),
            apprec: b"<a/>".to_vec(),
            apprec_status: 2,
            state: State::Rejected,
            actor: "system:ehr".into(),
            reason: "rejected".into(),
            deliveries: Vec::new(),
            route_reason: String::new(),
        }
    }

    #[tokio::test]
    async fn the_sweeper_deletes_in_batches_what_the_clock_says_has_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        for i in 0..7 {
            store
                .submit(rejected(&format!("r{i}"), DAY_MS))
                .await
                .unwrap();
        }
        store.submit(rejected("new", 40 * DAY_MS)).await.unwrap();
        for at in [DAY_MS, 40 * DAY_MS] {
            store
                .log_access(NewAccess {
                    at,
                    user: "ola".into(),
                    action: "list".into(),
                    message_id: None,
                    patient_key: None,
                    query: None,
                    name_terms: None,
                    unit: None,
                    outcome: "ok".into(),
                })
                .await
                .unwrap();
        }
        let clock = Arc::new(FakeClock(AtomicI64::new(20 * DAY_MS)));
        let config = RetentionConfig {
            days: RetentionDays {
                rejected: 30,
                ..RetentionDays::default()
            },
            access_log_days: 30,
            batch: 3,
            ..RetentionConfig::default()
        };
        let sweeper = Sweeper::new(store.clone(), clock.clone(), config);
        assert_eq!(sweeper.sweep().await.unwrap(), SweepReport::default());
        clock.0.store(45 * DAY_MS, Ordering::SeqCst);
        let report = sweeper.sweep().await.unwrap();
        assert_eq!(report.messages.get("rejected"), Some(&7));
        assert_eq!(report.access_log, 1);
        let rec = store.get("r0").await.unwrap().unwrap();
        assert_eq!(rec.summary.state, State::Deleted);
        assert_eq!(
            store.get("new").await.unwrap().unwrap().summary.state,
            State::Rejected
        );
        let log = store.access_log(&AccessQuery::default()).await.unwrap();
        assert_eq!(log.len(), 1);
        sweeper.vacuum().await.unwrap();
        store.close().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        let clock = Arc::new(FakeClock(AtomicI64::new(DAY_MS)));
        let config = RetentionConfig {
            days: RetentionDays {
                rejected: 1,
                ..RetentionDays::default()
            },
            ..RetentionConfig::default()
        };
        let sweeper = Arc::new(Sweeper::new(store.clone(), clock, config));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(sweeper.run(async move {
            let _ = rx.await;
        }));
        tx.send(()).unwrap();
        task.await.unwrap();
        store.close().await.unwrap();
    }
}
