//! The case queue page: filters, sort, paging, one row per case.

use maud::{html, Markup};
use serde::Deserialize;

use super::evidence::{eyes_agreeing, fingers_agreeing};
use super::layout::{duration, local_time, time_left, zone};
use crate::cases::{
    Case, CaseQuery, CaseSearch, CaseStatus, Cursor, Page, Seek, Sort, StatusFilter, COUNT_CAP,
    SEARCH_LIMIT,
};

/// Rows per page.
pub const PAGE_SIZE: usize = 25;

/// Query parameters of `GET /review` (all optional; empty means no filter).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QueueParams {
    /// Status filter (see [`StatusFilter::parse`]).
    pub status: String,
    /// Applicant district code.
    pub district: String,
    /// Applicant service point id.
    pub service_point: String,
    /// Opened on or after this date, `YYYY-MM-DD` (UTC).
    pub from: String,
    /// Opened on or before this date, `YYYY-MM-DD` (UTC).
    pub to: String,
    /// Lowest best score.
    pub min_score: String,
    /// Highest best score.
    pub max_score: String,
    /// `newest`, `score` or `time_left`.
    pub sort: String,
    /// One-based page number.
    pub page: String,
    /// The page follows this case's position (`Cursor` text): the Next link's keyset seek.
    pub after: String,
    /// The page precedes this case's position: the Previous link's keyset seek.
    pub before: String,
    /// The search box: a case id, a NIK, a `request_id` or the start of a name (see
    /// [`CaseSearch`]); when given, the page lists what it finds instead of the queue.
    pub q: String,
}

/// Why the queue's query parameters are refused (the page shows the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A date is not `YYYY-MM-DD`.
    #[error("{0:?} is not a date YYYY-MM-DD")]
    Date(String),
    /// A score is not a finite number.
    #[error("{0:?} is not a number")]
    Number(String),
    /// A district is not six digits.
    #[error(
        "{0:?} is not a district code: a district is six digits PPRRDD (province, regency, district)"
    )]
    District(String),
    /// The status filter is unknown.
    #[error("unknown status {0:?}")]
    Status(String),
    /// The sort is unknown.
    #[error("unknown sort {0:?}")]
    Sort(String),
    /// The page is not a number from 1 to 1,000,000.
    #[error("{0:?} is not a page number")]
    Page(String),
    /// A cursor does not parse.
    #[error("{0:?} is not a queue position")]
    Position(String),
    /// Both `after` and `before` are given.
    #[error("a page follows or precedes a position, not both")]
    BothSeeks,
}

fn date_secs(s: &str) -> Result<Option<u64>, QueryError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), fmt)
        .map(|d| u64::try_from(d.midnight().assume_utc().unix_timestamp()).ok())
        .map_err(|_| QueryError::Date(s.to_owned()))
}

fn number(s: &str) -> Result<Option<f64>, QueryError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or_else(|| QueryError::Number(s.to_owned()))
}

fn text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A district filter: empty, or a `PPRRDD` code of six digits.
fn district(s: &str) -> Result<Option<String>, QueryError> {
    match text(s) {
        Some(d) if d.len() != 6 || !d.bytes().all(|b| b.is_ascii_digit()) => {
            Err(QueryError::District(d))
        }
        other => Ok(other),
    }
}

impl QueueParams {
    /// The search the box asks for (`None`: the box is empty), or why it is refused.
    pub fn search(&self) -> Result<Option<CaseSearch>, String> {
        CaseSearch::parse(&self.q).map_err(|e| e.to_string())
    }

