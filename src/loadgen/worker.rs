//! What the load generator's senders share, and how each job is sent and checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

use super::client::{ClientError, Http, Reply};
use super::config::*;
use super::requests::{Origin, Planned};
use super::stats::{OpKind, Stats};
use super::truth::Truth;

/// What the producer hands the sender.
#[derive(Debug, Clone)]
pub(super) enum Job {
    Enrol {
        plan: Planned,
        sp: usize,
        body: Bytes,
        retry: bool,
        pair: bool,
    },
    Identify {
        body: Bytes,
        person: u64,
    },
    Verify {
        request_id: String,
        probe: Value,
        person: u64,
    },
    Status,
}

impl Job {
    pub(super) fn kind(&self) -> OpKind {
        match self {
            Self::Enrol { .. } => OpKind::Enrol,
            Self::Identify { .. } => OpKind::Identify,
            Self::Verify { .. } => OpKind::Verify,
            Self::Status => OpKind::Status,
        }
    }
}

/// Jobs sent at the same instant (two for a simultaneous pair).
pub(super) type Slot = Vec<Job>;

pub(super) struct Shared {
    pub(super) http: Http,
    pub(super) sps: Vec<(Origin, String)>,
    pub(super) analyst: String,
    pub(super) timeout: Duration,
    pub(super) retry_timeout: Duration,
    pub(super) start: Instant,
    pub(super) truth: Mutex<Truth>,
    pub(super) stats: Mutex<Stats>,
    pub(super) counters: Mutex<Counters>,
    /// Acknowledged enrolments `(request_id, service point, verdict)`, for status reads.
    pub(super) acked: Mutex<Vec<(String, usize, String)>>,
    /// Reference id of each person enrolled `single`.
    pub(super) reference_of: Mutex<HashMap<u64, String>>,
    pub(super) in_flight: std::sync::atomic::AtomicU64,
    pub(super) rng: Mutex<StdRng>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn reference(v: &Value) -> Option<String> {
    v.get("reference_id")
        .or_else(|| v.get("person_id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub(super) fn candidate_requests(v: &Value) -> Vec<String> {
    v.get("candidates")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("request_id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn error_reason(r: &Result<Reply, ClientError>) -> Option<String> {
    match r {
        Ok(reply) if reply.ok() => None,
        Ok(reply) => Some(reply.reason()),
        Err(e) => Some(e.code().to_owned()),
    }
}

impl Shared {
    pub(super) async fn enrol_once(
        &self,
        sp: usize,
        body: &Bytes,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        let key = self.sps.get(sp).map(|s| s.1.as_str());
        self.http
            .post("/v1/enrolments", key, body.clone(), timeout)
            .await
    }

    /// Sends again while the server says the request is still in progress (or busy).
    pub(super) async fn enrol_settled(
        &self,
        sp: usize,
        body: &Bytes,
    ) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self
                .enrol_once(sp, body, left.max(Duration::from_millis(1)))
                .await;
            match &r {
                Ok(reply) if reply.status == 409 && reply.reason() == "request_in_progress" => {
                    if Instant::now() >= deadline {
                        return r;
                    }
                    let wait = reply.retry_after.map_or(100, |s| s * 1000).min(1000);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                _ => return r,
            }
        }
    }

    pub(super) async fn enrol(
        &self,
        plan: &Planned,
        sp: usize,
        body: &Bytes,
        retry: bool,
        pair: bool,
    ) -> Option<String> {
        let mut earlier = None;
        let result = if retry {
            match self.enrol_once(sp, body, self.retry_timeout).await {
                Err(ClientError::Timeout(_)) => {
                    lock(&self.counters).retries_after_timeout += 1;
                    self.enrol_settled(sp, body).await
                }
                Ok(first) if first.ok() => {
                    lock(&self.counters).duplicate_deliveries += 1;
                    earlier = Some(first);
                    self.enrol_settled(sp, body).await
                }
                other => other,
            }
        } else {
            self.enrol_once(sp, body, self.timeout).await
        };
        let error = error_reason(&result);
        if let Some(reply) = result.as_ref().ok().filter(|r| r.ok()) {
            let v = reply.json();
            let verdict = v
                .get("verdict")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let candidates = candidate_requests(&v);
            if let Some(first) = &earlier {
                let f = first.json();
                let differs =
                    f.get("verdict") != v.get("verdict") || reference(&f) != reference(&v);
                let self_dup = candidates.contains(&plan.request_id);
                if differs || self_dup {
                    lock(&self.counters).retry_mismatches += 1;
                }
            }
            if verdict == "single" {
                if let Some(r) = reference(&v) {
                    lock(&self.reference_of).insert(plan.person_id, r);
                }
            }
            lock(&self.acked).push((plan.request_id.clone(), sp, verdict.clone()));
            lock(&self.truth).record(&plan.request_id, plan.person_id, pair, &verdict, candidates);
        }
        error
    }

    /// Reads back an earlier acknowledged enrolment; `None` when there is none yet.
    pub(super) async fn status(&self) -> Option<Option<String>> {
        let pick = {
            let acked = lock(&self.acked);
            if acked.is_empty() {
                None
            } else {
                let i = lock(&self.rng).gen_range(0..acked.len());
                acked.get(i).cloned()
            }
        };
        let (rid, sp, verdict) = pick?;
        let key = self.sps.get(sp).map(|s| s.1.as_str());
        let r = self
            .http
            .get(&format!("/v1/enrolments/{rid}"), key, self.timeout)
            .await;
        let error = error_reason(&r);
        if let Some(reply) = r.as_ref().ok().filter(|r| r.ok()) {
            let got = reply.json();
            let mut c = lock(&self.counters);
            c.status_checks += 1;
            if got.get("verdict").and_then(Value::as_str) != Some(verdict.as_str()) {
                c.status_mismatches += 1;
            }
        }
        Some(error)
    }

    pub(super) async fn identify(&self, body: &Bytes, person: u64) -> Option<String> {
        let expected = lock(&self.reference_of).get(&person).cloned();
        let r = self
            .http
            .post(
                "/v1/identify",
                Some(&self.analyst),
                body.clone(),
                self.timeout,
            )
            .await;
        let error = error_reason(&r);
        if let (Some(reply), Some(want)) = (r.as_ref().ok().filter(|r| r.ok()), expected) {
            let v = reply.json();
            let top = v
                .get("candidates")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(reference);
            let mut c = lock(&self.counters);
            if top.as_deref() == Some(want.as_str()) {
                c.identify_hits += 1;
            } else {
                c.identify_misses += 1;
            }
        }
        error
    }

    /// Verifies a new capture of `person` against their reference id; `None` when the person
    /// has no acknowledged reference id yet.
    pub(super) async fn verify(
        &self,
        request_id: &str,
        probe: &Value,
        person: u64,
    ) -> Option<Option<String>> {
        let reference = lock(&self.reference_of).get(&person).cloned()?;
        let mut body = probe.clone();
        // An identification body less what verification does not take.
        if let Some(members) = body.as_object_mut() {
            members.remove("max_candidates");
        }
        body["request_id"] = request_id.into();
        body["reference_id"] = reference.into();
        let body = Bytes::from(body.to_string());
        let r = self
            .http
            .post("/v1/verify", Some(&self.analyst), body, self.timeout)
            .await;
        let error = error_reason(&r);
        if let Some(reply) = r.as_ref().ok().filter(|r| r.ok()) {
            let matched = reply.json().get("matched").and_then(Value::as_bool) == Some(true);
            let mut c = lock(&self.counters);
            if matched {
                c.verify_matches += 1;
            } else {
                c.verify_non_matches += 1;
            }
        }
        Some(error)
    }

    /// Sends one job; records its latency from `scheduled` unless it is preload.
    pub(super) async fn handle(
        self: Arc<Self>,
        job: Job,
        scheduled: Instant,
        measured: bool,
    ) -> bool {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let kind = job.kind();
        let error = match &job {
            Job::Enrol {
                plan,
                sp,
                body,
                retry,
                pair,
            } => Some(self.enrol(plan, *sp, body, *retry, *pair).await),
            Job::Identify { body, person } => Some(self.identify(body, *person).await),
            Job::Verify {
                request_id,
                probe,
                person,
            } => self.verify(request_id, probe, *person).await,
            Job::Status => self.status().await,
        };
        let Some(error) = error else {
            // Nothing to read back or verify yet: no request was sent.
            lock(&self.counters).skipped += 1;
            self.in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            return true;
        };
        let ok = error.is_none();
        if measured {
            let latency = scheduled.elapsed().as_micros() as u64;
            let at = scheduled
                .saturating_duration_since(self.start)
                .as_secs_f64();
            lock(&self.stats).record(kind, at, latency, error);
        }
        self.in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        ok
    }
}
