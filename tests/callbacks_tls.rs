//! Verdict callbacks over https with a durable outbox: delivered notices are marked done,
//! notices to an untrusted server stay pending for the next start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tunggal::engine::callback::{spawn_durable, Notice};
use tunggal::engine::callback_policy::{AddressPolicy, DeliveryPolicy};
use tunggal::engine::outbox::Outbox;

/// An https receiver on 127.0.0.1 with a certificate for `localhost`; returns its port, the
/// certificate file and the channel of received bodies.
async fn tls_receiver(
    dir: &std::path::Path,
) -> (
    u16,
    std::path::PathBuf,
    tokio::sync::mpsc::UnboundedReceiver<Value>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let acceptor = tunggal::service::tls::acceptor(&cert_path, &key_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let bytes = req.into_body().collect().await?.to_bytes();
                        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                            let _ = tx.send(v);
                        }
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from("ok"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, cert_path, rx)
}

/// The receiver is on loopback: its addresses must be allowed.
fn loopback() -> DeliveryPolicy {
    DeliveryPolicy {
        addresses: AddressPolicy::allow_all(),
        ..DeliveryPolicy::default()
    }
}

async fn pending(dir: &std::path::Path) -> usize {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || Outbox::open(&dir).unwrap().1.len())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_callbacks_are_delivered_and_untrusted_ones_stay_pending() {
    let certs = tempfile::tempdir().unwrap();
    let (port, ca, mut rx) = tls_receiver(certs.path()).await;
    let url = format!("https://localhost:{port}/cb");

    // Trusted through the extra CA file: delivered, then marked done in the outbox.
    let data = tempfile::tempdir().unwrap();
    let notifier = spawn_durable(data.path(), Some(&ca), loopback()).unwrap();
    notifier.notify(Notice {
        url: url.clone(),
        body: json!({"request_id": "tls-1", "verdict": "single"}),
    });
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no https callback within 30 s")
        .unwrap();
    assert_eq!(got["request_id"], "tls-1");
    let mut left = 1;
    for _ in 0..50 {
        left = pending(data.path()).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "a delivered callback is still pending");

    // Without the CA the server is not trusted: nothing arrives, the notice stays pending.
    let other = tempfile::tempdir().unwrap();
    let untrusting = spawn_durable(other.path(), None, loopback()).unwrap();
    untrusting.notify(Notice {
        url,
        body: json!({"request_id": "tls-2", "verdict": "single"}),
    });
    let quiet = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
    assert!(quiet.is_err(), "posted to an untrusted server");
    assert_eq!(pending(other.path()).await, 1);
}
