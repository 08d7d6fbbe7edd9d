//! The producer: request bodies built ahead of their send time, with their ground truth.

use std::collections::HashMap;

use hyper::body::Bytes;
use rand::rngs::StdRng;
use rand::Rng;
use rayon::prelude::*;
use serde_json::json;
use tokio::sync::mpsc;
use tunggal_datasets::demographics::Demographics;

use super::config::*;
use super::requests::{BodyBuilder, Origin, Planned, RequestPlanner};
use super::stats::OpKind;
use super::worker::*;

/// The simulated service points: distinct districts, ids `{run}-sp{k}`.
pub(super) fn service_points(seed: u64, k: usize, run_id: &str) -> Vec<Origin> {
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

pub(super) struct Producer {
    pub(super) cfg: LoadConfig,
    pub(super) planner: RequestPlanner,
    pub(super) builder: BodyBuilder,
    pub(super) rng: StdRng,
    pub(super) sp_of: HashMap<String, usize>,
    pub(super) probe_counter: u64,
}

pub(super) enum Draft {
    Enrol(Planned, usize, bool, bool),
    Identify(u64, u64),
    Verify(u64, u64),
    Status,
}

impl Producer {
    pub(super) fn other_sp(&mut self, not: usize) -> usize {
        let k = self.cfg.service_points;
        if k < 2 {
            return 0;
        }
        (not + 1 + self.rng.gen_range(0..k - 1)) % k
    }

    pub(super) fn enrol_draft(&mut self, p: Planned, pair: bool) -> Draft {
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
    pub(super) fn plan(&mut self, preload: bool) -> Vec<Draft> {
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

    pub(super) fn build(&self, d: Draft, sps: &[Origin]) -> anyhow::Result<Job> {
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
    pub(super) fn run(mut self, sps: Vec<Origin>, tx: mpsc::Sender<(bool, Slot)>) {
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