    /// The store query these parameters ask for, or why they are invalid.
    pub fn query(&self) -> Result<CaseQuery, QueryError> {
        let status = StatusFilter::parse(self.status.trim())
            .ok_or_else(|| QueryError::Status(self.status.clone()))?;
        let sort =
            Sort::parse(self.sort.trim()).ok_or_else(|| QueryError::Sort(self.sort.clone()))?;
        let page: usize = if self.page.trim().is_empty() {
            1
        } else {
            self.page
                .trim()
                .parse()
                .ok()
                .filter(|&p| (1..=1_000_000).contains(&p))
                .ok_or_else(|| QueryError::Page(self.page.clone()))?
        };
        let cursor =
            |s: &str| Cursor::parse(s.trim()).ok_or_else(|| QueryError::Position(s.to_owned()));
        let seek = match (self.after.trim(), self.before.trim()) {
            ("", "") => None,
            (after, "") => Some(Seek::After(cursor(after)?)),
            ("", before) => Some(Seek::Before(cursor(before)?)),
            _ => return Err(QueryError::BothSeeks),
        };
        Ok(CaseQuery {
            status,
            district: district(&self.district)?,
            service_point: text(&self.service_point),
            opened_from: date_secs(&self.from)?,
            opened_to: date_secs(&self.to)?.map(|t| t + 86_400),
            min_score: number(&self.min_score)?,
            max_score: number(&self.max_score)?,
            sort,
            offset: (page - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
            seek,
        })
    }

    /// The URL of page `page`, found from `seek` (`("after" | "before", cursor)`) when given.
    fn with_page(&self, page: usize, seek: Option<(&str, Cursor)>) -> String {
        let pairs = [
            ("status", &self.status),
            ("district", &self.district),
            ("service_point", &self.service_point),
            ("from", &self.from),
            ("to", &self.to),
            ("min_score", &self.min_score),
            ("max_score", &self.max_score),
            ("sort", &self.sort),
        ];
        let mut url = String::from("/review?");
        for (k, v) in pairs {
            if !v.trim().is_empty() {
                url.push_str(&format!("{k}={}&", urlencode(v.trim())));
            }
        }
        if let Some((k, c)) = seek {
            url.push_str(&format!("{k}={}&", c.text()));
        }
        url.push_str(&format!("page={page}"));
        url
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn status_badge(case: &Case, now: u64) -> Markup {
    html! {
        span class={"badge " (case.status.as_str())} { (case.status.as_str().replace('_', " ")) }
        @if let Some(h) = case.holder(now) {
            " " span.badge.taken title={"taken by " (h.name)} { "taken · " (h.name) }
        }
        @if let Some(r) = case.requested_by(now) {
            " " span.badge.requested { "requested by " (r.name) }
        }
    }
}

fn search_box(q: &str) -> Markup {
    html! {
        form.filters.card method="get" action="/review" id="search" role="search" {
            label { "Search" input name="q" id="queue-search" value=(q) style="width:26em"
                placeholder="case id, NIK, request_id or name"; }
            button.primary type="submit" id="apply-search" { "Search" }
        }
    }
}

fn filters(p: &QueueParams) -> Markup {
    let statuses: Vec<(String, String)> = ["active", "untaken", "taken"]
        .iter()
        .map(|s| ((*s).to_owned(), (*s).to_owned()))
        .chain(
            CaseStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), s.as_str().replace('_', " "))),
        )
        .chain(std::iter::once(("all".to_owned(), "all".to_owned())))
        .collect();
    let current = if p.status.is_empty() {
        "active"
    } else {
        p.status.as_str()
    };
    let sort = if p.sort.is_empty() {
        "newest"
    } else {
        p.sort.as_str()
    };
    html! {
        form.filters.card method="get" action="/review" id="filters" {
            label { "Status" select name="status" {
                @for (v, l) in &statuses { option value=(v) selected[v == current] { (l) } }
            } }
            label { "District" input name="district" value=(p.district) placeholder="PPRRDD"; }
            label { "Service point" input name="service_point" value=(p.service_point); }
            label { "Opened from" input type="date" name="from" value=(p.from); }
            label { "to" input type="date" name="to" value=(p.to); }
            label { "Score ≥" input.s name="min_score" value=(p.min_score); }
            label { "Score ≤" input.s name="max_score" value=(p.max_score); }
            label { "Sort" select name="sort" {
                option value="newest" selected[sort == "newest"] { "Newest" }
                option value="score" selected[sort == "score"] { "Highest score" }
                option value="time_left" selected[sort == "time_left"] { "Least time left" }
            } }
            button.primary type="submit" id="apply-filters" { "Apply" }
            a href="/review" { "Reset" }
        }
    }
}

/// The queue page body.
pub fn body(p: &QueueParams, q: &CaseQuery, page: &Page, now: u64, offset: i64) -> Markup {
    let page_no = q.offset / PAGE_SIZE + 1;
    // Beyond `COUNT_CAP` matches the total is not counted: the page says so and offers the
    // next page while this one is full.
    let (counted, more) = if page.total_exact {
        let pages = page.total.div_ceil(PAGE_SIZE).max(1);
        (
            format!("{} cases · page {page_no} of {pages}", page.total),
            page_no < pages,
        )
    } else {
        (
            format!("more than {COUNT_CAP} cases · page {page_no}"),
            page.cases.len() == PAGE_SIZE,
        )
    };
    // The neighbouring pages seek from this page's edge rows (the first page needs none).
    let edge = |case: Option<&Case>| case.and_then(|c| Cursor::of(c, q.sort));
    let prev = (page_no > 2)
        .then(|| edge(page.cases.first()))
        .flatten()
        .map(|c| ("before", c));
    let next = edge(page.cases.last()).map(|c| ("after", c));
    html! {
        h1 { "Case queue" }
        (search_box(""))
        (filters(p))
        div.card {
            p.muted.small { (counted)
                " · times in UTC" (if offset >= 0 { "+" } else { "" }) (offset / 3_600)
                " · press " kbd { "j" } kbd { "k" } " to move, " kbd { "Enter" } " to open" }
            @if page.cases.is_empty() {
                p { "No cases match these filters." }
            } @else {
                (table(&page.cases, now, offset))
            }
            div.pager {
                @if page_no > 1 { a href=(p.with_page(page_no - 1, prev)) rel="prev" { "← Previous" } }
                @if more { a href=(p.with_page(page_no + 1, next)) rel="next" { "Next →" } }
            }
        }
    }
}

