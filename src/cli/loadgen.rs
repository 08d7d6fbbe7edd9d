//! `tunggal loadgen`: drives a running server and checks every verdict against ground truth.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::loadgen::mosip_run::{HttpCompare, MosipLoadConfig, MosipLoadReport};
use crate::loadgen::run::{run, LoadConfig, LoadReport, Mix};

/// The interface a load run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Tunggal's own HTTP API.
    Http,
    /// MOSIP's ABIS interface: inserts and identifies through ActiveMQ (`docs/mosip.md`).
    Mosip,
}

/// Options of `tunggal loadgen`.
#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The interface to drive: `http`, or `mosip` (registrations through ActiveMQ: an insert
    /// and an identify each, `--rate` per second; see `--mosip-broker`).
    #[arg(long, value_enum, default_value_t = Protocol::Http)]
    protocol: Protocol,
    /// Admin API key; one service-point key per simulated service point is created with it
    /// (required for `--protocol http` and for `--compare-rounds`).
    #[arg(long)]
    api_key: Option<String>,
    /// MOSIP: the broker's STOMP connector, `host:port` (credentials from
    /// `TUNGGAL_MOSIP_BROKER_LOGIN` and `TUNGGAL_MOSIP_BROKER_PASSCODE`).
    #[arg(long, default_value = "127.0.0.1:61613")]
    mosip_broker: String,
    /// MOSIP: the request queue.
    #[arg(long, default_value = "mosip-to-abis")]
    mosip_inbound: String,
    /// MOSIP: the response queue.
    #[arg(long, default_value = "abis-to-mosip")]
    mosip_outbound: String,
    /// MOSIP: where loadgen serves the registrations' CBEFF (the datashare); the server
    /// must reach it. A token in `TUNGGAL_MOSIP_DATASHARE_TOKEN` is required of the server.
    #[arg(long, default_value = "127.0.0.1:0")]
    datashare_listen: SocketAddr,
    /// MOSIP: the URL base the server fetches shares from (default `http://` and the
    /// address `--datashare-listen` bound).
    #[arg(long)]
    datashare_url: Option<String>,
    /// MOSIP: after the run, this many rounds of one identify through ActiveMQ and the same
    /// search over HTTP (`--target`, `--api-key`), for the latency comparison.
    #[arg(long, default_value_t = 0)]
    compare_rounds: usize,
    /// With `--protocol mosip`: send fingers only (no iris code BIRs).
    #[arg(long)]
    mosip_no_iris: bool,
    /// Open-loop arrivals per second (latency counts from each scheduled send time).
    #[arg(long, default_value_t = 4.0)]
    rate: f64,
    /// Closed loop with this many requests in flight instead of open-loop arrivals.
    #[arg(long)]
    concurrency: Option<usize>,
    /// How long to send, e.g. `600s`, `10m`, `90`.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Share of enrolments that are a returning person under another name, NIK and district.
    #[arg(long, default_value_t = 0.1)]
    duplicate_ratio: f64,
    /// Simulated service points (each with its own key and district).
    #[arg(long, default_value_t = 8)]
    service_points: usize,
    /// Seed of the population and of every decision.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// JSON report.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Latency-over-time plot (SVG); defaults to the report path with `.svg`.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Enrol this many new people first (closed loop, not measured).
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Concurrency of the preload.
    #[arg(long, default_value_t = 4)]
    preload_concurrency: usize,
    /// Population id of the first new person (to stay clear of an imported gallery).
    #[arg(long, default_value_t = 0)]
    first_person: u64,
    /// Operation mix, e.g. `enrol=0.8,identify=0.1,verify=0.05,status=0.05`.
    #[arg(long, default_value = "enrol=1")]
    mix: Mix,
    /// Share of enrolments sent as a pair: the same person at two service points at once.
    #[arg(long, default_value_t = 0.05)]
    pair_ratio: f64,
    /// Share of enrolments sent with a short client timeout and then retried.
    #[arg(long, default_value_t = 0.03)]
    retry_ratio: f64,
    /// That short client timeout, in milliseconds.
    #[arg(long, default_value_t = 150)]
    retry_timeout_ms: u64,
    /// Seconds between bursts (0: none).
    #[arg(long, default_value_t = 30.0)]
    burst_every: f64,
    /// Extra requests sent at once in each burst.
    #[arg(long, default_value_t = 8)]
    burst_size: usize,
    /// Client timeout of a request, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Prefix of this run's request ids and service point ids (default: from the clock).
    #[arg(long)]
    run_id: Option<String>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

