//! The HTTP API.
//!
//! - `POST /api/v1/messages`: intake. Authenticate, read the body within the
//!   limit, validate, check the sender may send as the message's sender,
//!   build the AppRec, store durably, then answer.
//! - `GET /api/v1/messages/{id}`, `…/{id}/apprec`, `GET /api/v1/messages?…`.
//! - `GET /healthz`, `GET /readyz`.
//! - `POST /api/v1/admin/registry/reload`: admin systems only.
//! - `GET /metrics`: Prometheus text format, for systems with
//!   `may_read_all` or `admin` ([`crate::metrics`]).
//!
//! Logs carry the gateway's message id, the sender HER-id, the type and the
//! verdict; never a national id, a name or message content.

// Helpers return the error answer itself (`Result<_, Response>`), the axum
// idiom; a Response is 128 bytes, which is fine on this path.
#![allow(clippy::result_large_err)]

use crate::openapi::Problem;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use overgang_apprec::{AppRecOptions, AppRecVersion, NewReceipt};
use overgang_model::{Category, Finding, Message, Severity, Verdict};
use overgang_store::{Metadata, NewMessage, State as MsgState, Store, Submitted};
use overgang_validate::Validator;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::{AuthFailure, System, Systems};
use crate::patient::PatientKey;
use crate::registry::{RegistryHandle, Trigger};
use crate::timefmt;

/// Bodies up to this size are validated on the request's own task; larger
/// ones on the blocking pool, so one huge message cannot stall others.
const INLINE_VALIDATION_BYTES: usize = 256 * 1024;

/// An intake request that takes this long is logged (a warning) with the
/// time each step took, for finding what holds intake up
/// (docs/RELIABILITY.md, Soak).
const SLOW_INTAKE: std::time::Duration = std::time::Duration::from_millis(500);

/// The steps of one intake request and how long each took; when dropped
/// (on every way out of the handler) it logs them if the whole request
/// took [`SLOW_INTAKE`] or more. Names and durations only: nothing from
/// the message.
struct IntakeTimer {
    started: std::time::Instant,
    last: std::time::Instant,
    steps: Vec<(&'static str, std::time::Duration)>,
}

impl IntakeTimer {
    fn start() -> Self {
        let now = std::time::Instant::now();
        IntakeTimer {
            started: now,
            last: now,
            steps: Vec::with_capacity(6),
        }
    }

    /// The step that ends now.
    fn step(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.steps.push((name, now - self.last));
        self.last = now;
    }

    /// "auth 0 ms, body 1 ms, …", or `None` if the request was quick.
    fn slow(&self) -> Option<(u128, String)> {
        let took = self.started.elapsed();
        (took >= SLOW_INTAKE).then(|| {
            let steps = self
                .steps
                .iter()
                .map(|(name, d)| format!("{name} {} ms", d.as_millis()))
                .collect::<Vec<_>>()
                .join(", ");
            (took.as_millis(), steps)
        })
    }
}

impl Drop for IntakeTimer {
    fn drop(&mut self) {
        if let Some((took_ms, steps)) = self.slow() {
            tracing::warn!(took_ms, steps = %steps, "intake: a slow request");
        }
    }
}

/// Argon2 token checks that may run at once.
pub const TOKEN_CHECKS: usize = 2;

/// Everything a request needs, shared by all of them.
pub struct AppState<S> {
    pub store: Arc<S>,
    /// The validator in force: profiles and rules (reloadable).
    pub ruleset: Arc<crate::ruleset::Ruleset>,
    pub systems: Arc<Systems>,
    /// Argon2 token checks under way at most (see `authenticate`).
    pub token_checks: tokio::sync::Semaphore,
    /// The address registry in force (reloadable).
    pub registry: Arc<RegistryHandle>,
    /// Wakes the delivery stage when routed messages are stored.
    pub waker: Option<Arc<tokio::sync::Notify>>,
    /// Copies routing adds (e.g. the GP on a discharge report).
    pub copy_rules: overgang_route::CopyRules,
    pub patient_key: PatientKey,
    pub apprec: AppRecOptions,
    /// The code lists the AppRec writer looks up error codes in, read once.
    pub code_lists: overgang_codelists::CodeLists,
    pub max_body_bytes: usize,
    /// The web pages for people (sessions, users).
    pub ui: Arc<crate::ui::Ui>,
    /// Patient flow: the rules (expected messages, deadlines, day rates).
    pub flow: Arc<crate::flow::FlowState>,
    /// What `GET /metrics` shows (the delivery stage counts into
    /// `metrics.delivery`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What `GET /api/openapi.json` serves.
    pub openapi: crate::openapi::Served,
}

impl<S> AppState<S> {
    pub fn apprec_options(version: &str, status3_for_warnings: bool) -> AppRecOptions {
        AppRecOptions {
            version: if version == "1.0" {
                AppRecVersion::V1_0
            } else {
                AppRecVersion::V1_1
            },
            status3_for_warnings,
            software_name: Some("Overgang".to_owned()),
            software_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..AppRecOptions::default()
        }
    }
}

/// What the listener knows about the connection a request came on.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    /// The system a verified client certificate maps to (mutual TLS).
    pub cert_system: Option<Arc<System>>,
    /// The client's address (login rate limits).
    pub peer: Option<std::net::SocketAddr>,
}

/// The API's routes, each added with its method, so that what the server
/// serves is listed in one place ([`route_list`]) and a test can compare
/// it with the OpenAPI document: a route added without a
/// `#[utoipa::path]` fails that test. Add routes only through it.
pub struct Routes<S> {
    router: Router<Arc<AppState<S>>>,
    list: Vec<(&'static str, &'static str)>,
}

