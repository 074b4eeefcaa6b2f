//! The oracle for AppRecs: xmllint (Debian package libxml2-utils) with the
//! official AppRec schemas from `../shared/standards/xsd/`.

#![allow(dead_code)] // each test crate uses part of this module

use std::path::Path;
use std::process::Command;

/// Runs xmllint on `apprecs` (name, XML) with the official schema of AppRec
/// `version` ("1.0" or "1.1"), writing them into `dir`; panics naming each
/// one that does not validate.
pub fn assert_apprecs_validate(dir: &Path, version: &str, apprecs: &[(String, String)]) {
    let xsd = super::corpus::standards().join(match version {
        "1.0" => "xsd/AppRec-v1-2004-11-21.xsd",
        _ => "xsd/AppRec-v1.1.xsd",
    });
    let mut files = Vec::new();
    for (i, (name, xml)) in apprecs.iter().enumerate() {
        let f = dir.join(format!("apprec-{version}-{i:02}.xml"));
        std::fs::write(&f, xml).expect("write apprec");
        files.push((name.clone(), f));
    }
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&xsd)
        .args(files.iter().map(|(_, f)| f))
        .output()
        .expect("xmllint must be installed (Debian package libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (name, f) in &files {
        assert!(
            stderr.contains(&format!("{} validates", f.display())),
            "the AppRec answering {name} does not validate:\n{stderr}"
        );
    }
    assert!(out.status.success(), "{stderr}");
}
