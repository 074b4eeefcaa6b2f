//! The Funksjonsprofil extension (docs/EXTENSION.md) in the model: our
//! example message reads with the values that are in the file, the PLO
//! document stays the main document, and the official examples carry no
//! extension. The official examples come from `../shared/standards`; those
//! tests fail (do not skip) when it is missing.

use overgang_model::*;
use std::path::PathBuf;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/examples/innleggelsesrapport-med-funksjonsprofil.xml"
);

fn example_text() -> String {
    std::fs::read_to_string(EXAMPLE).unwrap_or_else(|e| panic!("{EXAMPLE}: {e}"))
}

fn parse(src: &str) -> overgang_xml::Document {
    overgang_xml::parse(src.as_bytes(), &Default::default()).expect("well-formed")
}

// --- An independent reading of the file: plain string scanning, so the
// --- model's values can be compared with what the file says.

/// The text between the first `<tag>` and its `</tag>` in `s`, trimmed.
fn between<'a>(s: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let i = s.find(&open)? + open.len();
    let j = s[i..].find(&close)? + i;
    Some(s[i..j].trim())
}

/// Every `<tag>…</tag>` block in `s`, in order (no nesting of the same tag).
fn blocks<'a>(s: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(&open) {
        let body = &rest[i + open.len()..];
        let Some(j) = body.find(&close) else { break };
        out.push(&body[..j]);
        rest = &body[j + close.len()..];
    }
    out
}

#[derive(Debug, PartialEq)]
struct Seen {
    score: Option<String>,
    date: Option<String>,
    name: Option<String>,
    role: Option<String>,
    her: Option<String>,
}

fn seen_in_file(block: Option<&str>) -> Option<Seen> {
    let b = block?;
    let by = between(b, "VurdertAv");
    Some(Seen {
        score: between(b, "Vurdering").map(str::to_owned),
        date: between(b, "Dato").map(str::to_owned),
        name: by.and_then(|v| between(v, "Navn")).map(str::to_owned),
        role: by.and_then(|v| between(v, "Rolle")).map(str::to_owned),
        her: by.and_then(|v| between(v, "HerId")).map(str::to_owned),
    })
}

fn seen_in_model(a: Option<&ProfileAssessment>) -> Option<Seen> {
    let a = a?;
    Some(Seen {
        score: a.score_raw.clone(),
        date: a.date.clone(),
        name: a.assessed_by.expose().clone(),
        role: a.assessor_role.expose().clone(),
        her: a.assessor_her_id.clone(),
    })
}

#[test]
fn the_example_reads_with_the_values_in_the_file() {
    let src = example_text();
    let doc = parse(&src);
    let m = Message::read(&doc);
    let fp = m
        .functional_profile
        .as_ref()
        .expect("the example carries a Funksjonsprofil");

    // What the file says, read without the model.
    let i = src
        .find("<Funksjonsprofil xmlns=\"urn:overgang:xmlstds:funksjonsprofil:1.0\">")
        .expect("the extension is in the example");
    let ext = &src[i..];
    let in_file = blocks(ext, "Variabel");
    assert!(
        in_file.len() >= 4,
        "the example should have several variables"
    );
    assert_eq!(fp.variables.len(), in_file.len());

    for (v, f) in fp.variables.iter().zip(&in_file) {
        assert_eq!(v.code.as_deref(), between(f, "Funksjonsvariabel"));
        assert_eq!(
            seen_in_model(v.habitual.as_ref()),
            seen_in_file(between_block(f, "Habituell"))
        );
        assert_eq!(
            seen_in_model(v.current.as_ref()),
            seen_in_file(between_block(f, "Aktuell"))
        );
        assert_eq!(v.comment_present, between(f, "Merknad").is_some());
        for a in [v.habitual.as_ref(), v.current.as_ref()]
            .into_iter()
            .flatten()
        {
            // Scores parse, and are on the scale in a valid document.
            let raw = a.score_raw.as_deref().expect("score");
            assert_eq!(a.score, raw.parse().ok());
            assert_eq!(a.score_on_scale(), a.score);
        }
        assert!(v.habitual.is_some(), "Habituell is required");
        // Each item points at its element.
        let path = v.loc.path(&doc);
        assert!(
            path.starts_with("/MsgHead/Document[2]/RefDoc/Content/Funksjonsprofil/Variabel["),
            "{path}"
        );
    }

    // And a few values spelled out, so a wrong scanner cannot hide a bug.
    let v5 = fp.variable("5").expect("variable 5");
    assert_eq!(v5.number(), Some(5));
    let h = v5.habitual.as_ref().expect("habitual");
    assert_eq!(h.score, Some(2));
    assert_eq!(h.date.as_deref(), Some("2023-11-20"));
    assert_eq!(h.assessor_her_id.as_deref(), Some("990003"));
    let c = v5.current.as_ref().expect("current");
    assert_eq!(c.score, Some(4));
    assert_eq!(c.date.as_deref(), Some("2024-03-12"));
    assert!(v5.comment_present);
    let v12 = fp.variable("12").expect("variable 12");
    assert!(v12.current.is_none());
    assert_eq!(
        v12.habitual
            .as_ref()
            .and_then(|h| h.assessor_role.expose().clone()),
        Some("Fysioterapeut".to_owned())
    );
    let v13 = fp.variable("13").expect("variable 13");
    assert_eq!(v13.habitual.as_ref().and_then(|h| h.score), Some(9));
    assert!(fp.variable("1").is_none());
    assert_eq!(
        fp.loc.path(&doc),
        "/MsgHead/Document[2]/RefDoc/Content/Funksjonsprofil"
    );
}

