//! The OpenAPI document against the router:
//!
//! - it is served to an authenticated system only, parses as JSON, and is
//!   OpenAPI 3.1;
//! - every route the server serves, the API's ([`crate::app::route_list`])
//!   and the web pages' ([`crate::ui::route_list`]), is documented with its
//!   method, and every documented operation is served (routes are added
//!   only through `app::Routes` and `ui::Pages`, so a route added without
//!   `#[utoipa::path]`, or past the pages' list, fails here), and each
//!   listed route really answers;
//! - without credentials, every route but the open ones is refused: the
//!   API's with 401, the pages' with a redirect to the login page (GET) or
//!   401 (POST); the open ones are exactly `/healthz`, `/readyz` and the
//!   pages' way in;
//! - every documented operation but the open ones requires the bearer
//!   scheme (API) or the session scheme (pages), which the document
//!   defines; the open ones say why they are open;
//! - another crate's paths merged in are served.

use super::*;
use crate::app::{route_list, router, AppState};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use std::collections::{BTreeMap, BTreeSet};
use tower::ServiceExt;

const TOKEN: &str = "openapi-test-token";

/// Routes anyone may call, by nature: health for the orchestrator, and the
/// pages' way in (redirects to the start page, the login form and its
/// post, the language toggle, the stylesheets and script).
const OPEN: [(&str, &str); 8] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/"),
    ("get", "/ui"),
    ("get", "/ui/login"),
    ("post", "/ui/login"),
    ("get", "/ui/lang/{lang}"),
    ("get", "/ui/assets/{file}"),
];

/// Pages fetched by a page's script, not a person: refused with 401 rather
/// than sent to the login page.
const SCRIPT_ONLY: [&str; 1] = ["/ui/ops/dashboard.fragment"];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn state(dir: &std::path::Path) -> Arc<AppState<overgang_store::sqlite::SqliteStore>> {
    crate::app::test_state(dir, TOKEN)
}

fn is_open(method: &str, path: &str) -> bool {
    OPEN.contains(&(method, path))
}

async fn get(app: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Every (method, path) the document describes.
fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// The API's and the pages' routes, each once.
fn listed() -> BTreeSet<(String, String)> {
    let api = route_list();
    let ui = crate::ui::route_list();
    let all: Vec<(String, String)> = api
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .chain(ui.iter().map(|r| (r.method.to_owned(), r.path.to_owned())))
        .collect();
    let set: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "a route is listed twice: {all:?}");
    set
}

/// A path with its parameters filled in with values the handlers accept.
fn concrete(path: &str) -> String {
    path.replace("{file}", "app.css")
        .replace("{lang}", "en")
        .replace("{id}", "1")
        .replace("{rid}", "1")
}

