//! The case page's history: the other cases about the applicant or a candidate, each with
//! its status and the decisions taken on it (who, when, why), linked to its page.

use maud::{html, Markup};

use super::layout::time_tag;
use crate::cases::{Action, Case, DecisionKind};

/// How another case relates to the pair on screen.
fn relation(other: &Case, applicant: &str, candidate: &str) -> &'static str {
    let has = |r: &str| crate::cases::history::persons(&other.new).any(|p| p == r);
    match (has(applicant), has(candidate)) {
        (true, true) => "same pair",
        (true, false) => "the applicant",
        (false, true) => "the candidate",
        (false, false) => "another candidate",
    }
}

/// One decision, approval or return of a trail, in words.
fn decision(action: &Action) -> Option<(String, &str)> {
    Some(match action {
        Action::Decided {
            decision,
            comment,
            needs_approval,
            reason,
        } => {
            let mut what = match decision {
                DecisionKind::ConfirmDuplicate { duplicate_of } => {
                    format!("confirmed duplicate of {duplicate_of}")
                }
                DecisionKind::Clear if *needs_approval => "cleared, pending approval".to_owned(),
                DecisionKind::Clear => "cleared (not a duplicate)".to_owned(),
                DecisionKind::Escalate => "escalated".to_owned(),
            };
            if let Some(reason) = reason {
                what = format!("{what}: {}", reason.label());
            }
            (what, comment.as_str())
        }
        Action::Approved { comment } => ("approved".to_owned(), comment.as_str()),
        Action::Returned { comment } => ("returned to the queue".to_owned(), comment.as_str()),
        _ => return None,
    })
}

/// The history card of `case` with candidate `selected` on screen.
pub fn history(case: &Case, selected: usize, others: &[Case], offset: i64) -> Markup {
    let applicant = case.new.applicant.reference_id.as_str();
    let candidate = case
        .new
        .candidates
        .get(selected)
        .map_or("", |c| c.person.reference_id.as_str());
    html! {
        div.card id="history" {
            h2 { "History of these persons" }
            @if others.is_empty() {
                p.muted.small { "No other case concerns the applicant or a candidate." }
            } @else {
                ol.trail {
                    @for other in others {
                        @let rel = relation(other, applicant, candidate);
                        li.history-entry data-case=(other.case_id) {
                            a.mono href={"/review/cases/" (other.case_id)} { (other.case_id) } " "
                            span class={"badge " (other.status.as_str())} { (other.status.as_str().replace('_', " ")) } " "
                            span class={"badge" (if rel == "same pair" { " same-pair" } else { "" })} { (rel) }
                            br;
                            span.small.muted { "opened " (time_tag(other.opened_secs, offset)) " · " (other.new.applicant.name) " / " (other.new.candidates.first().map_or("—", |c| c.person.name.as_str())) }
                            @for e in &other.trail {
                                @if let Some((what, comment)) = decision(&e.action) {
                                    br;
                                    span.small {
                                        strong { (what) } " by " (e.by.name) ", " (time_tag(e.at, offset)) ": “" (comment) "”"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
