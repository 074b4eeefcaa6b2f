//! The committed data equals what the generator makes from the standards'
//! extract. Fails (does not skip) when `../shared/standards` is missing.

use overgang_codelists::{generate, CodeLists, LISTS};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn committed_data_equals_regenerated() {
    let src = root().join("../shared/standards/kodeverk/kodeverk.csv");
    let csv = std::fs::read_to_string(&src)
        .unwrap_or_else(|e| panic!("the standards folder is required: {}: {e}", src.display()));
    let files = generate(&csv).expect("generate");
    assert_eq!(files.len(), LISTS.len());
    for (num, text) in files {
        let path = root().join(format!("schemas/codelists/{num}.tsv"));
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            committed, text,
            "schemas/codelists/{num}.tsv differs; run `cargo run -p overgang-codelists --bin gen-codelists`"
        );
    }
}

#[test]
fn builtin_has_the_lists_plo_needs() {
    let c = CodeLists::builtin();
    for l in [8279, 7309, 9121, 9111, 9141, 8116, 9051, 8221, 8258] {
        assert!(c.get(l).is_some(), "list {l}");
    }
    assert_eq!(c.display(8258, "2"), Some("Avvist"));
    assert!(c.contains(7309, "N"));
    assert!(c.contains(8279, "INNLEGGELSESRAPPORT"));
    assert!(c.contains(8221, "T02"));
    assert!(c.contains(8116, "FNR"));
    assert!(c.contains(9051, "HER"));
    assert_eq!(c.get(9111).map(|l| l.len()), Some(18));
    assert!(!c.contains(9111, "19"));
    assert!(c.contains(9121, "13"));
    assert_eq!(
        c.by_oid("2.16.578.1.12.4.1.1.9141").map(|l| l.number),
        Some(9141)
    );
    assert!(c
        .get(9111)
        .is_some_and(|l| l.oid() == "2.16.578.1.12.4.1.1.9111"));
}
