//! TLS: with `tls_cert`/`tls_key` the server speaks HTTPS (rustls) with a self-signed
//! certificate generated here, refuses plain HTTP, and still shuts down gracefully.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::sync::Arc;
use std::time::Duration;

use ops_harness::{config, read_reply, request_bytes, start, PreparingEngine};
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn connector(cert_der: rustls::pki_types::CertificateDer<'static>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, generated.cert.pem()).unwrap();
    std::fs::write(&key_path, generated.key_pair.serialize_pem()).unwrap();
    let mut cfg = config(&dir.path().join("data"));
    cfg.tls_cert = Some(cert_path);
    cfg.tls_key = Some(key_path);
    let server = start(cfg, PreparingEngine::new()).await;
    let connector = connector(generated.cert.der().clone());
    let name = ServerName::try_from("localhost").unwrap();

    // Two requests over TLS: liveness and a problem+json answer from a protected route.
    for (path, status) in [("/health", 200), ("/v1/identify", 401)] {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
        let method = if status == 200 { "GET" } else { "POST" };
        tls.write_all(&request_bytes(method, path, &[], b""))
            .await
            .unwrap();
        let reply = read_reply(&mut tls).await.unwrap();
        assert_eq!(reply.status, status, "{path}");
        if status != 200 {
            assert_eq!(reply.problem_reason(), "unauthorized");
        }
    }

    // Plain HTTP on the TLS port gets no HTTP answer: the handshake fails and the
    // connection closes.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(&request_bytes("GET", "/health", &[], b""))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_reply(&mut plain))
        .await
        .expect("plain connection not closed");
    assert!(
        answer.as_ref().map_or(true, |r| r.status != 200),
        "plain HTTP answered on the TLS port"
    );

    // A client that does not trust the certificate fails the handshake.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let untrusting = self::connector(other.cert.der().clone());
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    assert!(untrusting.connect(name.clone(), tcp).await.is_err());

    // Graceful shutdown with an idle TLS connection open still completes.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let _idle = connector.connect(name, tcp).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("shutdown hung with an idle TLS connection");
}
