//! Tests of the PostgreSQL store. Each test creates its own database on
//! the server named by `OVERGANG_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and drops it at the end
//! (also when the test fails). A server that cannot be reached fails the
//! tests with a clear message.
//!
//! - **Same as SQLite**: one scripted scenario (submits, routing, claims,
//!   every attempt result, receipts sync and async, callbacks, replay,
//!   cancel, recover, overdue flags, alerts, stats, search and worklist
//!   pages, access log, flow facts, holds, retention, gauges and the
//!   dashboard) run on both backends gives the same observations.
//! - **Idempotency**: duplicate, conflict, and 200 concurrent submits of
//!   one key over many connections and two stores: exactly one created.
//! - **Transitions, search**: compare-and-set, cursor walk.
//! - **Several nodes**: two stores on one database claiming concurrently
//!   never claim a delivery twice and keep each (receiver, patient)'s
//!   order; leases: a new node does not steal live leases, takes expired
//!   ones over, and the old node's late finish only records an event;
//!   two nodes recovering a dead node's expired leases at once take each
//!   back once; sibling deliveries of one message finishing at once on
//!   two nodes leave the message in the right state; holds racing a purge
//!   on another node never end up on a deleted message.
//! - **Migrations**: three connects at once; a newer schema is refused; a
//!   version-1 database with messages and deliveries (one in flight) in it
//!   is migrated by a starting node and everything is still there and
//!   delivered; three nodes starting at once on a version-1 database
//!   migrate it once.
//! - **Wake-ups**: routed deliveries stored, a receipt's delivery, a replay
//!   and a reclaimed lease on one node give the other node's
//!   [`Store::wakeups`] a permit (LISTEN/NOTIFY); a message without
//!   deliveries does not; an announced reload reaches
//!   [`Store::reloads`]; the listening connection comes back after it is
//!   cut.
//! - **Append-only**: history, delivery events and the access log refuse
//!   changes in the database; the access log's cut-off lets old entries go.
//! - **Errors**: an unreachable server is an `Open` error; a closed store
//!   answers `Closed` and is not ready; cut connections are replaced; a
//!   vanished database makes the store unready, with errors free of
//!   content. `sslmode=require` verifies the server's certificate and name.
//!
//! `SHOW_SCENARIO=1` prints what the scenario saw on PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::*;
use crate::retention::DAY_MS;
use crate::sqlite::{SqliteOptions, SqliteStore};
use crate::{AttemptResult, DeliveryKind, DeliveryState as D, Metadata, NewDelivery, State};

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn server_url() -> String {
    std::env::var("OVERGANG_TEST_PG").unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

/// `url` with its database name replaced by `db`.
fn url_for(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[start..]
        .find('/')
        .map(|i| start + i)
        .unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..host_end])
}

async fn admin() -> tokio_postgres::Client {
    let url = server_url();
    let (client, conn) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {url} (set OVERGANG_TEST_PG to a server URL): {e}"
        ),
    };
    tokio::spawn(conn);
    client
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh database, dropped (forcibly) when this goes out of scope.
pub(super) struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    pub(super) async fn new() -> TestDb {
        let n = COUNTER.fetch_add(1, AtomicOrdering::SeqCst);
        let name = format!("overgang_t_{}_{n}", std::process::id());
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let url = url_for(&server_url(), &name);
        TestDb { name, url }
    }

    pub(super) async fn store(&self) -> PgStore {
        self.store_as("node-a").await
    }

    async fn store_as(&self, node: &str) -> PgStore {
        PgStore::connect(&self.url, opts(node))
            .await
            .expect("connect")
    }

    /// A plain connection to the test database (to look at or tamper with).
    async fn raw(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect raw");
        tokio::spawn(conn);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = server_url();
        // Its own thread and runtime: drop runs inside the test's runtime.
        let t = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = t.join();
    }
}

fn opts(node: &str) -> PgOptions {
    PgOptions {
        pool_size: 8,
        node_id: node.to_string(),
        ..PgOptions::default()
    }
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        out[i % 32] = out[i % 32].wrapping_mul(31).wrapping_add(*b);
    }
    out[31] ^= bytes.len() as u8;
    out
}

fn message(id: &str, received_at: Millis, key: Option<&str>, body: &[u8]) -> NewMessage {
    NewMessage {
        id: id.to_string(),
        received_at,
        system: "eprlege".to_string(),
        idempotency_key: key.map(str::to_string),
        sha256: sha(body),
        original: body.to_vec(),
        meta: Metadata {
            msg_id: Some(format!("msg-{id}")),
            msg_type: Some("INNLEGGELSESRAPPORT".to_string()),
            standard: Some("PLO 1.6".to_string()),
            sender_her: Some("8100001".to_string()),
            receiver_her: Some("8200002".to_string()),
            patient_key: Some("ab12".to_string()),
            parties: vec!["8100001".to_string(), "8200002".to_string()],
            name_terms: vec!["n1".into(), "n2".into()],
            flow_fact: Some(format!("{{\"m\":\"{id}\"}}")),
        },
        verdict: "accepted".to_string(),
        findings_json: "[{\"severity\":\"warning\"}]".to_string(),
        apprec: format!("<AppRec id=\"{id}\"/>").into_bytes(),
        apprec_status: 1,
        state: State::Accepted,
        actor: "system:eprlege".to_string(),
        reason: "received".to_string(),
        deliveries: Vec::new(),
        route_reason: String::new(),
    }
}

fn routed(id: &str, at: Millis, patient: &str, receivers: &[&str]) -> NewMessage {
    let mut m = message(id, at, Some(&format!("key-{id}")), id.as_bytes());
    m.meta.patient_key = Some(patient.to_string());
    m.route_reason = format!("routed to {}", receivers.join(", "));
    m.deliveries = receivers
        .iter()
        .map(|r| NewDelivery {
            receiver_her: r.to_string(),
            role: "primary".into(),
            reason: format!("to {r}"),
        })
        .collect();
    m
}

fn receipt(status: u8, apprec_id: &str, callback: Option<&str>) -> NewReceipt {
    NewReceipt {
        status,
        apprec_msg_id: Some(apprec_id.to_string()),
        from_her: Some("R".into()),
        via: "async",
        body: format!("<AppRec {apprec_id}/>").into_bytes(),
        callback_to: callback.map(str::to_string),
    }
}

fn attempt(id: i64, at: Millis, result: AttemptResult) -> Attempt {
    Attempt {
        delivery_id: id,
        at,
        result,
    }
}

fn action(id: i64, at: Millis) -> OperatorAction {
    OperatorAction {
        delivery_id: id,
        at,
        actor: "user:kari".into(),
        reason: "test".into(),
    }
}

async fn ids_of<S: Store>(s: &S, message_id: &str) -> Vec<i64> {
    s.deliveries_of(message_id)
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d.id)
        .collect()
}

