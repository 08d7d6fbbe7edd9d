//! The accept loop: plain TCP or TLS, connection limits with shedding and a reserve, the
//! first-request and keep-alive timeouts, and graceful shutdown.
//!
//! Connections are always accepted at once, so the kernel's listen backlog never fills with
//! clients waiting for a slot. The connection table ([`super::conns`]) admits each one into
//! the pending pool (per-address cap; the oldest pending connection makes room when full) and
//! gives it a general or reserve slot when its first request head is complete. A connection
//! refused at accept (its address at the cap with every connection busy) gets a
//! `503 too_many_connections` problem (plain HTTP only) and is closed; so does a first request
//! that finds no slot, or a reserve request that is neither a probe nor authenticated.
//!
//! Timeouts:
//! * `first_request_timeout_secs` runs from accept and covers the TLS handshake and the whole
//!   head of the first request: a deadline, not an idle timer, so a client sending its headers
//!   one byte at a time (slowloris) is closed after it like a silent one.
//! * `header_read_timeout_secs` (hyper's header-read timeout) bounds the idle time between
//!   keep-alive requests plus the head of every later request, again as one deadline.
//! * Bodies must arrive within `body_read_timeout_secs` (see [`super::limits`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{HeaderValue, CONNECTION};
use axum::http::{Method, Request, Response};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::conns::{Admitted, Connections, Refusal, Slot, Start};
use crate::access::keys::KeyStore;
use crate::problem::{Problem, Reason};

/// How connections are accepted and bounded.
#[derive(Clone)]
pub struct ListenOptions {
    /// TLS acceptor; `None` serves plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// Longest from accept to the end of the first request head (TLS handshake included).
    pub first_request_timeout: Duration,
    /// Longest a keep-alive connection may idle plus send the head of its next request.
    pub header_read_timeout: Duration,
    /// The connection table (limits, pools, shedding).
    pub connections: Arc<Connections>,
    /// Keys that admit a request on a reserve connection.
    pub keys: Arc<KeyStore>,
    /// Longest shutdown waits for open connections to finish their requests.
    pub shutdown_grace: Duration,
}

impl std::fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenOptions")
            .field("tls", &self.tls.is_some())
            .field("first_request_timeout", &self.first_request_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("limits", &self.connections.limits())
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets open
/// connections finish their current request (up to the grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ListenOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let options = Arc::new(options);
    let service = TowerToHyperService::new(router);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            () = &mut shutdown => break,
        };
        match options.connections.admit(peer.ip()) {
            Ok(admitted) => {
                let _ = stream.set_nodelay(true);
                tasks.spawn(connection(
                    stream,
                    admitted,
                    service.clone(),
                    options.clone(),
                    stop_rx.clone(),
                ));
            }
            Err(refusal) => refuse(&stream, refusal, options.tls.is_some()),
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(options.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over with connections still open");
    }
}

