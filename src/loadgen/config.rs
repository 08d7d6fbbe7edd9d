//! The load generator's configuration and its report.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::stats::{OpKind, Percentiles};
use super::truth::TruthCheck;

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

/// Why an operation mix does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MixError {
    /// A part is not `op=share`.
    #[error("{0:?} is not op=share")]
    NotPair(String),
    /// A share is not a number.
    #[error("{0:?} is not a number")]
    NotNumber(String),
    /// A share is negative or not finite.
    #[error("share {0} must be ≥ 0")]
    Negative(f64),
    /// The operation is not one loadgen sends.
    #[error("unknown operation {0:?}")]
    UnknownOperation(String),
    /// Every share is zero.
    #[error("the mix is empty")]
    Empty,
}

impl std::str::FromStr for Mix {
    type Err = MixError;

    /// Parses `enrol=0.8,identify=0.1,verify=0.05,status=0.05`.
    fn from_str(s: &str) -> Result<Self, MixError> {
        let mut m = Self {
            enrol: 0.0,
            identify: 0.0,
            verify: 0.0,
            status: 0.0,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| MixError::NotPair(part.to_owned()))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| MixError::NotNumber(v.to_owned()))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(MixError::Negative(v));
            }
            match k.trim() {
                "enrol" => m.enrol = v,
                "identify" => m.identify = v,
                "verify" => m.verify = v,
                "status" => m.status = v,
                other => return Err(MixError::UnknownOperation(other.to_owned())),
            }
        }
        if m.enrol + m.identify + m.verify + m.status <= 0.0 {
            return Err(MixError::Empty);
        }
        Ok(m)
    }
}

impl Mix {
    pub(super) fn pick(&self, u: f64) -> OpKind {
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
