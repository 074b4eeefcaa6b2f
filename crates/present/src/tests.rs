//! Rendering tests over the official examples (read at run time from
//! `../shared/standards`, never copied) and over broken input.

use super::*;
use overgang_model::{Category, Severity};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The 22 official PLO v1.6 examples; fails (never skips) when the
/// standards folder is missing.
fn official_examples() -> Vec<(String, Vec<u8>)> {
    let dir = repo().join("../shared/standards/examples/plo-1.6");
    assert!(
        dir.is_dir(),
        "the public standards are missing: expected {} (see ../shared/standards/README.md)",
        dir.display()
    );
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, bytes)
        })
        .collect();
    v.sort();
    assert_eq!(
        v.len(),
        22,
        "expected the 22 official PLO v1.6 examples in {}",
        dir.display()
    );
    v
}

fn example(name: &str) -> Vec<u8> {
    official_examples()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no official example {name}"))
        .1
}

fn extension_example() -> Vec<u8> {
    let p = repo().join("schemas/examples/innleggelsesrapport-med-funksjonsprofil.xml");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn render_nb(bytes: &[u8], findings: &[Finding]) -> Rendered {
    render(
        bytes,
        findings,
        &CodeLists::builtin(),
        &Labels::builtin(),
        Lang::Nb,
    )
    .expect("renders")
}

fn finding(code: &str, severity: Severity, path: &str) -> Finding {
    Finding::new(
        code,
        Category::Completeness,
        severity,
        format!("{code} på norsk"),
        format!("{code} in English"),
    )
    .at(path, 1, 1)
}

/// Every `id="…"` in the html.
fn html_ids(html: &str) -> Vec<String> {
    html.split(" id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect()
}

fn escaped(s: &str) -> String {
    html! { (s) }.into_string()
}

/// The attributes of the element with this id: `class="…" id="…"` as maud
/// writes them (class first).
fn class_of(html: &str, id: &str) -> Option<String> {
    let needle = format!("\" id=\"{id}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind("class=\"")? + 7;
    Some(html[start..at].to_owned())
}

const IR: &str = "/MsgHead/Document/RefDoc/Content/Innleggelsesrapport";
const IR_ID: &str = "el-MsgHead-Document-RefDoc-Content-Innleggelsesrapport";

#[test]
fn every_official_example_renders_in_both_languages() {
    let codes = CodeLists::builtin();
    let labels = Labels::builtin();
    for (name, bytes) in official_examples() {
        for lang in [Lang::Nb, Lang::En] {
            let r = render(&bytes, &[], &codes, &labels, lang)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let html = r.document.into_string();
            assert!(!r.title.trim().is_empty(), "{name}: empty title");
            assert!(html.len() > 500, "{name}: almost nothing rendered");
            assert!(
                html.contains(&escaped(&r.title)),
                "{name}: the title {} is not in the document",
                r.title
            );
            let ids = html_ids(&html);
            let unique: HashSet<&String> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "{name}: duplicate html ids");
            assert!(
                r.patient.as_ref().is_some_and(|p| p.name.is_some()),
                "{name}: no patient"
            );
        }
    }
}

#[test]
fn titles_name_the_document_or_the_logistics_notice() {
    let t = |f: &str| render_nb(&example(f), &[]).title;
    assert_eq!(t("Innleggelsesrapport_v1-6_Ny.xml"), "Innleggelsesrapport");
    assert_eq!(t("Utskrivningsrapport_v1-6_Ny.xml"), "Utskrivningsrapport");
    assert_eq!(
        t("Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml"),
        "Melding om utskrivningsklar pasient"
    );
    let en = render(
        &example("Innleggelsesrapport_v1-6_Ny.xml"),
        &[],
        &CodeLists::builtin(),
        &Labels::builtin(),
        Lang::En,
    )
    .expect("renders");
    assert_eq!(en.title, "Admission report");
    assert!(en
        .document
        .into_string()
        .contains("Responsible for the report"));
}

#[test]
fn a_finding_marks_the_element_it_names() {
    let bytes = example("Innleggelsesrapport_v1-6_Endring.xml");
    let status = format!("{IR}/InformasjonOmForsendelsen/Forsendelsesstatus");
    // Schema-style indexes on repeatable elements resolve the same way.
    let relation = format!("{IR}/ParorendeForesatt[2]/Slektskap[1]/@V");
    let findings = [
        finding("TEST-ONE", Severity::Error, &status),
        finding("TEST-TWO", Severity::Warning, &relation),
    ];
    let r = render_nb(&bytes, &findings);
    let html = r.document.into_string();
    let status_id = format!("{IR_ID}-InformasjonOmForsendelsen-Forsendelsesstatus");
    let relation_id = format!("{IR_ID}-ParorendeForesatt_2-Slektskap");
    assert_eq!(
        r.anchors,
        vec![(0, status_id.clone()), (1, relation_id.clone())]
    );
    let cls = class_of(&html, &status_id).expect("status element shown");
    assert!(
        cls.contains("has-finding") && cls.contains("sev-error"),
        "{cls}"
    );
    let cls = class_of(&html, &relation_id).expect("relation shown");
    assert!(cls.contains("has-finding sev-warning"), "{cls}");
    assert!(html.contains("TEST-ONE") && html.contains("TEST-ONE på norsk"));
    assert!(!html.contains("TEST-ONE in English"));
    // Elements without findings carry no such class.
    let unit = format!("{IR_ID}-TilknyttetEnhet");
    assert!(!class_of(&html, &unit)
        .expect("unit shown")
        .contains("has-finding"));
}

#[test]
fn a_missing_element_anchors_to_its_parent() {
    let bytes = example("Innleggelsesrapport_v1-6_Ny.xml");
    let missing = format!("{IR}/InformasjonOmForsendelsen/SvarPaaForesporsel");
    let deeper = format!("{IR}/Finnes/Ikke[3]/Heller");
    let r = render_nb(
        &bytes,
        &[
            finding("MISSING", Severity::Warning, &missing),
            finding("GONE", Severity::Info, &deeper),
        ],
    );
    let parent = format!("{IR_ID}-InformasjonOmForsendelsen");
    assert_eq!(r.anchors, vec![(0, parent.clone()), (1, IR_ID.to_owned())]);
    let html = r.document.into_string();
    assert!(class_of(&html, &parent)
        .expect("parent shown")
        .contains("has-finding sev-warning"));
    assert!(class_of(&html, IR_ID)
        .expect("document shown")
        .contains("has-finding sev-info"));
}

#[test]
fn findings_in_the_envelope_open_it_and_odd_paths_do_no_harm() {
    let bytes = example("Innleggelsesrapport_v1-6_Ny.xml");
    let findings = [
        finding(
            "E-PAT",
            Severity::Error,
            "/MsgHead/MsgInfo/Patient/Ident/Id",
        ),
        finding("NOPATH", Severity::Error, ""),
        finding("ROOT", Severity::Error, "/MsgHead"),
        finding("WRONG", Severity::Error, "/Other/Root"),
        finding("ODD", Severity::Error, "/MsgHead/[]//@/«»"),
        finding("SIG", Severity::Error, "/MsgHead/Signature"),
    ];
    let r = render_nb(&bytes, &findings);
    let anchored: Vec<usize> = r.anchors.iter().map(|(i, _)| *i).collect();
    assert_eq!(anchored, vec![0, 2, 4, 5]);
    // Id is shown inside its Ident, on one line.
    assert_eq!(r.anchors[0].1, "el-MsgHead-MsgInfo-Patient-Ident");
    assert_eq!(r.anchors[1].1, "el-MsgHead");
    let html = r.document.into_string();
    assert!(
        html.contains("<details class=\"envelope\" id=\"el-MsgHead-MsgInfo\" open>"),
        "envelope not open"
    );
    let clean = render_nb(&bytes, &[]).document.into_string();
    assert!(clean.contains("<details class=\"envelope\" id=\"el-MsgHead-MsgInfo\">"));
}

#[test]
fn anchors_point_at_ids_that_are_in_the_document() {
    for (name, bytes) in official_examples() {
        let doc = overgang_xml::parse(&bytes, &Limits::default()).expect("parses");
        // One finding at every element, by its own path.
        let findings: Vec<Finding> = doc
            .elements()
            .map(|n| finding("ALL", Severity::Info, &n.path()))
            .collect();
        let r = render_nb(&bytes, &findings);
        assert_eq!(r.anchors.len(), findings.len(), "{name}");
        let html = r.document.into_string();
        let ids: HashSet<String> = html_ids(&html).into_iter().collect();
        for (i, id) in &r.anchors {
            assert!(
                ids.contains(id),
                "{name}: anchor {id} of finding {i} is not in the document"
            );
        }
        // An element shown with its own id is anchored to exactly that id.
        for (i, n) in doc.elements().enumerate() {
            let own = ids::id_of(n);
            if ids.contains(&own) {
                assert_eq!(r.anchors[i].1, own, "{name}");
            }
        }
    }
}

#[test]
fn code_lists_give_the_display_names() {
    // Without DN the display name must come from our list 9033 / 9114.
    let bytes = String::from_utf8(example("Innleggelsesrapport_v1-6_Endring.xml")).expect("utf-8");
    let bytes = bytes
        .replace(r#"<Slektskap V="SO" DN="Sønn"/>"#, r#"<Slektskap V="SO"/>"#)
        .replace(
            r#"<HjelpemiddelHorsel V="1" DN="Høreapparat"/>"#,
            r#"<HjelpemiddelHorsel V="1"/>"#,
        )
        .replace(
            r#"V="I50" DN="Hjertesvikt""#,
            r#"V="I50" DN="Hjertesvikt (fra DN)""#,
        );
    assert!(!bytes.contains("DN=\"Sønn\""));
    let html = render_nb(bytes.as_bytes(), &[]).document.into_string();
    assert!(
        html.contains("Sønn <span class=\"code\">(SO)</span>"),
        "relation display name"
    );
    assert!(
        html.contains("Høreapparat <span class=\"code\">(1)</span>"),
        "hearing aid from list 9114"
    );
    // A list we do not carry (ICD-10, 7110) falls back to DN.
    assert!(html.contains("Hjertesvikt (fra DN) <span class=\"code\">(I50)</span>"));
    // Dates in Norwegian form.
    assert!(html.contains(">30.01.2018<"), "approved date");
}

#[test]
fn medications_are_a_table() {
    let html = render_nb(&example("Utskrivningsrapport_v1-6_Ny.xml"), &[])
        .document
        .into_string();
    assert!(html.contains("<table class=\"data medications\">"));
    let table = html
        .split("<table class=\"data medications\">")
        .nth(1)
        .expect("table");
    let table = table.split("</table>").next().expect("end");
    for s in [
        "Burinex",
        "1 mg",
        "Tablett",
        "2 tabl kl 08 og 13",
        "Fast",
        "01.02.2018",
        "11.02.2018",
        "Seponering",
    ] {
        assert!(table.contains(s), "{s} missing from the medication table");
    }
    // The medication given at discharge is a second table.
    assert_eq!(
        html.matches("<table class=\"data medications\">").count(),
        2
    );
}

#[test]
fn relatives_events_and_journal_texts() {
    let html = render_nb(&example("Innleggelsesrapport_v1-6_Endring.xml"), &[])
        .document
        .into_string();
    let rel = html
        .split("<table class=\"data relatives\">")
        .nth(1)
        .expect("relatives table");
    let rel = rel.split("</table>").next().expect("end");
    for s in [
        "Ole",
        "Hansen",
        "Sønn",
        "51519000",
        "Hovedtelefon",
        "Bugata 1, 4011 Stavanger",
        "utlandet",
    ] {
        assert!(rel.contains(s), "{s} missing from the relatives table");
    }
    // The note with CR LF line breaks keeps them.
    assert!(
        html.contains("hukommelsen</p><p class=\"free-text\">- Plaget"),
        "blank lines in journal text separate paragraphs"
    );
    assert!(
        html.contains("toalettvesken.<br>Begge"),
        "line breaks in journal text"
    );
    assert!(html.contains("Sykepleiesammenfatning <span class=\"code\">(8)</span>"));

    let html = render_nb(
        &example("Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml"),
        &[],
    )
    .document
    .into_string();
    let ev = html
        .split("<table class=\"data events\">")
        .nth(1)
        .expect("events table");
    let ev = ev.split("</table>").next().expect("end");
    for s in [
        "Pasient innlagt",
        "29.01.2018 10:00",
        "Pasient utskrivningsklar",
        "31.01.2018",
        "anslått",
    ] {
        assert!(ev.contains(s), "{s} missing from the events table");
    }
    // Events each in their own OpplysningOpphold make one table.
    let html = render_nb(&example("Utskrivningsrapport_v1-6_Ny.xml"), &[])
        .document
        .into_string();
    assert_eq!(html.matches("<table class=\"data events\">").count(), 1);
    assert!(html.contains("Utskrevet dato"));
}

#[test]
fn the_patient_header() {
    let r = render_nb(&example("Innleggelsesrapport_v1-6_Endring.xml"), &[]);
    let p = r.patient.expect("patient");
    assert_eq!(p.name.as_deref(), Some("Line Danser"));
    assert_eq!(p.national_id.as_deref(), Some("13116900216"));
    assert_eq!(p.id_kind.as_deref(), Some("FNR"));
    assert_eq!(p.birth_date.as_deref(), Some("13.11.1969"));
}

#[test]
fn input_is_escaped() {
    let bytes = String::from_utf8(example("Innleggelsesrapport_v1-6_Endring.xml")).expect("utf-8");
    let hostile = bytes
        .replace(
            "<fk1:GivenName>Ole</fk1:GivenName>",
            "<fk1:GivenName>&lt;script&gt;alert(1)&lt;/script&gt;</fk1:GivenName>",
        )
        .replace(
            "<FamilyName>Danser</FamilyName>",
            "<FamilyName>&lt;b onmouseover=\"x\"&gt;</FamilyName>",
        )
        .replace(r#"DN="Sønn""#, r#"DN="&quot;&gt;&lt;img src=x&gt;""#)
        .replace(r#"V="SO""#, r#"V="&quot; onclick=&quot;x""#);
    assert!(hostile.contains("&lt;script&gt;"));
    let r = render_nb(
        hostile.as_bytes(),
        &[finding("X", Severity::Error, "/MsgHead/<script>")],
    );
    let html = r.document.into_string();
    assert!(!html.contains("<script"), "unescaped script tag");
    assert!(!html.contains("<img"), "unescaped img tag");
    assert!(!html.contains("<b "), "unescaped b tag");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("\" onclick=\""));
    // Finding texts are escaped too.
    let f = Finding::new(
        "C<1>",
        Category::Completeness,
        Severity::Error,
        "<i>nb</i>",
        "<i>en</i>",
    )
    .at(IR, 1, 1);
    let html = render_nb(hostile.as_bytes(), &[f]).document.into_string();
    assert!(html.contains("&lt;i&gt;nb&lt;/i&gt;") && html.contains("C&lt;1&gt;"));
}

#[test]
fn broken_and_odd_input_never_panics() {
    let codes = CodeLists::builtin();
    let labels = Labels::builtin();
    let deep = format!("{}{}", "<a>".repeat(99), "</a>".repeat(99));
    let wide = format!("<r>{}</r>", "<Legemiddelinfo/>".repeat(2000));
    let many = format!(
        "<r>{}</r>",
        "<ParorendeForesatt><Referanseperson/></ParorendeForesatt>".repeat(300)
    );
    let inputs: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not xml".to_vec(),
        b"<a>".to_vec(),
        b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>".to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"<a/>".to_vec(),
        deep.into_bytes(),
        wide.into_bytes(),
        many.into_bytes(),
        br#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"/>"#.to_vec(),
        br#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo><Patient/></MsgInfo><Document><RefDoc><Content>text only</Content></RefDoc></Document><Document/></MsgHead>"#.to_vec(),
        br#"<p:Pasientlogistikk xmlns:p="http://www.kith.no/xmlstds/po/Pasientlogistikk/2012-04-01"><OpplysningOpphold/><TidsfestetHendelse><Anslag>true</Anslag><TidsfestetHendelse/></TidsfestetHendelse><Journaltekst><Overskriftskode/><Notat><x/></Notat><Notat/></Journaltekst><Vurdering>7</Vurdering><KartlagtFunksjon><Vurdering>999999999999999</Vurdering></KartlagtFunksjon><KartlagtFunksjon><Vurdering>-1</Vurdering></KartlagtFunksjon><TeleAddress V=""/><Styrke V="" U=""/><Diagnosekode S="" V=" " DN=""/><X V="2018-02-31T24:00"/><Y>9999-99-99</Y></p:Pasientlogistikk>"#.to_vec(),
        "<Navn>æøå &#x1F600; \u{202e}snu</Navn>".as_bytes().to_vec(),
    ];
    for (i, bytes) in inputs.iter().enumerate() {
        let findings = [
            finding("A", Severity::Error, "/a/a/a/a"),
            finding("B", Severity::Warning, "/r/Legemiddelinfo[1999]"),
            finding("C", Severity::Info, "/"),
            finding("D", Severity::Error, &"/a".repeat(500)),
        ];
        for lang in [Lang::Nb, Lang::En] {
            match render(bytes, &findings, &codes, &labels, lang) {
                Ok(r) => {
                    let html = r.document.into_string();
                    assert!(!r.title.is_empty(), "input {i}");
                    assert!(html.contains(&escaped(&r.title)), "input {i}");
                    if let Some(p) = r.profile {
                        let _ = profile_html(&p, lang).into_string();
                    }
                }
                Err(PresentError::Xml(_)) => assert!(i <= 4, "input {i} should parse"),
                Err(e) => panic!("input {i}: {e}"),
            }
        }
    }
}

#[test]
fn a_huge_document_is_cut_with_a_note() {
    let big = format!("<r>{}</r>", "<Merknad>x</Merknad>".repeat(30_000));
    let r = render_nb(
        big.as_bytes(),
        &[finding("LAST", Severity::Error, "/r/Merknad[30000]")],
    );
    let html = r.document.into_string();
    assert!(html.contains("class=\"truncated sev-warning\""));
    assert!(html_ids(&html).len() <= 20_001);
    // A finding past the cut shows at the nearest element shown.
    assert_eq!(r.anchors, vec![(0, "el-r".to_owned())]);
}

#[test]
fn profile_from_the_extension_and_the_plo_assessment() {
    let r = render_nb(&extension_example(), &[]);
    let p = r.profile.expect("profile");
    assert_eq!(p.rows.len(), 18);
    assert_eq!(
        p.rows.iter().map(|r| r.code).collect::<Vec<_>>(),
        (1..=18).collect::<Vec<u8>>()
    );
    let row = |c: u8| &p.rows[usize::from(c) - 1];
    assert_eq!(row(5).name_nb, "Bevege seg innendørs");
    assert_eq!(row(5).name_en, "Moving about indoors");
    assert_eq!(row(5).habitual.score.as_deref(), Some("2"));
    assert_eq!(row(5).habitual.date.as_deref(), Some("20.11.2023"));
    assert!(row(5)
        .habitual
        .source
        .as_deref()
        .is_some_and(|s| s.contains("Sykepleier Testdal")));
    assert!(!row(5).habitual.derived);
    assert_eq!(row(5).current.score.as_deref(), Some("4"));
    assert_eq!(row(13).habitual.on_scale, Some(9));
    // 12: habitual only; 1: nothing at all.
    assert_eq!(row(12).habitual.score.as_deref(), Some("3"));
    assert!(row(12).current.is_missing());
    assert!(row(1).habitual.is_missing() && row(1).current.is_missing());

    let html = profile_html(&p, Lang::Nb).into_string();
    assert!(html.contains("mangler"));
    assert!(html.contains("badge badge-warn"));
    assert!(html.contains("+2"), "5 went from 2 to 4");
    assert!(html.contains("trenger mye hjelp"));
    let en = profile_html(&p, Lang::En).into_string();
    assert!(en.contains("missing") && en.contains("Habitual level"));
    // The extension document is shown in the document too.
    let doc = r.document.into_string();
    assert!(doc.contains("Funksjonsprofil (habituelt og aktuelt nivå)"));
    assert!(doc.contains("Bevege seg innendørs <span class=\"code\">(5)</span>"));
}

#[test]
fn profile_from_a_plo_assessment_alone() {
    let r = render_nb(&example("Innleggelsesrapport_v1-6_Endring.xml"), &[]);
    let p = r.profile.expect("profile");
    let row1 = &p.rows[0];
    assert!(row1.habitual.is_missing());
    assert_eq!(row1.current.score.as_deref(), Some("3"));
    assert_eq!(row1.current.on_scale, Some(3));
    assert_eq!(row1.current.date.as_deref(), Some("22.01.18"));
    assert_eq!(
        row1.current.source.as_deref(),
        Some("Innleggelsesrapport (IPLOS)")
    );
    assert!(
        p.rows[17].current.is_missing(),
        "18 is not assessed in v1.6 examples"
    );
    // A message without assessments has no profile.
    assert!(render_nb(
        &example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml"),
        &[]
    )
    .profile
    .is_none());
}

#[test]
fn css_covers_the_classes_used() {
    let css = css();
    for class in [
        ".has-finding",
        ".sev-error",
        ".sev-warning",
        ".sev-info",
        ".finding-marker",
        ".doc-section",
        "dl.fields",
        "table.data",
        ".coded",
        ".badge",
        ".profile-table",
        ".missing",
        "@media print",
        ".journal-text",
        ".envelope",
        ".legend",
        ".banner",
    ] {
        assert!(css.contains(class), "{class} missing from the stylesheet");
    }
    assert!(!css.contains("url("), "no external assets");
}

#[test]
fn a_cancellation_says_so() {
    let html = render_nb(&example("Innleggelsesrapport_v1-6_Kansellering.xml"), &[])
        .document
        .into_string();
    assert!(html.contains("class=\"banner sev-warning\""));
    assert!(html.contains("status status-C"));
}

#[test]
fn cut_and_mangled_examples_never_panic() {
    let codes = CodeLists::builtin();
    let labels = Labels::builtin();
    let findings = [finding("X", Severity::Error, IR)];
    for (name, bytes) in official_examples() {
        // Cut anywhere: not XML (an error) or, rarely, still XML.
        for cut in (0..bytes.len()).step_by(173) {
            let _ = render(&bytes[..cut], &findings, &codes, &labels, Lang::Nb);
        }
        // Every value replaced by something odd, every element renamed.
        let text = String::from_utf8_lossy(&bytes)
            .replace("V=\"", "V=\"\u{202e}x")
            .replace(" DN=\"", " OT=\"")
            .replace("S=\"2.16.578.1.12.4.1.1.", "S=\"2.16.578.1.12.4.1.1.99")
            .replace(">true<", ">maybe<")
            .replace("Legemiddelinfo", "ParorendeForesatt")
            .replace("Journaltekst", "TidsfestetHendelse");
        let r = render(text.as_bytes(), &findings, &codes, &labels, Lang::En)
            .unwrap_or_else(|e| panic!("{name} mangled: {e}"));
        let html = r.document.into_string();
        assert!(html.contains(&escaped(&r.title)), "{name}");
    }
}

fn level(variable: u8, score: i64, date: &str, id: &str) -> OtherLevel {
    OtherLevel {
        variable,
        score: Some(score),
        date: Some(date.to_owned()),
        source_message_id: id.to_owned(),
    }
}

#[test]
fn derived_habitual_levels_fill_the_empty_cells_and_say_so() {
    let r = render_nb(&example("Innleggelsesrapport_v1-6_Endring.xml"), &[]);
    let p = r.profile.expect("profile").with_derived(
        &[
            level(1, 2, "2024-03-05", "m-early"),
            level(7, 1, "2024-03-05", "m-early"),
        ],
        Lang::Nb,
    );
    let row1 = &p.rows[0];
    assert!(row1.habitual.derived);
    assert_eq!(row1.habitual.score.as_deref(), Some("2"));
    assert_eq!(row1.habitual.on_scale, Some(2));
    assert_eq!(row1.habitual.date.as_deref(), Some("05.03.2024"));
    assert_eq!(row1.habitual.link.as_deref(), Some("/ui/messages/m-early"));
    assert!(!p.shows_expected);
    let html = profile_html(&p, Lang::Nb).into_string();
    assert!(html.contains("badge derived"));
    assert!(html.contains(">utledet<"));
    assert!(html.contains("href=\"/ui/messages/m-early\""));
    assert!(html.contains("05.03.2024"));
    assert!(!html.contains("Ved utskrivning"));
    // Habitual 2, current 3: one more step of help.
    assert!(html.contains("+1"));
    let en = profile_html(&p, Lang::En).into_string();
    assert!(en.contains(">derived<") && en.contains("Habitual level"));
    assert!(html.contains("utledet fra tidligere melding"));
}

#[test]
fn a_stated_habitual_level_wins_over_a_derived_one() {
    let r = render_nb(&extension_example(), &[]);
    let p = r.profile.expect("profile").with_derived(
        &[
            level(5, 5, "2020-01-01", "old"),
            level(1, 3, "2020-01-01", "old"),
        ],
        Lang::Nb,
    );
    let row = |c: u8| &p.rows[usize::from(c) - 1];
    assert_eq!(row(5).habitual.score.as_deref(), Some("2"));
    assert!(!row(5).habitual.derived && row(5).habitual.link.is_none());
    assert!(row(1).habitual.derived);
}

#[test]
fn expected_at_discharge_is_a_column_of_its_own() {
    let codes = CodeLists::builtin();
    let p = ProfileTable::blank(&codes)
        .with_derived(&[level(5, 1, "2024-01-02", "a")], Lang::En)
        .with_expected(&[level(5, 2, "2024-06-01", "d")], Lang::En);
    assert_eq!(p.rows.len(), 18);
    assert!(p.shows_expected);
    assert_eq!(p.rows[4].expected.score.as_deref(), Some("2"));
    assert!(!p.rows[4].expected.derived);
    assert!(p.rows[4].current.is_missing());
    let html = profile_html(&p, Lang::En).into_string();
    assert!(html.contains("At discharge"));
    assert!(html.contains("href=\"/ui/messages/d\""));
    assert!(html.contains("discharge report"));
    // Four level columns' worth of cells per row: name, habitual, current,
    // at discharge, change.
    assert_eq!(html.matches("<td").count(), 18 * 4);
    // Without levels the column is still there, empty.
    let empty = ProfileTable::blank(&codes).with_expected(&[], Lang::Nb);
    assert!(profile_html(&empty, Lang::Nb)
        .into_string()
        .contains("Ved utskrivning"));
}
