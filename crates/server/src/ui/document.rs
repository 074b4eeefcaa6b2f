//! The bridge to the clinical renderer (`overgang-present`).

use maud::{html, Markup};
use overgang_model::{Finding, Lang};

pub struct Document {
    pub title: Option<String>,
    pub patient: Option<String>,
    pub anchors: Vec<(usize, String)>,
    pub profile: Option<Markup>,
    pub body: Markup,
}

pub fn render(
    _lang: Lang,
    _codes: &overgang_codelists::CodeLists,
    _original: &[u8],
    _findings: &[Finding],
) -> Document {
    Document {
        title: None,
        patient: None,
        anchors: Vec::new(),
        profile: None,
        body: html! {},
    }
}
