//! `overgang healthcheck`: asks a running gateway's `/healthz` (or any URL)
//! and exits 0 when it answers 2xx, 1 when it answers anything else or not
//! at all. It is the container image's `HEALTHCHECK` (docker/Dockerfile),
//! which then needs no curl in the image.
//!
//! With `--config` the URL comes from the gateway's own configuration, read
//! as `serve` reads it (the file, then `OVERGANG_…` variables): its listen
//! address (an unspecified one, `0.0.0.0` or `::`, is asked on loopback),
//! and https when it has `[tls]`. Over https it trusts exactly the
//! certificate the gateway serves (the first one in `[tls] cert`), whatever
//! names it carries, so a certificate for the gateway's public name answers
//! a check on loopback; `--ca` trusts a CA instead, and checks the name.

use anyhow::{Context, Result};
use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The URL to ask [default: from --config, else
    /// http://127.0.0.1:8080/healthz].
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    url: Option<Url>,
    /// The gateway's configuration file: ask its listen address (on
    /// loopback when it listens on all addresses), over https when it has
    /// [tls], trusting the certificate it serves.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The path asked when the URL comes from --config or the default.
    #[arg(long, value_name = "PATH", default_value = "/healthz")]
    path: String,
    /// PEM file of CA certificates to trust for https (instead of the
    /// configured certificate).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// The longest wait for the whole answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    timeout_secs: u64,
}

/// What to ask and whom to trust.
struct Target {
    url: Url,
    /// The certificate the gateway serves, when trusted by pinning.
    pinned: Option<CertificateDer<'static>>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let target = target(&args)?;
    let client = client(&args, target.pinned)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    let url = target.url;
    let answer = runtime.block_on(async { client.get(url.clone()).send().await });
    match answer {
        Ok(r) if r.status().is_success() => {
            println!("{url}: {}", r.status());
            Ok(ExitCode::SUCCESS)
        }
        Ok(r) => {
            eprintln!("{url}: {} (ikke frisk / not healthy)", r.status());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(s) = cause.source() {
                cause = s;
            }
            eprintln!("{url}: intet svar / no answer ({cause})");
            Ok(ExitCode::from(1))
        }
    }
}

fn target(args: &Args) -> Result<Target> {
    anyhow::ensure!(
        args.path.starts_with('/'),
        "--path {:?}: must start with / / må begynne med /",
        args.path
    );
    if let Some(url) = &args.url {
        return Ok(Target {
            url: url.clone(),
            pinned: None,
        });
    }
    let Some(path) = &args.config else {
        let url = Url::parse(&format!("http://127.0.0.1:8080{}", args.path))
            .context("--path: not a URL path")?;
        return Ok(Target { url, pinned: None });
    };
    let config = overgang_server::Config::load(Some(path), std::env::vars())?;
    let addr = asked_addr(config.server.listen);
    let (scheme, pinned) = match (&config.tls, &args.ca) {
        (None, _) => ("http", None),
        (Some(_), Some(_)) => ("https", None),
        (Some(tls), None) => {
            let first = CertificateDer::pem_file_iter(&tls.cert)
                .and_then(|mut certs| certs.next().transpose())
                .map_err(|e| anyhow::anyhow!("{}: {e}", tls.cert.display()))?
                .with_context(|| {
                    format!(
                        "{}: ingen sertifikater i filen / no certificate in the file",
                        tls.cert.display()
                    )
                })?;
            ("https", Some(first))
        }
    };
    let url =
        Url::parse(&format!("{scheme}://{addr}{}", args.path)).context("--path: not a URL path")?;
    Ok(Target { url, pinned })
}

/// The address to ask a server listening on `listen`: itself, or loopback
/// of the same family when it listens on every address.
fn asked_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

fn client(args: &Args, pinned: Option<CertificateDer<'static>>) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // reqwest is built without a crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(args.timeout_secs.max(1)))
        .user_agent(concat!("overgang-healthcheck/", env!("CARGO_PKG_VERSION")));
    if let Some(cert) = pinned {
        let verifier = Pinned {
            cert,
            algorithms: provider.signature_verification_algorithms,
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        b = b.use_preconfigured_tls(tls);
    } else if let Some(ca) = &args.ca {
        let pem = read(ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
            anyhow::anyhow!(
                "--ca {}: ikke PEM-sertifikater / not PEM certificates",
                ca.display()
            )
        })?;
        anyhow::ensure!(
            !certs.is_empty(),
            "--ca {}: ingen sertifikater i filen / no certificate in the file",
            ca.display()
        );
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().context("could not build the HTTP client")
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("{}: kunne ikke lese / could not read", p.display()))
}

/// Trusts one certificate: the one the gateway is configured to serve. The
/// handshake's signatures are still checked against it, so only the holder
/// of its private key passes.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the configured one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_are_asked_on_loopback() {
        let a = |s: &str| asked_addr(s.parse().unwrap()).to_string();
        assert_eq!(a("0.0.0.0:8443"), "127.0.0.1:8443");
        assert_eq!(a("[::]:8443"), "[::1]:8443");
        assert_eq!(a("127.0.0.1:8081"), "127.0.0.1:8081");
        assert_eq!(a("10.1.2.3:443"), "10.1.2.3:443");
    }
}
