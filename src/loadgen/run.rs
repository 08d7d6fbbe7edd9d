//! The load generator: open-loop arrivals at a rate (latency from the scheduled send time) or
//! closed loop at a concurrency, over keep-alive connections, checked against ground truth.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::body::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tunggal_datasets::demographics::Demographics;

use super::client::{ClientError, Http, Reply};
use super::requests::{BodyBuilder, Origin, Planned, RequestPlanner};
use super::stats::{OpKind, Percentiles, Stats};
use super::truth::{Truth, TruthCheck};

/// Shares of each operation in the stream (they need not add up to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// Enrolments.
    pub enrol: f64,
    /// Identifications.
    pub identify: f64,
    /// Verifications.
    pub verify: f64,
    /// Status reads.
    pub status: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            enrol: 1.0,
            identify: 0.0,
            verify: 0.0,
            status: 0.0,
        }
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// Parses `enrol=0.8,identify=0.1,verify=0.05,status=0.05`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = Self {
            enrol: 0.0,
            identify: 0.0,
            verify: 0.0,
            status: 0.0,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not op=share"))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("{v:?} is not a number"))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("share {v} must be ≥ 0"));
            }
            match k.trim() {
                "enrol" => m.enrol = v,
                "identify" => m.identify = v,
                "verify" => m.verify = v,
                "status" => m.status = v,
                other => return Err(format!("unknown operation {other:?}")),
            }
        }
        if m.enrol + m.identify + m.verify + m.status <= 0.0 {
            return Err("the mix is empty".to_owned());
        }
        Ok(m)
    }
}

