//! The operators' pages: the queues per destination, the dead letters and
//! what to do about them, message search by metadata, and a message's
//! timeline.
//!
//! Operators run the gateway; they do not read clinical content. These
//! pages show metadata only: ids, HER-ids, types, states, times, findings
//! by code, severity and place (never their texts, which may tell a
//! patient's state, e.g. a functional score, or quote a value), never the
//! message's content, the patient's name or national id. Nothing here
//! reads a message's original bytes.
//!
//! Every action (replay, cancel) goes into the delivery's events, and the
//! message's history when its state changes, with the person as the actor
//! (`user:<name>`). Forms carry the session's CSRF token. Replaying many at
//! once asks first: in the browser (`data-confirm`) when script runs, and
//! on a page of its own otherwise.
//!
//! - `GET /ui/ops`: the dashboard; its body reloads itself from
//!   `GET /ui/ops/dashboard.fragment` every five seconds.
//! - `GET /ui/ops/dead-letters`: dead letters, newest first, by destination;
//!   `POST /ui/ops/dead-letters/replay`: many at once, after a confirmation.
//! - `POST /ui/ops/deliveries/{id}/replay` and `…/cancel` (with a reason).
//! - `GET /ui/ops/messages`: search by metadata; `GET /ui/ops/messages/{id}`:
//!   the timeline of one message.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use overgang_model::{Finding, Lang, Severity};
use overgang_store::{
    Alert, Delivery, DeliveryEvent, DeliveryKind, DeliveryQuery, DeliveryState, DestinationStats,
    HistoryEntry, Millis, OperatorAction, Receipt, State as MsgState, Store, StoreError, Summary,
    WorkQuery,
};
use serde::Deserialize;
use std::sync::Arc;

use super::nurse::{message_types, severity_class, severity_word, type_name};
use super::pages::{self, about, answer, Answer, Pages};
use super::people::Role;
use super::words::{
    delivery_badge, findings_badges, message_state, party, receipt_status, state_badge, when,
};
use super::{csrf_field, page, page_response, percent_encode, store_failed, t, Signed};
use crate::app::{now_millis, AppState};

pub(crate) fn routes<S: Store>(p: Pages<S>) -> Pages<S> {
    p.get(
        "/ui/ops",
        about("The operators' dashboard: queues per destination, alerts"),
        dashboard::<S>,
    )
    .get(
        "/ui/ops/dashboard.fragment",
        about("The dashboard's body alone, for the page's script to refresh it in place")
            .answers(FRAGMENT),
        fragment::<S>,
    )
    .get(
        "/ui/ops/dead-letters",
        about("Dead letters, by destination"),
        dead_letters::<S>,
    )
    .post(
        "/ui/ops/dead-letters/replay",
        about("Replays the selected dead letters, or every one to a destination, once confirmed")
            .answers(REPLAY_MANY),
        replay_many::<S>,
    )
    .post(
        "/ui/ops/deliveries/{id}/replay",
        about("Replays one delivery")
            .answers(pages::ACTION)
            .integers(&["id"]),
        replay_one::<S>,
    )
    .post(
        "/ui/ops/deliveries/{id}/cancel",
        about("Cancels one delivery, with a reason")
            .answers(CANCEL)
            .integers(&["id"]),
        cancel_one::<S>,
    )
    .get(
        "/ui/ops/messages",
        about("Message search by metadata (no content, no patient)"),
        search::<S>,
    )
    .get(
        "/ui/ops/messages/{id}",
        about("A message's metadata and timeline: states, deliveries, receipts")
            .answers(pages::ITEM),
        timeline::<S>,
    )
}

const FRAGMENT: &[Answer] = &[
    answer(
        200,
        "The dashboard's body (an HTML fragment)",
        &["text/html"],
    ),
    answer(
        401,
        "No session (or it ended): refused, not redirected, since a script asked",
        &["text/plain"],
    ),
    answer(403, "The person is not an operator", &["text/html"]),
];

const REPLAY_MANY: &[Answer] = &[
    answer(
        303,
        "Replayed: back to the dead letters, with a notice",
        &[],
    ),
    answer(
        200,
        "Not confirmed (or nothing selected): a page asking to confirm",
        &["text/html"],
    ),
    answer(401, "No session (or it ended): refused", &["text/html"]),
    answer(
        403,
        "The form's `_csrf` is not the session's, or the person is not an operator",
        &["text/html"],
    ),
];

const CANCEL: &[Answer] = &[
    answer(
        303,
        "Cancelled: back to the page the form was on, with a notice",
        &[],
    ),
    answer(
        400,
        "No reason given: the form again; nothing cancelled",
        &["text/html"],
    ),
    answer(
        409,
        "The delivery's state does not allow the action now",
        &["text/html"],
    ),
    answer(401, "No session (or it ended): refused", &["text/html"]),
    answer(
        403,
        "The form's `_csrf` is not the session's, or the person is not an operator",
        &["text/html"],
    ),
    answer(404, "No such delivery", &["text/html"]),
];

/// Dead letters replayed at most by one confirmation (the rest stay for
/// the next).
const MAX_BULK: usize = 10_000;
/// Rows of the dead-letter list and the search per page.
const PAGE: u32 = 100;
/// Alerts on the dashboard.
const ALERTS: u32 = 10;
/// The reason recorded for a replay when the person gives none.
const REPLAY_REASON: &str = "sendt på nytt fra driftssiden / replayed from the operators' page";
/// The longest reason kept (a form field is no place for an essay).
const MAX_REASON: usize = 500;

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

// ---- Forms ------------------------------------------------------------------

