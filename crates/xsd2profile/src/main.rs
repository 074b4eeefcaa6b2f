//! xsd2profile: derives Overgang's message profiles (`schemas/profiles/`) from
//! the official XML Schemas.
//!
//! Usage: `xsd2profile <xsd-dir> <out-dir>` (from the repository root:
//! `cargo run -p xsd2profile -- ../shared/standards/xsd schemas/profiles`).
//!
//! The profiles carry facts only (names, cardinalities, types, facets, code
//! list numbers); annotations, documentation and comments are dropped. The
//! format is described in `docs/PROFILES.md`.

use anyhow::{bail, Context, Result};
use std::path::Path;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(xsd_dir), Some(out_dir)) = (args.first(), args.get(1)) else {
        bail!("usage: xsd2profile <xsd-dir> <out-dir>");
    };
    let files = xsd2profile::generate(Path::new(xsd_dir))?;
    let out = Path::new(out_dir);
    for (rel, text) in &files {
        let path = out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("wrote {} profiles to {}", files.len(), out.display());
    Ok(())
}
