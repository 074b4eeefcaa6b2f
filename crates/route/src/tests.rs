use super::*;
use overgang_model::Verdict;

// --- A small registry and hand-made messages ------------------------------

const REGISTRY: &str = r#"
[[party]]
her = "59"
name = "St. Olavs hospital HF"
kind = "organisation"
endpoint = "https://ehr.example.no/plo"
accepts = [{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }]

[[party]]
her = "91090"
name = "PLO innleggelse somatikk"
kind = "hospital_service"
parent = "59"

[[party]]
her = "99387"
name = "Alvdal kommune"
kind = "organisation"
municipality = "3428"
endpoint = "https://kommune.example.no/plo"
accepts = [
  { type = "UTSKRIVNINGSRAPPORT", versions = ["1.6"] },
  { type = "LOG_INNLAGT", versions = ["1.6"] },
]

[[party]]
her = "5078"
name = "Sykepleietjeneste"
kind = "municipal_service"
parent = "99387"
municipality = "3428"

# A municipality with no system: reachable by nobody.
[[party]]
her = "7001"
name = "Fjellby kommune"
kind = "organisation"
municipality = "4001"

[[party]]
her = "7002"
name = "Hjemmetjenesten Fjellby"
kind = "municipal_service"
parent = "7001"
municipality = "4001"

[[party]]
her = "91096"
name = "Kattskinnet legesenter"
kind = "organisation"
endpoint = "https://legesenter.example.no/plo"
accepts = [{ type = "UTSKRIVNINGSRAPPORT", versions = ["1.6"] }]

[[party]]
her = "91100"
name = "August September"
kind = "gp"
parent = "91096"

# A practice whose system takes no discharge reports.
[[party]]
her = "92000"
name = "Bakken legekontor"
kind = "organisation"
endpoint = "https://bakken.example.no/plo"
accepts = [{ type = "HELSEOPPLYSNINGER_LEGE", versions = ["1.6"] }]

[[party]]
her = "92001"
name = "Per Bakken"
kind = "gp"
parent = "92000"

# A practice with no system.
[[party]]
her = "93000"
name = "Dalen legekontor"
kind = "organisation"

[[party]]
her = "93001"
name = "Eva Dalen"
kind = "gp"
parent = "93000"
"#;

fn registry() -> Registry {
    Registry::parse("test.toml", REGISTRY).expect("test registry")
}

const NS_EPIKRISE_16: &str = "http://www.kith.no/xmlstds/po/TverrfagligEpikrise/2012-04-01";
const NS_EPIKRISE_15: &str = "http://www.kith.no/xmlstds/po/TverrfagligEpikrise/2009-06-30";
const NS_LOGISTIKK_16: &str = "http://www.kith.no/xmlstds/po/Pasientlogistikk/2012-04-01";

fn ident(id: &str, ty: &str) -> String {
    format!("<Ident><Id>{id}</Id><TypeId V=\"{ty}\" S=\"2.16.578.1.12.4.1.1.9051\"/></Ident>")
}

/// An envelope `Organisation` with a HER-id and what goes inside it.
fn org(name: &str, her: &str, inner: &str) -> String {
    format!(
        "<Organisation><OrganisationName>{name}</OrganisationName>{}{inner}</Organisation>",
        ident(her, "HER")
    )
}

/// An envelope `HealthcareProfessional`; `role` is a `RoleToPatient` code
/// of list 9034, if any.
fn hcp(her: &str, role: Option<&str>) -> String {
    let role = role
        .map(|r| format!("<RoleToPatient V=\"{r}\" S=\"2.16.578.1.12.4.1.1.9034\"/>"))
        .unwrap_or_default();
    format!(
        "<HealthcareProfessional>{role}<FamilyName>Lege</FamilyName>{}</HealthcareProfessional>",
        ident(her, "HER")
    )
}

fn other(inner: &str) -> String {
    format!("<OtherReceiver><RoleReceiver V=\"KI\"/>{inner}</OtherReceiver>")
}

/// A document `Kontaktperson` with a role of list 9034 and identifiers
/// `(type, id)`.
fn contact(role: &str, ids: &[(&str, &str)]) -> String {
    let ids: String = ids
        .iter()
        .map(|(t, id)| {
            format!("<fk1:Ident><fk1:Id>{id}</fk1:Id><fk1:TypeId V=\"{t}\" S=\"2.16.578.1.12.4.1.1.8116\"/></fk1:Ident>")
        })
        .collect();
    format!(
        "<KontaktpersonHelsepersonell><Kontaktperson><fk1:TypeHealthcareProfessional V=\"LE\"/><fk1:RoleToPatient V=\"{role}\" S=\"2.16.578.1.12.4.1.1.9034\"/><fk1:FamilyName>Lege</fk1:FamilyName>{ids}</Kontaktperson></KontaktpersonHelsepersonell>"
    )
}

/// A PLO document root in namespace `ns` with `inner` in it.
fn document(ns: &str, root: &str, inner: &str) -> String {
    format!(
        "<d:{root} xmlns:d=\"{ns}\" xmlns=\"http://www.kith.no/xmlstds/po/poKomponent/2012-04-01\" xmlns:fk1=\"http://www.kith.no/xmlstds/felleskomponent1\"><InformasjonOmForsendelsen><Forsendelsesstatus V=\"N\"/></InformasjonOmForsendelsen>{inner}</d:{root}>"
    )
}

fn epikrise(inner: &str) -> String {
    document(NS_EPIKRISE_16, "TverrfagligEpikrise", inner)
}

