//! Offline operations on a data directory (the server must be stopped: each takes the
//! gallery's exclusive lock): `tunggal import` and `tunggal dedup-gallery`.

pub mod checkpoint;
pub mod dedup_gallery;
pub mod import;
