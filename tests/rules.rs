//! Data-driven cases for the completeness rules (`tests/rules/cases.toml`).
//!
//! A case takes a message (an official example, one of our examples or a
//! fixture), optionally edits it until it satisfies a rule (`fix`), then
//! edits it until it breaks the rule (`break`). Both versions go through the
//! whole validate stage; the rule must be silent on the first and fire on
//! the second (where `path` says, when it says), and the broken message must
//! still be well-formed, so the case shows the rule and not the XML reader.
//!
//! Every enabled rule of the default catalogue must have a case, and every
//! case must name a rule: a rule nobody has seen fire is not a rule.
//! The format is described at the top of `tests/rules/cases.toml`.

// A `#[path]`, because the folder tests/rules/ (the cases) would otherwise
// be taken for this file's module folder by rustfmt.
mod support {
    #[path = "../support/corpus.rs"]
    pub mod corpus;
}

use overgang_model::Finding;
use overgang_rules::Catalogue;
use overgang_validate::{Options, Validator};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use toml::Spanned;

const CASES: &str = "tests/rules/cases.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    #[serde(default)]
    case: Vec<Spanned<Case>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    base: String,
    #[serde(default)]
    fix: Vec<Edit>,
    #[serde(rename = "break")]
    breaks: Vec<Edit>,
    #[serde(default)]
    path: Option<String>,
}

/// An edit of the raw XML text. An edit that finds nothing to change is an
/// error: a case must never pass because an edit silently did nothing.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Edit {
    /// The first element with this local name (any prefix), start tag to
    /// matching end tag. `A/B` names the first `B` inside an `A`.
    Remove(String),
    /// Every such element.
    RemoveAll(String),
    /// Every occurrence of the text.
    Replace([String; 2]),
    /// The first occurrence of the text.
    ReplaceFirst([String; 2]),
}

impl std::fmt::Display for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edit::Remove(n) => write!(f, "remove = {n:?}"),
            Edit::RemoveAll(n) => write!(f, "remove_all = {n:?}"),
            Edit::Replace([a, b]) => write!(f, "replace = [{a:?}, {b:?}]"),
            Edit::ReplaceFirst([a, b]) => write!(f, "replace_first = [{a:?}, {b:?}]"),
        }
    }
}

// ---------------------------------------------------------------------------
// Editing raw XML text. Deliberately independent of overgang_xml: the cases
// must not depend on the reader under test.

/// An element of the text: its qualified name, where it starts and ends
/// (from `<` to after the end tag's or the empty tag's `>`), its parent.
#[derive(Debug)]
struct Span {
    qname: String,
    start: usize,
    end: usize,
    parent: Option<usize>,
}

impl Span {
    fn local(&self) -> &str {
        self.qname.rsplit(':').next().unwrap_or(&self.qname)
    }
}

