//! Offline operations on a data directory (the server must be stopped: each takes the
//! gallery's exclusive lock): `tunggal import`, `tunggal dedup-gallery` and `tunggal fsck`.

pub mod checkpoint;
pub mod dedup_gallery;
pub mod fsck;
pub mod import;
pub mod migrate;
