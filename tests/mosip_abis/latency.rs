//! Identify latency through ActiveMQ against the same person searched over HTTP, on one
//! engine.

use std::time::{Duration, Instant};

use serde_json::json;
use tunggal::engine::synthetic::request_of;
use tunggal::mosip::handler::Abis;
use tunggal::mosip::{transport, MosipConfig};
use tunggal_datasets::population::{CaptureSpec, Population};

use crate::harness::*;
use crate::support::*;

/// Identify latency through ActiveMQ against the same person searched over HTTP, on one
/// engine: `cargo test --release --test mosip_abis -- --ignored --nocapture`. A report,
/// not a check: it prints the figures.
#[test]
#[ignore]
fn identify_latency_report() {
    let Some(broker) = start_broker() else {
        return;
    };
    let persons: u64 = std::env::var("MOSIP_REPORT_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rounds: u64 = 40;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        use tunggal::service::{Service, ServiceConfig};
        const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
        let dir = tempfile::tempdir().unwrap();
        let engine = open_engine(dir.path()).await;
        let share = start_datashare(TOKEN).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut config = MosipConfig::new(&broker.stomp.to_string());
        config.datashare_token = Some(TOKEN.to_owned());
        let abis = Abis::new(
            engine.clone(),
            config.origin.clone(),
            transport::datashare(&config).unwrap(),
        );
        let listener = tokio::spawn(transport::run(abis, config.clone(), stopped));
        let mut mosip =
            MosipClient::connect(broker.stomp, &config.inbound, &config.outbound).await;
        let service_config = ServiceConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..ServiceConfig::default()
        };
        let cases = engine.cases().clone();
        let service = Service::bind(service_config, engine.clone(), cases, Some(ADMIN_KEY))
            .await
            .unwrap();
        let addr = service.local_addr().unwrap();
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let http = tokio::spawn(service.run(async move {
            let _ = http_stopped.await;
        }));
        let http_client = HttpClient::new(addr);
        let sp_key = http_client
            .post_json(
                "/v1/admin/keys",
                ADMIN_KEY,
                &json!({"role": "service-point", "name": "bench", "district": "317101", "service_point": "bench"}),
            )
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned();

        let pop = Population::new(SEED);
        let started = Instant::now();
        for p in 0..persons {
            let url = share.put(&format!("p{p}"), synthetic_cbeff(&pop, p, 0));
            let r = mosip
                .request(&insert(&format!("ins-{p}"), &format!("ref-{p}"), &url))
                .await;
            assert_eq!(r["returnValue"], "1", "{r}");
        }
        eprintln!(
            "inserted {persons} persons through ActiveMQ in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut over_queue = Vec::new();
        let mut over_http = Vec::new();
        for k in 0..rounds {
            let p = (k * 7919) % persons;
            let t = Instant::now();
            let r = mosip
                .request(&identify(&format!("idn-{k}"), &format!("ref-{p}"), json!({})))
                .await;
            over_queue.push(t.elapsed());
            assert_eq!(r["returnValue"], "1", "{r}");
            let c = pop.capture(&pop.person(p), 0, &CaptureSpec::default());
            let req = request_of(&c, "x", "317101", "bench");
            let body = json!({"request_id": format!("http-{k}"), "fingerprints": req.fingerprints});
            let t = Instant::now();
            let answer = http_client.post_json("/v1/identify", &sp_key, &body).await;
            over_http.push(t.elapsed());
            assert!(answer.get("candidates").is_some(), "{answer}");
        }
        let stats = |v: &mut Vec<Duration>| {
            v.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
            (mean, ms(v[v.len() / 2]), ms(v[v.len() * 95 / 100]))
        };
        let (qm, q50, q95) = stats(&mut over_queue);
        let (hm, h50, h95) = stats(&mut over_http);
        println!(
            "identify over {persons} persons, {rounds} rounds: ActiveMQ (STOMP, by referenceId) \
             mean {qm:.1} ms, p50 {q50:.1} ms, p95 {q95:.1} ms; HTTP POST /v1/identify (same \
             person's templates) mean {hm:.1} ms, p50 {h50:.1} ms, p95 {h95:.1} ms; \
             difference of means {:.1} ms",
            qm - hm
        );
        mosip.close().await;
        let _ = stop.send(true);
        let _ = listener.await;
        let _ = stop_http.send(());
        let _ = http.await;
    });
}
