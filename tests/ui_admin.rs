//! End-to-end tests of the administrator's pages (`/ui/admin/…`): the real
//! gateway (`overgang serve`) with a users file and the demo registry,
//! spoken to over HTTP as a browser would (session cookie, CSRF tokens from
//! the pages' forms, redirects not followed).
//!
//! - every admin page answers an admin with what it is about (a known user,
//!   a known HER-id, a known rule id), and never a registry secret;
//! - an operator and a nurse get 403 on each of them;
//! - a nurse's look at a message is in the access log page and its CSV
//!   export under the nurse's name; the patient filter by the example's
//!   national id finds it, that search is itself in the log, and the id is
//!   in no URL or page; a filter token is worthless in another session;
//! - the CSV is `text/csv`, an attachment, with its header row;
//! - a registry reload without a CSRF token is refused (403); with one the
//!   registry is read again, and a broken file is reported on the page
//!   while the previous registry stays in force.

mod support {
    pub mod corpus;
    pub mod server;
    pub mod tempdir;
}

use overgang_server::ui::people::{hash_password, Role, UserEntry, UsersFile};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::server::{with_msg_id, Server, TempDir, DEMO_TOKEN};

const PASSWORD: &str = "correct horse battery";
/// The example a nurse reads: Pasientlogistikk, innlagt pasient, from St.
/// Olavs (59/90998) to Alvdal kommune's Sykepleietjeneste (99387/5078).
const EXAMPLE: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml";
/// The example's patient's national id (the official example's own).
const EXAMPLE_NID: &str = "15076500565";
const NURSE_UNIT: &str = "5078";

fn client() -> reqwest::Client {
    // reqwest is built without a TLS crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn user(name: &str, display: &str, roles: &[Role], units: &[&str]) -> UserEntry {
    UserEntry {
        name: name.into(),
        display_name: display.into(),
        password_hash: hash_password(PASSWORD).expect("hash"),
        roles: roles.to_vec(),
        units: units.iter().map(|u| u.to_string()).collect(),
    }
}

/// The demo registry copied into `dir` (so a test may break it), its
/// secret files where they are in the repository.
fn registry_copy(dir: &Path) -> PathBuf {
    let demo = support::corpus::repo().join("config/registry");
    let text = std::fs::read_to_string(demo.join("demo.toml"))
        .expect("read demo registry")
        .replace(
            "\"demo-secrets/",
            &format!("\"{}/", demo.join("demo-secrets").display()),
        );
    let p = dir.join("registry.toml");
    std::fs::write(&p, text).expect("write registry");
    p
}

struct Setup {
    _tmp: TempDir,
    server: Server,
    registry: PathBuf,
    users: PathBuf,
}

fn start(tag: &str) -> Setup {
    let tmp = TempDir::new(tag);
    let users = UsersFile {
        users: vec![
            user("anne", "Anne Admin", &[Role::Admin], &[]),
            user("ola", "Ola Drift", &[Role::Operator], &[]),
            user("kari", "Kari Sykepleier", &[Role::Nurse], &[NURSE_UNIT]),
        ],
    };
    let users_path = tmp.path().join("users.toml");
    std::fs::write(&users_path, users.to_toml()).expect("write users");
    let registry = registry_copy(tmp.path());
    let extra = format!("[ui]\nusers = \"{}\"\n", users_path.display());
    let config =
        support::server::test_config_with_registry(tmp.path(), &registry, "poll_secs = 0", &extra);
    let server = Server::start(&config, &[], &tmp.path().join("server.log"));
    Setup {
        _tmp: tmp,
        server,
        registry,
        users: users_path,
    }
}

