//! Resharding (`docs/scale-out.md`, *Resharding*): a partition of a new shard count `S'`
//! built from the partitions of the running count `S`, ready to take over the log after
//! the announced switch sequence `Q` ([`super::topology::Switch`]).
//!
//! [`build`] (`tunggal shard --shard j/S' --reshard-from S` on a new data directory):
//!
//! 1. reads the switch `{from: S, to: S', at: Q}` from `TOPOLOGY` (refused without it) and
//!    waits until the log holds `Q`;
//! 2. fetches, for every old partition `i`, its newest snapshot at a sequence `q_i <= Q`
//!    that passes every check of a restore (none: `q_i = 0`);
//! 3. copies every person of those snapshots that belongs to `j` under `S'` ([`split`]);
//! 4. replays the log from `min q_i + 1` to `Q`: an entry whose person key `k` belongs to
//!    `j` under `S'`, and to an old partition `i` with `q_i` below the entry, is applied as
//!    the old owner applied it: an enrolment is inserted when the fusion of the old set's
//!    `S` partials for it (kept in `PARTIAL`) is `single`, a cleared applicant is inserted,
//!    a deletion removes the person. No search runs: the old set decided those entries;
//! 5. installs the partition (`D/gallery`) and records `Q` as applied, so the replica
//!    consumes the log from `Q + 1` as any replica of `S'`.
//!
//! The partition is built in `D/gallery.resharding` and never served before it is complete;
//! a crash during the install is completed at the next start (`D/reshard-installing`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tunggal_index::gallery::{Gallery, GalleryError};
use tunggal_index::storage::Snapshot;

use super::files::{io, read_sequence_marker, sync_dir, write_synced};
use super::search::admissible;
use super::shard::{blocking, read_applied, write_applied, ShardOptions};
use super::snapshot::restore::{fetch_checked, remove_staging};
use super::snapshot::{bucket, list};
use super::topology::{self, Topology};
use super::wire::{Control, LogEntry};
use super::{fuse, nats, shard_of, ClusterError};
use crate::engine::GALLERY_DIR;

/// Persons copied per commit.
const BATCH: usize = 256;
/// Where the new partition is built.
pub const BUILDING_DIR: &str = "gallery.resharding";
/// Where the old partitions' snapshots are fetched.
pub const SOURCES_DIR: &str = "reshard-sources";
/// The switch sequence of a build being installed.
pub const INSTALLING_NAME: &str = "reshard-installing";
/// How long the build waits for the old set's partials of one entry before asking again.
const COLLECT_WAIT: Duration = Duration::from_secs(30);

/// Copies into `target`, partition `shard` of `shards`, every person of `sources` (the
/// partitions of the old shard count) whose key belongs to it under the new count: hot
/// record and cold blob exactly as stored (no template is prepared again), in key order,
/// one commit per [`BATCH`]. Returns the persons copied. A key already live in `target`,
/// or held by two sources, is refused by the store and nothing of its batch is applied.
pub fn split(
    sources: &[&Gallery],
    target: &Gallery,
    shard: u32,
    shards: u32,
) -> Result<u64, ClusterError> {
    let views: Vec<Snapshot<'_>> = sources.iter().map(|g| g.snapshot()).collect();
    let mut keys: Vec<(u64, usize)> = views
        .iter()
        .enumerate()
        .flat_map(|(i, v)| v.keys().map(move |k| (k, i)))
        .filter(|&(k, _)| shard_of(k, shards) == shard)
        .collect();
    keys.sort_unstable();
    for chunk in keys.chunks(BATCH) {
        let mut rows = Vec::with_capacity(chunk.len());
        for &(key, i) in chunk {
            let view = &views[i];
            let record = view
                .get(key)
                .map_err(GalleryError::from)?
                .ok_or_else(|| ClusterError::Malformed(format!("person {key} vanished")))?
                .record
                .to_vec();
            let blob = view
                .blob(key)
                .map_err(GalleryError::from)?
                .unwrap_or_default();
            rows.push((key, record, blob));
        }
        let items: Vec<(u64, &[u8], &[u8])> = rows
            .iter()
            .map(|(k, r, b)| (*k, r.as_slice(), b.as_slice()))
            .collect();
        target
            .store()
            .insert_batch(&items)
            .map_err(GalleryError::from)?;
    }
    Ok(keys.len() as u64)
}

