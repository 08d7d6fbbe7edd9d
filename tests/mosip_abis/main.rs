//! MOSIP's ABIS interface, black box: a broker (ActiveMQ from Debian's package, started
//! here on loopback), a datashare server and a STOMP client playing MOSIP's registration
//! processor, against Tunggal's listener and engine. One broker serves every scenario of
//! the suite (one `#[test]`); it is skipped, saying why, when ActiveMQ or Java is absent.
//!
//! Covered: insert, identify with and without a gallery, identify of a just-inserted record
//! queued right behind its insert, identify by `referenceUrl`, delete then identify, ping,
//! pendingJobs, referenceCount, every failure reason a request can trigger (4–18; 1–3 are
//! internal errors no request causes), duplicate detection on FVC2002 images wrapped in
//! ISO/IEC 19794-4 records in CBEFF (skipped when the data set is absent), irises as
//! ISO/IEC 19794-6 records of CASIA-IrisV1 eyes beside FVC2002 fingers, both JPEG 2000 as
//! MOSIP sends them (skipped without the data sets or Pillow's OpenJPEG), a JMS client's
//! text message answered with a text message, encrypted shares opened with the configured
//! private key, and `tunggal loadgen --protocol mosip` for a few seconds.
//!
//! Parts: [`harness`] (the suite and its request helper), [`operations`], [`negatives`],
//! [`fvc2002`], [`irises`], [`jms`], [`encrypted`], [`loadgen`]; [`support`] runs the broker
//! and the datashare, [`images`] writes the image records. [`latency`] is the ignored latency
//! report, [`miss`] explains its missed duplicates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod encrypted;
mod fvc2002;
mod harness;
mod images;
mod irises;
mod jms;
mod latency;
mod loadgen;
mod miss;
mod negatives;
mod operations;
mod support;

use std::time::{Duration, Instant};

use tunggal::mosip::handler::Abis;
use tunggal::mosip::{transport, MosipConfig};

use harness::{open_engine, Suite, TOKEN};
use support::{start_broker, start_datashare, MosipClient};

#[test]
fn mosip_abis_over_activemq() {
    let Some(broker) = start_broker() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let engine = open_engine(dir.path()).await;
        let share = start_datashare(TOKEN).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut config = MosipConfig::new(&broker.stomp.to_string());
        config.datashare_token = Some(TOKEN.to_owned());
        config.datashare_timeout = Duration::from_secs(10);
        let abis = Abis::new(
            engine.clone(),
            config.origin.clone(),
            transport::datashare(&config).unwrap(),
        );
        let listener = tokio::spawn(transport::run(abis, config.clone(), stopped));
        let mosip = MosipClient::connect(broker.stomp, &config.inbound, &config.outbound).await;
        let mut s = Suite {
            mosip,
            share,
            engine,
            next: 0,
        };
        let started = Instant::now();
        operations::operations(&mut s).await;
        eprintln!("operations: {:.1} s", started.elapsed().as_secs_f64());
        negatives::negatives(&mut s).await;
        eprintln!("negatives: {:.1} s", started.elapsed().as_secs_f64());
        fvc2002::fvc_duplicates(&mut s).await;
        eprintln!("FVC2002: {:.1} s", started.elapsed().as_secs_f64());
        irises::iris_duplicates(&mut s).await;
        eprintln!("irises: {:.1} s", started.elapsed().as_secs_f64());
        let Suite { mosip, share, .. } = s;
        mosip.close().await;
        jms::jms_text_messages(&broker).await;
        eprintln!("JMS: {:.1} s", started.elapsed().as_secs_f64());
        encrypted::encrypted_shares(&broker, share).await;
        eprintln!("encrypted shares: {:.1} s", started.elapsed().as_secs_f64());
        loadgen::loadgen_run(&broker).await;
        eprintln!("loadgen: {:.1} s", started.elapsed().as_secs_f64());
        let _ = stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), listener)
            .await
            .expect("the listener stops when told")
            .unwrap();
    });
}
