//! Crash cycles with intake and delivery both at work: the real `overgang
//! serve` with a receiver simulator behind every receiving system of the
//! demo registry, on 127.0.0.1, killed with SIGKILL again and again while
//! clients post and deliveries go out.
//!
//! Each cycle: 6 clients post official PLO v1.6 examples (a fresh MsgId,
//! one of 40 fictitious patients) to the gateway; after a random 200–1300 ms
//! the gateway gets SIGKILL. The test then reads the database (read-only,
//! before anything else opens it): every message answered 201 so far is
//! there, and it notes which message deliveries were `acknowledged` and
//! which `in_flight` at the kill. The gateway is started again on the same
//! data folder and must answer `/readyz` with the store ok.
//!
//! After the last cycle the gateway runs until every delivery is answered,
//! and the test checks:
//!
//! - **0 acknowledged messages lost**: every message answered 201 in any
//!   cycle is stored, with its receiver's AppRec (`acknowledged`);
//! - **0 acknowledged deliveries repeated**: a receiver got a message at
//!   most 1 + (the number of kills that caught its delivery in flight)
//!   times: only an attempt cut off by a kill is sent again, never one that
//!   was answered, and a delivery acknowledged at one kill is not in
//!   flight at a later one;
//! - the store opened after every kill (`/readyz`), and `integrity_check`
//!   is `ok` at the end.
//!
//! Bounded: `OVERGANG_CRASH_DELIVERY_CYCLES` (default 20; 200 in
//! docs/RELIABILITY.md, `scripts/crash-test.sh`); `OVERGANG_CRASH_SEED`
//! replays the random choices (not the exact timing).

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
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::corpus::examples;
use support::delivery::{message_delivery_states, Net, ALVDAL, DEMO_PORTS, OPS_TOKEN};
use support::patients::{self, fnr, patient_id};
use support::server::{fresh, DEMO_TOKEN};

const CLIENTS: usize = 6;
const PATIENTS: usize = 40;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|s| {
        let s = s.trim().to_owned();
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        }
        .unwrap_or_else(|e| panic!("{name}={s:?}: {e}"))
    })
}

fn templates() -> Vec<Vec<u8>> {
    examples()
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| {
            let id = patient_id(b);
            b.windows(id.len()).filter(|w| *w == id.as_bytes()).count() == 1
        })
        .collect()
}

/// What the clients learnt: MsgId → gateway id, for every 201.
type Acked = Arc<Mutex<BTreeMap<String, String>>>;

/// Posts until `stop`; a request the kill cuts off is simply not
/// acknowledged. Any answer but 201 fails the test (the gateway never
/// answers 5xx to a well-formed request while it is up).
async fn client(
    url: String,
    templates: Arc<Vec<Vec<u8>>>,
    seed: u64,
    acked: Acked,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<usize, String> {
    let c = support::server::client();
    let mut rng = Rng(seed | 1);
    let mut sent = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let t = &templates[rng.below(templates.len() as u64) as usize];
        let patient = fnr("150765", rng.below(PATIENTS as u64) as usize);
        let (msg_id, bytes) = fresh(&patients::with_patient(t, &patient));
        let r = c
            .post(format!("{url}/api/v1/messages"))
            .bearer_auth(DEMO_TOKEN)
            .header("content-type", "application/xml")
            .header("accept", "application/json")
            .body(bytes)
            .send()
            .await;
        sent += 1;
        let Ok(r) = r else {
            return Ok(sent); // the kill
        };
        let status = r.status();
        let Ok(body) = r.json::<serde_json::Value>().await else {
            return Ok(sent); // the kill, mid-answer
        };
        if status != StatusCode::CREATED {
            return Err(format!("{status}: {body}"));
        }
        let id = body["id"].as_str().ok_or("no id")?.to_owned();
        acked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(msg_id, id);
    }
    Ok(sent)
}

/// (MsgId, delivery state) of every message delivery, and the MsgIds of
/// every stored message, read from the database of a killed gateway.
fn read_db(db: &std::path::Path) -> (Vec<(String, String)>, BTreeSet<String>) {
    let deliveries = message_delivery_states(db);
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    let mut st = conn
        .prepare("SELECT msg_id FROM messages")
        .expect("prepare");
    let stored: BTreeSet<String> = st
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    (deliveries, stored)
}

