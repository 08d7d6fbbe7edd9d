//! Connection-exhaustion drill: 2,000 idle and slowloris connections, reopened as soon as the
//! server closes them, must not lock out `/health` probes or an authenticated enrolment.
//!
//! The server runs on its own runtime, the attackers on a second, the probe on a third
//! (current-thread, its own OS thread), so the measured latency is the server's answer time
//! under the flood, not the probe waiting behind attacker tasks in one scheduler. Everything is
//! on loopback; attackers bind to 127.0.0.2 … 127.0.0.41 so the per-address cap and the
//! general pool are both in play, and the probe connects from 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ops_harness::{
    config, enrolment, exchange, http, post_json, request_bytes, service_point_key, start,
    PreparingEngine, Reply, ADMIN_KEY,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::runtime::Runtime;

/// Connections the attackers keep open (reopening each one the server closes).
const ATTACKERS: usize = 2000;
/// Loopback source addresses the attackers spread over.
const ATTACK_ADDRESSES: usize = 40;
/// How long probes are measured while the flood is on.
const MEASURE: Duration = Duration::from_secs(10);
/// One `/health` probe every this often.
const PROBE_EVERY: Duration = Duration::from_millis(20);
/// The acceptance bound on the probes' p99.
const P99_BOUND: Duration = Duration::from_millis(100);
/// The bound for the overflow variant (see its test).
const STRESS_P99_BOUND: Duration = Duration::from_millis(250);
/// Most connections the attackers may open in total (bounds the drill's work).
const MAX_OPENED: u64 = 2_000_000;

fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// Raises the soft open-file limit to what the drill needs (client and server share this
/// process), or fails with the reason.
fn ensure_fd_limit(needed: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= needed {
        return;
    }
    let maximum = limit.maximum.unwrap_or(u64::MAX);
    assert!(
        maximum >= needed,
        "the drill needs {needed} open files; the hard limit is {maximum} (raise `ulimit -Hn`)"
    );
    limit.current = Some(needed);
    setrlimit(Resource::Nofile, limit).unwrap();
}

#[derive(Default)]
struct Flood {
    stop: AtomicBool,
    open: AtomicUsize,
    opened: AtomicU64,
    connect_errors: AtomicU64,
}

