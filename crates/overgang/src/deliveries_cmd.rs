//! `overgang deliveries …`: the operators' view of the delivery queues, over
//! the gateway's admin API (docs/API.md, "Deliveries").
//!
//! - `list`: deliveries, filtered by state, receiver, message, overdue AppRec;
//! - `show ID`: one delivery and its events;
//! - `replay ID… | --all-dead-letters`: send again;
//! - `cancel ID`: give up on a delivery, with a reason;
//! - `alerts`: dead letters and overdue AppRecs, newest first;
//! - `stats`: deliveries by state and the time from arrival to AppRec.
//!
//! The token is read from `--token-file` or `OVERGANG_TOKEN` (`--token` is
//! accepted with a warning: a command line shows in process lists). The
//! gateway's address comes from `--server` or `OVERGANG_URL`; not
//! `OVERGANG_SERVER`, which `overgang serve` reads as its `[server]` section.
//!
//! Exit status: 0 done; 1 the gateway refused an action or knows no such
//! delivery (409/404 per id); 2 usage, connection, authentication or other
//! errors. Output is what the API returns (`--json`: exactly that), which
//! holds no patient data.

use anyhow::{bail, Context, Result};
use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The gateway's address when neither `--server` nor `OVERGANG_URL` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The environment variable with the gateway's address.
pub const ENV_URL: &str = "OVERGANG_URL";
/// The environment variable with the admin system's token.
pub const ENV_TOKEN: &str = "OVERGANG_TOKEN";

/// The delivery states the API knows (crates/store `DeliveryState`).
const STATES: [&str; 8] = [
    "queued",
    "in_flight",
    "delivered",
    "acknowledged",
    "acknowledged_with_errors",
    "rejected_by_receiver",
    "dead_letter",
    "cancelled",
];

/// Widest "next attempt / last error" cell in `list`.
const NOTE_WIDTH: usize = 60;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List deliveries, newest first (an aligned table, or --json).
    List(ListArgs),
    /// Show one delivery and its events.
    Show(ShowArgs),
    /// Send deliveries again: these ids, or every dead letter
    /// (--all-dead-letters, optionally to one --receiver). Exit 1 when any
    /// id is refused or unknown.
    Replay(ReplayArgs),
    /// Cancel a delivery (it will not be sent). Needs --reason. Exit 1 when
    /// its state does not allow it (e.g. acknowledged) or it is unknown.
    Cancel(CancelArgs),
    /// Alerts: dead letters and overdue AppRecs, newest first.
    Alerts(AlertsArgs),
    /// Deliveries by state, and the time from arrival to AppRec.
    Stats(StatsArgs),
}

