//! Hostile input over HTTP against the real binary (issue 8, item 2).
//!
//! One gateway serves the whole suite, so that its peak memory (`VmHWM`)
//! can be followed case by case and a **well-behaved client** can post a
//! valid official example every ~100 ms throughout: every one of its
//! requests must be answered `201` within [`WELL_BEHAVED_BOUND`], whatever
//! the hostile client next to it does.
//!
//! Each hostile case must be refused with the right status and an answer
//! that names what is wrong (the JSON finding or problem text, not only the
//! status), and no answer may echo the patient: the hostile XML payloads are
//! built from the same official example, whose patient's national id and
//! names are looked for in every answer and, at the end, in the log.
//!
//! Cases: DTDs and entities (billion laughs, quadratic blow-up, external
//! entities to a file and to a URL the test listens on, a parameter entity,
//! an internal subset alone), bodies over the limit (100 MB declared and
//! chunked, lying Content-Length), nesting, a million attributes and
//! namespace declarations, encodings (invalid, overlong, surrogates,
//! mismatched declarations, NUL, BOM), slow clients (headers, body, nothing
//! at all, many at once up to the connection limit), malformed HTTP and huge
//! headers. Raw TCP is used wherever a well-behaved HTTP client would refuse
//! to send the bytes.
//!
//! Run with `cargo test -p overgang --test hostile -- --nocapture` to see
//! the table of peak RSS after each case (docs/RELIABILITY.md, Hostile
//! input).

mod support {
    pub mod corpus;
    pub mod patients;
    pub mod server;
    pub mod tempdir;
}

use reqwest::StatusCode;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::server::{self, Server, TempDir, DEMO_TOKEN};

/// Every request of the well-behaved client is answered within this.
const WELL_BEHAVED_BOUND: Duration = Duration::from_secs(10);
/// The server's peak resident memory over the whole suite stays under
/// this (measured on a debug build: see docs/RELIABILITY.md).
const PEAK_RSS_BOUND_KB: u64 = 200 * 1024;
/// The suite's settings, small so that the slow cases end quickly.
const HEADER_TIMEOUT_SECS: u64 = 2;
const REQUEST_TIMEOUT_SECS: u64 = 5;
const MAX_CONNECTIONS: usize = 48;
/// The default body limit (35 MiB), which the suite keeps.
const LIMIT: usize = 35 * 1024 * 1024;
const MB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// The suite: one gateway, its memory, the table.

struct Row {
    case: String,
    status: String,
    text: String,
    hwm_kb: u64,
}

struct Suite {
    srv: Server,
    /// `127.0.0.1:PORT`
    addr: String,
    example: Vec<u8>,
    secrets: Vec<String>,
    client: reqwest::Client,
    rows: Vec<Row>,
}

