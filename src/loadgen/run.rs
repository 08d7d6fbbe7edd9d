//! The load generator: open-loop arrivals at a rate (latency from the scheduled send time) or
//! closed loop at a concurrency, over keep-alive connections, checked against ground truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::body::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::client::Http;
use super::producer::*;
use super::requests::{BodyBuilder, RequestPlanner};
use super::stats::{OpKind, Stats};
use super::truth::Truth;
use super::worker::*;

pub use super::config::{Counters, LoadConfig, LoadReport, Mix, PreloadReport};

/// Creates a key with the admin key.
pub(super) async fn create_key(
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

pub(super) fn spawn_progress(
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

pub(super) async fn futures_join_all<F: std::future::Future<Output = ()>>(
    futs: impl Iterator<Item = F>,
) {
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
