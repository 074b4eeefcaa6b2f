//! Routing: where an accepted message goes.
//!
//! [`route`] reads the receivers a message names and asks the address
//! registry about each; the answer is a [`Plan`]: the [`Target`]s to
//! deliver to, each with why it is one and whose endpoint is used, and the
//! routing [`Finding`]s (codes `RT001`…, `docs/FINDINGS.md`).
//!
//! 1. The **receiver** is the most specific one the envelope names: the
//!    service (`Receiver/Organisation/Organisation/Ident`) or the person
//!    (`Receiver/Organisation/HealthcareProfessional/Ident`) when it has a
//!    HER-id, else the organisation (`Receiver/Organisation/Ident`).
//! 2. Every **copy receiver** (`OtherReceiver`) with a HER-id is a target
//!    too.
//! 3. **Copy rules** ([`CopyRules`], configuration) add more: by default a
//!    discharge report also goes to the patient's GP when the message names
//!    one with a HER-id.
//! 4. Targets are de-duplicated by HER-id, the first reason winning, in the
//!    order receiver, copy receivers, copies.
//!
//! A receiver or copy receiver the registry does not know, cannot reach, or
//! that does not accept the message's type and version is an error: the
//! message is rejected (AppRec status 2) and goes nowhere — a rejected plan
//! has no targets. A copy a rule asks for but that cannot be sent is a
//! warning; the message is still delivered to the others.
//!
//! The version a receiver must accept is the main document's
//! ([`Message::version`]: `1.5`, `1.6`, `2.0` for PLO), as the registry's
//! `accepts` lists it.
//!
//! Finding texts name HER-ids, the registry's names of parties and message
//! types, never patient data or free text from the message.
//!
//! Pure: no IO, no clock, no global state. Positions come from the caller
//! ([`route_located`]), who has the parsed document.

mod copy;

pub use copy::{CopyRule, CopyRules, CopyTo, RouteError};

use overgang_model::{
    her_ident, Category, Coded, Finding, HealthcareProfessional, Ident, Loc, Message, Organisation,
    Severity, Version,
};
use overgang_registry::{is_her_id, Kind, Registry};
use serde::Serialize;

/// Why a message goes to a target.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The receiver the envelope names (`MsgInfo/Receiver`).
    Primary,
    /// A copy receiver the envelope names (`MsgInfo/OtherReceiver`).
    OtherReceiver,
    /// A copy a [`CopyRule`] adds (e.g. `gp-on-discharge`).
    CopyRule { rule: String },
}

/// One party the message is delivered to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The receiver's HER-id.
    pub her: String,
    /// The receiver's name in the registry.
    pub name: String,
    pub reason: Reason,
    /// The HER-id of the party whose endpoint (and auth) is used: the
    /// receiver's own, or its nearest ancestor's (`Registry::route`).
    pub via: String,
    /// For the message history: `rutet til 5078 Sykepleietjeneste (mottaker)`.
    pub text_nb: String,
    /// `routed to 5078 Sykepleietjeneste (receiver)`.
    pub text_en: String,
}

impl Target {
    /// Both texts, `nb / en`, as one history line.
    pub fn history_text(&self) -> String {
        format!("{} / {}", self.text_nb, self.text_en)
    }
}

/// Where a message goes, and what routing found.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Plan {
    /// In order: receiver, copy receivers, copies. Empty when rejected.
    pub targets: Vec<Target>,
    /// Category `routing`.
    pub findings: Vec<Finding>,
}

