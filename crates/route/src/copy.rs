//! Copy rules: who gets a copy of a message beyond the receivers the sender
//! named. Data, so a deployment can change them in its configuration:
//!
//! ```toml
//! [routing]
//! [[routing.copy]]
//! name = "gp-on-discharge"
//! types = ["UTSKRIVNINGSRAPPORT"]
//! to = "patient_gp"
//! warn_when_missing = true
//! ```
//!
//! Without a `[routing]` section (or without `copy` in it) the default
//! applies: that one rule. `copy = []` turns copies off.

use serde::{Deserialize, Serialize};

/// A copy rules configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// One copy rule is wrong. `rule` is its name, or `#N` (1-based) when
    /// it has none.
    #[error("routing.copy rule {rule}: {what}")]
    CopyRule { rule: String, what: String },
}

/// The copy rules in force. `Default` is the one rule
/// [`CopyRule::gp_on_discharge`]; [`CopyRules::none`] has no rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopyRules {
    /// Applied in order; each rule adds at most one copy target.
    pub copy: Vec<CopyRule>,
}

impl Default for CopyRules {
    fn default() -> Self {
        CopyRules {
            copy: vec![CopyRule::gp_on_discharge()],
        }
    }
}

impl CopyRules {
    /// No copy rules: messages go to the receivers they name, nowhere else.
    pub fn none() -> CopyRules {
        CopyRules { copy: Vec::new() }
    }

    /// Checks the rules: each has a name (no two alike) and at least one
    /// message type, and every type is a code (letters, digits, `_`, `-`).
    pub fn check(&self) -> Result<(), RouteError> {
        for (i, r) in self.copy.iter().enumerate() {
            let name = r.name.trim();
            let bad = |what: String| RouteError::CopyRule {
                rule: if name.is_empty() {
                    format!("#{}", i + 1)
                } else {
                    format!("{name:?}")
                },
                what,
            };
            if name.is_empty() {
                return Err(bad("has no name".into()));
            }
            if self.copy[..i].iter().any(|o| o.name.trim() == name) {
                return Err(bad("is named twice".into()));
            }
            if r.types.is_empty() {
                return Err(bad(
                    "lists no message types (e.g. types = [\"UTSKRIVNINGSRAPPORT\"])".into(),
                ));
            }
            if let Some(t) = r.types.iter().find(|t| !is_type_code(t)) {
                return Err(bad(format!(
                    "type {t:?} is not a message type code (code list 8279, e.g. UTSKRIVNINGSRAPPORT)"
                )));
            }
        }
        Ok(())
    }

    /// The rules that apply to messages of type `msg_type`.
    pub fn for_type<'a>(&'a self, msg_type: &'a str) -> impl Iterator<Item = &'a CopyRule> + 'a {
        self.copy.iter().filter(move |r| r.applies_to(msg_type))
    }
}

/// One copy rule: messages of these types also go to this party.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyRule {
    /// Shown in the message history and in findings (`gp-on-discharge`).
    pub name: String,
    /// `MsgInfo/Type` codes (list 8279) the rule applies to.
    pub types: Vec<String>,
    /// Who gets the copy.
    pub to: CopyTo,
    /// Warn (the sender and the nurse) when the message does not say who
    /// that is, so no copy can be sent.
    #[serde(default)]
    pub warn_when_missing: bool,
}

impl CopyRule {
    /// The default rule: a discharge report (`UTSKRIVNINGSRAPPORT`) also goes
    /// to the patient's GP, with a warning when it names no GP.
    pub fn gp_on_discharge() -> CopyRule {
        CopyRule {
            name: "gp-on-discharge".into(),
            types: vec!["UTSKRIVNINGSRAPPORT".into()],
            to: CopyTo::PatientGp,
            warn_when_missing: true,
        }
    }

    pub fn applies_to(&self, msg_type: &str) -> bool {
        self.types.iter().any(|t| t.trim() == msg_type.trim())
    }
}

/// Who a copy rule sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyTo {
    /// The patient's GP (fastlege) as the message names them: a
    /// `HealthcareProfessional` in the envelope or a
    /// `KontaktpersonHelsepersonell/Kontaktperson` in the document with
    /// role `6` Fastlege (code list 9034) and a HER-id.
    PatientGp,
}

/// A message type code as code list 8279 writes them.
pub(crate) fn is_type_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