impl Mix {
    fn pick(&self, u: f64) -> OpKind {
        let total = self.enrol + self.identify + self.verify + self.status;
        let x = u * total;
        if x < self.enrol {
            OpKind::Enrol
        } else if x < self.enrol + self.identify {
            OpKind::Identify
        } else if x < self.enrol + self.identify + self.verify {
            OpKind::Verify
        } else {
            OpKind::Status
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server URL.
    pub target: String,
    /// Admin key (creates the service-point and analyst keys).
    pub api_key: String,
    /// Open-loop arrivals per second.
    pub rate: f64,
    /// Closed loop with this many concurrent requests instead of open-loop arrivals.
    pub concurrency: Option<usize>,
    /// How long to send.
    pub duration: Duration,
    /// Share of enrolments that are returning people under an alias.
    pub duplicate_ratio: f64,
    /// Simulated service points (one key each).
    pub service_points: usize,
    /// Seed of the population and of every decision.
    pub seed: u64,
    /// People enrolled first, closed loop, before the measured phase.
    pub preload: u64,
    /// Concurrency of the preload.
    pub preload_concurrency: usize,
    /// Population id of the first new person.
    pub first_person: u64,
    /// Operation mix.
    pub mix: Mix,
    /// Share of enrolments sent as a simultaneous pair (same person, two service points).
    pub pair_ratio: f64,
    /// Share of enrolments sent with a short client timeout and retried.
    pub retry_ratio: f64,
    /// The short client timeout of those enrolments.
    pub retry_timeout: Duration,
    /// Seconds between bursts (0: none).
    pub burst_every: f64,
    /// Extra requests sent at once in a burst.
    pub burst_size: usize,
    /// Client timeout of every other request.
    pub timeout: Duration,
    /// Prefix of request ids (unique per run).
    pub run_id: String,
    /// Print a progress line every second.
    pub progress: bool,
}

/// What the producer hands the sender.
#[derive(Debug, Clone)]
enum Job {
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
    fn kind(&self) -> OpKind {
        match self {
            Self::Enrol { .. } => OpKind::Enrol,
            Self::Identify { .. } => OpKind::Identify,
            Self::Verify { .. } => OpKind::Verify,
            Self::Status => OpKind::Status,
        }
    }
}

/// Jobs sent at the same instant (two for a simultaneous pair).
type Slot = Vec<Job>;

/// Counters beyond latency and the ground truth.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Enrolments whose first attempt hit the short client timeout and were sent again.
    pub retries_after_timeout: u64,
    /// Enrolments delivered twice although the first attempt was answered.
    pub duplicate_deliveries: u64,
    /// Retries whose answer differs from the first answer, or that call the person a
    /// duplicate of their own request.
    pub retry_mismatches: u64,
    /// Bursts sent.
    pub bursts: u64,
    /// Status reads compared with an earlier answer.
    pub status_checks: u64,
    /// Status reads that disagree with the earlier answer.
    pub status_mismatches: u64,
    /// Identifications of an enrolled person whose best candidate was that person.
    pub identify_hits: u64,
    /// Identifications of an enrolled person whose best candidate was not that person.
    pub identify_misses: u64,
    /// Verifications of an enrolled person that matched.
    pub verify_matches: u64,
    /// Verifications of an enrolled person that did not match.
    pub verify_non_matches: u64,
    /// Sends that left later than scheduled by more than 100 ms (client-side lag).
    pub late_sends: u64,
    /// Status reads and verifications not sent because nothing was acknowledged to check.
    pub skipped: u64,
}

/// The run's report (`--report FILE.json`).
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// `open` (arrival rate) or `closed` (concurrency).
    pub mode: &'static str,
    /// Target arrivals per second (open loop), excluding burst extras.
    pub target_rate: f64,
    /// 2xx answers per second over the measured phase.
    pub achieved_rate: f64,
    /// Closed-loop concurrency.
    pub concurrency: Option<usize>,
    /// Seconds of sending asked for.
    pub duration_s: f64,
    /// Seconds from the first send to the last answer.
    pub elapsed_s: f64,
    /// Requests answered or failed in the measured phase.
    pub requests: u64,
    /// Enrolments in the measured phase.
    pub enrolments: u64,
    /// Median latency of every operation (from the scheduled send time in open loop).
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Failed requests.
    pub errors: u64,
    /// Failures by reason code.
    pub errors_by_reason: BTreeMap<String, u64>,
    /// Latency per operation kind.
    pub per_op: BTreeMap<OpKind, Percentiles>,
    /// People enrolled more than once with `single` (one per extra).
    pub missed_duplicates: u64,
    /// People with no `single` among their acknowledged enrolments.
    pub false_duplicates: u64,
    /// See [`Counters::retry_mismatches`].
    pub retry_mismatches: u64,
    /// Ground truth in full (preload included).
    pub truth: TruthCheck,
    /// Other counters.
    pub counters: Counters,
    /// Preload: people sent, failures, seconds.
    pub preload: PreloadReport,
    /// Whether the target rate was sustained (open loop).
    pub sustained: bool,
    /// Plain statement of the outcome.
    pub statement: String,
}

/// The preload phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PreloadReport {
    /// Enrolments sent.
    pub requests: u64,
    /// Failed ones.
    pub errors: u64,
    /// Seconds taken.
    pub seconds: f64,
}