/// The body of the first `<tag>…</tag>` (untrimmed), or `None`.
fn between_block<'a>(s: &'a str, tag: &str) -> Option<&'a str> {
    blocks(s, tag).into_iter().next()
}

#[test]
fn the_plo_document_stays_the_main_document() {
    let src = example_text();
    let m = Message::read(&parse(&src));
    assert_eq!(m.documents.len(), 2);
    assert_eq!(m.main, Some(0));
    assert!(!m.documents[0].is_extension());
    assert!(m.documents[1].is_extension());
    assert_eq!(m.documents[1].standard, None);
    assert_eq!(
        m.standard.map(|s| s.family),
        Some(Family::Innleggelsesrapport)
    );
    assert_eq!(m.standard.map(|s| s.version), Some(Version::V1_6));
    let plo = m.plo.as_ref().expect("the PLO document is read");
    assert_eq!(plo.status_code(), Some("N"));
    assert_eq!(plo.assessed_functions().count(), 5);

    // The extension placed first: still the PLO document.
    let first = swap_documents(&src);
    let m2 = Message::read(&parse(&first));
    assert!(m2.documents[0].is_extension());
    assert_eq!(m2.main, Some(1));
    assert_eq!(m.standard, m2.standard);
    assert_eq!(m.plo.is_some(), m2.plo.is_some());
    assert_eq!(
        m.functional_profile.as_ref().map(|f| f.variables.len()),
        m2.functional_profile.as_ref().map(|f| f.variables.len())
    );

    // Only the extension: no main document, the profile is still read.
    let only = drop_first_document(&src);
    let m3 = Message::read(&parse(&only));
    assert_eq!(m3.documents.len(), 1);
    assert_eq!(m3.main, None);
    assert!(m3.standard.is_none() && m3.plo.is_none());
    assert!(m3.functional_profile.is_some());

    // The extension beside an unknown XML document: the unknown one is main.
    let unknown = replace_first_document_content(&src, "<Foo xmlns=\"urn:x\"/>");
    let m4 = Message::read(&parse(&unknown));
    assert_eq!(m4.main, Some(0));
    assert!(m4.functional_profile.is_some());
}

fn document_bounds(src: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = src[from..].find("<Document>") {
        let i = from + i;
        let j = src[i..].find("</Document>").expect("closed") + i + "</Document>".len();
        out.push((i, j));
        from = j;
    }
    out
}

fn swap_documents(src: &str) -> String {
    let d = document_bounds(src);
    assert_eq!(d.len(), 2);
    let (a, b) = (&src[d[0].0..d[0].1], &src[d[1].0..d[1].1]);
    format!(
        "{}{}{}{}{}",
        &src[..d[0].0],
        b,
        &src[d[0].1..d[1].0],
        a,
        &src[d[1].1..]
    )
}

fn drop_first_document(src: &str) -> String {
    let d = document_bounds(src);
    format!("{}{}", &src[..d[0].0], &src[d[0].1..])
}

fn replace_first_document_content(src: &str, with: &str) -> String {
    let d = document_bounds(src);
    let doc = &src[d[0].0..d[0].1];
    let i = doc.find("<Content>").expect("content") + "<Content>".len();
    let j = doc.find("</Content>").expect("content end");
    format!(
        "{}{}{}{}{}",
        &src[..d[0].0],
        &doc[..i],
        with,
        &doc[j..],
        &src[d[0].1..]
    )
}

