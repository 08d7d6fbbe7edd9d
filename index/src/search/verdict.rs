//! What a search answers.

use crate::gallery::person_record::{EYES, FINGERS};
use crate::search::same_capture::SameCapture;

/// One finger's second-stage comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FingerScore {
    /// First-stage descriptor similarity.
    pub descriptor: f32,
    /// Matcher score, 0–1.
    pub score: f32,
    /// Its log-likelihood ratio (capped).
    pub llr: f32,
    /// Whether the probe's finger is the enrolled capture submitted again.
    pub same: Option<SameCapture>,
}

/// One eye's comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EyeScore {
    /// Best normalised Hamming distance over the rotation window; `None` when it was beyond
    /// the iris gate (a non-match, given the iris floor as its ratio).
    pub hd_norm: Option<f32>,
    /// Best rotation in angular positions (0 when not scored).
    pub rotation: i32,
    /// Its log-likelihood ratio (capped).
    pub llr: f32,
    /// Whether the probe's eye is the enrolled capture submitted again.
    pub same: Option<SameCapture>,
}

/// A gallery person the probe may be.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryMatch {
    /// Person key.
    pub key: u64,
    /// Fused log-likelihood ratio.
    pub fused: f32,
    /// First-stage score that put the person on the shortlist.
    pub stage1: f32,
    /// Per-finger scores, by slot, where both sides have the finger.
    pub fingers: [Option<FingerScore>; FINGERS],
    /// Per-eye scores (left, right), where both sides have the eye.
    pub eyes: [Option<EyeScore>; EYES],
}

/// Why a probe was not searched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No submitted template is usable.
    #[error("no usable template (unusable fingers {fingers:?}, eyes {eyes:?})")]
    UnusableTemplates {
        /// Unusable finger slots.
        fingers: Vec<usize>,
        /// Unusable eyes.
        eyes: Vec<usize>,
    },
    /// Fewer usable fingers than the policy requires.
    #[error("{usable} usable fingers, {required} required")]
    TooFewUsableFingers {
        /// Usable fingers.
        usable: usize,
        /// Required.
        required: usize,
    },
}

/// The answer to a deduplication search.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchVerdict {
    /// Nobody enrolled is this person.
    Single,
    /// Enrolled people whose fused score passed the threshold, best first.
    Duplicate(Vec<GalleryMatch>),
    /// The probe could not be searched.
    Rejected(Rejection),
}

impl SearchVerdict {
    /// True for [`SearchVerdict::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, SearchVerdict::Duplicate(_))
    }
}

/// A verdict with what led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// The verdict.
    pub verdict: SearchVerdict,
    /// Keys on the first-stage shortlist, best first.
    pub shortlist: Vec<u64>,
    /// The best-scoring candidate after the second stage, whether or not it passed.
    pub best: Option<GalleryMatch>,
    /// People searched.
    pub gallery_size: usize,
    /// Threshold on the fused ratio.
    pub threshold: f32,
}
