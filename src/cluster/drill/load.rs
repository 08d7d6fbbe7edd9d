//! The drill's load: enrolments through the front-ends over HTTP, two at a time through
//! two different front-ends, with simultaneous pairs (two captures of one new person at
//! once through both) and retries (an answered request sent again through the other
//! front-end). A request that fails (a front-end killed, 5xx while the cluster elects a
//! leader) is sent again through the next front-end with the same request id until it is
//! answered or its deadline passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::loadgen::client::Http;
use crate::loadgen::requests::{BodyBuilder, Planned, RequestPlanner};

/// How long one request is tried, through every front-end, before it counts as unanswered.
const REQUEST_DEADLINE: Duration = Duration::from_secs(240);
/// Timeout of one HTTP exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(90);

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Rounds of two requests each.
    pub rounds: u64,
    /// Every this many rounds, the round is a simultaneous pair.
    pub pair_every: u64,
    /// Every this many answered requests, one is sent again through the other front-end.
    pub retry_every: u64,
    /// Population seed.
    pub seed: u64,
    /// Share of requests that are a returning person (outside the pairs).
    pub duplicate_ratio: f64,
}

/// An answered enrolment.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The request id.
    pub request_id: String,
    /// The population person it enrols.
    pub person_id: u64,
    /// `single`, `duplicate` or `rejected`.
    pub verdict: String,
    /// The applicant's reference id (its log sequence).
    pub reference_id: String,
    /// The candidates' reference ids, best first.
    pub candidates: Vec<String>,
}

/// What the load did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadOutcome {
    /// Answered requests.
    pub answers: Vec<Answer>,
    /// Requests sent.
    pub sent: u64,
    /// Every request sent: its request id and population person.
    pub planned: Vec<(String, u64)>,
    /// Requests never answered (request id and last failure).
    pub unanswered: Vec<(String, String)>,
    /// Simultaneous pairs sent.
    pub simultaneous_pairs: u64,
    /// Answered requests sent again through the other front-end.
    pub retries: u64,
    /// Of those, answered with another verdict or reference id.
    pub retry_mismatches: u64,
    /// Sends of a request again after a failure.
    pub failovers: u64,
}

/// The front-ends as HTTP clients, with the key to use.
#[derive(Debug, Clone)]
pub struct Fronts {
    /// One client per front-end.
    pub http: Vec<Http>,
    /// Bearer key.
    pub key: String,
}

/// One request's result: the answer's JSON or the last failure, and the failovers.
async fn send(fronts: &Fronts, first: usize, body: &Bytes) -> (Result<Value, String>, u64) {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let n = fronts.http.len().max(1);
    let mut front = first % n;
    let mut failovers = 0;
    loop {
        let Some(http) = fronts.http.get(front) else {
            return (Err("no front-end".into()), failovers);
        };
        let failure = match http
            .post(
                "/v1/enrolments",
                Some(&fronts.key),
                body.clone(),
                EXCHANGE_TIMEOUT,
            )
            .await
        {
            Ok(reply) if reply.ok() => return (Ok(reply.json()), failovers),
            // Refused for what it is: trying again would not change that.
            Ok(reply) if reply.status < 500 && reply.status != 429 => {
                return (Err(reply.reason()), failovers)
            }
            Ok(reply) => reply.reason(),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return (Err(failure), failovers);
        }
        failovers += 1;
        front = (front + 1) % n;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn answer_of(p: &Planned, v: &Value) -> Answer {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Answer {
        request_id: p.request_id.clone(),
        person_id: p.person_id,
        verdict: text(&v["verdict"]),
        reference_id: text(&v["reference_id"]),
        candidates: v["candidates"]
            .as_array()
            .map(|c| c.iter().map(|c| text(&c["reference_id"])).collect())
            .unwrap_or_default(),
    }
}

/// Sends one planned request through `front`, and again through the next front-end when
/// `retry`; folds the results into `out`.
async fn one(
    fronts: &Fronts,
    builder: &BodyBuilder,
    p: Planned,
    front: usize,
    retry: bool,
) -> LoadOutcome {
    let mut out = LoadOutcome {
        sent: 1,
        planned: vec![(p.request_id.clone(), p.person_id)],
        ..LoadOutcome::default()
    };
    let body = match builder
        .enrolment(&p, None)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::to_vec(&b).map_err(|e| e.to_string()))
    {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            out.unanswered.push((p.request_id, e));
            return out;
        }
    };
    let (first, failovers) = send(fronts, front, &body).await;
    out.failovers += failovers;
    let v = match first {
        Ok(v) => v,
        Err(e) => {
            out.unanswered.push((p.request_id, e));
            return out;
        }
    };
    let answer = answer_of(&p, &v);
    if retry {
        out.retries = 1;
        let (again, failovers) = send(fronts, front + 1, &body).await;
        out.failovers += failovers;
        let same = again.is_ok_and(|w| {
            let a = answer_of(&p, &w);
            a.verdict == answer.verdict && a.reference_id == answer.reference_id
        });
        out.retry_mismatches = u64::from(!same);
    }
    out.answers.push(answer);
    out
}

impl LoadOutcome {
    fn fold(&mut self, other: LoadOutcome) {
        self.answers.extend(other.answers);
        self.sent += other.sent;
        self.planned.extend(other.planned);
        self.unanswered.extend(other.unanswered);
        self.simultaneous_pairs += other.simultaneous_pairs;
        self.retries += other.retries;
        self.retry_mismatches += other.retry_mismatches;
        self.failovers += other.failovers;
    }
}

/// Runs the load; `round` is set to each round's number as it starts (the fault schedule
/// follows it).
pub async fn drive(plan: &LoadPlan, fronts: &Fronts, round: Arc<AtomicU64>) -> LoadOutcome {
    let mut planner = RequestPlanner::new(plan.seed, plan.duplicate_ratio, 0, "drill-");
    let builder = BodyBuilder::new(plan.seed);
    let mut out = LoadOutcome::default();
    let retry_every = plan.retry_every.max(1);
    for r in 0..plan.rounds {
        round.store(r, Ordering::SeqCst);
        let pair = plan.pair_every > 0 && r % plan.pair_every == plan.pair_every - 1;
        let (a, b) = if pair {
            let first = planner.new_person();
            let again = planner.again(&first.request_id, first.person_id);
            (first, again)
        } else {
            (
                planner.new_person_or_returning(),
                planner.new_person_or_returning(),
            )
        };
        let (retry_a, retry_b) = (a.index % retry_every == 0, b.index % retry_every == 0);
        let (x, y) = tokio::join!(
            one(fronts, &builder, a, 0, retry_a),
            one(fronts, &builder, b, 1, retry_b)
        );
        out.fold(x);
        out.fold(y);
        out.simultaneous_pairs += u64::from(pair);
    }
    round.store(plan.rounds, Ordering::SeqCst);
    out
}

/// The planner's next request (a new person, or a returning one at the planned ratio).
trait NextPlanned {
    fn new_person_or_returning(&mut self) -> Planned;
}

impl NextPlanned for RequestPlanner {
    fn new_person_or_returning(&mut self) -> Planned {
        match self.next() {
            Some(p) => p,
            None => self.new_person(),
        }
    }
}