/// `application/x-www-form-urlencoded` of the pairs.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first hidden `_csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_owned()
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("overgang_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// A logged-in browser: the session cookie and the session's CSRF token.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn login(base: &str, name: &str) -> Browser {
        let http = client();
        let r = http
            .get(format!("{base}/ui/login"))
            .send()
            .await
            .expect("GET login");
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = session_cookie(&r).expect("login form sets a session cookie");
        let csrf = csrf_of(&r.text().await.expect("body"));
        let r = http
            .post(format!("{base}/ui/login"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("_csrf", &csrf),
                ("user", name),
                ("password", PASSWORD),
                ("next", "/ui/"),
            ]))
            .send()
            .await
            .expect("POST login");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login as {name}");
        let cookie = session_cookie(&r).expect("a new session at login");
        let mut b = Browser {
            http,
            base: base.to_owned(),
            cookie,
            csrf: String::new(),
        };
        // Every page's header has the logout form with the session's token
        // (the refusal a non-admin gets here too).
        let (_, html) = b.get_text("/ui/admin").await;
        b.csrf = csrf_of(&html);
        b
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let r = self.get(path).await;
        let status = r.status();
        (status, r.text().await.expect("body"))
    }

    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location in a {} answer", r.status()))
        .to_owned()
}

const ADMIN_PAGES: [&str; 6] = [
    "/ui/admin",
    "/ui/admin/users",
    "/ui/admin/registry",
    "/ui/admin/rules",
    "/ui/admin/access",
    "/ui/admin/access.csv",
];

