//! What a nurse reads: a stored message turned into a readable clinical
//! document.
//!
//! [`render`] parses the original bytes, reads the message model and
//! renders the main PLO document as nested sections (headings from
//! [`Labels`], coded values by their code-list display names, dates in
//! Norwegian form), with medications, next of kin and events as tables and
//! journal texts as paragraphs. Every element shown gets a stable html id
//! derived from its path, and each finding is shown at the element its path
//! names (or the nearest one shown, for a missing element). The functional
//! profile (habitual and current IPLOS levels) comes as data
//! ([`ProfileTable`]) and as html ([`profile_html`]). [`css`] is the
//! stylesheet for both.
//!
//! All html is built with `maud`, which escapes every value. Pure: no IO, no
//! clock, no global state; the labels are data passed in.

mod doc;
mod format;
mod ids;
mod labels;
mod profile;

pub use format::norwegian_date;
pub use labels::{Label, Labels};
pub use overgang_model::Lang;
pub use profile::{profile_html, score_meaning, OtherLevel, ProfileCell, ProfileRow, ProfileTable};

use doc::Renderer;
use maud::{html, Markup};
use overgang_codelists::CodeLists;
use overgang_model::{Finding, Message};
use overgang_xml::{Document, Limits, Node};
use std::collections::HashMap;

/// Why a message could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PresentError {
    /// The bytes are not a well-formed XML document within the limits.
    #[error("the message cannot be read as XML: {0}")]
    Xml(#[from] overgang_xml::XmlError),
    /// A labels file is malformed.
    #[error("labels: {0}")]
    Labels(String),
}

/// The patient, for the page header.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PatientView {
    /// Given, middle and family name.
    pub name: Option<String>,
    /// The national id (FNR, DNR or HNR), else the first identifier.
    pub national_id: Option<String>,
    /// Its kind (`FNR`, `DNR`, …).
    pub id_kind: Option<String>,
    /// `dd.mm.yyyy` (as written when not a date).
    pub birth_date: Option<String>,
}

/// A message ready for the page.
#[derive(Debug)]
pub struct Rendered {
    /// The document's name, e.g. "Innleggelsesrapport" / "Admission report".
    pub title: String,
    pub patient: Option<PatientView>,
    /// The clinical document.
    pub document: Markup,
    /// The functional profile, when the message has IPLOS assessments or the
    /// Funksjonsprofil extension.
    pub profile: Option<ProfileTable>,
    /// For each finding with a path: its index in the findings given and the
    /// html id of the element shown where it points.
    pub anchors: Vec<(usize, String)>,
}

/// Renders a stored message with its findings, in `lang`. Fails only when
/// the bytes are not XML; any message that parses renders, whatever its
/// contents.
pub fn render(
    original: &[u8],
    findings: &[Finding],
    code_lists: &CodeLists,
    labels: &Labels,
    lang: Lang,
) -> Result<Rendered, PresentError> {
    let doc = overgang_xml::parse(original, &Limits::default())?;
    let msg = Message::read(&doc);
    let title = title(&doc, &msg, code_lists, labels, lang);

    // First pass: which elements are shown, under which ids.
    let mut dry = Renderer::new(&doc, code_lists, labels, lang, findings, HashMap::new());
    let _ = document(&mut dry, &msg, &title);
    let shown = dry.ids;

    let mut anchors = Vec::new();
    let mut marks: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        let mut cur = ids::resolve(&doc, &f.path);
        while let Some(n) = cur {
            if let Some(id) = shown.get(&n.id()) {
                anchors.push((i, id.clone()));
                marks.entry(n.id()).or_default().push(i);
                break;
            }
            cur = n.parent();
        }
    }

    let mut r = Renderer::new(&doc, code_lists, labels, lang, findings, marks);
    let document = document(&mut r, &msg, &title);
    Ok(Rendered {
        profile: profile::build(&msg, code_lists, lang, &title),
        patient: patient(&msg),
        title,
        document,
        anchors,
    })
}

