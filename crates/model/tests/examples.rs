//! The model against the 22 official PLO v1.6 examples and the XSDs.
//! Fails (does not skip) when `../shared/standards` is missing.

use overgang_model::standard::KNOWN;
use overgang_model::*;
use std::path::PathBuf;

fn standards() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/standards");
    assert!(
        p.is_dir(),
        "the standards folder is required: {}",
        p.display()
    );
    p
}

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = standards().join("examples/plo-1.6");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert_eq!(v.len(), 22);
    v
}

fn read(bytes: &[u8]) -> Message {
    let doc = overgang_xml::parse(bytes, &Default::default()).unwrap();
    Message::read(&doc)
}

#[test]
fn known_namespaces_are_the_xsds_target_namespaces() {
    let dir = standards().join("xsd");
    let mut targets = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        if let Some(i) = text.find("targetNamespace=\"") {
            let rest = &text[i + 17..];
            if let Some(j) = rest.find('"') {
                targets.push(rest[..j].to_owned());
            }
        }
    }
    for (ns, root, ..) in KNOWN {
        assert!(
            targets.iter().any(|t| t == ns),
            "{ns} is no XSD's targetNamespace"
        );
        // The root element is declared in some XSD.
        let declared = std::fs::read_dir(&dir).unwrap().any(|e| {
            let t =
                String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned();
            t.contains(&format!("targetNamespace=\"{ns}\""))
                && t.contains(&format!("element name=\"{root}\""))
        });
        assert!(declared, "{root} not declared for {ns}");
    }
    // Every document namespace of the PLO, Dialog and AppRec XSDs is known.
    for t in &targets {
        let doc_like = (t.contains("/po/") && !t.contains("poKomponent"))
            || t.contains("/dialog/")
            || t.contains("/apprec/");
        if doc_like {
            assert!(KNOWN.iter().any(|(n, ..)| n == t), "{t} not in KNOWN");
        }
    }
}

#[test]
fn every_example_reads_with_envelope_standard_and_status() {
    for (name, bytes) in examples() {
        let m = read(&bytes);
        let h = m.head.as_ref().unwrap_or_else(|| panic!("{name}: no head"));
        assert!(h.msg_id.is_some(), "{name}");
        assert!(h.gen_date.is_some(), "{name}");
        assert_eq!(h.mig_version.as_deref(), Some("v1.2 2006-05-24"), "{name}");
        assert!(
            m.sender().and_then(Party::her_id).is_some(),
            "{name}: sender HER"
        );
        assert!(
            m.receiver().and_then(Party::her_id).is_some(),
            "{name}: receiver HER"
        );
        let p = h
            .patient
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: patient"));
        assert!(!p.idents.is_empty(), "{name}");
        let st = m.standard.unwrap_or_else(|| panic!("{name}: standard"));
        assert_eq!(st.version, Version::V1_6, "{name}");
        assert_eq!(m.ns_match, Some(NsMatch::Official), "{name}");
        let plo = m.plo.as_ref().unwrap_or_else(|| panic!("{name}: plo"));
        let status = plo
            .status_code()
            .unwrap_or_else(|| panic!("{name}: status"));
        let expected = if name.contains("_Ny") {
            "N"
        } else if name.contains("Endring") {
            "M"
        } else {
            "C"
        };
        assert_eq!(status, expected, "{name}");
        let family = match h.msg_type_code() {
            Some("INNLEGGELSESRAPPORT") => Family::Innleggelsesrapport,
            Some("HELSEOPPL_SOKNAD") => Family::HelseopplysningerVedSoknad,
            Some("UTSKRIVNINGSRAPPORT") => Family::TverrfagligEpikrise,
            Some("HELSEOPPLYSNINGER_LEGE") => Family::HelseopplysningerTilLege,
            Some("ORIENTERING_TJENESTETILBUD") => Family::OrienteringOmTjenestetilbud,
            Some("MEDISINSKE_OPPLYSNINGER") => Family::MedisinskeOpplysninger,
            Some(t) if t.starts_with("LOG_") => Family::Pasientlogistikk,
            other => panic!("{name}: type {other:?}"),
        };
        assert_eq!(st.family, family, "{name}");
        if family == Family::Pasientlogistikk {
            let n = plo.notice().unwrap_or_else(|| panic!("{name}: notice"));
            assert_eq!(n.msg_type(), h.msg_type_code(), "{name}");
        }
        let doc = m.main_document().unwrap();
        assert_eq!(
            doc.ref_doc_msg_type.as_ref().and_then(Coded::code),
            Some("XML")
        );
        // The summary names no patient data.
        let s = m.summary().to_string();
        for id in &p.idents {
            if let Some(v) = id.id.expose() {
                assert!(!s.contains(v.as_str()), "{name}: summary leaks an id");
            }
        }
        let dbg = format!("{m:?}");
        if let Some(f) = p.family_name.expose() {
            assert!(
                !dbg.contains(&format!("\"{f}\"")),
                "{name}: Debug leaks the name"
            );
        }
        for id in &p.idents {
            if let Some(v) = id.id.expose() {
                assert!(!dbg.contains(v.as_str()), "{name}: Debug leaks an id");
            }
        }
    }
}

