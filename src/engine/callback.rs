//! Callbacks: the final verdict of an enrolment is POSTed to its `callback_url` (at once for
//! `single` and `rejected`, when the case closes for `duplicate`).
//!
//! The engine hands notices to a [`Notifier`]. A durable notifier ([`spawn_durable`]) first
//! journals each notice in the data directory's [`Outbox`] (before the verdict is answered,
//! since the engine notifies before it returns), and marks it done once delivered; on start
//! it resumes every notice still pending on its schedule. A task on the async runtime (IO
//! only, no matching) posts each notice under a [`DeliveryPolicy`]: the host is resolved,
//! addresses callbacks may not reach are dropped (none left: a dead letter at once, without
//! a connection) and the connection goes to a checked address; a failed attempt is recorded
//! with the time of the next (exponential backoff), and after the last attempt the notice
//! becomes a dead letter that only an admin's requeue sends again. `http://` and `https://`
//! URLs are posted (TLS by rustls, server certificates checked against the system's CA
//! bundle plus an optional extra CA file).

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

use super::callback_policy::DeliveryPolicy;
use super::outbox::{now_ms, CallbackCounts, DeadLetter, Outbox, Pending};

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
    tx: mpsc::UnboundedSender<Pending>,
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
        let pending = Pending {
            id: id.unwrap_or(u64::MAX),
            notice,
            attempts: 0,
            next_attempt_ms: 0,
        };
        if self.tx.send(pending).is_err() {
            tracing::warn!("callback task stopped: a verdict notice was dropped");
        }
    }

    /// Pending notices and dead letters of the outbox (`None` without one). Blocking.
    pub fn counts(&self) -> Result<Option<CallbackCounts>, crate::state::StateError> {
        self.outbox.as_ref().map(|o| o.counts()).transpose()
    }

    /// The dead letters of the outbox (none without one). Blocking.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, crate::state::StateError> {
        match &self.outbox {
            Some(outbox) => outbox.dead_letters(),
            None => Ok(Vec::new()),
        }
    }

    /// Gives dead letter `id` a fresh set of attempts and queues it; whether there was such
    /// a dead letter. Blocking.
    pub fn requeue(&self, id: u64) -> Result<bool, crate::state::StateError> {
        let Some(outbox) = &self.outbox else {
            return Ok(false);
        };
        let Some(pending) = outbox.requeue(id)? else {
            return Ok(false);
        };
        if self.tx.send(pending).is_err() {
            tracing::warn!("callback task stopped: the requeued notice waits for the next start");
        }
        Ok(true)
    }
}

impl crate::enrolment::CallbackOutbox for Notifier {
    fn counts(&self) -> Result<Option<CallbackCounts>, crate::state::StateError> {
        Notifier::counts(self)
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>, crate::state::StateError> {
        Notifier::dead_letters(self)
    }

    fn requeue(&self, id: u64) -> Result<bool, crate::state::StateError> {
        Notifier::requeue(self, id)
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
        let pending = Pending {
            id,
            notice,
            attempts: 0,
            next_attempt_ms: 0,
        };
        if self.tx.send(pending).is_err() {
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

/// Why an HTTP exchange with a callback target failed.
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The HTTP/1 handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[source] hyper::Error),
    /// Sending the request or reading the response head failed.
    #[error("{0}")]
    Exchange(#[source] hyper::Error),
}

async fn send<I>(io: I, req: Request<Full<Bytes>>) -> Result<hyper::StatusCode, SendError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(SendError::Handshake)?;
    tokio::spawn(conn);
    let response = sender
        .send_request(req)
        .await
        .map_err(SendError::Exchange)?;
    Ok(response.status())
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// The target is refused (bad URL, or every resolved address is internal and not
    /// allowed): no connection was made and retrying cannot help.
    Refused(String),
    /// The attempt failed (connection, TLS, timeout, status); it may be retried.
    Failed(String),
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(e) => write!(f, "refused: {e}"),
            Self::Failed(e) => f.write_str(e),
        }
    }
}

/// Resolves `host` and keeps the addresses `policy` permits; refused when none is left.
async fn checked_addresses(
    policy: &DeliveryPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<std::net::SocketAddr>, AttemptError> {
    let resolved: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| AttemptError::Failed(format!("resolving {host}: {e}")))?
            .collect(),
    };
    let (allowed, refused): (Vec<_>, Vec<_>) = resolved
        .into_iter()
        .partition(|a| policy.addresses.permits(a.ip()));
    if allowed.is_empty() {
        let list: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        return Err(AttemptError::Refused(format!(
            "{host} resolves only to addresses callbacks may not reach ({})",
            list.join(", ")
        )));
    }
    Ok(allowed)
}

