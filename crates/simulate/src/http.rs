//! The HTTP side: messages and receipts on any path, the control endpoints
//! under `/_sim/`.

use crate::receipt::{self, Decision};
use crate::state::{
    lock, now_ms, status_code, Arrival, CallbackState, Entry, ReceiptRecord, ReceivedMessage, State,
};
use crate::Behaviour;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use std::sync::Arc;
use tokio::sync::Notify;

/// Prefix of the control and inspection endpoints.
pub const CONTROL_PREFIX: &str = "/_sim/";

/// Largest body of a control request.
const CONTROL_BODY_BYTES: usize = 1024;

/// What the listener puts into each request: a way to close its connection
/// without an answer (`down` for a request on a connection opened before).
#[derive(Clone)]
pub(crate) struct ConnCtl {
    pub(crate) kill: Arc<Notify>,
}

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/_sim/received", get(received))
        .route("/_sim/receipts", get(receipts))
        .route("/_sim/behaviour", get(behaviour).post(set_behaviour))
        .fallback(fallback)
        .with_state(state)
}

/// A plain-text answer in both languages.
fn text(status: StatusCode, nb: &str, en: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{nb}\n{en}\n"),
    )
        .into_response()
}

fn xml(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}

async fn received(AxState(state): AxState<Arc<State>>) -> Response {
    Json(state.received()).into_response()
}

async fn receipts(AxState(state): AxState<Arc<State>>) -> Response {
    Json(state.receipts()).into_response()
}

async fn behaviour(AxState(state): AxState<Arc<State>>) -> Response {
    Json(serde_json::json!({ "behaviour": state.behaviour().to_string() })).into_response()
}

async fn set_behaviour(AxState(state): AxState<Arc<State>>, req: Request) -> Response {
    let Ok(body) = axum::body::to_bytes(req.into_body(), CONTROL_BODY_BYTES).await else {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "For stor forespørsel: send bare oppførselen, f.eks. «down».",
            "Request too large: send only the behaviour, e.g. «down».",
        );
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Oppførselen må være tekst (UTF-8).",
            "The behaviour must be text (UTF-8).",
        );
    };
    let parsed = body.parse::<Behaviour>().and_then(|b| {
        state.set_behaviour(b)?;
        Ok(b)
    });
    match parsed {
        Ok(b) => {
            tracing::info!(behaviour = %b, "behaviour changed");
            Json(serde_json::json!({ "behaviour": b.to_string() })).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{e}\n"),
        )
            .into_response(),
    }
}

