//! Writing generated data: ISO 19794-2 records, FVC-style folders and JSON-lines manifests.

pub mod fvc_folder;
pub mod iso;
pub mod manifest;

use std::path::PathBuf;

use thiserror::Error;

/// Why output could not be written.
#[derive(Debug, Error)]
pub enum OutputError {
    /// A file or folder could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A template could not be encoded.
    #[error("cannot encode template: {0}")]
    Template(#[from] tunggal_index::template::TemplateError),
    /// A manifest line could not be serialised.
    #[error("cannot serialise manifest line: {0}")]
    Json(#[from] serde_json::Error),
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}
