//! Listing cases: filters, sort orders and paging as one SQL query over the `cases` table,
//! whose indexes serve the queue's filters and orders (status, district, service point,
//! opening time, deadline, best score), so a page reads only its own rows and the count.

use rusqlite::types::Value;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::model::{CaseCounts, CaseStatus};
use super::rank::{Jump, Landing};
use super::rows;
use super::store::Case;
use crate::state::{StateError, StateStore};

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
}

/// Listing order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Most recently opened first.
    #[default]
    Newest,
    /// Highest best-candidate score first; equal scores strongest first
    /// ([`super::strength`]), then oldest first.
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

/// A case's position in a sort order: its sequence number, its sort key (the sequence
/// number for [`Sort::Newest`], the bits of the best score for [`Sort::Score`], the deadline
/// for [`Sort::TimeLeft`]) and, for [`Sort::Score`], its strength (the tie-breaker among
/// equal scores). Written `seq.key.tie` in a URL (`seq.key` is read with a tie of 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    seq: i64,
    key: i64,
    tie: i64,
}

impl Cursor {
    /// The position of `case` in `sort`.
    pub fn of(case: &Case, sort: Sort) -> Option<Self> {
        let seq = rows::seq_of(&case.case_id)?;
        let (key, tie) = match sort {
            Sort::Newest => (seq, 0),
            Sort::Score => (
                i64::from_ne_bytes(case.best_score().to_bits().to_ne_bytes()),
                i64::from(case.strength),
            ),
            Sort::TimeLeft => (i64::try_from(case.deadline_secs).ok()?, 0),
        };
        Some(Self { seq, key, tie })
    }

    /// Parses the URL form `seq.key.tie` (or `seq.key`, with a tie of 0).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let seq = parts.next()?.parse().ok()?;
        let key = parts.next()?.parse().ok()?;
        let tie = match parts.next() {
            Some(t) => t.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self { seq, key, tie })
    }

    /// The URL form.
    pub fn text(self) -> String {
        format!("{}.{}.{}", self.seq, self.key, self.tie)
    }

    /// The sort key as an SQL value.
    fn key_value(self, sort: Sort) -> Value {
        match sort {
            Sort::Score => Value::Real(f64::from_bits(u64::from_ne_bytes(self.key.to_ne_bytes()))),
            Sort::Newest | Sort::TimeLeft => Value::Integer(self.key),
        }
    }
}

/// Keyset paging: the page next to a known row, found by seeking the sort order's index
/// rather than skipping `offset` rows, so a deep page costs what the first one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// The rows following this one (the next page).
    After(Cursor),
    /// The rows preceding this one (the previous page).
    Before(Cursor),
}

impl Seek {
    /// The condition of the seek in `sort` with its arguments; the leading bound on the
    /// sort key alone is a range the index serves.
    fn condition(self, sort: Sort, args: &mut Vec<Value>) -> &'static str {
        let (c, cond) = match (self, sort) {
            (Self::After(c), Sort::Newest) => (c, "seq < ?"),
            (Self::Before(c), Sort::Newest) => (c, "seq > ?"),
            (Self::After(c), Sort::Score) => (
                c,
                "score <= ? AND (score < ? OR strength < ? OR (strength = ? AND seq > ?))",
            ),
            (Self::Before(c), Sort::Score) => (
                c,
                "score >= ? AND (score > ? OR strength > ? OR (strength = ? AND seq < ?))",
            ),
            (Self::After(c), Sort::TimeLeft) => {
                (c, "deadline_secs >= ? AND (deadline_secs > ? OR seq > ?)")
            }
            (Self::Before(c), Sort::TimeLeft) => {
                (c, "deadline_secs <= ? AND (deadline_secs < ? OR seq < ?)")
            }
        };
        match sort {
            Sort::Newest => args.push(Value::Integer(c.seq)),
            Sort::Score => args.extend([
                c.key_value(sort),
                c.key_value(sort),
                Value::Integer(c.tie),
                Value::Integer(c.tie),
                Value::Integer(c.seq),
            ]),
            Sort::TimeLeft => {
                args.extend([c.key_value(sort), c.key_value(sort), Value::Integer(c.seq)])
            }
        }
        cond
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
    /// Cases to skip (ignored with `seek`; a listing filtered by status alone jumps to the
    /// bucket of `case_rank` holding the row and skips within it, [`super::rank`]).
    pub offset: usize,
    /// Most cases to return.
    pub limit: usize,
    /// The page next to a known row instead of `offset`.
    pub seek: Option<Seek>,
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
            seek: None,
        }
    }
}

