//! Fingerprint matching.
