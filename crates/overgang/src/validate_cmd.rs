//! `overgang validate`.

use crate::output::{self, FileReport};
use crate::{LangArg, LimitArgs, RuleArgs};
use anyhow::Result;
use clap::ValueEnum;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// For people: one block per file.
    Text,
    /// For machines: an array with one object per file.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Language of finding texts in text output (JSON carries both).
    #[arg(long, value_enum, default_value_t = LangArg::Nb)]
    lang: LangArg,
    /// Colour in text output: auto (when writing to a terminal and NO_COLOR is unset), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Files or directories to validate; `-` reads one message from standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let validator = crate::validator(&args.limits, &args.rules)?;

    let mut io_errors = false;
    let mut inputs: Vec<PathBuf> = Vec::new();
    for p in &args.paths {
        if let Err(e) = collect(p, &mut inputs) {
            eprintln!("overgang: {}: {e}", p.display());
            io_errors = true;
        }
    }

    let stdout = std::io::stdout();
    let colour = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut reports = Vec::new();
    let mut tally = output::Tally::default();
    for path in &inputs {
        let bytes = match read_input(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("overgang: {}: {e}", path.display());
                io_errors = true;
                continue;
            }
        };
        let report = validator.validate(&bytes);
        tally.add(report.verdict);
        let file = FileReport::new(path, &report);
        match args.format {
            Format::Text => output::write_text(&mut out, &file, args.lang.into(), colour)?,
            Format::Json => reports.push(file),
        }
    }
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &reports)?;
        writeln!(out)?;
    } else if tally.total() > 1 {
        output::write_summary(&mut out, &tally, args.lang.into(), colour)?;
    }
    out.flush()?;
    Ok(ExitCode::from(if io_errors {
        2
    } else if tally.rejected > 0 {
        1
    } else {
        0
    }))
}

/// Expands directories into their `*.xml` files (sorted, recursively); keeps
/// files and `-` as given.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect(&e, out)?;
        } else if e.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")) {
            out.push(e);
        }
    }
    Ok(())
}

fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(path)?;
    }
    Ok(bytes)
}
