//! End-to-end delivery: the real `overgang serve` routes and delivers to
//! real `overgang simulate receiver` processes on loopback, through an
//! address registry whose endpoints are the simulators' ports
//! (`support::delivery`: the demo registry with each test's own ports).
//!
//! - the 22 official v1.6 examples each reach their receiver exactly once,
//!   on the port of the receiver's system, are acknowledged, and each
//!   receiver's AppRec goes back to the sender's callback; a message to an
//!   unknown receiver is rejected (E21) and goes nowhere;
//! - the GP's copy of a discharge report (and RT007 when no GP is named);
//! - a unit with a system of its own, reached with the bearer token the
//!   registry names (read for each attempt: a wrong one is a dead letter);
//! - a receiver that is down: deliveries wait and retry, nothing behind a
//!   patient's first message goes first, and each patient's messages
//!   arrive in the order they were posted;
//! - a receiver that refuses a message (HTTP 400): dead letter and alert,
//!   the others flow, an operator's replay delivers it;
//! - `Retry-After` is honoured;
//! - asynchronous AppRecs: posted by the receiver, duplicates, refusals;
//! - a receiver that never sends its AppRec: flagged and alerted;
//! - SIGKILL during deliveries: nothing lost, nothing acknowledged sent
//!   again.
//!
//! No patient's national id or name reaches the gateway's or the
//! simulators' logs (checked in the tests that send the most patients).
//! Every wait is bounded ([`support::delivery::WAIT`]); no assertion is
//! about speed.

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
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use support::corpus::{addressed_to, example, examples};
use support::delivery::{
    arrival, arrived, eventually, message_deliveries, message_delivery_states, millis, Net, ALVDAL,
    KATTSKINNET, OPS_TOKEN, RECEIVER_TOKEN, SOLVIK, SOLVIK_TILDELING, ST_OLAV, WAIT,
};
use support::patients::{self, read, with_patient};
use support::server::{fresh, DEMO_TOKEN, NARROW_TOKEN};

/// The demo port of the system that receives for organisation (level 1)
/// `her` in the demo registry.
fn port_of(her: &str) -> u16 {
    match her {
        "59" => ST_OLAV,
        "99387" => ALVDAL,
        "91096" => KATTSKINNET,
        other => panic!("no receiving system for organisation {other} in these tests"),
    }
}

/// The one message delivery among `ds`.
fn the_message_delivery(ds: &[Value]) -> &Value {
    let m = message_deliveries(ds);
    assert_eq!(m.len(), 1, "{ds:#?}");
    m[0]
}

fn events(d: &Value) -> &Vec<Value> {
    d["events"].as_array().expect("events")
}

