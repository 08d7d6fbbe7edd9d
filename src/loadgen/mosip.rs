//! What `tunggal loadgen --protocol mosip` needs to play MOSIP's registration processor:
//! a datashare serving each registration's CBEFF, the STOMP link to the broker's queues
//! (requests sent as JMS text messages, answers matched to their request by `requestId`),
//! and the CBEFF document of a synthetic capture: ISO/IEC 19794-2 minutiae BIRs and, the
//! synthetic population having iris codes and no eye images, Tunggal's iris code BIRs
//! (`crate::mosip::iris_code`). The run itself is in
//! [`super::mosip_run`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use futures::StreamExt as _;
use hyper::body::Bytes;
use iridium_stomp::{AckMode, Connection};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::worker::lock;
use crate::enrolment::wire::{FingerprintIn, IrisIn};
use crate::mosip::cbeff::{format_type, FINGER_SUBTYPES};
use crate::mosip::iris_code::{self, IrisCodeBdb};
use crate::mosip::transport::{queue_destination, text_frame};

/// How long the broker has to confirm a request.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The BDB of a wire iris in code form, when it is one.
fn iris_code_bdb(iris: &IrisIn) -> Option<Vec<u8>> {
    let code = IrisCodeBdb {
        layout: iris.layout.clone()?,
        code: STANDARD.decode(iris.code.as_ref()?).ok()?,
        mask: STANDARD.decode(iris.mask.as_ref()?).ok()?,
    };
    iris_code::encode(&code).ok()
}

/// The CBEFF document (as MOSIP writes it: BDBs in URL-safe base64 without padding) of a
/// capture: one ISO/IEC 19794-2 minutiae BIR per finger and one iris code BIR per eye.
pub fn capture_cbeff(fingers: &[FingerprintIn], irises: &[IrisIn]) -> Vec<u8> {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <BIR xmlns=\"http://standards.iso.org/iso-iec/19785/-3/ed-2/\">\n\
         <BIRInfo><Integrity>false</Integrity></BIRInfo>\n",
    );
    for f in fingers {
        let Some(subtype) = usize::try_from(f.position)
            .ok()
            .and_then(|p| p.checked_sub(1))
            .and_then(|i| FINGER_SUBTYPES.get(i))
        else {
            continue;
        };
        let Some(record) = f.template.as_ref().and_then(|t| STANDARD.decode(t).ok()) else {
            continue;
        };
        xml.push_str(&format!(
            "<BIR><Version><Major>1</Major><Minor>1</Minor></Version>\
             <CBEFFVersion><Major>1</Major><Minor>1</Minor></CBEFFVersion>\
             <BIRInfo><Integrity>false</Integrity></BIRInfo>\
             <BDBInfo><Format><Organization>Mosip</Organization><Type>2</Type></Format>\
             <Type>Finger</Type><Subtype>{subtype}</Subtype><Level>Processed</Level>\
             <Purpose>Enroll</Purpose><Quality><Algorithm><Organization>HMAC</Organization>\
             <Type>SHA-256</Type></Algorithm><Score>{}</Score></Quality></BDBInfo>\
             <BDB>{}</BDB></BIR>\n",
            f.quality.unwrap_or(80).clamp(0, 100),
            URL_SAFE_NO_PAD.encode(&record)
        ));
    }
    for i in irises {
        let subtype = match i.eye.as_str() {
            "left" => "Left",
            "right" => "Right",
            _ => continue,
        };
        let Some(bdb) = iris_code_bdb(i) else {
            continue;
        };
        xml.push_str(&format!(
            "<BIR><Version><Major>1</Major><Minor>1</Minor></Version>\
             <CBEFFVersion><Major>1</Major><Minor>1</Minor></CBEFFVersion>\
             <BIRInfo><Integrity>false</Integrity></BIRInfo>\
             <BDBInfo><Format><Organization>Tunggal</Organization><Type>{}</Type></Format>\
             <Type>Iris</Type><Subtype>{subtype}</Subtype><Level>Processed</Level>\
             <Purpose>Enroll</Purpose></BDBInfo>\
             <BDB>{}</BDB></BIR>\n",
            format_type::TUNGGAL_IRIS_CODE,
            URL_SAFE_NO_PAD.encode(&bdb)
        ));
    }
    xml.push_str("</BIR>\n");
    xml.into_bytes()
}

