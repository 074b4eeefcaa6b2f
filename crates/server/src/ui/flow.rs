//! The coordinators' pages of patient flow (docs/FLOW.md):
//!
//! - `/ui/flow`: the discharge-ready board per municipality: the patient
//!   (name and birth date from the ready notice), hospital, ready date, days
//!   waiting, the municipality's liability, the proof of notification (the
//!   positive AppRec on the notice) and the stay's state, with totals;
//! - `/ui/flow/board.csv`: the same rows as CSV (keyed patient hashes, no
//!   names);
//! - `/ui/flow/overdue`: every expected message past its deadline, and the
//!   ones that came late recently.
//!
//! Operators see every municipality; coordinators the municipalities of
//! their `municipalities`; others get 403. The board shows patients'
//! names: each view, and each CSV export, is recorded in the access log
//! (`flow_board`) before the page answers.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use overgang_flow::{BoardRow, Overdue, OverdueStatus, StayState};
use overgang_model::Lang;
use overgang_store::{NewAccess, Store};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::pages::{about, answer, Answer, Pages};
use super::people::Role;
use super::words::{column_heads, party, when};
use super::{forbidden, page, store_failed, t, Signed};
use crate::app::{now_millis, AppState};

pub(crate) fn routes<S: Store>(p: Pages<S>) -> Pages<S> {
    p.get(
        "/ui/flow",
        about("The discharge-ready board: patients declared ready, days waiting and the municipality's liability (coordinators, operators)"),
        board_page::<S>,
    )
    .get(
        "/ui/flow/board.csv",
        about("The discharge-ready board as CSV (coordinators, operators)").answers(CSV),
        board_csv::<S>,
    )
    .get(
        "/ui/flow/overdue",
        about("Expected messages past their deadline, and recently late ones (coordinators, operators)"),
        overdue_page::<S>,
    )
}

const CSV: &[Answer] = &[
    answer(200, "The board as CSV (RFC 4180)", &["text/csv"]),
    answer(
        303,
        "No session (or it ended): to `/ui/login?next=` this page",
        &[],
    ),
    answer(
        403,
        "The person is neither coordinator nor operator (the attempt is recorded)",
        &["text/html"],
    ),
];

/// Late items shown on the overdue page: those that arrived this recently.
const RECENT_MS: i64 = 14 * 86_400_000;

#[derive(Debug, Default, Deserialize)]
pub struct FlowParams {
    pub municipality: Option<String>,
}

/// Which municipalities the person may see: `None` for all (operators).
/// Coordinators without the operator role see their own only.
fn scope(s: &Signed) -> Result<Option<BTreeSet<String>>, Response> {
    if s.person.has(Role::Operator) {
        Ok(None)
    } else if s.person.has(Role::Coordinator) {
        Ok(Some(s.person.municipalities.iter().cloned().collect()))
    } else {
        Err(forbidden(s))
    }
}

/// The municipality chosen in the filter, when the person may see it.
fn chosen<'a>(p: &'a FlowParams, scope: &Option<BTreeSet<String>>) -> Option<&'a str> {
    let m = p
        .municipality
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())?;
    match scope {
        Some(allowed) if !allowed.contains(m) => None,
        _ => Some(m),
    }
}

fn in_scope(m: Option<&str>, scope: &Option<BTreeSet<String>>, chosen: Option<&str>) -> bool {
    match (chosen, scope) {
        (Some(c), _) => m == Some(c),
        (None, None) => true,
        (None, Some(allowed)) => m.is_some_and(|m| allowed.contains(m)),
    }
}

/// Thousands grouped with narrow no-break spaces: `5 745 kr`.
pub fn nok(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    let sign = if n < 0 { "−" } else { "" };
    format!("{sign}{out}\u{A0}kr")
}

