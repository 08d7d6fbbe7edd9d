//! Bearer API keys: roles, hashed storage in the data directory, authentication.
//!
//! A key is `tgl_<key id>_<secret>` with a 256-bit random secret. Only the SHA-256 of the
//! whole key is stored (the `keys` table of the state store); a key is shown once, when
//! created. SHA-256 rather than a password hash is enough because the secret is random, not
//! chosen by a person. Keys created with `tunggal keys create` while the server runs are
//! picked up on their first use.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rusqlite::{params, OptionalExtension};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::problem::{Problem, Reason};
use super::validate;
use crate::state::{StateError, StateStore};

/// File name of the key journal of older releases (`tunggal migrate` moves it).
pub const KEYS_FILE: &str = "keys.jsonl";
/// Shortest key accepted from `TUNGGAL_ADMIN_KEY`.
pub const MIN_ADMIN_KEY_LEN: usize = 32;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A district service point: enrols, and reads its own submissions.
    ServicePoint,
    /// A deduplication analyst: identify, verify, read any submission.
    Analyst,
    /// An operator: everything, including keys and deletion.
    Admin,
}

impl Role {
    /// Parses `service-point`, `analyst` or `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "service-point" => Some(Self::ServicePoint),
            "analyst" => Some(Self::Analyst),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServicePoint => "service-point",
            Self::Analyst => "analyst",
            Self::Admin => "admin",
        }
    }
}

/// A stored key: who holds it and what it may do, with the hash of the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public key id.
    pub key_id: String,
    /// Holder's name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// District `PPRRDD` (service-point keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Service point id (service-point keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_point: Option<String>,
    /// Lower-case hex SHA-256 of the whole key.
    pub sha256: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Public key id.
    pub key_id: String,
    /// Holder's name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// District, for service points.
    pub district: Option<String>,
    /// Service point id, for service points.
    pub service_point: Option<String>,
}

impl From<&KeyRecord> for Principal {
    fn from(r: &KeyRecord) -> Self {
        Self {
            key_id: r.key_id.clone(),
            name: r.name.clone(),
            role: r.role,
            district: r.district.clone(),
            service_point: r.service_point.clone(),
        }
    }
}

/// What a new key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Role.
    pub role: Role,
    /// Holder's name.
    pub name: String,
    /// District (required for service points, refused otherwise).
    pub district: Option<String>,
    /// Service point id (required for service points, refused otherwise).
    pub service_point: Option<String>,
}

impl KeySpec {
    /// Builds and checks a key spec from its wire fields.
    pub fn parse(
        role: &str,
        name: &str,
        district: Option<&str>,
        service_point: Option<&str>,
    ) -> Result<Self, Problem> {
        let role = Role::parse(role).ok_or_else(|| {
            Problem::new(
                Reason::UnknownRole,
                "role must be service-point, analyst or admin",
            )
            .at("/role")
        })?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
            return Err(Problem::new(
                Reason::InvalidKeyRequest,
                "name must be 1–120 characters without control characters",
            )
            .at("/name"));
        }
        let (district, service_point) = match (role, district, service_point) {
            (Role::ServicePoint, Some(d), Some(s)) => (
                Some(validate::district(d, "/district")?),
                Some(validate::service_point(s, "/service_point")?),
            ),
            (Role::ServicePoint, _, _) => {
                return Err(Problem::new(
                    Reason::InvalidKeyRequest,
                    "a service-point key needs district and service_point",
                ))
            }
            (_, None, None) => (None, None),
            _ => {
                return Err(Problem::new(
                    Reason::InvalidKeyRequest,
                    "only service-point keys are bound to a district and service point",
                ))
            }
        };
        Ok(Self {
            role,
            name: name.to_owned(),
            district,
            service_point,
        })
    }
}

/// Why the key store failed.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// `TUNGGAL_ADMIN_KEY` is too short.
    #[error("TUNGGAL_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LEN} characters")]
    WeakAdminKey,
    /// The lock was poisoned.
    #[error("key store lock poisoned")]
    Poisoned,
}

fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The keys of one data directory: the `keys` table, with the records seen so far cached.
#[derive(Debug)]
pub struct KeyStore {
    store: Arc<StateStore>,
    by_hash: RwLock<HashMap<String, KeyRecord>>,
}

const COLUMNS: &str = "key_id, name, role, district, service_point, sha256, created_at";

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
    })
}

/// Inserts `r` in `conn` (a record already there by hash is kept); returns rows inserted.
pub(crate) fn insert_record(
    store: &StateStore,
    conn: &rusqlite::Connection,
    r: &KeyRecord,
) -> Result<usize, StateError> {
    conn.execute(
        &format!("INSERT OR IGNORE INTO keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            r.key_id,
            r.name,
            r.role.as_str(),
            r.district,
            r.service_point,
            r.sha256,
            r.created_at as i64
        ],
    )
    .map_err(|e| store.error(e))
}

