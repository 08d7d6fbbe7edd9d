//! Fingers and eyes of a candidate that are the applicant's capture submitted again (a
//! replayed enrolment), as the engine's search found them (`tunggal_index::search::
//! same_capture`): kept with the verdict, the stored outcome and the case, so the answer
//! and the case page show the same flags.

use serde::{Deserialize, Serialize};

/// How a submitted capture relates to the enrolled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sameness {
    /// Scored beyond what different captures of one finger or eye reach.
    Near,
    /// Equal templates (byte-identical submissions always are).
    Exact,
}

impl Sameness {
    /// The index's verdict in this form.
    pub fn of(s: tunggal_index::search::SameCapture) -> Self {
        match s {
            tunggal_index::search::SameCapture::Near => Self::Near,
            tunggal_index::search::SameCapture::Exact => Self::Exact,
        }
    }
}

/// The fingers and eyes of one candidate that are the same capture as the applicant's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdenticalCapture {
    /// By finger position 1–10 (index 0 = position 1).
    pub fingers: [Option<Sameness>; 10],
    /// By eye ([`crate::enrolment::record::Eye::index`]: 0 = right, 1 = left).
    pub eyes: [Option<Sameness>; 2],
}

impl IdenticalCapture {
    /// Whether no finger or eye is flagged.
    pub fn is_empty(&self) -> bool {
        self.fingers.iter().chain(&self.eyes).all(Option::is_none)
    }

    /// Whether any flagged finger or eye has equal templates.
    pub fn any_exact(&self) -> bool {
        self.fingers
            .iter()
            .chain(&self.eyes)
            .any(|s| *s == Some(Sameness::Exact))
    }
}
