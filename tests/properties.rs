//! Property tests: no input makes the validate pipeline panic, and every
//! report is consistent (ARCHITECTURE.md invariant 3).

use overgang_model::{Severity, Verdict};
use overgang_validate::{Options, Validator};
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new(Options::default()).expect("profiles compile"))
}

fn examples() -> &'static Vec<String> {
    static E: OnceLock<Vec<String>> = OnceLock::new();
    E.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/standards/examples/plo-1.6");
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!(
                    "../shared/standards must be beside the project ({}): {e}",
                    dir.display()
                )
            })
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read example"))
            .collect();
        v.sort();
        assert_eq!(v.len(), 22);
        v
    })
}

fn check(bytes: &[u8]) {
    let r = validator().validate(bytes);
    assert_eq!(r.verdict, Verdict::of(&r.findings));
    for f in &r.findings {
        assert!(!f.code.is_empty());
        assert!(!f.text_nb.is_empty() && !f.text_en.is_empty(), "{f:?}");
        if f.severity == Severity::Error && f.category.is_schema_level() {
            assert!(
                f.apprec_error.is_some(),
                "schema-level errors map to an AppRec code: {f:?}"
            );
        }
    }
}

/// Element names that occur in real messages, to build trees the schema
/// validator has to walk deeply.
const NAMES: &[&str] = &[
    "MsgHead",
    "MsgInfo",
    "Type",
    "MIGversion",
    "GenDate",
    "MsgId",
    "Sender",
    "Receiver",
    "Organisation",
    "OrganisationName",
    "Ident",
    "Id",
    "TypeId",
    "Patient",
    "Document",
    "RefDoc",
    "MsgType",
    "Content",
    "Innleggelsesrapport",
    "InformasjonOmForsendelsen",
    "Forsendelsesstatus",
    "InfoKartleggingFunksjonsniva",
    "KartlagtFunksjon",
    "Vurdering",
    "Funksjonsvariabel",
    "Merknad",
    "Pasientlogistikk",
    "TidsfestetHendelse",
    "Hendelsekode",
];

fn tree() -> impl Strategy<Value = String> {
    let leaf = (0..NAMES.len(), "[a-z0-9 :-]{0,12}")
        .prop_map(|(i, t)| format!("<{0}>{1}</{0}>", NAMES[i], t));
    leaf.prop_recursive(6, 64, 6, |inner| {
        (
            0..NAMES.len(),
            prop::collection::vec(inner, 0..6),
            any::<bool>(),
        )
            .prop_map(|(i, kids, v)| {
                let attr = if v { " V=\"1\" DN=\"x\"" } else { "" };
                format!("<{0}{attr}>{1}</{0}>", NAMES[i], kids.concat())
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn random_trees_in_the_msghead_namespace_never_panic(body in tree()) {
        let doc = format!(
            "<?xml version=\"1.0\"?><MsgHead xmlns=\"http://www.kith.no/xmlstds/msghead/2006-05-24\">{body}</MsgHead>"
        );
        check(doc.as_bytes());
    }

    #[test]
    fn edited_official_examples_never_panic(
        which in 0usize..22,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..40, "[<>/&;=\"a-zA-Z0-9 ]{0,8}"), 1..6),
    ) {
        let mut s = examples()[which].clone().into_bytes();
        for (at, del, ins) in edits {
            let i = at.index(s.len().max(1)).min(s.len());
            let j = (i + del).min(s.len());
            s.splice(i..j, ins.bytes());
        }
        check(&s);
    }
}
