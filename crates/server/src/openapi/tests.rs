//! The OpenAPI document against the router:
//!
//! - it is served to an authenticated system only, parses as JSON, and is
//!   OpenAPI 3.1;
//! - every route the router serves is documented with its method, and
//!   every documented operation is served ([`crate::app::route_list`] is
//!   where routes are added, so a route added without `#[utoipa::path]`
//!   fails here), and each listed route really answers;
//! - every documented operation but `/healthz` and `/readyz` requires the
//!   bearer scheme, which the document defines;
//! - another crate's paths merged in are served.

use super::*;
use crate::app::{route_list, router, AppState};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use std::collections::BTreeSet;
use tower::ServiceExt;

const TOKEN: &str = "openapi-test-token";

const OPEN: [&str; 2] = ["/healthz", "/readyz"];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn state(dir: &std::path::Path) -> Arc<AppState<overgang_store::sqlite::SqliteStore>> {
    crate::app::test_state(dir, TOKEN)
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

    let routes = route_list();
    let listed: BTreeSet<(String, String)> = routes
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(listed.len(), routes.len(), "a route is listed twice");
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
    // router's own 404 (empty body) or 405.
    for (method, path) in &routes {
        let uri = path.replace("{id}", "1").replace("{rid}", "1");
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&uri)
            .body(Body::empty())
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .expect("body");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(status == StatusCode::NOT_FOUND && body.is_empty()),
            "{method} {path} is not routed"
        );
        if !OPEN.contains(path) {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_but_health_requires_the_bearer_scheme() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(state(dir.path()));
    let doc = served_doc(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes[BEARER]["type"], "http");
    assert_eq!(schemes[BEARER]["scheme"], "bearer");
    assert_eq!(schemes[MUTUAL_TLS]["type"], "mutualTLS");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            checked += 1;
            let security = op["security"].as_array();
            let bearer = security.is_some_and(|alts| alts.iter().any(|s| s.get(BEARER).is_some()));
            if OPEN.contains(&path.as_str()) {
                assert!(security.is_none_or(|s| s.is_empty()), "{m} {path} is open");
            } else {
                assert!(bearer, "{m} {path} does not require the bearer scheme");
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path} has no responses"
            );
            assert!(op["operationId"].is_string(), "{m} {path}");
        }
    }
    assert_eq!(checked, route_list().len());
}

#[tokio::test]
async fn another_crates_paths_merged_in_are_served() {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(dir.path());
    let app = router(st.clone());
    let mut ui = utoipa::openapi::OpenApiBuilder::new().build();
    ui.paths = utoipa::openapi::path::PathsBuilder::new()
        .path(
            "/ui",
            PathItem::new(
                HttpMethod::Get,
                OperationBuilder::new().operation_id(Some("ui")).build(),
            ),
        )
        .build();
    st.openapi.merge(ui);
    let doc = served_doc(&app).await;
    assert!(doc["paths"]["/ui"]["get"].is_object(), "{}", doc["paths"]);
    assert!(doc["paths"]["/api/v1/messages"]["post"].is_object());
}
