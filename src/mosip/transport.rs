//! The STOMP side of the MOSIP listener (`iridium-stomp`, a STOMP 1.2 client on tokio with
//! header escaping, receipts and reconnection).
//!
//! One request at a time, in queue order: the subscription asks ActiveMQ for one
//! unacknowledged message at a time (`ack:client-individual`, `activemq.prefetchSize:1`);
//! each request is handled, its response sent and confirmed by the broker's `RECEIPT`, and
//! only then is the request acknowledged. A connection lost before the acknowledgement
//! makes the broker deliver the request again: nothing MOSIP queued is dropped.

use std::time::Duration;

use futures::StreamExt as _;
use iridium_stomp::{AckMode, ConnectOptions, Connection, Frame, ReceivedFrame};
use tokio::sync::watch;

use super::datashare::Datashare;
use super::handler::Abis;
use super::MosipConfig;
use crate::engine::callback::{tls_connector, CallbackError};

/// How long the broker has to confirm a response.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The STOMP destination of a queue name (`mosip-to-abis` → `/queue/mosip-to-abis`); a
/// name that already is a destination is kept.
pub fn queue_destination(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/queue/{name}")
    }
}

/// The datashare client of `config` (TLS with the system CA bundle and the configured
/// extra CA file).
pub fn datashare(config: &MosipConfig) -> Result<Datashare, CallbackError> {
    Ok(Datashare {
        token: config.datashare_token.clone(),
        tls: Some(tls_connector(config.datashare_ca.as_deref())?),
        timeout: config.datashare_timeout,
        key: config.datashare_key.clone(),
    })
}

/// The response frame: a persistent message that ActiveMQ hands JMS consumers as a
/// `TextMessage`.
pub fn text_frame(destination: &str, body: Vec<u8>) -> Frame {
    Frame::new("SEND")
        .header("destination", destination)
        .header("amq-msg-type", "text")
        .header("content-type", "application/json;charset=UTF-8")
        .header("persistent", "true")
        .set_body(body)
}

/// Waits until `stop` says true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Serves MOSIP's requests until `stop` turns true: a request being handled is finished and
/// answered first.
pub async fn run(abis: Abis, config: MosipConfig, mut stop: watch::Receiver<bool>) {
    let (login, passcode) = config.login.clone().unwrap_or_default();
    let inbound = queue_destination(&config.inbound);
    let outbound = queue_destination(&config.outbound);
    let mut delay = Duration::from_secs(1);
    // The client reconnects by itself once connected; the first connection is retried here
    // so that a stop is seen while the broker is away.
    let conn = loop {
        let options = ConnectOptions::default().connect_timeout(Duration::from_secs(10));
        match Connection::connect_with_options(
            &config.broker,
            &login,
            &passcode,
            Connection::NO_HEARTBEAT,
            options,
        )
        .await
        {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(broker = %config.broker, error = %e, "MOSIP broker not reachable");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut stop) => return,
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    let prefetch = vec![("activemq.prefetchSize".to_owned(), "1".to_owned())];
    let mut sub = match conn
        .subscribe_with_headers(&inbound, AckMode::ClientIndividual, prefetch)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(queue = %inbound, error = %e, "MOSIP subscription failed");
            let _ = conn.close().await;
            return;
        }
    };
    // Frames outside the subscription (errors from the broker) are logged.
    let frames = conn.clone();
    let others = tokio::spawn(async move {
        while let Some(f) = frames.next_frame().await {
            if let ReceivedFrame::Error(e) = f {
                tracing::error!(error = %e, "MOSIP broker error");
            }
        }
    });
    tracing::info!(broker = %config.broker, inbound = %inbound, outbound = %outbound, "MOSIP listener subscribed");
    loop {
        let frame = tokio::select! {
            f = sub.next() => f,
            () = stopped(&mut stop) => break,
        };
        let Some(frame) = frame else {
            tracing::warn!("MOSIP subscription closed");
            break;
        };
        abis.received();
        let response = abis.handle(&frame.body).await;
        let body = match serde_json::to_vec(&response) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "MOSIP response not serialisable");
                continue;
            }
        };
        let mut attempt = Duration::from_secs(1);
        loop {
            match conn
                .send_frame_confirmed(text_frame(&outbound, body.clone()), RECEIPT_TIMEOUT)
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "MOSIP response not confirmed: sending again");
                    tokio::time::sleep(attempt).await;
                    attempt = (attempt * 2).min(Duration::from_secs(30));
                }
            }
        }
        // STOMP 1.2 acknowledges by the message's `ack` header.
        if let Err(e) = sub.ack_frame(&frame).await {
            tracing::warn!(error = %e, "MOSIP request not acknowledged: it will be delivered again");
        }
    }
    others.abort();
    drop(sub);
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_become_destinations() {
        assert_eq!(queue_destination("mosip-to-abis"), "/queue/mosip-to-abis");
        assert_eq!(queue_destination("/topic/x"), "/topic/x");
    }

    #[test]
    fn responses_are_text_messages() {
        let f = text_frame("/queue/abis-to-mosip", b"{}".to_vec());
        assert_eq!(f.command, "SEND");
        assert_eq!(f.get_header("amq-msg-type"), Some("text"));
        assert_eq!(f.get_header("persistent"), Some("true"));
    }
}
