//! The load loop against a tiny gateway stand-in on 127.0.0.1:0: every request
//! arrives, each with a MsgId of its own, and the report counts what the
//! server answered.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use overgang_load::run::{run, Bound, Config};
use overgang_load::target::check_url;
use overgang_load::template::{find_msg_id, Template};

const TOKEN: &str = "test-token";

/// What the stand-in saw: each request's MsgId and which template it came from.
#[derive(Default)]
struct Seen {
    msg_ids: Vec<String>,
    templates: Vec<String>,
    bad_requests: usize,
}

#[derive(Clone)]
struct Server {
    seen: Arc<Mutex<Seen>>,
    /// The status of the n-th request (from 0).
    answer: fn(usize) -> StatusCode,
}

async fn intake(State(s): State<Server>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let auth_ok = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"));
    let type_ok =
        headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/xml");
    let mut seen = s.seen.lock().unwrap();
    let n = seen.msg_ids.len() + seen.bad_requests;
    match find_msg_id(&body) {
        Ok(range) if auth_ok && type_ok => {
            seen.msg_ids
                .push(String::from_utf8_lossy(&body[range]).into_owned());
            let which = if body.windows(6).any(|w| w == b"FIRST!") {
                "first"
            } else {
                "second"
            };
            seen.templates.push(which.to_string());
            ((s.answer)(n), "<AppRec/>".to_string())
        }
        _ => {
            seen.bad_requests += 1;
            (StatusCode::BAD_REQUEST, String::new())
        }
    }
}

/// Starts the stand-in; returns its base URL and what it sees.
async fn serve(answer: fn(usize) -> StatusCode) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/api/v1/messages", post(intake))
        .with_state(Server {
            seen: Arc::clone(&seen),
            answer,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn templates() -> Vec<Template> {
    let first = br#"<?xml version="1.0" encoding="UTF-8"?>
<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">
  <MsgInfo><MsgId>template-one</MsgId></MsgInfo><Document>FIRST!</Document>
</MsgHead>"#;
    let second = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<mh:MsgHead xmlns:mh=\"http://www.kith.no/xmlstds/msghead/2006-05-24\"><mh:MsgInfo><mh:MsgId>template-two</mh:MsgId></mh:MsgInfo><mh:Document>\xE6\xF8\xE5</mh:Document></mh:MsgHead>";
    vec![
        Template::new("first.xml", first.to_vec()).unwrap(),
        Template::new("second.xml", second.to_vec()).unwrap(),
    ]
}

fn config(url: &str, concurrency: usize, bound: Bound, warmup: Duration) -> Config {
    Config {
        target: check_url(url).unwrap(),
        token: TOKEN.to_string(),
        concurrency,
        bound,
        warmup,
        timeout: Duration::from_secs(10),
        ca: None,
        http2: false,
        rate: None,
        patients: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_arrives_with_a_fresh_msg_id_and_is_counted() {
    let (url, seen) = serve(|_| StatusCode::CREATED).await;
    let report = run(
        &config(&url, 8, Bound::Requests(300), Duration::ZERO),
        templates(),
    )
    .await
    .unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.bad_requests, 0);
    assert_eq!(seen.msg_ids.len(), 300);
    let unique: HashSet<&String> = seen.msg_ids.iter().collect();
    assert_eq!(unique.len(), 300, "every MsgId is new");
    assert!(!unique.contains(&"template-one".to_string()));
    // Round robin over the two templates.
    let firsts = seen.templates.iter().filter(|t| *t == "first").count();
    assert_eq!(firsts, 150);

    assert_eq!(report.requests, 300);
    assert_eq!(report.acknowledged, 300);
    assert_eq!(report.by_status.get(&201), Some(&300));
    assert_eq!(report.errors, 0);
    assert_eq!(report.failed, 0);
    assert_eq!(report.concurrency, 8);
    assert!(report.elapsed_s > 0.0);
    assert!(report.throughput_ack_per_s > 0.0);
    assert!(report.latency_ms.p50 > 0.0);
    assert!(report.latency_ms.p50 <= report.latency_ms.p99);
    assert!(report.latency_ms.p99 <= report.latency_ms.max);
    assert!(!report.failed_run());

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["by_status"]["201"], 300);
    assert_eq!(json["requests"], 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_but_stored_counts_as_acknowledged_other_answers_fail() {
    // Every 4th is 422 (stored), every 10th a 409 (not acknowledged).
    let (url, _seen) = serve(|n| match n % 20 {
        0 | 10 => StatusCode::CONFLICT,
        _ if n % 4 == 1 => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CREATED,
    })
    .await;
    let report = run(
        &config(&url, 1, Bound::Requests(100), Duration::ZERO),
        templates(),
    )
    .await
    .unwrap();
    assert_eq!(report.requests, 100);
    assert_eq!(report.by_status.get(&409), Some(&10));
    assert_eq!(report.by_status.get(&422), Some(&25));
    assert_eq!(report.by_status.get(&201), Some(&65));
    assert_eq!(report.acknowledged, 90);
    assert_eq!(report.failed, 10);
    assert!(report.failed_run(), "10% failed is more than 1%");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_is_sent_but_not_counted() {
    let (url, seen) = serve(|_| StatusCode::CREATED).await;
    let report = run(
        &config(
            &url,
            4,
            Bound::Duration(Duration::from_millis(300)),
            Duration::from_millis(200),
        ),
        templates(),
    )
    .await
    .unwrap();
    let arrived = seen.lock().unwrap().msg_ids.len() as u64;
    assert!(report.warmup_requests > 0);
    assert!(report.requests > 0);
    assert_eq!(arrived, report.requests + report.warmup_requests);
    assert_eq!(report.by_status.get(&201), Some(&report.requests));
    assert!(
        report.elapsed_s >= 0.29 && report.elapsed_s < 5.0,
        "{}",
        report.elapsed_s
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_counts_connection_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let report = run(
        &config(
            &format!("http://{addr}"),
            2,
            Bound::Requests(6),
            Duration::ZERO,
        ),
        templates(),
    )
    .await
    .unwrap();
    assert_eq!(report.requests, 6);
    assert_eq!(report.errors, 6);
    assert_eq!(report.errors_by_kind.get("connect"), Some(&6));
    assert!(report.first_error.is_some());
    assert!(report.by_status.is_empty());
    assert!(report.failed_run());
}
