//! The delivery stage: drains the store's per-destination queues.
//!
//! One dispatcher task asks the store for due deliveries (the store keeps
//! order per receiver and patient), claims them durably (`queued →
//! in_flight`, one commit for the batch) and starts an attempt for each,
//! within a global limit and a per-receiver limit (so one slow receiver
//! cannot take every slot). An attempt POSTs the original bytes (or, for a
//! receipt, the receiver's AppRec) to the endpoint the registry names *now*,
//! with the credentials it names, and reports the answer to the store:
//!
//! - 2xx with an AppRec answering the message → its status decides
//!   (`acknowledged`, `acknowledged_with_errors`, `rejected_by_receiver`),
//!   and the AppRec is stored (and queued to the sender's callback);
//! - 2xx without one → `delivered`, waiting for an asynchronous AppRec;
//! - 408, 429, 5xx, no connection, timeout, no endpoint → `queued` again
//!   after an exponential, jittered, capped pause that honours
//!   `Retry-After`; when the attempts or the age run out → `dead_letter`;
//! - any other status → `dead_letter` at once (sending again cannot help).
//!
//! A sweeper flags deliveries that were delivered but got no AppRec within
//! the configured time. Dead letters and overdue AppRecs raise alerts.
//!
//! **At least once.** A claim is durable before the bytes leave; an attempt
//! cut off by a stop or a crash is `in_flight` at the next start and is sent
//! again ([`overgang_store::Store::recover`]); a receiver may see a message
//! twice and recognises it by its `MsgId`. A delivery answered with an
//! AppRec is never sent again.
//!
//! Logs name delivery ids, message ids and HER-ids, never message content.

pub mod metrics;
pub mod policy;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use overgang_registry::{Auth, Registry};
use overgang_store::{
    Attempt, AttemptResult, DeliveryKind, DeliveryState, Due, Millis, Store, StoreError,
};
use serde::Deserialize;
use tokio::sync::{Notify, Semaphore};

use policy::{Answer, Context};

/// Errors setting the stage up. Texts never contain message content.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("delivery: {place}: {reason}")]
    Config { place: String, reason: String },
    #[error("delivery: could not build the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `[delivery]` in the server's configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Deliver at all (off: messages are routed and queued, not sent).
    pub enabled: bool,
    /// Attempts under way at once, in all.
    pub concurrency: usize,
    /// Attempts under way at once to one receiver.
    pub per_receiver: usize,
    /// Time allowed for one attempt (connect, send, answer).
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    /// Attempts before a delivery is dead-lettered (0: no limit; the age
    /// limit still applies).
    pub max_attempts: u32,
    /// Age (from routing, or the last replay) at which a delivery still
    /// failing is dead-lettered.
    pub max_age_hours: u64,
    /// The first pause after a failure; it doubles per attempt.
    pub backoff_initial_ms: u64,
    /// The longest pause between attempts.
    pub backoff_max_secs: u64,
    /// The longest pause a receiver's `Retry-After` can ask for.
    pub retry_after_max_secs: u64,
    /// A delivered message whose AppRec has not come after this long
    /// (seconds) is flagged and alerted.
    pub apprec_timeout_secs: u64,
    /// How often to look for overdue AppRecs and old queues.
    pub sweep_secs: u64,
    /// A destination whose oldest open delivery (queued or in flight) is
    /// older than this (seconds, since routing) raises a `queue_age`
    /// alert, and a `queue_age_cleared` one when it is no longer (0: off).
    pub queue_age_alert_secs: u64,
    /// How often to look for due deliveries when nothing wakes the stage.
    pub poll_ms: u64,
    /// Largest answer read from a receiver.
    pub max_answer_bytes: usize,
    /// PEM file of extra CA certificates trusted for receivers' endpoints
    /// (besides the system's), e.g. a health network's own CA.
    pub ca_file: Option<PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            enabled: true,
            concurrency: 64,
            per_receiver: 8,
            timeout_secs: 30,
            connect_timeout_secs: 10,
            max_attempts: 0,
            max_age_hours: 72,
            backoff_initial_ms: 1000,
            backoff_max_secs: 300,
            retry_after_max_secs: 3600,
            apprec_timeout_secs: 3600,
            sweep_secs: 30,
            queue_age_alert_secs: 900,
            poll_ms: 1000,
            max_answer_bytes: 4 * 1024 * 1024,
            ca_file: None,
        }
    }
}

