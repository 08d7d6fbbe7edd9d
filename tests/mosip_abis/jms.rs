//! A request sent by a JMS client (ActiveMQ's own producer command, over OpenWire) is read,
//! and its answer is a JMS TextMessage (ActiveMQ's browse command shows its `JMSText`). Runs
//! with MOSIP's client gone, so the answer stays on the queue.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::request;
use crate::support::*;

pub async fn jms_text_messages(broker: &Broker) {
    let rid = "jms-ping-1";
    let body = serde_json::to_string(&request("ping", rid, json!({}))).unwrap();
    let url = format!("tcp://{}", broker.openwire);
    let Some(produced) = jms_command(&[
        "producer",
        "--brokerUrl",
        &url,
        "--destination",
        "queue://mosip-to-abis",
        "--messageCount",
        "1",
        "--message",
        &body,
    ])
    .await
    else {
        return;
    };
    assert!(
        produced.status.success(),
        "{}{}",
        String::from_utf8_lossy(&produced.stdout),
        String::from_utf8_lossy(&produced.stderr)
    );
    let started = Instant::now();
    loop {
        let browsed = jms_command(&["browse", "--amqurl", &url, "abis-to-mosip"])
            .await
            .unwrap();
        let out = String::from_utf8_lossy(&browsed.stdout).into_owned();
        if out.contains(rid) {
            assert!(out.contains("JMSText"), "not a TextMessage: {out}");
            assert!(out.contains("\"returnValue\":\"1\""), "{out}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no answer to the JMS request within 60 s: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn jms_command(args: &[&str]) -> Option<std::process::Output> {
    let home = std::path::Path::new(ACTIVEMQ_HOME);
    let mut cmd = tokio::process::Command::new("java");
    cmd.arg("-Xmx128m")
        .arg("-XX:TieredStopAtLevel=1")
        .arg(format!("-Dactivemq.home={}", home.display()))
        .arg("-jar")
        .arg(home.join("bin/activemq.jar"))
        .args(args);
    match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Ok(Ok(out)) => Some(out),
        Ok(Err(e)) => {
            eprintln!("skipping the JMS part: cannot run ActiveMQ's command line: {e}");
            None
        }
        Err(_) => panic!("ActiveMQ's command line did not finish in 120 s"),
    }
}