/// A MsgHead envelope: type, receiver `Organisation`, other receivers, the
/// document.
fn envelope(msg_type: &str, receiver: &str, others: &str, content: &str) -> String {
    format!(
        "<MsgHead xmlns=\"http://www.kith.no/xmlstds/msghead/2006-05-24\"><MsgInfo>\
<Type V=\"{msg_type}\"/><MIGversion>v1.2 2006-05-24</MIGversion><GenDate>2024-01-01T10:00:00</GenDate><MsgId>id-1</MsgId>\
<Sender>{}</Sender><Receiver>{receiver}</Receiver>{others}\
<Patient><FamilyName>Nordmann</FamilyName><GivenName>Kari</GivenName><Ident><Id>15076500565</Id><TypeId V=\"FNR\"/></Ident></Patient>\
</MsgInfo><Document><RefDoc><MsgType V=\"XML\"/><Content>{content}</Content></RefDoc></Document></MsgHead>",
        org("ST OLAVS HOSPITAL HF", "59", &org("Ortopedisk kirurgi", "90998", ""))
    )
}

/// The usual receiver: Alvdal kommune, Sykepleietjeneste.
fn alvdal() -> String {
    org(
        "Alvdal Kommune",
        "99387",
        &org("Sykepleietjeneste", "5078", ""),
    )
}

fn parse(xml: &str) -> overgang_xml::Document {
    overgang_xml::parse(xml.as_bytes(), &Default::default()).expect("well-formed test message")
}

fn plan_of(xml: &str, rules: &CopyRules) -> Plan {
    let doc = parse(xml);
    route(&Message::read(&doc), &registry(), rules)
}

fn plan(xml: &str) -> Plan {
    plan_of(xml, &CopyRules::default())
}

fn hers(p: &Plan) -> Vec<&str> {
    p.targets.iter().map(|t| t.her.as_str()).collect()
}

fn codes(p: &Plan) -> Vec<&str> {
    p.findings.iter().map(|f| f.code.as_str()).collect()
}

fn only(p: &Plan, code: &str) -> Finding {
    assert_eq!(codes(p), [code], "{:#?}", p.findings);
    p.findings[0].clone()
}

/// Findings say nothing of the patient in the test envelope.
fn assert_no_patient_data(p: &Plan) {
    for f in &p.findings {
        for t in [&f.text_nb, &f.text_en, &f.path] {
            for bad in ["Nordmann", "Kari", "15076500565"] {
                assert!(!t.contains(bad), "{}: {t}", f.code);
            }
        }
        assert_eq!(f.category, Category::Routing);
    }
}

// --- 1. The receiver --------------------------------------------------------

#[test]
fn the_receiver_is_the_level_2_service_reached_through_its_organisation() {
    let p = plan(&envelope(
        "LOG_INNLAGT",
        &alvdal(),
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    ));
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(
        p.targets,
        [Target {
            her: "5078".into(),
            name: "Sykepleietjeneste".into(),
            reason: Reason::Primary,
            via: "99387".into(),
            text_nb: "rutet til 5078 Sykepleietjeneste (mottaker)".into(),
            text_en: "routed to 5078 Sykepleietjeneste (receiver)".into(),
        }]
    );
    assert_eq!(
        p.targets[0].history_text(),
        "rutet til 5078 Sykepleietjeneste (mottaker) / routed to 5078 Sykepleietjeneste (receiver)"
    );
    assert!(!p.is_rejected());
}

#[test]
fn the_receiver_is_level_1_when_there_is_no_level_2() {
    let p = plan(&envelope(
        "LOG_INNLAGT",
        &org("Alvdal Kommune", "99387", ""),
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    ));
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["99387"]);
    assert_eq!(p.targets[0].via, "99387");
}

#[test]
fn a_level_2_without_a_her_id_leaves_the_organisation_as_receiver() {
    let unit = format!(
        "<Organisation><OrganisationName>Avdeling</OrganisationName>{}</Organisation>",
        ident("AVD1", "LAV")
    );
    let p = plan(&envelope(
        "LOG_INNLAGT",
        &org("Alvdal Kommune", "99387", &unit),
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    ));
    assert_eq!(hers(&p), ["99387"], "{:#?}", p.findings);
}

#[test]
fn a_person_at_level_2_is_the_receiver() {
    let p = plan(&envelope(
        "UTSKRIVNINGSRAPPORT",
        &org("Kattskinnet legesenter", "91096", &hcp("91100", None)),
        "",
        &epikrise(""),
    ));
    // The receiver is a GP, so the GP copy rule has nothing to add or warn.
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["91100"]);
    assert_eq!(p.targets[0].via, "91096");
    assert_eq!(p.targets[0].name, "August September");
}

#[test]
fn the_receiver_named_is_the_models_most_specific_her_id() {
    for receiver in [
        alvdal(),
        org("Alvdal Kommune", "99387", ""),
        org("Kattskinnet legesenter", "91096", &hcp("91100", None)),
    ] {
        let xml = envelope("UTSKRIVNINGSRAPPORT", &receiver, "", &epikrise(""));
        let m = Message::read(&parse(&xml));
        let p = route(&m, &registry(), &CopyRules::none());
        assert_eq!(
            Some(hers(&p)[0]),
            m.receiver().and_then(|r| r.most_specific_her_id())
        );
    }
}

// --- 2. Copy receivers ------------------------------------------------------

