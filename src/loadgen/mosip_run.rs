//! `tunggal loadgen --protocol mosip`: MOSIP's registration processor played at a steady
//! rate against a Tunggal serving MOSIP's ABIS interface (`tunggal serve --mosip-broker`).
//!
//! Each arrival is one registration, planned like the HTTP load's enrolments
//! ([`RequestPlanner`]: a new person, or with `duplicate_ratio` a new capture of a person
//! registered earlier in the run): its CBEFF is put on the datashare, and an insert and the
//! identify of the same `referenceId` are queued back to back, as MOSIP's deduplication
//! does. Arrivals are queued in plan order, so each identify sees exactly the registrations
//! before it; its verdict is `duplicate` when it names candidates, else `single`, checked
//! against ground truth per person ([`Truth`]): a person inserted twice with two `single`s is
//! a missed duplicate.
//!
//! With `compare`, a second phase measures identify latency through the broker against the
//! same search over HTTP on the same gallery: rounds of one identify by `referenceId` of a
//! registered person and one `POST /v1/identify` with that person's same capture, one
//! request in flight, the order alternating each round.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::client::Http;
use super::mosip::{
    await_answer, candidate_ids, capture_cbeff, failure, request, Link, ShareServer,
};
use super::requests::{biometrics, BodyBuilder, Planned, RequestPlanner};
use super::run::create_key;
use super::stats::{OpKind, Percentiles, Stats};
use super::truth::{Truth, TruthCheck};
use super::worker::lock;

/// The HTTP side of the latency comparison.
#[derive(Clone)]
pub struct HttpCompare {
    /// Tunggal's HTTP API, `http://host:port`.
    pub target: String,
    /// Admin key (creates an analyst key for `POST /v1/identify`).
    pub api_key: String,
    /// Rounds of one identify each way.
    pub rounds: usize,
}

impl std::fmt::Debug for HttpCompare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCompare")
            .field("target", &self.target)
            .field("rounds", &self.rounds)
            .finish_non_exhaustive()
    }
}

/// Everything a MOSIP run needs.
#[derive(Clone)]
pub struct MosipLoadConfig {
    /// The broker's STOMP connector, `host:port`.
    pub broker: String,
    /// STOMP login and passcode.
    pub login: Option<(String, String)>,
    /// MOSIP's request queue.
    pub inbound: String,
    /// MOSIP's response queue.
    pub outbound: String,
    /// Where the run's datashare listens.
    pub datashare_listen: SocketAddr,
    /// The URL base the server fetches shares from (default `http://<bound address>`).
    pub datashare_base: Option<String>,
    /// The token the server must send to the datashare.
    pub datashare_token: Option<String>,
    /// Registrations per second.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// Share of registrations that are a person registered earlier in the run.
    pub duplicate_ratio: f64,
    /// Send the captures' irises (iris code BIRs) beside their fingers.
    pub irises: bool,
    /// Seed of the population and of every decision.
    pub seed: u64,
    /// Population id of the first new person.
    pub first_person: u64,
    /// Time allowed for one answer.
    pub timeout: Duration,
    /// Prefix of referenceIds and requestIds (unique per run).
    pub run_id: String,
    /// The latency comparison with HTTP, if wanted.
    pub compare: Option<HttpCompare>,
}

impl std::fmt::Debug for MosipLoadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MosipLoadConfig")
            .field("broker", &self.broker)
            .field("inbound", &self.inbound)
            .field("outbound", &self.outbound)
            .field("rate", &self.rate)
            .field("duration", &self.duration)
            .field("run_id", &self.run_id)
            .field("compare", &self.compare)
            .finish_non_exhaustive()
    }
}

