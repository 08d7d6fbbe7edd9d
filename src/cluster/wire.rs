//! The messages of the cluster: an enrolment on the `ENROL` stream, a shard's partial
//! result on the `PARTIAL` stream and a verdict in the `VERDICT` bucket, all JSON.
//!
//! Scores travel as `f32` and come back bit for bit (`serde_json` writes the shortest form
//! that reads back to the same float), so the fusion of the partials on a front-end and on
//! the owning shard gives the same verdict.

use serde::{Deserialize, Serialize};
use tunggal_index::gallery::person_record::{EYES, FINGERS};
use tunggal_index::gallery::{Enrolment, IrisCode};
use tunggal_index::search::{EyeScore, FingerScore, GalleryMatch, SameCapture};
use tunggal_index::template::FingerTemplate;

use super::ClusterError;

/// One enrolment as the `ENROL` stream carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolMessage {
    /// The request id (also the message's `Nats-Msg-Id`).
    pub request_id: String,
    /// Finger templates with their ISO positions set.
    pub fingers: Vec<FingerTemplate>,
    /// Iris codes of the gallery layout.
    pub irises: Vec<WireIris>,
}

/// An entry of the `ENROL` log that is not an enrolment, applied by every replica in log
/// order like one (JSON with one key naming the kind: `{"delete": {…}}`, `{"clear": {…}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// Removes the person `key` from the gallery.
    Delete(DeleteEntry),
    /// Inserts an applicant whom analysts cleared under their own key.
    Clear(ClearEntry),
}

/// The deletion of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteEntry {
    /// The request id (also the message's `Nats-Msg-Id`).
    pub request_id: String,
    /// The person's key (the sequence of their enrolment).
    pub key: u64,
}

/// An applicant held back as a duplicate and cleared by analysts: searched at the entry's
/// sequence like an enrolment (the last check), then inserted by the shard owning `key`
/// whatever the search finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearEntry {
    /// The request id (also the message's `Nats-Msg-Id`).
    pub request_id: String,
    /// The applicant's key (the sequence of their enrolment).
    pub key: u64,
    /// The applicant's biometrics, as their enrolment carried them.
    pub applicant: EnrolMessage,
}

/// One entry of the `ENROL` log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEntry {
    /// An enrolment (its person key is the entry's sequence).
    Enrol(EnrolMessage),
    /// A deletion or a cleared applicant.
    Control(Control),
}

impl LogEntry {
    /// Decodes a log entry; the reason when it is neither kind.
    pub fn decode(payload: &[u8]) -> Result<Self, String> {
        if let Ok(control) = serde_json::from_slice::<Control>(payload) {
            return Ok(Self::Control(control));
        }
        serde_json::from_slice::<EnrolMessage>(payload)
            .map(Self::Enrol)
            .map_err(|e| e.to_string())
    }

    /// The person the entry inserts or removes (an enrolment's is its own sequence).
    pub fn key(&self, sequence: u64) -> u64 {
        match self {
            Self::Enrol(_) => sequence,
            Self::Control(Control::Delete(d)) => d.key,
            Self::Control(Control::Clear(c)) => c.key,
        }
    }
}

/// An iris code: its gallery slot (0 left, 1 right) and its code and mask words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireIris {
    /// Gallery iris slot.
    pub eye: usize,
    /// Code then mask words.
    pub record: Vec<u64>,
}

impl EnrolMessage {
    /// The message of an enrolment.
    pub fn new(request_id: &str, enrolment: &Enrolment) -> Self {
        Self {
            request_id: request_id.to_owned(),
            fingers: enrolment.fingers.clone(),
            irises: enrolment
                .irises
                .iter()
                .map(|i| WireIris {
                    eye: i.eye,
                    record: i.record.to_vec(),
                })
                .collect(),
        }
    }

