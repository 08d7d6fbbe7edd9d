//! The case page: applicant and one candidate side by side, the evidence drawn, the decision
//! panel and the case's trail.

use maud::{html, Markup};

use super::draw::{iris_figure, shown_distance};
use super::evidence::{finger_band, identical_captures, iris_band, FINGER_AGREE, FINGER_NAMES};
use super::eye_draw::{eye_pair_figure, EyePair};
use super::layout::{duration, local_time, time_left, time_tag, zone};
use super::minutiae::{finger_svg, FingerGeometry, PairImages, PrintImage};
use super::session::Session;
use crate::access::keys::Role;
use crate::cases::{
    Action, Case, CaseCandidate, CaseStatus, DecisionKind, DecisionReason, FingerComparison,
    IrisComparison, PersonSummary,
};

/// The drawn evidence of one candidate.
#[derive(Debug, Default)]
pub struct Drawn {
    /// Finger comparisons by position 1–10 (those the engine could give), with the
    /// submitted images behind them.
    pub fingers: Vec<(u8, FingerComparison, PairImages)>,
    /// Iris comparisons by eye (0 right, 1 left).
    pub irises: Vec<(usize, IrisComparison)>,
    /// The submitted eye images behind them, by eye (0 right, 1 left).
    pub eyes: Vec<EyePair>,
}

/// What the page shows.
#[derive(Debug)]
pub struct CaseView<'a> {
    /// The case.
    pub case: &'a Case,
    /// The selected candidate's index.
    pub selected: usize,
    /// Its evidence.
    pub drawn: Drawn,
    /// The viewer.
    pub session: &'a Session,
    /// A message after an action (`(ok, text)`).
    pub flash: Option<(bool, String)>,
    /// Now, seconds since the Unix epoch.
    pub now: u64,
    /// Local time offset for display.
    pub offset: i64,
    /// The other cases about the applicant or a candidate, newest first.
    pub history: Vec<Case>,
}

/// An RFC 3339 time in the local zone (`… WIB`), or as given when it does not parse.
fn local_rfc3339(s: &str, offset: i64) -> String {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
        .map_or_else(
            || s.to_owned(),
            |secs| format!("{} {}", local_time(secs, offset), zone(offset)),
        )
}

fn meta_rows(a: &PersonSummary, c: &PersonSummary, offset: i64) -> Markup {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".to_owned());
    let rows = [
        ("NIK", a.nik.clone(), c.nik.clone()),
        ("Name", a.name.clone(), c.name.clone()),
        ("Sex", a.sex.clone(), c.sex.clone()),
        (
            "Date of birth",
            a.date_of_birth.clone(),
            c.date_of_birth.clone(),
        ),
        ("District", a.district.clone(), c.district.clone()),
        (
            "Service point",
            a.service_point.clone(),
            c.service_point.clone(),
        ),
        (
            "Enrolled",
            local_rfc3339(&a.enrolled_at, offset),
            local_rfc3339(&c.enrolled_at, offset),
        ),
        ("Citizenship", a.citizenship.clone(), c.citizenship.clone()),
        ("Passport", opt(&a.passport_number), opt(&c.passport_number)),
        ("KITAP", opt(&a.kitap_number), opt(&c.kitap_number)),
        ("Reference", a.reference_id.clone(), c.reference_id.clone()),
        ("Request", a.request_id.clone(), c.request_id.clone()),
    ];
    html! {
        table.meta {
            thead { tr { th {} th { "Applicant" } th { "Candidate" } } }
            tbody {
                @for (label, x, y) in rows {
                    @let differs = x != y && !matches!(label, "Enrolled" | "Reference" | "Request");
                    tr {
                        th { (label) }
                        td.mono.diff[differs] { (x) }
                        td.mono.diff[differs] { (y) }
                    }
                }
            }
        }
    }
}

fn media(case: &Case, c: &PersonSummary) -> Markup {
    let a = &case.new.applicant;
    let url = |what: &str, p: &PersonSummary| {
        format!("/review/cases/{}/{what}/{}", case.case_id, p.reference_id)
    };
    html! {
        @if a.has_photo || a.has_signature || c.has_photo || c.has_signature {
            div.card.media {
                @for (who, p) in [("Applicant", a), ("Candidate", c)] {
                    @if p.has_photo { figure { img src=(url("photo", p)) alt={(who) " photo"}; figcaption.small { (who) " photo" } } }
                    @if p.has_signature { figure { img src=(url("signature", p)) alt={(who) " signature"}; figcaption.small { (who) " signature" } } }
                }
            }
        }
    }
}

