//! The enrolment contract every layer shares: what a service point submits, how it is
//! checked, what the engine decides and how that decision is answered.
//!
//! * [`wire`]: the JSON shapes of requests and answers (the HTTP API, the import files of
//!   `tunggal import`, the load generator's requests and the stored idempotency answers);
//! * [`validate`]: wire requests checked into typed [`record`]s, every fault a
//!   [`crate::problem::Problem`] naming its field;
//! * [`record`]: the validated enrolment record and probe;
//! * [`verdict`]: the engine's decision and its candidates;
//! * [`contract`]: the [`EnrolmentEngine`] trait the HTTP layer calls and the engine implements,
//!   with its error;
//! * [`answer`]: the wire answer built from a verdict.
//!
//! These types live below both the HTTP layer (`crate::service`, `crate::review`) and the
//! engine (`crate::engine`) so that calls run one way, HTTP → engine → index: the engine
//! builds the answer it stores with the outcome without reaching up into the handlers. They
//! stay in this crate rather than in `tunggal-domain` because the engine contract names the
//! case store's evidence and outcome traits (`crate::cases`) and the callback notifier.

pub mod answer;
pub mod contract;
pub mod record;
pub mod validate;
pub mod verdict;
pub mod wire;

pub use answer::{candidate_out, enrolment_body};
pub use contract::{
    CallbackOutbox, EngineError, EngineStats, EnrolmentEngine, ImageCompactionReport, UnwiredEngine,
};
pub use record::EnrolmentRecord;
pub use verdict::{Candidate, PersonInfo, Verdict, Verification};
