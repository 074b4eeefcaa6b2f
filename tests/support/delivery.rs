//! A gateway wired to receiver simulators on loopback, for end-to-end
//! delivery tests: the real `overgang serve` and `overgang simulate
//! receiver` binaries, each test with its own ports and folder.
//!
//! The address registry is the demo registry (`config/registry/demo.toml`:
//! the parties of the official examples and a few fictitious ones, one
//! port per receiving system) with each demo port replaced by the port of
//! a simulator the test started. Demo ports a test starts no simulator for
//! point at a port nothing listens on (nothing is delivered there in that
//! test). Because the asynchronous simulator must know the gateway's URL,
//! the gateway starts first (with the placeholders everywhere), then the
//! simulators (on ports they pick), then the registry file is rewritten
//! and reloaded through the admin API.
//!
//! Systems: the test sender `demo-ehr` (any party) and `narrow` of
//! `support::server`, plus the demo's `demo-receivers` (posts asynchronous
//! AppRecs for the receivers' HER-ids) and `demo-ops` (admin), with the
//! token hashes `config/demo.toml` has.

#![allow(dead_code)] // each test crate uses part of this module

use super::server::{self, client, Server, TempDir, DEMO_TOKEN};
use super::simulator::Simulator;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The demo receivers' token (`config/demo.toml`, a demo value).
pub const RECEIVER_TOKEN: &str = "demo-receiver-token";
/// The demo operators' token (`config/demo.toml`, a demo value).
pub const OPS_TOKEN: &str = "demo-ops-token";

/// Receiving systems of the demo registry, by their demo port
/// (docs/REGISTRY.md): messages to `/plo`, receipts to `/receipts`.
pub const ST_OLAV: u16 = 9101; // 59 (91090, 90998)
pub const ALVDAL: u16 = 9102; // 99387 (5078)
pub const KATTSKINNET: u16 = 9103; // 91096 (GPs 91100, 8200002)
pub const SOLVIK: u16 = 9104; // 8100001 (8100002)
pub const SOLVIK_TILDELING: u16 = 9105; // 8100003, requires a bearer token
pub const SOLVIK_LEGE: u16 = 9106; // 8200011 (8200012)
pub const DEMO_PORTS: [u16; 6] = [
    ST_OLAV,
    ALVDAL,
    KATTSKINNET,
    SOLVIK,
    SOLVIK_TILDELING,
    SOLVIK_LEGE,
];

/// Where demo ports without a simulator point: the discard port, which
/// nothing on the test machine listens to.
const NOWHERE: &str = "127.0.0.1:9";

/// The token file the demo registry names for 8100003 (relative to it).
const TOKEN_FILE: &str = "demo-secrets/solvik-tildeling.token";

/// How long a test waits for the gateway to get somewhere before failing.
pub const WAIT: Duration = Duration::from_secs(60);

/// A `[[systems]]` entry of `config/demo.toml`.
fn demo_system(name: &str) -> toml::Table {
    let path = super::corpus::repo().join("config/demo.toml");
    let text = std::fs::read_to_string(&path).expect("read config/demo.toml");
    let cfg: toml::Table = text.parse().expect("config/demo.toml is TOML");
    cfg["systems"]
        .as_array()
        .expect("systems")
        .iter()
        .filter_map(|s| s.as_table())
        .find(|s| s.get("name").and_then(|n| n.as_str()) == Some(name))
        .unwrap_or_else(|| panic!("config/demo.toml has no system {name}"))
        .clone()
}

/// The demo registry with each demo port replaced by `ports`' address for
/// it (host:port), or by [`NOWHERE`].
pub fn registry_text(ports: &BTreeMap<u16, String>) -> String {
    let path = super::corpus::repo().join("config/registry/demo.toml");
    let mut text = std::fs::read_to_string(&path).expect("read the demo registry");
    for port in DEMO_PORTS {
        let from = format!("127.0.0.1:{port}");
        assert!(text.contains(&from), "the demo registry uses {from}");
        let to = ports.get(&port).map(String::as_str).unwrap_or(NOWHERE);
        text = text.replace(&from, to);
    }
    text
}

/// What intake answered (JSON).
#[derive(Debug)]
pub struct Posted {
    pub status: StatusCode,
    /// The gateway's id of the message (201, 422, 200).
    pub id: Option<String>,
    pub body: Value,
}

pub struct Net {
    pub tmp: TempDir,
    pub config: PathBuf,
    pub gw: Server,
    /// Simulators by demo port.
    pub sims: BTreeMap<u16, Simulator>,
    pub c: reqwest::Client,
    registry: PathBuf,
}

