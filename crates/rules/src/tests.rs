use super::*;

/// A small admission report with one relative, one assessed variable and a
/// patient identity; the tests break it in the places the rules look.
fn message(patient_id: &str, extra: &str) -> String {
    format!(
        r#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">
  <MsgInfo>
    <Type V="INNLEGGELSESRAPPORT" DN="Innleggelsesrapport"/>
    <MsgId>m-1</MsgId>
    <Patient><Ident><Id>{patient_id}</Id><TypeId V="FNR"/></Ident></Patient>
  </MsgInfo>
  <Document><RefDoc><MsgType V="XML"/><Content>
    <Innleggelsesrapport xmlns="http://www.kith.no/xmlstds/po/Innleggelsesrapport/2012-04-01">
      <InfoKartleggingFunksjonsniva>
        <KartlagtFunksjon>
          <Funksjonsvariabel V="7" S="2.16.578.1.12.4.1.1.9111" DN="Personlig hygiene"/>
          <Vurdering>4</Vurdering>
        </KartlagtFunksjon>
        <KartlagtFunksjon>
          <Funksjonsvariabel V="10" S="2.16.578.1.12.4.1.1.9111"/>
          <Vurdering>2</Vurdering>
          <Merknad>ok</Merknad>
        </KartlagtFunksjon>
      </InfoKartleggingFunksjonsniva>
      <Hendelse><Tid V="2024-03-01T10:15:00"/><Slutt V="2024-02-01"/></Hendelse>
      {extra}
    </Innleggelsesrapport>
  </Content></RefDoc></Document>
</MsgHead>"#
    )
}

fn run_with(cat: &Catalogue, xml: &str, baselines: &dyn Baselines) -> Vec<Finding> {
    let doc = overgang_xml::parse(xml.as_bytes(), &Default::default()).expect("parses");
    let message = Message::read(&doc);
    let path_of = |n: Node<'_>| n.path();
    cat.evaluate(&Input {
        doc: &doc,
        message: &message,
        baselines,
        path_of: &path_of,
    })
}

fn run(rules: &str, xml: &str) -> Vec<Finding> {
    let cat = Catalogue::load([("test.toml", rules)]).unwrap_or_else(|e| panic!("{e}"));
    run_with(&cat, xml, &NoBaselines)
}

fn rule(check: &str) -> String {
    format!(
        r#"[[rule]]
id = "T-1"
severity = "warning"
messages = ["INNLEGGELSESRAPPORT"]
{check}
text_nb = "Mangler"
text_en = "Missing"
source = "test"
"#
    )
}

fn valid_fnr() -> String {
    (100..200)
        .find_map(|i| make_national_id("010190", &i.to_string()))
        .expect("a valid number")
}

#[test]
fn present_reports_the_missing_element_at_its_parent() {
    let f = run(
        &rule(r#"check.present = "po:Pasient/po:Legemiddel""#),
        &message(&valid_fnr(), ""),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].path,
        "/MsgHead/Document/RefDoc/Content/Innleggelsesrapport/Pasient"
    );
    assert_eq!(f[0].code, "T-1");
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].category, Category::Completeness);
    let f = run(
        &rule(r#"check.present = "po:InfoKartleggingFunksjonsniva""#),
        &message(&valid_fnr(), ""),
    );
    assert!(f.is_empty());
}

#[test]
fn rules_apply_only_to_their_message_types_and_versions() {
    let r = rule(r#"check.present = "po:Nothing""#)
        .replace("INNLEGGELSESRAPPORT", "UTSKRIVNINGSRAPPORT");
    assert!(run(&r, &message(&valid_fnr(), "")).is_empty());
    let r = rule(r#"check.present = "po:Nothing""#).replace(
        "messages = [\"INNLEGGELSESRAPPORT\"]",
        "versions = [\"1.5\"]",
    );
    assert!(run(&r, &message(&valid_fnr(), "")).is_empty());
    let r = rule(r#"check.present = "po:Nothing""#).replace(
        "messages = [\"INNLEGGELSESRAPPORT\"]",
        "versions = [\"1.6\"]",
    );
    assert_eq!(run(&r, &message(&valid_fnr(), "")).len(), 1);
}

#[test]
fn each_x_has_y_and_if_x_then_y() {
    // Each assessed variable with a score of 3 or worse has a comment.
    let r = rule(
        r#"for_each = "po:InfoKartleggingFunksjonsniva/po:KartlagtFunksjon"
when.in_set = { select = "po:Vurdering", values = ["3", "4", "5"] }
check.present = "po:Merknad""#,
    )
    .replace(
        "text_nb = \"Mangler\"",
        "text_nb = \"Merknad mangler for {dn:po:Funksjonsvariabel}\"",
    );
    let f = run(&r, &message(&valid_fnr(), ""));
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].path.ends_with("KartlagtFunksjon[1]/Merknad"),
        "{}",
        f[0].path
    );
    assert_eq!(f[0].text_nb, "Merknad mangler for Personlig hygiene");
}