/// One attacker slot: connect from `source`, send nothing (or headers a byte every 100 ms),
/// wait for the server to close, reconnect, until told to stop.
async fn attacker(flood: Arc<Flood>, source: IpAddr, target: SocketAddr, slowloris: bool) {
    while !flood.stop.load(Ordering::Relaxed) && flood.opened.load(Ordering::Relaxed) < MAX_OPENED {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = match socket.connect(target).await {
            Ok(s) => s,
            Err(_) => {
                flood.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        flood.opened.fetch_add(1, Ordering::Relaxed);
        flood.open.fetch_add(1, Ordering::Relaxed);
        hold(stream, slowloris, &flood.stop).await;
        flood.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Holds one connection until the server closes it (or the drill stops).
async fn hold(stream: TcpStream, slowloris: bool, stop: &AtomicBool) {
    let (mut rx, mut tx) = stream.into_split();
    let head = b"POST /v1/enrolments HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut sent = 0;
    let mut buf = [0u8; 512];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            read = rx.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = tick.tick() => {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if slowloris && sent < head.len() {
                    if tx.write_all(&head[sent..=sent]).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
            }
        }
    }
}

/// What one flood run measured.
struct Outcome {
    shed_fresh: u64,
    timeouts: u64,
}

/// Runs the flood against a server with `cfg` and asserts the probes and enrolments held.
/// The attackers must hold at least `hold` connections open (their own count: connected and
/// not yet closed by the server) at the start and at the median of the window.
/// `max_failed` is the share of probes allowed to be shed (0 with the production pools).
fn drill(
    cfg: tunggal::service::ServiceConfig,
    hold: usize,
    p99_bound: Duration,
    max_failed: f64,
) -> Outcome {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ensure_fd_limit(8192);
    let server_rt = runtime(2);
    println!(
        "drill: pending pool {}, general pool {}, reserve {}, per address {}, first request {} s",
        cfg.max_pending_connections,
        cfg.max_connections,
        cfg.reserved_connections,
        cfg.max_connections_per_address,
        cfg.first_request_timeout_secs
    );
    let server = server_rt.block_on(start(cfg.clone(), PreparingEngine::new()));
    let addr = server.addr;
    let sp = server_rt.block_on(service_point_key(addr));

    let attack_rt = runtime(1);
    let flood = Arc::new(Flood::default());
    let started = Instant::now();
    for i in 0..ATTACKERS {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % ATTACK_ADDRESSES) as u8));
        attack_rt.spawn(attacker(flood.clone(), source, addr, i % 2 == 1));
    }
    // Ramp up: wait until the attackers hold (nearly) all their connections.
    while flood.open.load(Ordering::Relaxed) < hold {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "attackers reached only {} connections",
            flood.open.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "flood: {} connections open after {:?}",
        flood.open.load(Ordering::Relaxed),
        started.elapsed()
    );

    // The probe: its own thread and runtime.
    let probe_flood = flood.clone();
    let probe = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut latency = Histogram::<u64>::new_with_max(60_000_000, 3).unwrap();
            let mut failures = Vec::new();
            let mut open_samples = Vec::new();
            let mut enrolments = Vec::new();
            let opened_before = probe_flood.opened.load(Ordering::Relaxed);
            let begin = Instant::now();
            let mut next = tokio::time::Instant::now();
            let mut n = 0u32;
            while begin.elapsed() < MEASURE {
                tokio::time::sleep_until(next).await;
                next += PROBE_EVERY;
                n += 1;
                let t = Instant::now();
                let reply = tokio::time::timeout(
                    Duration::from_secs(15),
                    http(addr, &request_bytes("GET", "/health", &[], b"")),
                )
                .await;
                let elapsed = t.elapsed();
                match reply {
                    Ok(Ok(r)) if r.status == 200 => {
                        latency.record(elapsed.as_micros() as u64).unwrap();
                    }
                    other => failures.push(format!("{other:?}")),
                }
                open_samples.push(probe_flood.open.load(Ordering::Relaxed));
                // An authenticated enrolment every 2 s of the window.
                if n % 100 == 50 {
                    let body = serde_json::to_vec(&enrolment(&format!("flood-{n}"), n)).unwrap();
                    let t = Instant::now();
                    let r = tokio::time::timeout(
                        Duration::from_secs(15),
                        post_json(addr, "/v1/enrolments", &sp, &body),
                    )
                    .await
                    .expect("enrolment hung under the flood");
                    enrolments.push((r.status, r.json()["verdict"].clone(), t.elapsed()));
                }
            }
            let opened = probe_flood.opened.load(Ordering::Relaxed) - opened_before;
            (latency, failures, open_samples, enrolments, opened)
        })
    });
    let (latency, failures, mut open_samples, enrolments, opened) = probe.join().unwrap();

    // What the server saw, read while the flood is still on.
    let metrics = server_rt
        .block_on(http(
            addr,
            &request_bytes(
                "GET",
                "/metrics",
                &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
                b"",
            ),
        ))
        .unwrap();
    flood.stop.store(true, Ordering::Relaxed);
    attack_rt.shutdown_timeout(Duration::from_secs(5));

    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    let shed_fresh = counter("tunggal_connections_shed_total{phase=\"fresh\"}");
    let timeouts = counter("tunggal_connections_first_request_timeouts_total");
    open_samples.sort_unstable();
    let p = |q: f64| Duration::from_micros(latency.value_at_quantile(q));
    println!(
        "/health under the flood: {} probes, p50 {:?}, p99 {:?}, max {:?}, {} failed",
        latency.len(),
        p(0.5),
        p(0.99),
        Duration::from_micros(latency.max()),
        failures.len()
    );
    println!(
        "attacker connections open during the window: min {}, median {}; {opened} opened in \
         the window ({:.0}/s); connect errors {}",
        open_samples[0],
        open_samples[open_samples.len() / 2],
        opened as f64 / MEASURE.as_secs_f64(),
        flood.connect_errors.load(Ordering::Relaxed)
    );
    println!("server: {shed_fresh} fresh connections shed, {timeouts} first-request timeouts");
    for (status, verdict, elapsed) in &enrolments {
        println!("enrolment under the flood: {status} {verdict} in {elapsed:?}");
    }

    // The flood was real: the attackers held their connections through the window.
    assert!(
        open_samples[open_samples.len() / 2] >= hold,
        "the flood did not hold its connections"
    );
    // Every probe was answered, and fast.
    let sent = latency.len() as usize + failures.len();
    assert!(
        failures.len() as f64 <= max_failed * sent as f64,
        "{} of {sent} probes failed: {failures:?}",
        failures.len()
    );
    assert!(latency.len() as u32 >= (MEASURE.as_millis() / PROBE_EVERY.as_millis()) as u32 / 2);
    assert!(
        p(0.99) <= p99_bound,
        "/health p99 {:?} above {p99_bound:?}",
        p(0.99)
    );
    // Authenticated enrolments went through.
    assert!(enrolments.len() >= 4);
    for (status, verdict, _) in &enrolments {
        assert_eq!(*status, 200);
        assert_eq!(verdict, "single");
    }

    // Afterwards the server is healthy and shuts down cleanly.
    let reply = server_rt
        .block_on(http(addr, &request_bytes("GET", "/health", &[], b"")))
        .unwrap();
    assert_eq!(reply.status, 200);
    server_rt.block_on(server.stop());
    Outcome {
        shed_fresh,
        timeouts,
    }
}

