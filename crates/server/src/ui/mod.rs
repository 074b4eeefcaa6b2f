//! The web pages for people: nurses, operators and administrators.
//!
//! Server-rendered HTML (maud, escaped by construction), one stylesheet and
//! one small script served by the binary itself: no CDN, no build step.
//! Norwegian (bokmål) by default, English by a toggle that sets a cookie.
//!
//! - [`people`]: who may log in ([`people::Authenticator`], the users file);
//! - [`session`]: sessions, CSRF tokens, the failed-login limit;
//! - this module: the routes, the extractors every page uses ([`Signed`],
//!   [`Lang`]), the page layout, login and logout;
//! - [`nurse`]: the worklist and the message as a clinical document.
//!
//! Every page that shows patient data records the look in the access log
//! (the store's `access_log`, append-only) before it answers.

#![allow(clippy::result_large_err)]

pub mod admin;
pub mod clinical;
pub mod document;
pub mod flow;
pub mod nurse;
pub mod ops;
pub mod pages;
pub mod people;
pub mod session;
pub mod words;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Router};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use overgang_model::Lang;
use overgang_store::Store;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::{AppState, ConnInfo};
use pages::{about, answer, Answer, Pages, UiRoute};
use people::{Authenticator, Person, Role};
use session::{LoginLimiter, Sessions};

/// The web pages' own state, inside [`AppState`].
pub struct Ui {
    pub people: Arc<dyn Authenticator>,
    pub sessions: Sessions,
    pub limiter: LoginLimiter,
    /// The gateway serves TLS: cookies are `Secure` with the `__Host-`
    /// prefix. (Plain HTTP is allowed only on loopback.)
    pub secure: bool,
    /// Headings for PLO elements (`schemas/labels/plo.toml`), read once.
    pub labels: overgang_present::Labels,
    /// The admins' access-log filters by patient (tokens for keyed hashes).
    pub patient_filters: admin::PatientFilters,
}

impl Ui {
    pub fn new(
        people: Arc<dyn Authenticator>,
        config: &crate::config::UiConfig,
        secure: bool,
    ) -> Ui {
        Ui {
            people,
            sessions: Sessions::new(
                Duration::from_secs(config.session_idle_mins.max(1) * 60),
                Duration::from_secs(config.session_max_hours.max(1) * 3600),
            ),
            limiter: LoginLimiter::new(
                config.login_failures,
                Duration::from_secs(config.login_window_mins.max(1) * 60),
            ),
            secure,
            labels: overgang_present::Labels::builtin(),
            patient_filters: admin::PatientFilters::default(),
        }
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-overgang"
        } else {
            "overgang_session"
        }
    }

    fn session_cookie(&self, id: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.cookie_name()
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
            self.cookie_name()
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The pages' routes and their list ([`pages::Pages`]).
fn pages<S: Store>() -> Pages<S> {
    let p = Pages::new()
        .get(
            "/",
            about("Sends the browser to the start page")
                .open("Only a redirect to /ui/, which asks for the login itself.")
                .answers(pages::TO_START),
            || async { Redirect::to("/ui/") },
        )
        .get(
            "/ui",
            about("Sends the browser to the start page")
                .open("Only a redirect to /ui/, which asks for the login itself.")
                .answers(pages::TO_START),
            || async { Redirect::to("/ui/") },
        )
        .get(
            "/ui/",
            about("The start page: to the person's first page by role").answers(HOME),
            home,
        )
        .get(
            "/ui/login",
            about("The login form")
                .open("The way in: it starts the anonymous session whose CSRF token the form carries.")
                .answers(LOGIN_FORM),
            login_form::<S>,
        )
        .post(
            "/ui/login",
            about("Logs in with user name and password")
                .open("The way in: it needs the anonymous session's `_csrf` from the login form, not a login.")
                .answers(LOGIN),
            login::<S>,
        )
        .post("/ui/logout", about("Logs out").answers(LOGOUT), logout::<S>)
        .get(
            "/ui/lang/{lang}",
            about("Chooses the pages' language (`nb` or `en`)")
                .open("Sets only the language cookie, before or after login; shows nothing.")
                .answers(LANGUAGE),
            set_lang,
        )
        .get(
            "/ui/assets/{file}",
            about("The pages' stylesheets and script")
                .open("Fixed files built into the binary, needed by the login page too; no data.")
                .answers(ASSET),
            asset,
        );
    let p = nurse::routes(p);
    let p = admin::routes(p);
    let p = flow::routes(p);
    ops::routes(p)
}

/// The routes the pages serve, for [`crate::app::router`].
pub fn routes<S: Store>() -> Router<Arc<AppState<S>>> {
    pages::<S>().router
}

/// Every route the pages serve, with its summary and whether it is open:
/// what the OpenAPI document says of them ([`crate::openapi`]).
pub fn route_list() -> Vec<UiRoute> {
    pages::<overgang_store::sqlite::SqliteStore>().list
}

const HOME: &[Answer] = &[
    answer(303, "To the person's first page (worklist, queues or administration), or to the login page without a session", &[]),
    answer(200, "A page saying the person has no roles yet", &["text/html"]),
];

const LOGIN_FORM: &[Answer] = &[answer(
    200,
    "The form; sets a session cookie (without a login) unless the browser has a live one",
    &["text/html"],
)];

const LOGIN: &[Answer] = &[
    answer(
        303,
        "Logged in: a new session cookie, and to `next` (one of the pages) or `/ui/`",
        &[],
    ),
    answer(
        401,
        "Wrong user name or password: the form again",
        &["text/html"],
    ),
    answer(
        403,
        "No session, or its `_csrf` does not match: load the form again",
        &["text/html"],
    ),
    answer(
        429,
        "Too many failed attempts for this user or address: the form again",
        &["text/html"],
    ),
];

const LOGOUT: &[Answer] = &[
    answer(
        303,
        "Logged out: the session ended, its cookie cleared, to `/ui/login`",
        &[],
    ),
    answer(401, "No session (or it ended): refused", &["text/html"]),
    answer(
        403,
        "The form's `_csrf` is not the session's",
        &["text/html"],
    ),
];

const LANGUAGE: &[Answer] = &[answer(
    303,
    "Sets the `overgang_lang` cookie; back to `back` (one of the pages) or `/ui/`",
    &[],
)];

const ASSET: &[Answer] = &[
    answer(
        200,
        "`app.css`, `present.css` or `app.js`",
        &["text/css", "text/javascript"],
    ),
    answer(404, "No such file", &[]),
];

// ---- Language ---------------------------------------------------------------

/// The reader's language, from the `overgang_lang` cookie (bokmål unless
/// it says `en`).
pub struct UiLang(pub Lang);

impl<St: Send + Sync> axum::extract::FromRequestParts<St> for UiLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &St,
    ) -> Result<UiLang, Self::Rejection> {
        Ok(UiLang(lang_of(&parts.headers)))
    }
}

pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    match cookie(headers, "overgang_lang") {
        Some("en") => Lang::En,
        _ => Lang::Nb,
    }
}

/// The text in the reader's language.
pub fn t(lang: Lang, nb: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Nb => nb,
        Lang::En => en,
    }
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

async fn set_lang(Path(lang): Path<String>, Query(q): Query<Back>) -> Response {
    let value = if lang == "en" { "en" } else { "nb" };
    let back = safe_next(q.back.as_deref());
    let mut r = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "overgang_lang={value}; Path=/; SameSite=Lax; Max-Age=31536000"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Only our own pages are places to go back to (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/ui/")
                && !n.contains("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/ui/".to_owned(),
    }
}

pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

// ---- The signed-in person ---------------------------------------------------

/// A request from a person who is logged in. As an extractor: other
/// requests are sent to the login page (GET) or refused (401).
pub struct Signed {
    pub person: Person,
    pub session_id: String,
    pub csrf: String,
    pub lang: Lang,
    /// The request's path and query, for the language toggle.
    pub here: String,
}

impl Signed {
    /// 403 unless the person has the role.
    pub fn require(&self, role: Role) -> Result<(), Response> {
        if self.person.has(role) {
            Ok(())
        } else {
            Err(forbidden(self))
        }
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), Response> {
        let ok = !submitted.is_empty()
            && subtle::ConstantTimeEq::ct_eq(self.csrf.as_bytes(), submitted.as_bytes()).into();
        if ok {
            Ok(())
        } else {
            Err(csrf_refused(self.lang))
        }
    }

    pub fn t(&self, nb: &'static str, en: &'static str) -> &'static str {
        t(self.lang, nb, en)
    }

    /// The person's name as it goes into histories: `user:<name>`.
    pub fn actor(&self) -> String {
        format!("user:{}", self.person.name)
    }
}