#[test]
fn copy_receivers_with_a_her_id_are_targets_in_order() {
    let others =
        other(&hcp("91100", None)) + &other(&org("St. Olavs", "59", &org("PLO", "91090", "")));
    let xml = envelope("UTSKRIVNINGSRAPPORT", &alvdal(), &others, &epikrise(""));
    // 91090 (through 59) takes no discharge reports: an error.
    let p = plan_of(&xml, &CopyRules::none());
    let f = only(&p, "RT004");
    assert_eq!(
        f.path,
        "/MsgHead/MsgInfo/OtherReceiver[2]/Organisation/Organisation/Ident[1]"
    );
    assert!(
        f.text_nb.starts_with("Kopimottakeren 91090"),
        "{}",
        f.text_nb
    );
    // With only the GP as copy receiver it routes.
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        &other(&hcp("91100", None)),
        &epikrise(""),
    );
    let p = plan_of(&xml, &CopyRules::none());
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["5078", "91100"]);
    assert_eq!(p.targets[1].reason, Reason::OtherReceiver);
    assert_eq!(p.targets[1].via, "91096");
    assert_eq!(
        p.targets[1].text_en,
        "routed to 91100 August September (copy receiver)"
    );
    // The model agrees on the copy receiver's HER-id.
    let m = Message::read(&parse(&xml));
    assert_eq!(m.head.unwrap().other_receivers[0].her_id(), Some("91100"));
}

#[test]
fn a_copy_receiver_without_a_her_id_is_a_warning_and_gets_nothing() {
    let person = "<OtherReceiver><RoleReceiver V=\"KI\"/><Person><FamilyName>Nordmann</FamilyName></Person></OtherReceiver>";
    let p = plan_of(
        &envelope("UTSKRIVNINGSRAPPORT", &alvdal(), person, &epikrise("")),
        &CopyRules::none(),
    );
    let f = only(&p, "RT006");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.path, "/MsgHead/MsgInfo/OtherReceiver[1]");
    assert!(!p.is_rejected());
    assert_eq!(hers(&p), ["5078"]);
    assert_no_patient_data(&p);
}

// --- 6. De-duplication ------------------------------------------------------

#[test]
fn targets_are_unique_by_her_id_and_the_first_reason_wins() {
    let others = other(&org(
        "Alvdal",
        "99387",
        &org("Sykepleietjeneste", "5078", ""),
    )) + &other(&hcp("91100", Some("6")));
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        &others,
        &epikrise(&contact("6", &[("HER", "91100")])),
    );
    let p = plan(&xml);
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["5078", "91100"]);
    assert_eq!(p.targets[0].reason, Reason::Primary);
    assert_eq!(p.targets[1].reason, Reason::OtherReceiver);
}

// --- 4, 7. Unknown receivers ------------------------------------------------

#[test]
fn an_unknown_receiver_is_e21_at_its_ident_and_nothing_is_delivered() {
    let receiver = org("Alvdal Kommune", "99387", &org("Ukjent", "123456", ""));
    let xml = envelope(
        "LOG_INNLAGT",
        &receiver,
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    );
    let p = plan(&xml);
    let f = only(&p, "RT002");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.apprec_error.as_deref(), Some("E21"));
    assert_eq!(
        f.path,
        "/MsgHead/MsgInfo/Receiver/Organisation/Organisation/Ident[1]"
    );
    assert!(f.text_nb.contains("123456") && f.text_en.contains("123456"));
    assert_eq!((f.line, f.column), (0, 0));
    assert!(p.is_rejected());
    assert!(p.targets.is_empty());
    assert_eq!(Verdict::of(&p.findings), Verdict::Rejected);

    // With the document at hand, the finding has the Ident's position.
    let doc = parse(&xml);
    let m = Message::read(&doc);
    let p = route_located(&m, &registry(), &CopyRules::default(), &|l: Loc| {
        let (line, column) = l.line_col(&doc);
        Some(Place {
            path: "from the locator".into(),
            line,
            column,
        })
    });
    let f = only(&p, "RT002");
    assert_eq!(f.path, "from the locator");
    assert_eq!(f.line, 1);
    let ident_at = xml.find("<Ident><Id>123456").expect("ident") as u32 + 1;
    assert_eq!(f.column, ident_at);
}

#[test]
fn an_unknown_copy_receiver_is_e21_too() {
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        &(other(&hcp("91100", None)) + &other(&hcp("4444", None))),
        &epikrise(""),
    );
    let p = plan_of(&xml, &CopyRules::none());
    let f = only(&p, "RT002");
    assert_eq!(f.apprec_error.as_deref(), Some("E21"));
    assert_eq!(
        f.path,
        "/MsgHead/MsgInfo/OtherReceiver[2]/HealthcareProfessional/Ident[1]"
    );
    assert!(f.text_nb.starts_with("Kopimottakeren med HER-id 4444"));
    assert!(p.targets.is_empty());
    // The same unknown HER-id as receiver and copy receiver: told once.
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &org("Alvdal Kommune", "99387", &org("Ukjent", "4444", "")),
        &other(&hcp("4444", None)),
        &epikrise(""),
    );
    let f = only(&plan_of(&xml, &CopyRules::none()), "RT002");
    assert!(
        f.path.starts_with("/MsgHead/MsgInfo/Receiver/"),
        "{}",
        f.path
    );
}

#[test]
fn a_her_id_that_is_not_one_is_not_quoted() {
    let receiver = org("X", "Kari Nordmann 15076500565", "");
    let p = plan(&envelope(
        "LOG_INNLAGT",
        &receiver,
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    ));
    let f = only(&p, "RT002");
    assert!(f.text_nb.contains("(ugyldig / invalid)"), "{}", f.text_nb);
    assert_no_patient_data(&p);
}

