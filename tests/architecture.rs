//! Pins ARCHITECTURE.md's invariant 1: the pure crates — model, parsing,
//! validation, code lists, receipts, the address registry's parser,
//! routing, the metrics primitives — do no IO, read no clock and keep no
//! global state. A source scan, so a change that breaks it fails review
//! here rather than in production.

use std::path::{Path, PathBuf};

const PURE_CRATES: &[&str] = &[
    "xml",
    "model",
    "schema",
    "codelists",
    "rules",
    "apprec",
    "validate",
    "registry",
    "route",
    "timefmt",
    "present",
    "metrics",
    "flow",
];

/// Cells that must not be `static` in a pure crate.
const LAZY_CELLS: &[&str] = &["OnceLock", "OnceCell", "LazyLock", "LazyCell"];

/// What a pure crate must not name outside its tests.
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "std::io::stdin",
    "std::io::stdout",
    "SystemTime",
    "Instant::now",
    "Utc::now",
    "Local::now",
    "tokio",
    "reqwest",
    "rusqlite",
    "static mut",
    "thread_local!",
    "lazy_static",
    "println!",
    "eprintln!",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            // Developer tools (generators) live in src/bin and may do IO.
            if name != "bin" && name != "tests" {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(p);
        }
    }
}

/// The part of a source file before its unit-test module.
fn non_test_part(src: &str) -> &str {
    match src.find("#[cfg(test)]") {
        Some(i) => &src[..i],
        None => src,
    }
}

#[test]
fn pure_crates_do_no_io_read_no_clock_and_keep_no_global_state() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut violations = Vec::new();
    let mut scanned = 0;
    for krate in PURE_CRATES {
        let src = root.join("crates").join(krate).join("src");
        assert!(
            src.is_dir(),
            "crate {krate} has no src/ at {}",
            src.display()
        );
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read source");
            scanned += 1;
            for (n, line) in non_test_part(&text).lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for bad in FORBIDDEN {
                    if code.contains(bad) {
                        violations.push(format!("{}:{}: {bad}", f.display(), n + 1));
                    }
                }
                // A lazily filled cell is fine as a field of a value (the
                // document's line index); as a `static` it is global state.
                if code.contains("static ") {
                    for cell in LAZY_CELLS {
                        if code.contains(cell) {
                            violations.push(format!("{}:{}: static {cell}", f.display(), n + 1));
                        }
                    }
                }
            }
        }
    }
    assert!(scanned >= PURE_CRATES.len(), "scanned only {scanned} files");
    assert!(
        violations.is_empty(),
        "pure crates must not:\n{}",
        violations.join("\n")
    );
}
