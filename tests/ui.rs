//! End-to-end tests of the web pages' people and nurse parts, over HTTP
//! against the real binary:
//!
//! - login: the form's CSRF token is required; a new session id at login
//!   (no fixation); cookie flags HttpOnly and SameSite=Strict; logout needs
//!   the token and ends the session; failed logins lock the name (429)
//!   even for the right password; pages without a session send people to
//!   the login form;
//! - the nurse's worklist shows their units' messages with findings counts,
//!   and not other units'; a patient search by national id or by name finds
//!   the patient's messages and is in the access log as keyed hashes only;
//! - opening a message of one's unit shows the document with its findings
//!   marked and is recorded; another unit's message is refused (403) and
//!   the attempt recorded as denied; an operator is sent to the metadata
//!   page, never shown clinical content;
//! - no national id or name of the patients in the gateway's log.

mod support {
    pub mod corpus;
    pub mod patients;
    pub mod server;
    pub mod tempdir;
    pub mod ui;
}

use overgang_server::ui::people::Role;
use reqwest::StatusCode;
use support::corpus::example;
use support::server::{self, Server, TempDir};
use support::ui::{users_file, Person};

const NURSE_PW: &str = "nurse-password-1";
const OPS_PW: &str = "operator-password-1";

struct Gateway {
    server: Server,
    dir: TempDir,
}

fn start(tag: &str) -> Gateway {
    let dir = TempDir::new(tag);
    let users = users_file(
        dir.path(),
        &[
            ("kari", NURSE_PW, &[Role::Nurse], &["99387", "5078"]),
            ("ola", NURSE_PW, &[Role::Nurse], &["8100001"]),
            ("dina", OPS_PW, &[Role::Operator], &[]),
        ],
    );
    let extra = format!(
        "[ui]\nusers = \"{}\"\nlogin_failures = 3\n\n[delivery]\nenabled = false\n",
        users.display()
    );
    let config = server::test_config(dir.path(), &extra);
    let server = Server::start(&config, &[], &dir.path().join("server.log"));
    Gateway { server, dir }
}

/// `bytes` addressed to organisation `org` and unit `unit` instead of
/// Alvdal kommune (99387) and its unit 5078, with a new MsgId.
fn readdressed(bytes: &[u8], org: &str, unit: &str) -> Vec<u8> {
    let msg_id = format!("00000000-0000-4000-8000-{org:0>12}");
    server::with_msg_id(&support::corpus::addressed_to(bytes, org, unit), &msg_id)
}

async fn post_message(url: &str, bytes: Vec<u8>) -> String {
    let (status, v) = server::post_message(&server::client(), url, bytes).await;
    assert!(status.is_success(), "intake answered {status}: {v}");
    v["id"].as_str().expect("id").to_owned()
}