#[test]
fn a_message_without_a_receiver_her_id_is_e21() {
    let receiver = format!(
        "<Organisation><OrganisationName>Alvdal</OrganisationName>{}</Organisation>",
        ident("964966753", "ENH")
    );
    let p = plan(&envelope(
        "LOG_INNLAGT",
        &receiver,
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    ));
    let f = only(&p, "RT001");
    assert_eq!(f.apprec_error.as_deref(), Some("E21"));
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "/MsgHead/MsgInfo/Receiver");
    assert!(p.is_rejected() && p.targets.is_empty());

    // No Receiver at all (the schema requires one): the path names it.
    let xml = envelope(
        "LOG_INNLAGT",
        "",
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    )
    .replace("<Receiver></Receiver>", "");
    let f = only(&plan(&xml), "RT001");
    assert_eq!(f.path, "/MsgHead/MsgInfo/Receiver");

    // No envelope at all: a bare PLO document.
    let p = plan(&epikrise(""));
    assert!(codes(&p).contains(&"RT001"), "{:#?}", p.findings);
    assert!(p.is_rejected());
}

// --- 5. Known but unreachable or not accepting --------------------------------

#[test]
fn a_receiver_without_an_endpoint_is_an_error_naming_it() {
    let receiver = org("Fjellby", "7001", &org("Hjemmetjenesten", "7002", ""));
    let p = plan(&envelope(
        "LOG_INNLAGT",
        &receiver,
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    ));
    let f = only(&p, "RT003");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.apprec_error.as_deref(), Some("X99"));
    assert!(
        f.text_nb.contains("7002 Hjemmetjenesten Fjellby"),
        "{}",
        f.text_nb
    );
    assert!(
        f.text_en.contains("7002 Hjemmetjenesten Fjellby"),
        "{}",
        f.text_en
    );
    assert!(p.targets.is_empty());
}

#[test]
fn a_receiver_that_does_not_take_the_type_is_t10_naming_type_and_version() {
    // St. Olavs takes INNLEGGELSESRAPPORT only.
    let receiver = org("St. Olavs", "59", &org("PLO", "91090", ""));
    let p = plan_of(
        &envelope("UTSKRIVNINGSRAPPORT", &receiver, "", &epikrise("")),
        &CopyRules::none(),
    );
    let f = only(&p, "RT004");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.apprec_error.as_deref(), Some("T10"));
    assert_eq!(
        f.text_nb,
        "Mottakeren 91090 PLO innleggelse somatikk tar ikke imot UTSKRIVNINGSRAPPORT versjon 1.6."
    );
    assert_eq!(
        f.text_en,
        "The receiver 91090 PLO innleggelse somatikk does not accept UTSKRIVNINGSRAPPORT version 1.6."
    );
    assert!(p.targets.is_empty());
}

#[test]
fn the_version_is_the_main_documents_and_other_accepted_versions_are_named() {
    let content = document(NS_EPIKRISE_15, "TverrfagligEpikrise", "");
    let xml = envelope("UTSKRIVNINGSRAPPORT", &alvdal(), "", &content);
    let m = Message::read(&parse(&xml));
    assert_eq!(m.version(), Some("1.5"));
    let p = route(&m, &registry(), &CopyRules::none());
    let f = only(&p, "RT004");
    assert!(
        f.text_en.contains("UTSKRIVNINGSRAPPORT version 1.5"),
        "{}",
        f.text_en
    );
    assert!(
        f.text_en.ends_with(" It accepts version 1.6."),
        "{}",
        f.text_en
    );
    assert!(
        f.text_nb.ends_with(" Den tar imot versjon 1.6."),
        "{}",
        f.text_nb
    );
}

#[test]
fn an_unknown_type_or_version_is_t10() {
    // A document Overgang does not know: no version.
    let content = "<x:Ukjent xmlns:x=\"urn:example:unknown\"/>";
    let p = plan(&envelope("LOG_INNLAGT", &alvdal(), "", content));
    let f = only(&p, "RT005");
    assert_eq!(f.apprec_error.as_deref(), Some("T10"));
    assert_eq!(f.path, "/MsgHead/Document[1]");
    assert!(p.is_rejected());
    // A type that is not a code.
    let p = plan(&envelope(
        "LOG INNLAGT",
        &alvdal(),
        "",
        &document(NS_LOGISTIKK_16, "Pasientlogistikk", ""),
    ));
    let f = only(&p, "RT005");
    assert_eq!(f.path, "/MsgHead/MsgInfo/Type");
}

// --- 3. Copy rules: the GP's copy of a discharge report ----------------------

#[test]
fn a_discharge_report_goes_to_the_gp_named_as_contact_person() {
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(
            &(contact("19", &[("HPR", "9144889")])
                + &contact("6", &[("HPR", "9144900"), ("HER", "91100")])),
        ),
    );
    let p = plan(&xml);
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["5078", "91100"]);
    let gp = &p.targets[1];
    assert_eq!(
        gp.reason,
        Reason::CopyRule {
            rule: "gp-on-discharge".into()
        }
    );
    assert_eq!(gp.via, "91096");
    assert_eq!(
        gp.text_nb,
        "rutet til 91100 August September (kopi etter regelen gp-on-discharge)"
    );
    assert_eq!(
        gp.text_en,
        "routed to 91100 August September (copy by rule gp-on-discharge)"
    );
}

