//! Fetching a `referenceURL`: MOSIP's datashare answers the CBEFF document of a
//! registration with a GET, authenticated by a token the ABIS sends as the `Authorization`
//! cookie. `http://` and `https://` (rustls, the system CA bundle plus an optional extra CA
//! file) are fetched; the body is read up to [`super::cbeff::MAX_CBEFF_BYTES`].
//!
//! The datashare answers its own failures with status 200 and a JSON body naming an error
//! (`DAT-SER-003`, `DAT-SER-006`, …): such a body is an expired or unusable share
//! ([`FetchError::Expired`], failure reason 17), as MOSIP's ABIS guidance says.
//!
//! MOSIP can encrypt the share (an RSA-OAEP-SHA256 wrapped AES-GCM key with the data): with
//! a [`Datashare::key`], the handler opens it ([`super::envelope`]).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::cbeff::MAX_CBEFF_BYTES;
use super::envelope::ShareKey;

/// How to reach the datashare.
#[derive(Clone)]
pub struct Datashare {
    /// The token sent as `Cookie: Authorization=<token>`, when one is configured.
    pub token: Option<String>,
    /// TLS settings for `https://` URLs.
    pub tls: Option<TlsConnector>,
    /// Time allowed for one fetch.
    pub timeout: Duration,
    /// The private key that opens encrypted shares, when configured.
    pub key: Option<Arc<ShareKey>>,
}

impl std::fmt::Debug for Datashare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datashare")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FetchError {
    /// The URL cannot be fetched (scheme, host) or the exchange failed.
    #[error("datashare fetch failed: {0}")]
    Failed(String),
    /// The datashare says the share expired or is unusable (its error code).
    #[error("datashare refused the share: {0}")]
    Expired(String),
}

impl Datashare {
    /// GETs `url`.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        tokio::time::timeout(self.timeout, self.fetch_once(url))
            .await
            .map_err(|_| FetchError::Failed("timed out".into()))?
    }

    async fn fetch_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let failed = |e: String| FetchError::Failed(e);
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| failed(e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(failed("referenceURL is neither http nor https".into())),
        };
        let host = uri
            .host()
            .ok_or_else(|| failed("referenceURL without host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::get(path).header(hyper::header::HOST, authority);
        if let Some(token) = &self.token {
            req = req.header(hyper::header::COOKIE, format!("Authorization={token}"));
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(e.to_string()))?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| failed(format!("{host}:{port}: {e}")))?;
        let (status, body) = if https {
            let tls = self
                .tls
                .as_ref()
                .ok_or_else(|| failed("no TLS client for https".into()))?;
            let name = ServerName::try_from(host).map_err(|e| failed(e.to_string()))?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| failed(e.to_string()))?;
            get(TokioIo::new(stream), req).await?
        } else {
            get(TokioIo::new(tcp), req).await?
        };
        if status == hyper::StatusCode::NOT_FOUND || status == hyper::StatusCode::GONE {
            return Err(FetchError::Expired(format!("status {status}")));
        }
        if !status.is_success() {
            return Err(failed(format!("status {status}")));
        }
        if let Some(code) = datashare_error(&body) {
            return Err(FetchError::Expired(code));
        }
        Ok(body)
    }
}

async fn get<I>(
    io: I,
    req: Request<Empty<Bytes>>,
) -> Result<(hyper::StatusCode, Vec<u8>), FetchError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let failed = |e: String| FetchError::Failed(e);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| failed(format!("handshake: {e}")))?;
    tokio::spawn(conn);
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_CBEFF_BYTES)
        .collect()
        .await
        .map_err(|e| failed(format!("reading the body: {e}")))?
        .to_bytes();
    Ok((status, body.to_vec()))
}

/// The error code of a datashare error body (`{"errors":[{"errorCode":"DAT-SER-003",…}]}`),
/// if the body is one.
pub fn datashare_error(body: &[u8]) -> Option<String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    let e = errors.first()?;
    Some(
        e.get("errorCode")
            .and_then(|c| c.as_str())
            .unwrap_or("unknown")
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_recognised() {
        let body = br#"{"id":null,"errors":[{"errorCode":"DAT-SER-006","message":"expired"}]}"#;
        assert_eq!(datashare_error(body).as_deref(), Some("DAT-SER-006"));
        assert_eq!(datashare_error(b"<BIR/>"), None);
        assert_eq!(datashare_error(br#"{"errors":[]}"#), None);
        assert_eq!(datashare_error(br#"{"response":"x"}"#), None);
    }
}
