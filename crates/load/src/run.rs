//! The load loop: N clients share one HTTP client; each posts the next
//! template with a fresh MsgId, waits for the whole answer, and records it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Certificate, Client, Url};

use crate::report::{is_acknowledged, rate, Latency, Report};
use crate::target::Target;
use crate::template::Template;

/// Longest measured run; also the safety stop of a `--requests` run.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most measured requests of one run.
pub const MAX_REQUESTS: u64 = 1_000_000;
/// Pause of a client after a failed connection.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(20);
/// Longest warm-up.
pub const MAX_WARMUP: Duration = Duration::from_secs(60);

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// After this many measured requests (or `MAX_DURATION`, whichever first).
    Requests(u64),
    /// After this long, measured from the end of warm-up.
    Duration(Duration),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub target: Target,
    pub token: String,
    pub concurrency: usize,
    pub bound: Bound,
    pub warmup: Duration,
    /// Time limit of one request, connection to last byte of the answer.
    pub timeout: Duration,
    /// PEM file of the CA that signed the gateway's certificate (https).
    pub ca: Option<std::path::PathBuf>,
    /// Speak HTTP/2 without negotiation (plain http).
    pub http2: bool,
    /// Give each message one of this many synthetic patients (valid
    /// national ids), round robin, instead of the example's own; 0 keeps the
    /// examples' patients.
    pub patients: u64,
    /// Send at this many requests per second in all (an open schedule:
    /// request k starts at k / rate), instead of as fast as the clients can.
    pub rate: Option<f64>,
}

/// Builds the one HTTP client all clients share: keep-alive, no proxy, no
/// redirects, and every host name pinned to the checked loopback address.
pub fn build_client(config: &Config) -> Result<Client> {
    // reqwest is built without a crypto provider; the process-wide default
    // may already be set (tests build several clients).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(config.concurrency)
        .tcp_nodelay(true);
    if let Some(host) = config.target.host_name() {
        builder = builder.resolve(host, config.target.addr);
    }
    if let Some(ca) = &config.ca {
        let pem = std::fs::read(ca).with_context(|| format!("{}", ca.display()))?;
        let certs = Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{}: not a PEM certificate", ca.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{}: no certificate in it", ca.display());
        builder = builder.tls_certs_only(certs);
    }
    if config.http2 {
        builder = builder.http2_prior_knowledge();
    }
    builder.build().context("cannot build the HTTP client")
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    errors_by_kind: BTreeMap<String, u64>,
    first_error: Option<(Instant, String)>,
    latencies_us: Vec<u64>,
    warmup_requests: u64,
    last_answer: Option<Instant>,
}

struct Shared {
    client: Client,
    url: Url,
    auth: String,
    templates: Vec<Template>,
    next_template: AtomicUsize,
    tickets: AtomicU64,
    bound: Bound,
    measure_from: Instant,
    stop_at: Instant,
    /// With a rate: the schedule's start, its rate and the next slot.
    pace: Option<(Instant, f64)>,
    slots: AtomicU64,
    patients: u64,
    next_patient: AtomicU64,
}

