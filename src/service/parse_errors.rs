//! Problem bodies for the answers hyper writes itself when it cannot parse a request head:
//! `400` (a malformed request line or header, such as an invalid `Content-Length`), `414` (URI
//! too long) and `431` (too many or too large headers).
//!
//! hyper has no hook for these: it writes a bare status line with an empty body and closes the
//! connection. This wrapper around the connection's I/O recognises exactly such a write (a
//! lone response head, status 400/414/431, no `content-type`, nothing after the head: a
//! response produced by the router always has a content type and a body) and sends an
//! `application/problem+json` answer in its place. The connection is served with
//! `writev(false)`, so hyper hands each response over as one contiguous buffer.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::problem::{Problem, Reason};

/// The problem answer replacing hyper's bare answer `head`, if `head` is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let (reason, detail) = match rest.get(..4)? {
        b"400 " => (
            Reason::MalformedRequest,
            "the request line or a header is malformed (for example Content-Length)",
        ),
        b"414 " => (Reason::UriTooLong, "the request URI is too long"),
        b"431 " => (
            Reason::HeadersTooLarge,
            "the request has too many headers or they are too large",
        ),
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    if lower.windows(13).any(|w| w == b"content-type:") {
        return None;
    }
    let problem = Problem::new(reason, detail);
    let body = serde_json::to_vec(&problem).ok()?;
    let status = reason.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    written: usize,
    /// Length of hyper's buffer, reported as written once `bytes` are out.
    claimed: usize,
}

/// Connection I/O that turns hyper's bare parse-error answers into problem answers.
#[derive(Debug)]
pub struct ParseErrorBodies<IO> {
    io: IO,
    pending: Option<Pending>,
}

impl<IO> ParseErrorBodies<IO> {
    /// Wraps `io`.
    pub fn new(io: IO) -> Self {
        Self { io, pending: None }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ParseErrorBodies<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ParseErrorBodies<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match replacement(buf) {
                Some(bytes) => {
                    this.pending = Some(Pending {
                        bytes,
                        written: 0,
                        claimed: buf.len(),
                    })
                }
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
            }
        }
        // hyper calls again with the same buffer after `Pending`, so the replacement is
        // driven to its end before the original length is reported.
        let Some(pending) = this.pending.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while pending.written < pending.bytes.len() {
            let n =
                ready!(Pin::new(&mut this.io).poll_write(cx, &pending.bytes[pending.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            pending.written += n;
        }
        let claimed = pending.claimed;
        this.pending = None;
        Poll::Ready(Ok(claimed))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_parse_error_heads_are_replaced() {
        let bare =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(replacement(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let p: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(p["reason"], "headers_too_large");
        assert_eq!(p["status"], 431);
        assert!(replacement(b"HTTP/1.1 414 URI Too Long\r\n\r\n").is_some());
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_some());
        // Router answers: with a content type, or with a body after the head.
        let typed = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n";
        assert!(replacement(typed).is_none());
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\nhi").is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 431 partial head").is_none());
    }

    #[tokio::test]
    async fn a_replaced_answer_is_written_whole_and_reported_as_the_original() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(16);
        let mut wrapped = ParseErrorBodies::new(server);
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut raw = Vec::new();
            client.read_to_end(&mut raw).await.unwrap();
            raw
        });
        // A 16-byte pipe forces many partial writes of the replacement.
        let n = wrapped.write(bare).await.unwrap();
        assert_eq!(n, bare.len());
        wrapped.write_all(b"").await.unwrap();
        wrapped.shutdown().await.unwrap();
        drop(wrapped);
        let raw = String::from_utf8(reader.await.unwrap()).unwrap();
        assert!(
            raw.starts_with("HTTP/1.1 414 URI Too Long\r\ncontent-type: application/problem+json")
        );
        assert!(raw.ends_with('}'));
        assert!(raw.contains("\"reason\":\"uri_too_long\""));
    }
}