    /// The gallery enrolment it carries.
    pub fn enrolment(&self) -> Result<Enrolment, ClusterError> {
        let irises = self
            .irises
            .iter()
            .map(|i| {
                let record = i.record.as_slice().try_into().map_err(|_| {
                    ClusterError::Malformed(format!(
                        "iris record of {} words, expected {}",
                        i.record.len(),
                        tunggal_index::gallery::iris::IRIS_RECORD_WORDS
                    ))
                })?;
                Ok(IrisCode { eye: i.eye, record })
            })
            .collect::<Result<Vec<_>, ClusterError>>()?;
        Ok(Enrolment {
            fingers: self.fingers.clone(),
            irises,
        })
    }
}

/// Whether a probe finger or eye is the enrolled capture submitted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireSame {
    /// Beyond every measured genuine pair.
    Near,
    /// Equal templates.
    Exact,
}

impl WireSame {
    fn of(s: Option<SameCapture>) -> Option<Self> {
        s.map(|s| match s {
            SameCapture::Near => Self::Near,
            SameCapture::Exact => Self::Exact,
        })
    }

    fn back(s: Option<Self>) -> Option<SameCapture> {
        s.map(|s| match s {
            Self::Near => SameCapture::Near,
            Self::Exact => SameCapture::Exact,
        })
    }
}

/// One finger's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFinger {
    /// Finger slot.
    pub slot: usize,
    /// First-stage descriptor similarity.
    pub descriptor: f32,
    /// Matcher score.
    pub score: f32,
    /// Its capped log-likelihood ratio.
    pub llr: f32,
    /// Same capture.
    pub same: Option<WireSame>,
}

/// One eye's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireEye {
    /// Gallery iris slot.
    pub slot: usize,
    /// Best normalised Hamming distance, when within the gate.
    pub hd_norm: Option<f32>,
    /// Best rotation.
    pub rotation: i32,
    /// Its capped log-likelihood ratio.
    pub llr: f32,
    /// Same capture.
    pub same: Option<WireSame>,
}

/// A candidate of a partial result, with every score the fusion and the answer need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireMatch {
    /// Person key (the stream sequence of the person's enrolment).
    pub key: u64,
    /// Fused log-likelihood ratio.
    pub fused: f32,
    /// First-stage score.
    pub stage1: f32,
    /// Fingers both sides have.
    pub fingers: Vec<WireFinger>,
    /// Eyes both sides have.
    pub eyes: Vec<WireEye>,
}

impl From<&GalleryMatch> for WireMatch {
    fn from(m: &GalleryMatch) -> Self {
        Self {
            key: m.key,
            fused: m.fused,
            stage1: m.stage1,
            fingers: m
                .fingers
                .iter()
                .enumerate()
                .filter_map(|(slot, f)| {
                    f.map(|f| WireFinger {
                        slot,
                        descriptor: f.descriptor,
                        score: f.score,
                        llr: f.llr,
                        same: WireSame::of(f.same),
                    })
                })
                .collect(),
            eyes: m
                .eyes
                .iter()
                .enumerate()
                .filter_map(|(slot, e)| {
                    e.map(|e| WireEye {
                        slot,
                        hd_norm: e.hd_norm,
                        rotation: e.rotation,
                        llr: e.llr,
                        same: WireSame::of(e.same),
                    })
                })
                .collect(),
        }
    }
}

impl WireMatch {
    /// The gallery match it carries.
    pub fn to_match(&self) -> Result<GalleryMatch, ClusterError> {
        let mut fingers = [None; FINGERS];
        for f in &self.fingers {
            let out = fingers
                .get_mut(f.slot)
                .ok_or_else(|| ClusterError::Malformed(format!("finger slot {}", f.slot)))?;
            *out = Some(FingerScore {
                descriptor: f.descriptor,
                score: f.score,
                llr: f.llr,
                same: WireSame::back(f.same),
            });
        }
        let mut eyes = [None; EYES];
        for e in &self.eyes {
            let out = eyes
                .get_mut(e.slot)
                .ok_or_else(|| ClusterError::Malformed(format!("eye slot {}", e.slot)))?;
            *out = Some(EyeScore {
                hd_norm: e.hd_norm,
                rotation: e.rotation,
                llr: e.llr,
                same: WireSame::back(e.same),
            });
        }
        Ok(GalleryMatch {
            key: self.key,
            fused: self.fused,
            stage1: self.stage1,
            fingers,
            eyes,
        })
    }
}

