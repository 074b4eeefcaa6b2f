//! The notifier against a local HTTP server, with a fake clock and facts
//! built from the official PLO v1.6 examples.

use super::*;
use overgang_flow::{FactInput, HerRef};
use overgang_store::sqlite::{SqliteOptions, SqliteStore};
use overgang_store::FlowFactRow;
use std::sync::atomic::{AtomicI64, AtomicU16, Ordering};
use std::sync::Mutex;

struct FakeClock(AtomicI64);
impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const PATIENT: &str = "pk-5e1f0c2a9b7d4e3f8a6c1b0d9e8f7a6b";
const INNLAGT: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml";
const INNLAGT_C: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Kansellering.xml";
const RAPPORT: &str = "Innleggelsesrapport_v1-6_Ny.xml";
const MIN: i64 = 60_000;

fn example_bytes(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/standards/examples/plo-1.6")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (../shared must be beside the project)",
            path.display()
        )
    })
}

/// Norwegian local time.
fn at(s: &str) -> i64 {
    overgang_flow::time::parse_plo_time(s).expect("a time").ms
}

/// An official example as the fact of a message between one hospital
/// (100001) and one municipality (5001), received at `received`.
fn fact(name: &str, id: &str, received: &str) -> FlowFactRow {
    let bytes = example_bytes(name);
    let doc = overgang_xml::parse(&bytes, &overgang_xml::Limits::default()).expect("xml");
    let message = overgang_model::Message::read(&doc);
    let mut f = overgang_flow::fact_of(
        &message,
        FactInput {
            message_id: id.into(),
            received_at: at(received),
            patient_key: Some(PATIENT.into()),
            ..FactInput::default()
        },
    );
    let hospital = HerRef {
        org: Some("100001".into()),
        unit: Some("100002".into()),
    };
    let municipal = HerRef {
        org: Some("200001".into()),
        unit: None,
    };
    if f.kind() == "INNLEGGELSESRAPPORT" {
        (f.sender, f.receiver) = (municipal, hospital);
        f.sender_municipality = Some("5001".into());
    } else {
        (f.sender, f.receiver) = (hospital, municipal);
        f.receiver_municipality = Some("5001".into());
    }
    FlowFactRow {
        message_id: id.into(),
        patient_key: Some(PATIENT.into()),
        received_at: at(received),
        fact: serde_json::to_string(&f).expect("json"),
        positive_apprec_at: None,
    }
}

/// Stores a message and its fact (a fact needs its message).
async fn add(store: &SqliteStore, row: FlowFactRow) {
    use overgang_store::{Metadata, NewMessage, State};
    store
        .submit(NewMessage {
            id: row.message_id.clone(),
            received_at: row.received_at,
            system: "ehr".into(),
            idempotency_key: None,
            sha256: [7; 32],
            original: b"<x/>".to_vec(),
            meta: Metadata::default(),
            verdict: "accepted".into(),
            findings_json: "[]".into(),
            apprec: b"<a/>".to_vec(),
            apprec_status: 1,
            state: State::Rejected,
            actor: "system:ehr".into(),
            reason: "test".into(),
            deliveries: Vec::new(),
            route_reason: String::new(),
        })
        .await
        .unwrap();
    store.set_flow_facts(vec![row]).await.unwrap();
}

/// A local receiver: records every POST (its Authorization header and
/// body) and answers with `status`.
/// What the receiver got: each POST's Authorization header and body.
type Posts = Vec<(Option<String>, String)>;

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Posts>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    fn bodies(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).expect("a JSON body"))
            .collect()
    }
}

async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    r.status.store(200, Ordering::SeqCst);
    let state = r.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: String| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                state.got.lock().unwrap().push((auth, body));
                axum::http::StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap()
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, format!("http://{addr}/hook"))
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    clock: Arc<FakeClock>,
    notifier: Notifier<SqliteStore>,
    receiver: Receiver,
}

async fn setup(token_file: Option<PathBuf>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    let clock = Arc::new(FakeClock(AtomicI64::new(0)));
    let flow = Arc::new(FlowState::new(
        crate::flow::load_config(&crate::config::FlowSettings::default()).unwrap(),
        100_000,
    ));
    let (receiver, url) = receiver().await;
    let client = overgang_deliver::http_client(
        &overgang_deliver::DeliveryConfig::default(),
        Duration::from_secs(5),
    )
    .unwrap();
    let notifier = Notifier::new(
        store.clone(),
        clock.clone(),
        flow,
        client,
        url,
        token_file,
        Duration::from_secs(300),
    );
    Setup {
        _dir: dir,
        store,
        clock,
        notifier,
        receiver,
    }
}

