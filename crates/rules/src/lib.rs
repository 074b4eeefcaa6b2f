//! Completeness rules as data.
//!
//! The schemas make almost everything optional; the PLO profiles and the
//! clinicians do not. A [`Catalogue`] holds rules read from TOML files (the
//! default catalogue in `config/rules/`, embedded in the binary, plus any
//! files a deployment adds to disable rules, change severities or add rules)
//! and turns a parsed message into [`Finding`]s with Norwegian and English
//! texts. `docs/RULES.md` documents the format and every default rule.
//!
//! Rules compile once (selectors, patterns, code lists); evaluating them is
//! pure: no IO, no clock, no global state.

mod file;
mod nid;
mod selector;

pub use file::{CheckSpec, OverrideSpec, RuleSpec};
pub use nid::{check as check_national_id, make as make_national_id, NidProblem};
pub use selector::{builtin_prefix, Index, Item, NsTest, Selector, MSGHEAD_NS};

use overgang_codelists::CodeLists;
use overgang_model::{Category, Finding, Message, Severity};
use overgang_schema::Regex;
use overgang_xml::{Document, Node};
use serde::Serialize;
use std::collections::BTreeMap;

/// The namespace of Overgang's functional-profile extension document (the
/// `ov:` prefix in selectors).
pub const EXTENSION_NS: &str = "urn:overgang:xmlstds:funksjonsprofil:1.0";

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/default_rules.rs"));
}

/// A rule file that cannot be used. Says which file, which line, which rule
/// and what is wrong; never a rule silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("{file}:{line}: {what}")]
    Syntax {
        file: String,
        line: usize,
        what: String,
    },
    #[error("{file}:{line}: rule {rule}: {what}")]
    Rule {
        file: String,
        line: usize,
        rule: String,
        what: String,
    },
}

/// Where a habitual (pre-illness) level for an IPLOS variable came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineKind {
    /// Stated by the sender in the extension document.
    Explicit,
    /// Derived from the patient's earlier messages.
    Derived,
}

/// Habitual levels known for the message's patient, by IPLOS variable code
/// (list 9111). The validate stage answers from the message's extension
/// document; the patient-flow stage can add levels derived from history.
pub trait Baselines {
    fn habitual(&self, variable: &str) -> Option<BaselineKind>;
    /// Whether any habitual level is known for the patient at all.
    fn any(&self) -> Option<BaselineKind>;
}

/// No habitual levels known.
pub struct NoBaselines;

impl Baselines for NoBaselines {
    fn habitual(&self, _: &str) -> Option<BaselineKind> {
        None
    }
    fn any(&self) -> Option<BaselineKind> {
        None
    }
}

/// What a rule runs on.
pub struct Input<'a, 'd> {
    pub doc: &'d Document,
    pub message: &'a Message,
    pub baselines: &'a dyn Baselines,
    /// The path of an element as findings show it (the schema-aware path,
    /// indexed where the element may repeat).
    pub path_of: &'a dyn Fn(Node<'d>) -> String,
}

/// A compiled rule.
pub struct Rule {
    info: RuleInfo,
    precondition: Option<Check>,
    for_each: Option<Selector>,
    when: Option<Check>,
    check: Check,
    text_nb: Template,
    text_en: Template,
}

/// A rule as the effective catalogue shows it (`overgang rules list`).
#[derive(Clone, Debug, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub severity: Severity,
    pub category: Category,
    pub enabled: bool,
    /// `MsgInfo/Type` codes; empty: every type.
    pub messages: Vec<String>,
    /// Versions; empty: every version.
    pub versions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precondition: Option<CheckSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<CheckSpec>,
    pub check: CheckSpec,
    pub text_nb: String,
    pub text_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apprec_error: Option<String>,
    pub source: String,
    /// `file:line` of the definition.
    pub defined_at: String,
    /// `file:line` (and reason) of each override applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overridden_at: Vec<String>,
}

impl Rule {
    pub fn info(&self) -> &RuleInfo {
        &self.info
    }
}

/// The effective rule catalogue.
pub struct Catalogue {
    rules: Vec<Rule>,
    codelists: CodeLists,
    /// The local names `//` steps of the rules look for: what the per-message
    /// [`Index`] records.
    indexed: Vec<Box<str>>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalogue({} rules)", self.rules.len())
    }
}

