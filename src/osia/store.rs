//! The encounter store: which OSIA person and encounter each engine person is, the
//! encounter as received (without its images), its templates and galleries. A SQLite file
//! of its own, `DATA_DIR/osia.sqlite3` (WAL, `synchronous=FULL`).
//!
//! The engine keeps the biometrics under an opaque external reference per encounter
//! (`osia-<hex>`); this store maps references to encounters. Every change that involves
//! the engine goes through the `retired` table, so a crash at any point leaves nothing
//! acknowledged lost and nothing unacknowledged searchable for long:
//!
//! - an insert is first written to `retired` (the reference to remove if nothing claims it),
//!   then inserted in the engine, then claimed by its encounter row in one transaction that
//!   also removes it from `retired`;
//! - an update, a deletion or a replaced reference moves the old reference to `retired` in
//!   the transaction that changes the row, and the engine person is deleted after it;
//! - on open, [`Store::retired`] lists the references the adapter must delete from the
//!   engine (gone or never acknowledged) before it serves.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;

use super::biometrics::StoredTemplate;
use super::wire::{Encounter, EncounterStatus};

/// File name of the store in the data directory.
pub const FILE: &str = "osia.sqlite3";
/// The gallery of encounters created without `galleries`.
pub const DEFAULT_GALLERY: &str = "default";

/// A failure of the encounter store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("OSIA encounter store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document does not parse.
    #[error("OSIA encounter store: damaged row: {0}")]
    Json(#[from] serde_json::Error),
    /// A thread panicked while holding the connection.
    #[error("OSIA encounter store: connection poisoned")]
    Poisoned,
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
    /// The templates computed from its finger images.
    pub templates: Vec<StoredTemplate>,
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
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The source's encounters now belong to the target.
    Done,
    /// The source person has no encounter.
    SourceUnknown,
    /// Both persons hold this encounter id: nothing changed.
    Conflict(String),
}

/// The encounter store.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS encounters (
    person_id TEXT NOT NULL,
    encounter_id TEXT NOT NULL,
    external_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    document TEXT NOT NULL,
    templates TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (person_id, encounter_id)
);
CREATE TABLE IF NOT EXISTS gallery_members (
    gallery_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (gallery_id, external_id)
);
CREATE INDEX IF NOT EXISTS gallery_members_by_external ON gallery_members (external_id);
CREATE TABLE IF NOT EXISTS retired (external_id TEXT PRIMARY KEY);
";

const COLUMNS: &str = "person_id, encounter_id, external_id, status, document, templates";

/// The columns of [`COLUMNS`] as read.
type RawRow = (String, String, String, String, String, String);

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn decode(t: RawRow) -> Result<Row, StoreError> {
    let (person_id, encounter_id, external_id, status, document, templates) = t;
    Ok(Row {
        person_id,
        encounter_id,
        external_id,
        status: EncounterStatus::parse(&status).unwrap_or(EncounterStatus::Active),
        document: serde_json::from_str(&document)?,
        templates: serde_json::from_str(&templates)?,
    })
}