impl Net {
    /// Starts a gateway with `[delivery]` settings `delivery` (over the
    /// tests' defaults: 50 ms first backoff, at most 1 s between attempts)
    /// and a simulator for each `(demo port, behaviour)` of `sims`.
    pub async fn start(tag: &str, delivery: &[(&str, &str)], sims: &[(u16, &str)]) -> Net {
        Net::start_with(tag, delivery, sims, &[], &[]).await
    }

    /// [`Net::start`] with extra arguments for every simulator and
    /// environment variables for the gateway (`OVERGANG_LOG__LEVEL`, …).
    pub async fn start_with(
        tag: &str,
        delivery: &[(&str, &str)],
        sims: &[(u16, &str)],
        sim_args: &[&str],
        gateway_env: &[(&str, &str)],
    ) -> Net {
        let tmp = TempDir::new(tag);
        let dir = tmp.path().to_owned();
        // The token file the registry names, beside the test's registry.
        let secret = dir.join(TOKEN_FILE);
        std::fs::create_dir_all(secret.parent().expect("parent")).expect("mkdir");
        std::fs::copy(
            super::corpus::repo()
                .join("config/registry")
                .join(TOKEN_FILE),
            &secret,
        )
        .expect("copy the demo token file");
        let registry = dir.join("registry.toml");
        std::fs::write(&registry, registry_text(&BTreeMap::new())).expect("write registry");

        let mut settings: BTreeMap<&str, &str> = [
            ("backoff_initial_ms", "50"),
            ("backoff_max_secs", "1"),
            ("poll_ms", "200"),
        ]
        .into_iter()
        .collect();
        settings.extend(delivery.iter().copied());
        let delivery_toml: String = settings
            .iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        let systems: String = ["demo-receivers", "demo-ops"]
            .into_iter()
            .map(|name| {
                let mut t = toml::Table::new();
                t.insert("systems".into(), vec![demo_system(name)].into());
                toml::to_string(&t).expect("TOML")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let extra = format!("[delivery]\n{delivery_toml}\n{systems}");
        let config = server::test_config_with_registry(&dir, &registry, "poll_secs = 0", &extra);
        let gw = Server::start_env(&config, &[], &dir.join("gateway.log"), gateway_env);

        let mut started = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for &(port, behaviour) in sims {
            let mut args = vec![
                "--behaviour",
                behaviour,
                "--gateway",
                gw.url.as_str(),
                "--token",
                RECEIVER_TOKEN,
            ];
            // The receiver knows its token from the demo's own file; the
            // gateway reads the copy beside the test's registry (which a
            // test may spoil).
            let required = super::corpus::repo()
                .join("config/registry")
                .join(TOKEN_FILE)
                .display()
                .to_string();
            if port == SOLVIK_TILDELING {
                args.extend(["--require-token-file", required.as_str()]);
            }
            args.extend_from_slice(sim_args);
            let sim = Simulator::start(&args, &dir.join(format!("sim-{port}.log")));
            let addr = sim
                .url
                .strip_prefix("http://")
                .expect("http URL")
                .to_owned();
            addrs.insert(port, addr);
            started.insert(port, sim);
        }
        std::fs::write(&registry, registry_text(&addrs)).expect("rewrite registry");
        let net = Net {
            tmp,
            config,
            gw,
            sims: started,
            c: client(),
            registry,
        };
        let (status, body) = net
            .post_json("/api/v1/admin/registry/reload", OPS_TOKEN, Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "registry reload: {body}");
        assert!(body["last_error"].is_null(), "{body}");
        net
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The bearer token file the gateway reads for 8100003 (the registry's
    /// `auth.bearer_token_file`).
    pub fn token_file(&self) -> PathBuf {
        self.dir().join(TOKEN_FILE)
    }

    /// The simulator standing in for the demo port's receiving system.
    pub fn sim(&self, port: u16) -> &Simulator {
        self.sims
            .get(&port)
            .unwrap_or_else(|| panic!("no simulator for {port}"))
    }

    /// Posts a message as `demo-ehr`, asking for a JSON answer.
    pub async fn post(&self, bytes: Vec<u8>) -> Posted {
        let (status, body) = server::post_message(&self.c, &self.gw.url, bytes).await;
        let id = body["id"].as_str().map(str::to_owned);
        Posted { status, id, body }
    }

    /// Posts a message that must be accepted (201); its gateway id.
    pub async fn post_ok(&self, bytes: Vec<u8>) -> String {
        let p = self.post(bytes).await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
        p.id.expect("id")
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let r = self
            .c
            .get(format!("{}{path}", self.gw.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET that must answer 200; the JSON.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.get(path, token).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post_json(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let mut r = self
            .c
            .post(format!("{}{path}", self.gw.url))
            .bearer_auth(token);
        if !body.is_null() {
            r = r.json(&body);
        }
        let r = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET /api/v1/messages/{id}` (as the sender).
    pub async fn message(&self, id: &str) -> Value {
        self.get_ok(&format!("/api/v1/messages/{id}"), DEMO_TOKEN)
            .await
    }

    /// The message's deliveries with their events (as the sender).
    pub async fn deliveries(&self, id: &str) -> Vec<Value> {
        let v = self
            .get_ok(&format!("/api/v1/messages/{id}/deliveries"), DEMO_TOKEN)
            .await;
        v["items"].as_array().expect("items").clone()
    }

    /// One delivery with its events (admin).
    pub async fn delivery(&self, delivery_id: i64) -> Value {
        self.get_ok(&format!("/api/v1/deliveries/{delivery_id}"), OPS_TOKEN)
            .await
    }

    /// Deliveries per state (admin, `/api/v1/deliveries/stats`).
    pub async fn by_state(&self) -> BTreeMap<String, u64> {
        let v = self.get_ok("/api/v1/deliveries/stats", OPS_TOKEN).await;
        v["by_state"]
            .as_object()
            .expect("by_state")
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().expect("count")))
            .collect()
    }

    /// Waits until every one of the messages `ids` has its message
    /// deliveries in `state` and its receipt deliveries (to the sender's
    /// callback) delivered; returns the deliveries of each.
    pub async fn wait_all(&self, ids: &[String], state: &str) -> Vec<Vec<Value>> {
        eventually(&format!("{} messages {state}", ids.len()), WAIT, || async {
            let mut all = Vec::new();
            for id in ids {
                let ds = self.deliveries(id).await;
                for d in &ds {
                    let want = if d["kind"] == "receipt" {
                        "delivered"
                    } else {
                        state
                    };
                    if d["state"] != want {
                        return Err(format!("message {id}: delivery {d}"));
                    }
                }
                if ds.is_empty() {
                    return Err(format!("message {id} has no deliveries"));
                }
                all.push(ds);
            }
            Ok(all)
        })
        .await
    }

    /// [`Net::wait_all`] for one message; its deliveries.
    pub async fn wait_one(&self, id: &str, state: &str) -> Vec<Value> {
        let mut all = self.wait_all(&[id.to_owned()], state).await;
        all.pop().expect("one")
    }

    pub fn log(&self) -> String {
        self.gw.log_text()
    }

    /// SIGKILL to the gateway; waits until it is gone.
    pub fn kill_gateway(&mut self) {
        let _ = self.gw.child.kill();
        let _ = self.gw.child.wait();
    }

    /// Starts the gateway again with the same configuration and data (on a
    /// new port; its log goes on in the same file).
    pub fn restart_gateway(&mut self) {
        let log = self.gw.log.clone();
        self.gw = Server::start(&self.config, &[], &log);
    }
}

/// (MsgId, state) of every delivery of kind `message` in the database
/// `db` of a gateway that is not running, read-only (no recovery, no
/// checkpoint of ours), as a kill left it.
pub fn message_delivery_states(db: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the database");
    let mut st = conn
        .prepare(
            "SELECT m.msg_id, d.state FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE d.kind = 'message'",
        )
        .expect("prepare");
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows
}

/// The deliveries of kind `message` among `ds`.
pub fn message_deliveries(ds: &[Value]) -> Vec<&Value> {
    ds.iter().filter(|d| d["kind"] == "message").collect()
}

pub use super::wait::eventually;

/// Milliseconds since the epoch of an RFC 3339 UTC time as the API writes
/// it (`2026-11-23T20:34:05.779Z`).
pub fn millis(t: &str) -> i64 {
    let bad = format!("not a time as the API writes it: {t:?}");
    let t = t.strip_suffix('Z').expect(&bad);
    let (date, time) = t.split_once('T').expect(&bad);
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    let ms: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from 1970-01-01 (proleptic Gregorian; Hinnant's days_from_civil).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2]) * 1000) + ms
}

/// The simulator's record of `msg_id` (`/_sim/received`), if it arrived.
pub fn arrival<'a>(received: &'a Value, msg_id: &str) -> Option<&'a Value> {
    received["received"]
        .as_array()
        .expect("received")
        .iter()
        .find(|r| r["msg_id"] == msg_id)
}

/// The MsgIds of `/_sim/received` in arrival order.
pub fn arrived(received: &Value) -> Vec<String> {
    received["received"]
        .as_array()
        .expect("received")
        .iter()
        .map(|r| r["msg_id"].as_str().expect("msg_id").to_owned())
        .collect()
}
