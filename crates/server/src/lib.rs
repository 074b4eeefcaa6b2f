//! The gateway service: `overgang serve`.
//!
//! Intake → validate → store, answered at once with an AppRec. The pieces:
//!
//! - [`config`]: the TOML file, `OVERGANG_…` environment variables, checks
//!   that refuse unsafe settings;
//! - [`auth`]: sender systems, tokens (Argon2id hashes), which parties a
//!   system may send as;
//! - [`app`]: the HTTP API (axum): intake, message metadata, search, health;
//! - [`metrics`]: `GET /metrics` (Prometheus text format);
//! - [`openapi`]: `GET /api/openapi.json`, the API and the web pages as
//!   OpenAPI 3.1; other crates' routes join it through [`Gateway::mount`];
//! - [`listener`]: the accept loop: TLS (rustls), the connection limit,
//!   header timeouts, graceful shutdown;
//! - [`patient`]: the keyed hash under which patient ids are indexed;
//! - [`registry`]: the address registry in force, and its reloads (file
//!   change, SIGHUP, admin API);
//! - [`retention`]: the sweeper that deletes expired messages and access
//!   log entries and gives space back, on a schedule;
//! - [`flow_webhook`]: the notifier that announces overdue expected
//!   messages to `[flow] webhook_url`.
//!
//! The store ([`overgang_store`]) is behind a trait; the answer to a sender
//! is written only after the store has made the message durable.

pub mod app;
pub mod auth;
pub mod config;
pub mod deliveries;
pub mod flow;
pub mod flow_api;
pub mod flow_webhook;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod patient;
pub mod registry;
pub mod retention;
pub mod ruleset;
pub mod ui;
pub mod x509;

pub use config::Config;
pub use openapi::openapi;
/// Time formats (the `overgang-timefmt` crate), where the server has always
/// had them.
pub use overgang_timefmt as timefmt;