#[tokio::test]
async fn admin_pages_show_users_registry_and_rules_and_only_to_admins() {
    let setup = start("ui-admin-pages");
    let base = &setup.server.url;
    let anne = Browser::login(base, "anne").await;

    let (status, html) = anne.get_text("/ui/admin").await;
    assert_eq!(status, StatusCode::OK);
    for link in &ADMIN_PAGES[1..5] {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "index links {link}"
        );
    }

    let (status, html) = anne.get_text("/ui/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Kari Sykepleier"), "{html}");
    assert!(html.contains(">kari<"), "user name");
    assert!(
        html.contains("Sykepleietjeneste"),
        "a unit by its registry name"
    );
    assert!(
        html.contains("Sykepleier") && html.contains("Drift"),
        "roles"
    );
    assert!(
        html.contains("overgang users add"),
        "users are managed with the CLI"
    );
    assert!(html.contains("Brukerfila er lest og i bruk"), "file status");
    assert!(!html.contains("$argon2"), "no password hashes");

    let (status, html) = anne.get_text("/ui/admin/registry").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"her-99387\""), "a party's row");
    assert!(html.contains("Alvdal kommune"));
    assert!(html.contains("http://127.0.0.1:9102/plo"), "an endpoint");
    assert!(html.contains("LOG_INNLAGT"), "accepted types");
    assert!(html.contains("Bearer-token"), "an auth kind");
    assert!(
        !html.contains("demo-only-receiver-token") && !html.contains("solvik-tildeling.token"),
        "no secret file's content or name"
    );
    assert!(html.contains("action=\"/ui/admin/registry/reload\""));

    let (status, html) = anne.get_text("/ui/admin/rules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"rule-PAS-ID-01\""), "a known rule");
    let en = {
        let r = anne
            .http
            .get(format!("{base}/ui/admin/rules"))
            .header("cookie", format!("{}; overgang_lang=en", anne.cookie))
            .send()
            .await
            .expect("GET rules in English");
        r.text().await.expect("body")
    };
    assert!(en.contains("<html lang=\"en\""));
    assert_ne!(html, en, "the rule texts follow the language");
    // The rules are sorted by id.
    let ids: Vec<&str> = html
        .match_indices("id=\"rule-")
        .map(|(i, _)| {
            let rest = &html[i + 9..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(ids.len() > 10, "{ids:?}");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);

    // Not an admin: refused, each page.
    let ola = Browser::login(base, "ola").await;
    let kari = Browser::login(base, "kari").await;
    for who in [&ola, &kari] {
        for p in ADMIN_PAGES {
            let r = who.get(p).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{p}");
        }
        let r = who
            .post("/ui/admin/registry/reload", &[("_csrf", &who.csrf)])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = who
            .post(
                "/ui/admin/access",
                &[("_csrf", &who.csrf), ("patient", EXAMPLE_NID)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // A broken users file: refused and reported; the last good one stays.
    std::fs::write(&setup.users, "not toml [").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, html) = anne.get_text("/ui/admin/users").await;
    assert_eq!(status, StatusCode::OK, "anne is still known");
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("Brukerfila ble avvist"));
    assert!(html.contains("Kari Sykepleier"), "the last good file stays");

    // Not logged in: to the login page.
    let r = client()
        .get(format!("{base}/ui/admin/users"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/ui/login"));
}

#[tokio::test]
async fn a_nurses_look_is_in_the_access_log_and_its_export() {
    let setup = start("ui-admin-access");
    let base = &setup.server.url;
    let http = client();

    // A message to the nurse's unit, and the nurse reads it.
    let path = support::corpus::official_dir().join(EXAMPLE);
    let bytes = std::fs::read(&path).expect("read example");
    let body = with_msg_id(&bytes, &uuid::Uuid::new_v4().to_string());
    let r = http
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(DEMO_TOKEN)
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST message");
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.expect("JSON");
    let id = v["id"].as_str().expect("id").to_owned();

    let kari = Browser::login(base, "kari").await;
    let r = kari.get(&format!("/ui/messages/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK, "the nurse reads the message");

    let anne = Browser::login(base, "anne").await;
    let (status, html) = anne.get_text("/ui/admin/access").await;
    assert_eq!(status, StatusCode::OK);
    let row = row_with(&html, &id).expect("the look is listed");
    assert!(row.contains(">kari<"), "{row}");
    assert!(row.contains("view_message"), "{row}");
    assert!(
        row.contains(&format!("href=\"/ui/ops/messages/{id}\"")),
        "{row}"
    );
    assert!(row.contains("Sykepleietjeneste"), "the unit: {row}");
    assert!(html.contains("ingen side eller funksjon her endrer eller sletter"));

    // Filter by user.
    let (_, html) = anne.get_text("/ui/admin/access?user=kari").await;
    assert!(row_with(&html, &id).is_some());
    let (_, html) = anne.get_text("/ui/admin/access?user=ola").await;
    assert!(
        row_with(&html, &id).is_none(),
        "another user's entries only"
    );
    // Filter by date: today has it, a day long ago has not.
    let (_, html) = anne
        .get_text("/ui/admin/access?from=2001-01-01&to=2001-01-02")
        .await;
    assert!(row_with(&html, &id).is_none());

    // The CSV, unfiltered.
    let r = anne.get("/ui/admin/access.csv?user=kari").await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cd.starts_with("attachment;") && cd.contains(".csv"), "{cd}");
    let csv = r.text().await.expect("CSV");
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("seq,time,user,action,message_id,query,unit,outcome")
    );
    let line = csv
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("the look in the CSV:\n{csv}"));
    assert!(
        line.contains(&format!(",kari,view_message,{id},,{NURSE_UNIT},ok")),
        "{line}"
    );

    // The patient filter: posted, the search recorded, the id nowhere.
    let r = anne
        .post(
            "/ui/admin/access",
            &[("_csrf", &anne.csrf), ("patient", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "an empty filter is fine");
    let r = anne
        .post("/ui/admin/access", &[("patient", EXAMPLE_NID)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let r = anne
        .post(
            "/ui/admin/access",
            &[("_csrf", &anne.csrf), ("patient", EXAMPLE_NID)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let filtered = location(&r);
    assert!(filtered.starts_with("/ui/admin/access?pt="), "{filtered}");
    assert!(!filtered.contains(EXAMPLE_NID));
    let (status, html) = anne.get_text(&filtered).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(EXAMPLE_NID), "the id is not echoed");
    assert!(
        row_with(&html, &id).is_some(),
        "the patient's look is found"
    );
    let search = row_with(&html, "search_access_log").expect("the search itself is logged");
    assert!(search.contains(">anne<"), "{search}");

    // Another patient: not kari's look.
    let r = anne
        .post(
            "/ui/admin/access",
            &[("_csrf", &anne.csrf), ("patient", "01017012345")],
        )
        .await;
    let (_, other) = anne.get_text(&location(&r)).await;
    assert!(
        row_with(&other, &id).is_none(),
        "another patient's entries only"
    );
    // Not a national id: refused, and not echoed.
    let r = anne
        .post(
            "/ui/admin/access",
            &[("_csrf", &anne.csrf), ("patient", "Ola Nordmann")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!r.text().await.unwrap().contains("Nordmann"));

    // The CSV with the patient filter.
    let token_query = filtered.split_once('?').unwrap().1.to_owned();
    let r = anne
        .get(&format!("/ui/admin/access.csv?{token_query}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert!(csv.contains(&format!(",kari,view_message,{id},")), "{csv}");
    assert!(csv.contains(",anne,search_access_log,"), "{csv}");
    assert!(!csv.contains(EXAMPLE_NID));

    // The token is this session's only.
    let anne2 = Browser::login(base, "anne").await;
    let (_, html) = anne2.get_text(&filtered).await;
    assert!(
        row_with(&html, &id).is_none(),
        "a token is worthless elsewhere"
    );
    assert!(html.contains("Pasientfilteret er utløpt"));
    let r = anne2
        .get(&format!("/ui/admin/access.csv?{token_query}"))
        .await;
    assert_eq!(r.status(), StatusCode::GONE);

    // The server's log has neither the id nor the token's patient.
    let log = setup.server.log_text();
    assert!(!log.contains(EXAMPLE_NID), "no national id in the log");
}

/// The table row (`<tr …>…</tr>`) of the page that contains `needle`.
fn row_with<'a>(html: &'a str, needle: &str) -> Option<&'a str> {
    let tbody = &html[html.find("<tbody>")?..];
    tbody
        .split("<tr")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap_or(r))
        .find(|r| r.contains(needle))
}

#[tokio::test]
async fn a_registry_reload_needs_the_csrf_token_and_reports_a_broken_file() {
    let setup = start("ui-admin-reload");
    let base = &setup.server.url;
    let anne = Browser::login(base, "anne").await;

    let r = anne.post("/ui/admin/registry/reload", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token");
    let r = anne
        .post("/ui/admin/registry/reload", &[("_csrf", "forged")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong token");
    let r = anne
        .http
        .post(format!("{base}/ui/admin/registry/reload"))
        .header("cookie", &anne.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no form at all");

    // A new party in the file, then a reload from the page.
    let mut text = std::fs::read_to_string(&setup.registry).unwrap();
    text.push_str(
        "\n[[party]]\nher = \"7777001\"\nname = \"Nytt legekontor\"\nkind = \"organisation\"\n",
    );
    std::fs::write(&setup.registry, &text).unwrap();
    let (_, before) = anne.get_text("/ui/admin/registry").await;
    assert!(!before.contains("id=\"her-7777001\""), "not yet read");
    let r = anne
        .post("/ui/admin/registry/reload", &[("_csrf", &anne.csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert_eq!(to, "/ui/admin/registry?reload=ok");
    let (_, html) = anne.get_text(&to).await;
    assert!(
        html.contains("id=\"her-7777001\""),
        "the new party is in force"
    );
    assert!(html.contains("Registeret er lest inn på nytt"));
    let log = setup.server.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("registry reloaded from the admin page") && l.contains("anne")),
        "who reloaded is in the log:\n{log}"
    );

    // A broken file: refused, the previous registry stays, the error shown.
    text.push_str("\n[[party]]\nher = \"x1\"\nname = \"Feil\"\nkind = \"gp\"\n");
    std::fs::write(&setup.registry, &text).unwrap();
    let r = anne
        .post("/ui/admin/registry/reload", &[("_csrf", &anne.csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert_eq!(to, "/ui/admin/registry?reload=failed");
    let (_, html) = anne.get_text(&to).await;
    assert!(html.contains("role=\"alert\""));
    assert!(
        html.contains("registry.toml:"),
        "the error names the file and line"
    );
    assert!(
        html.contains("id=\"her-7777001\""),
        "the previous registry stays"
    );
}
