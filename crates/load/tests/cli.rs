//! The binary: exit codes, the loopback-only rule, and a short run against a
//! stand-in server with the JSON report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

const BIN: &str = env!("CARGO_BIN_EXE_overgang-load");

const MESSAGE: &[u8] = br#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo><MsgId>x</MsgId></MsgInfo></MsgHead>"#;

fn load(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn targets_off_this_machine_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "m.xml", MESSAGE);
    for url in ["http://10.0.0.1:8080", "https://example.org"] {
        let o = load(&[
            "--url",
            url,
            "--token",
            "t",
            "--requests",
            "1",
            file.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{url}");
        assert!(stderr(&o).contains("not this machine"), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "m.xml", MESSAGE);
    let file = file.to_str().unwrap();
    // No message files.
    assert_eq!(load(&["--token", "t"]).status.code(), Some(2));
    // Both bounds.
    let o = load(&["--token", "t", "--requests", "5", "--duration", "1s", file]);
    assert_eq!(o.status.code(), Some(2));
    // Beyond the bounds.
    assert_eq!(
        load(&["--token", "t", "--requests", "1000001", file])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        load(&["--token", "t", "--duration", "11m", file])
            .status
            .code(),
        Some(2)
    );
    // A file that is not a MsgHead message is named.
    let bad = write(dir.path(), "not-msghead.xml", b"<Other/>");
    let o = load(&["--token", "t", "--requests", "1", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not-msghead.xml"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_prints_a_json_report_and_exits_0() {
    let app = Router::new().route(
        "/api/v1/messages",
        post(|| async { (StatusCode::CREATED, "<AppRec/>") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.xml", MESSAGE);
    write(dir.path(), "b.xml", MESSAGE);
    write(dir.path(), "ignored.txt", b"not a template");
    let url = format!("http://localhost:{port}");
    let folder = dir.path().to_str().unwrap().to_string();
    let o = tokio::task::spawn_blocking(move || {
        load(&[
            "--url",
            &url,
            "--token",
            "t",
            "--concurrency",
            "4",
            "--requests",
            "50",
            "--format",
            "json",
            &folder,
        ])
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["requests"], 50);
    assert_eq!(report["acknowledged"], 50);
    assert_eq!(report["by_status"]["201"], 50);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["concurrency"], 4);
    assert!(report["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    assert!(stderr(&o).contains("2 template(s)"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_one_percent_failed_exits_1() {
    let app = Router::new().route(
        "/api/v1/messages",
        post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "m.xml", MESSAGE);
    let o = tokio::task::spawn_blocking(move || {
        load(&[
            "--url",
            &url,
            "--token",
            "t",
            "--requests",
            "10",
            file.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("503: 10"), "{text}");
    assert!(text.contains("FAILED"), "{text}");
}