impl Catalogue {
    /// The default catalogue shipped in `config/rules/`.
    pub fn builtin() -> Result<Catalogue, RulesError> {
        Self::load(embedded::DEFAULT_FILES.iter().copied())
    }

    /// The names and texts of the default rule files.
    pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
        embedded::DEFAULT_FILES
    }

    /// The default catalogue with deployment files applied on top, in order.
    pub fn builtin_with<'a>(
        extra: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Catalogue, RulesError> {
        Self::load(embedded::DEFAULT_FILES.iter().copied().chain(extra))
    }

    /// Reads rule files `(name, text)` in order; later files may override
    /// rules of earlier ones.
    pub fn load<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Catalogue, RulesError> {
        let mut cat = Catalogue {
            rules: Vec::new(),
            codelists: CodeLists::builtin(),
            indexed: Vec::new(),
        };
        for (name, text) in files {
            cat.add_file(name, text)?;
        }
        let mut names = Vec::new();
        for r in &cat.rules {
            if let Some(s) = &r.for_each {
                s.descendant_names(&mut names);
            }
            for c in [&r.precondition, &r.when]
                .into_iter()
                .flatten()
                .chain([&r.check])
            {
                for s in c.selectors() {
                    s.descendant_names(&mut names);
                }
            }
        }
        cat.indexed = names;
        Ok(cat)
    }

    /// The rules, in definition order (disabled ones included).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    fn add_file(&mut self, name: &str, text: &str) -> Result<(), RulesError> {
        let parsed: file::RuleFile = toml::from_str(text).map_err(|e| RulesError::Syntax {
            file: name.to_owned(),
            line: e.span().map(|s| file::line_of(text, s.start)).unwrap_or(0),
            what: e.message().to_owned(),
        })?;
        let mut prefixes: BTreeMap<String, NsTest> = BTreeMap::new();
        for (p, uri) in &parsed.namespaces {
            if builtin_prefix(p.get_ref()).is_some() {
                return Err(RulesError::Syntax {
                    file: name.to_owned(),
                    line: file::line_of(text, p.span().start),
                    what: format!(
                        "namespace prefix «{}» is built in and cannot be redefined",
                        p.get_ref()
                    ),
                });
            }
            prefixes.insert(p.get_ref().clone(), NsTest::Exact(uri.as_str().into()));
        }
        let resolve = |p: &str| builtin_prefix(p).or_else(|| prefixes.get(p).cloned());
        for spec in &parsed.rule {
            let rule = self.compile(name, text, spec, &resolve)?;
            if let Some(prev) = self.rules.iter().find(|r| r.info.id == rule.info.id) {
                return Err(RulesError::Rule {
                    file: name.to_owned(),
                    line: file::line_of(text, spec.id.span().start),
                    rule: rule.info.id.clone(),
                    what: format!(
                        "the id is already used (defined at {}); use [[override]] to change a rule",
                        prev.info.defined_at
                    ),
                });
            }
            self.rules.push(rule);
        }
        for o in &parsed.overrides {
            let line = file::line_of(text, o.id.span().start);
            let err = |what: String| RulesError::Rule {
                file: name.to_owned(),
                line,
                rule: o.id.get_ref().clone(),
                what,
            };
            let severity = o
                .severity
                .as_ref()
                .map(|s| parse_severity(s.get_ref()).map_err(&err))
                .transpose()?;
            if severity.is_none() && o.enabled.is_none() {
                return Err(err(
                    "an override must set severity or enabled (or both)".into()
                ));
            }
            let Some(rule) = self.rules.iter_mut().find(|r| r.info.id == *o.id.get_ref()) else {
                return Err(err(
                    "no rule with this id is defined before this file".into()
                ));
            };
            if let Some(s) = severity {
                rule.info.severity = s;
            }
            if let Some(e) = o.enabled {
                rule.info.enabled = e;
            }
            let mut at = format!("{name}:{line}");
            if let Some(r) = &o.reason {
                at.push_str(": ");
                at.push_str(r);
            }
            rule.info.overridden_at.push(at);
        }
        Ok(())
    }

    fn compile(
        &self,
        name: &str,
        text: &str,
        spec: &RuleSpec,
        ns: &dyn Fn(&str) -> Option<NsTest>,
    ) -> Result<Rule, RulesError> {
        let id = spec.id.get_ref().clone();
        let err = |span: std::ops::Range<usize>, what: String| RulesError::Rule {
            file: name.to_owned(),
            line: file::line_of(text, span.start),
            rule: id.clone(),
            what,
        };
        if !valid_id(&id) {
            return Err(err(
                spec.id.span(),
                "an id is 2–40 capital letters, digits and single hyphens, starting with a letter (e.g. IR-FUNK-01)".into(),
            ));
        }
        let severity =
            parse_severity(spec.severity.get_ref()).map_err(|w| err(spec.severity.span(), w))?;
        let category = match &spec.category {
            None => Category::Completeness,
            Some(c) => parse_category(c.get_ref()).map_err(|w| err(c.span(), w))?,
        };
        let mut messages = Vec::new();
        if let Some(ms) = &spec.messages {
            for m in ms.get_ref() {
                if m == "*" {
                    continue;
                }
                if !self.codelists.contains(8279, m) {
                    return Err(err(
                        ms.span(),
                        format!("«{m}» is not a message type in code list 8279"),
                    ));
                }
                messages.push(m.clone());
            }
            if ms.get_ref().iter().any(|m| m == "*") {
                messages.clear();
            }
        }
        let mut versions = Vec::new();
        if let Some(vs) = &spec.versions {
            for v in vs.get_ref() {
                if !["1.0", "1.1", "1.5", "1.6", "2.0"].contains(&v.as_str()) {
                    return Err(err(
                        vs.span(),
                        format!("«{v}» is not a version Overgang reads (1.0, 1.1, 1.5, 1.6, 2.0)"),
                    ));
                }
                versions.push(v.clone());
            }
        }
        let precondition = spec
            .precondition
            .as_ref()
            .map(|c| {
                self.compile_check(c.get_ref(), ns)
                    .map_err(|w| err(c.span(), format!("precondition: {w}")))
            })
            .transpose()?;
        let for_each = spec
            .for_each
            .as_ref()
            .map(|s| {
                Selector::parse(s.get_ref(), ns)
                    .map_err(|w| err(s.span(), format!("for_each: {w}")))
            })
            .transpose()?;
        let when = spec
            .when
            .as_ref()
            .map(|c| {
                self.compile_check(c.get_ref(), ns)
                    .map_err(|w| err(c.span(), format!("when: {w}")))
            })
            .transpose()?;
        let check = self
            .compile_check(spec.check.get_ref(), ns)
            .map_err(|w| err(spec.check.span(), format!("check: {w}")))?;
        let text_nb = Template::parse(spec.text_nb.get_ref(), ns)
            .map_err(|w| err(spec.text_nb.span(), format!("text_nb: {w}")))?;
        let text_en = Template::parse(spec.text_en.get_ref(), ns)
            .map_err(|w| err(spec.text_en.span(), format!("text_en: {w}")))?;
        for (t, field) in [(&spec.text_nb, "text_nb"), (&spec.text_en, "text_en")] {
            if t.get_ref().trim().is_empty() {
                return Err(err(t.span(), format!("{field} is empty")));
            }
        }
        let apprec_error = match &spec.apprec {
            None => None,
            Some(a) => {
                if !self.codelists.contains(8221, a.get_ref()) {
                    return Err(err(
                        a.span(),
                        format!(
                            "«{}» is not an AppRec error code in code list 8221",
                            a.get_ref()
                        ),
                    ));
                }
                Some(a.get_ref().clone())
            }
        };
        if spec.source.get_ref().trim().is_empty() {
            return Err(err(
                spec.source.span(),
                "source is empty: name the profile section or the practice the rule comes from"
                    .into(),
            ));
        }
        Ok(Rule {
            info: RuleInfo {
                id: id.clone(),
                severity,
                category,
                enabled: spec.enabled.unwrap_or(true),
                messages,
                versions,
                precondition: spec.precondition.as_ref().map(|c| c.get_ref().clone()),
                for_each: spec.for_each.as_ref().map(|s| s.get_ref().clone()),
                when: spec.when.as_ref().map(|c| c.get_ref().clone()),
                check: spec.check.get_ref().clone(),
                text_nb: spec.text_nb.get_ref().clone(),
                text_en: spec.text_en.get_ref().clone(),
                apprec_error,
                source: spec.source.get_ref().clone(),
                defined_at: format!("{name}:{}", file::line_of(text, spec.id.span().start)),
                overridden_at: Vec::new(),
            },
            precondition,
            for_each,
            when,
            check,
            text_nb,
            text_en,
        })
    }

    fn compile_check(
        &self,
        spec: &CheckSpec,
        ns: &dyn Fn(&str) -> Option<NsTest>,
    ) -> Result<Check, String> {
        let sel = |s: &str| Selector::parse(s, ns);
        Ok(match spec {
            CheckSpec::Present(s) => Check::Present(sel(s)?),
            CheckSpec::Absent(s) => Check::Absent(sel(s)?),
            CheckSpec::Count { select, min, max } => {
                if let (Some(a), Some(b)) = (min, max) {
                    if a > b {
                        return Err(format!("count: min {a} is greater than max {b}"));
                    }
                }
                if min.is_none() && max.is_none() {
                    return Err("count needs min or max".into());
                }
                Check::Count {
                    sel: sel(select)?,
                    min: min.unwrap_or(0),
                    max: *max,
                }
            }
            CheckSpec::InCodelist { select, list } => {
                if self.codelists.get(*list).is_none() {
                    return Err(format!(
                        "code list {list} is not among Overgang's code lists (schemas/codelists/)"
                    ));
                }
                Check::InCodelist {
                    sel: sel(select)?,
                    list: *list,
                }
            }
            CheckSpec::InSet { select, values } => {
                if values.is_empty() {
                    return Err("in_set needs at least one value".into());
                }
                Check::InSet {
                    sel: sel(select)?,
                    values: values.clone(),
                }
            }
            CheckSpec::Matches { select, pattern } => Check::Matches {
                sel: sel(select)?,
                re: Regex::new(pattern).map_err(|e| format!("pattern: {e}"))?,
            },
            CheckSpec::HasTime(s) => Check::HasTime(sel(s)?),
            CheckSpec::DateOrder { first, then } => Check::DateOrder {
                first: sel(first)?,
                then: sel(then)?,
            },
            CheckSpec::NationalId(s) => Check::NationalId(sel(s)?),
            CheckSpec::HabitualBaseline(s) => Check::HabitualBaseline(sel(s)?),
            CheckSpec::HabitualBaselineAny(s) => Check::HabitualBaselineAny(sel(s)?),
            CheckSpec::CodesInTheirLists(s) => Check::CodesInTheirLists(sel(s)?),
        })
    }

    /// Runs every enabled rule that applies to the message.
    pub fn evaluate(&self, input: &Input<'_, '_>) -> Vec<Finding> {
        let mut out = Vec::new();
        let msg_type = input.message.msg_type();
        let version = input.message.standard.map(|s| s.version.as_str());
        let ctx0 = input
            .message
            .main_document()
            .and_then(|d| d.content_root_node)
            .and_then(|id| input.doc.node(id))
            .unwrap_or_else(|| input.doc.root());
        let ix = Index::new(input.doc, &self.indexed);
        // Many rules share a precondition ("not a cancellation"): decide
        // each distinct one once per message.
        let mut decided: Vec<(&CheckSpec, bool)> = Vec::new();
        for rule in &self.rules {
            let i = &rule.info;
            if !i.enabled
                || !(i.messages.is_empty()
                    || msg_type.is_some_and(|t| i.messages.iter().any(|m| m == t)))
                || !(i.versions.is_empty()
                    || version.is_some_and(|v| i.versions.iter().any(|x| x == v)))
            {
                continue;
            }
            if let (Some(p), Some(spec)) = (&rule.precondition, &i.precondition) {
                let holds = match decided.iter().find(|(s, _)| *s == spec) {
                    Some(&(_, h)) => h,
                    None => {
                        let h = p.holds(ctx0, self, input, &ix);
                        decided.push((spec, h));
                        h
                    }
                };
                if !holds {
                    continue;
                }
            }
            // The main document's root, or each element `for_each` finds.
            let selected = rule.for_each.as_ref().map(|s| s.select_in(ctx0, Some(&ix)));
            let contexts = std::iter::once(ctx0)
                .filter(|_| selected.is_none())
                .chain(selected.iter().flatten().map(Item::node));
            for ctx in contexts {
                if let Some(w) = &rule.when {
                    if !w.holds(ctx, self, input, &ix) {
                        continue;
                    }
                }
                for v in rule.check.violations(ctx, self, input, &ix) {
                    let (line, col) = v.node.line_col();
                    let mut path = (input.path_of)(v.node);
                    path.push_str(&v.suffix);
                    let mut f = Finding::new(
                        i.id.clone(),
                        i.category,
                        i.severity,
                        rule.text_nb.render(ctx, &self.codelists),
                        rule.text_en.render(ctx, &self.codelists),
                    )
                    .at(path, line, col);
                    if let Some(a) = &i.apprec_error {
                        f = f.apprec(a);
                    }
                    out.push(f);
                }
            }
        }
        out
    }
}

fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=40).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-')
        && !id.ends_with('-')
        && !id.contains("--")
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    match s {
        "error" => Ok(Severity::Error),
        "warning" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        _ => Err(format!("severity «{s}» is not one of error, warning, info")),
    }
}

fn parse_category(s: &str) -> Result<Category, String> {
    Ok(match s {
        "completeness" => Category::Completeness,
        "identity" => Category::Identity,
        "codelist" => Category::Codelist,
        "profile" => Category::Profile,
        "routing" => Category::Routing,
        _ => {
            return Err(format!(
                "category «{s}» is not one of completeness, identity, codelist, profile, routing"
            ))
        }
    })
}

/// A compiled predicate.
enum Check {
    Present(Selector),
    Absent(Selector),
    Count {
        sel: Selector,
        min: u32,
        max: Option<u32>,
    },
    InCodelist {
        sel: Selector,
        list: u32,
    },
    InSet {
        sel: Selector,
        values: Vec<String>,
    },
    Matches {
        sel: Selector,
        re: Regex,
    },
    HasTime(Selector),
    DateOrder {
        first: Selector,
        then: Selector,
    },
    NationalId(Selector),
    HabitualBaseline(Selector),
    HabitualBaselineAny(Selector),
    CodesInTheirLists(Selector),
}