/// The stylesheet for the document and the profile.
pub fn css() -> &'static str {
    include_str!("present.css")
}

fn title(doc: &Document, msg: &Message, codes: &CodeLists, labels: &Labels, lang: Lang) -> String {
    if let Some(n) = msg.plo.as_ref().and_then(|p| p.notice()) {
        if let Some(l) = labels.label(n.element_name(), lang) {
            return l.to_owned();
        }
    }
    let content = main_node(doc, msg);
    if let Some(l) = content.and_then(|c| labels.label(c.name(), lang)) {
        return l.to_owned();
    }
    if let Some(t) = msg.head.as_ref().and_then(|h| h.msg_type.as_ref()) {
        let shown = t
            .code()
            .and_then(|c| codes.display(8279, c))
            .or(t.dn.as_deref())
            .or(t.code())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(s) = shown {
            return s.to_owned();
        }
    }
    match content {
        Some(c) => labels.heading(c.name(), lang),
        None => match lang {
            Lang::Nb => "Melding".to_owned(),
            Lang::En => "Message".to_owned(),
        },
    }
}

/// The main document's content root, or a bare document's root.
fn main_node<'d>(doc: &'d Document, msg: &Message) -> Option<Node<'d>> {
    if msg.head.is_some() || doc.root().name() == "MsgHead" {
        msg.main_document()
            .and_then(|d| d.content_root_node)
            .and_then(|id| doc.node(id))
    } else {
        Some(doc.root())
    }
}