fn table(cases: &[Case], now: u64, offset: i64) -> Markup {
    html! {
        table.queue {
            thead { tr {
                th { "Case" } th { "Applicant" } th { "Best candidate" }
                th.num { "Score" }
                th.num title="strong fingers and eyes of the best candidate: orders equal scores" { "Strong" }
                th.num { "Fingers" } th.num { "Eyes" }
                th { "Status" } th.num { "Age" } th.num { "Time left" }
            } }
            tbody {
                @for case in cases { (row(case, now, offset)) }
            }
        }
    }
}

/// The page body of a search's results (every status, newest first).
pub fn search_body(
    p: &QueueParams,
    search: &CaseSearch,
    cases: &[Case],
    now: u64,
    offset: i64,
) -> Markup {
    let found = match cases.len() {
        n if n >= SEARCH_LIMIT => format!("the newest {SEARCH_LIMIT} cases"),
        1 => "1 case".to_owned(),
        n => format!("{n} cases"),
    };
    html! {
        h1 { "Case queue" }
        (search_box(&p.q))
        div.card id="search-results" {
            p.muted.small { "Search for " (search.describe()) " in cases of every status: "
                (found) " · " a href="/review" { "back to the queue" } }
            @if cases.is_empty() {
                p { "No case matches this search." }
            } @else {
                (table(cases, now, offset))
            }
        }
    }
}

fn row(case: &Case, now: u64, offset: i64) -> Markup {
    let a = &case.new.applicant;
    let best = case.new.candidates.first();
    let (left, class) = if case.status.is_final() {
        ("closed".to_owned(), "")
    } else {
        time_left(case.deadline_secs, now)
    };
    let row_class = match class {
        "overdue" => "overdue-row",
        "near" => "near-row",
        _ => "",
    };
    let href = format!("/review/cases/{}", case.case_id);
    html! {
        tr class=(row_class) data-href=(href) {
            td { a.mono href=(href) { (case.case_id) } br; span.muted.small { (case.kind().label()) } }
            td { span.mono { (a.nik) } br; (a.name) }
            td { @if let Some(c) = best {
                span.mono { (c.person.nik) } br; (c.person.name)
                @if case.new.candidates.len() > 1 {
                    span.muted.small { " +" (case.new.candidates.len() - 1) " more" }
                }
            } }
            td.num.mono { (format!("{:.1}", case.best_score())) }
            td.num.mono.strength { (case.strength) }
            td.num { @if let Some(c) = best { (fingers_agreeing(c)) "/" (c.finger_scores.iter().flatten().count()) } }
            td.num { @if let Some(c) = best { (eyes_agreeing(c)) "/" (c.iris_distances.iter().flatten().count()) } }
            td { (status_badge(case, now)) }
            td.num title={"opened " (local_time(case.opened_secs, offset)) " " (zone(offset)) " (" (local_time(case.opened_secs, 0)) " UTC)"} { (duration(now.saturating_sub(case.opened_secs))) }
            td.num title={"deadline " (local_time(case.deadline_secs, offset)) " " (zone(offset)) " (" (local_time(case.deadline_secs, 0)) " UTC)"} { span class=(class) { (left) } }
        }
    }
}

/// Keyboard navigation of the queue: j/k move, Enter opens, rows open on click.
pub const SCRIPT: &str = r#"
(function(){
  var rows=[].slice.call(document.querySelectorAll('table.queue tbody tr'));var i=-1;
  function mark(){rows.forEach(function(r,k){r.style.outline=k===i?'2px solid #1d4ed8':''});if(rows[i])rows[i].scrollIntoView({block:'nearest'});}
  rows.forEach(function(r){r.addEventListener('click',function(e){if(e.target.tagName!=='A')location.href=r.dataset.href;});});
  document.addEventListener('keydown',function(e){
    var t=e.target.tagName;if(t==='INPUT'||t==='TEXTAREA'||t==='SELECT'||e.ctrlKey||e.metaKey||e.altKey)return;
    if(e.key==='j'){i=Math.min(rows.length-1,i+1);mark();}
    else if(e.key==='k'){i=Math.max(0,i-1);mark();}
    else if(e.key==='Enter'&&rows[i]){location.href=rows[i].dataset.href;}
  });
})();
"#;
