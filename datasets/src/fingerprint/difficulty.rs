//! Capture difficulty profiles: the impression parameters of routine captures and of hard
//! ones, whose genuine scores match the hardest real FVC2002 database (DB3, a small
//! capacitive sensor) and whose impostor tail matches the pooled real impostors.
//!
//! A hard capture touches less of the finger (a smaller contact ellipse), is stretched more
//! by plastic distortion and carries many spurious minutiae (an extractor reading a noisy
//! image), while the minutiae it does find keep precise positions and directions. The
//! spurious minutiae are what makes both ends realistic: they lower the genuine scores and,
//! because most follow the ridge flow, they raise the impostor tail to the real one; smaller
//! contact alone gives templates so small that the extreme impostor tail explodes, and
//! direction noise alone lowers the impostor tail further below the real one. The spans keep
//! their meaning from [`ImpressionParams`]: the capture quality and the finger's skin
//! condition still pick the point between the best and the worst value.

use super::impression::{ImpressionParams, Span};

/// How hard the captures of a finger are to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureDifficulty {
    /// Routine captures ([`ImpressionParams::default`]): genuine scores like the pooled real
    /// FVC2002 databases.
    #[default]
    Routine,
    /// Hard captures ([`ImpressionParams::hard`]): genuine scores like the hardest real
    /// FVC2002 database.
    Hard,
}

impl CaptureDifficulty {
    /// The impression parameters of this difficulty.
    pub fn params(self) -> ImpressionParams {
        match self {
            Self::Routine => ImpressionParams::default(),
            Self::Hard => ImpressionParams::hard(),
        }
    }
}

impl ImpressionParams {
    /// Hard captures: fitted so that FVC-style databases of them score like FVC2002 DB3 for
    /// genuine pairs and like the pooled FVC2002 impostors in the impostor tail (see
    /// `datasets/REALISM.md`, "Hard captures").
    pub fn hard() -> Self {
        Self {
            contact: Span::new(0.80, 0.65),
            distortion: Span::new(3.0, 16.0),
            miss: Span::new(0.0, 0.1),
            spurious: Span::new(22.0, 36.0),
            position_sd: Span::new(0.5, 3.0),
            angle_sd: Span::new(1.0, 6.0),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_captures_touch_less_and_invent_more() {
        let (routine, hard) = (
            CaptureDifficulty::Routine.params(),
            CaptureDifficulty::Hard.params(),
        );
        assert_eq!(routine, ImpressionParams::default());
        assert!(hard.contact.best < routine.contact.best);
        assert!(hard.spurious.worst > routine.spurious.worst);
        assert!(hard.distortion.worst > routine.distortion.worst);
        assert_eq!(
            (hard.sensor_width, hard.sensor_height),
            (routine.sensor_width, routine.sensor_height)
        );
    }
}
