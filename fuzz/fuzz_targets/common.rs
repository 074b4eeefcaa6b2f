//! Properties every fuzz target checks on what the crates give back.
//! Shared by the targets (`mod common;`); not every target uses every item.
#![allow(dead_code)]

use overgang_model::{Finding, Verdict};
use overgang_xml::Document;

/// Number of lines of `source` (a document's last line may lack its `\n`).
pub fn line_count(source: &str) -> u32 {
    source.bytes().filter(|&b| b == b'\n').count() as u32 + 1
}

/// Line and column of a byte offset, worked out the slow and obvious way.
pub fn naive_line_col(source: &str, offset: usize) -> (u32, u32) {
    let before = &source.as_bytes()[..offset.min(source.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() as u32 + 1;
    (line, column)
}

/// A finding is well-formed: a code, texts in both languages, a path that is
/// empty (the whole input) or absolute, and a position that is either
/// unknown (0, 0) or 1-based and inside the document.
pub fn check_finding(f: &Finding, doc: Option<&Document>) {
    assert!(!f.code.trim().is_empty(), "finding without a code: {f:?}");
    assert!(
        !f.text_nb.trim().is_empty(),
        "finding without a Norwegian text: {f:?}"
    );
    assert!(
        !f.text_en.trim().is_empty(),
        "finding without an English text: {f:?}"
    );
    assert!(
        f.path.is_empty() || f.path.starts_with('/'),
        "finding path is not absolute: {:?} ({})",
        f.path,
        f.code
    );
    assert!(
        !f.path.ends_with('/'),
        "finding path ends with '/': {:?}",
        f.path
    );
    assert_eq!(
        f.line == 0,
        f.column == 0,
        "finding {} has line {} and column {}: both or neither must be known",
        f.code,
        f.line,
        f.column
    );
    if let (Some(doc), true) = (doc, f.line > 0) {
        let lines = line_count(doc.source());
        assert!(
            f.line <= lines,
            "finding {} at line {} of a {lines}-line document",
            f.code,
            f.line
        );
    }
}

/// The verdict is the one the findings give.
pub fn check_verdict(verdict: Verdict, findings: &[Finding]) {
    assert_eq!(
        verdict,
        Verdict::of(findings),
        "verdict {verdict:?} does not follow from the findings"
    );
}
