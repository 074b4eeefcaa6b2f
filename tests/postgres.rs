//! The real `overgang serve` on PostgreSQL (`[store] kind = "postgres"`),
//! on 127.0.0.1: the same answers as on the embedded store, messages kept
//! across a SIGKILL, idempotency across two nodes on one database, and a
//! node that loses its database answers 503 and recovers by itself when the
//! database comes back.
//!
//! Each test makes its own database (`tests/support/pg.rs`) and drops it at
//! the end. Without a reachable server the tests fail; they are not skipped.

mod support {
    pub mod corpus;
    pub mod patients;
    pub mod pg;
    pub mod server;
    pub mod tempdir;
    pub mod wait;
}

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use support::pg::{psql, Db};
use support::server::{client, fresh, post_message, test_config, Server, TempDir, DEMO_TOKEN};
use support::wait::eventually;

fn start(db: &Db, tmp: &TempDir, node: &str) -> Server {
    // Delivery off: the messages stay queued, so what is stored has a fixed
    // answer.
    let config = test_config(tmp.path(), "[delivery]\nenabled = false\n");
    Server::start_env(
        &config,
        &[],
        &tmp.path().join(format!("{node}.log")),
        &[
            ("OVERGANG_STORE__KIND", "postgres"),
            ("OVERGANG_STORE__URL", &db.url()),
            ("OVERGANG_STORE__NODE_ID", node),
        ],
    )
}

async fn status_of(c: &reqwest::Client, url: &str) -> Option<StatusCode> {
    c.get(url)
        .bearer_auth(DEMO_TOKEN)
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

fn examples(n: usize) -> Vec<Vec<u8>> {
    let all = support::corpus::examples();
    assert!(!all.is_empty(), "no official examples");
    (0..n).map(|i| fresh(&all[i % all.len()].1).1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_on_postgres_answers_keeps_and_is_idempotent_across_nodes() {
    let db = Db::new();
    let tmp = TempDir::new("pg-e2e");
    let c = client();
    let a = start(&db, &tmp, "node-a");
    let b = start(&db, &tmp, "node-b");
    assert_eq!(
        status_of(&c, &format!("{}/readyz", a.url)).await,
        Some(StatusCode::OK)
    );

    // Messages posted to both nodes, one store: each is readable on both.
    let mut ids = Vec::new();
    let sent = examples(12);
    let secrets = support::patients::secrets(sent.iter().map(Vec::as_slice));
    for (i, bytes) in sent.into_iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, v) = post_message(&c, &node.url, bytes.clone()).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().expect("id").to_owned();
        // The same message again, to the other node: the answer already
        // given, nothing stored twice.
        let other = if i % 2 == 0 { &b } else { &a };
        let (st2, v2) = post_message(&c, &other.url, bytes).await;
        assert_eq!(st2, StatusCode::OK, "a replay on the other node: {v2}");
        assert_eq!(v2["id"].as_str(), Some(id.as_str()));
        ids.push(id);
    }
    for id in &ids {
        for node in [&a, &b] {
            assert_eq!(
                status_of(&c, &format!("{}/api/v1/messages/{id}", node.url)).await,
                Some(StatusCode::OK),
                "{id} on {}",
                node.url
            );
        }
    }
    let page: serde_json::Value = c
        .get(format!("{}/api/v1/messages?limit=100", b.url))
        .bearer_auth(DEMO_TOKEN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(ids.len()));

    // SIGKILL one node and start it again: everything is there.
    a.kill();
    let a = start(&db, &tmp, "node-a");
    for id in &ids {
        assert_eq!(
            status_of(&c, &format!("{}/api/v1/messages/{id}", a.url)).await,
            Some(StatusCode::OK)
        );
    }
    assert!(a.terminate(Duration::from_secs(20)).success());
    assert!(b.terminate(Duration::from_secs(20)).success());
    // No patient's national id or name in either node's log.
    for node in ["node-a", "node-b"] {
        let log = std::fs::read_to_string(tmp.path().join(format!("{node}.log")))
            .expect("the node's log");
        support::patients::assert_no_secrets(node, &log, &secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_its_database_answers_503_and_recovers() {
    let db = Db::new();
    let tmp = TempDir::new("pg-e2e-loss");
    let c = client();
    let srv = start(&db, &tmp, "node-a");
    let mut bodies = examples(3).into_iter();
    let (st, _) = post_message(&c, &srv.url, bodies.next().unwrap()).await;
    assert_eq!(st, StatusCode::CREATED);

    // The database goes away: no new sessions, the node's cut.
    psql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        db.name
    ));
    psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        db.name
    ));
    eventually("readyz answers 503", Duration::from_secs(30), || async {
        match status_of(&c, &format!("{}/readyz", srv.url)).await {
            Some(StatusCode::SERVICE_UNAVAILABLE) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let lost = bodies.next().unwrap();
    let (st, v) = post_message(&c, &srv.url, lost.clone()).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(
        status_of(&c, &format!("{}/healthz", srv.url)).await,
        Some(StatusCode::OK),
        "the process itself is alive"
    );

    // It comes back: the node recovers without a restart, and the message
    // refused meanwhile is taken when the sender tries again.
    psql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name
    ));
    eventually(
        "readyz answers 200 again",
        Duration::from_secs(30),
        || async {
            match status_of(&c, &format!("{}/readyz", srv.url)).await {
                Some(StatusCode::OK) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let (st, v) = post_message(&c, &srv.url, lost).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, _) = post_message(&c, &srv.url, bodies.next().unwrap()).await;
    assert_eq!(st, StatusCode::CREATED);
    assert!(srv.terminate(Duration::from_secs(20)).success());
}

#[test]
fn a_node_refuses_to_start_without_a_database_url() {
    let tmp = TempDir::new("pg-e2e-nourl");
    let config = test_config(tmp.path(), "");
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("OVERGANG_STORE__KIND", "postgres")
        .output()
        .expect("run overgang");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("store.url"), "{err}");
}
