//! docs/RULES.md's rule reference is what the binary says about the
//! default catalogue: the section between the generated-rules markers must
//! equal `overgang rules list --format markdown`, so the documentation
//! cannot drift from the rules it documents.

mod support {
    pub mod corpus;
    pub mod diff;
}

use std::process::Command;

const DOC: &str = "docs/RULES.md";
const BEGIN: &str = "<!-- BEGIN GENERATED RULES -->";
const END: &str = "<!-- END GENERATED RULES -->";
const REGENERATE: &str = "scripts/gen-rules-doc.sh";

/// The text between the marker lines (after BEGIN's line, up to END's).
fn generated_section(doc: &str) -> Result<&str, String> {
    let line_at = |marker: &str| -> Result<usize, String> {
        let at: Vec<usize> = doc
            .match_indices(marker)
            .map(|(i, _)| i)
            .filter(|&i| {
                (i == 0 || doc.as_bytes()[i - 1] == b'\n')
                    && doc[i + marker.len()..].starts_with('\n')
            })
            .collect();
        match at.as_slice() {
            [i] => Ok(*i),
            [] => Err(format!("{DOC} has no line {marker}")),
            _ => Err(format!("{DOC} has the line {marker} more than once")),
        }
    };
    let (b, e) = (line_at(BEGIN)?, line_at(END)?);
    let start = b + BEGIN.len() + 1;
    if e < start {
        return Err(format!("{DOC}: {END} comes before {BEGIN}"));
    }
    Ok(&doc[start..e])
}

#[test]
fn the_rule_reference_in_rules_md_is_generated_from_the_catalogue() {
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["rules", "list", "--format", "markdown"])
        .output()
        .expect("run overgang");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = String::from_utf8(out.stdout).expect("UTF-8 output");
    let path = support::corpus::repo().join(DOC);
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {DOC}: {e}"));
    let section = generated_section(&doc).unwrap_or_else(|e| panic!("{e}"));
    if let Some(diff) = support::diff::unified_diff(
        &format!("{DOC} (generated section)"),
        "overgang rules list --format markdown",
        section,
        &now,
    ) {
        panic!(
            "the rule reference in {DOC} is out of date:\n\n{diff}\n\
             Regenerate it (and commit the result) with:\n  {REGENERATE}\n"
        );
    }
}

#[test]
fn the_markers_are_found_only_on_lines_of_their_own() {
    let doc = format!("intro\n{BEGIN}\nA\nB\n{END}\nend\n");
    assert_eq!(generated_section(&doc), Ok("A\nB\n"));
    let doc = format!("intro\n{BEGIN}\n{END}\n");
    assert_eq!(generated_section(&doc), Ok(""));
    let doc = format!("see `{BEGIN}` below\n{BEGIN}\nA\n{END}\n");
    assert_eq!(generated_section(&doc), Ok("A\n"));
    assert!(generated_section("nothing").is_err());
    let doc = format!("{BEGIN}\n{END}\n{BEGIN}\n");
    assert!(generated_section(&doc).is_err());
    let doc = format!("{END}\n{BEGIN}\n");
    assert!(generated_section(&doc).is_err());
}