async fn assert_ready(net: &Net) {
    let (status, body) = net.get("/readyz", OPS_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["store"], "ok", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_intake_and_delivery_loses_nothing_and_repeats_no_acknowledged_delivery() {
    let cycles = env_number("OVERGANG_CRASH_DELIVERY_CYCLES").unwrap_or(20) as usize;
    assert!((1..=2000).contains(&cycles), "1..=2000 cycles");
    let seed = env_number("OVERGANG_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(std::process::id())
    });
    eprintln!("crash-delivery: {cycles} cycles, seed {seed:#x}");
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    // One receiving system answers after 100 ms, so that kills find
    // deliveries in flight; the others at once.
    let sims: Vec<(u16, &str)> = DEMO_PORTS
        .iter()
        .map(|&p| (p, if p == ALVDAL { "slow:100" } else { "ok" }))
        .collect();
    let mut net = Net::start_with(
        "crash-delivery",
        &[("backoff_initial_ms", "100"), ("backoff_max_secs", "2")],
        &sims,
        &[],
        &[("OVERGANG_LOG__LEVEL", "warn")],
    )
    .await;
    let db = net.dir().join("data").join("overgang.db");
    let templates = Arc::new(templates());
    let acked: Acked = Arc::default();
    // Per MsgId: kills that found its delivery in flight; and the MsgIds
    // whose delivery was acknowledged at some kill.
    let mut in_flight_at_kills: BTreeMap<String, u32> = BTreeMap::new();
    let mut acknowledged_at_a_kill: BTreeSet<String> = BTreeSet::new();
    let mut sent = 0usize;
    let (mut max_in_flight, mut kills_in_flight) = (0usize, 0usize);

    for cycle in 0..cycles {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(client(
                    net.gw.url.clone(),
                    templates.clone(),
                    rng.next(),
                    acked.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200 + rng.below(1100))).await;
        net.kill_gateway();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            sent += t
                .await
                .expect("client task")
                .unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        }

        let (deliveries, stored) = read_db(&db);
        let acked_now = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for msg_id in acked_now.keys() {
            assert!(
                stored.contains(msg_id),
                "cycle {cycle}: {msg_id} was answered 201 and is not stored"
            );
        }
        let mut flying = 0;
        for (msg_id, state) in &deliveries {
            match state.as_str() {
                "in_flight" => {
                    assert!(
                        !acknowledged_at_a_kill.contains(msg_id),
                        "cycle {cycle}: {msg_id} was acknowledged at an earlier kill and is in flight again"
                    );
                    *in_flight_at_kills.entry(msg_id.clone()).or_default() += 1;
                    flying += 1;
                }
                "acknowledged" => {
                    acknowledged_at_a_kill.insert(msg_id.clone());
                }
                _ => {}
            }
        }
        max_in_flight = max_in_flight.max(flying);
        kills_in_flight += usize::from(flying > 0);
        net.restart_gateway();
        assert_ready(&net).await;
        if cycle % 10 == 9 || cycle + 1 == cycles {
            eprintln!(
                "cycle {}: {} acknowledged so far, {} deliveries acknowledged at this kill, {flying} in flight",
                cycle + 1,
                acked_now.len(),
                deliveries.iter().filter(|d| d.1 == "acknowledged").count(),
            );
        }
    }

    // The last start delivers what is left.
    let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut settled = false;
    for _ in 0..1200 {
        let s = net.by_state().await;
        // (`delivered` is where receipt deliveries to the senders end.)
        let open: u64 = ["queued", "in_flight"]
            .iter()
            .filter_map(|k| s.get(*k))
            .sum();
        if open == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "deliveries still open: {:?}", net.by_state().await);
    support::server::signal(net.gw.pid(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = net.gw.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "the gateway stopped with {status}");

    // Every acknowledged message: stored, its delivery acknowledged.
    let (deliveries, stored) = read_db(&db);
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let by_msg: BTreeMap<&str, Vec<&str>> =
        deliveries.iter().fold(BTreeMap::new(), |mut m, (id, st)| {
            m.entry(id.as_str()).or_default().push(st.as_str());
            m
        });
    let mut lost = 0;
    for msg_id in acked.keys() {
        if !stored.contains(msg_id) {
            lost += 1;
            continue;
        }
        let states = by_msg.get(msg_id.as_str()).cloned().unwrap_or_default();
        assert!(
            !states.is_empty() && states.iter().all(|s| *s == "acknowledged"),
            "{msg_id}: deliveries {states:?}"
        );
    }
    assert_eq!(lost, 0, "acknowledged messages lost");

    // What the receivers got: at most once more than the kills that caught
    // the delivery in flight.
    let mut arrivals: BTreeMap<String, u64> = BTreeMap::new();
    let mut duplicates = 0;
    for port in DEMO_PORTS {
        let r = net.sim(port).received(&net.c).await;
        for m in r["received"].as_array().expect("received") {
            let id = m["msg_id"].as_str().expect("msg_id").to_owned();
            let times = m["times"].as_u64().expect("times");
            duplicates += times - 1;
            *arrivals.entry(id).or_default() += times;
        }
    }
    let mut repeated = 0;
    for (msg_id, times) in &arrivals {
        let allowed = 1 + u64::from(in_flight_at_kills.get(msg_id).copied().unwrap_or(0));
        if *times > allowed {
            repeated += 1;
            eprintln!("{msg_id} arrived {times} times, allowed {allowed}");
        }
    }
    for msg_id in acked.keys() {
        assert!(
            arrivals.contains_key(msg_id),
            "{msg_id} never reached its receiver"
        );
    }
    eprintln!(
        "crash-delivery: {cycles} cycles in {:.0} s, seed {seed:#x}: {sent} requests, {} acknowledged (201), \
         lost 0; {} messages stored; {} deliveries acknowledged; kills with deliveries in flight: {kills_in_flight} \
         (at most {max_in_flight} at once); arrivals sent again after a kill: {duplicates}; \
         acknowledged deliveries repeated: {repeated}",
        started.elapsed().as_secs_f64(),
        acked.len(),
        stored.len(),
        deliveries.iter().filter(|d| d.1 == "acknowledged").count(),
    );
    assert_eq!(repeated, 0, "acknowledged deliveries repeated");
    assert!(
        kills_in_flight > 0,
        "no kill caught a delivery in flight: the test proved nothing about them"
    );
}
