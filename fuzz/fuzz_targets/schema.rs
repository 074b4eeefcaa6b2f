//! Schema-level validation (the compiled message profiles) of whatever the
//! reader accepts.
//!
//! Asserts: every finding is a schema-level finding (`SCH…`, a schema
//! category) with an absolute path and a position inside the document;
//! validation is deterministic; the schema-aware path of every element is
//! absolute and names the element last.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use overgang_schema::SchemaSet;
use overgang_xml::Limits;
use std::sync::OnceLock;

fn schemas() -> &'static SchemaSet {
    static S: OnceLock<SchemaSet> = OnceLock::new();
    S.get_or_init(|| SchemaSet::builtin().expect("the built-in profiles compile"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = overgang_xml::parse(data, &Limits::default()) else {
        return;
    };
    let set = schemas();
    let findings = set.validate(&doc);
    for f in &findings {
        common::check_finding(f, Some(&doc));
        assert!(
            f.category.is_schema_level(),
            "schema finding {} in category {:?}",
            f.code,
            f.category
        );
        assert!(f.code.starts_with("SCH"), "schema finding code {}", f.code);
    }
    let again = set.validate(&doc);
    assert_eq!(
        findings.len(),
        again.len(),
        "validation is not deterministic"
    );
    for (a, b) in findings.iter().zip(&again) {
        assert_eq!(
            (&a.code, &a.path, a.line, a.column),
            (&b.code, &b.path, b.line, b.column)
        );
    }
    for n in doc.elements() {
        let p = set.path_of(n);
        assert!(p.starts_with('/'), "schema path {p:?}");
        let last = p.rsplit('/').next().unwrap_or("");
        let last = last.split('[').next().unwrap_or("");
        assert_eq!(last, n.name(), "schema path {p:?} of element {}", n.name());
        let _ = set.is_repeatable(n);
    }
});
