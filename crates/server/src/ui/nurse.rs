//! The nurse's pages: the worklist of their units' messages, and a message
//! read as a clinical document with its findings, functional profile,
//! deliveries and receipts.
//!
//! A nurse sees a message when one of the HER-ids it names (sender,
//! receiver, copy receivers, routed receivers) is one of their units. Every
//! list of patients, every patient search and every message opened is
//! recorded in the access log before the page answers; an attempt to open
//! another unit's message is refused (403) and recorded as denied.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use overgang_model::{Finding, Lang, Message, Severity};
use overgang_store::{MessageRecord, NewAccess, Store, Summary, WorkQuery};
use serde::Deserialize;
use std::sync::Arc;

use super::pages::{self, about, Pages};
use super::people::Role;
use super::words::{findings_badges, party, state_badge, when};
use super::{page, store_failed, Signed};
use crate::app::{now_millis, AppState};

pub(crate) fn routes<S: Store>(p: Pages<S>) -> Pages<S> {
    p.get(
        "/ui/worklist",
        about("The nurse's worklist: messages to and from the nurse's units"),
        worklist::<S>,
    )
    .get(
        "/ui/messages/{id}",
        about("A message read as a clinical document, with findings, deliveries and receipts")
            .answers(pages::ITEM),
        message::<S>,
    )
}

/// The worklist's filters as the form sends them (empty fields are unset).
#[derive(Debug, Default, Deserialize)]
pub struct WorkParams {
    pub unit: Option<String>,
    #[serde(rename = "type")]
    pub msg_type: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub findings: Option<String>,
    /// Patient search: a national id (11 digits) or name words.
    pub q: Option<String>,
    pub cursor: Option<String>,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The kind of a Norwegian person number, from its digits: a D-number
/// adds 4 to the first digit, an H-number 4 to the third.
pub fn nid_kind(nid: &str) -> &'static str {
    let b = nid.as_bytes();
    match (b.first(), b.get(2)) {
        (Some(d), _) if (b'4'..=b'7').contains(d) => "DNR",
        (_, Some(m)) if (b'4'..=b'5').contains(m) => "HNR",
        _ => "FNR",
    }
}

fn is_nid(q: &str) -> bool {
    q.len() == 11 && q.bytes().all(|b| b.is_ascii_digit())
}

