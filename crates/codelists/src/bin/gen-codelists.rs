//! Regenerates `schemas/codelists/*.tsv` from the standards' code list extract.
//!
//! Usage: `gen-codelists [SOURCE_CSV] [OUT_DIR]`, defaults
//! `../shared/standards/kodeverk/kodeverk.csv` and `schemas/codelists`
//! (relative to the repository root).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args = std::env::args().skip(1);
    let src = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/standards/kodeverk/kodeverk.csv"));
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("schemas/codelists"));
    let csv = match std::fs::read_to_string(&src) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gen-codelists: cannot read {}: {e}", src.display());
            return ExitCode::FAILURE;
        }
    };
    let files = match overgang_codelists::generate(&csv) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gen-codelists: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("gen-codelists: cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    for (num, text) in files {
        let path = out.join(format!("{num}.tsv"));
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("gen-codelists: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
