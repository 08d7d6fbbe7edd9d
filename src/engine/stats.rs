//! Matcher work counters behind `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use tunggal_index::search::SearchOutcome;

/// Counters updated after every search and 1:1 comparison.
#[derive(Debug, Default)]
pub struct MatchCounters {
    searches: AtomicU64,
    scanned: AtomicU64,
    comparisons: AtomicU64,
}

impl MatchCounters {
    /// Counts one 1:N search: its gallery scan and its second-stage shortlist.
    pub fn search(&self, outcome: &SearchOutcome) {
        self.searches.fetch_add(1, Ordering::Relaxed);
        self.scanned
            .fetch_add(outcome.gallery_size as u64, Ordering::Relaxed);
        self.comparisons
            .fetch_add(outcome.shortlist.len() as u64, Ordering::Relaxed);
    }

    /// Counts one full 1:1 comparison.
    pub fn comparison(&self) {
        self.comparisons.fetch_add(1, Ordering::Relaxed);
    }

    /// `(searches, persons scanned, comparisons)` so far.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.searches.load(Ordering::Relaxed),
            self.scanned.load(Ordering::Relaxed),
            self.comparisons.load(Ordering::Relaxed),
        )
    }
}
