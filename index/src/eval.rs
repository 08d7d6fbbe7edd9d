//! Error-rate statistics.
