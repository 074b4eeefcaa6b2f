//! Delivery over HTTPS with a client certificate, as the registry names it:
//! a receiver on 127.0.0.1 that requires mutual TLS (certificates made with
//! `openssl` for the test, the CA given as `delivery.ca_file`) gets the
//! message from a party whose `auth` names the client certificate and key;
//! a party without them cannot even finish the handshake, and its delivery
//! is retried with the error, not dropped.

use super::tests::{message, receiver_app, ManualClock, Script, TestDir, T0};
use super::*;
use overgang_store::sqlite::{SqliteOptions, SqliteStore};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};

#[path = "../../../tests/support/certs.rs"]
mod certs;

/// A receiver that requires a client certificate signed by the test CA.
async fn mtls_receiver(d: &Path, script: Arc<Mutex<Script>>) -> std::net::SocketAddr {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(d.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(d.join("server-key.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(d.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = receiver_app(script);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return; // no or a wrong client certificate
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_client_certificate_from_the_registry_opens_a_mutual_tls_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certs::make_certificates(d);
    let script = Arc::new(Mutex::new(Script::default()));
    let addr = mtls_receiver(d, script.clone()).await;
    let registry = format!(
        r#"
[[party]]
her = "100"
name = "Mottaker med klientsertifikat"
kind = "organisation"
endpoint = "https://127.0.0.1:{port}/plo"
auth = {{ client_cert = "client.pem", client_key = "client-key.pem" }}
accepts = [{{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }}]

[[party]]
her = "300"
name = "Samme mottaker uten sertifikat"
kind = "organisation"
endpoint = "https://127.0.0.1:{port}/plo"
accepts = [{{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }}]
"#,
        port = addr.port()
    );
    let store = Arc::new(SqliteStore::open(&d.join("db"), SqliteOptions::default()).unwrap());
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let deliverer = Arc::new(
        Deliverer::new(
            store.clone(),
            Arc::new(TestDir {
                reg: Arc::new(Registry::parse("test.toml", &registry).unwrap()),
                dir: d.to_owned(),
            }),
            clock.clone(),
            DeliveryConfig {
                poll_ms: 50,
                ca_file: Some(d.join("ca.pem")),
                ..DeliveryConfig::default()
            },
        )
        .unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(deliverer.clone().run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    store
        .submit(message("tls-1", "p1", "100", T0))
        .await
        .unwrap();
    store
        .submit(message("tls-2", "p2", "300", T0))
        .await
        .unwrap();
    deliverer.waker().notify_one();

    let state_of = |msg: &'static str| {
        let store = store.clone();
        async move {
            store.deliveries_of(&format!("id-{msg}")).await.unwrap()[0]
                .0
                .clone()
        }
    };
    let mut ok = None;
    let mut refused = None;
    for _ in 0..500 {
        let a = state_of("tls-1").await;
        let b = state_of("tls-2").await;
        if a.state == DeliveryState::Acknowledged
            && b.attempts >= 1
            && b.state == DeliveryState::Queued
        {
            ok = Some(a);
            refused = Some(b);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ok = ok.expect("delivered over mutual TLS and acknowledged");
    assert_eq!(ok.attempts, 1);
    assert_eq!(
        lock(&script).seen.len(),
        1,
        "only the party with a certificate got through"
    );
    let refused = refused.expect("the party without a certificate is retried");
    let err = refused.last_error.unwrap_or_default();
    assert!(err.contains("no connection"), "{err}");
    assert_eq!(clock.0.load(Ordering::SeqCst), T0);

    let _ = stop.send(());
    task.await.unwrap();
    store.close().await.unwrap();
}
