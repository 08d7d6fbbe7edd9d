//! Where a shard replica's time goes: wall and CPU time per stage of applying the log, the
//! process's CPU, memory and disk, answered on request (`tunggal bench cluster` asks every
//! shard before and after each phase).
//!
//! Each replica answers on [`stats_subject`] (one subject per replica, core NATS
//! request/reply). The stages are the steps of one log entry in order ([`WorkTimes`]); a
//! replica applies one entry at a time, so the process CPU time taken over the search and
//! over the insert is the CPU of that step (the runtime's other threads are idle then, and
//! reads are not sent during a bench).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tunggal_index::gallery::Gallery;

use super::shard::{blocking, ShardOptions};
use super::{nats, ClusterError};

/// The subject on which replica `replica` of shard `shard` of `shards` answers its figures.
pub fn stats_subject(shard: u32, shards: u32, replica: u32) -> String {
    format!("stats.{shards}.{shard}.{replica}")
}

/// Totals of one stage over the entries that went through it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTime {
    /// Entries that went through the stage.
    pub count: u64,
    /// Wall time, microseconds.
    pub wall_us: u64,
    /// Process CPU time, microseconds (measured for the search and the insert only).
    pub cpu_us: u64,
}

impl StageTime {
    /// Adds one pass of `wall` (and `cpu`).
    pub fn add(&mut self, wall: Duration, cpu: Duration) {
        self.count += 1;
        self.wall_us += micros(wall);
        self.cpu_us += micros(cpu);
    }

    /// `self - earlier`, stage by stage (saturating).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            count: self.count.saturating_sub(earlier.count),
            wall_us: self.wall_us.saturating_sub(earlier.wall_us),
            cpu_us: self.cpu_us.saturating_sub(earlier.cpu_us),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The stages of one log entry on a replica, in the order they run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkTimes {
    /// From the previous entry's confirmed acknowledgement to this entry's delivery (the log
    /// empty, or the delivery itself).
    pub idle: StageTime,
    /// Reading `TOPOLOGY` for an announced switch before the entry.
    pub topology: StageTime,
    /// Decoding, preparing and searching the partition (stage 1 and stage 2).
    pub search: StageTime,
    /// Publishing the partial result (until `PARTIAL` confirmed it).
    pub publish: StageTime,
    /// The owner waiting for every shard's partial.
    pub collect: StageTime,
    /// The owner's insert into its partition.
    pub insert: StageTime,
    /// Writing and syncing `applied-sequence`.
    pub record: StageTime,
    /// The acknowledgement, until the server confirmed it.
    pub ack: StageTime,
}

impl WorkTimes {
    /// `self - earlier`, stage by stage.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            idle: self.idle.since(&earlier.idle),
            topology: self.topology.since(&earlier.topology),
            search: self.search.since(&earlier.search),
            publish: self.publish.since(&earlier.publish),
            collect: self.collect.since(&earlier.collect),
            insert: self.insert.since(&earlier.insert),
            record: self.record.since(&earlier.record),
            ack: self.ack.since(&earlier.ack),
        }
    }
}

/// A replica's running totals, shared by the log's application and the stats answer.
#[derive(Debug, Clone, Default)]
pub struct Work(Arc<Mutex<WorkTimes>>);

/// Which stage a timing belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// [`WorkTimes::idle`].
    Idle,
    /// [`WorkTimes::topology`].
    Topology,
    /// [`WorkTimes::search`].
    Search,
    /// [`WorkTimes::publish`].
    Publish,
    /// [`WorkTimes::collect`].
    Collect,
    /// [`WorkTimes::insert`].
    Insert,
    /// [`WorkTimes::record`].
    Record,
    /// [`WorkTimes::ack`].
    Ack,
}

/// A stage started: its wall clock and the process CPU clock.
#[derive(Debug)]
pub struct Started {
    wall: Instant,
    cpu: Option<cpu_time::ProcessTime>,
}

impl Started {
    /// Starts timing now.
    pub fn now() -> Self {
        Self {
            wall: Instant::now(),
            cpu: cpu_time::ProcessTime::try_now().ok(),
        }
    }
}

