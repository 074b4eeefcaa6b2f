//! Server time of the web pages with a large store (issue: under 100 ms
//! with 100,000 stored messages).
//!
//! The store is filled through the real intake (validation, routing,
//! indexing) in-process: the 22 official v1.6 examples, each posted again
//! and again with a new MsgId and a new fictitious patient, one in ten
//! readdressed to the fictitious Solvik units. The filled store is kept
//! under `target/ui-bench-<N>` and reused by later runs. Then each page is
//! requested in-process (no network, no browser): the time from request to
//! the last byte of the body.
//!
//!   cargo bench -p overgang-server --bench ui_pages
//!   OVERGANG_BENCH_MESSAGES=20000 cargo bench -p overgang-server --bench ui_pages

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tower::ServiceExt;

const TOKEN: &str = "bench-token";
const PASSWORD: &str = "bench-password";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn examples() -> Vec<Vec<u8>> {
    let dir = repo().join("../shared/standards/examples/plo-1.6");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the benchmark needs ../shared beside the project)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("example"))
        .collect()
}

/// Replaces the first occurrence of `old` in `bytes`.
fn replace(bytes: &[u8], old: &str, new: &str) -> Vec<u8> {
    match bytes.windows(old.len()).position(|w| w == old.as_bytes()) {
        Some(at) => {
            let mut out = bytes[..at].to_vec();
            out.extend_from_slice(new.as_bytes());
            out.extend_from_slice(&bytes[at + old.len()..]);
            out
        }
        None => bytes.to_vec(),
    }
}

fn text_of(bytes: &[u8], open: &str, close: &str) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    let a = s.find(open)? + open.len();
    let b = s[a..].find(close)? + a;
    Some(s[a..b].to_owned())
}

/// The `n`-th variant of an example: new MsgId, a new fictitious patient
/// (a valid national id with the example patient's birth date, so the
/// message stays valid), and every tenth readdressed to Solvik.
fn variant(example: &[u8], n: usize) -> Vec<u8> {
    let mut out = example.to_vec();
    if let Some(id) = text_of(example, "<MsgId>", "</MsgId>") {
        out = replace(
            &out,
            &format!("<MsgId>{id}</MsgId>"),
            &format!("<MsgId>bench-{n:08}</MsgId>"),
        );
    }
    let patient_at = std::str::from_utf8(example)
        .ok()
        .and_then(|s| s.find("<Patient>"));
    if let Some(at) = patient_at {
        if let Some(id) = text_of(&example[at..], "<Id>", "</Id>") {
            let new = (0..1000)
                .filter_map(|k| {
                    let individual = 100 + (n / 7 + k) % 900;
                    overgang_rules::make_national_id(id.get(..6)?, &individual.to_string())
                })
                .next()
                .unwrap_or(id.clone());
            let head = out[..at].to_vec();
            let mut tail = replace(
                &out[at..],
                &format!("<Id>{id}</Id>"),
                &format!("<Id>{new}</Id>"),
            );
            let mut joined = head;
            joined.append(&mut tail);
            out = joined;
        }
    }
    if n.is_multiple_of(10) {
        out = replace(&out, "<Id>99387</Id>", "<Id>8100001</Id>");
        out = replace(&out, "<Id>5078</Id>", "<Id>8100002</Id>");
    }
    out
}

struct Bench {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    cookie: String,
    message_id: String,
}

fn write_config(dir: &Path) -> PathBuf {
    let users = overgang_server::ui::people::UsersFile {
        users: vec![overgang_server::ui::people::UserEntry {
            name: "kari".into(),
            display_name: "Kari (bench)".into(),
            password_hash: overgang_server::ui::people::hash_password(PASSWORD).expect("hash"),
            roles: vec![
                overgang_server::ui::people::Role::Nurse,
                overgang_server::ui::people::Role::Operator,
                overgang_server::ui::people::Role::Admin,
            ],
            units: vec!["99387".into(), "5078".into()],
            municipalities: Vec::new(),
        }],
    };
    std::fs::write(dir.join("users.toml"), users.to_toml()).expect("users");
    let hash = overgang_server::auth::hash_token(TOKEN).expect("hash");
    let config = format!(
        r#"[server]
listen = "127.0.0.1:0"
[store]
data = "{data}"
[security]
patient_key = "62656e63682d6b65792d62656e63682d6b65792d62656e63682d6b65792d3031"
[registry]
file = "{registry}"
poll_secs = 0
[delivery]
enabled = false
[log]
level = "warn"
[ui]
users = "{users}"
[[systems]]
name = "bench"
token_hash = "{hash}"
may_send_as = ["*"]
may_read_all = true
"#,
        data = dir.join("data").display(),
        registry = repo().join("config/registry/demo.toml").display(),
        users = dir.join("users.toml").display(),
    );
    let p = dir.join("overgang.toml");
    std::fs::write(&p, config).expect("config");
    p
}

async fn call(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let r = app.clone().oneshot(req).await.expect("infallible");
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, body.to_vec())
}

