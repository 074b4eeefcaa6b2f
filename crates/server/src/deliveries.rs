//! The delivery side of the API: receipts in both directions and the
//! operators' queue actions.
//!
//! - `GET /api/v1/messages/{id}/deliveries`: where the message went, each
//!   delivery with its events (the sender system, or a reader of all).
//! - `GET /api/v1/messages/{id}/receipts` and `…/receipts/{rid}`: the
//!   receivers' AppRecs (list as JSON; one as XML).
//! - `POST /api/v1/apprecs`: a receiver posts its AppRec asynchronously,
//!   authenticated as a system that may act for the AppRec's sender.
//! - Admin systems: `GET /api/v1/deliveries` (filter by state, receiver,
//!   overdue), `GET /api/v1/deliveries/{id}`, `POST …/{id}/replay`,
//!   `POST …/{id}/cancel`, `POST /api/v1/deliveries/replay` (many),
//!   `GET /api/v1/alerts`, `GET /api/v1/deliveries/stats`.

#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use overgang_store::{
    Delivery, DeliveryEvent, DeliveryQuery, DeliveryState, OperatorAction, ReceiptOutcome, Store,
    StoreError,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use crate::app::{
    json_response, not_found, now_millis, problem, store_unavailable, xml_response, AppState,
    Caller, Routes,
};
use crate::auth::System;
use crate::openapi::{
    ActionResult, AlertItems, DeliveryItems, DeliveryPage, Problem, ReceiptItems, ReceiptStored,
    ReplayItems, Stats,
};
use crate::timefmt;

pub(crate) fn routes<S: Store>(r: Routes<S>) -> Routes<S> {
    r.get("/api/v1/messages/{id}/deliveries", of_message::<S>)
        .get("/api/v1/messages/{id}/receipts", receipts::<S>)
        .get("/api/v1/messages/{id}/receipts/{rid}", receipt::<S>)
        .post("/api/v1/apprecs", post_apprec::<S>)
        .get("/api/v1/deliveries", list::<S>)
        .get("/api/v1/deliveries/stats", stats::<S>)
        .post("/api/v1/deliveries/replay", replay_many::<S>)
        .get("/api/v1/deliveries/{id}", one::<S>)
        .post("/api/v1/deliveries/{id}/replay", replay_one::<S>)
        .post("/api/v1/deliveries/{id}/cancel", cancel_one::<S>)
        .get("/api/v1/alerts", alerts::<S>)
}

fn ms(t: Option<i64>) -> serde_json::Value {
    t.map(timefmt::rfc3339_millis).into()
}

pub fn delivery_json(d: &Delivery, events: Option<&[DeliveryEvent]>) -> serde_json::Value {
    let mut v = json!({
        "id": d.id,
        "message_id": d.message_id,
        "kind": d.kind.as_str(),
        "receiver_her": d.receiver_her,
        "role": d.role,
        "state": d.state.as_str(),
        "attempts": d.attempts,
        "created_at": timefmt::rfc3339_millis(d.created_at),
        "updated_at": timefmt::rfc3339_millis(d.updated_at),
        "next_attempt_at": ms(d.next_attempt_at),
        "delivered_at": ms(d.delivered_at),
        "answered_at": ms(d.answered_at),
        "last_error": d.last_error,
        "apprec_overdue": d.apprec_overdue,
        "receipt_id": d.receipt_id,
        "msg_type": d.msg_type,
        "sender_her": d.sender_her,
    });
    if let (Some(events), Some(obj)) = (events, v.as_object_mut()) {
        let list: Vec<serde_json::Value> = events
            .iter()
            .map(|e| {
                json!({
                    "at": timefmt::rfc3339_millis(e.at),
                    "actor": e.actor,
                    "from": e.from.map(DeliveryState::as_str),
                    "to": e.to.as_str(),
                    "reason": e.reason,
                })
            })
            .collect();
        obj.insert("events".into(), list.into());
    }
    v
}

/// Whether `system` may see message `id` (404 otherwise, as for the
/// message itself).
async fn may_see<S: Store>(state: &AppState<S>, system: &System, id: &str) -> Result<(), Response> {
    match state.store.get(id).await {
        Ok(Some(r)) if system.may_read_all || r.summary.system == system.name => Ok(()),
        Ok(_) => Err(not_found()),
        Err(e) => Err(store_unavailable(&e)),
    }
}