impl<S: Store> axum::extract::FromRequestParts<Arc<AppState<S>>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Signed, Response> {
        let lang = lang_of(&parts.headers);
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/ui/".into());
        let ui = &state.ui;
        let session = cookie(&parts.headers, ui.cookie_name())
            .and_then(|id| Some((id.to_owned(), ui.sessions.get(id, Instant::now())?)));
        let Some((session_id, session)) = session else {
            return Err(not_signed_in(&parts.method, &here, lang));
        };
        let Some(user) = session.user.as_deref() else {
            return Err(not_signed_in(&parts.method, &here, lang));
        };
        // The person as the users file says now: a removed person's session
        // ends here.
        let Some(person) = ui.people.person(user) else {
            ui.sessions.end(&session_id);
            return Err(not_signed_in(&parts.method, &here, lang));
        };
        Ok(Signed {
            person,
            session_id,
            csrf: session.csrf,
            lang,
            here,
        })
    }
}

fn not_signed_in(method: &axum::http::Method, here: &str, lang: Lang) -> Response {
    if method == axum::http::Method::GET {
        let to = format!("/ui/login?next={}", percent_encode(here));
        Redirect::to(&to).into_response()
    } else {
        let body = html! {
            h1 { (t(lang, "Ikke innlogget", "Not logged in")) }
            p { a href="/ui/login" { (t(lang, "Logg inn", "Log in")) } }
        };
        page_response(
            StatusCode::UNAUTHORIZED,
            lang,
            None,
            t(lang, "Ikke innlogget", "Not logged in"),
            body,
        )
    }
}

pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn forbidden(s: &Signed) -> Response {
    let body = html! {
        h1 { (s.t("Ingen tilgang", "Access denied")) }
        p { (s.t("Du har ikke tilgang til denne siden. Forsøket er registrert.",
                 "You do not have access to this page. The attempt has been recorded.")) }
        p { a href="/ui/" { (s.t("Til forsiden", "Back to the start page")) } }
    };
    page_response(
        StatusCode::FORBIDDEN,
        s.lang,
        Some(s),
        s.t("Ingen tilgang", "Access denied"),
        body,
    )
}

fn csrf_refused(lang: Lang) -> Response {
    let body = html! {
        h1 { (t(lang, "Skjemaet er utløpt", "The form has expired")) }
        p { (t(lang, "Skjemaet kunne ikke bekreftes (CSRF). Gå tilbake, last siden på nytt og prøv igjen.",
               "The form could not be verified (CSRF). Go back, reload the page and try again.")) }
    };
    page_response(
        StatusCode::FORBIDDEN,
        lang,
        None,
        t(lang, "Skjemaet er utløpt", "The form has expired"),
        body,
    )
}

pub(crate) fn not_found(s: &Signed) -> Response {
    let body = html! {
        h1 { (s.t("Finnes ikke", "Not found")) }
        p { a href="/ui/" { (s.t("Til forsiden", "Back to the start page")) } }
    };
    page_response(
        StatusCode::NOT_FOUND,
        s.lang,
        Some(s),
        s.t("Finnes ikke", "Not found"),
        body,
    )
}

pub(crate) fn store_failed(s: &Signed) -> Response {
    let body = html! {
        h1 { (s.t("Lageret svarer ikke", "The store does not answer")) }
        p { (s.t("Prøv igjen om litt. Driftsvakten ser feilen i loggen.",
                 "Try again shortly. The operators see the error in the log.")) }
    };
    page_response(
        StatusCode::SERVICE_UNAVAILABLE,
        s.lang,
        Some(s),
        s.t("Lageret svarer ikke", "The store does not answer"),
        body,
    )
}

// ---- Layout -----------------------------------------------------------------

/// A whole page: header with the person's menu, the body, security
/// headers. Pages are never cached (they may show patient data).
pub fn page(s: &Signed, title: &str, body: Markup) -> Response {
    page_response(StatusCode::OK, s.lang, Some(s), title, body)
}