/// The time, injected so that tests can hold it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Where the stage finds the registry in force and the secret files it
/// names (relative to the registry file).
pub trait Directory: Send + Sync + 'static {
    fn registry(&self) -> Arc<Registry>;
    fn secret_path(&self, name: &str) -> PathBuf;
}

/// The delivery stage. Build it with [`Deliverer::new`], hand
/// [`Deliverer::waker`] to intake, and run it with [`Deliverer::run`].
pub struct Deliverer<S> {
    store: Arc<S>,
    dir: Arc<dyn Directory>,
    clock: Arc<dyn Clock>,
    cfg: DeliveryConfig,
    /// The client for endpoints without a client certificate.
    client: reqwest::Client,
    /// Clients with a client certificate, by (cert, key) file.
    with_identity: Mutex<HashMap<(PathBuf, PathBuf), reqwest::Client>>,
    extra_ca: Vec<reqwest::Certificate>,
    wake: Arc<Notify>,
    /// Attempts under way per receiver HER-id.
    busy: Mutex<HashMap<String, usize>>,
    /// Destinations with a `queue_age` alert raised and not yet cleared.
    old_queues: Mutex<BTreeSet<String>>,
    metrics: Arc<metrics::DeliveryMetrics>,
}

fn client_builder(
    cfg: &DeliveryConfig,
    extra_ca: &[reqwest::Certificate],
) -> reqwest::ClientBuilder {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs.max(1)))
        .pool_max_idle_per_host(cfg.per_receiver.max(1))
        .tcp_nodelay(true)
        .user_agent(concat!("overgang/", env!("CARGO_PKG_VERSION")));
    if !extra_ca.is_empty() {
        b = b.tls_certs_merge(extra_ca.iter().cloned());
    }
    b
}

/// The extra CA certificates of `ca_file` (none without one).
fn extra_ca(ca_file: Option<&std::path::Path>) -> Result<Vec<reqwest::Certificate>, DeliverError> {
    let Some(p) = ca_file else {
        return Ok(Vec::new());
    };
    let place = || format!("ca_file {}", p.display());
    let pem = std::fs::read(p).map_err(|e| DeliverError::Config {
        place: place(),
        reason: e.to_string(),
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| DeliverError::Config {
        place: place(),
        reason: "not a PEM certificate bundle".into(),
    })?;
    if certs.is_empty() {
        return Err(DeliverError::Config {
            place: place(),
            reason: "no certificate in it".into(),
        });
    }
    Ok(certs)
}

/// An HTTP client built like the delivery stage's (no proxy, no
/// redirects, rustls with the system's roots and `cfg.ca_file`), for other
/// outgoing calls of the gateway (the flow webhook), with its own timeout.
pub fn http_client(
    cfg: &DeliveryConfig,
    timeout: Duration,
) -> Result<reqwest::Client, DeliverError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let extra_ca = extra_ca(cfg.ca_file.as_deref())?;
    client_builder(cfg, &extra_ca)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(cfg.connect_timeout_secs.max(1))))
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|e| DeliverError::Client(e.to_string()))
}

