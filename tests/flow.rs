//! Patient flow against the real `overgang serve`: a journey built from the
//! official examples with its dates rewritten relative to today (admitted
//! 6 days ago, declared ready 3 days ago, no admission report, no answer)
//! and fresh MsgIds, posted to the intake; then
//!
//! - the API's board shows the patient with the days counted as
//!   `overgang_flow::count_days` counts them, and the liability;
//! - the API lists the missing answer to the ready notice (`ready_answer`)
//!   and the missing admission report as overdue for the municipality, and
//!   nothing as unplaced;
//! - the coordinator of Alvdal (3428) sees the row with the patient, days
//!   and cost, and the look is in the access log (`flow_board`); the CSV
//!   export has its header and the row;
//! - a coordinator of another municipality sees no row, a nurse gets 403;
//! - `/metrics` has `overgang_flow_overdue` by rule and municipality, and no
//!   patient data.
//!
//! The gateway runs with the demo's flow rules (`config/flow-demo.toml`),
//! whose deadlines count from the dates in the notices: real time, no wait.

mod support {
    pub mod corpus;
    pub mod patients;
    pub mod server;
    pub mod tempdir;
    pub mod ui;
}

use overgang_flow::time::{day_string, oslo_day, oslo_day_start};
use overgang_server::ui::people::{hash_password, Role, UserEntry, UsersFile};
use reqwest::StatusCode;
use serde_json::Value;
use support::corpus::repo;
use support::server::{self, Server, TempDir, DEMO_TOKEN};
use support::ui::Person;

const ALVDAL: &str = "3428";
const COORDINATOR: &str = "koordinator";
const OTHER_COORDINATOR: &str = "koordinator.trondheim";
const NURSE: &str = "sykepleier";
const PASSWORD: &str = "flyt-passord-123";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64
}

/// An example with the journey's dates moved and a fresh MsgId.
fn journey_step(name: &str, admitted: &str, ready: &str) -> Vec<u8> {
    server::fresh(&support::corpus::journey_step(name, admitted, ready)).1
}

fn users(dir: &std::path::Path) -> std::path::PathBuf {
    let mut file = UsersFile::default();
    let mut add = |name: &str, roles: &[Role], units: &[&str], municipalities: &[&str]| {
        file.upsert(UserEntry {
            name: name.to_owned(),
            display_name: format!("{name} (test)"),
            password_hash: hash_password(PASSWORD).expect("hash"),
            roles: roles.to_vec(),
            units: units.iter().map(|u| u.to_string()).collect(),
            municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
        });
    };
    add(COORDINATOR, &[Role::Coordinator], &[], &[ALVDAL]);
    add(OTHER_COORDINATOR, &[Role::Coordinator], &[], &["5001"]);
    add(NURSE, &[Role::Nurse], &["99387", "5078"], &[]);
    let p = dir.join("users.toml");
    std::fs::write(&p, file.to_toml()).expect("write users");
    p
}

/// The access log as `(user, action, query)`.
fn access_log(dir: &std::path::Path) -> Vec<(String, String, Option<String>)> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("data/overgang.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open store");
    let mut st = conn
        .prepare("SELECT user, action, query FROM access_log ORDER BY seq")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

async fn get(url: &str, path: &str, accept: &str) -> (StatusCode, String) {
    let r = server::client()
        .get(format!("{url}{path}"))
        .bearer_auth(DEMO_TOKEN)
        .header("accept", accept)
        .send()
        .await
        .expect("GET");
    (r.status(), r.text().await.expect("body"))
}