/// Errors starting or running the server. Texts name the setting or file
/// and never contain message content.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration {place}: {reason}")]
    Config { place: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("could not listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error(transparent)]
    Store(#[from] overgang_store::StoreError),
    #[error("validator: {0}")]
    Validator(#[from] overgang_validate::Error),
    #[error(transparent)]
    Deliver(#[from] overgang_deliver::DeliverError),
}

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A bound, ready gateway: everything loaded and checked, the socket open.
pub struct Gateway {
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    systems: Arc<auth::Systems>,
    state: Arc<app::AppState<overgang_store::AnyStore>>,
    /// The delivery stage (`None` when `delivery.enabled = false`).
    deliverer: Option<Arc<overgang_deliver::Deliverer<overgang_store::AnyStore>>>,
    /// The retention sweeper (`None` when it has nothing to do).
    sweeper: Option<Arc<retention::Sweeper<overgang_store::AnyStore>>>,
    /// The flow webhook's notifier (`None` without `flow.webhook_url`).
    notifier: Option<Arc<flow_webhook::Notifier<overgang_store::AnyStore>>>,
    opts: listener::ListenOptions,
    scheme: &'static str,
    registry_poll: Duration,
    request_timeout: Duration,
}

/// Opens the store the configuration names: the embedded SQLite store
/// under `data`, or the PostgreSQL database at `url` (its migrations run
/// first, under a lock, so several nodes may start at once).
pub async fn open_store(c: &config::StoreConfig) -> Result<overgang_store::AnyStore, ServerError> {
    match c.kind {
        config::StoreKind::Sqlite => Ok(overgang_store::sqlite::SqliteStore::open(
            &c.data,
            overgang_store::sqlite::SqliteOptions {
                group_commit: c.group_commit,
                max_batch: c.max_batch.max(1),
                commit_spacing: std::time::Duration::from_millis(c.commit_spacing_ms.min(1000)),
                ..Default::default()
            },
        )?
        .into()),
        config::StoreKind::Postgres => {
            let url = c.url.as_deref().unwrap_or_default();
            let mut opts = overgang_store::postgres::PgOptions {
                pool_size: c.pool_size.max(1),
                lease_ms: i64::try_from(c.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
                ..Default::default()
            };
            if let Some(id) = &c.node_id {
                opts.node_id = id.clone();
            }
            Ok(overgang_store::postgres::PgStore::connect(url, opts)
                .await?
                .into())
        }
    }
}

/// What [`Gateway::start`] reports for people: warnings about settings.
pub type Warnings = Vec<String>;

impl Gateway {
    /// Checks the configuration, loads rules, registry and TLS material,
    /// opens the store and binds the socket. Nothing is served yet.
    pub async fn start(config: &Config) -> Result<(Gateway, Warnings), ServerError> {
        config.check()?;
        let mut warnings: Vec<String> = config
            .ignored_env
            .iter()
            .map(|v| format!("environment variable {v} names no setting; ignored"))
            .collect();
        let mut limits = overgang_xml::Limits {
            max_bytes: config.server.max_body_bytes,
            ..Default::default()
        };
        if let Some(d) = config.validation.max_depth {
            limits.max_depth = d;
        }
        let ruleset = Arc::new(ruleset::Ruleset::load(
            limits,
            config.validation.rules.clone(),
            app::now_millis(),
        )?);
        config.routing.check().map_err(|e| ServerError::Config {
            place: "routing".into(),
            reason: e.to_string(),
        })?;
        let registry = Arc::new(registry::RegistryHandle::load(
            config.registry.file.as_deref(),
        )?);
        let patient_key = match &config.security.patient_key {
            Some(k) => patient::PatientKey::from_hex(k).map_err(|r| ServerError::Config {
                place: "security.patient_key".into(),
                reason: r.into(),
            })?,
            None => {
                warnings.push(
                    "no security.patient_key: patient index values are made with a key for this run only and will not match after a restart".into(),
                );
                patient::PatientKey::ephemeral()
            }
        };
        if config.systems.is_empty() {
            warnings.push("no [[systems]] configured: every intake request will get 401".into());
        }
        let tls = match &config.tls {
            Some(t) => Some(listener::tls_config(
                &t.cert,
                &t.key,
                t.client_ca.as_deref(),
            )?),
            None => None,
        };
        let store = Arc::new(open_store(&config.store).await?);
        let sweeper = {
            use overgang_store::Store;
            let r = &config.retention;
            let space = store.space().await?;
            if r.deletes() && !space.incremental && store.as_sqlite().is_some() {
                warnings.push(
                    "the store is not in incremental auto-vacuum mode: space of deleted messages is reused, but the file does not shrink (docs/RELIABILITY.md, Retention)".into(),
                );
            }
            let vacuums = space.incremental && r.vacuum_every_mins > 0 && r.vacuum_pages > 0;
            (r.deletes() || vacuums).then(|| {
                Arc::new(
                    retention::Sweeper::new(
                        store.clone(),
                        Arc::new(overgang_deliver::SystemClock),
                        r.clone(),
                    )
                    .with_flow(config.flow.window_days.max(1)),
                )
            })
        };
        let code_lists = overgang_codelists::CodeLists::builtin();
        let metrics = Arc::new(metrics::Metrics::new(&code_lists, app::now_millis()));
        let deliverer = if config.delivery.enabled {
            Some(Arc::new(
                overgang_deliver::Deliverer::new(
                    store.clone(),
                    registry.clone(),
                    Arc::new(overgang_deliver::SystemClock),
                    config.delivery.clone(),
                )?
                .with_metrics(metrics.delivery.clone()),
            ))
        } else {
            warnings.push(
                "delivery.enabled = false: messages are routed and queued but not delivered".into(),
            );
            None
        };
        if config.registry.file.is_none() {
            warnings.push(
                "no registry.file: messages are validated and stored, but not routed or delivered"
                    .into(),
            );
        }
        let systems = Arc::new(auth::Systems::new(&config.systems));
        let people = ui::people::LocalUsers::open(config.ui.users.as_deref())?;
        if config.ui.users.is_none() {
            warnings.push("no ui.users file: nobody can log in to the web pages".into());
        }
        let flow = Arc::new(flow::FlowState::new(
            flow::load_config(&config.flow)?,
            config.flow.window_days.max(1),
        ));
        let notifier = match &config.flow.webhook_url {
            None => None,
            Some(url) => {
                if let Some(f) = &config.flow.webhook_token_file {
                    std::fs::read_to_string(f).map_err(|e| ServerError::Config {
                        place: format!("flow.webhook_token_file {}", f.display()),
                        reason: e.to_string(),
                    })?;
                }
                let client =
                    overgang_deliver::http_client(&config.delivery, flow_webhook::TIMEOUT)?;
                Some(Arc::new(flow_webhook::Notifier::new(
                    store.clone(),
                    Arc::new(overgang_deliver::SystemClock),
                    flow.clone(),
                    client,
                    url.clone(),
                    config.flow.webhook_token_file.clone(),
                    Duration::from_secs(config.flow.webhook_every_secs.max(1)),
                )))
            }
        };
        let ui = Arc::new(ui::Ui::new(Arc::new(people), &config.ui, tls.is_some()));
        let state = Arc::new(app::AppState {
            store,
            ruleset,
            systems: systems.clone(),
            token_checks: tokio::sync::Semaphore::new(app::TOKEN_CHECKS),
            registry,
            waker: deliverer.as_ref().map(|d| d.waker()),
            copy_rules: config.routing.clone(),
            patient_key,
            apprec: app::AppState::<()>::apprec_options(
                &config.apprec.version,
                config.apprec.status3_for_warnings,
            ),
            code_lists,
            max_body_bytes: config.server.max_body_bytes,
            ui,
            flow,
            metrics,
            openapi: openapi::Served::new(openapi::openapi()),
        });
        let app = app::router(state.clone());
        let listener = listener::bind(config.server.listen).await?;
        Ok((
            Gateway {
                listener,
                app,
                scheme: if tls.is_some() { "https" } else { "http" },
                tls,
                systems,
                state,
                deliverer,
                sweeper,
                notifier,
                registry_poll: Duration::from_secs(config.registry.poll_secs),
                request_timeout: Duration::from_secs(config.server.request_timeout_secs.max(1)),
                opts: listener::ListenOptions {
                    max_connections: config.server.max_connections,
                    header_timeout: Duration::from_secs(config.server.header_timeout_secs.max(1)),
                    shutdown_grace: Duration::from_secs(config.server.shutdown_grace_secs),
                },
            },
            warnings,
        ))
    }

    /// The address actually bound (the port is chosen when 0 was asked).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The whole HTTP application, for driving it in-process (benchmarks);
    /// serving goes through [`Gateway::run`].
    pub fn router(&self) -> axum::Router {
        self.app.clone()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Serves another crate's routes beside the API and the pages, and adds
    /// the paths and components of their OpenAPI document `doc` to the one
    /// `GET /api/openapi.json` serves. `routes` carries its own state; its
    /// paths must not overlap the API's (axum panics at the merge, at
    /// start). Requests to them get the same connection handling,
    /// authentication options and request timeout as the API's.
    pub fn mount(&mut self, routes: axum::Router, doc: utoipa::openapi::OpenApi) {
        self.app = std::mem::take(&mut self.app).merge(routes);
        self.state.openapi.merge(doc);
    }

    /// Serves until `shutdown` completes, lets requests in flight finish,
    /// then closes the store (pending writes finish first).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let alert_state = self.state.clone();
        let watcher = tokio::spawn(registry::watch(
            self.state.registry.clone(),
            self.registry_poll,
            self.state.store.reloads(),
            self.state.ruleset.clone(),
            move |error| {
                let st = alert_state.clone();
                tokio::spawn(async move { app::registry_refused(&st, &error).await });
            },
        ));
        let lag = tokio::spawn(watch_runtime_lag());
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let grace = self.opts.shutdown_grace;
        let delivery = self.deliverer.clone().map(|d| {
            tokio::spawn(d.run(
                async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                },
                grace,
            ))
        });
        let sweeping = self.sweeper.clone().map(|s| {
            let mut stop = stop_tx.subscribe();
            tokio::spawn(s.run(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            }))
        });
        let notifying = self.notifier.clone().map(|n| {
            let mut stop = stop_tx.subscribe();
            tokio::spawn(n.run(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            }))
        });
        let mut app = self
            .app
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                self.request_timeout,
            ));
        if self.tls.is_some() {
            // Over TLS, browsers are told to come back only over TLS
            // (HSTS; a year; the gateway has no plain listener beside it).
            app = app.layer(axum::middleware::map_response(
                |mut r: axum::response::Response| async move {
                    r.headers_mut().insert(
                        axum::http::header::STRICT_TRANSPORT_SECURITY,
                        axum::http::HeaderValue::from_static("max-age=31536000"),
                    );
                    r
                },
            ));
        }
        listener::serve(
            self.listener,
            app,
            self.tls,
            Some(self.systems),
            self.opts,
            shutdown,
        )
        .await;
        // Intake has stopped; let attempts under way be recorded.
        let _ = stop_tx.send(true);
        if let Some(task) = delivery {
            let _ = task.await;
        }
        if let Some(task) = sweeping {
            let _ = task.await;
        }
        if let Some(task) = notifying {
            let _ = task.await;
        }
        watcher.abort();
        lag.abort();
        use overgang_store::Store;
        self.state.store.close().await?;
        tracing::info!("store closed");
        Ok(())
    }
}

/// How often [`watch_runtime_lag`] looks, and how late it may wake before
/// it says so.
const LAG_TICK: std::time::Duration = std::time::Duration::from_millis(100);
const LAG_WARN: std::time::Duration = std::time::Duration::from_millis(250);

/// Wakes every [`LAG_TICK`] and logs a warning when it woke
/// [`LAG_WARN`] or more late: then the runtime's worker threads, which
/// serve every request, were all busy (or the process was not scheduled)
/// that long. For finding what holds intake up (docs/RELIABILITY.md, Soak).
async fn watch_runtime_lag() {
    loop {
        let before = std::time::Instant::now();
        tokio::time::sleep(LAG_TICK).await;
        let late = before.elapsed().saturating_sub(LAG_TICK);
        if late >= LAG_WARN {
            tracing::warn!(
                late_ms = u64::try_from(late.as_millis()).unwrap_or(u64::MAX),
                "runtime: the worker threads were busy"
            );
        }
    }
}