impl Plan {
    /// True when any finding is an error: the gateway rejects the message
    /// (AppRec status 2) and delivers it nowhere.
    pub fn is_rejected(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Where an element of the message is, as findings show it: the
/// schema-aware path and the 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Place {
    pub path: String,
    pub line: u32,
    pub column: u32,
}

/// Routes `message` with the registry and copy rules in force. Findings
/// carry paths worked out from the envelope's structure and no line or
/// column; use [`route_located`] when the parsed document is at hand.
pub fn route(message: &Message, registry: &Registry, rules: &CopyRules) -> Plan {
    route_located(message, registry, rules, &|_| None)
}

/// Like [`route`], with `locate` telling where an element of the message is
/// (the caller has the parsed document: its schema-aware path and line and
/// column). Where `locate` answers `None`, the path is worked out from the
/// envelope's structure and the position is unknown (0).
pub fn route_located(
    message: &Message,
    registry: &Registry,
    rules: &CopyRules,
    locate: &dyn Fn(Loc) -> Option<Place>,
) -> Plan {
    let mut r = Router {
        message,
        registry,
        locate,
        msg_type: message.msg_type().filter(|t| copy::is_type_code(t)),
        version: message.version(),
        seen: Vec::new(),
        plan: Plan::default(),
    };
    r.run(rules);
    let mut plan = r.plan;
    if plan.is_rejected() {
        plan.targets.clear();
    }
    plan
}

/// A HER-id as the message names it, and where.
struct Named<'m> {
    her: &'m str,
    loc: Loc,
    /// The path worked out from the envelope's structure.
    path: String,
}

/// The patient's GP as the message names them.
struct GpMention<'m> {
    /// The person's element (`HealthcareProfessional` or `Kontaktperson`).
    loc: Loc,
    path: String,
    her: Option<Named<'m>>,
}

/// `Receiver` or `OtherReceiver`, for texts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Receiver,
    CopyReceiver,
}

impl Role {
    fn nb(self) -> &'static str {
        match self {
            Role::Receiver => "Mottakeren",
            Role::CopyReceiver => "Kopimottakeren",
        }
    }
    fn en(self) -> &'static str {
        match self {
            Role::Receiver => "The receiver",
            Role::CopyReceiver => "The copy receiver",
        }
    }
}

const MSGINFO: &str = "/MsgHead/MsgInfo";

struct Router<'a> {
    message: &'a Message,
    registry: &'a Registry,
    locate: &'a dyn Fn(Loc) -> Option<Place>,
    /// `MsgInfo/Type`, when it reads as a type code.
    msg_type: Option<&'a str>,
    /// The main document's version.
    version: Option<&'static str>,
    /// HER-ids of receivers and copy receivers already judged.
    seen: Vec<&'a str>,
    plan: Plan,
}

impl<'a> Router<'a> {
    fn run(&mut self, rules: &CopyRules) {
        if self.msg_type.is_none() || self.version.is_none() {
            self.type_unknown();
        }
        let m = self.message;
        // 1. The receiver.
        let receiver = m
            .receiver()
            .and_then(|p| p.organisation.as_ref())
            .and_then(|o| most_specific(None, Some(o), &format!("{MSGINFO}/Receiver")));
        match receiver {
            Some(n) => self.target(&n, Role::Receiver, Reason::Primary),
            None => self.no_receiver(),
        }
        // 2. The copy receivers.
        let others = m.head.as_ref().map(|h| h.other_receivers.as_slice());
        for (i, o) in others.unwrap_or_default().iter().enumerate() {
            let base = format!("{MSGINFO}/OtherReceiver[{}]", i + 1);
            match most_specific(o.professional.as_ref(), o.organisation.as_ref(), &base) {
                Some(n) => self.target(&n, Role::CopyReceiver, Reason::OtherReceiver),
                None => self.copy_receiver_without_her(i + 1, o.loc, &base),
            }
        }
        // 3. The copy rules.
        if let Some(t) = self.msg_type {
            for rule in rules.for_type(t) {
                match rule.to {
                    CopyTo::PatientGp => self.copy_to_gp(rule, t),
                }
            }
        }
    }

    fn place(&self, loc: Loc, fallback: &str) -> Place {
        (self.locate)(loc).unwrap_or_else(|| Place {
            path: fallback.to_owned(),
            line: 0,
            column: 0,
        })
    }

    /// A finding about something missing: placed at its parent (`loc`,
    /// else `fallback`), the path ending with the missing element's name.
    fn add_missing(&mut self, f: Finding, loc: Option<Loc>, fallback: &str, missing: &str) {
        let mut p = match loc {
            Some(l) => self.place(l, fallback),
            None => Place {
                path: fallback.to_owned(),
                ..Place::default()
            },
        };
        if !p.path.is_empty() {
            p.path.push('/');
            p.path.push_str(missing);
        }
        self.plan.findings.push(f.at(p.path, p.line, p.column));
    }