/// Whether the request carries `Authorization: Bearer <want>`.
fn authorized(headers: &HeaderMap, want: &str) -> bool {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = v.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(token.trim().as_bytes(), want.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every path but the control endpoints: a receipt on a path with
/// `receipts` in it, else a message.
async fn fallback(
    AxState(state): AxState<Arc<State>>,
    conn: Option<Extension<ConnCtl>>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with(CONTROL_PREFIX) {
        return text(
            StatusCode::NOT_FOUND,
            "Ukjent kontrollendepunkt; se /_sim/received, /_sim/receipts, /_sim/behaviour.",
            "Unknown control endpoint; see /_sim/received, /_sim/receipts, /_sim/behaviour.",
        );
    }
    if req.method() != Method::POST {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Send meldinger og kvitteringer med POST.",
            "Send messages and receipts with POST.",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    if let Some(want) = state.opts.require_token.as_deref() {
        if !authorized(req.headers(), want) {
            state.count_refused();
            let mut r = text(
                StatusCode::UNAUTHORIZED,
                "Mangler eller feil tilgangsnøkkel (Authorization: Bearer …).",
                "Missing or wrong access token (Authorization: Bearer …).",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }

    // Transport behaviours: nothing reaches the receiving application.
    let behaviour = state.behaviour();
    match behaviour {
        Behaviour::Down => {
            state.count_dropped();
            match conn {
                Some(Extension(c)) => {
                    // The listener drops the connection, and this future with it.
                    c.kill.notify_one();
                    std::future::pending::<()>().await;
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                None => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }
        Behaviour::Http(code) => {
            state.count_refused();
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return (status, Body::empty()).into_response();
        }
        Behaviour::RetryAfter(secs) => {
            state.count_refused();
            return retry_after(secs);
        }
        Behaviour::Flaky(p) if lock(&state.rng).chance(p) => {
            state.count_refused();
            return retry_after(1);
        }
        _ => {}
    }

    let body = match axum::body::to_bytes(req.into_body(), state.opts.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Meldingen er for stor, eller forbindelsen brøt under lesing.",
                "The message is too large, or the connection broke while reading it.",
            )
        }
    };

    let answer = if path.contains("receipts") {
        receipt_callback(&state, &path, &body)
    } else {
        message(&state, behaviour, &path, &body)
    };
    if let Behaviour::Slow(d) = behaviour {
        // Received and recorded; the answer is late (a client that gives up
        // meanwhile will send it again, and get the same receipt).
        tokio::time::sleep(d).await;
    }
    answer
}

fn retry_after(secs: u32) -> Response {
    let mut r = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "Mottakersystemet er midlertidig utilgjengelig (simulert). Prøv igjen senere.",
        "The receiving system is temporarily unavailable (simulated). Try again later.",
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A message: read it, decide, write (or find) its receipt, answer.
fn message(state: &Arc<State>, behaviour: Behaviour, path: &str, body: &Bytes) -> Response {
    let limits = overgang_xml::Limits {
        max_bytes: state.opts.max_body_bytes,
        ..Default::default()
    };
    let doc = overgang_xml::parse(body, &limits).ok();
    let message = doc
        .as_ref()
        .map(overgang_model::Message::read)
        .unwrap_or_default();
    let summary = message.summary();
    let msg_id = message.msg_id().map(str::trim).filter(|m| !m.is_empty());
    let decision = if doc.is_none() {
        Decision::Unreadable
    } else if msg_id.is_none() {
        Decision::NoMsgId
    } else {
        match behaviour {
            Behaviour::Reject => Decision::Reject,
            Behaviour::Warn => Decision::Warn,
            _ => Decision::Accept,
        }
    };
    let is_async = behaviour == Behaviour::Async;
    let her = |p: &Option<overgang_model::HerPair>| {
        p.as_ref()
            .and_then(|h| h.level2.clone().or_else(|| h.level1.clone()))
    };
    let at_ms = now_ms();

    let mut book = lock(&state.book);
    let arrival = book.arrive(msg_id, || {
        let w = receipt::write(
            &message,
            decision,
            state.opts.apprec_version,
            &state.lists,
            at_ms,
        )?;
        Ok(Entry {
            record: ReceivedMessage {
                msg_id: summary.msg_id.clone(),
                msg_type: summary.msg_type.clone(),
                sender_her: her(&summary.sender),
                receiver_her: her(&summary.receiver),
                path: path.chars().take(200).collect(),
                at_ms,
                times: 1,
                apprec_status: status_code(w.status),
                receipt_id: w.id,
                callback: is_async.then_some(CallbackState::Pending),
            },
            apprec: Arc::from(w.xml),
        })
    });
    let (index, duplicate) = match arrival {
        Ok(Arrival::New(i)) => (i, false),
        Ok(Arrival::Duplicate(i)) => (i, true),
        Err(e) => {
            drop(book);
            tracing::error!(msg_id = summary.msg_id.as_deref().unwrap_or("-"), error = %e,
                "could not write the receipt");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Mottakersimulatoren kunne ikke lage kvitteringen.",
                "The receiver simulator could not write the receipt.",
            );
        }
    };
    let Some(entry) = book.entries.get_mut(index) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let apprec = entry.apprec.clone();
    let status = entry.record.apprec_status.clone();
    // A duplicate of an async message gets its receipt posted again.
    let callback = entry.record.callback.is_some();
    if callback && duplicate {
        entry.record.callback = Some(CallbackState::Pending);
    }
    drop(book);

    let shown_id = summary.msg_id.as_deref().unwrap_or("-");
    tracing::info!(
        msg_id = shown_id,
        msg_type = summary.msg_type.as_deref().unwrap_or("-"),
        %behaviour,
        apprec_status = %status,
        duplicate,
        "message received"
    );
    if callback {
        crate::callback::spawn(state, index, shown_id.to_owned(), apprec);
        return (StatusCode::ACCEPTED, Body::empty()).into_response();
    }
    xml(StatusCode::OK, &apprec)
}

/// A receipt callback: read the AppRec, record what it answers.
fn receipt_callback(state: &Arc<State>, path: &str, body: &Bytes) -> Response {
    let limits = overgang_xml::Limits {
        max_bytes: state.opts.max_body_bytes,
        ..Default::default()
    };
    let Ok(info) = overgang_apprec::read(body, &limits) else {
        state.count_refused();
        tracing::info!("refused a receipt that is not an AppRec");
        return text(
            StatusCode::BAD_REQUEST,
            "Ikke en applikasjonskvittering (AppRec).",
            "Not an application receipt (AppRec).",
        );
    };
    let clean = |s: Option<&str>| -> Option<String> {
        s.map(|v| {
            v.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect()
        })
    };
    let record = ReceiptRecord {
        original_msg_id: clean(info.original.as_ref().and_then(|o| o.id.as_deref())),
        status: clean(info.status_code.as_ref().and_then(|c| c.code())),
        receipt_id: clean(info.id.as_deref()),
        path: path.chars().take(200).collect(),
        at_ms: now_ms(),
    };
    tracing::info!(
        original_msg_id = record.original_msg_id.as_deref().unwrap_or("-"),
        status = record.status.as_deref().unwrap_or("-"),
        "receipt received"
    );
    lock(&state.book).receipts.push(record);
    (StatusCode::OK, Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_compared_exactly() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "secret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret"),
        );
        assert!(authorized(&h, "secret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  secret "),
        );
        assert!(authorized(&h, "secret"));
        for bad in [
            "Bearer secreT",
            "Bearer secret2",
            "Basic secret",
            "secret",
            "Bearer ",
        ] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert!(!authorized(&h, "secret"), "{bad}");
        }
    }
}
