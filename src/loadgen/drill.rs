//! The crash drill: `tunggal serve` as a child process on one data directory, enrolments
//! driven at it, `kill -9` at random moments, and after every restart a check that each
//! acknowledged enrolment is still there with its verdict, that each unacknowledged one is
//! absent or complete, and that duplicates across the crash boundary are still caught.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::body::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};

use super::client::Http;
use super::requests::{BodyBuilder, Expected, Origin, Planned, RequestPlanner};
use super::truth::{Truth, TruthCheck};

/// Options of a crash drill.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The `tunggal` binary to run as the server.
    pub binary: PathBuf,
    /// Data directory (kept across kills).
    pub data_dir: PathBuf,
    /// Kills in a row.
    pub kills: u32,
    /// Seed of the population and of the kill times.
    pub seed: u64,
    /// Share of enrolments that are a returning person.
    pub duplicate_ratio: f64,
    /// Enrolments in flight at once.
    pub concurrency: usize,
    /// Shortest time from ready to kill.
    pub min_uptime: Duration,
    /// Longest time from ready to kill.
    pub max_uptime: Duration,
    /// How long a request must have been outstanding before a kill may land on it: once the
    /// uptime has passed, the kill waits for such a request, so it reaches the server.
    pub min_request_age: Duration,
    /// Longest wait past the uptime for a request in flight; a kill that finds none by then
    /// lands anyway and counts as a kill without work in flight.
    pub in_flight_timeout: Duration,
    /// Longest wait for `/ready` after a start.
    pub ready_timeout: Duration,
    /// Print one line per round.
    pub verbose: bool,
}

/// The drill's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrashReport {
    /// Kills done.
    pub kills: u32,
    /// Enrolments sent.
    pub sent: u64,
    /// Enrolments answered with a verdict before a kill.
    pub acknowledged: u64,
    /// Acknowledged enrolments missing, or read back with another verdict, after a restart.
    pub lost: u64,
    /// Unacknowledged enrolments read back neither absent (404) nor with a verdict.
    pub half_written: u64,
    /// Unacknowledged enrolments found complete after the restart.
    pub unacknowledged_present: u64,
    /// Unacknowledged enrolments absent after the restart.
    pub unacknowledged_absent: u64,
    /// Unacknowledged enrolments sent again (same request id) after the restart.
    pub resent: u64,
    /// Resent ones whose answer disagreed with what the restart showed.
    pub resend_mismatches: u64,
    /// Duplicates sent after a restart whose first enrolment was acknowledged before a kill.
    pub cross_crash_duplicates: u64,
    /// Of those, answered `single`.
    pub cross_crash_missed: u64,
    /// Ground truth over every verdict seen.
    pub truth: TruthCheck,
    /// Seconds from start to ready, per start.
    pub ready_seconds: Vec<f64>,
    /// Enrolment requests outstanding at each kill (sent, not answered).
    pub outstanding_at_kill: Vec<u64>,
    /// Of those, per kill, the requests the kill cut: they never got an HTTP answer.
    pub in_flight_at_kill: Vec<u64>,
    /// Kills that cut at least one request in flight (the drill passes only if ≥ 90 %).
    pub kills_with_work_in_flight: u32,
    /// Whether every check held.
    pub passed: bool,
}

#[derive(Debug, Clone)]
struct Sent {
    plan: Planned,
    sp: usize,
    body: Bytes,
    round: u32,
}

#[derive(Debug, Clone)]
struct Acked {
    sp: usize,
    verdict: String,
    reference: Option<String>,
    round: u32,
}

