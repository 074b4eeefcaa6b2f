//! The MsgHead v1.2 envelope and the message as a whole.

use crate::apprec::AppRecInfo;
use crate::common::{her_ident, idents, text, ts, Coded, Ident, Loc, Sensitive};
use crate::extension::{is_funksjonsprofil_root, FunctionalProfile};
use crate::plo::PloDocument;
use crate::standard::{NsMatch, Standard, NS_MSGHEAD};
use overgang_xml::{Document, Node};
use std::fmt;

const MH: &str = NS_MSGHEAD;

/// A message as read from a parsed document. Reading never fails: what is
/// absent or unreadable is `None` or empty.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Message {
    /// Namespace and local name of the root element.
    pub root_ns: String,
    pub root_name: String,
    /// The envelope, when the root is `MsgHead` (MsgHead namespace).
    pub head: Option<MsgHead>,
    /// The envelope's `Document`s in order (attachments included).
    pub documents: Vec<DocumentInfo>,
    /// Index in `documents` of the main document (the first one whose content
    /// is a recognised standard; else the first with XML content that is not
    /// an Overgang extension document).
    pub main: Option<usize>,
    /// The main document's standard (for a bare AppRec/PLO root: the root's).
    pub standard: Option<Standard>,
    /// How the main document's namespace matched, when recognised.
    pub ns_match: Option<NsMatch>,
    /// The main PLO document's contents, when the main document is PLO.
    pub plo: Option<PloDocument>,
    /// The AppRec's contents, when the message is (or carries) an AppRec.
    pub apprec: Option<AppRecInfo>,
    /// The Overgang Funksjonsprofil extension (habitual and current IPLOS
    /// levels): read from the first `Document` whose content root is
    /// `Funksjonsprofil` in its namespace, or from a bare `Funksjonsprofil`
    /// root. See `docs/EXTENSION.md`.
    pub functional_profile: Option<FunctionalProfile>,
}

/// `MsgHead/MsgInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MsgHead {
    pub loc: Loc,
    /// `Type` (list 8279).
    pub msg_type: Option<Coded>,
    pub mig_version: Option<String>,
    pub gen_date: Option<String>,
    pub msg_id: Option<String>,
    pub processing_status: Option<Coded>,
    pub ack: Option<Coded>,
    pub conversation_ref: Option<ConversationRef>,
    pub sender: Option<Party>,
    pub receiver: Option<Party>,
    pub other_receivers: Vec<OtherReceiver>,
    pub patient: Option<Patient>,
    /// True when a `ds:Signature` is present.
    pub signed: bool,
}

impl MsgHead {
    pub fn msg_type_code(&self) -> Option<&str> {
        self.msg_type.as_ref().and_then(Coded::code)
    }
}

/// `ConversationRef`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConversationRef {
    pub ref_to_parent: Option<String>,
    pub ref_to_conversation: Option<String>,
}

/// `Sender` or `Receiver`: level 1 organisation, with level 2 inside it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Party {
    pub loc: Loc,
    pub com_method: Option<Coded>,
    pub organisation: Option<Organisation>,
}

impl Party {
    /// Level-1 HER-id.
    pub fn her_id(&self) -> Option<&str> {
        self.organisation.as_ref().and_then(Organisation::her_id)
    }

    /// Level-2 HER-id: the sub-organisation's, else the professional's.
    pub fn sub_her_id(&self) -> Option<&str> {
        let o = self.organisation.as_ref()?;
        o.sub_organisation
            .as_deref()
            .and_then(Organisation::her_id)
            .or_else(|| o.professional.as_ref().and_then(|p| her(&p.idents)))
    }

    /// The most specific HER-id (level 2 if present, else level 1).
    pub fn most_specific_her_id(&self) -> Option<&str> {
        self.sub_her_id().or_else(|| self.her_id())
    }
}

fn her(idents: &[Ident]) -> Option<&str> {
    her_ident(idents).and_then(|(_, i)| i.id.as_deref())
}

/// `Organisation` (recursive: a service or department sits inside).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Organisation {
    pub loc: Loc,
    pub name: Option<String>,
    pub type_organisation: Option<Coded>,
    pub idents: Vec<Ident>,
    /// Level 2: a service or department.
    pub sub_organisation: Option<Box<Organisation>>,
    /// Level 2: a person (e.g. the GP).
    pub professional: Option<HealthcareProfessional>,
}

impl Organisation {
    pub fn her_id(&self) -> Option<&str> {
        her(&self.idents)
    }
}

