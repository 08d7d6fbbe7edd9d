//! `tunggal serve`: the HTTP API of the deduplication engine.
//!
//! District service points submit enrolment records; the service validates them, checks the
//! caller's API key and role, keeps the first answer to every `request_id`, admits matching
//! jobs through a bounded queue and runs them on rayon against an [`EnrolmentEngine`].
//!
//! The engine is [`crate::engine::GalleryEngine`] (the memory-mapped gallery, the ordered
//! deduplicator and the person registry); `/ready` answers 200 once it is open (gallery
//! mapped, WAL replayed, registry reconciled).
//!
//! # Routes
//!
//! | method | path | roles |
//! |---|---|---|
//! | GET | `/health`, `/ready`, `/metrics`, `/openapi.json` | none |
//! | POST | `/v1/enrolments` | service-point (own district and service point), admin |
//! | GET | `/v1/enrolments/{request_id}` | service-point (own), analyst, admin (`?district=&service_point=`) |
//! | POST | `/v1/identify`, `/v1/verify` | analyst, admin |
//! | GET | `/v1/persons/{reference_id}` | analyst, admin (audited) |
//! | DELETE | `/v1/persons/{reference_id}` | admin (audited) |
//! | POST | `/v1/admin/keys` | admin |
//!
//! # Problem reasons
//!
//! Every failure is `application/problem+json` with `type`, `title`, `status`, `detail`,
//! `reason`, and where it applies `pointer` (JSON pointer to the field) and `retry_after`.
//! The `reason` codes, their statuses and meanings are listed in [`Reason`] and in
//! `docs/service.md` (checked against [`Reason::all`] by a test).

pub mod admin;
pub mod callbacks;
pub mod cases_admin;
pub mod config;
pub mod conns;
pub mod decided;
pub mod disk;
pub mod extract;
pub mod handlers;
pub mod landing;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod parse_errors;
pub mod queue;
pub mod refusals;
pub mod server;
pub mod tls;

pub use crate::enrolment::{
    Candidate, EngineError, EngineStats, EnrolmentEngine, UnwiredEngine, Verdict, Verification,
};
pub use crate::problem::{Problem, Reason};
pub use config::{Overrides, ServiceConfig};
pub use server::{Service, ServiceError};