/// Latency of one path of the comparison, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Answers measured.
    pub count: usize,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples`.
    pub fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| -> f64 {
            if ms.is_empty() {
                return 0.0;
            }
            let i = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1;
            ms.get(i).copied().unwrap_or(0.0)
        };
        Self {
            count: ms.len(),
            mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            p99_ms: rank(0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Identify through ActiveMQ against identify over HTTP, same persons, same gallery.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// MOSIP persons in the gallery when it ran.
    pub gallery: usize,
    /// Identify by `referenceId` through the broker (send to answer).
    pub activemq: Latency,
    /// `POST /v1/identify` with the same capture.
    pub http: Latency,
    /// ActiveMQ minus HTTP, median.
    pub difference_p50_ms: f64,
    /// ActiveMQ minus HTTP, 95th percentile.
    pub difference_p95_ms: f64,
    /// ActiveMQ minus HTTP, 99th percentile.
    pub difference_p99_ms: f64,
    /// Failed identifies (either way), not measured.
    pub errors: u64,
}

/// The report of a MOSIP run.
#[derive(Debug, Clone, Serialize)]
pub struct MosipLoadReport {
    /// `mosip`.
    pub protocol: &'static str,
    /// Registrations per second asked for.
    pub target_rate: f64,
    /// Registrations answered (insert and identify) per second.
    pub achieved_rate: f64,
    /// Seconds of sending asked for.
    pub duration_s: f64,
    /// Seconds from the first send to the last answer.
    pub elapsed_s: f64,
    /// Registrations sent.
    pub registrations: u64,
    /// Insert latency (scheduled send to answer).
    pub insert: Percentiles,
    /// Identify latency (scheduled send of its insert to the identify's answer: the whole
    /// deduplication of a registration).
    pub identify: Percentiles,
    /// Failed requests.
    pub errors: u64,
    /// Failures by reason (`mosip_<failureReason>`, `timeout`, `send_failed`).
    pub errors_by_reason: std::collections::BTreeMap<String, u64>,
    /// Persons registered more than once whose later identify named nobody (one per extra).
    pub missed_duplicates: u64,
    /// Ground truth in full.
    pub truth: TruthCheck,
    /// Registrations of a person registered earlier (mated identifies).
    pub mated: u64,
    /// Of those, identifies that named the earlier registration.
    pub mated_found: u64,
    /// Mated identifies that did not name the earlier registration: `(referenceId, the
    /// earlier registration's referenceId)`.
    pub mated_missed: Vec<(String, String)>,
    /// Registrations of a new person (non-mated identifies).
    pub non_mated: u64,
    /// Of those, identifies that named someone.
    pub non_mated_with_candidates: u64,
    /// Arrivals sent more than 100 ms after their time.
    pub late_sends: u64,
    /// Answers on the response queue that matched no request of this run.
    pub stray_answers: u64,
    /// The latency comparison with HTTP.
    pub comparison: Option<Comparison>,
    /// Plain statement of the outcome.
    pub statement: String,
}

#[derive(Debug, Default)]
struct Counts {
    mated: u64,
    mated_found: u64,
    mated_missed: Vec<(String, String)>,
    non_mated: u64,
    non_mated_with_candidates: u64,
    late_sends: u64,
}

struct Shared {
    start: Instant,
    timeout: Duration,
    stats: Mutex<Stats>,
    truth: Mutex<Truth>,
    counts: Mutex<Counts>,
    /// `(referenceId, person)` of first registrations whose insert succeeded.
    registered: Mutex<Vec<(String, u64)>>,
}

type Answer = tokio::sync::oneshot::Receiver<serde_json::Value>;

impl Shared {
    fn record(&self, op: OpKind, scheduled: Instant, error: Option<String>) {
        let latency = scheduled.elapsed().as_micros() as u64;
        let at = scheduled
            .saturating_duration_since(self.start)
            .as_secs_f64();
        lock(&self.stats).record(op, at, latency, error);
    }

    /// Waits for a registration's two answers and checks them against ground truth.
    async fn settle(
        self: Arc<Self>,
        plan: Planned,
        scheduled: Instant,
        sent: Result<(Answer, Answer), String>,
    ) {
        let (insert, identify) = match sent {
            Ok(pair) => pair,
            Err(e) => {
                self.record(OpKind::Enrol, scheduled, Some(e.clone()));
                self.record(OpKind::Identify, scheduled, Some(e));
                return;
            }
        };
        let inserted = await_answer(insert, self.timeout).await;
        let insert_error = inserted.as_ref().map_or_else(|e| Some(e.clone()), failure);
        let ok = insert_error.is_none();
        self.record(OpKind::Enrol, scheduled, insert_error);
        let answer = await_answer(identify, self.timeout).await;
        let identify_error = answer.as_ref().map_or_else(|e| Some(e.clone()), failure);
        self.record(OpKind::Identify, scheduled, identify_error.clone());
        let (Ok(answer), true, None) = (answer, ok, identify_error) else {
            lock(&self.truth).record(&plan.request_id, plan.person_id, false, "rejected", vec![]);
            return;
        };
        let found = candidate_ids(&answer);
        {
            let mut c = lock(&self.counts);
            match &plan.duplicate_of {
                Some(first) => {
                    c.mated += 1;
                    if found.contains(first) {
                        c.mated_found += 1;
                    } else {
                        c.mated_missed
                            .push((plan.request_id.clone(), first.clone()));
                    }
                }
                None => {
                    c.non_mated += 1;
                    c.non_mated_with_candidates += u64::from(!found.is_empty());
                }
            }
        }
        if plan.duplicate_of.is_none() {
            lock(&self.registered).push((plan.request_id.clone(), plan.person_id));
        }
        let verdict = if found.is_empty() {
            "single"
        } else {
            "duplicate"
        };
        lock(&self.truth).record(&plan.request_id, plan.person_id, false, verdict, found);
    }
}