/// `HealthcareProfessional` in the envelope. Names of health personnel are
/// not patient data.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HealthcareProfessional {
    pub loc: Loc,
    pub type_hcp: Option<Coded>,
    pub role_to_patient: Option<Coded>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub given_name: Option<String>,
    pub idents: Vec<Ident>,
}

impl HealthcareProfessional {
    /// The person's HER-id (a GP is addressed by it).
    pub fn her_id(&self) -> Option<&str> {
        her(&self.idents)
    }

    /// "Given Middle Family", as one string.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.given_name, &self.middle_name, &self.family_name]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// `OtherReceiver` (copy receiver).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OtherReceiver {
    pub loc: Loc,
    pub role: Option<Coded>,
    pub organisation: Option<Organisation>,
    pub professional: Option<HealthcareProfessional>,
    /// True when the copy goes to the patient or a person.
    pub person: bool,
}

impl OtherReceiver {
    /// The most specific HER-id of the copy receiver: a person's
    /// (`HealthcareProfessional`, directly or inside the organisation), else
    /// the service's (`Organisation/Organisation`), else the organisation's.
    pub fn her_id(&self) -> Option<&str> {
        if let Some(h) = self
            .professional
            .as_ref()
            .and_then(HealthcareProfessional::her_id)
        {
            return Some(h);
        }
        let o = self.organisation.as_ref()?;
        o.sub_organisation
            .as_deref()
            .and_then(Organisation::her_id)
            .or_else(|| {
                o.professional
                    .as_ref()
                    .and_then(HealthcareProfessional::her_id)
            })
            .or_else(|| o.her_id())
    }
}

/// `Patient`. Everything personal is [`Sensitive`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Patient {
    pub loc: Loc,
    pub family_name: Sensitive<Option<String>>,
    pub middle_name: Sensitive<Option<String>>,
    pub given_name: Sensitive<Option<String>>,
    pub date_of_birth: Sensitive<Option<String>>,
    pub sex: Option<Coded>,
    pub idents: Vec<PatientIdent>,
}

/// A patient identifier; the number is [`Sensitive`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PatientIdent {
    pub loc: Loc,
    pub id: Sensitive<Option<String>>,
    /// `TypeId` (list 8116): FNR, DNR, HNR, …
    pub type_id: Option<Coded>,
}

impl PatientIdent {
    pub fn type_code(&self) -> Option<&str> {
        self.type_id.as_ref().and_then(Coded::code)
    }
}

/// One `Document` of the envelope.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DocumentInfo {
    pub loc: Loc,
    pub content_type: Option<Coded>,
    pub content_description: Option<String>,
    pub issue_date: Option<String>,
    /// `RefDoc/MsgType` (`XML`, `A` attachment, …).
    pub ref_doc_msg_type: Option<Coded>,
    pub mime_type: Option<String>,
    pub description: Option<String>,
    /// True when `RefDoc/FileReference` is used instead of `Content`.
    pub file_reference: bool,
    /// The first element inside `Content`, if any: namespace and local name.
    pub content_root: Option<(String, String)>,
    /// The element id of that content root.
    pub content_root_node: Option<u32>,
    /// True when `Content` holds only text (e.g. base64).
    pub content_is_text: bool,
    /// The standard of the content root, when recognised.
    pub standard: Option<Standard>,
}

impl DocumentInfo {
    /// True when the content root is an Overgang Funksjonsprofil extension
    /// document (never the main document).
    pub fn is_extension(&self) -> bool {
        self.content_root
            .as_ref()
            .is_some_and(|(ns, local)| is_funksjonsprofil_root(ns, local))
    }
}

impl Message {
    /// Reads the message model from a parsed document. Never fails.
    pub fn read(doc: &Document) -> Message {
        let root = doc.root();
        let mut m = Message {
            root_ns: root.ns().to_owned(),
            root_name: root.name().to_owned(),
            ..Message::default()
        };
        if root.is(MH, "MsgHead") {
            m.head = root.child(MH, "MsgInfo").map(read_msg_info);
            let signed = root
                .children()
                .any(|c| c.name() == "Signature" && c.ns() == "http://www.w3.org/2000/09/xmldsig#");
            if let Some(h) = m.head.as_mut() {
                h.signed = signed;
            }
            let docs: Vec<Node<'_>> = root
                .children_named(MH, "Document")
                .chain(
                    root.children_named(MH, "PatientReport")
                        .flat_map(|p| p.children_named(MH, "Document")),
                )
                .collect();
            m.documents = docs.into_iter().map(read_document).collect();
            m.main = m
                .documents
                .iter()
                .position(|d| d.standard.is_some())
                .or_else(|| {
                    m.documents
                        .iter()
                        .position(|d| d.content_root.is_some() && !d.is_extension())
                });
            if let Some(d) = m.main.and_then(|i| m.documents.get(i)) {
                if let Some(node) = d.content_root_node.and_then(|id| doc.node(id)) {
                    m.read_main(node);
                }
            }
            m.functional_profile = m
                .documents
                .iter()
                .find(|d| d.is_extension())
                .and_then(|d| d.content_root_node)
                .and_then(|id| doc.node(id))
                .map(FunctionalProfile::read);
        } else if is_funksjonsprofil_root(root.ns(), root.name()) {
            m.functional_profile = Some(FunctionalProfile::read(root));
        } else {
            m.read_main(root);
        }
        m
    }