impl Store {
    /// Opens (creating) the store of data directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(dir.join(FILE))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=FULL;")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Records `external_id` as to be removed from the engine unless a row claims it.
    pub fn retire(&self, external_id: &str) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT OR IGNORE INTO retired (external_id) VALUES (?1)",
            [external_id],
        )?;
        Ok(())
    }

    /// Forgets a retired reference (removed from the engine, or never inserted).
    pub fn forget(&self, external_id: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM retired WHERE external_id = ?1", [external_id])?;
        Ok(())
    }

    /// The retired references still to remove from the engine.
    pub fn retired(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn()?;
        let mut st = conn.prepare("SELECT external_id FROM retired ORDER BY external_id")?;
        let out = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }

    /// The encounter `encounter_id` of `person_id`.
    pub fn get(&self, person_id: &str, encounter_id: &str) -> Result<Option<Row>, StoreError> {
        let conn = self.conn()?;
        let found = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM encounters WHERE person_id = ?1 AND encounter_id = ?2"
                ),
                [person_id, encounter_id],
                row_of,
            )
            .optional()?;
        found.map(decode).transpose()
    }

    /// The encounter stored under engine reference `external_id`.
    pub fn by_external(&self, external_id: &str) -> Result<Option<Row>, StoreError> {
        let conn = self.conn()?;
        let found = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM encounters WHERE external_id = ?1"),
                [external_id],
                row_of,
            )
            .optional()?;
        found.map(decode).transpose()
    }

    /// Every encounter of `person_id`, oldest first.
    pub fn person(&self, person_id: &str) -> Result<Vec<Row>, StoreError> {
        let conn = self.conn()?;
        let mut st = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM encounters WHERE person_id = ?1 ORDER BY seq"
        ))?;
        let rows = st
            .query_map([person_id], row_of)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// Whether engine reference `external_id` is a member of `gallery_id`.
    pub fn is_member(&self, gallery_id: &str, external_id: &str) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let found = conn
            .query_row(
                "SELECT 1 FROM gallery_members WHERE gallery_id = ?1 AND external_id = ?2",
                [gallery_id, external_id],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// The galleries with at least one encounter.
    pub fn galleries(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn()?;
        let mut st =
            conn.prepare("SELECT DISTINCT gallery_id FROM gallery_members ORDER BY gallery_id")?;
        let out = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }

    /// One page of `gallery_id`'s encounters (person, encounter), in the order they were
    /// stored; `None` when the gallery has no encounter.
    pub fn gallery_content(
        &self,
        gallery_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let conn = self.conn()?;
        let any = conn
            .query_row(
                "SELECT 1 FROM gallery_members WHERE gallery_id = ?1 LIMIT 1",
                [gallery_id],
                |_| Ok(()),
            )
            .optional()?;
        if any.is_none() {
            return Ok(None);
        }
        let mut st = conn.prepare(
            "SELECT e.person_id, e.encounter_id FROM gallery_members g
             JOIN encounters e ON e.external_id = g.external_id
             WHERE g.gallery_id = ?1 ORDER BY e.seq LIMIT ?2 OFFSET ?3",
        )?;
        let out = st
            .query_map(params![gallery_id, limit as i64, offset as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(out))
    }

    /// Stores a new encounter whose reference the engine holds durably, claiming it from
    /// `retired`; `false` (nothing changed) when the person already has that encounter.
    pub fn insert(&self, row: &Row) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let exists = tx
            .query_row(
                "SELECT 1 FROM encounters WHERE person_id = ?1 AND encounter_id = ?2",
                [&row.person_id, &row.encounter_id],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_some() {
            return Ok(false);
        }
        let seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM encounters",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            &format!("INSERT INTO encounters ({COLUMNS}, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                row.person_id,
                row.encounter_id,
                row.external_id,
                row.status.as_str(),
                serde_json::to_string(&row.document)?,
                serde_json::to_string(&row.templates)?,
                seq
            ],
        )?;
        claim(&tx, row)?;
        tx.commit()?;
        Ok(true)
    }

    /// Replaces an encounter by `row` (a new engine reference), retiring the old reference;
    /// returns it, or `None` (nothing changed) when the encounter no longer exists.
    pub fn replace(&self, row: &Row) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let old: Option<String> = tx
            .query_row(
                "SELECT external_id FROM encounters WHERE person_id = ?1 AND encounter_id = ?2",
                [&row.person_id, &row.encounter_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(old) = old else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE encounters SET external_id = ?3, status = ?4, document = ?5, templates = ?6
             WHERE person_id = ?1 AND encounter_id = ?2",
            params![
                row.person_id,
                row.encounter_id,
                row.external_id,
                row.status.as_str(),
                serde_json::to_string(&row.document)?,
                serde_json::to_string(&row.templates)?,
            ],
        )?;
        tx.execute("DELETE FROM gallery_members WHERE external_id = ?1", [&old])?;
        claim(&tx, row)?;
        tx.execute(
            "INSERT OR IGNORE INTO retired (external_id) VALUES (?1)",
            [&old],
        )?;
        tx.commit()?;
        Ok(Some(old))
    }

    /// Deletes encounters of `person_id` (every one when `encounter_id` is `None`), retiring
    /// their references; returns them (empty: no such encounter).
    pub fn delete(
        &self,
        person_id: &str,
        encounter_id: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let refs: Vec<String> = {
            let mut st = tx.prepare(
                "SELECT external_id FROM encounters
                 WHERE person_id = ?1 AND (?2 IS NULL OR encounter_id = ?2)",
            )?;
            let found = st
                .query_map(params![person_id, encounter_id], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            found
        };
        for r in &refs {
            tx.execute("DELETE FROM encounters WHERE external_id = ?1", [r])?;
            tx.execute("DELETE FROM gallery_members WHERE external_id = ?1", [r])?;
            tx.execute(
                "INSERT OR IGNORE INTO retired (external_id) VALUES (?1)",
                [r],
            )?;
        }
        tx.commit()?;
        Ok(refs)
    }

    /// Moves every encounter of `source` to `target` (encounter ids kept); refused whole
    /// when both hold one encounter id.
    pub fn merge(&self, target: &str, source: &str) -> Result<Merged, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let ids: Vec<String> = {
            let mut st = tx.prepare("SELECT encounter_id FROM encounters WHERE person_id = ?1")?;
            let found = st
                .query_map([source], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            found
        };
        if ids.is_empty() {
            return Ok(Merged::SourceUnknown);
        }
        for id in &ids {
            let clash = tx
                .query_row(
                    "SELECT 1 FROM encounters WHERE person_id = ?1 AND encounter_id = ?2",
                    [target, id.as_str()],
                    |_| Ok(()),
                )
                .optional()?;
            if clash.is_some() {
                return Ok(Merged::Conflict(id.clone()));
            }
        }
        tx.execute(
            "UPDATE encounters SET person_id = ?1 WHERE person_id = ?2",
            [target, source],
        )?;
        tx.commit()?;
        Ok(Merged::Done)
    }

    /// Sets an encounter's status; `false` when there is no such encounter.
    pub fn set_status(
        &self,
        person_id: &str,
        encounter_id: &str,
        status: EncounterStatus,
    ) -> Result<bool, StoreError> {
        let n = self.conn()?.execute(
            "UPDATE encounters SET status = ?3 WHERE person_id = ?1 AND encounter_id = ?2",
            [person_id, encounter_id, status.as_str()],
        )?;
        Ok(n > 0)
    }
}

/// Makes `row`'s engine reference a member of its galleries and takes it off the retired list
/// (the step a created and a replaced encounter share).
fn claim(tx: &rusqlite::Transaction<'_>, row: &Row) -> rusqlite::Result<()> {
    for g in row.galleries() {
        tx.execute(
            "INSERT OR IGNORE INTO gallery_members (gallery_id, external_id) VALUES (?1, ?2)",
            [&g, &row.external_id],
        )?;
    }
    tx.execute(
        "DELETE FROM retired WHERE external_id = ?1",
        [&row.external_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(person: &str, enc: &str, ext: &str, galleries: Option<Vec<&str>>) -> Row {
        Row {
            person_id: person.into(),
            encounter_id: enc.into(),
            external_id: ext.into(),
            status: EncounterStatus::Active,
            document: Encounter {
                encounter_id: None,
                status: EncounterStatus::Active,
                encounter_type: "enrolment".into(),
                galleries: galleries.map(|g| g.into_iter().map(str::to_owned).collect()),
                client_data: None,
                contextual_data: None,
                biographic_data: None,
                biometric_data: Vec::new(),
            },
            templates: Vec::new(),
        }
    }

    #[test]
    fn inserts_claim_their_reference_and_deletions_retire_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.retire("osia-1").unwrap();
        assert!(s.insert(&row("p", "e1", "osia-1", None)).unwrap());
        assert!(s.retired().unwrap().is_empty());
        // A second encounter of the same id changes nothing.
        s.retire("osia-2").unwrap();
        assert!(!s.insert(&row("p", "e1", "osia-2", None)).unwrap());
        assert_eq!(s.retired().unwrap(), ["osia-2"]);
        s.forget("osia-2").unwrap();
        assert!(s
            .insert(&row("p", "e2", "osia-3", Some(vec!["g1"])))
            .unwrap());
        assert_eq!(s.galleries().unwrap(), [DEFAULT_GALLERY, "g1"]);
        assert!(s.is_member("g1", "osia-3").unwrap());
        assert!(!s.is_member("g1", "osia-1").unwrap());
        let page = s.gallery_content(DEFAULT_GALLERY, 0, 10).unwrap().unwrap();
        assert_eq!(page, [("p".to_owned(), "e1".to_owned())]);
        assert!(s.gallery_content("nope", 0, 10).unwrap().is_none());
        // Replacing retires the old reference.
        let old = s
            .replace(&row("p", "e1", "osia-4", Some(vec!["g1"])))
            .unwrap();
        assert_eq!(old.as_deref(), Some("osia-1"));
        assert_eq!(s.retired().unwrap(), ["osia-1"]);
        assert_eq!(s.by_external("osia-4").unwrap().unwrap().encounter_id, "e1");
        assert!(s
            .replace(&row("q", "e9", "osia-5", None))
            .unwrap()
            .is_none());
        // Deleting the person retires every reference.
        let gone = s.delete("p", None).unwrap();
        assert_eq!(gone.len(), 2);
        assert!(s.person("p").unwrap().is_empty());
        assert_eq!(s.retired().unwrap().len(), 3);
    }

    #[test]
    fn merge_moves_encounters_unless_an_id_clashes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.insert(&row("a", "e1", "osia-1", None)).unwrap();
        s.insert(&row("b", "e2", "osia-2", None)).unwrap();
        s.insert(&row("c", "e1", "osia-3", None)).unwrap();
        assert_eq!(s.merge("a", "z").unwrap(), Merged::SourceUnknown);
        assert_eq!(s.merge("a", "c").unwrap(), Merged::Conflict("e1".into()));
        assert_eq!(s.person("c").unwrap().len(), 1);
        assert_eq!(s.merge("a", "b").unwrap(), Merged::Done);
        assert_eq!(s.person("a").unwrap().len(), 2);
        assert!(s.set_status("a", "e2", EncounterStatus::Inactive).unwrap());
        assert_eq!(
            s.get("a", "e2").unwrap().unwrap().encounter().status,
            EncounterStatus::Inactive
        );
        assert!(!s.set_status("a", "nope", EncounterStatus::Active).unwrap());
    }
}