/// The access log as `(user, action, message_id, patient_key, query, outcome)`.
fn access_log(dir: &std::path::Path) -> Vec<[Option<String>; 6]> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("data/overgang.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open store");
    let mut st = conn
        .prepare(
            "SELECT user, action, message_id, patient_key, query, outcome FROM access_log ORDER BY seq",
        )
        .expect("prepare");
    st.query_map([], |r| {
        Ok([
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ])
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

#[tokio::test]
async fn login_sessions_csrf_and_logout() {
    let g = start("ui-login");
    let mut p = Person::new(&g.server.url);

    // Without a session: to the login form, keeping where one was going.
    let r = p.get("/ui/worklist?unit=5078").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location.as_deref(),
        Some("/ui/login?next=/ui/worklist%3Funit%3D5078")
    );

    // The form sets an anonymous session cookie with the right flags.
    let form = p.get("/ui/login").await;
    assert_eq!(form.status, StatusCode::OK);
    let cookie = form.set_cookie.first().expect("a session cookie").clone();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    // Plain HTTP (loopback only): no Secure flag, which the browser would
    // refuse to send back over http.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let before = p.cookie.clone().expect("cookie kept");

    // A wrong CSRF token is refused before the password is looked at.
    let r = p
        .post_raw(
            "/ui/login",
            &[
                ("_csrf", "forged"),
                ("user", "kari"),
                ("password", NURSE_PW),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Logging in starts a new session: the id planted before is worthless.
    let r = p
        .post(
            "/ui/login",
            &[
                ("user", "kari"),
                ("password", NURSE_PW),
                ("next", "/ui/worklist"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/ui/worklist"));
    let after = p.cookie.clone().expect("new cookie");
    assert_ne!(before, after);
    let mut planted = Person::new(&g.server.url);
    planted.cookie = Some(before);
    assert_eq!(
        planted.get("/ui/worklist").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(p.get("/ui/worklist").await.status, StatusCode::OK);

    // Logout needs the token, then ends the session.
    let r = p.post_raw("/ui/logout", &[("_csrf", "forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let session = p.cookie.clone();
    let r = p.post("/ui/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.set_cookie.iter().any(|c| c.contains("Max-Age=0")));
    let mut old = Person::new(&g.server.url);
    old.cookie = session;
    assert_eq!(old.get("/ui/worklist").await.status, StatusCode::SEE_OTHER);

    // Open redirects are not followed after login.
    let mut q = Person::new(&g.server.url);
    q.get("/ui/login").await;
    let r = q
        .post(
            "/ui/login",
            &[
                ("user", "kari"),
                ("password", NURSE_PW),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/ui/"));
    drop(g.dir);
}

#[tokio::test]
async fn failed_logins_lock_the_name() {
    let g = start("ui-limit");
    let mut p = Person::new(&g.server.url);
    for _ in 0..3 {
        let r = p.login("kari", "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Feil brukernavn eller passord"));
    }
    // Now even the right password is refused, without being checked.
    let r = p.login("kari", NURSE_PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Another name is not locked.
    let r = Person::new(&g.server.url).login("dina", OPS_PW).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // An unknown name is answered like a wrong password.
    let r = Person::new(&g.server.url).login("nobody", "x").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!g.server.log_text().contains("wrong password"));
}

#[tokio::test]
async fn nurses_see_their_units_and_every_look_is_recorded() {
    let g = start("ui-nurse");
    let url = g.server.url.clone();
    let innlagt = example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml");
    let epikrise = example("Utskrivningsrapport_v1-6_Ny.xml");
    let ours = post_message(&url, innlagt.clone()).await;
    let with_warnings = post_message(&url, epikrise.clone()).await;
    let solvik_bytes = readdressed(&innlagt, "8100001", "8100002");
    let theirs = post_message(&url, solvik_bytes.clone()).await;

    let mut kari = Person::new(&url);
    kari.login_ok("kari", NURSE_PW).await;
    let list = kari.get("/ui/worklist").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&format!("/ui/messages/{ours}")));
    assert!(list.body.contains(&format!("/ui/messages/{with_warnings}")));
    assert!(!list.body.contains(&format!("/ui/messages/{theirs}")));
    assert!(list.body.contains("advars"), "findings counted on the list");
    // Only messages with findings.
    let flagged = kari.get("/ui/worklist?findings=1").await;
    assert!(flagged
        .body
        .contains(&format!("/ui/messages/{with_warnings}")));

    // Opening one of her unit's messages: the document, findings marked.
    let page = kari.get(&format!("/ui/messages/{with_warnings}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("has-finding"),
        "findings marked in the document"
    );
    assert!(page.body.contains("Funn"));
    assert_eq!(
        page.set_cookie.len(),
        0,
        "no cookie changes on an ordinary page"
    );

    // Another unit's message: refused, and the attempt recorded.
    let denied = kari.get(&format!("/ui/messages/{theirs}")).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let mut ola = Person::new(&url);
    ola.login_ok("ola", NURSE_PW).await;
    assert_eq!(
        ola.get(&format!("/ui/messages/{theirs}")).await.status,
        StatusCode::OK
    );

    // An operator never sees clinical content: sent to the metadata page.
    let mut dina = Person::new(&url);
    dina.login_ok("dina", OPS_PW).await;
    let r = dina.get(&format!("/ui/messages/{ours}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location, Some(format!("/ui/ops/messages/{ours}")));
    assert_eq!(dina.get("/ui/worklist").await.status, StatusCode::FORBIDDEN);

    // Patient search by national id and by name.
    let nid = support::patients::patient_id(&innlagt);
    let found = kari.get(&format!("/ui/worklist?q={nid}")).await;
    assert!(found.body.contains(&format!("/ui/messages/{ours}")));
    assert!(
        !found
            .body
            .contains(&format!("/ui/messages/{with_warnings}"))
            || support::patients::patient_id(&epikrise) == nid
    );
    let m = support::patients::read(&innlagt);
    let family = m
        .head
        .as_ref()
        .and_then(|h| h.patient.as_ref())
        .and_then(|p| p.family_name.expose().clone())
        .expect("family name");
    let by_name = kari
        .get(&format!(
            "/ui/worklist?q={}",
            support::ui::encode(&family.to_uppercase())
        ))
        .await;
    assert!(by_name.body.contains(&format!("/ui/messages/{ours}")));

    // The access log: the list, the view, the denial, the searches; no
    // national id or name in it, only keyed hashes.
    let log = access_log(g.dir.path());
    let has = |user: &str, action: &str, msg: Option<&str>, outcome: &str| {
        log.iter().any(|e| {
            e[0].as_deref() == Some(user)
                && e[1].as_deref() == Some(action)
                && (msg.is_none() || e[2].as_deref() == msg)
                && e[5].as_deref() == Some(outcome)
        })
    };
    assert!(has("kari", "worklist", None, "ok"));
    assert!(has("kari", "view_message", Some(&with_warnings), "ok"));
    assert!(has("kari", "view_message", Some(&theirs), "denied"));
    assert!(has("ola", "view_message", Some(&theirs), "ok"));
    assert!(!log.iter().any(|e| e[0].as_deref() == Some("dina")));
    let searches: Vec<_> = log
        .iter()
        .filter(|e| e[1].as_deref() == Some("search_patient"))
        .collect();
    assert_eq!(searches.len(), 2, "{log:?}");
    assert_eq!(searches[0][4].as_deref(), Some("national id"));
    assert_eq!(searches[0][3].as_ref().map(String::len), Some(64));
    // The search's key is the key the message's views were recorded with.
    let view_key = log
        .iter()
        .find(|e| {
            e[2].as_deref() == Some(ours.as_str()) || e[2].as_deref() == Some(theirs.as_str())
        })
        .and_then(|e| e[3].clone());
    assert_eq!(searches[0][3], view_key);
    let secrets = support::patients::secrets([&innlagt[..], &epikrise[..], &solvik_bytes[..]]);
    let text = format!("{log:?}");
    support::patients::assert_no_secrets("the access log", &text, &secrets);
    support::patients::assert_no_secrets("the gateway's log", &g.server.log_text(), &secrets);
}

#[tokio::test]
async fn the_language_toggle_and_assets() {
    let g = start("ui-lang");
    let mut p = Person::new(&g.server.url);
    p.login_ok("kari", NURSE_PW).await;
    let nb = p.get("/ui/worklist").await;
    assert!(nb.body.contains("Arbeidsliste") && nb.body.contains("lang=\"nb\""));
    let r = p.get("/ui/lang/en?back=/ui/worklist").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/ui/worklist"));
    let en = p.get("/ui/worklist").await;
    assert!(en.body.contains("Worklist") && en.body.contains("lang=\"en\""));
    // Every asset comes from the gateway itself; pages forbid others.
    let csp = reqwest::get(format!("{}/ui/login", g.server.url))
        .await
        .expect("get")
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("CSP");
    assert!(csp.contains("default-src 'self'"));
    for a in ["app.css", "app.js", "present.css"] {
        let r = p.get(&format!("/ui/assets/{a}")).await;
        assert_eq!(r.status, StatusCode::OK, "{a}");
        assert!(
            !r.body.contains("http://") && !r.body.contains("https://"),
            "{a} names no outside address"
        );
    }
    assert!(
        !nb.body.contains("https://"),
        "the page loads nothing from elsewhere"
    );
}