#[test]
fn a_discharge_report_goes_to_the_gp_named_in_the_envelope() {
    // A GP inside the receiving service (as an envelope professional with
    // role Fastlege) is not the receiver (the service is), so gets a copy.
    let receiver = org(
        "Alvdal Kommune",
        "99387",
        &org("Sykepleietjeneste", "5078", &hcp("91100", Some("6"))),
    );
    let p = plan(&envelope(
        "UTSKRIVNINGSRAPPORT",
        &receiver,
        "",
        &epikrise(""),
    ));
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["5078", "91100"]);
}

#[test]
fn a_gp_who_already_receives_gets_no_second_copy_and_no_warning() {
    // Named as copy receiver (no role given): the registry says it is a GP.
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        &other(&hcp("91100", None)),
        &epikrise(&contact("6", &[("HER", "91100")])),
    );
    let p = plan(&xml);
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["5078", "91100"]);
    assert_eq!(p.targets[1].reason, Reason::OtherReceiver);
}

#[test]
fn a_discharge_report_naming_no_gp_is_a_warning_a_nurse_understands() {
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&contact("19", &[("HPR", "9144889")])),
    );
    let p = plan(&xml);
    let f = only(&p, "RT007");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.apprec_error, None);
    assert!(!p.is_rejected());
    assert_eq!(hers(&p), ["5078"]);
    assert!(
        f.text_nb.starts_with(
            "Utskrivningsrapporten oppgir ikke pasientens fastlege, så fastlegen får ikke kopi."
        ),
        "{}",
        f.text_nb
    );
    assert!(
        f.text_en.starts_with(
            "The discharge report does not name the patient's GP, so the GP gets no copy."
        ),
        "{}",
        f.text_en
    );
    assert_eq!(
        f.path,
        "/MsgHead/Document[1]/RefDoc/Content/TverrfagligEpikrise/KontaktpersonHelsepersonell"
    );
    assert_no_patient_data(&p);
}

#[test]
fn a_gp_named_without_a_her_id_is_a_warning() {
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&(contact("19", &[]) + &contact("6", &[("HPR", "9144900")]))),
    );
    let p = plan(&xml);
    let f = only(&p, "RT008");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.path,
        "/MsgHead/Document[1]/RefDoc/Content/TverrfagligEpikrise/KontaktpersonHelsepersonell[2]/Kontaktperson"
    );
    assert!(f.text_nb.contains("uten HER-id"), "{}", f.text_nb);
    assert!(!f.text_nb.contains("9144900"));
    assert_eq!(hers(&p), ["5078"]);
}

#[test]
fn a_gp_not_in_the_registry_is_a_warning_not_a_rejection() {
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&contact("6", &[("HER", "8888888")])),
    );
    let p = plan(&xml);
    let f = only(&p, "RT009");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.text_nb.contains("HER-id 8888888"), "{}", f.text_nb);
    assert!(f.text_en.contains("HER-id 8888888"), "{}", f.text_en);
    assert_eq!(
        f.path,
        "/MsgHead/Document[1]/RefDoc/Content/TverrfagligEpikrise/KontaktpersonHelsepersonell[1]/Kontaktperson/Ident[1]"
    );
    assert!(!p.is_rejected());
    assert_eq!(hers(&p), ["5078"]);
}

#[test]
fn a_gp_who_cannot_take_the_report_is_a_warning() {
    for (her, why) in [
        ("92001", "does not accept UTSKRIVNINGSRAPPORT version 1.6"),
        ("93001", "has no endpoint"),
    ] {
        let xml = envelope(
            "UTSKRIVNINGSRAPPORT",
            &alvdal(),
            "",
            &epikrise(&contact("6", &[("HER", her)])),
        );
        let p = plan(&xml);
        let f = only(&p, "RT010");
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.text_en.contains(her) && f.text_en.contains(why),
            "{}",
            f.text_en
        );
        assert!(!p.is_rejected());
        assert_eq!(hers(&p), ["5078"]);
    }
}

#[test]
fn role_6_counts_only_in_list_9034() {
    let mut c = contact("6", &[("HER", "91100")]);
    c = c.replace("1.9034", "1.9033");
    let p = plan(&envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&c),
    ));
    assert_eq!(codes(&p), ["RT007"]);
    // Without S the code is read as list 9034's.
    let c = contact("6", &[("HER", "91100")]).replace(" S=\"2.16.578.1.12.4.1.1.9034\"", "");
    let p = plan(&envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&c),
    ));
    assert_eq!(hers(&p), ["5078", "91100"], "{:#?}", p.findings);
}

#[test]
fn copy_rules_apply_only_to_their_types() {
    let content = document(
        NS_LOGISTIKK_16,
        "Pasientlogistikk",
        &contact("6", &[("HER", "91100")]),
    );
    let p = plan(&envelope("LOG_INNLAGT", &alvdal(), "", &content));
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    assert_eq!(hers(&p), ["5078"]);
}

#[test]
fn copy_rules_turned_off_send_no_copy_and_warn_of_nothing() {
    let with_gp = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&contact("6", &[("HER", "91100")])),
    );
    let without = envelope("UTSKRIVNINGSRAPPORT", &alvdal(), "", &epikrise(""));
    for rules in [CopyRules::none(), config("[routing]\ncopy = []\n")] {
        assert_eq!(hers(&plan_of(&with_gp, &rules)), ["5078"]);
        let p = plan_of(&without, &rules);
        assert!(p.findings.is_empty(), "{:#?}", p.findings);
    }
}

