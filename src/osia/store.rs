//! The encounter store as the OSIA routes see it: typed rows over the encounter tables the
//! engine keeps in the state store (`state/encounters.rs`, `DATA_DIR/state.sqlite3`). The
//! routes read and merge through [`Store`]; every change that involves an engine person
//! (create, replace, delete) is an engine operation (`engine/encounters.rs`, which also
//! describes the crash rule).

use std::sync::Arc;

use crate::engine::GalleryEngine;
use crate::state::encounters::{EncounterRow, Encounters, NewEncounter};
use crate::state::StateError;

use super::biometrics::StoredTemplate;
use super::error::{Code, OsiaError};
use super::wire::{Encounter, EncounterStatus};

pub use crate::state::encounters::{Merged, DEFAULT_GALLERY};

impl From<StateError> for OsiaError {
    fn from(e: StateError) -> Self {
        tracing::error!(error = %e, "OSIA encounter store failure");
        let code = if e.is_storage_full() {
            Code::StorageFull
        } else {
            Code::StoreFailure
        };
        OsiaError::Internal(code, e.to_string())
    }
}

fn damaged(e: serde_json::Error) -> OsiaError {
    OsiaError::from(StateError::Encode(e))
}

/// One encounter.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The person.
    pub person_id: String,
    /// The encounter.
    pub encounter_id: String,
    /// The engine's external reference.
    pub external_id: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: EncounterStatus,
    /// The encounter as received, without images.
    pub document: Encounter,
}

impl Row {
    /// The galleries the encounter belongs to.
    pub fn galleries(&self) -> Vec<String> {
        match &self.document.galleries {
            Some(g) if !g.is_empty() => g.clone(),
            _ => vec![DEFAULT_GALLERY.to_owned()],
        }
    }

    /// The encounter as read back: its id and current status filled in.
    pub fn encounter(&self) -> Encounter {
        Encounter {
            encounter_id: Some(self.encounter_id.clone()),
            status: self.status,
            ..self.document.clone()
        }
    }

    /// The row and templates as the state store keeps them.
    pub fn stored(&self, templates: &[StoredTemplate]) -> Result<NewEncounter, OsiaError> {
        Ok(NewEncounter {
            row: EncounterRow {
                person_id: self.person_id.clone(),
                encounter_id: self.encounter_id.clone(),
                external_id: self.external_id.clone(),
                status: self.status.as_str().to_owned(),
                document: serde_json::to_value(&self.document).map_err(damaged)?,
                galleries: self.galleries(),
            },
            templates: templates
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()
                .map_err(damaged)?,
        })
    }

    fn of(r: EncounterRow) -> Result<Self, OsiaError> {
        let status = EncounterStatus::parse(&r.status).ok_or_else(|| {
            OsiaError::Internal(
                Code::StoreFailure,
                format!("encounter store: damaged row: status {:?}", r.status),
            )
        })?;
        Ok(Self {
            person_id: r.person_id,
            encounter_id: r.encounter_id,
            external_id: r.external_id,
            status,
            document: serde_json::from_value(r.document).map_err(damaged)?,
        })
    }
}

/// Typed reads and the engine-free writes of the encounter rows.
#[derive(Debug, Clone)]
pub struct Store {
    rows: Encounters,
}

impl Store {
    /// The encounter rows of `engine`'s state store.
    pub fn of(engine: &Arc<GalleryEngine>) -> Self {
        Self {
            rows: engine.encounters(),
        }
    }

    /// The encounter `encounter_id` of `person_id`.
    pub fn get(&self, person_id: &str, encounter_id: &str) -> Result<Option<Row>, OsiaError> {
        self.rows
            .get(person_id, encounter_id)?
            .map(Row::of)
            .transpose()
    }

    /// The templates of an encounter; `None` when there is no such encounter.
    pub fn templates(
        &self,
        person_id: &str,
        encounter_id: &str,
    ) -> Result<Option<Vec<StoredTemplate>>, OsiaError> {
        let Some(values) = self.rows.templates(person_id, encounter_id)? else {
            return Ok(None);
        };
        values
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(damaged))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The encounter stored under engine reference `external_id`.
    pub fn by_external(&self, external_id: &str) -> Result<Option<Row>, OsiaError> {
        self.rows.by_external(external_id)?.map(Row::of).transpose()
    }

    /// Every encounter of `person_id`, oldest first.
    pub fn person(&self, person_id: &str) -> Result<Vec<Row>, OsiaError> {
        self.rows
            .person(person_id)?
            .into_iter()
            .map(Row::of)
            .collect()
    }

    /// Whether engine reference `external_id` is a member of `gallery_id`.
    pub fn is_member(&self, gallery_id: &str, external_id: &str) -> Result<bool, OsiaError> {
        Ok(self.rows.is_member(gallery_id, external_id)?)
    }

    /// The galleries with at least one encounter.
    pub fn galleries(&self) -> Result<Vec<String>, OsiaError> {
        Ok(self.rows.galleries()?)
    }

    /// One page of a gallery's encounters (see [`Encounters::gallery_content`]).
    pub fn gallery_content(
        &self,
        gallery_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Option<Vec<(String, String)>>, OsiaError> {
        Ok(self.rows.gallery_content(gallery_id, offset, limit)?)
    }

    /// Moves every encounter of `source` to `target`.
    pub fn merge(&self, target: &str, source: &str) -> Result<Merged, OsiaError> {
        Ok(self.rows.merge(target, source)?)
    }

    /// Sets an encounter's status; `false` when there is no such encounter.
    pub fn set_status(
        &self,
        person_id: &str,
        encounter_id: &str,
        status: EncounterStatus,
    ) -> Result<bool, OsiaError> {
        Ok(self
            .rows
            .set_status(person_id, encounter_id, status.as_str())?)
    }
}
