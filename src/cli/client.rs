//! `tunggal enrol`, `tunggal identify` and `tunggal verify`: send one request, print a
//! one-line summary of the answer (the whole JSON with `--json`).
//!
//! `identify` and `verify` also take an enrolment body (as written by `tunggal gen
//! requests`): its `request_id`, fingerprints and irises are sent, its demographics are not.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::loadgen::client::{Http, Reply};

/// Options shared by the client commands.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The request body (JSON), as written by `tunggal gen requests`.
    file: PathBuf,
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Bearer API key (service-point or admin for enrol; analyst or admin for identify and
    /// verify).
    #[arg(long)]
    api_key: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Print the whole answer as JSON instead of a one-line summary.
    #[arg(long)]
    json: bool,
}

/// Options of `tunggal verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Reference id of the enrolled person to verify against (default: the body's own
    /// `reference_id`).
    #[arg(long)]
    reference_id: Option<String>,
}

/// The request kinds the client sends.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `POST /v1/enrolments`.
    Enrol,
    /// `POST /v1/identify`.
    Identify,
    /// `POST /v1/verify`.
    Verify,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Enrol => "/v1/enrolments",
            Kind::Identify => "/v1/identify",
            Kind::Verify => "/v1/verify",
        }
    }
}

impl VerifyArgs {
    /// Sends the verification.
    pub fn run(&self) -> anyhow::Result<()> {
        self.client.send(Kind::Verify, self.reference_id.as_deref())
    }
}

impl ClientArgs {
    /// Sends the file as `kind` and prints the answer; a non-2xx answer is an error.
    pub fn run(&self, kind: Kind) -> anyhow::Result<()> {
        self.send(kind, None)
    }

    fn send(&self, kind: Kind, reference_id: Option<&str>) -> anyhow::Result<()> {
        let text = std::fs::read(&self.file)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        let value: Value = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not JSON", self.file.display()))?;
        let body = request_body(kind, value, reference_id)?;
        let http = Http::new(&self.target)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let url = format!("{}{}", self.target.trim_end_matches('/'), kind.path());
        let reply = rt
            .block_on(http.post(
                kind.path(),
                Some(&self.api_key),
                Bytes::from(serde_json::to_vec(&body)?),
                Duration::from_secs(self.timeout),
            ))
            .with_context(|| format!("no answer from {url}"))?;
        report(kind, &reply, self.json)
    }
}

/// The body to send: the file as it is, or for identify and verify the biometric part of an
/// enrolment body.
fn request_body(kind: Kind, value: Value, reference_id: Option<&str>) -> anyhow::Result<Value> {
    let Value::Object(mut map) = value else {
        anyhow::bail!("the request body must be a JSON object");
    };
    let from_enrolment = map.contains_key("nik");
    match kind {
        Kind::Enrol => Ok(Value::Object(map)),
        Kind::Identify if !from_enrolment => Ok(Value::Object(map)),
        Kind::Identify => Ok(json!({
            "request_id": map.remove("request_id").unwrap_or(Value::Null),
            "fingerprints": map.remove("fingerprints").unwrap_or(json!([])),
            "irises": map.remove("irises").unwrap_or(json!([])),
        })),
        Kind::Verify => {
            let reference = match reference_id {
                Some(r) => Value::String(r.to_owned()),
                None => map.remove("reference_id").ok_or_else(|| {
                    anyhow::anyhow!("verify needs --reference-id (the body has none)")
                })?,
            };
            Ok(json!({
                "request_id": map.remove("request_id").unwrap_or(Value::Null),
                "reference_id": reference,
                "fingerprints": map.remove("fingerprints").unwrap_or(json!([])),
                "irises": map.remove("irises").unwrap_or(json!([])),
            }))
        }
    }
}

