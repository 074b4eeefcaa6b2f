//! The administrator's pages: the people who may log in, the address
//! registry in force (with a reload), the rule catalogue in force, and the
//! access log of who looked at which patient's data.
//!
//! Nothing here changes people or the log: users are managed with
//! `overgang users add|passwd|remove`, and the access log is append-only
//! (there is no route that edits or deletes it).
//!
//! The access log's patient filter takes a national id. It is sent by POST
//! (so it is in no URL, server log or proxy log), turned into the patient's
//! keyed hash at once, and the search itself is recorded in the access log
//! (`search_access_log`). The pages that follow (paging, the CSV export)
//! carry a short-lived token that stands for the hash, valid only in the
//! session that made it.

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use overgang_model::{Lang, Severity};
use overgang_registry::{Kind, Registry};
use overgang_store::{AccessEntry, AccessQuery, NewAccess, Store};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::pages::{about, answer, Answer, Pages};
use super::people::{valid_name, Role};
use super::words::{party, when};
use super::{page, page_response, store_failed, t, Signed};
use crate::app::{now_millis, AppState};
use crate::registry::Trigger;

pub(crate) fn routes<S: Store>(p: Pages<S>) -> Pages<S> {
    p.get(
        "/ui/admin",
        about("The administrators' start page"),
        index,
    )
    .get(
        "/ui/admin/",
        about("The administrators' start page"),
        index,
    )
    .get(
        "/ui/admin/users",
        about("Who may log in, with roles and units; whether the users file is sound"),
        users::<S>,
    )
    .get(
        "/ui/admin/registry",
        about("The address registry in force, searchable"),
        registry::<S>,
    )
    .post(
        "/ui/admin/registry/reload",
        about("Reloads the address registry from its file").answers(RELOAD),
        reload::<S>,
    )
    .get(
        "/ui/admin/rules",
        about("The validation rules in force"),
        rules::<S>,
    )
    .get(
        "/ui/admin/access",
        about("The access log: who looked at which patient's messages, filtered"),
        access::<S>,
    )
    .post(
        "/ui/admin/access",
        about("Filters the access log by a patient's national id, without putting it in the address")
            .answers(ACCESS_SEARCH),
        access_search::<S>,
    )
    .get(
        "/ui/admin/access.csv",
        about("The access-log entries the filters select, as CSV").answers(ACCESS_CSV),
        access_csv::<S>,
    )
}

const RELOAD: &[Answer] = &[
    answer(
        303,
        "To the registry page, saying whether the new file is in force or was refused",
        &[],
    ),
    answer(401, "No session (or it ended): refused", &["text/html"]),
    answer(
        403,
        "The form's `_csrf` is not the session's, or the person is not an administrator",
        &["text/html"],
    ),
];

const ACCESS_SEARCH: &[Answer] = &[
    answer(
        303,
        "To the access log with the filters (the patient as a token)",
        &[],
    ),
    answer(
        422,
        "A filter is not valid: the page with the problems",
        &["text/html"],
    ),
    answer(401, "No session (or it ended): refused", &["text/html"]),
    answer(
        403,
        "The form's `_csrf` is not the session's, or the person is not an administrator",
        &["text/html"],
    ),
];

const ACCESS_CSV: &[Answer] = &[
    answer(200, "The entries, every page", &["text/csv"]),
    answer(
        303,
        "No session (or it ended): to `/ui/login?next=` this address",
        &[],
    ),
    answer(400, "A filter is not valid", &["text/html"]),
    answer(403, "The person is not an administrator", &["text/html"]),
    answer(
        410,
        "The patient filter's token has expired",
        &["text/html"],
    ),
];

// ---- Index --------------------------------------------------------------------

async fn index(s: Signed) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    let pages: [(&str, &str, &str); 4] = [
        (
            "/ui/admin/users",
            s.t("Brukere", "Users"),
            s.t(
                "Hvem som kan logge inn, med roller og enheter, og om brukerfila er i orden.",
                "Who may log in, with roles and units, and whether the users file is sound.",
            ),
        ),
        (
            "/ui/admin/registry",
            s.t("Adresseregister", "Address registry"),
            s.t(
                "Partene gatewayen kjenner, hvor meldinger til dem leveres, og innlesing på nytt.",
                "The parties the gateway knows, where messages to them are delivered, and reloading.",
            ),
        ),
        (
            "/ui/admin/rules",
            s.t("Regler", "Rules"),
            s.t(
                "Valideringsreglene som gjelder nå.",
                "The validation rules in force.",
            ),
        ),
        (
            "/ui/admin/access",
            s.t("Tilgangslogg", "Access log"),
            s.t(
                "Hvem som har sett hvilke pasienters opplysninger, med søk og eksport.",
                "Who looked at which patients' data, with search and export.",
            ),
        ),
    ];
    let body = html! {
        h1 { (s.t("Administrasjon", "Administration")) }
        ul.admin-index {
            @for (href, name, what) in pages {
                li {
                    a href=(href) { (name) }
                    p.muted { (what) }
                }
            }
        }
    };
    page(&s, s.t("Administrasjon", "Administration"), body)
}

// ---- Users --------------------------------------------------------------------

fn role_name(lang: Lang, r: Role) -> &'static str {
    match r {
        Role::Nurse => t(lang, "Sykepleier", "Nurse"),
        Role::Operator => t(lang, "Drift", "Operator"),
        Role::Admin => t(lang, "Administrator", "Administrator"),
        Role::Coordinator => t(lang, "Koordinator", "Coordinator"),
    }
}

