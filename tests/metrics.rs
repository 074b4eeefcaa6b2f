//! End-to-end: `GET /metrics` and `GET /api/openapi.json` of the real
//! `overgang serve`, after the official examples went through intake and
//! delivery to receiver simulators (`support::delivery`).
//!
//! - `/metrics` needs a system that may read all or administer (401
//!   without a token, 403 for a plain sender);
//! - its text parses line by line as the exposition format (`# HELP`,
//!   `# TYPE`, then `name{label="value",…} value`), every sample under a
//!   declared metric;
//! - the series count what happened: intake by type and verdict, refusals,
//!   validation time, attempts by outcome, AppRecs by status, and the
//!   queues per destination (a dead letter, a receiver that is down);
//! - no national id, name, MsgId or gateway message id of the posted
//!   messages appears in it;
//! - the OpenAPI document is served to any authenticated system, and real
//!   answers have the shapes it describes.

mod support {
    pub mod corpus;
    pub mod delivery;
    pub mod patients;
    pub mod server;
    pub mod simulator;
    pub mod tempdir;
    pub mod wait;
}

use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use support::corpus::{addressed_to, example, examples};
use support::delivery::{eventually, Net, ALVDAL, KATTSKINNET, OPS_TOKEN, ST_OLAV, WAIT};
use support::patients::{self, read};
use support::server::{DEMO_TOKEN, NARROW_TOKEN};

/// `bytes` with a fresh MsgId.
fn fresh(bytes: &[u8]) -> Vec<u8> {
    support::server::fresh(bytes).1
}

// --- The exposition format, read by the test itself -------------------------

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(name: &str, colon: bool) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// Parses `{k="v",…}` (with `\\`, `\"` and `\n` escapes); the rest of the
/// line after the closing brace.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("a label without =\": {s}"));
        assert!(valid_name(key, false), "label name {key:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {s}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("an unclosed label value: {s}"),
            }
        };
        assert!(
            labels.insert(key.to_owned(), value).is_none(),
            "label {key} twice: {s}"
        );
        rest = &after[end + 1..];
    }
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("not a sample value: {v:?}")),
    }
}

/// Every sample; panics on a line that is not a comment or a sample, and
/// on a sample whose metric has no `# TYPE` before it.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("# ") {
            let mut parts = c.splitn(3, ' ');
            let (kind, name, rest) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("a comment without a name: {line}"));
            assert!(valid_name(name, true), "{line}");
            match kind {
                Some("HELP") => assert!(rest.is_some_and(|h| !h.is_empty()), "{line}"),
                Some("TYPE") => {
                    let t = rest.unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_owned(), t.to_owned()).is_none(),
                        "{line}"
                    );
                }
                _ => panic!("an unknown comment: {line}"),
            }
            continue;
        }
        assert!(!line.starts_with('#'), "{line}");
        let (name, labels, rest) = match line.find(['{', ' ']) {
            Some(i) if line.as_bytes()[i] == b'{' => {
                let (labels, rest) = parse_labels(&line[i + 1..]);
                (&line[..i], labels, rest)
            }
            Some(i) => (&line[..i], BTreeMap::new(), &line[i..]),
            None => panic!("a sample without a value: {line}"),
        };
        assert!(valid_name(name, true), "{line}");
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value: {line}"));
        assert!(!value.contains(' '), "a timestamp or more: {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no # TYPE before it");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value: parse_value(value),
        });
    }
    samples
}

/// The samples of `name` whose labels include `want`.
fn series<'a>(samples: &'a [Sample], name: &str, want: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn sum(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    series(samples, name, want).iter().map(|s| s.value).sum()
}

/// The one sample of `name` with exactly these labels.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    let found = series(samples, name, want);
    let exact: Vec<_> = found
        .iter()
        .filter(|s| s.labels.len() == want.len())
        .collect();
    assert_eq!(exact.len(), 1, "{name} {want:?}: {found:?}");
    exact[0].value
}

