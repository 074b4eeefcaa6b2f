//! End-to-end tests of `overgang serve`: the real binary on a loopback port,
//! spoken to over HTTP (and HTTPS), with a fresh store each.
//!
//! - the official examples are accepted, each answered with an AppRec that
//!   validates against the official XSD (xmllint), and stored with history;
//! - idempotency: the same message again → 200 and the same answer; the same
//!   MsgId with other bytes → 409 with E10;
//! - refusals: 400 (T01), 401, 403, 413, 422 (stored as rejected);
//! - JSON answers, metadata, search with cursors, health;
//! - graceful shutdown on SIGTERM, and the store reopens with everything;
//! - no national id or name of the examples' patients in the logs;
//! - TLS, and plain HTTP refused beyond loopback.

mod support {
    pub mod certs;
    pub mod corpus;
    pub mod patients;
    pub mod server;
    pub mod tempdir;
    pub mod wait;
    pub mod xmllint;
}

use reqwest::StatusCode;
use sha2::Digest;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::server::{self, Server, TempDir, DEMO_TOKEN, NARROW_TOKEN};
use support::wait::eventually;

fn client() -> reqwest::Client {
    // reqwest is built without a TLS crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

async fn post(
    c: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
    json: bool,
) -> Answer {
    let mut r = c
        .post(format!("{url}/api/v1/messages"))
        .header("content-type", "application/xml")
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if json {
        r = r.header("accept", "application/json");
    }
    let resp = r.send().await.expect("send");
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.text().await.expect("body");
    Answer {
        status,
        location,
        body,
    }
}

async fn get_json(
    c: &reqwest::Client,
    url: &str,
    path: &str,
    token: &str,
) -> (StatusCode, serde_json::Value) {
    let resp = c
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

fn examples() -> Vec<(String, Vec<u8>)> {
    support::corpus::official_examples()
        .into_iter()
        .map(|(n, p)| (n, std::fs::read(&p).expect("read example")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_examples_are_accepted_stored_and_answered_with_valid_apprecs() {
    // README's first command: the demo configuration itself, on a free port
    // and a fresh data folder.
    let tmp = TempDir::new("serve-examples");
    let cfg = support::corpus::repo().join("config/demo.toml");
    let data = tmp.path().join("data");
    let srv = Server::start(
        &cfg,
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().expect("utf-8 path"),
        ],
        &tmp.path().join("log"),
    );
    let c = client();
    let mut apprecs = Vec::new();
    let mut ids = HashSet::new();
    for (name, bytes) in examples() {
        let a = post(&c, &srv.url, Some(DEMO_TOKEN), bytes.clone(), false).await;
        assert_eq!(a.status, StatusCode::CREATED, "{name}: {}", a.body);
        assert!(
            a.body.contains("<Status V=\"1\""),
            "{name}: status 1 expected:\n{}",
            a.body
        );
        let location = a.location.expect("Location header");
        let id = location
            .strip_prefix("/api/v1/messages/")
            .expect("location path")
            .to_owned();
        assert!(ids.insert(id.clone()));

        let (st, meta) = get_json(&c, &srv.url, &location, DEMO_TOKEN).await;
        assert_eq!(st, StatusCode::OK, "{meta}");
        // Routed at intake: queued for its receivers (no receiver runs in
        // this test, so delivery may have started and be retrying).
        let st = meta["state"].as_str().unwrap_or("");
        assert!(st == "queued" || st == "delivering", "{name}: {st}");
        assert_eq!(meta["size"], bytes.len() as u64);
        let sha = sha2::Sha256::digest(&bytes);
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(meta["sha256"], hex.as_str());
        let history = meta["history"].as_array().expect("history");
        assert!(history.len() >= 2, "{name}: {history:?}");
        assert_eq!(history[0]["to"], "accepted");
        assert_eq!(history[0]["actor"], "system:demo-ehr");
        assert_eq!(history[1]["to"], "queued");
        assert!(
            history[1]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("routed to")),
            "{name}: {history:?}"
        );
        let deliveries = meta["deliveries"].as_array().expect("deliveries");
        assert!(!deliveries.is_empty(), "{name}: routed to someone");
        assert!(meta.get("original").is_none() && !meta.to_string().contains("Patient"));

        let stored = c
            .get(format!("{}{location}/apprec", srv.url))
            .bearer_auth(DEMO_TOKEN)
            .send()
            .await
            .expect("get apprec");
        assert_eq!(stored.status(), StatusCode::OK);
        assert_eq!(stored.text().await.expect("apprec"), a.body, "{name}");
        apprecs.push((name, a.body));
    }
    assert_eq!(apprecs.len(), 22);
    support::xmllint::assert_apprecs_validate(tmp.path(), "1.1", &apprecs);
    let status = srv.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_twice_is_stored_once_and_a_reused_msgid_is_a_conflict() {
    let tmp = TempDir::new("serve-idem");
    let cfg = server::test_config(tmp.path(), "");
    let srv = Server::start(&cfg, &[], &tmp.path().join("log"));
    let c = client();
    let (_, bytes) = examples().remove(0);
    let first = post(&c, &srv.url, Some(DEMO_TOKEN), bytes.clone(), false).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = post(&c, &srv.url, Some(DEMO_TOKEN), bytes.clone(), false).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body, "a replay gets the same answer");
    assert_eq!(again.location, first.location);
    let json = post(&c, &srv.url, Some(DEMO_TOKEN), bytes.clone(), true).await;
    assert_eq!(json.status, StatusCode::OK);

    // Same MsgId, other bytes (a comment added at the end).
    let mut other = bytes.clone();
    other.extend_from_slice(b"<!-- changed -->\n");
    let conflict = post(&c, &srv.url, Some(DEMO_TOKEN), other, false).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    assert!(conflict.body.contains("V=\"E10\""), "{}", conflict.body);
    assert!(conflict.body.contains("<Status V=\"2\""));
    support::xmllint::assert_apprecs_validate(
        tmp.path(),
        "1.1",
        &[("conflict".into(), conflict.body)],
    );

    let (_, page) = get_json(&c, &srv.url, "/api/v1/messages", DEMO_TOKEN).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_with_the_right_status() {
    let tmp = TempDir::new("serve-refuse");
    let cfg = server::test_config(tmp.path(), "");
    let srv = Server::start_env(
        &cfg,
        &[],
        &tmp.path().join("log"),
        &[("OVERGANG_SERVER__MAX_BODY_BYTES", "100000")],
    );
    let c = client();
    let (_, bytes) = examples().remove(0);

    // 401: no token, and a wrong one.
    let a = post(&c, &srv.url, None, bytes.clone(), false).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("Authorization"), "{}", a.body);
    let a = post(&c, &srv.url, Some("wrong-token"), bytes.clone(), false).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // 403: a system that may send only as HER-id 1234.
    let a = post(&c, &srv.url, Some(NARROW_TOKEN), bytes.clone(), false).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("HER-id"));

    // 400 with a T01 AppRec: not XML.
    let a = post(
        &c,
        &srv.url,
        Some(DEMO_TOKEN),
        b"this is not XML".to_vec(),
        false,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("V=\"T01\""), "{}", a.body);
    support::xmllint::assert_apprecs_validate(tmp.path(), "1.1", &[("not xml".into(), a.body)]);

    // 413: over the configured body limit.
    let mut big = bytes.clone();
    big.extend(std::iter::repeat_n(b' ', 120_000));
    let a = post(&c, &srv.url, Some(DEMO_TOKEN), big, false).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    // 422: a schema error; the message is stored as rejected.
    let text = String::from_utf8(bytes.clone()).expect("utf-8 example");
    let broken = text.replacen("<GenDate>", "<GenDate>not-a-date", 1);
    assert_ne!(broken, text);
    let a = post(&c, &srv.url, Some(DEMO_TOKEN), broken.into_bytes(), true).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
    assert_eq!(v["verdict"], "rejected");
    assert_eq!(v["apprec_status"], 2);
    assert!(v["findings"].as_array().is_some_and(|f| !f.is_empty()));
    let id = v["id"].as_str().expect("id");
    let (_, meta) = get_json(&c, &srv.url, &format!("/api/v1/messages/{id}"), DEMO_TOKEN).await;
    assert_eq!(meta["state"], "rejected");
    assert_eq!(meta["history"][0]["to"], "rejected");

    // Nothing else was stored.
    let (_, page) = get_json(&c, &srv.url, "/api/v1/messages", DEMO_TOKEN).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");

    // Other systems do not see it; unknown ids are 404.
    let (st, _) = get_json(
        &c,
        &srv.url,
        &format!("/api/v1/messages/{id}"),
        NARROW_TOKEN,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = get_json(&c, &srv.url, "/api/v1/messages/nope", DEMO_TOKEN).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = get_json(&c, &srv.url, "/api/v1/messages?state=lost", DEMO_TOKEN).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = get_json(&c, &srv.url, "/api/v1/messages?since=yesterday", DEMO_TOKEN).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_answers_search_with_cursors_and_health() {
    let tmp = TempDir::new("serve-search");
    // Delivery off: routed messages stay `queued`, so the state filter has
    // a fixed answer.
    let cfg = server::test_config(tmp.path(), "[delivery]\nenabled = false\n");
    let srv = Server::start(&cfg, &[], &tmp.path().join("log"));
    let c = client();
    let all = examples();
    let mut types = std::collections::HashMap::<String, usize>::new();
    for (_, bytes) in &all {
        let a = post(&c, &srv.url, Some(DEMO_TOKEN), bytes.clone(), true).await;
        assert_eq!(a.status, StatusCode::CREATED);
        let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
        for k in ["id", "msg_id", "verdict", "findings", "apprec_status"] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        let (_, meta) = get_json(
            &c,
            &srv.url,
            &format!("/api/v1/messages/{}", v["id"].as_str().unwrap_or("")),
            DEMO_TOKEN,
        )
        .await;
        *types
            .entry(meta["msg_type"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    // Walk all pages of 5.
    let mut seen = Vec::new();
    let mut path = "/api/v1/messages?limit=5".to_owned();
    loop {
        let (st, page) = get_json(&c, &srv.url, &path, DEMO_TOKEN).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 5);
        seen.extend(
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap_or("").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cur) => path = format!("/api/v1/messages?limit=5&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 22);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 22);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "time-ordered ids come in order");
    // Filters.
    let (t, n) = types.iter().max_by_key(|(_, n)| **n).expect("types");
    let (_, page) = get_json(
        &c,
        &srv.url,
        &format!("/api/v1/messages?type={t}&limit=100"),
        DEMO_TOKEN,
    )
    .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(*n));
    // `sender` is the most specific HER-id (the unit's when there is one).
    let (_, first) = get_json(&c, &srv.url, "/api/v1/messages?limit=1", DEMO_TOKEN).await;
    let her = first["items"][0]["sender_her"]
        .as_str()
        .expect("sender_her")
        .to_owned();
    let (_, page) = get_json(
        &c,
        &srv.url,
        &format!("/api/v1/messages?sender={her}&state=queued&since=2020-01-01"),
        DEMO_TOKEN,
    )
    .await;
    assert!(
        page["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{page}"
    );
    assert!(page["items"]
        .as_array()
        .is_some_and(|i| i.iter().all(|m| m["sender_her"] == her.as_str())));
    let (_, page) = get_json(
        &c,
        &srv.url,
        "/api/v1/messages?until=2020-01-01",
        DEMO_TOKEN,
    )
    .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
    // The narrow system sees none of the demo system's messages.
    let (_, page) = get_json(&c, &srv.url, "/api/v1/messages", NARROW_TOKEN).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));

    let h = c
        .get(format!("{}/healthz", srv.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(h.status(), StatusCode::OK);
    let r = c
        .get(format!("{}/readyz", srv.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["store"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_the_store_reopens() {
    let tmp = TempDir::new("serve-term");
    let cfg = server::test_config(tmp.path(), "");
    let log = tmp.path().join("log");
    let srv = Server::start(&cfg, &[], &log);
    let url = srv.url.clone();
    let all = examples();
    // 4 clients post unique messages while SIGTERM arrives.
    let mut tasks = Vec::new();
    for k in 0..4 {
        let url = url.clone();
        let all = all.clone();
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut acked = Vec::new();
            for i in 0..200 {
                let (_, b) = &all[(i + k) % all.len()];
                let b = server::with_msg_id(b, &format!("term-{k}-{i}"));
                match c
                    .post(format!("{url}/api/v1/messages"))
                    .bearer_auth(DEMO_TOKEN)
                    .body(b)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        if let Some(l) = r.headers().get("location").and_then(|v| v.to_str().ok()) {
                            acked.push(l.to_owned());
                        }
                    }
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let status = tokio::task::spawn_blocking(move || srv.terminate(Duration::from_secs(30)))
        .await
        .expect("terminate");
    assert!(status.success(), "exit status {status:?}");
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("client"));
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("store closed"), "log:\n{text}");

    let srv = Server::start(&cfg, &[], &log);
    let c = client();
    for l in &acked {
        let (st, meta) = get_json(&c, &srv.url, l, DEMO_TOKEN).await;
        assert_eq!(
            st,
            StatusCode::OK,
            "{l} acknowledged but missing after restart"
        );
        assert_eq!(meta["history"][0]["to"], "accepted");
    }
    eprintln!(
        "{} messages acknowledged before SIGTERM, all present after restart",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_national_id_or_name_reaches_the_logs() {
    let all = examples();
    let secrets = support::patients::secrets(all.iter().map(|(_, b)| b.as_slice()));
    assert!(secrets.len() >= 4, "expected ids and names in the examples");
    for format in ["text", "json"] {
        let tmp = TempDir::new("serve-logs");
        let cfg = server::test_config(tmp.path(), "");
        let log = tmp.path().join("log");
        let srv = Server::start_env(
            &cfg,
            &[],
            &log,
            &[
                ("OVERGANG_LOG__FORMAT", format),
                ("OVERGANG_LOG__LEVEL", "trace"),
            ],
        );
        let c = client();
        for (_, bytes) in examples() {
            let a = post(&c, &srv.url, Some(DEMO_TOKEN), bytes.clone(), false).await;
            assert_eq!(a.status, StatusCode::CREATED);
            // And a rejected variant, a replay and a conflict.
            let text = String::from_utf8_lossy(&bytes).replacen("<GenDate>", "<GenDate>x", 1);
            let _ = post(&c, &srv.url, Some(DEMO_TOKEN), text.into_bytes(), false).await;
            let _ = post(&c, &srv.url, Some(DEMO_TOKEN), bytes.clone(), false).await;
        }
        let status = srv.terminate(Duration::from_secs(20));
        assert!(status.success());
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(text.lines().count() > 22, "the log says little:\n{text}");
        if format == "json" {
            for l in text.lines() {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
            }
        }
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "the {format} log contains patient data (a national id or name)"
            );
        }
    }
}

/// Opens a TCP connection that sends nothing.
fn idle_connection(url: &str) -> std::net::TcpStream {
    let addr = url.trim_start_matches("http://");
    std::net::TcpStream::connect(addr).expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds_further_clients_back_and_slow_headers_time_out() {
    let tmp = TempDir::new("serve-limits");
    let cfg = server::test_config(tmp.path(), "");
    let srv = Server::start_env(
        &cfg,
        &[],
        &tmp.path().join("log"),
        &[
            ("OVERGANG_SERVER__MAX_CONNECTIONS", "2"),
            ("OVERGANG_SERVER__HEADER_TIMEOUT_SECS", "2"),
        ],
    );
    let health = format!("{}/healthz", srv.url);
    // Clients that keep no idle connection, so only the test's own hold places.
    let fresh = || {
        reqwest::Client::builder()
            .timeout(Duration::from_millis(700))
            .pool_max_idle_per_host(0)
            .build()
            .expect("client")
    };
    assert!(
        fresh().get(&health).send().await.is_ok(),
        "served while under the limit"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Two idle connections take both places: a third client waits.
    let a = idle_connection(&srv.url);
    let b = idle_connection(&srv.url);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        fresh().get(&health).send().await.is_err(),
        "a third connection must wait"
    );

    // One place frees: served again.
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = fresh()
        .get(&health)
        .send()
        .await
        .expect("served after a place freed");
    assert_eq!(r.status(), StatusCode::OK);

    // A client that never finishes its headers is cut off after the header
    // timeout (2 s), which frees its place too.
    use std::io::{Read, Write};
    let mut slow = b;
    slow.write_all(b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap_or(0);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(8),
        "not cut off after the header timeout ({waited:?})"
    );
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn plain_http_beyond_loopback_is_refused_at_start() {
    let tmp = TempDir::new("serve-plain");
    let cfg = server::test_config(tmp.path(), "");
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

fn tls_client(d: &Path, with_client_cert: bool) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    let ca = std::fs::read(d.join("ca.pem")).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile_certs(&ca) {
        roots.add(c).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let tls = if with_client_cert {
        let certs =
            rustls_pemfile_certs(&std::fs::read(d.join("client.pem")).expect("client cert"));
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(d.join("client-key.pem"))
            .expect("client key");
        builder
            .with_client_auth_cert(certs, key)
            .expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("tls client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_rustls_and_mutual_tls() {
    let tmp = TempDir::new("serve-tls");
    let d = tmp.path();
    support::certs::make_certificates(d);
    let cfg = server::test_config(
        d,
        &format!(
            "[[systems]]\nname = \"mtls\"\nclient_cert_subject = \"CN=ehr-mtls, O=Test HF\"\nmay_send_as = [\"*\"]\n\n\
             [tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
            d.join("server.pem").display(),
            d.join("server-key.pem").display(),
            d.join("ca.pem").display()
        ),
    );
    let srv = Server::start(&cfg, &[], &d.join("log"));
    assert!(srv.url.starts_with("https://"), "{}", srv.url);
    let all = examples();

    // A token over TLS, without a client certificate.
    let c = tls_client(d, false);
    let a = post(&c, &srv.url, Some(DEMO_TOKEN), all[0].1.clone(), false).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = post(&c, &srv.url, None, all[1].1.clone(), false).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // The client certificate alone authenticates the mtls system.
    let c = tls_client(d, true);
    let a = post(&c, &srv.url, None, all[1].1.clone(), true).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
    let (_, meta) = get_json(
        &c,
        &srv.url,
        &format!("/api/v1/messages/{}", v["id"].as_str().unwrap_or("")),
        DEMO_TOKEN,
    )
    .await;
    assert_eq!(meta["system"], "mtls", "{meta}");
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.expect("pem"))
        .collect()
}

/// The address registry reloads without a restart: on SIGHUP and on the
/// admin API (admin systems only); a broken file keeps the old registry and
/// shows in /readyz, which stays 200; polling sees a changed file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_reloads_on_sighup_the_admin_api_and_file_change() {
    let tmp = TempDir::new("serve-registry");
    let demo = support::corpus::repo().join("config/registry/demo.toml");
    let demo_text = std::fs::read_to_string(&demo).expect("demo registry");
    let reg = tmp.path().join("registry.toml");
    std::fs::write(&reg, &demo_text).expect("write registry");
    // An admin system; its token hash made by the binary itself.
    let admin_token = "registry-admin-test-token";
    let hash = {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_overgang"))
            .args(["token", "hash"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("token hash");
        writeln!(child.stdin.take().expect("stdin"), "{admin_token}").expect("write");
        let out = child.wait_with_output().expect("wait");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    };
    let extra = format!("[[systems]]\nname = \"ops\"\ntoken_hash = \"{hash}\"\nadmin = true\n");
    let cfg = server::test_config_with_registry(tmp.path(), &reg, "poll_secs = 0", &extra);
    let srv = Server::start(&cfg, &[], &tmp.path().join("log"));
    let c = client();
    let ready = |c: reqwest::Client, url: String| async move {
        let r = c.get(format!("{url}/readyz")).send().await.expect("readyz");
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.expect("json");
        v["registry"].clone()
    };
    let r0 = ready(c.clone(), srv.url.clone()).await;
    assert_eq!(r0["parties"], 13, "{r0}");
    assert!(r0["last_error"].is_null(), "{r0}");

    // SIGHUP: one more party.
    let one_more = "\n[[party]]\nher = \"8200013\"\nname = \"Ny fastlege (fiktiv)\"\nkind = \"gp\"\nparent = \"8200011\"\n";
    std::fs::write(&reg, format!("{demo_text}{one_more}")).expect("write");
    server::signal(srv.pid(), "HUP");
    let r1 = eventually(
        "SIGHUP to reload the registry",
        Duration::from_secs(5),
        || async {
            let r = ready(c.clone(), srv.url.clone()).await;
            if r["parties"] == 14 {
                Ok(r)
            } else {
                Err(r.to_string())
            }
        },
    )
    .await;
    assert_ne!(r1["loaded_at"], r0["loaded_at"]);

    // A broken file on SIGHUP: the old registry stays, the error shows.
    let broken = format!("{demo_text}{}", one_more.replace("\"8200011\"", "\"82x\""));
    std::fs::write(&reg, &broken).expect("write");
    server::signal(srv.pid(), "HUP");
    let r2 = eventually(
        "the refused file's error",
        Duration::from_secs(5),
        || async {
            let r = ready(c.clone(), srv.url.clone()).await;
            if r["last_error"].is_null() {
                Err(r.to_string())
            } else {
                Ok(r)
            }
        },
    )
    .await;
    assert_eq!(r2["parties"], 14, "{r2}");
    let err = r2["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("registry.toml:")
            && err.contains("party 8200013: parent \"82x\" is not a HER-id"),
        "{r2}"
    );
    // … and it is an alert for the operators.
    let alerts = eventually("the registry alert", Duration::from_secs(5), || async {
        let (_, a) = get_json(&c, &srv.url, "/api/v1/alerts", admin_token).await;
        if a["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x["kind"] == "registry"))
        {
            Ok(a)
        } else {
            Err(a.to_string())
        }
    })
    .await;
    let alert = &alerts["items"][0];
    assert_eq!(alert["kind"], "registry", "{alerts}");
    assert!(
        alert["text_en"]
            .as_str()
            .is_some_and(|t| t.contains("previous registry stays in force") && t.contains("82x")),
        "{alert}"
    );

    // The admin API: a non-admin gets 403 and nothing changes.
    std::fs::write(&reg, &demo_text).expect("write");
    let post_reload = |token: &'static str| {
        let c = c.clone();
        let url = srv.url.clone();
        async move {
            let r = c
                .post(format!("{url}/api/v1/admin/registry/reload"))
                .bearer_auth(token)
                .send()
                .await
                .expect("reload");
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            (status, v)
        }
    };
    let (st, v) = post_reload(NARROW_TOKEN).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"], "not_admin");
    let (st, _) = post_reload(DEMO_TOKEN).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(ready(c.clone(), srv.url.clone()).await["parties"], 14);
    let r = c
        .post(format!("{}/api/v1/admin/registry/reload", srv.url))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The admin: reloaded, the error cleared.
    let admin: &'static str = "registry-admin-test-token";
    let (st, v) = post_reload(admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["parties"], 13, "{v}");
    let r3 = ready(c.clone(), srv.url.clone()).await;
    assert_eq!(r3["parties"], 13, "{r3}");
    assert!(r3["last_error"].is_null(), "{r3}");

    // A broken file through the API: 422, the old registry stays.
    std::fs::write(&reg, &broken).expect("write");
    let (st, v) = post_reload(admin).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "registry_invalid");
    assert_eq!(v["registry"]["parties"], 13, "{v}");
    assert!(
        v["detail"].as_str().unwrap_or_default().contains("\"82x\""),
        "{v}"
    );

    // The log names the failure with file:line.
    let log = srv.log_text();
    assert!(log.contains("registry reload failed"), "{log}");
    assert!(log.contains("registry.toml:"), "{log}");
    srv.terminate(Duration::from_secs(20));

    // Polling: with poll_secs = 1 a changed file is picked up by itself.
    std::fs::write(&reg, &demo_text).expect("write");
    let cfg = server::test_config_with_registry(tmp.path(), &reg, "poll_secs = 1", &extra);
    let srv = Server::start(&cfg, &[], &tmp.path().join("log2"));
    assert_eq!(ready(c.clone(), srv.url.clone()).await["parties"], 13);
    // A different size, so the change shows even within one mtime tick.
    std::fs::write(&reg, format!("{demo_text}{one_more}")).expect("write");
    eventually(
        "polling to reload the registry",
        Duration::from_secs(10),
        || async {
            let r = ready(c.clone(), srv.url.clone()).await;
            if r["parties"] == 14 {
                Ok(())
            } else {
                Err(r.to_string())
            }
        },
    )
    .await;
    srv.terminate(Duration::from_secs(20));
}
