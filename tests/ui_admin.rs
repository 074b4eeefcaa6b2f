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
    pub mod ui;
}

use overgang_server::ui::people::Role;
use reqwest::StatusCode;
use std::path::PathBuf;
use std::time::Duration;
use support::server::{client, fresh, post_message, Server, TempDir};
use support::ui::{csrf_of, users_file_named, Page, Person};

const PASSWORD: &str = "correct horse battery";
/// The example a nurse reads: Pasientlogistikk, innlagt pasient, from St.
/// Olavs (59/90998) to Alvdal kommune's Sykepleietjeneste (99387/5078).
const EXAMPLE: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml";
/// The example's patient's national id (the official example's own).
const EXAMPLE_NID: &str = "15076500565";
const NURSE_UNIT: &str = "5078";

struct Setup {
    _tmp: TempDir,
    server: Server,
    registry: PathBuf,
    users: PathBuf,
}

fn start(tag: &str) -> Setup {
    let tmp = TempDir::new(tag);
    let users_path = users_file_named(
        tmp.path(),
        &[
            ("anne", "Anne Admin", PASSWORD, &[Role::Admin], &[]),
            ("ola", "Ola Drift", PASSWORD, &[Role::Operator], &[]),
            (
                "kari",
                "Kari Sykepleier",
                PASSWORD,
                &[Role::Nurse],
                &[NURSE_UNIT],
            ),
        ],
    );
    // The demo registry, copied so a test may break it.
    let registry = support::server::demo_registry_copy(tmp.path(), |text| text);
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

/// A browser logged in as `name`, with the session's CSRF token.
async fn login(base: &str, name: &str) -> Person {
    let mut p = Person::new(base);
    p.login_new_session(name, PASSWORD).await;
    // Every page's header has the logout form with the session's token
    // (the refusal a non-admin gets here too).
    let page = p.get("/ui/admin").await;
    assert!(csrf_of(&page.body).is_some(), "a form with a CSRF token");
    p
}

fn location(p: &Page) -> String {
    p.location
        .clone()
        .unwrap_or_else(|| panic!("no Location in a {} answer", p.status))
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
    let mut anne = login(base, "anne").await;

    let html = anne.page("/ui/admin").await;
    for link in &ADMIN_PAGES[1..5] {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "index links {link}"
        );
    }

    let html = anne.page("/ui/admin/users").await;
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

    let html = anne.page("/ui/admin/registry").await;
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

    let html = anne.page("/ui/admin/rules").await;
    assert!(html.contains("id=\"rule-PAS-ID-01\""), "a known rule");
    anne.lang = Some("overgang_lang=en".into());
    let en = anne.get("/ui/admin/rules").await.body;
    anne.lang = None;
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
    let mut ola = login(base, "ola").await;
    let mut kari = login(base, "kari").await;
    for who in [&mut ola, &mut kari] {
        for p in ADMIN_PAGES {
            let r = who.get(p).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{p}");
        }
        let r = who.post("/ui/admin/registry/reload", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = who
            .post("/ui/admin/access", &[("patient", EXAMPLE_NID)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // A broken users file: refused and reported; the last good one stays.
    std::fs::write(&setup.users, "not toml [").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = anne.get("/ui/admin/users").await;
    assert_eq!(r.status, StatusCode::OK, "anne is still known");
    let html = r.body;
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("Brukerfila ble avvist"));
    assert!(html.contains("Kari Sykepleier"), "the last good file stays");

    // Not logged in: to the login page.
    let r = Person::new(base).get("/ui/admin/users").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/ui/login"));
}

#[tokio::test]
async fn a_nurses_look_is_in_the_access_log_and_its_export() {
    let setup = start("ui-admin-access");
    let base = &setup.server.url;

    // A message to the nurse's unit, and the nurse reads it.
    let (_, body) = fresh(&support::corpus::example(EXAMPLE));
    let (status, v) = post_message(&client(), base, body).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = v["id"].as_str().expect("id").to_owned();

    let mut kari = login(base, "kari").await;
    let r = kari.get(&format!("/ui/messages/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "the nurse reads the message");

    let mut anne = login(base, "anne").await;
    let html = anne.page("/ui/admin/access").await;
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
    let html = anne.get("/ui/admin/access?user=kari").await.body;
    assert!(row_with(&html, &id).is_some());
    let html = anne.get("/ui/admin/access?user=ola").await.body;
    assert!(
        row_with(&html, &id).is_none(),
        "another user's entries only"
    );
    // Filter by date: today has it, a day long ago has not.
    let html = anne
        .get("/ui/admin/access?from=2001-01-01&to=2001-01-02")
        .await
        .body;
    assert!(row_with(&html, &id).is_none());

    // The CSV, unfiltered.
    let r = anne.get("/ui/admin/access.csv?user=kari").await;
    assert_eq!(r.status, StatusCode::OK);
    let ct = r.header("content-type").expect("content-type");
    assert!(ct.starts_with("text/csv"), "{ct}");
    let cd = r
        .header("content-disposition")
        .expect("content-disposition");
    assert!(cd.starts_with("attachment;") && cd.contains(".csv"), "{cd}");
    let csv = r.body;
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
    let r = anne.post("/ui/admin/access", &[("patient", "")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "an empty filter is fine");
    let r = anne
        .post_raw("/ui/admin/access", &[("patient", EXAMPLE_NID)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token");
    let r = anne
        .post("/ui/admin/access", &[("patient", EXAMPLE_NID)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let filtered = location(&r);
    assert!(filtered.starts_with("/ui/admin/access?pt="), "{filtered}");
    assert!(!filtered.contains(EXAMPLE_NID));
    let html = anne.page(&filtered).await;
    assert!(!html.contains(EXAMPLE_NID), "the id is not echoed");
    assert!(
        row_with(&html, &id).is_some(),
        "the patient's look is found"
    );
    let search = row_with(&html, "search_access_log").expect("the search itself is logged");
    assert!(search.contains(">anne<"), "{search}");

    // Another patient: not kari's look.
    let r = anne
        .post("/ui/admin/access", &[("patient", "01017012345")])
        .await;
    let other = anne.get(&location(&r)).await.body;
    assert!(
        row_with(&other, &id).is_none(),
        "another patient's entries only"
    );
    // Not a national id: refused, and not echoed.
    let r = anne
        .post("/ui/admin/access", &[("patient", "Ola Nordmann")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!r.body.contains("Nordmann"));

    // The CSV with the patient filter.
    let token_query = filtered.split_once('?').unwrap().1.to_owned();
    let r = anne
        .get(&format!("/ui/admin/access.csv?{token_query}"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let csv = r.body;
    assert!(csv.contains(&format!(",kari,view_message,{id},")), "{csv}");
    assert!(csv.contains(",anne,search_access_log,"), "{csv}");
    assert!(!csv.contains(EXAMPLE_NID));

    // The token is this session's only.
    let mut anne2 = login(base, "anne").await;
    let html = anne2.get(&filtered).await.body;
    assert!(
        row_with(&html, &id).is_none(),
        "a token is worthless elsewhere"
    );
    assert!(html.contains("Pasientfilteret er utløpt"));
    let r = anne2
        .get(&format!("/ui/admin/access.csv?{token_query}"))
        .await;
    assert_eq!(r.status, StatusCode::GONE);

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
    let mut anne = login(base, "anne").await;

    let r = anne.post_raw("/ui/admin/registry/reload", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no token");
    let r = anne
        .post_raw("/ui/admin/registry/reload", &[("_csrf", "forged")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a wrong token");
    let r = anne.post_bare("/ui/admin/registry/reload").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no form at all");

    // A new party in the file, then a reload from the page.
    let mut text = std::fs::read_to_string(&setup.registry).unwrap();
    text.push_str(
        "\n[[party]]\nher = \"7777001\"\nname = \"Nytt legekontor\"\nkind = \"organisation\"\n",
    );
    std::fs::write(&setup.registry, &text).unwrap();
    let before = anne.get("/ui/admin/registry").await.body;
    assert!(!before.contains("id=\"her-7777001\""), "not yet read");
    let r = anne.post("/ui/admin/registry/reload", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = location(&r);
    assert_eq!(to, "/ui/admin/registry?reload=ok");
    let html = anne.get(&to).await.body;
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
    let r = anne.post("/ui/admin/registry/reload", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = location(&r);
    assert_eq!(to, "/ui/admin/registry?reload=failed");
    let html = anne.get(&to).await.body;
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
