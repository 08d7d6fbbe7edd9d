//! Synthetic population generator and loaders for external data sets.

pub mod fvc;
pub mod iris;