fn report(kind: Kind, reply: &Reply, whole: bool) -> anyhow::Result<()> {
    let json = reply.json();
    let pretty = || -> anyhow::Result<String> {
        Ok(if json.is_null() {
            String::from_utf8_lossy(&reply.body).into_owned()
        } else {
            serde_json::to_string_pretty(&json)?
        })
    };
    if reply.ok() {
        if whole || json.is_null() {
            println!("{}", pretty()?);
        } else {
            println!("{}", summary(kind, &json));
        }
        return Ok(());
    }
    if whole {
        eprintln!("{}", pretty()?);
    }
    let detail = json.get("detail").and_then(Value::as_str).unwrap_or("");
    if reply.is_problem() {
        anyhow::bail!("HTTP {}: reason {}: {detail}", reply.status, reply.reason())
    }
    anyhow::bail!("HTTP {} without a problem body", reply.status)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

/// A candidate list as `P0000000013 (54.0), …`, at most three shown.
fn candidates(v: &Value) -> String {
    let list = v
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() {
        return "no candidates".to_owned();
    }
    let shown: Vec<String> = list
        .iter()
        .take(3)
        .map(|c| {
            let score = c.get("score").and_then(Value::as_f64).unwrap_or(f64::NAN);
            format!("{} ({score:.1})", text(c, "reference_id"))
        })
        .collect();
    let more = list.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let n = list.len();
    let noun = if n == 1 { "candidate" } else { "candidates" };
    format!("{n} {noun}: {}{tail}", shown.join(", "))
}

/// One line saying what the answer means.
fn summary(kind: Kind, v: &Value) -> String {
    let rid = text(v, "request_id");
    match kind {
        Kind::Enrol => {
            let verdict = text(v, "verdict");
            let mut line = format!(
                "{rid}: {verdict}, {}, reference {}",
                text(v, "status"),
                text(v, "reference_id")
            );
            match verdict {
                "duplicate" => line.push_str(&format!(
                    " ({}), case {}, {}",
                    text(v, "duplicate_reason"),
                    text(v, "case_id"),
                    candidates(v)
                )),
                "rejected" => line.push_str(&format!(", reason {}", text(v, "reason"))),
                _ if v.get("reissue").and_then(Value::as_bool) == Some(true) => {
                    line.push_str(" (re-issue of the NIK's holder)");
                }
                _ => {}
            }
            line
        }
        Kind::Identify => format!("{rid}: {}", candidates(v)),
        Kind::Verify => {
            let matched = v.get("matched").and_then(Value::as_bool) == Some(true);
            let score = v
                .get("score")
                .and_then(Value::as_f64)
                .map_or_else(|| "no score".to_owned(), |s| format!("score {s:.1}"));
            let word = if matched { "match" } else { "no match" };
            format!("{rid}: {word}, {score}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrolment_body_becomes_an_identification() {
        let body = json!({"request_id": "r-1", "nik": "3171015501900001", "name": "A",
            "fingerprints": [{"position": 1}], "irises": []});
        let out = request_body(Kind::Identify, body.clone(), None).unwrap();
        assert_eq!(
            out,
            json!({"request_id": "r-1", "fingerprints": [{"position": 1}], "irises": []})
        );
        let out = request_body(Kind::Verify, body.clone(), Some("P1")).unwrap();
        assert_eq!(out["reference_id"], "P1");
        assert!(out.get("nik").is_none());
        assert!(request_body(Kind::Verify, body, None).is_err());
    }

    #[test]
    fn summaries_say_what_the_answer_means() {
        let dup = json!({"request_id": "r-2", "verdict": "duplicate", "status": "under_review",
            "reference_id": "P9", "duplicate_reason": "biometric", "case_id": "C1",
            "candidates": [{"reference_id": "P3", "score": 54.0}]});
        assert_eq!(
            summary(Kind::Enrol, &dup),
            "r-2: duplicate, under_review, reference P9 (biometric), case C1, \
             1 candidate: P3 (54.0)"
        );
        let single = json!({"request_id": "r-1", "verdict": "single", "status": "print_ready",
            "reference_id": "P1", "reissue": false});
        assert_eq!(
            summary(Kind::Enrol, &single),
            "r-1: single, print_ready, reference P1"
        );
        let verify = json!({"request_id": "v", "matched": true, "score": 31.25});
        assert_eq!(summary(Kind::Verify, &verify), "v: match, score 31.2");
        let none = json!({"request_id": "i", "candidates": []});
        assert_eq!(summary(Kind::Identify, &none), "i: no candidates");
    }
}