/// An authenticated system with `admin = true`, as an extractor: other
/// systems get 403, unauthenticated callers 401.
pub struct Admin(pub Arc<System>);

impl<S: Store> axum::extract::FromRequestParts<Arc<AppState<S>>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Admin, Response> {
        let Caller(system) = Caller::from_request_parts(parts, state).await?;
        if !system.admin {
            return Err(problem(
                StatusCode::FORBIDDEN,
                "not_admin",
                "Systemet har ikke administratortilgang (admin = true).",
                "The system has no admin access (admin = true).",
            ));
        }
        Ok(Admin(system))
    }
}

/// Query parameters, or 400 naming what was wrong with them (an unknown
/// parameter is an error, not ignored).
pub struct Params<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Params<T>, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(t)) => Ok(Params(t)),
            Err(e) => Err(problem(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                &format!("Ugyldige parametere: {}", e.body_text()),
                &format!("Invalid parameters: {}", e.body_text()),
            )),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/deliveries",
    tag = "deliveries",
    operation_id = "getMessageDeliveries",
    summary = "Where the message went: its deliveries, oldest first, with their events",
    params(("id" = String, Path, description = "The gateway's id of the message")),
    responses(
        (status = 200, description = "The deliveries", body = DeliveryItems),
        (status = 404, description = "No such message, or one the system may not see (`not_found`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn of_message<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Caller(system): Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = may_see(&state, &system, &id).await {
        return r;
    }
    match state.store.deliveries_of(&id).await {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .map(|(d, e)| delivery_json(d, Some(e)))
                .collect();
            json_response(StatusCode::OK, json!({ "items": items }), None)
        }
        Err(e) => store_unavailable(&e),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/receipts",
    tag = "deliveries",
    operation_id = "listMessageReceipts",
    summary = "The receivers' AppRecs for the message",
    params(("id" = String, Path, description = "The gateway's id of the message")),
    responses(
        (status = 200, description = "The receipts", body = ReceiptItems),
        (status = 404, description = "No such message, or one the system may not see (`not_found`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn receipts<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Caller(system): Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = may_see(&state, &system, &id).await {
        return r;
    }
    match state.store.receipts_of(&id).await {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "delivery_id": r.delivery_id,
                        "received_at": timefmt::rfc3339_millis(r.received_at),
                        "status": r.status,
                        "status_text": match r.status {
                            1 => "OK",
                            3 => "OK, feil i delmelding / OK, errors in part of the message",
                            _ => "Avvist / Rejected",
                        },
                        "apprec_msg_id": r.apprec_msg_id,
                        "from_her": r.from_her,
                        "via": r.via,
                        "href": format!("/api/v1/messages/{id}/receipts/{}", r.id),
                    })
                })
                .collect();
            json_response(StatusCode::OK, json!({ "items": items }), None)
        }
        Err(e) => store_unavailable(&e),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/receipts/{rid}",
    tag = "deliveries",
    operation_id = "getMessageReceipt",
    summary = "One receiver's AppRec, byte for byte",
    params(("id" = String, Path, description = "The gateway's id of the message"), ("rid" = i64, Path, description = "The receipt's id")),
    responses(
        (status = 200, description = "The AppRec", body = String, content_type = "application/xml"),
        (status = 404, description = "No such message or receipt, or not visible (`not_found`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn receipt<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Caller(system): Caller,
    Path((id, rid)): Path<(String, i64)>,
) -> Response {
    if let Err(r) = may_see(&state, &system, &id).await {
        return r;
    }
    // The receipt must belong to this message.
    match state.store.receipts_of(&id).await {
        Ok(list) if list.iter().any(|r| r.id == rid) => {}
        Ok(_) => return not_found(),
        Err(e) => return store_unavailable(&e),
    }
    match state.store.receipt_body(rid).await {
        Ok(Some(body)) => xml_response(StatusCode::OK, body, None),
        Ok(None) => not_found(),
        Err(e) => store_unavailable(&e),
    }
}

/// `POST /api/v1/apprecs`: an asynchronous AppRec from a receiver.
#[utoipa::path(
    post,
    path = "/api/v1/apprecs",
    tag = "deliveries",
    operation_id = "postApprec",
    summary = "A receiver's asynchronous AppRec",
    description = "Posted by a system whose `may_send_as` covers one of the AppRec's sender HER-ids; found by `OriginalMsgId` and that HER-id.",
    request_body(content = String, content_type = "application/xml", description = "The AppRec (v1.0 or v1.1)"),
    responses(
        (status = 201, description = "Stored", headers(("Location" = String, description = "/api/v1/messages/{id}/receipts/{rid}")), body = ReceiptStored),
        (status = 200, description = "This AppRec was stored for this delivery before (`duplicate`)", body = ReceiptStored),
        (status = 400, description = "Not a valid AppRec (`not_an_apprec`, with `findings`), no valid Status (`apprec_status`), no OriginalMsgId (`apprec_original`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system may not act for the AppRec's sender (`sender_not_allowed`)", body = Problem),
        (status = 404, description = "No delivery of a message with this OriginalMsgId to this receiver (`no_delivery`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn post_apprec<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Caller(system): Caller,
    body: Bytes,
) -> Response {
    let limits = overgang_xml::Limits {
        max_bytes: state.max_body_bytes,
        ..Default::default()
    };
    let report = state.ruleset.current().validate(&body);
    let apprec = match overgang_apprec::read(&body, &limits) {
        Ok(a) if report.verdict != overgang_model::Verdict::Rejected => a,
        _ => {
            let findings = serde_json::to_value(&report.findings).unwrap_or_default();
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({
                    "error": "not_an_apprec",
                    "text_nb": "Innholdet er ikke en gyldig applikasjonskvittering (AppRec 1.0 eller 1.1).",
                    "text_en": "The body is not a valid application receipt (AppRec 1.0 or 1.1).",
                    "findings": findings,
                }),
                None,
            );
        }
    };
    let Some(status) = apprec.status else {
        return problem(
            StatusCode::BAD_REQUEST,
            "apprec_status",
            "Kvitteringen har ingen gyldig Status (1, 2 eller 3).",
            "The receipt has no valid Status (1, 2 or 3).",
        );
    };
    let Some(original) = apprec.original_msg_id().map(str::trim).map(str::to_owned) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "apprec_original",
            "Kvitteringen mangler OriginalMsgId/Id.",
            "The receipt has no OriginalMsgId/Id.",
        );
    };
    // The AppRec's sender is the receiver of the original message: any of
    // its HER-ids (institution, department, person).
    let hers: Vec<String> = apprec
        .sender
        .as_ref()
        .map(|p| {
            [&p.person_id, &p.dept_id, &p.inst_id]
                .into_iter()
                .flatten()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if hers.is_empty() || !system.may_send_as(hers.iter().map(String::as_str)) {
        return problem(
            StatusCode::FORBIDDEN,
            "sender_not_allowed",
            "Systemet har ikke lov til å sende kvittering på vegne av kvitteringens avsender (HER-id).",
            "This system may not send receipts on behalf of the receipt's sender (HER-id).",
        );
    }
    let target = match state.store.receipt_target(&original, hers.clone()).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                "no_delivery",
                "Ingen levering til denne mottakeren av en melding med denne OriginalMsgId.",
                "No delivery to this receiver of a message with this OriginalMsgId.",
            )
        }
        Err(e) => return store_unavailable(&e),
    };
    let registry = state.registry.current();
    let callback_to = target
        .sender_her
        .clone()
        .filter(|s| registry.effective_callback(s).is_some());
    drop(registry);
    let from_her = hers.first().cloned();
    let status_code: u8 = status.code().parse().unwrap_or(2);
    let receipt = overgang_store::NewReceipt {
        status: status_code,
        apprec_msg_id: apprec.id.clone(),
        from_her,
        via: "async",
        body: body.to_vec(),
        callback_to,
    };
    let outcome = state
        .store
        .record_receipt(
            target.delivery_id,
            now_millis(),
            format!("system:{}", system.name),
            receipt,
        )
        .await;
    match outcome {
        Ok(ReceiptOutcome::Stored {
            receipt_id,
            state: st,
        }) => {
            state.metrics.delivery.receipt(status_code, "async");
            tracing::info!(
                delivery = target.delivery_id,
                message_id = %target.message_id,
                receipt = receipt_id,
                status = status.code(),
                "receipt received"
            );
            if let Some(w) = &state.waker {
                w.notify_one();
            }
            json_response(
                StatusCode::CREATED,
                json!({
                    "receipt_id": receipt_id,
                    "delivery_id": target.delivery_id,
                    "message_id": target.message_id,
                    "state": st.as_str(),
                }),
                Some(&format!(
                    "/api/v1/messages/{}/receipts/{receipt_id}",
                    target.message_id
                )),
            )
        }
        Ok(ReceiptOutcome::Duplicate { receipt_id }) => json_response(
            StatusCode::OK,
            json!({
                "receipt_id": receipt_id,
                "delivery_id": target.delivery_id,
                "message_id": target.message_id,
                "duplicate": true,
            }),
            None,
        ),
        Err(e) => store_unavailable(&e),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// One delivery state.
    state: Option<String>,
    /// Receiver HER-id, exact.
    receiver: Option<String>,
    /// The gateway's message id.
    message: Option<String>,
    /// `true`: only `delivered` deliveries whose AppRec is overdue.
    overdue: Option<bool>,
    /// 1–1000, default 100.
    limit: Option<u32>,
    /// Only ids below this: `next_before` of the previous page.
    before: Option<i64>,
}

