//! `overgang rules list` and `overgang rules check`.

use crate::RuleArgs;
use anyhow::Result;
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
    /// The rule reference of docs/RULES.md (scripts/gen-rules-doc.sh).
    Markdown,
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
        Format::Markdown => {
            let texts: Vec<(&str, &str)> = Catalogue::builtin_files()
                .iter()
                .copied()
                .chain(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
                .collect();
            let extra: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
            out.write_all(markdown::reference(&infos, &texts, &extra).as_bytes())?;
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
    crate::check_files(&args.files, "rule file", |name, text| {
        // A default file checked on its own is checked in place of itself.
        let defaults = Catalogue::builtin_files()
            .iter()
            .copied()
            .filter(|(_, t)| *t != text);
        let cat = Catalogue::load(defaults.chain([(name, text)])).map_err(|e| e.to_string())?;
        let n = cat
            .rules()
            .iter()
            .filter(|r| r.info().defined_at.starts_with(&format!("{name}:")))
            .count();
        Ok(format!(" ({n} regler / rules)"))
    })
}

/// `rules list --format markdown`: the rule reference in docs/RULES.md,
/// grouped by the file each rule is defined in.
mod markdown {
    use overgang_codelists::CodeLists;
    use overgang_rules::{CheckSpec, RuleInfo};
    use std::fmt::Write;

    /// The reference for `infos`; `texts` are the rule files `(name, text)`
    /// (for each file's opening comment), `extra` the deployment files
    /// applied on top of the default catalogue.
    pub fn reference(infos: &[&RuleInfo], texts: &[(&str, &str)], extra: &[&str]) -> String {
        let lists = CodeLists::builtin();
        let mut files: Vec<(&str, Vec<&RuleInfo>)> = Vec::new();
        for i in infos {
            let file = i
                .defined_at
                .rsplit_once(':')
                .map_or(i.defined_at.as_str(), |(f, _)| f);
            match files.iter_mut().find(|(f, _)| *f == file) {
                Some((_, v)) => v.push(i),
                None => files.push((file, vec![i])),
            }
        }
        let enabled = infos.iter().filter(|i| i.enabled).count();
        let mut out = String::new();
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let (from, regenerate) = if extra.is_empty() {
            (
                "default catalogue".to_owned(),
                " Do not edit by hand: run `scripts/gen-rules-doc.sh`.",
            )
        } else {
            let names: Vec<String> = extra.iter().map(|e| code(e)).collect();
            (
                format!("default catalogue with {} applied", names.join(", ")),
                "",
            )
        };
        let _ = writeln!(
            out,
            "\n_Generated by `overgang rules list --format markdown` from the {from}: {}, {enabled} enabled, in {}.{regenerate}_",
            plural(infos.len(), "rule", "rules"),
            plural(files.len(), "file", "files"),
        );
        for (file, rules) in &files {
            let _ = writeln!(out, "\n### {}\n", code(file));
            let intro = texts
                .iter()
                .find(|(n, _)| n == file)
                .map(|(_, t)| opening_comment(t))
                .unwrap_or_default();
            if !intro.is_empty() {
                let _ = writeln!(out, "{intro}\n");
            }
            let ids: Vec<String> = rules
                .iter()
                .map(|i| format!("[{0}](#{1})", i.id, i.id.to_lowercase()))
                .collect();
            let _ = writeln!(out, "Rules: {}.", ids.join(", "));
            for i in rules {
                rule(&mut out, i, &lists);
            }
        }
        out.push('\n');
        out
    }

    fn rule(out: &mut String, i: &RuleInfo, lists: &CodeLists) {
        let _ = writeln!(out, "\n#### {}\n", i.id);
        let _ = writeln!(
            out,
            "- **Severity:** {} · **Category:** {}{}",
            i.severity,
            i.category,
            if i.enabled {
                ""
            } else {
                " · **disabled** (an `[[override]]` with `enabled = true` turns it on)"
            }
        );
        let types = if i.messages.is_empty() {
            "every message type".to_owned()
        } else {
            i.messages
                .iter()
                .map(|m| code(m))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let versions = match i.versions.as_slice() {
            [] => "every version".to_owned(),
            [v] => format!("version {v}"),
            vs => format!("versions {}", vs.join(", ")),
        };
        let _ = writeln!(out, "- **Applies to:** {types}; {versions}");
        if let Some(p) = &i.precondition {
            let _ = writeln!(out, "- **Only when:** {}", condition(p, lists));
        }
        let _ = writeln!(out, "- **Check:** {}", in_words(i, lists));
        let _ = writeln!(out, "- **Text (nb):** {}", text(&i.text_nb));
        let _ = writeln!(out, "- **Text (en):** {}", text(&i.text_en));
        if let Some(a) = &i.apprec_error {
            match lists.display(8221, a) {
                Some(d) => {
                    let _ = writeln!(out, "- **AppRec error:** {} ({})", code(a), text(d));
                }
                None => {
                    let _ = writeln!(out, "- **AppRec error:** {}", code(a));
                }
            }
        }
        let _ = writeln!(out, "- **Source:** {}", text(&i.source));
        for o in &i.overridden_at {
            let _ = writeln!(out, "- **Overridden:** {}", text(o));
        }
    }

    /// The rule as a sentence: for each …, when …: what must hold.
    fn in_words(i: &RuleInfo, lists: &CodeLists) -> String {
        let check = requirement(&i.check, lists);
        let s = match (&i.for_each, &i.when) {
            (Some(f), Some(w)) => {
                format!(
                    "for each {}, when {}: {check}",
                    code(f),
                    condition(w, lists)
                )
            }
            (Some(f), None) => format!("for each {}: {check}", code(f)),
            (None, Some(w)) => format!("when {}: {check}", condition(w, lists)),
            (None, None) => check,
        };
        let mut c = s.chars();
        match c.next() {
            Some(first) => format!("{}{}.", first.to_uppercase(), c.as_str()),
            None => s,
        }
    }

    fn times(min: &Option<u32>, max: &Option<u32>) -> String {
        let t = |n: u32| {
            if n == 1 {
                "once".to_owned()
            } else {
                format!("{n} times")
            }
        };
        match (min, max) {
            (Some(a), Some(b)) if a == b => format!("exactly {}", t(*a)),
            (Some(a), Some(b)) => format!("between {a} and {b} times"),
            (Some(a), None) => format!("at least {}", t(*a)),
            (None, Some(b)) => format!("at most {}", t(*b)),
            (None, None) => "any number of times".to_owned(),
        }
    }

    fn list_name(list: u32, lists: &CodeLists) -> String {
        match lists.get(list) {
            Some(l) => format!("code list {list} ({})", text(&l.name)),
            None => format!("code list {list}"),
        }
    }

    /// What a rule's check requires, in words (see docs/RULES.md).
    fn requirement(c: &CheckSpec, lists: &CodeLists) -> String {
        match c {
            CheckSpec::Present(s) => format!("{} is present", code(s)),
            CheckSpec::Absent(s) => format!("{} is absent", code(s)),
            CheckSpec::Count { select, min, max } => {
                format!("{} occurs {}", code(select), times(min, max))
            }
            CheckSpec::InCodelist { select, list } => format!(
                "every value of {} is a code in {}",
                code(select),
                list_name(*list, lists)
            ),
            CheckSpec::InSet { select, values } => {
                format!("every value of {} is one of {}", code(select), one_of(values))
            }
            CheckSpec::Matches { select, pattern } => format!(
                "every value of {} matches the pattern {}",
                code(select),
                code(pattern)
            ),
            CheckSpec::HasTime(s) => format!("every date/time in {} has a time of day", code(s)),
            CheckSpec::DateOrder { first, then } => format!(
                "no {} is earlier than {}",
                code(then),
                code(first)
            ),
            CheckSpec::NationalId(s) => format!(
                "every value of {} is a valid national identity number (fødselsnummer, D- or H-number: date and check digits)",
                code(s)
            ),
            CheckSpec::HabitualBaseline(s) => format!(
                "the IPLOS variable coded in {} has a known habitual (pre-illness) level",
                code(s)
            ),
            CheckSpec::HabitualBaselineAny(s) => format!(
                "at least one of the IPLOS variables coded in {} has a known habitual (pre-illness) level (when none is coded: some habitual level is known for the patient)",
                code(s)
            ),
            CheckSpec::CodesInTheirLists(s) => format!(
                "every coded element in {} whose S names a code list Overgang carries has a code from that list",
                code(s)
            ),
        }
    }

    /// A `when` condition in words: it holds when the selection is there
    /// and passes (present, absent and count as written).
    fn condition(c: &CheckSpec, lists: &CodeLists) -> String {
        let there = |s: &str, rest: String| format!("{} has a value and {rest}", code(s));
        match c {
            CheckSpec::Present(_) | CheckSpec::Absent(_) | CheckSpec::Count { .. } => {
                requirement(c, lists)
            }
            CheckSpec::InCodelist { select, list } => there(
                select,
                format!("every value is a code in {}", list_name(*list, lists)),
            ),
            CheckSpec::InSet { select, values } => {
                there(select, format!("every value is one of {}", one_of(values)))
            }
            CheckSpec::Matches { select, pattern } => there(
                select,
                format!("every value matches the pattern {}", code(pattern)),
            ),
            CheckSpec::HasTime(s) => there(s, "every value has a time of day".into()),
            CheckSpec::DateOrder { first, then } => format!(
                "{} and {} are there and no {} is earlier than {}",
                code(first),
                code(then),
                code(then),
                code(first)
            ),
            CheckSpec::NationalId(s) => {
                there(s, "every value is a valid national identity number".into())
            }
            CheckSpec::HabitualBaseline(s) => format!(
                "{} is there and its IPLOS variable has a known habitual level",
                code(s)
            ),
            CheckSpec::HabitualBaselineAny(s) => format!(
                "at least one of the IPLOS variables coded in {} has a known habitual level (when none is coded: some habitual level is known for the patient)",
                code(s)
            ),
            CheckSpec::CodesInTheirLists(s) => format!(
                "every coded element in {} has a code from the list its S names",
                code(s)
            ),
        }
    }

    fn one_of(values: &[String]) -> String {
        values
            .iter()
            .map(|v| code(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The opening comment of a rule file, as a paragraph (blank comment
    /// lines separate paragraphs).
    fn opening_comment(file: &str) -> String {
        let mut paras: Vec<String> = vec![String::new()];
        for line in file.lines() {
            let Some(c) = line.trim_start().strip_prefix('#') else {
                break;
            };
            let c = c.trim();
            let cur = paras.last_mut().expect("one paragraph");
            if c.is_empty() {
                if !cur.is_empty() {
                    paras.push(String::new());
                }
            } else {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(c);
            }
        }
        paras
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| text(p))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// Text shown as is: Markdown's special characters escaped.
    fn text(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for ch in s.chars() {
            if matches!(
                ch,
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|'
            ) {
                out.push('\\');
            }
            out.push(ch);
        }
        out
    }

    /// A code span that holds `s` whatever backticks it contains.
    fn code(s: &str) -> String {
        let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest + 1);
        let pad = if s.starts_with('`') || s.ends_with('`') {
            " "
        } else {
            ""
        };
        format!("{fence}{pad}{s}{pad}{fence}")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn code_spans_and_text_survive_markdown() {
            assert_eq!(code("po:A[@V = 'x']"), "`po:A[@V = 'x']`");
            assert_eq!(code("a`b"), "``a`b``");
            assert_eq!(code("`a"), "`` `a ``");
            assert_eq!(text("a_b *c* <d> [e]"), "a\\_b \\*c\\* \\<d\\> \\[e\\]");
            assert_eq!(
                opening_comment("# One\n# two.\n#\n# Three\n\n# not this\n"),
                "One two.\n\nThree"
            );
        }
    }
}