/// Every element of the text, in document order. Comments, processing
/// instructions, CDATA sections and a DOCTYPE are skipped; attribute values
/// may hold `>`.
fn elements(text: &str) -> Result<Vec<Span>, String> {
    let b = text.as_bytes();
    let find = |from: usize, pat: &str| -> Result<usize, String> {
        text[from..]
            .find(pat)
            .map(|k| from + k + pat.len())
            .ok_or_else(|| format!("«{pat}» missing after byte {from}: not well-formed"))
    };
    let mut out: Vec<Span> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(k) = text[i..].find('<') {
        let at = i + k;
        let rest = &text[at..];
        if rest.starts_with("<!--") {
            i = find(at + 4, "-->")?;
        } else if rest.starts_with("<![CDATA[") {
            i = find(at + 9, "]]>")?;
        } else if rest.starts_with("<?") {
            i = find(at + 2, "?>")?;
        } else if rest.starts_with("<!") {
            i = find(at + 2, ">")?;
        } else if let Some(r) = rest.strip_prefix("</") {
            let close = find(at, ">")?;
            let name = r[..close - at - 2 - 1].trim();
            let Some(top) = open.pop() else {
                return Err(format!("end tag </{name}> at byte {at} closes nothing"));
            };
            if out[top].qname != name {
                return Err(format!(
                    "end tag </{name}> at byte {at} does not match <{}>",
                    out[top].qname
                ));
            }
            out[top].end = close;
            i = close;
        } else {
            let name_end = rest[1..]
                .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
                .map(|n| at + 1 + n)
                .ok_or_else(|| format!("a start tag at byte {at} is not closed"))?;
            let mut j = name_end;
            let mut quote: Option<u8> = None;
            while j < b.len() {
                match (quote, b[j]) {
                    (None, b'"' | b'\'') => quote = Some(b[j]),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if j == b.len() {
                return Err(format!("a start tag at byte {at} is not closed"));
            }
            let empty = b[j - 1] == b'/';
            out.push(Span {
                qname: text[at + 1..name_end].to_owned(),
                start: at,
                end: j + 1,
                parent: open.last().copied(),
            });
            if !empty {
                open.push(out.len() - 1);
            }
            i = j + 1;
        }
    }
    if let Some(&top) = open.last() {
        return Err(format!("<{}> is never closed", out[top].qname));
    }
    Ok(out)
}

/// The elements `A/B/C` names: every `C` with a `B` above it with an `A`
/// above that (like XPath's `//A//B//C`), by local name.
fn matching(spans: &[Span], path: &str) -> Vec<usize> {
    let steps: Vec<&str> = path.split('/').collect();
    let Some((last, above)) = steps.split_last() else {
        return Vec::new();
    };
    (0..spans.len())
        .filter(|&e| spans[e].local() == *last)
        .filter(|&e| {
            let mut want = above.iter().rev().peekable();
            let mut p = spans[e].parent;
            while let (Some(&&w), Some(a)) = (want.peek(), p) {
                if spans[a].local() == w {
                    want.next();
                }
                p = spans[a].parent;
            }
            want.peek().is_none()
        })
        .collect()
}

fn remove(text: &str, path: &str, all: bool) -> Result<String, String> {
    let spans = elements(text)?;
    let found = matching(&spans, path);
    if found.is_empty() {
        return Err(format!("no element {path} in the message"));
    }
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for &e in if all { &found[..] } else { &found[..1] } {
        let (s, t) = (spans[e].start, spans[e].end);
        // Inside an element already cut: gone with it.
        if !cut.iter().any(|&(a, b)| a <= s && t <= b) {
            cut.push((s, t));
        }
    }
    let mut out = text.to_owned();
    for &(s, t) in cut.iter().rev() {
        out.replace_range(s..t, "");
    }
    Ok(out)
}

fn apply(text: &str, edit: &Edit) -> Result<String, String> {
    match edit {
        Edit::Remove(p) => remove(text, p, false),
        Edit::RemoveAll(p) => remove(text, p, true),
        Edit::Replace([from, to]) | Edit::ReplaceFirst([from, to]) => {
            if from.is_empty() {
                return Err("the text to replace is empty".into());
            }
            if !text.contains(from.as_str()) {
                return Err(format!("{from:?} does not occur in the message"));
            }
            Ok(if matches!(edit, Edit::Replace(_)) {
                text.replace(from.as_str(), to)
            } else {
                text.replacen(from.as_str(), to, 1)
            })
        }
    }
}

fn apply_all(text: &str, edits: &[Edit], what: &str) -> Result<String, String> {
    edits
        .iter()
        .enumerate()
        .try_fold(text.to_owned(), |t, (k, e)| {
            apply(&t, e).map_err(|why| format!("{what} edit {} ({e}): {why}", k + 1))
        })
}

// ---------------------------------------------------------------------------
// Running the cases.

fn load_base(base: &str) -> Result<String, String> {
    let (kind, name) = base.split_once(':').unwrap_or(("", base));
    if name.is_empty() || name.contains("..") || name.contains('/') {
        return Err(format!("base {base:?}: name a file directly in its folder"));
    }
    let path: PathBuf = match kind {
        "official" => support::corpus::official_dir().join(name),
        "example" => support::corpus::repo().join("schemas/examples").join(name),
        "fixture" => support::corpus::repo()
            .join("tests/rules/fixtures")
            .join(name),
        _ => {
            return Err(format!(
                "base {base:?} must start with official:, example: or fixture:"
            ))
        }
    };
    let bytes =
        std::fs::read(&path).map_err(|e| format!("base {base:?}: {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("base {base:?} is not UTF-8"))
}

/// The default catalogue with every disabled rule switched on, so a case
/// can show a disabled rule firing too.
fn validator(cat: &Catalogue) -> Validator {
    let on: String = cat
        .rules()
        .iter()
        .filter(|r| !r.info().enabled)
        .map(|r| {
            format!(
                "[[override]]\nid = {:?}\nenabled = true\nreason = \"the rule cases test disabled rules too\"\n\n",
                r.info().id
            )
        })
        .collect();
    let rule_files = if on.is_empty() {
        Vec::new()
    } else {
        vec![("tests/rules.rs (enable every rule)".to_owned(), on)]
    };
    Validator::new(Options {
        rule_files,
        ..Options::default()
    })
    .unwrap_or_else(|e| panic!("the validator must build: {e}"))
}

fn show(findings: &[&Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "\n      {} {} {} — {}",
                f.code, f.severity, f.path, f.text_en
            )
        })
        .collect()
}

/// True when `path` ends with `tail` at a step boundary.
fn path_ends_with(path: &str, tail: &str) -> bool {
    let t = tail.trim_start_matches('/');
    path == t || path.ends_with(&format!("/{t}"))
}

/// Runs one case; the problems it has (none when it holds).
fn run_case(v: &Validator, cat: &Catalogue, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    if !cat.rules().iter().any(|r| r.info().id == case.rule) {
        problems.push(format!("there is no rule {} in the catalogue", case.rule));
        return problems;
    }
    if case.breaks.is_empty() {
        problems.push("`break` has no edits".into());
        return problems;
    }
    let base = match load_base(&case.base) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let satisfied = match apply_all(&base, &case.fix, "fix") {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let broken = match apply_all(&satisfied, &case.breaks, "break") {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let not_well_formed = |fs: &[Finding]| -> Vec<String> {
        fs.iter()
            .filter(|f| f.code.starts_with("XML"))
            .map(|f| format!("{} at {}:{} — {}", f.code, f.line, f.column, f.text_en))
            .collect()
    };

    let ok = v.validate(satisfied.as_bytes());
    let fired: Vec<&Finding> = ok.findings.iter().filter(|f| f.code == case.rule).collect();
    if !fired.is_empty() {
        problems.push(format!(
            "the satisfied message (base{}) already breaks {}:{}",
            if case.fix.is_empty() { "" } else { " + fix" },
            case.rule,
            show(&fired)
        ));
    }
    let bad = not_well_formed(&ok.findings);
    if !bad.is_empty() {
        problems.push(format!(
            "the satisfied message is not well-formed: {}",
            bad.join("; ")
        ));
    }

    let ko = v.validate(broken.as_bytes());
    let bad = not_well_formed(&ko.findings);
    if !bad.is_empty() {
        problems.push(format!(
            "the broken message is not well-formed, so it shows the XML reader, not the rule: {}",
            bad.join("; ")
        ));
    }
    let fired: Vec<&Finding> = ko.findings.iter().filter(|f| f.code == case.rule).collect();
    if fired.is_empty() {
        let codes: BTreeSet<&str> = ko.findings.iter().map(|f| f.code.as_str()).collect();
        problems.push(format!(
            "the broken message does not break {} (findings: {})",
            case.rule,
            if codes.is_empty() {
                "none".to_owned()
            } else {
                codes.into_iter().collect::<Vec<_>>().join(", ")
            }
        ));
    } else if let Some(p) = &case.path {
        if !fired.iter().any(|f| path_ends_with(&f.path, p)) {
            problems.push(format!(
                "no finding of {} has a path ending with {p}; it fired at:{}",
                case.rule,
                show(&fired)
            ));
        }
    }
    problems
}

fn cases_path() -> PathBuf {
    support::corpus::repo().join(CASES)
}

fn load_cases() -> (String, Vec<Spanned<Case>>) {
    let path = cases_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file: CasesFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{CASES}: {e}"));
    (text, file.case)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[test]
fn every_case_holds() {
    let (text, cases) = load_cases();
    assert!(!cases.is_empty(), "{CASES} has no cases");
    let cat = Catalogue::builtin().unwrap_or_else(|e| panic!("{e}"));
    let v = validator(&cat);
    let mut failures = Vec::new();
    for c in &cases {
        let case = c.get_ref();
        let problems = run_case(&v, &cat, case);
        if !problems.is_empty() {
            failures.push(format!(
                "{CASES}:{} — rule {} on {}:\n  - {}",
                line_of(&text, c.span().start),
                case.rule,
                case.base,
                problems.join("\n  - ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rule cases fail:\n\n{}\n",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_enabled_rule_has_a_case_and_every_case_names_a_rule() {
    let (text, cases) = load_cases();
    let cat = Catalogue::builtin().unwrap_or_else(|e| panic!("{e}"));
    let ids: BTreeSet<&str> = cat.rules().iter().map(|r| r.info().id.as_str()).collect();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.get_ref().rule.as_str()).collect();
    let uncovered: Vec<String> = cat
        .rules()
        .iter()
        .map(|r| r.info())
        .filter(|i| i.enabled && !covered.contains(i.id.as_str()))
        .map(|i| format!("{} ({})", i.id, i.defined_at))
        .collect();
    let unknown: Vec<String> = cases
        .iter()
        .filter(|c| !ids.contains(c.get_ref().rule.as_str()))
        .map(|c| {
            format!(
                "{CASES}:{} names {}",
                line_of(&text, c.span().start),
                c.get_ref().rule
            )
        })
        .collect();
    assert!(
        uncovered.is_empty() && unknown.is_empty(),
        "enabled rules without a case in {CASES}:\n  {}\ncases naming no rule of the default catalogue:\n  {}\n",
        if uncovered.is_empty() { "(none)".to_owned() } else { uncovered.join("\n  ") },
        if unknown.is_empty() { "(none)".to_owned() } else { unknown.join("\n  ") },
    );
}

/// The runner itself: each way a case can be wrong is caught and said.
#[test]
fn the_runner_catches_cases_that_prove_nothing() {
    let cat = Catalogue::builtin().unwrap_or_else(|e| panic!("{e}"));
    let v = validator(&cat);
    let rule = cat
        .rules()
        .iter()
        .map(|r| r.info())
        .find(|i| i.id == "PAS-ID-01")
        .expect("PAS-ID-01 is in the default catalogue");
    let case = |breaks: Vec<Edit>, path: Option<&str>| Case {
        rule: rule.id.clone(),
        base: "example:innleggelsesrapport-med-funksjonsprofil.xml".into(),
        fix: Vec::new(),
        breaks,
        path: path.map(str::to_owned),
    };
    let problems = |c: Case| run_case(&v, &cat, &c).join("\n");
    let good = case(vec![Edit::Remove("Patient/Ident".into())], None);
    assert_eq!(problems(good), "");
    // A break that does not break the rule.
    let p = problems(case(vec![Edit::Remove("BorAlene".into())], None));
    assert!(p.contains("does not break PAS-ID-01"), "{p}");
    // The rule fires, but not where the case says.
    let p = problems(case(
        vec![Edit::Remove("Patient/Ident".into())],
        Some("/Patient/Ident/Id"),
    ));
    assert!(
        p.contains("no finding of PAS-ID-01 has a path ending"),
        "{p}"
    );
    // A break that leaves the message not well-formed.
    let p = problems(case(
        vec![Edit::ReplaceFirst(["<Ident>".into(), "<Ident".into()])],
        None,
    ));
    assert!(p.contains("not well-formed"), "{p}");
    // An edit that changes nothing, an unknown rule, an unknown base.
    let p = problems(case(vec![Edit::Remove("NoSuchElement".into())], None));
    assert!(p.contains("no element NoSuchElement"), "{p}");
    let p = problems(case(vec![Edit::Replace(["@@@".into(), "x".into()])], None));
    assert!(p.contains("does not occur"), "{p}");
    let mut c = case(vec![Edit::Remove("Patient".into())], None);
    c.rule = "NO-SUCH-01".into();
    assert!(problems(c).contains("no rule NO-SUCH-01"));
    let mut c = case(vec![Edit::Remove("Patient".into())], None);
    c.base = "elsewhere:x.xml".into();
    assert!(problems(c).contains("must start with"));
    // A fix that leaves the rule broken.
    let mut c = case(vec![Edit::Remove("Patient".into())], None);
    c.fix = vec![Edit::Remove("Patient/Ident/Id".into())];
    assert!(problems(c).contains("already breaks PAS-ID-01"));
}

#[test]
fn edits_cut_whole_elements_and_never_silently_do_nothing() {
    let xml = r#"<?xml version="1.0"?>
<!-- <A> in a comment is no element -->
<r xmlns:p="urn:x"><A k="a>b"><A/><B>1</B></A><p:A>2</p:A><C><A>3</A></C><![CDATA[<A>]]></r>"#;
    let edit = |e: Edit| apply(xml, &e).unwrap_or_else(|why| panic!("{e}: {why}"));
    assert!(edit(Edit::Remove("A".into())).contains("<r xmlns:p=\"urn:x\"><p:A>2</p:A><C>"));
    let all = edit(Edit::RemoveAll("A".into()));
    assert!(
        all.ends_with("<r xmlns:p=\"urn:x\"><C></C><![CDATA[<A>]]></r>"),
        "{all}"
    );
    assert!(all.contains("<A> in a comment"), "comments are left alone");
    assert!(edit(Edit::Remove("C/A".into())).contains("<C></C>"));
    assert!(edit(Edit::Remove("A/B".into())).contains("<A/></A>"));
    assert!(edit(Edit::RemoveAll("r/A".into())).contains("<r xmlns:p=\"urn:x\"><C></C>"));
    assert_eq!(
        edit(Edit::Replace(["A".into(), "Z".into()]))
            .matches('A')
            .count(),
        0
    );
    assert_eq!(
        edit(Edit::ReplaceFirst(["<A".into(), "<Z".into()]))
            .matches("<Z")
            .count(),
        1
    );
    for (e, why) in [
        (Edit::Remove("D".into()), "no element D"),
        (Edit::RemoveAll("B/A".into()), "no element B/A"),
        (Edit::Replace(["<D>".into(), "".into()]), "does not occur"),
        (Edit::ReplaceFirst(["".into(), "x".into()]), "empty"),
    ] {
        let err = apply(xml, &e).expect_err("must fail");
        assert!(err.contains(why), "{e}: {err}");
    }
    assert!(apply("<a><b></a>", &Edit::Remove("b".into()))
        .expect_err("not well-formed")
        .contains("does not match"));
}