pub fn page_response(
    status: StatusCode,
    lang: Lang,
    signed: Option<&Signed>,
    title: &str,
    body: Markup,
) -> Response {
    let here = signed.map_or("/ui/", |s| s.here.as_str());
    let doc = html! {
        (DOCTYPE)
        html lang=(t(lang, "nb", "en")) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Overgang" }
                link rel="stylesheet" href="/ui/assets/app.css";
                link rel="stylesheet" href="/ui/assets/present.css";
                script src="/ui/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { (t(lang, "Hopp til innholdet", "Skip to content")) }
                header.top {
                    a.brand href="/ui/" { "Overgang" }
                    @if let Some(s) = signed {
                        nav aria-label=(t(lang, "Hovedmeny", "Main menu")) {
                            ul {
                                @if s.person.has(Role::Nurse) {
                                    li { a href="/ui/worklist" { (t(lang, "Arbeidsliste", "Worklist")) } }
                                }
                                @if s.person.has(Role::Operator) {
                                    li { a href="/ui/ops" { (t(lang, "Køer", "Queues")) } }
                                    li { a href="/ui/ops/dead-letters" { (t(lang, "Feilede leveranser", "Dead letters")) } }
                                    li { a href="/ui/ops/messages" { (t(lang, "Meldingssøk", "Message search")) } }
                                }
                                @if s.person.has(Role::Coordinator) || s.person.has(Role::Operator) {
                                    li { a href="/ui/flow" { (t(lang, "Utskrivningsklare", "Discharge-ready")) } }
                                }
                                @if s.person.has(Role::Admin) {
                                    li { a href="/ui/admin" { (t(lang, "Administrasjon", "Administration")) } }
                                }
                            }
                        }
                    }
                    div.tools {
                        @match lang {
                            Lang::Nb => a href={ "/ui/lang/en?back=" (percent_encode(here)) } lang="en" { "English" },
                            Lang::En => a href={ "/ui/lang/nb?back=" (percent_encode(here)) } lang="nb" { "Norsk" },
                        }
                        @if let Some(s) = signed {
                            span.who { (s.person.display_name) }
                            form.inline method="post" action="/ui/logout" {
                                input type="hidden" name="_csrf" value=(s.csrf);
                                button type="submit" { (t(lang, "Logg ut", "Log out")) }
                            }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    };
    html_response(status, doc)
}

pub(crate) fn html_response(status: StatusCode, doc: Markup) -> Response {
    let mut r = (status, doc.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    security_headers(h);
    r
}

/// What every page carries: no caching (patient data), no framing, no
/// script or style from anywhere but the gateway, no referrer.
pub(crate) fn security_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(s: &Signed) -> Markup {
    html! { input type="hidden" name="_csrf" value=(s.csrf); }
}

// ---- Assets -----------------------------------------------------------------

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "present.css" => (overgang_present::css(), "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

// ---- Home, login, logout ----------------------------------------------------

async fn home(s: Signed) -> Response {
    let to = if s.person.has(Role::Nurse) {
        "/ui/worklist"
    } else if s.person.has(Role::Operator) {
        "/ui/ops"
    } else if s.person.has(Role::Coordinator) {
        "/ui/flow"
    } else if s.person.has(Role::Admin) {
        "/ui/admin"
    } else {
        let body = html! {
            h1 { (s.t("Ingen roller", "No roles")) }
            p { (s.t("Brukeren din har ingen roller ennå. Kontakt en administrator.",
                     "Your user has no roles yet. Ask an administrator.")) }
        };
        return page(&s, s.t("Ingen roller", "No roles"), body);
    };
    Redirect::to(to).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_form<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let lang = lang_of(&headers);
    let ui = &state.ui;
    // A session for the form itself (its CSRF token), new unless the
    // browser has a live one.
    let existing = cookie(&headers, ui.cookie_name())
        .and_then(|id| Some((id.to_owned(), ui.sessions.get(id, Instant::now())?)));
    let (set, session) = match existing {
        Some((_, s)) => (None, s),
        None => {
            let (id, s) = ui.sessions.start(None, Instant::now());
            (Some(id), s)
        }
    };
    let mut r = login_page(
        StatusCode::OK,
        lang,
        &session.csrf,
        q.next.as_deref(),
        None,
        "",
    );
    if let Some(id) = set {
        r.headers_mut()
            .insert(header::SET_COOKIE, ui.session_cookie(&id));
    }
    r
}

fn login_page(
    status: StatusCode,
    lang: Lang,
    csrf: &str,
    next: Option<&str>,
    error: Option<&str>,
    user: &str,
) -> Response {
    let body = html! {
        section.login {
            h1 { (t(lang, "Logg inn", "Log in")) }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/ui/login" {
                input type="hidden" name="_csrf" value=(csrf);
                input type="hidden" name="next" value=(safe_next(next));
                label for="user" { (t(lang, "Brukernavn", "User name")) }
                input #user name="user" type="text" autocomplete="username" required value=(user) autofocus;
                label for="password" { (t(lang, "Passord", "Password")) }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { (t(lang, "Logg inn", "Log in")) }
            }
        }
    };
    page_response(status, lang, None, t(lang, "Logg inn", "Log in"), body)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

async fn login<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    conn: Option<axum::Extension<ConnInfo>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers);
    let ui = state.ui.clone();
    let now = Instant::now();
    let old = cookie(&headers, ui.cookie_name())
        .and_then(|id| Some((id.to_owned(), ui.sessions.get(id, now)?)));
    let Some((old_id, old_session)) = old else {
        return csrf_refused(lang);
    };
    if !session::csrf_ok(&old_session, &f.csrf) {
        return csrf_refused(lang);
    }
    let addr = conn.and_then(|c| c.0.peer).map(|p| p.ip());
    let user = f.user.trim().to_owned();
    if !ui.limiter.allowed(&user, addr, now) {
        tracing::warn!(user = %known_log_name(ui.people.as_ref(), &user), "login refused: too many failed attempts");
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            lang,
            &old_session.csrf,
            f.next.as_deref(),
            Some(t(
                lang,
                "For mange mislykkede forsøk. Vent et kvarter og prøv igjen, eller kontakt en administrator.",
                "Too many failed attempts. Wait a quarter of an hour and try again, or ask an administrator.",
            )),
            &user,
        );
    }
    // Argon2 off the request threads, sharing the token checks' limit.
    let Ok(_slot) = state.token_checks.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let people = ui.people.clone();
    let (u, pw) = (user.clone(), f.password);
    let person = tokio::task::spawn_blocking(move || people.check_password(&u, &pw))
        .await
        .ok()
        .flatten();
    let Some(person) = person else {
        ui.limiter.failed(&user, addr, now);
        tracing::info!(user = %known_log_name(ui.people.as_ref(), &user), "login failed");
        return login_page(
            StatusCode::UNAUTHORIZED,
            lang,
            &old_session.csrf,
            f.next.as_deref(),
            Some(t(
                lang,
                "Feil brukernavn eller passord.",
                "Wrong user name or password.",
            )),
            &user,
        );
    };
    ui.limiter.succeeded(&person.name);
    // A new session id at login: an id planted before login is worthless.
    ui.sessions.end(&old_id);
    let (id, _) = ui.sessions.start(Some(person.name.clone()), Instant::now());
    tracing::info!(user = %person.name, "logged in");
    let mut r = Redirect::to(&safe_next(f.next.as_deref())).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, ui.session_cookie(&id));
    r
}

/// A user name as it may go into the log: names are chosen by people, not
/// patients, but a typed name may be anything (a national id typed in the
/// wrong field): only plain names are logged.
fn people_log_name(name: &str) -> &str {
    if people::valid_name(name) && !name.bytes().all(|b| b.is_ascii_digit()) {
        name
    } else {
        "<not a user name>"
    }
}

/// [`people_log_name`] for a name typed at the login form, and only when it
/// is a known person's: a password typed into the name field looks like a
/// user name, and must not reach the log as one.
fn known_log_name<'a>(people: &dyn Authenticator, name: &'a str) -> &'a str {
    match people.person(name) {
        Some(_) => people_log_name(name),
        None => "<unknown user>",
    }
}

/// A form that carries only the CSRF token (logout, the registry reload).
#[derive(Default, Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    pub(crate) csrf: String,
}

async fn logout<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    s: Signed,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r;
    }
    state.ui.sessions.end(&s.session_id);
    tracing::info!(user = %s.person.name, "logged out");
    let mut r = Redirect::to("/ui/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, state.ui.clear_cookie());
    r
}

/// Markup that is already HTML (from the renderer).
pub fn raw(s: String) -> Markup {
    PreEscaped(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_pages_are_places_to_go_back_to() {
        assert_eq!(
            safe_next(Some("/ui/worklist?unit=1")),
            "/ui/worklist?unit=1"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/ui//evil",
            "/api/v1/messages",
            "/ui/\\evil",
            "/ui/a b",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; overgang_lang=en; b=2"),
        );
        assert_eq!(cookie(&h, "overgang_lang"), Some("en"));
        assert_eq!(lang_of(&h), Lang::En);
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn typed_user_names_that_may_be_patient_data_are_not_logged() {
        assert_eq!(people_log_name("kari"), "kari");
        assert_eq!(people_log_name("01017012345"), "<not a user name>");
        assert_eq!(people_log_name("Kari Nordmann"), "<not a user name>");
    }
}