/// A MOSIP request of operation `op` (`insert`, `identify`, …) with `fields` added.
pub fn request(op: &str, request_id: &str, fields: Value) -> Value {
    let mut r = json!({
        "id": format!("mosip.abis.{op}"),
        "version": "1.1",
        "requestId": request_id,
        "requesttime": crate::mosip::message::response_time(),
    });
    if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), fields) {
        r.extend(extra);
    }
    r
}

type Shares = Arc<Mutex<HashMap<String, Bytes>>>;

/// The datashare: `GET /share/{name}` answers the share put under `name` (404 otherwise);
/// with a token, only to a caller sending `Cookie: Authorization=<token>` (401 otherwise).
#[derive(Debug)]
pub struct ShareServer {
    base: String,
    shares: Shares,
    task: tokio::task::JoinHandle<()>,
}

impl ShareServer {
    /// Serves on `listen`; the server is told URLs under `base` (default
    /// `http://<bound address>`).
    pub async fn start(
        listen: SocketAddr,
        base: Option<String>,
        token: Option<String>,
    ) -> anyhow::Result<Self> {
        use axum::extract::{Path, State};
        use axum::http::{HeaderMap, StatusCode};

        let shares: Shares = Arc::default();
        let expected = token.map(|t| format!("Authorization={t}"));
        let app = axum::Router::new()
            .route(
                "/share/{name}",
                axum::routing::get(
                    move |State(shares): State<Shares>,
                          Path(name): Path<String>,
                          headers: HeaderMap| {
                        let expected = expected.clone();
                        async move {
                            let authorised = expected.as_ref().is_none_or(|want| {
                                headers
                                    .get_all("cookie")
                                    .iter()
                                    .filter_map(|v| v.to_str().ok())
                                    .flat_map(|v| v.split(';'))
                                    .any(|c| c.trim() == want)
                            });
                            if !authorised {
                                return (StatusCode::UNAUTHORIZED, Bytes::new());
                            }
                            match lock(&shares).get(&name) {
                                Some(body) => (StatusCode::OK, body.clone()),
                                None => (StatusCode::NOT_FOUND, Bytes::new()),
                            }
                        }
                    },
                ),
            )
            .with_state(shares.clone());
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} for the datashare"))?;
        let bound = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "loadgen datashare stopped");
            }
        });
        Ok(Self {
            base: base.unwrap_or_else(|| format!("http://{bound}")),
            shares,
            task,
        })
    }

    /// Puts `body` under `name`; returns its URL.
    pub fn put(&self, name: &str, body: Vec<u8>) -> String {
        lock(&self.shares).insert(name.to_owned(), Bytes::from(body));
        format!("{}/share/{name}", self.base.trim_end_matches('/'))
    }

    /// Stops serving.
    pub fn stop(self) {
        self.task.abort();
    }
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// MOSIP's side of the queues: requests go to the inbound queue as JMS text messages; a
/// reader task hands each answer on the outbound queue to whoever waits for its
/// `requestId`. Answers nobody waits for (left from an earlier run) are counted and dropped.
pub struct Link {
    conn: Connection,
    inbound: String,
    waiting: Waiting,
    reader: tokio::task::JoinHandle<()>,
    /// Answers that matched no request.
    pub strays: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("inbound", &self.inbound)
            .field("strays", &self.strays)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Connects to the broker's STOMP connector and subscribes to `outbound`.
    pub async fn connect(
        broker: &str,
        login: Option<&(String, String)>,
        inbound: &str,
        outbound: &str,
    ) -> anyhow::Result<Self> {
        let (user, pass) = login.map_or(("", ""), |(l, p)| (l.as_str(), p.as_str()));
        let conn = Connection::connect(broker, user, pass, Connection::NO_HEARTBEAT)
            .await
            .with_context(|| format!("cannot connect to the broker at {broker}"))?;
        let mut sub = conn
            .subscribe(&queue_destination(outbound), AckMode::Auto)
            .await
            .with_context(|| format!("cannot subscribe to {outbound}"))?;
        let waiting: Waiting = Arc::default();
        let strays = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (w, s) = (waiting.clone(), strays.clone());
        let reader = tokio::spawn(async move {
            while let Some(frame) = sub.next().await {
                let answer: Option<Value> = serde_json::from_slice(&frame.body).ok();
                let waiter = answer.as_ref().and_then(|v| {
                    let id = v.get("requestId").and_then(Value::as_str)?;
                    lock(&w).remove(id)
                });
                match (waiter, answer) {
                    (Some(tx), Some(v)) => {
                        let _ = tx.send(v);
                    }
                    _ => {
                        s.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(Self {
            conn,
            inbound: queue_destination(inbound),
            waiting,
            reader,
            strays,
        })
    }

    /// Sends `body` (whose `requestId` is `request_id`), confirmed by the broker; the
    /// receiver yields its answer.
    pub async fn send(
        &self,
        request_id: &str,
        body: &Value,
    ) -> Result<oneshot::Receiver<Value>, String> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(request_id.to_owned(), tx);
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let sent = self
            .conn
            .send_frame_confirmed(text_frame(&self.inbound, bytes), SEND_TIMEOUT)
            .await;
        if let Err(e) = sent {
            lock(&self.waiting).remove(request_id);
            return Err(e.to_string());
        }
        Ok(rx)
    }

    /// Sends `body` and waits at most `timeout` for its answer.
    pub async fn call(
        &self,
        request_id: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let rx = self.send(request_id, body).await?;
        await_answer(rx, timeout).await
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.reader.abort();
        let _ = self.conn.close().await;
    }
}

/// The answer on `rx`, waited for at most `timeout`; the error is a reason code.
pub async fn await_answer(
    rx: oneshot::Receiver<Value>,
    timeout: Duration,
) -> Result<Value, String> {
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err("link_closed".to_owned()),
        Err(_) => Err("timeout".to_owned()),
    }
}

/// `None` for a success (`returnValue` 1), else the reason code (`mosip_<failureReason>`).
pub fn failure(answer: &Value) -> Option<String> {
    if answer.get("returnValue").and_then(Value::as_str) == Some("1") {
        return None;
    }
    let reason = answer
        .get("failureReason")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    Some(format!("mosip_{reason}"))
}

/// The referenceIds of an identify answer's candidates.
pub fn candidate_ids(answer: &Value) -> Vec<String> {
    answer
        .pointer("/candidateList/candidates")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("referenceId").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_cbeff_reads_back_as_fingers_and_irises() {
        let record = vec![0x46, 0x4d, 0x52, 0];
        let fingers = [
            FingerprintIn {
                position: 2,
                format: None,
                quality: None,
                template: Some(STANDARD.encode(&record)),
                image: None,
            },
            FingerprintIn {
                position: 11,
                format: None,
                quality: None,
                template: Some(STANDARD.encode(&record)),
                image: None,
            },
        ];
        let irises = [IrisIn {
            eye: "right".into(),
            layout: Some("daugman-2048".into()),
            code: Some(STANDARD.encode([0x3c; 256])),
            mask: Some(STANDARD.encode([0xff; 256])),
            image: None,
        }];
        let xml = capture_cbeff(&fingers, &irises);
        let read = crate::mosip::cbeff::parse(&xml).unwrap();
        assert_eq!(read.irises.len(), 1);
        let eye = read.irises[0].iris.as_ref().unwrap();
        assert_eq!(eye, &irises[0]);
        assert_eq!(
            read.fingers.len(),
            1,
            "the finger without a position is left out"
        );
        let f = &read.fingers[0];
        assert_eq!(f.position, 2);
        assert_eq!(f.format.as_deref(), Some("iso19794-2"));
        assert_eq!(
            f.template.as_deref(),
            Some(STANDARD.encode(&record).as_str())
        );
    }

    #[test]
    fn answers_are_read() {
        let ok = json!({"returnValue": "1", "candidateList": {"count": "2", "candidates": [
            {"referenceId": "a"}, {"referenceId": "b"}]}});
        assert_eq!(failure(&ok), None);
        assert_eq!(candidate_ids(&ok), vec!["a", "b"]);
        let failed = json!({"returnValue": "2", "failureReason": "12"});
        assert_eq!(failure(&failed).as_deref(), Some("mosip_12"));
        assert!(candidate_ids(&failed).is_empty());
    }
}