struct Shared {
    http: Http,
    sps: Vec<(Origin, String)>,
    analyst: String,
    timeout: Duration,
    retry_timeout: Duration,
    start: Instant,
    truth: Mutex<Truth>,
    stats: Mutex<Stats>,
    counters: Mutex<Counters>,
    /// Acknowledged enrolments `(request_id, service point, verdict)`, for status reads.
    acked: Mutex<Vec<(String, usize, String)>>,
    /// Reference id of each person enrolled `single`.
    reference_of: Mutex<HashMap<u64, String>>,
    in_flight: std::sync::atomic::AtomicU64,
    rng: Mutex<StdRng>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn reference(v: &Value) -> Option<String> {
    v.get("reference_id")
        .or_else(|| v.get("person_id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn candidate_requests(v: &Value) -> Vec<String> {
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

fn error_reason(r: &Result<Reply, ClientError>) -> Option<String> {
    match r {
        Ok(reply) if reply.ok() => None,
        Ok(reply) => Some(reply.reason()),
        Err(e) => Some(e.code().to_owned()),
    }
}

/// Creates a key with the admin key.
async fn create_key(
    http: &Http,
    admin: &str,
    body: Value,
    timeout: Duration,
) -> anyhow::Result<String> {
    let reply = http
        .post(
            "/v1/admin/keys",
            Some(admin),
            Bytes::from(body.to_string()),
            timeout,
        )
        .await?;
    anyhow::ensure!(
        reply.ok(),
        "POST /v1/admin/keys answered {}: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    reply
        .json()
        .get("key")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("POST /v1/admin/keys answer has no key")
}

/// The simulated service points: distinct districts, ids `{run}-sp{k}`.
fn service_points(seed: u64, k: usize, run_id: &str) -> Vec<Origin> {
    let mut seen = Vec::new();
    let mut n = 0u64;
    while seen.len() < k {
        let d = Demographics::for_person(seed ^ 0x5350, 4_000_000_000 + n)
            .district
            .code();
        n += 1;
        if !seen.contains(&d) || n > 10 * k as u64 {
            seen.push(d);
        }
    }
    seen.into_iter()
        .enumerate()
        .map(|(i, district)| Origin {
            district,
            service_point: format!("{run_id}sp{}", i + 1),
        })
        .collect()
}

struct Producer {
    cfg: LoadConfig,
    planner: RequestPlanner,
    builder: BodyBuilder,
    rng: StdRng,
    sp_of: HashMap<String, usize>,
    probe_counter: u64,
}

enum Draft {
    Enrol(Planned, usize, bool, bool),
    Identify(u64, u64),
    Verify(u64, u64),
    Status,
}

impl Producer {
    fn other_sp(&mut self, not: usize) -> usize {
        let k = self.cfg.service_points;
        if k < 2 {
            return 0;
        }
        (not + 1 + self.rng.gen_range(0..k - 1)) % k
    }

    fn enrol_draft(&mut self, p: Planned, pair: bool) -> Draft {
        let sp = match &p.duplicate_of {
            Some(first) => {
                let f = self.sp_of.get(first).copied().unwrap_or(0);
                self.other_sp(f)
            }
            None => self.rng.gen_range(0..self.cfg.service_points.max(1)),
        };
        self.sp_of.insert(p.request_id.clone(), sp);
        let retry = !pair && self.rng.gen_bool(self.cfg.retry_ratio.clamp(0.0, 1.0));
        Draft::Enrol(p, sp, retry, pair)
    }

    /// Plans one slot (preload slots are single new people).
    fn plan(&mut self, preload: bool) -> Vec<Draft> {
        if preload {
            let p = self.planner.new_person();
            return vec![self.enrol_draft(p, false)];
        }
        let u: f64 = self.rng.gen();
        match self.cfg.mix.pick(u) {
            OpKind::Enrol => {
                if self.rng.gen_bool(self.cfg.pair_ratio.clamp(0.0, 1.0)) {
                    let first = self.planner.new_person();
                    let second = self.planner.again(&first.request_id, first.person_id);
                    let a = self.enrol_draft(first, true);
                    let b = self.enrol_draft(second, true);
                    vec![a, b]
                } else {
                    let p = self
                        .planner
                        .next()
                        .unwrap_or_else(|| self.planner.new_person());
                    vec![self.enrol_draft(p, false)]
                }
            }
            kind @ (OpKind::Identify | OpKind::Verify) => {
                let Some((_, person)) = self.planner.random_single() else {
                    return vec![Draft::Status];
                };
                self.probe_counter += 1;
                let capture = 1_000_000_000 + self.probe_counter;
                if kind == OpKind::Identify {
                    vec![Draft::Identify(person, capture)]
                } else {
                    vec![Draft::Verify(person, capture)]
                }
            }
            OpKind::Status => vec![Draft::Status],
        }
    }

    fn build(&self, d: Draft, sps: &[Origin]) -> anyhow::Result<Job> {
        let id = |c: u64| format!("{}q{c}", self.cfg.run_id);
        Ok(match d {
            Draft::Enrol(plan, sp, retry, pair) => {
                let body = self.builder.enrolment(&plan, sps.get(sp))?;
                Job::Enrol {
                    body: Bytes::from(serde_json::to_vec(&body)?),
                    plan,
                    sp,
                    retry,
                    pair,
                }
            }
            Draft::Identify(person, capture) => {
                let body = self.builder.identify(&id(capture), person, capture)?;
                Job::Identify {
                    body: Bytes::from(serde_json::to_vec(&body)?),
                    person,
                }
            }
            Draft::Verify(person, capture) => {
                let probe = self.builder.identify(&id(capture), person, capture)?;
                Job::Verify {
                    request_id: probe.request_id,
                    probe: json!({"fingerprints": probe.fingerprints, "irises": probe.irises}),
                    person,
                }
            }
            Draft::Status => Job::Status,
        })
    }

    /// Plans and builds slots (bodies on rayon) into `tx` until the receiver goes away.
    fn run(mut self, sps: Vec<Origin>, tx: mpsc::Sender<(bool, Slot)>) {
        const BATCH: usize = 16;
        let mut preloaded = 0u64;
        loop {
            let mut drafts = Vec::with_capacity(BATCH);
            for _ in 0..BATCH {
                let preload = preloaded < self.cfg.preload;
                preloaded += u64::from(preload);
                drafts.push((preload, self.plan(preload)));
            }
            let built: Vec<(bool, anyhow::Result<Slot>)> = drafts
                .into_par_iter()
                .map(|(preload, slot)| {
                    let jobs = slot
                        .into_iter()
                        .map(|d| self.build(d, &sps))
                        .collect::<anyhow::Result<Slot>>();
                    (preload, jobs)
                })
                .collect();
            for (preload, slot) in built {
                let slot = match slot {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("loadgen: cannot build a request: {e:#}");
                        return;
                    }
                };
                if tx.blocking_send((preload, slot)).is_err() {
                    return;
                }
            }
        }
    }
}

impl Shared {
    async fn enrol_once(
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
    async fn enrol_settled(&self, sp: usize, body: &Bytes) -> Result<Reply, ClientError> {
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

    async fn enrol(
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
    async fn status(&self) -> Option<Option<String>> {
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

    async fn identify(&self, body: &Bytes, person: u64) -> Option<String> {
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
    async fn verify(&self, request_id: &str, probe: &Value, person: u64) -> Option<Option<String>> {
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
    async fn handle(self: Arc<Self>, job: Job, scheduled: Instant, measured: bool) -> bool {
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

fn spawn_progress(
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if *stop.borrow() {
                break;
            }
            let (done, errors, p99) = {
                let s = lock(&shared.stats);
                (s.ok + s.error_count(), s.error_count(), s.overall().p99_ms)
            };
            let t = shared.start.elapsed().as_secs_f64();
            eprint!(
                "\r[{t:6.0} s] answered {done:7}  {:6.2}/s  in flight {:4}  p99 {p99:8.1} ms  errors {errors:5}   ",
                done as f64 / t.max(1e-9),
                shared.in_flight.load(std::sync::atomic::Ordering::Relaxed),
            );
        }
        eprintln!();
    })
}

/// Runs the load: keys, preload, measured phase; returns the report.
pub async fn run(cfg: LoadConfig) -> anyhow::Result<(LoadReport, Stats)> {
    anyhow::ensure!(
        cfg.service_points >= 1,
        "--service-points must be at least 1"
    );
    anyhow::ensure!(
        cfg.concurrency.is_some() || (cfg.rate.is_finite() && cfg.rate > 0.0),
        "--rate must be positive (or use --concurrency)"
    );
    let http = Http::new(&cfg.target)?;
    let key_timeout = Duration::from_secs(30);
    let origins = service_points(cfg.seed, cfg.service_points, &cfg.run_id);
    let mut sps = Vec::with_capacity(origins.len());
    for o in &origins {
        let body = json!({"role": "service-point", "name": format!("loadgen {}", o.service_point),
            "district": o.district, "service_point": o.service_point});
        sps.push((
            o.clone(),
            create_key(&http, &cfg.api_key, body, key_timeout).await?,
        ));
    }
    let analyst = if cfg.mix.identify > 0.0 || cfg.mix.verify > 0.0 {
        let body = json!({"role": "analyst", "name": format!("loadgen {}analyst", cfg.run_id)});
        create_key(&http, &cfg.api_key, body, key_timeout).await?
    } else {
        String::new()
    };

    let (tx, mut rx) = mpsc::channel::<(bool, Slot)>(256);
    let producer = Producer {
        planner: RequestPlanner::new(cfg.seed, cfg.duplicate_ratio, cfg.first_person, &cfg.run_id),
        builder: BodyBuilder::new(cfg.seed),
        rng: StdRng::seed_from_u64(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        sp_of: HashMap::new(),
        probe_counter: 0,
        cfg: cfg.clone(),
    };
    let producer_origins = origins.clone();
    let producer_thread = std::thread::Builder::new()
        .name("loadgen-producer".into())
        .spawn(move || producer.run(producer_origins, tx))?;

    let shared = Arc::new(Shared {
        http,
        sps,
        analyst,
        timeout: cfg.timeout,
        retry_timeout: cfg.retry_timeout,
        start: Instant::now(),
        truth: Mutex::new(Truth::default()),
        stats: Mutex::new(Stats::new()?),
        counters: Mutex::new(Counters::default()),
        acked: Mutex::new(Vec::new()),
        reference_of: Mutex::new(HashMap::new()),
        in_flight: std::sync::atomic::AtomicU64::new(0),
        rng: Mutex::new(StdRng::seed_from_u64(cfg.seed ^ 0x5354)),
    });

    // Preload: closed loop, not measured.
    let mut preload = PreloadReport::default();
    if cfg.preload > 0 {
        let t0 = Instant::now();
        let bar = indicatif::ProgressBar::new(cfg.preload);
        let rx_shared = Arc::new(tokio::sync::Mutex::new(&mut rx));
        let errors = std::sync::atomic::AtomicU64::new(0);
        let taken = std::sync::atomic::AtomicU64::new(0);
        let total = cfg.preload;
        let workers = (0..cfg.preload_concurrency.max(1)).map(|_| {
            let rx = rx_shared.clone();
            let shared = shared.clone();
            let (bar, errors, taken) = (&bar, &errors, &taken);
            async move {
                while taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    let next = rx.lock().await.recv().await;
                    let Some((_, slot)) = next else { break };
                    for job in slot {
                        if !shared.clone().handle(job, Instant::now(), false).await {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    bar.inc(1);
                }
            }
        });
        futures_join_all(workers).await;
        bar.finish();
        preload = PreloadReport {
            requests: cfg.preload,
            errors: errors.into_inner(),
            seconds: t0.elapsed().as_secs_f64(),
        };
    }

    // Measured phase.
    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        http: shared.http.clone(),
        sps: shared.sps.clone(),
        analyst: shared.analyst.clone(),
        timeout: shared.timeout,
        retry_timeout: shared.retry_timeout,
        truth: Mutex::new(std::mem::take(&mut *lock(&shared.truth))),
        stats: Mutex::new(Stats::new()?),
        counters: Mutex::new(std::mem::take(&mut *lock(&shared.counters))),
        acked: Mutex::new(std::mem::take(&mut *lock(&shared.acked))),
        reference_of: Mutex::new(std::mem::take(&mut *lock(&shared.reference_of))),
        in_flight: std::sync::atomic::AtomicU64::new(0),
        rng: Mutex::new(StdRng::seed_from_u64(cfg.seed ^ 0x5354)),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let progress = cfg
        .progress
        .then(|| spawn_progress(shared.clone(), stop_rx));
    let mut tasks = tokio::task::JoinSet::new();
    let end = start + cfg.duration;
    match cfg.concurrency {
        None => {
            let mut i: u64 = 0;
            let mut next_burst =
                (cfg.burst_every > 0.0).then(|| start + Duration::from_secs_f64(cfg.burst_every));
            loop {
                let scheduled = start + Duration::from_secs_f64(i as f64 / cfg.rate);
                if scheduled >= end {
                    break;
                }
                let mut extra = 0;
                let at = match next_burst {
                    Some(b) if b <= scheduled => {
                        next_burst = Some(b + Duration::from_secs_f64(cfg.burst_every));
                        extra = cfg.burst_size;
                        lock(&shared.counters).bursts += 1;
                        b
                    }
                    _ => {
                        i += 1;
                        scheduled
                    }
                };
                tokio::time::sleep_until(at.into()).await;
                for _ in 0..extra.max(1) {
                    let Some((_, slot)) = rx.recv().await else {
                        break;
                    };
                    if Instant::now().saturating_duration_since(at) > Duration::from_millis(100) {
                        lock(&shared.counters).late_sends += 1;
                    }
                    for job in slot {
                        tasks.spawn(shared.clone().handle(job, at, true));
                    }
                }
            }
        }
        Some(c) => {
            let rx = Arc::new(tokio::sync::Mutex::new(std::mem::replace(
                &mut rx,
                mpsc::channel(1).1,
            )));
            for _ in 0..c.max(1) {
                let rx = rx.clone();
                let shared = shared.clone();
                tasks.spawn(async move {
                    while Instant::now() < end {
                        let Some((_, slot)) = rx.lock().await.recv().await else {
                            break;
                        };
                        let at = Instant::now();
                        let mut all = tokio::task::JoinSet::new();
                        for job in slot {
                            all.spawn(shared.clone().handle(job, at, true));
                        }
                        while all.join_next().await.is_some() {}
                    }
                    true
                });
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    drop(rx);
    let elapsed = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    if let Some(p) = progress {
        let _ = p.await;
    }
    drop(producer_thread);

    let stats = std::mem::replace(&mut *lock(&shared.stats), Stats::new()?);
    let truth = lock(&shared.truth).check();
    let counters = lock(&shared.counters).clone();
    let overall = stats.overall();
    let per_op = stats.per_op();
    let achieved = stats.ok as f64 / elapsed.max(1e-9);
    let (mode, target) = match cfg.concurrency {
        Some(_) => ("closed", 0.0),
        None => ("open", cfg.rate),
    };
    let errors = stats.error_count();
    let sustained = cfg.concurrency.is_none() && achieved >= 0.95 * cfg.rate && errors == 0;
    let statement = match cfg.concurrency {
        Some(c) => format!(
            "closed loop at concurrency {c}: {achieved:.2} answers/s, p99 {:.0} ms, {errors} errors",
            overall.p99_ms
        ),
        None if sustained => format!(
            "target rate {:.2}/s sustained: {achieved:.2} successful answers/s over {elapsed:.0} s, p99 {:.0} ms",
            cfg.rate, overall.p99_ms
        ),
        None => format!(
            "target rate {:.2}/s NOT sustained: {achieved:.2} successful answers/s over {elapsed:.0} s, {errors} errors, {} late sends, p99 {:.0} ms",
            cfg.rate, counters.late_sends, overall.p99_ms
        ),
    };
    let report = LoadReport {
        mode,
        target_rate: target,
        achieved_rate: achieved,
        concurrency: cfg.concurrency,
        duration_s: cfg.duration.as_secs_f64(),
        elapsed_s: elapsed,
        requests: overall.count,
        enrolments: per_op.get(&OpKind::Enrol).map_or(0, |p| p.count),
        p50_ms: overall.p50_ms,
        p90_ms: overall.p90_ms,
        p99_ms: overall.p99_ms,
        p999_ms: overall.p999_ms,
        max_ms: overall.max_ms,
        errors,
        errors_by_reason: stats.errors.clone(),
        per_op,
        missed_duplicates: truth.missed_duplicates,
        false_duplicates: truth.false_duplicates,
        retry_mismatches: counters.retry_mismatches,
        truth,
        counters,
        preload,
        sustained,
        statement,
    };
    Ok((report, stats))
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futs {
        set.push(f);
    }
    let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