/// A municipality's name from the registry (an organisation with that
/// municipality number), else its number.
fn municipality_name(registry: &overgang_registry::Registry, m: &str) -> String {
    registry
        .parties()
        .find(|p| p.municipality.as_deref() == Some(m) && registry.parent(&p.her).is_none())
        .map_or_else(|| m.to_owned(), |p| format!("{} ({m})", p.name))
}

/// A patient's name and date of birth (`DD.MM.YYYY`).
type Patient = (String, Option<String>);

fn state_words(lang: Lang, r: &BoardRow) -> &'static str {
    if r.waiting {
        return t(lang, "Venter", "Waiting");
    }
    match r.end {
        Some(overgang_flow::PeriodEnd::Withdrawn) => t(lang, "Avmeldt", "Withdrawn"),
        Some(overgang_flow::PeriodEnd::Discharged) => t(lang, "Utskrevet", "Discharged"),
        Some(overgang_flow::PeriodEnd::Died) => t(lang, "Død", "Died"),
        None => match r.state {
            StayState::Discharged => t(lang, "Utskrevet", "Discharged"),
            StayState::Died => t(lang, "Død", "Died"),
            _ => t(lang, "Avsluttet", "Ended"),
        },
    }
}

/// A Norwegian date (`DD.MM.YYYY`) from `YYYY-MM-DD`.
fn date_no(d: &str) -> String {
    overgang_present::norwegian_date(d).unwrap_or_else(|| d.to_owned())
}

/// The rows the person may see, and the municipalities they may choose.
async fn rows_in_scope<S: Store>(
    state: &AppState<S>,
    scope: &Option<BTreeSet<String>>,
    chosen: Option<&str>,
    now: i64,
) -> Result<(Vec<BoardRow>, BTreeSet<String>), overgang_store::StoreError> {
    let flow = crate::flow_api::flow_now(state, now).await?;
    let all = overgang_flow::board(&flow, &state.flow.config, None, now);
    let choices: BTreeSet<String> = match scope {
        Some(allowed) => allowed.clone(),
        None => all.iter().filter_map(|r| r.municipality.clone()).collect(),
    };
    let rows = all
        .into_iter()
        .filter(|r| in_scope(r.municipality.as_deref(), scope, chosen))
        .collect();
    Ok((rows, choices))
}

async fn log_board<S: Store>(
    state: &AppState<S>,
    s: &Signed,
    chosen: Option<&str>,
    what: String,
) -> Result<(), Response> {
    let entry = NewAccess {
        at: now_millis(),
        user: s.person.name.clone(),
        action: "flow_board".into(),
        query: Some(match chosen {
            Some(m) => format!("municipality {m}, {what}"),
            None => what,
        }),
        outcome: "ok".into(),
        ..NewAccess::default()
    };
    match state.store.log_access(entry).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "access log write failed; board refused");
            Err(store_failed(s))
        }
    }
}

fn filter_form(
    s: &Signed,
    action: &str,
    choices: &BTreeSet<String>,
    chosen: Option<&str>,
    registry: &overgang_registry::Registry,
) -> Markup {
    html! {
        form.filters method="get" action=(action) {
            div.field {
                label for="municipality" { (s.t("Kommune", "Municipality")) }
                select #municipality name="municipality" {
                    option value="" { (s.t("Alle mine kommuner", "All my municipalities")) }
                    @for m in choices {
                        option value=(m) selected[chosen == Some(m.as_str())] { (municipality_name(registry, m)) }
                    }
                }
            }
            button type="submit" { (s.t("Vis", "Show")) }
        }
    }
}