/// Serialises the floods of this file (each wants the machine's cores to itself).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn health_and_enrolment_hold_under_two_thousand_idle_and_slowloris_connections() {
    // Production defaults for every connection limit and timeout: the pending pool (2,048)
    // holds the whole flood, 4x the general pool, and the first-request deadline cuts it.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let defaults = tunggal::service::ServiceConfig::default();
    assert_eq!(
        (
            cfg.max_connections,
            cfg.max_pending_connections,
            cfg.first_request_timeout_secs
        ),
        (
            defaults.max_connections,
            defaults.max_pending_connections,
            defaults.first_request_timeout_secs
        )
    );
    assert!(ATTACKERS > cfg.max_connections + cfg.reserved_connections);
    let outcome = drill(cfg, ATTACKERS * 95 / 100, P99_BOUND, 0.0);
    assert!(
        outcome.timeouts > 0,
        "no connection was closed by the first-request deadline"
    );
}

#[test]
fn health_and_enrolment_hold_when_the_flood_overflows_the_pending_pool() {
    // A pending pool smaller than the flood: every new connection pushes the oldest pending
    // one out, and the attackers reconnect at once, so the server churns at full speed.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_pending_connections = 1000;
    // The attackers, reconnecting as fast as they are pushed out, hold more than the pool.
    // The p99 bound is looser than the 100 ms here: the attackers' reconnect loop and
    // the server share this process and the machine's cores, so the churn itself takes CPU
    // from the probes (measured: p99 62 ms on the shared 2-core build machine).
    // The pool sheds the oldest pending connection of the most crowded address, so the
    // attackers push out each other and never the probe's single connection: no probe may
    // be shed.
    let outcome = drill(cfg, 1100, STRESS_P99_BOUND, 0.0);
    assert!(outcome.shed_fresh > 0, "the server never had to shed");
}

/// Sends one request from a given loopback source address.
async fn from(source: [u8; 4], addr: SocketAddr, request: &[u8]) -> std::io::Result<Reply> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut stream = socket.connect(addr).await?;
    exchange(&mut stream, request).await
}

#[test]
fn the_reserve_serves_probes_and_keys_while_every_slot_is_busy() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    runtime(2).block_on(the_reserve_serves_probes_and_keys_while_every_slot_is_busy_body());
}

