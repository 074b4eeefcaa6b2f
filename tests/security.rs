//! Security tests against the real `overgang serve` on 127.0.0.1
//! (docs/SECURITY.md lists each control and the test that proves it):
//!
//! 1. every operation of the served OpenAPI document refuses a caller
//!    without credentials, with a wrong bearer token, with a garbage or an
//!    anonymous session cookie (and the API a person's session cookie):
//!    the API with 401, the pages with a redirect to the login form (GET)
//!    or 401 (POST, the dashboard's fragment); only the open operations
//!    named here answer, and `/readyz` says nothing secret;
//! 2. role separation the other tests leave out: systems see only their
//!    own messages' receipts and deliveries (a receipt id of another
//!    message is 404), non-admin systems get 403 on the operators' API and
//!    change nothing; an operator's message page shows finding codes, never
//!    their texts or the patient; a coordinator gets 403 on clinical,
//!    operator and admin pages; a nurse's patient search finds nothing of
//!    another unit;
//! 3. CSRF: a POST without the token, with another session's token, or with
//!    the token of a session that logged out is refused and changes
//!    nothing;
//! 4. over TLS the session cookie is `__Host-overgang`, `Secure`,
//!    `HttpOnly`, `SameSite=Strict`, `Path=/`, no `Domain`; an id the
//!    client chose is never adopted; logout ends the id on the server;
//! 5. passwords, bearer tokens, session ids and CSRF tokens never reach the
//!    log, even at `trace`;
//! 6. mutual TLS: a client certificate from an unknown CA (even with a
//!    known subject) fails the handshake; a certificate of the right CA
//!    whose subject is no system's authenticates nothing (401); a client
//!    certificate does not open the pages;
//! 7. TLS: 1.0 and 1.1 are refused by the server (a protocol_version
//!    alert), TLS 1.2 offers only ECDHE with AEAD (CBC and RSA key exchange
//!    refused with a handshake_failure alert), TLS 1.3 works;
//! 8. a full run (all 22 official examples through intake, delivery to
//!    simulators, receipts; every message read by a nurse and an operator;
//!    patient searches) leaves no national id or name in any log.

mod support {
    pub mod certs;
    pub mod corpus;
    pub mod delivery;
    pub mod patients;
    pub mod server;
    pub mod simulator;
    pub mod tempdir;
    pub mod ui;
    pub mod wait;
}

use overgang_server::ui::people::{hash_password, Role, UserEntry, UsersFile};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::corpus::{addressed_to, example};
use support::delivery::{
    Net, ALVDAL, KATTSKINNET, OPS_TOKEN, RECEIVER_TOKEN, SOLVIK, SOLVIK_TILDELING, ST_OLAV,
};
use support::server::{
    self, fresh, post_message, Server, TempDir, DEMO_TOKEN, DEMO_TOKEN_HASH, NARROW_TOKEN,
    NARROW_TOKEN_HASH, TEST_PATIENT_KEY,
};
use support::ui::{csrf_of, Person};

const PASSWORD_NURSE_A: &str = "nurse-a-Secret-pw-7781";
const PASSWORD_NURSE_B: &str = "nurse-b-Secret-pw-1187";
const PASSWORD_OPERATOR: &str = "operator-Secret-pw-4410";
const PASSWORD_ADMIN: &str = "admin-Secret-pw-9023";
const PASSWORD_COORDINATOR: &str = "coordinator-Secret-pw-3306";
const PASSWORD_ALL_ROLES: &str = "all-roles-Secret-pw-6620";

/// The example nurses of unit A read: Pasientlogistikk, innlagt pasient,
/// from St. Olavs (59/90998) to Alvdal kommune (99387/5078).
const INNLAGT: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml";
/// An example with warnings (findings with texts).
const UTSKRIVNING: &str = "Utskrivningsrapport_v1-6_Ny.xml";

/// A person of [`users`]: name, password, roles, units, municipalities.
type Someone<'a> = (&'a str, &'a str, &'a [Role], &'a [&'a str], &'a [&'a str]);

/// The people of these tests: nurse `kari` of unit A (Alvdal kommune and
/// its service), nurse `ola` of unit B (the fictitious Solvik kommune),
/// operator `dina`, admin `anne`, coordinator `siv` of municipality 3428,
/// and `root` with every role (unit A, municipality 3428).
fn users(dir: &Path, nurse_a_units: &[&str]) -> PathBuf {
    let mut file = UsersFile::default();
    let all_roles = [Role::Nurse, Role::Operator, Role::Admin, Role::Coordinator];
    let people: [Someone; 6] = [
        ("kari", PASSWORD_NURSE_A, &[Role::Nurse], nurse_a_units, &[]),
        (
            "root",
            PASSWORD_ALL_ROLES,
            &all_roles,
            &["99387", "5078"],
            &["3428"],
        ),
        ("ola", PASSWORD_NURSE_B, &[Role::Nurse], &["8100001"], &[]),
        ("dina", PASSWORD_OPERATOR, &[Role::Operator], &[], &[]),
        ("anne", PASSWORD_ADMIN, &[Role::Admin], &[], &[]),
        (
            "siv",
            PASSWORD_COORDINATOR,
            &[Role::Coordinator],
            &[],
            &["3428"],
        ),
    ];
    for (name, password, roles, units, municipalities) in people {
        file.upsert(UserEntry {
            name: name.to_owned(),
            display_name: format!("{name} (test)"),
            password_hash: hash_password(password).expect("hash"),
            roles: roles.to_vec(),
            units: units.iter().map(|u| u.to_string()).collect(),
            municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
        });
    }
    let p = dir.join("users.toml");
    std::fs::write(&p, file.to_toml()).expect("write users file");
    p
}

/// A gateway over plain HTTP on loopback with the people of [`users`],
/// delivery off, and `env` (e.g. the log level).
fn gateway(tmp: &TempDir, env: &[(&str, &str)]) -> Server {
    let users = users(tmp.path(), &["99387", "5078"]);
    let extra = format!(
        "[ui]\nusers = \"{}\"\n\n[delivery]\nenabled = false\n",
        users.display()
    );
    let cfg = server::test_config(tmp.path(), &extra);
    Server::start_env(&cfg, &[], &tmp.path().join("gateway.log"), env)
}

/// A client that follows no redirects (each 303 is seen) and uses no proxy.
fn raw_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = r.text().await.unwrap_or_default();
    Answer {
        status,
        location,
        body,
    }
}

async fn get_json(c: &reqwest::Client, url: &str, token: &str) -> (StatusCode, Value) {
    let r = c
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

// ---- 1. Every documented operation refuses strangers -------------------------

/// The operations anyone may call, each with why. Everything else the
/// served OpenAPI document lists must refuse a caller without credentials;
/// the document's operations without `security` must be exactly these, so a
/// new route added without authentication (documented as open, or
/// documented as closed but not checking) fails this test.
const OPEN: [(&str, &str, &str); 8] = [
    (
        "get",
        "/healthz",
        "liveness for the orchestrator; answers `ok`",
    ),
    (
        "get",
        "/readyz",
        "readiness for the orchestrator; counts and the registry's status, checked below to hold no secret",
    ),
    ("get", "/", "only a redirect to /ui/"),
    ("get", "/ui", "only a redirect to /ui/"),
    (
        "get",
        "/ui/login",
        "the login form: the way in (starts an anonymous session for its CSRF token)",
    ),
    (
        "post",
        "/ui/login",
        "the login itself: needs the login form's session and CSRF token, and a password",
    ),
    (
        "get",
        "/ui/lang/{lang}",
        "sets only the language cookie; shows nothing",
    ),
    (
        "get",
        "/ui/assets/{file}",
        "fixed stylesheets and script built into the binary, needed by the login form",
    ),
];

/// Pages fetched by a page's script rather than a person: without a
/// session they answer 401 instead of redirecting to the login form.
const SCRIPT_ONLY: [&str; 1] = ["/ui/ops/dashboard.fragment"];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// How a caller without valid credentials is turned away.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Refusal {
    /// The API: 401 with a JSON problem and `WWW-Authenticate: Bearer`.
    Api,
    /// A page asked for by GET: 303 to `/ui/login?next=…`.
    ToLogin,
    /// A page's POST, or a script's fragment: 401.
    Unauthorized,
}