/// Plans registrations and builds their CBEFF documents (off the async runtime) until the
/// receiver goes away.
fn produce(
    planner: RequestPlanner,
    builder: BodyBuilder,
    irises: bool,
    tx: mpsc::Sender<(Planned, Vec<u8>)>,
) {
    for plan in planner {
        let capture = builder.capture(&plan);
        let cbeff = match biometrics(&capture) {
            Ok((fingers, eyes)) => capture_cbeff(&fingers, if irises { &eyes[..] } else { &[] }),
            Err(e) => {
                tracing::error!(error = %e, "loadgen: cannot build a registration");
                return;
            }
        };
        if tx.blocking_send((plan, cbeff)).is_err() {
            return;
        }
    }
}

/// Runs the load (and the comparison); returns the report and the latency timeline.
pub async fn run(cfg: MosipLoadConfig) -> anyhow::Result<(MosipLoadReport, Stats)> {
    anyhow::ensure!(
        cfg.rate.is_finite() && cfg.rate > 0.0,
        "--rate must be positive"
    );
    let shares = ShareServer::start(
        cfg.datashare_listen,
        cfg.datashare_base.clone(),
        cfg.datashare_token.clone(),
    )
    .await?;
    let link = Link::connect(&cfg.broker, cfg.login.as_ref(), &cfg.inbound, &cfg.outbound).await?;
    let (tx, mut rx) = mpsc::channel(64);
    let planner = RequestPlanner::new(cfg.seed, cfg.duplicate_ratio, cfg.first_person, &cfg.run_id);
    let builder = BodyBuilder::new(cfg.seed);
    let producer_builder = builder.clone();
    let irises = cfg.irises;
    std::thread::Builder::new()
        .name("loadgen-mosip-producer".into())
        .spawn(move || produce(planner, producer_builder, irises, tx))?;

    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        timeout: cfg.timeout,
        stats: Mutex::new(Stats::new()?),
        truth: Mutex::new(Truth::default()),
        counts: Mutex::new(Counts::default()),
        registered: Mutex::new(Vec::new()),
    });
    let end = start + cfg.duration;
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent: u64 = 0;
    loop {
        let scheduled = start + Duration::from_secs_f64(sent as f64 / cfg.rate);
        if scheduled >= end {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let Some((plan, cbeff)) = rx.recv().await else {
            break;
        };
        sent += 1;
        if Instant::now().saturating_duration_since(scheduled) > Duration::from_millis(100) {
            lock(&shared.counts).late_sends += 1;
        }
        let url = shares.put(&plan.request_id, cbeff);
        let reference = plan.request_id.clone();
        let (insert_id, identify_id) = (format!("{reference}-i"), format!("{reference}-d"));
        let insert = request(
            "insert",
            &insert_id,
            json!({"referenceId": reference, "referenceURL": url}),
        );
        let identify = request("identify", &identify_id, json!({"referenceId": reference}));
        // Both are queued here, in plan order and back to back.
        let pair = match link.send(&insert_id, &insert).await {
            Ok(a) => match link.send(&identify_id, &identify).await {
                Ok(b) => Ok((a, b)),
                Err(e) => Err(format!("send_failed: {e}")),
            },
            Err(e) => Err(format!("send_failed: {e}")),
        }
        .map_err(|e| {
            tracing::warn!(error = %e, "loadgen: request not sent");
            "send_failed".to_owned()
        });
        tasks.spawn(shared.clone().settle(plan, scheduled, pair));
    }
    drop(rx);
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();

    let comparison = match &cfg.compare {
        Some(c) if c.rounds > 0 => Some(compare(&link, &shared, &builder, &cfg, c).await?),
        _ => None,
    };
    let strays = link.strays.load(std::sync::atomic::Ordering::Relaxed);
    link.close().await;
    shares.stop();

    let stats = std::mem::replace(&mut *lock(&shared.stats), Stats::new()?);
    let truth = lock(&shared.truth).check();
    let counts = std::mem::take(&mut *lock(&shared.counts));
    let per_op = stats.per_op();
    let insert = per_op.get(&OpKind::Enrol).cloned().unwrap_or_default();
    let identify = per_op.get(&OpKind::Identify).cloned().unwrap_or_default();
    let errors = stats.error_count();
    let answered = identify.count.min(insert.count);
    let achieved = answered as f64 / elapsed.max(1e-9);
    let mut statement = format!(
        "MOSIP: {sent} registrations at {:.2}/s over {elapsed:.0} s ({achieved:.2}/s answered), \
         {} missed duplicates, {} false duplicates, {errors} errors, identify p99 {:.0} ms",
        cfg.rate, truth.missed_duplicates, truth.false_duplicates, identify.p99_ms
    );
    if let Some(c) = &comparison {
        statement.push_str(&format!(
            "; identify over {} persons: ActiveMQ p50 {:.1} ms, HTTP p50 {:.1} ms, difference p50 {:.1} ms, p95 {:.1} ms",
            c.gallery, c.activemq.p50_ms, c.http.p50_ms, c.difference_p50_ms, c.difference_p95_ms
        ));
    }
    let report = MosipLoadReport {
        protocol: "mosip",
        target_rate: cfg.rate,
        achieved_rate: achieved,
        duration_s: cfg.duration.as_secs_f64(),
        elapsed_s: elapsed,
        registrations: sent,
        insert,
        identify,
        errors,
        errors_by_reason: stats.errors.clone(),
        missed_duplicates: truth.missed_duplicates,
        truth,
        mated: counts.mated,
        mated_found: counts.mated_found,
        mated_missed: counts.mated_missed,
        non_mated: counts.non_mated,
        non_mated_with_candidates: counts.non_mated_with_candidates,
        late_sends: counts.late_sends,
        stray_answers: strays,
        comparison,
        statement,
    };
    Ok((report, stats))
}