fn grid(c: &CaseCandidate) -> Markup {
    html! {
        table.grid id="modality-grid" {
            thead { tr {
                @for name in FINGER_NAMES { th { (name) } }
                th { "R eye" } th { "L eye" }
            } }
            tbody { tr {
                @for s in c.finger_scores {
                    td class={"finger " (finger_band(s))} { @match s { Some(s) => (format!("{s:.3}")), None => "—" } }
                }
                @for d in c.iris_distances {
                    @match d {
                        Some(d) if d < 0.0 => td class={"eye " (iris_band(Some(d)))} title={"normalised distance computes to " (format!("{d:.3}")) ", shown as 0"} { (shown_distance(d)) },
                        Some(d) => td class={"eye " (iris_band(Some(d)))} { (shown_distance(d)) },
                        None => td class={"eye " (iris_band(None))} { "—" },
                    }
                }
            } }
        }
        div.legend {
            span { i.s-strong {} "strong" } span { i.s-moderate {} "agrees" }
            span { i.s-weak {} "weak" } span { i.s-against {} "against" } span { i.s-none {} "missing" }
            span.muted { "fingers: matcher similarity (higher is closer) · eyes: Hamming distance (lower is closer)" }
        }
        p.small.muted id="legend-against" {
            strong { "Against" } " means the pair is evidence that the fingers or eyes are "
            em { "different" } ": a finger below " (format!("{FINGER_AGREE:.3}")) " similarity (different fingers rarely pass 0.05), an eye above 0.40 Hamming distance (different eyes sit near 0.45). Such fingers are drawn without correspondence lines: the minutiae the matcher tried to pair do not correspond."
        }
    }
}