/// Fills a documented path's parameters with values the handlers accept:
/// a real message id, delivery and receipt ids, an asset, a language.
fn concrete(path: &str, message_id: &str) -> String {
    let id = if path.contains("/deliveries/{id}") {
        "1"
    } else {
        message_id
    };
    path.replace("{id}", id)
        .replace("{rid}", "1")
        .replace("{file}", "app.css")
        .replace("{lang}", "en")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_refuses_strangers() {
    let tmp = TempDir::new("security-routes");
    let srv = gateway(&tmp, &[]);
    let url = srv.url.clone();
    let c = raw_client();

    // One message, so that message paths name a real one.
    let (status, posted) = post_message(&c, &url, example(INNLAGT)).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let message_id = posted["id"].as_str().expect("id").to_owned();
    let (status, ready_before) = get_json(&c, &format!("{url}/readyz"), "-").await;
    assert_eq!(status, StatusCode::OK);

    // Sessions to try: an anonymous one (the login form's) and a nurse's.
    let mut anon = Person::new(&url);
    let form = anon.get("/ui/login").await;
    assert_eq!(form.status, StatusCode::OK);
    let anon_cookie = anon.cookie.clone().expect("anonymous session cookie");
    let anon_csrf = anon.csrf.clone().expect("login form's CSRF token");
    let mut kari = Person::new(&url);
    kari.login_ok("kari", PASSWORD_NURSE_A).await;
    let nurse_cookie = kari.cookie.clone().expect("nurse's session cookie");

    let (status, doc) = get_json(&c, &format!("{url}/api/openapi.json"), DEMO_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    let open: BTreeSet<(&str, &str)> = OPEN.iter().map(|(m, p, _)| (*m, *p)).collect();

    let mut checked = 0;
    let mut open_in_doc = BTreeSet::new();
    for (path, item) in paths {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let security = op["security"].as_array();
            let declared_open = security.is_none_or(|s| s.is_empty());
            if declared_open {
                open_in_doc.insert((m, path.as_str()));
            }
            let target = format!("{url}{}", concrete(path, &message_id));
            if open.contains(&(m, path.as_str())) {
                assert!(declared_open, "{m} {path} is open but declares security");
                let a = answer(send(&c, m, &target, path, None, &[], &anon_csrf).await).await;
                check_open(m, path, &a);
                continue;
            }
            assert!(
                !declared_open,
                "{m} {path} declares no security: either it is one of OPEN (say why) or it must require credentials"
            );
            let is_page = op["tags"] == json!(["ui"]);
            assert_eq!(
                is_page,
                path == "/" || path.starts_with("/ui"),
                "{m} {path}: tagged as a page iff under /ui"
            );
            let refusal = if !is_page {
                Refusal::Api
            } else if m == "get" && !SCRIPT_ONLY.contains(&path.as_str()) {
                Refusal::ToLogin
            } else {
                Refusal::Unauthorized
            };
            let garbage = format!("overgang_session={0}; __Host-overgang={0}", "ab".repeat(32));
            let mut tries: Vec<(&str, Option<&str>, Vec<String>)> = vec![
                ("no credentials", None, vec![]),
                (
                    "a wrong bearer token",
                    Some("not-the-demo-token-0123456789"),
                    vec![],
                ),
                ("a garbage session cookie", None, vec![garbage]),
                (
                    "an anonymous (not logged in) session",
                    None,
                    vec![anon_cookie.clone()],
                ),
            ];
            if refusal == Refusal::Api {
                // A person's session is no credential for the API (which is
                // also why the API needs no CSRF tokens).
                tries.push(("a nurse's session cookie", None, vec![nurse_cookie.clone()]));
            }
            for (what, token, cookies) in &tries {
                let a = answer(send(&c, m, &target, path, *token, cookies, &anon_csrf).await).await;
                check_refused(m, path, what, refusal, *token, &a);
                checked += 1;
            }
        }
    }
    assert!(checked >= 4 * 30, "only {checked} refusals checked");
    eprintln!(
        "{checked} refusals checked; {} open operations answered as expected",
        open.len()
    );
    let expected: BTreeSet<(&str, &str)> = open.iter().copied().collect();
    assert_eq!(
        open_in_doc, expected,
        "the document's operations without security are not exactly OPEN"
    );

    // Nothing was stored, reloaded or changed by all those requests.
    let (_, list) = get_json(&c, &format!("{url}/api/v1/messages"), DEMO_TOKEN).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, ready_after) = get_json(&c, &format!("{url}/readyz"), "-").await;
    assert_eq!(
        ready_after["registry"]["loaded_at"], ready_before["registry"]["loaded_at"],
        "the registry was reloaded by a stranger"
    );

    // /readyz without credentials: counts and the registry's status, no
    // secret. (It names the registry file's path and, after a refused
    // reload, the error's file:line: accepted, see docs/SECURITY.md.)
    let r = c.get(format!("{url}/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("body");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let keys: BTreeSet<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        ["registry", "rules", "store", "systems"]
            .into_iter()
            .collect(),
        "{v}"
    );
    let keys: BTreeSet<&str> = v["registry"]
        .as_object()
        .expect("registry")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "file",
            "last_error",
            "last_error_at",
            "loaded_at",
            "parties"
        ]
        .into_iter()
        .collect(),
        "{v}"
    );
    assert!(v["systems"].is_u64() && v["rules"].is_u64(), "{v}");
    let secret_file =
        support::corpus::repo().join("config/registry/demo-secrets/solvik-tildeling.token");
    let receiver_secret = std::fs::read_to_string(secret_file).expect("demo secret");
    for (what, s) in [
        ("the demo token", DEMO_TOKEN),
        ("the narrow token", NARROW_TOKEN),
        ("a token hash", DEMO_TOKEN_HASH.trim()),
        ("a token hash", NARROW_TOKEN_HASH.trim()),
        ("the patient key", TEST_PATIENT_KEY),
        ("a receiver's bearer token", receiver_secret.trim()),
        ("a system's name", "demo-ehr"),
        ("a person's name", "kari"),
        ("a password hash", "$argon2"),
        ("the message id", message_id.as_str()),
    ] {
        assert!(!text.contains(s), "/readyz shows {what}: {text}");
    }
    let secrets = support::patients::secrets([example(INNLAGT).as_slice()]);
    support::patients::assert_no_secrets("/readyz", &text, &secrets);
}

