//! Several `overgang serve` nodes on one PostgreSQL database, delivering
//! to receiver simulators on 127.0.0.1, one of them killed with SIGKILL in
//! the middle of its deliveries.
//!
//! The nodes share the database (`[store] kind = "postgres"`), the address
//! registry file and the configuration; each has its own `node_id`, and
//! short leases (`lease_secs = 4`, `delivery.timeout_secs = 2`,
//! `delivery.sweep_secs = 1`) so a dead node's work is taken over within
//! seconds. The load is bounded: many fictitious patients, several
//! messages each, all from the hospital (59) to Alvdal (5078), posted
//! round-robin to the living nodes; each patient's messages are posted one
//! after another (the next when the previous is answered), so "the order
//! of posting" is well defined per patient.
//!
//! Alvdal's receiver answers slowly while the load goes in, so the node to
//! be killed has attempts under way; the test waits until the database
//! shows that node's leases on deliveries in flight, kills it, notes those
//! deliveries (with their lease expiry), posts the rest of the load to the
//! survivors and lets the receiver answer at once. The killed node is not
//! started again: whatever happens to its work is the survivors' doing.
//! Then:
//!
//! - every message answered 201 has its message delivery `acknowledged`
//!   and its receipt to the sender `delivered`;
//! - the gateway acknowledged each message delivery once: as many
//!   transitions into `acknowledged` as messages (× 1 receiver);
//! - at the receiver, each MsgId arrived once, except those the killed
//!   node had in flight, which may arrive twice (the cut-off attempt and
//!   the survivors' one; the receiver knows them by MsgId);
//! - per patient, the receiver saw the messages in the order of posting;
//! - every delivery the killed node had in flight was put back in the
//!   queue (an `in_flight → queued` event) no earlier than its lease ran
//!   out, and a survivor logged that it took over expired leases.
//!
//! Each test makes its own database (`tests/support/pg.rs`) and drops it.

mod support {
    pub mod corpus;
    pub mod delivery;
    pub mod patients;
    pub mod pg;
    pub mod server;
    pub mod simulator;
    pub mod tempdir;
    pub mod wait;
}

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::corpus::examples;
use support::delivery::{arrival, arrived, registry_text, ALVDAL, ST_OLAV};
use support::patients::{self, read, with_patient};
use support::pg::Db;
use support::server::{client, fresh, post_message, test_config_with_registry, Server, TempDir};
use support::simulator::Simulator;
use support::wait::eventually;

/// Lease of a claim (seconds): how long a dead node's attempts block.
const LEASE_SECS: u64 = 4;
/// How long the test waits for the nodes to get somewhere.
const WAIT: Duration = Duration::from_secs(60);

/// Receiver simulators, the registry that points at them, a configuration
/// every node shares, and the nodes.
struct Cluster {
    tmp: TempDir,
    db: Db,
    config: PathBuf,
    registry: PathBuf,
    sims: BTreeMap<u16, Simulator>,
    nodes: Vec<(String, Option<Server>)>,
}

impl Cluster {
    /// Starts the simulators (`(demo port, behaviour)`), writes the
    /// registry and the configuration (`[delivery]` lines `delivery`, then
    /// `extra` TOML), and starts `n` nodes `node-0`, `node-1`, … on a
    /// fresh database.
    fn start(tag: &str, n: usize, sims: &[(u16, &str)], delivery: &str) -> Cluster {
        let mut c = Cluster::new(tag, sims, delivery, "");
        for _ in 0..n {
            c.add(&[]);
        }
        c
    }

    /// [`Cluster::start`] without nodes.
    fn new(tag: &str, sims: &[(u16, &str)], delivery: &str, extra: &str) -> Cluster {
        let tmp = TempDir::new(tag);
        let dir = tmp.path().to_owned();
        let db = Db::new();
        let mut started = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for &(port, behaviour) in sims {
            let sim = Simulator::start(
                &["--behaviour", behaviour],
                &dir.join(format!("sim-{port}.log")),
            );
            addrs.insert(port, sim_addr(&sim));
            started.insert(port, sim);
        }
        // The token file the demo registry names, beside the registry.
        let token = "demo-secrets/solvik-tildeling.token";
        std::fs::create_dir_all(dir.join("demo-secrets")).expect("mkdir");
        std::fs::copy(
            support::corpus::repo().join("config/registry").join(token),
            dir.join(token),
        )
        .expect("copy the demo token file");
        let registry = dir.join("registry.toml");
        std::fs::write(&registry, registry_text(&addrs)).expect("write registry");
        let extra = format!(
            "[delivery]\nbackoff_initial_ms = 50\nbackoff_max_secs = 1\ntimeout_secs = 2\n{delivery}\n{extra}\n"
        );
        let config = test_config_with_registry(&dir, &registry, "poll_secs = 0", &extra);
        Cluster {
            tmp,
            db,
            config,
            registry,
            sims: started,
            nodes: Vec::new(),
        }
    }