fn decision_panel(v: &CaseView<'_>) -> Markup {
    let case = v.case;
    let me = &v.session.principal.key_id;
    let holder = case.holder(v.now);
    let held_by_other = holder.filter(|h| &h.key_id != me);
    let decider = case.decision.as_ref().map(|d| &d.by);
    let me_actor = v.session.actor();
    let action = format!("/review/cases/{}", case.case_id);
    let selected = case.new.candidates.get(v.selected);
    html! {
        div.card.decide id="decision" {
            h2 { "Decision" }
            @match case.status {
                CaseStatus::Open | CaseStatus::Escalated => {
                    @if let Some(h) = held_by_other {
                        p.flash.info id="taken-notice" { "Taken by " strong { (h.name) } " — read only until they release it or the hold lapses." }
                        @if v.session.principal.role == Role::Supervisor {
                            form method="post" action={(action) "/supervisor-release"} id="supervisor-release-form" {
                                input type="hidden" name="csrf" value=(v.session.csrf);
                                p.small.muted { "As supervisor you can end " (h.name) "'s hold; the trail names them." }
                                button.warn type="submit" id="btn-supervisor-release" { "Release (supervisor)" }
                            }
                        }
                        @if case.requested_by(v.now).is_some_and(|r| &r.key_id == me) {
                            p.small.muted id="asked-notice" { "You asked " (h.name) " for this case." }
                        } @else {
                            form method="post" action={(action) "/ask"} {
                                input type="hidden" name="csrf" value=(v.session.csrf);
                                button type="submit" id="btn-ask" { "Ask for this case" }
                            }
                        }
                    } @else {
                        @if let Some(r) = case.requested_by(v.now) {
                            p.flash.info id="requested-notice" { "Requested by " strong { (r.name) } ": release the case if they should take it over." }
                        }
                        form method="post" action={(action) "/decide"} id="decide-form" {
                            input type="hidden" name="csrf" value=(v.session.csrf);
                            @if let Some(c) = selected {
                                input type="hidden" name="candidate" value=(c.person.reference_id);
                                p.small { "Confirming links the applicant to " strong { (c.person.name) } " (" span.mono { (c.person.nik) } ")." }
                            }
                            label.small for="reason" { "Reason (required to confirm or clear)" }
                            select id="reason" name="reason" {
                                option value="" { "— choose —" }
                                @for r in DecisionReason::ALL { option value=(r.as_str()) { (r.label()) } }
                            }
                            label.small for="comment" { "Comment (required)" }
                            textarea id="comment" name="comment" required placeholder="What the evidence shows…" {}
                            div.buttons {
                                button.danger type="submit" name="decision" value="confirm" id="btn-confirm" { "Confirm duplicate" kbd { "D" } }
                                button.ok type="submit" name="decision" value="clear" id="btn-clear" { "Not a duplicate" kbd { "C" } }
                                button.warn type="submit" name="decision" value="escalate" id="btn-escalate" { "Escalate" kbd { "E" } }
                            }
                        }
                        @if holder.is_some() {
                            form method="post" action={(action) "/release"} style="margin-top:8px" {
                                input type="hidden" name="csrf" value=(v.session.csrf);
                                p.small.muted id="held-notice" { "You hold this case." }
                                button type="submit" id="btn-release" { "Release to queue" }
                            }
                        } @else {
                            form method="post" action={(action) "/take"} style="margin-top:8px" {
                                input type="hidden" name="csrf" value=(v.session.csrf);
                                p.small.muted { "Nobody holds this case. Take it so others see you are working on it; deciding does not need it." }
                                button type="submit" id="btn-take" { "Take" }
                            }
                        }
                    }
                }
                CaseStatus::PendingApproval => {
                    @if let Some(d) = &case.decision {
                        @if matches!(&d.action, Action::Decided { decision: DecisionKind::Clear, .. }) {
                            p id="pending-clear" { "Cleared (not a duplicate) by " strong { (d.by.name) } ": the score is high, so a second analyst must approve the clearance." }
                        } @else {
                            p { "Confirmed as duplicate by " strong { (d.by.name) } "." }
                        }
                        @if let Action::Decided { comment, .. } = &d.action { p.small.muted { "“" (comment) "”" } }
                    }
                    @if decider.is_some_and(|d| d.same_person(&me_actor)) {
                        p.flash.info id="self-approval-notice" { "You made this decision: a second analyst must approve it." }
                    } @else {
                        form method="post" action={(action) "/approve"} id="approve-form" {
                            input type="hidden" name="csrf" value=(v.session.csrf);
                            label.small for="comment" { "Comment (required)" }
                            textarea id="comment" name="comment" required {}
                            div.buttons {
                                button.danger type="submit" name="verdict" value="approve" id="btn-approve" { "Approve duplicate" kbd { "A" } }
                                button type="submit" name="verdict" value="return" id="btn-return" { "Return to queue" kbd { "R" } }
                            }
                        }
                    }
                }
                CaseStatus::ConfirmedDuplicate | CaseStatus::Cleared => {
                    p id="final-status" { "Closed: " strong { (case.status.as_str().replace('_', " ")) } }
                    @if !case.outcome_delivered {
                        p.flash.err { "The outcome has not reached the enrolment engine yet." }
                        form method="post" action={(action) "/deliver"} {
                            input type="hidden" name="csrf" value=(v.session.csrf);
                            button.primary type="submit" id="btn-deliver" { "Deliver outcome again" }
                        }
                    } @else {
                        p.small.muted { "The service point's enrolment status has been updated." }
                    }
                }
            }
        }
    }
}

fn trail(case: &Case, offset: i64) -> Markup {
    html! {
        div.card {
            h2 { "Audit trail" }
            ol.trail id="trail" {
                @for e in case.trail.iter().rev() {
                    li {
                        span.muted { (time_tag(e.at, offset)) } " · " strong { (e.by.name) } " · "
                        @match &e.action {
                            Action::Opened => "opened the case",
                            Action::Viewed => "viewed",
                            Action::Taken { .. } => "took the case",
                            Action::Released => "released it",
                            Action::Requested => "asked the holder for the case",
                            Action::SupervisorReleased { holder } => { "released the case held by " (holder.name) " (supervisor)" }
                            Action::Decided { decision, reason, comment, needs_approval } => {
                                @match decision {
                                    DecisionKind::ConfirmDuplicate { duplicate_of } => { "confirmed duplicate of " span.mono { (duplicate_of) } }
                                    DecisionKind::Clear if *needs_approval => "cleared (not a duplicate), pending approval",
                                    DecisionKind::Clear => "cleared (not a duplicate)",
                                    DecisionKind::Escalate => "escalated",
                                }
                                @if let Some(r) = reason { " · reason: " span.reason { (r.label()) } }
                                ": “" (comment) "”"
                            }
                            Action::Approved { comment } => { "approved: “" (comment) "”" }
                            Action::Returned { comment } => { "returned to queue: “" (comment) "”" }
                            Action::Delivered => "outcome delivered to the engine",
                        }
                    }
                }
            }
        }
    }
}

