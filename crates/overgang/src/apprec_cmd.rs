//! `overgang apprec`: print the application receipt that answers a message.

use crate::{LimitArgs, RuleArgs};
use anyhow::{Context, Result};
use overgang_apprec::{AppRecOptions, AppRecVersion, NewReceipt};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    /// AppRec version to produce.
    #[arg(long = "version", value_name = "VERSION", default_value = "1.1", value_parser = ["1.0", "1.1"])]
    apprec_version: String,
    /// Answer warnings with status 3 ("OK with errors in part") and list them;
    /// by default warnings give status 1.
    #[arg(long)]
    status3_for_warnings: bool,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// The message to answer (`-` for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().lock().read_to_end(&mut b)?;
        b
    } else {
        std::fs::read(&args.file).with_context(|| args.file.display().to_string())?
    };
    let validator = crate::validator(&args.limits, &args.rules)?;
    let report = validator.validate(&bytes);
    let msg_id = uuid::Uuid::new_v4().to_string();
    let gen_date = xs_datetime_utc(SystemTime::now());
    let opts = AppRecOptions {
        version: if args.apprec_version == "1.0" {
            AppRecVersion::V1_0
        } else {
            AppRecVersion::V1_1
        },
        status3_for_warnings: args.status3_for_warnings,
        software_name: Some("Overgang".to_owned()),
        software_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        ..AppRecOptions::default()
    };
    let receipt = overgang_apprec::build(
        &report.message,
        &report.findings,
        &NewReceipt {
            msg_id: &msg_id,
            gen_date: &gen_date,
        },
        &opts,
    )
    .context("could not build the AppRec")?;
    let mut out = std::io::stdout().lock();
    out.write_all(receipt.xml.as_bytes())?;
    if !receipt.xml.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `time` as an xs:dateTime in UTC, to the second (`2026-11-23T17:05:09Z`).
fn xs_datetime_utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    overgang_server::timefmt::xs_datetime(secs)
}