/// Where one old partition's persons came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The old partition.
    pub shard: u32,
    /// The snapshot used (its prefix and sequence); `None`: the log from its start.
    pub snapshot: Option<(String, u64)>,
    /// Snapshots refused, with the reason.
    pub refused: Vec<(String, String)>,
}

impl Source {
    /// The sequence the snapshot holds the partition at (0: none).
    pub fn sequence(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.1)
    }
}

/// What [`build`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The switch sequence: the partition holds every person of the log up to it that
    /// belongs to it.
    pub at: u64,
    /// The old partitions' snapshots.
    pub sources: Vec<Source>,
    /// Persons copied from the snapshots.
    pub copied: u64,
    /// Log entries replayed into the partition (inserts and removals).
    pub replayed: u64,
    /// Persons in the partition.
    pub persons: u64,
}

/// Builds partition `options.shard` of `options.shards` from the partitions of `from`
/// shards (see the module documentation). `None` when the data directory has applied
/// entries already (the replica restarts as usual).
pub async fn build(options: &ShardOptions, from: u32) -> Result<Option<Built>, ClusterError> {
    let dir = options.data_dir.clone();
    let check = dir.clone();
    blocking(move || finish_install(&check)).await?;
    if read_applied(&dir)? != 0 {
        return Ok(None);
    }
    if dir.join(GALLERY_DIR).exists() {
        return Err(ClusterError::NotNew(dir));
    }
    let topology = topology::connect(&options.nats, options.stream_replicas).await?;
    let switch = topology.switch().await?;
    let at = match switch {
        Some(s) if s.from == from && s.to == options.shards => s.at,
        found => {
            return Err(ClusterError::NoSwitch {
                from,
                to: options.shards,
                found,
            })
        }
    };
    loop {
        let last = topology.last_sequence().await?;
        if last >= at {
            break;
        }
        tracing::info!(last, at, "waiting for the log to reach the switch");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let sources_dir = dir.join(SOURCES_DIR);
    let sources = fetch_sources(&topology, options, from, at, &sources_dir).await?;
    let building = dir.join(BUILDING_DIR);
    let (copy_dir, copy_sources, config) = (building.clone(), sources.clone(), options.clone());
    let (target, copied) = blocking(move || {
        remove_staging(&copy_dir)?;
        let calibration = crate::engine::calibrate::shipped()
            .map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let target = Gallery::open(&copy_dir, config.gallery.clone(), Some(calibration))?;
        let mut opened = Vec::new();
        for s in copy_sources.iter().filter(|s| s.snapshot.is_some()) {
            let path = sources_path(&config.data_dir, s.shard);
            opened.push(Gallery::open(&path, config.gallery.clone(), None)?);
        }
        let refs: Vec<&Gallery> = opened.iter().collect();
        let copied = split(&refs, &target, config.shard, config.shards)?;
        for g in opened {
            g.close()?;
        }
        Ok((target, copied))
    })
    .await?;
    let replayed = replay(&topology, options, from, at, &sources, &target).await?;
    let persons = target.len() as u64;
    let install_dir = dir.clone();
    blocking(move || {
        target.close()?;
        install(&install_dir, at)?;
        remove_staging(&install_dir.join(SOURCES_DIR))
    })
    .await?;
    Ok(Some(Built {
        at,
        sources,
        copied,
        replayed,
        persons,
    }))
}

/// Where old partition `shard`'s snapshot is fetched.
fn sources_path(data_dir: &Path, shard: u32) -> PathBuf {
    data_dir.join(SOURCES_DIR).join(shard.to_string())
}

/// Fetches, for every old partition, its newest snapshot at or below `at` that passes the
/// checks of a restore.
async fn fetch_sources(
    topology: &Topology,
    options: &ShardOptions,
    from: u32,
    at: u64,
    sources_dir: &Path,
) -> Result<Vec<Source>, ClusterError> {
    let store = bucket(&topology.js, options.stream_replicas).await?;
    let mut enrol = topology.enrol.clone();
    let state = enrol.info().await.map_err(nats)?.state.clone();
    std::fs::create_dir_all(sources_dir).map_err(io(sources_dir))?;
    let mut sources = Vec::new();
    for shard in 0..from {
        let old = ShardOptions {
            shard,
            shards: from,
            ..options.clone()
        };
        let staging = sources_path(&options.data_dir, shard);
        let mut source = Source {
            shard,
            snapshot: None,
            refused: Vec::new(),
        };
        for snapshot in list(&store, shard, from).await? {
            if !snapshot.complete || snapshot.sequence > at {
                continue;
            }
            let log = (state.first_sequence, state.last_sequence);
            match fetch_checked(&store, &old, &snapshot, &staging, log).await? {
                Ok(manifest) => {
                    source.snapshot = Some((snapshot.prefix, manifest.sequence));
                    break;
                }
                Err(fault) => {
                    tracing::error!(snapshot = %snapshot.prefix, reason = %fault, "snapshot refused");
                    source.refused.push((snapshot.prefix, fault.to_string()));
                }
            }
        }
        sources.push(source);
    }
    Ok(sources)
}

/// Replays into `target` the entries up to `at` that its snapshots do not hold (see the
/// module documentation); the number applied.
async fn replay(
    topology: &Topology,
    options: &ShardOptions,
    from: u32,
    at: u64,
    sources: &[Source],
    target: &Gallery,
) -> Result<u64, ClusterError> {
    let start = sources.iter().map(Source::sequence).min().unwrap_or(0) + 1;
    let mut replayed = 0;
    for sequence in start..=at {
        let raw = topology
            .enrol
            .get_raw_message(sequence)
            .await
            .map_err(nats)?;
        // A malformed entry was rejected by every shard: nothing to replay.
        let Ok(entry) = LogEntry::decode(&raw.payload) else {
            continue;
        };
        let key = entry.key(sequence);
        let old = shard_of(key, from);
        let covered = sources.get(old as usize).map_or(0, Source::sequence);
        if sequence <= covered || shard_of(key, options.shards) != options.shard {
            continue;
        }
        let applied = match entry {
            LogEntry::Enrol(m) => {
                let partials = loop {
                    match topology.collect(sequence, from, COLLECT_WAIT).await {
                        Ok(p) => break p,
                        Err(e) => tracing::warn!(sequence, error = %e, "the old set's partials"),
                    }
                };
                fuse(&partials, &options.search)?.is_single() && insert(target, options, key, m)?
            }
            LogEntry::Control(Control::Clear(c)) => insert(target, options, key, c.applicant)?,
            LogEntry::Control(Control::Delete(_)) => {
                let held = target.snapshot().contains(key);
                if held {
                    target.delete(key)?;
                }
                held
            }
        };
        replayed += u64::from(applied);
    }
    Ok(replayed)
}

/// Inserts the person of `message` under `key` unless the partition holds them or every
/// shard rejected them; whether it did.
fn insert(
    target: &Gallery,
    options: &ShardOptions,
    key: u64,
    message: super::wire::EnrolMessage,
) -> Result<bool, ClusterError> {
    if target.snapshot().contains(key) {
        return Ok(false);
    }
    match admissible(target, &options.search, key, Ok(message))? {
        Ok(person) => {
            target.insert(key, &person)?;
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// Makes the built partition the replica's: `at` recorded in [`INSTALLING_NAME`] (synced),
/// the partition renamed into place, `at` recorded as applied, the record removed.
fn install(data_dir: &Path, at: u64) -> Result<(), ClusterError> {
    let marker = data_dir.join(INSTALLING_NAME);
    write_synced(&marker, &format!("{at}\n"))?;
    finish_install(data_dir)
}

/// Completes an install cut by a crash (nothing to do without its record).
fn finish_install(data_dir: &Path) -> Result<(), ClusterError> {
    let marker = data_dir.join(INSTALLING_NAME);
    let Some(at) = read_sequence_marker(&marker)? else {
        return Ok(());
    };
    let (building, gallery) = (data_dir.join(BUILDING_DIR), data_dir.join(GALLERY_DIR));
    if building.exists() && !gallery.exists() {
        std::fs::rename(&building, &gallery).map_err(io(&gallery))?;
    }
    write_applied(data_dir, at)?;
    std::fs::remove_file(&marker).map_err(io(&marker))?;
    sync_dir(data_dir)
}
