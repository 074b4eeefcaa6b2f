//! Test certificates made with `openssl` (Debian package openssl): a CA, a
//! server certificate for 127.0.0.1 and localhost, and a client
//! certificate (subject `CN=ehr-mtls, O=Test HF`), all signed by the CA:
//! `ca.pem`, `server.pem` + `server-key.pem`, `client.pem` +
//! `client-key.pem` in the given folder. Used by the gateway's TLS tests,
//! the operators' CLI over https and the deliverer's mutual-TLS test
//! (which includes this file by path).

#![allow(dead_code)] // each test crate uses part of this module

use std::path::Path;
use std::process::Command;

pub fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the CA, server and client certificates in `d`.
pub fn make_certificates(d: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Overgang test CA",
    ]);
    openssl(&args, d);
    for (name, subj, ext) in [
        (
            "server",
            "/CN=localhost",
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        ),
        (
            "client",
            "/CN=ehr-mtls/O=Test HF",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        issue(
            d,
            subj,
            ext,
            &format!("{name}-key.pem"),
            &format!("{name}.pem"),
        );
    }
}

/// Makes a P-256 key `key` and a certificate `crt` (paths relative to `d`,
/// or absolute) with subject `subj` and the extensions `ext`, signed by the
/// CA in `d` (`ca.pem`, `ca-key.pem`).
pub fn issue(d: &Path, subj: &str, ext: &str, key: &str, crt: &str) {
    let csr = format!("{crt}.csr");
    let cnf = format!("{crt}.cnf");
    std::fs::write(d.join(&cnf), ext).expect("ext");
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            &csr,
            "-subj",
            subj,
        ],
        d,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            crt,
            "-days",
            "2",
            "-extfile",
            &cnf,
        ],
        d,
    );
}