#[test]
fn without_warn_when_missing_a_missing_gp_is_silent() {
    let rules = config(
        "[routing]\n[[routing.copy]]\nname = \"gp\"\ntypes = [\"UTSKRIVNINGSRAPPORT\"]\nto = \"patient_gp\"\n",
    );
    assert!(!rules.copy[0].warn_when_missing);
    let p = plan_of(
        &envelope("UTSKRIVNINGSRAPPORT", &alvdal(), "", &epikrise("")),
        &rules,
    );
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
    // Warnings about a GP who is named still come.
    let xml = envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&contact("6", &[("HER", "8888888")])),
    );
    assert_eq!(codes(&plan_of(&xml, &rules)), ["RT009"]);
}

#[test]
fn a_rule_for_other_types_sends_copies_of_those() {
    let rules = config(
        "[routing]\n[[routing.copy]]\nname = \"gp-on-admission\"\ntypes = [\"LOG_INNLAGT\", \"UTSKRIVNINGSRAPPORT\"]\nto = \"patient_gp\"\nwarn_when_missing = true\n",
    );
    let content = document(
        NS_LOGISTIKK_16,
        "Pasientlogistikk",
        &contact("6", &[("HER", "91100")]),
    );
    let p = plan_of(&envelope("LOG_INNLAGT", &alvdal(), "", &content), &rules);
    // The GP's practice takes no LOG_INNLAGT.
    let f = only(&p, "RT010");
    assert!(
        f.text_nb.contains("meldingen (LOG_INNLAGT)"),
        "{}",
        f.text_nb
    );
    let p = plan_of(
        &envelope(
            "UTSKRIVNINGSRAPPORT",
            &alvdal(),
            "",
            &epikrise(&contact("6", &[("HER", "91100")])),
        ),
        &rules,
    );
    assert_eq!(
        p.targets[1].reason,
        Reason::CopyRule {
            rule: "gp-on-admission".into()
        }
    );
}

// --- Copy rules as configuration --------------------------------------------

/// The `[routing]` section of a server configuration.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerConfig {
    #[serde(default)]
    routing: CopyRules,
}

fn config(text: &str) -> CopyRules {
    let c: ServerConfig = toml::from_str(text).expect("config");
    c.routing.check().expect("check");
    c.routing
}

#[test]
fn copy_rules_read_from_a_routing_section() {
    let rules = config(
        r#"
[routing]
[[routing.copy]]
name = "gp-on-discharge"
types = ["UTSKRIVNINGSRAPPORT"]
to = "patient_gp"
warn_when_missing = true
"#,
    );
    assert_eq!(rules, CopyRules::default());
    assert_eq!(rules.copy, [CopyRule::gp_on_discharge()]);
    // No section, or a section without `copy`: the default.
    assert_eq!(config(""), CopyRules::default());
    assert_eq!(config("[routing]\n"), CopyRules::default());
    // An empty list: off.
    assert_eq!(config("[routing]\ncopy = []\n"), CopyRules::none());
    assert!(CopyRules::none().copy.is_empty());
}

#[test]
fn bad_copy_rules_are_refused_with_the_rule_and_reason() {
    for (text, expected) in [
        ("[routing]\n[[routing.copy]]\nname = \"x\"\ntypes = [\"A\"]\nto = \"patient_gp\"\nwhen = 1\n", "unknown field `when`"),
        ("[routing]\n[[routing.copy]]\nname = \"x\"\ntypes = [\"A\"]\nto = \"the_gp\"\n", "unknown variant `the_gp`"),
        ("[routing]\nextra = true\n", "unknown field `extra`"),
        ("[routing]\n[[routing.copy]]\nname = \"x\"\nto = \"patient_gp\"\n", "missing field `types`"),
    ] {
        let e = match toml::from_str::<ServerConfig>(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(expected), "{e}");
    }
    let rule = |name: &str, types: &[&str]| CopyRule {
        name: name.into(),
        types: types.iter().map(|t| t.to_string()).collect(),
        to: CopyTo::PatientGp,
        warn_when_missing: false,
    };
    for (rules, expected) in [
        (vec![rule(" ", &["A"])], "routing.copy rule #1: has no name"),
        (
            vec![rule("a", &["A"]), rule("a", &["B"])],
            "routing.copy rule \"a\": is named twice",
        ),
        (
            vec![rule("a", &[])],
            "routing.copy rule \"a\": lists no message types",
        ),
        (
            vec![rule("a", &["UTSKRIVNINGS RAPPORT"])],
            "routing.copy rule \"a\": type \"UTSKRIVNINGS RAPPORT\" is not a message type code",
        ),
    ] {
        let e = CopyRules { copy: rules }
            .check()
            .expect_err("refused")
            .to_string();
        assert!(e.starts_with(expected), "{e}");
    }
    assert_eq!(CopyRules::default().check(), Ok(()));
}

#[test]
fn a_plan_serialises_with_its_reasons() {
    let p = plan(&envelope(
        "UTSKRIVNINGSRAPPORT",
        &alvdal(),
        "",
        &epikrise(&contact("6", &[("HER", "91100")])),
    ));
    let v = serde_json::to_value(&p).expect("json");
    assert_eq!(v["targets"][0]["reason"]["kind"], "primary");
    assert_eq!(v["targets"][1]["reason"]["kind"], "copy_rule");
    assert_eq!(v["targets"][1]["reason"]["rule"], "gp-on-discharge");
    assert_eq!(v["targets"][1]["via"], "91096");
    assert_eq!(v["findings"], serde_json::json!([]));
}