fn bad_state() -> Response {
    let all: Vec<&str> = DeliveryState::ALL.iter().map(|s| s.as_str()).collect();
    problem(
        StatusCode::BAD_REQUEST,
        "bad_parameter",
        &format!("Ukjent leveringstilstand; kjente er {}.", all.join(", ")),
        &format!("Unknown delivery state; known are {}.", all.join(", ")),
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/deliveries",
    tag = "operators",
    operation_id = "listDeliveries",
    summary = "Deliveries, newest first, by state, receiver, message or overdue AppRec",
    params(ListParams),
    responses(
        (status = 200, description = "A page", body = DeliveryPage),
        (status = 400, description = "An unknown state, parameter or value (`bad_parameter`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn list<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Admin(_): Admin,
    Params(p): Params<ListParams>,
) -> Response {
    let st = match p.state.as_deref().map(DeliveryState::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => return bad_state(),
    };
    let q = DeliveryQuery {
        state: st,
        receiver_her: p.receiver,
        message_id: p.message,
        overdue_only: p.overdue.unwrap_or(false),
        limit: p.limit.unwrap_or(100).clamp(1, 1000),
        before: p.before,
    };
    match state.store.list_deliveries(&q).await {
        Ok(items) => {
            let next = (items.len() as u32 == q.limit)
                .then(|| items.last().map(|d| d.id))
                .flatten();
            let items: Vec<_> = items.iter().map(|d| delivery_json(d, None)).collect();
            json_response(
                StatusCode::OK,
                json!({ "items": items, "next_before": next }),
                None,
            )
        }
        Err(e) => store_unavailable(&e),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/deliveries/{id}",
    tag = "operators",
    operation_id = "getDelivery",
    summary = "One delivery with its events",
    params(("id" = i64, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery", body = crate::openapi::Delivery),
        (status = 404, description = "No such delivery (`not_found`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn one<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Admin(_): Admin,
    Path(id): Path<i64>,
) -> Response {
    match state.store.delivery(id).await {
        Ok(Some((d, e))) => json_response(StatusCode::OK, delivery_json(&d, Some(&e)), None),
        Ok(None) => not_found(),
        Err(e) => store_unavailable(&e),
    }
}

/// The body of an operator action: why, and the person acting (when the
/// admin system acts for one).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Why; goes in the delivery's event (required to cancel).
    #[serde(default)]
    reason: String,
    /// The person acting, when an admin system acts for one.
    #[serde(default)]
    by: Option<String>,
    /// For the many-at-once replay: these ids …
    #[serde(default)]
    ids: Vec<i64>,
    /// … or every dead letter (optionally to one receiver).
    #[serde(default)]
    all_dead_letters: bool,
    #[serde(default)]
    receiver: Option<String>,
}

fn action_body(body: &Bytes) -> Result<ActionBody, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "bad_body",
            &format!("Ugyldig JSON: {e}"),
            &format!("Invalid JSON: {e}"),
        )
    })
}

fn actor(system: &System, by: Option<&str>) -> String {
    match by.map(str::trim).filter(|b| !b.is_empty()) {
        Some(person) => format!("user:{person} (system:{})", system.name),
        None => format!("system:{}", system.name),
    }
}

enum Act {
    Replay,
    Cancel,
}

async fn act<S: Store>(
    state: &AppState<S>,
    system: &System,
    id: i64,
    what: &Act,
    body: &ActionBody,
) -> Result<DeliveryState, StoreError> {
    let a = OperatorAction {
        delivery_id: id,
        at: now_millis(),
        actor: actor(system, body.by.as_deref()),
        reason: if body.reason.trim().is_empty() {
            "ingen begrunnelse oppgitt / no reason given".into()
        } else {
            body.reason.trim().to_owned()
        },
    };
    let r = match what {
        Act::Replay => state.store.replay(a).await,
        Act::Cancel => state.store.cancel(a).await,
    };
    if r.is_ok() {
        tracing::info!(
            delivery = id,
            system = %system.name,
            action = match what { Act::Replay => "replay", Act::Cancel => "cancel" },
            "operator action"
        );
        if let (Act::Replay, Some(w)) = (what, &state.waker) {
            w.notify_one();
        }
    }
    r
}

fn action_error(e: StoreError) -> Response {
    match e {
        StoreError::NoDelivery(_) => not_found(),
        StoreError::NotAllowed { state, what, .. } => problem(
            StatusCode::CONFLICT,
            "not_allowed",
            &format!("Leveringen er {state}; handlingen er ikke tillatt ({what})."),
            &format!("The delivery is {state}; the action is not allowed ({what})."),
        ),
        other => store_unavailable(&other),
    }
}

async fn single<S: Store>(
    state: Arc<AppState<S>>,
    system: Arc<System>,
    id: i64,
    body: Bytes,
    what: Act,
) -> Response {
    let body = match action_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if what_needs_reason(&what) && body.reason.trim().is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "reason_required",
            "En kansellering må ha en begrunnelse («reason»).",
            "A cancellation needs a reason ('reason').",
        );
    }
    match act(&state, &system, id, &what, &body).await {
        Ok(st) => json_response(
            StatusCode::OK,
            json!({ "id": id, "state": st.as_str() }),
            None,
        ),
        Err(e) => action_error(e),
    }
}

