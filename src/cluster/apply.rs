//! How a shard replica applies each entry of the `ENROL` log, in log order.
//!
//! - An **enrolment** at `s` (person key `s`): every replica searches its partition and
//!   publishes its partial for `s`; the replica of the shard owning `s` collects every
//!   shard's partial, fuses them as the front-end does, and inserts the person when the
//!   fused verdict is `single`.
//! - A **cleared applicant** at `s` (an applicant held back as a duplicate, key `k < s`):
//!   searched like an enrolment, the applicant's own record left out (its last check; the
//!   front-end answers the matches), then inserted under `k` by the shard owning `k`
//!   whatever the search found, as a single node inserts a cleared applicant.
//! - A **deletion** of the person `k` at `s`: the replica of the shard owning `k` publishes
//!   whether the person is in its partition, then removes them; the others publish an empty
//!   partial. Publishing before removing makes a replay after a crash publish the same
//!   partial (dropped by the message id) whatever the crash cut.
//!
//! Each is idempotent: an entry applied again after a crash between its change to the
//! gallery and the record of the applied sequence changes nothing more.

use std::sync::Arc;
use std::time::Duration;

use tunggal_index::gallery::PreparedPerson;

use super::search::{search_person, Place};
use super::shard::{blocking, write_applied, Shard, REBIND_WAIT};
use super::stats::{Stage, Started};
use super::topology::{retrying, Topology};
use super::wire::{Control, EnrolMessage, LogEntry, Partial};
use super::{fuse, shard_of, ClusterError};

/// How long the owning shard waits for the other shards' partials before it asks again.
const COLLECT_WAIT: Duration = Duration::from_secs(30);

/// When the owner inserts the person searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    /// When the fused verdict is `single` (an enrolment).
    IfSingle,
    /// Whatever the search finds (a cleared applicant).
    Always,
}

impl Shard {
    /// Applies the entry at `sequence` (see the module documentation) and records it as
    /// applied.
    pub(super) async fn apply(
        &mut self,
        topology: &Topology,
        sequence: u64,
        entry: Result<LogEntry, String>,
    ) -> Result<(), ClusterError> {
        match entry {
            Ok(LogEntry::Enrol(m)) => {
                self.search_then_insert(topology, sequence, sequence, Ok(m), Insert::IfSingle)
                    .await?;
            }
            Ok(LogEntry::Control(Control::Clear(c))) => {
                self.search_then_insert(topology, sequence, c.key, Ok(c.applicant), Insert::Always)
                    .await?;
            }
            Ok(LogEntry::Control(Control::Delete(d))) => {
                self.remove(topology, sequence, d.key).await?;
            }
            // Rejected by every shard alike (`malformed_enrolment`), nothing inserted.
            Err(detail) => {
                self.search_then_insert(
                    topology,
                    sequence,
                    sequence,
                    Err(detail),
                    Insert::IfSingle,
                )
                .await?;
            }
        }
        let dir = self.options.data_dir.clone();
        let started = Started::now();
        blocking(move || write_applied(&dir, sequence)).await?;
        self.work.done(Stage::Record, started);
        self.applied = sequence;
        self.progress.send_replace(sequence);
        Ok(())
    }

    /// Publishes `partial`, trying again while NATS fails (it is published once per set,
    /// sequence and shard, its message id, so trying again cannot publish it twice).
    async fn publish(&self, topology: &Topology, partial: &Partial) -> Result<(), ClusterError> {
        retrying("publishing the partial result", REBIND_WAIT, || {
            topology.publish_partial(partial)
        })
        .await
    }

    /// Searches the person `key` of the entry at `sequence`, publishes the partial and, on
    /// the shard owning `key`, inserts the person as `insert` says.
    async fn search_then_insert(
        &self,
        topology: &Topology,
        sequence: u64,
        key: u64,
        message: Result<EnrolMessage, String>,
        insert: Insert,
    ) -> Result<(), ClusterError> {
        let o = self.options.clone();
        let gallery = Arc::clone(&self.gallery);
        let place = Place {
            sequence,
            shard: o.shard,
            shards: o.shards,
        };
        let started = Started::now();
        let (partial, prepared) =
            blocking(move || search_person(&gallery, &o.search, place, key, message)).await?;
        self.work.done(Stage::Search, started);
        let started = Started::now();
        self.publish(topology, &partial).await?;
        self.work.done(Stage::Publish, started);
        let o = &self.options;
        let Some(prepared) = prepared.filter(|_| shard_of(key, o.shards) == o.shard) else {
            return Ok(());
        };
        let keep = match insert {
            Insert::Always => true,
            Insert::IfSingle => {
                let started = Started::now();
                let partials = self.collect(topology, sequence).await;
                self.work.done(Stage::Collect, started);
                fuse(&partials, &o.search)?.is_single()
            }
        };
        if keep {
            let started = Started::now();
            self.insert(key, prepared).await?;
            self.work.done(Stage::Insert, started);
        }
        Ok(())
    }

    /// Every shard's partial for `sequence`, asking again until they are all there (each
    /// shard publishes its partial before it waits for anything, so they all come).
    async fn collect(&self, topology: &Topology, sequence: u64) -> Vec<Partial> {
        let shards = self.options.shards;
        loop {
            match topology.collect(sequence, shards, COLLECT_WAIT).await {
                Ok(p) => return p,
                Err(ClusterError::PartialsMissing { got, want, .. }) => {
                    tracing::warn!(sequence, got, want, "waiting for the other shards");
                }
                Err(e) => {
                    tracing::warn!(sequence, error = %e, "collecting the partials");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Inserts `person` under `key` unless the partition holds them already.
    async fn insert(&self, key: u64, person: PreparedPerson) -> Result<(), ClusterError> {
        let gallery = Arc::clone(&self.gallery);
        blocking(move || {
            if gallery.get(key)?.is_none() {
                gallery.insert(key, &person)?;
            }
            Ok(())
        })
        .await
    }

    /// The deletion of the person `key` at `sequence`.
    async fn remove(
        &self,
        topology: &Topology,
        sequence: u64,
        key: u64,
    ) -> Result<(), ClusterError> {
        let o = &self.options;
        let owner = shard_of(key, o.shards) == o.shard;
        let (held, size) = {
            let snap = self.gallery.snapshot();
            (owner && snap.contains(key), snap.len() as u64)
        };
        let partial = Partial {
            sequence,
            shard: o.shard,
            shards: o.shards,
            partition_size: size,
            rejected: None,
            shortlist: Vec::new(),
            candidates: Vec::new(),
            removed: owner.then_some(held),
        };
        self.publish(topology, &partial).await?;
        if held {
            let gallery = Arc::clone(&self.gallery);
            blocking(move || {
                if gallery.snapshot().contains(key) {
                    gallery.delete(key)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}