async fn board_page<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<FlowParams>,
) -> Response {
    let scope = match scope(&s) {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let chosen = chosen(&p, &scope);
    let now = now_millis();
    let (rows, choices) = match rows_in_scope(&state, &scope, chosen, now).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "flow board read failed");
            return store_failed(&s);
        }
    };
    // The board shows patients' names: recorded before it is shown.
    if !rows.is_empty() {
        if let Err(r) = log_board(&state, &s, chosen, format!("{} rows", rows.len())).await {
            return r;
        }
    }
    let mut patients = Vec::with_capacity(rows.len());
    for r in &rows {
        let who = match state.store.original(&r.notice_message_id).await {
            Ok(Some(bytes)) => super::nurse::patient_line(&bytes),
            _ => None,
        };
        patients.push(who);
    }
    let registry = state.registry.current();
    let mut by_m: BTreeMap<String, Vec<(&BoardRow, &Option<Patient>)>> = BTreeMap::new();
    for (r, who) in rows.iter().zip(&patients) {
        by_m.entry(r.municipality.clone().unwrap_or_default())
            .or_default()
            .push((r, who));
    }
    let lang = s.lang;
    let csv_link = match chosen {
        Some(m) => format!("/ui/flow/board.csv?municipality={m}"),
        None => "/ui/flow/board.csv".to_owned(),
    };
    let body = html! {
        h1 { (s.t("Utskrivningsklare pasienter", "Patients ready for discharge")) }
        p.muted {
            (s.t("Dager telles fra dagen etter utskrivningsklar dato, til og med i dag eller dagen ventetiden sluttet. Beløpet er kommunens betalingsplikt etter døgnsatsen for hvert år.",
                 "Days are counted from the day after the ready date up to and including today, or the day the waiting ended. The amount is the municipality's liability at each year's day rate."))
        }
        (filter_form(&s, "/ui/flow", &choices, chosen, &registry))
        p { a href=(csv_link) { (s.t("Last ned som CSV", "Download as CSV")) } " · " a href="/ui/flow/overdue" { (s.t("Forsinkede meldinger", "Overdue messages")) } }
        @if rows.is_empty() {
            p { (s.t("Ingen pasienter er meldt utskrivningsklare.", "No patients have been declared ready for discharge.")) }
        }
        @for (m, list) in &by_m {
            @let (waiting, days, amount) = {
                let rs: Vec<BoardRow> = list.iter().map(|(r, _)| (*r).clone()).collect();
                crate::flow_api::totals(&rs)
            };
            section.municipality {
                h2 { @if m.is_empty() { (s.t("Ukjent kommune", "Unknown municipality")) } @else { (municipality_name(&registry, m)) } }
                table.list.board {
                    caption { (s.t("Meldt utskrivningsklare", "Declared ready for discharge")) }
                    (column_heads(lang, &[
                        ("Pasient", "Patient"),
                        ("Sykehus", "Hospital"),
                        ("Utskrivningsklar", "Ready date"),
                        ("Dager", "Days waiting"),
                        ("Betalingsplikt", "Liability"),
                        ("Varslet (kvittering)", "Notified (receipt)"),
                        ("Status", "State"),
                    ]))
                    tbody {
                        @for (r, who) in list {
                            tr {
                                th scope="row" {
                                    @match who {
                                        Some((name, born)) => {
                                            (name)
                                            @if let Some(b) = born { br; span.muted { (s.t("født ", "born ")) (b) } }
                                        }
                                        None => span.muted { (s.t("ukjent", "unknown")) },
                                    }
                                }
                                td { (party(&registry, Some(r.hospital.as_str()))) }
                                td { (date_no(&r.ready_date)) }
                                td.num { (r.days_waiting) }
                                td.num {
                                    (nok(r.liability_nok))
                                    @if r.unpriced_days > 0 {
                                        br; span.muted { (r.unpriced_days) " " (s.t("dager uten sats", "days without a rate")) }
                                    }
                                }
                                td {
                                    @match r.notified_at {
                                        Some(at) => (when(at)),
                                        None => span.badge.warn { (s.t("ingen kvittering ennå", "no receipt yet")) },
                                    }
                                }
                                td { (state_words(lang, r)) }
                            }
                        }
                    }
                    tfoot {
                        tr {
                            th scope="row" colspan="3" { (s.t("Sum", "Total")) ": " (waiting) " " (s.t("venter", "waiting")) }
                            td.num { (days) }
                            td.num { (nok(amount)) }
                            td colspan="2" {}
                        }
                    }
                }
            }
        }
    };
    page(&s, s.t("Utskrivningsklare", "Discharge-ready"), body)
}