async fn due_ids<S: Store>(s: &S, now: Millis) -> Vec<i64> {
    s.due(now, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// A scripted life of a store, and everything it shows along the way.
async fn scenario<S: Store>(s: &S) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    macro_rules! see {
        ($e:expr) => {
            seen.push(format!("{}: {:?}", stringify!($e), $e))
        };
    }
    // Intake: plain, rejected, routed; duplicates and conflicts.
    see!(s.submit(message("m0", 100, Some("k0"), b"zero")).await);
    see!(s.submit(message("m0b", 101, Some("k0"), b"zero")).await);
    see!(s.submit(message("m0c", 102, Some("k0"), b"other")).await);
    let mut rej = message("r1", 103, Some("kr"), b"bad");
    rej.state = State::Rejected;
    rej.verdict = "rejected".into();
    rej.apprec_status = 2;
    rej.findings_json = "[{\"severity\":\"error\"},{\"severity\":\"warning\"}]".into();
    see!(s.submit(rej).await);
    for (i, (p, rs)) in [
        ("p1", &["A", "B"][..]),
        ("p1", &["A"][..]),
        ("p2", &["A"][..]),
        ("p1", &["B"][..]),
        ("p3", &["C"][..]),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("d{i}");
        see!(s.submit(routed(&id, 200 + i as i64, p, rs)).await);
    }
    see!(s.get("m0").await);
    see!(s.get("d0").await);
    see!(s.get("nope").await);
    see!(s.apprec("m0").await);
    see!(s.original("d1").await);
    see!(due_ids(s, 1000).await);
    see!(s.next_due(0).await);
    see!(s.due(1000, 2).await);
    // Transitions.
    see!(
        s.transition(Transition {
            id: "m0".into(),
            at: 300,
            actor: "gateway".into(),
            from: State::Accepted,
            to: State::Cancelled,
            reason: "t".into()
        })
        .await
    );
    see!(s
        .transition(Transition {
            id: "m0".into(),
            at: 301,
            actor: "gateway".into(),
            from: State::Accepted,
            to: State::Cancelled,
            reason: "t".into()
        })
        .await
        .map_err(|e| e.to_string()));
    see!(s
        .transition(Transition {
            id: "zz".into(),
            at: 301,
            actor: "gateway".into(),
            from: State::Accepted,
            to: State::Cancelled,
            reason: "t".into()
        })
        .await
        .map_err(|e| e.to_string()));
    // Deliveries: d0 → A and B (p1), d1 → A (p1, held), d2 → A (p2),
    // d3 → B (p1, held), d4 → C.
    let d0 = ids_of(s, "d0").await;
    let (d0a, d0b) = (d0[0], d0[1]);
    let d1 = ids_of(s, "d1").await[0];
    let d2 = ids_of(s, "d2").await[0];
    let d3 = ids_of(s, "d3").await[0];
    let d4 = ids_of(s, "d4").await[0];
    see!(s.claim(vec![d0a, d1, d2, d0a, d4], 1000).await);
    see!(due_ids(s, 1000).await);
    see!(s.get("d0").await.map(|r| r.map(|r| r.summary.state)));
    see!(
        s.finish(attempt(
            d0a,
            1001,
            AttemptResult::Retry {
                next_attempt_at: 2000,
                error: "HTTP 503".into()
            }
        ))
        .await
    );
    see!(due_ids(s, 1500).await);
    see!(s.next_due(1500).await);
    see!(s.claim(vec![d0a, d0b], 2000).await);
    see!(
        s.finish(attempt(
            d0a,
            2001,
            AttemptResult::DeadLetter {
                error: "HTTP 400".into()
            }
        ))
        .await
    );
    see!(due_ids(s, 2001).await);
    see!(
        s.finish(attempt(
            d0b,
            2002,
            AttemptResult::Answered(receipt(1, "ar1", Some("8100001")))
        ))
        .await
    );
    see!(s.finish(attempt(d2, 2003, AttemptResult::Delivered)).await);
    // An async receipt for d2, twice; and one for a cancelled delivery.
    see!(
        s.receipt_target("msg-d2", vec!["X".into(), "A".into()])
            .await
    );
    see!(s.receipt_target("msg-d2", vec![]).await);
    see!(
        s.record_receipt(d2, 2100, "system:a".into(), receipt(3, "ar2", None))
            .await
    );
    see!(
        s.record_receipt(d2, 2101, "system:a".into(), receipt(3, "ar2", None))
            .await
    );
    // d4 is in flight: a stop, then recover.
    see!(s.recover(2200).await);
    see!(s.delivery(d4).await);
    // d3 (B, p1) behind d0b: d0b answered, so d3 is released.
    see!(due_ids(s, 2300).await);
    see!(s.claim(vec![d3, d1, d4], 2300).await);
    see!(s.finish(attempt(d3, 2301, AttemptResult::Delivered)).await);
    // A receipt arriving during an attempt wins over the late finish.
    see!(
        s.record_receipt(d1, 2302, "system:a".into(), receipt(2, "ar3", None))
            .await
    );
    see!(s.finish(attempt(d1, 2303, AttemptResult::Delivered)).await);
    see!(s.finish(attempt(d4, 2304, AttemptResult::Delivered)).await);
    // Operators.
    see!(s.replay(action(d2, 2400)).await.map_err(|e| e.to_string()));
    see!(s.replay(action(d0a, 2401)).await.map_err(|e| e.to_string()));
    see!(s.cancel(action(d0a, 2402)).await.map_err(|e| e.to_string()));
    see!(s.cancel(action(d1, 2403)).await.map_err(|e| e.to_string()));
    see!(s
        .cancel(action(99_999, 2403))
        .await
        .map_err(|e| e.to_string()));
    see!(
        s.record_receipt(d0a, 2404, "system:a".into(), receipt(1, "ar4", None))
            .await
    );
    see!(s.flag_overdue(3000, 2350).await);
    see!(s.flag_overdue(3001, 2350).await);
    see!(s.alert("registry", "file.xml", "nb", "en", 3002).await);
    see!(s.alerts(100).await);
    see!(s.alerts(0).await);
    see!(s.delivery_stats(0).await);
    for id in ["d0", "d1", "d2", "d3", "d4"] {
        see!(s.get(id).await);
        see!(s.deliveries_of(id).await);
        see!(s.receipts_of(id).await);
    }
    let receipts = s.receipts_of("d0").await.unwrap();
    see!(s.receipt_body(receipts[0].id).await);
    see!(s.receipt_body(9999).await);
    see!(s.list_deliveries(&DeliveryQuery::default()).await);
    see!(
        s.list_deliveries(&DeliveryQuery {
            state: Some(D::Delivered),
            limit: 1,
            ..DeliveryQuery::default()
        })
        .await
    );
    see!(
        s.list_deliveries(&DeliveryQuery {
            receiver_her: Some("A".into()),
            before: Some(d2),
            ..DeliveryQuery::default()
        })
        .await
    );
    see!(
        s.list_deliveries(&DeliveryQuery {
            overdue_only: true,
            message_id: Some("d3".into()),
            ..DeliveryQuery::default()
        })
        .await
    );
    see!(s.queue_gauges().await.map(|g| g.receivers));
    see!(s.destination_stats(3100).await);
    // Search and worklist pages.
    for q in [
        Query::default(),
        Query {
            limit: 2,
            ..Query::default()
        },
        Query {
            state: Some(State::Rejected),
            ..Query::default()
        },
        Query {
            sender_her: Some("8100001".into()),
            since: Some(200),
            until: Some(203),
            ..Query::default()
        },
        Query {
            cursor: Some("zz".into()),
            ..Query::default()
        },
    ] {
        let mut q = q;
        loop {
            let page = s.search(&q).await;
            see!(page);
            match page {
                Ok(Page { next: Some(c), .. }) => q.cursor = Some(c),
                _ => break,
            }
        }
    }
    for q in [
        WorkQuery::default(),
        WorkQuery {
            units: Some(vec!["B".into()]),
            ..WorkQuery::default()
        },
        WorkQuery {
            units: Some(vec![]),
            ..WorkQuery::default()
        },
        WorkQuery {
            with_findings: true,
            limit: 3,
            name_terms: vec!["n1".into()],
            ..WorkQuery::default()
        },
        WorkQuery {
            patient_key: Some("p1".into()),
            msg_type: Some("INNLEGGELSESRAPPORT".into()),
            ..WorkQuery::default()
        },
        WorkQuery {
            name_terms: vec!["n1".into(), "nx".into()],
            ..WorkQuery::default()
        },
    ] {
        let mut q = q;
        loop {
            let page = s.worklist(&q).await;
            see!(page);
            match page {
                Ok(Page { next: Some(c), .. }) => q.cursor = Some(c),
                _ => break,
            }
        }
    }
    // Access log.
    for i in 0..5 {
        let a = NewAccess {
            at: 4000 + i,
            user: if i % 2 == 0 { "kari" } else { "ola" }.into(),
            action: "view_message".into(),
            message_id: Some("d0".into()),
            patient_key: (i < 3).then(|| "p1".to_string()),
            query: None,
            name_terms: None,
            unit: Some("A".into()),
            outcome: "ok".into(),
        };
        see!(s.log_access(a).await);
    }
    see!(s.access_log(&AccessQuery::default()).await);
    see!(
        s.access_log(&AccessQuery {
            user: Some("kari".into()),
            patient_key: Some("p1".into()),
            since: Some(4000),
            until: Some(4004),
            before: Some(5),
            limit: 1,
        })
        .await
    );
    see!(s.purge_access_log(4002, 1).await);
    see!(s.purge_access_log(4002, 10).await);
    see!(s.purge_access_log(10, 10).await);
    see!(s.access_log(&AccessQuery::default()).await);
    // Flow facts.
    see!(s.flow_facts(0, None).await);
    see!(s.flow_facts(201, Some("p1".into())).await);
    see!(s.flow_facts_page(0, None, 1).await);
    see!(s.flow_facts_page(0, Some("p1".into()), 5).await);
    see!(s.patient_flow_facts("p1".into(), 2).await);
    see!(
        s.set_flow_facts(vec![FlowFactRow {
            message_id: "d4".into(),
            patient_key: Some("p9".into()),
            received_at: 204,
            fact: "{}".into(),
            positive_apprec_at: None,
        }])
        .await
    );
    see!(s.flow_facts(0, Some("p9".into())).await);
    // Retention.
    see!(
        s.hold(vec!["d3".into(), "nope".into()], "stay:1".into(), 5000)
            .await
    );
    see!(s.hold(vec!["d3".into()], "stay:1".into(), 5000).await);
    let rules = State::ALL
        .into_iter()
        .map(|state| RetentionRule { state, days: 1 })
        .collect::<Vec<_>>();
    see!(s.purge_expired(rules.clone(), 10 * DAY_MS, 2).await);
    see!(s.purge_expired(rules.clone(), 10 * DAY_MS, 100).await);
    see!(s.release(vec!["d3".into()], "stay:1".into()).await);
    see!(s.purge_expired(rules.clone(), 10 * DAY_MS, 100).await);
    for id in ["m0", "r1", "d0", "d2", "d3"] {
        see!(s.get(id).await);
        see!(s.original(id).await);
        see!(s.receipts_of(id).await);
    }
    see!(s.receipt_body(receipts[0].id).await);
    see!(
        s.submit(message("m0-again", 6000, Some("k0"), b"zero"))
            .await
    );
    see!(s.hold(vec!["d3".into()], "stay:2".into(), 5000).await);
    see!(s.replay(action(d3, 6001)).await.map_err(|e| e.to_string()));
    see!(s.flow_facts(0, None).await);
    see!(s.worklist(&WorkQuery::default()).await);
    see!(s.queue_gauges().await.map(|g| g.receivers));
    see!(s.destination_stats(10 * DAY_MS).await);
    seen
}

#[tokio::test]
async fn the_scenario_shows_the_same_as_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
    let want = scenario(&lite).await;
    lite.close().await.unwrap();

    let db = TestDb::new().await;
    let pg = db.store().await;
    let got = scenario(&pg).await;
    pg.close().await.unwrap();
    if std::env::var("SHOW_SCENARIO").is_ok() {
        for g in &got {
            println!("{}", &g[..g.len().min(300)]);
        }
    }
    assert_eq!(want.len(), got.len());
    let mut differ = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            differ.push(format!("sqlite: {w}\npg:     {g}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n\n")
    );
}

