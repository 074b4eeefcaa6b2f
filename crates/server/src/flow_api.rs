//! The patient-flow API (docs/FLOW.md), for systems with `may_read_all` or
//! `admin`:
//!
//! - `GET /api/v1/flow/board?municipality=NNNN`: the discharge-ready board
//!   as JSON, or as CSV (`format=csv`, or `Accept: text/csv`);
//! - `GET /api/v1/flow/overdue?municipality=&status=overdue|late`: expected
//!   messages past their deadline, and those that came late;
//! - `GET /api/v1/flow/unplaced`: the messages no stay could take.
//!
//! Everything is computed on request from the stored flow facts
//! ([`crate::flow::current`]) at the gateway's time. Patients are their
//! keyed hashes; no names or national ids.

#![allow(clippy::result_large_err)]

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use overgang_flow::{BoardRow, Overdue, OverdueStatus};
use overgang_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa::ToSchema;

use crate::app::{json_response, now_millis, problem, store_unavailable, AppState, Reader, Routes};
use crate::deliveries::Params;
use crate::openapi::Problem;
use crate::timefmt;

pub(crate) fn routes<S: Store>(r: Routes<S>) -> Routes<S> {
    r.get("/api/v1/flow/board", board::<S>)
        .get("/api/v1/flow/overdue", overdue::<S>)
        .get("/api/v1/flow/unplaced", unplaced::<S>)
}

/// The flow at the gateway's time `now`: every stay in the window.
pub(crate) async fn flow_now<S: Store>(
    state: &AppState<S>,
    now: i64,
) -> Result<overgang_flow::Flow, overgang_store::StoreError> {
    crate::flow::current(state.store.as_ref(), now, state.flow.window_days, None)
        .await
        .map(|(_, flow)| flow)
}

/// How long `/metrics` serves the overdue counts it last counted at least:
/// walking the whole flow costs what the window holds, and deadlines are
/// hours apart, so a scrape every few seconds need not walk it every time.
const METRICS_FLOW_EVERY_MS: i64 = 60_000;
/// A walk that took `d` is not started again before `d` times this: the
/// walk's share of the machine stays under about a tenth however large the
/// window grows (the soak: 700 000 messages in the window).
const METRICS_FLOW_SHARE: i64 = 10;

/// The overdue items (status `overdue`) counted by (rule, municipality),
/// for the metric: no patient data. Counted page by page of patients
/// (memory bounded by a page), at most once a minute and then only after
/// ten times the last walk's duration. A scrape never waits for a walk
/// when there is an earlier count: it gets that one, and a new count
/// starts in the background (one at a time). Only the very first scrape
/// waits.
pub(crate) async fn overdue_counts<S: Store>(
    state: &Arc<AppState<S>>,
    now: i64,
) -> Result<crate::metrics::FlowOverdue, overgang_store::StoreError> {
    let last = state
        .flow
        .metrics_cache
        .lock()
        .map(|c| c.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    match last {
        Some(c) if fresh(&c, now) => Ok(c.counts),
        Some(c) => {
            if let Ok(guard) = state.flow.metrics_counting.clone().try_lock_owned() {
                let st = state.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    if let Err(e) = count_overdue(&st, now).await {
                        tracing::warn!(error = %e, "metrics: the flow's overdue messages could not be counted");
                    }
                });
            }
            Ok(c.counts)
        }
        None => {
            let _guard = state.flow.metrics_counting.lock().await;
            count_overdue(state, now).await
        }
    }
}

fn fresh(c: &crate::flow::MetricsCount, now: i64) -> bool {
    let every = METRICS_FLOW_EVERY_MS.max(c.took_ms.saturating_mul(METRICS_FLOW_SHARE));
    (0..every).contains(&(now - c.at))
}

