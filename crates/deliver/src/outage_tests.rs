//! Outages, in simulated time: the delivery stage against a real SQLite
//! store and two receivers on 127.0.0.1 that the test can take down (each
//! connection is closed at once, unanswered) or slow down, with the
//! stage's clock held by the test:
//!
//! - a receiver down for ten minutes (of the stage's clock) under a steady
//!   load: the other receiver is served all along; after it returns, the
//!   one that was down gets every message once, each patient's in order,
//!   each acknowledged once; its queue-age alert is raised during the
//!   outage and cleared after it;
//! - a receiver that takes 5 s (real) per request does not hold up the
//!   other: everything to the fast one is acknowledged before the slow one
//!   has answered once, and the slow one never has more than
//!   `per_receiver` requests at a time.
//!
//! The real-time waits are bounded; nothing asserts on speed.

use super::tests::{message, ManualClock, TestDir, T0};
use super::*;
use overgang_store::sqlite::{SqliteOptions, SqliteStore};
use overgang_store::{DeliveryEvent, Store};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// A receiver that records what arrives, answers each with a positive
/// AppRec after `delay`, and while `down` closes every connection at once.
struct Receiver {
    port: u16,
    down: Arc<AtomicBool>,
    book: Arc<Mutex<Book>>,
}

#[derive(Default)]
struct Book {
    /// Message ids (the bodies) in the order they arrived.
    arrived: Vec<String>,
    /// Answers sent.
    answered: usize,
    /// Requests being handled now, and the most at once.
    busy: usize,
    most: usize,
    /// Connections closed unanswered while down.
    refused: usize,
}

impl Receiver {
    async fn start(delay: Duration) -> Receiver {
        use axum::extract::State as AxState;
        async fn handle(
            AxState((book, delay)): AxState<(Arc<Mutex<Book>>, Duration)>,
            body: String,
        ) -> String {
            {
                let mut b = lock(&book);
                b.arrived.push(body.clone());
                b.busy += 1;
                b.most = b.most.max(b.busy);
            }
            tokio::time::sleep(delay).await;
            let mut b = lock(&book);
            b.busy -= 1;
            b.answered += 1;
            super::tests::apprec(&body, 1)
        }
        let book = Arc::new(Mutex::new(Book::default()));
        let down = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new()
            .route("/plo", axum::routing::post(handle))
            .with_state((book.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (is_down, log) = (down.clone(), book.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                if is_down.load(Ordering::SeqCst) {
                    lock(&log).refused += 1;
                    drop(tcp);
                    continue;
                }
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
                });
            }
        });
        Receiver { port, down, book }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        lock(&self.book)
    }
}

/// "100" is the receiver that goes down or slow, "400" the other.
fn registry(port_100: u16, port_400: u16) -> Arc<Registry> {
    let party = |her: &str, port: u16| {
        format!(
            r#"
[[party]]
her = "{her}"
name = "Mottaker {her}"
kind = "organisation"
endpoint = "http://127.0.0.1:{port}/plo"
accepts = [{{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }}]
"#
        )
    };
    let text = party("100", port_100) + &party("400", port_400);
    Arc::new(Registry::parse("test.toml", &text).unwrap())
}

