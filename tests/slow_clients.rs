//! Slow-client and connection-flood drill: idle connections, half-sent headers and trickling
//! uploads do not starve a normal client; the server cuts them off with its timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::time::{Duration, Instant};

use ops_harness::{config, http, parse_reply, request_bytes, start, PreparingEngine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; `None` if it stays open past `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut raw)).await {
        Ok(_) => Some(raw),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_clients_do_not_starve_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.header_read_timeout_secs = 2;
    cfg.body_read_timeout_secs = 2;
    cfg.max_connections = 48;
    let server = start(cfg, PreparingEngine::new()).await;
    let addr = server.addr;

    // More connections than the server serves at once: silent ones and ones that stop in the
    // middle of their headers.
    let mut idle = Vec::new();
    for i in 0..60 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"POST /v1/enrolments HTTP/1.1\r\nhost: x\r\ncontent-ty")
                .await
                .unwrap();
        }
        idle.push(s);
    }
    // Uploads that announce a body and trickle it a byte at a time.
    let mut slow = Vec::new();
    for _ in 0..3 {
        let s = TcpStream::connect(addr).await.unwrap();
        slow.push(tokio::spawn(async move {
            let (mut rx, mut tx) = s.into_split();
            let head = "POST /v1/enrolments HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\n\
                        content-type: application/json\r\ncontent-length: 100000\r\n\r\n";
            let started = Instant::now();
            let writer = tokio::spawn(async move {
                if tx.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..300 {
                    if tx.write_all(b" ").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let mut raw = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(25), rx.read_to_end(&mut raw)).await;
            writer.abort();
            (read.is_ok(), raw, started.elapsed())
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A normal client from another service point gets its answer.
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        http(addr, &request_bytes("GET", "/health", &[], b"")),
    )
    .await
    .expect("normal request starved by idle and slow clients")
    .unwrap();
    assert_eq!(reply.status, 200);
    let normal_latency = started.elapsed();
    println!("normal request answered after {normal_latency:?} with 63 hostile connections open");

    // The slow uploads are cut off with 408 body_timeout, well before their 30 s of trickle.
    for task in slow {
        let (closed, raw, elapsed) = task.await.unwrap();
        assert!(closed, "slow upload not cut off");
        let reply = parse_reply(&raw).unwrap();
        assert_eq!(reply.status, 408, "{}", String::from_utf8_lossy(&raw));
        assert_eq!(reply.problem_reason(), "body_timeout");
        assert!(
            elapsed < Duration::from_secs(20),
            "cut off after {elapsed:?}"
        );
    }
    // The idle connections and half-sent headers are closed by the header-read timeout.
    for (i, s) in idle.iter_mut().enumerate() {
        let raw = closed_within(s, Duration::from_secs(20)).await;
        assert!(raw.is_some(), "idle connection {i} still open");
    }
    // And the server keeps answering afterwards.
    let reply = http(addr, &request_bytes("GET", "/health", &[], b""))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.header_read_timeout_secs = 1;
    let server = start(cfg, PreparingEngine::new()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // A keep-alive request, then silence.
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let raw = closed_within(&mut s, Duration::from_secs(15))
        .await
        .expect("idle keep-alive connection still open");
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    server.stop().await;
}
