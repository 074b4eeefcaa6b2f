//! The hardened XML reader and the typed model read from its tree.
//!
//! Asserts: refusals carry a known finding (code `XML…`, error, positions
//! both known or both unknown); every element of an accepted document has
//! a 1-based position equal to the naive count from its byte offset and an
//! absolute path; the model is read deterministically; a UTF-8 document's
//! decoded source parses again to the same shape.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use overgang_model::{from_xml_error, Message, Severity, Verdict};
use overgang_xml::{Encoding, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let doc = match overgang_xml::parse(data, &limits) {
        Ok(d) => d,
        Err(e) => {
            assert_eq!(e.line == 0, e.column == 0, "error position {e:?}");
            let f = from_xml_error(&e);
            assert!(f.code.starts_with("XML"), "{}", f.code);
            assert_eq!(f.severity, Severity::Error);
            assert_eq!(Verdict::of(std::slice::from_ref(&f)), Verdict::Rejected);
            common::check_finding(&f, None);
            return;
        }
    };
    assert!(!doc.is_empty());
    let source = doc.source();
    let lines = common::line_count(source);
    for n in doc.elements() {
        let (line, column) = n.line_col();
        assert!(line >= 1 && column >= 1, "element at ({line}, {column})");
        assert!(line <= lines, "element at line {line} of {lines}");
        assert_eq!(
            (line, column),
            common::naive_line_col(source, n.offset() as usize),
            "position of element {} at offset {}",
            n.name(),
            n.offset()
        );
        let path = n.path();
        assert!(
            path.starts_with('/') && !path.ends_with('/'),
            "path {path:?}"
        );
        assert!(
            overgang_xml::is_xml_name(n.name()),
            "element name {:?}",
            n.name()
        );
        if let Some(p) = n.parent() {
            assert!(p.id() < n.id(), "parent after child");
        } else {
            assert_eq!(
                n.id(),
                doc.root().id(),
                "an element without parent that is not the root"
            );
        }
        for a in n.attributes() {
            let (l, c) = a.line_col();
            assert!(l >= 1 && c >= 1 && l <= lines, "attribute at ({l}, {c})");
        }
    }
    let message = Message::read(&doc);
    assert_eq!(
        message,
        Message::read(&doc),
        "reading the model is not deterministic"
    );
    if let Some(i) = message.main {
        assert!(
            i < message.documents.len(),
            "main document {i} out of range"
        );
    }
    let _ = message.summary();

    // The decoded text of a UTF-8 document is that document again (less a
    // byte order mark): it must read to the same tree.
    if doc.encoding() == Encoding::Utf8 {
        let again = overgang_xml::parse(source.as_bytes(), &limits)
            .unwrap_or_else(|e| panic!("the decoded source no longer parses: {e}"));
        assert_eq!(
            again.len(),
            doc.len(),
            "element count changed on re-reading"
        );
        for (a, b) in again.elements().zip(doc.elements()) {
            assert_eq!((a.ns(), a.name()), (b.ns(), b.name()));
            assert_eq!(
                a.text(),
                b.text(),
                "text of {} changed on re-reading",
                a.name()
            );
        }
    }
});
