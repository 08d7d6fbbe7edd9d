//! `tunggal drill cluster`: the cluster under faults, checked against a single node.
//!
//! Three `nats-server` nodes in one JetStream cluster on loopback (R=3), `S` shards × `R`
//! replicas and two `serve --cluster` front-ends, all child processes. The load
//! ([`load`]) runs two requests at a time through different front-ends, with simultaneous
//! pairs and retries. A quarter of the way in, one shard replica, one NATS node and one
//! front-end are killed with SIGKILL; half-way, they are started again. After the load
//! ([`check`]):
//!
//! - every answered enrolment is in the log under its request id and, when `single`, held
//!   by its partition (`acknowledged_lost`);
//! - no answered enrolment is `single` when an earlier log entry enrolled the same person
//!   (`missed_duplicates`);
//! - every retry got the same verdict and reference id (`retry_mismatches`);
//! - every answer and every kept verdict equals a single-node replay of the log
//!   (`same_as_single_node`);
//! - the restarted replica has applied the whole log, and answers an identification alone
//!   (its siblings killed);
//! - a new replica of that shard, started on an empty directory, starts from a snapshot
//!   (replica 1 of every shard publishes one every `max(4, rounds / 2)` sequences), catches
//!   up and answers an identification alone.

pub mod check;
pub mod load;
pub mod procs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use self::check::Checks;
use self::load::{Fronts, LoadPlan};
use self::procs::{free_port, Launcher, NatsNodes, Proc};
use super::shard::read_applied;
use super::Front;
use crate::loadgen::client::Http;

/// What to run.
#[derive(Debug, Clone)]
pub struct DrillPlan {
    /// The `tunggal` binary to start shards and front-ends from.
    pub binary: PathBuf,
    /// The `nats-server` binary.
    pub nats_server: PathBuf,
    /// Working directory (NATS stores, partitions, front-ends' state).
    pub dir: PathBuf,
    /// Shards.
    pub shards: u32,
    /// Replicas per shard (at least 2: one is killed).
    pub replicas: u32,
    /// The load.
    pub load: LoadPlan,
}

/// One fault or recovery, when it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Seconds from the start of the load.
    pub at_s: f64,
    /// Round of the load.
    pub round: u64,
    /// What happened.
    pub what: String,
}

/// The report (`--report FILE.json`).
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// NATS nodes.
    pub nats_nodes: usize,
    /// Shards.
    pub shards: u32,
    /// Replicas per shard.
    pub replicas: u32,
    /// Front-ends.
    pub front_ends: usize,
    /// Requests sent (retries not counted).
    pub sent: u64,
    /// Requests never answered.
    pub unanswered: u64,
    /// Simultaneous pairs (two captures of one new person at once, one per front-end).
    pub simultaneous_pairs: u64,
    /// Answered requests sent again through the other front-end.
    pub retries: u64,
    /// Retries answered with another verdict or reference id.
    pub retry_mismatches: u64,
    /// Sends of a request again after a failure.
    pub failovers: u64,
    /// The checks against the log and a single-node replay (`acknowledged_lost`,
    /// `missed_duplicates`, `same_as_single_node` among them).
    #[serde(flatten)]
    pub checks: Checks,
    /// The restarted replica applied the whole log.
    pub restarted_replica_caught_up: bool,
    /// The restarted replica answered an identification alone.
    pub restarted_replica_serves: bool,
    /// The ready line of a new replica started on an empty directory after the load.
    pub new_replica_start: String,
    /// The sequence of the newest complete snapshot of the victim's shard once the load
    /// was checked (waited for up to four minutes), before its publisher was killed.
    pub snapshot_published: Option<u64>,
    /// The new replica started from a snapshot, applied the whole log and answered an
    /// identification alone.
    pub new_replica_from_snapshot_serves: bool,
    /// Faults and recoveries.
    pub events: Vec<Event>,
    /// Seconds of load.
    pub load_seconds: f64,
    /// Every check passed.
    pub passed: bool,
}

/// The processes of the drill.
#[derive(Debug)]
struct Cluster {
    nats: NatsNodes,
    launcher: Launcher,
    shards: Vec<((u32, u32), Proc)>,
    fronts: Vec<(u16, Proc)>,
}

impl Cluster {
    fn shard_mut(&mut self, shard: u32, replica: u32) -> Option<&mut Proc> {
        self.shards
            .iter_mut()
            .find(|(id, _)| *id == (shard, replica))
            .map(|(_, p)| p)
    }
}

fn lock(cluster: &Mutex<Cluster>) -> anyhow::Result<MutexGuard<'_, Cluster>> {
    cluster
        .lock()
        .map_err(|_| anyhow::anyhow!("the drill's process table is poisoned"))
}