async fn the_reserve_serves_probes_and_keys_while_every_slot_is_busy_body() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_connections = 4;
    cfg.max_connections_per_address = 4;
    cfg.reserved_connections = 3;
    cfg.body_read_timeout_secs = 8;
    let server = start(cfg, PreparingEngine::new()).await;
    let addr = server.addr;
    let sp = service_point_key(addr).await;

    // Four uploads that trickle their bodies hold the whole general pool, busy.
    let mut uploads = Vec::new();
    for i in 0..4u8 {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, 10 + i], 0)))
            .unwrap();
        let stream = socket.connect(addr).await.unwrap();
        uploads.push(tokio::spawn(async move {
            let (mut rx, mut tx) = stream.into_split();
            let head = "POST /v1/enrolments HTTP/1.1\r\nhost: x\r\n\
                        content-type: application/json\r\ncontent-length: 100000\r\n\r\n";
            let writer = tokio::spawn(async move {
                tx.write_all(head.as_bytes()).await.ok()?;
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    tx.write_all(b" ").await.ok()?;
                }
                #[allow(unreachable_code)]
                Some(())
            });
            let mut raw = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(30), rx.read_to_end(&mut raw)).await;
            writer.abort();
            ops_harness::parse_reply(&raw)
                .map(|r| r.status)
                .unwrap_or(0)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Not a probe, no key: turned away from the reserve.
    let r = http(addr, &request_bytes("GET", "/openapi.json", &[], b""))
        .await
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.problem_reason(), "too_many_connections");
    let bogus = [
        ("authorization", "Bearer tgl_nope_nope"),
        ("content-type", "application/json"),
    ];
    let body = serde_json::to_vec(&enrolment("reserve-bogus", 3)).unwrap();
    let r = http(
        addr,
        &request_bytes("POST", "/v1/enrolments", &bogus, &body),
    )
    .await
    .unwrap();
    assert_eq!(r.problem_reason(), "too_many_connections");
    // Probes and an authenticated enrolment are served, each on a one-request connection.
    for _ in 0..5 {
        let r = http(addr, &request_bytes("GET", "/health", &[], b""))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
    }
    let r = http(addr, &request_bytes("GET", "/ready", &[], b""))
        .await
        .unwrap();
    assert!(r.status == 200 || r.problem_reason() != "too_many_connections");
    let body = serde_json::to_vec(&enrolment("reserve-ok", 4)).unwrap();
    let r = post_json(addr, "/v1/enrolments", &sp, &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["verdict"], "single");

    // The uploads are cut off by the body timeout; then the general pool serves anyone again.
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), 408);
    }
    let r = http(addr, &request_bytes("GET", "/metrics", &[], b""))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        text.contains("tunggal_connections_reserve_denied_total 2"),
        "{text}"
    );
    server.stop().await;
}

#[test]
fn an_address_flooding_its_own_cap_does_not_lock_out_others_or_itself() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    runtime(2).block_on(an_address_flooding_its_own_cap_does_not_lock_out_others_or_itself_body());
}

async fn an_address_flooding_its_own_cap_does_not_lock_out_others_or_itself_body() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let cap = cfg.max_connections_per_address;
    let server = start(cfg, PreparingEngine::new()).await;
    let addr = server.addr;

    // 200 silent connections from 127.0.0.7 (three times its cap), held open.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 7], 0))).unwrap();
        idle.push(socket.connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The server kept only `cap` of them: the others were closed, oldest first.
    let mut closed = 0;
    for s in &mut idle {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(5), s.read(&mut b)).await
        {
            closed += 1;
        }
    }
    println!("127.0.0.7 opened 200 connections; the server closed {closed} (cap {cap})");
    assert_eq!(closed, 200 - cap);
    // Another address and the same address are both served at once.
    for source in [[127, 0, 0, 1], [127, 0, 0, 7]] {
        let t = Instant::now();
        let r = from(source, addr, &request_bytes("GET", "/health", &[], b""))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{source:?}: {:?}",
            t.elapsed()
        );
    }
    server.stop().await;
}