    /// Starts the next node (`node-N`) with extra environment `env`.
    fn add(&mut self, env: &[(&str, &str)]) -> usize {
        let name = format!("node-{}", self.nodes.len());
        let srv = self.start_node(&name, env);
        self.nodes.push((name, Some(srv)));
        self.nodes.len() - 1
    }

    fn url(&self, i: usize) -> &str {
        &self.nodes[i].1.as_ref().expect("a running node").url
    }

    fn start_node(&self, name: &str, env: &[(&str, &str)]) -> Server {
        let lease = LEASE_SECS.to_string();
        let url = self.db.url();
        let mut all = vec![
            ("OVERGANG_STORE__KIND", "postgres"),
            ("OVERGANG_STORE__URL", url.as_str()),
            ("OVERGANG_STORE__NODE_ID", name),
            ("OVERGANG_STORE__LEASE_SECS", lease.as_str()),
        ];
        all.extend_from_slice(env);
        Server::start_env(&self.config, &[], &self.log_path(name), &all)
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn log_path(&self, node: &str) -> PathBuf {
        self.dir().join(format!("{node}.log"))
    }

    fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.log_path(node)).unwrap_or_default()
    }

    /// The URLs of the nodes still running.
    fn live_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|(_, s)| s.as_ref().map(|s| s.url.clone()))
            .collect()
    }

    fn sim(&self, port: u16) -> &Simulator {
        &self.sims[&port]
    }

    /// SIGKILL to node `i`; waits until it is gone.
    fn kill(&mut self, i: usize) {
        if let Some(s) = self.nodes[i].1.take() {
            s.kill();
        }
    }

    /// SIGTERM to every node still running; each must stop cleanly.
    fn stop(&mut self) {
        for (name, s) in &mut self.nodes {
            if let Some(s) = s.take() {
                let status = s.terminate(Duration::from_secs(30));
                assert!(status.success(), "{name} stopped with {status}");
            }
        }
    }
}

/// `host:port` of a simulator.
fn sim_addr(sim: &Simulator) -> String {
    sim.url
        .strip_prefix("http://")
        .expect("http URL")
        .to_owned()
}

/// Templates for messages from the hospital (59) to Alvdal's
/// Sykepleietjeneste (5078): one receiver, so each message has one message
/// delivery (and one receipt delivery back to 59).
fn hospital_to_alvdal() -> Vec<Vec<u8>> {
    let t: Vec<Vec<u8>> = examples()
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| {
            let m = read(b);
            m.receiver().and_then(|r| r.most_specific_her_id()) == Some("5078")
                && m.sender().and_then(|s| s.her_id()) == Some("59")
                && patients::patient_id(b).starts_with("150765")
        })
        .collect();
    assert!(t.len() >= 5, "expected several examples from 59 to 5078");
    t
}

/// What was posted: per patient, the MsgIds in posting order (all 201).
type Posted = Arc<Mutex<BTreeMap<usize, Vec<String>>>>;