/// Waits until the replica in `dir` has applied `last`, up to `wait`.
fn wait_applied(dir: &Path, last: u64, wait: Duration) -> bool {
    let started = Instant::now();
    loop {
        if read_applied(dir).is_ok_and(|a| a >= last) {
            return true;
        }
        if started.elapsed() > wait {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the load reaches round `target`; the round it is at.
async fn reached(round: &AtomicU64, target: u64) -> u64 {
    while round.load(Ordering::SeqCst) < target {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    round.load(Ordering::SeqCst)
}

/// Kills the victims (a quarter of the way in) and restarts them (half-way).
async fn faults(
    cluster: Arc<Mutex<Cluster>>,
    round: Arc<AtomicU64>,
    rounds: u64,
    victim: (u32, u32),
    started: Instant,
) -> anyhow::Result<Vec<Event>> {
    let at = |what: String, round: u64| Event {
        at_s: started.elapsed().as_secs_f64(),
        round,
        what,
    };
    let mut events = Vec::new();
    let r = reached(&round, rounds / 4).await;
    {
        let mut c = lock(&cluster)?;
        if let Some(p) = c.shard_mut(victim.0, victim.1) {
            p.kill();
        }
        c.nats.kill(0);
        if let Some((_, p)) = c.fronts.get_mut(1) {
            p.kill();
        }
    }
    events.push(at(
        format!(
            "killed (SIGKILL) shard {} replica {}, NATS node 0 and front-end 1",
            victim.0, victim.1
        ),
        r,
    ));
    let r = reached(&round, rounds / 2).await;
    let restart = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut c = lock(&restart)?;
        c.nats.restart(0)?;
        let port = c.fronts.get(1).map(|f| f.0).context("no front-end 1")?;
        let front = c.launcher.front(1, port)?;
        if let Some(slot) = c.fronts.get_mut(1) {
            slot.1 = front;
        }
        let shard = c.launcher.shard(victim.0, victim.1)?;
        if let Some(slot) = c.shard_mut(victim.0, victim.1) {
            *slot = shard;
        }
        Ok(())
    })
    .await??;
    events.push(at(
        "restarted NATS node 0, front-end 1 and the shard replica".to_owned(),
        r,
    ));
    Ok(events)
}

/// Starts the processes.
fn start(plan: &DrillPlan) -> anyhow::Result<Cluster> {
    let nats = NatsNodes::start(&plan.nats_server, &plan.dir.join("nats"), 3)?;
    let launcher = Launcher {
        binary: plan.binary.clone(),
        nats: nats.urls(),
        shards: plan.shards,
        dir: plan.dir.clone(),
        admin_key: format!("drill-admin-key-{}-0123456789abcdef", std::process::id()),
        snapshot_every: (plan.load.rounds / 2).max(4),
    };
    let mut shards = Vec::new();
    for shard in 0..plan.shards {
        for replica in 0..plan.replicas {
            shards.push(((shard, replica), launcher.shard(shard, replica)?));
        }
    }
    let mut fronts = Vec::new();
    for i in 0..2 {
        let port = free_port()?;
        fronts.push((port, launcher.front(i, port)?));
    }
    Ok(Cluster {
        nats,
        launcher,
        shards,
        fronts,
    })
}

/// Runs the drill.
pub fn run(plan: &DrillPlan) -> anyhow::Result<DrillReport> {
    anyhow::ensure!(
        plan.replicas >= 2,
        "the drill kills a replica: use at least 2"
    );
    anyhow::ensure!(plan.shards >= 1, "at least one shard");
    std::fs::create_dir_all(&plan.dir)?;
    let cluster = start(plan)?;
    let http = Fronts {
        http: cluster
            .fronts
            .iter()
            .map(|(port, _)| Http::new(&format!("http://127.0.0.1:{port}")))
            .collect::<Result<_, _>>()?,
        key: cluster.launcher.admin_key.clone(),
    };
    let urls = cluster.launcher.nats.clone();
    let victim = (plan.shards - 1, 0);
    let victim_dir = cluster.launcher.shard_dir(victim.0, victim.1);
    let cluster = Arc::new(Mutex::new(cluster));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let round = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (outcome, events) = runtime.block_on(async {
        let schedule = tokio::spawn(faults(
            Arc::clone(&cluster),
            Arc::clone(&round),
            plan.load.rounds,
            victim,
            started,
        ));
        let outcome = load::drive(&plan.load, &http, Arc::clone(&round)).await;
        let events = schedule.await??;
        anyhow::Ok((outcome, events))
    })?;
    let load_seconds = started.elapsed().as_secs_f64();
    let person_of: HashMap<String, u64> = outcome.planned.iter().cloned().collect();
    let (checks, caught_up, serves, snapshot) = runtime.block_on(async {
        let front = Front::connect(&urls, plan.shards, 3).await?;
        let last = front.last_sequence().await?;
        let dir = victim_dir.clone();
        let caught_up =
            tokio::task::spawn_blocking(move || wait_applied(&dir, last, Duration::from_secs(180)))
                .await?;
        let scratch = plan.dir.join("single-node-replay");
        let checks = check::check(&front, &outcome.answers, &person_of, &scratch).await?;
        // Replica 1 publishes the snapshots; one must be complete before it is killed.
        let snapshot =
            wait_snapshot(&urls, victim.0, plan.shards, Duration::from_secs(240)).await?;
        // The restarted replica alone answers for its shard.
        {
            let mut c = lock(&cluster)?;
            for replica in (0..plan.replicas).filter(|&r| r != victim.1) {
                if let Some(p) = c.shard_mut(victim.0, replica) {
                    p.kill();
                }
            }
        }
        let probe = front.log_entry(1).await?.enrolment()?;
        let serves = front.identify(&probe).await.is_ok();
        anyhow::Ok((checks, caught_up, serves, snapshot))
    })?;
    let (new_replica_start, new_replica) = new_replica(&runtime, &cluster, plan, victim.0, &urls)?;
    let passed = checks.acknowledged_lost == 0
        && checks.missed_duplicates == 0
        && checks.same_as_single_node
        && outcome.retry_mismatches == 0
        && outcome.unanswered.is_empty()
        && caught_up
        && serves
        && new_replica;
    Ok(DrillReport {
        nats_nodes: 3,
        shards: plan.shards,
        replicas: plan.replicas,
        front_ends: 2,
        sent: outcome.sent,
        unanswered: outcome.unanswered.len() as u64,
        simultaneous_pairs: outcome.simultaneous_pairs,
        retries: outcome.retries,
        retry_mismatches: outcome.retry_mismatches,
        failovers: outcome.failovers,
        checks,
        restarted_replica_caught_up: caught_up,
        restarted_replica_serves: serves,
        snapshot_published: snapshot,
        new_replica_start,
        new_replica_from_snapshot_serves: new_replica,
        events,
        load_seconds,
        passed,
    })
}

/// Waits until the snapshot bucket holds a complete snapshot of `shard` of `shards`:
/// the newest one's sequence, or `None` after `wait`.
async fn wait_snapshot(
    urls: &str,
    shard: u32,
    shards: u32,
    wait: Duration,
) -> anyhow::Result<Option<u64>> {
    let client = async_nats::connect(super::topology::server_list(urls)).await?;
    let js = async_nats::jetstream::new(client);
    let store = super::snapshot::bucket(&js, 3).await?;
    let started = Instant::now();
    loop {
        match super::snapshot::list(&store, shard, shards).await {
            Ok(listed) => {
                if let Some(l) = listed.iter().find(|l| l.complete) {
                    return Ok(Some(l.sequence));
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing snapshots"),
        }
        if started.elapsed() > wait {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts a new replica of `shard` on an empty directory, waits until it has applied the
/// log, kills every other replica of the shard and asks it for an identification: its
/// ready line, and whether it started from a snapshot, caught up and answered.
fn new_replica(
    runtime: &tokio::runtime::Runtime,
    cluster: &Mutex<Cluster>,
    plan: &DrillPlan,
    shard: u32,
    urls: &str,
) -> anyhow::Result<(String, bool)> {
    let launcher = lock(cluster)?.launcher.clone();
    let replica = plan.replicas;
    let mut proc = launcher.shard(shard, replica)?;
    let from_snapshot = proc.ready_line.contains("from snapshot");
    let front = runtime.block_on(Front::connect(urls, plan.shards, 3))?;
    let last = runtime.block_on(front.last_sequence())?;
    let caught_up = wait_applied(
        &launcher.shard_dir(shard, replica),
        last,
        Duration::from_secs(180),
    );
    {
        let mut c = lock(cluster)?;
        for r in 0..plan.replicas {
            if let Some(p) = c.shard_mut(shard, r) {
                p.kill();
            }
        }
    }
    let serves = runtime.block_on(async {
        let probe = front.log_entry(1).await?.enrolment()?;
        anyhow::Ok(front.identify(&probe).await.is_ok())
    })?;
    proc.kill();
    Ok((
        std::mem::take(&mut proc.ready_line),
        from_snapshot && caught_up && serves,
    ))
}
