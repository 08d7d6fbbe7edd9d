//! `tunggal enrol FILE.json` and `tunggal identify FILE.json`: send one request body, print
//! the answer.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hyper::body::Bytes;

use crate::loadgen::client::{Http, Reply};

/// Options shared by the client commands.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The request body (JSON), as written by `tunggal gen requests`.
    file: PathBuf,
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Bearer API key (service-point or admin for enrol; analyst or admin for identify).
    #[arg(long)]
    api_key: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

impl ClientArgs {
    /// Posts the file to `path` and prints the answer; a non-2xx answer is an error.
    pub fn run(&self, path: &str) -> anyhow::Result<()> {
        let body = std::fs::read(&self.file)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        serde_json::from_slice::<serde_json::Value>(&body)
            .with_context(|| format!("{} is not JSON", self.file.display()))?;
        let http = Http::new(&self.target)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let reply = rt.block_on(http.post(
            path,
            Some(&self.api_key),
            Bytes::from(body),
            Duration::from_secs(self.timeout),
        ))?;
        report(&reply)
    }
}

fn report(reply: &Reply) -> anyhow::Result<()> {
    let json = reply.json();
    let pretty = if json.is_null() {
        String::from_utf8_lossy(&reply.body).into_owned()
    } else {
        serde_json::to_string_pretty(&json)?
    };
    if reply.ok() {
        println!("{pretty}");
        return Ok(());
    }
    eprintln!("{pretty}");
    let detail = json
        .get("detail")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    if reply.is_problem() {
        anyhow::bail!("HTTP {}: reason {}: {detail}", reply.status, reply.reason())
    }
    anyhow::bail!("HTTP {} without a problem body", reply.status)
}