async fn served_doc(app: &axum::Router) -> serde_json::Value {
    let (status, text) = get(app, "/api/openapi.json", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).expect("the document is JSON")
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(state(dir.path()));

    let (status, _) = get(&app, "/api/openapi.json", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the document needs a token"
    );
    let doc = served_doc(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(doc["info"]["title"], "Overgang");

    let listed = listed();
    let docs = documented(&doc);
    let undocumented: Vec<_> = listed.difference(&docs).collect();
    assert!(
        undocumented.is_empty(),
        "routes without #[utoipa::path] (or not in openapi.rs' paths(...)): {undocumented:?}"
    );
    let unserved: Vec<_> = docs.difference(&listed).collect();
    assert!(
        unserved.is_empty(),
        "documented but not routed: {unserved:?}"
    );

    // Each listed route really is the router's: no route answers with the
    // router's own 404 (empty body) or 405. Without credentials the closed
    // ones are refused, and the open ones are not.
    let ui: BTreeSet<(String, String)> = crate::ui::route_list()
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    for (method, path) in &listed {
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(concrete(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::empty())
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .expect("body");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(status == StatusCode::NOT_FOUND && body.is_empty()),
            "{method} {path} is not routed"
        );
        let to_login = status == StatusCode::SEE_OTHER && location.starts_with("/ui/login");
        if is_open(method, path) {
            assert!(
                status != StatusCode::UNAUTHORIZED && !to_login,
                "{method} {path} is open, yet answered {status} {location}"
            );
        } else if !ui.contains(&(method.clone(), path.clone())) {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
        } else if method == "get" && !SCRIPT_ONLY.contains(&path.as_str()) {
            assert!(
                to_login,
                "GET {path} without a session: {status} {location}, not 303 to /ui/login"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a session"
            );
        }
        if ui.contains(&(method.clone(), path.clone())) {
            // What it answered is among what the document says it answers.
            let answers = &doc["paths"][path.as_str()][method.as_str()]["responses"];
            assert!(
                answers.get(status.as_str()).is_some(),
                "{method} {path} answered {status}, which its operation does not list: {answers}"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_declares_its_security_and_the_open_ones_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(state(dir.path()));
    let doc = served_doc(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes[BEARER]["type"], "http");
    assert_eq!(schemes[BEARER]["scheme"], "bearer");
    assert_eq!(schemes[MUTUAL_TLS]["type"], "mutualTLS");
    assert_eq!(schemes[SESSION]["type"], "apiKey");
    assert_eq!(schemes[SESSION]["in"], "cookie");
    assert_eq!(schemes[SESSION]["name"], "overgang_session");
    let about = schemes[SESSION]["description"].as_str().unwrap_or("");
    assert!(
        about.contains("__Host-overgang") && about.contains("_csrf"),
        "{about}"
    );
    assert!(
        doc["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == UI_TAG)),
        "the ui tag is described"
    );

    let ui: BTreeMap<(&str, &str), crate::ui::pages::UiRoute> = crate::ui::route_list()
        .into_iter()
        .map(|r| ((r.method, r.path), r))
        .collect();
    let mut checked = 0;
    let mut ids = BTreeSet::new();
    let mut open = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            checked += 1;
            let security = op["security"].as_array();
            let requires = |scheme: &str| {
                security.is_some_and(|alts| alts.iter().any(|s| s.get(scheme).is_some()))
            };
            if security.is_none_or(|s| s.is_empty()) {
                open.insert((m, path.as_str()));
            }
            let page = ui.get(&(m, path.as_str()));
            if is_open(m, path) {
                assert!(security.is_none_or(|s| s.is_empty()), "{m} {path} is open");
            } else if page.is_some() {
                assert!(requires(SESSION), "{m} {path} does not require a session");
            } else {
                assert!(
                    requires(BEARER),
                    "{m} {path} does not require the bearer scheme"
                );
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path} has no responses"
            );
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");

            let Some(page) = page else { continue };
            assert_eq!(op["tags"], serde_json::json!([UI_TAG]), "{m} {path}");
            assert_eq!(op["summary"], page.summary, "{m} {path}");
            let why = op[OPEN_EXTENSION].as_str();
            assert_eq!(why, page.open, "{m} {path}: {OPEN_EXTENSION}");
            assert!(why.is_none_or(|w| !w.is_empty()), "{m} {path}");
            let responses = op["responses"].as_object().expect("responses");
            if page.open.is_none() {
                let refused = if m == "get" && !SCRIPT_ONLY.contains(&path.as_str()) {
                    "303"
                } else {
                    "401"
                };
                assert!(
                    responses.contains_key(refused),
                    "{m} {path} does not say it answers {refused} without a session"
                );
            }
            for (status, answer) in responses {
                if status == "200" {
                    assert!(
                        answer["content"].as_object().is_some_and(|c| !c.is_empty()),
                        "{m} {path}: 200 without a media type"
                    );
                }
            }
            let params: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let named: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(params, named, "{m} {path}: path parameters");
            if m == "post" {
                assert!(
                    op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
                        ["properties"]
                        .get("_csrf")
                        .is_some(),
                    "POST {path} does not document its _csrf field"
                );
            }
        }
    }
    assert_eq!(checked, route_list().len() + ui.len());
    let expected: BTreeSet<(&str, &str)> = OPEN.into_iter().collect();
    assert_eq!(open, expected, "the operations without security");
    let open_pages: BTreeSet<(&str, &str)> = ui
        .values()
        .filter(|r| r.open.is_some())
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        open_pages,
        expected
            .iter()
            .copied()
            .filter(|k| ui.contains_key(k))
            .collect(),
        "the pages' open routes"
    );
}

#[tokio::test]
async fn another_crates_paths_merged_in_are_served() {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(dir.path());
    let app = router(st.clone());
    let mut other = utoipa::openapi::OpenApiBuilder::new().build();
    other.paths = utoipa::openapi::path::PathsBuilder::new()
        .path(
            "/plugin",
            PathItem::new(
                HttpMethod::Get,
                OperationBuilder::new().operation_id(Some("plugin")).build(),
            ),
        )
        .build();
    st.openapi.merge(other);
    let doc = served_doc(&app).await;
    assert!(
        doc["paths"]["/plugin"]["get"].is_object(),
        "{}",
        doc["paths"]
    );
    assert!(doc["paths"]["/api/v1/messages"]["post"].is_object());
    assert!(doc["paths"]["/ui/worklist"]["get"].is_object());
}
