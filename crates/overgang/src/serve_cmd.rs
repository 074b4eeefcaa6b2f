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
}

pub fn serve(args: Args) -> Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(l) = args.listen {
        config.server.listen = l;
    }
    if let Some(d) = args.data {
        config.store.data = d;
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
