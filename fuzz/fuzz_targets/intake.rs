//! The HTTP intake handler, in process: the gateway's whole axum router
//! (`overgang_server::Gateway::start` with a store in a temporary folder,
//! the demo address registry and the demo systems, delivery off), driven
//! with `tower::ServiceExt::oneshot`. Each input is the body of one
//! `POST /api/v1/messages`; bits of its first byte pick the token (the demo
//! sender that may send as anyone, or the demo receivers' system that may
//! send only as its own parties), `Accept` and `Content-Type`.
//!
//! Asserts: the status is one the handler documents for an authenticated
//! caller (201, 200, 422, 409, 400, 413; 403 only for the restricted
//! system; never 401, 500 or 503); 201, 200 and 422 carry a Location that
//! then answers `GET` with 200, 400 and 409 none; 413 only for a body over
//! the limit; an XML answer is a well-formed AppRec whose status matches
//! the HTTP status, a JSON answer a summary whose verdict does.
//!
//! The store lives in `$OVERGANG_FUZZ_DIR` (scripts/fuzz.sh makes and
//! removes it), else in a folder under the system's temporary directory.
#![no_main]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use overgang_model::AppRecStatus;
use overgang_xml::Limits;
use std::path::PathBuf;
use std::sync::OnceLock;
use tower::ServiceExt;

/// Small, so that the fuzzer reaches the 413 answer.
const MAX_BODY: usize = 32 * 1024;

