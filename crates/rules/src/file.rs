//! The rule file format (TOML), as read from disk, before compiling.
//! `docs/RULES.md` documents it for users.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// One rule file: new rules, changes to rules defined earlier, and
/// namespace prefixes of its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub namespaces: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    pub rule: Vec<RuleSpec>,
    #[serde(default, rename = "override")]
    pub overrides: Vec<OverrideSpec>,
}

/// A rule as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: Spanned<String>,
    pub severity: Spanned<String>,
    #[serde(default)]
    pub category: Option<Spanned<String>>,
    /// `MsgInfo/Type` codes (list 8279); empty or `["*"]`: every type.
    #[serde(default)]
    pub messages: Option<Spanned<Vec<String>>>,
    /// Versions of the main document's standard (`1.5`, `1.6`, `2.0`, …);
    /// empty: every version.
    #[serde(default)]
    pub versions: Option<Spanned<Vec<String>>>,
    /// A condition on the main document; the rule runs only when it holds
    /// (e.g. not for cancellations).
    #[serde(default)]
    pub precondition: Option<Spanned<CheckSpec>>,
    #[serde(default)]
    pub for_each: Option<Spanned<String>>,
    #[serde(default)]
    pub when: Option<Spanned<CheckSpec>>,
    pub check: Spanned<CheckSpec>,
    pub text_nb: Spanned<String>,
    pub text_en: Spanned<String>,
    #[serde(default)]
    pub apprec: Option<Spanned<String>>,
    pub source: Spanned<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A change to a rule defined in an earlier file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    pub id: Spanned<String>,
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Why the deployment changes the rule (its cooperation agreement).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The predicates, as written: a table with exactly one of these keys.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    /// The selector finds something with content.
    Present(String),
    /// The selector finds nothing with content.
    Absent(String),
    /// The selector finds between `min` and `max` elements.
    Count {
        select: String,
        #[serde(default)]
        min: Option<u32>,
        #[serde(default)]
        max: Option<u32>,
    },
    /// Every value found is a code in the code list.
    InCodelist { select: String, list: u32 },
    /// Every value found is one of `values`.
    InSet { select: String, values: Vec<String> },
    /// Every value found matches the XML Schema pattern.
    Matches { select: String, pattern: String },
    /// Every date/time found has a time of day.
    HasTime(String),
    /// The value of `first` is not later than the value of `then`.
    DateOrder { first: String, then: String },
    /// Every value found is a valid national identity number (FNR, D- or
    /// H-number: date and mod-11 check digits).
    NationalId(String),
    /// The IPLOS variable whose code the selector finds has a habitual
    /// (pre-illness) level: stated in the message's extension document, or
    /// (later) derived from the patient's earlier messages.
    HabitualBaseline(String),
    /// At least one of the IPLOS variables whose codes the selector finds has
    /// a habitual level (so a report without any is one finding, not one
    /// per variable). When the selector finds no variable, some habitual
    /// level must be known for the patient at all.
    HabitualBaselineAny(String),
    /// Every coded element found whose `S` names a code list Overgang
    /// carries has a `V` in that list.
    CodesInTheirLists(String),
}

impl CheckSpec {
    /// The predicate's name as written in rule files.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Present(_) => "present",
            CheckSpec::Absent(_) => "absent",
            CheckSpec::Count { .. } => "count",
            CheckSpec::InCodelist { .. } => "in_codelist",
            CheckSpec::InSet { .. } => "in_set",
            CheckSpec::Matches { .. } => "matches",
            CheckSpec::HasTime(_) => "has_time",
            CheckSpec::DateOrder { .. } => "date_order",
            CheckSpec::NationalId(_) => "national_id",
            CheckSpec::HabitualBaseline(_) => "habitual_baseline",
            CheckSpec::HabitualBaselineAny(_) => "habitual_baseline_any",
            CheckSpec::CodesInTheirLists(_) => "codes_in_their_lists",
        }
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