#[derive(Debug, Default)]
struct Book {
    acked: HashMap<String, Acked>,
    unacked: Vec<Sent>,
    truth: Truth,
    report: CrashReport,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const ADMIN_KEY: &str = "crash-drill-admin-key-4b1d0c9e7a2f55e1";

struct Server {
    child: Child,
    http: Http,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

async fn start(cfg: &CrashConfig, round: u32) -> anyhow::Result<(Server, f64)> {
    let port = free_port()?;
    let log = std::fs::File::create(cfg.data_dir.join(format!("drill-serve-{round}.log")))?;
    let child = Command::new(&cfg.binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(&cfg.data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("TUNGGAL_ADMIN_KEY", ADMIN_KEY)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", cfg.binary.display()))?;
    let mut server = Server {
        child,
        http: Http::new(&format!("http://127.0.0.1:{port}"))?,
    };
    let t0 = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait()? {
            anyhow::bail!("server exited with {status} before it was ready (round {round})");
        }
        if let Ok(r) = server
            .http
            .get("/ready", None, Duration::from_secs(2))
            .await
        {
            if r.status == 200 {
                return Ok((server, t0.elapsed().as_secs_f64()));
            }
        }
        if t0.elapsed() > cfg.ready_timeout {
            let _ = server.child.kill();
            let _ = server.child.wait();
            anyhow::bail!(
                "server not ready within {:?} (round {round})",
                cfg.ready_timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_keys(http: &Http, origins: &[Origin]) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    for o in origins {
        let body = json!({"role": "service-point", "name": format!("drill {}", o.service_point),
            "district": o.district, "service_point": o.service_point});
        let r = http
            .post(
                "/v1/admin/keys",
                Some(ADMIN_KEY),
                Bytes::from(body.to_string()),
                Duration::from_secs(30),
            )
            .await?;
        anyhow::ensure!(r.ok(), "creating a key answered {}", r.status);
        keys.push(
            r.json()
                .get("key")
                .and_then(Value::as_str)
                .context("no key")?
                .to_owned(),
        );
    }
    Ok(keys)
}

fn verdict_of(v: &Value) -> Option<String> {
    v.get("verdict").and_then(Value::as_str).map(str::to_owned)
}

fn reference_of(v: &Value) -> Option<String> {
    v.get("reference_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Checks every enrolment against the restarted server, then resends the unacknowledged.
async fn check_after_restart(
    http: &Http,
    keys: &[String],
    book: &Mutex<Book>,
    round: u32,
) -> anyhow::Result<()> {
    let acked: Vec<(String, Acked)> = lock(book)
        .acked
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let timeout = Duration::from_secs(30);
    let key = |sp: usize| keys.get(sp).map(String::as_str);
    for (rid, a) in &acked {
        let r = http
            .get(&format!("/v1/enrolments/{rid}"), key(a.sp), timeout)
            .await?;
        let v = r.json();
        let same = r.status == 200
            && verdict_of(&v).as_deref() == Some(a.verdict.as_str())
            && (a.reference.is_none() || reference_of(&v) == a.reference);
        if !same {
            eprintln!(
                "drill: round {round}: acknowledged {rid} ({}) read back as {} {}",
                a.verdict, r.status, v
            );
            lock(book).report.lost += 1;
        }
    }
    let unacked = std::mem::take(&mut lock(book).unacked);
    for s in unacked {
        let rid = &s.plan.request_id;
        let r = http
            .get(&format!("/v1/enrolments/{rid}"), key(s.sp), timeout)
            .await?;
        let v = r.json();
        let seen = match (r.status, verdict_of(&v)) {
            (404, _) => {
                lock(book).report.unacknowledged_absent += 1;
                None
            }
            (200, Some(verdict)) => {
                lock(book).report.unacknowledged_present += 1;
                Some(verdict)
            }
            _ => {
                eprintln!(
                    "drill: round {round}: unacknowledged {rid} read back as {} {v}",
                    r.status
                );
                lock(book).report.half_written += 1;
                None
            }
        };
        // The client retries with the same request id, as a service point would.
        let r = http
            .post(
                "/v1/enrolments",
                key(s.sp),
                s.body.clone(),
                Duration::from_secs(120),
            )
            .await?;
        let answer = r.json();
        let mut b = lock(book);
        b.report.resent += 1;
        if r.ok() {
            let verdict = verdict_of(&answer).unwrap_or_default();
            if seen.as_ref().is_some_and(|s| *s != verdict) {
                b.report.resend_mismatches += 1;
            }
            record(&mut b, &s, &answer, round);
        } else {
            eprintln!(
                "drill: round {round}: resending {rid} answered {} {answer}",
                r.status
            );
            b.report.resend_mismatches += 1;
        }
    }
    Ok(())
}

fn record(b: &mut Book, s: &Sent, answer: &Value, round: u32) {
    let verdict = verdict_of(answer).unwrap_or_default();
    let candidates = answer
        .get("candidates")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    c.get("request_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    b.truth.record(
        &s.plan.request_id,
        s.plan.person_id,
        false,
        &verdict,
        candidates,
    );
    if s.plan.expected == Expected::Duplicate {
        let first_round = s
            .plan
            .duplicate_of
            .as_ref()
            .and_then(|f| b.acked.get(f))
            .filter(|a| a.verdict == "single")
            .map(|a| a.round);
        if first_round.is_some_and(|r| r < s.round) {
            b.report.cross_crash_duplicates += 1;
            if verdict == "single" {
                b.report.cross_crash_missed += 1;
            }
        }
    }
    b.report.acknowledged += 1;
    b.acked.insert(
        s.plan.request_id.clone(),
        Acked {
            sp: s.sp,
            verdict,
            reference: reference_of(answer),
            round,
        },
    );
}

/// One round's requests between send and answer, and what the kill cut.
#[derive(Debug, Default)]
struct Flight {
    next: u64,
    /// Outstanding requests by ticket, with when each was sent.
    open: HashMap<u64, Instant>,
    /// Set under the same lock as the kill: no request is sent after it.
    killed: bool,
    /// The requests outstanding for at least the minimum age when the kill landed.
    aged_at_kill: HashSet<u64>,
    /// Of those, the ones that never got an HTTP answer.
    cut: u64,
}

impl Flight {
    /// A ticket for a request about to be sent; `None` once the server was killed.
    fn send(&mut self) -> Option<u64> {
        if self.killed {
            return None;
        }
        let ticket = self.next;
        self.next += 1;
        self.open.insert(ticket, Instant::now());
        Some(ticket)
    }

    /// The request `ticket` ended, with an HTTP answer or without one.
    fn answered(&mut self, ticket: u64, with_answer: bool) {
        self.open.remove(&ticket);
        if !with_answer && self.aged_at_kill.contains(&ticket) {
            self.cut += 1;
        }
    }

    /// Whether a request has been outstanding for at least `age`.
    fn has_aged(&self, age: Duration) -> bool {
        self.open.values().any(|t| t.elapsed() >= age)
    }

    /// Marks the kill; returns how many requests were outstanding.
    fn kill(&mut self, age: Duration) -> u64 {
        self.killed = true;
        self.aged_at_kill = self
            .open
            .iter()
            .filter(|(_, t)| t.elapsed() >= age)
            .map(|(&k, _)| k)
            .collect();
        self.open.len() as u64
    }
}

/// The endless supply of planned enrolments, each with the service point sending it (a
/// returning person comes back at another service point than the first time).
struct Generator {
    planner: RequestPlanner,
    rng: StdRng,
    sp_of: HashMap<String, usize>,
    origins: usize,
}

impl Generator {
    fn next(&mut self) -> Option<(Planned, usize)> {
        let plan = self.planner.next()?;
        let n = self.origins.max(2);
        let sp = match plan.duplicate_of.as_ref().and_then(|f| self.sp_of.get(f)) {
            Some(&f) => (f + 1 + self.rng.gen_range(0..n - 1)) % n,
            None => self.rng.gen_range(0..n),
        };
        self.sp_of.insert(plan.request_id.clone(), sp);
        Some((plan, sp))
    }
}

/// Runs the drill.
pub async fn crash(cfg: CrashConfig) -> anyhow::Result<CrashReport> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let origins: Vec<Origin> = ["317101", "327301", "357801"]
        .iter()
        .enumerate()
        .map(|(i, d)| Origin {
            district: (*d).to_owned(),
            service_point: format!("drill-sp{}", i + 1),
        })
        .collect();
    let book = Arc::new(Mutex::new(Book::default()));
    let planner = RequestPlanner::new(
        cfg.seed,
        cfg.duplicate_ratio,
        0,
        &format!("drill{}-", cfg.seed),
    );
    let builder = Arc::new(BodyBuilder::new(cfg.seed));
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x6b69_6c6c);
    let generator = Arc::new(Mutex::new(Generator {
        planner,
        rng: StdRng::seed_from_u64(cfg.seed ^ 0x7370),
        sp_of: HashMap::new(),
        origins: origins.len(),
    }));
    let mut keys: Vec<String> = Vec::new();
    for round in 1..=cfg.kills + 1 {
        let (mut server, ready) = start(&cfg, round).await?;
        lock(&book).report.ready_seconds.push(ready);
        if keys.is_empty() {
            keys = create_keys(&server.http, &origins).await?;
        }
        check_after_restart(&server.http, &keys, &book, round).await?;
        if round > cfg.kills {
            let _ = server.child.kill();
            let _ = server.child.wait();
            break;
        }
        // Enrolments are planned and built while the round runs (bodies on the blocking
        // pool); requests go on until the kill.
        let uptime = rng.gen_range(cfg.min_uptime..=cfg.max_uptime.max(cfg.min_uptime));
        let deadline = Instant::now() + uptime;
        let flight = Arc::new(Mutex::new(Flight::default()));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..cfg.concurrency.max(1) {
            let (generator, book, http, keys) = (
                generator.clone(),
                book.clone(),
                server.http.clone(),
                keys.clone(),
            );
            let (builder, origins, flight) = (builder.clone(), origins.clone(), flight.clone());
            workers.spawn(async move {
                while !lock(&flight).killed {
                    let Some((plan, sp)) = lock(&generator).next() else {
                        break;
                    };
                    let (builder, origin) = (builder.clone(), origins.get(sp).cloned());
                    let built = tokio::task::spawn_blocking(move || {
                        let body = builder.enrolment(&plan, origin.as_ref())?;
                        anyhow::Ok((plan, Bytes::from(serde_json::to_vec(&body)?)))
                    })
                    .await;
                    let Ok(Ok((plan, body))) = built else { break };
                    let s = Sent {
                        plan,
                        sp,
                        body,
                        round,
                    };
                    let Some(ticket) = lock(&flight).send() else {
                        // Built after the kill: the next round sends it as a retry (counted
                        // as sent, and as unacknowledged, like a request the kill cut).
                        let mut b = lock(&book);
                        b.report.sent += 1;
                        b.unacked.push(s);
                        break;
                    };
                    lock(&book).report.sent += 1;
                    let key = keys.get(s.sp).map(String::as_str);
                    let r = http
                        .post(
                            "/v1/enrolments",
                            key,
                            s.body.clone(),
                            Duration::from_secs(120),
                        )
                        .await;
                    lock(&flight).answered(ticket, r.is_ok());
                    let mut b = lock(&book);
                    match r {
                        Ok(reply) if reply.ok() => record(&mut b, &s, &reply.json(), round),
                        _ => b.unacked.push(s),
                    }
                }
            });
        }
        tokio::time::sleep_until(deadline.into()).await;
        // The kill waits for a request that has been outstanding long enough to have reached
        // the server (or gives up after `in_flight_timeout`, and the kill then counts as one
        // without work in flight).
        let give_up = Instant::now() + cfg.in_flight_timeout;
        let outstanding = loop {
            {
                let mut f = lock(&flight);
                if f.has_aged(cfg.min_request_age) || Instant::now() >= give_up {
                    // SIGKILL (no shutdown path runs) under the lock: no request is sent, and
                    // none is seen answered, between the snapshot and the kill.
                    let n = f.kill(cfg.min_request_age);
                    server.child.kill()?;
                    break n;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        server.child.wait()?;
        while workers.join_next().await.is_some() {}
        let cut = lock(&flight).cut;
        let mut b = lock(&book);
        b.report.kills = round;
        b.report.outstanding_at_kill.push(outstanding);
        b.report.in_flight_at_kill.push(cut);
        if cfg.verbose {
            println!(
                "kill {round}/{} after {:.1} s: sent {}, acknowledged {}, outstanding at the kill \
                 {outstanding}, cut by it {cut}, unacknowledged so far {}",
                cfg.kills,
                uptime.as_secs_f64(),
                b.report.sent,
                b.report.acknowledged,
                b.unacked.len()
            );
        }
    }
    let mut b = lock(&book);
    b.report.truth = b.truth.check();
    let r = &b.report;
    let with_work = r.in_flight_at_kill.iter().filter(|&&n| n > 0).count();
    b.report.kills_with_work_in_flight = with_work as u32;
    let r = &b.report;
    // At least 90 % of the kills must hit requests in flight, or the drill proves little.
    let enough_in_flight = with_work * 10 >= r.in_flight_at_kill.len() * 9;
    let passed = enough_in_flight
        && r.lost == 0
        && r.half_written == 0
        && r.resend_mismatches == 0
        && r.cross_crash_missed == 0
        && r.truth.missed_duplicates == 0
        && r.truth.false_duplicates == 0;
    b.report.passed = passed;
    Ok(b.report.clone())
}