const SENDER_TOKEN: &str = "demo-ehr-token";
const RECEIVER_TOKEN: &str = "demo-receiver-token";

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    /// Kept for the life of the process (its listener is never served).
    _gateway: overgang_server::Gateway,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let base = std::env::var_os("OVERGANG_FUZZ_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("intake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz store folder");
        // The demo systems of config/demo.toml, with their token hashes.
        let config = format!(
            r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = {MAX_BODY}

[store]
data = "{data}"

[security]
patient_key = "66757a7a2d6f6e6c792d6e6f742d612d7365637265742d66757a7a2d6f6e6c79"

[registry]
file = "{registry}"

[delivery]
enabled = false

[[systems]]
name = "demo-ehr"
token_hash = "$argon2id$v=19$m=19456,t=2,p=1$X6eagalRQhWJE6kjKsZU4Q$NSYOzsuvRvBjG6d47j8Cy1qiUGD17odvsut6u34y5Uk"
may_send_as = ["*"]
may_read_all = true

[[systems]]
name = "demo-receivers"
token_hash = "$argon2id$v=19$m=19456,t=2,p=1$Oe1siZ8PR0astAGVCIrqBg$qKTl35h23TWFL5L+qeHcK6iJaCLUdHgDL25rUUuVcuM"
may_send_as = ["59", "91090", "90998", "99387", "5078", "8100001", "8100002", "8100003", "91096", "91100", "8200002", "8200011", "8200012"]
"#,
            data = dir.join("data").display(),
            registry = repo().join("config/registry/demo.toml").display(),
        );
        let path = dir.join("overgang.toml");
        std::fs::write(&path, config).expect("fuzz config");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (app, gateway) = rt.block_on(async {
            let config =
                overgang_server::Config::load(Some(&path), Vec::new()).expect("fuzz config loads");
            let (gateway, _warnings) = overgang_server::Gateway::start(&config)
                .await
                .expect("the gateway starts");
            // The listener is bound (loopback, port chosen by the system)
            // but never served: requests go straight to the router.
            (gateway.router(), gateway)
        });
        Fixture {
            rt,
            app,
            _gateway: gateway,
        }
    })
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    let r = app.clone().oneshot(req).await.expect("infallible");
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("the answer's body");
    (status, headers, body.to_vec())
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let sel = data.first().copied().unwrap_or(0);
    let restricted = sel & 0x01 != 0;
    let token = if restricted {
        RECEIVER_TOKEN
    } else {
        SENDER_TOKEN
    };
    let accept = match (sel >> 1) & 0x03 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("application/xml"),
        _ => Some("text/html, application/json;q=0.9"),
    };
    let content_type = match (sel >> 3) & 0x03 {
        0 => Some("application/xml"),
        1 => Some("text/xml; charset=ISO-8859-1"),
        2 => None,
        _ => Some("application/json"),
    };
    let json = accept.is_some_and(|a| a.contains("application/json"));

    let mut req =
        Request::post("/api/v1/messages").header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    if let Some(c) = content_type {
        req = req.header(header::CONTENT_TYPE, c);
    }
    let req = req.body(Body::from(data.to_vec())).expect("request");

    fx.rt.block_on(async {
        let (status, headers, body) = call(&fx.app, req).await;
        let code = status.as_u16();
        let allowed: &[u16] = if restricted {
            &[200, 201, 400, 403, 409, 413, 422]
        } else {
            &[200, 201, 400, 409, 413, 422]
        };
        assert!(
            allowed.contains(&code),
            "intake answered {code}: {}",
            String::from_utf8_lossy(&body)
        );
        if code == 413 {
            assert!(
                data.len() > MAX_BODY,
                "413 for a body of {} bytes",
                data.len()
            );
            return;
        }
        assert!(
            data.len() <= MAX_BODY,
            "a body over the limit answered {code}"
        );
        if code == 403 {
            return;
        }

        let location = headers
            .get(header::LOCATION)
            .map(|l| l.to_str().expect("Location is ASCII").to_owned());
        match code {
            200 | 201 | 422 => {
                let l = location.unwrap_or_else(|| panic!("{code} without a Location"));
                assert!(l.starts_with("/api/v1/messages/"), "Location {l}");
                let get = Request::get(&l)
                    .header(header::AUTHORIZATION, format!("Bearer {SENDER_TOKEN}"))
                    .body(Body::empty())
                    .expect("request");
                let (s, _, _) = call(&fx.app, get).await;
                assert_eq!(s, StatusCode::OK, "GET {l} after intake {code}");
            }
            _ => assert!(location.is_none(), "{code} with a Location"),
        }

        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .unwrap_or("");
        if json {
            assert!(
                content_type.starts_with("application/json"),
                "{content_type}"
            );
            let v: serde_json::Value =
                serde_json::from_slice(&body).expect("the JSON summary parses");
            let verdict = v["verdict"].as_str().expect("verdict");
            match code {
                201 => assert!(
                    verdict == "accepted" || verdict == "accepted_with_warnings",
                    "201 with verdict {verdict}"
                ),
                400 | 409 | 422 => assert_eq!(verdict, "rejected", "{code}"),
                _ => {}
            }
            if code != 200 {
                let s = v["apprec_status"].as_u64().expect("apprec_status");
                assert_eq!(
                    s == 2,
                    verdict == "rejected",
                    "AppRec status {s}, verdict {verdict}"
                );
            }
            for f in v["findings"].as_array().expect("findings") {
                let path = f["path"].as_str().expect("finding path");
                assert!(
                    path.is_empty() || path.starts_with('/'),
                    "finding path {path:?}"
                );
                let line = f["line"].as_u64().expect("line");
                let column = f["column"].as_u64().expect("column");
                assert_eq!(line == 0, column == 0, "finding at ({line}, {column})");
            }
        } else {
            assert!(
                content_type.starts_with("application/xml"),
                "{content_type}"
            );
            let info = overgang_apprec::read(&body, &Limits::default())
                .unwrap_or_else(|e| panic!("the {code} answer is not an AppRec: {e}"));
            let expected = match code {
                201 => Some(AppRecStatus::Ok),
                400 | 409 | 422 => Some(AppRecStatus::Rejected),
                _ => info.status,
            };
            assert_eq!(info.status, expected, "AppRec status of a {code}");
        }
    });
});