/// Asserts that neither the gateway's log nor a simulator's contains a
/// national id or name of the patients of `messages`.
fn assert_logs_clean<'a>(net: &Net, messages: impl IntoIterator<Item = &'a [u8]>) {
    let secrets = patients::secrets(messages);
    let log = net.log();
    assert!(log.contains("answered"), "the gateway's log says little");
    patients::assert_no_secrets("the gateway's log", &log, &secrets);
    for (port, sim) in &net.sims {
        patients::assert_no_secrets(
            &format!("the log of the simulator for {port}"),
            &sim.log_text(),
            &secrets,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_examples_reach_their_receivers_once_and_receipts_reach_their_senders() {
    // The gateway logs everything it can (trace), and still no patient.
    let net = Net::start_with(
        "deliver-examples",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "ok"), (KATTSKINNET, "ok")],
        &[],
        &[("OVERGANG_LOG__LEVEL", "trace")],
    )
    .await;
    struct Sent {
        name: String,
        id: String,
        msg_id: String,
        receiver_her: String,
        sender_her: String,
        /// Where the message must arrive, and where its receipt must go.
        receiver_port: u16,
        sender_port: u16,
    }
    let examples = examples();
    let mut sent = Vec::new();
    for (name, bytes) in &examples {
        // Expected from the envelope itself: the receiver at level 2 (else
        // 1), delivered to the system of its organisation (level 1); the
        // receipt to the system of the sender's organisation.
        let m = read(bytes);
        let receiver = m.receiver().expect("receiver");
        let sender = m.sender().expect("sender");
        let p = net.post(bytes.clone()).await;
        assert_eq!(p.status, StatusCode::CREATED, "{name}: {}", p.body);
        sent.push(Sent {
            name: name.clone(),
            id: p.id.expect("id"),
            msg_id: m.msg_id().expect("MsgId").trim().to_owned(),
            receiver_her: receiver.most_specific_her_id().expect("HER").to_owned(),
            sender_her: sender.most_specific_her_id().expect("HER").to_owned(),
            receiver_port: port_of(receiver.her_id().expect("HER")),
            sender_port: port_of(sender.her_id().expect("HER")),
        });
    }
    // A receiver the registry does not know: rejected (E21), stored as
    // such, delivered to nobody.
    let (_, unknown) = fresh(&addressed_to(
        &example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml"),
        "99387",
        "777777",
    ));
    let p = net.post(unknown).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(p.body["apprec_status"], 2);
    let rt: Vec<&Value> = p.body["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["category"] == "routing")
        .collect();
    assert_eq!(rt.len(), 1, "{}", p.body);
    assert_eq!(rt[0]["code"], "RT002");
    assert_eq!(rt[0]["apprec_error"], "E21");
    let m = net.message(p.id.as_deref().expect("id")).await;
    assert_eq!(m["state"], "rejected");
    assert_eq!(m["deliveries"], json!([]));

    // The examples' receivers (crates/route/src/tests.rs has them one by
    // one): 13 to Alvdal kommune, 3 to St. Olavs, 6 to the GP's practice.
    let mut per_port: BTreeMap<u16, usize> = BTreeMap::new();
    for s in &sent {
        *per_port.entry(s.receiver_port).or_default() += 1;
    }
    assert_eq!(
        per_port,
        BTreeMap::from([(ST_OLAV, 3), (ALVDAL, 13), (KATTSKINNET, 6)])
    );

    let ids: Vec<String> = sent.iter().map(|s| s.id.clone()).collect();
    let all = net.wait_all(&ids, "acknowledged").await;
    // Nothing else was created: one delivery to the receiver and one
    // receipt to the sender per example, none for the rejected message.
    assert_eq!(
        net.by_state().await,
        BTreeMap::from([("acknowledged".into(), 22), ("delivered".into(), 22)])
    );

    // The operators' list, page by page (newest first), has them all.
    let mut listed = Vec::new();
    let mut before = String::new();
    for _ in 0..20 {
        let page = net
            .get_ok(&format!("/api/v1/deliveries?limit=7{before}"), OPS_TOKEN)
            .await;
        listed.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|d| d["id"].as_i64().expect("id")),
        );
        match page["next_before"].as_i64() {
            Some(b) => before = format!("&before={b}"),
            None => break,
        }
    }
    let mut expected: Vec<i64> = all
        .iter()
        .flatten()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(listed, expected);
    let to_alvdal = net
        .get_ok(
            "/api/v1/deliveries?state=acknowledged&receiver=5078&limit=1000",
            OPS_TOKEN,
        )
        .await;
    assert_eq!(to_alvdal["items"].as_array().map(Vec::len), Some(13));
    let stats = net.get_ok("/api/v1/deliveries/stats", OPS_TOKEN).await;
    assert_eq!(stats["answered"], 22, "{stats}");
    assert!(
        stats["arrival_to_apprec_ms"]["max"].as_i64() >= Some(0),
        "{stats}"
    );

    let mut received = BTreeMap::new();
    let mut receipts = BTreeMap::new();
    for (port, sim) in &net.sims {
        received.insert(*port, sim.received(&net.c).await);
        receipts.insert(*port, sim.receipts(&net.c).await);
    }
    for (s, ds) in sent.iter().zip(&all) {
        let name = &s.name;
        assert_eq!(ds.len(), 2, "{name}: {ds:#?}");
        let d = the_message_delivery(ds);
        assert_eq!(d["receiver_her"], s.receiver_her.as_str(), "{name}");
        assert_eq!(d["role"], "primary", "{name}");
        assert_eq!(d["attempts"], 1, "{name}");
        assert!(d["receipt_id"].is_null(), "{name}");
        let r = ds.iter().find(|d| d["kind"] == "receipt").expect("receipt");
        assert_eq!(r["receiver_her"], s.sender_her.as_str(), "{name}");
        assert_eq!(r["role"], "callback", "{name}");

        let m = net.message(&s.id).await;
        assert_eq!(m["state"], "acknowledged", "{name}: {m}");
        assert_eq!(m["deliveries"].as_array().map(Vec::len), Some(2), "{name}");
        let rc = net
            .get_ok(&format!("/api/v1/messages/{}/receipts", s.id), DEMO_TOKEN)
            .await;
        let items = rc["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{name}: {rc}");
        assert_eq!(items[0]["via"], "sync", "{name}");
        assert_eq!(items[0]["status"], 1, "{name}");
        assert_eq!(items[0]["from_her"], s.receiver_her.as_str(), "{name}");
        assert_eq!(items[0]["delivery_id"], d["id"], "{name}");

        // Arrived exactly once, at its receiver's system only.
        for (port, rec) in &received {
            match arrival(rec, &s.msg_id) {
                Some(a) if *port == s.receiver_port => {
                    assert_eq!(a["times"], 1, "{name}");
                    assert_eq!(a["receiver_her"], s.receiver_her.as_str(), "{name}");
                    assert_eq!(a["path"], "/plo", "{name}");
                    assert_eq!(a["apprec_status"], "1", "{name}");
                }
                None if *port != s.receiver_port => {}
                other => panic!("{name}: at {port}: {other:?}"),
            }
        }
        // Its receipt went to the sender's system, once.
        for (port, rec) in &receipts {
            let got: Vec<&Value> = rec["receipts"]
                .as_array()
                .expect("receipts")
                .iter()
                .filter(|r| r["original_msg_id"] == s.msg_id.as_str())
                .collect();
            if *port == s.sender_port {
                assert_eq!(got.len(), 1, "{name}: {rec}");
                assert_eq!(got[0]["status"], "1", "{name}");
                assert_eq!(got[0]["path"], "/receipts", "{name}");
            } else {
                assert!(got.is_empty(), "{name}: a receipt at {port}");
            }
        }
    }
    for (port, rec) in &received {
        assert_eq!(rec["totals"]["messages"], per_port[port], "{port}: {rec}");
        assert_eq!(rec["totals"]["duplicates"], 0, "{port}");
    }
    assert_logs_clean(&net, examples.iter().map(|(_, b)| b.as_slice()));
}