/// A random number in `[0, 1)` from a few varying inputs (splitmix64):
/// enough to spread retries, no generator state to share.
fn jitter(a: i64, b: u32, c: i64) -> f64 {
    let mut z = (a as u64) ^ (u64::from(b) << 32) ^ (c as u64).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl<S: Store> Deliverer<S> {
    pub fn new(
        store: Arc<S>,
        dir: Arc<dyn Directory>,
        clock: Arc<dyn Clock>,
        cfg: DeliveryConfig,
    ) -> Result<Deliverer<S>, DeliverError> {
        // reqwest is built without a crypto provider; install ring's unless
        // one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let extra_ca = extra_ca(cfg.ca_file.as_deref())?;
        let client = client_builder(&cfg, &extra_ca)
            .build()
            .map_err(|e| DeliverError::Client(e.to_string()))?;
        Ok(Deliverer {
            store,
            dir,
            clock,
            cfg,
            client,
            with_identity: Mutex::new(HashMap::new()),
            extra_ca,
            wake: Arc::new(Notify::new()),
            busy: Mutex::new(HashMap::new()),
            old_queues: Mutex::new(BTreeSet::new()),
            metrics: Arc::new(metrics::DeliveryMetrics::new()),
        })
    }

    /// Counts into `metrics` (the gateway's, which it renders on
    /// `/metrics`) instead of the stage's own.
    pub fn with_metrics(mut self, metrics: Arc<metrics::DeliveryMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The stage's counters.
    pub fn metrics(&self) -> Arc<metrics::DeliveryMetrics> {
        self.metrics.clone()
    }

    /// Notify it after storing routed messages, so they go out at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown` completes: first puts deliveries cut off by
    /// the last stop back in the queue, then dispatches and sweeps. At
    /// shutdown it stops claiming and waits (up to `grace`) for attempts
    /// under way to be recorded; any still running are left `in_flight`
    /// and sent again at the next start.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>, grace: Duration) {
        match self.store.recover(self.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                deliveries = n,
                "deliveries were in flight when the gateway stopped; they are sent again"
            ),
            Err(e) => tracing::error!(error = %e, "could not recover deliveries in flight"),
        }
        let slots = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        // Wake-ups from the other nodes sharing the store (PostgreSQL's
        // LISTEN/NOTIFY); none on a store of this process alone.
        let remote = self.store.wakeups();
        let sweeper = tokio::spawn(self.clone().sweep());
        tokio::pin!(shutdown);
        loop {
            let more = self.dispatch(&slots).await;
            if more {
                // A full batch was taken and slots are left: look again.
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::task::yield_now() => continue,
                }
            }
            let pause = self.pause().await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                // Another node made deliveries due (a shared store).
                _ = async {
                    match &remote {
                        Some(n) => n.notified().await,
                        None => std::future::pending().await,
                    }
                } => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        sweeper.abort();
        let all = u32::try_from(self.cfg.concurrency.max(1)).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("delivery attempts still under way at shutdown; they are sent again at the next start");
        }
    }

    /// How long to wait for work when nothing wakes the stage.
    async fn pause(&self) -> Duration {
        let poll = Duration::from_millis(self.cfg.poll_ms.max(10));
        let now = self.clock.now();
        match self.store.next_due(now).await {
            Ok(Some(at)) => Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(poll),
            _ => poll,
        }
    }

    /// Claims what is due and can start now, and starts it. Returns whether
    /// there may be more due right away.
    async fn dispatch(self: &Arc<Self>, slots: &Arc<Semaphore>) -> bool {
        let free = slots.available_permits();
        if free == 0 {
            return false;
        }
        let now = self.clock.now();
        let ask = u32::try_from(free.saturating_mul(2).min(1024)).unwrap_or(1024);
        let due = match self.store.due(now, ask).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "could not read due deliveries");
                return false;
            }
        };
        let full_page = due.len() as u32 == ask;
        let mut chosen: Vec<Due> = Vec::new();
        {
            let busy = lock(&self.busy);
            let mut planned: HashMap<&str, usize> = HashMap::new();
            for d in &due {
                if chosen.len() >= free {
                    break;
                }
                let n = busy.get(&d.receiver_her).copied().unwrap_or(0)
                    + planned.get(d.receiver_her.as_str()).copied().unwrap_or(0);
                if n >= self.cfg.per_receiver.max(1) {
                    continue;
                }
                *planned.entry(d.receiver_her.as_str()).or_default() += 1;
                chosen.push(d.clone());
            }
        }
        if chosen.is_empty() {
            return false;
        }
        let ids: Vec<i64> = chosen.iter().map(|d| d.id).collect();
        let claimed = match self.store.claim(ids, now).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "could not claim deliveries");
                return false;
            }
        };
        let started = claimed.len();
        for d in chosen.into_iter().filter(|d| claimed.contains(&d.id)) {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break; // cannot happen: at most `free` were chosen
            };
            *lock(&self.busy).entry(d.receiver_her.clone()).or_default() += 1;
            let me = self.clone();
            tokio::spawn(async move {
                let receiver = d.receiver_her.clone();
                me.attempt(d).await;
                {
                    let mut busy = lock(&me.busy);
                    if let Some(n) = busy.get_mut(&receiver) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            busy.remove(&receiver);
                        }
                    }
                }
                drop(permit);
                // What waited behind it (same receiver and patient, or the
                // per-receiver limit) may go now.
                me.wake.notify_one();
            });
        }
        full_page && started > 0 && slots.available_permits() > 0
    }

    /// One attempt, recorded in the store.
    async fn attempt(&self, d: Due) {
        let started = std::time::Instant::now();
        let answer = self.send(&d).await;
        self.metrics
            .attempt_seconds
            .observe_duration(started.elapsed());
        let now = self.clock.now();
        let attempts = d.attempts.saturating_add(1);
        let callback_to = match d.kind {
            DeliveryKind::Message => d
                .sender_her
                .as_deref()
                .filter(|s| self.dir.registry().effective_callback(s).is_some()),
            DeliveryKind::Receipt => None,
        };
        let ctx = Context {
            attempts,
            window_start: d.window_start,
            is_receipt: d.kind == DeliveryKind::Receipt,
            msg_id: d.msg_id.as_deref(),
            callback_to,
        };
        let result = policy::judge(&self.cfg, &ctx, answer, now, jitter(d.id, attempts, now));
        let summary = match &result {
            AttemptResult::Delivered => "delivered".to_string(),
            AttemptResult::Answered(r) => format!("answered with AppRec status {}", r.status),
            AttemptResult::Retry { .. } => "failed; will retry".to_string(),
            AttemptResult::DeadLetter { .. } => "dead-lettered".to_string(),
        };
        let dead = matches!(result, AttemptResult::DeadLetter { .. });
        let sync_receipt = match &result {
            AttemptResult::Answered(r) => Some(r.status),
            _ => None,
        };
        let outcome = metrics::outcome(&result);
        let attempt = Attempt {
            delivery_id: d.id,
            at: now,
            result,
        };
        // The store may be busy; the attempt is worth a few tries to record.
        let mut tries = 0;
        let state = loop {
            match self.store.finish(attempt.clone()).await {
                Ok(s) => break Some(s),
                Err(StoreError::Closed) => break None,
                Err(e) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(delivery = d.id, error = %e, "could not record an attempt; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => {
                    tracing::error!(delivery = d.id, error = %e, "could not record an attempt; it stays in flight and is sent again at the next start");
                    break None;
                }
            }
        };
        if state.is_some() {
            self.metrics.attempt(d.kind, outcome);
            if let Some(status) = sync_receipt {
                self.metrics.receipt(status, "sync");
            }
        }
        tracing::info!(
            delivery = d.id,
            message_id = %d.message_id,
            receiver_her = %d.receiver_her,
            kind = d.kind.as_str(),
            attempt = attempts,
            state = state.map(DeliveryState::as_str).unwrap_or("unrecorded"),
            "{summary}"
        );
        if dead && state == Some(DeliveryState::DeadLetter) {
            tracing::warn!(
                alert = "dead_letter",
                delivery = d.id,
                message_id = %d.message_id,
                receiver_her = %d.receiver_her,
                "a delivery gave up and waits for a person"
            );
        }
    }

    /// Sends one delivery and says what came back.
    async fn send(&self, d: &Due) -> Answer {
        let registry = self.dir.registry();
        let target = match d.kind {
            DeliveryKind::Message => registry
                .route(&d.receiver_her)
                .map(|r| (r.endpoint.clone(), r.auth.cloned())),
            DeliveryKind::Receipt => registry.effective_callback(&d.receiver_her).map(|e| {
                let auth = registry
                    .route(&d.receiver_her)
                    .and_then(|r| r.auth.cloned());
                (e.clone(), auth)
            }),
        };
        let Some((endpoint, auth)) = target else {
            let what = match d.kind {
                DeliveryKind::Message => "endepunkt / endpoint",
                DeliveryKind::Receipt => "kvitteringsadresse / callback endpoint",
            };
            return Answer::NoRoute(format!(
                "registeret har ikke noe {what} for {her} / the registry has no {what} for {her}",
                her = d.receiver_her
            ));
        };
        drop(registry);
        let body = match d.kind {
            DeliveryKind::Message => self.store.original(&d.message_id).await,
            DeliveryKind::Receipt => match d.receipt_id {
                Some(r) => self.store.receipt_body(r).await,
                None => Ok(None),
            },
        };
        let body = match body {
            Ok(Some(b)) => b,
            Ok(None) => return Answer::Transport("the stored body is missing".into()),
            Err(e) => return Answer::Transport(format!("store: {e}")),
        };
        let client = match self.client_for(auth.as_ref()) {
            Ok(c) => c,
            Err(why) => return Answer::Transport(why),
        };
        let mut req = client
            .post(endpoint.url())
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .header("X-Overgang-Message-Id", d.message_id.as_str())
            .header("X-Overgang-Delivery-Id", d.id.to_string())
            .body(body);
        if let Some(file) = auth.as_ref().and_then(|a| a.bearer_token_file.as_deref()) {
            let path = self.dir.secret_path(file);
            match std::fs::read_to_string(&path) {
                Ok(t) => req = req.bearer_auth(t.trim()),
                Err(e) => {
                    return Answer::Transport(format!(
                        "could not read the token file named in the registry ({file}): {e}"
                    ))
                }
            }
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Answer::Transport(transport_words(&e)),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| policy::parse_retry_after(v, self.clock.now()));
        let body = match read_limited(resp, self.cfg.max_answer_bytes).await {
            Ok(b) => b,
            Err(e) => return Answer::Transport(e),
        };
        Answer::Http {
            status,
            retry_after,
            body,
        }
    }

    fn client_for(&self, auth: Option<&Auth>) -> Result<reqwest::Client, String> {
        let Some((cert, key)) =
            auth.and_then(|a| a.client_cert.as_ref().zip(a.client_key.as_ref()))
        else {
            return Ok(self.client.clone());
        };
        let (cert, key) = (self.dir.secret_path(cert), self.dir.secret_path(key));
        let k = (cert.clone(), key.clone());
        if let Some(c) = lock(&self.with_identity).get(&k) {
            return Ok(c.clone());
        }
        let mut pem = std::fs::read(&cert).map_err(|e| {
            format!("could not read the client certificate named in the registry: {e}")
        })?;
        pem.extend(
            std::fs::read(&key)
                .map_err(|e| format!("could not read the client key named in the registry: {e}"))?,
        );
        let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
            "the client certificate or key named in the registry is not valid PEM".to_string()
        })?;
        let client = client_builder(&self.cfg, &self.extra_ca)
            .identity(identity)
            .build()
            .map_err(|e| format!("could not build an HTTP client: {e}"))?;
        lock(&self.with_identity).insert(k, client.clone());
        Ok(client)
    }

    /// Every `sweep_secs`: takes over deliveries whose node's lease ran out
    /// (a store shared by several nodes), flags deliveries whose AppRec is
    /// overdue, and checks the queues' age.
    async fn sweep(self: Arc<Self>) {
        let every = Duration::from_secs(self.cfg.sweep_secs.max(1));
        let timeout =
            i64::try_from(self.cfg.apprec_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        loop {
            tokio::time::sleep(every).await;
            let now = self.clock.now();
            match self.store.reclaim_expired(now).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(
                        deliveries = n,
                        "deliveries claimed by a node whose lease ran out are sent again"
                    );
                    self.wake.notify_one();
                }
                Err(StoreError::Closed) => return,
                Err(e) => tracing::error!(error = %e, "could not take over expired leases"),
            }
            match self
                .store
                .flag_overdue(now, now.saturating_sub(timeout))
                .await
            {
                Ok(ids) => {
                    for id in ids {
                        tracing::warn!(
                            alert = "apprec_overdue",
                            delivery = id,
                            "delivered, but no application receipt came in time"
                        );
                    }
                }
                Err(StoreError::Closed) => return,
                Err(e) => tracing::error!(error = %e, "could not look for overdue receipts"),
            }
            match self.check_queue_ages(now).await {
                Ok(()) => {}
                Err(StoreError::Closed) => return,
                Err(e) => tracing::error!(error = %e, "could not record a queue-age alert"),
            }
        }
    }

    /// Raises a `queue_age` alert for each destination whose oldest open
    /// delivery has waited longer than `queue_age_alert_secs`, and a
    /// `queue_age_cleared` one for each such destination that has caught
    /// up. The destinations alerted are kept in memory: after a restart a
    /// queue still old is alerted again.
    async fn check_queue_ages(&self, now: Millis) -> Result<(), StoreError> {
        let limit =
            i64::try_from(self.cfg.queue_age_alert_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(());
        }
        let gauges = match self.store.queue_gauges().await {
            Ok(g) => g,
            Err(StoreError::Closed) => return Err(StoreError::Closed),
            Err(e) => {
                tracing::error!(error = %e, "could not read the queues' ages");
                return Ok(());
            }
        };
        let (raise, clear) = {
            let open = lock(&self.old_queues);
            judge_queue_ages(&gauges.receivers, &open, now, limit)
        };
        // Each destination's state changes only once its alert is stored,
        // so an alert the store could not take is tried again next sweep.
        for her in raise {
            let minutes = self.cfg.queue_age_alert_secs / 60;
            tracing::warn!(
                alert = "queue_age",
                receiver_her = %her,
                "a destination's oldest delivery has waited longer than the limit"
            );
            self.store
                .alert(
                    "queue_age",
                    &her,
                    &format!(
                        "Køen til HER-id {her} har meldinger som har ventet over {minutes} min."
                    ),
                    &format!("The queue to HER-id {her} has messages waiting over {minutes} min."),
                    now,
                )
                .await?;
            lock(&self.old_queues).insert(her);
        }
        for her in clear {
            tracing::info!(alert = "queue_age_cleared", receiver_her = %her, "a destination's queue has caught up");
            self.store
                .alert(
                    "queue_age_cleared",
                    &her,
                    &format!("Køen til HER-id {her} er tatt igjen."),
                    &format!("The queue to HER-id {her} has caught up."),
                    now,
                )
                .await?;
            lock(&self.old_queues).remove(&her);
        }
        Ok(())
    }
}

