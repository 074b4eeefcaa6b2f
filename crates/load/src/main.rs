//! `overgang-load`: load generator for Overgang's intake API (see README.md).
//!
//! Exit codes: 0 the run completed with at most 1% failed requests; 1 more
//! than 1% failed (or none was made); 2 usage error (arguments, target not on
//! loopback, unusable template files).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use overgang_load::parse_duration;
use overgang_load::run::{self, Bound, Config, MAX_DURATION, MAX_REQUESTS, MAX_WARMUP};
use overgang_load::target::check_url;
use overgang_load::template::load_templates;

const USAGE_ERROR: u8 = 2;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Posts example MsgHead messages, each with a fresh MsgId, to a gateway on
/// this machine and reports durably acknowledged messages per second and
/// latency percentiles.
///
/// Only loopback targets are allowed (127.0.0.1, [::1], localhost). The
/// official PLO 1.6 examples are in ../shared/standards/examples/plo-1.6/.
#[derive(Debug, Parser)]
#[command(name = "overgang-load", version)]
struct Args {
    /// Base URL of the gateway; requests go to {url}/api/v1/messages.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,

    /// Bearer token of the sending system.
    #[arg(long)]
    token: String,

    /// Clients posting at the same time (1-1024).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,

    /// Stop after this many measured requests (at most 1,000,000).
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..=MAX_REQUESTS))]
    requests: Option<u64>,

    /// Stop after this long, warm-up not included (e.g. 30s, 2m; at most 10m). Default 10s.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Send for this long first without counting (e.g. 2s; at most 60s).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    warmup: Duration,

    /// Time limit of one request, from connecting to the last byte of the answer.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,

    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Worker threads of the load generator. It shares the machine with the
    /// gateway: one thread keeps it out of the gateway's way.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,

    /// PEM file of the CA that signed the gateway's certificate (https URLs).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,

    /// Speak HTTP/2 without negotiation (plain http).
    #[arg(long)]
    http2: bool,

    /// Send at this many requests per second in all (1-100000), spread
    /// evenly, rather than as fast as the clients can; give enough clients
    /// to keep the schedule.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: Option<u32>,

    /// Give the messages this many synthetic patients (valid national ids,
    /// round robin) instead of the examples' few, as real traffic has; 0
    /// keeps the examples' own.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    patients: u64,

    /// Example messages: files, or folders whose *.xml files are all taken.
    #[arg(required = true, value_name = "FILES_OR_DIRS")]
    paths: Vec<PathBuf>,
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("overgang-load: {message}");
    ExitCode::from(USAGE_ERROR)
}

fn main() -> ExitCode {
    let args = Args::parse();

    let target = match check_url(&args.url) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    let bound = match (args.requests, args.duration) {
        (Some(n), _) => Bound::Requests(n),
        (None, Some(d)) if d > MAX_DURATION => {
            return usage_error("--duration is at most 10m");
        }
        (None, Some(d)) if d.is_zero() => return usage_error("--duration must be above 0"),
        (None, Some(d)) => Bound::Duration(d),
        (None, None) => Bound::Duration(Duration::from_secs(10)),
    };
    if args.warmup > MAX_WARMUP {
        return usage_error("--warmup is at most 60s");
    }
    if args.timeout.is_zero() {
        return usage_error("--timeout must be above 0");
    }
    if target.base.scheme() == "http" && args.ca.is_some() {
        return usage_error("--ca is for https URLs");
    }
    let templates = match load_templates(&args.paths) {
        Ok(t) => t,
        Err(e) => return usage_error(format!("{e:#}")),
    };

    let config = Config {
        target,
        token: args.token,
        concurrency: usize::from(args.concurrency),
        bound,
        warmup: args.warmup,
        timeout: args.timeout,
        ca: args.ca,
        http2: args.http2,
        rate: args.rate.map(f64::from),
        patients: args.patients,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.threads))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(format!("cannot start the runtime: {e}")),
    };
    eprintln!(
        "overgang-load: {} template(s) to {} with {} clients, {}{}",
        templates.len(),
        config.target.messages_url(),
        config.concurrency,
        match bound {
            Bound::Requests(n) => format!("{n} requests"),
            Bound::Duration(d) => format!("for {:.1} s", d.as_secs_f64()),
        },
        if config.warmup.is_zero() {
            String::new()
        } else {
            format!(" after {:.1} s warm-up", config.warmup.as_secs_f64())
        }
    );
    let report = match runtime.block_on(run::run(&config, templates)) {
        Ok(r) => r,
        Err(e) => return usage_error(format!("{e:#}")),
    };
    match args.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", report.to_json()),
    }
    if report.failed_run() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