async fn scrape(net: &Net, token: Option<&str>) -> (StatusCode, String, String) {
    let mut r = net.c.get(format!("{}/metrics", net.gw.url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("GET /metrics");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ctype, resp.text().await.expect("body"))
}

// --- The OpenAPI shapes against real answers --------------------------------

/// The properties and required properties of a schema (following `$ref`
/// and `allOf`).
fn shape(doc: &Value, schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a reference outside the components: {r}"));
        return shape(doc, &doc["components"]["schemas"][name]);
    }
    let mut props = BTreeSet::new();
    let mut required = BTreeSet::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = shape(doc, part);
        props.extend(p);
        required.extend(r);
    }
    if let Some(p) = schema["properties"].as_object() {
        props.extend(p.keys().cloned());
    }
    for r in schema["required"].as_array().into_iter().flatten() {
        required.insert(r.as_str().expect("a name").to_owned());
    }
    (props, required)
}

/// Asserts that `value` (a real answer) has the shape of schema `name`.
fn assert_shape(doc: &Value, name: &str, value: &Value) {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    let (props, required) = shape(doc, schema);
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("{name}: not an object: {value}"));
    let keys: BTreeSet<String> = obj.keys().cloned().collect();
    let unknown: Vec<_> = keys.difference(&props).collect();
    assert!(
        unknown.is_empty(),
        "{name}: undocumented fields {unknown:?}"
    );
    let missing: Vec<_> = required.difference(&keys).collect();
    assert!(
        missing.is_empty(),
        "{name}: required fields missing {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_intake_and_delivery_parse_and_carry_no_patient_data() {
    // Solvik's system is not started: its deliveries wait in the queue.
    let net = Net::start(
        "metrics",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "ok"), (KATTSKINNET, "ok")],
    )
    .await;
    let mut posted: Vec<Vec<u8>> = Vec::new();
    let mut ids = Vec::new();
    let mut types = BTreeSet::new();
    let doc = openapi(&net).await;
    for (name, bytes) in examples() {
        let p = net.post(bytes.clone()).await;
        assert_eq!(p.status, StatusCode::CREATED, "{name}: {}", p.body);
        assert_shape(&doc, "IntakeSummary", &p.body);
        ids.push(p.id.expect("id"));
        types.insert(read(&bytes).msg_type().expect("type").trim().to_owned());
        posted.push(bytes);
    }
    net.wait_all(&ids, "acknowledged").await;

    // A rejected message (stored), not XML, no token.
    let bad = String::from_utf8_lossy(&examples()[0].1)
        .replacen("<GenDate>", "<GenDate>x", 1)
        .into_bytes();
    let bad = fresh(&bad);
    let p = net.post(bad.clone()).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    posted.push(bad);
    let p = net.post(b"not xml at all".to_vec()).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.body);
    let r = net
        .c
        .post(format!("{}/api/v1/messages", net.gw.url))
        .body(examples()[0].1.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The GP's practice now refuses (a dead letter to 91100); Solvik's
    // home care (8100002) is down (queued, retried).
    net.sim(KATTSKINNET).set_behaviour(&net.c, "http:400").await;
    let poison = fresh(&example("Helseopplysninger_til_lege_v1-6_Ny.xml"));
    let poison_id = net.post_ok(poison.clone()).await;
    posted.push(poison);
    let down = fresh(&addressed_to(
        &example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml"),
        "8100001",
        "8100002",
    ));
    let down_id = net.post_ok(down.clone()).await;
    posted.push(down);
    net.wait_one(&poison_id, "dead_letter").await;

    // Who may scrape.
    let (status, _, _) = scrape(&net, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = scrape(&net, Some(NARROW_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = scrape(&net, Some(DEMO_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "a system that may read all");

    // The Solvik delivery has been tried at least once (a retry counted).
    let text = eventually("a retry counted", WAIT, || async {
        let (status, ctype, text) = scrape(&net, Some(OPS_TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        let s = parse(&text);
        let retries = value(
            &s,
            "overgang_delivery_attempts_total",
            &[("kind", "message"), ("outcome", "retry")],
        );
        if retries >= 1.0 {
            Ok(text)
        } else {
            Err(format!("retries: {retries}"))
        }
    })
    .await;
    let s = parse(&text);

    // Process.
    let version = series(&s, "overgang_build_info", &[]);
    assert_eq!(version.len(), 1);
    assert_eq!(version[0].value, 1.0);
    assert_eq!(
        version[0].labels.get("version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let started = value(&s, "overgang_process_start_time_seconds", &[]);
    assert!(started <= now && started > now - 3600.0, "{started}");

    // Intake: 22 examples, the dead letter and the one waiting accepted;
    // the GenDate one and the non-XML one rejected.
    let m = "overgang_intake_messages_total";
    let accepted = sum(&s, m, &[("verdict", "accepted")])
        + sum(&s, m, &[("verdict", "accepted_with_warnings")]);
    assert_eq!(accepted, 24.0, "{text}");
    assert_eq!(sum(&s, m, &[("verdict", "rejected")]), 2.0);
    let seen: BTreeSet<String> = series(&s, m, &[])
        .iter()
        .filter(|x| x.labels["verdict"] != "rejected")
        .map(|x| x.labels["type"].clone())
        .collect();
    assert_eq!(seen, types, "the examples' types, from code list 8279");
    assert_eq!(
        value(&s, m, &[("type", "other"), ("verdict", "rejected")]),
        1.0
    );
    let r = "overgang_intake_refusals_total";
    assert_eq!(value(&s, r, &[("reason", "unauthenticated")]), 1.0);
    assert_eq!(value(&s, r, &[("reason", "not_xml")]), 1.0);
    assert_eq!(value(&s, r, &[("reason", "too_large")]), 0.0);

    // Validation time: one observation per validated message.
    let h = "overgang_validation_duration_seconds";
    assert_eq!(value(&s, &format!("{h}_count"), &[]), 26.0);
    assert!(value(&s, &format!("{h}_sum"), &[]) > 0.0);
    let buckets = series(&s, &format!("{h}_bucket"), &[]);
    let counts: Vec<f64> = buckets.iter().map(|b| b.value).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert_eq!(
        buckets.last().map(|b| b.labels["le"].as_str()),
        Some("+Inf")
    );
    assert_eq!(counts.last(), Some(&26.0));

    // Delivery: each example acknowledged once, its receipt delivered to the
    // sender's callback, one dead letter; the AppRecs came in the answers.
    let a = "overgang_delivery_attempts_total";
    let message = |o: &str| value(&s, a, &[("kind", "message"), ("outcome", o)]);
    assert_eq!(message("acknowledged"), 22.0);
    assert_eq!(message("dead_letter"), 1.0);
    assert!(value(&s, a, &[("kind", "receipt"), ("outcome", "delivered")]) >= 22.0);
    assert_eq!(
        value(
            &s,
            "overgang_receipts_total",
            &[("status", "1"), ("via", "sync")]
        ),
        22.0
    );
    assert_eq!(
        value(
            &s,
            "overgang_receipts_total",
            &[("status", "2"), ("via", "async")]
        ),
        0.0
    );
    assert!(value(&s, "overgang_delivery_attempt_duration_seconds_count", &[]) >= 45.0);

    // The queues per destination, read from the store.
    let her = |h: &'static str| [("receiver_her", h)];
    assert_eq!(
        value(&s, "overgang_delivery_dead_letters", &her("91100")),
        1.0
    );
    let waiting = value(&s, "overgang_delivery_queue_depth", &her("8100002"))
        + value(&s, "overgang_delivery_in_flight", &her("8100002"));
    assert_eq!(
        waiting, 1.0,
        "the delivery to Solvik is queued or in flight"
    );
    let age = value(
        &s,
        "overgang_delivery_oldest_queued_age_seconds",
        &her("8100002"),
    );
    assert!((0.0..3600.0).contains(&age), "{age}");
    assert_eq!(sum(&s, "overgang_delivery_apprecs_overdue", &[]), 0.0);
    assert_eq!(value(&s, "overgang_store_up", &[]), 1.0);
    assert!(value(&s, "overgang_store_size_bytes", &[]) > 4096.0);
    // Every label is one of the closed sets or a HER-id.
    for x in &s {
        for (k, v) in &x.labels {
            match k.as_str() {
                "receiver_her" => assert!(v.chars().all(|c| c.is_ascii_digit()), "{v}"),
                // Patient flow: the flow rules' ids and municipality numbers.
                "rule" => assert!(v.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{v}"),
                "municipality" => assert!(
                    v == "unknown" || (v.len() == 4 && v.chars().all(|c| c.is_ascii_digit())),
                    "{v}"
                ),
                "type" | "verdict" | "reason" | "kind" | "outcome" | "status" | "via" | "le"
                | "version" => {}
                other => panic!("an unexpected label {other} on {}", x.name),
            }
        }
    }

    // No patient, no MsgId, no gateway message id.
    let secrets = patients::secrets(posted.iter().map(Vec::as_slice));
    patients::assert_no_secrets("the metrics", &text, &secrets);
    for bytes in &posted {
        let msg_id = read(bytes).msg_id().expect("MsgId").trim().to_owned();
        assert!(!text.contains(&msg_id), "the metrics name a MsgId");
    }
    for id in ids.iter().chain([&poison_id, &down_id]) {
        assert!(!text.contains(id.as_str()), "the metrics name a message id");
    }
}

async fn openapi(net: &Net) -> Value {
    let (status, doc) = net.get("/api/openapi.json", NARROW_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_real_answers_have_its_shapes() {
    let net = Net::start("openapi", &[], &[(ST_OLAV, "ok"), (ALVDAL, "ok")]).await;
    let r = net
        .c
        .get(format!("{}/api/openapi.json", net.gw.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let doc = openapi(&net).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );

    let id = net
        .post_ok(fresh(&example(
            "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml",
        )))
        .await;
    net.wait_one(&id, "acknowledged").await;
    let message = net.message(&id).await;
    assert_shape(&doc, "MessageView", &message);
    for d in message["deliveries"].as_array().expect("deliveries") {
        assert_shape(&doc, "Delivery", d);
    }
    for entry in message["history"].as_array().expect("history") {
        assert_shape(&doc, "HistoryEntry", entry);
    }
    let page = net.get_ok("/api/v1/messages?limit=5", DEMO_TOKEN).await;
    assert_shape(&doc, "SearchPage", &page);
    for item in page["items"].as_array().expect("items") {
        assert_shape(&doc, "MessageSummary", item);
    }
    let ds = net
        .get_ok(&format!("/api/v1/messages/{id}/deliveries"), DEMO_TOKEN)
        .await;
    assert_shape(&doc, "DeliveryItems", &ds);
    for d in ds["items"].as_array().expect("items") {
        assert_shape(&doc, "Delivery", d);
        for e in d["events"].as_array().expect("events") {
            assert_shape(&doc, "HistoryEntry", e);
        }
    }
    let receipts = net
        .get_ok(&format!("/api/v1/messages/{id}/receipts"), DEMO_TOKEN)
        .await;
    assert_shape(&doc, "ReceiptItems", &receipts);
    let items = receipts["items"].as_array().expect("items");
    assert!(!items.is_empty());
    for r in items {
        assert_shape(&doc, "ReceiptItem", r);
    }
    let list = net.get_ok("/api/v1/deliveries", OPS_TOKEN).await;
    assert_shape(&doc, "DeliveryPage", &list);
    let stats = net.get_ok("/api/v1/deliveries/stats", OPS_TOKEN).await;
    assert_shape(&doc, "Stats", &stats);
    assert_shape(&doc, "Latency", &stats["arrival_to_apprec_ms"]);
    let alerts = net.get_ok("/api/v1/alerts", OPS_TOKEN).await;
    assert_shape(&doc, "AlertItems", &alerts);
    let (status, ready) = net.get("/readyz", OPS_TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&doc, "Readiness", &ready);
    assert_shape(&doc, "RegistryStatus", &ready["registry"]);
    let (status, problem) = net.get("/api/v1/deliveries", DEMO_TOKEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_shape(&doc, "Problem", &problem);
    let did = ds["items"][0]["id"].as_i64().expect("delivery id");
    let (status, answer) = net
        .post_json(
            &format!("/api/v1/deliveries/{did}/cancel"),
            OPS_TOKEN,
            serde_json::json!({"reason": "test"}),
        )
        .await;
    // An acknowledged delivery cannot be cancelled: the conflict's shape.
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_shape(&doc, "Problem", &answer);
    let (status, answer) = net
        .post_json(
            "/api/v1/deliveries/replay",
            OPS_TOKEN,
            serde_json::json!({"ids": [did, 999_999]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_shape(&doc, "ReplayItems", &answer);
    for item in answer["items"].as_array().expect("items") {
        assert_shape(&doc, "ReplayItem", item);
    }
}
