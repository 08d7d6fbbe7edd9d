//! Request heads hyper cannot parse (malformed `Content-Length`, 5,000 headers, a 100 KB URI)
//! are answered 400/431/414 with an `application/problem+json` body and a reason, like every
//! other error (issue 15, item 6 "Error bodies").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::net::SocketAddr;
use std::time::Duration;

use ops_harness::{config, http, parse_reply, request_bytes, start, PreparingEngine, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `raw` (possibly more than the server reads before answering) and reads the answer
/// until the server closes; a reset after the answer is fine.
async fn send(addr: SocketAddr, raw: Vec<u8>) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = tx.write_all(&raw).await;
        tx
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let _ = writer.await;
    parse_reply(&answer).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&answer)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_heads_get_problem_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()), PreparingEngine::new()).await;
    let addr = server.addr;

    let mut many = String::from("GET /health HTTP/1.1\r\nhost: x\r\n");
    for i in 0..5000 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let cases: [(&str, Vec<u8>, u16, &str); 4] = [
        (
            "malformed Content-Length",
            b"POST /v1/enrolments HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (
            "two different Content-Lengths",
            b"POST /v1/enrolments HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"
                .to_vec(),
            400,
            "malformed_request",
        ),
        ("5,000 headers", many.into_bytes(), 431, "headers_too_large"),
        ("100 KB URI", long_uri.into_bytes(), 414, "uri_too_long"),
    ];
    for (name, raw, status, reason) in cases {
        let reply = send(addr, raw).await;
        assert_eq!(reply.status, status, "{name}");
        assert_eq!(reply.problem_reason(), reason, "{name}");
        println!("{name}: {status} {reason}");
    }
    // `/` is a landing page linking to the review pages and the API description.
    let landing = send(
        addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert_eq!(landing.status, 200);
    let page = String::from_utf8_lossy(&landing.body);
    for link in ["href=\"/review\"", "href=\"/openapi.json\""] {
        assert!(page.contains(link), "{link} missing: {page}");
    }
    // Ordinary answers pass through untouched, on a keep-alive connection too.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nGET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("HTTP/1.1 404 Not Found"), "{text}");
    let reply = http(addr, &request_bytes("GET", "/health", &[], b""))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    server.stop().await;
}