fn patient(msg: &Message) -> Option<PatientView> {
    let p = msg.head.as_ref()?.patient.as_ref()?;
    let name: Vec<&str> = [
        p.given_name.expose(),
        p.middle_name.expose(),
        p.family_name.expose(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.trim())
    .filter(|s| !s.is_empty())
    .collect();
    let national = ["FNR", "DNR", "HNR"];
    let ident = p
        .idents
        .iter()
        .find(|i| i.type_code().is_some_and(|c| national.contains(&c)))
        .or_else(|| p.idents.first());
    let birth = p
        .date_of_birth
        .expose()
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| norwegian_date(s).unwrap_or_else(|| s.to_owned()));
    Some(PatientView {
        name: (!name.is_empty()).then(|| format::one_line(&name.join(" "))),
        national_id: ident
            .and_then(|i| i.id.expose().as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        id_kind: ident.and_then(|i| i.type_code()).map(str::to_owned),
        birth_date: birth,
    })
}

/// The whole document: the main document, other documents, the envelope.
fn document(r: &mut Renderer<'_, '_>, msg: &Message, title: &str) -> Markup {
    let doc = r.doc;
    let root = doc.root();
    let main = main_node(doc, msg);
    let root_is_main = main.is_some_and(|m| m.id() == root.id());
    let article_id = (!root_is_main).then(|| r.register(root, &ids::root_id(root)));
    let article_cls = if root_is_main {
        ""
    } else {
        r.finding_class(root)
    };
    let article_marks = if root_is_main {
        html! {}
    } else {
        r.markers(root)
    };
    let lang = match r.lang {
        Lang::Nb => "nb",
        Lang::En => "en",
    };

    let main_html = match main {
        Some(m) => main_section(r, msg, m, title),
        None => html! {
            header.doc-main { h1.doc-title { (title) } }
        },
    };

    // Other documents and the envelope, when there is one.
    let mut others = Vec::new();
    let mut envelope = html! {};
    if !root_is_main {
        let kids = ids::child_ids(root, article_id.as_deref().unwrap_or(""));
        for (c, cid) in &kids {
            match c.name() {
                "MsgInfo" => {
                    let open = r.has_marks_within(*c);
                    let summary = r.t(
                        "Om meldingen: avsender, mottaker, pasient",
                        "About the message: sender, receiver, patient",
                    );
                    let hid = r.register(*c, cid);
                    let cls = r.finding_class(*c);
                    let body = r.children(*c, cid, 3);
                    let marks = r.markers(*c);
                    envelope = html! {
                        details class=(format!("envelope{cls}")) id=(hid) open[open] {
                            summary { (summary) }
                            (marks)
                            (body)
                        }
                    };
                }
                "Document" => {
                    let croot = c
                        .child_local("RefDoc")
                        .and_then(|rd| rd.child_local("Content"))
                        .and_then(|ct| ct.children().next());
                    if main.is_some_and(|m| croot.is_some_and(|x| x.id() == m.id())) {
                        continue;
                    }
                    others.push(attachment(r, *c, cid, croot));
                }
                _ => {}
            }
        }
    }

    html! {
        article class=(format!("plo-doc{article_cls}")) id=[article_id] lang=(lang) {
            (article_marks)
            (main_html)
            @if !others.is_empty() {
                section.attachments {
                    h2 { (r.t("Andre dokumenter i meldingen", "Other documents in the message")) }
                    @for o in others { (o) }
                }
            }
            (envelope)
        }
    }
}

fn main_section(r: &mut Renderer<'_, '_>, msg: &Message, m: Node<'_>, title: &str) -> Markup {
    let id = ids::id_of(m);
    let hid = r.register(m, &id);
    let cls = r.finding_class(m);
    let marks = r.markers(m);
    let status = msg.plo.as_ref().and_then(|p| p.forsendelsesstatus.as_ref());
    let status_code = status.and_then(|s| s.code.code()).map(str::trim);
    let status_text = status.and_then(|s| {
        let c = s.code.code()?;
        r.codes
            .display(7309, c)
            .or(s.code.dn.as_deref())
            .map(str::to_owned)
    });
    let created = msg
        .head
        .as_ref()
        .and_then(|h| h.gen_date.as_deref())
        .and_then(norwegian_date);
    let status_label = r.t("Status", "Status");
    let created_label = r.t("Laget", "Created");
    let cancelled = r.t(
        "Denne meldingen kansellerer en tidligere melding om samme pasient.",
        "This message cancels an earlier message about the same patient.",
    );
    let status_class = format!(
        "status status-{}",
        status_code
            .filter(|c| c.len() == 1 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .unwrap_or("x")
    );
    let body = r.children(m, &id, 2);
    html! {
        section class=(format!("doc-main{cls}")) id=(hid) {
            h1.doc-title { (title) }
            (marks)
            @if status_text.is_some() || created.is_some() {
                p.doc-meta {
                    @if let Some(s) = &status_text {
                        (status_label) ": " span class=(status_class) { (s) }
                    }
                    @if status_text.is_some() && created.is_some() { " · " }
                    @if let Some(c) = &created { (created_label) " " (c) }
                }
            }
            @if status_code == Some("C") {
                p.banner.sev-warning role="status" { (cancelled) }
            }
            (body)
        }
    }
}

/// A document other than the main one: its XML content as sections, or a
/// line naming a text or binary attachment.
fn attachment(r: &mut Renderer<'_, '_>, d: Node<'_>, id: &str, croot: Option<Node<'_>>) -> Markup {
    if let Some(c) = croot {
        let cid = ids::id_of(c);
        return r.section(c, &cid, 3);
    }
    let hid = r.register(d, id);
    let cls = r.finding_class(d);
    let marks = r.markers(d);
    let text = |n: Option<Node<'_>>| {
        n.map(|x| format::one_line(x.text()))
            .filter(|s| !s.is_empty())
    };
    let refdoc = d.child_local("RefDoc");
    let description = text(refdoc.and_then(|x| x.child_local("Description")))
        .or_else(|| text(d.child_local("ContentDescription")));
    let mime = text(refdoc.and_then(|x| x.child_local("MimeType")));
    let fallback = r.t("Vedlegg", "Attachment");
    html! {
        p class=(format!("attachment{cls}")) id=(hid) {
            (description.as_deref().unwrap_or(fallback))
            @if let Some(m) = mime { " " span.code { "(" (m) ")" } }
            (marks)
        }
    }
}

#[cfg(test)]
mod tests;
