//! OSIA encounters on the engine: each one an external person (`external.rs`, inserted
//! without deduplication under its reference, eye images matched too) plus its rows in the
//! state store (`state/encounters.rs`). The registry row and the encounter row live in the
//! same database, so they change in the same transactions.
//!
//! # Crash rule
//!
//! - **Create.** The new reference is written to `encounter_retired` in the transaction of
//!   the registry intent; then the gallery insert; then one transaction stores the
//!   registry outcome and the encounter row and takes the reference off the retired list.
//!   Only then is the encounter acknowledged. A crash before the gallery insert leaves an
//!   intent that the engine's open drops; a crash between the gallery insert and the
//!   outcome leaves an intent the engine's open rolls forward, and a retired reference the
//!   adapter's open ([`GalleryEngine::settle_retired_encounters`]) deletes from the engine;
//!   a power loss that takes the unsynced intent with it leaves a gallery member without a
//!   registry row, which the engine's open rolls back. An encounter that turned out to
//!   exist at the outcome has its new person marked `deleting` in that same transaction.
//! - **Replace.** As a create, with the outcome's transaction also switching the row to
//!   the new reference and marking the old reference's person `deleting`.
//! - **Delete.** One transaction deletes the rows and marks their persons `deleting`.
//!
//! A person marked `deleting` is deleted from the gallery after the commit; if a crash
//! comes first, the engine's open finishes the deletion (as for every deletion).

use super::external::{Inserted, Usable};
use super::{unavailable, GalleryEngine};
use crate::enrolment::record::{Origin, Probe};
use crate::enrolment::EngineError;
use crate::state::encounters::{self as rows, Encounters, NewEncounter};

/// What a create or a replacement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncounterWrite {
    /// Stored (and, for a replacement, the old engine person deleted).
    Done,
    /// Create: the person already has that encounter; replace: it has no such encounter.
    /// Nothing stored.
    Refused,
    /// The biometrics cannot be searched (reason code): nothing stored.
    Rejected(&'static str),
}

impl GalleryEngine {
    /// The encounter rows (reads, merges and status changes, which touch no engine person).
    pub fn encounters(&self) -> Encounters {
        Encounters::new(self.registry().store().clone())
    }

    /// Deletes from the gallery the person `key` whose registry row is marked `deleting`,
    /// then records the deletion.
    fn finish_deletion(&self, key: u64) -> Result<(), EngineError> {
        if self.gallery().snapshot().contains(key) {
            self.gallery().delete(key).map_err(unavailable)?;
        }
        self.registry().deleted(key).map_err(unavailable)
    }

    /// Inserts `probe` under `new.row.external_id` and, in the outcome's transaction,
    /// stores the encounter (`replace`: over the existing one, whose person is marked
    /// `deleting`).
    fn insert_encounter(
        &self,
        origin: &Origin,
        new: &NewEncounter,
        probe: &Probe,
        replace: bool,
    ) -> Result<EncounterWrite, EngineError> {
        let state = self.registry().store().clone();
        let ext = new.row.external_id.as_str();
        let inserted = self.insert_external_with(
            origin,
            ext,
            probe,
            Usable::FingersOrEyes,
            |tx| rows::retire_in(&state, tx, ext),
            |tx, entry| {
                let old = if replace {
                    match rows::replace_in(&state, tx, new)? {
                        Some(old) => Some(self.registry().deleting_in(
                            tx,
                            &origin.district,
                            &origin.service_point,
                            &old,
                        )?),
                        None => None,
                    }
                } else {
                    rows::insert_in(&state, tx, new)?.then_some(None)
                };
                if old.is_none() {
                    // Not stored: the new person goes again, with its reference.
                    entry.deleting = true;
                    rows::forget_in(&state, tx, ext)?;
                }
                Ok(old)
            },
        )?;
        match inserted {
            Inserted::Done {
                value: Some(old), ..
            } => {
                if let Some(old) = old {
                    self.finish_deletion(old)?;
                }
                Ok(EncounterWrite::Done)
            }
            Inserted::Done { key, value: None } => {
                self.finish_deletion(key)?;
                Ok(EncounterWrite::Refused)
            }
            Inserted::Rejected(reason) => Ok(EncounterWrite::Rejected(reason)),
            Inserted::AlreadyExists => Err(EngineError::Unavailable(
                "a fresh engine reference was taken".into(),
            )),
        }
    }

    /// Creates an encounter with the biometrics `probe` (see the module documentation);
    /// `Refused` when the person already has it.
    pub fn create_encounter(
        &self,
        origin: &Origin,
        new: &NewEncounter,
        probe: &Probe,
    ) -> Result<EncounterWrite, EngineError> {
        self.insert_encounter(origin, new, probe, false)
    }

    /// Replaces an encounter's data and biometrics; `Refused` when there is no such
    /// encounter.
    pub fn replace_encounter(
        &self,
        origin: &Origin,
        new: &NewEncounter,
        probe: &Probe,
    ) -> Result<EncounterWrite, EngineError> {
        self.insert_encounter(origin, new, probe, true)
    }

    /// Deletes an encounter of `person_id`, or every one when `encounter_id` is `None`,
    /// with their engine persons; returns how many encounters were deleted.
    pub fn delete_encounters(
        &self,
        origin: &Origin,
        person_id: &str,
        encounter_id: Option<&str>,
    ) -> Result<usize, EngineError> {
        let state = self.registry().store().clone();
        let (count, keys) = state
            .transaction(|tx| {
                let refs = rows::delete_in(&state, tx, person_id, encounter_id)?;
                let mut keys = Vec::with_capacity(refs.len());
                for r in &refs {
                    keys.extend(self.registry().deleting_in(
                        tx,
                        &origin.district,
                        &origin.service_point,
                        r,
                    )?);
                }
                Ok((refs.len(), keys))
            })
            .map_err(unavailable)?;
        for key in keys {
            self.finish_deletion(key)?;
        }
        Ok(count)
    }

    /// Deletes from the engine every retired reference of `origin` (inserts whose encounter
    /// was never stored) and forgets it; returns how many there were. Run before the
    /// encounters are served.
    pub fn settle_retired_encounters(&self, origin: &Origin) -> Result<usize, EngineError> {
        let encounters = self.encounters();
        let retired = encounters.retired().map_err(unavailable)?;
        for ext in &retired {
            self.delete_external(origin, ext)?;
            encounters.forget(ext).map_err(unavailable)?;
        }
        Ok(retired.len())
    }
}