/// Where a rule is broken: an element, and what to add to its path (the
/// missing element's name, or an attribute).
struct Violation<'d> {
    node: Node<'d>,
    suffix: String,
}

impl<'d> Violation<'d> {
    fn at(item: &Item<'d>) -> Self {
        Violation {
            node: item.node(),
            suffix: item
                .attr_name()
                .map(|a| format!("/@{a}"))
                .unwrap_or_default(),
        }
    }
}

impl Check {
    /// The values this predicate tests one by one (the value predicates).
    fn value_test(&self, value: &str, cat: &Catalogue) -> Option<bool> {
        Some(match self {
            Check::InCodelist { list, .. } => cat.codelists.contains(*list, value),
            Check::InSet { values, .. } => values.iter().any(|v| v == value),
            Check::Matches { re, .. } => re.is_match(value),
            Check::HasTime(_) => has_time(value),
            Check::NationalId(_) => nid::check(value).is_ok(),
            _ => return None,
        })
    }

    /// Every selector the predicate uses.
    fn selectors(&self) -> Vec<&Selector> {
        match self {
            Check::DateOrder { first, then } => vec![first, then],
            _ => vec![self.selector()],
        }
    }

    fn selector(&self) -> &Selector {
        match self {
            Check::Present(s)
            | Check::Absent(s)
            | Check::HasTime(s)
            | Check::NationalId(s)
            | Check::HabitualBaseline(s)
            | Check::HabitualBaselineAny(s)
            | Check::CodesInTheirLists(s) => s,
            Check::Count { sel, .. }
            | Check::InCodelist { sel, .. }
            | Check::InSet { sel, .. }
            | Check::Matches { sel, .. } => sel,
            Check::DateOrder { then, .. } => then,
        }
    }

