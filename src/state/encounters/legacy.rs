//! The encounter store of older releases, `DATA_DIR/osia.sqlite3` (a SQLite file of its
//! own), moved into the state store: at open ([`crate::state::StateStore::open`]) and by
//! `tunggal migrate`.
//!
//! The old file is checked whole first (`PRAGMA integrity_check`, every row decoded, every
//! gallery membership naming an encounter): any damage refuses the migration and leaves
//! both files as they are. Its rows are then copied in one transaction of the state store
//! (an encounter already there under the same reference is kept, so an interrupted
//! migration runs again; one there under another reference refuses the whole migration),
//! and only after that commit is the old file renamed to `osia.sqlite3.migrated`
//! (`.migrated-2`, … if taken). It is never deleted. A data directory without the old file
//! has nothing to do.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::Value;

use crate::state::migrate::put_aside;
use crate::state::{StateError, StateStore};

/// File name of the encounter store of older releases.
pub const LEGACY_FILE: &str = "osia.sqlite3";

/// What a migration of the old encounter store did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedEncounters {
    /// Encounters read from the old file.
    pub records: usize,
    /// Encounters that were not in the state store yet.
    pub inserted: usize,
    /// Where the old file was put aside.
    pub kept_as: PathBuf,
}

/// One encounter of the old file.
struct Old {
    person_id: String,
    encounter_id: String,
    external_id: String,
    status: String,
    document: String,
    templates: Vec<Value>,
}

/// The old file's content, checked.
struct Content {
    encounters: Vec<Old>,
    members: Vec<(String, String)>,
    retired: Vec<String>,
}

fn read(path: &Path) -> Result<Content, StateError> {
    let damaged = |detail: String| StateError::NotMigratable {
        path: path.to_path_buf(),
        detail,
    };
    let sql = |e: rusqlite::Error| damaged(e.to_string());
    // Read-write without create: a WAL left by a stopped process is replayed into view.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    let problems: Vec<String> = {
        let mut st = conn.prepare("PRAGMA integrity_check").map_err(sql)?;
        let lines = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        lines.into_iter().filter(|l| l != "ok").collect()
    };
    if !problems.is_empty() {
        return Err(damaged(problems.join("; ")));
    }
    let raw: Vec<(String, String, String, String, String, String)> = {
        let mut st = conn
            .prepare(
                "SELECT person_id, encounter_id, external_id, status, document, templates \
                 FROM encounters ORDER BY seq",
            )
            .map_err(sql)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        rows
    };
    let mut encounters = Vec::with_capacity(raw.len());
    for (person_id, encounter_id, external_id, status, document, templates) in raw {
        let at = format!("encounter {encounter_id:?} of person {person_id:?}");
        if status != "ACTIVE" && status != "INACTIVE" {
            return Err(damaged(format!("{at} has status {status:?}")));
        }
        if !matches!(
            serde_json::from_str::<Value>(&document),
            Ok(Value::Object(_))
        ) {
            return Err(damaged(format!("{at}: its document is not a JSON object")));
        }
        let Ok(Value::Array(templates)) = serde_json::from_str::<Value>(&templates) else {
            return Err(damaged(format!("{at}: its templates are not a JSON array")));
        };
        encounters.push(Old {
            person_id,
            encounter_id,
            external_id,
            status,
            document,
            templates,
        });
    }
    let members: Vec<(String, String)> = {
        let mut st = conn
            .prepare("SELECT gallery_id, external_id FROM gallery_members ORDER BY 1, 2")
            .map_err(sql)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        rows
    };
    if let Some((g, ext)) = members
        .iter()
        .find(|(_, ext)| !encounters.iter().any(|e| &e.external_id == ext))
    {
        return Err(damaged(format!(
            "gallery {g:?} names reference {ext:?}, which no encounter holds"
        )));
    }
    let retired: Vec<String> = {
        let mut st = conn
            .prepare("SELECT external_id FROM retired ORDER BY 1")
            .map_err(sql)?;
        let rows = st
            .query_map([], |r| r.get(0))
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        rows
    };
    // Everything read: fold the old file's WAL into it, so that the file put aside holds
    // every row by itself.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(sql)?;
    let _mode: String = conn
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(sql)?;
    conn.close().map_err(|(_, e)| sql(e))?;
    Ok(Content {
        encounters,
        members,
        retired,
    })
}

/// Copies `content` into `store` in one transaction; returns the encounters inserted.
fn copy(store: &StateStore, path: &Path, content: &Content) -> Result<usize, StateError> {
    store.transaction(|tx| {
        let err = |e| store.error(e);
        let mut inserted = 0;
        for e in &content.encounters {
            let held: Option<String> = tx
                .query_row(
                    "SELECT external_id FROM encounters WHERE person_id = ?1 AND encounter_id = ?2",
                    [&e.person_id, &e.encounter_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            let taken: Option<(String, String)> = tx
                .query_row(
                    "SELECT person_id, encounter_id FROM encounters WHERE external_id = ?1",
                    [&e.external_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(err)?;
            match (held, taken) {
                (Some(ext), _) if ext == e.external_id => continue,
                (None, None) => {}
                _ => {
                    return Err(StateError::NotMigratable {
                        path: path.to_path_buf(),
                        detail: format!(
                            "encounter {:?} of person {:?} (reference {:?}) clashes with an \
                             encounter already in the state store",
                            e.encounter_id, e.person_id, e.external_id
                        ),
                    })
                }
            }
            tx.execute(
                "INSERT INTO encounters (person_id, encounter_id, external_id, status, document, \
                 seq) VALUES (?1, ?2, ?3, ?4, ?5, (SELECT COALESCE(MAX(seq), 0) + 1 FROM encounters))",
                params![
                    e.person_id,
                    e.encounter_id,
                    e.external_id,
                    e.status,
                    e.document
                ],
            )
            .map_err(err)?;
            for (ord, t) in e.templates.iter().enumerate() {
                tx.execute(
                    "INSERT OR IGNORE INTO encounter_templates (external_id, ord, template) \
                     VALUES (?1, ?2, ?3)",
                    params![e.external_id, ord as i64, serde_json::to_string(t)?],
                )
                .map_err(err)?;
            }
            inserted += 1;
        }
        for (g, ext) in &content.members {
            tx.execute(
                "INSERT OR IGNORE INTO encounter_galleries (gallery_id, external_id) \
                 VALUES (?1, ?2)",
                [g, ext],
            )
            .map_err(err)?;
        }
        for ext in &content.retired {
            tx.execute(
                "INSERT OR IGNORE INTO encounter_retired (external_id) VALUES (?1)",
                [ext],
            )
            .map_err(err)?;
        }
        Ok(inserted)
    })
}

/// Moves `data_dir`'s old encounter store into `store` (see the module documentation);
/// `None` when there is none. Blocking.
pub fn migrate(store: &StateStore, data_dir: &Path) -> Result<Option<MovedEncounters>, StateError> {
    let path = data_dir.join(LEGACY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let content = read(&path)?;
    let inserted = copy(store, &path, &content)?;
    let kept_as = put_aside(&path).map_err(|source| StateError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Some(MovedEncounters {
        records: content.encounters.len(),
        inserted,
        kept_as,
    }))
}

#[cfg(test)]
pub(crate) mod tests;
