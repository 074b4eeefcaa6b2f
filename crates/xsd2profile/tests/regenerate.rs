//! The committed profiles must be exactly what the generator makes from the
//! official XSDs and from Overgang's own extension schemas
//! (`schemas/extensions/`). Fails (does not skip) when the standards folder
//! is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const XSD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/standards/xsd");
const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/profiles");
const EXTENSIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/extensions");

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("read profile dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "profile") {
            let rel = path
                .strip_prefix(root)
                .expect("relative path")
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&path).expect("read profile"));
        }
    }
}

#[test]
fn committed_profiles_match_the_generator() {
    assert!(
        Path::new(XSD_DIR).is_dir(),
        "the official XSDs are missing at {XSD_DIR}; this test needs ../shared/standards"
    );
    let mut generated = xsd2profile::generate(Path::new(XSD_DIR)).expect("generate profiles");
    let extensions =
        xsd2profile::generate_extensions(Path::new(EXTENSIONS)).expect("generate extensions");
    assert!(
        extensions
            .iter()
            .any(|(p, _)| p == "extensions/funksjonsprofil-1.0.profile"),
        "the Funksjonsprofil extension profile is not generated"
    );
    generated.extend(extensions);

    // Write into a temporary directory, as the binary would, and read back.
    let tmp: PathBuf =
        std::env::temp_dir().join(format!("xsd2profile-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (rel, text) in &generated {
        let p = tmp.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }
    let mut fresh = BTreeMap::new();
    read_tree(&tmp, &tmp, &mut fresh);
    let _ = std::fs::remove_dir_all(&tmp);

    let mut committed = BTreeMap::new();
    read_tree(Path::new(PROFILES), Path::new(PROFILES), &mut committed);

    let fresh_names: Vec<_> = fresh.keys().collect();
    let committed_names: Vec<_> = committed.keys().collect();
    assert_eq!(
        fresh_names, committed_names,
        "profile file sets differ; rerun xsd2profile (with --extensions schemas/extensions)"
    );
    for (name, text) in &fresh {
        assert!(
            committed.get(name) == Some(text),
            "schemas/profiles/{name} is stale; rerun: cargo run -p xsd2profile -- ../shared/standards/xsd schemas/profiles --extensions schemas/extensions"
        );
    }
}

#[test]
fn profiles_carry_no_prose() {
    let mut committed = BTreeMap::new();
    read_tree(Path::new(PROFILES), Path::new(PROFILES), &mut committed);
    assert!(!committed.is_empty());
    for (name, text) in &committed {
        for line in text.lines() {
            assert!(
                !line.contains("documentation") && !line.contains("annotation"),
                "{name}: {line}"
            );
        }
    }
}
