//! `overgang rules list` and `overgang rules check`.

use crate::RuleArgs;
use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use overgang_rules::{Catalogue, CheckSpec, RuleInfo};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Command {
    /// Print the effective catalogue: the default rules with any rule files applied.
    List(ListArgs),
    /// Check rule files: each is read on top of the default catalogue, as
    /// `overgang validate --rules FILE` would. Exit 0 when all are usable, 1 when not.
    Check(CheckArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Rule files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::List(a) => list(a),
        Command::Check(a) => check(a),
    }
}

fn list(args: ListArgs) -> Result<ExitCode> {
    let files = args.rules.read()?;
    let cat = Catalogue::builtin_with(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
    let infos: Vec<&RuleInfo> = cat.rules().iter().map(|r| r.info()).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &infos)?;
            writeln!(out)?;
        }
        Format::Text => {
            for i in &infos {
                write_rule(&mut out, i)?;
            }
            let enabled = infos.iter().filter(|i| i.enabled).count();
            writeln!(
                out,
                "{} regler, {} i bruk / {} rules, {} enabled",
                infos.len(),
                enabled,
                infos.len(),
                enabled
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_rule(out: &mut impl Write, i: &RuleInfo) -> Result<()> {
    let state = if i.enabled { "" } else { "  [av / disabled]" };
    writeln!(out, "{}  {}  {}{state}", i.id, i.severity, i.category)?;
    let all = |v: &[String]| {
        if v.is_empty() {
            "*".to_owned()
        } else {
            v.join(", ")
        }
    };
    writeln!(
        out,
        "  gjelder / applies to: {} (versjon / version {})",
        all(&i.messages),
        all(&i.versions)
    )?;
    if let Some(p) = &i.precondition {
        writeln!(out, "  forutsetning / precondition: {}", describe(p))?;
    }
    if let Some(f) = &i.for_each {
        writeln!(out, "  for hver / for each: {f}")?;
    }
    if let Some(w) = &i.when {
        writeln!(out, "  når / when: {}", describe(w))?;
    }
    writeln!(out, "  krav / check: {}", describe(&i.check))?;
    writeln!(out, "  nb: {}", i.text_nb)?;
    writeln!(out, "  en: {}", i.text_en)?;
    if let Some(a) = &i.apprec_error {
        writeln!(out, "  AppRec: {a}")?;
    }
    writeln!(out, "  kilde / source: {}", i.source)?;
    writeln!(out, "  definert / defined: {}", i.defined_at)?;
    for o in &i.overridden_at {
        writeln!(out, "  endret / overridden: {o}")?;
    }
    writeln!(out)?;
    Ok(())
}

fn describe(c: &CheckSpec) -> String {
    match c {
        CheckSpec::Present(s)
        | CheckSpec::Absent(s)
        | CheckSpec::HasTime(s)
        | CheckSpec::NationalId(s)
        | CheckSpec::HabitualBaseline(s)
        | CheckSpec::HabitualBaselineAny(s)
        | CheckSpec::CodesInTheirLists(s) => format!("{} {s}", c.kind()),
        CheckSpec::Count { select, min, max } => {
            let b = |x: &Option<u32>| x.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
            format!("count {select} in {}..{}", b(min), b(max))
        }
        CheckSpec::InCodelist { select, list } => format!("in_codelist {select} (list {list})"),
        CheckSpec::InSet { select, values } => format!("in_set {select} ({})", values.join(", ")),
        CheckSpec::Matches { select, pattern } => format!("matches {select} /{pattern}/"),
        CheckSpec::DateOrder { first, then } => format!("date_order {first} <= {then}"),
    }
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    let mut bad = false;
    for path in &args.files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: could not read the rule file", path.display()))?;
        let name = path.display().to_string();
        // A default file checked on its own is checked in place of itself.
        let defaults = Catalogue::builtin_files()
            .iter()
            .copied()
            .filter(|(_, t)| *t != text);
        match Catalogue::load(defaults.chain([(name.as_str(), text.as_str())])) {
            Ok(cat) => {
                let n = cat
                    .rules()
                    .iter()
                    .filter(|r| r.info().defined_at.starts_with(&format!("{name}:")))
                    .count();
                println!("{name}: OK ({n} regler / rules)");
            }
            Err(e) => {
                println!("{e}");
                bad = true;
            }
        }
    }
    Ok(ExitCode::from(u8::from(bad)))
}