async fn get_json(url: &str, path: &str) -> Value {
    let (status, body) = get(url, path, "application/json").await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// `5 745 kr` as the pages write it.
fn nok(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    format!("{out}\u{A0}kr")
}

#[tokio::test]
async fn a_patient_waiting_for_the_municipality_is_on_the_board_and_overdue() {
    let dir = TempDir::new("flow");
    let users = users(dir.path());
    let flow_file = repo().join("config/flow-demo.toml");
    let extra = format!(
        "[flow]\nfile = \"{}\"\n\n[ui]\nusers = \"{}\"\n",
        flow_file.display(),
        users.display()
    );
    let config = server::test_config(dir.path(), &extra);
    let gw = Server::start(&config, &[], &dir.path().join("server.log"));
    let url = gw.url.clone();

    // The journey: admitted 6 days ago, ready 3 days ago, no admission
    // report and no answer.
    const WAITED: i64 = 3;
    let today = oslo_day(now_ms());
    let admitted = day_string(today - 6);
    let ready = day_string(today - WAITED);
    let steps = [
        journey_step(
            "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml",
            &admitted,
            &ready,
        ),
        journey_step(
            "Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml",
            &admitted,
            &ready,
        ),
    ];
    let secrets = support::patients::secrets(steps.iter().map(|b| b.as_slice()));
    let c = server::client();
    let mut ids = Vec::new();
    for bytes in &steps {
        let (status, v) = server::post_message(&c, &url, bytes.clone()).await;
        assert!(status.is_success(), "intake answered {status}: {v}");
        ids.push(v["id"].as_str().expect("id").to_owned());
    }

    // The board, counted as the flow crate counts.
    let config =
        overgang_flow::FlowConfig::parse(&std::fs::read_to_string(&flow_file).expect("flow rules"))
            .expect("flow rules parse");
    let ready_at = oslo_day_start(today - WAITED);
    let before = overgang_flow::count_days(&config, ready_at, now_ms());
    let board = get_json(&url, &format!("/api/v1/flow/board?municipality={ALVDAL}")).await;
    let after = overgang_flow::count_days(&config, ready_at, now_ms());
    let rows = board["items"].as_array().expect("items");
    assert_eq!(rows.len(), 1, "{board:#}");
    let row = &rows[0];
    assert_eq!(row["municipality"], ALVDAL);
    assert_eq!(row["ready_date"], ready.as_str());
    assert_eq!(row["notice_message_id"], ids[1].as_str());
    assert_eq!(row["waiting"], true);
    assert_eq!(row["state"], "ready");
    let days = row["days_waiting"].as_u64().expect("days");
    let nok_owed = row["liability_nok"].as_i64().expect("liability");
    let expected = [before, after];
    assert!(
        expected
            .iter()
            .any(|&(d, n, _)| u64::from(d) == days && n == nok_owed),
        "days {days}, {nok_owed} NOK; expected one of {expected:?}"
    );
    assert!(days >= 2, "ready {WAITED} days ago: {days}");
    assert!(nok_owed > 0, "the demo rules price every day: {board:#}");
    assert_eq!(board["totals"]["liability_nok"].as_i64(), Some(nok_owed));
    // Another municipality's board is empty; a bad number is refused.
    let other = get_json(&url, "/api/v1/flow/board?municipality=5001").await;
    assert_eq!(other["items"].as_array().map(Vec::len), Some(0));
    let (status, _) = get(
        &url,
        "/api/v1/flow/board?municipality=12",
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // CSV from the API.
    let (status, csv) = get(&url, "/api/v1/flow/board", "text/csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csv.starts_with("stay_id,patient_key,hospital_her,municipality,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // Overdue: the answer to the ready notice and the admission report.
    let overdue = get_json(
        &url,
        &format!("/api/v1/flow/overdue?municipality={ALVDAL}&status=overdue"),
    )
    .await;
    let items = overdue["items"].as_array().expect("items");
    let rules: Vec<&str> = items.iter().filter_map(|i| i["rule"].as_str()).collect();
    assert!(rules.contains(&"ready_answer"), "{overdue:#}");
    assert!(rules.contains(&"admission_report"), "{overdue:#}");
    for i in items {
        assert_eq!(i["status"], "overdue");
        assert_eq!(i["municipality"], ALVDAL);
        assert!(i["late_by_secs"].as_i64().unwrap_or(0) > 0, "{i}");
    }
    let (status, _) = get(&url, "/api/v1/flow/overdue?status=soon", "application/json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unplaced = get_json(&url, "/api/v1/flow/unplaced").await;
    assert_eq!(unplaced["count"], 0, "{unplaced:#}");

    // The coordinator's board: the patient, days and cost; recorded.
    let mut coordinator = Person::new(&url);
    coordinator.login_ok(COORDINATOR, PASSWORD).await;
    let home = coordinator.get("/ui/").await;
    assert_eq!(home.location.as_deref(), Some("/ui/flow"));
    let page = coordinator.page("/ui/flow").await;
    assert!(page.contains("Roland Gundersen"), "{page}");
    assert!(page.contains("15.07.1965"), "{page}");
    assert!(page.contains("Alvdal kommune (3428)"), "{page}");
    assert!(
        page.contains(&format!("<td class=\"num\">{days}</td>")),
        "{page}"
    );
    assert!(page.contains(&nok(nok_owed)), "{page}");
    assert!(page.contains("ingen kvittering ennå"), "{page}");
    assert!(
        page.contains("href=\"/ui/flow\""),
        "the menu links the board"
    );
    assert!(page.contains("<th scope=\"col\">Dager</th>"), "{page}");
    let log = access_log(dir.path());
    assert!(
        log.iter().any(|(u, a, q)| u == COORDINATOR
            && a == "flow_board"
            && q.as_deref() == Some("1 rows")),
        "{log:?}"
    );
    // Overdue page: the rule in words.
    let page = coordinator.page("/ui/flow/overdue").await;
    assert!(
        page.contains("Kommunens svar på melding om utskrivningsklar pasient"),
        "{page}"
    );
    assert!(page.contains("ready_answer"), "{page}");
    // CSV export, same scope, also recorded.
    let csv = coordinator.get("/ui/flow/board.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/csv")));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", csv.body);
    assert!(lines[0].starts_with("stay_id,patient_key"));
    assert!(
        lines[1].contains(&format!(",{ALVDAL},ready,{ready},")),
        "{}",
        lines[1]
    );
    assert!(access_log(dir.path())
        .iter()
        .any(|(u, a, q)| u == COORDINATOR
            && a == "flow_board"
            && q.as_deref().is_some_and(|q| q.starts_with("csv"))));
    // A municipality outside the coordinator's is not chosen.
    let page = coordinator.page("/ui/flow?municipality=5001").await;
    assert!(page.contains("Roland Gundersen"), "falls back to their own");

    // Another municipality's coordinator sees no row; a nurse gets 403.
    let mut other = Person::new(&url);
    other.login_ok(OTHER_COORDINATOR, PASSWORD).await;
    let page = other.page("/ui/flow").await;
    assert!(!page.contains("Gundersen"), "{page}");
    assert!(page.contains("Ingen pasienter"), "{page}");
    let page = other.page("/ui/flow/overdue").await;
    assert!(!page.contains("ready_answer"), "{page}");
    let csv = other.get("/ui/flow/board.csv").await;
    assert_eq!(csv.body.lines().count(), 1, "{}", csv.body);
    let mut nurse = Person::new(&url);
    nurse.login_ok(NURSE, PASSWORD).await;
    for path in ["/ui/flow", "/ui/flow/overdue", "/ui/flow/board.csv"] {
        assert_eq!(
            nurse.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let page = nurse.page("/ui/worklist").await;
    assert!(
        !page.contains("href=\"/ui/flow\""),
        "no board link for nurses"
    );

    // The metric: by rule and municipality, no patient data.
    let (status, metrics) = get(&url, "/metrics", "text/plain").await;
    assert_eq!(status, StatusCode::OK);
    let line = |rule: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "overgang_flow_overdue{{rule=\"{rule}\",municipality=\"{ALVDAL}\"}}"
                ))
            })
            .map(str::to_owned)
    };
    assert!(
        line("ready_answer").is_some_and(|l| l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(
        line("admission_report").is_some_and(|l| l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(line("discharge_report").is_some_and(|l| l.ends_with(" 0")));
    support::patients::assert_no_secrets("/metrics", &metrics, &secrets);
    support::patients::assert_no_secrets("the API's CSV", &csv_of(&url).await, &secrets);
    support::patients::assert_no_secrets("the server log", &gw.log_text(), &secrets);
    gw.kill();
}

async fn csv_of(url: &str) -> String {
    get(url, "/api/v1/flow/board?format=csv", "*/*").await.1
}
