//! `overgang apprec`. (Wired to the AppRec builder when it lands.)

use crate::LimitArgs;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// AppRec version to produce.
    #[arg(long = "version", value_name = "VERSION", default_value = "1.1", value_parser = ["1.0", "1.1"])]
    apprec_version: String,
    #[command(flatten)]
    limits: LimitArgs,
    /// The message to answer (`-` for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(_args: Args) -> Result<ExitCode> {
    anyhow::bail!("apprec: not wired yet")
}
