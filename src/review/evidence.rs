//! Strength bands for the per-modality grid and the "how many agree" counts.
//!
//! The bands are display aids, not decision thresholds: finger scores are the matcher's
//! similarity in [0, 1] (genuine pairs have a median near 0.2, impostors rarely pass 0.05);
//! iris distances are normalised Hamming distances (same eye ≲ 0.30, different eyes ≈ 0.45).

use crate::cases::{CaseCandidate, Sameness};

/// Finger score at which a finger counts as agreeing.
pub const FINGER_AGREE: f32 = 0.05;
/// Finger score of strong evidence.
pub const FINGER_STRONG: f32 = 0.15;
/// Iris distance at or below which an eye counts as agreeing.
pub const IRIS_AGREE: f32 = 0.34;
/// Iris distance of strong evidence.
pub const IRIS_STRONG: f32 = 0.28;

/// The CSS class of a finger score.
pub fn finger_band(score: Option<f32>) -> &'static str {
    match score {
        None => "s-none",
        Some(s) if s >= FINGER_STRONG => "s-strong",
        Some(s) if s >= FINGER_AGREE => "s-moderate",
        Some(s) if s >= FINGER_AGREE / 2.0 => "s-weak",
        Some(_) => "s-against",
    }
}

/// The CSS class of an iris distance.
pub fn iris_band(distance: Option<f32>) -> &'static str {
    match distance {
        None => "s-none",
        Some(d) if d <= IRIS_STRONG => "s-strong",
        Some(d) if d <= IRIS_AGREE => "s-moderate",
        Some(d) if d <= 0.40 => "s-weak",
        Some(_) => "s-against",
    }
}

/// Fingers whose score reaches [`FINGER_AGREE`].
pub fn fingers_agreeing(c: &CaseCandidate) -> usize {
    c.finger_scores
        .iter()
        .flatten()
        .filter(|&&s| s >= FINGER_AGREE)
        .count()
}

/// Eyes whose distance is at most [`IRIS_AGREE`].
pub fn eyes_agreeing(c: &CaseCandidate) -> usize {
    c.iris_distances
        .iter()
        .flatten()
        .filter(|&&d| d <= IRIS_AGREE)
        .count()
}

/// Fingers and eyes the engine's search flagged as the applicant's capture submitted again
/// (a replay of an enrolled person's templates), by name, each with whether the templates
/// are equal.
pub fn identical_captures(c: &CaseCandidate) -> Vec<(&'static str, bool)> {
    let exact = |s: Sameness| s == Sameness::Exact;
    let fingers = c
        .identical
        .fingers
        .iter()
        .zip(FINGER_NAMES)
        .filter_map(|(s, name)| s.map(|s| (name, exact(s))));
    let eyes = c
        .identical
        .eyes
        .iter()
        .zip(["R eye", "L eye"])
        .filter_map(|(s, name)| s.map(|s| (name, exact(s))));
    fingers.chain(eyes).collect()
}

/// Finger names by position 1–10.
pub const FINGER_NAMES: [&str; 10] = [
    "R thumb", "R index", "R middle", "R ring", "R little", "L thumb", "L index", "L middle",
    "L ring", "L little",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_order_by_strength() {
        assert_eq!(finger_band(Some(0.3)), "s-strong");
        assert_eq!(finger_band(Some(0.06)), "s-moderate");
        assert_eq!(finger_band(Some(0.03)), "s-weak");
        assert_eq!(finger_band(Some(0.0)), "s-against");
        assert_eq!(finger_band(None), "s-none");
        assert_eq!(iris_band(Some(0.2)), "s-strong");
        assert_eq!(iris_band(Some(0.47)), "s-against");
    }

    #[test]
    fn flagged_captures_are_named() {
        let person = crate::cases::tests::person(1, "317101");
        let mut c = CaseCandidate {
            person,
            score: 64.0,
            finger_scores: [Some(0.2); 10],
            iris_distances: [Some(0.25), None],
            identical: Default::default(),
        };
        assert!(identical_captures(&c).is_empty());
        c.identical.fingers[1] = Some(Sameness::Near);
        c.identical.eyes[0] = Some(Sameness::Exact);
        assert_eq!(
            identical_captures(&c),
            vec![("R index", false), ("R eye", true)]
        );
    }
}