    fn read_main(&mut self, node: Node<'_>) {
        let Some(r) = Standard::recognise(node.ns(), node.name()) else {
            return;
        };
        self.standard = Some(r.standard);
        self.ns_match = Some(r.ns_match);
        if r.standard.family.is_plo() {
            self.plo = Some(PloDocument::read(node, r.standard));
        } else if r.standard.family == crate::standard::Family::AppRec {
            self.apprec = Some(AppRecInfo::read(node));
        }
    }

    /// The main document, if any.
    pub fn main_document(&self) -> Option<&DocumentInfo> {
        self.main.and_then(|i| self.documents.get(i))
    }

    pub fn msg_id(&self) -> Option<&str> {
        self.head.as_ref().and_then(|h| h.msg_id.as_deref())
    }

    pub fn msg_type(&self) -> Option<&str> {
        self.head.as_ref().and_then(MsgHead::msg_type_code)
    }

    /// The version of the main document's standard (`1.5`, `1.6`, `2.0`
    /// for PLO; `1.0`, `1.1` for Dialogmelding and AppRec), as the address
    /// registry lists accepted versions. `None` when the main document's
    /// namespace is not one Overgang knows.
    pub fn version(&self) -> Option<&'static str> {
        self.standard.map(|s| s.version.as_str())
    }

    pub fn sender(&self) -> Option<&Party> {
        self.head.as_ref().and_then(|h| h.sender.as_ref())
    }

    pub fn receiver(&self) -> Option<&Party> {
        self.head.as_ref().and_then(|h| h.receiver.as_ref())
    }

    /// A summary without patient data, for logs.
    pub fn summary(&self) -> Summary {
        let her = |p: Option<&Party>| {
            let p = p?;
            Some(HerPair {
                level1: p.her_id().map(log_safe),
                level2: p.sub_her_id().map(log_safe),
            })
        };
        Summary {
            msg_id: self.msg_id().map(log_safe),
            msg_type: self.msg_type().map(log_safe),
            standard: self.standard,
            sender: her(self.sender()),
            receiver: her(self.receiver()),
            documents: self.documents.len(),
        }
    }
}

/// Keeps a short, printable, single-line form of an input value for logs.
fn log_safe(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Level 1 and level 2 HER-ids of a party.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct HerPair {
    pub level1: Option<String>,
    pub level2: Option<String>,
}

/// What may be logged about a message: ids, type, standard, HER-ids. No
/// patient data.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct Summary {
    pub msg_id: Option<String>,
    pub msg_type: Option<String>,
    #[serde(serialize_with = "ser_standard")]
    pub standard: Option<Standard>,
    pub sender: Option<HerPair>,
    pub receiver: Option<HerPair>,
    pub documents: usize,
}

fn ser_standard<S: serde::Serializer>(s: &Option<Standard>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(&s.to_string()),
        None => ser.serialize_none(),
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        let p = |h: &Option<HerPair>| match h {
            Some(h) => format!("{}/{}", o(&h.level1), o(&h.level2)),
            None => "-".into(),
        };
        write!(
            f,
            "msg_id={} type={} standard={} sender_her={} receiver_her={} documents={}",
            o(&self.msg_id),
            o(&self.msg_type),
            self.standard
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            p(&self.sender),
            p(&self.receiver),
            self.documents
        )
    }
}