/// How to reach the gateway, shared by every `deliveries` command.
#[derive(clap::Args, Clone, Debug)]
pub struct Conn {
    /// The gateway's base URL [default: $OVERGANG_URL, else
    /// http://127.0.0.1:8080]. Plain http only to loopback.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// File whose first line is the admin system's token [default: the
    /// token in $OVERGANG_TOKEN].
    #[arg(long, value_name = "F", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// The token itself. Shows in process lists and shell history: prefer
    /// --token-file or OVERGANG_TOKEN.
    #[arg(long, value_name = "T")]
    token: Option<String>,
    /// PEM file of CA certificates to trust for https (a private CA),
    /// besides the system's.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    conn: Conn,
    /// Only deliveries in this state.
    #[arg(long, value_name = "S", value_parser = STATES)]
    state: Option<String>,
    /// Only deliveries to this receiver (HER-id).
    #[arg(long, value_name = "HER")]
    receiver: Option<String>,
    /// Only deliveries of this message (the gateway's message id).
    #[arg(long, value_name = "ID")]
    message: Option<String>,
    /// Only delivered messages whose AppRec is overdue.
    #[arg(long)]
    overdue: bool,
    /// At most this many (1–1000; the gateway's default is 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: Option<u32>,
    /// Only deliveries with a smaller id (the next page: the id printed
    /// after the table).
    #[arg(long, value_name = "ID")]
    before: Option<i64>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    conn: Conn,
    /// The delivery's id.
    id: i64,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    conn: Conn,
    /// The deliveries' ids.
    #[arg(value_name = "ID")]
    ids: Vec<i64>,
    /// Every dead letter (with --receiver: only those to that receiver).
    #[arg(long, conflicts_with = "ids")]
    all_dead_letters: bool,
    /// With --all-dead-letters: only dead letters to this receiver (HER-id).
    #[arg(long, value_name = "HER", requires = "all_dead_letters")]
    receiver: Option<String>,
    /// Why (required; kept in each delivery's events).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// The person acting (kept in the events beside the admin system).
    #[arg(long, value_name = "PERSON")]
    by: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct CancelArgs {
    #[command(flatten)]
    conn: Conn,
    /// The delivery's id.
    id: i64,
    /// Why (required; kept in the delivery's events).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// The person acting (kept in the events beside the admin system).
    #[arg(long, value_name = "PERSON")]
    by: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    conn: Conn,
    /// At most this many (1–1000; the gateway's default is 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: Option<u32>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    conn: Conn,
    /// Count answers (AppRecs) since this time, RFC 3339, e.g.
    /// 2026-11-23T08:00:00Z [default: all].
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    runtime.block_on(async move {
        match cmd {
            Command::List(a) => list(a).await,
            Command::Show(a) => show(a).await,
            Command::Replay(a) => replay(a).await,
            Command::Cancel(a) => cancel(a).await,
            Command::Alerts(a) => alerts(a).await,
            Command::Stats(a) => stats(a).await,
        }
    })
}

// --- The client --------------------------------------------------------------

/// An answer from the gateway: its status and its JSON body (`Null` when
/// the body is empty or not JSON).
struct Answer {
    status: StatusCode,
    body: Value,
}

struct Client {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
    token: String,
}

/// Whether the URL's host is a loopback address (or `localhost`).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The token: `--token`, else the file, else `OVERGANG_TOKEN`.
fn token(conn: &Conn) -> Result<String> {
    let t = if let Some(t) = &conn.token {
        eprintln!(
            "overgang: advarsel: --token vises i prosesslister og skallhistorikk; bruk --token-file eller {ENV_TOKEN} / \
             warning: --token shows in process lists and shell history; use --token-file or {ENV_TOKEN}"
        );
        t.trim().to_owned()
    } else if let Some(f) = &conn.token_file {
        crate::simulate_cmd::read_token(f)?
    } else {
        match std::env::var(ENV_TOKEN) {
            Ok(t) => t.trim().to_owned(),
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!("{ENV_TOKEN} er ikke gyldig tekst / {ENV_TOKEN} is not valid text")
            }
            Err(std::env::VarError::NotPresent) => String::new(),
        }
    };
    if t.is_empty() {
        bail!(
            "ingen token: bruk --token-file F eller {ENV_TOKEN} / no token: use --token-file F or {ENV_TOKEN}"
        );
    }
    // A token goes in a header: visible ASCII only. The token itself is
    // never printed.
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        bail!(
            "tokenet har tegn som ikke kan stå i en HTTP-header / the token has characters that cannot go in an HTTP header"
        );
    }
    Ok(t)
}