/// The name of finger position 1–10.
pub fn finger_name(pos: u8) -> &'static str {
    FINGER_NAMES
        .get(usize::from(pos).saturating_sub(1))
        .copied()
        .unwrap_or("finger")
}

/// What a finger pair's drawing shows, in words: score, matched minutiae, overlap.
pub fn finger_caption(cmp: &FingerComparison, geo: &FingerGeometry) -> Markup {
    html! {
        " · score " (format!("{:.3}", cmp.score)) " · "
        @if geo.for_match {
            span.matched-count { (cmp.pairs.len()) " matched minutiae" }
        } @else {
            span.against-note { "against: no correspondence" }
        }
        " of " (cmp.applicant.minutiae.len()) " / " (cmp.candidate.minutiae.len())
        @if let Some(a) = geo.overlap_mm2 {
            " · overlap " span.overlap { (format!("{a:.0}")) " mm²" }
        }
        @if let (true, Some(t)) = (geo.for_match, geo.transform) {
            " · candidate turned " (format!("{:.0}", t.degrees().round() + 0.0)) "°"
        }
        @if geo.identical {
            " · " strong.identical-finger { "identical minutiae" }
        }
    }
}

/// The measured quality of a pair's image fingers (nothing for fingers enrolled as
/// templates).
pub fn quality_note(images: &PairImages) -> Markup {
    let one = |who: &str, img: &Option<PrintImage>| {
        html! {
            @if let Some(img) = img {
                " · " span.quality title="finger image quality 0–100 measured at enrolment" {
                    (who) " quality " strong { (img.info.quality) }
                    @if let Some(why) = &img.info.unusable { " (unusable: " (why.replace('_', " ")) ")" }
                }
            }
        }
    };
    html! { (one("applicant", &images.applicant)) (one("candidate", &images.candidate)) }
}

fn finger_figure(
    case: &Case,
    selected: usize,
    pos: u8,
    cmp: &FingerComparison,
    images: &PairImages,
) -> Markup {
    let geo = FingerGeometry::of(cmp);
    html! {
        figure data-position=(pos) {
            figcaption {
                strong { (finger_name(pos)) }
                (finger_caption(cmp, &geo))
                (quality_note(images))
                " · " a.enlarge href={"/review/cases/" (case.case_id) "/fingers/" (pos) "?c=" (selected)} { "enlarge" }
            }
            (finger_svg(cmp, &geo, images))
        }
    }
}

