//! The Overgang Funksjonsprofil extension document (`docs/EXTENSION.md`):
//! per IPLOS variable (list 9111) the habitual (pre-illness) level beside the
//! current one, each with its date and assessor. No PLO version can carry
//! the habitual level, so it travels as an extra `Document` in the same
//! MsgHead, in Overgang's own namespace.
//!
//! Like the rest of the model, reading never fails and does not judge: a
//! score outside the IPLOS scale, a bad date or a missing part is read as it
//! is (or as `None`) and left to the schema and the rules.

use crate::common::{text, Loc, Sensitive};
use overgang_xml::Node;

/// The namespace of Funksjonsprofil 1.0. It names this exact version: a
/// later version gets a namespace of its own.
pub const FUNKSJONSPROFIL_NS: &str = "urn:overgang:xmlstds:funksjonsprofil:1.0";

/// The root element of the extension document.
pub const FUNKSJONSPROFIL_ROOT: &str = "Funksjonsprofil";

/// True when `ns` is the namespace of a Funksjonsprofil version this model reads.
pub fn is_funksjonsprofil_namespace(ns: &str) -> bool {
    ns == FUNKSJONSPROFIL_NS
}

/// True when the element is a Funksjonsprofil document root.
pub(crate) fn is_funksjonsprofil_root(ns: &str, local: &str) -> bool {
    is_funksjonsprofil_namespace(ns) && local == FUNKSJONSPROFIL_ROOT
}

/// `Funksjonsprofil`: the extension document.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FunctionalProfile {
    /// Every `Variabel`, in document order.
    pub variables: Vec<ProfileVariable>,
    pub loc: Loc,
}

/// `Variabel`: one IPLOS variable.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProfileVariable {
    /// `Funksjonsvariabel`, trimmed: the variable's code in list 9111 (`1`–`18`).
    pub code: Option<String>,
    /// `Aktuell`: the level at the time of the message.
    pub current: Option<ProfileAssessment>,
    /// `Habituell`: the usual level before the current illness or injury.
    pub habitual: Option<ProfileAssessment>,
    /// `Merknad` present and not blank (its text is never kept).
    pub comment_present: bool,
    pub loc: Loc,
}

/// `Habituell` or `Aktuell`: one assessment.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProfileAssessment {
    /// `Vurdering`, trimmed.
    pub score_raw: Option<String>,
    /// `Vurdering` read as a small integer; not checked against the IPLOS
    /// scale {1,2,3,4,5,9} (see [`ProfileAssessment::score_on_scale`]).
    pub score: Option<u8>,
    /// `Dato`, trimmed (an `xs:date` when the document is valid).
    pub date: Option<String>,
    /// `VurdertAv/Navn`: who assessed. Sensitive: the assessor may be a
    /// relative of the patient.
    pub assessed_by: Sensitive<Option<String>>,
    /// `VurdertAv/Rolle`, free text (sensitive for the same reason).
    pub assessor_role: Sensitive<Option<String>>,
    /// `VurdertAv/HerId`, trimmed.
    pub assessor_her_id: Option<String>,
    pub loc: Loc,
}

impl ProfileAssessment {
    /// The score, when it is on the IPLOS scale {1,2,3,4,5,9}.
    pub fn score_on_scale(&self) -> Option<u8> {
        self.score.filter(|s| matches!(s, 1..=5 | 9))
    }
}

impl ProfileVariable {
    /// The variable's number in list 9111, when the code is one.
    pub fn number(&self) -> Option<u8> {
        parse_small(self.code.as_deref()?)
    }
}

/// Digits only (no sign, no spaces), at most three of them.
fn parse_small(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FunctionalProfile {
    /// Reads a Funksjonsprofil from its root element. Children are matched
    /// by local name in the root's namespace, in any order.
    pub fn read(root: Node<'_>) -> FunctionalProfile {
        let ns = root.ns();
        FunctionalProfile {
            variables: root
                .children_named(ns, "Variabel")
                .map(|v| read_variable(v, ns))
                .collect(),
            loc: Loc::of(root),
        }
    }

    /// The entry for IPLOS variable `code` (list 9111), if any (the first).
    pub fn variable(&self, code: &str) -> Option<&ProfileVariable> {
        self.variables
            .iter()
            .find(|v| v.code.as_deref() == Some(code))
    }
}

fn read_variable(n: Node<'_>, ns: &str) -> ProfileVariable {
    ProfileVariable {
        code: text(n.child(ns, "Funksjonsvariabel")),
        current: n.child(ns, "Aktuell").map(|a| read_assessment(a, ns)),
        habitual: n.child(ns, "Habituell").map(|a| read_assessment(a, ns)),
        comment_present: n.child(ns, "Merknad").is_some_and(|m| m.has_text()),
        loc: Loc::of(n),
    }
}

fn read_assessment(n: Node<'_>, ns: &str) -> ProfileAssessment {
    let score_raw = text(n.child(ns, "Vurdering"));
    let by = n.child(ns, "VurdertAv");
    ProfileAssessment {
        score: score_raw.as_deref().and_then(parse_small),
        score_raw,
        date: text(n.child(ns, "Dato")),
        assessed_by: Sensitive(text(by.and_then(|b| b.child(ns, "Navn")))),
        assessor_role: Sensitive(text(by.and_then(|b| b.child(ns, "Rolle")))),
        assessor_her_id: text(by.and_then(|b| b.child(ns, "HerId"))),
        loc: Loc::of(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_numbers_are_digits_only() {
        assert_eq!(parse_small("9"), Some(9));
        assert_eq!(parse_small("18"), Some(18));
        assert_eq!(parse_small("07"), Some(7));
        assert_eq!(parse_small("+3"), None);
        assert_eq!(parse_small("-1"), None);
        assert_eq!(parse_small("3.0"), None);
        assert_eq!(parse_small(""), None);
        assert_eq!(parse_small("256"), None);
        assert_eq!(parse_small("1000"), None);
    }

    #[test]
    fn the_scale_is_one_to_five_and_nine() {
        let on = |s: u8| {
            ProfileAssessment {
                score: Some(s),
                ..Default::default()
            }
            .score_on_scale()
        };
        assert_eq!(
            (0..=10).filter_map(on).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 9]
        );
    }
}
