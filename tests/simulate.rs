//! End-to-end tests of `overgang simulate receiver` (crates/simulate): the
//! real binary on a loopback port, sent official example messages over HTTP.
//!
//! - `ok`, `reject`, `warn`: 200 and an AppRec with status 1, 2 (X99) or 3
//!   (X99) that answers the message (OriginalMsgId, sender and receiver
//!   swapped) and validates against the official AppRec XSD (xmllint), in
//!   v1.1 and v1.0;
//! - `async`: 202, then the AppRec posted to a fake gateway with the bearer
//!   token, retried after a 503;
//! - `down`: the connection is closed without an answer, control endpoints
//!   still answer, and `/_sim/behaviour` brings the receiver back (and down
//!   again, also on a connection opened before);
//! - `flaky:0.5` with a fixed seed: both outcomes, the same ones again with
//!   the same seed; `slow`, `http:CODE`, `retry-after`;
//! - deduplication on MsgId (the same receipt, counted), require-token 401,
//!   receipt callbacks, no patient data in `/_sim/received`;
//! - refusals: a non-loopback `--listen`, a bad `--behaviour`;
//! - `overgang serve --demo` starts a receiver per registry address (and
//!   refuses endpoints beyond loopback).

mod support {
    pub mod corpus;
    pub mod server;
    pub mod simulator;
    pub mod tempdir;
    pub mod xmllint;
}

use overgang_model::Message;
use reqwest::StatusCode;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::server::{client, with_msg_id, TempDir};
use support::simulator::Simulator;

/// The first `n` official examples as (name, bytes).
fn examples(n: usize) -> Vec<(String, Vec<u8>)> {
    support::corpus::official_examples()
        .into_iter()
        .take(n)
        .map(|(name, p)| (name, std::fs::read(&p).expect("read example")))
        .collect()
}

fn read_message(bytes: &[u8]) -> Message {
    let doc = overgang_xml::parse(bytes, &overgang_xml::Limits::default()).expect("example parses");
    Message::read(&doc)
}

fn read_apprec(xml: &str) -> overgang_model::AppRecInfo {
    overgang_apprec::read(xml.as_bytes(), &overgang_xml::Limits::default())
        .unwrap_or_else(|e| panic!("not an AppRec ({e}):\n{xml}"))
}

/// A message with a fresh MsgId.
fn fresh(bytes: &[u8]) -> (String, Vec<u8>) {
    let id = uuid::Uuid::new_v4().to_string();
    let b = with_msg_id(bytes, &id);
    (id, b)
}

