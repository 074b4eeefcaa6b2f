//! Crash safety, proven: nothing the gateway acknowledged is ever lost.
//!
//! The real `overgang serve` binary runs on 127.0.0.1 with one data folder
//! for the whole test. Each cycle:
//!
//! 1. [`CLIENTS`] concurrent clients post official examples, each with a
//!    fresh MsgId, some of them made invalid (`<GenDate>` is no date, so the
//!    answer is 422 and the message is stored as rejected), some asking for
//!    JSON answers;
//! 2. after a random delay the server gets SIGKILL, in the middle of
//!    whatever it is doing;
//! 3. the server is started again on the same data folder: it must start and
//!    answer `/readyz` with 200 (the store opens cleanly), and every message
//!    answered 201 or 422 so far must be there, through the API: this
//!    cycle's with the right `size`, `sha256` and the history of intake
//!    (`accepted` then `queued` by routing, or a single `rejected`; delivery
//!    is off here, tests/deliver.rs kills it during delivery), all earlier
//!    cycles' in the listing with the
//!    right size and state. A replay of an acknowledged message gets 200 and
//!    the same Location; a retry of a request that got no answer gets 200
//!    (it was stored) or 201/422 (it was not), never a conflict.
//!
//! After the last cycle the server stops on SIGTERM (exit 0), and the test
//! opens the database itself (read-only): `PRAGMA integrity_check` is `ok`,
//! and every acknowledged message of every cycle is there with exactly the
//! bytes that were sent, the AppRec the client got, and the history of
//! intake. Messages stored but never acknowledged (killed between COMMIT and
//! the answer) are allowed and counted; a stored message no client sent is
//! an error.
//!
//! `OVERGANG_CRASH_CYCLES` sets the number of cycles (default 30);
//! `OVERGANG_CRASH_SEED` replays a run's random choices (the seed is
//! printed; the timing of a crash cannot be replayed exactly).
//! `scripts/crash-test.sh` runs 200 cycles on a release build.

mod support {
    pub mod corpus;
    pub mod server;
    pub mod tempdir;
}

use reqwest::StatusCode;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::server::{self, Server, TempDir, DEMO_TOKEN};

const DEFAULT_CYCLES: usize = 30;
/// Concurrent clients per cycle.
const CLIENTS: usize = 8;
/// The server is killed this many milliseconds (inclusive range) after the
/// clients start.
const KILL_AFTER_MS: (u64, u64) = (100, 800);
/// The most requests one client sends in one cycle: a bound, should a kill
/// come late.
const MAX_PER_CLIENT: usize = 5_000;
/// How long a request may take, and how long the clients may take to notice
/// the kill.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CLIENTS_TIMEOUT: Duration = Duration::from_secs(60);
/// One request in this many is a deliberately invalid message (→ 422).
const REJECT_ONE_IN: u64 = 6;
/// One request in this many asks for a JSON answer.
const JSON_ONE_IN: u64 = 3;

/// splitmix64: small, seedable, good enough to pick examples and delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn derive(seed: u64, a: u64, b: u64) -> Rng {
        let mut r = Rng(seed ^ a.wrapping_mul(0xA24B_AED4_963E_E407));
        r.0 ^= b.wrapping_mul(0x9FB2_1C65_1E98_DF25);
        let _ = r.next();
        r
    }
}

fn seed() -> u64 {
    match std::env::var("OVERGANG_CRASH_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("OVERGANG_CRASH_SEED={s:?}: {e}"))
        }
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            Rng(nanos ^ u64::from(std::process::id()).rotate_left(32)).next()
        }
    }
}

fn cycles() -> usize {
    match std::env::var("OVERGANG_CRASH_CYCLES") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("OVERGANG_CRASH_CYCLES={s:?}: {e}")),
        Err(_) => DEFAULT_CYCLES,
    }
}

/// The official examples as bytes.
type Examples = Arc<Vec<(String, Vec<u8>)>>;