/// Which destinations to alert (`.0`) and which to clear (`.1`), given
/// the queues now, those alerted (`open`), the time and the age limit (ms).
/// A destination is old when its oldest queued or in-flight delivery is
/// older than the limit; an alerted one is cleared when it is not old any
/// more, or has nothing open (a destination missing from `receivers` has
/// nothing open).
fn judge_queue_ages(
    receivers: &[overgang_store::ReceiverGauges],
    open: &BTreeSet<String>,
    now: Millis,
    limit: i64,
) -> (Vec<String>, Vec<String>) {
    let old: BTreeSet<&str> = receivers
        .iter()
        .filter(|r| {
            [r.oldest_queued_at, r.oldest_in_flight_at]
                .into_iter()
                .flatten()
                .min()
                .is_some_and(|at| now.saturating_sub(at) > limit)
        })
        .map(|r| r.receiver_her.as_str())
        .collect();
    let raise = old
        .iter()
        .filter(|h| !open.contains(**h))
        .map(|h| (*h).to_owned())
        .collect();
    let clear = open
        .iter()
        .filter(|h| !old.contains(h.as_str()))
        .cloned()
        .collect();
    (raise, clear)
}

/// Words for a transport failure: the innermost cause, without the URL.
fn transport_words(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "tidsavbrudd / timed out".into();
    }
    if e.is_connect() {
        return "kunne ikke koble til / could not connect".into();
    }
    let mut cause = None;
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = Some(s.to_string());
        src = s.source();
    }
    let cause = cause.unwrap_or_else(|| {
        if e.is_body() || e.is_decode() {
            "the answer could not be read".into()
        } else {
            "the request failed".into()
        }
    });
    format!("forbindelsen feilet / the connection failed: {cause}")
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > limit {
                    return Err(format!("the answer is larger than {limit} bytes"));
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(transport_words(&e)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
