//! The gallery sharded over NATS JetStream (opt-in; `docs/scale-out.md` has the design).
//!
//! - [`wire`]: the messages (an enrolment, a shard's partial result, a stored verdict).
//! - [`topology`]: the stream `ENROL`, the stream `PARTIAL` and the bucket `VERDICT`.
//! - [`shard`]: `tunggal shard`, one replica of one partition: consumes every enrolment in
//!   stream order, searches its partition, publishes its partial, inserts its own members.
//! - [`front`]: the front-end side of an enrolment: publish, collect the partials, fuse,
//!   keep the verdict.
//! - [`fuse`]: the verdict as a deterministic function of the partials.
//! - [`search`]: a partition's side of every search (enrolment, identify, verify).
//! - [`snapshot`]: a partition's snapshots in the JetStream object store, and new replicas
//!   started from them.
//! - [`reshard`]: resharding's core step, a partition of a new shard count built from the
//!   old count's partitions.
//! - [`reads`]: identify and verify as request/reply to one replica of each shard.
//! - [`drill`]: `tunggal drill cluster`, the cluster under kill -9, checked against a single
//!   node.
//! - [`bench`]: `tunggal bench cluster`, one enrolment's latency against a single node.
//! - [`engine`]: the [`crate::enrolment::EnrolmentEngine`] of `tunggal serve --cluster`.
//! - [`apply`]: how a replica applies each kind of log entry (enrolment, deletion, cleared
//!   applicant).
//! - [`control`]: the front-end side of deletions and cleared applicants.
//! - [`stats`]: a replica's time per stage of the log's application, CPU, memory and disk,
//!   answered on request for `tunggal bench cluster`.

pub mod apply;
pub mod bench;
pub mod control;
pub mod drill;
pub mod engine;
mod files;
pub mod front;
pub mod fuse;
pub mod reads;
pub mod reshard;
pub mod search;
pub mod shard;
pub mod snapshot;
pub mod stats;
pub mod topology;
pub mod wire;

use thiserror::Error;

pub use front::Front;
pub use fuse::{fuse, Fused};
pub use shard::{Shard, ShardOptions};

/// Why a cluster operation failed.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// A NATS or JetStream call failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// A message did not decode.
    #[error("malformed cluster message: {0}")]
    Malformed(String),
    /// The gallery of a partition failed.
    #[error("partition gallery: {0}")]
    Gallery(#[from] tunggal_index::gallery::GalleryError),
    /// A file of the shard's data directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The partition holds less than its consumer acknowledged: it cannot serve.
    #[error(
        "partition at sequence {applied} but its consumer {consumer} acknowledged {acked}: \
         the partition's data is behind the log (restore the directory or use a new replica \
         number)"
    )]
    Behind {
        /// Last sequence applied to the partition.
        applied: u64,
        /// The durable consumer.
        consumer: String,
        /// Its acknowledged floor.
        acked: u64,
    },
    /// The partition has applied more of the log than the log holds.
    #[error(
        "partition at sequence {applied} but the enrolment log ends at {last}: the log was \
         replaced (restore it, or start this replica from an empty directory)"
    )]
    Ahead {
        /// Last sequence applied to the partition.
        applied: u64,
        /// Last sequence of the log.
        last: u64,
    },
    /// The log delivered a sequence past the next one: entries are missing.
    #[error(
        "partition at sequence {applied} but the log delivered {delivered}: entries are missing"
    )]
    Gap {
        /// Last sequence applied to the partition.
        applied: u64,
        /// The sequence delivered.
        delivered: u64,
    },
    /// A read found no replica of a shard that could answer.
    #[error("shard {shard}: {detail}")]
    ShardUnavailable {
        /// The shard.
        shard: u32,
        /// What happened.
        detail: String,
    },
    /// Not all partials arrived in time.
    #[error("{got} of {want} partial results for sequence {sequence} arrived in time")]
    PartialsMissing {
        /// The enrolment's sequence.
        sequence: u64,
        /// Partials received.
        got: usize,
        /// Shards.
        want: usize,
    },
    /// The shard index or count is invalid.
    #[error("invalid shard {0}: expected i/S with 0 <= i < S")]
    ShardSpec(String),
    /// A request id that cannot be a message id.
    #[error("request id {0:?} has characters a message id cannot carry")]
    RequestId(String),
    /// A background task failed.
    #[error("task failed: {0}")]
    Task(String),
    /// A switch to a new shard count that cannot be announced.
    #[error(
        "switch from {} to {} shards at sequence {} refused: {detail}",
        .switch.from,
        .switch.to,
        .switch.at
    )]
    SwitchRefused {
        /// The switch asked for.
        switch: topology::Switch,
        /// Why.
        detail: String,
    },
    /// A partition of a new shard count was asked for without its switch announced.
    #[error(
        "no switch from {from} to {to} shards is announced in TOPOLOGY (announced: {found:?})"
    )]
    NoSwitch {
        /// The old shard count.
        from: u32,
        /// The new one.
        to: u32,
        /// The switch announced, if any.
        found: Option<topology::Switch>,
    },
    /// A partition of a new shard count is built only in a data directory that holds none.
    #[error(
        "{0}: a gallery is there but no applied sequence: a new shard count's partition is \
         built only in a new data directory"
    )]
    NotNew(std::path::PathBuf),
    /// The replica's shard set has applied its last entry: the next belongs to the new set.
    #[error("sequences after {at} are decided by the set of {to} shards")]
    SwitchedOver {
        /// The last sequence of the old set.
        at: u64,
        /// The new set's shard count.
        to: u32,
    },
}

/// Maps any NATS client error.
pub(crate) fn nats<E: std::fmt::Display>(e: E) -> ClusterError {
    ClusterError::Nats(e.to_string())
}

/// The shard (of `shards`) whose partition holds the person `key`: a fixed 64-bit mix
/// (SplitMix64's finaliser) of the key, so every process agrees without configuration.
pub fn shard_of(key: u64, shards: u32) -> u32 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % u64::from(shards.max(1))) as u32
}

/// Parses `i/S`.
pub fn parse_shard(spec: &str) -> Result<(u32, u32), ClusterError> {
    let bad = || ClusterError::ShardSpec(spec.to_owned());
    let (i, s) = spec.split_once('/').ok_or_else(bad)?;
    let i: u32 = i.trim().parse().map_err(|_| bad())?;
    let s: u32 = s.trim().parse().map_err(|_| bad())?;
    if s == 0 || i >= s {
        return Err(bad());
    }
    Ok((i, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_spec_is_checked() {
        assert_eq!(parse_shard("1/3").ok(), Some((1, 3)));
        assert!(parse_shard("3/3").is_err());
        assert!(parse_shard("0/0").is_err());
        assert!(parse_shard("x").is_err());
    }

    #[test]
    fn keys_spread_over_every_shard() {
        let mut counts = [0u32; 4];
        for key in 1..=4000 {
            counts[shard_of(key, 4) as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        assert!((1..100).all(|k| shard_of(k, 1) == 0));
    }
}