    fn violations<'d>(
        &self,
        ctx: Node<'d>,
        cat: &Catalogue,
        input: &Input<'_, 'd>,
        ix: &Index<'d, '_>,
    ) -> Vec<Violation<'d>> {
        match self {
            Check::Present(s) => s
                .missing_in(ctx, Some(ix))
                .map(|m| Violation {
                    node: m.at,
                    suffix: if m.step.is_empty() {
                        String::new()
                    } else {
                        format!("/{}", m.step)
                    },
                })
                .into_iter()
                .collect(),
            Check::Absent(s) => s
                .select_in(ctx, Some(ix))
                .iter()
                .filter(|i| i.has_content())
                .map(Violation::at)
                .collect(),
            Check::Count { sel, min, max } => {
                let items = sel.select_in(ctx, Some(ix));
                let n = items.len() as u32;
                if n < *min {
                    let suffix = sel.last_name().map(|l| format!("/{l}")).unwrap_or_default();
                    match sel.missing_in(ctx, Some(ix)) {
                        Some(m) if !m.step.is_empty() => vec![Violation {
                            node: m.at,
                            suffix: format!("/{}", m.step),
                        }],
                        _ => vec![Violation { node: ctx, suffix }],
                    }
                } else if let Some(item) = max.and_then(|mx| items.get(mx as usize)) {
                    vec![Violation::at(item)]
                } else {
                    Vec::new()
                }
            }
            Check::DateOrder { first, then } => {
                let Some(a) = first
                    .select_in(ctx, Some(ix))
                    .into_iter()
                    .map(|i| i.value())
                    .find(|v| !v.is_empty())
                else {
                    return Vec::new();
                };
                then.select_in(ctx, Some(ix))
                    .iter()
                    .filter(|i| !i.value().is_empty() && date_after(a, i.value()))
                    .map(Violation::at)
                    .collect()
            }
            Check::HabitualBaseline(s) => {
                let code = s
                    .select_in(ctx, Some(ix))
                    .into_iter()
                    .map(|i| i.value())
                    .find(|v| !v.is_empty());
                match code {
                    Some(c) if input.baselines.habitual(c).is_none() => vec![Violation {
                        node: ctx,
                        suffix: String::new(),
                    }],
                    _ => Vec::new(),
                }
            }
            Check::HabitualBaselineAny(s) => {
                let codes: Vec<&str> = s
                    .select_in(ctx, Some(ix))
                    .into_iter()
                    .map(|i| i.value())
                    .filter(|v| !v.is_empty())
                    .collect();
                let none = if codes.is_empty() {
                    input.baselines.any().is_none()
                } else {
                    codes.iter().all(|c| input.baselines.habitual(c).is_none())
                };
                if none {
                    vec![Violation {
                        node: ctx,
                        suffix: String::new(),
                    }]
                } else {
                    Vec::new()
                }
            }
            Check::CodesInTheirLists(s) => {
                // One pass over the attributes for V and S; no list for `.`.
                let judge = |n: Node<'d>| -> Option<Violation<'d>> {
                    let (mut v, mut sys) = (None, None);
                    for a in n.attributes() {
                        match a.name() {
                            "V" if a.ns().is_empty() => v = Some(a.value()),
                            "S" if a.ns().is_empty() => sys = Some(a.value()),
                            _ => {}
                        }
                    }
                    let v = v?.trim();
                    let list = cat.codelists.by_oid(sys?.trim())?;
                    (!v.is_empty() && !list.contains(v)).then(|| Violation {
                        node: n,
                        suffix: "/@V".to_owned(),
                    })
                };
                if s.is_self() {
                    judge(ctx).into_iter().collect()
                } else {
                    s.select_in(ctx, Some(ix))
                        .iter()
                        .filter_map(|i| judge(i.node()))
                        .collect()
                }
            }
            _ => self
                .selector()
                .select_in(ctx, Some(ix))
                .iter()
                .filter(|i| {
                    let v = i.value();
                    !v.is_empty() && self.value_test(v, cat) == Some(false)
                })
                .map(Violation::at)
                .collect(),
        }
    }

    /// As a condition (`when`): true when the selection is there and passes.
    fn holds<'d>(
        &self,
        ctx: Node<'d>,
        cat: &Catalogue,
        input: &Input<'_, 'd>,
        ix: &Index<'d, '_>,
    ) -> bool {
        match self {
            Check::Present(s) => s.any(ctx, Some(ix), &mut |i| i.has_content()),
            Check::Absent(s) => !s.any(ctx, Some(ix), &mut |i| i.has_content()),
            Check::Count { sel, min, max } => {
                let n = sel.select_in(ctx, Some(ix)).len() as u32;
                n >= *min && max.is_none_or(|m| n <= m)
            }
            Check::HabitualBaseline(_) => {
                !self.selector().select_in(ctx, Some(ix)).is_empty()
                    && self.violations(ctx, cat, input, ix).is_empty()
            }
            Check::HabitualBaselineAny(_) | Check::CodesInTheirLists(_) => {
                self.violations(ctx, cat, input, ix).is_empty()
            }
            Check::DateOrder { first, then } => {
                !first.select_in(ctx, Some(ix)).is_empty()
                    && !then.select_in(ctx, Some(ix)).is_empty()
                    && self.violations(ctx, cat, input, ix).is_empty()
            }
            _ => {
                let items = self.selector().select_in(ctx, Some(ix));
                let values: Vec<&str> = items
                    .iter()
                    .map(|i| i.value())
                    .filter(|v| !v.is_empty())
                    .collect();
                !values.is_empty() && values.iter().all(|v| self.value_test(v, cat) == Some(true))
            }
        }
    }
}

