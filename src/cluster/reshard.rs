//! Resharding's core step (`docs/scale-out.md`, *Resharding*): a partition of a new shard
//! count built from the partitions of the old one, all at one sequence (for example opened
//! from their snapshots), before the new set continues the log from the next sequence.

use tunggal_index::gallery::{Gallery, GalleryError};
use tunggal_index::storage::Snapshot;

use super::{shard_of, ClusterError};

/// Persons copied per commit.
const BATCH: usize = 256;

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