/// Why a duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The number is missing or malformed.
    #[error("bad duration {0:?}")]
    Number(String),
    /// The unit is not one of ms, s, m, h.
    #[error("bad duration unit in {0:?} (ms, s, m, h)")]
    Unit(String),
    /// The value is negative or too large.
    #[error("bad duration {text:?}: {reason}")]
    Range {
        /// The text given.
        text: String,
        /// Why it is out of range.
        reason: String,
    },
}

/// Parses `90`, `90s`, `10m`, `1h`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num
        .parse()
        .map_err(|_| DurationError::Number(s.to_owned()))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(DurationError::Unit(s.to_owned())),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| DurationError::Range {
        text: s.to_owned(),
        reason: e.to_string(),
    })
}

impl LoadgenArgs {
    fn run_id(&self) -> String {
        self.run_id.clone().unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("lg{secs}-")
        })
    }

    fn api_key(&self) -> anyhow::Result<String> {
        self.api_key
            .clone()
            .context("--api-key is required (the server's admin key)")
    }

    fn mosip_config(&self) -> anyhow::Result<MosipLoadConfig> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let compare = if self.compare_rounds > 0 {
            Some(HttpCompare {
                target: self.target.clone(),
                api_key: self.api_key()?,
                rounds: self.compare_rounds,
            })
        } else {
            None
        };
        Ok(MosipLoadConfig {
            broker: self.mosip_broker.clone(),
            login: env("TUNGGAL_MOSIP_BROKER_LOGIN")
                .map(|l| (l, env("TUNGGAL_MOSIP_BROKER_PASSCODE").unwrap_or_default())),
            inbound: self.mosip_inbound.clone(),
            outbound: self.mosip_outbound.clone(),
            datashare_listen: self.datashare_listen,
            datashare_base: self.datashare_url.clone(),
            datashare_token: env("TUNGGAL_MOSIP_DATASHARE_TOKEN"),
            rate: self.rate,
            duration: self.duration,
            duplicate_ratio: self.duplicate_ratio,
            irises: !self.mosip_no_iris,
            seed: self.seed,
            first_person: self.first_person,
            timeout: Duration::from_secs(self.timeout),
            run_id: self.run_id(),
            compare,
        })
    }

    fn config(&self) -> anyhow::Result<LoadConfig> {
        Ok(LoadConfig {
            target: self.target.clone(),
            api_key: self.api_key()?,
            rate: self.rate,
            concurrency: self.concurrency,
            duration: self.duration,
            duplicate_ratio: self.duplicate_ratio,
            service_points: self.service_points,
            seed: self.seed,
            preload: self.preload,
            preload_concurrency: self.preload_concurrency,
            first_person: self.first_person,
            mix: self.mix,
            pair_ratio: self.pair_ratio,
            retry_ratio: self.retry_ratio,
            retry_timeout: Duration::from_millis(self.retry_timeout_ms),
            burst_every: self.burst_every,
            burst_size: self.burst_size,
            timeout: Duration::from_secs(self.timeout),
            run_id: self.run_id(),
            progress: !self.quiet,
        })
    }

    /// Runs the load and writes the reports.
    pub fn run(&self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (text, statement, stats) = match self.protocol {
            Protocol::Http => {
                let (report, stats) = rt.block_on(run(self.config()?))?;
                print_report(&report);
                (
                    serde_json::to_string_pretty(&report)?,
                    report.statement,
                    stats,
                )
            }
            Protocol::Mosip => {
                let (report, stats) =
                    rt.block_on(crate::loadgen::mosip_run::run(self.mosip_config()?))?;
                print_mosip_report(&report);
                (
                    serde_json::to_string_pretty(&report)?,
                    report.statement,
                    stats,
                )
            }
        };
        if let Some(path) = &self.report {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("report: {}", path.display());
        }
        let plot = self
            .plot
            .clone()
            .or_else(|| self.report.as_ref().map(|r| r.with_extension("svg")));
        if let Some(path) = plot {
            stats.plot_svg(&path, &format!("tunggal loadgen: {statement}"))?;
            println!("plot: {}", path.display());
        }
        Ok(())
    }
}