/// The patient of a stored message, for the list: name and date of birth.
pub(crate) fn patient_line(original: &[u8]) -> Option<(String, Option<String>)> {
    let doc = overgang_xml::parse(original, &overgang_xml::Limits::default()).ok()?;
    let message = Message::read(&doc);
    let p = message.head.as_ref()?.patient.as_ref()?;
    let name = [&p.given_name, &p.middle_name, &p.family_name]
        .into_iter()
        .filter_map(|n| n.expose().as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let born = p
        .date_of_birth
        .expose()
        .as_deref()
        .map(|d| overgang_present::norwegian_date(d).unwrap_or_else(|| d.to_owned()));
    (!name.is_empty()).then_some((name, born))
}

async fn worklist<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<WorkParams>,
) -> Response {
    if let Err(r) = s.require(Role::Nurse) {
        return r;
    }
    let now = now_millis();
    let units: Vec<String> = match set(&p.unit) {
        Some(u) if s.person.units.iter().any(|x| x == u) => vec![u.to_owned()],
        _ => s.person.units.clone(),
    };
    let mut q = WorkQuery {
        units: Some(units.clone()),
        msg_type: set(&p.msg_type).map(str::to_owned),
        since: set(&p.from).and_then(overgang_timefmt::oslo_date_start),
        until: set(&p.to)
            .and_then(overgang_timefmt::oslo_date_start)
            .map(|t| t + 86_400_000),
        with_findings: set(&p.findings).is_some(),
        cursor: set(&p.cursor).map(str::to_owned),
        ..WorkQuery::default()
    };
    let unit = set(&p.unit).map(str::to_owned);
    // A patient search is recorded before anything is shown, with the
    // searched values as keyed hashes only.
    if let Some(text) = set(&p.q) {
        let mut entry = NewAccess {
            at: now,
            user: s.person.name.clone(),
            action: "search_patient".into(),
            unit: unit.clone(),
            outcome: "ok".into(),
            ..NewAccess::default()
        };
        if is_nid(text) {
            let key = state.patient_key.index(nid_kind(text), text);
            entry.query = Some("national id".into());
            entry.patient_key = Some(key.clone());
            q.patient_key = Some(key);
        } else {
            let terms = state.patient_key.name_terms([text]);
            entry.query = Some(format!("name, {} words", terms.len()));
            entry.name_terms = Some(terms.join(" "));
            q.name_terms = terms;
            if q.name_terms.is_empty() {
                q.units = Some(Vec::new());
            }
        }
        if let Err(e) = state.store.log_access(entry).await {
            tracing::error!(error = %e, "access log write failed; search refused");
            return store_failed(&s);
        }
    }
    let page_of = match state.store.worklist(&q).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "worklist read failed");
            return store_failed(&s);
        }
    };
    // The list shows patients' names: recorded as a look at the list.
    if !page_of.items.is_empty() {
        let entry = NewAccess {
            at: now,
            user: s.person.name.clone(),
            action: "worklist".into(),
            query: Some(format!("{} messages", page_of.items.len())),
            unit: unit.clone(),
            outcome: "ok".into(),
            ..NewAccess::default()
        };
        if let Err(e) = state.store.log_access(entry).await {
            tracing::error!(error = %e, "access log write failed; list refused");
            return store_failed(&s);
        }
    }
    let mut rows = Vec::with_capacity(page_of.items.len());
    for m in page_of.items {
        let patient = match state.store.original(&m.id).await {
            Ok(Some(bytes)) => patient_line(&bytes),
            _ => None,
        };
        rows.push((m, patient));
    }
    let registry = state.registry.current();
    let types = message_types(&state.code_lists);
    let lang = s.lang;
    let more = page_of.next.map(|c| next_link(&p, &c));
    let body = html! {
        h1 { (s.t("Arbeidsliste", "Worklist")) }
        form.filters method="get" action="/ui/worklist" role="search" {
            div.field {
                label for="unit" { (s.t("Enhet", "Unit")) }
                select #unit name="unit" {
                    option value="" { (s.t("Alle mine enheter", "All my units")) }
                    @for u in &s.person.units {
                        option value=(u) selected[set(&p.unit) == Some(u.as_str())] {
                            (registry.get(u).map_or(u.as_str(), |x| x.name.as_str())) " (" (u) ")"
                        }
                    }
                }
            }
            (super::words::type_select(lang, &types, set(&p.msg_type)))
            (super::words::date_range(lang, set(&p.from).unwrap_or(""), set(&p.to).unwrap_or("")))
            div.field.check {
                input #findings type="checkbox" name="findings" value="1" checked[set(&p.findings).is_some()];
                label for="findings" { (s.t("Bare med feil eller advarsler", "Only with errors or warnings")) }
            }
            div.field.wide {
                label for="q" { (s.t("Pasient (fødselsnummer eller navn)", "Patient (national id or name)")) }
                input #q type="search" name="q" value=(set(&p.q).unwrap_or("")) autocomplete="off"
                    aria-describedby="q-note";
                small #q-note.muted { (s.t("Søk blir loggført.", "Searches are logged.")) }
            }
            div.field { button type="submit" { (s.t("Vis", "Show")) } }
        }
        @if rows.is_empty() {
            p.empty { (s.t("Ingen meldinger passer filteret.", "No messages match the filter.")) }
        } @else {
            table.list #worklist {
                caption.visually-hidden { (s.t("Meldinger, nyeste først", "Messages, newest first")) }
                (super::words::column_heads(s.lang, &[("Mottatt", "Received"), ("Pasient", "Patient"), ("Type", "Type"), ("Fra", "From"), ("Til", "To"), ("Funn", "Findings"), ("Status", "State")]))
                tbody {
                    @for (m, patient) in &rows {
                        (row(lang, &registry, &state.code_lists, m, patient.as_ref()))
                    }
                }
            }
            @if let Some(href) = more {
                p { a.button href=(href) { (s.t("Eldre meldinger", "Older messages")) } }
            }
        }
    };
    page(&s, s.t("Arbeidsliste", "Worklist"), body)
}

