//! What later stages need from a PLO document (v1.5, v1.6, v2.0).
//!
//! Elements are found by local name in any PLO namespace (document or
//! `poKomponent`, any version), or in the EPJ namespaces for journal texts,
//! medication and critical information. Every item keeps its [`Loc`].

use crate::common::{
    her_ident, idents, po_child, text, ts, Coded, Ident, Loc, LocatedCode, Sensitive,
};
use crate::standard::{is_plo_namespace, Family, Standard, NS_EPJ1, NS_EPJ2, NS_EPJ3, NS_FK1};
use overgang_xml::Node;

/// The logistics notice inside a `Pasientlogistikk` document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogisticsNotice {
    MeldingInnlagtPasient,
    MeldingUtskrivningsklarPasient,
    AvmeldingUtskrivningsklarPasient,
    MeldingOmUtskrevetPasient,
    OrienteringOmDod,
    /// v2.0 only.
    TilbakemeldingUtskrivningsklarPasient,
}

impl LogisticsNotice {
    pub const ALL: [LogisticsNotice; 6] = [
        LogisticsNotice::MeldingInnlagtPasient,
        LogisticsNotice::MeldingUtskrivningsklarPasient,
        LogisticsNotice::AvmeldingUtskrivningsklarPasient,
        LogisticsNotice::MeldingOmUtskrevetPasient,
        LogisticsNotice::OrienteringOmDod,
        LogisticsNotice::TilbakemeldingUtskrivningsklarPasient,
    ];

    pub fn element_name(self) -> &'static str {
        match self {
            LogisticsNotice::MeldingInnlagtPasient => "MeldingInnlagtPasient",
            LogisticsNotice::MeldingUtskrivningsklarPasient => "MeldingUtskrivningsklarPasient",
            LogisticsNotice::AvmeldingUtskrivningsklarPasient => "AvmeldingUtskrivningsklarPasient",
            LogisticsNotice::MeldingOmUtskrevetPasient => "MeldingOmUtskrevetPasient",
            LogisticsNotice::OrienteringOmDod => "OrienteringOmDod",
            LogisticsNotice::TilbakemeldingUtskrivningsklarPasient => {
                "TilbakemeldingUtskrivningsklarPasient"
            }
        }
    }

    /// The `MsgInfo/Type` (list 8279) this notice travels as.
    pub fn msg_type(self) -> Option<&'static str> {
        match self {
            LogisticsNotice::MeldingInnlagtPasient => Some("LOG_INNLAGT"),
            LogisticsNotice::MeldingUtskrivningsklarPasient => Some("LOG_UTSKRIVNINGSKLAR"),
            LogisticsNotice::AvmeldingUtskrivningsklarPasient => Some("LOG_AVMELDING"),
            LogisticsNotice::MeldingOmUtskrevetPasient => Some("LOG_UTSKREVET"),
            LogisticsNotice::OrienteringOmDod => Some("LOG_DOD"),
            LogisticsNotice::TilbakemeldingUtskrivningsklarPasient => None,
        }
    }

    fn from_name(name: &str) -> Option<LogisticsNotice> {
        Self::ALL.into_iter().find(|n| n.element_name() == name)
    }
}

/// The contents of a PLO document that rules and flows use.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PloDocument {
    pub loc: Loc,
    pub standard: Option<Standard>,
    /// `InformasjonOmForsendelsen/Forsendelsesstatus` (list 7309).
    pub forsendelsesstatus: Option<LocatedCode>,
    /// The logistics notice(s) (one expected) in a `Pasientlogistikk`.
    pub notices: Vec<(LogisticsNotice, Loc)>,
    /// `TypeInnholdIMelding/TypeInnhold` (lists 9137–9140).
    pub content_kinds: Vec<LocatedCode>,
    /// Every `TidsfestetHendelse`, in document order.
    pub events: Vec<Event>,
    /// Every `OpplysningOpphold` (the stay).
    pub stays: Vec<Loc>,
    /// Every `InfoKartleggingFunksjonsniva`.
    pub functional_assessments: Vec<FunctionalAssessment>,
    /// Every `epj3:Legemiddelinfo`.
    pub medications: Vec<Loc>,
    /// Every `epj1:Cave`.
    pub cave: Vec<Loc>,
    /// `HjelpLegemiddeladm` (help with medication), raw value.
    pub help_with_medication: Option<(String, Loc)>,
    pub relatives: Vec<Relative>,
    /// `TilknyttetEnhet/Kontaktenhet`.
    pub units: Vec<ContactUnit>,
    /// `KontaktpersonHelsepersonell/Kontaktperson`.
    pub contacts: Vec<ContactPerson>,
    /// `AnsvarForRapport`.
    pub responsible: Option<Responsible>,
    /// Every `epj2:Journaltekst`.
    pub journal_texts: Vec<JournalText>,
}