/// What one shard found for the enrolment at one stream sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// Stream sequence of the enrolment.
    pub sequence: u64,
    /// Shard index.
    pub shard: u32,
    /// Shard count.
    pub shards: u32,
    /// Persons in the shard's partition when it searched (every enrolment below
    /// `sequence` that it holds).
    pub partition_size: u64,
    /// Why the probe could not be searched (the same on every shard), if so.
    pub rejected: Option<String>,
    /// The partition's first-stage shortlist, best first.
    pub shortlist: Vec<u64>,
    /// The second-stage candidates, best first.
    pub candidates: Vec<WireMatch>,
    /// For a deletion, from the shard owning the person: whether it removed them (`false`:
    /// the person was not in the gallery). `None` on every other partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<bool>,
}

/// A candidate of a stored verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictCandidate {
    /// Person key.
    pub key: u64,
    /// Fused score.
    pub score: f32,
}

/// The decision for one enrolment, as the `VERDICT` bucket keeps it under its request id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredVerdict {
    /// The request id.
    pub request_id: String,
    /// Stream sequence of the enrolment (the applicant's person key).
    pub sequence: u64,
    /// `single`, `duplicate` or `rejected`.
    pub verdict: String,
    /// Candidates above the threshold, best first (duplicates only).
    pub candidates: Vec<VerdictCandidate>,
    /// The rejection reason (rejections only).
    pub reason: Option<String>,
    /// Persons searched (the sum of the partitions).
    pub gallery_size: u64,
    /// Threshold on the fused score.
    pub threshold: f32,
}

/// An identification or a verification, sent to one replica of a shard (request/reply on
/// `reads.<S>.<i>`, queue group `shard-<i>-of-<S>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The replica answers once it has applied the log up to this sequence (so a read sees
    /// every enrolment decided before it was sent).
    pub min_sequence: u64,
    /// The person to compare with (a verification), or none (an identification).
    pub key: Option<u64>,
    /// The probe.
    pub probe: EnrolMessage,
}

/// A replica's answer to a [`ReadRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReadReply {
    /// The partition's partial result for an identification (`sequence` 0).
    Identify(Partial),
    /// The comparison with the person, `None` when the partition does not hold them.
    Verify(Option<WireMatch>),
    /// The replica had not applied `min_sequence` in time (another replica may have).
    Behind {
        /// The last sequence it had applied.
        applied: u64,
    },
    /// The request could not be served.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entries_decode_to_their_kind() {
        let enrol = EnrolMessage {
            request_id: "a/b/c".into(),
            fingers: Vec::new(),
            irises: Vec::new(),
        };
        let bytes = serde_json::to_vec(&enrol).unwrap_or_default();
        assert_eq!(LogEntry::decode(&bytes), Ok(LogEntry::Enrol(enrol.clone())));
        let delete = Control::Delete(DeleteEntry {
            request_id: "d".into(),
            key: 7,
        });
        let bytes = serde_json::to_vec(&delete).unwrap_or_default();
        assert!(String::from_utf8_lossy(&bytes).starts_with("{\"delete\":"));
        let entry = LogEntry::decode(&bytes);
        assert_eq!(entry, Ok(LogEntry::Control(delete)));
        assert_eq!(entry.map(|e| e.key(9)), Ok(7));
        let clear = Control::Clear(ClearEntry {
            request_id: "c".into(),
            key: 3,
            applicant: enrol,
        });
        let bytes = serde_json::to_vec(&clear).unwrap_or_default();
        assert_eq!(LogEntry::decode(&bytes), Ok(LogEntry::Control(clear)));
        assert!(LogEntry::decode(b"{\"delete\":{\"key\":1}}").is_err());
        assert!(LogEntry::decode(b"[]").is_err());
    }
}