impl Work {
    /// Adds the stage `stage` begun at `started`.
    pub fn done(&self, stage: Stage, started: Started) {
        let wall = started.wall.elapsed();
        let cpu = match stage {
            Stage::Search | Stage::Insert => started
                .cpu
                .and_then(|c| c.try_elapsed().ok())
                .unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let mut w = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = match stage {
            Stage::Idle => &mut w.idle,
            Stage::Topology => &mut w.topology,
            Stage::Search => &mut w.search,
            Stage::Publish => &mut w.publish,
            Stage::Collect => &mut w.collect,
            Stage::Insert => &mut w.insert,
            Stage::Record => &mut w.record,
            Stage::Ack => &mut w.ack,
        };
        slot.add(wall, cpu);
    }

    /// The totals so far.
    pub fn totals(&self) -> WorkTimes {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One replica's figures at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Shard index.
    pub shard: u32,
    /// Shard count.
    pub shards: u32,
    /// Replica number.
    pub replica: u32,
    /// Last applied log sequence.
    pub applied: u64,
    /// Persons in the partition.
    pub partition_size: u64,
    /// The process's user + system CPU time since it started, microseconds.
    pub process_cpu_us: u64,
    /// Resident memory now (`VmRSS`), bytes.
    pub rss_bytes: u64,
    /// Peak resident memory (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Disk blocks allocated under the data directory, bytes (what `du` counts).
    pub disk_bytes: u64,
    /// Of which the gallery's write-ahead log (blobs not yet checkpointed into the
    /// segments are there), bytes.
    pub wal_bytes: u64,
    /// The stages of the entries applied since the process started.
    pub work: WorkTimes,
}

/// A `VmRSS`/`VmHWM`-style line of `/proc/self/status`, in bytes (0 when absent).
fn status_kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Allocated bytes under `dir` (recursively), and of the files whose name starts with `wal`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    let (mut all, mut wal) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                let bytes = meta.blocks() * 512;
                all += bytes;
                if entry.file_name().to_string_lossy().starts_with("wal") {
                    wal += bytes;
                }
            }
        }
    }
    (all, wal)
}

/// The figures of this process and `options`' data directory now.
pub fn measure(options: &ShardOptions, gallery: &Gallery, applied: u64, work: &Work) -> ShardStats {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let (disk_bytes, wal_bytes) = disk_usage(&options.data_dir);
    ShardStats {
        shard: options.shard,
        shards: options.shards,
        replica: options.replica,
        applied,
        partition_size: gallery.snapshot().len() as u64,
        process_cpu_us: cpu_time::ProcessTime::try_now()
            .map(|t| micros(t.as_duration()))
            .unwrap_or(0),
        rss_bytes: status_kib(&status, "VmRSS:"),
        peak_rss_bytes: status_kib(&status, "VmHWM:"),
        disk_bytes,
        wal_bytes,
        work: work.totals(),
    }
}

/// Answers this replica's stats requests until the connection ends.
pub async fn serve(
    client: async_nats::Client,
    gallery: Arc<Gallery>,
    options: ShardOptions,
    applied: watch::Receiver<u64>,
    work: Work,
) -> Result<(), ClusterError> {
    let subject = stats_subject(options.shard, options.shards, options.replica);
    let mut requests = client.subscribe(subject).await.map_err(nats)?;
    while let Some(msg) = requests.next().await {
        let Some(reply_to) = msg.reply else {
            continue;
        };
        let (gallery, options, work) = (Arc::clone(&gallery), options.clone(), work.clone());
        let at = *applied.borrow();
        let stats = blocking(move || Ok(measure(&options, &gallery, at, &work))).await?;
        let body =
            serde_json::to_vec(&stats).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        client.publish(reply_to, body.into()).await.map_err(nats)?;
    }
    Ok(())
}

/// Asks replica `replica` of shard `shard` of `shards` for its figures.
pub async fn ask(
    client: &async_nats::Client,
    shard: u32,
    shards: u32,
    replica: u32,
) -> Result<ShardStats, ClusterError> {
    let reply = client
        .request(stats_subject(shard, shards, replica), Vec::new().into())
        .await
        .map_err(|e| ClusterError::ShardUnavailable {
            shard,
            detail: format!("stats of replica {replica}: {e}"),
        })?;
    serde_json::from_slice(&reply.payload)
        .map_err(|e| ClusterError::Malformed(format!("shard stats: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_bytes() {
        let status = "Name:\ttunggal\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), 30720 * 1024);
        assert_eq!(status_kib(status, "VmHWM:"), 40960 * 1024);
        assert_eq!(status_kib(status, "VmSwap:"), 0);
    }

    #[test]
    fn stage_differences_subtract_each_total() {
        let mut a = WorkTimes::default();
        a.search
            .add(Duration::from_millis(3), Duration::from_millis(2));
        let before = a;
        a.search
            .add(Duration::from_millis(5), Duration::from_millis(4));
        a.insert
            .add(Duration::from_millis(1), Duration::from_millis(1));
        let d = a.since(&before);
        assert_eq!(d.search.count, 1);
        assert_eq!(d.search.wall_us, 5000);
        assert_eq!(d.search.cpu_us, 4000);
        assert_eq!(d.insert.count, 1);
        assert_eq!(d.idle, StageTime::default());
    }
}