#[test]
fn a_bare_funksjonsprofil_and_odd_content_read_without_failing() {
    let m = Message::read(&parse(
        "<Funksjonsprofil xmlns='urn:overgang:xmlstds:funksjonsprofil:1.0'>\
           <Variabel><Funksjonsvariabel> 7 </Funksjonsvariabel>\
             <Aktuell><Vurdering>7</Vurdering><Dato>x</Dato></Aktuell>\
             <Habituell><Vurdering>+3</Vurdering></Habituell>\
             <Merknad>  </Merknad></Variabel>\
           <Variabel/>\
         </Funksjonsprofil>",
    ));
    assert!(m.head.is_none() && m.standard.is_none());
    let fp = m
        .functional_profile
        .expect("a bare Funksjonsprofil is read");
    assert_eq!(fp.variables.len(), 2);
    let v = &fp.variables[0];
    assert_eq!(v.code.as_deref(), Some("7"));
    let c = v.current.as_ref().expect("current");
    // Read as it is; judging is the schema's job.
    assert_eq!(c.score, Some(7));
    assert_eq!(c.score_on_scale(), None);
    assert_eq!(c.date.as_deref(), Some("x"));
    assert!(c.assessed_by.expose().is_none());
    let h = v.habitual.as_ref().expect("habitual");
    assert_eq!(h.score_raw.as_deref(), Some("+3"));
    assert_eq!(h.score, None);
    assert!(!v.comment_present);
    assert_eq!(
        fp.variables[1],
        ProfileVariable {
            loc: fp.variables[1].loc,
            ..Default::default()
        }
    );

    // Another namespace or another root name is not the extension.
    for other in [
        "<Funksjonsprofil xmlns='urn:overgang:xmlstds:funksjonsprofil:2.0'/>",
        "<Variabel xmlns='urn:overgang:xmlstds:funksjonsprofil:1.0'/>",
        "<Funksjonsprofil/>",
    ] {
        assert!(
            Message::read(&parse(other)).functional_profile.is_none(),
            "{other}"
        );
    }
    assert_eq!(
        FUNKSJONSPROFIL_NS,
        "urn:overgang:xmlstds:funksjonsprofil:1.0"
    );
    assert!(is_funksjonsprofil_namespace(FUNKSJONSPROFIL_NS));
}

#[test]
fn debug_output_shows_no_patient_data_or_assessor_names() {
    let src = example_text();
    let m = Message::read(&parse(&src));
    let dbg = format!("{m:?}");
    for secret in [
        "Eksempelsen",
        "Fiktiva",
        "01014040265",
        "Sykepleier Testdal",
        "Fysioterapeut Prøvik",
        "Sykepleier, hjemmesykepleien",
        "stokk",
    ] {
        assert!(src.contains(secret), "the example should contain {secret}");
        assert!(!dbg.contains(secret), "Debug leaks {secret}");
    }
    let s = m.summary().to_string();
    assert!(!s.contains("01014040265") && !s.contains("Testdal"), "{s}");
}

#[test]
fn the_example_national_id_has_valid_check_digits() {
    let src = example_text();
    let fnr = between(&src, "Patient")
        .and_then(|p| between(p, "Id"))
        .expect("the patient's id");
    assert_eq!(fnr, "01014040265");
    let d: Vec<u32> = fnr.chars().filter_map(|c| c.to_digit(10)).collect();
    assert_eq!(d.len(), 11);
    let k1 = [3, 7, 6, 1, 8, 9, 4, 5, 2, 1];
    let k2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1];
    assert_eq!(k1.iter().zip(&d).map(|(a, b)| a * b).sum::<u32>() % 11, 0);
    assert_eq!(k2.iter().zip(&d).map(|(a, b)| a * b).sum::<u32>() % 11, 0);
}

#[test]
fn official_examples_carry_no_extension() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/standards/examples/plo-1.6");
    assert!(
        dir.is_dir(),
        "the standards folder is required: {}",
        dir.display()
    );
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("read examples") {
        let p = e.expect("entry").path();
        if p.extension().is_none_or(|x| x != "xml") {
            continue;
        }
        let bytes = std::fs::read(&p).expect("read example");
        let doc = overgang_xml::parse(&bytes, &Default::default()).expect("parse");
        let m = Message::read(&doc);
        assert!(m.functional_profile.is_none(), "{}", p.display());
        assert!(
            m.documents.iter().all(|d| !d.is_extension()),
            "{}",
            p.display()
        );
        assert_eq!(m.main, Some(0), "{}", p.display());
        n += 1;
    }
    assert_eq!(n, 22);
}