/// Walks the flow once and keeps the count for the next scrapes.
async fn count_overdue<S: Store>(
    state: &AppState<S>,
    now: i64,
) -> Result<crate::metrics::FlowOverdue, overgang_store::StoreError> {
    let started = std::time::Instant::now();
    let mut out = crate::metrics::FlowOverdue {
        rules: state
            .flow
            .config
            .rules
            .iter()
            .map(|r| r.id.clone())
            .collect(),
        ..Default::default()
    };
    crate::flow::for_each_page(state.store.as_ref(), now, state.flow.window_days, |flow| {
        for s in &flow.stays {
            out.municipalities
                .insert(crate::metrics::municipality_label(
                    s.municipality.as_deref(),
                ));
        }
        for o in overgang_flow::overdue(flow, &state.flow.config, now) {
            if o.status == OverdueStatus::Overdue {
                let m = crate::metrics::municipality_label(o.municipality.as_deref());
                *out.counts.entry((o.rule, m)).or_default() += 1;
            }
        }
    })
    .await?;
    let took_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let count = crate::flow::MetricsCount {
        at: now,
        took_ms,
        counts: out.clone(),
    };
    match state.flow.metrics_cache.lock() {
        Ok(mut c) => *c = Some(count),
        Err(p) => *p.into_inner() = Some(count),
    }
    Ok(out)
}

fn ms(t: Option<i64>) -> Value {
    t.map(timefmt::rfc3339_millis).into()
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) fn board_row_json(r: &BoardRow) -> Value {
    json!({
        "stay_id": r.stay_id,
        "patient_key": r.patient_key,
        "hospital_her": r.hospital,
        "municipality": r.municipality,
        "state": to_value(r.state),
        "ready_date": r.ready_date,
        "ready_at": timefmt::rfc3339_millis(r.ready_at),
        "notice_message_id": r.notice_message_id,
        "notified_at": ms(r.notified_at),
        "waiting": r.waiting,
        "ended_at": ms(r.ended_at),
        "end": to_value(r.end),
        "days_waiting": r.days_waiting,
        "liability_nok": r.liability_nok,
        "unpriced_days": r.unpriced_days,
    })
}

pub(crate) fn overdue_json(o: &Overdue, description: Option<&str>) -> Value {
    json!({
        "rule": o.rule,
        "description": description,
        "stay_id": o.stay_id,
        "patient_key": o.patient_key,
        "hospital_her": o.hospital,
        "municipality": o.municipality,
        "trigger_at": timefmt::rfc3339_millis(o.trigger_at),
        "due_at": timefmt::rfc3339_millis(o.due_at),
        "status": to_value(o.status),
        "late_by_secs": o.late_by_ms / 1000,
        "arrived_message_id": o.arrived_message_id,
        "arrived_at": ms(o.arrived_at),
    })
}

fn bad_municipality() -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "bad_parameter",
        "Kommunenummer har fire sifre.",
        "A municipality number has four digits.",
    )
}

/// The municipality filter: none, or four digits.
fn municipality_param(m: &Option<String>) -> Result<Option<&str>, Response> {
    match m.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(m) if overgang_registry::is_municipality_number(m) => Ok(Some(m)),
        Some(_) => Err(bad_municipality()),
    }
}

