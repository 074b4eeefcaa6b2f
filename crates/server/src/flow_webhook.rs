//! The flow webhook: every `[flow] webhook_every_secs` the notifier
//! computes the flow of the window at its clock's now, checks the expected
//! messages (`overgang_flow::overdue`), and POSTs one JSON event per item
//! that became **overdue** since the last run, and per notified item that
//! **cleared** (its message arrived, or the item no longer exists: the stay
//! was cancelled, a rule changed, it left the window). docs/FLOW.md,
//! "Webhook".
//!
//! No patient data leaves: the stay is named by a hash of its id (which
//! holds the patient key), see [`stay_ref`]. The items notified are kept in
//! memory only: after a restart every current item is sent again (at least
//! once). A failed POST leaves the item pending for the next run; a run
//! sends at most [`MAX_PER_RUN`] events and stops at the first failure.
//! Logs give counts only.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use overgang_deliver::Clock;
use overgang_flow::{Overdue, OverdueStatus};
use overgang_store::{Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::flow::FlowState;
use crate::timefmt;

/// Events sent in one run at most; the rest wait for the next run.
pub const MAX_PER_RUN: usize = 100;

/// Time allowed for one POST, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One item: its rule, its stay, its trigger time.
type Key = (String, String, i64);

fn key(o: &Overdue) -> Key {
    (o.rule.clone(), o.stay_id.clone(), o.trigger_at)
}

/// What the receiver learns of a stay: the first 32 hex digits of
/// SHA-256 of `overgang-flow-webhook:` and the stay's id. The stay id is
/// `patient_key/hospital/admitted_at`; its hash is the same for every
/// event of the stay, but cannot be linked to the patient's other stays,
/// nor to the patient key, by whoever gets only the webhook.
pub fn stay_ref(stay_id: &str) -> String {
    let digest = Sha256::digest(format!("overgang-flow-webhook:{stay_id}").as_bytes());
    crate::patient::hex(&digest[..16])
}

/// The body of one POST.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Event {
    /// `overdue` or `cleared`.
    pub event: &'static str,
    pub rule: String,
    /// [`stay_ref`] of the stay's id, not the id itself.
    pub stay_id: String,
    pub municipality: Option<String>,
    /// The hospital organisation's HER-id.
    pub hospital: String,
    /// UTC, RFC 3339.
    pub due_at: String,
    /// Overdue: how late at the time of sending. Cleared: how late the
    /// message arrived, or, when the item went away without one, how late
    /// it was then.
    pub late_by_secs: i64,
}

fn event(kind: &'static str, o: &Overdue, late_by_ms: i64) -> Event {
    Event {
        event: kind,
        rule: o.rule.clone(),
        stay_id: stay_ref(&o.stay_id),
        municipality: o.municipality.clone(),
        hospital: o.hospital.clone(),
        due_at: timefmt::rfc3339_millis(o.due_at),
        late_by_secs: late_by_ms.max(0) / 1000,
    }
}

/// What one run did (counts only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub overdue_sent: u64,
    pub cleared_sent: u64,
    /// POSTs that failed (at most 1: a run stops at the first).
    pub failed: u64,
    /// Events still to send after this run.
    pub pending: u64,
}

pub struct Notifier<S: Store> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    flow: Arc<FlowState>,
    client: reqwest::Client,
    url: String,
    token_file: Option<PathBuf>,
    every: Duration,
    /// The items announced as overdue and not yet announced as cleared.
    notified: tokio::sync::Mutex<HashMap<Key, Overdue>>,
}

