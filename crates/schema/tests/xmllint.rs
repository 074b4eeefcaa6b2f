//! Hand-made variants of the official examples, judged by both libxml2
//! (`xmllint --schema all.xsd`, the official XSDs) and `overgang-schema`;
//! the verdicts must agree. Fails (never skips) when xmllint or the
//! standards folder is missing.

use overgang_schema::SchemaSet;
use overgang_xml::{parse, Limits};
use std::path::{Path, PathBuf};
use std::process::Command;

const STANDARDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/standards");

fn example(name: &str) -> String {
    let p = format!("{STANDARDS}/examples/plo-1.6/{name}");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e} (needs ../shared/standards)"))
}

fn replace_first(src: &str, from: &str, to: &str) -> String {
    let i = src
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} not in example"));
    format!("{}{}{}", &src[..i], to, &src[i + from.len()..])
}

/// Deletes the first element that starts with `open` up to and including `close`.
fn delete(src: &str, open: &str, close: &str) -> String {
    let i = src
        .find(open)
        .unwrap_or_else(|| panic!("{open:?} not in example"));
    let j = src[i..].find(close).expect("close") + i + close.len();
    format!("{}{}", &src[..i], &src[j..])
}

const INN: &str = "Innleggelsesrapport_v1-6_Ny.xml";
const MED: &str = "Medisinske_opplysninger_v1-6_Ny.xml";
const LOG: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml";

fn cases() -> Vec<(&'static str, String)> {
    let inn = example(INN);
    let med = example(MED);
    let log = example(LOG);
    let r = |from: &str, to: &str| replace_first(&inn, from, to);
    let type_cs = "<Type V=\"INNLEGGELSESRAPPORT\" DN=\"Innleggelsesrapport\"/>";
    vec![
        ("original", inn.clone()),
        ("missing MsgId", delete(&inn, "<MsgId>", "</MsgId>")),
        ("missing MsgInfo", delete(&inn, "<MsgInfo>", "</MsgInfo>")),
        ("missing Document", delete(&inn, "<Document>", "</Document>")),
        ("duplicate MsgId", r("<MsgId>", "<MsgId>x</MsgId><MsgId>")),
        ("swapped GenDate/MIGversion", r("<MIGversion>v1.2 2006-05-24</MIGversion>\n\t\t<GenDate>2018-01-30T15:34:47</GenDate>", "<GenDate>2018-01-30T15:34:47</GenDate>\n\t\t<MIGversion>v1.2 2006-05-24</MIGversion>")),
        ("unknown element", r("<MsgId>", "<Foo/><MsgId>")),
        ("unknown element last", r("</MsgInfo>", "<Foo/></MsgInfo>")),
        ("text in element-only", r("<MsgId>", "x<MsgId>")),
        ("whitespace in CS", r(type_cs, "<Type V=\"X\"> </Type>")),
        ("comment in CS", r(type_cs, "<Type V=\"X\"><!--c--></Type>")),
        ("empty CDATA in CS", r(type_cs, "<Type V=\"X\"><![CDATA[]]></Type>")),
        ("CDATA in element-only", r("<MsgId>", "<![CDATA[ ]]><MsgId>")),
        ("unknown attribute", r(type_cs, "<Type V=\"X\" foo=\"1\"/>")),
        ("xml:lang not declared", r(type_cs, "<Type V=\"X\" xml:lang=\"no\"/>")),
        ("MIGversion wrong", r("<MIGversion>v1.2 2006-05-24</MIGversion>", "<MIGversion>v1.2</MIGversion>")),
        ("MIGversion empty takes fixed", r("<MIGversion>v1.2 2006-05-24</MIGversion>", "<MIGversion/>")),
        ("MIGversion trailing space", r("<MIGversion>v1.2 2006-05-24</MIGversion>", "<MIGversion>v1.2 2006-05-24 </MIGversion>")),
        ("GenDate date only", r("<GenDate>2018-01-30T15:34:47</GenDate>", "<GenDate>2018-01-30</GenDate>")),
        ("GenDate padded", r("<GenDate>2018-01-30T15:34:47</GenDate>", "<GenDate> 2018-01-30T15:34:47 </GenDate>")),
        ("GenDate empty", r("<GenDate>2018-01-30T15:34:47</GenDate>", "<GenDate/>")),
        ("DateOfBirth Feb 30", r("<DateOfBirth>1969-11-13</DateOfBirth>", "<DateOfBirth>1969-02-30</DateOfBirth>")),
        ("TS padded (union collapses)", r("<IssueDate V=\"2018-01-30T14:30:47\"/>", "<IssueDate V=\" 2018-01-30T14:30:47 \"/>")),
        ("TS gYear", r("<IssueDate V=\"2018-01-30T14:30:47\"/>", "<IssueDate V=\"2018\"/>")),
        ("TS month 13", r("<IssueDate V=\"2018-01-30T14:30:47\"/>", "<IssueDate V=\"2018-13\"/>")),
        ("TS empty", r("<IssueDate V=\"2018-01-30T14:30:47\"/>", "<IssueDate V=\"\"/>")),
        ("boolean 1", r("<BorAlene>true</BorAlene>", "<BorAlene>1</BorAlene>")),
        ("boolean padded", r("<BorAlene>true</BorAlene>", "<BorAlene> true </BorAlene>")),
        ("boolean yes", r("<BorAlene>true</BorAlene>", "<BorAlene>yes</BorAlene>")),
        ("integer abc", r("<Vurdering>2</Vurdering>", "<Vurdering>abc</Vurdering>")),
        ("integer padded", r("<Vurdering>2</Vurdering>", "<Vurdering> 2 </Vurdering>")),
        ("integer decimal", r("<Vurdering>2</Vurdering>", "<Vurdering>2.0</Vurdering>")),
        ("oid pattern", r("S=\"2.16.578.1.12.4.1.1.8116\"", "S=\"2.16.578.\"")),
        ("oid padded", r("S=\"2.16.578.1.12.4.1.1.8116\"", "S=\" 2.16.578.1.12.4.1.1.8116 \"")),
        ("URL bad escape", r("<TeleAddress V=\"tel:90094004\"/>", "<TeleAddress V=\"tel:%zz\"/>")),
        ("URL with space", r("<TeleAddress V=\"tel:90094004\"/>", "<TeleAddress V=\"tel:900 94004\"/>")),
        ("unknown document in Content", r("<Content>", "<Content><Foo xmlns=\"urn:x\"/>")),
        ("xsi:nil", r("<BorAlene>true</BorAlene>", "<BorAlene xsi:nil=\"true\"/>")),
        ("xsi:foo", r("<BorAlene>true</BorAlene>", "<BorAlene xsi:foo=\"1\">true</BorAlene>")),
        ("child in leaf", r("<BorAlene>true</BorAlene>", "<BorAlene><Foo/></BorAlene>")),
        ("wrong namespace", r("<MsgId>", "<MsgId xmlns=\"urn:x\">x</MsgId><MsgId>")),
        ("enum basiskomponenttype", replace_first(&med, "m1:basiskomponenttype=\"EPJ sak\"", "m1:basiskomponenttype=\"Sak\"")),
        ("fixed on attribute use ignored", replace_first(&med, "m1:komponenttype=\"2.16.578.1.12.4.1.6.14.50001.0\"", "m1:komponenttype=\"x\"")),
        ("required attribute missing", replace_first(&med, "komponentID=\"0d9a8b50-fb6b-11e1-a21f-0800200c9a66\"", "")),
        ("unqualified attribute ref", replace_first(&med, "m1:basiskomponenttype=\"EPJ sak\"", "basiskomponenttype=\"EPJ sak\"")),
        ("choice branch missing", delete(&log, "<p1:MeldingInnlagtPasient>", "</p1:MeldingInnlagtPasient>")),
    ]
}