async fn users<S: Store>(State(state): State<Arc<AppState<S>>>, s: Signed) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    let mut people = state.ui.people.list();
    people.sort_by(|a, b| a.name.cmp(&b.name));
    let status = state.ui.people.status();
    let registry = state.registry.current();
    let lang = s.lang;
    let body = html! {
        h1 { (s.t("Brukere", "Users")) }
        @match &status {
            Ok(()) => p.good role="status" {
                (s.t("Brukerfila er lest og i bruk.", "The users file is read and in force."))
            },
            Err(e) => div.error role="alert" {
                p { (s.t("Brukerfila ble avvist; den forrige gjelder fortsatt til fila er rettet:",
                         "The users file was refused; the previous one stays in force until the file is fixed:")) }
                pre.code { (e) }
            },
        }
        p.notice {
            (s.t("Brukere legges til, endres og fjernes med kommandolinjen på serveren: ",
                 "Users are added, changed and removed with the command line on the server: "))
            code { "overgang users add | passwd | remove --file FIL NAVN" }
            (s.t(" (se docs/UI.md). Passord kan ikke ses eller endres i nettleseren. En endret fil gjelder med en gang.",
                 " (see docs/UI.md). Passwords cannot be seen or changed in the browser. A changed file takes effect at once."))
        }
        @if people.is_empty() {
            p.empty { (s.t("Ingen brukere.", "No users.")) }
        } @else {
            div.scroll {
                table.list.admin #users {
                    caption { (s.t("Brukere", "Users")) " (" (people.len()) ")" }
                    (super::words::column_heads(s.lang, &[("Brukernavn", "User name"), ("Visningsnavn", "Display name"), ("Roller", "Roles"), ("Enheter", "Units"), ("Kommuner", "Municipalities")]))
                    tbody {
                        @for p in &people {
                            tr {
                                th scope="row" { span.code { (p.name) } }
                                td { (p.display_name) }
                                td {
                                    @if p.roles.is_empty() {
                                        span.muted { (s.t("ingen", "none")) }
                                    }
                                    @for r in &p.roles {
                                        span.badge.neutral { (role_name(lang, *r)) } " "
                                    }
                                }
                                td {
                                    @if p.units.is_empty() {
                                        span.muted { "–" }
                                    } @else {
                                        ul.plain {
                                            @for u in &p.units {
                                                li {
                                                    (party(&registry, Some(u)))
                                                    @if registry.get(u).is_none() {
                                                        " " span.badge.warn { (s.t("ukjent i registeret", "not in the registry")) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                                td {
                                    @if p.municipalities.is_empty() {
                                        span.muted { "–" }
                                    } @else {
                                        (p.municipalities.join(", "))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&s, s.t("Brukere", "Users"), body)
}

// ---- Registry -----------------------------------------------------------------

fn kind_name(lang: Lang, k: Kind) -> &'static str {
    match k {
        Kind::Organisation => t(lang, "Virksomhet", "Organisation"),
        Kind::HospitalService => t(lang, "Tjeneste i sykehus", "Hospital service"),
        Kind::MunicipalService => t(lang, "Kommunal tjeneste", "Municipal service"),
        Kind::Gp => t(lang, "Fastlege", "GP"),
    }
}

/// A message type and the versions of it a party takes.
pub type Accepted = (String, Vec<String>);

/// One party as the registry page shows it: its own values and the
/// effective ones (inherited from the nearest ancestor that has them).
/// Secret files are only named by kind, never read or shown.
#[derive(Debug, PartialEq, Eq)]
pub struct PartyView {
    pub her: String,
    pub name: String,
    pub kind: Kind,
    pub parent: Option<String>,
    pub municipality: Option<String>,
    /// The delivery URL and, when inherited, the HER-id it comes from.
    pub endpoint: Option<(String, Option<String>)>,
    /// `type version, …` and, when inherited, where from. `None`: accepts
    /// nothing stated anywhere in its lineage.
    pub accepts: Option<(Vec<Accepted>, Option<String>)>,
    /// `mtls`, `bearer`, both, or empty for none (the route's).
    pub auth: Vec<&'static str>,
}

pub fn party_views(reg: &Registry) -> Vec<PartyView> {
    reg.parties()
        .map(|p| {
            let inherited = |from: &str| (from != p.her).then(|| from.to_owned());
            let route = reg.route(&p.her);
            let endpoint = route.map(|r| (r.endpoint.url().to_owned(), inherited(r.via)));
            let accepts = reg
                .lineage(&p.her)
                .find(|x| x.accepts.is_some())
                .and_then(|x| {
                    let list = x
                        .accepts
                        .as_ref()?
                        .iter()
                        .map(|a| (a.msg_type.clone(), a.versions.clone()))
                        .collect();
                    Some((list, inherited(&x.her)))
                });
            let mut auth = Vec::new();
            if let Some(a) = route.and_then(|r| r.auth) {
                if a.client_cert.is_some() {
                    auth.push("mtls");
                }
                if a.bearer_token_file.is_some() {
                    auth.push("bearer");
                }
            }
            PartyView {
                her: p.her.clone(),
                name: p.name.clone(),
                kind: p.kind,
                parent: p.parent.clone(),
                municipality: p.municipality.clone(),
                endpoint,
                accepts,
                auth,
            }
        })
        .collect()
}

fn auth_name(lang: Lang, a: &str) -> &'static str {
    match a {
        "mtls" => t(lang, "Klientsertifikat (mTLS)", "Client certificate (mTLS)"),
        "bearer" => t(lang, "Bearer-token", "Bearer token"),
        _ => "?",
    }
}

#[derive(Default, Deserialize)]
struct RegistryParams {
    reload: Option<String>,
}

async fn registry<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(q): Query<RegistryParams>,
) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    let reg = state.registry.current();
    let status = state.registry.status_json();
    let str_of = |k: &str| status[k].as_str().map(str::to_owned);
    let file = str_of("file");
    let loaded_at = str_of("loaded_at").and_then(|t| overgang_timefmt::parse_rfc3339(&t));
    let last_error = str_of("last_error");
    let last_error_at = str_of("last_error_at").and_then(|t| overgang_timefmt::parse_rfc3339(&t));
    let views = party_views(&reg);
    let lang = s.lang;
    let name_of = |her: &str| reg.get(her).map(|p| p.name.clone());
    let body = html! {
        h1 { (s.t("Adresseregister", "Address registry")) }
        @match q.reload.as_deref() {
            Some("ok") => p.good role="status" {
                (s.t("Registeret er lest inn på nytt og gjelder nå.", "The registry was reloaded and is in force."))
            },
            Some("failed") => p.error role="alert" {
                (s.t("Registerfila ble avvist; det forrige registeret gjelder fortsatt. Feilen står under.",
                     "The registry file was refused; the previous registry stays in force. The error is below."))
            },
            _ => {},
        }
        dl.meta {
            dt { (s.t("Fil", "File")) }
            dd.code { (file.as_deref().unwrap_or(s.t("ingen fil (tomt register)", "no file (empty registry)"))) }
            dt { (s.t("Parter", "Parties")) }
            dd { (reg.len()) }
            dt { (s.t("Lest inn", "Loaded")) }
            dd { @match loaded_at { Some(ms) => (when(ms)), None => "–" } }
            dt { (s.t("Siste feil", "Last error")) }
            dd {
                @match &last_error {
                    None => span.good { (s.t("ingen", "none")) },
                    Some(e) => div.error role="alert" {
                        @if let Some(ms) = last_error_at { (when(ms)) ": " }
                        pre.code { (e) }
                    },
                }
            }
        }
        form.inline method="post" action="/ui/admin/registry/reload" {
            (super::csrf_field(&s))
            button type="submit" { (s.t("Les inn på nytt nå", "Reload now")) }
        }
        p.muted {
            (s.t("Fila leses også inn på nytt når den endres og ved SIGHUP. En fil med feil blir avvist, og det forrige registeret gjelder til fila er rettet.",
                 "The file is also reloaded when it changes and on SIGHUP. A file with errors is refused, and the previous registry stays in force until it is fixed."))
        }
        h2 { (s.t("Parter", "Parties")) }
        p.muted {
            (s.t("Endepunkt, meldingstyper og autentisering er de som gjelder, arvet fra nærmeste overordnede part når parten ikke har egne. Hemmeligheter vises aldri.",
                 "Endpoint, message types and authentication are the effective ones, inherited from the nearest parent when the party has none of its own. Secrets are never shown."))
        }
        div.scroll {
            table.list.admin #parties {
                caption.visually-hidden { (s.t("Parter i registeret", "Parties in the registry")) }
                (super::words::column_heads(s.lang, &[("HER-id", "HER-id"), ("Navn", "Name"), ("Type", "Kind"), ("Overordnet", "Parent"), ("Kommune", "Municipality"), ("Endepunkt", "Endpoint"), ("Tar imot", "Accepts"), ("Autentisering", "Authentication")]))
                tbody {
                    @for v in &views {
                        tr id={ "her-" (v.her) } {
                            th scope="row" { span.code { (v.her) } }
                            td { (v.name) }
                            td { (kind_name(lang, v.kind)) }
                            td {
                                @match &v.parent {
                                    Some(h) => {
                                        a href={ "#her-" (h) } { (name_of(h).unwrap_or_default()) }
                                        " " span.muted.code { "(" (h) ")" }
                                    },
                                    None => span.muted { "–" },
                                }
                            }
                            td { (v.municipality.as_deref().unwrap_or("–")) }
                            td {
                                @match &v.endpoint {
                                    Some((url, via)) => {
                                        span.code { (url) }
                                        @if let Some(h) = via { br; (inherited_from(lang, h)) }
                                    },
                                    None => span.badge.bad { (s.t("kan ikke nås", "unreachable")) },
                                }
                            }
                            td {
                                @match &v.accepts {
                                    Some((list, via)) => {
                                        @if list.is_empty() {
                                            span.muted { (s.t("ingenting", "nothing")) }
                                        } @else {
                                            ul.plain {
                                                @for (ty, versions) in list {
                                                    li {
                                                        span.code title=(super::nurse::type_name(&state.code_lists, Some(ty))) { (ty) }
                                                        " " span.muted { (versions.join(", ")) }
                                                    }
                                                }
                                            }
                                        }
                                        @if let Some(h) = via { (inherited_from(lang, h)) }
                                    },
                                    None => span.muted { (s.t("ikke oppgitt", "not stated")) },
                                }
                            }
                            td {
                                @if v.endpoint.is_none() {
                                    span.muted { "–" }
                                } @else if v.auth.is_empty() {
                                    span.muted { (s.t("ingen", "none")) }
                                } @else {
                                    @for (i, a) in v.auth.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        (auth_name(lang, a))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&s, s.t("Adresseregister", "Address registry"), body)
}

fn inherited_from(lang: Lang, her: &str) -> Markup {
    html! {
        small.muted { (t(lang, "arvet fra ", "inherited from ")) a href={ "#her-" (her) } { (her) } }
    }
}

/// `POST /ui/admin/registry/reload`. A form that does not parse (no body,
/// another content type) counts as one without a CSRF token.
async fn reload<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    form: Result<Form<super::CsrfOnly>, FormRejection>,
) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r;
    }
    let handle = state.registry.clone();
    let result = tokio::task::spawn_blocking(move || handle.reload(Trigger::Api)).await;
    match result {
        Ok(Ok(n)) => {
            tracing::info!(user = %s.person.name, parties = n, "registry reloaded from the admin page");
            Redirect::to("/ui/admin/registry?reload=ok").into_response()
        }
        Ok(Err(e)) => {
            tracing::info!(user = %s.person.name, "registry reload from the admin page refused the file");
            crate::app::registry_refused(&state, &e).await;
            Redirect::to("/ui/admin/registry?reload=failed").into_response()
        }
        Err(e) => {
            tracing::error!(user = %s.person.name, error = %e, "registry reload task failed");
            let body = html! {
                h1 { (s.t("Intern feil", "Internal error")) }
                p { (s.t("Innlesingen stoppet uventet. Driftsvakten ser feilen i loggen.",
                         "The reload stopped unexpectedly. The operators see the error in the log.")) }
            };
            page_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                s.lang,
                Some(&s),
                s.t("Intern feil", "Internal error"),
                body,
            )
        }
    }
}

// ---- Rules --------------------------------------------------------------------

/// One rule as the page lists it.
struct RuleView {
    id: String,
    severity: Severity,
    category: &'static str,
    enabled: bool,
    messages: Vec<String>,
    versions: Vec<String>,
    text: String,
    apprec_error: Option<String>,
    source: String,
    overridden: usize,
}

fn severity_badge(lang: Lang, sev: Severity) -> Markup {
    let tone = match sev {
        Severity::Error => "bad",
        Severity::Warning => "warn",
        Severity::Info => "neutral",
    };
    html! { span class={ "badge " (tone) } { (super::nurse::severity_word(lang, sev)) } }
}

async fn rules<S: Store>(State(state): State<Arc<AppState<S>>>, s: Signed) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    let lang = s.lang;
    let validator = state.ruleset.current();
    let mut views: Vec<RuleView> = validator
        .rules()
        .rules()
        .iter()
        .map(|r| {
            let i = r.info();
            RuleView {
                id: i.id.clone(),
                severity: i.severity,
                category: i.category.as_str(),
                enabled: i.enabled,
                messages: i.messages.clone(),
                versions: i.versions.clone(),
                text: match lang {
                    Lang::Nb => i.text_nb.clone(),
                    Lang::En => i.text_en.clone(),
                },
                apprec_error: i.apprec_error.clone(),
                source: i.source.clone(),
                overridden: i.overridden_at.len(),
            }
        })
        .collect();
    views.sort_by(|a, b| a.id.cmp(&b.id));
    let enabled = views.iter().filter(|v| v.enabled).count();
    let body = html! {
        h1 { (s.t("Regler", "Rules")) }
        p {
            (views.len()) (s.t(" regler, ", " rules, ")) (enabled) (s.t(" i bruk. ", " enabled. "))
            span.muted {
                (s.t("Katalogen er standardreglene med eventuelle regelfiler fra konfigurasjonen lagt over; den samme som ",
                     "The catalogue is the default rules with any rule files from the configuration applied; the same as "))
                code { "overgang rules list" }
                (s.t(" viser. Reglene endres i filene og gjelder etter omstart.",
                     " prints. Rules are changed in the files and take effect after a restart."))
            }
        }
        div.scroll {
            table.list.admin #rules {
                caption.visually-hidden { (s.t("Regler, sortert etter id", "Rules, sorted by id")) }
                thead { tr {
                    th scope="col" { "Id" }
                    th scope="col" { (s.t("Alvor", "Severity")) }
                    th scope="col" { (s.t("Kategori", "Category")) }
                    th scope="col" { (s.t("Meldingstyper", "Message types")) }
                    th scope="col" { (s.t("Tekst", "Text")) }
                    th scope="col" { (s.t("Kilde", "Source")) }
                } }
                tbody {
                    @for v in &views {
                        tr id={ "rule-" (v.id) } class=[(!v.enabled).then_some("disabled")] {
                            th scope="row" {
                                span.code { (v.id) }
                                @if !v.enabled { br; span.badge.neutral { (s.t("av", "disabled")) } }
                            }
                            td { (severity_badge(lang, v.severity)) }
                            td { span.code { (v.category) } }
                            td {
                                @if v.messages.is_empty() {
                                    span.muted { (s.t("alle", "all")) }
                                } @else {
                                    ul.plain {
                                        @for m in &v.messages {
                                            li { span.code title=(super::nurse::type_name(&state.code_lists, Some(m))) { (m) } }
                                        }
                                    }
                                }
                                @if !v.versions.is_empty() {
                                    small.muted { (s.t("versjon ", "version ")) (v.versions.join(", ")) }
                                }
                            }
                            td {
                                (v.text)
                                @if let Some(a) = &v.apprec_error {
                                    br; small.muted { "AppRec " (a) }
                                }
                            }
                            td {
                                span.code { (v.source) }
                                @if v.overridden > 0 {
                                    br; span.badge.warn { (s.t("endret lokalt", "changed locally")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&s, s.t("Regler", "Rules"), body)
}

// ---- Access log ---------------------------------------------------------------

/// Entries on one page of the access log.
const ACCESS_PAGE: u32 = 50;
/// Entries at most in one CSV export.
const CSV_MAX_ROWS: usize = 100_000;
/// How long a patient filter token lives.
const FILTER_TTL: Duration = Duration::from_secs(30 * 60);
/// Patient filter tokens held at most (the oldest go first).
const FILTER_MAX: usize = 10_000;

/// Patient filters in force: token → the patient's keyed hash, for one
/// session, for a while. The national id itself is never kept.
#[derive(Default)]
pub struct PatientFilters {
    held: Mutex<HashMap<String, Held>>,
}

struct Held {
    key: String,
    session: String,
    until: Instant,
}

impl PatientFilters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A new token for `key`, usable in `session` until `now + FILTER_TTL`.
    pub fn hold(&self, key: String, session: &str, now: Instant) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut held = self.lock();
        held.retain(|_, h| h.until > now);
        while held.len() >= FILTER_MAX {
            let oldest = held
                .iter()
                .min_by_key(|(_, h)| h.until)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => held.remove(&k),
                None => break,
            };
        }
        held.insert(
            token.clone(),
            Held {
                key,
                session: session.to_owned(),
                until: now + FILTER_TTL,
            },
        );
        token
    }

    /// The patient key a token stands for, in this session and in time.
    pub fn get(&self, token: &str, session: &str, now: Instant) -> Option<String> {
        let held = self.lock();
        let h = held.get(token)?;
        (h.session == session && h.until > now).then(|| h.key.clone())
    }
}

/// The access log's filters as links and the CSV export carry them: no
/// national id, only the token of a patient filter.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct AccessParams {
    pub user: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// A patient filter's token ([`PatientFilters`]).
    pub pt: Option<String>,
    /// The next page: entries before this `seq`.
    pub before: Option<String>,
}

/// The filter form as posted: the same, plus a national id.
#[derive(Default, Deserialize)]
struct AccessForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    user: Option<String>,
    from: Option<String>,
    to: Option<String>,
    pt: Option<String>,
    /// A national id to filter on (never echoed back).
    patient: Option<String>,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// What is wrong with a filter, in both languages.
type Problem = (&'static str, &'static str);

/// A user filter must look like a user name (and not like a national id
/// typed in the wrong field, which would end up in a URL).
fn user_filter_ok(u: &str) -> bool {
    valid_name(u) && !u.bytes().all(|b| b.is_ascii_digit())
}

/// A national id as typed: 11 digits, spaces allowed between.
fn national_id(typed: &str) -> Option<String> {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == 11 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The store query for the filters (the patient key already looked up);
/// problems with fields leave those fields out.
pub fn access_query(p: &AccessParams, patient_key: Option<String>) -> (AccessQuery, Vec<Problem>) {
    let mut problems: Vec<Problem> = Vec::new();
    let user = match set(&p.user) {
        Some(u) if user_filter_ok(u) => Some(u.to_owned()),
        Some(_) => {
            problems.push((
                "Brukerfilteret er ikke et brukernavn.",
                "The user filter is not a user name.",
            ));
            None
        }
        None => None,
    };
    let mut date = |v: &Option<String>, nb, en| match set(v) {
        Some(d) => {
            let t = overgang_timefmt::oslo_date_start(d);
            if t.is_none() {
                problems.push((nb, en));
            }
            t
        }
        None => None,
    };
    let since = date(&p.from, "Ugyldig fra-dato.", "Invalid from date.");
    let until = date(&p.to, "Ugyldig til-dato.", "Invalid to date.").map(|t| t + 86_400_000);
    let before = set(&p.before).and_then(|b| b.parse::<i64>().ok());
    (
        AccessQuery {
            user,
            patient_key,
            since,
            until,
            before,
            limit: ACCESS_PAGE,
        },
        problems,
    )
}

/// A query string for the filters (values percent-encoded), without `?`.
pub fn access_link_query(p: &AccessParams) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("user", &p.user),
        ("from", &p.from),
        ("to", &p.to),
        ("pt", &p.pt),
        ("before", &p.before),
    ] {
        if let Some(v) = set(v) {
            parts.push(format!("{k}={}", super::percent_encode(v)));
        }
    }
    parts.join("&")
}

fn with_query(path: &str, q: &str) -> String {
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// The patient filter of a request: `Ok(None)` without one, `Err` when its
/// token is unknown, another session's or expired.
fn patient_of(
    filters: &PatientFilters,
    p: &AccessParams,
    s: &Signed,
) -> Result<Option<String>, Problem> {
    match set(&p.pt) {
        None => Ok(None),
        Some(token) => filters
            .get(token, &s.session_id, Instant::now())
            .map(Some)
            .ok_or((
                "Pasientfilteret er utløpt. Skriv fødselsnummeret på nytt.",
                "The patient filter has expired. Type the national id again.",
            )),
    }
}

async fn access<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<AccessParams>,
) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    access_page(&state, &s, &p, Vec::new(), StatusCode::OK).await
}

async fn access_page<S: Store>(
    state: &AppState<S>,
    s: &Signed,
    p: &AccessParams,
    mut problems: Vec<Problem>,
    status: StatusCode,
) -> Response {
    let patient = match patient_of(&state.ui.patient_filters, p, s) {
        Ok(k) => k,
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let expired = set(&p.pt).is_some() && patient.is_none();
    let has_patient = patient.is_some();
    let (mut q, more_problems) = access_query(p, patient);
    problems.extend(more_problems);
    // One more than a page, to know whether there is a next one.
    q.limit = ACCESS_PAGE + 1;
    let mut entries = if expired {
        // Without its patient the filter would show everyone's entries.
        Vec::new()
    } else {
        match state.store.access_log(&q).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "access log read failed");
                return store_failed(s);
            }
        }
    };
    let more = entries.len() > ACCESS_PAGE as usize;
    entries.truncate(ACCESS_PAGE as usize);
    let next = more.then(|| {
        let last = entries.last().map_or(0, |e| e.seq);
        let np = AccessParams {
            before: Some(last.to_string()),
            ..p.clone()
        };
        with_query("/ui/admin/access", &access_link_query(&np))
    });
    let filters = AccessParams {
        before: None,
        pt: if has_patient { p.pt.clone() } else { None },
        ..p.clone()
    };
    let csv = with_query("/ui/admin/access.csv", &access_link_query(&filters));
    let without_patient = with_query(
        "/ui/admin/access",
        &access_link_query(&AccessParams {
            pt: None,
            ..filters.clone()
        }),
    );
    let registry = state.registry.current();
    let lang = s.lang;
    let body = html! {
        h1 { (s.t("Tilgangslogg", "Access log")) }
        p.notice {
            (s.t("Loggen viser hvem som har sett pasientopplysninger eller søkt etter pasienter, nyeste først. Den kan bare legges til i: ingen side eller funksjon her endrer eller sletter oppføringer.",
                 "The log shows who looked at patient data or searched for patients, newest first. It can only be added to: no page or function here changes or deletes entries."))
        }
        @for (nb, en) in &problems {
            p.error role="alert" { (t(lang, nb, en)) }
        }
        form.filters method="post" action="/ui/admin/access" role="search" {
            (super::csrf_field(s))
            @if has_patient {
                input type="hidden" name="pt" value=(p.pt.as_deref().unwrap_or(""));
            }
            div.field {
                label for="user" { (s.t("Bruker", "User")) }
                input #user type="text" name="user" value=(set(&p.user).filter(|u| user_filter_ok(u)).unwrap_or("")) autocomplete="off";
            }
            div.field {
                label for="patient" { (s.t("Pasient (fødselsnummer)", "Patient (national id)")) }
                input #patient type="text" name="patient" inputmode="numeric" autocomplete="off"
                    pattern="[0-9 ]*" aria-describedby="patient-note";
                small #patient-note.muted {
                    @if has_patient {
                        (s.t("Filtrert på én pasient (nummeret vises ikke). ", "Filtered on one patient (the number is not shown). "))
                        a href=(without_patient) { (s.t("Fjern pasientfilteret", "Remove the patient filter")) }
                        ". "
                    }
                    (s.t("Søket blir loggført.", "The search is logged."))
                }
            }
            div.field {
                label for="from" { (s.t("Fra dato", "From date")) }
                input #from type="date" name="from" value=(set(&p.from).unwrap_or(""));
            }
            div.field {
                label for="to" { (s.t("Til dato", "To date")) }
                input #to type="date" name="to" value=(set(&p.to).unwrap_or(""));
            }
            div.field { button type="submit" { (s.t("Vis", "Show")) } }
        }
        p {
            a.button.secondary href=(csv) download {
                (s.t("Last ned som CSV", "Download as CSV"))
            }
            " " small.muted { (s.t("(med filtrene over, alle sider)", "(with the filters above, every page)")) }
        }
        @if entries.is_empty() {
            p.empty { (s.t("Ingen oppføringer passer filteret.", "No entries match the filter.")) }
        } @else {
            div.scroll {
                table.list.admin #access {
                    caption.visually-hidden { (s.t("Tilgangslogg, nyeste først", "Access log, newest first")) }
                    (super::words::column_heads(s.lang, &[("Tid", "Time"), ("Bruker", "User"), ("Handling", "Action"), ("Melding", "Message"), ("Søk", "Query"), ("Enhet", "Unit"), ("Utfall", "Outcome")]))
                    tbody {
                        @for e in &entries {
                            (access_row(lang, &registry, e))
                        }
                    }
                }
            }
            @if let Some(href) = next {
                p { a.button href=(href) { (s.t("Eldre oppføringer", "Older entries")) } }
            }
        }
    };
    let mut r = page(s, s.t("Tilgangslogg", "Access log"), body);
    *r.status_mut() = status;
    r
}

fn action_name(lang: Lang, action: &str) -> Option<&'static str> {
    Some(match action {
        "view_message" => t(lang, "Åpnet melding", "Opened message"),
        "search_patient" => t(lang, "Pasientsøk", "Patient search"),
        "worklist" => t(lang, "Så arbeidslisten", "Viewed worklist"),
        "search_access_log" => t(
            lang,
            "Søkte i tilgangsloggen etter pasient",
            "Searched the access log for a patient",
        ),
        _ => return None,
    })
}

fn access_row(lang: Lang, registry: &Registry, e: &AccessEntry) -> Markup {
    let a = &e.access;
    html! {
        tr class=[(a.outcome == "denied").then_some("sev-error")] {
            td { (when(a.at)) }
            td { span.code { (a.user) } }
            td {
                @match action_name(lang, &a.action) {
                    Some(n) => { (n) " " span.muted.code { "(" (a.action) ")" } },
                    None => span.code { (a.action) },
                }
            }
            td {
                @match &a.message_id {
                    Some(id) => a.code href={ "/ui/ops/messages/" (super::percent_encode(id)) } { (id) },
                    None => span.muted { "–" },
                }
            }
            td { (a.query.as_deref().unwrap_or("–")) }
            td { (party(registry, a.unit.as_deref())) }
            td {
                @match a.outcome.as_str() {
                    "ok" => span.badge.good { "OK" },
                    "denied" => span.badge.bad { (t(lang, "Avvist", "Denied")) },
                    other => span.badge.neutral { (other) },
                }
            }
        }
    }
}

/// `POST /ui/admin/access`: the filter form. A national id becomes the
/// patient's keyed hash here, the search is recorded, and the browser is
/// sent on to the list with a token in place of the hash.
async fn access_search<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    form: Result<Form<AccessForm>, FormRejection>,
) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r;
    }
    let mut p = AccessParams {
        user: f.user,
        from: f.from,
        to: f.to,
        pt: f.pt,
        before: None,
    };
    // A user filter that may be patient data is not put in a URL.
    if set(&p.user).is_some_and(|u| !user_filter_ok(u)) {
        p.user = None;
        p.pt = None;
        return access_page(
            &state,
            &s,
            &p,
            vec![(
                "Brukerfilteret er ikke et brukernavn.",
                "The user filter is not a user name.",
            )],
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    if let Some(typed) = set(&f.patient) {
        let Some(nid) = national_id(typed) else {
            return access_page(
                &state,
                &s,
                &p,
                vec![(
                    "Et fødselsnummer har 11 sifre.",
                    "A national id has 11 digits.",
                )],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        };
        let key = state.patient_key.index(super::nurse::nid_kind(&nid), &nid);
        let entry = NewAccess {
            at: now_millis(),
            user: s.person.name.clone(),
            action: "search_access_log".into(),
            patient_key: Some(key.clone()),
            query: Some("access log, national id".into()),
            outcome: "ok".into(),
            ..NewAccess::default()
        };
        if let Err(e) = state.store.log_access(entry).await {
            tracing::error!(error = %e, "access log write failed; search refused");
            return store_failed(&s);
        }
        tracing::info!(user = %s.person.name, "access log searched for a patient");
        p.pt = Some(
            state
                .ui
                .patient_filters
                .hold(key, &s.session_id, Instant::now()),
        );
    }
    let to = with_query("/ui/admin/access", &access_link_query(&p));
    Redirect::to(&to).into_response()
}

// ---- CSV ----------------------------------------------------------------------

/// One CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line
/// break, quotes doubled. A cell a spreadsheet would read as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a
/// leading `'`.
pub fn csv_cell(v: &str) -> String {
    let guarded = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// One CSV record, CRLF-terminated.
pub fn csv_record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells
        .into_iter()
        .map(csv_cell)
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

pub const CSV_HEADER: [&str; 8] = [
    "seq",
    "time",
    "user",
    "action",
    "message_id",
    "query",
    "unit",
    "outcome",
];

pub fn csv_of(entries: &[AccessEntry]) -> String {
    let mut out = csv_record(CSV_HEADER);
    for e in entries {
        let a = &e.access;
        let seq = e.seq.to_string();
        let time = overgang_timefmt::rfc3339_millis(a.at);
        out.push_str(&csv_record([
            seq.as_str(),
            time.as_str(),
            a.user.as_str(),
            a.action.as_str(),
            a.message_id.as_deref().unwrap_or(""),
            a.query.as_deref().unwrap_or(""),
            a.unit.as_deref().unwrap_or(""),
            a.outcome.as_str(),
        ]));
    }
    out
}

/// `GET /ui/admin/access.csv`: the entries the filters select, every page.
async fn access_csv<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Query(p): Query<AccessParams>,
) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r;
    }
    let patient = match patient_of(&state.ui.patient_filters, &p, &s) {
        Ok(k) => k,
        // The page says why (the filter has expired).
        Err(_) => return access_page(&state, &s, &p, Vec::new(), StatusCode::GONE).await,
    };
    let (mut q, problems) = access_query(&p, patient);
    if !problems.is_empty() {
        return access_page(&state, &s, &p, Vec::new(), StatusCode::BAD_REQUEST).await;
    }
    q.limit = 1000;
    let mut entries: Vec<AccessEntry> = Vec::new();
    loop {
        let batch = match state.store.access_log(&q).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "access log read failed");
                return store_failed(&s);
            }
        };
        let full = batch.len() == q.limit as usize;
        q.before = batch.last().map(|e| e.seq);
        entries.extend(batch);
        if !full || entries.len() >= CSV_MAX_ROWS {
            break;
        }
    }
    entries.truncate(CSV_MAX_ROWS);
    tracing::info!(user = %s.person.name, rows = entries.len(), "access log exported as CSV");
    let day = overgang_timefmt::rfc3339_millis(now_millis());
    let day = day.get(..10).unwrap_or("export").replace('-', "");
    let mut r = csv_of(&entries).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"overgang-access-log-{day}.csv\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    super::security_headers(h);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_by_rfc_4180() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell(""), "");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(
            csv_record(["a", "b,c", ""]),
            "a,\"b,c\",\r\n",
            "records end in CRLF; empty cells stay empty"
        );
    }

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_are_defused() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            let c = csv_cell(bad);
            assert!(
                c.starts_with('\'') || c.starts_with("\"'"),
                "{bad:?} became {c:?}"
            );
        }
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("=a,b"), "\"'=a,b\"");
        // Only the first character counts.
        assert_eq!(csv_cell("a=b"), "a=b");
        assert_eq!(
            csv_cell("2026-01-01T00:00:00.000Z"),
            "2026-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn the_csv_has_a_header_and_one_record_per_entry() {
        let e = AccessEntry {
            seq: 7,
            access: NewAccess {
                at: 0,
                user: "kari".into(),
                action: "view_message".into(),
                message_id: Some("m1".into()),
                patient_key: Some("secret-key".into()),
                query: Some("=cmd".into()),
                unit: Some("5078".into()),
                outcome: "ok".into(),
                ..NewAccess::default()
            },
        };
        let csv = csv_of(&[e]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "seq,time,user,action,message_id,query,unit,outcome"
        );
        assert_eq!(
            lines[1],
            "7,1970-01-01T00:00:00.000Z,kari,view_message,m1,'=cmd,5078,ok"
        );
        assert_eq!(lines[2], "");
        assert!(!csv.contains("secret-key"), "patient keys are not exported");
    }

    #[test]
    fn patient_filters_are_for_their_session_and_expire() {
        let f = PatientFilters::default();
        let now = Instant::now();
        let tok = f.hold("key-1".into(), "session-a", now);
        assert_eq!(f.get(&tok, "session-a", now).as_deref(), Some("key-1"));
        assert_eq!(f.get(&tok, "session-b", now), None);
        assert_eq!(f.get("other", "session-a", now), None);
        assert_eq!(f.get(&tok, "session-a", now + FILTER_TTL), None);
        assert!(!tok.contains("key"), "the token is not the key");
        // Expired ones are dropped when new ones are made.
        let _ = f.hold("key-2".into(), "session-a", now + FILTER_TTL * 2);
        assert_eq!(f.lock().len(), 1);
    }

    #[test]
    fn filters_become_a_query_and_bad_ones_are_reported() {
        let p = AccessParams {
            user: Some(" kari ".into()),
            from: Some("2026-01-10".into()),
            to: Some("2026-01-10".into()),
            pt: Some("tok".into()),
            before: Some("42".into()),
        };
        let (q, problems) = access_query(&p, Some("pk".into()));
        assert!(problems.is_empty());
        assert_eq!(q.user.as_deref(), Some("kari"));
        assert_eq!(q.patient_key.as_deref(), Some("pk"));
        let since = q.since.unwrap();
        assert_eq!(
            q.until,
            Some(since + 86_400_000),
            "the to date is inclusive"
        );
        assert_eq!(
            overgang_timefmt::rfc3339_millis(since),
            "2026-01-09T23:00:00.000Z",
            "midnight in Oslo"
        );
        assert_eq!(q.before, Some(42));

        let bad = AccessParams {
            user: Some("01017012345".into()),
            from: Some("10.01.2026".into()),
            ..AccessParams::default()
        };
        let (q, problems) = access_query(&bad, None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(q.user, None, "a national id is not a user filter");
        assert_eq!(q.since, None);
    }

    #[test]
    fn links_carry_the_filters_but_never_a_national_id() {
        let p = AccessParams {
            user: Some("kari".into()),
            from: Some("2026-01-10".into()),
            to: None,
            pt: Some("abc".into()),
            before: Some("9".into()),
        };
        assert_eq!(
            access_link_query(&p),
            "user=kari&from=2026-01-10&pt=abc&before=9"
        );
        assert_eq!(access_link_query(&AccessParams::default()), "");
        assert_eq!(national_id("150765 00565").as_deref(), Some("15076500565"));
        assert_eq!(national_id("1507650056"), None);
        assert_eq!(national_id("1507650056x"), None);
    }

    #[test]
    fn the_registry_view_shows_effective_values_and_where_they_come_from() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/registry/demo.toml");
        let reg = crate::registry::read(&path).unwrap();
        let views = party_views(&reg);
        assert_eq!(views.len(), reg.len());
        let unit = views.iter().find(|v| v.her == "5078").unwrap();
        assert_eq!(unit.parent.as_deref(), Some("99387"));
        let (url, via) = unit.endpoint.as_ref().unwrap();
        assert_eq!(url, "http://127.0.0.1:9102/plo");
        assert_eq!(via.as_deref(), Some("99387"));
        let org = views.iter().find(|v| v.her == "99387").unwrap();
        assert_eq!(org.endpoint.as_ref().unwrap().1, None, "its own endpoint");
        let (types, via) = org.accepts.as_ref().unwrap();
        assert!(types
            .iter()
            .any(|(t, v)| t == "LOG_INNLAGT" && v == &["1.6"]));
        assert_eq!(*via, None);
    }
}