impl<S: Store> Routes<S> {
    fn new() -> Routes<S> {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    pub(crate) fn get<H, T>(mut self, path: &'static str, handler: H) -> Routes<S>
    where
        H: axum::handler::Handler<T, Arc<AppState<S>>>,
        T: 'static,
    {
        self.router = self.router.route(path, get(handler));
        self.list.push(("get", path));
        self
    }

    pub(crate) fn post<H, T>(mut self, path: &'static str, handler: H) -> Routes<S>
    where
        H: axum::handler::Handler<T, Arc<AppState<S>>>,
        T: 'static,
    {
        self.router = self.router.route(path, post(handler));
        self.list.push(("post", path));
        self
    }
}

fn routes<S: Store>() -> Routes<S> {
    let r = Routes::new()
        .post("/api/v1/messages", intake::<S>)
        .get("/api/v1/messages", search::<S>)
        .get("/api/v1/messages/{id}", message::<S>)
        .get("/api/v1/messages/{id}/apprec", apprec::<S>)
        .get("/healthz", healthz)
        .get("/readyz", ready::<S>)
        .post("/api/v1/admin/registry/reload", reload_registry::<S>)
        .post("/api/v1/admin/rules/reload", reload_rules::<S>)
        .get("/metrics", metrics::<S>)
        .get("/api/openapi.json", openapi_json::<S>);
    let r = crate::deliveries::routes(r);
    crate::flow_api::routes(r)
}

/// Every route the server serves, as (lower-case method, path in OpenAPI's
/// `{param}` syntax).
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    routes::<overgang_store::sqlite::SqliteStore>().list
}

pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    routes::<S>()
        .router
        .merge(crate::ui::routes::<S>())
        .with_state(state)
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A JSON error for people and programs: a stable code and both languages.
pub(crate) fn problem(status: StatusCode, code: &str, nb: &str, en: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": code, "text_nb": nb, "text_en": en }).to_string(),
    )
        .into_response()
}

fn unauthorized(f: AuthFailure) -> Response {
    let mut r = match f {
        AuthFailure::Missing => problem(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Forespørselen mangler «Authorization: Bearer <token>».",
            "The request has no 'Authorization: Bearer <token>'.",
        ),
        AuthFailure::Invalid => problem(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "Ukjent eller ugyldig token.",
            "Unknown or invalid token.",
        ),
    };
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// The system behind the request: its client certificate, else its token.
async fn authenticate<S: Store>(
    state: &Arc<AppState<S>>,
    headers: &HeaderMap,
    conn: Option<&ConnInfo>,
) -> Result<Arc<System>, Response> {
    if let Some(s) = conn.and_then(|c| c.cert_system.clone()) {
        return Ok(s);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        })
        .ok_or_else(|| unauthorized(AuthFailure::Missing))?;
    if let Some(s) = state.systems.remembered(&token) {
        return Ok(s);
    }
    // Argon2 is deliberately slow and takes 19 MiB per check: at most
    // TOKEN_CHECKS run at once. 32 clients starting together with one new
    // token cost one or two checks, not 32 (which left the process holding
    // over a gigabyte), and unknown tokens cannot ask for memory without
    // bound.
    let _slot = state.token_checks.acquire().await.map_err(|_| {
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "Gatewayen stopper.",
            "The gateway is stopping.",
        )
    })?;
    // Off the request threads; `by_token` looks among the remembered
    // tokens first, so a request that waited here usually finds its token
    // checked by the one before it.
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.systems.by_token(&token))
        .await
        .map_err(|_| {
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Intern feil.",
                "Internal error.",
            )
        })?
        .map_err(unauthorized)
}

/// The authenticated system behind a request, as an extractor: a handler
/// that takes it runs only for an authenticated caller; others get 401.
pub struct Caller(pub Arc<System>);

impl<S: Store> axum::extract::FromRequestParts<Arc<AppState<S>>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Caller, Response> {
        let conn = parts.extensions.get::<ConnInfo>();
        authenticate(state, &parts.headers, conn).await.map(Caller)
    }
}

/// A system with `may_read_all = true` or `admin = true`, as an extractor
/// (operators' tools and monitoring): others get 403, unauthenticated
/// callers 401.
pub struct Reader(pub Arc<System>);

impl<S: Store> axum::extract::FromRequestParts<Arc<AppState<S>>> for Reader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Reader, Response> {
        let Caller(system) = Caller::from_request_parts(parts, state).await?;
        if !(system.may_read_all || system.admin) {
            return Err(problem(
                StatusCode::FORBIDDEN,
                "not_reader",
                "Systemet må ha «may_read_all = true» eller «admin = true».",
                "The system needs 'may_read_all = true' or 'admin = true'.",
            ));
        }
        Ok(Reader(system))
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

pub(crate) fn xml_response(status: StatusCode, xml: Vec<u8>, location: Option<&str>) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

pub(crate) fn json_response(
    status: StatusCode,
    body: serde_json::Value,
    location: Option<&str>,
) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

/// How much of a too-large body is still read (and thrown away) before the
/// 413 answer, so that a client that is still sending gets the answer rather
/// than a broken connection. Beyond this the connection is simply closed.
const DRAIN_BYTES: usize = 4 * 1024 * 1024;

/// Reads the body, refusing more than `limit` bytes with 413.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Response> {
    use http_body_util::BodyExt;
    let too_large = || {
        problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("Meldingen er større enn grensen på {limit} byte."),
            &format!("The message is larger than the limit of {limit} bytes."),
        )
    };
    let unreadable = || {
        problem(
            StatusCode::BAD_REQUEST,
            "body",
            "Kunne ikke lese forespørselens innhold.",
            "Could not read the request body.",
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(DRAIN_BYTES) as u64) {
        return Err(too_large());
    }
    let mut body = body;
    let mut buf =
        bytes::BytesMut::with_capacity(declared.map_or(16 * 1024, |n| (n as usize).min(limit)));
    let mut seen: usize = 0;
    let mut over = declared.is_some_and(|n| n > limit as u64);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| unreadable())?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            over = true;
        }
        if over {
            if seen > limit.saturating_add(DRAIN_BYTES) {
                break;
            }
        } else {
            buf.extend_from_slice(&data);
        }
    }
    if over {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

struct Answer {
    apprec: overgang_apprec::AppRec,
}

fn build_apprec<S>(
    state: &AppState<S>,
    message: &Message,
    findings: &[Finding],
    now: i64,
) -> Result<Answer, Response> {
    let receipt_id = uuid::Uuid::new_v4().to_string();
    let gen_date = timefmt::xs_datetime(now.div_euclid(1000));
    overgang_apprec::build_with(
        message,
        findings,
        &NewReceipt {
            msg_id: &receipt_id,
            gen_date: &gen_date,
        },
        &state.apprec,
        &state.code_lists,
    )
    .map(|apprec| Answer { apprec })
    .map_err(|_| {
        state.metrics.refused("internal");
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Kunne ikke lage applikasjonskvittering.",
            "Could not build the application receipt.",
        )
    })
}