/// The board's totals: patients still waiting, days and liability.
pub(crate) fn totals(rows: &[BoardRow]) -> (usize, u64, i64) {
    (
        rows.iter().filter(|r| r.waiting).count(),
        rows.iter().map(|r| u64::from(r.days_waiting)).sum(),
        rows.iter().map(|r| r.liability_nok).sum(),
    )
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoardParams {
    /// A municipality number (4 digits); none: every municipality.
    municipality: Option<String>,
    /// `csv` for CSV (as does `Accept: text/csv`); `json` (the default).
    format: Option<String>,
}

/// One ready declaration of a stay.
#[derive(ToSchema)]
pub struct FlowBoardRow {
    pub stay_id: String,
    /// The keyed hash of the patient's national id.
    pub patient_key: String,
    pub hospital_her: String,
    pub municipality: Option<String>,
    /// open, ready, discharged, died
    pub state: String,
    /// The ready date in Norway, YYYY-MM-DD (not counted).
    pub ready_date: String,
    pub ready_at: String,
    pub notice_message_id: String,
    /// The positive AppRec on the ready notice: proof of notification.
    pub notified_at: Option<String>,
    pub waiting: bool,
    pub ended_at: Option<String>,
    /// withdrawn, discharged, died
    pub end: Option<String>,
    pub days_waiting: u32,
    pub liability_nok: i64,
    pub unpriced_days: u32,
}

#[derive(ToSchema)]
pub struct FlowBoardTotals {
    /// Rows still waiting.
    pub waiting: u64,
    pub days_waiting: u64,
    pub liability_nok: i64,
}

#[derive(ToSchema)]
pub struct FlowBoard {
    pub municipality: Option<String>,
    /// The gateway's time the board was counted at.
    pub now: String,
    pub items: Vec<FlowBoardRow>,
    pub totals: FlowBoardTotals,
}

#[utoipa::path(
    get,
    path = "/api/v1/flow/board",
    tag = "flow",
    operation_id = "flowBoard",
    summary = "The discharge-ready board: patients declared ready, days waiting and the municipality's liability",
    description = "One row per ready declaration, sorted by ready time; days are counted as docs/FLOW.md says. JSON, or CSV with `format=csv` or `Accept: text/csv`.",
    params(BoardParams),
    responses(
        (status = 200, description = "The board: JSON, or CSV (RFC 4180, docs/FLOW.md)", content(
            (FlowBoard = "application/json"),
            (String = "text/csv")
        )),
        (status = 400, description = "A municipality number that is not four digits, or an unknown parameter (`bad_parameter`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system has neither `may_read_all` nor `admin` (`not_reader`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn board<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Reader,
    headers: HeaderMap,
    Params(p): Params<BoardParams>,
) -> Response {
    let municipality = match municipality_param(&p.municipality) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let csv = match p.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
        Some(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                "format er csv eller json.",
                "format is csv or json.",
            )
        }
    };
    let now = now_millis();
    let flow = match flow_now(&state, now).await {
        Ok(f) => f,
        Err(e) => return store_unavailable(&e),
    };
    let rows = overgang_flow::board(&flow, &state.flow.config, municipality, now);
    if csv {
        return csv_response(overgang_flow::board_csv(&rows), "board.csv");
    }
    let (waiting, days, nok) = totals(&rows);
    let items: Vec<Value> = rows.iter().map(board_row_json).collect();
    json_response(
        StatusCode::OK,
        json!({
            "municipality": municipality,
            "now": timefmt::rfc3339_millis(now),
            "items": items,
            "totals": { "waiting": waiting, "days_waiting": days, "liability_nok": nok },
        }),
        None,
    )
}