/// The raw answer to a refused connection: 503 `too_many_connections`, then close.
fn refusal_bytes(refusal: Refusal) -> Vec<u8> {
    let detail = match refusal {
        Refusal::AddressLimit => {
            "this client address holds its connection limit and every one of them is busy"
        }
        Refusal::Full => "the server takes no new connections",
    };
    let problem = Problem::new(Reason::TooManyConnections, detail).retry_after(1);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Answers a refused connection without waiting (one non-blocking write into the fresh
/// socket's empty send buffer) and closes it; TLS connections are just closed.
fn refuse(stream: &TcpStream, refusal: Refusal, tls: bool) {
    tracing::debug!(?refusal, "connection refused");
    if !tls {
        let _ = stream.try_write(&refusal_bytes(refusal));
    }
}

/// Runs one admitted connection until it ends, is shed, or misses its first-request deadline.
async fn connection(
    stream: TcpStream,
    admitted: Admitted,
    service: TowerToHyperService<Router>,
    options: Arc<ListenOptions>,
    stop: watch::Receiver<bool>,
) {
    let Admitted { slot, shed } = admitted;
    let slot = Arc::new(slot);
    let deadline = tokio::time::Instant::now() + options.first_request_timeout;
    let first_deadline = {
        let slot = slot.clone();
        async move {
            tokio::time::sleep_until(deadline).await;
            if !slot.is_fresh() {
                std::future::pending::<()>().await;
            }
        }
    };
    let service = ConnService {
        inner: service,
        slot: slot.clone(),
        keys: options.keys.clone(),
    };
    let work = async {
        match &options.tls {
            Some(acceptor) => match acceptor.accept(stream).await {
                Ok(tls) => http(tls, service, &options, stop).await,
                Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
            },
            None => http(stream, service, &options, stop).await,
        }
    };
    tokio::select! {
        () = work => {}
        _ = shed => tracing::debug!("connection closed to make room"),
        () = first_deadline => {
            slot.table().count_first_request_timeout();
            tracing::debug!("no complete first request in time; connection closed");
        }
    }
}

/// Serves HTTP/1.1 on one connection; on shutdown, finishes the request in flight and closes.
async fn http<IO>(
    io: IO,
    service: ConnService,
    options: &ListenOptions,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true)
        // One contiguous buffer per response, so `ParseErrorBodies` sees whole heads.
        .writev(false);
    let io = TokioIo::new(super::parse_errors::ParseErrorBodies::new(io));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            return;
        }
        _ = stop.wait_for(|stopped| *stopped) => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection closed with an error during shutdown");
    }
}

/// Whether a reserve connection's first request may be served: a probe, or a valid key.
async fn reserve_admits(request: &Request<Incoming>, keys: &Arc<KeyStore>) -> bool {
    let probe = matches!(*request.method(), Method::GET | Method::HEAD)
        && matches!(request.uri().path(), "/health" | "/ready");
    if probe {
        return true;
    }
    let Some(key) = super::extract::bearer_key(request.headers()).map(str::to_owned) else {
        return false;
    };
    let keys = keys.clone();
    matches!(
        tokio::task::spawn_blocking(move || keys.authenticate(&key)).await,
        Ok(Ok(Some(_)))
    )
}

/// The per-connection service: tells the table when requests begin and end, and keeps
/// reserve connections to one probe or authenticated request.
struct ConnService {
    inner: TowerToHyperService<Router>,
    slot: Arc<Slot>,
    keys: Arc<KeyStore>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let start = self.slot.begin_request();
        let guard = RequestGuard(self.slot.clone());
        let inner = self.inner.clone();
        let keys = self.keys.clone();
        Box::pin(async move {
            let admitted = match start {
                Start::General => true,
                Start::Reserve => {
                    let admits = reserve_admits(&request, &keys).await;
                    if !admits {
                        guard.0.table().count_reserve_denied();
                    }
                    admits
                }
                Start::NoSlot => false,
            };
            if !admitted {
                let response = Problem::new(
                    Reason::TooManyConnections,
                    "every connection slot is busy; the reserve serves only /health, /ready \
                     and requests with a valid API key",
                )
                .retry_after(1)
                .into_response();
                return Ok(close(response).map(|body| Tracked::new(body, guard)));
            }
            let response = match hyper::service::Service::call(&inner, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let response = match start {
                Start::General => response,
                Start::Reserve | Start::NoSlot => close(response),
            };
            Ok(response.map(|body| Tracked::new(body, guard)))
        })
    }
}

fn close(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Ends a request in the table when dropped (with the response body, once written).
struct RequestGuard(Arc<Slot>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// A response body that ends its request in the connection table when hyper drops it.
pub struct Tracked {
    inner: Body,
    _guard: RequestGuard,
}

impl Tracked {
    fn new(inner: Body, guard: RequestGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked").finish_non_exhaustive()
    }
}

impl hyper::body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_complete_problem_answers() {
        for refusal in [Refusal::AddressLimit, Refusal::Full] {
            let raw = refusal_bytes(refusal);
            let text = String::from_utf8(raw).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 503 "));
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let p: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(p["reason"], "too_many_connections");
            assert_eq!(p["status"], 503);
        }
    }
}