fn what_needs_reason(what: &Act) -> bool {
    matches!(what, Act::Cancel)
}

#[utoipa::path(
    post,
    path = "/api/v1/deliveries/{id}/replay",
    tag = "operators",
    operation_id = "replayDelivery",
    summary = "Send a dead-lettered, cancelled or delivered (no AppRec yet) delivery again",
    params(("id" = i64, Path, description = "The delivery's id")),
    request_body(content = Option<crate::deliveries::ActionBody>, content_type = "application/json", description = "Optional: `reason` and `by` (the person acting)"),
    responses(
        (status = 200, description = "Queued again", body = ActionResult),
        (status = 400, description = "Not JSON, or an unknown field (`bad_body`)", body = Problem),
        (status = 404, description = "No such delivery (`not_found`)", body = Problem),
        (status = 409, description = "The state does not allow it (`not_allowed`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn replay_one<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Admin(system): Admin,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    single(state, system, id, body, Act::Replay).await
}

#[utoipa::path(
    post,
    path = "/api/v1/deliveries/{id}/cancel",
    tag = "operators",
    operation_id = "cancelDelivery",
    summary = "Give up on a delivery that is not answered (a reason is required)",
    params(("id" = i64, Path, description = "The delivery's id")),
    request_body(content = crate::deliveries::ActionBody, content_type = "application/json", description = "`reason` (required) and `by` (the person acting)"),
    responses(
        (status = 200, description = "Cancelled", body = ActionResult),
        (status = 400, description = "No reason (`reason_required`), or not JSON (`bad_body`)", body = Problem),
        (status = 404, description = "No such delivery (`not_found`)", body = Problem),
        (status = 409, description = "Answered or already cancelled (`not_allowed`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn cancel_one<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Admin(system): Admin,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    single(state, system, id, body, Act::Cancel).await
}

/// `POST /api/v1/deliveries/replay`: `{"ids": [..]}` or
/// `{"all_dead_letters": true, "receiver": "…"}`; answers per id.
#[utoipa::path(
    post,
    path = "/api/v1/deliveries/replay",
    tag = "operators",
    operation_id = "replayDeliveries",
    summary = "Replay many deliveries: by id, or every dead letter (optionally to one receiver)",
    request_body(content = crate::deliveries::ActionBody, content_type = "application/json", description = "`ids`, or `all_dead_letters` (and `receiver`); `reason`, `by`"),
    responses(
        (status = 200, description = "Each id answered on its own", body = ReplayItems),
        (status = 400, description = "No ids (`nothing_to_replay`), or not JSON (`bad_body`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn replay_many<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Admin(system): Admin,
    body: Bytes,
) -> Response {
    let body = match action_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut ids = body.ids.clone();
    if body.all_dead_letters {
        let mut before = None;
        loop {
            let q = DeliveryQuery {
                state: Some(DeliveryState::DeadLetter),
                receiver_her: body.receiver.clone(),
                limit: 1000,
                before,
                ..Default::default()
            };
            match state.store.list_deliveries(&q).await {
                Ok(page) => {
                    let n = page.len();
                    before = page.last().map(|d| d.id);
                    ids.extend(page.iter().map(|d| d.id));
                    if n < 1000 || ids.len() >= 100_000 {
                        break;
                    }
                }
                Err(e) => return store_unavailable(&e),
            }
        }
    }
    if ids.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "nothing_to_replay",
            "Oppgi «ids» eller «all_dead_letters»: true.",
            "Give 'ids' or 'all_dead_letters': true.",
        );
    }
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let r = act(&state, &system, id, &Act::Replay, &body).await;
        results.push(match r {
            Ok(st) => json!({ "id": id, "state": st.as_str() }),
            Err(StoreError::NoDelivery(_)) => json!({ "id": id, "error": "not_found" }),
            Err(StoreError::NotAllowed { state, .. }) => {
                json!({ "id": id, "error": "not_allowed", "state": state })
            }
            Err(e) => return store_unavailable(&e),
        });
    }
    json_response(StatusCode::OK, json!({ "items": results }), None)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// RFC 3339; default: all time.
    since: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/deliveries/stats",
    tag = "operators",
    operation_id = "deliveryStats",
    summary = "Deliveries per state, and arrival-to-AppRec times since a time",
    params(StatsParams),
    responses(
        (status = 200, description = "The statistics", body = Stats),
        (status = 400, description = "`since` is not a time (`bad_parameter`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn stats<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Admin(_): Admin,
    Params(p): Params<StatsParams>,
) -> Response {
    let since = match p.since {
        None => 0,
        Some(s) => match timefmt::parse_rfc3339(&s) {
            Some(t) => t,
            None => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "bad_parameter",
                    "«since» må være en tid som 2026-11-23T08:00:00Z.",
                    "'since' must be a time like 2026-11-23T08:00:00Z.",
                )
            }
        },
    };
    match state.store.delivery_stats(since).await {
        Ok(s) => {
            let by_state: serde_json::Map<String, serde_json::Value> = s
                .by_state
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), (*v).into()))
                .collect();
            let lat = s.latency_ms.map(
                |[p50, p90, p99, max]| json!({ "p50": p50, "p90": p90, "p99": p99, "max": max }),
            );
            json_response(
                StatusCode::OK,
                json!({
                    "by_state": by_state,
                    "answered_since": timefmt::rfc3339_millis(since),
                    "answered": s.answered,
                    "arrival_to_apprec_ms": lat,
                }),
                None,
            )
        }
        Err(e) => store_unavailable(&e),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// 1–1000, default 100.
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "operators",
    operation_id = "listAlerts",
    summary = "What needs a person, newest first",
    params(AlertParams),
    responses(
        (status = 200, description = "The alerts", body = AlertItems),
        (status = 400, description = "A bad parameter (`bad_parameter`)", body = Problem),
        (status = 401, description = "No token, or a wrong one", body = Problem),
        (status = 403, description = "The system is not an admin system (`not_admin`)", body = Problem),
        (status = 503, description = "The store does not answer", body = Problem),
    ),
    security(("bearer" = []), ("mutual_tls" = []))
)]
async fn alerts<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Admin(_): Admin,
    Params(p): Params<AlertParams>,
) -> Response {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    match state.store.alerts(limit).await {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .map(|a| {
                    json!({
                        "id": a.id,
                        "at": timefmt::rfc3339_millis(a.at),
                        "kind": a.kind,
                        "subject": a.subject,
                        "text_nb": a.text_nb,
                        "text_en": a.text_en,
                    })
                })
                .collect();
            json_response(StatusCode::OK, json!({ "items": items }), None)
        }
        Err(e) => store_unavailable(&e),
    }
}