/// Routes an acceptable message with the registry in force (none when no
/// registry file is configured, or the message is already rejected) and
/// adds routing's findings to the report, updating its verdict.
fn route_message<S>(
    state: &AppState<S>,
    report: &mut overgang_validate::Report,
) -> Option<overgang_route::Plan> {
    state.registry.path()?;
    if report.verdict == Verdict::Rejected {
        return None;
    }
    let registry = state.registry.current();
    let doc = report.document.as_ref();
    let validator = state.ruleset.current();
    let schemas = validator.schemas();
    let locate = |l: overgang_model::Loc| {
        let n = l.node(doc?)?;
        let (line, column) = n.line_col();
        Some(overgang_route::Place {
            path: schemas.path_of(n),
            line,
            column,
        })
    };
    let plan =
        overgang_route::route_located(&report.message, &registry, &state.copy_rules, &locate);
    if plan.findings.is_empty() {
        return Some(plan);
    }
    report.findings.extend(plan.findings.iter().cloned());
    report.verdict = Verdict::of(&report.findings);
    (!plan.is_rejected()).then_some(plan)
}

/// The keyed index value of the message's first patient identifier.
fn patient_index(key: &PatientKey, message: &Message) -> Option<String> {
    let patient = message.head.as_ref()?.patient.as_ref()?;
    patient.idents.iter().find_map(|i| {
        let id = i.id.expose().as_deref()?.trim();
        (!id.is_empty()).then(|| key.index(i.type_code().unwrap_or("?"), id))
    })
}