/// The exact bytes of a request: an official example with `msg_id`, made
/// invalid when `rejected`. A pure function, so the test keeps only the
/// recipe (and the SHA-256 of what was sent), not every body.
fn request_bytes(examples: &Examples, example: usize, msg_id: &str, rejected: bool) -> Vec<u8> {
    let bytes = server::with_msg_id(&examples[example].1, msg_id);
    if !rejected {
        return bytes;
    }
    let text = String::from_utf8(bytes).expect("the official examples are UTF-8");
    let broken = text.replacen("<GenDate>", "<GenDate>not-a-date", 1);
    assert_ne!(broken, text, "{}: no <GenDate>", examples[example].0);
    broken.into_bytes()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the gateway answered with 201 or 422.
#[derive(Clone, Debug)]
struct Ack {
    status: StatusCode,
    id: String,
    /// The AppRec, when the answer was XML and its body arrived whole.
    apprec: Option<Vec<u8>>,
}

/// One request a client sent.
#[derive(Debug)]
struct Attempt {
    cycle: usize,
    example: usize,
    msg_id: String,
    rejected: bool,
    sha256: [u8; 32],
    size: usize,
    /// `Some` once the gateway answered 201 or 422.
    ack: Option<Ack>,
    /// The id a retry found (200) for a request that got no answer.
    found_by_retry: Option<String>,
}

impl Attempt {
    fn bytes(&self, examples: &Examples) -> Vec<u8> {
        request_bytes(examples, self.example, &self.msg_id, self.rejected)
    }

    fn label(&self, examples: &Examples) -> String {
        format!(
            "cycle {} {} as {}{}",
            self.cycle,
            examples[self.example].0,
            self.msg_id,
            if self.rejected { " (made invalid)" } else { "" }
        )
    }

    /// The state after intake: an accepted message is routed at once and,
    /// with delivery off in this test, stays `queued`.
    fn expected_state(&self) -> &'static str {
        if self.rejected {
            "rejected"
        } else {
            "queued"
        }
    }

    /// The first history entry's state.
    fn first_state(&self) -> &'static str {
        if self.rejected {
            "rejected"
        } else {
            "accepted"
        }
    }

    /// History entries after intake: received (and routed, if accepted).
    fn history_len(&self) -> usize {
        if self.rejected {
            1
        } else {
            2
        }
    }
}

fn client() -> reqwest::Client {
    // reqwest is built without a TLS crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client")
}

/// Posts `bytes`; `Ok((status, gateway id from Location, body if it
/// arrived))`, or `Err` when there was no answer.
async fn post(
    c: &reqwest::Client,
    url: &str,
    bytes: Vec<u8>,
    json: bool,
) -> Result<(StatusCode, Option<String>, Option<Vec<u8>>), reqwest::Error> {
    let mut r = c
        .post(format!("{url}/api/v1/messages"))
        .bearer_auth(DEMO_TOKEN)
        .header("content-type", "application/xml")
        .body(bytes);
    if json {
        r = r.header("accept", "application/json");
    }
    let resp = r.send().await?;
    let status = resp.status();
    let id = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.strip_prefix("/api/v1/messages/"))
        .map(str::to_owned);
    // The status line and headers arrived: that is an answer, even if the
    // kill cuts the body short.
    let body = resp.bytes().await.ok().map(|b| b.to_vec());
    Ok((status, id, body))
}

/// Turns a 201/422 answer into an [`Ack`], checking what can be checked.
fn ack_of(
    status: StatusCode,
    id: Option<String>,
    body: Option<Vec<u8>>,
    json: bool,
    label: &str,
    problems: &mut Vec<String>,
) -> Option<Ack> {
    let Some(id) = id else {
        problems.push(format!("{label}: {status} without a Location"));
        return None;
    };
    let mut apprec = None;
    if let Some(body) = body {
        if json {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) if v["id"] == id.as_str() => {}
                Ok(v) => problems.push(format!("{label}: JSON id {} ≠ Location {id}", v["id"])),
                Err(e) => problems.push(format!("{label}: the JSON answer does not parse: {e}")),
            }
        } else {
            apprec = Some(body);
        }
    }
    Some(Ack { status, id, apprec })
}