/// Every predicate reads as words, and a deployment's changes show.
#[test]
fn markdown_says_each_predicate_in_words() {
    let rule = |id: &str, extra: &str| {
        format!(
            "[[rule]]\nid = \"{id}\"\nseverity = \"info\"\n{extra}\ntext_nb = \"Merknad mangler for {{dn:po:Funksjonsvariabel}}\"\ntext_en = \"a_b *c*\"\nsource = \"test\"\n\n"
        )
    };
    let file = [
        "# Region test: one rule per predicate.\n\n[[override]]\nid = \"PAS-ID-01\"\nseverity = \"warning\"\nreason = \"agreement §3\"\n\n".to_owned(),
        rule("T-PRESENT", "messages = [\"INNLEGGELSESRAPPORT\"]\nversions = [\"1.6\"]\nfor_each = \"po:InfoKartleggingFunksjonsniva/po:KartlagtFunksjon\"\nwhen.in_set = { select = \"po:Vurdering\", values = [\"3\", \"4\"] }\ncheck.present = \"po:Merknad\""),
        rule("T-ABSENT", "enabled = false\ncheck.absent = \"po:X\""),
        rule("T-COUNT", "when.count = { select = \"po:Y\", max = 2 }\ncheck.count = { select = \"po:X\", min = 1, max = 1 }"),
        rule("T-LIST", "apprec = \"E30\"\ncheck.in_codelist = { select = \"po:X\", list = 9111 }"),
        rule("T-MATCH", "when.has_time = \"po:T\"\ncheck.matches = { select = \"po:X\", pattern = \"[0-9]{2}\" }"),
        rule("T-ORDER", "check.date_order = { first = \"po:A\", then = \"po:B\" }"),
        rule("T-NID", "when.national_id = \"po:N\"\ncheck.national_id = \"po:X\""),
        rule("T-HAB", "check.habitual_baseline = \"po:X\""),
        rule("T-HABANY", "when.absent = \"po:Z\"\ncheck.habitual_baseline_any = \"po:X\""),
    ]
    .concat();
    let dir = std::env::temp_dir().join(format!("overgang-rules-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("region.toml");
    std::fs::write(&path, file).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["rules", "list", "--format", "markdown", "--rules"])
        .arg(&path)
        .output()
        .expect("run overgang");
    let _ = std::fs::remove_dir_all(&dir);
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}");
    let shown = path.display().to_string();
    // The default catalogue's own size, to add this file's 9 rules (8 enabled) to.
    let json = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["rules", "list", "--format", "json"])
        .output()
        .expect("run overgang");
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("json");
    let enabled = rules.iter().filter(|r| r["enabled"] == true).count();
    let mut files: Vec<&str> = rules
        .iter()
        .filter_map(|r| r["defined_at"].as_str()?.rsplit_once(':').map(|(f, _)| f))
        .collect();
    files.sort();
    files.dedup();
    for want in [
        format!(
            "default catalogue with `{shown}` applied: {} rules, {} enabled, in {} files",
            rules.len() + 9,
            enabled + 8,
            files.len() + 1
        ),
        format!("### `{shown}`\n\nRegion test: one rule per predicate.\n"),
        format!("- **Overridden:** {}:4: agreement §3", shown.replace('_', "\\_")),
        "- **Severity:** warning · **Category:** identity".into(),
        "- **Applies to:** `INNLEGGELSESRAPPORT`; version 1.6".into(),
        "- **Check:** For each `po:InfoKartleggingFunksjonsniva/po:KartlagtFunksjon`, when `po:Vurdering` has a value and every value is one of `3`, `4`: `po:Merknad` is present.".into(),
        "- **Text (nb):** Merknad mangler for {dn:po:Funksjonsvariabel}".into(),
        "- **Text (en):** a\\_b \\*c\\*".into(),
        "· **disabled**".into(),
        "- **Check:** `po:X` is absent.".into(),
        "- **Check:** When `po:Y` occurs at most 2 times: `po:X` occurs exactly once.".into(),
        "- **Check:** Every value of `po:X` is a code in code list 9111 (IPLOS functional variables).".into(),
        "- **AppRec error:** `E30` (Pasientens fødselsnummer mangler)".into(),
        "- **Check:** When `po:T` has a value and every value has a time of day: every value of `po:X` matches the pattern `[0-9]{2}`.".into(),
        "- **Check:** No `po:B` is earlier than `po:A`.".into(),
        "- **Check:** When `po:N` has a value and every value is a valid national identity number: every value of `po:X` is a valid national identity number".into(),
        "- **Check:** The IPLOS variable coded in `po:X` has a known habitual (pre-illness) level.".into(),
        "- **Check:** When `po:Z` is absent: at least one of the IPLOS variables coded in `po:X` has a known habitual (pre-illness) level (when none is coded: some habitual level is known for the patient).".into(),
    ] {
        assert!(md.contains(&want), "missing {want:?} in:\n{md}");
    }
}