/// The comparison phase: one request in flight, alternating which path goes first.
async fn compare(
    link: &Link,
    shared: &Shared,
    builder: &BodyBuilder,
    cfg: &MosipLoadConfig,
    c: &HttpCompare,
) -> anyhow::Result<Comparison> {
    let registered = lock(&shared.registered).clone();
    anyhow::ensure!(
        !registered.is_empty(),
        "no registration succeeded: nothing to compare"
    );
    let http = Http::new(&c.target)?;
    let key_body = json!({"role": "analyst", "name": format!("loadgen {}mosip", cfg.run_id)});
    let analyst = create_key(&http, &c.api_key, key_body, Duration::from_secs(30)).await?;
    // The HTTP bodies are built first (on rayon), so that building is not measured.
    let picks: Vec<(String, u64)> = (0..c.rounds)
        .filter_map(|k| registered.get((k * 7919) % registered.len()).cloned())
        .collect();
    let (b, p, run_id) = (builder.clone(), picks.clone(), cfg.run_id.clone());
    let bodies = crate::work::run_on_rayon(move || -> anyhow::Result<Vec<Bytes>> {
        p.iter()
            .enumerate()
            .map(|(k, (_, person))| {
                let body = b.identify(&format!("{run_id}h{k}"), *person, 0)?;
                Ok(Bytes::from(serde_json::to_vec(&body)?))
            })
            .collect()
    })
    .await
    .map_err(|p| anyhow::anyhow!("{}", p.detail))??;
    let (mut over_queue, mut over_http) = (Vec::new(), Vec::new());
    let mut errors = 0u64;
    for (k, ((reference, _), body)) in picks.iter().zip(bodies).enumerate() {
        for path in [k % 2, 1 - k % 2] {
            let t = Instant::now();
            let ok = if path == 0 {
                let id = format!("{}c{k}", cfg.run_id);
                let req = request("identify", &id, json!({"referenceId": reference}));
                match link.call(&id, &req, cfg.timeout).await {
                    Ok(v) => failure(&v).is_none(),
                    Err(_) => false,
                }
            } else {
                http.post("/v1/identify", Some(&analyst), body.clone(), cfg.timeout)
                    .await
                    .is_ok_and(|r| r.ok())
            };
            let took = t.elapsed();
            match (ok, path) {
                (false, _) => errors += 1,
                (true, 0) => over_queue.push(took),
                (true, _) => over_http.push(took),
            }
        }
    }
    let (activemq, http) = (Latency::of(&over_queue), Latency::of(&over_http));
    Ok(Comparison {
        gallery: registered.len(),
        difference_p50_ms: activemq.p50_ms - http.p50_ms,
        difference_p95_ms: activemq.p95_ms - http.p95_ms,
        difference_p99_ms: activemq.p99_ms - http.p99_ms,
        activemq,
        http,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&samples);
        assert_eq!(l.count, 100);
        assert!((l.p50_ms - 50.0).abs() < 1e-9);
        assert!((l.p95_ms - 95.0).abs() < 1e-9);
        assert!((l.p99_ms - 99.0).abs() < 1e-9);
        assert!((l.max_ms - 100.0).abs() < 1e-9);
        assert!((l.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(Latency::of(&[]).count, 0);
    }
}
