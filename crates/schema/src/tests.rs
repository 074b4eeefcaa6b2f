//! Tests against the official examples and hand-made variants.

use crate::SchemaSet;
use overgang_xml::{parse, Limits};
use std::path::Path;
use std::sync::OnceLock;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/standards/examples/plo-1.6"
);
const APPREC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/standards/examples/apprec/apprec-eksempel.xml"
);

pub(crate) fn set() -> &'static SchemaSet {
    static SET: OnceLock<SchemaSet> = OnceLock::new();
    SET.get_or_init(|| SchemaSet::builtin().expect("profiles compile"))
}

pub(crate) fn check(xml: &str) -> Vec<overgang_model::Finding> {
    let doc = parse(xml.as_bytes(), &Limits::default()).expect("well-formed");
    set().validate(&doc)
}

fn example_files() -> Vec<std::path::PathBuf> {
    assert!(
        Path::new(EXAMPLES).is_dir(),
        "official examples missing at {EXAMPLES}; the test needs ../shared/standards"
    );
    let mut v: Vec<_> = std::fs::read_dir(EXAMPLES)
        .expect("read examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    v.sort();
    v
}

#[test]
fn all_official_examples_validate() {
    let files = example_files();
    assert_eq!(files.len(), 22, "expected the 22 official PLO 1.6 examples");
    for f in files {
        let bytes = std::fs::read(&f).expect("read example");
        let doc = parse(&bytes, &Limits::default()).expect("well-formed example");
        let findings = set().validate(&doc);
        assert!(findings.is_empty(), "{}: {:#?}", f.display(), findings);
    }
}

#[test]
fn apprec_example_validates() {
    let bytes = std::fs::read(APPREC).expect("apprec example present (../shared/standards)");
    let doc = parse(&bytes, &Limits::default()).expect("well-formed");
    let findings = set().validate(&doc);
    assert!(findings.is_empty(), "{findings:#?}");
}

fn example(name: &str) -> String {
    let p = format!("{EXAMPLES}/{name}");
    let bytes =
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e} (needs ../shared/standards)"));
    String::from_utf8(bytes).expect("utf-8 example")
}

/// The example with the `nth` (0-based) occurrence of `from` replaced by `to`.
fn edited(name: &str, from: &str, to: &str, nth: usize) -> String {
    let src = example(name);
    let (i, _) = src
        .match_indices(from)
        .nth(nth)
        .unwrap_or_else(|| panic!("{from:?} not found in {name}"));
    format!("{}{}{}", &src[..i], to, &src[i + from.len()..])
}

const INN: &str = "Innleggelsesrapport_v1-6_Ny.xml";

fn codes(f: &[overgang_model::Finding]) -> Vec<&str> {
    f.iter().map(|x| x.code.as_str()).collect()
}

#[test]
fn sch001_unknown_root() {
    let f = check("<Foo xmlns=\"urn:x\"/>");
    assert_eq!(codes(&f), ["SCH001"]);
    assert_eq!(f[0].path, "/Foo");
    assert_eq!(f[0].apprec_error.as_deref(), Some("T02"));
}

#[test]
fn sch002_unexpected_element() {
    let f = check(&edited(INN, "<MsgId>", "<Foo/><MsgId>", 0));
    assert_eq!(codes(&f), ["SCH002"]);
    assert_eq!(f[0].path, "/MsgHead/MsgInfo/Foo");
    // A child inside an attributes-only element.
    let f = check(&edited(
        INN,
        "<Type V=\"INNLEGGELSESRAPPORT\" DN=\"Innleggelsesrapport\"/>",
        "<Type V=\"X\"><Foo/></Type>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH002"]);
}

#[test]
fn sch003_missing_element_names_it() {
    let src = example(INN);
    let start = src.find("<MsgId>").expect("MsgId");
    let end = src.find("</MsgId>").expect("/MsgId") + "</MsgId>".len();
    let xml = format!("{}{}", &src[..start], &src[end..]);
    let f = check(&xml);
    assert_eq!(codes(&f), ["SCH003"]);
    assert_eq!(f[0].path, "/MsgHead/MsgInfo/MsgId");
    assert_eq!(f[0].text_nb, "Elementet «MsgId» mangler i «MsgInfo»");
    assert_eq!(f[0].text_en, "Element «MsgId» is missing in «MsgInfo»");
}

