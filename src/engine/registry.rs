//! The person registry: every enrolment the engine has seen, its demographics, attachments
//! and status, and the link between a gallery key, a `reference_id`, a NIK and the
//! submitting `request_id`.
//!
//! It lives in `registry.jsonl` in the data directory, a CRC-guarded [`Journal`] of events
//! replayed in memory on start. The gallery (fixed-stride records and its own WAL) holds the
//! biometrics of enrolled persons; the registry holds the biometrics only of *pending*
//! applicants (those of open duplicate cases), who are not in the gallery.
//!
//! # Crash consistency
//!
//! An enrolment writes, in this order, each step durable before the next starts:
//!
//! 1. registry `intent` (key, demographics): the key is reserved;
//! 2. gallery WAL insert (only for a `single` verdict, by the deduplicator);
//! 3. registry `outcome` (single / duplicate with the pending biometrics / rejected);
//! 4. for a duplicate, the case in `cases.jsonl`, then registry `case_opened`;
//! 5. the idempotency answer; only then is the enrolment acknowledged.
//!
//! On start, [`Registry::reconcile`] settles every `intent` without an `outcome`: if the
//! gallery holds its key the insert in step 2 committed and the enrolment was single (rolled
//! forward to `single`); otherwise it never reached the gallery and is dropped (`aborted`;
//! the client was never answered and its retry runs afresh). A duplicate without
//! `case_opened` gets its case opened by the engine on start. A retried `request_id` finds
//! its registry entry and gets the same verdict without a new search, so a person is never
//! reported as a duplicate of themselves.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::cases::PersonSummary;
use crate::service::journal::{Journal, JournalError};
use tunggal_index::template::FingerTemplate;

/// File name of the registry in the data directory.
pub const REGISTRY_FILE: &str = "registry.jsonl";

/// The prefix of every reference id; the rest is the zero-padded gallery key.
pub const REFERENCE_PREFIX: &str = "P";

/// The reference id of a gallery key.
pub fn reference_id(key: u64) -> String {
    format!("{REFERENCE_PREFIX}{key:010}")
}

/// The gallery key of a reference id.
pub fn key_of(reference_id: &str) -> Option<u64> {
    let digits = reference_id.strip_prefix(REFERENCE_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Why the applicant of a duplicate verdict is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    /// The 1:N search found matching persons.
    Biometric,
    /// The NIK belongs to an enrolled person whose biometrics do not match.
    NikConflict,
}

impl DuplicateReason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Biometric => "biometric",
            Self::NikConflict => "nik_conflict",
        }
    }
}

/// A candidate as kept with a duplicate outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCandidate {
    /// Gallery key.
    pub key: u64,
    /// Fused log-likelihood ratio.
    pub score: f64,
    /// Matcher score by finger position 1–10 (index 0 = position 1).
    pub finger_scores: [Option<f32>; 10],
    /// Normalised Hamming distance per eye (index 0 = right, 1 = left).
    pub iris_distances: [Option<f32>; 2],
}

/// One iris of a pending applicant: gallery eye (0 left, 1 right), code and mask bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIris {
    /// 0 for the left eye, 1 for the right (the gallery's numbering).
    pub eye: usize,
    /// Code bytes, base64.
    pub code: String,
    /// Mask bytes, base64.
    pub mask: String,
}

/// Biometrics of an applicant not in the gallery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredBiometrics {
    /// Finger templates with their positions set.
    pub fingers: Vec<FingerTemplate>,
    /// Irises of the gallery layout.
    pub irises: Vec<StoredIris>,
}

/// What is known of an enrolment before matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonMeta {
    /// Demographics and origin as analysts see them.
    pub summary: PersonSummary,
    /// Photo bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
    /// Signature bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Where to post the final verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// The engine's decision on an enrolment, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Outcome {
    /// Enrolled under its own key.
    Single,
    /// Same person re-applying under their own NIK: nobody new enrolled.
    Reissue {
        /// The enrolled person's key.
        person: u64,
    },
    /// Held back for analysts.
    Duplicate {
        /// Why.
        reason: DuplicateReason,
        /// Matching enrolled persons, best first.
        candidates: Vec<StoredCandidate>,
        /// The applicant's biometrics (enrolled if the case is cleared).
        biometrics: StoredBiometrics,
    },
    /// Refused by the engine.
    Rejected {
        /// Why.
        reason: String,
    },
}