/// `TidsfestetHendelse`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Event {
    pub loc: Loc,
    /// Local name of the element holding it (e.g. `MeldingUtskrivningsklarPasient`, `OpplysningOpphold`).
    pub within: String,
    /// `Hendelsekode` (list 9121).
    pub code: Option<Coded>,
    /// `TidspunktForHendelse` (`V` in v1.5/1.6, text in v2.0).
    pub time: Option<String>,
    /// `Anslag`, raw.
    pub estimate_raw: Option<String>,
    /// `Anslag` read as xs:boolean.
    pub estimate: Option<bool>,
    /// `BeskrivelseAvHendelse` present.
    pub description_present: bool,
}

impl Event {
    pub fn code(&self) -> Option<&str> {
        self.code.as_ref().and_then(Coded::code)
    }
}

/// `InfoKartleggingFunksjonsniva`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FunctionalAssessment {
    pub loc: Loc,
    pub overall: Option<OverallAssessment>,
    /// `KartlagtFunksjon` (v1.5/1.6) or `Funksjonsbeskrivelse` (v2.0).
    pub functions: Vec<AssessedFunction>,
}

/// `SamletVurderingFunksjonsniva`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OverallAssessment {
    pub loc: Loc,
    /// `Merknad`: by profile rule it carries the assessment date as free text.
    pub comment: Sensitive<Option<String>>,
    pub care_load_raw: Option<String>,
}

/// One assessed IPLOS variable.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AssessedFunction {
    pub loc: Loc,
    /// `Funksjonsvariabel` (list 9111).
    pub variable: Option<Coded>,
    /// `Vurdering`, raw (absent in v2.0).
    pub score_raw: Option<String>,
    /// `Vurdering` parsed as an integer.
    pub score: Option<i64>,
    /// `Vurdering`'s location.
    pub score_loc: Option<Loc>,
    /// `Merknad` present and not blank.
    pub comment_present: bool,
    /// v2.0 `Dato`.
    pub date: Option<String>,
}

impl AssessedFunction {
    pub fn variable_code(&self) -> Option<&str> {
        self.variable.as_ref().and_then(Coded::code)
    }
}

/// `ParorendeForesatt`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Relative {
    pub loc: Loc,
    /// `Slektskap` (list 9033).
    pub relation: Option<Coded>,
    pub care_function: Option<Coded>,
    /// `FodselsarMindrearigParorende` (v1.6+), raw.
    pub minor_birth_year: Option<String>,
    /// `NarmesteParorende` (v2.0), raw.
    pub closest: Option<String>,
    pub name_present: bool,
    pub phone_present: bool,
}

/// `TilknyttetEnhet/Kontaktenhet` (a unit, not patient data).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ContactUnit {
    pub loc: Loc,
    pub name: Option<String>,
    pub phone_present: bool,
}

/// `KontaktpersonHelsepersonell/Kontaktperson`: a health professional (the
/// GP, a contact doctor). Not patient data, so the identifiers (HPR number,
/// HER-id) are kept as they are; the name is not kept.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ContactPerson {
    pub loc: Loc,
    pub name_present: bool,
    pub phone_present: bool,
    /// `RoleToPatient` (list 9034; `6` is Fastlege, the patient's GP).
    pub role: Option<Coded>,
    /// `fk1:Ident`s (HPR number, HER-id, …).
    pub idents: Vec<Ident>,
}

impl ContactPerson {
    /// The role code (`V` of `RoleToPatient`).
    pub fn role_code(&self) -> Option<&str> {
        self.role.as_ref().and_then(Coded::code)
    }

