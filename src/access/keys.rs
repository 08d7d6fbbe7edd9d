//! Bearer API keys: roles, owners, hashed storage in the data directory, authentication,
//! revocation, rotation and expiry.
//!
//! A key is `tgl_<key id>_<secret>` with a 256-bit random secret. Only the SHA-256 of the
//! whole key is stored (the `keys` table of the state store); a key is shown once, when
//! created. SHA-256 rather than a password hash is enough because the secret is random, not
//! chosen by a person. A key is issued to an *owner* (the person's identity, separate from
//! the key): four-eyes decisions compare owners, so two keys of one owner are one pair of
//! eyes. A key's role is fixed when it is issued (a different role is a new key). Every key
//! is looked up in the store on every request, so a key revoked or rotated by the CLI or
//! the admin API, or past its expiry, is refused from the next request on. Every creation,
//! revocation and rotation is recorded in the `key_events` table in the same transaction.

use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::enrolment::validate;
use crate::problem::{Problem, Reason};
use crate::state::StateError;

/// File name of the key journal of older releases (`tunggal migrate` moves it).
pub use crate::state::migrate::KEYS_FILE;
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
    /// A supervising analyst: everything an analyst may do, and giving a case another
    /// analyst holds back to the queue (on the review pages and through the admin API).
    Supervisor,
    /// An operator: everything, including keys and deletion.
    Admin,
}

impl Role {
    /// Parses `service-point`, `analyst`, `supervisor` or `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "service-point" => Some(Self::ServicePoint),
            "analyst" => Some(Self::Analyst),
            "supervisor" => Some(Self::Supervisor),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether the role may log in to the review pages and decide cases (analysts and
    /// supervisors).
    pub fn reviews(self) -> bool {
        matches!(self, Self::Analyst | Self::Supervisor)
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServicePoint => "service-point",
            Self::Analyst => "analyst",
            Self::Supervisor => "supervisor",
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
    /// The person the key is issued to (keys of older releases: the holder's name).
    #[serde(default)]
    pub owner: String,
    /// When the key stops working, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// When the key was revoked (or replaced by a rotation), seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

impl KeyRecord {
    /// The owner, or the holder's name for a record without one.
    pub fn owner(&self) -> &str {
        if self.owner.is_empty() {
            &self.name
        } else {
            &self.owner
        }
    }
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
    /// The person the key is issued to.
    pub owner: String,
}

impl From<&KeyRecord> for Principal {
    fn from(r: &KeyRecord) -> Self {
        Self {
            key_id: r.key_id.clone(),
            name: r.name.clone(),
            role: r.role,
            district: r.district.clone(),
            service_point: r.service_point.clone(),
            owner: r.owner().to_owned(),
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
    /// The person the key is issued to (by default the holder's name).
    pub owner: String,
    /// When the key stops working, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
}

fn text_field(value: &str, field: &str) -> Result<String, Problem> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 120 || value.chars().any(char::is_control) {
        return Err(Problem::new(
            Reason::InvalidKeyRequest,
            format!("{field} must be 1–120 characters without control characters"),
        )
        .at(format!("/{field}")));
    }
    Ok(value.to_owned())
}

impl KeySpec {
    /// Issues the key to `owner` (a person's identity, e.g. an employee number) rather than
    /// to the holder's name.
    pub fn owned_by(mut self, owner: &str) -> Result<Self, Problem> {
        self.owner = text_field(owner, "owner")?;
        Ok(self)
    }

    /// Makes the key stop working at `expires_at` (seconds since the Unix epoch), which
    /// must be in the future.
    pub fn expiring(mut self, expires_at: u64) -> Result<Self, Problem> {
        if expires_at <= now_secs() {
            return Err(Problem::new(
                Reason::InvalidKeyRequest,
                "expires_at must be in the future",
            )
            .at("/expires_at"));
        }
        self.expires_at = Some(expires_at);
        Ok(self)
    }

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
                "role must be service-point, analyst, supervisor or admin",
            )
            .at("/role")
        })?;
        let name = text_field(name, "name")?;
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
            owner: name.clone(),
            name,
            district,
            service_point,
            expires_at: None,
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
    /// No active key has this id.
    #[error("no active key {0}")]
    NotFound(String),
}

pub(crate) fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

pub use crate::clock::now_secs;

mod store;

pub(crate) use store::insert_record;
pub use store::{KeyCheck, KeyEvent, KeyStore};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_authenticate_and_only_hashes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let spec =
            KeySpec::parse("service-point", "Loket 1", Some("317101"), Some("sp-1")).unwrap();
        let (key, record) = store.create(&spec, "test").unwrap();
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
            .create(
                &KeySpec::parse("analyst", "Ana", None, None).unwrap(),
                "test",
            )
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
    fn keys_have_owners_and_are_revoked_rotated_and_expired_with_a_trail() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let spec = KeySpec::parse("analyst", "Ana", None, None).unwrap();
        assert_eq!(spec.owner, "Ana");
        let spec = spec.owned_by("NIP-1").unwrap();
        let (key, record) = store.create(&spec, "admin-1").unwrap();
        assert_eq!(store.authenticate(&key).unwrap().unwrap().owner, "NIP-1");
        let (new_key, new_record) = store.rotate(&record.key_id, "admin-1").unwrap();
        assert_eq!(store.check(&key).unwrap(), KeyCheck::Revoked);
        let who = store.authenticate(&new_key).unwrap().unwrap();
        assert_eq!((who.owner.as_str(), who.role), ("NIP-1", Role::Analyst));
        assert!(matches!(
            store.rotate(&record.key_id, "admin-1"),
            Err(KeyError::NotFound(_))
        ));
        store.revoke(&new_record.key_id, "admin-1").unwrap();
        assert_eq!(store.check(&new_key).unwrap(), KeyCheck::Revoked);
        assert_eq!(
            store.check_id(&new_record.key_id).unwrap(),
            KeyCheck::Revoked
        );
        // Expiry: a record whose time has passed (written directly: the API refuses it).
        assert!(KeySpec::parse("analyst", "B", None, None)
            .unwrap()
            .expiring(1)
            .is_err());
        let soon = KeySpec::parse("analyst", "B", None, None)
            .unwrap()
            .expiring(now_secs() + 1)
            .unwrap();
        let (short, _) = store.create(&soon, "admin-1").unwrap();
        assert!(matches!(store.check(&short).unwrap(), KeyCheck::Valid(_)));
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(store.check(&short).unwrap(), KeyCheck::Expired);
        assert_eq!(store.check("tgl_nope_x").unwrap(), KeyCheck::Unknown);
        // Admin owners.
        assert!(!store.owner_is_admin("NIP-1").unwrap());
        let boss = KeySpec::parse("admin", "Boss", None, None)
            .unwrap()
            .owned_by("NIP-1")
            .unwrap();
        store.create(&boss, "cli").unwrap();
        assert!(store.owner_is_admin("NIP-1").unwrap());
        // The trail holds every change in order.
        let events: Vec<(String, String)> = store
            .events()
            .unwrap()
            .into_iter()
            .map(|e| (e.key_id, e.action))
            .collect();
        let k1 = record.key_id.clone();
        let k2 = new_record.key_id.clone();
        assert_eq!(
            events[..4],
            [
                (k1.clone(), "created".to_owned()),
                (k1, "rotated".to_owned()),
                (k2.clone(), "created".to_owned()),
                (k2, "revoked".to_owned()),
            ]
        );
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