/// How an analyst case ended for its applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// Not a duplicate: enrolled and print-ready.
    Cleared,
    /// A duplicate of `duplicate_of` (a reference id): refused.
    ConfirmedDuplicate {
        /// The enrolled person the applicant is.
        duplicate_of: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Intent {
        key: u64,
        meta: Box<PersonMeta>,
    },
    Outcome {
        key: u64,
        outcome: Box<Outcome>,
    },
    Aborted {
        key: u64,
    },
    CaseOpened {
        key: u64,
        case_id: String,
    },
    Closed {
        key: u64,
        resolution: Resolution,
    },
    /// An administrator's deletion is about to reach the gallery.
    Deleting {
        key: u64,
    },
    /// `fsck --salvage` found the person's gallery record lost to damage: the person must
    /// enrol again.
    Lost {
        key: u64,
        reason: String,
    },
    Deleted {
        key: u64,
    },
}

/// One enrolment in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Gallery key (also the reference id).
    pub key: u64,
    /// Demographics.
    pub meta: PersonMeta,
    /// The decision; `None` while matching runs.
    pub outcome: Option<Outcome>,
    /// Case opened for a duplicate.
    pub case_id: Option<String>,
    /// The analysts' final decision.
    pub resolution: Option<Resolution>,
    /// Removed from the gallery by an administrator.
    pub deleted: bool,
    /// An administrator's deletion was journalled and may have reached the gallery.
    pub deleting: bool,
    /// The gallery record was lost to damage (set by `fsck --salvage`, with the reason).
    pub lost: Option<String>,
}

impl Entry {
    /// Whether this entry is a person in the gallery (enrolled single or cleared).
    pub fn in_gallery(&self) -> bool {
        if self.deleted || self.lost.is_some() {
            return false;
        }
        matches!(
            (&self.outcome, &self.resolution),
            (Some(Outcome::Single), None | Some(Resolution::Cleared))
                | (Some(Outcome::Duplicate { .. }), Some(Resolution::Cleared))
        )
    }
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<u64, Entry>,
    by_request: HashMap<(String, String, String), u64>,
    by_nik: HashMap<String, u64>,
    next_key: u64,
}

impl State {
    fn index_nik(&mut self, key: u64) {
        if let Some(e) = self.entries.get(&key) {
            if e.in_gallery() {
                let nik = e.meta.summary.nik.clone();
                self.by_nik.entry(nik).or_insert(key);
            } else if self.by_nik.get(&e.meta.summary.nik) == Some(&key) {
                let nik = e.meta.summary.nik.clone();
                self.by_nik.remove(&nik);
            }
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Intent { key, meta } => {
                let s = &meta.summary;
                self.by_request.insert(
                    (
                        s.district.clone(),
                        s.service_point.clone(),
                        s.request_id.clone(),
                    ),
                    key,
                );
                self.next_key = self.next_key.max(key + 1);
                self.entries.insert(
                    key,
                    Entry {
                        key,
                        meta: *meta,
                        outcome: None,
                        case_id: None,
                        resolution: None,
                        deleted: false,
                        deleting: false,
                        lost: None,
                    },
                );
            }
            Event::Outcome { key, outcome } => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.outcome = Some(*outcome);
                }
                self.index_nik(key);
            }
            Event::Aborted { key } => {
                if let Some(e) = self.entries.remove(&key) {
                    let s = &e.meta.summary;
                    let rk = (
                        s.district.clone(),
                        s.service_point.clone(),
                        s.request_id.clone(),
                    );
                    if self.by_request.get(&rk) == Some(&key) {
                        self.by_request.remove(&rk);
                    }
                }
            }
            Event::CaseOpened { key, case_id } => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.case_id = Some(case_id);
                }
            }
            Event::Closed { key, resolution } => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.resolution = Some(resolution);
                }
                self.index_nik(key);
            }
            Event::Deleting { key } => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.deleting = true;
                }
            }
            Event::Lost { key, reason } => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.lost = Some(reason);
                }
                self.index_nik(key);
            }
            Event::Deleted { key } => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.deleted = true;
                }
                self.index_nik(key);
            }
        }
    }
}

