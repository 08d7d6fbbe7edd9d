//! Identify latency through ActiveMQ against the same search over HTTP, on one gallery, as
//! `tunggal loadgen --protocol mosip --compare-rounds N` reports it, with the broker and
//! the server started here: registrations at `MOSIP_REPORT_RATE` per second (default 4)
//! for `MOSIP_REPORT_SECONDS` (default 60), then `MOSIP_REPORT_ROUNDS` (default 200)
//! comparison rounds; `MOSIP_REPORT_NO_IRIS=1` sends fingers only. Every mated identify that
//! did not name its earlier registration is explained ([`crate::miss::explain`]). A report,
//! not a check of speed or accuracy (it fails only on errors):
//! `cargo test --test mosip_abis -- --ignored --nocapture identify_latency_report`.

use crate::loadgen::Server;
use crate::support::start_broker;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore]
fn identify_latency_report() {
    let Some(broker) = start_broker() else {
        return;
    };
    let rate: f64 = env_or("MOSIP_REPORT_RATE", 4.0);
    let seconds: u64 = env_or("MOSIP_REPORT_SECONDS", 60);
    let rounds: usize = env_or("MOSIP_REPORT_ROUNDS", 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let server = Server::start(&broker, "report-to-abis", "abis-to-report").await;
        let mut load = server.load(rate, seconds, rounds);
        load.irises = std::env::var_os("MOSIP_REPORT_NO_IRIS").is_none();
        let (report, _) = tunggal::loadgen::mosip_run::run(load).await.unwrap();
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
        println!("{}", report.statement);
        for (probe, mate) in &report.mated_missed {
            let (engine, origin) = (server.engine.clone(), server.config.origin.clone());
            let (probe, mate) = (probe.clone(), mate.clone());
            let why = tokio::task::spawn_blocking(move || {
                crate::miss::explain(&engine, &origin, &probe, &mate)
            })
            .await
            .unwrap();
            println!("missed: {why}");
        }
        assert_eq!(report.errors, 0, "{}", report.statement);
        let c = report.comparison.as_ref().unwrap();
        assert_eq!(
            (c.activemq.count, c.http.count, c.errors),
            (rounds, rounds, 0)
        );
        server.stop().await;
    });
}
