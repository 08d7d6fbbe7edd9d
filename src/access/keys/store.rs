//! The `keys` and `key_events` tables: issuing, looking up, revoking and rotating keys.

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{
    now_secs, random_bytes, sha256_hex, KeyError, KeyRecord, KeySpec, Principal, Role,
    MIN_ADMIN_KEY_LEN,
};
use crate::state::{StateError, StateStore};

const COLUMNS: &str = "key_id, name, role, district, service_point, sha256, created_at, owner, \
                       expires_at, revoked_at";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let role: String = r.get(2)?;
    Ok(KeyRecord {
        key_id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::InvalidColumnType(2, "role".to_owned(), rusqlite::types::Type::Text)
        })?,
        district: r.get(3)?,
        service_point: r.get(4)?,
        sha256: r.get(5)?,
        created_at: r.get::<_, i64>(6)? as u64,
        owner: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
        expires_at: r.get::<_, Option<i64>>(8)?.map(|t| t.max(0) as u64),
        revoked_at: r.get::<_, Option<i64>>(9)?.map(|t| t.max(0) as u64),
    })
}

/// Inserts `r` in `conn` (a record already there by hash is kept); returns rows inserted.
pub(crate) fn insert_record(
    store: &StateStore,
    conn: &rusqlite::Connection,
    r: &KeyRecord,
) -> Result<usize, StateError> {
    conn.execute(
        &format!("INSERT OR IGNORE INTO keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            r.key_id,
            r.name,
            r.role.as_str(),
            r.district,
            r.service_point,
            r.sha256,
            r.created_at as i64,
            r.owner(),
            r.expires_at.map(|t| t as i64),
            r.revoked_at.map(|t| t as i64),
        ],
    )
    .map_err(|e| store.error(e))
}

/// One recorded change to a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyEvent {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The key changed.
    pub key_id: String,
    /// `created`, `revoked` or `rotated` (the old key; the new one has its own `created`).
    pub action: String,
    /// Who did it: the acting key id, or `cli`, `bootstrap`, `demo`.
    pub by: String,
    /// Role and owner of the key (and for a rotation the new key id).
    pub detail: String,
}

fn event(
    store: &StateStore,
    tx: &rusqlite::Connection,
    key_id: &str,
    action: &str,
    by: &str,
    detail: &str,
) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO key_events (at, key_id, action, by, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_secs() as i64, key_id, action, by, detail],
    )
    .map_err(|e| store.error(e))?;
    Ok(())
}

/// What a presented key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// A live key.
    Valid(Principal),
    /// A key that was revoked or replaced by a rotation.
    Revoked,
    /// A key past its expiry.
    Expired,
    /// No such key.
    Unknown,
}

fn status(found: Option<KeyRecord>, now: u64) -> KeyCheck {
    match found {
        None => KeyCheck::Unknown,
        Some(r) if r.revoked_at.is_some() => KeyCheck::Revoked,
        Some(r) if r.expires_at.is_some_and(|t| t <= now) => KeyCheck::Expired,
        Some(r) => KeyCheck::Valid(Principal::from(&r)),
    }
}