fn read_msg_info(n: Node<'_>) -> MsgHead {
    let c = |name: &str| n.child(MH, name).map(Coded::read);
    MsgHead {
        loc: Loc::of(n),
        msg_type: c("Type"),
        mig_version: text(n.child(MH, "MIGversion")),
        gen_date: text(n.child(MH, "GenDate")),
        msg_id: text(n.child(MH, "MsgId")),
        processing_status: c("ProcessingStatus"),
        ack: c("Ack"),
        conversation_ref: n.child(MH, "ConversationRef").map(|r| ConversationRef {
            ref_to_parent: text(r.child(MH, "RefToParent")),
            ref_to_conversation: text(r.child(MH, "RefToConversation")),
        }),
        sender: n.child(MH, "Sender").map(read_party),
        receiver: n.child(MH, "Receiver").map(read_party),
        other_receivers: n
            .children_named(MH, "OtherReceiver")
            .map(read_other)
            .collect(),
        patient: n.child(MH, "Patient").map(read_patient),
        signed: false,
    }
}

fn read_party(n: Node<'_>) -> Party {
    Party {
        loc: Loc::of(n),
        com_method: n.child(MH, "ComMethod").map(Coded::read),
        organisation: n.child(MH, "Organisation").map(|o| read_org(o, 0)),
    }
}

fn read_org(n: Node<'_>, depth: usize) -> Organisation {
    Organisation {
        loc: Loc::of(n),
        name: text(n.child(MH, "OrganisationName")),
        type_organisation: n.child(MH, "TypeOrganisation").map(Coded::read),
        idents: idents(n, MH),
        // The reader bounds depth; bound recursion here as well.
        sub_organisation: if depth < 8 {
            n.child(MH, "Organisation")
                .map(|o| Box::new(read_org(o, depth + 1)))
        } else {
            None
        },
        professional: n.child(MH, "HealthcareProfessional").map(read_hcp),
    }
}

fn read_hcp(n: Node<'_>) -> HealthcareProfessional {
    HealthcareProfessional {
        loc: Loc::of(n),
        type_hcp: n.child(MH, "TypeHealthcareProfessional").map(Coded::read),
        role_to_patient: n.child(MH, "RoleToPatient").map(Coded::read),
        family_name: text(n.child(MH, "FamilyName")),
        middle_name: text(n.child(MH, "MiddleName")),
        given_name: text(n.child(MH, "GivenName")),
        idents: idents(n, MH),
    }
}

fn read_other(n: Node<'_>) -> OtherReceiver {
    OtherReceiver {
        loc: Loc::of(n),
        role: n.child(MH, "RoleReceiver").map(Coded::read),
        organisation: n.child(MH, "Organisation").map(|o| read_org(o, 0)),
        professional: n.child(MH, "HealthcareProfessional").map(read_hcp),
        person: n.child(MH, "Patient").is_some() || n.child(MH, "Person").is_some(),
    }
}

fn read_patient(n: Node<'_>) -> Patient {
    Patient {
        loc: Loc::of(n),
        family_name: Sensitive(text(n.child(MH, "FamilyName"))),
        middle_name: Sensitive(text(n.child(MH, "MiddleName"))),
        given_name: Sensitive(text(n.child(MH, "GivenName"))),
        date_of_birth: Sensitive(text(n.child(MH, "DateOfBirth"))),
        sex: n.child(MH, "Sex").map(Coded::read),
        idents: n
            .children_named(MH, "Ident")
            .map(|i| PatientIdent {
                loc: Loc::of(i),
                id: Sensitive(text(i.child(MH, "Id"))),
                type_id: i.child(MH, "TypeId").map(Coded::read),
            })
            .collect(),
    }
}

fn read_document(n: Node<'_>) -> DocumentInfo {
    let refdoc = n.child(MH, "RefDoc");
    let content = refdoc.and_then(|r| r.child(MH, "Content"));
    let croot = content.and_then(|c| c.children().next());
    DocumentInfo {
        loc: Loc::of(n),
        content_type: n.child(MH, "ContentType").map(Coded::read),
        content_description: text(n.child(MH, "ContentDescription")),
        issue_date: ts(refdoc.and_then(|r| r.child(MH, "IssueDate"))),
        ref_doc_msg_type: refdoc.and_then(|r| r.child(MH, "MsgType")).map(Coded::read),
        mime_type: text(refdoc.and_then(|r| r.child(MH, "MimeType"))),
        description: text(refdoc.and_then(|r| r.child(MH, "Description"))),
        file_reference: refdoc.and_then(|r| r.child(MH, "FileReference")).is_some(),
        content_root: croot.map(|c| (c.ns().to_owned(), c.name().to_owned())),
        content_root_node: croot.map(|c| c.id()),
        content_is_text: croot.is_none() && content.is_some_and(|c| c.has_text()),
        standard: croot
            .and_then(|c| Standard::recognise(c.ns(), c.name()))
            .map(|r| r.standard),
    }
}