// --- The 22 official examples with the demo registry --------------------------

mod official {
    use super::*;
    use overgang_validate::{Options, Validator};

    const EXAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/standards/examples/plo-1.6"
    );
    const DEMO: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/registry/demo.toml"
    ));

    fn demo() -> Registry {
        Registry::parse("demo.toml", DEMO).expect("the demo registry")
    }

    /// Each example, the receiver the envelope names (HER-id, via), and
    /// whether it is a discharge report (UTSKRIVNINGSRAPPORT). Read from
    /// the examples: hospital messages go to Alvdal kommune's
    /// Sykepleietjeneste (5078, through 99387), the admission reports to
    /// St. Olavs' PLO innleggelse somatikk (91090, through 59), the
    /// messages to the GP to August September (91100, through Kattskinnet
    /// legesenter 91096), the GP's medical information to 5078. None has a
    /// copy receiver, and no discharge report names a GP (their contact
    /// person is a Kontaktlege, role 19, with an HPR number only).
    const EXPECTED: [(&str, &str, &str, bool); 22] = [
        (
            "Helseopplysninger_Oppdaterte_opplysninger_v1-6_Endring1.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Helseopplysninger_Oppdaterte_opplysninger_v1-6_Endring2.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Helseopplysninger_Varsel_om_innlagt_pasient_v1-6_Ny.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Helseopplysninger_til_lege_v1-6_Kansellering.xml",
            "91100",
            "91096",
            false,
        ),
        (
            "Helseopplysninger_til_lege_v1-6_Ny.xml",
            "91100",
            "91096",
            false,
        ),
        ("Innleggelsesrapport_v1-6_Endring.xml", "91090", "59", false),
        (
            "Innleggelsesrapport_v1-6_Kansellering.xml",
            "91090",
            "59",
            false,
        ),
        ("Innleggelsesrapport_v1-6_Ny.xml", "91090", "59", false),
        (
            "Medisinske_opplysninger_v1-6_Kansellering.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Medisinske_opplysninger_v1-6_Ny.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Orientering_om_tjenestetilbud_v1-6_Kansellering.xml",
            "91100",
            "91096",
            false,
        ),
        (
            "Orientering_om_tjenestetilbud_v1-6_Ny.xml",
            "91100",
            "91096",
            false,
        ),
        (
            "Pasientlogistikk_Avmelding_av_utskrivningsklar_pasient_v1-6_Ny.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Pasientlogistikk_Innlagt_pasient_v1-6_Kansellering.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Pasientlogistikk_Melding_om_utskrevet_pasient_v1-6_Ny.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Pasientlogistikk_Orientering_om_dodsfall_v1-6_Kansellering.xml",
            "91100",
            "91096",
            false,
        ),
        (
            "Pasientlogistikk_Orientering_om_dodsfall_v1-6_Ny.xml",
            "91100",
            "91096",
            false,
        ),
        (
            "Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml",
            "5078",
            "99387",
            false,
        ),
        (
            "Utskrivningsrapport_v1-6_Endring.xml",
            "5078",
            "99387",
            true,
        ),
        (
            "Utskrivningsrapport_v1-6_Kansellering.xml",
            "5078",
            "99387",
            true,
        ),
        ("Utskrivningsrapport_v1-6_Ny.xml", "5078", "99387", true),
    ];

    fn read(name: &str) -> Vec<u8> {
        let path = format!("{EXAMPLES}/{name}");
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("the official examples are required: {path}: {e}"))
    }

    /// Routes `bytes` as the gateway would: validated, with the document's
    /// schema-aware paths and positions.
    fn route_bytes(
        v: &Validator,
        reg: &Registry,
        bytes: &[u8],
    ) -> (overgang_validate::Report, Plan) {
        let report = v.validate(bytes);
        let doc = report.document.as_ref().expect("well-formed");
        let locate = |l: Loc| {
            l.node(doc).map(|n| {
                let (line, column) = n.line_col();
                Place {
                    path: v.schemas().path_of(n),
                    line,
                    column,
                }
            })
        };
        let plan = route_located(&report.message, reg, &CopyRules::default(), &locate);
        (report, plan)
    }

    #[test]
    fn the_table_lists_every_official_example() {
        let mut on_disk: Vec<String> = std::fs::read_dir(EXAMPLES)
            .unwrap_or_else(|e| panic!("the official examples are required: {EXAMPLES}: {e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".xml"))
            .collect();
        on_disk.sort();
        let listed: Vec<String> = EXPECTED.iter().map(|e| e.0.to_owned()).collect();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn every_official_example_routes_to_its_receiver_with_the_demo_registry() {
        let v = Validator::new(Options::default()).expect("validator");
        let reg = demo();
        let mut discharge = 0;
        for (name, her, via, is_discharge) in EXPECTED {
            let (report, plan) = route_bytes(&v, &reg, &read(name));
            assert_ne!(
                report.verdict,
                Verdict::Rejected,
                "{name}: {:#?}",
                report.findings
            );
            assert!(!plan.is_rejected(), "{name}: {:#?}", plan.findings);
            assert_eq!(hers(&plan), [her], "{name}");
            assert_eq!(plan.targets[0].via, via, "{name}");
            assert_eq!(plan.targets[0].reason, Reason::Primary, "{name}");
            assert_eq!(
                Some(her),
                report
                    .message
                    .receiver()
                    .and_then(|r| r.most_specific_her_id()),
                "{name}"
            );
            let m = &report.message;
            assert_eq!(m.version(), Some("1.6"), "{name}");
            assert_eq!(
                m.msg_type() == Some("UTSKRIVNINGSRAPPORT"),
                is_discharge,
                "{name}"
            );
            if is_discharge {
                discharge += 1;
                // No GP named: the nurse is told the GP gets no copy.
                let f = only(&plan, "RT007");
                assert_eq!(f.severity, Severity::Warning);
                assert_eq!(
                    f.path,
                    "/MsgHead/Document[1]/RefDoc/Content/TverrfagligEpikrise/KontaktpersonHelsepersonell",
                    "{name}"
                );
                assert!(f.line > 0, "{name}");
            } else {
                assert!(plan.findings.is_empty(), "{name}: {:#?}", plan.findings);
            }
            // Nothing of the patient in the findings.
            let patient = m
                .head
                .as_ref()
                .and_then(|h| h.patient.as_ref())
                .expect("patient");
            let mut secrets: Vec<String> = patient
                .idents
                .iter()
                .filter_map(|i| i.id.expose().clone())
                .collect();
            secrets.extend(patient.family_name.expose().clone());
            secrets.extend(patient.given_name.expose().clone());
            for f in &plan.findings {
                for s in &secrets {
                    assert!(
                        !f.text_nb.contains(s.as_str()) && !f.text_en.contains(s.as_str()),
                        "{name}"
                    );
                }
            }
        }
        assert_eq!(discharge, 3);
    }

    #[test]
    fn a_discharge_report_naming_the_gp_goes_to_the_gp_too() {
        let v = Validator::new(Options::default()).expect("validator");
        let reg = demo();
        for name in [
            "Utskrivningsrapport_v1-6_Ny.xml",
            "Utskrivningsrapport_v1-6_Endring.xml",
        ] {
            // Make the example's contact doctor the patient's GP, with a HER-id.
            let text = String::from_utf8(read(name)).expect("utf-8");
            let text = text
                .replace("V=\"19\" DN=\"Kontaktlege\"", "V=\"6\" DN=\"Fastlege\"")
                .replace(
                    "<fk1:TypeId V=\"HPR\" DN=\"HPR-nummer\" S=\"2.16.578.1.12.4.1.1.8116\"/>\n\t\t\t\t\t\t\t</fk1:Ident>",
                    "<fk1:TypeId V=\"HPR\" DN=\"HPR-nummer\" S=\"2.16.578.1.12.4.1.1.8116\"/>\n\t\t\t\t\t\t\t</fk1:Ident><fk1:Ident><fk1:Id>91100</fk1:Id><fk1:TypeId V=\"HER\" DN=\"HER-id\" S=\"2.16.578.1.12.4.1.1.8116\"/></fk1:Ident>",
                );
            assert!(
                text.contains("<fk1:Id>91100</fk1:Id>"),
                "{name}: the edit did not apply"
            );
            let (report, plan) = route_bytes(&v, &reg, text.as_bytes());
            assert_ne!(
                report.verdict,
                Verdict::Rejected,
                "{name}: {:#?}",
                report.findings
            );
            assert!(plan.findings.is_empty(), "{name}: {:#?}", plan.findings);
            assert_eq!(hers(&plan), ["5078", "91100"], "{name}");
            assert_eq!(plan.targets[1].via, "91096");
            assert_eq!(
                plan.targets[1].reason,
                Reason::CopyRule {
                    rule: "gp-on-discharge".into()
                }
            );
            let c = &report.message.plo.as_ref().expect("plo").contacts[0];
            assert_eq!(c.role_code(), Some("6"));
            assert_eq!(c.her_id(), Some("91100"));
        }
    }

    /// The paths worked out from the envelope's structure (when no
    /// locator is given) are the schema-aware paths the gateway shows.
    #[test]
    fn fallback_paths_equal_the_schema_paths() {
        let v = Validator::new(Options::default()).expect("validator");
        let reg = demo();
        let edits: [(&str, &str, &str); 3] = [
            // An unknown service.
            (
                "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml",
                "<Id>5078</Id>",
                "<Id>777777</Id>",
            ),
            // An unknown GP as the receiver's person.
            (
                "Helseopplysninger_til_lege_v1-6_Ny.xml",
                "<Id>91100</Id>",
                "<Id>777777</Id>",
            ),
            // A GP named without HER-id in a discharge report.
            (
                "Utskrivningsrapport_v1-6_Ny.xml",
                "V=\"19\" DN=\"Kontaktlege\"",
                "V=\"6\" DN=\"Fastlege\"",
            ),
        ];
        for (name, from, to) in edits {
            let text = String::from_utf8(read(name)).expect("utf-8");
            assert!(text.contains(from), "{name}");
            let text = text.replacen(from, to, 1);
            let (report, located) = route_bytes(&v, &reg, text.as_bytes());
            let plain = route(&report.message, &reg, &CopyRules::default());
            assert_eq!(located.findings.len(), 1, "{name}: {:#?}", located.findings);
            assert_eq!(plain.findings.len(), 1, "{name}");
            assert_eq!(plain.findings[0].path, located.findings[0].path, "{name}");
            assert!(located.findings[0].line > 0, "{name}");
        }
    }

    #[test]
    fn the_demo_registry_reaches_every_receiver_of_the_examples() {
        let reg = demo();
        for (her, via) in [("5078", "99387"), ("91090", "59"), ("91100", "91096")] {
            assert_eq!(reg.route(her).map(|r| r.via), Some(via));
        }
    }
}
