//! Starts the real `overgang serve` binary on a loopback port with a fresh
//! data folder, and talks HTTP to it.
//!
//! The server prints `overgang: listening on http://ADDR` on standard output
//! once it is bound; its log (standard error) goes to a file the test can
//! read. Dropping a [`Server`] kills the process (SIGKILL).

#![allow(dead_code)] // each test crate uses part of this module

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The demo sender token (`config/demo.toml`).
pub const DEMO_TOKEN: &str = "demo-ehr-token";
/// Argon2id hash of `DEMO_TOKEN`, as in `config/demo.toml`.
pub const DEMO_TOKEN_HASH: &str = include_str!("demo-token-hash.txt");
/// A second system's token, allowed to send only as HER-id 1234.
pub const NARROW_TOKEN: &str = "narrow-system-token";
pub const NARROW_TOKEN_HASH: &str = include_str!("narrow-token-hash.txt");
/// A demo patient-index key (tests only).
pub const TEST_PATIENT_KEY: &str =
    "6f766572676e6720746573742070617469656e74206b6579206e6f7420726561";

/// Environment variables of the tests themselves start with one of these;
/// they are kept from the server, whose configuration would refuse them.
pub const TEST_ONLY_ENV_PREFIXES: [&str; 2] = ["OVERGANG_CRASH_", "OVERGANG_SOAK_"];

pub use super::tempdir::TempDir;

/// An HTTP client for the gateway on loopback: no proxy, 30 s at most.
///
/// It lets a kept-alive connection go after 5 s idle: the gateway closes
/// one after `header_timeout_secs` (10 s) with no request, and a client that
/// sends on it just then gets a connection error instead of an answer
/// (most likely what the CI soak met once, 2026-11-25: one request of
/// 1 500 failed so; CI keeps no gateway log to prove it). A client that
/// keeps connections longer than the server should post the same bytes
/// again (docs/API.md).
pub fn client() -> reqwest::Client {
    // reqwest is built without a TLS crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// Posts a message to the intake at `url` as `demo-ehr`, asking for a JSON
/// answer; the status and the JSON.
pub async fn post_message(
    c: &reqwest::Client,
    url: &str,
    bytes: Vec<u8>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let r = c
        .post(format!("{url}/api/v1/messages"))
        .bearer_auth(DEMO_TOKEN)
        .header("content-type", "application/xml")
        .header("accept", "application/json")
        .body(bytes)
        .send()
        .await
        .expect("POST /api/v1/messages");
    let status = r.status();
    (status, r.json().await.expect("a JSON answer"))
}

/// The demo registry (`config/registry/demo.toml`) passed through `edit`
/// and written to `dir/registry.toml` (so a test may change or break it),
/// its secret files where they are in the repository.
pub fn demo_registry_copy(dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let demo = super::corpus::repo().join("config/registry");
    let text = std::fs::read_to_string(demo.join("demo.toml"))
        .expect("read demo registry")
        .replace(
            "\"demo-secrets/",
            &format!("\"{}/", demo.join("demo-secrets").display()),
        );
    let p = dir.join("registry.toml");
    std::fs::write(&p, edit(text)).expect("write registry");
    p
}

/// The configuration the tests run with: the demo system, a narrow system,
/// and `extra` appended (more TOML).
pub fn test_config(dir: &Path, extra: &str) -> PathBuf {
    let registry = super::corpus::repo().join("config/registry/demo.toml");
    test_config_with_registry(dir, &registry, "", extra)
}

/// [`test_config`] with another registry file and more `[registry]`
/// settings (`registry_extra`, e.g. `poll_secs = 0`).
pub fn test_config_with_registry(
    dir: &Path,
    registry: &Path,
    registry_extra: &str,
    extra: &str,
) -> PathBuf {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
shutdown_grace_secs = 10

[store]
data = "{data}"

[security]
patient_key = "{key}"

[registry]
file = "{registry}"
{registry_extra}

[log]
level = "info"

[[systems]]
name = "demo-ehr"
token_hash = "{demo}"
may_send_as = ["*"]
may_read_all = true

[[systems]]
name = "narrow"
token_hash = "{narrow}"
may_send_as = ["1234"]

{extra}
"#,
        data = dir.join("data").display(),
        key = TEST_PATIENT_KEY,
        registry = registry.display(),
        demo = DEMO_TOKEN_HASH.trim(),
        narrow = NARROW_TOKEN_HASH.trim(),
    );
    let p = dir.join("overgang.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `overgang serve --config config` (plus `args`) and waits until
    /// it listens.
    pub fn start(config: &Path, args: &[&str], log: &Path) -> Server {
        Server::start_env(config, args, log, &[])
    }

    pub fn start_env(config: &Path, args: &[&str], log: &Path, env: &[(&str, &str)]) -> Server {
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_overgang"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(logfile));
        // The tests' own settings (OVERGANG_CRASH_CYCLES, ...) are not the
        // server's: it refuses unknown OVERGANG_* variables.
        for (k, _) in std::env::vars_os() {
            let k_text = k.to_string_lossy();
            if TEST_ONLY_ENV_PREFIXES.iter().any(|p| k_text.starts_with(p)) {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start overgang serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let n = reader.read_line(&mut line).unwrap_or(0);
        if n == 0 {
            let _ = child.wait();
            panic!(
                "overgang serve did not start; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let url = line
            .trim()
            .strip_prefix("overgang: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Server {
            child,
            url,
            log: log.to_owned(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM, then waits for the exit (at most `timeout`); the exit status.
    pub fn terminate(mut self, timeout: Duration) -> std::process::ExitStatus {
        signal(self.pid(), "TERM");
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("overgang serve did not stop within {timeout:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Replaces the text of the message's `MsgId` element with `new_id`,
/// whatever prefix the sender used.
pub fn with_msg_id(bytes: &[u8], new_id: &str) -> Vec<u8> {
    let text = bytes;
    let find = |needle: &[u8], from: usize| -> Option<usize> {
        text.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    // `<MsgId>` or `<xx:MsgId>`: find "MsgId>" preceded by '<' or ':'.
    let mut from = 0;
    while let Some(p) = find(b"MsgId>", from) {
        let before = text.get(p.wrapping_sub(1)).copied();
        let open_end = p + "MsgId>".len();
        if matches!(before, Some(b'<') | Some(b':')) && !is_closing(text, p) {
            if let Some(close) = find(b"</", open_end) {
                let mut out = text[..open_end].to_vec();
                out.extend_from_slice(new_id.as_bytes());
                out.extend_from_slice(&text[close..]);
                return out;
            }
        }
        from = open_end;
    }
    panic!("no MsgId element found");
}

/// `bytes` with a fresh MsgId; the MsgId and the bytes.
pub fn fresh(bytes: &[u8]) -> (String, Vec<u8>) {
    let id = uuid::Uuid::new_v4().to_string();
    (id.clone(), with_msg_id(bytes, &id))
}

fn is_closing(text: &[u8], p: usize) -> bool {
    // Walk back over the prefix to the '<' and see whether a '/' follows it.
    let mut i = p;
    while i > 0 {
        i -= 1;
        if text[i] == b'<' {
            return text.get(i + 1) == Some(&b'/');
        }
        if !(text[i].is_ascii_alphanumeric()
            || text[i] == b':'
            || text[i] == b'_'
            || text[i] == b'-')
        {
            return false;
        }
    }
    false
}