/// Sends `method` to `target` with the credentials given and a body that
/// would do something if it were let through.
async fn send(
    c: &reqwest::Client,
    method: &str,
    target: &str,
    path: &str,
    token: Option<&str>,
    cookies: &[String],
    csrf: &str,
) -> reqwest::Response {
    let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    let mut req = c.request(m, target);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if !cookies.is_empty() {
        req = req.header("cookie", cookies.join("; "));
    }
    if method == "post" {
        req = if path == "/api/v1/messages" {
            let (_, bytes) = fresh(&example(UTSKRIVNING));
            req.header("content-type", "application/xml").body(bytes)
        } else if path == "/api/v1/apprecs" {
            req.header("content-type", "application/xml")
                .body("<AppRec xmlns=\"http://www.kith.no/xmlstds/apprec/2012-02-15\"/>")
        } else if path.starts_with("/api/") {
            req.json(&json!({"reason": "security test", "ids": [1], "confirm": true}))
        } else {
            let form = format!(
                "_csrf={csrf}&reason=security+test&confirm=yes&user=kari&password={}&scope=all&patient=15076500565",
                support::ui::encode(PASSWORD_NURSE_A)
            );
            req.header("content-type", "application/x-www-form-urlencoded")
                .body(form)
        };
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

fn check_refused(
    method: &str,
    path: &str,
    what: &str,
    refusal: Refusal,
    token: Option<&str>,
    a: &Answer,
) {
    let ctx = format!("{method} {path} with {what}: {} {}", a.status, a.location);
    match refusal {
        Refusal::Api => {
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{ctx}: {}", a.body);
            let v: Value = serde_json::from_str(&a.body).unwrap_or_default();
            let code = if token.is_some() {
                "bad_token"
            } else {
                "unauthenticated"
            };
            assert_eq!(v["error"], code, "{ctx}: {}", a.body);
        }
        Refusal::ToLogin => {
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{ctx}: {}", a.body);
            assert!(
                a.location.starts_with("/ui/login?next="),
                "{ctx}: not sent to the login form"
            );
        }
        Refusal::Unauthorized => {
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{ctx}: {}", a.body);
            // The pages' "Ikke innlogget" page, or the fragment's text.
            assert!(
                a.body.contains("Ikke innlogget") || a.body.trim() == "not logged in",
                "{ctx}: {}",
                a.body
            );
        }
    }
}

/// What each open operation answers a stranger (with the anonymous
/// session's CSRF token but no session cookie).
fn check_open(method: &str, path: &str, a: &Answer) {
    let ctx = format!("{method} {path}: {} {}", a.status, a.location);
    match (method, path) {
        ("get", "/healthz") => {
            assert_eq!(a.status, StatusCode::OK, "{ctx}");
            assert_eq!(a.body.trim(), "ok", "{ctx}");
        }
        ("get", "/readyz") => assert_eq!(a.status, StatusCode::OK, "{ctx}"),
        ("get", "/") | ("get", "/ui") => {
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{ctx}");
            assert_eq!(a.location, "/ui/", "{ctx}");
        }
        ("get", "/ui/login") => {
            assert_eq!(a.status, StatusCode::OK, "{ctx}");
            assert!(csrf_of(&a.body).is_some(), "{ctx}: no CSRF field");
        }
        // Without the form's session the token is worthless: refused
        // before the password is looked at.
        ("post", "/ui/login") => assert_eq!(a.status, StatusCode::FORBIDDEN, "{ctx}"),
        ("get", "/ui/lang/{lang}") => assert_eq!(a.status, StatusCode::SEE_OTHER, "{ctx}"),
        ("get", "/ui/assets/{file}") => {
            assert_eq!(a.status, StatusCode::OK, "{ctx}");
        }
        _ => panic!("{ctx}: no expectation for this open operation"),
    }
}

/// Every page a person is shown (each GET of the document's `ui` tag, as
/// a person with every role): never cached (`no-store`, they show patient
/// data), and HTML pages never framed, with scripts and styles from the
/// gateway only, no MIME sniffing and no referrer; CSV exports are
/// attachments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_a_person_gets_is_neither_cached_nor_framed() {
    let tmp = TempDir::new("security-headers");
    let srv = gateway(&tmp, &[]);
    let url = srv.url.clone();
    let c = raw_client();
    let (status, posted) = post_message(&c, &url, example(INNLAGT)).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let message_id = posted["id"].as_str().expect("id").to_owned();
    let (_, doc) = get_json(&c, &format!("{url}/api/openapi.json"), DEMO_TOKEN).await;
    let mut root = Person::new(&url);
    root.login_ok("root", PASSWORD_ALL_ROLES).await;

    let (mut html, mut csv) = (0, 0);
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(op) = item.get("get") else { continue };
        if op["tags"] != json!(["ui"]) || path.starts_with("/ui/assets/") {
            continue;
        }
        let target = concrete(path, &message_id);
        let p = root.get(&target).await;
        let ctx = format!("GET {target}: {}", p.status);
        if p.status == StatusCode::SEE_OTHER {
            continue;
        }
        assert_eq!(p.status, StatusCode::OK, "{ctx}: {}", p.body);
        assert_eq!(p.header("cache-control"), Some("no-store"), "{ctx}");
        let kind = p.header("content-type").unwrap_or("");
        if kind.starts_with("text/csv") {
            assert!(
                p.header("content-disposition")
                    .is_some_and(|d| d.starts_with("attachment")),
                "{ctx}: a CSV export is an attachment"
            );
            assert_eq!(p.header("x-content-type-options"), Some("nosniff"), "{ctx}");
            assert_eq!(p.header("referrer-policy"), Some("no-referrer"), "{ctx}");
            csv += 1;
            continue;
        }
        assert!(kind.starts_with("text/html"), "{ctx}: {kind}");
        let csp = p.header("content-security-policy").unwrap_or("");
        for directive in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{ctx}: {directive} in {csp:?}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{ctx}: {csp}"
        );
        assert_eq!(p.header("x-frame-options"), Some("DENY"), "{ctx}");
        assert_eq!(p.header("x-content-type-options"), Some("nosniff"), "{ctx}");
        assert_eq!(p.header("referrer-policy"), Some("no-referrer"), "{ctx}");
        html += 1;
    }
    assert!(
        html >= 12 && csv >= 2,
        "{html} HTML pages, {csv} CSV exports"
    );
    eprintln!("{html} HTML pages and {csv} CSV exports checked");
}