/// Matching cases counted at most for a page's total: beyond it the total is a lower
/// bound ([`Page::total_exact`] false), so a page costs the same at any queue size.
pub const COUNT_CAP: usize = 10_000;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Cases matching the filters in all, counted up to [`COUNT_CAP`]` + 1`.
    pub total: usize,
    /// Whether `total` is exact (false: more than [`COUNT_CAP`] match).
    pub total_exact: bool,
    /// The cases of this page, in order.
    pub cases: Vec<Case>,
}

/// The SQL of one listing with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Statements {
    /// Counts the matching cases up to [`COUNT_CAP`]` + 1`.
    pub count: String,
    /// Arguments of `count`.
    pub count_args: Vec<Value>,
    /// Selects the page's rows in order.
    pub page: String,
    /// Arguments of `page`.
    pub page_args: Vec<Value>,
}

/// A signed SQL integer of a count or time (saturating).
fn int(v: impl TryInto<i64>) -> Value {
    Value::Integer(v.try_into().unwrap_or(i64::MAX))
}

impl StatusFilter {
    /// The SQL condition of this filter at `now`, with its arguments.
    fn condition(self, now: u64, args: &mut Vec<Value>) -> Option<&'static str> {
        match self {
            Self::Active => Some("final = 0"),
            Self::Untaken => {
                args.push(int(now));
                // Most active cases are untaken: the sort order's index is walked and the
                // lease read per row (`+` keeps the planner off the lease index, which would
                // sort every active case).
                Some("final = 0 AND +lease_until <= ?")
            }
            Self::Taken => {
                args.push(int(now));
                Some("final = 0 AND lease_until > ?")
            }
            Self::Is(s) => {
                args.push(Value::Text(s.as_str().to_owned()));
                Some("status = ?")
            }
            Self::All => None,
        }
    }
}

impl Sort {
    fn order_by(self) -> &'static str {
        match self {
            Self::Newest => "seq DESC",
            Self::Score => "score DESC, strength DESC, seq",
            Self::TimeLeft => "deadline_secs, seq",
        }
    }

    /// The reverse order (a page before a known row is read backwards, then turned).
    fn reverse_order_by(self) -> &'static str {
        match self {
            Self::Newest => "seq",
            Self::Score => "score, strength, seq DESC",
            Self::TimeLeft => "deadline_secs DESC, seq DESC",
        }
    }
}

