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
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_xs_datetime_in_utc() {
        assert_eq!(xs_datetime_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661); // 2000-02-29 01:01:01
        assert_eq!(xs_datetime_utc(t), "2000-02-29T01:01:01Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(xs_datetime_utc(t), "2026-11-18T11:06:40Z");
    }
}