impl Client {
    fn new(conn: &Conn) -> Result<Client> {
        let server = match &conn.server {
            Some(s) => s.clone(),
            None => match std::env::var(ENV_URL) {
                Ok(s) if !s.trim().is_empty() => s,
                _ => DEFAULT_SERVER.to_owned(),
            },
        };
        let server = server.trim().trim_end_matches('/').to_owned();
        let url = Url::parse(&server)
            .map_err(|e| anyhow::anyhow!("--server {server}: ikke en URL / not a URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => bail!(
                "--server {server}: http uten TLS er bare tillatt til loopback (tokenet ville gått i klartekst); bruk https / \
                 plain http is allowed only to loopback (the token would travel in clear); use https"
            ),
            other => bail!(
                "--server {server}: ukjent skjema «{other}»; bruk https:// eller http:// / unknown scheme '{other}'; use https:// or http://"
            ),
        }
        if url.query().is_some() || url.fragment().is_some() {
            bail!("--server {server}: uten ? og # / without ? and #");
        }
        let token = token(conn)?;
        // reqwest is built without a crypto provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("overgang-cli/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&url) {
            b = b.no_proxy();
        }
        if let Some(ca) = &conn.ca {
            let pem = std::fs::read(ca).with_context(|| {
                format!("--ca {}: kunne ikke lese / could not read", ca.display())
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                anyhow::anyhow!(
                    "--ca {}: ikke PEM-sertifikater / not PEM certificates",
                    ca.display()
                )
            })?;
            if certs.is_empty() {
                bail!(
                    "--ca {}: ingen sertifikater i filen / no certificate in the file",
                    ca.display()
                );
            }
            b = b.tls_certs_merge(certs);
        }
        let http = b
            .build()
            .map_err(|e| anyhow::anyhow!("could not build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            base: server,
            token,
        })
    }

    /// `METHOD base/path?query` with the token, and `body` as JSON.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Answer> {
        let mut url = Url::parse(&format!("{}{path}", self.base))
            .with_context(|| format!("{}{path}: ikke en URL / not a URL", self.base))?;
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| connection_error(&self.base, &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| connection_error(&self.base, &e))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer> {
        self.call(Method::GET, path, query, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Answer> {
        self.call(Method::POST, path, &[], Some(body)).await
    }
}

/// Words for a failed connection: what failed, and the innermost cause
/// (never the token; the URL is the one the user gave).
fn connection_error(server: &str, e: &reqwest::Error) -> anyhow::Error {
    let mut cause = None;
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = Some(s.to_string());
        src = s.source();
    }
    let cause = cause.unwrap_or_else(|| e.to_string());
    if e.is_timeout() {
        anyhow::anyhow!("{server}: tidsavbrudd / timed out ({cause})")
    } else if e.is_connect() {
        anyhow::anyhow!("{server}: kunne ikke koble til / could not connect ({cause})")
    } else {
        anyhow::anyhow!("{server}: forbindelsen feilet / the connection failed ({cause})")
    }
}

/// The gateway's own texts in an error answer (`text_nb / text_en`).
fn server_text(body: &Value) -> Option<String> {
    let nb = body.get("text_nb").and_then(Value::as_str);
    let en = body.get("text_en").and_then(Value::as_str);
    match (nb, en) {
        (Some(nb), Some(en)) => Some(clean(&format!("{nb} / {en}"))),
        (Some(t), None) | (None, Some(t)) => Some(clean(t)),
        (None, None) => None,
    }
}

/// An answer that is an error for the whole command (exit 2): words for
/// people, with the gateway's own texts when it gave some.
fn fatal(a: &Answer) -> anyhow::Error {
    let code = a.status.as_u16();
    let what = match a.status {
        StatusCode::UNAUTHORIZED => format!(
            "tokenet ble avvist (HTTP {code}) / the token was refused (HTTP {code})"
        ),
        StatusCode::FORBIDDEN => format!(
            "systemet er ikke administrator (HTTP {code}; admin = true i gatewayens [[systems]]) / \
             the system is not admin (HTTP {code}; admin = true in the gateway's [[systems]])"
        ),
        StatusCode::BAD_REQUEST => format!(
            "gatewayen avviste forespørselen (HTTP {code}) / the gateway refused the request (HTTP {code})"
        ),
        StatusCode::NOT_FOUND => format!(
            "gatewayen kjenner ikke denne adressen (HTTP {code}; har den leverings-API-et?) / \
             the gateway does not know this address (HTTP {code}; does it have the delivery API?)"
        ),
        s if s.is_server_error() => format!(
            "gatewayen kunne ikke svare (HTTP {code}) / the gateway could not answer (HTTP {code})"
        ),
        _ => format!("uventet svar (HTTP {code}) / unexpected answer (HTTP {code})"),
    };
    match server_text(&a.body) {
        Some(t) => anyhow::anyhow!("{what}: {t}"),
        None => anyhow::anyhow!("{what}"),
    }
}