#[test]
fn verdicts_agree_with_xmllint() {
    let xsd = PathBuf::from(STANDARDS).join("xsd/all.xsd");
    assert!(xsd.is_file(), "official XSDs missing at {}", xsd.display());
    let set = SchemaSet::builtin().expect("profiles compile");
    let dir = std::env::temp_dir().join(format!("overgang-schema-xmllint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = cases();
    let mut files = Vec::new();
    for (i, (_, xml)) in cases.iter().enumerate() {
        let p = dir.join(format!("c{i:03}.xml"));
        std::fs::write(&p, xml).expect("write case");
        files.push(p);
    }
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&xsd)
        .args(&files)
        .output()
        .expect("xmllint must be installed (Debian package libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    let mut disagreements = Vec::new();
    for (i, (name, xml)) in cases.iter().enumerate() {
        let f = files[i].display().to_string();
        let valid_libxml2 = stderr.contains(&format!("{f} validates"));
        assert!(
            valid_libxml2 || stderr.contains(&format!("{f} fails to validate")),
            "no xmllint verdict for {name}"
        );
        let doc = parse(xml.as_bytes(), &Limits::default()).expect("well-formed case");
        let findings = set.validate(&doc);
        if findings.is_empty() != valid_libxml2 {
            disagreements.push(format!(
                "{name}: xmllint valid={valid_libxml2}, ours={findings:?}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(Path::new(STANDARDS).is_dir());
}
