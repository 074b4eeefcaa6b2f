//! What fires on the 22 official PLO v1.6 examples, against a committed
//! snapshot (`tests/snapshots/official-examples.txt`).
//!
//! Each rule added to the catalogue, and each change to a rule, the
//! profiles or the validator, shows up here as a change of lines a reviewer
//! can read: which example, which code, which severity, which path. When the
//! change is intended, rewrite the snapshot and commit it with the change:
//!
//! ```text
//! OVERGANG_UPDATE_SNAPSHOTS=1 cargo test -p overgang --test rules_snapshot
//! ```

mod support {
    pub mod corpus;
    pub mod diff;
}

use overgang_validate::{Options, Validator};

const SNAPSHOT: &str = "tests/snapshots/official-examples.txt";
const UPDATE: &str = "OVERGANG_UPDATE_SNAPSHOTS";

/// The snapshot text: a header line per example (sorted by file name) with
/// its verdict, then one line per finding, `code severity path`, in the
/// order the validator produced them.
fn render() -> String {
    let v = Validator::new(Options::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut out = format!(
        "# What fires on the 22 official PLO v1.6 examples: per example its verdict,\n\
         # then one line per finding: code severity path.\n\
         # Written by tests/rules_snapshot.rs; to rewrite it after an intended change:\n\
         #   {UPDATE}=1 cargo test -p overgang --test rules_snapshot\n"
    );
    for (name, path) in support::corpus::official_examples() {
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let report = v.validate(&bytes);
        out.push_str(&format!(
            "\n{name}: {} ({} findings)\n",
            report.verdict.as_str(),
            report.findings.len()
        ));
        for f in &report.findings {
            let path = if f.path.is_empty() { "-" } else { &f.path };
            out.push_str(&format!("  {} {} {path}\n", f.code, f.severity));
        }
    }
    out
}

#[test]
fn findings_on_the_official_examples_match_the_snapshot() {
    let file = support::corpus::repo().join(SNAPSHOT);
    let now = render();
    if std::env::var(UPDATE).is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(file.parent().expect("a folder")).expect("create the folder");
        std::fs::write(&file, &now).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        eprintln!(
            "{UPDATE}=1: rewrote {SNAPSHOT} ({} lines); review it with git diff and commit it",
            now.lines().count()
        );
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!("cannot read {SNAPSHOT} ({e}); create it with {UPDATE}=1 cargo test -p overgang --test rules_snapshot")
    });
    if let Some(diff) = support::diff::unified_diff(
        &format!("{SNAPSHOT} (committed)"),
        &format!("{SNAPSHOT} (now)"),
        &committed,
        &now,
    ) {
        panic!(
            "what fires on the official examples has changed:\n\n{diff}\n\
             If the change is intended, rewrite the snapshot and commit it:\n  \
             {UPDATE}=1 cargo test -p overgang --test rules_snapshot\n"
        );
    }
}