fn print_report(r: &LoadReport) {
    println!("{}", r.statement);
    if r.preload.requests > 0 {
        println!(
            "preload: {} enrolments in {:.1} s ({} failed)",
            r.preload.requests, r.preload.seconds, r.preload.errors
        );
    }
    println!(
        "requests {}  enrolments {}  elapsed {:.1} s  achieved {:.2}/s  (target {:.2}/s)",
        r.requests, r.enrolments, r.elapsed_s, r.achieved_rate, r.target_rate
    );
    println!(
        "latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms
    );
    for (op, p) in &r.per_op {
        println!(
            "  {op:?}: {} answers, p50 {:.1}  p99 {:.1}  max {:.1}",
            p.count, p.p50_ms, p.p99_ms, p.max_ms
        );
    }
    println!("errors {}", r.errors);
    for (reason, n) in &r.errors_by_reason {
        println!("  {reason}: {n}");
    }
    let t = &r.truth;
    println!(
        "ground truth: {} acknowledged, {} rejected; missed duplicates {}, false duplicates {}, \
         wrong candidates {}; simultaneous pairs {} with {} missed; retry mismatches {}",
        t.acknowledged,
        t.rejected,
        t.missed_duplicates,
        t.false_duplicates,
        t.wrong_candidates,
        t.pairs,
        t.pair_missed_duplicates,
        r.retry_mismatches
    );
    let c = &r.counters;
    println!(
        "retries after timeout {}, duplicate deliveries {}, bursts {}, late sends {}, status {} ({} mismatched), identify {} hit / {} miss, verify {} match / {} non-match, skipped {}",
        c.retries_after_timeout,
        c.duplicate_deliveries,
        c.bursts,
        c.late_sends,
        c.status_checks,
        c.status_mismatches,
        c.identify_hits,
        c.identify_misses,
        c.verify_matches,
        c.verify_non_matches,
        c.skipped
    );
}

fn print_mosip_report(r: &MosipLoadReport) {
    println!("{}", r.statement);
    println!(
        "registrations {}  elapsed {:.1} s  answered {:.2}/s  (target {:.2}/s)  late sends {}",
        r.registrations, r.elapsed_s, r.achieved_rate, r.target_rate, r.late_sends
    );
    for (name, p) in [("insert", &r.insert), ("identify", &r.identify)] {
        println!(
            "  {name}: {} answers, p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1} ms",
            p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
        );
    }
    println!("errors {}", r.errors);
    for (reason, n) in &r.errors_by_reason {
        println!("  {reason}: {n}");
    }
    let t = &r.truth;
    println!(
        "ground truth: {} acknowledged, {} rejected; missed duplicates {}, false duplicates {}, \
         wrong candidates {}; mated identifies {} ({} found the earlier registration), \
         non-mated {} ({} named someone); stray answers {}",
        t.acknowledged,
        t.rejected,
        t.missed_duplicates,
        t.false_duplicates,
        t.wrong_candidates,
        r.mated,
        r.mated_found,
        r.non_mated,
        r.non_mated_with_candidates,
        r.stray_answers
    );
    for (probe, mate) in &r.mated_missed {
        println!("  mated identify {probe} did not name {mate}");
    }
    if let Some(c) = &r.comparison {
        for (name, l) in [("ActiveMQ", &c.activemq), ("HTTP", &c.http)] {
            println!(
                "  identify over {name}: {} answers, mean {:.1}  p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1} ms",
                l.count, l.mean_ms, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
            );
        }
        println!(
            "  difference (ActiveMQ - HTTP) over {} persons: p50 {:.1}  p95 {:.1}  p99 {:.1} ms; {} failed",
            c.gallery, c.difference_p50_ms, c.difference_p95_ms, c.difference_p99_ms, c.errors
        );
    }
}
