//! The bridge to the clinical renderer (`overgang-present`): the message's
//! bytes, its findings and the code lists in; the document, the patient
//! line, the functional profile and each finding's place out.

use maud::{html, Markup};
use overgang_model::{Finding, Lang};

use super::t;

pub struct Document {
    pub title: Option<String>,
    /// Name, national id and date of birth, for the page's header.
    pub patient: Option<String>,
    /// Finding index → the id of the element it points at.
    pub anchors: Vec<(usize, String)>,
    pub profile: Option<Markup>,
    pub body: Markup,
}

/// Levels of the functional profile from the patient's other messages.
pub struct ProfileContext {
    /// Derived habitual levels (shown where the message states none).
    pub derived: Vec<overgang_present::OtherLevel>,
    /// The levels at discharge (the column is shown, empty or not).
    pub expected: Vec<overgang_present::OtherLevel>,
}

pub fn render(
    lang: Lang,
    codes: &overgang_codelists::CodeLists,
    labels: &overgang_present::Labels,
    original: &[u8],
    findings: &[Finding],
    context: Option<&ProfileContext>,
) -> Document {
    match overgang_present::render(original, findings, codes, labels, lang) {
        Ok(r) => Document {
            title: Some(r.title),
            patient: r.patient.map(|p| {
                let mut parts: Vec<String> = Vec::new();
                if let Some(n) = p.name {
                    parts.push(n);
                }
                if let Some(id) = p.national_id {
                    parts.push(match p.id_kind {
                        Some(k) => format!("{k} {id}"),
                        None => id,
                    });
                }
                if let Some(b) = p.birth_date {
                    parts.push(format!("{} {b}", t(lang, "født", "born")));
                }
                parts.join(" · ")
            }),
            anchors: r.anchors,
            profile: with_context(r.profile, context, codes, lang)
                .map(|p| overgang_present::profile_html(&p, lang)),
            body: r.document,
        },
        // Stored messages were read as XML at intake; this is for the odd
        // message that was rejected for not being XML at all.
        Err(_) => Document {
            title: None,
            patient: None,
            anchors: Vec::new(),
            profile: None,
            body: html! {
                p.notice { (t(lang, "Meldingen kan ikke vises som dokument: den er ikke lesbar XML.",
                               "The message cannot be shown as a document: it is not readable XML.")) }
            },
        },
    }
}

/// The message's profile with the levels from other messages; a table of
/// its own when the message has no profile but other messages give levels.
fn with_context(
    profile: Option<overgang_present::ProfileTable>,
    context: Option<&ProfileContext>,
    codes: &overgang_codelists::CodeLists,
    lang: Lang,
) -> Option<overgang_present::ProfileTable> {
    let Some(c) = context else {
        return profile;
    };
    let table = match profile {
        Some(p) => p,
        None if !c.derived.is_empty() || !c.expected.is_empty() => {
            overgang_present::ProfileTable::blank(codes)
        }
        None => return None,
    };
    Some(
        table
            .with_derived(&c.derived, lang)
            .with_expected(&c.expected, lang),
    )
}
