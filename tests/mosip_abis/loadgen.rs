//! `tunggal loadgen --protocol mosip` against the suite's broker: a fresh engine and
//! listener on queues of their own, with Tunggal's HTTP API beside them for the latency
//! comparison. [`loadgen_run`] (part of the suite) runs it for a few seconds and checks the
//! run against ground truth (no missed duplicate, no false duplicate, no error) and that
//! both comparison paths answered; it prints the figures and never checks speed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tunggal::engine::GalleryEngine;
use tunggal::loadgen::mosip_run::{run, HttpCompare, MosipLoadConfig, MosipLoadReport};
use tunggal::mosip::handler::Abis;
use tunggal::mosip::{transport, MosipConfig};
use tunggal::service::{Service, ServiceConfig};

use crate::harness::{open_engine, TOKEN};
use crate::support::Broker;

const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";

/// An engine served both ways: the MOSIP listener on `inbound`/`outbound` and the HTTP API.
pub struct Server {
    pub engine: Arc<GalleryEngine>,
    pub http: SocketAddr,
    pub config: MosipConfig,
    stop: tokio::sync::watch::Sender<bool>,
    listener: tokio::task::JoinHandle<()>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    service: tokio::task::JoinHandle<Result<(), tunggal::service::ServiceError>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(broker: &Broker, inbound: &str, outbound: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = open_engine(dir.path()).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut config = MosipConfig::new(&broker.stomp.to_string());
        config.inbound = inbound.to_owned();
        config.outbound = outbound.to_owned();
        config.datashare_token = Some(TOKEN.to_owned());
        let abis = Abis::new(
            engine.clone(),
            config.origin.clone(),
            transport::datashare(&config).unwrap(),
        );
        let listener = tokio::spawn(transport::run(abis, config.clone(), stopped));
        let service_config = ServiceConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..ServiceConfig::default()
        };
        let cases = engine.cases().clone();
        let service = Service::bind(service_config, engine.clone(), cases, Some(ADMIN_KEY))
            .await
            .unwrap();
        let http = service.local_addr().unwrap();
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let service = tokio::spawn(service.run(async move {
            let _ = http_stopped.await;
        }));
        Self {
            engine,
            http,
            config,
            stop,
            listener,
            stop_http,
            service,
            _dir: dir,
        }
    }

    /// A loadgen configuration against this server.
    pub fn load(&self, rate: f64, seconds: u64, rounds: usize) -> MosipLoadConfig {
        MosipLoadConfig {
            broker: self.config.broker.clone(),
            login: None,
            inbound: self.config.inbound.clone(),
            outbound: self.config.outbound.clone(),
            datashare_listen: "127.0.0.1:0".parse().unwrap(),
            datashare_base: None,
            datashare_token: Some(TOKEN.to_owned()),
            rate,
            duration: Duration::from_secs(seconds),
            duplicate_ratio: 0.4,
            irises: true,
            seed: 5,
            first_person: 0,
            timeout: Duration::from_secs(120),
            run_id: "ci-".to_owned(),
            compare: Some(HttpCompare {
                target: format!("http://{}", self.http),
                api_key: ADMIN_KEY.to_owned(),
                rounds,
            }),
        }
    }

    pub async fn stop(self) {
        let _ = self.stop_http.send(());
        let _ = self.service.await;
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.listener)
            .await
            .expect("the listener stops when told")
            .unwrap();
    }
}

/// Checks a run against ground truth: every registration answered, none missed or falsely
/// called a duplicate, both comparison paths answered every round.
pub fn check(report: &MosipLoadReport, registrations: u64, rounds: usize) {
    let shown = serde_json::to_string(report).unwrap();
    assert_eq!(report.registrations, registrations, "{shown}");
    assert_eq!(report.errors, 0, "{shown}");
    assert_eq!(report.truth.acknowledged, registrations, "{shown}");
    assert_eq!(report.missed_duplicates, 0, "{shown}");
    assert_eq!(report.truth.false_duplicates, 0, "{shown}");
    assert_eq!(report.truth.wrong_candidates, 0, "{shown}");
    assert!(report.mated > 0, "the run registers someone twice: {shown}");
    assert_eq!(report.mated_found, report.mated, "{shown}");
    assert_eq!(report.non_mated_with_candidates, 0, "{shown}");
    assert_eq!(report.insert.count, registrations, "{shown}");
    assert_eq!(report.identify.count, registrations, "{shown}");
    let c = report.comparison.as_ref().unwrap();
    assert_eq!(c.errors, 0, "{shown}");
    assert_eq!(
        (c.activemq.count, c.http.count),
        (rounds, rounds),
        "{shown}"
    );
    assert_eq!(c.gallery as u64, report.non_mated, "{shown}");
}

/// Five seconds at three registrations a second, six comparison rounds.
pub async fn loadgen_run(broker: &Broker) {
    let server = Server::start(broker, "loadgen-to-abis", "abis-to-loadgen").await;
    let (report, _) = run(server.load(3.0, 5, 6)).await.unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    check(&report, 15, 6);
    assert_eq!(
        server.engine.gallery().len() as u64,
        report.truth.acknowledged,
        "every registration is in the gallery"
    );
    server.stop().await;
}