    /// The person's HER-id, when given.
    pub fn her_id(&self) -> Option<&str> {
        her_ident(&self.idents).and_then(|(_, i)| i.id.as_deref())
    }
}

/// `AnsvarForRapport`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Responsible {
    pub loc: Loc,
    pub name_present: bool,
    pub approved_date: Option<String>,
}

/// `epj2:Journaltekst`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JournalText {
    pub loc: Loc,
    /// Local name of the element holding it (e.g. `InfoFraSykepleier`).
    pub within: String,
    /// `Overskriftskode` (lists 9141, 9142, 9143, 9145, …).
    pub heading: Option<Coded>,
    /// `Notat` present and not blank (its text is never kept).
    pub note_present: bool,
}

impl JournalText {
    pub fn heading_code(&self) -> Option<&str> {
        self.heading.as_ref().and_then(Coded::code)
    }
}

fn is_po(n: &Node<'_>, name: &str) -> bool {
    n.name() == name && is_plo_namespace(n.ns())
}

fn fk1_person_name(n: Node<'_>) -> bool {
    ["FamilyName", "GivenName"]
        .iter()
        .any(|k| n.child(NS_FK1, k).is_some_and(|c| c.has_text()))
}

fn fk1_phone(n: Node<'_>) -> bool {
    n.children_named(NS_FK1, "TeleCom").any(|t| {
        t.child(NS_FK1, "TeleAddress")
            .and_then(|a| a.attr("V"))
            .is_some_and(|v| !v.trim().is_empty())
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.len() > 18 {
        return None;
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

impl PloDocument {
    /// Reads a PLO document from its root element.
    pub fn read(root: Node<'_>, standard: Standard) -> PloDocument {
        let mut d = PloDocument {
            loc: Loc::of(root),
            standard: Some(standard),
            ..PloDocument::default()
        };
        if standard.family == Family::Pasientlogistikk {
            for c in root.children() {
                if let Some(n) =
                    LogisticsNotice::from_name(c.name()).filter(|_| c.ns() == root.ns())
                {
                    d.notices.push((n, Loc::of(c)));
                }
            }
        }
        for n in root.descendants() {
            let ns = n.ns();
            if ns == NS_EPJ2 && n.name() == "Journaltekst" {
                d.journal_texts.push(JournalText {
                    loc: Loc::of(n),
                    within: n.parent().map(|p| p.name().to_owned()).unwrap_or_default(),
                    heading: n.child(NS_EPJ2, "Overskriftskode").map(Coded::read),
                    note_present: n.child(NS_EPJ2, "Notat").is_some_and(|c| c.has_text()),
                });
                continue;
            }
            if ns == NS_EPJ3 && n.name() == "Legemiddelinfo" {
                d.medications.push(Loc::of(n));
                continue;
            }
            if ns == NS_EPJ1 && n.name() == "Cave" {
                d.cave.push(Loc::of(n));
                continue;
            }
            if !is_plo_namespace(ns) {
                continue;
            }
            let parent_is = |name: &str| n.parent().is_some_and(|p| is_po(&p, name));
            match n.name() {
                "Forsendelsesstatus"
                    if d.forsendelsesstatus.is_none() && parent_is("InformasjonOmForsendelsen") =>
                {
                    d.forsendelsesstatus = Some(LocatedCode {
                        code: Coded::read(n),
                        loc: Loc::of(n),
                    });
                }
                "TypeInnhold" if parent_is("TypeInnholdIMelding") => {
                    d.content_kinds.push(LocatedCode {
                        code: Coded::read(n),
                        loc: Loc::of(n),
                    });
                }
                "TidsfestetHendelse" => d.events.push(read_event(n)),
                "OpplysningOpphold" => d.stays.push(Loc::of(n)),
                "InfoKartleggingFunksjonsniva" => d.functional_assessments.push(read_assessment(n)),
                "HjelpLegemiddeladm" if d.help_with_medication.is_none() => {
                    d.help_with_medication = Some((n.text().trim().to_owned(), Loc::of(n)));
                }
                "ParorendeForesatt" => {
                    let person = po_child(n, "Referanseperson");
                    d.relatives.push(Relative {
                        loc: Loc::of(n),
                        relation: po_child(n, "Slektskap").map(Coded::read),
                        care_function: po_child(n, "Omsorgsfunksjon").map(Coded::read),
                        minor_birth_year: text(po_child(n, "FodselsarMindrearigParorende")),
                        closest: text(po_child(n, "NarmesteParorende")),
                        name_present: person.is_some_and(fk1_person_name),
                        phone_present: person.is_some_and(fk1_phone),
                    });
                }
                "Kontaktenhet" if parent_is("TilknyttetEnhet") => {
                    d.units.push(ContactUnit {
                        loc: Loc::of(n),
                        name: text(n.child(NS_FK1, "OrganisationName")),
                        phone_present: fk1_phone(n),
                    });
                }
                "Kontaktperson" if parent_is("KontaktpersonHelsepersonell") => {
                    d.contacts.push(ContactPerson {
                        loc: Loc::of(n),
                        name_present: fk1_person_name(n),
                        phone_present: fk1_phone(n),
                        role: n.child(NS_FK1, "RoleToPatient").map(Coded::read),
                        idents: idents(n, NS_FK1),
                    });
                }
                "AnsvarForRapport" if d.responsible.is_none() => {
                    d.responsible = Some(Responsible {
                        loc: Loc::of(n),
                        name_present: po_child(n, "AnsvarligRapport").is_some_and(fk1_person_name),
                        approved_date: text(po_child(n, "GodkjentDato")),
                    });
                }
                _ => {}
            }
        }
        d
    }

    /// The `Forsendelsesstatus` code (N, M, A, C, …).
    pub fn status_code(&self) -> Option<&str> {
        self.forsendelsesstatus.as_ref().and_then(|c| c.code.code())
    }

    /// The first logistics notice.
    pub fn notice(&self) -> Option<LogisticsNotice> {
        self.notices.first().map(|(n, _)| *n)
    }

    /// All assessed functions across assessments.
    pub fn assessed_functions(&self) -> impl Iterator<Item = &AssessedFunction> + '_ {
        self.functional_assessments
            .iter()
            .flat_map(|a| a.functions.iter())
    }
}

fn read_event(n: Node<'_>) -> Event {
    let estimate_raw = text(po_child(n, "Anslag"));
    Event {
        loc: Loc::of(n),
        within: n.parent().map(|p| p.name().to_owned()).unwrap_or_default(),
        code: po_child(n, "Hendelsekode").map(Coded::read),
        time: ts(po_child(n, "TidspunktForHendelse")),
        estimate: estimate_raw.as_deref().and_then(parse_bool),
        estimate_raw,
        description_present: po_child(n, "BeskrivelseAvHendelse").is_some_and(|c| c.has_text()),
    }
}

fn read_assessment(n: Node<'_>) -> FunctionalAssessment {
    let overall = po_child(n, "SamletVurderingFunksjonsniva").map(|s| OverallAssessment {
        loc: Loc::of(s),
        comment: Sensitive(text(po_child(s, "Merknad"))),
        care_load_raw: text(po_child(s, "Pleietyngde")),
    });
    let functions = n
        .children()
        .filter(|c| is_po(c, "KartlagtFunksjon") || is_po(c, "Funksjonsbeskrivelse"))
        .map(|f| {
            let score = po_child(f, "Vurdering");
            let score_raw = score.map(|s| s.text().trim().to_owned());
            AssessedFunction {
                loc: Loc::of(f),
                variable: po_child(f, "Funksjonsvariabel").map(Coded::read),
                score: score_raw.as_deref().and_then(parse_int),
                score_raw,
                score_loc: score.map(Loc::of),
                comment_present: po_child(f, "Merknad").is_some_and(|m| m.has_text()),
                date: text(po_child(f, "Dato")),
            }
        })
        .collect();
    FunctionalAssessment {
        loc: Loc::of(n),
        overall,
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_xs_integer() {
        assert_eq!(parse_int(" 3 "), Some(3));
        assert_eq!(parse_int("+9"), Some(9));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("3.0"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("99999999999999999999999"), None);
    }
}
