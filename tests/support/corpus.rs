//! Where the tests find the repository and the public standards.
//!
//! The standards (`../shared/standards/` beside the repository) are read at
//! run time and never copied into the repository; a test that needs them
//! fails, never skips, when they are missing.

#![allow(dead_code)] // each test crate uses part of this module

use std::path::{Path, PathBuf};

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/standards`, which must be there.
pub fn standards() -> PathBuf {
    let p = repo().join("../shared/standards");
    assert!(
        p.join("examples/plo-1.6").is_dir(),
        "the public standards are missing: expected {}/examples/plo-1.6 (see ../shared/standards/README.md)",
        p.display()
    );
    p
}

/// The folder of the 22 official PLO v1.6 examples.
pub fn official_dir() -> PathBuf {
    standards().join("examples/plo-1.6")
}

/// The 22 official PLO v1.6 examples as (file name, path), sorted by name.
pub fn official_examples() -> Vec<(String, PathBuf)> {
    let dir = official_dir();
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, p)
        })
        .collect();
    v.sort();
    assert_eq!(
        v.len(),
        22,
        "expected the 22 official PLO v1.6 examples in {}",
        dir.display()
    );
    v
}

/// The official example `name`'s bytes.
pub fn example(name: &str) -> Vec<u8> {
    std::fs::read(official_dir().join(name)).expect("read example")
}

/// The 22 official examples as (file name, bytes), sorted by name.
pub fn examples() -> Vec<(String, Vec<u8>)> {
    official_examples()
        .into_iter()
        .map(|(n, p)| (n, std::fs::read(&p).expect("read example")))
        .collect()
}

/// `bytes` addressed to another receiver: organisation `org` (instead of
/// Alvdal kommune, 99387) and unit `unit` (instead of 5078), each of which
/// the message must name once.
pub fn addressed_to(bytes: &[u8], org: &str, unit: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    for id in ["<Id>99387</Id>", "<Id>5078</Id>"] {
        assert_eq!(text.matches(id).count(), 1, "{id} once");
    }
    text.replace("<Id>99387</Id>", &format!("<Id>{org}</Id>"))
        .replace("<Id>5078</Id>", &format!("<Id>{unit}</Id>"))
        .into_bytes()
}

/// An official example with its journey's dates moved: the admission
/// (29.01.2018) to `admitted`, the ready date (31.01.2018) to `ready` (both
/// `YYYY-MM-DD`, in the XML's dates and in its texts). The MsgId is left
/// as it is (see `server::fresh`).
pub fn journey_step(name: &str, admitted: &str, ready: &str) -> Vec<u8> {
    let text = String::from_utf8(example(name)).expect("utf-8");
    let no = |d: &str| format!("{}.{}.{}", &d[8..10], &d[5..7], &d[0..4]);
    text.replace("2018-01-29", admitted)
        .replace("29.01.2018", &no(admitted))
        .replace("2018-01-31", ready)
        .replace("31.01.2018", &no(ready))
        .into_bytes()
}
