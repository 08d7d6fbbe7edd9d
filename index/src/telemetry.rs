//! Metrics the index reports through the [`metrics`] facade.
//!
//! The crate only emits; whoever embeds it installs a recorder (the `tunggal` binary installs
//! the Prometheus exporter). Without a recorder every call is a no-op. Each value is
//! recorded once per search pass, per probe, per log commit or per scrub chunk, never per
//! record, and always on the thread that called into the index (not inside rayon jobs), so
//! a thread-local recorder (`metrics::with_local_recorder`) sees them too.
//!
//! | name | kind | meaning |
//! | --- | --- | --- |
//! | `tunggal_index_stage1_seconds` | histogram | one first-stage pass (a batch of probes) |
//! | `tunggal_index_stage1_probes_total` | counter | probes scanned by the first stage |
//! | `tunggal_index_stage1_records_total` | counter | hot records scored (records × probes) |
//! | `tunggal_index_stage2_seconds` | histogram | the second stage of one probe |
//! | `tunggal_index_stage2_candidates_total` | counter | shortlisted candidates compared in full |
//! | `tunggal_index_wal_commit_seconds` | histogram | one group commit: write (and `fsync`) |
//! | `tunggal_index_wal_commit_bytes_total` | counter | log bytes written by group commits |
//! | `tunggal_index_wal_group_commit_entries` | histogram | log entries one group commit wrote |
//! | `tunggal_index_wal_fsyncs_total` | counter | `fsync`s of the write-ahead log |
//! | `tunggal_index_scrub_checked_total` | counter | live records whose CRC the scrub checked |
//! | `tunggal_index_scrub_passes_total` | counter | scrub passes completed |

use std::time::Duration;

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

/// Wall time of one first-stage pass over the gallery (it serves a batch of probes).
pub const STAGE1_SECONDS: &str = "tunggal_index_stage1_seconds";
/// Probes scanned by the first stage.
pub const STAGE1_PROBES: &str = "tunggal_index_stage1_probes_total";
/// Hot records scored by the first stage, summed over probes.
pub const STAGE1_RECORDS: &str = "tunggal_index_stage1_records_total";
/// Wall time of the second stage of one probe.
pub const STAGE2_SECONDS: &str = "tunggal_index_stage2_seconds";
/// Shortlisted candidates compared in full by the second stage.
pub const STAGE2_CANDIDATES: &str = "tunggal_index_stage2_candidates_total";
/// Wall time of one group commit of the write-ahead log (write, and `fsync` when due).
pub const WAL_COMMIT_SECONDS: &str = "tunggal_index_wal_commit_seconds";
/// Bytes of log frames written by group commits.
pub const WAL_COMMIT_BYTES: &str = "tunggal_index_wal_commit_bytes_total";
/// Log entries written by one group commit.
pub const WAL_GROUP_COMMIT_ENTRIES: &str = "tunggal_index_wal_group_commit_entries";
/// `fsync` calls on write-ahead log files.
pub const WAL_FSYNCS: &str = "tunggal_index_wal_fsyncs_total";
/// Live records whose CRC the scrub checked.
pub const SCRUB_CHECKED: &str = "tunggal_index_scrub_checked_total";
/// Scrub passes completed.
pub const SCRUB_PASSES: &str = "tunggal_index_scrub_passes_total";

/// Registers the help text and unit of every metric above with the installed recorder.
pub fn describe() {
    describe_histogram!(
        STAGE1_SECONDS,
        Unit::Seconds,
        "Wall time of one first-stage pass over the gallery (one pass serves a batch of probes)."
    );
    describe_counter!(STAGE1_PROBES, "Probes scanned by the first search stage.");
    describe_counter!(
        STAGE1_RECORDS,
        "Hot gallery records scored by the first search stage, summed over probes."
    );
    describe_histogram!(
        STAGE2_SECONDS,
        Unit::Seconds,
        "Wall time of the second search stage for one probe."
    );
    describe_counter!(
        STAGE2_CANDIDATES,
        "Shortlisted candidates compared in full by the second search stage."
    );
    describe_histogram!(
        WAL_COMMIT_SECONDS,
        Unit::Seconds,
        "Wall time of one group commit of the gallery's write-ahead log (write and fsync)."
    );
    describe_counter!(
        WAL_COMMIT_BYTES,
        Unit::Bytes,
        "Bytes of log frames written by group commits of the gallery's write-ahead log."
    );
    describe_histogram!(
        WAL_GROUP_COMMIT_ENTRIES,
        Unit::Count,
        "Log entries written by one group commit of the gallery's write-ahead log."
    );
    describe_counter!(
        WAL_FSYNCS,
        "fsync calls on the gallery's write-ahead log files."
    );
    describe_counter!(
        SCRUB_CHECKED,
        "Live gallery records whose checksum the background scrub checked."
    );
    describe_counter!(SCRUB_PASSES, "Background scrub passes completed.");
}

/// Records one first-stage pass of `probes` probes over `records` hot records.
pub(crate) fn stage1(elapsed: Duration, probes: usize, records: usize) {
    histogram!(STAGE1_SECONDS).record(elapsed);
    counter!(STAGE1_PROBES).increment(probes as u64);
    counter!(STAGE1_RECORDS).increment(records.saturating_mul(probes) as u64);
}

/// Records the second stage of one probe over `candidates` shortlisted candidates.
pub(crate) fn stage2(elapsed: Duration, candidates: usize) {
    histogram!(STAGE2_SECONDS).record(elapsed);
    counter!(STAGE2_CANDIDATES).increment(candidates as u64);
}

/// Records one group commit of `entries` log entries in `bytes` bytes.
pub(crate) fn wal_commit(elapsed: Duration, entries: u64, bytes: u64) {
    histogram!(WAL_COMMIT_SECONDS).record(elapsed);
    histogram!(WAL_GROUP_COMMIT_ENTRIES).record(entries as f64);
    counter!(WAL_COMMIT_BYTES).increment(bytes);
}

/// Records one `fsync` of a log file.
pub(crate) fn wal_fsync() {
    counter!(WAL_FSYNCS).increment(1);
}

/// Records `checked` records checked by one scrub chunk.
pub(crate) fn scrub_checked(checked: u64) {
    counter!(SCRUB_CHECKED).increment(checked);
}

/// Records one completed scrub pass.
pub(crate) fn scrub_pass() {
    counter!(SCRUB_PASSES).increment(1);
}