// ---- 2. Role separation -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systems_and_people_see_only_what_their_role_allows() {
    let users_dir = TempDir::new("security-roles-users");
    let users = users(users_dir.path(), &["99387", "5078"]);
    let users = users.display().to_string();
    let net = Net::start_with(
        "security-roles",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "ok"), (KATTSKINNET, "ok")],
        &[],
        &[("OVERGANG_UI__USERS", users.as_str())],
    )
    .await;
    let url = net.gw.url.clone();

    // The demo system's message to Alvdal (unit A), with warnings.
    let (_, report) = fresh(&example(UTSKRIVNING));
    let ours = net.post_ok(report.clone()).await;
    // A message posted by the receivers' system (it may act as St. Olavs),
    // so that it is that system's own.
    let (_, innlagt) = fresh(&example(INNLAGT));
    let r = net
        .c
        .post(format!("{url}/api/v1/messages"))
        .bearer_auth(RECEIVER_TOKEN)
        .header("content-type", "application/xml")
        .header("accept", "application/json")
        .body(innlagt.clone())
        .send()
        .await
        .expect("post as demo-receivers");
    assert_eq!(r.status(), StatusCode::CREATED);
    let theirs = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    net.wait_all(&[ours.clone(), theirs.clone()], "acknowledged")
        .await;
    let receipt_of = |id: String| {
        let net = &net;
        async move {
            let v = net
                .get_ok(&format!("/api/v1/messages/{id}/receipts"), DEMO_TOKEN)
                .await;
            v["items"][0]["id"].as_i64().expect("a receipt")
        }
    };
    let our_rid = receipt_of(ours.clone()).await;
    let their_rid = receipt_of(theirs.clone()).await;
    assert_ne!(our_rid, their_rid);

    // Systems without may_read_all see nothing of another system's message.
    let our_paths = [
        format!("/api/v1/messages/{ours}"),
        format!("/api/v1/messages/{ours}/apprec"),
        format!("/api/v1/messages/{ours}/deliveries"),
        format!("/api/v1/messages/{ours}/receipts"),
        format!("/api/v1/messages/{ours}/receipts/{our_rid}"),
    ];
    for p in &our_paths {
        let (status, body) = net.get(p, DEMO_TOKEN).await;
        assert_eq!(status, StatusCode::OK, "the sender reads {p}: {body}");
        for token in [NARROW_TOKEN, RECEIVER_TOKEN] {
            let (status, body) = net.get(p, token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{p}: {body}");
        }
    }
    for token in [NARROW_TOKEN, RECEIVER_TOKEN] {
        let (_, list) = net.get("/api/v1/messages", token).await;
        assert!(
            !list.to_string().contains(&ours),
            "another system's message listed"
        );
    }
    // Its own message is visible to the receivers' system, but a receipt id
    // of another message under its message's path is not.
    let (status, _) = net
        .get(
            &format!("/api/v1/messages/{theirs}/receipts/{their_rid}"),
            RECEIVER_TOKEN,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = net
        .get(
            &format!("/api/v1/messages/{theirs}/receipts/{our_rid}"),
            RECEIVER_TOKEN,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a receipt id reached through another message"
    );

    // The operators' API: 403 for every system that is not an admin, even
    // one that may read everything, and nothing changes.
    let did = net.deliveries(&ours).await[0]["id"]
        .as_i64()
        .expect("delivery id");
    let before = net.delivery(did).await;
    for token in [DEMO_TOKEN, NARROW_TOKEN, RECEIVER_TOKEN] {
        for p in [
            "/api/v1/deliveries".to_owned(),
            "/api/v1/deliveries/stats".to_owned(),
            format!("/api/v1/deliveries/{did}"),
            "/api/v1/alerts".to_owned(),
        ] {
            let (status, body) = net.get(&p, token).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "GET {p}: {body}");
        }
        for p in [
            format!("/api/v1/deliveries/{did}/replay"),
            format!("/api/v1/deliveries/{did}/cancel"),
            "/api/v1/deliveries/replay".to_owned(),
            "/api/v1/admin/registry/reload".to_owned(),
        ] {
            let (status, body) = net
                .post_json(&p, token, json!({"reason": "not mine", "ids": [did]}))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "POST {p}: {body}");
        }
    }
    for token in [NARROW_TOKEN, RECEIVER_TOKEN] {
        for p in [
            "/api/v1/flow/board",
            "/api/v1/flow/overdue",
            "/api/v1/flow/unplaced",
            "/metrics",
        ] {
            let (status, body) = net.get(p, token).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "GET {p}: {body}");
        }
    }
    let after = net.delivery(did).await;
    assert_eq!(before["state"], after["state"]);
    assert_eq!(
        before["events"].as_array().map(Vec::len),
        after["events"].as_array().map(Vec::len),
        "a refused action left an event"
    );

    // An operator sees the finding codes of a message, never their texts,
    // and never the patient; the nurse of its unit sees the texts.
    let meta = net.message(&ours).await;
    let findings = meta["findings"].as_array().expect("findings").clone();
    assert!(!findings.is_empty(), "the example has findings: {meta}");
    let mut dina = Person::new(&url);
    dina.login_ok("dina", PASSWORD_OPERATOR).await;
    let ops_page = dina.page(&format!("/ui/ops/messages/{ours}")).await;
    let mut kari = Person::new(&url);
    kari.login_ok("kari", PASSWORD_NURSE_A).await;
    let nurse_page = kari.page(&format!("/ui/messages/{ours}")).await;
    let mut texts = 0;
    for f in &findings {
        let code = f["code"].as_str().expect("code");
        assert!(ops_page.contains(code), "the operator sees code {code}");
        for key in ["text_nb", "text_en"] {
            let text = f[key].as_str().unwrap_or("");
            if text.len() < 12 {
                continue;
            }
            let shown = html_escape(text);
            assert!(
                !ops_page.contains(&shown),
                "the operator's page shows a finding's text ({code}, {key})"
            );
            if key == "text_nb" {
                assert!(
                    nurse_page.contains(&shown),
                    "the nurse's page shows finding {code}'s text"
                );
                texts += 1;
            }
        }
    }
    assert!(texts > 0, "no finding text to look for");
    let secrets = support::patients::secrets([report.as_slice()]);
    support::patients::assert_no_secrets("the operator's message page", &ops_page, &secrets);
    assert!(
        secrets.iter().any(|s| nurse_page.contains(s.as_str())),
        "the nurse's page names the patient (the control)"
    );
    // And the operator's search by metadata shows no patient either.
    let search = dina.page(&format!("/ui/ops/messages?q={ours}")).await;
    support::patients::assert_no_secrets("the operator's search", &search, &secrets);

    // A nurse of unit B finds nothing of unit A's patient.
    let mut ola = Person::new(&url);
    ola.login_ok("ola", PASSWORD_NURSE_B).await;
    let nid = support::patients::patient_id(&report);
    let found = ola.page(&format!("/ui/worklist?q={nid}")).await;
    assert!(
        !found.contains(&format!("/ui/messages/{ours}")),
        "unit B's search lists unit A's message"
    );
    // The page shows the national id typed into its search field, and
    // nothing else of the patient.
    let others: Vec<String> = secrets.iter().filter(|s| **s != nid).cloned().collect();
    support::patients::assert_no_secrets("unit B's search", &found, &others);
    let found = kari.page(&format!("/ui/worklist?q={nid}")).await;
    assert!(
        found.contains(&format!("/ui/messages/{ours}")),
        "unit A's own search finds it (the control)"
    );
    assert_eq!(
        ola.get(&format!("/ui/messages/{ours}")).await.status,
        StatusCode::FORBIDDEN
    );

    // A coordinator: patient flow only; no message, queue or admin page.
    let mut siv = Person::new(&url);
    siv.login_ok("siv", PASSWORD_COORDINATOR).await;
    assert_eq!(siv.get("/ui/flow").await.status, StatusCode::OK);
    for p in [
        format!("/ui/messages/{ours}"),
        "/ui/worklist".to_owned(),
        format!("/ui/worklist?q={nid}"),
        "/ui/ops".to_owned(),
        "/ui/ops/messages".to_owned(),
        format!("/ui/ops/messages/{ours}"),
        "/ui/ops/dead-letters".to_owned(),
        "/ui/admin".to_owned(),
        "/ui/admin/access".to_owned(),
    ] {
        let r = siv.get(&p).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "coordinator on {p}");
        // (The refusal page links the language toggle back to the URL
        // asked for, so the typed national id comes back; nothing else.)
        support::patients::assert_no_secrets(&format!("the coordinator's {p}"), &r.body, &others);
    }
    let r = siv
        .post(
            &format!("/ui/ops/deliveries/{did}/cancel"),
            &[("reason", "not mine")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a coordinator cancels");
    assert_eq!(net.delivery(did).await["state"], before["state"]);
}

/// Text as the pages write it (maud escapes `&`, `<`, `>`, `"`).
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// ---- 3. CSRF ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_this_sessions_csrf_token_are_refused_and_change_nothing() {
    let tmp = TempDir::new("security-csrf");
    let srv = gateway(&tmp, &[]);
    let url = srv.url.clone();
    let c = raw_client();
    let loaded_at = || {
        let c = c.clone();
        let url = url.clone();
        async move {
            let (_, v) = get_json(&c, &format!("{url}/readyz"), "-").await;
            v["registry"]["loaded_at"].clone()
        }
    };

    // Two sessions of the admin, one of the nurse; one admin session that
    // has logged out.
    let mut one = Person::new(&url);
    one.login_ok("anne", PASSWORD_ADMIN).await;
    let _ = one.page("/ui/admin/registry").await;
    let one_token = one.csrf.clone().expect("token");
    let mut two = Person::new(&url);
    two.login_ok("anne", PASSWORD_ADMIN).await;
    let _ = two.page("/ui/admin/registry").await;
    let two_token = two.csrf.clone().expect("token");
    assert_ne!(one_token, two_token, "each session has its own token");
    let mut nurse = Person::new(&url);
    nurse.login_ok("kari", PASSWORD_NURSE_A).await;
    let _ = nurse.page("/ui/worklist").await;
    let nurse_token = nurse.csrf.clone().expect("token");
    let mut gone = Person::new(&url);
    gone.login_ok("anne", PASSWORD_ADMIN).await;
    let _ = gone.page("/ui/admin/registry").await;
    let gone_token = gone.csrf.clone().expect("token");
    let gone_cookie = gone.cookie.clone();
    let r = gone.post("/ui/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    let before = loaded_at().await;
    // A registry reload (an admin's action whose effect /readyz shows).
    for (what, fields) in [
        ("without a token", vec![]),
        ("with an empty token", vec![("_csrf", "")]),
        (
            "with another session's token (same person)",
            vec![("_csrf", two_token.as_str())],
        ),
        (
            "with another person's token",
            vec![("_csrf", nurse_token.as_str())],
        ),
        (
            "with the token of a session that logged out",
            vec![("_csrf", gone_token.as_str())],
        ),
    ] {
        let r = one.post_raw("/ui/admin/registry/reload", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "reload {what}");
        assert!(r.body.contains("CSRF"), "reload {what}: {}", r.body);
    }
    // The logged-out session's own cookie and token: no session at all.
    let mut ghost = Person::new(&url);
    ghost.cookie = gone_cookie;
    let r = ghost
        .post_raw("/ui/admin/registry/reload", &[("_csrf", &gone_token)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the ended session");
    assert_eq!(loaded_at().await, before, "a refused reload reloaded");

    // Logout with a wrong token ends nothing.
    for fields in [vec![], vec![("_csrf", two_token.as_str())]] {
        let r = one.post_raw("/ui/logout", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(one.get("/ui/admin").await.status, StatusCode::OK);

    // The access-log filter (an admin's POST that records a search).
    let entries = || {
        let conn = rusqlite::Connection::open_with_flags(
            tmp.path().join("data/overgang.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open store");
        conn.query_row("SELECT count(*) FROM access_log", [], |r| {
            r.get::<_, i64>(0)
        })
        .expect("count")
    };
    let n = entries();
    let r = one
        .post_raw(
            "/ui/admin/access",
            &[("_csrf", two_token.as_str()), ("patient", "15076500565")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(entries(), n, "a refused filter was recorded");

    // The control: with its own token the same session's POSTs work.
    let r = one
        .post_raw("/ui/admin/registry/reload", &[("_csrf", &one_token)])
        .await;
    assert!(
        r.status == StatusCode::SEE_OTHER || r.status == StatusCode::OK,
        "reload with the right token: {} {}",
        r.status,
        r.body
    );
    assert_ne!(loaded_at().await, before, "the right token reloads");
}

// ---- 4. Sessions and cookies over TLS -----------------------------------------

/// A client that trusts the test CA, with or without the test client
/// certificate (`cert`: a folder with `client.pem` and `client-key.pem`).
fn tls_client(ca_dir: &Path, cert: Option<&Path>) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_dir.join("ca.pem")).expect("ca") {
        roots.add(c.expect("pem")).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let tls = match cert {
        Some(d) => {
            let certs: Vec<_> = CertificateDer::pem_file_iter(d.join("client.pem"))
                .expect("client cert")
                .map(|c| c.expect("pem"))
                .collect();
            let key = PrivateKeyDer::from_pem_file(d.join("client-key.pem")).expect("key");
            builder
                .with_client_auth_cert(certs, key)
                .expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .tls_backend_preconfigured(tls)
        .build()
        .expect("tls client")
}

/// A gateway over TLS with the test certificates of `d` (mutual TLS with
/// `ca.pem` as the client CA, system `mtls` for `CN=ehr-mtls, O=Test HF`)
/// and the people of [`users`].
fn tls_gateway(d: &Path, env: &[(&str, &str)]) -> Server {
    let users = users(d, &["99387", "5078"]);
    let cfg = server::test_config(
        d,
        &format!(
            "[[systems]]\nname = \"mtls\"\nclient_cert_subject = \"CN=ehr-mtls, O=Test HF\"\nmay_send_as = [\"*\"]\n\n\
             [tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n\n\
             [ui]\nusers = \"{}\"\n\n[delivery]\nenabled = false\n",
            d.join("server.pem").display(),
            d.join("server-key.pem").display(),
            d.join("ca.pem").display(),
            users.display(),
        ),
    );
    let srv = Server::start_env(&cfg, &[], &d.join("gateway.log"), env);
    assert!(srv.url.starts_with("https://"), "{}", srv.url);
    srv
}

fn session_cookie_of(set_cookie: &[String]) -> Option<&String> {
    set_cookie.iter().find(|c| !c.starts_with("overgang_lang="))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_session_cookie_is_host_only_secure_and_never_fixed() {
    let tmp = TempDir::new("security-cookies");
    let d = tmp.path();
    support::certs::make_certificates(d);
    let srv = tls_gateway(d, &[]);
    let url = srv.url.clone();
    let browser = || Person::with_client(&url, tls_client(d, None));

    // An id the attacker chose, planted before the login form.
    let planted = format!("__Host-overgang={}", "0f".repeat(32));
    let mut p = browser();
    p.cookie = Some(planted.clone());
    let form = p.get("/ui/login").await;
    assert_eq!(form.status, StatusCode::OK);
    // Over TLS every answer tells the browser to insist on https (HSTS).
    assert_eq!(
        form.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let cookie = session_cookie_of(&form.set_cookie)
        .expect("an unknown id is replaced by a new session")
        .clone();
    let pair = cookie.split(';').next().expect("pair").trim().to_owned();
    assert!(pair.starts_with("__Host-overgang="), "{cookie}");
    assert_ne!(pair, planted, "the planted id was adopted");
    let attrs: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for flag in ["secure", "httponly", "samesite=strict", "path=/"] {
        assert!(attrs.iter().any(|a| a == flag), "{flag} in {cookie}");
    }
    assert!(
        !attrs.iter().any(|a| a.starts_with("domain")),
        "a __Host- cookie has no Domain: {cookie}"
    );
    let id = pair.split_once('=').expect("=").1.to_owned();
    assert_eq!(id.len(), 64, "256 bits as hex: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let anonymous = pair.clone();

    // Login: yet another id; the anonymous one (which an attacker could
    // have fetched and planted) is worthless afterwards.
    let r = p
        .post(
            "/ui/login",
            &[("user", "kari"), ("password", PASSWORD_NURSE_A)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let login_cookie = session_cookie_of(&r.set_cookie)
        .expect("a new session at login")
        .clone();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(login_cookie.contains(flag), "{flag} in {login_cookie}");
    }
    let logged_in = p.cookie.clone().expect("session");
    assert_ne!(logged_in, anonymous);
    assert_ne!(logged_in, planted);
    assert_eq!(p.get("/ui/worklist").await.status, StatusCode::OK);
    let mut attacker = browser();
    attacker.cookie = Some(anonymous.clone());
    let r = attacker.get("/ui/worklist").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the pre-login id logs in");

    // Over TLS only the __Host- name is read: the same id under the plain
    // name is no session.
    let mut renamed = browser();
    renamed.cookie = Some(logged_in.replacen("__Host-overgang=", "overgang_session=", 1));
    assert_eq!(
        renamed.get("/ui/worklist").await.status,
        StatusCode::SEE_OTHER
    );

    // Logout ends the id on the server: the old cookie, sent again, gets
    // the login form (GET) or 401 (POST).
    let r = p.post("/ui/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cleared = session_cookie_of(&r.set_cookie).expect("cleared").clone();
    assert!(cleared.starts_with("__Host-overgang=;"), "{cleared}");
    for flag in ["Max-Age=0", "Secure", "HttpOnly", "Path=/"] {
        assert!(cleared.contains(flag), "{flag} in {cleared}");
    }
    let mut replay = browser();
    replay.cookie = Some(logged_in.clone());
    let r = replay.get("/ui/worklist").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location.as_deref().unwrap_or("").starts_with("/ui/login"));
    let r = replay.post_raw("/ui/logout", &[("_csrf", "x")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

// ---- 5. No secret of people or systems in the log --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_tokens_session_ids_and_csrf_tokens_never_reach_the_log() {
    for format in ["text", "json"] {
        let tmp = TempDir::new("security-secrets");
        let srv = gateway(
            &tmp,
            &[
                ("OVERGANG_LOG__LEVEL", "trace"),
                ("OVERGANG_LOG__FORMAT", format),
            ],
        );
        let url = srv.url.clone();
        let c = raw_client();
        let mut secrets: Vec<(String, String)> = vec![
            ("the demo token".into(), DEMO_TOKEN.into()),
            ("the narrow token".into(), NARROW_TOKEN.into()),
            ("the patient key".into(), TEST_PATIENT_KEY.into()),
        ];
        let wrong_password = "Wrong-Password-Guess-5521";
        let wrong_token = "wrong-bearer-token-Guess-8841";
        secrets.push(("a wrong password".into(), wrong_password.into()));
        secrets.push(("a wrong token".into(), wrong_token.into()));

        // Bearer tokens: right, narrow, wrong; messages posted.
        let (status, v) = post_message(&c, &url, fresh(&example(INNLAGT)).1).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().expect("id").to_owned();
        let _ = post_message(&c, &url, example(UTSKRIVNING)).await;
        let _ = get_json(&c, &format!("{url}/api/v1/messages/{id}"), DEMO_TOKEN).await;
        let _ = get_json(&c, &format!("{url}/api/v1/messages"), NARROW_TOKEN).await;
        let (status, _) = get_json(&c, &format!("{url}/api/v1/messages"), wrong_token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let r = c
            .post(format!("{url}/api/v1/messages"))
            .bearer_auth(NARROW_TOKEN)
            .header("content-type", "application/xml")
            .body(fresh(&example(INNLAGT)).1)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        // People: every password, a failed login, pages, forms, logout.
        let mut p = Person::new(&url);
        let r = p.login("kari", wrong_password).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        secrets.push((
            "the login form's CSRF token".into(),
            p.csrf.clone().expect("csrf"),
        ));
        // A password typed into the name field (it looks like a user name:
        // letters, digits and dashes) must not be logged as the name of a
        // failed login.
        let r = Person::new(&url).login(PASSWORD_NURSE_B, "ola").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        secrets.push(("an anonymous session id".into(), cookie_value(&p)));
        for (user, pw) in [
            ("kari", PASSWORD_NURSE_A),
            ("ola", PASSWORD_NURSE_B),
            ("dina", PASSWORD_OPERATOR),
            ("anne", PASSWORD_ADMIN),
            ("siv", PASSWORD_COORDINATOR),
        ] {
            secrets.push((format!("{user}'s password"), pw.into()));
            let mut p = Person::new(&url);
            p.login_ok(user, pw).await;
            secrets.push((format!("{user}'s session id"), cookie_value(&p)));
            let home = p.get("/ui/").await;
            let start = home.location.unwrap_or_else(|| "/ui/".into());
            let _ = p.get(&start).await;
            let _ = p.get(&format!("/ui/messages/{id}")).await;
            if let Some(t) = p.csrf.clone() {
                secrets.push((format!("{user}'s CSRF token"), t));
            }
            // A POST with a wrong token, and one with the right one.
            let _ = p
                .post_raw(
                    "/ui/admin/registry/reload",
                    &[("_csrf", "forged-token-Guess-2231")],
                )
                .await;
            secrets.push((
                "a forged CSRF token".into(),
                "forged-token-Guess-2231".into(),
            ));
            let _ = p.post("/ui/admin/registry/reload", &[]).await;
            let r = p.post("/ui/logout", &[]).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER);
        }
        let status = srv.terminate(Duration::from_secs(20));
        assert!(status.success());
        let log = std::fs::read_to_string(tmp.path().join("gateway.log")).expect("log");
        for said in [
            "answered",
            "login failed",
            "logged in",
            "logged out",
            "registry reloaded",
        ] {
            assert!(log.contains(said), "the log does not say {said:?}:\n{log}");
        }
        for (what, s) in &secrets {
            assert!(s.len() >= 12, "{what} is too short to look for");
            assert!(
                !log.contains(s.as_str()),
                "the {format} log contains {what}"
            );
        }
        // Nor any Authorization or Cookie header, whatever its value.
        for header in [
            "authorization: bearer",
            "cookie: overgang",
            "__host-overgang=",
        ] {
            assert!(
                !log.to_ascii_lowercase().contains(header),
                "the {format} log has a {header:?} header"
            );
        }
    }
}

/// The value of a person's session cookie.
fn cookie_value(p: &Person) -> String {
    p.cookie
        .as_deref()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("a session cookie")
}

// ---- 6. Mutual TLS ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_of_unknown_cas_fail_the_handshake() {
    let tmp = TempDir::new("security-mtls");
    let d = tmp.path();
    support::certs::make_certificates(d);
    // Client certificates with the very subject the gateway maps to system
    // `mtls`, issued by CAs the gateway does not trust: an impostor CA with
    // the test CA's own name (made like the real one), and a CA of another
    // name.
    let impostor = d.join("impostor");
    std::fs::create_dir_all(&impostor).expect("mkdir");
    support::certs::make_certificates(&impostor);
    let other = d.join("other-ca");
    std::fs::create_dir_all(&other).expect("mkdir");
    support::certs::openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Another CA",
        ],
        &other,
    );
    client_cert(&other, &other, "/CN=ehr-mtls/O=Test HF");
    // The right CA, a subject no system has.
    let stranger = d.join("stranger");
    std::fs::create_dir_all(&stranger).expect("mkdir");
    client_cert(d, &stranger, "/CN=someone-else/O=Test HF");

    let srv = tls_gateway(d, &[]);
    let url = srv.url.clone();
    let (name, bytes) = (INNLAGT, example(INNLAGT));
    let post = |c: reqwest::Client, token: Option<&'static str>| {
        let url = url.clone();
        let body = fresh(&bytes).1;
        async move {
            let mut r = c
                .post(format!("{url}/api/v1/messages"))
                .header("content-type", "application/xml")
                .header("accept", "application/json")
                .body(body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().await
        }
    };

    // The control: the known CA's certificate authenticates system mtls.
    let good = post(tls_client(d, Some(d)), None).await.expect("mTLS post");
    assert_eq!(good.status(), StatusCode::CREATED, "{name}");

    // An unknown CA's certificate (same subject): the handshake fails, with
    // or without a token; no HTTP answer at all. In TLS 1.3 the client has
    // sent its Finished before the server judges its certificate, so
    // openssl reports the connection and then the server's alert:
    // decrypt_error (51) for the impostor (its signature does not verify
    // against the trusted CA of that name), unknown_ca (48) for the other.
    let addr = url.trim_start_matches("https://").to_owned();
    for (rogue, alert) in [(&impostor, "decrypt error"), (&other, "unknown ca")] {
        for token in [None, Some(DEMO_TOKEN)] {
            let r = post(tls_client(d, Some(rogue)), token).await;
            assert!(
                r.is_err(),
                "a certificate of an unknown CA was accepted: {:?}",
                r.map(|r| r.status())
            );
        }
        for version in ["-tls1_3", "-tls1_2"] {
            let (_, out) = s_client(
                &addr,
                &[
                    version,
                    // Wait for the server's verdict (it closes the
                    // connection after its alert) instead of leaving at
                    // the end of standard input, before the alert is read.
                    "-ign_eof",
                    "-cert",
                    &rogue.join("client.pem").display().to_string(),
                    "-key",
                    &rogue.join("client-key.pem").display().to_string(),
                ],
                false,
            );
            assert!(
                refused_by_server(&out) && out.contains(alert),
                "{version}: not refused with the server's {alert:?} alert:\n{out}"
            );
        }
    }
    eventually_in_log(&srv, "TLS handshake failed");

    // The right CA but no system's subject: no identity; 401 without a
    // token (and a token still works, as it would without a certificate).
    let r = post(tls_client(d, Some(&stranger)), None)
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    eventually_in_log(&srv, "client certificate maps to no system");
    let r = post(tls_client(d, Some(&stranger)), Some(DEMO_TOKEN))
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);

    // No certificate where the identity must come from one: the API needs
    // a token then (401); serve.rs https_with_rustls_and_mutual_tls shows
    // the same for intake.
    let r = post(tls_client(d, None), None).await.expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A system's certificate is no person's session: the pages still ask
    // for a login.
    let r = tls_client(d, Some(d))
        .get(format!("{url}/ui/worklist"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

/// Makes `client.pem` + `client-key.pem` in `out` with subject `subj`,
/// signed by the CA in `ca_dir`.
fn client_cert(ca_dir: &Path, out: &Path, subj: &str) {
    support::certs::issue(
        ca_dir,
        subj,
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        &out.join("client-key.pem").display().to_string(),
        &out.join("client.pem").display().to_string(),
    );
}

fn eventually_in_log(srv: &Server, what: &str) {
    for _ in 0..50 {
        if srv.log_text().contains(what) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what:?} not in the log:\n{}", srv.log_text());
}

// ---- 7. TLS versions and cipher suites ----------------------------------------------

/// `openssl s_client` to `addr` with `args`, bounded by `timeout` (20 s);
/// whether a handshake was completed, and what openssl said. `old`: allow
/// the client to offer anything (security level 0), so that a failure is
/// the server's refusal.
fn s_client(addr: &str, args: &[&str], old: bool) -> (bool, String) {
    let mut cmd = Command::new("timeout");
    cmd.args(["20", "openssl", "s_client", "-connect", addr])
        .args(["-servername", "localhost", "-brief"])
        .args(args);
    if old && !args.contains(&"-cipher") {
        cmd.args(["-cipher", "DEFAULT:@SECLEVEL=0"]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("timeout and openssl must be installed (Debian packages coreutils, openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(124),
        "openssl s_client timed out:\n{text}"
    );
    let ok = text.contains("CONNECTION ESTABLISHED");
    (ok, text)
}

/// Whether openssl's output shows an alert the server sent (`SSL alert
/// number N` as read from the peer), not a failure of the client's own
/// (such as "no protocols available" or "no ciphers available").
fn refused_by_server(out: &str) -> bool {
    out.contains("ssl3_read_bytes")
        && out.contains("SSL alert number")
        && !out.contains("no protocols available")
        && !out.contains("no ciphers available")
}

/// A self-signed RSA server certificate in `d` (`rsa.pem`, `rsa-key.pem`),
/// so that RSA key exchange and RSA-signed suites are possible at all.
fn rsa_certificate(d: &Path) {
    support::certs::openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "rsa-key.pem",
            "-out",
            "rsa.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        d,
    );
}

#[test]
fn tls_offers_only_1_2_and_1_3_with_ecdhe_and_aead() {
    let tmp = TempDir::new("security-tls");
    let d = tmp.path();
    support::certs::make_certificates(d);
    rsa_certificate(d);

    // The client can speak TLS 1.0 and 1.1 at all (else a failure below
    // would be its own): openssl lists the protocols it was built with.
    let help = Command::new("openssl")
        .args(["s_client", "-help"])
        .output()
        .expect("openssl");
    let help = String::from_utf8_lossy(&help.stderr).into_owned();
    for p in ["-tls1 ", "-tls1_1 "] {
        assert!(help.contains(p), "this openssl cannot offer {p}");
    }

    for (cert, key, kind) in [
        ("rsa.pem", "rsa-key.pem", "RSA"),
        ("server.pem", "server-key.pem", "ECDSA"),
    ] {
        let cfg = server::test_config(
            d,
            &format!(
                "[tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[delivery]\nenabled = false\n",
                d.join(cert).display(),
                d.join(key).display(),
            ),
        );
        let srv = Server::start(&cfg, &[], &d.join(format!("{kind}.log")));
        let addr = srv.url.trim_start_matches("https://").to_owned();

        // Old protocols: the client offers them (security level 0), the
        // server answers the ClientHello with an alert (rustls sends
        // handshake_failure, 40).
        for version in ["-tls1", "-tls1_1"] {
            let (ok, out) = s_client(&addr, &[version], true);
            assert!(!ok, "{kind}: {version} accepted:\n{out}");
            assert!(
                refused_by_server(&out),
                "{kind}: {version} not refused by the server's alert:\n{out}"
            );
        }

        // TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305 only.
        let (good, bad): (Vec<&str>, Vec<&str>) = if kind == "RSA" {
            (
                vec![
                    "ECDHE-RSA-AES128-GCM-SHA256",
                    "ECDHE-RSA-AES256-GCM-SHA384",
                    "ECDHE-RSA-CHACHA20-POLY1305",
                ],
                vec![
                    // CBC with ECDHE.
                    "ECDHE-RSA-AES128-SHA",
                    "ECDHE-RSA-AES256-SHA384",
                    // RSA key exchange (no forward secrecy), GCM and CBC.
                    "AES128-GCM-SHA256",
                    "AES256-SHA256",
                    // Finite-field Diffie-Hellman.
                    "DHE-RSA-AES128-GCM-SHA256",
                ],
            )
        } else {
            (
                vec![
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                    "ECDHE-ECDSA-AES256-GCM-SHA384",
                    "ECDHE-ECDSA-CHACHA20-POLY1305",
                ],
                vec!["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"],
            )
        };
        for suite in good {
            let (ok, out) = s_client(&addr, &["-tls1_2", "-cipher", suite], false);
            assert!(ok, "{kind}: TLS 1.2 {suite} refused:\n{out}");
            assert!(out.contains(&format!("Ciphersuite: {suite}")), "{out}");
        }
        for suite in bad {
            let cipher = format!("{suite}:@SECLEVEL=0");
            let (ok, out) = s_client(&addr, &["-tls1_2", "-cipher", &cipher], false);
            assert!(!ok, "{kind}: TLS 1.2 {suite} accepted:\n{out}");
            assert!(
                refused_by_server(&out),
                "{kind}: {suite} not refused by the server's alert:\n{out}"
            );
        }
        let (ok, out) = s_client(&addr, &["-tls1_3"], false);
        assert!(ok, "{kind}: TLS 1.3 refused:\n{out}");
        assert!(out.contains("Protocol version: TLSv1.3"), "{out}");
        srv.kill();
    }
}

// ---- 8. A full run leaves no patient in any log --------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_leaves_no_national_id_or_name_in_any_log() {
    let examples = support::corpus::examples();
    // Every HER-id a message of the examples names is one of the nurse's
    // units, so that she reads every message as a clinical document.
    let mut units: BTreeSet<String> = BTreeSet::new();
    for (_, bytes) in &examples {
        let m = support::patients::read(bytes);
        for party in [m.sender(), m.receiver()].into_iter().flatten() {
            for her in [party.her_id(), party.most_specific_her_id()]
                .into_iter()
                .flatten()
            {
                units.insert(her.to_owned());
            }
        }
    }
    let units: Vec<&str> = units.iter().map(String::as_str).collect();
    let users_dir = TempDir::new("security-full-users");
    let users = users(users_dir.path(), &units);
    let users = users.display().to_string();
    let net = Net::start_with(
        "security-full",
        &[],
        &[
            (ST_OLAV, "ok"),
            (ALVDAL, "ok"),
            (KATTSKINNET, "ok"),
            (SOLVIK, "ok"),
            (SOLVIK_TILDELING, "ok"),
        ],
        &[],
        &[
            ("OVERGANG_UI__USERS", users.as_str()),
            ("OVERGANG_LOG__LEVEL", "debug"),
        ],
    )
    .await;
    let url = net.gw.url.clone();

    let mut ids = Vec::new();
    for (name, bytes) in &examples {
        let p = net.post(bytes.clone()).await;
        assert_eq!(p.status, StatusCode::CREATED, "{name}: {}", p.body);
        ids.push(p.id.expect("id"));
    }
    // Also two readdressed to unit B (a nurse's refusal is in the run),
    // one of them to the unit whose system takes the registry's bearer
    // token (a secret of the gateway's own).
    let (_, solvik) = fresh(&addressed_to(&example(INNLAGT), "8100001", "8100002"));
    let (_, tildeling) = fresh(&addressed_to(&example(INNLAGT), "8100001", "8100003"));
    let solvik_id = net.post_ok(solvik.clone()).await;
    let tildeling_id = net.post_ok(tildeling.clone()).await;
    let mut all_ids = ids.clone();
    all_ids.extend([solvik_id.clone(), tildeling_id]);
    net.wait_all(&all_ids, "acknowledged").await;

    let mut nurse = Person::new(&url);
    nurse.login_ok("kari", PASSWORD_NURSE_A).await;
    let mut operator = Person::new(&url);
    operator.login_ok("dina", PASSWORD_OPERATOR).await;
    let _ = nurse.page("/ui/worklist").await;
    let _ = operator.page("/ui/ops").await;
    for id in &ids {
        let page = nurse.page(&format!("/ui/messages/{id}")).await;
        assert!(page.contains("<h2"), "a document");
        let _ = operator.page(&format!("/ui/ops/messages/{id}")).await;
        let _ = net.get(&format!("/api/v1/messages/{id}"), DEMO_TOKEN).await;
        let _ = net
            .get(&format!("/api/v1/messages/{id}/receipts"), DEMO_TOKEN)
            .await;
    }
    let _ = operator.page("/ui/ops/messages").await;
    // Unit B's nurse: her unit's message, and a refusal of another's.
    let mut ola = Person::new(&url);
    ola.login_ok("ola", PASSWORD_NURSE_B).await;
    let _ = ola.page(&format!("/ui/messages/{solvik_id}")).await;
    let r = ola.get(&format!("/ui/messages/{}", ids[0])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another unit's message");
    // Patient searches by national id and by name, found and not found.
    let mut all: Vec<&[u8]> = examples.iter().map(|(_, b)| b.as_slice()).collect();
    all.push(&solvik);
    all.push(&tildeling);
    let secrets = support::patients::secrets(all.iter().copied());
    assert!(secrets.len() >= 4, "ids and names to look for");
    for s in &secrets {
        let r = nurse
            .get(&format!("/ui/worklist?q={}", support::ui::encode(s)))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let _ = nurse.get("/ui/worklist?q=01010199999").await;
    let _ = nurse.get("/ui/worklist?q=Nobody%20Known").await;

    let log = net.log();
    assert!(log.contains("answered"), "the gateway's log says little");
    assert!(log.contains("DEBUG"), "the gateway logged at debug");
    support::patients::assert_no_secrets("the gateway's log", &log, &secrets);
    for (port, sim) in &net.sims {
        support::patients::assert_no_secrets(
            &format!("the log of the simulator for {port}"),
            &sim.log_text(),
            &secrets,
        );
    }
    // Nor a bearer token: the systems' (inbound) and the one the registry
    // gives the gateway for 8100003 (outbound).
    let outbound = std::fs::read_to_string(net.token_file()).expect("token file");
    for (what, token) in [
        ("the demo token", DEMO_TOKEN),
        ("the receivers' token", RECEIVER_TOKEN),
        ("the operators' token", OPS_TOKEN),
        ("the registry's token for 8100003", outbound.trim()),
    ] {
        assert!(!log.contains(token), "the gateway's log has {what}");
        for (port, sim) in &net.sims {
            assert!(
                !sim.log_text().contains(token),
                "the log of the simulator for {port} has {what}"
            );
        }
    }
    // The searches are in the access log only as keyed hashes.
    let conn = rusqlite::Connection::open_with_flags(
        net.dir().join("data/overgang.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open store");
    let rows: Vec<String> = conn
        .prepare("SELECT coalesce(query, '') || ' ' || coalesce(patient_key, '') FROM access_log")
        .expect("prepare")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert!(rows.len() > ids.len(), "the looks were recorded");
    support::patients::assert_no_secrets("the access log", &rows.join("\n"), &secrets);
}
