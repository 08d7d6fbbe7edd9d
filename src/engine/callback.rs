//! Callbacks: the final verdict of an enrolment is POSTed to its `callback_url` (at once for
//! `single` and `rejected`, when the case closes for `duplicate`).
//!
//! The engine hands notices to a [`Notifier`]. A durable notifier ([`spawn_durable`]) first
//! journals each notice in the data directory's [`Outbox`] (before the verdict is answered,
//! since the engine notifies before it returns), and marks it done once delivered; on start
//! it replays every notice still pending. A task on the async runtime (IO only, no matching)
//! posts each notice, retrying up to [`ATTEMPTS`] times with doubling waits from
//! [`FIRST_WAIT`]; a notice that runs out of attempts stays pending and is tried again on
//! the next start. `http://` and `https://` URLs are posted (TLS by rustls, server
//! certificates checked against the system's CA bundle plus an optional extra CA file).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

use super::outbox::Outbox;

/// Attempts per notice and start.
pub const ATTEMPTS: u32 = 5;
/// Wait before the first retry (doubled after each failure).
pub const FIRST_WAIT: Duration = Duration::from_millis(500);
/// CA bundles tried for `https://` callbacks, first found wins.
pub const SYSTEM_CA_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Why the callback sender could not start.
#[derive(Debug, Error)]
pub enum CallbackError {
    /// The outbox could not be opened.
    #[error("callback outbox: {0}")]
    Outbox(#[from] crate::state::StateError),
    /// The extra CA file could not be read.
    #[error("callback CA file {path}: {detail}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// rustls refused the client settings.
    #[error("callback TLS: {0}")]
    Tls(#[from] rustls::Error),
}

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
    tx: mpsc::UnboundedSender<(Option<u64>, Notice)>,
    outbox: Option<Arc<Outbox>>,
    /// Deliveries stop retrying once every notifier is gone (the engine closed); journalled
    /// notices then wait for the next start.
    _alive: Arc<()>,
}

impl Notifier {
    /// Journals the notice (durable notifiers; blocking: one fsync) and queues it for
    /// posting.
    pub fn notify(&self, notice: Notice) {
        let id = self.outbox.as_ref().and_then(|o| match o.queue(&notice) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, "callback not journalled; posting it from memory");
                None
            }
        });
        if self.tx.send((id, notice)).is_err() {
            tracing::warn!("callback task stopped: a verdict notice was dropped");
        }
    }
}

impl Notifier {
    /// The outbox of a durable notifier.
    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        self.outbox.as_ref()
    }

    /// Queues for posting a notice the caller stored in [`Notifier::outbox`] under `id`
    /// (with [`Outbox::queue_in`], in its own transaction).
    pub fn post_queued(&self, id: u64, notice: Notice) {
        if self.tx.send((Some(id), notice)).is_err() {
            tracing::warn!("callback task stopped: a verdict notice waits for the next start");
        }
    }
}

/// TLS client settings for callbacks: the system CA bundle and `extra_ca` (PEM), if given.
pub fn tls_connector(extra_ca: Option<&Path>) -> Result<TlsConnector, CallbackError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(bundle) = SYSTEM_CA_BUNDLES.iter().map(Path::new).find(|p| p.exists()) {
        if let Ok(certs) = CertificateDer::pem_file_iter(bundle) {
            roots.add_parsable_certificates(certs.flatten());
        }
    }
    if let Some(path) = extra_ca {
        let err = |detail: String| CallbackError::CaFile {
            path: path.display().to_string(),
            detail,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        for c in certs {
            roots.add(c)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn send<I>(io: I, req: Request<Full<Bytes>>) -> Result<hyper::StatusCode, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(response.status())
}

async fn post_once(tls: Option<&TlsConnector>, n: &Notice) -> Result<(), String> {
    let uri: hyper::Uri = n
        .url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("unsupported callback URL scheme".into()),
    };
    let host = uri.host().ok_or("callback URL without host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let body = serde_json::to_vec(&n.body).map_err(|e| e.to_string())?;
    let req = Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let status = if https {
        let tls = tls.ok_or("no TLS client for https callbacks")?;
        let name = ServerName::try_from(host).map_err(|e| e.to_string())?;
        let stream = tls.connect(name, tcp).await.map_err(|e| e.to_string())?;
        send(TokioIo::new(stream), req).await?
    } else {
        send(TokioIo::new(tcp), req).await?
    };
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

async fn post(tls: Option<&TlsConnector>, n: &Notice) -> Result<(), String> {
    tokio::time::timeout(Duration::from_secs(10), post_once(tls, n))
        .await
        .map_err(|_| "timed out".to_owned())?
}

async fn deliver(
    tls: Option<TlsConnector>,
    outbox: Option<Arc<Outbox>>,
    alive: std::sync::Weak<()>,
    id: Option<u64>,
    n: Notice,
) {
    let mut wait = FIRST_WAIT;
    for attempt in 1..=ATTEMPTS {
        if alive.strong_count() == 0 {
            return;
        }
        match post(tls.as_ref(), &n).await {
            Ok(()) => {
                if let (Some(outbox), Some(id)) = (outbox, id) {
                    let done = tokio::task::spawn_blocking(move || outbox.done(id)).await;
                    if !matches!(done, Ok(Ok(()))) {
                        tracing::warn!("delivered callback not marked done: it may repeat");
                    }
                }
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "callback failed");
                if attempt < ATTEMPTS {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
    tracing::error!(
        "callback given up after {ATTEMPTS} attempts (retried on the next start if journalled)"
    );
}

fn start(
    tls: Option<TlsConnector>,
    outbox: Option<Arc<Outbox>>,
    pending: Vec<(u64, Notice)>,
) -> Notifier {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Option<u64>, Notice)>();
    for (id, n) in pending {
        let _ = tx.send((Some(id), n));
    }
    let task_outbox = outbox.clone();
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    tokio::spawn(async move {
        while let Some((id, notice)) = rx.recv().await {
            let (tls, outbox, weak) = (tls.clone(), task_outbox.clone(), weak.clone());
            tokio::spawn(deliver(tls, outbox, weak, id, notice));
        }
    });
    Notifier {
        tx,
        outbox,
        _alive: alive,
    }
}

/// Starts an in-memory posting task on the current runtime (notices pending at shutdown
/// are lost) and returns its notifier.
pub fn spawn() -> Notifier {
    let tls = tls_connector(None)
        .map_err(|e| tracing::warn!(error = %e, "no TLS client: https callbacks will fail"))
        .ok();
    start(tls, None, Vec::new())
}

/// Starts the posting task with the outbox in `data_dir` (replaying its pending notices)
/// and `https://` trust in the system CA bundle plus `extra_ca`.
pub fn spawn_durable(data_dir: &Path, extra_ca: Option<&Path>) -> Result<Notifier, CallbackError> {
    let tls = tls_connector(extra_ca)?;
    let (outbox, pending) = Outbox::open(data_dir)?;
    if !pending.is_empty() {
        tracing::info!(pending = pending.len(), "replaying pending callbacks");
    }
    Ok(start(Some(tls), Some(Arc::new(outbox)), pending))
}
