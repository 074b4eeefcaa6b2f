//! `overgang simulate receiver`: a simulated receiving system on loopback,
//! for end-to-end tests and demos (crates/simulate, docs/SIMULATOR.md).

use anyhow::{Context, Result};
use overgang_simulate::{AppRecVersion, Behaviour, Receiver, ReceiverOptions, Url};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum Command {
    /// A simulated receiving system: answers delivered messages with
    /// application receipts (AppRec) as --behaviour says, until SIGINT or
    /// SIGTERM. Loopback addresses only.
    Receiver(ReceiverArgs),
}

#[derive(clap::Args)]
pub struct ReceiverArgs {
    /// Loopback address to listen on (port 0: a free port; the first line
    /// on standard output names the address).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// How to answer: ok | reject | warn | flaky:P (0.3 or 30%) | slow:MS |
    /// down | async | http:CODE | retry-after:SECS. Switchable at run time
    /// with `POST /_sim/behaviour`.
    #[arg(long, value_name = "B", default_value = "ok")]
    behaviour: Behaviour,
    /// The gateway's base URL: `async` posts receipts to
    /// URL/api/v1/apprecs.
    #[arg(long, value_name = "URL")]
    gateway: Option<Url>,
    /// Bearer token for posting receipts to the gateway.
    #[arg(long, value_name = "T", conflicts_with = "token_file")]
    token: Option<String>,
    /// File holding that token (first line).
    #[arg(long, value_name = "F")]
    token_file: Option<PathBuf>,
    /// Refuse (401) messages and receipts without `Authorization: Bearer`
    /// and the token in this file.
    #[arg(long, value_name = "F")]
    require_token_file: Option<PathBuf>,
    /// Seed for `flaky` (the same seed gives the same failures in the same
    /// order); default: from the clock, and logged.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// AppRec version to answer with.
    #[arg(long, value_name = "VERSION", default_value = "1.1", value_parser = ["1.0", "1.1"])]
    apprec_version: String,
    /// Wait between the 202 and posting the receipt (`async`), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    async_delay_ms: u64,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Receiver(a) => receiver(a),
    }
}

/// Reads a token file's first line; an empty one is an error.
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: kunne ikke lese / could not read", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    anyhow::ensure!(
        !token.is_empty(),
        "{}: filen har ingen token / the file holds no token",
        path.display()
    );
    Ok(token)
}

fn receiver(args: ReceiverArgs) -> Result<ExitCode> {
    // Checked here too, before anything starts, so the refusal is the first
    // and only thing the user sees.
    anyhow::ensure!(
        overgang_simulate::is_loopback(&args.listen),
        "{}",
        overgang_simulate::SimulateError::NotLoopback { addr: args.listen }
    );
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(f)) => Some(read_token(f)?),
        (None, None) => None,
    };
    let require_token = args
        .require_token_file
        .as_deref()
        .map(read_token)
        .transpose()?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut opts = ReceiverOptions::new(args.listen);
    opts.behaviour = args.behaviour;
    opts.gateway = args.gateway;
    opts.token = token;
    opts.require_token = require_token;
    opts.seed = seed;
    opts.apprec_version = if args.apprec_version == "1.0" {
        AppRecVersion::V1_0
    } else {
        AppRecVersion::V1_1
    };
    opts.async_delay = Duration::from_millis(args.async_delay_ms);
    init_logging()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    runtime.block_on(async move {
        let behaviour = opts.behaviour;
        let receiver = Receiver::bind(opts).await?;
        // One line on standard output for people and scripts.
        println!(
            "overgang: receiver simulator listening on {} (behaviour {behaviour})",
            receiver.url()
        );
        let _ = std::io::stdout().flush();
        tracing::info!(seed, "flaky seed (repeat a run with --seed)");
        receiver.run(crate::serve_cmd::shutdown_signal()).await?;
        tracing::info!("receiver simulator stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging() -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging: {e}"))
}
