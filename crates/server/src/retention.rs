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
    /// The patient-flow window in days: before each sweep the messages of
    /// open stays in it are held against retention (reason
    /// [`OPEN_STAY`]), and those of ended stays released.
    flow_window_days: Option<u64>,
}

/// The hold reason of the messages of a stay that is still open.
pub const OPEN_STAY: &str = "open-stay";

impl<S: Store> Sweeper<S> {
    pub fn new(store: Arc<S>, clock: Arc<dyn Clock>, config: RetentionConfig) -> Self {
        Sweeper {
            store,
            clock,
            config,
            flow_window_days: None,
        }
    }

    /// Keeps the messages of open stays (patient flow, `window_days`).
    pub fn with_flow(mut self, window_days: u64) -> Self {
        self.flow_window_days = Some(window_days);
        self
    }

    /// Holds the messages of open stays (admitted, or ready and waiting)
    /// and releases those of stays that ended. Returns (held, released).
    pub async fn hold_open_stays(&self, now: i64) -> Result<(u64, u64), StoreError> {
        let Some(window) = self.flow_window_days else {
            return Ok((0, 0));
        };
        // Page by page of patients: only the ids are kept, not the facts.
        let (mut open, mut ended) = (Vec::new(), Vec::new());
        crate::flow::for_each_page(&*self.store, now, window, |flow| {
            for stay in &flow.stays {
                let ids = stay.messages.iter().map(|m| m.message_id.clone());
                match stay.state {
                    overgang_flow::StayState::Open | overgang_flow::StayState::Ready => {
                        open.extend(ids)
                    }
                    _ => ended.extend(ids),
                }
            }
        })
        .await?;
        let held = self.store.hold(open, OPEN_STAY.into(), now).await?;
        let released = self.store.release(ended, OPEN_STAY.into()).await?;
        Ok((held, released))
    }

    /// Deletes what has expired at the clock's now: messages, then access
    /// log entries, batch by batch.
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let batch = self.config.batch.max(1);
        let rules = self.config.rules();
        let mut report = SweepReport::default();
        if !rules.is_empty() {
            self.hold_open_stays(now).await?;
            for _ in 0..MAX_BATCHES {
                let purged = self.store.purge_expired(rules.clone(), now, batch).await?;
                for p in &purged {
                    tracing::debug!(message_id = %p.id, from = %p.from, days = p.days, "retention: message deleted");
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

    pub(super) struct FakeClock(pub AtomicI64);

    impl Clock for FakeClock {
        fn now(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    pub(super) fn rejected(id: &str, at: i64) -> NewMessage {
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

#[cfg(test)]
mod flow_tests {
    //! Messages of an open stay are held against retention; when the stay
    //! ends they are released and expire like any other.
    use super::tests::{rejected, FakeClock};
    use super::*;
    use crate::config::RetentionDays;
    use overgang_store::sqlite::{SqliteOptions, SqliteStore};
    use overgang_store::{FlowFactRow, State};
    use std::sync::atomic::AtomicI64;

    fn fact(example: &str, id: &str, at: i64) -> FlowFactRow {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/standards/examples/plo-1.6")
            .join(example);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (../shared must be beside the project)",
                path.display()
            )
        });
        let doc = overgang_xml::parse(&bytes, &overgang_xml::Limits::default()).expect("xml");
        let message = overgang_model::Message::read(&doc);
        let f = overgang_flow::fact_of(
            &message,
            overgang_flow::FactInput {
                message_id: id.into(),
                received_at: at,
                patient_key: Some("p1".into()),
                sender_municipality: None,
                receiver_municipality: Some("3428".into()),
                copy_to_gp: None,
                receiver_is_gp: false,
                positive_apprec_at: None,
            },
        );
        FlowFactRow {
            message_id: id.into(),
            patient_key: Some("p1".into()),
            received_at: at,
            fact: serde_json::to_string(&f).expect("json"),
            positive_apprec_at: None,
        }
    }

    /// 2018-01-29T09:00Z: the examples' admission (10:00 Norwegian time).
    const ADMITTED: i64 = 1_517_216_400_000;

    #[tokio::test]
    async fn messages_of_open_stays_are_kept_until_the_stay_ends() {
        let (in_1, in_4) = (ADMITTED + 3_600_000, ADMITTED + 3 * DAY_MS);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        store.submit(rejected("admitted", in_1)).await.unwrap();
        store
            .set_flow_facts(vec![fact(
                "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml",
                "admitted",
                in_1,
            )])
            .await
            .unwrap();
        let clock = Arc::new(FakeClock(AtomicI64::new(ADMITTED + 45 * DAY_MS)));
        let config = RetentionConfig {
            days: RetentionDays {
                rejected: 30,
                ..RetentionDays::default()
            },
            ..RetentionConfig::default()
        };
        let sweeper = Sweeper::new(store.clone(), clock.clone(), config).with_flow(10_000);
        // The stay is open: its message is held, though its time is up.
        let report = sweeper.sweep().await.unwrap();
        assert_eq!(report.messages_total(), 0);
        assert_eq!(
            store.get("admitted").await.unwrap().unwrap().summary.state,
            State::Rejected
        );
        // The patient is discharged: the stay ends, the hold is lifted.
        store.submit(rejected("discharged", in_4)).await.unwrap();
        store
            .set_flow_facts(vec![fact(
                "Pasientlogistikk_Melding_om_utskrevet_pasient_v1-6_Ny.xml",
                "discharged",
                in_4,
            )])
            .await
            .unwrap();
        let (_, released) = sweeper.hold_open_stays(clock.now()).await.unwrap();
        assert!(released >= 1, "the ended stay's holds are lifted");
        let report = sweeper.sweep().await.unwrap();
        assert_eq!(report.messages.get("rejected"), Some(&2));
        assert_eq!(
            store.get("admitted").await.unwrap().unwrap().summary.state,
            State::Deleted
        );
        store.close().await.unwrap();
    }
}