async fn post_once(
    tls: Option<&TlsConnector>,
    policy: &DeliveryPolicy,
    n: &Notice,
) -> Result<(), AttemptError> {
    let refused = |e: String| AttemptError::Refused(e);
    let failed = |e: String| AttemptError::Failed(e);
    let uri: hyper::Uri = n
        .url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| refused(e.to_string()))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(refused("unsupported callback URL scheme".into())),
    };
    let host = uri
        .host()
        .ok_or_else(|| refused("callback URL without host".into()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let body = serde_json::to_vec(&n.body).map_err(|e| refused(e.to_string()))?;
    let req = Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| refused(e.to_string()))?;
    // Connect to an address that was checked, never to a second resolution of the name.
    let addresses = checked_addresses(policy, &host, port).await?;
    let mut last = String::new();
    let mut tcp = None;
    for addr in &addresses {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    let tcp = tcp.ok_or_else(|| failed(last))?;
    let status = if https {
        let tls = tls.ok_or_else(|| failed("no TLS client for https callbacks".into()))?;
        let name = ServerName::try_from(host).map_err(|e| refused(e.to_string()))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| failed(e.to_string()))?;
        send(TokioIo::new(stream), req)
            .await
            .map_err(|e| failed(e.to_string()))?
    } else {
        send(TokioIo::new(tcp), req)
            .await
            .map_err(|e| failed(e.to_string()))?
    };
    if status.is_success() {
        Ok(())
    } else {
        Err(failed(format!("status {status}")))
    }
}

/// One delivery attempt of `n` under `policy` (at most 10 s).
pub async fn attempt(
    tls: Option<&TlsConnector>,
    policy: &DeliveryPolicy,
    n: &Notice,
) -> Result<(), AttemptError> {
    tokio::time::timeout(Duration::from_secs(10), post_once(tls, policy, n))
        .await
        .map_err(|_| AttemptError::Failed("timed out".to_owned()))?
}

/// Runs a blocking outbox update off the async workers; failures are logged.
async fn record(
    outbox: &Arc<Outbox>,
    what: &'static str,
    f: impl FnOnce(&Outbox) -> Result<(), crate::state::StateError> + Send + 'static,
) {
    let outbox = outbox.clone();
    let done = tokio::task::spawn_blocking(move || f(&outbox)).await;
    if !matches!(done, Ok(Ok(()))) {
        tracing::warn!("callback outbox not updated: {what}");
    }
}

#[derive(Clone)]
struct Sender {
    tls: Option<TlsConnector>,
    policy: Arc<DeliveryPolicy>,
    outbox: Option<Arc<Outbox>>,
    alive: std::sync::Weak<()>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

async fn deliver(s: Sender, mut p: Pending) {
    let journalled = s.outbox.as_ref().filter(|_| p.id != u64::MAX);
    let retry = s.policy.retry;
    loop {
        let wait = Duration::from_millis(p.next_attempt_ms.saturating_sub(now_ms()));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if s.alive.strong_count() == 0 {
            return;
        }
        let result = attempt(s.tls.as_ref(), &s.policy, &p.notice).await;
        p.attempts = p.attempts.saturating_add(1);
        let error = match result {
            Ok(()) => {
                if let Some(outbox) = journalled {
                    let id = p.id;
                    record(
                        outbox,
                        "delivered callback not marked done: it may repeat",
                        move |o| o.done(id),
                    )
                    .await;
                }
                return;
            }
            Err(e) => e,
        };
        let permanent = matches!(error, AttemptError::Refused(_));
        tracing::warn!(attempt = p.attempts, id = p.id, error = %error, "callback failed");
        if permanent || p.attempts >= retry.max_attempts {
            tracing::error!(
                id = p.id,
                attempts = p.attempts,
                "callback given up: kept as a dead letter for an admin to requeue"
            );
            if let Some(outbox) = journalled {
                let (id, attempts, text) = (p.id, p.attempts, error.to_string());
                record(outbox, "dead letter not recorded", move |o| {
                    o.dead(id, attempts, &text)
                })
                .await;
            }
            return;
        }
        p.next_attempt_ms = now_ms() + retry.delay_after(p.attempts).as_millis() as u64;
        if let Some(outbox) = journalled {
            let (id, attempts, text, next) =
                (p.id, p.attempts, error.to_string(), p.next_attempt_ms);
            record(outbox, "failed attempt not recorded", move |o| {
                o.failed(id, attempts, &text, next)
            })
            .await;
        }
    }
}

fn start(
    tls: Option<TlsConnector>,
    policy: DeliveryPolicy,
    outbox: Option<Arc<Outbox>>,
    pending: Vec<Pending>,
) -> Notifier {
    let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
    for p in pending {
        let _ = tx.send(p);
    }
    let alive = Arc::new(());
    let sender = Sender {
        tls,
        policy: Arc::new(policy),
        outbox: outbox.clone(),
        alive: Arc::downgrade(&alive),
    };
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            tokio::spawn(deliver(sender.clone(), p));
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
pub fn spawn(policy: DeliveryPolicy) -> Notifier {
    let tls = tls_connector(None)
        .map_err(|e| tracing::warn!(error = %e, "no TLS client: https callbacks will fail"))
        .ok();
    start(tls, policy, None, Vec::new())
}

/// Starts the posting task with the outbox in `data_dir` (resuming its pending notices on
/// their schedule; dead letters stay put) and `https://` trust in the system CA bundle plus
/// `extra_ca`.
pub fn spawn_durable(
    data_dir: &Path,
    extra_ca: Option<&Path>,
    policy: DeliveryPolicy,
) -> Result<Notifier, CallbackError> {
    let tls = tls_connector(extra_ca)?;
    let (outbox, _) = Outbox::open(data_dir)?;
    let pending = outbox.pending_scheduled()?;
    if !pending.is_empty() {
        tracing::info!(pending = pending.len(), "resuming pending callbacks");
    }
    Ok(start(Some(tls), policy, Some(Arc::new(outbox)), pending))
}
