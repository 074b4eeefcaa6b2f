//! The server's configuration: a TOML file, then `OVERGANG_…` environment
//! variables, then command-line flags, each overriding the one before.
//!
//! Every setting has an environment variable: the path of its key in upper
//! case, sections joined by a double underscore. `[server] listen` is
//! `OVERGANG_SERVER__LISTEN`, `[store] group_commit` is
//! `OVERGANG_STORE__GROUP_COMMIT`. A value is read as a TOML value when it
//! parses as one (`true`, `8080`, `["a", "b"]`, `[{ name = "x" }]`) and as a
//! string otherwise, so secrets such as `OVERGANG_SECURITY__PATIENT_KEY` can
//! stay out of the file.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::ServerError;

/// The prefix of every environment variable the server reads.
pub const ENV_PREFIX: &str = "OVERGANG_";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub apprec: AppRecConfig,
    #[serde(default)]
    pub validation: ValidationConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    /// Routing: copy rules (default: a discharge report also goes to the
    /// patient's GP). See docs/ROUTING.md.
    #[serde(default)]
    pub routing: overgang_route::CopyRules,
    /// Delivery to receivers: attempts, backoff, timeouts, AppRec waits.
    #[serde(default)]
    pub delivery: overgang_deliver::DeliveryConfig,
    /// Sender systems allowed to post messages.
    #[serde(default)]
    pub systems: Vec<SystemConfig>,
    /// The web pages for people: users file, sessions. See docs/UI.md.
    #[serde(default)]
    pub ui: UiConfig,
    /// Patient flow: expected messages, deadlines, day rates. docs/FLOW.md.
    #[serde(default)]
    pub flow: FlowSettings,
    /// How long messages and the access log are kept, and when the
    /// database gives space back. Default: everything is kept forever.
    /// See docs/RELIABILITY.md, "Retention".
    #[serde(default)]
    pub retention: RetentionConfig,
    /// `OVERGANG_…` environment variables that name no setting (e.g. a
    /// test's own), ignored; the server warns about them.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