/// One client of one cycle: posts until the server is gone.
async fn run_client(
    url: String,
    examples: Examples,
    cycle: usize,
    k: usize,
    mut rng: Rng,
    killed: Arc<AtomicBool>,
) -> (Vec<Attempt>, Vec<String>) {
    let c = client();
    let mut attempts = Vec::new();
    let mut problems = Vec::new();
    for i in 0..MAX_PER_CLIENT {
        let example = rng.below(examples.len() as u64) as usize;
        let rejected = rng.below(REJECT_ONE_IN) == 0;
        let json = rng.below(JSON_ONE_IN) == 0;
        let msg_id = format!("crash-{cycle}-{k}-{i}");
        let bytes = request_bytes(&examples, example, &msg_id, rejected);
        let mut a = Attempt {
            cycle,
            example,
            msg_id,
            rejected,
            sha256: sha256(&bytes),
            size: bytes.len(),
            ack: None,
            found_by_retry: None,
        };
        let label = a.label(&examples);
        match post(&c, &url, bytes, json).await {
            Ok((status, id, body)) => {
                let expected = if rejected {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::CREATED
                };
                if status == StatusCode::CREATED || status == StatusCode::UNPROCESSABLE_ENTITY {
                    a.ack = ack_of(status, id, body, json, &label, &mut problems);
                }
                if status != expected {
                    problems.push(format!("{label}: answered {status}, expected {expected}"));
                }
                attempts.push(a);
            }
            Err(e) => {
                // No answer: fine once the server is being killed.
                if !killed.load(Ordering::SeqCst) {
                    problems.push(format!("{label}: no answer before the kill: {e}"));
                }
                attempts.push(a);
                break;
            }
        }
    }
    (attempts, problems)
}