    fn add(&mut self, f: Finding, loc: Option<Loc>, fallback: &str) {
        let p = match loc {
            Some(l) => self.place(l, fallback),
            None => Place {
                path: fallback.to_owned(),
                ..Place::default()
            },
        };
        self.plan.findings.push(f.at(p.path, p.line, p.column));
    }

    /// A receiver or copy receiver the sender named: checked and added,
    /// unless the same HER-id came before (the first reason wins, and a
    /// problem with it is told once).
    fn target(&mut self, n: &Named<'a>, role: Role, reason: Reason) {
        if self.seen.contains(&n.her.trim()) {
            return;
        }
        self.seen.push(n.her.trim());
        let (nb, en) = (role.nb(), role.en());
        let Some(party) = self.registry.get(n.her) else {
            let h = her_text(n.her);
            let f = Finding::new(
                "RT002",
                Category::Routing,
                Severity::Error,
                format!(
                    "{nb} med HER-id {h} finnes ikke i Overgangs adresseregister. Sjekk HER-id-en."
                ),
                format!(
                    "{en} with HER-id {h} is not in Overgang's address registry. Check the HER-id."
                ),
            )
            .apprec("E21");
            self.add(f, Some(n.loc), &n.path);
            return;
        };
        let Some(route) = self.registry.route(&party.her) else {
            let f = Finding::new(
                "RT003",
                Category::Routing,
                Severity::Error,
                format!(
                    "{nb} {} {} finnes i adresseregisteret, men har ingen adresse meldinger kan leveres til, heller ikke gjennom organisasjonen sin.",
                    party.her, party.name
                ),
                format!(
                    "{en} {} {} is in the address registry but has no endpoint messages can be delivered to, nor through its organisation.",
                    party.her, party.name
                ),
            )
            .apprec("X99");
            self.add(f, Some(n.loc), &n.path);
            return;
        };
        if let (Some(t), Some(v)) = (self.msg_type, self.version) {
            if !self.registry.accepts(&party.her, t, v) {
                let (also_nb, also_en) = other_versions(self.registry, &party.her, t);
                let f = Finding::new(
                    "RT004",
                    Category::Routing,
                    Severity::Error,
                    format!(
                        "{nb} {} {} tar ikke imot {t} versjon {v}.{also_nb}",
                        party.her, party.name
                    ),
                    format!(
                        "{en} {} {} does not accept {t} version {v}.{also_en}",
                        party.her, party.name
                    ),
                )
                .apprec("T10");
                self.add(f, Some(n.loc), &n.path);
                return;
            }
        }
        let via = route.via.to_owned();
        let target = make_target(&party.her, &party.name, reason, via);
        self.plan.targets.push(target);
    }

    fn type_unknown(&mut self) {
        let f = Finding::new(
            "RT005",
            Category::Routing,
            Severity::Error,
            "Overgang kan ikke se hvilken meldingstype eller versjon meldingen er, og kan derfor ikke finne ut om mottakeren tar imot den.",
            "Overgang cannot tell the message's type or version, so it cannot tell whether the receiver accepts it.",
        )
        .apprec("T10");
        let m = self.message;
        match (self.msg_type, m.main, m.main_document()) {
            (None, ..) => {
                let loc = m.head.as_ref().map(|h| h.loc);
                let parent = if loc.is_some() { MSGINFO } else { "" };
                self.add_missing(f, loc, parent, "Type");
            }
            // A type, but a document Overgang does not know: no version.
            (Some(_), Some(i), Some(d)) => {
                let path = format!("/MsgHead/Document[{}]", i + 1);
                self.add(f, Some(d.loc), &path);
            }
            (Some(_), ..) => self.add(f, None, ""),
        }
    }