fn setup() -> Bench {
    let n: usize = std::env::var("OVERGANG_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = repo().join(format!("target/ui-bench-{n}"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let filled = dir.join("filled");
    let config_path = write_config(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (app, cookie, message_id) = rt.block_on(async {
        let config = overgang_server::Config::load(Some(&config_path), Vec::new()).expect("config");
        let (gateway, _) = overgang_server::Gateway::start(&config)
            .await
            .expect("start");
        let app = gateway.router();
        if !filled.exists() {
            let examples = examples();
            let started = std::time::Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            let per = n.div_ceil(4);
            for w in 0..4 {
                let app = app.clone();
                let examples = examples.clone();
                tasks.spawn(async move {
                    for i in (w * per)..((w + 1) * per).min(n) {
                        let body = variant(&examples[i % examples.len()], i);
                        let req = Request::post("/api/v1/messages")
                            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                            .header(header::CONTENT_TYPE, "application/xml")
                            .body(Body::from(body))
                            .expect("request");
                        let (status, _, _) = call(&app, req).await;
                        assert!(
                            status.is_success() || status == StatusCode::UNPROCESSABLE_ENTITY,
                            "intake: {status}"
                        );
                    }
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.expect("filler");
            }
            eprintln!(
                "filled the store with {n} messages in {:.1?}",
                started.elapsed()
            );
            std::fs::write(&filled, n.to_string()).expect("mark filled");
        }
        // Log in through the form, as a browser would.
        let (_, h, body) = call(
            &app,
            Request::get("/ui/login").body(Body::empty()).expect("req"),
        )
        .await;
        let anon = session_cookie(&h).expect("anonymous session");
        let html = String::from_utf8_lossy(&body);
        let key = "name=\"_csrf\" value=\"";
        let at = html.find(key).expect("csrf") + key.len();
        let csrf = &html[at..at + 64];
        let form = format!("_csrf={csrf}&user=kari&password={PASSWORD}");
        let (status, h, _) = call(
            &app,
            Request::post("/ui/login")
                .header(header::COOKIE, &anon)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "login");
        let cookie = session_cookie(&h).expect("session");
        // A message with findings, to open.
        let (_, _, body) = call(
            &app,
            Request::get("/ui/worklist?findings=1")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
        let html = String::from_utf8_lossy(&body);
        let at = html
            .find("/ui/messages/")
            .expect("a message on the worklist")
            + "/ui/messages/".len();
        let id = html[at..at + 36].to_owned();
        (app, cookie, id)
    });
    Bench {
        rt,
        app,
        cookie,
        message_id,
    }
}

fn session_cookie(h: &axum::http::HeaderMap) -> Option<String> {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("overgang_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

fn pages(c: &mut Criterion) {
    let b = setup();
    // A patient of the store: the one of variant 123.
    let examples = examples();
    let v = variant(&examples[123 % examples.len()], 123);
    let at = std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.find("<Patient>"))
        .expect("patient");
    let nid = text_of(&v[at..], "<Id>", "</Id>").expect("national id");
    let mut paths: Vec<(&str, String)> = vec![
        ("worklist", "/ui/worklist".into()),
        ("worklist_findings_only", "/ui/worklist?findings=1".into()),
        (
            "worklist_one_unit_type_dates",
            "/ui/worklist?unit=5078&type=UTSKRIVNINGSRAPPORT&from=2020-01-01&to=2099-12-31".into(),
        ),
        (
            "worklist_search_national_id",
            format!("/ui/worklist?q={nid}"),
        ),
        (
            "worklist_search_name",
            "/ui/worklist?q=Roland+Gundersen".into(),
        ),
        ("worklist_page_200", String::new()),
        ("message", format!("/ui/messages/{}", b.message_id)),
    ];
    // The 200th page back in time: cursor paging keeps deep pages cheap.
    let deep = b.rt.block_on(async {
        let mut path = "/ui/worklist".to_owned();
        for _ in 0..200 {
            let (_, _, body) = call(
                &b.app,
                Request::get(&path)
                    .header(header::COOKIE, &b.cookie)
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
            let html = String::from_utf8_lossy(&body).into_owned();
            let Some(at) = html.find("/ui/worklist?cursor=") else {
                break;
            };
            let end = html[at..].find('"').map_or(html.len(), |e| at + e);
            path = html[at..end].replace("&amp;", "&");
        }
        path
    });
    paths[5].1 = deep;
    for extra in [
        "/ui/ops",
        "/ui/ops/dashboard.fragment",
        "/ui/ops/dead-letters",
        "/ui/ops/messages?state=queued",
        "/ui/admin/access",
    ] {
        paths.push((extra, extra.to_owned()));
    }
    let mut group = c.benchmark_group("ui_pages");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    for (name, path) in &paths {
        // Pages not built (yet) are left out rather than measured as 404s.
        let (status, _, _) = b.rt.block_on(call(
            &b.app,
            Request::get(path.as_str())
                .header(header::COOKIE, &b.cookie)
                .body(Body::empty())
                .expect("req"),
        ));
        if status != StatusCode::OK {
            eprintln!("{name}: {status}, not measured");
            continue;
        }
        group.bench_function(*name, |bench| {
            bench.to_async(&b.rt).iter(|| async {
                let (status, _, body) = call(
                    &b.app,
                    Request::get(path.as_str())
                        .header(header::COOKIE, &b.cookie)
                        .body(Body::empty())
                        .expect("req"),
                )
                .await;
                assert_eq!(status, StatusCode::OK);
                body.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