struct Stage {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
    deliverer: Arc<Deliverer<SqliteStore>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Stage {
    async fn start(reg: Arc<Registry>, cfg: DeliveryConfig) -> Stage {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(SqliteStore::open(&dir.path().join("db"), SqliteOptions::default()).unwrap());
        let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
        let directory = Arc::new(TestDir {
            reg,
            dir: dir.path().to_owned(),
        });
        let deliverer =
            Arc::new(Deliverer::new(store.clone(), directory, clock.clone(), cfg).unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(deliverer.clone().run(
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(10),
        ));
        Stage {
            _dir: dir,
            store,
            clock,
            deliverer,
            stop,
            task,
        }
    }

    fn now(&self) -> Millis {
        self.clock.0.load(Ordering::SeqCst)
    }

    /// Moves the stage's clock on by `ms` and wakes it.
    fn advance(&self, ms: i64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
        self.deliverer.waker().notify_one();
    }

    async fn submit(&self, msg_id: &str, patient: &str, to: &str) {
        self.store
            .submit(message(msg_id, patient, to, self.now()))
            .await
            .unwrap();
        self.deliverer.waker().notify_one();
    }

    /// The message's only delivery and its events.
    async fn delivery(&self, msg_id: &str) -> (overgang_store::Delivery, Vec<DeliveryEvent>) {
        let mut list = self
            .store
            .deliveries_of(&format!("id-{msg_id}"))
            .await
            .unwrap();
        assert_eq!(list.len(), 1, "{msg_id}: {list:?}");
        list.remove(0)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
        self.store.close().await.unwrap();
    }
}

const PATIENTS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_ten_minutes_gets_everything_after_in_order_once_and_the_alert_clears()
{
    const OUTAGE_S: i64 = 600;
    const AFTER_S: i64 = 60;
    let down = Receiver::start(Duration::ZERO).await;
    let up = Receiver::start(Duration::ZERO).await;
    down.set_down(true);
    let stage = Stage::start(
        registry(down.port, up.port),
        DeliveryConfig {
            backoff_initial_ms: 1000,
            backoff_max_secs: 120,
            sweep_secs: 1,
            queue_age_alert_secs: 300,
            poll_ms: 10,
            ..DeliveryConfig::default()
        },
    )
    .await;

    // The steady load: every second (of the stage's clock) one message to
    // each receiver, for the five patients in turn; the clock runs about
    // 250 times faster than the wall clock.
    let mut to_down: Vec<(String, usize)> = Vec::new();
    let mut to_up: Vec<(String, Millis)> = Vec::new();
    for s in 0..OUTAGE_S + AFTER_S {
        if s == OUTAGE_S {
            down.set_down(false);
        }
        let p = (s as usize) % PATIENTS;
        let d = format!("down-{s}");
        stage.submit(&d, &format!("p{p}"), "100").await;
        to_down.push((d, p));
        let u = format!("up-{s}");
        stage.submit(&u, &format!("p{p}"), "400").await;
        to_up.push((u, stage.now()));
        stage.advance(1000);
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    // Then time goes on until everything is acknowledged (at most an hour
    // of the stage's clock, about 30 s of the wall clock).
    let mut left = to_down.len() + to_up.len();
    for _ in 0..3600 {
        if stage
            .store
            .delivery_stats(0)
            .await
            .unwrap()
            .by_state
            .iter()
            .find(|(s, _)| *s == DeliveryState::Acknowledged)
            .map(|(_, n)| *n as usize)
            == Some(left)
        {
            left = 0;
            break;
        }
        stage.advance(1000);
        tokio::time::sleep(Duration::from_millis(8)).await;
    }
    assert_eq!(left, 0, "not everything was acknowledged");
    // One more sweep sees the caught-up queue.
    for _ in 0..3 {
        stage.advance(1000);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let alerts = stage.store.alerts(100).await.unwrap();
        if alerts.iter().any(|a| a.kind == "queue_age_cleared") {
            break;
        }
    }

    // The receiver that stayed up was served during the outage: each of
    // its messages acknowledged within a minute of the stage's clock.
    for (msg_id, at) in &to_up {
        let (d, events) = stage.delivery(msg_id).await;
        assert_eq!(d.state, DeliveryState::Acknowledged, "{msg_id}");
        assert_eq!(d.attempts, 1, "{msg_id}: {events:?}");
        let acked = events
            .iter()
            .find(|e| e.to == DeliveryState::Acknowledged)
            .map(|e| e.at)
            .unwrap();
        assert!(acked - at <= 60_000, "{msg_id} waited {} ms", acked - at);
    }
    {
        let book = up.book();
        assert_eq!(book.arrived.len(), to_up.len(), "each once");
        assert_eq!(book.refused, 0);
    }

    // The one that was down got each message once, after it returned, in
    // each patient's order, and each was acknowledged once.
    let arrived = down.book().arrived.clone();
    let refused = down.book().refused;
    let mut seen = std::collections::HashSet::new();
    for m in &arrived {
        assert!(seen.insert(m.clone()), "{m} arrived twice");
    }
    assert_eq!(arrived.len(), to_down.len(), "every message arrived");
    for p in 0..PATIENTS {
        let sent: Vec<&String> = to_down.iter().filter(|x| x.1 == p).map(|x| &x.0).collect();
        let got: Vec<&String> = arrived
            .iter()
            .filter(|m| to_down.iter().any(|x| x.1 == p && &x.0 == *m))
            .collect();
        assert_eq!(got, sent, "patient p{p}'s order");
    }
    for (msg_id, _) in &to_down {
        let (d, events) = stage.delivery(msg_id).await;
        assert_eq!(d.state, DeliveryState::Acknowledged, "{msg_id}");
        let acks = events
            .iter()
            .filter(|e| e.to == DeliveryState::Acknowledged)
            .count();
        assert_eq!(acks, 1, "{msg_id}: {events:?}");
        let receipts = stage.store.receipts_of(&format!("id-{msg_id}")).await;
        assert_eq!(receipts.unwrap().len(), 1, "{msg_id}: one AppRec stored");
    }

    // The alert: raised during the outage for 100 only, cleared after it.
    let alerts = stage.store.alerts(1000).await.unwrap();
    let of = |kind: &str| -> Vec<&overgang_store::Alert> {
        alerts.iter().filter(|a| a.kind == kind).collect()
    };
    let raised = of("queue_age");
    let cleared = of("queue_age_cleared");
    assert_eq!(raised.len(), 1, "{alerts:?}");
    assert_eq!(raised[0].subject, "100");
    assert!(
        raised[0].text_nb.contains("over 5 min"),
        "{}",
        raised[0].text_nb
    );
    let outage_end = T0 + OUTAGE_S * 1000;
    assert!(
        raised[0].at > T0 + 300_000 && raised[0].at < outage_end,
        "raised at {} s",
        (raised[0].at - T0) / 1000
    );
    assert_eq!(cleared.len(), 1, "{alerts:?}");
    assert_eq!(cleared[0].subject, "100");
    assert!(cleared[0].at > outage_end);
    eprintln!(
        "outage: {} messages to the receiver that was down ({refused} connections refused during the outage), \
         {} to the one that stayed up; alert raised at {} s, cleared at {} s of the stage's clock",
        to_down.len(),
        to_up.len(),
        (raised[0].at - T0) / 1000,
        (cleared[0].at - T0) / 1000
    );
    stage.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_hold_up_the_others() {
    const SLOW: usize = 12;
    const FAST: usize = 40;
    let slow = Receiver::start(Duration::from_secs(5)).await;
    let fast = Receiver::start(Duration::ZERO).await;
    let cfg = DeliveryConfig {
        poll_ms: 10,
        ..DeliveryConfig::default()
    };
    let per_receiver = cfg.per_receiver;
    let stage = Stage::start(registry(slow.port, fast.port), cfg).await;
    // A patient each: nothing waits for an earlier message of its patient.
    for i in 0..SLOW {
        stage
            .submit(&format!("slow-{i}"), &format!("s{i}"), "100")
            .await;
    }
    for i in 0..FAST {
        stage
            .submit(&format!("fast-{i}"), &format!("f{i}"), "400")
            .await;
    }
    // Everything to the fast receiver is acknowledged while the slow one
    // has not answered once (it takes 5 s per request).
    let mut done = false;
    for _ in 0..400 {
        let mut acked = 0;
        for i in 0..FAST {
            if stage.delivery(&format!("fast-{i}")).await.0.state == DeliveryState::Acknowledged {
                acked += 1;
            }
        }
        if acked == FAST {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        done,
        "the fast receiver's messages were not all acknowledged"
    );
    let answered_by_slow = slow.book().answered;
    assert_eq!(
        answered_by_slow, 0,
        "the fast receiver waited for the slow one"
    );
    assert_eq!(fast.book().arrived.len(), FAST);
    // The slow one gets all of its messages in the end, never more than
    // per_receiver at once.
    for _ in 0..300 {
        if slow.book().answered == SLOW {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (answered, most) = {
        let b = slow.book();
        (b.answered, b.most)
    };
    assert_eq!(answered, SLOW);
    assert_eq!(most, per_receiver, "requests at once to the slow receiver");
    for i in 0..SLOW {
        let id = format!("slow-{i}");
        for _ in 0..100 {
            if stage.delivery(&id).await.0.state == DeliveryState::Acknowledged {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            stage.delivery(&id).await.0.state,
            DeliveryState::Acknowledged
        );
    }
    stage.stop().await;
}

#[test]
fn queue_ages_are_judged_by_the_oldest_open_delivery() {
    use overgang_store::ReceiverGauges;
    let g = |her: &str, queued: Option<Millis>, flying: Option<Millis>| ReceiverGauges {
        receiver_her: her.into(),
        queued: u64::from(queued.is_some()),
        oldest_queued_at: queued,
        in_flight: u64::from(flying.is_some()),
        oldest_in_flight_at: flying,
        ..ReceiverGauges::default()
    };
    let open = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let now = 1_000_000;
    let limit = 300_000;
    // Old by its queued or its in-flight delivery; young; exactly at the
    // limit is not over it.
    let rs = [
        g("a", Some(now - 300_001), None),
        g("b", None, Some(now - 400_000)),
        g("c", Some(now - 10), Some(now - 20)),
        g("d", Some(now - 300_000), None),
    ];
    let (raise, clear) = judge_queue_ages(&rs, &open(&[]), now, limit);
    assert_eq!(raise, ["a", "b"]);
    assert!(clear.is_empty());
    // Already alerted: not again. Alerted and young now, or gone from the
    // gauges (nothing open): cleared.
    let (raise, clear) = judge_queue_ages(&rs, &open(&["a", "c", "z"]), now, limit);
    assert_eq!(raise, ["b"]);
    assert_eq!(clear, ["c", "z"]);
}