/// A 2xx answer's body, or the command's error.
fn ok_body(a: Answer) -> Result<Value> {
    if a.status.is_success() {
        if a.body.is_null() {
            bail!(
                "svaret var ikke JSON (HTTP {}) / the answer was not JSON (HTTP {})",
                a.status.as_u16(),
                a.status.as_u16()
            );
        }
        Ok(a.body)
    } else {
        Err(fatal(&a))
    }
}

// --- Formatting ----------------------------------------------------------------

/// Text from the gateway as one line for a terminal: control characters
/// (newlines, escape sequences) become spaces.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most `n` characters, the last one `…` when cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A field as display text: strings as they are, numbers as numbers,
/// missing and null as `-`.
fn field(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => clean(s),
        Some(other) => clean(&other.to_string()),
    }
}

/// `2026-11-23T20:34:05.779Z` as `2026-11-23 20:34:05Z`; other text as it is.
fn time(v: &Value, key: &str) -> String {
    let s = field(v, key);
    match (s.get(..10), s.get(11..19), s.ends_with('Z')) {
        (Some(d), Some(t), true) if s.as_bytes().get(10) == Some(&b'T') => format!("{d} {t}Z"),
        _ => s,
    }
}

/// Rows as columns aligned on character counts; the last column is not
/// padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let w = widths.get(i).copied().unwrap_or(0);
                let pad = w.saturating_sub(cell.chars().count()) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn print_json(v: &Value) -> Result<()> {
    print(&format!("{}\n", serde_json::to_string_pretty(v)?))
}

/// The "next attempt / last error" cell of a delivery.
fn note(d: &Value) -> String {
    let mut parts = Vec::new();
    if d.get("apprec_overdue").and_then(Value::as_bool) == Some(true) {
        parts.push("AppRec forsinket / overdue".to_owned());
    }
    let state = d.get("state").and_then(Value::as_str).unwrap_or("");
    if matches!(state, "queued" | "in_flight") && !d["next_attempt_at"].is_null() {
        parts.push(format!("neste / next {}", time(d, "next_attempt_at")));
    }
    if !d["last_error"].is_null() {
        parts.push(field(d, "last_error"));
    }
    if parts.is_empty() {
        return "-".into();
    }
    truncate(&parts.join("; "), NOTE_WIDTH)
}

/// What is delivered: the message type, or `AppRec` for a receipt going
/// back to the sender.
fn what(d: &Value) -> String {
    if d.get("kind").and_then(Value::as_str) == Some("receipt") {
        "AppRec".into()
    } else {
        field(d, "msg_type")
    }
}

fn deliveries_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|d| {
            vec![
                field(d, "id"),
                field(d, "state"),
                field(d, "receiver_her"),
                what(d),
                field(d, "attempts"),
                note(d),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TILSTAND/STATE",
            "MOTTAKER/RECEIVER",
            "TYPE",
            "FORSØK/ATTEMPTS",
            "NESTE FORSØK/NEXT ATTEMPT; SISTE FEIL/LAST ERROR",
        ],
        &rows,
    )
}

// --- The commands --------------------------------------------------------------