/// True when an XML Schema date/time value has a time of day (`…Thh:mm`).
fn has_time(v: &str) -> bool {
    match v.find('T') {
        Some(i) => {
            let t = v.as_bytes().get(i + 1..i + 6);
            matches!(t, Some([a, b, b':', c, d]) if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() && d.is_ascii_digit())
        }
        None => false,
    }
}

/// True when date/time `a` is later than `b`. Dates compare by day; when
/// both carry a time of day, by time too (as written: the same offset is
/// assumed, which is what Norwegian senders use).
fn date_after(a: &str, b: &str) -> bool {
    let (da, ta) = a.split_once('T').unwrap_or((a, ""));
    let (db, tb) = b.split_once('T').unwrap_or((b, ""));
    match da.cmp(db) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => !ta.is_empty() && !tb.is_empty() && ta > tb,
    }
}

/// A finding text with placeholders: `{dn:SELECTOR}` the display name of a
/// coded element (the code list's name for its code, else its `DN`, else the
/// code), `{code:SELECTOR}` its code, `{list:SELECTOR}` the number of its code
/// list. Only coded values can be shown, so no free text from the message
/// (which may identify the patient) can reach a finding.
struct Template {
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    /// Display name of a coded element.
    Dn(Selector),
    /// The code (`V`) of a coded element.
    Code(Selector),
    /// The number of the code list a coded element's `S` names.
    List(Selector),
}

