//! Callbacks: the final verdict of an enrolment is POSTed to its `callback_url` (at once for
//! `single` and `rejected`, when the case closes for `duplicate`).
//!
//! The engine hands notices to a channel; a task on the async runtime (IO only, no matching)
//! posts each one, retrying up to [`ATTEMPTS`] times with doubling waits from
//! [`FIRST_WAIT`]. Notices are kept in memory only: those pending at shutdown are lost (the
//! service point can still read the status with `GET /v1/enrolments/{request_id}`). Plain
//! `http://` is posted; `https://` needs a TLS client, which this build does not have, so
//! such notices fail and are logged.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

/// Attempts per notice.
pub const ATTEMPTS: u32 = 5;
/// Wait before the first retry (doubled after each failure).
pub const FIRST_WAIT: Duration = Duration::from_millis(500);

/// One verdict to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Where to.
    pub url: String,
    /// The JSON body (an enrolment response).
    pub body: serde_json::Value,
}

/// The sending side, held by the engine.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Notice>,
}

impl Notifier {
    /// Queues a notice (never blocks).
    pub fn notify(&self, notice: Notice) {
        if self.tx.send(notice).is_err() {
            tracing::warn!("callback task stopped: a verdict notice was dropped");
        }
    }
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    n: &Notice,
) -> Result<(), String> {
    let body = serde_json::to_vec(&n.body).map_err(|e| e.to_string())?;
    let req = Request::post(n.url.as_str())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("status {}", response.status()))
    }
}

/// Starts the posting task on the current runtime and returns its notifier.
pub fn spawn() -> Notifier {
    let (tx, mut rx) = mpsc::unbounded_channel::<Notice>();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    tokio::spawn(async move {
        while let Some(notice) = rx.recv().await {
            let client = client.clone();
            tokio::spawn(async move {
                let mut wait = FIRST_WAIT;
                for attempt in 1..=ATTEMPTS {
                    match post(&client, &notice).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::warn!(attempt, error = %e, "callback failed");
                            if attempt < ATTEMPTS {
                                tokio::time::sleep(wait).await;
                                wait *= 2;
                            }
                        }
                    }
                }
                tracing::error!("callback given up after {ATTEMPTS} attempts");
            });
        }
    });
    Notifier { tx }
}