fn row(
    lang: Lang,
    registry: &overgang_registry::Registry,
    codes: &overgang_codelists::CodeLists,
    m: &Summary,
    patient: Option<&(String, Option<String>)>,
) -> Markup {
    let href = format!("/ui/messages/{}", m.id);
    html! {
        tr class=@if m.errors > 0 { "sev-error" } @else if m.warnings > 0 { "sev-warning" } {
            td { a href=(href) { (when(m.received_at)) } }
            td {
                @match patient {
                    Some((name, born)) => {
                        a href=(href) { (name) }
                        @if let Some(b) = born { " " span.muted { (b) } }
                    }
                    None => span.muted { (super::t(lang, "ukjent", "unknown")) },
                }
            }
            td { (type_name(codes, m.meta.msg_type.as_deref())) }
            td { (party(registry, m.meta.sender_her.as_deref())) }
            td { (party(registry, m.meta.receiver_her.as_deref())) }
            td { (findings_badges(lang, m.errors, m.warnings)) }
            td { (state_badge(lang, m.state)) }
        }
    }
}

/// Message types (list 8279) as (code, display name).
pub fn message_types(codes: &overgang_codelists::CodeLists) -> Vec<(String, String)> {
    codes
        .get(8279)
        .map(|l| {
            l.iter()
                .map(|(c, d)| (c.to_owned(), d.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn type_name(codes: &overgang_codelists::CodeLists, t: Option<&str>) -> String {
    match t {
        None => "–".into(),
        Some(t) => codes.display(8279, t).unwrap_or(t).to_owned(),
    }
}

fn next_link(p: &WorkParams, cursor: &str) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = set(v) {
            parts.push(format!("{k}={}", super::percent_encode(v)));
        }
    };
    add("unit", &p.unit);
    add("type", &p.msg_type);
    add("from", &p.from);
    add("to", &p.to);
    add("findings", &p.findings);
    add("q", &p.q);
    parts.push(format!("cursor={}", super::percent_encode(cursor)));
    format!("/ui/worklist?{}", parts.join("&"))
}

// ---- One message --------------------------------------------------------------

async fn message<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Path(id): Path<String>,
) -> Response {
    let record = match state.store.get(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return super::not_found(&s),
        Err(e) => {
            tracing::error!(error = %e, "message read failed");
            return store_failed(&s);
        }
    };
    let parties = &record.summary.meta.parties;
    if !s.person.may_read_clinical(parties) {
        if s.person.has(Role::Nurse) {
            // Another unit's message: refused, and the attempt recorded.
            let entry = view_entry(
                &s,
                &id,
                record.summary.meta.patient_key.clone(),
                None,
                "denied",
            );
            if let Err(e) = state.store.log_access(entry).await {
                tracing::error!(error = %e, "access log write failed");
            }
            tracing::warn!(user = %s.person.name, message_id = %id, "nurse refused a message of another unit");
            return super::forbidden(&s);
        }
        if s.person.has(Role::Operator) {
            // Operators see the message's metadata and timeline, not its content.
            return Redirect::to(&format!("/ui/ops/messages/{id}")).into_response();
        }
        return super::forbidden(&s);
    }
    let unit = s.person.units.iter().find(|u| parties.contains(u)).cloned();
    let entry = view_entry(&s, &id, record.summary.meta.patient_key.clone(), unit, "ok");
    if let Err(e) = state.store.log_access(entry).await {
        tracing::error!(error = %e, "access log write failed; message not shown");
        return store_failed(&s);
    }
    let original = match state.store.original(&id).await {
        Ok(Some(b)) => b,
        Ok(None) => return super::not_found(&s),
        Err(e) => {
            tracing::error!(error = %e, "message read failed");
            return store_failed(&s);
        }
    };
    let findings: Vec<Finding> = serde_json::from_str(&record.findings_json).unwrap_or_default();
    let deliveries = state.store.deliveries_of(&id).await.unwrap_or_default();
    let receipts = state.store.receipts_of(&id).await.unwrap_or_default();
    let registry = state.registry.current();
    let context = profile_context(&state, &record).await;
    let view = super::clinical::render_message(
        s.lang,
        &state.code_lists,
        &state.ui.labels,
        &registry,
        &record,
        &original,
        &findings,
        &deliveries,
        &receipts,
        context.as_ref(),
    );
    page(&s, &view.title, view.body)
}

/// The derived habitual baseline and the levels at discharge for the
/// message's patient (docs/FLOW.md); none when the message names no
/// patient or the facts cannot be read (the page shows the message alone).
async fn profile_context<S: Store>(
    state: &AppState<S>,
    record: &MessageRecord,
) -> Option<super::document::ProfileContext> {
    let key = record.summary.meta.patient_key.clone()?;
    let b = crate::flow::message_baseline(
        &*state.store,
        state.flow.config.baseline_lookback_days,
        &record.summary.id,
        record.summary.received_at,
        key,
    )
    .await
    .map_err(|e| tracing::warn!(error = %e, "flow facts unreadable; no derived baseline"))
    .ok()?;
    Some(super::document::ProfileContext {
        derived: b.derived_levels(),
        expected: b.expected_levels(),
    })
}

/// The access-log entry of a look at a message (or a refused one).
fn view_entry(
    s: &Signed,
    id: &str,
    patient_key: Option<String>,
    unit: Option<String>,
    outcome: &str,
) -> NewAccess {
    NewAccess {
        at: now_millis(),
        user: s.person.name.clone(),
        action: "view_message".into(),
        message_id: Some(id.to_owned()),
        patient_key,
        unit,
        outcome: outcome.into(),
        ..NewAccess::default()
    }
}

/// Findings as a list at the top of the message, worst first, each linking
/// to its place in the document.
pub fn findings_list(lang: Lang, findings: &[Finding], anchors: &[(usize, String)]) -> Markup {
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(findings[*i].severity));
    html! {
        @if findings.is_empty() {
            p.good { (super::t(lang, "Ingen funn: meldingen er komplett etter reglene.",
                                 "No findings: the message is complete by the rules.")) }
        } @else {
            ol.findings {
                @for i in order {
                    @let f = &findings[i];
                    li class={ "finding sev-" (severity_class(f.severity)) } {
                        span class={ "badge " (severity_tone(f.severity)) } { (severity_word(lang, f.severity)) }
                        " "
                        @match anchors.iter().find(|(n, _)| *n == i) {
                            Some((_, anchor)) => a href={ "#" (anchor) } { (f.text(lang)) },
                            None => span { (f.text(lang)) },
                        }
                        " " span.muted.code { (f.code) }
                    }
                }
            }
        }
    }
}

pub fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        _ => "info",
    }
}

fn severity_tone(s: Severity) -> &'static str {
    match s {
        Severity::Error => "bad",
        Severity::Warning => "warn",
        _ => "neutral",
    }
}

pub fn severity_word(lang: Lang, s: Severity) -> &'static str {
    match s {
        Severity::Error => super::t(lang, "Feil", "Error"),
        Severity::Warning => super::t(lang, "Advarsel", "Warning"),
        _ => super::t(lang, "Merknad", "Note"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_person_numbers() {
        assert_eq!(nid_kind("01017012345"), "FNR");
        assert_eq!(nid_kind("41017012345"), "DNR");
        assert_eq!(nid_kind("01417012345"), "HNR");
        assert!(is_nid("01017012345"));
        assert!(!is_nid("0101701234"));
        assert!(!is_nid("Ola Nordmann"));
    }
}