/// Every HER-id the envelope names: sender and receiver (organisation and
/// unit or person) and the copy receivers.
fn parties_of(message: &Message) -> Vec<String> {
    let Some(head) = message.head.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<String> = [head.sender.as_ref(), head.receiver.as_ref()]
        .into_iter()
        .flatten()
        .flat_map(|p| [p.her_id(), p.sub_her_id()])
        .chain(head.other_receivers.iter().map(|o| o.her_id()))
        .flatten()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn name_terms(key: &PatientKey, message: &Message) -> Vec<String> {
    let Some(p) = message.head.as_ref().and_then(|h| h.patient.as_ref()) else {
        return Vec::new();
    };
    key.name_terms(
        [&p.family_name, &p.middle_name, &p.given_name]
            .into_iter()
            .filter_map(|n| n.expose().as_deref()),
    )
}

fn summary_json(
    id: Option<&str>,
    msg_id: Option<&str>,
    verdict: &str,
    findings: serde_json::Value,
    apprec_status: u8,
) -> serde_json::Value {
    json!({
        "id": id,
        "msg_id": msg_id,
        "verdict": verdict,
        "findings": findings,
        "apprec_status": apprec_status,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/messages",
    tag = "intake",
    operation_id = "postMessage",
    summary = "Intake: validate, route and store a message; the answer is its AppRec",
    description = "The answer is written only after the message and its first history entry are durably committed. By default the body is the AppRec; with `Accept: application/json` a summary.",
    params(("Accept" = Option<String>, Header, description = "`application/json` for a JSON summary instead of the AppRec")),
    request_body(content = String, content_type = "application/xml", description = "The MsgHead message exactly as the EHR produced it (UTF-8 or ISO-8859-1, as its XML declaration says)"),
    responses(
        (status = 201, description = "New and accepted (possibly with warnings); stored", headers(("Location" = String, description = "/api/v1/messages/{id}")), content((String = "application/xml"), (crate::openapi::IntakeSummary = "application/json"))),
        (status = 200, description = "The same sender, MsgId and bytes were posted before: the first answer again; nothing stored", content((String = "application/xml"), (crate::openapi::IntakeSummary = "application/json"))),
        (status = 422, description = "New and rejected (an error finding): AppRec status 2; stored as rejected", headers(("Location" = String, description = "/api/v1/messages/{id}")), content((String = "application/xml"), (crate::openapi::IntakeSummary = "application/json"))),
        (status = 409, description = "The same sender and MsgId with other bytes: AppRec status 2, E10; nothing stored", content((String = "application/xml"), (crate::openapi::IntakeSummary = "application/json"))),
        (status = 400, description = "Not XML, not well-formed or hostile: AppRec status 2, T01 (or, JSON `body`, the body could not be read); nothing stored", content((String = "application/xml"), (crate::openapi::IntakeSummary = "application/json"))),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system may not send as the message's sender HER-id (`sender_not_allowed`)", body = Problem),
        (status = 413, description = "The body is larger than `max_body_bytes` (`too_large`)", body = Problem),
        (status = 503, description = "The store could not commit: post again later", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn intake<S: Store>(state: State<Arc<AppState<S>>>, request: Request) -> Response {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "intake",
        id = tracing::field::Empty,
        system = tracing::field::Empty,
        sender_her = tracing::field::Empty,
        msg_type = tracing::field::Empty,
        verdict = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    intake_in_span(state, request).instrument(span).await
}

async fn intake_in_span<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    request: Request,
) -> Response {
    let span = tracing::Span::current();
    let mut timer = IntakeTimer::start();
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let conn = parts.extensions.get::<ConnInfo>();
    let system = match authenticate(&state, &headers, conn).await {
        Ok(s) => s,
        Err(r) => {
            span.record("status", r.status().as_u16());
            state
                .metrics
                .refused(if r.status() == StatusCode::UNAUTHORIZED {
                    "unauthenticated"
                } else {
                    "internal"
                });
            tracing::info!("refused: not authenticated");
            return r;
        }
    };
    span.record("system", system.name.as_str());
    timer.step("auth");
    let bytes = match read_body(&headers, body, state.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => {
            span.record("status", r.status().as_u16());
            state
                .metrics
                .refused(if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "bad_body"
                });
            tracing::info!("refused: body");
            return r;
        }
    };
    timer.step("body");
    let json = wants_json(&headers);
    let now = now_millis();
    let id = uuid::Uuid::now_v7().to_string();

    let timed = |validator: &Validator, b: &[u8]| {
        let started = std::time::Instant::now();
        let report = validator.validate(b);
        (report, started.elapsed())
    };
    // The validator in force when the message arrived, for all of it.
    let validator = state.ruleset.current();
    let (mut report, took) = if bytes.len() <= INLINE_VALIDATION_BYTES {
        timed(&validator, &bytes)
    } else {
        let v = validator.clone();
        let b = bytes.clone();
        match tokio::task::spawn_blocking(move || timed(&v, &b)).await {
            Ok(r) => r,
            Err(_) => {
                state.metrics.refused("internal");
                return problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Intern feil under validering.",
                    "Internal error while validating.",
                );
            }
        }
    };
    timer.step("validate");
    if let Some(t) = report.msg_type.as_deref() {
        span.record("msg_type", t);
    }
    // Routing: where an acceptable message goes. Its findings join the
    // others (an unknown receiver rejects the message with E21).
    let plan = route_message(&state, &mut report);
    // A habitual baseline derived from the patient's earlier messages
    // answers HAB-01 (docs/FLOW.md).
    // The patient's keyed hash, once: the baseline step, the index and the
    // flow fact all use it.
    let patient_key = patient_index(&state.patient_key, &report.message);
    crate::flow::derived_baseline_at_intake(
        &*state.store,
        state.flow.config.baseline_lookback_days,
        &mut report,
        &id,
        now,
        patient_key.clone(),
    )
    .await;
    timer.step("route and baseline");
    let verdict = report.verdict;
    span.record("verdict", verdict.as_str());
    state.metrics.validated(took);
    state
        .metrics
        .intake(report.msg_type.as_deref(), verdict.as_str());
    let message = &report.message;

    // Not XML at all: 400 with a T01 receipt; nothing to store.
    if report.document.is_none() {
        let answer = match build_apprec(&state, message, &report.findings, now) {
            Ok(a) => a,
            Err(r) => return r,
        };
        span.record("status", 400u16);
        state.metrics.refused("not_xml");
        tracing::info!("refused: not XML");
        return if json {
            json_response(
                StatusCode::BAD_REQUEST,
                summary_json(
                    None,
                    None,
                    verdict.as_str(),
                    serde_json::to_value(&report.findings).unwrap_or_default(),
                    answer.apprec.status.code().parse().unwrap_or(2),
                ),
                None,
            )
        } else {
            xml_response(
                StatusCode::BAD_REQUEST,
                answer.apprec.xml.into_bytes(),
                None,
            )
        };
    }

    // May this system send as the message's sender?
    let sender = message.sender();
    let sender_hers: Vec<&str> = sender
        .map(|s| [s.her_id(), s.sub_her_id()].into_iter().flatten().collect())
        .unwrap_or_default();
    if let Some(h) = sender_hers.first() {
        span.record("sender_her", *h);
    }
    if !sender_hers.is_empty() && !system.may_send_as(sender_hers.iter().copied()) {
        span.record("status", 403u16);
        state.metrics.refused("sender_not_allowed");
        tracing::info!("refused: system may not send as this sender");
        return problem(
            StatusCode::FORBIDDEN,
            "sender_not_allowed",
            "Systemet har ikke lov til å sende på vegne av avsenderen i meldingen (HER-id).",
            "This system may not send on behalf of the message's sender (HER-id).",
        );
    }

    let answer = match build_apprec(&state, message, &report.findings, now) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let apprec_status: u8 = answer.apprec.status.code().parse().unwrap_or(2);
    let findings_json = serde_json::to_string(&report.findings).unwrap_or_else(|_| "[]".into());
    let sender_her = sender.and_then(|s| s.her_id().or(s.most_specific_her_id()));
    let receiver_her = message
        .receiver()
        .and_then(|r| r.most_specific_her_id())
        .map(str::to_owned);
    let msg_id = report.msg_id.clone();
    let idempotency_key = msg_id.as_deref().map(|m| {
        format!(
            "{}|{}",
            sender_her.map(str::trim).unwrap_or(system.name.as_str()),
            m.trim()
        )
    });
    let rejected = verdict == Verdict::Rejected;
    let state_at_intake = if rejected {
        MsgState::Rejected
    } else {
        MsgState::Accepted
    };
    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    let flow_fact = (!rejected)
        .then(|| {
            let receivers: Vec<String> = plan
                .as_ref()
                .map(|p| p.targets.iter().map(|t| t.her.clone()).collect())
                .unwrap_or_default();
            crate::flow::fact_json(
                &state.registry.current(),
                message,
                &id,
                now,
                patient_key.clone(),
                &receivers,
            )
        })
        .flatten();
    let new = NewMessage {
        id: id.clone(),
        received_at: now,
        system: system.name.clone(),
        idempotency_key,
        sha256,
        original: bytes.to_vec(),
        meta: Metadata {
            msg_id: msg_id.clone(),
            msg_type: report.msg_type.clone(),
            standard: report.standard.clone(),
            sender_her: sender
                .and_then(|s| s.most_specific_her_id())
                .map(str::to_owned),
            receiver_her,
            patient_key,
            parties: parties_of(message),
            name_terms: name_terms(&state.patient_key, message),
            flow_fact,
        },
        verdict: verdict.as_str().to_owned(),
        findings_json,
        apprec: answer.apprec.xml.clone().into_bytes(),
        apprec_status,
        state: state_at_intake,
        actor: format!("system:{}", system.name),
        reason: if rejected {
            "avvist ved mottak / rejected at intake".into()
        } else {
            "mottatt / received".into()
        },
        route_reason: plan
            .as_ref()
            .map(|p| {
                p.targets
                    .iter()
                    .map(|t| t.history_text())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        deliveries: plan
            .map(|p| {
                p.targets
                    .into_iter()
                    .map(|t| overgang_store::NewDelivery {
                        role: match &t.reason {
                            overgang_route::Reason::Primary => "primary".to_owned(),
                            overgang_route::Reason::OtherReceiver => "other_receiver".to_owned(),
                            overgang_route::Reason::CopyRule { rule } => format!("copy:{rule}"),
                        },
                        reason: t.history_text(),
                        receiver_her: t.her,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };

    let routed = !new.deliveries.is_empty();
    timer.step("receipt");
    let outcome = state.store.submit(new).await;
    timer.step("store");
    match outcome {
        Ok(Submitted::Created) => {
            span.record("id", id.as_str());
            if routed {
                if let Some(w) = &state.waker {
                    w.notify_one();
                }
            }
            let status = if rejected {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::CREATED
            };
            span.record("status", status.as_u16());
            tracing::info!("answered");
            let location = format!("/api/v1/messages/{id}");
            if json {
                json_response(
                    status,
                    summary_json(
                        Some(&id),
                        msg_id.as_deref(),
                        verdict.as_str(),
                        serde_json::to_value(&report.findings).unwrap_or_default(),
                        apprec_status,
                    ),
                    Some(&location),
                )
            } else {
                xml_response(status, answer.apprec.xml.into_bytes(), Some(&location))
            }
        }
        Ok(Submitted::Duplicate(stored)) => {
            span.record("id", stored.id.as_str());
            span.record("status", 200u16);
            tracing::info!("answered again: the same message was posted before");
            let location = format!("/api/v1/messages/{}", stored.id);
            if json {
                let findings =
                    serde_json::from_str(&stored.findings_json).unwrap_or(serde_json::Value::Null);
                json_response(
                    StatusCode::OK,
                    summary_json(
                        Some(&stored.id),
                        msg_id.as_deref(),
                        &stored.verdict,
                        findings,
                        stored.apprec_status,
                    ),
                    Some(&location),
                )
            } else {
                xml_response(StatusCode::OK, stored.apprec, Some(&location))
            }
        }
        Ok(Submitted::Conflict { existing_id }) => {
            span.record("status", 409u16);
            state.metrics.refused("msgid_conflict");
            tracing::info!(existing = %existing_id, "refused: MsgId reused with other content");
            let finding = Finding::new(
                "GW001",
                Category::Identity,
                Severity::Error,
                "Meldingsidentifikatoren (MsgId) er allerede brukt for en annen melding fra denne avsenderen.",
                "The message identifier (MsgId) was already used for another message from this sender.",
            )
            .at("/MsgHead/MsgInfo/MsgId", 0, 0)
            .apprec("E10");
            let findings = vec![finding];
            let answer = match build_apprec(&state, message, &findings, now) {
                Ok(a) => a,
                Err(r) => return r,
            };
            if json {
                json_response(
                    StatusCode::CONFLICT,
                    json!({
                        "id": existing_id,
                        "msg_id": msg_id,
                        "verdict": "rejected",
                        "findings": findings,
                        "apprec_status": 2,
                    }),
                    None,
                )
            } else {
                xml_response(StatusCode::CONFLICT, answer.apprec.xml.into_bytes(), None)
            }
        }
        Err(e) => {
            span.record("status", 503u16);
            state.metrics.refused("store_unavailable");
            tracing::error!(error = %e, "not stored; the sender must try again");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                "Meldingen kunne ikke lagres. Send den på nytt senere.",
                "The message could not be stored. Send it again later.",
            )
        }
    }
}

pub(crate) fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        "Ingen slik melding.",
        "No such message.",
    )
}

pub(crate) fn store_unavailable(e: &overgang_store::StoreError) -> Response {
    tracing::error!(error = %e, "store read failed");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "store",
        "Lageret svarer ikke.",
        "The store does not answer.",
    )
}

/// A stored message's metadata as the API shows it (a search item; the
/// message view adds its digest, findings and history). No content.
fn summary_item_json(s: &overgang_store::Summary) -> serde_json::Map<String, serde_json::Value> {
    let value = json!({
        "id": s.id,
        "system": s.system,
        "received_at": timefmt::rfc3339_millis(s.received_at),
        "updated_at": timefmt::rfc3339_millis(s.updated_at),
        "size": s.size,
        "verdict": s.verdict,
        "state": s.state.as_str(),
        "apprec_status": s.apprec_status,
        "msg_id": s.meta.msg_id,
        "msg_type": s.meta.msg_type,
        "standard": s.meta.standard,
        "sender_her": s.meta.sender_her,
        "receiver_her": s.meta.receiver_her,
    });
    match value {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}",
    tag = "intake",
    operation_id = "getMessage",
    summary = "A message's metadata, findings, history and deliveries (never its content)",
    params(("id" = String, Path, description = "The gateway's id of the message")),
    responses(
        (status = 200, description = "The message", body = crate::openapi::MessageView),
        (status = 404, description = "No such message, or one the system may not see (`not_found`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn message<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Caller(system): Caller,
    Path(id): Path<String>,
) -> Response {
    let rec = match state.store.get(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return store_unavailable(&e),
    };
    if !system.may_read_all && rec.summary.system != system.name {
        return not_found();
    }
    let findings: serde_json::Value =
        serde_json::from_str(&rec.findings_json).unwrap_or(serde_json::Value::Null);
    let history: Vec<serde_json::Value> = rec
        .history
        .iter()
        .map(|h| {
            json!({
                "at": timefmt::rfc3339_millis(h.at),
                "actor": h.actor,
                "from": h.from.map(|s| s.as_str()),
                "to": h.to.as_str(),
                "reason": h.reason,
            })
        })
        .collect();
    let mut body = summary_item_json(&rec.summary);
    body.insert("sha256".into(), crate::patient::hex(&rec.sha256).into());
    body.insert("findings".into(), findings);
    body.insert("history".into(), history.into());
    let deliveries = match state.store.deliveries_of(&id).await {
        Ok(list) => list
            .iter()
            .map(|(d, _)| crate::deliveries::delivery_json(d, None))
            .collect::<Vec<_>>(),
        Err(e) => return store_unavailable(&e),
    };
    body.insert("deliveries".into(), deliveries.into());
    let body = serde_json::Value::Object(body);
    json_response(StatusCode::OK, body, None)
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/apprec",
    tag = "intake",
    operation_id = "getMessageApprec",
    summary = "The AppRec sent as the answer, byte for byte",
    params(("id" = String, Path, description = "The gateway's id of the message")),
    responses(
        (status = 200, description = "The AppRec", body = String, content_type = "application/xml"),
        (status = 404, description = "No such message, or one the system may not see (`not_found`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn apprec<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Caller(system): Caller,
    Path(id): Path<String>,
) -> Response {
    if !system.may_read_all {
        match state.store.get(&id).await {
            Ok(Some(r)) if r.summary.system == system.name => {}
            Ok(_) => return not_found(),
            Err(e) => return store_unavailable(&e),
        }
    }
    match state.store.apprec(&id).await {
        Ok(Some(x)) => xml_response(StatusCode::OK, x, None),
        Ok(None) => not_found(),
        Err(e) => store_unavailable(&e),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Sender HER-id (the most specific), exact.
    sender: Option<String>,
    /// Receiver HER-id (the most specific), exact.
    receiver: Option<String>,
    /// Message type (`INNLEGGELSESRAPPORT`, `LOG_UTSKREVET`, …).
    #[serde(rename = "type")]
    msg_type: Option<String>,
    /// One message state.
    state: Option<String>,
    /// `received_at >= since`: RFC 3339 or a date (midnight UTC).
    since: Option<String>,
    /// `received_at < until`: RFC 3339 or a date (midnight UTC).
    until: Option<String>,
    /// 1–1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn bad_param(name: &str, nb: &str, en: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "bad_parameter",
        &format!("Parameteren «{name}»: {nb}"),
        &format!("Parameter '{name}': {en}"),
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/messages",
    tag = "intake",
    operation_id = "searchMessages",
    summary = "Search messages' metadata, oldest first, with a cursor",
    params(SearchParams),
    responses(
        (status = 200, description = "A page", body = crate::openapi::SearchPage),
        (status = 400, description = "An unknown parameter or a bad value (`bad_parameter`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn search<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Caller(system): Caller,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                &format!("Ugyldige parametere: {}", e.body_text()),
                &format!("Invalid parameters: {}", e.body_text()),
            )
        }
    };
    let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, Response> {
        match v {
            None => Ok(None),
            Some(s) => timefmt::parse_rfc3339(s).map(Some).ok_or_else(|| {
                bad_param(
                    name,
                    "forventet en tid som 2026-11-23T08:00:00Z eller en dato som 2026-11-23",
                    "expected a time like 2026-11-23T08:00:00Z or a date like 2026-11-23",
                )
            }),
        }
    };
    let since = match time("since", &p.since) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let until = match time("until", &p.until) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let msg_state = match p.state.as_deref() {
        None => None,
        Some(s) => match MsgState::parse(s) {
            Some(st) => Some(st),
            None => {
                return bad_param(
                    "state",
                    "ukjent tilstand",
                    "unknown state (accepted, rejected, queued, delivering, delivered, acknowledged, rejected_by_receiver, dead_lettered, cancelled, deleted)",
                )
            }
        },
    };
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return bad_param("limit", "må være 1–1000", "must be 1-1000");
    }
    let q = overgang_store::Query {
        sender_her: p.sender,
        receiver_her: p.receiver,
        msg_type: p.msg_type,
        state: msg_state,
        system: (!system.may_read_all).then(|| system.name.clone()),
        since,
        until,
        limit,
        cursor: p.cursor,
    };
    match state.store.search(&q).await {
        Ok(page) => {
            let items: Vec<serde_json::Value> = page
                .items
                .iter()
                .map(|s| serde_json::Value::Object(summary_item_json(s)))
                .collect();
            json_response(
                StatusCode::OK,
                json!({ "items": items, "next_cursor": page.next }),
                None,
            )
        }
        Err(overgang_store::StoreError::BadCursor) => {
            bad_param("cursor", "ugyldig markør", "invalid cursor")
        }
        Err(e) => store_unavailable(&e),
    }
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    summary = "Readiness: the store answers and the configuration is loaded (no authentication)",
    responses(
        (status = 200, description = "Ready", body = crate::openapi::Readiness),
        (status = 503, description = "The store does not answer", body = crate::openapi::Readiness),
    )
)]
async fn ready<S: Store>(State(state): State<Arc<AppState<S>>>) -> Response {
    let store_ok = state.store.ready().await;
    let body = json!({
        "store": if store_ok { "ok" } else { "unavailable" },
        "systems": state.systems.len(),
        "registry": state.registry.status_json(),
        "rules": state.ruleset.current().rules().rules().len(),
    });
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body, None)
}

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    summary = "Liveness: 200 while the process runs (no authentication)",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /api/openapi.json`: the OpenAPI document ([`crate::openapi`]), for
/// any authenticated system.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "health",
    operation_id = "openapi",
    summary = "This document (OpenAPI 3.1), for any authenticated system",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json"),
        (status = 401, description = "No token, or a wrong one", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn openapi_json<S: Store>(State(state): State<Arc<AppState<S>>>, _: Caller) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.json().to_string(),
    )
        .into_response()
}

/// `GET /metrics`: the Prometheus text format (see [`crate::metrics`]).
/// The store's gauges are read now; when the store does not answer, the
/// counters are still shown and `overgang_store_up` is 0.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    operation_id = "metrics",
    summary = "Metrics in Prometheus' text format (0.0.4)",
    description = "For systems with `may_read_all` or `admin`. No patient data and no message ids in any label: see docs/API.md#metrics.",
    responses(
        (status = 200, description = "The exposition text", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system has neither `may_read_all` nor `admin` (`not_reader`)", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn metrics<S: Store>(State(state): State<Arc<AppState<S>>>, _: Reader) -> Response {
    let gauges = match state.store.queue_gauges().await {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the store's gauges could not be read");
            None
        }
    };
    let now = now_millis();
    let flow = match crate::flow_api::overdue_counts(&state, now).await {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the flow's overdue messages could not be counted");
            None
        }
    };
    let text = state
        .metrics
        .render_with(gauges.as_ref(), flow.as_ref(), now);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, overgang_metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

/// Raises the alert for a registry file that was refused (the previous
/// registry stays in force). The reason names the file, line and field,
/// never message content.
pub(crate) async fn registry_refused<S: Store>(state: &AppState<S>, error: &str) {
    let file = state
        .registry
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let raised = state
        .store
        .alert(
            "registry",
            &file,
            &format!("Registerfilen ble avvist; det forrige registeret gjelder fortsatt: {error}"),
            &format!(
                "The registry file was refused; the previous registry stays in force: {error}"
            ),
            now_millis(),
        )
        .await;
    if let Err(e) = raised {
        tracing::error!(error = %e, "could not store the alert for a refused registry file");
    }
}

/// `POST /api/v1/admin/registry/reload`: reads the registry file again.
/// 200 with the registry's status when it is in force, 422 when the file is
/// refused (the previous registry stays in force), 403 for a system without
/// `admin = true`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/registry/reload",
    tag = "operators",
    operation_id = "reloadRegistry",
    summary = "Read the address registry file again",
    description = "200 with the registry's status when the new file is in force; 422 when it is refused (the previous registry stays in force).",
    responses(
        (status = 200, description = "The new registry is in force", body = crate::openapi::RegistryStatus),
        (status = 422, description = "The file was refused (`registry_invalid`); the previous registry stays", body = crate::openapi::RegistryRefused),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn reload_registry<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    crate::deliveries::Admin(system): crate::deliveries::Admin,
) -> Response {
    let handle = state.registry.clone();
    let result = tokio::task::spawn_blocking(move || handle.reload(Trigger::Api)).await;
    tracing::info!(system = %system.name, "registry reload asked for");
    match result {
        Ok(Ok(_)) => {
            // The other nodes sharing the store read the (shared) file
            // again too; this node's reload stands either way.
            if let Err(e) = state.store.announce_reload().await {
                tracing::warn!(error = %e, "could not tell the other nodes to reload the registry");
            }
            json_response(StatusCode::OK, state.registry.status_json(), None)
        }
        Ok(Err(e)) => {
            registry_refused(&state, &e).await;
            json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({
                    "error": "registry_invalid",
                    "text_nb": "Registerfilen ble avvist; det forrige registeret gjelder fortsatt.",
                    "text_en": "The registry file was refused; the previous registry stays in force.",
                    "detail": e,
                    "registry": state.registry.status_json(),
                }),
                None,
            )
        }
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Intern feil.",
            "Internal error.",
        ),
    }
}

/// `POST /api/v1/admin/rules/reload`: reads the deployment's rule files
/// (`[validation] rules`) again. 200 with the rules in force, 422 when a
/// file is refused (the rules in force stay), 403 for a system without
/// `admin = true`. On a store several nodes share, every node reads its
/// files again too.
#[utoipa::path(
    post,
    path = "/api/v1/admin/rules/reload",
    tag = "operators",
    operation_id = "reloadRules",
    summary = "Read the deployment's rule files again",
    description = "200 with the rules in force when the files are taken; 422 when one is refused (the rules in force stay). Messages arriving after a 200 are validated by the new rules; on a store several nodes share, every node reloads.",
    responses(
        (status = 200, description = "The new rules are in force", body = crate::openapi::RulesStatus),
        (status = 422, description = "A file was refused (`rules_invalid`); the rules in force stay", body = crate::openapi::RulesRefused),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn reload_rules<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    crate::deliveries::Admin(system): crate::deliveries::Admin,
) -> Response {
    let rs = state.ruleset.clone();
    let now = now_millis();
    let result = tokio::task::spawn_blocking(move || rs.reload(Trigger::Api, now)).await;
    tracing::info!(system = %system.name, "rules reload asked for");
    match result {
        Ok(Ok(_)) => {
            if let Err(e) = state.store.announce_reload().await {
                tracing::warn!(error = %e, "could not tell the other nodes to reload the rules");
            }
            json_response(StatusCode::OK, state.ruleset.status_json(), None)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a rule file was refused; the rules in force stay");
            json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({
                    "error": "rules_invalid",
                    "text_nb": "En regelfil ble avvist; reglene som gjaldt, gjelder fortsatt.",
                    "text_en": "A rule file was refused; the rules in force stay.",
                    "detail": e,
                    "rules": state.ruleset.status_json(),
                }),
                None,
            )
        }
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Intern feil.",
            "Internal error.",
        ),
    }
}

/// A state for in-crate tests: a store in `dir`, no registry, no users, one
/// system `ehr` with `token` that may send as HER-id 1.
#[cfg(test)]
pub(crate) fn test_state(
    dir: &std::path::Path,
    token: &str,
) -> Arc<AppState<overgang_store::sqlite::SqliteStore>> {
    let hash = crate::auth::hash_token(token).expect("hash");
    let systems = Arc::new(Systems::new(&[crate::config::SystemConfig {
        name: "ehr".into(),
        token_hash: Some(hash),
        client_cert_subject: None,
        may_send_as: vec!["1".into()],
        may_read_all: false,
        admin: false,
    }]));
    Arc::new(AppState {
        store: Arc::new(
            overgang_store::sqlite::SqliteStore::open(dir, Default::default()).expect("store"),
        ),
        ruleset: Arc::new(
            crate::ruleset::Ruleset::load(Default::default(), Vec::new(), 0).expect("rules"),
        ),
        systems,
        token_checks: tokio::sync::Semaphore::new(TOKEN_CHECKS),
        registry: Arc::new(RegistryHandle::load(None).expect("registry")),
        waker: None,
        copy_rules: overgang_route::CopyRules::default(),
        patient_key: PatientKey::ephemeral(),
        apprec: AppState::<()>::apprec_options("1.1", false),
        code_lists: overgang_codelists::CodeLists::builtin(),
        max_body_bytes: 1024,
        ui: Arc::new(crate::ui::Ui::new(
            Arc::new(crate::ui::people::LocalUsers::from_file(Default::default())),
            &Default::default(),
            false,
        )),
        metrics: Arc::new(crate::metrics::Metrics::new(
            &overgang_codelists::CodeLists::builtin(),
            0,
        )),
        openapi: crate::openapi::Served::default(),
        flow: Arc::new(crate::flow::FlowState::new(
            crate::flow::load_config(&Default::default()).expect("built-in flow rules"),
            120,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &std::path::Path) -> Arc<AppState<overgang_store::sqlite::SqliteStore>> {
        test_state(dir, "good-token")
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
        h
    }

    /// A quick request is not reported; a slow one is, with each step's
    /// name and time, and nothing else.
    #[test]
    fn the_intake_timer_reports_only_slow_requests_and_their_steps() {
        let mut quick = IntakeTimer::start();
        quick.step("auth");
        assert_eq!(quick.slow(), None);

        let mut slow = IntakeTimer::start();
        slow.started -= SLOW_INTAKE;
        slow.last = slow.started;
        slow.step("auth");
        slow.step("store");
        let (took_ms, steps) = slow.slow().expect("slow");
        assert!(took_ms >= SLOW_INTAKE.as_millis(), "{took_ms}");
        let names: Vec<&str> = steps
            .split(", ")
            .map(|s| s.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(names, ["auth", "store"], "{steps}");
        let auth_ms: u128 = steps
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("auth's time");
        assert!(auth_ms >= 500, "the first step took it all: {steps}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_requests_with_a_new_token_runs_argon2_at_most_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = state(dir.path());
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let st = st.clone();
                tokio::spawn(async move { authenticate(&st, &bearer("good-token"), None).await })
            })
            .collect();
        for t in tasks {
            let s = t
                .await
                .expect("task")
                .map_err(|r| r.status())
                .expect("authenticated");
            assert_eq!(s.name, "ehr");
        }
        let n = st.systems.checks();
        assert!(
            (1..=TOKEN_CHECKS as u64).contains(&n),
            "32 requests with one new token ran Argon2 {n} times"
        );
        // Unknown tokens are each checked (nothing to remember), but never
        // more than TOKEN_CHECKS at a time: the semaphore is the gate.
        let before = st.systems.checks();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let st = st.clone();
                tokio::spawn(
                    async move { authenticate(&st, &bearer(&format!("bad-{i}")), None).await },
                )
            })
            .collect();
        for t in tasks {
            let r = t.await.expect("task");
            assert_eq!(r.err().map(|r| r.status()), Some(StatusCode::UNAUTHORIZED));
        }
        assert_eq!(st.systems.checks() - before, 8);
        assert_eq!(st.token_checks.available_permits(), TOKEN_CHECKS);
    }
}