    fn no_receiver(&mut self) {
        let f = Finding::new(
            "RT001",
            Category::Routing,
            Severity::Error,
            "Meldingen har ingen mottaker med HER-id, så Overgang vet ikke hvor den skal. Oppgi mottakerens HER-id i Receiver.",
            "The message has no receiver with a HER-id, so Overgang does not know where it goes. Give the receiver's HER-id in Receiver.",
        )
        .apprec("E21");
        let m = self.message;
        match (m.receiver(), &m.head) {
            (Some(r), _) => self.add(f, Some(r.loc), &format!("{MSGINFO}/Receiver")),
            (None, Some(h)) => self.add_missing(f, Some(h.loc), MSGINFO, "Receiver"),
            (None, None) => self.add(f, None, ""),
        }
    }

    fn copy_receiver_without_her(&mut self, n: usize, loc: Loc, path: &str) {
        let f = Finding::new(
            "RT006",
            Category::Routing,
            Severity::Warning,
            format!("Kopimottaker nr. {n} har ingen HER-id, så Overgang sender ikke kopi dit."),
            format!("Copy receiver no. {n} has no HER-id, so Overgang sends it no copy."),
        );
        self.add(f, Some(loc), path);
    }

    /// The fallback path of the main document's root element.
    fn document_root_fallback(&self) -> String {
        let m = self.message;
        match (
            m.main,
            m.main_document().and_then(|d| d.content_root.as_ref()),
        ) {
            (Some(i), Some((_, root))) => {
                format!("/MsgHead/Document[{}]/RefDoc/Content/{root}", i + 1)
            }
            _ => String::new(),
        }
    }