impl KeyStore {
    /// Opens the keys of `data_dir` (its shared state store).
    pub fn open(data_dir: &Path) -> Result<Self, KeyError> {
        crate::state::migrate::require_migrated(data_dir)?;
        let store = StateStore::shared(data_dir)?;
        let records = store.read(|conn| {
            let mut stmt = conn
                .prepare(&format!("SELECT {COLUMNS} FROM keys"))
                .map_err(|e| store.error(e))?;
            let rows = stmt.query_map([], record).map_err(|e| store.error(e))?;
            rows.map(|r| r.map_err(|e| store.error(e)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let by_hash = records.into_iter().map(|r| (r.sha256.clone(), r)).collect();
        Ok(Self {
            store,
            by_hash: RwLock::new(by_hash),
        })
    }

    /// Creates a key; returns the key (to show once) and its record.
    pub fn create(&self, spec: &KeySpec) -> Result<(String, KeyRecord), KeyError> {
        let key_id: String = random_bytes::<6>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = format!(
            "tgl_{key_id}_{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>())
        );
        let record = self.insert(&key, key_id, spec)?;
        Ok((key, record))
    }

    fn insert(&self, key: &str, key_id: String, spec: &KeySpec) -> Result<KeyRecord, KeyError> {
        let record = KeyRecord {
            key_id,
            name: spec.name.clone(),
            role: spec.role,
            district: spec.district.clone(),
            service_point: spec.service_point.clone(),
            sha256: sha256_hex(key),
            created_at: now_secs(),
        };
        let store = &self.store;
        store.transaction(|tx| insert_record(store, tx, &record))?;
        self.by_hash
            .write()
            .map_err(|_| KeyError::Poisoned)?
            .insert(record.sha256.clone(), record.clone());
        Ok(record)
    }

    /// Makes sure an admin key exists. With `env_key` (from `TUNGGAL_ADMIN_KEY`) that key is
    /// registered if it is not yet; otherwise, when no admin key exists at all, one is
    /// generated and returned so the caller can print it once.
    pub fn bootstrap_admin(&self, env_key: Option<&str>) -> Result<Option<String>, KeyError> {
        if let Some(key) = env_key {
            if key.len() < MIN_ADMIN_KEY_LEN {
                return Err(KeyError::WeakAdminKey);
            }
            if self.lookup(key)?.is_none() {
                let spec = KeySpec {
                    role: Role::Admin,
                    name: "bootstrap admin (TUNGGAL_ADMIN_KEY)".to_owned(),
                    district: None,
                    service_point: None,
                };
                self.insert(key, "env-admin".to_owned(), &spec)?;
            }
            return Ok(None);
        }
        let has_admin = self
            .by_hash
            .read()
            .map_err(|_| KeyError::Poisoned)?
            .values()
            .any(|r| r.role == Role::Admin);
        if has_admin {
            return Ok(None);
        }
        let spec = KeySpec {
            role: Role::Admin,
            name: "bootstrap admin".to_owned(),
            district: None,
            service_point: None,
        };
        Ok(Some(self.create(&spec)?.0))
    }

    fn lookup(&self, key: &str) -> Result<Option<KeyRecord>, KeyError> {
        let hash = sha256_hex(key);
        Ok(self
            .by_hash
            .read()
            .map_err(|_| KeyError::Poisoned)?
            .get(&hash)
            .cloned())
    }

    /// The principal holding `key`. On a miss the store is read, so keys created by the CLI
    /// while the server runs are found. Blocking.
    pub fn authenticate(&self, key: &str) -> Result<Option<Principal>, KeyError> {
        if let Some(record) = self.lookup(key)? {
            return Ok(Some(Principal::from(&record)));
        }
        let hash = sha256_hex(key);
        let store = &self.store;
        let found = store.read(|conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM keys WHERE sha256 = ?1"),
                [&hash],
                record,
            )
            .optional()
            .map_err(|e| store.error(e))
        })?;
        let Some(found) = found else {
            return Ok(None);
        };
        let who = Principal::from(&found);
        self.by_hash
            .write()
            .map_err(|_| KeyError::Poisoned)?
            .insert(hash, found);
        Ok(Some(who))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_authenticate_and_only_hashes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let spec =
            KeySpec::parse("service-point", "Loket 1", Some("317101"), Some("sp-1")).unwrap();
        let (key, record) = store.create(&spec).unwrap();
        let who = store.authenticate(&key).unwrap().unwrap();
        assert_eq!(who.role, Role::ServicePoint);
        assert_eq!(who.district.as_deref(), Some("317101"));
        assert!(store.authenticate("tgl_nope").unwrap().is_none());
        let mut bytes = std::fs::read(dir.path().join(crate::state::STATE_FILE)).unwrap();
        bytes.extend(std::fs::read(dir.path().join("state.sqlite3-wal")).unwrap_or_default());
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&key));
        assert!(text.contains(&record.sha256));
        // A second store (the CLI) adds a key; the first finds it on use.
        let other = KeyStore::open(dir.path()).unwrap();
        let (key2, _) = other
            .create(&KeySpec::parse("analyst", "Ana", None, None).unwrap())
            .unwrap();
        assert_eq!(
            store.authenticate(&key2).unwrap().unwrap().role,
            Role::Analyst
        );
    }

    #[test]
    fn bootstrap_generates_one_admin_or_uses_the_env_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let key = store.bootstrap_admin(None).unwrap().unwrap();
        assert_eq!(store.authenticate(&key).unwrap().unwrap().role, Role::Admin);
        assert!(store.bootstrap_admin(None).unwrap().is_none());
        assert!(matches!(
            store.bootstrap_admin(Some("short")),
            Err(KeyError::WeakAdminKey)
        ));
        let env = "x".repeat(40);
        assert!(store.bootstrap_admin(Some(&env)).unwrap().is_none());
        assert_eq!(store.authenticate(&env).unwrap().unwrap().role, Role::Admin);
    }

    #[test]
    fn key_spec_binds_only_service_points() {
        assert!(KeySpec::parse("service-point", "a", None, None).is_err());
        assert!(KeySpec::parse("analyst", "a", Some("317101"), Some("x")).is_err());
        assert_eq!(
            KeySpec::parse("root", "a", None, None)
                .err()
                .map(|p| p.reason),
            Some(Reason::UnknownRole)
        );
    }
}