async fn list(a: ListArgs) -> Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(s) = a.state {
        q.push(("state", s));
    }
    if let Some(r) = a.receiver {
        q.push(("receiver", r));
    }
    if let Some(m) = a.message {
        q.push(("message", m));
    }
    if a.overdue {
        q.push(("overdue", "true".into()));
    }
    if let Some(l) = a.limit {
        q.push(("limit", l.to_string()));
    }
    if let Some(b) = a.before {
        q.push(("before", b.to_string()));
    }
    let body = ok_body(c.get("/api/v1/deliveries", &q).await?)?;
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = items_of(&body);
    if items.is_empty() {
        print("Ingen leveringer / no deliveries\n")?;
    } else {
        print(&deliveries_table(&items))?;
    }
    if let Some(next) = body.get("next_before").and_then(Value::as_i64) {
        print(&format!(
            "Flere / more: overgang deliveries list … --before {next}\n"
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The refusal of one id (404, 409): printed to standard error; exit 1.
fn refused(id: i64, a: &Answer) -> String {
    let why = match a.status {
        StatusCode::NOT_FOUND => {
            "ingen levering med denne id-en / no delivery with this id".to_owned()
        }
        _ => server_text(&a.body)
            .unwrap_or_else(|| "handlingen er ikke tillatt / the action is not allowed".to_owned()),
    };
    format!("overgang: levering / delivery {id}: {why}")
}

async fn show(a: ShowArgs) -> Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let answer = c.get(&format!("/api/v1/deliveries/{}", a.id), &[]).await?;
    if answer.status == StatusCode::NOT_FOUND && answer.body.get("error").is_some() {
        eprintln!("{}", refused(a.id, &answer));
        return Ok(ExitCode::from(1));
    }
    let d = ok_body(answer)?;
    if a.json {
        print_json(&d)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let kind = field(&d, "kind");
    let lines: Vec<(&str, String)> = vec![
        ("tilstand / state", field(&d, "state")),
        ("melding / message", field(&d, "message_id")),
        ("type", format!("{} ({kind})", field(&d, "msg_type"))),
        (
            "mottaker / receiver",
            format!("{} ({})", field(&d, "receiver_her"), field(&d, "role")),
        ),
        ("avsender / sender", field(&d, "sender_her")),
        ("forsøk / attempts", field(&d, "attempts")),
        ("opprettet / created", time(&d, "created_at")),
        ("endret / updated", time(&d, "updated_at")),
        ("neste forsøk / next attempt", time(&d, "next_attempt_at")),
        ("levert / delivered", time(&d, "delivered_at")),
        ("besvart / answered", time(&d, "answered_at")),
        ("kvittering / receipt", field(&d, "receipt_id")),
        (
            "AppRec forsinket / overdue",
            match d.get("apprec_overdue").and_then(Value::as_bool) {
                Some(true) => "ja / yes".into(),
                _ => "nei / no".into(),
            },
        ),
        ("siste feil / last error", field(&d, "last_error")),
    ];
    out.push_str(&format!("Levering / delivery {}\n", field(&d, "id")));
    let w = lines
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &lines {
        let pad = w - k.chars().count();
        out.push_str(&format!("  {k}:{} {v}\n", " ".repeat(pad)));
    }
    let events = d
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    out.push_str("\nHendelser / events:\n");
    if events.is_empty() {
        out.push_str("  (ingen / none)\n");
    } else {
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                let from = e
                    .get("from")
                    .and_then(Value::as_str)
                    .map(clean)
                    .unwrap_or_else(|| "∅".into());
                vec![
                    time(e, "at"),
                    field(e, "actor"),
                    format!("{from} → {}", field(e, "to")),
                    field(e, "reason"),
                ]
            })
            .collect();
        let t = table(
            &["TID/AT", "AKTØR/ACTOR", "ENDRING/CHANGE", "GRUNN/REASON"],
            &rows,
        );
        for l in t.lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `--reason`, which must have some text; `nb` and `en` ask why.
fn reason(r: Option<&str>, nb: &str, en: &str) -> Result<String> {
    match r.map(str::trim) {
        Some(r) if !r.is_empty() => Ok(r.to_owned()),
        _ => bail!(
            "--reason TEXT mangler: {nb}? Begrunnelsen lagres i leveringens hendelser / \
             --reason TEXT is missing: {en}? The reason is kept in the delivery's events"
        ),
    }
}

fn action_body(reason: String, by: Option<String>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("reason".into(), reason.into());
    if let Some(b) = by.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()) {
        m.insert("by".into(), b.into());
    }
    m
}

async fn replay(a: ReplayArgs) -> Result<ExitCode> {
    if a.ids.is_empty() && !a.all_dead_letters {
        bail!(
            "oppgi leveringenes id-er eller --all-dead-letters / give the deliveries' ids or --all-dead-letters"
        );
    }
    let reason = reason(
        a.reason.as_deref(),
        "hvorfor sendes det på nytt",
        "why send again",
    )?;
    let c = Client::new(&a.conn)?;
    let mut body = action_body(reason, a.by);
    if a.all_dead_letters {
        body.insert("all_dead_letters".into(), true.into());
        if let Some(r) = a.receiver {
            body.insert("receiver".into(), r.into());
        }
    } else {
        body.insert("ids".into(), json!(a.ids));
    }
    let answer = c.post("/api/v1/deliveries/replay", body.into()).await?;
    if a.all_dead_letters
        && answer.status == StatusCode::BAD_REQUEST
        && answer.body.get("error").and_then(Value::as_str) == Some("nothing_to_replay")
    {
        if a.json {
            print_json(&json!({ "items": [] }))?;
        } else {
            print("Ingen døde leveringer å sende på nytt / no dead letters to replay\n")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let body = ok_body(answer)?;
    let items = items_of(&body);
    let failed = items.iter().filter(|i| i.get("error").is_some()).count();
    if a.json {
        print_json(&body)?;
    } else {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|i| {
                let result = match i.get("error").and_then(Value::as_str) {
                    None => field(i, "state"),
                    Some("not_found") => {
                        "avvist: ingen slik levering / refused: no such delivery".into()
                    }
                    Some("not_allowed") => format!(
                        "avvist: tilstanden {} tillater det ikke / refused: state {} does not allow it",
                        field(i, "state"),
                        field(i, "state")
                    ),
                    Some(other) => format!("avvist / refused: {}", clean(other)),
                };
                vec![field(i, "id"), result]
            })
            .collect();
        print(&table(&["ID", "RESULTAT/RESULT"], &rows))?;
        print(&format!(
            "{} sendes på nytt, {failed} avvist / {} queued again, {failed} refused\n",
            items.len() - failed,
            items.len() - failed
        ))?;
    }
    Ok(ExitCode::from(u8::from(failed > 0)))
}

async fn cancel(a: CancelArgs) -> Result<ExitCode> {
    let reason = reason(
        a.reason.as_deref(),
        "hvorfor kanselleres leveringen",
        "why is the delivery cancelled",
    )?;
    let c = Client::new(&a.conn)?;
    let answer = c
        .post(
            &format!("/api/v1/deliveries/{}/cancel", a.id),
            action_body(reason, a.by).into(),
        )
        .await?;
    let is_refusal = matches!(answer.status, StatusCode::NOT_FOUND | StatusCode::CONFLICT)
        && answer.body.get("error").is_some();
    if is_refusal {
        if a.json {
            print_json(&answer.body)?;
        }
        eprintln!("{}", refused(a.id, &answer));
        return Ok(ExitCode::from(1));
    }
    let body = ok_body(answer)?;
    if a.json {
        print_json(&body)?;
    } else {
        print(&format!(
            "Levering {} er kansellert / delivery {} cancelled (tilstand / state {})\n",
            a.id,
            a.id,
            field(&body, "state")
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn alerts(a: AlertsArgs) -> Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let q: Vec<(&str, String)> = a
        .limit
        .map(|l| ("limit", l.to_string()))
        .into_iter()
        .collect();
    let body = ok_body(c.get("/api/v1/alerts", &q).await?)?;
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = items_of(&body);
    if items.is_empty() {
        print("Ingen varsler / no alerts\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for al in &items {
        out.push_str(&format!(
            "{}  {}  {}\n  {}\n  {}\n",
            time(al, "at"),
            field(al, "kind"),
            field(al, "subject"),
            field(al, "text_nb"),
            field(al, "text_en"),
        ));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

async fn stats(a: StatsArgs) -> Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let since_given = a.since.is_some();
    let q: Vec<(&str, String)> = a.since.map(|s| ("since", s)).into_iter().collect();
    let body = ok_body(c.get("/api/v1/deliveries/stats", &q).await?)?;
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let by_state = body.get("by_state").and_then(Value::as_object);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut total = 0i64;
    // Every known state in the queue's order, then any other the gateway
    // reports.
    let count = |s: &str| {
        by_state
            .and_then(|m| m.get(s))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    for s in STATES {
        let n = count(s);
        total += n;
        rows.push(vec![s.to_owned(), n.to_string()]);
    }
    if let Some(m) = by_state {
        for (s, n) in m {
            if !STATES.contains(&s.as_str()) {
                let n = n.as_i64().unwrap_or(0);
                total += n;
                rows.push(vec![clean(s), n.to_string()]);
            }
        }
    }
    rows.push(vec!["i alt / total".into(), total.to_string()]);
    let mut out = String::from("Leveringer etter tilstand / deliveries by state:\n");
    for l in table(&["TILSTAND/STATE", "ANTALL/COUNT"], &rows).lines() {
        out.push_str(&format!("  {l}\n"));
    }
    if since_given {
        out.push_str(&format!(
            "\nBesvart siden / answered since {}: {}\n",
            time(&body, "answered_since"),
            field(&body, "answered")
        ));
    } else {
        out.push_str(&format!(
            "\nBesvart i alt / answered in all: {}\n",
            field(&body, "answered")
        ));
    }
    match body.get("arrival_to_apprec_ms").filter(|v| !v.is_null()) {
        Some(l) => out.push_str(&format!(
            "Fra mottak til AppRec / arrival to AppRec (ms): p50 {}  p90 {}  p99 {}  maks/max {}\n",
            field(l, "p50"),
            field(l, "p90"),
            field(l, "p99"),
            field(l, "max")
        )),
        None => out.push_str(
            "Fra mottak til AppRec / arrival to AppRec: ingen svar ennå / no answers yet\n",
        ),
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The `items` array of an API answer (empty when there is none).
fn items_of(body: &Value) -> Vec<Value> {
    body.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_on_characters_and_leaves_the_last_column_unpadded() {
        let t = table(
            &["ID", "FORSØK", "X"],
            &[
                vec!["1".into(), "ø".into(), "a".into()],
                vec!["100".into(), "12".into(), "b".into()],
            ],
        );
        assert_eq!(t, "ID   FORSØK  X\n1    ø       a\n100  12      b\n");
    }

    #[test]
    fn truncate_cuts_on_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("æøåæø", 3), "æø…");
    }

    #[test]
    fn clean_removes_control_characters() {
        assert_eq!(clean("a\nb\u{1b}[31m"), "a b [31m");
    }

    #[test]
    fn times_are_shortened() {
        let v = json!({ "at": "2026-11-23T20:34:05.779Z", "x": "soon" });
        assert_eq!(time(&v, "at"), "2026-11-23 20:34:05Z");
        assert_eq!(time(&v, "x"), "soon");
        assert_eq!(time(&v, "missing"), "-");
    }

    #[test]
    fn plain_http_goes_only_to_loopback() {
        for (u, ok) in [
            ("http://127.0.0.1:8080", true),
            ("http://localhost:8080", true),
            ("http://[::1]:8080", true),
            ("http://gateway.example:8080", false),
            ("http://10.0.0.1", false),
        ] {
            let url = Url::parse(u).expect("url");
            assert_eq!(is_loopback(&url), ok, "{u}");
        }
    }
}