async fn get_json(c: &reqwest::Client, url: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let resp = c
        .get(format!("{url}{path}"))
        .bearer_auth(DEMO_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// `/readyz` must say 200 with the store ok.
async fn assert_ready(c: &reqwest::Client, srv: &Server, cycle: usize) {
    let (st, v) = get_json(c, &srv.url, "/readyz").await;
    assert!(
        st == StatusCode::OK && v["store"] == "ok",
        "after the kill of cycle {cycle} the store does not open cleanly: {st} {v}\nlog:\n{}",
        tail(&srv.log_text())
    );
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Every message in the listing: id → (size, state).
async fn listing(c: &reqwest::Client, url: &str) -> HashMap<String, (u64, String)> {
    let mut out = HashMap::new();
    let mut path = "/api/v1/messages?limit=1000".to_owned();
    loop {
        let (st, page) = get_json(c, url, &path).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        for item in page["items"].as_array().expect("items") {
            out.insert(
                item["id"].as_str().expect("id").to_owned(),
                (
                    item["size"].as_u64().expect("size"),
                    item["state"].as_str().expect("state").to_owned(),
                ),
            );
        }
        match page["next_cursor"].as_str() {
            Some(cur) => path = format!("/api/v1/messages?limit=1000&cursor={cur}"),
            None => return out,
        }
    }
}

/// Checks through the API, after a restart, that every acknowledged message
/// is there: those of `cycle` in full, all others in the listing.
async fn verify_api(
    c: &reqwest::Client,
    url: &str,
    cycle: usize,
    attempts: &[Attempt],
    examples: &Examples,
    problems: &mut Vec<String>,
) {
    for a in attempts.iter().filter(|a| a.cycle == cycle) {
        let Some(ack) = &a.ack else { continue };
        let label = a.label(examples);
        let (st, meta) = get_json(c, url, &format!("/api/v1/messages/{}", ack.id)).await;
        if st != StatusCode::OK {
            problems.push(format!(
                "LOST: {label} was answered {} as {} but is {st} after the restart",
                ack.status, ack.id
            ));
            continue;
        }
        let state = a.expected_state();
        let history = meta["history"].as_array().cloned().unwrap_or_default();
        let ok = meta["size"] == a.size as u64
            && meta["sha256"] == hex(&a.sha256).as_str()
            && meta["state"] == state
            && history.len() == a.history_len()
            && history[0]["to"] == a.first_state()
            && history[0]["from"].is_null();
        if !ok {
            problems.push(format!(
                "{label} ({}): wrong after the restart: {meta}",
                ack.id
            ));
        }
    }
    let listed = listing(c, url).await;
    for a in attempts.iter().filter(|a| a.cycle <= cycle) {
        let Some(ack) = &a.ack else { continue };
        match listed.get(&ack.id) {
            Some((size, state)) if *size == a.size as u64 && state == a.expected_state() => {}
            other => problems.push(format!(
                "{} ({}): listed after the kill of cycle {cycle} as {other:?}",
                a.label(examples),
                ack.id
            )),
        }
    }
}

/// A replay of an acknowledged message, and a retry of one that got no
/// answer, as a sender would after a crash.
async fn replay_and_retry(
    c: &reqwest::Client,
    url: &str,
    cycle: usize,
    attempts: &mut [Attempt],
    examples: &Examples,
    problems: &mut Vec<String>,
) {
    if let Some(a) = attempts
        .iter()
        .rev()
        .find(|a| a.cycle == cycle && a.ack.is_some())
    {
        let label = a.label(examples);
        let id = a.ack.as_ref().map(|k| k.id.clone());
        match post(c, url, a.bytes(examples), false).await {
            Ok((StatusCode::OK, got, _)) if got == id => {}
            Ok((st, got, _)) => problems.push(format!(
                "{label}: a replay after the restart got {st} {got:?}, expected 200 {id:?}"
            )),
            Err(e) => problems.push(format!("{label}: a replay got no answer: {e}")),
        }
    }
    if let Some(a) = attempts
        .iter_mut()
        .rev()
        .find(|a| a.cycle == cycle && a.ack.is_none())
    {
        let label = a.label(examples);
        match post(c, url, a.bytes(examples), false).await {
            // It was stored before the kill; the answer was lost.
            Ok((StatusCode::OK, Some(id), _)) => a.found_by_retry = Some(id),
            // It was not stored; now it is.
            Ok((st, id, body))
                if st == StatusCode::CREATED || st == StatusCode::UNPROCESSABLE_ENTITY =>
            {
                a.ack = ack_of(st, id, body, false, &label, problems);
                let expected = if a.rejected {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::CREATED
                };
                if st != expected {
                    problems.push(format!("{label}: a retry got {st}, expected {expected}"));
                }
            }
            Ok((st, _, _)) => problems.push(format!(
                "{label}: a retry of an unanswered request got {st}, expected 200, 201 or 422"
            )),
            Err(e) => problems.push(format!("{label}: a retry got no answer: {e}")),
        }
    }
}

/// What the database check found.
#[derive(Default)]
struct DbCheck {
    verified: usize,
    stored_unacknowledged: usize,
    found_by_retry: usize,
    rows: usize,
}

/// Opens the database read-only and checks every row against what was sent.
fn verify_db(
    db: &std::path::Path,
    attempts: &[Attempt],
    examples: &Examples,
    problems: &mut Vec<String>,
) -> DbCheck {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()));
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .expect("integrity_check");
    assert_eq!(integrity, ["ok"], "PRAGMA integrity_check");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal", "the store keeps its database in WAL mode");
    let fk: Option<String> = conn
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .expect("foreign_key_check");
    assert_eq!(fk, None, "PRAGMA foreign_key_check");

    let by_id: HashMap<&str, usize> = attempts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.ack.as_ref().map(|k| (k.id.as_str(), i)))
        .collect();
    let by_sha: HashMap<[u8; 32], usize> = attempts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.sha256, i))
        .collect();
    assert_eq!(by_sha.len(), attempts.len(), "every request's bytes differ");

    // Each message with its body and its history (count and first entry).
    let mut stmt = conn
        .prepare(
            "SELECT m.id, m.state, m.sha256, m.size, b.original, b.apprec,
                    (SELECT count(*) FROM history h WHERE h.message_id = m.id),
                    f.from_state, f.to_state, f.actor, b.codec
             FROM messages m
             LEFT JOIN bodies b ON b.message_id = m.id
             LEFT JOIN history f ON f.seq =
                 (SELECT min(seq) FROM history h WHERE h.message_id = m.id)
             ORDER BY m.id",
        )
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut out = DbCheck::default();
    let mut seen = HashSet::new();
    while let Some(r) = rows.next().expect("row") {
        out.rows += 1;
        let id: String = r.get(0).expect("id");
        let state: String = r.get(1).expect("state");
        let sha: Vec<u8> = r.get(2).expect("sha256");
        let size: i64 = r.get(3).expect("size");
        let original: Option<Vec<u8>> = r.get(4).expect("original");
        let apprec: Option<Vec<u8>> = r.get(5).expect("apprec");
        let history: i64 = r.get(6).expect("history count");
        let from: Option<String> = r.get(7).expect("from_state");
        let to: Option<String> = r.get(8).expect("to_state");
        let actor: Option<String> = r.get(9).expect("actor");
        // Bodies may be stored compressed: decode them as the store does.
        let codec: i64 = r.get::<_, Option<i64>>(10).expect("codec").unwrap_or(0);
        let decode = |b: Vec<u8>| {
            overgang_store::sqlite::decode_body(codec, b).unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        let original = original.map(decode);
        let apprec = apprec.map(decode);
        let Some(original) = original else {
            problems.push(format!("{id}: stored without its body"));
            continue;
        };
        let original_sha = sha256(&original);
        let (i, acked) = match by_id.get(id.as_str()) {
            Some(&i) => (i, true),
            None => match by_sha.get(&original_sha) {
                Some(&i) => (i, false),
                None => {
                    problems.push(format!("{id}: stored, but no client sent these bytes"));
                    continue;
                }
            },
        };
        let a = &attempts[i];
        let label = format!("{} ({id})", a.label(examples));
        if original != a.bytes(examples) {
            problems.push(format!(
                "{label}: the stored original differs from what was sent"
            ));
            continue;
        }
        let mut ok = true;
        let mut check = |cond: bool, what: &str| {
            if !cond {
                problems.push(format!("{label}: {what}"));
                ok = false;
            }
        };
        check(sha == original_sha, "sha256 is not the original's");
        check(size == original.len() as i64, "size is not the original's");
        check(state == a.expected_state(), "wrong state");
        check(
            history == a.history_len() as i64,
            "not the history entries of intake",
        );
        check(from.is_none(), "the first history entry has a from_state");
        check(
            to.as_deref() == Some(a.first_state()),
            "wrong first history entry",
        );
        check(
            actor.as_deref() == Some("system:demo-ehr"),
            "wrong actor in the history",
        );
        check(
            apprec.as_ref().is_some_and(|x| !x.is_empty()),
            "no AppRec stored",
        );
        if acked {
            if let Some(sent) = a.ack.as_ref().and_then(|k| k.apprec.as_ref()) {
                check(
                    apprec.as_ref() == Some(sent),
                    "the stored AppRec is not the one the client got",
                );
            }
            seen.insert(id.clone());
            if ok {
                out.verified += 1;
            }
        } else {
            out.stored_unacknowledged += 1;
            if let Some(found) = &a.found_by_retry {
                out.found_by_retry += 1;
                if found != &id {
                    problems.push(format!("{label}: a retry found it as {found}"));
                }
            }
        }
    }
    for a in attempts {
        if let Some(ack) = &a.ack {
            if !seen.contains(ack.id.as_str()) {
                problems.push(format!(
                    "LOST: {} was answered {} as {} and is not in the database",
                    a.label(examples),
                    ack.status,
                    ack.id
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let started = Instant::now();
    let seed = seed();
    let cycles = cycles();
    assert!(cycles >= 1, "OVERGANG_CRASH_CYCLES must be at least 1");
    println!("crash test: {cycles} cycles, {CLIENTS} clients, seed {seed:#018x}");
    let examples: Examples = Arc::new(
        support::corpus::official_examples()
            .into_iter()
            .map(|(n, p)| (n, std::fs::read(&p).expect("read example")))
            .collect(),
    );
    let tmp = TempDir::new("crash");
    // Delivery off: this test is about intake's durability; the states after
    // a restart are then fixed (delivery has its own crash test in
    // tests/deliver.rs).
    let cfg = server::test_config(tmp.path(), "[delivery]\nenabled = false\n");
    let log = tmp.path().join("log");
    let db = tmp.path().join("data").join("overgang.db");
    let c = client();
    let mut rng = Rng::derive(seed, u64::MAX, 0);
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut problems: Vec<String> = Vec::new();

    let mut srv = Server::start(&cfg, &[], &log);
    assert_ready(&c, &srv, 0).await;
    // Also verifies the token once, so the clients do not wait for Argon2.
    assert!(listing(&c, &srv.url).await.is_empty());

    for cycle in 0..cycles {
        let killed = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|k| {
                tokio::spawn(run_client(
                    srv.url.clone(),
                    examples.clone(),
                    cycle,
                    k,
                    Rng::derive(seed, cycle as u64, k as u64),
                    killed.clone(),
                ))
            })
            .collect();
        let delay = KILL_AFTER_MS.0 + rng.below(KILL_AFTER_MS.1 - KILL_AFTER_MS.0 + 1);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        killed.store(true, Ordering::SeqCst);
        tokio::task::spawn_blocking(move || srv.kill())
            .await
            .expect("kill");
        let joined = tokio::time::timeout(CLIENTS_TIMEOUT, async {
            let mut out = Vec::new();
            for t in clients {
                out.push(t.await.expect("client task"));
            }
            out
        })
        .await
        .expect("the clients did not notice the kill within a minute");
        for (a, p) in joined {
            attempts.extend(a);
            problems.extend(p);
        }

        srv = Server::start(&cfg, &[], &log);
        assert_ready(&c, &srv, cycle).await;
        verify_api(&c, &srv.url, cycle, &attempts, &examples, &mut problems).await;
        replay_and_retry(&c, &srv.url, cycle, &mut attempts, &examples, &mut problems).await;
        let this: Vec<&Attempt> = attempts.iter().filter(|a| a.cycle == cycle).collect();
        println!(
            "cycle {cycle:>3}: killed after {delay:>3} ms, {} sent, {} acknowledged",
            this.len(),
            this.iter().filter(|a| a.ack.is_some()).count()
        );
    }

    let status = tokio::task::spawn_blocking(move || srv.terminate(Duration::from_secs(30)))
        .await
        .expect("terminate");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    let check = verify_db(&db, &attempts, &examples, &mut problems);
    let acked: Vec<&Ack> = attempts.iter().filter_map(|a| a.ack.as_ref()).collect();
    let accepted = acked
        .iter()
        .filter(|k| k.status == StatusCode::CREATED)
        .count();
    let lost = acked.len().saturating_sub(check.verified);
    println!(
        "crash test summary: cycles={cycles} sent={} acknowledged={} (201: {accepted}, 422: {}) \
         verified={} lost={lost} stored_unacknowledged={} (found by a retry: {}) \
         db_rows={} seed={seed:#018x} duration={:.1}s",
        attempts.len(),
        acked.len(),
        acked.len() - accepted,
        check.verified,
        check.stored_unacknowledged,
        check.found_by_retry,
        check.rows,
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s) (seed {seed:#018x}):\n{}",
        problems.len(),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(lost, 0);
    assert_eq!(
        check.rows,
        acked.len() + check.stored_unacknowledged,
        "every row is either acknowledged or counted"
    );
    assert!(
        acked.len() >= cycles,
        "too few messages acknowledged ({}) to prove anything",
        acked.len()
    );
}