struct Answer {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

async fn post(c: &reqwest::Client, url: &str, token: Option<&str>, body: Vec<u8>) -> Answer {
    try_post(c, url, token, body)
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

async fn try_post(
    c: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<Answer, reqwest::Error> {
    let mut r = c
        .post(url)
        .header("content-type", "application/xml")
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await?;
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let status = resp.status();
    let body = resp.text().await?;
    Ok(Answer {
        status,
        content_type,
        retry_after,
        body,
    })
}

/// Checks that `apprec` answers `message`: status, error code, the original
/// message id, and sender and receiver swapped.
fn assert_answers(name: &str, message: &[u8], apprec: &str, status: &str, error: Option<&str>) {
    let m = read_message(message);
    let a = read_apprec(apprec);
    let got = a.status_code.as_ref().and_then(|c| c.v.as_deref());
    assert_eq!(got, Some(status), "{name}: status\n{apprec}");
    let codes: Vec<&str> = a.errors.iter().filter_map(|e| e.v.as_deref()).collect();
    match error {
        None => assert!(codes.is_empty(), "{name}: no errors expected: {codes:?}"),
        Some(code) => {
            assert_eq!(codes, [code], "{name}");
            let ot = a.errors[0].ot.as_deref().unwrap_or("");
            assert!(
                ot.contains("Simulert") && ot.contains("simulated"),
                "{name}: OT {ot}"
            );
        }
    }
    let original = a.original.as_ref().and_then(|o| o.id.as_deref());
    assert_eq!(original, m.msg_id(), "{name}: OriginalMsgId");
    let inst = |p: &Option<overgang_model::AppRecParty>| p.as_ref().and_then(|p| p.inst_id.clone());
    assert_eq!(
        inst(&a.sender).as_deref(),
        m.receiver().and_then(|r| r.her_id()),
        "{name}: the AppRec's sender is the message's receiver"
    );
    assert_eq!(
        inst(&a.receiver).as_deref(),
        m.sender().and_then(|s| s.her_id()),
        "{name}: the AppRec's receiver is the message's sender"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_reject_and_warn_answer_with_valid_apprecs_that_answer_the_message() {
    let tmp = TempDir::new("sim-statuses");
    let c = client();
    let mut v11 = Vec::new();
    for (behaviour, status, error, n) in [
        ("ok", "1", None, 22),
        ("reject", "2", Some("X99"), 4),
        ("warn", "3", Some("X99"), 4),
    ] {
        let sim = Simulator::start(
            &["--behaviour", behaviour],
            &tmp.path().join(format!("{behaviour}.log")),
        );
        for (name, bytes) in examples(n) {
            let a = post(&c, &format!("{}/plo", sim.url), None, bytes.clone()).await;
            assert_eq!(a.status, StatusCode::OK, "{behaviour} {name}: {}", a.body);
            assert!(
                a.content_type.starts_with("application/xml"),
                "{behaviour} {name}: {}",
                a.content_type
            );
            assert_answers(
                &format!("{behaviour} {name}"),
                &bytes,
                &a.body,
                status,
                error,
            );
            v11.push((format!("{behaviour} {name}"), a.body));
        }
        let log = sim.log_text();
        assert!(log.contains("message received"), "{log}");
    }
    support::xmllint::assert_apprecs_validate(tmp.path(), "1.1", &v11);

    // AppRec v1.0 on request.
    let mut v10 = Vec::new();
    let sim = Simulator::start(
        &["--apprec-version", "1.0", "--behaviour", "reject"],
        &tmp.path().join("v10.log"),
    );
    for (name, bytes) in examples(3) {
        let a = post(&c, &format!("{}/plo", sim.url), None, bytes.clone()).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a
            .body
            .contains("http://www.kith.no/xmlstds/apprec/2004-11-21"));
        assert_answers(&name, &bytes, &a.body, "2", Some("X99"));
        v10.push((name, a.body));
    }
    support::xmllint::assert_apprecs_validate(tmp.path(), "1.0", &v10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_bodies_get_a_t01_receipt_and_get_is_refused() {
    let tmp = TempDir::new("sim-unreadable");
    let sim = Simulator::start(&[], &tmp.path().join("log"));
    let c = client();
    let a = post(&c, &format!("{}/plo", sim.url), None, b"not xml".to_vec()).await;
    assert_eq!(a.status, StatusCode::OK);
    let info = read_apprec(&a.body);
    assert_eq!(info.status_code.and_then(|c| c.v).as_deref(), Some("2"));
    assert_eq!(info.errors[0].v.as_deref(), Some("T01"));
    support::xmllint::assert_apprecs_validate(tmp.path(), "1.1", &[("not xml".into(), a.body)]);
    let r = c.get(format!("{}/plo", sim.url)).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = c
        .get(format!("{}/_sim/nothing", sim.url))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// What the fake gateway saw: (authorization header, content type, body).
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>, String)>>>;

/// A fake gateway on loopback: `POST /api/v1/apprecs` answers 503 the
/// first `fail_first` times, then 200, and records every request.
async fn fake_gateway(fail_first: usize) -> (String, Seen) {
    use axum::http::HeaderMap;
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/api/v1/apprecs",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let mut seen = s.lock().expect("lock");
                seen.push((h("authorization"), h("content-type"), body));
                if seen.len() <= fail_first {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake gateway");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_answers_202_then_posts_the_apprec_to_the_gateway_with_the_token() {
    let tmp = TempDir::new("sim-async");
    let (gateway, seen) = fake_gateway(1).await;
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "receiver-callback-token\n").expect("token");
    let sim = Simulator::start(
        &[
            "--behaviour",
            "async",
            "--gateway",
            &gateway,
            "--token-file",
            token_file.to_str().expect("utf-8"),
            "--async-delay-ms",
            "20",
        ],
        &tmp.path().join("log"),
    );
    let c = client();
    let (name, bytes) = examples(1).remove(0);
    let started = Instant::now();
    let a = post(&c, &format!("{}/plo", sim.url), None, bytes.clone()).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert!(a.body.is_empty(), "{}", a.body);

    // The first post gets 503; the second is accepted.
    let posted = loop {
        {
            let seen = seen.lock().expect("lock");
            if seen.len() >= 2 {
                break seen.clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the receipt never reached the gateway; log:\n{}",
            sim.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for (auth, ctype, body) in &posted {
        assert_eq!(auth.as_deref(), Some("Bearer receiver-callback-token"));
        assert!(ctype
            .as_deref()
            .unwrap_or("")
            .starts_with("application/xml"));
        assert_answers(&name, &bytes, body, "1", None);
    }
    assert_eq!(posted[0].2, posted[1].2, "a retry sends the same receipt");
    support::xmllint::assert_apprecs_validate(tmp.path(), "1.1", &[(name, posted[0].2.clone())]);

    // The book says it was delivered.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = sim.received(&c).await;
        if r["received"][0]["callback"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_without_a_gateway_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["simulate", "receiver", "--behaviour", "async"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--gateway"), "{err}");

    let tmp = TempDir::new("sim-async-switch");
    let sim = Simulator::start(&[], &tmp.path().join("log"));
    let r = client()
        .post(format!("{}/_sim/behaviour", sim.url))
        .body("async")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.expect("text");
    assert!(text.contains("--gateway"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_closes_connections_and_the_behaviour_switches_at_run_time() {
    let tmp = TempDir::new("sim-down");
    let sim = Simulator::start(&["--behaviour", "down"], &tmp.path().join("log"));
    let c = client();
    let (_, bytes) = examples(1).remove(0);
    let url = format!("{}/plo", sim.url);

    // Down: accepted and closed, no HTTP answer at all.
    for _ in 0..2 {
        let e = try_post(&c, &url, None, bytes.clone())
            .await
            .err()
            .expect("a down receiver gives no answer");
        assert!(!e.is_status(), "{e}");
    }
    // The control endpoints still answer.
    let r = sim.received(&c).await;
    assert_eq!(r["totals"]["messages"], 0);
    assert_eq!(r["totals"]["dropped"], 2, "{r}");

    // Up again.
    sim.set_behaviour(&c, "ok").await;
    let a = post(&c, &url, None, bytes.clone()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("<Status V=\"1\""));

    // Down again: also for this client's kept-alive connection.
    sim.set_behaviour(&c, "down").await;
    let e = try_post(&c, &url, None, fresh(&bytes).1).await;
    assert!(e.is_err(), "a request after down must get no answer");
    let fresh_client = client();
    assert!(try_post(&fresh_client, &url, None, fresh(&bytes).1)
        .await
        .is_err());
    let r = sim.received(&c).await;
    assert_eq!(r["totals"]["messages"], 1, "{r}");

    let behaviour: serde_json::Value = c
        .get(format!("{}/_sim/behaviour", sim.url))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(behaviour["behaviour"], "down");

    // A bad behaviour is refused with a reason in both languages.
    let r = c
        .post(format!("{}/_sim/behaviour", sim.url))
        .body("sometimes")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.expect("text");
    assert!(
        text.contains("ukjent oppførsel") && text.contains("unknown behaviour"),
        "{text}"
    );
}

/// The outcomes of `n` fresh messages to a `flaky:0.5` receiver with `seed`.
async fn flaky_outcomes(tmp: &Path, seed: &str, n: usize) -> Vec<u16> {
    let sim = Simulator::start(
        &["--behaviour", "flaky:0.5", "--seed", seed],
        &tmp.join(format!("flaky-{seed}.log")),
    );
    let c = client();
    let (_, bytes) = examples(1).remove(0);
    let mut out = Vec::new();
    for _ in 0..n {
        let a = post(&c, &format!("{}/plo", sim.url), None, fresh(&bytes).1).await;
        match a.status {
            StatusCode::OK => assert!(a.body.contains("<Status V=\"1\"")),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(a.retry_after.as_deref(), Some("1"))
            }
            s => panic!("flaky answered {s}"),
        }
        out.push(a.status.as_u16());
    }
    let r = sim.received(&c).await;
    let ok = out.iter().filter(|s| **s == 200).count() as u64;
    assert_eq!(r["totals"]["messages"], ok, "{r}");
    assert_eq!(r["totals"]["refused"], n as u64 - ok, "{r}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_with_a_fixed_seed_gives_both_outcomes_and_the_same_again() {
    let tmp = TempDir::new("sim-flaky");
    let first = flaky_outcomes(tmp.path(), "7", 24).await;
    assert!(first.contains(&200) && first.contains(&503), "{first:?}");
    let again = flaky_outcomes(tmp.path(), "7", 24).await;
    assert_eq!(first, again, "the same seed gives the same answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_http_and_retry_after() {
    let tmp = TempDir::new("sim-transport");
    let sim = Simulator::start(&["--behaviour", "slow:300"], &tmp.path().join("log"));
    let c = client();
    let (_, bytes) = examples(1).remove(0);
    let url = format!("{}/plo", sim.url);

    let t = Instant::now();
    let a = post(&c, &url, None, fresh(&bytes).1).await;
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("<Status V=\"1\""));

    for (behaviour, status) in [("http:400", 400u16), ("http:503", 503), ("http:429", 429)] {
        sim.set_behaviour(&c, behaviour).await;
        let a = post(&c, &url, None, fresh(&bytes).1).await;
        assert_eq!(a.status.as_u16(), status, "{behaviour}");
        assert!(a.body.is_empty(), "{behaviour}: no receipt: {}", a.body);
    }
    sim.set_behaviour(&c, "retry-after:7").await;
    let a = post(&c, &url, None, fresh(&bytes).1).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.retry_after.as_deref(), Some("7"));
    assert!(!a.body.contains("AppRec"));

    let r = sim.received(&c).await;
    assert_eq!(r["totals"]["messages"], 1, "{r}");
    assert_eq!(r["totals"]["refused"], 4, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_msg_id_seen_before_gets_the_same_receipt_and_is_counted() {
    let tmp = TempDir::new("sim-dedup");
    let sim = Simulator::start(&[], &tmp.path().join("log"));
    let c = client();
    let two = examples(2);
    let url = format!("{}/plo", sim.url);
    let first = post(&c, &url, None, two[0].1.clone()).await;
    let other = post(&c, &url, None, two[1].1.clone()).await;
    // The receiver now rejects everything new, but a message it has
    // processed is answered as it was the first time.
    sim.set_behaviour(&c, "reject").await;
    for _ in 0..2 {
        let again = post(&c, &url, None, two[0].1.clone()).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(
            again.body, first.body,
            "the same receipt, the same receipt id"
        );
    }
    let third = post(&c, &url, None, fresh(&two[0].1).1).await;
    assert!(third.body.contains("<Status V=\"2\""));

    let r = sim.received(&c).await;
    assert_eq!(r["totals"]["messages"], 3, "{r}");
    assert_eq!(r["totals"]["duplicates"], 2, "{r}");
    let list = r["received"].as_array().expect("list");
    let m0 = read_message(&two[0].1);
    let m1 = read_message(&two[1].1);
    assert_eq!(list[0]["msg_id"].as_str(), m0.msg_id());
    assert_eq!(list[0]["times"], 3);
    assert_eq!(list[0]["apprec_status"], "1");
    assert_eq!(list[0]["path"], "/plo");
    assert_eq!(list[0]["msg_type"].as_str(), m0.msg_type());
    assert_eq!(
        list[0]["receiver_her"].as_str(),
        m0.receiver().and_then(|r| r.most_specific_her_id())
    );
    assert_eq!(
        list[0]["sender_her"].as_str(),
        m0.sender().and_then(|s| s.most_specific_her_id())
    );
    assert!(list[0]["at_ms"].as_i64().unwrap_or(0) > 1_600_000_000_000);
    let receipt = read_apprec(&first.body);
    assert_eq!(list[0]["receipt_id"].as_str(), receipt.id.as_deref());
    assert_eq!(list[1]["msg_id"].as_str(), m1.msg_id());
    assert_eq!(list[1]["times"], 1);
    let _ = other;

    // Ids, types and HER-ids only: no patient data.
    let allowed = [
        "msg_id",
        "msg_type",
        "sender_her",
        "receiver_her",
        "path",
        "at_ms",
        "times",
        "apprec_status",
        "receipt_id",
        "callback",
    ];
    for e in list {
        for k in e.as_object().expect("object").keys() {
            assert!(allowed.contains(&k.as_str()), "unexpected field {k}");
        }
    }
    let text = r.to_string();
    let log = sim.log_text();
    for m in [&m0, &m1] {
        let p = m
            .head
            .as_ref()
            .and_then(|h| h.patient.as_ref())
            .expect("a patient");
        let mut secrets: Vec<&String> = p
            .idents
            .iter()
            .filter_map(|i| i.id.expose().as_ref())
            .collect();
        secrets.extend(p.family_name.expose().as_ref());
        assert!(!secrets.is_empty());
        for s in secrets {
            assert!(!text.contains(s.as_str()), "patient data in /_sim/received");
            assert!(!log.contains(s.as_str()), "patient data in the log");
        }
    }
    assert!(
        log.contains(m0.msg_id().expect("id")),
        "the log names the MsgId"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_token_refuses_requests_without_the_bearer_token() {
    let tmp = TempDir::new("sim-token");
    let f = tmp.path().join("token");
    std::fs::write(&f, "the-receivers-token\n").expect("write");
    let sim = Simulator::start(
        &["--require-token-file", f.to_str().expect("utf-8")],
        &tmp.path().join("log"),
    );
    let c = client();
    let (_, bytes) = examples(1).remove(0);
    let url = format!("{}/plo", sim.url);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic the-receivers-token"),
        Some("Bearer the-receivers-tokenx"),
    ] {
        let mut r = c.post(&url).body(bytes.clone());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.expect("POST");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    let a = post(&c, &url, Some("the-receivers-token"), bytes.clone()).await;
    assert_eq!(a.status, StatusCode::OK);
    // Control endpoints need no token.
    let r = sim.received(&c).await;
    assert_eq!(r["totals"]["messages"], 1);
    assert_eq!(r["totals"]["refused"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_callbacks_are_recorded() {
    let tmp = TempDir::new("sim-receipts");
    let sim = Simulator::start(&[], &tmp.path().join("log"));
    let c = client();
    let (_, bytes) = examples(1).remove(0);
    let apprec = post(&c, &format!("{}/plo", sim.url), None, bytes.clone())
        .await
        .body;
    let r = c
        .post(format!("{}/receipts", sim.url))
        .body(apprec.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .post(format!("{}/receipts", sim.url))
        .body("<nope/>")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let list = sim.receipts(&c).await;
    let receipts = list["receipts"].as_array().expect("list");
    assert_eq!(receipts.len(), 1, "{list}");
    let m = read_message(&bytes);
    assert_eq!(receipts[0]["original_msg_id"].as_str(), m.msg_id());
    assert_eq!(receipts[0]["status"], "1");
    assert_eq!(receipts[0]["path"], "/receipts");
    assert!(receipts[0]["at_ms"].as_i64().unwrap_or(0) > 0);
    // A receipt is not a message.
    assert_eq!(sim.received(&c).await["totals"]["messages"], 1);
}

#[test]
fn a_listen_address_beyond_loopback_and_a_bad_behaviour_are_refused() {
    for (args, nb, en) in [
        (
            vec!["--listen", "0.0.0.0:0"],
            "ikke en loopback-adresse",
            "not a loopback address",
        ),
        (
            vec!["--listen", "192.0.2.1:9000"],
            "ikke en loopback-adresse",
            "not a loopback address",
        ),
        (vec!["--behaviour", "flaky:2"], "fra 0 til 1", "from 0 to 1"),
        (
            vec!["--behaviour", "sleepy"],
            "ukjent oppførsel",
            "unknown behaviour",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
            .args(["simulate", "receiver"])
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(nb) && err.contains(en), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing started");
    }
}

/// Two distinct free loopback ports (bound together, then released; good
/// enough for a test).
fn free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, b) = (bind(), bind());
    let port = |l: &std::net::TcpListener| l.local_addr().expect("addr").port();
    (port(&a), port(&b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_starts_a_receiver_for_every_registry_address() {
    let tmp = TempDir::new("sim-demo");
    let (p1, p2) = free_ports();
    std::fs::write(tmp.path().join("unit.token"), "unit-token\n").expect("token");
    let registry = tmp.path().join("registry.toml");
    std::fs::write(
        &registry,
        format!(
            r#"
[[party]]
her = "59"
name = "Sykehuset"
kind = "organisation"
endpoint = "http://127.0.0.1:{p1}/plo"
callback = "http://127.0.0.1:{p1}/receipts"
accepts = [{{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }}]

[[party]]
her = "8100001"
name = "Kommunen"
kind = "organisation"
municipality = "4699"
endpoint = "http://127.0.0.1:{p1}/kommune"
accepts = [{{ type = "LOG_INNLAGT", versions = ["1.6"] }}]

[[party]]
her = "8100003"
name = "Tildelingskontoret"
kind = "municipal_service"
parent = "8100001"
municipality = "4699"
endpoint = "http://localhost:{p2}/plo"
auth = {{ bearer_token_file = "unit.token" }}
accepts = [{{ type = "LOG_INNLAGT", versions = ["1.6"] }}]
"#
        ),
    )
    .expect("registry");
    let cfg = support::server::test_config_with_registry(tmp.path(), &registry, "", "");
    let srv = support::server::Server::start(&cfg, &["--demo"], &tmp.path().join("log"));
    let c = client();
    let (_, bytes) = examples(1).remove(0);

    let a = post(
        &c,
        &format!("http://127.0.0.1:{p1}/plo"),
        None,
        bytes.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("<Status V=\"1\""));
    // The unit with its own system requires the token the gateway holds.
    let url2 = format!("http://127.0.0.1:{p2}/plo");
    let a = post(&c, &url2, None, bytes.clone()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = post(&c, &url2, Some("unit-token"), bytes.clone()).await;
    assert_eq!(a.status, StatusCode::OK);
    // The gateway runs beside them.
    let r = c
        .get(format!("{}/healthz", srv.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    let status = srv.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    // Both receivers stopped with the gateway.
    assert!(try_post(
        &client(),
        &format!("http://127.0.0.1:{p1}/plo"),
        None,
        bytes
    )
    .await
    .is_err());

    // Endpoints beyond loopback: --demo is refused before anything starts.
    std::fs::write(
        &registry,
        r#"
[[party]]
her = "59"
name = "Sykehuset"
kind = "organisation"
endpoint = "https://ehr.example.no/plo"
accepts = [{ type = "LOG_INNLAGT", versions = ["1.6"] }]
"#,
    )
    .expect("registry");
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["serve", "--demo", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loopback") && err.contains("ehr.example.no") && err.contains("HER 59"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