#[test]
fn value_predicates() {
    let xml = message(&valid_fnr(), "");
    let f = run(
        &rule(r#"check.in_set = { select = "//po:Vurdering", values = ["1","2","3","5","9"] }"#),
        &xml,
    );
    assert_eq!(f.len(), 1);
    assert!(
        f[0].path.ends_with("KartlagtFunksjon[1]/Vurdering"),
        "{}",
        f[0].path
    );
    let f = run(
        &rule(r#"check.in_codelist = { select = "//po:Funksjonsvariabel", list = 9111 }"#),
        &xml,
    );
    assert!(f.is_empty(), "{f:?}");
    let f = run(
        &rule(r#"check.matches = { select = "//po:Vurdering", pattern = "[1-3]" }"#),
        &xml,
    );
    assert_eq!(f.len(), 1);
    let f = run(&rule(r#"check.has_time = "po:Hendelse/po:Slutt""#), &xml);
    assert_eq!(f.len(), 1);
    assert!(f[0].path.ends_with("Hendelse/Slutt"));
    assert!(run(&rule(r#"check.has_time = "po:Hendelse/po:Tid""#), &xml).is_empty());
    let f = run(
        &rule(
            r#"check.date_order = { first = "po:Hendelse/po:Tid", then = "po:Hendelse/po:Slutt/@V" }"#,
        ),
        &xml,
    );
    assert_eq!(f.len(), 1);
    assert!(f[0].path.ends_with("Hendelse/Slutt/@V"), "{}", f[0].path);
    let f = run(
        &rule(r#"check.count = { select = "//po:KartlagtFunksjon", max = 1 }"#),
        &xml,
    );
    assert!(f[0].path.ends_with("KartlagtFunksjon[2]"), "{}", f[0].path);
    let f = run(
        &rule(r#"check.count = { select = "//po:KartlagtFunksjon", min = 2, max = 2 }"#),
        &xml,
    );
    assert!(f.is_empty());
    let f = run(&rule(r#"check.absent = "//po:Merknad""#), &xml);
    assert_eq!(f.len(), 1);
}

#[test]
fn national_id_findings_do_not_carry_the_number() {
    let r = r#"[[rule]]
id = "PAS-ID-1"
severity = "error"
category = "identity"
check.national_id = "/mh:MsgHead/mh:MsgInfo/mh:Patient/mh:Ident[mh:TypeId/@V in ('FNR','DNR','HNR')]/mh:Id"
text_nb = "Fødselsnummeret er ikke gyldig"
text_en = "The national identity number is not valid"
apprec = "E31"
source = "practice"
"#;
    let mut bad = valid_fnr().into_bytes();
    bad[10] = if bad[10] == b'9' { b'0' } else { bad[10] + 1 };
    let bad = String::from_utf8(bad).expect("digits");
    let f = run(r, &message(&bad, ""));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].category, Category::Identity);
    assert_eq!(f[0].apprec_error.as_deref(), Some("E31"));
    assert_eq!(f[0].path, "/MsgHead/MsgInfo/Patient/Ident/Id");
    let json = format!("{f:?}");
    assert!(!json.contains(&bad), "the number must not be in a finding");
    assert!(run(r, &message(&valid_fnr(), "")).is_empty());
}

struct Known(&'static [&'static str]);
impl Baselines for Known {
    fn habitual(&self, v: &str) -> Option<BaselineKind> {
        self.0.contains(&v).then_some(BaselineKind::Explicit)
    }
    fn any(&self) -> Option<BaselineKind> {
        (!self.0.is_empty()).then_some(BaselineKind::Derived)
    }
}

#[test]
fn habitual_baseline_is_asked_per_variable() {
    let r = rule(
        r#"for_each = "po:InfoKartleggingFunksjonsniva/po:KartlagtFunksjon"
check.habitual_baseline = "po:Funksjonsvariabel""#,
    );
    let cat = Catalogue::load([("t.toml", r.as_str())]).expect("loads");
    let xml = message(&valid_fnr(), "");
    assert_eq!(run_with(&cat, &xml, &NoBaselines).len(), 2);
    let f = run_with(&cat, &xml, &Known(&["7"]));
    assert_eq!(f.len(), 1);
    assert!(f[0].path.ends_with("KartlagtFunksjon[2]"));
    assert!(run_with(&cat, &xml, &Known(&["7", "10"])).is_empty());

    // One finding when no variable has a level; per variable once some do.
    let r = r#"[[rule]]
id = "HAB-1"
severity = "warning"
for_each = "po:InfoKartleggingFunksjonsniva"
check.habitual_baseline_any = "po:KartlagtFunksjon/po:Funksjonsvariabel"
text_nb = "Habituelt funksjonsnivå mangler"
text_en = "The habitual functional level is missing"
source = "t"

[[rule]]
id = "HAB-2"
severity = "warning"
for_each = "po:InfoKartleggingFunksjonsniva/po:KartlagtFunksjon"
when.habitual_baseline_any = "../po:KartlagtFunksjon/po:Funksjonsvariabel"
check.habitual_baseline = "po:Funksjonsvariabel"
text_nb = "Habituelt funksjonsnivå mangler for {dn:po:Funksjonsvariabel}"
text_en = "The habitual functional level is missing for {dn:po:Funksjonsvariabel}"
source = "t"
"#;
    let cat = Catalogue::load([("t.toml", r)]).expect("loads");
    let f = run_with(&cat, &xml, &NoBaselines);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "HAB-1");
    assert!(f[0].path.ends_with("/InfoKartleggingFunksjonsniva"));
    let f = run_with(&cat, &xml, &Known(&["10"]));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "HAB-2");
    assert_eq!(
        f[0].text_nb,
        "Habituelt funksjonsnivå mangler for Personlig hygiene"
    );
}

#[test]
fn overrides_change_severity_and_disable() {
    let base = rule(r#"check.present = "po:Nothing""#);
    let over = r#"[[override]]
id = "T-1"
severity = "error"
reason = "agreement of region X"
"#;
    let cat = Catalogue::load([("a.toml", base.as_str()), ("b.toml", over)]).expect("loads");
    let f = run_with(&cat, &message(&valid_fnr(), ""), &NoBaselines);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(
        cat.rules()[0].info().overridden_at,
        vec!["b.toml:2: agreement of region X"]
    );
    let off = "[[override]]\nid = \"T-1\"\nenabled = false\n";
    let cat = Catalogue::load([("a.toml", base.as_str()), ("b.toml", off)]).expect("loads");
    assert!(run_with(&cat, &message(&valid_fnr(), ""), &NoBaselines).is_empty());
}

#[test]
fn bad_files_are_refused_with_file_line_rule_and_reason() {
    let e = |files: &[(&str, &str)]| {
        Catalogue::load(files.iter().copied())
            .expect_err("must be refused")
            .to_string()
    };
    let base = rule(r#"check.present = "po:Nothing""#);
    // Unknown override target.
    let msg = e(&[
        ("a.toml", &base),
        ("b.toml", "\n[[override]]\nid = \"NOPE\"\nenabled = false\n"),
    ]);
    assert_eq!(
        msg,
        "b.toml:3: rule NOPE: no rule with this id is defined before this file"
    );
    // A duplicate id.
    let msg = e(&[("a.toml", &base), ("b.toml", &base)]);
    assert!(
        msg.starts_with("b.toml:2: rule T-1: the id is already used (defined at a.toml:2)"),
        "{msg}"
    );
    // Bad selector, on the line of the check.
    let msg = e(&[("a.toml", &rule(r#"check.present = "Pasient""#))]);
    assert!(
        msg.starts_with("a.toml:5: rule T-1: check: «Pasient»"),
        "{msg}"
    );
    // Unknown severity.
    let msg = e(&[("a.toml", &base.replace("\"warning\"", "\"fatal\""))]);
    assert!(
        msg.contains("a.toml:3: rule T-1: severity «fatal»"),
        "{msg}"
    );
    // Unknown predicate, unknown field, TOML syntax.
    let msg = e(&[("a.toml", &rule(r#"check.exists = "po:X""#))]);
    assert!(msg.starts_with("a.toml:"), "{msg}");
    assert!(msg.contains("exists"), "{msg}");
    let msg = e(&[("a.toml", &format!("{base}colour = \"red\"\n"))]);
    assert!(msg.contains("colour"), "{msg}");
    let msg = e(&[("a.toml", "[[rule]\nid=")]);
    assert!(msg.starts_with("a.toml:1:"), "{msg}");
    // Unknown code list, message type, AppRec code, placeholder; empty source.
    assert!(e(&[(
        "a.toml",
        &rule(r#"check.in_codelist = { select = "po:X", list = 1 }"#)
    )])
    .contains("code list 1"));
    assert!(e(&[(
        "a.toml",
        &base.replace("INNLEGGELSESRAPPORT", "NO_SUCH_TYPE")
    )])
    .contains("8279"));
    assert!(e(&[("a.toml", &format!("{base}apprec = \"Z99\"\n"))]).contains("8221"));
    assert!(e(&[("a.toml", &base.replace("\"Mangler\"", "\"{x}\""))]).contains("placeholder"));
    assert!(e(&[(
        "a.toml",
        &base.replace("source = \"test\"", "source = \" \"")
    )])
    .contains("source is empty"));
    assert!(e(&[("a.toml", &base.replace("T-1", "t1"))]).contains("an id is"));
    // A built-in prefix cannot be redefined; the error names its line.
    let msg = e(&[("a.toml", &format!("[namespaces]\npo = \"urn:x\"\n\n{base}"))]);
    assert_eq!(
        msg,
        "a.toml:2: namespace prefix «po» is built in and cannot be redefined"
    );
    // A prefix of the file's own works in its selectors.
    let own = format!(
        "[namespaces]\nx = \"urn:x\"\n\n{}",
        rule(r#"check.absent = "x:Anything""#)
    );
    assert!(Catalogue::load([("a.toml", own.as_str())]).is_ok());
}

#[test]
fn the_default_catalogue_loads() {
    let cat = Catalogue::builtin().unwrap_or_else(|e| panic!("{e}"));
    let mut ids: Vec<&str> = cat.rules().iter().map(|r| r.info().id.as_str()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "ids are unique");
}

#[test]
fn precondition_and_codes_in_their_lists() {
    // A code that list 9111 does not have, named with its list.
    let xml = message(&valid_fnr(), "").replace(
        r#"<Funksjonsvariabel V="10" S="2.16.578.1.12.4.1.1.9111"/>"#,
        r#"<Funksjonsvariabel V="99" S="2.16.578.1.12.4.1.1.9111"/>"#,
    );
    let r = r#"[[rule]]
id = "KODE-1"
severity = "warning"
category = "codelist"
for_each = "//*:*[@S]"
check.codes_in_their_lists = "."
text_nb = "Koden «{code:.}» finnes ikke i kodeverk {list:.}"
text_en = "Code «{code:.}» is not in code list {list:.}"
source = "t"
"#;
    let f = run(r, &xml);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].text_nb, "Koden «99» finnes ikke i kodeverk 9111");
    assert!(
        f[0].path
            .ends_with("KartlagtFunksjon[2]/Funksjonsvariabel/@V"),
        "{}",
        f[0].path
    );
    // The same rule with a precondition that does not hold runs not at all.
    let r2 = r.replace(
        "for_each",
        "precondition.present = \"po:Nothing\"\nfor_each",
    );
    assert!(run(&r2, &xml).is_empty());
    let r3 = r.replace(
        "for_each",
        "precondition.present = \"po:InfoKartleggingFunksjonsniva\"\nfor_each",
    );
    assert_eq!(run(&r3, &xml).len(), 1);
}