/// The registry.
pub struct Registry {
    journal: Journal<Event>,
    state: RwLock<State>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// Opens (creating) the registry in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        let (journal, events) = Journal::<Event>::open(dir.join(REGISTRY_FILE))?;
        let mut state = State::default();
        for e in events {
            state.apply(e);
        }
        Ok(Self {
            journal,
            state: RwLock::new(state),
        })
    }

    /// Every entry of the registry journal at `path`, read without opening it for writing
    /// (for `fsck`), by key.
    pub fn read_entries(path: &Path) -> Result<Vec<Entry>, JournalError> {
        let mut state = State::default();
        for e in Journal::<Event>::read(path)? {
            state.apply(e);
        }
        let mut entries: Vec<Entry> = state.entries.into_values().collect();
        entries.sort_by_key(|e| e.key);
        Ok(entries)
    }

    fn write(&self, event: Event) -> Result<(), JournalError> {
        // Appended under the state lock, so the journal order is the order applied.
        let mut state = self.state.write().map_err(|_| JournalError::Poisoned)?;
        self.journal.append(&event)?;
        state.apply(event);
        Ok(())
    }

    /// Settles intents without an outcome (see the module documentation): `in_gallery`
    /// tells whether a key is in the gallery. Returns (rolled forward, aborted).
    pub fn reconcile(
        &self,
        in_gallery: impl Fn(u64) -> bool,
    ) -> Result<(usize, usize), JournalError> {
        if self.state.is_poisoned() {
            return Err(JournalError::Poisoned);
        }
        let (mut forward, mut aborted) = (0, 0);
        for key in self.keys_where(|e| e.outcome.is_none()) {
            if in_gallery(key) {
                self.write(Event::Outcome {
                    key,
                    outcome: Box::new(Outcome::Single),
                })?;
                forward += 1;
            } else {
                self.write(Event::Aborted { key })?;
                aborted += 1;
            }
        }
        Ok((forward, aborted))
    }

    /// Reserves a new key for `meta` (built by `make` from the key) and journals the intent.
    /// Fails if the `request_id` already has an entry from the same service point.
    pub fn intent(&self, make: impl FnOnce(u64) -> PersonMeta) -> Result<u64, JournalError> {
        let mut state = self.state.write().map_err(|_| JournalError::Poisoned)?;
        let key = state.next_key;
        let meta = make(key);
        let event = Event::Intent {
            key,
            meta: Box::new(meta),
        };
        self.journal.append(&event)?;
        state.apply(event);
        Ok(key)
    }

    /// Reserves keys for many enrolments with one journal write (bulk import).
    pub fn intents(&self, metas: Vec<PersonMeta>) -> Result<Vec<u64>, JournalError> {
        let mut state = self.state.write().map_err(|_| JournalError::Poisoned)?;
        let first = state.next_key;
        let events: Vec<Event> = metas
            .into_iter()
            .zip(first..)
            .map(|(mut meta, key)| {
                meta.summary.reference_id = reference_id(key);
                Event::Intent {
                    key,
                    meta: Box::new(meta),
                }
            })
            .collect();
        self.journal.append_all(&events)?;
        let keys = (first..first + events.len() as u64).collect();
        for e in events {
            state.apply(e);
        }
        Ok(keys)
    }

    /// Journals the same outcome for many keys with one journal write (bulk import).
    pub fn outcomes(&self, keys: &[u64], outcome: &Outcome) -> Result<(), JournalError> {
        let mut state = self.state.write().map_err(|_| JournalError::Poisoned)?;
        let events: Vec<Event> = keys
            .iter()
            .map(|&key| Event::Outcome {
                key,
                outcome: Box::new(outcome.clone()),
            })
            .collect();
        self.journal.append_all(&events)?;
        for e in events {
            state.apply(e);
        }
        Ok(())
    }

    /// Journals the outcome of `key`.
    pub fn outcome(&self, key: u64, outcome: Outcome) -> Result<(), JournalError> {
        self.write(Event::Outcome {
            key,
            outcome: Box::new(outcome),
        })
    }

    /// Drops an intent that will never be decided (its matching failed).
    pub fn abort(&self, key: u64) -> Result<(), JournalError> {
        self.write(Event::Aborted { key })
    }

    /// Journals the case opened for `key`.
    pub fn case_opened(&self, key: u64, case_id: &str) -> Result<(), JournalError> {
        self.write(Event::CaseOpened {
            key,
            case_id: case_id.to_owned(),
        })
    }

    /// Journals the final case decision for `key`.
    pub fn closed(&self, key: u64, resolution: Resolution) -> Result<(), JournalError> {
        self.write(Event::Closed { key, resolution })
    }

    /// Journals that `key` is about to be deleted from the gallery (before the gallery
    /// delete, so that open can tell a finished deletion from a person the gallery lost).
    pub fn deleting(&self, key: u64) -> Result<(), JournalError> {
        self.write(Event::Deleting { key })
    }

    /// Journals that the gallery record of `key` was lost to damage (`fsck --salvage`).
    pub fn lost(&self, key: u64, reason: &str) -> Result<(), JournalError> {
        self.write(Event::Lost {
            key,
            reason: reason.to_owned(),
        })
    }

    /// Journals the deletion of `key`.
    pub fn deleted(&self, key: u64) -> Result<(), JournalError> {
        self.write(Event::Deleted { key })
    }

    /// The entry of `key`.
    pub fn get(&self, key: u64) -> Option<Entry> {
        let state = self.state.read().ok()?;
        state.entries.get(&key).cloned()
    }

    /// The entry of the enrolment `request_id` from a service point.
    pub fn by_request(
        &self,
        district: &str,
        service_point: &str,
        request_id: &str,
    ) -> Option<Entry> {
        let state = self.state.read().ok()?;
        let key = state.by_request.get(&(
            district.to_owned(),
            service_point.to_owned(),
            request_id.to_owned(),
        ))?;
        state.entries.get(key).cloned()
    }

    /// The enrolled person holding `nik`.
    pub fn by_nik(&self, nik: &str) -> Option<Entry> {
        let state = self.state.read().ok()?;
        let key = state.by_nik.get(nik)?;
        state.entries.get(key).cloned()
    }

    /// Every duplicate outcome without its case (left by a crash before step 4).
    pub fn duplicates_without_case(&self) -> Vec<Entry> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        let mut v: Vec<Entry> = state
            .entries
            .values()
            .filter(|e| matches!(e.outcome, Some(Outcome::Duplicate { .. })) && e.case_id.is_none())
            .cloned()
            .collect();
        v.sort_by_key(|e| e.key);
        v
    }

    /// Entries, in key order, for which `keep` holds.
    pub fn filter(&self, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        let mut v: Vec<Entry> = state
            .entries
            .values()
            .filter(|e| keep(e))
            .cloned()
            .collect();
        v.sort_by_key(|e| e.key);
        v
    }

    /// Keys of the entries `keep` accepts, in key order (no entry is copied).
    pub fn keys_where(&self, keep: impl Fn(&Entry) -> bool) -> Vec<u64> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        let mut v: Vec<u64> = state
            .entries
            .values()
            .filter(|e| keep(e))
            .map(|e| e.key)
            .collect();
        v.sort_unstable();
        v
    }

    /// Entries known.
    pub fn len(&self) -> usize {
        self.state.read().map(|s| s.entries.len()).unwrap_or(0)
    }

    /// Whether no entry is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
