//! What the HTTP test harnesses share (the engine API, the service API with its engine
//! double, and OSIA's interface): the running server's handle, one request to it, and the
//! reply. Each harness keeps what is its own (how the service is composed, the keys, the
//! helpers of its answers).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::oneshot;
use tunggal::service::{Service, ServiceError};

/// A server running on a task of its own until [`Server::stop`].
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServiceError>>,
}

impl Server {
    /// Runs `service` until stopped.
    pub fn run(service: Service) -> Self {
        let addr = service.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(service.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server and waits for it to finish (it must finish cleanly).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// An answer.
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (a body that is not JSON fails the test).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The media type of `content-type`, without parameters.
    pub fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

/// How a request is authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// Not at all.
    Anonymous,
    /// `Authorization: Bearer <key>` (the API).
    Bearer(&'a str),
    /// `Cookie: <name=value>` (the review pages).
    Cookie(&'a str),
}

/// One request; `body` is sent with its content type when given.
pub async fn request(
    method: Method,
    url: &str,
    auth: Auth<'_>,
    body: Option<(&str, Vec<u8>)>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    match auth {
        Auth::Anonymous => {}
        Auth::Bearer(key) => req = req.header("authorization", format!("Bearer {key}")),
        Auth::Cookie(cookie) => req = req.header("cookie", cookie),
    }
    let body = match body {
        Some((content_type, bytes)) => {
            req = req.header("content-type", content_type);
            bytes
        }
        None => Vec::new(),
    };
    let response = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// An API request with an optional bearer key and an optional JSON body (bytes).
pub async fn send(method: Method, url: &str, key: Option<&str>, body: Option<Vec<u8>>) -> Reply {
    let auth = key.map_or(Auth::Anonymous, Auth::Bearer);
    request(method, url, auth, body.map(|b| ("application/json", b))).await
}