impl CaseQuery {
    /// The `WHERE` clause of the filters at `now` and its arguments.
    fn filter(&self, now: u64) -> (String, Vec<Value>) {
        let mut args = Vec::new();
        let mut conds: Vec<&str> = self.status.condition(now, &mut args).into_iter().collect();
        let mut text = |cond: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                conds.push(cond);
                args.push(Value::Text(v.clone()));
            }
        };
        text("district = ?", &self.district);
        text("service_point = ?", &self.service_point);
        for (cond, t) in [
            ("opened_secs >= ?", self.opened_from),
            ("opened_secs < ?", self.opened_to),
        ] {
            if let Some(t) = t {
                conds.push(cond);
                args.push(int(t));
            }
        }
        for (cond, s) in [
            ("score >= ?", self.min_score),
            ("score <= ?", self.max_score),
        ] {
            if let Some(s) = s {
                conds.push(cond);
                args.push(Value::Real(s));
            }
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        (clause, args)
    }

    /// The listing's two statements at `now`: the capped count with its arguments, and the
    /// page with its arguments.
    #[cfg(test)]
    pub(super) fn statements(&self, now: u64) -> Statements {
        self.statements_from(now, None)
    }

    /// The listing's statements, the page starting at `jump` (a page by number whose
    /// bucket [`super::rank`] found) instead of skipping `offset` rows.
    pub(super) fn statements_from(&self, now: u64, jump: Option<&Jump>) -> Statements {
        let (clause, mut args) = self.filter(now);
        // A district or service point narrows the listing most: its covering index is used
        // (without statistics the planner would rather walk a sort order's index and read
        // every row of a score band).
        // An opening-date range of the active queue reads its index range rather than
        // walking a sort order's index from its end; that index holds every column the
        // filters and orders read, so the page's rows are chosen (sorted, offset, limited) in
        // the index and only they are read from the table.
        let dated = self.opened_from.is_some() || self.opened_to.is_some();
        let active = matches!(
            self.status,
            StatusFilter::Active | StatusFilter::Untaken | StatusFilter::Taken
        );
        let from = if self.district.is_some() {
            "cases INDEXED BY cases_by_district"
        } else if self.service_point.is_some() {
            "cases INDEXED BY cases_by_service_point"
        } else if dated && active {
            "cases INDEXED BY cases_by_final_opened_cover"
        } else {
            "cases"
        };
        let count = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {from} {clause} LIMIT {})",
            COUNT_CAP + 1
        );
        let count_args = args.clone();
        let (clause, order, offset) = match (self.seek, jump) {
            (None, None) => (clause, self.sort.order_by(), self.offset),
            (None, Some(jump)) => {
                args.push(jump.bound.clone());
                let clause = if clause.is_empty() {
                    format!("WHERE {}", jump.cond)
                } else {
                    format!("{clause} AND {}", jump.cond)
                };
                (clause, self.sort.order_by(), jump.skip)
            }
            (Some(seek), _) => {
                let cond = seek.condition(self.sort, &mut args);
                let clause = if clause.is_empty() {
                    format!("WHERE {cond}")
                } else {
                    format!("{clause} AND {cond}")
                };
                let order = match seek {
                    Seek::After(_) => self.sort.order_by(),
                    Seek::Before(_) => self.sort.reverse_order_by(),
                };
                (clause, order, 0)
            }
        };
        args.push(int(self.limit));
        args.push(int(offset));
        let page = if dated && active && self.district.is_none() && self.service_point.is_none() {
            format!(
                "SELECT {} FROM cases WHERE seq IN \
                 (SELECT seq FROM {from} {clause} ORDER BY {order} LIMIT ? OFFSET ?) \
                 ORDER BY {order}",
                rows::COLUMNS,
            )
        } else {
            format!(
                "SELECT {} FROM {from} {clause} ORDER BY {order} LIMIT ? OFFSET ?",
                rows::COLUMNS,
            )
        };
        Statements {
            count,
            count_args,
            page,
            page_args: args,
        }
    }

    /// Runs the listing on `conn` (of `store`) at time `now`.
    pub(super) fn run(
        &self,
        store: &StateStore,
        conn: &Connection,
        now: u64,
    ) -> Result<Page, StateError> {
        let err = |e| store.error(e);
        let landing = super::rank::landing(self, store, conn)?;
        let jump = match &landing {
            Some(Landing::Jump(jump)) => Some(jump),
            _ => None,
        };
        let Statements {
            count,
            count_args,
            page,
            page_args,
        } = self.statements_from(now, jump);
        let total: i64 = conn
            .prepare_cached(&count)
            .and_then(|mut stmt| {
                stmt.query_row(rusqlite::params_from_iter(count_args.iter()), |r| r.get(0))
            })
            .map_err(err)?;
        let total = usize::try_from(total).unwrap_or(0);
        if landing == Some(Landing::PastEnd) {
            return Ok(Page {
                total,
                total_exact: total <= COUNT_CAP,
                cases: Vec::new(),
            });
        }
        let mut stmt = conn.prepare_cached(&page).map_err(err)?;
        let raws = stmt
            .query_map(rusqlite::params_from_iter(page_args.iter()), rows::raw)
            .map_err(err)?;
        let mut cases = Vec::with_capacity(self.limit.min(500));
        for raw in raws {
            let raw = raw.map_err(err)?;
            let trail = rows::trail(store, conn, raw.seq())?;
            cases.push(rows::decode(raw, trail)?);
        }
        if matches!(self.seek, Some(Seek::Before(_))) {
            cases.reverse();
        }
        Ok(Page {
            total,
            total_exact: total <= COUNT_CAP,
            cases,
        })
    }
}

/// Seconds in a deadline day of `case_tally`.
const DAY_SECS: u64 = 86_400;

/// Active and overdue case counts at `now`: the totals summed from `case_tally` (cases per
/// finality and deadline day, kept by triggers), the overdue cases of the days before
/// today's from the tally and today's counted on the deadline index.
pub(super) fn counts(
    store: &StateStore,
    conn: &Connection,
    now: u64,
) -> Result<CaseCounts, StateError> {
    let count = |sql: &str, args: &[Value]| -> Result<usize, StateError> {
        let n: i64 = conn
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))
            })
            .map_err(|e| store.error(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    };
    let today = now / DAY_SECS;
    Ok(CaseCounts {
        total: count(COUNT_TOTAL, &[])?,
        active: count(COUNT_ACTIVE, &[])?,
        overdue: count(COUNT_OVERDUE_DAYS, &[int(today)])?
            + count(
                COUNT_OVERDUE_TODAY,
                &[int(today.saturating_mul(DAY_SECS)), int(now)],
            )?,
    })
}

/// Every case.
pub(super) const COUNT_TOTAL: &str = "SELECT coalesce(sum(n), 0) FROM case_tally";
/// Cases not final.
pub(super) const COUNT_ACTIVE: &str = "SELECT coalesce(sum(n), 0) FROM case_tally WHERE final = 0";
/// Active cases whose deadline day is before day `?1`.
pub(super) const COUNT_OVERDUE_DAYS: &str =
    "SELECT coalesce(sum(n), 0) FROM case_tally WHERE final = 0 AND day < ?1";
/// Active cases whose deadline is in `[?1, ?2)`.
pub(super) const COUNT_OVERDUE_TODAY: &str =
    "SELECT count(*) FROM cases WHERE final = 0 AND deadline_secs >= ?1 AND deadline_secs < ?2";
