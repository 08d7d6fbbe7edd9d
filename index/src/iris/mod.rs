//! Iris codes and matching.