fn new_key() -> (String, String) {
    let key_id: String = random_bytes::<6>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = format!(
        "tgl_{key_id}_{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    );
    (key_id, key)
}

fn detail(r: &KeyRecord) -> String {
    let mut d = format!("role={} owner={}", r.role.as_str(), r.owner());
    if let (Some(district), Some(sp)) = (&r.district, &r.service_point) {
        d.push_str(&format!(" service_point={district}/{sp}"));
    }
    if let Some(t) = r.expires_at {
        d.push_str(&format!(" expires_at={t}"));
    }
    d
}

/// The keys of one data directory. Lookups read the table through a connection of their
/// own (WAL readers do not wait for the writers' fsyncs), so every request sees the
/// current state of its key.
#[derive(Debug)]
pub struct KeyStore {
    store: Arc<StateStore>,
    reader: StateStore,
}

impl KeyStore {
    /// Opens the keys of `data_dir` (its shared state store).
    pub fn open(data_dir: &Path) -> Result<Self, KeyError> {
        crate::state::migrate::require_migrated(data_dir)?;
        let store = StateStore::shared(data_dir)?;
        let reader = StateStore::open_read_only(store.path())?;
        Ok(Self { store, reader })
    }

    fn by(&self, column: &str, value: &str) -> Result<Option<KeyRecord>, KeyError> {
        let reader = &self.reader;
        Ok(reader.read(|conn| {
            conn.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM keys WHERE {column} = ?1 \
                     ORDER BY revoked_at IS NOT NULL, created_at DESC LIMIT 1"
                ),
                [value],
                record,
            )
            .optional()
            .map_err(|e| reader.error(e))
        })?)
    }

    /// Every key (revoked and expired ones too), oldest first.
    pub fn list(&self) -> Result<Vec<KeyRecord>, KeyError> {
        let reader = &self.reader;
        Ok(reader.read(|conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM keys ORDER BY created_at, key_id"
                ))
                .map_err(|e| reader.error(e))?;
            let rows = stmt.query_map([], record).map_err(|e| reader.error(e))?;
            rows.map(|r| r.map_err(|e| reader.error(e)))
                .collect::<Result<Vec<_>, _>>()
        })?)
    }

    /// Every recorded key change, oldest first.
    pub fn events(&self) -> Result<Vec<KeyEvent>, KeyError> {
        let reader = &self.reader;
        Ok(reader.read(|conn| {
            let mut stmt = conn
                .prepare("SELECT at, key_id, action, by, detail FROM key_events ORDER BY id")
                .map_err(|e| reader.error(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(KeyEvent {
                        at: r.get::<_, i64>(0)?.max(0) as u64,
                        key_id: r.get(1)?,
                        action: r.get(2)?,
                        by: r.get(3)?,
                        detail: r.get(4)?,
                    })
                })
                .map_err(|e| reader.error(e))?;
            rows.map(|r| r.map_err(|e| reader.error(e)))
                .collect::<Result<Vec<_>, _>>()
        })?)
    }

    /// Issues a key for `spec` on behalf of `by`; returns the key (to show once) and its
    /// record. The creation is recorded in `key_events`.
    pub fn create(&self, spec: &KeySpec, by: &str) -> Result<(String, KeyRecord), KeyError> {
        let (key_id, key) = new_key();
        let record = self.insert(&key, key_id, spec, by)?;
        Ok((key, record))
    }

    fn insert(
        &self,
        key: &str,
        key_id: String,
        spec: &KeySpec,
        by: &str,
    ) -> Result<KeyRecord, KeyError> {
        let record = KeyRecord {
            key_id,
            name: spec.name.clone(),
            role: spec.role,
            district: spec.district.clone(),
            service_point: spec.service_point.clone(),
            sha256: sha256_hex(key),
            created_at: now_secs(),
            owner: spec.owner.clone(),
            expires_at: spec.expires_at,
            revoked_at: None,
        };
        let store = &self.store;
        store.transaction(|tx| {
            insert_record(store, tx, &record)?;
            event(store, tx, &record.key_id, "created", by, &detail(&record))
        })?;
        Ok(record)
    }

    /// Revokes the active key `key_id` on behalf of `by`; refused from the next request on.
    pub fn revoke(&self, key_id: &str, by: &str) -> Result<KeyRecord, KeyError> {
        let store = &self.store;
        let now = now_secs();
        let found = store.transaction(|tx| {
            let found = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM keys WHERE key_id = ?1 AND revoked_at IS NULL"),
                    [key_id],
                    record,
                )
                .optional()
                .map_err(|e| store.error(e))?;
            let Some(mut r) = found else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
                params![key_id, now as i64],
            )
            .map_err(|e| store.error(e))?;
            event(store, tx, key_id, "revoked", by, &detail(&r))?;
            r.revoked_at = Some(now);
            Ok(Some(r))
        })?;
        found.ok_or_else(|| KeyError::NotFound(key_id.to_owned()))
    }

    /// Replaces the active key `key_id` by a new secret for the same owner, role, binding
    /// and expiry, revoking the old one in the same transaction; returns the new key (to
    /// show once) and its record.
    pub fn rotate(&self, key_id: &str, by: &str) -> Result<(String, KeyRecord), KeyError> {
        let store = &self.store;
        let now = now_secs();
        let (new_id, key) = new_key();
        let created = store.transaction(|tx| {
            let found = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM keys WHERE key_id = ?1 AND revoked_at IS NULL"),
                    [key_id],
                    record,
                )
                .optional()
                .map_err(|e| store.error(e))?;
            let Some(old) = found else {
                return Ok(None);
            };
            let new = KeyRecord {
                key_id: new_id.clone(),
                sha256: sha256_hex(&key),
                created_at: now,
                owner: old.owner().to_owned(),
                revoked_at: None,
                ..old.clone()
            };
            tx.execute(
                "UPDATE keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
                params![key_id, now as i64],
            )
            .map_err(|e| store.error(e))?;
            insert_record(store, tx, &new)?;
            event(
                store,
                tx,
                key_id,
                "rotated",
                by,
                &format!("{} new_key_id={new_id}", detail(&old)),
            )?;
            event(store, tx, &new_id, "created", by, &detail(&new))?;
            Ok(Some(new))
        })?;
        let record = created.ok_or_else(|| KeyError::NotFound(key_id.to_owned()))?;
        Ok((key, record))
    }

    /// Makes sure an admin key exists. With `env_key` (from `TUNGGAL_ADMIN_KEY`) that key is
    /// registered if it is not yet; otherwise, when no active admin key exists at all, one is
    /// generated and returned so the caller can print it once.
    pub fn bootstrap_admin(&self, env_key: Option<&str>) -> Result<Option<String>, KeyError> {
        let spec = |name: &str| KeySpec {
            role: Role::Admin,
            name: name.to_owned(),
            district: None,
            service_point: None,
            owner: name.to_owned(),
            expires_at: None,
        };
        if let Some(key) = env_key {
            if key.len() < MIN_ADMIN_KEY_LEN {
                return Err(KeyError::WeakAdminKey);
            }
            if self.by("sha256", &sha256_hex(key))?.is_none() {
                let spec = spec("bootstrap admin (TUNGGAL_ADMIN_KEY)");
                self.insert(key, "env-admin".to_owned(), &spec, "bootstrap")?;
            }
            return Ok(None);
        }
        let has_admin = self
            .list()?
            .iter()
            .any(|r| r.role == Role::Admin && r.revoked_at.is_none());
        if has_admin {
            return Ok(None);
        }
        Ok(Some(self.create(&spec("bootstrap admin"), "bootstrap")?.0))
    }

    /// What `key` is now. Blocking.
    pub fn check(&self, key: &str) -> Result<KeyCheck, KeyError> {
        Ok(status(self.by("sha256", &sha256_hex(key))?, now_secs()))
    }

    /// What the key `key_id` is now (for sessions started with it). Blocking.
    pub fn check_id(&self, key_id: &str) -> Result<KeyCheck, KeyError> {
        Ok(status(self.by("key_id", key_id)?, now_secs()))
    }

    /// The principal holding `key`, if it is live. Blocking.
    pub fn authenticate(&self, key: &str) -> Result<Option<Principal>, KeyError> {
        Ok(match self.check(key)? {
            KeyCheck::Valid(who) => Some(who),
            _ => None,
        })
    }

    /// Whether `owner` holds a live admin key (such owners do not decide cases). Blocking.
    pub fn owner_is_admin(&self, owner: &str) -> Result<bool, KeyError> {
        let now = now_secs();
        Ok(self.list()?.iter().any(|r| {
            r.role == Role::Admin
                && r.owner() == owner
                && r.revoked_at.is_none()
                && r.expires_at.is_none_or(|t| t > now)
        }))
    }
}
