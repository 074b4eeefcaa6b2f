//! Well-formedness verdicts against libxml2: each case is judged by
//! `xmllint --noout --nonet` (exit 0 = well-formed) and by [`parse`]; the
//! verdicts must agree. The cases are the laxities the scanner once had
//! (each now refused, as by libxml2) with variants on both sides of the
//! line. Fails (never skips) when xmllint is missing.

use overgang_xml::{parse, Limits};
use std::process::Command;

/// (what, document). Most are refused by both; the accepted ones check that
/// the new refusals do not reach too far.
fn cases() -> Vec<(&'static str, String)> {
    let c = |what: &'static str, xml: &str| (what, xml.to_owned());
    vec![
        // 1. whitespace between attributes
        c("no space between attributes", "<a b=\"1\"c=\"2\"/>"),
        c("no space, single quotes", "<a b='1'c='2'></a>"),
        c("no space, mixed quotes", "<a b=\"1\"c='2'/>"),
        c("no space, nested", "<a><b x='1' y='2'z='3'/></a>"),
        c("no space, namespace declaration", "<a xmlns:p='u'p:b='1'/>"),
        c("no space, slow path", "<a b=\"1\"c = \"2\"/>"),
        c("space between attributes", "<a b=\"1\" c=\"2\"/>"),
        c(
            "tab and newline between attributes",
            "<a b=\"1\"\tc=\"2\"\nd='3'/>",
        ),
        c("value then slash", "<a b=\"1\"/>"),
        c("value then gt", "<a b=\"1\"></a>"),
        // 2. references and text outside the root element
        c("space reference after root", "<a/>&#32;"),
        c("line feed reference after root", "<a/>&#10;"),
        c("hex space reference after root", "<a></a>\n&#x20;\n"),
        c("entity after root", "<a/>&amp;"),
        c(
            "space reference before root",
            "<?xml version=\"1.0\"?>&#32;<a/>",
        ),
        c("reference after comment before root", "<!--x-->&#32;<a/>"),
        c("CDATA after root", "<a/><![CDATA[ ]]>"),
        c("whitespace after root", "<a/>\n \t\r\n"),
        c("comment and PI after root", "<a/>\n<!--x-->\n<?p x?>\n"),
        // 3. the XML declaration
        c("declaration without version", "<?xml?><a/>"),
        c("declaration with space only", "<?xml ?><a/>"),
        c("encoding without version", "<?xml encoding=\"UTF-8\"?><a/>"),
        c(
            "encoding before version",
            "<?xml encoding=\"UTF-8\" version=\"1.0\"?><a/>",
        ),
        c(
            "standalone before encoding",
            "<?xml version=\"1.0\" standalone=\"yes\" encoding=\"UTF-8\"?><a/>",
        ),
        c(
            "standalone maybe",
            "<?xml version=\"1.0\" standalone=\"maybe\"?><a/>",
        ),
        c(
            "standalone YES",
            "<?xml version=\"1.0\" standalone=\"YES\"?><a/>",
        ),
        c(
            "unknown pseudo-attribute",
            "<?xml version=\"1.0\" foo=\"bar\"?><a/>",
        ),
        c(
            "Encoding capitalised",
            "<?xml version=\"1.0\" Encoding=\"UTF-8\"?><a/>",
        ),
        c("version 2.0", "<?xml version=\"2.0\"?><a/>"),
        c("version 01.0", "<?xml version=\"01.0\"?><a/>"),
        c("version 1.0a", "<?xml version=\"1.0a\"?><a/>"),
        c("version empty", "<?xml version=\"\"?><a/>"),
        c("version unquoted", "<?xml version=1.0?><a/>"),
        c("version quotes mismatched", "<?xml version=\"1.0'?><a/>"),
        c("version without =", "<?xml version \"1.0\"?><a/>"),
        c(
            "no space before encoding",
            "<?xml version=\"1.0\"encoding=\"UTF-8\"?><a/>",
        ),
        c(
            "no space before standalone",
            "<?xml version=\"1.0\"standalone=\"yes\"?><a/>",
        ),
        c(
            "no space after ISO-8859-1",
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"standalone=\"yes\"?><a/>",
        ),
        c(
            "encoding name with space",
            "<?xml version=\"1.0\" encoding=\" UTF-8\"?><a/>",
        ),
        c(
            "encoding empty",
            "<?xml version=\"1.0\" encoding=\"\"?><a/>",
        ),
        c(
            "standalone twice",
            "<?xml version=\"1.0\" standalone=\"yes\" standalone=\"no\"?><a/>",
        ),
        c("declaration ends with >", "<?xml version=\"1.0\" >?><a/>"),
        c("declaration", "<?xml version=\"1.0\"?><a/>"),
        c(
            "declaration, single quotes",
            "<?xml version='1.0' encoding='utf-8' standalone='no'?><a/>",
        ),
        c(
            "declaration, spaces everywhere",
            "<?xml \t version = \"1.0\"\n encoding = 'UTF-8'  standalone = \"yes\" \n?><a/>",
        ),
        c(
            "version 1.1 (a warning only)",
            "<?xml version=\"1.1\"?><a/>",
        ),
        c("version 1. (a warning only)", "<?xml version=\"1.\"?><a/>"),
        c(
            "no space after UTF-8 (libxml2 quirk)",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"standalone=\"yes\"?><a/>",
        ),
        c(
            "ISO-8859-1",
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" standalone=\"no\"?><a/>",
        ),
        // 4. namespace declaration values
        c("< in default namespace", "<a xmlns=\"<\"/>"),
        c("< in prefixed namespace", "<a xmlns:p=\"u<\"/>"),
        c("undefined entity in namespace", "<a xmlns:p=\"&x;\"/>"),
        c(
            "undefined entity in default namespace",
            "<b><a xmlns=\"urn:&nbsp;\"/></b>",
        ),
        c("bare & in namespace", "<a xmlns=\"a&b\"/>"),
        c("char ref 0 in namespace", "<a xmlns=\"&#0;\"/>"),
        c("char ref 1 in namespace", "<a xmlns:p=\"&#1;\"/>"),
        c("bad char ref in namespace", "<a xmlns=\"&#xZZ;\"/>"),
        c(
            "predefined entity in namespace",
            "<a xmlns=\"urn:a&amp;b\"/>",
        ),
        c("char ref in namespace", "<a xmlns=\"&#x75;rn:a\"/>"),
        c("&lt; in prefixed namespace", "<a xmlns:p=\"&lt;\"/>"),
        c("xmlns: with empty prefix", "<a xmlns:=\"u\"/>"),
        // 5. processing-instruction targets
        c("PI target a digit", "<?1 x?><a/>"),
        c("PI target a digit, in content", "<a><?1 x?></a>"),
        c("PI without target", "<? x?><a/>"),
        c("PI target starting with -", "<?-a?><a/>"),
        c("PI target with /", "<?a/b?><a/>"),
        c("PI target XML", "<?XML x?><a/>"),
        c("PI target xMl", "<a><?xMl?></a>"),
        c("PI target xml after root", "<a/><?xml version=\"1.0\"?>"),
        c(
            "declaration after whitespace",
            " <?xml version=\"1.0\"?><a/>",
        ),
        c("PI target a", "<?a?><a/>"),
        c("PI target with punctuation", "<?a-b.c_d x?><a/>"),
        c("PI target with colon", "<?a:b x?><a/>"),
        c(
            "PI target xml-stylesheet",
            "<?xml-stylesheet href='x'?><a/>",
        ),
        c("PI target xmlfoo (a warning only)", "<?xmlfoo x?><a/>"),
        c("PI target non-ASCII", "<?é x?><a/>"),
        c("PI target, tab", "<?a\tx?><a/>"),
    ]
}

#[test]
fn well_formedness_verdicts_agree_with_xmllint() {
    let dir = std::env::temp_dir().join(format!("overgang-xml-wf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let mut disagreements = Vec::new();
    let cases = cases();
    for (i, (what, xml)) in cases.iter().enumerate() {
        let path = dir.join(format!("c{i:03}.xml"));
        std::fs::write(&path, xml).expect("write case");
        let out = Command::new("xmllint")
            .args(["--noout", "--nonet"])
            .arg(&path)
            .output()
            .expect("xmllint must be installed (Debian package libxml2-utils)");
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "xmllint failed on {what}: exit {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = code == Some(0);
        let ours = parse(xml.as_bytes(), &Limits::default());
        if ours.is_ok() != theirs {
            disagreements.push(format!(
                "{what} {xml:?}: xmllint well-formed={theirs} ({}), ours={:?}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or(""),
                ours.err()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        disagreements.is_empty(),
        "{} of {} verdicts differ:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}
