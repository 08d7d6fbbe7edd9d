//! OSIA's ABIS interface (version 1.4 of the Secure Identity Alliance's specification) beside
//! Tunggal's own API, under the prefix `/osia` (its `/v1/persons` would clash with
//! Tunggal's).
//!
//! - [`wire`]: the specification's JSON objects.
//! - [`params`]: query parameters (`transactionId`, `callback`, `priority`, …).
//! - [`error`]: `Error` bodies and problem answers.
//! - [`biometrics`]: biometric items to a probe (finger images extracted, irises counted).
//! - [`store`]: typed encounter rows (kept by the engine in `DATA_DIR/state.sqlite3`).
//! - [`persons`]: creating, reading, updating, merging and deleting encounters.
//! - [`search`]: identification, verification and galleries.
//! - [`handlers`]: the routes: authentication, scopes, synchronous and callback answers.
//!
//! An encounter is one engine person inserted without deduplication under an external
//! reference (`engine/external.rs`, as MOSIP's inserts; `engine/encounters.rs` stores the
//! encounter row in the same transactions), so Tunggal's own enrolments are still searched
//! against it. `docs/osia.md` describes the mapping and what is not served.

pub mod biometrics;
pub mod compare;
pub mod error;
pub mod handlers;
pub mod params;
pub mod persons;
pub mod request;
pub mod search;
pub mod store;
pub mod wire;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;

use crate::access::keys::{KeyStore, Role};
use crate::engine::callback::Notifier;
use crate::engine::GalleryEngine;
use crate::enrolment::record::Origin;
use crate::enrolment::EngineError;
use store::Store;

/// The prefix every OSIA route is served under.
pub const PREFIX: &str = "/osia";

/// The registry origin (district, service point) of OSIA's encounters: outside every
/// district code, so no service-point key can submit or read under it.
pub fn default_origin() -> Origin {
    Origin {
        district: "osia".to_owned(),
        service_point: "abis".to_owned(),
    }
}

/// Whether a callback URL's host may be posted to.
pub type HostCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the OSIA routes share.
pub struct OsiaApp {
    /// The engine.
    pub engine: Arc<GalleryEngine>,
    /// API keys.
    pub keys: Arc<KeyStore>,
    /// The encounter rows.
    pub store: Store,
    /// Where the registry keeps OSIA's encounters.
    pub origin: Origin,
    /// Posts asynchronous results (the service's durable callback outbox); `None`: a
    /// request with a `callback` is refused.
    pub notifier: Option<Notifier>,
    /// The callback allow-list.
    pub callback_host_allowed: HostCheck,
}

impl std::fmt::Debug for OsiaApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsiaApp")
            .field("origin", &self.origin)
            .field("callbacks", &self.notifier.is_some())
            .finish_non_exhaustive()
    }
}

/// The shared state of the routes.
pub type OsiaState = Arc<OsiaApp>;

impl OsiaApp {
    /// Serves the encounters of `engine`'s state store, after removing from the engine
    /// every reference retired by an insert whose encounter was never stored. Blocking.
    pub fn open(
        engine: Arc<GalleryEngine>,
        keys: Arc<KeyStore>,
        notifier: Option<Notifier>,
        callback_host_allowed: HostCheck,
    ) -> Result<Self, OpenError> {
        let origin = default_origin();
        let settled = engine.settle_retired_encounters(&origin)?;
        if settled > 0 {
            tracing::warn!(
                settled,
                "OSIA: inserts whose encounter was never stored were removed from the engine"
            );
        }
        Ok(Self {
            store: Store::of(&engine),
            engine,
            keys,
            origin,
            notifier,
            callback_host_allowed,
        })
    }
}

/// Why the OSIA interface could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A retired reference could not be removed from the engine.
    #[error("OSIA: removing a retired encounter from the engine: {0}")]
    Engine(#[from] EngineError),
}

/// The OSIA scopes of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `abis.encounter.write`.
    EncounterWrite,
    /// `abis.encounter.read`.
    EncounterRead,
    /// `abis.identify`.
    Identify,
    /// `abis.verify`.
    Verify,
    /// `abis.gallery.read`.
    GalleryRead,
}

impl Scope {
    /// The specification's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::EncounterWrite => "abis.encounter.write",
            Self::EncounterRead => "abis.encounter.read",
            Self::Identify => "abis.identify",
            Self::Verify => "abis.verify",
            Self::GalleryRead => "abis.gallery.read",
        }
    }

    /// Whether a key of `role` holds the scope: writes are for admin keys (the platform's
    /// integration key); reads, searches and galleries also for analysts and supervisors.
    /// Service-point keys are bound to a district and hold none.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Self::EncounterWrite => role == Role::Admin,
            Self::EncounterRead | Self::Identify | Self::Verify | Self::GalleryRead => {
                matches!(role, Role::Admin | Role::Analyst | Role::Supervisor)
            }
        }
    }
}

/// The OSIA routes under [`PREFIX`], with their state.
pub fn router<S: Clone + Send + Sync + 'static>(app: OsiaState) -> Router<S> {
    use handlers as h;
    let persons = "/osia/v1/persons";
    let encounter = "/osia/v1/persons/{personId}/encounters/{encounterId}";
    Router::new()
        .route(persons, post(h::create_encounter_no_ids))
        .route(
            "/osia/v1/persons/{personId}/encounters",
            post(h::create_encounter_no_id).get(h::read_all_encounters),
        )
        .route(
            encounter,
            post(h::create_encounter)
                .get(h::read_encounter)
                .put(h::update_encounter)
                .delete(h::delete_encounter),
        )
        .route(
            "/osia/v1/persons/{personId}/merge/{personIdSource}",
            post(h::merge_encounters),
        )
        // The specification writes this path without `/v1`; both are served.
        .route(
            "/osia/persons/{personId}/encounters/{encounterId}/status",
            put(h::update_encounter_status),
        )
        .route(
            "/osia/v1/persons/{personId}/encounters/{encounterId}/status",
            put(h::update_encounter_status),
        )
        .route(
            "/osia/v1/persons/{personId}/encounters/{encounterId}/templates",
            get(h::read_templates),
        )
        .route(
            "/osia/v1/persons/{personId}",
            axum::routing::delete(h::delete_person),
        )
        .route("/osia/v1/identify/{galleryId}", post(h::identify))
        .route(
            "/osia/v1/identify/{galleryId}/{personId}",
            post(h::identify_from_id),
        )
        .route("/osia/v1/verify", post(h::verify_from_bio))
        .route(
            "/osia/v1/verify/{galleryId}/{personId}",
            post(h::verify_from_id),
        )
        .route("/osia/v1/galleries", get(h::read_galleries))
        .route(
            "/osia/v1/galleries/{galleryId}",
            get(h::read_gallery_content),
        )
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_an_admin_key_and_service_points_hold_no_scope() {
        assert!(Scope::EncounterWrite.allows(Role::Admin));
        assert!(!Scope::EncounterWrite.allows(Role::Analyst));
        for s in [
            Scope::EncounterRead,
            Scope::Identify,
            Scope::Verify,
            Scope::GalleryRead,
        ] {
            assert!(s.allows(Role::Analyst) && s.allows(Role::Supervisor));
            assert!(!s.allows(Role::ServicePoint), "{}", s.name());
        }
        assert!(!Scope::EncounterWrite.allows(Role::ServicePoint));
    }
}