impl Template {
    fn parse(s: &str, ns: &dyn Fn(&str) -> Option<NsTest>) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            parts.push(Part::Text(rest[..i].to_owned()));
            let after = &rest[i + 1..];
            let end = after
                .find('}')
                .ok_or_else(|| "a «{» is not closed by «}»".to_owned())?;
            let inner = &after[..end];
            let part = if let Some(sel) = inner.strip_prefix("dn:") {
                Part::Dn(Selector::parse(sel, ns)?)
            } else if let Some(sel) = inner.strip_prefix("code:") {
                Part::Code(Selector::parse(sel, ns)?)
            } else if let Some(sel) = inner.strip_prefix("list:") {
                Part::List(Selector::parse(sel, ns)?)
            } else {
                return Err(format!(
                    "«{{{inner}}}» is not a placeholder; they are {{dn:SELECTOR}}, {{code:SELECTOR}} and {{list:SELECTOR}}"
                ));
            };
            parts.push(part);
            rest = &after[end + 1..];
        }
        parts.push(Part::Text(rest.to_owned()));
        Ok(Template { parts })
    }

    fn render(&self, ctx: Node<'_>, lists: &CodeLists) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Dn(sel) => {
                    let shown = sel
                        .select(ctx)
                        .into_iter()
                        .find_map(|i| display(i.node(), lists));
                    out.push_str(shown.as_deref().unwrap_or("?"));
                }
                Part::Code(sel) => {
                    let code = sel.select(ctx).into_iter().find_map(|i| {
                        let v = i.node().attr("V")?.trim();
                        (!v.is_empty()).then(|| overgang_xml::short(v))
                    });
                    out.push_str(code.as_deref().unwrap_or("?"));
                }
                Part::List(sel) => {
                    let list = sel.select(ctx).into_iter().find_map(|i| {
                        overgang_codelists::list_number_of_oid(i.node().attr("S")?.trim())
                    });
                    out.push_str(&list.map(|l| l.to_string()).unwrap_or_else(|| "?".into()));
                }
            }
        }
        out
    }
}

/// The display name of a coded element; `None` for an element without a code.
fn display(n: Node<'_>, lists: &CodeLists) -> Option<String> {
    // The code list's name first: it is ours, and the same for every sender.
    let v = n.attr("V")?.trim();
    let from_list = n
        .attr("S")
        .and_then(|s| lists.by_oid(s.trim()))
        .and_then(|l| l.display(v));
    let dn = n.attr("DN").map(str::trim).filter(|d| !d.is_empty());
    Some(overgang_xml::short(from_list.or(dn).unwrap_or(v)))
}

#[cfg(test)]
mod tests;
