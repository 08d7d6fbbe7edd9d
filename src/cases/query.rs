//! Listing cases: filters, sort orders and paging over a compact in-memory index, so a page
//! of the queue costs one pass over small rows even with 100,000 cases.

use serde::{Deserialize, Serialize};

use super::store::{Case, CaseStatus, Inner};

/// The per-case index entry the listing scans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Row {
    pub(super) status: CaseStatus,
    pub(super) lease_until: u64,
    pub(super) opened: u64,
    pub(super) deadline: u64,
    pub(super) score: f64,
    pub(super) district: u32,
    pub(super) service_point: u32,
}

/// Which cases a listing shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Every case not yet final (the default queue).
    #[default]
    Active,
    /// Open and not held by anyone.
    Untaken,
    /// Open or escalated and held by an analyst.
    Taken,
    /// One workflow status.
    Is(CaseStatus),
    /// Every case.
    All,
}

impl StatusFilter {
    /// Parses `active`, `untaken`, `taken`, `all` or a status name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "active" => Some(Self::Active),
            "untaken" => Some(Self::Untaken),
            "taken" => Some(Self::Taken),
            "all" => Some(Self::All),
            other => CaseStatus::parse(other).map(Self::Is),
        }
    }

    /// The URL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Untaken => "untaken",
            Self::Taken => "taken",
            Self::All => "all",
            Self::Is(s) => s.as_str(),
        }
    }

    fn keeps(self, row: &Row, now: u64) -> bool {
        let held = row.lease_until > now && !row.status.is_final();
        match self {
            Self::Active => !row.status.is_final(),
            Self::Untaken => !row.status.is_final() && !held,
            Self::Taken => held,
            Self::Is(s) => row.status == s,
            Self::All => true,
        }
    }
}

/// Listing order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Most recently opened first.
    #[default]
    Newest,
    /// Highest best-candidate score first.
    Score,
    /// Least time left to the deadline first.
    TimeLeft,
}

impl Sort {
    /// Parses `newest`, `score` or `time_left`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "newest" => Some(Self::Newest),
            "score" => Some(Self::Score),
            "time_left" => Some(Self::TimeLeft),
            _ => None,
        }
    }

    /// The URL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Score => "score",
            Self::TimeLeft => "time_left",
        }
    }
}

/// A listing request.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseQuery {
    /// Which statuses.
    pub status: StatusFilter,
    /// Applicant's district code, exactly.
    pub district: Option<String>,
    /// Applicant's service point id, exactly.
    pub service_point: Option<String>,
    /// Opened at or after (seconds since the Unix epoch).
    pub opened_from: Option<u64>,
    /// Opened before (seconds since the Unix epoch).
    pub opened_to: Option<u64>,
    /// Best score at least.
    pub min_score: Option<f64>,
    /// Best score at most.
    pub max_score: Option<f64>,
    /// Order.
    pub sort: Sort,
    /// Cases to skip.
    pub offset: usize,
    /// Most cases to return.
    pub limit: usize,
}

impl Default for CaseQuery {
    fn default() -> Self {
        Self {
            status: StatusFilter::Active,
            district: None,
            service_point: None,
            opened_from: None,
            opened_to: None,
            min_score: None,
            max_score: None,
            sort: Sort::Newest,
            offset: 0,
            limit: 50,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Cases matching the filters in all.
    pub total: usize,
    /// The cases of this page, in order.
    pub cases: Vec<Case>,
}

impl CaseQuery {
    pub(super) fn run(&self, inner: &Inner, now: u64) -> Page {
        let empty = Page {
            total: 0,
            cases: Vec::new(),
        };
        let district = match &self.district {
            Some(d) => match inner.districts.get(d) {
                Some(&id) => Some(id),
                None => return empty,
            },
            None => None,
        };
        let service_point = match &self.service_point {
            Some(s) => match inner.service_points.get(s) {
                Some(&id) => Some(id),
                None => return empty,
            },
            None => None,
        };
        let keeps = |row: &Row| {
            self.status.keeps(row, now)
                && district.is_none_or(|d| row.district == d)
                && service_point.is_none_or(|s| row.service_point == s)
                && self.opened_from.is_none_or(|t| row.opened >= t)
                && self.opened_to.is_none_or(|t| row.opened < t)
                && self.min_score.is_none_or(|s| row.score >= s)
                && self.max_score.is_none_or(|s| row.score <= s)
        };
        let n = inner.rows.len();
        let order: Box<dyn Iterator<Item = usize> + '_> = match self.sort {
            Sort::Newest => Box::new((0..n).rev()),
            Sort::Score => Box::new(inner.by_score.iter().map(|&i| i as usize)),
            Sort::TimeLeft => Box::new(inner.by_deadline.iter().map(|&i| i as usize)),
        };
        let mut total = 0;
        let mut cases = Vec::with_capacity(self.limit.min(500));
        for i in order {
            if !keeps(&inner.rows[i]) {
                continue;
            }
            if total >= self.offset && cases.len() < self.limit {
                cases.push(inner.cases[i].clone());
            }
            total += 1;
        }
        Page { total, cases }
    }
}