/// A CSV answer, to be saved as `name`.
pub(crate) fn csv_response(body: String, name: &str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverdueParams {
    /// A municipality number (4 digits); none: every municipality.
    municipality: Option<String>,
    /// `overdue` (past the deadline, not arrived) or `late` (arrived after
    /// it); none: both.
    status: Option<String>,
}

/// An expected message past its deadline, or one that came late.
#[derive(ToSchema)]
pub struct FlowOverdueItem {
    /// The rule's id (config/flow.toml): the kind of the item.
    pub rule: String,
    pub description: Option<String>,
    pub stay_id: String,
    pub patient_key: String,
    pub hospital_her: String,
    pub municipality: Option<String>,
    pub trigger_at: String,
    pub due_at: String,
    /// overdue, late
    pub status: String,
    /// Until now when overdue; until arrival when late.
    pub late_by_secs: i64,
    pub arrived_message_id: Option<String>,
    pub arrived_at: Option<String>,
}

#[derive(ToSchema)]
pub struct FlowOverdueItems {
    pub now: String,
    pub items: Vec<FlowOverdueItem>,
}

#[utoipa::path(
    get,
    path = "/api/v1/flow/overdue",
    tag = "flow",
    operation_id = "flowOverdue",
    summary = "Expected messages past their deadline (overdue), and those that arrived late",
    description = "The rules of config/flow.toml (or the configured flow file) checked against every stay in the window, at the gateway's time. Sorted by due time.",
    params(OverdueParams),
    responses(
        (status = 200, description = "The items", body = FlowOverdueItems),
        (status = 400, description = "A bad municipality number or status, or an unknown parameter (`bad_parameter`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system has neither `may_read_all` nor `admin` (`not_reader`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn overdue<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Reader,
    Params(p): Params<OverdueParams>,
) -> Response {
    let municipality = match municipality_param(&p.municipality) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let status = match p.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some("overdue") => Some(OverdueStatus::Overdue),
        Some("late") => Some(OverdueStatus::Late),
        Some(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                "status er overdue eller late.",
                "status is overdue or late.",
            )
        }
    };
    let now = now_millis();
    let flow = match flow_now(&state, now).await {
        Ok(f) => f,
        Err(e) => return store_unavailable(&e),
    };
    let config = &state.flow.config;
    let items: Vec<Value> = overgang_flow::overdue(&flow, config, now)
        .iter()
        .filter(|o| municipality.is_none() || o.municipality.as_deref() == municipality)
        .filter(|o| status.is_none_or(|s| o.status == s))
        .map(|o| overdue_json(o, rule_description(config, &o.rule)))
        .collect();
    json_response(
        StatusCode::OK,
        json!({ "now": timefmt::rfc3339_millis(now), "items": items }),
        None,
    )
}

/// A rule's description from the flow rules, when it has one.
pub(crate) fn rule_description<'c>(
    config: &'c overgang_flow::FlowConfig,
    rule: &str,
) -> Option<&'c str> {
    config
        .rules
        .iter()
        .find(|r| r.id == rule)
        .and_then(|r| r.description.as_deref())
}

#[derive(ToSchema)]
pub struct FlowUnplaced {
    pub count: u64,
    /// The gateway's message ids, in order of receipt.
    pub message_ids: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/flow/unplaced",
    tag = "flow",
    operation_id = "flowUnplaced",
    summary = "Messages in the window that no stay could take (shown, not dropped)",
    responses(
        (status = 200, description = "The count and the messages' ids", body = FlowUnplaced),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system has neither `may_read_all` nor `admin` (`not_reader`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn unplaced<S: Store>(State(state): State<Arc<AppState<S>>>, _: Reader) -> Response {
    match flow_now(&state, now_millis()).await {
        Ok(flow) => json_response(
            StatusCode::OK,
            json!({ "count": flow.unplaced.len(), "message_ids": flow.unplaced }),
            None,
        ),
        Err(e) => store_unavailable(&e),
    }
}

#[cfg(test)]
mod metrics_count_tests {
    use super::*;
    use crate::flow::MetricsCount;

    fn count(at: i64, took_ms: i64) -> MetricsCount {
        MetricsCount {
            at,
            took_ms,
            counts: Default::default(),
        }
    }

    #[test]
    fn a_count_is_kept_a_minute_or_ten_times_its_walk_whichever_is_longer() {
        // A quick walk: a minute.
        assert!(fresh(&count(0, 50), 59_999));
        assert!(!fresh(&count(0, 50), 60_000));
        // A walk of 30 s (a large window): five minutes, so the walk never
        // takes more than about a tenth of the machine.
        assert!(fresh(&count(0, 30_000), 299_999));
        assert!(!fresh(&count(0, 30_000), 300_000));
        // A clock that went back: counted again.
        assert!(!fresh(&count(10_000, 50), 9_999));
    }
}