/// No name, national id, patient key or stay id in anything posted.
fn assert_no_patient_data(bodies: &Posts) {
    let mut forbidden = vec![PATIENT.to_owned(), "100001/".to_owned()];
    for name in [INNLAGT, RAPPORT] {
        let bytes = example_bytes(name);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for tag in ["<GivenName>", "<FamilyName>", "<MiddleName>"] {
            if let Some(start) = text.find(tag) {
                let rest = &text[start + tag.len()..];
                let v = &rest[..rest.find('<').unwrap_or(0)];
                if !v.is_empty() {
                    forbidden.push(v.to_owned());
                }
            }
        }
        let doc = overgang_xml::parse(&bytes, &overgang_xml::Limits::default()).unwrap();
        let m = overgang_model::Message::read(&doc);
        for id in m
            .head
            .iter()
            .flat_map(|h| h.patient.iter())
            .flat_map(|p| p.idents.iter())
        {
            if let Some(fnr) = id.id.expose() {
                forbidden.push(fnr.to_string());
            }
        }
    }
    assert!(forbidden.len() >= 4, "names and ids found: {forbidden:?}");
    for (_, body) in bodies {
        for f in &forbidden {
            assert!(!body.contains(f.as_str()), "patient data in a webhook body");
        }
    }
}

#[tokio::test]
async fn an_overdue_item_is_posted_once_retried_on_failure_and_cleared_on_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("webhook.token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let s = setup(Some(token)).await;
    // Admitted 29.01.2018; LOG_INNLAGT received 10:05: the admission
    // report is due 30.01 10:05.
    add(&s.store, fact(INNLAGT, "m1", "2018-01-29T10:05:00")).await;
    s.clock.0.store(at("2018-01-30T09:00:00"), Ordering::SeqCst);
    assert_eq!(s.notifier.run_once().await.unwrap(), RunReport::default());
    assert!(s.receiver.bodies().is_empty(), "not yet due");

    s.clock.0.store(at("2018-01-30T12:05:00"), Ordering::SeqCst);
    let r = s.notifier.run_once().await.unwrap();
    assert_eq!((r.overdue_sent, r.cleared_sent, r.pending), (1, 0, 0));
    let bodies = s.receiver.bodies();
    assert_eq!(bodies.len(), 1);
    let ev = &bodies[0];
    assert_eq!(ev["event"], "overdue");
    assert_eq!(ev["rule"], "admission_report");
    assert_eq!(ev["municipality"], "5001");
    assert_eq!(ev["hospital"], "100001");
    assert_eq!(ev["due_at"], "2018-01-30T09:05:00.000Z");
    assert_eq!(ev["late_by_secs"], 2 * 3600);
    let stay = ev["stay_id"].as_str().unwrap().to_owned();
    assert_eq!(stay.len(), 32);
    assert_eq!(
        s.receiver.got.lock().unwrap()[0].0.as_deref(),
        Some("Bearer s3cret-token")
    );

    // The next run: still overdue, not sent again.
    s.clock.0.fetch_add(5 * MIN, Ordering::SeqCst);
    assert_eq!(s.notifier.run_once().await.unwrap(), RunReport::default());
    assert_eq!(s.receiver.bodies().len(), 1);

    // The report arrives late; the receiver fails: the event stays pending.
    add(&s.store, fact(RAPPORT, "m2", "2018-01-30T12:30:00")).await;
    s.receiver.status.store(500, Ordering::SeqCst);
    s.clock.0.store(at("2018-01-30T12:35:00"), Ordering::SeqCst);
    let r = s.notifier.run_once().await.unwrap();
    assert_eq!((r.cleared_sent, r.failed, r.pending), (0, 1, 1));
    assert_eq!(s.receiver.bodies().len(), 2, "one attempt");

    // The receiver is back: the cleared event goes at the next run, once.
    s.receiver.status.store(200, Ordering::SeqCst);
    s.clock.0.fetch_add(5 * MIN, Ordering::SeqCst);
    let r = s.notifier.run_once().await.unwrap();
    assert_eq!((r.overdue_sent, r.cleared_sent, r.pending), (0, 1, 0));
    let bodies = s.receiver.bodies();
    assert_eq!(bodies.len(), 3);
    let ev = &bodies[2];
    assert_eq!(ev["event"], "cleared");
    assert_eq!(ev["rule"], "admission_report");
    assert_eq!(ev["stay_id"], stay.as_str());
    assert_eq!(
        ev["late_by_secs"],
        2 * 3600 + 25 * 60,
        "arrived 12:30, due 10:05"
    );
    s.clock.0.fetch_add(5 * MIN, Ordering::SeqCst);
    assert_eq!(s.notifier.run_once().await.unwrap(), RunReport::default());
    assert_eq!(s.receiver.bodies().len(), 3);

    assert_no_patient_data(&s.receiver.got.lock().unwrap());
    s.store.close().await.unwrap();
}

