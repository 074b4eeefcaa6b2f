//! Every receipt we write validates against the official AppRec XSDs
//! (`xmllint --schema ../shared/standards/xsd/all.xsd`). Needs xmllint
//! (Debian `libxml2-utils`) and `../shared/standards`; fails when missing.

use overgang_apprec::*;
use overgang_model::{from_xml_error, Category, Finding, Message, Severity};
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn model(bytes: &[u8]) -> Message {
    let doc = overgang_xml::parse(bytes, &Default::default()).unwrap();
    Message::read(&doc)
}

const NEW: NewReceipt<'static> = NewReceipt {
    msg_id: "5e4f20c0-c41b-11e0-962b-0800200c9a66",
    gen_date: "2024-05-01T10:31:07+02:00",
};

/// Validates all files in one xmllint run; panics with its output on failure.
fn xmllint(dir: &Path, files: &[PathBuf]) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(standards().join("xsd/all.xsd"))
        .args(files)
        .current_dir(dir)
        .output()
        .expect("xmllint is required (Debian package libxml2-utils)");
    assert!(
        out.status.success(),
        "xmllint failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("overgang-apprec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn err(code: &str, apprec: &str, path: &str) -> Finding {
    Finding::new(
        code,
        Category::Schema,
        Severity::Error,
        "Feil & <rart> \"innhold\" i 'meldingen'\nlinje 2",
        "Error",
    )
    .at(path, 3, 4)
    .apprec(apprec)
}

#[test]
fn receipts_validate_against_the_official_xsds() {
    let dir = tmpdir("xsd");
    let mut files = Vec::new();
    let mut write = |name: String, xml: &str| {
        let p = dir.join(name);
        std::fs::write(&p, xml).unwrap();
        files.push(p);
    };
    let opts11 = AppRecOptions::default();
    let opts10 = AppRecOptions {
        version: AppRecVersion::V1_0,
        software_name: Some("Overgang".into()),
        software_version: Some("0.1.0".into()),
        ..Default::default()
    };
    let opts3 = AppRecOptions {
        status3_for_warnings: true,
        role: ReceiverRole::Copy,
        ..Default::default()
    };
    for (name, bytes) in examples() {
        let m = model(&bytes);
        // OK receipts, both versions.
        for (tag, o) in [("v11", &opts11), ("v10", &opts10)] {
            let a = build(&m, &[], &NEW, o).unwrap();
            assert_eq!(a.status, AppRecStatus::Ok);
            assert!(a.errors.is_empty());
            assert!(!a.issue_date_substituted, "{name}");
            write(format!("ok-{tag}-{name}"), &a.xml);
        }
        // Rejected, with errors.
        let fs = vec![
            err("SCH001", "T02", "/MsgHead/MsgInfo"),
            err("ID001", "E31", "/MsgHead/MsgInfo/Patient/Ident"),
        ];
        let a = build(&m, &fs, &NEW, &opts11).unwrap();
        assert_eq!(a.status, AppRecStatus::Rejected);
        assert_eq!(a.errors.len(), 2);
        write(format!("rej-{name}"), &a.xml);
        // Warnings with status 3.
        let mut w = err("RULE1", "X99", "/a");
        w.severity = Severity::Warning;
        let a = build(&m, &[w], &NEW, &opts3).unwrap();
        assert_eq!(a.status, AppRecStatus::OkWithErrors);
        write(format!("st3-{name}"), &a.xml);
    }
    // Broken input: nothing readable.
    let e = overgang_xml::parse(b"<a><b></a>", &Default::default()).unwrap_err();
    let f = from_xml_error(&e);
    for (tag, o) in [("v11", &opts11), ("v10", &opts10)] {
        let a = build(&Message::default(), std::slice::from_ref(&f), &NEW, o).unwrap();
        assert_eq!(a.status, AppRecStatus::Rejected);
        assert!(a.issue_date_substituted);
        assert_eq!(a.errors[0].code, "T01");
        write(format!("broken-{tag}.xml"), &a.xml);
    }
    // Readable but schema-invalid: odd GenDate, type with spaces, no MsgId, empty parties.
    let odd = br#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo>
        <Type V=" LOG_INNLAGT  x" DN="a&amp;b"/><GenDate>30.01.2018</GenDate>
        <Sender><Organisation><Ident><Id>1</Id></Ident><Organisation><Ident><TypeId V="HER"/></Ident></Organisation></Organisation></Sender>
        <Receiver/></MsgInfo></MsgHead>"#;
    let m = model(odd);
    let a = build(&m, &[err("SCH002", "T02", "/MsgHead")], &NEW, &opts11).unwrap();
    assert!(a.issue_date_substituted);
    assert!(a.xml.contains("V=\"LOG_INNLAGT x\""), "{}", a.xml);
    write("odd.xml".into(), &a.xml);
    xmllint(&dir, &files);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sender_and_receiver_are_swapped_and_original_is_named() {
    let (_, b) = examples()
        .into_iter()
        .find(|(n, _)| n == "Innleggelsesrapport_v1-6_Ny.xml")
        .unwrap();
    let m = model(&b);
    let a = build(&m, &[], &NEW, &AppRecOptions::default()).unwrap();
    let r = read(a.xml.as_bytes(), &Default::default()).unwrap();
    assert_eq!(r.version, "1.1");
    assert_eq!(r.status, Some(AppRecStatus::Ok));
    assert!(r.errors.is_empty());
    let s = r.sender.unwrap();
    assert_eq!(s.inst_id.as_deref(), Some("59"));
    assert_eq!(s.dept_id.as_deref(), Some("91090"));
    assert_eq!(s.role.and_then(|c| c.v).as_deref(), Some("PRIM"));
    let rc = r.receiver.unwrap();
    assert_eq!(rc.inst_id.as_deref(), Some("99387"));
    assert_eq!(rc.dept_id.as_deref(), Some("5078"));
    assert_eq!(rc.inst_type_id.and_then(|c| c.v).as_deref(), Some("HER"));
    let o = r.original.unwrap();
    assert_eq!(
        o.id.as_deref(),
        Some("13a5da20-05c6-11e8-8f1a-0800200c9a66")
    );
    assert_eq!(o.issue_date.as_deref(), Some("2018-01-30T15:34:47"));
    assert_eq!(
        o.msg_type.and_then(|c| c.v).as_deref(),
        Some("INNLEGGELSESRAPPORT")
    );
    assert_eq!(r.id.as_deref(), Some(NEW.msg_id));
    assert_eq!(r.gen_date.as_deref(), Some(NEW.gen_date));
    // No patient data in the receipt.
    let p = m.head.as_ref().unwrap().patient.as_ref().unwrap();
    assert!(!a.xml.contains(p.idents[0].id.expose().as_deref().unwrap()));
    assert!(!a.xml.contains(p.family_name.expose().as_deref().unwrap()));
}

#[test]
fn gp_receiver_becomes_hcperson() {
    // Find an example addressed to a person (HealthcareProfessional at level 2).
    let found = examples().into_iter().find_map(|(n, b)| {
        let m = model(&b);
        let has = m
            .receiver()
            .and_then(|r| r.organisation.as_ref())
            .is_some_and(|o| o.professional.is_some());
        has.then_some((n, m))
    });
    let (name, m) = found.expect("an example addressed to a GP");
    let a = build(&m, &[], &NEW, &AppRecOptions::default()).unwrap();
    let r = read(a.xml.as_bytes(), &Default::default()).unwrap();
    let s = r.sender.unwrap();
    assert!(s.person_id.is_some(), "{name}");
    assert!(s.person_name.is_some(), "{name}");
}

#[test]
fn rejected_receipt_round_trips_its_errors() {
    let m = Message::default();
    let fs = [err("SCH001", "T02", "/MsgHead/MsgInfo/GenDate")];
    let a = build(
        &m,
        &fs,
        &NEW,
        &AppRecOptions {
            version: AppRecVersion::V1_0,
            ..Default::default()
        },
    )
    .unwrap();
    let r = read(a.xml.as_bytes(), &Default::default()).unwrap();
    assert_eq!(r.version, "1.0");
    assert_eq!(r.status, Some(AppRecStatus::Rejected));
    assert_eq!(r.error_codes().collect::<Vec<_>>(), ["T02"]);
    let ot = r.errors[0].ot.as_deref().unwrap();
    assert!(
        ot.contains("Feil & <rart> \"innhold\" i 'meldingen'"),
        "{ot}"
    );
    assert!(ot.contains("[/MsgHead/MsgInfo/GenDate]"), "{ot}");
    assert_eq!(r.errors[0].s.as_deref(), Some(OID_8221));
    assert_eq!(r.original.unwrap().id, None);
}

#[test]
fn reads_the_official_apprec_example_and_refuses_others() {
    let b = std::fs::read(standards().join("examples/apprec/apprec-eksempel.xml")).unwrap();
    let r = read(&b, &Default::default()).unwrap();
    assert_eq!(r.status, Some(AppRecStatus::OkWithErrors));
    assert!(matches!(
        read(b"<x/>", &Default::default()),
        Err(AppRecError::NotAnAppRec(_))
    ));
    assert!(matches!(
        read(b"<x", &Default::default()),
        Err(AppRecError::Xml(_))
    ));
}
