//! The delivery stage against a real SQLite store and a scripted receiver
//! on 127.0.0.1, with an injected clock:
//!
//! - an AppRec in the answer acknowledges the delivery; the receiver gets
//!   the original bytes and the bearer token from the registry's secret file;
//! - `Retry-After` is honoured: nothing is sent before its time (the clock
//!   is held), the next attempt goes once the clock reaches it;
//! - a refusal (HTTP 400) dead-letters one delivery with an alert while the
//!   others flow, and each attempt is counted once by its outcome;
//! - no connection → queued again with the error;
//! - delivered without an AppRec → flagged once the configured wait passed.

use super::*;
use overgang_store::sqlite::{SqliteOptions, SqliteStore};
use overgang_store::{Metadata, NewDelivery, NewMessage, State};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};

pub(super) struct ManualClock(pub(super) AtomicI64);

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

pub(super) struct TestDir {
    pub(super) reg: Arc<Registry>,
    pub(super) dir: PathBuf,
}

impl Directory for TestDir {
    fn registry(&self) -> Arc<Registry> {
        self.reg.clone()
    }
    fn secret_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// What the scripted receiver answers: status, Retry-After, body.
#[derive(Clone)]
struct Reply(u16, Option<&'static str>, String);

#[derive(Default)]
pub(super) struct Script {
    /// Per MsgId (the `X-Test-Msg` the test puts in the body), replies in
    /// order; when empty, an OK AppRec.
    replies: std::collections::HashMap<String, VecDeque<Reply>>,
    /// (body, authorization header) of every request, in order.
    pub(super) seen: Vec<(String, Option<String>)>,
}

pub(super) fn apprec(original: &str, status: u8) -> String {
    format!(
        r#"<AppRec xmlns="http://www.kith.no/xmlstds/apprec/2012-02-15">
  <MsgType V="APPREC"/><MIGversion>v1.1 2012-02-15</MIGversion>
  <GenDate>2026-11-23T10:00:00</GenDate><Id>ack-{original}</Id>
  <Sender><Role V="MOTTAKER"/><HCP><Inst><Name>Mottaker</Name><Id>100</Id><TypeId V="HER"/></Inst></HCP></Sender>
  <Receiver><Role V="AVSENDER"/><HCP><Inst><Name>Avsender</Name><Id>200</Id><TypeId V="HER"/></Inst></HCP></Receiver>
  <Status V="{status}"/>
  <OriginalMsgId><MsgType V="X"/><IssueDate>2026-11-23T10:00:00</IssueDate><Id>{original}</Id></OriginalMsgId>
</AppRec>"#
    )
}

/// The scripted receiver's routes (served plain by [`receiver`], over TLS
/// by the TLS tests).
pub(super) fn receiver_app(script: Arc<Mutex<Script>>) -> axum::Router {
    use axum::extract::State as AxState;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    async fn handle(
        AxState(script): AxState<Arc<Mutex<Script>>>,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let msg = body.clone();
        let reply = {
            let mut s = lock(&script);
            s.seen.push((body, auth));
            s.replies.get_mut(&msg).and_then(VecDeque::pop_front)
        };
        let Reply(status, retry_after, body) = reply.unwrap_or(Reply(200, None, apprec(&msg, 1)));
        let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
        if let Some(ra) = retry_after {
            r.headers_mut().insert("retry-after", ra.parse().unwrap());
        }
        r
    }
    axum::Router::new()
        .route("/plo", axum::routing::post(handle))
        .with_state(script)
}

async fn receiver(script: Arc<Mutex<Script>>) -> std::net::SocketAddr {
    let app = receiver_app(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn registry(port: u16) -> Arc<Registry> {
    let text = format!(
        r#"
[[party]]
her = "100"
name = "Mottaker"
kind = "organisation"
endpoint = "http://127.0.0.1:{port}/plo"
auth = {{ bearer_token_file = "receiver.token" }}
accepts = [{{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }}]

[[party]]
her = "300"
name = "Stengt"
kind = "organisation"
endpoint = "http://127.0.0.1:1/plo"
accepts = [{{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }}]
"#
    );
    Arc::new(Registry::parse("test.toml", &text).unwrap())
}

/// A message whose body is its MsgId (the scripted receiver keys on it).
pub(super) fn message(msg_id: &str, patient: &str, to: &str, at: Millis) -> NewMessage {
    NewMessage {
        id: format!("id-{msg_id}"),
        received_at: at,
        system: "test".into(),
        idempotency_key: Some(format!("200|{msg_id}")),
        sha256: [0; 32],
        original: msg_id.as_bytes().to_vec(),
        meta: Metadata {
            msg_id: Some(msg_id.into()),
            msg_type: Some("INNLEGGELSESRAPPORT".into()),
            standard: Some("PLO 1.6".into()),
            sender_her: Some("200".into()),
            receiver_her: Some(to.into()),
            patient_key: Some(patient.into()),

            ..Metadata::default()
        },
        verdict: "accepted".into(),
        findings_json: "[]".into(),
        apprec: b"<AppRec/>".to_vec(),
        apprec_status: 1,
        state: State::Accepted,
        actor: "system:test".into(),
        reason: "received".into(),
        deliveries: vec![NewDelivery {
            receiver_her: to.into(),
            role: "primary".into(),
            reason: "routed".into(),
        }],
        route_reason: "routed".into(),
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
    script: Arc<Mutex<Script>>,
    deliverer: Arc<Deliverer<SqliteStore>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub(super) const T0: Millis = 1_800_000_000_000;

async fn rig(cfg: DeliveryConfig) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("receiver.token"), "s3cret-token\n").unwrap();
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("db"), SqliteOptions::default()).unwrap());
    let script = Arc::new(Mutex::new(Script::default()));
    let addr = receiver(script.clone()).await;
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let directory = Arc::new(TestDir {
        reg: registry(addr.port()),
        dir: dir.path().to_owned(),
    });
    let deliverer = Arc::new(
        Deliverer::new(
            store.clone(),
            directory,
            clock.clone(),
            DeliveryConfig { poll_ms: 50, ..cfg },
        )
        .unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(deliverer.clone().run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    Rig {
        _dir: dir,
        store,
        clock,
        script,
        deliverer,
        stop: Some(stop),
        task: Some(task),
    }
}

impl Rig {
    async fn submit(&self, m: NewMessage) {
        self.store.submit(m).await.unwrap();
        self.deliverer.waker().notify_one();
    }

    /// Waits (real time, at most 10 s) until the message's only delivery
    /// is in `want`.
    async fn wait_for(&self, msg_id: &str, want: DeliveryState) -> overgang_store::Delivery {
        let id = format!("id-{msg_id}");
        for _ in 0..500 {
            let list = self.store.deliveries_of(&id).await.unwrap();
            if let Some((d, _)) = list.first() {
                if d.state == want {
                    return d.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let list = self.store.deliveries_of(&id).await.unwrap();
        panic!("{msg_id} never reached {want}: {list:#?}");
    }

    fn requests(&self) -> usize {
        lock(&self.script).seen.len()
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        self.store.close().await.unwrap();
    }
}

#[tokio::test]
async fn an_apprec_in_the_answer_acknowledges_the_delivery() {
    let rig = rig(DeliveryConfig::default()).await;
    rig.submit(message("m1", "p1", "100", T0)).await;
    let d = rig.wait_for("m1", DeliveryState::Acknowledged).await;
    assert_eq!(d.attempts, 1);
    {
        let s = lock(&rig.script);
        assert_eq!(s.seen.len(), 1);
        assert_eq!(s.seen[0].0, "m1", "the original bytes");
        assert_eq!(s.seen[0].1.as_deref(), Some("Bearer s3cret-token"));
    }
    let receipts = rig.store.receipts_of("id-m1").await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].status, 1);
    assert_eq!(receipts[0].apprec_msg_id.as_deref(), Some("ack-m1"));
    assert_eq!(receipts[0].from_her.as_deref(), Some("100"));
    let rec = rig.store.get("id-m1").await.unwrap().unwrap();
    assert_eq!(rec.summary.state, State::Acknowledged);
    rig.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let rig = rig(DeliveryConfig::default()).await;
    lock(&rig.script).replies.insert(
        "m2".into(),
        VecDeque::from([Reply(503, Some("120"), String::new())]),
    );
    rig.submit(message("m2", "p1", "100", T0)).await;
    let d = rig.wait_for("m2", DeliveryState::Queued).await;
    // Wait until the first attempt is recorded.
    let mut d = d;
    for _ in 0..500 {
        if d.attempts == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        d = rig.wait_for("m2", DeliveryState::Queued).await;
    }
    assert_eq!(d.attempts, 1);
    assert_eq!(
        d.next_attempt_at,
        Some(T0 + 120_000),
        "Retry-After: 120 wins over the backoff"
    );
    assert!(d.last_error.as_deref().unwrap_or("").contains("HTTP 503"));
    // A second before it: nothing is sent, however often the stage looks.
    rig.clock.0.store(T0 + 119_000, Ordering::SeqCst);
    rig.deliverer.waker().notify_one();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.requests(), 1);
    // At the time: sent, and acknowledged.
    rig.clock.0.store(T0 + 120_000, Ordering::SeqCst);
    let d = rig.wait_for("m2", DeliveryState::Acknowledged).await;
    assert_eq!(d.attempts, 2);
    assert_eq!(rig.requests(), 2);
    rig.stop().await;
}

#[tokio::test]
async fn a_refused_message_is_dead_lettered_while_the_rest_flow() {
    let rig = rig(DeliveryConfig::default()).await;
    lock(&rig.script).replies.insert(
        "poison".into(),
        VecDeque::from([Reply(400, None, "bad".into())]),
    );
    // Received before the (held) clock's now, so all are due.
    rig.submit(message("poison", "p1", "100", T0 - 3)).await;
    rig.submit(message("after-poison", "p1", "100", T0 - 2))
        .await;
    rig.submit(message("other", "p2", "100", T0 - 1)).await;
    let d = rig.wait_for("poison", DeliveryState::DeadLetter).await;
    assert!(d.last_error.unwrap().contains("HTTP 400"));
    rig.wait_for("after-poison", DeliveryState::Acknowledged)
        .await;
    rig.wait_for("other", DeliveryState::Acknowledged).await;
    let alerts = rig.store.alerts(10).await.unwrap();
    assert!(alerts.iter().any(|a| a.kind == "dead_letter"), "{alerts:?}");
    // Order for patient p1 was kept: the poison one went first.
    let seen: Vec<String> = lock(&rig.script).seen.iter().map(|s| s.0.clone()).collect();
    let pos = |m: &str| seen.iter().position(|s| s == m).unwrap();
    assert!(pos("poison") < pos("after-poison"), "{seen:?}");
    // Counted once each, when recorded (read after the stop, when every
    // attempt has finished).
    let m = rig.deliverer.metrics();
    rig.stop().await;
    let n = |kind: &str, outcome: &str| m.attempts.get(&[kind, outcome]).map(|c| c.get());
    assert_eq!(n("message", "dead_letter"), Some(1));
    assert_eq!(n("message", "acknowledged"), Some(2));
    assert_eq!(n("message", "retry"), Some(0));
    assert_eq!(m.receipts.get(&["1", "sync"]).map(|c| c.get()), Some(2));
    assert_eq!(m.attempt_seconds.snapshot().count, 3);
}

#[tokio::test]
async fn no_connection_is_retried() {
    let rig = rig(DeliveryConfig::default()).await;
    rig.submit(message("m3", "p1", "300", T0)).await;
    let mut d = rig.wait_for("m3", DeliveryState::Queued).await;
    for _ in 0..500 {
        if d.attempts >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        d = rig.wait_for("m3", DeliveryState::Queued).await;
    }
    assert_eq!(d.attempts, 1);
    let err = d.last_error.unwrap();
    assert!(err.contains("no connection"), "{err}");
    let next = d.next_attempt_at.unwrap();
    assert!(
        (T0 + 500..=T0 + 1000).contains(&next),
        "first backoff 0.5–1 s: {next}"
    );
    rig.stop().await;
}

#[tokio::test]
async fn a_missing_apprec_is_flagged() {
    let rig = rig(DeliveryConfig {
        apprec_timeout_secs: 60,
        sweep_secs: 1,
        ..DeliveryConfig::default()
    })
    .await;
    lock(&rig.script).replies.insert(
        "m4".into(),
        VecDeque::from([Reply(202, None, String::new())]),
    );
    rig.submit(message("m4", "p1", "100", T0)).await;
    rig.wait_for("m4", DeliveryState::Delivered).await;
    rig.clock.0.store(T0 + 61_000, Ordering::SeqCst);
    let mut flagged = false;
    for _ in 0..200 {
        let d = rig.wait_for("m4", DeliveryState::Delivered).await;
        if d.apprec_overdue {
            flagged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(flagged, "flagged within the sweep interval");
    let alerts = rig.store.alerts(10).await.unwrap();
    assert!(
        alerts.iter().any(|a| a.kind == "apprec_overdue"),
        "{alerts:?}"
    );
    rig.stop().await;
}
