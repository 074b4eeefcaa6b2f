//! `overgang`: the gateway's one binary.
//!
//! Subcommands: `serve` (the gateway), `validate` (for EHR vendors' CI and
//! for people), `apprec` (the receipt that answers a message), `rules` (the
//! effective completeness rule catalogue), `registry` (check address
//! registry files), `token` (sender tokens), `simulate` (a simulated
//! receiving system for tests and demos), `deliveries` (operators: the
//! delivery queues over the admin API), `users` (people who log in to
//! the web pages), `store` (the database's space, and the one-time switch
//! to incremental vacuum) and `flow` (patient flow over the store: rebuild
//! the facts, count the stays) and `healthcheck` (ask a running gateway's
//! `/healthz`: the container image's health check).

mod apprec_cmd;
mod deliveries_cmd;
mod demo;
mod flow_cmd;
mod health_cmd;
mod output;
mod registry_cmd;
mod rules_cmd;
mod serve_cmd;
mod simulate_cmd;
mod store_cmd;
mod users_cmd;
mod validate_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "overgang",
    version,
    about = "Overgang — validates, stores and routes PLO messages between hospitals, municipal care and GPs",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: HTTPS intake, durable store, immediate receipts.
    ///
    /// Stops cleanly on SIGTERM or Ctrl-C: no new connections, requests in
    /// flight finish, the store is closed.
    Serve(serve_cmd::Args),
    /// Make sender-system tokens and the hashes the configuration holds.
    #[command(subcommand)]
    Token(serve_cmd::TokenCommand),
    /// Validate messages: files, directories (every *.xml file below them), or `-` for standard input.
    ///
    /// Exit status: 0 when no message is rejected, 1 when any is, 2 on usage or IO errors.
    Validate(validate_cmd::Args),
    /// Print the application receipt (AppRec) that answers a message.
    Apprec(apprec_cmd::Args),
    /// Show the effective completeness rule catalogue, or check a rule file.
    #[command(subcommand)]
    Rules(rules_cmd::Command),
    /// Check address registry files (docs/REGISTRY.md).
    #[command(subcommand)]
    Registry(registry_cmd::Command),
    /// Simulated systems for end-to-end tests and demos (docs/SIMULATOR.md).
    #[command(subcommand)]
    Simulate(simulate_cmd::Command),
    /// Operators: the delivery queues — list, show, replay, cancel, alerts,
    /// stats — over the gateway's admin API (docs/API.md).
    ///
    /// Token: --token-file F or OVERGANG_TOKEN (an admin system's); gateway:
    /// --server URL or OVERGANG_URL. Exit status: 0 done, 1 an action
    /// refused or an unknown id, 2 usage, connection or authentication
    /// errors.
    #[command(subcommand)]
    Deliveries(deliveries_cmd::Command),
    /// People who log in to the web pages: add, passwd, list, remove
    /// (docs/UI.md). Passwords are read from standard input.
    #[command(subcommand)]
    Users(users_cmd::Command),
    /// The store's database: its space, the one-time switch of an older
    /// database to incremental vacuum (docs/RELIABILITY.md, Retention),
    /// and an online backup (docs/OPERATIONS.md).
    #[command(subcommand)]
    Store(store_cmd::Command),
    /// Patient flow over the store: `rebuild` recomputes every accepted
    /// message's flow fact, `stays` counts the stays (docs/FLOW.md). Prints
    /// counts only; safe beside a running gateway.
    #[command(subcommand)]
    Flow(flow_cmd::Command),
    /// Ask a running gateway's /healthz: exit 0 when it answers 2xx, 1 when
    /// not. The container image's health check (docker/Dockerfile).
    Healthcheck(health_cmd::Args),
}

/// Language of finding texts.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LangArg {
    /// Norwegian (bokmål)
    Nb,
    /// English
    En,
}

impl From<LangArg> for overgang_model::Lang {
    fn from(l: LangArg) -> Self {
        match l {
            LangArg::Nb => overgang_model::Lang::Nb,
            LangArg::En => overgang_model::Lang::En,
        }
    }
}

/// Limits on input, shared by the subcommands that read messages.
#[derive(clap::Args, Clone, Debug)]
pub struct LimitArgs {
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = overgang_xml::Limits::DEFAULT_MAX_BYTES, value_name = "BYTES")]
    pub max_bytes: usize,
    /// Deepest element nesting accepted.
    #[arg(long, default_value_t = overgang_xml::Limits::DEFAULT_MAX_DEPTH, value_name = "LEVELS")]
    pub max_depth: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> overgang_xml::Limits {
        overgang_xml::Limits {
            max_bytes: self.max_bytes,
            max_depth: self.max_depth,
            ..Default::default()
        }
    }
}

/// Deployment rule files, applied on top of the default catalogue.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RuleArgs {
    /// A rule file that adds rules, changes severities or disables rules
    /// (repeatable; applied in order on top of the default catalogue).
    #[arg(long = "rules", value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
}

impl RuleArgs {
    /// The files as `(name, text)`.
    pub fn read(&self) -> anyhow::Result<Vec<(String, String)>> {
        use anyhow::Context;
        self.files
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("{}: could not read the rule file", p.display()))?;
                Ok((p.display().to_string(), text))
            })
            .collect()
    }
}

/// The validator for the subcommands that read messages. A bad rule file is
/// an error that names the file, line and rule: nothing runs without it.
pub fn validator(
    limits: &LimitArgs,
    rules: &RuleArgs,
) -> anyhow::Result<overgang_validate::Validator> {
    let options = overgang_validate::Options {
        limits: limits.limits(),
        rule_files: rules.read()?,
    };
    Ok(overgang_validate::Validator::new(options)?)
}

/// glibc's allocator gives threads that allocate at the same time arenas
/// of their own, up to eight per core, and gives little of an arena's
/// memory back: under steady load the gateway's resident memory crept up by
/// about 10 kB per message in the soak (tests/soak.rs: 158 MB to 387 MB in
/// two minutes at 200 messages/s), and with two arenas it stayed near 190
/// MB. An operator's `MALLOC_ARENA_MAX` wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tuning parameter of glibc's
        // allocator, and runs before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Validate(args) => validate_cmd::run(args),
        Command::Apprec(args) => apprec_cmd::run(args),
        Command::Rules(cmd) => rules_cmd::run(cmd),
        Command::Registry(cmd) => registry_cmd::run(cmd),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Token(cmd) => serve_cmd::token(cmd),
        Command::Simulate(cmd) => simulate_cmd::run(cmd),
        Command::Deliveries(cmd) => deliveries_cmd::run(cmd),
        Command::Users(cmd) => users_cmd::run(cmd).map(ExitCode::from),
        Command::Store(cmd) => store_cmd::run(cmd),
        Command::Flow(cmd) => flow_cmd::run(cmd),
        Command::Healthcheck(args) => health_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("overgang: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `… check FILE...` for data files (rule files, registries): reads each
/// file, prints `NAME: OK …` (the `Ok` text) or the error `check` gives, and
/// exits 1 when any file is unusable; a file that cannot be read is an IO
/// error (exit 2). `what` names the kind of file in that error.
pub fn check_files(
    files: &[std::path::PathBuf],
    what: &str,
    mut check: impl FnMut(&str, &str) -> Result<String, String>,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let mut bad = false;
    for path in files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: could not read the {what}", path.display()))?;
        let name = path.display().to_string();
        match check(&name, &text) {
            Ok(ok) => println!("{name}: OK{ok}"),
            Err(e) => {
                println!("{e}");
                bad = true;
            }
        }
    }
    Ok(ExitCode::from(u8::from(bad)))
}
