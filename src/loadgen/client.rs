//! A small keep-alive HTTP/1.1 client for the service's JSON API.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use thiserror::Error;

/// Why a request got no HTTP answer.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The target is not an `http://host:port` URL.
    #[error("bad target URL {0:?}: {1}")]
    Target(String, String),
    /// The request could not be built.
    #[error("cannot build request: {0}")]
    Build(#[from] hyper::http::Error),
    /// Connecting or sending failed.
    #[error("transport: {0}")]
    Transport(String),
    /// No answer within the client timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl ClientError {
    /// A short machine-readable code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Target(..) | Self::Build(_) => "client_error",
            Self::Transport(_) => "transport",
            Self::Timeout(_) => "client_timeout",
        }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, empty when absent.
    pub content_type: String,
    /// `Retry-After` in seconds, when present.
    pub retry_after: Option<u64>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Whether the body is `application/problem+json`.
    pub fn is_problem(&self) -> bool {
        self.content_type.starts_with("application/problem+json")
    }

    /// The problem's `reason`, or `http_{status}` when the body carries none.
    pub fn reason(&self) -> String {
        self.json()
            .get("reason")
            .and_then(Value::as_str)
            .map_or_else(|| format!("http_{}", self.status), str::to_owned)
    }
}

/// A keep-alive client bound to one server.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    /// A client for `target` (`http://host:port`, no path).
    pub fn new(target: &str) -> Result<Self, ClientError> {
        let base = target.trim_end_matches('/').to_owned();
        let uri: hyper::Uri = base.parse().map_err(|e: hyper::http::uri::InvalidUri| {
            ClientError::Target(target.to_owned(), e.to_string())
        })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ClientError::Target(
                target.to_owned(),
                "only http://host:port targets are supported".to_owned(),
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self { client, base })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request with an optional bearer key and JSON body, waiting at most `timeout`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let status = resp.status().as_u16();
            let content_type = header("content-type").unwrap_or_default();
            let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            Ok(Reply {
                status,
                content_type,
                retry_after,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// `POST path` with a JSON body.
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        self.send(Method::POST, path, key, Some(body), timeout)
            .await
    }

    /// `GET path`.
    pub async fn get(
        &self,
        path: &str,
        key: Option<&str>,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        self.send(Method::GET, path, key, None, timeout).await
    }
}