impl<S: Store> Notifier<S> {
    pub fn new(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        flow: Arc<FlowState>,
        client: reqwest::Client,
        url: String,
        token_file: Option<PathBuf>,
        every: Duration,
    ) -> Self {
        Notifier {
            store,
            clock,
            flow,
            client,
            url,
            token_file,
            every,
            notified: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// One run at the clock's now: computes the items, sends what changed.
    /// A store error sends nothing and changes nothing.
    pub async fn run_once(&self) -> Result<RunReport, StoreError> {
        let now = self.clock.now();
        let mut items = Vec::new();
        crate::flow::for_each_page(&*self.store, now, self.flow.window_days, |flow| {
            items.extend(overgang_flow::overdue(flow, &self.flow.config, now));
        })
        .await?;
        let mut overdue: BTreeMap<Key, Overdue> = BTreeMap::new();
        let mut late: HashMap<Key, Overdue> = HashMap::new();
        for o in items {
            match o.status {
                OverdueStatus::Overdue => overdue.insert(key(&o), o),
                OverdueStatus::Late => late.insert(key(&o), o),
            };
        }
        let mut notified = self.notified.lock().await;
        // Cleared first (they end alerts), then the new ones; each by due time.
        let mut cleared: Vec<(Key, Event)> = notified
            .iter()
            .filter(|(k, _)| !overdue.contains_key(*k))
            .map(|(k, o)| {
                let ev = match late.get(k) {
                    Some(l) => event("cleared", l, l.late_by_ms),
                    None => event("cleared", o, now - o.due_at),
                };
                (k.clone(), ev)
            })
            .collect();
        cleared.sort_by(|a, b| (&a.1.due_at, &a.0).cmp(&(&b.1.due_at, &b.0)));
        let mut fresh: Vec<(Key, &Overdue)> = overdue
            .iter()
            .filter(|(k, _)| !notified.contains_key(*k))
            .map(|(k, o)| (k.clone(), o))
            .collect();
        fresh.sort_by(|a, b| (a.1.due_at, &a.0).cmp(&(b.1.due_at, &b.0)));
        let total = cleared.len() + fresh.len();
        let mut report = RunReport::default();
        if total == 0 {
            return Ok(report);
        }
        let token = match &self.token_file {
            None => None,
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => Some(t.trim().to_owned()),
                Err(e) => {
                    tracing::warn!(error = %e, "flow webhook: could not read webhook_token_file; nothing sent");
                    report.failed = 1;
                    report.pending = total as u64;
                    return Ok(report);
                }
            },
        };
        let mut sent = 0usize;
        let mut failed = false;
        for (k, ev) in cleared {
            if sent == MAX_PER_RUN || failed {
                break;
            }
            if self.post(&ev, token.as_deref()).await {
                notified.remove(&k);
                report.cleared_sent += 1;
                sent += 1;
            } else {
                failed = true;
            }
        }
        for (k, o) in fresh {
            if sent == MAX_PER_RUN || failed {
                break;
            }
            if self
                .post(&event("overdue", o, o.late_by_ms), token.as_deref())
                .await
            {
                notified.insert(k, o.clone());
                report.overdue_sent += 1;
                sent += 1;
            } else {
                failed = true;
            }
        }
        report.failed = u64::from(failed);
        report.pending = (total - sent) as u64;
        Ok(report)
    }

    /// POSTs one event; true on a 2xx answer. Never logs the URL (it may
    /// carry something private) nor the body.
    async fn post(&self, ev: &Event, token: Option<&str>) -> bool {
        let mut req = self.client.post(&self.url).json(ev);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => true,
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "flow webhook: the receiver refused an event; retried at the next run"
                );
                false
            }
            Err(e) => {
                let why = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "transport error"
                };
                tracing::warn!(
                    error = why,
                    "flow webhook: an event could not be sent; retried at the next run"
                );
                false
            }
        }
    }

    /// Runs every `webhook_every_secs` (the first at once) until `stop`
    /// completes; a run under way is abandoned then (what it did not record
    /// as sent is sent again after the restart).
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval(self.every.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticks.tick() => {
                    tokio::select! {
                        _ = &mut stop => break,
                        r = self.run_once() => log(r),
                    }
                }
            }
        }
    }
}

fn log(r: Result<RunReport, StoreError>) {
    match r {
        Ok(r) if r.overdue_sent + r.cleared_sent + r.failed + r.pending > 0 => tracing::info!(
            overdue = r.overdue_sent,
            cleared = r.cleared_sent,
            failed = r.failed,
            pending = r.pending,
            "flow webhook: sent {} overdue and {} cleared events; {} pending",
            r.overdue_sent,
            r.cleared_sent,
            r.pending
        ),
        Ok(_) => tracing::debug!("flow webhook: nothing changed"),
        Err(e) => {
            tracing::warn!(error = %e, "flow webhook: could not read the flow; it runs again at the next tick")
        }
    }
}

#[cfg(test)]
mod tests;