#[tokio::test]
async fn an_item_that_goes_away_is_cleared_and_a_restart_sends_again() {
    let s = setup(None).await;
    add(&s.store, fact(INNLAGT, "m1", "2018-01-29T10:05:00")).await;
    s.clock.0.store(at("2018-01-31T10:05:00"), Ordering::SeqCst);
    let r = s.notifier.run_once().await.unwrap();
    assert_eq!(r.overdue_sent, 1);
    assert_eq!(s.receiver.got.lock().unwrap()[0].0, None, "no token");

    // A notifier that starts afresh (a restart) sends the item again.
    let again = Notifier::new(
        s.store.clone(),
        s.clock.clone(),
        s.notifier.flow.clone(),
        s.notifier.client.clone(),
        s.notifier.url.clone(),
        None,
        Duration::from_secs(300),
    );
    assert_eq!(again.run_once().await.unwrap().overdue_sent, 1);

    // The admission is cancelled: the stay expects nothing any more.
    add(&s.store, fact(INNLAGT_C, "m2", "2018-01-31T11:00:00")).await;
    s.clock.0.store(at("2018-01-31T11:05:00"), Ordering::SeqCst);
    let r = s.notifier.run_once().await.unwrap();
    assert_eq!((r.overdue_sent, r.cleared_sent), (0, 1));
    let bodies = s.receiver.bodies();
    let last = bodies.last().unwrap();
    assert_eq!(last["event"], "cleared");
    assert_eq!(
        last["late_by_secs"],
        25 * 3600,
        "how late it was when it went away"
    );
    assert_no_patient_data(&s.receiver.got.lock().unwrap());
    s.store.close().await.unwrap();
}

#[tokio::test]
async fn the_notifier_stops_when_told() {
    let s = setup(None).await;
    let notifier = Arc::new(s.notifier);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(notifier.run(async move {
        let _ = rx.await;
    }));
    tx.send(()).unwrap();
    task.await.unwrap();
    s.store.close().await.unwrap();
}

#[test]
fn the_stay_ref_hides_the_patient_key() {
    let a = stay_ref("pk1/100001/1517216400000");
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(a, stay_ref("pk1/100001/1517302800000"));
    assert!(!a.contains("pk1"));
}

#[tokio::test]
async fn the_gateway_runs_the_notifier_only_with_a_readable_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, url) = receiver().await;
    let token = dir.path().join("webhook.token");
    let config = |token: &std::path::Path| {
        crate::Config::load(
            None,
            [
                ("OVERGANG_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
                (
                    "OVERGANG_STORE__DATA",
                    dir.path().join("data").display().to_string(),
                ),
                ("OVERGANG_FLOW__WEBHOOK_URL", url.clone()),
                ("OVERGANG_FLOW__WEBHOOK_EVERY_SECS", "1".to_owned()),
                (
                    "OVERGANG_FLOW__WEBHOOK_TOKEN_FILE",
                    token.display().to_string(),
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        )
        .unwrap()
    };
    let e = crate::Gateway::start(&config(&token))
        .await
        .err()
        .expect("no token file: refused")
        .to_string();
    assert!(e.contains("webhook_token_file"), "{e}");
    std::fs::write(&token, "t\n").unwrap();
    let (gateway, _) = crate::Gateway::start(&config(&token)).await.unwrap();
    assert!(gateway.notifier.is_some());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(gateway.run(async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(()).unwrap();
    run.await.unwrap().unwrap();
    assert!(receiver.bodies().is_empty(), "nothing is overdue");
}

/// Walking the flow page by page (here a patient or two a page) finds the
/// very overdue items the whole flow at once does.
#[tokio::test]
async fn the_flow_walked_page_by_page_is_the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
    let config = crate::flow::load_config(&crate::config::FlowSettings::default()).unwrap();
    let as_patient = |mut row: FlowFactRow, p: usize| {
        let key = format!("pk-{p:02}");
        let mut f: overgang_flow::Fact = serde_json::from_str(&row.fact).unwrap();
        f.patient_key = Some(key.clone());
        row.fact = serde_json::to_string(&f).unwrap();
        row.patient_key = Some(key);
        row
    };
    // Five patients admitted; the second and fourth got their admission
    // report, the others did not (overdue a day later).
    for p in 0..5 {
        add(
            &store,
            as_patient(fact(INNLAGT, &format!("i{p}"), "2026-11-02T08:00:00"), p),
        )
        .await;
        if p % 2 == 1 {
            add(
                &store,
                as_patient(fact(RAPPORT, &format!("r{p}"), "2026-11-02T10:00:00"), p),
            )
            .await;
        }
    }
    let now = at("2026-11-05T12:00:00");
    let (_, whole) = crate::flow::current(&store, now, 100_000, None)
        .await
        .unwrap();
    let key = |o: &overgang_flow::Overdue| format!("{}|{}|{:?}", o.stay_id, o.rule, o.status);
    let mut expected: Vec<String> = overgang_flow::overdue(&whole, &config, now)
        .iter()
        .map(key)
        .collect();
    expected.sort();
    assert!(!expected.is_empty());
    for size in [1, 2, 500] {
        let mut got = Vec::new();
        let mut stays = 0;
        crate::flow::for_each_page_of(&store, now, 100_000, size, |flow| {
            stays += flow.stays.len();
            got.extend(overgang_flow::overdue(flow, &config, now).iter().map(key));
        })
        .await
        .unwrap();
        got.sort();
        assert_eq!(got, expected, "pages of {size}");
        assert_eq!(stays, whole.stays.len(), "pages of {size}");
    }
}