/// A field of `/proc/<pid>/status` in kB (`VmHWM`, `VmRSS`).
fn proc_kb(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

impl Suite {
    fn hwm_kb(&self) -> u64 {
        proc_kb(self.srv.pid(), "VmHWM")
    }

    /// One row of the table: the case, what the server answered, the peak
    /// RSS so far. Checks the server is alive and under the memory bound.
    fn record(&mut self, case: &str, status: &str, text: &str) {
        assert!(
            matches!(self.srv.child.try_wait(), Ok(None)),
            "the server died during {case}:\n{}",
            self.srv.log_text()
        );
        let hwm_kb = self.hwm_kb();
        let rss_kb = proc_kb(self.srv.pid(), "VmRSS");
        let text = short(text, 90);
        println!(
            "| {case} | {status} | {text} | {:.0} MB (now {:.0} MB) |",
            hwm_kb as f64 / 1024.0,
            rss_kb as f64 / 1024.0
        );
        assert!(
            hwm_kb < PEAK_RSS_BOUND_KB,
            "peak RSS {hwm_kb} kB after {case}, over the bound of {PEAK_RSS_BOUND_KB} kB"
        );
        self.rows.push(Row {
            case: case.to_owned(),
            status: status.to_owned(),
            text,
            hwm_kb,
        });
    }

    /// Posts `body` as XML asking for JSON; the status, the JSON and the
    /// raw text (checked for patient data).
    async fn post(&self, body: Vec<u8>, content_type: &str) -> (StatusCode, serde_json::Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/messages", self.srv.url))
            .bearer_auth(DEMO_TOKEN)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /api/v1/messages");
        let status = r.status();
        let text = r.text().await.expect("answer body");
        self.no_secrets("an answer", &text);
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("a JSON answer, got {status}: {}", short(&text, 300)));
        (status, v)
    }

    /// Posts a hostile XML body; it must be refused with 400, AppRec T01
    /// and the finding `code` whose English text contains `says`.
    async fn refused_xml(&mut self, case: &str, body: Vec<u8>, code: &str, says: &str) {
        let (status, v) = self.post(body, "application/xml").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {v}");
        assert_finding(case, &v, code, says);
        assert_eq!(v["apprec_status"], 2, "{case}: {v}");
        assert_eq!(v["verdict"], "rejected", "{case}: {v}");
        let f = &v["findings"][0];
        let text = format!(
            "{code}: {}",
            f["text_en"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches('.')
        );
        self.record(case, "400", &text);
    }

    fn no_secrets(&self, what: &str, text: &str) {
        support::patients::assert_no_secrets(what, text, &self.secrets);
    }
}

fn assert_finding(case: &str, v: &serde_json::Value, code: &str, says: &str) {
    let f = &v["findings"][0];
    assert_eq!(f["code"], code, "{case}: {v}");
    assert_eq!(f["apprec_error"], "T01", "{case}: {v}");
    assert_eq!(f["category"], "wellformedness", "{case}: {v}");
    let en = f["text_en"].as_str().unwrap_or_default();
    assert!(en.contains(says), "{case}: {en:?} should say {says:?}");
    assert!(
        !f["text_nb"].as_str().unwrap_or_default().is_empty(),
        "{case}: a Norwegian text too"
    );
}

fn short(s: &str, n: usize) -> String {
    let one_line = s.replace(['\r', '\n', '|'], " ");
    if one_line.chars().count() > n {
        one_line.chars().take(n).collect::<String>() + "…"
    } else {
        one_line
    }
}

// ---------------------------------------------------------------------------
// The well-behaved client.

#[derive(Default)]
struct Behaved {
    answered: usize,
    max_latency: Duration,
    failures: Vec<String>,
}

/// Posts the example with a fresh MsgId every ~100 ms, on a new connection
/// each time (so each request must get one of the server's connection
/// places), until `stop`.
fn well_behaved(
    url: String,
    example: Vec<u8>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<Behaved>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let c = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(WELL_BEHAVED_BOUND)
            .build()
            .expect("client");
        while !stop.load(Ordering::SeqCst) {
            let (msg_id, bytes) = server::fresh(&example);
            let started = Instant::now();
            let r = c
                .post(format!("{url}/api/v1/messages"))
                .bearer_auth(DEMO_TOKEN)
                .header("content-type", "application/xml")
                .header("accept", "application/json")
                .body(bytes)
                .send()
                .await;
            let outcome = match r {
                Ok(r) if r.status() == StatusCode::CREATED => r
                    .json::<serde_json::Value>()
                    .await
                    .map_err(|e| format!("answer body: {e}"))
                    .and_then(|v| {
                        if v["msg_id"] == msg_id.as_str() {
                            Ok(())
                        } else {
                            Err(format!("another message's answer: {v}"))
                        }
                    }),
                Ok(r) => Err(format!("status {}", r.status())),
                Err(e) => Err(format!("{e}")),
            };
            let took = started.elapsed();
            {
                let mut s = stats.lock().expect("stats");
                match outcome {
                    Ok(()) if took <= WELL_BEHAVED_BOUND => {
                        s.answered += 1;
                        s.max_latency = s.max_latency.max(took);
                    }
                    Ok(()) => s.failures.push(format!("answered after {took:?}")),
                    Err(e) => s.failures.push(format!("after {took:?}: {e}")),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

// ---------------------------------------------------------------------------
// Raw HTTP over TCP.

/// What came back on a raw connection.
struct Raw {
    bytes: Vec<u8>,
    /// The server closed (EOF or reset) within the wait.
    closed: bool,
    elapsed: Duration,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn status(&self) -> Option<u16> {
        let t = self.text();
        let rest = t.strip_prefix("HTTP/1.1 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// The body of the first answer.
    fn body(&self) -> String {
        let t = self.text();
        t.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }

    /// How many answers came (status lines).
    fn answers(&self) -> usize {
        self.text().matches("HTTP/1.1 ").count()
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    s
}

/// One read of what the server sent into `bytes`; whether the connection
/// is closed (end of stream, or an error other than the read timeout).
fn read_some(s: &mut TcpStream, bytes: &mut Vec<u8>, buf: &mut [u8]) -> bool {
    match s.read(buf) {
        Ok(0) => true,
        Ok(n) => {
            bytes.extend_from_slice(&buf[..n]);
            false
        }
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Reads from `s` until the server closes or `wait` has passed.
fn read_until_closed(s: &mut TcpStream, wait: Duration, started: Instant) -> Raw {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + wait;
    let mut closed = false;
    while Instant::now() < deadline {
        if read_some(s, &mut bytes, &mut buf) {
            closed = true;
            break;
        }
    }
    Raw {
        bytes,
        closed,
        elapsed: started.elapsed(),
    }
}

/// Sends `request` on a new connection and reads until the server closes
/// or `wait` has passed.
fn exchange(addr: &str, request: &[u8], wait: Duration) -> Raw {
    let mut s = connect(addr);
    let started = Instant::now();
    let _ = s.write_all(request); // the server may close before the end
    read_until_closed(&mut s, wait, started)
}

/// The head of a POST to the intake, with `extra` header lines (each ending
/// in CRLF), as the demo system.
fn post_head(extra: &str) -> String {
    format!(
        "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {DEMO_TOKEN}\r\n\
         Content-Type: application/xml\r\nAccept: application/json\r\n{extra}\r\n"
    )
}

/// A big upload on a connection: the head, then `first`, then padding up
/// to `total` body bytes (chunked or not), written by a thread that counts
/// what the kernel took, while this thread reads the answer.
struct Upload {
    head: String,
    first: Vec<u8>,
    total: usize,
    chunked: bool,
}

struct Uploaded {
    raw: Raw,
    /// Body bytes written when the answer's head had arrived.
    written_at_answer: usize,
    /// Body bytes written in all (the writer stops at the answer, or when
    /// the server closes).
    written: usize,
}

fn upload(addr: &str, u: Upload, wait: Duration) -> Uploaded {
    let mut s = connect(addr);
    let mut w = s.try_clone().expect("clone");
    let written = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let written = written.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            if w.write_all(u.head.as_bytes()).is_err() {
                return;
            }
            let pad = vec![b' '; 64 * 1024];
            let mut sent = 0usize;
            let mut first = Some(u.first);
            while sent < u.total && !stop.load(Ordering::SeqCst) {
                let data: &[u8] = match &first {
                    Some(f) => f,
                    None => &pad[..pad.len().min(u.total - sent)],
                };
                let mut frame = Vec::with_capacity(data.len() + 16);
                if u.chunked {
                    frame.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                }
                frame.extend_from_slice(data);
                if u.chunked {
                    frame.extend_from_slice(b"\r\n");
                }
                // Fails once the server has closed, or this side shut down.
                if w.write_all(&frame).is_err() {
                    return;
                }
                sent += data.len();
                written.store(sent, Ordering::SeqCst);
                first = None;
            }
            if u.chunked && sent >= u.total {
                let _ = w.write_all(b"0\r\n\r\n");
            }
        })
    };
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut written_at_answer = None;
    let mut closed = false;
    while started.elapsed() < wait {
        let ended = read_some(&mut s, &mut bytes, &mut buf);
        if written_at_answer.is_none() && bytes.windows(4).any(|x| x == b"\r\n\r\n") {
            written_at_answer = Some(written.load(Ordering::SeqCst));
            stop.store(true, Ordering::SeqCst);
        }
        if ended {
            closed = true;
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = s.shutdown(std::net::Shutdown::Both);
    writer.join().expect("writer");
    let written = written.load(Ordering::SeqCst);
    Uploaded {
        raw: Raw {
            bytes,
            closed,
            elapsed: started.elapsed(),
        },
        written_at_answer: written_at_answer.unwrap_or(written),
        written,
    }
}

/// Speaks HTTP/2 (prior knowledge) by hand: the preface, settings, one
/// `GET /healthz`, then silence. Whether it was answered (a HEADERS frame
/// on stream 1), and what happened after.
fn h2_one_request_then_idle(addr: &str) -> (bool, Raw) {
    let mut c = connect(addr);
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .expect("preface");
    c.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).expect("settings");
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 9 && Instant::now() < deadline {
        if let Ok(n) = c.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got.get(3), Some(&4), "a SETTINGS frame first");
    c.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0])
        .expect("settings ack");
    // HEADERS, stream 1, END_STREAM | END_HEADERS (HPACK: :method GET,
    // :scheme http, :path "/healthz", :authority "x").
    let mut headers = vec![0x82, 0x86, 0x44, 8];
    headers.extend_from_slice(b"/healthz");
    headers.extend_from_slice(&[0x41, 1, b'x']);
    let mut frame = vec![0, 0, headers.len() as u8, 1, 5, 0, 0, 0, 1];
    frame.extend_from_slice(&headers);
    c.write_all(&frame).expect("headers");
    let mut raw = read_until_closed(
        &mut c,
        Duration::from_secs(HEADER_TIMEOUT_SECS + 8),
        Instant::now(),
    );
    got.extend_from_slice(&raw.bytes);
    let mut answered = false;
    let mut at = 0;
    while let Some(h) = got.get(at..at + 9) {
        let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
        answered |= h[3] == 1 && h[5..9] == [0, 0, 0, 1];
        at += 9 + len;
    }
    raw.bytes = got;
    (answered, raw)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

// ---------------------------------------------------------------------------
// Hostile payloads, built from the valid example (so its patient is in
// them).

/// The example without its XML declaration.
fn without_decl(example: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(example.to_vec()).expect("utf-8 example");
    let rest = match text.strip_prefix("<?xml") {
        Some(r) => r.split_once("?>").map(|(_, r)| r).unwrap_or(r),
        None => &text,
    };
    rest.as_bytes().to_vec()
}

/// `<?xml …?>`, `doctype`, then the example, with `text` put at the start of
/// the `MIGversion` element's text.
fn with_doctype(example: &[u8], doctype: &str, text: &str) -> Vec<u8> {
    let body = String::from_utf8(without_decl(example)).expect("utf-8");
    assert!(
        body.contains("<MIGversion>"),
        "the example has a MIGversion"
    );
    let body = body.replacen("<MIGversion>", &format!("<MIGversion>{text}"), 1);
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{doctype}\n{body}").into_bytes()
}

/// The example with `bytes` put right after the root's start tag.
fn inside_root(example: &[u8], bytes: &[u8]) -> Vec<u8> {
    let at = example
        .windows(8)
        .position(|w| w == b"<MsgHead")
        .and_then(|p| {
            example[p..]
                .iter()
                .position(|&b| b == b'>')
                .map(|q| p + q + 1)
        })
        .expect("the root start tag");
    let mut out = example[..at].to_vec();
    out.extend_from_slice(bytes);
    out.extend_from_slice(&example[at..]);
    out
}

/// The example with `bytes` put at the start of the `MIGversion` text.
fn inside_text(example: &[u8], bytes: &[u8]) -> Vec<u8> {
    let tag = b"<MIGversion>";
    let at = example
        .windows(tag.len())
        .position(|w| w == tag)
        .expect("MIGversion")
        + tag.len();
    let mut out = example[..at].to_vec();
    out.extend_from_slice(bytes);
    out.extend_from_slice(&example[at..]);
    out
}

/// The example with `attrs` (raw bytes) added to the root's start tag.
fn root_attributes(example: &[u8], attrs: &[u8]) -> Vec<u8> {
    let at = example
        .windows(8)
        .position(|w| w == b"<MsgHead")
        .expect("root")
        + 8;
    let mut out = example[..at].to_vec();
    out.extend_from_slice(attrs);
    out.extend_from_slice(&example[at..]);
    out
}

// ---------------------------------------------------------------------------
// The suite.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_clearly_while_a_well_behaved_client_is_served() {
    let suite_started = Instant::now();
    let tmp = TempDir::new("hostile");
    let cfg = server::test_config(tmp.path(), "[delivery]\nenabled = false\n");
    let srv = Server::start_env(
        &cfg,
        &[],
        &tmp.path().join("log"),
        &[
            (
                "OVERGANG_SERVER__HEADER_TIMEOUT_SECS",
                &HEADER_TIMEOUT_SECS.to_string(),
            ),
            (
                "OVERGANG_SERVER__REQUEST_TIMEOUT_SECS",
                &REQUEST_TIMEOUT_SECS.to_string(),
            ),
            (
                "OVERGANG_SERVER__MAX_CONNECTIONS",
                &MAX_CONNECTIONS.to_string(),
            ),
        ],
    );
    let addr = srv.url.trim_start_matches("http://").to_owned();
    let (_, example) = support::corpus::examples().remove(0);
    let secrets = support::patients::secrets([example.as_slice()]);
    assert!(secrets.len() >= 2, "the example names its patient");
    let mut s = Suite {
        srv,
        addr,
        example: example.clone(),
        secrets,
        client: server::client(),
        rows: Vec::new(),
    };
    println!("| case | answer | what it says | peak RSS after (now) |");
    println!("| --- | --- | --- | --- |");

    // The valid example is accepted before anything else.
    let (st, v) = s.post(server::fresh(&example).1, "application/xml").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    s.record("baseline: the valid example", "201", "accepted");

    let stop = Arc::new(AtomicBool::new(false));
    let behaved = Arc::new(Mutex::new(Behaved::default()));
    let task = well_behaved(
        s.srv.url.clone(),
        example.clone(),
        stop.clone(),
        behaved.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A listener the external entities point at: nothing may connect.
    let trap = TcpListener::bind("127.0.0.1:0").expect("bind the trap");
    trap.set_nonblocking(true).expect("nonblocking");
    let trap_url = format!("http://{}", trap.local_addr().expect("trap address"));

    dtd_and_entities(&mut s, &trap_url).await;
    bodies_over_the_limit(&mut s).await;
    nesting_and_attributes(&mut s).await;
    encodings(&mut s).await;
    content_type_and_empty(&mut s).await;
    malformed_http(&mut s).await;
    huge_headers(&mut s).await;
    slow_clients(&mut s).await;

    // Nothing fetched an external entity or DTD.
    match trap.accept() {
        Ok((_, peer)) => panic!("the server connected to the entity's URL (from {peer})"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }

    // The well-behaved client was served throughout.
    stop.store(true, Ordering::SeqCst);
    task.await.expect("well-behaved client");
    let b = std::mem::take(&mut *behaved.lock().expect("stats"));
    println!(
        "\nwell-behaved client: {} requests answered 201, slowest {:?}, {} failures",
        b.answered,
        b.max_latency,
        b.failures.len()
    );
    assert!(
        b.failures.is_empty(),
        "the well-behaved client was not served: {:?}",
        b.failures
    );
    assert!(b.answered >= 20, "only {} answers", b.answered);

    // Still ready; no panic and no patient data in the log.
    let r = s
        .client
        .get(format!("{}/readyz", s.srv.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);
    let log = s.srv.log_text();
    assert!(
        !log.to_lowercase().contains("panick"),
        "the server panicked:\n{log}"
    );
    s.no_secrets("the server's log", &log);
    assert!(!log.contains("root:x:0:0"), "/etc/passwd reached the log");
    println!("\n| case | answer | what it says | peak RSS after |");
    println!("| --- | --- | --- | --- |");
    for r in &s.rows {
        println!(
            "| {} | {} | {} | {:.0} MB |",
            r.case,
            r.status,
            r.text,
            r.hwm_kb as f64 / 1024.0
        );
    }
    let peak = s.rows.iter().map(|r| r.hwm_kb).max().unwrap_or(0);
    println!(
        "peak RSS over the suite: {:.0} MB (bound {} MB); {} cases; {:.1} s",
        peak as f64 / 1024.0,
        PEAK_RSS_BOUND_KB / 1024,
        s.rows.len(),
        suite_started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// Cases.

async fn dtd_and_entities(s: &mut Suite, trap_url: &str) {
    let ex = s.example.clone();
    let dtd = "a document type declaration (DTD)";

    let mut laughs = String::from("<!DOCTYPE MsgHead [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&lol{};", i - 1).repeat(10)
        ));
    }
    laughs.push(']');
    s.refused_xml(
        "billion laughs (10^9 expansion)",
        with_doctype(&ex, &laughs, "&lol9;"),
        "XML004",
        dtd,
    )
    .await;

    let quadratic = format!(
        "<!DOCTYPE MsgHead [<!ENTITY a \"{}\">]>",
        "a".repeat(50_000)
    );
    s.refused_xml(
        "quadratic blow-up (50 kB entity × 50,000)",
        with_doctype(&ex, &quadratic, &"&a;".repeat(50_000)),
        "XML004",
        dtd,
    )
    .await;

    s.refused_xml(
        "external entity: file:///etc/passwd",
        with_doctype(
            &ex,
            "<!DOCTYPE MsgHead [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
            "&xxe;",
        ),
        "XML004",
        dtd,
    )
    .await;

    s.refused_xml(
        "external entity: a URL (the test's listener)",
        with_doctype(
            &ex,
            &format!("<!DOCTYPE MsgHead [<!ENTITY xxe SYSTEM \"{trap_url}/x\">]>"),
            "&xxe;",
        ),
        "XML004",
        dtd,
    )
    .await;

    s.refused_xml(
        "external DTD: a URL (the test's listener)",
        with_doctype(
            &ex,
            &format!("<!DOCTYPE MsgHead SYSTEM \"{trap_url}/msghead.dtd\">"),
            "",
        ),
        "XML004",
        dtd,
    )
    .await;

    s.refused_xml(
        "parameter entity (to the URL)",
        with_doctype(
            &ex,
            &format!("<!DOCTYPE MsgHead [<!ENTITY % p SYSTEM \"{trap_url}/p.dtd\"> %p;]>"),
            "",
        ),
        "XML004",
        dtd,
    )
    .await;

    s.refused_xml(
        "DOCTYPE with only an internal subset",
        with_doctype(&ex, "<!DOCTYPE MsgHead [<!ELEMENT MsgHead ANY>]>", ""),
        "XML004",
        dtd,
    )
    .await;

    s.refused_xml(
        "entity reference without a DTD",
        inside_text(&ex, b"&xxe;"),
        "XML009",
        "entity «&xxe;» is not defined",
    )
    .await;
}

async fn bodies_over_the_limit(s: &mut Suite) {
    let too_large = format!("larger than the limit of {LIMIT} bytes");
    let check_413 = |s: &Suite, case: &str, raw: &Raw| {
        assert_eq!(
            raw.status(),
            Some(413),
            "{case}: {}",
            short(&raw.text(), 300)
        );
        let body = raw.body();
        s.no_secrets("a 413 answer", &body);
        let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON problem");
        assert_eq!(v["error"], "too_large", "{case}: {v}");
        let en = v["text_en"].as_str().unwrap_or_default().to_owned();
        assert!(en.contains(&too_large), "{case}: {en}");
        en
    };

    // 100 MB declared: answered before the body is read.
    let addr = s.addr.clone();
    let first = s.example.clone();
    let u = blocking(move || {
        upload(
            &addr,
            Upload {
                head: post_head(&format!("Content-Length: {}\r\n", 100 * MB)),
                first,
                total: 100 * MB,
                chunked: false,
            },
            Duration::from_secs(30),
        )
    })
    .await;
    let case = "100 MB body, Content-Length declared";
    let en = check_413(s, case, &u.raw);
    println!(
        "  ({case}: answered after {:?}; {:.1} MB sent when the answer came, {:.1} MB in all)",
        u.raw.elapsed,
        u.written_at_answer as f64 / MB as f64,
        u.written as f64 / MB as f64
    );
    assert!(u.written < 100 * MB, "{case}: the whole body was taken");
    s.record(case, "413", &en);

    // 100 MB chunked, no Content-Length: read up to the limit and 4 MiB
    // past it (so the client hears the answer), then refused.
    let addr = s.addr.clone();
    let first = s.example.clone();
    let u = blocking(move || {
        upload(
            &addr,
            Upload {
                head: post_head("Transfer-Encoding: chunked\r\n"),
                first,
                total: 100 * MB,
                chunked: true,
            },
            Duration::from_secs(60),
        )
    })
    .await;
    let case = "100 MB body, chunked, no Content-Length";
    let en = check_413(s, case, &u.raw);
    println!(
        "  ({case}: answered after {:?}; {:.1} MB sent when the answer came, {:.1} MB in all)",
        u.raw.elapsed,
        u.written_at_answer as f64 / MB as f64,
        u.written as f64 / MB as f64
    );
    assert!(
        u.written_at_answer < 60 * MB,
        "{case}: {} bytes were read before the answer",
        u.written_at_answer
    );
    assert!(u.written < 100 * MB, "{case}: the whole body was taken");
    s.record(case, "413", &en);

    // Content-Length lies: declared small, sent big. The declared 200
    // bytes are the message (cut short: not well-formed); the rest is read
    // as the next request, which is no HTTP: 400 and the connection closes.
    let mut req = post_head("Content-Length: 200\r\n").into_bytes();
    req.extend_from_slice(&s.example);
    req.extend(std::iter::repeat_n(b'x', 2 * MB));
    let addr = s.addr.clone();
    let raw = blocking(move || exchange(&addr, &req, Duration::from_secs(10))).await;
    let case = "Content-Length 200, 2 MB sent";
    assert_eq!(
        raw.status(),
        Some(400),
        "{case}: {}",
        short(&raw.text(), 300)
    );
    let body = raw.body();
    s.no_secrets("an answer", &body);
    let json_end = body.find("HTTP/1.1 ").unwrap_or(body.len());
    let v: serde_json::Value =
        serde_json::from_str(body[..json_end].trim()).expect("a JSON answer first");
    assert_finding(case, &v, "XML009", "not well-formed");
    assert!(raw.closed, "{case}: the connection stays open");
    assert!(
        raw.answers() <= 2,
        "{case}: the rest was answered as {} requests",
        raw.answers() - 1
    );
    let text = v["findings"][0]["text_en"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let what = match raw.answers() {
        1 => "400 + close".to_owned(),
        n => format!("400, then {} + close", "400 ".repeat(n - 1).trim_end()),
    };
    s.record(case, &what, &format!("XML009: {text}"));

    // Declared huge (under the limit), sent small, then silence: the
    // request timeout answers 408.
    let mut req = post_head(&format!("Content-Length: {}\r\n", 30 * MB)).into_bytes();
    req.extend_from_slice(&s.example);
    let addr = s.addr.clone();
    let raw =
        blocking(move || exchange(&addr, &req, Duration::from_secs(REQUEST_TIMEOUT_SECS + 10)))
            .await;
    let case = "Content-Length 30 MB, 7 kB sent, then silence";
    assert_eq!(
        raw.status(),
        Some(408),
        "{case}: {}",
        short(&raw.text(), 300)
    );
    assert!(raw.closed, "{case}: the connection stays open");
    assert!(
        raw.elapsed < Duration::from_secs(REQUEST_TIMEOUT_SECS + 8),
        "{case}: {:?}",
        raw.elapsed
    );
    s.record(
        case,
        "408 + close",
        &format!(
            "(empty body) after {:.1} s: request_timeout_secs",
            raw.elapsed.as_secs_f64()
        ),
    );

    // Declared huge, sent small, then the client closes its side: the body
    // cannot be read.
    let mut req = post_head(&format!("Content-Length: {}\r\n", 30 * MB)).into_bytes();
    req.extend_from_slice(&s.example);
    let addr = s.addr.clone();
    let raw = blocking(move || {
        let mut c = connect(&addr);
        let started = Instant::now();
        let _ = c.write_all(&req);
        let _ = c.shutdown(std::net::Shutdown::Write);
        read_until_closed(&mut c, Duration::from_secs(10), started)
    })
    .await;
    let case = "Content-Length 30 MB, 7 kB sent, then end of stream";
    assert_eq!(
        raw.status(),
        Some(400),
        "{case}: {}",
        short(&raw.text(), 300)
    );
    let v: serde_json::Value = serde_json::from_str(&raw.body()).expect("a JSON problem");
    assert_eq!(v["error"], "body", "{case}: {v}");
    s.no_secrets("an answer", &raw.body());
    let en = v["text_en"].as_str().unwrap_or_default().to_owned();
    assert!(en.contains("Could not read the request body"), "{en}");
    s.record(case, "400", &en);

    // Declared far over the limit, sent small: answered at once.
    let mut req = post_head("Content-Length: 10000000000\r\n").into_bytes();
    req.extend_from_slice(&s.example);
    let addr = s.addr.clone();
    let raw = blocking(move || exchange(&addr, &req, Duration::from_secs(10))).await;
    let case = "Content-Length 10 GB, 7 kB sent";
    let en = check_413(s, case, &raw);
    s.record(case, "413", &en);
}

async fn nesting_and_attributes(s: &mut Suite) {
    let ex = s.example.clone();
    let deep = |n: usize| {
        let mut b = "<a>".repeat(n).into_bytes();
        b.extend_from_slice("</a>".repeat(n).as_bytes());
        b
    };
    s.refused_xml(
        "nesting depth 100,000",
        inside_root(&ex, &deep(100_000)),
        "XML003",
        "nested deeper than the limit of 100 levels",
    )
    .await;
    // The root is level 1: 100 more levels inside it are one too many.
    s.refused_xml(
        "nesting depth 101 (limit 100)",
        inside_root(&ex, &deep(100)),
        "XML003",
        "nested deeper than the limit of 100 levels",
    )
    .await;
    // At the limit the XML is read; the schema then refuses the element.
    let (st, v) = s.post(inside_root(&ex, &deep(99)), "application/xml").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["findings"]
            .as_array()
            .is_some_and(|f| f.iter().all(|f| f["code"] != "XML003")),
        "{v}"
    );
    s.record(
        "nesting depth 100 (at the limit)",
        "422",
        "read; refused by the schema (stored as rejected)",
    );

    let mut attrs = Vec::with_capacity(12 * MB);
    for i in 0..1_000_000 {
        attrs.extend_from_slice(format!(" a{i}=\"1\"").as_bytes());
    }
    s.refused_xml(
        "1,000,000 attributes on one element (12 MB)",
        root_attributes(&ex, &attrs),
        "XML003",
        "more than 256 attributes",
    )
    .await;

    let mut ns = Vec::with_capacity(24 * MB);
    for i in 0..1_000_000 {
        ns.extend_from_slice(format!(" xmlns:p{i}=\"urn:x:{i}\"").as_bytes());
    }
    s.refused_xml(
        "1,000,000 namespace declarations (27 MB)",
        root_attributes(&ex, &ns),
        "XML009",
        "more than 128 namespace declarations are in scope",
    )
    .await;
}

async fn encodings(s: &mut Suite) {
    let ex = s.example.clone();
    let not_utf8 = "not valid UTF-8";
    s.refused_xml(
        "invalid UTF-8 (FF FE in text)",
        inside_text(&ex, &[0xFF, 0xFE]),
        "XML006",
        not_utf8,
    )
    .await;
    s.refused_xml(
        "overlong UTF-8 (C0 AF for '/')",
        inside_text(&ex, &[0xC0, 0xAF]),
        "XML006",
        not_utf8,
    )
    .await;
    s.refused_xml(
        "surrogate in UTF-8 (ED A0 80)",
        inside_text(&ex, &[0xED, 0xA0, 0x80]),
        "XML006",
        not_utf8,
    )
    .await;
    s.refused_xml(
        "declared UTF-8, Latin-1 bytes (E6 F8 E5)",
        inside_text(&ex, &[0xE6, 0xF8, 0xE5]),
        "XML006",
        not_utf8,
    )
    .await;

    // Declared ISO-8859-1, the rest UTF-16LE: read as Latin-1, every
    // other character is NUL.
    let mut latin1_utf16 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>".to_vec();
    let rest = String::from_utf8(without_decl(&ex)).expect("utf-8");
    for u in rest.encode_utf16() {
        latin1_utf16.extend_from_slice(&u.to_le_bytes());
    }
    s.refused_xml(
        "declared ISO-8859-1, UTF-16 bytes",
        latin1_utf16,
        "XML007",
        "U+0000 is not allowed",
    )
    .await;

    let mut unknown = b"<?xml version=\"1.0\" encoding=\"x-klingon-7\"?>".to_vec();
    unknown.extend_from_slice(&without_decl(&ex));
    s.refused_xml(
        "unknown encoding name",
        unknown,
        "XML005",
        "«x-klingon-7» is not supported",
    )
    .await;

    s.refused_xml(
        "NUL inside text",
        inside_text(&ex, b"v1\0.2"),
        "XML007",
        "U+0000 is not allowed",
    )
    .await;
    s.refused_xml(
        "NUL inside a tag",
        inside_root(&ex, b"<Bad\0Tag/>"),
        "XML007",
        "U+0000 is not allowed",
    )
    .await;

    let mut bom_latin1 = vec![0xEF, 0xBB, 0xBF];
    bom_latin1.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>");
    bom_latin1.extend_from_slice(&without_decl(&ex));
    s.refused_xml(
        "UTF-8 BOM, declared ISO-8859-1",
        bom_latin1,
        "XML005",
        "ISO-8859-1 with a UTF-8 byte-order mark",
    )
    .await;
    let mut bom16 = vec![0xFF, 0xFE];
    bom16.extend_from_slice(&ex);
    s.refused_xml(
        "UTF-16 BOM, UTF-8 bytes",
        bom16,
        "XML005",
        "«UTF-16» is not supported",
    )
    .await;
}

async fn content_type_and_empty(s: &mut Suite) {
    // tests/serve.rs (refusals_say_why_with_the_right_status) covers a
    // body that is not XML; here the empty body and a JSON body declared
    // as JSON.
    let (st, v) = s.post(Vec::new(), "application/xml").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_finding("empty body", &v, "XML001", "The message is empty");
    s.record("empty body", "400", "XML001: The message is empty");

    let (st, v) = s
        .post(
            br#"{"resourceType": "Bundle", "entry": []}"#.to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_finding("JSON body", &v, "XML008", "The message is not XML");
    s.record(
        "JSON body, Content-Type: application/json",
        "400",
        "XML008: The message is not XML",
    );

    // The intake reads the bytes whatever the Content-Type says: the valid
    // example as text/plain is accepted (documented, not refused).
    let (st, v) = s.post(server::fresh(&s.example).1, "text/plain").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    s.record(
        "valid XML, Content-Type: text/plain",
        "201",
        "accepted: the Content-Type is not checked, the bytes decide",
    );
}

/// Raw requests that are not HTTP a server should accept: each must be
/// answered 4xx (hyper's own 400 has an empty body) or the connection
/// closed, and the server must go on.
async fn malformed_http(s: &mut Suite) {
    let auth = format!("Authorization: Bearer {DEMO_TOKEN}\r\n");
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        (
            "garbage request line",
            b"\x16\x03\x01\x02\x00garbage\xff\xfe\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "bad method (G<T)",
            b"G<T /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "unknown method (BREW)",
            format!("BREW /api/v1/messages HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")
                .into_bytes(),
            &[405],
        ),
        (
            "HTTP/0.9-style request",
            b"GET /healthz\r\n\r\n".to_vec(),
            &[400, 505],
        ),
        (
            "absurd HTTP version (HTTP/9.9)",
            b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
            &[400, 505],
        ),
        (
            "invalid header bytes (\\x01 in a value)",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "header name with a space",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "header without a colon",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "two different Content-Lengths",
            format!("POST /api/v1/messages HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 5\r\nContent-Length: 6\r\n\r\n<a/>  ")
                .into_bytes(),
            &[400],
        ),
        (
            "Transfer-Encoding: gzip (not chunked)",
            format!("POST /api/v1/messages HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: gzip\r\n\r\n")
                .into_bytes(),
            &[400],
        ),
    ];
    for (case, req, allowed) in cases {
        let addr = s.addr.clone();
        let raw = blocking(move || exchange(&addr, &req, Duration::from_secs(10))).await;
        let st = raw.status();
        assert!(
            raw.closed || st.is_some(),
            "{case}: neither answered nor closed"
        );
        assert!(
            st.is_none_or(|c| allowed.contains(&c)),
            "{case}: {}",
            short(&raw.text(), 200)
        );
        assert!(raw.closed, "{case}: the connection stays open");
        s.no_secrets("an answer", &raw.text());
        let what = match st {
            Some(c) => format!("{c} + close"),
            None => "closed".to_owned(),
        };
        let body = raw.body();
        let said = match (body.trim().is_empty(), st) {
            (true, Some(405)) => "(empty body: the route has no such method)".to_owned(),
            (true, _) => "(empty body: hyper's parser refuses it)".to_owned(),
            (false, _) => body,
        };
        s.record(case, &what, &said);
    }

    // An invalid chunk size: the body cannot be read.
    let mut req = post_head("Transfer-Encoding: chunked\r\n").into_bytes();
    req.extend_from_slice(b"zz\r\n");
    req.extend_from_slice(&s.example);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let addr = s.addr.clone();
    let raw = blocking(move || exchange(&addr, &req, Duration::from_secs(10))).await;
    let case = "invalid chunk size (zz)";
    assert_eq!(
        raw.status(),
        Some(400),
        "{case}: {}",
        short(&raw.text(), 300)
    );
    assert!(raw.closed, "{case}: the connection stays open");
    let v: serde_json::Value = serde_json::from_str(&raw.body()).expect("a JSON problem");
    assert_eq!(v["error"], "body", "{case}: {v}");
    s.record(
        case,
        "400 + close",
        v["text_en"].as_str().unwrap_or_default(),
    );

    // Both Content-Length and Transfer-Encoding, with a second request
    // smuggled behind what Content-Length would say: the chunked framing
    // wins, the one request is answered, and the connection is closed, so
    // the smuggled request is never read.
    let smuggled = format!("GET /api/v1/messages HTTP/1.1\r\nHost: x\r\n{auth}\r\n");
    let chunk = "<a/>";
    let body = format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
    let mut req = post_head(&format!(
        "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
        body.len()
    ))
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req.extend_from_slice(smuggled.as_bytes());
    let addr = s.addr.clone();
    let raw = blocking(move || exchange(&addr, &req, Duration::from_secs(10))).await;
    let case = "Content-Length and Transfer-Encoding, a request smuggled behind";
    assert!(raw.closed, "{case}: the connection stays open");
    assert_eq!(raw.answers(), 1, "{case}: {}", short(&raw.text(), 400));
    let st = raw.status().expect("an answer");
    // `<a/>` is XML but no message: rejected by the schema (422).
    assert_eq!(st, 422, "{case}: {}", short(&raw.text(), 300));
    s.record(
        case,
        "422 + close",
        "chunked framing wins; one answer, the connection closed, the smuggled request unread",
    );

    // The server still answers.
    let r = s
        .client
        .get(format!("{}/healthz", s.srv.url))
        .send()
        .await
        .expect("healthz after malformed HTTP");
    assert_eq!(r.status(), StatusCode::OK);
}

async fn huge_headers(s: &mut Suite) {
    let one_mb = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(MB)
    );
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..10_000 {
        many.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    for (case, req) in [("one 1 MB header", one_mb), ("10,000 headers", many)] {
        let addr = s.addr.clone();
        let raw = blocking(move || exchange(&addr, req.as_bytes(), Duration::from_secs(10))).await;
        let st = raw.status();
        assert!(
            matches!(st, Some(431) | Some(400)),
            "{case}: {}",
            short(&raw.text(), 200)
        );
        assert!(raw.closed, "{case}: the connection stays open");
        s.record(
            case,
            &format!("{} + close", st.unwrap_or(0)),
            "(empty body: hyper's limits, 100 headers and ~400 kB of head)",
        );
    }
}

/// Slow clients: each must be cut off by a timeout, and many at once must
/// not keep the well-behaved client out.
async fn slow_clients(s: &mut Suite) {
    // (a) Headers dribbled at 1 byte/s: cut after the header timeout.
    let addr = s.addr.clone();
    let (raw, sent) = blocking(move || {
        let mut c = connect(&addr);
        c.set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let started = Instant::now();
        let head = format!("{}X-Slow: ", post_head("")).replace("\r\n\r\n", "\r\n");
        let mut sent = 0;
        let mut closed = false;
        let mut bytes = Vec::new();
        for b in head.bytes().chain(std::iter::repeat(b'a')).take(120) {
            if c.write_all(&[b]).is_err() {
                closed = true;
                break;
            }
            sent += 1;
            let mut buf = [0u8; 1024];
            if read_some(&mut c, &mut bytes, &mut buf) {
                closed = true;
                break;
            }
        }
        (
            Raw {
                bytes,
                closed,
                elapsed: started.elapsed(),
            },
            sent,
        )
    })
    .await;
    let case = "headers dribbled at 1 byte/s";
    assert!(
        raw.closed || raw.status() == Some(408),
        "{case}: not cut off after {sent} bytes"
    );
    assert!(
        raw.elapsed < Duration::from_secs(HEADER_TIMEOUT_SECS + 6),
        "{case}: cut off only after {:?}",
        raw.elapsed
    );
    s.record(
        case,
        &match raw.status() {
            Some(c) => format!("{c} + close"),
            None => "close".to_owned(),
        },
        &format!(
            "cut after {:.1} s, {sent} bytes: header_timeout_secs",
            raw.elapsed.as_secs_f64()
        ),
    );

    // (b) A body dribbled at 10 bytes/s with a valid Content-Length
    // (7 kB: 11 minutes): cut at the request timeout with 408.
    let addr = s.addr.clone();
    let example = s.example.clone();
    let raw = blocking(move || {
        let mut c = connect(&addr);
        let started = Instant::now();
        let head = post_head(&format!("Content-Length: {}\r\n", example.len()));
        c.write_all(head.as_bytes()).expect("head");
        let mut bytes = Vec::new();
        let mut closed = false;
        for b in &example {
            if c.write_all(&[*b]).is_err() {
                closed = true;
                break;
            }
            let mut buf = [0u8; 1024];
            if read_some(&mut c, &mut bytes, &mut buf) {
                closed = true;
                break;
            }
            if started.elapsed() > Duration::from_secs(REQUEST_TIMEOUT_SECS + 10) {
                break;
            }
        }
        // Anything still on its way, and the close.
        let rest = read_until_closed(&mut c, Duration::from_secs(2), started);
        bytes.extend_from_slice(&rest.bytes);
        Raw {
            bytes,
            closed: closed || rest.closed,
            elapsed: started.elapsed(),
        }
    })
    .await;
    let case = "body dribbled at 10 bytes/s";
    assert_eq!(
        raw.status(),
        Some(408),
        "{case}: {}",
        short(&raw.text(), 200)
    );
    assert!(raw.closed, "{case}: the connection stays open");
    assert!(
        raw.elapsed < Duration::from_secs(REQUEST_TIMEOUT_SECS + 8),
        "{case}: {:?}",
        raw.elapsed
    );
    s.record(
        case,
        "408 + close",
        &format!(
            "(empty body) after {:.1} s: request_timeout_secs bounds the body too",
            raw.elapsed.as_secs_f64()
        ),
    );

    // A connection that sends nothing at all, and one that dribbles the
    // start of an HTTP/2 preface: cut after the header timeout too.
    for (case, bytes) in [
        ("a connection that sends nothing", &b""[..]),
        ("a partial HTTP/2 preface", &b"PRI * HTTP/2.0\r\n"[..]),
    ] {
        let addr = s.addr.clone();
        let raw =
            blocking(move || exchange(&addr, bytes, Duration::from_secs(HEADER_TIMEOUT_SECS + 8)))
                .await;
        assert!(raw.closed, "{case}: still open after {:?}", raw.elapsed);
        s.record(
            case,
            "close",
            &format!(
                "cut after {:.1} s: header_timeout_secs",
                raw.elapsed.as_secs_f64()
            ),
        );
    }

    // One HTTP/2 request (prior knowledge), then nothing: hyper has no
    // header timer for HTTP/2; the listener closes it all the same.
    let addr = s.addr.clone();
    let (answered, raw) = blocking(move || h2_one_request_then_idle(&addr)).await;
    let case = "HTTP/2: one request, then idle";
    assert!(answered, "{case}: the request was not answered");
    assert!(raw.closed, "{case}: still open after {:?}", raw.elapsed);
    s.record(
        case,
        "200, then close",
        &format!(
            "closed {:.1} s after the answer: header_timeout_secs",
            raw.elapsed.as_secs_f64()
        ),
    );

    // (c) Many slow connections at once, up to all but a few of the
    // connection places, kept up (reconnecting when cut) for 8 s.
    let slow = MAX_CONNECTIONS - 6;
    let window = Duration::from_secs(8);
    let cut = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    let started = Instant::now();
    for _ in 0..slow {
        let addr = s.addr.clone();
        let cut = cut.clone();
        threads.push(std::thread::spawn(move || {
            while started.elapsed() < window {
                let Ok(mut c) = TcpStream::connect(&addr) else {
                    continue;
                };
                let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
                let head = b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ";
                let mut open = true;
                for b in head.iter().chain(std::iter::repeat(&b'a')) {
                    if started.elapsed() >= window {
                        break;
                    }
                    if c.write_all(&[*b]).is_err() {
                        open = false;
                        break;
                    }
                    let mut buf = [0u8; 256];
                    match c.read(&mut buf) {
                        Ok(_) => {
                            open = false;
                            break;
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => {
                            open = false;
                            break;
                        }
                    }
                }
                if !open {
                    cut.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    // A reader's requests meanwhile, each on a new connection.
    let probe = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(WELL_BEHAVED_BOUND)
        .build()
        .expect("client");
    let mut probes = 0;
    let mut slowest = Duration::ZERO;
    while started.elapsed() < window {
        let t = Instant::now();
        let r = probe
            .get(format!("{}/readyz", s.srv.url))
            .send()
            .await
            .expect("readyz among slow connections");
        assert_eq!(r.status(), StatusCode::OK);
        slowest = slowest.max(t.elapsed());
        probes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    blocking(move || {
        for t in threads {
            t.join().expect("slow thread");
        }
    })
    .await;
    let cut = cut.load(Ordering::SeqCst);
    assert!(cut >= slow, "only {cut} slow connections were cut");
    s.record(
        &format!("{slow} slow-header connections at once for 8 s (limit {MAX_CONNECTIONS})"),
        "closed",
        &format!(
            "{cut} cut by the header timeout; /readyz answered {probes}× meanwhile, slowest {:.2} s",
            slowest.as_secs_f64()
        ),
    );

    // ... and every place taken by connections that send nothing: new
    // clients wait in the kernel's queue until the header timeout frees
    // places, then are served.
    let addr = s.addr.clone();
    let idle: Vec<TcpStream> = blocking(move || {
        (0..MAX_CONNECTIONS + 8)
            .map(|_| TcpStream::connect(&addr).expect("connect"))
            .collect()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let r = probe
        .get(format!("{}/readyz", s.srv.url))
        .send()
        .await
        .expect("readyz with every place taken");
    assert_eq!(r.status(), StatusCode::OK);
    let waited = t.elapsed();
    drop(idle);
    s.record(
        &format!(
            "{} idle connections (every place taken)",
            MAX_CONNECTIONS + 8
        ),
        "closed",
        &format!(
            "a new client waited {:.1} s (header_timeout_secs frees places), then 200",
            waited.as_secs_f64()
        ),
    );
}