#[test]
fn sch004_text_where_not_allowed() {
    let f = check(&edited(INN, "<MsgId>", "tekst<MsgId>", 0));
    assert_eq!(codes(&f), ["SCH004"]);
    // libxml2 refuses even whitespace inside an attributes-only type (CS).
    let f = check(&edited(
        INN,
        "<Type V=\"INNLEGGELSESRAPPORT\" DN=\"Innleggelsesrapport\"/>",
        "<Type V=\"INNLEGGELSESRAPPORT\"> </Type>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH004"]);
    // CDATA: an empty section in an attributes-only type, and any section
    // in element-only content, are refused (as libxml2 does).
    let f = check(&edited(
        INN,
        "<Type V=\"INNLEGGELSESRAPPORT\" DN=\"Innleggelsesrapport\"/>",
        "<Type V=\"INNLEGGELSESRAPPORT\"><![CDATA[]]></Type>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH004"]);
    let f = check(&edited(INN, "<MsgId>", "<![CDATA[ ]]><MsgId>", 0));
    assert_eq!(codes(&f), ["SCH004"]);
    let f = check(&edited(
        INN,
        "<BorAlene>true</BorAlene>",
        "<BorAlene><![CDATA[true]]></BorAlene>",
        0,
    ));
    assert!(f.is_empty(), "{f:?}");
    // ...but a comment is fine.
    let f = check(&edited(
        INN,
        "<Type V=\"INNLEGGELSESRAPPORT\" DN=\"Innleggelsesrapport\"/>",
        "<Type V=\"INNLEGGELSESRAPPORT\"><!-- c --></Type>",
        0,
    ));
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn sch006_bad_typed_value_with_schema_path() {
    let f = check(&edited(
        INN,
        "<Vurdering>2</Vurdering>",
        "<Vurdering>abc</Vurdering>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH006"]);
    assert_eq!(
        f[0].path,
        "/MsgHead/Document[1]/RefDoc/Content/Innleggelsesrapport/InfoKartleggingFunksjonsniva/KartlagtFunksjon[3]/Vurdering"
    );
    assert_eq!(f[0].text_nb, "«Vurdering» må være et heltall (fikk «abc»)");
    assert_eq!(f[0].text_en, "«Vurdering» must be an integer (got «abc»)");
    assert_eq!(f[0].line, 269);
    // Empty dates and booleans are not valid.
    let f = check(&edited(
        INN,
        "<DateOfBirth>1969-11-13</DateOfBirth>",
        "<DateOfBirth/>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH006"]);
    let f = check(&edited(
        INN,
        "<BorAlene>true</BorAlene>",
        "<BorAlene>ja</BorAlene>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH006"]);
    // Attribute of the TS union type.
    let f = check(&edited(
        INN,
        "<IssueDate V=\"2018-01-30T14:30:47\"/>",
        "<IssueDate V=\"2018-02-30\"/>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH006"]);
    assert!(f[0].path.ends_with("/RefDoc/IssueDate/@V"), "{}", f[0].path);
}

#[test]
fn free_text_is_never_quoted() {
    // GivenName is a string: a wrong place for it gets no value quoted, and a
    // string-typed fixed value mismatch does not echo the sender's text.
    let f = check(&edited(
        INN,
        "<MIGversion>v1.2 2006-05-24</MIGversion>",
        "<MIGversion>Kari Nordmann</MIGversion>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH009"]);
    assert!(!f[0].text_nb.contains("Kari") && !f[0].text_en.contains("Kari"));
}

#[test]
fn sch007_enumeration() {
    let f = check(&edited(
        "Medisinske_opplysninger_v1-6_Ny.xml",
        "m1:basiskomponenttype=\"EPJ sak\"",
        "m1:basiskomponenttype=\"Sak\"",
        0,
    ));
    assert_eq!(codes(&f), ["SCH007"]);
}

#[test]
fn sch008_pattern() {
    let f = check(&edited(
        INN,
        "S=\"2.16.578.1.12.4.1.1.8116\"",
        "S=\"2.16.\"",
        0,
    ));
    assert_eq!(codes(&f), ["SCH008"]);
    assert!(f[0].text_en.contains("«2.16.»"));
}

/// The walk remembers valid values (the memo in `Run::check_value`'s
/// caller): a bad value is reported wherever it stands, also when the same
/// text was valid for another type or stands twice, and a repeated valid
/// value stays valid.
#[test]
fn repeated_values_are_each_checked() {
    let bad = edited(INN, "S=\"2.16.578.1.12.4.1.1.9051\"", "S=\"2.16.\"", 0);
    let i = bad
        .match_indices("S=\"2.16.578.1.12.4.1.1.9051\"")
        .next()
        .map(|(i, _)| i)
        .expect("a second OID");
    let twice = format!("{}S=\"2.16.\"{}", &bad[..i], &bad[i + 28..]);
    let f = check(&twice);
    assert_eq!(codes(&f), ["SCH008", "SCH008"]);
    assert_ne!(f[0].path, f[1].path);
    assert!(check(&example(INN)).is_empty());
}

#[test]
fn sch009_fixed_value() {
    let f = check(&edited(
        INN,
        "<MIGversion>v1.2 2006-05-24</MIGversion>",
        "<MIGversion>v1.2</MIGversion>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH009"]);
    // An empty element takes the fixed value.
    let f = check(&edited(
        INN,
        "<MIGversion>v1.2 2006-05-24</MIGversion>",
        "<MIGversion/>",
        0,
    ));
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn sch010_unknown_attribute() {
    let f = check(&edited(INN, "<Sex V=\"2\"", "<Sex foo=\"1\" V=\"2\"", 0));
    assert_eq!(codes(&f), ["SCH010"]);
    let f = check(&edited(
        INN,
        "<Sex V=\"2\"",
        "<Sex xml:lang=\"no\" V=\"2\"",
        0,
    ));
    assert_eq!(codes(&f), ["SCH010"]);
}

#[test]
fn sch011_missing_required_attribute() {
    let f = check(&edited(
        "Medisinske_opplysninger_v1-6_Ny.xml",
        "komponentID=\"0d9a8b50-fb6b-11e1-a21f-0800200c9a66\"",
        "",
        0,
    ));
    assert_eq!(codes(&f), ["SCH011"]);
}

#[test]
fn sch013_unknown_document_in_content() {
    let f = check(&edited(
        INN,
        "<Content>",
        "<Content><Foo xmlns=\"urn:unknown\"/>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH013"]);
}

#[test]
fn sch014_xsi_nil_and_type() {
    let f = check(&edited(
        INN,
        "<BorAlene>true</BorAlene>",
        "<BorAlene xsi:nil=\"true\"/>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH014"]);
    let f = check(&edited(INN, "<BorAlene>true</BorAlene>", "<BorAlene xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xsi:type=\"xs:boolean\">true</BorAlene>", 0));
    assert!(f.is_empty(), "{f:?}");
    let f = check(&edited(INN, "<BorAlene>true</BorAlene>", "<BorAlene xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xsi:type=\"xs:string\">true</BorAlene>", 0));
    assert_eq!(codes(&f), ["SCH014"]);
    let f = check(&edited(
        INN,
        "<BorAlene>true</BorAlene>",
        "<BorAlene xsi:foo=\"1\">true</BorAlene>",
        0,
    ));
    assert_eq!(codes(&f), ["SCH010"]);
}

#[test]
fn one_error_per_content_problem() {
    // Swapping two required elements gives one finding, not a cascade.
    let f = check(&edited(INN, "<GenDate>2018-01-30T15:34:47</GenDate>\n\t\t<MsgId>13a5da20-05c6-11e8-8f1a-0800200c9a66</MsgId>", "<MsgId>13a5da20-05c6-11e8-8f1a-0800200c9a66</MsgId>\n\t\t<GenDate>2018-01-30T15:34:47</GenDate>", 0));
    assert_eq!(f.len(), 1, "{f:#?}");
}

#[test]
fn repeatable_paths_follow_the_schema() {
    let xml = example(INN);
    let doc = parse(xml.as_bytes(), &Limits::default()).expect("xml");
    let s = set();
    let doc_el = doc
        .root()
        .children()
        .find(|c| c.name() == "Document")
        .expect("Document");
    assert!(s.is_repeatable(doc_el));
    let msginfo = doc.root().children().next().expect("MsgInfo");
    assert!(!s.is_repeatable(msginfo));
    assert!(!s.is_repeatable(doc.root()));
}