async fn board_csv<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<FlowParams>,
) -> Response {
    let scope = match scope(&s) {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let chosen = chosen(&p, &scope);
    let now = now_millis();
    let rows = match rows_in_scope(&state, &scope, chosen, now).await {
        Ok((rows, _)) => rows,
        Err(e) => {
            tracing::error!(error = %e, "flow board read failed");
            return store_failed(&s);
        }
    };
    if let Err(r) = log_board(&state, &s, chosen, format!("csv, {} rows", rows.len())).await {
        return r;
    }
    let mut r =
        crate::flow_api::csv_response(overgang_flow::board_csv(&rows), "utskrivningsklare.csv");
    // A page a person gets: the same headers as every other.
    super::security_headers(r.headers_mut());
    r
}

/// What a rule expects, in the reader's language: known rules in both
/// languages, others by their description (or id).
fn rule_words(lang: Lang, config: &overgang_flow::FlowConfig, rule: &str) -> String {
    let known = match rule {
        "admission_report" => Some((
            "Innleggelsesrapport fra kommunen innen ett døgn etter melding om innlagt pasient",
            "The municipality's admission report within a day of the notice of admission",
        )),
        "health_information" => Some((
            "Helseopplysninger fra sykehuset innen 24 timer etter innleggelse",
            "Health information from the hospital within 24 hours of admission",
        )),
        "ready_answer" => Some((
            "Kommunens svar på melding om utskrivningsklar pasient samme dag",
            "The municipality's answer to the ready-for-discharge notice the same day",
        )),
        "discharge_report" => Some((
            "Utskrivningsrapport på utskrivningsdagen",
            "The discharge report on the discharge day",
        )),
        "discharge_notice" => Some((
            "Melding om utskrevet pasient på utskrivningsdagen",
            "The notice of discharge on the discharge day",
        )),
        "discharge_report_to_gp" => Some((
            "Utskrivningsrapport til fastlegen på utskrivningsdagen",
            "The discharge report to the GP on the discharge day",
        )),
        _ => None,
    };
    match known {
        Some((nb, en)) => t(lang, nb, en).to_owned(),
        None => crate::flow_api::rule_description(config, rule)
            .unwrap_or(rule)
            .to_owned(),
    }
}

/// A duration for people: days and hours, or hours and minutes.
fn how_long(lang: Lang, ms: i64) -> String {
    let mins = ms.max(0) / 60_000;
    let (d, h, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    if d > 0 {
        format!("{d} {} {h} {}", t(lang, "d", "d"), t(lang, "t", "h"))
    } else if h > 0 {
        format!("{h} {} {m} {}", t(lang, "t", "h"), t(lang, "min", "min"))
    } else {
        format!("{m} {}", t(lang, "min", "min"))
    }
}

fn overdue_table(
    s: &Signed,
    items: &[&Overdue],
    config: &overgang_flow::FlowConfig,
    flow: &overgang_flow::Flow,
    registry: &overgang_registry::Registry,
    caption: &str,
) -> Markup {
    let lang = s.lang;
    html! {
        table.list.overdue {
            caption { (caption) }
            (column_heads(lang, &[
                ("Forventet melding", "Expected message"),
                ("Opphold", "Stay"),
                ("Sykehus", "Hospital"),
                ("Kommune", "Municipality"),
                ("Frist", "Due"),
                ("Forsinket", "Late by"),
            ]))
            tbody {
                @for o in items {
                    tr {
                        th scope="row" { (rule_words(lang, config, &o.rule)) br; span.muted.code { (o.rule) } }
                        td {
                            @match flow.stay(&o.stay_id) {
                                Some(st) => { (s.t("innlagt ", "admitted ")) (when(st.admitted_at)) }
                                None => span.muted { "–" },
                            }
                        }
                        td { (party(registry, Some(o.hospital.as_str()))) }
                        td { (o.municipality.as_deref().map_or_else(|| s.t("ukjent", "unknown").to_owned(), |m| municipality_name(registry, m))) }
                        td { (when(o.due_at)) }
                        td.num { (how_long(lang, o.late_by_ms)) }
                    }
                }
            }
        }
    }
}

async fn overdue_page<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<FlowParams>,
) -> Response {
    let scope = match scope(&s) {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let chosen = chosen(&p, &scope);
    let now = now_millis();
    let flow = match crate::flow_api::flow_now(&state, now).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "flow read failed");
            return store_failed(&s);
        }
    };
    let config = &state.flow.config;
    let all = overgang_flow::overdue(&flow, config, now);
    let choices: BTreeSet<String> = match &scope {
        Some(allowed) => allowed.clone(),
        None => flow
            .stays
            .iter()
            .filter_map(|st| st.municipality.clone())
            .collect(),
    };
    let mine: Vec<&Overdue> = all
        .iter()
        .filter(|o| in_scope(o.municipality.as_deref(), &scope, chosen))
        .collect();
    let overdue: Vec<&Overdue> = mine
        .iter()
        .copied()
        .filter(|o| o.status == OverdueStatus::Overdue)
        .collect();
    let late: Vec<&Overdue> = mine
        .iter()
        .copied()
        .filter(|o| {
            o.status == OverdueStatus::Late && o.arrived_at.is_some_and(|a| now - a <= RECENT_MS)
        })
        .collect();
    let registry = state.registry.current();
    let body = html! {
        h1 { (s.t("Forsinkede meldinger", "Overdue messages")) }
        p.muted { (s.t("Meldinger som etter samarbeidsavtalens frister skulle ha kommet, men ikke er mottatt.",
                       "Messages that should have arrived by the deadlines of the cooperation agreement, but have not.")) }
        (filter_form(&s, "/ui/flow/overdue", &choices, chosen, &registry))
        p { a href="/ui/flow" { (s.t("Utskrivningsklare pasienter", "Patients ready for discharge")) } }
        h2 { (s.t("Over fristen", "Overdue")) " (" (overdue.len()) ")" }
        @if overdue.is_empty() {
            p { (s.t("Ingen forventede meldinger er over fristen.", "No expected message is overdue.")) }
        } @else {
            (overdue_table(&s, &overdue, config, &flow, &registry, s.t("Ikke mottatt etter fristen", "Not arrived after the deadline")))
        }
        h2 { (s.t("Kom for sent (siste 14 dager)", "Arrived late (last 14 days)")) " (" (late.len()) ")" }
        @if late.is_empty() {
            p { (s.t("Ingen.", "None.")) }
        } @else {
            (overdue_table(&s, &late, config, &flow, &registry, s.t("Mottatt etter fristen", "Arrived after the deadline")))
        }
    };
    page(&s, s.t("Forsinkede meldinger", "Overdue messages"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_with_narrow_spaces() {
        assert_eq!(nok(5745), "5\u{202F}745\u{A0}kr");
        assert_eq!(nok(17235), "17\u{202F}235\u{A0}kr");
        assert_eq!(nok(1_149_000), "1\u{202F}149\u{202F}000\u{A0}kr");
        assert_eq!(nok(0), "0\u{A0}kr");
        assert_eq!(nok(999), "999\u{A0}kr");
    }

    #[test]
    fn durations_read_as_days_and_hours() {
        assert_eq!(how_long(Lang::En, 90 * 60_000), "1 h 30 min");
        assert_eq!(how_long(Lang::Nb, 2 * 86_400_000 + 3_600_000), "2 d 1 t");
    }
}