#[tokio::test]
async fn round_trip_and_idempotency() {
    let db = TestDb::new().await;
    let s = db.store().await;
    let m = message("m1", 1000, Some("k1"), b"<Message>one</Message>");
    assert_eq!(s.submit(m.clone()).await.unwrap(), Submitted::Created);
    let rec = s.get("m1").await.unwrap().unwrap();
    assert_eq!(rec.summary.state, State::Accepted);
    assert_eq!(rec.summary.size, m.original.len() as u64);
    assert_eq!(rec.summary.warnings, 1);
    assert_eq!(rec.sha256, m.sha256);
    assert_eq!(rec.summary.meta.parties, ["8100001", "8200002"]);
    assert_eq!(rec.history.len(), 1);
    assert_eq!(rec.history[0].from, None);
    assert_eq!(rec.history[0].actor, "system:eprlege");
    assert_eq!(s.original("m1").await.unwrap().unwrap(), m.original);
    assert_eq!(s.apprec("m1").await.unwrap().unwrap(), m.apprec);
    assert_eq!(s.original("nope").await.unwrap(), None);
    // The same key and bytes: Duplicate with the answer given; other bytes:
    // Conflict; nothing stored either way.
    let mut again = message("m2", 2000, Some("k1"), b"<Message>one</Message>");
    again.apprec = b"other".to_vec();
    match s.submit(again).await.unwrap() {
        Submitted::Duplicate(a) => {
            assert_eq!(a.id, "m1");
            assert_eq!(a.apprec, m.apprec);
            assert_eq!(a.state_at_intake, State::Accepted);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.submit(message("m3", 2000, Some("k1"), b"else"))
            .await
            .unwrap(),
        Submitted::Conflict {
            existing_id: "m1".into()
        }
    );
    assert_eq!(s.get("m2").await.unwrap(), None);
    assert_eq!(s.get("m3").await.unwrap(), None);
    // Without a key there is no check.
    s.submit(message("n1", 1, None, b"x")).await.unwrap();
    s.submit(message("n2", 1, None, b"x")).await.unwrap();
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    // The store's sessions end a transaction left idle by a frozen node.
    let c = s.client().await.unwrap();
    let idle: String = c
        .query_one("SHOW idle_in_transaction_session_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(idle, "1min");
    drop(c);
    s.close().await.unwrap();
}

#[tokio::test]
async fn two_hundred_concurrent_submits_of_one_key_create_one() {
    let db = TestDb::new().await;
    let a = Arc::new(db.store_as("a").await);
    let b = Arc::new(db.store_as("b").await);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.submit(routed_same_key(&format!("c{i}"))).await.unwrap()
        }));
    }
    let mut created = Vec::new();
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap() {
            Submitted::Created => created.push(()),
            Submitted::Duplicate(_) => duplicates += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((created.len(), duplicates), (1, 199));
    let page = a.search(&Query::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    // Its one delivery only.
    let stats = a.delivery_stats(0).await.unwrap();
    assert_eq!(stats.by_state, vec![(D::Queued, 1)]);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

fn routed_same_key(id: &str) -> NewMessage {
    let mut m = routed(id, 1000, "p", &["R"]);
    m.idempotency_key = Some("the-key".into());
    m.sha256 = sha(b"same");
    m
}

#[tokio::test]
async fn transitions_compare_and_set() {
    let db = TestDb::new().await;
    let s = db.store().await;
    s.submit(message("m", 10, Some("k"), b"m")).await.unwrap();
    let t = |from, to, at| Transition {
        id: "m".into(),
        at,
        actor: "gateway".into(),
        from,
        to,
        reason: "why".into(),
    };
    s.transition(t(State::Accepted, State::Queued, 20))
        .await
        .unwrap();
    match s.transition(t(State::Accepted, State::Queued, 30)).await {
        Err(StoreError::StateConflict {
            expected, actual, ..
        }) => assert_eq!((expected.as_str(), actual.as_str()), ("accepted", "queued")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.transition(t(State::Queued, State::Deleted, 30)).await,
        Err(StoreError::StateConflict { .. })
    ));
    let mut other = t(State::Accepted, State::Queued, 30);
    other.id = "none".into();
    assert!(matches!(
        s.transition(other).await,
        Err(StoreError::NotFound(_))
    ));
    // updated_at never goes back.
    s.transition(t(State::Queued, State::Delivering, 15))
        .await
        .unwrap();
    let rec = s.get("m").await.unwrap().unwrap();
    assert_eq!(rec.summary.updated_at, 20);
    let states: Vec<State> = rec.history.iter().map(|h| h.to).collect();
    assert_eq!(states, [State::Accepted, State::Queued, State::Delivering]);
    s.close().await.unwrap();
}

#[tokio::test]
async fn a_cursor_walk_sees_every_row_once_while_rows_arrive() {
    let db = TestDb::new().await;
    let s = db.store().await;
    for i in 0..250 {
        // Ties on received_at, broken by id.
        s.submit(message(&format!("m{i:03}"), i / 3, None, b"x"))
            .await
            .unwrap();
    }
    let mut q = Query {
        limit: 17,
        ..Query::default()
    };
    let mut seen = Vec::new();
    let mut extra = 0;
    loop {
        let page = s.search(&q).await.unwrap();
        seen.extend(page.items.iter().map(|m| m.id.clone()));
        // New rows arrive (later than everything so far) during the walk.
        if extra < 3 {
            s.submit(message(&format!("n{extra}"), 10_000 + extra, None, b"y"))
                .await
                .unwrap();
            extra += 1;
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 253);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 253);
    let mut sorted = seen.clone();
    sorted.sort_by_key(|id| {
        let at = if let Some(n) = id.strip_prefix('n') {
            10_000 + n.parse::<i64>().unwrap()
        } else {
            id[1..].parse::<i64>().unwrap() / 3
        };
        (at, id.clone())
    });
    assert_eq!(seen, sorted);
    assert!(matches!(
        s.search(&Query {
            cursor: Some("41".into()),
            ..Query::default()
        })
        .await,
        Err(StoreError::BadCursor)
    ));
    s.close().await.unwrap();
}

#[tokio::test]
async fn deliveries_keep_order_per_receiver_and_patient() {
    let db = TestDb::new().await;
    let s = db.store().await;
    s.submit(routed("a1", 1, "p1", &["R"])).await.unwrap();
    s.submit(routed("a2", 2, "p1", &["R"])).await.unwrap();
    s.submit(routed("b1", 3, "p2", &["R"])).await.unwrap();
    s.submit(routed("c1", 4, "p1", &["S"])).await.unwrap();
    let a1 = ids_of(&s, "a1").await[0];
    let a2 = ids_of(&s, "a2").await[0];
    let b1 = ids_of(&s, "b1").await[0];
    let c1 = ids_of(&s, "c1").await[0];
    assert_eq!(due_ids(&s, 10).await, vec![a1, b1, c1]);
    // a2 is not claimable while a1 waits ahead of it.
    assert!(s.claim(vec![a2], 10).await.unwrap().is_empty());
    assert_eq!(s.claim(vec![a1], 10).await.unwrap(), vec![a1]);
    assert_eq!(due_ids(&s, 10).await, vec![b1, c1]);
    s.finish(attempt(
        a1,
        11,
        AttemptResult::DeadLetter {
            error: "400".into(),
        },
    ))
    .await
    .unwrap();
    assert_eq!(due_ids(&s, 11).await, vec![a2, b1, c1]);
    // A replayed dead letter waits behind what is queued now.
    assert_eq!(s.replay(action(a1, 12)).await.unwrap(), D::Queued);
    assert_eq!(due_ids(&s, 12).await, vec![a2, b1, c1]);
    assert_eq!(s.claim(vec![a2], 13).await.unwrap(), vec![a2]);
    s.finish(attempt(a2, 14, AttemptResult::Delivered))
        .await
        .unwrap();
    assert_eq!(due_ids(&s, 14).await, vec![b1, c1, a1]);
    let (d, events) = s.delivery(a1).await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.attempts, d.kind),
        (D::Queued, 0, DeliveryKind::Message)
    );
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3].actor, "user:kari");
    s.close().await.unwrap();
}

