//! `tunggal gen requests`, the client commands and `tunggal loadgen` against the HTTP service
//! on loopback.
//! The server runs the real gallery engine on a temporary data directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tunggal::cases::CaseStore;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::loadgen::run::{run, LoadConfig, Mix};
use tunggal::service::{Service, ServiceConfig};

const ADMIN_KEY: &str = "loadgen-test-admin-key-0123456789abcdef";

struct Running {
    base: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tunggal::service::ServiceError>>,
}

async fn start(dir: &Path) -> Running {
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        body_limit_bytes: 1024 * 1024,
        request_timeout_secs: 60,
        queue_capacity: 64,
        shutdown_grace_secs: 10,
        ..ServiceConfig::default()
    };
    std::fs::create_dir_all(dir).unwrap();
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let (d, c) = (dir.to_path_buf(), cases.clone());
    let engine = tokio::task::spawn_blocking(move || {
        let options = EngineOptions {
            calibration: tunggal::dedup::synthetic_calibration(120),
            ..EngineOptions::default()
        };
        GalleryEngine::open(&d, c, options)
    })
    .await
    .unwrap()
    .unwrap();
    let service = Service::bind(config, Arc::new(engine), cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    let base = format!("http://{}", service.local_addr().unwrap());
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(service.run(async move {
        let _ = rx.await;
    }));
    Running { base, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

fn tunggal(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tunggal"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_requests_and_client_commands_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("req");
    let out_s = out.to_str().unwrap().to_owned();
    let gen = tokio::task::spawn_blocking(move || {
        tunggal(&[
            "gen",
            "requests",
            "--persons",
            "12",
            "--duplicate-ratio",
            "0.3",
            "--seed",
            "4",
            "--out",
            &out_s,
        ])
    })
    .await
    .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let truth = std::fs::read_to_string(out.join("truth.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = truth
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    assert!(out.join("000012.json").exists() && !out.join("000013.json").exists());
    let dups = lines
        .iter()
        .filter(|l| l["expected"] == "duplicate")
        .count();
    assert!(dups >= 1, "no duplicate among 12 at ratio 0.3");

    let server = start(&dir.path().join("data")).await;
    let mut verdicts = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let file = out.join(format!("{:06}.json", i + 1));
        let args = [
            "enrol".to_owned(),
            file.to_str().unwrap().to_owned(),
            "--target".to_owned(),
            server.base.clone(),
            "--api-key".to_owned(),
            ADMIN_KEY.to_owned(),
            "--json".to_owned(),
        ];
        let o = tokio::task::spawn_blocking(move || {
            tunggal(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["request_id"], line["request_id"]);
        assert_eq!(v["verdict"], line["expected"], "request {}", i + 1);
        verdicts.push(v);
    }

    // Verify and identify take an enrolment body's biometrics and print one line.
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("000001.json")).unwrap()).unwrap();
    let reference = verdicts[0]["reference_id"].as_str().unwrap().to_owned();
    let mut again_path = dir.path().join("again.json");
    for (command, expected) in [
        ("verify", "cli-verify: match, score "),
        ("identify", "cli-identify: "),
    ] {
        let mut body = first.clone();
        body["request_id"] = format!("cli-{command}").into();
        again_path = dir.path().join(format!("{command}.json"));
        std::fs::write(&again_path, body.to_string()).unwrap();
        let mut args = vec![
            command.to_owned(),
            again_path.to_str().unwrap().to_owned(),
            "--target".to_owned(),
            server.base.clone(),
            "--api-key".to_owned(),
            ADMIN_KEY.to_owned(),
        ];
        if command == "verify" {
            args.extend(["--reference-id".to_owned(), reference.clone()]);
        }
        let o = tokio::task::spawn_blocking(move || {
            tunggal(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.starts_with(expected), "{command}: {stdout}");
        assert_eq!(stdout.lines().count(), 1, "{command}: {stdout}");
        if command == "identify" {
            assert!(stdout.contains(&reference), "{command}: {stdout}");
        }
    }

    // A connection failure names the URL.
    let args = [
        "enrol".to_owned(),
        again_path.to_str().unwrap().to_owned(),
        "--target".to_owned(),
        "http://127.0.0.1:9".to_owned(),
        "--api-key".to_owned(),
        ADMIN_KEY.to_owned(),
        "--timeout".to_owned(),
        "5".to_owned(),
    ];
    let o = tokio::task::spawn_blocking(move || {
        tunggal(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("http://127.0.0.1:9/v1/enrolments"), "{err}");

    // A broken body: a problem with its reason, non-zero exit.
    let mut bad: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("000001.json")).unwrap()).unwrap();
    bad["nik"] = "12".into();
    bad["request_id"] = "broken-1".into();
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, bad.to_string()).unwrap();
    let args = [
        "enrol".to_owned(),
        bad_path.to_str().unwrap().to_owned(),
        "--target".to_owned(),
        server.base.clone(),
        "--api-key".to_owned(),
        ADMIN_KEY.to_owned(),
    ];
    let o = tokio::task::spawn_blocking(move || {
        tunggal(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nik_malformed"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_reports_ground_truth_against_a_loopback_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let cfg = LoadConfig {
        target: server.base.clone(),
        api_key: ADMIN_KEY.to_owned(),
        rate: 5.0,
        concurrency: None,
        duration: Duration::from_secs(4),
        duplicate_ratio: 0.3,
        service_points: 3,
        seed: 7,
        preload: 8,
        preload_concurrency: 2,
        first_person: 0,
        mix: "enrol=0.7,identify=0.1,verify=0.1,status=0.1"
            .parse::<Mix>()
            .unwrap(),
        pair_ratio: 0.25,
        retry_ratio: 0.25,
        retry_timeout: Duration::from_millis(1),
        burst_every: 2.0,
        burst_size: 3,
        timeout: Duration::from_secs(30),
        run_id: "lgtest-".to_owned(),
        progress: false,
    };
    let (report, stats) = run(cfg).await.unwrap();
    let json = serde_json::to_value(&report).unwrap();
    for field in [
        "target_rate",
        "achieved_rate",
        "requests",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "errors",
        "missed_duplicates",
        "false_duplicates",
        "retry_mismatches",
    ] {
        assert!(json.get(field).is_some(), "report lacks {field}: {json}");
    }
    assert_eq!(report.target_rate, 5.0);
    assert_eq!(report.preload.requests, 8);
    assert_eq!(report.preload.errors, 0);
    assert!(report.requests >= 20, "{json}");
    assert_eq!(report.errors, 0, "{json}");
    assert!(report.truth.pairs >= 1, "{json}");
    assert!(report.counters.bursts >= 1, "{json}");
    assert!(report.counters.retries_after_timeout >= 1, "{json}");
    assert_eq!(report.missed_duplicates, 0, "{json}");
    assert_eq!(report.false_duplicates, 0, "{json}");
    assert_eq!(report.retry_mismatches, 0, "{json}");
    assert_eq!(report.truth.pair_missed_duplicates, 0, "{json}");
    assert!(report.truth.acknowledged >= 20, "{json}");
    assert_eq!(report.truth.wrong_candidates, 0, "{json}");
    assert_eq!(report.counters.status_mismatches, 0, "{json}");
    assert_eq!(report.counters.identify_misses, 0, "{json}");
    assert_eq!(report.counters.verify_non_matches, 0, "{json}");
    assert!(
        report.p50_ms > 0.0 && report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms
    );
    let svg = dir.path().join("lat.svg");
    stats.plot_svg(&svg, "test").unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    server.stop().await;
}
