//! Deep pages of the queue by page number. SQLite skips `OFFSET` rows one by one, so page
//! 20,000 of a million cases walked half a million index entries. The `case_rank` table
//! (schema step 15, kept by triggers) counts the cases per sort order, status and bucket of
//! the sort key; a page at `offset` sums the bucket counts in the sort order until the
//! bucket holding row `offset`, then reads the page from that bucket's start (a range on
//! the sort key the order's index serves) skipping only the rows of that bucket before it.
//! The rows are those `OFFSET` gives: the buckets are ranges of the sort key, monotone in
//! the order, and every row before the bucket is counted in the buckets before it.
//!
//! Buckets: newest by `seq / 4096` (at most 4,096 rows skipped); score by
//! `floor(score × 32)` (a power of two, so the bucket's bound `(b + 1) / 32` is exact and
//! `score < bound` holds for exactly the rows of the later buckets); time left by deadline
//! day (deadlines fall at the end of a working day, so a day holds that day's cases).
//!
//! Used when the listing filters by status only (`active`, one status, or `all`): the
//! other filters (district, service point, dates, score band, and the lease filters, which
//! depend on the time of the request) have no counts, and their listings skip rows as
//! before (they are narrower, so their pages are shallower).

use rusqlite::types::Value;
use rusqlite::Connection;

use super::model::CaseStatus;
use super::query::{CaseQuery, Sort, StatusFilter};
use crate::state::{StateError, StateStore};

/// Sequence numbers per bucket of the newest-first order.
pub(super) const SEQ_BUCKET: i64 = 4_096;
/// Buckets per unit of score (a power of two: bounds are exact).
pub(super) const SCORE_STEPS: f64 = 32.0;
/// Seconds per bucket of the time-left order (one deadline day).
pub(super) const DAY_SECS: i64 = 86_400;

/// Statuses of cases not yet final.
const ACTIVE: [CaseStatus; 3] = [
    CaseStatus::Open,
    CaseStatus::PendingApproval,
    CaseStatus::Escalated,
];

/// Where a page by number starts: a bound on the sort key (rows of the buckets before the
/// page's bucket fail it) and the rows to skip after it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Jump {
    /// The condition on the sort key, with one argument.
    pub cond: &'static str,
    /// Its argument.
    pub bound: Value,
    /// Rows of the bucket before the page.
    pub skip: usize,
}

/// The start of a page by number.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Landing {
    /// The page starts in a bucket.
    Jump(Jump),
    /// No row is at the offset: the page is empty.
    PastEnd,
}

impl Sort {
    /// `case_rank.sort` of this order.
    fn rank_id(self) -> i64 {
        match self {
            Self::Newest => 0,
            Self::Score => 1,
            Self::TimeLeft => 2,
        }
    }

    /// The bound that keeps the rows from bucket `b` on in this order.
    fn bucket_start(self, b: i64) -> (&'static str, Value) {
        match self {
            Self::Newest => (
                "seq < ?",
                Value::Integer(b.saturating_add(1).saturating_mul(SEQ_BUCKET)),
            ),
            // Exact: an integer below 2^53 divided by a power of two.
            Self::Score => (
                "score < ?",
                Value::Real((b.saturating_add(1)) as f64 / SCORE_STEPS),
            ),
            Self::TimeLeft => (
                "deadline_secs >= ?",
                Value::Integer(b.saturating_mul(DAY_SECS)),
            ),
        }
    }
}

/// The statuses a listing's counts sum over (`None`: every status), when its filters are a
/// status filter alone; `Err(())` when they are not.
fn statuses(q: &CaseQuery) -> Result<Option<Vec<&'static str>>, ()> {
    let others = q.district.is_some()
        || q.service_point.is_some()
        || q.opened_from.is_some()
        || q.opened_to.is_some()
        || q.min_score.is_some()
        || q.max_score.is_some();
    if others {
        return Err(());
    }
    match q.status {
        StatusFilter::Active => Ok(Some(ACTIVE.iter().map(|s| s.as_str()).collect())),
        StatusFilter::Is(s) => Ok(Some(vec![s.as_str()])),
        StatusFilter::All => Ok(None),
        StatusFilter::Untaken | StatusFilter::Taken => Err(()),
    }
}

/// Where the page of `q` starts, when `q` asks for a page by number (no seek, an offset)
/// and filters by status alone; `None` otherwise (the listing skips rows itself).
pub(super) fn landing(
    q: &CaseQuery,
    store: &StateStore,
    conn: &Connection,
) -> Result<Option<Landing>, StateError> {
    if q.seek.is_some() || q.offset == 0 {
        return Ok(None);
    }
    let Ok(statuses) = statuses(q) else {
        return Ok(None);
    };
    let mut args = vec![Value::Integer(q.sort.rank_id())];
    let status_cond = match &statuses {
        None => String::new(),
        Some(list) => {
            args.extend(list.iter().map(|s| Value::Text((*s).to_owned())));
            format!("AND status IN ({})", vec!["?"; list.len()].join(", "))
        }
    };
    let dir = match q.sort {
        Sort::Newest | Sort::Score => "DESC",
        Sort::TimeLeft => "ASC",
    };
    let sql = format!(
        "SELECT bucket, sum(n) FROM case_rank WHERE sort = ? {status_cond} \
         GROUP BY bucket ORDER BY bucket {dir}"
    );
    let err = |e| store.error(e);
    let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args.iter()))
        .map_err(err)?;
    let offset = u64::try_from(q.offset).unwrap_or(u64::MAX);
    let mut before = 0u64;
    while let Some(row) = rows.next().map_err(err)? {
        let bucket: i64 = row.get(0).map_err(err)?;
        let n: i64 = row.get(1).map_err(err)?;
        let n = u64::try_from(n).unwrap_or(0);
        if before + n > offset {
            let (cond, bound) = q.sort.bucket_start(bucket);
            return Ok(Some(Landing::Jump(Jump {
                cond,
                bound,
                skip: usize::try_from(offset - before).unwrap_or(usize::MAX),
            })));
        }
        before += n;
    }
    Ok(Some(Landing::PastEnd))
}
