//! How `overgang validate` shows its results: text for people, JSON for machines.

use overgang_model::{Finding, Lang, Severity, Verdict};
use overgang_validate::Report;
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

/// One file's result, in the shape of the JSON output.
#[derive(Serialize)]
pub struct FileReport {
    pub file: String,
    pub msg_id: Option<String>,
    pub msg_type: Option<String>,
    pub standard: Option<String>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

impl FileReport {
    pub fn new(path: &Path, report: &Report) -> Self {
        FileReport {
            file: path.display().to_string(),
            msg_id: report.msg_id.clone(),
            msg_type: report.msg_type.clone(),
            standard: report.standard.clone(),
            verdict: report.verdict,
            findings: report.findings.clone(),
        }
    }
}

/// Counts of verdicts over a run.
#[derive(Default)]
pub struct Tally {
    pub accepted: usize,
    pub with_warnings: usize,
    pub rejected: usize,
}

impl Tally {
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Accepted => self.accepted += 1,
            Verdict::AcceptedWithWarnings => self.with_warnings += 1,
            Verdict::Rejected => self.rejected += 1,
        }
    }
    pub fn total(&self) -> usize {
        self.accepted + self.with_warnings + self.rejected
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

pub fn verdict_label(v: Verdict, lang: Lang) -> &'static str {
    match (v, lang) {
        (Verdict::Accepted, Lang::Nb) => "godkjent",
        (Verdict::Accepted, Lang::En) => "accepted",
        (Verdict::AcceptedWithWarnings, Lang::Nb) => "godkjent med advarsler",
        (Verdict::AcceptedWithWarnings, Lang::En) => "accepted with warnings",
        (Verdict::Rejected, Lang::Nb) => "avvist",
        (Verdict::Rejected, Lang::En) => "rejected",
    }
}

fn severity_label(s: Severity, lang: Lang) -> &'static str {
    match (s, lang) {
        (Severity::Error, Lang::Nb) => "feil",
        (Severity::Error, Lang::En) => "error",
        (Severity::Warning, Lang::Nb) => "advarsel",
        (Severity::Warning, Lang::En) => "warning",
        (Severity::Info, Lang::Nb) => "info",
        (Severity::Info, Lang::En) => "info",
    }
}

fn count_words(errors: usize, warnings: usize, lang: Lang) -> String {
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(match lang {
            Lang::Nb => format!("{errors} feil"),
            Lang::En if errors == 1 => "1 error".to_owned(),
            Lang::En => format!("{errors} errors"),
        });
    }
    if warnings > 0 {
        parts.push(match lang {
            Lang::Nb if warnings == 1 => "1 advarsel".to_owned(),
            Lang::Nb => format!("{warnings} advarsler"),
            Lang::En if warnings == 1 => "1 warning".to_owned(),
            Lang::En => format!("{warnings} warnings"),
        });
    }
    parts.join(", ")
}

/// Writes one file's block.
pub fn write_text(
    out: &mut impl Write,
    r: &FileReport,
    lang: Lang,
    colour: bool,
) -> io::Result<()> {
    let p = Paint { on: colour };
    writeln!(out, "{}", p.bold(&r.file))?;
    let mut about = Vec::new();
    if let Some(t) = &r.msg_type {
        about.push(t.clone());
    }
    if let Some(s) = &r.standard {
        about.push(s.clone());
    }
    if let Some(id) = &r.msg_id {
        about.push(format!("MsgId {id}"));
    }
    if !about.is_empty() {
        writeln!(out, "  {}", p.dim(&about.join(" · ")))?;
    }
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let label = verdict_label(r.verdict, lang);
    let counts = count_words(errors, warnings, lang);
    let line = if counts.is_empty() {
        label.to_owned()
    } else {
        format!("{label} — {counts}")
    };
    let line = match r.verdict {
        Verdict::Accepted => p.green(&format!("✔ {line}")),
        Verdict::AcceptedWithWarnings => p.yellow(&format!("✔ {line}")),
        Verdict::Rejected => p.red(&format!("✘ {line}")),
    };
    writeln!(out, "  {line}")?;
    for f in &r.findings {
        let pos = if f.line > 0 {
            format!("{}:{}", f.line, f.column)
        } else {
            "-".to_owned()
        };
        let sev = severity_label(f.severity, lang);
        let sev = match f.severity {
            Severity::Error => p.red(&format!("{sev:<8}")),
            Severity::Warning => p.yellow(&format!("{sev:<8}")),
            Severity::Info => format!("{sev:<8}"),
        };
        writeln!(out, "  {pos:>9}  {sev}  {:<7} {}", f.code, f.text(lang))?;
        if !f.path.is_empty() {
            writeln!(out, "  {:>9}  {:<8}  {:<7} {}", "", "", "", p.dim(&f.path))?;
        }
    }
    writeln!(out)
}

/// Writes the closing line of a run over several files.
pub fn write_summary(out: &mut impl Write, t: &Tally, lang: Lang, colour: bool) -> io::Result<()> {
    let p = Paint { on: colour };
    let line = match lang {
        Lang::Nb => format!(
            "{} filer: {} godkjent, {} godkjent med advarsler, {} avvist",
            t.total(),
            t.accepted,
            t.with_warnings,
            t.rejected
        ),
        Lang::En => format!(
            "{} files: {} accepted, {} accepted with warnings, {} rejected",
            t.total(),
            t.accepted,
            t.with_warnings,
            t.rejected
        ),
    };
    let line = if t.rejected > 0 {
        p.red(&line)
    } else {
        p.green(&line)
    };
    writeln!(out, "{line}")
}