fn example(name: &str) -> Message {
    read(&example_bytes(name))
}

fn example_bytes(name: &str) -> Vec<u8> {
    examples().into_iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn innleggelsesrapport_details() {
    let doc = overgang_xml::parse(
        &example_bytes("Innleggelsesrapport_v1-6_Ny.xml"),
        &Default::default(),
    )
    .unwrap();
    let m = Message::read(&doc);
    let h = m.head.as_ref().unwrap();
    assert_eq!(
        h.msg_id.as_deref(),
        Some("13a5da20-05c6-11e8-8f1a-0800200c9a66")
    );
    let s = h.sender.as_ref().unwrap();
    assert_eq!(s.her_id(), Some("99387"));
    assert_eq!(s.sub_her_id(), Some("5078"));
    assert_eq!(m.receiver().unwrap().sub_her_id(), Some("91090"));
    let p = h.patient.as_ref().unwrap();
    assert_eq!(p.idents[0].type_code(), Some("FNR"));
    let plo = m.plo.as_ref().unwrap();
    let fa = &plo.functional_assessments;
    assert_eq!(fa.len(), 1);
    assert_eq!(fa[0].functions.len(), 17);
    assert!(fa[0].overall.as_ref().unwrap().comment.expose().is_some());
    let f1 = &fa[0].functions[0];
    assert_eq!(f1.variable_code(), Some("1"));
    assert_eq!(f1.score, Some(3));
    assert_eq!(f1.score_raw.as_deref(), Some("3"));
    assert!(!f1.comment_present);
    let path = f1.loc.path(&doc);
    assert!(path.contains("KartlagtFunksjon[1]"), "{path}");
    assert!(f1.loc.line_col(&doc).0 > 0);
    assert_eq!(plo.medications.len(), 5);
    assert_eq!(plo.cave.len(), 1);
    assert_eq!(plo.relatives.len(), 2);
    assert!(plo.relatives[0].name_present && plo.relatives[0].phone_present);
    assert_eq!(plo.units.len(), 1);
    assert!(plo.units[0].phone_present);
    assert!(plo.responsible.as_ref().unwrap().name_present);
    assert_eq!(
        plo.help_with_medication.as_ref().map(|h| h.0.as_str()),
        Some("true")
    );
    let headings: Vec<_> = plo
        .journal_texts
        .iter()
        .filter_map(|j| j.heading_code())
        .collect();
    assert!(headings.contains(&"AAI"));
    assert!(headings.contains(&"8"));
    assert!(plo.journal_texts.iter().all(|j| j.note_present));
}

#[test]
fn logistics_events() {
    let m = example("Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml");
    let plo = m.plo.as_ref().unwrap();
    assert_eq!(
        plo.notice(),
        Some(LogisticsNotice::MeldingUtskrivningsklarPasient)
    );
    assert_eq!(plo.events.len(), 2);
    assert_eq!(plo.events[0].code(), Some("1"));
    assert_eq!(plo.events[0].time.as_deref(), Some("2018-01-29T10:00:00"));
    assert_eq!(plo.events[0].estimate, Some(false));
    assert_eq!(plo.events[1].code(), Some("3"));
    assert_eq!(plo.events[1].estimate, Some(true));
    assert_eq!(plo.events[1].within, "MeldingUtskrivningsklarPasient");
    let s = m.summary();
    assert_eq!(s.msg_type.as_deref(), Some("LOG_UTSKRIVNINGSKLAR"));
}

#[test]
fn conversation_refs_are_read() {
    let m = example("Innleggelsesrapport_v1-6_Endring.xml");
    let c = m.head.as_ref().unwrap().conversation_ref.as_ref().unwrap();
    assert!(c.ref_to_parent.is_some() && c.ref_to_conversation.is_some());
}

#[test]
fn official_apprec_example_reads() {
    let b = std::fs::read(standards().join("examples/apprec/apprec-eksempel.xml")).unwrap();
    let m = read(&b);
    assert!(m.head.is_none());
    assert_eq!(m.standard.map(|s| s.family), Some(Family::AppRec));
    let a = m.apprec.unwrap();
    assert_eq!(a.version, "1.0");
    assert_eq!(a.status, Some(AppRecStatus::OkWithErrors));
    assert_eq!(a.errors.len(), 5);
    assert_eq!(a.error_codes().next(), Some("53"));
    assert_eq!(
        a.original_msg_id(),
        Some("1b08b3f5-76c1-4560-ae4e-90e04cb0bc70")
    );
    assert_eq!(
        a.sender.unwrap().dept_name.as_deref(),
        Some("Kontrollsystem")
    );
}

#[test]
fn broken_input_reads_as_empty_options() {
    for src in [
        "<MsgHead xmlns='http://www.kith.no/xmlstds/msghead/2006-05-24'/>",
        "<MsgHead xmlns='http://www.kith.no/xmlstds/msghead/2006-05-24'><MsgInfo><Sender/><Receiver><Organisation/></Receiver><Patient><Ident/></Patient></MsgInfo><Document><RefDoc><Content>abc</Content></RefDoc></Document></MsgHead>",
        "<x/>",
        "<p:Pasientlogistikk xmlns:p='http://www.kith.no/xmlstds/po/Pasientlogistikk/2009-06-30'><p:MeldingFravar/></p:Pasientlogistikk>",
        "<h:HelseopplysningerVedSoknad xmlns:h='http://www.kith.no/xmlstds/po/Helseopplysninger/2012-04-01'/>",
    ] {
        let m = read(src.as_bytes());
        let _ = m.summary().to_string();
    }
    let m = read(b"<h:HelseopplysningerVedSoknad xmlns:h='http://www.kith.no/xmlstds/po/Helseopplysninger/2012-04-01'/>");
    assert_eq!(m.ns_match, Some(NsMatch::SpecVariant));
    let m = read(b"<MsgHead xmlns='http://www.kith.no/xmlstds/msghead/2006-05-24'><MsgInfo><Sender/></MsgInfo><Document><RefDoc><Content>abc</Content></RefDoc></Document></MsgHead>");
    assert!(m.head.is_some());
    assert_eq!(m.documents.len(), 1);
    assert!(m.documents[0].content_is_text);
    assert_eq!(m.main, None);
    assert!(m.msg_id().is_none());
}

#[test]
fn what_routing_reads_ident_positions_contact_ids_and_the_version() {
    let bytes = example_bytes("Utskrivningsrapport_v1-6_Ny.xml");
    let doc = overgang_xml::parse(&bytes, &Default::default()).unwrap();
    let m = Message::read(&doc);
    assert_eq!(m.version(), Some("1.6"));
    // The receiver's HER-id and where its Ident is.
    let sub = m
        .receiver()
        .and_then(|r| r.organisation.as_ref())
        .and_then(|o| o.sub_organisation.as_deref())
        .unwrap();
    let (i, id) = her_ident(&sub.idents).unwrap();
    assert_eq!((i, id.id.as_deref()), (0, Some("5078")));
    assert!(id
        .loc
        .path(&doc)
        .ends_with("/Receiver/Organisation/Organisation/Ident"));
    assert!(id.loc.line_col(&doc).0 > 0);
    // The contact doctor: role 19 (Kontaktlege), an HPR number, no HER-id.
    let c = &m.plo.as_ref().unwrap().contacts[0];
    assert_eq!(c.role_code(), Some("19"));
    assert_eq!(c.role.as_ref().and_then(Coded::list), Some(9034));
    assert_eq!(c.idents.len(), 1);
    assert_eq!(c.idents[0].type_code(), Some("HPR"));
    assert_eq!(c.idents[0].id.as_deref(), Some("9144889"));
    assert_eq!(c.her_id(), None);
    // A GP with a HER-id, and a copy receiver.
    let mut text = String::from_utf8(bytes).unwrap();
    let at = text.find("9144889").unwrap();
    let end = at + text[at..].find("</fk1:Ident>").unwrap() + "</fk1:Ident>".len();
    text.insert_str(
        end,
        "<fk1:Ident><fk1:Id>91100</fk1:Id><fk1:TypeId V=\"HER\"/></fk1:Ident>",
    );
    let text = text.replacen(
        "<Patient>",
        "<OtherReceiver><RoleReceiver V=\"KI\"/><Organisation><OrganisationName>L</OrganisationName>\
<Ident><Id>91096</Id><TypeId V=\"HER\"/></Ident><HealthcareProfessional><RoleToPatient V=\"6\"/>\
<Ident><Id>91100</Id><TypeId V=\"HER\"/></Ident></HealthcareProfessional></Organisation></OtherReceiver><Patient>",
        1,
    );
    let m = read(text.as_bytes());
    assert_eq!(m.plo.as_ref().unwrap().contacts[0].her_id(), Some("91100"));
    let o = &m.head.as_ref().unwrap().other_receivers[0];
    assert_eq!(o.her_id(), Some("91100"));
    let p = o
        .organisation
        .as_ref()
        .unwrap()
        .professional
        .as_ref()
        .unwrap();
    assert_eq!(p.her_id(), Some("91100"));
    assert_eq!(p.role_to_patient.as_ref().and_then(Coded::code), Some("6"));
    // A v1.5 document's version.
    let m = read(b"<p:TverrfagligEpikrise xmlns:p='http://www.kith.no/xmlstds/po/TverrfagligEpikrise/2009-06-30'/>");
    assert_eq!(m.version(), Some("1.5"));
    assert_eq!(read(b"<x/>").version(), None);
}
