//! `overgang registry check FILE...`: checks address registry files as the
//! gateway would load them (docs/REGISTRY.md).

use anyhow::Result;
use clap::Subcommand;
use overgang_registry::Registry;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Command {
    /// Check registry files. Prints `OK: N parties` for a usable file, else
    /// every problem with file and line. Exit 0 when all are usable, 1 when
    /// not, 2 when a file cannot be read.
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Registry files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Check(a) => check(a),
    }
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    crate::check_files(&args.files, "registry file", |name, text| {
        Registry::parse(name, text)
            .map(|r| format!(": {} parties", r.len()))
            .map_err(|e| e.to_string())
    })
}
