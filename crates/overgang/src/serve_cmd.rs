//! `overgang serve`: the long-running gateway, and `overgang token`: make
//! sender tokens and their hashes for the configuration.

use anyhow::{Context, Result};
use overgang_server::config::LogFormat;
use overgang_server::{Config, Gateway};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (TOML). Every setting can also come from an
    /// environment variable, e.g. `OVERGANG_SERVER__LISTEN`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `[server] listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory of the embedded store (overrides `[store] data`).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Also start a simulated receiver (behaviour ok) on every loopback
    /// address the address registry delivers to (docs/SIMULATOR.md).
    /// Refused when any endpoint is not plain http on loopback.
    #[arg(long)]
    demo: bool,
    /// Check the configuration and the files it names (TLS, rule files,
    /// address registry, users, flow rules), print `OK` or what is wrong,
    /// and exit (0 usable, 2 not) without starting anything.
    #[arg(long, conflicts_with = "demo")]
    check: bool,
}

pub fn serve(args: Args) -> Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(l) = args.listen {
        config.server.listen = l;
    }
    if let Some(d) = args.data {
        config.store.data = d;
    }
    if args.check {
        return check(&config, args.config.as_deref());
    }
    let demo = if args.demo {
        Some(crate::demo::plan(config.registry.file.as_deref())?)
    } else {
        None
    };
    init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    runtime.block_on(async move {
        let (gateway, warnings) = Gateway::start(&config).await?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        let simulators = match (demo, gateway.local_addr()) {
            (Some(plan), Some(a)) => {
                let url = crate::demo::gateway_url(gateway.scheme(), a)?;
                Some(crate::demo::bind(plan, url).await?)
            }
            _ => None,
        };
        let addr = gateway
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        // One line on standard output for people and scripts.
        println!("overgang: listening on {}://{addr}", gateway.scheme());
        if let Some(s) = &simulators {
            s.print();
        }
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, data = %config.store.data.display(), "gateway started");
        match simulators {
            None => gateway.run(shutdown_signal()).await?,
            Some(s) => s.run_beside(gateway, shutdown_signal()).await?,
        }
        tracing::info!("gateway stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `serve --check`: what `Gateway::start` reads and refuses before it
/// opens the store or a socket.
fn check(config: &Config, path: Option<&std::path::Path>) -> Result<ExitCode> {
    config.check()?;
    if let Some(tls) = &config.tls {
        overgang_server::listener::tls_config(&tls.cert, &tls.key, tls.client_ca.as_deref())?;
    }
    let mut rule_files = Vec::new();
    for p in &config.validation.rules {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("{}: could not read the rule file", p.display()))?;
        rule_files.push((p.display().to_string(), text));
    }
    overgang_validate::Validator::new(overgang_validate::Options {
        limits: overgang_xml::Limits::default(),
        rule_files,
    })?;
    config
        .routing
        .check()
        .map_err(|e| anyhow::anyhow!("routing: {e}"))?;
    let parties = match &config.registry.file {
        Some(f) => overgang_server::registry::read(f)
            .map_err(anyhow::Error::msg)?
            .len(),
        None => 0,
    };
    overgang_server::ui::people::LocalUsers::open(config.ui.users.as_deref())?;
    overgang_server::flow::load_config(&config.flow)?;
    for v in &config.ignored_env {
        eprintln!("overgang: environment variable {v} names no setting; ignored");
    }
    let name = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "configuration".into());
    println!(
        "{name}: OK (listen {}://{}, {parties} parties in the registry, {} systems)",
        if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
        config.server.listen,
        config.systems.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn init_logging(config: &Config) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("log.level {:?}", config.log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    }
    .map_err(|e| anyhow::anyhow!("logging: {e}"))
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Make a new random token and print it with its hash (for `token_hash`).
    New,
    /// Read a token from standard input and print its Argon2id hash.
    Hash,
}

pub fn token(cmd: TokenCommand) -> Result<ExitCode> {
    match cmd {
        TokenCommand::New => {
            let t = overgang_server::auth::new_token();
            let h = overgang_server::auth::hash_token(&t).map_err(anyhow::Error::msg)?;
            println!("token       = {t}");
            println!("token_hash  = \"{h}\"");
            eprintln!(
                "Give the token to the sender system; put only token_hash in the configuration."
            );
        }
        TokenCommand::Hash => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let t = line.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!t.is_empty(), "no token on standard input");
            let h = overgang_server::auth::hash_token(t).map_err(anyhow::Error::msg)?;
            println!("{h}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