/// The page body.
pub fn body(v: &CaseView<'_>) -> Markup {
    let case = v.case;
    let Some(c) = case.new.candidates.get(v.selected) else {
        return html! { p { "This case has no such candidate." } };
    };
    let (left, class) = time_left(case.deadline_secs, v.now);
    html! {
        @if let Some((ok, text)) = &v.flash {
            p class={"flash " (if *ok { "ok" } else { "err" })} id="flash" { (text) }
        }
        h1 {
            "Case " span.mono { (case.case_id) } " "
            span class={"badge " (case.status.as_str())} id="case-status" { (case.status.as_str().replace('_', " ")) }
            " " span.badge { (case.kind().label()) }
        }
        p.small.muted {
            "Opened " (time_tag(case.opened_secs, v.offset)) " (" (duration(v.now.saturating_sub(case.opened_secs))) " ago) · deadline "
            (time_tag(case.deadline_secs, v.offset)) " · "
            @if case.status.is_final() { "closed" } @else { span class=(class) { (left) (if class == "overdue" { "" } else { " left" }) } }
        }
        nav.tabs {
            @for (i, cand) in case.new.candidates.iter().enumerate() {
                a class=(if i == v.selected { "on" } else { "" }) href={"?c=" (i)} {
                    "Candidate " (i + 1) ": " (cand.person.name) " · " (format!("{:.1}", cand.score))
                }
            }
        }
        @let identical = identical_captures(c);
        @if !identical.is_empty() {
            @let exact: Vec<&str> = identical.iter().filter(|(_, e)| *e).map(|(n, _)| *n).collect();
            @let near: Vec<&str> = identical.iter().filter(|(_, e)| !*e).map(|(n, _)| *n).collect();
            div.flash.err id="identical-capture" {
                strong { "Identical capture. " }
                @if !exact.is_empty() {
                    span id="identical-exact" {
                        "Equal templates (the same bytes submitted again): " strong { (exact.join(", ")) } ". "
                    }
                }
                @if !near.is_empty() {
                    span id="identical-near" {
                        "Near-identical (beyond what different captures of one finger or eye reach): " (near.join(", ")) ". "
                    }
                }
                "Resubmitting an enrolled person's templates is a known replay pattern: check the capture's origin."
            }
        }
        div.cols {
            div {
                div.card {
                    h2.first { "Evidence by finger and eye · fused score " (format!("{:.2}", c.score)) }
                    (grid(c))
                }
                div.card { (meta_rows(&case.new.applicant, &c.person, v.offset)) }
                (super::history::history(case, v.selected, &v.history, v.offset))
                (media(case, &c.person))
                h2 { "Fingerprints: applicant (left) and candidate (right)" }
                @if v.drawn.fingers.is_empty() {
                    p.muted { "No finger comparison is available for this pair." }
                } @else {
                    div.fingers id="fingers" {
                        @for (pos, cmp, images) in &v.drawn.fingers {
                            (finger_figure(case, v.selected, *pos, cmp, images))
                        }
                    }
                }
                h2 { "Irises at the best rotation" }
                @if v.drawn.irises.is_empty() && v.drawn.eyes.is_empty() {
                    p.muted { "No iris comparison is available for this pair." }
                } @else {
                    div id="irises" {
                        @for eye in [0usize, 1] {
                            @let name = if eye == 0 { "Right" } else { "Left" };
                            @let images = v.drawn.eyes.iter().find(|p| p.eye == eye);
                            @let cmp = v.drawn.irises.iter().find(|(e, _)| *e == eye);
                            @if images.is_some() || cmp.is_some() {
                                div.eye-row {
                                    @if let Some(images) = images { (eye_pair_figure(images, name)) }
                                    @if let Some((_, cmp)) = cmp { (iris_figure(cmp, name)) }
                                }
                            }
                        }
                    }
                }
            }
            div.side {
                (decision_panel(v))
                (trail(case, v.offset))
            }
        }
    }
}

/// Keyboard shortcuts of the case page: D/C/E decide, A/R approve or return, 1–9 pick a
/// candidate, Esc leaves the comment box. A decision with an empty comment focuses it.
pub const SCRIPT: &str = r#"
(function(){
  function press(id){var b=document.getElementById(id);if(!b)return;var t=document.getElementById('comment');
    if(t&&!t.value.trim()){t.focus();t.placeholder='A comment is required before deciding';return;}b.click();}
  document.addEventListener('keydown',function(e){
    var tag=e.target.tagName;
    if(e.key==='Escape'&&tag==='TEXTAREA'){e.target.blur();return;}
    if(tag==='INPUT'||tag==='TEXTAREA'||tag==='SELECT'||e.ctrlKey||e.metaKey||e.altKey)return;
    var k=e.key.toLowerCase();
    var map={d:'btn-confirm',c:'btn-clear',e:'btn-escalate',a:'btn-approve',r:'btn-return'};
    if(map[k]){e.preventDefault();press(map[k]);}
    else if(/^[1-9]$/.test(k)){location.search='?c='+(Number(k)-1);}
  });
  function mark(e,on){var t=e.target.closest&&e.target.closest('[data-pair]');if(!t)return;
    var root=t.closest('.finger-large')||t.closest('svg.minutiae')||document;
    root.querySelectorAll('[data-pair="'+t.getAttribute('data-pair')+'"]').forEach(function(n){n.classList.toggle('hl',on);});}
  document.addEventListener('mouseover',function(e){mark(e,true);});
  document.addEventListener('mouseout',function(e){mark(e,false);});
})();
"#;