    /// Everywhere the message names the patient's GP: envelope first (the
    /// receiver's and copy receivers' health professionals), then the
    /// document's contact persons.
    fn gp_mentions(&self) -> Vec<GpMention<'a>> {
        let m = self.message;
        let mut out = Vec::new();
        let mut envelope = |hcp: &'a HealthcareProfessional, base: String| {
            if is_fastlege(hcp.role_to_patient.as_ref()) {
                out.push(GpMention {
                    loc: hcp.loc,
                    her: named_her(&hcp.idents, &base),
                    path: base,
                });
            }
        };
        if let Some(o) = m.receiver().and_then(|r| r.organisation.as_ref()) {
            in_org(o, format!("{MSGINFO}/Receiver/Organisation"), &mut envelope);
        }
        if let Some(h) = &m.head {
            for (i, r) in h.other_receivers.iter().enumerate() {
                let base = format!("{MSGINFO}/OtherReceiver[{}]", i + 1);
                if let Some(p) = &r.professional {
                    envelope(p, format!("{base}/HealthcareProfessional"));
                }
                if let Some(o) = &r.organisation {
                    in_org(o, format!("{base}/Organisation"), &mut envelope);
                }
            }
        }
        if let Some(plo) = &m.plo {
            let root = self.document_root_fallback();
            // In v1.5 and v1.6 each KontaktpersonHelsepersonell (which may
            // repeat) is a child of the root and holds one Kontaktperson; in
            // v2.0 they sit deeper, and the fallback names the root only.
            let flat = plo
                .standard
                .is_some_and(|s| matches!(s.version, Version::V1_5 | Version::V1_6));
            for (k, c) in plo.contacts.iter().enumerate() {
                if is_fastlege(c.role.as_ref()) {
                    let path = if flat && !root.is_empty() {
                        format!(
                            "{root}/KontaktpersonHelsepersonell[{}]/Kontaktperson",
                            k + 1
                        )
                    } else {
                        root.clone()
                    };
                    let her = named_her(&c.idents, &path).map(|mut n| {
                        if !flat {
                            n.path = path.clone();
                        }
                        n
                    });
                    out.push(GpMention {
                        loc: c.loc,
                        her,
                        path,
                    });
                }
            }
        }
        out
    }

    /// A copy to the patient's GP, by `rule`.
    fn copy_to_gp(&mut self, rule: &CopyRule, msg_type: &str) {
        let (doc_nb, doc_en) = document_words(msg_type);
        let mentions = self.gp_mentions();
        // The GP already gets the message: named as a receiver, or a
        // receiver is a GP in the registry.
        let served = self.plan.targets.iter().any(|t| {
            mentions
                .iter()
                .any(|g| g.her.as_ref().is_some_and(|n| n.her.trim() == t.her))
                || self
                    .registry
                    .get(&t.her)
                    .is_some_and(|p| p.kind == Kind::Gp)
        });
        if served {
            return;
        }
        let rname = rule.name.trim();
        let with_her = mentions.iter().find_map(|g| g.her.as_ref());
        let Some(n) = with_her else {
            if let Some(g) = mentions.first() {
                let f = Finding::new(
                    "RT008",
                    Category::Routing,
                    Severity::Warning,
                    format!("Pasientens fastlege er oppgitt uten HER-id, så fastlegen får ikke kopi av {doc_nb}. Legg til fastlegens HER-id, eller send kopien på annen måte."),
                    format!("The patient's GP is named without a HER-id, so the GP gets no copy of {doc_en}. Add the GP's HER-id, or send the copy another way."),
                );
                let (loc, path) = (g.loc, g.path.clone());
                self.add(f, Some(loc), &path);
            } else if rule.warn_when_missing {
                let f = Finding::new(
                    "RT007",
                    Category::Routing,
                    Severity::Warning,
                    format!("{} oppgir ikke pasientens fastlege, så fastlegen får ikke kopi. Oppgi fastlegen som kontaktperson (helsepersonell) med rollen «Fastlege» og HER-id, eller send fastlegen kopi på annen måte.", capitalise(&doc_nb)),
                    format!("{} does not name the patient's GP, so the GP gets no copy. Name the GP as a contact person (health personnel) with the role «Fastlege» (GP) and a HER-id, or send the GP a copy another way.", capitalise(&doc_en)),
                );
                let root = self.document_root_fallback();
                let loc = self.message.plo.as_ref().map(|p| p.loc);
                self.add_missing(f, loc, &root, "KontaktpersonHelsepersonell");
            }
            return;
        };
        let (her, loc, path) = (n.her.trim(), n.loc, n.path.clone());
        let Some(party) = self.registry.get(her) else {
            let h = her_text(her);
            let f = Finding::new(
                "RT009",
                Category::Routing,
                Severity::Warning,
                format!("Pasientens fastlege (HER-id {h}) finnes ikke i Overgangs adresseregister, så fastlegen får ikke kopi av {doc_nb}. Send kopien på annen måte."),
                format!("The patient's GP (HER-id {h}) is not in Overgang's address registry, so the GP gets no copy of {doc_en}. Send the copy another way."),
            );
            self.add(f, Some(loc), &path);
            return;
        };
        let route = self.registry.route(&party.her);
        let accepted = match (self.version, route) {
            (Some(v), Some(_)) => self.registry.accepts(&party.her, msg_type, v),
            _ => false,
        };
        match route {
            Some(r) if accepted => {
                let via = r.via.to_owned();
                let target = make_target(
                    &party.her,
                    &party.name,
                    Reason::CopyRule {
                        rule: rname.to_owned(),
                    },
                    via,
                );
                self.plan.targets.push(target);
            }
            _ => {
                let v = self.version.unwrap_or("?");
                let (why_nb, why_en) = if route.is_none() {
                    (
                        "har ingen adresse meldinger kan leveres til".to_owned(),
                        "has no endpoint messages can be delivered to".to_owned(),
                    )
                } else {
                    (
                        format!("tar ikke imot {msg_type} versjon {v}"),
                        format!("does not accept {msg_type} version {v}"),
                    )
                };
                let f = Finding::new(
                    "RT010",
                    Category::Routing,
                    Severity::Warning,
                    format!("Pasientens fastlege {} {} {why_nb}, så fastlegen får ikke kopi av {doc_nb}. Send kopien på annen måte.", party.her, party.name),
                    format!("The patient's GP {} {} {why_en}, so the GP gets no copy of {doc_en}. Send the copy another way.", party.her, party.name),
                );
                self.add(f, Some(loc), &path);
            }
        }
    }
}

/// The health professionals of an envelope organisation (its own and its
/// service's), each with its path.
fn in_org<'m>(
    o: &'m Organisation,
    base: String,
    f: &mut dyn FnMut(&'m HealthcareProfessional, String),
) {
    if let Some(p) = &o.professional {
        f(p, format!("{base}/HealthcareProfessional"));
    }
    if let Some(p) = o
        .sub_organisation
        .as_deref()
        .and_then(|s| s.professional.as_ref())
    {
        f(p, format!("{base}/Organisation/HealthcareProfessional"));
    }
}