/// A form body (`application/x-www-form-urlencoded`) as its fields, in
/// order, repeated names kept (the dead-letter list's check boxes).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Fields {
        Fields(
            body.split(|b| *b == b'&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = match kv.iter().position(|b| *b == b'=') {
                        Some(i) => (&kv[..i], &kv[i + 1..]),
                        None => (kv, &b""[..]),
                    };
                    (form_decode(k), form_decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `name` ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes one name or value: `+` is a space, `%XX` a byte; anything else
/// malformed is kept as it is.
fn form_decode(s: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                s.get(i + 1).and_then(|b| hex(*b)),
                s.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` (one of our pages, else the dead letters) without a notice: the
/// page as the person's next action should bring them back to it.
pub fn without_notice(url: &str) -> String {
    let url = if url.is_empty() {
        "/ui/ops/dead-letters".to_owned()
    } else {
        super::safe_next(Some(url))
    };
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let parts: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !matches!(p.split('=').next().unwrap_or(""), "done" | "n"))
        .collect();
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

/// Where to go back to after an action, with what was done as a notice
/// (`done=…&n=…`, replacing an earlier one).
pub fn with_notice(back: &str, done: &str, n: usize) -> String {
    let back = without_notice(back);
    let sep = if back.contains('?') { '&' } else { '?' };
    format!("{back}{sep}done={}&n={n}", percent_encode(done))
}

fn back_of(s: &Signed) -> String {
    without_notice(&s.here)
}

// ---- Small words ------------------------------------------------------------

/// How long ago, for people: "45 s", "12 min", "3 t 5 min", "2 d 4 t".
pub fn age(lang: Lang, ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let h = t(lang, "t", "h");
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} {h} {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} {h}", s / 86_400, s % 86_400 / 3600),
    }
}

fn alert_kind(lang: Lang, kind: &str) -> String {
    match kind {
        "dead_letter" => t(lang, "Levering feilet", "Delivery failed").into(),
        "apprec_overdue" => t(lang, "Kvittering mangler", "Receipt overdue").into(),
        "registry" => t(lang, "Adresseregister", "Address registry").into(),
        "queue_age" => t(lang, "Gammel kø", "Old queue").into(),
        "queue_age_cleared" => t(lang, "Køen er tatt igjen", "Queue caught up").into(),
        other => other.to_owned(),
    }
}

fn kind_word(lang: Lang, k: DeliveryKind) -> &'static str {
    match k {
        DeliveryKind::Message => t(lang, "Melding", "Message"),
        DeliveryKind::Receipt => t(lang, "Kvittering til avsender", "Receipt to the sender"),
    }
}

/// A destination needs a person's eye: something given up, overdue, or
/// failing now.
pub fn needs_attention(d: &DestinationStats) -> bool {
    d.dead_letters > 0 || d.overdue_receipts > 0 || d.failed_recent > 0
}

/// Destinations in the order the dashboard shows them: those that need
/// attention first, then the longest queues, then by HER-id.
pub fn dashboard_order(list: &mut [DestinationStats]) {
    list.sort_by(|a, b| {
        needs_attention(b)
            .cmp(&needs_attention(a))
            .then(b.queued.cmp(&a.queued))
            .then(a.receiver_her.cmp(&b.receiver_her))
    });
}

fn notice(lang: Lang, done: &str, n: usize) -> Option<String> {
    Some(match done {
        "replayed" => match lang {
            Lang::Nb => format!("{n} levering(er) er lagt i kø igjen."),
            Lang::En => format!(
                "{n} deliver{} queued again.",
                if n == 1 { "y is" } else { "ies are" }
            ),
        },
        "cancelled" => t(
            lang,
            "Leveringen er kansellert.",
            "The delivery is cancelled.",
        )
        .into(),
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
struct Notice {
    done: Option<String>,
    n: Option<String>,
}

fn notice_markup(lang: Lang, q: &Notice) -> Markup {
    let n = set(&q.n).and_then(|n| n.parse().ok()).unwrap_or(0);
    html! {
        @if let Some(text) = set(&q.done).and_then(|d| notice(lang, d, n)) {
            p.good role="status" { (text) }
        }
    }
}

// ---- Dashboard ----------------------------------------------------------------

async fn dashboard_body<S: Store>(state: &AppState<S>, lang: Lang) -> Result<Markup, StoreError> {
    let now = now_millis();
    let mut list = state.store.destination_stats(now).await?;
    let alerts = state.store.alerts(ALERTS).await?;
    dashboard_order(&mut list);
    let registry = state.registry.current();
    let sum = |f: fn(&DestinationStats) -> u64| list.iter().map(f).sum::<u64>();
    let totals = [
        (t(lang, "I kø", "Queued"), sum(|d| d.queued), "wait"),
        (
            t(lang, "Sendes nå", "In flight"),
            sum(|d| d.in_flight),
            "wait",
        ),
        (
            t(lang, "Feilede leveranser", "Dead letters"),
            sum(|d| d.dead_letters),
            "bad",
        ),
        (
            t(lang, "Manglende kvitteringer", "Overdue receipts"),
            sum(|d| d.overdue_receipts),
            "warn",
        ),
    ];
    Ok(html! {
        ul.totals aria-label=(t(lang, "Totalt", "Totals")) {
            @for (label, n, tone) in totals {
                li class={ "total" @if n > 0 { " " (tone) } } {
                    span.n { (n) } " " span.label { (label) }
                }
            }
        }
        h2 #destinations-h { (t(lang, "Mottakere", "Destinations")) }
        @if list.is_empty() {
            p.empty { (t(lang, "Ingenting er levert ennå.", "Nothing has been delivered yet.")) }
        } @else {
            div.table-scroll role="region" aria-labelledby="destinations-h" tabindex="0" {
                table.list.ops #destinations {
                    caption.visually-hidden { (t(lang, "Køer per mottaker; de som trenger tilsyn først",
                                                  "Queues per destination; those needing attention first")) }
                    thead { tr {
                        th scope="col" { (t(lang, "Mottaker", "Destination")) }
                        th.num scope="col" { (t(lang, "I kø", "Queued")) }
                        th scope="col" { (t(lang, "Eldste i kø", "Oldest queued")) }
                        th.num scope="col" { (t(lang, "Sendes nå", "In flight")) }
                        th.num scope="col" { (t(lang, "Levert siste time", "Delivered last hour")) }
                        th.num scope="col" { (t(lang, "Feilet siste time", "Failed last hour")) }
                        th.num scope="col" { (t(lang, "Feilede leveranser", "Dead letters")) }
                        th.num scope="col" { (t(lang, "Manglende kvitteringer", "Overdue receipts")) }
                        th scope="col" { (t(lang, "Siste feil", "Last error")) }
                    } }
                    tbody {
                        @for d in &list {
                            tr class=[needs_attention(d).then_some("attention")] data-her=(d.receiver_her) {
                                th scope="row" { (party(&registry, Some(&d.receiver_her))) }
                                td.num { (d.queued) }
                                td {
                                    @match d.oldest_queued_at {
                                        Some(at) => { (age(lang, now - at)) br; span.muted { (when(at)) } }
                                        None => span.muted { "–" },
                                    }
                                }
                                td.num { (d.in_flight) }
                                td.num { (d.delivered_recent) }
                                td.num { @if d.failed_recent > 0 { span.badge.warn { (d.failed_recent) } } @else { "0" } }
                                td.num {
                                    @if d.dead_letters > 0 {
                                        a.badge.bad href={ "/ui/ops/dead-letters?receiver=" (percent_encode(&d.receiver_her)) } {
                                            (d.dead_letters)
                                            span.visually-hidden { " " (t(lang, "feilede leveranser, vis dem", "dead letters, show them")) }
                                        }
                                    } @else { "0" }
                                }
                                td.num { @if d.overdue_receipts > 0 { span.badge.warn { (d.overdue_receipts) } } @else { "0" } }
                                td.error-text {
                                    @match &d.last_error {
                                        Some((at, e)) => { (e) br; span.muted { (when(*at)) } }
                                        None => span.muted { "–" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (t(lang, "Siste varsler", "Recent alerts")) }
        (alerts_list(lang, &alerts))
        p.muted.small { (t(lang, "Sist oppdatert ", "Last updated ")) (when(now)) }
    })
}

fn alerts_list(lang: Lang, alerts: &[Alert]) -> Markup {
    html! {
        @if alerts.is_empty() {
            p.empty { (t(lang, "Ingen varsler.", "No alerts.")) }
        } @else {
            ul.alerts {
                @for a in alerts {
                    li {
                        (when(a.at)) " "
                        span class={ "badge " @if a.kind == "dead_letter" { "bad" } @else if a.kind == "queue_age_cleared" { "good" } @else { "warn" } } { (alert_kind(lang, &a.kind)) }
                        " "
                        (match lang { Lang::Nb => &a.text_nb, Lang::En => &a.text_en })
                    }
                }
            }
        }
    }
}

async fn dashboard<S: Store>(State(state): State<Arc<AppState<S>>>, s: Signed) -> Response {
    if let Err(r) = s.require(Role::Operator) {
        return r;
    }
    let inner = match dashboard_body(&state, s.lang).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "dashboard read failed");
            return store_failed(&s);
        }
    };
    let body = html! {
        h1 { (s.t("Køer", "Queues")) }
        p.muted { (s.t("Oppdateres av seg selv hvert 5. sekund.", "Refreshes itself every 5 seconds.")) }
        div #dashboard data-refresh="/ui/ops/dashboard.fragment" data-interval="5" { (inner) }
    };
    page(&s, s.t("Køer", "Queues"), body)
}

/// The dashboard's body alone, for the page's script. Not logged in: 401
/// (not the login page, which the script would paste into the dashboard).
async fn fragment<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Result<Signed, Response>,
) -> Response {
    let Ok(s) = s else {
        let mut r = (StatusCode::UNAUTHORIZED, "not logged in").into_response();
        super::security_headers(r.headers_mut());
        return r;
    };
    if let Err(r) = s.require(Role::Operator) {
        return r;
    }
    match dashboard_body(&state, s.lang).await {
        Ok(m) => super::html_response(StatusCode::OK, m),
        Err(e) => {
            tracing::error!(error = %e, "dashboard read failed");
            let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
            super::security_headers(r.headers_mut());
            r
        }
    }
}

// ---- Dead letters -------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct DeadParams {
    receiver: Option<String>,
    before: Option<String>,
}

async fn dead_letters<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<DeadParams>,
    Query(done): Query<Notice>,
) -> Response {
    if let Err(r) = s.require(Role::Operator) {
        return r;
    }
    let receiver = set(&p.receiver).map(str::to_owned);
    let q = DeliveryQuery {
        state: Some(DeliveryState::DeadLetter),
        receiver_her: receiver.clone(),
        limit: PAGE,
        before: set(&p.before).and_then(|b| b.parse().ok()),
        ..DeliveryQuery::default()
    };
    let (list, dests) = match tokio::try_join!(
        state.store.list_deliveries(&q),
        state.store.destination_stats(now_millis())
    ) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "dead letters read failed");
            return store_failed(&s);
        }
    };
    let with_dead: Vec<&DestinationStats> = dests.iter().filter(|d| d.dead_letters > 0).collect();
    let total: u64 = with_dead.iter().map(|d| d.dead_letters).sum();
    let registry = state.registry.current();
    let name_of = |her: &str| -> String {
        registry
            .get(her)
            .map_or_else(|| format!("HER {her}"), |p| format!("{} ({her})", p.name))
    };
    let lang = s.lang;
    let back = back_of(&s);
    let older = (list.len() == PAGE as usize)
        .then(|| list.last().map(|d| d.id))
        .flatten()
        .map(|b| match &receiver {
            Some(r) => format!(
                "/ui/ops/dead-letters?receiver={}&before={b}",
                percent_encode(r)
            ),
            None => format!("/ui/ops/dead-letters?before={b}"),
        });
    let here_count = receiver.as_deref().map_or(total, |r| {
        with_dead
            .iter()
            .filter(|d| d.receiver_her == r)
            .map(|d| d.dead_letters)
            .sum()
    });
    let body = html! {
        h1 { (s.t("Feilede leveranser", "Dead letters")) }
        (notice_markup(lang, &done))
        p { (s.t("Leveranser gatewayen har gitt opp, og som venter på en person: send dem på nytt når feilen er rettet, eller kanseller dem med en begrunnelse.",
                 "Deliveries the gateway gave up on, waiting for a person: replay them once the fault is fixed, or cancel them with a reason.")) }
        form.filters method="get" action="/ui/ops/dead-letters" {
            div.field {
                label for="receiver" { (s.t("Mottaker", "Destination")) }
                select #receiver name="receiver" {
                    option value="" { (s.t("Alle mottakere", "All destinations")) ": " (total) }
                    @for d in &with_dead {
                        option value=(d.receiver_her) selected[receiver.as_deref() == Some(d.receiver_her.as_str())] {
                            (name_of(&d.receiver_her)) ": " (d.dead_letters)
                        }
                    }
                }
            }
            div.field { button type="submit" { (s.t("Vis", "Show")) } }
        }
        @if list.is_empty() {
            p.empty { (s.t("Ingen feilede leveranser.", "No dead letters.")) }
        } @else {
            section.bulk aria-labelledby="bulk-h" {
                h2 #bulk-h { (s.t("Send mange på nytt", "Replay many")) }
                div.bulk-forms {
                    form #bulk-selected method="post" action="/ui/ops/dead-letters/replay"
                        data-confirm=(s.t("Sende de valgte leveransene på nytt?", "Replay the selected deliveries?")) {
                        (csrf_field(&s))
                        input type="hidden" name="scope" value="selected";
                        input type="hidden" name="back" value=(back);
                        input type="hidden" name="confirm" value="" data-confirmed;
                        button type="submit" { (s.t("Send valgte på nytt", "Replay selected")) }
                    }
                    @if let Some(r) = &receiver {
                        form method="post" action="/ui/ops/dead-letters/replay"
                            data-confirm=(bulk_question(lang, here_count, &name_of(r))) {
                            (csrf_field(&s))
                            input type="hidden" name="scope" value="receiver";
                            input type="hidden" name="receiver" value=(r);
                            input type="hidden" name="back" value=(back);
                            input type="hidden" name="confirm" value="" data-confirmed;
                            button type="submit" {
                                (s.t("Send alle", "Replay all")) " " (here_count) " "
                                (s.t("til", "to")) " " (name_of(r)) " " (s.t("på nytt", "again"))
                            }
                        }
                    } @else {
                        form method="post" action="/ui/ops/dead-letters/replay" {
                            (csrf_field(&s))
                            input type="hidden" name="scope" value="receiver";
                            input type="hidden" name="back" value=(back);
                            div.field {
                                label for="bulk-receiver" { (s.t("Alle til mottaker", "All to destination")) }
                                select #bulk-receiver name="receiver" required {
                                    option value="" { (s.t("Velg mottaker", "Choose a destination")) }
                                    @for d in &with_dead {
                                        option value=(d.receiver_her) { (name_of(&d.receiver_her)) ": " (d.dead_letters) }
                                    }
                                }
                            }
                            button type="submit" { (s.t("Send alle til mottakeren på nytt …", "Replay all to the destination …")) }
                        }
                    }
                }
            }
            div.table-scroll role="region" aria-labelledby="dead-h" tabindex="0" {
                table.list.ops #dead-letters {
                    caption #dead-h { (s.t("Feilede leveranser, nyeste først", "Dead letters, newest first")) }
                    thead { tr {
                        th scope="col" { span.visually-hidden { (s.t("Velg", "Select")) } }
                        th scope="col" { (s.t("Levering", "Delivery")) }
                        th scope="col" { (s.t("Melding", "Message")) }
                        th scope="col" { (s.t("Mottaker", "Destination")) }
                        th scope="col" { (s.t("Fra", "From")) }
                        th.num scope="col" { (s.t("Forsøk", "Attempts")) }
                        th scope="col" { (s.t("Feil", "Error")) }
                        th scope="col" { (s.t("Handlinger", "Actions")) }
                    } }
                    tbody {
                        @for d in &list {
                            tr data-delivery=(d.id) {
                                td {
                                    input type="checkbox" name="ids" value=(d.id) form="bulk-selected"
                                        id={ "sel-" (d.id) };
                                    label.visually-hidden for={ "sel-" (d.id) } { (s.t("Velg levering", "Select delivery")) " " (d.id) }
                                }
                                th scope="row" { "#" (d.id) br; span.muted { (kind_word(lang, d.kind)) } }
                                td {
                                    a.code href={ "/ui/ops/messages/" (d.message_id) } { (d.message_id) }
                                    br; span.muted { (type_name(&state.code_lists, d.msg_type.as_deref())) }
                                }
                                td { (party(&registry, Some(&d.receiver_her))) }
                                td { (party(&registry, d.sender_her.as_deref())) }
                                td.num { (d.attempts) }
                                td.error-text {
                                    (d.last_error.as_deref().unwrap_or("–"))
                                    br; span.muted { (when(d.updated_at)) }
                                }
                                td.actions { (actions(&s, d, &back)) }
                            }
                        }
                    }
                }
            }
            @if let Some(href) = older {
                p { a.button href=(href) { (s.t("Eldre", "Older")) } }
            }
        }
    };
    page(&s, s.t("Feilede leveranser", "Dead letters"), body)
}

fn bulk_question(lang: Lang, n: u64, to: &str) -> String {
    match lang {
        Lang::Nb => format!("Sende alle {n} feilede leveranser til {to} på nytt?"),
        Lang::En => format!("Replay all {n} dead letters to {to}?"),
    }
}

/// The replay and cancel forms of one delivery, where its state allows them.
fn actions(s: &Signed, d: &Delivery, back: &str) -> Markup {
    let id = d.id;
    html! {
        @if d.state.replayable() {
            form.inline method="post" action={ "/ui/ops/deliveries/" (id) "/replay" } {
                (csrf_field(s))
                input type="hidden" name="back" value=(back);
                button type="submit" {
                    (s.t("Send på nytt", "Replay"))
                    span.visually-hidden { " " (s.t("levering", "delivery")) " " (id) }
                }
            }
        }
        @if d.state.cancellable() {
            details.cancel {
                summary { (s.t("Kanseller …", "Cancel …")) span.visually-hidden { " " (s.t("levering", "delivery")) " " (id) } }
                (cancel_form(s, id, back, None))
            }
        }
    }
}

fn cancel_form(s: &Signed, id: i64, back: &str, error: Option<&str>) -> Markup {
    let field = format!("reason-{id}");
    let note = format!("reason-{id}-note");
    html! {
        form.cancel method="post" action={ "/ui/ops/deliveries/" (id) "/cancel" } {
            (csrf_field(s))
            input type="hidden" name="back" value=(back);
            label for=(field) { (s.t("Begrunnelse (påkrevd)", "Reason (required)")) }
            @if let Some(e) = error {
                p.error id=(note) role="alert" { (e) }
                input id=(field) name="reason" type="text" required maxlength=(MAX_REASON)
                    aria-invalid="true" aria-describedby=(note) autofocus;
            } @else {
                input id=(field) name="reason" type="text" required maxlength=(MAX_REASON);
            }
            button.danger type="submit" { (s.t("Kanseller leveringen", "Cancel the delivery")) }
        }
    }
}

// ---- Actions ------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Replay,
    Cancel,
}

/// Does one action as the person, logs it, wakes the delivery stage after
/// a replay.
async fn act<S: Store>(
    state: &AppState<S>,
    s: &Signed,
    id: i64,
    what: Act,
    reason: &str,
) -> Result<DeliveryState, StoreError> {
    let a = OperatorAction {
        delivery_id: id,
        at: now_millis(),
        actor: s.actor(),
        reason: reason.to_owned(),
    };
    let r = match what {
        Act::Replay => state.store.replay(a).await,
        Act::Cancel => state.store.cancel(a).await,
    };
    if r.is_ok() {
        tracing::info!(
            delivery = id,
            user = %s.person.name,
            action = match what { Act::Replay => "replay", Act::Cancel => "cancel" },
            "operator action"
        );
    }
    r
}

fn wake<S>(state: &AppState<S>) {
    if let Some(w) = &state.waker {
        w.notify_one();
    }
}

/// A reason as typed: trimmed, on one line, at most [`MAX_REASON`]
/// characters.
pub fn clean_reason(r: &str) -> String {
    r.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_REASON)
        .collect()
}

fn action_failed(s: &Signed, e: StoreError, back: &str) -> Response {
    match e {
        StoreError::NoDelivery(_) => super::not_found(s),
        StoreError::NotAllowed { state, .. } => {
            let body = html! {
                h1 { (s.t("Ikke tillatt", "Not allowed")) }
                p { (s.t("Leveringen har tilstanden", "The delivery is in state")) " " code { (state) } "; "
                    (s.t("handlingen er ikke tillatt nå. Noen kan ha gjort noe med den samtidig.",
                         "the action is not allowed now. Someone may have acted on it meanwhile.")) }
                p { a href=(back) { (s.t("Tilbake", "Back")) } }
            };
            page_response(
                StatusCode::CONFLICT,
                s.lang,
                Some(s),
                s.t("Ikke tillatt", "Not allowed"),
                body,
            )
        }
        other => {
            tracing::error!(error = %other, "operator action failed");
            store_failed(s)
        }
    }
}

/// An operator's form: the role, then the CSRF token, then its fields and
/// the page to go back to.
fn operator_form(s: &Signed, body: &[u8]) -> Result<(Fields, String), Response> {
    s.require(Role::Operator)?;
    let f = Fields::parse(body);
    s.check_csrf(f.get("_csrf"))?;
    let back = back_field(&f);
    Ok((f, back))
}

fn back_field(f: &Fields) -> String {
    match f.get("back") {
        "" => "/ui/ops/dead-letters".to_owned(),
        b => super::safe_next(Some(b)),
    }
}

async fn replay_one<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let (f, back) = match operator_form(&s, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let reason = match clean_reason(f.get("reason")) {
        r if r.is_empty() => REPLAY_REASON.to_owned(),
        r => r,
    };
    match act(&state, &s, id, Act::Replay, &reason).await {
        Ok(_) => {
            wake(&state);
            Redirect::to(&with_notice(&back, "replayed", 1)).into_response()
        }
        Err(e) => action_failed(&s, e, &back),
    }
}

async fn cancel_one<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let (f, back) = match operator_form(&s, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let reason = clean_reason(f.get("reason"));
    if reason.is_empty() {
        let msg = s.t(
            "Skriv hvorfor leveringen kanselleres. Den er ikke kansellert.",
            "Say why the delivery is cancelled. It has not been cancelled.",
        );
        let body = html! {
            h1 { (s.t("Kanseller levering", "Cancel delivery")) " #" (id) }
            (cancel_form(&s, id, &back, Some(msg)))
            p { a href=(back) { (s.t("Tilbake uten å kansellere", "Back without cancelling")) } }
        };
        return page_response(
            StatusCode::BAD_REQUEST,
            s.lang,
            Some(&s),
            s.t("Begrunnelse mangler", "Reason missing"),
            body,
        );
    }
    match act(&state, &s, id, Act::Cancel, &reason).await {
        Ok(_) => Redirect::to(&with_notice(&back, "cancelled", 1)).into_response(),
        Err(e) => action_failed(&s, e, &back),
    }
}

/// The ids a bulk replay is about: the selected ones, or every dead letter
/// to one destination.
async fn bulk_ids<S: Store>(state: &AppState<S>, f: &Fields) -> Result<Vec<i64>, StoreError> {
    if f.get("scope") == "receiver" {
        let receiver = f.get("receiver").trim();
        if receiver.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        let mut before = None;
        loop {
            let q = DeliveryQuery {
                state: Some(DeliveryState::DeadLetter),
                receiver_her: Some(receiver.to_owned()),
                limit: 1000,
                before,
                ..DeliveryQuery::default()
            };
            let page = state.store.list_deliveries(&q).await?;
            before = page.last().map(|d| d.id);
            ids.extend(page.iter().map(|d| d.id));
            if page.len() < 1000 || ids.len() >= MAX_BULK {
                break;
            }
        }
        ids.truncate(MAX_BULK);
        Ok(ids)
    } else {
        let mut ids: Vec<i64> = f.all("ids").filter_map(|v| v.trim().parse().ok()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(MAX_BULK);
        Ok(ids)
    }
}

async fn replay_many<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    body: Bytes,
) -> Response {
    let (f, back) = match operator_form(&s, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ids = match bulk_ids(&state, &f).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "dead letters read failed");
            return store_failed(&s);
        }
    };
    if f.get("confirm") != "yes" || ids.is_empty() {
        return confirm_page(&state, &s, &f, &ids, &back);
    }
    let reason = match clean_reason(f.get("reason")) {
        r if r.is_empty() => REPLAY_REASON.to_owned(),
        r => r,
    };
    let mut done = 0;
    for id in ids {
        match act(&state, &s, id, Act::Replay, &reason).await {
            Ok(_) => done += 1,
            // Replayed, cancelled or gone meanwhile: nothing to do for it.
            Err(StoreError::NotAllowed { .. } | StoreError::NoDelivery(_)) => {}
            Err(e) => {
                tracing::error!(error = %e, "replay failed");
                if done > 0 {
                    wake(&state);
                }
                return store_failed(&s);
            }
        }
    }
    if done > 0 {
        wake(&state);
    }
    Redirect::to(&with_notice(&back, "replayed", done)).into_response()
}

/// The page that asks before many deliveries are replayed (when the
/// browser did not ask: no script).
fn confirm_page<S: Store>(
    state: &AppState<S>,
    s: &Signed,
    f: &Fields,
    ids: &[i64],
    back: &str,
) -> Response {
    let receiver = f.get("receiver").trim();
    let scope = if f.get("scope") == "receiver" {
        "receiver"
    } else {
        "selected"
    };
    let registry = state.registry.current();
    let n = ids.len();
    let title = s.t("Send på nytt?", "Replay?");
    let body = html! {
        h1 { (title) }
        @if n == 0 {
            p.notice role="status" {
                @if scope == "receiver" && receiver.is_empty() {
                    (s.t("Velg en mottaker.", "Choose a destination."))
                } @else {
                    (s.t("Ingen leveranser er valgt, eller ingen venter lenger.", "No deliveries are selected, or none waits any more."))
                }
            }
            p { a.button href=(back) { (s.t("Tilbake", "Back")) } }
        } @else {
            p #confirm-what {
                @match s.lang {
                    Lang::Nb => { "Du er i ferd med å sende " strong { (n) } " feilede leveranser på nytt" }
                    Lang::En => { "You are about to replay " strong { (n) } " dead letters" }
                }
                @if scope == "receiver" {
                    " " (s.t("til", "to")) " " (party(&registry, Some(receiver)))
                }
                "."
            }
            form method="post" action="/ui/ops/dead-letters/replay" aria-describedby="confirm-what" {
                (csrf_field(s))
                input type="hidden" name="scope" value=(scope);
                input type="hidden" name="back" value=(back);
                @if scope == "receiver" {
                    input type="hidden" name="receiver" value=(receiver);
                } @else {
                    @for id in ids { input type="hidden" name="ids" value=(id); }
                }
                input type="hidden" name="confirm" value="yes";
                div.field {
                    label for="bulk-reason" { (s.t("Begrunnelse (valgfri)", "Reason (optional)")) }
                    input #bulk-reason name="reason" type="text" maxlength=(MAX_REASON);
                }
                p.buttons {
                    button type="submit" {
                        (s.t("Ja, send", "Yes, replay")) " " (n) " " (s.t("på nytt", "now"))
                    }
                    " "
                    a.button.secondary href=(back) { (s.t("Avbryt", "Cancel")) }
                }
            }
        }
    };
    page(s, title, body)
}

// ---- Message search -------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    pub id: Option<String>,
    pub msg_id: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    #[serde(rename = "type")]
    pub msg_type: Option<String>,
    pub state: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
}

impl SearchParams {
    /// The search as the store takes it, and the fields that could not be
    /// read (dates, state).
    pub fn query(&self) -> (WorkQuery, Vec<&'static str>) {
        let mut bad = Vec::new();
        let date = |v: &Option<String>, name: &'static str, bad: &mut Vec<&'static str>| {
            let v = set(v)?;
            let t = overgang_timefmt::oslo_date_start(v);
            if t.is_none() {
                bad.push(name);
            }
            t
        };
        let state = set(&self.state).and_then(|v| {
            let s = MsgState::parse(v);
            if s.is_none() {
                bad.push("state");
            }
            s
        });
        let q = WorkQuery {
            units: None,
            id: set(&self.id).map(str::to_owned),
            msg_id: set(&self.msg_id).map(str::to_owned),
            sender_her: set(&self.sender).map(str::to_owned),
            receiver_her: set(&self.receiver).map(str::to_owned),
            msg_type: set(&self.msg_type).map(str::to_owned),
            state,
            since: date(&self.from, "from", &mut bad),
            until: date(&self.to, "to", &mut bad).map(|t| t + 86_400_000),
            cursor: set(&self.cursor).map(str::to_owned),
            limit: PAGE,
            ..WorkQuery::default()
        };
        (q, bad)
    }

    /// The link to the next (older) page.
    pub fn next_link(&self, cursor: &str) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("id", &self.id),
            ("msg_id", &self.msg_id),
            ("sender", &self.sender),
            ("receiver", &self.receiver),
            ("type", &self.msg_type),
            ("state", &self.state),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = set(v) {
                parts.push(format!("{k}={}", percent_encode(v)));
            }
        }
        parts.push(format!("cursor={}", percent_encode(cursor)));
        format!("/ui/ops/messages?{}", parts.join("&"))
    }
}

async fn search<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<SearchParams>,
) -> Response {
    if let Err(r) = s.require(Role::Operator) {
        return r;
    }
    let (q, bad) = p.query();
    let (found, error) = match state.store.worklist(&q).await {
        Ok(page) => (page, None),
        Err(StoreError::BadCursor) => (
            overgang_store::Page::default(),
            Some(s.t(
                "Lenken til neste side er ugyldig; søk på nytt.",
                "The link to the next page is not valid; search again.",
            )),
        ),
        Err(e) => {
            tracing::error!(error = %e, "message search failed");
            return store_failed(&s);
        }
    };
    let registry = state.registry.current();
    let types = message_types(&state.code_lists);
    let lang = s.lang;
    let v = |x: &Option<String>| set(x).unwrap_or("").to_owned();
    let text_field = |id: &str, label: &str, value: String, mode: &str| {
        html! {
            div.field {
                label for=(id) { (label) }
                input id=(id) name=(id) type="text" value=(value) inputmode=(mode) autocomplete="off";
            }
        }
    };
    let body = html! {
        h1 { (s.t("Meldingssøk", "Message search")) }
        p.muted { (s.t("Søk på metadata. Pasientsøk finnes ikke her.", "Search by metadata. There is no patient search here.")) }
        form.filters method="get" action="/ui/ops/messages" role="search" {
            (text_field("id", s.t("Gateway-id", "Gateway id"), v(&p.id), "text"))
            (text_field("msg_id", "MsgId", v(&p.msg_id), "text"))
            (text_field("sender", s.t("Avsender (HER-id)", "Sender (HER id)"), v(&p.sender), "numeric"))
            (text_field("receiver", s.t("Mottaker (HER-id)", "Receiver (HER id)"), v(&p.receiver), "numeric"))
            (super::words::type_select(lang, &types, set(&p.msg_type)))
            div.field {
                label for="state" { (s.t("Status", "State")) }
                select #state name="state" {
                    option value="" { (s.t("Alle", "All")) }
                    @for st in MsgState::ALL {
                        option value=(st.as_str()) selected[set(&p.state) == Some(st.as_str())] { (message_state(lang, st)) }
                    }
                }
            }
            (super::words::date_range(lang, &v(&p.from), &v(&p.to)))
            div.field { button type="submit" { (s.t("Søk", "Search")) } }
        }
        @if !bad.is_empty() {
            p.error role="alert" {
                (s.t("Disse feltene kunne ikke leses og er ikke brukt:", "These fields could not be read and were not used:"))
                " " (bad.iter().map(|f| field_label(lang, f)).collect::<Vec<_>>().join(", "))
            }
        }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if found.items.is_empty() {
            p.empty { (s.t("Ingen meldinger passer søket.", "No messages match the search.")) }
        } @else {
            div.table-scroll role="region" aria-labelledby="found-h" tabindex="0" {
                table.list.ops #messages {
                    caption #found-h { (s.t("Meldinger, nyeste først", "Messages, newest first")) }
                    thead { tr {
                        th scope="col" { (s.t("Mottatt", "Received")) }
                        th scope="col" { (s.t("Gateway-id", "Gateway id")) }
                        th scope="col" { "MsgId" }
                        th scope="col" { (s.t("Type", "Type")) }
                        th scope="col" { (s.t("Fra", "From")) }
                        th scope="col" { (s.t("Til", "To")) }
                        th scope="col" { (s.t("Funn", "Findings")) }
                        th scope="col" { (s.t("Status", "State")) }
                    } }
                    tbody {
                        @for m in &found.items { (search_row(lang, &registry, &state.code_lists, m)) }
                    }
                }
            }
            @if let Some(c) = &found.next {
                p { a.button href=(p.next_link(c)) { (s.t("Eldre meldinger", "Older messages")) } }
            }
        }
    };
    page(&s, s.t("Meldingssøk", "Message search"), body)
}

/// A search field's label, for the message about fields not read.
fn field_label(lang: Lang, field: &str) -> &'static str {
    match field {
        "state" => t(lang, "Status", "State"),
        "from" => t(lang, "Fra dato", "From date"),
        "to" => t(lang, "Til dato", "To date"),
        _ => "?",
    }
}

fn search_row(
    lang: Lang,
    registry: &overgang_registry::Registry,
    codes: &overgang_codelists::CodeLists,
    m: &Summary,
) -> Markup {
    html! {
        tr {
            td { (when(m.received_at)) }
            th scope="row" { a.code href={ "/ui/ops/messages/" (m.id) } { (m.id) } }
            td.code { (m.meta.msg_id.as_deref().unwrap_or("–")) }
            td { (type_name(codes, m.meta.msg_type.as_deref())) }
            td { (party(registry, m.meta.sender_her.as_deref())) }
            td { (party(registry, m.meta.receiver_her.as_deref())) }
            td { (findings_badges(lang, m.errors, m.warnings)) }
            td { (state_badge(lang, m.state)) }
        }
    }
}

// ---- One message's timeline -------------------------------------------------------

/// One step of a message's life: a change of the message's own state, or
/// an event of one of its deliveries.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    Message(&'a HistoryEntry),
    Delivery(&'a Delivery, &'a DeliveryEvent),
}

impl Step<'_> {
    pub fn at(&self) -> Millis {
        match self {
            Step::Message(h) => h.at,
            Step::Delivery(_, e) => e.at,
        }
    }
}

/// The message's history and its deliveries' events in time order; at the
/// same millisecond the message's own entry first, then the deliveries in
/// order, each delivery's events as recorded.
pub fn timeline_steps<'a>(
    history: &'a [HistoryEntry],
    deliveries: &'a [(Delivery, Vec<DeliveryEvent>)],
) -> Vec<Step<'a>> {
    let mut steps: Vec<Step<'a>> = history.iter().map(Step::Message).collect();
    for (d, events) in deliveries {
        steps.extend(events.iter().map(|e| Step::Delivery(d, e)));
    }
    // Stable: equal times keep the order above.
    steps.sort_by_key(Step::at);
    steps
}

async fn timeline<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Path(id): Path<String>,
    Query(done): Query<Notice>,
) -> Response {
    if let Err(r) = s.require(Role::Operator) {
        return r;
    }
    let record = match state.store.get(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return super::not_found(&s),
        Err(e) => {
            tracing::error!(error = %e, "message read failed");
            return store_failed(&s);
        }
    };
    let (deliveries, receipts) =
        match tokio::try_join!(state.store.deliveries_of(&id), state.store.receipts_of(&id)) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "deliveries read failed");
                return store_failed(&s);
            }
        };
    let findings: Vec<Finding> = serde_json::from_str(&record.findings_json).unwrap_or_default();
    let registry = state.registry.current();
    let lang = s.lang;
    let back = back_of(&s);
    let m = &record.summary;
    let meta = &m.meta;
    let steps = timeline_steps(&record.history, &deliveries);
    let title = format!("{} {}", s.t("Melding", "Message"), m.id);
    let body = html! {
        p { a href="/ui/ops/messages" { "← " (s.t("Meldingssøk", "Message search")) } }
        h1 { (s.t("Melding", "Message")) " " span.code { (m.id) } }
        (notice_markup(lang, &done))
        section.message-head aria-labelledby="meta-h" {
            h2 #meta-h.visually-hidden { (s.t("Metadata", "Metadata")) }
            dl.meta {
                dt { (s.t("Status", "State")) } dd { (state_badge(lang, m.state)) }
                dt { "MsgId" } dd.code { (meta.msg_id.as_deref().unwrap_or("–")) }
                dt { (s.t("Type", "Type")) } dd { (type_name(&state.code_lists, meta.msg_type.as_deref())) }
                dt { (s.t("Standard", "Standard")) } dd { (meta.standard.as_deref().unwrap_or("–")) }
                dt { (s.t("Avsender", "Sender")) } dd { (party(&registry, meta.sender_her.as_deref())) }
                dt { (s.t("Mottaker", "Receiver")) } dd { (party(&registry, meta.receiver_her.as_deref())) }
                dt { (s.t("Avsendersystem", "Sender system")) } dd.code { (m.system) }
                dt { (s.t("Mottatt", "Received")) } dd { (when(m.received_at)) }
                dt { (s.t("Sist endret", "Last changed")) } dd { (when(m.updated_at)) }
                dt { (s.t("Størrelse", "Size")) } dd { (m.size) " bytes" }
                dt { (s.t("Vurdering", "Verdict")) } dd.code { (m.verdict) }
                dt { (s.t("Kvittering sendt", "Receipt sent")) } dd { (receipt_status(lang, m.apprec_status)) " (" (m.apprec_status) ")" }
            }
        }
        h2 { (s.t("Funn", "Findings")) " " (findings_badges(lang, m.errors, m.warnings)) }
        @if !findings.is_empty() {
            p.muted { (s.t("Kode og sted for hvert funn. Teksten kan si noe om pasienten og vises bare for sykepleiere ved enhetene meldingen gjelder.",
                           "Code and place of each finding. Its text may say something about the patient and is shown only to nurses of the message's units.")) }
        }
        @if findings.is_empty() {
            p.empty { (s.t("Ingen funn.", "No findings.")) }
        } @else {
            ol.findings {
                @for f in &findings {
                    li class={ "finding sev-" (severity_class(f.severity)) } {
                        span class={ "badge " (match f.severity { Severity::Error => "bad", Severity::Warning => "warn", _ => "neutral" }) } {
                            (severity_word(lang, f.severity))
                        }
                        " " span.code { (f.code) }
                        @if !f.path.is_empty() { " " span.muted.code { (f.path) } }
                    }
                }
            }
        }
        h2 #deliveries-h { (s.t("Leveranser", "Deliveries")) }
        @if deliveries.is_empty() {
            p.empty { (s.t("Meldingen er ikke sendt videre.", "The message was not sent on.")) }
        } @else {
            div.table-scroll role="region" aria-labelledby="deliveries-h" tabindex="0" {
                table.list.ops #deliveries {
                    thead { tr {
                        th scope="col" { (s.t("Levering", "Delivery")) }
                        th scope="col" { (s.t("Mottaker", "Destination")) }
                        th scope="col" { (s.t("Rolle", "Role")) }
                        th scope="col" { (s.t("Status", "State")) }
                        th.num scope="col" { (s.t("Forsøk", "Attempts")) }
                        th scope="col" { (s.t("Feil", "Error")) }
                        th scope="col" { (s.t("Handlinger", "Actions")) }
                    } }
                    tbody {
                        @for (d, _) in &deliveries {
                            tr data-delivery=(d.id) {
                                th scope="row" { "#" (d.id) br; span.muted { (kind_word(lang, d.kind)) } }
                                td { (party(&registry, Some(&d.receiver_her))) }
                                td.code { (d.role) }
                                td {
                                    (delivery_badge(lang, d.state))
                                    @if d.apprec_overdue { " " span.badge.warn { (s.t("kvittering mangler", "receipt overdue")) } }
                                }
                                td.num { (d.attempts) }
                                td.error-text { (d.last_error.as_deref().unwrap_or("–")) }
                                td.actions { (actions(&s, d, &back)) }
                            }
                        }
                    }
                }
            }
        }
        h2 #receipts-h { (s.t("Kvitteringer fra mottakere", "Receipts from receivers")) }
        @if receipts.is_empty() {
            p.empty { (s.t("Ingen kvitteringer ennå.", "No receipts yet.")) }
        } @else {
            (receipts_table(&s, &registry, &receipts))
        }
        h2 #timeline-h { (s.t("Tidslinje", "Timeline")) }
        div.table-scroll role="region" aria-labelledby="timeline-h" tabindex="0" {
            table.list.ops.timeline #timeline {
                (super::words::column_heads(s.lang, &[("Tid", "Time"), ("Gjelder", "About"), ("Endring", "Change"), ("Av", "By"), ("Begrunnelse", "Reason")]))
                tbody {
                    @for step in &steps { (step_row(lang, &registry, step)) }
                }
            }
        }
    };
    page(&s, &title, body)
}

fn receipts_table(
    s: &Signed,
    registry: &overgang_registry::Registry,
    receipts: &[Receipt],
) -> Markup {
    html! {
        table.list.ops #receipts {
            (super::words::column_heads(s.lang, &[("Mottatt", "Received"), ("Levering", "Delivery"), ("Fra", "From"), ("Status", "Status"), ("Kanal", "Channel"), ("Kvitteringens id", "Receipt id")]))
            tbody {
                @for r in receipts {
                    tr {
                        td { (when(r.received_at)) }
                        td { "#" (r.delivery_id) }
                        td { (party(registry, r.from_her.as_deref())) }
                        td {
                            span class={ "badge " (match r.status { 1 => "good", 3 => "warn", _ => "bad" }) } {
                                (receipt_status(s.lang, r.status))
                            }
                        }
                        td { (match r.via.as_str() {
                            "sync" => s.t("i svaret", "in the answer"),
                            "async" => s.t("sendt senere", "sent later"),
                            _ => "–",
                        }) }
                        td.code { (r.apprec_msg_id.as_deref().unwrap_or("–")) }
                    }
                }
            }
        }
    }
}

fn step_row(lang: Lang, registry: &overgang_registry::Registry, step: &Step<'_>) -> Markup {
    html! {
        tr {
            td { (when(step.at())) }
            @match step {
                Step::Message(h) => {
                    th scope="row" { (t(lang, "Meldingen", "The message")) }
                    td {
                        @if let Some(f) = h.from { (message_state(lang, f)) " → " }
                        (state_badge(lang, h.to))
                    }
                    td.code { (h.actor) }
                    td { (h.reason) }
                }
                Step::Delivery(d, e) => {
                    th scope="row" {
                        (t(lang, "Levering", "Delivery")) " #" (d.id) " "
                        span.muted { (t(lang, "til", "to")) " " (party(registry, Some(&d.receiver_her))) }
                    }
                    td {
                        @if let Some(f) = e.from { (super::words::delivery_state(lang, f)) " → " }
                        (delivery_badge(lang, e.to))
                    }
                    td.code { (e.actor) }
                    td { (e.reason) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_with_repeated_fields_and_escapes() {
        let f = Fields::parse(b"_csrf=ab%2Fc&ids=1&ids=22&reason=feil+hos+mottaker%21&empty=&flag");
        assert_eq!(f.get("_csrf"), "ab/c");
        assert_eq!(f.all("ids").collect::<Vec<_>>(), ["1", "22"]);
        assert_eq!(f.get("reason"), "feil hos mottaker!");
        assert_eq!(f.get("empty"), "");
        assert_eq!(f.get("flag"), "");
        assert_eq!(f.get("missing"), "");
        // Malformed escapes are kept; UTF-8 is decoded.
        assert_eq!(Fields::parse(b"a=100%&b=%zz&c=%C3%B8").get("a"), "100%");
        assert_eq!(Fields::parse(b"b=%zz").get("b"), "%zz");
        assert_eq!(Fields::parse(b"c=%C3%B8").get("c"), "ø");
        assert_eq!(Fields::parse(b""), Fields::default());
    }

    #[test]
    fn notices_replace_earlier_ones_and_stay_on_our_pages() {
        assert_eq!(
            with_notice("/ui/ops/dead-letters?receiver=91100", "replayed", 3),
            "/ui/ops/dead-letters?receiver=91100&done=replayed&n=3"
        );
        assert_eq!(
            with_notice(
                "/ui/ops/dead-letters?done=cancelled&n=1&receiver=9",
                "replayed",
                2
            ),
            "/ui/ops/dead-letters?receiver=9&done=replayed&n=2"
        );
        assert_eq!(
            with_notice("/ui/ops/messages/abc", "cancelled", 1),
            "/ui/ops/messages/abc?done=cancelled&n=1"
        );
        // Somewhere else is not a place to go back to.
        assert_eq!(
            with_notice("https://evil.example/", "replayed", 1),
            "/ui/?done=replayed&n=1"
        );
        assert_eq!(
            with_notice("", "replayed", 1),
            "/ui/ops/dead-letters?done=replayed&n=1"
        );
        assert_eq!(
            without_notice("/ui/ops/messages/abc?done=cancelled&n=1"),
            "/ui/ops/messages/abc"
        );
        assert_eq!(
            without_notice("/ui/ops/dead-letters?n=1&receiver=9&done=x"),
            "/ui/ops/dead-letters?receiver=9"
        );
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(Lang::Nb, -5), "0 s");
        assert_eq!(age(Lang::Nb, 45_000), "45 s");
        assert_eq!(age(Lang::Nb, 12 * 60_000 + 59_000), "12 min");
        assert_eq!(age(Lang::Nb, 3 * 3_600_000 + 5 * 60_000), "3 t 5 min");
        assert_eq!(age(Lang::En, 3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(age(Lang::En, 2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
    }

    #[test]
    fn reasons_are_one_trimmed_line_of_bounded_length() {
        assert_eq!(clean_reason("  \t "), "");
        assert_eq!(
            clean_reason(" mottaker\r\nnede  igjen "),
            "mottaker nede igjen"
        );
        assert_eq!(clean_reason(&"ø".repeat(900)).chars().count(), MAX_REASON);
    }

    fn dest(her: &str, queued: u64, dead: u64, failed: u64) -> DestinationStats {
        DestinationStats {
            receiver_her: her.into(),
            queued,
            dead_letters: dead,
            failed_recent: failed,
            ..DestinationStats::default()
        }
    }

    #[test]
    fn destinations_needing_attention_come_first_then_long_queues() {
        let mut list = vec![
            dest("1", 0, 0, 0),
            dest("2", 50, 0, 0),
            dest("3", 1, 2, 0),
            dest("4", 0, 0, 1),
            dest("5", 9, 0, 0),
        ];
        dashboard_order(&mut list);
        let order: Vec<&str> = list.iter().map(|d| d.receiver_her.as_str()).collect();
        assert_eq!(order, ["3", "4", "2", "5", "1"]);
        let overdue = DestinationStats {
            overdue_receipts: 1,
            ..dest("6", 0, 0, 0)
        };
        assert!(needs_attention(&overdue));
        assert!(!needs_attention(&dest("7", 100, 0, 0)));
    }

    #[test]
    fn search_fields_become_a_metadata_query_for_every_unit() {
        let p = SearchParams {
            msg_id: Some(" m-1 ".into()),
            sender: Some("59".into()),
            receiver: Some("".into()),
            state: Some("dead_lettered".into()),
            from: Some("2026-01-10".into()),
            to: Some("2026-01-10".into()),
            ..SearchParams::default()
        };
        let (q, bad) = p.query();
        assert!(bad.is_empty());
        assert_eq!(q.units, None);
        assert_eq!(q.msg_id.as_deref(), Some("m-1"));
        assert_eq!(q.sender_her.as_deref(), Some("59"));
        assert_eq!(q.receiver_her, None);
        assert_eq!(q.state, Some(MsgState::DeadLettered));
        let since = q.since.expect("since");
        assert_eq!(q.until, Some(since + 86_400_000), "the whole day");
        assert!(q.patient_key.is_none() && q.name_terms.is_empty());

        let p = SearchParams {
            state: Some("nonsense".into()),
            from: Some("10.01.2026".into()),
            ..SearchParams::default()
        };
        let (q, bad) = p.query();
        assert_eq!(bad, ["state", "from"], "in the form's order");
        assert_eq!((q.state, q.since), (None, None));

        let p = SearchParams {
            sender: Some("59".into()),
            msg_type: Some("".into()),
            ..SearchParams::default()
        };
        assert_eq!(
            p.next_link("a b/c"),
            "/ui/ops/messages?sender=59&cursor=a%20b/c"
        );
    }

    fn history(at: Millis, to: MsgState) -> HistoryEntry {
        HistoryEntry {
            at,
            actor: "gateway".into(),
            from: None,
            to,
            reason: String::new(),
        }
    }

    fn delivery(id: i64) -> Delivery {
        Delivery {
            id,
            message_id: "m".into(),
            kind: DeliveryKind::Message,
            receiver_her: "R".into(),
            role: "primary".into(),
            state: DeliveryState::Queued,
            attempts: 0,
            created_at: 0,
            updated_at: 0,
            next_attempt_at: None,
            delivered_at: None,
            answered_at: None,
            last_error: None,
            apprec_overdue: false,
            receipt_id: None,
            msg_type: None,
            sender_her: None,
        }
    }

    fn event(at: Millis, to: DeliveryState, actor: &str) -> DeliveryEvent {
        DeliveryEvent {
            at,
            actor: actor.into(),
            from: None,
            to,
            reason: String::new(),
        }
    }

    #[test]
    fn the_timeline_merges_history_and_delivery_events_in_time_order() {
        let h = vec![
            history(10, MsgState::Accepted),
            history(10, MsgState::Queued),
            history(30, MsgState::DeadLettered),
            history(50, MsgState::Queued),
        ];
        let d = vec![
            (
                delivery(1),
                vec![
                    event(10, DeliveryState::Queued, "gateway"),
                    event(20, DeliveryState::InFlight, "gateway"),
                    event(30, DeliveryState::DeadLetter, "gateway"),
                    event(50, DeliveryState::Queued, "user:kari"),
                ],
            ),
            (
                delivery(2),
                vec![event(10, DeliveryState::Queued, "gateway")],
            ),
        ];
        let steps = timeline_steps(&h, &d);
        let seen: Vec<(Millis, String)> = steps
            .iter()
            .map(|s| {
                (
                    s.at(),
                    match s {
                        Step::Message(h) => format!("m:{}", h.to),
                        Step::Delivery(d, e) => format!("d{}:{}", d.id, e.to),
                    },
                )
            })
            .collect();
        let want: Vec<(Millis, String)> = [
            (10, "m:accepted"),
            (10, "m:queued"),
            (10, "d1:queued"),
            (10, "d2:queued"),
            (20, "d1:in_flight"),
            (30, "m:dead_lettered"),
            (30, "d1:dead_letter"),
            (50, "m:queued"),
            (50, "d1:queued"),
        ]
        .into_iter()
        .map(|(a, b)| (a, b.to_owned()))
        .collect();
        assert_eq!(seen, want);
    }
}