/// The top-level keys; an `OVERGANG_X…` variable whose first part is none of
/// these is not a setting and is left alone.
const SECTIONS: &[&str] = &[
    "server",
    "tls",
    "store",
    "security",
    "log",
    "apprec",
    "validation",
    "registry",
    "routing",
    "delivery",
    "systems",
    "ui",
    "flow",
    "retention",
];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request body, in bytes (default 35 MiB, the national limit).
    pub max_body_bytes: usize,
    /// Time allowed for one request, from its first byte to the answer
    /// (reading the body included: a body sent too slowly gets 408).
    pub request_timeout_secs: u64,
    /// Time allowed to read a request's headers (slow clients), and the
    /// longest a connection may go without a request in progress.
    pub header_timeout_secs: u64,
    /// Open connections at most; further clients wait in the kernel's queue.
    pub max_connections: usize,
    /// Time given to in-flight requests after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: overgang_xml::Limits::DEFAULT_MAX_BYTES,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            max_connections: 1024,
            shutdown_grace_secs: 30,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file: the server's certificate chain.
    pub cert: PathBuf,
    /// PEM file: the server's private key.
    pub key: PathBuf,
    /// PEM file of CA certificates; when set, clients may present a
    /// certificate (mutual TLS), and a system whose `client_cert_subject`
    /// matches it is authenticated without a token.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Which store backend keeps the messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded store: one file set under `data`, one gateway node.
    #[default]
    Sqlite,
    /// A shared PostgreSQL database at `url`: one or several nodes.
    Postgres,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (default) or `postgres`.
    pub kind: StoreKind,
    /// Directory of the embedded store (`kind = "sqlite"`).
    pub data: PathBuf,
    /// Commit concurrent requests together (one fsync for many messages).
    pub group_commit: bool,
    /// Most messages in one group.
    pub max_batch: usize,
    /// While the embedded store's writer is busy, groups are committed at
    /// most this often (milliseconds) and take what came meanwhile: fewer,
    /// larger commits, fewer fsyncs, for at most this much more latency.
    /// A lone client is never held back. 0: commit at once; at most 1000
    /// (more is taken as 1000).
    pub commit_spacing_ms: u64,
    /// The PostgreSQL database (`kind = "postgres"`), e.g.
    /// `postgres://overgang@db.example:5432/overgang?sslmode=require`. It
    /// may hold a password: keep it out of the file
    /// (`OVERGANG_STORE__URL`).
    pub url: Option<String>,
    /// Connections to PostgreSQL this node keeps at most.
    pub pool_size: usize,
    /// This node's name in delivery leases (`kind = "postgres"`); default:
    /// the host name and process id. Give each node its own.
    pub node_id: Option<String>,
    /// How long a node's claim on a delivery holds (`kind = "postgres"`):
    /// when a node dies mid-delivery, another node takes the delivery over
    /// after this. Longer than `delivery.timeout_secs`.
    pub lease_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Sqlite,
            data: PathBuf::from("data"),
            group_commit: true,
            max_batch: 256,
            commit_spacing_ms: u64::try_from(
                overgang_store::sqlite::DEFAULT_COMMIT_SPACING.as_millis(),
            )
            .unwrap_or(u64::MAX),
            url: None,
            pool_size: 16,
            node_id: None,
            lease_secs: 120,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Key for the keyed hash (HMAC-SHA-256) under which patient ids are
    /// indexed: at least 32 bytes, given as hex. Keep it out of the file
    /// (`OVERGANG_SECURITY__PATIENT_KEY`).
    pub patient_key: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `overgang_server=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppRecConfig {
    /// `1.1` (default) or `1.0`.
    pub version: String,
    /// Answer messages with warnings with status 3 and list the warnings.
    pub status3_for_warnings: bool,
}

impl Default for AppRecConfig {
    fn default() -> Self {
        AppRecConfig {
            version: "1.1".into(),
            status3_for_warnings: false,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    /// Deployment rule files applied on top of the built-in catalogue.
    pub rules: Vec<PathBuf>,
    /// Deepest element nesting accepted (default 100).
    pub max_depth: Option<usize>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// The address registry file (HER-id → party), `docs/REGISTRY.md`.
    pub file: Option<PathBuf>,
    /// How often to look whether the file changed, in seconds (it is then
    /// reloaded); 0: never (SIGHUP and the admin API still reload).
    pub poll_secs: u64,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            file: None,
            poll_secs: 5,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowSettings {
    /// The flow rules file (`config/flow.toml`'s format); none: the rules
    /// Overgang ships (`config/flow.toml`, built in).
    pub file: Option<PathBuf>,
    /// Messages received this many days back make up the flow the pages
    /// and metrics show (stays longer than this are cut at its start).
    pub window_days: u64,
    /// Where overdue expected messages are announced (a JSON POST per item
    /// that became overdue or cleared); none: no webhook. https, or plain
    /// http only to loopback. docs/FLOW.md, "Webhook".
    pub webhook_url: Option<String>,
    /// How often the webhook notifier looks, in seconds.
    pub webhook_every_secs: u64,
    /// A file holding the bearer token sent to the webhook (read at each
    /// run, so it can be rotated); none: no `Authorization` header.
    pub webhook_token_file: Option<PathBuf>,
}

impl Default for FlowSettings {
    fn default() -> Self {
        FlowSettings {
            file: None,
            window_days: 120,
            webhook_url: None,
            webhook_every_secs: 300,
            webhook_token_file: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// The users file (`overgang users add`): people, their Argon2id
    /// password hashes and roles. No file: nobody can log in.
    pub users: Option<PathBuf>,
    /// A session ends after this long without a request, in minutes.
    pub session_idle_mins: u64,
    /// A session ends this long after login whatever happens, in hours.
    pub session_max_hours: u64,
    /// Failed logins allowed per user name (and ten times that per client
    /// address) in `login_window_mins` before further tries are refused.
    pub login_failures: u32,
    pub login_window_mins: u64,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            users: None,
            session_idle_mins: 30,
            session_max_hours: 12,
            login_failures: 5,
            login_window_mins: 15,
        }
    }
}

/// `[retention]`: days are counted from a message's last change; 0 (the
/// default) keeps forever. Messages queued, in flight, dead-lettered,
/// accepted but not yet routed, or held (an open stay) are never deleted,
/// whatever is configured; there is no key for those states.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionDays {
    pub acknowledged: u32,
    pub delivered: u32,
    pub rejected: u32,
    pub rejected_by_receiver: u32,
    pub cancelled: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days per message state (`[retention.days]`).
    pub days: RetentionDays,
    /// Days an access log entry is kept; 0 (the default): forever. The
    /// law and the data processing agreements decide, not the gateway.
    pub access_log_days: u32,
    /// How often the sweeper deletes what has expired, in minutes; 0: never.
    pub sweep_every_mins: u64,
    /// Messages (or access log entries) deleted per transaction, so that
    /// intake never waits long behind a sweep.
    pub batch: u32,
    /// How often free pages are given back to the file system, in
    /// minutes; 0: never.
    pub vacuum_every_mins: u64,
    /// Pages given back per step (8 KiB each on a database this program
    /// created).
    pub vacuum_pages: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: RetentionDays::default(),
            access_log_days: 0,
            sweep_every_mins: 60,
            batch: 500,
            vacuum_every_mins: 10,
            vacuum_pages: 1024,
        }
    }
}

impl RetentionConfig {
    /// The store's rules, one per state with days (0 days: none).
    pub fn rules(&self) -> Vec<overgang_store::RetentionRule> {
        use overgang_store::{RetentionRule, State};
        let d = &self.days;
        [
            (State::Acknowledged, d.acknowledged),
            (State::Delivered, d.delivered),
            (State::Rejected, d.rejected),
            (State::RejectedByReceiver, d.rejected_by_receiver),
            (State::Cancelled, d.cancelled),
        ]
        .into_iter()
        .filter(|(_, days)| *days > 0)
        .map(|(state, days)| RetentionRule { state, days })
        .collect()
    }

    /// Whether anything is ever deleted.
    pub fn deletes(&self) -> bool {
        !self.rules().is_empty() || self.access_log_days > 0
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// A short name, used in logs and in the message history.
    pub name: String,
    /// The PHC string of the system's token hashed with Argon2id
    /// (`overgang token hash` prints one); never the token itself.
    #[serde(default)]
    pub token_hash: Option<String>,
    /// The subject of the client certificate that authenticates this system
    /// under mutual TLS, e.g. `CN=ehr.example.no,O=Example HF`.
    #[serde(default)]
    pub client_cert_subject: Option<String>,
    /// HER-ids the system may send as (organisation or unit). `"*"` means any
    /// party and is allowed only on a loopback address (the demo).
    #[serde(default)]
    pub may_send_as: Vec<String>,
    /// May read every message's metadata (operators' tools) and scrape
    /// `GET /metrics`; otherwise a system sees the messages it posted.
    #[serde(default)]
    pub may_read_all: bool,
    /// May use the admin API (e.g. `POST /api/v1/admin/registry/reload`).
    #[serde(default)]
    pub admin: bool,
}

impl Config {
    /// Reads `path` (or the defaults when `None`) and applies the
    /// environment `env` (pairs of name and value).
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ServerError> {
        let mut root = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ServerError::Config {
                    place: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| ServerError::Config {
                    place: p.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        let mut ignored_env = Vec::new();
        for (name, value) in vars {
            let first = name[ENV_PREFIX.len()..]
                .split("__")
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if SECTIONS.contains(&first.as_str()) {
                apply_env(&mut root, &name, &value)?;
            } else {
                ignored_env.push(name);
            }
        }
        let place = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "configuration".into());
        let mut config: Config =
            toml::Value::Table(root)
                .try_into()
                .map_err(|e: toml::de::Error| ServerError::Config {
                    place: place.clone(),
                    reason: e.to_string(),
                })?;
        config.ignored_env = ignored_env;
        // Relative paths in the file are relative to the file's folder.
        if let Some(base) = path.and_then(Path::parent) {
            config.resolve_paths(base);
        }
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        if let Some(t) = &mut self.tls {
            fix(&mut t.cert);
            fix(&mut t.key);
            if let Some(ca) = &mut t.client_ca {
                fix(ca);
            }
        }
        self.validation.rules.iter_mut().for_each(fix);
        if let Some(f) = &mut self.registry.file {
            fix(f);
        }
        if let Some(f) = &mut self.ui.users {
            fix(f);
        }
        if let Some(f) = &mut self.flow.file {
            fix(f);
        }
        if let Some(f) = &mut self.flow.webhook_token_file {
            fix(f);
        }
    }

    /// Refuses settings that would be unsafe or cannot work: plain HTTP or a
    /// `"*"` sender beyond loopback, a short patient key, a system without a
    /// way to authenticate.
    pub fn check(&self) -> Result<(), ServerError> {
        let bad = |place: &str, reason: String| ServerError::Config {
            place: place.into(),
            reason,
        };
        let loopback = self.server.listen.ip().is_loopback();
        if self.tls.is_none() && !loopback {
            return Err(bad(
                "server.listen",
                format!(
                    "plain HTTP is allowed only on a loopback address; configure [tls] cert and key to listen on {}",
                    self.server.listen
                ),
            ));
        }
        match self.store.kind {
            StoreKind::Sqlite => {}
            StoreKind::Postgres => {
                if self.store.url.as_deref().unwrap_or("").is_empty() {
                    return Err(bad(
                        "store.url",
                        "is required with store.kind = \"postgres\" (or OVERGANG_STORE__URL)"
                            .into(),
                    ));
                }
                if self.store.pool_size == 0 {
                    return Err(bad("store.pool_size", "must be at least 1".into()));
                }
                if self.store.lease_secs <= self.delivery.timeout_secs {
                    return Err(bad(
                        "store.lease_secs",
                        format!(
                            "is {} s, not longer than delivery.timeout_secs ({} s): another node could take over an attempt still under way",
                            self.store.lease_secs, self.delivery.timeout_secs
                        ),
                    ));
                }
            }
        }
        if self.server.max_connections == 0 {
            return Err(bad("server.max_connections", "must be at least 1".into()));
        }
        if self.retention.deletes() && self.retention.sweep_every_mins == 0 {
            return Err(bad(
                "retention.sweep_every_mins",
                "is 0 (never) while retention days are set; nothing would be deleted".into(),
            ));
        }
        if let Some(url) = &self.flow.webhook_url {
            overgang_registry::parse_endpoint(url).map_err(|r| bad("flow.webhook_url", r))?;
            if self.flow.webhook_every_secs == 0 {
                return Err(bad(
                    "flow.webhook_every_secs",
                    "must be at least 1 while flow.webhook_url is set".into(),
                ));
            }
        } else if self.flow.webhook_token_file.is_some() {
            return Err(bad(
                "flow.webhook_token_file",
                "is set without flow.webhook_url".into(),
            ));
        }
        if self.retention.batch == 0 {
            return Err(bad("retention.batch", "must be at least 1".into()));
        }
        if self.server.max_body_bytes == 0 {
            return Err(bad("server.max_body_bytes", "must be at least 1".into()));
        }
        match self.apprec.version.as_str() {
            "1.0" | "1.1" => {}
            v => {
                return Err(bad(
                    "apprec.version",
                    format!("must be \"1.0\" or \"1.1\", not {v:?}"),
                ))
            }
        }
        if let Some(k) = &self.security.patient_key {
            crate::patient::PatientKey::from_hex(k)
                .map_err(|r| bad("security.patient_key", r.into()))?;
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.systems.iter().enumerate() {
            let place = format!("systems[{i}] ({})", s.name);
            if s.name.trim().is_empty() {
                return Err(bad(&place, "a system needs a name".into()));
            }
            if !names.insert(s.name.as_str()) {
                return Err(bad(&place, "two systems have this name".into()));
            }
            if s.token_hash.is_none() && s.client_cert_subject.is_none() {
                return Err(bad(
                    &place,
                    "needs token_hash or client_cert_subject to authenticate".into(),
                ));
            }
            if let Some(h) = &s.token_hash {
                if argon2::PasswordHash::new(h).is_err() {
                    return Err(bad(
                        &place,
                        "token_hash is not a PHC string (use `overgang token hash`)".into(),
                    ));
                }
            }
            if s.client_cert_subject.is_some()
                && self
                    .tls
                    .as_ref()
                    .and_then(|t| t.client_ca.as_ref())
                    .is_none()
            {
                return Err(bad(
                    &place,
                    "client_cert_subject needs [tls] client_ca (mutual TLS)".into(),
                ));
            }
            if s.may_send_as.iter().any(|h| h == "*") && !loopback {
                return Err(bad(
                    &place,
                    "may_send_as = \"*\" (any party) is allowed only on a loopback address".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Sets the key `OVERGANG_A__B__C` names (`a.b.c`) to `value`.
fn apply_env(root: &mut toml::Table, name: &str, value: &str) -> Result<(), ServerError> {
    let rest = &name[ENV_PREFIX.len()..];
    let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(ServerError::Config {
            place: name.into(),
            reason: "empty key in the variable's name".into(),
        });
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let (last, parents) = keys.split_last().ok_or_else(|| ServerError::Config {
        place: name.into(),
        reason: "no key".into(),
    })?;
    let mut table = root;
    for k in parents {
        let entry = table
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ServerError::Config {
                    place: name.into(),
                    reason: format!("{k} is not a section"),
                })
            }
        };
    }
    table.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.max_body_bytes, 35 * 1024 * 1024);
        assert!(c.store.group_commit);
        c.check().unwrap();
    }

    #[test]
    fn environment_overrides_every_section() {
        let c = Config::load(
            None,
            env(&[
                ("OVERGANG_SERVER__LISTEN", "127.0.0.1:9999"),
                ("OVERGANG_STORE__GROUP_COMMIT", "false"),
                ("OVERGANG_STORE__DATA", "/tmp/x"),
                ("OVERGANG_SECURITY__PATIENT_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
                ("OVERGANG_SYSTEMS", r#"[{ name = "a", token_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$1uW6ZClnkPzuvVPuc3jASw6Y0BF8ihyu5aFZAaKpfMI", may_send_as = ["1"] }]"#),
                ("UNRELATED", "x"),
                ("OVERGANG_DIFF_SCALE", "all"),
            ]),
        )
        .unwrap();
        assert_eq!(c.ignored_env, vec!["OVERGANG_DIFF_SCALE".to_string()]);
        assert_eq!(c.server.listen.port(), 9999);
        assert!(!c.store.group_commit);
        assert_eq!(c.store.data, PathBuf::from("/tmp/x"));
        assert_eq!(c.systems.len(), 1);
        c.check().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = Config::load(None, env(&[("OVERGANG_SERVER__LISTNE", "x")])).unwrap_err();
        assert!(e.to_string().contains("listne"), "{e}");
    }

    #[test]
    fn the_flow_webhook_is_https_or_loopback() {
        let load = |url: &str| {
            Config::load(None, env(&[("OVERGANG_FLOW__WEBHOOK_URL", url)]))
                .unwrap()
                .check()
        };
        load("https://alerts.example.no/hook").unwrap();
        load("http://127.0.0.1:9000/hook").unwrap();
        let e = load("http://alerts.example.no/hook")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("flow.webhook_url") && e.contains("loopback"),
            "{e}"
        );
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.flow.webhook_every_secs, 300);
        assert!(c.flow.webhook_url.is_none());
        let e = Config::load(None, env(&[("OVERGANG_FLOW__WEBHOOK_TOKEN_FILE", "/t")]))
            .unwrap()
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("webhook_token_file"), "{e}");
    }

    #[test]
    fn plain_http_beyond_loopback_is_refused() {
        let c = Config::load(None, env(&[("OVERGANG_SERVER__LISTEN", "0.0.0.0:8080")])).unwrap();
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
    }

    #[test]
    fn any_sender_beyond_loopback_is_refused() {
        let mut c = Config::load(None, env(&[])).unwrap();
        c.systems.push(SystemConfig {
            name: "demo".into(),
            token_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$1uW6ZClnkPzuvVPuc3jASw6Y0BF8ihyu5aFZAaKpfMI".into()),
            client_cert_subject: None,
            may_send_as: vec!["*".into()],
            may_read_all: false,
            admin: false,
        });
        c.check().unwrap();
        c.server.listen = "10.0.0.1:443".parse().unwrap();
        c.tls = Some(TlsConfig {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            client_ca: None,
        });
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
    }

    #[test]
    fn a_token_in_clear_is_refused() {
        let mut c = Config::load(None, env(&[])).unwrap();
        c.systems.push(SystemConfig {
            name: "x".into(),
            token_hash: Some("demo-ehr-token".into()),
            client_cert_subject: None,
            may_send_as: vec![],
            may_read_all: false,
            admin: false,
        });
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("PHC"), "{e}");
    }

    #[test]
    fn a_short_patient_key_is_refused() {
        let c = Config::load(None, env(&[("OVERGANG_SECURITY__PATIENT_KEY", "abcd")])).unwrap();
        assert!(c.check().is_err());
    }

    #[test]
    fn retention_keeps_everything_unless_configured() {
        let c = Config::load(None, env(&[])).unwrap();
        assert!(c.retention.rules().is_empty());
        assert!(!c.retention.deletes());
        assert_eq!(c.retention.access_log_days, 0);
        c.check().unwrap();
    }

    #[test]
    fn retention_days_per_state_from_the_file_and_the_environment() {
        use overgang_store::{RetentionRule, State};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[retention]\naccess_log_days = 3650\nsweep_every_mins = 30\n\
             [retention.days]\nacknowledged = 90\ndelivered = 90\nrejected = 30\n\
             rejected_by_receiver = 0\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&p),
            env(&[("OVERGANG_RETENTION__DAYS__CANCELLED", "60")]),
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.retention.access_log_days, 3650);
        assert_eq!(c.retention.sweep_every_mins, 30);
        assert_eq!(c.retention.vacuum_pages, 1024);
        let rule = |state, days| RetentionRule { state, days };
        assert_eq!(
            c.retention.rules(),
            vec![
                rule(State::Acknowledged, 90),
                rule(State::Delivered, 90),
                rule(State::Rejected, 30),
                rule(State::Cancelled, 60),
            ]
        );
    }

    #[test]
    fn the_example_configuration_reads_and_keeps_everything() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/overgang.example.toml");
        let c = Config::load(Some(&example), env(&[])).unwrap();
        assert!(!c.retention.deletes());
        assert_eq!(c.retention, RetentionConfig::default());
    }

    #[test]
    fn retention_of_open_states_cannot_be_configured() {
        for key in ["QUEUED", "DELIVERING", "DEAD_LETTERED", "ACCEPTED", "HELD"] {
            let var = format!("OVERGANG_RETENTION__DAYS__{key}");
            let e = Config::load(None, env(&[(&var, "1")])).unwrap_err();
            assert!(
                e.to_string().contains(&key.to_ascii_lowercase()),
                "{key}: {e}"
            );
        }
        let c = Config::load(
            None,
            env(&[
                ("OVERGANG_RETENTION__DAYS__REJECTED", "30"),
                ("OVERGANG_RETENTION__SWEEP_EVERY_MINS", "0"),
            ]),
        )
        .unwrap();
        assert!(c.check().is_err());
    }

    #[test]
    fn paths_in_the_file_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[registry]\nfile = \"registry/demo.toml\"\n").unwrap();
        let c = Config::load(Some(&p), env(&[])).unwrap();
        assert_eq!(
            c.registry.file.unwrap(),
            dir.path().join("registry/demo.toml")
        );
    }
}
