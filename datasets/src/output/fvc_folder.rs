//! FVC-style folders: `{finger}_{impression}.iso` files, one folder per database.

use std::path::Path;

use super::iso::encode_template;
use super::{io_err, OutputError};
use crate::fvc::FvcDatabase;

/// Writes `db` into `root/{db.name}`, creating folders as needed; returns the files written.
pub fn write_database(root: &Path, db: &FvcDatabase) -> Result<usize, OutputError> {
    let dir = root.join(&db.name);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    for s in &db.samples {
        let path = dir.join(format!("{}.iso", s.stem));
        std::fs::write(&path, encode_template(&s.template)?).map_err(io_err(&path))?;
    }
    Ok(db.samples.len())
}
