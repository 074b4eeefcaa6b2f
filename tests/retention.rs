//! End-to-end: retention in the real `overgang serve`. A store is filled
//! beforehand (through the store's own API, with times in the past), then
//! the gateway starts with `[retention]` configured; its sweeper's first
//! run, at start, deletes what has expired and nothing else:
//!
//! - an old rejected message becomes a tombstone (`deleted`, its history
//!   ending `rejected → deleted` by `gateway`, its AppRec gone: 404);
//! - an old rejected message that is held, an old accepted (unrouted) one
//!   and a recent rejected one are kept;
//! - old access log entries go, recent ones stay, and the log's delete
//!   trigger still refuses an ordinary DELETE afterwards;
//! - the log says how many, and names no message of a patient;
//! - `overgang store space` and `overgang store vacuum` show the space and
//!   switch an older database to incremental auto-vacuum, once.

mod support {
    pub mod corpus;
    pub mod server;
    pub mod tempdir;
}

use overgang_store::sqlite::{SqliteOptions, SqliteStore};
use overgang_store::{Metadata, NewAccess, NewMessage, State, Store};
use serde_json::Value;
use std::time::{Duration, Instant};
use support::server::{client, test_config, Server, TempDir, DEMO_TOKEN};

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn message(id: &str, at: i64, state: State) -> NewMessage {
    NewMessage {
        id: id.into(),
        received_at: at,
        system: "demo-ehr".into(),
        idempotency_key: Some(format!("8100001|{id}")),
        sha256: [1; 32],
        original: format!("<MsgHead>{id}</MsgHead>").into_bytes(),
        meta: Metadata {
            msg_id: Some(format!("msg-{id}")),
            msg_type: Some("INNLEGGELSESRAPPORT".into()),
            sender_her: Some("8100001".into()),
            receiver_her: Some("8200002".into()),
            patient_key: Some("a-keyed-hash".into()),
            parties: vec!["8100001".into()],
            ..Metadata::default()
        },
        verdict: if state == State::Rejected {
            "rejected".into()
        } else {
            "accepted".into()
        },
        findings_json: "[]".into(),
        apprec: b"<AppRec/>".to_vec(),
        apprec_status: if state == State::Rejected { 2 } else { 1 },
        state,
        actor: "system:demo-ehr".into(),
        reason: "received".into(),
        deliveries: Vec::new(),
        route_reason: String::new(),
    }
}

fn access(at: i64) -> NewAccess {
    NewAccess {
        at,
        user: "ola".into(),
        action: "list".into(),
        message_id: None,
        patient_key: None,
        query: None,
        name_terms: None,
        unit: None,
        outcome: "ok".into(),
    }
}

async fn get(c: &reqwest::Client, url: &str, path: &str) -> (u16, Value) {
    let r = c
        .get(format!("{url}{path}"))
        .bearer_auth(DEMO_TOKEN)
        .header("accept", "application/json")
        .send()
        .await
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_what_has_expired_at_start_and_nothing_else() {
    let dir = TempDir::new("retention");
    let data = dir.path().join("data");
    let t = now();
    {
        let store = SqliteStore::open(&data, SqliteOptions::default()).unwrap();
        store
            .submit(message("old", t - 40 * DAY, State::Rejected))
            .await
            .unwrap();
        store
            .submit(message("held", t - 40 * DAY, State::Rejected))
            .await
            .unwrap();
        store
            .submit(message("unrouted", t - 400 * DAY, State::Accepted))
            .await
            .unwrap();
        store
            .submit(message("recent", t - 10 * DAY, State::Rejected))
            .await
            .unwrap();
        store
            .hold(vec!["held".into()], "stay:test".into(), t)
            .await
            .unwrap();
        for at in [t - 500 * DAY, t - 400 * DAY, t - DAY] {
            store.log_access(access(at)).await.unwrap();
        }
        store.close().await.unwrap();
    }
    let config = test_config(
        dir.path(),
        "[retention]\naccess_log_days = 365\nsweep_every_mins = 60\n\n\
         [retention.days]\nrejected = 30\nacknowledged = 90\n",
    );
    let server = Server::start(&config, &[], &dir.path().join("serve.log"));
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let old = loop {
        let (status, body) = get(&c, &server.url, "/api/v1/messages/old").await;
        assert_eq!(status, 200, "{body}");
        if body["state"] == "deleted" {
            break body;
        }
        assert!(Instant::now() < deadline, "not deleted: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let last = old["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["from"], "rejected");
    assert_eq!(last["to"], "deleted");
    assert_eq!(last["actor"], "gateway");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("retention: 30 days"),
        "{last}"
    );
    assert_eq!(old["msg_id"], "msg-old");
    let (status, _) = get(&c, &server.url, "/api/v1/messages/old/apprec").await;
    assert_eq!(status, 404);
    for (id, state) in [
        ("held", "rejected"),
        ("unrouted", "accepted"),
        ("recent", "rejected"),
    ] {
        let (status, body) = get(&c, &server.url, &format!("/api/v1/messages/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["state"], state, "{id}");
    }
    // The sweep's log line: counts only.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains("retention: deleted 1 messages") {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log_text();
    assert!(!log.contains("a-keyed-hash"));
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");

    let conn = rusqlite::Connection::open(data.join("overgang.db")).unwrap();
    let left: i64 = conn
        .query_row("SELECT count(*) FROM access_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1, "only the recent access log entry is left");
    let err = conn
        .execute("DELETE FROM access_log", [])
        .unwrap_err()
        .to_string();
    assert!(err.contains("append-only"), "{err}");
}

fn overgang(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(args)
        .output()
        .expect("run overgang");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn overgang_store_shows_the_space_and_switches_an_older_database_once() {
    let dir = TempDir::new("retention-cli");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let d = data.to_str().unwrap();
    // A database without auto-vacuum, as every store before version 8.
    {
        let conn = rusqlite::Connection::open(data.join("overgang.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
    }
    let (ok, out) = overgang(&["store", "space", "--data", d]);
    assert!(ok, "{out}");
    assert!(out.contains("auto-vacuum: none"), "{out}");
    let (ok, out) = overgang(&["store", "vacuum", "--data", d]);
    assert!(ok, "{out}");
    assert!(
        out.contains("after:  ") && out.contains("auto-vacuum: incremental"),
        "{out}"
    );
    let (ok, out) = overgang(&["store", "vacuum", "--data", d]);
    assert!(ok, "{out}");
    assert!(out.contains("already incremental"), "{out}");
    let missing = dir.path().join("missing");
    let (ok, out) = overgang(&["store", "space", "--data", missing.to_str().unwrap()]);
    assert!(!ok, "{out}");
}
