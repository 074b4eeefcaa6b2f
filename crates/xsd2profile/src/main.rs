//! xsd2profile: derives Overgang's message profiles (`schemas/profiles/`) from
//! the official XML Schemas.
//!
//! Usage: `xsd2profile <xsd-dir> <out-dir> [--extensions <dir>]` (from the
//! repository root:
//! `cargo run -p xsd2profile -- ../shared/standards/xsd schemas/profiles --extensions schemas/extensions`).
//! `--extensions` adds the profiles of Overgang's own extension schemas
//! (`schemas/extensions/overgang-<name>-v<version>.xsd`) under
//! `<out-dir>/extensions/`.
//!
//! The profiles carry facts only (names, cardinalities, types, facets, code
//! list numbers); annotations, documentation and comments are dropped. The
//! format is described in `docs/PROFILES.md`.

use anyhow::{bail, Context, Result};
use std::path::Path;

fn main() -> Result<()> {
    const USAGE: &str = "usage: xsd2profile <xsd-dir> <out-dir> [--extensions <dir>]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (xsd_dir, out_dir, ext_dir) = match args.as_slice() {
        [x, o] => (x, o, None),
        [x, o, flag, e] if flag == "--extensions" => (x, o, Some(e)),
        _ => bail!(USAGE),
    };
    let mut files = xsd2profile::generate(Path::new(xsd_dir))?;
    if let Some(e) = ext_dir {
        files.extend(xsd2profile::generate_extensions(Path::new(e))?);
    }
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
