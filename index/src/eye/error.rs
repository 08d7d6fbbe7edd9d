//! Typed errors of the eye-image pipeline, each with a machine-readable reason.

use thiserror::Error;

use crate::iris::IrisLayout;

/// Why an eye image yields no iris template (a failure to enrol), or why the request was
/// refused before looking at the image.
///
/// [`EyeError::reason`] gives a stable machine-readable code, suitable for a `problem+json`
/// body; [`EyeError::is_failure_to_enrol`] tells the image's own failures from bad requests.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EyeError {
    /// The image is too small (or too large) for an eye image.
    #[error("eye image of {width}x{height} pixels: each side must be {min}..={max} pixels")]
    ImageSize {
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
        /// Smallest accepted side.
        min: u32,
        /// Largest accepted side.
        max: u32,
    },
    /// No dark disc with a clear boundary was found.
    #[error("pupil not found: strongest pupil boundary has contrast {contrast:.1}, at least {required:.1} required")]
    PupilNotFound {
        /// Grey-level step across the best pupil boundary candidate.
        contrast: f32,
        /// Least step accepted.
        required: f32,
    },
    /// No iris-sclera boundary around the pupil was found.
    #[error("limbus not found: strongest iris boundary has contrast {contrast:.1}, at least {required:.1} required")]
    LimbusNotFound {
        /// Grey-level step across the best limbus candidate.
        contrast: f32,
        /// Least step accepted.
        required: f32,
    },
    /// Pupil and iris circles were found but do not form a plausible eye.
    #[error("implausible iris geometry: {0}")]
    Geometry(String),
    /// Too little of the iris is visible (eyelids, eyelashes, reflections, image border).
    #[error("iris occluded: {usable:.0}% of the iris is usable, at least {required:.0}% required")]
    Occluded {
        /// Usable share of the normalised iris, in percent.
        usable: f32,
        /// Least share accepted, in percent.
        required: f32,
    },
    /// The iris texture is too blurred (defocus or motion) to be encoded reliably.
    #[error("iris out of focus: sharpness {sharpness:.2}, at least {required:.2} required")]
    OutOfFocus {
        /// Measured sharpness (see [`super::EyeQuality::sharpness`]).
        sharpness: f32,
        /// Least sharpness accepted.
        required: f32,
    },
    /// The layout asks for more than 2 bits per position (a phase quadrant is 2 bits).
    #[error("iris layout {0} is not supported by the encoder (1 or 2 bits per position)")]
    UnsupportedLayout(IrisLayout),
    /// Encoder settings are out of range.
    #[error("invalid eye encoder setting: {0}")]
    InvalidParams(&'static str),
}

impl EyeError {
    /// A stable machine-readable code for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ImageSize { .. } => "iris_image_size",
            Self::PupilNotFound { .. } => "iris_pupil_not_found",
            Self::LimbusNotFound { .. } => "iris_limbus_not_found",
            Self::Geometry(_) => "iris_geometry_implausible",
            Self::Occluded { .. } => "iris_occluded",
            Self::OutOfFocus { .. } => "iris_out_of_focus",
            Self::UnsupportedLayout(_) => "iris_layout_unsupported",
            Self::InvalidParams(_) => "iris_encoder_settings_invalid",
        }
    }

    /// True when the image itself failed (a failure to enrol), false when the request or the
    /// settings were wrong.
    pub fn is_failure_to_enrol(&self) -> bool {
        !matches!(self, Self::UnsupportedLayout(_) | Self::InvalidParams(_))
    }

    /// True when the failure may come from a wrong pupil (no pupil, no limbus around it,
    /// boundaries that do not fit together, or an "iris" of which almost nothing, under a
    /// fifth of the required share, is usable: a circle on something that is not an eye),
    /// so that another pupil candidate is worth a try; false for an iris partly occluded or
    /// blurred, which another pupil would not uncover.
    pub fn may_be_a_wrong_pupil(&self) -> bool {
        match self {
            Self::PupilNotFound { .. } | Self::LimbusNotFound { .. } | Self::Geometry(_) => true,
            Self::Occluded { usable, required } => *usable < 0.2 * *required,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_a_wrong_pupil_explains_ask_for_another_candidate() {
        let occluded = |usable| EyeError::Occluded {
            usable,
            required: 30.0,
        };
        assert!(occluded(1.0).may_be_a_wrong_pupil());
        assert!(!occluded(12.0).may_be_a_wrong_pupil());
        assert!(EyeError::Geometry("pupil outside the iris".into()).may_be_a_wrong_pupil());
        assert!(!EyeError::OutOfFocus {
            sharpness: 0.01,
            required: 0.05
        }
        .may_be_a_wrong_pupil());
    }
}