/// Runs the load and returns the report. `templates` must not be empty.
pub async fn run(config: &Config, templates: Vec<Template>) -> Result<Report> {
    anyhow::ensure!(!templates.is_empty(), "no templates");
    anyhow::ensure!(config.concurrency > 0, "concurrency must be at least 1");
    let client = build_client(config)?;
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let stop_at = measure_from
        + match config.bound {
            Bound::Requests(_) => MAX_DURATION,
            Bound::Duration(d) => d.min(MAX_DURATION),
        };
    let shared = Arc::new(Shared {
        client,
        url: config.target.messages_url(),
        auth: format!("Bearer {}", config.token),
        templates,
        next_template: AtomicUsize::new(0),
        tickets: AtomicU64::new(0),
        bound: config.bound,
        measure_from,
        stop_at,
        pace: config.rate.filter(|r| *r > 0.0).map(|r| (start, r)),
        slots: AtomicU64::new(0),
        patients: config.patients,
        next_patient: AtomicU64::new(0),
    });
    let tasks: Vec<_> = (0..config.concurrency)
        .map(|_| tokio::spawn(client_loop(Arc::clone(&shared))))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let t = task.await.context("a client task failed")?;
        for (k, v) in t.by_status {
            *total.by_status.entry(k).or_default() += v;
        }
        for (k, v) in t.errors_by_kind {
            *total.errors_by_kind.entry(k).or_default() += v;
        }
        total.first_error = match (total.first_error.take(), t.first_error) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        total.latencies_us.extend(t.latencies_us);
        total.warmup_requests += t.warmup_requests;
        total.last_answer = total.last_answer.max(t.last_answer);
    }
    let end = total
        .last_answer
        .unwrap_or_else(Instant::now)
        .max(measure_from);
    let elapsed = end - measure_from;
    let answered: u64 = total.by_status.values().sum();
    let acknowledged: u64 = total
        .by_status
        .iter()
        .filter(|(s, _)| is_acknowledged(**s))
        .map(|(_, n)| n)
        .sum();
    let errors: u64 = total.errors_by_kind.values().sum();
    let requests = answered + errors;
    Ok(Report {
        requests,
        acknowledged,
        by_status: total.by_status,
        errors,
        errors_by_kind: total.errors_by_kind,
        first_error: total.first_error.map(|(_, e)| e),
        failed: requests - acknowledged,
        elapsed_s: elapsed.as_secs_f64(),
        throughput_ack_per_s: rate(acknowledged, elapsed),
        throughput_per_s: rate(answered, elapsed),
        latency_ms: Latency::from_micros(total.latencies_us),
        concurrency: config.concurrency,
        warmup_requests: total.warmup_requests,
    })
}

async fn client_loop(shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::default();
    let mut id_buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    loop {
        if let Some((from, rate)) = shared.pace {
            let k = shared.slots.fetch_add(1, Ordering::Relaxed);
            let at = from + Duration::from_secs_f64(k as f64 / rate);
            if at >= shared.stop_at {
                break;
            }
            tokio::time::sleep_until(at.into()).await;
        }
        let now = Instant::now();
        if now >= shared.stop_at {
            break;
        }
        let warming_up = now < shared.measure_from;
        if !warming_up {
            if let Bound::Requests(n) = shared.bound {
                if shared.tickets.fetch_add(1, Ordering::Relaxed) >= n {
                    break;
                }
            }
        }
        let i = shared.next_template.fetch_add(1, Ordering::Relaxed) % shared.templates.len();
        let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id_buf);
        let patient = (shared.patients > 0).then(|| {
            let k = shared.next_patient.fetch_add(1, Ordering::Relaxed) % shared.patients;
            crate::template::synthetic_national_id(k)
        });
        let body = shared.templates[i].with_ids(id.as_bytes(), patient.as_ref());

        let sent = Instant::now();
        let outcome = post(&shared, body).await;
        let done = Instant::now();
        if warming_up {
            tally.warmup_requests += 1;
            continue;
        }
        match outcome {
            Ok(status) => {
                *tally.by_status.entry(status).or_default() += 1;
                tally
                    .latencies_us
                    .push(u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX));
            }
            Err((kind, message)) => {
                *tally.errors_by_kind.entry(kind.to_string()).or_default() += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some((done, message));
                }
                tally.last_answer = Some(done);
                if kind == "connect" {
                    // Nothing listens: do not spin; the run fails anyway.
                    tokio::time::sleep(CONNECT_RETRY_PAUSE).await;
                }
                continue;
            }
        }
        tally.last_answer = Some(done);
    }
    tally
}

/// Posts one message and reads the whole answer: its status, or the kind of
/// failure and its message.
async fn post(shared: &Shared, body: Vec<u8>) -> Result<u16, (&'static str, String)> {
    let response = shared
        .client
        .post(shared.url.clone())
        .header(AUTHORIZATION, &shared.auth)
        .header(CONTENT_TYPE, "application/xml")
        .body(body)
        .send()
        .await
        .map_err(classify)?;
    let status = response.status().as_u16();
    response.bytes().await.map_err(classify)?;
    Ok(status)
}

fn classify(e: reqwest::Error) -> (&'static str, String) {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    // The chain of sources says what really happened (refused, reset...).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    (kind, message)
}