fn make_target(her: &str, name: &str, reason: Reason, via: String) -> Target {
    let (nb, en) = match &reason {
        Reason::Primary => ("mottaker".to_owned(), "receiver".to_owned()),
        Reason::OtherReceiver => ("kopimottaker".to_owned(), "copy receiver".to_owned()),
        Reason::CopyRule { rule } => (
            format!("kopi etter regelen {rule}"),
            format!("copy by rule {rule}"),
        ),
    };
    Target {
        her: her.to_owned(),
        name: name.to_owned(),
        text_nb: format!("rutet til {her} {name} ({nb})"),
        text_en: format!("routed to {her} {name} ({en})"),
        reason,
        via,
    }
}

/// The most specific HER-id of a receiver: a person named directly (an
/// `OtherReceiver`'s `HealthcareProfessional`), else the service
/// (`Organisation/Organisation`), else the person in the organisation
/// (`Organisation/HealthcareProfessional`), else the organisation. The
/// same order as the model's `Party::most_specific_her_id` and
/// `OtherReceiver::her_id`.
fn most_specific<'m>(
    person: Option<&'m HealthcareProfessional>,
    org: Option<&'m Organisation>,
    base: &str,
) -> Option<Named<'m>> {
    if let Some(n) =
        person.and_then(|p| named_her(&p.idents, &format!("{base}/HealthcareProfessional")))
    {
        return Some(n);
    }
    let o = org?;
    let ob = format!("{base}/Organisation");
    o.sub_organisation
        .as_deref()
        .and_then(|s| named_her(&s.idents, &format!("{ob}/Organisation")))
        .or_else(|| {
            o.professional
                .as_ref()
                .and_then(|p| named_her(&p.idents, &format!("{ob}/HealthcareProfessional")))
        })
        .or_else(|| named_her(&o.idents, &ob))
}

/// The HER-id among `idents` of the element at `base`, with the `Ident`'s
/// path (every `Ident` may repeat, so it carries an index).
fn named_her<'m>(idents: &'m [Ident], base: &str) -> Option<Named<'m>> {
    let (i, id) = her_ident(idents)?;
    Some(Named {
        her: id.id.as_deref()?,
        loc: id.loc,
        path: format!("{base}/Ident[{}]", i + 1),
    })
}

/// Role `6` Fastlege in code list 9034 (`S` absent, or naming 9034).
fn is_fastlege(role: Option<&Coded>) -> bool {
    let Some(r) = role else { return false };
    let list_ok = match r.s.as_deref().map(str::trim) {
        None | Some("") => true,
        Some(_) => r.list() == Some(9034),
    };
    r.code() == Some("6") && list_ok
}

/// A HER-id from the message as a text may show it: the digits when it is
/// one, else a placeholder (the field could hold anything).
fn her_text(her: &str) -> String {
    let h = her.trim();
    if is_her_id(h) {
        h.to_owned()
    } else {
        "(ugyldig / invalid)".to_owned()
    }
}

/// What the texts call a message of `msg_type`, bokmål and English.
fn document_words(msg_type: &str) -> (String, String) {
    match msg_type {
        "UTSKRIVNINGSRAPPORT" => (
            "utskrivningsrapporten".into(),
            "the discharge report".into(),
        ),
        t => (format!("meldingen ({t})"), format!("the message ({t})")),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// When the party takes `msg_type` in other versions: a sentence saying
/// which (bokmål, English), else empty.
fn other_versions(registry: &Registry, her: &str, msg_type: &str) -> (String, String) {
    let versions = registry
        .effective_accepts(her)
        .and_then(|list| list.iter().find(|a| a.msg_type == msg_type))
        .map(|a| a.versions.join(", "));
    match versions {
        Some(v) if !v.is_empty() => (
            format!(" Den tar imot versjon {v}."),
            format!(" It accepts version {v}."),
        ),
        _ => (String::new(), String::new()),
    }
}

#[cfg(test)]
mod tests;
