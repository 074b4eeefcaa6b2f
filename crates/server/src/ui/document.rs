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

pub fn render(
    lang: Lang,
    codes: &overgang_codelists::CodeLists,
    labels: &overgang_present::Labels,
    original: &[u8],
    findings: &[Finding],
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
            profile: r.profile.map(|p| overgang_present::profile_html(&p, lang)),
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