/// Claims from `store` what is due until nothing is, finishing each as
/// delivered; returns the (delivery, claim time order) it handled.
async fn worker(
    store: Arc<PgStore>,
    log: Arc<tokio::sync::Mutex<Vec<i64>>>,
    in_flight: Arc<tokio::sync::Mutex<HashSet<(String, String)>>>,
    pairs: Arc<HashMap<i64, (String, String)>>,
) -> Vec<i64> {
    let mut mine = Vec::new();
    let mut idle = 0;
    while idle < 5 {
        let due = store.due(1_000_000, 20).await.unwrap();
        if due.is_empty() {
            idle += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        idle = 0;
        let ids: Vec<i64> = due.iter().map(|d| d.id).collect();
        let claimed = store.claim(ids, 1_000_000).await.unwrap();
        for id in claimed {
            let pair = pairs[&id].clone();
            {
                let mut busy = in_flight.lock().await;
                assert!(
                    busy.insert(pair.clone()),
                    "two of {pair:?} in flight at once"
                );
                log.lock().await.push(id);
            }
            tokio::task::yield_now().await;
            in_flight.lock().await.remove(&pair);
            store
                .finish(attempt(id, 1_000_001, AttemptResult::Delivered))
                .await
                .unwrap();
            mine.push(id);
        }
    }
    mine
}

#[tokio::test]
async fn two_nodes_claim_each_delivery_once_and_keep_the_order() {
    let db = TestDb::new().await;
    let a = Arc::new(db.store_as("node-a").await);
    let b = Arc::new(db.store_as("node-b").await);
    // 3 receivers × 5 patients, 8 messages each pair (interleaved), some
    // to two receivers at once.
    let mut n = 0;
    for round in 0..8 {
        for p in 0..5 {
            let rs: &[&str] = if (round + p) % 3 == 0 {
                &["R0", "R1"]
            } else {
                &["R2"]
            };
            let id = format!("m{n:04}");
            a.submit(routed(&id, n, &format!("p{p}"), rs))
                .await
                .unwrap();
            n += 1;
        }
    }
    let all = a
        .list_deliveries(&DeliveryQuery {
            limit: 1000,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    let pairs: HashMap<i64, (String, String)> = {
        let mut m = HashMap::new();
        for d in &all {
            let rec = a.get(&d.message_id).await.unwrap().unwrap();
            m.insert(
                d.id,
                (
                    d.receiver_her.clone(),
                    rec.summary.meta.patient_key.unwrap(),
                ),
            );
        }
        m
    };
    let pairs = Arc::new(pairs);
    let log = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let busy = Arc::new(tokio::sync::Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(worker(
            s,
            log.clone(),
            busy.clone(),
            pairs.clone(),
        )));
    }
    let mut handled = Vec::new();
    for t in tasks {
        handled.extend(t.await.unwrap());
    }
    handled.sort_unstable();
    let mut want: Vec<i64> = all.iter().map(|d| d.id).collect();
    want.sort_unstable();
    assert_eq!(handled, want, "every delivery handled exactly once");
    // Per pair, claimed in id order (the order they were routed).
    let log = log.lock().await.clone();
    let mut last: HashMap<(String, String), i64> = HashMap::new();
    for id in &log {
        let pair = pairs[id].clone();
        if let Some(prev) = last.insert(pair.clone(), *id) {
            assert!(prev < *id, "{pair:?}: {id} claimed after {prev}");
        }
    }
    let raw = db.raw().await;
    let deadlocks: i64 = raw
        .query_one(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    println!("deadlocks (retried): {deadlocks}");
    for d in a
        .list_deliveries(&DeliveryQuery {
            limit: 1000,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap()
    {
        assert_eq!((d.state, d.attempts), (D::Delivered, 1), "{d:?}");
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_node_takes_over_only_expired_leases_and_never_its_own_live_claims() {
    let db = TestDb::new().await;
    let mut o = opts("a");
    o.lease_ms = 1000;
    let a = PgStore::connect(&db.url, o).await.unwrap();
    let mut o = opts("b");
    o.lease_ms = 1000;
    let b = PgStore::connect(&db.url, o).await.unwrap();
    a.submit(routed("m1", 10, "p1", &["R"])).await.unwrap();
    a.submit(routed("m2", 11, "p2", &["R"])).await.unwrap();
    let id1 = ids_of(&a, "m1").await[0];
    let id2 = ids_of(&a, "m2").await[0];
    assert_eq!(a.claim(vec![id1], 100).await.unwrap(), vec![id1]);
    assert_eq!(b.claim(vec![id2], 500).await.unwrap(), vec![id2]);
    // Before any lease runs out nothing moves, on either node: unlike
    // `recover`, the sweep never takes back a node's own live claim.
    assert_eq!(a.reclaim_expired(1099).await.unwrap(), 0);
    assert_eq!(b.reclaim_expired(1099).await.unwrap(), 0);
    // a's lease ran out (a froze or died): b takes it over; b's own live
    // claim stays.
    assert_eq!(b.reclaim_expired(1100).await.unwrap(), 1);
    assert_eq!(b.delivery(id1).await.unwrap().unwrap().0.state, D::Queued);
    assert_eq!(b.delivery(id2).await.unwrap().unwrap().0.state, D::InFlight);
    // Taken over once: a second sweep (on any node) finds nothing.
    assert_eq!(a.reclaim_expired(1101).await.unwrap(), 0);
    // b's own claim, once expired, is taken back like any other.
    assert_eq!(a.reclaim_expired(1500).await.unwrap(), 1);
    assert_eq!(a.delivery(id2).await.unwrap().unwrap().0.state, D::Queued);
    let (_, events) = a.delivery(id1).await.unwrap().unwrap();
    let last = events.last().unwrap();
    assert_eq!((last.from, last.to), (Some(D::InFlight), D::Queued));
}

#[tokio::test]
async fn leases_are_taken_over_only_when_expired_and_late_finishes_change_nothing() {
    let db = TestDb::new().await;
    let mut o = opts("old");
    o.lease_ms = 1000;
    let old = PgStore::connect(&db.url, o).await.unwrap();
    let mut o = opts("new");
    o.lease_ms = 1000;
    let new = PgStore::connect(&db.url, o).await.unwrap();
    old.submit(routed("m", 10, "p", &["R"])).await.unwrap();
    old.submit(routed("m2", 11, "p", &["R"])).await.unwrap();
    let id = ids_of(&old, "m").await[0];
    let id2 = ids_of(&old, "m2").await[0];
    assert_eq!(old.claim(vec![id], 100).await.unwrap(), vec![id]);
    // A new node starting: the live lease of another node is not its own.
    assert_eq!(new.recover(500).await.unwrap(), 0);
    assert_eq!(new.recover(1099).await.unwrap(), 0);
    assert!(new.claim(vec![id, id2], 600).await.unwrap().is_empty());
    // Expired: taken over, and claimed again by the new node.
    assert_eq!(new.recover(1100).await.unwrap(), 1);
    assert_eq!(new.claim(vec![id], 1100).await.unwrap(), vec![id]);
    // The old node's attempt ends late: recorded only.
    assert_eq!(
        old.finish(attempt(
            id,
            1150,
            AttemptResult::DeadLetter {
                error: "late".into()
            }
        ))
        .await
        .unwrap(),
        D::InFlight
    );
    let (d, events) = new.delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state, d.attempts), (D::InFlight, 2));
    let last = events.last().unwrap();
    assert_eq!((last.from, last.to), (Some(D::InFlight), D::InFlight));
    assert!(last.reason.contains("newer attempt"), "{last:?}");
    assert!(
        new.alerts(10).await.unwrap().is_empty(),
        "no dead-letter alert"
    );
    // The new node's own finish goes through; the next of the pair follows.
    assert_eq!(
        new.finish(attempt(id, 1200, AttemptResult::Delivered))
            .await
            .unwrap(),
        D::Delivered
    );
    assert_eq!(due_ids(&new, 1200).await, vec![id2]);
    // A node restarting with its own id cuts its own attempts off at once.
    assert_eq!(old.claim(vec![id2], 1300).await.unwrap(), vec![id2]);
    old.close().await.unwrap();
    let mut o = opts("old");
    o.lease_ms = 1000;
    let old_again = PgStore::connect(&db.url, o).await.unwrap();
    assert_eq!(new.recover(1301).await.unwrap(), 0);
    assert_eq!(old_again.recover(1301).await.unwrap(), 1);
    assert_eq!(
        old_again.delivery(id2).await.unwrap().unwrap().0.state,
        D::Queued
    );
    // Its own stale claim: recovered and claimed again by this store, the
    // first attempt's finish is stale too.
    assert_eq!(old_again.claim(vec![id2], 1400).await.unwrap(), vec![id2]);
    assert_eq!(old_again.recover(1401).await.unwrap(), 1);
    assert_eq!(old_again.claim(vec![id2], 1402).await.unwrap(), vec![id2]);
    let raw = db.raw().await;
    let attempts: i32 = raw
        .query_one("SELECT attempts FROM deliveries WHERE id = $1", &[&id2])
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 3);
    old_again.close().await.unwrap();
    new.close().await.unwrap();
}

#[tokio::test]
async fn migrations_run_once_from_three_connects_at_once() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url, opts(&format!("n{i}"))).await })
        })
        .collect();
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap().expect("connect"));
    }
    let raw = db.raw().await;
    let versions: Vec<i32> = raw
        .query("SELECT version FROM overgang_schema ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION as i32).collect::<Vec<_>>());
    for s in &stores {
        assert!(s.ready().await);
        s.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let db = TestDb::new().await;
    db.store().await.close().await.unwrap();
    let raw = db.raw().await;
    raw.execute(
        "INSERT INTO overgang_schema (version, applied_at) VALUES ($1, 0)",
        &[&(SCHEMA_VERSION as i32 + 1)],
    )
    .await
    .unwrap();
    match PgStore::connect(&db.url, opts("x")).await {
        Err(StoreError::Open { reason, path }) => {
            assert!(reason.contains("schema version"), "{reason}");
            assert!(path.contains(&db.name), "{path}");
        }
        Ok(_) => panic!("a newer schema was accepted"),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn append_only_tables_refuse_changes_and_the_cutoff_only_moves_forward() {
    let db = TestDb::new().await;
    let s = db.store().await;
    s.submit(routed("m", 1, "p", &["R"])).await.unwrap();
    for at in [10, 20, 30] {
        s.log_access(NewAccess {
            at,
            user: "kari".into(),
            action: "view_message".into(),
            outcome: "ok".into(),
            ..NewAccess::default()
        })
        .await
        .unwrap();
    }
    let raw = db.raw().await;
    for sql in [
        "UPDATE history SET reason = 'x'",
        "DELETE FROM history",
        "TRUNCATE history CASCADE",
        "UPDATE delivery_events SET reason = 'x'",
        "DELETE FROM delivery_events",
        "UPDATE access_log SET user_name = 'x'",
        "DELETE FROM access_log",
        "UPDATE retention_cutoffs SET access_log_before = -1",
        "DELETE FROM retention_cutoffs",
    ] {
        let e = raw.batch_execute(sql).await.expect_err(sql);
        let text = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(
            text.contains("append-only") || text.contains("cut-off") || text.contains("kept"),
            "{sql}: {text}"
        );
    }
    // The purge moves the cut-off and lets only older entries go.
    assert_eq!(s.purge_access_log(20, 100).await.unwrap(), 1);
    raw.batch_execute("DELETE FROM access_log WHERE at < 20")
        .await
        .unwrap();
    assert!(raw
        .batch_execute("DELETE FROM access_log WHERE at = 20")
        .await
        .is_err());
    assert_eq!(
        s.purge_access_log(5, 100).await.unwrap(),
        0,
        "never moves back"
    );
    let cut: i64 = raw
        .query_one("SELECT access_log_before FROM retention_cutoffs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(cut, 20);
    assert_eq!(
        s.access_log(&AccessQuery::default()).await.unwrap().len(),
        2
    );
    s.close().await.unwrap();
}

#[tokio::test]
async fn holds_keep_messages_and_retention_leaves_a_tombstone() {
    let db = TestDb::new().await;
    let s = db.store().await;
    for id in ["a", "b", "c"] {
        let mut m = message(id, 1000, Some(id), id.as_bytes());
        m.state = State::Rejected;
        s.submit(m).await.unwrap();
    }
    s.submit(routed("q", 1000, "p", &["R"])).await.unwrap();
    assert_eq!(
        s.hold(vec!["a".into(), "zz".into()], "stay:1".into(), 5)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.hold(vec!["a".into()], "stay:2".into(), 5).await.unwrap(),
        1
    );
    let rules = vec![
        RetentionRule {
            state: State::Rejected,
            days: 1,
        },
        RetentionRule {
            state: State::Queued,
            days: 1,
        },
    ];
    let far = 100 * DAY_MS;
    let purged = s.purge_expired(rules.clone(), far, 1).await.unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].id, "b");
    let purged = s.purge_expired(rules.clone(), far, 10).await.unwrap();
    assert_eq!(
        purged.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    assert_eq!(
        s.release(vec!["a".into()], "stay:1".into()).await.unwrap(),
        1
    );
    assert!(s
        .purge_expired(rules.clone(), far, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.release(vec!["a".into()], "stay:2".into()).await.unwrap(),
        1
    );
    assert_eq!(
        s.purge_expired(rules.clone(), far, 10).await.unwrap().len(),
        1
    );
    let rec = s.get("b").await.unwrap().unwrap();
    assert_eq!(rec.summary.state, State::Deleted);
    assert_eq!(rec.summary.meta.patient_key, None);
    assert!(rec.summary.meta.parties.is_empty());
    assert_eq!(rec.findings_json, "[]");
    let last = rec.history.last().unwrap();
    assert_eq!(
        (last.from, last.to),
        (Some(State::Rejected), State::Deleted)
    );
    assert_eq!(last.reason, "oppbevaringstid: 1 dager / retention: 1 days");
    assert_eq!(s.original("b").await.unwrap(), None);
    // The key is free again; a queued message is never deleted.
    assert_eq!(
        s.submit(message("b2", 2000, Some("b"), b"b"))
            .await
            .unwrap(),
        Submitted::Created
    );
    assert_eq!(
        s.get("q").await.unwrap().unwrap().summary.state,
        State::Queued
    );
    let space = s.incremental_vacuum(100).await.unwrap();
    assert!(!space.incremental && space.page_count > 0 && space.page_size >= 1024);
    assert_eq!(s.space().await.unwrap().page_size, space.page_size);
    assert!(s.queue_gauges().await.unwrap().size_bytes > 0);
    s.close().await.unwrap();
}

#[tokio::test]
async fn errors_are_clear_when_the_database_is_away_or_the_store_closed() {
    let mut o = opts("x");
    o.connect_timeout = Duration::from_secs(2);
    match PgStore::connect("postgres://postgres@127.0.0.1:1/none", o).await {
        Err(StoreError::Open { reason, .. }) => assert!(!reason.is_empty()),
        Ok(_) => panic!("connected to nothing"),
        Err(other) => panic!("{other:?}"),
    }
    let db = TestDb::new().await;
    let s = db.store().await;
    assert!(s.ready().await);
    s.close().await.unwrap();
    assert!(!s.ready().await);
    assert!(matches!(s.get("x").await, Err(StoreError::Closed)));
    assert!(matches!(s.close().await, Err(StoreError::Closed)));
    // A store whose database goes away answers errors, not hangs.
    let s = db.store().await;
    let raw = admin().await;
    raw.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
        &[&db.name],
    )
    .await
    .unwrap();
    // The pool notices the lost connections and opens new ones.
    let mut ok = false;
    for _ in 0..3 {
        match s.get("x").await {
            Ok(None) => {
                ok = true;
                break;
            }
            Err(StoreError::Database(why)) => assert!(!why.is_empty()),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        ok,
        "the store did not come back after its connections were cut"
    );
    s.close().await.unwrap();
}

#[test]
fn urls_are_rewritten_and_redacted() {
    assert_eq!(
        url_for("postgres://u@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u@h:5432/x?sslmode=disable"
    );
    assert_eq!(url_for("postgres://u@h", "x"), "postgres://u@h/x");
    assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(
        redact("host=h password=secret"),
        "(database connection string)"
    );
}

#[tokio::test]
async fn sibling_deliveries_finishing_at_once_on_two_nodes_move_their_message_right() {
    let db = TestDb::new().await;
    let a = Arc::new(db.store_as("node-a").await);
    let b = Arc::new(db.store_as("node-b").await);
    let mut all = Vec::new();
    for i in 0..30 {
        let id = format!("m{i:02}");
        a.submit(routed(&id, i, &format!("p{i}"), &["R1", "R2", "R3"]))
            .await
            .unwrap();
        all.extend(ids_of(&*a, &id).await);
    }
    // Each node claims its share; then every attempt ends at once, each
    // on the node that claimed it.
    let (mine_a, mine_b): (Vec<i64>, Vec<i64>) = all.iter().partition(|id| *id % 2 == 0);
    assert_eq!(a.claim(mine_a.clone(), 100).await.unwrap(), mine_a);
    assert_eq!(b.claim(mine_b.clone(), 100).await.unwrap(), mine_b);
    let mut tasks = Vec::new();
    for id in all.iter().copied() {
        let s = if id % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let r = NewReceipt {
                status: 1,
                apprec_msg_id: Some(format!("ar{id}")),
                from_her: None,
                via: "sync",
                body: b"<AppRec/>".to_vec(),
                callback_to: None,
            };
            s.finish(attempt(id, 200, AttemptResult::Answered(r)))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), D::Acknowledged);
    }
    for i in 0..30 {
        let rec = a.get(&format!("m{i:02}")).await.unwrap().unwrap();
        assert_eq!(rec.summary.state, State::Acknowledged, "{rec:?}");
        let states: Vec<State> = rec.history.iter().map(|h| h.to).collect();
        assert_eq!(
            states,
            [
                State::Accepted,
                State::Queued,
                State::Delivering,
                State::Acknowledged
            ]
        );
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_hold_racing_a_purge_on_another_node_is_never_lost_on_a_deleted_message() {
    let db = TestDb::new().await;
    let a = Arc::new(db.store_as("node-a").await);
    let b = Arc::new(db.store_as("node-b").await);
    let ids: Vec<String> = (0..120).map(|i| format!("m{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let mut m = message(id, i as i64, Some(id), id.as_bytes());
        m.state = State::Rejected;
        a.submit(m).await.unwrap();
    }
    let rules = vec![RetentionRule {
        state: State::Rejected,
        days: 1,
    }];
    let purger = {
        let a = a.clone();
        tokio::spawn(async move {
            let mut n = 0;
            for _ in 0..40 {
                n += a
                    .purge_expired(rules.clone(), 10 * DAY_MS, 5)
                    .await
                    .unwrap()
                    .len();
            }
            n
        })
    };
    let holder = {
        let b = b.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let mut n = 0;
            for chunk in ids.chunks(4).rev() {
                n += b.hold(chunk.to_vec(), "stay:1".into(), 1).await.unwrap();
            }
            n
        })
    };
    let purged = purger.await.unwrap();
    let held = holder.await.unwrap();
    assert_eq!(
        purged as u64 + held,
        120,
        "each message either purged or held"
    );
    let raw = db.raw().await;
    let bad: i64 = raw
        .query_one(
            "SELECT count(*) FROM retention_holds h JOIN messages m ON m.id = h.message_id
             WHERE m.state = 'deleted'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bad, 0, "a hold on a deleted message");
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// The local test server's certificate (Debian's self-signed "snakeoil"
/// one, for `localhost`), when the server has TLS on.
const LOCAL_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test]
async fn sslmode_require_verifies_the_server_certificate() {
    let db = TestDb::new().await;
    let raw = db.raw().await;
    let ssl: String = raw.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl != "on" || !std::path::Path::new(LOCAL_CERT).exists() {
        panic!("this test needs the server's TLS on with {LOCAL_CERT} (Debian's default)");
    }
    let url = format!(
        "postgres://postgres@localhost:5432/{}?sslmode=require",
        db.name
    );
    // The web PKI does not vouch for a self-signed certificate.
    match PgStore::connect(&url, opts("tls")).await {
        Err(StoreError::Open { reason, .. }) => assert!(!reason.is_empty()),
        Ok(_) => panic!("a self-signed certificate was trusted"),
        Err(other) => panic!("{other:?}"),
    }
    // With the deployment's own CA file it connects, over TLS.
    let mut o = opts("tls");
    o.tls_ca_file = Some(LOCAL_CERT.into());
    let s = PgStore::connect(&url, o.clone())
        .await
        .expect("TLS connect");
    s.submit(message("m", 1, Some("k"), b"m")).await.unwrap();
    let on_tls: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
             WHERE a.datname = current_database() AND s.ssl AND a.application_name = 'overgang'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(on_tls >= 1, "no TLS connection of the store");
    s.close().await.unwrap();
    // The name is checked: 127.0.0.1 is not the certificate's name.
    let by_ip = format!(
        "postgres://postgres@127.0.0.1:5432/{}?sslmode=require",
        db.name
    );
    assert!(matches!(
        PgStore::connect(&by_ip, o.clone()).await,
        Err(StoreError::Open { .. })
    ));
    o.tls_ca_file = Some("/nonexistent.pem".into());
    assert!(matches!(
        PgStore::connect(&url, o).await,
        Err(StoreError::Open { .. })
    ));
}

#[tokio::test]
async fn two_nodes_recovering_expired_leases_at_once_take_each_back_once() {
    let db = TestDb::new().await;
    let mut o = opts("dead");
    o.lease_ms = 100;
    let dead = PgStore::connect(&db.url, o).await.unwrap();
    let a = Arc::new(db.store_as("a").await);
    let b = Arc::new(db.store_as("b").await);
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = format!("m{i:02}");
        dead.submit(routed(&id, i, &format!("p{i}"), &["R"]))
            .await
            .unwrap();
        ids.extend(ids_of(&dead, &id).await);
    }
    assert_eq!(dead.claim(ids.clone(), 1000).await.unwrap(), ids);
    dead.close().await.unwrap();
    let (ra, rb) = tokio::join!(a.recover(1100), b.recover(1100));
    assert_eq!(ra.unwrap() + rb.unwrap(), 20, "each taken back once");
    for id in &ids {
        let (d, events) = a.delivery(*id).await.unwrap().unwrap();
        assert_eq!((d.state, d.attempts), (D::Queued, 1));
        assert_eq!(
            events.len(),
            3,
            "queued, in flight, queued again: {events:?}"
        );
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[test]
fn the_source_never_changes_append_only_rows() {
    let norm = |s: &str| {
        s.to_ascii_uppercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let sources = [
        ("postgres.rs", norm(include_str!("../postgres.rs"))),
        ("messages.rs", norm(include_str!("messages.rs"))),
        ("queue.rs", norm(include_str!("queue.rs"))),
        ("people.rs", norm(include_str!("people.rs"))),
        ("retention.rs", norm(include_str!("retention.rs"))),
    ];
    for (name, source) in &sources {
        for table in ["HISTORY", "DELIVERY_EVENTS", "ACCESS_LOG"] {
            for verb in ["UPDATE ", "DELETE FROM ", "TRUNCATE "] {
                let forbidden = format!("{verb}{table}");
                let allowed = *name == "retention.rs" && forbidden == "DELETE FROM ACCESS_LOG";
                assert!(
                    allowed || !source.contains(&forbidden),
                    "{name} contains {forbidden:?}"
                );
            }
        }
    }
    // The access log's one delete is its retention, below the cut-off.
    let retention = &sources[4].1;
    assert_eq!(retention.matches("DELETE FROM ACCESS_LOG").count(), 1);
}

/// Whether `n` gets a permit within `within`.
async fn woken(n: &tokio::sync::Notify, within: Duration) -> bool {
    tokio::time::timeout(within, n.notified()).await.is_ok()
}

const SOON: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread")]
async fn work_made_due_on_one_node_wakes_the_other_through_listen_notify() {
    let db = TestDb::new().await;
    let mut o = opts("a");
    o.lease_ms = 1000;
    let a = PgStore::connect(&db.url, o).await.unwrap();
    let mut o = opts("b");
    o.lease_ms = 1000;
    let b = PgStore::connect(&db.url, o).await.unwrap();
    let (wa, wb) = (a.wakeups().unwrap(), b.wakeups().unwrap());
    // Each listener gives one permit once it listens (work may have come
    // while nobody listened); then nothing until something is due.
    assert!(
        woken(&wa, SOON).await && woken(&wb, SOON).await,
        "listening"
    );
    assert!(!woken(&wb, QUIET).await, "a permit for nothing");

    // Routed deliveries stored on a: b wakes (and a, its own listener).
    a.submit(routed("m1", 10, "p", &["R"])).await.unwrap();
    assert!(woken(&wb, SOON).await, "a submit with deliveries");
    assert!(woken(&wa, SOON).await);
    // A message without deliveries makes nothing due.
    a.submit(message("m0", 11, Some("k0"), b"m0"))
        .await
        .unwrap();
    assert!(!woken(&wb, QUIET).await, "a submit without deliveries");

    // a claims and dies; b takes the expired lease over: a (were it alive)
    // and b hear of it.
    let id = ids_of(&a, "m1").await[0];
    assert_eq!(a.claim(vec![id], 100).await.unwrap(), vec![id]);
    assert!(!woken(&wa, QUIET).await, "a claim makes nothing due");
    assert_eq!(b.reclaim_expired(1100).await.unwrap(), 1);
    assert!(woken(&wa, SOON).await, "a reclaimed lease");
    assert!(woken(&wb, SOON).await);

    // b sends it; it is refused for good; an operator replays it on b: a
    // wakes.
    assert_eq!(b.claim(vec![id], 1200).await.unwrap(), vec![id]);
    b.finish(attempt(
        id,
        1300,
        AttemptResult::DeadLetter {
            error: "refused".into(),
        },
    ))
    .await
    .unwrap();
    assert!(!woken(&wa, QUIET).await, "a dead letter makes nothing due");
    assert_eq!(b.replay(action(id, 1400)).await.unwrap(), D::Queued);
    assert!(woken(&wa, SOON).await, "a replay");

    // An asynchronous receipt with a callback: a delivery back to the
    // sender, due at once.
    assert_eq!(a.claim(vec![id], 1500).await.unwrap(), vec![id]);
    a.finish(attempt(id, 1600, AttemptResult::Delivered))
        .await
        .unwrap();
    let _ = woken(&wb, QUIET).await;
    a.record_receipt(id, 1700, "R".into(), receipt(1, "ar-1", Some("S")))
        .await
        .unwrap();
    assert!(woken(&wb, SOON).await, "a receipt's delivery to the sender");

    // A reload announced on a reaches b (and a).
    let (ra, rb) = (a.reloads().unwrap(), b.reloads().unwrap());
    assert!(!woken(&rb, QUIET).await, "a reload nobody asked for");
    a.announce_reload().await.unwrap();
    assert!(woken(&rb, SOON).await, "an announced reload");
    assert!(woken(&ra, SOON).await);

    // b's listening connection is cut: it comes back by itself, says so
    // (a permit on both, as something may have been missed) and hears a
    // again.
    let raw = db.raw().await;
    let cut = raw
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cut.len(), 2, "one listening connection per store");
    assert!(woken(&wb, SOON).await, "a permit after reconnecting");
    assert!(woken(&rb, SOON).await, "a reload after reconnecting");
    a.submit(routed("m2", 20, "p2", &["R"])).await.unwrap();
    assert!(woken(&wb, SOON).await, "heard after reconnecting");

    // Closed: the listener stops (no session of it is left).
    a.close().await.unwrap();
    b.close().await.unwrap();
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = raw
            .query(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE 'LISTEN%'",
                &[],
            )
            .await
            .unwrap()
            .len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "listening sessions after close");
}

/// `deliveries`' storage parameters (`reloptions`), as text.
async fn deliveries_options(db: &TestDb) -> String {
    db.raw()
        .await
        .query_one(
            "SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class
             WHERE relname = 'deliveries' AND relkind = 'r'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn versions(db: &TestDb) -> Vec<(i32, i64)> {
    db.raw()
        .await
        .query(
            "SELECT version, applied_at FROM overgang_schema ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn a_version_1_database_with_work_in_it_is_migrated_and_still_delivers() {
    assert_eq!(SCHEMA_VERSION, 2, "this test knows versions 1 and 2");
    let db = TestDb::new().await;
    // What the previous release left: schema 1, messages, deliveries
    // waiting in order, one of them in flight when that node stopped.
    let old = PgStore::connect_upto(&db.url, opts("n1"), 1).await.unwrap();
    assert_eq!(old.schema_version().await.unwrap(), 1);
    assert_eq!(deliveries_options(&db).await, "");
    for i in 0..3 {
        old.submit(routed(&format!("m{i}"), 10 + i, "p", &["R"]))
            .await
            .unwrap();
    }
    old.submit(routed("q", 20, "p2", &["R", "S"]))
        .await
        .unwrap();
    old.submit(message("plain", 21, Some("k-plain"), b"plain"))
        .await
        .unwrap();
    let first = ids_of(&old, "m0").await[0];
    assert_eq!(old.claim(vec![first], 100).await.unwrap(), vec![first]);
    old.close().await.unwrap();
    let v1 = versions(&db).await;
    assert_eq!(v1.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1]);

    // The new release starts on it (same node id): schema 2, everything
    // there, its cut-off attempt back in the queue, all delivered in order.
    let new = PgStore::connect(&db.url, opts("n1")).await.unwrap();
    assert_eq!(new.schema_version().await.unwrap(), 2);
    let v2 = versions(&db).await;
    assert_eq!(v2.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(v2[0], v1[0], "version 1 is not applied again");
    let opts_now = deliveries_options(&db).await;
    assert!(
        opts_now.contains("autovacuum_vacuum_scale_factor=0.02"),
        "{opts_now}"
    );
    for id in ["m0", "m1", "m2", "q", "plain"] {
        assert!(new.get(id).await.unwrap().is_some(), "{id}");
        assert!(new.original(id).await.unwrap().is_some(), "{id}");
    }
    assert_eq!(new.recover(200).await.unwrap(), 1);
    let mut order = Vec::new();
    for round in 0..20 {
        let now = 300 + round * 10;
        let due = due_ids(&new, now).await;
        if due.is_empty() {
            break;
        }
        for id in new.claim(due, now).await.unwrap() {
            new.finish(attempt(id, now + 1, AttemptResult::Delivered))
                .await
                .unwrap();
            order.push(id);
        }
    }
    assert_eq!(order.len(), 5, "every delivery went: {order:?}");
    let pair: Vec<i64> = [
        ids_of(&new, "m0").await,
        ids_of(&new, "m1").await,
        ids_of(&new, "m2").await,
    ]
    .concat();
    let went: Vec<i64> = order.iter().copied().filter(|i| pair.contains(i)).collect();
    assert_eq!(went, pair, "the pair's order");
    for id in ["m0", "m1", "m2", "q"] {
        for (d, _) in new.deliveries_of(id).await.unwrap() {
            assert_eq!(d.state, D::Delivered, "{id}");
        }
    }
    new.close().await.unwrap();
}

#[tokio::test]
async fn nodes_starting_at_once_on_a_version_1_database_migrate_it_once() {
    let db = TestDb::new().await;
    let old = PgStore::connect_upto(&db.url, opts("n0"), 1).await.unwrap();
    old.submit(routed("m", 10, "p", &["R"])).await.unwrap();
    old.close().await.unwrap();
    let v1 = versions(&db).await;
    let url = db.url.clone();
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url, opts(&format!("n{i}"))).await })
        })
        .collect();
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap().expect("every node starts"));
    }
    let v = versions(&db).await;
    assert_eq!(v.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(v[0], v1[0]);
    for s in &stores {
        assert_eq!(s.schema_version().await.unwrap(), 2);
        assert!(s.get("m").await.unwrap().is_some());
    }
    assert_eq!(due_ids(&stores[2], 100).await.len(), 1);
    for s in stores {
        s.close().await.unwrap();
    }
}