/// Posts rounds `rounds` of the load: in each round, one message per
/// patient; `clients` tasks, each with its own patients (so a patient's
/// messages go one after another), each request to the next of `urls`.
async fn post_rounds(
    urls: Vec<String>,
    patients: usize,
    clients: usize,
    rounds: std::ops::Range<usize>,
    posted: Posted,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let templates = Arc::new(hospital_to_alvdal());
    let urls = Arc::new(urls);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let (templates, urls, next, posted, bodies) = (
                templates.clone(),
                urls.clone(),
                next.clone(),
                posted.clone(),
                bodies.clone(),
            );
            let rounds = rounds.clone();
            tokio::spawn(async move {
                let c = client();
                for r in rounds {
                    for p in (k..patients).step_by(clients) {
                        let t = &templates[(p + r) % templates.len()];
                        let (msg_id, bytes) = fresh(&with_patient(t, &patients::fnr("150765", p)));
                        let url = &urls[next.fetch_add(1, Ordering::Relaxed) % urls.len()];
                        let (st, v) = post_message(&c, url, bytes.clone()).await;
                        assert_eq!(st, StatusCode::CREATED, "{url}: {v}");
                        posted
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(p)
                            .or_default()
                            .push(msg_id);
                        bodies.lock().unwrap_or_else(|e| e.into_inner()).push(bytes);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a client task");
    }
}

/// A delivery the killed node had in flight: (delivery id, MsgId, lease
/// expiry in ms since the epoch).
type Flying = (i64, String, i64);

async fn sigkill_mid_delivery(nodes: usize, patients: usize, rounds: usize) {
    let started = Instant::now();
    let mut cl = Cluster::start(
        &format!("multinode-{nodes}"),
        nodes,
        &[(ST_OLAV, "ok"), (ALVDAL, "slow:800")],
        "sweep_secs = 1\npoll_ms = 200\nper_receiver = 4\n",
    );
    let posted: Posted = Arc::default();
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let clients = 6;
    let first = rounds / 2;

    // The first half of the load, round-robin to every node.
    post_rounds(
        cl.live_urls(),
        patients,
        clients,
        0..first,
        posted.clone(),
        bodies.clone(),
    )
    .await;

    // node-0 has attempts under way (its leases in the database): kill it.
    let victim = cl.nodes[0].0.clone();
    eventually(
        &format!("{victim} has deliveries in flight"),
        WAIT,
        || async {
            let n = cl.db.count(&format!(
                "SELECT count(*) FROM deliveries WHERE state = 'in_flight' AND lease_owner = '{victim}'"
            ));
            if n >= 2 {
                Ok(())
            } else {
                Err(format!("{n} in flight"))
            }
        },
    )
    .await;
    cl.kill(0);
    let flying: Vec<Flying> = cl
        .db
        .rows(&format!(
            "SELECT d.id, m.msg_id, d.lease_until FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE d.state = 'in_flight' AND d.lease_owner = '{victim}' ORDER BY d.id"
        ))
        .into_iter()
        .map(|r| {
            (
                r[0].parse().expect("id"),
                r[1].clone(),
                r[2].parse().expect("lease_until"),
            )
        })
        .collect();
    assert!(
        !flying.is_empty(),
        "the kill found {victim}'s attempts done"
    );
    let killed_at = Instant::now();

    // The rest of the load to the survivors; the receiver answers at once.
    post_rounds(
        cl.live_urls(),
        patients,
        clients,
        first..rounds,
        posted.clone(),
        bodies.clone(),
    )
    .await;
    cl.sim(ALVDAL)
        .set_behaviour(&support::server::client(), "ok")
        .await;

    let total = patients * rounds;
    eventually("every delivery answered", WAIT, || async {
        let open = cl.db.count(
            "SELECT count(*) FROM deliveries WHERE state IN ('queued', 'in_flight', 'delivered') AND kind = 'message'
             OR state IN ('queued', 'in_flight') AND kind = 'receipt'",
        );
        let acked = cl.db.count(
            "SELECT count(*) FROM deliveries WHERE kind = 'message' AND state = 'acknowledged'",
        );
        if open == 0 && acked == total as u64 {
            Ok(())
        } else {
            Err(format!("{open} open, {acked} of {total} acknowledged"))
        }
    })
    .await;
    let settled_after = killed_at.elapsed();

    // Every message answered 201: its delivery acknowledged, its receipt
    // delivered to the sender.
    let posted = posted.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let all: BTreeSet<&String> = posted.values().flatten().collect();
    assert_eq!(all.len(), total);
    let states: BTreeMap<(String, String), String> = cl
        .db
        .rows(
            "SELECT m.msg_id, d.kind, d.state FROM deliveries d JOIN messages m ON m.id = d.message_id",
        )
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
        .collect();
    for msg_id in &all {
        let key = |k: &str| ((*msg_id).clone(), k.to_owned());
        assert_eq!(
            states.get(&key("message")).map(String::as_str),
            Some("acknowledged"),
            "{msg_id}"
        );
        assert_eq!(
            states.get(&key("receipt")).map(String::as_str),
            Some("delivered"),
            "{msg_id}"
        );
    }
    assert_eq!(
        cl.db
            .count("SELECT count(*) FROM deliveries WHERE kind = 'message'"),
        total as u64,
        "one message delivery per message (one receiver)"
    );

    // Acknowledged once each: exactly as many transitions into
    // `acknowledged` as message deliveries.
    let transitions = cl.db.count(
        "SELECT count(*) FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id
         WHERE d.kind = 'message' AND e.to_state = 'acknowledged'
           AND e.from_state IS DISTINCT FROM 'acknowledged'",
    );
    assert_eq!(transitions, total as u64, "deliveries acknowledged twice");

    // The receiver: each MsgId once, but for the killed node's attempts.
    let c = client();
    let received = cl.sim(ALVDAL).received(&c).await;
    let cut_off: BTreeSet<&str> = flying.iter().map(|f| f.1.as_str()).collect();
    let mut twice = 0;
    for msg_id in &all {
        let times = arrival(&received, msg_id)
            .unwrap_or_else(|| panic!("{msg_id} never reached the receiver"))["times"]
            .as_u64()
            .expect("times");
        let allowed = if cut_off.contains(msg_id.as_str()) {
            2
        } else {
            1
        };
        assert!(
            times <= allowed,
            "{msg_id} arrived {times} times (allowed {allowed})"
        );
        twice += usize::from(times > 1);
    }

    // Per patient: the order of posting.
    let order = arrived(&received);
    for (p, sent) in &posted {
        let came: Vec<&String> = order.iter().filter(|m| sent.contains(m)).collect();
        let sent: Vec<&String> = sent.iter().collect();
        assert_eq!(came, sent, "patient {p}: arrival order");
    }

    // The killed node's attempts were taken over by the survivors, once
    // its leases ran out.
    for (id, msg_id, lease_until) in &flying {
        let requeued = cl.db.rows(&format!(
            "SELECT at FROM delivery_events WHERE delivery_id = {id}
             AND from_state = 'in_flight' AND to_state = 'queued'
             AND reason LIKE '%the gateway stopped during an attempt%'"
        ));
        assert_eq!(requeued.len(), 1, "{msg_id}: {requeued:?}");
        let at: i64 = requeued[0][0].parse().expect("at");
        assert!(
            at >= *lease_until,
            "{msg_id} was taken over at {at}, before its lease ran out at {lease_until}"
        );
        assert_eq!(
            states
                .get(&(msg_id.clone(), "message".to_owned()))
                .map(String::as_str),
            Some("acknowledged")
        );
    }
    let survivors: Vec<String> = cl.nodes[1..].iter().map(|n| n.0.clone()).collect();
    assert!(
        survivors.iter().any(|n| cl
            .log(n)
            .contains("deliveries claimed by a node whose lease ran out are sent again")),
        "no survivor logged the takeover"
    );

    cl.stop();
    let secrets = patients::secrets(
        bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(Vec::as_slice),
    );
    for (name, _) in &cl.nodes {
        patients::assert_no_secrets(name, &cl.log(name), &secrets);
    }
    eprintln!(
        "multinode: {nodes} nodes, {total} messages ({patients} patients × {rounds}); \
         {} in flight on {victim} at the kill, {twice} of them arrived twice; \
         all acknowledged {:.1} s after the kill; {:.1} s in all",
        flying.len(),
        settled_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_killed_mid_delivery_lose_nothing_and_acknowledge_once_in_order() {
    sigkill_mid_delivery(2, 30, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_killed_mid_delivery_lose_nothing_and_acknowledge_once_in_order() {
    sigkill_mid_delivery(3, 50, 6).await;
}

/// `GET path` on `url` with `token`; the status and JSON.
async fn get_json(url: &str, path: &str, token: &str) -> (StatusCode, serde_json::Value) {
    let r = client()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// The demo operators' system (`config/demo.toml`: token `demo-ops-token`,
/// admin), as `[[systems]]` TOML.
fn ops_system() -> String {
    let path = support::corpus::repo().join("config/demo.toml");
    let text = std::fs::read_to_string(&path).expect("read config/demo.toml");
    let cfg: toml::Table = text.parse().expect("config/demo.toml is TOML");
    let ops = cfg["systems"]
        .as_array()
        .expect("systems")
        .iter()
        .filter_map(|s| s.as_table())
        .find(|s| s.get("name").and_then(|n| n.as_str()) == Some("demo-ops"))
        .expect("config/demo.toml has demo-ops")
        .clone();
    let mut t = toml::Table::new();
    t.insert("systems".into(), vec![toml::Value::Table(ops)].into());
    toml::to_string(&t).expect("TOML")
}

const OPS_TOKEN: &str = "demo-ops-token";

/// LISTEN/NOTIFY: with a 30 s poll, a message posted to a node whose
/// delivery stage is off is delivered by the other node within seconds;
/// only the notification of the intake's commit can wake it that soon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_to_one_node_is_delivered_by_another_at_once_through_notify() {
    let mut cl = Cluster::new(
        "multinode-notify",
        &[(ST_OLAV, "ok"), (ALVDAL, "ok")],
        "poll_ms = 30000\nsweep_secs = 30\n",
        "",
    );
    let a = cl.add(&[("OVERGANG_DELIVERY__ENABLED", "false")]);
    let b = cl.add(&[]);
    // Both started and settled: b's first look at the queue is behind it,
    // its next poll 30 s away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let templates = hospital_to_alvdal();
    let c = client();
    for (i, t) in templates.iter().take(3).enumerate() {
        let (msg_id, bytes) = fresh(&with_patient(t, &patients::fnr("150765", i)));
        let posted = Instant::now();
        let (st, v) = post_message(&c, cl.url(a), bytes).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().expect("id").to_owned();
        eventually(
            "the message acknowledged by the other node",
            Duration::from_secs(10),
            || async {
                let (_, m) = get_json(
                    cl.url(a),
                    &format!("/api/v1/messages/{id}"),
                    support::server::DEMO_TOKEN,
                )
                .await;
                if m["state"] == "acknowledged" {
                    Ok(())
                } else {
                    Err(format!("{}", m["state"]))
                }
            },
        )
        .await;
        let took = posted.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{msg_id}: {took:?}, the poll is 30 s"
        );
        let received = cl.sim(ALVDAL).received(&c).await;
        assert!(arrival(&received, &msg_id).is_some(), "{msg_id}");
        eprintln!("notify: message {i} acknowledged {took:?} after its post");
    }
    let _ = b;
    cl.stop();
}

/// A registry reload through the admin API of one node reaches the other
/// (same registry file, `registry.poll_secs = 0`, no SIGHUP): node-1 reads
/// the new file and delivers to the new address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_reload_on_one_node_reaches_the_other() {
    let mut cl = Cluster::new(
        "multinode-reload",
        &[(ST_OLAV, "ok"), (ALVDAL, "ok")],
        "poll_ms = 200\n",
        &ops_system(),
    );
    let a = cl.add(&[("OVERGANG_DELIVERY__ENABLED", "false")]);
    let b = cl.add(&[]);
    // Alvdal's system moves to a new address (another simulator).
    let moved = Simulator::start(&["--behaviour", "ok"], &cl.dir().join("sim-moved.log"));
    let (_, before) = get_json(cl.url(b), "/readyz", OPS_TOKEN).await;
    let loaded_before = before["registry"]["loaded_at"].clone();
    assert!(loaded_before.is_string(), "{before}");
    let mut addrs: BTreeMap<u16, String> = cl.sims.iter().map(|(p, s)| (*p, sim_addr(s))).collect();
    addrs.insert(ALVDAL, sim_addr(&moved));
    // A later modification time than the first write, for the file stamp.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&cl.registry, registry_text(&addrs)).expect("rewrite registry");

    let r = client()
        .post(format!("{}/api/v1/admin/registry/reload", cl.url(a)))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), StatusCode::OK);
    eventually("node-1 reloaded its registry", WAIT, || async {
        let (_, now) = get_json(cl.url(b), "/readyz", OPS_TOKEN).await;
        if now["registry"]["loaded_at"] != loaded_before {
            Ok(())
        } else {
            Err(format!("{now}"))
        }
    })
    .await;
    assert!(
        cl.log("node-1").contains("another node's admin API"),
        "node-1 does not say why it reloaded"
    );

    // Posted to node-1 (which delivers): to the new address only.
    let c = client();
    let t = &hospital_to_alvdal()[0];
    let (msg_id, bytes) = fresh(&with_patient(t, &patients::fnr("150765", 7)));
    let (st, v) = post_message(&c, cl.url(b), bytes).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    eventually("the message acknowledged", WAIT, || async {
        let (_, m) = get_json(
            cl.url(b),
            &format!("/api/v1/messages/{id}"),
            support::server::DEMO_TOKEN,
        )
        .await;
        if m["state"] == "acknowledged" {
            Ok(())
        } else {
            Err(format!("{}", m["state"]))
        }
    })
    .await;
    assert!(arrival(&moved.received(&c).await, &msg_id).is_some());
    assert!(arrival(&cl.sim(ALVDAL).received(&c).await, &msg_id).is_none());
    cl.stop();
}

/// A deployment rule that fires on every message (the type is always
/// there): what a reload adds.
const LOCAL_RULE: &str = r#"
[[rule]]
id = "LOKAL-RELOAD-01"
severity = "warning"
messages = ["INNLEGGELSESRAPPORT", "HELSEOPPL_SOKNAD", "HELSEOPPLYSNINGER_LEGE", "ORIENTERING_TJENESTETILBUD", "MEDISINSKE_OPPLYSNINGER", "UTSKRIVNINGSRAPPORT", "LOG_INNLAGT", "LOG_UTSKRIVNINGSKLAR", "LOG_AVMELDING", "LOG_UTSKREVET", "LOG_DOD"]
check.absent = "/mh:MsgHead/mh:MsgInfo/mh:Type"
text_nb = "Prøveregel for omlasting"
text_en = "A test rule for reloads"
source = "tests/multinode.rs"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_reload_on_one_node_reaches_the_other() {
    let mut cl = Cluster::new(
        "multinode-rules",
        &[(ST_OLAV, "ok"), (ALVDAL, "ok")],
        "",
        &ops_system(),
    );
    let file = cl.dir().join("local-rules.toml");
    std::fs::write(&file, "").expect("write the rule file");
    let rules = format!("[\"{}\"]", file.display());
    let env = [
        ("OVERGANG_DELIVERY__ENABLED", "false"),
        ("OVERGANG_VALIDATION__RULES", rules.as_str()),
    ];
    let a = cl.add(&env);
    let b = cl.add(&env);
    let (_, before) = get_json(cl.url(b), "/readyz", OPS_TOKEN).await;
    let n = before["rules"].as_u64().expect("rules in /readyz");
    let reload = |node: usize| {
        let url = format!("{}/api/v1/admin/rules/reload", cl.url(node));
        async move {
            let r = client()
                .post(url)
                .bearer_auth(OPS_TOKEN)
                .send()
                .await
                .expect("reload");
            let st = r.status();
            (st, r.json::<serde_json::Value>().await.expect("json"))
        }
    };

    // A broken file is refused where it is asked, and nothing changes.
    std::fs::write(&file, "[[rule]]\nid = \"BROKEN\"\n").expect("write");
    let (st, v) = reload(a).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "rules_invalid");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("local-rules.toml"),
        "{v}"
    );
    assert_eq!(v["rules"]["rules"].as_u64(), Some(n));

    // A new rule: in force on node-0 at once, on node-1 through NOTIFY.
    std::fs::write(&file, LOCAL_RULE).expect("write");
    let (st, v) = reload(a).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["rules"].as_u64(), Some(n + 1));
    eventually("node-1 took the new rules", WAIT, || async {
        let (_, now) = get_json(cl.url(b), "/readyz", OPS_TOKEN).await;
        if now["rules"].as_u64() == Some(n + 1) {
            Ok(())
        } else {
            Err(format!("{now}"))
        }
    })
    .await;
    // node-1 validates with it.
    let t = &hospital_to_alvdal()[0];
    let (_, bytes) = fresh(&with_patient(t, &patients::fnr("150765", 8)));
    let (st, v) = post_message(&client(), cl.url(b), bytes).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert!(v.to_string().contains("LOKAL-RELOAD-01"), "{v}");
    cl.stop();
}
