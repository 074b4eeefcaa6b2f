//! The derived habitual baseline end to end, against the real binary
//! (docs/FLOW.md, "The derived habitual baseline"):
//!
//! - a patient's earlier admission report (its functional assessment dated
//!   20 days ago) and a later one from a new admission, both without the
//!   Funksjonsprofil extension: the earlier one gets HAB-01 as a warning,
//!   the later one HAB-01 as information naming the derived baseline's date
//!   and source message;
//! - the nurse's page of the later report shows the habitual levels marked
//!   derived, with their date and a link to the source message, and the
//!   at-discharge column;
//! - `overgang flow rebuild` (beside the running gateway) writes the same
//!   facts intake wrote, after they were deleted; `overgang flow stays`
//!   counts them. Neither prints patient data.

mod support {
    pub mod corpus;
    pub mod patients;
    pub mod server;
    pub mod tempdir;
    pub mod ui;
}

use overgang_server::ui::people::Role;
use serde_json::Value;
use std::process::Command;
use support::corpus::example;
use support::server::{self, Server, TempDir};
use support::ui::{users_file, Person};

const NURSE_PW: &str = "nurse-password-1";

/// `dd.mm.yyyy` and `yyyy-mm-dd` of the day `days_ago` days before today
/// (Norwegian time).
fn day(days_ago: i64) -> (String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let iso = overgang_flow::time::day_string(overgang_flow::time::oslo_day(now) - days_ago);
    let no = format!("{}.{}.{}", &iso[8..10], &iso[5..7], &iso[0..4]);
    (no, iso)
}

/// The official admission report with a fresh MsgId and its functional
/// assessment dated `date` (`dd.mm.yyyy`).
fn admission_report(date: &str) -> Vec<u8> {
    let text = String::from_utf8(example("Innleggelsesrapport_v1-6_Ny.xml")).expect("utf-8");
    assert!(text.contains("Funksjonsvurdering gjort 22.01.18."));
    let text = text.replace(
        "Funksjonsvurdering gjort 22.01.18.",
        &format!("Funksjonsvurdering gjort {date}."),
    );
    server::fresh(text.as_bytes()).1
}

fn hab01(answer: &Value) -> Value {
    answer["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "HAB-01")
        .cloned()
        .unwrap_or_else(|| panic!("no HAB-01 in {answer}"))
}

fn overgang(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(args)
        .output()
        .expect("run overgang");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn facts(dir: &std::path::Path) -> Vec<(String, Option<String>, i64, String)> {
    let conn = rusqlite::Connection::open(dir.join("data/overgang.db")).expect("open store");
    let mut st = conn
        .prepare(
            "SELECT message_id, patient_key, received_at, fact FROM flow_facts ORDER BY message_id",
        )
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

#[tokio::test]
async fn a_later_stay_gets_the_derived_baseline_and_rebuild_restores_the_facts() {
    let dir = TempDir::new("flow-baseline");
    let users = users_file(
        dir.path(),
        &[("kari", NURSE_PW, &[Role::Nurse], &["99387", "5078"])],
    );
    let extra = format!(
        "[ui]\nusers = \"{}\"\n\n[delivery]\nenabled = false\n",
        users.display()
    );
    let config = server::test_config(dir.path(), &extra);
    let gw = Server::start(&config, &[], &dir.path().join("server.log"));
    let c = server::client();

    // The earlier report: nothing to derive from, HAB-01 warns.
    let (earlier_nb, earlier_iso) = day(20);
    let (status, first) = server::post_message(&c, &gw.url, admission_report(&earlier_nb)).await;
    assert!(status.is_success(), "{status}: {first}");
    let first_id = first["id"].as_str().expect("id").to_owned();
    assert_eq!(hab01(&first)["severity"], "warning", "{first}");

    // The later report, from a new admission today.
    let (today_nb, _) = day(0);
    let (status, second) = server::post_message(&c, &gw.url, admission_report(&today_nb)).await;
    assert!(status.is_success(), "{status}: {second}");
    let second_id = second["id"].as_str().expect("id").to_owned();
    let h = hab01(&second);
    assert_eq!(h["severity"], "info", "{second}");
    let nb = h["text_nb"].as_str().expect("text_nb");
    let en = h["text_en"].as_str().expect("text_en");
    assert!(
        nb.contains("utledet") && nb.contains(&earlier_nb) && nb.contains(&first_id),
        "{nb}"
    );
    assert!(
        en.contains("derived") && en.contains(&earlier_iso) && en.contains(&first_id),
        "{en}"
    );

    // The nurse's page of the later report.
    let mut kari = Person::new(&gw.url);
    kari.login_ok("kari", NURSE_PW).await;
    let page = kari.page(&format!("/ui/messages/{second_id}")).await;
    assert!(page.contains("badge derived"), "no derived badge");
    assert!(
        page.contains(&format!("href=\"/ui/messages/{first_id}\"")),
        "no link to the source message"
    );
    assert!(page.contains(&earlier_nb), "no date of the derived level");
    assert!(
        page.contains("Ved utskrivning") || page.contains("At discharge"),
        "no at-discharge column"
    );
    // The earlier report's own page has no derived level (nothing before it).
    let page = kari.page(&format!("/ui/messages/{first_id}")).await;
    assert!(!page.contains("badge derived"));

    // Rebuild beside the running gateway: the same facts as intake wrote.
    let before = facts(dir.path());
    assert_eq!(before.len(), 2, "{before:?}");
    {
        let conn = rusqlite::Connection::open(dir.path().join("data/overgang.db")).expect("open");
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .expect("busy timeout");
        conn.execute("DELETE FROM flow_facts", []).expect("delete");
    }
    assert!(facts(dir.path()).is_empty());
    let cfg = config.display().to_string();
    let (code, out, err) = overgang(&["flow", "rebuild", "--config", &cfg]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("messages: 2"), "{out}");
    assert!(out.contains("facts written: 2"), "{out}");
    assert_eq!(facts(dir.path()), before);
    // No patient data in the output: no national id, no name, no key.
    let secrets =
        support::patients::secrets([example("Innleggelsesrapport_v1-6_Ny.xml").as_slice()]);
    support::patients::assert_no_secrets("flow rebuild", &out, &secrets);
    for (_, key, _, _) in &before {
        if let Some(k) = key {
            assert!(!out.contains(k.as_str()));
        }
    }

    let (code, out, err) = overgang(&["flow", "stays", "--config", &cfg, "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["facts"], 2, "{v}");
    assert!(v["unplaced"].is_u64(), "{v}");
    let (code, out, _) = overgang(&["flow", "stays", "--config", &cfg]);
    assert_eq!(code, 0);
    assert!(out.contains("unplaced messages:"), "{out}");

    gw.terminate(std::time::Duration::from_secs(10));
}
