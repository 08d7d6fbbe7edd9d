//! Who may do what, and the record of what they did: bearer API keys and their roles
//! ([`keys`]), the append-only audit log ([`audit`]) and the auditing of refused requests
//! ([`refusal`]).
//!
//! Shared by the HTTP API (`crate::service`), the review pages (`crate::review`) and the
//! offline tools (`tunggal keys`, `migrate`, `fsck`), so it imports none of them.

pub mod audit;
pub mod keys;
pub mod refusal;