/// The official discharge report with its contact doctor made the
/// patient's GP (role 6 Fastlege) with HER-id 91100, as in
/// crates/route/src/tests.rs.
fn naming_the_gp(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    let text = text
        .replace("V=\"19\" DN=\"Kontaktlege\"", "V=\"6\" DN=\"Fastlege\"")
        .replace(
            "<fk1:TypeId V=\"HPR\" DN=\"HPR-nummer\" S=\"2.16.578.1.12.4.1.1.8116\"/>\n\t\t\t\t\t\t\t</fk1:Ident>",
            "<fk1:TypeId V=\"HPR\" DN=\"HPR-nummer\" S=\"2.16.578.1.12.4.1.1.8116\"/>\n\t\t\t\t\t\t\t</fk1:Ident><fk1:Ident><fk1:Id>91100</fk1:Id><fk1:TypeId V=\"HER\" DN=\"HER-id\" S=\"2.16.578.1.12.4.1.1.8116\"/></fk1:Ident>",
        );
    assert!(
        text.contains("<fk1:Id>91100</fk1:Id>") && text.contains("V=\"6\" DN=\"Fastlege\""),
        "the edit did not apply"
    );
    text.into_bytes()
}

fn codes(findings: &Value) -> Vec<&str> {
    findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discharge_report_naming_the_gp_goes_to_the_gp_too_and_one_naming_none_warns() {
    let net = Net::start(
        "deliver-gp",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "ok"), (KATTSKINNET, "ok")],
    )
    .await;
    let report = example("Utskrivningsrapport_v1-6_Ny.xml");

    let (with_gp_msg, with_gp) = fresh(&naming_the_gp(&report));
    let a = net.post(with_gp).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert!(
        !codes(&a.body["findings"])
            .iter()
            .any(|c| c.starts_with("RT")),
        "{}",
        a.body
    );
    let (without_msg, without) = fresh(&report);
    let b = net.post(without).await;
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
    assert_eq!(b.body["verdict"], "accepted_with_warnings");
    let rt007: Vec<&Value> = b.body["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "RT007")
        .collect();
    assert_eq!(rt007.len(), 1, "{}", b.body);
    assert_eq!(rt007[0]["severity"], "warning");
    assert_eq!(rt007[0]["category"], "routing");
    assert_eq!(
        rt007[0]["path"],
        "/MsgHead/Document[1]/RefDoc/Content/TverrfagligEpikrise/KontaktpersonHelsepersonell"
    );
    assert!(
        rt007[0]["text_en"]
            .as_str()
            .is_some_and(|t| t.contains("GP gets no copy")),
        "{}",
        rt007[0]
    );

    let ids = [a.id.expect("id"), b.id.expect("id")];
    let all = net.wait_all(&ids, "acknowledged").await;

    let to: Vec<(&str, &str)> = message_deliveries(&all[0])
        .iter()
        .map(|d| {
            (
                d["receiver_her"].as_str().expect("her"),
                d["role"].as_str().expect("role"),
            )
        })
        .collect();
    assert_eq!(to, [("5078", "primary"), ("91100", "copy:gp-on-discharge")]);
    let to: Vec<&str> = message_deliveries(&all[1])
        .iter()
        .map(|d| d["receiver_her"].as_str().expect("her"))
        .collect();
    assert_eq!(to, ["5078"]);

    let alvdal = net.sim(ALVDAL).received(&net.c).await;
    let gp = net.sim(KATTSKINNET).received(&net.c).await;
    for msg in [&with_gp_msg, &without_msg] {
        assert_eq!(arrival(&alvdal, msg).expect("at Alvdal")["times"], 1);
    }
    // The GP's practice gets the very same message (its envelope still
    // names the municipality as receiver), once; and nothing else.
    let copy = arrival(&gp, &with_gp_msg).expect("the GP's copy");
    assert_eq!(copy["times"], 1);
    assert_eq!(copy["receiver_her"], "5078");
    assert_eq!(arrived(&gp), vec![with_gp_msg.clone()]);

    // Both receivers' receipts are stored, one for each delivery, and both
    // went to the hospital. (The simulator writes its AppRec from the
    // envelope, so the GP's names the envelope's receiver, 5078, as its
    // sender: the synchronous answer belongs to the delivery it answers.)
    let rc = net
        .get_ok(&format!("/api/v1/messages/{}/receipts", ids[0]), DEMO_TOKEN)
        .await;
    let answered: BTreeSet<i64> = rc["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["delivery_id"].as_i64().expect("delivery_id"))
        .collect();
    let delivered: BTreeSet<i64> = message_deliveries(&all[0])
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(answered, delivered, "{rc}");
    let back = net.sim(ST_OLAV).receipts(&net.c).await;
    let n = back["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .filter(|r| r["original_msg_id"] == with_gp_msg.as_str())
        .count();
    assert_eq!(n, 2, "{back}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_with_its_own_system_gets_its_messages_with_the_registrys_bearer_token() {
    // Solvik (fictitious, demo registry): home care (8100002) is reached
    // through the municipality's system; the allocation office (8100003)
    // has a system of its own that wants a bearer token, named in the
    // registry as a file.
    let net = Net::start(
        "deliver-token",
        &[],
        &[(ST_OLAV, "ok"), (SOLVIK, "ok"), (SOLVIK_TILDELING, "ok")],
    )
    .await;
    let innlagt = example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml");
    let (office_msg, office) = fresh(&addressed_to(&innlagt, "8100001", "8100003"));
    let office_id = net.post_ok(office).await;
    let (care_msg, care) = fresh(&addressed_to(&innlagt, "8100001", "8100002"));
    let care_id = net.post_ok(care).await;
    let ds = net.wait_all(&[office_id, care_id], "acknowledged").await;
    assert_eq!(the_message_delivery(&ds[0])["receiver_her"], "8100003");
    assert_eq!(the_message_delivery(&ds[1])["receiver_her"], "8100002");
    let office_sim = net.sim(SOLVIK_TILDELING).received(&net.c).await;
    let care_sim = net.sim(SOLVIK).received(&net.c).await;
    assert_eq!(arrived(&office_sim), vec![office_msg.clone()]);
    assert_eq!(arrived(&care_sim), vec![care_msg.clone()]);
    assert_eq!(office_sim["totals"]["refused"], 0, "the token was right");

    // The token file is read for each attempt: a wrong token is refused
    // (401, for good: dead letter), the right one again delivers on replay.
    std::fs::write(net.token_file(), "not-the-token\n").expect("spoil the token file");
    let (wrong_msg, wrong) = fresh(&addressed_to(&innlagt, "8100001", "8100003"));
    let wrong_id = net.post_ok(wrong).await;
    let ds = net.wait_one(&wrong_id, "dead_letter").await;
    let d = the_message_delivery(&ds);
    assert!(
        d["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 401")),
        "{d}"
    );
    let refused = net.sim(SOLVIK_TILDELING).received(&net.c).await;
    assert!(arrival(&refused, &wrong_msg).is_none());
    assert_eq!(refused["totals"]["refused"], 1);
    std::fs::copy(
        support::corpus::repo().join("config/registry/demo-secrets/solvik-tildeling.token"),
        net.token_file(),
    )
    .expect("mend the token file");
    let (status, body) = net
        .post_json(
            &format!("/api/v1/deliveries/{}/replay", d["id"]),
            OPS_TOKEN,
            json!({"reason": "ny nøkkel / new token", "by": "kari"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    net.wait_one(&wrong_id, "acknowledged").await;
    let office_sim = net.sim(SOLVIK_TILDELING).received(&net.c).await;
    assert_eq!(
        arrival(&office_sim, &wrong_msg).expect("arrived")["times"],
        1
    );
    assert!(
        !net.log().contains("demo-only-receiver-token"),
        "a token in the log"
    );
}

/// Templates for many messages to one receiver about one patient: the
/// examples from the hospital (59) to Alvdal's Sykepleietjeneste (5078)
/// about the patient born 15 July 1965.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_wait_for_a_receiver_that_is_down_and_keep_each_patients_order() {
    let net = Net::start("deliver-down", &[], &[(ST_OLAV, "ok"), (ALVDAL, "down")]).await;
    const N: usize = 20;
    const PATIENTS: usize = 3;
    let fnrs: Vec<String> = (0..PATIENTS).map(|p| patients::fnr("150765", p)).collect();
    let templates = hospital_to_alvdal();
    // (patient, MsgId, gateway id) in posting order; patients interleaved.
    let mut sent: Vec<(usize, String, String)> = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..N {
        let p = (i * 7 / 3) % PATIENTS; // 0 2 1 0 2 1 1 …: not a plain cycle
        let (msg_id, bytes) = fresh(&with_patient(&templates[i % templates.len()], &fnrs[p]));
        bodies.push(bytes.clone());
        let id = net.post_ok(bytes).await;
        sent.push((p, msg_id, id));
    }
    let firsts: Vec<&(usize, String, String)> = (0..PATIENTS)
        .map(|p| sent.iter().find(|s| s.0 == p).expect("every patient"))
        .collect();

    // Each patient's first message is tried, and tried again; nothing
    // behind it is tried while it waits.
    eventually("retries while the receiver is down", WAIT, || async {
        for (_, _, id) in &firsts {
            let d = net.deliveries(id).await;
            let d = the_message_delivery(&d);
            if d["attempts"].as_u64() < Some(2) {
                return Err(format!("{d}"));
            }
        }
        Ok(())
    })
    .await;
    for (p, _, id) in &sent {
        let m = net.message(id).await;
        let d = the_message_delivery(m["deliveries"].as_array().expect("deliveries"));
        if firsts.iter().any(|f| &f.2 == id) {
            assert_eq!(m["state"], "delivering", "{m}");
            assert!(
                d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("no connection")),
                "{d}"
            );
        } else {
            assert_eq!(m["state"], "queued", "patient {p}: {m}");
            assert_eq!(d["attempts"], 0, "patient {p}: {d}");
        }
    }
    let down = net.sim(ALVDAL).received(&net.c).await;
    assert!(arrived(&down).is_empty(), "{down}");
    assert!(down["totals"]["dropped"].as_u64() >= Some(6), "{down}");

    net.sim(ALVDAL).set_behaviour(&net.c, "ok").await;
    let ids: Vec<String> = sent.iter().map(|s| s.2.clone()).collect();
    let all = net.wait_all(&ids, "acknowledged").await;

    let received = net.sim(ALVDAL).received(&net.c).await;
    let order = arrived(&received);
    assert_eq!(order.len(), N, "{received}");
    for p in 0..PATIENTS {
        let posted: Vec<&str> = sent
            .iter()
            .filter(|s| s.0 == p)
            .map(|s| s.1.as_str())
            .collect();
        let came: Vec<&str> = order
            .iter()
            .map(String::as_str)
            .filter(|m| posted.contains(m))
            .collect();
        assert_eq!(came, posted, "patient {p}: arrival order");
    }
    for ((_, msg_id, id), ds) in sent.iter().zip(&all) {
        assert_eq!(arrival(&received, msg_id).expect("arrived")["times"], 1);
        let d = the_message_delivery(ds);
        if firsts.iter().any(|f| &f.2 == id) {
            let retried = events(d).iter().any(|e| {
                e["from"] == "in_flight"
                    && e["to"] == "queued"
                    && e["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("no connection"))
            });
            assert!(retried, "{d:#}");
        } else {
            // Sent only when every earlier message of its patient was
            // answered: at once, the first time.
            assert_eq!(d["attempts"], 1, "{d:#}");
        }
    }
    assert_logs_clean(&net, bodies.iter().map(Vec::as_slice));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_dead_lettered_with_an_alert_and_an_operator_replays_it() {
    // The GP's practice refuses everything (400); the municipality and the
    // hospital (the receipts) take what they get.
    let net = Net::start(
        "deliver-poison",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "ok"), (KATTSKINNET, "http:400")],
    )
    .await;
    let (poison_msg, poison) = fresh(&example("Helseopplysninger_til_lege_v1-6_Ny.xml"));
    let poison_id = net.post_ok(poison).await;
    let (_, fine) = fresh(&example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml"));
    let fine_id = net.post_ok(fine).await;
    let (_, fine2) = fresh(&example("Innleggelsesrapport_v1-6_Ny.xml"));
    let fine2_id = net.post_ok(fine2).await;

    let ds = net.wait_one(&poison_id, "dead_letter").await;
    let d = the_message_delivery(&ds).clone();
    let did = d["id"].as_i64().expect("delivery id");
    assert_eq!(d["receiver_her"], "91100");
    assert_eq!(d["attempts"], 1, "a refusal is not retried: {d}");
    assert!(
        d["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 400")),
        "{d}"
    );
    assert_eq!(net.message(&poison_id).await["state"], "dead_lettered");
    net.wait_all(&[fine_id, fine2_id], "acknowledged").await;

    let alerts = net.get_ok("/api/v1/alerts", OPS_TOKEN).await;
    let alert = alerts["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["kind"] == "dead_letter" && a["subject"] == format!("delivery {did}"))
        .unwrap_or_else(|| panic!("no dead_letter alert for delivery {did}: {alerts}"));
    assert!(alert["text_en"]
        .as_str()
        .is_some_and(|t| t.contains("HTTP 400")));
    let listed = net
        .get_ok("/api/v1/deliveries?state=dead_letter", OPS_TOKEN)
        .await;
    let listed: Vec<i64> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(listed, [did]);

    // Only an operator may replay, and a cancellation needs a reason.
    let path = format!("/api/v1/deliveries/{did}/replay");
    let (status, body) = net
        .post_json(&path, DEMO_TOKEN, json!({"reason": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "not_admin");
    let (status, body) = net
        .post_json(
            &format!("/api/v1/deliveries/{did}/cancel"),
            OPS_TOKEN,
            json!({"by": "kari"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "reason_required");

    // The practice fixes its system; the operator sends the message again.
    net.sim(KATTSKINNET).set_behaviour(&net.c, "ok").await;
    let reason = "mottakeren har rettet feilen / the receiver fixed it";
    let (status, body) = net
        .post_json(&path, OPS_TOKEN, json!({"reason": reason, "by": "kari"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": did, "state": "queued"}));
    net.wait_one(&poison_id, "acknowledged").await;
    assert_eq!(net.message(&poison_id).await["state"], "acknowledged");

    let d = net.delivery(did).await;
    let ev = events(&d);
    let states: Vec<&str> = ev.iter().map(|e| e["to"].as_str().expect("to")).collect();
    assert_eq!(
        states,
        [
            "queued",
            "in_flight",
            "dead_letter",
            "queued",
            "in_flight",
            "acknowledged"
        ],
        "{d:#}"
    );
    let replayed = &ev[3];
    assert!(
        replayed["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:kari")),
        "{replayed}"
    );
    assert!(replayed["reason"]
        .as_str()
        .is_some_and(|r| r.contains(reason)));
    assert_eq!(replayed["from"], "dead_letter");
    // Answered deliveries cannot be replayed or cancelled.
    let (status, body) = net
        .post_json(&path, OPS_TOKEN, json!({"reason": "again", "by": "kari"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "not_allowed");

    let gp = net.sim(KATTSKINNET).received(&net.c).await;
    assert_eq!(arrived(&gp), vec![poison_msg.clone()], "{gp}");
    assert_eq!(arrival(&gp, &poison_msg).expect("arrived")["times"], 1);
    assert!(gp["totals"]["refused"].as_u64() >= Some(1), "{gp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    // Backoff alone (50 ms, at most 1 s) would try again well within 2 s.
    let net = Net::start(
        "deliver-retry-after",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "retry-after:2")],
    )
    .await;
    let (_, bytes) = fresh(&example(
        "Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml",
    ));
    let id = net.post_ok(bytes).await;
    eventually("the first attempt", WAIT, || async {
        let ds = net.deliveries(&id).await;
        let d = the_message_delivery(&ds);
        if d["attempts"].as_u64() >= Some(1) && d["state"] == "queued" {
            Ok(())
        } else {
            Err(format!("{d}"))
        }
    })
    .await;
    net.sim(ALVDAL).set_behaviour(&net.c, "ok").await;
    let ds = net.wait_one(&id, "acknowledged").await;
    let d = the_message_delivery(&ds);
    let ev = events(d);
    let tries: Vec<i64> = ev
        .iter()
        .filter(|e| e["to"] == "in_flight")
        .map(|e| millis(e["at"].as_str().expect("at")))
        .collect();
    assert!(tries.len() >= 2, "{d:#}");
    for w in tries.windows(2) {
        assert!(
            w[1] - w[0] >= 2000,
            "attempts {} ms apart despite Retry-After: 2: {d:#}",
            w[1] - w[0]
        );
    }
    let retry = ev
        .iter()
        .find(|e| e["from"] == "in_flight" && e["to"] == "queued")
        .expect("a retry");
    let reason = retry["reason"].as_str().expect("reason");
    assert!(
        reason.contains("HTTP 503") && reason.contains("next attempt in 2 s"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asynchronous_apprec_acknowledges_the_delivery_once() {
    // The receipt comes a second after the 202, so the gateway has
    // normally recorded `delivered` by then (either order must end well).
    let net = Net::start_with(
        "deliver-async",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "async")],
        &["--async-delay-ms", "1000"],
        &[],
    )
    .await;
    let (msg_id, bytes) = fresh(&example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml"));
    let id = net.post_ok(bytes).await;
    let ds = net.wait_one(&id, "acknowledged").await;
    let d = the_message_delivery(&ds);
    let ev = events(d);
    let by_receiver = ev
        .iter()
        .position(|e| e["to"] == "acknowledged" && e["actor"] == "system:demo-receivers")
        .unwrap_or_else(|| panic!("acknowledged by the receivers' system: {d:#}"));
    let delivered = ev.iter().position(|e| {
        e["to"] == "delivered"
            || (e["from"] == "acknowledged"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("(levert / delivered)")))
    });
    assert!(
        delivered.is_some(),
        "the attempt itself ended delivered (202, no AppRec): {d:#}"
    );
    assert_eq!(d["attempts"], 1);
    assert!(by_receiver > 0);

    let rc = net
        .get_ok(&format!("/api/v1/messages/{id}/receipts"), DEMO_TOKEN)
        .await;
    let items = rc["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{rc}");
    assert_eq!(items[0]["via"], "async");
    assert_eq!(items[0]["status"], 1);
    assert_eq!(items[0]["from_her"], "5078");
    // The hospital got the receipt too.
    let back = eventually("the receipt at the sender", WAIT, || async {
        let r = net.sim(ST_OLAV).receipts(&net.c).await;
        let n = r["receipts"]
            .as_array()
            .expect("receipts")
            .iter()
            .filter(|x| x["original_msg_id"] == msg_id.as_str())
            .count();
        if n >= 1 {
            Ok(n)
        } else {
            Err(format!("{r}"))
        }
    })
    .await;
    assert_eq!(back, 1);
    let sim = net.sim(ALVDAL).received(&net.c).await;
    let a = arrival(&sim, &msg_id).expect("arrived");
    assert_eq!(a["times"], 1);
    assert_eq!(a["callback"], "delivered");

    // The same AppRec again: 200, a duplicate, nothing changes.
    let href = items[0]["href"].as_str().expect("href");
    let xml = net
        .c
        .get(format!("{}{href}", net.gw.url))
        .bearer_auth(DEMO_TOKEN)
        .send()
        .await
        .expect("GET receipt")
        .bytes()
        .await
        .expect("body");
    let post = |token: Option<&'static str>, body: Vec<u8>| {
        let mut r = net
            .c
            .post(format!("{}/api/v1/apprecs", net.gw.url))
            .header("content-type", "application/xml")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.expect("POST /api/v1/apprecs");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = post(Some(RECEIVER_TOKEN), xml.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], true);
    assert_eq!(body["delivery_id"], d["id"]);
    // A system that may not act for the AppRec's sender (5078 / 99387).
    let (status, body) = post(Some(NARROW_TOKEN), xml.to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "sender_not_allowed");
    let (status, _) = post(None, xml.to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An AppRec for a message nobody sent.
    let stranger = String::from_utf8(xml.to_vec())
        .expect("utf-8")
        .replace(&msg_id, &uuid::Uuid::new_v4().to_string());
    let (status, body) = post(Some(RECEIVER_TOKEN), stranger.into_bytes()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "no_delivery");

    let rc = net
        .get_ok(&format!("/api/v1/messages/{id}/receipts"), DEMO_TOKEN)
        .await;
    assert_eq!(rc["items"].as_array().map(Vec::len), Some(1), "{rc}");
    let d = net.delivery(d["id"].as_i64().expect("id")).await;
    assert_eq!(d["state"], "acknowledged");
}

/// The ids `GET /api/v1/deliveries?overdue=true` lists (with `more`
/// parameters).
async fn overdue(net: &Net, more: &str) -> Vec<i64> {
    net.get_ok(&format!("/api/v1/deliveries?overdue=true{more}"), OPS_TOKEN)
        .await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_apprec_is_flagged_and_alerted() {
    let net = Net::start(
        "deliver-overdue",
        &[("apprec_timeout_secs", "1"), ("sweep_secs", "1")],
        &[(ST_OLAV, "ok"), (ALVDAL, "http:202")],
    )
    .await;
    let (_, bytes) = fresh(&example(
        "Pasientlogistikk_Melding_om_utskrevet_pasient_v1-6_Ny.xml",
    ));
    let id = net.post_ok(bytes).await;
    let did = eventually("the AppRec overdue", WAIT, || async {
        let ds = net.deliveries(&id).await;
        let d = the_message_delivery(&ds);
        if d["apprec_overdue"] == true {
            Ok(d["id"].as_i64().expect("id"))
        } else {
            Err(format!("{d}"))
        }
    })
    .await;
    let d = net.delivery(did).await;
    assert_eq!(d["state"], "delivered", "{d:#}");
    assert!(d["answered_at"].is_null());
    assert!(
        events(&d).iter().any(|e| e["from"] == "delivered"
            && e["to"] == "delivered"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no application receipt came in time"))),
        "{d:#}"
    );
    assert_eq!(net.message(&id).await["state"], "delivered");
    let alerts = net.get_ok("/api/v1/alerts", OPS_TOKEN).await;
    assert!(
        alerts["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|a| a["kind"] == "apprec_overdue" && a["subject"] == format!("delivery {did}")),
        "{alerts}"
    );
    assert_eq!(overdue(&net, "").await, [did]);
    assert_eq!(overdue(&net, "&receiver=5078").await, [did]);
    assert!(overdue(&net, "&receiver=91100").await.is_empty());
    let (status, _) = net.get("/api/v1/deliveries?overdue=true", DEMO_TOKEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(net.by_state().await.get("delivered"), Some(&1));

    // The receiver's system is mended; the operator sends the message again
    // and this time it is answered.
    net.sim(ALVDAL).set_behaviour(&net.c, "ok").await;
    let (status, body) = net
        .post_json(
            &format!("/api/v1/deliveries/{did}/replay"),
            OPS_TOKEN,
            json!({"reason": "ingen kvittering / no receipt", "by": "ola"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    net.wait_one(&id, "acknowledged").await;
    assert!(overdue(&net, "").await.is_empty());
}

/// SIGKILL while deliveries are in flight, and a restart on the same data.
///
/// The receiver answers each message 300 ms after it arrived, so at any
/// time several deliveries are in flight. The gateway is killed once some
/// are acknowledged; the test then reads the database as the kill left it
/// (which deliveries were acknowledged, which in flight) and starts the
/// gateway again. After the restart:
///
/// - every message that was answered 201 is there, and every delivery ends
///   acknowledged (its receipt to the sender delivered);
/// - a delivery acknowledged before the kill was never sent again: the
///   receiver saw its MsgId exactly once;
/// - only a delivery in flight at the kill may have reached the receiver
///   twice (at least once: the gateway cannot know whether an attempt cut
///   off by the kill arrived; the receiver recognises it by its MsgId).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_deliveries_loses_nothing_and_resends_only_what_was_in_flight() {
    const N: usize = 30;
    // Refused (503) while the messages are posted, so that all of them
    // wait for the slow receiver together.
    let mut net = Net::start(
        "deliver-crash",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "http:503")],
    )
    .await;
    let templates = hospital_to_alvdal();
    let mut sent: Vec<(String, String)> = Vec::new(); // (MsgId, id)
    let mut bodies = Vec::new();
    for i in 0..N {
        // A patient each, so that the deliveries may go in parallel.
        let fnr = patients::fnr("150765", i);
        let (msg_id, bytes) = fresh(&with_patient(&templates[i % templates.len()], &fnr));
        bodies.push(bytes.clone());
        sent.push((msg_id, net.post_ok(bytes).await));
    }
    net.sim(ALVDAL).set_behaviour(&net.c, "slow:300").await;
    eventually("some acknowledged, some in flight", WAIT, || async {
        let s = net.by_state().await;
        let ack = s.get("acknowledged").copied().unwrap_or(0);
        let flying = s.get("in_flight").copied().unwrap_or(0);
        if ack >= 4 && flying >= 1 && ack + 12 <= N as u64 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    net.kill_gateway();

    // What the kill left behind, read from the database before anything
    // else touches it (read-only: no checkpoint, no recovery of ours).
    let (acked, in_flight) = {
        let rows = message_delivery_states(&net.dir().join("data").join("overgang.db"));
        assert_eq!(rows.len(), N, "every posted message has its delivery");
        let with = |state: &str| -> BTreeSet<String> {
            rows.iter()
                .filter(|r| r.1 == state)
                .map(|r| r.0.clone())
                .collect()
        };
        (with("acknowledged"), with("in_flight"))
    };
    assert!(!acked.is_empty() && acked.len() < N, "{acked:?}");
    assert!(
        !in_flight.is_empty(),
        "the kill came while deliveries were in flight"
    );

    net.restart_gateway();
    let ids: Vec<String> = sent.iter().map(|s| s.1.clone()).collect();
    let all = net.wait_all(&ids, "acknowledged").await;
    let received = net.sim(ALVDAL).received(&net.c).await;
    let mut twice = 0;
    for ((msg_id, id), ds) in sent.iter().zip(&all) {
        assert_eq!(net.message(id).await["state"], "acknowledged");
        let times = arrival(&received, msg_id).unwrap_or_else(|| panic!("{msg_id} never arrived"))
            ["times"]
            .as_u64()
            .expect("times");
        if acked.contains(msg_id) {
            assert_eq!(
                times, 1,
                "{msg_id} was acknowledged before the kill and sent again"
            );
        }
        if times > 1 {
            twice += 1;
            assert!(
                in_flight.contains(msg_id),
                "{msg_id} arrived {times} times but was not in flight at the kill"
            );
        }
        if in_flight.contains(msg_id) {
            // Put back in the queue at the start, and said why.
            let d = the_message_delivery(ds);
            assert!(
                events(d).iter().any(|e| e["from"] == "in_flight"
                    && e["to"] == "queued"
                    && e["actor"] == "gateway"
                    && e["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("the gateway stopped during an attempt"))),
                "{d:#}"
            );
        }
    }
    assert_eq!(arrived(&received).len(), N);
    assert!(net
        .log()
        .contains("deliveries were in flight when the gateway stopped"));
    eprintln!(
        "{N} messages: {} acknowledged before the kill, {} in flight at it ({twice} of them arrived twice); all acknowledged after the restart",
        acked.len(),
        in_flight.len()
    );
    assert_logs_clean(&net, bodies.iter().map(Vec::as_slice));
}
